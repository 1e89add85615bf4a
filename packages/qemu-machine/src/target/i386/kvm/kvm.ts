/**
 * target/i386/kvm/kvm.c — the CPUID and MSR side of x86 KVM in QEMU:
 *
 *   kvm_arch_get_supported_cpuid   KVM_GET_SUPPORTED_CPUID (buffer doubled from 1 entry
 *                                  while the kernel says E2BIG), then QEMU's fixups: HT,
 *                                  hypervisor, TSC-deadline with an in-kernel irqchip,
 *                                  ARAT, AMD alias bits, TOPOEXT …
 *   kvm_arch_get_supported_msr_feature   KVM_GET_MSR_FEATURE_INDEX_LIST + KVM_GET_MSRS on
 *                                  /dev/kvm (VMX capability MSRs: "can be 1, need not be")
 *   kvm_arch_init_vcpu             KVM leaves 0x40000000/1, every CPUID leaf of the model
 *                                  (kvm_x86_build_cpuid), MCE setup, KVM_SET_CPUID2, and the
 *                                  initial KVM_SET_MSRS (kvm_init_msrs)
 *
 * Everything goes through HostOs ioctls with the uapi's struct codecs. QEMU keeps the
 * supported table and the MSR lists in globals; here they are cached per (HostOs, /dev/kvm
 * fd). Deviation: QEMU refuses a kernel without KVM_CAP_MCE in kvm_init; kvm_arch_init_vcpu
 * here skips the MCE ioctls on such a kernel instead (the glassvm kernel has no MCE).
 */
import {
  _IOR,
  _IOW,
  decodeKvmCpuid2,
  decodeKvmMsrList,
  decodeKvmMsrs,
  E2BIG,
  ENOTSUP,
  ENXIO,
  encodeKvmCpuid2,
  encodeKvmMsrList,
  encodeKvmMsrs,
  type HostOs,
  KVM_CAP_GET_MSR_FEATURES,
  KVM_CAP_GET_TSC_KHZ,
  KVM_CAP_MCE,
  KVM_CAP_TSC_CONTROL,
  KVM_CAP_TSC_DEADLINE_TIMER,
  KVM_CAP_XSAVE2,
  KVM_CHECK_EXTENSION,
  KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
  KVM_CPUID_FLAG_STATE_READ_NEXT,
  KVM_CPUID_FLAG_STATEFUL_FUNC,
  KVM_GET_MSR_FEATURE_INDEX_LIST,
  KVM_GET_MSR_INDEX_LIST,
  KVM_GET_MSRS,
  KVM_GET_SUPPORTED_CPUID,
  KVM_GET_TSC_KHZ,
  KVM_SET_CPUID2,
  KVM_SET_MSRS,
  KVM_SET_TSC_KHZ,
  KVMIO,
  type KvmCpuidEntry2,
  KvmError,
  type KvmMsrEntry,
  kvmMsrListNmsrs,
  strerror,
} from "@glassvm/kvm-kernel/uapi";
import { QomError, warnReport } from "@glassvm/qom";
import {
  type CpuidRegs,
  cpuX86Cpuid,
  KVM_MP_STATE_RUNNABLE,
  KVM_MP_STATE_UNINITIALIZED,
  type X86CPU,
  x86CpuFamily,
  x86CpuIsBsp,
  x86HasCpuid0x1f,
} from "../cpu.js";
import {
  CPUID_6_EAX_ARAT,
  CPUID_7_0_EBX_ERMS,
  CPUID_7_0_EBX_HLE,
  CPUID_7_0_EBX_RTM,
  CPUID_7_0_EBX_SGX,
  CPUID_7_0_EDX_ARCH_CAPABILITIES,
  CPUID_7_0_EDX_FSRM,
  CPUID_7_1_EAX_FSRC,
  CPUID_7_1_EAX_FSRS,
  CPUID_7_1_EAX_FZRM,
  CPUID_7_2_EDX_MCDT_NO,
  CPUID_8000_0007_EBX_OVERFLOW_RECOV,
  CPUID_8000_0007_EBX_SUCCOR,
  CPUID_APM_INVTSC,
  CPUID_EXT_HYPERVISOR,
  CPUID_EXT_MONITOR,
  CPUID_EXT_RDRAND,
  CPUID_EXT_SMX,
  CPUID_EXT_TSC_DEADLINE_TIMER,
  CPUID_EXT_VMX,
  CPUID_EXT_X2APIC,
  CPUID_EXT2_AMD_ALIASES,
  CPUID_EXT2_RDTSCP,
  CPUID_EXT3_TOPOEXT,
  CPUID_HT,
  CPUID_KVM_HINTS_REALTIME,
  CPUID_KVM_MSI_EXT_DEST_ID,
  CPUID_KVM_PV_UNHALT,
  CPUID_MCA,
  CPUID_MCE,
  CPUID_MTRR,
  CPUID_PAT,
  CPUID_XSAVE_XSAVES,
  type CpuidRegister,
  FEAT_1_EDX,
  FEAT_8000_0007_EDX,
  FEAT_ARCH_CAPABILITIES,
  FEAT_CORE_CAPABILITY,
  FEAT_KVM,
  FEAT_KVM_HINTS,
  FEAT_PERF_CAPABILITIES,
  MSR_IA32_ARCH_CAPABILITIES,
  MSR_IA32_CORE_CAPABILITY,
  MSR_IA32_PERF_CAPABILITIES,
  MSR_IA32_UCODE_REV,
  MSR_IA32_VMX_PROCBASED_CTLS2,
  MSR_IA32_VMX_TRUE_ENTRY_CTLS,
  MSR_IA32_VMX_TRUE_EXIT_CTLS,
  MSR_IA32_VMX_TRUE_PINBASED_CTLS,
  MSR_IA32_VMX_TRUE_PROCBASED_CTLS,
  R_EAX,
  R_EBX,
  R_ECX,
  R_EDX,
  VMX_SECONDARY_EXEC_ENABLE_INVPCID,
  VMX_SECONDARY_EXEC_RDRAND_EXITING,
  VMX_SECONDARY_EXEC_RDSEED_EXITING,
  VMX_SECONDARY_EXEC_RDTSCP,
  VMX_SECONDARY_EXEC_XSAVES,
} from "../cpu-features.js";
import { hostCpuid } from "../host-cpu.js";

