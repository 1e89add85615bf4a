import { describe, expect, it } from "vitest";
import { read16, realMode } from "../../test/helpers.js";
import type { X86Cpu } from "../cpu.js";
import { EAX, EBX, ECX, FLAG_AF, FLAG_CF, FLAG_OF, FLAG_PF, FLAG_SF, FLAG_ZF } from "../regs.js";
import { EIP, HALTED } from "../state.js";

const HLT = 0xf4;
const CO = FLAG_CF | FLAG_OF;

function exec(code: number[], regs: Partial<Record<number, number>>, flags = 0x2): X86Cpu {
  const cpu = realMode([...code, HLT]);
  for (const [r, v] of Object.entries(regs)) cpu.regs[Number(r)] = v!;
  cpu.setEflags(flags);
  cpu.run(10);
  return cpu;
}

/**
 * The 286's way: mask the count to 5 bits, then step it one bit at a time; flags are
 * those of the last step. Returns null for a count of 0 (nothing changes).
 */
function reference(op: number, n: number, v0: number, count: number, cf0: number) {
  const m = n === 32 ? 0xffff_ffff : (1 << n) - 1;
  const msb = (x: number) => (x >>> (n - 1)) & 1;
  let v = v0 >>> 0;
  let cf = cf0;
  let of = 0;
  const c = count & 0x1f;
  if (c === 0) return null;
  for (let k = 0; k < c; k++) {
    const lo = v & 1;
    const hi = msb(v);
    switch (op) {
      case 0: // ROL
        v = ((v * 2) % (m + 1)) + hi;
        cf = hi;
        of = msb(v) ^ cf;
        break;
      case 1: // ROR
        v = Math.floor(v / 2) + hi * 0 + lo * 2 ** (n - 1);
        cf = lo;
        of = msb(v) ^ ((v >>> (n - 2)) & 1);
        break;
      case 2: // RCL
        v = ((v * 2) % (m + 1)) + cf;
        cf = hi;
        of = msb(v) ^ cf;
        break;
      case 3: // RCR
        of = hi ^ cf;
        v = Math.floor(v / 2) + cf * 2 ** (n - 1);
        cf = lo;
        break;
      case 4:
      case 6: // SHL / SAL
        cf = hi;
        v = (v * 2) % (m + 1);
        of = msb(v) ^ cf;
        break;
      case 5: // SHR
        cf = lo;
        of = hi;
        v = Math.floor(v / 2);
        break;
      default: // SAR
        cf = lo;
        of = 0;
        v = Math.floor(v / 2) + hi * 2 ** (n - 1);
    }
  }
  return { v, cf, of };
}

function parity(x: number): number {
  let b = x & 0xff;
  b ^= b >> 4;
  b ^= b >> 2;
  b ^= b >> 1;
  return b & 1 ? 0 : FLAG_PF;
}

