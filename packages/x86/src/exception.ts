/**
 * Exceptions and interrupts (SDM Vol. 3 Ch. 6; Bochs exception.cc, interrupt.cc): fault
 * and trap delivery through the real-mode IVT or the protected-mode IDT, double-fault
 * classification (Table 6-5), triple fault (shutdown), external interrupts, NMI, the
 * interrupt shadow and the single-step trap. Nothing here throws: a guest fault is an
 * event delivered to the guest, a shutdown is an exit reason.
 */
import {
  getSp,
  linRead8,
  linRead16,
  linRead32,
  linWrite8,
  push16,
  push32,
  recomputeSegment,
  setSp,
  stack32,
} from "./access.js";
import { addr64, canonical, linRead64, writeQ } from "./access64.js";
import type { X86Cpu } from "./cpu.js";
import {
  DESC,
  descDpl,
  descLimit,
  descPresent,
  descType,
  fetchDescriptor,
  gateOffset,
  gateSelector,
  loadNullSegment,
  loadSegmentCache,
  loadSegmentReal,
  SYS_INT_GATE16,
  SYS_INT_GATE32,
  SYS_TASK_GATE,
  SYS_TRAP_GATE16,
  SYS_TRAP_GATE32,
} from "./descriptor.js";
import {
  EV_EXCEPTION,
  EV_EXT_INTR,
  EV_INTR_WINDOW,
  EV_NMI,
  EV_NMI_WINDOW,
  EV_TRIPLE_FAULT,
  HOOK_EXIT,
} from "./hooks.js";
import { getFlags, setFlags } from "./lazy_flags.js";
import { ACC_IMPLICIT, setCpl } from "./paging.js";
import {
  AR_DB,
  AR_TYPE_CODE,
  AR_TYPE_EC,
  CS,
  DB_VECTOR,
  DF_VECTOR,
  DS,
  EFER_LMA,
  ES,
  FLAG_AC,
  FLAG_IF,
  FLAG_NT,
  FLAG_RF,
  FLAG_TF,
  FLAG_VM,
  FS,
  GP_VECTOR,
  GS,
  NMI_VECTOR,
  NP_VECTOR,
  PF_VECTOR,
  SS,
  SS_VECTOR,
  TR,
  TS_VECTOR,
} from "./regs.js";
import {
  CPL,
  DR_BASE,
  EA_HI,
  EFER,
  EIP,
  EVENT_DEPTH,
  EVENT_ERROR,
  EVENT_KIND,
  EVENT_VECTOR,
  EXIT_REASON,
  FLAGS,
  HALTED,
  IDTR_BASE,
  IDTR_BASE_HI,
  IDTR_LIMIT,
  INHIBIT,
  INTR_LINE,
  INTR_VECTOR,
  NMI_BLOCKED,
  NMI_PENDING,
  PENDING,
  RIP_HI,
  STOP,
  STOP_FAULT,
  STOP_JUMP,
  VAL_HI,
} from "./state.js";
import { switchThroughTaskGate, TASK_GATE } from "./tasking.js";

/** A fault: the saved EIP is the faulting instruction's. */
export const EVENT_FAULT = 0;
/** A trap raised by an instruction that retires (INT n, INT3, INTO, INT1): EIP is the next. */
export const EVENT_SOFTWARE = 1;
/**
 * INT1 (F1, ICEBP): a "privileged software exception" — it retires and returns after
 * itself like INT n, but is delivered like a hardware event: no gate DPL check, EXT = 1.
 */
export const EVENT_PRIV_SOFTWARE = 4;
/** An external interrupt or NMI, taken between instructions. */
export const EVENT_EXTERNAL = 2;
/** A debug trap after an instruction retired (single-step): EIP is already the next. */
export const EVENT_TRAP = 3;

/** HALTED value after a triple fault: the processor stays shut down until reset. */
export const SHUTDOWN = 2;

const CONTRIBUTORY = (1 << 0) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 13);
function contributory(v: number): boolean {
  return v < 32 && ((CONTRIBUTORY >>> v) & 1) === 1;
}

/** Raise fault `vector` for the current instruction (`errorCode` -1 = none pushed). */
export function raiseFault(cpu: X86Cpu, vector: number, errorCode: number): void {
  deliverEvent(cpu, vector, errorCode, EVENT_FAULT, 0);
}