/** QEMU's KVM_MAX_CPUID_ENTRIES (kvm_i386.h): room in kvm_arch_init_vcpu's table. */
export const KVM_MAX_CPUID_ENTRIES = 100;
/** KVM's paravirt leaves (linux/kvm_para.h). */
export const KVM_CPUID_SIGNATURE = 0x4000_0000;
export const KVM_CPUID_FEATURES = 0x4000_0001;
/** "KVMKVMKVM\0\0\0" as EBX, ECX, EDX. */
export const KVM_SIGNATURE_EBX = 0x4b4d_564b;
export const KVM_SIGNATURE_ECX = 0x564b_4d56;
export const KVM_SIGNATURE_EDX = 0x0000_004d;
/** 1 ns APIC bus cycle: 1 GHz (arch/x86/kvm/lapic.h). */
export const KVM_APIC_BUS_FREQUENCY = 1_000_000_000;

/** Capabilities and ioctls the uapi package does not list. */
const KVM_CAP_SYS_ATTRIBUTES = 209;
const KVM_CAP_ENFORCE_PV_FEATURE_CPUID = 190;
const KVM_GET_DEVICE_ATTR = _IOW(KVMIO, 0xe2, 24);
const KVM_X86_XCOMP_GUEST_SUPP = 0;
/** KVM_X86_GET_MCE_CAP_SUPPORTED: _IOR(KVMIO, 0x9d, __u64) = 0x8008ae9d. */
export const KVM_X86_GET_MCE_CAP_SUPPORTED = _IOR(KVMIO, 0x9d, 8);
/** KVM_X86_SETUP_MCE: _IOW(KVMIO, 0x9c, __u64) = 0x4008ae9c. */
export const KVM_X86_SETUP_MCE = _IOW(KVMIO, 0x9c, 8);
const KVM_ENABLE_CAP = _IOW(KVMIO, 0xa3, 104);
const MCG_CAP_BANKS_MASK = 0xffn;
const MCG_LMCE_P = 1n << 27n;

/** How the accelerator was configured (kvm_irqchip_in_kernel() and friends). */
export interface KvmX86Options {
  /** kernel-irqchip=on|split (default on, the pc machine's default). */
  readonly irqchipInKernel?: boolean;
  /** kernel-irqchip=split. */
  readonly irqchipSplit?: boolean;
  /** -overcommit cpu-pm=on. */
  readonly enableCpuPm?: boolean;
  /** error_report's sink for kvm_arch_init_vcpu's messages (default: stderr). */
  readonly errorReport?: (message: string) => void;
}

// ---------------------------------------------------------------------------
// Per-/dev/kvm state (QEMU's statics in kvm.c)

interface KvmX86State {
  cpuidCache: KvmCpuidEntry2[] | null;
  /** KVM_GET_MSR_INDEX_LIST (kvm_get_supported_msrs). */
  msrIndexList: Set<number> | null;
  /** KVM_GET_MSR_FEATURE_INDEX_LIST; null when the kernel has no feature MSRs. */
  featureMsrs: number[] | null | undefined;
}

let states = new WeakMap<HostOs, Map<number, KvmX86State>>();

function kvmState(os: HostOs, kvmFd: number): KvmX86State {
  let byFd = states.get(os);
  if (!byFd) {
    byFd = new Map();
    states.set(os, byFd);
  }
  let s = byFd.get(kvmFd);
  if (!s) {
    s = { cpuidCache: null, msrIndexList: null, featureMsrs: undefined };
    byFd.set(kvmFd, s);
  }
  return s;
}

/** Forget every cached table (a new QEMU process; for tests). */
export function kvmI386ResetCaches(): void {
  states = new WeakMap();
}

function checkExtension(os: HostOs, fd: number, cap: number): number {
  const r = os.ioctl(fd, KVM_CHECK_EXTENSION, cap);
  return Math.max(r, 0);
}

// ---------------------------------------------------------------------------
// KVM_GET_SUPPORTED_CPUID

/** `try_get_cpuid`: null when `max` entries are too few (E2BIG, or exactly full). */
function tryGetCpuid(os: HostOs, kvmFd: number, max: number): KvmCpuidEntry2[] | null {
  const buf = encodeKvmCpuid2([], max);
  let r = os.ioctl(kvmFd, KVM_GET_SUPPORTED_CPUID, buf);
  const entries = r === 0 ? decodeKvmCpuid2(buf) : [];
  if (r === 0 && entries.length >= max) r = -E2BIG;
  if (r < 0) {
    if (r === -E2BIG) return null;
    // QEMU prints "KVM_GET_SUPPORTED_CPUID failed: <strerror>" and exits.
    throw new KvmError(-r, "KVM_GET_SUPPORTED_CPUID");
  }
  return entries;
}

/**
 * `get_supported_cpuid`: the kernel's supported-CPUID table, asking with room for 1
 * entry, then 2, 4, … until it fits (cached).
 */
