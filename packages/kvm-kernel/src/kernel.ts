/**
 * The host kernel around KVM: processes with fd tables and address spaces, character
 * devices (misc_register), anonymous-inode files (fs/anon_inodes.c), the ioctl and mmap
 * system calls (fs/ioctl.c, mm/mmap.c), module loading, printk and tracepoints.
 *
 * Only what /dev/kvm needs is modelled, but what is modelled behaves as Linux does: a
 * failing system call returns -errno, a file lives while an fd or a mapping refers to it,
 * and process memory is real memory — KVM reads guest RAM straight out of the pages the
 * VMM mmap'd.
 */

import { Tracepoints } from "./trace.js";
import {
  EAGAIN,
  EBADF,
  EBUSY,
  EEXIST,
  EFAULT,
  EINVAL,
  EMFILE,
  ENODEV,
  ENOENT,
  ENOMEM,
  ENOSYS,
  ENOTTY,
  ESRCH,
} from "./uapi/errno.js";
import type { HostOs, IoctlArg } from "./uapi/hostos.js";
import {
  O_ACCMODE,
  O_RDONLY,
  SIG_BLOCK,
  SIG_SETMASK,
  SIG_UNBLOCK,
  SIGKILL,
} from "./uapi/hostos.js";
import { PAGE_SIZE } from "./uapi/kvm.js";
import {
  CALL_SPIN_US,
  CallChannel,
  type HostThreadLink,
  type MailPort,
  PROCESS_BELL,
  ringBell,
  TASK_BELL_WORD,
  TASK_SIGNALS_WORD,
  waitBell,
} from "./uapi/thread.js";

/** struct file_operations: what a file does on ioctl, mmap and the last close. */
export interface FileOperations {
  /** The anon-inode name ("kvm-vm", "kvm-vcpu") or the device name ("kvm"). */
  readonly name: string;
  /** A device node was opened: 0 or -errno. */
  open?(file: File): number;
  unlockedIoctl?(file: File, request: number, arg: IoctlArg): number;
  /**
   * Map `length` bytes from page offset `pgoff`: the bytes to map, or -errno. The mapping
   * holds a reference on the file until it is unmapped.
   */
  mmap?(file: File, length: number, pgoff: number): Uint8Array | number;
  /** The last reference is gone (fput → __fput → f_op->release). */
  release?(file: File): void;
}

/** struct file. `privateData` is the object behind it (struct kvm, struct kvm_vcpu). */
export class File {
  refcount = 1;
  constructor(
    readonly fops: FileOperations,
    readonly privateData: unknown,
    readonly owner: HostProcess,
    readonly flags: number,
  ) {}

  get(): this {
    this.refcount++;
    return this;
  }

  /** fput: drop a reference; the last one calls release. */
  put(): void {
    if (--this.refcount === 0) this.fops.release?.(this);
  }
}

interface Mapping {
  readonly addr: number;
  readonly length: number;
  readonly bytes: Uint8Array;
  /** The mapped file (a vCPU's kvm_run), or null for anonymous memory. */
  readonly file: File | null;
}

/** Lowest address handed out by mmap is below this; mappings grow down like Linux's mmap_base. */
export const MMAP_BASE = 0x7f00_0000_0000;
/**
 * A thread's own mappings (its vCPU's kvm_run) come from a window of its own below the
 * main thread's, so no address means two things (the process has one address space).
 */
export const THREAD_MMAP_WINDOW = 2 ** 36;
/** Bytes of guard gap left between mappings. */
const MMAP_GAP = PAGE_SIZE;

/** 4 KiB pages in a 2 MiB huge page. */
const HPAGE_PAGES = 512;

const pageAlign = (n: number): number => Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;

