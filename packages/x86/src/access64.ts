/**
 * Memory operands in 64-bit mode (SDM Vol. 1 §3.3.7, Vol. 3 §3.2.4): effective addresses
 * of 64 bits (or 32 with the 67 prefix) including RIP-relative ones, segmentation reduced
 * to the FS and GS bases, the canonical-address check (#GP(0), #SS(0) for stack
 * references), and accesses through paging, which is always on in IA-32e mode.
 *
 * 64-bit values travel as (lo, hi) int32 pairs: a function returns the low half and
 * leaves the high half in `st[EA_HI]` (addresses) or `st[VAL_HI]` (data).
 *
 * Addresses below 4 GiB use the data TLB of access.ts (`tlbR/tlbW`, indexed by the low
 * half); higher ones are walked on each access for now.
 */
import {
  lockedBytes,
  physRead8,
  physRead16,
  physRead32,
  physWrite8,
  physWrite16,
  physWrite32,
} from "./access.js";
import { CAS_DONE, CAS_FAILED, CAS_MMIO, casRam } from "./atomic.js";
import type { X86Cpu } from "./cpu.js";
import { raiseFault } from "./exception.js";
import { F_A64, F_RIPREL } from "./instr.js";
import { ACC_READ, ACC_WRITE, dataAcc, fillTlb, highSlot, translateLinear } from "./paging.js";
import { FS, GP_VECTOR, SS, SS_VECTOR } from "./regs.js";
import {
  CPL,
  EA_HI,
  EIP,
  LOCK_FAIL,
  LOCK_MODE,
  LOCK_OLD,
  LOCK_OLD_HI,
  RIP_HI,
  RMW_LIN,
  RMW_LIN_HI,
  STOP,
  STOP_FAULT,
  VAL_HI,
} from "./state.js";

const TWO32 = 4294967296;

/**
 * The effective address of decoded instruction `i` in 64-bit mode: base + index × scale
 * + displacement, or next RIP + displacement; 32-bit with the 67 prefix (zero-extended).
 * Returns the low half; the high half is in st[EA_HI].
 */
export function ea64(cpu: X86Cpu, i: number): number {
  const dc = cpu.dc;
  const r = cpu.regs;
  const rh = cpu.regsHi;
  const st = cpu.st;
  const flags = dc.flags[i]!;
  let lo: number;
  let hi: number;
  if ((flags & F_RIPREL) !== 0) {
    lo = st[EIP]!;
    hi = st[RIP_HI]!;
    const len = dc.len[i]!;
    const s = (lo >>> 0) + len;
    lo = s | 0;
    hi = (hi + (s >= TWO32 ? 1 : 0)) | 0;
  } else {
    const b = dc.base[i]!;
    const x = dc.index[i]!;
    const sc = dc.scale[i]!;
    lo = r[b]!;
    hi = rh[b]!;
    let il = r[x]!;
    let ih = rh[x]!;
    if (sc !== 0) {
      ih = (ih << sc) | (il >>> (32 - sc));
      il <<= sc;
    }
    const s = (lo >>> 0) + (il >>> 0);
    lo = s | 0;
    hi = (hi + ih + (s >= TWO32 ? 1 : 0)) | 0;
  }
  const d = dc.disp[i]!;
  const s = (lo >>> 0) + (d >>> 0);
  lo = s | 0;
  hi = (hi + (d >> 31) + (s >= TWO32 ? 1 : 0)) | 0;
  st[EA_HI] = (flags & F_A64) !== 0 ? hi : 0;
  return lo;
}

/** True when hi:lo is canonical (bits 63..47 all equal). */
export function canonical(hi: number): boolean {
  return (hi << 16) >> 16 === hi;
}

/**
 * The linear address of offset hi:lo in segment `seg` (only FS and GS have a base in
 * 64-bit mode); the high half in st[EA_HI]. A non-canonical address raises #GP(0) or,
 * for SS, #SS(0), and returns 0 (check STOP_FAULT).
 */
