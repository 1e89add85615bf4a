/**
 * VT-x on a software x86 CPU that runs its own code (Bochs vmx.cc's instruction side):
 * x86 code at CPL 0 executes VMXON, VMCLEAR, VMPTRLD, VMPTRST, VMREAD, VMWRITE,
 * VMLAUNCH, VMRESUME, VMXOFF, INVEPT, INVVPID and VMCALL as real instructions, with the
 * same VmxCpu that serves kvm_intel behind them. VMLAUNCH/VMRESUME enter the guest on a
 * second core (VmxNonRoot); the VM exit loads the host-state area into this CPU, which
 * continues at HOST_RIP — a hypervisor written in x86 running a guest: the start of
 * nested virtualization.
 *
 *   const cpu = new X86Cpu(mem);
 *   const vt = new VmxRootCpu(cpu);   // CPUID now reports VMX; the instructions work
 *   cpu.run(budget);
 */
import {
  EVENT_FAULT,
  type HookResult,
  hooks,
  injectEvent,
  instr,
  loadSegment,
  readMemOperand,
  state,
  syncLoadedState,
  writeMemOperand,
  type X86Cpu,
  type X86Hooks,
} from "@glassvm/x86";
import {
  HOST_CR0,
  HOST_CR3,
  HOST_CR4,
  HOST_CS_SELECTOR,
  HOST_ES_SELECTOR,
  HOST_FS_BASE,
  HOST_GDTR_BASE,
  HOST_GS_BASE,
  HOST_IA32_EFER,
  HOST_IDTR_BASE,
  HOST_RIP,
  HOST_RSP,
  HOST_TR_BASE,
  HOST_TR_SELECTOR,
  VM_EXIT_CONTROLS,
  VM_EXIT_HOST_ADDR_SPACE_SIZE,
  VM_EXIT_LOAD_IA32_EFER,
} from "../asm/vmx.js";
import type { VmxCapabilities } from "./vmx_caps.js";
import {
  VMX_FAULT_GP,
  VMX_FAULT_UD,
  VMX_SUCCEED,
  VMX_VMEXIT,
  VmxCpu,
  vmxResultFlags,
} from "./vmx_cpu.js";
import { VmxNonRoot, type VmxNonRootHost } from "./vmx_nonroot.js";

const {
  EV_VMCALL,
  EV_VMX_INSN,
  HOOK_DONE,
  HOOK_PASS,
  VMX_INSN_INVEPT,
  VMX_INSN_INVVPID,
  VMX_INSN_VMCLEAR,
  VMX_INSN_VMLAUNCH,
  VMX_INSN_VMPTRLD,
  VMX_INSN_VMPTRST,
  VMX_INSN_VMREAD,
  VMX_INSN_VMRESUME,
  VMX_INSN_VMWRITE,
  VMX_INSN_VMXOFF,
  VMX_INSN_VMXON,
} = hooks;
const {
  CPL,
  CR0,
  CR2,
  CR2_HI,
  CR3,
  CR4,
  DR_BASE,
  EFER,
  EIP,
  GDTR_BASE,
  GDTR_BASE_HI,
  GDTR_LIMIT,
  IDTR_BASE,
  IDTR_BASE_HI,
  IDTR_LIMIT,
  RIP_HI,
  STOP,
  STOP_JUMP,
} = state;

const CR0_PE = 1;
const FLAG_VM = 1 << 17;
const EFER_LME = 1 << 8;
const EFER_LMA = 1 << 10;
/** IA32_FEATURE_CONTROL as firmware leaves it for a VMM: locked, VMX outside SMX. */
const FEATURE_CONTROL_VMX = 0x5;
/** VMCS access rights of the segments VM exit loads (SDM 28.5.2). */
const AR_CODE = 0xb | 0x10 | 0x80 | 0x8000;
const AR_DATA = 0x3 | 0x10 | 0x80 | 0x4000 | 0x8000;
const AR_TSS_BUSY = 0xb | 0x80;
const AR_UNUSABLE = 1 << 16;

