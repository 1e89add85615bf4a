import { describe, expect, it } from "vitest";
import {
  exceptionVector,
  longMode,
  protectedMode,
  read16,
  read32,
  vector64,
  write16,
  write32,
} from "../../test/helpers.js";
import type { CpuidSource, X86Cpu } from "../cpu.js";
import { EXIT_HLT } from "../cpu.js";
import { decodeInsn } from "../fetchdecode.js";
import { MXCSR_MASK } from "../fpu.js";
import { DecodeCache } from "../icache.js";
import { F_O32, F_O64, F_P66, F_REP } from "../instr.js";
import { CR0_EM, CR0_TS, CR4_OSFXSR, EAX, EBX, ECX } from "../regs.js";
import { CR0, CR4 } from "../state.js";

const HLT = 0xf4;
const DATA = 0x2_0000;
const DATA64 = 0x30_0000;

/** CPUID.01H:EDX feature bits (SDM Vol. 2 CPUID, Table 3-11). */
const FPU = 1 << 0;
const FXSR = 1 << 24;
const SSE = 1 << 25;
const SSE2 = 1 << 26;

/** The CPU's CPUID table with leaf 1 EDX replaced by `edx`. */
function withLeaf1(cpu: X86Cpu, edx: number): void {
  const base: CpuidSource = cpu.cpuid;
  cpu.cpuid = (leaf, sub, out) => {
    base(leaf, sub, out);
    if (leaf === 0 && out[0]! < 1) out[0] = 1;
    if (leaf === 1) out[3] = edx;
  };
}

/** Flat 32-bit protected mode with CR4.OSFXSR and CPUID FPU, FXSR, SSE, SSE2; EBX = DATA. */
function pm(code: readonly number[], edx = FPU | FXSR | SSE | SSE2): X86Cpu {
  const cpu = protectedMode([...code, HLT]);
  cpu.st[CR4] = cpu.st[CR4]! | CR4_OSFXSR;
  withLeaf1(cpu, edx);
  cpu.regs[EBX] = DATA;
  return cpu;
}

/** 64-bit mode with CR4.OSFXSR and CPUID FXSR/SSE/SSE2; the code starts with mov ebx, DATA64. */
function lm(code: readonly number[]): X86Cpu {
  const d = DATA64;
  const cpu = longMode([0xbb, d & 0xff, (d >> 8) & 0xff, (d >> 16) & 0xff, d >>> 24, ...code, HLT]);
  cpu.st[CR4] = cpu.st[CR4]! | CR4_OSFXSR;
  withLeaf1(cpu, FPU | (1 << 5) | (1 << 6) | FXSR | SSE | SSE2);
  return cpu;
}

/** Run to the final HLT and return the exception vector that stopped it (-1: none). */
function run(cpu: X86Cpu): number {
  expect(cpu.run(1000)).toBe(EXIT_HLT);
  return exceptionVector(cpu);
}
function run64(cpu: X86Cpu): number {
  expect(cpu.run(1000)).toBe(EXIT_HLT);
  return vector64(cpu);
}

function xmm(cpu: X86Cpu, r: number): number[] {
  return [...cpu.fpu.xmm.subarray(r * 4, r * 4 + 4)].map((v) => v >>> 0);
}
function setXmm(cpu: X86Cpu, r: number, lanes: readonly number[]): void {
  cpu.fpu.xmm.set(
    lanes.map((v) => v | 0),
    r * 4,
  );
}
function bytes(cpu: X86Cpu, r: number): number[] {
  return [...cpu.fpu.xmm8.subarray(r * 16, r * 16 + 16)];
}
function setBytes(cpu: X86Cpu, r: number, b: readonly number[]): void {
  cpu.fpu.xmm8.set(b, r * 16);
}
const iota = (n: number, from = 0) => Array.from({ length: n }, (_, k) => (from + k) & 0xff);

