/**
 * accel/kvm/kvm-accel-ops.c's `kvm_vcpu_thread_fn` for `thread=multi`: every vCPU is a
 * host thread of its own (a Node worker / Web Worker), started by qemu_thread_create
 * (`QemuEnv.startThread`, which clones a thread of the QEMU process), as QEMU does.
 *
 * The thread runs the loop itself — kvm_init_vcpu (KVM_CREATE_VCPU, mmap of kvm_run),
 * then process events / kvm_cpu_exec — with KVM_RUN served by its own thread's kernel.
 * What needs the rest of QEMU it does under the big QEMU lock (BQL), and since the
 * device models and the CPU's QOM object live on the main thread, "taking the BQL" is a
 * call to the main thread, which serves these calls whenever it waits (its main loop,
 * qemu_init_vcpu's wait for `created`, pause_all_vcpus's wait for `stopped`):
 *
 * - B_INIT_VCPU: kvm_arch_init_vcpu for the CPU (CPUID, MSRs …) — its vCPU ioctls are
 *   served by the thread while it waits (sched_yield), as they would be on its own stack;
 * - B_IO / B_MMIO: address_space_rw for KVM_EXIT_IO / KVM_EXIT_MMIO;
 * - B_RESET / B_SHUTDOWN / B_INTERNAL_ERROR / B_REPORT / B_DUMP: runstate requests and
 *   messages.
 *
 * A per-thread control page says whether the CPU may run (resume_all_vcpus) and lets the
 * thread acknowledge that it stopped (pause_all_vcpus waits for it, as QEMU waits for
 * cpu->stopped); qemu_cpu_kick is tgkill(SIG_IPI), which ends the thread's KVM_RUN.
 */
import {
  CALL_SPIN_US,
  CallChannel,
  type HostOs,
  type HostThreadLink,
  PROCESS_BELL,
  ringBell,
  SIGUSR1,
  waitBell,
} from "@glassvm/kvm-kernel/uapi";
import type { VcpuThread } from "../../system/cpus.js";
import type { X86CPU } from "../../target/i386/cpu.js";
import {
  EXCP_INTERRUPT,
  KVMState,
  type KvmCpuExecHooks,
  KvmVcpuState,
  kvmCpuExec,
  kvmFlushCoalescedMmioBuffer,
  kvmHandleIo,
  kvmHandleMmio,
  kvmInitVcpu,
  kvmNoteCoalescedRing,
} from "./kvm-all.js";

/** BQL calls from a vCPU thread to the main thread. */
export const B_INIT_VCPU = 1;
export const B_CREATED = 2;
export const B_IO = 3;
export const B_MMIO = 4;
export const B_RESET = 5;
export const B_SHUTDOWN = 6;
export const B_INTERNAL_ERROR = 7;
export const B_REPORT = 8;
export const B_DUMP = 9;
export const B_STOP_ON_EMULATION_ERROR = 10;

/** Control words of a vCPU thread (Int32, shared). */
const C_RUN = 0;
const C_STOPPED = 1;
const C_EXIT = 2;
/** C_EXIT when the thread died of an exception; its text follows at CTL_TEXT. */
const EXIT_DIED = 2;
const CTL_BYTES = 4096;
const CTL_TEXT = 64;

/** What the main thread gives a vCPU thread it starts (structured-clonable). */
export interface KvmVcpuThreadArg {
  readonly cpuIndex: number;
  readonly apicId: number;
  readonly kvmFd: number;
  readonly vmFd: number;
  readonly smpCpus: number;
  readonly maxCpus: number;
  /** The thread's BQL call channel (thread → main). */
  readonly bql: SharedArrayBuffer;
  /** The control words (C_*). */
  readonly ctl: SharedArrayBuffer;
}

