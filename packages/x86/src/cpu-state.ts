/**
 * Whole-state read and write, the shape KVM_GET/SET_REGS and KVM_GET/SET_SREGS carry
 * (struct kvm_regs, struct kvm_sregs). Values are unsigned 32-bit numbers; the 64-bit
 * halves arrive with long mode (part 2).
 */
import { recomputeSegment } from "./access.js";
import type { X86Cpu } from "./cpu.js";
import { getFlags, setFlags } from "./lazy_flags.js";
import { loadPdptesQuiet, PAGING_PAE, pagingMode, selectTlb } from "./paging.js";
import { CR0_PE, FLAG_FIXED1, SEG_COUNT, SEG_NAMES } from "./regs.js";
import {
  CPL,
  CR0,
  CR2,
  CR2_HI,
  CR3,
  CR4,
  CR8,
  DR_BASE,
  EFER,
  EIP,
  GDTR_BASE,
  GDTR_BASE_HI,
  GDTR_LIMIT,
  IDTR_BASE,
  IDTR_BASE_HI,
  IDTR_LIMIT,
  PENDING,
  RIP_HI,
} from "./state.js";

export interface X86Registers {
  eax: number;
  ecx: number;
  edx: number;
  ebx: number;
  esp: number;
  ebp: number;
  esi: number;
  edi: number;
  eip: number;
  eflags: number;
}

/** A segment register with its hidden cache; `ar` in the VMCS access-rights layout. */
export interface X86Segment {
  selector: number;
  base: number;
  limit: number;
  ar: number;
}

export interface X86SystemRegisters {
  es: X86Segment;
  cs: X86Segment;
  ss: X86Segment;
  ds: X86Segment;
  fs: X86Segment;
  gs: X86Segment;
  ldtr: X86Segment;
  tr: X86Segment;
  gdt: { base: number; limit: number };
  idt: { base: number; limit: number };
  cr0: number;
  cr2: number;
  cr3: number;
  cr4: number;
  cr8: number;
  efer: number;
  /** DR0–DR3, DR6, DR7. */
  dr: [number, number, number, number, number, number];
}

const GPR_NAMES = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"] as const;

export function getRegisters(cpu: X86Cpu): X86Registers {
  const r = cpu.regs;
  return {
    eax: r[0]! >>> 0,
    ecx: r[1]! >>> 0,
    edx: r[2]! >>> 0,
    ebx: r[3]! >>> 0,
    esp: r[4]! >>> 0,
    ebp: r[5]! >>> 0,
    esi: r[6]! >>> 0,
    edi: r[7]! >>> 0,
    eip: cpu.st[EIP]! >>> 0,
    eflags: getFlags(cpu.st) >>> 0,
  };
}

/** Set the 32-bit registers; their high halves (and RIP's) become 0. */
export function setRegisters(cpu: X86Cpu, regs: X86Registers): void {
  GPR_NAMES.forEach((name, n) => {
    cpu.regs[n] = regs[name] | 0;
    cpu.regsHi[n] = 0;
  });
  cpu.st[EIP] = regs.eip | 0;
  cpu.st[RIP_HI] = 0;
  setFlags(cpu.st, (regs.eflags & 0x003f_7fd5) | FLAG_FIXED1);
  cpu.st[PENDING] = 1;
}

/**
 * The general registers as `struct kvm_regs` holds them (KVM_GET_REGS), 64 bits each:
 * rax rbx rcx rdx rsi rdi rsp rbp r8–r15 rip rflags.
 */
