/**
 * Integer arithmetic and logic (Bochs arith8/16/32.cc, logical8/16/32.cc): ADD OR ADC SBB
 * AND SUB XOR CMP in every form, TEST, INC, DEC, NEG, NOT, CMPXCHG, XADD. Flags are lazy
 * (lazy_flags.ts); each op records its operands and result.
 */
import {
  ea,
  physWrite32,
  readMem8,
  readMem16,
  readMem32,
  rmwRead8,
  rmwRead16,
  rmwRead32,
  rmwWrite8,
  rmwWrite16,
  rmwWrite32,
} from "../access.js";
import type { X86Cpu } from "../cpu.js";
import type { FormSplit, Handler, HandlerSpec } from "../handlers.js";
import {
  FLAG_ZF,
  getCF,
  LF_ADC,
  LF_ADD,
  LF_DEC,
  LF_INC,
  LF_LOGIC,
  LF_SBB,
  LF_SUB,
  lazy,
  setArithFlags,
} from "../lazy_flags.js";
import { EAX, EBX, ECX, EDX } from "../regs.js";
import { LF_CARRY, RMW_PHYS } from "../state.js";
import { faulted, REG8 } from "./common.js";

/** An ALU operation: computes the result and records the lazy flags. */
type AluOp = (st: Int32Array, size: number, dst: number, src: number) => number;

const add: AluOp = (st, size, d, s) => {
  const r = (d + s) | 0;
  lazy(st, LF_ADD, size, d, s, r);
  return r;
};
const or: AluOp = (st, size, d, s) => {
  const r = d | s;
  lazy(st, LF_LOGIC, size, d, s, r);
  return r;
};
const adc: AluOp = (st, size, d, s) => {
  const c = getCF(st);
  const r = (d + s + c) | 0;
  lazy(st, LF_ADC, size, d, s, r);
  st[LF_CARRY] = c;
  return r;
};
const sbb: AluOp = (st, size, d, s) => {
  const c = getCF(st);
  const r = (d - s - c) | 0;
  lazy(st, LF_SBB, size, d, s, r);
  st[LF_CARRY] = c;
  return r;
};
const and: AluOp = (st, size, d, s) => {
  const r = d & s;
  lazy(st, LF_LOGIC, size, d, s, r);
  return r;
};
const sub: AluOp = (st, size, d, s) => {
  const r = (d - s) | 0;
  lazy(st, LF_SUB, size, d, s, r);
  return r;
};
const xor: AluOp = (st, size, d, s) => {
  const r = d ^ s;
  lazy(st, LF_LOGIC, size, d, s, r);
  return r;
};

const OPS: ReadonlyArray<readonly [string, AluOp, boolean]> = [
  ["add", add, true],
  ["or", or, true],
  ["adc", adc, true],
  ["sbb", sbb, true],
  ["and", and, true],
  ["sub", sub, true],
  ["xor", xor, true],
  ["cmp", sub, false],
  ["test", and, false],
];

// Operand accessors by size. Register values are kept zero-extended for 8/16 bits.
type Src = (cpu: X86Cpu, i: number) => number;

/** Build `op Eb/Ev, src` (destination is the ModRM r/m operand). */
function toE(op: AluOp, write: boolean, size: 8 | 16 | 32, src: Src): FormSplit {
  const m = size === 32 ? -1 : (1 << size) - 1;
  let reg: Handler;
  let mem: Handler;
  if (size === 8) {
    reg = (cpu, i) => {
      const k = REG8[cpu.dc.rm[i]!]!;
      const r = op(cpu.st, 8, cpu.r8[k]!, src(cpu, i) & m);
      if (write) cpu.r8[k] = r;
    };
    mem = write
      ? (cpu, i) => {
          const d = rmwRead8(cpu, cpu.dc.seg[i]!, ea(cpu, i));
          if (faulted(cpu)) return;
          rmwWrite8(cpu, op(cpu.st, 8, d, src(cpu, i) & m));
        }
      : (cpu, i) => {
          const d = readMem8(cpu, cpu.dc.seg[i]!, ea(cpu, i));
          if (faulted(cpu)) return;
          op(cpu.st, 8, d, src(cpu, i) & m);
        };
  } else if (size === 16) {
    reg = (cpu, i) => {
      const k = cpu.dc.rm[i]! << 1;
      const r = op(cpu.st, 16, cpu.r16[k]!, src(cpu, i) & m);
      if (write) cpu.r16[k] = r;
    };
    mem = write
      ? (cpu, i) => {
          const d = rmwRead16(cpu, cpu.dc.seg[i]!, ea(cpu, i));
          if (faulted(cpu)) return;
          rmwWrite16(cpu, op(cpu.st, 16, d, src(cpu, i) & m));
        }
      : (cpu, i) => {
          const d = readMem16(cpu, cpu.dc.seg[i]!, ea(cpu, i));
          if (faulted(cpu)) return;
          op(cpu.st, 16, d, src(cpu, i) & m);
        };
  } else {
    reg = (cpu, i) => {
      const k = cpu.dc.rm[i]!;
      const r = op(cpu.st, 32, cpu.regs[k]!, src(cpu, i));
      if (write) cpu.regs[k] = r;
    };
    mem = write
      ? (cpu, i) => {
          const d = rmwRead32(cpu, cpu.dc.seg[i]!, ea(cpu, i));
          if (faulted(cpu)) return;
          rmwWrite32(cpu, op(cpu.st, 32, d, src(cpu, i)));
        }
      : (cpu, i) => {
          const d = readMem32(cpu, cpu.dc.seg[i]!, ea(cpu, i));
          if (faulted(cpu)) return;
          op(cpu.st, 32, d, src(cpu, i));
        };
  }
  return { reg, mem };
}

