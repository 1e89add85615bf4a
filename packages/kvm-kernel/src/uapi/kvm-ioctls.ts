/**
 * One typed wrapper per KVM ioctl over HostOs, in the shape of rust-vmm's kvm-ioctls:
 * `Kvm` (the /dev/kvm fd), `VmFd`, `VcpuFd`. Each method is named after its ioctl
 * (KVM_SET_USER_MEMORY_REGION → setUserMemoryRegion), builds the argument bytes with the
 * uapi codecs, and turns a negative return into a KvmError carrying errno and ioctl name.
 * Code that wants the raw bytes calls HostOs.ioctl directly; both paths reach the same
 * kernel code.
 */
import { EINTR, errnoName, strerror } from "./errno.js";
import type { HostOs } from "./hostos.js";
import { O_CLOEXEC, O_RDWR } from "./hostos.js";
import {
  KVM_CHECK_EXTENSION,
  KVM_CREATE_IRQCHIP,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_ENABLE_CAP,
  KVM_EXIT_DEBUG,
  KVM_EXIT_FAIL_ENTRY,
  KVM_EXIT_HLT,
  KVM_EXIT_INTERNAL_ERROR,
  KVM_EXIT_IO,
  KVM_EXIT_IO_IN,
  KVM_EXIT_IRQ_WINDOW_OPEN,
  KVM_EXIT_MMIO,
  KVM_EXIT_SHUTDOWN,
  KVM_EXIT_SYSTEM_EVENT,
  KVM_EXIT_UNKNOWN,
  KVM_GET_API_VERSION,
  KVM_GET_CPUID2,
  KVM_GET_DEBUGREGS,
  KVM_GET_DIRTY_LOG,
  KVM_GET_EMULATED_CPUID,
  KVM_GET_FPU,
  KVM_GET_IRQCHIP,
  KVM_GET_LAPIC,
  KVM_GET_MP_STATE,
  KVM_GET_MSR_FEATURE_INDEX_LIST,
  KVM_GET_MSR_INDEX_LIST,
  KVM_GET_MSRS,
  KVM_GET_REGS,
  KVM_GET_SREGS,
  KVM_GET_SUPPORTED_CPUID,
  KVM_GET_TSC_KHZ,
  KVM_GET_VCPU_EVENTS,
  KVM_GET_VCPU_MMAP_SIZE,
  KVM_INTERRUPT,
  KVM_IRQ_LINE,
  KVM_IRQ_LINE_STATUS,
  KVM_MAX_CPUID_ENTRIES,
  KVM_NMI,
  KVM_RUN,
  KVM_SET_BOOT_CPU_ID,
  KVM_SET_CPUID2,
  KVM_SET_DEBUGREGS,
  KVM_SET_FPU,
  KVM_SET_GUEST_DEBUG,
  KVM_SET_IDENTITY_MAP_ADDR,
  KVM_SET_IRQCHIP,
  KVM_SET_LAPIC,
  KVM_SET_MP_STATE,
  KVM_SET_MSRS,
  KVM_SET_REGS,
  KVM_SET_SIGNAL_MASK,
  KVM_SET_SREGS,
  KVM_SET_TSS_ADDR,
  KVM_SET_USER_MEMORY_REGION,
  KVM_SET_VCPU_EVENTS,
  kvmIoctlName,
  PAGE_SIZE,
} from "./kvm.js";
import { KvmRun } from "./kvm_run.js";
import {
  decodeKvmCpuid2,
  decodeKvmDebugregs,
  decodeKvmFpu,
  decodeKvmIrqchip,
  decodeKvmMpState,
  decodeKvmMsrList,
  decodeKvmMsrs,
  decodeKvmRegs,
  decodeKvmSregs,
  decodeKvmVcpuEvents,
  encodeKvmCpuid2,
  encodeKvmDebugregs,
  encodeKvmDirtyLog,
  encodeKvmEnableCap,
  encodeKvmFpu,
  encodeKvmGuestDebug,
  encodeKvmInterrupt,
  encodeKvmIrqchip,
  encodeKvmIrqLevel,
  encodeKvmMpState,
  encodeKvmMsrList,
  encodeKvmMsrs,
  encodeKvmRegs,
  encodeKvmSregs,
  encodeKvmUserspaceMemoryRegion,
  encodeKvmVcpuEvents,
  KVM_DEBUGREGS_SIZE,
  KVM_FPU_SIZE,
  KVM_LAPIC_STATE_SIZE,
  KVM_MP_STATE_SIZE,
  KVM_REGS_SIZE,
  KVM_SREGS_SIZE,
  KVM_VCPU_EVENTS_SIZE,
  type KvmCpuidEntry2,
  type KvmDebugregs,
  type KvmFpu,
  type KvmIrqchip,
  type KvmMsrEntry,
  type KvmRegs,
  type KvmSregs,
  type KvmUserspaceMemoryRegion,
  type KvmVcpuEvents,
} from "./structs.js";