describe("SSE data movement (32-bit protected mode)", () => {
  it("movdqa xmm0,[ebx]; movdqu [ebx+0x21],xmm0 copies 16 bytes to an unaligned address", () => {
    const cpu = pm([0x66, 0x0f, 0x6f, 0x03, 0xf3, 0x0f, 0x7f, 0x43, 0x21]);
    cpu.mem.load(DATA, iota(16, 0x80));
    expect(run(cpu)).toBe(-1);
    expect(bytes(cpu, 0)).toEqual(iota(16, 0x80));
    for (let k = 0; k < 16; k++) expect(cpu.mem.read8(DATA + 0x21 + k)).toBe(0x80 + k);
  });

  it("movdqa xmm1,[ebx+8] raises #GP(0) on an address that is not 16-byte aligned", () => {
    const cpu = pm([0x66, 0x0f, 0x6f, 0x4b, 0x08]);
    expect(run(cpu)).toBe(13);
  });

  it("movdqu xmm1,[ebx+8] loads from the same unaligned address", () => {
    const cpu = pm([0xf3, 0x0f, 0x6f, 0x4b, 0x08]);
    cpu.mem.load(DATA + 8, iota(16, 1));
    expect(run(cpu)).toBe(-1);
    expect(bytes(cpu, 1)).toEqual(iota(16, 1));
  });

  it("movaps [ebx+4],xmm2 raises #GP(0); movups [ebx+4],xmm2 stores", () => {
    const bad = pm([0x0f, 0x29, 0x53, 0x04]);
    expect(run(bad)).toBe(13);
    const ok = pm([0x0f, 0x11, 0x53, 0x04]);
    setXmm(ok, 2, [1, 2, 3, 4]);
    expect(run(ok)).toBe(-1);
    expect([4, 8, 12, 16].map((o) => read32(ok, DATA + o))).toEqual([1, 2, 3, 4]);
  });

  it("movaps xmm0,xmm1; movapd xmm2,xmm0; movupd xmm3,xmm2 copy registers", () => {
    const cpu = pm([0x0f, 0x28, 0xc1, 0x66, 0x0f, 0x28, 0xd0, 0x66, 0x0f, 0x10, 0xda]);
    setXmm(cpu, 1, [0xdead, 0xbeef, 7, 0xffff_ffff]);
    expect(run(cpu)).toBe(-1);
    for (const r of [0, 2, 3]) expect(xmm(cpu, r)).toEqual([0xdead, 0xbeef, 7, 0xffff_ffff]);
  });

  it("movd xmm0,eax zero-extends; movd ecx,xmm1 reads the low dword; movd [ebx],xmm0", () => {
    // movd xmm0,eax; movd ecx,xmm1; movd [ebx],xmm0
    const cpu = pm([0x66, 0x0f, 0x6e, 0xc0, 0x66, 0x0f, 0x7e, 0xc9, 0x66, 0x0f, 0x7e, 0x03]);
    setXmm(cpu, 0, [9, 9, 9, 9]);
    setXmm(cpu, 1, [0x1234_5678, 5, 6, 7]);
    cpu.regs[EAX] = 0xcafe_f00d | 0;
    expect(run(cpu)).toBe(-1);
    expect(xmm(cpu, 0)).toEqual([0xcafe_f00d, 0, 0, 0]);
    expect(cpu.regs[ECX]).toBe(0x1234_5678);
    expect(read32(cpu, DATA)).toBe(0xcafe_f00d);
  });

  it("movq xmm0,[ebx] zeroes the high quadword; movq [ebx+8],xmm1; movq xmm2,xmm1 zeroes too", () => {
    // movq xmm0,[ebx]; movq [ebx+8],xmm1; movq xmm2,xmm1 (66 0F D6 /r: W = xmm2)
    const cpu = pm([0xf3, 0x0f, 0x7e, 0x03, 0x66, 0x0f, 0xd6, 0x4b, 0x08, 0x66, 0x0f, 0xd6, 0xca]);
    write32(cpu, DATA, 0x1111_1111);
    write32(cpu, DATA + 4, 0x2222_2222);
    setXmm(cpu, 0, [5, 5, 5, 5]);
    setXmm(cpu, 1, [0xa, 0xb, 0xc, 0xd]);
    setXmm(cpu, 2, [7, 7, 7, 7]);
    expect(run(cpu)).toBe(-1);
    expect(xmm(cpu, 0)).toEqual([0x1111_1111, 0x2222_2222, 0, 0]);
    expect([read32(cpu, DATA + 8), read32(cpu, DATA + 12)]).toEqual([0xa, 0xb]);
    expect(xmm(cpu, 2)).toEqual([0xa, 0xb, 0, 0]);
  });

  it("movss xmm0,xmm1 merges the low dword; movss xmm2,[ebx] and movsd xmm3,[ebx] zero the rest", () => {
    const cpu = pm([0xf3, 0x0f, 0x10, 0xc1, 0xf3, 0x0f, 0x10, 0x13, 0xf2, 0x0f, 0x10, 0x1b]);
    setXmm(cpu, 0, [1, 2, 3, 4]);
    setXmm(cpu, 1, [9, 8, 7, 6]);
    setXmm(cpu, 2, [1, 1, 1, 1]);
    setXmm(cpu, 3, [1, 1, 1, 1]);
    write32(cpu, DATA, 0x3f80_0000);
    write32(cpu, DATA + 4, 0x4000_0000);
    expect(run(cpu)).toBe(-1);
    expect(xmm(cpu, 0)).toEqual([9, 2, 3, 4]);
    expect(xmm(cpu, 2)).toEqual([0x3f80_0000, 0, 0, 0]);
    expect(xmm(cpu, 3)).toEqual([0x3f80_0000, 0x4000_0000, 0, 0]);
  });
});

