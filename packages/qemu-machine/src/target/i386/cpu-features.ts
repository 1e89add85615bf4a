/**
 * The data half of target/i386/cpu.c and cpu.h: CPUID/MSR feature words and their bit
 * names (`feature_word_info`), the dependencies between features, the XSAVE state
 * components, the legacy cache descriptors and the register numbering.
 *
 * Every name becomes a bool QOM property of the CPU (`-cpu X,+name`, `name=on`), and the
 * sorted union of all names is what `-cpu help` lists under "Recognized CPUID flags". Words
 * are `bigint`s because the MSR-based words (VMX capabilities) are 64 bits wide.
 *
 * The name table follows QEMU 10.x. Two spellings are kept exactly as QEMU has them even
 * though they look odd: `kvmclock` names bits 0 and 3 of the KVM leaf, and
 * `vmx-invept-single-context` names bits 25 and 41 of IA32_VMX_EPT_VPID_CAP; a property
 * with two bits reads true only when both are set.
 */

// ---------------------------------------------------------------------------
// Registers (target/i386/cpu.h R_* numbering, the x86 encoding order)

export const R_EAX = 0;
export const R_ECX = 1;
export const R_EDX = 2;
export const R_EBX = 3;
export type CpuidRegister = typeof R_EAX | typeof R_ECX | typeof R_EDX | typeof R_EBX;
/** `x86_reg_info_32` names, indexed by R_*. */
export const REGISTER_NAMES_32 = ["EAX", "ECX", "EDX", "EBX", "ESP", "EBP", "ESI", "EDI"] as const;

// ---------------------------------------------------------------------------
// Feature words (enum FeatureWord, in declaration order: warnings follow this order)

export const FEAT_1_EDX = 0;
export const FEAT_1_ECX = 1;
export const FEAT_7_0_EBX = 2;
export const FEAT_7_0_ECX = 3;
export const FEAT_7_0_EDX = 4;
export const FEAT_7_1_EAX = 5;
export const FEAT_8000_0001_EDX = 6;
export const FEAT_8000_0001_ECX = 7;
export const FEAT_8000_0007_EBX = 8;
export const FEAT_8000_0007_EDX = 9;
export const FEAT_8000_0008_EBX = 10;
export const FEAT_8000_0021_EAX = 11;
export const FEAT_8000_0021_EBX = 12;
export const FEAT_8000_0022_EAX = 13;
export const FEAT_C000_0001_EDX = 14;
export const FEAT_KVM = 15;
export const FEAT_KVM_HINTS = 16;
export const FEAT_SVM = 17;
export const FEAT_XSAVE = 18;
export const FEAT_6_EAX = 19;
export const FEAT_XSAVE_XCR0_LO = 20;
export const FEAT_XSAVE_XCR0_HI = 21;
export const FEAT_ARCH_CAPABILITIES = 22;
export const FEAT_CORE_CAPABILITY = 23;
export const FEAT_PERF_CAPABILITIES = 24;
export const FEAT_VMX_PROCBASED_CTLS = 25;
export const FEAT_VMX_SECONDARY_CTLS = 26;
export const FEAT_VMX_PINBASED_CTLS = 27;
export const FEAT_VMX_EXIT_CTLS = 28;
export const FEAT_VMX_ENTRY_CTLS = 29;
export const FEAT_VMX_MISC = 30;
export const FEAT_VMX_EPT_VPID_CAPS = 31;
export const FEAT_VMX_BASIC = 32;
export const FEAT_VMX_VMFUNC = 33;
export const FEAT_14_0_ECX = 34;
export const FEAT_SGX_12_0_EAX = 35;
export const FEAT_SGX_12_0_EBX = 36;
export const FEAT_SGX_12_1_EAX = 37;
export const FEAT_XSAVE_XSS_LO = 38;
export const FEAT_XSAVE_XSS_HI = 39;
export const FEAT_7_1_EDX = 40;
export const FEAT_7_2_EDX = 41;
export const FEAT_24_0_EBX = 42;
/** `FEATURE_WORDS`: the number of words. */
export const FEATURE_WORDS = 43;
/** An index into `CPUX86State.features` (one of the FEAT_* constants). */
export type FeatureWord = number;

// ---------------------------------------------------------------------------
// MSR indices used by feature words and by KVM vCPU setup (target/i386/cpu.h)

export const MSR_IA32_UCODE_REV = 0x8b;
export const MSR_IA32_CORE_CAPABILITY = 0xcf;
export const MSR_IA32_ARCH_CAPABILITIES = 0x10a;
export const MSR_IA32_PERF_CAPABILITIES = 0x345;
export const MSR_IA32_VMX_BASIC = 0x480;
export const MSR_IA32_VMX_MISC = 0x485;
export const MSR_IA32_VMX_PROCBASED_CTLS2 = 0x48b;
export const MSR_IA32_VMX_EPT_VPID_CAP = 0x48c;
export const MSR_IA32_VMX_TRUE_PINBASED_CTLS = 0x48d;
export const MSR_IA32_VMX_TRUE_PROCBASED_CTLS = 0x48e;
export const MSR_IA32_VMX_TRUE_EXIT_CTLS = 0x48f;
export const MSR_IA32_VMX_TRUE_ENTRY_CTLS = 0x490;
export const MSR_IA32_VMX_VMFUNC = 0x491;

// ---------------------------------------------------------------------------
// Bits the code tests by name (CPUID_*, CPUID_EXT_*, … in target/i386/cpu.h)

const b = (n: number): bigint => 1n << BigInt(n);

export const CPUID_FP87 = b(0);
export const CPUID_VME = b(1);
export const CPUID_DE = b(2);
export const CPUID_PSE = b(3);
export const CPUID_TSC = b(4);
export const CPUID_MSR = b(5);
export const CPUID_PAE = b(6);
export const CPUID_MCE = b(7);
export const CPUID_CX8 = b(8);
export const CPUID_APIC = b(9);
export const CPUID_SEP = b(11);
export const CPUID_MTRR = b(12);
export const CPUID_PGE = b(13);
export const CPUID_MCA = b(14);
export const CPUID_CMOV = b(15);
export const CPUID_PAT = b(16);
export const CPUID_PSE36 = b(17);
export const CPUID_CLFLUSH = b(19);
export const CPUID_MMX = b(23);
export const CPUID_FXSR = b(24);
export const CPUID_SSE = b(25);
export const CPUID_HT = b(28);

export const CPUID_EXT_MONITOR = b(3);
export const CPUID_EXT_VMX = b(5);
export const CPUID_EXT_SMX = b(6);
export const CPUID_EXT_PDCM = b(15);
export const CPUID_EXT_X2APIC = b(21);
export const CPUID_EXT_TSC_DEADLINE_TIMER = b(24);
export const CPUID_EXT_XSAVE = b(26);
export const CPUID_EXT_OSXSAVE = b(27);
export const CPUID_EXT_AVX = b(28);
export const CPUID_EXT_RDRAND = b(30);
export const CPUID_EXT_HYPERVISOR = b(31);