export function linear64(cpu: X86Cpu, seg: number, lo: number, hi: number): number {
  if (seg >= FS) {
    const base = cpu.segBase[seg]!;
    const s = (lo >>> 0) + (base >>> 0);
    lo = s | 0;
    hi = (hi + cpu.segBaseHi[seg]! + (s >= TWO32 ? 1 : 0)) | 0;
  }
  if (!canonical(hi)) {
    raiseFault(cpu, seg === SS ? SS_VECTOR : GP_VECTOR, 0);
    return 0;
  }
  cpu.st[EA_HI] = hi;
  return lo;
}

/** Physical address of linear hi:lo for a data access of kind ACC_READ/ACC_WRITE. */
function phys(cpu: X86Cpu, lo: number, hi: number, kind: number): number {
  return translateLinear(cpu, lo, dataAcc(cpu, kind), hi);
}

function physRead(cpu: X86Cpu, p: number, size: number): number {
  return size === 1 ? physRead8(cpu, p) : size === 2 ? physRead16(cpu, p) : physRead32(cpu, p);
}

function physWrite(cpu: X86Cpu, p: number, size: number, v: number): void {
  if (size === 1) physWrite8(cpu, p, v);
  else if (size === 2) physWrite16(cpu, p, v);
  else physWrite32(cpu, p, v);
}

/**
 * Read `size` (1, 2 or 4) bytes at linear hi:lo: a data access at the current privilege,
 * or with access `acc` (an implicit supervisor access, which the TLB does not serve).
 * 0 after a fault (check STOP_FAULT).
 */
export function linRead64(cpu: X86Cpu, lo: number, hi: number, size: number, acc = -1): number {
  if (acc >= 0) {
    if ((lo & 0xfff) + size > 0x1000) {
      let v = 0;
      for (let k = 0; k < size; k++) {
        const s = (lo >>> 0) + k;
        const p = translateLinear(cpu, s | 0, acc, (hi + (s >= TWO32 ? 1 : 0)) | 0);
        if (cpu.st[STOP] === STOP_FAULT) return 0;
        v |= physRead8(cpu, p) << (8 * k);
      }
      return v;
    }
    const p = translateLinear(cpu, lo, acc, hi);
    if (cpu.st[STOP] === STOP_FAULT) return 0;
    return physRead(cpu, p, size);
  }
  if ((lo & 0xfff) + size <= 0x1000) {
    const t = hi === 0 ? cpu.tlbR[lo >>> 12]! : highEntry(cpu, lo, hi, false);
    if (t >= 0) {
      const q = t | (lo & 0xfff);
      const m = cpu.ram8;
      if (size === 1) return m[q]!;
      if (size === 2) return m[q]! | (m[q + 1]! << 8);
      return m[q]! | (m[q + 1]! << 8) | (m[q + 2]! << 16) | (m[q + 3]! << 24);
    }
  }
  if ((lo & 0xfff) + size > 0x1000) {
    let v = 0;
    for (let k = 0; k < size; k++) {
      const s = (lo >>> 0) + k;
      const p = phys(cpu, s | 0, (hi + (s >= TWO32 ? 1 : 0)) | 0, ACC_READ);
      if (cpu.st[STOP] === STOP_FAULT) return 0;
      v |= physRead8(cpu, p) << (8 * k);
    }
    return v;
  }
  const p = phys(cpu, lo, hi, ACC_READ);
  if (cpu.st[STOP] === STOP_FAULT) return 0;
  fillTlb(cpu, lo, p, false, hi);
  return physRead(cpu, p, size);
}

/** Write `size` (1, 2 or 4) bytes at linear hi:lo; both pages checked before writing. */
export function linWrite64(cpu: X86Cpu, lo: number, hi: number, size: number, v: number): void {
  if ((lo & 0xfff) + size <= 0x1000) {
    const t = hi === 0 ? cpu.tlbW[lo >>> 12]! : highEntry(cpu, lo, hi, true);
    if (t >= 0) {
      const q = t | (lo & 0xfff);
      const m = cpu.ram8;
      m[q] = v;
      if (size > 1) m[q + 1] = v >> 8;
      if (size > 2) {
        m[q + 2] = v >> 16;
        m[q + 3] = v >> 24;
      }
      return;
    }
  }
  const split = 0x1000 - (lo & 0xfff);
  if (size > split) {
    const p1 = phys(cpu, lo, hi, ACC_WRITE);
    if (cpu.st[STOP] === STOP_FAULT) return;
    const s = (lo >>> 0) + split;
    const p2 = phys(cpu, s | 0, (hi + (s >= TWO32 ? 1 : 0)) | 0, ACC_WRITE);
    if (cpu.st[STOP] === STOP_FAULT) return;
    for (let k = 0; k < size; k++) {
      physWrite8(cpu, k < split ? (p1 + k) | 0 : (p2 + k - split) | 0, v >> (8 * k));
    }
    return;
  }
  const p = phys(cpu, lo, hi, ACC_WRITE);
  if (cpu.st[STOP] === STOP_FAULT) return;
  physWrite(cpu, p, size, v);
  fillTlb(cpu, lo, p, true, hi);
}

