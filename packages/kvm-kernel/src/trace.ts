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

/** kvm_apic: a guest (or KVM) read or write of a local APIC register. */
export interface KvmApicEvent {
  vcpu_id: number;
  /** KVM_APIC_READ = 0, KVM_APIC_WRITE = 1. */
  rw: number;
  /** The register's offset in the xAPIC page (APIC_ICR = 0x300 …). */
  reg: number;
  val: bigint;
}

export interface KvmApicIpiEvent {
  vcpu_id: number;
  icr_low: number;
  dest_id: number;
}

export interface KvmApicAcceptIrqEvent {
  /** The receiving vCPU (apicid in the kernel's record). */
  apicid: number;
  /** Delivery mode as APIC_DM_* (already shifted: 0x000 … 0x700). */
  dm: number;
  /** Trigger mode: 0 edge, non-zero level. */
  tm: number;
  vec: number;
}

export interface KvmEoiEvent {
  apicid: number;
  vector: number;
}

export interface KvmPicSetIrqEvent {
  chip: number;
  pin: number;
  elcr: number;
  imr: number;
  coalesced: boolean;
}

export interface KvmIoapicSetIrqEvent {
  /** The pin's redirection entry (64 bits). */
  e: bigint;
  pin: number;
  coalesced: boolean;
}

export interface KvmSetIrqEvent {
  gsi: number;
  level: number;
  irq_source_id: number;
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
  kvm_apic: KvmApicEvent;
  kvm_apic_ipi: KvmApicIpiEvent;
  kvm_apic_accept_irq: KvmApicAcceptIrqEvent;
  kvm_eoi: KvmEoiEvent;
  kvm_pic_set_irq: KvmPicSetIrqEvent;
  kvm_ioapic_set_irq: KvmIoapicSetIrqEvent;
  kvm_set_irq: KvmSetIrqEvent;
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
  "kvm_apic",
  "kvm_apic_ipi",
  "kvm_apic_accept_irq",
  "kvm_eoi",
  "kvm_pic_set_irq",
  "kvm_ioapic_set_irq",
  "kvm_set_irq",
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

