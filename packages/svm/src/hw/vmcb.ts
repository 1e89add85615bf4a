/**
 * The VMCB (APM Vol. 2 §15.5, Appendix B; reference svm.md §1, §3, §4): one 4 KiB,
 * 4 KiB-aligned page of host memory, read and written in place. Unlike the VMCS its
 * layout is the architecture — software writes fields at these byte offsets, and the
 * processor reads them at VMRUN and writes them at #VMEXIT — so the offsets below are
 * the interface, and `Vmcb` is only typed access to them (little-endian).
 *
 * Control area 0x000–0x3FF; state-save area 0x400–0x6E7 (legacy, non-SEV-ES layout).
 * The permission maps it points to (IOPM, MSRPM) are described at the end.
 */

export const VMCB_SIZE = 0x1000;

// ── control area ──

/** Intercept word n (n = 0 … 5) is at VMCB_INTERCEPTS + 4n. */
export const VMCB_INTERCEPTS = 0x000;
export const VMCB_INTERCEPT_CR = 0x000;
export const VMCB_INTERCEPT_DR = 0x004;
export const VMCB_INTERCEPT_EXCEPTIONS = 0x008;
export const VMCB_INTERCEPT_WORD3 = 0x00c;
export const VMCB_INTERCEPT_WORD4 = 0x010;
export const VMCB_INTERCEPT_WORD5 = 0x014;
export const VMCB_PAUSE_FILTER_THRESH = 0x03c;
export const VMCB_PAUSE_FILTER_COUNT = 0x03e;
export const VMCB_IOPM_BASE_PA = 0x040;
export const VMCB_MSRPM_BASE_PA = 0x048;
export const VMCB_TSC_OFFSET = 0x050;
export const VMCB_ASID = 0x058;
export const VMCB_TLB_CTL = 0x05c;
export const VMCB_INT_CTL = 0x060;
export const VMCB_INT_VECTOR = 0x064;
export const VMCB_INT_STATE = 0x068;
export const VMCB_EXIT_CODE = 0x070;
export const VMCB_EXIT_INFO_1 = 0x078;
export const VMCB_EXIT_INFO_2 = 0x080;
export const VMCB_EXIT_INT_INFO = 0x088;
export const VMCB_EXIT_INT_INFO_ERR = 0x08c;
export const VMCB_MISC_CTL = 0x090;
export const VMCB_AVIC_VAPIC_BAR = 0x098;
export const VMCB_GHCB_GPA = 0x0a0;
export const VMCB_EVENT_INJ = 0x0a8;
export const VMCB_EVENT_INJ_ERR = 0x0ac;
export const VMCB_NESTED_CR3 = 0x0b0;
export const VMCB_MISC_CTL2 = 0x0b8;
export const VMCB_CLEAN = 0x0c0;
export const VMCB_NEXT_RIP = 0x0c8;
export const VMCB_INSN_LEN = 0x0d0;
export const VMCB_INSN_BYTES = 0x0d1;
export const VMCB_AVIC_BACKING_PAGE = 0x0e0;
export const VMCB_AVIC_LOGICAL_ID = 0x0f0;
export const VMCB_AVIC_PHYSICAL_ID = 0x0f8;
export const VMCB_VMSA_PA = 0x108;
export const VMCB_RESERVED_SW = 0x3e0;

// ── state-save area ──