/**
 * Raise a software interrupt or trap from the current instruction: INT n (`vector`),
 * INT3 or INTO; `nextEip` is where IRET returns.
 */
export function softwareInterrupt(cpu: X86Cpu, vector: number, nextEip: number): void {
  deliverEvent(cpu, vector, -1, EVENT_SOFTWARE, nextEip);
}

/** INT1 (ICEBP): #DB as a privileged software exception; `nextEip` is where IRET returns. */
export function privilegedSoftwareException(cpu: X86Cpu, nextEip: number): void {
  deliverEvent(cpu, 1, -1, EVENT_PRIV_SOFTWARE, nextEip);
}

/** Triple fault: a hook may take it (VM exit); otherwise the processor shuts down. */
export function tripleFault(cpu: X86Cpu): void {
  const st = cpu.st;
  st[STOP] = STOP_FAULT;
  if (cpu.hooks !== null) {
    cpu.exitInfo[0] = EV_TRIPLE_FAULT;
    if (cpu.hooks.onEvent(cpu, EV_TRIPLE_FAULT) === HOOK_EXIT) {
      st[EXIT_REASON] = 3;
      return;
    }
  }
  st[HALTED] = SHUTDOWN;
  st[EXIT_REASON] = 2;
}

/**
 * Deliver an event from outside the instruction stream — VM entry's event injection
 * (SDM 27.6): `kind` EVENT_EXTERNAL (interrupt or NMI), EVENT_FAULT (hardware exception,
 * `errorCode` -1 = none), EVENT_SOFTWARE or EVENT_PRIV_SOFTWARE (`nextEip` is where IRET
 * returns). The event itself is not offered to the EV_EXCEPTION hook (an injected
 * exception does not consult the exception bitmap); faults while delivering it are.
 * Leaves the CPU at the handler, or faulted/exited like any delivery.
 */
export function injectEvent(
  cpu: X86Cpu,
  vector: number,
  errorCode: number,
  kind: number,
  nextEip: number,
): void {
  deliverEvent(cpu, vector, errorCode, kind, nextEip, false);
}

/**
 * A fault while an interrupt frame is pushed at the new privilege level must be delivered
 * after CPL, SS and the stack pointer are back as they were before the delivery began:
 * while DEFER[0] is 1 the first fault is only recorded ([1] vector, [2] error code) and
 * the push stops; the caller restores its state and raises it (raiseDeferred).
 */
const DEFER = new Int32Array(3);

function deferFaults(): void {
  DEFER[0] = 1;
}

/** End deferral and raise the recorded fault, if any. */
function raiseDeferred(cpu: X86Cpu): void {
  const had = DEFER[0] === 2;
  DEFER[0] = 0;
  if (had) deliverEvent(cpu, DEFER[1]!, DEFER[2]!, EVENT_FAULT, 0);
}

