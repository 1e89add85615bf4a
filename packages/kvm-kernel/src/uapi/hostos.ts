/**
 * HostOs: the system calls a VMM makes, in the shape of the C library's wrappers around
 * them, except that a failure returns the negative errno instead of -1 + errno (as the
 * kernel's own entry points do). This is the only door from userspace (qemu-machine, the
 * CLI, tests) into the kernel model, so the same userspace could one day sit on a real
 * /dev/kvm through a native binding.
 *
 * Pointers are process addresses. An ioctl whose argument is a struct takes either the
 * address of that struct in process memory (what C passes) or, for convenience, a byte
 * buffer that the kernel treats as user memory of exactly that size. Pointers *inside*
 * structs (kvm_dirty_log.dirty_bitmap, kvm_userspace_memory_region.userspace_addr) are
 * always process addresses.
 */

import type { HostThreadLink } from "./thread.js";

/** open(2) flags (asm-generic/fcntl.h). */
export const O_RDONLY = 0o0;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_ACCMODE = 0o3;
export const O_CLOEXEC = 0o2000000;

/** mmap(2) prot and flags (asm-generic/mman-common.h). The model maps read-write shared. */
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_ANONYMOUS = 0x20;

/** Signals the model knows (asm/signal.h). QEMU kicks vCPU threads with SIGUSR1 (SIG_IPI). */
export const SIGINT = 2;
export const SIGKILL = 9;
export const SIGUSR1 = 10;
export const SIGALRM = 14;
export const SIGTERM = 15;

/** sigprocmask(2) `how`. */
export const SIG_BLOCK = 0;
export const SIG_UNBLOCK = 1;
export const SIG_SETMASK = 2;

/** What an ioctl argument can be: an integer by value, a process address, or a user buffer. */
export type IoctlArg = number | bigint | Uint8Array;

export interface HostOs {
  /** open(2). `/dev/kvm` exists once a KVM vendor module is loaded. Returns an fd or -errno. */
  open(path: string, flags?: number): number;
  /** ioctl(2). Returns the ioctl's non-negative result or -errno. */
  ioctl(fd: number, request: number, arg?: IoctlArg): number;
  /**
   * mmap(2), always MAP_SHARED and PROT_READ|PROT_WRITE. `fd` -1 is MAP_ANONYMOUS: fresh
   * zeroed memory (backed by a SharedArrayBuffer where the platform has one). Returns the
   * page-aligned address or -errno.
   */
  mmap(fd: number, length: number, offset?: number): number;
  /** munmap(2) of a whole earlier mapping. Returns 0 or -errno. */
  munmap(addr: number, length: number): number;
  /** close(2). Returns 0 or -errno. */
  close(fd: number): number;
  /**
   * Dereference process memory: a view (never a copy) of `length` bytes at `addr`. Like a
   * C pointer access, an address that is not mapped is a segmentation fault: this throws.
   */
  view(addr: number, length: number): Uint8Array;
  /**
   * kill(2) to this process. The signal becomes pending; an unblocked one is delivered
   * (its handler runs) when a system call returns, a blocked one stays pending. A signal
   * pending and unblocked while KVM_RUN is in the guest makes it return -EINTR.
   */
  kill(sig: number): number;
  /** sigprocmask(2): SIG_BLOCK, SIG_UNBLOCK or SIG_SETMASK a set of signal numbers. */
  sigprocmask(how: number, signals: readonly number[]): number;
  /** sigtimedwait(2) with a zero timeout: consume `sig` if pending, else -EAGAIN. */
  sigtimedwait(sig: number): number;
  /**
   * timer_create(CLOCK_MONOTONIC, SIGEV_SIGNAL `sig`) + timer_settime: every `intervalNs`
   * of the host's monotonic clock `sig` becomes pending for the process (0 disarms). One
   * such timer per process here. Returns 0 or -errno. The kernel notices expiry when it
   * runs (its timer interrupt): between guest exits and while a vCPU is blocked.
   */
  timerSignal(sig: number, intervalNs: number): number;
  /** The process id. */
  readonly pid: number;
  /**
   * clone(CLONE_VM | CLONE_THREAD …): a new thread of this process, as the link its
   * realm (a worker) attaches to (uapi/thread.ts), or -errno (-EAGAIN without shared
   * memory). Where threads exist.
   */
  clone?(): HostThreadLink | number;
  /** tgkill(2): signal one thread of this process. */
  tgkill?(tid: number, sig: number): number;
  /**
   * ppoll(2) for a main loop with threads: sleep until a thread rings the process's
   * doorbell or `timeoutNs` passes (1 / 0). The kernel does its own work meanwhile.
   */
  ppoll?(timeoutNs: number): number;
  /** sched_yield(2) on a thread: other threads' ioctls on this thread's vCPU run now. */
  schedYield?(): number;
}

/**
 * A HostOs that passes every system call to `os` except the ones `over` replaces — how a
 * tracer (strace, QEMU's own ioctl wrappers) interposes on a process's calls.
 */
export function interposeHostOs(os: HostOs, over: Partial<Omit<HostOs, "pid">>): HostOs {
  return {
    open: (path, flags) => os.open(path, flags),
    ioctl: (fd, request, arg) => os.ioctl(fd, request, arg),
    mmap: (fd, length, offset) => os.mmap(fd, length, offset),
    munmap: (addr, length) => os.munmap(addr, length),
    close: (fd) => os.close(fd),
    view: (addr, length) => os.view(addr, length),
    kill: (sig) => os.kill(sig),
    sigprocmask: (how, signals) => os.sigprocmask(how, signals),
    sigtimedwait: (sig) => os.sigtimedwait(sig),
    timerSignal: (sig, intervalNs) => os.timerSignal(sig, intervalNs),
    ...(os.clone ? { clone: () => os.clone!() } : {}),
    ...(os.tgkill ? { tgkill: (tid: number, sig: number) => os.tgkill!(tid, sig) } : {}),
    ...(os.ppoll ? { ppoll: (ns: number) => os.ppoll!(ns) } : {}),
    ...(os.schedYield ? { schedYield: () => os.schedYield!() } : {}),
    ...over,
    get pid() {
      return os.pid;
    },
  };
}
