/**
 * Hardware task switching (SDM Vol. 3 §7.3; Bochs tasking.cc): JMP or CALL to a TSS or a
 * task gate, IRET with EFLAGS.NT, and task gates in the IDT. The new TSS is read first;
 * then the old task's state is saved, busy bits and the back link are updated, TR, CR0.TS
 * and the registers are loaded (the commit point); the new task's LDT and segments are
 * validated last, so a fault there is delivered in the context of the new task (#TS, #NP,
 * #SS with the offending selector).
 */
import {
  linRead8,
  linRead16,
  linRead32,
  linWrite8,
  linWrite16,
  linWrite32,
  recomputeSegment,
} from "./access.js";
import type { X86Cpu } from "./cpu.js";
import {
  DESC,
  descBase,
  descDpl,
  descLimit,
  descPresent,
  descType,
  fetchDescriptor,
  gateSelector,
  loadSegmentCache,
  SYS_LDT,
  SYS_TSS16_AVAIL,
  SYS_TSS32_AVAIL,
} from "./descriptor.js";
import { raiseFault } from "./exception.js";
import { EV_TASK_SWITCH, HOOK_EXIT } from "./hooks.js";
import { getFlags, setFlags } from "./lazy_flags.js";
import { flushNonGlobal, loadPdptesQuiet, PAGING_PAE, pagingMode, setCpl } from "./paging.js";
import {
  AR_UNUSABLE,
  CR0_PG,
  CR0_TS,
  CS,
  DS,
  ES,
  FLAG_NT,
  FLAG_VM,
  FS,
  GP_VECTOR,
  GS,
  LDTR,
  NP_VECTOR,
  SS,
  SS_VECTOR,
  TR,
  TS_VECTOR,
} from "./regs.js";
import { CPL, CR0, CR3, EIP, EXIT_REASON, GDTR_BASE, STOP, STOP_FAULT } from "./state.js";

/** Why the task switch happens (hooks.ts EV_TASK_SWITCH, exitInfo[2]). */
export const TASK_CALL = 0;
export const TASK_IRET = 1;
export const TASK_JMP = 2;
/** A task gate in the IDT (an interrupt or exception). */
export const TASK_GATE = 3;

// The new task's state, read before anything changes.
const N_EIP = 0;
const N_EFLAGS = 1;
const N_GPR = 2; // 8 registers
const N_SEL = 10; // ES CS SS DS FS GS
const N_LDT = 16;
const N_CR3 = 17;
const NEW = new Int32Array(18);

function faulted(cpu: X86Cpu): boolean {
  return cpu.st[STOP] === STOP_FAULT;
}

/** Set or clear the busy bit (type bit 1) of the TSS descriptor `selector` in the GDT. */
function setBusy(cpu: X86Cpu, selector: number, busy: boolean): void {
  const at = (cpu.st[GDTR_BASE]! + (selector & 0xfff8) + 5) | 0;
  const b = linRead8(cpu, at);
  linWrite8(cpu, at, busy ? b | 2 : b & ~2);
}

/** Set the accessed bit of the descriptor fetchDescriptor left in DESC. */
function markAccessed(cpu: X86Cpu): void {
  if ((DESC[1]! & 0x100) !== 0) return;
  const at = (DESC[2]! + 5) | 0;
  linWrite8(cpu, at, linRead8(cpu, at) | 1);
  DESC[1] = DESC[1]! | 0x100;
}

/**
 * Switch to the task whose TSS descriptor is `lo`/`hi` (selector `sel`, already checked
 * for type, privilege and presence by the caller). `nextEip` is the EIP saved in the old
 * TSS. Returns true when the new task is running; false after a fault (raised before the
 * commit point in the old task, after it in the new) or when the hook claimed the switch.
 */
