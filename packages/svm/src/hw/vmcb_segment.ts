/**
 * A VMCB segment record (selector, attrib, limit, base) to and from a segment register
 * of the x86 core, whose attributes are an access-rights word (bit 16: unusable). A
 * record with P clear is unusable, except CS, which the processor always treats as usable.
 */
import { loadSegment, type X86Cpu } from "@glassvm/x86";
import {
  SVM_SELECTOR_P_MASK,
  svmArToAttrib,
  svmAttribToAr,
  VMCB_SEG_ATTRIB,
  VMCB_SEG_BASE,
  VMCB_SEG_LIMIT,
  VMCB_SEG_SELECTOR,
  type Vmcb,
} from "./vmcb.js";

const AR_UNUSABLE = 1 << 16;

/** The VMCB record at `at` into segment register n of `cpu`, with `attrib` as given. */
export function loadVmcbSegment(
  cpu: X86Cpu,
  n: number,
  v: Vmcb,
  at: number,
  attrib = v.read16(at + VMCB_SEG_ATTRIB),
): void {
  let ar = svmAttribToAr(attrib);
  if ((attrib & SVM_SELECTOR_P_MASK) === 0 && n !== 1) ar |= AR_UNUSABLE;
  loadSegment(
    cpu,
    n,
    v.read16(at + VMCB_SEG_SELECTOR),
    v.read32(at + VMCB_SEG_BASE),
    v.readHigh32(at + VMCB_SEG_BASE),
    v.read32(at + VMCB_SEG_LIMIT),
    ar,
  );
}

/** Segment register n of `cpu` into the VMCB record at `at` (unusable: P clear). */
export function storeVmcbSegment(cpu: X86Cpu, n: number, v: Vmcb, at: number): void {
  const ar = cpu.segAr[n]!;
  let attrib = svmArToAttrib(ar);
  if ((ar & AR_UNUSABLE) !== 0) attrib &= ~SVM_SELECTOR_P_MASK;
  v.write16(at + VMCB_SEG_SELECTOR, cpu.segSel[n]!);
  v.write16(at + VMCB_SEG_ATTRIB, attrib);
  v.write32(at + VMCB_SEG_LIMIT, cpu.segLimit[n]!);
  v.write64Halves(at + VMCB_SEG_BASE, cpu.segBase[n]!, cpu.segBaseHi[n]!);
}
