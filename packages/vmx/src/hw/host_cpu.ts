/**
 * The physical CPU the host kernel runs on, as VMX sees it when kvm_intel executes VMX
 * instructions: ring 0, 64-bit mode, paging on, IA32_FEATURE_CONTROL locked with VMX
 * enabled by the firmware, and CR4.VMXE under the kernel's control. Its physical memory
 * is the host kernel's pages.
 */
import type { HostKernel } from "@glassvm/kvm-kernel";
import { MSR_IA32_FEAT_CTL } from "../asm/vmx.js";
import { VmxCpu } from "./vmx_cpu.js";
import { VmxNonRoot, type VmxNonRootHost } from "./vmx_nonroot.js";

/** CR0 of a running x86-64 kernel: PE, MP, ET, NE, WP, AM, PG. */
export const HOST_CR0 = 0x8005_0033;
/** CR4 of the host before VMX: PAE, PGE, OSFXSR, OSXMMEXCPT, FSGSBASE, OSXSAVE. */
export const HOST_CR4 = 0x0005_06a0;
/** IA32_FEATURE_CONTROL as the firmware leaves it: locked, VMX outside SMX enabled. */
export const HOST_FEATURE_CONTROL = 0x5;

/**
 * CPUID of the physical processor (a SandyBridge-class part): what its instructions'
 * feature checks consult, in root and non-root operation alike. Guests see KVM's CPUID
 * instead — CPUID always exits — but the core's MSRs and instructions follow these bits.
 */
export function hostCpuid(leaf: number, _subleaf: number, out: Int32Array): void {
  out.fill(0);
  switch (leaf >>> 0) {
    case 0:
      out[0] = 0xd;
      out[1] = 0x756e_6547; // "Genu"
      out[3] = 0x4965_6e69; // "ineI"
      out[2] = 0x6c65_746e; // "ntel"
      break;
    case 1:
      out[0] = 0x0002_06a7; // family 6, model 42, stepping 7
      out[1] = 0x0010_0800; // CLFLUSH line 64 bytes
      // VMX. (A real SandyBridge also has SSE3 … AVX; this core stops at SSE2.)
      out[2] = 1 << 5;
      out[3] = 0xbfeb_fbff | 0;
      break;
    case 0x8000_0000:
      out[0] = 0x8000_0008 | 0;
      break;
    case 0x8000_0001:
      out[2] = 0x1; // LAHF/SAHF in 64-bit mode
      out[3] = 0x2810_0800; // SYSCALL NX RDTSCP LM
      break;
    case 0x8000_0008:
      out[0] = 0x3024; // 36 physical, 48 linear address bits
      break;
  }
}

export class HostCpu implements VmxNonRootHost {
  readonly cpuid = hostCpuid;
  readonly vmx = new VmxCpu();
  cr4Value = HOST_CR4;
  /**
   * The general registers RAX…R15 (ModRM order), low and high halves. VMX leaves them
   * alone on VM entry and exit: __vmx_vcpu_run loads the guest's values into them before
   * VMLAUNCH/VMRESUME and saves them after the exit, as the assembly in vmenter.S does.
   */
  readonly regs = new Int32Array(16);
  readonly regsHi = new Int32Array(16);
  /** CR2, which VM entry and exit do not switch either (the guest's value while it runs). */
  cr2 = 0n;
  /** The execution core in VMX non-root operation (the guest runs on it). */
  readonly nonRoot: VmxNonRoot;

  /** The host's bus lock (HostKernel.busLock), shared by its processors on every thread. */
  get busLock(): Int32Array {
    return this.kernel.busLock;
  }

  constructor(
    readonly kernel: HostKernel,
    /** The CPU number (smp_processor_id). */
    readonly id = 0,
  ) {
    this.nonRoot = new VmxNonRoot(this);
    this.vmx.guest = this.nonRoot;
    this.vmx.tlb = this.nonRoot;
  }

  phys(pa: number, len: number): Uint8Array | null {
    return this.kernel.physBytes(pa, len);
  }

  physRange(pa: number, len: number): Uint8Array | null {
    return this.kernel.physRange(pa, len);
  }

  cr0(): number {
    return HOST_CR0;
  }

  cr4(): number {
    return this.cr4Value;
  }

  cpl(): number {
    return 0;
  }

  featureControl(): number {
    return HOST_FEATURE_CONTROL;
  }

  vmxModeOk(): boolean {
    return true;
  }

  movSsBlocking(): boolean {
    return false;
  }

  longMode(): boolean {
    return true;
  }

  /** rdmsr on this CPU for the VMX capability MSRs (undefined = #GP). */
  rdmsr(index: number): bigint | undefined {
    if (index === MSR_IA32_FEAT_CTL) return BigInt(HOST_FEATURE_CONTROL);
    return this.vmx.capabilityMsr(index);
  }
}
