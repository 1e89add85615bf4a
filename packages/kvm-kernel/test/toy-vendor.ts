/**
 * "toyvt": a small scripted vendor module for kvm-kernel's own tests. It plays the part
 * kvm_intel plays, on a deliberately tiny piece of "silicon": a flat 32-bit CPU that runs
 * a handful of real x86 encodings straight from the memslots and leaves to KVM on the same
 * events VT-x would, with VT-x's basic exit reasons and exit-qualification layouts. It
 * lets these tests drive every path of the KVM core with real guest bytes, without the
 * vmx package (which may not be imported here).
 *
 * Instructions: NOP, HLT, MOV r8/r32 imm, MOV AL/EAX <-> [moffs32], INC/DEC r32, JMP/JNZ
 * rel8, IN/OUT (imm8 and DX forms, 8/16/32-bit), REP OUTSB / REP INSB, CPUID, RDMSR,
 * WRMSR, CLI, STI, UD2, INT3. Exceptions and interrupts are delivered through a toy
 * vector table: the 32-bit handler address for vector v is at physical 4·v.
 */
import {
  EXIT_FASTPATH_NONE,
  gfnToMemslot,
  KVM_ISA_VMX,
  KVM_REQ_EVENT,
  type KvmExitInfo,
  type KvmVcpu,
  type KvmVendorModule,
  type KvmX86Ops,
  kvmClearExceptionQueue,
  kvmClearInterruptQueue,
  kvmEmulateCpuid,
  kvmEmulateHalt,
  kvmEmulateRdmsr,
  kvmEmulateWrmsr,
  kvmFastPio,
  kvmGetLinearRip,
  kvmGetMsrCommon,
  kvmMakeRequest,
  kvmMmuPageFault,
  kvmModule,
  kvmPrepareUnexpectedReasonExit,
  kvmQueueException,
  kvmRegisterRead,
  kvmRegisterWrite,
  kvmRipRead,
  kvmRipWrite,
  kvmSetMsrCommon,
  markPageDirtyInSlot,
  NR_VCPU_REGS,
  PFERR_FETCH_MASK,
  PFERR_WRITE_MASK,
  traceKvmExit,
  VCPU_REGS_RIP,
  VCPU_SREG_CS,
  VCPU_SREG_SS,
  X86EMUL_CONTINUE,
  X86EMUL_UNHANDLEABLE,
  type X86EmulateOps,
  x86EmulateInstruction,
} from "../src/index.js";
import {
  KVM_EXIT_DEBUG,
  KVM_EXIT_FAIL_ENTRY,
  KVM_EXIT_SHUTDOWN,
  KVM_GUESTDBG_SINGLESTEP,
  KVM_GUESTDBG_USE_HW_BP,
  KVM_GUESTDBG_USE_SW_BP,
  type KvmCpuidEntry2,
  type KvmDtable,
  type KvmSegment,
} from "../src/uapi/index.js";

/** VT-x basic exit reasons the toy produces (SDM Appendix C). */
export const EXIT_REASON_EXCEPTION_NMI = 0;
export const EXIT_REASON_EXTERNAL_INTERRUPT = 1;
export const EXIT_REASON_TRIPLE_FAULT = 2;
export const EXIT_REASON_INTERRUPT_WINDOW = 7;
export const EXIT_REASON_NMI_WINDOW = 8;
export const EXIT_REASON_CPUID = 10;
export const EXIT_REASON_HLT = 12;
export const EXIT_REASON_IO_INSTRUCTION = 30;
export const EXIT_REASON_MSR_READ = 31;
export const EXIT_REASON_MSR_WRITE = 32;
export const EXIT_REASON_INVALID_STATE = 33;
export const EXIT_REASON_EPT_VIOLATION = 48;
export const VMX_EXIT_REASONS_FAILED_VMENTRY = 0x8000_0000;

