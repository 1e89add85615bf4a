/*
 * smp — every CPU of the machine brought up through its local APIC, all of them running
 * one workload on shared memory with atomic instructions, in flat 32-bit protected mode.
 *
 * The BSP reads the CPU count from fw_cfg (key FW_CFG_NB_CPUS, ports 0x510/0x511),
 * copies a real-mode trampoline to 0x8000 and wakes the APs with the INIT-SIPI-SIPI
 * sequence of the MP specification (SDM vol. 3A, "Typical BSP Initialization
 * Sequence"): INIT to all but self, 10 ms, SIPI with vector 0x08 (the trampoline's
 * page), 200 µs, the same SIPI again, 200 µs — the delays timed by the PIT
 * (pit-delay.inc), so they are the same on every host. Each AP starts at 0800:0000 in
 * real mode, loads the ROM's GDT, enters protected mode, reads its APIC ID from the APIC
 * ID register and checks in under a spinlock (XCHG with memory, which the CPU always
 * locks): it takes the next slot, marks its APIC ID as up, and gets its own 4 KiB stack
 * from the slot. The BSP waits up to 1 s (PIT-timed) for all of them; if some are
 * missing it prints the ones that came and "smp: <m> of <n> cpus checked in within 1 s,
 * FAIL\n" (exit value 1).
 *
 * Then every CPU, the BSP too, meets the others at a barrier (a LOCK INC of a counter,
 * then a spin until it reaches the CPU count) and runs its share of the workload:
 *   - K LOCK XADDs of 1 to one shared counter, adding each old value it gets back into
 *     its own checksum; the counter must end at CPUs × K, and as every old value
 *     0 … CPUs × K − 1 is handed out exactly once, the checksums must add up to
 *     (CPUs × K)(CPUs × K − 1) / 2 (mod 2^32);
 *   - interleaved with them (every 8th iteration), J = K / 8 increments of a second
 *     counter with a plain load, INC and store inside the spinlock (taken with LOCK
 *     CMPXCHG, released with a plain store): it must end at CPUs × J;
 * and then LOCK INCs a done counter. The BSP waits for all of them and prints, in APIC-ID
 * order so the output does not depend on who came first, "cpu <id> up\n" for every CPU
 * that checked in, then "smp: <n> cpus, counter <C>, ok\n" and leaves through
 * isa-debug-exit with 0 (status 1). If a check fails, a line with the values found comes
 * first and the last line ends in "FAIL" (exit value 1, status 3).
 *
 * Memory: shared state at 0x500–0x6FF, the BSP's stack below 0x7000, the trampoline at
 * 0x8000, the APs' stacks at 0x20000–0x30000.
 *
 * The bring-up (fw_cfg, INIT-SIPI-SIPI, trampoline, check-in) is smp-boot.inc's, shared
 * with smp-bench.S.
 */
	.include "common.inc"
	.include "lapic.inc"
	.equ	IMAGE_BASE, BIOS_BASE
	.include "smp-boot.inc"
	.equ	K, 100000		/* LOCK XADDs per CPU */
	.equ	LOCK_EVERY, 8		/* a spinlock-protected increment every 8th XADD … */
	.equ	J, K / LOCK_EVERY	/* … so 12,500 per CPU */
	/* Shared state besides smp-boot.inc's (RAM, cleared by the BSP). */
	.equ	COUNTER, 0x50c		/* LOCK XADD target */
	.equ	PLAIN, 0x510		/* plain increments, under SPINLOCK */
	.equ	SUMS, 0x540		/* dword per slot: the XADD old values it got, summed */

	.code16
	.text
	.globl	_start
_start:
boot:
	enter_pm32 pm32

	.code32
pm32:
	flat_segments
	smp_boot_bsp msg_smp, all_up, bad_count

all_up:
	xor	%ecx, %ecx		/* the BSP's slot */
	call	work
