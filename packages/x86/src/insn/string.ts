/**
 * String instructions (Bochs string.cc, io.cc): MOVS CMPS STOS LODS SCAS INS OUTS with
 * REP/REPE/REPNE. The source is seg:(E)SI (DS or the override), the destination ES:(E)DI
 * (no override); the address size picks SI/DI/CX or ESI/EDI/ECX; DF picks the direction.
 *
 * A REP instruction runs at most SLICE iterations per call. When iterations remain it
 * leaves EIP at itself and ends the block (STOP_JUMP), so the run loop looks at pending
 * interrupts and the budget before re-entering it (SDM Vol. 2 REP: "interruptible").
 * Registers are written back after every iteration, so a fault mid-way leaves them
 * reflecting the iterations that completed. With TF set each iteration traps.
 *
 * REP MOVS/STOS with DF = 0 copy or fill whole runs within one page of RAM at a time.
 */
import {
  probeWrite,
  readMem8,
  readMem16,
  readMem32,
  translate,
  writeMem8,
  writeMem16,
  writeMem32,
} from "../access.js";
import type { X86Cpu } from "../cpu.js";
import type { HandlerSpec } from "../handlers.js";
import { F_A32, F_REP, F_REPNE } from "../instr.js";
import { lazy } from "../lazy_flags.js";
import type { AccessSize } from "../memory.js";
import { EAX, ECX, EDI, EDX, ES, ESI, FLAG_DF, FLAG_TF, PAGE_SHIFT } from "../regs.js";
import { FLAGS, LF_SUB, SEG_OK_R, SEG_OK_W, STOP, STOP_JUMP } from "../state.js";
import { faulted } from "./common.js";
import { ioIntercepted, ioPermitted } from "./io.js";

/** Iterations of a REP instruction per handler call. */
export const SLICE = 4096;

const PAGE_MASK = 0xfff;

function readN(cpu: X86Cpu, seg: number, off: number, size: number): number {
  return size === 1
    ? readMem8(cpu, seg, off)
    : size === 2
      ? readMem16(cpu, seg, off)
      : readMem32(cpu, seg, off);
}

function writeN(cpu: X86Cpu, seg: number, off: number, size: number, v: number): void {
  if (size === 1) writeMem8(cpu, seg, off, v);
  else if (size === 2) writeMem16(cpu, seg, off, v);
  else writeMem32(cpu, seg, off, v);
}

/** AL, AX or EAX (zero-extended for 8/16). */
function getAcc(cpu: X86Cpu, size: number): number {
  return size === 1 ? cpu.r8[0]! : size === 2 ? cpu.r16[EAX << 1]! : cpu.regs[EAX]!;
}

function setAcc(cpu: X86Cpu, size: number, v: number): void {
  if (size === 1) cpu.r8[0] = v;
  else if (size === 2) cpu.r16[EAX << 1] = v;
  else cpu.regs[EAX] = v;
}

/** Write an index or count register at the address size. */
function setIdx(cpu: X86Cpu, a32: boolean, reg: number, v: number): void {
  if (a32) cpu.regs[reg] = v;
  else cpu.r16[reg << 1] = v;
}

/** The count register (CX or ECX) as an unsigned number. */
function getCount(cpu: X86Cpu, a32: boolean): number {
  return a32 ? cpu.regs[ECX]! >>> 0 : cpu.r16[ECX << 1]!;
}

function isRep(cpu: X86Cpu, i: number): boolean {
  return (cpu.dc.flags[i]! & (F_REP | F_REPNE)) !== 0;
}

/** Iterations to run in this call: the count, at most SLICE, one when single-stepping. */
function sliceOf(cpu: X86Cpu, count: number): number {
  if (cpu.st[FLAGS]! & FLAG_TF) return 1;
  return Math.min(count, SLICE);
}

/** After a REP slice: if iterations remain, come back to this instruction. */
function finishSlice(cpu: X86Cpu, count: number): void {
  if (count !== 0 && !faulted(cpu)) cpu.st[STOP] = STOP_JUMP;
}

// ---------------------------------------------------------------------------
// Bulk paths: runs of elements within one RAM page on each side, DF = 0.

/**
 * The byte offset into `cpu.mem.mem8[range]` of `bytes` bytes at seg:off, or -1 when the
 * run cannot be done in bulk (a segment check would fail, it crosses a page, it is not
 * plain RAM). Sets BULK_RANGE and BULK_PAGE.
 */
