import { describe, expect, it } from "vitest";
import { read16, realMode } from "../../test/helpers.js";
import type { X86Cpu } from "../cpu.js";
import { EAX, EBX, ECX, EDX, ESP, FLAG_CF, FLAG_OF } from "../regs.js";
import { EIP, HALTED } from "../state.js";

const HLT = 0xf4;
const CO = FLAG_CF | FLAG_OF;

const cpus = new Map<string, X86Cpu>();

/** Run `code; hlt` in real mode with #DE going to a HLT at 0000:0200 (CPUs are reused). */
function exec(code: number[], regs: Partial<Record<number, number>>): X86Cpu {
  let cpu = cpus.get(code.join());
  if (cpu === undefined) {
    cpu = realMode([...code, HLT]);
    cpu.mem.load(0, [0x00, 0x02, 0x00, 0x00]);
    cpu.mem.load(0x200, [HLT]);
    cpus.set(code.join(), cpu);
  }
  cpu.regs.fill(0);
  cpu.regs[ESP] = 0x8000;
  cpu.mem.load(0x7ffa, [0, 0]);
  cpu.setEflags(0x2);
  cpu.st[EIP] = 0x100;
  cpu.st[HALTED] = 0;
  for (const [r, v] of Object.entries(regs)) cpu.regs[Number(r)] = v!;
  cpu.run(10);
  return cpu;
}

/** True when the instruction raised #DE: EIP past the handler's HLT, IP 0x100 pushed. */
function raisedDE(cpu: X86Cpu): boolean {
  return cpu.st[EIP] === 0x201 && read16(cpu, 0x7ffa) === 0x100;
}

const u32 = (v: number) => BigInt(v >>> 0);
const s32 = (v: number) => BigInt(v | 0);

describe("MUL / IMUL with the accumulator", () => {
  it("mul bl with al=0x80, bl=2 sets CF and OF", () => {
    const cpu = exec([0xf6, 0xe3], { [EAX]: 0x80, [EBX]: 2 });
    expect(cpu.regs[EAX]).toBe(0x100);
    expect(cpu.getEflags() & CO).toBe(CO);
  });

  it("mul bl with al=3, bl=4 clears CF and OF", () => {
    const cpu = exec([0xf6, 0xe3], { [EAX]: 3, [EBX]: 4 });
    expect(cpu.regs[EAX]).toBe(12);
    expect(cpu.getEflags() & CO).toBe(0);
  });

  it("imul bl with al=-1, bl=2", () => {
    const cpu = exec([0xf6, 0xeb], { [EAX]: 0xff, [EBX]: 2 });
    expect(cpu.regs[EAX]).toBe(0xfffe);
    expect(cpu.getEflags() & CO).toBe(0);
  });

  it("imul bl with al=0x40, bl=2 overflows a signed byte", () => {
    const cpu = exec([0xf6, 0xeb], { [EAX]: 0x40, [EBX]: 2 });
    expect(cpu.regs[EAX]).toBe(0x80);
    expect(cpu.getEflags() & CO).toBe(CO);
  });

  it("mul cx with ax=cx=0xffff", () => {
    const cpu = exec([0xf7, 0xe1], { [EAX]: 0xffff, [ECX]: 0xffff });
    expect(cpu.regs[EDX]).toBe(0xfffe);
    expect(cpu.regs[EAX]).toBe(1);
    expect(cpu.getEflags() & CO).toBe(CO);
  });

  it("imul cx with ax=-3, cx=5", () => {
    const cpu = exec([0xf7, 0xe9], { [EAX]: 0xfffd, [ECX]: 5 });
    expect(cpu.regs[EDX]).toBe(0xffff);
    expect(cpu.regs[EAX]).toBe(0xfff1);
    expect(cpu.getEflags() & CO).toBe(0);
  });

  it("mul ecx with eax=ecx=0xffffffff", () => {
    const cpu = exec([0x66, 0xf7, 0xe1], { [EAX]: -1, [ECX]: -1 });
    expect(cpu.regs[EDX]! >>> 0).toBe(0xffff_fffe);
    expect(cpu.regs[EAX]).toBe(1);
    expect(cpu.getEflags() & CO).toBe(CO);
  });

  it("imul ecx with eax=0x80000000, ecx=-1 overflows", () => {
    const cpu = exec([0x66, 0xf7, 0xe9], { [EAX]: 0x8000_0000 | 0, [ECX]: -1 });
    expect(cpu.regs[EDX]).toBe(0);
    expect(cpu.regs[EAX]! >>> 0).toBe(0x8000_0000);
    expect(cpu.getEflags() & CO).toBe(CO);
  });

  it("mul ecx / imul ecx on random operands match BigInt", () => {
    let seed = 12345;
    const rnd = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) | 0;
      return (seed ^ (seed >>> 13) ^ Math.imul(seed, 0x9e3779b9)) | 0;
    };
    for (let k = 0; k < 200; k++) {
      const a = rnd();
      const b = k % 4 === 0 ? rnd() >> 16 : rnd();
      const m = exec([0x66, 0xf7, 0xe1], { [EAX]: a, [ECX]: b });
      const pu = u32(a) * u32(b);
      expect([m.regs[EDX], m.regs[EAX]]).toEqual([
        Number(BigInt.asIntN(32, pu >> 32n)),
        Number(BigInt.asIntN(32, pu)),
      ]);
      const s = exec([0x66, 0xf7, 0xe9], { [EAX]: a, [ECX]: b });
      const ps = s32(a) * s32(b);
      expect([s.regs[EDX], s.regs[EAX]]).toEqual([
        Number(BigInt.asIntN(32, ps >> 32n)),
        Number(BigInt.asIntN(32, ps)),
      ]);
      expect((s.getEflags() & FLAG_CF) !== 0).toBe(ps !== BigInt.asIntN(32, ps));
    }
  });
});