function deliverEvent(
  cpu: X86Cpu,
  vector: number,
  errorCode: number,
  kind: number,
  nextEip: number,
  hookable = true,
): void {
  const st = cpu.st;
  if (DEFER[0] !== 0) {
    if (DEFER[0] === 1) {
      DEFER[0] = 2;
      DEFER[1] = vector;
      DEFER[2] = errorCode;
    }
    st[STOP] = STOP_FAULT;
    return;
  }
  const depth = st[EVENT_DEPTH]!;
  if (depth > 0) {
    // A fault while delivering another event (Table 6-5).
    const first = st[EVENT_VECTOR]!;
    const second = contributory(vector) || vector === PF_VECTOR;
    if (first === DF_VECTOR && second) {
      tripleFault(cpu);
      return;
    }
    if ((contributory(first) && contributory(vector)) || (first === PF_VECTOR && second)) {
      vector = DF_VECTOR;
      errorCode = 0;
      kind = EVENT_FAULT;
    }
  }
  if (depth > 3) {
    tripleFault(cpu);
    return;
  }
  if (cpu.hooks !== null && kind !== EVENT_EXTERNAL && hookable) {
    const x = cpu.exitInfo;
    x[0] = EV_EXCEPTION;
    x[1] = vector;
    x[2] = errorCode;
    x[3] = kind === EVENT_SOFTWARE ? 1 : kind === EVENT_PRIV_SOFTWARE ? 2 : 0;
    if (cpu.hooks.onEvent(cpu, EV_EXCEPTION) === HOOK_EXIT) {
      st[STOP] = STOP_FAULT;
      st[EXIT_REASON] = 3;
      return;
    }
  }
  const retires = kind === EVENT_SOFTWARE || kind === EVENT_PRIV_SOFTWARE;
  const returnEip = retires ? nextEip : st[EIP]!;
  st[EVENT_DEPTH] = depth + 1;
  st[EVENT_VECTOR] = vector;
  st[EVENT_KIND] = kind;
  st[EVENT_ERROR] = errorCode;
  st[STOP] = 0;
  const ok = cpu.realMode
    ? deliverReal(cpu, vector, returnEip)
    : (st[EFER]! & EFER_LMA) !== 0
      ? deliverLong(cpu, vector, errorCode, kind, returnEip)
      : deliverProtected(cpu, vector, errorCode, kind, returnEip);
  st[EVENT_DEPTH] = depth;
  if (ok) {
    st[STOP] = retires ? STOP_JUMP : STOP_FAULT;
    if (st[HALTED] !== SHUTDOWN) st[HALTED] = 0;
    st[INHIBIT] = 0;
    if (vector === NMI_VECTOR && kind === EVENT_EXTERNAL) st[NMI_BLOCKED] = 1;
  }
}

function faulted(cpu: X86Cpu): boolean {
  return cpu.st[STOP] === STOP_FAULT;
}

/** Real mode: push FLAGS, CS, IP and jump through the IVT (SDM §20.1.4). */
function deliverReal(cpu: X86Cpu, vector: number, returnEip: number): boolean {
  const st = cpu.st;
  if (vector * 4 + 3 > st[IDTR_LIMIT]! >>> 0) {
    raiseFault(cpu, GP_VECTOR, vector * 8 + 2);
    return false;
  }
  const flags = getFlags(st);
  const sp = cpu.regs[4]!;
  push16(cpu, flags);
  if (!faulted(cpu)) push16(cpu, cpu.segSel[CS]!);
  if (!faulted(cpu)) push16(cpu, returnEip);
  if (faulted(cpu)) {
    // Claimed by a hook (a VM exit) part-way: SP as before the delivery began.
    if (st[EXIT_REASON] !== 0) cpu.regs[4] = sp;
    return false;
  }
  const entry = (st[IDTR_BASE]! + vector * 4) | 0;
  const ip = linRead16(cpu, entry);
  const cs = linRead16(cpu, (entry + 2) | 0);
  if (faulted(cpu)) return false;
  loadSegmentReal(cpu, CS, cs);
  recomputeSegment(cpu, CS);
  st[EIP] = ip;
  setFlags(st, flags & ~(FLAG_IF | FLAG_TF | FLAG_AC | FLAG_RF));
  return true;
}

/**
 * Read the stack for privilege level `dpl` from the current TSS into out[0] (ESP) and
 * out[1] (SS); #TS(TR selector) when the TSS is too short (SDM Vol. 3 §6.12.1, §5.8.5).
 */
export function tssStack(cpu: X86Cpu, dpl: number, out: Int32Array): boolean {
  const tss32 = (cpu.segAr[TR]! & 0xf) >= 9;
  const base = cpu.segBase[TR]!;
  const off = tss32 ? 4 + dpl * 8 : 2 + dpl * 4;
  const width = tss32 ? 8 : 4;
  if (off + width - 1 > cpu.segLimit[TR]! >>> 0) {
    raiseFault(cpu, TS_VECTOR, cpu.segSel[TR]! & 0xfffc);
    return false;
  }
  if (tss32) {
    out[0] = linRead32(cpu, (base + off) | 0);
    out[1] = linRead16(cpu, (base + off + 4) | 0);
  } else {
    out[0] = linRead16(cpu, (base + off) | 0);
    out[1] = linRead16(cpu, (base + off + 2) | 0);
  }
  return !faulted(cpu);
}

const STACK = new Int32Array(2);
const V86_DATA = [ES, DS, FS, GS] as const;