export const VMCB_SAVE_AREA = 0x400;
/** Segment records (vmcb_seg, 16 bytes): +0 selector, +2 attrib, +4 limit, +8 base. */
export const VMCB_ES = 0x400;
export const VMCB_CS = 0x410;
export const VMCB_SS = 0x420;
export const VMCB_DS = 0x430;
export const VMCB_FS = 0x440;
export const VMCB_GS = 0x450;
export const VMCB_GDTR = 0x460;
export const VMCB_LDTR = 0x470;
export const VMCB_IDTR = 0x480;
export const VMCB_TR = 0x490;
export const VMCB_VMPL = 0x4ca;
export const VMCB_CPL = 0x4cb;
export const VMCB_EFER = 0x4d0;
export const VMCB_CR4 = 0x548;
export const VMCB_CR3 = 0x550;
export const VMCB_CR0 = 0x558;
export const VMCB_DR7 = 0x560;
export const VMCB_DR6 = 0x568;
export const VMCB_RFLAGS = 0x570;
export const VMCB_RIP = 0x578;
export const VMCB_RSP = 0x5d8;
export const VMCB_S_CET = 0x5e0;
export const VMCB_SSP = 0x5e8;
export const VMCB_ISST_ADDR = 0x5f0;
export const VMCB_RAX = 0x5f8;
export const VMCB_STAR = 0x600;
export const VMCB_LSTAR = 0x608;
export const VMCB_CSTAR = 0x610;
export const VMCB_SFMASK = 0x618;
export const VMCB_KERNEL_GS_BASE = 0x620;
export const VMCB_SYSENTER_CS = 0x628;
export const VMCB_SYSENTER_ESP = 0x630;
export const VMCB_SYSENTER_EIP = 0x638;
export const VMCB_CR2 = 0x640;
export const VMCB_G_PAT = 0x668;
export const VMCB_DBGCTL = 0x670;
export const VMCB_BR_FROM = 0x678;
export const VMCB_BR_TO = 0x680;
export const VMCB_LAST_EXCP_FROM = 0x688;
export const VMCB_LAST_EXCP_TO = 0x690;
export const VMCB_SPEC_CTRL = 0x6e0;

/** Offsets within a segment record. */
export const VMCB_SEG_SELECTOR = 0;
export const VMCB_SEG_ATTRIB = 2;
export const VMCB_SEG_LIMIT = 4;
export const VMCB_SEG_BASE = 8;

/** The segment records in x86 register order ES CS SS DS FS GS, then LDTR and TR. */
export const VMCB_SEGMENTS = [
  VMCB_ES,
  VMCB_CS,
  VMCB_SS,
  VMCB_DS,
  VMCB_FS,
  VMCB_GS,
  VMCB_LDTR,
  VMCB_TR,
] as const;

/** The 8-byte fields VMLOAD and VMSAVE move besides FS, GS, TR and LDTR (§8). */
export const VMLOAD_MSR_FIELDS = [
  VMCB_KERNEL_GS_BASE,
  VMCB_STAR,
  VMCB_LSTAR,
  VMCB_CSTAR,
  VMCB_SFMASK,
  VMCB_SYSENTER_CS,
  VMCB_SYSENTER_ESP,
  VMCB_SYSENTER_EIP,
] as const;

/** VMCB clean bits (0x0C0, §3.5). */
export const VMCB_CLEAN_INTERCEPTS = 1 << 0;
export const VMCB_CLEAN_PERM_MAP = 1 << 1;
export const VMCB_CLEAN_ASID = 1 << 2;
export const VMCB_CLEAN_INTR = 1 << 3;
export const VMCB_CLEAN_NPT = 1 << 4;
export const VMCB_CLEAN_CR = 1 << 5;
export const VMCB_CLEAN_DR = 1 << 6;
export const VMCB_CLEAN_DT = 1 << 7;
export const VMCB_CLEAN_SEG = 1 << 8;
export const VMCB_CLEAN_CR2 = 1 << 9;
export const VMCB_CLEAN_LBR = 1 << 10;
export const VMCB_CLEAN_AVIC = 1 << 11;
export const VMCB_CLEAN_SW = 1 << 31;
export const VMCB_CLEAN_ALL = 0xfff;

// ── segment attrib (§4.1) ──

