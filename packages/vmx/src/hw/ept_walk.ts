/**
 * The processor's side of EPT (SDM Vol. 3C 29.3, "The Extended Page Table Mechanism"):
 * translating a guest-physical address through the 4-level EPT paging structures the
 * EPT pointer names, with EPT misconfigurations (29.3.3.1) and EPT violations (29.3.3.2).
 *
 * Like a real part's TLB, the model is not meant to walk the tables on every guest access:
 * at VM entry (or INVEPT) the whole structure is taken once with eptRamRanges and the x86
 * core maps the resulting ranges as RAM; accesses outside every range are then decided by
 * eptTranslate, which walks the tables as the CPU would.
 *
 * Entries are 64 bits; they are read as two little-endian 32-bit halves so that no BigInt
 * arithmetic is needed on the walk. Host-physical addresses are below 2^MAXPHYADDR
 * (36 bits here), guest-physical ones below 2^48 (the 4-level walk covers bits 47:0).
 */
import {
  EPT_VIOLATION_ACC_INSTR,
  EPT_VIOLATION_ACC_READ,
  EPT_VIOLATION_ACC_WRITE,
  EPT_VIOLATION_GVA_IS_VALID,
  EPT_VIOLATION_GVA_TRANSLATED,
  EPT_VIOLATION_RWX_SHIFT,
  VMX_EPT_1GB_PAGE_BIT,
  VMX_EPT_2MB_PAGE_BIT,
  VMX_EPT_EXECUTABLE_MASK,
  VMX_EPT_EXECUTE_ONLY_BIT,
  VMX_EPT_LARGE_PAGE_MASK,
  VMX_EPT_MT_EPTE_SHIFT,
  VMX_EPT_MT_MASK,
  VMX_EPT_READABLE_MASK,
  VMX_EPT_RWX_MASK,
  VMX_EPT_WRITABLE_MASK,
} from "../asm/vmx.js";
import { IA32_VMX_EPT_VPID_CAP_VALUE, VMX_PHYS_ADDR_BITS } from "./vmx_caps.js";

/** Host-physical memory as the processor reads it (HostCpu, the host kernel's pages). */
export interface PhysReader {
  phys(pa: number, len: number): Uint8Array | null;
  /**
   * `len` bytes (whole pages) at `pa` as one view when their frames are consecutive pages
   * of one buffer, else null (then each page is looked up with phys). Lets a large page
   * become one range without a lookup and a view per 4 KiB.
   */
  physRange?(pa: number, len: number): Uint8Array | null;
}

/** eptTranslate outcomes. */
export const EPT_OK = 0;
/** Exit reason 48: the access is not allowed or the walk met a not-present entry. */
export const EPT_VIOLATION = 1;
/** Exit reason 49: an entry on the walk is malformed. */
export const EPT_MISCONFIG = 2;
export type EptStatus = typeof EPT_OK | typeof EPT_VIOLATION | typeof EPT_MISCONFIG;

export interface EptTranslation {
  status: EptStatus;
  /** Host-physical address (when OK; 0 otherwise). */
  hpa: number;
  /**
   * Permissions of the walk (AND of all levels): bit0 R, bit1 W, bit2 X. 0 when the walk met
   * a not-present entry or a misconfiguration.
   */
  perms: number;
  /** The level the walk ended (4..1): the leaf, the not-present or the misconfigured entry. */
  level: number;
  /**
   * For violations: the exit-qualification bits 3-5 (perms of the translation, in place),
   * per reference §2.4; 0 for OK and misconfigurations.
   */
  qualPerms: number;
}

/** What the processor supports, from its IA32_VMX_EPT_VPID_CAP. */
const CAP_LOW = Number(IA32_VMX_EPT_VPID_CAP_VALUE & 0xffff_ffffn);
const EXECUTE_ONLY = (CAP_LOW & VMX_EPT_EXECUTE_ONLY_BIT) !== 0;
const PAGES_2M = (CAP_LOW & VMX_EPT_2MB_PAGE_BIT) !== 0;
const PAGES_1G = (CAP_LOW & VMX_EPT_1GB_PAGE_BIT) !== 0;

const ENTRIES = 512;
const PAGE_SIZE = 4096;
const TWO32 = 2 ** 32;
/** Guest-physical addresses the 4-level walk translates. */
const GPA_LIMIT = 2 ** 48;
/** Bits 31:12 of an entry: the low part of the physical address. */
const ADDR_LO = 0xffff_f000;
/** Bits 51:32 of an entry (high half bits 19:0): the high part of the physical address. */
const ADDR_HI = 0x000f_ffff;
/** Bits 51:MAXPHYADDR, in the high half: reserved in every present entry. */
const RSVD_HI = ADDR_HI & ~((1 << (VMX_PHYS_ADDR_BITS - 32)) - 1);
/** Bits 7:3: reserved in every entry that references a table. */
const RSVD_7_3 = 0xf8;

/**
 * The processor's view of memory that is not there: reads of unbacked host-physical
 * addresses return all ones, which as an EPT entry is present with reserved bits set.
 */
