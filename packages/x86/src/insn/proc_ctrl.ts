/**
 * Processor control (Bochs proc_ctrl.cc, soft_int.cc): HLT, CPUID, RDTSC/RDTSCP, RDMSR/
 * WRMSR, RDPMC, INVD/WBINVD, INVLPG, MONITOR/MWAIT, XGETBV/XSETBV, UD0/UD1/UD2, ESC/FWAIT
 * without an x87, BOUND, INT n/INT3/INTO/INT1.
 *
 * Order of checks in every sensitive instruction: faults the SDM lists for the instruction
 * (#UD, privilege #GP) first, then the virtualization hook, then the operation — the
 * priority of faults over VM exits of SDM Vol. 3 §26.1.1.
 *
 * x87 (SDM Vol. 3 Table 2-2, "Action taken for combinations of EM, MP and TS"): ESC raises
 * #NM when CR0.EM or CR0.TS is set; WAIT/FWAIT raises #NM only when CR0.MP and CR0.TS are
 * both set. Otherwise, with no x87 unit yet, both do nothing — what a processor whose
 * coprocessor never answers does, and what the 286 vectors show for D8.
 */
import { ea, readMem8, readMem16, readMem32 } from "../access.js";
import type { X86Cpu } from "../cpu.js";
import { privilegedSoftwareException, raiseFault, softwareInterrupt } from "../exception.js";
import type { HandlerSpec } from "../handlers.js";
import {
  EV_CPUID,
  EV_HLT,
  EV_INVD,
  EV_INVLPG,
  EV_MONITOR_MWAIT,
  EV_PAUSE,
  EV_RDMSR,
  EV_RDPMC,
  EV_RDTSC,
  EV_RDTSCP,
  EV_RSM,
  EV_WRMSR,
  EV_XSETBV,
  HOOK_EXIT,
} from "../hooks.js";
import { F_A32 } from "../instr.js";
import { getOF } from "../lazy_flags.js";
import { EFER_NXE, flushAll, invalidatePage } from "../paging.js";
import {
  BP_VECTOR,
  BR_VECTOR,
  CR0_EM,
  CR0_MP,
  CR0_PG,
  CR0_TS,
  CR4_OSXSAVE,
  CR4_PCE,
  CR4_TSD,
  EAX,
  EBX,
  ECX,
  EDX,
  FLAG_IOPL,
  FLAG_VM,
  GP_VECTOR,
  NM_VECTOR,
  OF_VECTOR,
  UD_VECTOR,
} from "../regs.js";
import {
  CPL,
  CR0,
  CR4,
  EFER,
  EIP,
  EXIT_REASON,
  FLAGS,
  HALTED,
  STOP,
  STOP_FAULT,
  STOP_NEXT,
} from "../state.js";
import { faulted } from "./common.js";

/** Ask the hook about `kind`; true when it claimed the event (the instruction stops). */
export function intercepted(cpu: X86Cpu, kind: number): boolean {
  if (cpu.hooks === null) return false;
  cpu.exitInfo[0] = kind;
  if (cpu.hooks.onEvent(cpu, kind) !== HOOK_EXIT) return false;
  cpu.st[STOP] = STOP_FAULT;
  cpu.st[EXIT_REASON] = 3;
  return true;
}

// ---------------------------------------------------------------------------
// Model-specific registers (SDM Vol. 4)

export const MSR_IA32_TSC = 0x10;
export const MSR_IA32_APIC_BASE = 0x1b;
export const MSR_IA32_SYSENTER_CS = 0x174;
export const MSR_IA32_SYSENTER_ESP = 0x175;
export const MSR_IA32_SYSENTER_EIP = 0x176;
export const MSR_IA32_PAT = 0x277;
export const MSR_EFER = 0xc000_0080 | 0;
export const MSR_TSC_AUX = 0xc000_0103 | 0;

/** APIC_BASE at reset: 0xFEE00000, enabled (bit 11), bootstrap processor (bit 8). */
const APIC_BASE_DEFAULT = 0xfee0_0900n;
/** PAT at reset: WB WT UC- UC, twice. */
const PAT_DEFAULT = 0x0007_0406_0007_0406n;

/**
 * MSRs kept as plain values in `cpu.msrs`, with their reset values. TSC and EFER live in
 * the hot state (`counters`, `st[EFER]`); anything else is #GP(0).
 */
const PLAIN_MSRS: ReadonlyMap<number, bigint> = new Map([
  [MSR_IA32_APIC_BASE, APIC_BASE_DEFAULT],
  [MSR_IA32_SYSENTER_CS, 0n],
  [MSR_IA32_SYSENTER_ESP, 0n],
  [MSR_IA32_SYSENTER_EIP, 0n],
  [MSR_IA32_PAT, PAT_DEFAULT],
  [MSR_TSC_AUX, 0n],
]);