2:	cmp	%ebx, DONE
	jb	2b

	call	print_up
	xor	%edi, %edi		/* failed checks */
	cmp	%ebx, CHECKED_IN
	setne	%al
	movzbl	%al, %eax
	add	%eax, %edi
	mov	%ebx, %eax		/* counter == CPUs × K */
	imul	$K, %eax, %ebp
	cmp	%ebp, COUNTER
	setne	%al
	movzbl	%al, %eax
	add	%eax, %edi
	imul	$J, %ebx, %eax		/* plain == CPUs × J */
	cmp	%eax, PLAIN
	setne	%al
	movzbl	%al, %eax
	add	%eax, %edi
	mov	%ebp, %eax		/* Σ checksums == T(T − 1)/2 mod 2^32, T = CPUs × K */
	lea	-1(%ebp), %ecx
	mul	%ecx
	shrd	$1, %edx, %eax
	mov	%eax, %ebp		/* EBP: the sum wanted */
	xor	%eax, %eax
	xor	%ecx, %ecx
3:	add	SUMS(, %ecx, 4), %eax
	inc	%ecx
	cmp	%ebx, %ecx
	jb	3b
	mov	%eax, %esi		/* ESI: the sum found */
	cmp	%ebp, %esi
	setne	%al
	movzbl	%al, %eax
	add	%eax, %edi

	test	%edi, %edi
	jz	4f
	com1_print msg_diag		/* "smp: spinlock counter P, xadd sum S (want W)" */
	mov	PLAIN, %eax
	call	com1_putdec
	com1_print msg_xsum
	mov	%esi, %eax
	mov	$8, %ecx
	call	com1_puthex
	com1_print msg_want
	mov	%ebp, %eax
	call	com1_puthex
	com1_print msg_close
4:	com1_print msg_smp
	mov	%ebx, %eax
	call	com1_putdec
	com1_print msg_cpus
	mov	COUNTER, %eax
	call	com1_putdec
	test	%edi, %edi
	jnz	5f
	com1_print msg_ok
	debug_exit 0
5:	com1_print msg_fail
	debug_exit 1

	smp_boot_bad_count bad_count, msg_bad_count

	smp_boot_routines

/*
 * One CPU's share of the workload; ECX = its slot. EAX, ESI and EDI are lost.
 *
 * A barrier first, so that all CPUs run their shares at the same time: an AP that
 * arrives late would otherwise find the BSP done and run alone. No spin loop here has a
 * PAUSE: under QEMU's multi-threaded TCG, PAUSE leaves the translated code and takes the
 * global lock, which delays the spinning CPU by milliseconds — long enough for the other
 * CPUs to run their whole share in the meantime, one after the other.
 */
work:
	lock incl READY
	mov	NCPUS, %eax
1:	cmp	%eax, READY
	jb	1b
	mov	$K, %esi
	xor	%edi, %edi
2:	mov	$1, %eax
	lock xadd %eax, COUNTER		/* EAX = the counter before this increment */
	add	%eax, %edi
	test	$(LOCK_EVERY - 1), %esi
	jnz	3f
	call	spin_lock		/* every LOCK_EVERY-th iteration */
	mov	PLAIN, %eax		/* not atomic: only the lock keeps it exact */
	inc	%eax
	mov	%eax, PLAIN
	movl	$0, SPINLOCK		/* release: a plain store (x86 stores are ordered) */
3:	dec	%esi
	jnz	2b
	mov	%edi, SUMS(, %ecx, 4)
	lock incl DONE
	ret

/* Take SPINLOCK with LOCK CMPXCHG (0 → 1), spinning on plain reads while it is held. */
spin_lock:
	push	%eax
	push	%edx
	mov	$1, %edx
1:	xor	%eax, %eax
	lock cmpxchg %edx, SPINLOCK
	jz	3f
2:	cmpl	$0, SPINLOCK
	jne	2b
	jmp	1b
3:	pop	%edx
	pop	%eax
	ret

	smp_boot_ap work

	.include "com1.inc"
	.include "pit-delay.inc"

msg_cpu:
	.asciz	"cpu "
msg_up:
	.asciz	" up\n"
msg_smp:
	.asciz	"smp: "
msg_cpus:
	.asciz	" cpus, counter "
msg_ok:
	.asciz	", ok\n"
msg_fail:
	.asciz	", FAIL\n"
msg_of:
	.asciz	" of "
msg_timeout:
	.asciz	" cpus checked in within 1 s, FAIL\n"
msg_diag:
	.asciz	"smp: spinlock counter "
msg_xsum:
	.asciz	", xadd sum "
msg_want:
	.asciz	" (want "
msg_close:
	.asciz	")\n"
msg_bad_count:
	.asciz	"smp: FAIL: fw_cfg says cpus = "

	rom_gdt
	reset_vector
