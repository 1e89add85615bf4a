/**
 * Memory access through segments (Bochs access.cc / access2.cc): the segment checks of
 * SDM Vol. 3 §5.3–5.4 (limit, expand-down, type), linear → physical (A20 now, paging in
 * part 2), RAM fast paths, the device callback and the MMIO hook for everything else.
 *
 * Faults are not thrown: the access raises the exception (st[STOP] = STOP_FAULT) and
 * returns 0; a handler checks `st[STOP] === STOP_FAULT` after each access it makes.
 */
import {
  CAS_DONE,
  CAS_FAILED,
  CAS_MMIO,
  casRam,
  lockWordAcquire,
  lockWordRelease,
} from "./atomic.js";
import type { X86Cpu } from "./cpu.js";
import { raiseFault } from "./exception.js";
import { EV_MMIO, HOOK_DONE, HOOK_EXIT, type HookResult, type X86Hooks } from "./hooks.js";
import { F_A32 } from "./instr.js";
import { ACC_IMPLICIT, ACC_READ, ACC_WRITE, dataAcc, fillTlb, translateLinear } from "./paging.js";
import {
  AR_DB,
  AR_G,
  AR_L,
  AR_P,
  AR_S,
  AR_TYPE_CODE,
  AR_TYPE_EC,
  AR_TYPE_RW,
  AR_UNUSABLE,
  CR0_PE,
  CR0_PG,
  CS,
  EFER_LMA,
  ESP,
  FS,
  GP_VECTOR,
  PAGE_SHIFT,
  SS,
  SS_VECTOR,
} from "./regs.js";
import {
  CR0,
  EFER,
  EXIT_REASON,
  FETCH_HI,
  FETCH_MODE,
  LOCK_FAIL,
  LOCK_MODE,
  LOCK_OLD,
  RIP_HI,
  RMW_LIN,
  RMW_PHYS,
  RMW_PHYS2,
  RMW_SPLIT,
  SEG_OK_R,
  SEG_OK_W,
  STOP,
  STOP_FAULT,
} from "./state.js";

/**
 * Refresh the derived check values of segment `s` from its cache. In real mode every
 * segment is readable and writable and only the limit applies.
 */
export function recomputeSegment(cpu: X86Cpu, s: number): void {
  const ar = cpu.segAr[s]!;
  const limit = cpu.segLimit[s]! >>> 0;
  const big = (ar & AR_DB) !== 0;
  let lo = 0;
  let hi = limit;
  let ok = SEG_OK_R | SEG_OK_W;
  if (cpu.st[CR0]! & CR0_PE) {
    if (ar & AR_UNUSABLE || !(ar & AR_P)) ok = 0;
    else if (ar & AR_S) {
      if (ar & AR_TYPE_CODE) ok = ar & AR_TYPE_RW ? SEG_OK_R : 0;
      else {
        ok = ar & AR_TYPE_RW ? SEG_OK_R | SEG_OK_W : SEG_OK_R;
        if (ar & AR_TYPE_EC) {
          // Expand-down: valid offsets are limit+1 .. 0xFFFF or 0xFFFFFFFF (B bit).
          lo = limit + 1;
          hi = big ? 0xffff_ffff : 0xffff;
        }
      }
    } else ok = 0;
  }
  const st = cpu.st;
  // 64-bit mode: segmentation is off for CS, DS, ES, SS (no base but FS/GS's, no limit).
  if ((st[EFER]! & EFER_LMA) !== 0 && (cpu.segAr[CS]! & AR_L) !== 0 && s < FS) {
    lo = 0;
    hi = 0xffff_ffff;
    if (s !== CS) ok = SEG_OK_R | SEG_OK_W;
  }
  cpu.segLo[s] = lo;
  cpu.segHi[s] = hi;
  cpu.segOk[s] = ok;
  if (s === CS) {
    const mode = fetchMode(cpu);
    // Leaving 64-bit mode leaves RIP's high half zero.
    if ((mode & 4) === 0) st[RIP_HI] = 0;
    if ((hi | 0) !== st[FETCH_HI] || mode !== st[FETCH_MODE]) {
      st[FETCH_HI] = hi;
      st[FETCH_MODE] = mode;
      cpu.dc.bumpEpoch();
    }
  }
}

