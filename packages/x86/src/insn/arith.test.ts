import { describe, expect, it } from "vitest";
import { read16, read32, realMode, write32 } from "../../test/helpers.js";
import type { X86Cpu } from "../cpu.js";
import { EAX, EBX, ECX, EDX, FLAG_CF, FLAG_ZF } from "../regs.js";
import { EIP } from "../state.js";

const HLT = 0xf4;

function exec(code: number[], regs: Partial<Record<number, number>>): X86Cpu {
  const cpu = realMode([...code, HLT]);
  cpu.mem.load(6 * 4, [0x00, 0x02, 0x00, 0x00]); // #UD -> 0000:0200
  cpu.mem.load(0x200, [HLT]);
  for (const [r, v] of Object.entries(regs)) cpu.regs[Number(r)] = v!;
  cpu.run(10);
  return cpu;
}

describe("CMPXCHG", () => {
  it("cmpxchg bl,cl with al=bl stores cl", () => {
    const cpu = exec([0x0f, 0xb0, 0xcb], { [EAX]: 0x12, [EBX]: 0x12, [ECX]: 0x34 });
    expect(cpu.regs[EBX]).toBe(0x34);
    expect(cpu.regs[EAX]).toBe(0x12);
    expect(cpu.getEflags() & FLAG_ZF).toBe(FLAG_ZF);
  });

  it("cmpxchg bl,cl with al<bl loads bl into al, flags as cmp", () => {
    const cpu = exec([0x0f, 0xb0, 0xcb], { [EAX]: 0x11, [EBX]: 0x12, [ECX]: 0x34 });
    expect(cpu.regs[EBX]).toBe(0x12);
    expect(cpu.regs[EAX]).toBe(0x12);
    expect(cpu.getEflags() & (FLAG_ZF | FLAG_CF)).toBe(FLAG_CF);
  });

  it("cmpxchg word [0x300],cx with ax != [0x300] loads ax and keeps memory", () => {
    const cpu = realMode([0x0f, 0xb1, 0x0e, 0x00, 0x03, HLT]);
    cpu.mem.load(0x300, [0xcd, 0xab]);
    cpu.regs[EAX] = 1;
    cpu.regs[ECX] = 0x5555;
    cpu.run(10);
    expect(cpu.regs[EAX]).toBe(0xabcd);
    expect(read16(cpu, 0x300)).toBe(0xabcd);
    expect(cpu.getEflags() & FLAG_ZF).toBe(0);
  });

  it("cmpxchg word [0x300],cx with ax = [0x300] stores cx", () => {
    const cpu = realMode([0x0f, 0xb1, 0x0e, 0x00, 0x03, HLT]);
    cpu.mem.load(0x300, [0xcd, 0xab]);
    cpu.regs[EAX] = 0xabcd;
    cpu.regs[ECX] = 0x5555;
    cpu.run(10);
    expect(read16(cpu, 0x300)).toBe(0x5555);
    expect(cpu.getEflags() & FLAG_ZF).toBe(FLAG_ZF);
  });

  it("cmpxchg ecx,edx with eax=ecx", () => {
    const cpu = exec([0x66, 0x0f, 0xb1, 0xd1], { [EAX]: -5, [ECX]: -5, [EDX]: 7 });
    expect(cpu.regs[ECX]).toBe(7);
    expect(cpu.getEflags() & FLAG_ZF).toBe(FLAG_ZF);
  });
});

describe("XADD", () => {
  it("xadd al,bl", () => {
    const cpu = exec([0x0f, 0xc0, 0xd8], { [EAX]: 0xf0, [EBX]: 0x20 });
    expect(cpu.regs[EAX]).toBe(0x10);
    expect(cpu.regs[EBX]).toBe(0xf0);
    expect(cpu.getEflags() & FLAG_CF).toBe(FLAG_CF);
  });

  it("xadd al,al keeps the sum", () => {
    const cpu = exec([0x0f, 0xc0, 0xc0], { [EAX]: 0x21 });
    expect(cpu.regs[EAX]).toBe(0x42);
  });

  it("xadd word [0x300],bx", () => {
    const cpu = realMode([0x0f, 0xc1, 0x1e, 0x00, 0x03, HLT]);
    cpu.mem.load(0x300, [0x00, 0x10]);
    cpu.regs[EBX] = 0x0234;
    cpu.run(10);
    expect(read16(cpu, 0x300)).toBe(0x1234);
    expect(cpu.regs[EBX]).toBe(0x1000);
  });

  it("xadd ecx,edx", () => {
    const cpu = exec([0x66, 0x0f, 0xc1, 0xd1], { [ECX]: -1, [EDX]: 1 });
    expect(cpu.regs[ECX]).toBe(0);
    expect(cpu.regs[EDX]).toBe(-1);
    expect(cpu.getEflags() & (FLAG_ZF | FLAG_CF)).toBe(FLAG_ZF | FLAG_CF);
  });
});

describe("CMPXCHG8B", () => {
  it("cmpxchg8b [0x300] with edx:eax equal stores ecx:ebx", () => {
    const cpu = realMode([0x0f, 0xc7, 0x0e, 0x00, 0x03, HLT]);
    write32(cpu, 0x300, 0x1111_1111);
    write32(cpu, 0x304, 0x2222_2222);
    cpu.regs[EAX] = 0x1111_1111;
    cpu.regs[EDX] = 0x2222_2222;
    cpu.regs[EBX] = 0x3333_3333;
    cpu.regs[ECX] = 0x4444_4444;
    cpu.run(10);
    expect(read32(cpu, 0x300)).toBe(0x3333_3333);
    expect(read32(cpu, 0x304)).toBe(0x4444_4444);
    expect(cpu.getEflags() & FLAG_ZF).toBe(FLAG_ZF);
  });

  it("cmpxchg8b [0x300] with edx:eax different loads it", () => {
    const cpu = realMode([0x0f, 0xc7, 0x0e, 0x00, 0x03, HLT]);
    write32(cpu, 0x300, 0x1111_1111);
    write32(cpu, 0x304, 0x2222_2222);
    cpu.regs[EAX] = 0x1111_1111;
    cpu.regs[EDX] = 0;
    cpu.setEflags(0x2 | FLAG_ZF | FLAG_CF);
    cpu.run(10);
    expect(cpu.regs[EAX]).toBe(0x1111_1111);
    expect(cpu.regs[EDX]).toBe(0x2222_2222);
    expect(read32(cpu, 0x304)).toBe(0x2222_2222);
    expect(cpu.getEflags() & (FLAG_ZF | FLAG_CF)).toBe(FLAG_CF);
  });

  it("cmpxchg8b eax (register operand) raises #UD", () => {
    const cpu = exec([0x0f, 0xc7, 0xc8], {});
    expect(cpu.st[EIP]).toBe(0x201);
  });
});
