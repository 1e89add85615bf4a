/**
 * Processor control (Bochs proc_ctrl.cc, msr.cc, rdrand.cc, soft_int.cc): HLT, CPUID,
 * RDTSC/RDTSCP, RDMSR/WRMSR and the MSR table, RDPMC, RDRAND, INVD/WBINVD, INVLPG,
 * MONITOR/MWAIT, XGETBV/XSETBV, UD0/UD1/UD2, ESC/FWAIT without an x87, BOUND, INT n/INT3/
 * INTO/INT1.
 *
 * MSRs (SDM Vol. 4 Table 2-2) exist as the table `MSRS` says: an MSR whose "introduced
 * as architectural" column is a CPUID condition exists when the embedder's CPUID table
 * advertises it; one introduced with a processor family always exists. Anything else is
 * #GP(0), as is a reserved value.
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
  HOOK_PASS,
} from "../hooks.js";
import { F_A32 } from "../instr.js";
import { getOF, setArithFlags } from "../lazy_flags.js";
import { EFER_NXE, flushAll, invalidatePage, MAX_PHYS_ADDR } from "../paging.js";
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
  FLAG_CF,
  FLAG_IOPL,
  FLAG_VM,
  FLAGS_ARITH,
  FS,
  GP_VECTOR,
  GS,
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
  MSR_CSTAR,
  MSR_FMASK,
  MSR_KERNEL_GS_BASE,
  MSR_LSTAR,
  MSR_STAR,
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

/**
 * Ask the hook about an instruction it may perform itself: HOOK_EXIT stops the instruction
 * (as `intercepted`); HOOK_DONE means the extension did the work and the instruction retires.
 */
function askHook(cpu: X86Cpu, kind: number): number {
  if (cpu.hooks === null) return HOOK_PASS;
  cpu.exitInfo[0] = kind;
  const r = cpu.hooks.onEvent(cpu, kind);
  if (r === HOOK_EXIT) {
    cpu.st[STOP] = STOP_FAULT;
    cpu.st[EXIT_REASON] = 3;
  }
  return r;
}

// ---------------------------------------------------------------------------
// CPUID features

/**
 * CPUID feature bits the instructions and MSRs here depend on: [leaf, register (0 EAX …
 * 3 EDX), bit], as SDM Vol. 2 CPUID (Tables 3-10, 3-11) and Vol. 4 Table 2-2 name them.
 */
export const CPUID_FEATURE = {
  MONITOR: [1, 2, 3],
  VMX: [1, 2, 5],
  SMX: [1, 2, 6],
  EIST: [1, 2, 7],
  X2APIC: [1, 2, 21],
  RDRAND: [1, 2, 30],
  SEP: [1, 3, 11],
  MTRR: [1, 3, 12],
  PAT: [1, 3, 16],
  SGX: [7, 1, 2],
  LA57: [7, 2, 16],
  RDPID: [7, 2, 22],
  SGX_LC: [7, 2, 30],
  SYSCALL: [0x8000_0001 | 0, 3, 11],
  NX: [0x8000_0001 | 0, 3, 20],
  RDTSCP: [0x8000_0001 | 0, 3, 27],
  LM: [0x8000_0001 | 0, 3, 29],
} as const;

export type CpuidFeature = (typeof CPUID_FEATURE)[keyof typeof CPUID_FEATURE];

/**
 * What the CPU's own feature checks read: CPUID leaves (subleaf 0) of the current answering
 * function, asked once per function. An embedder gives a new function when its table
 * changes (as KVM_SET_CPUID2 does), which starts a new cache.
 */
const cpuidLeafCache = new WeakMap<
  X86Cpu,
  { fn: X86Cpu["cpuid"]; leaves: Map<number, Int32Array> }
>();

/** CPUID leaf `leaf` (subleaf 0), cached per answering function; do not modify. */
function cpuidLeaf(cpu: X86Cpu, leaf: number): Int32Array {
  let c = cpuidLeafCache.get(cpu);
  if (!c || c.fn !== cpu.cpuid) {
    c = { fn: cpu.cpuid, leaves: new Map() };
    cpuidLeafCache.set(cpu, c);
  }
  let r = c.leaves.get(leaf);
  if (!r) {
    r = new Int32Array(4);
    cpu.cpuid(leaf, 0, r);
    c.leaves.set(leaf, r);
  }
  return r;
}

