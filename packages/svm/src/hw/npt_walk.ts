/**
 * The processor's side of nested paging (APM Vol. 2 §15.25; reference svm.md §3.3, §6.2):
 * a guest-physical address is translated through ordinary long-mode page tables (PML4 →
 * PDPT → PD → PT, 2 MiB and 1 GiB pages) rooted at nCR3 in host memory. Every nested
 * access counts as a user access, so an entry without U/S denies it; a write needs R/W at
 * every level and a fetch is denied by NX at any level. A failed translation is a nested
 * page fault, exit 0x400, with a #PF-style error code in EXITINFO1.
 *
 * Like ept_walk.ts in @glassvm/vmx, the tables are meant to be taken once per nCR3 (the
 * "TLB"): nptRamRanges gives the mapped RAM as runs the x86 core can map directly, and
 * nptTranslate decides the accesses that fall outside them.
 */
import {
  PFERR_FETCH_MASK,
  PFERR_PRESENT_MASK,
  PFERR_RSVD_MASK,
  PFERR_USER_MASK,
  PFERR_WRITE_MASK,
} from "../asm/svm.js";

/** Host-physical memory as the processor reads it. */
export interface PhysReader {
  phys(pa: number, len: number): Uint8Array | null;
  /**
   * `len` bytes (whole pages) at `pa` as one view when their frames are consecutive pages
   * of one buffer, else null (then each page is looked up with phys). Lets a large page
   * become one range without a lookup and a view per 4 KiB.
   */
  physRange?(pa: number, len: number): Uint8Array | null;
}

/** Nested accesses: bit 0 read, bit 1 write, bit 2 fetch. */
export const NPT_ACCESS_READ = 1;
export const NPT_ACCESS_WRITE = 2;
export const NPT_ACCESS_FETCH = 4;

export interface NptTranslation {
  ok: boolean;
  /** Host-physical address (when ok). */
  hpa: number;
  /** The error code's bits 4:0 (P, RW, US, RSV, ID) when not ok; 0 when ok. */
  errorCode: number;
}

const ENTRIES = 512;
const PAGE_SIZE = 4096;
const TWO32 = 2 ** 32;
const GPA_LIMIT = 2 ** 48;
const P = 1 << 0;
const RW = 1 << 1;
const US = 1 << 2;
const PS = 1 << 7;
/** NX is bit 63: bit 31 of the high half. */
const NX_HI = 1 << 31;
const ADDR_LO = 0xffff_f000;
const ADDR_HI = 0x000f_ffff;

/** Bytes of guest-physical space one entry at `level` (4 = PML4E … 1 = PTE) covers. */
const levelSize = (level: number): number => 2 ** (12 + 9 * (level - 1));

