/**
 * accel/kvm/kvm-accel-ops.c: the `kvm-accel-ops` type (how KVM runs vCPUs) —
 * `kvm_start_vcpu_thread` creates the thread `CPU <n>/KVM` running `kvm_vcpu_thread_fn`:
 * kvm_init_vcpu (KVM_CREATE_VCPU, mmap of kvm_run, kvm_arch_init_vcpu), report
 * `created`, then loop: process events (sleep while stopped or halted), and
 * `kvm_cpu_exec` when the CPU may run.
 *
 * glassvm's `thread=single`: a thread is the explicit object {@link KvmVcpuThread}; its
 * prologue runs inside kvm_start_vcpu_thread (so qemu_init_vcpu finds it created) and its
 * loop body is `step()`, which the main loop calls for every vCPU in turn on one JS
 * thread — deterministic. (`thread=multi`, a worker per vCPU, is not wired yet.)
 */
import { SIGUSR1, strerror } from "@glassvm/kvm-kernel/uapi";
import { type ObjectClass, type QomObject, typeInit, typeRegisterStatic } from "@glassvm/qom";
import {
  cpuCanRun,
  cpusSetCreateVcpuThread,
  cpuThreadIsIdle,
  type VcpuThread,
} from "../../system/cpus.js";
import {
  qemuSystemResetRequest,
  qemuSystemShutdownRequest,
  SHUTDOWN_CAUSE_GUEST_RESET,
  SHUTDOWN_CAUSE_GUEST_SHUTDOWN,
} from "../../system/runstate.js";
import { startupStep } from "../../system/startup-trace.js";
import { type CPUState, R_CS, type X86CPU } from "../../target/i386/cpu.js";
import { CPU_DUMP_CODE, x86CpuDumpState } from "../../target/i386/cpu-dump.js";
import { kvmArchInitVcpu } from "../../target/i386/kvm/kvm.js";
import {
  kvmArchPostRun,
  kvmArchPreRun,
  kvmArchProcessAsyncEvents,
  kvmHandleHalt,
} from "../../target/i386/kvm/kvm-irq.js";
import { kvmArchGetRegisters, kvmArchPutRegisters } from "../../target/i386/kvm/kvm-regs.js";
import { errorPrintf, errorReport } from "../../util/error-report.js";
import { currentAccel } from "../accel-common.js";
import { type AccelOpsClass, TYPE_ACCEL_OPS } from "../accel-system.js";
import type { KVMAccelState } from "./kvm-accel.js";
import {
  EXCP_HLT,
  type KVMState,
  type KvmCpuExecHooks,
  type KvmVcpuState,
  kvmCpuExec,
  kvmInitVcpu,
  kvmTracedOs,
} from "./kvm-all.js";
import {
  KvmRemoteVcpuThread,
  type KvmVcpuThreadArg,
  kvmRegisterRemoteThread,
  kvmRemoteVcpuState,
  type QemuThreadHandle,
} from "./kvm-vcpu-thread.js";

export const TYPE_KVM_ACCEL_OPS = "kvm-accel-ops";

const FILE = "accel/kvm/kvm-accel-ops.ts";

/**
 * thread=single's round-robin kick: a vCPU that keeps exiting to QEMU (a guest polling a
 * device) is sent back to the scheduler after this many exits, so the main loop (stdin,
 * timers) and the other vCPUs get their turn — what QEMU's RR kick timer does for TCG.
 * Counted, not timed, so a run repeats exactly.
 */
export const RR_KICK_EXITS = 1024;

/**
 * thread=single's round-robin kick for a vCPU that stays inside KVM_RUN (spinning on
 * in-kernel devices, or computing): with more than one vCPU and the kernel's irqchip, a
 * POSIX timer sends SIG_IPI
 * every RR_KICK_NS, KVM_RUN returns -EINTR, and the next vCPU gets its turn — as QEMU's
 * TCG round robin kicks its vCPU every 100 ms (here 10 ms, so that an AP started by
 * INIT/SIPI answers a BSP that waits for it in milliseconds).
 */
export const RR_KICK_NS = 10_000_000;

/** The QEMU process armed its RR kick timer. */
let rrKickArmed = false;

/** A new QEMU process (qemu_cleanup): no RR kick timer yet. */
export function kvmAccelOpsReset(): void {
  rrKickArmed = false;
}

