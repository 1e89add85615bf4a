/**
 * KVM's x86 instruction emulator (arch/x86/kvm/emulate.c, and the decode-and-execute step
 * of x86_emulate_instruction) for kvm_intel, on the software x86 core. In Linux it is
 * part of kvm.ko; here kvm-kernel may not import the core, so kvm_intel hands it over as
 * the model-only `emulateInstruction` member of its ops table (kvm-x86-ops.ts), and KVM
 * keeps everything around it: the MMIO and PIO exits, the read cache and replay,
 * failures → #UD / KVM_EXIT_INTERNAL_ERROR.
 *
 * Each vCPU gets one X86Cpu, created on its first emulation and kept (struct
 * x86_emulate_ctxt, allocated once per vCPU). A call:
 *
 *   1. maps the memslots as the core's RAM (rebuilt when their generation moves):
 *      read-only slots, and slots logging dirty pages, read-only — so their writes reach
 *      the EV_MMIO hook and go through writeEmulated, which writes RAM and marks it dirty;
 *   2. loads KVM's view of the vCPU (KVM_GET_REGS/SREGS, the FXSAVE image's SSE state,
 *      the CPUID table for CPUID and feature checks) and decodes the instruction at
 *      CS:RIP, leaving its bytes in vcpu.emulatedInsnBytes;
 *   3. executes exactly that instruction. The core walks the guest's page tables itself;
 *      what leaves RAM comes back through its hooks: MMIO data accesses → readEmulated /
 *      writeEmulated, port I/O → pioInEmulated (before the instruction consumes the data)
 *      and pioOutEmulated (once, with every element, after it retired); an exception is
 *      claimed, not delivered;
 *   4. writes back what the instruction changed: GPRs, the segment registers it loaded
 *      (set_segment), RIP, RFLAGS, SSE state, the interrupt shadow.
 *
 * Return values (X86EMUL_*): CONTINUE (retired — or a REP string instruction advanced and
 * stays at RIP), IO_NEEDED (a callback asked for userspace: nothing is written back, KVM
 * replays the instruction), PROPAGATE_FAULT (the exception is queued with
 * kvmQueueException), UNHANDLEABLE (a fetch from outside guest RAM, #UD, or an
 * instruction that would change state this emulator does not write back: LDTR, TR, CPL,
 * control registers other than by reading them, descriptor-table registers, MSRs, debug
 * registers, TLBs, the halt state, software interrupts).
 *
 * Deviations from Linux's emulator:
 * - REP INS/OUTS move up to a page of data per call (INS no further than the destination's
 *   page, like pio_in_emulated; OUTS as many as fit the PIO page), so a REP OUTS of n ≤
 *   4096/size elements is one KVM_EXIT_IO with count n, where Linux exits per element.
 * - A REP string instruction that faults after some iterations keeps them (registers
 *   written back, RIP at the instruction, no exception queued): the guest runs it again
 *   and takes the fault itself. Other REP instructions run up to the core's slice per call.
 * - The core splits 8-byte accesses in two 4-byte ones, so MMIO sees two.
 */
import {
  EMULTYPE_SKIP,
  getRegs,
  getSregs,
  gfnToMemslot,
  KVM_REQ_EVENT,
  type KvmVcpu,
  kvmCpuid,
  kvmMakeRequest,
  kvmQueueException,
  kvmRegisterWrite,
  kvmRipWrite,
  kvmSetRflags,
  X86EMUL_CONTINUE,
  X86EMUL_PROPAGATE_FAULT,
  X86EMUL_UNHANDLEABLE,
  type X86EmulateOps,
} from "@glassvm/kvm-kernel";
import {
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY,
  KVM_X86_SHADOW_INT_MOV_SS,
  KVM_X86_SHADOW_INT_STI,
  type KvmCpuidEntry2,
  type KvmSegment,
} from "@glassvm/kvm-kernel/uapi";
import {
  type AccessSize,
  type HookResult,
  hooks,
  instr,
  PAGE_SIZE,
  PhysMemory,
  regs,
  setRegisters64,
  setSystemRegisters64,
  state,
  X86Cpu,
  type X86Devices,
  type X86Hooks,
  type X86Segment64,
  type X86SystemRegisters64,
} from "@glassvm/x86";
import { kvmSegmentFromVmx, vmxSegmentAccessRights } from "./vmx_segments.js";

