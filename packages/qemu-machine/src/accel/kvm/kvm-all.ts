/**
 * accel/kvm/kvm-all.c — QEMU's side of /dev/kvm: `kvmInit` (the accelerator's init_machine:
 * open, API version, KVM_CREATE_VM, vCPU limits, required capabilities, the x86 arch
 * setup, memory slots from the flattened RAM), `kvmInitVcpu` (KVM_CREATE_VCPU, the kvm_run
 * mapping), and `kvmCpuExec` (the KVM_RUN loop with QEMU's exit table: port I/O and MMIO
 * to the address spaces, shutdown to a reset request, failures to QEMU's messages).
 * Everything goes through HostOs system calls with the real request numbers and struct
 * bytes, traced under QEMU's event names (kvm_ioctl, kvm_vm_ioctl, kvm_vcpu_ioctl,
 * kvm_run_exit …).
 */
import {
  EAGAIN,
  EINTR,
  encodeKvmEnableCap,
  encodeKvmIrqLevel,
  encodeKvmUserspaceMemoryRegion,
  type HostOs,
  interposeHostOs,
  KVM_API_VERSION,
  KVM_CAP_ADJUST_CLOCK,
  KVM_CAP_COALESCED_MMIO,
  KVM_CAP_COALESCED_PIO,
  KVM_CAP_DEBUGREGS,
  KVM_CAP_DESTROY_MEMORY_REGION_WORKS,
  KVM_CAP_EXT_CPUID,
  KVM_CAP_IMMEDIATE_EXIT,
  KVM_CAP_INTERNAL_ERROR_DATA,
  KVM_CAP_IOEVENTFD,
  KVM_CAP_IOEVENTFD_ANY_LENGTH,
  KVM_CAP_IRQ_INJECT_STATUS,
  KVM_CAP_IRQ_ROUTING,
  KVM_CAP_IRQCHIP,
  KVM_CAP_IRQFD,
  KVM_CAP_JOIN_MEMORY_REGIONS_WORKS,
  KVM_CAP_MAX_VCPUS,
  KVM_CAP_MCE,
  KVM_CAP_MP_STATE,
  KVM_CAP_NAMES,
  KVM_CAP_NR_MEMSLOTS,
  KVM_CAP_NR_VCPUS,
  KVM_CAP_SET_IDENTITY_MAP_ADDR,
  KVM_CAP_SET_TSS_ADDR,
  KVM_CAP_SIGNAL_MSI,
  KVM_CAP_SPLIT_IRQCHIP,
  KVM_CAP_USER_MEMORY,
  KVM_CAP_VCPU_EVENTS,
  KVM_CAP_X86_ROBUST_SINGLESTEP,
  KVM_CAP_XSAVE,
  KVM_CHECK_EXTENSION,
  KVM_COALESCED_MMIO_ENTRY_SIZE,
  KVM_COALESCED_MMIO_MAX,
  KVM_COALESCED_MMIO_ZONE_SIZE,
  KVM_CREATE_IRQCHIP,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_ENABLE_CAP,
  KVM_EXIT_DEBUG,
  KVM_EXIT_EXCEPTION,
  KVM_EXIT_FAIL_ENTRY,
  KVM_EXIT_HLT,
  KVM_EXIT_INTERNAL_ERROR,
  KVM_EXIT_IO,
  KVM_EXIT_IO_OUT,
  KVM_EXIT_IRQ_WINDOW_OPEN,
  KVM_EXIT_MMIO,
  KVM_EXIT_SET_TPR,
  KVM_EXIT_SHUTDOWN,
  KVM_EXIT_SYSTEM_EVENT,
  KVM_EXIT_UNKNOWN,
  KVM_GET_API_VERSION,
  KVM_GET_VCPU_MMAP_SIZE,
  KVM_INTERNAL_ERROR_EMULATION,
  KVM_IRQ_LINE,
  KVM_IRQ_LINE_STATUS,
  KVM_MEM_READONLY,
  KVM_REGISTER_COALESCED_MMIO,
  KVM_RUN,
  KVM_SET_IDENTITY_MAP_ADDR,
  KVM_SET_TSS_ADDR,
  KVM_SET_USER_MEMORY_REGION,
  KVM_SYSTEM_EVENT_CRASH,
  KVM_SYSTEM_EVENT_RESET,
  KVM_SYSTEM_EVENT_SHUTDOWN,
  KvmRun,
  O_CLOEXEC,
  O_RDWR,
  PAGE_SIZE,
  strerror,
} from "@glassvm/kvm-kernel/uapi";
import {
  type AccessSize,
  type AddressSpace,
  memoryListenerSetCoalescedIo,
} from "../../system/memory.js";
import { defineTraceEvent, traceEvent } from "../../trace/control.js";

// ── trace events (accel/kvm/trace-events) ──

const ptr = (v: unknown): string =>
  typeof v === "number" && v !== 0
    ? `0x${v.toString(16)}`
    : typeof v === "bigint" && v !== 0n
      ? `0x${v.toString(16)}`
      : "(nil)";
