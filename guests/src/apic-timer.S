/*
 * apic-timer — the local APIC's timer in its three modes, interrupts through an IDT in
 * flat 32-bit protected mode, the CPU halted between ticks.
 *
 * The guest checks that there is a local APIC (CPUID.1:EDX[9], and a version register
 * that reads 0x1X), software-enables it (SVR = 0x1FF), sets TPR = 0 and the divide
 * configuration to 1, and runs each mode with its own vector, so that a tick that comes
 * late cannot be counted by the next mode. Every gate counts its vector's ticks in RAM and
 * writes EOI; the main loop waits with STI; HLT.
 *   - one-shot (LVT timer mode 00, vector 0x40, initial count 1,000,000): exactly one
 *     tick; afterwards the current count reads 0, and 20 ms later (PIT-timed, interrupts
 *     on) there has been no second tick;
 *   - periodic (mode 01, vector 0x41, initial count 1,000,000): 5 ticks, with the current
 *     count reloaded (non-zero) after the first; then masked and stopped (initial count 0);
 *   - TSC-deadline (mode 10, vector 0x42), if CPUID.1:ECX[24] says it exists: the
 *     IA32_TSC_DEADLINE MSR (0x6E0) armed 1,000,000 TSC cycles ahead, one tick, and the
 *     MSR reads 0 once it has fired. Without the feature the line says it is skipped.
 * One line per mode on COM1, "apic timer <mode>: ok" ("… periodic: 5 ticks"), then
 * isa-debug-exit with 0 (status 1). A failed check prints "apic timer <mode>: FAIL (…)"
 * and exits with 1 (status 3), as do an exception and a missing local APIC. A timer that
 * never interrupts at all leaves the CPU halted: run it with a timeout.
 *
 * With the APIC's 1 GHz bus clock of QEMU and KVM, a count of 1,000,000 is 1 ms.
 */
	.include "common.inc"
	.include "lapic.inc"
	.equ	IMAGE_BASE, BIOS_BASE
	.equ	IDT, 0x1000		/* 256 gates, RAM */
	.equ	GATE_INT32, 0x8e00	/* present, DPL 0, 32-bit interrupt gate */
	.equ	VEC_ONESHOT, 0x40
	.equ	VEC_PERIODIC, 0x41
	.equ	VEC_DEADLINE, 0x42
	.equ	VEC_SPURIOUS, 0xff
	.equ	COUNT, 1000000		/* initial count: 1 ms at 1 GHz, divide by 1 */
	.equ	DCR_DIV1, 0x0b
	.equ	PERIODIC_TICKS, 5
	.equ	DEADLINE_DELTA, 1000000	/* TSC cycles */
	.equ	TICKS_ONESHOT, 0x500	/* dwords in RAM, one per vector */
	.equ	TICKS_PERIODIC, 0x504
	.equ	TICKS_DEADLINE, 0x508
	.equ	FEATURES_ECX, 0x50c	/* CPUID.1:ECX */

	.code16
	.text
	.globl	_start
_start:
boot:
	enter_pm32 pm32

	.code32
pm32:
	flat_segments
	xor	%eax, %eax
	mov	%eax, TICKS_ONESHOT
	mov	%eax, TICKS_PERIODIC
	mov	%eax, TICKS_DEADLINE

	/* IDT: exceptions (0–31) → fault, the three timer vectors → their counters,
	   everything else (the spurious vector among them) → ignore. */
	mov	$IDT, %edi
	xor	%ebx, %ebx
1:	mov	$(BIOS_BASE + fault), %eax
	cmp	$32, %ebx
	jb	2f
	mov	$(BIOS_BASE + ignore), %eax
	cmp	$VEC_ONESHOT, %ebx
	jb	2f
	cmp	$VEC_DEADLINE, %ebx
	ja	2f
	lea	-VEC_ONESHOT(%ebx), %eax	/* stubs are STUB_SIZE bytes apart */
	imul	$STUB_SIZE, %eax, %eax
	add	$(BIOS_BASE + isr_oneshot), %eax
2:	mov	%ax, (%edi)
	movw	$SEL_CODE32, 2(%edi)
	movw	$GATE_INT32, 4(%edi)
	shr	$16, %eax
	mov	%ax, 6(%edi)
	add	$8, %edi
	inc	%ebx
	cmp	$256, %ebx
	jne	1b
	lidt	(BIOS_BASE + idtr)

	/* Is there a local APIC? */
	mov	$1, %eax
	cpuid
	mov	%ecx, FEATURES_ECX
	test	$(1 << 9), %edx		/* CPUID.1:EDX.APIC */
	jz	no_apic
	mov	LAPIC_VER, %eax
	and	$0xf0, %eax		/* integrated APICs: 0x10–0x1F */
	cmp	$0x10, %eax
	jne	no_apic

	/*
	 * Only the local APIC interrupts here: mask both 8259s (the firmware left them
	 * uninitialised, vector base 0) and LINT0, which reset leaves in ExtINT mode on the
	 * BSP — else a PIT tick through the PIC would arrive as vector 0.
	 */
	mov	$0xff, %al
	out	%al, $0xa1
	out	%al, $0x21
	movl	$(LVT_MASKED | 0x700), LAPIC_LVT_LINT0
	movl	$(SVR_ENABLE | VEC_SPURIOUS), LAPIC_SVR
	movl	$0, LAPIC_TPR
	movl	$DCR_DIV1, LAPIC_TIMER_DCR

	/* One-shot. */
	movl	$VEC_ONESHOT, LAPIC_LVT_TIMER
	movl	$COUNT, LAPIC_TIMER_ICR
