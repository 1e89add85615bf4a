/**
 * The ioctl fuzzer shared by test/fuzz.test.ts (a few thousand calls in CI) and
 * scripts/ioctl-fuzz.ts (the long soak). One seeded xorshift PRNG drives a VMM process
 * that opens /dev/kvm, builds VMs and vCPUs, and then throws everything at HostOs: every
 * real KVM request number plus random ones, on live, closed and garbage fds, with
 * arguments that are 0, small integers, bigints, random byte buffers (too short ones
 * included), encoded valid-ish structs with random fields, and process addresses mapped
 * or not — interleaved with KVM_RUN of guests whose RAM holds random bytes.
 *
 * What must hold after every system call:
 *  - nothing throws out of HostOs;
 *  - a negative result is one of the errnos Linux documents for KVM, and never EIO (the
 *    errno of a VM used from another mm or already dead: a lifetime bug here);
 *  - a positive ioctl result comes only from an ioctl that returns a value;
 *  - a KVM_RUN that returns 0 leaves a defined KVM_EXIT_* (not KVM_EXIT_INTR) in
 *    kvm_run.exit_reason, and one that returns -EINTR leaves KVM_EXIT_INTR;
 *  - a signal pending and unblocked under KVM_SET_SIGNAL_MASK stops KVM_RUN at the next
 *    exit (that is also what bounds guests that loop forever: a kvm_entry probe sends
 *    SIGUSR1 — blocked in the process, unblocked by the vCPU's empty KVM signal mask —
 *    after a few entries, as QEMU kicks a vCPU thread with SIG_IPI);
 *  - a KVM_EXIT_IO's data lies inside the PIO page;
 *  - a process that exits leaves no VM, no vCPU the vendor did not free, and a module
 *    that unloads (RLIMIT_NOFILE is small, so EMFILE's error paths are part of this); a
 *    second process sees only EBADF for the first one's fds.
 */
import { HostKernel, type HostProcess, kvmGlobal, kvmModule } from "../src/index.js";
import {
  _IOC,
  _IOC_SIZE,
  decodeKvmRegs,
  E2BIG,
  EAGAIN,
  EBADF,
  EBUSY,
  EEXIST,
  EFAULT,
  EINTR,
  EINVAL,
  EIO,
  EMFILE,
  ENODEV,
  ENOENT,
  ENOMEM,
  ENOTTY,
  ENXIO,
  encodeKvmCpuid2,
  encodeKvmDebugregs,
  encodeKvmDirtyLog,
  encodeKvmEnableCap,
  encodeKvmGuestDebug,
  encodeKvmMsrs,
  encodeKvmRegs,
  encodeKvmSregs,
  encodeKvmUserspaceMemoryRegion,
  errnoName,
  type IoctlArg,
  KVM_CAP_EXCEPTION_PAYLOAD,
  KVM_CAP_X86_TRIPLE_FAULT_EVENT,
  KVM_CHECK_EXTENSION,
  KVM_CREATE_IRQCHIP,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_ENABLE_CAP,
  KVM_EXIT_INTR,
  KVM_EXIT_IO,
  KVM_EXIT_REASON_NAMES,
  KVM_GET_API_VERSION,
  KVM_GET_CPUID2,
  KVM_GET_DIRTY_LOG,
  KVM_GET_EMULATED_CPUID,
  KVM_GET_MSR_FEATURE_INDEX_LIST,
  KVM_GET_MSR_INDEX_LIST,
  KVM_GET_MSRS,
  KVM_GET_REGS,
  KVM_GET_SUPPORTED_CPUID,
  KVM_GET_TSC_KHZ,
  KVM_GET_VCPU_MMAP_SIZE,
  KVM_GUESTDBG_VALID_MASK,
  KVM_INTERRUPT,
  KVM_IOCTL_NAMES,
  KVM_MP_STATE_SIZE,
  KVM_REGS_SIZE,
  KVM_RUN,
  KVM_RUN_SIZE,
  KVM_SET_CPUID2,
  KVM_SET_DEBUGREGS,
  KVM_SET_GUEST_DEBUG,
  KVM_SET_IDENTITY_MAP_ADDR,
  KVM_SET_MP_STATE,
  KVM_SET_MSRS,
  KVM_SET_REGS,
  KVM_SET_SIGNAL_MASK,
  KVM_SET_SREGS,
  KVM_SET_USER_MEMORY_REGION,
  KVM_SET_VCPU_EVENTS,
  KVM_SYNC_X86_VALID_FIELDS,
  KvmRun,
  type KvmSegment,
  type KvmSregs,
  kvmIoctlName,
  O_ACCMODE,
  O_RDWR,
  PAGE_SIZE,
  SIG_BLOCK,
  SIGUSR1,
} from "../src/uapi/index.js";
import { TOY_CPUID, type ToyCpu, toyModule } from "./toy-vendor.js";

/** The errnos Linux documents for /dev/kvm, VM and vCPU fds (plus the VFS's). */
export const KVM_ERRNOS: ReadonlySet<number> = new Set([
  EINTR,
  EIO,
  ENXIO,
  E2BIG,
  EBADF,
  ENOMEM,
  EFAULT,
  EBUSY,
  EEXIST,
  ENODEV,
  EINVAL,
  ENOTTY,
  ENOENT,
  EMFILE,
  EAGAIN,
]);

/** Ioctls whose success value may be positive (an fd, a count, a size, a capability). */
const VALUE_IOCTLS: ReadonlySet<number> = new Set([
  KVM_GET_API_VERSION,
  KVM_CREATE_VM,
  KVM_CHECK_EXTENSION,
  KVM_GET_VCPU_MMAP_SIZE,
  KVM_CREATE_VCPU,
  KVM_GET_MSRS,
  KVM_SET_MSRS,
  KVM_GET_TSC_KHZ,
]);

/** Marsaglia's xorshift32: small, fast and reproducible from one 32-bit seed. */
export class Xorshift32 {
  private s: number;

  constructor(seed: number) {
    // A zero state would stay zero forever.
    this.s = seed >>> 0 || 0x9e37_79b9;
  }

