/**
 * The instruction emulator a hypervisor runs on behalf of a guest (Linux:
 * arch/x86/kvm/emulate.c and kvm_emulate.h). When a VM exit leaves work only an
 * instruction can describe — an access to emulated MMIO, a string I/O instruction, a
 * write to a dirty-logged page — the hypervisor decodes the instruction at the guest's
 * CS:RIP and executes it on a CPU of its own, routing what leaves RAM back to itself.
 *
 * Here that CPU is this package's core: one X86Cpu per X86EmulateCtxt (struct
 * x86_emulate_ctxt, one per vCPU). The emulator knows no hypervisor: everything about
 * the vCPU comes through two structural interfaces, as emulate.c sees the world only
 * through struct x86_emulate_ops —
 *   X86EmulateOps:  memory that may be MMIO, and port I/O (read/write_emulated,
 *                   pio_in/out_emulated);
 *   X86EmulateVcpu: the vCPU's registers and segments, its guest-physical RAM, CPUID,
 *                   the FXSAVE image, the interrupt shadow, exception queueing.
 * KVM (the kvm-kernel package) provides both; its vendor modules (kvm_intel, kvm_amd)
 * pass them in, as Linux's kvm.ko owns emulate.c for both.
 *
 * A call to x86EmulateInsn:
 *   1. maps the vCPU's RAM as the core's (rebuilt when its generation moves): read-only
 *      slots, and slots logging dirty pages, read-only — so their writes reach the EV_MMIO
 *      hook and go through writeEmulated, which writes RAM and marks it dirty;
 *   2. loads the vCPU's registers, segments, control registers, SSE state and CPUID and
 *      decodes the instruction at CS:RIP, handing its bytes to setInsnBytes;
 *   3. executes exactly that instruction. The core walks the guest's page tables itself;
 *      what leaves RAM comes back through its hooks: MMIO data accesses → readEmulated /
 *      writeEmulated, port I/O → pioInEmulated (before the instruction consumes the data)
 *      and pioOutEmulated (once, with every element, after it retired); an exception is
 *      claimed, not delivered;
 *   4. writes back what the instruction changed: GPRs, the segment registers it loaded
 *      (setSegment), RIP, RFLAGS, SSE state, the interrupt shadow.
 *
 * Return values (X86EMUL_*): CONTINUE (retired — or a REP string instruction advanced and
 * stays at RIP), IO_NEEDED (a callback asked for the hypervisor's caller: nothing is
 * written back, the instruction is replayed later), PROPAGATE_FAULT (the exception went
 * to queueException), UNHANDLEABLE (a fetch from outside guest RAM, #UD, or an
 * instruction that would change state this emulator does not write back: LDTR, TR, CPL,
 * control registers other than by reading them, descriptor-table registers, MSRs, debug
 * registers, TLBs, the halt state, software interrupts).
 *
 * Deviations from Linux's emulator:
 * - REP INS/OUTS move up to a page of data per call (INS no further than the destination's
 *   page, like pio_in_emulated; OUTS as many as fit the PIO page), so a REP OUTS of n ≤
 *   4096/size elements is one port exit with count n, where Linux exits per element.
 * - A REP string instruction that faults after some iterations keeps them (registers
 *   written back, RIP at the instruction, no exception queued): the guest runs it again
 *   and takes the fault itself. Other REP instructions run up to the core's slice per call.
 * - The core splits 8-byte accesses in two 4-byte ones, so MMIO sees two.
 */
import { type CpuidSource, X86Cpu } from "./cpu.js";
import {
  setRegisters64,
  setSystemRegisters64,
  type X86Registers64,
  type X86Segment64,
  type X86SystemRegisters64,
} from "./cpu-state.js";
import {
  EV_CPUID,
  EV_CR_ACCESS,
  EV_DESC_TABLE,
  EV_EXCEPTION,
  EV_IO,
  EV_MMIO,
  EV_PAUSE,
  HOOK_DONE,
  HOOK_EXIT,
  HOOK_PASS,
  type HookResult,
  type X86Hooks,
} from "./hooks.js";
import { F_A32, F_A64, F_O32, F_O64, F_REP, F_REPNE } from "./instr.js";
import { type AccessSize, PAGE_SIZE, PhysMemory, type X86Devices } from "./memory.js";
import {
  AR_L,
  AR_UNUSABLE,
  CS,
  EFER_LMA,
  ES,
  FLAG_DF,
  FLAG_RF,
  GS,
  PF_VECTOR,
  UD_VECTOR,
} from "./regs.js";
import {
  CPL,
  CR0,
  CR3,
  CR4,
  CR8,
  EFER,
  EIP,
  EVENT_DEPTH,
  EXIT_REASON,
  GDTR_BASE,
  GDTR_BASE_HI,
  GDTR_LIMIT,
  HALTED,
  IDTR_BASE,
  IDTR_BASE_HI,
  IDTR_LIMIT,
  INHIBIT,
  INTR_LINE,
  NMI_PENDING,
  RIP_HI,
} from "./state.js";

