/**
 * Seeing inside a VMCS: every field this implementation has, with its name, encoding,
 * SDM area, width and value, read as VMREAD would (no instruction, no side effects), and
 * the difference between two snapshots — what an exit changed, for the CLI and the
 * playground. Nothing like it exists on real hardware, whose VMCS layout is secret.
 */
import { type VmcsRegion, vmcsSlot } from "./hw/vmcs_region.js";
import { type VmcsWriter, type VmxCpu, vmcsValue } from "./hw/vmx_cpu.js";
import { VMCS_FIELDS, type VmcsArea, type VmcsWidth } from "./vmcs-fields.js";

export interface VmcsFieldValue {
  readonly name: string;
  readonly encoding: number;
  readonly area: VmcsArea;
  readonly width: VmcsWidth;
  readonly readOnly: boolean;
  readonly value: bigint;
}

export interface VmcsSnapshot {
  /** Physical address of the VMCS region. */
  readonly pa: number;
  readonly revisionId: number;
  readonly abortIndicator: number;
  /** "clear" or "launched". */
  readonly launchState: "clear" | "launched";
  /** Every field, in the SDM's order of areas. */
  readonly fields: readonly VmcsFieldValue[];
}

/** Read every field of a VMCS region. */
export function vmcsSnapshot(v: VmcsRegion): VmcsSnapshot {
  return {
    pa: v.pa,
    revisionId: v.revisionId,
    abortIndicator: v.abortIndicator,
    launchState: v.launchState === 0 ? "clear" : "launched",
    fields: VMCS_FIELDS.map((f) => ({
      name: f.name,
      encoding: f.encoding,
      area: f.area,
      width: f.width,
      readOnly: f.readOnly,
      value: vmcsValue(v, vmcsSlot(f.encoding), f),
    })),
  };
}

export interface VmcsFieldChange {
  readonly name: string;
  readonly encoding: number;
  readonly area: VmcsArea;
  readonly before: bigint;
  readonly after: bigint;
  /** Who wrote it last, when a VmcsProvenance was watching. */
  readonly by?: VmcsWriter;
}

/**
 * Records who last wrote each field of each VMCS (software through VMWRITE, or the CPU
 * on a VM exit or a failed instruction), from the moment it is attached.
 */
export class VmcsProvenance {
  private readonly last = new Map<number, Map<number, VmcsWriter>>();
  private readonly previous: VmxCpu["onFieldWrite"];

  constructor(private readonly cpu: VmxCpu) {
    this.previous = cpu.onFieldWrite;
    cpu.onFieldWrite = (pa, encoding, by) => {
      this.previous?.(pa, encoding, by);
      let m = this.last.get(pa);
      if (!m) {
        m = new Map();
        this.last.set(pa, m);
      }
      m.set(encoding, by);
    };
  }

  /** The last writer of a field of the VMCS at `pa`, if it was written while watching. */
  writer(pa: number, encoding: number): VmcsWriter | undefined {
    return this.last.get(pa)?.get(encoding);
  }

  /** Forget what was recorded (e.g. at each VM entry, to see one exit's writes). */
  reset(): void {
    this.last.clear();
  }

  detach(): void {
    this.cpu.onFieldWrite = this.previous;
  }
}

/** The fields whose values differ between two snapshots of the same VMCS, with their writer. */
export function vmcsDiff(
  before: VmcsSnapshot,
  after: VmcsSnapshot,
  provenance?: VmcsProvenance,
): VmcsFieldChange[] {
  const old = new Map(before.fields.map((f) => [f.encoding, f.value]));
  const out: VmcsFieldChange[] = [];
  for (const f of after.fields) {
    const b = old.get(f.encoding) ?? 0n;
    if (b === f.value) continue;
    const by = provenance?.writer(after.pa, f.encoding);
    const change = { name: f.name, encoding: f.encoding, area: f.area, before: b, after: f.value };
    out.push(by ? { ...change, by } : change);
  }
  return out;
}
