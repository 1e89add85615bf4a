/**
 * Multiply and divide (Bochs mult8/16/32.cc): MUL, IMUL in its one-, two- and
 * three-operand forms, DIV, IDIV. Products and 64-bit dividends are hi/lo int32 pairs
 * (no BigInt): 32×32 products are built from 16-bit partial products, 64/32 division is
 * a two-step long division in doubles, each step exact (SDM Vol. 2, MUL/IMUL/DIV/IDIV).
 *
 * MUL/IMUL set CF = OF = "the upper half is significant"; SF/ZF/PF follow the low half
 * and AF is 0 (undefined in the SDM). DIV/IDIV leave the flags as they were (undefined).
 */
import { ea, readMem8, readMem16, readMem32 } from "../access.js";
import type { X86Cpu } from "../cpu.js";
import { raiseFault } from "../exception.js";
import type { FormSplit, Handler, HandlerSpec } from "../handlers.js";
import { FLAG_CF, FLAG_OF } from "../lazy_flags.js";
import { DE_VECTOR, EAX, EDX } from "../regs.js";
import { LF_CARRY, LF_OP, LF_RES, LF_RESULT, LF_SIZE } from "../state.js";
import { faulted, REG8 } from "./common.js";

/** An operation on the source operand `v` (zero-extended to its size). */
type Op = (cpu: X86Cpu, i: number, v: number) => void;

/** The handler pair that reads Eb/Ew/Ed and passes it to `op`. */
function fromE(size: 8 | 16 | 32, op: Op): FormSplit {
  let reg: Handler;
  let mem: Handler;
  if (size === 8) {
    reg = (cpu, i) => op(cpu, i, cpu.r8[REG8[cpu.dc.rm[i]!]!]!);
    mem = (cpu, i) => {
      const v = readMem8(cpu, cpu.dc.seg[i]!, ea(cpu, i));
      if (!faulted(cpu)) op(cpu, i, v);
    };
  } else if (size === 16) {
    reg = (cpu, i) => op(cpu, i, cpu.r16[cpu.dc.rm[i]! << 1]!);
    mem = (cpu, i) => {
      const v = readMem16(cpu, cpu.dc.seg[i]!, ea(cpu, i));
      if (!faulted(cpu)) op(cpu, i, v);
    };
  } else {
    reg = (cpu, i) => op(cpu, i, cpu.regs[cpu.dc.rm[i]!]!);
    mem = (cpu, i) => {
      const v = readMem32(cpu, cpu.dc.seg[i]!, ea(cpu, i));
      if (!faulted(cpu)) op(cpu, i, v);
    };
  }
  return { reg, mem };
}

/** Record a product: SF/ZF/PF from the low half `lo`, CF = OF = `overflow`. */
function mulFlags(st: Int32Array, size: number, lo: number, overflow: boolean): void {
  st[LF_OP] = LF_RESULT;
  st[LF_SIZE] = size;
  st[LF_RES] = lo;
  st[LF_CARRY] = overflow ? FLAG_CF | FLAG_OF : 0;
}

// 32×32 → 64 products and 64/32 quotients land here (module scratch, no allocation).
let hi32 = 0;
let quo = 0;
let rem = 0;

/** Unsigned 32×32 product: returns the low half, leaves the high half in `hi32`. */
function mulu32(a: number, b: number): number {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const p1 = ah * bl;
  const p2 = al * bh;
  const mid = ((al * bl) >>> 16) + (p1 & 0xffff) + (p2 & 0xffff);
  hi32 = (ah * bh + (p1 >>> 16) + (p2 >>> 16) + (mid >>> 16)) | 0;
  return Math.imul(a, b);
}

/** Signed 32×32 product: the unsigned one, corrected in the high half. */
function muls32(a: number, b: number): number {
  const lo = mulu32(a, b);
  hi32 = (hi32 - (a < 0 ? b : 0) - (b < 0 ? a : 0)) | 0;
  return lo;
}

/**
 * Unsigned (hi:lo) / d with hi < d (so the quotient fits in 32 bits): two 16-bit steps
 * of long division. Each partial dividend is below 2^48 and each digit below 2^16, so
 * the double quotient floors to the exact digit. Sets `quo` and `rem` (unsigned).
 */
function divu64(hi: number, lo: number, d: number): void {
  const x1 = hi * 65536 + (lo >>> 16);
  const q1 = Math.floor(x1 / d);
  const r1 = x1 - q1 * d;
  const x0 = r1 * 65536 + (lo & 0xffff);
  const q0 = Math.floor(x0 / d);
  quo = q1 * 65536 + q0;
  rem = x0 - q0 * d;
}

// MUL / IMUL with the accumulator (grp3 /4 /5) --------------------------------------

const mul8: Op = (cpu, _i, v) => {
  const r = cpu.r8[0]! * v;
  cpu.r16[0] = r;
  mulFlags(cpu.st, 8, r, r > 0xff);
};
const imul8: Op = (cpu, _i, v) => {
  const r = ((cpu.r8[0]! << 24) >> 24) * ((v << 24) >> 24);
  cpu.r16[0] = r;
  mulFlags(cpu.st, 8, r, r !== (r << 24) >> 24);
};
const mul16: Op = (cpu, _i, v) => {
  const r = cpu.r16[0]! * v;
  cpu.r16[0] = r;
  cpu.r16[EDX << 1] = r >>> 16;
  mulFlags(cpu.st, 16, r, r > 0xffff);
};
const imul16: Op = (cpu, _i, v) => {
  const r = ((cpu.r16[0]! << 16) >> 16) * ((v << 16) >> 16);
  cpu.r16[0] = r;
  cpu.r16[EDX << 1] = r >> 16;
  mulFlags(cpu.st, 16, r, r !== (r << 16) >> 16);
};
const mul32: Op = (cpu, _i, v) => {
  const lo = mulu32(cpu.regs[EAX]!, v);
  cpu.regs[EAX] = lo;
  cpu.regs[EDX] = hi32;
  mulFlags(cpu.st, 32, lo, hi32 !== 0);
};
const imul32: Op = (cpu, _i, v) => {
  const lo = muls32(cpu.regs[EAX]!, v);
  cpu.regs[EAX] = lo;
  cpu.regs[EDX] = hi32;
  mulFlags(cpu.st, 32, lo, hi32 !== lo >> 31);
};

