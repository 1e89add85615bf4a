/**
 * kvm_amd's nested page tables: the two-dimensional-paging MMU (arch/x86/kvm/mmu/tdp_mmu.c
 * with npt_enabled), built eagerly like the EPT of @glassvm/vmx. Linux installs SPTEs on
 * demand from NPF exits; this model builds the whole structure from the memslots at once
 * (a reset followed by a prefault of every slot page) and rebuilds it when the memslots
 * change.
 *
 * The format is the one the processor walks under nCR3 (npt_walk.ts): ordinary long-mode
 * 4-level tables. Every entry is P|RW|US — nested accesses are user accesses — and leaves
 * of read-only slots drop RW so that a guest write exits with an NPF. Tables are host
 * pages from alloc_page; guest RAM is the VMM's memory pinned with get_user_pages, so the
 * frames the tables point at are the very bytes of the memslots.
 */
import type { HostKernel } from "@glassvm/kvm-kernel";

/** One memslot as the MMU needs it (a KvmMemorySlot fits). */
export interface NptMemslot {
  readonly baseGfn: number;
  readonly npages: number;
  /** The VMM's memory behind the slot, at least `npages * 4096` bytes. */
  readonly bytes: Uint8Array;
  readonly readonly: boolean;
  /** KVM_MEM_LOG_DIRTY_PAGES: map 4 KiB at a time, write-protected. */
  readonly dirtyLog?: boolean;
}

const PAGE_SIZE = 4096;
const ENTRIES = 512;
const TWO32 = 2 ** 32;
const PAGES_2M = 512;
/** Guest frames a 4-level walk reaches (48-bit guest-physical addresses). */
export const NPT_GFN_LIMIT = 2 ** 36;

/** PTE bits (arch/x86/include/asm/pgtable_types.h). */
const _PAGE_PRESENT = 1 << 0;
const _PAGE_RW = 1 << 1;
const _PAGE_USER = 1 << 2;
const _PAGE_ACCESSED = 1 << 5;
const _PAGE_DIRTY = 1 << 6;
const _PAGE_PSE = 1 << 7;
/** SPTE software bits (spte.h): bit 11 marks an MMU-present SPTE. */
const SPTE_MMU_PRESENT_MASK = 1 << 11;
/** Bits 57/58 (high half 25/26): the host and the MMU allow writes (dirty-log unprotect). */
const SPTE_HOST_WRITABLE_HI = 1 << (57 - 32);
const SPTE_MMU_WRITABLE_HI = 1 << (58 - 32);

const NONLEAF = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | SPTE_MMU_PRESENT_MASK;

interface TablePage {
  readonly pa: number;
  readonly bytes: Uint8Array;
}

function setEntry(table: Uint8Array, index: number, lo: number, hi: number): void {
  const at = index * 8;
  for (let i = 0; i < 4; i++) {
    table[at + i] = (lo >>> (8 * i)) & 0xff;
    table[at + 4 + i] = (hi >>> (8 * i)) & 0xff;
  }
}

function getEntry(table: Uint8Array, index: number): [number, number] {
  const at = index * 8;
  const lo =
    (table[at]! | (table[at + 1]! << 8) | (table[at + 2]! << 16) | (table[at + 3]! << 24)) >>> 0;
  const hi =
    (table[at + 4]! | (table[at + 5]! << 8) | (table[at + 6]! << 16) | (table[at + 7]! << 24)) >>>
    0;
  return [lo, hi];
}

const indexAt = (gfn: number, level: number): number =>
  Math.floor(gfn / 2 ** (9 * (level - 1))) % ENTRIES;

export class NptMmu {
  #root = 0;
  readonly #tables = new Map<number, TablePage>();

  constructor(private readonly kernel: HostKernel) {}

  /** nCR3: the root table's physical address (0 before build and after free). */
  get ncr3(): number {
    return this.#root;
  }

  /** How many 4 KiB table pages are in use. */
  get tablePages(): number {
    return this.#tables.size;
  }

