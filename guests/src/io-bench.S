/*
 * io-bench — the port-I/O workload of the benchmark: IO_BENCH_N byte writes to port 0x80
 * (the POST-code port; nothing need listen), each one a VM exit under KVM, in flat 32-bit
 * protected mode. Then "io-bench: 10000 OUT to port 0x80\n" on COM1 and isa-debug-exit
 * with 0 (status 1).
 */
	.include "common.inc"
	.equ	IMAGE_BASE, BIOS_BASE
	.equ	IO_BENCH_N, 10000

	.code16
	.text
	.globl	_start
_start:
boot:
	enter_pm32 pm32

	.code32
pm32:
	flat_segments
	mov	$IO_BENCH_N, %ecx
	xor	%eax, %eax
1:	out	%al, $0x80
	inc	%eax
	dec	%ecx
	jnz	1b

	com1_print msg_head
	mov	$IO_BENCH_N, %eax
	call	com1_putdec
	com1_print msg_tail
	debug_exit 0

	.include "com1.inc"

msg_head:
	.asciz	"io-bench: "
msg_tail:
	.asciz	" OUT to port 0x80\n"

	rom_gdt
	reset_vector
