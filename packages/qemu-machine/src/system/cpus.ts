/**
 * system/cpus.c: starting vCPU threads (`qemu_init_vcpu`), stopping and resuming them
 * (`pause_all_vcpus`, `resume_all_vcpus`), `cpu_can_run`, `cpu_thread_is_idle`, and the
 * CPU's `interrupt_request` word (`cpu_interrupt` / `cpu_reset_interrupt`).
 *
 * A vCPU thread here is an object the accelerator makes (KVM: {@link VcpuThread} from
 * kvm-accel-ops.ts). With `thread=single` the main loop steps every thread in turn on the
 * caller's JS thread; `create_vcpu_thread` runs the thread's prologue at once, so
 * qemu_init_vcpu's wait for `created` is already satisfied when it returns.
 */
import type { CPUState } from "../target/i386/cpu.js";

/** CPU_INTERRUPT_HARD: the PIC's INTR line is high. */
export const CPU_INTERRUPT_HARD = 0x0002;

/** A vCPU thread as cpus.c sees it. */
export interface VcpuThread {
  /** `CPU <index>/KVM`. */
  readonly name: string;
  readonly cpu: CPUState;
  /** The host thread's id (`cpu->thread_id`, gettid() of the thread that runs it). */
  readonly threadId: number;
  /** Set by the thread once its accelerator vCPU exists (`cpu->created`). */
  readonly created: boolean;
  /** One turn of the thread's loop (events, then the guest if it may run). */
  step(): void;
  /** `qemu_cpu_kick`: make a running guest return to the loop. */
  kick(): void;
  /** A thread of its own (thread=multi): stop and wait until it has (pause_all_vcpus). */
  pause?(): void;
  /** A thread of its own: it may run again (resume_all_vcpus). */
  resume?(): void;
}

/** The accelerator's thread factory (AccelOpsClass.create_vcpu_thread, returning the thread). */
export type CreateVcpuThread = (cpu: CPUState) => VcpuThread;

const threads: VcpuThread[] = [];
let createThread: CreateVcpuThread | null = null;
let nrThreadsPerCore = 1;

/** Install the accelerator's vCPU-thread factory (the vl/accel glue calls this). */
export function cpusSetCreateVcpuThread(fn: CreateVcpuThread | null, smpThreads = 1): void {
  createThread = fn;
  nrThreadsPerCore = smpThreads;
}

/** The vCPU threads started so far, in creation order. */
export function cpusVcpuThreads(): readonly VcpuThread[] {
  return threads;
}

/**
 * `qemu_init_vcpu(cpu)`: nr_threads := smp.threads, stopped := true, start the thread
 * and wait until it reports `created`.
 */
export function qemuInitVcpu(cpu: CPUState): void {
  if (!createThread) throw new Error("qemu_init_vcpu: no accelerator vCPU threads registered");
  cpu.nrThreads = nrThreadsPerCore;
  cpu.stopped = true;
  const t = createThread(cpu);
  if (!t.created) throw new Error(`qemu_init_vcpu: ${t.name} did not come up`);
  threads.push(t);
}

/** `cpu_can_run`: not stopped. */
export function cpuCanRun(cpu: CPUState): boolean {
  return !cpu.stopped;
}

type WithInterrupt = CPUState & { interruptRequest?: number };

/** `cpu->interrupt_request`. */
export function cpuInterruptRequest(cpu: CPUState): number {
  return (cpu as WithInterrupt).interruptRequest ?? 0;
}

/** `cpu_interrupt(cpu, mask)`: raise and kick the vCPU out of the guest. */
export function cpuInterrupt(cpu: CPUState, mask: number): void {
  const c = cpu as WithInterrupt;
  c.interruptRequest = (c.interruptRequest ?? 0) | mask;
  threads.find((t) => t.cpu === cpu)?.kick();
}

/** `cpu_reset_interrupt(cpu, mask)`. */
export function cpuResetInterrupt(cpu: CPUState, mask: number): void {
  const c = cpu as WithInterrupt;
  c.interruptRequest = (c.interruptRequest ?? 0) & ~mask;
}

/**
 * `cpu_thread_is_idle` for KVM with the userspace irqchip: stopped, or halted with no
 * hard interrupt pending (`kvm_halt_in_kernel()` is false).
 */
export function cpuThreadIsIdle(cpu: CPUState): boolean {
  if (cpu.stopped) return true;
  return cpu.halted !== 0 && (cpuInterruptRequest(cpu) & CPU_INTERRUPT_HARD) === 0;
}

/** `pause_all_vcpus`: every CPU stopped (and kicked out of KVM_RUN). */
export function pauseAllVcpus(): void {
  for (const t of threads) {
    t.cpu.stopped = true;
    if (t.pause) t.pause();
    else t.kick();
  }
}

/** `resume_all_vcpus`: every CPU may run again. */
export function resumeAllVcpus(): void {
  for (const t of threads) {
    t.cpu.stopped = false;
    t.resume?.();
  }
}

/** `qemu_cpu_kick` for every vCPU (what a reset or shutdown request does). */
export function cpusKickAll(): void {
  for (const t of threads) t.kick();
}

/** Forget every thread (a fresh process; for tests). */
export function cpusReset(): void {
  threads.length = 0;
  createThread = null;
  nrThreadsPerCore = 1;
}
