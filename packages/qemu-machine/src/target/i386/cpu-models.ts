/**
 * `builtin_x86_defs` (target/i386/cpu.c): the named CPU models, as data.
 *
 * Feature words are written as the property names of cpu-features.ts (an unnamed bit as
 * `[n]`), resolved to bits once at load; an unknown name throws, so the table cannot drift
 * from the name table. Each model registers `<name>-x86_64-cpu` (unversioned, resolved to
 * a version by the machine), `<name>-vN-x86_64-cpu` per version, and an alias type per
 * version alias (`SandyBridge-IBRS` = v2).
 *
 * The subset here is the one reference §5.5 tabulates (qemu64, kvm64, Conroe, Penryn,
 * Nehalem, Westmere, SandyBridge, IvyBridge, Haswell, Skylake-Client, EPYC); `max`, `base`
 * and `host` are registered by cpu.ts. Intel models carry their VMX capability words,
 * which only matter with `vmx` on (feature_dependencies clears them otherwise).
 */
import {
  type CPUCaches,
  EPYC_CACHE_INFO,
  EPYC_V4_CACHE_INFO,
  FEAT_1_ECX,
  FEAT_1_EDX,
  FEAT_6_EAX,
  FEAT_7_0_EBX,
  FEAT_8000_0001_ECX,
  FEAT_8000_0001_EDX,
  FEAT_SVM,
  FEAT_VMX_BASIC,
  FEAT_VMX_ENTRY_CTLS,
  FEAT_VMX_EPT_VPID_CAPS,
  FEAT_VMX_EXIT_CTLS,
  FEAT_VMX_MISC,
  FEAT_VMX_PINBASED_CTLS,
  FEAT_VMX_PROCBASED_CTLS,
  FEAT_VMX_SECONDARY_CTLS,
  FEAT_VMX_VMFUNC,
  FEAT_XSAVE,
  FEATURE_WORD_INFO,
  FEATURE_WORDS,
  type FeatureWord,
} from "./cpu-features.js";

export const CPUID_VENDOR_INTEL = "GenuineIntel";
export const CPUID_VENDOR_AMD = "AuthenticAMD";

/** QEMU_HW_VERSION: the version string baked into model-ids such as qemu64's. */
export const QEMU_HW_VERSION = "2.5+";

/** `X86CPUVersionDefinition`: a numbered variant of a model. */
export interface X86CPUVersionDefinition {
  readonly version: number;
  /** Also registered as `<alias>-x86_64-cpu`. */
  readonly alias?: string;
  /** Shown in `-cpu help` after the model-id, in brackets. */
  readonly note?: string;
  /** Property overrides, applied cumulatively from v1 up to this version. */
  readonly props?: readonly (readonly [prop: string, value: string])[];
  readonly cacheInfo?: CPUCaches;
}

/** `X86CPUDefinition`. */
export interface X86CPUDefinition {
  readonly name: string;
  readonly level: number;
  readonly xlevel: number;
  readonly vendor: string;
  readonly family: number;
  readonly model: number;
  readonly stepping: number;
  /** One value per feature word (FEATURE_WORDS entries). */
  readonly features: readonly bigint[];
  readonly modelId: string;
  readonly cacheInfo?: CPUCaches;
  /** Absent: only v1. */
  readonly versions?: readonly X86CPUVersionDefinition[];
  readonly deprecationNote?: string;
}

/** Bits of word `w` for a space-separated list of its names (and `[n]` for unnamed bits). */
export function featureBits(w: FeatureWord, list: string): bigint {
  const info = FEATURE_WORD_INFO[w]!;
  let bits = 0n;
  for (const token of list.trim().split(/\s+/)) {
    if (!token) continue;
    const raw = /^\[(\d+)\]$/.exec(token);
    if (raw) {
      bits |= 1n << BigInt(raw[1]!);
      continue;
    }
    let found = false;
    info.featNames.forEach((n, bit) => {
      if (n === token) {
        bits |= 1n << BigInt(bit);
        found = true;
      }
    });
    if (!found) throw new Error(`cpu-models: no feature '${token}' in word ${w}`);
  }
  return bits;
}

type FeatureSpec = Readonly<Partial<Record<FeatureWord, string>>>;