  /** A uniformly distributed u32. */
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() / 2 ** 32 < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("pick from an empty list");
    return items[this.int(items.length)]!;
  }

  u64(): bigint {
    return (BigInt(this.next()) << 32n) | BigInt(this.next());
  }

  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.next() & 0xff;
    return b;
  }
}

export interface FuzzOptions {
  seed: number;
  /** Actions to perform (each is one or a few system calls). */
  iterations: number;
  /** Stop collecting after this many violations (default 20). */
  maxViolations?: number;
  /** Called once with the fresh host kernel, before the first action (tests hook it). */
  setup?: (kernel: HostKernel) => void;
}

export interface FuzzReport {
  seed: number;
  iterations: number;
  /** System calls made (open, ioctl, mmap, munmap, close, kill, sigtimedwait …). */
  syscalls: number;
  /** KVM_RUN calls, and how they ended (exit reason name or errno name → count). */
  runs: number;
  runOutcomes: Record<string, number>;
  /** Negative results seen (errno name → count). */
  errnos: Record<string, number>;
  /** Process restarts (exit, invariants checked, module reloaded). */
  restarts: number;
  violations: string[];
}

/** The toy's per-entry instruction budget in the fuzzer: keeps every KVM_RUN cheap. */
const FUZZ_BUDGET = 64;
/** Guest entries after which the watchdog sends SIGUSR1. */
const KICK_AFTER_ENTRIES = 3;

interface VcpuMap {
  addr: number;
  length: number;
  run: KvmRun;
  /** Bytes of guest RAM at guest-physical 0 (where RIP is worth pointing). */
  ramLength: number;
}

interface Mapping {
  addr: number;
  length: number;
}

type FdKind = "sys" | "vm" | "vcpu";

/** `mov eax, v; mov [addr], eax` for the toy CPU: one 32-bit MMIO store. */
const storeSnippet = (addr: number, v: number): number[] => {
  const le = (x: number) => [x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, (x >>> 24) & 0xff];
  return [0xb8, ...le(v), 0xa3, ...le(addr)];
};

/** Code that drives the in-kernel irqchip: LAPIC registers, IPIs, the timer, the IOAPIC. */
function irqchipSnippet(rng: Xorshift32): number[] {
  const apic = 0xfee0_0000;
  const reg = rng.pick([
    0x80, 0xb0, 0xd0, 0xe0, 0xf0, 0x280, 0x300, 0x310, 0x320, 0x350, 0x380, 0x3e0,
  ]);
  const val = rng.pick([
    0x1ff,
    0x30,
    0x2_0031,
    0x4_0032,
    0x4500,
    0x4602,
    0xc_4040,
    0x1_0000,
    0xb,
    rng.int(5000),
    rng.next(),
  ]);
  switch (rng.int(4)) {
    case 0:
      return [...storeSnippet(apic + reg, val), 0xfb, 0xf4];
    case 1:
      return storeSnippet(apic + reg, val);
    case 2:
      return [
        ...storeSnippet(0xfec0_0000, rng.int(0x40)),
        ...storeSnippet(0xfec0_0010, rng.next()),
      ];
    default:
      // mov al, imm; out imm (PIC ports)
      return [0xb0, rng.int(256), 0xe6, rng.pick([0x20, 0x21, 0xa0, 0xa1])];
  }
}

/** The request numbers the fuzzer draws from. */
const REAL_REQUESTS: readonly number[] = [...KVM_IOCTL_NAMES.keys()];

/** MSR indices worth hitting (known to KVM or the toy), and a few that are not. */
const MSR_INDICES: readonly number[] = [
  0x10, 0x1b, 0x3b, 0x8b, 0x9e, 0xfe, 0x10a, 0x174, 0x179, 0x17a, 0x17b, 0x1a0, 0x1fc, 0x200, 0x20f,
  0x250, 0x268, 0x26f, 0x277, 0x2ff, 0x480, 0xc000_0080, 0xc000_0081, 0xdead, 0xffff_ffff,
];

/** Fragments of the toy's instruction set to splice into random guest code. */
const SNIPPETS: readonly (readonly number[])[] = [
  [0xf4], // hlt
  [0x90], // nop
  [0xe6, 0x80], // out 0x80, al
  [0xe7, 0x70], // out 0x70, eax
  [0xe4, 0x60], // in al, 0x60
  [0xed], // in eax, dx
  [0xee], // out dx, al
  [0x0f, 0xa2], // cpuid
  [0x0f, 0x32], // rdmsr
  [0x0f, 0x30], // wrmsr
  [0xcc], // int3
  [0x0f, 0x0b], // ud2
  [0xfb], // sti
  [0xfa], // cli
  [0xf3, 0x6e], // rep outsb
  [0xf3, 0x6c], // rep insb
  [0xb9, 0x04, 0, 0, 0], // mov ecx, 4
  [0xb9, 0x00, 0x11, 0, 0], // mov ecx, 0x1100 (a string I/O longer than the PIO page)
  [0xbe, 0x00, 0x00, 0, 0], // mov esi, 0
  [0xbf, 0x00, 0x10, 0, 0], // mov edi, 0x1000
  [0xb9, 0x00, 0x11, 0, 0, 0xf3, 0x6c], // mov ecx, 0x1100; rep insb
  [0xbe, 0, 0, 0, 0, 0xb9, 0x00, 0x11, 0, 0, 0xf3, 0x6e], // mov esi, 0; mov ecx, 0x1100; rep outsb
  [0xb9, 0x10, 0, 0, 0, 0xf3, 0x6e], // mov ecx, 16; rep outsb
  [0xba, 0xf8, 0x03, 0, 0], // mov edx, 0x3f8
  [0xa1, 0x00, 0x00, 0x0f, 0xfe], // mov eax, [0xfe0f0000] (MMIO)
  [0xa3, 0x00, 0x10, 0x00, 0xd0], // mov [0xd0001000], eax (MMIO)
  [0xa2, 0x00, 0x20, 0x00, 0x00], // mov [0x2000], al
  [0xeb, 0xfe], // jmp $
  [0x49, 0x75, 0xfd], // dec ecx; jnz
];