  /**
   * Rebuild the tables for these slots: every slot page mapped P|RW|US (read-only slots
   * without RW), holes not present, 2 MiB leaves where a 2 MiB-aligned guest range of one
   * slot is backed by one 2 MiB-aligned run of frames. Frees the previous tables and
   * returns the new nCR3.
   */
  build(slots: readonly NptMemslot[]): number {
    const sorted = [...slots].sort((a, b) => a.baseGfn - b.baseGfn);
    let end = 0;
    for (const s of sorted) {
      if (s.baseGfn < end)
        throw new RangeError(`memslots overlap at gfn 0x${s.baseGfn.toString(16)}`);
      if (s.baseGfn + s.npages > NPT_GFN_LIMIT) {
        throw new RangeError("memslot beyond the 48-bit guest-physical space of 4-level NPT");
      }
      end = s.baseGfn + s.npages;
    }
    const pfns = sorted.map((s) => this.kernel.gupPages(s.bytes.subarray(0, s.npages * PAGE_SIZE)));
    this.free();
    const root = this.allocTable();
    this.#root = root.pa;
    for (const [i, s] of sorted.entries()) this.mapSlot(root, s, pfns[i]!);
    return this.#root;
  }

  /** Free every table page. */
  free(): void {
    for (const pa of this.#tables.keys()) this.kernel.freePage(pa);
    this.#tables.clear();
    this.#root = 0;
  }

  /**
   * fast_page_fault for dirty logging: the write-protected 4 KiB leaf that maps `gfn`
   * becomes writable in place. False when no such leaf maps it (or the slot is read-only).
   */
  makeWritable(gfn: number): boolean {
    let table = this.#tables.get(this.#root);
    for (let level = 4; table && level >= 1; level--) {
      const index = indexAt(gfn, level);
      const [lo, hi] = getEntry(table.bytes, index);
      if ((lo & _PAGE_PRESENT) === 0) return false;
      if (level === 1) {
        if ((hi & SPTE_HOST_WRITABLE_HI) === 0) return false;
        setEntry(
          table.bytes,
          index,
          (lo | _PAGE_RW | _PAGE_DIRTY) >>> 0,
          hi | SPTE_MMU_WRITABLE_HI,
        );
        return true;
      }
      if ((lo & _PAGE_PSE) !== 0) return false;
      table = this.#tables.get((hi & 0xf_ffff) * TWO32 + ((lo & 0xffff_f000) >>> 0));
    }
    return false;
  }

  /**
   * Prefault every page of a slot. A dirty-logged slot gets 4 KiB leaves without RW but
   * with "host writable", so the first write to each page exits (NPF) and makeWritable
   * lifts the protection page by page (kvm_mmu_slot_remove_write_access).
   */
  private mapSlot(root: TablePage, slot: NptMemslot, firstPfn: number): void {
    for (let i = 0; i < slot.npages; ) {
      const gfn = slot.baseGfn + i;
      const pfn = firstPfn + i;
      const hpa = pfn * PAGE_SIZE;
      const huge =
        !slot.readonly &&
        !slot.dirtyLog &&
        gfn % PAGES_2M === 0 &&
        pfn % PAGES_2M === 0 &&
        slot.npages - i >= PAGES_2M;
      const level = huge ? 2 : 1;
      let flags = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | SPTE_MMU_PRESENT_MASK;
      let hi = Math.floor(hpa / TWO32);
      if (slot.dirtyLog && !slot.readonly) {
        hi |= SPTE_HOST_WRITABLE_HI;
      } else if (!slot.readonly) {
        flags |= _PAGE_RW | _PAGE_DIRTY;
        hi |= SPTE_HOST_WRITABLE_HI | SPTE_MMU_WRITABLE_HI;
      }
      if (huge) flags |= _PAGE_PSE;
      const table = this.tableFor(root, gfn, level);
      setEntry(table.bytes, indexAt(gfn, level), ((hpa % TWO32) | flags) >>> 0, hi);
      i += huge ? PAGES_2M : 1;
    }
  }

  private allocTable(): TablePage {
    const page = this.kernel.allocPage();
    this.#tables.set(page.pa, page);
    return page;
  }

  private tableFor(root: TablePage, gfn: number, level: number): TablePage {
    let table = root;
    for (let l = 4; l > level; l--) {
      const index = indexAt(gfn, l);
      const [lo, hi] = getEntry(table.bytes, index);
      if ((lo & _PAGE_PRESENT) !== 0) {
        const next = this.#tables.get((hi & 0xf_ffff) * TWO32 + ((lo & 0xffff_f000) >>> 0));
        if (!next || (lo & _PAGE_PSE) !== 0) {
          throw new Error(`NPT: gfn 0x${gfn.toString(16)} is already mapped at level ${l}`);
        }
        table = next;
        continue;
      }
      const child = this.allocTable();
      setEntry(
        table.bytes,
        index,
        ((child.pa % TWO32) | NONLEAF) >>> 0,
        Math.floor(child.pa / TWO32),
      );
      table = child;
    }
    return table;
  }
}