export const CPUID_EXT2_SYSCALL = b(11);
export const CPUID_EXT2_RDTSCP = b(27);
export const CPUID_EXT2_LM = b(29);
/** 1.EDX bits that AMD CPUs repeat in 8000_0001.EDX (fpu … pse36, mmx, fxsr). */
export const CPUID_EXT2_AMD_ALIASES = 0x0183_f3ffn;

export const CPUID_EXT3_CMP_LEG = b(1);
export const CPUID_EXT3_SVM = b(2);
export const CPUID_EXT3_TOPOEXT = b(22);

export const CPUID_7_0_EBX_FSGSBASE = b(0);
export const CPUID_7_0_EBX_SGX = b(2);
export const CPUID_7_0_EBX_HLE = b(4);
export const CPUID_7_0_EBX_ERMS = b(9);
export const CPUID_7_0_EBX_INVPCID = b(10);
export const CPUID_7_0_EBX_RTM = b(11);
export const CPUID_7_0_EBX_MPX = b(14);
export const CPUID_7_0_EBX_AVX512F = b(16);
export const CPUID_7_0_EBX_RDSEED = b(18);
export const CPUID_7_0_EBX_INTEL_PT = b(25);
export const CPUID_7_0_ECX_PKU = b(3);
export const CPUID_7_0_ECX_OSPKE = b(4);
export const CPUID_7_0_ECX_WAITPKG = b(5);
export const CPUID_7_0_ECX_SGX_LC = b(30);
export const CPUID_7_0_EDX_FSRM = b(4);
export const CPUID_7_0_EDX_ARCH_LBR = b(19);
export const CPUID_7_0_EDX_AMX_TILE = b(24);
export const CPUID_7_0_EDX_ARCH_CAPABILITIES = b(29);
export const CPUID_7_0_EDX_CORE_CAPABILITY = b(30);
export const CPUID_7_1_EAX_FZRM = b(10);
export const CPUID_7_1_EAX_FSRS = b(11);
export const CPUID_7_1_EAX_FSRC = b(12);
export const CPUID_7_1_EAX_FRED = b(17);
export const CPUID_7_1_EAX_LKGS = b(18);
export const CPUID_7_1_EAX_WRMSRNS = b(19);
export const CPUID_7_1_EDX_AVX10 = b(19);
export const CPUID_7_2_EDX_MCDT_NO = b(5);
export const CPUID_24_0_EBX_AVX10_128 = b(16);
export const CPUID_24_0_EBX_AVX10_256 = b(17);
export const CPUID_24_0_EBX_AVX10_512 = b(18);

export const CPUID_6_EAX_ARAT = b(2);
export const CPUID_XSAVE_XSAVES = b(3);
export const CPUID_APM_INVTSC = b(8);
export const CPUID_8000_0007_EBX_OVERFLOW_RECOV = b(0);
export const CPUID_8000_0007_EBX_SUCCOR = b(1);

/** KVM paravirt leaf 0x40000001 bits (KVM_FEATURE_*). */
export const CPUID_KVM_PV_UNHALT = b(7);
export const CPUID_KVM_MSI_EXT_DEST_ID = b(15);
/** Leaf 0x40000001 EDX: KVM_HINTS_REALTIME. */
export const CPUID_KVM_HINTS_REALTIME = b(0);

/** VMX capability bits the dependency table names (SDM vol. 3 appendix A). */
export const VMX_CPU_BASED_ACTIVATE_SECONDARY_CONTROLS = b(31);
export const VMX_SECONDARY_EXEC_ENABLE_EPT = b(1);
export const VMX_SECONDARY_EXEC_RDTSCP = b(3);
export const VMX_SECONDARY_EXEC_ENABLE_VPID = b(5);
export const VMX_SECONDARY_EXEC_UNRESTRICTED_GUEST = b(7);
export const VMX_SECONDARY_EXEC_RDRAND_EXITING = b(11);
export const VMX_SECONDARY_EXEC_ENABLE_INVPCID = b(12);
export const VMX_SECONDARY_EXEC_ENABLE_VMFUNC = b(13);
export const VMX_SECONDARY_EXEC_RDSEED_EXITING = b(16);
export const VMX_SECONDARY_EXEC_XSAVES = b(20);
export const VMX_SECONDARY_EXEC_ENABLE_USER_WAIT_PAUSE = b(26);
export const VMX_VM_EXIT_CLEAR_BNDCFGS = b(23);
export const VMX_VM_ENTRY_IA32E_MODE = b(9);
export const VMX_VM_ENTRY_LOAD_BNDCFGS = b(16);
/** IA32_VMX_BASIC bit 49: dual-monitor treatment of SMM (never enabled by `-cpu max`). */
export const MSR_VMX_BASIC_DUAL_MONITOR = b(49);

/** XSAVE state components (XSTATE_*_BIT). */
export const XSTATE_FP_BIT = 0;
export const XSTATE_SSE_BIT = 1;
export const XSTATE_YMM_BIT = 2;
export const XSTATE_BNDREGS_BIT = 3;
export const XSTATE_BNDCSR_BIT = 4;
export const XSTATE_OPMASK_BIT = 5;
export const XSTATE_ZMM_HI256_BIT = 6;
export const XSTATE_HI16_ZMM_BIT = 7;
export const XSTATE_PKRU_BIT = 9;
export const XSTATE_ARCH_LBR_BIT = 15;
export const XSTATE_XTILE_CFG_BIT = 17;
export const XSTATE_XTILE_DATA_BIT = 18;
export const XSAVE_STATE_AREA_COUNT = 19;
export const XSTATE_FP_MASK = b(XSTATE_FP_BIT);
export const XSTATE_SSE_MASK = b(XSTATE_SSE_BIT);
/** CPUID_XSTATE_XCR0_MASK: the user components XCR0 can enable. */
export const CPUID_XSTATE_XCR0_MASK = [0, 1, 2, 3, 4, 5, 6, 7, 9, 17, 18].reduce(
  (m, i) => m | b(i),
  0n,
);
/** CPUID_XSTATE_XSS_MASK: supervisor components (XSS). */
export const CPUID_XSTATE_XSS_MASK = b(XSTATE_ARCH_LBR_BIT);

// ---------------------------------------------------------------------------
// feature_word_info

export interface CpuidWordInput {
  readonly eax: number;
  readonly needsEcx: boolean;
  readonly ecx: number;
  readonly reg: CpuidRegister;
}

export interface FeatureWordInfo {
  /** CPUID_FEATURE_WORD or MSR_FEATURE_WORD. */
  readonly type: "cpuid" | "msr";
  /** Bit → property name (null: the bit has no property). 64 entries. */
  readonly featNames: readonly (string | null)[];
  readonly cpuid?: CpuidWordInput;
  readonly msr?: { readonly index: number };
  /** What TCG implements of this word. */
  readonly tcgFeatures: bigint;
  /** Never turned on by `-cpu max`/`host` on their own. */
  readonly noAutoenableFlags: bigint;
  /** Named but not migratable (dropped from `max` when migratable=on). */
  readonly unmigratableFlags: bigint;
  /** Migratable even though unnamed. */
  readonly migratableFlags: bigint;
}

function names(byBit: Readonly<Record<number, string>>): (string | null)[] {
  const out: (string | null)[] = new Array(64).fill(null);
  for (const [bit, name] of Object.entries(byBit)) out[Number(bit)] = name;
  return out;
}