const SIGSET_EMPTY = (() => {
  const b = new Uint8Array(12);
  new DataView(b.buffer).setUint32(0, 8, true);
  return b;
})();

class Fuzzer {
  readonly rng: Xorshift32;
  readonly report: FuzzReport;
  private readonly maxViolations: number;
  kernel!: HostKernel;
  proc!: HostProcess;
  /** A second process that never opens anything: every fd is EBADF to it. */
  intruder!: HostProcess;
  mod!: ReturnType<typeof toyModule>;
  private step = 0;
  private readonly recent: string[] = [];
  /** Live fds of `proc` by kind. */
  private readonly kinds = new Map<number, FdKind>();
  private closed = new Set<number>();
  /** Anonymous mappings (guest RAM, argument buffers) and foreign vCPU mappings. */
  private mappings: Mapping[] = [];
  /** The kvm_run mapping made for a vCPU fd (dropped from here when the fd is closed). */
  private readonly vcpuMaps = new Map<number, VcpuMap>();
  /** Mappings whose fd went away (the vCPU file lives on until they are unmapped). */
  private orphanMaps: Mapping[] = [];
  private running = false;
  private entries = 0;
  private tsc = 0n;

  constructor(opts: FuzzOptions) {
    this.rng = new Xorshift32(opts.seed);
    this.maxViolations = opts.maxViolations ?? 20;
    this.report = {
      seed: opts.seed >>> 0,
      iterations: opts.iterations,
      syscalls: 0,
      runs: 0,
      runOutcomes: {},
      errnos: {},
      restarts: 0,
      violations: [],
    };
    this.boot();
    opts.setup?.(this.kernel);
  }

  // ── the host ──

  private boot(): void {
    this.kernel = new HostKernel();
    // Deterministic time: the guest's RDTSC/RDMSR(TSC) must not depend on the wall clock.
    this.kernel.rdtsc = () => (this.tsc += 1000n);
    // A small RLIMIT_NOFILE, so that EMFILE (and its cleanup paths) happens too.
    this.kernel.nrOpen = 24;
    this.mod = toyModule();
    const r = this.kernel.loadModule(kvmModule(this.mod));
    if (r !== 0) throw new Error(`modprobe toyvt: ${r}`);
    this.kernel.trace.kvm_entry.subscribe(() => this.onEntry());
    this.spawn();
  }

  private spawn(): void {
    this.proc = this.kernel.spawn("fuzz-vmm");
    this.intruder = this.kernel.spawn("intruder");
    this.kinds.clear();
    this.closed = new Set();
    this.mappings = [];
    this.vcpuMaps.clear();
    this.orphanMaps = [];
    this.sys("sigprocmask", () => this.proc.sigprocmask(SIG_BLOCK, [SIGUSR1]), true);
  }

  /** The watchdog: a kvm_entry probe that kicks a vCPU that keeps re-entering the guest. */
  private onEntry(): void {
    if (!this.running) return;
    this.entries++;
    if (this.entries === KICK_AFTER_ENTRIES) this.proc.kill(SIGUSR1);
    if (this.entries > KICK_AFTER_ENTRIES + 1) {
      throw new Error(
        `KVM_RUN entered the guest ${this.entries} times with SIGUSR1 pending and unmasked`,
      );
    }
  }

  // ── checking ──

  violation(msg: string): void {
    if (this.report.violations.length >= this.maxViolations) return;
    this.report.violations.push(
      `seed ${this.report.seed} step ${this.step}: ${msg}\n  recent: ${this.recent.join(" | ")}`,
    );
  }

  private note(what: string): void {
    this.recent.push(what);
    if (this.recent.length > 8) this.recent.shift();
  }

  private countErrno(r: number): void {
    const name = errnoName(r);
    this.report.errnos[name] = (this.report.errnos[name] ?? 0) + 1;
  }

  /**
   * One system call: nothing may escape it, the result must be an integer, and a
   * negative one a documented errno. `mustSucceed` also demands r ≥ 0.
   */
  sys(what: string, call: () => number, mustSucceed = false): number {
    this.report.syscalls++;
    this.note(what);
    let r: number;
    try {
      r = call();
    } catch (e) {
      const where = e instanceof Error ? (e.stack ?? e.message) : String(e);
      this.violation(`${what} threw ${where.split("\n").slice(0, 8).join("\n")}`);
      return -EINVAL;
    }
    if (!Number.isInteger(r)) {
      this.violation(`${what} returned a non-integer: ${r}`);
      return -EINVAL;
    }
    if (r < 0) {
      this.countErrno(r);
      if (!KVM_ERRNOS.has(-r)) this.violation(`${what} returned ${r} (${errnoName(r)})`);
      // EIO is for a VM used from another mm or already dead: one process that owns all
      // its fds never sees it, unless a VM died while something still referred to it.
      if (r === -EIO) this.violation(`${what} returned EIO`);
      if (mustSucceed) this.violation(`${what} failed with ${errnoName(r)}`);
    }
    return r;
  }

  // ── picking fds, addresses and arguments ──

  private fdsOf(kind: FdKind): number[] {
    return [...this.kinds].filter(([, k]) => k === kind).map(([fd]) => fd);
  }

  private pickFd(): number {
    const rng = this.rng;
    const roll = rng.int(100);
    const byKind = (k: FdKind) => this.fdsOf(k);
    if (roll < 30 && byKind("vcpu").length > 0) return rng.pick(byKind("vcpu"));
    if (roll < 55 && byKind("vm").length > 0) return rng.pick(byKind("vm"));
    if (roll < 70 && byKind("sys").length > 0) return rng.pick(byKind("sys"));
    if (roll < 85 && this.closed.size > 0) return rng.pick([...this.closed]);
    return rng.pick([-1, 0, 1, 2, 3, 7, 64, 1023, 1024, 0x7fff_ffff, -0x8000_0000, 2.5]);
  }