export class VmxRootCpu implements X86Hooks, VmxNonRootHost {
  readonly vmx: VmxCpu;
  /** The core guests run on while this CPU is in VMX non-root operation. */
  readonly nonRoot: VmxNonRoot;
  /** IA32_FEATURE_CONTROL (MSR 3Ah) as the firmware set it. */
  featureControlValue = FEATURE_CONTROL_VMX;
  /** The hook that was installed before (it still sees every other event). */
  private readonly next: X86Hooks | null;
  private readonly words = new Int32Array(4);

  constructor(
    readonly cpu: X86Cpu,
    caps?: VmxCapabilities,
  ) {
    this.vmx = new VmxCpu(caps);
    this.nonRoot = new VmxNonRoot(this);
    this.vmx.guest = this.nonRoot;
    this.vmx.tlb = this.nonRoot;
    this.next = cpu.hooks;
    cpu.hooks = this;
    // CPUID.1:ECX.VMX[bit 5]: the processor now has VMX.
    const base = cpu.cpuid;
    cpu.cpuid = (leaf, sub, out) => {
      base(leaf, sub, out);
      if (leaf === 1) out[2] = out[2]! | (1 << 5);
    };
  }

  // ── VmxNonRootHost: the processor as VMX instructions and VM entry/exit see it ──

  get regs(): Int32Array {
    return this.cpu.regs;
  }

  get regsHi(): Int32Array {
    return this.cpu.regsHi;
  }

  get cr2(): bigint {
    const st = this.cpu.st;
    return (BigInt(st[CR2_HI]! >>> 0) << 32n) | BigInt(st[CR2]! >>> 0);
  }

  set cr2(v: bigint) {
    const st = this.cpu.st;
    st[CR2] = Number(BigInt.asUintN(32, v)) | 0;
    st[CR2_HI] = Number(BigInt.asUintN(64, v) >> 32n) | 0;
  }

  readonly cpuid = (leaf: number, sub: number, out: Int32Array): void =>
    this.cpu.cpuid(leaf, sub, out);

  phys(pa: number, len: number): Uint8Array | null {
    for (const r of this.cpu.mem.ranges) {
      if (r && pa >= r.base && pa + len <= r.base + r.bytes.length) {
        return r.bytes.subarray(pa - r.base, pa - r.base + len);
      }
    }
    return null;
  }

  cr0(): number {
    return this.cpu.st[CR0]!;
  }

  cr4(): number {
    return this.cpu.st[CR4]!;
  }

  cpl(): number {
    return this.cpu.st[CPL]!;
  }

  featureControl(): number {
    return this.featureControlValue;
  }

  vmxModeOk(): boolean {
    const cpu = this.cpu;
    const st = cpu.st;
    if ((st[CR0]! & CR0_PE) === 0 || (cpu.getEflags() & FLAG_VM) !== 0) return false;
    // Compatibility mode (IA-32e mode with a 32-bit code segment) is #UD as well.
    return (st[EFER]! & EFER_LMA) === 0 || (cpu.segAr[1]! & (1 << 13)) !== 0;
  }

  movSsBlocking(): boolean {
    // The core keeps one shadow for STI and MOV SS; a VMM does not VMLAUNCH in either.
    return false;
  }

  longMode(): boolean {
    return (this.cpu.st[EFER]! & EFER_LMA) !== 0;
  }