const NAMES: Record<number, string> = {
  0: "EXCEPTION_NMI",
  1: "EXTERNAL_INTERRUPT",
  2: "TRIPLE_FAULT",
  7: "INTERRUPT_WINDOW",
  8: "NMI_WINDOW",
  10: "CPUID",
  12: "HLT",
  30: "IO_INSTRUCTION",
  31: "MSR_READ",
  32: "MSR_WRITE",
  33: "INVALID_STATE",
  48: "EPT_VIOLATION",
};

const IF = 0x200;
const TF = 0x100;
const ZF = 0x40;

interface Exit {
  reason: number;
  qual: bigint;
  gpa: number;
  insnLen: number;
  intrInfo: number;
  errorCode: number;
}

interface Injection {
  vector: number;
  /** VT-x event type: 0 external interrupt, 2 NMI, 3 hardware exception, 6 soft exception. */
  type: number;
}

/** A fault inside one instruction (returned, never thrown, as the real core does). */
type Fault = { kind: "exception"; vector: number } | { kind: "ept"; gpa: number; err: number };

/** The toy's per-vCPU "hardware" state (what a VMCS would hold). */
export class ToyCpu {
  readonly gpr = new Uint32Array(8);
  eip = 0;
  eflags = 2;
  readonly segs: KvmSegment[] = [];
  idt: KvmDtable = { base: 0n, limit: 0xffff };
  gdt: KvmDtable = { base: 0n, limit: 0xffff };
  cr0 = 0;
  cr4 = 0;
  efer = 0;
  /** 1 = blocking by STI, 2 = blocking by MOV SS (interruptibility state). */
  shadow = 0;
  nmiMasked = false;
  exceptionBitmap = 0;
  irqWindowExiting = false;
  nmiWindowExiting = false;
  injection: Injection | null = null;
  exit: Exit = { reason: 0, qual: 0n, gpa: 0, insnLen: 0, intrInfo: 0, errorCode: 0 };
  readonly msrs = new Map<number, bigint>();
  freed = false;
  /** Instructions per entry before the "host timer" forces an EXTERNAL_INTERRUPT exit. */
  budget = 10_000;
  /** Instructions retired in the guest so far. */
  retired = 0;
  mmuLoads = 0;

  constructor(readonly vcpu: KvmVcpu) {
    for (let i = 0; i < 8; i++) this.segs.push(seg(0, 0n, 0xffff, 3));
  }
}

function seg(selector: number, base: bigint, limit: number, type: number, s = 1): KvmSegment {
  return {
    base,
    limit,
    selector,
    type,
    present: 1,
    dpl: 0,
    db: 0,
    s,
    l: 0,
    g: 0,
    avl: 0,
    unusable: 0,
  };
}

const toy = (vcpu: KvmVcpu): ToyCpu => vcpu.vendor as ToyCpu;

// ── memory through the memslots (the toy's EPT) ──

function readPhys(cpu: ToyCpu, gpa: number, len: number, fetch: boolean): number | Fault {
  let v = 0;
  for (let i = 0; i < len; i++) {
    const a = gpa + i;
    const slot = gfnToMemslot(cpu.vcpu.kvm, Math.floor(a / 4096));
    if (!slot) return { kind: "ept", gpa: a, err: fetch ? PFERR_FETCH_MASK : 0 };
    v += slot.bytes[a - slot.baseGfn * 4096]! * 2 ** (8 * i);
  }
  return v;
}

function writePhys(cpu: ToyCpu, gpa: number, len: number, value: number): Fault | null {
  for (let i = 0; i < len; i++) {
    const a = gpa + i;
    const gfn = Math.floor(a / 4096);
    const slot = gfnToMemslot(cpu.vcpu.kvm, gfn);
    if (!slot || (slot.flags & 2) !== 0) return { kind: "ept", gpa: a, err: PFERR_WRITE_MASK };
  }
  for (let i = 0; i < len; i++) {
    const a = gpa + i;
    const gfn = Math.floor(a / 4096);
    const slot = gfnToMemslot(cpu.vcpu.kvm, gfn)!;
    slot.bytes[a - slot.baseGfn * 4096] = (value >>> (8 * i)) & 0xff;
    markPageDirtyInSlot(slot, gfn);
  }
  return null;
}

