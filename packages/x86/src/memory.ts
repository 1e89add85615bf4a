/**
 * The CPU's view of guest-physical memory: RAM ranges as typed-array views (the fast
 * path) and a callback for every access that hits no RAM (MMIO). Port I/O goes through
 * its own callback. Under KVM the RAM ranges are the memslots.
 *
 * Physical addresses are 32-bit here (a 4 GiB page map); PAE/long-mode addresses above
 * 4 GiB reach the MMIO callback until part 2 extends the map.
 */
import { PAGE_SHIFT, PAGE_SIZE } from "./regs.js";

export { PAGE_SHIFT, PAGE_SIZE };

export type AccessSize = 1 | 2 | 4;

/** Devices: everything that is not RAM. Values are unsigned, at most 32 bits. */
export interface X86Devices {
  ioRead(port: number, size: AccessSize): number;
  ioWrite(port: number, size: AccessSize, value: number): void;
  mmioRead(addr: number, size: AccessSize): number;
  mmioWrite(addr: number, size: AccessSize, value: number): void;
}

/** No devices: ports read as all-ones, MMIO reads as all-ones, writes vanish (an open bus). */
export const OPEN_BUS: X86Devices = {
  ioRead: (_p, size) => (size === 4 ? 0xffff_ffff : (1 << (size * 8)) - 1),
  ioWrite: () => {},
  mmioRead: (_a, size) => (size === 4 ? 0xffff_ffff : (1 << (size * 8)) - 1),
  mmioWrite: () => {},
};

const PAGE_COUNT = 1 << 20;
const NO_RAM = -1;

/** `n` int32 words in a SharedArrayBuffer, or an ArrayBuffer where there is none. */
function sharedWords(n: number): Int32Array {
  return typeof SharedArrayBuffer === "function"
    ? new Int32Array(new SharedArrayBuffer(4 * n))
    : new Int32Array(n);
}

export interface RamRange {
  readonly base: number;
  readonly bytes: Uint8Array;
  readonly readonly: boolean;
}

/**
 * The physical address space. `pageMap[page]` is `rangeIndex << 20 | pageInRange`, or -1
 * where no RAM is mapped.
 */
export class PhysMemory {
  readonly pageMap = new Int32Array(PAGE_COUNT).fill(NO_RAM);
  /** Per physical page: nonzero when decoded instructions were cached from it. */
  readonly codePage = new Uint8Array(PAGE_COUNT);
  /** Per physical page: nonzero when writes go to the MMIO path, not RAM (KVM_MEM_READONLY). */
  readonly roPage = new Uint8Array(PAGE_COUNT);
  /** The byte view of each range, indexed by range number. */
  readonly mem8: Uint8Array[] = [];
  /** A 32-bit view of each range, for aligned dword access. */
  readonly mem32: Int32Array[] = [];
  readonly ranges: (RamRange | null)[] = [];
  /**
   * Views of each range for the atomics of locked instructions (atomic.ts): 16-bit, and
   * 64-bit (null when the range does not start 8-byte aligned in its buffer).
   */
  readonly atomic16: Uint16Array[] = [];
  readonly atomic64: (BigUint64Array | null)[] = [];
  /**
   * True once a RAM range is backed by a SharedArrayBuffer: the CPU then decodes LOCK'd
   * read-modify-writes (and XCHG with memory) into their atomic variants (locked.ts).
   */
  shared = false;
  /**
   * The lock word shared by every CPU on this RAM: locked instructions that no JavaScript
   * atomic covers (split locks, CMPXCHG16B) take it (atomic.ts). Each worker's PhysMemory
   * must be given the same one (`mem.lockWords = fromMainThread`). In a SharedArrayBuffer
   * when there is one.
   */
  lockWords: Int32Array = sharedWords(1);
  /** A word of this agent's own for MFENCE's atomic (atomic.ts fenceShared). */
  readonly fenceWord: Int32Array = sharedWords(1);
  devices: X86Devices;
  /** Called when a write reaches a page in `codePage` (the CPU drops its decoded code). */
  onCodeWrite: (page: number) => void = () => {};
  /** Called after RAM is mapped or unmapped (CPUs drop cached translations). */
  onMapChange: () => void = () => {};

