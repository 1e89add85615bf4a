import { describe, expect, it } from "vitest";
import {
  APIC_ACCESS_ADDR,
  CPU_BASED_ACTIVATE_SECONDARY_CONTROLS,
  CPU_BASED_ACTIVATE_TERTIARY_CONTROLS,
  CPU_BASED_HLT_EXITING,
  CPU_BASED_MONITOR_TRAP_FLAG,
  CPU_BASED_NMI_WINDOW_EXITING,
  CPU_BASED_TPR_SHADOW,
  CPU_BASED_USE_IO_BITMAPS,
  CPU_BASED_USE_MSR_BITMAPS,
  CPU_BASED_VM_EXEC_CONTROL,
  CR3_TARGET_COUNT,
  EPT_POINTER,
  GUEST_ACTIVITY_STATE,
  GUEST_CR0,
  GUEST_CR3,
  GUEST_CR4,
  GUEST_CS_AR_BYTES,
  GUEST_CS_BASE,
  GUEST_CS_LIMIT,
  GUEST_CS_SELECTOR,
  GUEST_DR7,
  GUEST_DS_AR_BYTES,
  GUEST_DS_BASE,
  GUEST_DS_LIMIT,
  GUEST_DS_SELECTOR,
  GUEST_ES_AR_BYTES,
  GUEST_ES_BASE,
  GUEST_ES_LIMIT,
  GUEST_ES_SELECTOR,
  GUEST_FS_AR_BYTES,
  GUEST_FS_BASE,
  GUEST_FS_LIMIT,
  GUEST_FS_SELECTOR,
  GUEST_GDTR_BASE,
  GUEST_GDTR_LIMIT,
  GUEST_GS_AR_BYTES,
  GUEST_GS_BASE,
  GUEST_GS_LIMIT,
  GUEST_GS_SELECTOR,
  GUEST_IA32_DEBUGCTL,
  GUEST_IA32_EFER,
  GUEST_IA32_PAT,
  GUEST_IDTR_BASE,
  GUEST_IDTR_LIMIT,
  GUEST_INTERRUPTIBILITY_INFO,
  GUEST_LDTR_AR_BYTES,
  GUEST_LDTR_BASE,
  GUEST_LDTR_LIMIT,
  GUEST_LDTR_SELECTOR,
  GUEST_PDPTR2,
  GUEST_PENDING_DBG_EXCEPTIONS,
  GUEST_RFLAGS,
  GUEST_RIP,
  GUEST_RSP,
  GUEST_SS_AR_BYTES,
  GUEST_SS_BASE,
  GUEST_SS_LIMIT,
  GUEST_SS_SELECTOR,
  GUEST_SYSENTER_EIP,
  GUEST_SYSENTER_ESP,
  GUEST_TR_AR_BYTES,
  GUEST_TR_BASE,
  GUEST_TR_LIMIT,
  GUEST_TR_SELECTOR,
  HOST_CR0,
  HOST_CR3,
  HOST_CR4,
  HOST_CS_SELECTOR,
  HOST_DS_SELECTOR,
  HOST_ES_SELECTOR,
  HOST_FS_BASE,
  HOST_FS_SELECTOR,
  HOST_GDTR_BASE,
  HOST_GS_BASE,
  HOST_GS_SELECTOR,
  HOST_IA32_EFER,
  HOST_IA32_PAT,
  HOST_IA32_SYSENTER_EIP,
  HOST_IA32_SYSENTER_ESP,
  HOST_IDTR_BASE,
  HOST_RIP,
  HOST_RSP,
  HOST_SS_SELECTOR,
  HOST_TR_BASE,
  HOST_TR_SELECTOR,
  IO_BITMAP_A,
  IO_BITMAP_B,
  MSR_BITMAP,
  PIN_BASED_EXT_INTR_MASK,
  PIN_BASED_NMI_EXITING,
  PIN_BASED_POSTED_INTR,
  PIN_BASED_VIRTUAL_NMIS,
  PIN_BASED_VM_EXEC_CONTROL,
  PML_ADDRESS,
  POSTED_INTR_DESC_ADDR,
  POSTED_INTR_NV,
  SECONDARY_EXEC_ENABLE_EPT,
  SECONDARY_EXEC_ENABLE_PML,
  SECONDARY_EXEC_ENABLE_VPID,
  SECONDARY_EXEC_MODE_BASED_EPT_EXEC,
  SECONDARY_EXEC_UNRESTRICTED_GUEST,
  SECONDARY_EXEC_VIRTUAL_INTR_DELIVERY,
  SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES,
  SECONDARY_EXEC_VIRTUALIZE_X2APIC_MODE,
  SECONDARY_VM_EXEC_CONTROL,
  TERTIARY_VM_EXEC_CONTROL,
  TPR_THRESHOLD,
  VIRTUAL_APIC_PAGE_ADDR,
  VIRTUAL_PROCESSOR_ID,
  VM_ENTRY_CONTROLS,
  VM_ENTRY_EXCEPTION_ERROR_CODE,
  VM_ENTRY_IA32E_MODE,
  VM_ENTRY_INSTRUCTION_LEN,
  VM_ENTRY_INTR_INFO_FIELD,
  VM_ENTRY_LOAD_IA32_EFER,
  VM_ENTRY_LOAD_IA32_PAT,
  VM_ENTRY_LOAD_IA32_PERF_GLOBAL_CTRL,
  VM_ENTRY_MSR_LOAD_ADDR,
  VM_ENTRY_MSR_LOAD_COUNT,
  VM_ENTRY_SMM,
  VM_EXIT_ACK_INTR_ON_EXIT,
  VM_EXIT_CONTROLS,
  VM_EXIT_HOST_ADDR_SPACE_SIZE,
  VM_EXIT_LOAD_IA32_EFER,
  VM_EXIT_LOAD_IA32_PAT,
  VM_EXIT_LOAD_IA32_PERF_GLOBAL_CTRL,
  VM_EXIT_MSR_LOAD_ADDR,
  VM_EXIT_MSR_LOAD_COUNT,
  VM_EXIT_MSR_STORE_ADDR,
  VM_EXIT_MSR_STORE_COUNT,
  VM_EXIT_SAVE_IA32_EFER,
  VM_EXIT_SAVE_IA32_PAT,
  VM_EXIT_SAVE_VMX_PREEMPTION_TIMER,
  VMCS_LINK_POINTER,
} from "../asm/vmx.js";
import { VMCS_FIELDS } from "../vmcs-fields.js";
import {
  checkGuestState,
  checkHostState,
  checkVmxControls,
  VM_ENTRY_RULES,
  type VmcsReader,
  type VmEntryContext,
  type VmEntryFailure,
  vmEntryChecks,
} from "./vmentry_checks.js";
import {
  CPU_BASED_ALWAYSON_WITHOUT_TRUE_MSR,
  PIN_BASED_ALWAYSON_WITHOUT_TRUE_MSR,
  VM_ENTRY_ALWAYSON_WITHOUT_TRUE_MSR,
  VM_EXIT_ALWAYSON_WITHOUT_TRUE_MSR,
  type VmxCapabilities,
  vmxCapabilities,
} from "./vmx_caps.js";

// ---------------------------------------------------------------------------------------
// The part, and contexts derived from it
// ---------------------------------------------------------------------------------------

const maxIndex = VMCS_FIELDS.reduce((m, f) => Math.max(m, (f.encoding >> 1) & 0x1ff), 0);
const caps = vmxCapabilities(maxIndex);
const ctx: VmEntryContext = { caps, hostLongMode: true, physAddrBits: 36 };
/** The same processor outside IA-32e mode (a 32-bit host kernel). */
const ctx32: VmEntryContext = { ...ctx, hostLongMode: false };

/** `caps` with some capability MSRs changed: the allowed-1 half OR-ed, or whole values replaced. */
function capsWith(
  may1: Readonly<Record<number, number>>,
  replace: Readonly<Record<number, bigint>> = {},
): VmxCapabilities {
  const msrs = new Map(caps.msrs);
  for (const [k, bits] of Object.entries(may1)) {
    const index = Number(k);
    msrs.set(index, (msrs.get(index) ?? 0n) | (BigInt(bits >>> 0) << 32n));
  }
  for (const [k, v] of Object.entries(replace)) msrs.set(Number(k), v);
  return { ...caps, msrs };
}

/**
 * A hypothetical richer part — TPR shadow, MTF, tertiary controls, posted interrupts,
 * APIC virtualization, PML, mode-based execute, SMM entry controls — so the consistency
 * rules the real part's allowed-settings checks would pre-empt can be reached.
 */
const richCtx: VmEntryContext = {
  ...ctx,
  caps: capsWith({
    1165: PIN_BASED_POSTED_INTR,
    1166: CPU_BASED_TPR_SHADOW | CPU_BASED_MONITOR_TRAP_FLAG | CPU_BASED_ACTIVATE_TERTIARY_CONTROLS,
    1163:
      SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES |
      SECONDARY_EXEC_VIRTUALIZE_X2APIC_MODE |
      SECONDARY_EXEC_VIRTUAL_INTR_DELIVERY |
      SECONDARY_EXEC_ENABLE_PML |
      SECONDARY_EXEC_MODE_BASED_EPT_EXEC,
    1168: VM_ENTRY_SMM,
  }),
};
/** IA32_VMX_MISC without the HLT activity state (bit 6). */
const noHltCtx: VmEntryContext = {
  ...ctx,
  caps: capsWith({}, { 1157: (caps.msrs.get(0x485) ?? 0n) & ~0x40n }),
};
/** IA32_VMX_MISC[30]: zero-length software-event injection allowed. */
const zeroLenCtx: VmEntryContext = {
  ...ctx,
  caps: capsWith({}, { 1157: (caps.msrs.get(0x485) ?? 0n) | (1n << 30n) }),
};

// ---------------------------------------------------------------------------------------
// Baseline VMCSs
// ---------------------------------------------------------------------------------------

