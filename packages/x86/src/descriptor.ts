/**
 * Segment descriptors and gates (SDM Vol. 3 §3.4.5, §5.8, §6.11; Bochs descriptor.h).
 * A descriptor is read as two dwords; its access rights map straight onto the VMCS /
 * kvm_segment layout: `ar = (hi >> 8) & 0xf0ff`.
 */
import { linRead32, scaleLimit } from "./access.js";
import type { X86Cpu } from "./cpu.js";
import { AR_DPL_SHIFT, AR_P, AR_S, AR_UNUSABLE, LDTR } from "./regs.js";
import { GDTR_BASE, GDTR_LIMIT, STOP, STOP_FAULT } from "./state.js";

export function descAr(hi: number): number {
  return (hi >> 8) & 0xf0ff;
}
export function descBase(lo: number, hi: number): number {
  return (lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff00_0000) | 0;
}
export function descLimit(lo: number, hi: number): number {
  return scaleLimit((lo & 0xffff) | (hi & 0x000f_0000), descAr(hi));
}
export function descDpl(hi: number): number {
  return (hi >> 13) & 3;
}
export function descPresent(hi: number): boolean {
  return (hi & 0x8000) !== 0;
}
/** The 5-bit type including S (bit 4): 0x00–0x0F system, 0x10–0x1F code/data. */
export function descType(hi: number): number {
  return (hi >> 8) & 0x1f;
}

// Gates.
export function gateOffset(lo: number, hi: number): number {
  return (lo & 0xffff) | (hi & 0xffff_0000) | 0;
}
export function gateSelector(lo: number): number {
  return lo >>> 16;
}
export function gateParamCount(hi: number): number {
  return hi & 0x1f;
}

// System descriptor types (S = 0).
export const SYS_TSS16_AVAIL = 1;
export const SYS_LDT = 2;
export const SYS_TSS16_BUSY = 3;
export const SYS_CALL_GATE16 = 4;
export const SYS_TASK_GATE = 5;
export const SYS_INT_GATE16 = 6;
export const SYS_TRAP_GATE16 = 7;
export const SYS_TSS32_AVAIL = 9;
export const SYS_TSS32_BUSY = 11;
export const SYS_CALL_GATE32 = 12;
export const SYS_INT_GATE32 = 14;
export const SYS_TRAP_GATE32 = 15;

/** The last descriptor read by fetchDescriptor: [0] low dword, [1] high dword, [2] linear address. */
export const DESC = new Int32Array(3);

/**
 * Read the descriptor `selector` names from the GDT or LDT into DESC. Returns false when
 * the selector's index is beyond the table limit (the caller raises the fault its
 * instruction defines) or when reading faulted (STOP_FAULT already set).
 */
export function fetchDescriptor(cpu: X86Cpu, selector: number): boolean {
  const index = selector & 0xfff8;
  let base: number;
  let limit: number;
  if (selector & 4) {
    if (cpu.segAr[LDTR]! & AR_UNUSABLE || (cpu.segSel[LDTR]! & 0xfffc) === 0) return false;
    base = cpu.segBase[LDTR]!;
    limit = cpu.segLimit[LDTR]! >>> 0;
  } else {
    base = cpu.st[GDTR_BASE]!;
    limit = cpu.st[GDTR_LIMIT]! >>> 0;
  }
  if (index + 7 > limit) return false;
  const lin = (base + index) | 0;
  DESC[0] = linRead32(cpu, lin);
  DESC[1] = linRead32(cpu, (lin + 4) | 0);
  DESC[2] = lin;
  return cpu.st[STOP] !== STOP_FAULT;
}

/** Load a segment register's cache from a descriptor already checked by the caller. */
export function loadSegmentCache(
  cpu: X86Cpu,
  seg: number,
  selector: number,
  lo: number,
  hi: number,
): void {
  cpu.segSel[seg] = selector;
  cpu.segBase[seg] = descBase(lo, hi);
  cpu.segBaseHi[seg] = 0;
  cpu.segLimit[seg] = descLimit(lo, hi) | 0;
  cpu.segAr[seg] = descAr(hi);
}

/** A null selector in a data segment register: unusable (SDM §3.4.2; VMCS AR bit 16). */
export function loadNullSegment(cpu: X86Cpu, seg: number, selector: number): void {
  cpu.segSel[seg] = selector;
  cpu.segBase[seg] = 0;
  cpu.segBaseHi[seg] = 0;
  cpu.segLimit[seg] = 0;
  cpu.segAr[seg] = AR_UNUSABLE;
}

/** A real-mode or VM86 segment load: selector and base only (SDM §20.1.1). */
export function loadSegmentReal(cpu: X86Cpu, seg: number, selector: number): void {
  cpu.segSel[seg] = selector;
  cpu.segBase[seg] = (selector & 0xffff) << 4;
  cpu.segBaseHi[seg] = 0;
  if (cpu.segAr[seg]! & AR_UNUSABLE) {
    cpu.segAr[seg] = AR_P | AR_S | 3;
    cpu.segLimit[seg] = 0xffff;
  }
}

export { AR_DPL_SHIFT };