/** attrib bits: type 3:0, S 4, DPL 6:5, P 7, AVL 8, L 9, D/B 10, G 11. */
export const SVM_SELECTOR_TYPE_MASK = 0xf;
export const SVM_SELECTOR_S_MASK = 1 << 4;
export const SVM_SELECTOR_DPL_SHIFT = 5;
export const SVM_SELECTOR_DPL_MASK = 3 << SVM_SELECTOR_DPL_SHIFT;
export const SVM_SELECTOR_P_MASK = 1 << 7;
export const SVM_SELECTOR_AVL_MASK = 1 << 8;
export const SVM_SELECTOR_L_MASK = 1 << 9;
export const SVM_SELECTOR_DB_MASK = 1 << 10;
export const SVM_SELECTOR_G_MASK = 1 << 11;
export const SVM_SELECTOR_READ_MASK = 1 << 1;
export const SVM_SELECTOR_WRITE_MASK = 1 << 1;
export const SVM_SELECTOR_CODE_MASK = 1 << 3;

/**
 * attrib → the x86 core's access rights (VMX layout: descriptor bits 47:40 in 7:0, 55:52
 * in 15:12). attrib has no "unusable" bit; that is the caller's business (P = 0).
 */
export function svmAttribToAr(attrib: number): number {
  return (attrib & 0xff) | ((attrib & 0xf00) << 4);
}

/** The core's access rights → attrib (bits 11:8 of the rights are reserved and dropped). */
export function svmArToAttrib(ar: number): number {
  return (ar & 0xff) | ((ar >> 4) & 0xf00);
}

/** One segment record as numbers (base as a bigint: it is 64 bits in the VMCB). */
export interface VmcbSegment {
  selector: number;
  attrib: number;
  limit: number;
  base: bigint;
}

/**
 * Who wrote a VMCB field: software (kvm_amd, or any code writing through a Vmcb), the
 * processor at #VMEXIT, or VMSAVE. The VMCB is plain memory — writes that do not go
 * through a Vmcb (a hypervisor in x86 code storing to it) are not seen.
 */
export type VmcbWriter = "software" | "#VMEXIT" | "vmsave";

/** Observers of Vmcb writes (VmcbProvenance installs one), and the current writer. */
const observers: ((pa: number, offset: number, by: VmcbWriter) => void)[] = [];
let currentWriter: VmcbWriter = "software";

/** Run `fn` with `by` as the writer of every Vmcb write it makes (the processor's steps). */
export function asVmcbWriter<T>(by: VmcbWriter, fn: () => T): T {
  const previous = currentWriter;
  currentWriter = by;
  try {
    return fn();
  } finally {
    currentWriter = previous;
  }
}

/** Watch Vmcb writes; returns the remover. */
export function watchVmcbWrites(
  observer: (pa: number, offset: number, by: VmcbWriter) => void,
): () => void {
  observers.push(observer);
  return () => {
    const i = observers.indexOf(observer);
    if (i >= 0) observers.splice(i, 1);
  };
}

function noteWrite(pa: number, offset: number): void {
  for (const o of observers) o(pa, offset, currentWriter);
}

/**
 * One VMCB page. Accessors are width-typed: 8-bit, 16-bit, 32-bit (unsigned numbers)
 * and 64-bit (bigint, or its halves as int32 for the hot paths).
 */
export class Vmcb {
  readonly view: DataView;

