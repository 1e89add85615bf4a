/**
 * The x87 control instructions and the SSE/SSE2 data-movement and integer instructions
 * that compilers emit in freestanding code (SDM Vol. 1 Ch. 8–11, Vol. 2).
 *
 * - x87 control: FNINIT, FNCLEX, FNSTSW AX/m16, FNSTCW, FLDCW. Like every x87 escape they
 *   raise #NM when CR0.EM or CR0.TS is set (Vol. 3 Table 2-2). The other x87 encodings
 *   keep running `esc_Ev` (proc_ctrl.ts): there is no x87 arithmetic.
 * - FXSAVE/FXRSTOR (Vol. 1 §10.5.1, Table 10-2 and the 64-bit-mode layouts of Vol. 2
 *   FXSAVE): #UD without CPUID FXSR, #NM with CR0.TS or CR0.EM, #GP(0) unless the area is
 *   16-byte aligned; FXRSTOR #GP(0) on an MXCSR bit outside MXCSR_MASK. XMM and MXCSR
 *   are saved whatever CR4.OSFXSR (the SDM leaves that implementation-dependent).
 * - SSE/SSE2 (exception class Type 4/5, Vol. 2 §2.4): #UD when CR0.EM is set, CR4.OSFXSR
 *   is clear or CPUID lacks the instruction's feature (SSE: EDX bit 25, SSE2: bit 26);
 *   then #NM when CR0.TS is set; a 128-bit memory operand must be 16-byte aligned
 *   (#GP(0)) except for the MOVUPS/MOVUPD/MOVDQU forms. Fences check CPUID only.
 *
 * CPUID is read from the embedder's table (`cpu.cpuid`) once per table function and kept
 * in FpuState: an embedder that changes the features replaces the function.
 *
 * Handlers are built twice from one description: for 16/32-bit code (access.ts) and for
 * 64-bit mode (access64.ts, XMM8–15 by REX, MOVQ r64 by REX.W, FXSAVE64 by REX.W).
 */
import { ea, probeWrite, readMem16, readMem32, writeMem16, writeMem32 } from "../access.js";
import { addr64, ea64, linear64, linRead64, linWrite64 } from "../access64.js";
import { fenceShared } from "../atomic.js";
import type { X86Cpu } from "../cpu.js";
import { raiseFault } from "../exception.js";
import { type FpuState, MXCSR_MASK } from "../fpu.js";
import type { FormSplit, Handler, HandlerSpec } from "../handlers.js";
import { ACC_WRITE, dataAcc, translateLinear } from "../paging.js";
import { CR0_EM, CR0_TS, CR4_OSFXSR, GP_VECTOR, NM_VECTOR, UD_VECTOR } from "../regs.js";
import { CR0, CR4, EA_HI, STOP, STOP_FAULT } from "../state.js";
import { PROC_CTRL } from "./proc_ctrl.js";

// CPUID and control-register checks ---------------------------------------------------

/** Features as FpuState.features holds them: CPUID.01H:EDX bits 24–26, shifted down. */
const FXSR = 1;
const SSE1 = 2;
const SSE2 = 4;

const cpuidOut = new Int32Array(4);

/** CPUID.01H:EDX.{FXSR,SSE,SSE2} of the embedder's table (0 when leaf 1 is absent). */
function features(cpu: X86Cpu): number {
  const f = cpu.fpu;
  if (f.featuresOf !== cpu.cpuid) {
    cpu.cpuid(0, 0, cpuidOut);
    let edx = 0;
    if (cpuidOut[0]! >>> 0 >= 1) {
      cpu.cpuid(1, 0, cpuidOut);
      edx = cpuidOut[3]!;
    }
    f.features = (edx >>> 24) & 7;
    f.featuresOf = cpu.cpuid;
  }
  return f.features;
}

/** The legacy-SSE checks: #UD (EM, OSFXSR, CPUID), then #NM (TS). */
function sseOk(cpu: X86Cpu, feature: number): boolean {
  const st = cpu.st;
  const cr0 = st[CR0]!;
  if ((cr0 & CR0_EM) !== 0 || (st[CR4]! & CR4_OSFXSR) === 0 || (features(cpu) & feature) === 0) {
    raiseFault(cpu, UD_VECTOR, -1);
    return false;
  }
  if ((cr0 & CR0_TS) !== 0) {
    raiseFault(cpu, NM_VECTOR, -1);
    return false;
  }
  return true;
}