/**
 * How code decodes at CS: bit 0 = CS.D, bit 1 = CR0.PE, bit 2 = 64-bit mode (EFER.LMA
 * with CS.L). Decoded blocks are kept per mode.
 */
export function fetchMode(cpu: X86Cpu): number {
  const st = cpu.st;
  const ar = cpu.segAr[CS]!;
  const long = (st[EFER]! & EFER_LMA) !== 0 && (ar & AR_L) !== 0;
  return long ? 6 : (ar & AR_DB ? 1 : 0) | (st[CR0]! & CR0_PE ? 2 : 0);
}

/** Expand a descriptor's raw 20-bit limit by its G bit. */
export function scaleLimit(rawLimit: number, ar: number): number {
  return ar & AR_G ? ((rawLimit << 12) | 0xfff) >>> 0 : rawLimit;
}

/** #SS(0) for the stack segment, #GP(0) otherwise (SDM §5.3). */
function segmentFault(cpu: X86Cpu, seg: number): void {
  raiseFault(cpu, seg === SS ? SS_VECTOR : GP_VECTOR, 0);
}

/** The effective address of decoded instruction `i` (16- or 32-bit). */
export function ea(cpu: X86Cpu, i: number): number {
  const dc = cpu.dc;
  const r = cpu.regs;
  const a = (r[dc.base[i]!]! + (r[dc.index[i]!]! << dc.scale[i]!) + dc.disp[i]!) | 0;
  return dc.flags[i]! & F_A32 ? a : a & 0xffff;
}

/** Check an access of `size` bytes at `off` in `seg`; returns the linear address or faults. */
function check(cpu: X86Cpu, seg: number, off: number, size: number, need: number): number {
  const o = off >>> 0;
  if ((cpu.segOk[seg]! & need) === 0 || o < cpu.segLo[seg]! || o + size - 1 > cpu.segHi[seg]!) {
    segmentFault(cpu, seg);
    return 0;
  }
  return (cpu.segBase[seg]! + o) | 0;
}

/**
 * Linear → physical for an implicit supervisor read (descriptor tables, the TSS, the
 * IDT), through paging when it is on; a #PF is raised and 0 returned (check STOP_FAULT).
 */
export function translate(cpu: X86Cpu, linear: number): number {
  return translateLinear(cpu, linear, ACC_READ | ACC_IMPLICIT);
}

/** True when the `size` bytes at `lin` cross into the next 4 KiB page under paging. */
function crossesPaged(cpu: X86Cpu, lin: number, size: number): boolean {
  return (lin & 0xfff) + size > 0x1000 && (cpu.st[CR0]! & CR0_PG) !== 0;
}

/**
 * Read `size` bytes at linear `lin` with access `acc`: each page translated on its own
 * when the access crosses one under paging. 0 after a fault (check STOP_FAULT).
 */
function linReadAcc(cpu: X86Cpu, lin: number, size: number, acc: number): number {
  if (crossesPaged(cpu, lin, size)) {
    let v = 0;
    for (let k = 0; k < size; k++) {
      const p = translateLinear(cpu, (lin + k) | 0, acc);
      if (cpu.st[STOP] === STOP_FAULT) return 0;
      v |= physRead8(cpu, p) << (8 * k);
    }
    return v;
  }
  const p = translateLinear(cpu, lin, acc);
  if (cpu.st[STOP] === STOP_FAULT) return 0;
  return size === 1 ? physRead8(cpu, p) : size === 2 ? physRead16(cpu, p) : physRead32(cpu, p);
}

