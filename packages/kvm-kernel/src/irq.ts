/**
 * arch/x86/kvm/irq.c: what a vCPU with an in-kernel irqchip has to take — the PIC's INTR
 * through LINT0 (ExtINT) first, then its local APIC's highest deliverable vector — and
 * its APIC timer's pending expirations.
 */
import { kvmPicReadIrq } from "./i8259.js";
import { KVM_IRQCHIP_KERNEL, type KvmVcpu } from "./kvm_host.js";
import {
  kvmApicAcceptPicIntr,
  kvmApicHasInterrupt,
  kvmGetApicInterrupt,
  kvmInjectApicTimerIrqs,
  kvmLapicCheckTimer,
} from "./lapic.js";

/** irqchip_in_kernel: KVM_CREATE_IRQCHIP was done. */
export const irqchipInKernel = (vcpu: KvmVcpu): boolean =>
  vcpu.kvm.arch.irqchipMode === KVM_IRQCHIP_KERNEL;

/** kvm_cpu_has_extint: the PIC is asserting INTR and this vCPU's LINT0 takes it. */
export function kvmCpuHasExtint(vcpu: KvmVcpu): boolean {
  if (!vcpu.arch.apic) return vcpu.arch.interrupt.injected;
  if (!kvmApicAcceptPicIntr(vcpu)) return false;
  const home = vcpu.kvm.home;
  if (home) return home.picOutput();
  return vcpu.kvm.arch.vpic?.output ?? false;
}

/** kvm_cpu_has_injectable_intr / kvm_cpu_has_interrupt (no APICv, no nesting). */
export function kvmCpuHasInterrupt(vcpu: KvmVcpu): boolean {
  if (kvmCpuHasExtint(vcpu)) return true;
  return kvmApicHasInterrupt(vcpu) !== -1;
}

/** kvm_cpu_get_interrupt: the vector to inject now (the PIC's INTA first), or -1. */
export function kvmCpuGetInterrupt(vcpu: KvmVcpu): number {
  if (kvmCpuHasExtint(vcpu)) {
    const home = vcpu.kvm.home;
    return home ? home.picReadIrq() : kvmPicReadIrq(vcpu.kvm);
  }
  return kvmGetApicInterrupt(vcpu);
}

/** kvm_cpu_has_pending_timer: the APIC timer expired (polled against the kernel clock). */
export const kvmCpuHasPendingTimer = (vcpu: KvmVcpu): boolean => kvmLapicCheckTimer(vcpu);

/** kvm_inject_pending_timer_irqs. */
export function kvmInjectPendingTimerIrqs(vcpu: KvmVcpu): void {
  kvmInjectApicTimerIrqs(vcpu);
}