/** An x87 escape: #NM when CR0.EM or CR0.TS is set. */
function x87Ok(cpu: X86Cpu): boolean {
  if ((cpu.st[CR0]! & (CR0_EM | CR0_TS)) !== 0) {
    raiseFault(cpu, NM_VECTOR, -1);
    return false;
  }
  return true;
}

function faulted(cpu: X86Cpu): boolean {
  return cpu.st[STOP] === STOP_FAULT;
}

function misaligned(cpu: X86Cpu): void {
  raiseFault(cpu, GP_VECTOR, 0);
}

// Memory operands ---------------------------------------------------------------------

/**
 * The memory side of a handler, for 16/32-bit code or for 64-bit mode. Values are dword
 * lanes; a read returns false after a fault (nothing stored), a write changes nothing
 * when it faults.
 */
interface Mem {
  /** Read `n` dwords (1, 2 or 4) of operand `i` into out[0..n); `align`: #GP(0) unless n·4-aligned. */
  read(cpu: X86Cpu, i: number, n: number, align: boolean, out: Int32Array): boolean;
  /** Write `n` dwords from src[at..at+n) to operand `i`. */
  write(cpu: X86Cpu, i: number, n: number, align: boolean, src: Int32Array, at: number): void;
  read16(cpu: X86Cpu, i: number): number;
  write16(cpu: X86Cpu, i: number, v: number): void;
  /** FXSAVE/FXRSTOR area: linear address check, then dword k of the area. */
  areaStart(cpu: X86Cpu, i: number, size: number, write: boolean): boolean;
  areaRead(cpu: X86Cpu, k: number): number;
  areaWrite(cpu: X86Cpu, k: number, v: number): void;
  /** Write a 32-bit general register (64-bit mode zero-extends). */
  setGpr32(cpu: X86Cpu, n: number, v: number): void;
}

let areaSeg = 0;
let areaOff = 0;
let areaHi = 0;

const MEM32: Mem = {
  read(cpu, i, n, align, out) {
    const seg = cpu.dc.seg[i]!;
    const off = ea(cpu, i);
    if (align && ((cpu.segBase[seg]! + off) & (n * 4 - 1)) !== 0) {
      misaligned(cpu);
      return false;
    }
    for (let k = 0; k < n; k++) {
      out[k] = readMem32(cpu, seg, (off + 4 * k) | 0);
      if (faulted(cpu)) return false;
    }
    return true;
  },
  write(cpu, i, n, align, src, at) {
    const seg = cpu.dc.seg[i]!;
    const off = ea(cpu, i);
    if (align && ((cpu.segBase[seg]! + off) & (n * 4 - 1)) !== 0) return misaligned(cpu);
    if (n > 1 && !probeWrite(cpu, seg, off, n * 4)) return;
    for (let k = 0; k < n; k++) {
      writeMem32(cpu, seg, (off + 4 * k) | 0, src[at + k]!);
      if (faulted(cpu)) return;
    }
  },
  read16(cpu, i) {
    return readMem16(cpu, cpu.dc.seg[i]!, ea(cpu, i));
  },
  write16(cpu, i, v) {
    writeMem16(cpu, cpu.dc.seg[i]!, ea(cpu, i), v);
  },
  areaStart(cpu, i, size, write) {
    const seg = cpu.dc.seg[i]!;
    const off = ea(cpu, i);
    if (((cpu.segBase[seg]! + off) & 15) !== 0) {
      misaligned(cpu);
      return false;
    }
    areaSeg = seg;
    areaOff = off;
    return !write || probeWrite(cpu, seg, off, size);
  },
  areaRead(cpu, k) {
    return readMem32(cpu, areaSeg, (areaOff + 4 * k) | 0);
  },
  areaWrite(cpu, k, v) {
    writeMem32(cpu, areaSeg, (areaOff + 4 * k) | 0, v);
  },
  setGpr32(cpu, n, v) {
    cpu.regs[n] = v;
  },
};

/** Linear address of operand `i` in 64-bit mode (high half in EA_HI), or a fault. */
function lin64(cpu: X86Cpu, i: number): number {
  const lo = ea64(cpu, i);
  return linear64(cpu, cpu.dc.seg[i]!, lo, cpu.st[EA_HI]!);
}