/**
 * Write `size` bytes at linear `lin` with access `acc`. Across a page boundary both
 * pages are translated (and may fault) before anything is written.
 */
function linWriteAcc(cpu: X86Cpu, lin: number, size: number, v: number, acc: number): void {
  if (crossesPaged(cpu, lin, size)) {
    const split = 0x1000 - (lin & 0xfff);
    const p1 = translateLinear(cpu, lin, acc);
    if (cpu.st[STOP] === STOP_FAULT) return;
    const p2 = translateLinear(cpu, (lin + split) | 0, acc);
    if (cpu.st[STOP] === STOP_FAULT) return;
    for (let k = 0; k < size; k++) {
      physWrite8(cpu, k < split ? (p1 + k) | 0 : (p2 + k - split) | 0, v >> (8 * k));
    }
    return;
  }
  const p = translateLinear(cpu, lin, acc);
  if (cpu.st[STOP] === STOP_FAULT) return;
  if (size === 1) physWrite8(cpu, p, v);
  else if (size === 2) physWrite16(cpu, p, v);
  else physWrite32(cpu, p, v);
}

// Physical access -------------------------------------------------------------

/**
 * Offer an access outside RAM to the installed hook (hooks.ts EV_MMIO): `kind` 0 read,
 * 1 write, 2 instruction fetch. A hook answering HOOK_DONE leaves a read's value in
 * exitInfo[4].
 */
export function mmioHook(
  cpu: X86Cpu,
  hooks: X86Hooks,
  phys: number,
  size: number,
  kind: number,
  value: number,
): HookResult {
  const x = cpu.exitInfo;
  x[0] = EV_MMIO;
  x[1] = phys;
  x[2] = size;
  x[3] = kind;
  x[4] = value;
  return hooks.onEvent(cpu, EV_MMIO);
}

function mmio(cpu: X86Cpu, phys: number, size: number, write: boolean, value: number): number {
  if (cpu.hooks !== null) {
    const r = mmioHook(cpu, cpu.hooks, phys, size, write ? 1 : 0, value);
    if (r === HOOK_EXIT) {
      cpu.st[STOP] = STOP_FAULT;
      cpu.st[EXIT_REASON] = 3;
      return 0;
    }
    if (r === HOOK_DONE) return cpu.exitInfo[4]! >>> 0;
  }
  const dev = cpu.mem.devices;
  if (write) {
    dev.mmioWrite(phys >>> 0, size as 1 | 2 | 4, value >>> 0);
    return 0;
  }
  return dev.mmioRead(phys >>> 0, size as 1 | 2 | 4) >>> 0;
}

export function physRead8(cpu: X86Cpu, p: number): number {
  const mem = cpu.mem;
  const e = mem.pageMap[p >>> PAGE_SHIFT]!;
  if (e >= 0) return mem.mem8[e >>> 20]![((e & 0xfffff) << PAGE_SHIFT) | (p & 0xfff)]!;
  return mmio(cpu, p, 1, false, 0) & 0xff;
}

export function physRead16(cpu: X86Cpu, p: number): number {
  const mem = cpu.mem;
  const e = mem.pageMap[p >>> PAGE_SHIFT]!;
  if (e >= 0 && (p & 0xfff) !== 0xfff) {
    const m = mem.mem8[e >>> 20]!;
    const o = ((e & 0xfffff) << PAGE_SHIFT) | (p & 0xfff);
    return m[o]! | (m[o + 1]! << 8);
  }
  if (e < 0 && (p & 0xfff) !== 0xfff) return mmio(cpu, p, 2, false, 0) & 0xffff;
  const lo = physRead8(cpu, p);
  return lo | (physRead8(cpu, (p + 1) | 0) << 8);
}

