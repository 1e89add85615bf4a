/**
 * The memory API (system/memory.c, include/exec/memory.h): MemoryRegions — RAM, ROM, I/O
 * callbacks, containers and aliases — laid out in a tree by memoryRegionAddSubregion, and
 * AddressSpaces that dispatch an access to the region that claims the address (highest
 * priority first, later-added first among equals). The pc machine has two: system memory
 * (`address_space_memory`) and the I/O ports (`address_space_io`). An access nothing
 * claims goes to the unassigned handlers, writes dropped and both traced: in the I/O space
 * (the root's own ops, unassigned_io_ops) reads are all-ones; in system memory (QEMU's
 * io_mem_unassigned, whose ops reject every access) the access is a decode error, logged
 * under `-d invalid_mem`, and a read gives unassigned_mem_read's 0 — what a guest's MMIO
 * read of a hole sees under QEMU.
 *
 * KVM sees the RAM regions: `ramBlocks()` lists each RAM/ROM region's flat placement so the
 * accelerator can register it with KVM_SET_USER_MEMORY_REGION (kvm_region_add).
 */
import { traceEvent } from "../trace/control.js";
import { LOG_INVALID_MEM, qemuLogMask } from "../util/log.js";

/** Access sizes the ops handle (bytes). 8-byte accesses are split by the caller. */
export type AccessSize = 1 | 2 | 4;

/** MemoryRegionOps: the device's callbacks; `addr` is the offset in the region. */
export interface MemoryRegionOps {
  read(addr: number, size: AccessSize): number;
  write(addr: number, value: number, size: AccessSize): void;
}

export type MemoryRegionKind = "container" | "io" | "ram" | "rom" | "alias";

export interface MemoryRegion {
  readonly name: string;
  readonly kind: MemoryRegionKind;
  /** Size in bytes. */
  readonly size: number;
  /** The owning object's path or name (for traces and `info mtree`). */
  readonly owner: string;
  /** RAM/ROM: the bytes (process memory from HostOs mmap when KVM backs it). */
  readonly ram: Uint8Array | null;
  /** Where the RAM lives in the VMM's address space (HostOs mmap address), or -1. */
  readonly hostAddr: number;
  readonly ops: MemoryRegionOps | null;
  /** Alias: the region it shows and the offset into it. */
  readonly alias: MemoryRegion | null;
  readonly aliasOffset: number;
  /** Set by memoryRegionAddSubregion. */
  container: MemoryRegion | null;
  addr: number;
  priority: number;
  enabled: boolean;
  readonly subregions: MemoryRegion[];
}

function region(
  kind: MemoryRegionKind,
  owner: string,
  name: string,
  size: number,
  extra: Partial<Pick<MemoryRegion, "ram" | "hostAddr" | "ops" | "alias" | "aliasOffset">> = {},
): MemoryRegion {
  if (!Number.isSafeInteger(size) || size <= 0) {
    throw new RangeError(`memory region ${name}: bad size ${size}`);
  }
  return {
    name,
    kind,
    size,
    owner,
    ram: extra.ram ?? null,
    hostAddr: extra.hostAddr ?? -1,
    ops: extra.ops ?? null,
    alias: extra.alias ?? null,
    aliasOffset: extra.aliasOffset ?? 0,
    container: null,
    addr: 0,
    priority: 0,
    enabled: true,
    subregions: [],
  };
}

/** memory_region_init: a container for other regions. */
export function memoryRegionInit(owner: string, name: string, size: number): MemoryRegion {
  return region("container", owner, name, size);
}

/** memory_region_init_io: accesses call `ops`. */
export function memoryRegionInitIo(
  owner: string,
  ops: MemoryRegionOps,
  name: string,
  size: number,
): MemoryRegion {
  return region("io", owner, name, size, { ops });
}

/**
 * memory_region_init_ram (from a RAMBlock the caller allocated): `bytes` is the memory,
 * `hostAddr` its address in the VMM process (for KVM), or -1 when KVM never sees it.
 */
export function memoryRegionInitRam(
  owner: string,
  name: string,
  bytes: Uint8Array,
  hostAddr = -1,
): MemoryRegion {
  return region("ram", owner, name, bytes.length, { ram: bytes, hostAddr });
}

/** memory_region_init_rom: RAM the guest can read and execute but not write. */
export function memoryRegionInitRom(
  owner: string,
  name: string,
  bytes: Uint8Array,
  hostAddr = -1,
): MemoryRegion {
  return region("rom", owner, name, bytes.length, { ram: bytes, hostAddr });
}