export interface X86Registers64 {
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

/** kvm_regs field → register number (ModRM numbering). */
const GPR64: readonly [keyof X86Registers64, number][] = [
  ["rax", 0],
  ["rbx", 3],
  ["rcx", 1],
  ["rdx", 2],
  ["rsi", 6],
  ["rdi", 7],
  ["rsp", 4],
  ["rbp", 5],
  ["r8", 8],
  ["r9", 9],
  ["r10", 10],
  ["r11", 11],
  ["r12", 12],
  ["r13", 13],
  ["r14", 14],
  ["r15", 15],
];

function u64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

export function getRegisters64(cpu: X86Cpu): X86Registers64 {
  const out = {} as X86Registers64;
  for (const [name, n] of GPR64) out[name] = u64(cpu.regs[n]!, cpu.regsHi[n]!);
  out.rip = u64(cpu.st[EIP]!, cpu.st[RIP_HI]!);
  out.rflags = BigInt(getFlags(cpu.st) >>> 0);
  return out;
}

/** KVM_SET_REGS: every register, 64 bits (RFLAGS bits 63:22 and reserved ones ignored). */
export function setRegisters64(cpu: X86Cpu, regs: X86Registers64): void {
  for (const [name, n] of GPR64) {
    const v = BigInt.asUintN(64, regs[name]);
    cpu.regs[n] = Number(v & 0xffff_ffffn) | 0;
    cpu.regsHi[n] = Number(v >> 32n) | 0;
  }
  const rip = BigInt.asUintN(64, regs.rip);
  cpu.st[EIP] = Number(rip & 0xffff_ffffn) | 0;
  cpu.st[RIP_HI] = Number(rip >> 32n) | 0;
  setFlags(cpu.st, Number(regs.rflags & 0x003f_7fd5n) | 0 | FLAG_FIXED1);
  cpu.st[PENDING] = 1;
}

export function getSystemRegisters(cpu: X86Cpu): X86SystemRegisters {
  const seg = (s: number): X86Segment => ({
    selector: cpu.segSel[s]!,
    base: cpu.segBase[s]! >>> 0,
    limit: cpu.segLimit[s]! >>> 0,
    ar: cpu.segAr[s]!,
  });
  const st = cpu.st;
  return {
    es: seg(0),
    cs: seg(1),
    ss: seg(2),
    ds: seg(3),
    fs: seg(4),
    gs: seg(5),
    ldtr: seg(6),
    tr: seg(7),
    gdt: { base: st[GDTR_BASE]! >>> 0, limit: st[GDTR_LIMIT]! & 0xffff },
    idt: { base: st[IDTR_BASE]! >>> 0, limit: st[IDTR_LIMIT]! & 0xffff },
    cr0: st[CR0]! >>> 0,
    cr2: st[CR2]! >>> 0,
    cr3: st[CR3]! >>> 0,
    cr4: st[CR4]! >>> 0,
    cr8: st[CR8]! >>> 0,
    efer: st[EFER]! >>> 0,
    dr: [0, 1, 2, 3, 6, 7].map((n) => st[DR_BASE + n]! >>> 0) as X86SystemRegisters["dr"],
  };
}

/**
 * Load the system registers. Like KVM_SET_SREGS it takes the caches as given (no
 * descriptor-table reads); CPL becomes SS.DPL in protected mode (as KVM reads it), 0 in real mode.
 */
export function setSystemRegisters(cpu: X86Cpu, s: X86SystemRegisters): void {
  const st = cpu.st;
  st[CR0] = s.cr0 | 0;
  st[CR2] = s.cr2 | 0;
  st[CR3] = s.cr3 | 0;
  st[CR4] = s.cr4 | 0;
  st[CR8] = s.cr8 | 0;
  st[EFER] = s.efer | 0;
  st[GDTR_BASE] = s.gdt.base | 0;
  st[GDTR_LIMIT] = s.gdt.limit & 0xffff;
  st[IDTR_BASE] = s.idt.base | 0;
  st[IDTR_LIMIT] = s.idt.limit & 0xffff;
  [0, 1, 2, 3, 6, 7].forEach((n, k) => {
    st[DR_BASE + n] = s.dr[k]! | 0;
  });
  for (let n = 0; n < SEG_COUNT; n++) {
    const seg = s[SEG_NAMES[n]!];
    cpu.segSel[n] = seg.selector;
    cpu.segBase[n] = seg.base | 0;
    cpu.segLimit[n] = seg.limit | 0;
    cpu.segAr[n] = seg.ar;
  }
  for (let n = 0; n < SEG_COUNT; n++) recomputeSegment(cpu, n);
  // The 32-bit shape: every high half is 0.
  cpu.segBaseHi.fill(0);
  st[GDTR_BASE_HI] = 0;
  st[IDTR_BASE_HI] = 0;
  st[CR2_HI] = 0;
  st[CPL] = st[CR0]! & CR0_PE ? (cpu.segAr[2]! >> 5) & 3 : 0;
  // Like KVM_SET_SREGS: the PDPTEs of PAE paging come from CR3; every cached
  // translation goes.
  if (pagingMode(cpu) === PAGING_PAE) loadPdptesQuiet(cpu);
  cpu.flushTlb();
  selectTlb(cpu);
  cpu.flushDecodeCache();
  st[PENDING] = 1;
}

/** A segment register with its hidden cache, the base 64-bit (struct kvm_segment's base). */
export interface X86Segment64 {
  selector: number;
  base: bigint;
  limit: number;
  ar: number;
}

/**
 * The system registers as `struct kvm_sregs` holds them (KVM_GET_SREGS), 64 bits where it
 * has 64: segment and table bases, CR0–CR4, CR8, EFER, and DR0–DR3, DR6, DR7.
 */
export interface X86SystemRegisters64 {
  es: X86Segment64;
  cs: X86Segment64;
  ss: X86Segment64;
  ds: X86Segment64;
  fs: X86Segment64;
  gs: X86Segment64;
  ldtr: X86Segment64;
  tr: X86Segment64;
  gdt: { base: bigint; limit: number };
  idt: { base: bigint; limit: number };
  cr0: bigint;
  cr2: bigint;
  cr3: bigint;
  cr4: bigint;
  cr8: bigint;
  efer: bigint;
  dr: [bigint, bigint, bigint, bigint, bigint, bigint];
}

function lo32(v: bigint): number {
  return Number(BigInt.asUintN(64, v) & 0xffff_ffffn) | 0;
}

function hi32(v: bigint): number {
  return Number(BigInt.asUintN(64, v) >> 32n) | 0;
}

export function getSystemRegisters64(cpu: X86Cpu): X86SystemRegisters64 {
  const s = getSystemRegisters(cpu);
  const st = cpu.st;
  const seg = (n: number): X86Segment64 => {
    const v = s[SEG_NAMES[n]!];
    return { ...v, base: u64(cpu.segBase[n]!, cpu.segBaseHi[n]!) };
  };
  return {
    es: seg(0),
    cs: seg(1),
    ss: seg(2),
    ds: seg(3),
    fs: seg(4),
    gs: seg(5),
    ldtr: seg(6),
    tr: seg(7),
    gdt: { base: u64(st[GDTR_BASE]!, st[GDTR_BASE_HI]!), limit: s.gdt.limit },
    idt: { base: u64(st[IDTR_BASE]!, st[IDTR_BASE_HI]!), limit: s.idt.limit },
    cr0: BigInt(s.cr0),
    cr2: u64(st[CR2]!, st[CR2_HI]!),
    cr3: BigInt(s.cr3),
    cr4: BigInt(s.cr4),
    cr8: BigInt(s.cr8),
    efer: BigInt(s.efer),
    dr: s.dr.map((v) => BigInt(v)) as X86SystemRegisters64["dr"],
  };
}

/** KVM_SET_SREGS: setSystemRegisters with the high halves of the 64-bit fields. */
export function setSystemRegisters64(cpu: X86Cpu, s: X86SystemRegisters64): void {
  const seg = (v: X86Segment64): X86Segment => ({ ...v, base: lo32(v.base) >>> 0 });
  setSystemRegisters(cpu, {
    es: seg(s.es),
    cs: seg(s.cs),
    ss: seg(s.ss),
    ds: seg(s.ds),
    fs: seg(s.fs),
    gs: seg(s.gs),
    ldtr: seg(s.ldtr),
    tr: seg(s.tr),
    gdt: { base: lo32(s.gdt.base) >>> 0, limit: s.gdt.limit },
    idt: { base: lo32(s.idt.base) >>> 0, limit: s.idt.limit },
    cr0: lo32(s.cr0) >>> 0,
    cr2: lo32(s.cr2) >>> 0,
    cr3: lo32(s.cr3) >>> 0,
    cr4: lo32(s.cr4) >>> 0,
    cr8: lo32(s.cr8) >>> 0,
    efer: lo32(s.efer) >>> 0,
    dr: s.dr.map((v) => lo32(v) >>> 0) as X86SystemRegisters["dr"],
  });
  const st = cpu.st;
  SEG_NAMES.forEach((name, n) => {
    cpu.segBaseHi[n] = hi32(s[name].base);
  });
  st[GDTR_BASE_HI] = hi32(s.gdt.base);
  st[IDTR_BASE_HI] = hi32(s.idt.base);
  st[CR2_HI] = hi32(s.cr2);
}

/**
 * Load a segment register and its hidden cache as given — VM entry and VM exit load them
 * this way from the VMCS (no descriptor-table reads). `ar` in the VMCS layout, bit 16 =
 * unusable; the base as two halves. Call syncLoadedState after a batch of loads.
 */
export function loadSegment(
  cpu: X86Cpu,
  n: number,
  selector: number,
  baseLo: number,
  baseHi: number,
  limit: number,
  ar: number,
): void {
  cpu.segSel[n] = selector;
  cpu.segBase[n] = baseLo | 0;
  cpu.segBaseHi[n] = baseHi | 0;
  cpu.segLimit[n] = limit | 0;
  cpu.segAr[n] = ar;
  recomputeSegment(cpu, n);
}

/**
 * After state was written straight into `cpu.st` and the segment caches (a VM entry or
 * exit): CPL from SS.DPL (0 in real mode), PAE's PDPTEs from CR3, the TLB emptied when
 * `flushTlb` (the caller knows whether translations can have changed) and chosen for the
 * CPL. Decoded code stays: it is keyed by physical address and mode.
 */
export function syncLoadedState(cpu: X86Cpu, flushTlb: boolean): void {
  const st = cpu.st;
  st[CPL] = st[CR0]! & CR0_PE ? (cpu.segAr[2]! >> 5) & 3 : 0;
  if (pagingMode(cpu) === PAGING_PAE) loadPdptesQuiet(cpu);
  if (flushTlb) cpu.flushTlb();
  else cpu.dc.bumpEpoch();
  selectTlb(cpu);
  st[PENDING] = 1;
}