/** Before a multi-part store of `size` bytes at hi:lin: the last byte's page (writable?). */
function probeLast64(cpu: X86Cpu, lin: number, hi: number, size: number): boolean {
  if ((lin & 0xfff) + size <= 0x1000) return true;
  const last = addr64(cpu, lin, hi, size - 1);
  translateLinear(cpu, last, dataAcc(cpu, ACC_WRITE), cpu.st[EA_HI]!);
  return !faulted(cpu);
}

const MEM64: Mem = {
  read(cpu, i, n, align, out) {
    const st = cpu.st;
    let lin = lin64(cpu, i);
    if (faulted(cpu)) return false;
    if (align && (lin & (n * 4 - 1)) !== 0) {
      misaligned(cpu);
      return false;
    }
    let hi = st[EA_HI]!;
    for (let k = 0; k < n; k++) {
      out[k] = linRead64(cpu, lin, hi, 4);
      if (faulted(cpu)) return false;
      lin = addr64(cpu, lin, hi, 4);
      hi = st[EA_HI]!;
    }
    return true;
  },
  write(cpu, i, n, align, src, at) {
    const st = cpu.st;
    let lin = lin64(cpu, i);
    if (faulted(cpu)) return;
    if (align && (lin & (n * 4 - 1)) !== 0) return misaligned(cpu);
    let hi = st[EA_HI]!;
    if (!probeLast64(cpu, lin, hi, n * 4)) return;
    for (let k = 0; k < n; k++) {
      linWrite64(cpu, lin, hi, 4, src[at + k]!);
      if (faulted(cpu)) return;
      lin = addr64(cpu, lin, hi, 4);
      hi = st[EA_HI]!;
    }
  },
  read16(cpu, i) {
    const lin = lin64(cpu, i);
    if (faulted(cpu)) return 0;
    return linRead64(cpu, lin, cpu.st[EA_HI]!, 2);
  },
  write16(cpu, i, v) {
    const lin = lin64(cpu, i);
    if (faulted(cpu)) return;
    linWrite64(cpu, lin, cpu.st[EA_HI]!, 2, v);
  },
  areaStart(cpu, i, size, write) {
    const lin = lin64(cpu, i);
    if (faulted(cpu)) return false;
    if ((lin & 15) !== 0) {
      misaligned(cpu);
      return false;
    }
    areaOff = lin;
    areaHi = cpu.st[EA_HI]!;
    return !write || probeLast64(cpu, lin, areaHi, size);
  },
  areaRead(cpu, k) {
    const lin = addr64(cpu, areaOff, areaHi, 4 * k);
    return linRead64(cpu, lin, cpu.st[EA_HI]!, 4);
  },
  areaWrite(cpu, k, v) {
    const lin = addr64(cpu, areaOff, areaHi, 4 * k);
    linWrite64(cpu, lin, cpu.st[EA_HI]!, 4, v);
  },
  setGpr32(cpu, n, v) {
    cpu.regs[n] = v;
    cpu.regsHi[n] = 0;
  },
};

// Lane operations ---------------------------------------------------------------------

/** The source operand, copied (so a destination may alias it), and a copy of the destination. */
const SRC = new Int32Array(4);
const SRC8 = new Uint8Array(SRC.buffer);
const SRC16 = new Uint16Array(SRC.buffer);
const DST = new Int32Array(4);
const DST8 = new Uint8Array(DST.buffer);
const DST16 = new Uint16Array(DST.buffer);

/** dest (lane index d of fpu.xmm) := f(dest, SRC); `imm` is the instruction's imm8. */
type LaneOp = (f: FpuState, d: number, imm: number) => void;

const TWO32 = 4294967296;

function addQ(x: Int32Array, d: number, sign: number): void {
  for (let q = 0; q < 4; q += 2) {
    const a = x[d + q]! >>> 0;
    const b = SRC[q]! >>> 0;
    if (sign > 0) {
      const s = a + b;
      x[d + q] = s | 0;
      x[d + q + 1] = (x[d + q + 1]! + SRC[q + 1]! + (s >= TWO32 ? 1 : 0)) | 0;
    } else {
      x[d + q] = (a - b) | 0;
      x[d + q + 1] = (x[d + q + 1]! - SRC[q + 1]! - (a < b ? 1 : 0)) | 0;
    }
  }
}