  constructor(devices: X86Devices = OPEN_BUS) {
    this.devices = devices;
  }

  /** Map `bytes` at physical `base` (both page-aligned). Returns the range number. */
  addRam(base: number, bytes: Uint8Array, readonly = false): number {
    if (base % PAGE_SIZE !== 0 || bytes.length % PAGE_SIZE !== 0) {
      throw new RangeError("RAM ranges must be page-aligned and a whole number of pages");
    }
    if (base + bytes.length > 2 ** 32) throw new RangeError("RAM range beyond 4 GiB");
    if (bytes.byteOffset % 4 !== 0) throw new RangeError("RAM view must start 4-byte aligned");
    let index = this.ranges.indexOf(null);
    if (index < 0) index = this.ranges.length;
    if (index >= 2048) throw new RangeError("too many RAM ranges");
    const first = base / PAGE_SIZE;
    const pages = bytes.length / PAGE_SIZE;
    for (let p = 0; p < pages; p++) {
      if (this.pageMap[first + p] !== NO_RAM) throw new RangeError("RAM ranges overlap");
    }
    this.ranges[index] = { base, bytes, readonly };
    this.mem8[index] = bytes;
    this.mem32[index] = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
    const shared =
      typeof SharedArrayBuffer === "function" && bytes.buffer instanceof SharedArrayBuffer;
    this.atomic16[index] = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length >> 1);
    this.atomic64[index] =
      bytes.byteOffset % 8 === 0
        ? new BigUint64Array(bytes.buffer, bytes.byteOffset, bytes.length >> 3)
        : null;
    if (shared) this.shared = true;
    for (let p = 0; p < pages; p++) {
      this.pageMap[first + p] = (index << 20) | p;
      this.roPage[first + p] = readonly ? 1 : 0;
    }
    this.onMapChange();
    return index;
  }

  /** Unmap the range that starts at `base`. */
  removeRam(base: number): void {
    const index = this.ranges.findIndex((r) => r !== null && r.base === base);
    if (index < 0) return;
    const r = this.ranges[index]!;
    const first = base / PAGE_SIZE;
    for (let p = 0; p < r.bytes.length / PAGE_SIZE; p++) {
      this.pageMap[first + p] = NO_RAM;
      this.roPage[first + p] = 0;
    }
    this.ranges[index] = null;
    this.mem8[index] = new Uint8Array(0);
    this.mem32[index] = new Int32Array(0);
    this.atomic16[index] = new Uint16Array(0);
    this.atomic64[index] = null;
    this.shared = this.ranges.some(
      (x) =>
        x !== null &&
        typeof SharedArrayBuffer === "function" &&
        x.bytes.buffer instanceof SharedArrayBuffer,
    );
    this.onMapChange();
  }

  /** True when `addr` is backed by RAM. */
  isRam(addr: number): boolean {
    return this.pageMap[addr >>> PAGE_SHIFT]! !== NO_RAM;
  }

  // Byte-granular physical access. The CPU's hot paths inline the RAM case.

  read8(addr: number): number {
    const e = this.pageMap[addr >>> PAGE_SHIFT]!;
    if (e !== NO_RAM) return this.mem8[e >>> 20]![((e & 0xfffff) << PAGE_SHIFT) | (addr & 0xfff)]!;
    return this.devices.mmioRead(addr >>> 0, 1) & 0xff;
  }

  write8(addr: number, value: number): void {
    const page = addr >>> PAGE_SHIFT;
    const e = this.pageMap[page]!;
    if (e !== NO_RAM) {
      if (this.roPage[page] !== 0) return;
      if (this.codePage[page] !== 0) this.onCodeWrite(page);
      this.mem8[e >>> 20]![((e & 0xfffff) << PAGE_SHIFT) | (addr & 0xfff)] = value;
      return;
    }
    this.devices.mmioWrite(addr >>> 0, 1, value & 0xff);
  }

  /** Copy bytes in (loaders, tests). Writes RAM only; returns bytes written. */
  load(addr: number, data: ArrayLike<number>): number {
    for (let i = 0; i < data.length; i++) this.write8(addr + i, data[i]!);
    return data.length;
  }
}