/** memory_region_init_alias: `size` bytes of `orig` from `offset`, placed elsewhere. */
export function memoryRegionInitAlias(
  owner: string,
  name: string,
  orig: MemoryRegion,
  offset: number,
  size: number,
): MemoryRegion {
  return region("alias", owner, name, size, { alias: orig, aliasOffset: offset });
}

/** memory_region_add_subregion(_overlap): place `sub` at `offset` in `parent`. */
export function memoryRegionAddSubregion(
  parent: MemoryRegion,
  offset: number,
  sub: MemoryRegion,
  priority = 0,
): void {
  if (sub.container) throw new Error(`memory region ${sub.name} is already mapped`);
  sub.container = parent;
  sub.addr = offset;
  sub.priority = priority;
  parent.subregions.unshift(sub);
  // Highest priority first; among equals the one added last wins (it is first).
  parent.subregions.sort((a, b) => b.priority - a.priority);
  notifyLayoutChange(parent);
}

/** memory_region_del_subregion. */
export function memoryRegionDelSubregion(parent: MemoryRegion, sub: MemoryRegion): void {
  const i = parent.subregions.indexOf(sub);
  if (i < 0) return;
  parent.subregions.splice(i, 1);
  sub.container = null;
  notifyLayoutChange(parent);
}

/** memory_region_set_enabled. */
export function memoryRegionSetEnabled(mr: MemoryRegion, enabled: boolean): void {
  if (mr.enabled === enabled) return;
  mr.enabled = enabled;
  if (mr.container) notifyLayoutChange(mr.container);
}

/** An access resolved to a leaf region: the region and the offset in it. */
interface Hit {
  mr: MemoryRegion;
  offset: number;
}

function resolve(mr: MemoryRegion, addr: number): Hit | null {
  if (!mr.enabled || addr < 0 || addr >= mr.size) return null;
  if (mr.kind === "alias") return resolve(mr.alias!, addr + mr.aliasOffset);
  for (const sub of mr.subregions) {
    const h = resolve(sub, addr - sub.addr);
    if (h) return h;
  }
  if (mr.kind === "container") return null;
  return { mr, offset: addr };
}

/** A flat RAM/ROM range as KVM needs it (kvm_set_phys_mem). */
export interface RamBlockMapping {
  readonly region: MemoryRegion;
  /** Guest-physical start and size of the visible part. */
  readonly gpa: number;
  readonly size: number;
  /** Offset of the visible part in the region's RAM. */
  readonly offset: number;
  readonly readonly: boolean;
}

/** Listeners told when an address space's layout changed (MemoryListener region_add/del). */
type LayoutListener = () => void;
const listeners = new WeakMap<MemoryRegion, Set<LayoutListener>>();

function notifyLayoutChange(mr: MemoryRegion): void {
  for (let m: MemoryRegion | null = mr; m; m = m.container) {
    const set = listeners.get(m);
    if (set) for (const l of set) l();
  }
}

/**
 * memory_region_access_valid's complaint when io_mem_unassigned (which has no name, hence
 * glibc's `(null)`) rejects an access; `addr` is the guest-physical address.
 */
function logInvalid(dir: "read" | "write", addr: number, size: number): void {
  qemuLogMask(
    LOG_INVALID_MEM,
    `Invalid ${dir} at addr 0x${addr.toString(16).toUpperCase()}, size ${size}, region '(null)', reason: rejected\n`,
  );
}

export class AddressSpace {
  constructor(
    readonly name: string,
    readonly root: MemoryRegion,
    /** Holes are io_mem_unassigned (system memory), not the root's own ops (I/O ports). */
    readonly rejectsUnassigned = false,
  ) {}

  /**
   * address_space_read for one access of `size` bytes (little-endian); a rejected access
   * reads unassigned_mem_read's 0.
   */
  read(addr: number, size: AccessSize): number {
    return this.readChecked(addr, size) ?? 0;
  }

  /**
   * address_space_read with its MemTxResult: the value, or null for MEMTX_DECODE_ERROR
   * (nothing claims the address in an address space that rejects such accesses).
   */
  readChecked(addr: number, size: AccessSize): number | null {
    const h = resolve(this.root, addr);
    if (h === null || (h.mr.kind !== "io" && h.offset + size > h.mr.size)) {
      if (this.rejectsUnassigned) logInvalid("read", addr, size);
      traceEvent("memory_region_unassigned_read", { as: this.name, addr, size });
      return this.rejectsUnassigned ? null : size === 4 ? 0xffff_ffff : (1 << (size * 8)) - 1;
    }
    const mr = h.mr;
    if (mr.ops) {
      const v = mr.ops.read(h.offset, size) >>> 0;
      traceEvent("memory_region_ops_read", { mr: mr.name, addr: h.offset, value: v, size });
      return size === 4 ? v : v & ((1 << (size * 8)) - 1);
    }
    const m = mr.ram!;
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = (v << 8) | m[h.offset + i]!;
    return v >>> 0;
  }

