/**
 * Threads of one process, as JavaScript realms can have them: a Node worker or a Web
 * Worker per thread, sharing memory only through SharedArrayBuffers. What Linux gives a
 * thread for free — the same fd table, the same address space, futexes — glassvm builds
 * from two pieces:
 *
 * - `CallChannel`: a synchronous call from one thread to another over shared memory,
 *   waited for with Atomics.wait (a futex). QEMU's vCPU threads take the big lock this
 *   way (the device models live on the main thread), and the kernel uses it to reach
 *   what lives on another thread (a vCPU's ioctls, the VM-wide in-kernel devices).
 * - `HostThreadLink`: what `clone()` hands the new thread's realm: its doorbell and
 *   pending-signal words, its call channels, its vCPU's shared pages, and a port on which
 *   the kernel mails it shared buffers (guest memory, other vCPUs' APIC pages) — a buffer
 *   cannot travel through another buffer, only through postMessage.
 *
 * Every thread has one doorbell: a futex word whose value is a sequence number. Anyone
 * who wants the thread's attention adds 1 and notifies; the thread reads the value,
 * checks its conditions, and waits only while the value is unchanged — no lost wake-ups.
 */

/** How long a thread waiting for a call's reply spins before it sleeps (µs). */
export const CALL_SPIN_US = 40;

/** Bytes of payload a call can carry each way (struct kvm_cpuid2 with 100+ entries fits). */
export const CALL_DATA_BYTES = 64 * 1024;
const HEADER_BYTES = 128;
/** Number arguments a call carries (doubles: addresses up to 2^53). */
export const CALL_NARGS = 8;
/** The SharedArrayBuffer size of one CallChannel. */
export const CALL_CHANNEL_BYTES = HEADER_BYTES + CALL_DATA_BYTES;

const S_STATE = 0;
const S_OP = 1;
const S_LEN = 2;
const S_RESULT = 3;
const IDLE = 0;
const POSTED = 1;
const REPLIED = 2;

/** Ring a doorbell: bump its sequence and wake whoever sleeps on it. */
export function ringBell(bell: Int32Array, index = 0): void {
  Atomics.add(bell, index, 1);
  Atomics.notify(bell, index);
}

/**
 * Sleep on a doorbell while it still reads `seen`, at most `timeoutMs` (Infinity: until
 * rung). Returns false where this thread may not block (a browser's main thread). With
 * `spinUs`, first poll the word that long — as a futex-based mutex spins before it sleeps:
 * a call answered within microseconds then costs no sleep and wake-up (tens of µs each).
 */
export function waitBell(
  bell: Int32Array,
  index: number,
  seen: number,
  timeoutMs: number,
  spinUs = 0,
): boolean {
  if (spinUs > 0) {
    const end = performance.now() + spinUs / 1000;
    do {
      if (Atomics.load(bell, index) !== seen) return true;
    } while (performance.now() < end);
  }
  try {
    Atomics.wait(bell, index, seen, timeoutMs);
    return true;
  } catch {
    return false;
  }
}

/**
 * One request/reply slot between a client thread and a server thread. The client
 * writes op, arguments and payload, marks it posted and rings the server's bell; the
 * server runs it and rings the client's bell with the result. One call at a time.
 */