export function physRead32(cpu: X86Cpu, p: number): number {
  const mem = cpu.mem;
  const e = mem.pageMap[p >>> PAGE_SHIFT]!;
  if (e >= 0 && (p & 0xfff) <= 0xffc) {
    const o = ((e & 0xfffff) << PAGE_SHIFT) | (p & 0xfff);
    if ((o & 3) === 0) return mem.mem32[e >>> 20]![o >> 2]!;
    const m = mem.mem8[e >>> 20]!;
    return m[o]! | (m[o + 1]! << 8) | (m[o + 2]! << 16) | (m[o + 3]! << 24);
  }
  if (e < 0 && (p & 0xfff) <= 0xffc) return mmio(cpu, p, 4, false, 0) | 0;
  const lo = physRead16(cpu, p);
  return lo | (physRead16(cpu, (p + 2) | 0) << 16);
}

/**
 * A write reaching a page with decoded code or a read-only page: drop the code; false when
 * the page is read-only — the write then takes the MMIO path (the hook, then the devices),
 * as a write to a KVM_MEM_READONLY slot exits to userspace as MMIO.
 */
function noteWrite(cpu: X86Cpu, page: number): boolean {
  const mem = cpu.mem;
  if (mem.codePage[page] !== 0) cpu.invalidateCodePage(page);
  return mem.roPage[page] === 0;
}

export function physWrite8(cpu: X86Cpu, p: number, v: number): void {
  const mem = cpu.mem;
  const page = p >>> PAGE_SHIFT;
  const e = mem.pageMap[page]!;
  if (e >= 0) {
    if (mem.codePage[page] !== 0 || mem.roPage[page] !== 0) {
      if (!noteWrite(cpu, page)) return void mmio(cpu, p, 1, true, v & 0xff);
    }
    mem.mem8[e >>> 20]![((e & 0xfffff) << PAGE_SHIFT) | (p & 0xfff)] = v;
    return;
  }
  mmio(cpu, p, 1, true, v & 0xff);
}

export function physWrite16(cpu: X86Cpu, p: number, v: number): void {
  const mem = cpu.mem;
  const page = p >>> PAGE_SHIFT;
  const e = mem.pageMap[page]!;
  if ((p & 0xfff) !== 0xfff) {
    if (e >= 0) {
      if (mem.codePage[page] !== 0 || mem.roPage[page] !== 0) {
        if (!noteWrite(cpu, page)) return void mmio(cpu, p, 2, true, v & 0xffff);
      }
      const m = mem.mem8[e >>> 20]!;
      const o = ((e & 0xfffff) << PAGE_SHIFT) | (p & 0xfff);
      m[o] = v;
      m[o + 1] = v >> 8;
      return;
    }
    mmio(cpu, p, 2, true, v & 0xffff);
    return;
  }
  physWrite8(cpu, p, v);
  physWrite8(cpu, (p + 1) | 0, v >> 8);
}

export function physWrite32(cpu: X86Cpu, p: number, v: number): void {
  const mem = cpu.mem;
  const page = p >>> PAGE_SHIFT;
  const e = mem.pageMap[page]!;
  if ((p & 0xfff) <= 0xffc) {
    if (e >= 0) {
      if (mem.codePage[page] !== 0 || mem.roPage[page] !== 0) {
        if (!noteWrite(cpu, page)) return void mmio(cpu, p, 4, true, v);
      }
      const o = ((e & 0xfffff) << PAGE_SHIFT) | (p & 0xfff);
      if ((o & 3) === 0) {
        mem.mem32[e >>> 20]![o >> 2] = v;
        return;
      }
      const m = mem.mem8[e >>> 20]!;
      m[o] = v;
      m[o + 1] = v >> 8;
      m[o + 2] = v >> 16;
      m[o + 3] = v >> 24;
      return;
    }
    mmio(cpu, p, 4, true, v);
    return;
  }
  physWrite16(cpu, p, v);
  physWrite16(cpu, (p + 2) | 0, v >> 16);
}

// Linear access (descriptor tables, TSS, IDT: no segment checks) ---------------

