/**
 * The physical CPU the host kernel runs on, as VMX sees it when kvm_intel executes VMX
 * instructions: ring 0, 64-bit mode, paging on, IA32_FEATURE_CONTROL locked with VMX
 * enabled by the firmware, and CR4.VMXE under the kernel's control. Its physical memory
 * is the host kernel's pages.
 */
import type { HostKernel } from "@glassvm/kvm-kernel";
import { MSR_IA32_FEAT_CTL } from "../asm/vmx.js";
import type { VmxProcessor } from "./vmx_cpu.js";
import { VmxCpu } from "./vmx_cpu.js";

/** CR0 of a running x86-64 kernel: PE, MP, ET, NE, WP, AM, PG. */
export const HOST_CR0 = 0x8005_0033;
/** CR4 of the host before VMX: PAE, PGE, OSFXSR, OSXMMEXCPT, FSGSBASE, OSXSAVE. */
export const HOST_CR4 = 0x0005_06a0;
/** IA32_FEATURE_CONTROL as the firmware leaves it: locked, VMX outside SMX enabled. */
export const HOST_FEATURE_CONTROL = 0x5;

export class HostCpu implements VmxProcessor {
  readonly vmx = new VmxCpu();
  cr4Value = HOST_CR4;

  constructor(
    readonly kernel: HostKernel,
    /** The CPU number (smp_processor_id). */
    readonly id = 0,
  ) {}

  phys(pa: number, len: number): Uint8Array | null {
    return this.kernel.physBytes(pa, len);
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