/** `names` from a space-separated list starting at bit 0 ("-" for an unnamed bit). */
function seq(list: string, first = 0): (string | null)[] {
  const out: (string | null)[] = new Array(64).fill(null);
  list
    .trim()
    .split(/\s+/)
    .forEach((n, i) => {
      out[first + i] = n === "-" ? null : n;
    });
  return out;
}

const mask = (...bits: number[]): bigint => bits.reduce((m, i) => m | b(i), 0n);

function cpuidWord(
  eax: number,
  reg: CpuidRegister,
  featNames: (string | null)[],
  extra: Partial<Omit<FeatureWordInfo, "type" | "featNames" | "cpuid">> & { ecx?: number } = {},
): FeatureWordInfo {
  const { ecx, ...rest } = extra;
  return {
    type: "cpuid",
    featNames,
    cpuid: { eax, reg, needsEcx: ecx !== undefined, ecx: ecx ?? 0 },
    tcgFeatures: 0n,
    noAutoenableFlags: 0n,
    unmigratableFlags: 0n,
    migratableFlags: 0n,
    ...rest,
  };
}

function msrWord(
  index: number,
  featNames: (string | null)[],
  extra: Partial<Omit<FeatureWordInfo, "type" | "featNames" | "msr">> = {},
): FeatureWordInfo {
  return {
    type: "msr",
    featNames,
    msr: { index },
    tcgFeatures: 0n,
    noAutoenableFlags: 0n,
    unmigratableFlags: 0n,
    migratableFlags: 0n,
    ...extra,
  };
}

/** TCG_FEATURES and friends: what the TCG accelerator implements, per word. */
const TCG_1_EDX = mask(
  0,
  2,
  3,
  4,
  5,
  6,
  7,
  8,
  9,
  11,
  12,
  13,
  14,
  15,
  16,
  17,
  19,
  22,
  23,
  24,
  25,
  26,
  27,
);
const TCG_1_ECX = mask(0, 1, 3, 9, 12, 13, 19, 20, 21, 22, 23, 25, 26, 28, 29, 30, 31);

