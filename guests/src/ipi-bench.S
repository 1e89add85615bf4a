/*
 * ipi-bench — the cost of an inter-processor interrupt between two CPUs, round trip: the
 * BSP sends a fixed IPI to a halted AP and waits until the AP's handler has counted it,
 * N times, in flat 32-bit protected mode.
 *
 * The bring-up is smp.S's (smp-boot.inc: the count from fw_cfg, INIT-SIPI-SIPI, the
 * real-mode trampoline, the check-in under a spinlock). It needs two CPUs at least: with
 * one it prints "ipi-bench: needs 2 cpus, FAIL\n" and exits with value 1 (status 3).
 *
 * The AP in slot 1 (the first to check in) builds an IDT in RAM — exceptions to `fault`,
 * VECTOR to `isr_ipi`, every other vector to a bare IRET — software-enables its local APIC
 * (SVR 0x1FF, TPR 0), stores its APIC ID in AP1_ID and sets AP1_READY, then waits in a
 * STI; HLT; JMP loop: every IPI finds it halted, so a round trip includes waking a halted
 * CPU. isr_ipi increments COUNTER (a plain INC: only this CPU writes it), writes EOI and
 * returns. The APs in slots 2 and up (-smp 3 or more) return at once and park (CLI; HLT).
 *
 * The BSP waits for AP1_READY, prints "ipi-bench: go\n" on COM1 and runs N rounds: round
 * i writes the destination (AP1_ID) to ICR[63:32] and a fixed, physical, edge-triggered
 * IPI with VECTOR to ICR[31:0], waits until the ICR's delivery status is idle (as the SDM
 * asks before the next ICR write), and spins — no PAUSE, see smp.S's `work` — until
 * COUNTER ≥ i. Only one IPI is ever outstanding, so none can merge with another in the
 * AP's IRR. At the end COUNTER must be exactly N; then "ipi-bench: <N> round trips, ok\n"
 * and isa-debug-exit with 0 (status 1). Otherwise
 * "ipi-bench: counter <c>, want <N>, FAIL\n" (value 1, status 3); an exception on the AP
 * prints "ipi-bench: FAIL (unexpected exception)\n" (value 1). An IPI that never arrives
 * leaves the BSP spinning: run it with a timeout.
 *
 * The time from the "go" line to the last line is N round trips and one line of output.
 *
 * Memory: shared state at 0x500–0x6FF (smp-boot.inc's, and AP1_READY, COUNTER, AP1_ID),
 * the AP's IDT at 0x1000, the BSP's stack below 0x7000, the trampoline at 0x8000, the
 * APs' stacks at 0x20000–0x30000.
 */
	.include "common.inc"
	.include "lapic.inc"
	.equ	IMAGE_BASE, BIOS_BASE
	.include "smp-boot.inc"
	.equ	N, 10000		/* round trips */
	.equ	VECTOR, 0x40		/* the IPI's vector */
	.equ	VEC_SPURIOUS, 0xff
	.equ	IDT, 0x1000		/* 256 gates, RAM: AP 1's */
	.equ	GATE_INT32, 0x8e00	/* present, DPL 0, 32-bit interrupt gate */
	/* Shared state besides smp-boot.inc's (RAM, cleared by the BSP). */
	.equ	AP1_READY, 0x50c	/* AP 1 stores 1 once its IDT and APIC are set up */
	.equ	COUNTER, 0x510		/* IPIs handled by AP 1 (only it writes) */
	.equ	AP1_ID, 0x51c		/* AP 1's APIC ID */

	.code16
	.text
	.globl	_start
_start:
boot:
	enter_pm32 pm32

	.code32
pm32:
	flat_segments
	smp_boot_bsp msg_ipi, all_up, bad_count

all_up:
	cmp	$2, %ebx
	jb	needs_two
1:	cmpl	$0, AP1_READY		/* no PAUSE: see smp.S's `work` */
	je	1b
	com1_print msg_go

	mov	AP1_ID, %edx
	shl	$24, %edx		/* ICR[63:56]: the destination APIC ID */
	mov	$1, %esi		/* ESI: the round, 1 … N */
round:
	mov	%edx, LAPIC_ICR_HI
	/* Fixed (000), physical, edge; SDM: the level bit 1 for every mode but INIT de-assert. */
	movl	$(ICR_LEVEL_ASSERT | VECTOR), LAPIC_ICR_LO
1:	testl	$ICR_BUSY, LAPIC_ICR_LO	/* delivery status: idle before the next write */
	jnz	1b
2:	cmp	%esi, COUNTER		/* until AP 1 has counted this one */
	jb	2b
	inc	%esi
	cmp	$N, %esi
	jbe	round

	mov	COUNTER, %eax
	cmp	$N, %eax
	jne	wrong_count
	com1_print msg_ipi
	mov	$N, %eax
	call	com1_putdec
	com1_print msg_ok
	debug_exit 0

wrong_count:				/* EAX = the counter */
	com1_print msg_counter
	call	com1_putdec
	com1_print msg_want
	mov	$N, %eax
	call	com1_putdec
	com1_print msg_fail
	debug_exit 1

needs_two:
	com1_print msg_needs_two
	debug_exit 1

	smp_boot_bad_count bad_count, msg_bad_count

	smp_boot_routines

/*
 * An AP's part, ECX = its slot, EBX = its APIC ID. Only slot 1 does anything: it takes
 * the IPIs and never returns. The others (and a slot beyond the fw_cfg count) return and
 * park.
 */
ap_work:
	cmp	$1, %ecx
	jne	9f
	cmp	NCPUS, %ecx
	jae	9f

	/* IDT: exceptions (0–31) → fault, VECTOR → isr_ipi, the rest → ignore. */
	idt_fill %ecx, VECTOR, isr_ipi

	/* After INIT the AP's APIC is software-disabled: enable it, accept every priority. */
	movl	$(SVR_ENABLE | VEC_SPURIOUS), LAPIC_SVR
	movl	$0, LAPIC_TPR
	mov	%ebx, AP1_ID
	movl	$1, AP1_READY

	/* Halted between IPIs; STI's shadow keeps the wake-up from being missed. */
3:	sti
	hlt
	jmp	3b

9:	ret

/* VECTOR's gate: count, EOI, return. */
isr_ipi:
	incl	COUNTER
	movl	$0, LAPIC_EOI
	iret

ignore:					/* spurious (no EOI) or unexpected vectors */
	iret

fault:
	com1_print msg_fault
	debug_exit 1

	smp_boot_ap ap_work

	.include "com1.inc"
	.include "pit-delay.inc"

idtr:
	.word	256 * 8 - 1
	.long	IDT

msg_cpu:
	.asciz	"cpu "
msg_up:
	.asciz	" up\n"
msg_ipi:
	.asciz	"ipi-bench: "
msg_go:
	.asciz	"ipi-bench: go\n"
msg_ok:
	.asciz	" round trips, ok\n"
msg_needs_two:
	.asciz	"ipi-bench: needs 2 cpus, FAIL\n"
msg_counter:
	.asciz	"ipi-bench: counter "
msg_want:
	.asciz	", want "
msg_fail:
	.asciz	", FAIL\n"
msg_fault:
	.asciz	"ipi-bench: FAIL (unexpected exception)\n"
msg_of:
	.asciz	" of "
msg_timeout:
	.asciz	" cpus checked in within 1 s, FAIL\n"
msg_bad_count:
	.asciz	"ipi-bench: FAIL: fw_cfg says cpus = "

	rom_gdt
	reset_vector