  /** VM exit: the host-state area into this CPU (SDM 28.5). */
  loadHostState(read: (encoding: number) => bigint): void {
    const cpu = this.cpu;
    const st = cpu.st;
    const lo = (e: number): number => Number(BigInt.asUintN(32, read(e))) | 0;
    const hi = (e: number): number => Number(BigInt.asUintN(64, read(e)) >> 32n) | 0;
    const exitCtls = lo(VM_EXIT_CONTROLS);
    const long = (exitCtls & VM_EXIT_HOST_ADDR_SPACE_SIZE) !== 0;
    st[CR0] = lo(HOST_CR0);
    st[CR3] = lo(HOST_CR3);
    st[CR4] = lo(HOST_CR4);
    st[DR_BASE + 7] = 0x400;
    if ((exitCtls & VM_EXIT_LOAD_IA32_EFER) !== 0) st[EFER] = lo(HOST_IA32_EFER);
    else st[EFER] = long ? st[EFER]! | EFER_LMA | EFER_LME : st[EFER]! & ~(EFER_LMA | EFER_LME);
    // CS: flat code, L = host address-space size; SS DS ES FS GS: flat data or unusable.
    const csSel = lo(HOST_CS_SELECTOR) & 0xffff;
    const csAr = AR_CODE | (long ? 1 << 13 : 1 << 14);
    loadSegment(cpu, 1, csSel, 0, 0, -1, csAr);
    for (const n of [0, 2, 3, 4, 5]) {
      const sel = lo(HOST_ES_SELECTOR + 2 * n) & 0xffff;
      const baseEnc = n === 4 ? HOST_FS_BASE : n === 5 ? HOST_GS_BASE : 0;
      const bLo = baseEnc ? lo(baseEnc) : 0;
      const bHi = baseEnc ? hi(baseEnc) : 0;
      // SS stays usable with a null selector in 64-bit mode.
      const usable = sel !== 0 || n === 2;
      loadSegment(cpu, n, sel, bLo, bHi, -1, usable ? AR_DATA : AR_DATA | AR_UNUSABLE);
    }
    loadSegment(cpu, 6, 0, 0, 0, 0, AR_UNUSABLE);
    loadSegment(
      cpu,
      7,
      lo(HOST_TR_SELECTOR) & 0xffff,
      lo(HOST_TR_BASE),
      hi(HOST_TR_BASE),
      0x67,
      AR_TSS_BUSY,
    );
    st[GDTR_BASE] = lo(HOST_GDTR_BASE);
    st[GDTR_BASE_HI] = hi(HOST_GDTR_BASE);
    st[GDTR_LIMIT] = 0xffff;
    st[IDTR_BASE] = lo(HOST_IDTR_BASE);
    st[IDTR_BASE_HI] = hi(HOST_IDTR_BASE);
    st[IDTR_LIMIT] = 0xffff;
    st[EIP] = lo(HOST_RIP);
    st[RIP_HI] = hi(HOST_RIP);
    cpu.regs[4] = lo(HOST_RSP);
    cpu.regsHi[4] = hi(HOST_RSP);
    cpu.setEflags(0x2);
    syncLoadedState(cpu, true);
    // The instruction that exited (VMLAUNCH/VMRESUME) does not fall through.
    st[STOP] = STOP_JUMP;
  }

  // ── the instructions ──