// Implicit supervisor accesses: a #PF is raised and reads return 0 (check STOP_FAULT).
export function linRead8(cpu: X86Cpu, lin: number): number {
  return linReadAcc(cpu, lin, 1, ACC_READ | ACC_IMPLICIT);
}
export function linRead16(cpu: X86Cpu, lin: number): number {
  return linReadAcc(cpu, lin, 2, ACC_READ | ACC_IMPLICIT);
}
export function linRead32(cpu: X86Cpu, lin: number): number {
  return linReadAcc(cpu, lin, 4, ACC_READ | ACC_IMPLICIT);
}
export function linWrite8(cpu: X86Cpu, lin: number, v: number): void {
  linWriteAcc(cpu, lin, 1, v, ACC_WRITE | ACC_IMPLICIT);
}
export function linWrite16(cpu: X86Cpu, lin: number, v: number): void {
  linWriteAcc(cpu, lin, 2, v, ACC_WRITE | ACC_IMPLICIT);
}
export function linWrite32(cpu: X86Cpu, lin: number, v: number): void {
  linWriteAcc(cpu, lin, 4, v, ACC_WRITE | ACC_IMPLICIT);
}

// Segmented access (the instruction operands) ----------------------------------

// Each accessor has a fast path for an aligned-enough RAM access through a usable segment
// and falls back to the general path (faults, MMIO, page crossings, code pages).

// Each accessor has a fast path — a usable segment, then the data TLB (cpu.tlbR/tlbW,
// linear page → offset in RAM range 0) — and falls back to the general path (faults,
// MMIO, page crossings, code pages, other RAM ranges), which also fills the TLB.

export function readMem8(cpu: X86Cpu, seg: number, off: number): number {
  const o = off >>> 0;
  if ((cpu.segOk[seg]! & SEG_OK_R) !== 0 && o >= cpu.segLo[seg]! && o <= cpu.segHi[seg]!) {
    const lin = (cpu.segBase[seg]! + o) | 0;
    const t = cpu.tlbR[lin >>> PAGE_SHIFT]!;
    if (t >= 0) return cpu.ram8[t | (lin & 0xfff)]!;
  }
  return readSlow(cpu, seg, off, 1);
}
export function readMem16(cpu: X86Cpu, seg: number, off: number): number {
  const o = off >>> 0;
  if ((cpu.segOk[seg]! & SEG_OK_R) !== 0 && o >= cpu.segLo[seg]! && o + 1 <= cpu.segHi[seg]!) {
    const lin = (cpu.segBase[seg]! + o) | 0;
    const t = cpu.tlbR[lin >>> PAGE_SHIFT]!;
    if (t >= 0 && (lin & 0xfff) !== 0xfff) {
      const q = t | (lin & 0xfff);
      const m = cpu.ram8;
      return m[q]! | (m[q + 1]! << 8);
    }
  }
  return readSlow(cpu, seg, off, 2);
}
export function readMem32(cpu: X86Cpu, seg: number, off: number): number {
  const o = off >>> 0;
  if ((cpu.segOk[seg]! & SEG_OK_R) !== 0 && o >= cpu.segLo[seg]! && o + 3 <= cpu.segHi[seg]!) {
    const lin = (cpu.segBase[seg]! + o) | 0;
    const t = cpu.tlbR[lin >>> PAGE_SHIFT]!;
    if (t >= 0 && (lin & 3) === 0) return cpu.ram32[(t | (lin & 0xfff)) >> 2]!;
  }
  return readSlow(cpu, seg, off, 4);
}

function readSlow(cpu: X86Cpu, seg: number, off: number, size: number): number {
  const lin = check(cpu, seg, off, size, SEG_OK_R);
  if (cpu.st[STOP] === STOP_FAULT) return 0;
  const acc = dataAcc(cpu, ACC_READ);
  if (crossesPaged(cpu, lin, size)) return linReadAcc(cpu, lin, size, acc);
  const p = translateLinear(cpu, lin, acc);
  if (cpu.st[STOP] === STOP_FAULT) return 0;
  fillTlb(cpu, lin, p, false);
  return size === 1 ? physRead8(cpu, p) : size === 2 ? physRead16(cpu, p) : physRead32(cpu, p);
}