function def(
  d: Omit<X86CPUDefinition, "features"> & { readonly features: FeatureSpec },
): X86CPUDefinition {
  const features: bigint[] = new Array(FEATURE_WORDS).fill(0n);
  for (const [w, list] of Object.entries(d.features)) {
    features[Number(w)] = featureBits(Number(w), list ?? "");
  }
  return { ...d, features };
}

// Shared word contents ------------------------------------------------------------

/** The common 1.EDX set the reference calls "P6+" (bits 0-9, 11-17, 19, 23-26). */
const P6_PLUS = `fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36
  clflush mmx fxsr sse sse2`;
const LM_NX_SYSCALL = "syscall nx lm";
const LM_NX_SYSCALL_RDTSCP = "syscall nx rdtscp lm";
const SANDYBRIDGE_1_ECX = `pni pclmulqdq ssse3 cx16 sse4.1 sse4.2 x2apic popcnt tsc-deadline
  aes xsave avx`;
const HASWELL_1_ECX = `pni pclmulqdq ssse3 fma cx16 pcid sse4.1 sse4.2 x2apic movbe popcnt
  tsc-deadline aes xsave avx f16c rdrand`;
const HASWELL_7_0_EBX = "fsgsbase bmi1 hle avx2 smep bmi2 erms invpcid rtm";

/** VMX words of the Core 2 generation (Conroe); later generations extend them. */
const VMX_PROC_CORE2 = `vmx-vintr-pending vmx-tsc-offset vmx-hlt-exit vmx-invlpg-exit
  vmx-mwait-exit vmx-rdpmc-exit vmx-rdtsc-exit vmx-cr8-load-exit vmx-cr8-store-exit
  vmx-flexpriority vmx-movdr-exit vmx-io-exit vmx-io-bitmap vmx-monitor-exit vmx-pause-exit
  vmx-vnmi-pending vmx-msr-bitmap vmx-secondary-ctls`;
/** Nehalem adds CR3-load/store exiting (QEMU's names for bits 15/16 read "noexit") and MTF. */
const VMX_PROC_NEHALEM = `${VMX_PROC_CORE2} vmx-cr3-load-noexit vmx-cr3-store-noexit vmx-mtf`;
const VMX_ENTRY_NEHALEM = `vmx-entry-ia32e-mode vmx-entry-load-perf-global-ctrl
  vmx-entry-load-pat vmx-entry-noload-debugctl vmx-entry-load-efer`;
const VMX_EXIT_NEHALEM = `vmx-exit-ack-intr vmx-exit-nosave-debugctl
  vmx-exit-load-perf-global-ctrl vmx-exit-load-pat vmx-exit-load-efer vmx-exit-save-pat
  vmx-exit-save-efer vmx-exit-save-preemption-timer`;
/**
 * EPT/VPID capabilities from Nehalem on; [14] is "write-back EPT paging structures",
 * which QEMU leaves unnamed. `vmx-invept-single-context` names bits 25 and 41.
 */
const VMX_EPT_NEHALEM = `vmx-ept-execonly vmx-page-walk-4 [14] vmx-ept-2mb vmx-ept-1gb
  vmx-invept vmx-invept-single-context vmx-invept-all-context vmx-invvpid
  vmx-invvpid-single-addr vmx-invvpid-all-context vmx-invept-single-context-noglobals`;
const VMX_PIN_NEHALEM = "vmx-intr-exit vmx-nmi-exit vmx-vnmi vmx-preemption-timer";
const VMX_SECONDARY_NEHALEM = `vmx-apicv-xapic vmx-wbinvd-exit vmx-ept vmx-desc-exit
  vmx-rdtscp-exit vmx-apicv-x2apic vmx-vpid`;
const VMX_SECONDARY_WESTMERE = `${VMX_SECONDARY_NEHALEM} vmx-unrestricted-guest`;
const VMX_SECONDARY_IVYBRIDGE = `${VMX_SECONDARY_WESTMERE} vmx-apicv-register vmx-apicv-vid
  vmx-rdrand-exit`;

