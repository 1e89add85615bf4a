/**
 * AMD-V on a software x86 CPU that runs its own code: x86 code at CPL 0 sets EFER.SVME,
 * writes VM_HSAVE_PA and executes VMRUN, VMLOAD, VMSAVE, STGI, CLGI, INVLPGA and VMMCALL
 * as real instructions, with the same SvmCpu that serves kvm_amd behind them. VMRUN saves
 * this CPU's state to the host save area and runs the guest on a second core
 * (SvmNonRoot); #VMEXIT reloads it, and the code continues after its VMRUN with the exit
 * in the VMCB — a hypervisor written in x86.
 *
 *   const cpu = new X86Cpu(mem);
 *   const amdv = new SvmRootCpu(cpu);  // CPUID now reports SVM; the instructions work
 *   cpu.run(budget);
 */
import {
  EVENT_FAULT,
  type HookResult,
  hooks,
  injectEvent,
  instr,
  setMsr,
  state,
  syncLoadedState,
  type X86Cpu,
  type X86Hooks,
} from "@glassvm/x86";
import { EFER_SVME, MSR_EFER, SVM_CPUID_FUNC } from "../asm/svm.js";
import {
  SVM_FAULT_GP,
  SVM_FAULT_UD,
  SVM_SHUTDOWN,
  SVM_VMEXIT,
  type SvmCapabilities,
  SvmCpu,
} from "./svm_cpu.js";
import { SvmNonRoot, type SvmNonRootHost } from "./svm_nonroot.js";
import {
  VMCB_CR0,
  VMCB_CR3,
  VMCB_CR4,
  VMCB_EFER,
  VMCB_FS,
  VMCB_GDTR,
  VMCB_GS,
  VMCB_IDTR,
  VMCB_LDTR,
  VMCB_RAX,
  VMCB_RFLAGS,
  VMCB_RIP,
  VMCB_RSP,
  VMCB_SEG_BASE,
  VMCB_SEG_LIMIT,
  VMCB_SEGMENTS,
  VMCB_STAR,
  VMCB_SYSENTER_CS,
  VMCB_SYSENTER_EIP,
  VMCB_SYSENTER_ESP,
  VMCB_TR,
  type Vmcb,
} from "./vmcb.js";
import { loadVmcbSegment, storeVmcbSegment } from "./vmcb_segment.js";

const {
  EV_RDMSR,
  EV_SVM_INSN,
  EV_VMCALL,
  EV_WRMSR,
  HOOK_DONE,
  HOOK_PASS,
  SVM_INSN_CLGI,
  SVM_INSN_INVLPGA,
  SVM_INSN_STGI,
  SVM_INSN_VMLOAD,
  SVM_INSN_VMRUN,
  SVM_INSN_VMSAVE,
} = hooks;
const {
  CPL,
  CR0,
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
  MSR_STAR,
  RIP_HI,
  STOP,
  STOP_JUMP,
} = state;

const FLAG_VM = 1 << 17;
const MSR_SYSENTER_CS = 0x174;
const MSR_SYSENTER_ESP = 0x175;
const MSR_SYSENTER_EIP = 0x176;

export class SvmRootCpu implements X86Hooks, SvmNonRootHost {
  readonly svm: SvmCpu;
  /** The core guests run on while this CPU is in guest mode. */
  readonly nonRoot: SvmNonRoot;
  /** The hook installed before (it still sees every other event). */
  private readonly next: X86Hooks | null;
  /** EFER.SVME: kept here, since the core's EFER accepts only the bits its CPUID lists. */
  private svme = false;
  /** The slot of the SVM instruction being executed (its length gives the next RIP). */
  private slot = 0;

  constructor(
    readonly cpu: X86Cpu,
    caps?: SvmCapabilities,
  ) {
    this.svm = new SvmCpu(caps);
    this.nonRoot = new SvmNonRoot(this, this.svm.caps.physAddrBits);
    this.svm.guest = this.nonRoot;
    this.svm.tlb = this.nonRoot;
    this.next = cpu.hooks;
    cpu.hooks = this;
    const base = cpu.cpuid;
    cpu.cpuid = (leaf, sub, out) => {
      base(leaf, sub, out);
      if (leaf >>> 0 === 0x8000_0000 && out[0]! >>> 0 < SVM_CPUID_FUNC) out[0] = SVM_CPUID_FUNC | 0;
      this.svm.cpuid(leaf, out);
    };
  }

  // ── SvmNonRootHost: the processor as the SVM instructions see it ──

  get regs(): Int32Array {
    return this.cpu.regs;
  }

