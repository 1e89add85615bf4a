/**
 * 64-bit mode's shifts and rotates, multiply and divide, bit instructions, SETcc/CMOVcc,
 * BSWAP, XADD and CMPXCHG (SDM Vol. 2 per instruction), at every operand size the rows
 * allow. The 8-, 16- and 32-bit forms follow the legacy handlers' flag rules (shift.ts,
 * alu.gen.ts, mult.ts, bit.ts, arith.ts); 64-bit results record CF/AF/OF eagerly with
 * flags64 (long.ts). 64-bit values are (lo, hi) int32 pairs; a helper returns the low
 * half and leaves the high half in `H`.
 *
 * Where the SDM leaves the result open, these follow hardware (checked on an AMD EPYC host):
 * - a 32-bit shift, rotate or SHLD/SHRD of a register by a masked count of 0 leaves the
 *   flags but still zero-extends the register (it is written);
 * - BSF/BSR of 0 leave the destination unchanged, all 64 bits (AMD documents it);
 * - CMPXCHG with a register destination writes only the accumulator when the comparison
 *   fails, and only the destination when it succeeds (each zero-extended at 32 bits).
 */
import { addr64, ea64, read64, readQ, rmwRead64, rmwWrite64 } from "../access64.js";
import type { X86Cpu } from "../cpu.js";
import { raiseFault } from "../exception.js";
import type { FormSplit, Handler, HandlerSpec, SizeSplit } from "../handlers.js";
import { F_A64 } from "../instr.js";
import { FLAG_CF, FLAG_OF, FLAG_ZF, getCF, setArithFlags, testCC } from "../lazy_flags.js";
import { DE_VECTOR, EAX, EBX, ECX, EDX, FS, GP_VECTOR } from "../regs.js";
import {
  EA_HI,
  LF_CARRY,
  LF_OP,
  LF_RES,
  LF_RESULT,
  LF_SIZE,
  RMW_LIN,
  RMW_LIN_HI,
  VAL_HI,
} from "../state.js";
import { faulted, sizeMask } from "./common.js";
import { ADD, alu, flags64, getReg, RES, readE, rmwE, SUB, setReg, writeE } from "./long.js";

const TWO32 = 4294967296;

/** High half of the last 64-bit result a helper below returned. */
let H = 0;

// 64-bit helpers ----------------------------------------------------------------------------

/** hi:lo << c for c in 0..64. */
function shl64(lo: number, hi: number, c: number): number {
  if (c === 0) {
    H = hi;
    return lo;
  }
  if (c < 32) {
    H = (hi << c) | (lo >>> (32 - c));
    return lo << c;
  }
  H = c < 64 ? lo << (c - 32) : 0;
  return 0;
}

/** hi:lo >>> c (logical) for c in 0..64. */
function shr64(lo: number, hi: number, c: number): number {
  if (c === 0) {
    H = hi;
    return lo;
  }
  if (c < 32) {
    H = hi >>> c;
    return (lo >>> c) | (hi << (32 - c));
  }
  H = 0;
  return c < 64 ? (hi >>> (c - 32)) | 0 : 0;
}

/** hi:lo >> c (arithmetic) for c in 1..63. */
function sar64(lo: number, hi: number, c: number): number {
  if (c < 32) {
    H = hi >> c;
    return (lo >>> c) | (hi << (32 - c));
  }
  H = hi >> 31;
  return hi >> (c - 32);
}

/** Bit n (0..63) of hi:lo. */
function bit64(lo: number, hi: number, n: number): number {
  return n < 32 ? (lo >>> n) & 1 : (hi >>> (n - 32)) & 1;
}

/** Flags of a shift result (SF/ZF/PF from it, AF = 0), CF and OF as 0/1. */
function shiftFlags(cpu: X86Cpu, n: number, r: number, rh: number, cf: number, of: number): void {
  if (n === 64) {
    flags64(cpu, r, rh, cf, 0, of);
    return;
  }
  const st = cpu.st;
  st[LF_OP] = LF_RESULT;
  st[LF_SIZE] = n;
  st[LF_RES] = r;
  st[LF_CARRY] = cf | (of << 11);
}

/** Rotates change CF and OF only. */
function rotFlags(cpu: X86Cpu, cf: number, of: number): void {
  setArithFlags(cpu.st, FLAG_CF | FLAG_OF, cf | (of << 11));
}

// Shifts and rotates (grp2) ---------------------------------------------------------------

/** `v` (zero-extended below 32 bits; `vh` its high half at 64) by `c` ≥ 1; hi in H. */
type ShiftOp = (cpu: X86Cpu, v: number, vh: number, c: number) => number;
type Count = (cpu: X86Cpu, i: number) => number;

function shl(n: number): ShiftOp {
  if (n === 64) {
    return (cpu, v, vh, c) => {
      const lo = shl64(v, vh, c);
      const hi = H;
      const cf = bit64(v, vh, 64 - c);
      shiftFlags(cpu, 64, lo, hi, cf, (hi >>> 31) ^ cf);
      H = hi;
      return lo;
    };
  }
  const m = sizeMask(n);
  return (cpu, v, _vh, c) => {
    const r = (v << c) & m;
    const cf = c <= n ? (v >>> (n - c)) & 1 : 0;
    shiftFlags(cpu, n, r, 0, cf, ((r >>> (n - 1)) ^ cf) & 1);
    H = 0;
    return r;
  };
}

function shr(n: number): ShiftOp {
  if (n === 64) {
    return (cpu, v, vh, c) => {
      const lo = shr64(v, vh, c);
      const hi = H;
      // OF: the top bit before the last one-bit step (0 unless the count is 1).
      shiftFlags(cpu, 64, lo, hi, bit64(v, vh, c - 1), c === 1 ? vh >>> 31 : 0);
      H = hi;
      return lo;
    };
  }
  return (cpu, v, _vh, c) => {
    const last = v >>> (c - 1);
    const r = (last >>> 1) | 0;
    shiftFlags(cpu, n, r, 0, last & 1, (last >>> (n - 1)) & 1);
    H = 0;
    return r;
  };
}

