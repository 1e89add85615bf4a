/**
 * kvm_intel's first steps on the modelled VT-x hardware: module setup reads the
 * capability MSRs (setup_vmcs_config), kvm_cpu_vmxon sets CR4.VMXE and executes VMXON,
 * alloc_vmcs_cpu + VMCLEAR + VMPTRLD make a VMCS current, VMWRITE/VMREAD fill and read it,
 * and a VMWRITE to a read-only field fails with VM-instruction error 13.
 *
 * Run: npx tsx --conditions=@glassvm/source packages/vmx/examples/vmxon.ts
 */
import { HostKernel } from "@glassvm/kvm-kernel";
import {
  GUEST_RIP,
  KvmIntel,
  VM_EXIT_REASON,
  VM_INSTRUCTION_ERROR,
  vmcsClear,
  vmcsLoad,
  vmcsRead32,
  vmcsReadl,
  vmcsWrite32,
  vmcsWritel,
  vmxInstructionErrorMessage,
} from "@glassvm/vmx";

export function main(print: (s: string) => void = console.log): void {
  const kernel = new HostKernel();
  const kvm = new KvmIntel(kernel);
  if (kvm.vmxHardwareSetup() !== 0) throw new Error("setup_vmcs_config failed");
  const cfg = kvm.vmcsConfig!;
  print(
    `vmcs_config: revision 0x${cfg.revisionId.toString(16)}, primary 0x${cfg.cpuBasedExecCtrl.toString(16)}, secondary 0x${cfg.cpuBasedExec2Ctrl.toString(16)}`,
  );
  const cpu = kvm.cpus[0]!;
  if (kvm.vmxHardwareEnable(cpu) !== 0) throw new Error("VMXON failed");
  print(`CPU 0 in VMX root operation, VMXON region at 0x${cpu.vmx.vmxonPointer.toString(16)}`);
  const vmcs = kvm.allocVmcsCpu();
  vmcsClear(cpu, vmcs.pa);
  vmcsLoad(cpu, vmcs.pa);
  vmcsWritel(cpu, GUEST_RIP, 0xfff0n);
  print(`VMREAD GUEST_RIP = 0x${vmcsReadl(cpu, GUEST_RIP).toString(16)}`);
  vmcsWrite32(cpu, VM_EXIT_REASON, 0);
  const err = vmcsRead32(cpu, VM_INSTRUCTION_ERROR);
  print(`VMWRITE VM_EXIT_REASON → error ${err}: ${vmxInstructionErrorMessage(err)}`);
  kvm.vmxHardwareDisable(cpu);
}

if (process.argv[1]?.endsWith("vmxon.ts")) main();