/** X86EMUL_* (kvm_emulate.h): what the emulator and its callbacks return. */
export const X86EMUL_CONTINUE = 0;
export const X86EMUL_UNHANDLEABLE = 1;
export const X86EMUL_PROPAGATE_FAULT = 2;
export const X86EMUL_IO_NEEDED = 5;

/** Interrupt-shadow bits (KVM_X86_SHADOW_INT_*, the uapi's numbering). */
export const X86_SHADOW_INT_MOV_SS = 0x01;
export const X86_SHADOW_INT_STI = 0x02;

/**
 * A segment register by its descriptor's fields — struct kvm_segment's shape: a byte
 * limit, and `unusable` for a register loaded with a null selector.
 */
export interface X86SegmentFields {
  selector: number;
  base: bigint;
  limit: number;
  type: number;
  present: number;
  dpl: number;
  db: number;
  s: number;
  l: number;
  g: number;
  avl: number;
  unusable: number;
}

/** The system registers the emulator starts from (struct kvm_sregs' shape). */
export interface X86EmulateSregs {
  es: X86SegmentFields;
  cs: X86SegmentFields;
  ss: X86SegmentFields;
  ds: X86SegmentFields;
  fs: X86SegmentFields;
  gs: X86SegmentFields;
  tr: X86SegmentFields;
  ldt: X86SegmentFields;
  gdt: { base: bigint; limit: number };
  idt: { base: bigint; limit: number };
  cr0: bigint;
  cr2: bigint;
  cr3: bigint;
  cr4: bigint;
  cr8: bigint;
  efer: bigint;
}

/**
 * What reaches outside the CPU (the I/O half of struct x86_emulate_ops). A callback
 * returning X86EMUL_IO_NEEDED stops the instruction; it is emulated again later, when the
 * same call succeeds.
 */
export interface X86EmulateOps {
  /** Read `dst.length` bytes (≤ 4 per call) at guest-physical `gpa`. */
  readEmulated(gpa: number, dst: Uint8Array): number;
  /** Write `src` at `gpa`. */
  writeEmulated(gpa: number, src: Uint8Array): number;
  /** IN/INS: `count` elements of `size` bytes from `port` into `dst`. */
  pioInEmulated(size: number, port: number, count: number, dst: Uint8Array): number;
  /** OUT/OUTS: `count` elements of `size` bytes from `src` to `port`. */
  pioOutEmulated(size: number, port: number, count: number, src: Uint8Array): number;
}

/** One range of guest RAM. */
export interface X86EmulateRam {
  readonly base: number;
  readonly bytes: Uint8Array;
  /** Writes must go through writeEmulated (a read-only or dirty-logged slot). */
  readonly readonly: boolean;
}

/** The vCPU the emulator works for (the vCPU half of struct x86_emulate_ops). */
export interface X86EmulateVcpu {
  /** Changes whenever ramRanges() would answer differently. */
  ramGeneration(): number;
  /** Guest RAM below 4 GiB. */
  ramRanges(): Iterable<X86EmulateRam>;
  /** A byte of guest RAM at `gpa`, or -1 outside RAM (for ranges the core cannot map). */
  ramByte(gpa: number): number;
  /** CPUID as the guest sees it; a new function when the table changes. */
  cpuidSource(): CpuidSource;
  getRegs(): X86Registers64;
  getSregs(): X86EmulateSregs;
  /** The 512-byte FXSAVE image the guest's SSE state lives in. */
  fxsaveImage(): Uint8Array;
  /** The emulator changed the FXSAVE image. */
  fxsaveChanged(): void;
  /** GPR `reg` (ModRM numbering) = value. */
  writeGpr(reg: number, value: bigint): void;
  /** Load segment register `sreg` (ES, CS, SS, DS, FS, GS = 0…5). */
  setSegment(seg: X86SegmentFields, sreg: number): void;
  writeRip(rip: bigint): void;
  setRflags(rflags: number): void;
  getInterruptShadow(): number;
  setInterruptShadow(mask: number): void;
  /** The instruction raised `vector` (a #PF with its CR2). */
  queueException(vector: number, errorCode: number | undefined, cr2?: bigint): void;
  /** The bytes of the instruction just decoded (for error reports). */
  setInsnBytes(bytes: Uint8Array): void;
}