export class CallChannel {
  private readonly i32: Int32Array;
  /** The call's number arguments. */
  readonly args: Float64Array;
  /** The call's payload, both ways. */
  readonly data: Uint8Array;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.i32 = new Int32Array(buffer, 0, 4);
    this.args = new Float64Array(buffer, 16, CALL_NARGS);
    this.data = new Uint8Array(buffer, HEADER_BYTES, CALL_DATA_BYTES);
  }

  static create(): CallChannel {
    return new CallChannel(new SharedArrayBuffer(CALL_CHANNEL_BYTES));
  }

  // ── client ──

  /**
   * Post a call: `op`, up to CALL_NARGS numbers, and `payload` (copied in). Then the
   * client waits with {@link replied} / {@link result}.
   */
  post(
    op: number,
    args: readonly number[],
    payload: Uint8Array | null,
    serverBell: Int32Array,
    serverIndex = 0,
  ): void {
    if (Atomics.load(this.i32, S_STATE) !== IDLE)
      throw new Error("CallChannel: a call is already in flight");
    this.i32[S_OP] = op;
    for (let i = 0; i < args.length; i++) this.args[i] = args[i]!;
    const n = payload ? payload.length : 0;
    if (n > CALL_DATA_BYTES) throw new Error(`CallChannel: ${n}-byte payload is too large`);
    if (payload) this.data.set(payload);
    this.i32[S_LEN] = n;
    Atomics.store(this.i32, S_STATE, POSTED);
    ringBell(serverBell, serverIndex);
  }

  /** The server has answered the call in flight. */
  replied(): boolean {
    return Atomics.load(this.i32, S_STATE) === REPLIED;
  }

  /** Take the reply: the result (payload in {@link data}, {@link replyLength} bytes). */
  take(): number {
    const r = this.i32[S_RESULT]!;
    Atomics.store(this.i32, S_STATE, IDLE);
    return r;
  }

  /** Bytes of payload the reply carries. */
  get replyLength(): number {
    return this.i32[S_LEN]!;
  }

  // ── server ──

  /** A call is waiting to be served. */
  posted(): boolean {
    return Atomics.load(this.i32, S_STATE) === POSTED;
  }

  get op(): number {
    return this.i32[S_OP]!;
  }

  /** Bytes of payload the request carries. */
  get requestLength(): number {
    return this.i32[S_LEN]!;
  }

  /** Answer the posted call with `result` and `payload` (copied into data). */
  reply(result: number, payload: Uint8Array | null, clientBell: Int32Array, clientIndex = 0): void {
    const n = payload ? payload.length : 0;
    if (payload && payload !== this.data) this.data.set(payload);
    this.i32[S_LEN] = n;
    this.i32[S_RESULT] = result;
    Atomics.store(this.i32, S_STATE, REPLIED);
    ringBell(clientBell, clientIndex);
  }
}

/** The part of a MessagePort (Node's or the DOM's) the kernel uses. */
export interface MailPort {
  postMessage(msg: unknown): void;
  close(): void;
  start?(): void;
  addEventListener?(type: "message", fn: (ev: { data: unknown }) => void): void;
  on?(type: "message", fn: (data: unknown) => void): void;
}

/**
 * What clone() gives a new thread of a process: everything its realm needs to act as a
 * thread of that process. Structured-clonable; `mail` must be transferred.
 */
export interface HostThreadLink {
  readonly pid: number;
  /** The new thread's id (gettid). */
  readonly tid: number;
  /** Word 0: the process's main-thread doorbell (rung for kernel and userspace calls). */
  readonly processBell: SharedArrayBuffer;
  /**
   * The thread's task page, which is also the shared state of the vCPU it will create
   * (KvmVcpuShared): its doorbell and pending signals live at the word indices below.
   */
  readonly task: SharedArrayBuffer;
  /** Word index (Int32, page 1 of `task`) of the thread's doorbell. */
  readonly bellIndex: number;
  /** Word index of the thread's pending-signal bits. */
  readonly signalsIndex: number;
  /** Calls from this thread into the kernel's home (the main thread's kernel). */
  readonly kernelCall: SharedArrayBuffer;
  /** Calls from other threads to this thread's vCPU (its ioctls run where it runs). */
  readonly vcpuCall: SharedArrayBuffer;
  /** The kvm_run area of the vCPU it will create (mmap of the vCPU fd, 3 pages). */
  readonly runArea: SharedArrayBuffer;
  /** The kernel's mail to the thread (a MessagePort to transfer). */
  readonly mail: MailPort;
  /** Mail sent so far counts in word 0 of this buffer; the thread counts what it read. */
  readonly mailCount: SharedArrayBuffer;
  /** The host's bus lock word (HostKernel.busLock): the same on every thread. */
  readonly busLock: SharedArrayBuffer;
}

/**
 * Int32 word indices, in page 1 of a thread's task pages, of its doorbell and of its
 * pending-signal bits. The task pages are the shared state of the vCPU the thread runs
 * (KvmVcpuShared), so a kick of the vCPU and a signal to the thread ring the same bell.
 */
export const TASK_BELL_WORD = 1;
export const TASK_SIGNALS_WORD = 8;

/** Int32 word of `processBell` that is the main thread's doorbell. */
export const PROCESS_BELL = 0;
