/**
 * Far control transfers (Bochs jmp_far.cc, call_far.cc, ret_far.cc, iret.cc): JMPF, CALLF,
 * RETF and IRET. Real and VM86 mode load CS as selector × 16; protected mode follows the
 * pseudo-code of SDM Vol. 2 JMP/CALL/RET/IRET and Vol. 3 §5.8: conforming and
 * non-conforming code, call gates with parameter copy and the inner stack from the TSS,
 * returns to an outer level (data segments the new CPL may not use become null), IRET to
 * VM86, and task switches (tasking.ts).
 *
 * Every check that can fault runs before any register changes, so a faulting transfer
 * leaves the CPU as it was (except task switches past their commit point, as on hardware).
 */
import {
  ea,
  getSp,
  linRead8,
  linWrite8,
  probeWrite,
  push16,
  push32,
  readMem16,
  readMem32,
  recomputeSegment,
  spOffset,
  stack32,
} from "../access.js";
import type { X86Cpu } from "../cpu.js";
import {
  DESC,
  descDpl,
  descLimit,
  descPresent,
  descType,
  fetchDescriptor,
  gateOffset,
  gateParamCount,
  gateSelector,
  loadNullSegment,
  loadSegmentCache,
  loadSegmentReal,
  SYS_CALL_GATE16,
  SYS_CALL_GATE32,
  SYS_TASK_GATE,
  SYS_TSS16_AVAIL,
  SYS_TSS16_BUSY,
  SYS_TSS32_AVAIL,
  SYS_TSS32_BUSY,
} from "../descriptor.js";
import { raiseFault, tssStack } from "../exception.js";
import type { HandlerSpec } from "../handlers.js";
import { F_A32 } from "../instr.js";
import { getFlags, setFlags } from "../lazy_flags.js";
import { setCpl } from "../paging.js";
import {
  AR_DB,
  AR_TYPE_EC,
  AR_UNUSABLE,
  CS,
  DS,
  ES,
  ESP,
  FLAG_AC,
  FLAG_AF,
  FLAG_CF,
  FLAG_DF,
  FLAG_ID,
  FLAG_IF,
  FLAG_IOPL,
  FLAG_NT,
  FLAG_OF,
  FLAG_PF,
  FLAG_RF,
  FLAG_SF,
  FLAG_TF,
  FLAG_VIF,
  FLAG_VIP,
  FLAG_VM,
  FLAG_ZF,
  FS,
  GP_VECTOR,
  GS,
  NP_VECTOR,
  SS,
  SS_VECTOR,
  TS_VECTOR,
} from "../regs.js";
import { CPL, EIP, FLAGS, NMI_BLOCKED } from "../state.js";
import {
  backLink,
  switchThroughTaskGate,
  TASK_CALL,
  TASK_IRET,
  TASK_JMP,
  taskSwitch,
} from "../tasking.js";
import { faulted, jumped } from "./common.js";
import { loadSegmentV86 } from "./segment_ctrl.js";

/** Scratch for the new stack of an inter-privilege CALL: [0] ESP, [1] SS. */
const STACK = new Int32Array(2);
/** Call-gate parameters copied from the old stack (at most 31). */
const PARAMS = new Int32Array(32);
/** A saved descriptor: [0] low, [1] high, [2] linear address. */
const CODE = new Int32Array(3);
const STK = new Int32Array(3);

function next(cpu: X86Cpu, i: number): number {
  return (cpu.st[EIP]! + cpu.dc.len[i]!) | 0;
}

function protectedMode(cpu: X86Cpu): boolean {
  return !cpu.realMode && (cpu.st[FLAGS]! & FLAG_VM) === 0;
}

/** Fetch `sel` into `out` (low, high, address); false after raising `vector`(sel). */
function fetchInto(cpu: X86Cpu, sel: number, out: Int32Array, vector: number): boolean {
  if (!fetchDescriptor(cpu, sel)) {
    if (!faulted(cpu)) raiseFault(cpu, vector, sel & 0xfffc);
    return false;
  }
  out[0] = DESC[0]!;
  out[1] = DESC[1]!;
  out[2] = DESC[2]!;
  return true;
}

/** Set the accessed bit of a saved descriptor in memory (SDM §3.4.5.1). */
function touch(cpu: X86Cpu, d: Int32Array) {
  if ((d[1]! & 0x100) !== 0) return;
  const at = (d[2]! + 5) | 0;
  linWrite8(cpu, at, linRead8(cpu, at) | 1);
  d[1] = d[1]! | 0x100;
}