/** The failure of one system call: which one, and the errno the kernel returned. */
export class KvmError extends Error {
  override readonly name = "KvmError";
  /** The errno's symbolic name ("EINVAL", "EEXIST" …). */
  readonly code: string;

  constructor(
    /** Positive errno. */
    readonly errno: number,
    /** The ioctl's name ("KVM_CREATE_VCPU") or the system call ("open", "mmap"). */
    readonly ioctl: string,
  ) {
    super(`${ioctl}: ${strerror(errno)} (${errnoName(errno)})`);
    this.code = errnoName(errno);
  }
}

function check(r: number, what: string): number {
  if (r < 0) throw new KvmError(-r, what);
  return r;
}

function ioctl(os: HostOs, fd: number, request: number, arg: number | bigint | Uint8Array = 0) {
  return check(os.ioctl(fd, request, arg), kvmIoctlName(request));
}

/** The /dev/kvm fd (kvm_ioctls::Kvm). */
export class Kvm {
  private constructor(
    readonly os: HostOs,
    readonly fd: number,
  ) {}

  /** open("/dev/kvm", O_RDWR | O_CLOEXEC). */
  static open(os: HostOs, path = "/dev/kvm"): Kvm {
    return new Kvm(os, check(os.open(path, O_RDWR | O_CLOEXEC), "open"));
  }

  /** KVM_GET_API_VERSION (12). */
  getApiVersion(): number {
    return ioctl(this.os, this.fd, KVM_GET_API_VERSION);
  }

  /** KVM_CHECK_EXTENSION on the system fd: 0 = absent, else the capability's value. */
  checkExtension(cap: number): number {
    return ioctl(this.os, this.fd, KVM_CHECK_EXTENSION, cap);
  }

  /** KVM_GET_VCPU_MMAP_SIZE. */
  getVcpuMmapSize(): number {
    return ioctl(this.os, this.fd, KVM_GET_VCPU_MMAP_SIZE);
  }

  /** KVM_GET_SUPPORTED_CPUID with room for `max` entries. */
  getSupportedCpuid(max = KVM_MAX_CPUID_ENTRIES): KvmCpuidEntry2[] {
    const buf = encodeKvmCpuid2([], max);
    ioctl(this.os, this.fd, KVM_GET_SUPPORTED_CPUID, buf);
    return decodeKvmCpuid2(buf);
  }

  /** KVM_GET_EMULATED_CPUID. */
  getEmulatedCpuid(max = KVM_MAX_CPUID_ENTRIES): KvmCpuidEntry2[] {
    const buf = encodeKvmCpuid2([], max);
    ioctl(this.os, this.fd, KVM_GET_EMULATED_CPUID, buf);
    return decodeKvmCpuid2(buf);
  }

  /** KVM_GET_MSR_INDEX_LIST (asks for the size first, as QEMU does). */
  getMsrIndexList(): number[] {
    return this.msrList(KVM_GET_MSR_INDEX_LIST);
  }

  /** KVM_GET_MSR_FEATURE_INDEX_LIST. */
  getMsrFeatureIndexList(): number[] {
    return this.msrList(KVM_GET_MSR_FEATURE_INDEX_LIST);
  }

  private msrList(request: number): number[] {
    const probe = encodeKvmMsrList(0);
    const r = this.os.ioctl(this.fd, request, probe);
    if (r < 0 && r !== -7) check(r, kvmIoctlName(request));
    const buf = encodeKvmMsrList(new DataView(probe.buffer).getUint32(0, true));
    ioctl(this.os, this.fd, request, buf);
    return decodeKvmMsrList(buf);
  }