/** Build `op Gb/Gv, Eb/Ev` (destination is the ModRM reg operand). */
function toG(op: AluOp, write: boolean, size: 8 | 16 | 32): FormSplit {
  if (size === 8) {
    return {
      reg: (cpu, i) => {
        const k = REG8[cpu.dc.reg[i]!]!;
        const r = op(cpu.st, 8, cpu.r8[k]!, cpu.r8[REG8[cpu.dc.rm[i]!]!]!);
        if (write) cpu.r8[k] = r;
      },
      mem: (cpu, i) => {
        const s = readMem8(cpu, cpu.dc.seg[i]!, ea(cpu, i));
        if (faulted(cpu)) return;
        const k = REG8[cpu.dc.reg[i]!]!;
        const r = op(cpu.st, 8, cpu.r8[k]!, s);
        if (write) cpu.r8[k] = r;
      },
    };
  }
  if (size === 16) {
    return {
      reg: (cpu, i) => {
        const k = cpu.dc.reg[i]! << 1;
        const r = op(cpu.st, 16, cpu.r16[k]!, cpu.r16[cpu.dc.rm[i]! << 1]!);
        if (write) cpu.r16[k] = r;
      },
      mem: (cpu, i) => {
        const s = readMem16(cpu, cpu.dc.seg[i]!, ea(cpu, i));
        if (faulted(cpu)) return;
        const k = cpu.dc.reg[i]! << 1;
        const r = op(cpu.st, 16, cpu.r16[k]!, s);
        if (write) cpu.r16[k] = r;
      },
    };
  }
  return {
    reg: (cpu, i) => {
      const k = cpu.dc.reg[i]!;
      const r = op(cpu.st, 32, cpu.regs[k]!, cpu.regs[cpu.dc.rm[i]!]!);
      if (write) cpu.regs[k] = r;
    },
    mem: (cpu, i) => {
      const s = readMem32(cpu, cpu.dc.seg[i]!, ea(cpu, i));
      if (faulted(cpu)) return;
      const k = cpu.dc.reg[i]!;
      const r = op(cpu.st, 32, cpu.regs[k]!, s);
      if (write) cpu.regs[k] = r;
    },
  };
}

const srcG8: Src = (cpu, i) => cpu.r8[REG8[cpu.dc.reg[i]!]!]!;
const srcG16: Src = (cpu, i) => cpu.r16[cpu.dc.reg[i]! << 1]!;
const srcG32: Src = (cpu, i) => cpu.regs[cpu.dc.reg[i]!]!;
const srcImm: Src = (cpu, i) => cpu.dc.imm[i]!;

const table: Record<string, HandlerSpec> = {};
for (const [name, op, write] of OPS) {
  table[`${name}_Eb_Gb`] = toE(op, write, 8, srcG8);
  table[`${name}_Ev_Gv`] = { o16: toE(op, write, 16, srcG16), o32: toE(op, write, 32, srcG32) };
  if (name !== "test") {
    table[`${name}_Gb_Eb`] = toG(op, write, 8);
    table[`${name}_Gv_Ev`] = { o16: toG(op, write, 16), o32: toG(op, write, 32) };
  }
  table[`${name}_Eb_Ib`] = toE(op, write, 8, srcImm);
  table[`${name}_Ev_Iz`] = { o16: toE(op, write, 16, srcImm), o32: toE(op, write, 32, srcImm) };
  // 83 /n: the byte immediate is sign-extended to the operand size.
  table[`${name}_Ev_Ib`] = table[`${name}_Ev_Iz`]!;
}