function sar(n: number): ShiftOp {
  if (n === 64) {
    return (cpu, v, vh, c) => {
      const lo = sar64(v, vh, c);
      const hi = H;
      shiftFlags(cpu, 64, lo, hi, bit64(v, vh, c - 1), 0);
      H = hi;
      return lo;
    };
  }
  const m = sizeMask(n);
  return (cpu, v, _vh, c) => {
    const last = ((v << (32 - n)) >> (32 - n)) >> (c - 1);
    const r = (last >> 1) & m;
    shiftFlags(cpu, n, r, 0, last & 1, 0);
    H = 0;
    return r;
  };
}

function rol(n: number): ShiftOp {
  if (n === 64) {
    return (cpu, v, vh, c) => {
      const a = shl64(v, vh, c);
      const ah = H;
      const lo = a | shr64(v, vh, 64 - c);
      const hi = ah | H;
      const cf = lo & 1;
      rotFlags(cpu, cf, (hi >>> 31) ^ cf);
      H = hi;
      return lo;
    };
  }
  const m = sizeMask(n);
  return (cpu, v, _vh, c) => {
    const k = c & (n - 1);
    const r = k === 0 ? v & m : ((v << k) | (v >>> (n - k))) & m;
    const cf = r & 1;
    rotFlags(cpu, cf, ((r >>> (n - 1)) ^ cf) & 1);
    H = 0;
    return r;
  };
}

function ror(n: number): ShiftOp {
  if (n === 64) {
    return (cpu, v, vh, c) => {
      const a = shr64(v, vh, c);
      const ah = H;
      const lo = a | shl64(v, vh, 64 - c);
      const hi = ah | H;
      const cf = hi >>> 31;
      rotFlags(cpu, cf, cf ^ ((hi >>> 30) & 1));
      H = hi;
      return lo;
    };
  }
  const m = sizeMask(n);
  return (cpu, v, _vh, c) => {
    const k = c & (n - 1);
    const r = k === 0 ? v & m : ((v >>> k) | (v << (n - k))) & m;
    const cf = (r >>> (n - 1)) & 1;
    rotFlags(cpu, cf, (cf ^ (r >>> (n - 2))) & 1);
    H = 0;
    return r;
  };
}

/** RCL: rotate through CF, n + 1 bits; the count (≤ 31, or ≤ 63 at 64) taken mod n + 1. */
function rcl(n: number): ShiftOp {
  if (n === 64) {
    return (cpu, v, vh, c) => {
      const cin = getCF(cpu.st);
      let lo = shl64(v, vh, c);
      let hi = H;
      lo |= shr64(v, vh, 65 - c);
      hi |= H;
      lo |= shl64(cin, 0, c - 1);
      hi |= H;
      const cf = bit64(v, vh, 64 - c);
      rotFlags(cpu, cf, (hi >>> 31) ^ cf);
      H = hi;
      return lo;
    };
  }
  const m = sizeMask(n);
  return (cpu, v, _vh, c) => {
    const cin = getCF(cpu.st);
    let r: number;
    let cf: number;
    if (n === 32) {
      r = (v << c) | (cin << (c - 1)) | (c === 1 ? 0 : v >>> (33 - c));
      cf = (v >>> (32 - c)) & 1;
    } else {
      const w = (1 << (n + 1)) - 1;
      const k = c % (n + 1);
      const x = v | (cin << n);
      const y = k === 0 ? x : ((x << k) | (x >>> (n + 1 - k))) & w;
      r = y & m;
      cf = y >>> n;
    }
    rotFlags(cpu, cf, ((r >>> (n - 1)) ^ cf) & 1);
    H = 0;
    return r;
  };
}

function rcr(n: number): ShiftOp {
  if (n === 64) {
    return (cpu, v, vh, c) => {
      const cin = getCF(cpu.st);
      let lo = shr64(v, vh, c);
      let hi = H;
      lo |= shl64(v, vh, 65 - c);
      hi |= H;
      lo |= shl64(cin, 0, 64 - c);
      hi |= H;
      rotFlags(cpu, bit64(v, vh, c - 1), ((hi >>> 31) ^ (hi >>> 30)) & 1);
      H = hi;
      return lo;
    };
  }
  const m = sizeMask(n);
  return (cpu, v, _vh, c) => {
    const cin = getCF(cpu.st);
    let r: number;
    let cf: number;
    if (n === 32) {
      r = (v >>> c) | (cin << (32 - c)) | (c === 1 ? 0 : v << (33 - c));
      cf = (v >>> (c - 1)) & 1;
    } else {
      const w = (1 << (n + 1)) - 1;
      const k = c % (n + 1);
      const x = v | (cin << n);
      const y = k === 0 ? x : ((x >>> k) | (x << (n + 1 - k))) & w;
      r = y & m;
      cf = y >>> n;
    }
    rotFlags(cpu, cf, ((r >>> (n - 1)) ^ (r >>> (n - 2))) & 1);
    H = 0;
    return r;
  };
}

const one: Count = () => 1;
const byCL: Count = (cpu) => cpu.r8[4]!;
const byImm: Count = (cpu, i) => cpu.dc.imm[i]!;