/** `feature_word_info[FEATURE_WORDS]`, indexed by FEAT_*. */
export const FEATURE_WORD_INFO: readonly FeatureWordInfo[] = [
  /* FEAT_1_EDX */ cpuidWord(
    1,
    R_EDX,
    seq(`fpu vme de pse tsc msr pae mce cx8 apic - sep mtrr pge mca cmov
         pat pse36 pn clflush - ds acpi mmx fxsr sse sse2 ss ht tm ia64 pbe`),
    { tcgFeatures: TCG_1_EDX, noAutoenableFlags: CPUID_HT },
  ),
  /* FEAT_1_ECX */ cpuidWord(
    1,
    R_ECX,
    seq(`pni pclmulqdq dtes64 monitor ds-cpl vmx smx est tm2 ssse3 cid - fma cx16 xtpr pdcm
         - pcid dca sse4.1 sse4.2 x2apic movbe popcnt tsc-deadline aes xsave - avx f16c rdrand
         hypervisor`),
    { tcgFeatures: TCG_1_ECX },
  ),
  /* FEAT_7_0_EBX */ cpuidWord(
    7,
    R_EBX,
    seq(`fsgsbase tsc-adjust sgx bmi1 hle avx2 fdp-excptn-only smep bmi2 erms invpcid rtm
         - zero-fcs-fds mpx - avx512f avx512dq rdseed adx smap avx512ifma pcommit clflushopt
         clwb intel-pt avx512pf avx512er avx512cd sha-ni avx512bw avx512vl`),
    { ecx: 0, tcgFeatures: mask(0, 3, 5, 7, 8, 9, 14, 18, 19, 20, 23, 24, 29) },
  ),
  /* FEAT_7_0_ECX */ cpuidWord(
    7,
    R_ECX,
    names({
      1: "avx512vbmi",
      2: "umip",
      3: "pku",
      5: "waitpkg",
      6: "avx512vbmi2",
      8: "gfni",
      9: "vaes",
      10: "vpclmulqdq",
      11: "avx512vnni",
      12: "avx512bitalg",
      14: "avx512-vpopcntdq",
      16: "la57",
      22: "rdpid",
      24: "bus-lock-detect",
      25: "cldemote",
      27: "movdiri",
      28: "movdir64b",
      30: "sgxlc",
      31: "pks",
    }),
    { ecx: 0, tcgFeatures: mask(2, 3, 9, 16, 22, 31) },
  ),
  /* FEAT_7_0_EDX */ cpuidWord(
    7,
    R_EDX,
    names({
      2: "avx512-4vnniw",
      3: "avx512-4fmaps",
      4: "fsrm",
      8: "avx512-vp2intersect",
      10: "md-clear",
      14: "serialize",
      16: "tsx-ldtrk",
      19: "arch-lbr",
      22: "amx-bf16",
      23: "avx512-fp16",
      24: "amx-tile",
      25: "amx-int8",
      26: "spec-ctrl",
      27: "stibp",
      28: "flush-l1d",
      29: "arch-capabilities",
      30: "core-capability",
      31: "ssbd",
    }),
    { ecx: 0, tcgFeatures: mask(4) },
  ),
  /* FEAT_7_1_EAX */ cpuidWord(
    7,
    R_EAX,
    names({
      0: "sha512",
      1: "sm3",
      2: "sm4",
      4: "avx-vnni",
      5: "avx512-bf16",
      7: "cmpccxadd",
      10: "fzrm",
      11: "fsrs",
      12: "fsrc",
      17: "fred",
      18: "lkgs",
      19: "wrmsrns",
      21: "amx-fp16",
      23: "avx-ifma",
      26: "lam",
    }),
    { ecx: 1, tcgFeatures: mask(7, 10, 11, 12) },
  ),
  /* FEAT_8000_0001_EDX: the AMD copies of 1.EDX bits have no names of their own. */
  cpuidWord(
    0x8000_0001,
    R_EDX,
    names({
      11: "syscall",
      20: "nx",
      22: "mmxext",
      25: "fxsr-opt",
      26: "pdpe1gb",
      27: "rdtscp",
      29: "lm",
      30: "3dnowext",
      31: "3dnow",
    }),
    {
      tcgFeatures: (TCG_1_EDX & CPUID_EXT2_AMD_ALIASES) | mask(11, 20, 22, 26, 27, 29, 30, 31),
    },
  ),
  /* FEAT_8000_0001_ECX */ cpuidWord(
    0x8000_0001,
    R_ECX,
    seq(`lahf-lm cmp-legacy svm extapic cr8legacy abm sse4a misalignsse 3dnowprefetch osvw ibs
         xop skinit wdt - lwp fma4 tce - nodeid-msr - tbm topoext perfctr-core perfctr-nb`),
    { tcgFeatures: mask(0, 2, 4, 5, 6, 8), noAutoenableFlags: CPUID_EXT3_TOPOEXT },
  ),
  /* FEAT_8000_0007_EBX */ cpuidWord(0x8000_0007, R_EBX, seq("overflow-recov succor")),
  /* FEAT_8000_0007_EDX */ cpuidWord(0x8000_0007, R_EDX, names({ 8: "invtsc" }), {
    unmigratableFlags: CPUID_APM_INVTSC,
  }),
  /* FEAT_8000_0008_EBX */ cpuidWord(
    0x8000_0008,
    R_EBX,
    names({
      0: "clzero",
      2: "xsaveerptr",
      9: "wbnoinvd",
      12: "ibpb",
      14: "ibrs",
      15: "amd-stibp",
      17: "stibp-always-on",
      24: "amd-ssbd",
      25: "virt-ssbd",
      26: "amd-no-ssb",
      28: "amd-psfd",
    }),
    { tcgFeatures: mask(2, 9) },
  ),
  /* FEAT_8000_0021_EAX */ cpuidWord(
    0x8000_0021,
    R_EAX,
    names({
      0: "no-nested-data-bp",
      2: "lfence-always-serializing",
      6: "null-sel-clr-base",
      8: "auto-ibrs",
      24: "eraps",
      27: "sbpb",
      28: "ibpb-brtype",
      29: "srso-no",
      30: "srso-user-kernel-no",
    }),
  ),
  /* FEAT_8000_0021_EBX */ cpuidWord(0x8000_0021, R_EBX, names({})),
  /* FEAT_8000_0022_EAX */ cpuidWord(0x8000_0022, R_EAX, seq("perfmon-v2")),
  /* FEAT_C000_0001_EDX */ cpuidWord(
    0xc000_0001,
    R_EDX,
    seq("- - xstore xstore-en - - xcrypt xcrypt-en ace2 ace2-en phe phe-en pmm pmm-en"),
  ),
  /* FEAT_KVM */ cpuidWord(
    0x4000_0001,
    R_EAX,
    names({
      0: "kvmclock",
      1: "kvm-nopiodelay",
      2: "kvm-mmu",
      3: "kvmclock",
      4: "kvm-asyncpf",
      5: "kvm-steal-time",
      6: "kvm-pv-eoi",
      7: "kvm-pv-unhalt",
      9: "kvm-pv-tlb-flush",
      10: "kvm-asyncpf-vmexit",
      11: "kvm-pv-ipi",
      12: "kvm-poll-control",
      13: "kvm-pv-sched-yield",
      14: "kvm-asyncpf-int",
      15: "kvm-msi-ext-dest-id",
      24: "kvmclock-stable-bit",
    }),
  ),
  /* FEAT_KVM_HINTS */ cpuidWord(0x4000_0001, R_EDX, names({ 0: "kvm-hint-dedicated" }), {
    noAutoenableFlags: 0xffff_ffffn,
  }),
  /* FEAT_SVM */ cpuidWord(
    0x8000_000a,
    R_EDX,
    names({
      0: "npt",
      1: "lbrv",
      2: "svm-lock",
      3: "nrip-save",
      4: "tsc-scale",
      5: "vmcb-clean",
      6: "flushbyasid",
      7: "decodeassists",
      10: "pause-filter",
      12: "pfthreshold",
      13: "avic",
      15: "v-vmsave-vmload",
      16: "vgif",
      25: "vnmi",
      28: "svme-addr-chk",
    }),
    { tcgFeatures: mask(0, 16, 28) },
  ),
  /* FEAT_XSAVE */ cpuidWord(0xd, R_EAX, seq("xsaveopt xsavec xgetbv1 xsaves xfd"), {
    ecx: 1,
    tcgFeatures: mask(0, 2),
  }),
  /* FEAT_6_EAX */ cpuidWord(6, R_EAX, names({ 2: "arat" }), { tcgFeatures: CPUID_6_EAX_ARAT }),
  /* FEAT_XSAVE_XCR0_LO */ cpuidWord(0xd, R_EAX, names({}), {
    ecx: 0,
    tcgFeatures: mask(0, 1, 2, 3, 4, 9),
    migratableFlags: mask(0, 1, 2, 3, 4, 5, 6, 7, 9),
  }),
  /* FEAT_XSAVE_XCR0_HI */ cpuidWord(0xd, R_EDX, names({}), { ecx: 0 }),
  /* FEAT_ARCH_CAPABILITIES */ msrWord(
    MSR_IA32_ARCH_CAPABILITIES,
    names({
      0: "rdctl-no",
      1: "ibrs-all",
      2: "rsba",
      3: "skip-l1dfl-vmentry",
      4: "ssb-no",
      5: "mds-no",
      6: "pschange-mc-no",
      7: "tsx-ctrl",
      8: "taa-no",
      13: "sbdr-ssdp-no",
      14: "fbsdp-no",
      15: "psdp-no",
      17: "fb-clear",
      20: "bhi-no",
      24: "pbrsb-no",
      26: "gds-no",
      27: "rfds-no",
      28: "rfds-clear",
    }),
    // A read-only MSR user mode never sees: TCG "supports" every bit.
    { tcgFeatures: 0xffff_ffffn },
  ),
  /* FEAT_CORE_CAPABILITY */ msrWord(MSR_IA32_CORE_CAPABILITY, names({ 5: "split-lock-detect" })),
  /* FEAT_PERF_CAPABILITIES */ msrWord(
    MSR_IA32_PERF_CAPABILITIES,
    names({ 13: "full-width-write" }),
  ),
  /* FEAT_VMX_PROCBASED_CTLS */ msrWord(
    MSR_IA32_VMX_TRUE_PROCBASED_CTLS,
    names({
      2: "vmx-vintr-pending",
      3: "vmx-tsc-offset",
      7: "vmx-hlt-exit",
      9: "vmx-invlpg-exit",
      10: "vmx-mwait-exit",
      11: "vmx-rdpmc-exit",
      12: "vmx-rdtsc-exit",
      15: "vmx-cr3-load-noexit",
      16: "vmx-cr3-store-noexit",
      19: "vmx-cr8-load-exit",
      20: "vmx-cr8-store-exit",
      21: "vmx-flexpriority",
      22: "vmx-vnmi-pending",
      23: "vmx-movdr-exit",
      24: "vmx-io-exit",
      25: "vmx-io-bitmap",
      27: "vmx-mtf",
      28: "vmx-msr-bitmap",
      29: "vmx-monitor-exit",
      30: "vmx-pause-exit",
      31: "vmx-secondary-ctls",
    }),
  ),
  /* FEAT_VMX_SECONDARY_CTLS */ msrWord(
    MSR_IA32_VMX_PROCBASED_CTLS2,
    names({
      0: "vmx-apicv-xapic",
      1: "vmx-ept",
      2: "vmx-desc-exit",
      3: "vmx-rdtscp-exit",
      4: "vmx-apicv-x2apic",
      5: "vmx-vpid",
      6: "vmx-wbinvd-exit",
      7: "vmx-unrestricted-guest",
      8: "vmx-apicv-register",
      9: "vmx-apicv-vid",
      10: "vmx-ple",
      11: "vmx-rdrand-exit",
      12: "vmx-invpcid-exit",
      13: "vmx-vmfunc",
      14: "vmx-shadow-vmcs",
      15: "vmx-encls-exit",
      16: "vmx-rdseed-exit",
      17: "vmx-pml",
      20: "vmx-xsaves",
      25: "vmx-tsc-scaling",
      26: "vmx-enable-user-wait-pause",
    }),
  ),
  /* FEAT_VMX_PINBASED_CTLS */ msrWord(
    MSR_IA32_VMX_TRUE_PINBASED_CTLS,
    names({
      0: "vmx-intr-exit",
      3: "vmx-nmi-exit",
      5: "vmx-vnmi",
      6: "vmx-preemption-timer",
      7: "vmx-posted-intr",
    }),
  ),
  /* FEAT_VMX_EXIT_CTLS (bit 9, host address-space size, follows `lm`) */ msrWord(
    MSR_IA32_VMX_TRUE_EXIT_CTLS,
    names({
      2: "vmx-exit-nosave-debugctl",
      12: "vmx-exit-load-perf-global-ctrl",
      15: "vmx-exit-ack-intr",
      18: "vmx-exit-save-pat",
      19: "vmx-exit-load-pat",
      20: "vmx-exit-save-efer",
      21: "vmx-exit-load-efer",
      22: "vmx-exit-save-preemption-timer",
      23: "vmx-exit-clear-bndcfgs",
      25: "vmx-exit-clear-rtit-ctl",
      29: "vmx-exit-load-pkrs",
      31: "vmx-exit-secondary-ctls",
    }),
  ),
  /* FEAT_VMX_ENTRY_CTLS */ msrWord(
    MSR_IA32_VMX_TRUE_ENTRY_CTLS,
    names({
      2: "vmx-entry-noload-debugctl",
      9: "vmx-entry-ia32e-mode",
      13: "vmx-entry-load-perf-global-ctrl",
      14: "vmx-entry-load-pat",
      15: "vmx-entry-load-efer",
      16: "vmx-entry-load-bndcfgs",
      18: "vmx-entry-load-rtit-ctl",
      22: "vmx-entry-load-pkrs",
      23: "vmx-entry-load-fred",
    }),
  ),
  /* FEAT_VMX_MISC */ msrWord(
    MSR_IA32_VMX_MISC,
    names({
      5: "vmx-store-lma",
      6: "vmx-activity-hlt",
      7: "vmx-activity-shutdown",
      8: "vmx-activity-wait-sipi",
      29: "vmx-vmwrite-vmexit-fields",
      30: "vmx-zero-len-inject",
    }),
  ),
  /* FEAT_VMX_EPT_VPID_CAPS */ msrWord(
    MSR_IA32_VMX_EPT_VPID_CAP,
    names({
      0: "vmx-ept-execonly",
      6: "vmx-page-walk-4",
      7: "vmx-page-walk-5",
      16: "vmx-ept-2mb",
      17: "vmx-ept-1gb",
      20: "vmx-invept",
      21: "vmx-eptad",
      22: "vmx-ept-advanced-exitinfo",
      25: "vmx-invept-single-context",
      26: "vmx-invept-all-context",
      32: "vmx-invvpid",
      40: "vmx-invvpid-single-addr",
      41: "vmx-invept-single-context",
      42: "vmx-invvpid-all-context",
      43: "vmx-invept-single-context-noglobals",
    }),
  ),
  /* FEAT_VMX_BASIC */ msrWord(
    MSR_IA32_VMX_BASIC,
    names({
      54: "vmx-ins-outs",
      55: "vmx-true-ctls",
      56: "vmx-any-errcode",
      58: "vmx-nested-exception",
    }),
    { noAutoenableFlags: MSR_VMX_BASIC_DUAL_MONITOR },
  ),
  /* FEAT_VMX_VMFUNC */ msrWord(MSR_IA32_VMX_VMFUNC, names({ 0: "vmx-eptp-switching" })),
  /* FEAT_14_0_ECX */ cpuidWord(0x14, R_ECX, names({ 31: "intel-pt-lip" }), { ecx: 0 }),
  /* FEAT_SGX_12_0_EAX */ cpuidWord(
    0x12,
    R_EAX,
    names({ 0: "sgx1", 1: "sgx2", 11: "sgx-edeccssa" }),
    {
      ecx: 0,
    },
  ),
  /* FEAT_SGX_12_0_EBX */ cpuidWord(0x12, R_EBX, names({ 0: "sgx-exinfo" }), { ecx: 0 }),
  /* FEAT_SGX_12_1_EAX */ cpuidWord(
    0x12,
    R_EAX,
    names({
      1: "sgx-debug",
      2: "sgx-mode64",
      4: "sgx-provisionkey",
      5: "sgx-tokenkey",
      7: "sgx-kss",
      10: "sgx-aex-notify",
    }),
    { ecx: 1 },
  ),
  /* FEAT_XSAVE_XSS_LO */ cpuidWord(0xd, R_ECX, names({}), { ecx: 1 }),
  /* FEAT_XSAVE_XSS_HI */ cpuidWord(0xd, R_EDX, names({}), { ecx: 1 }),
  /* FEAT_7_1_EDX */ cpuidWord(
    7,
    R_EDX,
    names({
      4: "avx-vnni-int8",
      5: "avx-ne-convert",
      8: "amx-complex",
      10: "avx-vnni-int16",
      14: "prefetchiti",
      19: "avx10",
    }),
    { ecx: 1 },
  ),
  /* FEAT_7_2_EDX */ cpuidWord(
    7,
    R_EDX,
    seq("intel-psfd ipred-ctrl rrsba-ctrl ddpd-u bhi-ctrl mcdt-no"),
    { ecx: 2 },
  ),
  /* FEAT_24_0_EBX */ cpuidWord(
    0x24,
    R_EBX,
    names({ 16: "avx10-128", 17: "avx10-256", 18: "avx10-512" }),
    { ecx: 0 },
  ),
];

