/**
 * Byte codecs for the structs of include/uapi/linux/kvm.h and arch/x86/include/uapi/asm/kvm.h
 * (x86-64 layouts, little-endian), as listed in shared/reference/kvm-uapi.md §5.
 *
 * For each struct X: `decodeX(buf, offset)` reads a fresh plain value (byte arrays are
 * copied, so the value does not alias the buffer) and `encodeX(value, buf, offset)` writes
 * in place and returns `buf`, zeroing padding and reserved bytes first. `buf` may be any
 * Uint8Array, including a subarray of a SharedArrayBuffer. A struct that does not fit in
 * `buf` at `offset` is a RangeError before anything is written.
 *
 * Fields up to 32 bits are numbers (unsigned unless the C type is signed), u64 fields are
 * bigints; writing a bigint keeps its low 64 bits, writing a number keeps its low bits.
 */

// ---------------------------------------------------------------------------------------
// Sizes (sizeof on x86-64)

export const KVM_REGS_SIZE = 144;
export const KVM_SEGMENT_SIZE = 24;
export const KVM_DTABLE_SIZE = 16;
export const KVM_SREGS_SIZE = 312;
export const KVM_SREGS2_SIZE = 320;
export const KVM_USERSPACE_MEMORY_REGION_SIZE = 32;
export const KVM_USERSPACE_MEMORY_REGION2_SIZE = 160;
/** `struct kvm_msrs` without its entries[]; the whole struct is 8 + 16·nmsrs. */
export const KVM_MSRS_HEADER_SIZE = 8;
export const KVM_MSR_ENTRY_SIZE = 16;
/** `struct kvm_msr_list` without its indices[]; the whole struct is 4 + 4·nmsrs. */
export const KVM_MSR_LIST_HEADER_SIZE = 4;
/** `struct kvm_cpuid2` without its entries[]; the whole struct is 8 + 40·nent. */
export const KVM_CPUID2_HEADER_SIZE = 8;
export const KVM_CPUID_ENTRY2_SIZE = 40;
/** Legacy `struct kvm_cpuid` header (KVM_SET_CPUID). */
export const KVM_CPUID_HEADER_SIZE = 8;
export const KVM_FPU_SIZE = 416;
export const KVM_VCPU_EVENTS_SIZE = 64;
export const KVM_MP_STATE_SIZE = 4;
export const KVM_GUEST_DEBUG_SIZE = 72;
export const KVM_INTERRUPT_SIZE = 4;
export const KVM_DIRTY_LOG_SIZE = 16;
export const KVM_TRANSLATION_SIZE = 24;
export const KVM_DEBUGREGS_SIZE = 128;
export const KVM_ENABLE_CAP_SIZE = 104;
/** `struct kvm_signal_mask` without its sigset[]; the whole struct is 4 + len. */
export const KVM_SIGNAL_MASK_HEADER_SIZE = 4;
export const KVM_XCRS_SIZE = 392;
export const KVM_LAPIC_STATE_SIZE = 1024;
export const KVM_IRQ_LEVEL_SIZE = 8;
export const KVM_ONE_REG_SIZE = 16;
export const KVM_XSAVE_SIZE = 4096;
export const KVM_CLOCK_DATA_SIZE = 48;
export const KVM_PIT_CONFIG_SIZE = 64;
export const KVM_IRQCHIP_SIZE = 520;
/** `struct kvm_irq_routing` without its entries[]. */
export const KVM_IRQ_ROUTING_HEADER_SIZE = 8;
export const KVM_IRQFD_SIZE = 32;
export const KVM_IOEVENTFD_SIZE = 64;
/** `struct kvm_nested_state` header (the vendor data follows). */
export const KVM_NESTED_STATE_HEADER_SIZE = 128;
/** `struct kvm_pit_state2` (KVM_GET_PIT2). */
export const KVM_PIT_STATE2_SIZE = 112;
/** `struct kvm_run` bytes in use (it lives in the first page of the vCPU mapping). */
export const KVM_RUN_SIZE = 2352;

// ---------------------------------------------------------------------------------------
// Helpers

function viewOf(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

function checkRange(buf: Uint8Array, offset: number, size: number, what: string): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + size > buf.byteLength) {
    throw new RangeError(
      `${what}: ${size} bytes at offset ${offset} do not fit in a buffer of ${buf.byteLength}`,
    );
  }
}

/** A DataView over `buf` after checking that `size` bytes at `offset` fit. */
function reader(buf: Uint8Array, offset: number, size: number, what: string): DataView {
  checkRange(buf, offset, size, what);
  return viewOf(buf);
}

/** Like `reader`, and zeroes the struct's bytes so padding and reserved fields are 0. */
function writer(buf: Uint8Array, offset: number, size: number, what: string): DataView {
  checkRange(buf, offset, size, what);
  buf.fill(0, offset, offset + size);
  return viewOf(buf);
}

function readU64Array(dv: DataView, offset: number, count: number): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i < count; i++) out.push(dv.getBigUint64(offset + 8 * i, true));
  return out;
}

function writeU64Array(
  dv: DataView,
  offset: number,
  count: number,
  values: readonly bigint[],
): void {
  for (let i = 0; i < count; i++) dv.setBigUint64(offset + 8 * i, values[i] ?? 0n, true);
}

function copyBytes(buf: Uint8Array, offset: number, length: number): Uint8Array {
  return buf.slice(offset, offset + length);
}

/** Copies at most `length` bytes of `src` to `buf[offset..]`; a shorter `src` leaves zeros. */
function putBytes(buf: Uint8Array, offset: number, length: number, src: Uint8Array): void {
  buf.set(src.length > length ? src.subarray(0, length) : src, offset);
}

// ---------------------------------------------------------------------------------------
// struct kvm_regs (KVM_GET_REGS / KVM_SET_REGS)

/** `struct kvm_regs`. Note the uapi order rax, rbx, rcx, rdx (not the ModRM order). */
export interface KvmRegs {
  rax: bigint;
  rbx: bigint;
  rcx: bigint;
  rdx: bigint;
  rsi: bigint;
  rdi: bigint;
  rsp: bigint;
  rbp: bigint;
  r8: bigint;
  r9: bigint;
  r10: bigint;
  r11: bigint;
  r12: bigint;
  r13: bigint;
  r14: bigint;
  r15: bigint;
  rip: bigint;
  rflags: bigint;
}

/** The fields of `struct kvm_regs` in memory order; field i is at byte 8·i. */
export const KVM_REGS_FIELDS = Object.freeze([
  "rax",
  "rbx",
  "rcx",
  "rdx",
  "rsi",
  "rdi",
  "rsp",
  "rbp",
  "r8",
  "r9",
  "r10",
  "r11",
  "r12",
  "r13",
  "r14",
  "r15",
  "rip",
  "rflags",
] as const satisfies readonly (keyof KvmRegs)[]);

function readRegs(dv: DataView, o: number): KvmRegs {
  const r = (i: number): bigint => dv.getBigUint64(o + 8 * i, true);
  return {
    rax: r(0),
    rbx: r(1),
    rcx: r(2),
    rdx: r(3),
    rsi: r(4),
    rdi: r(5),
    rsp: r(6),
    rbp: r(7),
    r8: r(8),
    r9: r(9),
    r10: r(10),
    r11: r(11),
    r12: r(12),
    r13: r(13),
    r14: r(14),
    r15: r(15),
    rip: r(16),
    rflags: r(17),
  };
}

function writeRegs(dv: DataView, o: number, v: KvmRegs): void {
  KVM_REGS_FIELDS.forEach((name, i) => {
    dv.setBigUint64(o + 8 * i, v[name], true);
  });
}

export function emptyKvmRegs(): KvmRegs {
  return readRegs(new DataView(new ArrayBuffer(KVM_REGS_SIZE)), 0);
}