const {
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
} = hooks;
const {
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
} = state;
const { AR_L, AR_UNUSABLE, CS, EFER_LMA, ES, FLAG_DF, FLAG_RF, GS, PF_VECTOR, UD_VECTOR } = regs;
const { F_A32, F_A64, F_O32, F_O64, F_REP, F_REPNE } = instr;

/** EV_MMIO's access kinds (hooks.ts). */
const MMIO_WRITE = 1;
const MMIO_FETCH = 2;
/** EV_CR_ACCESS [2] = 1: MOV from a control register. */
const CR_READ = 1;
/** EV_DESC_TABLE [1]: the stores (SGDT, SIDT, SLDT, STR) change no register. */
const DESC_TABLE_STORES = (1 << 0) | (1 << 1) | (1 << 4) | (1 << 5);

const STI_OPCODE = 0xfb;
const TWO32 = 2 ** 32;

/** The SSE part of the FXSAVE image (vcpu.arch.guestFpu): MXCSR and XMM0–XMM15. */
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

/** A kvm_segment as the core holds it: the VMCS access-rights layout. */
function coreSegment(v: KvmSegment, keepDpl: boolean): X86Segment64 {
  let ar = vmxSegmentAccessRights(v);
  // SS.DPL is the CPL even when SS is unusable (a null SS in 64-bit mode), as in the VMCS.
  if (keepDpl && (ar & AR_UNUSABLE) !== 0) ar |= (v.dpl & 3) << 5;
  return { selector: v.selector, base: v.base, limit: v.limit, ar };
}

/**
 * struct x86_emulate_ctxt for one vCPU: the core, its view of guest-physical memory, and
 * what the instruction being emulated did. It is the core's devices and its hooks.
 */
class X86EmulateCtxt implements X86Devices, X86Hooks {
  readonly cpu: X86Cpu;
  readonly mem: PhysMemory;
  ops: X86EmulateOps = NO_OPS;
  /** The memslot generation the core's RAM map was built from. */
  private slotsGeneration = -1;
  /** The CPUID table the core's CPUID answers from. */
  private cpuidEntries: readonly KvmCpuidEntry2[] | null = null;

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

  constructor(readonly vcpu: KvmVcpu) {
    this.mem = new PhysMemory(this);
    this.cpu = new X86Cpu(this.mem);
    this.cpu.hooks = this;
  }

  /**
   * CPUID answers from the vCPU's KVM_SET_CPUID2 table. The core caches feature bits per
   * answering function, so a new table gets a new function.
   */
  private syncCpuid(): void {
    const vcpu = this.vcpu;
    const entries = vcpu.arch.cpuidEntries;
    if (entries === this.cpuidEntries) return;
    this.cpuidEntries = entries;
    this.cpu.cpuid = (leaf, subleaf, out) => {
      const r = kvmCpuid(vcpu, leaf, subleaf, false);
      out[0] = r.eax;
      out[1] = r.ebx;
      out[2] = r.ecx;
      out[3] = r.edx;
    };
  }

  // ── guest-physical memory ──

  /** The memslots (address space 0) as the core's RAM, rebuilt when they changed. */
  syncMemslots(): void {
    const as = this.vcpu.kvm.memslots[0]!;
    if (as.generation === this.slotsGeneration) return;
    const mem = this.mem;
    for (const r of [...mem.ranges]) if (r) mem.removeRam(r.base);
    for (const slot of as.slots) {
      const base = slot.baseGfn * PAGE_SIZE;
      if (base >= TWO32) continue;
      const bytes = slot.bytes.subarray(0, Math.min(slot.bytes.length, TWO32 - base));
      const readonly = (slot.flags & (KVM_MEM_READONLY | KVM_MEM_LOG_DIRTY_PAGES)) !== 0;
      try {
        mem.addRam(base, bytes, readonly);
      } catch {
        // Not mappable (alignment, too many ranges): its accesses take the EV_MMIO hook,
        // whose callbacks read and write RAM pieces themselves.
      }
    }
    this.slotsGeneration = as.generation;
  }

