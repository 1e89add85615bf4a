/**
 * Paging (Bochs paging.cc; SDM Vol. 3 Chapter 4): the page walk of 32-bit, PAE and
 * 4-level paging, access rights (U/S, R/W with CR0.WP, NX with EFER.NXE, SMEP, SMAP),
 * accessed/dirty updates, #PF error codes and CR2, the PDPTE registers of PAE paging, and
 * the TLB: the arrays the fast paths of access.ts read, and their invalidation.
 *
 * The data TLB maps a linear page to its byte offset in RAM range 0, one array pair
 * (read, write) per privilege: `tlbRs/tlbWs` for supervisor accesses, `tlbRu/tlbWu` for
 * CPL 3; `cpu.tlbR/tlbW` point at the pair of the current CPL (setCpl). A write entry
 * exists only when the page may be written without a fault, its dirty bit is already
 * set, and it holds no decoded code and no ROM. Every filled index is logged, so a flush
 * costs what was filled, not the size of the arrays.
 */
import { physRead32, physWrite32 } from "./access.js";
import type { X86Cpu } from "./cpu.js";
import { raiseFault } from "./exception.js";
import {
  CR0_PG,
  CR0_WP,
  CR4_PAE,
  CR4_PGE,
  CR4_PSE,
  CR4_SMAP,
  CR4_SMEP,
  EFER_LMA,
  EFER_NXE,
  FLAG_AC,
  GP_VECTOR,
  PAGE_SHIFT,
  PF_VECTOR,
} from "./regs.js";
import { A20_MASK, CPL, CR0, CR2, CR2_HI, CR3, CR4, EFER, EXIT_REASON, FLAGS } from "./state.js";

export { EFER_LMA, EFER_LME, EFER_NXE, EFER_SCE } from "./regs.js";

/** Access kinds. */
export const ACC_READ = 0;
export const ACC_WRITE = 1;
export const ACC_FETCH = 2;
/** Or'ed into an access kind: a CPL 3 access (not an implicit supervisor one). */
export const ACC_USER = 4;
/** Or'ed into an access kind: an implicit supervisor access (descriptor tables, TSS). */
export const ACC_IMPLICIT = 8;

/** #PF error code bits (SDM Vol. 3 §4.7). */
export const PF_P = 1 << 0;
export const PF_W = 1 << 1;
export const PF_U = 1 << 2;
export const PF_RSVD = 1 << 3;
export const PF_ID = 1 << 4;

/** Paging modes (SDM Table 4-1). */
export const PAGING_NONE = 0;
export const PAGING_32 = 1;
export const PAGING_PAE = 2;
export const PAGING_4LEVEL = 3;

/**
 * MAXPHYADDR: physical address bits. Entry bits from here to 51 are reserved (#PF with
 * RSVD). Physical addresses are 32-bit in this model; bits 32–35 of an entry are
 * accepted and dropped (a known deviation: memory above 4 GiB aliases low memory).
 */
export const MAX_PHYS_ADDR = 36;
/** Reserved bits of an entry's upper half (bits MAXPHYADDR..51). */
const RSVD_HI = ((1 << (52 - 32)) - 1) & ~((1 << (MAX_PHYS_ADDR - 32)) - 1);

const P = 1 << 0;
const RW = 1 << 1;
const US = 1 << 2;
const A = 1 << 5;
const D = 1 << 6;
const PS = 1 << 7;
const G = 1 << 8;

/** The paging mode the control registers select. */
export function pagingMode(cpu: X86Cpu): number {
  const st = cpu.st;
  if ((st[CR0]! & CR0_PG) === 0) return PAGING_NONE;
  if ((st[CR4]! & CR4_PAE) === 0) return PAGING_32;
  return (st[EFER]! & EFER_LMA) !== 0 ? PAGING_4LEVEL : PAGING_PAE;
}

// The walk ------------------------------------------------------------------------------

/** Results of the last successful walk. */
const WALK = new Int32Array(4);
/** WALK[0]: physical address. */
const W_PHYS = 0;
/** WALK[1]: combined rights, bit 0 = writable at every level, bit 1 = user at every level. */
const W_RIGHTS = 1;
/** WALK[2]: nonzero for a global page. */
const W_GLOBAL = 2;
/** WALK[3]: nonzero for a page larger than 4 KiB. */
const W_LARGE = 3;
const R_WRITE = 1;
const R_USER = 2;