export function taskSwitch(
  cpu: X86Cpu,
  sel: number,
  lo: number,
  hi: number,
  source: number,
  nextEip: number,
): boolean {
  const st = cpu.st;
  if (cpu.hooks !== null) {
    const x = cpu.exitInfo;
    x[0] = EV_TASK_SWITCH;
    x[1] = sel;
    x[2] = source;
    if (cpu.hooks.onEvent(cpu, EV_TASK_SWITCH) === HOOK_EXIT) {
      st[STOP] = STOP_FAULT;
      st[EXIT_REASON] = 3;
      return false;
    }
  }
  const err = sel & 0xfffc;
  const newTss32 = (descType(hi) & 8) !== 0;
  const base = descBase(lo, hi);
  if (descLimit(lo, hi) >>> 0 < (newTss32 ? 0x67 : 0x2b)) {
    raiseFault(cpu, TS_VECTOR, err);
    return false;
  }

  // Read the new task's state.
  if (newTss32) {
    NEW[N_CR3] = linRead32(cpu, (base + 0x1c) | 0);
    NEW[N_EIP] = linRead32(cpu, (base + 0x20) | 0);
    NEW[N_EFLAGS] = linRead32(cpu, (base + 0x24) | 0);
    for (let r = 0; r < 8; r++) NEW[N_GPR + r] = linRead32(cpu, (base + 0x28 + 4 * r) | 0);
    for (let s = 0; s < 6; s++) NEW[N_SEL + s] = linRead16(cpu, (base + 0x48 + 4 * s) | 0);
    NEW[N_LDT] = linRead16(cpu, (base + 0x60) | 0);
  } else {
    // A 16-bit TSS: the upper halves of the GPRs become FFFFh, FS and GS null (Bochs).
    NEW[N_CR3] = 0;
    NEW[N_EIP] = linRead16(cpu, (base + 0x0e) | 0);
    NEW[N_EFLAGS] = linRead16(cpu, (base + 0x10) | 0);
    for (let r = 0; r < 8; r++) {
      NEW[N_GPR + r] = linRead16(cpu, (base + 0x12 + 2 * r) | 0) | (0xffff_0000 | 0);
    }
    for (let s = 0; s < 4; s++) NEW[N_SEL + s] = linRead16(cpu, (base + 0x22 + 2 * s) | 0);
    NEW[N_SEL + FS] = 0;
    NEW[N_SEL + GS] = 0;
    NEW[N_LDT] = linRead16(cpu, (base + 0x2a) | 0);
  }
  if (faulted(cpu)) return false;

  // Save the old task.
  const oldSel = cpu.segSel[TR]!;
  const oldBase = cpu.segBase[TR]!;
  const oldTss32 = (cpu.segAr[TR]! & 8) !== 0;
  if (source === TASK_JMP || source === TASK_IRET) setBusy(cpu, oldSel, false);
  let flags = getFlags(st);
  if (source === TASK_IRET) flags &= ~FLAG_NT;
  const regs = cpu.regs;
  if (oldTss32) {
    linWrite32(cpu, (oldBase + 0x20) | 0, nextEip);
    linWrite32(cpu, (oldBase + 0x24) | 0, flags);
    for (let r = 0; r < 8; r++) linWrite32(cpu, (oldBase + 0x28 + 4 * r) | 0, regs[r]!);
    for (let s = 0; s < 6; s++) linWrite16(cpu, (oldBase + 0x48 + 4 * s) | 0, cpu.segSel[s]!);
  } else {
    linWrite16(cpu, (oldBase + 0x0e) | 0, nextEip);
    linWrite16(cpu, (oldBase + 0x10) | 0, flags);
    for (let r = 0; r < 8; r++) linWrite16(cpu, (oldBase + 0x12 + 2 * r) | 0, regs[r]!);
    for (let s = 0; s < 4; s++) linWrite16(cpu, (oldBase + 0x22 + 2 * s) | 0, cpu.segSel[s]!);
  }
  let newFlags = NEW[N_EFLAGS]!;
  if (source === TASK_CALL || source === TASK_GATE) {
    linWrite16(cpu, base, oldSel);
    newFlags |= FLAG_NT;
  }
  if (source !== TASK_IRET) setBusy(cpu, sel, true);
  if (faulted(cpu)) return false;

  // Commit: TR, CR0.TS, CR3, EIP, EFLAGS, GPRs, raw selectors.
  loadSegmentCache(cpu, TR, sel, lo, hi | 0x200);
  st[CR0] = st[CR0]! | CR0_TS;
  if (newTss32 && (st[CR0]! & CR0_PG) !== 0) {
    st[CR3] = NEW[N_CR3]!;
    if (pagingMode(cpu) === PAGING_PAE) loadPdptesQuiet(cpu);
    flushNonGlobal(cpu);
  }
  st[EIP] = NEW[N_EIP]!;
  setFlags(st, newTss32 ? newFlags & 0x003f_7fd5 : newFlags & 0x7fd5);
  for (let r = 0; r < 8; r++) regs[r] = NEW[N_GPR + r]!;
  for (let s = 0; s <= GS; s++) {
    cpu.segSel[s] = NEW[N_SEL + s]!;
    cpu.segAr[s] = AR_UNUSABLE;
    recomputeSegment(cpu, s);
  }
  cpu.segSel[LDTR] = NEW[N_LDT]!;
  cpu.segAr[LDTR] = AR_UNUSABLE;
  const vm = (newFlags & FLAG_VM) !== 0 && newTss32;
  setCpl(cpu, vm ? 3 : NEW[N_SEL + CS]! & 3);

  // The LDT first: the segment descriptors may live in it.
  const ldt = NEW[N_LDT]!;
  if ((ldt & 0xfffc) !== 0) {
    if (ldt & 4) {
      raiseFault(cpu, TS_VECTOR, ldt & 0xfffc);
      return false;
    }
    if (!fetchDescriptor(cpu, ldt)) {
      if (!faulted(cpu)) raiseFault(cpu, TS_VECTOR, ldt & 0xfffc);
      return false;
    }
    if (descType(DESC[1]!) !== SYS_LDT || !descPresent(DESC[1]!)) {
      raiseFault(cpu, TS_VECTOR, ldt & 0xfffc);
      return false;
    }
    loadSegmentCache(cpu, LDTR, ldt, DESC[0]!, DESC[1]!);
  }

  if (vm) {
    for (let s = 0; s <= GS; s++) {
      const v = NEW[N_SEL + s]!;
      cpu.segBase[s] = v << 4;
      cpu.segLimit[s] = 0xffff;
      cpu.segAr[s] = 0xf3 | (s === CS ? 8 : 0);
      recomputeSegment(cpu, s);
    }
  } else if (
    !loadTaskCs(cpu, NEW[N_SEL + CS]!) ||
    !loadTaskSs(cpu, NEW[N_SEL + SS]!) ||
    !loadTaskData(cpu, ES, NEW[N_SEL + ES]!) ||
    !loadTaskData(cpu, DS, NEW[N_SEL + DS]!) ||
    !loadTaskData(cpu, FS, NEW[N_SEL + FS]!) ||
    !loadTaskData(cpu, GS, NEW[N_SEL + GS]!)
  ) {
    return false;
  }
  if (st[EIP]! >>> 0 > cpu.segLimit[CS]! >>> 0) {
    raiseFault(cpu, GP_VECTOR, 0);
    return false;
  }
  return true;
}