/** `op E, count` at size n: the count masked to 5 bits (6 at 64); 0 leaves the flags. */
function grp2(n: number, op: ShiftOp, count: Count): FormSplit {
  const cm = n === 64 ? 63 : 31;
  return {
    reg: (cpu, i) => {
      const k = cpu.dc.rm[i]!;
      const c = count(cpu, i) & cm;
      if (c === 0) {
        if (n === 32) cpu.regsHi[k] = 0;
        return;
      }
      const v = getReg(cpu, k, n);
      const r = op(cpu, v, cpu.st[VAL_HI]!, c);
      setReg(cpu, k, n, r, H);
    },
    mem: (cpu, i) => {
      const v = rmwE(cpu, i, n);
      const c = count(cpu, i) & cm;
      if (faulted(cpu) || c === 0) return;
      const r = op(cpu, v, cpu.st[VAL_HI]!, c);
      rmwWrite64(cpu, n >> 3, r, H);
    },
  };
}

// SHLD / SHRD -------------------------------------------------------------------------------

/** Destination d (dh), source s (sh), count c ≥ 1: the result, hi in H, flags recorded. */
type DoubleOp = (cpu: X86Cpu, d: number, dh: number, s: number, sh: number, c: number) => number;

function shld(n: number): DoubleOp {
  if (n === 64) {
    return (cpu, d, dh, s, sh, c) => {
      const a = shl64(d, dh, c);
      const ah = H;
      const lo = a | shr64(s, sh, 64 - c);
      const hi = ah | H;
      const cf = bit64(d, dh, 64 - c);
      shiftFlags(cpu, 64, lo, hi, cf, (hi >>> 31) ^ cf);
      H = hi;
      return lo;
    };
  }
  return (cpu, d, _dh, s, _sh, c) => {
    let r: number;
    let cf: number;
    if (n === 32) {
      r = (d << c) | (s >>> (32 - c));
      cf = (d >>> (32 - c)) & 1;
    } else {
      // 16 bits: counts above 16 shift d:s:d, as Intel parts do (undefined in the SDM).
      const t = (d << 16) | s;
      r = ((t << c) >>> 16) | (c > 16 ? d >>> (32 - c) : 0);
      r &= 0xffff;
      cf = (t >>> (32 - c)) & 1;
    }
    shiftFlags(cpu, n, r, 0, cf, ((r >>> (n - 1)) ^ cf) & 1);
    H = 0;
    return r;
  };
}

function shrd(n: number): DoubleOp {
  if (n === 64) {
    return (cpu, d, dh, s, sh, c) => {
      const a = shr64(d, dh, c);
      const ah = H;
      const lo = a | shl64(s, sh, 64 - c);
      const hi = ah | H;
      shiftFlags(cpu, 64, lo, hi, bit64(d, dh, c - 1), ((hi >>> 31) ^ (hi >>> 30)) & 1);
      H = hi;
      return lo;
    };
  }
  return (cpu, d, _dh, s, _sh, c) => {
    let r: number;
    let cf: number;
    if (n === 32) {
      r = (d >>> c) | (s << (32 - c));
      cf = (d >>> (c - 1)) & 1;
    } else {
      // 16 bits: d:s:d shifted right for counts above 16; CF 0 there (as shift.ts).
      r = ((((s << 16) | d) >>> c) | (c > 16 ? d << (32 - c) : 0)) & 0xffff;
      cf = c <= 16 ? (d >>> (c - 1)) & 1 : 0;
    }
    shiftFlags(cpu, n, r, 0, cf, ((r >>> (n - 1)) ^ (r >>> (n - 2))) & 1);
    H = 0;
    return r;
  };
}

/** `SHLD/SHRD Ev, Gv, count` at size n. */
function double(n: number, op: DoubleOp, count: Count): FormSplit {
  const cm = n === 64 ? 63 : 31;
  return {
    reg: (cpu, i) => {
      const k = cpu.dc.rm[i]!;
      const c = count(cpu, i) & cm;
      if (c === 0) {
        if (n === 32) cpu.regsHi[k] = 0;
        return;
      }
      const st = cpu.st;
      const s = getReg(cpu, cpu.dc.reg[i]!, n);
      const sh = st[VAL_HI]!;
      const d = getReg(cpu, k, n);
      const r = op(cpu, d, st[VAL_HI]!, s, sh, c);
      setReg(cpu, k, n, r, H);
    },
    mem: (cpu, i) => {
      const st = cpu.st;
      const d = rmwE(cpu, i, n);
      const c = count(cpu, i) & cm;
      if (faulted(cpu) || c === 0) return;
      const dh = st[VAL_HI]!;
      const s = getReg(cpu, cpu.dc.reg[i]!, n);
      const r = op(cpu, d, dh, s, st[VAL_HI]!, c);
      rmwWrite64(cpu, n >> 3, r, H);
    },
  };
}

// Multiply ----------------------------------------------------------------------------------

/** The 128-bit product of the last mulu64/muls64, low limb first (int32 each). */
const P = new Int32Array(4);

let mh = 0;
/** Unsigned 32×32: the low 32 bits returned (as uint32), the high 32 in `mh` (uint32). */
function mulu32(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const x = a1 * b0;
  const y = a0 * b1;
  // Each partial product is below 2^32; sum the middle column's low halves with carries.
  const mid = ((a0 * b0) >>> 16) + (x & 0xffff) + (y & 0xffff);
  mh = a1 * b1 + (x >>> 16) + (y >>> 16) + (mid >>> 16);
  return Math.imul(a, b) >>> 0;
}

/**
 * Unsigned 64×64 → 128 into P from four 32×32 partial products; each column sum stays
 * below 2^34, exact in a double.
 */
function mulu64(a0: number, a1: number, b0: number, b1: number): void {
  const ll = mulu32(a0, b0);
  const llh = mh;
  const lh = mulu32(a0, b1);
  const lhh = mh;
  const hl = mulu32(a1, b0);
  const hlh = mh;
  const hh = mulu32(a1, b1);
  const hhh = mh;
  const s1 = llh + lh + hl;
  const c1 = s1 >= 2 * TWO32 ? 2 : s1 >= TWO32 ? 1 : 0;
  const s2 = lhh + hlh + hh + c1;
  const c2 = s2 >= 2 * TWO32 ? 2 : s2 >= TWO32 ? 1 : 0;
  P[0] = ll;
  P[1] = s1 - c1 * TWO32;
  P[2] = s2 - c2 * TWO32;
  P[3] = hhh + c2;
}

