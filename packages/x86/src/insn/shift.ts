/**
 * Shifts and rotates (Bochs shift8/16/32.cc): grp2 ROL ROR RCL RCR by 1, CL or Ib, and
 * SHLD/SHRD (SDM Vol. 2, "RCL/RCR/ROL/ROR", SHLD, SHRD). SHL/SAL/SHR/SAR, the frequent
 * ones, are generated into alu.gen.ts by gen/alu.ts with the same rules.
 *
 * The count is masked to 5 bits; a masked count of 0 changes nothing, flags included.
 * Otherwise the flags are those the last one-bit step leaves, as the 286 (which steps the
 * count) and later Intel parts agree: for SHL/SHR by more than the width CF = 0 (SAR: the
 * sign), OF of SHL/ROL/RCL = MSB(result) XOR CF, of SHR = MSB of the value before the last
 * step, of ROR/RCR = the top two result bits XORed, of SAR = 0. RCL/RCR rotate through
 * CF modulo width + 1; a count that is a multiple of it leaves the value and CF and sets
 * OF by the same rule. Shifts leave AF = 0 (undefined in the SDM); rotates touch only
 * CF and OF.
 */
import {
  ea,
  rmwRead8,
  rmwRead16,
  rmwRead32,
  rmwWrite8,
  rmwWrite16,
  rmwWrite32,
} from "../access.js";
import type { X86Cpu } from "../cpu.js";
import type { FormSplit, Handler, HandlerSpec } from "../handlers.js";
import { FLAG_CF, FLAG_OF, getCF, setArithFlags } from "../lazy_flags.js";
import { LF_CARRY, LF_OP, LF_RES, LF_RESULT, LF_SIZE } from "../state.js";
import { faulted, REG8, sizeMask } from "./common.js";

/** One operation: `v` (zero-extended, or int32) by `c` in 1..31, flags recorded. */
type ShiftOp = (st: Int32Array, v: number, c: number) => number;
/** SHLD/SHRD: destination `d`, source `s`, count `c` in 1..31. */
type DoubleOp = (st: Int32Array, d: number, s: number, c: number) => number;
type Count = (cpu: X86Cpu, i: number) => number;

/** Record a shift result: SF/ZF/PF from `r`, CF and OF as given, AF = 0. */
function shiftFlags(st: Int32Array, n: number, r: number, cf: number, of: number): number {
  st[LF_OP] = LF_RESULT;
  st[LF_SIZE] = n;
  st[LF_RES] = r;
  st[LF_CARRY] = cf | (of << 11);
  return r;
}

/** Rotates change CF and OF only. */
function rotFlags(st: Int32Array, cf: number, of: number): void {
  setArithFlags(st, FLAG_CF | FLAG_OF, cf | (of << 11));
}

function rol(n: number): ShiftOp {
  const m = sizeMask(n);
  return (st, v, c) => {
    const k = c & (n - 1);
    const r = k === 0 ? v : ((v << k) | (v >>> (n - k))) & m;
    const cf = r & 1;
    rotFlags(st, cf, ((r >>> (n - 1)) ^ cf) & 1);
    return r;
  };
}

function ror(n: number): ShiftOp {
  const m = sizeMask(n);
  return (st, v, c) => {
    const k = c & (n - 1);
    const r = k === 0 ? v : ((v >>> k) | (v << (n - k))) & m;
    const cf = (r >>> (n - 1)) & 1;
    rotFlags(st, cf, (cf ^ (r >>> (n - 2))) & 1);
    return r;
  };
}

function rcl(n: number): ShiftOp {
  const m = sizeMask(n);
  const m1 = (1 << (n + 1)) - 1;
  return (st, v, c) => {
    const cin = getCF(st);
    let r: number;
    let cf: number;
    if (n === 32) {
      r = c === 1 ? (v << 1) | cin : (v << c) | (cin << (c - 1)) | (v >>> (33 - c));
      cf = (v >>> (32 - c)) & 1;
    } else {
      const k = c % (n + 1);
      const x = v | (cin << n);
      const y = ((x << k) | (x >>> (n + 1 - k))) & m1;
      r = y & m;
      cf = y >>> n;
    }
    rotFlags(st, cf, ((r >>> (n - 1)) ^ cf) & 1);
    return r;
  };
}

function rcr(n: number): ShiftOp {
  const m = sizeMask(n);
  const m1 = (1 << (n + 1)) - 1;
  return (st, v, c) => {
    const cin = getCF(st);
    let r: number;
    let cf: number;
    if (n === 32) {
      r = c === 1 ? (v >>> 1) | (cin << 31) : (v >>> c) | (cin << (32 - c)) | (v << (33 - c));
      cf = (v >>> (c - 1)) & 1;
    } else {
      const k = c % (n + 1);
      const x = v | (cin << n);
      const y = ((x >>> k) | (x << (n + 1 - k))) & m1;
      r = y & m;
      cf = y >>> n;
    }
    rotFlags(st, cf, ((r >>> (n - 1)) ^ (r >>> (n - 2))) & 1);
    return r;
  };
}

function shld(n: 16 | 32): DoubleOp {
  return (st, d, s, c) => {
    let r: number;
    let cf: number;
    if (n === 32) {
      r = (d << c) | (s >>> (32 - c));
      cf = (d >>> (32 - c)) & 1;
    } else {
      // d:s shifted left; past 16 the bits of d come round again (as Intel parts do).
      const t = (d << 16) | s;
      r = ((t << c) | (c > 16 ? d << (c - 16) : 0)) >>> 16;
      cf = (t >>> (32 - c)) & 1;
    }
    return shiftFlags(st, n, r, cf, ((r >>> (n - 1)) ^ cf) & 1);
  };
}