/** Look up `sel` for a segment of the new task; false after raising #TS(sel). */
function taskDescriptor(cpu: X86Cpu, sel: number): boolean {
  if (!fetchDescriptor(cpu, sel)) {
    if (!faulted(cpu)) raiseFault(cpu, TS_VECTOR, sel & 0xfffc);
    return false;
  }
  return true;
}

function loadTaskCs(cpu: X86Cpu, sel: number): boolean {
  const err = sel & 0xfffc;
  if (err === 0) {
    raiseFault(cpu, TS_VECTOR, 0);
    return false;
  }
  if (!taskDescriptor(cpu, sel)) return false;
  const hi = DESC[1]!;
  const type = descType(hi);
  const dpl = descDpl(hi);
  const rpl = sel & 3;
  if ((type & 0x18) !== 0x18 || (type & 4 ? dpl > rpl : dpl !== rpl)) {
    raiseFault(cpu, TS_VECTOR, err);
    return false;
  }
  if (!descPresent(hi)) {
    raiseFault(cpu, NP_VECTOR, err);
    return false;
  }
  markAccessed(cpu);
  loadSegmentCache(cpu, CS, sel, DESC[0]!, DESC[1]!);
  recomputeSegment(cpu, CS);
  return !faulted(cpu);
}

function loadTaskSs(cpu: X86Cpu, sel: number): boolean {
  const err = sel & 0xfffc;
  const cpl = cpu.st[CPL]!;
  if (err === 0) {
    raiseFault(cpu, TS_VECTOR, 0);
    return false;
  }
  if (!taskDescriptor(cpu, sel)) return false;
  const hi = DESC[1]!;
  if ((sel & 3) !== cpl || descDpl(hi) !== cpl || (descType(hi) & 0x1a) !== 0x12) {
    raiseFault(cpu, TS_VECTOR, err);
    return false;
  }
  if (!descPresent(hi)) {
    raiseFault(cpu, SS_VECTOR, err);
    return false;
  }
  markAccessed(cpu);
  loadSegmentCache(cpu, SS, sel, DESC[0]!, DESC[1]!);
  recomputeSegment(cpu, SS);
  return !faulted(cpu);
}