/** A user process: an fd table and an address space (struct files_struct + struct mm_struct). */
export class HostProcess implements HostOs {
  readonly fds = new Map<number, File>();
  /** Sorted by address. */
  readonly mappings: Mapping[] = [];
  /** Pending signals (bit n = signal n). */
  pendingSignals = 0;
  /** The blocked-signal mask (bit n = signal n). */
  blockedSignals = 0;
  /** The POSIX timer of timerSignal: its signal, period and next expiry (ns), or null. */
  private signalTimer: { sig: number; interval: bigint; next: bigint } | null = null;
  exited = false;
  /** Where the next mapping ends (mappings grow down). */
  protected mmapTop = MMAP_BASE;
  /** The other threads of this process (clone), by tid. */
  readonly tasks = new Map<number, HostTask>();
  /**
   * The main thread's doorbell (word PROCESS_BELL): threads ring it when they call into
   * the kernel's home or into the main thread's userspace. Shared memory once threads exist.
   */
  readonly bell = new Int32Array(
    typeof SharedArrayBuffer === "function" ? new SharedArrayBuffer(4) : new ArrayBuffer(4),
  );
  /** The doorbell value ppoll last returned on. */
  private bellSeen = 0;
  private nextTid: number;

  constructor(
    readonly kernel: HostKernel,
    readonly pid: number,
    readonly comm: string,
  ) {
    this.nextTid = pid + 1;
  }

  open(path: string, flags = O_RDONLY): number {
    if (this.exited) return -ESRCH;
    if ((flags & O_ACCMODE) === O_ACCMODE) return -EINVAL;
    const dev = this.kernel.devices.get(path);
    if (!dev) return -ENOENT;
    const file = new File(dev, null, this, flags);
    const r = dev.open?.(file) ?? 0;
    if (r < 0) return r;
    return this.installFd(file);
  }

  ioctl(fd: number, request: number, arg: IoctlArg = 0): number {
    const file = this.fds.get(fd);
    if (!file) return -EBADF;
    const ioctl = file.fops.unlockedIoctl;
    if (!ioctl) return -ENOTTY;
    // The call holds its own reference, as fdget does, so a close from inside cannot free it.
    file.get();
    try {
      return ioctl.call(file.fops, file, request >>> 0, arg);
    } finally {
      file.put();
      this.deliverSignals();
    }
  }

  timerSignal(sig: number, intervalNs: number): number {
    if (!(sig > 0 && sig < 32) || !Number.isSafeInteger(intervalNs) || intervalNs < 0) {
      return -EINVAL;
    }
    if (intervalNs === 0) {
      this.signalTimer = null;
      return 0;
    }
    const interval = BigInt(intervalNs);
    this.signalTimer = { sig, interval, next: this.kernel.clock.now() + interval };
    return 0;
  }

  /**
   * The kernel's timer interrupt for this process's POSIX timer: when it has expired, its
   * signal becomes pending (once, however many periods passed: timer overruns).
   */
  pollTimers(): void {
    const t = this.signalTimer;
    if (!t) return;
    const now = this.kernel.clock.now();
    if (now < t.next) return;
    this.pendingSignals |= 1 << t.sig;
    t.next = now + t.interval;
  }

  /** The timer's next expiry (ns), or null when none is armed (a block's wake-up bound). */
  nextTimerExpiry(): bigint | null {
    return this.signalTimer?.next ?? null;
  }

  /** Return to userspace: every pending signal that is not blocked runs its handler. */
  private deliverSignals(): void {
    this.pendingSignals &= this.blockedSignals;
  }