/** What a vCPU thread does when kvm_cpu_exec fails (vm_stop(RUN_STATE_INTERNAL_ERROR)). */
let onInternalError: (() => void) | null = null;

/** vm_stop(RUN_STATE_INTERNAL_ERROR), as a vCPU thread asked for it. */
export function kvmInternalErrorStop(): void {
  onInternalError?.();
}

/** Install the vm_stop(INTERNAL_ERROR) the threads call after a failed kvm_cpu_exec. */
export function kvmSetInternalErrorHandler(fn: (() => void) | null): void {
  onInternalError = fn;
}

/** One vCPU thread, `CPU <index>/KVM`. */
export class KvmVcpuThread implements VcpuThread {
  readonly name: string;
  created = false;
  /** The accelerator's vCPU (kvm_fd, kvm_run) once kvm_init_vcpu ran. */
  vcpu: KvmVcpuState | null = null;
  /** Last kvm_cpu_exec result (EXCP_* or -1). */
  lastExit = 0;
  /** Exits QEMU handled in this turn (see RR_KICK_EXITS). */
  exitsThisTurn = 0;
  readonly hooks: KvmCpuExecHooks;

  constructor(
    readonly s: KVMState,
    readonly cpu: X86CPU,
  ) {
    this.name = `CPU ${cpu.cpuIndex}/KVM`;
    const os = kvmTracedOs(s);
    this.hooks = {
      putRegisters: (v) => kvmArchPutRegisters(os, v.kvmFd, cpu),
      // With the kernel's irqchip, interrupts and HLT never come to QEMU (no KVM_INTERRUPT,
      // no interrupt window, no KVM_EXIT_HLT); kvm_run's if_flag is still copied back.
      preRun: s.kernelIrqchip ? undefined : (v) => kvmArchPreRun(s, v, cpu),
      postRun: (v) => kvmArchPostRun(cpu, v.kvmRun),
      afterExit: (v) => {
        if (++this.exitsThisTurn >= RR_KICK_EXITS) v.exitRequest = true;
      },
      handleHalt: () => kvmHandleHalt(cpu),
      resetRequest: () => qemuSystemResetRequest(SHUTDOWN_CAUSE_GUEST_RESET),
      shutdownRequest: () => qemuSystemShutdownRequest(SHUTDOWN_CAUSE_GUEST_SHUTDOWN),
      report: (t) => errorPrintf(`${t}\n`),
      errorReport: (t) => errorReport(t),
      print: (t) => errorPrintf(t),
      dumpState: (v) => {
        kvmCpuSynchronizeState(s, v, cpu);
        return x86CpuDumpState(cpu, CPU_DUMP_CODE, s.machine.memory);
      },
      stopOnEmulationError: (v) => {
        // kvm_arch_stop_on_emulation_error: carry on only in protected-mode ring 3.
        kvmCpuSynchronizeState(s, v, cpu);
        const env = cpu.env;
        return ((env.cr[0] ?? 0n) & 1n) === 0n || (env.segs[R_CS]!.selector & 3) !== 3;
      },
    };
  }

  /** thread=single: every vCPU runs on QEMU's main thread (its tid is the pid). */
  get threadId(): number {
    return this.s.os.pid;
  }

  step(): void {
    kvmVcpuThreadLoopBody(this);
  }

  kick(): void {
    if (this.vcpu) this.vcpu.exitRequest = true;
  }
}

/**
 * `kvm_vcpu_thread_fn`, the prologue: kvm_init_vcpu (fatal on error, as &error_fatal),
 * then signal `created`. The loop body is {@link kvmVcpuThreadLoopBody}.
 */
export function kvmVcpuThreadFn(t: KvmVcpuThread): void {
  startupStep(FILE, "kvmVcpuThreadFn");
  startupStep("accel/kvm/kvm-all.ts", "kvmInitVcpu");
  const s = t.s;
  const r = kvmInitVcpu(s, t.cpu.cpuIndex, t.cpu.apicId, (v) => {
    startupStep("target/i386/kvm/kvm.ts", "kvmArchInitVcpu");
    return kvmArchInitVcpu(kvmTracedOs(s), v.kvmFd, t.cpu, {
      kvmFd: s.fd,
      irqchipInKernel: s.kernelIrqchip,
      irqchipSplit: s.kernelIrqchipSplit,
      errorReport: (m) => errorReport(m),
    });
  });
  if (typeof r === "string") throw new Error(r);
  t.vcpu = r;
  t.created = true;
}