function shrd(n: 16 | 32): DoubleOp {
  const m = sizeMask(n);
  return (st, d, s, c) => {
    let r: number;
    if (n === 32) r = (d >>> c) | (s << (32 - c));
    else r = (((s << 16) | d) >>> c) | (c > 16 ? d << (32 - c) : 0);
    r &= m;
    const cf = c <= n ? (d >>> (c - 1)) & 1 : 0;
    return shiftFlags(st, n, r, cf, ((r >>> (n - 1)) ^ (r >>> (n - 2))) & 1);
  };
}

const one: Count = () => 1;
const byCL: Count = (cpu) => cpu.r8[4]! & 0x1f;
const byImm: Count = (cpu, i) => cpu.dc.imm[i]! & 0x1f;

/** `op Eb/Ev, count` at operand size `n`. */
function grp2(n: 8 | 16 | 32, op: ShiftOp, count: Count): FormSplit {
  let reg: Handler;
  let mem: Handler;
  if (n === 8) {
    reg = (cpu, i) => {
      const c = count(cpu, i);
      if (c === 0) return;
      const k = REG8[cpu.dc.rm[i]!]!;
      cpu.r8[k] = op(cpu.st, cpu.r8[k]!, c);
    };
    mem = (cpu, i) => {
      const v = rmwRead8(cpu, cpu.dc.seg[i]!, ea(cpu, i));
      const c = count(cpu, i);
      if (faulted(cpu) || c === 0) return;
      rmwWrite8(cpu, op(cpu.st, v, c));
    };
  } else if (n === 16) {
    reg = (cpu, i) => {
      const c = count(cpu, i);
      if (c === 0) return;
      const k = cpu.dc.rm[i]! << 1;
      cpu.r16[k] = op(cpu.st, cpu.r16[k]!, c);
    };
    mem = (cpu, i) => {
      const v = rmwRead16(cpu, cpu.dc.seg[i]!, ea(cpu, i));
      const c = count(cpu, i);
      if (faulted(cpu) || c === 0) return;
      rmwWrite16(cpu, op(cpu.st, v, c));
    };
  } else {
    reg = (cpu, i) => {
      const c = count(cpu, i);
      if (c === 0) return;
      const k = cpu.dc.rm[i]!;
      cpu.regs[k] = op(cpu.st, cpu.regs[k]!, c);
    };
    mem = (cpu, i) => {
      const v = rmwRead32(cpu, cpu.dc.seg[i]!, ea(cpu, i));
      const c = count(cpu, i);
      if (faulted(cpu) || c === 0) return;
      rmwWrite32(cpu, op(cpu.st, v, c));
    };
  }
  return { reg, mem };
}

/** `SHLD/SHRD Ev, Gv, count`. */
function double(n: 16 | 32, op: DoubleOp, count: Count): FormSplit {
  if (n === 16) {
    return {
      reg: (cpu, i) => {
        const c = count(cpu, i);
        if (c === 0) return;
        const k = cpu.dc.rm[i]! << 1;
        cpu.r16[k] = op(cpu.st, cpu.r16[k]!, cpu.r16[cpu.dc.reg[i]! << 1]!, c);
      },
      mem: (cpu, i) => {
        const v = rmwRead16(cpu, cpu.dc.seg[i]!, ea(cpu, i));
        const c = count(cpu, i);
        if (faulted(cpu) || c === 0) return;
        rmwWrite16(cpu, op(cpu.st, v, cpu.r16[cpu.dc.reg[i]! << 1]!, c));
      },
    };
  }
  return {
    reg: (cpu, i) => {
      const c = count(cpu, i);
      if (c === 0) return;
      const k = cpu.dc.rm[i]!;
      cpu.regs[k] = op(cpu.st, cpu.regs[k]!, cpu.regs[cpu.dc.reg[i]!]!, c);
    },
    mem: (cpu, i) => {
      const v = rmwRead32(cpu, cpu.dc.seg[i]!, ea(cpu, i));
      const c = count(cpu, i);
      if (faulted(cpu) || c === 0) return;
      rmwWrite32(cpu, op(cpu.st, v, cpu.regs[cpu.dc.reg[i]!]!, c));
    },
  };
}

const table: Record<string, HandlerSpec> = {};
const OPS: ReadonlyArray<readonly [string, (n: number) => ShiftOp]> = [
  ["rol", rol],
  ["ror", ror],
  ["rcl", rcl],
  ["rcr", rcr],
];
const COUNTS: ReadonlyArray<readonly [string, Count]> = [
  ["1", one],
  ["CL", byCL],
  ["Ib", byImm],
];
for (const [name, make] of OPS) {
  for (const [suffix, count] of COUNTS) {
    table[`${name}_Eb_${suffix}`] = grp2(8, make(8), count);
    table[`${name}_Ev_${suffix}`] = {
      o16: grp2(16, make(16), count),
      o32: grp2(32, make(32), count),
    };
  }
}
for (const [name, make] of [
  ["shld", shld],
  ["shrd", shrd],
] as const) {
  for (const [suffix, count] of COUNTS.slice(1)) {
    table[`${name}_Ev_Gv_${suffix}`] = {
      o16: double(16, make(16), count),
      o32: double(32, make(32), count),
    };
  }
}

export const SHIFT: Readonly<Record<string, HandlerSpec>> = table;
