/** kvm_intel loaded on a fresh host, CPU 0 in VMX root operation with a current VMCS. */
import { HostKernel } from "@glassvm/kvm-kernel";
import { KvmIntel } from "../src/vmx.js";
import { vmcsClear, vmcsLoad } from "../src/vmx_ops.js";

export function kvmIntelWithVmcs() {
  const kernel = new HostKernel();
  const kvm = new KvmIntel(kernel);
  if (kvm.vmxHardwareSetup() !== 0) throw new Error("setup_vmcs_config failed");
  const cpu = kvm.cpus[0]!;
  if (kvm.vmxHardwareEnable(cpu) !== 0) throw new Error("VMXON failed");
  const page = kvm.allocVmcsCpu();
  vmcsClear(cpu, page.pa);
  vmcsLoad(cpu, page.pa);
  return { kernel, kvm, cpu, page };
}
