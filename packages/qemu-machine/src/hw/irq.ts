/**
 * IRQ lines (hw/core/irq.c, include/hw/irq.h): a qemu_irq is a handler plus an opaque and
 * a line number; qemu_set_irq calls the handler with the new level. Devices raise their
 * ISA IRQ (the i8259's input) through one; the PIC raises the CPU's INTR through another.
 */
export type QemuIrqHandler = (opaque: unknown, n: number, level: number) => void;

export interface QemuIrq {
  readonly handler: QemuIrqHandler;
  readonly opaque: unknown;
  readonly n: number;
}

/** qemu_allocate_irq. */
export function qemuAllocateIrq(handler: QemuIrqHandler, opaque: unknown, n: number): QemuIrq {
  return { handler, opaque, n };
}

/** qemu_allocate_irqs: `count` lines of one handler. */
export function qemuAllocateIrqs(
  handler: QemuIrqHandler,
  opaque: unknown,
  count: number,
): QemuIrq[] {
  return Array.from({ length: count }, (_, n) => qemuAllocateIrq(handler, opaque, n));
}

/** qemu_set_irq (a null line — not connected — does nothing, as in QEMU). */
export function qemuSetIrq(irq: QemuIrq | null, level: number): void {
  irq?.handler(irq.opaque, irq.n, level);
}

export const qemuIrqRaise = (irq: QemuIrq | null): void => qemuSetIrq(irq, 1);
export const qemuIrqLower = (irq: QemuIrq | null): void => qemuSetIrq(irq, 0);
/** qemu_irq_pulse: raise then lower (edge-triggered inputs see one edge). */
export function qemuIrqPulse(irq: QemuIrq | null): void {
  qemuSetIrq(irq, 1);
  qemuSetIrq(irq, 0);
}