  /** KVM_GET_MSRS on the system fd: feature MSRs. Returns the entries read. */
  getMsrs(indices: readonly number[]): KvmMsrEntry[] {
    const buf = encodeKvmMsrs(indices.map((index) => ({ index, data: 0n })));
    const n = ioctl(this.os, this.fd, KVM_GET_MSRS, buf);
    return decodeKvmMsrs(buf).slice(0, n);
  }

  /** KVM_CREATE_VM. */
  createVm(type = 0): VmFd {
    return new VmFd(this.os, ioctl(this.os, this.fd, KVM_CREATE_VM, type), this);
  }

  close(): void {
    check(this.os.close(this.fd), "close");
  }
}

/** A VM fd (kvm_ioctls::VmFd). */
export class VmFd {
  constructor(
    readonly os: HostOs,
    readonly fd: number,
    readonly kvm: Kvm,
  ) {}

  /** KVM_CHECK_EXTENSION on the VM fd. */
  checkExtension(cap: number): number {
    return ioctl(this.os, this.fd, KVM_CHECK_EXTENSION, cap);
  }

  /** KVM_SET_USER_MEMORY_REGION (memorySize 0 deletes the slot). */
  setUserMemoryRegion(region: KvmUserspaceMemoryRegion): void {
    ioctl(this.os, this.fd, KVM_SET_USER_MEMORY_REGION, encodeKvmUserspaceMemoryRegion(region));
  }

  /** KVM_SET_TSS_ADDR. */
  setTssAddress(addr: number): void {
    ioctl(this.os, this.fd, KVM_SET_TSS_ADDR, addr);
  }

  /** KVM_SET_IDENTITY_MAP_ADDR. */
  setIdentityMapAddress(addr: bigint): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, addr, true);
    ioctl(this.os, this.fd, KVM_SET_IDENTITY_MAP_ADDR, b);
  }

  /** KVM_SET_BOOT_CPU_ID. */
  setBootCpuId(id: number): void {
    ioctl(this.os, this.fd, KVM_SET_BOOT_CPU_ID, id);
  }

  /** KVM_ENABLE_CAP on the VM fd. */
  enableCap(cap: number, args: readonly bigint[] = []): void {
    const a = [0n, 0n, 0n, 0n].map((z, i) => args[i] ?? z);
    ioctl(this.os, this.fd, KVM_ENABLE_CAP, encodeKvmEnableCap({ cap, flags: 0, args: a }));
  }

  /**
   * KVM_GET_DIRTY_LOG for a slot of `memorySize` bytes: the bitmap, one bit per page (the
   * kernel writes it to process memory, as the struct holds a pointer).
   */
  getDirtyLog(slot: number, memorySize: number): Uint8Array {
    const bytes = Math.ceil(memorySize / PAGE_SIZE / 64) * 8;
    const addr = check(this.os.mmap(-1, Math.max(bytes, 1)), "mmap");
    try {
      ioctl(
        this.os,
        this.fd,
        KVM_GET_DIRTY_LOG,
        encodeKvmDirtyLog({ slot, dirtyBitmap: BigInt(addr) }),
      );
      return this.os.view(addr, bytes).slice();
    } finally {
      this.os.munmap(addr, Math.max(bytes, 1));
    }
  }

  /** KVM_CREATE_IRQCHIP: the PIC pair and the I/O APIC; later vCPUs get a local APIC. */
  createIrqchip(): void {
    ioctl(this.os, this.fd, KVM_CREATE_IRQCHIP);
  }

  /** KVM_IRQ_LINE: drive GSI `gsi` to `level` (1 assert, 0 deassert). */
  irqLine(gsi: number, level: number): void {
    ioctl(this.os, this.fd, KVM_IRQ_LINE, encodeKvmIrqLevel({ irq: gsi, level }));
  }

  /**
   * KVM_IRQ_LINE_STATUS: like irqLine, returning the status the kernel writes back
   * (> 0 delivered, 0 coalesced, -1 masked or unrouted).
   */
  irqLineStatus(gsi: number, level: number): number {
    const b = encodeKvmIrqLevel({ irq: gsi, level });
    ioctl(this.os, this.fd, KVM_IRQ_LINE_STATUS, b);
    return new DataView(b.buffer).getInt32(0, true);
  }

  /** KVM_GET_IRQCHIP for chip `chipId` (KVM_IRQCHIP_PIC_MASTER / _SLAVE / _IOAPIC). */
  getIrqchip(chipId: number): KvmIrqchip {
    const b = encodeKvmIrqchip({ chipId });
    ioctl(this.os, this.fd, KVM_GET_IRQCHIP, b);
    return decodeKvmIrqchip(b);
  }

  /** KVM_SET_IRQCHIP. */
  setIrqchip(chip: KvmIrqchip): void {
    ioctl(this.os, this.fd, KVM_SET_IRQCHIP, encodeKvmIrqchip(chip));
  }

  /** KVM_CREATE_VCPU, then mmap of its kvm_run area. */
  createVcpu(id: number): VcpuFd {
    const fd = ioctl(this.os, this.fd, KVM_CREATE_VCPU, id);
    const size = this.kvm.getVcpuMmapSize();
    const addr = this.os.mmap(fd, size, 0);
    if (addr < 0) {
      this.os.close(fd);
      check(addr, "mmap");
    }
    return new VcpuFd(this.os, fd, id, this.os.view(addr, size));
  }

  close(): void {
    check(this.os.close(this.fd), "close");
  }
}

