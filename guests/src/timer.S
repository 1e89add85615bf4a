/*
 * timer — interrupts from the i8254 through the i8259 pair, in flat 32-bit protected mode.
 *
 * The PICs are re-initialised (ICW1–ICW4) with the master's vectors at 0x20 and the
 * slave's at 0x28, every line masked but IRQ0; the local APIC's LINT0 becomes the ExtINT
 * input the PIC's INTR needs (masked at reset); PIT channel 0 runs in mode 2 (rate
 * generator) with divisor 11932, about 100 Hz. The IRQ0 gate counts ticks in RAM and
 * sends a non-specific EOI; the main loop sleeps with STI; HLT and prints "tick <k>\n"
 * on COM1 once the count reaches 10 × k, for k = 1 … 5 (50 interrupts, about half a
 * second), then exits through isa-debug-exit with 0 (status 1). An exception prints
 * "timer: unexpected exception" and exits with 1 (status 3).
 */
	.include "common.inc"
	.equ	IMAGE_BASE, BIOS_BASE
	.equ	TICKS, 0x500		/* dword, RAM */
	.equ	IDT, 0x1000		/* 256 gates, RAM */
	.equ	GATE_INT32, 0x8e00	/* present, DPL 0, 32-bit interrupt gate */
	.equ	PIC1_CMD, 0x20
	.equ	PIC1_DATA, 0x21
	.equ	PIC2_CMD, 0xa0
	.equ	PIC2_DATA, 0xa1
	.equ	PIC_EOI, 0x20
	.equ	VEC_IRQ0, 0x20
	.equ	PIT_CH0, 0x40
	.equ	PIT_MODE, 0x43
	.equ	PIT_DIVISOR, 11932	/* 1193182 Hz / 11932 ≈ 100 Hz */
	.equ	TICKS_PER_LINE, 10
	.equ	LINES, 5

	.code16
	.text
	.globl	_start
_start:
boot:
	enter_pm32 pm32

	.code32
pm32:
	flat_segments
	movl	$0, TICKS

	/* IDT: exceptions (0–31) → fault, IRQ0 → irq0, everything else → ignore. */
	idt_fill %ebx, VEC_IRQ0, irq0

	/* The i8259 pair: edge triggered, cascaded on IRQ2, 8086 mode. */
	mov	$0x11, %al		/* ICW1: init, ICW4 follows */
	out	%al, $PIC1_CMD
	out	%al, $PIC2_CMD
	mov	$VEC_IRQ0, %al		/* ICW2: vector bases */
	out	%al, $PIC1_DATA
	mov	$(VEC_IRQ0 + 8), %al
	out	%al, $PIC2_DATA
	mov	$0x04, %al		/* ICW3: slave on the master's IRQ2 */
	out	%al, $PIC1_DATA
	mov	$0x02, %al		/* ICW3: the slave's cascade identity */
	out	%al, $PIC2_DATA
	mov	$0x01, %al		/* ICW4: 8086 mode */
	out	%al, $PIC1_DATA
	out	%al, $PIC2_DATA
	mov	$0xfe, %al		/* OCW1: only IRQ0 */
	out	%al, $PIC1_DATA
	mov	$0xff, %al
	out	%al, $PIC2_DATA

	/* The local APIC: its LVT entries are masked at reset, so the i8259's INTR reaches
	   the CPU only once LINT0 is an ExtINT input — what a BIOS sets up. Software-enable
	   the APIC (SVR, spurious vector 0xff) and route LINT0 as ExtINT. (A machine model
	   without a local APIC drops these writes.) */
	movl	$0x1ff, 0xfee000f0
	movl	$0x700, 0xfee00350

	/* PIT channel 0: mode 2, low then high byte of the divisor, binary. */
	mov	$0x34, %al
	out	%al, $PIT_MODE
	mov	$(PIT_DIVISOR & 0xff), %al
	out	%al, $PIT_CH0
	mov	$(PIT_DIVISOR >> 8), %al
	out	%al, $PIT_CH0

	mov	$1, %ebx		/* the next line to print */
	mov	$TICKS_PER_LINE, %esi	/* the count it waits for */
wait:
	sti
	hlt				/* STI's shadow: the wake-up cannot be missed */
	cli
	cmp	%esi, TICKS
	jb	wait
	com1_print msg_tick
	mov	%ebx, %eax
	call	com1_putdec
	mov	$0x0a, %al
	call	com1_putc
	add	$TICKS_PER_LINE, %esi
	inc	%ebx
	cmp	$(LINES + 1), %ebx
	jne	wait
	mov	$0xff, %al		/* quiet again before leaving */
	out	%al, $PIC1_DATA
	debug_exit 0

irq0:
	incl	TICKS
	push	%eax
	mov	$PIC_EOI, %al
	out	%al, $PIC1_CMD
	pop	%eax
	iret

ignore:					/* spurious or unexpected IRQs */
	iret

fault:
	com1_print msg_fault
	debug_exit 1

	.include "com1.inc"

idtr:
	.word	256 * 8 - 1
	.long	IDT

msg_tick:
	.asciz	"tick "
msg_fault:
	.asciz	"timer: unexpected exception\n"

	rom_gdt
	reset_vector
