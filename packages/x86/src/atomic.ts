/**
 * The atomics under locked instructions (SDM Vol. 3 §8.1.2.2, "Software Controlled Bus
 * Locking"): a compare-and-exchange on guest RAM through JavaScript's Atomics, and the
 * lock word that operands no JavaScript atomic covers fall back to.
 *
 * The CPU's RAM is a SharedArrayBuffer when vCPUs run in workers. A locked read-modify-
 * write reads its operand as usual and then stores the result with one compare-and-
 * exchange against the value it read (`casRam`); when another agent wrote the operand in
 * between, the compare fails and the instruction runs again (locked.ts). Which atomic
 * covers an operand of `size` bytes at RAM offset `o`:
 *
 * - 1 byte: Uint8Array; 2 bytes at an even offset: Uint16Array; 4 bytes 4-aligned:
 *   Int32Array; 8 bytes 8-aligned: BigUint64Array;
 * - any other operand inside one aligned 8-byte word: a compare-and-exchange of that word
 *   (the neighbouring bytes may change meanwhile: it is retried until they hold still);
 * - an operand that crosses an 8-byte boundary (a split lock) or a page: the lock word
 *   (`PhysMemory.lockWords`), with the compare done under it. That is atomic only against other
 *   locked instructions that take the lock word, not against plain stores or locked
 *   instructions on an aligned part of the same bytes.
 */
import type { X86Cpu } from "./cpu.js";
import { PAGE_SHIFT } from "./regs.js";

/** casRam results. */
export const CAS_FAILED = 0;
export const CAS_DONE = 1;
/** Not RAM, or a read-only slot: the write takes the ordinary (MMIO) path. */
export const CAS_MMIO = -1;
/** RAM, but no JavaScript atomic covers the operand: use the lock word. */
export const CAS_NEEDS_LOCK = -2;

// hi:lo → bigint through memory: one BigInt made instead of a shift and an OR of three.
const QUAD = new BigUint64Array(1);
const QUAD32 = new Int32Array(QUAD.buffer);
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The unsigned 64-bit value hi:lo. */
function quad(lo: number, hi: number): bigint {
  QUAD32[LITTLE ? 0 : 1] = lo;
  QUAD32[LITTLE ? 1 : 0] = hi;
  return QUAD[0]!;
}

/**
 * Store `v` (vHi: bytes 4–7 of an 8-byte operand) in the `size` bytes at physical `p` if
 * they still hold `old` (oldHi), atomically. The bytes must lie in one 4 KiB page.
 */
export function casRam(
  cpu: X86Cpu,
  p: number,
  size: number,
  old: number,
  oldHi: number,
  v: number,
  vHi: number,
): number {
  const mem = cpu.mem;
  const page = p >>> PAGE_SHIFT;
  const e = mem.pageMap[page]!;
  if (e < 0 || mem.roPage[page] !== 0) return CAS_MMIO;
  if ((p & 0xfff) + size > 0x1000) return CAS_NEEDS_LOCK;
  const r = e >>> 20;
  const o = ((e & 0xfffff) << PAGE_SHIFT) | (p & 0xfff);
  let ok: boolean;
  if (size === 1) {
    const x = old & 0xff;
    ok = Atomics.compareExchange(mem.mem8[r]!, o, x, v & 0xff) === x;
  } else if (size === 2 && (o & 1) === 0) {
    const x = old & 0xffff;
    ok = Atomics.compareExchange(mem.atomic16[r]!, o >> 1, x, v & 0xffff) === x;
  } else if (size === 4 && (o & 3) === 0) {
    ok = Atomics.compareExchange(mem.mem32[r]!, o >> 2, old | 0, v | 0) === (old | 0);
  } else {
    const m = mem.atomic64[r];
    if (m == null || (o & 7) + size > 8) return CAS_NEEDS_LOCK;
    if (size === 8) {
      const x = quad(old, oldHi);
      ok = Atomics.compareExchange(m, o >> 3, x, quad(v, vHi)) === x;
    } else {
      ok = casWithin64(m, o, size, old, v);
    }
  }
  if (ok && mem.codePage[page] !== 0) cpu.invalidateCodePage(page);
  return ok ? CAS_DONE : CAS_FAILED;
}

/** A compare-and-exchange of 2 or 4 bytes inside the aligned quadword that holds them. */
function casWithin64(m: BigUint64Array, o: number, size: number, old: number, v: number): boolean {
  const k = o >> 3;
  const shift = BigInt((o & 7) * 8);
  const mask = size === 2 ? 0xffffn : 0xffff_ffffn;
  const x = BigInt(old >>> 0) & mask;
  const put = (BigInt(v >>> 0) & mask) << shift;
  const keep = ~(mask << shift) & 0xffff_ffff_ffff_ffffn;
  for (;;) {
    const w = Atomics.load(m, k);
    if (((w >> shift) & mask) !== x) return false;
    if (Atomics.compareExchange(m, k, w, (w & keep) | put) === w) return true;
  }
}

// The lock word --------------------------------------------------------------------------

let waitable: boolean | null = null;

/** Whether this agent may block in Atomics.wait (not a browser's main thread). */
function canWait(words: Int32Array): boolean {
  if (!(words.buffer instanceof SharedArrayBuffer)) return false;
  if (waitable === null) {
    try {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
      waitable = true;
    } catch {
      waitable = false;
    }
  }
  return waitable;
}

/**
 * Take the lock word `words[0]` (0 free, 1 taken, 2 taken with waiters: the futex mutex
 * of Drepper's "Futexes Are Tricky"): a short spin, then Atomics.wait where allowed.
 */
export function lockWordAcquire(words: Int32Array): void {
  let c = Atomics.compareExchange(words, 0, 0, 1);
  if (c === 0) return;
  for (let spin = 0; spin < 200; spin++) {
    c = Atomics.compareExchange(words, 0, 0, 1);
    if (c === 0) return;
  }
  const wait = canWait(words);
  if (c !== 2) c = Atomics.exchange(words, 0, 2);
  while (c !== 0) {
    if (wait) Atomics.wait(words, 0, 2);
    c = Atomics.exchange(words, 0, 2);
  }
}

/** Release the lock word, waking one waiter if there may be one. */
export function lockWordRelease(words: Int32Array): void {
  if (Atomics.exchange(words, 0, 0) === 2 && words.buffer instanceof SharedArrayBuffer) {
    Atomics.notify(words, 0, 1);
  }
}

/**
 * MFENCE on shared RAM: a sequentially consistent atomic (on a word of this agent's), which orders
 * this agent's earlier accesses before its later ones as far as JavaScript's memory model
 * lets an atomic order non-atomic accesses (README "Memory ordering").
 */
export function fenceShared(cpu: X86Cpu): void {
  if (cpu.mem.shared) Atomics.add(cpu.mem.fenceWord, 0, 0);
}
