/*
 * hello-paged — kvm-hello-world's paged 32-bit guest as a 64 KiB -bios image.
 *
 * Reset vector → flat 32-bit protected mode → a page directory at 0x10000 whose first
 * entry points to a page table at 0x11000 that maps the first 4 MiB to themselves with
 * 4 KiB pages (both built here, in RAM, where the CPU can set accessed and dirty bits) →
 * CR3, CR0.PG → the payload-paged.bin bytes copied to 0 → jump to 0. The payload prints
 * "Hello, world!\n" on port 0xE9, stores 42 at 0x400 and exits with 0 (status 1).
 */
	.include "common.inc"
	.equ	PAGE_DIR, 0x10000
	.equ	PAGE_TABLE, 0x11000
	.equ	PTE_P_RW, 0x003		/* present, writable (supervisor) */

	.code16
	.text
	.globl	_start
_start:
boot:
	enter_pm32 pm32

	.code32
pm32:
	flat_segments
	/* The directory: all not-present but entry 0. */
	mov	$PAGE_DIR, %edi
	xor	%eax, %eax
	mov	$1024, %ecx
	rep stosl
	movl	$(PAGE_TABLE + PTE_P_RW), PAGE_DIR
	/* The table: page i → frame i, for the 1024 pages of the first 4 MiB. */
	mov	$PAGE_TABLE, %edi
	mov	$PTE_P_RW, %eax
	mov	$1024, %ecx
1:	stosl
	add	$0x1000, %eax
	loop	1b

	mov	$PAGE_DIR, %eax
	mov	%eax, %cr3
	mov	%cr0, %eax
	or	$0x80000000, %eax	/* CR0.PG */
	mov	%eax, %cr0

	mov	$(BIOS_BASE + payload), %esi
	xor	%edi, %edi
	mov	$(payload_end - payload), %ecx
	rep movsb
	xor	%eax, %eax
	jmp	*%eax

payload:
	.incbin	"payload-paged.bin"
payload_end:

	rom_gdt
	reset_vector