/**
 * Load CS from a checked descriptor with RPL = `cpl`, which becomes the CPL. The accessed
 * bit is written first; if that write faults or exits (a descriptor table in ROM under
 * EPT), CS is left as it was and the instruction restarts.
 */
function loadCs(cpu: X86Cpu, sel: number, d: Int32Array, cpl: number) {
  touch(cpu, d);
  if (faulted(cpu)) return;
  loadSegmentCache(cpu, CS, (sel & 0xfffc) | cpl, d[0]!, d[1]!);
  recomputeSegment(cpu, CS);
  setCpl(cpu, cpl);
}

/**
 * A code segment that JMP or CALL may reach directly (SDM Vol. 2 JMP/CALL): conforming
 * with DPL ≤ CPL, or non-conforming with RPL ≤ CPL and DPL = CPL; then present.
 */
function checkDirectCs(cpu: X86Cpu, sel: number, hi: number, cpl: number): boolean {
  const type = descType(hi);
  const dpl = descDpl(hi);
  const err = sel & 0xfffc;
  if ((type & 0x18) !== 0x18) {
    raiseFault(cpu, GP_VECTOR, err);
    return false;
  }
  if (type & 4 ? dpl > cpl : (sel & 3) > cpl || dpl !== cpl) {
    raiseFault(cpu, GP_VECTOR, err);
    return false;
  }
  if (!descPresent(hi)) {
    raiseFault(cpu, NP_VECTOR, err);
    return false;
  }
  return true;
}

/** The offset `target` must lie within the code segment described by `d`, else #GP(0). */
function inLimit(cpu: X86Cpu, target: number, d: Int32Array): boolean {
  if (target >>> 0 > descLimit(d[0]!, d[1]!) >>> 0) {
    raiseFault(cpu, GP_VECTOR, 0);
    return false;
  }
  return true;
}

/**
 * A JMP/CALL to a system descriptor: a call gate, task gate or available TSS whose DPL
 * admits CPL and RPL, and present. Returns its type, or -1 after a fault.
 */
function checkSystemTarget(cpu: X86Cpu, sel: number, hi: number, cpl: number): number {
  const type = descType(hi);
  const err = sel & 0xfffc;
  if (
    type !== SYS_CALL_GATE16 &&
    type !== SYS_CALL_GATE32 &&
    type !== SYS_TASK_GATE &&
    type !== SYS_TSS16_AVAIL &&
    type !== SYS_TSS32_AVAIL
  ) {
    raiseFault(cpu, GP_VECTOR, err);
    return -1;
  }
  const dpl = descDpl(hi);
  if (dpl < cpl || (sel & 3) > dpl) {
    raiseFault(cpu, GP_VECTOR, err);
    return -1;
  }
  if (!descPresent(hi)) {
    raiseFault(cpu, NP_VECTOR, err);
    return -1;
  }
  return type;
}

/** A task switch for JMP/CALL; on success the block ends at the new task's EIP. */
function farTask(cpu: X86Cpu, sel: number, type: number, source: number, ret: number) {
  // A TSS descriptor must be in the GDT.
  if (type !== SYS_TASK_GATE && (sel & 4) !== 0) return raiseFault(cpu, GP_VECTOR, sel & 0xfffc);
  const ok =
    type === SYS_TASK_GATE
      ? switchThroughTaskGate(cpu, CODE[0]!, source, ret, 0)
      : taskSwitch(cpu, sel, CODE[0]!, CODE[1]!, source, ret);
  if (ok) jumped(cpu);
}

// JMP far ------------------------------------------------------------------------------

function jmpFarReal(cpu: X86Cpu, sel: number, target: number) {
  if (target >>> 0 > cpu.segLimit[CS]! >>> 0) return raiseFault(cpu, GP_VECTOR, 0);
  if (cpu.realMode) loadSegmentReal(cpu, CS, sel);
  else loadSegmentV86(cpu, CS, sel);
  recomputeSegment(cpu, CS);
  cpu.st[EIP] = target;
  jumped(cpu);
}