type Fields = ReadonlyMap<number, bigint>;
type Value = bigint | number;

function fields(entries: ReadonlyArray<readonly [number, Value]>): Fields {
  return new Map(entries.map(([e, v]) => [e, typeof v === "bigint" ? v : BigInt(v >>> 0)]));
}

function reader(m: Fields): VmcsReader {
  return { read: (e) => m.get(e) ?? 0n };
}

/** The same fields with the 32-bit half accessors the processor's own reader has. */
function halvesReader(m: Fields): VmcsReader {
  const read = (e: number) => m.get(e) ?? 0n;
  return {
    read,
    read32: (e) => Number(BigInt.asUintN(32, read(e))),
    readHigh32: (e) => Number(BigInt.asUintN(64, read(e)) >> 32n),
  };
}

const TRUE_PIN = PIN_BASED_ALWAYSON_WITHOUT_TRUE_MSR;
/** Primary default1 bits minus CR3-load/store exiting, which the TRUE MSR lets us clear. */
const TRUE_PROC = CPU_BASED_ALWAYSON_WITHOUT_TRUE_MSR & ~0x18000;
const PAT = 0x0007_0406_0007_0406n;
const EFER_LONG = 0xd01n; // SCE | LME | LMA | NXE
const EPTP = 0x20000n | 0x18n | 6n; // WB, 4-level
const NONE = 0xffff_ffff_ffff_ffffn;

/** Controls and host state shared by all baselines: a 64-bit Linux-like host. */
const hostAndCommon: ReadonlyArray<readonly [number, Value]> = [
  [
    VM_EXIT_CONTROLS,
    VM_EXIT_ALWAYSON_WITHOUT_TRUE_MSR |
      VM_EXIT_HOST_ADDR_SPACE_SIZE |
      VM_EXIT_ACK_INTR_ON_EXIT |
      VM_EXIT_SAVE_IA32_PAT |
      VM_EXIT_LOAD_IA32_PAT |
      VM_EXIT_SAVE_IA32_EFER |
      VM_EXIT_LOAD_IA32_EFER,
  ],
  [HOST_CR0, 0x8005_0033],
  [HOST_CR3, 0x10_0000],
  [HOST_CR4, 0x0005_26a0],
  [HOST_ES_SELECTOR, 0],
  [HOST_CS_SELECTOR, 0x10],
  [HOST_SS_SELECTOR, 0x18],
  [HOST_DS_SELECTOR, 0],
  [HOST_FS_SELECTOR, 0],
  [HOST_GS_SELECTOR, 0],
  [HOST_TR_SELECTOR, 0x40],
  [HOST_FS_BASE, 0n],
  [HOST_GS_BASE, 0xffff_8880_0000_0000n],
  [HOST_TR_BASE, 0xffff_fe00_0000_3000n],
  [HOST_GDTR_BASE, 0xffff_fe00_0000_1000n],
  [HOST_IDTR_BASE, 0xffff_fe00_0000_0000n],
  [HOST_IA32_SYSENTER_ESP, 0n],
  [HOST_IA32_SYSENTER_EIP, 0n],
  [HOST_RSP, 0xffff_c900_0000_4000n],
  [HOST_RIP, 0xffff_ffff_8100_0000n],
  [HOST_IA32_PAT, PAT],
  [HOST_IA32_EFER, EFER_LONG],
  [VMCS_LINK_POINTER, NONE],
];

/** (a) 64-bit host, 64-bit long-mode guest with EPT, VPID, I/O and MSR bitmaps. */
const LONG64 = fields([
  ...hostAndCommon,
  [PIN_BASED_VM_EXEC_CONTROL, TRUE_PIN | PIN_BASED_EXT_INTR_MASK | PIN_BASED_NMI_EXITING],
  [
    CPU_BASED_VM_EXEC_CONTROL,
    TRUE_PROC |
      CPU_BASED_HLT_EXITING |
      CPU_BASED_USE_IO_BITMAPS |
      CPU_BASED_USE_MSR_BITMAPS |
      CPU_BASED_ACTIVATE_SECONDARY_CONTROLS,
  ],
  [SECONDARY_VM_EXEC_CONTROL, SECONDARY_EXEC_ENABLE_EPT | SECONDARY_EXEC_ENABLE_VPID],
  [
    VM_ENTRY_CONTROLS,
    VM_ENTRY_ALWAYSON_WITHOUT_TRUE_MSR |
      VM_ENTRY_IA32E_MODE |
      VM_ENTRY_LOAD_IA32_PAT |
      VM_ENTRY_LOAD_IA32_EFER,
  ],
  [IO_BITMAP_A, 0x1_0000],
  [IO_BITMAP_B, 0x1_1000],
  [MSR_BITMAP, 0x1_2000],
  [EPT_POINTER, EPTP],
  [VIRTUAL_PROCESSOR_ID, 1],
  [GUEST_CR0, 0x8005_0033],
  [GUEST_CR3, 0x20_0000],
  [GUEST_CR4, 0x20a0],
  [GUEST_DR7, 0x400],
  [GUEST_IA32_PAT, PAT],
  [GUEST_IA32_EFER, EFER_LONG],
  [GUEST_CS_SELECTOR, 0x10],
  [GUEST_CS_LIMIT, 0xffff_ffff],
  [GUEST_CS_AR_BYTES, 0xa09b],
  [GUEST_SS_SELECTOR, 0x18],
  [GUEST_SS_LIMIT, 0xffff_ffff],
  [GUEST_SS_AR_BYTES, 0xc093],
  [GUEST_DS_SELECTOR, 0x18],
  [GUEST_DS_LIMIT, 0xffff_ffff],
  [GUEST_DS_AR_BYTES, 0xc093],
  [GUEST_ES_SELECTOR, 0x18],
  [GUEST_ES_LIMIT, 0xffff_ffff],
  [GUEST_ES_AR_BYTES, 0xc093],
  [GUEST_FS_AR_BYTES, 0x1_0000],
  [GUEST_GS_AR_BYTES, 0x1_0000],
  [GUEST_GS_BASE, 0xffff_8880_0000_1000n],
  [GUEST_LDTR_AR_BYTES, 0x1_0000],
  [GUEST_TR_SELECTOR, 0x40],
  [GUEST_TR_BASE, 0xffff_fe00_0000_3000n],
  [GUEST_TR_LIMIT, 0x67],
  [GUEST_TR_AR_BYTES, 0x8b],
  [GUEST_GDTR_BASE, 0xffff_fe00_0000_1000n],
  [GUEST_GDTR_LIMIT, 0x7f],
  [GUEST_IDTR_BASE, 0xffff_fe00_0000_0000n],
  [GUEST_IDTR_LIMIT, 0xfff],
  [GUEST_RSP, 0xffff_c900_0000_8000n],
  [GUEST_RIP, 0xffff_ffff_8100_0000n],
  [GUEST_RFLAGS, 0x2],
]);

/** (b) A flat 32-bit protected-mode guest with PAE paging, no secondary controls. */
const PROT32 = fields([
  ...hostAndCommon,
  [PIN_BASED_VM_EXEC_CONTROL, TRUE_PIN | PIN_BASED_EXT_INTR_MASK | PIN_BASED_NMI_EXITING],
  [CPU_BASED_VM_EXEC_CONTROL, TRUE_PROC | CPU_BASED_HLT_EXITING],
  [
    VM_ENTRY_CONTROLS,
    VM_ENTRY_ALWAYSON_WITHOUT_TRUE_MSR | VM_ENTRY_LOAD_IA32_PAT | VM_ENTRY_LOAD_IA32_EFER,
  ],
  [GUEST_CR0, 0x8000_0031],
  [GUEST_CR3, 0x30_0000],
  [GUEST_CR4, 0x2020],
  [GUEST_DR7, 0x400],
  [GUEST_IA32_PAT, PAT],
  [GUEST_IA32_EFER, 0],
  ...[
    [GUEST_CS_SELECTOR, GUEST_CS_LIMIT, GUEST_CS_AR_BYTES, 0x08, 0xc09b],
    [GUEST_SS_SELECTOR, GUEST_SS_LIMIT, GUEST_SS_AR_BYTES, 0x10, 0xc093],
    [GUEST_DS_SELECTOR, GUEST_DS_LIMIT, GUEST_DS_AR_BYTES, 0x10, 0xc093],
    [GUEST_ES_SELECTOR, GUEST_ES_LIMIT, GUEST_ES_AR_BYTES, 0x10, 0xc093],
    [GUEST_FS_SELECTOR, GUEST_FS_LIMIT, GUEST_FS_AR_BYTES, 0x10, 0xc093],
    [GUEST_GS_SELECTOR, GUEST_GS_LIMIT, GUEST_GS_AR_BYTES, 0x10, 0xc093],
  ].flatMap(
    ([sel, limit, ar, s, a]) =>
      [
        [sel!, s!],
        [limit!, 0xffff_ffff],
        [ar!, a!],
      ] as const,
  ),
  [GUEST_LDTR_AR_BYTES, 0x1_0000],
  [GUEST_TR_SELECTOR, 0x28],
  [GUEST_TR_BASE, 0x5000],
  [GUEST_TR_LIMIT, 0x67],
  [GUEST_TR_AR_BYTES, 0x8b],
  [GUEST_GDTR_BASE, 0x1000],
  [GUEST_GDTR_LIMIT, 0x2f],
  [GUEST_IDTR_BASE, 0x2000],
  [GUEST_IDTR_LIMIT, 0x7ff],
  [GUEST_RSP, 0x9_0000],
  [GUEST_RIP, 0x10_0000],
  [GUEST_RFLAGS, 0x202],
]);