// ── one instruction ──

/** Execute one instruction. Returns null, a Fault, or an Exit for an exiting instruction. */
function step(cpu: ToyCpu): Fault | Exit | null {
  const base = Number(cpu.segs[VCPU_SREG_CS]!.base);
  const start = cpu.eip;
  let p = start;
  const fetch8 = (): number | Fault => {
    const r = readPhys(cpu, (base + p) >>> 0, 1, true);
    p++;
    return r;
  };
  const fetch32 = (): number | Fault => {
    const r = readPhys(cpu, (base + p) >>> 0, 4, true);
    p += 4;
    return r;
  };
  const exitFor = (reason: number, qual = 0n): Exit => ({
    reason,
    qual,
    gpa: 0,
    insnLen: p - start,
    intrInfo: 0,
    errorCode: 0,
  });
  let op = fetch8();
  if (typeof op !== "number") return op;
  let opsize = 4;
  let rep = false;
  while (op === 0x66 || op === 0xf3) {
    if (op === 0x66) opsize = 2;
    else rep = true;
    op = fetch8();
    if (typeof op !== "number") return op;
  }
  const r = cpu.gpr;
  const ioQual = (size: number, isIn: boolean, port: number, imm: boolean, str = false) =>
    BigInt((size - 1) | (isIn ? 8 : 0) | (str ? 16 : 0) | (rep ? 32 : 0) | (imm ? 64 : 0)) |
    (BigInt(port) << 16n);
  switch (op) {
    case 0x90:
      break;
    case 0xf4:
      return exitFor(EXIT_REASON_HLT);
    case 0xfa:
      cpu.eflags &= ~IF;
      break;
    case 0xfb:
      if ((cpu.eflags & IF) === 0) cpu.shadow = 1;
      cpu.eflags |= IF;
      break;
    case 0xcc:
      cpu.eip = p;
      return { kind: "exception", vector: 3 };
    case 0xeb:
    case 0x75: {
      const d = fetch8();
      if (typeof d !== "number") return d;
      if (op === 0xeb || (cpu.eflags & ZF) === 0) p = (p + ((d << 24) >> 24)) >>> 0;
      break;
    }
    case 0xe4:
    case 0xe5:
    case 0xe6:
    case 0xe7: {
      const port = fetch8();
      if (typeof port !== "number") return port;
      const size = op & 1 ? opsize : 1;
      return exitFor(EXIT_REASON_IO_INSTRUCTION, ioQual(size, op < 0xe6, port, true));
    }
    case 0xec:
    case 0xed:
    case 0xee:
    case 0xef: {
      const size = op & 1 ? opsize : 1;
      return exitFor(EXIT_REASON_IO_INSTRUCTION, ioQual(size, op < 0xee, r[2]! & 0xffff, false));
    }
    case 0x6c:
    case 0x6e:
      return exitFor(
        EXIT_REASON_IO_INSTRUCTION,
        ioQual(1, op === 0x6c, r[2]! & 0xffff, false, true),
      );
    case 0xa0:
    case 0xa1:
    case 0xa2:
    case 0xa3: {
      const m = fetch32();
      if (typeof m !== "number") return m;
      const size = op & 1 ? 4 : 1;
      if (op < 0xa2) {
        const v = readPhys(cpu, m, size, false);
        if (typeof v !== "number") return v;
        r[0] = size === 4 ? v : (r[0]! & ~0xff) | v;
      } else {
        const f = writePhys(cpu, m, size, r[0]!);
        if (f) return f;
      }
      break;
    }
    case 0x0f: {
      const op2 = fetch8();
      if (typeof op2 !== "number") return op2;
      if (op2 === 0xa2) return exitFor(EXIT_REASON_CPUID);
      if (op2 === 0x32) return exitFor(EXIT_REASON_MSR_READ);
      if (op2 === 0x30) return exitFor(EXIT_REASON_MSR_WRITE);
      return { kind: "exception", vector: 6 };
    }
    default:
      if (op >= 0xb0 && op <= 0xb3) {
        const v = fetch8();
        if (typeof v !== "number") return v;
        r[op - 0xb0] = (r[op - 0xb0]! & ~0xff) | v;
      } else if (op >= 0xb8 && op <= 0xbf) {
        const v = fetch32();
        if (typeof v !== "number") return v;
        r[op - 0xb8] = v;
      } else if (op >= 0x40 && op <= 0x4f) {
        const i = op & 7;
        r[i] = op < 0x48 ? r[i]! + 1 : r[i]! - 1;
        cpu.eflags = r[i] === 0 ? cpu.eflags | ZF : cpu.eflags & ~ZF;
      } else {
        return { kind: "exception", vector: 6 };
      }
  }
  cpu.eip = p >>> 0;
  return null;
}