/** JMP ptr16:16/32 and m16:16/32 (SDM Vol. 2 JMP, "Far jumps in protected mode"). */
function jmpFar(cpu: X86Cpu, i: number, sel: number, offset: number, o32: boolean) {
  const target = o32 ? offset : offset & 0xffff;
  if (!protectedMode(cpu)) return jmpFarReal(cpu, sel, target);
  const cpl = cpu.st[CPL]!;
  if ((sel & 0xfffc) === 0) return raiseFault(cpu, GP_VECTOR, 0);
  if (!fetchInto(cpu, sel, CODE, GP_VECTOR)) return;
  const hi = CODE[1]!;
  if (descType(hi) & 0x10) {
    if (!checkDirectCs(cpu, sel, hi, cpl) || !inLimit(cpu, target, CODE)) return;
    loadCs(cpu, sel, CODE, cpl);
    if (faulted(cpu)) return;
    cpu.st[EIP] = target;
    jumped(cpu);
    return;
  }
  const type = checkSystemTarget(cpu, sel, hi, cpl);
  if (type < 0) return;
  if (type !== SYS_CALL_GATE16 && type !== SYS_CALL_GATE32) {
    return farTask(cpu, sel, type, TASK_JMP, next(cpu, i));
  }
  // Through a call gate: same privilege only (SDM Vol. 3 §5.8.4).
  const gateLo = CODE[0]!;
  const gate32 = type === SYS_CALL_GATE32;
  const csSel = gateSelector(gateLo);
  const gateTarget = gate32 ? gateOffset(gateLo, hi) : gateLo & 0xffff;
  if ((csSel & 0xfffc) === 0) return raiseFault(cpu, GP_VECTOR, 0);
  if (!fetchInto(cpu, csSel, CODE, GP_VECTOR)) return;
  const chi = CODE[1]!;
  const ctype = descType(chi);
  const cdpl = descDpl(chi);
  if ((ctype & 0x18) !== 0x18 || (ctype & 4 ? cdpl > cpl : cdpl !== cpl)) {
    return raiseFault(cpu, GP_VECTOR, csSel & 0xfffc);
  }
  if (!descPresent(chi)) return raiseFault(cpu, NP_VECTOR, csSel & 0xfffc);
  if (!inLimit(cpu, gateTarget, CODE)) return;
  loadCs(cpu, csSel, CODE, cpl);
  if (faulted(cpu)) return;
  cpu.st[EIP] = gateTarget;
  jumped(cpu);
}

// CALL far -----------------------------------------------------------------------------

/** Push CS and the return EIP (`size` 2 or 4) on the current stack; checked by the caller. */
function pushReturn(cpu: X86Cpu, size: number, ret: number) {
  const cs = cpu.segSel[CS]!;
  if (size === 4) {
    push32(cpu, cs);
    push32(cpu, ret);
  } else {
    push16(cpu, cs);
    push16(cpu, ret);
  }
}

/** Room for `bytes` below the stack pointer of the current stack, else #SS(0). */
function stackRoom(cpu: X86Cpu, bytes: number): boolean {
  return probeWrite(cpu, SS, spOffset(cpu, -bytes), bytes);
}

function callFarReal(cpu: X86Cpu, i: number, sel: number, target: number, o32: boolean) {
  const size = o32 ? 4 : 2;
  if (!stackRoom(cpu, 2 * size)) return;
  if (target >>> 0 > cpu.segLimit[CS]! >>> 0) return raiseFault(cpu, GP_VECTOR, 0);
  pushReturn(cpu, size, next(cpu, i));
  if (faulted(cpu)) return;
  if (cpu.realMode) loadSegmentReal(cpu, CS, sel);
  else loadSegmentV86(cpu, CS, sel);
  recomputeSegment(cpu, CS);
  cpu.st[EIP] = target;
  jumped(cpu);
}

/** CALL ptr16:16/32 and m16:16/32 (SDM Vol. 2 CALL, "Far calls in protected mode"). */
function callFar(cpu: X86Cpu, i: number, sel: number, offset: number, o32: boolean) {
  const target = o32 ? offset : offset & 0xffff;
  if (!protectedMode(cpu)) return callFarReal(cpu, i, sel, target, o32);
  const cpl = cpu.st[CPL]!;
  const ret = next(cpu, i);
  if ((sel & 0xfffc) === 0) return raiseFault(cpu, GP_VECTOR, 0);
  if (!fetchInto(cpu, sel, CODE, GP_VECTOR)) return;
  const hi = CODE[1]!;
  if (descType(hi) & 0x10) {
    const size = o32 ? 4 : 2;
    if (!checkDirectCs(cpu, sel, hi, cpl) || !stackRoom(cpu, 2 * size)) return;
    if (!inLimit(cpu, target, CODE)) return;
    pushReturn(cpu, size, ret);
    if (faulted(cpu)) return;
    loadCs(cpu, sel, CODE, cpl);
    if (faulted(cpu)) return;
    cpu.st[EIP] = target;
    jumped(cpu);
    return;
  }
  const type = checkSystemTarget(cpu, sel, hi, cpl);
  if (type < 0) return;
  if (type !== SYS_CALL_GATE16 && type !== SYS_CALL_GATE32) {
    return farTask(cpu, sel, type, TASK_CALL, ret);
  }
  callGate(cpu, type === SYS_CALL_GATE32, CODE[0]!, hi, ret);
}