export function kvmGetSupportedCpuidTable(os: HostOs, kvmFd: number): KvmCpuidEntry2[] {
  const s = kvmState(os, kvmFd);
  if (s.cpuidCache) return s.cpuidCache;
  let max = 1;
  let table = tryGetCpuid(os, kvmFd, max);
  while (table === null) {
    max *= 2;
    table = tryGetCpuid(os, kvmFd, max);
  }
  s.cpuidCache = table;
  return table;
}

/** `cpuid_find_entry`: exact function and index (flags not consulted). */
export function cpuidFindEntry(
  entries: readonly KvmCpuidEntry2[],
  fn: number,
  index: number,
): KvmCpuidEntry2 | undefined {
  return entries.find((e) => e.function === fn >>> 0 && e.index === index >>> 0);
}

/** `cpuid_entry_get_reg`. */
export function cpuidEntryGetReg(e: KvmCpuidEntry2, reg: CpuidRegister): number {
  switch (reg) {
    case R_EAX:
      return e.eax >>> 0;
    case R_EBX:
      return e.ebx >>> 0;
    case R_ECX:
      return e.ecx >>> 0;
    default:
      return e.edx >>> 0;
  }
}

/** What {@link kvmArchGetSupportedCpuidFromTable} needs besides the table. */
export interface KvmSupportedCpuidContext extends KvmX86Options {
  /** KVM_CHECK_EXTENSION on /dev/kvm (default: nothing supported). */
  readonly checkExtension?: (cap: number) => number;
  /** MSR_IA32_ARCH_CAPABILITIES is in KVM_GET_MSR_INDEX_LIST. */
  readonly hasMsrArchCapabs?: boolean;
  /** KVM_GET_DEVICE_ATTR(0, KVM_X86_XCOMP_GUEST_SUPP), or a negative errno. */
  readonly xcompGuestSupp?: () => bigint | number;
}

const hostTsxBroken = (): boolean => {
  const l0 = hostCpuid(0, 0);
  const l1 = hostCpuid(1, 0).eax;
  const intel = l0.ebx === 0x756e_6547 && l0.edx === 0x4965_6e69 && l0.ecx === 0x6c65_746e;
  const family = ((l1 >>> 8) & 0xf) + ((l1 >>> 20) & 0xff);
  const model = ((l1 >>> 4) & 0xf) | ((l1 & 0xf_0000) >>> 12);
  const stepping = l1 & 0xf;
  return (
    intel &&
    family === 6 &&
    ((model === 63 && stepping < 4) || model === 60 || model === 69 || model === 70)
  );
};

const n32 = (v: bigint): number => Number(v & 0xffff_ffffn);

/**
 * `kvm_arch_get_supported_cpuid` on a given supported-CPUID table: the register, with
 * QEMU's fixups for what KVM under-reports (MTRR/PAT/MCE/MCA, HT, hypervisor, TSC deadline
 * with an in-kernel irqchip, ARAT, the host's ERMS/FSRM, AMD alias bits, TOPOEXT, the KVM
 * hints) or over-reports (x2apic without an in-kernel irqchip, broken TSX, PV unhalt).
 */
export function kvmArchGetSupportedCpuidFromTable(
  table: readonly KvmCpuidEntry2[],
  fn: number,
  index: number,
  reg: CpuidRegister,
  ctx: KvmSupportedCpuidContext = {},
): number {
  fn >>>= 0;
  const inKernel = ctx.irqchipInKernel ?? true;
  const split = ctx.irqchipSplit ?? false;
  const check = ctx.checkExtension ?? (() => 0);
  const entry = cpuidFindEntry(table, fn, index);
  let ret = entry ? cpuidEntryGetReg(entry, reg) : 0;

  if (fn === 1 && reg === R_EDX) {
    // Old KVM misreported these; HT is fine whenever vCPUs > 1.
    ret |= n32(CPUID_MTRR | CPUID_PAT | CPUID_MCE | CPUID_MCA | CPUID_HT);
  } else if (fn === 1 && reg === R_ECX) {
    ret |= n32(CPUID_EXT_HYPERVISOR);
    if (inKernel && check(KVM_CAP_TSC_DEADLINE_TIMER)) ret |= n32(CPUID_EXT_TSC_DEADLINE_TIMER);
    if (!inKernel) ret &= ~n32(CPUID_EXT_X2APIC);
    if (ctx.enableCpuPm) {
      const KVM_CAP_X86_DISABLE_EXITS = 143;
      const KVM_X86_DISABLE_EXITS_MWAIT = 1 << 0;
      if (check(KVM_CAP_X86_DISABLE_EXITS) & KVM_X86_DISABLE_EXITS_MWAIT) {
        ret |= n32(CPUID_EXT_MONITOR);
      }
    }
  } else if (fn === 6 && reg === R_EAX) {
    ret |= n32(CPUID_6_EAX_ARAT); // safe with an emulated APIC
  } else if (fn === 7 && index === 0 && reg === R_EBX) {
    ret |= hostCpuid(7, 0).ebx & n32(CPUID_7_0_EBX_ERMS);
    if (hostTsxBroken()) ret &= ~n32(CPUID_7_0_EBX_RTM | CPUID_7_0_EBX_HLE);
  } else if (fn === 7 && index === 0 && reg === R_EDX) {
    ret |= hostCpuid(7, 0).edx & n32(CPUID_7_0_EDX_FSRM);
    if (!ctx.hasMsrArchCapabs) ret &= ~n32(CPUID_7_0_EDX_ARCH_CAPABILITIES);
  } else if (fn === 7 && index === 1 && reg === R_EAX) {
    ret |= hostCpuid(7, 1).eax & n32(CPUID_7_1_EAX_FZRM | CPUID_7_1_EAX_FSRS | CPUID_7_1_EAX_FSRC);
  } else if (fn === 7 && index === 2 && reg === R_EDX) {
    ret |= hostCpuid(7, 2).edx & n32(CPUID_7_2_EDX_MCDT_NO);
  } else if (fn === 0xd && index === 0 && (reg === R_EAX || reg === R_EDX)) {
    // Components needing arch_prctl permission are only in the device attribute.
    if (!check(KVM_CAP_SYS_ATTRIBUTES) || !ctx.xcompGuestSupp) return ret >>> 0;
    const bitmask = ctx.xcompGuestSupp();
    if (typeof bitmask === "number") {
      if (bitmask !== -ENXIO) {
        warnReport(`KVM_GET_DEVICE_ATTR(0, KVM_X86_XCOMP_GUEST_SUPP) error: ${bitmask}`);
      }
      return ret >>> 0;
    }
    ret = reg === R_EAX ? n32(bitmask) : n32(bitmask >> 32n);
  } else if (fn === 0x8000_0001 && reg === R_ECX) {
    // TOPOEXT is safe to offer even when KVM does not list it.
    ret |= n32(CPUID_EXT3_TOPOEXT);
  } else if (fn === 0x8000_0001 && reg === R_EDX) {
    // KVM answers the Intel way; add the AMD copies of the 1.EDX bits.
    ret |= kvmArchGetSupportedCpuidFromTable(table, 1, 0, R_EDX, ctx) & n32(CPUID_EXT2_AMD_ALIASES);
  } else if (fn === 0x8000_0007 && reg === R_EBX) {
    ret |= n32(CPUID_8000_0007_EBX_OVERFLOW_RECOV | CPUID_8000_0007_EBX_SUCCOR);
  } else if (fn === KVM_CPUID_FEATURES && reg === R_EAX) {
    if (!inKernel) ret &= ~n32(CPUID_KVM_PV_UNHALT);
    if (split) ret |= n32(CPUID_KVM_MSI_EXT_DEST_ID);
  } else if (fn === KVM_CPUID_FEATURES && reg === R_EDX) {
    ret |= n32(CPUID_KVM_HINTS_REALTIME);
  }
  return ret >>> 0;
}