/** Subtract b1:b0 from P's high 64 bits. */
function subHigh(b0: number, b1: number): void {
  const l = (P[2]! >>> 0) - (b0 >>> 0);
  P[2] = l;
  P[3] = P[3]! - b1 - (l < 0 ? 1 : 0);
}

/**
 * Signed 64×64 → 128: the unsigned product, minus b·2^64 when a < 0 and a·2^64 when
 * b < 0 (two's complement).
 */
function muls64(a0: number, a1: number, b0: number, b1: number): void {
  mulu64(a0, a1, b0, b1);
  if (a1 < 0) subHigh(b0, b1);
  if (b1 < 0) subHigh(a0, a1);
}

/** Product flags: SF/ZF/PF from the low half (AF = 0), CF = OF = `ov`. */
function mulFlags(cpu: X86Cpu, n: number, lo: number, hi: number, ov: boolean): void {
  if (n === 64) {
    const o = ov ? 1 : 0;
    flags64(cpu, lo, hi, o, 0, o);
    return;
  }
  const st = cpu.st;
  st[LF_OP] = LF_RESULT;
  st[LF_SIZE] = n;
  st[LF_RES] = lo;
  st[LF_CARRY] = ov ? FLAG_CF | FLAG_OF : 0;
}

/** An operation on the E operand `v` (zero-extended below 32 bits; `vh` at 64). */
type Op = (cpu: X86Cpu, i: number, v: number, vh: number) => void;

function fromE(n: number, op: Op): FormSplit {
  const run = (cpu: X86Cpu, i: number, isMem: boolean) => {
    const v = readE(cpu, i, n, isMem);
    if (faulted(cpu)) return;
    op(cpu, i, v, cpu.st[VAL_HI]!);
  };
  return { reg: (cpu, i) => run(cpu, i, false), mem: (cpu, i) => run(cpu, i, true) };
}

/** MUL (signed false) / IMUL with the accumulator: rDX:rAX (AX at 8 bits) = rAX × E. */
function mulAcc(n: number, signed: boolean): Op {
  return (cpu, _i, v, vh) => {
    if (n === 8) {
      const r = signed ? ((cpu.r8[0]! << 24) >> 24) * ((v << 24) >> 24) : cpu.r8[0]! * v;
      cpu.r16[0] = r;
      mulFlags(cpu, 8, r & 0xff, 0, signed ? r !== (r << 24) >> 24 : r > 0xff);
    } else if (n === 16) {
      const r = signed ? ((cpu.r16[0]! << 16) >> 16) * ((v << 16) >> 16) : cpu.r16[0]! * v;
      cpu.r16[0] = r;
      cpu.r16[EDX << 1] = r >> 16;
      mulFlags(cpu, 16, r & 0xffff, 0, signed ? r !== (r << 16) >> 16 : r > 0xffff);
    } else if (n === 32) {
      const a = cpu.regs[EAX]!;
      v |= 0;
      const lo = mulu32(a, v) | 0;
      let hi = mh | 0;
      if (signed) hi = (hi - (a < 0 ? v : 0) - (v < 0 ? a : 0)) | 0;
      setReg(cpu, EAX, 32, lo, 0);
      setReg(cpu, EDX, 32, hi, 0);
      mulFlags(cpu, 32, lo, 0, hi !== (signed ? lo >> 31 : 0));
    } else {
      if (signed) muls64(cpu.regs[EAX]!, cpu.regsHi[EAX]!, v, vh);
      else mulu64(cpu.regs[EAX]!, cpu.regsHi[EAX]!, v, vh);
      const lo = P[0]!;
      const hi = P[1]!;
      const ext = signed ? hi >> 31 : 0;
      setReg(cpu, EAX, 64, lo, hi);
      setReg(cpu, EDX, 64, P[2]!, P[3]!);
      mulFlags(cpu, 64, lo, hi, P[2] !== ext || P[3] !== ext);
    }
  };
}

/** IMUL Gv,Ev (imm false: G × E) and Gv,Ev,Iz / Gv,Ev,Ib (E × sign-extended imm). */
function imulG(n: number, imm: boolean): Op {
  return (cpu, i, v, vh) => {
    const g = cpu.dc.reg[i]!;
    let b: number;
    let bh: number;
    if (imm) {
      // Ib is sign-extended by the decoder, Iz (4 bytes) is an int32; a 16-bit Iz is
      // sign-extended by the 16-bit multiply below.
      b = cpu.dc.imm[i]!;
      bh = b >> 31;
    } else {
      b = getReg(cpu, g, n);
      bh = cpu.st[VAL_HI]!;
    }
    if (n === 16) {
      const r = ((v << 16) >> 16) * ((b << 16) >> 16);
      setReg(cpu, g, 16, r, 0);
      mulFlags(cpu, 16, r & 0xffff, 0, r !== (r << 16) >> 16);
    } else if (n === 32) {
      v |= 0;
      const r = Math.imul(v, b);
      setReg(cpu, g, 32, r, 0);
      // The double product is exact whenever the true one fits in 32 bits.
      mulFlags(cpu, 32, r, 0, v * b !== r);
    } else {
      muls64(v, vh, b, bh);
      const lo = P[0]!;
      const hi = P[1]!;
      const ext = hi >> 31;
      setReg(cpu, g, 64, lo, hi);
      mulFlags(cpu, 64, lo, hi, P[2] !== ext || P[3] !== ext);
    }
  };
}

// Divide ------------------------------------------------------------------------------------