  private pickRequest(): number {
    const rng = this.rng;
    const roll = rng.int(100);
    if (roll < 75) return rng.pick(REAL_REQUESTS);
    if (roll < 85) {
      // KVMIO with a random direction, size and command number.
      return _IOC(rng.int(4), 0xae, rng.int(256), rng.int(0x4000));
    }
    if (roll < 92) {
      // A real request with a foreign _IOC_TYPE.
      return ((rng.pick(REAL_REQUESTS) & ~0xff00) | (rng.int(256) << 8)) >>> 0;
    }
    return rng.next();
  }

  /** `bytes` in a fresh mapping: their address, or one so near the end that they overrun it. */
  private userBuffer(bytes: Uint8Array, overflow = false): number {
    const len = Math.max(PAGE_SIZE, Math.ceil((bytes.length + 1) / PAGE_SIZE) * PAGE_SIZE);
    const addr = this.sys(`mmap(-1, ${len})`, () => this.proc.mmap(-1, len));
    if (addr < 0) return 0x1000;
    this.mappings.push({ addr, length: len });
    const at = overflow ? addr + len - Math.max(1, bytes.length - 1) : addr;
    const n = Math.min(bytes.length, addr + len - at);
    this.proc.view(at, n).set(bytes.subarray(0, n));
    return at;
  }

  /** An address no mapping ever gets (mmap hands out addresses below 0x7f0000000000). */
  private unmappedAddress(): number {
    const rng = this.rng;
    return rng.pick([0, 8, 0x1000, 0xdead_b000, 0x7f00_0001_0000, 2 ** 47, rng.next() * 4096]);
  }

  private existingAddress(): number {
    const pool = [...this.mappings, ...[...this.vcpuMaps.values()]];
    if (pool.length === 0 || this.rng.chance(0.2)) return this.unmappedAddress();
    const m = this.rng.pick(pool);
    return m.addr + this.rng.int(m.length);
  }

  private flatSregs(mutate = true): KvmSregs {
    const rng = this.rng;
    const seg = (type: number, s = 1): KvmSegment => ({
      base: 0n,
      limit: 0xffff_ffff,
      selector: 0,
      type,
      present: 1,
      dpl: 0,
      db: 1,
      s,
      l: 0,
      g: 1,
      avl: 0,
      unusable: 0,
    });
    const sr: KvmSregs = {
      cs: seg(0xb),
      ds: seg(3),
      es: seg(3),
      fs: seg(3),
      gs: seg(3),
      ss: seg(3),
      tr: seg(0xb, 0),
      ldt: seg(2, 0),
      gdt: { base: 0n, limit: 0xffff },
      idt: { base: 0n, limit: 0xffff },
      cr0: 0x11n,
      cr2: 0n,
      cr3: 0n,
      cr4: 0n,
      cr8: 0n,
      efer: 0n,
      apicBase: 0xfee0_0900n,
      interruptBitmap: [0n, 0n, 0n, 0n],
    };
    if (!mutate) return sr;
    // Mutations that hit the validity checks (PG without PE, LME/LMA/PAE, CS.L, …).
    if (rng.chance(0.3)) sr.cr0 = BigInt(rng.pick([0, 1, 0x8000_0000, 0x8000_0011, 0x6000_0010]));
    if (rng.chance(0.2)) sr.cr0 = rng.u64();
    if (rng.chance(0.2)) sr.cr4 = BigInt(rng.pick([0x20, 0x200, 0x4000_0000, rng.next()]));
    if (rng.chance(0.2)) sr.efer = BigInt(rng.pick([0x100, 0x400, 0x500, 0xd01, rng.next()]));
    if (rng.chance(0.1)) sr.cs.l = 1;
    if (rng.chance(0.1)) sr.cs.present = 0;
    if (rng.chance(0.1)) sr.cs.base = rng.u64();
    if (rng.chance(0.1)) sr.ss.dpl = 3;
    if (rng.chance(0.1)) sr.cr3 = rng.u64();
    if (rng.chance(0.1)) sr.cr2 = rng.u64();
    if (rng.chance(0.1)) sr.cr8 = BigInt(rng.int(32));
    if (rng.chance(0.1)) sr.apicBase = rng.chance(0.5) ? rng.u64() : 0xfee0_0d00n;
    if (rng.chance(0.1)) {
      const i = rng.int(4);
      sr.interruptBitmap[i] = 1n << BigInt(rng.int(64));
    }
    return sr;
  }

