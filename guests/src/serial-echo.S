/*
 * serial-echo — the receive side of the 16550 at COM1: prints "type a line: ", then reads
 * bytes as they arrive (polling LSR.DR, bit 0 of port 0x3FD, then reading RBR at 0x3F8),
 * echoes each one, and at Enter (CR or LF) prints "\ngot: <the line>\n" and leaves through
 * isa-debug-exit with 0 (status 1). Up to 64 bytes are kept; more are echoed, not stored.
 * Waiting for input is a busy poll: the guest needs someone typing (a terminal, the
 * playground's console, or a test writing into the serial port's chardev).
 */
	.include "common.inc"
	.equ	IMAGE_BASE, BIOS_BASE
	.equ	LSR_DR, 0x01		/* data ready */
	.equ	LINE, 0x600		/* the line buffer, RAM */
	.equ	LINE_MAX, 64

	.code16
	.text
	.globl	_start
_start:
boot:
	enter_pm32 pm32

	.code32
pm32:
	flat_segments
	com1_print msg_prompt
	mov	$LINE, %edi
read:
	mov	$COM1_LSR, %dx
1:	in	%dx, %al
	test	$LSR_DR, %al
	jz	1b
	mov	$COM1, %dx
	in	%dx, %al
	cmp	$0x0d, %al		/* CR */
	je	done
	cmp	$0x0a, %al		/* LF */
	je	done
	call	com1_putc
	cmp	$(LINE + LINE_MAX), %edi
	jae	read
	stosb
	jmp	read
done:
	movb	$0, (%edi)
	com1_print msg_got
	mov	$LINE, %esi
	call	com1_puts
	mov	$0x0a, %al
	call	com1_putc
	debug_exit 0

	.include "com1.inc"

msg_prompt:
	.asciz	"type a line: "
msg_got:
	.asciz	"\ngot: "

	rom_gdt
	reset_vector