/** Deliver an event through the toy vector table (no stack frame: a handler address). */
function deliver(cpu: ToyCpu, vector: number): Exit | null {
  const handler = readPhys(cpu, vector * 4, 4, false);
  if (typeof handler !== "number") return triple();
  cpu.eip = handler;
  cpu.shadow = 0;
  return null;
}

function triple(): Exit {
  return {
    reason: EXIT_REASON_TRIPLE_FAULT,
    qual: 0n,
    gpa: 0,
    insnLen: 0,
    intrInfo: 0,
    errorCode: 0,
  };
}

/** An exception raised in the guest: exit if the bitmap says so, else deliver it. */
function raise(cpu: ToyCpu, vector: number): Exit | null {
  if ((cpu.exceptionBitmap >>> vector) & 1) {
    const type = vector === 3 ? 6 : 3;
    return {
      reason: EXIT_REASON_EXCEPTION_NMI,
      qual: 0n,
      gpa: 0,
      insnLen: vector === 3 ? 1 : 0,
      intrInfo: (vector | (type << 8) | 0x8000_0000) >>> 0,
      errorCode: 0,
    };
  }
  return deliver(cpu, vector);
}

/** VM entry (checks and event injection), guest execution, VM exit. */
function toyVcpuRun(vcpu: KvmVcpu): number {
  const cpu = toy(vcpu);
  const a = vcpu.arch;
  // VM entry loads the guest state KVM changed.
  for (let i = 0; i < 8; i++)
    if (a.regsDirty & (1 << i)) cpu.gpr[i] = Number(a.regs[i]! & 0xffff_ffffn);
  if (a.regsDirty & (1 << VCPU_REGS_RIP)) cpu.eip = Number(a.regs[VCPU_REGS_RIP]! & 0xffff_ffffn);
  a.regsDirty = 0;
  cpu.exit = runGuest(cpu);
  // VM exit: the guest state goes back to KVM's cache.
  for (let i = 0; i < 8; i++) a.regs[i] = BigInt(cpu.gpr[i]!);
  a.regs[VCPU_REGS_RIP] = BigInt(cpu.eip);
  a.regsAvail = (1 << NR_VCPU_REGS) - 1;
  return EXIT_FASTPATH_NONE;
}