/** EV_MMIO's access kinds (hooks.ts). */
const MMIO_WRITE = 1;
const MMIO_FETCH = 2;
/** EV_CR_ACCESS [2] = 1: MOV from a control register. */
const CR_READ = 1;
/** EV_DESC_TABLE [1]: the stores (SGDT, SIDT, SLDT, STR) change no register. */
const DESC_TABLE_STORES = (1 << 0) | (1 << 1) | (1 << 4) | (1 << 5);

const STI_OPCODE = 0xfb;
const TWO32 = 2 ** 32;

/** The SSE part of the FXSAVE image: MXCSR and XMM0–XMM15. */
const FXSAVE_MXCSR = 24;
const FXSAVE_XMM = 160;
const XMM_BYTES = 256;

/** Debug registers as the emulator runs: no breakpoint armed (KVM checks those itself). */
const NO_BREAKPOINTS: X86SystemRegisters64["dr"] = [0n, 0n, 0n, 0n, 0xffff_0ff0n, 0x400n];

/** Nothing stopped the instruction (the value of `status` while it runs). */
const RUNNING = -1;

/** The state compared before and after the instruction: what must not change. */
const SYSTEM_STATE = [
  CR0,
  CR3,
  CR4,
  CR8,
  EFER,
  CPL,
  GDTR_BASE,
  GDTR_BASE_HI,
  GDTR_LIMIT,
  IDTR_BASE,
  IDTR_BASE_HI,
  IDTR_LIMIT,
] as const;
const SEG_WORDS = 5;
const SEG_COUNT = 8;

const NO_OPS: X86EmulateOps = {
  readEmulated: () => X86EMUL_UNHANDLEABLE,
  writeEmulated: () => X86EMUL_UNHANDLEABLE,
  pioInEmulated: () => X86EMUL_UNHANDLEABLE,
  pioOutEmulated: () => X86EMUL_UNHANDLEABLE,
};

/** INS, OUTS (6C–6F), MOVS, CMPS (A4–A7), STOS, LODS, SCAS (AA–AF). */
const isStringOpcode = (op: number): boolean =>
  (op >= 0x6c && op <= 0x6f) || (op >= 0xa4 && op <= 0xa7) || (op >= 0xaa && op <= 0xaf);

const u64 = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);

/**
 * Segment fields → the core's access-rights word: the descriptor's attribute bits in the
 * VMCS layout (type, S, DPL, P, AVL, L, D/B, G at bits 0–15), bit 16 = unusable.
 */
export function segmentAccessRights(v: X86SegmentFields): number {
  if (v.unusable || !v.present) return AR_UNUSABLE;
  return (
    ((v.type & 15) |
      ((v.s & 1) << 4) |
      ((v.dpl & 3) << 5) |
      ((v.present & 1) << 7) |
      ((v.avl & 1) << 12) |
      ((v.l & 1) << 13) |
      ((v.db & 1) << 14) |
      ((v.g & 1) << 15)) >>>
    0
  );
}

/** A segment as the core holds it. */
function coreSegment(v: X86SegmentFields, keepDpl: boolean): X86Segment64 {
  let ar = segmentAccessRights(v);
  // SS.DPL is the CPL even when SS is unusable (a null SS in 64-bit mode).
  if (keepDpl && (ar & AR_UNUSABLE) !== 0) ar |= (v.dpl & 3) << 5;
  return { selector: v.selector, base: v.base, limit: v.limit, ar };
}

/**
 * A segment's fields from its selector, base, limit and access-rights word (an unusable
 * segment reads as not present: some users do not keep `unusable`).
 */
export function segmentFields(
  selector: number,
  base: bigint,
  limit: number,
  ar: number,
): X86SegmentFields {
  const unusable = (ar >>> 16) & 1;
  return {
    selector,
    base,
    limit: limit >>> 0,
    type: ar & 15,
    present: unusable ? 0 : 1,
    dpl: (ar >>> 5) & 3,
    db: (ar >>> 14) & 1,
    s: (ar >>> 4) & 1,
    l: (ar >>> 13) & 1,
    g: (ar >>> 15) & 1,
    avl: (ar >>> 12) & 1,
    unusable,
  };
}

/**
 * struct x86_emulate_ctxt for one vCPU: the core, its view of guest-physical memory, and
 * what the instruction being emulated did. It is the core's devices and its hooks.
 * Allocate one per vCPU (alloc_emulate_ctxt) and keep it: the core's decoded code and RAM
 * map survive between calls.
 */
export class X86EmulateCtxt implements X86Devices, X86Hooks {
  readonly cpu: X86Cpu;
  readonly mem: PhysMemory;
  ops: X86EmulateOps = NO_OPS;
  /** The vCPU of the call in progress (set by begin). */
  vcpu!: X86EmulateVcpu;
  /** The RAM generation the core's map was built from. */
  private ramGeneration = -1;