/** PUNPCKLxx / PUNPCKHxx: interleave the low (`half` 0) or high (1) halves, `width` bytes at a time. */
function unpack(f: FpuState, d: number, width: number, half: number): void {
  DST[0] = f.xmm[d]!;
  DST[1] = f.xmm[d + 1]!;
  DST[2] = f.xmm[d + 2]!;
  DST[3] = f.xmm[d + 3]!;
  const base = half * 8;
  if (width === 1) {
    const x = f.xmm8;
    const b = d * 4;
    for (let k = 0; k < 8; k++) {
      x[b + 2 * k] = DST8[base + k]!;
      x[b + 2 * k + 1] = SRC8[base + k]!;
    }
  } else if (width === 2) {
    const x = f.xmm16;
    const b = d * 2;
    for (let k = 0; k < 4; k++) {
      x[b + 2 * k] = DST16[base / 2 + k]!;
      x[b + 2 * k + 1] = SRC16[base / 2 + k]!;
    }
  } else if (width === 4) {
    const x = f.xmm;
    const l = base / 4;
    x[d] = DST[l]!;
    x[d + 1] = SRC[l]!;
    x[d + 2] = DST[l + 1]!;
    x[d + 3] = SRC[l + 1]!;
  } else {
    const x = f.xmm;
    const l = base / 4;
    x[d] = DST[l]!;
    x[d + 1] = DST[l + 1]!;
    x[d + 2] = SRC[l]!;
    x[d + 3] = SRC[l + 1]!;
  }
}

const OPS: Readonly<Record<string, readonly [number, LaneOp]>> = {
  pxor: [
    SSE2,
    (f, d) => {
      for (let k = 0; k < 4; k++) f.xmm[d + k] = f.xmm[d + k]! ^ SRC[k]!;
    },
  ],
  por: [
    SSE2,
    (f, d) => {
      for (let k = 0; k < 4; k++) f.xmm[d + k] = f.xmm[d + k]! | SRC[k]!;
    },
  ],
  pand: [
    SSE2,
    (f, d) => {
      for (let k = 0; k < 4; k++) f.xmm[d + k] = f.xmm[d + k]! & SRC[k]!;
    },
  ],
  pandn: [
    SSE2,
    (f, d) => {
      for (let k = 0; k < 4; k++) f.xmm[d + k] = ~f.xmm[d + k]! & SRC[k]!;
    },
  ],
  paddb: [
    SSE2,
    (f, d) => {
      for (let k = 0; k < 16; k++) f.xmm8[d * 4 + k] = f.xmm8[d * 4 + k]! + SRC8[k]!;
    },
  ],
  paddw: [
    SSE2,
    (f, d) => {
      for (let k = 0; k < 8; k++) f.xmm16[d * 2 + k] = f.xmm16[d * 2 + k]! + SRC16[k]!;
    },
  ],
  paddd: [
    SSE2,
    (f, d) => {
      for (let k = 0; k < 4; k++) f.xmm[d + k] = (f.xmm[d + k]! + SRC[k]!) | 0;
    },
  ],
  paddq: [SSE2, (f, d) => addQ(f.xmm, d, 1)],
  psubb: [
    SSE2,
    (f, d) => {
      for (let k = 0; k < 16; k++) f.xmm8[d * 4 + k] = f.xmm8[d * 4 + k]! - SRC8[k]!;
    },
  ],
  psubw: [
    SSE2,
    (f, d) => {
      for (let k = 0; k < 8; k++) f.xmm16[d * 2 + k] = f.xmm16[d * 2 + k]! - SRC16[k]!;
    },
  ],
  psubd: [
    SSE2,
    (f, d) => {
      for (let k = 0; k < 4; k++) f.xmm[d + k] = (f.xmm[d + k]! - SRC[k]!) | 0;
    },
  ],
  psubq: [SSE2, (f, d) => addQ(f.xmm, d, -1)],
  pcmpeqb: [
    SSE2,
    (f, d) => {
      const x = f.xmm8;
      for (let k = 0; k < 16; k++) x[d * 4 + k] = x[d * 4 + k] === SRC8[k] ? 0xff : 0;
    },
  ],
  pcmpeqw: [
    SSE2,
    (f, d) => {
      const x = f.xmm16;
      for (let k = 0; k < 8; k++) x[d * 2 + k] = x[d * 2 + k] === SRC16[k] ? 0xffff : 0;
    },
  ],
  pcmpeqd: [
    SSE2,
    (f, d) => {
      for (let k = 0; k < 4; k++) f.xmm[d + k] = f.xmm[d + k] === SRC[k] ? -1 : 0;
    },
  ],
  punpcklbw: [SSE2, (f, d) => unpack(f, d, 1, 0)],
  punpcklwd: [SSE2, (f, d) => unpack(f, d, 2, 0)],
  punpckldq: [SSE2, (f, d) => unpack(f, d, 4, 0)],
  punpcklqdq: [SSE2, (f, d) => unpack(f, d, 8, 0)],
  punpckhbw: [SSE2, (f, d) => unpack(f, d, 1, 1)],
  punpckhwd: [SSE2, (f, d) => unpack(f, d, 2, 1)],
  punpckhdq: [SSE2, (f, d) => unpack(f, d, 4, 1)],
  punpckhqdq: [SSE2, (f, d) => unpack(f, d, 8, 1)],
  pshufd: [
    SSE2,
    (f, d, imm) => {
      for (let k = 0; k < 4; k++) f.xmm[d + k] = SRC[(imm >> (2 * k)) & 3]!;
    },
  ],
};