function runGuest(cpu: ToyCpu): Exit {
  const cs = cpu.segs[VCPU_SREG_CS]!;
  // The toy's one guest-state check: CS must be usable.
  if (cs.present === 0 || cs.unusable) {
    return {
      reason: (VMX_EXIT_REASONS_FAILED_VMENTRY | EXIT_REASON_INVALID_STATE) >>> 0,
      qual: 0n,
      gpa: 0,
      insnLen: 0,
      intrInfo: 0,
      errorCode: 0,
    };
  }
  const inj = cpu.injection;
  cpu.injection = null;
  if (inj) {
    if (inj.type === 2) cpu.nmiMasked = true;
    const e = deliver(cpu, inj.vector);
    if (e) return e;
  }
  for (let n = 0; n < cpu.budget; n++) {
    if (cpu.irqWindowExiting && cpu.eflags & IF && cpu.shadow === 0) {
      return {
        reason: EXIT_REASON_INTERRUPT_WINDOW,
        qual: 0n,
        gpa: 0,
        insnLen: 0,
        intrInfo: 0,
        errorCode: 0,
      };
    }
    const tf = (cpu.eflags & TF) !== 0;
    const shadowBefore = cpu.shadow;
    const r = step(cpu);
    if (shadowBefore) cpu.shadow = 0;
    if (r === null) {
      cpu.retired++;
      if (tf) {
        const e = raise(cpu, 1);
        if (e) return e;
      }
      continue;
    }
    if ("reason" in r) return r;
    if (r.kind === "ept") {
      return {
        reason: EXIT_REASON_EPT_VIOLATION,
        qual: BigInt(r.err),
        gpa: r.gpa,
        insnLen: 0,
        intrInfo: 0,
        errorCode: 0,
      };
    }
    const e = raise(cpu, r.vector);
    if (e) return e;
  }
  return {
    reason: EXIT_REASON_EXTERNAL_INTERRUPT,
    qual: 0n,
    gpa: 0,
    insnLen: 0,
    intrInfo: 0,
    errorCode: 0,
  };
}

// ── the exit handlers (vmx_handle_exit's table) ──

type Handler = (vcpu: KvmVcpu) => number;

const handlers: Record<number, Handler> = {
  [EXIT_REASON_EXCEPTION_NMI]: (vcpu) => {
    const cpu = toy(vcpu);
    const vector = cpu.exit.intrInfo & 0xff;
    const run = vcpu.run;
    if (vector === 1 && vcpu.guestDebug & (KVM_GUESTDBG_SINGLESTEP | KVM_GUESTDBG_USE_HW_BP)) {
      run.debugDr6 = 0xffff_4ff0n;
      run.debugDr7 = vcpu.arch.dr7;
      run.debugPc = kvmGetLinearRip(vcpu);
      run.debugException = 1;
      run.exitReason = KVM_EXIT_DEBUG;
      return 0;
    }
    if (vector === 3 && vcpu.guestDebug & KVM_GUESTDBG_USE_SW_BP) {
      run.debugPc = kvmGetLinearRip(vcpu) - 1n;
      run.debugException = 3;
      run.exitReason = KVM_EXIT_DEBUG;
      return 0;
    }
    kvmQueueException(vcpu, vector);
    return 1;
  },
  [EXIT_REASON_EXTERNAL_INTERRUPT]: (vcpu) => {
    vcpu.stat.irq_exits++;
    return 1;
  },
  [EXIT_REASON_TRIPLE_FAULT]: (vcpu) => {
    vcpu.run.exitReason = KVM_EXIT_SHUTDOWN;
    return 0;
  },
  [EXIT_REASON_INTERRUPT_WINDOW]: (vcpu) => {
    toy(vcpu).irqWindowExiting = false;
    // handle_interrupt_window: re-evaluate pending events now that they can be injected.
    kvmMakeRequest(vcpu, KVM_REQ_EVENT);
    vcpu.stat.irq_window_exits++;
    return 1;
  },
  [EXIT_REASON_CPUID]: kvmEmulateCpuid,
  [EXIT_REASON_HLT]: kvmEmulateHalt,
  [EXIT_REASON_MSR_READ]: kvmEmulateRdmsr,
  [EXIT_REASON_MSR_WRITE]: kvmEmulateWrmsr,
  [EXIT_REASON_IO_INSTRUCTION]: (vcpu) => {
    const q = Number(toy(vcpu).exit.qual & 0xffff_ffffn);
    vcpu.stat.io_exits++;
    if (q & 16) return x86EmulateInstruction(vcpu, 0);
    return kvmFastPio(vcpu, (q & 7) + 1, q >>> 16, (q & 8) !== 0);
  },
  [EXIT_REASON_EPT_VIOLATION]: (vcpu) => {
    const cpu = toy(vcpu);
    return kvmMmuPageFault(vcpu, cpu.exit.gpa, Number(cpu.exit.qual));
  },
};