  constructor(
    /** Its physical address. */
    readonly pa: number,
    readonly bytes: Uint8Array,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  read8(offset: number): number {
    return this.view.getUint8(offset);
  }
  read16(offset: number): number {
    return this.view.getUint16(offset, true);
  }
  read32(offset: number): number {
    return this.view.getUint32(offset, true);
  }
  /** Bits 63:32 of a 64-bit field. */
  readHigh32(offset: number): number {
    return this.view.getUint32(offset + 4, true);
  }
  read64(offset: number): bigint {
    return this.view.getBigUint64(offset, true);
  }
  write8(offset: number, value: number): void {
    this.view.setUint8(offset, value & 0xff);
    if (observers.length > 0) noteWrite(this.pa, offset);
  }
  write16(offset: number, value: number): void {
    this.view.setUint16(offset, value & 0xffff, true);
    if (observers.length > 0) noteWrite(this.pa, offset);
  }
  write32(offset: number, value: number): void {
    this.view.setUint32(offset, value >>> 0, true);
    if (observers.length > 0) noteWrite(this.pa, offset);
  }
  write64(offset: number, value: bigint): void {
    this.view.setBigUint64(offset, BigInt.asUintN(64, value), true);
    if (observers.length > 0) noteWrite(this.pa, offset);
  }
  /** A 64-bit field from its halves (no BigInt). */
  write64Halves(offset: number, lo: number, hi: number): void {
    this.view.setUint32(offset, lo >>> 0, true);
    this.view.setUint32(offset + 4, hi >>> 0, true);
    if (observers.length > 0) noteWrite(this.pa, offset);
  }

  /** Intercept `index` (the INTERCEPT_* global bit index: word × 32 + bit). */
  intercept(index: number): boolean {
    return ((this.read32(VMCB_INTERCEPTS + 4 * (index >>> 5)) >>> (index & 31)) & 1) !== 0;
  }

  setIntercept(index: number, on = true): void {
    const at = VMCB_INTERCEPTS + 4 * (index >>> 5);
    const bit = 1 << (index & 31);
    const w = this.read32(at);
    this.write32(at, on ? w | bit : w & ~bit);
  }

  segment(at: number): VmcbSegment {
    return {
      selector: this.read16(at + VMCB_SEG_SELECTOR),
      attrib: this.read16(at + VMCB_SEG_ATTRIB),
      limit: this.read32(at + VMCB_SEG_LIMIT),
      base: this.read64(at + VMCB_SEG_BASE),
    };
  }

  setSegment(at: number, s: VmcbSegment): void {
    this.write16(at + VMCB_SEG_SELECTOR, s.selector);
    this.write16(at + VMCB_SEG_ATTRIB, s.attrib);
    this.write32(at + VMCB_SEG_LIMIT, s.limit);
    this.write64(at + VMCB_SEG_BASE, s.base);
  }

  /** EXITCODE as a signed number (−1 for VMEXIT_INVALID). */
  exitCode(): number {
    return Number(BigInt.asIntN(64, this.read64(VMCB_EXIT_CODE)));
  }
}

// ── permission maps (§3.6) ──

/** Linux allocates three pages for the IOPM; the processor reads 2 pages + 1 byte. */
export const IOPM_SIZE = 3 * 0x1000;
export const IOPM_USED_SIZE = 0x2001;
export const MSRPM_SIZE = 2 * 0x1000;

/** IOPM: the byte and bit that intercept port `port` (0 … 0x10002: no wrap at FFFFh). */
export function iopmBit(port: number): { byte: number; bit: number } {
  return { byte: port >>> 3, bit: port & 7 };
}

/** MSRPM ranges: [first MSR, byte offset of its 2 KiB block]. */
const MSRPM_RANGES: ReadonlyArray<readonly [number, number]> = [
  [0x0000_0000, 0x000],
  [0xc000_0000, 0x800],
  [0xc001_0000, 0x1000],
];
const MSRS_PER_RANGE = 0x2000;

/**
 * MSRPM: the bit number (from the start of the map) that intercepts RDMSR (`write`
 * false: the even bit) or WRMSR (the odd bit) of `msr`, or −1 when the MSR lies outside
 * every range (always intercepted).
 */
export function msrpmBit(msr: number, write: boolean): number {
  const m = msr >>> 0;
  for (const [first, offset] of MSRPM_RANGES) {
    if (m >= first && m < first + MSRS_PER_RANGE) {
      return offset * 8 + (m - first) * 2 + (write ? 1 : 0);
    }
  }
  return -1;
}

/** The bytes VMLOAD/VMSAVE move: FS, GS, LDTR, TR records and the eight MSR fields. */
const VMLOAD_SPANS: ReadonlyArray<readonly [number, number]> = [
  [VMCB_FS, 32],
  [VMCB_LDTR, 16],
  [VMCB_TR, 16],
  [VMCB_STAR, 0x40],
];

/** Copy the VMLOAD/VMSAVE set from one VMCB to another (a processor's register image). */
export function copyVmloadState(from: Vmcb, to: Vmcb): void {
  for (const [at, len] of VMLOAD_SPANS) to.bytes.set(from.bytes.subarray(at, at + len), at);
}