  /** A byte of guest-physical memory (RAM only), or -1. */
  physByte(phys: number): number {
    const mem = this.mem;
    const e = mem.pageMap[phys >>> 12]!;
    if (e >= 0) return mem.mem8[e >>> 20]![((e & 0xfffff) << 12) | (phys & 0xfff)]!;
    const slot = gfnToMemslot(this.vcpu.kvm, Math.floor(phys / PAGE_SIZE));
    return slot ? slot.bytes[phys - slot.baseGfn * PAGE_SIZE]! : -1;
  }

  // ── state in ──

  /** KVM's view of the vCPU into the core, and the event state of a CPU between events. */
  loadState(): void {
    const cpu = this.cpu;
    const st = cpu.st;
    this.syncCpuid();
    const s = getSregs(this.vcpu);
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
    setRegisters64(cpu, getRegs(this.vcpu));
    st[INHIBIT] = 0;
    st[HALTED] = 0;
    st[NMI_PENDING] = 0;
    st[INTR_LINE] = 0;
    st[EVENT_DEPTH] = 0;
    cpu.pendingDebugTrap = false;
    cpu.wantWindow = 0;
    const fx = this.vcpu.arch.guestFpu;
    cpu.fpu.xmm8.set(fx.subarray(FXSAVE_XMM, FXSAVE_XMM + XMM_BYTES));
    cpu.fpu.mxcsr = readLe32(fx, FXSAVE_MXCSR);
  }