/** `kvm_get_supported_msrs`: the KVM_GET_MSR_INDEX_LIST, sized first as QEMU does. */
export function kvmGetSupportedMsrs(os: HostOs, kvmFd: number): Set<number> {
  const s = kvmState(os, kvmFd);
  if (s.msrIndexList) return s.msrIndexList;
  s.msrIndexList = new Set(msrList(os, kvmFd, KVM_GET_MSR_INDEX_LIST, "KVM_GET_MSR_INDEX_LIST"));
  return s.msrIndexList;
}

function msrList(os: HostOs, kvmFd: number, request: number, name: string): number[] {
  const probe = encodeKvmMsrList(0);
  const r = os.ioctl(kvmFd, request, probe);
  if (r < 0 && r !== -E2BIG) throw new KvmError(-r, name);
  const n = kvmMsrListNmsrs(probe);
  const buf = encodeKvmMsrList(Math.max(n, 1024 / 4));
  const r2 = os.ioctl(kvmFd, request, buf);
  if (r2 < 0) throw new KvmError(-r2, name);
  return decodeKvmMsrList(buf);
}

function makeContext(os: HostOs, kvmFd: number, opts: KvmX86Options): KvmSupportedCpuidContext {
  return {
    ...opts,
    checkExtension: (cap) => checkExtension(os, kvmFd, cap),
    hasMsrArchCapabs: kvmGetSupportedMsrs(os, kvmFd).has(MSR_IA32_ARCH_CAPABILITIES),
    xcompGuestSupp: () => {
      const addr = os.mmap(-1, 4096);
      if (addr < 0) return addr;
      try {
        const attr = new Uint8Array(24);
        const dv = new DataView(attr.buffer);
        dv.setUint32(4, 0, true); // group
        dv.setBigUint64(8, BigInt(KVM_X86_XCOMP_GUEST_SUPP), true);
        dv.setBigUint64(16, BigInt(addr), true);
        const r = os.ioctl(kvmFd, KVM_GET_DEVICE_ATTR, attr);
        if (r < 0) return r;
        return new DataView(os.view(addr, 8).slice().buffer).getBigUint64(0, true);
      } finally {
        os.munmap(addr, 4096);
      }
    },
  };
}

/**
 * `kvm_arch_get_supported_cpuid(s, function, index, reg)`: what KVM lets a guest see in
 * one CPUID register, from KVM_GET_SUPPORTED_CPUID on `kvmFd` (/dev/kvm) plus QEMU's
 * fixups. Throws KvmError when the ioctl fails for another reason than E2BIG.
 */
export function kvmArchGetSupportedCpuid(
  os: HostOs,
  kvmFd: number,
  fn: number,
  index: number,
  reg: CpuidRegister,
  opts: KvmX86Options = {},
): number {
  const table = kvmGetSupportedCpuidTable(os, kvmFd);
  return kvmArchGetSupportedCpuidFromTable(table, fn, index, reg, makeContext(os, kvmFd, opts));
}