describe("SSE/SSE2 logic and integer arithmetic", () => {
  const A = [0xff00_ff00, 0x0f0f_0f0f, 0x1234_5678, 0];
  const B = [0xf0f0_f0f0, 0xffff_0000, 0x1234_5678, 0xffff_ffff];
  const cases: [string, number[], (a: number, b: number) => number][] = [
    ["pxor xmm0,xmm1", [0x66, 0x0f, 0xef, 0xc1], (a, b) => a ^ b],
    ["por xmm0,xmm1", [0x66, 0x0f, 0xeb, 0xc1], (a, b) => a | b],
    ["pand xmm0,xmm1", [0x66, 0x0f, 0xdb, 0xc1], (a, b) => a & b],
    ["pandn xmm0,xmm1", [0x66, 0x0f, 0xdf, 0xc1], (a, b) => ~a & b],
    ["xorps xmm0,xmm1", [0x0f, 0x57, 0xc1], (a, b) => a ^ b],
    ["andps xmm0,xmm1", [0x0f, 0x54, 0xc1], (a, b) => a & b],
    ["andnps xmm0,xmm1", [0x0f, 0x55, 0xc1], (a, b) => ~a & b],
    ["orps xmm0,xmm1", [0x0f, 0x56, 0xc1], (a, b) => a | b],
    ["xorpd xmm0,xmm1", [0x66, 0x0f, 0x57, 0xc1], (a, b) => a ^ b],
    ["pcmpeqd xmm0,xmm1", [0x66, 0x0f, 0x76, 0xc1], (a, b) => (a === b ? -1 : 0)],
    ["paddd xmm0,xmm1", [0x66, 0x0f, 0xfe, 0xc1], (a, b) => a + b],
    ["psubd xmm0,xmm1", [0x66, 0x0f, 0xfa, 0xc1], (a, b) => a - b],
  ];
  for (const [asm, code, f] of cases) {
    it(asm, () => {
      const cpu = pm(code);
      setXmm(cpu, 0, A);
      setXmm(cpu, 1, B);
      expect(run(cpu)).toBe(-1);
      expect(xmm(cpu, 0)).toEqual(A.map((a, k) => f(a, B[k]!) >>> 0));
    });
  }

  it("pxor xmm2,[ebx] reads an aligned memory operand; pxor xmm2,[ebx+4] raises #GP(0)", () => {
    const cpu = pm([0x66, 0x0f, 0xef, 0x13]);
    cpu.mem.load(DATA, iota(16, 0x10));
    setBytes(cpu, 2, iota(16, 0x10));
    expect(run(cpu)).toBe(-1);
    expect(xmm(cpu, 2)).toEqual([0, 0, 0, 0]);
    expect(run(pm([0x66, 0x0f, 0xef, 0x53, 0x04]))).toBe(13);
  });

  it("paddb/paddw/paddq and psubb/psubw/psubq wrap within their lanes", () => {
    // paddb xmm0,xmm1; paddw xmm2,xmm1; paddq xmm3,xmm1; psubb xmm4,xmm1; psubw xmm5,xmm1; psubq xmm6,xmm1
    const cpu = pm([
      ...[0x66, 0x0f, 0xfc, 0xc1],
      ...[0x66, 0x0f, 0xfd, 0xd1],
      ...[0x66, 0x0f, 0xd4, 0xd9],
      ...[0x66, 0x0f, 0xf8, 0xe1],
      ...[0x66, 0x0f, 0xf9, 0xe9],
      ...[0x66, 0x0f, 0xfb, 0xf1],
    ]);
    setXmm(cpu, 1, [1, 0, 0xffff_ffff, 0]);
    setXmm(cpu, 0, [0xff, 0, 0, 0]);
    setXmm(cpu, 2, [0xffff, 0, 0, 0]);
    setXmm(cpu, 3, [0xffff_ffff, 0, 1, 0xffff_ffff]);
    setXmm(cpu, 4, [0, 0, 0, 0]);
    setXmm(cpu, 5, [0, 0, 0, 0]);
    setXmm(cpu, 6, [0, 0, 0, 0]);
    expect(run(cpu)).toBe(-1);
    expect(xmm(cpu, 0)).toEqual([0, 0, 0xffff_ffff, 0]);
    expect(xmm(cpu, 2)).toEqual([0, 0, 0xffff_ffff, 0]);
    // Quadwords: 0x00000000_ffffffff + 1 carries into the high dword; the other overflows.
    expect(xmm(cpu, 3)).toEqual([0, 1, 0, 0]);
    expect(xmm(cpu, 4)).toEqual([0xff, 0, 0x0101_0101, 0]);
    expect(xmm(cpu, 5)).toEqual([0x0000_ffff, 0, 0x0001_0001, 0]);
    expect(xmm(cpu, 6)).toEqual([0xffff_ffff, 0xffff_ffff, 1, 0xffff_ffff]);
  });

  it("pcmpeqb xmm0,[ebx]; pmovmskb eax,xmm0 finds the zero bytes of a string", () => {
    const cpu = pm([0x66, 0x0f, 0x74, 0x03, 0x66, 0x0f, 0xd7, 0xc0]);
    cpu.mem.load(
      DATA,
      [...Array.from("hello"), "\0", "x", "\0"].map((c) => c.charCodeAt(0)),
    );
    expect(run(cpu)).toBe(-1);
    // Bytes 5, 7 and 8–15 (zero in memory) match the zeroed xmm0.
    expect(cpu.regs[EAX]! >>> 0).toBe(0xffa0);
  });

  it("pcmpeqw xmm0,xmm1 compares words", () => {
    const cpu = pm([0x66, 0x0f, 0x75, 0xc1]);
    setXmm(cpu, 0, [0x0001_0002, 3, 0, 0]);
    setXmm(cpu, 1, [0x0005_0002, 3, 1, 0]);
    expect(run(cpu)).toBe(-1);
    expect(xmm(cpu, 0)).toEqual([0x0000_ffff, 0xffff_ffff, 0xffff_0000, 0xffff_ffff]);
  });

  it("pmovmskb ecx,xmm3 gathers bit 7 of each byte", () => {
    const cpu = pm([0x66, 0x0f, 0xd7, 0xcb]);
    setBytes(cpu, 3, [
      0x80,
      0x7f,
      0x01,
      0xfe,
      0xff,
      0,
      0x81,
      0x40,
      ...new Array(7).fill(0x11),
      0x90,
    ]);
    cpu.regs[ECX] = -1;
    expect(run(cpu)).toBe(-1);
    expect(cpu.regs[ECX]).toBe(0b1000_0000_0101_1001);
  });

  it("pmovmskb eax,[ebx] (a memory operand) is #UD", () => {
    expect(run(pm([0x66, 0x0f, 0xd7, 0x03]))).toBe(6);
  });

  it("pshufd xmm1,xmm0,0x1b reverses the dwords; pshufd xmm0,xmm0,0 broadcasts", () => {
    const cpu = pm([0x66, 0x0f, 0x70, 0xc8, 0x1b, 0x66, 0x0f, 0x70, 0xc0, 0x00]);
    setXmm(cpu, 0, [10, 11, 12, 13]);
    expect(run(cpu)).toBe(-1);
    expect(xmm(cpu, 1)).toEqual([13, 12, 11, 10]);
    expect(xmm(cpu, 0)).toEqual([10, 10, 10, 10]);
  });

  const D = iota(16, 0x00);
  const S = iota(16, 0x80);
  const unpacks: [string, number, number, number][] = [
    ["punpcklbw", 0x60, 1, 0],
    ["punpcklwd", 0x61, 2, 0],
    ["punpckldq", 0x62, 4, 0],
    ["punpcklqdq", 0x6c, 8, 0],
    ["punpckhbw", 0x68, 1, 1],
    ["punpckhwd", 0x69, 2, 1],
    ["punpckhdq", 0x6a, 4, 1],
    ["punpckhqdq", 0x6d, 8, 1],
  ];
  for (const [name, op, width, half] of unpacks) {
    it(`${name} xmm0,xmm1 interleaves the ${half ? "high" : "low"} halves`, () => {
      const cpu = pm([0x66, 0x0f, op, 0xc1]);
      setBytes(cpu, 0, D);
      setBytes(cpu, 1, S);
      expect(run(cpu)).toBe(-1);
      const want: number[] = [];
      for (let k = 0; k < 8 / width; k++) {
        const at = half * 8 + k * width;
        want.push(...D.slice(at, at + width), ...S.slice(at, at + width));
      }
      expect(bytes(cpu, 0)).toEqual(want);
    });
  }

  it("punpcklbw xmm3,xmm3 and punpckhwd xmm4,xmm4 (source and destination the same register)", () => {
    const cpu = pm([0x66, 0x0f, 0x60, 0xdb, 0x66, 0x0f, 0x69, 0xe4]);
    setBytes(cpu, 3, D);
    setBytes(cpu, 4, S);
    expect(run(cpu)).toBe(-1);
    expect(bytes(cpu, 3)).toEqual(D.slice(0, 8).flatMap((b) => [b, b]));
    expect(bytes(cpu, 4)).toEqual(
      [8, 10, 12, 14].flatMap((k) => [...S.slice(k, k + 2), ...S.slice(k, k + 2)]),
    );
  });
});

