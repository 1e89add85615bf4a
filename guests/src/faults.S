/*
 * faults — how the platform answers a guest that misbehaves, one COM1 line per check:
 *
 *   boot 1   "triple fault: resetting"  then an IDT of limit 0 and UD2: the #UD cannot
 *            be delivered, nor the #GP that follows, nor the #DF — a triple fault,
 *            which resets the machine (or, with -no-reboot, shuts it down: status 0).
 *   boot 2   "rebooted once"            RAM survives the reset, and so does the boot
 *                                       counter at BOOT_COUNT;
 *            "ud: handled"              UD2 under an IDT whose #UD handler counts the
 *                                       fault and returns past the 2-byte instruction;
 *            "port: ff"                 INB from port 0x1234, where nothing is mapped;
 *            "mmio: <8 hex digits>"     a 32-bit read of 0xD0000000, where nothing is
 *                                       mapped (passes if the value is 0 or 0xffffffff);
 *            "faults: all checks passed", then isa-debug-exit 0 (status 1), or
 *            "faults: <n> failed",        then isa-debug-exit 1 (status 3).
 *
 * A third boot (a reset nobody asked for) prints "faults: unexpected reset" and exits 1.
 */
	.include "common.inc"
	.equ	IMAGE_BASE, BIOS_BASE
	.equ	BOOT_COUNT, 0x500	/* dword, RAM: boots seen so far */
	.equ	UD_COUNT, 0x504		/* dword, RAM: #UD handler runs */
	.equ	FAILS, 0x508		/* dword, RAM: failed checks */
	.equ	IDT, 0x1000		/* 256 gates, RAM */
	.equ	VEC_UD, 6
	.equ	GATE_INT32, 0x8e00	/* present, DPL 0, 32-bit interrupt gate */
	.equ	UNASSIGNED_PORT, 0x1234
	.equ	UNASSIGNED_MMIO, 0xd0000000

	.code16
	.text
	.globl	_start
_start:
boot:
	enter_pm32 pm32

	.code32
pm32:
	flat_segments
	mov	BOOT_COUNT, %eax
	incl	BOOT_COUNT
	test	%eax, %eax
	jz	first_boot
	cmp	$1, %eax
	je	second_boot
	com1_print msg_unexpected
	debug_exit 1

first_boot:
	com1_print msg_triple
	lidt	(BIOS_BASE + idtr_empty)
	ud2
	com1_print msg_no_reset		/* only if the triple fault did not reset */
	debug_exit 1

second_boot:
	com1_print msg_rebooted
	movl	$0, FAILS

	/* (a) #UD handled in the guest. */
	mov	$IDT, %edi
	xor	%eax, %eax
	mov	$(256 * 2), %ecx
	rep stosl
	mov	$(BIOS_BASE + ud_handler), %eax
	mov	%ax, IDT + VEC_UD * 8		/* offset 15:0 */
	movw	$SEL_CODE32, IDT + VEC_UD * 8 + 2
	movw	$GATE_INT32, IDT + VEC_UD * 8 + 4
	shr	$16, %eax
	mov	%ax, IDT + VEC_UD * 8 + 6	/* offset 31:16 */
	lidt	(BIOS_BASE + idtr_full)
	movl	$0, UD_COUNT
	ud2
	cmpl	$1, UD_COUNT
	jne	1f
	com1_print msg_ud_ok
	jmp	2f
1:	com1_print msg_ud_bad
	incl	FAILS
2:
	/* (b) a read of an unassigned I/O port: the bus floats high. */
	com1_print msg_port
	mov	$UNASSIGNED_PORT, %dx
	in	%dx, %al
	movzbl	%al, %eax
	mov	$2, %ecx
	call	com1_puthex
	call	newline
	cmp	$0xff, %eax
	je	3f
	incl	FAILS
3:
	/* (c) a read of unassigned physical memory. */
	com1_print msg_mmio
	mov	UNASSIGNED_MMIO, %eax
	mov	$8, %ecx
	call	com1_puthex
	call	newline
	test	%eax, %eax
	jz	4f
	cmp	$0xffffffff, %eax
	je	4f
	incl	FAILS
4:
	mov	FAILS, %eax
	test	%eax, %eax
	jnz	5f
	com1_print msg_pass
	debug_exit 0
5:	com1_print msg_fail_head
	call	com1_putdec
	com1_print msg_fail_tail
	debug_exit 1

/* #UD: count it and return past the UD2 (no error code; EIP of the fault on top). */
ud_handler:
	incl	UD_COUNT
	addl	$2, (%esp)
	iret

newline:
	push	%eax
	mov	$0x0a, %al
	call	com1_putc
	pop	%eax
	ret

	.include "com1.inc"

idtr_empty:				/* limit 0: no vector can be delivered */
	.word	0
	.long	0
idtr_full:
	.word	256 * 8 - 1
	.long	IDT

msg_triple:
	.asciz	"triple fault: resetting\n"
msg_no_reset:
	.asciz	"faults: the triple fault did not reset\n"
msg_unexpected:
	.asciz	"faults: unexpected reset\n"
msg_rebooted:
	.asciz	"rebooted once\n"
msg_ud_ok:
	.asciz	"ud: handled\n"
msg_ud_bad:
	.asciz	"ud: not handled\n"
msg_port:
	.asciz	"port: "
msg_mmio:
	.asciz	"mmio: "
msg_pass:
	.asciz	"faults: all checks passed\n"
msg_fail_head:
	.asciz	"faults: "
msg_fail_tail:
	.asciz	" failed\n"

	rom_gdt
	reset_vector
