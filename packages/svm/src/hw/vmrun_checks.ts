/**
 * VMRUN's consistency checks (APM Vol. 2 §15.5.1 "Basic Operation" — the list of illegal
 * guest state; reference svm.md §9): a VMCB that fails one is not entered, and VMRUN ends
 * at once in #VMEXIT with EXITCODE = VMEXIT_INVALID (−1), guest state not loaded.
 *
 * Each check is a named rule over the control area and the state-save area, in the order
 * below; the first that fails is reported with its field, offset and value, so a failure
 * reads "VMRUN: EVENTINJ type (event_inj at 0x0a8 = 0x80000500)".
 */
import {
  EFER_LMA,
  EFER_LME,
  EFER_NX,
  EFER_SCE,
  EFER_SVME,
  INTERCEPT_VMRUN,
  SVM_EVTINJ_RESERVED,
  SVM_EVTINJ_TYPE_SHIFT,
  SVM_EVTINJ_VALID,
  SVM_NESTED_CTL_NP_ENABLE,
} from "../asm/svm.js";
import {
  IOPM_USED_SIZE,
  MSRPM_SIZE,
  SVM_SELECTOR_DB_MASK,
  SVM_SELECTOR_L_MASK,
  VMCB_ASID,
  VMCB_CR0,
  VMCB_CR3,
  VMCB_CR4,
  VMCB_CS,
  VMCB_DR6,
  VMCB_DR7,
  VMCB_EFER,
  VMCB_EVENT_INJ,
  VMCB_G_PAT,
  VMCB_INTERCEPT_WORD4,
  VMCB_IOPM_BASE_PA,
  VMCB_MISC_CTL,
  VMCB_MSRPM_BASE_PA,
  VMCB_NESTED_CR3,
  VMCB_SEG_ATTRIB,
  type Vmcb,
} from "./vmcb.js";

/** What the checks compare against: the processor's capabilities. */
export interface VmrunContext {
  /** MAXPHYADDR. */
  physAddrBits: number;
  /** Nested paging is supported (CPUID 8000_000Ah EDX[0]). */
  npt: boolean;
  /** EFER bits the processor implements (the rest are reserved). */
  eferValid: number;
  /** CR4 bits 31:0 the processor implements. */
  cr4Valid: number;
}

export interface VmrunFailure {
  /** The rule's name (VMRUN_RULES). */
  rule: string;
  /** The VMCB field it concerns, Linux's name. */
  field: string;
  /** Its offset in the VMCB. */
  offset: number;
  value: bigint;
  message: string;
}

interface Rule {
  name: string;
  field: string;
  offset: number;
  /** The field's width in bytes. */
  size: 2 | 4 | 8;
  /** True when the VMCB breaks the rule. */
  fails(v: Vmcb, ctx: VmrunContext): boolean;
}

const CR0_PE = 1n;
const CR0_NW = 1n << 29n;
const CR0_CD = 1n << 30n;
const CR0_PG = 1n << 31n;
const CR4_PAE = 1n << 5n;
const HIGH32 = 0xffff_ffff_0000_0000n;
/** EFER bit 9 and bits 63:16 are reserved on every part. */
const EFER_ALWAYS_RESERVED = ~0xfdffn & 0xffff_ffff_ffff_ffffn;

const bit = (v: bigint, m: bigint): boolean => (v & m) !== 0n;

function longModeActive(v: Vmcb): boolean {
  const efer = v.read64(VMCB_EFER);
  return bit(efer, BigInt(EFER_LME)) && bit(v.read64(VMCB_CR0), CR0_PG);
}

/** PAT entries must be memory types 0, 1, 4, 5, 6 or 7. */
function patValid(pat: bigint): boolean {
  for (let i = 0n; i < 64n; i += 8n) {
    const t = Number((pat >> i) & 0xffn);
    if (t === 2 || t === 3 || t > 7) return false;
  }
  return true;
}

/** The map at `base` (low 12 bits ignored) with `size` bytes ends below 2^MAXPHYADDR. */
function mapFits(v: Vmcb, offset: number, size: number, ctx: VmrunContext): boolean {
  const base = v.read64(offset) & ~0xfffn;
  return base + BigInt(size) <= 1n << BigInt(ctx.physAddrBits);
}