if (FEATURE_WORD_INFO.length !== FEATURE_WORDS) {
  throw new Error(`feature_word_info has ${FEATURE_WORD_INFO.length} words`);
}

/**
 * Property names kept for old command lines that current QEMU no longer accepts. glassvm
 * accepts `osxsave` the way QEMU ≤ 2.8 did (decision recorded in the reference, §5.4): it
 * sets CPUID.01H:ECX bit 27, which no accelerator reports as supported (the bit mirrors
 * CR4.OSXSAVE at CPUID time), so filtering drops it again with the usual warning
 * `… doesn't support requested feature: CPUID[eax=01h].ECX.osxsave [bit 27]`. It is not
 * listed by `-cpu help`, whose list is QEMU 10.x's.
 */
export const LEGACY_FEATURE_NAMES: readonly {
  readonly name: string;
  readonly word: FeatureWord;
  readonly bit: number;
}[] = [{ name: "osxsave", word: FEAT_1_ECX, bit: 27 }];

/** The name a warning prints for a bit: QEMU's, else a legacy compat name, else none. */
export function featureBitName(w: FeatureWord, bit: number): string | null {
  const n = FEATURE_WORD_INFO[w]?.featNames[bit] ?? null;
  if (n) return n;
  return LEGACY_FEATURE_NAMES.find((l) => l.word === w && l.bit === bit)?.name ?? null;
}

/**
 * Alias properties added by x86_cpu_initfn: old spellings (underscores, pre-standard names)
 * forwarding to the canonical property.
 */