// IMUL Gv,Ev / Gv,Ev,Iz / Gv,Ev,Ib: the truncated signed product -------------------

/** `imm` true: Ev × immediate; false: Gv × Ev. */
function imulG16(imm: boolean): Op {
  return (cpu, i, v) => {
    const k = cpu.dc.reg[i]! << 1;
    const b = imm ? cpu.dc.imm[i]! : cpu.r16[k]!;
    const r = ((v << 16) >> 16) * ((b << 16) >> 16);
    cpu.r16[k] = r;
    mulFlags(cpu.st, 16, r, r !== (r << 16) >> 16);
  };
}
function imulG32(imm: boolean): Op {
  return (cpu, i, v) => {
    const k = cpu.dc.reg[i]!;
    const b = imm ? cpu.dc.imm[i]! : cpu.regs[k]!;
    const r = Math.imul(v, b);
    // The double product is exact whenever the true product fits in 32 bits.
    cpu.regs[k] = r;
    mulFlags(cpu.st, 32, r, v * b !== r);
  };
}

// DIV / IDIV: #DE on a zero divisor or a quotient that does not fit ----------------

const div8: Op = (cpu, _i, v) => {
  const n = cpu.r16[0]!;
  if (v === 0 || n >= v << 8) return raiseFault(cpu, DE_VECTOR, -1);
  const q = (n / v) | 0;
  cpu.r8[0] = q;
  cpu.r8[1] = n - q * v;
};
const idiv8: Op = (cpu, _i, v) => {
  const n = (cpu.r16[0]! << 16) >> 16;
  const d = (v << 24) >> 24;
  if (d === 0) return raiseFault(cpu, DE_VECTOR, -1);
  const q = (n / d) | 0;
  if (q > 0x7f || q < -0x80) return raiseFault(cpu, DE_VECTOR, -1);
  cpu.r8[0] = q;
  cpu.r8[1] = n - q * d;
};
const div16: Op = (cpu, _i, v) => {
  const n = cpu.r16[EDX << 1]! * 65536 + cpu.r16[0]!;
  if (v === 0 || cpu.r16[EDX << 1]! >= v) return raiseFault(cpu, DE_VECTOR, -1);
  const q = Math.floor(n / v);
  cpu.r16[0] = q;
  cpu.r16[EDX << 1] = n - q * v;
};
const idiv16: Op = (cpu, _i, v) => {
  const n = (cpu.r16[EDX << 1]! << 16) | cpu.r16[0]!;
  const d = (v << 16) >> 16;
  if (d === 0) return raiseFault(cpu, DE_VECTOR, -1);
  const q = Math.trunc(n / d);
  if (q > 0x7fff || q < -0x8000) return raiseFault(cpu, DE_VECTOR, -1);
  cpu.r16[0] = q;
  cpu.r16[EDX << 1] = n - q * d;
};
const div32: Op = (cpu, _i, v) => {
  const d = v >>> 0;
  const hi = cpu.regs[EDX]! >>> 0;
  if (d === 0 || hi >= d) return raiseFault(cpu, DE_VECTOR, -1);
  divu64(hi, cpu.regs[EAX]!, d);
  cpu.regs[EAX] = quo;
  cpu.regs[EDX] = rem;
};
const idiv32: Op = (cpu, _i, v) => {
  if (v === 0) return raiseFault(cpu, DE_VECTOR, -1);
  let hi = cpu.regs[EDX]!;
  let lo = cpu.regs[EAX]!;
  const neg = hi < 0;
  if (neg) {
    // |EDX:EAX|: two's complement of the pair.
    lo = -lo | 0;
    hi = (~hi + (lo === 0 ? 1 : 0)) | 0;
  }
  const d = v < 0 ? -v : v;
  if (hi >>> 0 >= d >>> 0) return raiseFault(cpu, DE_VECTOR, -1);
  divu64(hi >>> 0, lo, d >>> 0);
  const qneg = neg !== v < 0;
  if (quo > (qneg ? 0x8000_0000 : 0x7fff_ffff)) return raiseFault(cpu, DE_VECTOR, -1);
  cpu.regs[EAX] = qneg ? -quo : quo;
  cpu.regs[EDX] = neg ? -rem : rem;
};

const both = (o16: Op, o32: Op): HandlerSpec => ({ o16: fromE(16, o16), o32: fromE(32, o32) });

export const MULT: Record<string, HandlerSpec> = {
  mul_Eb: fromE(8, mul8),
  imul_Eb: fromE(8, imul8),
  div_Eb: fromE(8, div8),
  idiv_Eb: fromE(8, idiv8),
  mul_Ev: both(mul16, mul32),
  imul_Ev: both(imul16, imul32),
  div_Ev: both(div16, div32),
  idiv_Ev: both(idiv16, idiv32),
  imul_Gv_Ev: both(imulG16(false), imulG32(false)),
  imul_Gv_Ev_Iz: both(imulG16(true), imulG32(true)),
  imul_Gv_Ev_Ib: both(imulG16(true), imulG32(true)),
};
