/**
 * Decoded instructions (Bochs icache.h, QEMU's translation blocks): a pool of flat,
 * reused slots in typed arrays, grouped into blocks keyed by the physical address of
 * their first byte and the decode mode. A write to a page that holds decoded code bumps
 * that page's generation, which invalidates its blocks (self-modifying code).
 */

import type { Handler } from "./handlers.js";

function noHandler(): void {}

const SLOTS = 1 << 16;
const BLOCK_BITS = 14;
const BLOCKS = 1 << BLOCK_BITS;
const FRONT = 1 << 12;
export const FRONT_MASK = FRONT - 1;
/** Instructions per block at most. */
export const BLOCK_MAX = 32;

export class DecodeCache {
  // One decoded instruction per slot.
  readonly op = new Int32Array(SLOTS);
  /** The handler function of each slot (HANDLERS[op[i]]), so dispatch is one load. */
  readonly fn: Handler[] = new Array<Handler>(SLOTS).fill(noHandler);
  readonly len = new Int32Array(SLOTS);
  readonly reg = new Int32Array(SLOTS);
  readonly rm = new Int32Array(SLOTS);
  readonly base = new Int32Array(SLOTS);
  readonly index = new Int32Array(SLOTS);
  readonly scale = new Int32Array(SLOTS);
  readonly disp = new Int32Array(SLOTS);
  readonly seg = new Int32Array(SLOTS);
  readonly imm = new Int32Array(SLOTS);
  readonly imm2 = new Int32Array(SLOTS);
  readonly flags = new Int32Array(SLOTS);
  /** The opcode byte (or 0x0F00 | second byte), for tracing and hooks. */
  readonly opcode = new Int32Array(SLOTS);
  /**
   * RAM is shared with other agents (PhysMemory.shared): locked instructions decode to
   * their atomic variants (locked.ts). Set by the CPU, which flushes this cache with it.
   */
  atomicRmw = false;
  /** Every per-slot array, for copying a slot. */
  readonly fields: readonly Int32Array[] = [
    this.op,
    this.len,
    this.reg,
    this.rm,
    this.base,
    this.index,
    this.scale,
    this.disp,
    this.seg,
    this.imm,
    this.imm2,
    this.flags,
    this.opcode,
  ];

  // Blocks, direct-mapped by physical address.
  readonly bKey = new Int32Array(BLOCKS).fill(-1);
  readonly bMode = new Int32Array(BLOCKS);
  readonly bStart = new Int32Array(BLOCKS);
  readonly bCount = new Int32Array(BLOCKS);
  readonly bBytes = new Int32Array(BLOCKS);
  readonly bPage1 = new Int32Array(BLOCKS);
  readonly bGen1 = new Int32Array(BLOCKS);
  readonly bPage2 = new Int32Array(BLOCKS);
  readonly bGen2 = new Int32Array(BLOCKS);
  // The front cache: blocks by EIP (cpu.lookupBlock), checked against `epoch`.
  readonly fEip = new Int32Array(FRONT);
  /** -1: empty (the epoch is never negative). */
  readonly fEpoch = new Int32Array(FRONT).fill(-1);
  readonly fBase = new Int32Array(FRONT);
  readonly fSlot = new Int32Array(FRONT);
  readonly fCount = new Int32Array(FRONT);

  /** Generation of every physical page; bumped when decoded code in it is overwritten. */
  readonly pageGen = new Int32Array(1 << 20);

  /**
   * Bumped whenever a block found before may no longer be the one at an EIP: decoded
   * blocks dropped (flush, a code-page write), a TLB flush, a change of CS limit or mode.
   */
  epoch = 0;

  /** Next free slot; the pool is a ring, flushed whole when it wraps. */
  next = 0;
  /** Scratch slots for blocks that must not be cached (the last BLOCK_MAX slots). */
  readonly scratch = SLOTS - BLOCK_MAX;

  static hash(phys: number): number {
    return ((phys >>> 0) ^ (phys >>> BLOCK_BITS) ^ (phys >>> 28)) & (BLOCKS - 1);
  }

  /** Reserve `n` consecutive slots for a block being decoded. */
  alloc(n: number): number {
    if (this.next + n > this.scratch) this.flush();
    const start = this.next;
    this.next += n;
    return start;
  }

  /** A new epoch: every block found by EIP before is looked up again. */
  bumpEpoch(): void {
    // Kept non-negative and within int32: fEpoch is an Int32Array whose -1 means empty.
    this.epoch = (this.epoch + 1) & 0x7fff_ffff;
    // After 2^31 epochs an old entry could match again: forget them all.
    if (this.epoch === 0) this.fEpoch.fill(-1);
  }

  /** The bKey entries filled since the last flush, so a flush resets only those. */
  private readonly bUsed = new Int32Array(BLOCKS);
  private bUsedCount = 0;

  /** Enter a block's key (its other fields are the caller's to fill). */
  setBlockKey(h: number, phys: number): void {
    // A key of -1 (a block at 0xFFFFFFFF) reads as empty and is not listed.
    if (this.bKey[h] === -1 && (phys | 0) !== -1) this.bUsed[this.bUsedCount++] = h;
    this.bKey[h] = phys;
  }

  flush(): void {
    this.bumpEpoch();
    this.next = 0;
    // Every entry that is not -1 is listed in bUsed (setBlockKey is the only writer).
    const key = this.bKey;
    const used = this.bUsed;
    for (let i = 0; i < this.bUsedCount; i++) key[used[i]!] = -1;
    this.bUsedCount = 0;
  }
}