export function writeMem8(cpu: X86Cpu, seg: number, off: number, v: number): void {
  const o = off >>> 0;
  if ((cpu.segOk[seg]! & SEG_OK_W) !== 0 && o >= cpu.segLo[seg]! && o <= cpu.segHi[seg]!) {
    const lin = (cpu.segBase[seg]! + o) | 0;
    const t = cpu.tlbW[lin >>> PAGE_SHIFT]!;
    if (t >= 0) {
      cpu.ram8[t | (lin & 0xfff)] = v;
      return;
    }
  }
  writeSlow(cpu, seg, off, 1, v);
}
export function writeMem16(cpu: X86Cpu, seg: number, off: number, v: number): void {
  const o = off >>> 0;
  if ((cpu.segOk[seg]! & SEG_OK_W) !== 0 && o >= cpu.segLo[seg]! && o + 1 <= cpu.segHi[seg]!) {
    const lin = (cpu.segBase[seg]! + o) | 0;
    const t = cpu.tlbW[lin >>> PAGE_SHIFT]!;
    if (t >= 0 && (lin & 0xfff) !== 0xfff) {
      const q = t | (lin & 0xfff);
      const m = cpu.ram8;
      m[q] = v;
      m[q + 1] = v >> 8;
      return;
    }
  }
  writeSlow(cpu, seg, off, 2, v);
}
export function writeMem32(cpu: X86Cpu, seg: number, off: number, v: number): void {
  const o = off >>> 0;
  if ((cpu.segOk[seg]! & SEG_OK_W) !== 0 && o >= cpu.segLo[seg]! && o + 3 <= cpu.segHi[seg]!) {
    const lin = (cpu.segBase[seg]! + o) | 0;
    const t = cpu.tlbW[lin >>> PAGE_SHIFT]!;
    if (t >= 0 && (lin & 3) === 0) {
      cpu.ram32[(t | (lin & 0xfff)) >> 2] = v;
      return;
    }
  }
  writeSlow(cpu, seg, off, 4, v);
}

function writeSlow(cpu: X86Cpu, seg: number, off: number, size: number, v: number): void {
  const lin = check(cpu, seg, off, size, SEG_OK_W);
  if (cpu.st[STOP] === STOP_FAULT) return;
  const acc = dataAcc(cpu, ACC_WRITE);
  if (crossesPaged(cpu, lin, size)) {
    linWriteAcc(cpu, lin, size, v, acc);
    return;
  }
  const p = translateLinear(cpu, lin, acc);
  if (cpu.st[STOP] === STOP_FAULT) return;
  if (size === 1) physWrite8(cpu, p, v);
  else if (size === 2) physWrite16(cpu, p, v);
  else physWrite32(cpu, p, v);
  fillTlb(cpu, lin, p, true);
}

/**
 * Check that `size` bytes at `off` may be written, without writing (multi-part stores):
 * the segment, and under paging the page(s), which may fault.
 */
export function probeWrite(cpu: X86Cpu, seg: number, off: number, size: number): boolean {
  const lin = check(cpu, seg, off, size, SEG_OK_W);
  if (cpu.st[STOP] === STOP_FAULT) return false;
  if ((cpu.st[CR0]! & CR0_PG) !== 0) {
    const acc = dataAcc(cpu, ACC_WRITE);
    translateLinear(cpu, lin, acc);
    if (cpu.st[STOP] !== STOP_FAULT && (lin & 0xfff) + size > 0x1000) {
      translateLinear(cpu, (lin + size - 1) | 0, acc);
    }
  }
  return cpu.st[STOP] !== STOP_FAULT;
}

