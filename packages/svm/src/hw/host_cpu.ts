/**
 * The physical AMD CPU the host kernel runs on, as SVM sees it when kvm_amd executes SVM
 * instructions: ring 0, 64-bit mode, paging on, EFER with SCE/LME/LMA/NX (SVME under the
 * kernel's control, VM_CR.SVMDIS clear as firmware leaves it). Its physical memory is the
 * host kernel's pages; its host state is the kernel's constant one (__KERNEL_CS …), saved
 * to the host save area by VMRUN and reloaded from it at #VMEXIT.
 */
import type { HostKernel } from "@glassvm/kvm-kernel";
import {
  EFER_LMA,
  EFER_LME,
  EFER_NX,
  EFER_SCE,
  EFER_SVME,
  MSR_EFER,
  SVM_CPUID_FUNC,
} from "../asm/svm.js";
import { SvmCpu } from "./svm_cpu.js";
import { SvmNonRoot, type SvmNonRootHost } from "./svm_nonroot.js";
import {
  copyVmloadState,
  VMCB_CPL,
  VMCB_CR0,
  VMCB_CR3,
  VMCB_CR4,
  VMCB_CS,
  VMCB_DS,
  VMCB_EFER,
  VMCB_ES,
  VMCB_GDTR,
  VMCB_IDTR,
  VMCB_RAX,
  VMCB_RFLAGS,
  VMCB_RIP,
  VMCB_RSP,
  VMCB_SIZE,
  VMCB_SS,
  Vmcb,
} from "./vmcb.js";

/** CR0 of a running x86-64 kernel: PE, MP, ET, NE, WP, AM, PG. */
export const HOST_CR0 = 0x8005_0033;
/** CR4 of the host: PAE, PGE, OSFXSR, OSXMMEXCPT, FSGSBASE, OSXSAVE. */
export const HOST_CR4 = 0x0005_06a0;
/** EFER of a 64-bit kernel before kvm_amd sets SVME. */
export const HOST_EFER = EFER_SCE | EFER_LME | EFER_LMA | EFER_NX;
/** Linux's __KERNEL_CS and __KERNEL_DS. */
export const HOST_KERNEL_CS = 0x10;
export const HOST_KERNEL_DS = 0x18;
/** Where the host resumes after VMRUN: a stand-in for the return address in __svm_vcpu_run. */
export const HOST_VMRUN_RIP = 0xffff_ffff_8100_0000n;

/**
 * CPUID of the physical processor (a family 17h part, "AuthenticAMD"): what instructions'
 * feature checks consult on the host and in guests that do not intercept CPUID.
 */
export function hostCpuid(svm: SvmCpu, leaf: number, _subleaf: number, out: Int32Array): void {
  out.fill(0);
  switch (leaf >>> 0) {
    case 0:
      out[0] = 0xd;
      out[1] = 0x6874_7541; // "Auth"
      out[3] = 0x6974_6e65; // "enti"
      out[2] = 0x444d_4163; // "cAMD"
      break;
    case 1:
      out[0] = 0x0080_0f12; // family 17h
      out[1] = 0x0010_0800;
      out[3] = 0x178b_fbff | 0;
      break;
    case 0x8000_0000:
      out[0] = SVM_CPUID_FUNC | 0;
      out[1] = 0x6874_7541;
      out[3] = 0x6974_6e65;
      out[2] = 0x444d_4163;
      break;
    case 0x8000_0001:
      out[2] = 0x1; // LAHF/SAHF in 64-bit mode
      out[3] = 0x2810_0800; // SYSCALL NX RDTSCP LM
      break;
    case 0x8000_0008:
      out[0] = 0x3030; // 48 physical, 48 linear address bits
      break;
  }
  svm.cpuid(leaf, out);
}

/** The host's segment and register state, as VMRUN saves it (§8.1). */
export interface HostSvmState {
  cr0: number;
  cr3: bigint;
  cr4: number;
  efer: number;
  rflags: number;
  rip: bigint;
  gdtrBase: bigint;
  idtrBase: bigint;
}

export class HostCpu implements SvmNonRootHost {
  readonly svm = new SvmCpu();
  readonly cpuid = (leaf: number, subleaf: number, out: Int32Array): void =>
    hostCpuid(this.svm, leaf, subleaf, out);
  /** EFER (bits 31:0): SVME is set by kvm_amd's hardware enable. */
  eferValue = HOST_EFER;
  readonly state: HostSvmState = {
    cr0: HOST_CR0,
    cr3: 0x100_0000n,
    cr4: HOST_CR4,
    efer: HOST_EFER,
    rflags: 0x2,
    rip: HOST_VMRUN_RIP,
    gdtrBase: 0xffff_fe00_0000_1000n,
    idtrBase: 0xffff_fe00_0000_0000n,
  };
  /** RAX … R15 (ModRM order): the guest's RBX … R15 are left here by #VMEXIT. */
  readonly regs = new Int32Array(16);
  readonly regsHi = new Int32Array(16);
  /** The processor's FS, GS, TR, LDTR and VMLOAD MSRs, kept in VMCB layout. */
  readonly vmloadRegs = new Vmcb(-1, new Uint8Array(VMCB_SIZE));
  /** The execution core in guest mode. */
  readonly nonRoot: SvmNonRoot;