/**
 * The code segment an interrupt or trap gate names, into DESC: not null (#GP(EXT)), in
 * the table, a code segment of DPL ≤ CPL — 64-bit (L = 1, D = 0) when `long` — else
 * #GP(selector + EXT); present, else #NP(selector + EXT). False after the fault.
 */
function gateTarget(
  cpu: X86Cpu,
  selector: number,
  ext: number,
  cpl: number,
  long: boolean,
): boolean {
  const err = (selector & 0xfffc) + ext;
  if ((selector & 0xfffc) === 0) {
    raiseFault(cpu, GP_VECTOR, ext);
    return false;
  }
  if (!fetchDescriptor(cpu, selector)) {
    if (!faulted(cpu)) raiseFault(cpu, GP_VECTOR, err);
    return false;
  }
  const chi = DESC[1]!;
  const longCode = (chi & (1 << 21)) !== 0 && (chi & (1 << 22)) === 0;
  if ((descType(chi) & 0x18) !== 0x18 || descDpl(chi) > cpl || (long && !longCode)) {
    raiseFault(cpu, GP_VECTOR, err);
    return false;
  }
  if (!descPresent(chi)) {
    raiseFault(cpu, NP_VECTOR, err);
    return false;
  }
  // Loading CS sets the descriptor's accessed bit (SDM Vol. 3 §3.4.5.1), in the table and
  // in what is loaded; a write that faults or exits leaves the event undelivered.
  return markDescAccessed(cpu);
}

/** Set the accessed bit of the descriptor fetchDescriptor left in DESC. */
function markDescAccessed(cpu: X86Cpu): boolean {
  if ((DESC[1]! & 0x100) !== 0) return true;
  const at = (DESC[2]! + 5) | 0;
  const b = linRead8(cpu, at);
  if (faulted(cpu)) return false;
  linWrite8(cpu, at, b | 1);
  if (faulted(cpu)) return false;
  DESC[1] = DESC[1]! | 0x100;
  return true;
}

/** An implicit supervisor read of `size` (4 or 8: then high half in st[VAL_HI]) bytes. */
function sysRead(cpu: X86Cpu, lo: number, hi: number, size: number): number {
  const a = linRead64(cpu, lo, hi, 4, ACC_IMPLICIT);
  if (size === 8 && !faulted(cpu)) {
    const n = addr64(cpu, lo, hi, 4);
    cpu.st[VAL_HI] = linRead64(cpu, n, cpu.st[EA_HI]!, 4, ACC_IMPLICIT);
  }
  return a;
}

/** The 64-bit interrupt frame being pushed: (lo, hi) pairs, SS first. */
const FRAME64 = new Int32Array(12);

/**
 * IA-32e mode through a 64-bit interrupt or trap gate (SDM Vol. 3 §6.14): 16-byte IDT
 * entries, a 64-bit target code segment, the stack from the TSS's RSPn or the gate's IST
 * slot, aligned to 16 bytes, and a frame of SS, RSP, RFLAGS, CS, RIP (and the error code)
 * pushed 8 bytes each, always.
 */
