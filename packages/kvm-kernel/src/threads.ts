/**
 * A thread of a process, seen from inside its own realm (a worker): the thread half of
 * kernel.ts's clone(). JavaScript realms share no objects, so each thread has its own
 * copy of the kernel's code and a HostThreadProcess that acts as the process on this
 * thread:
 *
 * - memory: the process's anonymous mappings, mailed as the same SharedArrayBuffers at
 *   the same addresses (one address space);
 * - files: the fds this thread's subsystems made local (KVM: /dev/kvm, the VM's shard,
 *   the vCPU it created) answer here; any other fd is the home's — the call goes to the
 *   main thread's kernel (`K_IOCTL`) and the thread waits for it, as a thread contending
 *   for a lock would;
 * - signals: pending bits in the task's shared page, so tgkill from another thread (QEMU's
 *   SIG_IPI kick) is seen by this thread's KVM_RUN;
 * - a vCPU's ioctls made from another thread are served here when this thread is not in
 *   KVM_RUN — at sched_yield (Linux: the caller sleeps on vcpu->mutex until KVM_RUN lets
 *   it go; QEMU kicks the vCPU first).
 */
import {
  type File,
  type HostKernel,
  HostProcess,
  type HostThreadMail,
  MMAP_BASE,
  THREAD_MMAP_WINDOW,
} from "./kernel.js";
import { EFAULT } from "./uapi/errno.js";
import type { IoctlArg } from "./uapi/hostos.js";
import { _IOC_DIR, _IOC_READ, _IOC_SIZE } from "./uapi/ioctl.js";
import { PAGE_SIZE } from "./uapi/kvm.js";
import {
  CALL_SPIN_US,
  CallChannel,
  type HostThreadLink,
  PROCESS_BELL,
  ringBell,
  waitBell,
} from "./uapi/thread.js";

/** Kernel calls a thread makes to the home (K_*) and the home to a thread (V_*). */
export const K_IOCTL = 1;
export const K_CREATE_VCPU = 2;
export const K_PIO = 3;
export const K_MMIO = 4;
export const K_PIC_READ_IRQ = 5;
export const K_IOAPIC_EOI = 6;
export const V_IOCTL = 1;

/** How an ioctl argument travels in a call: by value, or as bytes (copied both ways). */
const ARG_VALUE = 0;
const ARG_BYTES = 1;

/**
 * The bytes an ioctl argument stands for, for a call to another thread: a buffer as is;
 * an address as its struct (_IOC_SIZE bytes of process memory); null for a value.
 */
export function ioctlArgBytes(
  proc: HostProcess,
  request: number,
  arg: IoctlArg,
): Uint8Array | null | number {
  if (arg instanceof Uint8Array) return arg;
  const dir = _IOC_DIR(request);
  const size = _IOC_SIZE(request);
  if (dir === 0 || size === 0) return null;
  const addr = typeof arg === "bigint" ? Number(arg) : arg;
  if (addr === 0) return null;
  return proc.accessUser(addr, size) ?? -EFAULT;
}

/** Post an ioctl on `ch`: request, value or bytes. */
export function postIoctl(
  ch: CallChannel,
  op: number,
  fd: number,
  request: number,
  arg: IoctlArg,
  bytes: Uint8Array | null,
  bell: Int32Array,
  bellIndex: number,
): void {
  if (bytes) ch.post(op, [fd, request, ARG_BYTES, 0], bytes, bell, bellIndex);
  else ch.post(op, [fd, request, ARG_VALUE, Number(arg as number | bigint)], null, bell, bellIndex);
}

/** The argument of an ioctl call as the server sees it. */
export function servedIoctlArg(ch: CallChannel): IoctlArg {
  return ch.args[2] === ARG_BYTES ? ch.data.slice(0, ch.requestLength) : ch.args[3]!;
}

/** After the call: what the server wrote into a bytes argument goes back to the caller. */
export function copyBackIoctl(ch: CallChannel, request: number, bytes: Uint8Array | null): void {
  if (!bytes) return;
  if ((_IOC_DIR(request) & _IOC_READ) !== 0 || _IOC_DIR(request) === 0) {
    bytes.set(ch.data.subarray(0, Math.min(bytes.length, ch.replyLength)));
  }
}

/** A mail handler of a subsystem (KVM) on the thread side. */
export type ThreadMailHandler = (proc: HostThreadProcess, msg: HostThreadMail) => void;

/** Mail handlers by kind, as subsystems register them. */
export const threadMailHandlers = new Map<string, ThreadMailHandler>();

/**
 * The process on one of its threads (see the file comment). Build it with
 * {@link attachHostThread}.
 */
export class HostThreadProcess extends HostProcess {
  readonly tid: number;
  readonly processBell: Int32Array;
  /** Page 1 of the task pages as Int32 words (bell, signals …). */
  readonly words: Int32Array;
  readonly bellIndex: number;
  readonly signalsIndex: number;
  readonly kernelCall: CallChannel;
  readonly vcpuCall: CallChannel;
  /** fds whose files live in this realm. */
  readonly localFds = new Set<number>();
  /** The vCPU fd this thread created (ioctls from other threads land on it), or -1. */
  vcpuFd = -1;
  private mailRead = 0;
  private readonly mailCount: Int32Array;
  private readonly mailQueue: HostThreadMail[] = [];
  private mailWaiter: (() => void) | null = null;

