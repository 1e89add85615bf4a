/**
 * The in-kernel 8259A pair (arch/x86/kvm/i8259.c) through its ports and kvm_set_irq:
 * initialization words, edge and level (ELCR) requests, the slave cascade, priorities,
 * EOI forms, auto-EOI, poll mode, the spurious IRQ 7.
 */
import { describe, expect, it } from "vitest";
import { irqchipVm } from "../test/irqchip-setup.js";
import { kvmPicReadIrq, picdevRead, picdevWrite } from "./i8259.js";
import { kvmSetIrq } from "./irq_comm.js";

/** A VM whose PICs were initialized the way a PC BIOS does (bases 0x08 and 0x70). */
function pc({ autoEoi = false } = {}) {
  const v = irqchipVm(1);
  const kvm = v.kvm();
  const pic = kvm.arch.vpic!;
  const out = (port: number, val: number) => picdevWrite(pic, port, 1, val);
  const icw4 = autoEoi ? 0x03 : 0x01;
  out(0x20, 0x11);
  out(0x21, 0x08);
  out(0x21, 0x04);
  out(0x21, icw4);
  out(0xa0, 0x11);
  out(0xa1, 0x70);
  out(0xa1, 0x02);
  out(0xa1, icw4);
  out(0x21, 0x00);
  out(0xa1, 0x00);
  const pulse = (gsi: number) => {
    kvmSetIrq(kvm, 0, gsi, 1, false);
    kvmSetIrq(kvm, 0, gsi, 0, false);
  };
  return { kvm, pic, out, in: (port: number) => picdevRead(pic, port, 1), pulse };
}

describe("the 8259 pair", () => {
  it("an edge on IRQ 1 is acknowledged as vector base + 1 and stays in service until EOI", () => {
    const p = pc();
    p.pulse(1);
    expect(p.pic.output).toBe(true);
    expect(kvmPicReadIrq(p.kvm)).toBe(0x09);
    expect(p.pic.output).toBe(false);
    expect(p.pic.pics[0].isr).toBe(0b10);
    // OCW3 read ISR, then the non-specific EOI.
    p.out(0x20, 0x0b);
    expect(p.in(0x20)).toBe(0b10);
    p.out(0x20, 0x20);
    expect(p.in(0x20)).toBe(0);
  });

  it("the slave cascades through master pin 2: GSI 10 gives slave base + 2", () => {
    const p = pc();
    p.pulse(10);
    expect(p.pic.output).toBe(true);
    expect(kvmPicReadIrq(p.kvm)).toBe(0x72);
    expect(p.pic.pics[0].isr).toBe(0b100);
    expect(p.pic.pics[1].isr).toBe(0b100);
  });

  it("priorities: a lower pin preempts nothing in service above it; IRQ 0 beats IRQ 5", () => {
    const p = pc();
    p.pulse(5);
    p.pulse(0);
    expect(kvmPicReadIrq(p.kvm)).toBe(0x08);
    // IRQ 5 waits while IRQ 0 is in service.
    expect(p.pic.output).toBe(false);
    p.out(0x20, 0x60); // specific EOI for IRQ 0
    expect(p.pic.output).toBe(true);
    expect(kvmPicReadIrq(p.kvm)).toBe(0x0d);
  });

  it("OCW1 masks: a masked request is latched but raises nothing (status -1)", () => {
    const p = pc();
    p.out(0x21, 0x08);
    expect(kvmSetIrq(p.kvm, 0, 3, 1, true)).toBe(-1);
    expect(p.pic.output).toBe(false);
    expect(p.in(0x20) & 0x08).toBe(0x08); // IRR
    p.out(0x21, 0x00);
    expect(p.pic.output).toBe(true);
  });

  it("ELCR: a level-triggered pin stays requested while the line is high", () => {
    const p = pc();
    p.out(0x4d1, 0xff); // slave: only the PIIX's writable bits stick
    expect(p.in(0x4d1)).toBe(0xde);
    p.out(0x4d0, 0x08); // IRQ 3 level
    expect(p.in(0x4d0)).toBe(0x08);
    kvmSetIrq(p.kvm, 0, 3, 1, false);
    expect(kvmPicReadIrq(p.kvm)).toBe(0x0b);
    p.out(0x20, 0x20);
    // Still high: requested again at once.
    expect(p.pic.output).toBe(true);
    kvmSetIrq(p.kvm, 0, 3, 0, false);
    expect(p.pic.pics[0].irr & 0x08).toBe(0);
  });

  it("auto-EOI leaves nothing in service", () => {
    const p = pc({ autoEoi: true });
    p.pulse(4);
    expect(kvmPicReadIrq(p.kvm)).toBe(0x0c);
    expect(p.pic.pics[0].isr).toBe(0);
  });

  it("poll mode (OCW3 bit 2): the next read acknowledges, bit 7 set when there was a request", () => {
    const p = pc();
    p.pulse(6);
    p.out(0x20, 0x0c);
    expect(p.in(0x20)).toBe(0x86);
    p.out(0x20, 0x0c);
    expect(p.in(0x20)).toBe(0x07);
  });

  it("a request gone before INTA gives the spurious IRQ 7", () => {
    const p = pc();
    expect(kvmPicReadIrq(p.kvm)).toBe(0x0f);
  });
});