/** CPUID leaf `leaf` register `reg` (0 EAX … 3 EDX) bit `bit`, honouring the max leaf. */
function cpuidBit(cpu: X86Cpu, leaf: number, reg: number, bit: number): boolean {
  if (cpuidLeaf(cpu, leaf & (0x8000_0000 | 0))[0]! >>> 0 < leaf >>> 0) return false;
  return ((cpuidLeaf(cpu, leaf)[reg]! >>> bit) & 1) === 1;
}

/** True when the CPUID table the embedder supplied advertises feature `f`. */
export function cpuHas(cpu: X86Cpu, f: CpuidFeature): boolean {
  return cpuidBit(cpu, f[0], f[1], f[2]);
}

// ---------------------------------------------------------------------------
// Model-specific registers (SDM Vol. 4 Table 2-2; RDMSR/WRMSR in Vol. 2)

export const MSR_IA32_TSC = 0x10;
export const MSR_IA32_APIC_BASE = 0x1b;
export const MSR_IA32_FEATURE_CONTROL = 0x3a;
export const MSR_IA32_BIOS_SIGN_ID = 0x8b;
export const MSR_IA32_MTRRCAP = 0xfe;
export const MSR_IA32_SYSENTER_CS = 0x174;
export const MSR_IA32_SYSENTER_ESP = 0x175;
export const MSR_IA32_SYSENTER_EIP = 0x176;
export const MSR_IA32_MISC_ENABLE = 0x1a0;
/** IA32_MTRR_PHYSBASEn = 0x200 + 2n, IA32_MTRR_PHYSMASKn = 0x201 + 2n. */
export const MSR_IA32_MTRR_PHYSBASE0 = 0x200;
export const MSR_IA32_MTRR_FIX64K_00000 = 0x250;
export const MSR_IA32_MTRR_FIX16K_80000 = 0x258;
export const MSR_IA32_MTRR_FIX16K_A0000 = 0x259;
/** IA32_MTRR_FIX4K_C0000 … IA32_MTRR_FIX4K_F8000 are 0x268 … 0x26F. */
export const MSR_IA32_MTRR_FIX4K_C0000 = 0x268;
export const MSR_IA32_PAT = 0x277;
export const MSR_IA32_MTRR_DEF_TYPE = 0x2ff;
export const MSR_EFER = 0xc000_0080 | 0;
export const MSR_IA32_STAR = 0xc000_0081 | 0;
export const MSR_IA32_LSTAR = 0xc000_0082 | 0;
export const MSR_IA32_CSTAR = 0xc000_0083 | 0;
/** IA32_FMASK (AMD: SFMASK): the RFLAGS mask of SYSCALL. */
export const MSR_IA32_FMASK = 0xc000_0084 | 0;
export const MSR_IA32_FS_BASE = 0xc000_0100 | 0;
export const MSR_IA32_GS_BASE = 0xc000_0101 | 0;
export const MSR_IA32_KERNEL_GS_BASE = 0xc000_0102 | 0;
export const MSR_TSC_AUX = 0xc000_0103 | 0;

/** Variable-range MTRR pairs (IA32_MTRRCAP.VCNT). */
const MTRR_VCNT = 8;
/**
 * IA32_MTRRCAP (read-only): VCNT variable ranges, FIX (bit 8) fixed ranges, WC (bit 10)
 * the write-combining type; no SMRR (bit 11).
 */
