/**
 * SYSENTER / SYSEXIT (SDM Vol. 2B SYSENTER, SYSEXIT; Vol. 3 §5.8.7), in legacy protected
 * mode and virtual-8086 mode; the 64-bit forms come with long mode.
 *
 * Neither reads a descriptor table: CS and SS are loaded with the fixed flat caches the
 * pseudo-code lists, their selectors computed from IA32_SYSENTER_CS — SYSENTER: CS =
 * SYSENTER_CS & FFFCh, SS = CS + 8, ring 0; SYSEXIT: CS = (SYSENTER_CS + 16) | 3,
 * SS = (CS + 8) | 3, ring 3.
 *
 * Both are #UD when the CPUID table does not advertise SEP (CPUID.01H:EDX[11]): a
 * processor without the feature does not have the opcodes. Neither causes a VM exit.
 */
import { recomputeSegment } from "../access.js";
import { canonical } from "../access64.js";
import type { X86Cpu } from "../cpu.js";
import { raiseFault } from "../exception.js";
import type { Handler, HandlerSpec } from "../handlers.js";
import { F_O64 } from "../instr.js";
import { setCpl } from "../paging.js";
import {
  AR_DB,
  AR_DPL_SHIFT,
  AR_G,
  AR_L,
  AR_P,
  AR_S,
  AR_TYPE_ACCESSED,
  AR_TYPE_CODE,
  AR_TYPE_RW,
  CS,
  ECX,
  EDX,
  EFER_LMA,
  ESP,
  FLAG_IF,
  FLAG_RF,
  FLAG_VM,
  GP_VECTOR,
  SS,
  UD_VECTOR,
} from "../regs.js";
import { CPL, EFER, EIP, FLAGS, RIP_HI } from "../state.js";
import { jumped } from "./common.js";
import {
  CPUID_FEATURE,
  cpuHas,
  MSR_IA32_SYSENTER_CS,
  MSR_IA32_SYSENTER_EIP,
  MSR_IA32_SYSENTER_ESP,
  msrLow,
} from "./proc_ctrl.js";

/** Type 11 (execute/read, accessed), S, P, D = 1, G = 1; DPL 0. */
const AR_FLAT_CODE = AR_TYPE_CODE | AR_TYPE_RW | AR_TYPE_ACCESSED | AR_S | AR_P | AR_DB | AR_G;
/** Type 3 (read/write, accessed), S, P, B = 1, G = 1; DPL 0. */
const AR_FLAT_STACK = AR_TYPE_RW | AR_TYPE_ACCESSED | AR_S | AR_P | AR_DB | AR_G;
const DPL3 = 3 << AR_DPL_SHIFT;
/** Base 0, limit FFFFFh with 4 KiB granularity: 4 GiB. */
const FLAT_LIMIT = 0xffff_ffff | 0;

function loadFlat(cpu: X86Cpu, seg: number, selector: number, ar: number): void {
  cpu.segSel[seg] = selector;
  cpu.segBase[seg] = 0;
  cpu.segLimit[seg] = FLAT_LIMIT;
  cpu.segAr[seg] = ar;
  recomputeSegment(cpu, seg);
}

/** IA32_SYSENTER_CS[15:0]; null (after raising the fault) when the checks fail. */
function sysenterCs(cpu: X86Cpu, needCpl0: boolean): number | null {
  if (!cpuHas(cpu, CPUID_FEATURE.SEP)) {
    raiseFault(cpu, UD_VECTOR, -1);
    return null;
  }
  const cs = msrLow(cpu, MSR_IA32_SYSENTER_CS) & 0xffff;
  if (cpu.realMode || (cs & 0xfffc) === 0 || (needCpl0 && cpu.st[CPL] !== 0)) {
    raiseFault(cpu, GP_VECTOR, 0);
    return null;
  }
  return cs;
}

/** The high half of a 64-bit MSR kept in `cpu.msrs`. */
function msrHigh(cpu: X86Cpu, msr: number): number {
  return Number(BigInt.asIntN(32, (cpu.msrs.get(msr) ?? 0n) >> 32n));
}