function deliverLong(
  cpu: X86Cpu,
  vector: number,
  errorCode: number,
  kind: number,
  returnEip: number,
): boolean {
  const st = cpu.st;
  const ext = kind === EVENT_SOFTWARE ? 0 : 1;
  const idtErr = vector * 8 + 2 + ext;
  if (vector * 16 + 15 > st[IDTR_LIMIT]! >>> 0) {
    raiseFault(cpu, GP_VECTOR, idtErr);
    return false;
  }
  const entry = addr64(cpu, st[IDTR_BASE]!, st[IDTR_BASE_HI]!, vector * 16);
  const entryHi = st[EA_HI]!;
  const lo = sysRead(cpu, entry, entryHi, 4);
  const hi = sysRead(cpu, (entry + 4) | 0, entryHi, 4);
  const offHi = sysRead(cpu, (entry + 8) | 0, entryHi, 4);
  if (faulted(cpu)) return false;
  const type = descType(hi);
  if (type !== SYS_INT_GATE32 && type !== SYS_TRAP_GATE32) {
    raiseFault(cpu, GP_VECTOR, idtErr);
    return false;
  }
  const cpl = st[CPL]!;
  if (kind === EVENT_SOFTWARE && descDpl(hi) < cpl) {
    raiseFault(cpu, GP_VECTOR, vector * 8 + 2);
    return false;
  }
  if (!descPresent(hi)) {
    raiseFault(cpu, NP_VECTOR, idtErr);
    return false;
  }
  const selector = gateSelector(lo);
  const offset = gateOffset(lo, hi);
  const ist = hi & 7;
  // A 64-bit code segment (L = 1, D = 0).
  if (!gateTarget(cpu, selector, ext, cpl, true)) return false;
  const clo = DESC[0]!;
  const chi = DESC[1]!;
  const ctype = descType(chi);
  const dpl = descDpl(chi);
  if (!canonical(offHi)) {
    raiseFault(cpu, GP_VECTOR, ext);
    return false;
  }
  const conforming = (ctype & AR_TYPE_EC) !== 0;
  const newCpl = conforming ? cpl : dpl;
  // The new RSP: IST slot, else RSPn on a privilege change, else the current one.
  let spLo = cpu.regs[4]!;
  let spHi = cpu.regsHi[4]!;
  if (ist !== 0 || newCpl < cpl) {
    const off = ist !== 0 ? 36 + 8 * (ist - 1) : 4 + 8 * newCpl;
    if (off + 7 > cpu.segLimit[TR]! >>> 0) {
      raiseFault(cpu, TS_VECTOR, cpu.segSel[TR]! & 0xfffc);
      return false;
    }
    const at = addr64(cpu, cpu.segBase[TR]!, cpu.segBaseHi[TR]!, off);
    spLo = sysRead(cpu, at, st[EA_HI]!, 8);
    if (faulted(cpu)) return false;
    spHi = st[VAL_HI]!;
    if (!canonical(spHi)) {
      raiseFault(cpu, SS_VECTOR, ext);
      return false;
    }
  }
  spLo &= ~15;
  const flags = getFlags(st);
  let n = 0;
  FRAME64[n++] = cpu.segSel[SS]!;
  FRAME64[n++] = 0;
  FRAME64[n++] = cpu.regs[4]!;
  FRAME64[n++] = cpu.regsHi[4]!;
  FRAME64[n++] = flags;
  FRAME64[n++] = 0;
  FRAME64[n++] = cpu.segSel[CS]!;
  FRAME64[n++] = 0;
  FRAME64[n++] = returnEip;
  FRAME64[n++] = st[RIP_HI]!;
  if (errorCode >= 0) {
    FRAME64[n++] = errorCode;
    FRAME64[n++] = 0;
  }
  // Written at the new privilege; every slot is checked before any is written.
  setCpl(cpu, newCpl);
  const bytes = n * 4;
  const bottom = addr64(cpu, spLo, spHi, -bytes);
  const bottomHi = st[EA_HI]!;
  deferFaults();
  for (let k = 0; k < n; k += 2) {
    const at = addr64(cpu, bottom, bottomHi, bytes - 4 * (k + 2));
    writeQ(cpu, SS, at, st[EA_HI]!, FRAME64[k]!, FRAME64[k + 1]!);
    if (faulted(cpu)) {
      setCpl(cpu, cpl);
      raiseDeferred(cpu);
      return false;
    }
  }
  DEFER[0] = 0;
  if (newCpl < cpl) {
    // SS becomes a null selector with RPL = the new CPL.
    loadNullSegment(cpu, SS, newCpl);
    cpu.segAr[SS] = cpu.segAr[SS]! | (newCpl << 5);
    recomputeSegment(cpu, SS);
  }
  cpu.regs[4] = bottom;
  cpu.regsHi[4] = bottomHi;
  if (vector === DB_VECTOR) st[DR_BASE + 7] = st[DR_BASE + 7]! & ~0x2000;
  loadSegmentCache(cpu, CS, (selector & 0xfffc) | newCpl, clo, chi);
  recomputeSegment(cpu, CS);
  st[EIP] = offset;
  st[RIP_HI] = offHi;
  let newFlags = flags & ~(FLAG_TF | FLAG_NT | FLAG_RF | FLAG_VM);
  if (type === SYS_INT_GATE32) newFlags &= ~FLAG_IF;
  setFlags(st, newFlags);
  return true;
}

