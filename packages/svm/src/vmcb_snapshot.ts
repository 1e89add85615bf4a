/**
 * Seeing inside a VMCB: every architectural field with its Linux name, offset, width and
 * value, and the difference between two snapshots — what a #VMEXIT (or kvm_amd) changed,
 * for the CLI and the playground. Unlike the VMCS, this is just reading memory.
 */
import {
  VMCB_ASID,
  VMCB_CLEAN,
  VMCB_CPL,
  VMCB_CR0,
  VMCB_CR2,
  VMCB_CR3,
  VMCB_CR4,
  VMCB_CSTAR,
  VMCB_DR6,
  VMCB_DR7,
  VMCB_EFER,
  VMCB_EVENT_INJ,
  VMCB_EVENT_INJ_ERR,
  VMCB_EXIT_CODE,
  VMCB_EXIT_INFO_1,
  VMCB_EXIT_INFO_2,
  VMCB_EXIT_INT_INFO,
  VMCB_EXIT_INT_INFO_ERR,
  VMCB_G_PAT,
  VMCB_GDTR,
  VMCB_IDTR,
  VMCB_INSN_LEN,
  VMCB_INT_CTL,
  VMCB_INT_STATE,
  VMCB_INT_VECTOR,
  VMCB_INTERCEPTS,
  VMCB_IOPM_BASE_PA,
  VMCB_KERNEL_GS_BASE,
  VMCB_LSTAR,
  VMCB_MISC_CTL,
  VMCB_MISC_CTL2,
  VMCB_MSRPM_BASE_PA,
  VMCB_NESTED_CR3,
  VMCB_NEXT_RIP,
  VMCB_PAUSE_FILTER_COUNT,
  VMCB_PAUSE_FILTER_THRESH,
  VMCB_RAX,
  VMCB_RFLAGS,
  VMCB_RIP,
  VMCB_RSP,
  VMCB_SEG_ATTRIB,
  VMCB_SEG_BASE,
  VMCB_SEG_LIMIT,
  VMCB_SEG_SELECTOR,
  VMCB_SEGMENTS,
  VMCB_SFMASK,
  VMCB_STAR,
  VMCB_SYSENTER_CS,
  VMCB_SYSENTER_EIP,
  VMCB_SYSENTER_ESP,
  VMCB_TLB_CTL,
  VMCB_TSC_OFFSET,
  type Vmcb,
  type VmcbWriter,
  watchVmcbWrites,
} from "./hw/vmcb.js";

export type VmcbArea = "control" | "save";
export type VmcbWidth = 8 | 16 | 32 | 64;

export interface VmcbFieldInfo {
  /** Linux's name (struct vmcb_control_area / vmcb_save_area, segments as "cs.base"). */
  readonly name: string;
  readonly offset: number;
  readonly width: VmcbWidth;
  readonly area: VmcbArea;
}

const SEG_NAMES = ["es", "cs", "ss", "ds", "fs", "gs", "ldtr", "tr"] as const;

const control: ReadonlyArray<readonly [string, number, VmcbWidth]> = [
  ...Array.from(
    { length: 6 },
    (_, i) => [`intercepts[${i}]`, VMCB_INTERCEPTS + 4 * i, 32] as const,
  ),
  ["pause_filter_thresh", VMCB_PAUSE_FILTER_THRESH, 16],
  ["pause_filter_count", VMCB_PAUSE_FILTER_COUNT, 16],
  ["iopm_base_pa", VMCB_IOPM_BASE_PA, 64],
  ["msrpm_base_pa", VMCB_MSRPM_BASE_PA, 64],
  ["tsc_offset", VMCB_TSC_OFFSET, 64],
  ["asid", VMCB_ASID, 32],
  ["tlb_ctl", VMCB_TLB_CTL, 8],
  ["int_ctl", VMCB_INT_CTL, 32],
  ["int_vector", VMCB_INT_VECTOR, 32],
  ["int_state", VMCB_INT_STATE, 32],
  ["exit_code", VMCB_EXIT_CODE, 64],
  ["exit_info_1", VMCB_EXIT_INFO_1, 64],
  ["exit_info_2", VMCB_EXIT_INFO_2, 64],
  ["exit_int_info", VMCB_EXIT_INT_INFO, 32],
  ["exit_int_info_err", VMCB_EXIT_INT_INFO_ERR, 32],
  ["misc_ctl", VMCB_MISC_CTL, 64],
  ["event_inj", VMCB_EVENT_INJ, 32],
  ["event_inj_err", VMCB_EVENT_INJ_ERR, 32],
  ["nested_cr3", VMCB_NESTED_CR3, 64],
  ["misc_ctl2", VMCB_MISC_CTL2, 64],
  ["clean", VMCB_CLEAN, 32],
  ["next_rip", VMCB_NEXT_RIP, 64],
  ["insn_len", VMCB_INSN_LEN, 8],
];