const hex = (v: unknown): string => `0x${Number(v).toString(16)}`;
defineTraceEvent("kvm_ioctl", (a) => `type ${hex(a.type)}, arg ${ptr(a.arg)}`);
defineTraceEvent("kvm_vm_ioctl", (a) => `type ${hex(a.type)}, arg ${ptr(a.arg)}`);
defineTraceEvent(
  "kvm_vcpu_ioctl",
  (a) => `cpu_index ${a.cpu_index}, type ${hex(a.type)}, arg ${ptr(a.arg)}`,
);
defineTraceEvent("kvm_run_exit", (a) => `cpu_index ${a.cpu_index}, reason ${a.reason}`);
defineTraceEvent("kvm_init_vcpu", (a) => `index: ${a.cpu_index} id: ${a.arch_cpu_id}`);
defineTraceEvent(
  "kvm_create_vcpu",
  (a) => `index: ${a.cpu_index}, id: ${a.arch_cpu_id}, kvm fd: ${a.kvm_fd}`,
);
defineTraceEvent("kvm_cpu_exec", () => "");
defineTraceEvent("kvm_io_window_exit", () => "");
defineTraceEvent("kvm_interrupt_exit_request", () => "");
defineTraceEvent(
  "kvm_run_exit_system_event",
  (a) => `cpu_index ${a.cpu_index}, system_even_type ${a.event_type}`,
);
defineTraceEvent(
  "kvm_set_user_memory",
  (a) =>
    `AddrSpace#${a.as} Slot#${a.slot} flags=${hex(a.flags)} gpa=${hex(a.gpa)} size=${hex(a.size)} ` +
    `ua=${hex(a.ua)} guest_memfd=-1 guest_memfd_offset=0x0 ret=${a.ret}`,
);

/** EXCP_* codes kvm_cpu_exec returns (include/exec/cpu-all.h). */
export const EXCP_INTERRUPT = 0x10000;
export const EXCP_HLT = 0x10001;
export const EXCP_DEBUG = 0x10002;
export const EXCP_HALTED = 0x10003;

/**
 * kvm_required_capabilites (sic) + kvm_arch_required_capabilities (x86), in QEMU's order.
 * kvm_init fails on the first one the kernel lacks.
 */
export const KVM_REQUIRED_CAPABILITIES: readonly number[] = [
  KVM_CAP_USER_MEMORY,
  KVM_CAP_DESTROY_MEMORY_REGION_WORKS,
  KVM_CAP_JOIN_MEMORY_REGIONS_WORKS,
  KVM_CAP_INTERNAL_ERROR_DATA,
  KVM_CAP_IOEVENTFD,
  KVM_CAP_IOEVENTFD_ANY_LENGTH,
  KVM_CAP_SET_TSS_ADDR,
  KVM_CAP_EXT_CPUID,
  KVM_CAP_MP_STATE,
  KVM_CAP_SIGNAL_MSI,
  KVM_CAP_IRQ_ROUTING,
  KVM_CAP_DEBUGREGS,
  KVM_CAP_XSAVE,
  KVM_CAP_VCPU_EVENTS,
  KVM_CAP_X86_ROBUST_SINGLESTEP,
  KVM_CAP_MCE,
  KVM_CAP_ADJUST_CLOCK,
  KVM_CAP_SET_IDENTITY_MAP_ADDR,
];

/**
 * Required capabilities the glassvm kernel model does not offer yet: they belong to the
 * in-kernel irqchip, ioeventfd, XSAVE, MCE and kvmclock, which come with later issues.
 * kvm_init checks every other one as QEMU does and says which of these it let pass
 * (`kvmState.waivedCapabilities`), instead of refusing to start as QEMU would.
 */
export const KVM_CAPABILITIES_NOT_YET_IN_GLASSVM: ReadonlySet<number> = new Set([
  KVM_CAP_IOEVENTFD,
  KVM_CAP_IOEVENTFD_ANY_LENGTH,
  KVM_CAP_SIGNAL_MSI,
  KVM_CAP_IRQ_ROUTING,
  KVM_CAP_XSAVE,
  KVM_CAP_X86_ROBUST_SINGLESTEP,
  KVM_CAP_MCE,
  KVM_CAP_ADJUST_CLOCK,
]);

/** The x86 addresses kvm_arch_init reserves (identity map page and TSS, below the BIOS). */
export const KVM_IDENTITY_MAP_ADDR = 0xfeff_c000;
export const KVM_TSS_ADDR = 0xfeff_d000;

/** How kvm_init reports: error_report / warn_report lines (the caller adds the prefix). */
export type KvmReport = (kind: "error" | "warning", text: string) => void;

/** What kvm_init needs from the machine (MachineState, the system address spaces). */
export interface KvmMachine {
  readonly smpCpus: number;
  readonly maxCpus: number;
  /** address_space_memory and address_space_io. */
  readonly memory: AddressSpace;
  readonly io: AddressSpace;
}

/** One memory slot (KVMSlot). */
export interface KvmSlot {
  readonly slot: number;
  readonly gpa: number;
  readonly size: number;
  readonly hostAddr: number;
  readonly flags: number;
}