let BULK_RANGE = 0;
let BULK_PAGE = 0;
function bulkOffset(
  cpu: X86Cpu,
  seg: number,
  off: number,
  bytes: number,
  need: number,
  write: boolean,
): number {
  const o = off >>> 0;
  if ((cpu.segOk[seg]! & need) === 0 || o < cpu.segLo[seg]! || o + bytes - 1 > cpu.segHi[seg]!) {
    return -1;
  }
  const p = translate(cpu, (cpu.segBase[seg]! + o) | 0);
  if ((p & PAGE_MASK) + bytes > PAGE_MASK + 1) return -1;
  const mem = cpu.mem;
  const page = p >>> PAGE_SHIFT;
  const e = mem.pageMap[page]!;
  if (e < 0 || (write && mem.roPage[page] !== 0)) return -1;
  BULK_RANGE = e >>> 20;
  BULK_PAGE = page;
  return ((e & 0xfffff) << PAGE_SHIFT) | (p & PAGE_MASK);
}

/** Elements of `size` from `off` to the end of its page or its 16-bit wrap, whichever first. */
function runLength(off: number, am: number, size: number, n: number): number {
  // The linear page boundary depends on the segment base; bulkOffset checks it. Here the
  // limit is the offset wrap for 16-bit addressing and a 4 KiB run.
  let k = n;
  if (am === 0xffff) {
    const room = ((0x10000 - off) / size) | 0;
    if (room < k) k = room;
  }
  const maxRun = (PAGE_MASK + 1) / size;
  return Math.min(k, maxRun);
}

/** Copy `k` elements; returns k, or 0 when the bulk path does not apply. */
function bulkMovs(
  cpu: X86Cpu,
  seg: number,
  si: number,
  di: number,
  k: number,
  size: number,
): number {
  // Fit both runs in their pages: shrink k to what is left in each physical page.
  const sLin = (cpu.segBase[seg]! + (si >>> 0)) | 0;
  const dLin = (cpu.segBase[ES]! + (di >>> 0)) | 0;
  const sRoom = ((PAGE_MASK + 1 - (translate(cpu, sLin) & PAGE_MASK)) / size) | 0;
  const dRoom = ((PAGE_MASK + 1 - (translate(cpu, dLin) & PAGE_MASK)) / size) | 0;
  if (sRoom < k) k = sRoom;
  if (dRoom < k) k = dRoom;
  if (k < 2) return 0;
  const bytes = k * size;
  const so = bulkOffset(cpu, seg, si, bytes, SEG_OK_R, false);
  if (so < 0) return 0;
  const sRange = BULK_RANGE;
  const d = bulkOffset(cpu, ES, di, bytes, SEG_OK_W, true);
  if (d < 0) return 0;
  const mem = cpu.mem;
  const dm = mem.mem8[BULK_RANGE]!;
  const sm = mem.mem8[sRange]!;
  if (sm === dm) {
    // A forward copy onto itself replicates (dst inside the source run): element by element.
    if (d > so && d < so + bytes) return 0;
    if (mem.codePage[BULK_PAGE] !== 0) cpu.invalidateCodePage(BULK_PAGE);
    dm.copyWithin(d, so, so + bytes);
  } else {
    if (mem.codePage[BULK_PAGE] !== 0) cpu.invalidateCodePage(BULK_PAGE);
    for (let b = 0; b < bytes; b++) dm[d + b] = sm[so + b]!;
  }
  return k;
}

/** Store `k` elements of `v`; returns k, or 0 when the bulk path does not apply. */
function bulkStos(cpu: X86Cpu, di: number, k: number, size: number, v: number): number {
  const dLin = (cpu.segBase[ES]! + (di >>> 0)) | 0;
  const dRoom = ((PAGE_MASK + 1 - (translate(cpu, dLin) & PAGE_MASK)) / size) | 0;
  if (dRoom < k) k = dRoom;
  if (k < 2) return 0;
  const bytes = k * size;
  const d = bulkOffset(cpu, ES, di, bytes, SEG_OK_W, true);
  if (d < 0) return 0;
  const mem = cpu.mem;
  if (mem.codePage[BULK_PAGE] !== 0) cpu.invalidateCodePage(BULK_PAGE);
  const m = mem.mem8[BULK_RANGE]!;
  if (size === 1) {
    m.fill(v, d, d + bytes);
  } else if (size === 4 && (d & 3) === 0) {
    mem.mem32[BULK_RANGE]!.fill(v, d >> 2, (d + bytes) >> 2);
  } else if (size === 2) {
    const lo = v & 0xff;
    const hi = (v >> 8) & 0xff;
    for (let b = d; b < d + bytes; b += 2) {
      m[b] = lo;
      m[b + 1] = hi;
    }
  } else {
    for (let b = d; b < d + bytes; b += 4) {
      m[b] = v;
      m[b + 1] = v >> 8;
      m[b + 2] = v >> 16;
      m[b + 3] = v >> 24;
    }
  }
  return k;
}