/** All four registers of a supported leaf (x86_cpu_get_supported_cpuid under KVM). */
export function kvmArchGetSupportedCpuidRegs(
  os: HostOs,
  kvmFd: number,
  fn: number,
  index: number,
  opts: KvmX86Options = {},
): CpuidRegs {
  const table = kvmGetSupportedCpuidTable(os, kvmFd);
  const ctx = makeContext(os, kvmFd, opts);
  const get = (reg: CpuidRegister) => kvmArchGetSupportedCpuidFromTable(table, fn, index, reg, ctx);
  return { eax: get(R_EAX), ebx: get(R_EBX), ecx: get(R_ECX), edx: get(R_EDX) };
}

// ---------------------------------------------------------------------------
// Feature MSRs

/** `kvm_get_supported_feature_msrs`: null when the kernel has none (no capability). */
function kvmGetSupportedFeatureMsrs(os: HostOs, kvmFd: number): number[] | null {
  const s = kvmState(os, kvmFd);
  if (s.featureMsrs !== undefined) return s.featureMsrs;
  s.featureMsrs = checkExtension(os, kvmFd, KVM_CAP_GET_MSR_FEATURES)
    ? msrList(os, kvmFd, KVM_GET_MSR_FEATURE_INDEX_LIST, "KVM_GET_MSR_FEATURE_INDEX_LIST")
    : null;
  return s.featureMsrs;
}

const MSR_ARCH_CAP_MDS_NO = 1n << 5n;
const MSR_ARCH_CAP_TAA_NO = 1n << 8n;
const MSR_ARCH_CAP_SBDR_SSDP_NO = 1n << 13n;
const MSR_ARCH_CAP_FBSDP_NO = 1n << 14n;
const MSR_ARCH_CAP_PSDP_NO = 1n << 15n;
const MSR_ARCH_CAP_FB_CLEAR = 1n << 17n;

/**
 * `kvm_arch_get_supported_msr_feature`: a feature MSR's value as KVM reports it through
 * /dev/kvm, 0 when it is not a feature MSR there. For the VMX control MSRs the result is
 * the controls that may be 1 but need not be (QEMU's feature-word meaning).
 */
export function kvmArchGetSupportedMsrFeature(
  os: HostOs,
  kvmFd: number,
  index: number,
  opts: KvmX86Options = {},
): bigint {
  const list = kvmGetSupportedFeatureMsrs(os, kvmFd);
  if (!list?.includes(index)) return 0n;
  const buf = encodeKvmMsrs([{ index, data: 0n }]);
  const ret = os.ioctl(kvmFd, KVM_GET_MSRS, buf);
  if (ret !== 1) {
    throw new QomError(
      "assertion",
      `KVM get MSR (index=0x${index.toString(16)}) feature failed, ${strerror(-ret)}`,
      { fatal: true, operation: "kvm_arch_get_supported_msr_feature" },
    );
  }
  let value = decodeKvmMsrs(buf)[0]!.data;
  switch (index) {
    case MSR_IA32_VMX_PROCBASED_CTLS2:
    case MSR_IA32_VMX_TRUE_PINBASED_CTLS:
    case MSR_IA32_VMX_TRUE_PROCBASED_CTLS:
    case MSR_IA32_VMX_TRUE_ENTRY_CTLS:
    case MSR_IA32_VMX_TRUE_EXIT_CTLS: {
      if (
        index === MSR_IA32_VMX_PROCBASED_CTLS2 &&
        !kvmGetSupportedMsrs(os, kvmFd).has(MSR_IA32_VMX_PROCBASED_CTLS2)
      ) {
        // KVM forgot these secondary controls for a while; derive them from CPUID.
        const sup = (fn: number, idx: number, reg: CpuidRegister) =>
          BigInt(kvmArchGetSupportedCpuid(os, kvmFd, fn, idx, reg, opts));
        if (sup(0xd, 1, R_ECX) & CPUID_XSAVE_XSAVES) value |= VMX_SECONDARY_EXEC_XSAVES << 32n;
        if (sup(1, 0, R_ECX) & CPUID_EXT_RDRAND) value |= VMX_SECONDARY_EXEC_RDRAND_EXITING << 32n;
        if (sup(7, 0, R_EBX) & (1n << 10n)) value |= VMX_SECONDARY_EXEC_ENABLE_INVPCID << 32n;
        if (sup(7, 0, R_EBX) & (1n << 18n)) value |= VMX_SECONDARY_EXEC_RDSEED_EXITING << 32n;
        if (sup(0x8000_0001, 0, R_EDX) & CPUID_EXT2_RDTSCP) {
          value |= VMX_SECONDARY_EXEC_RDTSCP << 32n;
        }
      }
      const mustBeOne = value & 0xffff_ffffn;
      const canBeOne = value >> 32n;
      return canBeOne & ~mustBeOne;
    }
    case MSR_IA32_ARCH_CAPABILITIES: {
      // Expose FB_CLEAR when the host is immune to what it mitigates (migration).
      const immune =
        MSR_ARCH_CAP_MDS_NO |
        MSR_ARCH_CAP_TAA_NO |
        MSR_ARCH_CAP_SBDR_SSDP_NO |
        MSR_ARCH_CAP_FBSDP_NO |
        MSR_ARCH_CAP_PSDP_NO;
      if ((value & immune) === immune) value |= MSR_ARCH_CAP_FB_CLEAR;
      return value;
    }
    default:
      return value;
  }
}

// ---------------------------------------------------------------------------
// kvm_x86_build_cpuid

function cpuidEntry(
  cpu: X86CPU,
  fn: number,
  index: number,
  flags: number,
): KvmCpuidEntry2 & CpuidRegs {
  const r = cpuX86Cpuid(cpu.env, cpu, fn, index);
  return { function: fn >>> 0, index, flags, eax: r.eax, ebx: r.ebx, ecx: r.ecx, edx: r.edx };
}