/** A 64-bit code segment's access rights: as the flat one with L set and D clear. */
const AR_LONG_CODE = (AR_FLAT_CODE & ~AR_DB) | AR_L;

/**
 * SYSENTER (0F 34): to ring 0 at IA32_SYSENTER_EIP with ESP = IA32_SYSENTER_ESP; in
 * IA-32e mode (from 64-bit or compatibility code) into a 64-bit code segment with RSP and
 * RIP from the full MSRs.
 */
const sysenter: Handler = (cpu) => {
  const cs = sysenterCs(cpu, false);
  if (cs === null) return;
  const st = cpu.st;
  const long = (st[EFER]! & EFER_LMA) !== 0;
  st[FLAGS] = st[FLAGS]! & ~(FLAG_VM | FLAG_IF | FLAG_RF);
  const sel = cs & 0xfffc;
  loadFlat(cpu, CS, sel, long ? AR_LONG_CODE : AR_FLAT_CODE);
  setCpl(cpu, 0);
  loadFlat(cpu, SS, (sel + 8) & 0xffff, AR_FLAT_STACK);
  cpu.regs[ESP] = msrLow(cpu, MSR_IA32_SYSENTER_ESP);
  st[EIP] = msrLow(cpu, MSR_IA32_SYSENTER_EIP);
  if (long) {
    cpu.regsHi[ESP] = msrHigh(cpu, MSR_IA32_SYSENTER_ESP);
    st[RIP_HI] = msrHigh(cpu, MSR_IA32_SYSENTER_EIP);
  }
  jumped(cpu);
};

/**
 * SYSEXIT in 64-bit mode: with REX.W to 64-bit code (CS = SYSENTER_CS + 32, RSP = RCX,
 * RIP = RDX, both canonical or #GP(0)); without, to compatibility mode (CS + 16).
 */
const sysexitLong: Handler = (cpu, i) => {
  const cs = sysenterCs(cpu, true);
  if (cs === null) return;
  const to64 = (cpu.dc.flags[i]! & F_O64) !== 0;
  if (to64 && (!canonical(cpu.regsHi[ECX]!) || !canonical(cpu.regsHi[EDX]!))) {
    raiseFault(cpu, GP_VECTOR, 0);
    return;
  }
  const sel = ((cs + (to64 ? 32 : 16)) & 0xffff) | 3;
  loadFlat(cpu, CS, sel, (to64 ? AR_LONG_CODE : AR_FLAT_CODE) | DPL3);
  setCpl(cpu, 3);
  loadFlat(cpu, SS, ((sel + 8) & 0xffff) | 3, AR_FLAT_STACK | DPL3);
  cpu.regs[ESP] = cpu.regs[ECX]!;
  cpu.regsHi[ESP] = to64 ? cpu.regsHi[ECX]! : 0;
  cpu.st[EIP] = cpu.regs[EDX]!;
  cpu.st[RIP_HI] = to64 ? cpu.regsHi[EDX]! : 0;
  jumped(cpu);
};

/** 64-bit mode's SYSENTER and SYSEXIT (Intel; AMD processors make them #UD there). */
export const SYSENTER_SYSEXIT_LONG: Readonly<Record<string, HandlerSpec>> = {
  sysenter,
  sysexit: sysexitLong,
};

export const SYSENTER_SYSEXIT: Readonly<Record<string, HandlerSpec>> = {
  sysenter,
  /**
   * SYSEXIT (0F 35): to ring 3 at EDX with ESP = ECX. Outside 64-bit mode the operand size
   * (66h) does not matter: only REX.W selects the 64-bit return.
   */
  sysexit: (cpu) => {
    const cs = sysenterCs(cpu, true);
    if (cs === null) return;
    const sel = ((cs + 16) & 0xffff) | 3;
    loadFlat(cpu, CS, sel, AR_FLAT_CODE | DPL3);
    setCpl(cpu, 3);
    loadFlat(cpu, SS, ((sel + 8) & 0xffff) | 3, AR_FLAT_STACK | DPL3);
    cpu.regs[ESP] = cpu.regs[ECX]!;
    cpu.st[EIP] = cpu.regs[EDX]!;
    jumped(cpu);
  },
};
