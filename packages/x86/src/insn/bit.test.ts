import { describe, expect, it } from "vitest";
import { read16, realMode } from "../../test/helpers.js";
import type { X86Cpu } from "../cpu.js";
import { EAX, EBX, FLAG_CF, FLAG_OF, FLAG_SF, FLAG_ZF } from "../regs.js";

const HLT = 0xf4;

function exec(code: number[], regs: Partial<Record<number, number>>, flags = 0x2): X86Cpu {
  const cpu = realMode([...code, HLT]);
  for (const [r, v] of Object.entries(regs)) cpu.regs[Number(r)] = v!;
  cpu.setEflags(flags);
  cpu.run(10);
  return cpu;
}

describe("BT BTS BTR BTC", () => {
  it("bt ax,bx with bx=17 tests bit 1 (register offsets wrap)", () => {
    const cpu = exec([0x0f, 0xa3, 0xd8], { [EAX]: 0x0002, [EBX]: 17 });
    expect(cpu.getEflags() & FLAG_CF).toBe(FLAG_CF);
  });

  it("bt ax,bx keeps ZF SF OF", () => {
    const flags = 0x2 | FLAG_ZF | FLAG_SF | FLAG_OF;
    const cpu = exec([0x0f, 0xa3, 0xd8], { [EAX]: 0, [EBX]: 3 }, flags | FLAG_CF);
    expect(cpu.getEflags() & 0xfff).toBe(flags);
  });

  it("bts word [0x300],bx with bx=17 sets bit 1 of the word at 0x302", () => {
    const cpu = realMode([0x0f, 0xab, 0x1e, 0x00, 0x03, HLT]);
    cpu.regs[EBX] = 17;
    cpu.run(10);
    expect(read16(cpu, 0x300)).toBe(0);
    expect(read16(cpu, 0x302)).toBe(2);
    expect(cpu.getEflags() & FLAG_CF).toBe(0);
  });

  it("btr word [0x300],bx with bx=-1 clears bit 15 of the word at 0x2fe", () => {
    const cpu = realMode([0x0f, 0xb3, 0x1e, 0x00, 0x03, HLT]);
    cpu.mem.load(0x2fe, [0xff, 0xff]);
    cpu.regs[EBX] = 0xffff;
    cpu.run(10);
    expect(read16(cpu, 0x2fe)).toBe(0x7fff);
    expect(cpu.getEflags() & FLAG_CF).toBe(FLAG_CF);
  });

  it("btc dword [0x300],ebx with ebx=-33 flips bit 31 of the dword at 0x2f8", () => {
    const cpu = realMode([0x66, 0x0f, 0xbb, 0x1e, 0x00, 0x03, HLT]);
    cpu.regs[EBX] = -33;
    cpu.run(10);
    expect(read16(cpu, 0x2fa)).toBe(0x8000);
    expect(cpu.getEflags() & FLAG_CF).toBe(0);
  });

  it("btc eax,31", () => {
    const cpu = exec([0x66, 0x0f, 0xba, 0xf8, 0x1f], { [EAX]: -1 });
    expect(cpu.regs[EAX]).toBe(0x7fff_ffff);
    expect(cpu.getEflags() & FLAG_CF).toBe(FLAG_CF);
  });

  it("bt word [0x300],17 masks the immediate to bit 1 of the same word", () => {
    const cpu = realMode([0x0f, 0xba, 0x26, 0x00, 0x03, 0x11, HLT]);
    cpu.mem.load(0x300, [0x02, 0x00]);
    cpu.run(10);
    expect(cpu.getEflags() & FLAG_CF).toBe(FLAG_CF);
  });

  it("bts ax,0x8f sets bit 15", () => {
    const cpu = exec([0x0f, 0xba, 0xe8, 0x8f], { [EAX]: 0 });
    expect(cpu.regs[EAX]).toBe(0x8000);
  });
});

describe("BSF / BSR", () => {
  it("bsf ax,bx with bx=0 sets ZF and keeps ax", () => {
    const cpu = exec([0x0f, 0xbc, 0xc3], { [EAX]: 0x1234, [EBX]: 0 });
    expect(cpu.regs[EAX]).toBe(0x1234);
    expect(cpu.getEflags() & FLAG_ZF).toBe(FLAG_ZF);
  });

  it("bsf ax,bx with bx=0x0108", () => {
    const cpu = exec([0x0f, 0xbc, 0xc3], { [EAX]: 0xffff, [EBX]: 0x0108 }, 0x2 | FLAG_ZF);
    expect(cpu.regs[EAX]).toBe(3);
    expect(cpu.getEflags() & FLAG_ZF).toBe(0);
  });

  it("bsr eax,ebx with ebx=0x80000001", () => {
    const cpu = exec([0x66, 0x0f, 0xbd, 0xc3], { [EBX]: 0x8000_0001 | 0 });
    expect(cpu.regs[EAX]).toBe(31);
  });

  it("bsr ax,word [0x300]", () => {
    const cpu = realMode([0x0f, 0xbd, 0x06, 0x00, 0x03, HLT]);
    cpu.mem.load(0x300, [0x00, 0x01]);
    cpu.run(10);
    expect(cpu.regs[EAX]! & 0xffff).toBe(8);
  });
});

describe("SETcc", () => {
  it("setz al after cmp bl,bl", () => {
    const cpu = realMode([0x38, 0xdb, 0x0f, 0x94, 0xc0, HLT]);
    cpu.regs[EAX] = 0xff;
    cpu.run(10);
    expect(cpu.regs[EAX]).toBe(1);
  });

  it("setnz byte [0x300] after cmp bl,bl", () => {
    const cpu = realMode([0x38, 0xdb, 0x0f, 0x95, 0x06, 0x00, 0x03, HLT]);
    cpu.mem.load(0x300, [0xaa]);
    cpu.run(10);
    expect(cpu.mem.read8(0x300)).toBe(0);
  });

  it("setl ah with SF != OF", () => {
    const cpu = exec([0x0f, 0x9c, 0xc4], { [EAX]: 0 }, 0x2 | FLAG_SF);
    expect(cpu.regs[EAX]).toBe(0x100);
  });
});