  mmap(fd: number, length: number, offset = 0): number {
    if (!Number.isSafeInteger(length) || length <= 0) return -EINVAL;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset % PAGE_SIZE !== 0) return -EINVAL;
    const size = pageAlign(length);
    let bytes: Uint8Array;
    let file: File | null = null;
    if (fd === -1) {
      try {
        bytes = new Uint8Array(
          typeof SharedArrayBuffer === "function"
            ? new SharedArrayBuffer(size)
            : new ArrayBuffer(size),
        );
      } catch {
        return -ENOMEM;
      }
    } else {
      const f = this.fds.get(fd);
      if (!f) return -EBADF;
      if (!f.fops.mmap) return -ENODEV;
      const r = f.fops.mmap(f, size, offset / PAGE_SIZE);
      if (typeof r === "number") return r;
      bytes = r;
      file = f.get();
    }
    const addr = this.mmapTop - size;
    this.mmapTop = addr - MMAP_GAP;
    this.mappings.push({ addr, length: size, bytes, file });
    this.mappings.sort((a, b) => a.addr - b.addr);
    // Threads share the address space: they get the new anonymous memory too.
    if (fd === -1) for (const t of this.tasks.values()) t.mailMapping(addr, size, bytes);
    return addr;
  }

  munmap(addr: number, length: number): number {
    if (addr % PAGE_SIZE !== 0 || length <= 0) return -EINVAL;
    const i = this.mappings.findIndex((m) => m.addr === addr);
    const m = this.mappings[i];
    // Partial unmaps are not modelled: the VMM unmaps what it mapped.
    if (!m || pageAlign(length) !== m.length) return -EINVAL;
    this.mappings.splice(i, 1);
    m.file?.put();
    return 0;
  }

  close(fd: number): number {
    const file = this.fds.get(fd);
    if (!file) return -EBADF;
    this.fds.delete(fd);
    file.put();
    return 0;
  }

  view(addr: number, length: number): Uint8Array {
    const v = this.accessUser(addr, length);
    if (!v) {
      throw new RangeError(
        `segmentation fault: pid ${this.pid} touched 0x${addr.toString(16)}+${length}, not mapped`,
      );
    }
    return v;
  }

  kill(sig: number): number {
    if (!Number.isInteger(sig) || sig < 1 || sig > 31) return -EINVAL;
    if (this.exited) return -ESRCH;
    this.pendingSignals |= 1 << sig;
    this.deliverSignals();
    return 0;
  }

  sigprocmask(how: number, signals: readonly number[]): number {
    let set = 0;
    for (const s of signals) {
      if (!Number.isInteger(s) || s < 1 || s > 31) return -EINVAL;
      if (s !== SIGKILL) set |= 1 << s;
    }
    if (how === SIG_BLOCK) this.blockedSignals |= set;
    else if (how === SIG_UNBLOCK) this.blockedSignals &= ~set;
    else if (how === SIG_SETMASK) this.blockedSignals = set;
    else return -EINVAL;
    this.deliverSignals();
    return 0;
  }

  sigtimedwait(sig: number): number {
    if (!Number.isInteger(sig) || sig < 1 || sig > 31) return -EINVAL;
    if ((this.pendingSignals & (1 << sig)) === 0) return -EAGAIN;
    this.pendingSignals &= ~(1 << sig);
    return sig;
  }

  /** A signal is pending and not blocked by `mask` (the task's mask when omitted). */
  signalPending(mask = this.blockedSignals): boolean {
    return (this.pendingSignals & ~mask) !== 0;
  }

  // ── threads ──

  /**
   * clone(CLONE_VM | CLONE_FILES | CLONE_THREAD …): a new thread of this process. The
   * returned link is what the thread's realm (a worker) needs to act as that thread —
   * see uapi/thread.ts; whoever starts the worker transfers `link.mail`. The thread gets
   * the process's anonymous memory now and any mapped later, and the kernel subsystems
   * mail it what they share (KVM: the VM, its memslots, other vCPUs' APIC pages).
   */
  clone(): HostThreadLink | number {
    if (this.exited) return -ESRCH;
    if (typeof SharedArrayBuffer !== "function" || typeof MessageChannel !== "function") {
      return -EAGAIN;
    }
    if (!(this.bell.buffer instanceof SharedArrayBuffer)) return -EAGAIN;
    const tid = this.nextTid++;
    const channel = new MessageChannel() as unknown as { port1: MailPort; port2: MailPort };
    const task = new HostTask(this, tid, channel.port1);
    this.tasks.set(tid, task);
    for (const m of this.mappings) if (!m.file) task.mailMapping(m.addr, m.length, m.bytes);
    this.kernel.onClone?.(this, task);
    return {
      pid: this.pid,
      tid,
      processBell: this.bell.buffer as SharedArrayBuffer,
      task: task.shared,
      bellIndex: task.bellIndex,
      signalsIndex: task.signalsIndex,
      kernelCall: task.kernelCall.buffer,
      vcpuCall: task.vcpuCall.buffer,
      runArea: task.runArea,
      mail: channel.port2,
      mailCount: task.mailCount.buffer as SharedArrayBuffer,
      busLock: this.kernel.busLock.buffer as SharedArrayBuffer,
    };
  }

  /** tgkill(2): signal `sig` to thread `tid` of this process (the main thread is `pid`). */
  tgkill(tid: number, sig: number): number {
    if (tid === this.pid) return this.kill(sig);
    const t = this.tasks.get(tid);
    if (!t) return -ESRCH;
    if (!Number.isInteger(sig) || sig < 1 || sig > 31) return -EINVAL;
    Atomics.or(t.words, t.signalsIndex, 1 << sig);
    ringBell(t.words, t.bellIndex);
    return 0;
  }

  /**
   * ppoll(2) as QEMU's main loop uses it: sleep until the doorbell rings (a thread wants
   * the main thread) or `timeoutNs` passes. Meanwhile the kernel does its own work on
   * this CPU: calls threads made into the kernel's home, and its timers. Returns 1 when
   * woken by the bell, 0 on timeout.
   */
  ppoll(timeoutNs: number): number {
    const clock = this.kernel.clock;
    const deadline = clock.now() + BigInt(Math.max(0, Math.floor(timeoutNs)));
    for (;;) {
      this.serveTasks();
      const next = this.kernel.runTimers?.(this) ?? null;
      const seq = Atomics.load(this.bell, PROCESS_BELL);
      if (seq !== this.bellSeen) {
        this.bellSeen = seq;
        return 1;
      }
      const now = clock.now();
      if (now >= deadline) return 0;
      const until = next !== null && next < deadline ? next : deadline;
      const ms = Number(until - now) / 1e6;
      if (ms > 0 && !waitBell(this.bell, PROCESS_BELL, seq, ms, CALL_SPIN_US)) return 0;
    }
  }

  /** Serve every call a thread made into the kernel's home. True when one was served. */
  serveTasks(): boolean {
    let served = false;
    for (const t of this.tasks.values()) {
      if (t.kernelCall.posted()) {
        served = true;
        const h = this.kernel.taskCall;
        const r = h ? h(this, t, t.kernelCall) : -ENOSYS;
        if (r !== TASK_CALL_DEFERRED) t.kernelCall.reply(r, null, t.words, t.bellIndex);
      }
    }
    return served;
  }

  /**
   * Wait for the reply to a call this (main) thread posted to another thread, serving
   * kernel calls and timers meanwhile (the other thread may need them to get there).
   */
  waitCall(ch: CallChannel): number {
    for (;;) {
      if (ch.replied()) return ch.take();
      this.serveTasks();
      const next = this.kernel.runTimers?.(this) ?? null;
      const seq = Atomics.load(this.bell, PROCESS_BELL);
      if (ch.replied()) return ch.take();
      let ms = 50;
      if (next !== null)
        ms = Math.min(ms, Math.max(0, Number(next - this.kernel.clock.now()) / 1e6));
      if (!waitBell(this.bell, PROCESS_BELL, seq, ms, CALL_SPIN_US))
        throw new Error("waitCall: this thread cannot block");
    }
  }

  /** The process exits: every fd is closed and every mapping dropped (do_exit). */
  exit(): void {
    if (this.exited) return;
    this.exited = true;
    for (const t of this.tasks.values()) t.mailPort.close();
    this.tasks.clear();
    for (const fd of [...this.fds.keys()]) this.close(fd);
    for (const m of this.mappings.splice(0)) m.file?.put();
    this.kernel.processes.delete(this.pid);
  }

  /** Install a file at the lowest free fd (fd_install after get_unused_fd_flags). */
  installFd(file: File): number {
    let fd = 0;
    while (this.fds.has(fd)) fd++;
    if (fd >= this.kernel.nrOpen) {
      file.put();
      return -EMFILE;
    }
    this.fds.set(fd, file);
    return fd;
  }

  /**
   * The kernel's view of user memory (access_ok + the page tables): `length` bytes at
   * `addr` inside one mapping, as a view, or null (the caller returns -EFAULT).
   */
  accessUser(addr: number, length: number): Uint8Array | null {
    if (!Number.isSafeInteger(addr) || !Number.isSafeInteger(length) || length < 0) return null;
    for (const m of this.mappings) {
      if (addr >= m.addr && addr + length <= m.addr + m.length) {
        const off = addr - m.addr;
        return m.bytes.subarray(off, off + length);
      }
    }
    return null;
  }

  /**
   * copy_from_user / copy_to_user target for an ioctl argument: a buffer passed directly
   * must hold at least `size` bytes; a number or bigint is a process address.
   */
  userArg(arg: IoctlArg, size: number): Uint8Array | number {
    if (arg instanceof Uint8Array) return arg.length >= size ? arg : -EFAULT;
    const addr = typeof arg === "bigint" ? Number(arg) : arg;
    return this.accessUser(addr, size) ?? -EFAULT;
  }
}