/**
 * Protected mode through an interrupt or trap gate, at the same or an inner privilege
 * level (SDM §6.12.1). Task gates switch tasks (tasking.ts).
 */
function deliverProtected(
  cpu: X86Cpu,
  vector: number,
  errorCode: number,
  kind: number,
  returnEip: number,
): boolean {
  const st = cpu.st;
  const ext = kind === EVENT_SOFTWARE ? 0 : 1;
  const idtErr = vector * 8 + 2 + ext;
  if (vector * 8 + 7 > st[IDTR_LIMIT]! >>> 0) {
    raiseFault(cpu, GP_VECTOR, idtErr);
    return false;
  }
  const entry = (st[IDTR_BASE]! + vector * 8) | 0;
  const lo = linRead32(cpu, entry);
  const hi = linRead32(cpu, (entry + 4) | 0);
  if (faulted(cpu)) return false;
  const type = descType(hi);
  if (
    type !== SYS_INT_GATE16 &&
    type !== SYS_INT_GATE32 &&
    type !== SYS_TRAP_GATE16 &&
    type !== SYS_TRAP_GATE32 &&
    type !== SYS_TASK_GATE
  ) {
    raiseFault(cpu, GP_VECTOR, idtErr);
    return false;
  }
  const cpl = st[CPL]!;
  if (kind === EVENT_SOFTWARE && descDpl(hi) < cpl) {
    raiseFault(cpu, GP_VECTOR, vector * 8 + 2);
    return false;
  }
  if (!descPresent(hi)) {
    raiseFault(cpu, NP_VECTOR, idtErr);
    return false;
  }
  if (type === SYS_TASK_GATE) return taskGateInterrupt(cpu, lo, errorCode, ext, returnEip);
  const gate32 = type === SYS_INT_GATE32 || type === SYS_TRAP_GATE32;
  const selector = gateSelector(lo);
  const offset = gate32 ? gateOffset(lo, hi) : lo & 0xffff;
  if (!gateTarget(cpu, selector, ext, cpl, false)) return false;
  const clo = DESC[0]!;
  const chi = DESC[1]!;
  const ctype = descType(chi);
  const dpl = descDpl(chi);
  // The entry point must lie within the new code segment, checked before any push.
  if (offset >>> 0 > descLimit(clo, chi) >>> 0) {
    raiseFault(cpu, GP_VECTOR, ext);
    return false;
  }
  const flags = getFlags(st);
  const conforming = (ctype & AR_TYPE_EC) !== 0;
  const oldSs = cpu.segSel[SS]!;
  const oldEsp = cpu.regs[4]!;
  const oldCs = cpu.segSel[CS]!;
  let newCpl = cpl;
  // From VM86 mode: only to a non-conforming ring-0 segment through a 32-bit gate
  // (SDM Vol. 2 INT n, INTERRUPT-FROM-VIRTUAL-8086-MODE).
  const v86 = (flags & FLAG_VM) !== 0;
  if (v86 && (conforming || dpl !== 0 || !gate32)) {
    raiseFault(cpu, GP_VECTOR, (selector & 0xfffc) + ext);
    return false;
  }
  if (!conforming && dpl < cpl) {
    // Inner privilege: a new stack from the TSS.
    if (!tssStack(cpu, dpl, STACK)) return false;
    const ssSel = STACK[1]! & 0xffff;
    const espNew = STACK[0]!;
    if ((ssSel & 0xfffc) === 0) {
      raiseFault(cpu, TS_VECTOR, ext);
      return false;
    }
    if (!fetchDescriptor(cpu, ssSel)) {
      if (!faulted(cpu)) raiseFault(cpu, TS_VECTOR, (ssSel & 0xfffc) + ext);
      return false;
    }
    const slo = DESC[0]!;
    const shi = DESC[1]!;
    const stype = descType(shi);
    if ((ssSel & 3) !== dpl || descDpl(shi) !== dpl || (stype & 0x1a) !== 0x12) {
      raiseFault(cpu, TS_VECTOR, (ssSel & 0xfffc) + ext);
      return false;
    }
    if (!descPresent(shi)) {
      raiseFault(cpu, SS_VECTOR, (ssSel & 0xfffc) + ext);
      return false;
    }
    if (!markDescAccessed(cpu)) return false;
    // Switch to the new stack, keeping the old one to restore on a fault while pushing.
    const savedSel = cpu.segSel[SS]!;
    const savedBase = cpu.segBase[SS]!;
    const savedLimit = cpu.segLimit[SS]!;
    const savedAr = cpu.segAr[SS]!;
    loadSegmentCache(cpu, SS, ssSel, slo, DESC[1]!);
    recomputeSegment(cpu, SS);
    cpu.regs[4] =
      (cpu.segAr[SS]! & AR_DB) !== 0 ? espNew : (cpu.regs[4]! & ~0xffff) | (espNew & 0xffff);
    // The frame is written at the new privilege (the stack may be a supervisor page).
    setCpl(cpu, dpl);
    let count = 0;
    if (v86) {
      FRAME[count++] = cpu.segSel[GS]!;
      FRAME[count++] = cpu.segSel[FS]!;
      FRAME[count++] = cpu.segSel[DS]!;
      FRAME[count++] = cpu.segSel[ES]!;
    }
    FRAME[count++] = oldSs;
    FRAME[count++] = oldEsp;
    FRAME[count++] = flags;
    FRAME[count++] = oldCs;
    FRAME[count++] = returnEip;
    deferFaults();
    const pushOk =
      v86 || gate32 ? pushAll32(cpu, count, errorCode) : pushAll16(cpu, count, errorCode);
    if (!pushOk) {
      setCpl(cpu, cpl);
      cpu.segSel[SS] = savedSel;
      cpu.segBase[SS] = savedBase;
      cpu.segLimit[SS] = savedLimit;
      cpu.segAr[SS] = savedAr;
      recomputeSegment(cpu, SS);
      cpu.regs[4] = oldEsp;
      raiseDeferred(cpu);
      return false;
    }
    DEFER[0] = 0;
    newCpl = dpl;
    if (v86) {
      for (const s of V86_DATA) {
        loadNullSegment(cpu, s, 0);
        recomputeSegment(cpu, s);
      }
    }
  } else {
    FRAME[0] = flags;
    FRAME[1] = oldCs;
    FRAME[2] = returnEip;
    const ok = gate32 ? pushAll32(cpu, 3, errorCode) : pushAll16(cpu, 3, errorCode);
    if (!ok) {
      cpu.regs[4] = oldEsp;
      return false;
    }
  }
  if (vector === DB_VECTOR) st[DR_BASE + 7] = st[DR_BASE + 7]! & ~0x2000;
  loadSegmentCache(cpu, CS, (selector & 0xfffc) | newCpl, clo, chi);
  recomputeSegment(cpu, CS);
  setCpl(cpu, newCpl);
  st[EIP] = offset;
  let newFlags = flags & ~(FLAG_TF | FLAG_NT | FLAG_RF | FLAG_VM);
  if (type === SYS_INT_GATE16 || type === SYS_INT_GATE32) newFlags &= ~FLAG_IF;
  setFlags(st, newFlags);
  return true;
}