/** KVMState: the accelerator's state after kvm_init. */
export class KVMState {
  vmfd = -1;
  nrSlots = 32;
  immediateExit = false;
  /** KVM_CAP_NR_VCPUS (soft) and KVM_CAP_MAX_VCPUS (hard) limits. */
  softVcpusLimit = 4;
  hardVcpusLimit = 4;
  /**
   * kvm_kernel_irqchip: KVM_CREATE_IRQCHIP succeeded, so the PICs, the IOAPIC and every
   * vCPU's local APIC are in the kernel (and with them kvm_async_interrupts_allowed and
   * kvm_halt_in_kernel_allowed). False: QEMU's userspace irqchip injects with KVM_INTERRUPT.
   */
  kernelIrqchip = false;
  /** kvm_split_irqchip: only the local APICs in the kernel (kernel-irqchip=split). */
  kernelIrqchipSplit = false;
  /** irq_set_ioctl: KVM_IRQ_LINE_STATUS when the kernel reports delivery, else KVM_IRQ_LINE. */
  irqSetIoctl = KVM_IRQ_LINE;
  /** KVM_CAP_COALESCED_MMIO: the ring's page offset in a vCPU's mmap (0: none). */
  coalescedMmio = 0;
  /** KVM_CAP_COALESCED_PIO. */
  coalescedPio = false;
  /** Zones are registered (kvmEnableCoalescedIo): the ring is to be flushed. */
  coalescedIo = false;
  /** The coalesced MMIO ring, in the first vCPU's kvm_run mapping (s->coalesced_mmio_ring). */
  coalescedMmioRing: Uint8Array | null = null;
  /** The ring's `first` and `last` words. */
  coalescedMmioRingWords: Int32Array | null = null;
  /** s->coalesced_flush_in_progress. */
  coalescedFlushInProgress = false;
  /** Required capabilities let pass because the kernel model lacks them (see above). */
  waivedCapabilities: string[] = [];
  slots: KvmSlot[] = [];
  readonly vcpus: KvmVcpuState[] = [];

  constructor(
    readonly os: HostOs,
    /** The /dev/kvm fd. */
    readonly fd: number,
    readonly machine: KvmMachine,
  ) {}
}

/** The per-vCPU part of CPUState that KVM uses (kvm_fd, kvm_run, vcpu_dirty …). */
export class KvmVcpuState {
  readonly kvmRun: KvmRun;
  /** State changed in QEMU that must be pushed before the next KVM_RUN. */
  vcpuDirty = true;
  exitRequest = false;
  halted = false;

  constructor(
    readonly cpuIndex: number,
    /** The arch id (x86: the APIC ID) KVM_CREATE_VCPU was given. */
    readonly archId: number,
    readonly kvmFd: number,
    /** The mmap'd kvm_run area (address and size in the VMM process). */
    readonly mmapAddr: number,
    readonly mmapSize: number,
    view: Uint8Array,
  ) {
    this.kvmRun = new KvmRun(view);
  }
}

/** `kvm_state`: this process's KVMState once kvm_init succeeded. */
let kvmStateGlobal: KVMState | null = null;

/** `kvm_state` (null before kvm_init, without KVM, and after qemu_cleanup). */
export function kvmStateCurrent(): KVMState | null {
  return kvmStateGlobal;
}

/** qemu_cleanup's end of KVM: forget `kvm_state`. */
export function kvmStateClear(): void {
  kvmStateGlobal = null;
}

/** `kvm_irqchip_in_kernel()`: the interrupt controllers are the kernel's. */
export function kvmIrqchipInKernel(): boolean {
  return kvmStateCurrent()?.kernelIrqchip ?? false;
}

/** `kvm_pit_in_kernel()`: with the full in-kernel irqchip the PIT is the kernel's too. */
export function kvmPitInKernel(): boolean {
  const s = kvmStateCurrent();
  if (!s) return false;
  return s.kernelIrqchip && !s.kernelIrqchipSplit;
}

/** kvm_ioctl: an ioctl on the /dev/kvm fd. */
export function kvmIoctl(s: KVMState, type: number, arg: number | bigint | Uint8Array = 0): number {
  traceEvent("kvm_ioctl", { type, arg: typeof arg === "object" ? 1 : arg });
  return s.os.ioctl(s.fd, type, arg);
}

/** kvm_vm_ioctl: an ioctl on the VM fd. */
export function kvmVmIoctl(
  s: KVMState,
  type: number,
  arg: number | bigint | Uint8Array = 0,
): number {
  traceEvent("kvm_vm_ioctl", { type, arg: typeof arg === "object" ? 1 : arg });
  return s.os.ioctl(s.vmfd, type, arg);
}

/** kvm_vcpu_ioctl: an ioctl on a vCPU fd. */
export function kvmVcpuIoctl(
  s: KVMState,
  cpu: KvmVcpuState,
  type: number,
  arg: number | bigint | Uint8Array = 0,
): number {
  traceEvent("kvm_vcpu_ioctl", {
    cpu_index: cpu.cpuIndex,
    type,
    arg: typeof arg === "object" ? 1 : arg,
  });
  return s.os.ioctl(cpu.kvmFd, type, arg);
}

/**
 * The HostOs the rest of QEMU's KVM code (target/i386/kvm) calls through: every ioctl goes
 * via kvm_ioctl / kvm_vm_ioctl / kvm_vcpu_ioctl by the fd it names, so each one is traced
 * as QEMU traces it; the other system calls pass straight through.
 */