/** A taskCall handler that replied itself (or will). */
export const TASK_CALL_DEFERRED = 0x7fff_ffff;

/** Int32 word indices in page 1 of a task's shared pages (KvmVcpuShared's page 1). */
const TASK_PAGE_BYTES = 2 * PAGE_SIZE;

/**
 * A thread of a process as the process's home (the main thread's kernel) sees it: its
 * shared task pages, the call channels both ways, and the port its mail goes through.
 */
export class HostTask {
  readonly shared = new SharedArrayBuffer(TASK_PAGE_BYTES);
  /** Page 1 of `shared` as Int32 words (the KvmVcpuShared control words). */
  readonly words = new Int32Array(this.shared, PAGE_SIZE);
  readonly kernelCall = CallChannel.create();
  readonly vcpuCall = CallChannel.create();
  /** The kvm_run area of the vCPU the thread creates (3 pages). */
  readonly runArea = new SharedArrayBuffer(3 * PAGE_SIZE);
  readonly mailCount = new Int32Array(new SharedArrayBuffer(4));
  /** Subsystem state for this thread (KVM: its VM and vCPU at the home). */
  readonly data = new Map<string, unknown>();

  constructor(
    readonly proc: HostProcess,
    readonly tid: number,
    readonly mailPort: MailPort,
  ) {}