function toyHandleExit(vcpu: KvmVcpu): number {
  const cpu = toy(vcpu);
  // vmx_complete_interrupts: whatever was injected at entry has been delivered.
  kvmClearExceptionQueue(vcpu);
  kvmClearInterruptQueue(vcpu);
  vcpu.arch.nmiInjected = false;
  traceKvmExit(vcpu);
  const reason = cpu.exit.reason;
  if (reason & VMX_EXIT_REASONS_FAILED_VMENTRY) {
    vcpu.run.exitReason = KVM_EXIT_FAIL_ENTRY;
    vcpu.run.failEntryHardwareEntryFailureReason = BigInt(reason);
    vcpu.run.failEntryCpu = vcpu.arch.lastVmentryCpu;
    return 0;
  }
  const h = handlers[reason];
  if (!h) {
    kvmPrepareUnexpectedReasonExit(vcpu, reason);
    return 0;
  }
  return h(vcpu);
}

// ── the emulator the toy hands to KVM (MOV moffs, REP OUTSB/INSB) ──

function toyEmulate(vcpu: KvmVcpu, ops: X86EmulateOps): number {
  const cpu = toy(vcpu);
  const base = Number(cpu.segs[VCPU_SREG_CS]!.base);
  const eip = Number(kvmRipRead(vcpu));
  const bytes: number[] = [];
  for (let i = 0; i < 6; i++) {
    const b = readPhys(cpu, (base + eip + i) >>> 0, 1, true);
    if (typeof b !== "number") break;
    bytes.push(b);
  }
  vcpu.emulatedInsnBytes = Uint8Array.from(bytes);
  let i = 0;
  let rep = false;
  if (bytes[0] === 0xf3) {
    rep = true;
    i = 1;
  }
  const op = bytes[i];
  if (op === undefined) return X86EMUL_UNHANDLEABLE;
  const reg = (n: number) => Number(kvmRegisterRead(vcpu, n) & 0xffff_ffffn);
  if (op >= 0xa0 && op <= 0xa3 && bytes.length >= i + 5) {
    const m =
      (bytes[i + 1]! | (bytes[i + 2]! << 8) | (bytes[i + 3]! << 16) | (bytes[i + 4]! << 24)) >>> 0;
    const size = op & 1 ? 4 : 1;
    const buf = new Uint8Array(size);
    if (op < 0xa2) {
      const r = ops.readEmulated(m, buf);
      if (r !== X86EMUL_CONTINUE) return r;
      let v = 0;
      for (let k = size - 1; k >= 0; k--) v = v * 256 + buf[k]!;
      const eax = reg(0);
      kvmRegisterWrite(vcpu, 0, BigInt(size === 4 ? v : ((eax & ~0xff) | v) >>> 0));
    } else {
      const eax = reg(0);
      for (let k = 0; k < size; k++) buf[k] = (eax >>> (8 * k)) & 0xff;
      const r = ops.writeEmulated(m, buf);
      if (r !== X86EMUL_CONTINUE) return r;
    }
    kvmRipWrite(vcpu, BigInt(eip + i + 5));
    return X86EMUL_CONTINUE;
  }
  if ((op === 0x6e || op === 0x6c) && rep) {
    const count = reg(1);
    const port = reg(2) & 0xffff;
    const data = new Uint8Array(count);
    if (op === 0x6e) {
      const esi = reg(6);
      for (let k = 0; k < count; k++) {
        const b = readPhys(cpu, esi + k, 1, false);
        if (typeof b !== "number") return X86EMUL_UNHANDLEABLE;
        data[k] = b;
      }
      const r = ops.pioOutEmulated(1, port, count, data);
      if (r !== X86EMUL_CONTINUE) return r;
      kvmRegisterWrite(vcpu, 6, BigInt(esi + count));
    } else {
      const r = ops.pioInEmulated(1, port, count, data);
      if (r !== X86EMUL_CONTINUE) return r;
      const edi = reg(7);
      const w = ops.writeEmulated(edi, data);
      if (w !== X86EMUL_CONTINUE) return w;
      kvmRegisterWrite(vcpu, 7, BigInt(edi + count));
    }
    kvmRegisterWrite(vcpu, 1, 0n);
    kvmRipWrite(vcpu, BigInt(eip + 2));
    return X86EMUL_CONTINUE;
  }
  return X86EMUL_UNHANDLEABLE;
}