describe("SSE fault conditions", () => {
  it("pxor xmm0,xmm0 without CR4.OSFXSR raises #UD", () => {
    const cpu = pm([0x66, 0x0f, 0xef, 0xc0]);
    cpu.st[CR4] = cpu.st[CR4]! & ~CR4_OSFXSR;
    expect(run(cpu)).toBe(6);
  });

  it("pxor xmm0,xmm0 with CR0.EM raises #UD, with CR0.TS #NM", () => {
    const em = pm([0x66, 0x0f, 0xef, 0xc0]);
    em.st[CR0] = em.st[CR0]! | CR0_EM;
    expect(run(em)).toBe(6);
    const ts = pm([0x66, 0x0f, 0xef, 0xc0]);
    ts.st[CR0] = ts.st[CR0]! | CR0_TS;
    expect(run(ts)).toBe(7);
  });

  it("pxor (SSE2) is #UD when CPUID has SSE only; xorps (SSE) runs", () => {
    expect(run(pm([0x66, 0x0f, 0xef, 0xc0], FPU | FXSR | SSE))).toBe(6);
    expect(run(pm([0x0f, 0x57, 0xc0], FPU | FXSR | SSE))).toBe(-1);
    expect(run(pm([0x0f, 0x57, 0xc0], FPU | FXSR))).toBe(6);
  });

  it("lock pxor xmm0,[ebx] is #UD; f3 0f 28 (no such movaps form) is #UD", () => {
    expect(run(pm([0xf0, 0x66, 0x0f, 0xef, 0x03]))).toBe(6);
    expect(run(pm([0xf3, 0x0f, 0x28, 0xc1]))).toBe(6);
  });

  it("66 f3 0f 6f: the last F2/F3 selects movdqu (unaligned load succeeds)", () => {
    const cpu = pm([0x66, 0xf3, 0x0f, 0x6f, 0x43, 0x03]);
    cpu.mem.load(DATA + 3, iota(16, 0x40));
    expect(run(cpu)).toBe(-1);
    expect(bytes(cpu, 0)).toEqual(iota(16, 0x40));
  });

  it("mfence, lfence and sfence run; lfence is #UD without SSE2", () => {
    expect(run(pm([0x0f, 0xae, 0xf0, 0x0f, 0xae, 0xe8, 0x0f, 0xae, 0xf8]))).toBe(-1);
    expect(run(pm([0x0f, 0xae, 0xe8], FPU | FXSR | SSE))).toBe(6);
  });
});