/** The bitwise FP forms: the same operations, SSE (ps) or SSE2 (pd). */
const FP_LOGIC: Readonly<Record<string, string>> = {
  andps: "pand",
  andnps: "pandn",
  orps: "por",
  xorps: "pxor",
};

// Handlers ----------------------------------------------------------------------------

function copyXmm(x: Int32Array, to: number, from: number, out: Int32Array): void {
  out[0] = x[from]!;
  out[1] = x[from + 1]!;
  out[2] = x[from + 2]!;
  out[3] = x[from + 3]!;
  if (to >= 0) x.set(out, to);
}

/** dest V := op(V, W): W a register or a 16-byte aligned memory operand. */
function laneOp(m: Mem, feature: number, op: LaneOp): FormSplit {
  return {
    reg: (cpu, i) => {
      if (!sseOk(cpu, feature)) return;
      copyXmm(cpu.fpu.xmm, -1, cpu.dc.rm[i]! << 2, SRC);
      op(cpu.fpu, cpu.dc.reg[i]! << 2, cpu.dc.imm[i]!);
    },
    mem: (cpu, i) => {
      if (!sseOk(cpu, feature) || !m.read(cpu, i, 4, true, SRC)) return;
      op(cpu.fpu, cpu.dc.reg[i]! << 2, cpu.dc.imm[i]!);
    },
  };
}

/** MOVxPx/MOVDQx V,W (a 128-bit load) and W,V (a store). */
function move128(m: Mem, feature: number, aligned: boolean, store: boolean): FormSplit {
  return {
    reg: (cpu, i) => {
      if (!sseOk(cpu, feature)) return;
      const from = (store ? cpu.dc.reg[i]! : cpu.dc.rm[i]!) << 2;
      const to = (store ? cpu.dc.rm[i]! : cpu.dc.reg[i]!) << 2;
      copyXmm(cpu.fpu.xmm, to, from, SRC);
    },
    mem: store
      ? (cpu, i) => {
          if (!sseOk(cpu, feature)) return;
          m.write(cpu, i, 4, aligned, cpu.fpu.xmm, cpu.dc.reg[i]! << 2);
        }
      : (cpu, i) => {
          if (!sseOk(cpu, feature) || !m.read(cpu, i, 4, aligned, SRC)) return;
          cpu.fpu.xmm.set(SRC, cpu.dc.reg[i]! << 2);
        },
  };
}

/**
 * The scalar/low-quadword moves, `n` dwords: a register-to-register form merges into the
 * low lanes (MOVSS/MOVSD) or zeroes the rest (`zero`: MOVQ); a load zeroes the rest; a
 * store writes n dwords.
 */
