/**
 * arch/x86/kvm/vmx/vmx.c — kvm_intel, the part that stands today: module setup
 * (setup_vmcs_config), turning VMX on and off per CPU (kvm_cpu_vmxon / cpu_vmxoff with
 * the per-CPU VMXON region), and VMCS allocation (alloc_vmcs_cpu). vmx_create_vcpu,
 * vmx_vcpu_run and the exit handlers build on these.
 */
import type { HostKernel } from "@glassvm/kvm-kernel";
import { X86_CR4_VMXE } from "./asm/vmx.js";
import { setupVmcsConfig, type VmcsConfig } from "./capabilities.js";
import { HostCpu } from "./hw/host_cpu.js";
import { VMX_SUCCEED, vmxOutcomeName } from "./hw/vmx_cpu.js";

const EIO = 5;
const EBUSY = 16;

/** A VMCS (or VMXON region) page: its physical address and bytes. */
export interface VmcsPage {
  readonly pa: number;
  readonly bytes: Uint8Array;
}

/** kvm_intel's global state: the host CPUs, vmcs_config, the per-CPU VMXON regions. */
export class KvmIntel {
  readonly cpus: HostCpu[];
  vmcsConfig: VmcsConfig | null = null;
  /** per_cpu(vmxarea): each CPU's VMXON region. */
  readonly vmxarea = new Map<number, VmcsPage>();

  constructor(
    readonly kernel: HostKernel,
    nrCpus = 1,
  ) {
    this.cpus = Array.from({ length: nrCpus }, (_, i) => new HostCpu(kernel, i));
  }

  /** hardware_setup: read the capability MSRs on the boot CPU; 0 or -EIO. */
  vmxHardwareSetup(): number {
    const cpu = this.cpus[0]!;
    const cfg = setupVmcsConfig((i) => cpu.rdmsr(i));
    if (typeof cfg === "number") {
      this.kernel.printk("kvm_intel: VMX not supported by CPU (required controls missing)");
      return cfg;
    }
    this.vmcsConfig = cfg;
    for (const c of this.cpus) this.vmxarea.set(c.id, this.allocVmcsCpu());
    return 0;
  }

  /**
   * alloc_vmcs_cpu: a zeroed page with the revision identifier at offset 0 (a VMCS or a
   * VMXON region — they share the format's first word).
   */
  allocVmcsCpu(): VmcsPage {
    const page = this.kernel.allocPage();
    new DataView(page.bytes.buffer, page.bytes.byteOffset, 4).setUint32(
      0,
      this.vmcsConfig?.revisionId ?? 0,
      true,
    );
    return page;
  }

  freeVmcs(page: VmcsPage): void {
    this.kernel.freePage(page.pa);
  }

  /** vmx_hardware_enable → kvm_cpu_vmxon: CR4.VMXE, then VMXON on the CPU's region. */
  vmxHardwareEnable(cpu: HostCpu): number {
    if ((cpu.cr4() & X86_CR4_VMXE) !== 0 || cpu.vmx.inVmxOperation) return -EBUSY;
    const area = this.vmxarea.get(cpu.id);
    if (!area) return -EIO;
    cpu.cr4Value |= X86_CR4_VMXE;
    const r = cpu.vmx.vmxon(cpu, area.pa);
    if (r !== VMX_SUCCEED) {
      cpu.cr4Value &= ~X86_CR4_VMXE;
      this.kernel.printk(`kvm: VMX: VMXON failed on CPU ${cpu.id}: ${vmxOutcomeName(r)}`);
      return -EIO;
    }
    return 0;
  }

  /** vmx_hardware_disable → cpu_vmxoff: VMXOFF and CR4.VMXE cleared. */
  vmxHardwareDisable(cpu: HostCpu): void {
    if (cpu.vmx.inVmxOperation) cpu.vmx.vmxoff(cpu);
    cpu.cr4Value &= ~X86_CR4_VMXE;
  }
}