export function decodeKvmRegs(buf: Uint8Array, offset = 0): KvmRegs {
  return readRegs(reader(buf, offset, KVM_REGS_SIZE, "kvm_regs"), offset);
}

export function encodeKvmRegs(
  value: KvmRegs,
  buf: Uint8Array = new Uint8Array(KVM_REGS_SIZE),
  offset = 0,
): Uint8Array {
  writeRegs(writer(buf, offset, KVM_REGS_SIZE, "kvm_regs"), offset, value);
  return buf;
}

// ---------------------------------------------------------------------------------------
// struct kvm_segment, struct kvm_dtable

/** `struct kvm_segment`: a segment register's hidden part, one byte per attribute bit. */
export interface KvmSegment {
  base: bigint;
  /** Byte-granular limit (already expanded when g = 1). */
  limit: number;
  selector: number;
  /** 4-bit descriptor type. */
  type: number;
  present: number;
  dpl: number;
  db: number;
  /** 1 = code/data, 0 = system. */
  s: number;
  /** 64-bit code segment. */
  l: number;
  g: number;
  avl: number;
  unusable: number;
}

/** `struct kvm_dtable`: GDTR / IDTR. */
export interface KvmDtable {
  base: bigint;
  limit: number;
}

function readSegment(dv: DataView, o: number): KvmSegment {
  return {
    base: dv.getBigUint64(o, true),
    limit: dv.getUint32(o + 8, true),
    selector: dv.getUint16(o + 12, true),
    type: dv.getUint8(o + 14),
    present: dv.getUint8(o + 15),
    dpl: dv.getUint8(o + 16),
    db: dv.getUint8(o + 17),
    s: dv.getUint8(o + 18),
    l: dv.getUint8(o + 19),
    g: dv.getUint8(o + 20),
    avl: dv.getUint8(o + 21),
    unusable: dv.getUint8(o + 22),
  };
}

/** Writes every byte of the segment, padding included. */
function writeSegment(dv: DataView, o: number, v: KvmSegment): void {
  dv.setBigUint64(o, v.base, true);
  dv.setUint32(o + 8, v.limit, true);
  dv.setUint16(o + 12, v.selector, true);
  dv.setUint8(o + 14, v.type);
  dv.setUint8(o + 15, v.present);
  dv.setUint8(o + 16, v.dpl);
  dv.setUint8(o + 17, v.db);
  dv.setUint8(o + 18, v.s);
  dv.setUint8(o + 19, v.l);
  dv.setUint8(o + 20, v.g);
  dv.setUint8(o + 21, v.avl);
  dv.setUint8(o + 22, v.unusable);
  dv.setUint8(o + 23, 0);
}

function readDtable(dv: DataView, o: number): KvmDtable {
  return { base: dv.getBigUint64(o, true), limit: dv.getUint16(o + 8, true) };
}

function writeDtable(dv: DataView, o: number, v: KvmDtable): void {
  dv.setBigUint64(o, v.base, true);
  dv.setUint16(o + 8, v.limit, true);
  dv.setUint16(o + 10, 0, true);
  dv.setUint32(o + 12, 0, true);
}

export function emptyKvmSegment(): KvmSegment {
  return {
    base: 0n,
    limit: 0,
    selector: 0,
    type: 0,
    present: 0,
    dpl: 0,
    db: 0,
    s: 0,
    l: 0,
    g: 0,
    avl: 0,
    unusable: 0,
  };
}

export function decodeKvmSegment(buf: Uint8Array, offset = 0): KvmSegment {
  return readSegment(reader(buf, offset, KVM_SEGMENT_SIZE, "kvm_segment"), offset);
}

export function encodeKvmSegment(
  value: KvmSegment,
  buf: Uint8Array = new Uint8Array(KVM_SEGMENT_SIZE),
  offset = 0,
): Uint8Array {
  writeSegment(writer(buf, offset, KVM_SEGMENT_SIZE, "kvm_segment"), offset, value);
  return buf;
}

export function decodeKvmDtable(buf: Uint8Array, offset = 0): KvmDtable {
  return readDtable(reader(buf, offset, KVM_DTABLE_SIZE, "kvm_dtable"), offset);
}

export function encodeKvmDtable(
  value: KvmDtable,
  buf: Uint8Array = new Uint8Array(KVM_DTABLE_SIZE),
  offset = 0,
): Uint8Array {
  writeDtable(writer(buf, offset, KVM_DTABLE_SIZE, "kvm_dtable"), offset, value);
  return buf;
}

// ---------------------------------------------------------------------------------------
// struct kvm_sregs, struct kvm_sregs2

/** `struct kvm_sregs` (KVM_GET_SREGS / KVM_SET_SREGS). */
export interface KvmSregs {
  cs: KvmSegment;
  ds: KvmSegment;
  es: KvmSegment;
  fs: KvmSegment;
  gs: KvmSegment;
  ss: KvmSegment;
  tr: KvmSegment;
  ldt: KvmSegment;
  gdt: KvmDtable;
  idt: KvmDtable;
  cr0: bigint;
  cr2: bigint;
  cr3: bigint;
  cr4: bigint;
  cr8: bigint;
  efer: bigint;
  apicBase: bigint;
  /** 256 bits, one per vector; at most one set = the pending external interrupt. */
  interruptBitmap: [bigint, bigint, bigint, bigint];
}

/**
 * `struct kvm_sregs2` (KVM_GET_SREGS2 / KVM_SET_SREGS2, KVM_CAP_SREGS2): kvm_sregs up to
 * byte 280, then `flags` (bit 0 = PDPTRs valid) and the four PAE PDPTRs instead of the
 * interrupt bitmap. `interruptBitmap` is not part of the layout: decode sets it to zeros
 * and encode ignores it.
 */
export interface KvmSregs2 extends KvmSregs {
  flags: bigint;
  pdptrs: [bigint, bigint, bigint, bigint];
}

/** kvm_sregs2.flags bit 0: `pdptrs` hold valid values. */
export const KVM_SREGS2_FLAGS_PDPTRS_VALID = 1;

const SREGS_SEGMENTS = ["cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt"] as const;

/** kvm_sregs and kvm_sregs2 share their first 280 bytes. */
function readSregsCommon(dv: DataView, o: number): Omit<KvmSregs, "interruptBitmap"> {
  return {
    cs: readSegment(dv, o + 0),
    ds: readSegment(dv, o + 24),
    es: readSegment(dv, o + 48),
    fs: readSegment(dv, o + 72),
    gs: readSegment(dv, o + 96),
    ss: readSegment(dv, o + 120),
    tr: readSegment(dv, o + 144),
    ldt: readSegment(dv, o + 168),
    gdt: readDtable(dv, o + 192),
    idt: readDtable(dv, o + 208),
    cr0: dv.getBigUint64(o + 224, true),
    cr2: dv.getBigUint64(o + 232, true),
    cr3: dv.getBigUint64(o + 240, true),
    cr4: dv.getBigUint64(o + 248, true),
    cr8: dv.getBigUint64(o + 256, true),
    efer: dv.getBigUint64(o + 264, true),
    apicBase: dv.getBigUint64(o + 272, true),
  };
}

function writeSregsCommon(dv: DataView, o: number, v: KvmSregs): void {
  SREGS_SEGMENTS.forEach((name, i) => {
    writeSegment(dv, o + KVM_SEGMENT_SIZE * i, v[name]);
  });
  writeDtable(dv, o + 192, v.gdt);
  writeDtable(dv, o + 208, v.idt);
  dv.setBigUint64(o + 224, v.cr0, true);
  dv.setBigUint64(o + 232, v.cr2, true);
  dv.setBigUint64(o + 240, v.cr3, true);
  dv.setBigUint64(o + 248, v.cr4, true);
  dv.setBigUint64(o + 256, v.cr8, true);
  dv.setBigUint64(o + 264, v.efer, true);
  dv.setBigUint64(o + 272, v.apicBase, true);
}

