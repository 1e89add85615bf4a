/**
 * Bit instructions (Bochs bit.cc, bit16.cc, bit32.cc): BT BTS BTR BTC with a register or
 * an immediate bit offset, BSF, BSR, SETcc (SDM Vol. 2, "BT", "BSF", "SETcc").
 *
 * BT* with a register offset and a memory operand address the bit string beyond the
 * operand: the offset is signed and selects the word/dword at ea + (offset >> 4) * 2 or
 * ea + (offset >> 5) * 4 (wrapped to the address size). An immediate offset is taken
 * modulo the operand size. BT* set CF and leave the other flags (OF SF AF PF undefined).
 * BSF/BSR set ZF = (source = 0) and then leave the destination as it was; their other
 * flags (undefined) are left alone.
 */
import {
  ea,
  readMem16,
  readMem32,
  rmwRead16,
  rmwRead32,
  rmwWrite16,
  rmwWrite32,
  writeMem8,
} from "../access.js";
import type { X86Cpu } from "../cpu.js";
import type { FormSplit, HandlerSpec } from "../handlers.js";
import { F_A32 } from "../instr.js";
import { FLAG_CF, FLAG_ZF, setArithFlags, testCC } from "../lazy_flags.js";
import { faulted, REG8 } from "./common.js";

const BT = 0;
const BTS = 1;
const BTR = 2;
const BTC = 3;

/** The new operand after BTS/BTR/BTC of the bit selected by `b` (a one-bit mask). */
function apply(kind: number, v: number, b: number): number {
  return kind === BTS ? v | b : kind === BTR ? v & ~b : v ^ b;
}

/** The bit offset of a `BT* Ev,Gv` (signed) or `BT* Ev,Ib` operand. */
type Offset = (cpu: X86Cpu, i: number) => number;
const offG16: Offset = (cpu, i) => (cpu.r16[cpu.dc.reg[i]! << 1]! << 16) >> 16;
const offG32: Offset = (cpu, i) => cpu.regs[cpu.dc.reg[i]!]!;
const offImm: Offset = (cpu, i) => cpu.dc.imm[i]!;

/** `BT/BTS/BTR/BTC Ev, Gv|Ib` at operand size `n`; `far` when a register gives the offset. */
function bitTest(n: 16 | 32, kind: number, off: Offset, far: boolean): FormSplit {
  const shift = n === 16 ? 4 : 5;
  const bytes = n >> 3;
  return {
    reg: (cpu, i) => {
      const bit = off(cpu, i) & (n - 1);
      const k = cpu.dc.rm[i]!;
      const v = n === 16 ? cpu.r16[k << 1]! : cpu.regs[k]!;
      setArithFlags(cpu.st, FLAG_CF, (v >>> bit) & 1);
      if (kind === BT) return;
      if (n === 16) cpu.r16[k << 1] = apply(kind, v, 1 << bit);
      else cpu.regs[k] = apply(kind, v, 1 << bit);
    },
    mem: (cpu, i) => {
      const o = off(cpu, i);
      const bit = o & (n - 1);
      let a = ea(cpu, i);
      if (far) {
        a += (o >> shift) * bytes;
        a = cpu.dc.flags[i]! & F_A32 ? a | 0 : a & 0xffff;
      }
      const seg = cpu.dc.seg[i]!;
      let v: number;
      if (kind === BT) v = n === 16 ? readMem16(cpu, seg, a) : readMem32(cpu, seg, a);
      else v = n === 16 ? rmwRead16(cpu, seg, a) : rmwRead32(cpu, seg, a);
      if (faulted(cpu)) return;
      setArithFlags(cpu.st, FLAG_CF, (v >>> bit) & 1);
      if (kind === BT) return;
      if (n === 16) rmwWrite16(cpu, apply(kind, v, 1 << bit));
      else rmwWrite32(cpu, apply(kind, v, 1 << bit));
    },
  };
}

/** BSF (`reverse` false) or BSR Gv,Ev. */
function bitScan(n: 16 | 32, reverse: boolean): FormSplit {
  const scan = (cpu: X86Cpu, i: number, v: number): void => {
    if (v === 0) {
      setArithFlags(cpu.st, FLAG_ZF, FLAG_ZF);
      return;
    }
    const r = reverse ? 31 - Math.clz32(v) : 31 - Math.clz32(v & -v);
    const k = cpu.dc.reg[i]!;
    if (n === 16) cpu.r16[k << 1] = r;
    else cpu.regs[k] = r;
    setArithFlags(cpu.st, FLAG_ZF, 0);
  };
  return {
    reg: (cpu, i) => {
      const k = cpu.dc.rm[i]!;
      scan(cpu, i, n === 16 ? cpu.r16[k << 1]! : cpu.regs[k]!);
    },
    mem: (cpu, i) => {
      const seg = cpu.dc.seg[i]!;
      const v = n === 16 ? readMem16(cpu, seg, ea(cpu, i)) : readMem32(cpu, seg, ea(cpu, i));
      if (!faulted(cpu)) scan(cpu, i, v);
    },
  };
}

const table: Record<string, HandlerSpec> = {
  bsf_Gv_Ev: { o16: bitScan(16, false), o32: bitScan(32, false) },
  bsr_Gv_Ev: { o16: bitScan(16, true), o32: bitScan(32, true) },
  setcc_Eb: {
    reg: (cpu, i) => {
      cpu.r8[REG8[cpu.dc.rm[i]!]!] = testCC(cpu.st, cpu.dc.imm2[i]!) ? 1 : 0;
    },
    mem: (cpu, i) => {
      writeMem8(cpu, cpu.dc.seg[i]!, ea(cpu, i), testCC(cpu.st, cpu.dc.imm2[i]!) ? 1 : 0);
    },
  },
};
for (const [name, kind] of [
  ["bt", BT],
  ["bts", BTS],
  ["btr", BTR],
  ["btc", BTC],
] as const) {
  table[`${name}_Ev_Gv`] = {
    o16: bitTest(16, kind, offG16, true),
    o32: bitTest(32, kind, offG32, true),
  };
  table[`${name}_Ev_Ib`] = {
    o16: bitTest(16, kind, offImm, false),
    o32: bitTest(32, kind, offImm, false),
  };
}

export const BIT: Readonly<Record<string, HandlerSpec>> = table;
