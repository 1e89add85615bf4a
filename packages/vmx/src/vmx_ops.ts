/**
 * arch/x86/kvm/vmx/vmx_ops.h: kvm_intel's accessors for the current VMCS. Each one
 * executes VMREAD/VMWRITE on the host CPU. The width is part of the accessor's name, as
 * in Linux, where a mismatch is a build error (BUILD_BUG_ON); here it throws, since it
 * is a bug in kvm_intel, not something a guest can cause. A failing instruction is
 * reported the way vmread_error/vmwrite_error report it: a kernel warning.
 */
import type { HostCpu } from "./hw/host_cpu.js";
import { VMX_SUCCEED, vmxOutcomeName } from "./hw/vmx_cpu.js";
import { type VmcsWidth, vmcsFieldInfo, vmcsFieldName } from "./vmcs-fields.js";

function checkWidth(field: number, want: VmcsWidth, accessor: string): void {
  const info = vmcsFieldInfo(field);
  const high = (field & 1) === 1;
  const width = high ? 32 : info?.width;
  const ok = width === want;
  if (!info || !ok) {
    throw new Error(`${accessor}: field ${vmcsFieldName(field)} is ${width ?? "unknown"}-bit`);
  }
}

function read(cpu: HostCpu, field: number): bigint {
  const r = cpu.vmx.vmread(cpu, field);
  if (r !== VMX_SUCCEED) {
    cpu.kernel.printk(
      `kvm_intel: vmread failed: field=0x${field.toString(16)} (${vmcsFieldName(field)}): ${vmxOutcomeName(r)}`,
    );
    return 0n;
  }
  return cpu.vmx.readValue;
}

/** `read` for a 16- or 32-bit field: VMREAD's low half, no BigInt. */
function readLow(cpu: HostCpu, field: number): number {
  const r = cpu.vmx.vmread(cpu, field);
  if (r !== VMX_SUCCEED) {
    cpu.kernel.printk(
      `kvm_intel: vmread failed: field=0x${field.toString(16)} (${vmcsFieldName(field)}): ${vmxOutcomeName(r)}`,
    );
    return 0;
  }
  return cpu.vmx.readLo;
}

function write(cpu: HostCpu, field: number, value: bigint): void {
  const r = cpu.vmx.vmwrite(cpu, field, value);
  if (r !== VMX_SUCCEED) {
    cpu.kernel.printk(
      `kvm_intel: vmwrite failed: field=0x${field.toString(16)} (${vmcsFieldName(field)}) val=0x${value.toString(16)}: ${vmxOutcomeName(r)}`,
    );
  }
}

export function vmcsRead16(cpu: HostCpu, field: number): number {
  checkWidth(field, 16, "vmcs_read16");
  return readLow(cpu, field);
}

export function vmcsRead32(cpu: HostCpu, field: number): number {
  checkWidth(field, 32, "vmcs_read32");
  return readLow(cpu, field);
}

export function vmcsRead64(cpu: HostCpu, field: number): bigint {
  checkWidth(field, 64, "vmcs_read64");
  return read(cpu, field);
}

export function vmcsReadl(cpu: HostCpu, field: number): bigint {
  checkWidth(field, "natural", "vmcs_readl");
  return read(cpu, field);
}

export function vmcsWrite16(cpu: HostCpu, field: number, value: number): void {
  checkWidth(field, 16, "vmcs_write16");
  write(cpu, field, BigInt(value & 0xffff));
}

export function vmcsWrite32(cpu: HostCpu, field: number, value: number): void {
  checkWidth(field, 32, "vmcs_write32");
  write(cpu, field, BigInt(value >>> 0));
}

export function vmcsWrite64(cpu: HostCpu, field: number, value: bigint): void {
  checkWidth(field, 64, "vmcs_write64");
  write(cpu, field, value);
}

export function vmcsWritel(cpu: HostCpu, field: number, value: bigint): void {
  checkWidth(field, "natural", "vmcs_writel");
  write(cpu, field, value);
}

/** vmcs_set_bits / vmcs_clear_bits on a 32-bit control. */
export function vmcsSetBits(cpu: HostCpu, field: number, mask: number): void {
  vmcsWrite32(cpu, field, vmcsRead32(cpu, field) | mask);
}

export function vmcsClearBits(cpu: HostCpu, field: number, mask: number): void {
  vmcsWrite32(cpu, field, vmcsRead32(cpu, field) & ~mask);
}

/** vmcs_clear: VMCLEAR, warning on failure. */
export function vmcsClear(cpu: HostCpu, pa: number): void {
  const r = cpu.vmx.vmclear(cpu, pa);
  if (r !== VMX_SUCCEED) {
    cpu.kernel.printk(`kvm_intel: vmclear failed: 0x${pa.toString(16)}: ${vmxOutcomeName(r)}`);
  }
}

/** vmcs_load: VMPTRLD, warning on failure. */
export function vmcsLoad(cpu: HostCpu, pa: number): void {
  const r = cpu.vmx.vmptrld(cpu, pa);
  if (r !== VMX_SUCCEED) {
    cpu.kernel.printk(`kvm_intel: vmptrld failed: 0x${pa.toString(16)}: ${vmxOutcomeName(r)}`);
  }
}
