/**
 * Test fixtures: a CPU with RAM and code placed where a test wants it.
 */
import { recomputeSegment } from "../src/access.js";
import { X86Cpu } from "../src/cpu.js";
import { loadSegmentCache } from "../src/descriptor.js";
import { PhysMemory, type X86Devices } from "../src/memory.js";
import { AR_UNUSABLE, CR0_PE, CS, DS, ES, FS, GS, LDTR, SS, TR } from "../src/regs.js";
import { CPL, CR0, EIP, GDTR_BASE, GDTR_LIMIT, IDTR_BASE, IDTR_LIMIT } from "../src/state.js";

export interface RealModeOptions {
  /** Load address of the code (CS = 0, IP = this). Default 0x100. */
  readonly at?: number;
  /** SP. Default 0x8000. */
  readonly sp?: number;
  readonly ramSize?: number;
  readonly devices?: X86Devices;
  /** RAM in a SharedArrayBuffer (locked instructions decode to their atomic variants). */
  readonly shared?: boolean;
}

/** `size` bytes of RAM, in a SharedArrayBuffer when `shared`. */
export function ramBytes(size: number, shared = false): Uint8Array {
  return new Uint8Array(shared ? new SharedArrayBuffer(size) : new ArrayBuffer(size));
}

/** A real-mode CPU: 1 MiB RAM, CS=DS=ES=SS=0, `code` at 0000:0100, SP=0x8000. */
export function realMode(code: readonly number[], opts: RealModeOptions = {}): X86Cpu {
  const mem = new PhysMemory(opts.devices);
  mem.addRam(0, ramBytes(opts.ramSize ?? 1 << 20, opts.shared));
  const cpu = new X86Cpu(mem);
  const at = opts.at ?? 0x100;
  mem.load(at, code);
  for (const s of [CS, DS, ES, SS]) {
    cpu.segSel[s] = 0;
    cpu.segBase[s] = 0;
    recomputeSegment(cpu, s);
  }
  cpu.st[EIP] = at;
  cpu.regs[4] = opts.sp ?? 0x8000;
  return cpu;
}

// Protected mode ----------------------------------------------------------------------

/**
 * The protected-mode fixture's memory map (all physical = linear, flat segments): the
 * GDT, IDT and TSS, the ring stacks, exception stubs and the default code address.
 */
export const PM = {
  GDT: 0x1000,
  GDT_LIMIT: 0x0fff,
  IDT: 0x2000,
  IDT_LIMIT: 0x07ff,
  /** The running task's 32-bit TSS. */
  TSS: 0x3000,
  /** A spare TSS area for task-switch tests. */
  TSS2: 0x3100,
  /** Exception stubs: vector v's handler is a HLT at STUBS + 16·v (ring 0). */
  STUBS: 0x5000,
  STACK0: 0x9000,
  STACK3: 0x7000,
  CODE: 0x1_0000,
  // Selectors.
  CODE0: 0x08,
  DATA0: 0x10,
  CODE3: 0x1b,
  DATA3: 0x23,
  TSS_SEL: 0x28,
  CODE16: 0x30,
  DATA16: 0x38,
  /** The first GDT selector a test may define. */
  FREE: 0x40,
} as const;

/** Descriptor access bytes (P, DPL, S, type) for writeDescriptor / writeGate. */
export const ACC = {
  CODE0: 0x9a,
  DATA0: 0x92,
  CODE3: 0xfa,
  DATA3: 0xf2,
  TSS32: 0x89,
  TSS16: 0x81,
  LDT: 0x82,
  CALL_GATE32: 0x8c,
  CALL_GATE16: 0x84,
  TASK_GATE: 0x85,
  INT_GATE32: 0x8e,
  TRAP_GATE32: 0x8f,
} as const;

function w32(cpu: X86Cpu, addr: number, v: number): void {
  cpu.mem.load(addr, [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]);
}

/** Read a little-endian dword of physical memory. */
export function read32(cpu: X86Cpu, addr: number): number {
  const m = cpu.mem;
  return (
    (m.read8(addr) |
      (m.read8(addr + 1) << 8) |
      (m.read8(addr + 2) << 16) |
      (m.read8(addr + 3) << 24)) >>>
    0
  );
}

/** Read a little-endian word of physical memory. */
export function read16(cpu: X86Cpu, addr: number): number {
  return cpu.mem.read8(addr) | (cpu.mem.read8(addr + 1) << 8);
}

/** Write a little-endian dword / word of physical memory. */
export function write32(cpu: X86Cpu, addr: number, v: number): void {
  w32(cpu, addr, v);
}
export function write16(cpu: X86Cpu, addr: number, v: number): void {
  cpu.mem.load(addr, [v & 0xff, (v >>> 8) & 0xff]);
}