/**
 * Walk the paging structures for linear address hi:lo and access `acc`. On success
 * returns -1 and leaves the physical address and rights in WALK, with accessed (and, for
 * a write, dirty) bits set; otherwise returns the #PF error code and changes nothing.
 */
function walk(cpu: X86Cpu, lo: number, hi: number, acc: number): number {
  const st = cpu.st;
  const mode = pagingMode(cpu);
  const kind = acc & 3;
  const user = (acc & ACC_USER) !== 0;
  const nxe = (st[EFER]! & EFER_NXE) !== 0 && mode !== PAGING_32;
  const smep = (st[CR4]! & CR4_SMEP) !== 0;
  // The error code's fixed part: W/R, U/S, I/D (only when NX or SMEP is enabled).
  let ec = (kind === ACC_WRITE ? PF_W : 0) | (user ? PF_U : 0);
  if (kind === ACC_FETCH && (nxe || smep)) ec |= PF_ID;

  let rw = RW;
  let us = US;
  let xd = 0;
  let large = 0;
  let global = 0;
  // Entry addresses of each level (for A/D updates) and the final entry's level.
  let nEntries = 0;
  let phys = 0;

  if (mode === PAGING_32) {
    const pdeAt = (st[CR3]! & 0xffff_f000) | ((lo >>> 22) << 2);
    const pde = physRead32(cpu, pdeAt);
    if ((pde & P) === 0) return ec;
    ENTRY_AT[nEntries++] = pdeAt;
    rw &= pde;
    us &= pde;
    if ((pde & PS) !== 0 && (st[CR4]! & CR4_PSE) !== 0) {
      // A 4 MiB page; bits 13–20 are PSE-36 address bits 32–39, bit 21 is reserved.
      if ((pde & (1 << 21)) !== 0 || ((pde >>> 13) & 0xff) >>> (MAX_PHYS_ADDR - 32) !== 0) {
        return ec | PF_P | PF_RSVD;
      }
      phys = (pde & 0xffc0_0000) | (lo & 0x3f_ffff);
      large = 1;
      global = pde & G;
    } else {
      const pteAt = (pde & 0xffff_f000) | (((lo >>> 12) & 0x3ff) << 2);
      const pte = physRead32(cpu, pteAt);
      if ((pte & P) === 0) return ec;
      ENTRY_AT[nEntries++] = pteAt;
      rw &= pte;
      us &= pte;
      phys = (pte & 0xffff_f000) | (lo & 0xfff);
      global = pte & G;
    }
  } else {
    let tableLo: number;
    let level: number;
    if (mode === PAGING_PAE) {
      const n = (lo >>> 30) & 3;
      const pdpteLo = cpu.pdpte[n * 2]!;
      if ((pdpteLo & P) === 0) return ec;
      tableLo = pdpteLo & 0xffff_f000;
      level = 2;
    } else {
      tableLo = st[CR3]! & 0xffff_f000;
      level = 4;
    }
    for (;;) {
      const index =
        level === 4
          ? (hi >>> 7) & 0x1ff
          : level === 3
            ? ((hi & 0x7f) << 2) | (lo >>> 30)
            : level === 2
              ? (lo >>> 21) & 0x1ff
              : (lo >>> 12) & 0x1ff;
      const at = (tableLo | (index << 3)) >>> 0;
      const eLo = physRead32(cpu, at);
      const eHi = physRead32(cpu, (at + 4) | 0);
      if ((eLo & P) === 0) return ec;
      // Reserved: address bits above MAXPHYADDR; XD without NXE; PS in a PML4E.
      if ((eHi & RSVD_HI) !== 0 || (!nxe && eHi < 0) || (level === 4 && (eLo & PS) !== 0)) {
        return ec | PF_P | PF_RSVD;
      }
      ENTRY_AT[nEntries++] = at;
      rw &= eLo;
      us &= eLo;
      if (nxe && eHi < 0) xd = 1;
      if (level === 1) {
        phys = (eLo & 0xffff_f000) | (lo & 0xfff);
        global = eLo & G;
        break;
      }
      if ((eLo & PS) !== 0 && (level === 2 || level === 3)) {
        // 2 MiB (PDE) or 1 GiB (PDPTE, 4-level only) page; bits 13..20 / 13..29 reserved.
        const rsvdLo = level === 2 ? 0x001f_e000 : 0x3fff_e000;
        if ((eLo & rsvdLo) !== 0 || (level === 3 && mode === PAGING_PAE)) {
          return ec | PF_P | PF_RSVD;
        }
        const mask = level === 2 ? 0x1f_ffff : 0x3fff_ffff;
        phys = (eLo & ~mask) | (lo & mask);
        global = eLo & G;
        large = 1;
        break;
      }
      tableLo = eLo & 0xffff_f000;
      level--;
    }
  }

  // Access rights (SDM §4.6).
  const cr0 = st[CR0]!;
  const userPage = us !== 0;
  const writable = rw !== 0;
  if (user) {
    if (!userPage) return ec | PF_P;
    if (kind === ACC_WRITE && !writable) return ec | PF_P;
    if (kind === ACC_FETCH && xd !== 0) return ec | PF_P;
  } else {
    if (kind === ACC_FETCH) {
      if (xd !== 0 || (smep && userPage)) return ec | PF_P;
    } else {
      const smap = (st[CR4]! & CR4_SMAP) !== 0 && userPage;
      // SMAP blocks supervisor data accesses to user pages, unless EFLAGS.AC is set and
      // the access is explicit (implicit ones, to descriptor tables, are always blocked).
      if (smap && ((acc & ACC_IMPLICIT) !== 0 || (st[FLAGS]! & FLAG_AC) === 0)) {
        return ec | PF_P;
      }
      if (kind === ACC_WRITE && !writable && (cr0 & CR0_WP) !== 0) return ec | PF_P;
    }
  }

  // Accessed bits on every level; dirty on the final one for a write.
  for (let k = 0; k < nEntries; k++) {
    const at = ENTRY_AT[k]!;
    const e = physRead32(cpu, at);
    const want = e | A | (k === nEntries - 1 && kind === ACC_WRITE ? D : 0);
    if (want !== e) physWrite32(cpu, at, want);
  }
  WALK[W_PHYS] = phys;
  WALK[W_RIGHTS] = (writable ? R_WRITE : 0) | (userPage ? R_USER : 0);
  WALK[W_GLOBAL] = global !== 0 && (st[CR4]! & CR4_PGE) !== 0 ? 1 : 0;
  WALK[W_LARGE] = large;
  return -1;
}