/** Why KVM_RUN returned, over views of the kvm_run page (kvm_ioctls::VcpuExit). */
export type VcpuExit =
  /** IN: write `data` (count × size bytes, a view of the PIO page) before the next run. */
  | {
      readonly reason: "IoIn";
      readonly port: number;
      readonly size: number;
      readonly data: Uint8Array;
    }
  /** OUT: `data` is what the guest wrote (a view of the PIO page). */
  | {
      readonly reason: "IoOut";
      readonly port: number;
      readonly size: number;
      readonly data: Uint8Array;
    }
  /** MMIO read: fill `data` (a view of kvm_run.mmio.data) before the next run. */
  | { readonly reason: "MmioRead"; readonly addr: bigint; readonly data: Uint8Array }
  | { readonly reason: "MmioWrite"; readonly addr: bigint; readonly data: Uint8Array }
  | { readonly reason: "Hlt" }
  | { readonly reason: "Shutdown" }
  | { readonly reason: "IrqWindowOpen" }
  | {
      readonly reason: "Debug";
      readonly exception: number;
      readonly pc: bigint;
      readonly dr6: bigint;
      readonly dr7: bigint;
    }
  | {
      readonly reason: "FailEntry";
      readonly hardwareEntryFailureReason: bigint;
      readonly cpu: number;
    }
  | {
      readonly reason: "InternalError";
      readonly suberror: number;
      readonly data: readonly bigint[];
    }
  | { readonly reason: "SystemEvent"; readonly type: number; readonly data: readonly bigint[] }
  | { readonly reason: "Unknown"; readonly hardwareExitReason: bigint }
  /** An exit reason this wrapper does not decode (kvm_run.exit_reason). */
  | { readonly reason: "Unsupported"; readonly exitReason: number };

/** A vCPU fd with its mapped kvm_run (kvm_ioctls::VcpuFd). */
export class VcpuFd {
  /** The kvm_run page: the mapping itself, shared with the kernel. */
  readonly kvmRun: KvmRun;

  constructor(
    readonly os: HostOs,
    readonly fd: number,
    readonly id: number,
    /** The whole mmap'd area (kvm_run, PIO page, coalesced-MMIO ring). */
    readonly mapping: Uint8Array,
  ) {
    this.kvmRun = new KvmRun(mapping);
  }

  /** KVM_RUN. EINTR (a signal, immediate_exit) is thrown as KvmError like any errno. */
  run(): VcpuExit {
    ioctl(this.os, this.fd, KVM_RUN);
    return this.exit();
  }