// ---------------------------------------------------------------------------
// MOVS

function movs(cpu: X86Cpu, i: number, size: number): void {
  const dc = cpu.dc;
  const a32 = (dc.flags[i]! & F_A32) !== 0;
  const am = a32 ? -1 : 0xffff;
  const seg = dc.seg[i]!;
  const regs = cpu.regs;
  const delta = cpu.st[FLAGS]! & FLAG_DF ? -size : size;
  let si = regs[ESI]! & am;
  let di = regs[EDI]! & am;
  if (!isRep(cpu, i)) {
    const v = readN(cpu, seg, si, size);
    if (faulted(cpu)) return;
    writeN(cpu, ES, di, size, v);
    if (faulted(cpu)) return;
    setIdx(cpu, a32, ESI, (si + delta) & am);
    setIdx(cpu, a32, EDI, (di + delta) & am);
    return;
  }
  let count = getCount(cpu, a32);
  if (count === 0) return;
  let left = sliceOf(cpu, count);
  while (left > 0) {
    if (delta > 0 && left > 1) {
      let k = runLength(si, am, size, left);
      const k2 = runLength(di, am, size, left);
      if (k2 < k) k = k2;
      k = bulkMovs(cpu, seg, si, di, k, size);
      if (k > 0) {
        si = (si + k * size) & am;
        di = (di + k * size) & am;
        count -= k;
        left -= k;
        setIdx(cpu, a32, ESI, si);
        setIdx(cpu, a32, EDI, di);
        setIdx(cpu, a32, ECX, count);
        continue;
      }
    }
    const v = readN(cpu, seg, si, size);
    if (faulted(cpu)) return;
    writeN(cpu, ES, di, size, v);
    if (faulted(cpu)) return;
    si = (si + delta) & am;
    di = (di + delta) & am;
    count--;
    left--;
    setIdx(cpu, a32, ESI, si);
    setIdx(cpu, a32, EDI, di);
    setIdx(cpu, a32, ECX, count);
  }
  finishSlice(cpu, count);
}

// ---------------------------------------------------------------------------
// STOS

function stos(cpu: X86Cpu, i: number, size: number): void {
  const a32 = (cpu.dc.flags[i]! & F_A32) !== 0;
  const am = a32 ? -1 : 0xffff;
  const delta = cpu.st[FLAGS]! & FLAG_DF ? -size : size;
  const v = getAcc(cpu, size);
  let di = cpu.regs[EDI]! & am;
  if (!isRep(cpu, i)) {
    writeN(cpu, ES, di, size, v);
    if (!faulted(cpu)) setIdx(cpu, a32, EDI, (di + delta) & am);
    return;
  }
  let count = getCount(cpu, a32);
  if (count === 0) return;
  let left = sliceOf(cpu, count);
  while (left > 0) {
    if (delta > 0 && left > 1) {
      const k = bulkStos(cpu, di, runLength(di, am, size, left), size, v);
      if (k > 0) {
        di = (di + k * size) & am;
        count -= k;
        left -= k;
        setIdx(cpu, a32, EDI, di);
        setIdx(cpu, a32, ECX, count);
        continue;
      }
    }
    writeN(cpu, ES, di, size, v);
    if (faulted(cpu)) return;
    di = (di + delta) & am;
    count--;
    left--;
    setIdx(cpu, a32, EDI, di);
    setIdx(cpu, a32, ECX, count);
  }
  finishSlice(cpu, count);
}

// ---------------------------------------------------------------------------
// LODS