const ABORT = 0xffff_ffff;

/** Does this present entry map a page (rather than reference another table)? */
function isLeaf(level: number, lo: number): boolean {
  if (level === 1) return true;
  if ((lo & VMX_EPT_LARGE_PAGE_MASK) === 0) return false;
  return (level === 2 && PAGES_2M) || (level === 3 && PAGES_1G);
}

/**
 * Reserved bits 31:0 of a present entry at `level` (SDM 29.3.2, Tables 29-1 … 29-6; with the
 * high bits 51:MAXPHYADDR, checked separately, these are all of them).
 */
function reservedLow(level: number, leaf: boolean): number {
  // A page: the address bits below the page size (PDE: 20:12, PDPTE: 29:12); a PTE has none
  // (its bit 7 is ignored).
  if (leaf) return level === 1 ? 0 : ((1 << (12 + 9 * (level - 1))) - 1) & ADDR_LO;
  // A reference to a table: bits 6:3, and bit 7 — in a PML4E always, and in a PDPTE or PDE
  // that is not a leaf because this part cannot map a page there (otherwise it is 0 here).
  return RSVD_7_3;
}

/** SDM 29.3.3.1: is this present entry (bits 2:0 not 000b) an EPT misconfiguration? */
function misconfigured(lo: number, hi: number, level: number, leaf: boolean): boolean {
  const xwr = lo & VMX_EPT_RWX_MASK;
  // Write without read: 010b (write-only) and 110b (write/execute).
  if ((xwr & VMX_EPT_WRITABLE_MASK) !== 0 && (xwr & VMX_EPT_READABLE_MASK) === 0) return true;
  if (xwr === VMX_EPT_EXECUTABLE_MASK && !EXECUTE_ONLY) return true;
  if ((hi & RSVD_HI) !== 0 || (lo & reservedLow(level, leaf)) !== 0) return true;
  if (leaf) {
    // The memory type of a page: 2, 3 and 7 are reserved.
    const mt = (lo & VMX_EPT_MT_MASK) >>> VMX_EPT_MT_EPTE_SHIFT;
    if (mt === 2 || mt === 3 || mt === 7) return true;
  }
  return false;
}

/** The physical address an entry holds (bits N−1:12, lower bits of a page masked by caller). */
function entryAddress(lo: number, hi: number): number {
  return (hi & ADDR_HI) * TWO32 + ((lo & ADDR_LO) >>> 0);
}