/** Physical addresses of the entries the walk used, top level first. */
const ENTRY_AT = new Int32Array(4);

/**
 * Linear → physical for a data access or fetch at `acc`. Without paging: the A20 gate.
 * With paging: a walk; a fault sets CR2, raises #PF and returns 0 (check STOP_FAULT).
 */
export function translateLinear(cpu: X86Cpu, lin: number, acc: number, hi = 0): number {
  if ((cpu.st[CR0]! & CR0_PG) === 0) return lin & cpu.st[A20_MASK]!;
  const ec = walk(cpu, lin, hi, acc);
  if (ec >= 0) {
    pageFault(cpu, lin, ec, hi);
    return 0;
  }
  return WALK[W_PHYS]!;
}

/** Raise #PF for linear address hi:lin with error code `ec`. */
export function pageFault(cpu: X86Cpu, lin: number, ec: number, hi = 0): void {
  const st = cpu.st;
  const oldLo = st[CR2]!;
  const oldHi = st[CR2_HI]!;
  st[CR2] = lin;
  st[CR2_HI] = hi;
  // For a hook (hooks.ts EV_EXCEPTION): the address, since a VM exit leaves CR2 alone.
  cpu.exitInfo[4] = lin;
  cpu.exitInfo[5] = hi;
  raiseFault(cpu, PF_VECTOR, ec);
  if (st[EXIT_REASON] === 3) {
    st[CR2] = oldLo;
    st[CR2_HI] = oldHi;
  }
}

/**
 * The walk without raising anything: -1 and the physical address in `probeOut[0]`, or
 * the #PF error code. For the code fetcher, which raises its faults when the instruction
 * runs.
 */
export function probeLinear(cpu: X86Cpu, lin: number, acc: number, probeOut: Int32Array): number {
  if ((cpu.st[CR0]! & CR0_PG) === 0) {
    probeOut[0] = lin & cpu.st[A20_MASK]!;
    return -1;
  }
  const ec = walk(cpu, lin, 0, acc);
  if (ec < 0) probeOut[0] = WALK[W_PHYS]!;
  return ec;
}

/** The access kind of an explicit data access at the current CPL. */
export function dataAcc(cpu: X86Cpu, kind: number): number {
  return cpu.st[CPL] === 3 ? kind | ACC_USER : kind;
}

// The TLB -------------------------------------------------------------------------------