/** CALL through a call gate (SDM Vol. 3 §5.8.5–5.8.6; Vol. 2 CALL, CALL-GATE). */
function callGate(cpu: X86Cpu, gate32: boolean, gateLo: number, gateHi: number, ret: number) {
  const cpl = cpu.st[CPL]!;
  const csSel = gateSelector(gateLo);
  const target = gate32 ? gateOffset(gateLo, gateHi) : gateLo & 0xffff;
  const count = gateParamCount(gateHi);
  const size = gate32 ? 4 : 2;
  if ((csSel & 0xfffc) === 0) return raiseFault(cpu, GP_VECTOR, 0);
  if (!fetchInto(cpu, csSel, CODE, GP_VECTOR)) return;
  const chi = CODE[1]!;
  const ctype = descType(chi);
  const dpl = descDpl(chi);
  if ((ctype & 0x18) !== 0x18 || dpl > cpl) return raiseFault(cpu, GP_VECTOR, csSel & 0xfffc);
  if (!descPresent(chi)) return raiseFault(cpu, NP_VECTOR, csSel & 0xfffc);

  if ((ctype & 4) !== 0 || dpl === cpl) {
    // Same privilege: CS:EIP at the gate's size on the current stack.
    if (!stackRoom(cpu, 2 * size) || !inLimit(cpu, target, CODE)) return;
    pushReturn(cpu, size, ret);
    if (faulted(cpu)) return;
    loadCs(cpu, csSel, CODE, cpl);
    if (faulted(cpu)) return;
    cpu.st[EIP] = target;
    jumped(cpu);
    return;
  }

  // More privilege: the stack for DPL from the TSS.
  if (!tssStack(cpu, dpl, STACK)) return;
  const ssSel = STACK[1]! & 0xffff;
  const espNew = STACK[0]!;
  const ssErr = ssSel & 0xfffc;
  if (ssErr === 0) return raiseFault(cpu, TS_VECTOR, 0);
  if (!fetchInto(cpu, ssSel, STK, TS_VECTOR)) return;
  const shi = STK[1]!;
  if ((ssSel & 3) !== dpl || descDpl(shi) !== dpl || (descType(shi) & 0x1a) !== 0x12) {
    return raiseFault(cpu, TS_VECTOR, ssErr);
  }
  if (!descPresent(shi)) return raiseFault(cpu, SS_VECTOR, ssErr);
  // Room on the new stack for SS, ESP, the parameters, CS and EIP.
  const bytes = size * (4 + count);
  const ar = (shi >> 8) & 0xf0ff;
  const big = (ar & AR_DB) !== 0;
  const limit = descLimit(STK[0]!, shi) >>> 0;
  const top = big ? espNew >>> 0 : espNew & 0xffff;
  const low = top - bytes;
  const lo = ar & AR_TYPE_EC ? limit + 1 : 0;
  const hiOff = ar & AR_TYPE_EC ? (big ? 0xffff_ffff : 0xffff) : limit;
  if (low < lo || top - 1 > hiOff) return raiseFault(cpu, SS_VECTOR, ssErr);
  if (!inLimit(cpu, target, CODE)) return;
  // The parameters, read from the old stack before anything changes.
  for (let k = 0; k < count; k++) {
    const off = spOffset(cpu, k * size);
    PARAMS[k] = size === 4 ? readMem32(cpu, SS, off) : readMem16(cpu, SS, off);
    if (faulted(cpu)) return;
  }
  const oldSs = cpu.segSel[SS]!;
  const oldEsp = getSp(cpu);
  const oldCs = cpu.segSel[CS]!;
  // Both accessed bits before anything changes: a fault or exit on either leaves the
  // old stack and privilege in place.
  touch(cpu, STK);
  if (faulted(cpu)) return;
  touch(cpu, CODE);
  if (faulted(cpu)) return;
  loadSegmentCache(cpu, SS, ssSel, STK[0]!, STK[1]!);
  recomputeSegment(cpu, SS);
  if (big) cpu.regs[ESP] = espNew;
  else cpu.r16[ESP << 1] = espNew;
  // The pushes are accesses at the new privilege (its stack may be a supervisor page).
  const oldCpl = cpu.st[CPL]!;
  setCpl(cpu, dpl);
  if (size === 4) {
    push32(cpu, oldSs);
    push32(cpu, oldEsp);
    for (let k = count - 1; k >= 0; k--) push32(cpu, PARAMS[k]!);
    push32(cpu, oldCs);
    push32(cpu, ret);
  } else {
    push16(cpu, oldSs);
    push16(cpu, oldEsp);
    for (let k = count - 1; k >= 0; k--) push16(cpu, PARAMS[k]!);
    push16(cpu, oldCs);
    push16(cpu, ret);
  }
  if (faulted(cpu)) {
    setCpl(cpu, oldCpl);
    return;
  }
  loadCs(cpu, csSel, CODE, dpl);
  cpu.st[EIP] = target;
  jumped(cpu);
}