  /** A struct for `request` with plausible shape and random fields. */
  private validishStruct(request: number): Uint8Array {
    const rng = this.rng;
    switch (request) {
      case KVM_SET_USER_MEMORY_REGION: {
        const pages = rng.pick([0, 1, 2, 4, 16]);
        const m = this.mappings.length > 0 && rng.chance(0.8) ? rng.pick(this.mappings) : null;
        return encodeKvmUserspaceMemoryRegion({
          slot: rng.chance(0.9) ? rng.int(4) : rng.pick([32763, 32764, 0x1_0000, 0x2_0000]),
          flags: rng.chance(0.8) ? rng.int(4) : rng.next(),
          guestPhysAddr: rng.chance(0.9)
            ? BigInt(rng.int(64) * PAGE_SIZE)
            : rng.pick([rng.u64(), 0xffff_ffff_ffff_f000n, 0x123n]),
          memorySize: rng.chance(0.95) ? BigInt(pages * PAGE_SIZE) : rng.u64(),
          userspaceAddr: m
            ? BigInt(m.addr + (rng.chance(0.1) ? rng.int(m.length) : 0))
            : BigInt(this.unmappedAddress()),
        });
      }
      case KVM_GET_DIRTY_LOG:
        return encodeKvmDirtyLog({
          slot: rng.chance(0.9) ? rng.int(4) : rng.next(),
          dirtyBitmap: BigInt(this.existingAddress()),
        });
      case KVM_SET_CPUID2:
      case KVM_GET_CPUID2:
      case KVM_GET_SUPPORTED_CPUID:
      case KVM_GET_EMULATED_CPUID: {
        const entries = rng.chance(0.5)
          ? TOY_CPUID.map((e) => ({ ...e }))
          : Array.from({ length: rng.int(6) }, () => ({
              function: rng.pick([0, 1, 0xd, 0x8000_0000, 0x8000_0008, rng.next()]),
              index: rng.int(3),
              flags: rng.int(8),
              eax: rng.next(),
              ebx: rng.next(),
              ecx: rng.next(),
              edx: rng.next(),
            }));
        if (entries.length > 0 && rng.chance(0.3)) {
          const e = entries[rng.int(entries.length)]!;
          e.eax = rng.next();
        }
        const buf = encodeKvmCpuid2(entries, rng.chance(0.8) ? entries.length : rng.int(300));
        if (rng.chance(0.2)) {
          new DataView(buf.buffer).setUint32(0, rng.pick([0, 1, 256, 257, rng.next()]), true);
        }
        return buf;
      }
      case KVM_GET_MSRS:
      case KVM_SET_MSRS: {
        const n = rng.chance(0.95) ? rng.int(6) : rng.pick([255, 256, rng.next()]);
        const entries = Array.from({ length: Math.min(n, 8) }, () => ({
          index: rng.pick(MSR_INDICES),
          data: rng.chance(0.5) ? BigInt(rng.int(16)) : rng.u64(),
        }));
        const buf = encodeKvmMsrs(entries);
        new DataView(buf.buffer).setUint32(0, n >>> 0, true);
        return buf;
      }
      case KVM_GET_MSR_INDEX_LIST:
      case KVM_GET_MSR_FEATURE_INDEX_LIST: {
        const cap = rng.int(40);
        const buf = new Uint8Array(4 + 4 * cap);
        new DataView(buf.buffer).setUint32(0, rng.chance(0.9) ? cap : rng.next(), true);
        return buf;
      }
      case KVM_SET_REGS: {
        const regs = new Uint8Array(144);
        const dv = new DataView(regs.buffer);
        for (let i = 0; i < 18; i++) {
          dv.setBigUint64(8 * i, rng.chance(0.5) ? BigInt(rng.int(0x1_0000)) : rng.u64(), true);
        }
        if (rng.chance(0.7)) dv.setBigUint64(136, BigInt(rng.pick([2, 0x202, 0x302])), true);
        return regs;
      }
      case KVM_SET_SREGS:
        return encodeKvmSregs(this.flatSregs());
      case KVM_SET_VCPU_EVENTS: {
        const b = rng.bytes(64);
        const dv = new DataView(b.buffer);
        dv.setUint32(20, rng.chance(0.8) ? rng.int(0x40) : rng.next(), true);
        b[1] = rng.chance(0.8) ? rng.int(34) : rng.int(256);
        for (const o of [0, 2, 3, 8, 10, 12, 13, 14, 24, 25, 26, 27, 28, 55]) {
          if (rng.chance(0.7)) b[o] = rng.int(2);
        }
        if (rng.chance(0.7)) b[11] = rng.int(3);
        return b;
      }
      case KVM_SET_GUEST_DEBUG: {
        const control = rng.chance(0.8) ? rng.next() & KVM_GUESTDBG_VALID_MASK : rng.next();
        return encodeKvmGuestDebug({
          control,
          debugreg: Array.from({ length: 8 }, () => (rng.chance(0.5) ? 0n : rng.u64())),
        });
      }
      case KVM_SET_DEBUGREGS:
        return encodeKvmDebugregs({
          db: [rng.u64(), rng.u64(), 0n, 0n],
          dr6: rng.chance(0.8) ? 0xffff_0ff0n : rng.u64(),
          dr7: rng.chance(0.8) ? 0x400n : rng.u64(),
          flags: rng.chance(0.9) ? 0n : rng.u64(),
        });
      case KVM_SET_SIGNAL_MASK: {
        const b = new Uint8Array(12);
        const dv = new DataView(b.buffer);
        dv.setUint32(0, rng.chance(0.8) ? 8 : rng.next(), true);
        dv.setUint32(4, rng.next(), true);
        dv.setUint32(8, rng.next(), true);
        return b;
      }
      case KVM_INTERRUPT: {
        const b = new Uint8Array(4);
        new DataView(b.buffer).setUint32(0, rng.chance(0.8) ? rng.int(300) : rng.next(), true);
        return b;
      }
      case KVM_SET_MP_STATE: {
        const b = new Uint8Array(KVM_MP_STATE_SIZE);
        new DataView(b.buffer).setUint32(0, rng.int(12), true);
        return b;
      }
      case KVM_ENABLE_CAP:
        return encodeKvmEnableCap({
          cap: rng.pick([KVM_CAP_EXCEPTION_PAYLOAD, KVM_CAP_X86_TRIPLE_FAULT_EVENT, rng.int(240)]),
          flags: rng.chance(0.9) ? 0 : rng.next(),
          args: [BigInt(rng.int(2)), 0n, 0n, 0n],
        });
      case KVM_SET_IDENTITY_MAP_ADDR: {
        const b = new Uint8Array(8);
        new DataView(b.buffer).setBigUint64(0, rng.u64(), true);
        return b;
      }
      default: {
        const size = _IOC_SIZE(request);
        return rng.bytes(size > 0 ? size : rng.int(64));
      }
    }
  }

  private pickArg(request: number): IoctlArg {
    const rng = this.rng;
    const roll = rng.int(100);
    if (roll < 15) return 0;
    if (roll < 27) {
      return rng.pick([
        1,
        2,
        3,
        -1,
        4095,
        4096,
        0xffff_d000,
        0xffff_d001,
        2 ** 32,
        2 ** 53,
        1.5,
        rng.int(300),
        rng.next(),
      ]);
    }
    if (roll < 32) return rng.chance(0.5) ? rng.u64() : BigInt(rng.int(8));
    if (roll < 47) {
      const size = _IOC_SIZE(request);
      return rng.bytes(rng.int(size * 2 + 16));
    }
    if (roll < 80) return this.validishStruct(request);
    if (roll < 92) return this.userBuffer(this.validishStruct(request), rng.chance(0.15));
    return this.unmappedAddress();
  }

  // ── actions ──