describe("MXCSR and FXSAVE/FXRSTOR", () => {
  it("ldmxcsr [ebx]; stmxcsr [ebx+4] round-trips MXCSR", () => {
    const cpu = pm([0x0f, 0xae, 0x13, 0x0f, 0xae, 0x5b, 0x04]);
    write32(cpu, DATA, 0x9fc0);
    expect(run(cpu)).toBe(-1);
    expect(cpu.fpu.mxcsr).toBe(0x9fc0);
    expect(read32(cpu, DATA + 4)).toBe(0x9fc0);
  });

  it("ldmxcsr [ebx] with a reserved bit (16) set raises #GP(0) and leaves MXCSR", () => {
    const cpu = pm([0x0f, 0xae, 0x13]);
    write32(cpu, DATA, 0x1_1f80);
    expect(run(cpu)).toBe(13);
    expect(cpu.fpu.mxcsr).toBe(0x1f80);
  });

  it("fxsave [ebx] stores FCW, FSW, MXCSR, MXCSR_MASK, XMM0–7 in the legacy layout", () => {
    const cpu = pm([0x0f, 0xae, 0x03]);
    cpu.fpu.fcw = 0x027f;
    cpu.fpu.fsw = 0x3800;
    cpu.fpu.ftw = 0x81;
    cpu.fpu.mxcsr = 0x1fa0;
    for (let r = 0; r < 16; r++) setXmm(cpu, r, [r, r + 0x100, r + 0x200, r + 0x300]);
    cpu.mem.load(DATA + 288, [0xaa]);
    cpu.mem.load(DATA + 464, [0x55]);
    expect(run(cpu)).toBe(-1);
    expect(read16(cpu, DATA)).toBe(0x027f);
    expect(read16(cpu, DATA + 2)).toBe(0x3800);
    expect(cpu.mem.read8(DATA + 4)).toBe(0x81);
    expect(read32(cpu, DATA + 24)).toBe(0x1fa0);
    expect(read32(cpu, DATA + 28)).toBe(MXCSR_MASK);
    for (let r = 0; r < 8; r++) expect(read32(cpu, DATA + 160 + 16 * r + 12)).toBe(r + 0x300);
    // XMM8–15 do not exist outside 64-bit mode; bytes 464–511 are software's.
    expect(cpu.mem.read8(DATA + 288)).toBe(0xaa);
    expect(cpu.mem.read8(DATA + 464)).toBe(0x55);
  });

  it("fxsave [ebx]; (clobber); fxrstor [ebx] restores XMM, MXCSR, FCW and the x87 register area", () => {
    // fxsave [ebx]; pxor xmm3,xmm3; fninit; fxrstor [ebx]
    const cpu = pm([0x0f, 0xae, 0x03, 0x66, 0x0f, 0xef, 0xdb, 0xdb, 0xe3, 0x0f, 0xae, 0x0b]);
    setXmm(cpu, 3, [1, 2, 3, 4]);
    cpu.fpu.fcw = 0x0272;
    cpu.fpu.mxcsr = 0x1f00;
    cpu.fpu.stRegs.set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 70);
    expect(run(cpu)).toBe(-1);
    expect(xmm(cpu, 3)).toEqual([1, 2, 3, 4]);
    expect(cpu.fpu.fcw).toBe(0x0272);
    expect(cpu.fpu.mxcsr).toBe(0x1f00);
    expect(cpu.mem.read8(DATA + 32 + 16 * 7 + 9)).toBe(10);
    expect([...cpu.fpu.stRegs.subarray(70)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it("fxrstor [ebx] with a reserved MXCSR bit raises #GP(0) and loads nothing", () => {
    const cpu = pm([0x0f, 0xae, 0x0b]);
    write16(cpu, DATA, 0x0200);
    write32(cpu, DATA + 24, 0x8000_1f80);
    expect(run(cpu)).toBe(13);
    expect(cpu.fpu.fcw).toBe(0x0040);
    expect(cpu.fpu.mxcsr).toBe(0x1f80);
  });

  it("fxsave [ebx+8] (not 16-byte aligned) raises #GP(0)", () => {
    expect(run(pm([0x0f, 0xae, 0x43, 0x08]))).toBe(13);
  });

  it("fxsave [ebx] with CR0.TS raises #NM; without CPUID FXSR #UD; it needs no CR4.OSFXSR", () => {
    const ts = pm([0x0f, 0xae, 0x03]);
    ts.st[CR0] = ts.st[CR0]! | CR0_TS;
    expect(run(ts)).toBe(7);
    expect(run(pm([0x0f, 0xae, 0x03], FPU | SSE | SSE2))).toBe(6);
    const noOsfxsr = pm([0x0f, 0xae, 0x03]);
    noOsfxsr.st[CR4] = noOsfxsr.st[CR4]! & ~CR4_OSFXSR;
    expect(run(noOsfxsr)).toBe(-1);
  });

  it("66 0f ae /0 (fxsave with a 66 prefix) is #UD", () => {
    expect(run(pm([0x66, 0x0f, 0xae, 0x03]))).toBe(6);
  });
});

describe("x87 control", () => {
  it("fninit; fnstcw [ebx]; fnstsw ax; fnstsw [ebx+2]", () => {
    const cpu = pm([0xdb, 0xe3, 0xd9, 0x3b, 0xdf, 0xe0, 0xdd, 0x7b, 0x02]);
    cpu.fpu.fsw = 0x4100;
    cpu.fpu.fcw = 0x0040;
    cpu.regs[EAX] = 0x1234_ffff;
    expect(run(cpu)).toBe(-1);
    expect(read16(cpu, DATA)).toBe(0x037f);
    expect(cpu.regs[EAX]! >>> 0).toBe(0x1234_0000);
    expect(read16(cpu, DATA + 2)).toBe(0);
  });

  it("fldcw [ebx]; fnstcw [ebx+2] round-trips the control word", () => {
    const cpu = pm([0xd9, 0x2b, 0xd9, 0x7b, 0x02]);
    write16(cpu, DATA, 0x0c7f);
    expect(run(cpu)).toBe(-1);
    expect(cpu.fpu.fcw).toBe(0x0c7f);
    expect(read16(cpu, DATA + 2)).toBe(0x0c7f);
  });

  it("fnclex clears the exception flags and B, keeping TOP and C0–C3", () => {
    const cpu = pm([0xdb, 0xe2]);
    cpu.fpu.fsw = 0xffff;
    expect(run(cpu)).toBe(-1);
    expect(cpu.fpu.fsw).toBe(0x7f00);
  });

  it("fninit and fnstsw ax raise #NM with CR0.EM or CR0.TS", () => {
    for (const bit of [CR0_EM, CR0_TS]) {
      for (const code of [
        [0xdb, 0xe3],
        [0xdf, 0xe0],
      ]) {
        const cpu = pm(code);
        cpu.st[CR0] = cpu.st[CR0]! | bit;
        expect(run(cpu)).toBe(7);
      }
    }
  });

  it("fld1 (d9 e8) raises #NM with CR0.TS, in 32-bit and 64-bit mode", () => {
    const cpu = pm([0xd9, 0xe8]);
    cpu.st[CR0] = cpu.st[CR0]! | CR0_TS;
    expect(run(cpu)).toBe(7);
    const cpu64 = lm([0xd9, 0xe8]);
    cpu64.st[CR0] = cpu64.st[CR0]! | CR0_TS;
    expect(run64(cpu64)).toBe(7);
  });

  it("fld1 (d9 e8, no x87 arithmetic) still does nothing with EM and TS clear", () => {
    const cpu = pm([0xd9, 0xe8]);
    expect(run(cpu)).toBe(-1);
    expect(cpu.fpu.fsw).toBe(0);
  });
});

describe("mandatory prefixes in the decoder", () => {
  const decode = (code: readonly number[], mode: 32 | 64) => {
    const dc = new DecodeCache();
    const len = decodeInsn(dc, 0, { fetch: (k) => code[k] ?? -13 }, mode);
    return { len, flags: dc.flags[0]!, reg: dc.reg[0]!, rm: dc.rm[0]! };
  };

  it("66 0f 6e c0 (movd xmm0,eax): the 66 selects the row and is no operand-size prefix", () => {
    for (const mode of [32, 64] as const) {
      const d = decode([0x66, 0x0f, 0x6e, 0xc0], mode);
      expect(d.len).toBe(4);
      expect(d.flags & (F_P66 | F_O32)).toBe(F_O32);
    }
  });

  it("f3 0f 7e (movq xmm,xmm/m64): the F3 is no REP prefix; 66 4d 0f d6 c7 names xmm8, xmm15", () => {
    expect(decode([0xf3, 0x0f, 0x7e, 0xc1], 32).flags & F_REP).toBe(0);
    const d = decode([0x66, 0x4d, 0x0f, 0xd6, 0xc7], 64);
    expect([d.len, d.reg, d.rm]).toEqual([5, 8, 15]);
    expect(d.flags & F_O64).toBe(F_O64);
  });
});

describe("SSE in 64-bit mode", () => {
  it("movq xmm8,rax; movq rcx,xmm8 (REX.W, REX.R) moves 64 bits", () => {
    // mov rax, 0x1122334455667788; movq xmm8,rax; movq rcx,xmm8
    const cpu = lm([
      ...[0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11],
      ...[0x66, 0x4c, 0x0f, 0x6e, 0xc0],
      ...[0x66, 0x4c, 0x0f, 0x7e, 0xc1],
    ]);
    setXmm(cpu, 8, [9, 9, 9, 9]);
    expect(run64(cpu)).toBe(-1);
    expect(xmm(cpu, 8)).toEqual([0x5566_7788, 0x1122_3344, 0, 0]);
    expect([cpu.regs[ECX]! >>> 0, cpu.regsHi[ECX]! >>> 0]).toEqual([0x5566_7788, 0x1122_3344]);
  });

  it("movd eax,xmm0 zero-extends into rax", () => {
    // mov rax,-1; movd eax,xmm0
    const cpu = lm([0x48, 0xb8, ...new Array(8).fill(0xff), 0x66, 0x0f, 0x7e, 0xc0]);
    setXmm(cpu, 0, [0x8000_0001, 5, 6, 7]);
    expect(run64(cpu)).toBe(-1);
    expect([cpu.regs[EAX]! >>> 0, cpu.regsHi[EAX]]).toEqual([0x8000_0001, 0]);
  });

  it("movdqu xmm15,[rbx+3]; movdqa [rbx+0x10],xmm15; movaps xmm8,xmm15 (XMM8–15)", () => {
    const cpu = lm([
      ...[0xf3, 0x44, 0x0f, 0x6f, 0x7b, 0x03],
      ...[0x66, 0x44, 0x0f, 0x7f, 0x7b, 0x10],
      ...[0x45, 0x0f, 0x28, 0xc7],
    ]);
    cpu.mem.load(DATA64 + 3, iota(16, 0x30));
    expect(run64(cpu)).toBe(-1);
    expect(bytes(cpu, 15)).toEqual(iota(16, 0x30));
    expect(bytes(cpu, 8)).toEqual(iota(16, 0x30));
    for (let k = 0; k < 16; k++) expect(cpu.mem.read8(DATA64 + 0x10 + k)).toBe(0x30 + k);
    expect(bytes(cpu, 7)).toEqual(new Array(16).fill(0));
  });

  it("movdqa xmm0,[rbx+8] raises #GP(0) in 64-bit mode", () => {
    expect(run64(lm([0x66, 0x0f, 0x6f, 0x43, 0x08]))).toBe(13);
  });

  it("pcmpeqb xmm9,[rbx]; pmovmskb r10d,xmm9 (REX.R and REX.B)", () => {
    const cpu = lm([0x66, 0x44, 0x0f, 0x74, 0x0b, 0x66, 0x45, 0x0f, 0xd7, 0xd1]);
    cpu.mem.load(DATA64, [1, 0, 2, 0]);
    setBytes(cpu, 9, [1, 1, 2, 2, ...new Array(12).fill(7)]);
    expect(run64(cpu)).toBe(-1);
    expect(cpu.regs[10]).toBe(0b0101);
  });

  it("fxsave64 [rbx] stores XMM8–15 and 64-bit FIP/FDP; fxsave [rbx] keeps FCS/FDS", () => {
    const wide = lm([0x48, 0x0f, 0xae, 0x03]);
    for (let r = 0; r < 16; r++) setXmm(wide, r, [r, 0, 0, r << 8]);
    wide.fpu.fip = 0x1000;
    wide.fpu.fipHi = 0xffff_8000 | 0;
    expect(run64(wide)).toBe(-1);
    expect(read32(wide, DATA64 + 8)).toBe(0x1000);
    expect(read32(wide, DATA64 + 12)).toBe(0xffff_8000);
    for (let r = 0; r < 16; r++) expect(read32(wide, DATA64 + 160 + 16 * r)).toBe(r);

    const narrow = lm([0x0f, 0xae, 0x03]);
    narrow.fpu.fipHi = 0xffff_8000 | 0;
    setXmm(narrow, 15, [0xf15, 0, 0, 0]);
    expect(run64(narrow)).toBe(-1);
    expect(read32(narrow, DATA64 + 12)).toBe(0x8000);
    expect(read32(narrow, DATA64 + 160 + 16 * 15)).toBe(0xf15);
  });

  it("fxsave [rbx]; pxor xmm12,xmm12; fxrstor [rbx] restores XMM12", () => {
    const cpu = lm([0x0f, 0xae, 0x03, 0x66, 0x45, 0x0f, 0xef, 0xe4, 0x0f, 0xae, 0x0b]);
    setXmm(cpu, 12, [1, 2, 3, 4]);
    expect(run64(cpu)).toBe(-1);
    expect(xmm(cpu, 12)).toEqual([1, 2, 3, 4]);
  });

  it("fninit; fnstsw ax; fnstcw [rbx] in 64-bit mode", () => {
    const cpu = lm([0xdb, 0xe3, 0xdf, 0xe0, 0xd9, 0x3b]);
    cpu.fpu.fsw = 0x4000;
    expect(run64(cpu)).toBe(-1);
    expect(cpu.regs[EAX]! & 0xffff).toBe(0);
    expect(read16(cpu, DATA64)).toBe(0x037f);
  });

  it("pxor xmm0,xmm0 with CR0.TS raises #NM in 64-bit mode", () => {
    // The fixture's prologue keeps CR0.TS when it sets CR0.PG.
    const cpu = lm([0x66, 0x0f, 0xef, 0xc0]);
    cpu.st[CR0] = cpu.st[CR0]! | CR0_TS;
    expect(run64(cpu)).toBe(7);
  });
});