export function kvmTracedOs(s: KVMState): HostOs {
  const os = s.os;
  return interposeHostOs(os, {
    ioctl(fd, request, arg = 0) {
      if (fd === s.fd) return kvmIoctl(s, request, arg);
      if (fd === s.vmfd) return kvmVmIoctl(s, request, arg);
      const cpu = s.vcpus.find((c) => c.kvmFd === fd);
      if (cpu) return kvmVcpuIoctl(s, cpu, request, arg);
      return os.ioctl(fd, request, arg);
    },
  });
}

/** kvm_check_extension on the /dev/kvm fd (0 = absent). */
export function kvmCheckExtension(s: KVMState, cap: number): number {
  return Math.max(0, kvmIoctl(s, KVM_CHECK_EXTENSION, cap));
}

/**
 * kvm_init, in QEMU's order (reference §6.1). Returns the state, or a negative errno after
 * reporting (the caller prints "failed to initialize kvm: …" as QEMU's accel code does).
 */
export function kvmInit(
  os: HostOs,
  machine: KvmMachine,
  report: KvmReport,
  device = "/dev/kvm",
  irqchip: KvmIrqchipConfig = { allowed: false, split: false },
): KVMState | number {
  const fd = os.open(device, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    report("error", `Could not access KVM kernel module: ${strerror(fd)}`);
    return fd;
  }
  const s = new KVMState(os, fd, machine);
  const fail = (r: number): number => {
    if (s.vmfd >= 0) os.close(s.vmfd);
    os.close(fd);
    return r;
  };
  const version = kvmIoctl(s, KVM_GET_API_VERSION);
  if (version < KVM_API_VERSION) {
    report("error", "kvm version too old");
    return fail(-22);
  }
  if (version > KVM_API_VERSION) {
    report("error", "kvm version not supported");
    return fail(-22);
  }
  s.immediateExit = kvmCheckExtension(s, KVM_CAP_IMMEDIATE_EXIT) > 0;
  // Coalesced MMIO/PIO: the ring's page in a vCPU's mmap, and whether ports may join.
  s.coalescedMmio = kvmCheckExtension(s, KVM_CAP_COALESCED_MMIO);
  s.coalescedPio = kvmCheckExtension(s, KVM_CAP_COALESCED_PIO) > 0;
  s.nrSlots = kvmCheckExtension(s, KVM_CAP_NR_MEMSLOTS) || 32;

  let vmfd: number;
  do {
    vmfd = kvmIoctl(s, KVM_CREATE_VM, 0);
  } while (vmfd === -EINTR);
  if (vmfd < 0) {
    report("error", `ioctl(KVM_CREATE_VM) failed: ${strerror(vmfd)}`);
    return fail(vmfd);
  }
  s.vmfd = vmfd;

  s.softVcpusLimit = kvmCheckExtension(s, KVM_CAP_NR_VCPUS) || 4;
  s.hardVcpusLimit = kvmCheckExtension(s, KVM_CAP_MAX_VCPUS) || s.softVcpusLimit;
  for (const [what, n] of [
    ["SMP", machine.smpCpus],
    ["hotpluggable", machine.maxCpus],
  ] as const) {
    if (n > s.softVcpusLimit) {
      report(
        "warning",
        `Number of ${what} cpus requested (${n}) exceeds the recommended cpus supported by KVM (${s.softVcpusLimit})`,
      );
      if (n > s.hardVcpusLimit) {
        report(
          "error",
          `Number of ${what} cpus requested (${n}) exceeds the maximum cpus supported by KVM (${s.hardVcpusLimit})`,
        );
        return fail(-22);
      }
    }
  }

  for (const cap of KVM_REQUIRED_CAPABILITIES) {
    if (kvmCheckExtension(s, cap) > 0) continue;
    if (KVM_CAPABILITIES_NOT_YET_IN_GLASSVM.has(cap)) {
      s.waivedCapabilities.push(capName(cap));
      continue;
    }
    report("error", `kvm does not support ${capName(cap)}`);
    report("error", "Please upgrade to at least kernel 4.5.");
    return fail(-22);
  }

  // kvm_arch_init (x86): the identity-map page and the TSS below the BIOS.
  let r = kvmVmIoctl(s, KVM_SET_IDENTITY_MAP_ADDR, u64Bytes(KVM_IDENTITY_MAP_ADDR));
  if (r < 0) {
    report("error", `Failed to set identity map address: ${strerror(r)}`);
    return fail(r);
  }
  r = kvmVmIoctl(s, KVM_SET_TSS_ADDR, KVM_TSS_ADDR);
  if (r < 0) {
    report("error", `Failed to set TSS address: ${strerror(r)}`);
    return fail(r);
  }

  // kernel-irqchip=on|split: the interrupt controllers in the kernel, if it has them.
  if (irqchip.allowed) {
    r = kvmIrqchipCreate(s, irqchip.split, report);
    if (r < 0) return fail(r);
  }

  // The memory listener: every RAM/ROM range of system memory becomes a slot, and follows
  // layout changes from now on.
  r = kvmMemoryListenerCommit(s);
  if (r < 0) return fail(r);
  machine.memory.onLayoutChange(() => {
    kvmMemoryListenerCommit(s);
  });
  kvmStateGlobal = s;
  return s;
}

/** The accelerator's kernel-irqchip setting, as kvm_init reads it. */
export interface KvmIrqchipConfig {
  /** kernel_irqchip_allowed: on or split. */
  readonly allowed: boolean;
  /** kernel_irqchip_split resolved (the machine's default_kernel_irqchip_split for auto). */
  readonly split: boolean;
}