/** One 8-byte entry as [low half, high half]; all ones when the address is not backed. */
function readEntry(mem: PhysReader, pa: number): [number, number] {
  const b = mem.phys(pa, 8);
  if (!b || b.length < 8) return [ABORT, ABORT];
  const lo = (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
  const hi = (b[4]! | (b[5]! << 8) | (b[6]! << 16) | (b[7]! << 24)) >>> 0;
  return [lo, hi];
}

/** The root table's address: EPTP bits N−1:12 (VM entry has checked the rest). */
function eptRoot(eptp: bigint): number {
  return Number(eptp & 0x000f_ffff_ffff_f000n);
}

/** Bytes of guest-physical space one entry at `level` covers. */
const levelSize = (level: number): number => 2 ** (12 + 9 * (level - 1));

function checkGpa(gpa: number): void {
  if (!Number.isSafeInteger(gpa) || gpa < 0 || gpa >= GPA_LIMIT) {
    throw new RangeError(`guest-physical address ${gpa} is outside the 48-bit EPT space`);
  }
}

/**
 * Translate one guest-physical address for an access (bit0 read, bit1 write, bit2 fetch),
 * as the CPU would, reading the tables through `mem`. Every present entry met is checked
 * for misconfiguration (W without R, execute-only without support — this part has it —,
 * reserved bits, a page's memory type 2/3/7) before permissions are; a not-present entry
 * (bits 2:0 = 000b) ends the walk with a violation and no permissions.
 */
export function eptTranslate(
  mem: PhysReader,
  eptp: bigint,
  gpa: number,
  access: number,
): EptTranslation {
  checkGpa(gpa);
  let table = eptRoot(eptp);
  let perms = VMX_EPT_RWX_MASK;
  for (let level = 4; level >= 1; level--) {
    const size = levelSize(level);
    const index = Math.floor(gpa / size) % ENTRIES;
    const [lo, hi] = readEntry(mem, table + index * 8);
    const xwr = lo & VMX_EPT_RWX_MASK;
    if (xwr === 0) return { status: EPT_VIOLATION, hpa: 0, perms: 0, level, qualPerms: 0 };
    const leaf = isLeaf(level, lo);
    if (misconfigured(lo, hi, level, leaf)) {
      return { status: EPT_MISCONFIG, hpa: 0, perms: 0, level, qualPerms: 0 };
    }
    perms &= xwr;
    if (leaf) {
      if ((access & ~perms & VMX_EPT_RWX_MASK) !== 0) {
        return {
          status: EPT_VIOLATION,
          hpa: 0,
          perms,
          level,
          qualPerms: perms << EPT_VIOLATION_RWX_SHIFT,
        };
      }
      const hpa = entryAddress(lo, hi) + (gpa % size);
      return { status: EPT_OK, hpa, perms, level, qualPerms: 0 };
    }
    table = entryAddress(lo, hi);
  }
  // Level 1 entries are always leaves.
  throw new Error("unreachable: EPT walk past the PTE");
}

/**
 * EPT-violation exit qualification (SDM 28.2.1 Table 28-7; reference §2.4): bits 2:0 the
 * access (read, write, fetch), bits 5:3 the permissions of the translation, bit 7 set when
 * the guest-linear-address field is valid, bit 8 — only meaningful when bit 7 is set, and
 * left clear otherwise — set for an access to the translated linear address, clear for an
 * access made while walking the guest's paging structures.
 */
export function eptViolationQualification(
  access: number,
  perms: number,
  glaValid: boolean,
  isLinearAccess: boolean,
): number {
  let q = access & (EPT_VIOLATION_ACC_READ | EPT_VIOLATION_ACC_WRITE | EPT_VIOLATION_ACC_INSTR);
  q |= (perms & VMX_EPT_RWX_MASK) << EPT_VIOLATION_RWX_SHIFT;
  if (glaValid) {
    q |= EPT_VIOLATION_GVA_IS_VALID;
    if (isLinearAccess) q |= EPT_VIOLATION_GVA_TRANSLATED;
  }
  return q;
}

/** A run of guest-physical RAM that one view of host memory backs. */
export interface EptRange {
  readonly gpa: number;
  readonly bytes: Uint8Array;
  readonly writable: boolean;
  readonly executable: boolean;
}

/** The range being grown while the structure is walked. */
interface OpenRange {
  gpa: number;
  buffer: ArrayBufferLike;
  byteOffset: number;
  length: number;
  writable: boolean;
  executable: boolean;
}

/**
 * The "cache": walk the whole structure once and return the mapped guest-physical ranges,
 * sorted by gpa. Neighbouring pages with the same permissions whose host frames are
 * consecutive views of one ArrayBuffer are merged into one range, so the x86 core's
 * PhysMemory can map each with addRam. Left out, so that an access there goes to
 * eptTranslate: subtrees under misconfigured entries (the access is an EPT misconfiguration),
 * pages that are not readable (execute-only: every data read is a violation), and pages
 * whose host frame is not backed.
 */
export function eptRamRanges(mem: PhysReader, eptp: bigint): EptRange[] {
  const out: EptRange[] = [];
  let open: OpenRange | null = null;

  const close = (): void => {
    if (!open) return;
    out.push({
      gpa: open.gpa,
      bytes: new Uint8Array(open.buffer, open.byteOffset, open.length),
      writable: open.writable,
      executable: open.executable,
    });
    open = null;
  };

  /** `page`: whole pages (one, or a large page's run) mapped at `gpa`. */
  const addPage = (gpa: number, page: Uint8Array | null, perms: number): void => {
    if (!page || page.length < PAGE_SIZE) {
      close();
      return;
    }
    const writable = (perms & VMX_EPT_WRITABLE_MASK) !== 0;
    const executable = (perms & VMX_EPT_EXECUTABLE_MASK) !== 0;
    if (
      open &&
      open.gpa + open.length === gpa &&
      open.buffer === page.buffer &&
      open.byteOffset + open.length === page.byteOffset &&
      open.writable === writable &&
      open.executable === executable
    ) {
      open.length += page.length;
      return;
    }
    close();
    open = {
      gpa,
      buffer: page.buffer,
      byteOffset: page.byteOffset,
      length: page.length,
      writable,
      executable,
    };
  };

  const walk = (table: number, level: number, base: number, permsAbove: number): void => {
    const size = levelSize(level);
    for (let i = 0; i < ENTRIES; i++) {
      const gpa = base + i * size;
      const [lo, hi] = readEntry(mem, table + i * 8);
      const xwr = lo & VMX_EPT_RWX_MASK;
      const leaf = xwr !== 0 && isLeaf(level, lo);
      if (xwr === 0 || misconfigured(lo, hi, level, leaf)) {
        close();
        continue;
      }
      const perms = permsAbove & xwr;
      if (!leaf) {
        walk(entryAddress(lo, hi), level - 1, gpa, perms);
        continue;
      }
      if ((perms & VMX_EPT_READABLE_MASK) === 0) {
        close();
        continue;
      }
      const hpa = entryAddress(lo, hi);
      const run = size > PAGE_SIZE ? (mem.physRange?.(hpa, size) ?? null) : null;
      if (run) {
        addPage(gpa, run, perms);
        continue;
      }
      for (let off = 0; off < size; off += PAGE_SIZE) {
        addPage(gpa + off, mem.phys(hpa + off, PAGE_SIZE), perms);
      }
    }
  };

  walk(eptRoot(eptp), 4, 0, VMX_EPT_RWX_MASK);
  close();
  return out;
}