describe("grp2 by 1, CL and Ib", () => {
  it("shl al,1 with al=0x81", () => {
    const cpu = exec([0xd0, 0xe0], { [EAX]: 0x81 });
    expect(cpu.regs[EAX]).toBe(0x02);
    expect(cpu.getEflags() & CO).toBe(CO);
  });

  it("shr al,1 with al=0x81", () => {
    const cpu = exec([0xd0, 0xe8], { [EAX]: 0x81 });
    expect(cpu.regs[EAX]).toBe(0x40);
    expect(cpu.getEflags() & CO).toBe(CO);
  });

  it("sar al,1 with al=0x81", () => {
    const cpu = exec([0xd0, 0xf8], { [EAX]: 0x81 });
    expect(cpu.regs[EAX]).toBe(0xc0);
    expect(cpu.getEflags() & (CO | FLAG_SF)).toBe(FLAG_CF | FLAG_SF);
  });

  it("sal al,1 (/6) is shl", () => {
    const cpu = exec([0xd0, 0xf0], { [EAX]: 0x40 });
    expect(cpu.regs[EAX]).toBe(0x80);
    expect(cpu.getEflags() & (CO | FLAG_SF)).toBe(FLAG_OF | FLAG_SF);
  });

  it("rol al,cl with cl=0 changes no flags", () => {
    const flags = 0x2 | FLAG_CF | FLAG_OF | FLAG_ZF | FLAG_AF | FLAG_PF;
    const cpu = exec([0xd2, 0xc0], { [EAX]: 0x81, [ECX]: 0 }, flags);
    expect(cpu.regs[EAX]).toBe(0x81);
    expect(cpu.getEflags() & 0xfff).toBe(flags);
  });

  it("shl ax,cl with cl=0x21 shifts by 1 (count masked to 5 bits)", () => {
    const cpu = exec([0xd3, 0xe0], { [EAX]: 0x4001, [ECX]: 0x21 });
    expect(cpu.regs[EAX]).toBe(0x8002);
  });

  it("rcl ax,cl with cl=17 leaves ax and CF", () => {
    const cpu = exec([0xd3, 0xd0], { [EAX]: 0x8001, [ECX]: 17 }, 0x2 | FLAG_CF);
    expect(cpu.regs[EAX]).toBe(0x8001);
    expect(cpu.getEflags() & FLAG_CF).toBe(FLAG_CF);
  });

  it("rcl al,1 with al=0x80, CF=1", () => {
    const cpu = exec([0xd0, 0xd0], { [EAX]: 0x80 }, 0x2 | FLAG_CF);
    expect(cpu.regs[EAX]).toBe(0x01);
    expect(cpu.getEflags() & CO).toBe(CO);
  });

  it("rcr al,1 with al=0x01, CF=0", () => {
    const cpu = exec([0xd0, 0xd8], { [EAX]: 0x01 });
    expect(cpu.regs[EAX]).toBe(0x00);
    expect(cpu.getEflags() & CO).toBe(FLAG_CF);
  });

  it("rol al,4 leaves SF ZF PF AF as they were", () => {
    const flags = 0x2 | FLAG_ZF | FLAG_AF;
    const cpu = exec([0xc0, 0xc0, 0x04], { [EAX]: 0x1f }, flags);
    expect(cpu.regs[EAX]).toBe(0xf1);
    expect(cpu.getEflags() & (FLAG_ZF | FLAG_AF | FLAG_SF | FLAG_PF)).toBe(FLAG_ZF | FLAG_AF);
    expect(cpu.getEflags() & CO).toBe(FLAG_CF);
  });

  it("shl al,9 shifts everything out: al=0, CF=0", () => {
    const cpu = exec([0xc0, 0xe0, 0x09], { [EAX]: 0xff });
    expect(cpu.regs[EAX]).toBe(0);
    expect(cpu.getEflags() & (FLAG_CF | FLAG_ZF)).toBe(FLAG_ZF);
  });

  it("sar ax,20 fills with the sign, CF = sign", () => {
    const cpu = exec([0xc1, 0xf8, 0x14], { [EAX]: 0x8000 });
    expect(cpu.regs[EAX]).toBe(0xffff);
    expect(cpu.getEflags() & FLAG_CF).toBe(FLAG_CF);
  });

  it("rcl eax,31 with CF=1", () => {
    const cpu = exec([0x66, 0xc1, 0xd0, 0x1f], { [EAX]: 0x0000_0003 }, 0x2 | FLAG_CF);
    // A 33-bit rotate left by 31 is one right by 2: CF:eax = 1:00000003 -> 1:C0000000.
    expect(cpu.regs[EAX]! >>> 0).toBe(0xc000_0000);
    expect(cpu.getEflags() & FLAG_CF).toBe(FLAG_CF);
  });

  it("shl word [0x300],1", () => {
    const cpu = realMode([0xd1, 0x26, 0x00, 0x03, HLT]);
    cpu.mem.load(0x300, [0x01, 0x80]);
    cpu.run(10);
    expect(read16(cpu, 0x300)).toBe(0x0002);
    expect(cpu.getEflags() & CO).toBe(CO);
  });

  it("every op, size and count 0..31 matches the stepwise model", () => {
    const values = [0, 1, 0x80, 0x7f, 0xa5, 0x8001, 0x7ffe, 0x1234_5678, 0x8000_0001, -1];
    for (const n of [8, 16, 32]) {
      const code = n === 8 ? [0xd2] : n === 16 ? [0xd3] : [0x66, 0xd3];
      const m = n === 32 ? -1 : (1 << n) - 1;
      for (let op = 0; op < 8; op++) {
        const cpu = realMode([...code, 0xc0 | (op << 3), HLT]);
        for (const raw of values) {
          for (const cf of [0, 1]) {
            for (const count of [0, 1, 2, 7, 8, 9, 15, 16, 17, 24, 31, 33]) {
              const v = (raw & m) >>> 0;
              const flags = 0x2 | cf | FLAG_AF;
              cpu.regs[EAX] = v;
              cpu.regs[ECX] = count;
              cpu.setEflags(flags);
              cpu.st[EIP] = 0x100;
              cpu.st[HALTED] = 0;
              cpu.run(10);
              const want = reference(op, n, v, count, cf);
              const got = (cpu.regs[EAX]! & m) >>> 0;
              const f = cpu.getEflags();
              const what = `op ${op} n ${n} v ${v.toString(16)} c ${count} cf ${cf}`;
              if (want === null) {
                expect(got, what).toBe(v);
                expect(f & 0xfff, what).toBe(flags);
                continue;
              }
              expect(got, what).toBe(want.v);
              expect(f & CO, what).toBe(want.cf | (want.of << 11));
              if (op >= 4) {
                const szp =
                  (want.v === 0 ? FLAG_ZF : 0) |
                  ((want.v >>> (n - 1)) & 1 ? FLAG_SF : 0) |
                  parity(want.v);
                expect(f & (FLAG_SF | FLAG_ZF | FLAG_PF), what).toBe(szp);
              } else {
                expect(f & (FLAG_SF | FLAG_ZF | FLAG_PF | FLAG_AF), what).toBe(FLAG_AF);
              }
            }
          }
        }
      }
    }
  });
});