/**
 * Read-modify-write: read the operand after checking it may be written, remembering where
 * it is; `rmwWriteN` then stores the result there without checking again.
 */
export function rmwRead8(cpu: X86Cpu, seg: number, off: number): number {
  return rmwRead(cpu, seg, off, 1);
}
export function rmwRead16(cpu: X86Cpu, seg: number, off: number): number {
  return rmwRead(cpu, seg, off, 2);
}
export function rmwRead32(cpu: X86Cpu, seg: number, off: number): number {
  return rmwRead(cpu, seg, off, 4);
}

/**
 * The read half of a read-modify-write: the operand is translated for writing (a
 * read-only page faults here, with W set in the error code, as on hardware) and its
 * physical address kept — both pages' when it crosses one under paging.
 */
function rmwRead(cpu: X86Cpu, seg: number, off: number, size: number): number {
  const st = cpu.st;
  const lin = check(cpu, seg, off, size, SEG_OK_R | SEG_OK_W);
  if (st[STOP] === STOP_FAULT) return 0;
  const acc = dataAcc(cpu, ACC_WRITE);
  const p = translateLinear(cpu, lin, acc);
  if (st[STOP] === STOP_FAULT) return 0;
  st[RMW_LIN] = lin;
  st[RMW_PHYS] = p;
  if (crossesPaged(cpu, lin, size)) {
    const split = 0x1000 - (lin & 0xfff);
    const p2 = translateLinear(cpu, (lin + split) | 0, acc);
    if (st[STOP] === STOP_FAULT) return 0;
    st[RMW_PHYS2] = p2;
    st[RMW_SPLIT] = split;
    let v = 0;
    for (let k = 0; k < size; k++) {
      v |= physRead8(cpu, k < split ? (p + k) | 0 : (p2 + k - split) | 0) << (8 * k);
    }
    st[LOCK_OLD] = v;
    return v;
  }
  st[RMW_SPLIT] = 0;
  const v = size === 1 ? physRead8(cpu, p) : size === 2 ? physRead16(cpu, p) : physRead32(cpu, p);
  // Kept for a locked instruction's compare-and-exchange (locked.ts).
  st[LOCK_OLD] = v;
  return v;
}

function rmwWrite(cpu: X86Cpu, size: number, v: number): void {
  const st = cpu.st;
  if (st[LOCK_MODE] !== 0 && lockedWrite(cpu, size, v)) return;
  const p = st[RMW_PHYS]!;
  const split = st[RMW_SPLIT]!;
  if (split !== 0) {
    const p2 = st[RMW_PHYS2]!;
    for (let k = 0; k < size; k++) {
      physWrite8(cpu, k < split ? (p + k) | 0 : (p2 + k - split) | 0, v >> (8 * k));
    }
    return;
  }
  if (size === 1) physWrite8(cpu, p, v);
  else if (size === 2) physWrite16(cpu, p, v);
  else physWrite32(cpu, p, v);
}

/**
 * The write of a locked read-modify-write on shared RAM: a compare-and-exchange against
 * the value rmwRead read (LOCK_FAIL set when another agent changed it meanwhile). False
 * when the operand is not RAM: the ordinary write path then runs (MMIO, read-only slots).
 */
function lockedWrite(cpu: X86Cpu, size: number, v: number): boolean {
  const st = cpu.st;
  const p = st[RMW_PHYS]!;
  const split = st[RMW_SPLIT]!;
  if (split === 0) {
    const r = casRam(cpu, p, size, st[LOCK_OLD]!, 0, v, 0);
    if (r === CAS_DONE) return true;
    if (r === CAS_FAILED) {
      st[LOCK_FAIL] = 1;
      return true;
    }
    if (r === CAS_MMIO) return false;
  }
  lockedBytes(cpu, p, split === 0 ? size : split, st[RMW_PHYS2]!, size, st[LOCK_OLD]!, 0, v, 0);
  return true;
}