// RETF ---------------------------------------------------------------------------------

/** Pop `size` bytes at `delta` from the stack pointer (no SP change); check faulted(). */
function stackRead(cpu: X86Cpu, delta: number, size: number): number {
  const off = spOffset(cpu, delta);
  return size === 4 ? readMem32(cpu, SS, off) : readMem16(cpu, SS, off);
}

/** Set (E)SP to `value` per the current stack's B bit. */
function setStackPointer(cpu: X86Cpu, value: number) {
  if (stack32(cpu)) cpu.regs[ESP] = value;
  else cpu.r16[ESP << 1] = value;
}

/**
 * After a return to an outer level: a data or non-conforming code segment whose DPL is
 * below the new CPL becomes null (SDM Vol. 2 RET, IRET; Bochs validate_seg_reg).
 */
function nullOuterSegments(cpu: X86Cpu) {
  const cpl = cpu.st[CPL]!;
  for (let s = 0; s <= GS; s++) {
    if (s === CS || s === SS) continue;
    const ar = cpu.segAr[s]!;
    if (((ar >> 5) & 3) >= cpl) continue;
    const conformingCode = (ar & AR_UNUSABLE) === 0 && (ar & 0x1c) === 0x1c;
    if (!conformingCode) {
      loadNullSegment(cpu, s, 0);
      recomputeSegment(cpu, s);
    }
  }
}

/**
 * The code segment of RETF/IRET: RPL ≥ CPL, code, conforming with DPL ≤ RPL or
 * non-conforming with DPL = RPL, present (#GP(sel) / #NP(sel)).
 */
function checkReturnCs(cpu: X86Cpu, sel: number, cpl: number): boolean {
  const err = sel & 0xfffc;
  if (err === 0) {
    raiseFault(cpu, GP_VECTOR, 0);
    return false;
  }
  if (!fetchInto(cpu, sel, CODE, GP_VECTOR)) return false;
  const hi = CODE[1]!;
  const rpl = sel & 3;
  const type = descType(hi);
  const dpl = descDpl(hi);
  if (rpl < cpl || (type & 0x18) !== 0x18 || (type & 4 ? dpl > rpl : dpl !== rpl)) {
    raiseFault(cpu, GP_VECTOR, err);
    return false;
  }
  if (!descPresent(hi)) {
    raiseFault(cpu, NP_VECTOR, err);
    return false;
  }
  return true;
}

/** The stack segment of a return to level `rpl` (#GP(sel) / #SS(sel)), into STK. */
function checkReturnSs(cpu: X86Cpu, sel: number, rpl: number): boolean {
  const err = sel & 0xfffc;
  if (err === 0) {
    raiseFault(cpu, GP_VECTOR, 0);
    return false;
  }
  if (!fetchInto(cpu, sel, STK, GP_VECTOR)) return false;
  const hi = STK[1]!;
  if ((sel & 3) !== rpl || descDpl(hi) !== rpl || (descType(hi) & 0x1a) !== 0x12) {
    raiseFault(cpu, GP_VECTOR, err);
    return false;
  }
  if (!descPresent(hi)) {
    raiseFault(cpu, SS_VECTOR, err);
    return false;
  }
  return true;
}