  // ── the instruction in flight ──
  /** An X86EMUL_* code that stopped it (RUNNING while none did). */
  status = RUNNING;
  /** The exception it raised (-1 none), with its error code (-1 none) and #PF address. */
  faultVector = -1;
  faultError = -1;
  faultAddrLo = 0;
  faultAddrHi = 0;
  /** Decoding (not executing): a fetch from outside guest RAM makes it unhandleable. */
  decoding = false;
  fetchOutsideRam = false;
  /** What it was: its first opcode byte, and whether it is a REP string instruction. */
  opcode = 0;
  repString = false;

  // ── port I/O ──
  /** Elements a string IN reads this call (the REP count, capped). */
  insCount = 1;
  readonly inData = new Uint8Array(PAGE_SIZE);
  inPos = 0;
  inLen = 0;
  readonly outData = new Uint8Array(PAGE_SIZE);
  outPort = 0;
  outSize = 0;
  outCount = 0;
  /** A capped REP count: the register's width and the iterations held back (0n: none). */
  countWidth = 0;
  countRest = 0n;

  // ── before the step ──
  readonly gprs = new Int32Array(16);
  readonly gprsHi = new Int32Array(16);
  ripLo = 0;
  ripHi = 0;
  rflags = 0;
  retired = 0;
  readonly system = new Int32Array(SEG_COUNT * SEG_WORDS + SYSTEM_STATE.length);

  /** Buffers of one MMIO access, by size. */
  private readonly access: readonly Uint8Array[] = [
    new Uint8Array(0),
    new Uint8Array(1),
    new Uint8Array(2),
    new Uint8Array(0),
    new Uint8Array(4),
  ];

  constructor() {
    this.mem = new PhysMemory(this);
    this.cpu = new X86Cpu(this.mem);
    this.cpu.hooks = this;
  }

  // ── guest-physical memory ──

  /** The vCPU's RAM as the core's, rebuilt when it changed. */
  syncRam(): void {
    const vcpu = this.vcpu;
    const generation = vcpu.ramGeneration();
    if (generation === this.ramGeneration) return;
    const mem = this.mem;
    for (const r of [...mem.ranges]) if (r) mem.removeRam(r.base);
    for (const ram of vcpu.ramRanges()) {
      if (ram.base >= TWO32) continue;
      const bytes = ram.bytes.subarray(0, Math.min(ram.bytes.length, TWO32 - ram.base));
      try {
        mem.addRam(ram.base, bytes, ram.readonly);
      } catch {
        // Not mappable (alignment, too many ranges): its accesses take the EV_MMIO hook,
        // whose callbacks read and write RAM pieces themselves.
      }
    }
    this.ramGeneration = generation;
  }

  /** A byte of guest-physical memory (RAM only), or -1. */
  physByte(phys: number): number {
    const mem = this.mem;
    const e = mem.pageMap[phys >>> 12]!;
    if (e >= 0) return mem.mem8[e >>> 20]![((e & 0xfffff) << 12) | (phys & 0xfff)]!;
    return this.vcpu.ramByte(phys);
  }

  // ── state in ──

  /** The vCPU into the core, and the event state of a CPU between events. */
  loadState(): void {
    const cpu = this.cpu;
    const st = cpu.st;
    const vcpu = this.vcpu;
    // The core caches feature bits per answering function: a new table is a new function.
    const cpuid = vcpu.cpuidSource();
    if (cpu.cpuid !== cpuid) cpu.cpuid = cpuid;
    const s = vcpu.getSregs();
    setSystemRegisters64(cpu, {
      es: coreSegment(s.es, false),
      cs: coreSegment(s.cs, false),
      ss: coreSegment(s.ss, true),
      ds: coreSegment(s.ds, false),
      fs: coreSegment(s.fs, false),
      gs: coreSegment(s.gs, false),
      ldtr: coreSegment(s.ldt, false),
      tr: coreSegment(s.tr, false),
      gdt: s.gdt,
      idt: s.idt,
      cr0: s.cr0,
      cr2: s.cr2,
      cr3: s.cr3,
      cr4: s.cr4,
      cr8: s.cr8,
      efer: s.efer,
      dr: NO_BREAKPOINTS,
    });
    setRegisters64(cpu, vcpu.getRegs());
    st[INHIBIT] = 0;
    st[HALTED] = 0;
    st[NMI_PENDING] = 0;
    st[INTR_LINE] = 0;
    st[EVENT_DEPTH] = 0;
    cpu.pendingDebugTrap = false;
    cpu.wantWindow = 0;
    const fx = vcpu.fxsaveImage();
    cpu.fpu.xmm8.set(fx.subarray(FXSAVE_XMM, FXSAVE_XMM + XMM_BYTES));
    cpu.fpu.mxcsr = readLe32(fx, FXSAVE_MXCSR);
  }