  private trackResult(request: number, r: number): void {
    if (r < 0) return;
    if (!VALUE_IOCTLS.has(request) && r !== 0) {
      this.violation(`${kvmIoctlName(request)} returned a positive value ${r}`);
    }
    if (request === KVM_CREATE_VM) this.addFd(r, "vm");
    if (request === KVM_CREATE_VCPU) {
      this.addFd(r, "vcpu");
      const toy = (this.proc.fds.get(r)?.privateData as { vendor?: ToyCpu } | undefined)?.vendor;
      if (toy) toy.budget = FUZZ_BUDGET;
    }
  }

  private addFd(fd: number, kind: FdKind): void {
    this.kinds.set(fd, kind);
    this.closed.delete(fd);
  }

  private doOpen(): void {
    const rng = this.rng;
    const path = rng.chance(0.9) ? "/dev/kvm" : rng.pick(["/dev/kvmx", "", "/dev/null"]);
    const flags = rng.chance(0.9) ? O_RDWR : rng.pick([0, O_ACCMODE, rng.next()]);
    const fd = this.sys(`open(${path}, ${flags})`, () => this.proc.open(path, flags));
    if (fd >= 0) this.addFd(fd, "sys");
  }

  private doClose(fd: number): void {
    const r = this.sys(`close(${fd})`, () => this.proc.close(fd));
    if (r === 0) {
      this.kinds.delete(fd);
      this.closed.add(fd);
      const m = this.vcpuMaps.get(fd);
      if (m) {
        this.vcpuMaps.delete(fd);
        this.orphanMaps.push(m);
      }
    } else if (r !== -EBADF) {
      this.violation(`close(${fd}) returned ${errnoName(r)}`);
    }
  }

  private doIoctl(): void {
    const fd = this.pickFd();
    const request = this.pickRequest();
    if (request === KVM_RUN) {
      this.doRun(fd, this.rng.chance(0.9) ? 0 : this.pickArg(request));
      return;
    }
    const arg = this.pickArg(request);
    const r = this.sys(`ioctl(${fd}, ${kvmIoctlName(request)}, ${describe(arg)})`, () =>
      this.proc.ioctl(fd, request, arg),
    );
    this.trackResult(request, r);
  }

  private doMmap(): void {
    const rng = this.rng;
    const fd = rng.chance(0.3) ? -1 : this.pickFd();
    const length = rng.chance(0.9)
      ? rng.range(1, 4) * PAGE_SIZE - (rng.chance(0.2) ? 100 : 0)
      : rng.pick([0, -4096, 5 * PAGE_SIZE, 2.5, 2 ** 60]);
    const offset = rng.chance(0.8) ? rng.int(4) * PAGE_SIZE : rng.pick([1, -4096, 2 ** 40]);
    const addr = this.sys(`mmap(${fd}, ${length}, ${offset})`, () =>
      this.proc.mmap(fd, length, offset),
    );
    if (addr >= 0) this.mappings.push({ addr, length: Math.ceil(length / PAGE_SIZE) * PAGE_SIZE });
  }

  private doMunmap(): void {
    const rng = this.rng;
    const pool = rng.chance(0.5) && this.orphanMaps.length > 0 ? this.orphanMaps : this.mappings;
    if (pool.length === 0 || rng.chance(0.1)) {
      this.sys("munmap(bogus)", () => this.proc.munmap(this.unmappedAddress(), PAGE_SIZE));
      return;
    }
    const i = rng.int(pool.length);
    const m = pool[i]!;
    const len = rng.chance(0.9) ? m.length : m.length + PAGE_SIZE;
    const r = this.sys(`munmap(${m.addr}, ${len})`, () => this.proc.munmap(m.addr, len));
    if (r === 0) pool.splice(i, 1);
  }

  /** Write random bytes (and toy instructions) into a mapping: guest RAM most of the time. */
  private doScribble(): void {
    const rng = this.rng;
    if (this.mappings.length === 0) return;
    const m = rng.pick(this.mappings);
    const v = this.proc.view(m.addr, m.length);
    for (let n = rng.range(1, 16); n > 0; n--) {
      const at = rng.int(m.length);
      const bytes = rng.chance(0.6) ? rng.pick(SNIPPETS) : rng.bytes(rng.range(1, 8));
      v.set(bytes.slice(0, m.length - at), at);
    }
  }