export const FEATURE_ALIASES: readonly (readonly [alias: string, target: string])[] = [
  ["sse3", "pni"],
  ["pclmuldq", "pclmulqdq"],
  ["sse4-1", "sse4.1"],
  ["sse4-2", "sse4.2"],
  ["xd", "nx"],
  ["ffxsr", "fxsr-opt"],
  ["i64", "lm"],
  ["ds_cpl", "ds-cpl"],
  ["tsc_adjust", "tsc-adjust"],
  ["fxsr_opt", "fxsr-opt"],
  ["lahf_lm", "lahf-lm"],
  ["cmp_legacy", "cmp-legacy"],
  ["nodeid_msr", "nodeid-msr"],
  ["perfctr_core", "perfctr-core"],
  ["perfctr_nb", "perfctr-nb"],
  ["kvm_nopiodelay", "kvm-nopiodelay"],
  ["kvm_mmu", "kvm-mmu"],
  ["kvm_asyncpf", "kvm-asyncpf"],
  ["kvm_asyncpf_int", "kvm-asyncpf-int"],
  ["kvm_steal_time", "kvm-steal-time"],
  ["kvm_pv_eoi", "kvm-pv-eoi"],
  ["kvm_pv_unhalt", "kvm-pv-unhalt"],
  ["kvm_poll_control", "kvm-poll-control"],
  ["svm_lock", "svm-lock"],
  ["nrip_save", "nrip-save"],
  ["tsc_scale", "tsc-scale"],
  ["vmcb_clean", "vmcb-clean"],
  ["pause_filter", "pause-filter"],
  ["sse4_1", "sse4.1"],
  ["sse4_2", "sse4.2"],
];

// ---------------------------------------------------------------------------
// feature_dependencies: a feature that needs another one is dropped without it

export interface FeatureDep {
  readonly from: { readonly index: FeatureWord; readonly mask: bigint };
  readonly to: { readonly index: FeatureWord; readonly mask: bigint };
}

const ALL = 0xffff_ffff_ffff_ffffn;
const dep = (fw: FeatureWord, fm: bigint, tw: FeatureWord, tm: bigint): FeatureDep => ({
  from: { index: fw, mask: fm },
  to: { index: tw, mask: tm },
});

export const FEATURE_DEPENDENCIES: readonly FeatureDep[] = [
  dep(FEAT_7_0_EDX, CPUID_7_0_EDX_ARCH_CAPABILITIES, FEAT_ARCH_CAPABILITIES, ALL),
  dep(FEAT_7_0_EDX, CPUID_7_0_EDX_CORE_CAPABILITY, FEAT_CORE_CAPABILITY, ALL),
  dep(FEAT_1_ECX, CPUID_EXT_PDCM, FEAT_PERF_CAPABILITIES, ALL),
  dep(FEAT_1_ECX, CPUID_EXT_VMX, FEAT_VMX_PROCBASED_CTLS, ALL),
  dep(FEAT_1_ECX, CPUID_EXT_VMX, FEAT_VMX_PINBASED_CTLS, ALL),
  dep(FEAT_1_ECX, CPUID_EXT_VMX, FEAT_VMX_EXIT_CTLS, ALL),
  dep(FEAT_1_ECX, CPUID_EXT_VMX, FEAT_VMX_ENTRY_CTLS, ALL),
  dep(FEAT_1_ECX, CPUID_EXT_VMX, FEAT_VMX_MISC, ALL),
  dep(FEAT_1_ECX, CPUID_EXT_VMX, FEAT_VMX_BASIC, ALL),
  dep(FEAT_8000_0001_EDX, CPUID_EXT2_LM, FEAT_VMX_ENTRY_CTLS, VMX_VM_ENTRY_IA32E_MODE),
  dep(
    FEAT_VMX_PROCBASED_CTLS,
    VMX_CPU_BASED_ACTIVATE_SECONDARY_CONTROLS,
    FEAT_VMX_SECONDARY_CTLS,
    ALL,
  ),
  dep(FEAT_XSAVE, CPUID_XSAVE_XSAVES, FEAT_VMX_SECONDARY_CTLS, VMX_SECONDARY_EXEC_XSAVES),
  dep(FEAT_1_ECX, CPUID_EXT_RDRAND, FEAT_VMX_SECONDARY_CTLS, VMX_SECONDARY_EXEC_RDRAND_EXITING),
  dep(
    FEAT_7_0_EBX,
    CPUID_7_0_EBX_INVPCID,
    FEAT_VMX_SECONDARY_CTLS,
    VMX_SECONDARY_EXEC_ENABLE_INVPCID,
  ),
  dep(FEAT_7_0_EBX, CPUID_7_0_EBX_MPX, FEAT_VMX_EXIT_CTLS, VMX_VM_EXIT_CLEAR_BNDCFGS),
  dep(FEAT_7_0_EBX, CPUID_7_0_EBX_MPX, FEAT_VMX_ENTRY_CTLS, VMX_VM_ENTRY_LOAD_BNDCFGS),
  dep(
    FEAT_7_0_EBX,
    CPUID_7_0_EBX_RDSEED,
    FEAT_VMX_SECONDARY_CTLS,
    VMX_SECONDARY_EXEC_RDSEED_EXITING,
  ),
  dep(FEAT_7_0_EBX, CPUID_7_0_EBX_INTEL_PT, FEAT_14_0_ECX, ALL),
  dep(FEAT_8000_0001_EDX, CPUID_EXT2_RDTSCP, FEAT_VMX_SECONDARY_CTLS, VMX_SECONDARY_EXEC_RDTSCP),
  dep(FEAT_VMX_SECONDARY_CTLS, VMX_SECONDARY_EXEC_ENABLE_EPT, FEAT_VMX_EPT_VPID_CAPS, 0xffff_ffffn),
  dep(
    FEAT_VMX_SECONDARY_CTLS,
    VMX_SECONDARY_EXEC_ENABLE_EPT,
    FEAT_VMX_SECONDARY_CTLS,
    VMX_SECONDARY_EXEC_UNRESTRICTED_GUEST,
  ),
  dep(
    FEAT_VMX_SECONDARY_CTLS,
    VMX_SECONDARY_EXEC_ENABLE_VPID,
    FEAT_VMX_EPT_VPID_CAPS,
    0xffff_ffffn << 32n,
  ),
  dep(FEAT_VMX_SECONDARY_CTLS, VMX_SECONDARY_EXEC_ENABLE_VMFUNC, FEAT_VMX_VMFUNC, ALL),
  dep(FEAT_8000_0001_ECX, CPUID_EXT3_SVM, FEAT_SVM, ALL),
  dep(
    FEAT_7_0_ECX,
    CPUID_7_0_ECX_WAITPKG,
    FEAT_VMX_SECONDARY_CTLS,
    VMX_SECONDARY_EXEC_ENABLE_USER_WAIT_PAUSE,
  ),
  dep(FEAT_8000_0001_EDX, CPUID_EXT2_LM, FEAT_7_1_EAX, CPUID_7_1_EAX_FRED),
  dep(FEAT_7_1_EAX, CPUID_7_1_EAX_LKGS, FEAT_7_1_EAX, CPUID_7_1_EAX_FRED),
  dep(FEAT_7_1_EAX, CPUID_7_1_EAX_WRMSRNS, FEAT_7_1_EAX, CPUID_7_1_EAX_FRED),
  dep(FEAT_7_0_EBX, CPUID_7_0_EBX_SGX, FEAT_7_0_ECX, CPUID_7_0_ECX_SGX_LC),
  dep(FEAT_7_0_EBX, CPUID_7_0_EBX_SGX, FEAT_SGX_12_0_EAX, ALL),
  dep(FEAT_7_0_EBX, CPUID_7_0_EBX_SGX, FEAT_SGX_12_0_EBX, ALL),
  dep(FEAT_7_0_EBX, CPUID_7_0_EBX_SGX, FEAT_SGX_12_1_EAX, ALL),
  dep(FEAT_24_0_EBX, CPUID_24_0_EBX_AVX10_128, FEAT_24_0_EBX, CPUID_24_0_EBX_AVX10_256),
  dep(FEAT_24_0_EBX, CPUID_24_0_EBX_AVX10_256, FEAT_24_0_EBX, CPUID_24_0_EBX_AVX10_512),
  dep(
    FEAT_24_0_EBX,
    CPUID_24_0_EBX_AVX10_128 | CPUID_24_0_EBX_AVX10_256 | CPUID_24_0_EBX_AVX10_512,
    FEAT_7_1_EDX,
    CPUID_7_1_EDX_AVX10,
  ),
  dep(FEAT_7_1_EDX, CPUID_7_1_EDX_AVX10, FEAT_24_0_EBX, ALL),
];