/**
 * Write a segment descriptor at GDT slot `selector` (or at `table` + index for an LDT).
 * `access` is byte 5 (P DPL S type); `flags` the high nibble of byte 6 (G D/B L AVL),
 * default 32-bit; a limit above 0xFFFFF is stored page-granular.
 */
export function writeDescriptor(
  cpu: X86Cpu,
  selector: number,
  base: number,
  limit: number,
  access: number,
  flags = 0x4,
  table: number = PM.GDT,
): void {
  let lim = limit >>> 0;
  let f = flags;
  if (lim > 0xfffff) {
    lim >>>= 12;
    f |= 0x8;
  }
  const lo = (lim & 0xffff) | ((base & 0xffff) << 16);
  const hi =
    ((base >>> 16) & 0xff) | (access << 8) | (lim & 0xf_0000) | (f << 20) | (base & 0xff00_0000);
  const at = table + (selector & 0xfff8);
  w32(cpu, at, lo);
  w32(cpu, at + 4, hi);
}

/** Write a gate (call, task, interrupt, trap) at `addr`; `access` is byte 5 with DPL. */
export function writeGate(
  cpu: X86Cpu,
  addr: number,
  selector: number,
  offset: number,
  access: number,
  params = 0,
): void {
  w32(cpu, addr, (offset & 0xffff) | (selector << 16));
  w32(cpu, addr + 4, (offset & 0xffff_0000) | (access << 8) | (params & 0x1f));
}

/** An IDT gate for `vector`. */
export function setIdtGate(
  cpu: X86Cpu,
  vector: number,
  selector: number,
  offset: number,
  access: number,
): void {
  writeGate(cpu, PM.IDT + vector * 8, selector, offset, access);
}

/** Load segment register `seg` straight from its GDT/LDT descriptor (no checks; fixtures). */
export function loadSegmentDirect(cpu: X86Cpu, seg: number, selector: number): void {
  const table = selector & 4 ? cpu.segBase[LDTR]! : cpu.st[GDTR_BASE]!;
  const at = table + (selector & 0xfff8);
  loadSegmentCache(cpu, seg, selector, read32(cpu, at) | 0, read32(cpu, at + 4) | 0);
  recomputeSegment(cpu, seg);
}

/** Write a 32-bit TSS at `base`: ring-0 stack, EIP, ESP, EFLAGS and selectors. */
export function writeTss32(
  cpu: X86Cpu,
  base: number,
  t: {
    esp0?: number;
    ss0?: number;
    eip?: number;
    eflags?: number;
    regs?: readonly number[];
    cs?: number;
    ss?: number;
    ds?: number;
    es?: number;
    fs?: number;
    gs?: number;
    ldt?: number;
  },
): void {
  w32(cpu, base + 4, t.esp0 ?? PM.STACK0);
  w32(cpu, base + 8, t.ss0 ?? PM.DATA0);
  w32(cpu, base + 0x20, t.eip ?? 0);
  w32(cpu, base + 0x24, t.eflags ?? 2);
  const regs = t.regs ?? [];
  for (let r = 0; r < 8; r++) w32(cpu, base + 0x28 + 4 * r, regs[r] ?? 0);
  const sels = [t.es ?? 0, t.cs ?? 0, t.ss ?? 0, t.ds ?? 0, t.fs ?? 0, t.gs ?? 0];
  for (let s = 0; s < 6; s++) w32(cpu, base + 0x48 + 4 * s, sels[s]!);
  w32(cpu, base + 0x60, t.ldt ?? 0);
  w32(cpu, base + 0x64, 0x0068_0000);
}

export interface ProtectedModeOptions {
  /** Privilege level to start at. Default 0. */
  readonly ring?: 0 | 3;
  /** Load address of the code (flat: EIP = this). Default PM.CODE. */
  readonly at?: number;
  readonly ramSize?: number;
  readonly devices?: X86Devices;
  /** RAM in a SharedArrayBuffer. */
  readonly shared?: boolean;
}

/**
 * A CPU in 32-bit protected mode with flat segments: GDT (ring-0 and ring-3 code/data,
 * 16-bit ring-0 code/data, a busy 32-bit TSS loaded in TR with ESP0 = PM.STACK0), an IDT
 * whose 32 exception vectors go to HLT stubs (`exceptionVector` reads which one ran),
 * CPL `ring`, ESP at the ring's stack, IF = 0.
 */