/**
 * One turn of kvm_vcpu_thread_fn's loop: `qemu_process_cpu_events` (nothing to do while
 * the CPU is idle: stopped, or halted without an interrupt), then `kvm_cpu_exec` if
 * `cpu_can_run`. A halted CPU with a takeable interrupt wakes first
 * (kvm_arch_process_async_events).
 */
export function kvmVcpuThreadLoopBody(t: KvmVcpuThread): void {
  const cpu = t.cpu;
  // kvm_vcpu_thread_is_idle: with HLT in the kernel the thread is never idle in QEMU's
  // eyes — a halted vCPU waits inside KVM_RUN.
  const idle = t.s.kernelIrqchip ? cpu.stopped : cpuThreadIsIdle(cpu);
  if (!t.vcpu || idle || !cpuCanRun(cpu)) return;
  // kvm_arch_process_async_events: nothing to wake in QEMU with the kernel's irqchip.
  if (!t.s.kernelIrqchip && kvmArchProcessAsyncEvents(cpu)) {
    t.lastExit = EXCP_HLT;
    return;
  }
  t.exitsThisTurn = 0;
  const r = kvmCpuExec(t.s, t.vcpu, t.hooks);
  t.lastExit = r;
  if (r < 0) onInternalError?.();
}

const threads = new WeakMap<CPUState, KvmVcpuThread>();

/** The thread of `cpu`, if started. */
export function kvmVcpuThreadOf(cpu: CPUState): KvmVcpuThread | undefined {
  return threads.get(cpu);
}

/**
 * `kvm_cpu_synchronize_state`: if KVM holds the newer state, fetch it into env
 * (kvm_arch_get_registers); from then on QEMU's copy is the one to push before running.
 */
export function kvmCpuSynchronizeState(s: KVMState, v: KvmVcpuState, cpu: X86CPU): void {
  if (v.vcpuDirty) return;
  const r = kvmArchGetRegisters(kvmTracedOs(s), v.kvmFd, cpu);
  if (r < 0) {
    errorReport(`Failed to get registers: ${strerror(r)}`);
    return;
  }
  v.vcpuDirty = true;
}

/**
 * `kvm_cpu_synchronize_post_reset`: QEMU's state is newer than KVM's; push it now
 * (do_kvm_cpu_synchronize_post_reset, run_on_cpu: a vCPU on its own thread is stopped and
 * serves its vCPU's ioctls). Pushing at once, not before the vCPU's next KVM_RUN, matters:
 * an AP that has not run yet may already have an INIT latched by the BSP, which a late
 * KVM_SET_VCPU_EVENTS / KVM_SET_MP_STATE would wipe.
 */
export function kvmCpuSynchronizePostReset(cpu: CPUState): void {
  const t = remoteThreads.get(cpu) ?? threads.get(cpu);
  if (!t?.vcpu) return;
  const ret = kvmArchPutRegisters(kvmTracedOs(t.s), t.vcpu.kvmFd, t.cpu);
  if (ret < 0) {
    errorReport(`Failed to put registers after reset: ${strerror(ret)}`);
    t.vcpu.vcpuDirty = true;
    return;
  }
  t.vcpu.vcpuDirty = false;
}

/**
 * `cpu_synchronize_state(cpu)`: fetch KVM's registers into env and make QEMU's copy the
 * one that counts — changes made to env afterwards (a debugger's, a monitor command's)
 * are pushed before the vCPU's next KVM_RUN.
 */
export function cpuSynchronizeState(cpu: CPUState): void {
  const t = remoteThreads.get(cpu) ?? threads.get(cpu);
  if (t?.vcpu) kvmCpuSynchronizeState(t.s, t.vcpu, t.cpu);
}

/** qemu_thread_create for thread=multi (the embedder's; null: thread=single). */
let threadStarter: ((name: string, arg: KvmVcpuThreadArg) => QemuThreadHandle | string) | null =
  null;

/** thread=multi: vCPU threads are started with `start` (QemuEnv.startThread). */
export function kvmSetThreadStarter(
  start: ((name: string, arg: KvmVcpuThreadArg) => QemuThreadHandle | string) | null,
): void {
  threadStarter = start;
}

const remoteThreads = new WeakMap<CPUState, KvmRemoteVcpuThread>();