  /** Start an instruction: nothing stopped, no I/O yet. */
  begin(vcpu: X86EmulateVcpu, ops: X86EmulateOps): void {
    this.vcpu = vcpu;
    this.ops = ops;
    this.status = RUNNING;
    this.faultVector = -1;
    this.faultError = -1;
    this.fetchOutsideRam = false;
    this.insCount = 1;
    this.inPos = 0;
    this.inLen = 0;
    this.outCount = 0;
    this.countWidth = 0;
    this.countRest = 0n;
    this.repString = false;
  }

  /** 64-bit mode (EFER.LMA and CS.L). */
  private longMode(): boolean {
    return (this.cpu.st[EFER]! & EFER_LMA) !== 0 && (this.cpu.segAr[CS]! & AR_L) !== 0;
  }

  /** The `len` bytes at CS:RIP (fewer where they cannot be read). */
  insnBytes(len: number): Uint8Array {
    const cpu = this.cpu;
    const st = cpu.st;
    const out = new Uint8Array(len);
    const long = this.longMode();
    for (let k = 0; k < len; k++) {
      let phys: number;
      if (long) {
        const at = (st[EIP]! >>> 0) + k;
        phys = cpu.translateFetch(at | 0, (st[RIP_HI]! + (at >= TWO32 ? 1 : 0)) | 0);
      } else {
        phys = cpu.translateFetch((cpu.segBase[CS]! + st[EIP]! + k) | 0);
      }
      const b = phys < 0 ? -1 : this.physByte(phys);
      if (b < 0) return out.subarray(0, k);
      out[k] = b;
    }
    return out;
  }

  /**
   * After decoding: note what the instruction is, save what the write-back compares, and
   * cap a REP INS/OUTS to what one call moves.
   */
  prepare(): void {
    const cpu = this.cpu;
    const st = cpu.st;
    const slot = cpu.dc.scratch;
    const op = cpu.dc.opcode[slot]!;
    const flags = cpu.dc.flags[slot]!;
    this.opcode = op;
    this.repString = (flags & (F_REP | F_REPNE)) !== 0 && isStringOpcode(op);
    this.gprs.set(cpu.regs.subarray(0, 16));
    this.gprsHi.set(cpu.regsHi.subarray(0, 16));
    this.ripLo = st[EIP]!;
    this.ripHi = st[RIP_HI]!;
    this.rflags = cpu.getEflags();
    this.retired = cpu.instructionCount;
    const sys = this.system;
    let k = 0;
    for (let n = 0; n < SEG_COUNT; n++) {
      sys[k++] = cpu.segSel[n]!;
      sys[k++] = cpu.segBase[n]!;
      sys[k++] = cpu.segBaseHi[n]!;
      sys[k++] = cpu.segLimit[n]!;
      sys[k++] = cpu.segAr[n]!;
    }
    for (const i of SYSTEM_STATE) sys[k++] = st[i]!;
    if (op >= 0x6c && op <= 0x6f && this.repString) this.capStringIo(op, flags);
  }

  /** A REP INS/OUTS: at most a page of data per call (Linux: pio_in_emulated's limits). */
  private capStringIo(op: number, flags: number): void {
    const cpu = this.cpu;
    const size = (op & 1) === 0 ? 1 : (flags & (F_O32 | F_O64)) !== 0 ? 4 : 2;
    const width = (flags & F_A64) !== 0 ? 64 : (flags & F_A32) !== 0 ? 32 : 16;
    const count = this.readCount(width);
    let n = PAGE_SIZE / size;
    if (op <= 0x6d) {
      // INS: no further than the destination's page, so all the data read from the port
      // lands unless the very first element faults (the port is read before it is probed).
      let di = cpu.regs[7]! >>> 0;
      if (width === 16) di &= 0xffff;
      const off = ((width === 64 ? 0 : cpu.segBase[ES]!) + di) & 0xfff;
      const down = (cpu.getEflags() & FLAG_DF) !== 0;
      n = Math.max(1, down ? Math.floor(off / size) + 1 : Math.floor((PAGE_SIZE - off) / size));
    }
    if (count <= BigInt(n)) {
      this.insCount = Number(count);
      return;
    }
    this.insCount = n;
    this.countWidth = width;
    this.countRest = count - BigInt(n);
    this.writeCount(width, BigInt(n));
  }

  private readCount(width: number): bigint {
    const cpu = this.cpu;
    if (width === 16) return BigInt(cpu.r16[2]!);
    if (width === 32) return BigInt(cpu.regs[1]! >>> 0);
    return u64(cpu.regs[1]!, cpu.regsHi[1]!);
  }