describe("SHLD / SHRD", () => {
  it("shld ax,bx,4", () => {
    const cpu = exec([0x0f, 0xa4, 0xd8, 0x04], { [EAX]: 0x1234, [EBX]: 0xabcd });
    expect(cpu.regs[EAX]).toBe(0x234a);
    expect(cpu.getEflags() & FLAG_CF).toBe(1);
  });

  it("shrd eax,ebx,cl with cl=8", () => {
    const cpu = exec([0x66, 0x0f, 0xad, 0xd8], {
      [EAX]: 0x1234_5678,
      [EBX]: 0xabcd_ef01 | 0,
      [ECX]: 8,
    });
    expect(cpu.regs[EAX]! >>> 0).toBe(0x0112_3456);
    expect(cpu.getEflags() & CO).toBe(0);
  });

  it("shrd eax,ebx,1 with eax=1, ebx=1 sets CF and OF", () => {
    const cpu = exec([0x66, 0x0f, 0xac, 0xd8, 0x01], { [EAX]: 1, [EBX]: 1 });
    expect(cpu.regs[EAX]! >>> 0).toBe(0x8000_0000);
    expect(cpu.getEflags() & CO).toBe(CO);
  });

  it("shld eax,ebx,0 changes nothing", () => {
    const flags = 0x2 | FLAG_CF | FLAG_ZF;
    const cpu = exec([0x66, 0x0f, 0xa4, 0xd8, 0x00], { [EAX]: 5, [EBX]: -1 }, flags);
    expect(cpu.regs[EAX]).toBe(5);
    expect(cpu.getEflags() & 0xfff).toBe(flags);
  });

  it("shld word [0x300],bx,cl with cl=16 loads bx", () => {
    const cpu = realMode([0x0f, 0xa5, 0x1e, 0x00, 0x03, HLT]);
    cpu.mem.load(0x300, [0x01, 0x80]);
    cpu.regs[EBX] = 0xbeef;
    cpu.regs[ECX] = 16;
    cpu.run(10);
    expect(read16(cpu, 0x300)).toBe(0xbeef);
    expect(cpu.getEflags() & FLAG_CF).toBe(1);
  });
});