/** (c) A real-mode guest under unrestricted guest + EPT (the state after RESET). */
const REAL = fields([
  ...hostAndCommon,
  [PIN_BASED_VM_EXEC_CONTROL, TRUE_PIN | PIN_BASED_EXT_INTR_MASK | PIN_BASED_NMI_EXITING],
  [CPU_BASED_VM_EXEC_CONTROL, TRUE_PROC | CPU_BASED_ACTIVATE_SECONDARY_CONTROLS],
  [SECONDARY_VM_EXEC_CONTROL, SECONDARY_EXEC_ENABLE_EPT | SECONDARY_EXEC_UNRESTRICTED_GUEST],
  [EPT_POINTER, EPTP],
  [VM_ENTRY_CONTROLS, VM_ENTRY_ALWAYSON_WITHOUT_TRUE_MSR],
  [GUEST_CR0, 0x30],
  [GUEST_CR4, 0x2000],
  [GUEST_DR7, 0x400],
  [GUEST_CS_SELECTOR, 0xf000],
  [GUEST_CS_BASE, 0xf_0000],
  [GUEST_CS_LIMIT, 0xffff],
  [GUEST_CS_AR_BYTES, 0x9b],
  ...[GUEST_SS_LIMIT, GUEST_DS_LIMIT, GUEST_ES_LIMIT, GUEST_FS_LIMIT, GUEST_GS_LIMIT].map(
    (e) => [e, 0xffff] as const,
  ),
  ...[
    GUEST_SS_AR_BYTES,
    GUEST_DS_AR_BYTES,
    GUEST_ES_AR_BYTES,
    GUEST_FS_AR_BYTES,
    GUEST_GS_AR_BYTES,
  ].map((e) => [e, 0x93] as const),
  [GUEST_LDTR_LIMIT, 0xffff],
  [GUEST_LDTR_AR_BYTES, 0x82],
  [GUEST_TR_LIMIT, 0xffff],
  [GUEST_TR_AR_BYTES, 0x8b],
  [GUEST_GDTR_LIMIT, 0xffff],
  [GUEST_IDTR_LIMIT, 0x3ff],
  [GUEST_RIP, 0xfff0],
  [GUEST_RFLAGS, 0x2],
]);

/** (d) A virtual-8086 task under 32-bit paging. */
const V8086 = fields([
  ...hostAndCommon,
  [PIN_BASED_VM_EXEC_CONTROL, TRUE_PIN | PIN_BASED_EXT_INTR_MASK | PIN_BASED_NMI_EXITING],
  [CPU_BASED_VM_EXEC_CONTROL, TRUE_PROC],
  [VM_ENTRY_CONTROLS, VM_ENTRY_ALWAYSON_WITHOUT_TRUE_MSR],
  [GUEST_CR0, 0x8000_0031],
  [GUEST_CR3, 0x40_0000],
  [GUEST_CR4, 0x2001],
  [GUEST_DR7, 0x400],
  ...[
    [GUEST_CS_SELECTOR, GUEST_CS_BASE, GUEST_CS_LIMIT, GUEST_CS_AR_BYTES, 0x1000],
    [GUEST_SS_SELECTOR, GUEST_SS_BASE, GUEST_SS_LIMIT, GUEST_SS_AR_BYTES, 0x2000],
    [GUEST_DS_SELECTOR, GUEST_DS_BASE, GUEST_DS_LIMIT, GUEST_DS_AR_BYTES, 0x3000],
    [GUEST_ES_SELECTOR, GUEST_ES_BASE, GUEST_ES_LIMIT, GUEST_ES_AR_BYTES, 0x3000],
    [GUEST_FS_SELECTOR, GUEST_FS_BASE, GUEST_FS_LIMIT, GUEST_FS_AR_BYTES, 0],
    [GUEST_GS_SELECTOR, GUEST_GS_BASE, GUEST_GS_LIMIT, GUEST_GS_AR_BYTES, 0],
  ].flatMap(
    ([sel, base, limit, ar, s]) =>
      [
        [sel!, s!],
        [base!, s! * 16],
        [limit!, 0xffff],
        [ar!, 0xf3],
      ] as const,
  ),
  [GUEST_LDTR_AR_BYTES, 0x1_0000],
  [GUEST_TR_SELECTOR, 0x28],
  [GUEST_TR_BASE, 0x5000],
  [GUEST_TR_LIMIT, 0x2067],
  [GUEST_TR_AR_BYTES, 0x8b],
  [GUEST_GDTR_BASE, 0x1000],
  [GUEST_GDTR_LIMIT, 0x2f],
  [GUEST_IDTR_BASE, 0x2000],
  [GUEST_IDTR_LIMIT, 0x7ff],
  [GUEST_RIP, 0x100],
  [GUEST_RFLAGS, 0x2_0202],
]);

/** A field change: a new value, or a function of the old one. */
type Change = readonly [number, Value | ((old: bigint) => bigint)];

function mutate(base: Fields, changes: readonly Change[]): Fields {
  const m = new Map(base);
  for (const [enc, v] of changes) {
    const old = m.get(enc) ?? 0n;
    m.set(enc, typeof v === "function" ? v(old) : typeof v === "bigint" ? v : BigInt(v >>> 0));
  }
  return m;
}

const or = (bits: Value) => (old: bigint) => old | BigInt(bits);
const andNot = (bits: Value) => (old: bigint) => old & ~BigInt(bits);

/** The changes that turn a baseline's host into a 32-bit one (for ctx32). */
const HOST32: readonly Change[] = [
  [VM_EXIT_CONTROLS, andNot(VM_EXIT_HOST_ADDR_SPACE_SIZE | VM_EXIT_LOAD_IA32_EFER)],
  [HOST_RIP, 0xc100_0000],
  [HOST_GS_BASE, 0],
  [HOST_TR_BASE, 0x3000],
  [HOST_GDTR_BASE, 0x1000],
  [HOST_IDTR_BASE, 0x2000],
];

/** Valid TPR-shadow setup on the rich part (for rules that need it on). */
const TPR_ON: readonly Change[] = [
  [CPU_BASED_VM_EXEC_CONTROL, or(CPU_BASED_TPR_SHADOW)],
  [VIRTUAL_APIC_PAGE_ADDR, 0x1_3000],
];
/** Posted interrupts with everything they need except what each case breaks. */
const POSTED_ON: readonly Change[] = [
  ...TPR_ON,
  [SECONDARY_VM_EXEC_CONTROL, or(SECONDARY_EXEC_VIRTUAL_INTR_DELIVERY)],
  [PIN_BASED_VM_EXEC_CONTROL, or(PIN_BASED_POSTED_INTR)],
  [POSTED_INTR_NV, 0xf2],
  [POSTED_INTR_DESC_ADDR, 0x1_4040],
];

// ---------------------------------------------------------------------------------------
// Failing cases: one or more per rule
// ---------------------------------------------------------------------------------------

interface Case {
  readonly rule: string;
  readonly what: string;
  readonly base: Fields;
  readonly set: readonly Change[];
  readonly ctx?: VmEntryContext;
  readonly pdpte?: (i: number) => bigint | undefined;
  /** The field the failure must name (default: the first changed field's name is not assumed). */
  readonly field?: string;
  readonly qualification?: number;
}

const NC = 0x0000_8000_0000_0000n; // the first non-canonical address above the lower half