/**
 * An interrupt or exception through a task gate (SDM Vol. 2 INT n, TASK-GATE; Vol. 3
 * §7.3): switch to the TSS the gate names, nesting, then push the error code (if any) on
 * the new task's stack at the new TSS's width.
 */
function taskGateInterrupt(
  cpu: X86Cpu,
  gateLo: number,
  errorCode: number,
  ext: number,
  returnEip: number,
): boolean {
  if (!switchThroughTaskGate(cpu, gateLo, TASK_GATE, returnEip, ext)) return false;
  if (errorCode >= 0) {
    if ((cpu.segAr[TR]! & 8) !== 0) push32(cpu, errorCode);
    else push16(cpu, errorCode);
    if (faulted(cpu)) return false;
  }
  return true;
}

/** The values of an interrupt frame being pushed (FRAME[0..count-1]), reused. */
const FRAME = new Int32Array(9);

function pushAll32(cpu: X86Cpu, count: number, errorCode: number): boolean {
  const n = count + (errorCode >= 0 ? 1 : 0);
  const top = getSp(cpu);
  // Check the whole frame first, so a fault leaves the stack untouched.
  for (let k = 0; k < n; k++) {
    writeMem32Probe(cpu, (top - 4 * (k + 1)) | 0);
    if (faulted(cpu)) return false;
  }
  for (let k = 0; k < count; k++) push32(cpu, FRAME[k]!);
  if (errorCode >= 0) push32(cpu, errorCode);
  return !faulted(cpu);
}