/** Quotient (Q[0], Q[1]) and remainder (Q[2], Q[3]) of the last divu128. */
const Q = new Int32Array(4);

/**
 * Unsigned n3:n2:n1:n0 / d1:d0 with n3:n2 < d1:d0 (so the quotient fits in 64 bits):
 * restoring shift-and-subtract, one quotient bit per step, into Q. Not BigInt: no
 * allocation, and a dividend whose high half is 0 skips its leading zero bits.
 */
function divu128(n0: number, n1: number, n2: number, n3: number, d0: number, d1: number): void {
  let r0 = n2;
  let r1 = n3;
  let q0 = n0;
  let q1 = n1;
  let steps = 64;
  if ((r0 | r1) === 0) {
    const z = q1 !== 0 ? Math.clz32(q1) : 32 + Math.clz32(q0);
    q0 = shl64(q0, q1, z);
    q1 = H;
    steps -= z;
  }
  const du1 = d1 >>> 0;
  const du0 = d0 >>> 0;
  for (let k = 0; k < steps; k++) {
    // r:q <<= 1; the bit shifted out of r means r ≥ 2^64 > d.
    const out = r1 >>> 31;
    r1 = (r1 << 1) | (r0 >>> 31);
    r0 = (r0 << 1) | (q1 >>> 31);
    q1 = (q1 << 1) | (q0 >>> 31);
    q0 <<= 1;
    if (out !== 0 || r1 >>> 0 > du1 || (r1 >>> 0 === du1 && r0 >>> 0 >= du0)) {
      const l = (r0 >>> 0) - du0;
      r1 = (r1 - d1 - (l < 0 ? 1 : 0)) | 0;
      r0 = l | 0;
      q0 |= 1;
    }
  }
  Q[0] = q0;
  Q[1] = q1;
  Q[2] = r0;
  Q[3] = r1;
}

let quo = 0;
let rem = 0;
/**
 * Unsigned hi:lo / d with hi < d < 2^32: long division in two 16-bit digits; every
 * partial dividend is below 2^48, so each double quotient floors to the exact digit.
 */
function divu64(hi: number, lo: number, d: number): void {
  const x1 = hi * 65536 + (lo >>> 16);
  const q1 = Math.floor(x1 / d);
  const x0 = (x1 - q1 * d) * 65536 + (lo & 0xffff);
  const q0 = Math.floor(x0 / d);
  quo = q1 * 65536 + q0;
  rem = x0 - q0 * d;
}

function divideError(cpu: X86Cpu): void {
  raiseFault(cpu, DE_VECTOR, -1);
}

/** DIV: rDX:rAX (AX at 8 bits) / E; #DE on a zero divisor or a quotient too wide. */
function div(n: number): Op {
  return (cpu, _i, v, vh) => {
    if (n === 8) {
      const x = cpu.r16[0]!;
      if (v === 0 || x >= v << 8) return divideError(cpu);
      const q = Math.floor(x / v);
      cpu.r8[0] = q;
      cpu.r8[1] = x - q * v;
    } else if (n === 16) {
      const h = cpu.r16[EDX << 1]!;
      if (v === 0 || h >= v) return divideError(cpu);
      const x = h * 65536 + cpu.r16[0]!;
      const q = Math.floor(x / v);
      cpu.r16[0] = q;
      cpu.r16[EDX << 1] = x - q * v;
    } else if (n === 32) {
      const d = v >>> 0;
      const h = cpu.regs[EDX]! >>> 0;
      if (d === 0 || h >= d) return divideError(cpu);
      divu64(h, cpu.regs[EAX]!, d);
      setReg(cpu, EAX, 32, quo, 0);
      setReg(cpu, EDX, 32, rem, 0);
    } else {
      const r = cpu.regs;
      const rh = cpu.regsHi;
      if ((v | vh) === 0) return divideError(cpu);
      const h1 = rh[EDX]! >>> 0;
      if (h1 > vh >>> 0 || (h1 === vh >>> 0 && r[EDX]! >>> 0 >= v >>> 0)) {
        return divideError(cpu);
      }
      divu128(r[EAX]!, rh[EAX]!, r[EDX]!, rh[EDX]!, v, vh);
      setReg(cpu, EAX, 64, Q[0]!, Q[1]!);
      setReg(cpu, EDX, 64, Q[2]!, Q[3]!);
    }
  };
}