const CASES: readonly Case[] = [
  // 27.2.1.1
  {
    rule: "pin-based-allowed-settings",
    what: "a default1 bit cleared",
    base: LONG64,
    set: [[PIN_BASED_VM_EXEC_CONTROL, andNot(0x2)]],
    field: "PIN_BASED_VM_EXEC_CONTROL",
  },
  {
    rule: "pin-based-allowed-settings",
    what: "posted interrupts, which the part lacks",
    base: LONG64,
    set: [[PIN_BASED_VM_EXEC_CONTROL, or(PIN_BASED_POSTED_INTR)]],
  },
  {
    rule: "primary-proc-based-allowed-settings",
    what: "the TPR shadow",
    base: LONG64,
    set: [[CPU_BASED_VM_EXEC_CONTROL, or(CPU_BASED_TPR_SHADOW)]],
    field: "CPU_BASED_VM_EXEC_CONTROL",
  },
  {
    rule: "secondary-proc-based-allowed-settings",
    what: "virtualize APIC accesses",
    base: LONG64,
    set: [[SECONDARY_VM_EXEC_CONTROL, or(SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES)]],
    field: "SECONDARY_VM_EXEC_CONTROL",
  },
  {
    rule: "tertiary-proc-based-allowed-settings",
    what: "a tertiary control without IA32_VMX_PROCBASED_CTLS3",
    base: LONG64,
    ctx: richCtx,
    set: [
      [CPU_BASED_VM_EXEC_CONTROL, or(CPU_BASED_ACTIVATE_TERTIARY_CONTROLS)],
      [TERTIARY_VM_EXEC_CONTROL, 1],
    ],
    field: "TERTIARY_VM_EXEC_CONTROL",
  },
  { rule: "cr3-target-count", what: "5 targets", base: LONG64, set: [[CR3_TARGET_COUNT, 5]] },
  {
    rule: "io-bitmap-address",
    what: "bitmap B not page-aligned",
    base: LONG64,
    set: [[IO_BITMAP_B, 0x1_1001]],
    field: "IO_BITMAP_B",
  },
  {
    rule: "io-bitmap-address",
    what: "bitmap A beyond MAXPHYADDR",
    base: LONG64,
    set: [[IO_BITMAP_A, 1n << 36n]],
    field: "IO_BITMAP_A",
  },
  {
    rule: "msr-bitmap-address",
    what: "not page-aligned",
    base: LONG64,
    set: [[MSR_BITMAP, 0x1_2800]],
    field: "MSR_BITMAP",
  },
  {
    rule: "virtual-apic-page-address",
    what: "not page-aligned",
    base: LONG64,
    ctx: richCtx,
    set: [...TPR_ON, [VIRTUAL_APIC_PAGE_ADDR, 0x1_3080]],
    field: "VIRTUAL_APIC_PAGE_ADDR",
  },
  {
    rule: "tpr-threshold-reserved-bits",
    what: "threshold 0x10",
    base: LONG64,
    ctx: richCtx,
    set: [...TPR_ON, [TPR_THRESHOLD, 0x10]],
    field: "TPR_THRESHOLD",
  },
  {
    rule: "apic-virtualization-requires-tpr-shadow",
    what: "virtualize x2APIC mode without TPR shadow",
    base: LONG64,
    ctx: richCtx,
    set: [[SECONDARY_VM_EXEC_CONTROL, or(SECONDARY_EXEC_VIRTUALIZE_X2APIC_MODE)]],
    field: "SECONDARY_VM_EXEC_CONTROL",
  },
  {
    rule: "x2apic-excludes-apic-accesses",
    what: "both APIC modes",
    base: LONG64,
    ctx: richCtx,
    set: [
      ...TPR_ON,
      [APIC_ACCESS_ADDR, 0xfee0_0000],
      [
        SECONDARY_VM_EXEC_CONTROL,
        or(SECONDARY_EXEC_VIRTUALIZE_X2APIC_MODE | SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES),
      ],
    ],
  },
  {
    rule: "virtual-interrupt-delivery-requires-ext-int-exiting",
    what: "no external-interrupt exiting",
    base: LONG64,
    ctx: richCtx,
    set: [
      ...TPR_ON,
      [SECONDARY_VM_EXEC_CONTROL, or(SECONDARY_EXEC_VIRTUAL_INTR_DELIVERY)],
      [PIN_BASED_VM_EXEC_CONTROL, andNot(PIN_BASED_EXT_INTR_MASK)],
    ],
    field: "PIN_BASED_VM_EXEC_CONTROL",
  },
  {
    rule: "posted-interrupts-requirements",
    what: "no virtual-interrupt delivery",
    base: LONG64,
    ctx: richCtx,
    set: [[PIN_BASED_VM_EXEC_CONTROL, or(PIN_BASED_POSTED_INTR)]],
  },
  {
    rule: "posted-interrupts-requirements",
    what: "no acknowledge-on-exit",
    base: LONG64,
    ctx: richCtx,
    set: [...POSTED_ON, [VM_EXIT_CONTROLS, andNot(VM_EXIT_ACK_INTR_ON_EXIT)]],
  },
  {
    rule: "posted-interrupt-notification-vector",
    what: "vector 0x1f2",
    base: LONG64,
    ctx: richCtx,
    set: [...POSTED_ON, [POSTED_INTR_NV, 0x1f2]],
    field: "POSTED_INTR_NV",
  },
  {
    rule: "posted-interrupt-descriptor-address",
    what: "not 64-byte aligned",
    base: LONG64,
    ctx: richCtx,
    set: [...POSTED_ON, [POSTED_INTR_DESC_ADDR, 0x1_4020]],
    field: "POSTED_INTR_DESC_ADDR",
  },
  {
    rule: "nmi-exiting-virtual-nmis",
    what: "virtual NMIs without NMI exiting",
    base: LONG64,
    set: [[PIN_BASED_VM_EXEC_CONTROL, TRUE_PIN | PIN_BASED_VIRTUAL_NMIS]],
  },
  {
    rule: "virtual-nmis-nmi-window",
    what: "NMI-window exiting without virtual NMIs",
    base: LONG64,
    set: [[CPU_BASED_VM_EXEC_CONTROL, or(CPU_BASED_NMI_WINDOW_EXITING)]],
    field: "CPU_BASED_VM_EXEC_CONTROL",
  },
  {
    rule: "apic-access-address",
    what: "not page-aligned",
    base: LONG64,
    ctx: richCtx,
    set: [
      [SECONDARY_VM_EXEC_CONTROL, or(SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES)],
      [APIC_ACCESS_ADDR, 0xfee0_0800],
    ],
    field: "APIC_ACCESS_ADDR",
  },
  {
    rule: "vpid-nonzero",
    what: "VPID 0",
    base: LONG64,
    set: [[VIRTUAL_PROCESSOR_ID, 0]],
    field: "VIRTUAL_PROCESSOR_ID",
  },
  {
    rule: "eptp-memory-type",
    what: "WC",
    base: LONG64,
    set: [[EPT_POINTER, (EPTP & ~7n) | 1n]],
    field: "EPT_POINTER",
  },
  {
    rule: "eptp-walk-length",
    what: "5-level",
    base: LONG64,
    set: [[EPT_POINTER, 0x20000n | 0x20n | 6n]],
    field: "EPT_POINTER",
  },
  {
    rule: "eptp-accessed-dirty",
    what: "A/D without the capability",
    base: LONG64,
    set: [[EPT_POINTER, EPTP | 0x40n]],
  },
  {
    rule: "eptp-reserved-bits",
    what: "bit 7",
    base: LONG64,
    set: [[EPT_POINTER, EPTP | 0x80n]],
  },
  {
    rule: "eptp-reserved-bits",
    what: "beyond MAXPHYADDR",
    base: LONG64,
    set: [[EPT_POINTER, EPTP | (1n << 40n)]],
  },
  {
    rule: "pml-requires-ept",
    what: "PML without EPT",
    base: LONG64,
    ctx: richCtx,
    set: [[SECONDARY_VM_EXEC_CONTROL, SECONDARY_EXEC_ENABLE_VPID | SECONDARY_EXEC_ENABLE_PML]],
  },
  {
    rule: "pml-address",
    what: "not page-aligned",
    base: LONG64,
    ctx: richCtx,
    set: [
      [SECONDARY_VM_EXEC_CONTROL, or(SECONDARY_EXEC_ENABLE_PML)],
      [PML_ADDRESS, 0x1_5008],
    ],
    field: "PML_ADDRESS",
  },
  {
    rule: "unrestricted-guest-requires-ept",
    what: "unrestricted guest alone",
    base: LONG64,
    set: [
      [SECONDARY_VM_EXEC_CONTROL, SECONDARY_EXEC_ENABLE_VPID | SECONDARY_EXEC_UNRESTRICTED_GUEST],
    ],
    field: "SECONDARY_VM_EXEC_CONTROL",
  },
  {
    rule: "mode-based-execute-requires-ept",
    what: "MBEC alone",
    base: LONG64,
    ctx: richCtx,
    set: [
      [SECONDARY_VM_EXEC_CONTROL, SECONDARY_EXEC_ENABLE_VPID | SECONDARY_EXEC_MODE_BASED_EPT_EXEC],
    ],
  },
  // 27.2.1.2
  {
    rule: "exit-controls-allowed-settings",
    what: "load IA32_PERF_GLOBAL_CTRL",
    base: LONG64,
    set: [[VM_EXIT_CONTROLS, or(VM_EXIT_LOAD_IA32_PERF_GLOBAL_CTRL)]],
    field: "VM_EXIT_CONTROLS",
  },
  {
    rule: "preemption-timer-save-requires-activate",
    what: "save without activate",
    base: LONG64,
    set: [[VM_EXIT_CONTROLS, or(VM_EXIT_SAVE_VMX_PREEMPTION_TIMER)]],
  },
  {
    rule: "exit-msr-store-address",
    what: "8-byte aligned",
    base: LONG64,
    set: [
      [VM_EXIT_MSR_STORE_COUNT, 1],
      [VM_EXIT_MSR_STORE_ADDR, 0x1_6008],
    ],
    field: "VM_EXIT_MSR_STORE_ADDR",
  },
  {
    rule: "exit-msr-load-address",
    what: "last entry past MAXPHYADDR",
    base: LONG64,
    set: [
      [VM_EXIT_MSR_LOAD_COUNT, 2],
      [VM_EXIT_MSR_LOAD_ADDR, (1n << 36n) - 16n],
    ],
    field: "VM_EXIT_MSR_LOAD_ADDR",
  },
  // 27.2.1.3
  {
    rule: "entry-controls-allowed-settings",
    what: "load IA32_PERF_GLOBAL_CTRL",
    base: LONG64,
    set: [[VM_ENTRY_CONTROLS, or(VM_ENTRY_LOAD_IA32_PERF_GLOBAL_CTRL)]],
    field: "VM_ENTRY_CONTROLS",
  },
  {
    rule: "event-injection-type",
    what: "type 1",
    base: LONG64,
    set: [[VM_ENTRY_INTR_INFO_FIELD, 0x8000_0120]],
    field: "VM_ENTRY_INTR_INFO_FIELD",
  },
  {
    rule: "event-injection-type",
    what: "type 7 without MTF",
    base: LONG64,
    set: [[VM_ENTRY_INTR_INFO_FIELD, 0x8000_0700]],
  },
  {
    rule: "event-injection-vector",
    what: "NMI with vector 3",
    base: LONG64,
    set: [[VM_ENTRY_INTR_INFO_FIELD, 0x8000_0203]],
  },
  {
    rule: "event-injection-vector",
    what: "hardware exception 32",
    base: LONG64,
    set: [[VM_ENTRY_INTR_INFO_FIELD, 0x8000_0320]],
  },
  {
    rule: "event-injection-vector",
    what: "other event 1 on a part with MTF",
    base: LONG64,
    ctx: richCtx,
    set: [[VM_ENTRY_INTR_INFO_FIELD, 0x8000_0701]],
  },
  {
    rule: "event-injection-error-code-bit",
    what: "#GP without its error code",
    base: LONG64,
    set: [[VM_ENTRY_INTR_INFO_FIELD, 0x8000_030d]],
  },
  {
    rule: "event-injection-error-code-bit",
    what: "#GP with an error code into real mode",
    base: REAL,
    set: [[VM_ENTRY_INTR_INFO_FIELD, 0x8000_0b0d]],
  },
  {
    rule: "event-injection-error-code-bit",
    what: "#CP (21) without its error code",
    base: PROT32,
    set: [[VM_ENTRY_INTR_INFO_FIELD, 0x8000_0315]],
  },
  {
    rule: "event-injection-reserved-bits",
    what: "bit 12",
    base: LONG64,
    set: [[VM_ENTRY_INTR_INFO_FIELD, 0x8000_1020]],
  },
  {
    rule: "event-injection-error-code-reserved-bits",
    what: "error code 0x10000",
    base: LONG64,
    set: [
      [VM_ENTRY_INTR_INFO_FIELD, 0x8000_0b0d],
      [VM_ENTRY_EXCEPTION_ERROR_CODE, 0x1_0000],
    ],
    field: "VM_ENTRY_EXCEPTION_ERROR_CODE",
  },
  {
    rule: "event-injection-instruction-length",
    what: "INT n with length 0",
    base: LONG64,
    set: [[VM_ENTRY_INTR_INFO_FIELD, 0x8000_0480]],
    field: "VM_ENTRY_INSTRUCTION_LEN",
  },
  {
    rule: "event-injection-instruction-length",
    what: "INT3 with length 16",
    base: LONG64,
    set: [
      [VM_ENTRY_INTR_INFO_FIELD, 0x8000_0603],
      [VM_ENTRY_INSTRUCTION_LEN, 16],
    ],
  },
  {
    rule: "entry-msr-load-address",
    what: "4-byte aligned",
    base: LONG64,
    set: [
      [VM_ENTRY_MSR_LOAD_COUNT, 1],
      [VM_ENTRY_MSR_LOAD_ADDR, 0x1_7004],
    ],
    field: "VM_ENTRY_MSR_LOAD_ADDR",
  },
  {
    rule: "entry-smm-outside-smm",
    what: "entry to SMM",
    base: LONG64,
    ctx: richCtx,
    set: [[VM_ENTRY_CONTROLS, or(VM_ENTRY_SMM)]],
    field: "VM_ENTRY_CONTROLS",
  },
  // 27.2.2
  {
    rule: "host-cr0-fixed-bits",
    what: "PE clear",
    base: LONG64,
    set: [[HOST_CR0, 0x8005_0032]],
    field: "HOST_CR0",
  },
  {
    rule: "host-cr4-fixed-bits",
    what: "LA57",
    base: LONG64,
    set: [[HOST_CR4, or(0x1000)]],
    field: "HOST_CR4",
  },
  {
    rule: "host-cr4-fixed-bits",
    what: "VMXE clear",
    base: LONG64,
    set: [[HOST_CR4, andNot(0x2000)]],
  },
  {
    rule: "host-cr3-width",
    what: "bit 40",
    base: LONG64,
    set: [[HOST_CR3, 1n << 40n]],
    field: "HOST_CR3",
  },
  {
    rule: "host-sysenter-canonical",
    what: "ESP",
    base: LONG64,
    set: [[HOST_IA32_SYSENTER_ESP, NC]],
    field: "HOST_IA32_SYSENTER_ESP",
  },
  {
    rule: "host-sysenter-canonical",
    what: "EIP",
    base: LONG64,
    set: [[HOST_IA32_SYSENTER_EIP, 0x1234_0000_0000_0000n]],
    field: "HOST_IA32_SYSENTER_EIP",
  },
  {
    rule: "host-pat-valid",
    what: "byte 7 = 8",
    base: LONG64,
    set: [[HOST_IA32_PAT, 0x0807_0406_0007_0406n]],
    field: "HOST_IA32_PAT",
  },
  {
    rule: "host-efer-reserved-bits",
    what: "bit 12",
    base: LONG64,
    set: [[HOST_IA32_EFER, EFER_LONG | 0x1000n]],
    field: "HOST_IA32_EFER",
  },
  {
    rule: "host-efer-lma-lme",
    what: "LME clear on a 64-bit host",
    base: LONG64,
    set: [[HOST_IA32_EFER, 0xc01n]],
    field: "HOST_IA32_EFER",
  },
  // 27.2.3
  {
    rule: "host-selector-rpl-ti",
    what: "DS RPL 3",
    base: LONG64,
    set: [[HOST_DS_SELECTOR, 3]],
    field: "HOST_DS_SELECTOR",
  },
  {
    rule: "host-selector-rpl-ti",
    what: "TR with TI",
    base: LONG64,
    set: [[HOST_TR_SELECTOR, 0x44]],
    field: "HOST_TR_SELECTOR",
  },
  {
    rule: "host-cs-nonzero",
    what: "null CS",
    base: LONG64,
    set: [[HOST_CS_SELECTOR, 0]],
    field: "HOST_CS_SELECTOR",
  },
  {
    rule: "host-tr-nonzero",
    what: "null TR",
    base: LONG64,
    set: [[HOST_TR_SELECTOR, 0]],
    field: "HOST_TR_SELECTOR",
  },
  {
    rule: "host-ss-nonzero",
    what: "null SS under a 32-bit host",
    base: PROT32,
    ctx: ctx32,
    set: [...HOST32, [HOST_SS_SELECTOR, 0]],
    field: "HOST_SS_SELECTOR",
  },
  {
    rule: "host-base-canonical",
    what: "GS base",
    base: LONG64,
    set: [[HOST_GS_BASE, NC]],
    field: "HOST_GS_BASE",
  },
  {
    rule: "host-base-canonical",
    what: "IDTR base",
    base: LONG64,
    set: [[HOST_IDTR_BASE, 0x00ff_0000_0000_0000n]],
    field: "HOST_IDTR_BASE",
  },
  // 27.2.4
  {
    rule: "host-address-space-size",
    what: "32-bit exit from a 64-bit host",
    base: LONG64,
    set: [[VM_EXIT_CONTROLS, andNot(VM_EXIT_HOST_ADDR_SPACE_SIZE | VM_EXIT_LOAD_IA32_EFER)]],
    field: "VM_EXIT_CONTROLS",
  },
  {
    rule: "host-address-space-size",
    what: "64-bit exit from a 32-bit host",
    base: PROT32,
    ctx: ctx32,
    set: [[VM_EXIT_CONTROLS, andNot(VM_EXIT_LOAD_IA32_EFER)]],
  },
  {
    rule: "host-32bit-ia32e-guest",
    what: "IA-32e guest under a 32-bit host",
    base: LONG64,
    ctx: ctx32,
    set: HOST32,
    field: "VM_ENTRY_CONTROLS",
  },
  {
    rule: "host-32bit-cr4-pcide",
    what: "PCIDE",
    base: PROT32,
    ctx: ctx32,
    set: [...HOST32, [HOST_CR4, or(0x2_0000)]],
    field: "HOST_CR4",
  },
  {
    rule: "host-32bit-rip-width",
    what: "RIP above 4 GiB",
    base: PROT32,
    ctx: ctx32,
    set: [...HOST32, [HOST_RIP, 0x1_0000_0000n]],
    field: "HOST_RIP",
  },
  {
    rule: "host-64bit-cr4-pae",
    what: "PAE clear",
    base: LONG64,
    set: [[HOST_CR4, andNot(0x20)]],
    field: "HOST_CR4",
  },
  {
    rule: "host-64bit-rip-canonical",
    what: "non-canonical RIP",
    base: LONG64,
    set: [[HOST_RIP, NC]],
    field: "HOST_RIP",
  },
  // 27.3.1.1
  {
    rule: "guest-cr0-fixed-bits",
    what: "CD/NW/ET only",
    base: LONG64,
    set: [[GUEST_CR0, 0x6000_0010]],
    field: "GUEST_CR0",
  },
  {
    rule: "guest-cr0-fixed-bits",
    what: "NE clear under unrestricted guest",
    base: REAL,
    set: [[GUEST_CR0, 0x10]],
  },
  {
    rule: "guest-cr0-pg-requires-pe",
    what: "PG without PE",
    base: REAL,
    set: [[GUEST_CR0, 0x8000_0030]],
    field: "GUEST_CR0",
  },
  {
    rule: "guest-cr4-fixed-bits",
    what: "VMXE clear",
    base: LONG64,
    set: [[GUEST_CR4, 0xa0]],
    field: "GUEST_CR4",
  },
  {
    rule: "guest-cr4-fixed-bits",
    what: "CET (bit 23)",
    base: LONG64,
    set: [[GUEST_CR4, or(0x80_0000)]],
  },
  {
    rule: "guest-debugctl-reserved-bits",
    what: "bit 2",
    base: LONG64,
    set: [[GUEST_IA32_DEBUGCTL, 0x4]],
    field: "GUEST_IA32_DEBUGCTL",
  },
  {
    rule: "guest-ia32e-cr0-pg",
    what: "IA-32e entry into real mode",
    base: REAL,
    set: [[VM_ENTRY_CONTROLS, or(VM_ENTRY_IA32E_MODE)]],
    field: "GUEST_CR0",
  },
  {
    rule: "guest-ia32e-cr4-pae",
    what: "PAE clear",
    base: LONG64,
    set: [[GUEST_CR4, 0x2080]],
    field: "GUEST_CR4",
  },
  {
    rule: "guest-cr4-pcide-ia32e",
    what: "PCIDE in a 32-bit guest",
    base: PROT32,
    set: [[GUEST_CR4, or(0x2_0000)]],
    field: "GUEST_CR4",
  },
  {
    rule: "guest-cr3-width",
    what: "bit 36",
    base: LONG64,
    set: [[GUEST_CR3, 1n << 36n]],
    field: "GUEST_CR3",
  },
  {
    rule: "guest-dr7-upper-bits",
    what: "bit 32",
    base: LONG64,
    set: [[GUEST_DR7, (1n << 32n) | 0x400n]],
    field: "GUEST_DR7",
  },
  {
    rule: "guest-sysenter-canonical",
    what: "EIP",
    base: LONG64,
    set: [[GUEST_SYSENTER_EIP, NC]],
    field: "GUEST_SYSENTER_EIP",
  },
  {
    rule: "guest-sysenter-canonical",
    what: "ESP",
    base: PROT32,
    set: [[GUEST_SYSENTER_ESP, 0xf000_0000_0000_0000n]],
    field: "GUEST_SYSENTER_ESP",
  },
  {
    rule: "guest-pat-valid",
    what: "byte 0 = 2",
    base: LONG64,
    set: [[GUEST_IA32_PAT, 0x0007_0406_0007_0402n]],
    field: "GUEST_IA32_PAT",
  },
  {
    rule: "guest-efer-reserved-bits",
    what: "bit 1",
    base: LONG64,
    set: [[GUEST_IA32_EFER, EFER_LONG | 2n]],
    field: "GUEST_IA32_EFER",
  },
  {
    rule: "guest-efer-lma",
    what: "LMA clear for an IA-32e guest",
    base: LONG64,
    set: [[GUEST_IA32_EFER, 0x901n]],
    field: "GUEST_IA32_EFER",
  },
  {
    rule: "guest-efer-lma",
    what: "LMA set for a 32-bit guest",
    base: PROT32,
    set: [[GUEST_IA32_EFER, 0x500n]],
  },
  {
    rule: "guest-efer-lme",
    what: "LME clear with paging",
    base: LONG64,
    set: [[GUEST_IA32_EFER, 0xc01n]],
    field: "GUEST_IA32_EFER",
  },
  // 27.3.1.2
  {
    rule: "guest-tr-ti",
    what: "TR from the LDT",
    base: LONG64,
    set: [[GUEST_TR_SELECTOR, 0x44]],
    field: "GUEST_TR_SELECTOR",
  },
  {
    rule: "guest-ldtr-ti",
    what: "usable LDTR with TI",
    base: REAL,
    set: [[GUEST_LDTR_SELECTOR, 0x4]],
    field: "GUEST_LDTR_SELECTOR",
  },
  {
    rule: "guest-ss-rpl",
    what: "SS RPL 3, CS RPL 0",
    base: PROT32,
    set: [[GUEST_SS_SELECTOR, 0x13]],
    field: "GUEST_SS_SELECTOR",
  },
  {
    rule: "guest-v8086-segment-base",
    what: "DS base off by 0x10",
    base: V8086,
    set: [[GUEST_DS_BASE, 0x3_0010]],
    field: "GUEST_DS_BASE",
  },
  {
    rule: "guest-segment-base-canonical",
    what: "FS base",
    base: LONG64,
    set: [[GUEST_FS_BASE, NC]],
    field: "GUEST_FS_BASE",
  },
  {
    rule: "guest-segment-base-canonical",
    what: "TR base",
    base: LONG64,
    set: [[GUEST_TR_BASE, 0x0001_0000_0000_0000n]],
    field: "GUEST_TR_BASE",
  },
  {
    rule: "guest-segment-base-canonical",
    what: "usable LDTR base",
    base: REAL,
    set: [[GUEST_LDTR_BASE, NC]],
    field: "GUEST_LDTR_BASE",
  },
  {
    rule: "guest-segment-base-upper-bits",
    what: "DS base above 4 GiB",
    base: LONG64,
    set: [[GUEST_DS_BASE, 0x1_0000_0000n]],
    field: "GUEST_DS_BASE",
  },
  {
    rule: "guest-segment-base-upper-bits",
    what: "CS base above 4 GiB",
    base: PROT32,
    set: [[GUEST_CS_BASE, 0x2_0000_0000n]],
    field: "GUEST_CS_BASE",
  },
  {
    rule: "guest-v8086-segment-limit",
    what: "SS limit 0xfffe",
    base: V8086,
    set: [[GUEST_SS_LIMIT, 0xfffe]],
    field: "GUEST_SS_LIMIT",
  },
  {
    rule: "guest-v8086-segment-ar",
    what: "ES AR 0xf2",
    base: V8086,
    set: [[GUEST_ES_AR_BYTES, 0xf2]],
    field: "GUEST_ES_AR_BYTES",
  },
  {
    rule: "guest-v8086-segment-ar",
    what: "a real-mode CS with RFLAGS.VM",
    base: REAL,
    set: [[GUEST_RFLAGS, 0x2_0002]],
    field: "GUEST_CS_AR_BYTES",
  },
  {
    rule: "guest-cs-type",
    what: "data CS without unrestricted guest",
    base: LONG64,
    set: [[GUEST_CS_AR_BYTES, 0xa093]],
    field: "GUEST_CS_AR_BYTES",
  },
  {
    rule: "guest-cs-type",
    what: "non-accessed code",
    base: REAL,
    set: [[GUEST_CS_AR_BYTES, 0x9a]],
  },
  {
    rule: "guest-ss-type",
    what: "code SS",
    base: LONG64,
    set: [[GUEST_SS_AR_BYTES, 0xc09b]],
    field: "GUEST_SS_AR_BYTES",
  },
  {
    rule: "guest-data-segment-type",
    what: "DS not accessed",
    base: LONG64,
    set: [[GUEST_DS_AR_BYTES, 0xc092]],
    field: "GUEST_DS_AR_BYTES",
  },
  {
    rule: "guest-data-segment-type",
    what: "execute-only code in FS",
    base: PROT32,
    set: [[GUEST_FS_AR_BYTES, 0xc099]],
    field: "GUEST_FS_AR_BYTES",
  },
  {
    rule: "guest-segment-s",
    what: "system DS",
    base: LONG64,
    set: [[GUEST_DS_AR_BYTES, 0xc083]],
    field: "GUEST_DS_AR_BYTES",
  },
  {
    rule: "guest-segment-s",
    what: "TR with S",
    base: LONG64,
    set: [[GUEST_TR_AR_BYTES, 0x9b]],
    field: "GUEST_TR_AR_BYTES",
  },
  {
    rule: "guest-segment-s",
    what: "LDTR with S",
    base: REAL,
    set: [[GUEST_LDTR_AR_BYTES, 0x92]],
    field: "GUEST_LDTR_AR_BYTES",
  },
  {
    rule: "guest-cs-dpl",
    what: "non-conforming CS DPL 1 with SS DPL 0",
    base: LONG64,
    set: [[GUEST_CS_AR_BYTES, 0xa0bb]],
    field: "GUEST_CS_AR_BYTES",
  },
  {
    rule: "guest-cs-dpl",
    what: "type-3 CS with DPL 3",
    base: REAL,
    set: [[GUEST_CS_AR_BYTES, 0xf3]],
  },
  {
    rule: "guest-cs-dpl",
    what: "conforming CS DPL above SS DPL",
    base: PROT32,
    set: [[GUEST_CS_AR_BYTES, 0xc0bf]],
  },
  {
    rule: "guest-ss-dpl",
    what: "SS DPL ≠ RPL",
    base: LONG64,
    set: [
      [GUEST_CS_AR_BYTES, 0xa09f],
      [GUEST_SS_AR_BYTES, 0xc0b3],
    ],
    field: "GUEST_SS_AR_BYTES",
  },
  {
    rule: "guest-ss-dpl",
    what: "real mode SS DPL 1 even with unrestricted guest",
    base: REAL,
    set: [
      [GUEST_CS_AR_BYTES, 0x9f],
      [GUEST_SS_AR_BYTES, 0xb3],
    ],
    field: "GUEST_SS_AR_BYTES",
  },
  {
    rule: "guest-data-segment-dpl",
    what: "DS RPL 3 over DPL 0",
    base: PROT32,
    set: [[GUEST_DS_SELECTOR, 0x13]],
    field: "GUEST_DS_AR_BYTES",
  },
  {
    rule: "guest-segment-present",
    what: "DS not present",
    base: LONG64,
    set: [[GUEST_DS_AR_BYTES, 0xc013]],
    field: "GUEST_DS_AR_BYTES",
  },
  {
    rule: "guest-segment-present",
    what: "TR not present",
    base: LONG64,
    set: [[GUEST_TR_AR_BYTES, 0x0b]],
    field: "GUEST_TR_AR_BYTES",
  },
  {
    rule: "guest-segment-ar-reserved-bits",
    what: "DS bit 8",
    base: LONG64,
    set: [[GUEST_DS_AR_BYTES, 0xc193]],
    field: "GUEST_DS_AR_BYTES",
  },
  {
    rule: "guest-segment-ar-reserved-bits",
    what: "CS bit 17",
    base: PROT32,
    set: [[GUEST_CS_AR_BYTES, 0x2_c09b]],
    field: "GUEST_CS_AR_BYTES",
  },
  {
    rule: "guest-segment-ar-reserved-bits",
    what: "LDTR bit 9",
    base: REAL,
    set: [[GUEST_LDTR_AR_BYTES, 0x282]],
    field: "GUEST_LDTR_AR_BYTES",
  },
  {
    rule: "guest-cs-l-db",
    what: "CS.L and CS.D",
    base: LONG64,
    set: [[GUEST_CS_AR_BYTES, 0xe09b]],
    field: "GUEST_CS_AR_BYTES",
  },
  {
    rule: "guest-segment-limit-granularity",
    what: "4 GiB DS limit with G = 0",
    base: LONG64,
    set: [[GUEST_DS_AR_BYTES, 0x4093]],
    field: "GUEST_DS_LIMIT",
  },
  {
    rule: "guest-segment-limit-granularity",
    what: "TR limit 0x67 with G = 1",
    base: LONG64,
    set: [[GUEST_TR_AR_BYTES, 0x808b]],
    field: "GUEST_TR_LIMIT",
  },
  {
    rule: "guest-tr-type",
    what: "16-bit TSS in IA-32e mode",
    base: LONG64,
    set: [[GUEST_TR_AR_BYTES, 0x83]],
    field: "GUEST_TR_AR_BYTES",
  },
  {
    rule: "guest-tr-type",
    what: "available TSS",
    base: PROT32,
    set: [[GUEST_TR_AR_BYTES, 0x89]],
  },
  {
    rule: "guest-tr-usable",
    what: "unusable TR",
    base: LONG64,
    set: [[GUEST_TR_AR_BYTES, 0x1_008b]],
    field: "GUEST_TR_AR_BYTES",
  },
  {
    rule: "guest-ldtr-type",
    what: "a TSS in LDTR",
    base: REAL,
    set: [[GUEST_LDTR_AR_BYTES, 0x8b]],
    field: "GUEST_LDTR_AR_BYTES",
  },
  // 27.3.1.3
  {
    rule: "guest-descriptor-table-base-canonical",
    what: "IDTR base",
    base: LONG64,
    set: [[GUEST_IDTR_BASE, 0x0000_9000_0000_0000n]],
    field: "GUEST_IDTR_BASE",
  },
  {
    rule: "guest-descriptor-table-limit",
    what: "GDTR limit 0x10000",
    base: PROT32,
    set: [[GUEST_GDTR_LIMIT, 0x1_0000]],
    field: "GUEST_GDTR_LIMIT",
  },
  // 27.3.1.4
  {
    rule: "guest-rip-upper-bits",
    what: "32-bit guest above 4 GiB",
    base: PROT32,
    set: [[GUEST_RIP, 0x1_0000_0000n]],
    field: "GUEST_RIP",
  },
  {
    rule: "guest-rip-upper-bits",
    what: "compatibility mode above 4 GiB",
    base: LONG64,
    set: [
      [GUEST_CS_AR_BYTES, 0xc09b],
      [GUEST_RIP, 0xffff_ffff_8100_0000n],
    ],
    field: "GUEST_RIP",
  },
  {
    rule: "guest-rip-canonical",
    what: "non-canonical RIP",
    base: LONG64,
    set: [[GUEST_RIP, NC]],
    field: "GUEST_RIP",
  },
  {
    rule: "guest-rflags-reserved-bits",
    what: "bit 1 clear",
    base: LONG64,
    set: [[GUEST_RFLAGS, 0]],
    field: "GUEST_RFLAGS",
  },
  {
    rule: "guest-rflags-reserved-bits",
    what: "bit 15",
    base: PROT32,
    set: [[GUEST_RFLAGS, 0x8202]],
  },
  {
    rule: "guest-rflags-reserved-bits",
    what: "bit 22",
    base: LONG64,
    set: [[GUEST_RFLAGS, 0x40_0002]],
  },
  {
    rule: "guest-rflags-vm",
    what: "VM in an IA-32e guest",
    base: V8086,
    set: [
      [VM_ENTRY_CONTROLS, or(VM_ENTRY_IA32E_MODE)],
      [GUEST_CR4, or(0x20)],
    ],
    field: "GUEST_RFLAGS",
  },
  {
    rule: "guest-rflags-if-ext-int",
    what: "external interrupt with IF = 0",
    base: LONG64,
    set: [[VM_ENTRY_INTR_INFO_FIELD, 0x8000_0020]],
    field: "GUEST_RFLAGS",
  },
  // 27.3.1.5
  {
    rule: "guest-activity-state-range",
    what: "state 4",
    base: LONG64,
    set: [[GUEST_ACTIVITY_STATE, 4]],
    field: "GUEST_ACTIVITY_STATE",
  },
  {
    rule: "guest-activity-state-supported",
    what: "HLT on a part without it",
    base: LONG64,
    ctx: noHltCtx,
    set: [[GUEST_ACTIVITY_STATE, 1]],
    field: "GUEST_ACTIVITY_STATE",
  },
  {
    rule: "guest-activity-hlt-ss-dpl",
    what: "HLT in virtual-8086 mode",
    base: V8086,
    set: [[GUEST_ACTIVITY_STATE, 1]],
    field: "GUEST_ACTIVITY_STATE",
  },
  {
    rule: "guest-activity-blocking",
    what: "HLT with MOV-SS blocking",
    base: LONG64,
    set: [
      [GUEST_ACTIVITY_STATE, 1],
      [GUEST_INTERRUPTIBILITY_INFO, 2],
    ],
    field: "GUEST_ACTIVITY_STATE",
  },
  {
    rule: "guest-activity-event-injection",
    what: "#GP into HLT",
    base: LONG64,
    set: [
      [GUEST_ACTIVITY_STATE, 1],
      [VM_ENTRY_INTR_INFO_FIELD, 0x8000_0b0d],
    ],
    field: "GUEST_ACTIVITY_STATE",
  },
  {
    rule: "guest-activity-event-injection",
    what: "external interrupt into shutdown",
    base: PROT32,
    set: [
      [GUEST_ACTIVITY_STATE, 2],
      [VM_ENTRY_INTR_INFO_FIELD, 0x8000_0020],
    ],
  },
  {
    rule: "guest-activity-event-injection",
    what: "NMI into wait-for-SIPI",
    base: PROT32,
    set: [
      [GUEST_ACTIVITY_STATE, 3],
      [VM_ENTRY_INTR_INFO_FIELD, 0x8000_0202],
    ],
  },
  {
    rule: "guest-interruptibility-reserved-bits",
    what: "bit 5",
    base: LONG64,
    set: [[GUEST_INTERRUPTIBILITY_INFO, 0x20]],
    field: "GUEST_INTERRUPTIBILITY_INFO",
  },
  {
    rule: "guest-interruptibility-reserved-bits",
    what: "enclave interruption without SGX",
    base: LONG64,
    set: [[GUEST_INTERRUPTIBILITY_INFO, 0x10]],
  },
  {
    rule: "guest-interruptibility-sti-movss",
    what: "both",
    base: PROT32,
    set: [[GUEST_INTERRUPTIBILITY_INFO, 3]],
    field: "GUEST_INTERRUPTIBILITY_INFO",
  },
  {
    rule: "guest-interruptibility-sti-if",
    what: "STI blocking with IF = 0",
    base: LONG64,
    set: [[GUEST_INTERRUPTIBILITY_INFO, 1]],
    field: "GUEST_INTERRUPTIBILITY_INFO",
  },
  {
    rule: "guest-interruptibility-ext-int",
    what: "STI blocking with an external interrupt",
    base: PROT32,
    set: [
      [GUEST_INTERRUPTIBILITY_INFO, 1],
      [VM_ENTRY_INTR_INFO_FIELD, 0x8000_0020],
    ],
    field: "GUEST_INTERRUPTIBILITY_INFO",
  },
  {
    rule: "guest-interruptibility-nmi-movss",
    what: "MOV-SS blocking with an NMI",
    base: LONG64,
    set: [
      [GUEST_INTERRUPTIBILITY_INFO, 2],
      [VM_ENTRY_INTR_INFO_FIELD, 0x8000_0202],
    ],
    field: "GUEST_INTERRUPTIBILITY_INFO",
  },
  {
    rule: "guest-interruptibility-smi",
    what: "SMI blocking",
    base: LONG64,
    set: [[GUEST_INTERRUPTIBILITY_INFO, 4]],
    field: "GUEST_INTERRUPTIBILITY_INFO",
  },
  {
    rule: "guest-interruptibility-virtual-nmi",
    what: "NMI blocking with a virtual NMI injected",
    base: LONG64,
    set: [
      [PIN_BASED_VM_EXEC_CONTROL, or(PIN_BASED_VIRTUAL_NMIS)],
      [GUEST_INTERRUPTIBILITY_INFO, 8],
      [VM_ENTRY_INTR_INFO_FIELD, 0x8000_0202],
    ],
    field: "GUEST_INTERRUPTIBILITY_INFO",
  },
  {
    rule: "guest-pending-dbg-reserved-bits",
    what: "bit 4",
    base: LONG64,
    set: [[GUEST_PENDING_DBG_EXCEPTIONS, 0x10]],
    field: "GUEST_PENDING_DBG_EXCEPTIONS",
  },
  {
    rule: "guest-pending-dbg-reserved-bits",
    what: "RTM (bit 16) without RTM",
    base: LONG64,
    set: [[GUEST_PENDING_DBG_EXCEPTIONS, 0x1_1000]],
  },
  {
    rule: "guest-pending-dbg-bs",
    what: "TF under STI blocking without BS",
    base: PROT32,
    set: [
      [GUEST_RFLAGS, 0x302],
      [GUEST_INTERRUPTIBILITY_INFO, 1],
    ],
    field: "GUEST_PENDING_DBG_EXCEPTIONS",
  },
  {
    rule: "guest-pending-dbg-bs",
    what: "BS in HLT without TF",
    base: LONG64,
    set: [
      [GUEST_ACTIVITY_STATE, 1],
      [GUEST_PENDING_DBG_EXCEPTIONS, 0x4000],
    ],
  },
  {
    rule: "guest-pending-dbg-bs",
    what: "BS with TF but BTF",
    base: PROT32,
    set: [
      [GUEST_RFLAGS, 0x302],
      [GUEST_INTERRUPTIBILITY_INFO, 2],
      [GUEST_IA32_DEBUGCTL, 2],
      [GUEST_PENDING_DBG_EXCEPTIONS, 0x4000],
    ],
  },
  {
    rule: "guest-vmcs-link-pointer",
    what: "a page address",
    base: LONG64,
    set: [[VMCS_LINK_POINTER, 0x5000]],
    field: "VMCS_LINK_POINTER",
    qualification: 4,
  },
  // 27.3.1.6
  {
    rule: "guest-pdpte-reserved-bits",
    what: "PDPTE1 with bits 2:1",
    base: PROT32,
    set: [],
    pdpte: (i) => (i === 1 ? 0x8007n : 0x9001n),
    field: "GUEST_CR3",
    qualification: 2,
  },
  {
    rule: "guest-pdpte-reserved-bits",
    what: "PDPTE3 above MAXPHYADDR",
    base: PROT32,
    set: [],
    pdpte: (i) => (i === 3 ? (1n << 36n) | 1n : 0n),
    qualification: 2,
  },
  {
    rule: "guest-pdpte-fields-reserved-bits",
    what: "GUEST_PDPTR2 with XD under EPT",
    base: PROT32,
    set: [
      [CPU_BASED_VM_EXEC_CONTROL, or(CPU_BASED_ACTIVATE_SECONDARY_CONTROLS)],
      [SECONDARY_VM_EXEC_CONTROL, SECONDARY_EXEC_ENABLE_EPT],
      [EPT_POINTER, EPTP],
      [GUEST_PDPTR2, (1n << 63n) | 0x5001n],
    ],
    field: "GUEST_PDPTR2",
    qualification: 2,
  },
];

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