  /** Start an instruction: nothing stopped, no I/O yet. */
  begin(ops: X86EmulateOps): void {
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

  /** kvm_queue_exception for the fault the instruction raised (#PF: CR2 too). */
  private queueFault(): void {
    const vcpu = this.vcpu;
    const error = this.faultError >= 0 ? this.faultError : undefined;
    if (this.faultVector === PF_VECTOR) {
      const addr = u64(this.faultAddrLo, this.faultAddrHi);
      // KVM's injection delivers no #PF payload: CR2 is the emulator's to write.
      vcpu.arch.cr2 = addr;
      kvmQueueException(vcpu, PF_VECTOR, error, addr);
    } else {
      kvmQueueException(vcpu, this.faultVector, error);
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
      if (lo !== this.gprs[r] || hi !== this.gprsHi[r]) kvmRegisterWrite(vcpu, r, u64(lo, hi));
    }
    // Segment registers the instruction loaded (ctxt->ops->set_segment), before RIP: a far
    // jump's new CS decides how RIP is read back.
    for (let n = 0; segs !== 0; n++, segs >>>= 1) {
      if ((segs & 1) === 0) continue;
      const seg = kvmSegmentFromVmx(
        cpu.segSel[n]!,
        u64(cpu.segBase[n]!, cpu.segBaseHi[n]!),
        cpu.segLimit[n]!,
        cpu.segAr[n]!,
      );
      vcpu.kvm.ops.setSegment(vcpu, seg, n);
    }
    const moved = st[EIP] !== this.ripLo || st[RIP_HI] !== this.ripHi;
    if (moved) kvmRipWrite(vcpu, u64(st[EIP]!, st[RIP_HI]!));
    // RF is cleared by an instruction that completes.
    const rflags = (moved ? cpu.getEflags() & ~FLAG_RF : cpu.getEflags()) >>> 0;
    if (rflags !== this.rflags >>> 0) kvmSetRflags(vcpu, rflags);
    this.storeSse();
    if (moved) this.updateInterruptShadow();
    return X86EMUL_CONTINUE;
  }

  /** SSE registers an instruction changed go back into the FXSAVE image. */
  private storeSse(): void {
    const fpu = this.cpu.fpu;
    const fx = this.vcpu.arch.guestFpu;
    let changed = readLe32(fx, FXSAVE_MXCSR) !== fpu.mxcsr >>> 0;
    for (let i = 0; i < XMM_BYTES && !changed; i++) {
      if (fx[FXSAVE_XMM + i] !== fpu.xmm8[i]) changed = true;
    }
    if (!changed) return;
    fx.set(fpu.xmm8, FXSAVE_XMM);
    for (let k = 0; k < 4; k++) fx[FXSAVE_MXCSR + k] = (fpu.mxcsr >>> (8 * k)) & 0xff;
    this.vcpu.arch.guestFpuDirty = true;
  }

  /**
   * toggle_interruptibility: STI or MOV SS opens a shadow over the next instruction (not
   * when that same shadow is already open); any other instruction ends one.
   */
  private updateInterruptShadow(): void {
    const vcpu = this.vcpu;
    const vops = vcpu.kvm.ops;
    const current = vops.getInterruptShadow(vcpu);
    let mask = 0;
    if (this.cpu.st[INHIBIT] !== 0) {
      mask = this.opcode === STI_OPCODE ? KVM_X86_SHADOW_INT_STI : KVM_X86_SHADOW_INT_MOV_SS;
    }
    if ((current & mask) !== 0) mask = 0;
    if (current === 0 && mask === 0) return;
    vops.setInterruptShadow(vcpu, mask);
    if (mask === 0) kvmMakeRequest(vcpu, KVM_REQ_EVENT);
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

/** alloc_emulate_ctxt: one per vCPU, on its first emulation. */
const contexts = new WeakMap<KvmVcpu, X86EmulateCtxt>();

function emulateCtxt(vcpu: KvmVcpu): X86EmulateCtxt {
  let ctxt = contexts.get(vcpu);
  if (!ctxt) {
    ctxt = new X86EmulateCtxt(vcpu);
    contexts.set(vcpu, ctxt);
  }
  return ctxt;
}

/**
 * Emulate the instruction at the vCPU's CS:RIP (kvm_intel's `emulateInstruction`: Linux's
 * x86_decode_emulated_instruction + x86_emulate_insn and the register write-back of
 * x86_emulate_instruction). Returns X86EMUL_CONTINUE, X86EMUL_IO_NEEDED,
 * X86EMUL_PROPAGATE_FAULT or X86EMUL_UNHANDLEABLE; the bytes decoded are left in
 * vcpu.emulatedInsnBytes. With EMULTYPE_SKIP the instruction is only skipped.
 */
export function vmxEmulateInstruction(
  vcpu: KvmVcpu,
  ops: X86EmulateOps,
  emulationType: number,
): number {
  const ctxt = emulateCtxt(vcpu);
  const cpu = ctxt.cpu;
  ctxt.begin(ops);
  ctxt.syncMemslots();
  ctxt.loadState();
  ctxt.decoding = true;
  const len = cpu.decodeAtRip();
  vcpu.emulatedInsnBytes = ctxt.insnBytes(len);
  ctxt.decoding = false;
  if (ctxt.fetchOutsideRam) return X86EMUL_UNHANDLEABLE;
  // A page-table read of the fetch may have needed userspace.
  if (ctxt.status !== RUNNING) return ctxt.status;
  if ((emulationType & EMULTYPE_SKIP) !== 0) return skipInstruction(vcpu, ctxt, len);
  ctxt.prepare();
  cpu.step();
  return ctxt.complete();
}

/** EMULTYPE_SKIP: RIP past the instruction (RF cleared), nothing executed. */
function skipInstruction(vcpu: KvmVcpu, ctxt: X86EmulateCtxt, len: number): number {
  if (len === 0) return X86EMUL_UNHANDLEABLE;
  const cpu = ctxt.cpu;
  const st = cpu.st;
  const next = (st[EIP]! >>> 0) + len;
  const long = (st[EFER]! & EFER_LMA) !== 0 && (cpu.segAr[CS]! & AR_L) !== 0;
  kvmRipWrite(vcpu, long ? u64(next, st[RIP_HI]! + (next >= TWO32 ? 1 : 0)) : BigInt(next % TWO32));
  const rflags = cpu.getEflags() >>> 0;
  if ((rflags & FLAG_RF) !== 0) kvmSetRflags(vcpu, rflags & ~FLAG_RF);
  return X86EMUL_CONTINUE;
}
