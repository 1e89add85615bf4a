import { describe, expect, it } from "vitest";
import { LONG, longMode, realMode } from "../test/helpers.js";
import { EXIT_HLT } from "./cpu.js";
import {
  getRegisters,
  getRegisters64,
  getSystemRegisters,
  getSystemRegisters64,
  setRegisters,
  setRegisters64,
  setSystemRegisters,
  setSystemRegisters64,
} from "./cpu-state.js";

describe("state read and write (KVM_GET/SET_REGS, KVM_GET/SET_SREGS shapes)", () => {
  it("round-trips and takes effect: set EAX, run add ax,1, read back", () => {
    const cpu = realMode([0x05, 0x01, 0x00, 0xf4]);
    const regs = getRegisters(cpu);
    expect(regs.eip).toBe(0x100);
    expect(regs.eflags).toBe(0x2);
    setRegisters(cpu, { ...regs, eax: 0xffff });
    expect(cpu.run(10)).toBe(EXIT_HLT);
    const after = getRegisters(cpu);
    expect(after.eax).toBe(0);
    expect(after.eflags & 0x41).toBe(0x41); // ZF and CF
    expect(after.eip).toBe(0x104);
  });

  it("system registers round-trip, with the reset values of CS", () => {
    const cpu = realMode([0xf4]);
    cpu.reset();
    const s = getSystemRegisters(cpu);
    expect(s.cs).toEqual({ selector: 0xf000, base: 0xffff_0000, limit: 0xffff, ar: 0x9b });
    expect(s.cr0).toBe(0x6000_0010);
    setSystemRegisters(cpu, { ...s, gdt: { base: 0x1000, limit: 0x17 } });
    expect(getSystemRegisters(cpu)).toEqual({ ...s, gdt: { base: 0x1000, limit: 0x17 } });
  });

  it("kvm_regs in 64 bits: add r15, rax (49 01 c7) on values set with setRegisters64", () => {
    // Enter 64-bit mode first (the fixture's prologue), then set the registers.
    const cpu = longMode([0x49, 0x01, 0xc7, 0xf4]); // add r15, rax; hlt
    // Run the prologue up to the first 64-bit instruction.
    while (cpu.st[0] !== LONG.ENTRY) cpu.run(1);
    const r = getRegisters64(cpu);
    setRegisters64(cpu, { ...r, rax: 0x1_0000_0001n, r15: 0xffff_ffff_ffff_ffffn });
    expect(cpu.run(10)).toBe(EXIT_HLT);
    const after = getRegisters64(cpu);
    expect(after.r15).toBe(0x1_0000_0000n);
    expect(after.rflags & 1n).toBe(1n); // CF
    expect(after.rip).toBe(BigInt(LONG.ENTRY + 4));
    expect(getRegisters(cpu).eax).toBe(1);
  });

  it("kvm_sregs in 64 bits: a GS base takes effect and a GDTR base above 4 GiB round-trips", () => {
    const cpu = longMode([0x65, 0x8b, 0x04, 0x25, 0x10, 0, 0, 0, 0xf4]); // mov eax, gs:[0x10]
    while (cpu.st[0] !== LONG.ENTRY) cpu.run(1);
    const s = getSystemRegisters64(cpu);
    // The GS base takes effect in the access; the GDTR base above 4 GiB is state only.
    const next = {
      ...s,
      gs: { ...s.gs, base: 0x3_0000n },
      gdt: { base: 0xffff_8000_0000_1000n, limit: 0xfff },
    };
    setSystemRegisters64(cpu, next);
    expect(getSystemRegisters64(cpu).gdt.base).toBe(0xffff_8000_0000_1000n);
    expect(getSystemRegisters64(cpu).gs.base).toBe(0x3_0000n);
    cpu.mem.load(0x3_0010, [0x44, 0x33, 0x22, 0x11]);
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(getRegisters(cpu).eax).toBe(0x1122_3344);
    // The 32-bit setter clears the high halves.
    setSystemRegisters(cpu, getSystemRegisters(cpu));
    expect(getSystemRegisters64(cpu).gdt.base).toBe(0x1000n);
  });
});
