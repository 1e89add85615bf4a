/**
 * target/i386/cpu.c (with the bits of hw/core/cpu-common.c and cpu-target.c it leans on):
 * the x86 CPU as a QOM device.
 *
 *   -cpu SandyBridge,+vmx,x2apic=off          parse_cpu_option → x86_cpu_class_by_name
 *                                             → x86_cpu_parse_featurestr (+/- lists, globals)
 *   object_new("SandyBridge-x86_64-cpu")      x86_cpu_initfn: load the model, accel defaults
 *                                             (KVM: host vendor, kvmclock, x2apic …), then
 *                                             device post-init applies the feat=val globals
 *   realized = true → x86_cpu_realizefn       expand (+feat, -feat, dependencies, levels),
 *                                             filter against the accelerator (one warning per
 *                                             missing bit), caches, vCPU thread, reset
 *   cpu_x86_cpuid(env, leaf, subleaf)         the CPUID answers KVM_SET_CPUID2 carries
 *
 * Types: `cpu` (abstract, TYPE_CPU — this package's stand-in for hw/core/cpu-common.c,
 * which the qom package does not model) → `x86_64-cpu` (abstract, TYPE_X86_CPU; QEMU's
 * name in qemu-system-x86_64) → `<model>-x86_64-cpu`, `<model>-vN-x86_64-cpu`, aliases,
 * `base`, `max` and `host` (`-x86_64-cpu` each).
 *
 * Accelerators attach through {@link X86AccelCpuOps} (QEMU's AccelCPUClass plus the
 * kvm_enabled()-style queries cpu.c makes); the machine through {@link X86CpuRealizeHooks}
 * (qemu_init_vcpu, the local APIC, -smp). Errors of the command-line helpers are returned
 * as values; realize throws QomError as every qdev realize does.
 */
import {
  DEVICE_CATEGORY_CPU,
  type DeviceClass,
  type DeviceRealize,
  type DeviceState,
  type DeviceUnrealize,
  definePropBool,
  definePropInt32,
  definePropUint8,
  definePropUint32,
  definePropUint64,
  deviceClassSetParentRealize,
  deviceClassSetParentUnrealize,
  deviceClassSetProps,
  fieldPtr,
  type InputVisitor,
  type ObjectClass,
  type ObjectProperty,
  objectClassByName,
  objectClassDynamicCast,
  objectClassGetList,
  objectClassGetName,
  objectClassIsAbstract,
  objectClassPropertyAdd,
  objectClassPropertyAddStr,
  objectClassPropertyFind,
  objectGetTypename,
  objectNewWithClass,
  objectPropertyAdd,
  objectPropertyAddAlias,
  objectPropertyGetInt,
  objectPropertyGetStr,
  objectPropertyParse,
  objectPropertySetBool,
  objectPropertySetDefaultUint,
  objectPropertySetInt,
  objectPropertySetStr,
  objectPropertySetUint,
  objectUnref,
  type Property,
  type PropertyInfo,
  type QDict,
  QomError,
  type QomObject,
  type QValue,
  qdevPropRegisterGlobal,
  TYPE_DEVICE,
  typeInit,
  typeRegisterStatic,
  warnReport,
} from "@glassvm/qom";
import {
  apicidCoreOffset,
  apicidDieOffset,
  apicidModuleOffset,
  apicidPkgOffset,
  CPU_TOPOLOGY_LEVEL_CORE,
  CPU_TOPOLOGY_LEVEL_DIE,
  CPU_TOPOLOGY_LEVEL_INVALID,
  CPU_TOPOLOGY_LEVEL_MODULE,
  CPU_TOPOLOGY_LEVEL_SOCKET,
  CPU_TOPOLOGY_LEVEL_THREAD,
  type X86CPUTopoInfo,
  x86HasExtendedTopo,
  x86ThreadsPerDie,
  x86ThreadsPerModule,
  x86ThreadsPerPkg,
  x86TopoIdsFromApicid,
} from "../../hw/i386/topology.js";
import {
  type CPUCacheInfo,
  type CPUCaches,
  CPUID_7_0_EBX_INTEL_PT,
  CPUID_7_0_EBX_SGX,
  CPUID_7_0_ECX_OSPKE,
  CPUID_7_0_ECX_PKU,
  CPUID_7_0_ECX_SGX_LC,
  CPUID_7_0_EDX_AMX_TILE,
  CPUID_7_0_EDX_ARCH_LBR,
  CPUID_7_1_EDX_AVX10,
  CPUID_APIC,
  CPUID_EXT_HYPERVISOR,
  CPUID_EXT_MONITOR,
  CPUID_EXT_OSXSAVE,
  CPUID_EXT_PDCM,
  CPUID_EXT_XSAVE,
  CPUID_EXT2_AMD_ALIASES,
  CPUID_EXT2_LM,
  CPUID_EXT3_CMP_LEG,
  CPUID_EXT3_SVM,
  CPUID_EXT3_TOPOEXT,
  CPUID_HT,
  CPUID_MCA,
  CPUID_MCE,
  CPUID_PAE,
  CPUID_PSE36,
  CPUID_XSAVE_XSAVES,
  CPUID_XSTATE_XCR0_MASK,
  CPUID_XSTATE_XSS_MASK,
  cpuid2CacheDescriptor,
  FEAT_1_ECX,
  FEAT_1_EDX,
  FEAT_6_EAX,
  FEAT_7_0_EBX,
  FEAT_7_0_ECX,
  FEAT_7_0_EDX,
  FEAT_7_1_EAX,
  FEAT_7_1_EDX,
  FEAT_7_2_EDX,
  FEAT_14_0_ECX,
  FEAT_24_0_EBX,
  FEAT_8000_0001_ECX,
  FEAT_8000_0001_EDX,
  FEAT_8000_0007_EBX,
  FEAT_8000_0007_EDX,
  FEAT_8000_0008_EBX,
  FEAT_8000_0021_EAX,
  FEAT_8000_0021_EBX,
  FEAT_C000_0001_EDX,
  FEAT_KVM,
  FEAT_SVM,
  FEAT_XSAVE,
  FEAT_XSAVE_XCR0_HI,
  FEAT_XSAVE_XCR0_LO,
  FEAT_XSAVE_XSS_HI,
  FEAT_XSAVE_XSS_LO,
  FEATURE_ALIASES,
  FEATURE_DEPENDENCIES,
  FEATURE_WORD_INFO,
  FEATURE_WORDS,
  type FeatureWord,
  featureBitName,
  LEGACY_FEATURE_NAMES,
  LEGACY_L1D_CACHE,
  LEGACY_L1D_CACHE_AMD,
  LEGACY_L1I_CACHE,
  LEGACY_L1I_CACHE_AMD,
  LEGACY_L2_CACHE,
  LEGACY_L2_CACHE_AMD,
  LEGACY_L2_CACHE_CPUID2,
  LEGACY_L3_CACHE,
  REGISTER_NAMES_32,
  X86_EXT_SAVE_AREAS,
  XSAVE_LEGACY_AND_HEADER_SIZE,
  XSTATE_FP_MASK,
} from "./cpu-features.js";
import {
  BUILTIN_X86_DEFS,
  CPUID_VENDOR_AMD,
  CPUID_VENDOR_INTEL,
  QEMU_HW_VERSION,
  type X86CPUDefinition,
  x86CpuDefGetVersions,
} from "./cpu-models.js";
import { hostCpuid, x86CpuVendorWords2str } from "./host-cpu.js";

// ===========================================================================
// TYPE_CPU (hw/core/cpu-common.c): the generic CPU the x86 one derives from
// ===========================================================================

/** TYPE_CPU. The qom package has no CPU type; this is the one the x86 CPU derives from. */
export const TYPE_CPU = "cpu";
/** UNASSIGNED_CPU_INDEX: cpu_index before cpu_list_add. */
export const UNASSIGNED_CPU_INDEX = -1;
/** UNASSIGNED_CLUSTER_INDEX. */
export const UNASSIGNED_CLUSTER_INDEX = -1;

/** `CPUState`: the generic part of every CPU. */
export interface CPUState extends DeviceState {
  cpuIndex: number;
  clusterIndex: number;
  /** Threads per core (qemu_init_vcpu copies -smp threads here). */
  nrThreads: number;
  /** Created paused; the vCPU thread waits while stopped. */
  stopped: boolean;
  /** 1 while in HLT (or, for APs, waiting for INIT/SIPI). */
  halted: number;
  /** Set by the vCPU thread once the accelerator's vCPU exists. */
  created: boolean;
}

/** `CPUClass`. */
export interface CPUClass extends DeviceClass {
  /** `class_by_name`: model name → class (or null). */
  classByName: ((cpuModel: string) => ObjectClass | null) | undefined;
  /** `parse_features`: the part of -cpu after the model. */
  parseFeatures: ((typename: string, features: string | null) => QomError | null) | undefined;
  /** `get_arch_id`: the APIC ID on x86. */
  getArchId: ((cpu: CPUState) => number) | undefined;
  deprecationNote: string | undefined;
}

const cpus: CPUState[] = [];

/** Empty the CPU list (a new process; qemuCleanup). */
export function cpuListReset(): void {
  cpus.length = 0;
}

/** `CPU_FOREACH` over the CPU list (cpus-common.c), in cpu_index order. */
export function cpuForeach(): readonly CPUState[] {
  return cpus;
}

/** `cpu_list_add`: give the CPU the next free cpu_index and list it. */
export function cpuListAdd(cpu: CPUState): void {
  if (cpu.cpuIndex === UNASSIGNED_CPU_INDEX) {
    cpu.cpuIndex = cpus.reduce((max, c) => Math.max(max, c.cpuIndex + 1), 0);
  }
  cpus.push(cpu);
  cpus.sort((a, b) => a.cpuIndex - b.cpuIndex);
}

/** `cpu_list_remove`. */
export function cpuListRemove(cpu: CPUState): void {
  const i = cpus.indexOf(cpu);
  if (i >= 0) cpus.splice(i, 1);
  cpu.cpuIndex = UNASSIGNED_CPU_INDEX;
}

function cpuCommonInitfn(obj: QomObject): void {
  const cpu = obj as CPUState;
  cpu.cpuIndex = UNASSIGNED_CPU_INDEX;
  cpu.clusterIndex = UNASSIGNED_CLUSTER_INDEX;
  cpu.nrThreads = 1;
  cpu.stopped = false;
  cpu.halted = 0;
  cpu.created = false;
}

/** `cpu_common_realizefn`: hot-plugged CPUs would be synchronized and resumed here. */
function cpuCommonRealizefn(_dev: DeviceState): void {}

function cpuCommonUnrealizefn(dev: DeviceState): void {
  cpuListRemove(dev as CPUState);
}

function cpuCommonClassInit(klass: ObjectClass): void {
  const cc = klass as CPUClass;
  cc.realize = cpuCommonRealizefn;
  cc.unrealize = cpuCommonUnrealizefn;
  cc.classByName = undefined;
  cc.parseFeatures = undefined;
  cc.getArchId = undefined;
  cc.deprecationNote = undefined;
  cc.categories |= 1 << DEVICE_CATEGORY_CPU;
  // CPUs are created by the machine, not with -device.
  cc.userCreatable = false;
}

// ===========================================================================
// X86CPU and CPUX86State
// ===========================================================================

/** TYPE_X86_CPU in qemu-system-x86_64. */
export const TYPE_X86_CPU = "x86_64-cpu";
/** X86_CPU_TYPE_SUFFIX. */
export const X86_CPU_TYPE_SUFFIX = `-${TYPE_X86_CPU}`;
/** X86_CPU_TYPE_NAME(name). */
export const x86CpuTypeName = (model: string): string => `${model}${X86_CPU_TYPE_SUFFIX}`;
/** UNASSIGNED_APIC_ID: apic-id's default; realize refuses it. */
export const UNASSIGNED_APIC_ID = 0xffff_ffff;
/** guest-phys-bits' default (-1 in a uint32): "let the accelerator decide". */
export const GUEST_PHYS_BITS_UNSET = 0xffff_ffff;
/** CPU_UNSET_NUMA_NODE_ID. */
export const CPU_UNSET_NUMA_NODE_ID = -1;
/** TCG_PHYS_ADDR_BITS: phys-bits of 64-bit CPUs unless the host's are used. */
export const TCG_PHYS_ADDR_BITS = 40;