/** Filled indices kept for a cheap flush; past this many a flush clears whole arrays. */
const LOG_SIZE = 1 << 13;
/** Entries of the TLB for linear addresses ≥ 4 GiB. */
const HIGH_SIZE = 1 << 12;

/** The slot of linear page hi:page in the high TLB. */
export function highSlot(page: number, hi: number): number {
  return (page ^ (hi * 0x9e37) ^ (hi >>> 16)) & (HIGH_SIZE - 1);
}

/** Bookkeeping of the data and fetch TLBs (one per CPU, `cpu.tlb`). */
export class TlbState {
  /** Filled data TLB indices: index | (array << 20); array 0..3 = Rs, Ws, Ru, Wu. */
  readonly log = new Int32Array(LOG_SIZE);
  count = 0;
  /** Entries of global pages, which survive a CR3 load. */
  readonly globalLog = new Int32Array(LOG_SIZE);
  globalCount = 0;
  /** A page larger than 4 KiB has been cached since the last full flush. */
  large = false;
  // The data TLB of linear addresses at or above 4 GiB (64-bit mode): direct-mapped, tag
  // = low page number * 2 + user and the high half; values as in tlbR/tlbW, -1 = none.
  readonly hTag = new Int32Array(HIGH_SIZE).fill(-1);
  readonly hTagHi = new Int32Array(HIGH_SIZE);
  readonly hR = new Int32Array(HIGH_SIZE).fill(-1);
  readonly hW = new Int32Array(HIGH_SIZE).fill(-1);
  /** hW may hold a live write entry (else dropWritesTo need not search it). */
  highWrites = false;
  // The fetch TLB: direct-mapped by linear page, tag = page * 2 + user and the high half.
  readonly xTag = new Int32Array(1024).fill(-1);
  readonly xTagHi = new Int32Array(1024);
  readonly xPhys = new Int32Array(1024);
}

/** Point cpu.tlbR/tlbW at the arrays of CPL `cpl`'s privilege. */
export function selectTlb(cpu: X86Cpu): void {
  const user = cpu.st[CPL] === 3;
  cpu.tlbR = user ? cpu.tlbRu : cpu.tlbRs;
  cpu.tlbW = user ? cpu.tlbWu : cpu.tlbWs;
}

/**
 * Set CPL. Between supervisor and user privilege the data TLB changes with it, and so
 * may what can be fetched (U/S, SMEP): blocks found by EIP are looked up again.
 */
export function setCpl(cpu: X86Cpu, cpl: number): void {
  const st = cpu.st;
  const wasUser = st[CPL] === 3;
  st[CPL] = cpl;
  if (wasUser !== (cpl === 3)) {
    selectTlb(cpu);
    if ((st[CR0]! & CR0_PG) !== 0) cpu.dc.bumpEpoch();
  }
}

function tlbArray(cpu: X86Cpu, which: number): Int32Array {
  return which === 0 ? cpu.tlbRs : which === 1 ? cpu.tlbWs : which === 2 ? cpu.tlbRu : cpu.tlbWu;
}

function logFill(t: TlbState, entry: number, global: boolean): void {
  if (global) {
    if (t.globalCount < LOG_SIZE) t.globalLog[t.globalCount] = entry;
    t.globalCount++;
  } else {
    if (t.count < LOG_SIZE) t.log[t.count] = entry;
    t.count++;
  }
}

/**
 * After a successful access (its walk in WALK when paging is on), cache the page for
 * the current privilege: a read entry, and a write entry when a write there needs no
 * fault and no dirty-bit update. Only RAM range 0 is cached.
 */