// INC / DEC keep CF (stored in LF_CARRY).
function incDec(size: 8 | 16 | 32, delta: 1 | -1): FormSplit {
  const opc = delta === 1 ? LF_INC : LF_DEC;
  const apply = (st: Int32Array, d: number): number => {
    const c = getCF(st);
    const r = (d + delta) | 0;
    lazy(st, opc, size, d, 1, r);
    st[LF_CARRY] = c;
    return r;
  };
  if (size === 8) {
    return {
      reg: (cpu, i) => {
        const k = REG8[cpu.dc.rm[i]!]!;
        cpu.r8[k] = apply(cpu.st, cpu.r8[k]!);
      },
      mem: (cpu, i) => {
        const d = rmwRead8(cpu, cpu.dc.seg[i]!, ea(cpu, i));
        if (faulted(cpu)) return;
        rmwWrite8(cpu, apply(cpu.st, d));
      },
    };
  }
  if (size === 16) {
    return {
      reg: (cpu, i) => {
        const k = cpu.dc.rm[i]! << 1;
        cpu.r16[k] = apply(cpu.st, cpu.r16[k]!);
      },
      mem: (cpu, i) => {
        const d = rmwRead16(cpu, cpu.dc.seg[i]!, ea(cpu, i));
        if (faulted(cpu)) return;
        rmwWrite16(cpu, apply(cpu.st, d));
      },
    };
  }
  return {
    reg: (cpu, i) => {
      const k = cpu.dc.rm[i]!;
      cpu.regs[k] = apply(cpu.st, cpu.regs[k]!);
    },
    mem: (cpu, i) => {
      const d = rmwRead32(cpu, cpu.dc.seg[i]!, ea(cpu, i));
      if (faulted(cpu)) return;
      rmwWrite32(cpu, apply(cpu.st, d));
    },
  };
}
table.inc_Eb = incDec(8, 1);
table.dec_Eb = incDec(8, -1);
table.inc_Ev = { o16: incDec(16, 1), o32: incDec(32, 1) };
table.dec_Ev = { o16: incDec(16, -1), o32: incDec(32, -1) };

// NEG (0 - x, CF = x != 0) and NOT (no flags).
function unary(size: 8 | 16 | 32, neg: boolean): FormSplit {
  const m = size === 32 ? -1 : (1 << size) - 1;
  const f = (st: Int32Array, d: number): number => {
    if (!neg) return ~d & m;
    const r = -d | 0;
    lazy(st, LF_SUB, size, 0, d, r);
    return r & m;
  };
  const rd = size === 8 ? rmwRead8 : size === 16 ? rmwRead16 : rmwRead32;
  const wr = size === 8 ? rmwWrite8 : size === 16 ? rmwWrite16 : rmwWrite32;
  return {
    reg: (cpu, i) => {
      const n = cpu.dc.rm[i]!;
      if (size === 8) cpu.r8[REG8[n]!] = f(cpu.st, cpu.r8[REG8[n]!]!);
      else if (size === 16) cpu.r16[n << 1] = f(cpu.st, cpu.r16[n << 1]!);
      else cpu.regs[n] = f(cpu.st, cpu.regs[n]!);
    },
    mem: (cpu, i) => {
      const d = rd(cpu, cpu.dc.seg[i]!, ea(cpu, i));
      if (faulted(cpu)) return;
      wr(cpu, f(cpu.st, d));
    },
  };
}
table.neg_Eb = unary(8, true);
table.not_Eb = unary(8, false);
table.neg_Ev = { o16: unary(16, true), o32: unary(32, true) };
table.not_Ev = { o16: unary(16, false), o32: unary(32, false) };