const STAGE_ERROR = { controls: 7, "host-state": 8, "guest-state": 0x8000_0021 } as const;
const RULE_BY_ID = new Map(VM_ENTRY_RULES.map((r) => [r.rule, r]));

function hexOf(v: bigint): string {
  return `0x${v.toString(16)}`;
}

describe("VM-entry checks: valid baselines", () => {
  const baselines: ReadonlyArray<readonly [string, Fields, VmEntryContext]> = [
    ["(a) 64-bit host, 64-bit long-mode guest", LONG64, ctx],
    ["(b) flat 32-bit protected-mode guest with PAE paging", PROT32, ctx],
    ["(c) real-mode guest under unrestricted guest + EPT", REAL, ctx],
    ["(d) virtual-8086 guest", V8086, ctx],
    ["(b) under a 32-bit host", mutate(PROT32, HOST32), ctx32],
  ];
  for (const [what, base, c] of baselines) {
    it(`${what} passes all three stages`, () => {
      const vmcs = reader(base);
      expect(checkVmxControls(vmcs, c)).toBeNull();
      expect(checkHostState(vmcs, c)).toBeNull();
      expect(checkGuestState(vmcs, c)).toBeNull();
      expect(vmEntryChecks(vmcs, c)).toBeNull();
    });
  }

  it("accepts present, well-formed PDPTEs and ignores reserved bits in non-present ones", () => {
    const pdpte = (i: number) => (i === 2 ? 0xffff_ffff_ffff_fffen : 0x9001n + BigInt(i) * 0x1000n);
    expect(vmEntryChecks(reader(PROT32), ctx, pdpte)).toBeNull();
    // Unreadable entries (undefined) are skipped too.
    expect(vmEntryChecks(reader(PROT32), ctx, () => undefined)).toBeNull();
  });

  it("accepts events each baseline can take", () => {
    const ok: ReadonlyArray<readonly [Fields, readonly Change[], VmEntryContext?]> = [
      // #PF with its error code into a 64-bit guest.
      [
        LONG64,
        [
          [VM_ENTRY_INTR_INFO_FIELD, 0x8000_0b0e],
          [VM_ENTRY_EXCEPTION_ERROR_CODE, 0x2],
        ],
      ],
      // #GP without an error code into an unrestricted real-mode guest.
      [REAL, [[VM_ENTRY_INTR_INFO_FIELD, 0x8000_030d]]],
      // INT 0x21 with its length; an external interrupt with IF = 1.
      [
        PROT32,
        [
          [VM_ENTRY_INTR_INFO_FIELD, 0x8000_0421],
          [VM_ENTRY_INSTRUCTION_LEN, 2],
        ],
      ],
      [PROT32, [[VM_ENTRY_INTR_INFO_FIELD, 0x8000_0020]]],
      // INT3 with length 0 where IA32_VMX_MISC[30] allows it.
      [LONG64, [[VM_ENTRY_INTR_INFO_FIELD, 0x8000_0603]], zeroLenCtx],
      // An NMI into HLT; #MC into shutdown; an MTF event where MTF exists.
      [
        LONG64,
        [
          [GUEST_ACTIVITY_STATE, 1],
          [VM_ENTRY_INTR_INFO_FIELD, 0x8000_0202],
        ],
      ],
      [
        LONG64,
        [
          [GUEST_ACTIVITY_STATE, 2],
          [VM_ENTRY_INTR_INFO_FIELD, 0x8000_0312],
        ],
      ],
      [LONG64, [[VM_ENTRY_INTR_INFO_FIELD, 0x8000_0700]], richCtx],
    ];
    for (const [base, set, c] of ok) {
      expect(vmEntryChecks(reader(mutate(base, set)), c ?? ctx)).toBeNull();
    }
  });

  it("lets an IA-32e guest run with an unusable SS and a 64-bit data base in FS", () => {
    const m = mutate(LONG64, [
      [GUEST_SS_SELECTOR, 0],
      [GUEST_SS_AR_BYTES, 0x1_0000],
      [GUEST_FS_BASE, 0xffff_8000_0000_0000n],
    ]);
    expect(vmEntryChecks(reader(m), ctx)).toBeNull();
  });
});

