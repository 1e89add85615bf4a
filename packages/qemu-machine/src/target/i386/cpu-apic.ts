/**
 * target/i386/cpu-apic.c: the CPU's local APIC device. `x86_cpu_apic_create` makes the
 * model `apic_get_class` picks — `kvm-apic` when the APIC is in the kernel — as the CPU's
 * child "lapic" with the CPU's APIC ID; `x86_cpu_apic_realize` realizes it. QEMU's
 * userspace `apic` (kernel-irqchip=off) is not modelled: without the kernel's irqchip the
 * CPU has no local APIC in glassvm, as before.
 */
import {
  objectNew,
  objectPropertyAddChild,
  objectPropertySetUint,
  qdevRealize,
} from "@glassvm/qom";
import { kvmIrqchipInKernel } from "../../accel/kvm/kvm-all.js";
import { TYPE_KVM_APIC } from "../../hw/i386/kvm/apic.js";
import {
  APIC_DEFAULT_ADDRESS,
  type APICCommonState,
  MSR_IA32_APICBASE_ENABLE,
} from "../../hw/intc/apic_common.js";
import type { X86CPU } from "./cpu.js";

/** `apic_get_class`: the APIC type for this accelerator, or null when glassvm has none. */
export function apicGetClass(): string | null {
  return kvmIrqchipInKernel() ? TYPE_KVM_APIC : null;
}

/** `x86_cpu_apic_create`. */
export function x86CpuApicCreate(cpu: X86CPU): void {
  const type = apicGetClass();
  if (!type) return;
  const apic = objectNew(type) as APICCommonState;
  cpu.apicState = apic;
  objectPropertyAddChild(cpu, "lapic", apic);
  apic.cpu = cpu;
  apic.apicbase = (APIC_DEFAULT_ADDRESS | MSR_IA32_APICBASE_ENABLE) >>> 0;
  objectPropertySetUint(apic, "id", cpu.apicId);
}

/** `x86_cpu_apic_realize` (no MMIO window: see hw/i386/kvm/apic.ts). */
export function x86CpuApicRealize(cpu: X86CPU): void {
  if (cpu.apicState) qdevRealize(cpu.apicState);
}