  readonly kvm_apic = new Tracepoint<KvmApicEvent>("kvm_apic");
  readonly kvm_apic_ipi = new Tracepoint<KvmApicIpiEvent>("kvm_apic_ipi");
  readonly kvm_apic_accept_irq = new Tracepoint<KvmApicAcceptIrqEvent>("kvm_apic_accept_irq");
  readonly kvm_eoi = new Tracepoint<KvmEoiEvent>("kvm_eoi");
  readonly kvm_pic_set_irq = new Tracepoint<KvmPicSetIrqEvent>("kvm_pic_set_irq");
  readonly kvm_ioapic_set_irq = new Tracepoint<KvmIoapicSetIrqEvent>("kvm_ioapic_set_irq");
  readonly kvm_set_irq = new Tracepoint<KvmSetIrqEvent>("kvm_set_irq");

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

// ── the irqchip tracepoints' TP_printk text (arch/x86/kvm/trace.h, include/trace/events/kvm.h) ──

const hex = (v: number | bigint): string =>
  typeof v === "bigint" ? v.toString(16) : (v >>> 0).toString(16);

/** kvm_trace_symbol_apic: register offsets by name. */
const APIC_REG_NAMES: Readonly<Record<number, string>> = {
  32: "APIC_ID",
  48: "APIC_LVR",
  128: "APIC_TASKPRI",
  144: "APIC_ARBPRI",
  160: "APIC_PROCPRI",
  176: "APIC_EOI",
  192: "APIC_RRR",
  208: "APIC_LDR",
  224: "APIC_DFR",
  240: "APIC_SPIV",
  256: "APIC_ISR",
  384: "APIC_TMR",
  512: "APIC_IRR",
  640: "APIC_ESR",
  768: "APIC_ICR",
  784: "APIC_ICR2",
  800: "APIC_LVTT",
  816: "APIC_LVTTHMR",
  832: "APIC_LVTPC",
  848: "APIC_LVT0",
  864: "APIC_LVT1",
  880: "APIC_LVTERR",
  896: "APIC_TMICT",
  912: "APIC_TMCCT",
  992: "APIC_TDCR",
  1008: "APIC_SELF_IPI",
};

/** kvm_deliver_mode, indexed by bits 10:8. */
const DELIVER_MODES = ["Fixed", "LowPrio", "SMI", "Res3", "NMI", "INIT", "SIPI", "ExtINT"];
/** kvm_apic_dst_shorthand, indexed by ICR bits 19:18. */
const SHORTHANDS = ["dst", "self", "all", "all-but-self"];

export type IrqchipTracepointName =
  | "kvm_apic"
  | "kvm_apic_ipi"
  | "kvm_apic_accept_irq"
  | "kvm_eoi"
  | "kvm_pic_set_irq"
  | "kvm_ioapic_set_irq"
  | "kvm_set_irq";

/**
 * The TP_printk text of the irqchip tracepoints, for printers such as the CLI's
 * (`kvm_apic_ipi: dst 1 vec 0 (INIT|physical|assert|edge|dst)`).
 */
export function irqchipTpPrintk<N extends IrqchipTracepointName>(
  name: N,
  ev: TracepointEvents[N],
): string {
  switch (name) {
    case "kvm_apic": {
      const x = ev as KvmApicEvent;
      const reg = APIC_REG_NAMES[x.reg] ?? `0x${hex(x.reg)}`;
      return `apic_${x.rw ? "write" : "read"} ${reg} = 0x${hex(x.val)}`;
    }
    case "kvm_apic_ipi": {
      const x = ev as KvmApicIpiEvent;
      const l = x.icr_low;
      return (
        `dst ${hex(x.dest_id)} vec ${l & 0xff} (${DELIVER_MODES[(l >> 8) & 7]}|` +
        `${l & (1 << 11) ? "logical" : "physical"}|${l & (1 << 14) ? "assert" : "de-assert"}|` +
        `${l & (1 << 15) ? "level" : "edge"}|${SHORTHANDS[(l >> 18) & 3]})`
      );
    }
    case "kvm_apic_accept_irq": {
      const x = ev as KvmApicAcceptIrqEvent;
      return `apicid ${hex(x.apicid)} vec ${x.vec} (${DELIVER_MODES[(x.dm >> 8) & 7]}|${x.tm ? "level" : "edge"})`;
    }
    case "kvm_eoi": {
      const x = ev as KvmEoiEvent;
      return `apicid ${hex(x.apicid)} vector ${x.vector}`;
    }
    case "kvm_pic_set_irq": {
      const x = ev as KvmPicSetIrqEvent;
      return (
        `chip ${x.chip} pin ${x.pin} (${x.elcr & (1 << x.pin) ? "level" : "edge"}` +
        `${x.imr & (1 << x.pin) ? "|masked" : ""})${x.coalesced ? " (coalesced)" : ""}`
      );
    }
    case "kvm_ioapic_set_irq": {
      const x = ev as KvmIoapicSetIrqEvent;
      const e = x.e;
      const lo = Number(e & 0xffff_ffffn);
      return (
        `pin ${x.pin} dst ${hex(Number(e >> 56n))} vec ${lo & 0xff} (${DELIVER_MODES[(lo >> 8) & 7]}|` +
        `${lo & (1 << 11) ? "logical" : "physical"}|${lo & (1 << 15) ? "level" : "edge"}` +
        `${lo & (1 << 16) ? "|masked" : ""})${x.coalesced ? " (coalesced)" : ""}`
      );
    }
    default: {
      const x = ev as KvmSetIrqEvent;
      return `gsi ${x.gsi} level ${x.level} source ${x.irq_source_id}`;
    }
  }
}