/** The high TLB's RAM offset for page hi:lo at the current privilege, or -1. */
function highEntry(cpu: X86Cpu, lo: number, hi: number, write: boolean): number {
  const tlb = cpu.tlb;
  const page = lo >>> 12;
  const slot = highSlot(page, hi);
  if (tlb.hTag[slot] !== page * 2 + (cpu.st[CPL] === 3 ? 1 : 0) || tlb.hTagHi[slot] !== hi) {
    return -1;
  }
  return write ? tlb.hW[slot]! : tlb.hR[slot]!;
}

/**
 * Add `n` (negative or positive, |n| < 2^32) to hi:lo; the low half returned, the high
 * half in st[EA_HI] (carry or borrow included).
 */
export function addr64(cpu: X86Cpu, lo: number, hi: number, n: number): number {
  const s = (lo >>> 0) + n;
  cpu.st[EA_HI] = (hi + Math.floor(s / TWO32)) | 0;
  return s | 0;
}

// Operand accessors: segment (FS/GS base), canonical check, then the linear access.

/** Read `size` (1, 2, 4) bytes of the operand at seg:hi:lo. */
export function read64(cpu: X86Cpu, seg: number, lo: number, hi: number, size: number): number {
  const lin = linear64(cpu, seg, lo, hi);
  if (cpu.st[STOP] === STOP_FAULT) return 0;
  return linRead64(cpu, lin, cpu.st[EA_HI]!, size);
}

/** Read a quadword at seg:hi:lo: the low half returned, the high half in st[VAL_HI]. */
export function readQ(cpu: X86Cpu, seg: number, lo: number, hi: number): number {
  const st = cpu.st;
  const lin = linear64(cpu, seg, lo, hi);
  if (st[STOP] === STOP_FAULT) return 0;
  const linHi = st[EA_HI]!;
  const a = linRead64(cpu, lin, linHi, 4);
  if (st[STOP] === STOP_FAULT) return 0;
  const next = addr64(cpu, lin, linHi, 4);
  st[VAL_HI] = linRead64(cpu, next, st[EA_HI]!, 4);
  return a;
}

/** Write `size` (1, 2, 4) bytes of value `v` at seg:hi:lo. */
export function write64(
  cpu: X86Cpu,
  seg: number,
  lo: number,
  hi: number,
  size: number,
  v: number,
): void {
  const lin = linear64(cpu, seg, lo, hi);
  if (cpu.st[STOP] === STOP_FAULT) return;
  linWrite64(cpu, lin, cpu.st[EA_HI]!, size, v);
}

/**
 * Write the quadword vHi:vLo at seg:hi:lo. Both halves' pages are checked before either
 * is written, so a faulting store changes nothing.
 */
export function writeQ(
  cpu: X86Cpu,
  seg: number,
  lo: number,
  hi: number,
  vLo: number,
  vHi: number,
): void {
  const st = cpu.st;
  const lin = linear64(cpu, seg, lo, hi);
  if (st[STOP] === STOP_FAULT) return;
  const linHi = st[EA_HI]!;
  const nextLo = addr64(cpu, lin, linHi, 4);
  const nextHi = st[EA_HI]!;
  if ((lin & 0xfff) > 0xff8) {
    // Crossing: probe the second page first.
    const s = (lin >>> 0) + 7;
    phys(cpu, s | 0, (linHi + (s >= TWO32 ? 1 : 0)) | 0, ACC_WRITE);
    if (st[STOP] === STOP_FAULT) return;
  }
  linWrite64(cpu, lin, linHi, 4, vLo);
  if (st[STOP] === STOP_FAULT) return;
  linWrite64(cpu, nextLo, nextHi, 4, vHi);
}