function four(dv: DataView, o: number): [bigint, bigint, bigint, bigint] {
  return [
    dv.getBigUint64(o, true),
    dv.getBigUint64(o + 8, true),
    dv.getBigUint64(o + 16, true),
    dv.getBigUint64(o + 24, true),
  ];
}

function readSregs(dv: DataView, o: number): KvmSregs {
  return { ...readSregsCommon(dv, o), interruptBitmap: four(dv, o + 280) };
}

function writeSregs(dv: DataView, o: number, v: KvmSregs): void {
  writeSregsCommon(dv, o, v);
  writeU64Array(dv, o + 280, 4, v.interruptBitmap);
}

export function emptyKvmSregs(): KvmSregs {
  return readSregs(new DataView(new ArrayBuffer(KVM_SREGS_SIZE)), 0);
}

export function decodeKvmSregs(buf: Uint8Array, offset = 0): KvmSregs {
  return readSregs(reader(buf, offset, KVM_SREGS_SIZE, "kvm_sregs"), offset);
}

export function encodeKvmSregs(
  value: KvmSregs,
  buf: Uint8Array = new Uint8Array(KVM_SREGS_SIZE),
  offset = 0,
): Uint8Array {
  writeSregs(writer(buf, offset, KVM_SREGS_SIZE, "kvm_sregs"), offset, value);
  return buf;
}

export function decodeKvmSregs2(buf: Uint8Array, offset = 0): KvmSregs2 {
  const dv = reader(buf, offset, KVM_SREGS2_SIZE, "kvm_sregs2");
  return {
    ...readSregsCommon(dv, offset),
    interruptBitmap: [0n, 0n, 0n, 0n],
    flags: dv.getBigUint64(offset + 280, true),
    pdptrs: four(dv, offset + 288),
  };
}

export function encodeKvmSregs2(
  value: KvmSregs2,
  buf: Uint8Array = new Uint8Array(KVM_SREGS2_SIZE),
  offset = 0,
): Uint8Array {
  const dv = writer(buf, offset, KVM_SREGS2_SIZE, "kvm_sregs2");
  writeSregsCommon(dv, offset, value);
  dv.setBigUint64(offset + 280, value.flags, true);
  writeU64Array(dv, offset + 288, 4, value.pdptrs);
  return buf;
}

// ---------------------------------------------------------------------------------------
// struct kvm_userspace_memory_region (KVM_SET_USER_MEMORY_REGION)

export interface KvmUserspaceMemoryRegion {
  /** Bits 15:0 slot id, bits 31:16 address-space id (x86: 0 normal, 1 SMM). */
  slot: number;
  /** KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY. */
  flags: number;
  guestPhysAddr: bigint;
  /** Bytes, a page multiple; 0 deletes the slot. */
  memorySize: bigint;
  /** Host virtual address of the backing memory. */
  userspaceAddr: bigint;
}

export function decodeKvmUserspaceMemoryRegion(
  buf: Uint8Array,
  offset = 0,
): KvmUserspaceMemoryRegion {
  const dv = reader(buf, offset, KVM_USERSPACE_MEMORY_REGION_SIZE, "kvm_userspace_memory_region");
  return {
    slot: dv.getUint32(offset, true),
    flags: dv.getUint32(offset + 4, true),
    guestPhysAddr: dv.getBigUint64(offset + 8, true),
    memorySize: dv.getBigUint64(offset + 16, true),
    userspaceAddr: dv.getBigUint64(offset + 24, true),
  };
}

export function encodeKvmUserspaceMemoryRegion(
  value: KvmUserspaceMemoryRegion,
  buf: Uint8Array = new Uint8Array(KVM_USERSPACE_MEMORY_REGION_SIZE),
  offset = 0,
): Uint8Array {
  const dv = writer(buf, offset, KVM_USERSPACE_MEMORY_REGION_SIZE, "kvm_userspace_memory_region");
  dv.setUint32(offset, value.slot, true);
  dv.setUint32(offset + 4, value.flags, true);
  dv.setBigUint64(offset + 8, value.guestPhysAddr, true);
  dv.setBigUint64(offset + 16, value.memorySize, true);
  dv.setBigUint64(offset + 24, value.userspaceAddr, true);
  return buf;
}

// ---------------------------------------------------------------------------------------
// struct kvm_msrs, kvm_msr_entry (KVM_GET_MSRS / KVM_SET_MSRS), kvm_msr_list

export interface KvmMsrEntry {
  index: number;
  data: bigint;
}

/** Bytes of a `struct kvm_msrs` holding `nmsrs` entries. */
export function kvmMsrsSize(nmsrs: number): number {
  return KVM_MSRS_HEADER_SIZE + KVM_MSR_ENTRY_SIZE * nmsrs;
}

/** `kvm_msrs.nmsrs` of the struct at `offset`. */
export function kvmMsrsNmsrs(buf: Uint8Array, offset = 0): number {
  return reader(buf, offset, KVM_MSRS_HEADER_SIZE, "kvm_msrs").getUint32(offset, true);
}

/** Reads `nmsrs` entries; RangeError if the buffer ends before the last one. */
export function decodeKvmMsrs(buf: Uint8Array, offset = 0): KvmMsrEntry[] {
  const n = kvmMsrsNmsrs(buf, offset);
  const dv = reader(buf, offset, kvmMsrsSize(n), "kvm_msrs entries");
  const out: KvmMsrEntry[] = [];
  for (let i = 0; i < n; i++) {
    const o = offset + KVM_MSRS_HEADER_SIZE + KVM_MSR_ENTRY_SIZE * i;
    out.push({ index: dv.getUint32(o, true), data: dv.getBigUint64(o + 8, true) });
  }
  return out;
}

/** Writes `nmsrs = entries.length` and the entries (8 + 16·n bytes). */
export function encodeKvmMsrs(
  entries: readonly KvmMsrEntry[],
  buf: Uint8Array = new Uint8Array(kvmMsrsSize(entries.length)),
  offset = 0,
): Uint8Array {
  const dv = writer(buf, offset, kvmMsrsSize(entries.length), "kvm_msrs");
  dv.setUint32(offset, entries.length, true);
  entries.forEach((e, i) => {
    const o = offset + KVM_MSRS_HEADER_SIZE + KVM_MSR_ENTRY_SIZE * i;
    dv.setUint32(o, e.index, true);
    dv.setBigUint64(o + 8, e.data, true);
  });
  return buf;
}

/** Bytes of a `struct kvm_msr_list` with room for `nmsrs` indices. */
export function kvmMsrListSize(nmsrs: number): number {
  return KVM_MSR_LIST_HEADER_SIZE + 4 * nmsrs;
}

/** `kvm_msr_list.nmsrs` of the struct at `offset`. */
export function kvmMsrListNmsrs(buf: Uint8Array, offset = 0): number {
  return reader(buf, offset, KVM_MSR_LIST_HEADER_SIZE, "kvm_msr_list").getUint32(offset, true);
}

/**
 * A `struct kvm_msr_list` (KVM_GET_MSR_INDEX_LIST). Without `indices` it is the request
 * userspace sends: `nmsrs = capacity` and room for that many indices. With `indices` it is
 * the kernel's answer: `nmsrs = indices.length`, then the indices; the buffer still has room
 * for at least `capacity` of them.
 */
export function encodeKvmMsrList(
  capacity: number,
  indices?: readonly number[],
  buf: Uint8Array = new Uint8Array(kvmMsrListSize(Math.max(capacity, indices?.length ?? 0))),
  offset = 0,
): Uint8Array {
  const n = indices === undefined ? capacity : indices.length;
  const dv = writer(buf, offset, kvmMsrListSize(Math.max(capacity, n)), "kvm_msr_list");
  dv.setUint32(offset, n, true);
  indices?.forEach((index, i) => {
    dv.setUint32(offset + KVM_MSR_LIST_HEADER_SIZE + 4 * i, index, true);
  });
  return buf;
}