  onEvent(cpu: X86Cpu, kind: number): HookResult {
    if (kind === EV_VMCALL && cpu.exitInfo[1] === 0) return this.finish(this.vmx.vmcall(this));
    if (kind !== EV_VMX_INSN) return this.next ? this.next.onEvent(cpu, kind) : HOOK_PASS;
    const x = cpu.exitInfo;
    const id = x[1]!;
    const slot = x[2]!;
    const vmx = this.vmx;
    const dc = cpu.dc;
    const isMem = (dc.flags[slot]! & instr.F_MEM) !== 0;
    const w = this.words;
    switch (id) {
      case VMX_INSN_VMXON:
      case VMX_INSN_VMCLEAR:
      case VMX_INSN_VMPTRLD: {
        if (!isMem) return HOOK_PASS;
        // Faults before the operand is read: #UD outside VMX operation, then the rest.
        const early = vmx.operandChecks(this, id === VMX_INSN_VMXON);
        if (early !== VMX_SUCCEED) return this.finish(early);
        if (!readMemOperand(cpu, slot, w, 2)) return HOOK_DONE;
        const pa = (w[1]! >>> 0) * 2 ** 32 + (w[0]! >>> 0);
        const r =
          id === VMX_INSN_VMXON
            ? vmx.vmxon(this, pa)
            : id === VMX_INSN_VMCLEAR
              ? vmx.vmclear(this, pa)
              : vmx.vmptrld(this, pa);
        return this.finish(r);
      }
      case VMX_INSN_VMPTRST: {
        if (!isMem) return HOOK_PASS;
        const r = vmx.vmptrst(this);
        if (r !== VMX_SUCCEED) return this.finish(r);
        const v = vmx.readValue;
        w[0] = Number(v & 0xffff_ffffn) | 0;
        w[1] = Number((v >> 32n) & 0xffff_ffffn) | 0;
        if (!writeMemOperand(cpu, slot, w, 2)) return HOOK_DONE;
        return this.finish(r);
      }
      case VMX_INSN_VMREAD: {
        const enc = cpu.regs[dc.reg[slot]!]! >>> 0;
        const r = vmx.vmread(this, enc);
        if (r !== VMX_SUCCEED) return this.finish(r);
        const v = vmx.readValue;
        const lo = Number(v & 0xffff_ffffn) | 0;
        const hi = this.longMode() ? Number((v >> 32n) & 0xffff_ffffn) | 0 : 0;
        if (isMem) {
          w[0] = lo;
          w[1] = hi;
          if (!writeMemOperand(cpu, slot, w, this.longMode() ? 2 : 1)) return HOOK_DONE;
        } else {
          cpu.regs[dc.rm[slot]!] = lo;
          cpu.regsHi[dc.rm[slot]!] = hi;
        }
        return this.finish(r);
      }
      case VMX_INSN_VMWRITE: {
        const enc = cpu.regs[dc.reg[slot]!]! >>> 0;
        let value: bigint;
        const long = this.longMode();
        if (isMem) {
          if (!readMemOperand(cpu, slot, w, long ? 2 : 1)) return HOOK_DONE;
          value = (BigInt(long ? w[1]! >>> 0 : 0) << 32n) | BigInt(w[0]! >>> 0);
        } else {
          const n = dc.rm[slot]!;
          value = (BigInt(long ? cpu.regsHi[n]! >>> 0 : 0) << 32n) | BigInt(cpu.regs[n]! >>> 0);
        }
        return this.finish(vmx.vmwrite(this, enc, value));
      }
      case VMX_INSN_VMLAUNCH:
      case VMX_INSN_VMRESUME: {
        const r = id === VMX_INSN_VMLAUNCH ? vmx.vmlaunch(this) : vmx.vmresume(this);
        // A VM exit already put this CPU at HOST_RIP with the host's RFLAGS.
        if (r === VMX_VMEXIT) return HOOK_DONE;
        return this.finish(r);
      }
      case VMX_INSN_VMXOFF:
        return this.finish(vmx.vmxoff(this));
      case VMX_INSN_INVEPT:
      case VMX_INSN_INVVPID: {
        if (!isMem) return HOOK_PASS;
        const type = cpu.regs[dc.reg[slot]!]! >>> 0;
        if (!readMemOperand(cpu, slot, w, 4)) return HOOK_DONE;
        const q0 = (BigInt(w[1]! >>> 0) << 32n) | BigInt(w[0]! >>> 0);
        const q1 = (BigInt(w[3]! >>> 0) << 32n) | BigInt(w[2]! >>> 0);
        const r =
          id === VMX_INSN_INVEPT
            ? vmx.invept(this, type, q0)
            : vmx.invvpid(this, type, Number(q0 & 0xffffn), q1);
        return this.finish(r);
      }
      default:
        return HOOK_PASS;
    }
  }

  /** Retire the instruction with its outcome: RFLAGS per SDM 31.2, or the fault it raises. */
  private finish(outcome: number): HookResult {
    const cpu = this.cpu;
    if (outcome === VMX_FAULT_UD) return HOOK_PASS;
    if (outcome === VMX_FAULT_GP) {
      injectEvent(cpu, 13, 0, EVENT_FAULT, 0);
      return HOOK_DONE;
    }
    cpu.setEflags(vmxResultFlags(cpu.getEflags(), outcome));
    return HOOK_DONE;
  }
}