  readonly bellIndex = TASK_BELL_WORD;
  readonly signalsIndex = TASK_SIGNALS_WORD;

  /** Mail the thread `msg` (shared buffers inside are shared, not copied). */
  mail(msg: HostThreadMail): void {
    this.mailPort.postMessage(msg);
    Atomics.add(this.mailCount, 0, 1);
    ringBell(this.words, this.bellIndex);
  }

  mailMapping(addr: number, length: number, bytes: Uint8Array): void {
    if (!(bytes.buffer instanceof SharedArrayBuffer)) return;
    this.mail({ kind: "map", addr, length, buffer: bytes.buffer, byteOffset: bytes.byteOffset });
  }
}

/**
 * What the kernel mails a thread: `map` (anonymous memory: addr, length, buffer,
 * byteOffset), and what subsystems share (KVM's kinds are in kvm_thread.ts).
 */
export interface HostThreadMail {
  readonly kind: string;
  readonly [field: string]: unknown;
}

/** A monotonic nanosecond clock (ktime_get and the hrtimers that wait on it). */
export interface HostClock {
  /** Nanoseconds since an arbitrary origin; never goes back. */
  now(): bigint;
  /**
   * A vCPU has nothing to do before `ns` (it is halted and its next wake-up is a timer).
   * A virtual clock jumps to `ns` and returns true; the real clock returns false and the
   * caller sleeps.
   */
  idleUntil?(ns: bigint): boolean;
}