/** IDIV: signed, the quotient truncated toward 0, the remainder with the dividend's sign. */
function idiv(n: number): Op {
  return (cpu, _i, v, vh) => {
    if (n === 8 || n === 16) {
      const s = 32 - n;
      const x = n === 8 ? (cpu.r16[0]! << 16) >> 16 : (cpu.r16[EDX << 1]! << 16) | cpu.r16[0]!;
      const d = (v << s) >> s;
      if (d === 0) return divideError(cpu);
      const q = Math.trunc(x / d);
      if (q !== (q << s) >> s) return divideError(cpu);
      const m = x - q * d;
      if (n === 8) {
        cpu.r8[0] = q;
        cpu.r8[1] = m;
      } else {
        cpu.r16[0] = q;
        cpu.r16[EDX << 1] = m;
      }
      return;
    }
    const r = cpu.regs;
    const rh = cpu.regsHi;
    if (n === 32) {
      v |= 0;
      if (v === 0) return divideError(cpu);
      let hi = r[EDX]!;
      let lo = r[EAX]!;
      const neg = hi < 0;
      if (neg) {
        lo = -lo | 0;
        hi = (~hi + (lo === 0 ? 1 : 0)) | 0;
      }
      const d = (v < 0 ? -v : v) >>> 0;
      if (hi >>> 0 >= d) return divideError(cpu);
      divu64(hi >>> 0, lo, d);
      const qneg = neg !== v < 0;
      if (quo > (qneg ? 0x8000_0000 : 0x7fff_ffff)) return divideError(cpu);
      setReg(cpu, EAX, 32, qneg ? -quo : quo, 0);
      setReg(cpu, EDX, 32, neg ? -rem : rem, 0);
      return;
    }
    if ((v | vh) === 0) return divideError(cpu);
    // |RDX:RAX| and |divisor|, then the unsigned division.
    let n0 = r[EAX]!;
    let n1 = rh[EAX]!;
    let n2 = r[EDX]!;
    let n3 = rh[EDX]!;
    const neg = n3 < 0;
    if (neg) {
      n0 = ~n0;
      n1 = ~n1;
      n2 = ~n2;
      n3 = ~n3;
      // +1 with carry through the limbs.
      n0 = (n0 + 1) | 0;
      if (n0 === 0) {
        n1 = (n1 + 1) | 0;
        if (n1 === 0) {
          n2 = (n2 + 1) | 0;
          if (n2 === 0) n3 = (n3 + 1) | 0;
        }
      }
    }
    const dneg = vh < 0;
    let d0 = v;
    let d1 = vh;
    if (dneg) {
      d0 = -v | 0;
      d1 = (~vh + (d0 === 0 ? 1 : 0)) | 0;
    }
    if (n3 >>> 0 > d1 >>> 0 || (n3 === d1 && n2 >>> 0 >= d0 >>> 0)) return divideError(cpu);
    divu128(n0, n1, n2, n3, d0, d1);
    let q0 = Q[0]!;
    let q1 = Q[1]!;
    let m0 = Q[2]!;
    let m1 = Q[3]!;
    const qneg = neg !== dneg;
    // The quotient must fit: ≤ 2^63 - 1, or ≤ 2^63 when it is negative.
    if (q1 < 0 && !(qneg && q1 === (0x8000_0000 | 0) && q0 === 0)) return divideError(cpu);
    if (qneg) {
      q0 = -q0 | 0;
      q1 = (~q1 + (q0 === 0 ? 1 : 0)) | 0;
    }
    if (neg) {
      m0 = -m0 | 0;
      m1 = (~m1 + (m0 === 0 ? 1 : 0)) | 0;
    }
    setReg(cpu, EAX, 64, q0, q1);
    setReg(cpu, EDX, 64, m0, m1);
  };
}

// BT, BTS, BTR, BTC -------------------------------------------------------------------------

const BT = 0;
const BTS = 1;
const BTR = 2;
const BTC = 3;

/** BTS/BTR/BTC of bit b (0..31) of v. */
function apply(kind: number, v: number, b: number): number {
  const m = 1 << b;
  return kind === BTS ? v | m : kind === BTR ? v & ~m : v ^ m;
}

/**
 * `BT* Ev, Gv` (reg true) or `BT* Ev, Ib` at size n. With a register offset and a memory
 * operand the offset is a signed n-bit index into the bit string at the address: the
 * operand read is the one at ea + (offset >> log2 n) × n/8, 64-bit arithmetic (32 with 67).
 */
function bitTest(n: number, kind: number, reg: boolean): FormSplit {
  /** The bit offset: lo returned, the sign-extended high half in H. */
  const offset = (cpu: X86Cpu, i: number): number => {
    if (!reg) {
      H = 0;
      return cpu.dc.imm[i]! & (n - 1);
    }
    const g = cpu.dc.reg[i]!;
    if (n === 64) {
      H = cpu.regsHi[g]!;
      return cpu.regs[g]!;
    }
    const o = n === 16 ? (cpu.r16[g << 1]! << 16) >> 16 : cpu.regs[g]!;
    H = o >> 31;
    return o;
  };
  /** Test the bit, record CF, and return the new value's low/high (v, vh as given). */
  const op = (cpu: X86Cpu, b: number, v: number, vh: number): number => {
    const hiBit = b >= 32;
    const w = hiBit ? vh : v;
    const k = b & 31;
    setArithFlags(cpu.st, FLAG_CF, (w >>> k) & 1);
    if (kind === BT) return v;
    if (hiBit) {
      H = apply(kind, vh, k);
      return v;
    }
    H = vh;
    return apply(kind, v, k);
  };
  return {
    reg: (cpu, i) => {
      const b = offset(cpu, i) & (n - 1);
      const k = cpu.dc.rm[i]!;
      const v = getReg(cpu, k, n);
      const r = op(cpu, b, v, cpu.st[VAL_HI]!);
      if (kind !== BT) setReg(cpu, k, n, n === 16 ? r & 0xffff : r, H);
    },
    mem: (cpu, i) => {
      const st = cpu.st;
      const o = offset(cpu, i);
      const oh = H;
      let lo = ea64(cpu, i);
      let hi = st[EA_HI]!;
      if (reg) {
        // (offset >> lg) × (n / 8) = (offset >> 3) with the low lg - 3 bits cleared.
        const dl = ((o >>> 3) | (oh << 29)) & ~((n >> 3) - 1);
        const dh = oh >> 3;
        const s = (lo >>> 0) + (dl >>> 0);
        lo = s | 0;
        hi = (hi + dh + (s >= TWO32 ? 1 : 0)) | 0;
        if ((cpu.dc.flags[i]! & F_A64) === 0) hi = 0;
      }
      const seg = cpu.dc.seg[i]!;
      const b = o & (n - 1);
      let v: number;
      if (kind === BT) {
        if (n === 64) v = readQ(cpu, seg, lo, hi);
        else {
          v = read64(cpu, seg, lo, hi, n >> 3);
          st[VAL_HI] = 0;
        }
      } else {
        v = rmwRead64(cpu, seg, lo, hi, n >> 3);
        if (n !== 64) st[VAL_HI] = 0;
      }
      if (faulted(cpu)) return;
      const r = op(cpu, b, v, st[VAL_HI]!);
      if (kind !== BT) rmwWrite64(cpu, n >> 3, n === 16 ? r & 0xffff : r, H);
    },
  };
}