  /** Decode kvm_run's current exit without running. */
  exit(): VcpuExit {
    const run = this.kvmRun;
    switch (run.exitReason) {
      case KVM_EXIT_IO: {
        const data = run.ioData();
        const io = { port: run.ioPort, size: run.ioSize, data };
        return run.ioDirection === KVM_EXIT_IO_IN
          ? { reason: "IoIn", ...io }
          : { reason: "IoOut", ...io };
      }
      case KVM_EXIT_MMIO: {
        const data = run.mmioData.subarray(0, run.mmioLen);
        return run.mmioIsWrite
          ? { reason: "MmioWrite", addr: run.mmioPhysAddr, data }
          : { reason: "MmioRead", addr: run.mmioPhysAddr, data };
      }
      case KVM_EXIT_HLT:
        return { reason: "Hlt" };
      case KVM_EXIT_SHUTDOWN:
        return { reason: "Shutdown" };
      case KVM_EXIT_IRQ_WINDOW_OPEN:
        return { reason: "IrqWindowOpen" };
      case KVM_EXIT_DEBUG:
        return {
          reason: "Debug",
          exception: run.debugException,
          pc: run.debugPc,
          dr6: run.debugDr6,
          dr7: run.debugDr7,
        };
      case KVM_EXIT_FAIL_ENTRY:
        return {
          reason: "FailEntry",
          hardwareEntryFailureReason: run.failEntryHardwareEntryFailureReason,
          cpu: run.failEntryCpu,
        };
      case KVM_EXIT_INTERNAL_ERROR: {
        const data: bigint[] = [];
        for (let i = 0; i < Math.min(run.internalNdata, 16); i++) data.push(run.internalData(i));
        return { reason: "InternalError", suberror: run.internalSuberror, data };
      }
      case KVM_EXIT_SYSTEM_EVENT: {
        const data: bigint[] = [];
        for (let i = 0; i < Math.min(run.systemEventNdata, 16); i++)
          data.push(run.systemEventData(i));
        return { reason: "SystemEvent", type: run.systemEventType, data };
      }
      case KVM_EXIT_UNKNOWN:
        return { reason: "Unknown", hardwareExitReason: run.hwHardwareExitReason };
      default:
        return { reason: "Unsupported", exitReason: run.exitReason };
    }
  }

  /** kvm_run.immediate_exit: make the next KVM_RUN return EINTR after completing I/O. */
  setImmediateExit(on: boolean): void {
    this.kvmRun.immediateExit = on ? 1 : 0;
  }

  getRegs(): KvmRegs {
    const b = new Uint8Array(KVM_REGS_SIZE);
    ioctl(this.os, this.fd, KVM_GET_REGS, b);
    return decodeKvmRegs(b);
  }

  setRegs(regs: KvmRegs): void {
    ioctl(this.os, this.fd, KVM_SET_REGS, encodeKvmRegs(regs));
  }

  getSregs(): KvmSregs {
    const b = new Uint8Array(KVM_SREGS_SIZE);
    ioctl(this.os, this.fd, KVM_GET_SREGS, b);
    return decodeKvmSregs(b);
  }

  setSregs(sregs: KvmSregs): void {
    ioctl(this.os, this.fd, KVM_SET_SREGS, encodeKvmSregs(sregs));
  }

  getFpu(): KvmFpu {
    const b = new Uint8Array(KVM_FPU_SIZE);
    ioctl(this.os, this.fd, KVM_GET_FPU, b);
    return decodeKvmFpu(b);
  }

  setFpu(fpu: KvmFpu): void {
    ioctl(this.os, this.fd, KVM_SET_FPU, encodeKvmFpu(fpu));
  }

  /** KVM_GET_MSRS: the entries read, in order (fewer than asked when one is refused). */
  getMsrs(indices: readonly number[]): KvmMsrEntry[] {
    const buf = encodeKvmMsrs(indices.map((index) => ({ index, data: 0n })));
    const n = ioctl(this.os, this.fd, KVM_GET_MSRS, buf);
    return decodeKvmMsrs(buf).slice(0, n);
  }

  /** KVM_SET_MSRS: how many were written (stops at the first refused). */
  setMsrs(entries: readonly KvmMsrEntry[]): number {
    return ioctl(this.os, this.fd, KVM_SET_MSRS, encodeKvmMsrs(entries));
  }

  setCpuid2(entries: readonly KvmCpuidEntry2[]): void {
    ioctl(this.os, this.fd, KVM_SET_CPUID2, encodeKvmCpuid2(entries));
  }

