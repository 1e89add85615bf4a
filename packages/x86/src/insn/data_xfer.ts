/**
 * Data movement (Bochs data_xfer8/16/32.cc): XCHG, CBW/CWDE/CWD/CDQ, BSWAP, XLAT, CMOVcc,
 * NOP. MOV (every form, moffs included through its E/G alias), LEA and MOVZX/MOVSX are
 * generated into alu.gen.ts.
 */
import {
  ea,
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
import type { HandlerSpec } from "../handlers.js";
import { F_A32 } from "../instr.js";
import { testCC } from "../lazy_flags.js";
import { EAX, EBX, EDX } from "../regs.js";
import { faulted, REG8 } from "./common.js";

const nop = () => {};

export const DATA_XFER: Readonly<Record<string, HandlerSpec>> = {
  nop,
  nop_Ev: nop,
  xchg_Eb_Gb: {
    reg: (cpu, i) => {
      const a = REG8[cpu.dc.rm[i]!]!;
      const b = REG8[cpu.dc.reg[i]!]!;
      const t = cpu.r8[a]!;
      cpu.r8[a] = cpu.r8[b]!;
      cpu.r8[b] = t;
    },
    mem: (cpu, i) => {
      const v = rmwRead8(cpu, cpu.dc.seg[i]!, ea(cpu, i));
      if (faulted(cpu)) return;
      const b = REG8[cpu.dc.reg[i]!]!;
      rmwWrite8(cpu, cpu.r8[b]!);
      cpu.r8[b] = v;
    },
  },
  xchg_Ev_Gv: {
    o16: {
      reg: (cpu, i) => {
        const a = cpu.dc.rm[i]! << 1;
        const b = cpu.dc.reg[i]! << 1;
        const t = cpu.r16[a]!;
        cpu.r16[a] = cpu.r16[b]!;
        cpu.r16[b] = t;
      },
      mem: (cpu, i) => {
        const v = rmwRead16(cpu, cpu.dc.seg[i]!, ea(cpu, i));
        if (faulted(cpu)) return;
        const b = cpu.dc.reg[i]! << 1;
        rmwWrite16(cpu, cpu.r16[b]!);
        cpu.r16[b] = v;
      },
    },
    o32: {
      reg: (cpu, i) => {
        const a = cpu.dc.rm[i]!;
        const b = cpu.dc.reg[i]!;
        const t = cpu.regs[a]!;
        cpu.regs[a] = cpu.regs[b]!;
        cpu.regs[b] = t;
      },
      mem: (cpu, i) => {
        const v = rmwRead32(cpu, cpu.dc.seg[i]!, ea(cpu, i));
        if (faulted(cpu)) return;
        const b = cpu.dc.reg[i]!;
        rmwWrite32(cpu, cpu.regs[b]!);
        cpu.regs[b] = v;
      },
    },
  },
  cbw: {
    o16: (cpu) => {
      cpu.r16[EAX << 1] = (cpu.r8[0]! << 24) >> 24;
    },
    o32: (cpu) => {
      cpu.regs[EAX] = (cpu.r16[EAX << 1]! << 16) >> 16;
    },
  },
  cwd: {
    o16: (cpu) => {
      cpu.r16[EDX << 1] = (cpu.r16[EAX << 1]! << 16) >> 31;
    },
    o32: (cpu) => {
      cpu.regs[EDX] = cpu.regs[EAX]! >> 31;
    },
  },
  bswap_Zv: {
    // With a 16-bit operand the result is undefined; Intel CPUs write zero.
    o16: (cpu, i) => {
      cpu.r16[cpu.dc.rm[i]! << 1] = 0;
    },
    o32: (cpu, i) => {
      const n = cpu.dc.rm[i]!;
      const v = cpu.regs[n]!;
      cpu.regs[n] = ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
    },
  },
  xlat: (cpu, i) => {
    const a =
      cpu.dc.flags[i]! & F_A32
        ? (cpu.regs[EBX]! + cpu.r8[0]!) | 0
        : (cpu.r16[EBX << 1]! + cpu.r8[0]!) & 0xffff;
    const v = readMem8(cpu, cpu.dc.seg[i]!, a);
    if (!faulted(cpu)) cpu.r8[0] = v;
  },
  cmovcc_Gv_Ev: {
    o16: {
      reg: (cpu, i) => {
        if (testCC(cpu.st, cpu.dc.imm2[i]!))
          cpu.r16[cpu.dc.reg[i]! << 1] = cpu.r16[cpu.dc.rm[i]! << 1]!;
      },
      mem: (cpu, i) => {
        const v = readMem16(cpu, cpu.dc.seg[i]!, ea(cpu, i));
        if (!faulted(cpu) && testCC(cpu.st, cpu.dc.imm2[i]!)) cpu.r16[cpu.dc.reg[i]! << 1] = v;
      },
    },
    o32: {
      reg: (cpu, i) => {
        if (testCC(cpu.st, cpu.dc.imm2[i]!)) cpu.regs[cpu.dc.reg[i]!] = cpu.regs[cpu.dc.rm[i]!]!;
      },
      mem: (cpu, i) => {
        const v = readMem32(cpu, cpu.dc.seg[i]!, ea(cpu, i));
        if (!faulted(cpu) && testCC(cpu.st, cpu.dc.imm2[i]!)) cpu.regs[cpu.dc.reg[i]!] = v;
      },
    },
  },
};