function readEntry(mem: PhysReader, pa: number): [number, number] | null {
  const b = mem.phys(pa, 8);
  if (!b || b.length < 8) return null;
  const lo = (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
  const hi = (b[4]! | (b[5]! << 8) | (b[6]! << 16) | (b[7]! << 24)) >>> 0;
  return [lo, hi];
}

const entryAddress = (lo: number, hi: number): number =>
  (hi & ADDR_HI) * TWO32 + ((lo & ADDR_LO) >>> 0);

/**
 * Reserved bits of a present entry, for a processor with `physAddrBits` and EFER.NXE
 * set (the host's): bits 51:MAXPHYADDR; PS in a PML4E; the address bits below a large
 * page (bit 12 of a PDE/PDPTE page is PAT).
 */
function reserved(lo: number, hi: number, level: number, physAddrBits: number): boolean {
  const rsvdHi = ADDR_HI & ~((1 << (physAddrBits - 32)) - 1);
  if ((hi & rsvdHi) !== 0) return true;
  if (level === 4 && (lo & PS) !== 0) return true;
  if (level === 3 && (lo & PS) !== 0 && (lo & 0x3fff_e000) !== 0) return true;
  if (level === 2 && (lo & PS) !== 0 && (lo & 0x001f_e000) !== 0) return true;
  return false;
}

/** The root of the nested tables: nCR3 bits 51:12. */
export function nptRoot(ncr3: bigint): number {
  return Number(ncr3 & 0x000f_ffff_ffff_f000n);
}

/**
 * Translate guest-physical `gpa` for `access` (NPT_ACCESS_*), walking the tables as the
 * processor would. A missing or unbacked table ends the walk as not present.
 */
export function nptTranslate(
  mem: PhysReader,
  ncr3: bigint,
  gpa: number,
  access: number,
  physAddrBits: number,
): NptTranslation {
  const kind =
    PFERR_USER_MASK |
    ((access & NPT_ACCESS_WRITE) !== 0 ? PFERR_WRITE_MASK : 0) |
    ((access & NPT_ACCESS_FETCH) !== 0 ? PFERR_FETCH_MASK : 0);
  if (!Number.isSafeInteger(gpa) || gpa < 0 || gpa >= GPA_LIMIT) {
    return { ok: false, hpa: 0, errorCode: kind };
  }
  let table = nptRoot(ncr3);
  let rw = true;
  let us = true;
  let nx = false;
  for (let level = 4; level >= 1; level--) {
    const size = levelSize(level);
    const e = readEntry(mem, table + (Math.floor(gpa / size) % ENTRIES) * 8);
    if (!e || (e[0] & P) === 0) return { ok: false, hpa: 0, errorCode: kind };
    const [lo, hi] = e;
    if (reserved(lo, hi, level, physAddrBits)) {
      return { ok: false, hpa: 0, errorCode: kind | PFERR_PRESENT_MASK | PFERR_RSVD_MASK };
    }
    rw &&= (lo & RW) !== 0;
    us &&= (lo & US) !== 0;
    nx ||= (hi & NX_HI) !== 0;
    if (level === 1 || (lo & PS) !== 0) {
      const denied =
        !us ||
        ((access & NPT_ACCESS_WRITE) !== 0 && !rw) ||
        ((access & NPT_ACCESS_FETCH) !== 0 && nx);
      if (denied) return { ok: false, hpa: 0, errorCode: kind | PFERR_PRESENT_MASK };
      const base = level === 1 ? entryAddress(lo, hi) : entryAddress(lo & ~0x1000, hi);
      return { ok: true, hpa: base + (gpa % size), errorCode: 0 };
    }
    table = entryAddress(lo, hi);
  }
  throw new Error("unreachable: NPT walk past the PTE");
}

/** A run of guest-physical RAM backed by one view of host memory. */
export interface NptRange {
  readonly gpa: number;
  readonly bytes: Uint8Array;
  readonly writable: boolean;
}

/**
 * Walk the whole nested structure once: the mapped guest-physical RAM, sorted by gpa,
 * neighbouring pages merged when their host frames are consecutive views of one buffer
 * and their write permission agrees. Left out (so that accesses there reach
 * nptTranslate and fault): pages without U/S on the path, entries with reserved bits,
 * unbacked frames. NX is not kept per range: fetches from mapped RAM are allowed.
 */
export function nptRamRanges(mem: PhysReader, ncr3: bigint, physAddrBits: number): NptRange[] {
  const out: NptRange[] = [];
  let open: {
    gpa: number;
    buffer: ArrayBufferLike;
    byteOffset: number;
    length: number;
    writable: boolean;
  } | null = null;
  const close = (): void => {
    if (!open) return;
    out.push({
      gpa: open.gpa,
      bytes: new Uint8Array(open.buffer, open.byteOffset, open.length),
      writable: open.writable,
    });
    open = null;
  };
  const addPage = (gpa: number, page: Uint8Array | null, writable: boolean): void => {
    if (!page || page.length < PAGE_SIZE) {
      close();
      return;
    }
    if (
      open &&
      open.gpa + open.length === gpa &&
      open.buffer === page.buffer &&
      open.byteOffset + open.length === page.byteOffset &&
      open.writable === writable
    ) {
      open.length += page.length;
      return;
    }
    close();
    open = { gpa, buffer: page.buffer, byteOffset: page.byteOffset, length: page.length, writable };
  };
  const walk = (table: number, level: number, base: number, rw: boolean): void => {
    const size = levelSize(level);
    for (let i = 0; i < ENTRIES; i++) {
      const gpa = base + i * size;
      const e = readEntry(mem, table + i * 8);
      if (
        !e ||
        (e[0] & P) === 0 ||
        (e[0] & US) === 0 ||
        reserved(e[0], e[1], level, physAddrBits)
      ) {
        close();
        continue;
      }
      const [lo, hi] = e;
      const w = rw && (lo & RW) !== 0;
      if (level > 1 && (lo & PS) === 0) {
        walk(entryAddress(lo, hi), level - 1, gpa, w);
        continue;
      }
      const hpa = level === 1 ? entryAddress(lo, hi) : entryAddress(lo & ~0x1000, hi);
      const run = size > PAGE_SIZE ? (mem.physRange?.(hpa, size) ?? null) : null;
      if (run) {
        addPage(gpa, run, w);
        continue;
      }
      for (let off = 0; off < size; off += PAGE_SIZE) {
        addPage(gpa + off, mem.phys(hpa + off, PAGE_SIZE), w);
      }
    }
  };
  walk(nptRoot(ncr3), 4, 0, true);
  close();
  return out;
}