const save: ReadonlyArray<readonly [string, number, VmcbWidth]> = [
  ...SEG_NAMES.flatMap((s, i) => {
    const at = VMCB_SEGMENTS[i]!;
    return [
      [`${s}.selector`, at + VMCB_SEG_SELECTOR, 16],
      [`${s}.attrib`, at + VMCB_SEG_ATTRIB, 16],
      [`${s}.limit`, at + VMCB_SEG_LIMIT, 32],
      [`${s}.base`, at + VMCB_SEG_BASE, 64],
    ] as const;
  }),
  ["gdtr.limit", VMCB_GDTR + VMCB_SEG_LIMIT, 32],
  ["gdtr.base", VMCB_GDTR + VMCB_SEG_BASE, 64],
  ["idtr.limit", VMCB_IDTR + VMCB_SEG_LIMIT, 32],
  ["idtr.base", VMCB_IDTR + VMCB_SEG_BASE, 64],
  ["cpl", VMCB_CPL, 8],
  ["efer", VMCB_EFER, 64],
  ["cr4", VMCB_CR4, 64],
  ["cr3", VMCB_CR3, 64],
  ["cr0", VMCB_CR0, 64],
  ["dr7", VMCB_DR7, 64],
  ["dr6", VMCB_DR6, 64],
  ["rflags", VMCB_RFLAGS, 64],
  ["rip", VMCB_RIP, 64],
  ["rsp", VMCB_RSP, 64],
  ["rax", VMCB_RAX, 64],
  ["star", VMCB_STAR, 64],
  ["lstar", VMCB_LSTAR, 64],
  ["cstar", VMCB_CSTAR, 64],
  ["sfmask", VMCB_SFMASK, 64],
  ["kernel_gs_base", VMCB_KERNEL_GS_BASE, 64],
  ["sysenter_cs", VMCB_SYSENTER_CS, 64],
  ["sysenter_esp", VMCB_SYSENTER_ESP, 64],
  ["sysenter_eip", VMCB_SYSENTER_EIP, 64],
  ["cr2", VMCB_CR2, 64],
  ["g_pat", VMCB_G_PAT, 64],
];

/** The VMCB fields this model reads or writes, control area first, in offset order. */
export const VMCB_FIELDS: readonly VmcbFieldInfo[] = [
  ...control.map(([name, offset, width]) => ({ name, offset, width, area: "control" as const })),
  ...save
    .map(([name, offset, width]) => ({ name, offset, width, area: "save" as const }))
    .sort((a, b) => a.offset - b.offset),
];

export interface VmcbFieldValue extends VmcbFieldInfo {
  readonly value: bigint;
}

export interface VmcbSnapshot {
  readonly pa: number;
  readonly fields: readonly VmcbFieldValue[];
}

function read(v: Vmcb, f: VmcbFieldInfo): bigint {
  switch (f.width) {
    case 8:
      return BigInt(v.read8(f.offset));
    case 16:
      return BigInt(v.read16(f.offset));
    case 32:
      return BigInt(v.read32(f.offset));
    default:
      return v.read64(f.offset);
  }
}

/** Read every field of a VMCB. */
export function vmcbSnapshot(v: Vmcb): VmcbSnapshot {
  return { pa: v.pa, fields: VMCB_FIELDS.map((f) => ({ ...f, value: read(v, f) })) };
}

export interface VmcbFieldChange {
  readonly name: string;
  readonly offset: number;
  readonly area: VmcbArea;
  readonly before: bigint;
  readonly after: bigint;
  /** Who wrote it last, when a VmcbProvenance was watching. */
  readonly by?: VmcbWriter;
}

/**
 * The last writer of each VMCB field while it watches (like vmx's VmcsProvenance): kvm_amd
 * and other software, the processor at #VMEXIT, or VMSAVE. A field counts as written when
 * a write starts inside it.
 */
export class VmcbProvenance {
  private readonly last = new Map<number, Map<number, VmcbWriter>>();
  private readonly remove: () => void;

  constructor() {
    this.remove = watchVmcbWrites((pa, offset, by) => {
      let m = this.last.get(pa);
      if (!m) {
        m = new Map();
        this.last.set(pa, m);
      }
      m.set(offset, by);
    });
  }

  /** The last writer of the field at `offset` of the VMCB at `pa` (any write within it). */
  writer(pa: number, field: { offset: number; width: number }): VmcbWriter | undefined {
    const m = this.last.get(pa);
    if (!m) return undefined;
    let by: VmcbWriter | undefined;
    for (let o = field.offset; o < field.offset + field.width / 8; o++) by = m.get(o) ?? by;
    return by;
  }

  /** Forget what was recorded (e.g. before each VMRUN, to see one exit's writes). */
  reset(): void {
    this.last.clear();
  }

  detach(): void {
    this.remove();
  }
}

/** The fields whose value differs between two snapshots of the same VMCB, with their writer. */
export function vmcbDiff(
  before: VmcbSnapshot,
  after: VmcbSnapshot,
  provenance?: VmcbProvenance,
): VmcbFieldChange[] {
  const out: VmcbFieldChange[] = [];
  before.fields.forEach((f, i) => {
    const a = after.fields[i]!.value;
    if (a === f.value) return;
    const change = { name: f.name, offset: f.offset, area: f.area, before: f.value, after: a };
    const by = provenance?.writer(after.pa, f);
    out.push(by ? { ...change, by } : change);
  });
  return out;
}