  constructor(
    kernel: HostKernel,
    readonly link: HostThreadLink,
  ) {
    super(kernel, link.pid, "vcpu-thread");
    this.tid = link.tid;
    this.mmapTop = MMAP_BASE - (link.tid - link.pid) * THREAD_MMAP_WINDOW;
    this.processBell = new Int32Array(link.processBell);
    this.words = new Int32Array(link.task, PAGE_SIZE);
    this.bellIndex = link.bellIndex;
    this.signalsIndex = link.signalsIndex;
    this.kernelCall = new CallChannel(link.kernelCall);
    this.vcpuCall = new CallChannel(link.vcpuCall);
    this.mailCount = new Int32Array(link.mailCount);
    // The thread's pending signals are the task word another thread's tgkill sets.
    const words = this.words;
    const at = this.signalsIndex;
    Object.defineProperty(this, "pendingSignals", {
      get: () => Atomics.load(words, at),
      set: (v: number) => {
        Atomics.store(words, at, v | 0);
      },
    });
    const onMail = (data: unknown): void => {
      this.mailQueue.push(data as HostThreadMail);
      const w = this.mailWaiter;
      this.mailWaiter = null;
      w?.();
    };
    const port = link.mail;
    if (port.on) port.on("message", onMail);
    else if (port.addEventListener) {
      port.addEventListener("message", (ev) => onMail(ev.data));
      port.start?.();
    }
  }

  /** Mail the kernel sent that this thread has not read yet. */
  mailPending(): boolean {
    return Atomics.load(this.mailCount, 0) !== this.mailRead;
  }

  /**
   * Read all mail sent so far (the event loop must turn for it to arrive, so this is
   * async): mappings, and what subsystems share (the VM, memslots, vCPU pages).
   */
  async catchUpMail(): Promise<void> {
    while (this.mailPending()) {
      while (this.mailQueue.length === 0) {
        await new Promise<void>((resolve) => {
          this.mailWaiter = resolve;
        });
      }
      const msg = this.mailQueue.shift()!;
      this.mailRead++;
      this.applyMail(msg);
    }
  }

  private applyMail(msg: HostThreadMail): void {
    if (msg.kind === "map") {
      const length = msg.length as number;
      const bytes = new Uint8Array(
        msg.buffer as SharedArrayBuffer,
        msg.byteOffset as number,
        length,
      );
      this.mappings.push({ addr: msg.addr as number, length, bytes, file: null });
      this.mappings.sort((a, b) => a.addr - b.addr);
      return;
    }
    threadMailHandlers.get(msg.kind)?.(this, msg);
  }

  /** Put `file` at exactly `fd` (the number the home gave it). */
  installLocalFd(fd: number, file: File): void {
    this.fds.get(fd)?.put();
    this.fds.set(fd, file);
    this.localFds.add(fd);
  }

  /** Move a local fd to number `to` (dup2 + close). */
  moveFd(from: number, to: number): void {
    if (from === to) {
      this.localFds.add(to);
      return;
    }
    const f = this.fds.get(from);
    if (!f) return;
    this.fds.delete(from);
    this.installLocalFd(to, f);
  }

  override ioctl(fd: number, request: number, arg: IoctlArg = 0): number {
    if (this.localFds.has(fd)) return super.ioctl(fd, request, arg);
    if (this.fds.has(fd)) return super.ioctl(fd, request, arg);
    return this.homeIoctl(fd, request, arg);
  }

  /** An ioctl on a file that lives at the home: a call to the main thread's kernel. */
  homeIoctl(fd: number, request: number, arg: IoctlArg): number {
    const bytes = ioctlArgBytes(this, request, arg);
    if (typeof bytes === "number") return bytes;
    postIoctl(this.kernelCall, K_IOCTL, fd, request, arg, bytes, this.processBell, PROCESS_BELL);
    const r = this.waitKernel();
    copyBackIoctl(this.kernelCall, request, bytes);
    return r;
  }

  /** A kernel call to the home: post it and wait (the thread sleeps on its bell). */
  callHome(op: number, args: readonly number[], payload: Uint8Array | null = null): number {
    this.kernelCall.post(op, args, payload, this.processBell, PROCESS_BELL);
    return this.waitKernel();
  }

  private waitKernel(): number {
    const ch = this.kernelCall;
    const words = this.words;
    for (;;) {
      if (ch.replied()) return ch.take();
      const seq = Atomics.load(words, this.bellIndex);
      if (ch.replied()) return ch.take();
      waitBell(words, this.bellIndex, seq, 100, CALL_SPIN_US);
    }
  }

  /**
   * sched_yield(2): this thread lets others have what they wait for — an ioctl another
   * thread made on this thread's vCPU runs now. Returns the number served (0 or 1).
   */
  schedYield(): number {
    const ch = this.vcpuCall;
    if (!ch.posted()) return 0;
    const request = ch.args[1]!;
    const arg = servedIoctlArg(ch);
    const r = super.ioctl(this.vcpuFd, request >>> 0, arg);
    ch.reply(r, arg instanceof Uint8Array ? arg : null, this.processBell, PROCESS_BELL);
    return 1;
  }

  /** Ring this thread's own bell (wakes it from a futex wait). */
  ringSelf(): void {
    ringBell(this.words, this.bellIndex);
  }
}

/**
 * The worker side of clone(): a HostThreadProcess on `kernel` (this realm's copy of the
 * kernel, with the same modules loaded as the home's), registered as process `link.pid`,
 * with the mail so far read (the VM and memory the process had at clone time).
 */
export async function attachHostThread(
  kernel: HostKernel,
  link: HostThreadLink,
): Promise<HostThreadProcess> {
  // One host, one memory bus: split locks take the same lock word on every thread.
  kernel.busLock = new Int32Array(link.busLock);
  const p = new HostThreadProcess(kernel, link);
  kernel.processes.set(p.pid, p);
  await p.catchUpMail();
  return p;
}