/**
 * The read of a read-modify-write: checks the operand may be written (W in a #PF error
 * code, as hardware does) and remembers its linear address for rmwWrite64.
 */
export function rmwRead64(cpu: X86Cpu, seg: number, lo: number, hi: number, size: number): number {
  const st = cpu.st;
  const lin = linear64(cpu, seg, lo, hi);
  if (st[STOP] === STOP_FAULT) return 0;
  const linHi = st[EA_HI]!;
  // Probe for writing (first and last byte), then read.
  phys(cpu, lin, linHi, ACC_WRITE);
  if (st[STOP] === STOP_FAULT) return 0;
  if ((lin & 0xfff) + size > 0x1000) {
    const s = (lin >>> 0) + size - 1;
    phys(cpu, s | 0, (linHi + (s >= TWO32 ? 1 : 0)) | 0, ACC_WRITE);
    if (st[STOP] === STOP_FAULT) return 0;
  }
  st[RMW_LIN] = lin;
  st[RMW_LIN_HI] = linHi;
  // The value read is kept for a locked instruction's compare-and-exchange (locked.ts).
  if (size === 8) {
    const a = linRead64(cpu, lin, linHi, 4);
    const n = addr64(cpu, lin, linHi, 4);
    const h = linRead64(cpu, n, st[EA_HI]!, 4);
    st[VAL_HI] = h;
    st[LOCK_OLD] = a;
    st[LOCK_OLD_HI] = h;
    return a;
  }
  const v = linRead64(cpu, lin, linHi, size);
  st[LOCK_OLD] = v;
  return v;
}

/** The write of a read-modify-write (the operand rmwRead64 read); `vHi` for size 8. */
export function rmwWrite64(cpu: X86Cpu, size: number, v: number, vHi = 0): void {
  const st = cpu.st;
  if (st[LOCK_MODE] !== 0 && lockedWrite64(cpu, size, v, vHi)) return;
  const lin = st[RMW_LIN]!;
  const linHi = st[RMW_LIN_HI]!;
  if (size === 8) {
    linWrite64(cpu, lin, linHi, 4, v);
    const n = addr64(cpu, lin, linHi, 4);
    linWrite64(cpu, n, st[EA_HI]!, 4, vHi);
    return;
  }
  linWrite64(cpu, lin, linHi, size, v);
}

/**
 * The write of a locked read-modify-write on shared RAM (access.ts lockedWrite for 64-bit
 * mode): a compare-and-exchange against the value rmwRead64 read. False when the operand
 * is not RAM (the ordinary write path runs).
 */
function lockedWrite64(cpu: X86Cpu, size: number, v: number, vHi: number): boolean {
  const st = cpu.st;
  const lin = st[RMW_LIN]!;
  const linHi = st[RMW_LIN_HI]!;
  // rmwRead64 probed the page(s) for writing: no fault here. The write TLB (RAM range 0,
  // no decoded code, not read-only) saves the walk.
  const t = linHi === 0 ? cpu.tlbW[lin >>> 12]! : -1;
  let p: number;
  if (t >= 0) p = (cpu.mem.ranges[0]!.base + t + (lin & 0xfff)) | 0;
  else {
    p = phys(cpu, lin, linHi, ACC_WRITE);
    fillTlb(cpu, lin, p, true, linHi);
  }
  const split = 0x1000 - (lin & 0xfff);
  if (size <= split) {
    const r = casRam(cpu, p, size, st[LOCK_OLD]!, st[LOCK_OLD_HI]!, v, vHi);
    if (r === CAS_DONE) return true;
    if (r === CAS_FAILED) {
      st[LOCK_FAIL] = 1;
      return true;
    }
    if (r === CAS_MMIO) return false;
    lockedBytes(cpu, p, size, p, size, st[LOCK_OLD]!, st[LOCK_OLD_HI]!, v, vHi);
    return true;
  }
  const s = (lin >>> 0) + split;
  const p2 = phys(cpu, s | 0, (linHi + (s >= TWO32 ? 1 : 0)) | 0, ACC_WRITE);
  lockedBytes(cpu, p, split, p2, size, st[LOCK_OLD]!, st[LOCK_OLD_HI]!, v, vHi);
  return true;
}