  /** The usual VMM bring-up, so that there are guests to run. */
  private doBuildGuest(): void {
    const rng = this.rng;
    let sys = this.fdsOf("sys")[0];
    if (sys === undefined) {
      sys = this.sys("open(/dev/kvm)", () => this.proc.open("/dev/kvm", O_RDWR));
      if (sys < 0) return;
      this.addFd(sys, "sys");
    }
    const vm = this.sys("KVM_CREATE_VM", () => this.proc.ioctl(sys, KVM_CREATE_VM, 0));
    if (vm < 0) return;
    this.addFd(vm, "vm");
    const pages = rng.range(2, 16);
    const ramAddr = this.sys("mmap(ram)", () => this.proc.mmap(-1, pages * PAGE_SIZE));
    if (ramAddr < 0) return;
    this.mappings.push({ addr: ramAddr, length: pages * PAGE_SIZE });
    const ram = this.proc.view(ramAddr, pages * PAGE_SIZE);
    ram.set(rng.bytes(ram.length));
    // A vector table whose handlers mostly land in RAM.
    for (let v = 0; v < 32; v++) {
      if (rng.chance(0.7)) {
        new DataView(ram.buffer, ram.byteOffset).setUint32(4 * v, rng.int(ram.length), true);
      }
    }
    for (let n = rng.range(4, 40); n > 0; n--) {
      const at = rng.int(ram.length);
      ram.set(rng.pick(SNIPPETS).slice(0, ram.length - at), at);
    }
    // A kernel with the in-kernel irqchip: often create it (before the vCPUs, as it must
    // be), and plant code that programs the LAPIC and I/O APIC (MMIO stores) and halts.
    let entry = -1;
    if (this.kernel.config.CONFIG_KVM_IOAPIC && rng.chance(0.6)) {
      this.sys("KVM_CREATE_IRQCHIP", () => this.proc.ioctl(vm, KVM_CREATE_IRQCHIP, 0));
      // A run of irqchip code where the vCPUs will start, then some scattered.
      const code: number[] = [];
      for (let n = rng.range(2, 8); n > 0; n--) code.push(...irqchipSnippet(rng));
      entry = rng.int(ram.length);
      ram.set(code.slice(0, ram.length - entry), entry);
      for (let n = rng.range(2, 12); n > 0; n--) {
        const at = rng.int(ram.length);
        ram.set(irqchipSnippet(rng).slice(0, ram.length - at), at);
      }
    }
    const flags = rng.chance(0.7) ? 0 : rng.pick([1, 2, 3]);
    this.sys(
      "KVM_SET_USER_MEMORY_REGION(ram)",
      () =>
        this.proc.ioctl(
          vm,
          KVM_SET_USER_MEMORY_REGION,
          encodeKvmUserspaceMemoryRegion({
            slot: 0,
            flags,
            guestPhysAddr: 0n,
            memorySize: BigInt(pages * PAGE_SIZE),
            userspaceAddr: BigInt(ramAddr),
          }),
        ),
      true,
    );
    for (let n = rng.range(1, 2); n > 0; n--) {
      const vcpu = this.sys("KVM_CREATE_VCPU", () =>
        this.proc.ioctl(vm, KVM_CREATE_VCPU, rng.int(4)),
      );
      this.trackResult(KVM_CREATE_VCPU, vcpu);
      if (vcpu < 0) continue;
      const addr = this.sys("mmap(vcpu)", () => this.proc.mmap(vcpu, 3 * PAGE_SIZE), true);
      if (addr >= 0) {
        const run = new KvmRun(this.proc.view(addr, 3 * PAGE_SIZE));
        this.vcpuMaps.set(vcpu, { addr, length: 3 * PAGE_SIZE, run, ramLength: ram.length });
      }
      if (rng.chance(0.5)) {
        this.sys("KVM_SET_CPUID2", () =>
          this.proc.ioctl(vcpu, KVM_SET_CPUID2, encodeKvmCpuid2(TOY_CPUID)),
        );
      }
      this.sys("KVM_SET_SREGS(flat)", () =>
        this.proc.ioctl(vcpu, KVM_SET_SREGS, encodeKvmSregs(this.flatSregs(rng.chance(0.2)))),
      );
      const regs = {
        rax: BigInt(rng.next()),
        rbx: BigInt(rng.next()),
        rcx: BigInt(rng.chance(0.7) ? rng.int(16) : rng.next()),
        rdx: BigInt(rng.int(0x1_0000)),
        rsi: BigInt(rng.int(ram.length)),
        rdi: BigInt(rng.chance(0.5) ? rng.int(ram.length) : rng.next()),
        rsp: 0n,
        rbp: 0n,
        r8: 0n,
        r9: 0n,
        r10: 0n,
        r11: 0n,
        r12: 0n,
        r13: 0n,
        r14: 0n,
        r15: 0n,
        rip: BigInt(entry >= 0 ? entry : rng.int(ram.length)),
        rflags: BigInt(rng.pick([2, 0x202, 0x302])),
      };
      this.sys("KVM_SET_REGS", () => this.proc.ioctl(vcpu, KVM_SET_REGS, encodeKvmRegs(regs)));
      if (rng.chance(0.3)) {
        this.sys("KVM_SET_VCPU_EVENTS", () =>
          this.proc.ioctl(vcpu, KVM_SET_VCPU_EVENTS, this.validishStruct(KVM_SET_VCPU_EVENTS)),
        );
      }
    }
  }

  /** Scribble on the kvm_run fields userspace owns: completions, requests, sync regs. */
  private prepareRun(m: VcpuMap): void {
    const rng = this.rng;
    const run = m.run;
    run.immediateExit = rng.chance(0.1) ? rng.range(1, 255) : 0;
    run.requestInterruptWindow = rng.chance(0.1) ? 1 : 0;
    if (rng.chance(0.05)) run.cr8 = rng.chance(0.5) ? BigInt(rng.int(16)) : rng.u64();
    if (rng.chance(0.15)) run.kvmValidRegs = BigInt(rng.int(KVM_SYNC_X86_VALID_FIELDS + 1));
    else if (rng.chance(0.02)) run.kvmValidRegs = rng.u64();
    else run.kvmValidRegs = 0n;
    if (rng.chance(0.05)) {
      run.kvmDirtyRegs = BigInt(rng.int(KVM_SYNC_X86_VALID_FIELDS + 1));
      const area = m.run.bytes;
      const at = 304 + rng.int(520);
      area.set(rng.bytes(rng.range(1, 32)).subarray(0, KVM_RUN_SIZE - at), at);
    } else if (rng.chance(0.01)) {
      run.kvmDirtyRegs = rng.u64();
    }
    // Answers to a pending IN / MMIO read: whatever bytes.
    if (rng.chance(0.5)) m.run.bytes.set(rng.bytes(8), 40);
    if (rng.chance(0.5)) this.proc.view(m.addr + PAGE_SIZE, 16).set(rng.bytes(16));
  }