function moveLow(m: Mem, feature: number, n: number, zero: boolean, store: boolean): FormSplit {
  return {
    reg: (cpu, i) => {
      if (!sseOk(cpu, feature)) return;
      const x = cpu.fpu.xmm;
      const from = (store ? cpu.dc.reg[i]! : cpu.dc.rm[i]!) << 2;
      const to = (store ? cpu.dc.rm[i]! : cpu.dc.reg[i]!) << 2;
      for (let k = 0; k < n; k++) x[to + k] = x[from + k]!;
      if (zero) for (let k = n; k < 4; k++) x[to + k] = 0;
    },
    mem: store
      ? (cpu, i) => {
          if (!sseOk(cpu, feature)) return;
          m.write(cpu, i, n, false, cpu.fpu.xmm, cpu.dc.reg[i]! << 2);
        }
      : (cpu, i) => {
          if (!sseOk(cpu, feature)) return;
          SRC.fill(0);
          if (!m.read(cpu, i, n, false, SRC)) return;
          cpu.fpu.xmm.set(SRC, cpu.dc.reg[i]! << 2);
        },
  };
}

/** MOVD/MOVQ xmm, r/m32 (r/m64 with `q`): zero-extended into the XMM register. */
function movdToXmm(m: Mem, q: boolean): FormSplit {
  return {
    reg: (cpu, i) => {
      if (!sseOk(cpu, SSE2)) return;
      const x = cpu.fpu.xmm;
      const d = cpu.dc.reg[i]! << 2;
      const r = cpu.dc.rm[i]!;
      x[d] = cpu.regs[r]!;
      x[d + 1] = q ? cpu.regsHi[r]! : 0;
      x[d + 2] = 0;
      x[d + 3] = 0;
    },
    mem: (cpu, i) => {
      if (!sseOk(cpu, SSE2)) return;
      SRC.fill(0);
      if (!m.read(cpu, i, q ? 2 : 1, false, SRC)) return;
      cpu.fpu.xmm.set(SRC, cpu.dc.reg[i]! << 2);
    },
  };
}

/** MOVD/MOVQ r/m32 (r/m64 with `q`), xmm: the low dword (quadword). */
function movdFromXmm(m: Mem, q: boolean): FormSplit {
  return {
    reg: (cpu, i) => {
      if (!sseOk(cpu, SSE2)) return;
      const x = cpu.fpu.xmm;
      const s = cpu.dc.reg[i]! << 2;
      const r = cpu.dc.rm[i]!;
      if (q) {
        cpu.regs[r] = x[s]!;
        cpu.regsHi[r] = x[s + 1]!;
      } else {
        m.setGpr32(cpu, r, x[s]!);
      }
    },
    mem: (cpu, i) => {
      if (!sseOk(cpu, SSE2)) return;
      m.write(cpu, i, q ? 2 : 1, false, cpu.fpu.xmm, cpu.dc.reg[i]! << 2);
    },
  };
}

/** PMOVMSKB r32, xmm: the top bit of each byte. */
function pmovmskb(m: Mem): Handler {
  return (cpu, i) => {
    if (!sseOk(cpu, SSE2)) return;
    const x = cpu.fpu.xmm8;
    const b = cpu.dc.rm[i]! << 4;
    let mask = 0;
    for (let k = 0; k < 16; k++) mask |= (x[b + k]! >> 7) << k;
    m.setGpr32(cpu, cpu.dc.reg[i]!, mask);
  };
}

/** FXSAVE area (Vol. 1 Table 10-2) as dwords, built or parsed here. */
const AREA = new Int32Array(512 / 4);
const AREA8 = new Uint8Array(AREA.buffer);

/**
 * FXSAVE/FXRSTOR: `xmmCount` XMM registers (8, or 16 in 64-bit mode), `wide` the REX.W
 * format (64-bit FIP/FDP instead of FCS/FDS). Bytes 464–511 are software's; the reserved
 * bytes after the last XMM register are left alone.
 */