function loadTaskData(cpu: X86Cpu, seg: number, sel: number): boolean {
  const err = sel & 0xfffc;
  if (err === 0) return true; // stays unusable
  if (!taskDescriptor(cpu, sel)) return false;
  const hi = DESC[1]!;
  const type = descType(hi);
  const dpl = descDpl(hi);
  const cpl = cpu.st[CPL]!;
  if (
    (type & 0x10) === 0 ||
    (type & 0x1a) === 0x18 ||
    ((type & 0x1c) !== 0x1c && (dpl < cpl || (sel & 3) > dpl))
  ) {
    raiseFault(cpu, TS_VECTOR, err);
    return false;
  }
  if (!descPresent(hi)) {
    raiseFault(cpu, NP_VECTOR, err);
    return false;
  }
  markAccessed(cpu);
  loadSegmentCache(cpu, seg, sel, DESC[0]!, DESC[1]!);
  recomputeSegment(cpu, seg);
  return !faulted(cpu);
}

/**
 * Switch through a task gate (JMP/CALL, or an IDT entry with `ext` = EXT bit): the TSS
 * selector must name an available TSS in the GDT (#GP(sel + ext)), present (#NP).
 */
export function switchThroughTaskGate(
  cpu: X86Cpu,
  gateLo: number,
  source: number,
  nextEip: number,
  ext: number,
): boolean {
  const sel = gateSelector(gateLo);
  return switchToTss(cpu, sel, source, nextEip, ext);
}

/**
 * Fetch and check the TSS descriptor `sel` (available, in the GDT, present), then switch.
 * For JMP/CALL naming a TSS directly the caller has already checked its DPL.
 */
export function switchToTss(
  cpu: X86Cpu,
  sel: number,
  source: number,
  nextEip: number,
  ext: number,
): boolean {
  const err = (sel & 0xfffc) | ext;
  if (sel & 4) {
    raiseFault(cpu, GP_VECTOR, err);
    return false;
  }
  if (!fetchDescriptor(cpu, sel)) {
    if (!faulted(cpu)) raiseFault(cpu, GP_VECTOR, err);
    return false;
  }
  const lo = DESC[0]!;
  const hi = DESC[1]!;
  const type = descType(hi);
  if (type !== SYS_TSS16_AVAIL && type !== SYS_TSS32_AVAIL) {
    raiseFault(cpu, GP_VECTOR, err);
    return false;
  }
  if (!descPresent(hi)) {
    raiseFault(cpu, NP_VECTOR, err);
    return false;
  }
  return taskSwitch(cpu, sel, lo, hi, source, nextEip);
}

/** The back link of the current TSS (IRET with NT = 1). */
export function backLink(cpu: X86Cpu): number {
  return linRead16(cpu, cpu.segBase[TR]!);
}