// ---------------------------------------------------------------------------
// XSAVE state components (x86_ext_save_areas): which feature enables each, and its place
// in the standard (non-compacted) XSAVE layout (SDM vol. 1 §13.4).

export interface ExtSaveArea {
  readonly feature: FeatureWord;
  readonly bits: bigint;
  /** Offset in the standard format (0 for the legacy region and supervisor components). */
  readonly offset: number;
  readonly size: number;
}

/** The legacy region (512 bytes) plus the XSAVE header (64 bytes). */
export const XSAVE_LEGACY_AND_HEADER_SIZE = 512 + 64;

export const X86_EXT_SAVE_AREAS: readonly (ExtSaveArea | null)[] = (() => {
  const areas: (ExtSaveArea | null)[] = new Array(XSAVE_STATE_AREA_COUNT).fill(null);
  const area = (i: number, feature: FeatureWord, bits: bigint, offset: number, size: number) => {
    areas[i] = { feature, bits, offset, size };
  };
  area(XSTATE_FP_BIT, FEAT_1_ECX, CPUID_EXT_XSAVE, 0, XSAVE_LEGACY_AND_HEADER_SIZE);
  area(XSTATE_SSE_BIT, FEAT_1_ECX, CPUID_EXT_XSAVE, 0, XSAVE_LEGACY_AND_HEADER_SIZE);
  area(XSTATE_YMM_BIT, FEAT_1_ECX, CPUID_EXT_AVX, 0x240, 0x100);
  area(XSTATE_BNDREGS_BIT, FEAT_7_0_EBX, CPUID_7_0_EBX_MPX, 0x3c0, 0x40);
  area(XSTATE_BNDCSR_BIT, FEAT_7_0_EBX, CPUID_7_0_EBX_MPX, 0x400, 0x40);
  area(XSTATE_OPMASK_BIT, FEAT_7_0_EBX, CPUID_7_0_EBX_AVX512F, 0x440, 0x40);
  area(XSTATE_ZMM_HI256_BIT, FEAT_7_0_EBX, CPUID_7_0_EBX_AVX512F, 0x480, 0x200);
  area(XSTATE_HI16_ZMM_BIT, FEAT_7_0_EBX, CPUID_7_0_EBX_AVX512F, 0x680, 0x400);
  area(XSTATE_PKRU_BIT, FEAT_7_0_ECX, CPUID_7_0_ECX_PKU, 0xa80, 0x8);
  area(XSTATE_ARCH_LBR_BIT, FEAT_7_0_EDX, CPUID_7_0_EDX_ARCH_LBR, 0, 0x328);
  area(XSTATE_XTILE_CFG_BIT, FEAT_7_0_EDX, CPUID_7_0_EDX_AMX_TILE, 0xac0, 0x40);
  area(XSTATE_XTILE_DATA_BIT, FEAT_7_0_EDX, CPUID_7_0_EDX_AMX_TILE, 0xb00, 0x2000);
  return areas;
})();

// ---------------------------------------------------------------------------
// Caches (CPUCacheInfo) and the CPUID 2 descriptor table

export type CacheType = "data" | "instruction" | "unified";

export interface CPUCacheInfo {
  readonly type: CacheType;
  readonly level: number;
  readonly size: number;
  readonly lineSize: number;
  readonly associativity: number;
  readonly partitions: number;
  readonly sets: number;
  readonly linesPerTag: number;
  readonly selfInit: boolean;
  readonly noInvdSharing: boolean;
  readonly inclusive: boolean;
  readonly complexIndexing: boolean;
  /** The topology level whose threads share this cache (CPU_TOPOLOGY_LEVEL_*). */
  readonly shareLevel: number;
}

export interface CPUCaches {
  readonly l1dCache: CPUCacheInfo;
  readonly l1iCache: CPUCacheInfo;
  readonly l2Cache: CPUCacheInfo;
  readonly l3Cache: CPUCacheInfo;
}

const KiB = 1024;
const MiB = 1024 * 1024;
const LEVEL_CORE = 1;
const LEVEL_DIE = 4;
const LEVEL_INVALID = -1;

function cache(c: Partial<CPUCacheInfo> & Pick<CPUCacheInfo, "type" | "level" | "size">) {
  return {
    lineSize: 64,
    associativity: 0,
    partitions: 0,
    sets: 0,
    linesPerTag: 0,
    selfInit: false,
    noInvdSharing: false,
    inclusive: false,
    complexIndexing: false,
    shareLevel: LEVEL_CORE,
    ...c,
  } satisfies CPUCacheInfo;
}

/** The caches of CPU models without their own table (legacy-cache=on). */
export const LEGACY_L1D_CACHE = cache({
  type: "data",
  level: 1,
  size: 32 * KiB,
  selfInit: true,
  associativity: 8,
  sets: 64,
  partitions: 1,
  noInvdSharing: true,
});
export const LEGACY_L1D_CACHE_AMD = cache({
  type: "data",
  level: 1,
  size: 64 * KiB,
  selfInit: true,
  associativity: 2,
  sets: 512,
  partitions: 1,
  linesPerTag: 1,
  noInvdSharing: true,
});
export const LEGACY_L1I_CACHE = cache({ ...LEGACY_L1D_CACHE, type: "instruction" });
export const LEGACY_L1I_CACHE_AMD = cache({ ...LEGACY_L1D_CACHE_AMD, type: "instruction" });
export const LEGACY_L2_CACHE = cache({
  type: "unified",
  level: 2,
  size: 4 * MiB,
  selfInit: true,
  associativity: 16,
  sets: 4096,
  partitions: 1,
  noInvdSharing: true,
});
/** What CPUID 2 describes (inconsistent with leaf 4's L2, as in QEMU). */
export const LEGACY_L2_CACHE_CPUID2 = cache({
  type: "unified",
  level: 2,
  size: 2 * MiB,
  associativity: 8,
  shareLevel: LEVEL_INVALID,
});
export const LEGACY_L2_CACHE_AMD = cache({
  type: "unified",
  level: 2,
  size: 512 * KiB,
  linesPerTag: 1,
  associativity: 16,
  sets: 512,
  partitions: 1,
});
export const LEGACY_L3_CACHE = cache({
  type: "unified",
  level: 3,
  size: 16 * MiB,
  associativity: 16,
  sets: 16384,
  partitions: 1,
  linesPerTag: 1,
  selfInit: true,
  inclusive: true,
  complexIndexing: true,
  shareLevel: LEVEL_DIE,
});