/**
 * kvm_irqchip_create: without KVM_CAP_IRQCHIP, nothing (QEMU's userspace irqchip stays).
 * Else KVM_CREATE_IRQCHIP — or, for split, KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP, 24 IOAPIC
 * routes) (kvm_arch_irqchip_create) — and from then on interrupts are the kernel's.
 * QEMU also insists on KVM_CAP_IRQFD ("kvm: irqfd not implemented") for the devices that
 * inject through eventfds; glassvm's devices do not, and the kernel model has no eventfds,
 * so that one is recorded as waived.
 */
export function kvmIrqchipCreate(s: KVMState, split: boolean, report: KvmReport): number {
  if (kvmCheckExtension(s, KVM_CAP_IRQCHIP) <= 0) return 0;
  if (kvmCheckExtension(s, KVM_CAP_IRQFD) <= 0) s.waivedCapabilities.push(capName(KVM_CAP_IRQFD));
  let r: number;
  if (split) {
    r = kvmVmIoctl(
      s,
      KVM_ENABLE_CAP,
      encodeKvmEnableCap({ cap: KVM_CAP_SPLIT_IRQCHIP, flags: 0, args: [24n, 0n, 0n, 0n] }),
    );
    if (r < 0) {
      report("error", `Could not enable split irqchip mode: ${strerror(r)}`);
      return r;
    }
    s.kernelIrqchipSplit = true;
  } else {
    r = kvmVmIoctl(s, KVM_CREATE_IRQCHIP);
    if (r < 0) {
      report("error", `Create kernel irqchip failed: ${strerror(r)}`);
      return r;
    }
  }
  s.kernelIrqchip = true;
  if (kvmCheckExtension(s, KVM_CAP_IRQ_INJECT_STATUS) > 0) s.irqSetIoctl = KVM_IRQ_LINE_STATUS;
  return 0;
}

/**
 * Where QEMU prints "<what> failed: <errno text>" and aborts: the kernel refused an ioctl on
 * state QEMU itself owns (an irqchip's registers), which a guest cannot cause.
 */
export function kvmIoctlFailed(what: string, r: number): never {
  throw new Error(`${what} failed: ${strerror(r)}`);
}

/**
 * kvm_set_irq: drive GSI `irq` to `level` in the kernel's irqchip (KVM_IRQ_LINE(_STATUS)).
 * Returns whether the interrupt was delivered (KVM_IRQ_LINE: always 1, as QEMU assumes).
 */
export function kvmSetIrq(s: KVMState, irq: number, level: number): number {
  const event = encodeKvmIrqLevel({ irq, level });
  const r = kvmVmIoctl(s, s.irqSetIoctl, event);
  if (r < 0) throw new Error(`kvm_set_irq: ${strerror(r)}`);
  return s.irqSetIoctl === KVM_IRQ_LINE ? 1 : new DataView(event.buffer).getInt32(0, true);
}

const capName = (cap: number): string => KVM_CAP_NAMES.get(cap) ?? `KVM_CAP_${cap}`;

function u64Bytes(v: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
  return b;
}

/** kvm_set_user_memory_region for one slot (size 0 deletes it). */
function kvmSetUserMemoryRegion(s: KVMState, slot: KvmSlot, size: number): number {
  const region = encodeKvmUserspaceMemoryRegion({
    slot: slot.slot,
    flags: slot.flags,
    guestPhysAddr: BigInt(slot.gpa),
    memorySize: BigInt(size),
    userspaceAddr: BigInt(slot.hostAddr),
  });
  const r = kvmVmIoctl(s, KVM_SET_USER_MEMORY_REGION, region);
  traceEvent("kvm_set_user_memory", {
    as: 0,
    slot: slot.slot,
    flags: slot.flags,
    gpa: slot.gpa,
    size,
    ua: slot.hostAddr,
    ret: r,
  });
  return r;
}

/**
 * kvm_region_commit for address_space_memory: compare the flattened RAM with the slots KVM
 * has, delete what went away, add what is new (kvm_set_phys_mem). RAM without a host
 * address (not mmap'd process memory) cannot be given to KVM and is skipped.
 */
export function kvmMemoryListenerCommit(s: KVMState): number {
  const want = s.machine.memory
    .ramBlocks()
    .filter((b) => b.region.hostAddr >= 0)
    .map((b) => ({
      gpa: b.gpa,
      size: b.size,
      hostAddr: b.region.hostAddr + b.offset,
      flags: b.readonly ? KVM_MEM_READONLY : 0,
    }));
  const same = (a: { gpa: number; size: number; hostAddr: number; flags: number }, b: KvmSlot) =>
    a.gpa === b.gpa && a.size === b.size && a.hostAddr === b.hostAddr && a.flags === b.flags;
  for (const old of [...s.slots]) {
    if (want.some((w) => same(w, old))) continue;
    const r = kvmSetUserMemoryRegion(s, old, 0);
    if (r < 0) return r;
    s.slots.splice(s.slots.indexOf(old), 1);
  }
  for (const w of want) {
    if (s.slots.some((o) => same(w, o))) continue;
    const used = new Set(s.slots.map((o) => o.slot));
    let slot = 0;
    while (used.has(slot)) slot++;
    if (slot >= s.nrSlots) return -28; // ENOSPC: out of slots
    const entry = { slot, ...w };
    const r = kvmSetUserMemoryRegion(s, entry, w.size);
    if (r < 0) return r;
    s.slots.push(entry);
  }
  return 0;
}