export function protectedMode(code: readonly number[], opts: ProtectedModeOptions = {}): X86Cpu {
  const mem = new PhysMemory(opts.devices);
  mem.addRam(0, ramBytes(opts.ramSize ?? 1 << 21, opts.shared));
  const cpu = new X86Cpu(mem);
  const at = opts.at ?? PM.CODE;
  mem.load(at, code);
  writeDescriptor(cpu, PM.CODE0, 0, 0xffff_ffff, ACC.CODE0);
  writeDescriptor(cpu, PM.DATA0, 0, 0xffff_ffff, ACC.DATA0);
  writeDescriptor(cpu, PM.CODE3, 0, 0xffff_ffff, ACC.CODE3);
  writeDescriptor(cpu, PM.DATA3, 0, 0xffff_ffff, ACC.DATA3);
  writeDescriptor(cpu, PM.TSS_SEL, PM.TSS, 0x67, ACC.TSS32 | 2, 0);
  writeDescriptor(cpu, PM.CODE16, 0, 0xffff, ACC.CODE0, 0);
  writeDescriptor(cpu, PM.DATA16, 0, 0xffff, ACC.DATA0, 0);
  writeTss32(cpu, PM.TSS, {});
  for (let v = 0; v < 32; v++) {
    mem.load(PM.STUBS + 16 * v, [0xf4]);
    setIdtGate(cpu, v, PM.CODE0, PM.STUBS + 16 * v, ACC.INT_GATE32);
  }
  cpu.st[GDTR_BASE] = PM.GDT;
  cpu.st[GDTR_LIMIT] = PM.GDT_LIMIT;
  cpu.st[IDTR_BASE] = PM.IDT;
  cpu.st[IDTR_LIMIT] = PM.IDT_LIMIT;
  cpu.st[CR0] = cpu.st[CR0]! | CR0_PE;
  const ring = opts.ring ?? 0;
  const code_ = ring === 0 ? PM.CODE0 : PM.CODE3;
  const data = ring === 0 ? PM.DATA0 : PM.DATA3;
  loadSegmentDirect(cpu, CS, code_);
  for (const s of [SS, DS, ES, FS, GS]) loadSegmentDirect(cpu, s, data);
  loadSegmentDirect(cpu, TR, PM.TSS_SEL);
  cpu.segSel[LDTR] = 0;
  cpu.segAr[LDTR] = AR_UNUSABLE;
  cpu.st[CPL] = ring;
  cpu.st[EIP] = at;
  cpu.regs[4] = ring === 0 ? PM.STACK0 : PM.STACK3;
  return cpu;
}

/** The exception vector whose stub halted the CPU, or -1 (the run ended elsewhere). */
export function exceptionVector(cpu: X86Cpu): number {
  const off = cpu.st[EIP]! - 1 - PM.STUBS;
  return off >= 0 && off < 32 * 16 && off % 16 === 0 ? off / 16 : -1;
}

/** The dword at SS:ESP + `delta` (flat stacks). */
export function stackDword(cpu: X86Cpu, delta = 0): number {
  return read32(cpu, (cpu.segBase[SS]! + cpu.regs[4]! + delta) >>> 0);
}

/** xorshift32: a small, fast generator, reproducible from a printed seed (tests, soaks). */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

// IA-32e mode ------------------------------------------------------------------------

const PML4 = 0x20_0000;
const PDPT = 0x20_1000;
const PD = 0x20_2000;
const IDT64 = 0x20_3000;
const STUBS64 = 0x20_4000;
const CODE64 = PM.FREE; // 0x40

/** The long-mode fixture's layout (physical = linear). */
export const LONG = {
  PML4,
  IDT64,
  /** Exception stubs: vector v's handler is a HLT at STUBS64 + 16·v (64-bit, ring 0). */
  STUBS64,
  /** The 64-bit ring-0 code segment selector. */
  CODE64,
  /** Where `code64` is loaded and 64-bit mode starts. */
  ENTRY: PM.CODE + 0x100,
} as const;

const d = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

/** The 32-bit prologue that enters compatibility mode, then JMP FAR CODE64:target. */
function enterLongMode(target: number): number[] {
  return [
    0xb8,
    ...d(PML4),
    0x0f,
    0x22,
    0xd8, // mov eax, PML4; mov cr3, eax
    0x0f,
    0x20,
    0xe0,
    0x83,
    0xc8,
    0x20,
    0x0f,
    0x22,
    0xe0, // mov eax,cr4; or eax,PAE; mov cr4,eax
    0xb9,
    ...d(0xc000_0080),
    0x0f,
    0x32, // mov ecx, EFER; rdmsr
    0x0d,
    ...d(0x100),
    0x0f,
    0x30, // or eax, LME; wrmsr
    0x0f,
    0x20,
    0xc0,
    0x0d,
    ...d(0x8000_0000),
    0x0f,
    0x22,
    0xc0, // mov eax,cr0; or PG; mov cr0
    0xea,
    ...d(target),
    CODE64,
    0, // jmp far CODE64:target
  ];
}