const TWO32 = 4294967296;

/** The TSC as a float (exact below 2^53): instructions retired plus the offset. */
function tsc(cpu: X86Cpu): number {
  return cpu.counters[0]! + cpu.counters[1]!;
}

/** Write a 64-bit float value into EDX:EAX. */
function setEdxEax(cpu: X86Cpu, v: number): void {
  const hi = Math.floor(v / TWO32);
  cpu.regs[EDX] = hi;
  cpu.regs[EAX] = v - hi * TWO32;
}

/** RDMSR into EDX:EAX; false when the MSR does not exist. */
function readMsr(cpu: X86Cpu, msr: number): boolean {
  if (msr === MSR_IA32_TSC) {
    setEdxEax(cpu, tsc(cpu));
    return true;
  }
  if (msr === MSR_EFER) {
    cpu.regs[EAX] = cpu.st[EFER]!;
    cpu.regs[EDX] = 0;
    return true;
  }
  const reset = PLAIN_MSRS.get(msr);
  if (reset === undefined) return false;
  const v = cpu.msrs.get(msr) ?? reset;
  cpu.regs[EAX] = Number(BigInt.asIntN(32, v));
  cpu.regs[EDX] = Number(BigInt.asIntN(32, v >> 32n));
  return true;
}

/** Memory types a PAT entry may hold (SDM Vol. 3 §12.12.2): UC WC WT WP WB UC-. */
function patValid(lo: number, hi: number): boolean {
  for (let b = 0; b < 32; b += 8) {
    const t1 = (lo >>> b) & 0xff;
    const t2 = (hi >>> b) & 0xff;
    if (t1 === 2 || t1 === 3 || t1 > 7 || t2 === 2 || t2 === 3 || t2 > 7) return false;
  }
  return true;
}

/** The EFER bits this CPU has, from CPUID 8000_0001h.EDX: SCE (11), NXE (20), LME (29). */
function eferSupported(cpu: X86Cpu): number {
  const out = cpu.cpuidOut;
  cpu.cpuid(0x8000_0000 | 0, 0, out);
  if (out[0]! >>> 0 < 0x8000_0001) return 0;
  cpu.cpuid(0x8000_0001 | 0, 0, out);
  const d = out[3]!;
  return (d & (1 << 11) ? 1 : 0) | (d & (1 << 29) ? 1 << 8 : 0) | (d & (1 << 20) ? 1 << 11 : 0);
}