// BSF, BSR, BSWAP, SETcc, CMOVcc --------------------------------------------------------------

/** BSF (reverse false) / BSR Gv,Ev: ZF = (source = 0); then the destination is left alone. */
function bitScan(n: number, reverse: boolean): Op {
  return (cpu, i, v, vh) => {
    if ((v | vh) === 0) {
      setArithFlags(cpu.st, FLAG_ZF, FLAG_ZF);
      return;
    }
    let r: number;
    if (reverse) r = vh !== 0 ? 63 - Math.clz32(vh) : 31 - Math.clz32(v);
    else r = v !== 0 ? 31 - Math.clz32(v & -v) : 63 - Math.clz32(vh & -vh);
    setReg(cpu, cpu.dc.reg[i]!, n, r, 0);
    setArithFlags(cpu.st, FLAG_ZF, 0);
  };
}

function swap32(v: number): number {
  return ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
}

/** BSWAP r32 / r64 (0F C8+r, REX.B); with a 16-bit operand the result is undefined: 0. */
const bswap: SizeSplit = {
  o16: (cpu, i) => setReg(cpu, cpu.dc.rm[i]!, 16, 0, 0),
  o32: (cpu, i) => {
    const k = cpu.dc.rm[i]!;
    setReg(cpu, k, 32, swap32(cpu.regs[k]!), 0);
  },
  o64: (cpu, i) => {
    const k = cpu.dc.rm[i]!;
    const lo = cpu.regs[k]!;
    setReg(cpu, k, 64, swap32(cpu.regsHi[k]!), swap32(lo));
  },
};

const setcc: FormSplit = {
  reg: (cpu, i) => setReg(cpu, cpu.dc.rm[i]!, 8, testCC(cpu.st, cpu.dc.imm2[i]!) ? 1 : 0, 0),
  mem: (cpu, i) => writeE(cpu, i, 8, true, testCC(cpu.st, cpu.dc.imm2[i]!) ? 1 : 0, 0),
};

/** CMOVcc Gv,Ev: the source is read (and may fault) either way; 32 bits always zero-extend. */
function cmov(n: number): Op {
  return (cpu, i, v, vh) => {
    const g = cpu.dc.reg[i]!;
    if (testCC(cpu.st, cpu.dc.imm2[i]!)) setReg(cpu, g, n, v, vh);
    else if (n === 32) cpu.regsHi[g] = 0;
  };
}

// XADD, CMPXCHG, CMPXCHG8B/16B ---------------------------------------------------------------

/** XADD E, G: temp = E + G; G = E; E = temp (written last). */
function xadd(n: number): FormSplit {
  const run = (cpu: X86Cpu, i: number, isMem: boolean) => {
    const st = cpu.st;
    const g = cpu.dc.reg[i]!;
    const s = getReg(cpu, g, n);
    const sh = st[VAL_HI]!;
    const d = isMem ? rmwE(cpu, i, n) : readE(cpu, i, n, false);
    if (faulted(cpu)) return;
    const dh = st[VAL_HI]!;
    alu(cpu, ADD, n, d, dh, s, sh);
    const lo = RES[0]!;
    const hi = RES[1]!;
    if (isMem) {
      rmwWrite64(cpu, n >> 3, lo, hi);
      if (faulted(cpu)) return;
      setReg(cpu, g, n, d, dh);
    } else {
      setReg(cpu, g, n, d, dh);
      setReg(cpu, cpu.dc.rm[i]!, n, lo, hi);
    }
  };
  return { reg: (cpu, i) => run(cpu, i, false), mem: (cpu, i) => run(cpu, i, true) };
}

/**
 * CMPXCHG E, G: flags of CMP rAX, E; equal: E = G; else rAX = E. A memory operand is
 * always written (E back unchanged when unequal).
 */
function cmpxchg(n: number): FormSplit {
  const run = (cpu: X86Cpu, i: number, isMem: boolean) => {
    const st = cpu.st;
    const d = isMem ? rmwE(cpu, i, n) : readE(cpu, i, n, false);
    if (faulted(cpu)) return;
    const dh = st[VAL_HI]!;
    const a = getReg(cpu, EAX, n);
    alu(cpu, SUB, n, a, st[VAL_HI]!, d, dh);
    const eq = (RES[0]! | RES[1]!) === 0;
    const g = cpu.dc.reg[i]!;
    if (isMem) {
      if (eq) {
        const s = getReg(cpu, g, n);
        rmwWrite64(cpu, n >> 3, s, st[VAL_HI]!);
      } else {
        rmwWrite64(cpu, n >> 3, d, dh);
        if (!faulted(cpu)) setReg(cpu, EAX, n, d, dh);
      }
    } else if (eq) {
      const s = getReg(cpu, g, n);
      setReg(cpu, cpu.dc.rm[i]!, n, s, st[VAL_HI]!);
    } else {
      setReg(cpu, EAX, n, d, dh);
    }
  };
  return { reg: (cpu, i) => run(cpu, i, false), mem: (cpu, i) => run(cpu, i, true) };
}

/**
 * CMPXCHG8B m64 (no REX.W): EDX:EAX against the quadword; equal: store ECX:EBX, ZF = 1;
 * else EDX:EAX = it (zero-extended) and it is written back, ZF = 0. Other flags kept.
 */