  get regsHi(): Int32Array {
    return this.cpu.regsHi;
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

  cpl(): number {
    return this.cpu.st[CPL]!;
  }

  efer(): number {
    return this.cpu.st[EFER]! | (this.svme ? EFER_SVME : 0);
  }

  saveHostState(hsave: Vmcb): void {
    const cpu = this.cpu;
    const st = cpu.st;
    for (let n = 0; n < 4; n++) storeVmcbSegment(cpu, n, hsave, VMCB_SEGMENTS[n]!);
    hsave.write64Halves(VMCB_GDTR + VMCB_SEG_BASE, st[GDTR_BASE]!, st[GDTR_BASE_HI]!);
    hsave.write32(VMCB_GDTR + VMCB_SEG_LIMIT, st[GDTR_LIMIT]! & 0xffff);
    hsave.write64Halves(VMCB_IDTR + VMCB_SEG_BASE, st[IDTR_BASE]!, st[IDTR_BASE_HI]!);
    hsave.write32(VMCB_IDTR + VMCB_SEG_LIMIT, st[IDTR_LIMIT]! & 0xffff);
    hsave.write64Halves(VMCB_EFER, this.efer(), 0);
    hsave.write64Halves(VMCB_CR0, st[CR0]!, 0);
    hsave.write64Halves(VMCB_CR3, st[CR3]!, 0);
    hsave.write64Halves(VMCB_CR4, st[CR4]!, 0);
    hsave.write64Halves(VMCB_RFLAGS, cpu.getEflags(), 0);
    // The RIP VMRUN saves is that of the next instruction.
    const sum = (st[EIP]! >>> 0) + cpu.dc.len[this.slot]!;
    hsave.write64Halves(VMCB_RIP, sum | 0, st[RIP_HI]! + (sum > 0xffff_ffff ? 1 : 0));
    hsave.write64Halves(VMCB_RSP, cpu.regs[4]!, cpu.regsHi[4]!);
    hsave.write64Halves(VMCB_RAX, cpu.regs[0]!, cpu.regsHi[0]!);
  }

  loadHostState(hsave: Vmcb): void {
    const cpu = this.cpu;
    const st = cpu.st;
    for (let n = 0; n < 4; n++) loadVmcbSegment(cpu, n, hsave, VMCB_SEGMENTS[n]!);
    st[GDTR_BASE] = hsave.read32(VMCB_GDTR + VMCB_SEG_BASE);
    st[GDTR_BASE_HI] = hsave.readHigh32(VMCB_GDTR + VMCB_SEG_BASE);
    st[GDTR_LIMIT] = hsave.read32(VMCB_GDTR + VMCB_SEG_LIMIT) & 0xffff;
    st[IDTR_BASE] = hsave.read32(VMCB_IDTR + VMCB_SEG_BASE);
    st[IDTR_BASE_HI] = hsave.readHigh32(VMCB_IDTR + VMCB_SEG_BASE);
    st[IDTR_LIMIT] = hsave.read32(VMCB_IDTR + VMCB_SEG_LIMIT) & 0xffff;
    const efer = hsave.read32(VMCB_EFER);
    this.svme = (efer & EFER_SVME) !== 0;
    st[EFER] = efer & ~EFER_SVME;
    st[CR0] = hsave.read32(VMCB_CR0) | 1;
    st[CR3] = hsave.read32(VMCB_CR3);
    st[CR4] = hsave.read32(VMCB_CR4);
    st[DR_BASE + 7] = 0x400;
    cpu.setEflags(hsave.read32(VMCB_RFLAGS) & ~FLAG_VM);
    st[EIP] = hsave.read32(VMCB_RIP);
    st[RIP_HI] = hsave.readHigh32(VMCB_RIP);
    cpu.regs[4] = hsave.read32(VMCB_RSP);
    cpu.regsHi[4] = hsave.readHigh32(VMCB_RSP);
    cpu.regs[0] = hsave.read32(VMCB_RAX);
    cpu.regsHi[0] = hsave.readHigh32(VMCB_RAX);
    syncLoadedState(cpu, true);
    st[CPL] = 0;
    // VMRUN does not fall through: execution continues at the saved RIP.
    st[STOP] = STOP_JUMP;
  }

  vmloadState(from: Vmcb): void {
    const cpu = this.cpu;
    const st = cpu.st;
    loadVmcbSegment(cpu, 4, from, VMCB_FS);
    loadVmcbSegment(cpu, 5, from, VMCB_GS);
    loadVmcbSegment(cpu, 6, from, VMCB_LDTR);
    loadVmcbSegment(cpu, 7, from, VMCB_TR);
    for (let i = 0; i < 5; i++) {
      st[MSR_STAR + 2 * i] = from.read32(VMCB_STAR + 8 * i);
      st[MSR_STAR + 2 * i + 1] = from.readHigh32(VMCB_STAR + 8 * i);
    }
    setMsr(cpu, MSR_SYSENTER_CS, from.read64(VMCB_SYSENTER_CS));
    setMsr(cpu, MSR_SYSENTER_ESP, from.read64(VMCB_SYSENTER_ESP));
    setMsr(cpu, MSR_SYSENTER_EIP, from.read64(VMCB_SYSENTER_EIP));
  }

  vmsaveState(to: Vmcb): void {
    const cpu = this.cpu;
    const st = cpu.st;
    storeVmcbSegment(cpu, 4, to, VMCB_FS);
    storeVmcbSegment(cpu, 5, to, VMCB_GS);
    storeVmcbSegment(cpu, 6, to, VMCB_LDTR);
    storeVmcbSegment(cpu, 7, to, VMCB_TR);
    for (let i = 0; i < 5; i++) {
      to.write64Halves(VMCB_STAR + 8 * i, st[MSR_STAR + 2 * i]!, st[MSR_STAR + 2 * i + 1]!);
    }
    const msr = (i: number): bigint => cpu.msrs.get(i) ?? 0n;
    to.write64(VMCB_SYSENTER_CS, msr(MSR_SYSENTER_CS));
    to.write64(VMCB_SYSENTER_ESP, msr(MSR_SYSENTER_ESP));
    to.write64(VMCB_SYSENTER_EIP, msr(MSR_SYSENTER_EIP));
  }

  // ── the instructions and MSRs ──

  onEvent(cpu: X86Cpu, kind: number): HookResult {
    const x = cpu.exitInfo;
    if (kind === EV_SVM_INSN) return this.onSvmInstruction(x[1]!, x[2]!);
    if (kind === EV_VMCALL && x[1] === 1) return this.finish(this.svm.vmmcall(this));
    if (kind === EV_RDMSR || kind === EV_WRMSR) {
      const r = this.onMsr(kind === EV_WRMSR, x);
      if (r !== HOOK_PASS) return r;
    }
    return this.next ? this.next.onEvent(cpu, kind) : HOOK_PASS;
  }

  /** EFER (for SVME) and the SVM MSRs, which the core does not have. */
  private onMsr(write: boolean, x: Int32Array): HookResult {
    const cpu = this.cpu;
    const msr = x[1]! >>> 0;
    if (msr === MSR_EFER) {
      if (!write) {
        cpu.regs[0] = this.efer();
        cpu.regs[2] = 0;
        return HOOK_DONE;
      }
      const lo = x[2]!;
      if (!this.svm.eferWriteAllowed(lo)) return this.finish(SVM_FAULT_GP);
      // The rest of EFER is the core's to check and keep (LMA stays read-only).
      if (!setMsr(cpu, MSR_EFER, (BigInt(x[3]! >>> 0) << 32n) | BigInt((lo & ~EFER_SVME) >>> 0))) {
        return this.finish(SVM_FAULT_GP);
      }
      this.svme = (lo & EFER_SVME) !== 0;
      return HOOK_DONE;
    }
    if (!write) {
      const v = this.svm.rdmsr(msr);
      if (v === undefined) return HOOK_PASS;
      cpu.regs[0] = Number(v & 0xffff_ffffn) | 0;
      cpu.regs[2] = Number(v >> 32n) | 0;
      return HOOK_DONE;
    }
    const ok = this.svm.wrmsr(msr, (BigInt(x[3]! >>> 0) << 32n) | BigInt(x[2]! >>> 0));
    if (ok === undefined) return HOOK_PASS;
    return ok ? HOOK_DONE : this.finish(SVM_FAULT_GP);
  }

  /** rAX as the instruction's address size takes it: RAX, EAX or AX. */
  private rax(): number {
    const cpu = this.cpu;
    const flags = cpu.dc.flags[this.slot]!;
    if ((flags & instr.F_A64) !== 0) return (cpu.regsHi[0]! >>> 0) * 2 ** 32 + (cpu.regs[0]! >>> 0);
    return (flags & instr.F_A32) !== 0 ? cpu.regs[0]! >>> 0 : cpu.regs[0]! & 0xffff;
  }

  private onSvmInstruction(id: number, slot: number): HookResult {
    const svm = this.svm;
    this.slot = slot;
    switch (id) {
      case SVM_INSN_VMRUN: {
        const r = svm.vmrun(this, this.rax());
        // #VMEXIT already put this CPU after its VMRUN.
        if (r === SVM_VMEXIT) return HOOK_DONE;
        if (r === SVM_SHUTDOWN) {
          // The guest shut the processor down: the host core stops as after a triple fault.
          this.cpu.st[state.HALTED] = 2;
          return HOOK_DONE;
        }
        return this.finish(r);
      }
      case SVM_INSN_VMLOAD:
        return this.finish(svm.vmload(this, this.rax()));
      case SVM_INSN_VMSAVE:
        return this.finish(svm.vmsave(this, this.rax()));
      case SVM_INSN_STGI:
        return this.finish(svm.stgi(this));
      case SVM_INSN_CLGI:
        return this.finish(svm.clgi(this));
      case SVM_INSN_INVLPGA: {
        const va = (BigInt(this.cpu.regsHi[0]! >>> 0) << 32n) | BigInt(this.cpu.regs[0]! >>> 0);
        return this.finish(svm.invlpga(this, va, this.cpu.regs[1]!));
      }
      default:
        // SKINIT is not modelled.
        return HOOK_PASS;
    }
  }

  /** Retire the instruction, or raise its fault (#UD: the core raises it on HOOK_PASS). */
  private finish(outcome: number): HookResult {
    if (outcome === SVM_FAULT_UD) return HOOK_PASS;
    if (outcome === SVM_FAULT_GP) {
      injectEvent(this.cpu, 13, 0, EVENT_FAULT, 0);
      return HOOK_DONE;
    }
    return HOOK_DONE;
  }
}