/** WRMSR from EDX:EAX; false when the MSR does not exist or the value is reserved (#GP). */
function writeMsr(cpu: X86Cpu, msr: number, lo: number, hi: number): boolean {
  switch (msr) {
    case MSR_IA32_TSC:
      cpu.counters[1] = (hi >>> 0) * TWO32 + (lo >>> 0) - cpu.counters[0]!;
      return true;
    case MSR_EFER: {
      const old = cpu.st[EFER]!;
      if (hi !== 0 || (lo & ~eferSupported(cpu) & ~(1 << 10)) !== 0) return false;
      // LME may not change while paging is on; LMA (bit 10) is read-only.
      if (cpu.st[CR0]! & CR0_PG && (old ^ lo) & (1 << 8)) return false;
      cpu.st[EFER] = (lo & ~(1 << 10)) | (old & (1 << 10));
      if (((old ^ lo) & EFER_NXE) !== 0) flushAll(cpu);
      return true;
    }
    case MSR_IA32_APIC_BASE:
      // Reserved: bits 0-7, 9, and above a 36-bit physical address.
      if (lo & 0x2ff || hi & ~0xf) return false;
      break;
    case MSR_IA32_PAT:
      if (!patValid(lo, hi)) return false;
      break;
    case MSR_IA32_SYSENTER_ESP:
    case MSR_IA32_SYSENTER_EIP:
    case MSR_IA32_SYSENTER_CS:
    case MSR_TSC_AUX:
      break;
    default:
      return false;
  }
  cpu.msrs.set(msr, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
  return true;
}

// ---------------------------------------------------------------------------
// CPUID-gated instructions

/** CPUID leaf `leaf` register `reg` (0 EAX … 3 EDX) bit `bit`, honouring the max leaf. */
function cpuidBit(cpu: X86Cpu, leaf: number, reg: number, bit: number): boolean {
  const out = cpu.cpuidOut;
  cpu.cpuid(leaf & (0x8000_0000 | 0), 0, out);
  if (out[0]! >>> 0 < leaf >>> 0) return false;
  cpu.cpuid(leaf, 0, out);
  return ((out[reg]! >>> bit) & 1) === 1;
}

function rdtscCommon(cpu: X86Cpu, kind: number): boolean {
  if (cpu.st[CR4]! & CR4_TSD && cpu.st[CPL] !== 0) {
    raiseFault(cpu, GP_VECTOR, 0);
    return false;
  }
  if (intercepted(cpu, kind)) return false;
  setEdxEax(cpu, tsc(cpu));
  return true;
}

/** CPL 0 (real mode included), else #GP(0). */
function needCpl0(cpu: X86Cpu): boolean {
  if (cpu.st[CPL] === 0) return true;
  raiseFault(cpu, GP_VECTOR, 0);
  return false;
}

function bound(cpu: X86Cpu, i: number, o32: boolean): void {
  const seg = cpu.dc.seg[i]!;
  const a = ea(cpu, i);
  let lower: number;
  let upper: number;
  let index: number;
  if (o32) {
    lower = readMem32(cpu, seg, a);
    if (faulted(cpu)) return;
    upper = readMem32(cpu, seg, cpu.dc.flags[i]! & F_A32 ? (a + 4) | 0 : (a + 4) & 0xffff);
    index = cpu.regs[cpu.dc.reg[i]!]!;
  } else {
    lower = (readMem16(cpu, seg, a) << 16) >> 16;
    if (faulted(cpu)) return;
    upper =
      (readMem16(cpu, seg, cpu.dc.flags[i]! & F_A32 ? (a + 2) | 0 : (a + 2) & 0xffff) << 16) >> 16;
    index = (cpu.r16[cpu.dc.reg[i]! << 1]! << 16) >> 16;
  }
  if (faulted(cpu)) return;
  if (index < lower || index > upper) raiseFault(cpu, BR_VECTOR, -1);
}

function nextEip(cpu: X86Cpu, i: number): number {
  return (cpu.st[EIP]! + cpu.dc.len[i]!) | 0;
}

const ud = (cpu: X86Cpu) => raiseFault(cpu, UD_VECTOR, -1);

export const PROC_CTRL: Readonly<Record<string, HandlerSpec>> = {
  /** PAUSE (F3 90): a spin-loop hint; VMX "PAUSE exiting" and the SVM PAUSE intercept. */
  pause: (cpu) => {
    intercepted(cpu, EV_PAUSE);
  },
  /** RSM: there is no system-management mode here, so #UD unless an extension takes it. */
  rsm: (cpu) => {
    if (intercepted(cpu, EV_RSM)) return;
    raiseFault(cpu, UD_VECTOR, -1);
  },
  hlt: (cpu) => {
    if (cpu.st[CPL] !== 0) return raiseFault(cpu, GP_VECTOR, 0);
    if (intercepted(cpu, EV_HLT)) return;
    cpu.st[HALTED] = 1;
    cpu.st[STOP] = STOP_NEXT;
  },
  ud2: ud,
  ud0_Gv_Ev: ud,
  ud1_Gv_Ev: ud,

  cpuid: (cpu) => {
    const regs = cpu.regs;
    const x = cpu.exitInfo;
    x[1] = regs[EAX]!;
    x[2] = regs[ECX]!;
    if (intercepted(cpu, EV_CPUID)) return;
    const out = cpu.cpuidOut;
    cpu.cpuid(regs[EAX]!, regs[ECX]!, out);
    regs[EAX] = out[0]!;
    regs[EBX] = out[1]!;
    regs[ECX] = out[2]!;
    regs[EDX] = out[3]!;
  },
  rdtsc: (cpu) => void rdtscCommon(cpu, EV_RDTSC),
  rdtscp: (cpu) => {
    // RDTSCP: CPUID 8000_0001h.EDX[27]; ECX ← IA32_TSC_AUX.
    if (!cpuidBit(cpu, 0x8000_0001 | 0, 3, 27)) return ud(cpu);
    if (!rdtscCommon(cpu, EV_RDTSCP)) return;
    const aux = cpu.msrs.get(MSR_TSC_AUX);
    cpu.regs[ECX] = aux === undefined ? 0 : Number(BigInt.asIntN(32, aux));
  },
  rdmsr: (cpu) => {
    if (!needCpl0(cpu)) return;
    const msr = cpu.regs[ECX]!;
    cpu.exitInfo[1] = msr;
    if (intercepted(cpu, EV_RDMSR)) return;
    if (!readMsr(cpu, msr)) raiseFault(cpu, GP_VECTOR, 0);
  },
  wrmsr: (cpu) => {
    if (!needCpl0(cpu)) return;
    const regs = cpu.regs;
    const msr = regs[ECX]!;
    const x = cpu.exitInfo;
    x[1] = msr;
    x[2] = regs[EAX]!;
    x[3] = regs[EDX]!;
    if (intercepted(cpu, EV_WRMSR)) return;
    if (!writeMsr(cpu, msr, regs[EAX]!, regs[EDX]!)) raiseFault(cpu, GP_VECTOR, 0);
  },
  rdpmc: (cpu) => {
    // CPL 0 or CR4.PCE; two general counters (ECX 0-1) that do not count here.
    if (cpu.st[CPL] !== 0 && (cpu.st[CR4]! & CR4_PCE) === 0) return raiseFault(cpu, GP_VECTOR, 0);
    const n = cpu.regs[ECX]!;
    if (n !== 0 && n !== 1) return raiseFault(cpu, GP_VECTOR, 0);
    if (intercepted(cpu, EV_RDPMC)) return;
    cpu.regs[EAX] = 0;
    cpu.regs[EDX] = 0;
  },
  invd: (cpu) => {
    if (!needCpl0(cpu)) return;
    cpu.exitInfo[1] = 0;
    intercepted(cpu, EV_INVD);
  },
  wbinvd: (cpu) => {
    if (!needCpl0(cpu)) return;
    cpu.exitInfo[1] = 1;
    intercepted(cpu, EV_INVD);
  },
  invlpg_Mb: (cpu, i) => {
    if (!needCpl0(cpu)) return;
    const lin = (cpu.segBase[cpu.dc.seg[i]!]! + ea(cpu, i)) | 0;
    cpu.exitInfo[1] = lin;
    if (intercepted(cpu, EV_INVLPG)) return;
    invalidatePage(cpu, lin);
    // Blocks found through the old translation may be running: finish this one.
    cpu.st[STOP] = STOP_NEXT;
  },
  monitor: (cpu, i) => {
    // MONITOR: CPUID 1.ECX[3], CPL 0; arms on DS:(E)AX (override allowed).
    if (!cpuidBit(cpu, 1, 2, 3) || cpu.st[CPL] !== 0) return ud(cpu);
    const a = cpu.dc.flags[i]! & F_A32 ? cpu.regs[EAX]! : cpu.regs[EAX]! & 0xffff;
    readMem8(cpu, cpu.dc.seg[i]!, a);
    if (faulted(cpu)) return;
    cpu.exitInfo[1] = 0;
    intercepted(cpu, EV_MONITOR_MWAIT);
  },
  mwait: (cpu) => {
    // MWAIT may return at any time; with no monitor hardware it returns at once.
    if (!cpuidBit(cpu, 1, 2, 3) || cpu.st[CPL] !== 0) return ud(cpu);
    if (cpu.regs[ECX]! !== 0) return raiseFault(cpu, GP_VECTOR, 0);
    cpu.exitInfo[1] = 1;
    intercepted(cpu, EV_MONITOR_MWAIT);
  },
  xgetbv: (cpu) => {
    // No extended state beyond x87: XCR0 is fixed at 1.
    if ((cpu.st[CR4]! & CR4_OSXSAVE) === 0) return ud(cpu);
    if (cpu.regs[ECX] !== 0) return raiseFault(cpu, GP_VECTOR, 0);
    cpu.regs[EAX] = 1;
    cpu.regs[EDX] = 0;
  },
  xsetbv: (cpu) => {
    if ((cpu.st[CR4]! & CR4_OSXSAVE) === 0) return ud(cpu);
    if (!needCpl0(cpu)) return;
    if (intercepted(cpu, EV_XSETBV)) return;
    if (cpu.regs[ECX] !== 0 || cpu.regs[EAX] !== 1 || cpu.regs[EDX] !== 0) {
      raiseFault(cpu, GP_VECTOR, 0);
    }
  },

  esc_Ev: (cpu) => {
    if (cpu.st[CR0]! & (CR0_EM | CR0_TS)) raiseFault(cpu, NM_VECTOR, -1);
  },
  fwait: (cpu) => {
    if ((cpu.st[CR0]! & (CR0_MP | CR0_TS)) === (CR0_MP | CR0_TS)) raiseFault(cpu, NM_VECTOR, -1);
  },

  bound_Gv_Ma: {
    o16: (cpu, i) => bound(cpu, i, false),
    o32: (cpu, i) => bound(cpu, i, true),
  },

  int3: (cpu, i) => softwareInterrupt(cpu, BP_VECTOR, nextEip(cpu, i)),
  int_Ib: (cpu, i) => {
    // VM86 with IOPL < 3: #GP(0) (the CR4.VME redirection bitmap is not modelled yet).
    const f = cpu.st[FLAGS]!;
    if (f & FLAG_VM && (f & FLAG_IOPL) !== FLAG_IOPL) return raiseFault(cpu, GP_VECTOR, 0);
    softwareInterrupt(cpu, cpu.dc.imm[i]! & 0xff, nextEip(cpu, i));
  },
  into: (cpu, i) => {
    if (getOF(cpu.st)) softwareInterrupt(cpu, OF_VECTOR, nextEip(cpu, i));
  },
  int1: (cpu, i) => privilegedSoftwareException(cpu, nextEip(cpu, i)),
};