const MTRRCAP = MTRR_VCNT | (1 << 8) | (1 << 10);
/** APIC_BASE at reset: 0xFEE00000, enabled (bit 11), bootstrap processor (bit 8). */
const APIC_BASE_DEFAULT = 0xfee0_0900n;
const APIC_BASE_EXTD = 1 << 10;
const APIC_BASE_EN = 1 << 11;
/** PAT at reset: WB WT UC- UC, twice. */
const PAT_DEFAULT = 0x0007_0406_0007_0406n;
// IA32_MISC_ENABLE bits (Vol. 4 Table 2-2).
const MISC_FAST_STRINGS = 1 << 0;
const MISC_TCC = 1 << 3;
const MISC_PERFMON_AVAILABLE = 1 << 7;
const MISC_BTS_UNAVAILABLE = 1 << 11;
const MISC_PEBS_UNAVAILABLE = 1 << 12;
const MISC_EIST = 1 << 16;
const MISC_MONITOR = 1 << 18;
const MISC_LIMIT_CPUID = 1 << 22;
const MISC_XTPR_DISABLE = 1 << 23;
/** Bit 34 (bit 2 of the high half): XD Bit Disable. */
const MISC_HI_XD_DISABLE = 1 << 2;
// IA32_FEATURE_CONTROL bits.
const FC_LOCK = 1 << 0;
const FC_VMX_IN_SMX = 1 << 1;
const FC_VMX_OUTSIDE_SMX = 1 << 2;
const FC_SENTER = 0xff00;
const FC_SGX_LC = 1 << 17;
const FC_SGX = 1 << 18;

/** An MSR value being read: low and high halves (no allocation per RDMSR). */
const VAL = new Int32Array(2);

/** How one MSR exists, reads and writes. */
interface MsrSpec {
  /** The CPUID condition under which it exists (Table 2-2, "If CPUID…"); none: always. */
  readonly exists?: (cpu: X86Cpu) => boolean;
  /** Put its value in VAL. */
  readonly read: (cpu: X86Cpu, msr: number) => void;
  /** Store EDX:EAX = hi:lo; false when the value is reserved (WRMSR #GP(0)). */
  readonly write: (cpu: X86Cpu, msr: number, lo: number, hi: number) => boolean;
}

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

function setVal(v: bigint): void {
  VAL[0] = Number(BigInt.asIntN(32, v));
  VAL[1] = Number(BigInt.asIntN(32, v >> 32n));
}