/** A started host thread, as qemu_thread_create returns it. */
export interface QemuThreadHandle {
  /** gettid() of the thread, for tgkill. */
  readonly tid: number;
  /** The thread's link to the process (its doorbell, …). */
  readonly link: HostThreadLink;
  /** Forget the thread (its realm is terminated). */
  join(): void;
}

/** What the main thread does for a vCPU thread's BQL calls. */
export interface KvmVcpuThreadServer {
  initVcpu(t: KvmRemoteVcpuThread, fd: number, mmapSize: number): number;
  resetRequest(): void;
  shutdownRequest(): void;
  report(text: string): void;
  dump(t: KvmRemoteVcpuThread): string;
  stopOnEmulationError(t: KvmRemoteVcpuThread): boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** `CPU <n>/KVM` with thread=multi, seen from the main thread. */
export class KvmRemoteVcpuThread implements VcpuThread {
  readonly name: string;
  created = false;
  /** The vCPU's KVM state at the main thread (its fd forwards to the thread). */
  vcpu: KvmVcpuState | null = null;
  readonly bql = CallChannel.create();
  readonly ctl = new Int32Array(new SharedArrayBuffer(CTL_BYTES));
  private deathReported = false;
  private serving = false;
  handle: QemuThreadHandle | null = null;
  private threadBell: Int32Array | null = null;

  constructor(
    readonly s: KVMState,
    readonly cpu: X86CPU,
    private readonly server: KvmVcpuThreadServer,
  ) {
    this.name = `CPU ${cpu.cpuIndex}/KVM`;
  }

  /** Start the thread (qemu_thread_create) and wait for `created` (qemu_init_vcpu). */
  start(
    startThread: (name: string, arg: KvmVcpuThreadArg) => QemuThreadHandle | string,
  ): string | null {
    const h = startThread(this.name, {
      cpuIndex: this.cpu.cpuIndex,
      apicId: this.cpu.apicId,
      kvmFd: this.s.fd,
      vmFd: this.s.vmfd,
      smpCpus: this.s.machine.smpCpus,
      maxCpus: this.s.machine.maxCpus,
      bql: this.bql.buffer,
      ctl: this.ctl.buffer as SharedArrayBuffer,
    });
    if (typeof h === "string") return h;
    this.handle = h;
    this.threadBell = new Int32Array(h.link.task, 4096);
    this.waitFor(() => this.created || Atomics.load(this.ctl, C_EXIT) !== 0);
    return this.created ? null : `${this.name} did not come up`;
  }

  /** The main thread waits (qemu_cond_wait with the BQL dropped): serve BQL calls. */
  waitFor(cond: () => boolean): void {
    const os = this.s.os;
    while (!cond()) {
      os.ppoll?.(50_000_000);
      kvmServeVcpuThreads();
    }
  }

  /** Serve this thread's pending BQL call. True when one was served. */
  serve(): boolean {
    const ch = this.bql;
    // A call being served is not served again by a wait inside its own handling.
    if (this.serving) return false;
    if (!ch.posted()) {
      if (!this.deathReported && Atomics.load(this.ctl, C_EXIT) === EXIT_DIED) {
        this.deathReported = true;
        const bytes = new Uint8Array(this.ctl.buffer, CTL_TEXT, CTL_BYTES - CTL_TEXT);
        const end = bytes.indexOf(0);
        const why = decoder.decode(bytes.slice(0, end < 0 ? bytes.length : end));
        this.server.report(`${this.name}: the thread died: ${why}\n`);
        vmstopRequested = true;
        return true;
      }
      return false;
    }
    this.serving = true;
    try {
      // Under the BQL: first what the vCPUs left in the coalesced ring (it came before).
      kvmFlushCoalescedMmioBuffer(this.s);
      this.serveCall(ch);
    } finally {
      this.serving = false;
    }
    return true;
  }

