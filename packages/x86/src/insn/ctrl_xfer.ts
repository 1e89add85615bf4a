/**
 * Near control transfers (Bochs ctrl_xfer16/32.cc): Jcc, JMP, CALL, RET, LOOP/LOOPE/LOOPNE,
 * JCXZ/JECXZ. The target is masked to the operand size and checked against the CS limit
 * (#GP(0), SDM Vol. 2 JMP) before EIP changes.
 */
import { ea, getSp, push16, push32, readMem16, readMem32, setSp, spOffset } from "../access.js";
import type { X86Cpu } from "../cpu.js";
import { raiseFault } from "../exception.js";
import type { HandlerSpec } from "../handlers.js";
import { F_A32, F_O32 } from "../instr.js";
import { getZF, testCC } from "../lazy_flags.js";
import { CS, ECX, GP_VECTOR, SS } from "../regs.js";
import { EIP } from "../state.js";
import { faulted, jumped } from "./common.js";

/** Jump to `target` (already computed at full width): mask, check the limit, go. */
export function branchNear(cpu: X86Cpu, i: number, target: number): boolean {
  const t = cpu.dc.flags[i]! & F_O32 ? target : target & 0xffff;
  if (t >>> 0 > cpu.segHi[CS]!) {
    raiseFault(cpu, GP_VECTOR, 0);
    return false;
  }
  cpu.st[EIP] = t;
  jumped(cpu);
  return true;
}

function next(cpu: X86Cpu, i: number): number {
  return (cpu.st[EIP]! + cpu.dc.len[i]!) | 0;
}

const jcc = (cpu: X86Cpu, i: number) => {
  if (testCC(cpu.st, cpu.dc.imm2[i]!)) branchNear(cpu, i, next(cpu, i) + cpu.dc.imm[i]!);
};
const jmpRel = (cpu: X86Cpu, i: number) => {
  branchNear(cpu, i, next(cpu, i) + cpu.dc.imm[i]!);
};

/** The count register of LOOP/JCXZ: CX or ECX by address size. */
function decCount(cpu: X86Cpu, i: number): number {
  if (cpu.dc.flags[i]! & F_A32) {
    const c = (cpu.regs[ECX]! - 1) | 0;
    cpu.regs[ECX] = c;
    return c;
  }
  const c = (cpu.r16[ECX << 1]! - 1) & 0xffff;
  cpu.r16[ECX << 1] = c;
  return c;
}

export const CTRL_XFER: Readonly<Record<string, HandlerSpec>> = {
  jcc_Jb: jcc,
  jcc_Jz: jcc,
  jmp_Jb: jmpRel,
  jmp_Jz: jmpRel,
  jmp_Ev: {
    o16: {
      reg: (cpu, i) => void branchNear(cpu, i, cpu.r16[cpu.dc.rm[i]! << 1]!),
      mem: (cpu, i) => {
        const t = readMem16(cpu, cpu.dc.seg[i]!, ea(cpu, i));
        if (!faulted(cpu)) branchNear(cpu, i, t);
      },
    },
    o32: {
      reg: (cpu, i) => void branchNear(cpu, i, cpu.regs[cpu.dc.rm[i]!]!),
      mem: (cpu, i) => {
        const t = readMem32(cpu, cpu.dc.seg[i]!, ea(cpu, i));
        if (!faulted(cpu)) branchNear(cpu, i, t);
      },
    },
  },
  call_Jz: {
    o16: (cpu, i) => {
      const ret = next(cpu, i);
      const t = (ret + cpu.dc.imm[i]!) & 0xffff;
      if (t > cpu.segHi[CS]!) return raiseFault(cpu, GP_VECTOR, 0);
      push16(cpu, ret);
      if (!faulted(cpu)) branchNear(cpu, i, t);
    },
    o32: (cpu, i) => {
      const ret = next(cpu, i);
      const t = (ret + cpu.dc.imm[i]!) | 0;
      if (t >>> 0 > cpu.segHi[CS]!) return raiseFault(cpu, GP_VECTOR, 0);
      push32(cpu, ret);
      if (!faulted(cpu)) branchNear(cpu, i, t);
    },
  },
  call_Ev: {
    o16: (cpu, i) => {
      const dc = cpu.dc;
      const t =
        dc.flags[i]! & 32 ? readMem16(cpu, dc.seg[i]!, ea(cpu, i)) : cpu.r16[dc.rm[i]! << 1]!;
      if (faulted(cpu)) return;
      if (t > cpu.segHi[CS]!) return raiseFault(cpu, GP_VECTOR, 0);
      push16(cpu, next(cpu, i));
      if (!faulted(cpu)) branchNear(cpu, i, t);
    },
    o32: (cpu, i) => {
      const dc = cpu.dc;
      const t = dc.flags[i]! & 32 ? readMem32(cpu, dc.seg[i]!, ea(cpu, i)) : cpu.regs[dc.rm[i]!]!;
      if (faulted(cpu)) return;
      if (t >>> 0 > cpu.segHi[CS]!) return raiseFault(cpu, GP_VECTOR, 0);
      push32(cpu, next(cpu, i));
      if (!faulted(cpu)) branchNear(cpu, i, t);
    },
  },
  ret: {
    o16: (cpu, i) => {
      const t = readMem16(cpu, SS, getSp(cpu));
      if (faulted(cpu) || !branchNear(cpu, i, t)) return;
      setSp(cpu, spOffset(cpu, 2));
    },
    o32: (cpu, i) => {
      const t = readMem32(cpu, SS, getSp(cpu));
      if (faulted(cpu) || !branchNear(cpu, i, t)) return;
      setSp(cpu, spOffset(cpu, 4));
    },
  },
  ret_Iw: {
    o16: (cpu, i) => {
      const t = readMem16(cpu, SS, getSp(cpu));
      if (faulted(cpu) || !branchNear(cpu, i, t)) return;
      setSp(cpu, spOffset(cpu, 2 + (cpu.dc.imm[i]! & 0xffff)));
    },
    o32: (cpu, i) => {
      const t = readMem32(cpu, SS, getSp(cpu));
      if (faulted(cpu) || !branchNear(cpu, i, t)) return;
      setSp(cpu, spOffset(cpu, 4 + (cpu.dc.imm[i]! & 0xffff)));
    },
  },
  loop_Jb: (cpu, i) => {
    if (decCount(cpu, i) !== 0) branchNear(cpu, i, next(cpu, i) + cpu.dc.imm[i]!);
  },
  loope_Jb: (cpu, i) => {
    if (decCount(cpu, i) !== 0 && getZF(cpu.st) === 1)
      branchNear(cpu, i, next(cpu, i) + cpu.dc.imm[i]!);
  },
  loopne_Jb: (cpu, i) => {
    if (decCount(cpu, i) !== 0 && getZF(cpu.st) === 0)
      branchNear(cpu, i, next(cpu, i) + cpu.dc.imm[i]!);
  },
  jcxz_Jb: (cpu, i) => {
    const c = cpu.dc.flags[i]! & F_A32 ? cpu.regs[ECX]! : cpu.r16[ECX << 1]!;
    if (c === 0) branchNear(cpu, i, next(cpu, i) + cpu.dc.imm[i]!);
  },
};
