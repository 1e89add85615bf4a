/**
 * Compare-and-exchange and exchange-and-add (Bochs arith8/16/32.cc): CMPXCHG, XADD,
 * CMPXCHG8B. The plain ALU operations (ADD … CMP, TEST, INC, DEC, NEG, NOT) are generated
 * into alu.gen.ts by gen/alu.ts. Flags are lazy (lazy_flags.ts).
 */
import {
  ea,
  physWrite32,
  rmwRead8,
  rmwRead16,
  rmwRead32,
  rmwWrite8,
  rmwWrite16,
  rmwWrite32,
} from "../access.js";
import type { FormSplit, HandlerSpec } from "../handlers.js";
import { FLAG_ZF, lazy, setArithFlags } from "../lazy_flags.js";
import { EAX, EBX, ECX, EDX } from "../regs.js";
import { LF_ADD, LF_SUB, RMW_PHYS } from "../state.js";
import { faulted, REG8 } from "./common.js";

/** dst + src with its lazy flags (XADD). */
function add(st: Int32Array, size: number, d: number, s: number): number {
  const r = (d + s) | 0;
  lazy(st, LF_ADD, size, d, s, r);
  return r;
}

/** dst - src with its lazy flags (the comparison of CMPXCHG). */
function sub(st: Int32Array, size: number, d: number, s: number): number {
  const r = (d - s) | 0;
  lazy(st, LF_SUB, size, d, s, r);
  return r;
}

const table: Record<string, HandlerSpec> = {};

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