/** Load SS from STK and the stack pointer per its B bit. */
function loadOuterStack(cpu: X86Cpu, sel: number, esp: number) {
  touch(cpu, STK);
  if (faulted(cpu)) return;
  loadSegmentCache(cpu, SS, sel, STK[0]!, STK[1]!);
  recomputeSegment(cpu, SS);
  setStackPointer(cpu, esp);
}

/** RETF / RETF imm16 (SDM Vol. 2 RET, far returns). */
function retFar(cpu: X86Cpu, size: number, imm: number) {
  const eipRaw = stackRead(cpu, 0, size);
  if (faulted(cpu)) return;
  const csSel = stackRead(cpu, size, size) & 0xffff;
  if (faulted(cpu)) return;
  const target = size === 4 ? eipRaw : eipRaw & 0xffff;
  if (!protectedMode(cpu)) {
    if (target >>> 0 > cpu.segLimit[CS]! >>> 0) return raiseFault(cpu, GP_VECTOR, 0);
    if (cpu.realMode) loadSegmentReal(cpu, CS, csSel);
    else loadSegmentV86(cpu, CS, csSel);
    recomputeSegment(cpu, CS);
    setStackPointer(cpu, spOffset(cpu, 2 * size + imm));
    cpu.st[EIP] = target;
    jumped(cpu);
    return;
  }
  const cpl = cpu.st[CPL]!;
  if (!checkReturnCs(cpu, csSel, cpl)) return;
  const rpl = csSel & 3;
  if (rpl === cpl) {
    if (!inLimit(cpu, target, CODE)) return;
    loadCs(cpu, csSel, CODE, cpl);
    if (faulted(cpu)) return;
    setStackPointer(cpu, spOffset(cpu, 2 * size + imm));
    cpu.st[EIP] = target;
    jumped(cpu);
    return;
  }
  // To an outer level: SS:ESP follow the parameters.
  const espRaw = stackRead(cpu, 2 * size + imm, size);
  if (faulted(cpu)) return;
  const ssSel = stackRead(cpu, 3 * size + imm, size) & 0xffff;
  if (faulted(cpu)) return;
  if (!checkReturnSs(cpu, ssSel, rpl) || !inLimit(cpu, target, CODE)) return;
  loadCs(cpu, csSel, CODE, rpl);
  if (faulted(cpu)) return;
  loadOuterStack(cpu, ssSel, ((size === 4 ? espRaw : espRaw & 0xffff) + imm) | 0);
  cpu.st[EIP] = target;
  nullOuterSegments(cpu);
  jumped(cpu);
}

// IRET ---------------------------------------------------------------------------------

const IRET_BASE =
  FLAG_CF | FLAG_PF | FLAG_AF | FLAG_ZF | FLAG_SF | FLAG_TF | FLAG_DF | FLAG_OF | FLAG_NT;

/**
 * The EFLAGS IRET leaves in protected mode (SDM Vol. 2 IRET): IF only when CPL ≤ IOPL,
 * IOPL and VIF/VIP only at CPL 0, RF/AC/ID with a 32-bit operand; VM stays 0 here.
 */
function iretFlags(cpu: X86Cpu, popped: number, o32: boolean, cpl: number): number {
  const old = getFlags(cpu.st);
  let mask = IRET_BASE;
  if (o32) mask |= FLAG_RF | FLAG_AC | FLAG_ID;
  if (cpl <= (old & FLAG_IOPL) >> 12) mask |= FLAG_IF;
  if (cpl === 0) {
    mask |= FLAG_IOPL;
    if (o32) mask |= FLAG_VIF | FLAG_VIP;
  }
  return ((old & ~mask) | (popped & mask)) & ~FLAG_VM;
}