/** EVENTINJ: type, vector and mode combinations the processor refuses (§3.2). */
function eventInjBad(v: Vmcb, what: "type" | "vector" | "reserved"): boolean {
  const inj = v.read32(VMCB_EVENT_INJ);
  if ((inj & SVM_EVTINJ_VALID) === 0) return false;
  const type = (inj >>> SVM_EVTINJ_TYPE_SHIFT) & 7;
  const vector = inj & 0xff;
  if (what === "reserved") return (inj & SVM_EVTINJ_RESERVED) !== 0;
  if (what === "type") return type === 1 || type >= 5;
  if (type !== 3) return false;
  if (vector === 2 || vector > 31) return true;
  // #OF and #BR do not exist in 64-bit mode.
  const csL = (v.read16(VMCB_CS + VMCB_SEG_ATTRIB) & SVM_SELECTOR_L_MASK) !== 0;
  return (vector === 4 || vector === 5) && longModeActive(v) && csL;
}

/** The checks, in the order VMRUN makes them. */
export const VMRUN_RULES: readonly Rule[] = [
  {
    name: "VMRUN intercept",
    field: "intercepts[4]",
    size: 4,
    offset: VMCB_INTERCEPT_WORD4,
    fails: (v) => !v.intercept(INTERCEPT_VMRUN),
  },
  {
    name: "ASID nonzero",
    field: "asid",
    size: 4,
    offset: VMCB_ASID,
    fails: (v) => v.read32(VMCB_ASID) === 0,
  },
  {
    name: "NP_ENABLE supported",
    field: "misc_ctl",
    size: 8,
    offset: VMCB_MISC_CTL,
    fails: (v, ctx) => (v.read32(VMCB_MISC_CTL) & SVM_NESTED_CTL_NP_ENABLE) !== 0 && !ctx.npt,
  },
  {
    name: "nCR3 reserved bits",
    field: "nested_cr3",
    size: 8,
    offset: VMCB_NESTED_CR3,
    fails: (v, ctx) =>
      (v.read32(VMCB_MISC_CTL) & SVM_NESTED_CTL_NP_ENABLE) !== 0 &&
      v.read64(VMCB_NESTED_CR3) >> BigInt(ctx.physAddrBits) !== 0n,
  },
  {
    name: "gPAT valid",
    field: "g_pat",
    size: 8,
    offset: VMCB_G_PAT,
    fails: (v) =>
      (v.read32(VMCB_MISC_CTL) & SVM_NESTED_CTL_NP_ENABLE) !== 0 && !patValid(v.read64(VMCB_G_PAT)),
  },
  {
    name: "IOPM within MAXPHYADDR",
    field: "iopm_base_pa",
    size: 8,
    offset: VMCB_IOPM_BASE_PA,
    fails: (v, ctx) => !mapFits(v, VMCB_IOPM_BASE_PA, IOPM_USED_SIZE, ctx),
  },
  {
    name: "MSRPM within MAXPHYADDR",
    field: "msrpm_base_pa",
    size: 8,
    offset: VMCB_MSRPM_BASE_PA,
    fails: (v, ctx) => !mapFits(v, VMCB_MSRPM_BASE_PA, MSRPM_SIZE, ctx),
  },
  {
    name: "EFER.SVME set",
    field: "efer",
    size: 8,
    offset: VMCB_EFER,
    fails: (v) => !bit(v.read64(VMCB_EFER), BigInt(EFER_SVME)),
  },
  {
    name: "EFER reserved bits",
    field: "efer",
    size: 8,
    offset: VMCB_EFER,
    fails: (v, ctx) => {
      const efer = v.read64(VMCB_EFER);
      return bit(efer, EFER_ALWAYS_RESERVED) || bit(efer, ~BigInt(ctx.eferValid) & 0xffffn);
    },
  },
  {
    name: "CR0.CD = 0 with CR0.NW = 1",
    field: "cr0",
    size: 8,
    offset: VMCB_CR0,
    fails: (v) => {
      const cr0 = v.read64(VMCB_CR0);
      return bit(cr0, CR0_NW) && !bit(cr0, CR0_CD);
    },
  },
  {
    name: "CR0[63:32] zero",
    field: "cr0",
    size: 8,
    offset: VMCB_CR0,
    fails: (v) => bit(v.read64(VMCB_CR0), HIGH32),
  },
  {
    name: "CR3 must-be-zero bits",
    field: "cr3",
    size: 8,
    offset: VMCB_CR3,
    fails: (v) => {
      const cr3 = v.read64(VMCB_CR3);
      // Long mode: bits 63:52 (and beyond MAXPHYADDR up to 51 are not checked by VMRUN);
      // legacy modes: a 32-bit register.
      return longModeActive(v) ? cr3 >> 52n !== 0n : bit(cr3, HIGH32);
    },
  },
  {
    name: "CR4 reserved bits",
    field: "cr4",
    size: 8,
    offset: VMCB_CR4,
    fails: (v, ctx) => bit(v.read64(VMCB_CR4), ~BigInt(ctx.cr4Valid) & 0xffff_ffff_ffff_ffffn),
  },
  {
    name: "DR6[63:32] zero",
    field: "dr6",
    size: 8,
    offset: VMCB_DR6,
    fails: (v) => bit(v.read64(VMCB_DR6), HIGH32),
  },
  {
    name: "DR7[63:32] zero",
    field: "dr7",
    size: 8,
    offset: VMCB_DR7,
    fails: (v) => bit(v.read64(VMCB_DR7), HIGH32),
  },
  {
    name: "long mode needs CR4.PAE",
    field: "cr4",
    size: 8,
    offset: VMCB_CR4,
    fails: (v) => longModeActive(v) && !bit(v.read64(VMCB_CR4), CR4_PAE),
  },
  {
    name: "long mode needs CR0.PE",
    field: "cr0",
    size: 8,
    offset: VMCB_CR0,
    fails: (v) => longModeActive(v) && !bit(v.read64(VMCB_CR0), CR0_PE),
  },
  {
    name: "CS.L and CS.D not both set in long mode",
    field: "cs.attrib",
    size: 2,
    offset: VMCB_CS + VMCB_SEG_ATTRIB,
    fails: (v) => {
      const a = v.read16(VMCB_CS + VMCB_SEG_ATTRIB);
      return (
        longModeActive(v) &&
        bit(v.read64(VMCB_CR4), CR4_PAE) &&
        (a & SVM_SELECTOR_L_MASK) !== 0 &&
        (a & SVM_SELECTOR_DB_MASK) !== 0
      );
    },
  },
  {
    name: "EVENTINJ reserved bits",
    field: "event_inj",
    size: 4,
    offset: VMCB_EVENT_INJ,
    fails: (v) => eventInjBad(v, "reserved"),
  },
  {
    name: "EVENTINJ type",
    field: "event_inj",
    size: 4,
    offset: VMCB_EVENT_INJ,
    fails: (v) => eventInjBad(v, "type"),
  },
  {
    name: "EVENTINJ exception vector",
    field: "event_inj",
    size: 4,
    offset: VMCB_EVENT_INJ,
    fails: (v) => eventInjBad(v, "vector"),
  },
];

/** The EFER bits this model implements: SCE, LME, LMA, NXE, SVME. */
export const SVM_EFER_VALID = EFER_SCE | EFER_LME | EFER_LMA | EFER_NX | EFER_SVME;

const hex = (v: bigint): string => `0x${v.toString(16)}`;

/** Run every check in order; the first failure, or null when VMRUN may enter the guest. */
export function vmrunChecks(v: Vmcb, ctx: VmrunContext): VmrunFailure | null {
  for (const r of VMRUN_RULES) {
    if (!r.fails(v, ctx)) continue;
    const value =
      r.size === 2
        ? BigInt(v.read16(r.offset))
        : r.size === 4
          ? BigInt(v.read32(r.offset))
          : v.read64(r.offset);
    return {
      rule: r.name,
      field: r.field,
      offset: r.offset,
      value,
      message: `VMRUN: ${r.name} (${r.field} at 0x${r.offset.toString(16).padStart(3, "0")} = ${hex(value)})`,
    };
  }
  return null;
}