/** The real monotonic clock (performance.now at nanosecond granularity). */
export const REAL_CLOCK: HostClock = {
  now: () => BigInt(Math.floor(performance.now() * 1e6)),
};

/**
 * A clock that moves only when told: `advance`/`set` from the VMM or a test, and
 * `idleUntil` when a halted vCPU waits for its APIC timer (idle time is skipped, as a
 * tickless simulator does). Runs driven by it are deterministic.
 */
export class VirtualClock implements HostClock {
  constructor(public ns = 0n) {}
  now(): bigint {
    return this.ns;
  }
  advance(ns: bigint): void {
    if (ns > 0n) this.ns += ns;
  }
  set(ns: bigint): void {
    if (ns > this.ns) this.ns = ns;
  }
  idleUntil(ns: bigint): boolean {
    this.set(ns);
    return true;
  }
}

/**
 * A deterministic host clock: time is what the host's processors did — `nsPerInsn` for
 * each guest instruction retired (the vendor module counts them: HostKernel.instRetired)
 * and `nsPerExit` for each VM exit (HostKernel.vmExits; a round trip through the
 * hypervisor costs about a microsecond on real hardware) — plus the idle time skipped when
 * every runnable vCPU waits for a timer (as VirtualClock does). Two runs of the same
 * single-threaded VM see the same times at the same instructions, so they take the same
 * path: the same exits, the same trace. (A real host's clock follows the wall; QEMU's
 * -icount gives TCG the same property.)
 */
export class InstructionClock implements HostClock {
  private skipped = 0n;

  constructor(
    private readonly kernel: HostKernel,
    readonly nsPerInsn = 1n,
    readonly nsPerExit = 1000n,
  ) {}

  now(): bigint {
    const k = this.kernel;
    return (
      BigInt(k.instRetired?.() ?? 0) * this.nsPerInsn +
      BigInt(k.vmExits) * this.nsPerExit +
      this.skipped
    );
  }

  idleUntil(ns: bigint): boolean {
    const now = this.now();
    if (ns > now) this.skipped += ns - now;
    return true;
  }
}

/** A loadable module: init returns 0 or -errno; exit undoes it. */
export interface KernelModule {
  readonly name: string;
  init(kernel: HostKernel): number;
  exit(kernel: HostKernel): void;
  /** Users that keep the module loaded (open /dev/kvm files, live VMs). */
  refcount(kernel: HostKernel): number;
}

