/**
 * KVM's tracepoints (arch/x86/kvm/trace.h, include/trace/events/kvm.h) as typed events.
 * Field names are the kernel's, so `perf trace -e kvm:kvm_exit` output and these events
 * read the same. Emit sites test `tp.enabled` first: with no subscriber an event costs one
 * property load and no allocation.
 */

export interface KvmEntryEvent {
  vcpu_id: number;
  rip: bigint;
}

export interface KvmExitEvent {
  vcpu_id: number;
  /** The vendor's exit code (VMX basic exit reason with flag bits, SVM exit code). */
  exit_reason: number;
  /** The vendor's name for it (EXTERNAL_INTERRUPT, IO_INSTRUCTION, npf …). */
  exit_reason_name: string;
  guest_rip: bigint;
  /** KVM_ISA_VMX = 1, KVM_ISA_SVM = 2. */
  isa: number;
  info1: bigint;
  info2: bigint;
  intr_info: number;
  error_code: number;
}

export interface KvmPioEvent {
  vcpu_id: number;
  /** KVM_PIO_IN = 0, KVM_PIO_OUT = 1. */
  rw: number;
  port: number;
  size: number;
  count: number;
  /** First element's value (valid for OUT, and for IN once userspace supplied it). */
  val: number;
}

/** KVM_TRACE_MMIO_READ_UNSATISFIED = 0, READ = 1, WRITE = 2. */
export const KVM_TRACE_MMIO_READ_UNSATISFIED = 0;
export const KVM_TRACE_MMIO_READ = 1;
export const KVM_TRACE_MMIO_WRITE = 2;

export interface KvmMmioEvent {
  vcpu_id: number;
  type: number;
  len: number;
  gpa: bigint;
  val: bigint;
}

export interface KvmUserspaceExitEvent {
  vcpu_id: number;
  /** kvm_run.exit_reason. */
  reason: number;
  /** The ioctl's result: 0 or -errno. */
  errno: number;
}

export interface KvmCpuidEvent {
  vcpu_id: number;
  function: number;
  index: number;
  rax: number;
  rbx: number;
  rcx: number;
  rdx: number;
  found: boolean;
  used_max_basic: boolean;
}

export interface KvmMsrEvent {
  vcpu_id: number;
  write: boolean;
  ecx: number;
  data: bigint;
  exception: boolean;
}

export interface KvmCrEvent {
  vcpu_id: number;
  /** 0 = read, 1 = write. */
  rw: number;
  cr: number;
  val: bigint;
}

export interface KvmInjVirqEvent {
  vcpu_id: number;
  vector: number;
  soft: boolean;
  reinjected: boolean;
}

export interface KvmInjExceptionEvent {
  vcpu_id: number;
  exception: number;
  has_error: boolean;
  error_code: number;
  reinjected: boolean;
}

export interface KvmFpuEvent {
  vcpu_id: number;
  /** 1 = load, 0 = unload. */
  load: number;
}

export interface KvmSetUserMemoryRegionEvent {
  slot: number;
  flags: number;
  guest_phys_addr: bigint;
  memory_size: bigint;
  userspace_addr: bigint;
}

export interface TracepointEvents {
  kvm_entry: KvmEntryEvent;
  kvm_exit: KvmExitEvent;
  kvm_pio: KvmPioEvent;
  kvm_mmio: KvmMmioEvent;
  kvm_userspace_exit: KvmUserspaceExitEvent;
  kvm_cpuid: KvmCpuidEvent;
  kvm_msr: KvmMsrEvent;
  kvm_cr: KvmCrEvent;
  kvm_inj_virq: KvmInjVirqEvent;
  kvm_inj_exception: KvmInjExceptionEvent;
  kvm_fpu: KvmFpuEvent;
  kvm_set_user_memory_region: KvmSetUserMemoryRegionEvent;
}

export type TracepointName = keyof TracepointEvents;

/** One tracepoint: enabled while it has subscribers. */
export class Tracepoint<T> {
  enabled = false;
  private readonly subscribers: ((event: T) => void)[] = [];

  constructor(readonly name: string) {}

  /** Attach a probe; returns the function that detaches it. */
  subscribe(probe: (event: T) => void): () => void {
    this.subscribers.push(probe);
    this.enabled = true;
    return () => {
      const i = this.subscribers.indexOf(probe);
      if (i >= 0) this.subscribers.splice(i, 1);
      this.enabled = this.subscribers.length > 0;
    };
  }

  emit(event: T): void {
    for (const s of this.subscribers) s(event);
  }
}

const NAMES: readonly TracepointName[] = [
  "kvm_entry",
  "kvm_exit",
  "kvm_pio",
  "kvm_mmio",
  "kvm_userspace_exit",
  "kvm_cpuid",
  "kvm_msr",
  "kvm_cr",
  "kvm_inj_virq",
  "kvm_inj_exception",
  "kvm_fpu",
  "kvm_set_user_memory_region",
];

/** Every KVM tracepoint of one host kernel. */
export class Tracepoints {
  readonly kvm_entry = new Tracepoint<KvmEntryEvent>("kvm_entry");
  readonly kvm_exit = new Tracepoint<KvmExitEvent>("kvm_exit");
  readonly kvm_pio = new Tracepoint<KvmPioEvent>("kvm_pio");
  readonly kvm_mmio = new Tracepoint<KvmMmioEvent>("kvm_mmio");
  readonly kvm_userspace_exit = new Tracepoint<KvmUserspaceExitEvent>("kvm_userspace_exit");
  readonly kvm_cpuid = new Tracepoint<KvmCpuidEvent>("kvm_cpuid");
  readonly kvm_msr = new Tracepoint<KvmMsrEvent>("kvm_msr");
  readonly kvm_cr = new Tracepoint<KvmCrEvent>("kvm_cr");
  readonly kvm_inj_virq = new Tracepoint<KvmInjVirqEvent>("kvm_inj_virq");
  readonly kvm_inj_exception = new Tracepoint<KvmInjExceptionEvent>("kvm_inj_exception");
  readonly kvm_fpu = new Tracepoint<KvmFpuEvent>("kvm_fpu");
  readonly kvm_set_user_memory_region = new Tracepoint<KvmSetUserMemoryRegionEvent>(
    "kvm_set_user_memory_region",
  );

  /** Every tracepoint name, in the order above. */
  static readonly names = NAMES;

  /**
   * Subscribe to every tracepoint whose name matches a glob (`kvm_*`, `kvm_exit`), as
   * `perf record -e 'kvm:kvm_*'` does. Returns the function that detaches all of them.
   */
  subscribe(
    pattern: string,
    probe: <N extends TracepointName>(name: N, event: TracepointEvents[N]) => void,
  ): () => void {
    const re = new RegExp(
      `^${pattern
        .replace(/[.+^${}()|[\]\\]/g, "\\$&")
        .replace(/\*/g, ".*")
        .replace(/\?/g, ".")}$`,
    );
    const offs: (() => void)[] = [];
    for (const name of NAMES) {
      if (!re.test(name)) continue;
      const tp = this[name] as Tracepoint<TracepointEvents[typeof name]>;
      offs.push(tp.subscribe((ev) => probe(name, ev)));
    }
    return () => {
      for (const off of offs) off();
    };
  }
}