  private serveCall(ch: CallChannel): void {
    const bell = this.threadBell!;
    const bellIndex = this.handle!.link.bellIndex;
    const a = ch.args;
    let r = 0;
    let out: Uint8Array | null = null;
    switch (ch.op) {
      case B_INIT_VCPU:
        r = this.server.initVcpu(this, a[0]!, a[1]!);
        break;
      case B_CREATED:
        this.created = true;
        break;
      case B_IO: {
        const data = ch.data.subarray(0, a[1]! * a[3]!);
        kvmHandleIo(this.s, a[0]!, data, a[2]!, a[1]!, a[3]!);
        out = data;
        break;
      }
      case B_MMIO: {
        const data = ch.data.subarray(0, a[1]!);
        kvmHandleMmio(this.s, a[0]!, data, a[1]!, a[2]! !== 0);
        out = data;
        break;
      }
      case B_RESET:
        this.server.resetRequest();
        break;
      case B_SHUTDOWN:
        this.server.shutdownRequest();
        break;
      case B_INTERNAL_ERROR:
        // qemu_system_vmstop_request: the main loop stops the VM (a vCPU thread cannot
        // wait for the others to stop while they may wait for it).
        vmstopRequested = true;
        break;
      case B_REPORT:
        this.server.report(decoder.decode(ch.data.slice(0, ch.requestLength)));
        break;
      case B_DUMP:
        out = encoder.encode(this.server.dump(this));
        break;
      case B_STOP_ON_EMULATION_ERROR:
        r = this.server.stopOnEmulationError(this) ? 1 : 0;
        break;
      default:
        r = -1;
    }
    ch.reply(r, out, bell, bellIndex);
  }

  /** The thread's own id (gettid()), -1 before it started. */
  get threadId(): number {
    return this.handle?.tid ?? -1;
  }

  step(): void {
    this.serve();
  }

  /** qemu_cpu_kick: SIG_IPI to the thread, which ends its KVM_RUN. */
  kick(): void {
    if (this.handle) this.s.os.tgkill?.(this.handle.tid, SIGUSR1);
  }

  /** pause_all_vcpus for this CPU: ask it to stop, kick it, wait until it says so. */
  pause(): void {
    Atomics.store(this.ctl, C_RUN, 0);
    this.kick();
    this.waitFor(
      () => Atomics.load(this.ctl, C_STOPPED) === 1 || Atomics.load(this.ctl, C_EXIT) !== 0,
    );
  }

  /** resume_all_vcpus for this CPU. */
  resume(): void {
    Atomics.store(this.ctl, C_STOPPED, 0);
    Atomics.store(this.ctl, C_RUN, 1);
    if (this.threadBell && this.handle) ringBell(this.threadBell, this.handle.link.bellIndex);
  }

  /** The thread ends (qemu_cleanup): tell it, then drop its realm. */
  join(): void {
    Atomics.store(this.ctl, C_EXIT, 1);
    this.kick();
    this.handle?.join();
    this.handle = null;
  }
}

const remoteThreads: KvmRemoteVcpuThread[] = [];

/** A vCPU thread asked for vm_stop(RUN_STATE_INTERNAL_ERROR) (or died). */
let vmstopRequested = false;

/** The main loop takes a pending vmstop request (qemu_vmstop_requested). */
export function kvmVmstopRequested(): boolean {
  const r = vmstopRequested;
  vmstopRequested = false;
  return r;
}

/** Register a started remote thread (the main loop serves it). */
export function kvmRegisterRemoteThread(t: KvmRemoteVcpuThread): void {
  remoteThreads.push(t);
}

/** Serve every pending BQL call of every vCPU thread. True when one was served. */
export function kvmServeVcpuThreads(): boolean {
  let any = false;
  for (const t of remoteThreads) if (t.serve()) any = true;
  return any;
}

/** qemu_cleanup: every vCPU thread ends. */
export function kvmJoinVcpuThreads(): void {
  for (const t of remoteThreads.splice(0)) t.join();
  vmstopRequested = false;
}

/** There are vCPU threads of their own (thread=multi). */
export function kvmHasRemoteThreads(): boolean {
  return remoteThreads.length > 0;
}

// ───────────────────────────── on the vCPU thread ─────────────────────────────

/**
 * The thread died of an exception (a bug, not a guest's doing): put why in its control
 * page and ring the main thread, which reports it and stops the VM.
 */
export function kvmVcpuThreadDied(link: HostThreadLink, arg: KvmVcpuThreadArg, why: string): void {
  const ctl = new Int32Array(arg.ctl);
  const text = encoder.encode(why).subarray(0, CTL_BYTES - CTL_TEXT - 1);
  new Uint8Array(arg.ctl, CTL_TEXT, CTL_BYTES - CTL_TEXT).set(text);
  Atomics.store(ctl, C_EXIT, EXIT_DIED);
  ringBell(new Int32Array(link.processBell), PROCESS_BELL);
}

/** The thread's side of the BQL: post a call to the main thread and wait for it. */
class BqlClient {
  private readonly ch: CallChannel;
  private readonly processBell: Int32Array;
  private readonly bell: Int32Array;
  private readonly bellIndex: number;