function lods(cpu: X86Cpu, i: number, size: number): void {
  const dc = cpu.dc;
  const a32 = (dc.flags[i]! & F_A32) !== 0;
  const am = a32 ? -1 : 0xffff;
  const seg = dc.seg[i]!;
  const delta = cpu.st[FLAGS]! & FLAG_DF ? -size : size;
  let si = cpu.regs[ESI]! & am;
  if (!isRep(cpu, i)) {
    const v = readN(cpu, seg, si, size);
    if (faulted(cpu)) return;
    setAcc(cpu, size, v);
    setIdx(cpu, a32, ESI, (si + delta) & am);
    return;
  }
  let count = getCount(cpu, a32);
  if (count === 0) return;
  let left = sliceOf(cpu, count);
  while (left > 0) {
    const v = readN(cpu, seg, si, size);
    if (faulted(cpu)) return;
    setAcc(cpu, size, v);
    si = (si + delta) & am;
    count--;
    left--;
    setIdx(cpu, a32, ESI, si);
    setIdx(cpu, a32, ECX, count);
  }
  finishSlice(cpu, count);
}

// ---------------------------------------------------------------------------
// CMPS / SCAS: REPE (F3) repeats while equal, REPNE (F2) while not equal.

function cmps(cpu: X86Cpu, i: number, size: number): void {
  const dc = cpu.dc;
  const flags = dc.flags[i]!;
  const a32 = (flags & F_A32) !== 0;
  const am = a32 ? -1 : 0xffff;
  const seg = dc.seg[i]!;
  const st = cpu.st;
  const bits = size * 8;
  const delta = st[FLAGS]! & FLAG_DF ? -size : size;
  let si = cpu.regs[ESI]! & am;
  let di = cpu.regs[EDI]! & am;
  if ((flags & (F_REP | F_REPNE)) === 0) {
    const a = readN(cpu, seg, si, size);
    if (faulted(cpu)) return;
    const b = readN(cpu, ES, di, size);
    if (faulted(cpu)) return;
    lazy(st, LF_SUB, bits, a, b, (a - b) | 0);
    setIdx(cpu, a32, ESI, (si + delta) & am);
    setIdx(cpu, a32, EDI, (di + delta) & am);
    return;
  }
  const whileEqual = (flags & F_REP) !== 0;
  let count = getCount(cpu, a32);
  if (count === 0) return;
  let left = sliceOf(cpu, count);
  while (left > 0) {
    const a = readN(cpu, seg, si, size);
    if (faulted(cpu)) return;
    const b = readN(cpu, ES, di, size);
    if (faulted(cpu)) return;
    lazy(st, LF_SUB, bits, a, b, (a - b) | 0);
    si = (si + delta) & am;
    di = (di + delta) & am;
    count--;
    left--;
    setIdx(cpu, a32, ESI, si);
    setIdx(cpu, a32, EDI, di);
    setIdx(cpu, a32, ECX, count);
    if ((a === b) !== whileEqual) return;
  }
  finishSlice(cpu, count);
}

function scas(cpu: X86Cpu, i: number, size: number): void {
  const flags = cpu.dc.flags[i]!;
  const a32 = (flags & F_A32) !== 0;
  const am = a32 ? -1 : 0xffff;
  const st = cpu.st;
  const bits = size * 8;
  const delta = st[FLAGS]! & FLAG_DF ? -size : size;
  const a = getAcc(cpu, size);
  let di = cpu.regs[EDI]! & am;
  if ((flags & (F_REP | F_REPNE)) === 0) {
    const b = readN(cpu, ES, di, size);
    if (faulted(cpu)) return;
    lazy(st, LF_SUB, bits, a, b, (a - b) | 0);
    setIdx(cpu, a32, EDI, (di + delta) & am);
    return;
  }
  const whileEqual = (flags & F_REP) !== 0;
  let count = getCount(cpu, a32);
  if (count === 0) return;
  let left = sliceOf(cpu, count);
  while (left > 0) {
    const b = readN(cpu, ES, di, size);
    if (faulted(cpu)) return;
    lazy(st, LF_SUB, bits, a, b, (a - b) | 0);
    di = (di + delta) & am;
    count--;
    left--;
    setIdx(cpu, a32, EDI, di);
    setIdx(cpu, a32, ECX, count);
    if ((a === b) !== whileEqual) return;
  }
  finishSlice(cpu, count);
}

// ---------------------------------------------------------------------------
// INS / OUTS: permission and the hook once per call, then the device per element.

