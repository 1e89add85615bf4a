/**
 * kvm_intel's EPT: the two-dimensional-paging MMU of arch/x86/kvm/mmu/tdp_mmu.c with
 * enable_ept, built eagerly. Where Linux installs SPTEs on demand from EPT-violation exits
 * (kvm_tdp_mmu_map), this model builds the whole structure from the memslots at once — a
 * kvm_mmu_reset followed by a prefault of every slot page — and rebuilds it when the
 * memslots change (the zap-all of kvm_mmu_zap_all_fast).
 *
 * Tables are host pages from alloc_page; guest RAM is the VMM's memory pinned with
 * get_user_pages (HostKernel.gupPages), so the host-physical frames the EPT points at are
 * the very bytes of the memslots. Leaves are write-back (bits 5:3 = 6) with IPAT clear, as
 * kvm_x86_ops.get_mt_mask gives for RAM without non-coherent DMA; read-only slots lose W so
 * that a guest write exits with an EPT violation (the MMIO-like path of KVM_MEM_READONLY).
 * No A/D bits: the EPTP leaves them disabled.
 */
import type { HostKernel } from "@glassvm/kvm-kernel";
import {
  VMX_EPT_EXECUTABLE_MASK,
  VMX_EPT_LARGE_PAGE_MASK,
  VMX_EPT_MT_EPTE_SHIFT,
  VMX_EPT_READABLE_MASK,
  VMX_EPT_RWX_MASK,
  VMX_EPT_WRITABLE_MASK,
  VMX_EPTP_MT_WB,
  VMX_EPTP_PWL_4,
} from "../asm/vmx.js";

/** One memslot as the MMU needs it (a KvmMemorySlot fits). */
export interface EptMemslot {
  readonly baseGfn: number;
  readonly npages: number;
  /** The VMM's memory behind the slot, at least `npages * 4096` bytes. */
  readonly bytes: Uint8Array;
  readonly readonly: boolean;
}

const PAGE_SIZE = 4096;
const ENTRIES = 512;
const TWO32 = 2 ** 32;
/** Frames per 2 MiB page (PG_LEVEL_2M). */
const PAGES_2M = 512;
/** Guest frames the 4-level walk reaches (48-bit guest-physical addresses). */
const GFN_LIMIT = 2 ** 36;
/** MTRR_TYPE_WRBACK in the leaf's memory-type field. */
const MT_WB = 6;

/**
 * Software bits KVM keeps in ignored SPTE bits (arch/x86/kvm/mmu/spte.h). Bit 11 marks every
 * MMU-present SPTE; bits 57 and 58 (in the high half: 25 and 26) record that the host
 * mapping and the MMU allow writes.
 */
const SPTE_MMU_PRESENT_MASK = 1 << 11;
const EPT_SPTE_HOST_WRITABLE_HI = 1 << (57 - 32);
const EPT_SPTE_MMU_WRITABLE_HI = 1 << (58 - 32);

interface TablePage {
  readonly pa: number;
  readonly bytes: Uint8Array;
}

/** Write a 64-bit entry as two little-endian 32-bit halves. */
function setEntry(table: Uint8Array, index: number, lo: number, hi: number): void {
  const at = index * 8;
  for (let i = 0; i < 4; i++) {
    table[at + i] = (lo >>> (8 * i)) & 0xff;
    table[at + 4 + i] = (hi >>> (8 * i)) & 0xff;
  }
}

/** The halves of an entry pointing at host-physical `pa` with flag bits `flags`. */
const loOf = (pa: number, flags: number): number => ((pa % TWO32) | flags) >>> 0;
const hiOf = (pa: number): number => Math.floor(pa / TWO32);

export class EptMmu {
  #eptp = 0n;
  /** Every table page in use, by host-physical address. */
  readonly #tables = new Map<number, TablePage>();

  constructor(private readonly kernel: HostKernel) {}

  /** The current EPT pointer (0n before build and after free). */
  get eptp(): bigint {
    return this.#eptp;
  }

  /** How many 4 KiB table pages are in use. */
  get tablePages(): number {
    return this.#tables.size;
  }

