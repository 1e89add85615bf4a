/*
 * cpu-bench — the integer workload of the benchmark: a fixed number of iterations of a
 * xorshift32 generator folded into a multiplicative checksum, in flat 32-bit protected
 * mode, with no memory accesses and no exits inside the loop.
 *
 * Every iteration retires exactly CPU_BENCH_INSNS = 16 instructions whichever way its
 * branch goes (both arms are two instructions long), so the loop from bench_loop to its
 * last JNZ retires 16 × CPU_BENCH_N instructions. Afterwards it prints
 * "cpu-bench checksum: <8 hex digits>\n" and "iterations: <N>\n" on COM1 and exits
 * through isa-debug-exit with 0 (status 1). guests/build.ts holds a model of the loop
 * (cpuBenchChecksum) that gives the checksum the guest must print.
 */
	.include "common.inc"
	.equ	IMAGE_BASE, BIOS_BASE
	.equ	CPU_BENCH_N, 1000000
	.equ	XORSHIFT_SEED, 0x2545f491
	.equ	FNV_PRIME, 0x01000193

	.code16
	.text
	.globl	_start
_start:
boot:
	enter_pm32 pm32

	.code32
pm32:
	flat_segments
	mov	$CPU_BENCH_N, %ecx
	mov	$XORSHIFT_SEED, %eax	/* generator state */
	xor	%ebx, %ebx		/* checksum */

	/* 16 instructions per iteration (numbered). */
bench_loop:
	mov	%eax, %edx		/*  1  x ^= x << 13 */
	shl	$13, %edx		/*  2 */
	xor	%edx, %eax		/*  3 */
	mov	%eax, %edx		/*  4  x ^= x >> 17 */
	shr	$17, %edx		/*  5 */
	xor	%edx, %eax		/*  6 */
	mov	%eax, %edx		/*  7  x ^= x << 5 */
	shl	$5, %edx		/*  8 */
	xor	%edx, %eax		/*  9 */
	imul	$FNV_PRIME, %ebx, %ebx	/* 10  sum *= FNV prime */
	test	$1, %al			/* 11 */
	jz	1f			/* 12 */
	add	%eax, %ebx		/* 13  odd x: sum += x */
	jmp	2f			/* 14 */
1:	sub	%eax, %ebx		/* 13  even x: sum -= x */
	rol	$7, %ebx		/* 14            sum = rol(sum, 7) */
2:	dec	%ecx			/* 15 */
	jnz	bench_loop		/* 16 */

	com1_print msg_checksum
	mov	%ebx, %eax
	mov	$8, %ecx
	call	com1_puthex
	com1_print msg_iterations
	mov	$CPU_BENCH_N, %eax
	call	com1_putdec
	mov	$0x0a, %al
	call	com1_putc
	debug_exit 0

	.include "com1.inc"

msg_checksum:
	.asciz	"cpu-bench checksum: "
msg_iterations:
	.asciz	"\niterations: "

	rom_gdt
	reset_vector