function ins(cpu: X86Cpu, i: number, size: AccessSize): void {
  const a32 = (cpu.dc.flags[i]! & F_A32) !== 0;
  const am = a32 ? -1 : 0xffff;
  const port = cpu.r16[EDX << 1]!;
  const rep = isRep(cpu, i);
  if (!ioPermitted(cpu, port, size)) return;
  if (ioIntercepted(cpu, port, size, true, true, rep, 0)) return;
  const dev = cpu.mem.devices;
  const delta = cpu.st[FLAGS]! & FLAG_DF ? -size : size;
  let di = cpu.regs[EDI]! & am;
  let count = rep ? getCount(cpu, a32) : 1;
  if (count === 0) return;
  let left = rep ? sliceOf(cpu, count) : 1;
  while (left > 0) {
    // The destination is checked before the port is read (a read may have side effects).
    if (!probeWrite(cpu, ES, di, size)) return;
    writeN(cpu, ES, di, size, dev.ioRead(port, size));
    if (faulted(cpu)) return;
    di = (di + delta) & am;
    count--;
    left--;
    setIdx(cpu, a32, EDI, di);
    if (rep) setIdx(cpu, a32, ECX, count);
  }
  finishSlice(cpu, count);
}

function outs(cpu: X86Cpu, i: number, size: AccessSize): void {
  const dc = cpu.dc;
  const a32 = (dc.flags[i]! & F_A32) !== 0;
  const am = a32 ? -1 : 0xffff;
  const seg = dc.seg[i]!;
  const port = cpu.r16[EDX << 1]!;
  const rep = isRep(cpu, i);
  if (!ioPermitted(cpu, port, size)) return;
  const dev = cpu.mem.devices;
  const delta = cpu.st[FLAGS]! & FLAG_DF ? -size : size;
  let si = cpu.regs[ESI]! & am;
  let count = rep ? getCount(cpu, a32) : 1;
  // Asked before any memory access: an I/O exit comes before the operand's faults.
  if (ioIntercepted(cpu, port, size, false, true, rep, 0)) return;
  if (count === 0) return;
  let left = rep ? sliceOf(cpu, count) : 1;
  while (left > 0) {
    const v = readN(cpu, seg, si, size);
    if (faulted(cpu)) return;
    dev.ioWrite(port, size, size === 4 ? v >>> 0 : v);
    si = (si + delta) & am;
    count--;
    left--;
    setIdx(cpu, a32, ESI, si);
    if (rep) setIdx(cpu, a32, ECX, count);
  }
  finishSlice(cpu, count);
}

export const STRING: Readonly<Record<string, HandlerSpec>> = {
  movs_Yb_Xb: (cpu, i) => movs(cpu, i, 1),
  movs_Yv_Xv: { o16: (cpu, i) => movs(cpu, i, 2), o32: (cpu, i) => movs(cpu, i, 4) },
  cmps_Xb_Yb: (cpu, i) => cmps(cpu, i, 1),
  cmps_Xv_Yv: { o16: (cpu, i) => cmps(cpu, i, 2), o32: (cpu, i) => cmps(cpu, i, 4) },
  stos_Yb_Zb: (cpu, i) => stos(cpu, i, 1),
  stos_Yv_Zv: { o16: (cpu, i) => stos(cpu, i, 2), o32: (cpu, i) => stos(cpu, i, 4) },
  lods_Zb_Xb: (cpu, i) => lods(cpu, i, 1),
  lods_Zv_Xv: { o16: (cpu, i) => lods(cpu, i, 2), o32: (cpu, i) => lods(cpu, i, 4) },
  scas_Zb_Yb: (cpu, i) => scas(cpu, i, 1),
  scas_Zv_Yv: { o16: (cpu, i) => scas(cpu, i, 2), o32: (cpu, i) => scas(cpu, i, 4) },
  ins_Yb_DX: (cpu, i) => ins(cpu, i, 1),
  ins_Yz_DX: { o16: (cpu, i) => ins(cpu, i, 2), o32: (cpu, i) => ins(cpu, i, 4) },
  outs_DX_Xb: (cpu, i) => outs(cpu, i, 1),
  outs_DX_Xz: { o16: (cpu, i) => outs(cpu, i, 2), o32: (cpu, i) => outs(cpu, i, 4) },
};
