/*
 * hello-long — kvm-hello-world's 64-bit guest as a 64 KiB -bios image.
 *
 * Reset vector → flat 32-bit protected mode → 4-level page tables built in RAM that map
 * the first 2 MiB to themselves with one 2 MiB page (PML4 at 0x10000, PDPT at 0x11000,
 * page directory at 0x12000) → CR4.PAE, CR3, EFER.LME, CR0.PG → far jump to the 64-bit
 * code segment → the payload-long.bin bytes copied to 0 → jump to 0. The payload prints
 * "Hello, world!\n" on port 0xE9, stores 42 at 0x400 and exits with 0 (status 1).
 */
	.include "common.inc"
	.equ	PML4, 0x10000
	.equ	PDPT, 0x11000
	.equ	PD, 0x12000
	.equ	PTE_P_RW, 0x003		/* present, writable */
	.equ	PDE_2M, 0x083		/* present, writable, page size (2 MiB) */
	.equ	CR4_PAE, 0x20
	.equ	MSR_EFER, 0xc0000080
	.equ	EFER_LME, 0x100

	.code16
	.text
	.globl	_start
_start:
boot:
	enter_pm32 pm32

	.code32
pm32:
	flat_segments
	mov	$PML4, %edi		/* the three tables, cleared */
	xor	%eax, %eax
	mov	$(3 * 1024), %ecx
	rep stosl
	movl	$(PDPT + PTE_P_RW), PML4
	movl	$(PD + PTE_P_RW), PDPT
	movl	$(0 + PDE_2M), PD	/* virtual 0–2 MiB → physical 0–2 MiB */

	mov	%cr4, %eax
	or	$CR4_PAE, %eax
	mov	%eax, %cr4
	mov	$PML4, %eax
	mov	%eax, %cr3
	mov	$MSR_EFER, %ecx
	rdmsr
	or	$EFER_LME, %eax
	wrmsr
	mov	%cr0, %eax
	or	$0x80000000, %eax	/* CR0.PG: long mode becomes active (EFER.LMA) */
	mov	%eax, %cr0
	ljmpl	$SEL_CODE64, $(BIOS_BASE + lm64)

	.code64
lm64:
	mov	$(BIOS_BASE + payload), %esi
	xor	%edi, %edi
	mov	$(payload_end - payload), %ecx
	rep movsb
	xor	%eax, %eax
	jmp	*%rax

payload:
	.incbin	"payload-long.bin"
payload_end:

	rom_gdt
	reset_vector