/** Reads `nmsrs` indices; RangeError if the buffer ends before the last one. */
export function decodeKvmMsrList(buf: Uint8Array, offset = 0): number[] {
  const n = kvmMsrListNmsrs(buf, offset);
  const dv = reader(buf, offset, kvmMsrListSize(n), "kvm_msr_list indices");
  const out: number[] = [];
  for (let i = 0; i < n; i++)
    out.push(dv.getUint32(offset + KVM_MSR_LIST_HEADER_SIZE + 4 * i, true));
  return out;
}

// ---------------------------------------------------------------------------------------
// struct kvm_cpuid2, kvm_cpuid_entry2 (KVM_GET_SUPPORTED_CPUID, KVM_SET_CPUID2, ...)

export interface KvmCpuidEntry2 {
  /** EAX input (leaf). */
  function: number;
  /** ECX input (subleaf), meaningful when flags has KVM_CPUID_FLAG_SIGNIFCANT_INDEX. */
  index: number;
  flags: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

/** Bytes of a `struct kvm_cpuid2` with room for `nent` entries. */
export function kvmCpuid2Size(nent: number): number {
  return KVM_CPUID2_HEADER_SIZE + KVM_CPUID_ENTRY2_SIZE * nent;
}

/** `kvm_cpuid2.nent` of the struct at `offset`. */
export function kvmCpuid2Nent(buf: Uint8Array, offset = 0): number {
  return reader(buf, offset, KVM_CPUID2_HEADER_SIZE, "kvm_cpuid2").getUint32(offset, true);
}

function readCpuidEntry2(dv: DataView, o: number): KvmCpuidEntry2 {
  return {
    function: dv.getUint32(o, true),
    index: dv.getUint32(o + 4, true),
    flags: dv.getUint32(o + 8, true),
    eax: dv.getUint32(o + 12, true),
    ebx: dv.getUint32(o + 16, true),
    ecx: dv.getUint32(o + 20, true),
    edx: dv.getUint32(o + 24, true),
  };
}

/** Writes all 40 bytes of the entry, padding included. */
function writeCpuidEntry2(dv: DataView, o: number, v: KvmCpuidEntry2): void {
  dv.setUint32(o, v.function, true);
  dv.setUint32(o + 4, v.index, true);
  dv.setUint32(o + 8, v.flags, true);
  dv.setUint32(o + 12, v.eax, true);
  dv.setUint32(o + 16, v.ebx, true);
  dv.setUint32(o + 20, v.ecx, true);
  dv.setUint32(o + 24, v.edx, true);
  dv.setUint32(o + 28, 0, true);
  dv.setUint32(o + 32, 0, true);
  dv.setUint32(o + 36, 0, true);
}

export function decodeKvmCpuidEntry2(buf: Uint8Array, offset = 0): KvmCpuidEntry2 {
  return readCpuidEntry2(reader(buf, offset, KVM_CPUID_ENTRY2_SIZE, "kvm_cpuid_entry2"), offset);
}

export function encodeKvmCpuidEntry2(
  value: KvmCpuidEntry2,
  buf: Uint8Array = new Uint8Array(KVM_CPUID_ENTRY2_SIZE),
  offset = 0,
): Uint8Array {
  writeCpuidEntry2(writer(buf, offset, KVM_CPUID_ENTRY2_SIZE, "kvm_cpuid_entry2"), offset, value);
  return buf;
}

/**
 * A `struct kvm_cpuid2`. For a SET, pass the entries: `nent = entries.length`. For a GET
 * (KVM_GET_SUPPORTED_CPUID, KVM_GET_CPUID2), pass `[]` and the capacity: `nent = capacity`
 * and the entries are zeroed room for the kernel to fill. The buffer has room for
 * max(capacity, entries.length) entries.
 */
export function encodeKvmCpuid2(
  entries: readonly KvmCpuidEntry2[],
  capacity = entries.length,
  buf: Uint8Array = new Uint8Array(kvmCpuid2Size(Math.max(capacity, entries.length))),
  offset = 0,
): Uint8Array {
  const nent = entries.length === 0 ? capacity : entries.length;
  const dv = writer(buf, offset, kvmCpuid2Size(Math.max(capacity, entries.length)), "kvm_cpuid2");
  dv.setUint32(offset, nent, true);
  entries.forEach((e, i) => {
    writeCpuidEntry2(dv, offset + KVM_CPUID2_HEADER_SIZE + KVM_CPUID_ENTRY2_SIZE * i, e);
  });
  return buf;
}

/** Reads `nent` entries; RangeError if the buffer ends before the last one. */
export function decodeKvmCpuid2(buf: Uint8Array, offset = 0): KvmCpuidEntry2[] {
  const n = kvmCpuid2Nent(buf, offset);
  const dv = reader(buf, offset, kvmCpuid2Size(n), "kvm_cpuid2 entries");
  const out: KvmCpuidEntry2[] = [];
  for (let i = 0; i < n; i++) {
    out.push(readCpuidEntry2(dv, offset + KVM_CPUID2_HEADER_SIZE + KVM_CPUID_ENTRY2_SIZE * i));
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// struct kvm_fpu (KVM_GET_FPU / KVM_SET_FPU): the FXSAVE image, rearranged

export interface KvmFpu {
  /** fpr[8][16]: x87/MMX registers in 16-byte slots (128 bytes). */
  fpr: Uint8Array;
  fcw: number;
  fsw: number;
  /** Abridged (FXSAVE) tag word. */
  ftwx: number;
  lastOpcode: number;
  lastIp: bigint;
  lastDp: bigint;
  /** xmm[16][16] (256 bytes). */
  xmm: Uint8Array;
  mxcsr: number;
}

export function emptyKvmFpu(): KvmFpu {
  return {
    fpr: new Uint8Array(128),
    fcw: 0,
    fsw: 0,
    ftwx: 0,
    lastOpcode: 0,
    lastIp: 0n,
    lastDp: 0n,
    xmm: new Uint8Array(256),
    mxcsr: 0,
  };
}

export function decodeKvmFpu(buf: Uint8Array, offset = 0): KvmFpu {
  const dv = reader(buf, offset, KVM_FPU_SIZE, "kvm_fpu");
  return {
    fpr: copyBytes(buf, offset, 128),
    fcw: dv.getUint16(offset + 128, true),
    fsw: dv.getUint16(offset + 130, true),
    ftwx: dv.getUint8(offset + 132),
    lastOpcode: dv.getUint16(offset + 134, true),
    lastIp: dv.getBigUint64(offset + 136, true),
    lastDp: dv.getBigUint64(offset + 144, true),
    xmm: copyBytes(buf, offset + 152, 256),
    mxcsr: dv.getUint32(offset + 408, true),
  };
}

/** Copies at most 128 bytes of `fpr` and 256 of `xmm`; shorter arrays leave zeros. */
export function encodeKvmFpu(
  value: KvmFpu,
  buf: Uint8Array = new Uint8Array(KVM_FPU_SIZE),
  offset = 0,
): Uint8Array {
  const dv = writer(buf, offset, KVM_FPU_SIZE, "kvm_fpu");
  putBytes(buf, offset, 128, value.fpr);
  dv.setUint16(offset + 128, value.fcw, true);
  dv.setUint16(offset + 130, value.fsw, true);
  dv.setUint8(offset + 132, value.ftwx);
  dv.setUint16(offset + 134, value.lastOpcode, true);
  dv.setBigUint64(offset + 136, value.lastIp, true);
  dv.setBigUint64(offset + 144, value.lastDp, true);
  putBytes(buf, offset + 152, 256, value.xmm);
  dv.setUint32(offset + 408, value.mxcsr, true);
  return buf;
}

// ---------------------------------------------------------------------------------------
// struct kvm_vcpu_events (KVM_GET_VCPU_EVENTS / KVM_SET_VCPU_EVENTS)

export interface KvmVcpuEvents {
  exception: {
    injected: number;
    nr: number;
    hasErrorCode: number;
    /** Valid with KVM_CAP_EXCEPTION_PAYLOAD (older headers: pad). */
    pending: number;
    errorCode: number;
  };
  interrupt: {
    injected: number;
    nr: number;
    soft: number;
    /** KVM_X86_SHADOW_INT_MOV_SS | KVM_X86_SHADOW_INT_STI. */
    shadow: number;
  };
  nmi: { injected: number; pending: number; masked: number };
  sipiVector: number;
  /** KVM_VCPUEVENT_VALID_*. */
  flags: number;
  smi: { smm: number; pending: number; smmInsideNmi: number; latchedInit: number };
  tripleFault: { pending: number };
  exceptionHasPayload: number;
  exceptionPayload: bigint;
}

function readVcpuEvents(dv: DataView, o: number): KvmVcpuEvents {
  return {
    exception: {
      injected: dv.getUint8(o),
      nr: dv.getUint8(o + 1),
      hasErrorCode: dv.getUint8(o + 2),
      pending: dv.getUint8(o + 3),
      errorCode: dv.getUint32(o + 4, true),
    },
    interrupt: {
      injected: dv.getUint8(o + 8),
      nr: dv.getUint8(o + 9),
      soft: dv.getUint8(o + 10),
      shadow: dv.getUint8(o + 11),
    },
    nmi: {
      injected: dv.getUint8(o + 12),
      pending: dv.getUint8(o + 13),
      masked: dv.getUint8(o + 14),
    },
    sipiVector: dv.getUint32(o + 16, true),
    flags: dv.getUint32(o + 20, true),
    smi: {
      smm: dv.getUint8(o + 24),
      pending: dv.getUint8(o + 25),
      smmInsideNmi: dv.getUint8(o + 26),
      latchedInit: dv.getUint8(o + 27),
    },
    tripleFault: { pending: dv.getUint8(o + 28) },
    exceptionHasPayload: dv.getUint8(o + 55),
    exceptionPayload: dv.getBigUint64(o + 56, true),
  };
}

export function emptyKvmVcpuEvents(): KvmVcpuEvents {
  return readVcpuEvents(new DataView(new ArrayBuffer(KVM_VCPU_EVENTS_SIZE)), 0);
}

export function decodeKvmVcpuEvents(buf: Uint8Array, offset = 0): KvmVcpuEvents {
  return readVcpuEvents(reader(buf, offset, KVM_VCPU_EVENTS_SIZE, "kvm_vcpu_events"), offset);
}

export function encodeKvmVcpuEvents(
  value: KvmVcpuEvents,
  buf: Uint8Array = new Uint8Array(KVM_VCPU_EVENTS_SIZE),
  offset = 0,
): Uint8Array {
  const dv = writer(buf, offset, KVM_VCPU_EVENTS_SIZE, "kvm_vcpu_events");
  const o = offset;
  const { exception: ex, interrupt: irq, nmi, smi } = value;
  dv.setUint8(o, ex.injected);
  dv.setUint8(o + 1, ex.nr);
  dv.setUint8(o + 2, ex.hasErrorCode);
  dv.setUint8(o + 3, ex.pending);
  dv.setUint32(o + 4, ex.errorCode, true);
  dv.setUint8(o + 8, irq.injected);
  dv.setUint8(o + 9, irq.nr);
  dv.setUint8(o + 10, irq.soft);
  dv.setUint8(o + 11, irq.shadow);
  dv.setUint8(o + 12, nmi.injected);
  dv.setUint8(o + 13, nmi.pending);
  dv.setUint8(o + 14, nmi.masked);
  dv.setUint32(o + 16, value.sipiVector, true);
  dv.setUint32(o + 20, value.flags, true);
  dv.setUint8(o + 24, smi.smm);
  dv.setUint8(o + 25, smi.pending);
  dv.setUint8(o + 26, smi.smmInsideNmi);
  dv.setUint8(o + 27, smi.latchedInit);
  dv.setUint8(o + 28, value.tripleFault.pending);
  dv.setUint8(o + 55, value.exceptionHasPayload);
  dv.setBigUint64(o + 56, value.exceptionPayload, true);
  return buf;
}

// ---------------------------------------------------------------------------------------
// struct kvm_guest_debug (KVM_SET_GUEST_DEBUG)

export interface KvmGuestDebug {
  /** KVM_GUESTDBG_*. */
  control: number;
  /** arch.debugreg[8]: DR0..DR7 (missing entries encode as 0). */
  debugreg: bigint[];
}

export function decodeKvmGuestDebug(buf: Uint8Array, offset = 0): KvmGuestDebug {
  const dv = reader(buf, offset, KVM_GUEST_DEBUG_SIZE, "kvm_guest_debug");
  return { control: dv.getUint32(offset, true), debugreg: readU64Array(dv, offset + 8, 8) };
}

export function encodeKvmGuestDebug(
  value: KvmGuestDebug,
  buf: Uint8Array = new Uint8Array(KVM_GUEST_DEBUG_SIZE),
  offset = 0,
): Uint8Array {
  const dv = writer(buf, offset, KVM_GUEST_DEBUG_SIZE, "kvm_guest_debug");
  dv.setUint32(offset, value.control, true);
  writeU64Array(dv, offset + 8, 8, value.debugreg);
  return buf;
}

// ---------------------------------------------------------------------------------------
// struct kvm_dirty_log (KVM_GET_DIRTY_LOG)

export interface KvmDirtyLog {
  slot: number;
  /** Process address of the bitmap (a user pointer; one bit per page of the slot). */
  dirtyBitmap: bigint;
}

export function decodeKvmDirtyLog(buf: Uint8Array, offset = 0): KvmDirtyLog {
  const dv = reader(buf, offset, KVM_DIRTY_LOG_SIZE, "kvm_dirty_log");
  return { slot: dv.getUint32(offset, true), dirtyBitmap: dv.getBigUint64(offset + 8, true) };
}

export function encodeKvmDirtyLog(
  value: KvmDirtyLog,
  buf: Uint8Array = new Uint8Array(KVM_DIRTY_LOG_SIZE),
  offset = 0,
): Uint8Array {
  const dv = writer(buf, offset, KVM_DIRTY_LOG_SIZE, "kvm_dirty_log");
  dv.setUint32(offset, value.slot, true);
  dv.setBigUint64(offset + 8, value.dirtyBitmap, true);
  return buf;
}

// ---------------------------------------------------------------------------------------
// struct kvm_translation (KVM_TRANSLATE)

export interface KvmTranslation {
  linearAddress: bigint;
  physicalAddress: bigint;
  valid: number;
  writeable: number;
  usermode: number;
}

export function decodeKvmTranslation(buf: Uint8Array, offset = 0): KvmTranslation {
  const dv = reader(buf, offset, KVM_TRANSLATION_SIZE, "kvm_translation");
  return {
    linearAddress: dv.getBigUint64(offset, true),
    physicalAddress: dv.getBigUint64(offset + 8, true),
    valid: dv.getUint8(offset + 16),
    writeable: dv.getUint8(offset + 17),
    usermode: dv.getUint8(offset + 18),
  };
}

export function encodeKvmTranslation(
  value: KvmTranslation,
  buf: Uint8Array = new Uint8Array(KVM_TRANSLATION_SIZE),
  offset = 0,
): Uint8Array {
  const dv = writer(buf, offset, KVM_TRANSLATION_SIZE, "kvm_translation");
  dv.setBigUint64(offset, value.linearAddress, true);
  dv.setBigUint64(offset + 8, value.physicalAddress, true);
  dv.setUint8(offset + 16, value.valid);
  dv.setUint8(offset + 17, value.writeable);
  dv.setUint8(offset + 18, value.usermode);
  return buf;
}

// ---------------------------------------------------------------------------------------
// struct kvm_debugregs (KVM_GET_DEBUGREGS / KVM_SET_DEBUGREGS)

export interface KvmDebugregs {
  /** db[4]: DR0..DR3 (missing entries encode as 0). */
  db: bigint[];
  dr6: bigint;
  dr7: bigint;
  /** Must be 0 for KVM_SET_DEBUGREGS. */
  flags: bigint;
}

export function decodeKvmDebugregs(buf: Uint8Array, offset = 0): KvmDebugregs {
  const dv = reader(buf, offset, KVM_DEBUGREGS_SIZE, "kvm_debugregs");
  return {
    db: readU64Array(dv, offset, 4),
    dr6: dv.getBigUint64(offset + 32, true),
    dr7: dv.getBigUint64(offset + 40, true),
    flags: dv.getBigUint64(offset + 48, true),
  };
}

export function encodeKvmDebugregs(
  value: KvmDebugregs,
  buf: Uint8Array = new Uint8Array(KVM_DEBUGREGS_SIZE),
  offset = 0,
): Uint8Array {
  const dv = writer(buf, offset, KVM_DEBUGREGS_SIZE, "kvm_debugregs");
  writeU64Array(dv, offset, 4, value.db);
  dv.setBigUint64(offset + 32, value.dr6, true);
  dv.setBigUint64(offset + 40, value.dr7, true);
  dv.setBigUint64(offset + 48, value.flags, true);
  return buf;
}

// ---------------------------------------------------------------------------------------
// struct kvm_enable_cap (KVM_ENABLE_CAP)

export interface KvmEnableCap {
  cap: number;
  /** Must be 0. */
  flags: number;
  /** args[4] (missing entries encode as 0). */
  args: bigint[];
}

export function decodeKvmEnableCap(buf: Uint8Array, offset = 0): KvmEnableCap {
  const dv = reader(buf, offset, KVM_ENABLE_CAP_SIZE, "kvm_enable_cap");
  return {
    cap: dv.getUint32(offset, true),
    flags: dv.getUint32(offset + 4, true),
    args: readU64Array(dv, offset + 8, 4),
  };
}

export function encodeKvmEnableCap(
  value: KvmEnableCap,
  buf: Uint8Array = new Uint8Array(KVM_ENABLE_CAP_SIZE),
  offset = 0,
): Uint8Array {
  const dv = writer(buf, offset, KVM_ENABLE_CAP_SIZE, "kvm_enable_cap");
  dv.setUint32(offset, value.cap, true);
  dv.setUint32(offset + 4, value.flags, true);
  writeU64Array(dv, offset + 8, 4, value.args);
  return buf;
}

// ---------------------------------------------------------------------------------------
// struct kvm_irq_level (KVM_IRQ_LINE / KVM_IRQ_LINE_STATUS)

export interface KvmIrqLevel {
  /** GSI going in; for KVM_IRQ_LINE_STATUS the kernel writes the status here (a union). */
  irq: number;
  /** 1 assert, 0 deassert. */
  level: number;
}

export function decodeKvmIrqLevel(buf: Uint8Array, offset = 0): KvmIrqLevel {
  const dv = reader(buf, offset, KVM_IRQ_LEVEL_SIZE, "kvm_irq_level");
  return { irq: dv.getUint32(offset, true), level: dv.getUint32(offset + 4, true) };
}

export function encodeKvmIrqLevel(
  value: KvmIrqLevel,
  buf: Uint8Array = new Uint8Array(KVM_IRQ_LEVEL_SIZE),
  offset = 0,
): Uint8Array {
  const dv = writer(buf, offset, KVM_IRQ_LEVEL_SIZE, "kvm_irq_level");
  dv.setUint32(offset, value.irq, true);
  dv.setUint32(offset + 4, value.level, true);
  return buf;
}

// ---------------------------------------------------------------------------------------
// One-u32 structs: kvm_mp_state, kvm_interrupt

/** `struct kvm_mp_state` is one u32, a KVM_MP_STATE_* value. */
export function decodeKvmMpState(buf: Uint8Array, offset = 0): number {
  return reader(buf, offset, KVM_MP_STATE_SIZE, "kvm_mp_state").getUint32(offset, true);
}

export function encodeKvmMpState(
  mpState: number,
  buf: Uint8Array = new Uint8Array(KVM_MP_STATE_SIZE),
  offset = 0,
): Uint8Array {
  writer(buf, offset, KVM_MP_STATE_SIZE, "kvm_mp_state").setUint32(offset, mpState, true);
  return buf;
}

/** `struct kvm_interrupt` is one u32: the interrupt vector (0..255). */
export function decodeKvmInterrupt(buf: Uint8Array, offset = 0): number {
  return reader(buf, offset, KVM_INTERRUPT_SIZE, "kvm_interrupt").getUint32(offset, true);
}

export function encodeKvmInterrupt(
  irq: number,
  buf: Uint8Array = new Uint8Array(KVM_INTERRUPT_SIZE),
  offset = 0,
): Uint8Array {
  writer(buf, offset, KVM_INTERRUPT_SIZE, "kvm_interrupt").setUint32(offset, irq, true);
  return buf;
}

// ---------------------------------------------------------------------------------------
// struct kvm_signal_mask (KVM_SET_SIGNAL_MASK)

export interface KvmSignalMask {
  /** Must equal the kernel's sigset size (8 on x86-64). */
  len: number;
  sigset: Uint8Array;
}

/** Reads `len` and a copy of the `len` sigset bytes that follow. */
export function decodeKvmSignalMask(buf: Uint8Array, offset = 0): KvmSignalMask {
  const len = reader(buf, offset, KVM_SIGNAL_MASK_HEADER_SIZE, "kvm_signal_mask").getUint32(
    offset,
    true,
  );
  checkRange(buf, offset, KVM_SIGNAL_MASK_HEADER_SIZE + len, "kvm_signal_mask sigset");
  return { len, sigset: copyBytes(buf, offset + KVM_SIGNAL_MASK_HEADER_SIZE, len) };
}

/** Writes `len = sigset.length` and the sigset bytes. */
export function encodeKvmSignalMask(
  sigset: Uint8Array,
  buf: Uint8Array = new Uint8Array(KVM_SIGNAL_MASK_HEADER_SIZE + sigset.length),
  offset = 0,
): Uint8Array {
  const size = KVM_SIGNAL_MASK_HEADER_SIZE + sigset.length;
  writer(buf, offset, size, "kvm_signal_mask").setUint32(offset, sigset.length, true);
  buf.set(sigset, offset + KVM_SIGNAL_MASK_HEADER_SIZE);
  return buf;
}

// ---------------------------------------------------------------------------------------
// struct kvm_xcrs (KVM_GET_XCRS / KVM_SET_XCRS)

export interface KvmXcr {
  xcr: number;
  value: bigint;
}

export interface KvmXcrs {
  /** nr_xcrs as stored (KVM_SET_XCRS rejects more than KVM_MAX_XCRS = 16). */
  nrXcrs: number;
  flags: number;
  /** The first min(nrXcrs, 16) entries. */
  xcrs: KvmXcr[];
}

export function decodeKvmXcrs(buf: Uint8Array, offset = 0): KvmXcrs {
  const dv = reader(buf, offset, KVM_XCRS_SIZE, "kvm_xcrs");
  const nrXcrs = dv.getUint32(offset, true);
  const xcrs: KvmXcr[] = [];
  for (let i = 0; i < Math.min(nrXcrs, 16); i++) {
    const o = offset + 8 + 16 * i;
    xcrs.push({ xcr: dv.getUint32(o, true), value: dv.getBigUint64(o + 8, true) });
  }
  return { nrXcrs, flags: dv.getUint32(offset + 4, true), xcrs };
}

/** Writes `nrXcrs` as given and the entries of `xcrs` (RangeError above 16). */
export function encodeKvmXcrs(
  value: KvmXcrs,
  buf: Uint8Array = new Uint8Array(KVM_XCRS_SIZE),
  offset = 0,
): Uint8Array {
  if (value.xcrs.length > 16) throw new RangeError(`kvm_xcrs: ${value.xcrs.length} entries > 16`);
  const dv = writer(buf, offset, KVM_XCRS_SIZE, "kvm_xcrs");
  dv.setUint32(offset, value.nrXcrs, true);
  dv.setUint32(offset + 4, value.flags, true);
  value.xcrs.forEach((x, i) => {
    const o = offset + 8 + 16 * i;
    dv.setUint32(o, x.xcr, true);
    dv.setBigUint64(o + 8, x.value, true);
  });
  return buf;
}

// ---------------------------------------------------------------------------------------
// struct kvm_one_reg (KVM_GET_ONE_REG / KVM_SET_ONE_REG)

export interface KvmOneReg {
  id: bigint;
  /** Process address of the register value. */
  addr: bigint;
}

export function decodeKvmOneReg(buf: Uint8Array, offset = 0): KvmOneReg {
  const dv = reader(buf, offset, KVM_ONE_REG_SIZE, "kvm_one_reg");
  return { id: dv.getBigUint64(offset, true), addr: dv.getBigUint64(offset + 8, true) };
}

export function encodeKvmOneReg(
  value: KvmOneReg,
  buf: Uint8Array = new Uint8Array(KVM_ONE_REG_SIZE),
  offset = 0,
): Uint8Array {
  const dv = writer(buf, offset, KVM_ONE_REG_SIZE, "kvm_one_reg");
  dv.setBigUint64(offset, value.id, true);
  dv.setBigUint64(offset + 8, value.addr, true);
  return buf;
}

// ---------------------------------------------------------------------------------------
// struct kvm_clock_data (KVM_GET_CLOCK / KVM_SET_CLOCK)

export interface KvmClockData {
  /** kvmclock nanoseconds. */
  clock: bigint;
  /** KVM_CLOCK_*. */
  flags: number;
  realtime: bigint;
  hostTsc: bigint;
}

export function decodeKvmClockData(buf: Uint8Array, offset = 0): KvmClockData {
  const dv = reader(buf, offset, KVM_CLOCK_DATA_SIZE, "kvm_clock_data");
  return {
    clock: dv.getBigUint64(offset, true),
    flags: dv.getUint32(offset + 8, true),
    realtime: dv.getBigUint64(offset + 16, true),
    hostTsc: dv.getBigUint64(offset + 24, true),
  };
}

export function encodeKvmClockData(
  value: KvmClockData,
  buf: Uint8Array = new Uint8Array(KVM_CLOCK_DATA_SIZE),
  offset = 0,
): Uint8Array {
  const dv = writer(buf, offset, KVM_CLOCK_DATA_SIZE, "kvm_clock_data");
  dv.setBigUint64(offset, value.clock, true);
  dv.setUint32(offset + 8, value.flags, true);
  dv.setBigUint64(offset + 16, value.realtime, true);
  dv.setBigUint64(offset + 24, value.hostTsc, true);
  return buf;
}

// ---------------------------------------------------------------------------------------
// struct kvm_pit_config (KVM_CREATE_PIT2)

export interface KvmPitConfig {
  /** KVM_PIT_SPEAKER_DUMMY. */
  flags: number;
}

export function decodeKvmPitConfig(buf: Uint8Array, offset = 0): KvmPitConfig {
  return {
    flags: reader(buf, offset, KVM_PIT_CONFIG_SIZE, "kvm_pit_config").getUint32(offset, true),
  };
}

export function encodeKvmPitConfig(
  value: KvmPitConfig,
  buf: Uint8Array = new Uint8Array(KVM_PIT_CONFIG_SIZE),
  offset = 0,
): Uint8Array {
  writer(buf, offset, KVM_PIT_CONFIG_SIZE, "kvm_pit_config").setUint32(offset, value.flags, true);
  return buf;
}

// ---------------------------------------------------------------------------------------
// struct kvm_pit_state2 (KVM_GET_PIT2 / KVM_SET_PIT2): three kvm_pit_channel_state of 24
// bytes (count u32, latched_count u16, then ten u8 fields, count_load_time s64 at 16),
// flags at 72, reserved to 112.

export interface KvmPitChannelState {
  count: number;
  latchedCount: number;
  countLatched: number;
  statusLatched: number;
  status: number;
  readState: number;
  writeState: number;
  writeLatch: number;
  rwMode: number;
  mode: number;
  bcd: number;
  gate: number;
  /** The kernel's ktime (ns) of the last load. */
  countLoadTime: bigint;
}

export interface KvmPitState2 {
  channels: KvmPitChannelState[];
  /** KVM_PIT_FLAGS_HPET_LEGACY, KVM_PIT_FLAGS_SPEAKER_DATA_ON. */
  flags: number;
}

const PIT_CHANNEL_SIZE = 24;
/** The u8 fields of kvm_pit_channel_state from offset 6, in order. */
const PIT_CHANNEL_BYTES = [
  "countLatched",
  "statusLatched",
  "status",
  "readState",
  "writeState",
  "writeLatch",
  "rwMode",
  "mode",
  "bcd",
  "gate",
] as const;

export function decodeKvmPitState2(buf: Uint8Array, offset = 0): KvmPitState2 {
  const dv = reader(buf, offset, KVM_PIT_STATE2_SIZE, "kvm_pit_state2");
  const channels: KvmPitChannelState[] = [];
  for (let i = 0; i < 3; i++) {
    const at = offset + i * PIT_CHANNEL_SIZE;
    const c = {
      count: dv.getUint32(at, true),
      latchedCount: dv.getUint16(at + 4, true),
      countLoadTime: dv.getBigInt64(at + 16, true),
    } as KvmPitChannelState;
    PIT_CHANNEL_BYTES.forEach((f, k) => {
      c[f] = dv.getUint8(at + 6 + k);
    });
    channels.push(c);
  }
  return { channels, flags: dv.getUint32(offset + 72, true) };
}

export function encodeKvmPitState2(
  value: KvmPitState2,
  buf: Uint8Array = new Uint8Array(KVM_PIT_STATE2_SIZE),
  offset = 0,
): Uint8Array {
  const dv = writer(buf, offset, KVM_PIT_STATE2_SIZE, "kvm_pit_state2");
  for (let i = 0; i < 3; i++) {
    const c = value.channels[i]!;
    const at = offset + i * PIT_CHANNEL_SIZE;
    dv.setUint32(at, c.count >>> 0, true);
    dv.setUint16(at + 4, c.latchedCount & 0xffff, true);
    PIT_CHANNEL_BYTES.forEach((f, k) => {
      dv.setUint8(at + 6 + k, c[f] & 0xff);
    });
    dv.setBigInt64(at + 16, c.countLoadTime, true);
  }
  dv.setUint32(offset + 72, value.flags >>> 0, true);
  return buf;
}

// ---------------------------------------------------------------------------------------
// struct kvm_irqfd (KVM_IRQFD)

export interface KvmIrqfd {
  fd: number;
  gsi: number;
  /** KVM_IRQFD_FLAG_*. */
  flags: number;
  resamplefd: number;
}

export function decodeKvmIrqfd(buf: Uint8Array, offset = 0): KvmIrqfd {
  const dv = reader(buf, offset, KVM_IRQFD_SIZE, "kvm_irqfd");
  return {
    fd: dv.getUint32(offset, true),
    gsi: dv.getUint32(offset + 4, true),
    flags: dv.getUint32(offset + 8, true),
    resamplefd: dv.getUint32(offset + 12, true),
  };
}

export function encodeKvmIrqfd(
  value: KvmIrqfd,
  buf: Uint8Array = new Uint8Array(KVM_IRQFD_SIZE),
  offset = 0,
): Uint8Array {
  const dv = writer(buf, offset, KVM_IRQFD_SIZE, "kvm_irqfd");
  dv.setUint32(offset, value.fd, true);
  dv.setUint32(offset + 4, value.gsi, true);
  dv.setUint32(offset + 8, value.flags, true);
  dv.setUint32(offset + 12, value.resamplefd, true);
  return buf;
}

// ---------------------------------------------------------------------------------------
// struct kvm_ioeventfd (KVM_IOEVENTFD)

export interface KvmIoeventfd {
  datamatch: bigint;
  /** Guest physical address, or I/O port with KVM_IOEVENTFD_FLAG_PIO. */
  addr: bigint;
  /** 0, 1, 2, 4 or 8. */
  len: number;
  /** s32. */
  fd: number;
  /** KVM_IOEVENTFD_FLAG_*. */
  flags: number;
}

export function decodeKvmIoeventfd(buf: Uint8Array, offset = 0): KvmIoeventfd {
  const dv = reader(buf, offset, KVM_IOEVENTFD_SIZE, "kvm_ioeventfd");
  return {
    datamatch: dv.getBigUint64(offset, true),
    addr: dv.getBigUint64(offset + 8, true),
    len: dv.getUint32(offset + 16, true),
    fd: dv.getInt32(offset + 20, true),
    flags: dv.getUint32(offset + 24, true),
  };
}

export function encodeKvmIoeventfd(
  value: KvmIoeventfd,
  buf: Uint8Array = new Uint8Array(KVM_IOEVENTFD_SIZE),
  offset = 0,
): Uint8Array {
  const dv = writer(buf, offset, KVM_IOEVENTFD_SIZE, "kvm_ioeventfd");
  dv.setBigUint64(offset, value.datamatch, true);
  dv.setBigUint64(offset + 8, value.addr, true);
  dv.setUint32(offset + 16, value.len, true);
  dv.setInt32(offset + 20, value.fd, true);
  dv.setUint32(offset + 24, value.flags, true);
  return buf;
}

// ---------------------------------------------------------------------------------------
// struct kvm_irqchip (KVM_GET_IRQCHIP / KVM_SET_IRQCHIP): chip_id, pad, then a 512-byte
// union of struct kvm_pic_state (16 bytes) and struct kvm_ioapic_state (216 bytes).

/** Pins of the in-kernel I/O APIC (KVM_IOAPIC_NUM_PINS). */
export const KVM_IOAPIC_NUM_PINS = 24;
/** Bytes of `struct kvm_pic_state`. */
export const KVM_PIC_STATE_SIZE = 16;
/** Bytes of `struct kvm_ioapic_state`. */
export const KVM_IOAPIC_STATE_SIZE = 216;

/** `struct kvm_pic_state`: one 8259A, sixteen u8 fields in this order. */
export interface KvmPicState {
  lastIrr: number;
  irr: number;
  imr: number;
  isr: number;
  priorityAdd: number;
  irqBase: number;
  readRegSelect: number;
  poll: number;
  specialMask: number;
  initState: number;
  autoEoi: number;
  rotateOnAutoEoi: number;
  specialFullyNestedMode: number;
  init4: number;
  elcr: number;
  elcrMask: number;
}

/** The field order of `struct kvm_pic_state` (byte i is field i). */
export const KVM_PIC_STATE_FIELDS = Object.freeze([
  "lastIrr",
  "irr",
  "imr",
  "isr",
  "priorityAdd",
  "irqBase",
  "readRegSelect",
  "poll",
  "specialMask",
  "initState",
  "autoEoi",
  "rotateOnAutoEoi",
  "specialFullyNestedMode",
  "init4",
  "elcr",
  "elcrMask",
] as const satisfies readonly (keyof KvmPicState)[]);

/**
 * `struct kvm_ioapic_state`. Each redirection entry is the 64-bit `bits` view of the union:
 * vector 7:0, delivery_mode 10:8, dest_mode 11, delivery_status 12, polarity 13,
 * remote_irr 14, trig_mode 15, mask 16, dest_id 63:56.
 */
export interface KvmIoapicState {
  baseAddress: bigint;
  ioregsel: number;
  id: number;
  irr: number;
  redirtbl: bigint[];
}

export interface KvmIrqchip {
  /** KVM_IRQCHIP_PIC_MASTER (0), KVM_IRQCHIP_PIC_SLAVE (1) or KVM_IRQCHIP_IOAPIC (2). */
  chipId: number;
  /** Set for chip ids 0 and 1. */
  pic?: KvmPicState;
  /** Set for chip id 2. */
  ioapic?: KvmIoapicState;
}

export function decodeKvmPicState(buf: Uint8Array, offset = 0): KvmPicState {
  checkRange(buf, offset, KVM_PIC_STATE_SIZE, "kvm_pic_state");
  const s = {} as KvmPicState;
  KVM_PIC_STATE_FIELDS.forEach((f, i) => {
    s[f] = buf[offset + i]!;
  });
  return s;
}

export function encodeKvmPicState(
  value: KvmPicState,
  buf: Uint8Array = new Uint8Array(KVM_PIC_STATE_SIZE),
  offset = 0,
): Uint8Array {
  writer(buf, offset, KVM_PIC_STATE_SIZE, "kvm_pic_state");
  KVM_PIC_STATE_FIELDS.forEach((f, i) => {
    buf[offset + i] = value[f] & 0xff;
  });
  return buf;
}

export function decodeKvmIoapicState(buf: Uint8Array, offset = 0): KvmIoapicState {
  const dv = reader(buf, offset, KVM_IOAPIC_STATE_SIZE, "kvm_ioapic_state");
  return {
    baseAddress: dv.getBigUint64(offset, true),
    ioregsel: dv.getUint32(offset + 8, true),
    id: dv.getUint32(offset + 12, true),
    irr: dv.getUint32(offset + 16, true),
    redirtbl: readU64Array(dv, offset + 24, KVM_IOAPIC_NUM_PINS),
  };
}

export function encodeKvmIoapicState(
  value: KvmIoapicState,
  buf: Uint8Array = new Uint8Array(KVM_IOAPIC_STATE_SIZE),
  offset = 0,
): Uint8Array {
  const dv = writer(buf, offset, KVM_IOAPIC_STATE_SIZE, "kvm_ioapic_state");
  dv.setBigUint64(offset, value.baseAddress, true);
  dv.setUint32(offset + 8, value.ioregsel, true);
  dv.setUint32(offset + 12, value.id, true);
  dv.setUint32(offset + 16, value.irr, true);
  writeU64Array(dv, offset + 24, KVM_IOAPIC_NUM_PINS, value.redirtbl);
  return buf;
}

/** Reads chip_id and the union member it selects (neither for an unknown id). */
export function decodeKvmIrqchip(buf: Uint8Array, offset = 0): KvmIrqchip {
  const dv = reader(buf, offset, KVM_IRQCHIP_SIZE, "kvm_irqchip");
  const chipId = dv.getUint32(offset, true);
  if (chipId === 0 || chipId === 1) return { chipId, pic: decodeKvmPicState(buf, offset + 8) };
  if (chipId === 2) return { chipId, ioapic: decodeKvmIoapicState(buf, offset + 8) };
  return { chipId };
}

export function encodeKvmIrqchip(
  value: KvmIrqchip,
  buf: Uint8Array = new Uint8Array(KVM_IRQCHIP_SIZE),
  offset = 0,
): Uint8Array {
  const dv = writer(buf, offset, KVM_IRQCHIP_SIZE, "kvm_irqchip");
  dv.setUint32(offset, value.chipId, true);
  if (value.pic) {
    const pic = encodeKvmPicState(value.pic);
    buf.set(pic, offset + 8);
  } else if (value.ioapic) {
    buf.set(encodeKvmIoapicState(value.ioapic), offset + 8);
  }
  return buf;
}