// ── the ops table ──

const MSR_IA32_SYSENTER_CS = 0x174;

export function toyOps(): KvmX86Ops & { readonly counters: { created: number; freed: number } } {
  const counters = { created: 0, freed: 0 };
  const ops: KvmX86Ops = {
    name: "toyvt",
    vcpuCreate(vcpu) {
      vcpu.vendor = new ToyCpu(vcpu);
      counters.created++;
      return 0;
    },
    vcpuFree(vcpu) {
      toy(vcpu).freed = true;
      counters.freed++;
    },
    vcpuReset(vcpu) {
      const cpu = toy(vcpu);
      for (let i = 0; i < 8; i++) cpu.segs[i] = seg(0, 0n, 0xffff, 3);
      cpu.segs[VCPU_SREG_CS] = seg(0xf000, 0xffff_0000n, 0xffff, 0xb);
      cpu.segs[6] = seg(0, 0n, 0xffff, 0xb, 0);
      cpu.segs[7] = seg(0, 0n, 0xffff, 2, 0);
      cpu.idt = { base: 0n, limit: 0xffff };
      cpu.gdt = { base: 0n, limit: 0xffff };
      cpu.shadow = 0;
      cpu.nmiMasked = false;
      cpu.injection = null;
    },
    updateExceptionBitmap(vcpu) {
      const d = vcpu.guestDebug;
      toy(vcpu).exceptionBitmap =
        (d & (KVM_GUESTDBG_SINGLESTEP | KVM_GUESTDBG_USE_HW_BP) ? 1 << 1 : 0) |
        (d & KVM_GUESTDBG_USE_SW_BP ? 1 << 3 : 0);
    },
    getMsr(vcpu, msr) {
      if (msr.index === MSR_IA32_SYSENTER_CS) {
        msr.data = toy(vcpu).msrs.get(msr.index) ?? 0n;
        return 0;
      }
      return kvmGetMsrCommon(vcpu, msr);
    },
    setMsr(vcpu, msr) {
      if (msr.index === MSR_IA32_SYSENTER_CS) {
        toy(vcpu).msrs.set(msr.index, msr.data);
        return 0;
      }
      return kvmSetMsrCommon(vcpu, msr);
    },
    getSegment: (vcpu, s) => ({ ...toy(vcpu).segs[s]! }),
    setSegment(vcpu, v, s) {
      toy(vcpu).segs[s] = { ...v };
    },
    getCpl: (vcpu) => toy(vcpu).segs[VCPU_SREG_SS]!.dpl,
    getCsDbLBits: (vcpu) => ({
      db: toy(vcpu).segs[VCPU_SREG_CS]!.db,
      l: toy(vcpu).segs[VCPU_SREG_CS]!.l,
    }),
    setCr0(vcpu, cr0) {
      toy(vcpu).cr0 = cr0;
      vcpu.arch.cr0 = cr0;
    },
    setCr4(vcpu, cr4) {
      toy(vcpu).cr4 = cr4;
      vcpu.arch.cr4 = cr4;
    },
    setEfer(vcpu, efer) {
      toy(vcpu).efer = efer;
      vcpu.arch.efer = efer;
      return 0;
    },
    getIdt: (vcpu) => ({ ...toy(vcpu).idt }),
    setIdt(vcpu, dt) {
      toy(vcpu).idt = { ...dt };
    },
    getGdt: (vcpu) => ({ ...toy(vcpu).gdt }),
    setGdt(vcpu, dt) {
      toy(vcpu).gdt = { ...dt };
    },
    cacheReg() {},
    getRflags: (vcpu) => toy(vcpu).eflags,
    setRflags(vcpu, rflags) {
      toy(vcpu).eflags = rflags;
    },
    getIfFlag: (vcpu) => (toy(vcpu).eflags & IF) !== 0,
    loadMmuPgd(vcpu) {
      toy(vcpu).mmuLoads++;
    },
    vcpuRun: toyVcpuRun,
    handleExit: toyHandleExit,
    skipEmulatedInstruction(vcpu) {
      const cpu = toy(vcpu);
      kvmRipWrite(vcpu, kvmRipRead(vcpu) + BigInt(cpu.exit.insnLen));
      cpu.shadow = 0;
      return 1;
    },
    setInterruptShadow(vcpu, mask) {
      toy(vcpu).shadow = mask;
    },
    getInterruptShadow: (vcpu) => toy(vcpu).shadow,
    getExitInfo(vcpu): KvmExitInfo {
      const e = toy(vcpu).exit;
      return {
        reason: e.reason,
        info1: e.qual,
        info2: BigInt(e.gpa),
        intrInfo: e.intrInfo,
        errorCode: e.errorCode,
      };
    },
    injectIrq(vcpu) {
      vcpu.stat.irq_injections++;
      toy(vcpu).injection = { vector: vcpu.arch.interrupt.nr, type: 0 };
    },
    injectNmi(vcpu) {
      vcpu.stat.nmi_injections++;
      toy(vcpu).injection = { vector: 2, type: 2 };
    },
    injectException(vcpu) {
      toy(vcpu).injection = { vector: vcpu.arch.exception.vector, type: 3 };
    },
    cancelInjection(vcpu) {
      toy(vcpu).injection = null;
    },
    interruptAllowed: (vcpu) => (toy(vcpu).eflags & IF && toy(vcpu).shadow === 0 ? 1 : 0),
    nmiAllowed: (vcpu) => (!toy(vcpu).nmiMasked && toy(vcpu).shadow === 0 ? 1 : 0),
    getNmiMask: (vcpu) => toy(vcpu).nmiMasked,
    setNmiMask(vcpu, masked) {
      toy(vcpu).nmiMasked = masked;
    },
    enableNmiWindow(vcpu) {
      toy(vcpu).nmiWindowExiting = true;
    },
    enableIrqWindow(vcpu) {
      toy(vcpu).irqWindowExiting = true;
    },
    emulateInstruction: (vcpu, ops) => toyEmulate(vcpu, ops),
  };
  return Object.assign(ops, { counters });
}