1:	sti
	hlt				/* STI's shadow: the wake-up cannot be missed */
	cli
	cmpl	$0, TICKS_ONESHOT
	je	1b
	mov	$(BIOS_BASE + msg_oneshot_ccr), %esi
	cmpl	$0, LAPIC_TIMER_CCR	/* a one-shot timer stays at 0 */
	jne	fail
	sti				/* 20 ms with interrupts on: no second tick */
	mov	$PIT_10MS, %ecx
	call	pit_delay
	call	pit_delay
	cli
	mov	$(BIOS_BASE + msg_oneshot_again), %esi
	cmpl	$1, TICKS_ONESHOT
	jne	fail
	com1_print msg_oneshot_ok

	/* Periodic. */
	movl	$(LVT_TIMER_PERIODIC | VEC_PERIODIC), LAPIC_LVT_TIMER
	movl	$COUNT, LAPIC_TIMER_ICR
1:	sti
	hlt
	cli
	cmpl	$0, TICKS_PERIODIC
	je	1b
	mov	$(BIOS_BASE + msg_periodic_ccr), %esi
	cmpl	$0, LAPIC_TIMER_CCR	/* reloaded from the initial count */
	je	fail
2:	cmpl	$PERIODIC_TICKS, TICKS_PERIODIC
	jae	3f
	sti
	hlt
	cli
	jmp	2b
3:	movl	$(LVT_MASKED | LVT_TIMER_PERIODIC | VEC_PERIODIC), LAPIC_LVT_TIMER
	movl	$0, LAPIC_TIMER_ICR	/* stops the timer */
	com1_print msg_periodic_ok

	/* TSC-deadline, where CPUID has it. */
	testl	$(1 << 24), FEATURES_ECX
	jnz	1f
	com1_print msg_deadline_skipped
	debug_exit 0
1:	movl	$(LVT_TIMER_TSC_DEADLINE | VEC_DEADLINE), LAPIC_LVT_TIMER
	mfence				/* the LVT write before the WRMSR (SDM: TSC-deadline mode) */
	rdtsc
	add	$DEADLINE_DELTA, %eax
	adc	$0, %edx
	mov	$MSR_TSC_DEADLINE, %ecx
	wrmsr
1:	sti
	hlt
	cli
	cmpl	$0, TICKS_DEADLINE
	je	1b
	mov	$MSR_TSC_DEADLINE, %ecx
	rdmsr				/* disarmed once it has fired */
	or	%edx, %eax
	mov	$(BIOS_BASE + msg_deadline_msr), %esi
	jnz	fail
	movl	$(LVT_MASKED | VEC_DEADLINE), LAPIC_LVT_TIMER
	com1_print msg_deadline_ok
	debug_exit 0

/* The failure line whose text is at ESI. */
fail:
	call	com1_puts
	debug_exit 1

no_apic:
	com1_print msg_no_apic
	debug_exit 1

/* The three timer gates, STUB_SIZE bytes each: count, EOI, return. */
isr_oneshot:
	incl	TICKS_ONESHOT
	movl	$0, LAPIC_EOI
	iret
isr_periodic:
	incl	TICKS_PERIODIC
	movl	$0, LAPIC_EOI
	iret
isr_deadline:
	incl	TICKS_DEADLINE
	movl	$0, LAPIC_EOI
	iret
	.equ	STUB_SIZE, isr_periodic - isr_oneshot
	.if	isr_deadline - isr_periodic - STUB_SIZE
	.error	"the timer gates differ in size"
	.endif

ignore:					/* spurious (no EOI) or unexpected vectors */
	iret

fault:
	com1_print msg_fault
	debug_exit 1

	.include "com1.inc"
	.include "pit-delay.inc"

idtr:
	.word	256 * 8 - 1
	.long	IDT

msg_oneshot_ok:
	.asciz	"apic timer one-shot: ok\n"
msg_oneshot_ccr:
	.asciz	"apic timer one-shot: FAIL (current count not 0 after the tick)\n"
msg_oneshot_again:
	.asciz	"apic timer one-shot: FAIL (it fired again)\n"
msg_periodic_ok:
	.asciz	"apic timer periodic: 5 ticks\n"
msg_periodic_ccr:
	.asciz	"apic timer periodic: FAIL (current count not reloaded)\n"
msg_deadline_ok:
	.asciz	"apic timer tsc-deadline: ok\n"
msg_deadline_skipped:
	.asciz	"apic timer tsc-deadline: skipped (not in CPUID)\n"
msg_deadline_msr:
	.asciz	"apic timer tsc-deadline: FAIL (IA32_TSC_DEADLINE not 0 after the tick)\n"
msg_no_apic:
	.asciz	"apic timer: FAIL (no local APIC)\n"
msg_fault:
	.asciz	"apic timer: FAIL (unexpected exception)\n"

	rom_gdt
	reset_vector