  private writeCount(width: number, v: bigint): void {
    const cpu = this.cpu;
    if (width === 16) cpu.r16[2] = Number(v);
    else if (width === 32) cpu.regs[1] = Number(v) | 0;
    else {
      cpu.regs[1] = Number(v & 0xffff_ffffn) | 0;
      cpu.regsHi[1] = Number(v >> 32n) | 0;
    }
  }

  // ── after the step ──

  /** What the instruction's outcome means for KVM. */
  complete(): number {
    const cpu = this.cpu;
    cpu.pendingDebugTrap = false;
    if (this.status !== RUNNING) return this.status;
    const unfinished = this.uncapCount();
    if (this.faultVector >= 0) {
      if (this.faultVector === UD_VECTOR) return X86EMUL_UNHANDLEABLE;
      if (this.repString && this.gprsChanged()) return this.commit(true);
      this.queueFault();
      return X86EMUL_PROPAGATE_FAULT;
    }
    if (cpu.st[EXIT_REASON] !== 0 || cpu.instructionCount === this.retired) {
      return X86EMUL_UNHANDLEABLE;
    }
    const segs = this.segmentsChanged();
    if (segs < 0) return X86EMUL_UNHANDLEABLE;
    return this.commit(unfinished, segs);
  }

  /** Give a capped REP count back the iterations held back; true when some remain. */
  private uncapCount(): boolean {
    if (this.countRest === 0n) return false;
    const left = this.readCount(this.countWidth) + this.countRest;
    this.writeCount(this.countWidth, left);
    return left !== 0n;
  }

  private gprsChanged(): boolean {
    const cpu = this.cpu;
    for (let r = 0; r < 16; r++) {
      if (cpu.regs[r] !== this.gprs[r] || cpu.regsHi[r] !== this.gprsHi[r]) return true;
    }
    return false;
  }

  /**
   * Which of ES, CS, SS, DS, FS, GS the instruction loaded (bit n = VCPU_SREG n: a far
   * JMP/CALL/RET, MOV/POP to a segment register, LDS…), or -1 when it changed state this
   * emulator does not write back (LDTR, TR, control registers, EFER, CPL, GDTR/IDTR).
   */
  private segmentsChanged(): number {
    const cpu = this.cpu;
    const sys = this.system;
    let changed = 0;
    for (let n = 0; n < SEG_COUNT; n++) {
      const k = n * SEG_WORDS;
      if (
        sys[k] !== cpu.segSel[n] ||
        sys[k + 1] !== cpu.segBase[n] ||
        sys[k + 2] !== cpu.segBaseHi[n] ||
        sys[k + 3] !== cpu.segLimit[n] ||
        sys[k + 4] !== cpu.segAr[n]
      ) {
        if (n > GS) return -1;
        changed |= 1 << n;
      }
    }
    let k = SEG_COUNT * SEG_WORDS;
    for (const i of SYSTEM_STATE) if (sys[k++] !== cpu.st[i]) return -1;
    return changed;
  }

  /** The fault the instruction raised, queued for the guest (#PF: with its CR2). */
  private queueFault(): void {
    const error = this.faultError >= 0 ? this.faultError : undefined;
    if (this.faultVector === PF_VECTOR) {
      this.vcpu.queueException(PF_VECTOR, error, u64(this.faultAddrLo, this.faultAddrHi));
    } else {
      this.vcpu.queueException(this.faultVector, error);
    }
  }

  /**
   * Write back what the instruction did. `stay`: it stopped part-way (a REP string
   * instruction after some iterations) and RIP stays at it.
   */
  private commit(stay: boolean, segs = 0): number {
    const cpu = this.cpu;
    const st = cpu.st;
    const vcpu = this.vcpu;
    if (stay) {
      st[EIP] = this.ripLo;
      st[RIP_HI] = this.ripHi;
    }
    // OUT data first: if KVM refuses it, nothing has been written back.
    if (this.outCount > 0) {
      const data = this.outData.subarray(0, this.outCount * this.outSize);
      const r = this.ops.pioOutEmulated(this.outSize, this.outPort, this.outCount, data);
      if (r !== X86EMUL_CONTINUE) return r;
    }
    for (let r = 0; r < 16; r++) {
      const lo = cpu.regs[r]!;
      const hi = cpu.regsHi[r]!;
      if (lo !== this.gprs[r] || hi !== this.gprsHi[r]) vcpu.writeGpr(r, u64(lo, hi));
    }
    // Segment registers the instruction loaded (ctxt->ops->set_segment), before RIP: a far
    // jump's new CS decides how RIP is read back.
    for (let n = 0; segs !== 0; n++, segs >>>= 1) {
      if ((segs & 1) === 0) continue;
      const base = u64(cpu.segBase[n]!, cpu.segBaseHi[n]!);
      vcpu.setSegment(segmentFields(cpu.segSel[n]!, base, cpu.segLimit[n]!, cpu.segAr[n]!), n);
    }
    const moved = st[EIP] !== this.ripLo || st[RIP_HI] !== this.ripHi;
    if (moved) vcpu.writeRip(u64(st[EIP]!, st[RIP_HI]!));
    // RF is cleared by an instruction that completes.
    const rflags = (moved ? cpu.getEflags() & ~FLAG_RF : cpu.getEflags()) >>> 0;
    if (rflags !== this.rflags >>> 0) vcpu.setRflags(rflags);
    this.storeSse();
    if (moved) this.updateInterruptShadow();
    return X86EMUL_CONTINUE;
  }