/**
 * `kvm_start_vcpu_thread` with thread=multi: a host thread of its own runs
 * kvm_vcpu_thread_fn (kvm-vcpu-thread.ts); the main thread serves its BQL calls until it
 * is `created`.
 */
function kvmStartRemoteVcpuThread(
  s: KVMState,
  cpu: X86CPU,
  start: (name: string, arg: KvmVcpuThreadArg) => QemuThreadHandle | string,
): KvmRemoteVcpuThread {
  const t = new KvmRemoteVcpuThread(s, cpu, {
    initVcpu: (th, fd, size) => {
      startupStep("target/i386/kvm/kvm.ts", "kvmArchInitVcpu");
      const v = kvmRemoteVcpuState(s, cpu.cpuIndex, cpu.apicId, fd, size);
      if (typeof v === "number") return v;
      th.vcpu = v;
      return kvmArchInitVcpu(kvmTracedOs(s), fd, cpu, {
        kvmFd: s.fd,
        irqchipInKernel: s.kernelIrqchip,
        irqchipSplit: s.kernelIrqchipSplit,
        errorReport: (m) => errorReport(m),
      });
    },
    resetRequest: () => qemuSystemResetRequest(SHUTDOWN_CAUSE_GUEST_RESET),
    shutdownRequest: () => qemuSystemShutdownRequest(SHUTDOWN_CAUSE_GUEST_SHUTDOWN),
    report: (text) => errorPrintf(text),
    dump: (th) => {
      if (!th.vcpu) return "";
      kvmCpuSynchronizeState(s, th.vcpu, cpu);
      return x86CpuDumpState(cpu, CPU_DUMP_CODE, s.machine.memory);
    },
    stopOnEmulationError: (th) => {
      if (!th.vcpu) return true;
      kvmCpuSynchronizeState(s, th.vcpu, cpu);
      const env = cpu.env;
      return ((env.cr[0] ?? 0n) & 1n) === 0n || (env.segs[R_CS]!.selector & 3) !== 3;
    },
  });
  remoteThreads.set(cpu, t);
  kvmRegisterRemoteThread(t);
  startupStep(FILE, "kvmVcpuThreadFn");
  const err = t.start(start);
  if (err) throw new Error(err);
  return t;
}

/** `kvm_start_vcpu_thread`: the thread `CPU <n>/KVM`, started (single: prologue run now). */
export function kvmStartVcpuThread(cpu: CPUState): VcpuThread {
  startupStep(FILE, "kvmStartVcpuThread");
  const accel = currentAccel() as KVMAccelState | null;
  const s = accel?.state as KVMState | undefined;
  if (!s) throw new Error("kvm_start_vcpu_thread: KVM is not initialized");
  if (threadStarter) return kvmStartRemoteVcpuThread(s, cpu as X86CPU, threadStarter);
  const t = new KvmVcpuThread(s, cpu as X86CPU);
  threads.set(cpu, t);
  kvmVcpuThreadFn(t);
  // The second vCPU on the one thread: time to share it (SIG_IPI stays unblocked, as
  // kvm_init_cpu_signals leaves it with KVM_CAP_IMMEDIATE_EXIT).
  // (With QEMU's userspace irqchip a halted vCPU waits in QEMU, which skips it; only with
  // HLT in the kernel does a waiting vCPU sit inside KVM_RUN.)
  if (!rrKickArmed && s.vcpus.length > 1 && s.kernelIrqchip) {
    rrKickArmed = kvmTracedOs(s).timerSignal(SIGUSR1, RR_KICK_NS) === 0;
  }
  return t;
}

/** `kvm_accel_ops_init`: register the thread factory with cpus.c. */
function kvmAccelOpsInit(_ops: AccelOpsClass): void {
  cpusSetCreateVcpuThread(kvmStartVcpuThread);
}

typeInit(() => {
  typeRegisterStatic<AccelOpsClass, QomObject>({
    name: TYPE_KVM_ACCEL_OPS,
    parent: TYPE_ACCEL_OPS,
    classInit: (klass: ObjectClass) => {
      const ops = klass as AccelOpsClass;
      ops.opsInit = kvmAccelOpsInit;
      ops.createVcpuThread = (cpu) => {
        kvmStartVcpuThread(cpu as CPUState);
      };
      ops.synchronizePostReset = (cpu) => kvmCpuSynchronizePostReset(cpu as CPUState);
      ops.cpuThreadIsIdle = (cpu) => cpuThreadIsIdle(cpu as CPUState);
    },
  });
});