function pushAll16(cpu: X86Cpu, count: number, errorCode: number): boolean {
  const start = getSp(cpu);
  for (let k = 0; k < count; k++) {
    push16(cpu, FRAME[k]!);
    if (faulted(cpu)) {
      setSp(cpu, start);
      return false;
    }
  }
  if (errorCode >= 0) push16(cpu, errorCode);
  if (faulted(cpu)) setSp(cpu, start);
  return !faulted(cpu);
}

function writeMem32Probe(cpu: X86Cpu, off: number): void {
  const o = stack32(cpu) ? off : off & 0xffff;
  const lo = cpu.segLo[SS]!;
  const hi = cpu.segHi[SS]!;
  if (o >>> 0 < lo || (o >>> 0) + 3 > hi || (cpu.segOk[SS]! & 2) === 0) {
    raiseFault(cpu, SS_VECTOR, 0);
  }
}

// Between instructions -----------------------------------------------------------------

/**
 * Deliver what is pending at an instruction boundary, in priority order (SDM §6.9):
 * a single-step trap, NMI, a maskable interrupt (IF = 1, no shadow); and report window
 * openings to a hook that asked for them.
 */
export function serviceEvents(cpu: X86Cpu): void {
  const st = cpu.st;
  st[PENDING] = 0;
  if (st[EXIT_REASON] === 4) return;
  if (cpu.pendingDebugTrap) {
    cpu.pendingDebugTrap = false;
    deliverEvent(cpu, DB_VECTOR, -1, EVENT_TRAP, 0);
    if (st[EXIT_REASON] !== 0) return;
  }
  if (st[INHIBIT] !== 0) {
    st[PENDING] = 1;
    return;
  }
  const hooks = cpu.hooks;
  if (st[NMI_PENDING] !== 0 && st[NMI_BLOCKED] === 0) {
    if (hooks !== null) {
      cpu.exitInfo[0] = EV_NMI;
      if (hooks.onEvent(cpu, EV_NMI) === HOOK_EXIT) {
        st[EXIT_REASON] = 3;
        return;
      }
    }
    st[NMI_PENDING] = 0;
    deliverEvent(cpu, NMI_VECTOR, -1, EVENT_EXTERNAL, 0);
    return;
  }
  const ifSet = (st[FLAGS]! & FLAG_IF) !== 0;
  if (st[INTR_LINE] !== 0) {
    if (ifSet) {
      const vector = st[INTR_VECTOR]! & 0xff;
      if (hooks !== null) {
        cpu.exitInfo[0] = EV_EXT_INTR;
        cpu.exitInfo[1] = vector;
        if (hooks.onEvent(cpu, EV_EXT_INTR) === HOOK_EXIT) {
          st[EXIT_REASON] = 3;
          return;
        }
      }
      st[INTR_LINE] = 0;
      deliverEvent(cpu, vector, -1, EVENT_EXTERNAL, 0);
      return;
    }
    st[PENDING] = 1;
  }
  if (hooks !== null && cpu.wantWindow !== 0) {
    if (cpu.wantWindow & 1 && ifSet) {
      cpu.exitInfo[0] = EV_INTR_WINDOW;
      if (hooks.onEvent(cpu, EV_INTR_WINDOW) === HOOK_EXIT) {
        st[EXIT_REASON] = 3;
        return;
      }
    }
    if (cpu.wantWindow & 2 && st[NMI_BLOCKED] === 0) {
      cpu.exitInfo[0] = EV_NMI_WINDOW;
      if (hooks.onEvent(cpu, EV_NMI_WINDOW) === HOOK_EXIT) {
        st[EXIT_REASON] = 3;
        return;
      }
    }
    st[PENDING] = 1;
  }
}

export { AR_TYPE_CODE, FLAG_VM };