  /** The host's bus lock (HostKernel.busLock), shared by its processors on every thread. */
  get busLock(): Int32Array {
    return this.kernel.busLock;
  }

  constructor(
    readonly kernel: HostKernel,
    /** The CPU number (smp_processor_id). */
    readonly id = 0,
  ) {
    this.nonRoot = new SvmNonRoot(this, this.svm.caps.physAddrBits);
    this.svm.guest = this.nonRoot;
    this.svm.tlb = this.nonRoot;
  }

  phys(pa: number, len: number): Uint8Array | null {
    return this.kernel.physBytes(pa, len);
  }

  physRange(pa: number, len: number): Uint8Array | null {
    return this.kernel.physRange(pa, len);
  }

  cpl(): number {
    return 0;
  }

  efer(): number {
    return this.eferValue;
  }

  /** rdmsr on this CPU: EFER and the SVM MSRs (undefined = #GP). */
  rdmsr(index: number): bigint | undefined {
    if (index >>> 0 === MSR_EFER) return BigInt(this.eferValue >>> 0);
    return this.svm.rdmsr(index);
  }

  /** wrmsr on this CPU: false = #GP (EFER.SVME while VM_CR.SVMDIS, bad SVM MSR values). */
  wrmsr(index: number, value: bigint): boolean {
    if (index >>> 0 === MSR_EFER) {
      const v = Number(value & 0xffff_ffffn);
      const valid = HOST_EFER | EFER_SVME;
      if (value >> 32n !== 0n || (v & ~valid) !== 0 || !this.svm.eferWriteAllowed(v)) return false;
      this.eferValue = v;
      return true;
    }
    return this.svm.wrmsr(index, value) ?? false;
  }

  saveHostState(hsave: Vmcb): void {
    const s = this.state;
    hsave.setSegment(VMCB_ES, { selector: 0, attrib: 0, limit: 0xffff_ffff, base: 0n });
    hsave.setSegment(VMCB_CS, {
      selector: HOST_KERNEL_CS,
      attrib: 0x29b, // P, S, code/read/accessed, L
      limit: 0xffff_ffff,
      base: 0n,
    });
    hsave.setSegment(VMCB_SS, {
      selector: HOST_KERNEL_DS,
      attrib: 0x493,
      limit: 0xffff_ffff,
      base: 0n,
    });
    hsave.setSegment(VMCB_DS, { selector: 0, attrib: 0, limit: 0xffff_ffff, base: 0n });
    hsave.write32(VMCB_GDTR + 4, 0x7f);
    hsave.write64(VMCB_GDTR + 8, s.gdtrBase);
    hsave.write32(VMCB_IDTR + 4, 0xfff);
    hsave.write64(VMCB_IDTR + 8, s.idtrBase);
    hsave.write64(VMCB_EFER, BigInt(this.eferValue >>> 0));
    hsave.write64(VMCB_CR0, BigInt(s.cr0 >>> 0));
    hsave.write64(VMCB_CR3, s.cr3);
    hsave.write64(VMCB_CR4, BigInt(s.cr4 >>> 0));
    hsave.write64(VMCB_RFLAGS, BigInt(s.rflags >>> 0));
    hsave.write64(VMCB_RIP, s.rip);
    hsave.write64Halves(VMCB_RSP, this.regs[4]!, this.regsHi[4]!);
    hsave.write64Halves(VMCB_RAX, this.regs[0]!, this.regsHi[0]!);
    hsave.write8(VMCB_CPL, 0);
  }

  loadHostState(hsave: Vmcb): void {
    const s = this.state;
    this.eferValue = hsave.read32(VMCB_EFER);
    s.efer = this.eferValue;
    s.cr0 = hsave.read32(VMCB_CR0) | 1;
    s.cr3 = hsave.read64(VMCB_CR3);
    s.cr4 = hsave.read32(VMCB_CR4);
    s.rflags = hsave.read32(VMCB_RFLAGS) & ~(1 << 17);
    s.rip = hsave.read64(VMCB_RIP);
    s.gdtrBase = hsave.read64(VMCB_GDTR + 8);
    s.idtrBase = hsave.read64(VMCB_IDTR + 8);
    this.regs[4] = hsave.read32(VMCB_RSP);
    this.regsHi[4] = hsave.readHigh32(VMCB_RSP);
    this.regs[0] = hsave.read32(VMCB_RAX);
    this.regsHi[0] = hsave.readHigh32(VMCB_RAX);
    // DR7 = 0x400 (breakpoints off) is implicit: this model keeps no host debug registers.
  }

  vmloadState(from: Vmcb): void {
    copyVmloadState(from, this.vmloadRegs);
  }

  vmsaveState(to: Vmcb): void {
    copyVmloadState(this.vmloadRegs, to);
  }
}