describe("IMUL Gv,Ev / Gv,Ev,Iz / Gv,Ev,Ib", () => {
  it("imul ax,bx,1000 with bx=33", () => {
    const cpu = exec([0x69, 0xc3, 0xe8, 0x03], { [EBX]: 33 });
    expect(cpu.regs[EAX]).toBe(33000);
    expect(cpu.getEflags() & CO).toBe(CO);
  });

  it("imul ax,bx,-2 with bx=100", () => {
    const cpu = exec([0x6b, 0xc3, 0xfe], { [EAX]: 0x1234_0000, [EBX]: 100 });
    expect(cpu.regs[EAX]! >>> 0).toBe(0x1234_0000 + 0x10000 - 200);
    expect(cpu.getEflags() & CO).toBe(0);
  });

  it("imul ax,bx,0x8000 with bx=-1: the word immediate is signed, +32768 overflows", () => {
    const cpu = exec([0x69, 0xc3, 0x00, 0x80], { [EBX]: 0xffff });
    expect(cpu.regs[EAX]).toBe(0x8000);
    expect(cpu.getEflags() & CO).toBe(CO);
  });

  it("imul eax,ebx with eax=0x10000, ebx=0x10000 overflows", () => {
    const cpu = exec([0x66, 0x0f, 0xaf, 0xc3], { [EAX]: 0x10000, [EBX]: 0x10000 });
    expect(cpu.regs[EAX]).toBe(0);
    expect(cpu.getEflags() & CO).toBe(CO);
  });

  it("imul eax,ebx,-0x10000 with ebx=0x8000 gives -2^31 without overflow", () => {
    const cpu = exec([0x66, 0x69, 0xc3, 0x00, 0x00, 0xff, 0xff], { [EBX]: 0x8000 });
    expect(cpu.regs[EAX]).toBe(-0x8000_0000);
    expect(cpu.getEflags() & CO).toBe(0);
  });

  it("imul cx,word [0x300]", () => {
    const cpu = realMode([0x0f, 0xaf, 0x0e, 0x00, 0x03, HLT]);
    cpu.mem.load(0x300, [0xfb, 0xff]); // -5
    cpu.regs[ECX] = 7;
    cpu.run(10);
    expect(cpu.regs[ECX]).toBe(0x10000 - 35);
  });
});