  /** address_space_write for one access of `size` bytes (little-endian). */
  write(addr: number, value: number, size: AccessSize): void {
    const h = resolve(this.root, addr);
    if (h === null || (h.mr.kind !== "io" && h.offset + size > h.mr.size)) {
      if (this.rejectsUnassigned) logInvalid("write", addr, size);
      traceEvent("memory_region_unassigned_write", { as: this.name, addr, value, size });
      return;
    }
    const mr = h.mr;
    if (mr.ops) {
      traceEvent("memory_region_ops_write", { mr: mr.name, addr: h.offset, value, size });
      mr.ops.write(h.offset, value >>> 0, size);
      return;
    }
    if (mr.kind === "rom") return;
    const m = mr.ram!;
    for (let i = 0; i < size; i++) m[h.offset + i] = (value >>> (8 * i)) & 0xff;
  }

  /**
   * The RAM and ROM visible in this address space, flattened (what KVM registers): the
   * tree walked in dispatch order, each leaf keeping only what no earlier leaf covers —
   * so the BIOS alias over low RAM, or an I/O region over RAM, hides what is beneath.
   */
  ramBlocks(): RamBlockMapping[] {
    const out: RamBlockMapping[] = [];
    /** Covered [start, end) intervals, unsorted. */
    const covered: [number, number][] = [];
    const visible = (lo: number, hi: number): [number, number][] => {
      let parts: [number, number][] = [[lo, hi]];
      for (const [c0, c1] of covered) {
        const next: [number, number][] = [];
        for (const [p0, p1] of parts) {
          if (c1 <= p0 || c0 >= p1) next.push([p0, p1]);
          else {
            if (p0 < c0) next.push([p0, c0]);
            if (c1 < p1) next.push([c1, p1]);
          }
        }
        parts = next;
      }
      return parts;
    };
    /** `base`: where offset 0 of `mr` lands; [start, end): the window the parents allow. */
    const walk = (mr: MemoryRegion, base: number, start: number, end: number): void => {
      if (!mr.enabled || end <= start) return;
      if (mr.kind === "alias") {
        walk(mr.alias!, base - mr.aliasOffset, start, end);
        return;
      }
      if (mr.kind === "container") {
        for (const sub of mr.subregions) {
          const b = base + sub.addr;
          walk(sub, b, Math.max(start, b), Math.min(end, b + sub.size));
        }
        return;
      }
      const lo = Math.max(start, base);
      const hi = Math.min(end, base + mr.size);
      for (const [p0, p1] of visible(lo, hi)) {
        if (mr.kind === "ram" || mr.kind === "rom") {
          out.push({
            region: mr,
            gpa: p0,
            size: p1 - p0,
            offset: p0 - base,
            readonly: mr.kind === "rom",
          });
        }
      }
      covered.push([lo, hi]);
    };
    walk(this.root, 0, 0, this.root.size);
    out.sort((a, b) => a.gpa - b.gpa);
    return out;
  }

  /** Call `fn` whenever the layout under this address space changes. Returns the remover. */
  onLayoutChange(fn: LayoutListener): () => void {
    let set = listeners.get(this.root);
    if (!set) {
      set = new Set();
      listeners.set(this.root, set);
    }
    set.add(fn);
    return () => set.delete(fn);
  }
}

/**
 * The accelerator's coalesced-I/O listener (MemoryListener.coalesced_io_add: KVM's
 * kvm_coalesce_mmio_add / kvm_coalesce_pio_add): `pio` for the I/O address space.
 */
type CoalescedIoListener = (addr: number, size: number, pio: boolean) => void;
let coalescedIoListener: CoalescedIoListener | null = null;

/** The accelerator listens for coalesced ranges (null: none). */
export function memoryListenerSetCoalescedIo(fn: CoalescedIoListener | null): void {
  coalescedIoListener = fn;
}

/**
 * `memory_region_add_coalescing(mr, offset, size)` for a region already mapped at `base`
 * of the I/O (`pio`) or memory address space: writes there may be batched by the
 * accelerator and replayed at its next exit (reads are never coalesced).
 */
export function memoryRegionAddCoalescing(
  base: number,
  offset: number,
  size: number,
  pio: boolean,
): void {
  coalescedIoListener?.(base + offset, size, pio);
}