/** The host: processes, devices, modules, printk and tracepoints. */
export class HostKernel {
  readonly processes = new Map<number, HostProcess>();
  /** Device nodes by path: what open() finds. */
  readonly devices = new Map<string, FileOperations>();
  readonly modules = new Map<string, KernelModule>();
  /** printk's ring buffer, as `dmesg` shows it. */
  readonly log: string[] = [];
  readonly trace = new Tracepoints();
  /** RLIMIT_NOFILE. */
  nrOpen = 1024;
  /**
   * Build options of this kernel. CONFIG_KVM_IOAPIC: KVM has its in-kernel irqchip (PIC,
   * I/O APIC, local APICs; KVM_CAP_IRQCHIP, KVM_CREATE_IRQCHIP). Off by default so a VMM
   * that creates the irqchip whenever the capability is there keeps today's userspace
   * irqchip until it is ready for the kernel's.
   */
  readonly config = { CONFIG_KVM_IOAPIC: false };
  /** Online host CPUs (what KVM_CAP_NR_VCPUS is capped by). */
  nrCpus = 4;
  /**
   * Host-physical memory the kernel allocates by the page (alloc_page): VMXON regions,
   * VMCSs, VMCBs, EPT/NPT tables. pfn → the page's bytes.
   */
  readonly physPages = new Map<number, Uint8Array>();
  private nextPfn = 0x10_0000;
  /** gupPages' pins: buffer → "byteOffset:length" → first pfn. */
  private readonly gupCache = new WeakMap<ArrayBufferLike, Map<string, number>>();
  /**
   * The host's monotonic clock (ktime_get), which the in-kernel APIC timer runs on.
   * Replace it with a `VirtualClock` for a deterministic run: time then moves only when the
   * VMM advances it or when every runnable vCPU is halted waiting for a timer.
   */
  clock: HostClock = REAL_CLOCK;
  /**
   * The memory bus's lock word (split locks, CMPXCHG16B: x86 locked.ts): one per host,
   * shared with every thread's copy of the kernel (clone hands it over).
   */
  busLock = new Int32Array(
    typeof SharedArrayBuffer === "function" ? new SharedArrayBuffer(4) : new ArrayBuffer(4),
  );
  /** The host TSC: a 2 GHz counter from `clock` (replaceable for tests). */
  rdtsc: () => bigint = () => this.clock.now() * 2n;
  private nextPid = 1000;
  /**
   * The host's retired-instruction count (a PMU's INST_RETIRED summed over its CPUs), as
   * the processors' model reports it — guest instructions in VMX non-root operation /
   * with SVM's guest mode. Null until a vendor module provides it.
   */
  instRetired: (() => number) | null = null;
  /** VM exits the host's processors took (every vCPU's, as kvm_exit counts them). */
  vmExits = 0;
  /** A subsystem's share of clone(): mail the new thread what it shares (KVM's VMs). */
  onClone: ((proc: HostProcess, task: HostTask) => void) | null = null;
  /** Serve a thread's call into the kernel's home: the result, or TASK_CALL_DEFERRED. */
  taskCall: ((proc: HostProcess, task: HostTask, ch: CallChannel) => number) | null = null;
  /** The home's own timers (VM device timers): run what is due, return the next expiry. */
  runTimers: ((proc: HostProcess) => bigint | null) | null = null;

  /** alloc_page(GFP_KERNEL | __GFP_ZERO): a zeroed 4 KiB page and its physical address. */
  allocPage(): { pa: number; bytes: Uint8Array } {
    const pfn = this.nextPfn++;
    const bytes = new Uint8Array(PAGE_SIZE);
    this.physPages.set(pfn, bytes);
    return { pa: pfn * PAGE_SIZE, bytes };
  }

  /** __free_page. */
  freePage(pa: number): void {
    this.physPages.delete(Math.floor(pa / PAGE_SIZE));
  }