  /** SSE registers an instruction changed go back into the FXSAVE image. */
  private storeSse(): void {
    const fpu = this.cpu.fpu;
    const fx = this.vcpu.fxsaveImage();
    let changed = readLe32(fx, FXSAVE_MXCSR) !== fpu.mxcsr >>> 0;
    for (let i = 0; i < XMM_BYTES && !changed; i++) {
      if (fx[FXSAVE_XMM + i] !== fpu.xmm8[i]) changed = true;
    }
    if (!changed) return;
    fx.set(fpu.xmm8, FXSAVE_XMM);
    for (let k = 0; k < 4; k++) fx[FXSAVE_MXCSR + k] = (fpu.mxcsr >>> (8 * k)) & 0xff;
    this.vcpu.fxsaveChanged();
  }

  /**
   * toggle_interruptibility: STI or MOV SS opens a shadow over the next instruction (not
   * when that same shadow is already open); any other instruction ends one.
   */
  private updateInterruptShadow(): void {
    const vcpu = this.vcpu;
    const current = vcpu.getInterruptShadow();
    let mask = 0;
    if (this.cpu.st[INHIBIT] !== 0) {
      mask = this.opcode === STI_OPCODE ? X86_SHADOW_INT_STI : X86_SHADOW_INT_MOV_SS;
    }
    if ((current & mask) !== 0) mask = 0;
    if (current === 0 && mask === 0) return;
    vcpu.setInterruptShadow(mask);
  }

  // ── X86Hooks ──

  onEvent(cpu: X86Cpu, kind: number): HookResult {
    const x = cpu.exitInfo;
    if (kind === EV_MMIO && x[3] === MMIO_FETCH) return this.onFetch(x);
    // Once the instruction stopped, nothing more reaches KVM.
    if (this.status !== RUNNING || this.faultVector >= 0) return HOOK_EXIT;
    switch (kind) {
      case EV_MMIO:
        return this.onMmio(x);
      case EV_IO:
        return this.onIo(x);
      case EV_EXCEPTION:
        // INT n, INT3, INTO, INT1 would be delivered through the IDT: not emulated.
        if (x[3] !== 0) return this.stop(X86EMUL_UNHANDLEABLE);
        this.faultVector = x[1]!;
        this.faultError = x[2]!;
        this.faultAddrLo = x[4]!;
        this.faultAddrHi = x[5]!;
        return HOOK_EXIT;
      case EV_CPUID:
      case EV_PAUSE:
        return HOOK_PASS;
      case EV_CR_ACCESS:
        return x[2] === CR_READ ? HOOK_PASS : this.stop(X86EMUL_UNHANDLEABLE);
      case EV_DESC_TABLE:
        return ((DESC_TABLE_STORES >>> x[1]!) & 1) !== 0
          ? HOOK_PASS
          : this.stop(X86EMUL_UNHANDLEABLE);
      default:
        return this.stop(X86EMUL_UNHANDLEABLE);
    }
  }

  private stop(status: number): HookResult {
    this.status = status;
    return HOOK_EXIT;
  }

  /** Code outside the core's RAM: a memslot's byte, else outside guest RAM. */
  private onFetch(x: Int32Array): HookResult {
    const b = this.physByte(x[1]! >>> 0);
    if (b >= 0) {
      x[4] = b;
      return HOOK_DONE;
    }
    // Read-ahead past the instruction may touch such memory; only its own bytes count.
    if (this.decoding) this.fetchOutsideRam = true;
    return HOOK_EXIT;
  }