function fxsave(m: Mem, xmmCount: number, wide: boolean): Handler {
  return (cpu, i) => {
    if ((features(cpu) & FXSR) === 0) return raiseFault(cpu, UD_VECTOR, -1);
    if (!x87Ok(cpu)) return;
    const words = (160 + 16 * xmmCount) / 4;
    if (!m.areaStart(cpu, i, words * 4, true)) return;
    const f = cpu.fpu;
    AREA.fill(0, 0, words);
    AREA[0] = (f.fcw & 0xffff) | (f.fsw << 16);
    AREA[1] = (f.ftw & 0xff) | ((f.fop & 0x7ff) << 16);
    AREA[2] = f.fip;
    AREA[3] = wide ? f.fipHi : f.fipHi & 0xffff;
    AREA[4] = f.fdp;
    AREA[5] = wide ? f.fdpHi : f.fdpHi & 0xffff;
    AREA[6] = f.mxcsr;
    AREA[7] = MXCSR_MASK;
    for (let r = 0; r < 8; r++) AREA8.set(f.stRegs.subarray(r * 10, r * 10 + 10), 32 + 16 * r);
    AREA.set(f.xmm.subarray(0, 4 * xmmCount), 40);
    for (let k = 0; k < words; k++) {
      m.areaWrite(cpu, k, AREA[k]!);
      if (faulted(cpu)) return;
    }
  };
}

function fxrstor(m: Mem, xmmCount: number, wide: boolean): Handler {
  return (cpu, i) => {
    if ((features(cpu) & FXSR) === 0) return raiseFault(cpu, UD_VECTOR, -1);
    if (!x87Ok(cpu)) return;
    const words = (160 + 16 * xmmCount) / 4;
    if (!m.areaStart(cpu, i, words * 4, false)) return;
    for (let k = 0; k < words; k++) {
      AREA[k] = m.areaRead(cpu, k);
      if (faulted(cpu)) return;
    }
    if ((AREA[6]! & ~MXCSR_MASK) !== 0) return raiseFault(cpu, GP_VECTOR, 0);
    const f = cpu.fpu;
    f.fcw = AREA[0]! & 0xffff;
    f.fsw = AREA[0]! >>> 16;
    f.ftw = AREA[1]! & 0xff;
    f.fop = (AREA[1]! >>> 16) & 0x7ff;
    f.fip = AREA[2]!;
    f.fipHi = wide ? AREA[3]! : AREA[3]! & 0xffff;
    f.fdp = AREA[4]!;
    f.fdpHi = wide ? AREA[5]! : AREA[5]! & 0xffff;
    f.mxcsr = AREA[6]!;
    for (let r = 0; r < 8; r++) f.stRegs.set(AREA8.subarray(32 + 16 * r, 32 + 16 * r + 10), r * 10);
    f.xmm.set(AREA.subarray(40, 40 + 4 * xmmCount), 0);
  };
}

/**
 * LFENCE, SFENCE, MFENCE. Each handler is already ordered with the instructions around it
 * (README "Memory ordering"); on shared RAM MFENCE also does a sequentially consistent
 * atomic, the nearest JavaScript has to a full fence.
 */
const fence =
  (feature: number, full = false): Handler =>
  (cpu) => {
    if ((features(cpu) & feature) === 0) raiseFault(cpu, UD_VECTOR, -1);
    else if (full) fenceShared(cpu);
  };