const VMX_WESTMERE: FeatureSpec = {
  [FEAT_VMX_BASIC]: "vmx-ins-outs vmx-true-ctls",
  [FEAT_VMX_ENTRY_CTLS]: VMX_ENTRY_NEHALEM,
  [FEAT_VMX_EPT_VPID_CAPS]: VMX_EPT_NEHALEM,
  [FEAT_VMX_EXIT_CTLS]: VMX_EXIT_NEHALEM,
  [FEAT_VMX_MISC]: "vmx-activity-hlt vmx-store-lma",
  [FEAT_VMX_PINBASED_CTLS]: VMX_PIN_NEHALEM,
  [FEAT_VMX_PROCBASED_CTLS]: VMX_PROC_NEHALEM,
  [FEAT_VMX_SECONDARY_CTLS]: VMX_SECONDARY_WESTMERE,
};

const VMX_HASWELL: FeatureSpec = {
  ...VMX_WESTMERE,
  [FEAT_VMX_EPT_VPID_CAPS]: `${VMX_EPT_NEHALEM} vmx-eptad`,
  [FEAT_VMX_MISC]: "vmx-activity-hlt vmx-store-lma vmx-vmwrite-vmexit-fields",
  [FEAT_VMX_PINBASED_CTLS]: `${VMX_PIN_NEHALEM} vmx-posted-intr`,
  [FEAT_VMX_SECONDARY_CTLS]: `${VMX_SECONDARY_IVYBRIDGE} vmx-invpcid-exit vmx-vmfunc
    vmx-shadow-vmcs`,
  [FEAT_VMX_VMFUNC]: "vmx-eptp-switching",
};

// The table -------------------------------------------------------------------------