/** The cache table of EPYC-v1…v3 (`epyc_cache_info`). */
export const EPYC_CACHE_INFO: CPUCaches = {
  l1dCache: cache({
    type: "data",
    level: 1,
    size: 32 * KiB,
    associativity: 8,
    partitions: 1,
    sets: 64,
    linesPerTag: 1,
    selfInit: true,
    noInvdSharing: true,
  }),
  l1iCache: cache({
    type: "instruction",
    level: 1,
    size: 64 * KiB,
    associativity: 4,
    partitions: 1,
    sets: 256,
    linesPerTag: 1,
    selfInit: true,
    noInvdSharing: true,
  }),
  l2Cache: cache({
    type: "unified",
    level: 2,
    size: 512 * KiB,
    associativity: 8,
    partitions: 1,
    sets: 1024,
    linesPerTag: 1,
  }),
  l3Cache: cache({
    type: "unified",
    level: 3,
    size: 8 * MiB,
    associativity: 16,
    partitions: 1,
    sets: 8192,
    linesPerTag: 1,
    selfInit: true,
    inclusive: true,
    complexIndexing: true,
    shareLevel: LEVEL_DIE,
  }),
};

/** EPYC-v4 (`epyc_v4_cache_info`): the L3 without complex indexing. */
export const EPYC_V4_CACHE_INFO: CPUCaches = {
  ...EPYC_CACHE_INFO,
  l3Cache: { ...EPYC_CACHE_INFO.l3Cache, complexIndexing: false },
};

/**
 * The CPUID leaf 2 descriptors QEMU can express (SDM vol. 2A, CPUID, table "Encoding of
 * CPUID Leaf 2 Descriptors"): descriptor → [level, type, size, associativity, line size].
 */
export const CPUID2_CACHE_DESCRIPTORS: ReadonlyMap<
  number,
  readonly [number, CacheType, number, number, number]
> = new Map([
  [0x06, [1, "instruction", 8 * KiB, 4, 32]],
  [0x08, [1, "instruction", 16 * KiB, 4, 32]],
  [0x09, [1, "instruction", 32 * KiB, 4, 64]],
  [0x0a, [1, "data", 8 * KiB, 2, 32]],
  [0x0c, [1, "data", 16 * KiB, 4, 32]],
  [0x0d, [1, "data", 16 * KiB, 4, 64]],
  [0x0e, [1, "data", 24 * KiB, 6, 64]],
  [0x1d, [2, "unified", 128 * KiB, 2, 64]],
  [0x21, [2, "unified", 256 * KiB, 8, 64]],
  [0x24, [2, "unified", 1 * MiB, 16, 64]],
  [0x2c, [1, "data", 32 * KiB, 8, 64]],
  [0x30, [1, "instruction", 32 * KiB, 8, 64]],
  [0x41, [2, "unified", 128 * KiB, 4, 32]],
  [0x42, [2, "unified", 256 * KiB, 4, 32]],
  [0x43, [2, "unified", 512 * KiB, 4, 32]],
  [0x44, [2, "unified", 1 * MiB, 4, 32]],
  [0x45, [2, "unified", 2 * MiB, 4, 32]],
  [0x46, [3, "unified", 4 * MiB, 4, 64]],
  [0x47, [3, "unified", 8 * MiB, 8, 64]],
  [0x48, [2, "unified", 3 * MiB, 12, 64]],
  [0x4a, [3, "unified", 6 * MiB, 12, 64]],
  [0x4b, [3, "unified", 8 * MiB, 16, 64]],
  [0x4c, [3, "unified", 12 * MiB, 12, 64]],
  [0x4d, [3, "unified", 16 * MiB, 16, 64]],
  [0x4e, [2, "unified", 6 * MiB, 24, 64]],
  [0x60, [1, "data", 16 * KiB, 8, 64]],
  [0x66, [1, "data", 8 * KiB, 4, 64]],
  [0x67, [1, "data", 16 * KiB, 4, 64]],
  [0x68, [1, "data", 32 * KiB, 4, 64]],
  [0x78, [2, "unified", 1 * MiB, 4, 64]],
  [0x7d, [2, "unified", 2 * MiB, 8, 64]],
  [0x7f, [2, "unified", 512 * KiB, 2, 64]],
  [0x80, [2, "unified", 512 * KiB, 8, 64]],
  [0x82, [2, "unified", 256 * KiB, 8, 32]],
  [0x83, [2, "unified", 512 * KiB, 8, 32]],
  [0x84, [2, "unified", 1 * MiB, 8, 32]],
  [0x85, [2, "unified", 2 * MiB, 8, 32]],
  [0x86, [2, "unified", 512 * KiB, 4, 64]],
  [0x87, [2, "unified", 1 * MiB, 8, 64]],
  [0xd0, [3, "unified", 512 * KiB, 4, 64]],
  [0xd1, [3, "unified", 1 * MiB, 4, 64]],
  [0xd2, [3, "unified", 2 * MiB, 4, 64]],
  [0xd6, [3, "unified", 1 * MiB, 8, 64]],
  [0xd7, [3, "unified", 2 * MiB, 8, 64]],
  [0xd8, [3, "unified", 4 * MiB, 8, 64]],
  [0xdc, [3, "unified", 1.5 * MiB, 12, 64]],
  [0xdd, [3, "unified", 3 * MiB, 12, 64]],
  [0xde, [3, "unified", 6 * MiB, 12, 64]],
  [0xe2, [3, "unified", 2 * MiB, 16, 64]],
  [0xe3, [3, "unified", 4 * MiB, 16, 64]],
  [0xe4, [3, "unified", 8 * MiB, 16, 64]],
  [0xea, [3, "unified", 12 * MiB, 24, 64]],
  [0xeb, [3, "unified", 18 * MiB, 24, 64]],
  [0xec, [3, "unified", 24 * MiB, 24, 64]],
]);

/** "No descriptor: use CPUID leaf 4" (CACHE_DESCRIPTOR_UNAVAILABLE). */
export const CACHE_DESCRIPTOR_UNAVAILABLE = 0xff;

/** `cpuid2_cache_descriptor`: the leaf-2 byte describing `c`, or 0xFF. */
export function cpuid2CacheDescriptor(c: CPUCacheInfo): number {
  for (const [d, [level, type, size, assoc, line]] of CPUID2_CACHE_DESCRIPTORS) {
    if (
      level === c.level &&
      type === c.type &&
      size === c.size &&
      line === c.lineSize &&
      assoc === c.associativity
    ) {
      return d;
    }
  }
  return CACHE_DESCRIPTOR_UNAVAILABLE;
}
