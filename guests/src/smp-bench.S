/*
 * smp-bench — parallel speed-up: a fixed total of integer work split evenly among all
 * the CPUs of the machine, in flat 32-bit protected mode. With N CPUs each does 1/N of
 * it, so N CPUs that really run in parallel finish it N times sooner.
 *
 * Every CPU is brought up exactly as in smp.S (smp-boot.inc: the count from fw_cfg,
 * INIT-SIPI-SIPI, the real-mode trampoline, the check-in under a spinlock). Each AP then
 * LOCK INCs READY and spins on GO; once READY = N − 1 the BSP prints "smp-bench: go\n"
 * on COM1 and stores GO = 1, which starts them all at the same moment, the BSP too.
 *
 * The work: for every index i of [0, W), f(i) = fmix32(i × 0x9E3779B1), murmur3's
 * finaliser (x ^= x >> 15, x *= 0x85EBCA6B, x ^= x >> 13, x *= 0xC2B2AE35,
 * x ^= x >> 16) of a golden-ratio multiple of i, all mod 2^32; the result is Σ f(i) over
 * all of [0, W) mod 2^32, whatever N is. The CPU in slot s (the BSP is slot 0) takes the
 * contiguous range [s × ⌊W/N⌋, (s + 1) × ⌊W/N⌋), the last one up to W (the remainder,
 * when N does not divide W). The loop touches registers only — no memory operand, no
 * exit — and retires 16 instructions per index (BENCH_INSNS), so W = 12,600,000 is
 * 201,600,000 instructions: about 2 s at 90 MIPS on one CPU. W is divisible by every
 * N from 1 to 10 and by 12, 14, 15 and 16, so every share is equal for those.
 * Each CPU sums its f(i) in a register, adds the sum to TOTAL with LOCK ADD and LOCK
 * INCs DONE.
 *
 * The BSP waits for DONE = N and checks TOTAL against EXPECTED_SUM and CHECKED_IN
 * against N, then prints "smp-bench: <N> cpus, sum <8 hex>, ok\n" and leaves through
 * isa-debug-exit with 0 (status 1). A failed check prints
 * "smp-bench: want sum <8 hex>, <m> cpus checked in\n" and then the line ending in
 * ", FAIL\n" instead of ", ok\n" (exit value 1, status 3). The bring-up's failures are
 * smp's, with "smp-bench: " in front.
 *
 * Memory: shared state at 0x500–0x6FF (smp-boot.inc's, GO and TOTAL), the BSP's stack
 * below 0x7000, the trampoline at 0x8000, the APs' stacks at 0x20000–0x30000.
 */
	.include "common.inc"
	.include "lapic.inc"
	.equ	IMAGE_BASE, BIOS_BASE
	.include "smp-boot.inc"
	.equ	W, 12600000		/* indices in all: 12 × 1,050,000 */
	.equ	BENCH_INSNS, 16		/* retired per index by bench_loop */
	.equ	GOLDEN, 0x9e3779b1
	.equ	FMIX_C1, 0x85ebca6b
	.equ	FMIX_C2, 0xc2b2ae35
	/*
	 * Σ f(i) for i in [0, W), mod 2^32. Computed by guests/build.ts's smpBenchSum(), and
	 * independently by this Python, which prints 920825c6:
	 *   s = 0
	 *   for i in range(12600000):
	 *     x = i * 0x9E3779B1 & 0xFFFFFFFF; x ^= x >> 15; x = x * 0x85EBCA6B & 0xFFFFFFFF
	 *     x ^= x >> 13; x = x * 0xC2B2AE35 & 0xFFFFFFFF; x ^= x >> 16; s = s + x & 0xFFFFFFFF
	 *   print(f"{s:08x}")
	 */
	.equ	EXPECTED_SUM, 0x920825c6

	/* Shared state besides smp-boot.inc's (RAM, cleared by the BSP). */
	.equ	GO, 0x50c		/* the start signal: the BSP stores 1 */
	.equ	TOTAL, 0x510		/* Σ of the CPUs' sums: LOCK ADD by each */

	.code16
	.text
	.globl	_start
_start:
boot:
	enter_pm32 pm32

	.code32
pm32:
	flat_segments
	smp_boot_bsp msg_bench, all_up, bad_count

all_up:
	/* Every AP at the barrier (READY = N − 1), then "go" and the start signal. */
	lea	-1(%ebx), %eax
1:	cmp	%eax, READY
	jb	1b
	com1_print msg_go
	movl	$1, GO
	xor	%ecx, %ecx		/* the BSP's slot */
	call	share