describe("DIV / IDIV", () => {
  it("div bl with ax=1000, bl=7", () => {
    const cpu = exec([0xf6, 0xf3], { [EAX]: 1000, [EBX]: 7 });
    expect(cpu.regs[EAX]).toBe((6 << 8) | 142);
  });

  it("div bl with bl=0 raises #DE", () => {
    const cpu = exec([0xf6, 0xf3], { [EAX]: 1000, [EBX]: 0 });
    expect(raisedDE(cpu)).toBe(true);
    expect(cpu.regs[EAX]).toBe(1000);
  });

  it("div bl with ax=0x1000, bl=0x10 (quotient 0x100) raises #DE", () => {
    const cpu = exec([0xf6, 0xf3], { [EAX]: 0x1000, [EBX]: 0x10 });
    expect(raisedDE(cpu)).toBe(true);
  });

  it("idiv bl with ax=-7, bl=2 truncates toward zero", () => {
    const cpu = exec([0xf6, 0xfb], { [EAX]: 0xfff9, [EBX]: 2 });
    expect(cpu.regs[EAX]).toBe(0xfffd);
  });

  it("idiv bl with ax=-128, bl=1 accepts the quotient 0x80", () => {
    const cpu = exec([0xf6, 0xfb], { [EAX]: 0xff80, [EBX]: 1 });
    expect(cpu.regs[EAX]).toBe(0x0080);
  });

  it("idiv bl with ax=128, bl=1 raises #DE", () => {
    expect(raisedDE(exec([0xf6, 0xfb], { [EAX]: 0x80, [EBX]: 1 }))).toBe(true);
  });

  it("div cx with dx:ax=0x0001_0000, cx=3", () => {
    const cpu = exec([0xf7, 0xf1], { [EAX]: 0, [EDX]: 1, [ECX]: 3 });
    expect(cpu.regs[EAX]).toBe(0x5555);
    expect(cpu.regs[EDX]).toBe(1);
  });

  it("div cx with dx=cx raises #DE", () => {
    expect(raisedDE(exec([0xf7, 0xf1], { [EDX]: 3, [ECX]: 3 }))).toBe(true);
  });

  it("idiv cx with dx:ax=-0x8000_0000, cx=-1 raises #DE", () => {
    expect(raisedDE(exec([0xf7, 0xf9], { [EDX]: 0x8000, [EAX]: 0, [ECX]: 0xffff }))).toBe(true);
  });

  it("idiv cx with dx:ax=-0x10000, cx=2 accepts the quotient 0x8000", () => {
    const cpu = exec([0xf7, 0xf9], { [EDX]: 0xffff, [EAX]: 0, [ECX]: 2 });
    expect(cpu.regs[EAX]).toBe(0x8000);
    expect(cpu.regs[EDX]).toBe(0);
  });

  it("div ecx with edx >= ecx raises #DE", () => {
    expect(raisedDE(exec([0x66, 0xf7, 0xf1], { [EDX]: 5, [ECX]: 5 }))).toBe(true);
  });

  it("idiv ecx with edx:eax=-2^63, ecx=-1 raises #DE", () => {
    const cpu = exec([0x66, 0xf7, 0xf9], { [EDX]: 0x8000_0000 | 0, [EAX]: 0, [ECX]: -1 });
    expect(raisedDE(cpu)).toBe(true);
  });

  it("idiv ecx with edx:eax=-3*2^31, ecx=3 accepts the quotient 0x80000000", () => {
    const cpu = exec([0x66, 0xf7, 0xf9], { [EDX]: -2, [EAX]: 0x8000_0000 | 0, [ECX]: 3 });
    expect(cpu.regs[EAX]).toBe(-0x8000_0000);
    expect(cpu.regs[EDX]).toBe(0);
  });

  it("div ecx / idiv ecx on random operands match BigInt", () => {
    let seed = 777;
    const rnd = () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) | 0;
      return (seed ^ (seed >>> 15)) | 0;
    };
    for (let k = 0; k < 300; k++) {
      const d = k % 3 === 0 ? rnd() >> (k % 29) : rnd();
      const hi = rnd() >> (k % 32);
      const lo = rnd();
      if (d === 0) continue;
      const nu = (u32(hi) << 32n) | u32(lo);
      const u = exec([0x66, 0xf7, 0xf1], { [EDX]: hi, [EAX]: lo, [ECX]: d });
      const qu = nu / u32(d);
      if (qu >= 1n << 32n) expect(raisedDE(u)).toBe(true);
      else {
        expect(u.regs[EAX]).toBe(Number(BigInt.asIntN(32, qu)));
        expect(u.regs[EDX]).toBe(Number(BigInt.asIntN(32, nu % u32(d))));
      }
      const ns = BigInt.asIntN(64, nu);
      const s = exec([0x66, 0xf7, 0xf9], { [EDX]: hi, [EAX]: lo, [ECX]: d });
      const qs = ns / s32(d);
      if (qs !== BigInt.asIntN(32, qs)) expect(raisedDE(s)).toBe(true);
      else {
        expect(s.regs[EAX]).toBe(Number(qs));
        expect(s.regs[EDX]).toBe(Number(ns % s32(d)));
      }
    }
  });

  it("div word [0x300] reads its divisor from memory", () => {
    const cpu = realMode([0xf7, 0x36, 0x00, 0x03, HLT]);
    cpu.mem.load(0x300, [10, 0]);
    cpu.regs[EAX] = 1234;
    cpu.regs[EDX] = 0;
    cpu.run(10);
    expect(cpu.regs[EAX]).toBe(123);
    expect(cpu.regs[EDX]).toBe(4);
  });
});