  /** A data access outside writable RAM: read_emulated / write_emulated. */
  private onMmio(x: Int32Array): HookResult {
    const gpa = x[1]! >>> 0;
    const size = x[2]!;
    const buf = this.access[size]!;
    if (x[3] === MMIO_WRITE) {
      const v = x[4]!;
      for (let k = 0; k < size; k++) buf[k] = (v >>> (8 * k)) & 0xff;
      const r = this.ops.writeEmulated(gpa, buf);
      return r === X86EMUL_CONTINUE ? HOOK_DONE : this.stop(r);
    }
    const r = this.ops.readEmulated(gpa, buf);
    if (r !== X86EMUL_CONTINUE) return this.stop(r);
    let v = 0;
    for (let k = size - 1; k >= 0; k--) v = (v << 8) | buf[k]!;
    x[4] = v;
    return HOOK_DONE;
  }

  /**
   * Port I/O, asked once per instruction before any element moves. IN data is fetched
   * now (IO_NEEDED stops the instruction cleanly); OUT data is collected by ioWrite.
   */
  private onIo(x: Int32Array): HookResult {
    const port = x[1]!;
    const size = x[2]!;
    if (x[3] === 1) {
      const n = x[4] === 1 ? this.insCount : 1;
      if (n === 0) return HOOK_PASS;
      const r = this.ops.pioInEmulated(size, port, n, this.inData.subarray(0, n * size));
      if (r !== X86EMUL_CONTINUE) return this.stop(r);
      this.inPos = 0;
      this.inLen = n * size;
      return HOOK_PASS;
    }
    this.outPort = port;
    this.outSize = size;
    this.outCount = 0;
    return HOOK_PASS;
  }

  // ── X86Devices (what the hooks let through) ──

  ioRead(_port: number, size: AccessSize): number {
    const at = this.inPos;
    if (at + size > this.inLen) return size === 4 ? 0xffff_ffff : (1 << (size * 8)) - 1;
    this.inPos = at + size;
    let v = 0;
    for (let k = size - 1; k >= 0; k--) v = v * 256 + this.inData[at + k]!;
    return v;
  }

  ioWrite(port: number, size: AccessSize, value: number): void {
    const at = this.outCount * size;
    if (port !== this.outPort || size !== this.outSize || at + size > PAGE_SIZE) {
      this.status = X86EMUL_UNHANDLEABLE;
      return;
    }
    for (let k = 0; k < size; k++) this.outData[at + k] = (value >>> (8 * k)) & 0xff;
    this.outCount++;
  }

  // Every MMIO access is claimed by the hook: these see none.
  mmioRead(_addr: number, size: AccessSize): number {
    return size === 4 ? 0xffff_ffff : (1 << (size * 8)) - 1;
  }

  mmioWrite(): void {}
}

function readLe32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

/**
 * Emulate the instruction at the vCPU's CS:RIP (x86_decode_emulated_instruction +
 * x86_emulate_insn, and the register write-back of x86_emulate_instruction). Returns
 * X86EMUL_CONTINUE, X86EMUL_IO_NEEDED, X86EMUL_PROPAGATE_FAULT or X86EMUL_UNHANDLEABLE;
 * the bytes decoded go to vcpu.setInsnBytes. With `skipOnly` (EMULTYPE_SKIP) the
 * instruction is only skipped.
 */
export function x86EmulateInsn(
  ctxt: X86EmulateCtxt,
  vcpu: X86EmulateVcpu,
  ops: X86EmulateOps,
  skipOnly: boolean,
): number {
  const cpu = ctxt.cpu;
  ctxt.begin(vcpu, ops);
  ctxt.syncRam();
  ctxt.loadState();
  ctxt.decoding = true;
  const len = cpu.decodeAtRip();
  vcpu.setInsnBytes(ctxt.insnBytes(len));
  ctxt.decoding = false;
  if (ctxt.fetchOutsideRam) return X86EMUL_UNHANDLEABLE;
  // A page-table read of the fetch may have needed the hypervisor's caller.
  if (ctxt.status !== RUNNING) return ctxt.status;
  if (skipOnly) return skipInstruction(vcpu, ctxt, len);
  ctxt.prepare();
  cpu.step();
  return ctxt.complete();
}

/** EMULTYPE_SKIP: RIP past the instruction (RF cleared), nothing executed. */
function skipInstruction(vcpu: X86EmulateVcpu, ctxt: X86EmulateCtxt, len: number): number {
  if (len === 0) return X86EMUL_UNHANDLEABLE;
  const cpu = ctxt.cpu;
  const st = cpu.st;
  const next = (st[EIP]! >>> 0) + len;
  const long = (st[EFER]! & EFER_LMA) !== 0 && (cpu.segAr[CS]! & AR_L) !== 0;
  vcpu.writeRip(long ? u64(next, st[RIP_HI]! + (next >= TWO32 ? 1 : 0)) : BigInt(next % TWO32));
  const rflags = cpu.getEflags() >>> 0;
  if ((rflags & FLAG_RF) !== 0) vcpu.setRflags(rflags & ~FLAG_RF);
  return X86EMUL_CONTINUE;
}