function cpuidDataFull(i: number, j: number): QomError {
  return new QomError(
    "assertion",
    `cpuid_data is full, no space for cpuid(eax:0x${i.toString(16)},ecx:0x${j.toString(16)})`,
    { fatal: true, operation: "kvm_x86_build_cpuid" },
  );
}

const isZero = (e: CpuidRegs): boolean => !e.eax && !e.ebx && !e.ecx && !e.edx;

/**
 * `kvm_x86_build_cpuid`: append the model's CPUID leaves to `entries` — basic leaves
 * 0…level (subleaf-indexed leaves 4, 7, 0xB, 0xD, 0x1F, … flagged
 * KVM_CPUID_FLAG_SIGNIFCANT_INDEX, all-zero plain leaves left out), extended leaves
 * 0x80000000…xlevel, Centaur leaves when xlevel2 is set.
 */
export function kvmX86BuildCpuid(cpu: X86CPU, entries: KvmCpuidEntry2[] = []): KvmCpuidEntry2[] {
  const env = cpu.env;
  const push = (e: KvmCpuidEntry2, i: number, j: number) => {
    if (entries.length === KVM_MAX_CPUID_ENTRIES) throw cpuidDataFull(i, j);
    entries.push(e);
  };

  const limit = cpuX86Cpuid(env, cpu, 0, 0).eax;
  for (let i = 0; i <= limit; i++) {
    switch (i) {
      case 2: {
        const first = cpuidEntry(cpu, i, 0, 0);
        const times = first.eax & 0xff;
        if (times > 1) first.flags = KVM_CPUID_FLAG_STATEFUL_FUNC | KVM_CPUID_FLAG_STATE_READ_NEXT;
        push(first, i, 0);
        for (let j = 1; j < times; j++) {
          push(cpuidEntry(cpu, i, 0, KVM_CPUID_FLAG_STATEFUL_FUNC), i, j);
        }
        break;
      }
      case 0x1f:
      case 4:
      case 0xb:
      case 0xd: {
        if (i === 0x1f && !x86HasCpuid0x1f(cpu)) break;
        for (let j = 0; ; j++) {
          const e = cpuidEntry(cpu, i, j, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
          // 0xD lists only the components present (up to subleaf 63).
          if (i === 0xd && e.eax === 0) {
            if (j < 63) continue;
            break;
          }
          push(e, i, j);
          if (i === 4 && e.eax === 0) break;
          if ((i === 0xb || i === 0x1f) && (e.ecx & 0xff00) === 0) break;
        }
        break;
      }
      case 0x12:
        for (let j = 0; ; j++) {
          const e = cpuidEntry(cpu, i, j, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
          push(e, i, j);
          if (j > 1 && (e.eax & 0xf) !== 1) break;
        }
        break;
      case 7:
      case 0x14:
      case 0x1d:
      case 0x1e:
      case 0x24: {
        const first = cpuidEntry(cpu, i, 0, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
        push(first, i, 0);
        for (let j = 1; j <= first.eax; j++) {
          push(cpuidEntry(cpu, i, j, KVM_CPUID_FLAG_SIGNIFCANT_INDEX), i, j);
        }
        break;
      }
      default: {
        const e = cpuidEntry(cpu, i, 0, 0);
        // KVM answers zeros for a missing leaf; leaving them out saves entries.
        if (!isZero(e)) push(e, i, 0);
      }
    }
  }

  const xlimit = cpuX86Cpuid(env, cpu, 0x8000_0000, 0).eax;
  for (let i = 0x8000_0000; i <= xlimit; i++) {
    if (i === 0x8000_001d) {
      for (let j = 0; ; j++) {
        const e = cpuidEntry(cpu, i, j, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
        push(e, i, j);
        if (e.eax === 0) break;
      }
      continue;
    }
    const e = cpuidEntry(cpu, i, 0, 0);
    if (!isZero(e)) push(e, i, 0);
  }

  if (env.cpuidXlevel2 > 0) {
    const climit = cpuX86Cpuid(env, cpu, 0xc000_0000, 0).eax;
    for (let i = 0xc000_0000; i <= climit; i++) push(cpuidEntry(cpu, i, 0, 0), i, 0);
  }
  return entries;
}

// ---------------------------------------------------------------------------
// kvm_arch_init_vcpu

/** `kvm_arch_init_vcpu`'s inputs besides the vCPU fd: /dev/kvm and the accel config. */
export interface KvmArchInitVcpuOptions extends KvmX86Options {
  /** The /dev/kvm fd (kvm_state->fd): capability checks and system ioctls. */
  readonly kvmFd: number;
}

/** What kvm_arch_init_vcpu sent, for traces and tests. */
export interface KvmArchInitVcpuResult {
  readonly cpuid: readonly KvmCpuidEntry2[];
  readonly msrs: readonly KvmMsrEntry[];
}

const lastInit = new WeakMap<X86CPU, KvmArchInitVcpuResult>();

/** The CPUID table and MSRs the last kvm_arch_init_vcpu of `cpu` handed to KVM. */
export function kvmArchInitVcpuResult(cpu: X86CPU): KvmArchInitVcpuResult | undefined {
  return lastInit.get(cpu);
}

/** `freq_within_bounds`: within NTP's 250 ppm. */
function freqWithinBounds(freq: number, target: number): boolean {
  const max = freq + Math.trunc((freq * 250) / 1_000_000);
  const min = freq - Math.trunc((freq * 250) / 1_000_000);
  return target >= min && target <= max;
}

/** `kvm_arch_set_tsc_khz`: ask for a user-set TSC frequency. 0 or -errno. */
function kvmArchSetTscKhz(os: HostOs, vcpuFd: number, cpu: X86CPU, kvmFd: number): number {
  const env = cpu.env;
  if (!env.tscKhz) return 0;
  const getKhz = () =>
    checkExtension(os, kvmFd, KVM_CAP_GET_TSC_KHZ) ? os.ioctl(vcpuFd, KVM_GET_TSC_KHZ) : -ENOTSUP;
  let curFreq = getKhz();
  let setIoctl = checkExtension(os, kvmFd, KVM_CAP_TSC_CONTROL) > 0;
  if (curFreq !== -ENOTSUP && freqWithinBounds(curFreq, env.tscKhz)) setIoctl = true;
  const r = setIoctl ? os.ioctl(vcpuFd, KVM_SET_TSC_KHZ, env.tscKhz) : -ENOTSUP;
  if (r < 0) {
    curFreq = getKhz();
    if (curFreq <= 0 || curFreq !== env.tscKhz) {
      warnReport(
        `TSC frequency mismatch between VM (${env.tscKhz} kHz) and host (${curFreq} kHz), and TSC scaling unavailable`,
      );
      return r;
    }
  }
  return 0;
}

const tscIsStableAndKnown = (cpu: X86CPU): boolean =>
  !!cpu.env.tscKhz &&
  ((cpu.env.features[FEAT_8000_0007_EDX]! & CPUID_APM_INVTSC) !== 0n || !!cpu.env.userTscKhz);

/**
 * `kvm_arch_init_vcpu` (CPUID and MSR part) for `vcpuFd`: TSC frequency, the KVM
 * signature and feature leaves, every leaf of the model, MCE setup, KVM_SET_CPUID2, then
 * the initial KVM_SET_MSRS (ARCH_CAPABILITIES, CORE_CAPABILITY, PERF_CAPABILITIES with a
 * PMU, UCODE_REV — each when KVM lists the MSR). Returns 0 or a negative errno, as QEMU's
 * caller expects (`kvm_init_vcpu: kvm_arch_init_vcpu failed (<id>): <strerror>`).
 */
export function kvmArchInitVcpu(
  os: HostOs,
  vcpuFd: number,
  cpu: X86CPU,
  opts: KvmArchInitVcpuOptions,
): number {
  const env = cpu.env;
  const kvmFd = opts.kvmFd;
  const report = opts.errorReport ?? ((m: string) => console.error(m));
  const entries: KvmCpuidEntry2[] = [];

  checkExtension(os, kvmFd, KVM_CAP_XSAVE2);

  let r = kvmArchSetTscKhz(os, vcpuFd, cpu, kvmFd);
  if (r < 0) return r;
  // Without a user frequency, remember KVM's so it migrates.
  if (!env.tscKhz) {
    r = checkExtension(os, kvmFd, KVM_CAP_GET_TSC_KHZ)
      ? os.ioctl(vcpuFd, KVM_GET_TSC_KHZ)
      : -ENOTSUP;
    if (r > 0) env.tscKhz = r;
  }
  env.apicBusFreq = KVM_APIC_BUS_FREQUENCY;

  // Hyper-V and Xen leaves are not modelled: KVM's own leaves start at 0x40000000.
  const kvmBase = KVM_CPUID_SIGNATURE;
  if (cpu.exposeKvm) {
    entries.push({
      function: KVM_CPUID_SIGNATURE | kvmBase,
      index: 0,
      flags: 0,
      eax: KVM_CPUID_FEATURES | kvmBase,
      ebx: KVM_SIGNATURE_EBX,
      ecx: KVM_SIGNATURE_ECX,
      edx: KVM_SIGNATURE_EDX,
    });
    entries.push({
      function: KVM_CPUID_FEATURES | kvmBase,
      index: 0,
      flags: 0,
      eax: n32(env.features[FEAT_KVM]!),
      ebx: 0,
      ecx: 0,
      edx: n32(env.features[FEAT_KVM_HINTS]!),
    });
  }

  if (cpu.kvmPvEnforceCpuid) {
    const cap = new Uint8Array(104);
    const dv = new DataView(cap.buffer);
    dv.setUint32(0, KVM_CAP_ENFORCE_PV_FEATURE_CPUID, true);
    dv.setBigUint64(8, 1n, true);
    r = os.ioctl(vcpuFd, KVM_ENABLE_CAP, cap);
    if (r < 0) {
      throw new QomError(
        "assertion",
        `failed to enable KVM_CAP_ENFORCE_PV_FEATURE_CPUID: ${strerror(-r)}`,
        { fatal: true, operation: "kvm_arch_init_vcpu" },
      );
    }
  }

  try {
    kvmX86BuildCpuid(cpu, entries);
  } catch (err) {
    if (err instanceof QomError) report(err.message);
    throw err;
  }

  const mce = CPUID_MCE | CPUID_MCA;
  const banks = checkExtension(os, kvmFd, KVM_CAP_MCE);
  if (x86CpuFamily(env.cpuidVersion) >= 6 && (env.features[FEAT_1_EDX]! & mce) === mce && banks) {
    const capBuf = new Uint8Array(8);
    r = os.ioctl(kvmFd, KVM_X86_GET_MCE_CAP_SUPPORTED, capBuf);
    if (r < 0) {
      report(`kvm_get_mce_cap_supported: ${strerror(-r)}`);
      return r;
    }
    const mcgCap = new DataView(capBuf.buffer).getBigUint64(0, true);
    if (BigInt(banks) < (env.mcgCap & MCG_CAP_BANKS_MASK)) {
      report(
        `kvm: Unsupported MCE bank count (QEMU = ${env.mcgCap & MCG_CAP_BANKS_MASK}, KVM = ${banks})`,
      );
      return -ENOTSUP;
    }
    const unsupported = env.mcgCap & ~(mcgCap | MCG_CAP_BANKS_MASK);
    if (unsupported) {
      if (unsupported & MCG_LMCE_P) {
        report("kvm: LMCE not supported");
        return -ENOTSUP;
      }
      warnReport(`Unsupported MCG_CAP bits: 0x${unsupported.toString(16)}`);
    }
    env.mcgCap &= mcgCap | MCG_CAP_BANKS_MASK;
    const setup = new Uint8Array(8);
    new DataView(setup.buffer).setBigUint64(0, env.mcgCap, true);
    r = os.ioctl(vcpuFd, KVM_X86_SETUP_MCE, setup);
    if (r < 0) {
      report(`KVM_X86_SETUP_MCE: ${strerror(-r)}`);
      return r;
    }
  }

  // VMware's TSC/APIC-bus frequency leaf, when the KVM leaves are visible and TSC is known.
  if (
    cpu.vmwareCpuidFreq &&
    cpu.exposeKvm &&
    kvmBase === KVM_CPUID_SIGNATURE &&
    tscIsStableAndKnown(cpu)
  ) {
    if (entries.length === KVM_MAX_CPUID_ENTRIES)
      throw cpuidDataFull(KVM_CPUID_SIGNATURE | 0x10, 0);
    entries.push({
      function: KVM_CPUID_SIGNATURE | 0x10,
      index: 0,
      flags: 0,
      eax: env.tscKhz,
      ebx: env.apicBusFreq / 1000,
      ecx: 0,
      edx: 0,
    });
    const sig = cpuidFindEntry(entries, kvmBase, 0);
    if (sig) sig.eax = Math.max(sig.eax, KVM_CPUID_SIGNATURE | 0x10);
  }

  r = os.ioctl(vcpuFd, KVM_SET_CPUID2, encodeKvmCpuid2(entries));
  if (r) return r;

  // kvm_init_msrs: the MSRs whose value is fixed by the CPU model.
  const supported = kvmGetSupportedMsrs(os, kvmFd);
  const msrs: KvmMsrEntry[] = [];
  if (supported.has(MSR_IA32_ARCH_CAPABILITIES)) {
    msrs.push({ index: MSR_IA32_ARCH_CAPABILITIES, data: env.features[FEAT_ARCH_CAPABILITIES]! });
  }
  if (supported.has(MSR_IA32_CORE_CAPABILITY)) {
    msrs.push({ index: MSR_IA32_CORE_CAPABILITY, data: env.features[FEAT_CORE_CAPABILITY]! });
  }
  if (supported.has(MSR_IA32_PERF_CAPABILITIES) && cpu.enablePmu) {
    const kvmPerfCap = kvmArchGetSupportedMsrFeature(os, kvmFd, MSR_IA32_PERF_CAPABILITIES, opts);
    if (kvmPerfCap) {
      msrs.push({
        index: MSR_IA32_PERF_CAPABILITIES,
        data: kvmPerfCap & env.features[FEAT_PERF_CAPABILITIES]!,
      });
    }
  }
  if (supported.has(MSR_IA32_UCODE_REV)) {
    msrs.push({ index: MSR_IA32_UCODE_REV, data: cpu.ucodeRev });
  }
  // The VMX capability MSRs (kvm_msr_entry_add_vmx) matter only with vmx on; that needs
  // nested VMX, which this kernel does not offer, so filtering always removes it first.
  r = os.ioctl(vcpuFd, KVM_SET_MSRS, encodeKvmMsrs(msrs));
  if (r !== msrs.length) {
    // QEMU asserts here (kvm_buf_set_msrs).
    const failed = msrs[Math.max(r, 0)];
    report(
      `error: failed to set MSR 0x${(failed?.index ?? 0).toString(16)} to 0x${(failed?.data ?? 0n).toString(16)}`,
    );
    return r < 0 ? r : -ENOTSUP;
  }

  // has_msr_feature_control follows the table's VMX/SMX/SGX bits (kvm_put_msrs uses it).
  const leaf1 = cpuidFindEntry(entries, 1, 0);
  const leaf7 = cpuidFindEntry(entries, 7, 0);
  featureControl.set(
    cpu,
    (!!leaf1 && (leaf1.ecx & n32(CPUID_EXT_VMX | CPUID_EXT_SMX)) !== 0) ||
      (!!leaf7 && (leaf7.ebx & n32(CPUID_7_0_EBX_SGX)) !== 0) ||
      (env.mcgCap & MCG_LMCE_P) !== 0n,
  );

  lastInit.set(cpu, { cpuid: entries, msrs });
  return 0;
}

const featureControl = new WeakMap<X86CPU, boolean>();

/** `has_msr_feature_control` after kvm_arch_init_vcpu of this CPU. */
export function kvmHasMsrFeatureControl(cpu: X86CPU): boolean {
  return featureControl.get(cpu) ?? false;
}

/**
 * `kvm_arch_reset_vcpu`: XCR0 = x87 only; with an in-kernel irqchip APs wait for INIT/SIPI
 * (UNINITIALIZED) while the BSP runs; poll-control enabled.
 */
export function kvmArchResetVcpu(cpu: X86CPU, opts: KvmX86Options = {}): void {
  const env = cpu.env;
  env.xcr0 = 1n;
  env.mpState =
    (opts.irqchipInKernel ?? true) && !x86CpuIsBsp(cpu)
      ? KVM_MP_STATE_UNINITIALIZED
      : KVM_MP_STATE_RUNNABLE;
  env.pollControlMsr = 1n;
}