/** Every handler, with the memory side `m`; `long`: 64-bit mode. */
function build(m: Mem, long: boolean): Record<string, HandlerSpec> {
  const out: Record<string, HandlerSpec> = {
    // x87 control (Vol. 2 FINIT/FNINIT, FCLEX/FNCLEX, FSTSW/FNSTSW, FSTCW/FNSTCW, FLDCW).
    fninit: (cpu) => {
      if (x87Ok(cpu)) cpu.fpu.fninit();
    },
    fnclex: (cpu) => {
      // PE UE OE ZE DE IE, SF, ES and B clear; C0–C3 and TOP stay.
      if (x87Ok(cpu)) cpu.fpu.fsw &= 0x7f00;
    },
    fnstsw_Zw: (cpu) => {
      if (x87Ok(cpu)) cpu.r16[0] = cpu.fpu.fsw;
    },
    fnstsw_Mw: (cpu, i) => {
      if (x87Ok(cpu)) m.write16(cpu, i, cpu.fpu.fsw);
    },
    fnstcw_Mw: (cpu, i) => {
      if (x87Ok(cpu)) m.write16(cpu, i, cpu.fpu.fcw);
    },
    fldcw_Mw: (cpu, i) => {
      if (!x87Ok(cpu)) return;
      const v = m.read16(cpu, i);
      // Bits 15:13 and 7 are reserved (0), bit 6 reads as 1.
      if (!faulted(cpu)) cpu.fpu.fcw = (v & 0x1f3f) | 0x40;
    },

    fxsave_M: long
      ? { o16: fxsave(m, 16, false), o32: fxsave(m, 16, false), o64: fxsave(m, 16, true) }
      : fxsave(m, 8, false),
    fxrstor_M: long
      ? { o16: fxrstor(m, 16, false), o32: fxrstor(m, 16, false), o64: fxrstor(m, 16, true) }
      : fxrstor(m, 8, false),
    ldmxcsr_Md: (cpu, i) => {
      if (!sseOk(cpu, SSE1) || !m.read(cpu, i, 1, false, SRC)) return;
      if ((SRC[0]! & ~MXCSR_MASK) !== 0) return raiseFault(cpu, GP_VECTOR, 0);
      cpu.fpu.mxcsr = SRC[0]!;
    },
    stmxcsr_Md: (cpu, i) => {
      if (!sseOk(cpu, SSE1)) return;
      SRC[0] = cpu.fpu.mxcsr;
      m.write(cpu, i, 1, false, SRC, 0);
    },
    lfence: fence(SSE2),
    mfence: fence(SSE2, true),
    sfence: fence(SSE1),

    movups_Vps_Wps: move128(m, SSE1, false, false),
    movups_Wps_Vps: move128(m, SSE1, false, true),
    movaps_Vps_Wps: move128(m, SSE1, true, false),
    movaps_Wps_Vps: move128(m, SSE1, true, true),
    movupd_Vpd_Wpd: move128(m, SSE2, false, false),
    movupd_Wpd_Vpd: move128(m, SSE2, false, true),
    movapd_Vpd_Wpd: move128(m, SSE2, true, false),
    movapd_Wpd_Vpd: move128(m, SSE2, true, true),
    movdqu_Vx_Wx: move128(m, SSE2, false, false),
    movdqu_Wx_Vx: move128(m, SSE2, false, true),
    movdqa_Vx_Wx: move128(m, SSE2, true, false),
    movdqa_Wx_Vx: move128(m, SSE2, true, true),
    movss_Vss_Wss: moveLow(m, SSE1, 1, false, false),
    movss_Wss_Vss: moveLow(m, SSE1, 1, false, true),
    movsd_Vsd_Wsd: moveLow(m, SSE2, 2, false, false),
    movsd_Wsd_Vsd: moveLow(m, SSE2, 2, false, true),
    movq_Vx_Wq: moveLow(m, SSE2, 2, true, false),
    movq_Wq_Vx: moveLow(m, SSE2, 2, true, true),
    movd_Vy_Ey: long
      ? { o16: movdToXmm(m, false), o32: movdToXmm(m, false), o64: movdToXmm(m, true) }
      : movdToXmm(m, false),
    movd_Ey_Vy: long
      ? { o16: movdFromXmm(m, false), o32: movdFromXmm(m, false), o64: movdFromXmm(m, true) }
      : movdFromXmm(m, false),
    pmovmskb_Gd_Ux: pmovmskb(m),
    pshufd_Vx_Wx_Ib: laneOp(m, SSE2, OPS.pshufd![1]),
  };
  for (const [name, [feature, op]] of Object.entries(OPS)) {
    if (name !== "pshufd") out[`${name}_Vx_Wx`] = laneOp(m, feature, op);
  }
  for (const [ps, p] of Object.entries(FP_LOGIC)) {
    const op = OPS[p]![1];
    out[`${ps}_Vps_Wps`] = laneOp(m, SSE1, op);
    out[`${ps.slice(0, -1)}d_Vpd_Wpd`] = laneOp(m, SSE2, op);
  }
  return out;
}

/** 16/32-bit code. */
export const SSE: Readonly<Record<string, HandlerSpec>> = build(MEM32, false);

/**
 * 64-bit mode: the same instructions, plus the other x87 escapes and WAIT, whose
 * proc_ctrl.ts handlers touch neither memory nor registers and so run unchanged.
 */
export const SSE_LONG: Readonly<Record<string, HandlerSpec>> = {
  ...build(MEM64, true),
  esc_Ev: PROC_CTRL.esc_Ev!,
  fwait: PROC_CTRL.fwait!,
};