2:	cmp	%ebx, DONE
	jb	2b

	xor	%edi, %edi		/* failed checks */
	cmp	%ebx, CHECKED_IN
	setne	%al
	movzbl	%al, %eax
	add	%eax, %edi
	cmpl	$EXPECTED_SUM, TOTAL
	setne	%al
	movzbl	%al, %eax
	add	%eax, %edi
	mov	$8, %ecx		/* hex digits */
	test	%edi, %edi
	jz	3f
	com1_print msg_want		/* "smp-bench: want sum W, m cpus checked in" */
	mov	$EXPECTED_SUM, %eax
	call	com1_puthex
	com1_print msg_comma
	mov	CHECKED_IN, %eax
	call	com1_putdec
	com1_print msg_checked
3:	com1_print msg_bench
	mov	%ebx, %eax
	call	com1_putdec
	com1_print msg_cpus_sum
	mov	TOTAL, %eax
	call	com1_puthex
	test	%edi, %edi
	jnz	4f
	com1_print msg_ok
	debug_exit 0
4:	com1_print msg_fail
	debug_exit 1

	smp_boot_bad_count bad_count, msg_bad_count

	smp_boot_routines

/*
 * An AP's part, ECX = its slot: one slot too many (more CPUs came than fw_cfg counts, a
 * failure the BSP reports) parks at once; the others wait at the barrier for GO — no
 * PAUSE in the spin, see smp.S's `work` — and run their share.
 */
ap_work:
	cmp	NCPUS, %ecx
	jae	2f
	lock incl READY
1:	cmpl	$0, GO
	je	1b
	call	share
2:	ret

/*
 * The share of the CPU in slot ECX: indices [ECX × ⌊W/N⌋, (ECX + 1) × ⌊W/N⌋), the last
 * slot's range ending at W. Then LOCK ADD of its sum to TOTAL and LOCK INC of DONE.
 * Keeps EBX and ECX; EAX, EDX, ESI, EDI and EBP are lost.
 */
share:
	mov	$W, %eax
	xor	%edx, %edx
	divl	NCPUS			/* EAX = ⌊W/N⌋ */
	mov	%eax, %esi
	imul	%ecx, %esi		/* ESI: the first index */
	lea	(%esi, %eax), %edi	/* EDI: the end */
	mov	NCPUS, %eax
	dec	%eax
	cmp	%eax, %ecx
	jne	1f
	mov	$W, %edi		/* the last slot takes the remainder */
1:	xor	%ebp, %ebp		/* EBP: this CPU's sum */
	cmp	%edi, %esi
	jae	3f

	/* 16 instructions per index (numbered); registers only. */
bench_loop:
	imul	$GOLDEN, %esi, %eax	/*  1  x = i × 0x9E3779B1 */
	mov	%eax, %edx		/*  2  x ^= x >> 15 */
	shr	$15, %edx		/*  3 */
	xor	%edx, %eax		/*  4 */
	imul	$FMIX_C1, %eax, %eax	/*  5  x *= 0x85EBCA6B */
	mov	%eax, %edx		/*  6  x ^= x >> 13 */
	shr	$13, %edx		/*  7 */
	xor	%edx, %eax		/*  8 */
	imul	$FMIX_C2, %eax, %eax	/*  9  x *= 0xC2B2AE35 */
	mov	%eax, %edx		/* 10  x ^= x >> 16 */
	shr	$16, %edx		/* 11 */
	xor	%edx, %eax		/* 12 */
	add	%eax, %ebp		/* 13  sum += f(i) */
	inc	%esi			/* 14 */
	cmp	%edi, %esi		/* 15 */
	jne	bench_loop		/* 16 */

3:	lock add %ebp, TOTAL
	lock incl DONE
	ret

	smp_boot_ap ap_work

	.include "com1.inc"
	.include "pit-delay.inc"

msg_cpu:
	.asciz	"cpu "
msg_up:
	.asciz	" up\n"
msg_bench:
	.asciz	"smp-bench: "
msg_go:
	.asciz	"smp-bench: go\n"
msg_cpus_sum:
	.asciz	" cpus, sum "
msg_ok:
	.asciz	", ok\n"
msg_fail:
	.asciz	", FAIL\n"
msg_want:
	.asciz	"smp-bench: want sum "
msg_comma:
	.asciz	", "
msg_checked:
	.asciz	" cpus checked in\n"
msg_of:
	.asciz	" of "
msg_timeout:
	.asciz	" cpus checked in within 1 s, FAIL\n"
msg_bad_count:
	.asciz	"smp-bench: FAIL: fw_cfg says cpus = "

	rom_gdt
	reset_vector