export const BUILTIN_X86_DEFS: readonly X86CPUDefinition[] = [
  def({
    name: "qemu64",
    level: 0xd,
    vendor: CPUID_VENDOR_AMD,
    family: 15,
    model: 107,
    stepping: 1,
    features: {
      // PPRO_FEATURES | MTRR | CLFLUSH | MCA | PSE36: P6+ without vme.
      [FEAT_1_EDX]: `fpu de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36
        clflush mmx fxsr sse sse2`,
      [FEAT_1_ECX]: "pni cx16",
      [FEAT_8000_0001_EDX]: LM_NX_SYSCALL,
      [FEAT_8000_0001_ECX]: "lahf-lm svm",
    },
    xlevel: 0x8000_000a,
    modelId: `QEMU Virtual CPU version ${QEMU_HW_VERSION}`,
  }),
  def({
    name: "kvm64",
    level: 0xd,
    vendor: CPUID_VENDOR_INTEL,
    family: 15,
    model: 6,
    stepping: 1,
    features: {
      [FEAT_1_EDX]: P6_PLUS,
      [FEAT_1_ECX]: "pni cx16",
      [FEAT_8000_0001_EDX]: LM_NX_SYSCALL,
      // VMX features from Cedar Mill/Prescott.
      [FEAT_VMX_ENTRY_CTLS]: "vmx-entry-ia32e-mode",
      [FEAT_VMX_EXIT_CTLS]: "vmx-exit-ack-intr",
      [FEAT_VMX_MISC]: "vmx-activity-hlt",
      [FEAT_VMX_PINBASED_CTLS]: "vmx-intr-exit vmx-nmi-exit",
      [FEAT_VMX_PROCBASED_CTLS]: `vmx-vintr-pending vmx-tsc-offset vmx-hlt-exit
        vmx-invlpg-exit vmx-mwait-exit vmx-rdpmc-exit vmx-rdtsc-exit vmx-cr8-load-exit
        vmx-cr8-store-exit vmx-flexpriority vmx-movdr-exit vmx-io-exit vmx-io-bitmap
        vmx-monitor-exit vmx-pause-exit`,
    },
    xlevel: 0x8000_0008,
    modelId: "Common KVM processor",
  }),
  def({
    name: "Conroe",
    level: 10,
    vendor: CPUID_VENDOR_INTEL,
    family: 6,
    model: 15,
    stepping: 3,
    features: {
      [FEAT_1_EDX]: P6_PLUS,
      [FEAT_1_ECX]: "pni ssse3",
      [FEAT_8000_0001_EDX]: LM_NX_SYSCALL,
      [FEAT_8000_0001_ECX]: "lahf-lm",
      [FEAT_VMX_BASIC]: "vmx-ins-outs",
      [FEAT_VMX_ENTRY_CTLS]: "vmx-entry-ia32e-mode",
      [FEAT_VMX_EXIT_CTLS]: "vmx-exit-ack-intr",
      [FEAT_VMX_MISC]: "vmx-activity-hlt",
      [FEAT_VMX_PINBASED_CTLS]: "vmx-intr-exit vmx-nmi-exit vmx-vnmi",
      [FEAT_VMX_PROCBASED_CTLS]: VMX_PROC_CORE2,
      [FEAT_VMX_SECONDARY_CTLS]: "vmx-apicv-xapic",
    },
    xlevel: 0x8000_0008,
    modelId: "Intel Celeron_4x0 (Conroe/Merom Class Core 2)",
  }),
  def({
    name: "Penryn",
    level: 10,
    vendor: CPUID_VENDOR_INTEL,
    family: 6,
    model: 23,
    stepping: 3,
    features: {
      [FEAT_1_EDX]: P6_PLUS,
      [FEAT_1_ECX]: "pni ssse3 cx16 sse4.1",
      [FEAT_8000_0001_EDX]: LM_NX_SYSCALL,
      [FEAT_8000_0001_ECX]: "lahf-lm",
      [FEAT_VMX_BASIC]: "vmx-ins-outs",
      [FEAT_VMX_ENTRY_CTLS]: "vmx-entry-ia32e-mode vmx-entry-load-perf-global-ctrl",
      [FEAT_VMX_EXIT_CTLS]: "vmx-exit-ack-intr vmx-exit-load-perf-global-ctrl",
      [FEAT_VMX_MISC]: "vmx-activity-hlt",
      [FEAT_VMX_PINBASED_CTLS]: "vmx-intr-exit vmx-nmi-exit vmx-vnmi",
      [FEAT_VMX_PROCBASED_CTLS]: VMX_PROC_CORE2,
      [FEAT_VMX_SECONDARY_CTLS]: "vmx-apicv-xapic vmx-wbinvd-exit",
    },
    xlevel: 0x8000_0008,
    modelId: "Intel Core 2 Duo P9xxx (Penryn Class Core 2)",
  }),
  def({
    name: "Nehalem",
    level: 11,
    vendor: CPUID_VENDOR_INTEL,
    family: 6,
    model: 26,
    stepping: 3,
    features: {
      [FEAT_1_EDX]: P6_PLUS,
      [FEAT_1_ECX]: "pni ssse3 cx16 sse4.1 sse4.2 popcnt",
      [FEAT_8000_0001_EDX]: LM_NX_SYSCALL,
      [FEAT_8000_0001_ECX]: "lahf-lm",
      ...VMX_WESTMERE,
      [FEAT_VMX_MISC]: "vmx-activity-hlt",
      [FEAT_VMX_SECONDARY_CTLS]: VMX_SECONDARY_NEHALEM,
    },
    xlevel: 0x8000_0008,
    modelId: "Intel Core i7 9xx (Nehalem Class Core i7)",
    versions: [
      { version: 1 },
      {
        version: 2,
        alias: "Nehalem-IBRS",
        props: [
          ["spec-ctrl", "on"],
          ["model-id", "Intel Core i7 9xx (Nehalem Core i7, IBRS update)"],
        ],
      },
    ],
  }),
  def({
    name: "Westmere",
    level: 11,
    vendor: CPUID_VENDOR_INTEL,
    family: 6,
    model: 44,
    stepping: 1,
    features: {
      [FEAT_1_EDX]: P6_PLUS,
      [FEAT_1_ECX]: "pni pclmulqdq ssse3 cx16 sse4.1 sse4.2 popcnt aes",
      [FEAT_8000_0001_EDX]: LM_NX_SYSCALL,
      [FEAT_8000_0001_ECX]: "lahf-lm",
      [FEAT_6_EAX]: "arat",
      ...VMX_WESTMERE,
    },
    xlevel: 0x8000_0008,
    modelId: "Westmere E56xx/L56xx/X56xx (Nehalem-C)",
    versions: [
      { version: 1 },
      {
        version: 2,
        alias: "Westmere-IBRS",
        props: [
          ["spec-ctrl", "on"],
          ["model-id", "Westmere E56xx/L56xx/X56xx (IBRS update)"],
        ],
      },
    ],
  }),
  def({
    name: "SandyBridge",
    level: 0xd,
    vendor: CPUID_VENDOR_INTEL,
    family: 6,
    model: 42,
    stepping: 1,
    features: {
      [FEAT_1_EDX]: P6_PLUS,
      [FEAT_1_ECX]: SANDYBRIDGE_1_ECX,
      [FEAT_8000_0001_EDX]: LM_NX_SYSCALL_RDTSCP,
      [FEAT_8000_0001_ECX]: "lahf-lm",
      [FEAT_XSAVE]: "xsaveopt",
      [FEAT_6_EAX]: "arat",
      ...VMX_WESTMERE,
    },
    xlevel: 0x8000_0008,
    modelId: "Intel Xeon E312xx (Sandy Bridge)",
    versions: [
      { version: 1 },
      {
        version: 2,
        alias: "SandyBridge-IBRS",
        props: [
          ["spec-ctrl", "on"],
          ["model-id", "Intel Xeon E312xx (Sandy Bridge, IBRS update)"],
        ],
      },
    ],
  }),
  def({
    name: "IvyBridge",
    level: 0xd,
    vendor: CPUID_VENDOR_INTEL,
    family: 6,
    model: 58,
    stepping: 9,
    features: {
      [FEAT_1_EDX]: P6_PLUS,
      [FEAT_1_ECX]: `${SANDYBRIDGE_1_ECX} f16c rdrand`,
      [FEAT_7_0_EBX]: "fsgsbase smep erms",
      [FEAT_8000_0001_EDX]: LM_NX_SYSCALL_RDTSCP,
      [FEAT_8000_0001_ECX]: "lahf-lm",
      [FEAT_XSAVE]: "xsaveopt",
      [FEAT_6_EAX]: "arat",
      ...VMX_WESTMERE,
      [FEAT_VMX_PINBASED_CTLS]: `${VMX_PIN_NEHALEM} vmx-posted-intr`,
      [FEAT_VMX_SECONDARY_CTLS]: VMX_SECONDARY_IVYBRIDGE,
    },
    xlevel: 0x8000_0008,
    modelId: "Intel Xeon E3-12xx v2 (Ivy Bridge)",
    versions: [
      { version: 1 },
      {
        version: 2,
        alias: "IvyBridge-IBRS",
        props: [
          ["spec-ctrl", "on"],
          ["model-id", "Intel Xeon E3-12xx v2 (Ivy Bridge, IBRS)"],
        ],
      },
    ],
  }),
  def({
    name: "Haswell",
    level: 0xd,
    vendor: CPUID_VENDOR_INTEL,
    family: 6,
    model: 60,
    stepping: 4,
    features: {
      [FEAT_1_EDX]: P6_PLUS,
      [FEAT_1_ECX]: HASWELL_1_ECX,
      [FEAT_8000_0001_EDX]: LM_NX_SYSCALL_RDTSCP,
      [FEAT_8000_0001_ECX]: "lahf-lm abm",
      [FEAT_7_0_EBX]: HASWELL_7_0_EBX,
      [FEAT_XSAVE]: "xsaveopt",
      [FEAT_6_EAX]: "arat",
      ...VMX_HASWELL,
    },
    xlevel: 0x8000_0008,
    modelId: "Intel Core Processor (Haswell)",
    versions: [
      { version: 1 },
      {
        version: 2,
        alias: "Haswell-noTSX",
        props: [
          ["hle", "off"],
          ["rtm", "off"],
          ["stepping", "1"],
          ["model-id", "Intel Core Processor (Haswell, no TSX)"],
        ],
      },
      {
        version: 3,
        alias: "Haswell-IBRS",
        props: [
          ["hle", "on"],
          ["rtm", "on"],
          ["stepping", "4"],
          ["spec-ctrl", "on"],
          ["model-id", "Intel Core Processor (Haswell, IBRS)"],
        ],
      },
      {
        version: 4,
        alias: "Haswell-noTSX-IBRS",
        props: [
          ["hle", "off"],
          ["rtm", "off"],
          ["stepping", "1"],
          ["model-id", "Intel Core Processor (Haswell, no TSX, IBRS)"],
        ],
      },
    ],
  }),
  def({
    name: "Skylake-Client",
    level: 0xd,
    vendor: CPUID_VENDOR_INTEL,
    family: 6,
    model: 94,
    stepping: 3,
    features: {
      [FEAT_1_EDX]: P6_PLUS,
      [FEAT_1_ECX]: HASWELL_1_ECX,
      [FEAT_8000_0001_EDX]: LM_NX_SYSCALL_RDTSCP,
      [FEAT_8000_0001_ECX]: "lahf-lm abm 3dnowprefetch",
      [FEAT_7_0_EBX]: `${HASWELL_7_0_EBX} rdseed adx smap`,
      [FEAT_XSAVE]: "xsaveopt xsavec xgetbv1",
      [FEAT_6_EAX]: "arat",
      ...VMX_HASWELL,
      [FEAT_VMX_PINBASED_CTLS]: VMX_PIN_NEHALEM,
      [FEAT_VMX_SECONDARY_CTLS]: `vmx-apicv-xapic vmx-wbinvd-exit vmx-ept vmx-desc-exit
        vmx-rdtscp-exit vmx-vpid vmx-unrestricted-guest vmx-rdrand-exit vmx-invpcid-exit
        vmx-vmfunc vmx-shadow-vmcs vmx-rdseed-exit vmx-pml`,
    },
    xlevel: 0x8000_0008,
    modelId: "Intel Core Processor (Skylake)",
    versions: [
      { version: 1 },
      {
        version: 2,
        alias: "Skylake-Client-IBRS",
        props: [
          ["spec-ctrl", "on"],
          ["model-id", "Intel Core Processor (Skylake, IBRS)"],
        ],
      },
      {
        version: 3,
        alias: "Skylake-Client-noTSX-IBRS",
        props: [
          ["hle", "off"],
          ["rtm", "off"],
          ["model-id", "Intel Core Processor (Skylake, IBRS, no TSX)"],
        ],
      },
      {
        version: 4,
        note: "IBRS, XSAVES, no TSX",
        props: [
          ["xsaves", "on"],
          ["vmx-xsaves", "on"],
        ],
      },
    ],
  }),
  def({
    name: "EPYC",
    level: 0xd,
    vendor: CPUID_VENDOR_AMD,
    family: 23,
    model: 1,
    stepping: 2,
    features: {
      [FEAT_1_EDX]: P6_PLUS,
      [FEAT_1_ECX]: `pni pclmulqdq monitor ssse3 fma cx16 sse4.1 sse4.2 movbe popcnt aes
        xsave avx f16c rdrand`,
      [FEAT_8000_0001_EDX]: "syscall nx mmxext fxsr-opt pdpe1gb rdtscp lm",
      [FEAT_8000_0001_ECX]: `lahf-lm svm cr8legacy abm sse4a misalignsse 3dnowprefetch osvw
        topoext`,
      [FEAT_7_0_EBX]: "fsgsbase bmi1 avx2 smep bmi2 rdseed adx smap clflushopt sha-ni",
      [FEAT_XSAVE]: "xsaveopt xsavec xgetbv1",
      [FEAT_6_EAX]: "arat",
      [FEAT_SVM]: "npt nrip-save",
    },
    xlevel: 0x8000_001e,
    modelId: "AMD EPYC Processor",
    cacheInfo: EPYC_CACHE_INFO,
    versions: [
      { version: 1 },
      {
        version: 2,
        alias: "EPYC-IBPB",
        props: [
          ["ibpb", "on"],
          ["model-id", "AMD EPYC Processor (with IBPB)"],
        ],
      },
      {
        version: 3,
        props: [
          ["ibpb", "on"],
          ["perfctr-core", "on"],
          ["clzero", "on"],
          ["xsaveerptr", "on"],
          ["xsaves", "on"],
          ["model-id", "AMD EPYC Processor"],
        ],
      },
      {
        version: 4,
        props: [["model-id", "AMD EPYC-v4 Processor"]],
        cacheInfo: EPYC_V4_CACHE_INFO,
      },
    ],
  }),
];

/** `x86_cpu_def_get_versions`: a model without a version list has just v1. */
export function x86CpuDefGetVersions(d: X86CPUDefinition): readonly X86CPUVersionDefinition[] {
  return d.versions ?? [{ version: 1 }];
}
