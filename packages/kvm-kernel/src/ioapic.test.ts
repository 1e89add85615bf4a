/**
 * The in-kernel I/O APIC (arch/x86/kvm/ioapic.c) through its MMIO window: version and ID
 * registers, redirection entries with their read-only bits, edge and level delivery,
 * remote IRR and EOI, unmasking a pending level interrupt.
 */
import { describe, expect, it } from "vitest";
import { irqchipVm } from "../test/irqchip-setup.js";
import { ioapicMmioRead, ioapicMmioWrite } from "./ioapic.js";
import { kvmSetIrq } from "./irq_comm.js";
import { APIC_SPIV, kvmGetApicInterrupt, kvmLapicRegWrite } from "./lapic.js";

const BASE = 0xfec0_0000;

function setup(nvcpus = 1) {
  const v = irqchipVm(nvcpus);
  const kvm = v.kvm();
  const io = kvm.arch.vioapic!;
  for (const c of v.kv) kvmLapicRegWrite(c.arch.apic!, APIC_SPIV, 0x1ff);
  const w32 = (off: number, val: number) =>
    ioapicMmioWrite(io, BASE + off, Uint8Array.of(val, val >>> 8, val >>> 16, val >>> 24));
  const r32 = (off: number) => {
    const b = new Uint8Array(4);
    ioapicMmioRead(io, BASE + off, b);
    return new DataView(b.buffer).getUint32(0, true);
  };
  const write = (reg: number, val: number) => {
    w32(0x00, reg);
    w32(0x10, val);
  };
  const read = (reg: number) => {
    w32(0x00, reg);
    return r32(0x10);
  };
  return { v, kvm, io, write, read, w32 };
}

describe("the I/O APIC", () => {
  it("version 0x11 with 24 entries; the ID lives in bits 27:24", () => {
    const { write, read } = setup();
    expect(read(0x01)).toBe(0x17_0011);
    write(0x00, 0x0a00_0000);
    expect(read(0x00)).toBe(0x0a00_0000);
    expect(read(0x02)).toBe(0x0a00_0000);
    // Past the table: all ones.
    expect(read(0x10 + 2 * 24)).toBe(0xffff_ffff);
  });

  it("redirection entries: every pin starts masked; delivery status and remote IRR are read-only", () => {
    const { write, read } = setup();
    expect(read(0x10)).toBe(0x1_0000);
    // 0x5000 = delivery status (12) and remote IRR (14): the write cannot set them.
    write(0x10 + 2 * 5, 0x1_5033);
    expect(read(0x10 + 2 * 5)).toBe(0x1_0033);
    write(0x10 + 2 * 5 + 1, 0x0300_0000);
    expect(read(0x10 + 2 * 5 + 1)).toBe(0x0300_0000);
  });

  it("edge: one message per rising edge; a repeated level-1 is coalesced", () => {
    const { v, kvm, write } = setup();
    write(0x10 + 2 * 17, 0x51);
    write(0x10 + 2 * 17 + 1, 0);
    expect(kvmSetIrq(kvm, 0, 17, 1, true)).toBe(1);
    expect(kvmSetIrq(kvm, 0, 17, 1, true)).toBe(0);
    expect(kvmGetApicInterrupt(v.kv[0]!)).toBe(0x51);
  });

  it("level: remote IRR until the LAPIC's EOI; a line still high fires again after it", () => {
    const { v, kvm, io, write } = setup();
    write(0x10 + 2 * 18, 0x8052); // level, vector 0x52
    expect(kvmSetIrq(kvm, 0, 18, 1, true)).toBe(1);
    expect(io.redirtbl[18]! & (1n << 14n)).toBe(1n << 14n);
    // While remote IRR is set nothing more is sent.
    expect(kvmGetApicInterrupt(v.kv[0]!)).toBe(0x52);
    kvmLapicRegWrite(v.kv[0]!.arch.apic!, 0xb0, 0); // EOI
    // The line is still high: delivered again, remote IRR set again.
    expect(io.redirtbl[18]! & (1n << 14n)).toBe(1n << 14n);
    expect(kvmGetApicInterrupt(v.kv[0]!)).toBe(0x52);
  });

  it("unmasking a level pin whose line is up delivers it", () => {
    const { v, kvm, write } = setup();
    write(0x10 + 2 * 19, 0x1_8053); // masked, level
    expect(kvmSetIrq(kvm, 0, 19, 1, true)).toBe(-1);
    write(0x10 + 2 * 19, 0x8053);
    expect(kvmGetApicInterrupt(v.kv[0]!)).toBe(0x53);
  });

  it("the EOI register (0x40) clears remote IRR like a LAPIC EOI of that vector", () => {
    const { kvm, io, write, w32 } = setup();
    write(0x10 + 2 * 20, 0x8054);
    kvmSetIrq(kvm, 0, 20, 1, true);
    kvmSetIrq(kvm, 0, 20, 0, true);
    w32(0x40, 0x54);
    expect(io.redirtbl[20]! & (1n << 14n)).toBe(0n);
  });

  it("logical destination: the message reaches the APICs its LDR bits select", () => {
    const { v, kvm, write } = setup(2);
    kvmLapicRegWrite(v.kv[0]!.arch.apic!, 0xd0, 0x01 << 24);
    kvmLapicRegWrite(v.kv[1]!.arch.apic!, 0xd0, 0x02 << 24);
    write(0x10 + 2 * 21, 0x855); // logical, vector 0x55
    write(0x10 + 2 * 21 + 1, 0x02 << 24);
    expect(kvmSetIrq(kvm, 0, 21, 1, true)).toBe(1);
    expect(kvmGetApicInterrupt(v.kv[0]!)).toBe(-1);
    expect(kvmGetApicInterrupt(v.kv[1]!)).toBe(0x55);
  });
});