/** IRET in real mode, or in VM86 mode with IOPL = 3 (IOPL and VM kept). */
function iretReal(cpu: X86Cpu, size: number) {
  const st = cpu.st;
  const v86 = !cpu.realMode;
  const old = getFlags(st);
  if (v86 && (old & FLAG_IOPL) !== FLAG_IOPL) return raiseFault(cpu, GP_VECTOR, 0);
  const eipRaw = stackRead(cpu, 0, size);
  if (faulted(cpu)) return;
  const csSel = stackRead(cpu, size, size) & 0xffff;
  if (faulted(cpu)) return;
  const popped = stackRead(cpu, 2 * size, size);
  if (faulted(cpu)) return;
  const target = size === 4 ? eipRaw : eipRaw & 0xffff;
  if (target >>> 0 > cpu.segLimit[CS]! >>> 0) return raiseFault(cpu, GP_VECTOR, 0);
  let flags: number;
  if (size === 4) {
    const keep = FLAG_VM | FLAG_VIF | FLAG_VIP | (v86 ? FLAG_IOPL : 0);
    flags = (popped & 0x0025_7fd5 & ~keep) | (old & keep);
  } else {
    const keep = v86 ? FLAG_IOPL : 0;
    flags = (old & ~0xffff) | (popped & 0x7fd5 & ~keep) | (old & keep);
  }
  if (v86) loadSegmentV86(cpu, CS, csSel);
  else loadSegmentReal(cpu, CS, csSel);
  recomputeSegment(cpu, CS);
  setStackPointer(cpu, spOffset(cpu, 3 * size));
  setFlags(st, flags);
  st[EIP] = target;
  st[NMI_BLOCKED] = 0;
  jumped(cpu);
}

/** IRET from CPL 0 to a VM86 task (SDM Vol. 2 IRET, RETURN-TO-VIRTUAL-8086-MODE). */
function iretToV86(cpu: X86Cpu, eipRaw: number, csSel: number, popped: number) {
  const st = cpu.st;
  if (eipRaw >>> 0 > 0xffff) return raiseFault(cpu, GP_VECTOR, 0);
  // ESP, SS, ES, DS, FS, GS follow EIP, CS, EFLAGS on the stack.
  for (let k = 0; k < 6; k++) {
    PARAMS[k] = readMem32(cpu, SS, spOffset(cpu, 12 + 4 * k));
    if (faulted(cpu)) return;
  }
  setFlags(st, popped & 0x003f_7fd5);
  setCpl(cpu, 3);
  loadSegmentV86(cpu, CS, csSel);
  loadSegmentV86(cpu, SS, PARAMS[1]! & 0xffff);
  loadSegmentV86(cpu, ES, PARAMS[2]! & 0xffff);
  loadSegmentV86(cpu, DS, PARAMS[3]! & 0xffff);
  loadSegmentV86(cpu, FS, PARAMS[4]! & 0xffff);
  loadSegmentV86(cpu, GS, PARAMS[5]! & 0xffff);
  for (let s = 0; s <= GS; s++) recomputeSegment(cpu, s);
  cpu.regs[ESP] = PARAMS[0]!;
  st[EIP] = eipRaw & 0xffff;
  st[NMI_BLOCKED] = 0;
  jumped(cpu);
}

/** IRET with NT = 1: return to the task in the back link (SDM Vol. 2 IRET, TASK-RETURN). */
function iretTask(cpu: X86Cpu, i: number) {
  const link = backLink(cpu);
  if (faulted(cpu)) return;
  const err = link & 0xfffc;
  if (link & 4) return raiseFault(cpu, TS_VECTOR, err);
  if (!fetchInto(cpu, link, CODE, TS_VECTOR)) return;
  const hi = CODE[1]!;
  const type = descType(hi);
  if (type !== SYS_TSS16_BUSY && type !== SYS_TSS32_BUSY) return raiseFault(cpu, TS_VECTOR, err);
  if (!descPresent(hi)) return raiseFault(cpu, NP_VECTOR, err);
  if (taskSwitch(cpu, link, CODE[0]!, hi, TASK_IRET, next(cpu, i))) {
    cpu.st[NMI_BLOCKED] = 0;
    jumped(cpu);
  }
}