export function fillTlb(cpu: X86Cpu, lin: number, phys: number, wrote: boolean, hi = 0): void {
  const mem = cpu.mem;
  const page = phys >>> PAGE_SHIFT;
  const e = mem.pageMap[page]!;
  if (e < 0 || e >>> 20 !== 0) return;
  const t = (e & 0xfffff) << PAGE_SHIFT;
  const st = cpu.st;
  const user = st[CPL] === 3;
  const canRead = true;
  let canWrite = (mem.codePage[page]! | mem.roPage[page]!) === 0;
  let global = false;
  if ((st[CR0]! & CR0_PG) !== 0) {
    const rights = WALK[W_RIGHTS]!;
    const userPage = (rights & R_USER) !== 0;
    if (user) {
      canWrite &&= (rights & R_WRITE) !== 0;
    } else {
      // SMAP depends on EFLAGS.AC, which changes without a TLB flush: not cached.
      if (userPage && (st[CR4]! & CR4_SMAP) !== 0) return;
      canWrite &&= (rights & R_WRITE) !== 0 || (st[CR0]! & CR0_WP) === 0;
    }
    // A write entry needs the dirty bit set: only a write's own walk has set it.
    canWrite &&= wrote;
    global = WALK[W_GLOBAL] !== 0;
    if (WALK[W_LARGE] !== 0) cpu.tlb.large = true;
  }
  const index = lin >>> PAGE_SHIFT;
  if (hi !== 0) {
    const tlb = cpu.tlb;
    const slot = highSlot(index, hi);
    tlb.hTag[slot] = index * 2 + (user ? 1 : 0);
    tlb.hTagHi[slot] = hi;
    tlb.hR[slot] = canRead ? t : -1;
    tlb.hW[slot] = canWrite ? t : -1;
    if (canWrite) tlb.highWrites = true;
    if (WALK[W_LARGE] !== 0 && (st[CR0]! & CR0_PG) !== 0) tlb.large = true;
    return;
  }
  const base = user ? 2 : 0;
  // An entry that already holds this translation is in the log (or the log overflowed):
  // logging it again on every refill of its sibling grew the log without bound.
  if (canRead) {
    if (cpu.tlbR[index] !== t) logFill(cpu.tlb, index | (base << 20), global);
    cpu.tlbR[index] = t;
  }
  if (canWrite) {
    if (cpu.tlbW[index] !== t) logFill(cpu.tlb, index | ((base + 1) << 20), global);
    cpu.tlbW[index] = t;
  }
}

function clearLogged(cpu: X86Cpu, log: Int32Array, count: number): boolean {
  if (count > LOG_SIZE) return false;
  for (let k = 0; k < count; k++) {
    const entry = log[k]!;
    tlbArray(cpu, entry >>> 20)[entry & 0xfffff] = -1;
  }
  return true;
}

/** Drop every data and fetch TLB entry (global pages too). */
export function flushAll(cpu: X86Cpu): void {
  const t = cpu.tlb;
  if (!clearLogged(cpu, t.log, t.count) || !clearLogged(cpu, t.globalLog, t.globalCount)) {
    cpu.tlbRs.fill(-1);
    cpu.tlbWs.fill(-1);
    cpu.tlbRu.fill(-1);
    cpu.tlbWu.fill(-1);
  }
  t.count = 0;
  t.globalCount = 0;
  t.large = false;
  t.xTag.fill(-1);
  t.hTag.fill(-1);
  t.highWrites = false;
  cpu.dc.bumpEpoch();
}

/** A CR3 load: drop every entry except those of global pages (SDM §4.10.4.1). */
export function flushNonGlobal(cpu: X86Cpu): void {
  const t = cpu.tlb;
  if (!clearLogged(cpu, t.log, t.count)) {
    flushAll(cpu);
    return;
  }
  t.count = 0;
  t.xTag.fill(-1);
  // The high TLB does not keep global entries apart: it is emptied too.
  t.hTag.fill(-1);
  t.highWrites = false;
  cpu.dc.bumpEpoch();
}

/** INVLPG: drop the translations of the page holding `lin` (global or not). */
export function invalidatePage(cpu: X86Cpu, lin: number): void {
  const t = cpu.tlb;
  if (t.large) {
    // The page may be part of a larger one whose other 4 KiB parts are cached too.
    flushAll(cpu);
    return;
  }
  const index = lin >>> PAGE_SHIFT;
  cpu.tlbRs[index] = -1;
  cpu.tlbWs[index] = -1;
  cpu.tlbRu[index] = -1;
  cpu.tlbWu[index] = -1;
  t.xTag.fill(-1);
  t.hTag.fill(-1);
  t.highWrites = false;
  cpu.dc.bumpEpoch();
}

/**
 * Physical page `page` now holds decoded code: no write entry may point at it. Without
 * paging the linear pages that reach it are known (A20 may fold bit 20); with paging the
 * logged write entries are searched, and the logs shed the entries already dropped.
 */
