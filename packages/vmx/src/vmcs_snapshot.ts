/**
 * Seeing inside a VMCS: every field this implementation has, with its name, encoding,
 * SDM area, width and value, read as VMREAD would (no instruction, no side effects), and
 * the difference between two snapshots — what an exit changed, for the CLI and the
 * playground. Nothing like it exists on real hardware, whose VMCS layout is secret.
 */
import { type VmcsRegion, vmcsSlot } from "./hw/vmcs_region.js";
import { vmcsValue } from "./hw/vmx_cpu.js";
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
}

/** The fields whose values differ between two snapshots of the same VMCS. */
export function vmcsDiff(before: VmcsSnapshot, after: VmcsSnapshot): VmcsFieldChange[] {
  const old = new Map(before.fields.map((f) => [f.encoding, f.value]));
  const out: VmcsFieldChange[] = [];
  for (const f of after.fields) {
    const b = old.get(f.encoding) ?? 0n;
    if (b !== f.value) {
      out.push({ name: f.name, encoding: f.encoding, area: f.area, before: b, after: f.value });
    }
  }
  return out;
}