  /**
   * get_user_pages for a page-aligned view of process memory: each 4 KiB page becomes a
   * host-physical frame (reachable through physBytes, the same bytes, no copy). Returns the
   * first pfn; the pages get consecutive pfns. Calling it again with the same view (same
   * buffer, byteOffset and length) returns the same pfn. Pages stay pinned for the kernel's
   * lifetime. A view of 2 MiB or more is placed the way transparent huge pages back an
   * anonymous mapping: the buffer's start counts as 2 MiB-aligned, so a frame's pfn is congruent to its
   * page index in the buffer modulo 512 and every 2 MiB-aligned chunk of the buffer lands in
   * one 2 MiB-aligned run of frames.
   */
  gupPages(view: Uint8Array): number {
    if (view.byteOffset % PAGE_SIZE !== 0 || view.length % PAGE_SIZE !== 0 || view.length === 0) {
      throw new RangeError("gupPages needs a non-empty view of whole, page-aligned pages");
    }
    let byView = this.gupCache.get(view.buffer);
    if (!byView) {
      byView = new Map();
      this.gupCache.set(view.buffer, byView);
    }
    const key = `${view.byteOffset}:${view.length}`;
    const cached = byView.get(key);
    if (cached !== undefined) return cached;
    const npages = view.length / PAGE_SIZE;
    let first = this.nextPfn;
    if (npages >= HPAGE_PAGES) {
      const want = (view.byteOffset / PAGE_SIZE) % HPAGE_PAGES;
      first += (want - (first % HPAGE_PAGES) + HPAGE_PAGES) % HPAGE_PAGES;
    }
    for (let i = 0; i < npages; i++) {
      this.physPages.set(first + i, view.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE));
    }
    this.nextPfn = first + npages;
    byView.set(key, first);
    return first;
  }

  /**
   * `len` bytes (whole pages) of host-physical memory at page-aligned `pa` as one view, when
   * the frames are consecutive pages of one buffer (a pinned run of VMM memory), else null.
   */
  physRange(pa: number, len: number): Uint8Array | null {
    if (pa % PAGE_SIZE !== 0 || len % PAGE_SIZE !== 0 || len <= 0) return null;
    const first = Math.floor(pa / PAGE_SIZE);
    const head = this.physPages.get(first);
    if (!head || head.length !== PAGE_SIZE) return null;
    for (let i = 1; i < len / PAGE_SIZE; i++) {
      const page = this.physPages.get(first + i);
      if (page?.buffer !== head.buffer || page.byteOffset !== head.byteOffset + i * PAGE_SIZE) {
        return null;
      }
    }
    return new Uint8Array(head.buffer, head.byteOffset, len);
  }

  /** `len` bytes of host-physical memory at `pa` within one allocated page, or null. */
  physBytes(pa: number, len: number): Uint8Array | null {
    const page = this.physPages.get(Math.floor(pa / PAGE_SIZE));
    const off = pa % PAGE_SIZE;
    if (!page || off + len > PAGE_SIZE || len < 0) return null;
    return page.subarray(off, off + len);
  }

  /** fork+exec of a VMM: a fresh process with no fds and an empty address space. */
  spawn(comm = "qemu-system-x86"): HostProcess {
    const p = new HostProcess(this, this.nextPid++, comm);
    this.processes.set(p.pid, p);
    return p;
  }

  /** insmod / modprobe. Returns 0 or -errno (EEXIST when a module of that name is loaded). */
  loadModule(mod: KernelModule): number {
    if (this.modules.has(mod.name)) return -EEXIST;
    const r = mod.init(this);
    if (r < 0) return r;
    this.modules.set(mod.name, mod);
    return 0;
  }

  /** rmmod. -EBUSY while in use, -ENOENT when not loaded. */
  unloadModule(name: string): number {
    const mod = this.modules.get(name);
    if (!mod) return -ENOENT;
    if (mod.refcount(this) > 0) {
      this.printk(`rmmod: ERROR: Module ${name} is in use`);
      return -EBUSY;
    }
    mod.exit(this);
    this.modules.delete(name);
    return 0;
  }

  /** misc_register: a character device node appears. */
  miscRegister(path: string, fops: FileOperations): void {
    this.devices.set(path, fops);
  }

  miscDeregister(path: string): void {
    this.devices.delete(path);
  }

  printk(line: string): void {
    this.log.push(line);
  }
}

/**
 * anon_inode_getfd: a new file with no path, owned by `proc`, installed at the lowest free
 * fd. Returns the fd or -errno. As in Linux the fd is reserved first (get_unused_fd_flags):
 * with none free it is -EMFILE and no file ever existed, so `fops.release` does not run and
 * the caller undoes its own work (the reference it took for the file).
 */
export function anonInodeGetfd(
  proc: HostProcess,
  fops: FileOperations,
  priv: unknown,
  flags: number,
): number {
  let fd = 0;
  while (proc.fds.has(fd)) fd++;
  if (fd >= proc.kernel.nrOpen) return -EMFILE;
  return proc.installFd(new File(fops, priv, proc, flags));
}