  doRun(fd: number, arg: IoctlArg = 0): void {
    const m = this.vcpuMaps.get(fd);
    if (m) this.prepareRun(m);
    if (m && this.rng.chance(0.3)) {
      // Back into RAM: a guest that wandered off keeps failing the same way otherwise.
      const b = new Uint8Array(KVM_REGS_SIZE);
      if (this.sys("KVM_GET_REGS", () => this.proc.ioctl(fd, KVM_GET_REGS, b)) === 0) {
        const regs = decodeKvmRegs(b);
        regs.rip = BigInt(this.rng.int(m.ramLength));
        this.sys("KVM_SET_REGS", () => this.proc.ioctl(fd, KVM_SET_REGS, encodeKvmRegs(regs)));
      }
    }
    // QEMU's SIG_IPI pattern: SIGUSR1 blocked in the thread, unblocked inside KVM_RUN.
    this.sys(`ioctl(${fd}, KVM_SET_SIGNAL_MASK, {})`, () =>
      this.proc.ioctl(fd, KVM_SET_SIGNAL_MASK, SIGSET_EMPTY),
    );
    this.report.runs++;
    this.entries = 0;
    this.running = true;
    let r: number;
    try {
      r = this.sys(`ioctl(${fd}, KVM_RUN, ${describe(arg)})`, () =>
        this.proc.ioctl(fd, KVM_RUN, arg),
      );
    } finally {
      this.running = false;
    }
    // Consume the kick, if it was sent (EAGAIN otherwise).
    this.sys("sigtimedwait(SIGUSR1)", () => this.proc.sigtimedwait(SIGUSR1));
    const outcome = (name: string) => {
      this.report.runOutcomes[name] = (this.report.runOutcomes[name] ?? 0) + 1;
    };
    if (r > 0) this.violation(`KVM_RUN returned ${r}`);
    if (r < 0) {
      outcome(errnoName(r));
      if (r === -EINTR && m && m.run.exitReason !== KVM_EXIT_INTR) {
        this.violation(`KVM_RUN returned EINTR with exit_reason ${m.run.exitReason}`);
      }
      return;
    }
    if (!m) {
      outcome("(unmapped)");
      return;
    }
    const reason = m.run.exitReason;
    const name = KVM_EXIT_REASON_NAMES[reason];
    outcome(name ?? `exit ${reason}`);
    if (name === undefined) this.violation(`KVM_RUN left undefined exit_reason ${reason}`);
    if (reason === KVM_EXIT_INTR) this.violation("KVM_RUN returned 0 with KVM_EXIT_INTR");
    if (reason === KVM_EXIT_IO) {
      // The data must lie in the PIO page: that is all userspace can read or fill.
      const { ioSize, ioCount, ioDataOffset } = m.run;
      const end = Number(ioDataOffset) + ioSize * ioCount;
      if (![1, 2, 4].includes(ioSize) || ioCount < 1 || end > 2 * PAGE_SIZE) {
        this.violation(
          `KVM_EXIT_IO size ${ioSize} count ${ioCount} at ${ioDataOffset} overruns the PIO page`,
        );
      }
    }
  }

  private doIntruder(): void {
    const fd = this.rng.pick([...this.kinds.keys(), 0, 1, 2]);
    const request = this.pickRequest();
    const arg = this.pickArg(request);
    const r = this.sys(`intruder ioctl(${fd}, ${kvmIoctlName(request)})`, () =>
      this.intruder.ioctl(fd, request, arg),
    );
    if (r !== -EBADF) this.violation(`another process's ioctl on fd ${fd} returned ${r}`);
    const m = this.sys(`intruder mmap(${fd})`, () => this.intruder.mmap(fd, PAGE_SIZE));
    if (m !== -EBADF) this.violation(`another process's mmap of fd ${fd} returned ${m}`);
  }

  /** exit(2) of the VMM: everything must go, and the module must unload and load again. */
  doRestart(): void {
    this.report.restarts++;
    this.note("exit");
    const g = kvmGlobal(this.kernel);
    if (!g) {
      this.violation("KVM is not loaded");
      return;
    }
    const busy = g.devOpen + g.vms.size > 0;
    const early = this.sys("rmmod toyvt (in use?)", () => this.kernel.unloadModule("toyvt"));
    if (busy && early !== -EBUSY) this.violation(`rmmod while in use returned ${early}`);
    if (!busy && early === 0) {
      this.sys("insmod toyvt", () => this.kernel.loadModule(kvmModule(this.mod)), true);
    }
    this.proc.exit();
    this.intruder.exit();
    const g2 = kvmGlobal(this.kernel);
    if (!g2) {
      this.violation("KVM vanished at process exit");
      return;
    }
    if (g2.vms.size !== 0) this.violation(`${g2.vms.size} VM(s) survived exit`);
    if (g2.devOpen !== 0) this.violation(`${g2.devOpen} /dev/kvm file(s) survived exit`);
    if (g2.usageCount !== 0) this.violation(`kvm_usage_count ${g2.usageCount} after exit`);
    const { created, freed } = this.mod.ops.counters;
    if (created !== freed) this.violation(`vendor created ${created} vCPUs but freed ${freed}`);
    this.sys("rmmod toyvt", () => this.kernel.unloadModule("toyvt"), true);
    this.mod = toyModule();
    this.sys("insmod toyvt", () => this.kernel.loadModule(kvmModule(this.mod)), true);
    this.spawn();
  }

  /** One random action. */
  act(): void {
    this.step++;
    const rng = this.rng;
    const roll = rng.int(1000);
    const vcpus = this.fdsOf("vcpu");
    // Mostly the vCPUs doBuildGuest set up (flat mode, RIP in RAM), some raw ones too.
    const guests = vcpus.filter((fd) => this.vcpuMaps.has(fd));
    const runnable = guests.length > 0 && rng.chance(0.85) ? guests : vcpus;
    if (roll < 40) this.doOpen();
    else if (roll < 80) this.doClose(this.pickFd());
    else if (roll < 130) this.doBuildGuest();
    else if (roll < 330 && runnable.length > 0) this.doRun(rng.pick(runnable));
    else if (roll < 370) this.doMmap();
    else if (roll < 400) this.doMunmap();
    else if (roll < 440) this.doScribble();
    else if (roll < 460) this.doIntruder();
    else if (roll < 463) this.doRestart();
    else this.doIoctl();
    // Keep the process small: a VMM that never frees anything is a different test.
    if (this.mappings.length + this.orphanMaps.length > 96 || this.kinds.size > 48) {
      this.doRestart();
    }
  }
}

function describe(arg: IoctlArg): string {
  if (arg instanceof Uint8Array) return `buf[${arg.length}]`;
  if (typeof arg === "bigint") return `${arg}n`;
  return typeof arg === "number" && Number.isInteger(arg) && Math.abs(arg) > 0xffff
    ? `0x${arg.toString(16)}`
    : String(arg);
}

/** Run the fuzzer for `iterations` actions from `seed`. */
export function runFuzz(opts: FuzzOptions): FuzzReport {
  const f = new Fuzzer(opts);
  const limit = opts.maxViolations ?? 20;
  for (let i = 0; i < opts.iterations; i++) {
    f.act();
    if (f.report.violations.length >= limit) break;
  }
  f.doRestart();
  return f.report;
}
