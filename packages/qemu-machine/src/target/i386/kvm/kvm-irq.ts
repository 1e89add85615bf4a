/**
 * The userspace-irqchip half of target/i386/kvm/kvm.c (`kernel-irqchip=off`, the only
 * mode the kernel model has): `kvm_arch_pre_run` injects the PIC's interrupt with
 * KVM_INTERRUPT when the guest can take it, else asks for an interrupt window;
 * `kvm_arch_post_run` keeps EFLAGS.IF from kvm_run.if_flag; `kvm_handle_halt` and
 * `kvm_arch_process_async_events` put a halted vCPU to sleep and wake it on INTR.
 */
import { encodeKvmInterrupt, KVM_INTERRUPT, type KvmRun, strerror } from "@glassvm/kvm-kernel/uapi";
import { type KVMState, type KvmVcpuState, kvmVcpuIoctl } from "../../../accel/kvm/kvm-all.js";
import { isaPic, picReadIrq } from "../../../hw/intc/i8259.js";
import {
  CPU_INTERRUPT_HARD,
  cpuInterruptRequest,
  cpuResetInterrupt,
} from "../../../system/cpus.js";
import { errorPrintf } from "../../../util/error-report.js";
import type { X86CPU } from "../cpu.js";

/** IF_MASK (EFLAGS bit 9). */
const IF_MASK = 0x200;
/** EXCP_HLT (accel/kvm). */
const EXCP_HLT = 0x10001;

/** `cpu_get_pic_interrupt` (hw/i386/pc.c): the vector the 8259 delivers, or -1. */
export function cpuGetPicInterrupt(): number {
  return isaPic ? picReadIrq(isaPic) : -1;
}

/** `kvm_arch_pre_run` for the userspace irqchip. */
export function kvmArchPreRun(s: KVMState, v: KvmVcpuState, cpu: X86CPU): void {
  const env = cpu.env;
  const run = v.kvmRun;
  if (
    (cpuInterruptRequest(cpu) & CPU_INTERRUPT_HARD) !== 0 &&
    run.readyForInterruptInjection !== 0 &&
    (env.eflags & IF_MASK) !== 0
  ) {
    cpuResetInterrupt(cpu, CPU_INTERRUPT_HARD);
    const irq = cpuGetPicInterrupt();
    if (irq >= 0) {
      const r = kvmVcpuIoctl(s, v, KVM_INTERRUPT, encodeKvmInterrupt(irq));
      if (r < 0) errorPrintf(`KVM: injection failed, interrupt lost (${strerror(r)})\n`);
    }
  }
  // An interrupt still pending needs a window (KVM_EXIT_IRQ_WINDOW_OPEN).
  run.requestInterruptWindow = (cpuInterruptRequest(cpu) & CPU_INTERRUPT_HARD) !== 0 ? 1 : 0;
}

/** `kvm_arch_post_run`: EFLAGS.IF as KVM left it. */
export function kvmArchPostRun(cpu: X86CPU, run: KvmRun): void {
  if (run.ifFlag) cpu.env.eflags |= IF_MASK;
  else cpu.env.eflags &= ~IF_MASK;
}

/** `kvm_handle_halt`: sleep unless an interrupt can be taken now. */
export function kvmHandleHalt(cpu: X86CPU): number {
  const hard = (cpuInterruptRequest(cpu) & CPU_INTERRUPT_HARD) !== 0;
  if (!(hard && (cpu.env.eflags & IF_MASK) !== 0)) {
    cpu.halted = 1;
    return EXCP_HLT;
  }
  return 0;
}

/** `kvm_arch_process_async_events` (halt part): wake on a takeable interrupt; the halted flag. */
export function kvmArchProcessAsyncEvents(cpu: X86CPU): number {
  const hard = (cpuInterruptRequest(cpu) & CPU_INTERRUPT_HARD) !== 0;
  if (hard && (cpu.env.eflags & IF_MASK) !== 0) cpu.halted = 0;
  return cpu.halted;
}