  constructor(
    private readonly os: HostOs,
    link: HostThreadLink,
    arg: KvmVcpuThreadArg,
  ) {
    this.ch = new CallChannel(arg.bql);
    this.processBell = new Int32Array(link.processBell);
    this.bell = new Int32Array(link.task, 4096);
    this.bellIndex = link.bellIndex;
  }

  /** bql_lock(); …; bql_unlock() around one call. Our vCPU's ioctls are served meanwhile. */
  call(op: number, args: readonly number[], payload: Uint8Array | null = null): number {
    const ch = this.ch;
    ch.post(op, args, payload, this.processBell, PROCESS_BELL);
    for (;;) {
      if (ch.replied()) return ch.take();
      this.os.schedYield?.();
      const seq = Atomics.load(this.bell, this.bellIndex);
      if (ch.replied()) return ch.take();
      waitBell(this.bell, this.bellIndex, seq, 50, CALL_SPIN_US);
    }
  }

  get data(): Uint8Array {
    return this.ch.data;
  }

  get replyLength(): number {
    return this.ch.replyLength;
  }
}

/**
 * kvm_vcpu_thread_fn on its own thread (`thread=multi`). `os` is this thread's view of
 * the QEMU process (the kernel's HostThreadProcess); `catchUp` reads the kernel's mail
 * (memory and VM state shared since). Resolves when the thread is told to exit.
 */
export async function kvmVcpuThreadFnMulti(
  os: HostOs,
  link: HostThreadLink,
  arg: KvmVcpuThreadArg,
  catchUp: () => Promise<void>,
  mailPending: () => boolean,
): Promise<void> {
  const bql = new BqlClient(os, link, arg);
  const ctl = new Int32Array(arg.ctl);
  const bell = new Int32Array(link.task, 4096);
  const report = (t: string): void => {
    bql.call(B_REPORT, [], encoder.encode(t));
  };
  // address_space_rw under the BQL: one call per access, the bytes little-endian.
  const access = (op: number) => ({
    read(addr: number, size: number): number {
      const d = bql.data;
      bql.call(op, op === B_IO ? [addr, size, 0, 1] : [addr, size, 0]);
      let v = 0;
      for (let k = size - 1; k >= 0; k--) v = (v << 8) | d[k]!;
      return v >>> 0;
    },
    write(addr: number, value: number, size: number): void {
      const b = new Uint8Array(size);
      for (let k = 0; k < size; k++) b[k] = (value >>> (8 * k)) & 0xff;
      bql.call(op, op === B_IO ? [addr, size, 1, 1] : [addr, size, 1], b);
    },
  });
  const io = access(B_IO);
  const memory = access(B_MMIO);
  const s = new KVMState(os, arg.kvmFd, {
    smpCpus: arg.smpCpus,
    maxCpus: arg.maxCpus,
    io: io as unknown as KVMState["machine"]["io"],
    memory: memory as unknown as KVMState["machine"]["memory"],
  });
  s.vmfd = arg.vmFd;
  s.kernelIrqchip = true;
  const v = kvmInitVcpu(s, arg.cpuIndex, arg.apicId, (c) =>
    bql.call(B_INIT_VCPU, [c.kvmFd, c.mmapSize]),
  );
  if (typeof v === "string") {
    report(v);
    Atomics.store(ctl, C_EXIT, 1);
    ringBell(new Int32Array(link.processBell), PROCESS_BELL);
    return;
  }
  v.vcpuDirty = false;
  bql.call(B_CREATED, []);
  const hooks: KvmCpuExecHooks = {
    resetRequest: () => {
      bql.call(B_RESET, []);
    },
    shutdownRequest: () => {
      bql.call(B_SHUTDOWN, []);
    },
    report: (t) => report(`${t}\n`),
    errorReport: (t) => report(`${t}\n`),
    print: (t) => report(t),
    dumpState: () => {
      bql.call(B_DUMP, []);
      return decoder.decode(bql.data.slice(0, bql.replyLength));
    },
    stopOnEmulationError: () => bql.call(B_STOP_ON_EMULATION_ERROR, []) === 1,
  };
  for (;;) {
    if (mailPending()) await catchUp();
    os.schedYield?.();
    if (Atomics.load(ctl, C_EXIT) !== 0) return;
    if (Atomics.load(ctl, C_RUN) === 0) {
      // qemu_wait_io_event: stopped — say so, then sleep until resumed, asked for an
      // ioctl, or mailed (the event loop must turn for mail, so the wait is async).
      if (Atomics.load(ctl, C_STOPPED) !== 1) {
        Atomics.store(ctl, C_STOPPED, 1);
        ringBell(new Int32Array(link.processBell), PROCESS_BELL);
      }
      const seq = Atomics.load(bell, link.bellIndex);
      if (Atomics.load(ctl, C_RUN) !== 0 || mailPending()) continue;
      await waitBellAsync(bell, link.bellIndex, seq, 100);
      continue;
    }
    const r = kvmCpuExec(s, v, hooks);
    if (r < 0) {
      bql.call(B_INTERNAL_ERROR, []);
      Atomics.store(ctl, C_RUN, 0);
    } else if (r === EXCP_INTERRUPT) {
      // A kick (SIG_IPI) or a request: back to the top, where stop/exit/mail are seen.
    }
  }
}

/** Atomics.waitAsync where the realm has it, else a short sleep that lets events in. */
async function waitBellAsync(
  bell: Int32Array,
  index: number,
  seen: number,
  ms: number,
): Promise<void> {
  const wa = (
    Atomics as unknown as {
      waitAsync?: (
        a: Int32Array,
        i: number,
        v: number,
        t: number,
      ) => { async: boolean; value: Promise<string> | string };
    }
  ).waitAsync;
  if (wa) {
    const r = wa(bell, index, seen, ms);
    if (r.async) await r.value;
    else await new Promise((res) => setTimeout(res, 0));
    return;
  }
  await new Promise((res) => setTimeout(res, 1));
}

/** The vCPU state the main thread keeps for a remote vCPU (kvm_run mapped from its fd). */
export function kvmRemoteVcpuState(
  s: KVMState,
  cpuIndex: number,
  apicId: number,
  fd: number,
  mmapSize: number,
): KvmVcpuState | number {
  const addr = s.os.mmap(fd, mmapSize, 0);
  if (addr < 0) return addr;
  const v = new KvmVcpuState(cpuIndex, apicId, fd, addr, mmapSize, s.os.view(addr, mmapSize));
  s.vcpus.push(v);
  kvmNoteCoalescedRing(s, v);
  return v;
}