describe("VM-entry checks: each rule fires on its own mutation", () => {
  for (const k of CASES) {
    it(`${k.rule}: ${k.what}`, () => {
      const c = k.ctx ?? ctx;
      const f = vmEntryChecks(reader(mutate(k.base, k.set)), c, k.pdpte) as VmEntryFailure;
      expect(f?.rule, f?.message).toBe(k.rule);
      const meta = RULE_BY_ID.get(k.rule)!;
      expect(f.stage).toBe(meta.stage);
      expect(f.sdm).toBe(meta.sdm);
      expect(f.error).toBe(STAGE_ERROR[meta.stage]);
      expect(f.qualification).toBe(k.qualification ?? 0);
      if (k.field !== undefined) expect(f.field).toBe(k.field);
      expect(f.message).toContain(f.field);
      expect(f.message).toContain(hexOf(f.value));
      expect(f.message.startsWith(`${meta.sdm} ${k.rule}: `)).toBe(true);
    });
  }

  it("reads through 32-bit halves to the same outcome, failure for failure", () => {
    for (const k of CASES) {
      const m = mutate(k.base, k.set);
      const c = k.ctx ?? ctx;
      expect(vmEntryChecks(halvesReader(m), c, k.pdpte)).toEqual(
        vmEntryChecks(reader(m), c, k.pdpte),
      );
    }
    for (const base of [LONG64, PROT32, REAL, V8086]) {
      expect(vmEntryChecks(halvesReader(base), ctx)).toBeNull();
    }
  });

  it("the per-stage functions report only their own stage", () => {
    const hostBad = reader(mutate(LONG64, [[HOST_CS_SELECTOR, 0]]));
    expect(checkVmxControls(hostBad, ctx)).toBeNull();
    expect(checkHostState(hostBad, ctx)?.rule).toBe("host-cs-nonzero");
    // Controls are checked before host state, host state before guest state.
    const both = reader(
      mutate(LONG64, [
        [HOST_CS_SELECTOR, 0],
        [CR3_TARGET_COUNT, 9],
        [GUEST_RFLAGS, 0],
      ]),
    );
    expect(vmEntryChecks(both, ctx)?.rule).toBe("cr3-target-count");
    const hostAndGuest = reader(
      mutate(LONG64, [
        [HOST_CS_SELECTOR, 0],
        [GUEST_RFLAGS, 0],
      ]),
    );
    expect(vmEntryChecks(hostAndGuest, ctx)?.rule).toBe("host-cs-nonzero");
  });

  it("formats the message as the SDM section, rule, field = value and the requirement", () => {
    const f = vmEntryChecks(reader(mutate(LONG64, [[GUEST_CR0, 0x6000_0010]])), ctx)!;
    expect(f.message).toBe(
      "27.3.1.1 guest-cr0-fixed-bits: GUEST_CR0 = 0x60000010 lacks bits 0x80000021 that IA32_VMX_CR0_FIXED0 requires",
    );
  });

  it("skips the PDPTE check without a reader, under EPT-less IA-32e mode and without PAE", () => {
    const bad = () => 0x8007n;
    expect(vmEntryChecks(reader(PROT32), ctx)).toBeNull();
    expect(vmEntryChecks(reader(LONG64), ctx, bad)).toBeNull();
    expect(vmEntryChecks(reader(V8086), ctx, bad)).toBeNull();
  });

  it("uses the non-TRUE control MSRs when IA32_VMX_BASIC[55] is 0", () => {
    const basic = (caps.msrs.get(0x480) ?? 0n) & ~(1n << 55n);
    const plainCtx = { ...ctx, caps: capsWith({}, { 1152: basic }) };
    // The baseline clears CR3-load/store exiting, which only the TRUE MSR allows.
    const f = vmEntryChecks(reader(LONG64), plainCtx)!;
    expect(f.rule).toBe("primary-proc-based-allowed-settings");
    expect(f.message).toContain("IA32_VMX_PROCBASED_CTLS requires");
  });
});