/** The toy's CPUID: a GenuineIntel family-6 part with long mode and NX. */
export const TOY_CPUID: readonly KvmCpuidEntry2[] = [
  {
    function: 0,
    index: 0,
    flags: 0,
    eax: 0xd,
    ebx: 0x756e_6547,
    ecx: 0x6c65_746e,
    edx: 0x4965_6e69,
  },
  {
    function: 1,
    index: 0,
    flags: 0,
    eax: 0x206a7,
    ebx: 0x0080_0800,
    ecx: 0x0000_0001,
    edx: 0x0781_abfd,
  },
  { function: 0xd, index: 0, flags: 1, eax: 7, ebx: 0x240, ecx: 0x340, edx: 0 },
  { function: 0x8000_0000, index: 0, flags: 0, eax: 0x8000_0008, ebx: 0, ecx: 0, edx: 0 },
  { function: 0x8000_0001, index: 0, flags: 0, eax: 0, ebx: 0, ecx: 1, edx: 0x2810_0800 },
  { function: 0x8000_0008, index: 0, flags: 0, eax: 0x3028, ebx: 0, ecx: 0, edx: 0 },
];

/** A vendor module around a fresh toy ops table (modprobe toyvt). */
export function toyModule(ops = toyOps()): KvmVendorModule & { ops: ReturnType<typeof toyOps> } {
  return {
    name: "toyvt",
    isa: KVM_ISA_VMX,
    initOps: { hardwareSetup: () => 0, runtimeOps: ops },
    supportedCpuid: () => TOY_CPUID,
    exitReasonName: (r) => NAMES[r & 0xffff] ?? `0x${r.toString(16)}`,
    ops,
  };
}

export { kvmModule };
