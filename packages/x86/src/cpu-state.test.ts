import { describe, expect, it } from "vitest";
import { realMode } from "../test/helpers.js";
import { EXIT_HLT } from "./cpu.js";
import { getRegisters, getSystemRegisters, setRegisters, setSystemRegisters } from "./cpu-state.js";

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
});