/** Page tables mapping the first 4 MiB with 2 MiB pages, a 64-bit code segment, an IDT. */
function longModeTables(cpu: X86Cpu): void {
  write32(cpu, PML4, PDPT | 3);
  write32(cpu, PDPT, PD | 3);
  write32(cpu, PD, 0x0000_0000 | 0x83);
  write32(cpu, PD + 8, 0x0020_0000 | 0x83);
  // 64-bit code: G, L (flags nibble 0xA), ring 0, execute/read.
  writeDescriptor(cpu, CODE64, 0, 0xf_ffff, 0x9a, 0xa);
  // Interrupt gates for the 32 exception vectors, each to a HLT.
  for (let v = 0; v < 32; v++) {
    const off = STUBS64 + 16 * v;
    cpu.mem.load(off, [0xf4]);
    write32(cpu, IDT64 + 16 * v, (CODE64 << 16) | (off & 0xffff));
    write32(cpu, IDT64 + 16 * v + 4, (off & 0xffff_0000) | 0x8e00);
    write32(cpu, IDT64 + 16 * v + 8, 0);
    write32(cpu, IDT64 + 16 * v + 12, 0);
  }
  cpu.st[IDTR_BASE] = IDT64;
  cpu.st[IDTR_LIMIT] = 32 * 16 - 1;
}

/** CPUID of a 64-bit processor: 8000_0001h.EDX has LM (29), NX (20) and SYSCALL (11). */
function cpuid64(leaf: number, _sub: number, out: Int32Array): void {
  out.fill(0);
  if (leaf === 0) out[0] = 1;
  else if (leaf === 1)
    out[3] = (1 << 6) | (1 << 5) | 1; // PAE, MSR, FPU
  else if (leaf === (0x8000_0000 | 0)) out[0] = 0x8000_0001 | 0;
  else if (leaf === (0x8000_0001 | 0)) out[3] = (1 << 29) | (1 << 20) | (1 << 11);
}

/**
 * A CPU in 64-bit mode, entered the way a boot loader does it: the fixture's 32-bit
 * protected mode runs a prologue (CR3 = PML4, CR4.PAE, EFER.LME, CR0.PG, then a far jump
 * to a 64-bit code segment, LONG.CODE64) and `code64` at LONG.ENTRY. Paging maps the
 * first 4 MiB with 2 MiB pages (user, writable); the 64-bit IDT sends the 32 exception
 * vectors to HLT stubs (`vector64` says which one halted). CPUID advertises LM, NX and
 * SYSCALL; RSP = PM.STACK0. Run it and the prologue executes first.
 */
export function longMode(code64: readonly number[], opts: { shared?: boolean } = {}): X86Cpu {
  const entry = PM.CODE + 0x100;
  const cpu = protectedMode(enterLongMode(entry), { ramSize: 4 << 20, shared: opts.shared });
  cpu.cpuid = cpuid64;
  longModeTables(cpu);
  cpu.mem.load(entry, code64);
  return cpu;
}

/** The 64-bit exception stub that halted: its vector, or -1. */
export function vector64(cpu: X86Cpu): number {
  const off = cpu.st[EIP]! - 1 - STUBS64;
  return off >= 0 && off < 32 * 16 && off % 16 === 0 ? off / 16 : -1;
}

/** Where `longModeRing3` loads ring-3 code. */
export const USER64 = 0x2_1000;
/** A 64-bit ring-3 code segment selector (in a free GDT slot). */
export const CODE64_3 = PM.FREE + 0x10 + 3;

/**
 * The long-mode fixture prepared for ring 3: user-accessible page tables, a 64-bit ring-3
 * code segment CODE64_3, RSP0's high half 0; its 64-bit code IRETQs to `ring3` (loaded
 * at USER64) at CPL 3 with RSP = PM.STACK3.
 */
export function longModeRing3(ring3: readonly number[]): X86Cpu {
  const cpu = longMode([
    0x6a,
    PM.DATA3, // push ss
    0x68,
    ...d(PM.STACK3), // push rsp
    0x6a,
    0x02, // push rflags
    0x6a,
    CODE64_3, // push cs
    0x68,
    ...d(USER64), // push rip
    0x48,
    0xcf, // iretq
  ]);
  userSetup64(cpu);
  cpu.mem.load(USER64, ring3);
  return cpu;
}

/** Make the long-mode fixture usable from ring 3: user pages, CODE64_3, RSP0 high 0. */
export function userSetup64(cpu: X86Cpu): void {
  write32(cpu, PML4, PDPT | 7);
  write32(cpu, PDPT, PD | 7);
  write32(cpu, PD, 0x87);
  write32(cpu, PD + 8, 0x20_0000 | 0x87);
  writeDescriptor(cpu, CODE64_3, 0, 0xfffff, 0xfa, 0xa);
  write32(cpu, PM.TSS + 8, 0);
}