// CMPXCHG: compare the accumulator with the destination (flags as CMP); equal: store the
// source; not equal: load the destination into the accumulator, and a memory destination
// is written back with its own value (SDM: the processor always writes it).
// XADD: the destination receives the sum (flags as ADD), the source the old destination.
function cmpxchg(size: 8 | 16 | 32): FormSplit {
  return {
    reg: (cpu, i) => {
      const rm = cpu.dc.rm[i]!;
      const g = cpu.dc.reg[i]!;
      if (size === 8) {
        const d = cpu.r8[REG8[rm]!]!;
        if (sub(cpu.st, 8, cpu.r8[0]!, d) === 0) cpu.r8[REG8[rm]!] = cpu.r8[REG8[g]!]!;
        else cpu.r8[0] = d;
      } else if (size === 16) {
        const d = cpu.r16[rm << 1]!;
        if ((sub(cpu.st, 16, cpu.r16[0]!, d) & 0xffff) === 0) cpu.r16[rm << 1] = cpu.r16[g << 1]!;
        else cpu.r16[0] = d;
      } else {
        const d = cpu.regs[rm]!;
        if (sub(cpu.st, 32, cpu.regs[EAX]!, d) === 0) cpu.regs[rm] = cpu.regs[g]!;
        else cpu.regs[EAX] = d;
      }
    },
    mem: (cpu, i) => {
      const seg = cpu.dc.seg[i]!;
      const g = cpu.dc.reg[i]!;
      if (size === 8) {
        const d = rmwRead8(cpu, seg, ea(cpu, i));
        if (faulted(cpu)) return;
        const eq = sub(cpu.st, 8, cpu.r8[0]!, d) === 0;
        rmwWrite8(cpu, eq ? cpu.r8[REG8[g]!]! : d);
        if (!eq) cpu.r8[0] = d;
      } else if (size === 16) {
        const d = rmwRead16(cpu, seg, ea(cpu, i));
        if (faulted(cpu)) return;
        const eq = (sub(cpu.st, 16, cpu.r16[0]!, d) & 0xffff) === 0;
        rmwWrite16(cpu, eq ? cpu.r16[g << 1]! : d);
        if (!eq) cpu.r16[0] = d;
      } else {
        const d = rmwRead32(cpu, seg, ea(cpu, i));
        if (faulted(cpu)) return;
        const eq = sub(cpu.st, 32, cpu.regs[EAX]!, d) === 0;
        rmwWrite32(cpu, eq ? cpu.regs[g]! : d);
        if (!eq) cpu.regs[EAX] = d;
      }
    },
  };
}
table.cmpxchg_Eb_Gb = cmpxchg(8);
table.cmpxchg_Ev_Gv = { o16: cmpxchg(16), o32: cmpxchg(32) };

function xadd(size: 8 | 16 | 32): FormSplit {
  return {
    reg: (cpu, i) => {
      const rm = cpu.dc.rm[i]!;
      const g = cpu.dc.reg[i]!;
      if (size === 8) {
        const d = cpu.r8[REG8[rm]!]!;
        const r = add(cpu.st, 8, d, cpu.r8[REG8[g]!]!);
        cpu.r8[REG8[g]!] = d;
        cpu.r8[REG8[rm]!] = r;
      } else if (size === 16) {
        const d = cpu.r16[rm << 1]!;
        const r = add(cpu.st, 16, d, cpu.r16[g << 1]!);
        cpu.r16[g << 1] = d;
        cpu.r16[rm << 1] = r;
      } else {
        const d = cpu.regs[rm]!;
        const r = add(cpu.st, 32, d, cpu.regs[g]!);
        cpu.regs[g] = d;
        cpu.regs[rm] = r;
      }
    },
    mem: (cpu, i) => {
      const seg = cpu.dc.seg[i]!;
      const g = cpu.dc.reg[i]!;
      if (size === 8) {
        const d = rmwRead8(cpu, seg, ea(cpu, i));
        if (faulted(cpu)) return;
        rmwWrite8(cpu, add(cpu.st, 8, d, cpu.r8[REG8[g]!]!));
        cpu.r8[REG8[g]!] = d;
      } else if (size === 16) {
        const d = rmwRead16(cpu, seg, ea(cpu, i));
        if (faulted(cpu)) return;
        rmwWrite16(cpu, add(cpu.st, 16, d, cpu.r16[g << 1]!));
        cpu.r16[g << 1] = d;
      } else {
        const d = rmwRead32(cpu, seg, ea(cpu, i));
        if (faulted(cpu)) return;
        rmwWrite32(cpu, add(cpu.st, 32, d, cpu.regs[g]!));
        cpu.regs[g] = d;
      }
    },
  };
}
table.xadd_Eb_Gb = xadd(8);
table.xadd_Ev_Gv = { o16: xadd(16), o32: xadd(32) };

// CMPXCHG8B m64: EDX:EAX against the quadword; equal: store ECX:EBX, ZF = 1; else load it
// into EDX:EAX (writing it back unchanged), ZF = 0. Other flags are unaffected.
table.cmpxchg8b_Mq = (cpu, i) => {
  const seg = cpu.dc.seg[i]!;
  const a = ea(cpu, i);
  const lo = rmwRead32(cpu, seg, a);
  if (faulted(cpu)) return;
  const pLo = cpu.st[RMW_PHYS]!;
  const hi = rmwRead32(cpu, seg, a + 4);
  if (faulted(cpu)) return;
  const r = cpu.regs;
  const eq = lo === r[EAX] && hi === r[EDX];
  physWrite32(cpu, pLo, eq ? r[EBX]! : lo);
  rmwWrite32(cpu, eq ? r[ECX]! : hi);
  if (!eq) {
    r[EAX] = lo;
    r[EDX] = hi;
  }
  setArithFlags(cpu.st, FLAG_ZF, eq ? FLAG_ZF : 0);
};

export const ARITH: Readonly<Record<string, HandlerSpec>> = table;