/**
 * kvm_init_vcpu: KVM_CREATE_VCPU with the arch id (the APIC ID), KVM_GET_VCPU_MMAP_SIZE,
 * mmap of kvm_run; then `archInit` (kvm_arch_init_vcpu: CPUID, MSRs). Returns the vCPU
 * state or an error text as QEMU words it.
 */
export function kvmInitVcpu(
  s: KVMState,
  cpuIndex: number,
  archId: number,
  archInit?: (cpu: KvmVcpuState) => number,
): KvmVcpuState | string {
  traceEvent("kvm_init_vcpu", { cpu_index: cpuIndex, arch_cpu_id: archId });
  const fd = kvmVmIoctl(s, KVM_CREATE_VCPU, archId);
  if (fd < 0) return `kvm_init_vcpu: kvm_create_vcpu failed (${archId}): ${strerror(fd)}`;
  traceEvent("kvm_create_vcpu", { cpu_index: cpuIndex, arch_cpu_id: archId, kvm_fd: fd });
  const size = kvmIoctl(s, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (size < 0) {
    traceEvent("kvm_failed_get_vcpu_mmap_size", {});
    return `kvm_init_vcpu: KVM_GET_VCPU_MMAP_SIZE failed: ${strerror(size)}`;
  }
  const addr = s.os.mmap(fd, size, 0);
  if (addr < 0) return `kvm_init_vcpu: mmap'ing vcpu state failed (${archId})`;
  const cpu = new KvmVcpuState(cpuIndex, archId, fd, addr, size, s.os.view(addr, size));
  s.vcpus.push(cpu);
  kvmNoteCoalescedRing(s, cpu);
  if (archInit) {
    const r = archInit(cpu);
    if (r < 0) {
      s.vcpus.splice(s.vcpus.indexOf(cpu), 1);
      return `kvm_init_vcpu: kvm_arch_init_vcpu failed (${archId}): ${strerror(r)}`;
    }
  }
  return cpu;
}

/** What kvm_cpu_exec needs from the rest of QEMU for one vCPU. */
export interface KvmCpuExecHooks {
  /** Push dirty registers (kvm_arch_put_registers); return <0 on failure. */
  putRegisters?(cpu: KvmVcpuState): number;
  /** kvm_arch_pre_run: inject interrupts, request an interrupt window. */
  preRun?(cpu: KvmVcpuState): void;
  /** kvm_arch_post_run. */
  postRun?(cpu: KvmVcpuState): void;
  /**
   * After an exit QEMU handled and will run the vCPU again on (thread=single's scheduler
   * may set cpu.exitRequest here, as QEMU's round-robin kick would).
   */
  afterExit?(cpu: KvmVcpuState): void;
  /** KVM_EXIT_HLT with the userspace irqchip (kvm_handle_halt): EXCP_HLT or 0. */
  handleHalt?(cpu: KvmVcpuState): number;
  /** KVM_EXIT_DEBUG (kvm_handle_debug): EXCP_DEBUG, or 0 after re-injecting. */
  handleDebug?(cpu: KvmVcpuState): number;
  /** Reset and shutdown requests (system/runstate.c). */
  resetRequest(cause: "guest-reset"): void;
  shutdownRequest(cause: "guest-shutdown"): void;
  /**
   * One line of the exit messages, which QEMU writes with fprintf(stderr) (no program
   * prefix; the hook adds the newline).
   */
  report(text: string): void;
  /** error_report (the program prefix): failures of QEMU's own ioctls. Default: report. */
  errorReport?(text: string): void;
  /** Raw stderr text (the register dump). Default: report. */
  print?(text: string): void;
  /** cpu_dump_state(cpu, stderr, CPU_DUMP_CODE): synchronize from KVM, then the dump text. */
  dumpState?(cpu: KvmVcpuState): string;
  /**
   * kvm_arch_stop_on_emulation_error: stop the VM on an emulation failure? (x86: unless
   * the guest is in protected-mode ring 3.) Default: stop.
   */
  stopOnEmulationError?(cpu: KvmVcpuState): boolean;
}

/**
 * kvm_handle_io: `count` accesses of `size` bytes at `port` in the I/O address space, the
 * data in the kvm_run mapping at io.data_offset.
 */
export function kvmHandleIo(
  s: KVMState,
  port: number,
  data: Uint8Array,
  direction: number,
  size: number,
  count: number,
): void {
  const io = s.machine.io;
  for (let i = 0; i < count; i++) {
    const at = i * size;
    if (direction === KVM_EXIT_IO_OUT) {
      let v = 0;
      for (let k = size - 1; k >= 0; k--) v = (v << 8) | data[at + k]!;
      io.write(port, v >>> 0, size as AccessSize);
    } else {
      const v = io.read(port, size as AccessSize);
      for (let k = 0; k < size; k++) data[at + k] = (v >>> (8 * k)) & 0xff;
    }
  }
}

/** MMIO through address_space_memory, 1–8 bytes (8 as two 4-byte accesses). */
export function kvmHandleMmio(
  s: KVMState,
  gpa: number,
  data: Uint8Array,
  len: number,
  isWrite: boolean,
) {
  const mem = s.machine.memory;
  for (let off = 0; off < len; ) {
    const n = len - off >= 4 ? 4 : len - off >= 2 ? 2 : 1;
    if (isWrite) {
      let v = 0;
      for (let k = n - 1; k >= 0; k--) v = (v << 8) | data[off + k]!;
      mem.write(gpa + off, v >>> 0, n as AccessSize);
    } else {
      const v = mem.read(gpa + off, n as AccessSize);
      for (let k = 0; k < n; k++) data[off + k] = (v >>> (8 * k)) & 0xff;
    }
    off += n;
  }
}

/**
 * The first vCPU's mapping holds the VM's coalesced ring (kvm_init_vcpu:
 * s->coalesced_mmio_ring = kvm_run + coalesced_mmio * PAGE_SIZE).
 */
export function kvmNoteCoalescedRing(s: KVMState, cpu: KvmVcpuState): void {
  if (!s.coalescedIo || s.coalescedMmioRing) return;
  const off = s.coalescedMmio * PAGE_SIZE;
  if (off + PAGE_SIZE > cpu.mmapSize) return;
  const ring = s.os.view(cpu.mmapAddr + off, PAGE_SIZE);
  s.coalescedMmioRing = ring;
  s.coalescedMmioRingWords = new Int32Array(ring.buffer, ring.byteOffset, 2);
}

/**
 * The coalesced-I/O half of KVM's memory listener. glassvm enables it only when the vCPUs
 * have threads of their own (thread=multi), where an exit to QEMU is a call to another
 * thread and the main loop flushes the ring every round: with thread=single each write to
 * a coalescable port (debugcon) stays a KVM_EXIT_IO you can see in a trace, and a lone vCPU
 * spinning after its last byte could leave it in the ring.
 */
export function kvmEnableCoalescedIo(s: KVMState): void {
  s.coalescedIo = s.coalescedMmio > 0;
  memoryListenerSetCoalescedIo(
    s.coalescedMmio > 0 ? (addr, size, pio) => kvmCoalesceIoAdd(s, addr, size, pio) : null,
  );
}

/** kvm_coalesce_mmio_add / kvm_coalesce_pio_add: KVM_REGISTER_COALESCED_MMIO for a range. */
function kvmCoalesceIoAdd(s: KVMState, addr: number, size: number, pio: boolean): void {
  if (pio && !s.coalescedPio) return;
  const zone = new Uint8Array(KVM_COALESCED_MMIO_ZONE_SIZE);
  const dv = new DataView(zone.buffer);
  dv.setBigUint64(0, BigInt(addr), true);
  dv.setUint32(8, size, true);
  dv.setUint32(12, pio ? 1 : 0, true);
  kvmVmIoctl(s, KVM_REGISTER_COALESCED_MMIO, zone);
}

/**
 * kvm_flush_coalesced_mmio_buffer: replay the ring's writes in order — ports through the
 * I/O address space, MMIO through memory — and free their slots.
 */
export function kvmFlushCoalescedMmioBuffer(s: KVMState): void {
  const ring = s.coalescedMmioRing;
  const w = s.coalescedMmioRingWords;
  if (!ring || !w || s.coalescedFlushInProgress) return;
  if (Atomics.load(w, 0) === Atomics.load(w, 1)) return;
  s.coalescedFlushInProgress = true;
  try {
    const dv = new DataView(ring.buffer, ring.byteOffset, PAGE_SIZE);
    while (Atomics.load(w, 0) !== Atomics.load(w, 1)) {
      const first = Atomics.load(w, 0);
      const at = 8 + first * KVM_COALESCED_MMIO_ENTRY_SIZE;
      const addr = Number(dv.getBigUint64(at, true));
      const len = Math.min(dv.getUint32(at + 8, true), 8);
      const data = ring.slice(at + 16, at + 16 + len);
      if (dv.getUint32(at + 12, true) !== 0) kvmHandleIo(s, addr, data, KVM_EXIT_IO_OUT, len, 1);
      else kvmHandleMmio(s, addr, data, len, true);
      Atomics.store(w, 0, (first + 1) % KVM_COALESCED_MMIO_MAX);
    }
  } finally {
    s.coalescedFlushInProgress = false;
  }
}

/**
 * kvm_cpu_exec: KVM_RUN until something needs the rest of QEMU (reference §6.3). Returns
 * EXCP_INTERRUPT, EXCP_HLT, EXCP_DEBUG, or -1 after a failure (the caller stops the VM).
 */
export function kvmCpuExec(s: KVMState, cpu: KvmVcpuState, hooks: KvmCpuExecHooks): number {
  traceEvent("kvm_cpu_exec", {});
  const run = cpu.kvmRun;
  let ret = 0;
  while (ret === 0) {
    if (cpu.vcpuDirty && hooks.putRegisters) {
      const r = hooks.putRegisters(cpu);
      if (r < 0) {
        (hooks.errorReport ?? hooks.report)(`Failed to put registers after init: ${strerror(r)}`);
        return -1;
      }
      cpu.vcpuDirty = false;
    }
    hooks.preRun?.(cpu);
    if (cpu.exitRequest) {
      traceEvent("kvm_interrupt_exit_request", {});
      run.immediateExit = 1;
    }
    const r = kvmVcpuIoctl(s, cpu, KVM_RUN, 0);
    run.immediateExit = 0;
    // What the guest wrote to coalesced zones reaches the devices before this exit.
    kvmFlushCoalescedMmioBuffer(s);
    hooks.postRun?.(cpu);
    if (r < 0) {
      if (r === -EINTR || r === -EAGAIN) {
        traceEvent("kvm_io_window_exit", {});
        cpu.exitRequest = false;
        ret = EXCP_INTERRUPT;
        break;
      }
      hooks.report(`error: kvm run failed ${strerror(r)}`);
      ret = -1;
      break;
    }
    const reason = run.exitReason;
    traceEvent("kvm_run_exit", { cpu_index: cpu.cpuIndex, reason });
    switch (reason) {
      case KVM_EXIT_IO:
        kvmHandleIo(s, run.ioPort, run.ioData(), run.ioDirection, run.ioSize, run.ioCount);
        ret = 0;
        break;
      case KVM_EXIT_MMIO:
        kvmHandleMmio(
          s,
          Number(run.mmioPhysAddr),
          run.mmioData,
          run.mmioLen,
          run.mmioIsWrite !== 0,
        );
        ret = 0;
        break;
      case KVM_EXIT_IRQ_WINDOW_OPEN:
        ret = EXCP_INTERRUPT;
        break;
      case KVM_EXIT_SHUTDOWN:
        hooks.resetRequest("guest-reset");
        ret = EXCP_INTERRUPT;
        break;
      case KVM_EXIT_UNKNOWN:
        hooks.report(`KVM: unknown exit, hardware reason ${run.hwHardwareExitReason.toString(16)}`);
        ret = -1;
        break;
      case KVM_EXIT_INTERNAL_ERROR:
        ret = kvmHandleInternalError(cpu, hooks);
        break;
      case KVM_EXIT_SYSTEM_EVENT: {
        const type = run.systemEventType;
        traceEvent("kvm_run_exit_system_event", { cpu_index: cpu.cpuIndex, event_type: type });
        if (type === KVM_SYSTEM_EVENT_SHUTDOWN) {
          hooks.shutdownRequest("guest-shutdown");
          ret = EXCP_INTERRUPT;
        } else if (type === KVM_SYSTEM_EVENT_RESET) {
          hooks.resetRequest("guest-reset");
          ret = EXCP_INTERRUPT;
        } else if (type === KVM_SYSTEM_EVENT_CRASH) {
          ret = 0;
        } else {
          ret = -1;
        }
        break;
      }
      case KVM_EXIT_HLT:
        ret = hooks.handleHalt ? hooks.handleHalt(cpu) : EXCP_HLT;
        if (ret === EXCP_HLT) cpu.halted = true;
        break;
      case KVM_EXIT_SET_TPR:
        ret = 0;
        break;
      case KVM_EXIT_FAIL_ENTRY: {
        const code = run.failEntryHardwareEntryFailureReason;
        hooks.report(`KVM: entry failed, hardware error 0x${code.toString(16)}`);
        if (code === 0x8000_0021n) {
          hooks.report(
            "\nIf you're running a guest on an Intel machine without unrestricted mode\n" +
              "support, the failure can be most likely due to the guest entering an invalid\n" +
              "state for Intel VT. For example, the guest maybe running in big real mode\n" +
              "which is not supported on less recent Intel processors.\n",
          );
        }
        ret = -1;
        break;
      }
      case KVM_EXIT_EXCEPTION:
        hooks.report(
          `KVM: exception ${run.exException} exit (error code 0x${run.exErrorCode.toString(16)})`,
        );
        ret = -1;
        break;
      case KVM_EXIT_DEBUG:
        ret = hooks.handleDebug ? hooks.handleDebug(cpu) : EXCP_DEBUG;
        break;
      default:
        hooks.report(`KVM: unknown exit reason ${reason}`);
        ret = -1;
    }
    if (ret === 0) hooks.afterExit?.(cpu);
  }
  if (ret < 0) printDump(cpu, hooks);
  return ret;
}

/** kvm_handle_internal_error: QEMU's text, the extra data; emulation failures included. */
function kvmHandleInternalError(cpu: KvmVcpuState, hooks: KvmCpuExecHooks): number {
  const run = cpu.kvmRun;
  hooks.report(`KVM internal error. Suberror: ${run.internalSuberror}`);
  for (let i = 0; i < run.internalNdata; i++) {
    hooks.report(`extra data[${i}]: 0x${run.internalData(i).toString(16).padStart(16, "0")}`);
  }
  if (run.internalSuberror === KVM_INTERNAL_ERROR_EMULATION) {
    hooks.report("emulation failure");
    if (hooks.stopOnEmulationError && !hooks.stopOnEmulationError(cpu)) {
      printDump(cpu, hooks);
      return EXCP_INTERRUPT;
    }
  }
  return -1;
}

/** cpu_dump_state(cpu, stderr, CPU_DUMP_CODE), when the hooks can dump. */
function printDump(cpu: KvmVcpuState, hooks: KvmCpuExecHooks): void {
  if (!hooks.dumpState) return;
  const text = hooks.dumpState(cpu);
  if (hooks.print) hooks.print(text);
  else hooks.report(text.replace(/\n$/, ""));
}