describe("VM_ENTRY_RULES", () => {
  it("has unique ids, each with a stage, an SDM section and a description", () => {
    const ids = VM_ENTRY_RULES.map((r) => r.rule);
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of VM_ENTRY_RULES) {
      expect(r.rule).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(r.sdm).toMatch(/^27\.[23](\.\d+)+$/);
      expect(r.description.length).toBeGreaterThan(10);
      expect(r.sdm.startsWith(r.stage === "guest-state" ? "27.3" : "27.2")).toBe(true);
    }
  });

  it("every rule is exercised by a failing case above", () => {
    const exercised = new Set(CASES.map((k) => k.rule));
    const ids = VM_ENTRY_RULES.map((r) => r.rule);
    expect(ids.filter((id) => !exercised.has(id))).toEqual([]);
    expect([...exercised].filter((id) => !RULE_BY_ID.has(id))).toEqual([]);
  });

  it("lists the stages in the order the checks run", () => {
    const order = VM_ENTRY_RULES.map((r) => r.stage);
    const firstHost = order.indexOf("host-state");
    const firstGuest = order.indexOf("guest-state");
    expect(order.slice(0, firstHost).every((s) => s === "controls")).toBe(true);
    expect(order.slice(firstHost, firstGuest).every((s) => s === "host-state")).toBe(true);
    expect(order.slice(firstGuest).every((s) => s === "guest-state")).toBe(true);
  });
});