export function dropWritesTo(cpu: X86Cpu, page: number): void {
  if ((cpu.st[CR0]! & CR0_PG) === 0) {
    for (const w of [cpu.tlbWs, cpu.tlbWu]) {
      w[page] = -1;
      w[page ^ 0x100] = -1;
    }
    return;
  }
  const e = cpu.mem.pageMap[page]!;
  if (e < 0 || e >>> 20 !== 0) return;
  const t = (e & 0xfffff) << PAGE_SHIFT;
  const tlb = cpu.tlb;
  if (tlb.highWrites) for (let k = 0; k < HIGH_SIZE; k++) if (tlb.hW[k] === t) tlb.hW[k] = -1;
  if (tlb.count > LOG_SIZE || tlb.globalCount > LOG_SIZE) {
    // A log overflowed: empty the whole data TLB, and with it the logs.
    cpu.tlbRs.fill(-1);
    cpu.tlbWs.fill(-1);
    cpu.tlbRu.fill(-1);
    cpu.tlbWu.fill(-1);
    tlb.count = 0;
    tlb.globalCount = 0;
    return;
  }
  tlb.count = dropWritesLogged(cpu, tlb.log, tlb.count, t);
  tlb.globalCount = dropWritesLogged(cpu, tlb.globalLog, tlb.globalCount, t);
}

/**
 * Drop the write entries in `log` that point at page frame `t`, and keep only the entries
 * still live: self-modifying code refills the write entry it loses here on every pass,
 * and a log that kept the dead ones grew until every search went through thousands.
 * Returns the new count.
 */
function dropWritesLogged(cpu: X86Cpu, log: Int32Array, count: number, t: number): number {
  let kept = 0;
  for (let k = 0; k < count; k++) {
    const entry = log[k]!;
    const which = entry >>> 20;
    const a = tlbArray(cpu, which);
    const index = entry & 0xfffff;
    if ((which === 1 || which === 3) && a[index] === t) a[index] = -1;
    if (a[index] !== -1) log[kept++] = entry;
  }
  return kept;
}

/**
 * Linear → physical for an instruction fetch at the current privilege: ≥ 0 the physical
 * address, < 0 the negated vector (-14) with the error code in cpu.fetchErrorCode.
 */
export function translateFetchPaged(cpu: X86Cpu, lin: number, hi = 0): number {
  const user = cpu.st[CPL] === 3 ? 1 : 0;
  const page = lin >>> PAGE_SHIFT;
  const tag = page * 2 + user;
  const t = cpu.tlb;
  const slot = (page ^ hi) & 1023;
  if (t.xTag[slot] === tag && t.xTagHi[slot] === hi) {
    return ((t.xPhys[slot]! << PAGE_SHIFT) | (lin & 0xfff)) >>> 0;
  }
  const ec = walk(cpu, lin, hi, ACC_FETCH | (user ? ACC_USER : 0));
  if (ec >= 0) {
    cpu.fetchErrorCode = ec;
    return -PF_VECTOR;
  }
  const phys = WALK[W_PHYS]!;
  t.xTag[slot] = tag;
  t.xTagHi[slot] = hi;
  t.xPhys[slot] = phys >>> PAGE_SHIFT;
  if (WALK[W_LARGE] !== 0) t.large = true;
  return phys >>> 0;
}

// PAE's PDPTE registers -----------------------------------------------------------------

/**
 * Load the four PDPTEs of PAE paging from CR3 (SDM §4.4.1), as MOV CR3, and MOV CR0/CR4
 * turning PAE paging on, do. A present entry with reserved bits set is #GP(0): returns
 * false after raising it.
 */
export function loadPdptes(cpu: X86Cpu): boolean {
  const base = cpu.st[CR3]! & 0xffff_ffe0;
  const tmp = PDPTE_TMP;
  for (let n = 0; n < 4; n++) {
    const lo = physRead32(cpu, (base + n * 8) | 0);
    const hi = physRead32(cpu, (base + n * 8 + 4) | 0);
    // Reserved in a PDPTE: bits 1, 2, 5–8 and bits MAXPHYADDR..63.
    if ((lo & P) !== 0 && ((lo & 0x1e6) !== 0 || (hi & (RSVD_HI | 0xfff0_0000)) !== 0)) {
      raiseFault(cpu, GP_VECTOR, 0);
      return false;
    }
    tmp[n * 2] = lo;
    tmp[n * 2 + 1] = hi;
  }
  cpu.pdpte.set(tmp);
  return true;
}
const PDPTE_TMP = new Int32Array(8);

/** Load the PDPTEs without any check (a state load such as KVM_SET_SREGS). */
export function loadPdptesQuiet(cpu: X86Cpu): void {
  const base = cpu.st[CR3]! & 0xffff_ffe0;
  for (let n = 0; n < 8; n++) cpu.pdpte[n] = physRead32(cpu, (base + n * 4) | 0);
}