  getCpuid2(max = KVM_MAX_CPUID_ENTRIES): KvmCpuidEntry2[] {
    const buf = encodeKvmCpuid2([], max);
    ioctl(this.os, this.fd, KVM_GET_CPUID2, buf);
    return decodeKvmCpuid2(buf);
  }

  /** KVM_INTERRUPT: queue external interrupt `vector` (no in-kernel PIC: else ENXIO). */
  interrupt(vector: number): void {
    ioctl(this.os, this.fd, KVM_INTERRUPT, encodeKvmInterrupt(vector));
  }

  /** KVM_NMI. */
  nmi(): void {
    ioctl(this.os, this.fd, KVM_NMI);
  }

  getVcpuEvents(): KvmVcpuEvents {
    const b = new Uint8Array(KVM_VCPU_EVENTS_SIZE);
    ioctl(this.os, this.fd, KVM_GET_VCPU_EVENTS, b);
    return decodeKvmVcpuEvents(b);
  }

  setVcpuEvents(events: KvmVcpuEvents): void {
    ioctl(this.os, this.fd, KVM_SET_VCPU_EVENTS, encodeKvmVcpuEvents(events));
  }

  /** KVM_GET_LAPIC: the local APIC's register page image (struct kvm_lapic_state, 1 KiB). */
  getLapic(): Uint8Array {
    const b = new Uint8Array(KVM_LAPIC_STATE_SIZE);
    ioctl(this.os, this.fd, KVM_GET_LAPIC, b);
    return b;
  }

  /** KVM_SET_LAPIC. */
  setLapic(regs: Uint8Array): void {
    const b = new Uint8Array(KVM_LAPIC_STATE_SIZE);
    b.set(regs.subarray(0, KVM_LAPIC_STATE_SIZE));
    ioctl(this.os, this.fd, KVM_SET_LAPIC, b);
  }

  getMpState(): number {
    const b = new Uint8Array(KVM_MP_STATE_SIZE);
    ioctl(this.os, this.fd, KVM_GET_MP_STATE, b);
    return decodeKvmMpState(b);
  }

  setMpState(state: number): void {
    ioctl(this.os, this.fd, KVM_SET_MP_STATE, encodeKvmMpState(state));
  }

  /** KVM_SET_GUEST_DEBUG (KVM_GUESTDBG_* control, DR0–DR7 for hardware breakpoints). */
  setGuestDebug(control: number, debugreg: readonly bigint[] = []): void {
    const regs = Array.from({ length: 8 }, (_, i) => debugreg[i] ?? 0n);
    ioctl(this.os, this.fd, KVM_SET_GUEST_DEBUG, encodeKvmGuestDebug({ control, debugreg: regs }));
  }

  getDebugregs(): KvmDebugregs {
    const b = new Uint8Array(KVM_DEBUGREGS_SIZE);
    ioctl(this.os, this.fd, KVM_GET_DEBUGREGS, b);
    return decodeKvmDebugregs(b);
  }

  setDebugregs(regs: KvmDebugregs): void {
    ioctl(this.os, this.fd, KVM_SET_DEBUGREGS, encodeKvmDebugregs(regs));
  }

  /** KVM_SET_SIGNAL_MASK: signals blocked while in the guest (null = none). */
  setSignalMask(signals: readonly number[] | null): void {
    if (signals === null) {
      ioctl(this.os, this.fd, KVM_SET_SIGNAL_MASK, 0);
      return;
    }
    const b = new Uint8Array(12);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, 8, true);
    let lo = 0;
    for (const s of signals) lo |= 1 << (s - 1);
    dv.setUint32(4, lo >>> 0, true);
    ioctl(this.os, this.fd, KVM_SET_SIGNAL_MASK, b);
  }

  /** KVM_GET_TSC_KHZ. */
  getTscKhz(): number {
    return ioctl(this.os, this.fd, KVM_GET_TSC_KHZ);
  }

  close(): void {
    check(this.os.close(this.fd), "close");
  }
}

/** True when a KVM_RUN failure is the EINTR of a signal or immediate_exit. */
export const isEintr = (e: unknown): boolean => e instanceof KvmError && e.errno === EINTR;
