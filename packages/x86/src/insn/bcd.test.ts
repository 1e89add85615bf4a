import { describe, expect, it } from "vitest";
import { read16, realMode } from "../../test/helpers.js";
import type { X86Cpu } from "../cpu.js";
import { EAX, FLAG_AF, FLAG_CF, FLAG_PF, FLAG_SF, FLAG_ZF } from "../regs.js";
import { EIP } from "../state.js";

const HLT = 0xf4;
const AC = FLAG_AF | FLAG_CF;

function exec(code: number[], ax: number, flags = 0x2): X86Cpu {
  const cpu = realMode([...code, HLT]);
  cpu.mem.load(0, [0x00, 0x02, 0x00, 0x00]); // #DE -> 0000:0200
  cpu.mem.load(0x200, [HLT]);
  cpu.regs[EAX] = ax;
  cpu.setEflags(flags);
  cpu.run(10);
  return cpu;
}

describe("DAA / DAS", () => {
  it("add al,0x35; daa with al=0x79", () => {
    const cpu = exec([0x04, 0x35, 0x27], 0x79);
    expect(cpu.regs[EAX]).toBe(0x14);
    expect(cpu.getEflags() & AC).toBe(AC);
  });

  it("add al,0x11; daa with al=0x22", () => {
    const cpu = exec([0x04, 0x11, 0x27], 0x22);
    expect(cpu.regs[EAX]).toBe(0x33);
    expect(cpu.getEflags() & (AC | FLAG_PF)).toBe(FLAG_PF);
  });

  it("sub al,0x47; das with al=0x35", () => {
    const cpu = exec([0x2c, 0x47, 0x2f], 0x35);
    expect(cpu.regs[EAX]).toBe(0x88);
    expect(cpu.getEflags() & (AC | FLAG_SF)).toBe(AC | FLAG_SF);
  });

  it("das with al=0x05, AF=1 borrows into CF", () => {
    const cpu = exec([0x2f], 0x05, 0x2 | FLAG_AF);
    expect(cpu.regs[EAX]).toBe(0xff);
    expect(cpu.getEflags() & AC).toBe(AC);
  });
});

describe("AAA / AAS", () => {
  it("aaa with ax=0x00ff carries into ah (AX + 0x106)", () => {
    const cpu = exec([0x37], 0x00ff);
    expect(cpu.regs[EAX]).toBe(0x0205);
    expect(cpu.getEflags() & AC).toBe(AC);
  });

  it("aaa with ax=0x0105 clears AF and CF", () => {
    const cpu = exec([0x37], 0x0105, 0x2 | FLAG_CF);
    expect(cpu.regs[EAX]).toBe(0x0105);
    expect(cpu.getEflags() & AC).toBe(0);
  });

  it("sub al,5; aas with ax=0x0203", () => {
    const cpu = exec([0x2c, 0x05, 0x3f], 0x0203);
    expect(cpu.regs[EAX]).toBe(0x0108);
    expect(cpu.getEflags() & AC).toBe(AC);
  });
});

describe("AAM / AAD", () => {
  it("aam with al=63", () => {
    const cpu = exec([0xd4, 0x0a], 63);
    expect(cpu.regs[EAX]).toBe(0x0603);
  });

  it("aam 16 with al=0x9c", () => {
    const cpu = exec([0xd4, 0x10], 0x9c);
    expect(cpu.regs[EAX]).toBe(0x090c);
  });

  it("aam with al=0 sets ZF", () => {
    const cpu = exec([0xd4, 0x0a], 0xff00);
    expect(cpu.regs[EAX]).toBe(0);
    expect(cpu.getEflags() & FLAG_ZF).toBe(FLAG_ZF);
  });

  it("aam 0 raises #DE and keeps ax", () => {
    const cpu = exec([0xd4, 0x00], 0x1234);
    expect(cpu.st[EIP]).toBe(0x201);
    expect(read16(cpu, 0x7ffa)).toBe(0x100);
    expect(cpu.regs[EAX]).toBe(0x1234);
  });

  it("aad with ax=0x0603", () => {
    const cpu = exec([0xd5, 0x0a], 0x0603);
    expect(cpu.regs[EAX]).toBe(63);
  });

  it("aad 16 with ax=0x0f0f wraps al", () => {
    const cpu = exec([0xd5, 0x10], 0x0f0f);
    expect(cpu.regs[EAX]).toBe(0xff);
    expect(cpu.getEflags() & (FLAG_SF | FLAG_ZF)).toBe(FLAG_SF);
  });
});

describe("SALC", () => {
  it("stc; salc", () => {
    const cpu = exec([0xf9, 0xd6], 0x1200);
    expect(cpu.regs[EAX]).toBe(0x12ff);
  });

  it("clc; salc", () => {
    const cpu = exec([0xf8, 0xd6], 0x12ff);
    expect(cpu.regs[EAX]).toBe(0x1200);
  });
});