/**
 * A locked write no JavaScript atomic covers (a split lock): under the lock word, compare
 * the operand's RAM bytes with `old`/`oldHi` (bytes 0–3 / 4–7) and, if they match, store
 * `v`/`vHi`. Bytes [0, split) are at `p1`, the rest at `p2`. LOCK_FAIL on a mismatch.
 */
export function lockedBytes(
  cpu: X86Cpu,
  p1: number,
  split: number,
  p2: number,
  size: number,
  old: number,
  oldHi: number,
  v: number,
  vHi: number,
): void {
  const words = cpu.mem.lockWords;
  const map = cpu.mem.pageMap;
  lockWordAcquire(words);
  let same = true;
  for (let k = 0; k < size && same; k++) {
    const a = k < split ? (p1 + k) | 0 : (p2 + k - split) | 0;
    // Bytes outside RAM are not read again (a device read may have side effects).
    if (map[a >>> PAGE_SHIFT]! < 0) continue;
    const want = (k < 4 ? old >>> (8 * k) : oldHi >>> (8 * (k - 4))) & 0xff;
    same = physRead8(cpu, a) === want;
  }
  if (same) {
    for (let k = 0; k < size; k++) {
      const a = k < split ? (p1 + k) | 0 : (p2 + k - split) | 0;
      physWrite8(cpu, a, k < 4 ? v >> (8 * k) : vHi >> (8 * (k - 4)));
    }
  }
  lockWordRelease(words);
  if (!same) cpu.st[LOCK_FAIL] = 1;
}

export function rmwWrite8(cpu: X86Cpu, v: number): void {
  rmwWrite(cpu, 1, v);
}
export function rmwWrite16(cpu: X86Cpu, v: number): void {
  rmwWrite(cpu, 2, v);
}
export function rmwWrite32(cpu: X86Cpu, v: number): void {
  rmwWrite(cpu, 4, v);
}

// The stack ----------------------------------------------------------------------

/** True when SS is a 32-bit stack (B bit): ESP, else SP. */
export function stack32(cpu: X86Cpu): boolean {
  return (cpu.segAr[SS]! & AR_DB) !== 0;
}

/** The stack pointer as the stack's size uses it. */
export function getSp(cpu: X86Cpu): number {
  return stack32(cpu) ? cpu.regs[ESP]! : cpu.regs[ESP]! & 0xffff;
}

/** Set SP or ESP per the stack size (SP keeps ESP's upper half). */
export function setSp(cpu: X86Cpu, v: number): void {
  if (stack32(cpu)) cpu.regs[ESP] = v;
  else cpu.r16[ESP * 2] = v;
}

/** Offset `delta` bytes from the stack pointer, wrapped to the stack's size. */
export function spOffset(cpu: X86Cpu, delta: number): number {
  return stack32(cpu) ? (cpu.regs[ESP]! + delta) | 0 : (cpu.regs[ESP]! + delta) & 0xffff;
}

export function push16(cpu: X86Cpu, v: number): void {
  const sp = spOffset(cpu, -2);
  writeMem16(cpu, SS, sp, v);
  if (cpu.st[STOP] !== STOP_FAULT) setSp(cpu, sp);
}
export function push32(cpu: X86Cpu, v: number): void {
  const sp = spOffset(cpu, -4);
  writeMem32(cpu, SS, sp, v);
  if (cpu.st[STOP] !== STOP_FAULT) setSp(cpu, sp);
}
export function pop16(cpu: X86Cpu): number {
  const v = readMem16(cpu, SS, getSp(cpu));
  if (cpu.st[STOP] !== STOP_FAULT) setSp(cpu, spOffset(cpu, 2));
  return v;
}
export function pop32(cpu: X86Cpu): number {
  const v = readMem32(cpu, SS, getSp(cpu));
  if (cpu.st[STOP] !== STOP_FAULT) setSp(cpu, spOffset(cpu, 4));
  return v;
}