function store(cpu: X86Cpu, msr: number, lo: number, hi: number): void {
  cpu.msrs.set(msr, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
}

type Reset = bigint | ((cpu: X86Cpu) => bigint);

function resetValue(cpu: X86Cpu, reset: Reset): bigint {
  return typeof reset === "bigint" ? reset : reset(cpu);
}

/** An MSR held in `cpu.msrs` (absent = its reset value); `valid` decides WRMSR's #GP. */
function plain(
  reset: Reset,
  valid: (cpu: X86Cpu, lo: number, hi: number) => boolean = () => true,
  exists?: (cpu: X86Cpu) => boolean,
): MsrSpec {
  return {
    exists,
    read: (cpu, msr) => setVal(cpu.msrs.get(msr) ?? resetValue(cpu, reset)),
    write: (cpu, msr, lo, hi) => {
      if (!valid(cpu, lo, hi)) return false;
      store(cpu, msr, lo, hi);
      return true;
    },
  };
}

/** An MSR kept in st[slot] (low half) and st[slot + 1] (high half); 0 at reset. */
function hot(
  slot: number,
  valid: (cpu: X86Cpu, lo: number, hi: number) => boolean,
  exists: (cpu: X86Cpu) => boolean,
): MsrSpec {
  return {
    exists,
    read: (cpu) => {
      VAL[0] = cpu.st[slot]!;
      VAL[1] = cpu.st[slot + 1]!;
    },
    write: (cpu, _msr, lo, hi) => {
      if (!valid(cpu, lo, hi)) return false;
      cpu.st[slot] = lo;
      cpu.st[slot + 1] = hi;
      return true;
    },
  };
}

const longMode = (cpu: X86Cpu) => cpuHas(cpu, CPUID_FEATURE.LM);
const mtrrs = (cpu: X86Cpu) => cpuHas(cpu, CPUID_FEATURE.MTRR);

/**
 * Bits 63:32 of a canonical linear address: bits 63:47 all equal (63:56 with 5-level
 * paging support, CPUID.7.0:ECX.LA57, whether or not CR4.LA57 is set).
 */
function canonicalHi(cpu: X86Cpu, hi: number): boolean {
  const t = hi >> (cpuHas(cpu, CPUID_FEATURE.LA57) ? 24 : 15);
  return t === 0 || t === -1;
}

const canonical = (cpu: X86Cpu, _lo: number, hi: number) => canonicalHi(cpu, hi);
const highZero = (_cpu: X86Cpu, _lo: number, hi: number) => hi === 0;
/** Physical-address bits above MAXPHYADDR (paging.ts MAX_PHYS_ADDR) in a high half. */
const PHYS_HI_RSVD = ~((1 << (MAX_PHYS_ADDR - 32)) - 1);

/** Memory types an MTRR may hold (SDM Vol. 3 Table 12-8): UC WC WT WP WB (WC: MTRRCAP.WC). */
function mtrrType(t: number): boolean {
  return t === 0 || t === 1 || t === 4 || t === 5 || t === 6;
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

/** A fixed-range MTRR: eight one-byte memory types. */
function fixedRangeValid(_cpu: X86Cpu, lo: number, hi: number): boolean {
  for (let b = 0; b < 32; b += 8) {
    if (!mtrrType((lo >>> b) & 0xff) || !mtrrType((hi >>> b) & 0xff)) return false;
  }
  return true;
}

/** The EFER bits this CPU has, from CPUID 8000_0001h.EDX: SCE (11), NXE (20), LME (29). */
function eferSupported(cpu: X86Cpu): number {
  if (cpuidLeaf(cpu, 0x8000_0000 | 0)[0]! >>> 0 < 0x8000_0001) return 0;
  const d = cpuidLeaf(cpu, 0x8000_0001 | 0)[3]!;
  return (d & (1 << 11) ? 1 : 0) | (d & (1 << 29) ? 1 << 8 : 0) | (d & (1 << 20) ? 1 << 11 : 0);
}

/**
 * IA32_FS_BASE / IA32_GS_BASE: the FS / GS base in the segment cache (segBase, segBaseHi);
 * a segment load sets a 32-bit base and clears bits 63:32.
 */
function segmentBase(seg: number): MsrSpec {
  return {
    exists: longMode,
    read: (cpu) => {
      VAL[0] = cpu.segBase[seg]!;
      VAL[1] = cpu.segBaseHi[seg]!;
    },
    write: (cpu, _msr, lo, hi) => {
      if (!canonicalHi(cpu, hi)) return false;
      cpu.segBase[seg] = lo;
      cpu.segBaseHi[seg] = hi;
      return true;
    },
  };
}

/**
 * IA32_SYSENTER_ESP / IA32_SYSENTER_EIP: 64-bit and canonical on a CPU with Intel 64;
 * 32-bit before (EDX is dropped).
 */
const sysenterAddress: MsrSpec = {
  read: (cpu, msr) => setVal(cpu.msrs.get(msr) ?? 0n),
  write: (cpu, msr, lo, hi) => {
    if (!longMode(cpu)) store(cpu, msr, lo, 0);
    else if (canonicalHi(cpu, hi)) store(cpu, msr, lo, hi);
    else return false;
    return true;
  },
};

/**
 * IA32_MISC_ENABLE. Fast strings (0), TCC (3), EIST (16, when CPUID.1:ECX.EIST) and xTPR
 * disable (23) are read/write. Performance monitoring available (7), BTS unavailable (11),
 * PEBS unavailable (12) are read-only. ENABLE MONITOR FSM (18), Limit CPUID Maxval (22)
 * and XD Bit Disable (34, when NX exists) would change what CPUID reports, and the CPUID
 * table is the embedder's: they keep their reset values here (writes to them are
 * ignored). Any other bit set is reserved: #GP(0).
 */
function miscEnableReset(cpu: X86Cpu): bigint {
  const monitor = cpuHas(cpu, CPUID_FEATURE.MONITOR) ? MISC_MONITOR : 0;
  return BigInt(MISC_FAST_STRINGS | MISC_BTS_UNAVAILABLE | MISC_PEBS_UNAVAILABLE | monitor);
}

const miscEnable: MsrSpec = {
  read: (cpu, msr) => setVal(cpu.msrs.get(msr) ?? miscEnableReset(cpu)),
  write: (cpu, msr, lo, hi) => {
    const eist = cpuHas(cpu, CPUID_FEATURE.EIST) ? MISC_EIST : 0;
    const rw = MISC_FAST_STRINGS | MISC_TCC | MISC_XTPR_DISABLE | eist;
    const fixed = MISC_PERFMON_AVAILABLE | MISC_BTS_UNAVAILABLE | MISC_PEBS_UNAVAILABLE;
    const defined = rw | fixed | MISC_MONITOR | MISC_LIMIT_CPUID;
    const definedHi = cpuHas(cpu, CPUID_FEATURE.NX) ? MISC_HI_XD_DISABLE : 0;
    if ((lo & ~defined) !== 0 || (hi & ~definedHi) !== 0) return false;
    miscEnable.read(cpu, msr);
    store(cpu, msr, (VAL[0]! & ~rw) | (lo & rw), VAL[1]!);
    return true;
  },
};

/**
 * IA32_FEATURE_CONTROL exists when one of its fields does (VMX, SMX, SGX, SGX launch
 * control). Firmware has locked it (bit 0) with VMX enabled outside SMX (bit 2) when VMX
 * is advertised. A write while locked is #GP(0); an embedder may store an unlocked value
 * in `cpu.msrs` to let the guest's firmware write it.
 */
function featureControlBits(cpu: X86Cpu): number {
  const vmx = cpuHas(cpu, CPUID_FEATURE.VMX);
  const smx = cpuHas(cpu, CPUID_FEATURE.SMX);
  return (
    FC_LOCK |
    (vmx ? FC_VMX_OUTSIDE_SMX : 0) |
    (vmx && smx ? FC_VMX_IN_SMX : 0) |
    (smx ? FC_SENTER | (1 << 15) : 0) |
    (cpuHas(cpu, CPUID_FEATURE.SGX_LC) ? FC_SGX_LC : 0) |
    (cpuHas(cpu, CPUID_FEATURE.SGX) ? FC_SGX : 0)
  );
}

const featureControl: MsrSpec = {
  exists: (cpu) =>
    cpuHas(cpu, CPUID_FEATURE.VMX) ||
    cpuHas(cpu, CPUID_FEATURE.SMX) ||
    cpuHas(cpu, CPUID_FEATURE.SGX) ||
    cpuHas(cpu, CPUID_FEATURE.SGX_LC),
  read: (cpu, msr) => {
    const v = cpu.msrs.get(msr);
    if (v !== undefined) return setVal(v);
    VAL[0] = FC_LOCK | (cpuHas(cpu, CPUID_FEATURE.VMX) ? FC_VMX_OUTSIDE_SMX : 0);
    VAL[1] = 0;
  },
  write: (cpu, msr, lo, hi) => {
    featureControl.read(cpu, msr);
    if (VAL[0]! & FC_LOCK || hi !== 0 || (lo & ~featureControlBits(cpu)) !== 0) return false;
    store(cpu, msr, lo, 0);
    return true;
  },
};

/**
 * IA32_APIC_BASE: reserved bits 0–7, 9, 10 (EXTD, without x2APIC) and those above
 * MAXPHYADDR. x2APIC mode (EN = EXTD = 1) is entered only from xAPIC mode and left only
 * by disabling the APIC; EXTD without EN is invalid (SDM Vol. 3 §11.12.5).
 */
function apicBaseValid(cpu: X86Cpu, lo: number, hi: number): boolean {
  const extd = cpuHas(cpu, CPUID_FEATURE.X2APIC) ? APIC_BASE_EXTD : 0;
  if (lo & 0x6ff & ~extd || hi & PHYS_HI_RSVD) return false;
  const mode = (v: number) => v & (APIC_BASE_EN | APIC_BASE_EXTD);
  const from = mode(
    Number(BigInt.asIntN(32, cpu.msrs.get(MSR_IA32_APIC_BASE) ?? APIC_BASE_DEFAULT)),
  );
  const to = mode(lo);
  const x2 = APIC_BASE_EN | APIC_BASE_EXTD;
  if (to === APIC_BASE_EXTD) return false;
  if (to === x2 && from === 0) return false;
  if (from === x2 && to === APIC_BASE_EN) return false;
  return true;
}

/** Every MSR this CPU has; anything else is #GP(0). */
const MSRS = new Map<number, MsrSpec>([
  [
    MSR_IA32_TSC,
    {
      read: (cpu) => {
        const v = tsc(cpu);
        const hi = Math.floor(v / TWO32);
        VAL[0] = v - hi * TWO32;
        VAL[1] = hi;
      },
      write: (cpu, _msr, lo, hi) => {
        cpu.counters[1] = (hi >>> 0) * TWO32 + (lo >>> 0) - cpu.counters[0]!;
        return true;
      },
    },
  ],
  [MSR_IA32_APIC_BASE, plain(APIC_BASE_DEFAULT, apicBaseValid)],
  [MSR_IA32_FEATURE_CONTROL, featureControl],
  // Written with 0 before CPUID leaf 1, which loads the microcode revision (0) into 63:32.
  [MSR_IA32_BIOS_SIGN_ID, plain(0n)],
  [MSR_IA32_MTRRCAP, { exists: mtrrs, read: () => setVal(BigInt(MTRRCAP)), write: () => false }],
  [MSR_IA32_SYSENTER_CS, plain(0n)],
  [MSR_IA32_SYSENTER_ESP, sysenterAddress],
  [MSR_IA32_SYSENTER_EIP, sysenterAddress],
  [MSR_IA32_MISC_ENABLE, miscEnable],
  [
    MSR_IA32_PAT,
    plain(
      PAT_DEFAULT,
      (_c, lo, hi) => patValid(lo, hi),
      (cpu) => cpuHas(cpu, CPUID_FEATURE.PAT),
    ),
  ],
  [
    MSR_IA32_MTRR_DEF_TYPE,
    // Type (7:0), FE (10), E (11).
    plain(0n, (_c, lo, hi) => hi === 0 && (lo & ~0xcff) === 0 && mtrrType(lo & 0xff), mtrrs),
  ],
  [MSR_IA32_MTRR_FIX64K_00000, plain(0n, fixedRangeValid, mtrrs)],
  [MSR_IA32_MTRR_FIX16K_80000, plain(0n, fixedRangeValid, mtrrs)],
  [MSR_IA32_MTRR_FIX16K_A0000, plain(0n, fixedRangeValid, mtrrs)],
  ...Array.from({ length: 8 }, (_, k): [number, MsrSpec] => [
    MSR_IA32_MTRR_FIX4K_C0000 + k,
    plain(0n, fixedRangeValid, mtrrs),
  ]),
  ...Array.from({ length: MTRR_VCNT * 2 }, (_, k): [number, MsrSpec] => [
    MSR_IA32_MTRR_PHYSBASE0 + k,
    k % 2 === 0
      ? // PHYSBASE: type (7:0), reserved 11:8, PhysBase up to MAXPHYADDR.
        plain(
          0n,
          (_c, lo, hi) => (lo & 0xf00) === 0 && mtrrType(lo & 0xff) && !(hi & PHYS_HI_RSVD),
          mtrrs,
        )
      : // PHYSMASK: reserved 10:0, V (11), PhysMask up to MAXPHYADDR.
        plain(0n, (_c, lo, hi) => (lo & 0x7ff) === 0 && !(hi & PHYS_HI_RSVD), mtrrs),
  ]),
  [
    MSR_EFER,
    {
      read: (cpu) => {
        VAL[0] = cpu.st[EFER]!;
        VAL[1] = 0;
      },
      write: (cpu, _msr, lo, hi) => {
        const old = cpu.st[EFER]!;
        if (hi !== 0 || (lo & ~eferSupported(cpu) & ~(1 << 10)) !== 0) return false;
        // LME may not change while paging is on; LMA (bit 10) is read-only.
        if (cpu.st[CR0]! & CR0_PG && (old ^ lo) & (1 << 8)) return false;
        cpu.st[EFER] = (lo & ~(1 << 10)) | (old & (1 << 10));
        if (((old ^ lo) & EFER_NXE) !== 0) flushAll(cpu);
        return true;
      },
    },
  ],
  // STAR also exists on processors with SYSCALL in legacy mode (AMD: CPUID 8000_0001h.EDX[11]).
  [
    MSR_IA32_STAR,
    hot(
      MSR_STAR,
      () => true,
      (cpu) => longMode(cpu) || cpuHas(cpu, CPUID_FEATURE.SYSCALL),
    ),
  ],
  [MSR_IA32_LSTAR, hot(MSR_LSTAR, canonical, longMode)],
  [MSR_IA32_CSTAR, hot(MSR_CSTAR, canonical, longMode)],
  [MSR_IA32_FMASK, hot(MSR_FMASK, highZero, longMode)],
  [MSR_IA32_FS_BASE, segmentBase(FS)],
  [MSR_IA32_GS_BASE, segmentBase(GS)],
  [MSR_IA32_KERNEL_GS_BASE, hot(MSR_KERNEL_GS_BASE, canonical, longMode)],
  [
    MSR_TSC_AUX,
    plain(
      0n,
      highZero,
      (cpu) => cpuHas(cpu, CPUID_FEATURE.RDTSCP) || cpuHas(cpu, CPUID_FEATURE.RDPID),
    ),
  ],
]);

function msrSpec(cpu: X86Cpu, msr: number): MsrSpec | null {
  const spec = MSRS.get(msr);
  if (spec === undefined || (spec.exists !== undefined && !spec.exists(cpu))) return null;
  return spec;
}

/** RDMSR into EDX:EAX; false when the MSR does not exist. */
function readMsr(cpu: X86Cpu, msr: number): boolean {
  const spec = msrSpec(cpu, msr);
  if (spec === null) return false;
  spec.read(cpu, msr);
  cpu.regs[EAX] = VAL[0]!;
  cpu.regs[EDX] = VAL[1]!;
  return true;
}

/** WRMSR from EDX:EAX; false when the MSR does not exist or the value is reserved (#GP). */
function writeMsr(cpu: X86Cpu, msr: number, lo: number, hi: number): boolean {
  const spec = msrSpec(cpu, msr);
  if (spec === null) return false;
  return spec.write(cpu, msr, lo, hi);
}

/**
 * An MSR's value as KVM_GET_MSRS reads it, or null when this CPU (its CPUID table) does
 * not have it.
 */
export function getMsr(cpu: X86Cpu, msr: number): bigint | null {
  const spec = msrSpec(cpu, msr | 0);
  if (spec === null) return null;
  spec.read(cpu, msr | 0);
  return (BigInt(VAL[1]! >>> 0) << 32n) | BigInt(VAL[0]! >>> 0);
}

/**
 * Write an MSR as WRMSR would (KVM_SET_MSRS): false when the MSR does not exist or the
 * value is reserved (where WRMSR raises #GP(0)).
 */
export function setMsr(cpu: X86Cpu, msr: number, value: bigint): boolean {
  const v = BigInt.asUintN(64, value);
  return writeMsr(cpu, msr | 0, Number(v & 0xffff_ffffn) | 0, Number(v >> 32n) | 0);
}

/** Bits 31:0 of MSR `msr`, which must be one this CPU has (SYSENTER reads its MSRs so). */
export function msrLow(cpu: X86Cpu, msr: number): number {
  MSRS.get(msr)!.read(cpu, msr);
  return VAL[0]!;
}

// ---------------------------------------------------------------------------
// CPUID-gated instructions

function rdtscCommon(cpu: X86Cpu, kind: number): boolean {
  if (cpu.st[CR4]! & CR4_TSD && cpu.st[CPL] !== 0) {
    raiseFault(cpu, GP_VECTOR, 0);
    return false;
  }
  if (intercepted(cpu, kind)) return false;
  setEdxEax(cpu, tsc(cpu));
  return true;
}

/**
 * RDRAND (SDM Vol. 2 RDRAND): #UD unless CPUID.1:ECX.RDRAND[30]; a random value is always
 * available, so CF = 1 and OF SF ZF AF PF = 0. True when the destination is to be written.
 */
function rdrand(cpu: X86Cpu): boolean {
  if (!cpuHas(cpu, CPUID_FEATURE.RDRAND)) {
    ud(cpu);
    return false;
  }
  setArithFlags(cpu.st, FLAGS_ARITH, FLAG_CF);
  return true;
}

/** The Web Crypto random source where the host has one (Node ≥ 19, browsers). */
interface RandomSource {
  getRandomValues(array: Uint32Array): Uint32Array;
}
const RANDOM = new Uint32Array(1);

/** 32 random bits: crypto.getRandomValues, else Math.random. */
function random32(): number {
  const c = (globalThis as { crypto?: RandomSource }).crypto;
  if (c !== undefined && typeof c.getRandomValues === "function") {
    c.getRandomValues(RANDOM);
    return RANDOM[0]! | 0;
  }
  return (Math.random() * TWO32) | 0;
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
    // Leaf 1 loads the microcode update signature (0: none) into IA32_BIOS_SIGN_ID[63:32].
    if (regs[EAX] === 1) cpu.msrs.delete(MSR_IA32_BIOS_SIGN_ID);
    cpu.cpuid(regs[EAX]!, regs[ECX]!, out);
    regs[EAX] = out[0]!;
    regs[EBX] = out[1]!;
    regs[ECX] = out[2]!;
    regs[EDX] = out[3]!;
  },
  rdtsc: (cpu) => void rdtscCommon(cpu, EV_RDTSC),
  rdtscp: (cpu) => {
    // RDTSCP: CPUID 8000_0001h.EDX[27]; ECX ← IA32_TSC_AUX[31:0].
    if (!cpuHas(cpu, CPUID_FEATURE.RDTSCP)) return ud(cpu);
    if (!rdtscCommon(cpu, EV_RDTSCP)) return;
    cpu.regs[ECX] = msrLow(cpu, MSR_TSC_AUX);
  },
  rdrand_Rv: {
    o16: (cpu, i) => {
      if (!rdrand(cpu)) return;
      cpu.r16[cpu.dc.rm[i]! << 1] = random32();
    },
    o32: (cpu, i) => {
      if (!rdrand(cpu)) return;
      cpu.regs[cpu.dc.rm[i]!] = random32();
    },
  },
  rdmsr: (cpu) => {
    if (!needCpl0(cpu)) return;
    const msr = cpu.regs[ECX]!;
    cpu.exitInfo[1] = msr;
    // HOOK_DONE: an MSR the extension implements (SVM's VM_CR …); it has set EDX:EAX.
    if (askHook(cpu, EV_RDMSR) !== HOOK_PASS) return;
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
    if (askHook(cpu, EV_WRMSR) !== HOOK_PASS) return;
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
    cpu.exitInfo[2] = 0;
    if (intercepted(cpu, EV_INVLPG)) return;
    invalidatePage(cpu, lin);
    // Blocks found through the old translation may be running: finish this one.
    cpu.st[STOP] = STOP_NEXT;
  },
  monitor: (cpu, i) => {
    // MONITOR: CPUID 1.ECX[3], CPL 0; arms on DS:(E)AX (override allowed).
    if (!cpuHas(cpu, CPUID_FEATURE.MONITOR) || cpu.st[CPL] !== 0) return ud(cpu);
    const a = cpu.dc.flags[i]! & F_A32 ? cpu.regs[EAX]! : cpu.regs[EAX]! & 0xffff;
    readMem8(cpu, cpu.dc.seg[i]!, a);
    if (faulted(cpu)) return;
    cpu.exitInfo[1] = 0;
    intercepted(cpu, EV_MONITOR_MWAIT);
  },
  mwait: (cpu) => {
    // MWAIT may return at any time; with no monitor hardware it returns at once.
    if (!cpuHas(cpu, CPUID_FEATURE.MONITOR) || cpu.st[CPL] !== 0) return ud(cpu);
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

  /**
   * The x87 escapes without a handler of their own (the control instructions are in
   * sse.ts): #NM when CR0.EM or CR0.TS is set, else nothing. The encodings are valid, so
   * not #UD; and the SDM defines no result for an absent x87 with CR0.EM clear — system
   * software is to set EM when CPUID.01H:EDX.FPU is 0, and then every escape is #NM for
   * its emulator (Vol. 3 §9.2.1, Table 2-2). 64-bit mode runs this handler too.
   */
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