  /**
   * Rebuild the tables for these slots (kvm_mmu_reset / zap-all + eager map): every slot page
   * mapped RWX (read-only slots R+X, so writes cause EPT violations), write-back memory type
   * in leaves, IPAT clear; holes left not-present. A 2 MiB-aligned guest range inside one
   * slot whose frames form one 2 MiB-aligned run gets a 2 MiB leaf, the rest 4 KiB leaves.
   * Returns the EPTP: root pa | 4-level walk | WB, no A/D. Frees the previous tables.
   */
  build(slots: readonly EptMemslot[]): bigint {
    const sorted = [...slots].sort((a, b) => a.baseGfn - b.baseGfn);
    let end = 0;
    for (const s of sorted) {
      if (!Number.isSafeInteger(s.baseGfn) || s.baseGfn < 0) {
        throw new RangeError(`memslot base gfn ${s.baseGfn} is not a frame number`);
      }
      if (!Number.isSafeInteger(s.npages) || s.npages <= 0) {
        throw new RangeError(`memslot at gfn 0x${s.baseGfn.toString(16)} has no pages`);
      }
      if (s.baseGfn + s.npages > GFN_LIMIT) {
        throw new RangeError("memslot beyond the 48-bit guest-physical space of 4-level EPT");
      }
      if (s.bytes.length < s.npages * PAGE_SIZE) {
        throw new RangeError(`memslot at gfn 0x${s.baseGfn.toString(16)} has too few bytes`);
      }
      if (s.baseGfn < end) {
        throw new RangeError(`memslots overlap at gfn 0x${s.baseGfn.toString(16)}`);
      }
      end = s.baseGfn + s.npages;
    }

    // get_user_pages first: a slot that cannot be pinned leaves the old tables in place.
    const pfns = sorted.map((s) => this.kernel.gupPages(s.bytes.subarray(0, s.npages * PAGE_SIZE)));
    this.free();
    const root = this.allocTable();
    for (const [i, s] of sorted.entries()) this.mapSlot(root, s, pfns[i]!);
    this.#eptp = BigInt(root.pa) | BigInt(VMX_EPTP_PWL_4 | VMX_EPTP_MT_WB);
    return this.#eptp;
  }

  /** Free every table page (kvm_mmu_free_roots + the zap that frees the child tables). */
  free(): void {
    for (const pa of this.#tables.keys()) this.kernel.freePage(pa);
    this.#tables.clear();
    this.#eptp = 0n;
  }

  private allocTable(): TablePage {
    const page = this.kernel.allocPage();
    this.#tables.set(page.pa, page);
    return page;
  }

  /** Prefault every page of a slot (the eager counterpart of kvm_tdp_mmu_map). */
  private mapSlot(root: TablePage, slot: EptMemslot, firstPfn: number): void {
    let leafFlags = VMX_EPT_READABLE_MASK | VMX_EPT_EXECUTABLE_MASK | SPTE_MMU_PRESENT_MASK;
    leafFlags |= MT_WB << VMX_EPT_MT_EPTE_SHIFT;
    let leafHi = 0;
    if (!slot.readonly) {
      leafFlags |= VMX_EPT_WRITABLE_MASK;
      leafHi = EPT_SPTE_HOST_WRITABLE_HI | EPT_SPTE_MMU_WRITABLE_HI;
    }
    let i = 0;
    while (i < slot.npages) {
      const gfn = slot.baseGfn + i;
      const pfn = firstPfn + i;
      const hpa = pfn * PAGE_SIZE;
      const huge = gfn % PAGES_2M === 0 && pfn % PAGES_2M === 0 && slot.npages - i >= PAGES_2M;
      const level = huge ? 2 : 1;
      const table = this.tableFor(root, gfn, level);
      const flags = huge ? leafFlags | VMX_EPT_LARGE_PAGE_MASK : leafFlags;
      setEntry(table.bytes, indexAt(gfn, level), loOf(hpa, flags), hiOf(hpa) | leafHi);
      i += huge ? PAGES_2M : 1;
    }
  }

  /**
   * The table at `level` that maps `gfn`, linking new tables on the way down as
   * tdp_mmu_link_sp does: non-leaf entries allow RWX; the leaves restrict.
   */
  private tableFor(root: TablePage, gfn: number, level: number): TablePage {
    let table = root;
    for (let l = 4; l > level; l--) {
      const index = indexAt(gfn, l);
      const at = index * 8;
      const b = table.bytes;
      const lo = (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
      const hi = (b[at + 4]! | (b[at + 5]! << 8) | (b[at + 6]! << 16) | (b[at + 7]! << 24)) >>> 0;
      if ((lo & VMX_EPT_RWX_MASK) !== 0) {
        const pa = (hi & 0xf_ffff) * TWO32 + ((lo & 0xffff_f000) >>> 0);
        const next = this.#tables.get(pa);
        if (!next || (lo & VMX_EPT_LARGE_PAGE_MASK) !== 0) {
          throw new Error(`EPT: gfn 0x${gfn.toString(16)} is already mapped at level ${l}`);
        }
        table = next;
        continue;
      }
      const child = this.allocTable();
      setEntry(
        table.bytes,
        index,
        loOf(child.pa, VMX_EPT_RWX_MASK | SPTE_MMU_PRESENT_MASK),
        hiOf(child.pa),
      );
      table = child;
    }
    return table;
  }
}

/** Index of `gfn` in a table at `level` (SPTE_INDEX). */
function indexAt(gfn: number, level: number): number {
  return Math.floor(gfn / 2 ** (9 * (level - 1))) % ENTRIES;
}
