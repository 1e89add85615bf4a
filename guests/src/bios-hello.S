/*
 * bios-hello — the smallest firmware that does what every BIOS does first: from the reset
 * vector (real mode, F000:FFF0) to flat 32-bit protected mode through a GDT in ROM, then
 * "Hello from the reset vector!\n" on COM1 and isa-debug-exit with 0 (status 1).
 */
	.include "common.inc"
	.equ	IMAGE_BASE, BIOS_BASE

	.code16
	.text
	.globl	_start
_start:
boot:
	enter_pm32 pm32

	.code32
pm32:
	flat_segments
	com1_print msg_hello
	debug_exit 0

	.include "com1.inc"

msg_hello:
	.asciz	"Hello from the reset vector!\n"

	rom_gdt
	reset_vector