const cmpxchg8b: Handler = (cpu, i) => {
  const st = cpu.st;
  const r = cpu.regs;
  const lo = rmwRead64(cpu, cpu.dc.seg[i]!, ea64(cpu, i), st[EA_HI]!, 8);
  if (faulted(cpu)) return;
  const hi = st[VAL_HI]!;
  const eq = lo === r[EAX] && hi === r[EDX];
  if (eq) rmwWrite64(cpu, 8, r[EBX]!, r[ECX]!);
  else rmwWrite64(cpu, 8, lo, hi);
  if (faulted(cpu)) return;
  if (!eq) {
    setReg(cpu, EAX, 32, lo, 0);
    setReg(cpu, EDX, 32, hi, 0);
  }
  setArithFlags(st, FLAG_ZF, eq ? FLAG_ZF : 0);
};

/**
 * CMPXCHG16B m128 (REX.W): RDX:RAX against the double quadword, RCX:RBX stored when
 * equal; #GP(0) unless the operand's linear address is 16-byte aligned.
 */
const cmpxchg16b: Handler = (cpu, i) => {
  const st = cpu.st;
  const r = cpu.regs;
  const rh = cpu.regsHi;
  const seg = cpu.dc.seg[i]!;
  const a = ea64(cpu, i);
  const ah = st[EA_HI]!;
  const lin = seg >= FS ? a + cpu.segBase[seg]! : a;
  if ((lin & 15) !== 0) return raiseFault(cpu, GP_VECTOR, 0);
  // Aligned: both quadwords lie in one page. Read (probing for write) the high one first,
  // then the low one, whose linear address stays in RMW_LIN.
  const b = addr64(cpu, a, ah, 8);
  const h0 = rmwRead64(cpu, seg, b, st[EA_HI]!, 8);
  if (faulted(cpu)) return;
  const h1 = st[VAL_HI]!;
  const hLin = st[RMW_LIN]!;
  const hLinHi = st[RMW_LIN_HI]!;
  const l0 = rmwRead64(cpu, seg, a, ah, 8);
  if (faulted(cpu)) return;
  const l1 = st[VAL_HI]!;
  const eq = l0 === r[EAX] && l1 === rh[EAX] && h0 === r[EDX] && h1 === rh[EDX];
  if (eq) rmwWrite64(cpu, 8, r[EBX]!, rh[EBX]!);
  else rmwWrite64(cpu, 8, l0, l1);
  st[RMW_LIN] = hLin;
  st[RMW_LIN_HI] = hLinHi;
  if (eq) rmwWrite64(cpu, 8, r[ECX]!, rh[ECX]!);
  else rmwWrite64(cpu, 8, h0, h1);
  if (!eq) {
    setReg(cpu, EAX, 64, l0, l1);
    setReg(cpu, EDX, 64, h0, h1);
  }
  setArithFlags(st, FLAG_ZF, eq ? FLAG_ZF : 0);
};

// The table ----------------------------------------------------------------------------------

function bySize(make: (n: number) => FormSplit): SizeSplit {
  return { o16: make(16), o32: make(32), o64: make(64) };
}

const table: Record<string, HandlerSpec> = {};

const SHIFTS: ReadonlyArray<readonly [string, (n: number) => ShiftOp]> = [
  ["rol", rol],
  ["ror", ror],
  ["rcl", rcl],
  ["rcr", rcr],
  ["shl", shl],
  ["shr", shr],
  ["sar", sar],
];
const COUNTS: ReadonlyArray<readonly [string, Count]> = [
  ["1", one],
  ["CL", byCL],
  ["Ib", byImm],
];
for (const [name, make] of SHIFTS) {
  for (const [suffix, count] of COUNTS) {
    table[`${name}_Eb_${suffix}`] = grp2(8, make(8), count);
    table[`${name}_Ev_${suffix}`] = bySize((n) => grp2(n, make(n), count));
  }
}
for (const [name, make] of [
  ["shld", shld],
  ["shrd", shrd],
] as const) {
  for (const [suffix, count] of COUNTS.slice(1)) {
    table[`${name}_Ev_Gv_${suffix}`] = bySize((n) => double(n, make(n), count));
  }
}

table.mul_Eb = fromE(8, mulAcc(8, false));
table.imul_Eb = fromE(8, mulAcc(8, true));
table.div_Eb = fromE(8, div(8));
table.idiv_Eb = fromE(8, idiv(8));
table.mul_Ev = bySize((n) => fromE(n, mulAcc(n, false)));
table.imul_Ev = bySize((n) => fromE(n, mulAcc(n, true)));
table.div_Ev = bySize((n) => fromE(n, div(n)));
table.idiv_Ev = bySize((n) => fromE(n, idiv(n)));
table.imul_Gv_Ev = bySize((n) => fromE(n, imulG(n, false)));
table.imul_Gv_Ev_Iz = bySize((n) => fromE(n, imulG(n, true)));
table.imul_Gv_Ev_Ib = bySize((n) => fromE(n, imulG(n, true)));

for (const [name, kind] of [
  ["bt", BT],
  ["bts", BTS],
  ["btr", BTR],
  ["btc", BTC],
] as const) {
  table[`${name}_Ev_Gv`] = bySize((n) => bitTest(n, kind, true));
  table[`${name}_Ev_Ib`] = bySize((n) => bitTest(n, kind, false));
}
table.bsf_Gv_Ev = bySize((n) => fromE(n, bitScan(n, false)));
table.bsr_Gv_Ev = bySize((n) => fromE(n, bitScan(n, true)));
table.bswap_Zv = bswap;
table.setcc_Eb = setcc;
table.cmovcc_Gv_Ev = bySize((n) => fromE(n, cmov(n)));

table.xadd_Eb_Gb = xadd(8);
table.xadd_Ev_Gv = bySize(xadd);
table.cmpxchg_Eb_Gb = cmpxchg(8);
table.cmpxchg_Ev_Gv = bySize(cmpxchg);
table.cmpxchg8b_Mq = { o16: cmpxchg8b, o32: cmpxchg8b, o64: cmpxchg16b };

export const LONG_ALU: Readonly<Record<string, HandlerSpec>> = table;