/** IRET / IRETD (SDM Vol. 2 IRET). */
function iret(cpu: X86Cpu, i: number, size: number) {
  if (!protectedMode(cpu)) return iretReal(cpu, size);
  const st = cpu.st;
  if ((st[FLAGS]! & FLAG_NT) !== 0) return iretTask(cpu, i);
  const o32 = size === 4;
  const eipRaw = stackRead(cpu, 0, size);
  if (faulted(cpu)) return;
  const csSel = stackRead(cpu, size, size) & 0xffff;
  if (faulted(cpu)) return;
  const popped = stackRead(cpu, 2 * size, size);
  if (faulted(cpu)) return;
  const cpl = st[CPL]!;
  if (o32 && (popped & FLAG_VM) !== 0 && cpl === 0) return iretToV86(cpu, eipRaw, csSel, popped);
  const target = o32 ? eipRaw : eipRaw & 0xffff;
  if (!checkReturnCs(cpu, csSel, cpl)) return;
  const rpl = csSel & 3;
  if (rpl === cpl) {
    if (!inLimit(cpu, target, CODE)) return;
    const flags = iretFlags(
      cpu,
      o32 ? popped : (getFlags(st) & ~0xffff) | (popped & 0xffff),
      o32,
      cpl,
    );
    loadCs(cpu, csSel, CODE, cpl);
    if (faulted(cpu)) return;
    setStackPointer(cpu, spOffset(cpu, 3 * size));
    setFlags(st, flags);
    st[EIP] = target;
    st[NMI_BLOCKED] = 0;
    jumped(cpu);
    return;
  }
  const espRaw = stackRead(cpu, 3 * size, size);
  if (faulted(cpu)) return;
  const ssSel = stackRead(cpu, 4 * size, size) & 0xffff;
  if (faulted(cpu)) return;
  if (!checkReturnSs(cpu, ssSel, rpl) || !inLimit(cpu, target, CODE)) return;
  const flags = iretFlags(
    cpu,
    o32 ? popped : (getFlags(st) & ~0xffff) | (popped & 0xffff),
    o32,
    cpl,
  );
  loadCs(cpu, csSel, CODE, rpl);
  if (faulted(cpu)) return;
  loadOuterStack(cpu, ssSel, o32 ? espRaw : espRaw & 0xffff);
  setFlags(st, flags);
  st[EIP] = target;
  st[NMI_BLOCKED] = 0;
  nullOuterSegments(cpu);
  jumped(cpu);
}

// Handlers -----------------------------------------------------------------------------

/** The m16:16 / m16:32 operand of JMPF/CALLF Mp; false after a fault. FAR[0] off, [1] sel. */
const FAR = new Int32Array(2);
function readFarPointer(cpu: X86Cpu, i: number, o32: boolean): boolean {
  const dc = cpu.dc;
  const s = dc.seg[i]!;
  const a = ea(cpu, i);
  const size = o32 ? 4 : 2;
  FAR[0] = o32 ? readMem32(cpu, s, a) : readMem16(cpu, s, a);
  if (faulted(cpu)) return false;
  FAR[1] = readMem16(cpu, s, dc.flags[i]! & F_A32 ? (a + size) | 0 : (a + size) & 0xffff);
  return !faulted(cpu);
}

export const FAR_XFER: Readonly<Record<string, HandlerSpec>> = {
  jmpf_Ap: {
    o16: (cpu, i) => jmpFar(cpu, i, cpu.dc.imm2[i]! & 0xffff, cpu.dc.imm[i]!, false),
    o32: (cpu, i) => jmpFar(cpu, i, cpu.dc.imm2[i]! & 0xffff, cpu.dc.imm[i]!, true),
  },
  jmpf_Mp: {
    o16: (cpu, i) => {
      if (readFarPointer(cpu, i, false)) jmpFar(cpu, i, FAR[1]!, FAR[0]!, false);
    },
    o32: (cpu, i) => {
      if (readFarPointer(cpu, i, true)) jmpFar(cpu, i, FAR[1]!, FAR[0]!, true);
    },
  },
  callf_Ap: {
    o16: (cpu, i) => callFar(cpu, i, cpu.dc.imm2[i]! & 0xffff, cpu.dc.imm[i]!, false),
    o32: (cpu, i) => callFar(cpu, i, cpu.dc.imm2[i]! & 0xffff, cpu.dc.imm[i]!, true),
  },
  callf_Mp: {
    o16: (cpu, i) => {
      if (readFarPointer(cpu, i, false)) callFar(cpu, i, FAR[1]!, FAR[0]!, false);
    },
    o32: (cpu, i) => {
      if (readFarPointer(cpu, i, true)) callFar(cpu, i, FAR[1]!, FAR[0]!, true);
    },
  },
  retf: { o16: (cpu) => retFar(cpu, 2, 0), o32: (cpu) => retFar(cpu, 4, 0) },
  retf_Iw: {
    o16: (cpu, i) => retFar(cpu, 2, cpu.dc.imm[i]! & 0xffff),
    o32: (cpu, i) => retFar(cpu, 4, cpu.dc.imm[i]! & 0xffff),
  },
  iret: { o16: (cpu, i) => iret(cpu, i, 2), o32: (cpu, i) => iret(cpu, i, 4) },
};