export interface CpuidRegs {
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

/** `SegmentCache`: a segment register with its hidden part (flags = descriptor bits 8-23). */
export interface SegmentCache {
  selector: number;
  base: bigint;
  limit: number;
  flags: number;
}

/** A descriptor-table register (GDTR/IDTR). */
export interface DescriptorTable {
  base: bigint;
  limit: number;
}

/** Segment indices in `env.segs` (R_ES … R_GS, the x86 encoding order). */
export const R_ES = 0;
export const R_CS = 1;
export const R_SS = 2;
export const R_DS = 3;
export const R_FS = 4;
export const R_GS = 5;

/** Segment descriptor flag bits as QEMU keeps them in SegmentCache.flags. */
export const DESC_TYPE_SHIFT = 8;
export const DESC_A_MASK = 1 << 8;
export const DESC_R_MASK = 1 << 9;
export const DESC_W_MASK = 1 << 9;
export const DESC_CS_MASK = 1 << 11;
export const DESC_S_MASK = 1 << 12;
export const DESC_DPL_SHIFT = 13;
export const DESC_P_MASK = 1 << 15;
export const DESC_L_MASK = 1 << 21;
export const DESC_B_MASK = 1 << 22;
export const DESC_G_MASK = 1 << 23;

/** hflags bits (target/i386/cpu.h HF_*_SHIFT): what the CPU's mode implies. */
export const HF_CPL_MASK = 3;
export const HF_INHIBIT_IRQ_MASK = 1 << 3;
export const HF_CS32_MASK = 1 << 4;
export const HF_SS32_MASK = 1 << 5;
export const HF_ADDSEG_MASK = 1 << 6;
export const HF_PE_MASK = 1 << 7;
export const HF_TF_MASK = 1 << 8;
export const HF_MP_MASK = 1 << 9;
export const HF_EM_MASK = 1 << 10;
export const HF_TS_MASK = 1 << 11;
export const HF_IOPL_MASK = 3 << 12;
export const HF_LMA_MASK = 1 << 14;
export const HF_CS64_MASK = 1 << 15;
export const HF_VM_MASK = 1 << 17;
export const HF_SMM_MASK = 1 << 19;
export const HF_OSFXSR_MASK = 1 << 22;

/**
 * `x86_update_hflags`: recompute the mode bits of env.hflags from CR0, CR4, EFER, EFLAGS
 * and the CS/SS caches (the others — interrupt shadow, SMM — are kept).
 */
export function x86UpdateHflags(env: CPUX86State): void {
  const cr0 = Number(BigInt.asUintN(32, env.cr[0] ?? 0n));
  const cr4 = Number(BigInt.asUintN(32, env.cr[4] ?? 0n));
  const cs = env.segs[R_CS]!.flags;
  const ss = env.segs[R_SS]!.flags;
  const computed =
    HF_CPL_MASK |
    HF_PE_MASK |
    HF_MP_MASK |
    HF_EM_MASK |
    HF_TS_MASK |
    HF_TF_MASK |
    HF_VM_MASK |
    HF_IOPL_MASK |
    HF_OSFXSR_MASK |
    HF_LMA_MASK |
    HF_CS32_MASK |
    HF_SS32_MASK |
    HF_CS64_MASK |
    HF_ADDSEG_MASK;
  let hf = env.hflags & ~computed;
  hf |= (ss >>> DESC_DPL_SHIFT) & HF_CPL_MASK;
  if (cr0 & 1) hf |= HF_PE_MASK;
  hf |= (cr0 << 8) & (HF_MP_MASK | HF_EM_MASK | HF_TS_MASK); // CR0.MP/EM/TS are bits 1-3
  hf |= env.eflags & (HF_TF_MASK | HF_VM_MASK | HF_IOPL_MASK); // same bit positions
  if (cr4 & (1 << 9)) hf |= HF_OSFXSR_MASK;
  if ((env.efer & (1n << 10n)) !== 0n) hf |= HF_LMA_MASK; // EFER.LMA
  if (hf & HF_LMA_MASK && cs & DESC_L_MASK) {
    hf |= HF_CS32_MASK | HF_SS32_MASK | HF_CS64_MASK;
  } else {
    if (cs & DESC_B_MASK) hf |= HF_CS32_MASK;
    if (ss & DESC_B_MASK) hf |= HF_SS32_MASK;
    if (!(cr0 & 1) || env.eflags & HF_VM_MASK || !(hf & HF_CS32_MASK)) hf |= HF_ADDSEG_MASK;
    else if ((env.segs[R_DS]!.base | env.segs[R_ES]!.base | env.segs[R_SS]!.base) !== 0n) {
      hf |= HF_ADDSEG_MASK;
    }
  }
  env.hflags = hf;
}

/** hflags2 bits set at reset. */
export const HF2_GIF_MASK = 1 << 0;
export const HF2_VGIF_MASK = 1 << 8;
/** hflags2: NMIs blocked (an NMI handler runs), SMM entered from an NMI handler. */
export const HF2_NMI_MASK = 1 << 2;
export const HF2_SMM_INSIDE_NMI_MASK = 1 << 4;
/** CPU_NB_REGS on x86_64: XMM0–XMM15. */
export const CPU_NB_REGS = 16;

/** Architectural reset values (SDM vol. 3 §10.1.1 / QEMU's x86_cpu_reset_hold). */
export const CR0_RESET = 0x6000_0010;
export const DR6_FIXED_1 = 0xffff_0ff0n;
export const DR7_FIXED_1 = 0x400n;
export const PAT_RESET = 0x0007_0406_0007_0406n;
export const MXCSR_RESET = 0x1f80;
export const FPUC_RESET = 0x37f;
export const MSR_IA32_MISC_ENABLE_DEFAULT = 1n;
export const MSR_IA32_MISC_ENABLE_MWAIT = 1n << 18n;
export const MSR_AMD64_TSC_RATIO_DEFAULT = 1n << 32n;
/** MCE defaults (mce_init): MCG_CTL_P | MCG_SER_P, 10 banks, MCG_LMCE_P. */
export const MCG_CTL_P = 1n << 8n;
export const MCG_SER_P = 1n << 24n;
export const MCG_LMCE_P = 1n << 27n;
export const MCE_BANKS_DEF = 10;
/** MWAIT leaf 5 ECX: enumeration of extensions, interrupt break-event. */
export const CPUID_MWAIT_EMX = 1 << 0;
export const CPUID_MWAIT_IBE = 1 << 1;
/** KVM mp_state values (uapi): what kvm_arch_reset_vcpu chooses. */
export const KVM_MP_STATE_RUNNABLE = 0;
export const KVM_MP_STATE_UNINITIALIZED = 1;

/** `CPUX86State`. Fields before `features` are what reset clears (end_reset_fields). */
export interface CPUX86State {
  // --- cleared by reset -------------------------------------------------
  /** RAX…R15 in encoding order (R_EAX = 0, R_ECX = 1, R_EDX = 2, R_EBX = 3, …). */
  regs: bigint[];
  eip: bigint;
  eflags: number;
  segs: SegmentCache[];
  ldt: SegmentCache;
  tr: SegmentCache;
  gdt: DescriptorTable;
  idt: DescriptorTable;
  /** CR0…CR4 (cr[1] unused). */
  cr: bigint[];
  efer: bigint;
  xcr0: bigint;
  pat: bigint;
  dr: bigint[];
  a20Mask: number;
  smbase: number;
  msrSmiCount: number;
  fpuc: number;
  fpus: number;
  /** x87 top of stack (FSW bits 13:11 live here, not in fpus). */
  fpstt: number;
  /** 1 = empty, per x87 register. */
  fptags: number[];
  /** ST0–ST7 as 8 × 16-byte slots (80-bit value in the low 10 bytes), kvm_fpu.fpr's layout. */
  fpregs: Uint8Array;
  /** Last x87 opcode, instruction and data pointers (FOP, FIP, FDP). */
  fpop: number;
  fpip: bigint;
  fpdp: bigint;
  mxcsr: number;
  /** XMM0–XMM15, 16 bytes each (the low 128 bits of QEMU's ZMMReg xmm_regs). */
  xmmRegs: Uint8Array;
  xstateBv: bigint;
  tsc: bigint;
  tscAux: bigint;
  tscAdjust: bigint;
  sysenterCs: bigint;
  sysenterEsp: bigint;
  sysenterEip: bigint;
  star: bigint;
  lstar: bigint;
  cstar: bigint;
  fmask: bigint;
  kernelgsbase: bigint;
  msrIa32FeatureControl: bigint;
  /** KVM paravirtual MSRs (MSR_KVM_SYSTEM_TIME, _WALL_CLOCK, ASYNC_PF_EN/INT, PV_EOI_EN, STEAL_TIME). */
  systemTimeMsr: bigint;
  wallClockMsr: bigint;
  asyncPfEnMsr: bigint;
  asyncPfIntMsr: bigint;
  pvEoiEnMsr: bigint;
  stealTimeMsr: bigint;
  mcgStatus: bigint;
  msrIa32MiscEnable: bigint;
  mtrrDeftype: bigint;
  mtrrVar: { base: bigint; mask: bigint }[];
  mtrrFixed: bigint[];
  hflags: number;
  hflags2: number;
  intCtl: number;
  oldException: number;
  interruptInjected: number;
  exceptionNr: number;
  exceptionPending: number;
  exceptionInjected: number;
  exceptionHasPayload: boolean;
  exceptionPayload: bigint;
  hasErrorCode: number;
  errorCode: number;
  softInterrupt: number;
  nmiInjected: boolean;
  nmiPending: number;
  sipiVector: number;
  tripleFaultPending: boolean;
  mpState: number;
  pollControlMsr: bigint;
  amdTscScaleMsr: bigint;
  // --- configuration, kept across reset ---------------------------------
  features: bigint[];
  /** Bits set or cleared explicitly (feature properties); `max` leaves them alone. */
  userFeatures: bigint[];
  cpuidLevelFunc7: number;
  cpuidMinLevelFunc7: number;
  cpuidLevel: number;
  cpuidXlevel: number;
  cpuidXlevel2: number;
  cpuidMinLevel: number;
  cpuidMinXlevel: number;
  cpuidMinXlevel2: number;
  cpuidVendor1: number;
  cpuidVendor2: number;
  cpuidVendor3: number;
  /** CPUID.1:EAX (family/model/stepping). */
  cpuidVersion: number;
  /** The 48-byte model-id, as CPUID 80000002h–80000004h return it. */
  cpuidModel: Uint32Array;
  avx10Version: number;
  tscKhz: number;
  userTscKhz: number;
  apicBusFreq: number;
  mcgCap: bigint;
  mcgCtl: bigint;
  mceBanks: bigint[];
  topoInfo: X86CPUTopoInfo;
  /** Topology levels present (CPU_TOPOLOGY_LEVEL_*). */
  availCpuTopo: Set<number>;
  cacheInfoCpuid2: CPUCaches | null;
  cacheInfoCpuid4: CPUCaches | null;
  cacheInfoAmd: CPUCaches | null;
}

/** `X86CPU`. */
export interface X86CPU extends CPUState {
  env: CPUX86State;
  apicId: number;
  socketId: number;
  dieId: number;
  moduleId: number;
  coreId: number;
  threadId: number;
  nodeId: number;
  enablePmu: boolean;
  checkCpuid: boolean;
  enforceCpuid: boolean;
  forceFeatures: boolean;
  exposeKvm: boolean;
  exposeTcg: boolean;
  migratable: boolean;
  maxFeatures: boolean;
  cacheInfoPassthrough: boolean;
  physBits: number;
  guestPhysBits: number;
  hostPhysBits: boolean;
  hostPhysBitsLimit: number;
  fillMtrrMask: boolean;
  fullCpuidAutoLevel: boolean;
  enableCpuid0xb: boolean;
  vendorCpuidOnly: boolean;
  amdTopoextFeaturesOnly: boolean;
  enableL3Cache: boolean;
  legacyCache: boolean;
  legacyMultiNode: boolean;
  enableLmce: boolean;
  l1CachePerCore: boolean;
  intelPtAutoLevel: boolean;
  kvmPvEnforceCpuid: boolean;
  vmwareCpuidFreq: boolean;
  ucodeRev: bigint;
  /** Bits removed by filtering (what `enforce` would have refused). */
  filteredFeatures: bigint[];
  /** CPUID leaf 5. */
  mwait: CpuidRegs;
  /** The local APIC (`apic_state`, the child "lapic"), when the CPU has one. */
  apicState: DeviceState | null;
}

/** `X86CPUVersion` special values. */
export const CPU_VERSION_LEGACY = 0;
export const CPU_VERSION_LATEST = -1;
export const CPU_VERSION_AUTO = -2;

/** `X86CPUModel`: a definition at a version (the class data of a model type). */
export interface X86CPUModel {
  readonly cpudef: X86CPUDefinition;
  readonly version: number;
  readonly note: string | undefined;
  /** Unversioned names and version aliases ("(alias of …)" in -cpu help). */
  readonly isAlias: boolean;
}

/** `X86CPUClass`. */
export interface X86CPUClass extends CPUClass {
  model: X86CPUModel | null;
  hostCpuidRequired: boolean;
  /** -cpu help sort key (models 0, base and host 8, max 9). */
  ordering: number;
  modelDescription: string | undefined;
  migrationSafe: boolean;
  staticModel: boolean;
  /** `max` and `host`: every feature the accelerator supports (cpu->max_features). */
  maxFeatures: boolean;
  parentRealize: DeviceRealize | undefined;
  parentUnrealize: DeviceUnrealize | undefined;
}

// ===========================================================================
// Accelerator and machine glue
// ===========================================================================

/**
 * What the accelerator contributes to the x86 CPU: QEMU's AccelCPUClass hooks
 * (`kvm-accel-x86_64-cpu`) plus the answers cpu.c asks kvm_arch_get_supported_cpuid /
 * hvf / the TCG tables for.
 */
export interface X86AccelCpuOps {
  /** The accelerator's name: "kvm", "tcg", … */
  readonly name: string;
  /** accel_uses_host_cpuid(): supported features are the host's (KVM, HVF). */
  readonly usesHostCpuid: boolean;
  /** The accelerator's part of x86_cpu_get_supported_feature_word. */
  supportedFeatureWord(w: FeatureWord): bigint;
  /** x86_cpu_get_supported_cpuid. */
  supportedCpuid(fn: number, index: number): CpuidRegs;
  /** AccelCPUClass.cpu_instance_init (end of instance_init). */
  cpuInstanceInit?(cpu: X86CPU): void;
  /** AccelCPUClass.cpu_target_realize (in cpu_exec_realizefn). Throws QomError. */
  cpuTargetRealize?(cpu: X86CPU): void;
  /** The accelerator's reset work (kvm_arch_reset_vcpu). */
  cpuResetHold?(cpu: X86CPU): void;
}

let accelCpu: X86AccelCpuOps | null = null;

/** accel_init_interfaces: make `ops` the accelerator of every x86 CPU created from now. */
export function x86CpuSetAccel(ops: X86AccelCpuOps | null): void {
  accelCpu = ops;
}

/** The accelerator installed by {@link x86CpuSetAccel}, if any. */
export function x86CpuGetAccel(): X86AccelCpuOps | null {
  return accelCpu;
}

const kvmEnabled = (): boolean => accelCpu?.name === "kvm";
const tcgEnabled = (): boolean => accelCpu?.name === "tcg";
const accelUsesHostCpuid = (): boolean => accelCpu?.usesHostCpuid ?? false;

/** TCG's supported words (`tcg_features`). */
export const tcgX86AccelCpuOps: X86AccelCpuOps = {
  name: "tcg",
  usesHostCpuid: false,
  supportedFeatureWord: (w) => FEATURE_WORD_INFO[w]!.tcgFeatures,
  supportedCpuid: () => ({ eax: 0, ebx: 0, ecx: 0, edx: 0 }),
};

/** The machine-side steps of x86_cpu_realizefn that live outside target/i386. */
export interface X86CpuRealizeHooks {
  /** `ms->smp.cpus` (the local APIC is created when > 1). */
  smpCpus?(): number;
  /** `x86_cpu_apic_create` (target/i386/cpu-apic.c). Throws. */
  apicCreate?(cpu: X86CPU): void;
  /** `x86_cpu_apic_realize`. Throws. */
  apicRealize?(cpu: X86CPU): void;
  /** `qemu_register_reset(x86_cpu_machine_reset_cb, cpu)`. */
  registerReset?(cpu: X86CPU): void;
  /** `qemu_init_vcpu` (system/cpus.c): start the vCPU thread and wait for it. Throws. */
  initVcpu?(cpu: X86CPU): void;
}

let realizeHooks: X86CpuRealizeHooks = {};

/** Install the machine-side realize steps (pc/x86 machine, vCPU threads, APIC). */
export function x86CpuSetRealizeHooks(hooks: X86CpuRealizeHooks): void {
  realizeHooks = hooks;
}

let defaultCpuVersion = 1;

/** `x86_cpu_set_default_version`: what unversioned model names resolve to (pc: 1). */
export function x86CpuSetDefaultVersion(version: number): void {
  if (version === CPU_VERSION_AUTO) {
    throw new QomError("assertion", "assertion failed: (version != CPU_VERSION_AUTO)", {
      fatal: true,
      operation: "x86_cpu_set_default_version",
    });
  }
  defaultCpuVersion = version;
}

// ===========================================================================
// State helpers
// ===========================================================================

const seg = (): SegmentCache => ({ selector: 0, base: 0n, limit: 0, flags: 0 });

function resetFields(env: CPUX86State): void {
  env.regs = new Array(16).fill(0n);
  env.eip = 0n;
  env.eflags = 0;
  env.segs = Array.from({ length: 6 }, seg);
  env.ldt = seg();
  env.tr = seg();
  env.gdt = { base: 0n, limit: 0 };
  env.idt = { base: 0n, limit: 0 };
  env.cr = new Array(5).fill(0n);
  env.efer = 0n;
  env.xcr0 = 0n;
  env.pat = 0n;
  env.dr = new Array(8).fill(0n);
  env.a20Mask = 0;
  env.smbase = 0;
  env.msrSmiCount = 0;
  env.fpuc = 0;
  env.fpus = 0;
  env.fpstt = 0;
  env.fptags = new Array(8).fill(0);
  env.fpregs = new Uint8Array(8 * 16);
  env.fpop = 0;
  env.fpip = 0n;
  env.fpdp = 0n;
  env.mxcsr = 0;
  env.xmmRegs = new Uint8Array(CPU_NB_REGS * 16);
  env.xstateBv = 0n;
  env.tsc = env.tsc ?? 0n;
  env.tscAux = 0n;
  env.tscAdjust = 0n;
  env.sysenterCs = 0n;
  env.sysenterEsp = 0n;
  env.sysenterEip = 0n;
  env.star = 0n;
  env.lstar = 0n;
  env.cstar = 0n;
  env.fmask = 0n;
  env.kernelgsbase = 0n;
  env.msrIa32FeatureControl = 0n;
  env.systemTimeMsr = 0n;
  env.wallClockMsr = 0n;
  env.asyncPfEnMsr = 0n;
  env.asyncPfIntMsr = 0n;
  env.pvEoiEnMsr = 0n;
  env.stealTimeMsr = 0n;
  env.mcgStatus = 0n;
  env.msrIa32MiscEnable = 0n;
  env.mtrrDeftype = 0n;
  env.mtrrVar = Array.from({ length: 8 }, () => ({ base: 0n, mask: 0n }));
  env.mtrrFixed = new Array(11).fill(0n);
  env.hflags = 0;
  env.hflags2 = 0;
  env.intCtl = 0;
  env.oldException = 0;
  env.interruptInjected = 0;
  env.exceptionNr = 0;
  env.exceptionPending = 0;
  env.exceptionInjected = 0;
  env.exceptionHasPayload = false;
  env.exceptionPayload = 0n;
  env.hasErrorCode = 0;
  env.errorCode = 0;
  env.softInterrupt = 0;
  env.nmiInjected = false;
  env.nmiPending = 0;
  env.sipiVector = 0;
  env.tripleFaultPending = false;
  env.mpState = 0;
  env.pollControlMsr = 0n;
  env.amdTscScaleMsr = 0n;
}

function newEnv(): CPUX86State {
  const env = {
    features: new Array(FEATURE_WORDS).fill(0n),
    userFeatures: new Array(FEATURE_WORDS).fill(0n),
    cpuidLevelFunc7: 0xffff_ffff,
    cpuidMinLevelFunc7: 0,
    cpuidLevel: 0xffff_ffff,
    cpuidXlevel: 0xffff_ffff,
    cpuidXlevel2: 0xffff_ffff,
    cpuidMinLevel: 0,
    cpuidMinXlevel: 0,
    cpuidMinXlevel2: 0,
    cpuidVendor1: 0,
    cpuidVendor2: 0,
    cpuidVendor3: 0,
    cpuidVersion: 0,
    cpuidModel: new Uint32Array(12),
    avx10Version: 0,
    tscKhz: 0,
    userTscKhz: 0,
    apicBusFreq: 0,
    mcgCap: 0n,
    mcgCtl: 0n,
    mceBanks: new Array(MCE_BANKS_DEF * 4).fill(0n),
    topoInfo: { diesPerPkg: 1, modulesPerDie: 1, coresPerModule: 1, threadsPerCore: 1 },
    availCpuTopo: new Set<number>(),
    cacheInfoCpuid2: null,
    cacheInfoCpuid4: null,
    cacheInfoAmd: null,
  } as Partial<CPUX86State> as CPUX86State;
  env.tsc = 0n;
  resetFields(env);
  return env;
}

/**
 * The CPU's CPUX86State. QEMU embeds it in the zero-filled instance, so static property
 * defaults written before any instance_init can already reach it; here it is created on
 * first use.
 */
export function x86CpuEnv(cpu: X86CPU): CPUX86State {
  cpu.env ??= newEnv();
  return cpu.env;
}

const u32 = (v: bigint): number => Number(v & 0xffff_ffffn);

/** CPUID.1:EAX fields. */
export function x86CpuFamily(cpuidVersion: number): number {
  const f = (cpuidVersion >>> 8) & 0xf;
  return f === 0xf ? f + ((cpuidVersion >>> 20) & 0xff) : f;
}
export function x86CpuModel(cpuidVersion: number): number {
  return ((cpuidVersion >>> 4) & 0xf) | (((cpuidVersion >>> 16) & 0xf) << 4);
}
export function x86CpuStepping(cpuidVersion: number): number {
  return cpuidVersion & 0xf;
}

const CPUID_VENDOR_INTEL_1 = 0x756e_6547; // "Genu"
const CPUID_VENDOR_AMD_1 = 0x6874_7541; // "Auth"
const CPUID_VENDOR_HYGON_1 = 0x6f67_7948; // "Hygo"
const CPUID_VENDOR_ZHAOXIN1_1 = 0x746e_6543; // "Cent"
const CPUID_VENDOR_ZHAOXIN2_1 = 0x2020_6853; // "  Sh"

/** IS_INTEL_CPU. */
export const isIntelCpu = (env: CPUX86State): boolean =>
  env.cpuidVendor1 === CPUID_VENDOR_INTEL_1 &&
  env.cpuidVendor2 === 0x4965_6e69 &&
  env.cpuidVendor3 === 0x6c65_746e;
/** IS_AMD_CPU (AMD or Hygon). */
export const isAmdCpu = (env: CPUX86State): boolean =>
  (env.cpuidVendor1 === CPUID_VENDOR_AMD_1 &&
    env.cpuidVendor2 === 0x6974_6e65 &&
    env.cpuidVendor3 === 0x444d_4163) ||
  env.cpuidVendor1 === CPUID_VENDOR_HYGON_1;
const isZhaoxinCpu = (env: CPUX86State): boolean =>
  env.cpuidVendor1 === CPUID_VENDOR_ZHAOXIN1_1 || env.cpuidVendor1 === CPUID_VENDOR_ZHAOXIN2_1;

// ===========================================================================
// Features: supported words, expansion, filtering
// ===========================================================================

/** What filtering compares against: the accelerator's supported words. */
export type X86SupportedFeatures = Pick<X86AccelCpuOps, "usesHostCpuid" | "supportedFeatureWord"> &
  Partial<Pick<X86AccelCpuOps, "supportedCpuid">>;

const ALL_ONES = 0xffff_ffff_ffff_ffffn;

/** `x86_cpu_get_migratable_flags`: named bits (unless unmigratable) plus migratable_flags. */
function x86CpuGetMigratableFlags(cpu: X86CPU, w: FeatureWord): bigint {
  const wi = FEATURE_WORD_INFO[w]!;
  let r = 0n;
  for (let i = 0; i < 64; i++) {
    const f = 1n << BigInt(i);
    if ((wi.migratableFlags & f) !== 0n || (wi.featNames[i] && (wi.unmigratableFlags & f) === 0n)) {
      r |= f;
    }
  }
  if (w === FEAT_8000_0007_EDX && cpu.env.userTscKhz) r |= 1n << 8n;
  return r;
}

/**
 * `x86_cpu_get_supported_feature_word`: what the accelerator can give a guest in word
 * `w` (everything when no accelerator is configured), minus what QEMU itself withholds
 * (SGX without EPC sections; AMD MCA recovery bits on other vendors; non-migratable bits
 * of a migratable `max`).
 */
export function x86CpuGetSupportedFeatureWord(
  cpu: X86CPU | null,
  w: FeatureWord,
  supported: X86SupportedFeatures | null = accelCpu,
): bigint {
  if (!supported) return ALL_ONES;
  let r = supported.supportedFeatureWord(w);
  let unavail = 0n;
  if (w === FEAT_8000_0007_EBX && cpu && !isAmdCpu(cpu.env)) unavail = ALL_ONES;
  // No sgx-epc memory backend: SGX is never available (check_sgx_support() false).
  if (w === FEAT_7_0_EBX) unavail = CPUID_7_0_EBX_SGX;
  if (w === FEAT_7_0_ECX) unavail = CPUID_7_0_ECX_SGX_LC;
  r &= ~unavail;
  if (cpu?.migratable) r &= x86CpuGetMigratableFlags(cpu, w);
  return r;
}

/** Two hex digits at least, upper case (printf %02X). */
const hex02 = (v: number): string => v.toString(16).toUpperCase().padStart(2, "0");

/** How QEMU names a feature word in warnings: 10.x, or the 7.2 spelling the reference quotes. */
export type FeatureWordStyle = "10.2" | "7.2";

/**
 * `feature_word_description`: `CPUID[eax=07h,ecx=00h].EBX` / `MSR(48Ch)` (QEMU 10.x), or
 * `CPUID.07H:EBX` / `MSR(48CH)` (QEMU 7.2).
 */
export function featureWordDescription(w: FeatureWord, style: FeatureWordStyle = "10.2"): string {
  const f = FEATURE_WORD_INFO[w]!;
  if (f.type === "cpuid") {
    const c = f.cpuid!;
    const reg = REGISTER_NAMES_32[c.reg];
    if (style === "7.2") return `CPUID.${hex02(c.eax)}H:${reg}`;
    return c.needsEcx
      ? `CPUID[eax=${hex02(c.eax)}h,ecx=${hex02(c.ecx)}h].${reg}`
      : `CPUID[eax=${hex02(c.eax)}h].${reg}`;
  }
  return `MSR(${hex02(f.msr!.index)}${style === "7.2" ? "H" : "h"})`;
}

/**
 * `mark_unavailable_features`: drop `mask` from word `w` (unless x-force-features), record
 * it as filtered, and with a prefix print one warning per bit:
 * `<prefix>: CPUID[eax=01h].ECX.vmx [bit 5]`.
 */
export function markUnavailableFeatures(
  cpu: X86CPU,
  w: FeatureWord,
  mask: bigint,
  verbosePrefix: string | null,
): void {
  const env = cpu.env;
  if (!cpu.forceFeatures) env.features[w] = env.features[w]! & ~mask;
  cpu.filteredFeatures[w] = cpu.filteredFeatures[w]! | mask;
  if (!verbosePrefix) return;
  for (let i = 0; i < 64; i++) {
    if ((mask & (1n << BigInt(i))) === 0n) continue;
    const name = featureBitName(w, i);
    warnReport(
      `${verbosePrefix}: ${featureWordDescription(w)}${name ? `.${name}` : ""} [bit ${i}]`,
    );
  }
}

function x86CpuAdjustLevel(value: number, min: number): number {
  return Math.max(min, value);
}

/** `x86_cpu_adjust_feat_level`: raise the minimum level so word `w`'s leaf is reported. */
function x86CpuAdjustFeatLevel(cpu: X86CPU, w: FeatureWord): void {
  const env = cpu.env;
  const fi = FEATURE_WORD_INFO[w]!;
  if (env.features[w] === 0n) return;
  const eax = fi.cpuid!.eax;
  switch ((eax & 0xf000_0000) >>> 0) {
    case 0:
      env.cpuidMinLevel = x86CpuAdjustLevel(eax, env.cpuidMinLevel);
      break;
    case 0x8000_0000:
      env.cpuidMinXlevel = x86CpuAdjustLevel(eax, env.cpuidMinXlevel);
      break;
    case 0xc000_0000:
      env.cpuidMinXlevel2 = x86CpuAdjustLevel(eax, env.cpuidMinXlevel2);
      break;
  }
  if (eax === 7) env.cpuidMinLevelFunc7 = x86CpuAdjustLevel(fi.cpuid!.ecx, env.cpuidMinLevelFunc7);
}

/** Size of each XSAVE component with this accelerator (0 when it cannot hold it). */
function esaSize(i: number): number {
  const esa = X86_EXT_SAVE_AREAS[i];
  if (!esa) return 0;
  if (i <= 1) return esa.size;
  // x86_cpu_init_xsave: components the accelerator cannot enable have no area.
  const xcr0 =
    (x86CpuGetSupportedFeatureWord(null, FEAT_XSAVE_XCR0_HI) << 32n) |
    (x86CpuGetSupportedFeatureWord(null, FEAT_XSAVE_XCR0_LO) & 0xffff_ffffn);
  return (xcr0 >> BigInt(i)) & 1n ? esa.size : 0;
}

/** `cpuid_has_xsave_feature`. */
function cpuidHasXsaveFeature(env: CPUX86State, i: number): boolean {
  const esa = X86_EXT_SAVE_AREAS[i];
  if (!esa || !esaSize(i)) return false;
  if ((env.features[esa.feature]! & esa.bits) !== 0n) return true;
  return (
    esa.feature === FEAT_7_0_EBX &&
    esa.bits === 1n << 16n &&
    (env.features[FEAT_7_1_EDX]! & CPUID_7_1_EDX_AVX10) !== 0n
  );
}

/** `xsave_area_size`: bytes of an XSAVE area holding `mask`, standard or compacted. */
export function xsaveAreaSize(mask: bigint, compacted: boolean): number {
  let ret = XSAVE_LEGACY_AND_HEADER_SIZE;
  for (let i = 2; i < X86_EXT_SAVE_AREAS.length; i++) {
    const esa = X86_EXT_SAVE_AREAS[i];
    if (!esa || ((mask >> BigInt(i)) & 1n) === 0n) continue;
    const offset = compacted ? ret : esa.offset;
    ret = Math.max(ret, offset + esaSize(i));
  }
  return ret;
}

const xcr0Components = (env: CPUX86State): bigint =>
  (env.features[FEAT_XSAVE_XCR0_HI]! << 32n) | env.features[FEAT_XSAVE_XCR0_LO]!;
const xssComponents = (env: CPUX86State): bigint =>
  (env.features[FEAT_XSAVE_XSS_HI]! << 32n) | env.features[FEAT_XSAVE_XSS_LO]!;

/** `x86_cpu_enable_xsave_components`: the XSAVE words follow the enabled features. */
function x86CpuEnableXsaveComponents(cpu: X86CPU): void {
  const env = cpu.env;
  if ((env.features[FEAT_1_ECX]! & CPUID_EXT_XSAVE) === 0n) {
    env.features[FEAT_XSAVE_XCR0_LO] = 0n;
    env.features[FEAT_XSAVE_XCR0_HI] = 0n;
    env.features[FEAT_XSAVE_XSS_LO] = 0n;
    env.features[FEAT_XSAVE_XSS_HI] = 0n;
    return;
  }
  let mask = 0n;
  for (let i = 0; i < X86_EXT_SAVE_AREAS.length; i++) {
    if (cpuidHasXsaveFeature(env, i)) mask |= 1n << BigInt(i);
  }
  const xcr0 = mask & CPUID_XSTATE_XCR0_MASK;
  const xss = mask & CPUID_XSTATE_XSS_MASK;
  env.features[FEAT_XSAVE_XCR0_LO] = xcr0 & 0xffff_ffffn;
  env.features[FEAT_XSAVE_XCR0_HI] = xcr0 >> 32n;
  env.features[FEAT_XSAVE_XSS_LO] = xss & 0xffff_ffffn;
  env.features[FEAT_XSAVE_XSS_HI] = xss >> 32n;
}

// Legacy "+feat,-feat" lists: global, parsed once per process (x86_cpu_parse_featurestr).
let plusFeatures: string[] = [];
let minusFeatures: string[] = [];
let cpuGlobalsInitialized = false;

/** Forget a previous -cpu feature string (a fresh process; for tests). */
export function x86CpuParseFeaturestrReset(): void {
  plusFeatures = [];
  minusFeatures = [];
  cpuGlobalsInitialized = false;
}

/**
 * `x86_cpu_expand_features`: apply the legacy +feat then -feat lists (so `-x` beats `+x`),
 * fill `max`/`host` with everything supported, set `ht` (and `cmp-legacy` off Intel) for
 * multi-threaded packages, drop features whose prerequisites are off, hide the KVM leaf
 * without KVM, derive the XSAVE components, and raise the CPUID levels to cover the
 * leaves in use. Throws QomError (an unknown +feat: `Property '<type>.<feat>' not found`).
 */
export function x86CpuExpandFeatures(cpu: X86CPU): void {
  const env = cpu.env;
  for (const prop of plusFeatures) objectPropertySetBool(cpu, prop, true);
  for (const prop of minusFeatures) objectPropertySetBool(cpu, prop, false);

  if (cpu.maxFeatures) {
    for (let w = 0; w < FEATURE_WORDS; w++) {
      env.features[w] =
        env.features[w]! |
        (x86CpuGetSupportedFeatureWord(cpu, w) &
          ~env.userFeatures[w]! &
          ~FEATURE_WORD_INFO[w]!.noAutoenableFlags);
    }
    if ((env.features[FEAT_7_1_EDX]! & CPUID_7_1_EDX_AVX10) !== 0n && !env.avx10Version) {
      env.avx10Version = (accelCpu?.supportedCpuid(0x24, 0).ebx ?? 0) & 0xff;
    }
  }

  if (x86ThreadsPerPkg(env.topoInfo) > 1) {
    env.features[FEAT_1_EDX] = env.features[FEAT_1_EDX]! | CPUID_HT;
    // Linux drops multi-thread information when it sees CMPLegacy, so not on Intel.
    if (!isIntelCpu(env) && !isZhaoxinCpu(env)) {
      env.features[FEAT_8000_0001_ECX] = env.features[FEAT_8000_0001_ECX]! | CPUID_EXT3_CMP_LEG;
    }
  }

  // PDCM advertises PERF_CAPABILITIES, which needs the PMU: dropped silently without it
  // (QEMU 10.0/10.1 warned "This feature is not available due to PMU being disabled").
  if (!cpu.enablePmu) env.features[FEAT_1_ECX] = env.features[FEAT_1_ECX]! & ~CPUID_EXT_PDCM;

  for (const d of FEATURE_DEPENDENCIES) {
    if ((env.features[d.from.index]! & d.from.mask) !== 0n) continue;
    const unavailable = env.features[d.to.index]! & d.to.mask;
    // Only an error (warning) when the dependent feature was asked for explicitly.
    markUnavailableFeatures(
      cpu,
      d.to.index,
      unavailable & env.userFeatures[d.to.index]!,
      "This feature depends on other features that were not requested",
    );
    env.features[d.to.index] = env.features[d.to.index]! & ~unavailable;
  }

  if (!kvmEnabled() || !cpu.exposeKvm) env.features[FEAT_KVM] = 0n;

  x86CpuEnableXsaveComponents(cpu);

  // CPUID[EAX=7,ECX=0].EBX always raises the level.
  x86CpuAdjustFeatLevel(cpu, FEAT_7_0_EBX);
  if (cpu.fullCpuidAutoLevel) {
    for (const w of [
      FEAT_1_EDX,
      FEAT_1_ECX,
      FEAT_6_EAX,
      FEAT_7_0_ECX,
      FEAT_7_1_EAX,
      FEAT_7_1_EDX,
      FEAT_7_2_EDX,
      FEAT_8000_0001_EDX,
      FEAT_8000_0001_ECX,
      FEAT_8000_0007_EDX,
      FEAT_8000_0008_EBX,
      FEAT_C000_0001_EDX,
      FEAT_SVM,
      FEAT_XSAVE,
    ]) {
      x86CpuAdjustFeatLevel(cpu, w);
    }
    if ((env.features[FEAT_7_0_EBX]! & CPUID_7_0_EBX_INTEL_PT) !== 0n) {
      if (cpu.intelPtAutoLevel) {
        env.cpuidMinLevel = x86CpuAdjustLevel(0x14, env.cpuidMinLevel);
      } else if (env.cpuidMinLevel < 0x14) {
        markUnavailableFeatures(
          cpu,
          FEAT_7_0_EBX,
          CPUID_7_0_EBX_INTEL_PT,
          'Intel PT need CPUID leaf 0x14, please set by "-cpu ...,intel-pt=on,min-level=0x14"',
        );
      }
    }
    if (x86HasExtendedTopo(env.availCpuTopo) && (isIntelCpu(env) || !cpu.vendorCpuidOnly)) {
      env.cpuidMinLevel = x86CpuAdjustLevel(0x1f, env.cpuidMinLevel);
    }
    if ((env.features[FEAT_7_1_EDX]! & CPUID_7_1_EDX_AVX10) !== 0n) {
      env.cpuidMinLevel = x86CpuAdjustLevel(0x24, env.cpuidMinLevel);
    }
    if ((env.features[FEAT_8000_0001_ECX]! & CPUID_EXT3_SVM) !== 0n) {
      env.cpuidMinXlevel = x86CpuAdjustLevel(0x8000_000a, env.cpuidMinXlevel);
    }
    if (env.features[FEAT_8000_0021_EAX] !== 0n) {
      env.cpuidMinXlevel = x86CpuAdjustLevel(0x8000_0021, env.cpuidMinXlevel);
    }
    if ((env.features[FEAT_7_0_EBX]! & CPUID_7_0_EBX_SGX) !== 0n) {
      env.cpuidMinLevel = x86CpuAdjustLevel(0x12, env.cpuidMinLevel);
    }
  }

  if (env.cpuidLevelFunc7 === 0xffff_ffff) env.cpuidLevelFunc7 = env.cpuidMinLevelFunc7;
  if (env.cpuidLevel === 0xffff_ffff) env.cpuidLevel = env.cpuidMinLevel;
  if (env.cpuidXlevel === 0xffff_ffff) env.cpuidXlevel = env.cpuidMinXlevel;
  if (env.cpuidXlevel2 === 0xffff_ffff) env.cpuidXlevel2 = env.cpuidMinXlevel2;
}

const INTEL_PT_MINIMAL_EBX = 0xf;
const INTEL_PT_MINIMAL_ECX = 0x7;
const INTEL_PT_MTC_BITMAP = 0x0249 << 16;
const INTEL_PT_ADDR_RANGES_NUM = 0x2;
const INTEL_PT_ADDR_RANGES_NUM_MASK = 0x3;
const INTEL_PT_CYCLE_BITMAP = 0x1fff;
const INTEL_PT_PSB_BITMAP = 0x003f << 16;
const INTEL_PT_MAX_SUBLEAF = 0x1;
const CPUID_14_0_ECX_LIP = 1 << 31;

/**
 * `x86_cpu_filter_features`: remove every requested bit the accelerator does not support
 * and, when `verbose`, warn once per bit: `host doesn't support requested feature:
 * CPUID[eax=01h].ECX.vmx [bit 5]` (KVM/HVF) or `TCG doesn't support requested feature: …`.
 * Returns true when anything was filtered.
 */
export function x86CpuFilterFeatures(
  cpu: X86CPU,
  verbose: boolean,
  supported: X86SupportedFeatures | null = accelCpu,
): boolean {
  const env = cpu.env;
  const usesHost = supported?.usesHostCpuid ?? false;
  const prefix = verbose
    ? usesHost
      ? "host doesn't support requested feature"
      : "TCG doesn't support requested feature"
    : null;

  for (let w = 0; w < FEATURE_WORDS; w++) {
    const hostFeat = x86CpuGetSupportedFeatureWord(null, w, supported);
    const unavailable = env.features[w]! & ~hostFeat;
    markUnavailableFeatures(cpu, w, unavailable, prefix);
  }

  const supportedCpuid = (fn: number, index: number): CpuidRegs =>
    supported?.supportedCpuid?.(fn, index) ?? { eax: 0, ebx: 0, ecx: 0, edx: 0 };

  // Intel PT's capabilities are not configurable: KVM must offer at least what we report.
  if ((env.features[FEAT_7_0_EBX]! & CPUID_7_0_EBX_INTEL_PT) !== 0n && usesHost) {
    const l0 = supportedCpuid(0x14, 0);
    const l1 = supportedCpuid(0x14, 1);
    if (
      !l0.eax ||
      (l0.ebx & INTEL_PT_MINIMAL_EBX) !== INTEL_PT_MINIMAL_EBX ||
      (l0.ecx & INTEL_PT_MINIMAL_ECX) !== INTEL_PT_MINIMAL_ECX ||
      (l1.eax & INTEL_PT_MTC_BITMAP) !== INTEL_PT_MTC_BITMAP ||
      (l1.eax & INTEL_PT_ADDR_RANGES_NUM_MASK) < INTEL_PT_ADDR_RANGES_NUM ||
      (l1.ebx & (INTEL_PT_PSB_BITMAP | INTEL_PT_CYCLE_BITMAP)) !==
        (INTEL_PT_PSB_BITMAP | INTEL_PT_CYCLE_BITMAP) ||
      (l0.ecx & CPUID_14_0_ECX_LIP) >>> 0 !== u32(env.features[FEAT_14_0_ECX]! & 0x8000_0000n)
    ) {
      markUnavailableFeatures(cpu, FEAT_7_0_EBX, CPUID_7_0_EBX_INTEL_PT, prefix);
    }
  }

  let haveFiltered = cpu.filteredFeatures.some((f) => f !== 0n);

  if ((env.features[FEAT_7_1_EDX]! & CPUID_7_1_EDX_AVX10) !== 0n) {
    const version = supportedCpuid(0x24, 0).ebx & 0xff;
    if (version < env.avx10Version) {
      if (prefix) {
        warnReport(`${prefix}: avx10.${env.avx10Version}. Adjust to avx10.${version}`);
      }
      env.avx10Version = version;
      haveFiltered = true;
    }
  } else if (env.avx10Version) {
    if (prefix) warnReport(`${prefix}: avx10.${env.avx10Version}.`);
    haveFiltered = true;
  }
  return haveFiltered;
}

/** `x86_cpu_feature_name`: XCR0 component bits report the feature that enables them. */
function x86CpuFeatureName(w: FeatureWord, bitnr: number): string | null {
  if (w === FEAT_XSAVE_XCR0_LO || w === FEAT_XSAVE_XCR0_HI) {
    const comp = w === FEAT_XSAVE_XCR0_HI ? bitnr + 32 : bitnr;
    const esa = X86_EXT_SAVE_AREAS[comp];
    if (esa?.bits) {
      let bit = 0;
      while (((esa.bits >> BigInt(bit)) & 1n) === 0n) bit++;
      return featureBitName(esa.feature, bit);
    }
  }
  return featureBitName(w, bitnr);
}

/** `x86_cpu_list_feature_names`: the names of every bit set in `features`. */
export function x86CpuListFeatureNames(features: readonly bigint[]): (string | null)[] {
  const out: (string | null)[] = [];
  for (let w = 0; w < FEATURE_WORDS; w++) {
    for (let i = 0; i < 64; i++) {
      if ((features[w]! >> BigInt(i)) & 1n) out.push(x86CpuFeatureName(w, i));
    }
  }
  return out;
}

// ===========================================================================
// CPUID
// ===========================================================================

const CACHE_TYPE_CODE: Readonly<Record<CPUCacheInfo["type"], number>> = {
  data: 1,
  instruction: 2,
  unified: 3,
};

/** `max_thread_ids_for_cache`: (threads sharing the cache) − 1, as CPUID 4/8000001D want it. */
function maxThreadIdsForCache(t: X86CPUTopoInfo, shareLevel: number): number {
  switch (shareLevel) {
    case CPU_TOPOLOGY_LEVEL_CORE:
      return (1 << apicidCoreOffset(t)) - 1;
    case CPU_TOPOLOGY_LEVEL_MODULE:
      return (1 << apicidModuleOffset(t)) - 1;
    case CPU_TOPOLOGY_LEVEL_DIE:
      return (1 << apicidDieOffset(t)) - 1;
    case CPU_TOPOLOGY_LEVEL_SOCKET:
      return (1 << apicidPkgOffset(t)) - 1;
    default:
      throw new Error(`max_thread_ids_for_cache: share level ${shareLevel}`);
  }
}

/** `max_core_ids_in_package`. */
function maxCoreIdsInPackage(t: X86CPUTopoInfo): number {
  return (1 << (apicidPkgOffset(t) - apicidCoreOffset(t))) - 1;
}

/** `encode_cache_cpuid4`: one CPUID 4 subleaf. */
function encodeCacheCpuid4(c: CPUCacheInfo, t: X86CPUTopoInfo): CpuidRegs {
  return {
    eax:
      (CACHE_TYPE_CODE[c.type] |
        (c.level << 5) |
        (c.selfInit ? 1 << 8 : 0) |
        (maxCoreIdsInPackage(t) << 26) |
        (maxThreadIdsForCache(t, c.shareLevel) << 14)) >>>
      0,
    ebx: ((c.lineSize - 1) | ((c.partitions - 1) << 12) | ((c.associativity - 1) << 22)) >>> 0,
    ecx: c.sets - 1,
    edx: (c.noInvdSharing ? 1 : 0) | (c.inclusive ? 2 : 0) | (c.complexIndexing ? 4 : 0),
  };
}

/** `encode_cache_cpuid8000001d`. */
function encodeCacheCpuid8000001d(c: CPUCacheInfo, t: X86CPUTopoInfo): CpuidRegs {
  const r = encodeCacheCpuid4(c, t);
  r.eax =
    (CACHE_TYPE_CODE[c.type] |
      (c.level << 5) |
      (c.selfInit ? 1 << 8 : 0) |
      (maxThreadIdsForCache(t, c.shareLevel) << 14)) >>>
    0;
  return r;
}

/** `encode_cache_cpuid80000005`. */
function encodeCacheCpuid80000005(c: CPUCacheInfo): number {
  return (
    (((c.size / 1024) << 24) | (c.associativity << 16) | (c.linesPerTag << 8) | c.lineSize) >>> 0
  );
}

/** AMD_ENC_ASSOC: CPUID 80000006h's associativity code. */
function amdEncAssoc(a: number): number {
  const codes: Record<number, number> = {
    2: 0x2,
    4: 0x4,
    8: 0x6,
    16: 0x8,
    32: 0xa,
    48: 0xb,
    64: 0xc,
    96: 0xd,
    128: 0xe,
    255: 0xf,
  };
  return a <= 1 ? a : (codes[a] ?? 0);
}

/** `encode_cache_cpuid80000006`: L2 in ECX, L3 (if any) in EDX. */
function encodeCacheCpuid80000006(l2: CPUCacheInfo, l3: CPUCacheInfo | null): [number, number] {
  const ecx =
    (((l2.size / 1024) << 16) |
      (amdEncAssoc(l2.associativity) << 12) |
      (l2.linesPerTag << 8) |
      l2.lineSize) >>>
    0;
  const edx = l3
    ? (((l3.size / (512 * 1024)) << 18) |
        (amdEncAssoc(l3.associativity) << 12) |
        (l3.linesPerTag << 8) |
        l3.lineSize) >>>
      0
    : 0;
  return [ecx, edx];
}

/** CPUID 1Fh ECX[15:8] level types. */
const CPUID_1F_ECX_TOPO_LEVEL: Readonly<Record<number, number>> = {
  [CPU_TOPOLOGY_LEVEL_INVALID]: 0,
  [CPU_TOPOLOGY_LEVEL_THREAD]: 1,
  [CPU_TOPOLOGY_LEVEL_CORE]: 2,
  [CPU_TOPOLOGY_LEVEL_MODULE]: 3,
  [CPU_TOPOLOGY_LEVEL_DIE]: 5,
};

function numThreadsByTopoLevel(t: X86CPUTopoInfo, level: number): number {
  switch (level) {
    case CPU_TOPOLOGY_LEVEL_THREAD:
      return 1;
    case CPU_TOPOLOGY_LEVEL_CORE:
      return t.threadsPerCore;
    case CPU_TOPOLOGY_LEVEL_MODULE:
      return x86ThreadsPerModule(t);
    case CPU_TOPOLOGY_LEVEL_DIE:
      return x86ThreadsPerDie(t);
    default:
      return x86ThreadsPerPkg(t);
  }
}

function apicidOffsetByTopoLevel(t: X86CPUTopoInfo, level: number): number {
  switch (level) {
    case CPU_TOPOLOGY_LEVEL_THREAD:
      return 0;
    case CPU_TOPOLOGY_LEVEL_CORE:
      return apicidCoreOffset(t);
    case CPU_TOPOLOGY_LEVEL_MODULE:
      return apicidModuleOffset(t);
    case CPU_TOPOLOGY_LEVEL_DIE:
      return apicidDieOffset(t);
    default:
      return apicidPkgOffset(t);
  }
}

/** `encode_topo_cpuid1f`: subleaf `count` describes the (count+1)-th level present. */
function encodeTopoCpuid1f(cpu: X86CPU, count: number): CpuidRegs {
  const env = cpu.env;
  const t = env.topoInfo;
  const levels = [...env.availCpuTopo].filter((l) => l <= CPU_TOPOLOGY_LEVEL_SOCKET).sort();
  let level = levels[count] ?? CPU_TOPOLOGY_LEVEL_SOCKET;
  // Leaf 1Fh does not describe the package: its subleaf is the terminating one.
  if (level >= CPU_TOPOLOGY_LEVEL_SOCKET) level = CPU_TOPOLOGY_LEVEL_INVALID;
  let threadsNext = 0;
  let offsetNext = 0;
  if (level !== CPU_TOPOLOGY_LEVEL_INVALID) {
    const next = levels.find((l) => l > level) ?? CPU_TOPOLOGY_LEVEL_SOCKET;
    threadsNext = numThreadsByTopoLevel(t, next);
    offsetNext = apicidOffsetByTopoLevel(t, next);
  }
  return {
    eax: offsetNext,
    ebx: threadsNext & 0xffff,
    ecx: ((count & 0xff) | (CPUID_1F_ECX_TOPO_LEVEL[level]! << 8)) >>> 0,
    edx: cpu.apicId >>> 0,
  };
}

/** x86_has_cpuid_0x1f. */
export function x86HasCpuid0x1f(cpu: X86CPU): boolean {
  return x86HasExtendedTopo(cpu.env.availCpuTopo);
}

/** `x86_cpu_get_cache_cpuid`: the host's cache leaves (host-cache-info=on). */
function x86CpuGetCacheCpuid(fn: number, index: number): CpuidRegs {
  const level = fn >= 0x8000_0000 ? hostCpuid(0x8000_0000, 0).eax : hostCpuid(0, 0).eax;
  return fn > level ? { eax: 0, ebx: 0, ecx: 0, edx: 0 } : hostCpuid(fn, index);
}

/** `cpu_x86_virtual_addr_width`. */
function cpuX86VirtualAddrWidth(env: CPUX86State): number {
  return (env.features[FEAT_7_0_ECX]! & (1n << 16n)) !== 0n ? 57 : 48;
}

const L1_DTLB_2M_ASSOC = 1;
const L1_DTLB_2M_ENTRIES = 255;
const L1_DTLB_4K_ASSOC = 1;
const L1_DTLB_4K_ENTRIES = 255;
const L1_ITLB_2M_ASSOC = 1;
const L1_ITLB_2M_ENTRIES = 255;
const L1_ITLB_4K_ASSOC = 1;
const L1_ITLB_4K_ENTRIES = 255;
const L2_DTLB_4K_ASSOC = 4;
const L2_DTLB_4K_ENTRIES = 512;
const L2_ITLB_4K_ASSOC = 4;
const L2_ITLB_4K_ENTRIES = 512;

/**
 * `cpu_x86_cpuid`: the CPUID answer for leaf `index`, subleaf `count`, of this CPU —
 * the values kvm_arch_init_vcpu hands to KVM_SET_CPUID2. A leaf above its range's
 * maximum answers like the highest basic leaf (Intel's rule). OSXSAVE/OSPKE follow CR4.
 */
export function cpuX86Cpuid(
  env: CPUX86State,
  cpu: X86CPU,
  index: number,
  count: number,
): CpuidRegs {
  index >>>= 0;
  count >>>= 0;
  const t = env.topoInfo;
  const threadsPerPkg = x86ThreadsPerPkg(t);
  const f = (w: FeatureWord): number => u32(env.features[w]!);
  const zero = (): CpuidRegs => ({ eax: 0, ebx: 0, ecx: 0, edx: 0 });

  let limit: number;
  if (index >= 0xc000_0000) limit = env.cpuidXlevel2;
  else if (index >= 0x8000_0000) limit = env.cpuidXlevel;
  else if (index >= 0x4000_0000) limit = 0x4000_0001;
  else limit = env.cpuidLevel;
  if (index > limit >>> 0) index = env.cpuidLevel >>> 0;

  switch (index) {
    case 0:
      return {
        eax: env.cpuidLevel >>> 0,
        ebx: env.cpuidVendor1 >>> 0,
        ecx: env.cpuidVendor3 >>> 0,
        edx: env.cpuidVendor2 >>> 0,
      };
    case 1: {
      // CLFLUSH line size 8 quadwords (Linux wants it), initial APIC ID in 31:24.
      let ebx = ((cpu.apicId << 24) | (8 << 8)) >>> 0;
      let ecx = f(FEAT_1_ECX);
      if ((ecx & u32(CPUID_EXT_XSAVE)) !== 0 && (env.cr[4]! & (1n << 18n)) !== 0n) {
        ecx |= u32(CPUID_EXT_OSXSAVE);
      }
      if (threadsPerPkg > 1) ebx |= threadsPerPkg << 16;
      if (!cpu.enablePmu) ecx &= ~u32(CPUID_EXT_PDCM);
      return { eax: env.cpuidVersion >>> 0, ebx: ebx >>> 0, ecx: ecx >>> 0, edx: f(FEAT_1_EDX) };
    }
    case 2: {
      if (cpu.cacheInfoPassthrough) return x86CpuGetCacheCpuid(index, 0);
      if (cpu.vendorCpuidOnly && isAmdCpu(env)) return zero();
      const c = env.cacheInfoCpuid2;
      if (!c) return zero();
      return {
        eax: 1,
        ebx: 0,
        ecx: cpu.enableL3Cache ? cpuid2CacheDescriptor(c.l3Cache) : 0,
        edx:
          ((cpuid2CacheDescriptor(c.l1dCache) << 16) |
            (cpuid2CacheDescriptor(c.l1iCache) << 8) |
            cpuid2CacheDescriptor(c.l2Cache)) >>>
          0,
      };
    }
    case 4: {
      if (cpu.cacheInfoPassthrough) {
        const r = x86CpuGetCacheCpuid(index, count);
        if (r.eax & 31) {
          const hostVcpusPerCache = 1 + ((r.eax & 0x3ff_c000) >>> 14);
          r.eax = (r.eax & ~0xfc00_0000) | (maxCoreIdsInPackage(t) << 26);
          if (hostVcpusPerCache > threadsPerPkg) {
            r.eax =
              (r.eax & ~0x3ff_c000) | (maxThreadIdsForCache(t, CPU_TOPOLOGY_LEVEL_SOCKET) << 14);
          }
          r.eax >>>= 0;
        }
        return r;
      }
      if (cpu.vendorCpuidOnly && isAmdCpu(env)) return zero();
      const c = env.cacheInfoCpuid4;
      if (!c) return zero();
      switch (count) {
        case 0:
        case 1: {
          const r = encodeCacheCpuid4(count === 0 ? c.l1dCache : c.l1iCache, t);
          if (!cpu.l1CachePerCore) r.eax = (r.eax & ~(0xfff << 14)) >>> 0;
          return r;
        }
        case 2:
          return encodeCacheCpuid4(c.l2Cache, t);
        case 3:
          return cpu.enableL3Cache ? encodeCacheCpuid4(c.l3Cache, t) : zero();
        default:
          return zero();
      }
    }
    case 5:
      return { ...cpu.mwait };
    case 6:
      return { eax: f(FEAT_6_EAX), ebx: 0, ecx: 0, edx: 0 };
    case 7:
      if (count === 0) {
        let ecx = f(FEAT_7_0_ECX);
        if ((ecx & u32(CPUID_7_0_ECX_PKU)) !== 0 && (env.cr[4]! & (1n << 22n)) !== 0n) {
          ecx = (ecx | u32(CPUID_7_0_ECX_OSPKE)) >>> 0;
        }
        return {
          eax: env.cpuidLevelFunc7 >>> 0,
          ebx: f(FEAT_7_0_EBX),
          ecx,
          edx: f(FEAT_7_0_EDX),
        };
      }
      if (count === 1) return { eax: f(FEAT_7_1_EAX), ebx: 0, ecx: 0, edx: f(FEAT_7_1_EDX) };
      if (count === 2) return { eax: 0, ebx: 0, ecx: 0, edx: f(FEAT_7_2_EDX) };
      return zero();
    case 9:
      return zero();
    case 0xa:
      return cpu.enablePmu && accelCpu ? accelCpu.supportedCpuid(0xa, count) : zero();
    case 0xb: {
      if (!cpu.enableCpuid0xb) return zero();
      const r: CpuidRegs = { eax: 0, ebx: 0, ecx: count & 0xff, edx: cpu.apicId >>> 0 };
      if (count === 0) {
        r.eax = apicidCoreOffset(t);
        r.ebx = t.threadsPerCore;
        r.ecx |= 1 << 8; // SMT
      } else if (count === 1) {
        r.eax = apicidPkgOffset(t);
        r.ebx = threadsPerPkg;
        r.ecx |= 2 << 8; // Core
      }
      r.ebx &= 0xffff;
      return r;
    }
    case 0x1c:
      if (cpu.enablePmu && (env.features[FEAT_7_0_EDX]! & CPUID_7_0_EDX_ARCH_LBR) !== 0n) {
        const r = accelCpu ? accelCpu.supportedCpuid(0x1c, 0) : zero();
        r.edx = 0;
        return r;
      }
      return zero();
    case 0x1f:
      return x86HasCpuid0x1f(cpu) ? encodeTopoCpuid1f(cpu, count) : zero();
    case 0xd: {
      if ((env.features[FEAT_1_ECX]! & CPUID_EXT_XSAVE) === 0n) return zero();
      if (count === 0) {
        const ecx = xsaveAreaSize(xcr0Components(env), false);
        return {
          eax: f(FEAT_XSAVE_XCR0_LO),
          // With KVM, EBX = ECX so guests that never see XCR0 change still size the area.
          ebx: kvmEnabled() ? ecx : xsaveAreaSize(env.xcr0, false),
          ecx,
          edx: f(FEAT_XSAVE_XCR0_HI),
        };
      }
      if (count === 1) {
        const xstate = xcr0Components(env) | xssComponents(env);
        const eax = f(FEAT_XSAVE);
        let ecx = f(FEAT_XSAVE_XSS_LO);
        const lbr = 1 << 15;
        if (
          kvmEnabled() &&
          cpu.enablePmu &&
          (env.features[FEAT_7_0_EDX]! & CPUID_7_0_EDX_ARCH_LBR) !== 0n &&
          (eax & u32(CPUID_XSAVE_XSAVES)) !== 0
        ) {
          ecx |= lbr;
        } else {
          ecx &= ~lbr;
        }
        return { eax, ebx: xsaveAreaSize(xstate, true), ecx: ecx >>> 0, edx: f(FEAT_XSAVE_XSS_HI) };
      }
      if (
        count === 0xf &&
        cpu.enablePmu &&
        (env.features[FEAT_7_0_EDX]! & CPUID_7_0_EDX_ARCH_LBR) !== 0n
      ) {
        return accelCpu ? accelCpu.supportedCpuid(0xd, count) : zero();
      }
      if (count < X86_EXT_SAVE_AREAS.length) {
        const esa = X86_EXT_SAVE_AREAS[count];
        const bit = 1n << BigInt(count);
        if (esa && (xcr0Components(env) & bit) !== 0n) {
          return { eax: esaSize(count), ebx: esa.offset, ecx: 0, edx: 0 };
        }
        if (esa && (xssComponents(env) & bit) !== 0n) {
          return { eax: esaSize(count), ebx: 0, ecx: 1, edx: 0 };
        }
      }
      return zero();
    }
    case 0x12:
      // SGX needs an EPC section (sgx-epc), which this machine does not model.
      return zero();
    case 0x14: {
      if ((env.features[FEAT_7_0_EBX]! & CPUID_7_0_EBX_INTEL_PT) === 0n || !kvmEnabled()) {
        return zero();
      }
      if (count === 0) {
        let ecx = INTEL_PT_MINIMAL_ECX;
        if ((env.features[FEAT_14_0_ECX]! & 0x8000_0000n) !== 0n) ecx |= CPUID_14_0_ECX_LIP;
        return { eax: INTEL_PT_MAX_SUBLEAF, ebx: INTEL_PT_MINIMAL_EBX, ecx: ecx >>> 0, edx: 0 };
      }
      if (count === 1) {
        return {
          eax: INTEL_PT_MTC_BITMAP | INTEL_PT_ADDR_RANGES_NUM,
          ebx: INTEL_PT_PSB_BITMAP | INTEL_PT_CYCLE_BITMAP,
          ecx: 0,
          edx: 0,
        };
      }
      return zero();
    }
    case 0x1d: {
      if ((env.features[FEAT_7_0_EDX]! & CPUID_7_0_EDX_AMX_TILE) === 0n) return zero();
      if (count === 0) return { eax: 1, ebx: 0, ecx: 0, edx: 0 };
      if (count === 1) {
        return { eax: 0x2000 | (0x400 << 16), ebx: 0x40 | (0x8 << 16), ecx: 0x10, edx: 0 };
      }
      return zero();
    }
    case 0x1e:
      if ((env.features[FEAT_7_0_EDX]! & CPUID_7_0_EDX_AMX_TILE) === 0n || count !== 0) {
        return zero();
      }
      return { eax: 0, ebx: 0x10 | (0x40 << 8), ecx: 0, edx: 0 };
    case 0x24:
      if ((env.features[FEAT_7_1_EDX]! & CPUID_7_1_EDX_AVX10) !== 0n && count === 0) {
        return { eax: 0, ebx: (f(FEAT_24_0_EBX) | env.avx10Version) >>> 0, ecx: 0, edx: 0 };
      }
      return zero();
    case 0x4000_0000:
      // The KVM leaves come from kvm_arch_init_vcpu; TCG signs its own.
      if (tcgEnabled() && cpu.exposeTcg) {
        return { eax: 0x4000_0001, ebx: 0x4754_4354, ecx: 0x4354_4347, edx: 0x4347_5443 };
      }
      return zero();
    case 0x4000_0001:
      return zero();
    case 0x8000_0000:
      return {
        eax: env.cpuidXlevel >>> 0,
        ebx: env.cpuidVendor1 >>> 0,
        ecx: env.cpuidVendor3 >>> 0,
        edx: env.cpuidVendor2 >>> 0,
      };
    case 0x8000_0001:
      return {
        eax: env.cpuidVersion >>> 0,
        ebx: 0,
        ecx: f(FEAT_8000_0001_ECX),
        edx: f(FEAT_8000_0001_EDX),
      };
    case 0x8000_0002:
    case 0x8000_0003:
    case 0x8000_0004: {
      const i = (index - 0x8000_0002) * 4;
      const m = env.cpuidModel;
      return { eax: m[i]!, ebx: m[i + 1]!, ecx: m[i + 2]!, edx: m[i + 3]! };
    }
    case 0x8000_0005: {
      if (cpu.cacheInfoPassthrough) return x86CpuGetCacheCpuid(index, 0);
      const c = env.cacheInfoAmd;
      return {
        eax:
          ((L1_DTLB_2M_ASSOC << 24) |
            (L1_DTLB_2M_ENTRIES << 16) |
            (L1_ITLB_2M_ASSOC << 8) |
            L1_ITLB_2M_ENTRIES) >>>
          0,
        ebx:
          ((L1_DTLB_4K_ASSOC << 24) |
            (L1_DTLB_4K_ENTRIES << 16) |
            (L1_ITLB_4K_ASSOC << 8) |
            L1_ITLB_4K_ENTRIES) >>>
          0,
        ecx: c ? encodeCacheCpuid80000005(c.l1dCache) : 0,
        edx: c ? encodeCacheCpuid80000005(c.l1iCache) : 0,
      };
    }
    case 0x8000_0006: {
      if (cpu.cacheInfoPassthrough) return x86CpuGetCacheCpuid(index, 0);
      const c = env.cacheInfoAmd;
      // 2M TLBs disabled (associativity and entries 0).
      const eax = 0;
      const ebx =
        ((amdEncAssoc(L2_DTLB_4K_ASSOC) << 28) |
          (L2_DTLB_4K_ENTRIES << 16) |
          (amdEncAssoc(L2_ITLB_4K_ASSOC) << 12) |
          L2_ITLB_4K_ENTRIES) >>>
        0;
      if (!c) return { eax, ebx, ecx: 0, edx: 0 };
      const [ecx, edx] = encodeCacheCpuid80000006(c.l2Cache, cpu.enableL3Cache ? c.l3Cache : null);
      return { eax, ebx, ecx, edx };
    }
    case 0x8000_0007:
      return { eax: 0, ebx: f(FEAT_8000_0007_EBX), ecx: 0, edx: f(FEAT_8000_0007_EDX) };
    case 0x8000_0008: {
      let eax = cpu.physBits;
      if ((env.features[FEAT_8000_0001_EDX]! & CPUID_EXT2_LM) !== 0n) {
        eax |= cpuX86VirtualAddrWidth(env) << 8;
        eax |= (cpu.guestPhysBits === GUEST_PHYS_BITS_UNSET ? 0 : cpu.guestPhysBits) << 16;
      }
      const ecx = threadsPerPkg > 1 ? (apicidPkgOffset(t) << 12) | (threadsPerPkg - 1) : 0;
      return { eax: eax >>> 0, ebx: f(FEAT_8000_0008_EBX), ecx, edx: 0 };
    }
    case 0x8000_000a:
      if ((env.features[FEAT_8000_0001_ECX]! & CPUID_EXT3_SVM) !== 0n) {
        // SVM revision 1, 16 ASIDs, the optional features.
        return { eax: 1, ebx: 0x10, ecx: 0, edx: f(FEAT_SVM) };
      }
      return zero();
    case 0x8000_001d: {
      if (cpu.cacheInfoPassthrough) return x86CpuGetCacheCpuid(index, count);
      const c = env.cacheInfoAmd;
      if (!c || count > 3) return zero();
      const which = [c.l1dCache, c.l1iCache, c.l2Cache, c.l3Cache][count]!;
      const r = encodeCacheCpuid8000001d(which, t);
      if (cpu.amdTopoextFeaturesOnly) r.edx &= 1 | 2;
      return r;
    }
    case 0x8000_001e: {
      if (cpu.coreId > 255) return zero();
      const ids = x86TopoIdsFromApicid(cpu.apicId, t);
      const ecx = cpu.legacyMultiNode
        ? ((t.diesPerPkg - 1) << 8) | ((cpu.apicId >>> apicidDieOffset(t)) & 0xff)
        : (cpu.apicId >>> apicidPkgOffset(t)) & 0xff;
      return {
        eax: cpu.apicId >>> 0,
        ebx: ((t.threadsPerCore - 1) << 8) | (ids.coreId & 0xff),
        ecx: ecx >>> 0,
        edx: 0,
      };
    }
    case 0x8000_0021:
      return { eax: f(FEAT_8000_0021_EAX), ebx: f(FEAT_8000_0021_EBX), ecx: 0, edx: 0 };
    case 0xc000_0000:
      return { eax: env.cpuidXlevel2 >>> 0, ebx: 0, ecx: 0, edx: 0 };
    case 0xc000_0001:
      return { eax: env.cpuidVersion >>> 0, ebx: 0, ecx: 0, edx: f(FEAT_C000_0001_EDX) };
    default:
      return zero();
  }
}

/** `cpu_x86_cpuid` for a CPU object: `cpuX86Cpuid(cpu.env, cpu, index, count)`. */
export function x86CpuCpuid(cpu: X86CPU, index: number, count = 0): CpuidRegs {
  return cpuX86Cpuid(cpu.env, cpu, index, count);
}

// ===========================================================================
// Reset and realize
// ===========================================================================

function loadSegCache(
  env: CPUX86State,
  r: number,
  selector: number,
  base: bigint,
  limit: number,
  flags: number,
): void {
  env.segs[r] = { selector, base, limit, flags };
}

/** `cpu_is_bsp`: the first CPU is the bootstrap processor (apic_designate_bsp). */
export const x86CpuIsBsp = (cpu: X86CPU): boolean => cpu.cpuIndex === 0;

/**
 * `x86_cpu_reset_hold`: the architectural power-on state (SDM vol. 3 §10.1.1) QEMU gives
 * every vCPU and later pushes with KVM_SET_REGS/SREGS/MSRS: CS F000 with base FFFF0000,
 * EIP FFF0, CR0 60000010, EFLAGS 2, EDX = CPUID.1:EAX, DR6/DR7 fixed bits, PAT
 * 0007040600070406, MTRRs off, FPU/SSE defaults. APs start halted.
 */
export function x86CpuResetHold(cpu: X86CPU): void {
  const env = x86CpuEnv(cpu);
  const tsc = env.tsc;
  resetFields(env);
  env.tsc = tsc;

  env.oldException = -1;
  env.intCtl = 0;
  env.hflags2 |= HF2_GIF_MASK | HF2_VGIF_MASK;

  env.cr[0] = BigInt(CR0_RESET);
  env.a20Mask = ~0;
  env.smbase = 0x3_0000;
  env.msrSmiCount = 0;

  env.idt.limit = 0xffff;
  env.gdt.limit = 0xffff;
  env.ldt.limit = 0xffff;
  env.ldt.flags = DESC_P_MASK | (2 << DESC_TYPE_SHIFT);
  env.tr.limit = 0xffff;
  env.tr.flags = DESC_P_MASK | (11 << DESC_TYPE_SHIFT);

  loadSegCache(
    env,
    R_CS,
    0xf000,
    0xffff_0000n,
    0xffff,
    DESC_P_MASK | DESC_S_MASK | DESC_CS_MASK | DESC_R_MASK | DESC_A_MASK,
  );
  const data = DESC_P_MASK | DESC_S_MASK | DESC_W_MASK | DESC_A_MASK;
  for (const r of [R_DS, R_ES, R_SS, R_FS, R_GS]) loadSegCache(env, r, 0, 0n, 0xffff, data);

  env.eip = 0xfff0n;
  env.regs[2] = BigInt(env.cpuidVersion >>> 0); // EDX
  env.eflags = 0x2;

  env.fptags = new Array(8).fill(1);
  env.fpuc = FPUC_RESET;
  env.mxcsr = MXCSR_RESET;
  env.xstateBv = 0n;
  env.pat = PAT_RESET;

  // KVM treats TSC = 0 as a hot-plugged CPU; 1 forces a real reset.
  if (kvmEnabled()) {
    if (env.tsc !== 0n) env.tsc = 1n;
  } else {
    env.tsc = 0n;
  }

  env.msrIa32MiscEnable = MSR_IA32_MISC_ENABLE_DEFAULT;
  if ((env.features[FEAT_1_ECX]! & CPUID_EXT_MONITOR) !== 0n) {
    env.msrIa32MiscEnable |= MSR_IA32_MISC_ENABLE_MWAIT;
  }

  env.dr = new Array(8).fill(0n);
  env.dr[6] = DR6_FIXED_1;
  env.dr[7] = DR7_FIXED_1;

  env.xcr0 = XSTATE_FP_MASK;
  env.cr[4] = 0n;

  // SDM §11.11.5: MTRRs disabled, variable ranges invalid.
  env.mtrrDeftype = 0n;

  env.interruptInjected = -1;
  env.exceptionNr = -1;
  env.exceptionPending = 0;
  env.exceptionInjected = 0;
  env.exceptionHasPayload = false;
  env.exceptionPayload = 0n;
  env.nmiInjected = false;
  env.tripleFaultPending = false;

  cpu.halted = x86CpuIsBsp(cpu) ? 0 : 1;
  accelCpu?.cpuResetHold?.(cpu);
  env.amdTscScaleMsr = MSR_AMD64_TSC_RATIO_DEFAULT;
}

/** `cpu_reset`: run the CPU's reset (the hold phase is all x86 has). */
export function cpuReset(cpu: X86CPU): void {
  x86CpuResetHold(cpu);
}

/** `mce_init`: machine-check capabilities for family ≥ 6 CPUs with MCE and MCA. */
function mceInit(cpu: X86CPU): void {
  const env = cpu.env;
  const mce = CPUID_MCE | CPUID_MCA;
  if (((env.cpuidVersion >>> 8) & 0xf) >= 6 && (env.features[FEAT_1_EDX]! & mce) === mce) {
    env.mcgCap = MCG_CTL_P | MCG_SER_P | BigInt(MCE_BANKS_DEF) | (cpu.enableLmce ? MCG_LMCE_P : 0n);
    env.mcgCtl = ALL_ONES;
    for (let bank = 0; bank < MCE_BANKS_DEF; bank++) env.mceBanks[bank * 4] = ALL_ONES;
  }
}

let warnedAmdHt = false;

function realizeError(message: string): QomError {
  return new QomError("invalid-parameter-value", message, { operation: "x86_cpu_realizefn" });
}

/** `x86_cpu_class_get_model_name`: the type name without `-x86_64-cpu`. */
export function x86CpuClassGetModelName(xcc: ObjectClass): string {
  const name = objectClassGetName(xcc);
  return name.endsWith(X86_CPU_TYPE_SUFFIX) ? name.slice(0, -X86_CPU_TYPE_SUFFIX.length) : name;
}

function resolveVersion(model: X86CPUModel): number {
  let v = model.version;
  if (v === CPU_VERSION_AUTO) v = defaultCpuVersion;
  if (v === CPU_VERSION_LATEST) {
    const versions = x86CpuDefGetVersions(model.cpudef);
    return versions[versions.length - 1]!.version;
  }
  return v;
}

/** `x86_cpu_get_versioned_cache_info`: the cache table of the model at its version. */
function x86CpuGetVersionedCacheInfo(model: X86CPUModel | null): CPUCaches | null {
  if (!model) return null;
  const version = resolveVersion(model);
  let info = model.cpudef.cacheInfo ?? null;
  if (version === CPU_VERSION_LEGACY) return info;
  for (const vdef of x86CpuDefGetVersions(model.cpudef)) {
    if (vdef.cacheInfo) info = vdef.cacheInfo;
    if (vdef.version === version) break;
  }
  return info;
}

/**
 * `x86_cpu_realizefn`: check apic-id, expand and filter the features, let the accelerator
 * realize its part, settle phys-bits/microcode/caches, create the APIC, start the vCPU,
 * reset, and chain to the parent's realize. Throws QomError.
 */
export function x86CpuRealizefn(dev: DeviceState): void {
  const cpu = dev as X86CPU;
  const xcc = cpu.class as X86CPUClass;
  const env = cpu.env;

  if (cpu.apicId === UNASSIGNED_APIC_ID) {
    throw realizeError("apic-id property was not initialized properly");
  }

  x86CpuExpandFeatures(cpu);

  if (x86CpuFilterFeatures(cpu, cpu.checkCpuid || cpu.enforceCpuid) && cpu.enforceCpuid) {
    throw realizeError(
      accelUsesHostCpuid()
        ? "Host doesn't support requested features"
        : "TCG doesn't support requested features",
    );
  }

  // On AMD CPUs some CPUID[8000_0001].EDX bits repeat CPUID[1].EDX.
  if (isAmdCpu(env)) {
    env.features[FEAT_8000_0001_EDX] =
      (env.features[FEAT_8000_0001_EDX]! & ~CPUID_EXT2_AMD_ALIASES) |
      (env.features[FEAT_1_EDX]! & CPUID_EXT2_AMD_ALIASES);
  }

  // cpu_exec_realizefn: the accelerator's realize, then the CPU list (cpu_index).
  accelCpu?.cpuTargetRealize?.(cpu);
  cpuListAdd(cpu);

  try {
    if (xcc.hostCpuidRequired && !accelUsesHostCpuid()) {
      throw realizeError(`CPU model '${x86CpuClassGetModelName(xcc)}' requires KVM or HVF`);
    }

    if (cpu.guestPhysBits === GUEST_PHYS_BITS_UNSET) cpu.guestPhysBits = 0;

    if (cpu.ucodeRev === 0n) {
      // The same default as KVM's.
      cpu.ucodeRev = isAmdCpu(env) ? 0x0100_0065n : 0x1_0000_0000n;
    }

    // We always wake on interrupt even if the host cannot.
    cpu.mwait.ecx |= CPUID_MWAIT_EMX | CPUID_MWAIT_IBE;

    if (
      isAmdCpu(env) &&
      (env.features[FEAT_8000_0001_ECX]! & CPUID_EXT3_TOPOEXT) === 0n &&
      env.topoInfo.threadsPerCore > 1 &&
      !warnedAmdHt
    ) {
      warnedAmdHt = true;
      warnReport(
        `This family of AMD CPU doesn't support hyperthreading(${env.topoInfo.threadsPerCore}). Please configure -smp options properly or try enabling topoext feature.`,
      );
    }

    if ((env.features[FEAT_8000_0001_EDX]! & CPUID_EXT2_LM) !== 0n) {
      if (cpu.physBits && (cpu.physBits > 52 || cpu.physBits < 32)) {
        throw realizeError(`phys-bits should be between 32 and 52  (but is ${cpu.physBits})`);
      }
      if (cpu.physBits === 0) cpu.physBits = TCG_PHYS_ADDR_BITS;
      if (cpu.guestPhysBits && (cpu.guestPhysBits > cpu.physBits || cpu.guestPhysBits < 32)) {
        throw realizeError(
          `guest-phys-bits should be between 32 and ${cpu.physBits}  (but is ${cpu.guestPhysBits})`,
        );
      }
    } else {
      if (cpu.physBits !== 0) throw realizeError("phys-bits is not user-configurable in 32 bit");
      if (cpu.guestPhysBits !== 0) {
        throw realizeError("guest-phys-bits is not user-configurable in 32 bit");
      }
      cpu.physBits = (env.features[FEAT_1_EDX]! & (CPUID_PSE36 | CPUID_PAE)) !== 0n ? 36 : 32;
    }

    if (!cpu.legacyCache) {
      const info = x86CpuGetVersionedCacheInfo(xcc.model);
      if (!xcc.model || !info) {
        throw realizeError(
          `CPU model '${x86CpuClassGetModelName(xcc)}' doesn't support legacy-cache=off`,
        );
      }
      env.cacheInfoCpuid2 = info;
      env.cacheInfoCpuid4 = info;
      env.cacheInfoAmd = info;
    } else {
      env.cacheInfoCpuid2 = {
        l1dCache: LEGACY_L1D_CACHE,
        l1iCache: LEGACY_L1I_CACHE,
        l2Cache: LEGACY_L2_CACHE_CPUID2,
        l3Cache: LEGACY_L3_CACHE,
      };
      env.cacheInfoCpuid4 = {
        l1dCache: LEGACY_L1D_CACHE,
        l1iCache: LEGACY_L1I_CACHE,
        l2Cache: LEGACY_L2_CACHE,
        l3Cache: LEGACY_L3_CACHE,
      };
      env.cacheInfoAmd = {
        l1dCache: LEGACY_L1D_CACHE_AMD,
        l1iCache: LEGACY_L1I_CACHE_AMD,
        l2Cache: LEGACY_L2_CACHE_AMD,
        l3Cache: LEGACY_L3_CACHE,
      };
    }

    realizeHooks.registerReset?.(cpu);
    if ((env.features[FEAT_1_EDX]! & CPUID_APIC) !== 0n || (realizeHooks.smpCpus?.() ?? 1) > 1) {
      realizeHooks.apicCreate?.(cpu);
    }

    mceInit(cpu);
    realizeHooks.initVcpu?.(cpu);
    realizeHooks.apicRealize?.(cpu);
    cpuReset(cpu);
    xcc.parentRealize?.(dev);
  } catch (err) {
    cpuListRemove(cpu);
    throw err;
  }
}

function x86CpuUnrealizefn(dev: DeviceState): void {
  const xcc = dev.class as X86CPUClass;
  xcc.parentUnrealize?.(dev);
}

// ===========================================================================
// Properties
// ===========================================================================

/** The error every static property setter raises once the device is realized. */
function setAfterRealize(dev: DeviceState, name: string): QomError {
  const who = dev.id !== null ? `device '${dev.id}'` : "anonymous device";
  return new QomError(
    "realized",
    `Attempt to set property '${name}' on ${who} (type '${objectGetTypename(dev)}') after it was realized`,
    { operation: "qdev_prop_set_after_realize" },
  );
}

interface BitProperty {
  readonly w: FeatureWord;
  mask: bigint;
}

function x86CpuGetBitProp(obj: QomObject, _name: string, opaque: unknown): QValue {
  const fp = opaque as BitProperty;
  const f = x86CpuEnv(obj as X86CPU).features[fp.w]!;
  return (f & fp.mask) === fp.mask;
}

function x86CpuSetBitProp(obj: QomObject, v: InputVisitor, name: string, opaque: unknown): void {
  const dev = obj as X86CPU;
  const fp = opaque as BitProperty;
  if (dev.realized) throw setAfterRealize(dev, name);
  const value = v.typeBool(name);
  const env = x86CpuEnv(dev);
  env.features[fp.w] = value ? env.features[fp.w]! | fp.mask : env.features[fp.w]! & ~fp.mask;
  env.userFeatures[fp.w] = env.userFeatures[fp.w]! | fp.mask;
}

/** `x86_cpu_register_bit_prop`: a second bit under the same name widens the mask. */
function x86CpuRegisterBitProp(oc: ObjectClass, name: string, w: FeatureWord, bit: number): void {
  const mask = 1n << BigInt(bit);
  const op = objectClassPropertyFind(oc, name);
  if (op) {
    const fp = op.opaque as BitProperty;
    if (fp.w !== w) throw new Error(`feature ${name} registered in two words`);
    fp.mask |= mask;
    return;
  }
  const fp: BitProperty = { w, mask };
  objectClassPropertyAdd(oc, name, "bool", x86CpuGetBitProp, x86CpuSetBitProp, undefined, fp);
}

/** A uint32 field of CPUX86State as a static property (DEFINE_PROP_UINT32 on env.x). */
const envUint32: PropertyInfo = {
  name: "uint32",
  get: (obj, _n, prop) =>
    (x86CpuEnv(obj as X86CPU) as unknown as Record<string, number>)[prop.field]!,
  set: (obj, v, name, prop) => {
    const value = v.typeUint64(name);
    if (value > 0xffff_ffffn) {
      throw new QomError("invalid-parameter-value", `Parameter '${name}' expects uint32_t`);
    }
    (x86CpuEnv(obj as X86CPU) as unknown as Record<string, number>)[prop.field] = Number(value);
  },
  setDefaultValue: (op: ObjectProperty, prop) =>
    objectPropertySetDefaultUint(op, prop.defval as number),
};

const envUint8: PropertyInfo = {
  ...envUint32,
  name: "uint8",
  set: (obj, v, name, prop) => {
    const value = v.typeUint64(name);
    if (value > 0xffn) {
      throw new QomError("invalid-parameter-value", `Parameter '${name}' expects uint8_t`);
    }
    (x86CpuEnv(obj as X86CPU) as unknown as Record<string, number>)[prop.field] = Number(value);
  },
};

const envProp = (name: string, field: keyof CPUX86State, info: PropertyInfo, defval: number) =>
  ({ name, info, field, setDefault: true, defval }) satisfies Property;

/** `x86_cpu_properties` (the hv-* enlightenments and LBR are not modelled). */
const X86_CPU_PROPERTIES: readonly Property[] = [
  definePropUint32("apic-id", "apicId", UNASSIGNED_APIC_ID),
  definePropInt32("thread-id", "threadId", -1),
  definePropInt32("core-id", "coreId", -1),
  definePropInt32("module-id", "moduleId", -1),
  definePropInt32("die-id", "dieId", -1),
  definePropInt32("socket-id", "socketId", -1),
  definePropInt32("node-id", "nodeId", CPU_UNSET_NUMA_NODE_ID),
  definePropBool("pmu", "enablePmu", false),
  definePropBool("check", "checkCpuid", true),
  definePropBool("enforce", "enforceCpuid", false),
  definePropBool("x-force-features", "forceFeatures", false),
  definePropBool("kvm", "exposeKvm", true),
  definePropUint32("phys-bits", "physBits", 0),
  definePropUint32("guest-phys-bits", "guestPhysBits", GUEST_PHYS_BITS_UNSET),
  definePropBool("host-phys-bits", "hostPhysBits", false),
  definePropUint8("host-phys-bits-limit", "hostPhysBitsLimit", 0),
  definePropBool("fill-mtrr-mask", "fillMtrrMask", true),
  envProp("level-func7", "cpuidLevelFunc7", envUint32, 0xffff_ffff),
  envProp("level", "cpuidLevel", envUint32, 0xffff_ffff),
  envProp("xlevel", "cpuidXlevel", envUint32, 0xffff_ffff),
  envProp("xlevel2", "cpuidXlevel2", envUint32, 0xffff_ffff),
  envProp("min-level", "cpuidMinLevel", envUint32, 0),
  envProp("min-xlevel", "cpuidMinXlevel", envUint32, 0),
  envProp("min-xlevel2", "cpuidMinXlevel2", envUint32, 0),
  envProp("avx10-version", "avx10Version", envUint8, 0),
  definePropUint64("ucode-rev", "ucodeRev", 0n),
  definePropBool("full-cpuid-auto-level", "fullCpuidAutoLevel", true),
  definePropBool("cpuid-0xb", "enableCpuid0xb", true),
  definePropBool("x-vendor-cpuid-only", "vendorCpuidOnly", true),
  definePropBool("x-amd-topoext-features-only", "amdTopoextFeaturesOnly", true),
  definePropBool("lmce", "enableLmce", false),
  definePropBool("l3-cache", "enableL3Cache", true),
  definePropBool("kvm-pv-enforce-cpuid", "kvmPvEnforceCpuid", false),
  definePropBool("vmware-cpuid-freq", "vmwareCpuidFreq", true),
  definePropBool("tcg-cpuid", "exposeTcg", true),
  definePropBool("legacy-cache", "legacyCache", true),
  definePropBool("legacy-multi-node", "legacyMultiNode", false),
  definePropBool("x-intel-pt-auto-level", "intelPtAutoLevel", true),
  definePropBool("x-l1-cache-per-thread", "l1CachePerCore", true),
];

/** `max_x86_cpu_properties`. */
const MAX_X86_CPU_PROPERTIES: readonly Property[] = [
  definePropBool("migratable", "migratable", true),
  definePropBool("host-cache-info", "cacheInfoPassthrough", false),
];

function atMost(name: string, max: number | bigint): QomError {
  return new QomError("invalid-parameter-value", `parameter '${name}' can be at most ${max}`);
}

function x86CpuidVersionGetFamily(obj: QomObject): QValue {
  return x86CpuFamily(x86CpuEnv(obj as X86CPU).cpuidVersion);
}
function x86CpuidVersionSetFamily(obj: QomObject, v: InputVisitor, name: string): void {
  const env = x86CpuEnv(obj as X86CPU);
  const max = 0xff + 0xf;
  const value = Number(v.typeUint64(name));
  if (value > max) throw atMost(name, max);
  env.cpuidVersion &= ~0xff0_0f00;
  env.cpuidVersion |= value > 0x0f ? 0xf00 | ((value - 0x0f) << 20) : value << 8;
  env.cpuidVersion >>>= 0;
}
function x86CpuidVersionGetModel(obj: QomObject): QValue {
  return x86CpuModel(x86CpuEnv(obj as X86CPU).cpuidVersion);
}
function x86CpuidVersionSetModel(obj: QomObject, v: InputVisitor, name: string): void {
  const env = x86CpuEnv(obj as X86CPU);
  const value = Number(v.typeUint64(name));
  if (value > 0xff) throw atMost(name, 0xff);
  env.cpuidVersion &= ~0xf_00f0;
  env.cpuidVersion |= ((value & 0xf) << 4) | ((value >>> 4) << 16);
  env.cpuidVersion >>>= 0;
}
function x86CpuidVersionGetStepping(obj: QomObject): QValue {
  return x86CpuStepping(x86CpuEnv(obj as X86CPU).cpuidVersion);
}
function x86CpuidVersionSetStepping(obj: QomObject, v: InputVisitor, name: string): void {
  const env = x86CpuEnv(obj as X86CPU);
  const value = Number(v.typeUint64(name));
  if (value > 0xf) throw atMost(name, 0xf);
  env.cpuidVersion = ((env.cpuidVersion & ~0xf) | value) >>> 0;
}

function x86CpuidGetVendor(obj: QomObject): string {
  const env = x86CpuEnv(obj as X86CPU);
  return x86CpuVendorWords2str(env.cpuidVendor1, env.cpuidVendor2, env.cpuidVendor3);
}
function x86CpuidSetVendor(obj: QomObject, value: string): void {
  const env = x86CpuEnv(obj as X86CPU);
  if (value.length !== 12) {
    throw new QomError(
      "invalid-parameter-value",
      "value of property 'vendor' must consist of exactly 12 characters",
    );
  }
  const word = (o: number) =>
    (value.charCodeAt(o) |
      (value.charCodeAt(o + 1) << 8) |
      (value.charCodeAt(o + 2) << 16) |
      (value.charCodeAt(o + 3) << 24)) >>>
    0;
  env.cpuidVendor1 = word(0);
  env.cpuidVendor2 = word(4);
  env.cpuidVendor3 = word(8);
}

function x86CpuidGetModelId(obj: QomObject): string {
  const m = x86CpuEnv(obj as X86CPU).cpuidModel;
  let s = "";
  for (let i = 0; i < 48; i++) {
    const c = (m[i >> 2]! >>> (8 * (i & 3))) & 0xff;
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}
function x86CpuidSetModelId(obj: QomObject, modelId: string): void {
  const m = x86CpuEnv(obj as X86CPU).cpuidModel;
  m.fill(0);
  for (let i = 0; i < 48 && i < modelId.length; i++) {
    m[i >> 2] = (m[i >> 2]! | ((modelId.charCodeAt(i) & 0xff) << (8 * (i & 3)))) >>> 0;
  }
}

function x86CpuidGetTscFreq(obj: QomObject): QValue {
  return x86CpuEnv(obj as X86CPU).tscKhz * 1000;
}
function x86CpuidSetTscFreq(obj: QomObject, v: InputVisitor, name: string): void {
  const value = v.typeInt64(name);
  if (value < 0n) throw atMost(name, (1n << 63n) - 1n);
  const env = x86CpuEnv(obj as X86CPU);
  env.tscKhz = Number(value / 1000n);
  env.userTscKhz = env.tscKhz;
}

/** `x86_cpu_get_feature_words`: the X86CPUFeatureWordInfo list of the CPUID words. */
function featureWordsValue(array: readonly bigint[]): QValue {
  const list: QDict[] = [];
  for (let w = 0; w < FEATURE_WORDS; w++) {
    const wi = FEATURE_WORD_INFO[w]!;
    if (wi.type !== "cpuid") continue;
    const c = wi.cpuid!;
    const entry: Record<string, QValue> = { "cpuid-input-eax": c.eax };
    if (c.needsEcx) entry["cpuid-input-ecx"] = c.ecx;
    entry["cpuid-register"] = REGISTER_NAMES_32[c.reg];
    entry.features = u32(array[w]!);
    // QEMU builds the list back to front.
    list.unshift(entry);
  }
  return list;
}

// ===========================================================================
// instance_init, class_init, registration
// ===========================================================================

/** `x86_cpu_apply_props` / version props: parse each `prop=value` (errors abort). */
function x86CpuApplyProps(cpu: X86CPU, props: readonly (readonly [string, string])[]): void {
  for (const [prop, value] of props) objectPropertyParse(cpu, prop, value);
}

/** `x86_cpu_apply_version_props`: every version's props up to the resolved one. */
function x86CpuApplyVersionProps(cpu: X86CPU, model: X86CPUModel): void {
  const version = resolveVersion(model);
  if (version === CPU_VERSION_LEGACY) return;
  for (const vdef of x86CpuDefGetVersions(model.cpudef)) {
    x86CpuApplyProps(cpu, vdef.props ?? []);
    if (vdef.version === version) return;
  }
  throw new QomError("assertion", "assertion failed: (vdef->version == version)", {
    fatal: true,
    operation: "x86_cpu_apply_version_props",
  });
}

/** `x86_cpu_load_model`: the definition's values, then `hypervisor`, vendor, version props. */
function x86CpuLoadModel(cpu: X86CPU, model: X86CPUModel): void {
  const d = model.cpudef;
  const env = cpu.env;
  // Models set minimum levels only; features may raise them.
  objectPropertySetUint(cpu, "min-level", d.level);
  objectPropertySetUint(cpu, "min-xlevel", d.xlevel);
  objectPropertySetInt(cpu, "family", d.family);
  objectPropertySetInt(cpu, "model", d.model);
  objectPropertySetInt(cpu, "stepping", d.stepping);
  objectPropertySetStr(cpu, "model-id", d.modelId);
  for (let w = 0; w < FEATURE_WORDS; w++) env.features[w] = d.features[w]!;
  // legacy-cache defaults to off when the model has its own cache table.
  cpu.legacyCache = !x86CpuGetVersionedCacheInfo(model);
  env.features[FEAT_1_ECX] = env.features[FEAT_1_ECX]! | CPUID_EXT_HYPERVISOR;
  objectPropertySetStr(cpu, "vendor", d.vendor);
  objectPropertySetUint(cpu, "avx10-version", 0);
  x86CpuApplyVersionProps(cpu, model);
  // Version properties are not user choices: +feat/-feat fill this record later.
  env.userFeatures.fill(0n);
}

/** `x86_cpu_initfn` (with max's instance defaults, which must precede the accelerator's). */
function x86CpuInitfn(obj: QomObject): void {
  const cpu = obj as X86CPU;
  const xcc = cpu.class as X86CPUClass;
  const env = x86CpuEnv(cpu);

  env.topoInfo = { diesPerPkg: 1, modulesPerDie: 1, coresPerModule: 1, threadsPerCore: 1 };
  env.availCpuTopo = new Set([
    CPU_TOPOLOGY_LEVEL_THREAD,
    CPU_TOPOLOGY_LEVEL_CORE,
    CPU_TOPOLOGY_LEVEL_SOCKET,
  ]);
  cpu.filteredFeatures = new Array(FEATURE_WORDS).fill(0n);
  cpu.mwait = { eax: 0, ebx: 0, ecx: 0, edx: 0 };
  cpu.apicState = null;
  cpu.maxFeatures = false;
  cpu.migratable ??= false;
  cpu.cacheInfoPassthrough ??= false;

  objectPropertyAdd(cpu, "feature-words", "X86CPUFeatureWordInfo", (o) =>
    featureWordsValue(x86CpuEnv(o as X86CPU).features),
  );
  objectPropertyAdd(cpu, "filtered-features", "X86CPUFeatureWordInfo", (o) =>
    featureWordsValue((o as X86CPU).filteredFeatures),
  );
  for (const [alias, target] of FEATURE_ALIASES) objectPropertyAddAlias(cpu, alias, cpu, target);

  if (xcc.model) x86CpuLoadModel(cpu, xcc.model);

  if (xcc.maxFeatures) {
    // max_x86_cpu_initfn: TCG-style defaults an accelerator may override below.
    cpu.maxFeatures = true;
    objectPropertySetBool(cpu, "pmu", true);
    objectPropertySetStr(cpu, "vendor", CPUID_VENDOR_AMD);
    objectPropertySetStr(cpu, "model-id", `QEMU TCG CPU version ${QEMU_HW_VERSION}`);
  }

  accelCpu?.cpuInstanceInit?.(cpu);
}

function x86CpuCommonClassInit(klass: ObjectClass): void {
  const xcc = klass as X86CPUClass;
  xcc.model = null;
  xcc.hostCpuidRequired = false;
  xcc.ordering = 0;
  xcc.modelDescription = undefined;
  xcc.migrationSafe = false;
  xcc.staticModel = false;
  xcc.maxFeatures = false;
  deviceClassSetParentRealize(xcc, x86CpuRealizefn, fieldPtr(xcc, "parentRealize"));
  deviceClassSetParentUnrealize(xcc, x86CpuUnrealizefn, fieldPtr(xcc, "parentUnrealize"));
  deviceClassSetProps(xcc, X86_CPU_PROPERTIES);
  xcc.classByName = x86CpuClassByName;
  xcc.parseFeatures = x86CpuParseFeaturestr;
  xcc.getArchId = (cs) => (cs as X86CPU).apicId;
  xcc.userCreatable = true;

  objectClassPropertyAdd(
    klass,
    "family",
    "int",
    x86CpuidVersionGetFamily,
    x86CpuidVersionSetFamily,
  );
  objectClassPropertyAdd(klass, "model", "int", x86CpuidVersionGetModel, x86CpuidVersionSetModel);
  objectClassPropertyAdd(
    klass,
    "stepping",
    "int",
    x86CpuidVersionGetStepping,
    x86CpuidVersionSetStepping,
  );
  objectClassPropertyAddStr(klass, "vendor", x86CpuidGetVendor, x86CpuidSetVendor);
  objectClassPropertyAddStr(klass, "model-id", x86CpuidGetModelId, x86CpuidSetModelId);
  objectClassPropertyAdd(klass, "tsc-frequency", "int", x86CpuidGetTscFreq, x86CpuidSetTscFreq);
  objectClassPropertyAdd(klass, "unavailable-features", "strList", (obj) =>
    x86CpuListFeatureNames((obj as X86CPU).filteredFeatures).map((n) => n ?? ""),
  );

  for (let w = 0; w < FEATURE_WORDS; w++) {
    const names = FEATURE_WORD_INFO[w]!.featNames;
    for (let bit = 0; bit < 64; bit++) {
      const name = names[bit];
      if (name) x86CpuRegisterBitProp(klass, name, w, bit);
    }
  }
  for (const l of LEGACY_FEATURE_NAMES) x86CpuRegisterBitProp(klass, l.name, l.word, l.bit);
}

function x86CpuCpudefClassInit(klass: ObjectClass, data: unknown): void {
  const xcc = klass as X86CPUClass;
  const model = data as X86CPUModel;
  xcc.model = model;
  xcc.migrationSafe = true;
  xcc.deprecationNote = model.cpudef.deprecationNote;
}

function x86RegisterCpuModelType(name: string, model: X86CPUModel): void {
  typeRegisterStatic<X86CPUClass, X86CPU>({
    name: x86CpuTypeName(name),
    parent: TYPE_X86_CPU,
    classInit: x86CpuCpudefClassInit,
    classData: model,
  });
}

/** `x86_register_cpudef_types`: unversioned, each version, each version alias. */
function x86RegisterCpudefTypes(d: X86CPUDefinition): void {
  if ((d.features[FEAT_8000_0001_EDX]! & CPUID_EXT2_AMD_ALIASES) !== 0n) {
    throw new Error(`${d.name}: AMD alias bits belong to realize, not the model table`);
  }
  if (d.modelId.length > 48) throw new Error(`${d.name}: model_id longer than 48 bytes`);
  x86RegisterCpuModelType(d.name, {
    cpudef: d,
    version: CPU_VERSION_AUTO,
    note: undefined,
    isAlias: true,
  });
  for (const vdef of x86CpuDefGetVersions(d)) {
    x86RegisterCpuModelType(`${d.name}-v${vdef.version}`, {
      cpudef: d,
      version: vdef.version,
      note: vdef.note,
      isAlias: false,
    });
    if (vdef.alias) {
      x86RegisterCpuModelType(vdef.alias, {
        cpudef: d,
        version: vdef.version,
        note: undefined,
        isAlias: true,
      });
    }
  }
}

function x86CpuRegisterTypes(): void {
  typeRegisterStatic<CPUClass, CPUState>({
    name: TYPE_CPU,
    parent: TYPE_DEVICE,
    instanceSize: 1024,
    instanceInit: cpuCommonInitfn,
    abstract: true,
    classSize: 400,
    classInit: cpuCommonClassInit,
  });
  typeRegisterStatic<X86CPUClass, X86CPU>({
    name: TYPE_X86_CPU,
    parent: TYPE_CPU,
    instanceSize: 16384,
    instanceInit: x86CpuInitfn,
    abstract: true,
    classSize: 600,
    classInit: x86CpuCommonClassInit,
  });
  for (const d of BUILTIN_X86_DEFS) x86RegisterCpudefTypes(d);
  typeRegisterStatic<X86CPUClass, X86CPU>({
    name: x86CpuTypeName("max"),
    parent: TYPE_X86_CPU,
    classInit: (xcc) => {
      xcc.ordering = 9;
      xcc.modelDescription =
        "Enables all features supported by the accelerator in the current host";
      xcc.maxFeatures = true;
      deviceClassSetProps(xcc, MAX_X86_CPU_PROPERTIES);
      // max_x86_cpu_realize: family/model/stepping when nothing set them.
      const realize = xcc.realize;
      xcc.realize = (dev) => {
        if (objectPropertyGetInt(dev, "family") === 0n) {
          const lm = ((dev as X86CPU).env.features[FEAT_8000_0001_EDX]! & CPUID_EXT2_LM) !== 0n;
          objectPropertySetInt(dev, "family", lm ? 15 : 6);
          objectPropertySetInt(dev, "model", lm ? 107 : 6);
          objectPropertySetInt(dev, "stepping", lm ? 1 : 3);
        }
        realize?.(dev);
      };
    },
  });
  typeRegisterStatic<X86CPUClass, X86CPU>({
    name: x86CpuTypeName("base"),
    parent: TYPE_X86_CPU,
    classInit: (xcc) => {
      xcc.staticModel = true;
      xcc.migrationSafe = true;
      xcc.modelDescription = "base CPU model type with no features enabled";
      xcc.ordering = 8;
    },
  });
  typeRegisterStatic<X86CPUClass, X86CPU>({
    name: x86CpuTypeName("host"),
    parent: x86CpuTypeName("max"),
    classInit: (xcc) => {
      xcc.hostCpuidRequired = true;
      xcc.ordering = 8;
      xcc.modelDescription = "processor with all supported host features ";
    },
  });
}

typeInit(x86CpuRegisterTypes);

// ===========================================================================
// -cpu: model lookup, feature string, help
// ===========================================================================

/** `x86_cpu_class_by_name`: `<model>-x86_64-cpu`. */
export function x86CpuClassByName(cpuModel: string): ObjectClass | null {
  return objectClassByName(x86CpuTypeName(cpuModel));
}

/** `qemu_strtosz_metric`: a number with an optional k/M/G/T/P/E suffix (powers of 1000). */
function strtoszMetric(text: string): bigint | undefined {
  const units: Record<string, bigint> = {
    "": 1n,
    b: 1n,
    k: 10n ** 3n,
    m: 10n ** 6n,
    g: 10n ** 9n,
    t: 10n ** 12n,
    p: 10n ** 15n,
    e: 10n ** 18n,
  };
  const hex = /^0[xX]([0-9a-fA-F]+)$/.exec(text);
  if (hex) return BigInt(`0x${hex[1]}`);
  const m = /^([0-9]+)(?:\.([0-9]+))?([bBkKmMgGtTpPeE]?)$/.exec(text);
  if (!m) return undefined;
  const unit = units[m[3]!.toLowerCase()]!;
  const frac = m[2] ?? "";
  const scale = 10n ** BigInt(frac.length);
  return ((BigInt(m[1]!) * scale + BigInt(frac || "0")) * unit) / scale;
}

/**
 * `x86_cpu_parse_featurestr`: the items after the model in -cpu. `+feat`/`-feat` go to the
 * legacy lists (applied at realize, plus before minus); `feat[=value]` becomes a global
 * property of the CPU type with `_` turned into `-` (applied at creation); `tsc-freq`
 * takes a metric size. Mixing `+x`/`-x` with `x=…` warns. Runs once per process: later
 * calls are ignored, as in QEMU. Returns the error, or null.
 */
export function x86CpuParseFeaturestr(typename: string, features: string | null): QomError | null {
  if (cpuGlobalsInitialized) return null;
  cpuGlobalsInitialized = true;
  if (!features) return null;

  let ambiguous = false;
  for (const item of features.split(",")) {
    if (item === "") continue;
    if (item.startsWith("+")) {
      plusFeatures.push(item.slice(1));
      continue;
    }
    if (item.startsWith("-")) {
      minusFeatures.push(item.slice(1));
      continue;
    }
    const eq = item.indexOf("=");
    let name = (eq >= 0 ? item.slice(0, eq) : item).replaceAll("_", "-");
    let val = eq >= 0 ? item.slice(eq + 1) : "on";

    if (plusFeatures.includes(name)) {
      warnReport(`Ambiguous CPU model string. Don't mix both "+${name}" and "${name}=${val}"`);
      ambiguous = true;
    }
    if (minusFeatures.includes(name)) {
      warnReport(`Ambiguous CPU model string. Don't mix both "-${name}" and "${name}=${val}"`);
      ambiguous = true;
    }

    if (name === "tsc-freq") {
      const freq = strtoszMetric(val);
      if (freq === undefined || freq > (1n << 63n) - 1n) {
        return new QomError("invalid-parameter-value", `bad numerical value ${val}`, {
          operation: "x86_cpu_parse_featurestr",
        });
      }
      val = freq.toString();
      name = "tsc-frequency";
    }
    qdevPropRegisterGlobal({ driver: typename, property: name, value: val });
  }
  if (ambiguous) {
    warnReport(
      "Compatibility of ambiguous CPU model strings won't be kept on future QEMU versions",
    );
  }
  return null;
}

/** The outcome of {@link parseCpuOption}: the CPU type, or QEMU's error. */
export type ParseCpuOptionResult =
  | { readonly ok: true; readonly cpuType: string }
  | { readonly ok: false; readonly error: QomError };

/**
 * `parse_cpu_option` (cpu-target.c) for x86: `MODEL[,features]` → the CPU type, with the
 * features registered. Errors (printed by the caller as `<prog>: -cpu …: <text>` and exit
 * 1): `-cpu option cannot be empty`, `unable to find CPU model 'foo'`, `bad numerical value
 * …`. Unknown feature names are only caught later: `feat=on` when the CPU is created
 * (`can't apply global …`), `+feat` at realize (`Property '<type>.feat' not found`).
 */
export function parseCpuOption(cpuOption: string): ParseCpuOptionResult {
  if (cpuOption === "") {
    return {
      ok: false,
      error: new QomError("invalid-parameter-value", "-cpu option cannot be empty", {
        operation: "parse_cpu_option",
      }),
    };
  }
  const comma = cpuOption.indexOf(",");
  const model = comma >= 0 ? cpuOption.slice(0, comma) : cpuOption;
  const features = comma >= 0 ? cpuOption.slice(comma + 1) : null;
  // cpu_class_by_name: must be a concrete x86 CPU class.
  const oc = x86CpuClassByName(model);
  if (!oc || !objectClassDynamicCast(oc, TYPE_X86_CPU) || objectClassIsAbstract(oc)) {
    return {
      ok: false,
      error: new QomError("unknown-type", `unable to find CPU model '${model}'`, {
        operation: "parse_cpu_option",
      }),
    };
  }
  const cpuType = objectClassGetName(oc);
  const err = x86CpuParseFeaturestr(cpuType, features);
  return err ? { ok: false, error: err } : { ok: true, cpuType };
}

/** `is_help_option`: `help` or `?`. */
export const isHelpOption = (s: string): boolean => s === "help" || s === "?";

function x86CpuClassGetModelId(oc: ObjectClass): string {
  const obj = objectNewWithClass(oc);
  try {
    return objectPropertyGetStr(obj, "model-id");
  } finally {
    objectUnref(obj);
  }
}

function x86CpuClassGetAliasOf(xcc: X86CPUClass): string | null {
  if (!xcc.model?.isAlias) return null;
  const version = resolveVersion(xcc.model);
  if (version <= 0) return null;
  return `${xcc.model.cpudef.name}-v${version}`;
}

/** strcmp order (byte values), as g_slist_sort with strcmp. */
const strcmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * `x86_cpu_list` (`-cpu help`): the text QEMU prints, one `  %-20s  %s` line per CPU type
 * sorted by ordering then name, then every recognized flag name sorted and wrapped
 * before 75 columns.
 */
export function x86CpuList(): string {
  const classes = objectClassGetList(TYPE_X86_CPU, false) as X86CPUClass[];
  classes.sort(
    (a, b) =>
      a.ordering - b.ordering || strcmp(x86CpuClassGetModelName(a), x86CpuClassGetModelName(b)),
  );
  let out = "Available CPUs:\n";
  for (const cc of classes) {
    const name = x86CpuClassGetModelName(cc);
    let desc = cc.modelDescription ?? null;
    const aliasOf = x86CpuClassGetAliasOf(cc);
    const modelId = x86CpuClassGetModelId(cc);
    if (!desc && aliasOf) {
      desc =
        cc.model && cc.model.version === CPU_VERSION_AUTO
          ? "(alias configured by machine type)"
          : `(alias of ${aliasOf})`;
    }
    if (!desc && cc.model?.note) desc = `${modelId} [${cc.model.note}]`;
    desc ??= modelId;
    if (cc.model?.cpudef.deprecationNote) desc = `${desc} (deprecated)`;
    out += `  ${name.padEnd(20)}  ${desc}\n`;
  }

  const names: string[] = [];
  for (const wi of FEATURE_WORD_INFO) for (const n of wi.featNames) if (n) names.push(n);
  names.sort(strcmp);
  out += "\nRecognized CPUID flags:\n";
  let len = 0;
  for (const n of names) {
    if (len + n.length + 1 >= 75) {
      out += "\n";
      len = 0;
    }
    out += `${len === 0 ? "  " : " "}${n}`;
    len += n.length + 1;
  }
  out += "\n\n";
  return out;
}

/** The models this build registers, for `-cpu help` tests and the machine's checks. */
export function x86CpuModelNames(): string[] {
  return (objectClassGetList(TYPE_X86_CPU, false) as X86CPUClass[]).map(x86CpuClassGetModelName);
}

/** Vendor strings of the builtin models. */
export { CPUID_VENDOR_AMD, CPUID_VENDOR_INTEL };
