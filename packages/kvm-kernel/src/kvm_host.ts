/**
 * KVM's objects (include/linux/kvm_host.h, arch/x86/include/asm/kvm_host.h): struct kvm,
 * struct kvm_vcpu with its x86 part, memslots and statistics.
 */

import type { KvmPit } from "./i8254.js";
import type { KvmPic } from "./i8259.js";
import type { KvmIoapic } from "./ioapic.js";
import type { KvmIrqRoutingTable } from "./irq_comm.js";
import type { HostKernel, HostProcess } from "./kernel.js";
import type { KvmVendorModule, KvmX86Ops } from "./kvm-x86-ops.js";
import type { KvmLapic } from "./lapic.js";
import { PAGE_SIZE } from "./uapi/kvm.js";
import { KvmRun } from "./uapi/kvm_run.js";
import type { KvmCpuidEntry2 } from "./uapi/structs.js";
import { TASK_BELL_WORD, TASK_SIGNALS_WORD } from "./uapi/thread.js";

/** enum kvm_reg: general registers in hardware encoding order, then RIP. */
export const VCPU_REGS_RAX = 0;
export const VCPU_REGS_RCX = 1;
export const VCPU_REGS_RDX = 2;
export const VCPU_REGS_RBX = 3;
export const VCPU_REGS_RSP = 4;
export const VCPU_REGS_RBP = 5;
export const VCPU_REGS_RSI = 6;
export const VCPU_REGS_RDI = 7;
export const VCPU_REGS_R8 = 8;
export const VCPU_REGS_R15 = 15;
export const VCPU_REGS_RIP = 16;
export const NR_VCPU_REGS = 17;
/** Registers cached lazily beside the GPRs (enum kvm_reg continued). */
export const VCPU_EXREG_PDPTR = 17;
export const VCPU_EXREG_CR0 = 18;
export const VCPU_EXREG_CR3 = 19;
export const VCPU_EXREG_CR4 = 20;
export const VCPU_EXREG_RFLAGS = 21;
export const VCPU_EXREG_SEGMENTS = 22;
export const VCPU_EXREG_EXIT_INFO_1 = 23;
export const VCPU_EXREG_EXIT_INFO_2 = 24;

/** enum kvm_reg's segment numbering (VCPU_SREG_*), the hardware's order. */
export const VCPU_SREG_ES = 0;
export const VCPU_SREG_CS = 1;
export const VCPU_SREG_SS = 2;
export const VCPU_SREG_DS = 3;
export const VCPU_SREG_FS = 4;
export const VCPU_SREG_GS = 5;
export const VCPU_SREG_TR = 6;
export const VCPU_SREG_LDTR = 7;

/** vCPU requests (kvm_make_request): bits in vcpu.requests. */
export const KVM_REQ_TLB_FLUSH = 1 << 0;
export const KVM_REQ_MMU_RELOAD = 1 << 1;
export const KVM_REQ_EVENT = 1 << 2;
export const KVM_REQ_TRIPLE_FAULT = 1 << 3;
export const KVM_REQ_NMI = 1 << 4;
export const KVM_REQ_TLB_FLUSH_GUEST = 1 << 5;

// ── the state other threads may touch (vCPUs in workers) ──

/**
 * Word indices in KvmVcpuShared.words (page 1 of the shared buffer): everything a thread
 * that does not own the vCPU may read or change when it delivers an interrupt, each an
 * Int32 changed with Atomics (Linux: vcpu->requests, apic->pending_events, nmi_queued …).
 */
/** vcpu->requests: KVM_REQ_* bits (Atomics.or to set, Atomics.and to clear). */
export const VCPU_SHARED_REQUESTS = 0;
/**
 * A futex sequence counter: kvmVcpuKick bumps it and notifies, a blocked vCPU waits on it.
 * It is also the doorbell of the thread that runs the vCPU (uapi/thread.ts).
 */
export const VCPU_SHARED_WAKE = TASK_BELL_WORD;
/** apic->pending_events: KVM_APIC_INIT (bit 0) and KVM_APIC_SIPI (bit 1). */
export const VCPU_SHARED_APIC_EVENTS = 2;
/** apic->sipi_vector, stored before KVM_APIC_SIPI is set. */
export const VCPU_SHARED_SIPI_VECTOR = 3;
/** vcpu->arch.nmi_queued: NMIs sent but not yet taken into nmi_pending by process_nmi. */
export const VCPU_SHARED_NMI_QUEUED = 4;
/** IA32_APIC_BASE bits 31:0 (EN, EXTD, BSP, base 31:12) and 63:32. */
export const VCPU_SHARED_APIC_BASE_LO = 5;
export const VCPU_SHARED_APIC_BASE_HI = 6;
/** vcpu->arch.mp_state (KVM_MP_STATE_*). */
export const VCPU_SHARED_MP_STATE = 7;
/** The owning thread's pending signal bits (tgkill sets them: kernel.ts, threads.ts). */
export const VCPU_SHARED_SIGNALS = TASK_SIGNALS_WORD;
/** vcpu->arch.apic_arb_prio, the lowest-priority arbitration counter. */
export const VCPU_SHARED_ARB_PRIO = 9;
/** Words in use are below this; the rest of page 1 is free for more. */
export const VCPU_SHARED_NR_WORDS = 64;
/** Page 0: the LAPIC register page; page 1: the words above. */
export const KVM_VCPU_SHARED_BYTES = 2 * PAGE_SIZE;

/** The register page and the Int32 views over it assume a little-endian host (x86, arm64, wasm). */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The part of a vCPU that lives in shared memory: the LAPIC register page (Linux's
 * apic->regs page) and the words other threads set with atomics. One buffer per vCPU; the
 * thread that owns the vCPU and every thread holding a remote stub of it
 * (kvmCreateRemoteVcpu) view the same buffer. A SharedArrayBuffer where the platform has
 * one (else an ArrayBuffer: one thread only).
 */
export class KvmVcpuShared {
  readonly buffer: SharedArrayBuffer | ArrayBuffer;
  /** Page 0: the LAPIC registers, little-endian as on x86 (kvm_lapic.regs). */
  readonly apicRegs: Uint8Array;
  /** Page 1 as Int32 words, indexed by VCPU_SHARED_*. */
  readonly words: Int32Array;

  constructor(
    buffer: SharedArrayBuffer | ArrayBuffer = typeof SharedArrayBuffer === "function"
      ? new SharedArrayBuffer(KVM_VCPU_SHARED_BYTES)
      : new ArrayBuffer(KVM_VCPU_SHARED_BYTES),
  ) {
    if (buffer.byteLength < KVM_VCPU_SHARED_BYTES) {
      throw new RangeError(
        `KvmVcpuShared: ${buffer.byteLength}-byte buffer < ${KVM_VCPU_SHARED_BYTES}`,
      );
    }
    if (!HOST_LITTLE_ENDIAN) throw new RangeError("KvmVcpuShared: a big-endian host");
    this.buffer = buffer;
    this.apicRegs = new Uint8Array(buffer, 0, PAGE_SIZE);
    this.words = new Int32Array(buffer, PAGE_SIZE, PAGE_SIZE / 4);
  }
}

/**
 * kvm_vcpu_kick: wake the vCPU if it sleeps in kvmVcpuBlock (on any thread). Bumps the
 * WAKE sequence and notifies its waiters; cheap when nobody waits.
 */
export function kvmVcpuKick(vcpu: KvmVcpu): void {
  const w = vcpu.shared.words;
  Atomics.add(w, VCPU_SHARED_WAKE, 1);
  Atomics.notify(w, VCPU_SHARED_WAKE);
}

/** KVM_USER_MEM_SLOTS on x86 (SHRT_MAX minus the private slots). */
export const KVM_USER_MEM_SLOTS = 32764;
/** x86 address spaces: 0 = normal, 1 = SMM. */
export const KVM_ADDRESS_SPACE_NUM = 2;
/** KVM_MAX_VCPUS / KVM_MAX_VCPU_IDS on current x86. */
export const KVM_MAX_VCPUS = 1024;
export const KVM_MAX_VCPU_IDS = 4096;
/** What KVM_CAP_NR_VCPUS recommends: min(online host CPUs, KVM_MAX_VCPUS). */
export const KVM_SOFT_MAX_VCPUS = 1024;
/** The largest guest-physical address width the model accepts (52-bit MAXPHYADDR). */
export const KVM_MAX_GPA_BITS = 52;

/** struct kvm_memory_slot. The pages are the VMM's own process memory, not a copy. */
export interface KvmMemorySlot {
  /** Slot id (bits 15:0 of kvm_userspace_memory_region.slot). */
  readonly id: number;
  /** Address space (bits 31:16): 0 normal, 1 SMM. */
  readonly asId: number;
  readonly baseGfn: number;
  readonly npages: number;
  readonly userspaceAddr: number;
  readonly flags: number;
  /** The backing process memory, `npages * 4096` bytes. */
  readonly bytes: Uint8Array;
  /** One bit per page while KVM_MEM_LOG_DIRTY_PAGES is set (bit n of byte n >> 3). */
  dirtyBitmap: Uint8Array | null;
}

/** struct kvm_memslots: one address space's slots, sorted by base gfn. */
export interface KvmMemslots {
  generation: number;
  slots: KvmMemorySlot[];
}

/** struct kvm_vm_stat. */
export interface KvmVmStat {
  remote_tlb_flush: number;
  remote_tlb_flush_requests: number;
  mmu_shadow_zapped: number;
  memslot_updates: number;
  dirty_log_reads: number;
}

/** struct kvm_vcpu_stat (the x86 and generic counters the model keeps). */
export interface KvmVcpuStat {
  exits: number;
  io_exits: number;
  mmio_exits: number;
  halt_exits: number;
  irq_exits: number;
  signal_exits: number;
  request_irq_exits: number;
  irq_window_exits: number;
  nmi_window_exits: number;
  insn_emulation: number;
  insn_emulation_fail: number;
  irq_injections: number;
  nmi_injections: number;
  exception_injections: number;
  hypercalls: number;
  req_event: number;
  fpu_reload: number;
  host_state_reload: number;
  tlb_flush: number;
  pf_taken: number;
  pf_mmio_spte_created: number;
  halt_wakeup: number;
}

export const newVmStat = (): KvmVmStat => ({
  remote_tlb_flush: 0,
  remote_tlb_flush_requests: 0,
  mmu_shadow_zapped: 0,
  memslot_updates: 0,
  dirty_log_reads: 0,
});

export const newVcpuStat = (): KvmVcpuStat => ({
  exits: 0,
  io_exits: 0,
  mmio_exits: 0,
  halt_exits: 0,
  irq_exits: 0,
  signal_exits: 0,
  request_irq_exits: 0,
  irq_window_exits: 0,
  nmi_window_exits: 0,
  insn_emulation: 0,
  insn_emulation_fail: 0,
  irq_injections: 0,
  nmi_injections: 0,
  exception_injections: 0,
  hypercalls: 0,
  req_event: 0,
  fpu_reload: 0,
  host_state_reload: 0,
  tlb_flush: 0,
  pf_taken: 0,
  pf_mmio_spte_created: 0,
  halt_wakeup: 0,
});

/** struct kvm_queued_exception. */
export interface KvmQueuedException {
  pending: boolean;
  injected: boolean;
  hasErrorCode: boolean;
  vector: number;
  errorCode: number;
  hasPayload: boolean;
  payload: bigint;
}

/** A pending userspace MMIO access (struct kvm_mmio_fragment). */
export interface KvmMmioFragment {
  gpa: number;
  len: number;
  /** The bytes (write: what the guest wrote; read: what userspace returned). */
  data: Uint8Array;
}

/**
 * struct kvm_vcpu_arch: the x86 half of a vCPU that KVM itself keeps. apicBase, mpState
 * and apicArbPrio are accessors over the vCPU's shared words (other threads read them).
 */
export class KvmVcpuArch {
  /** KvmVcpuShared.words of the vCPU. */
  private readonly w: Int32Array;

  constructor(shared: KvmVcpuShared = new KvmVcpuShared()) {
    this.w = shared.words;
  }

  /** IA32_APIC_BASE (a number: bits 51:0). */
  get apicBase(): number {
    const hi = this.w[VCPU_SHARED_APIC_BASE_HI]!;
    const lo = this.w[VCPU_SHARED_APIC_BASE_LO]! >>> 0;
    return hi === 0 ? lo : (hi >>> 0) * 0x1_0000_0000 + lo;
  }
  set apicBase(v: number) {
    Atomics.store(this.w, VCPU_SHARED_APIC_BASE_HI, Math.floor(v / 0x1_0000_0000) | 0);
    Atomics.store(this.w, VCPU_SHARED_APIC_BASE_LO, v | 0);
  }
  /** KVM_MP_STATE_*. */
  get mpState(): number {
    return this.w[VCPU_SHARED_MP_STATE]!;
  }
  set mpState(v: number) {
    Atomics.store(this.w, VCPU_SHARED_MP_STATE, v);
  }
  /** Lowest-priority arbitration counter (apic_arb_prio), for kvm_apic_compare_prio. */
  get apicArbPrio(): number {
    return this.w[VCPU_SHARED_ARB_PRIO]!;
  }
  set apicArbPrio(v: number) {
    Atomics.store(this.w, VCPU_SHARED_ARB_PRIO, v);
  }

  /** GPRs and RIP (VCPU_REGS_*), valid where `regsAvail` says so. */
  readonly regs = new BigUint64Array(NR_VCPU_REGS);
  /** Bit n: register n is up to date in `regs` (else cacheReg fetches it). */
  regsAvail = 0;
  /** Bit n: register n was written by KVM and must go to the hardware before entry. */
  regsDirty = 0;
  cr0 = 0x6000_0010;
  /** CR2 and CR3 are full 64-bit values (unsigned long in Linux). */
  cr2 = 0n;
  cr3 = 0n;
  cr4 = 0;
  cr8 = 0;
  efer = 0;
  pat = 0x0007_0406_0007_0406n;
  miscEnable = 0n;
  smbase = 0x3_0000;
  tscAdjust = 0n;
  mtrrDefType = 0n;
  readonly mtrrFixed = new BigUint64Array(11);
  readonly mtrrVar = new BigUint64Array(16);
  mcgStatus = 0n;
  mcgCtl = 0n;
  /** Debug registers as KVM tracks them (guest values). */
  readonly db = new BigUint64Array(4);
  dr6 = 0xffff_0ff0n;
  dr7 = 0x400n;
  readonly exception: KvmQueuedException = {
    pending: false,
    injected: false,
    hasErrorCode: false,
    vector: 0,
    errorCode: 0,
    hasPayload: false,
    payload: 0n,
  };
  /** struct kvm_queued_interrupt. */
  readonly interrupt = { injected: false, soft: false, nr: 0 };
  nmiInjected = false;
  /**
   * NMIs to inject (nmi_pending), the owner's alone; other senders add to the shared
   * VCPU_SHARED_NMI_QUEUED, which process_nmi moves here.
   */
  nmiPending = 0;
  /** The CPUID table from KVM_SET_CPUID2 (empty until then). */
  cpuidEntries: KvmCpuidEntry2[] = [];
  /** MAXPHYADDR from CPUID 0x80000008 (36 until userspace sets CPUID). */
  maxphyaddr = 36;
  /**
   * The guest's x87/SSE state in the FXSAVE layout (512 bytes): what KVM_GET/SET_FPU
   * convert and what the vendor loads into the CPU around each run.
   */
  readonly guestFpu = new Uint8Array(512);
  /** The FPU image changed under the vendor (KVM_SET_FPU): reload it before entry. */
  guestFpuDirty = true;
  /** Work left for the next KVM_RUN after an exit to userspace (complete_userspace_io). */
  completeUserspaceIo: ((vcpu: KvmVcpu) => number) | null = null;
  /** The linear RIP of the instruction a fast PIO exit belongs to (cui_linear_rip). */
  cuiLinearRip = 0n;
  /** struct kvm_pio_request. */
  readonly pio = { count: 0, port: 0, size: 0, in: false };
  /** The last host CPU this vCPU entered the guest on (KVM_CAP_LAST_CPU); -1 = it never ran. */
  lastVmentryCpu = -1;
  /** Linear RIP where single-stepping was armed (KVM_SET_GUEST_DEBUG). */
  singlestepRip = -1n;
  /** Host-initiated TSC offset, for vendors that model one. */
  tscOffset = 0n;
  /** The in-kernel local APIC (vcpu->arch.apic), present when the VM has an irqchip. */
  apic: KvmLapic | null = null;
}

/** struct kvm_irq_ack_notifier. */
export interface KvmIrqAckNotifier {
  readonly gsi: number;
  irqAcked(gsi: number): void;
}

/**
 * A device timer of the VM (Linux: an hrtimer that injects from its own context). The
 * model polls: `expire` fires what is due on the kernel clock (raising its GSI), and
 * `nextExpiry` is the absolute ns of the next expiration, or null.
 */
/** A device on a VM's PIO bus (struct kvm_io_device with its range, for KVM_PIO_BUS). */
export interface KvmPioDevice {
  inRange(port: number): boolean;
  /** Only writes are the device's (a coalesced zone): reads go on to userspace. */
  readonly writeOnly?: boolean;
  read(port: number, len: number): number;
  write(port: number, len: number, value: number): void;
}

export interface KvmTimerSource {
  expire(): void;
  nextExpiry(): bigint | null;
}

/**
 * How a vCPU thread's shard of a VM reaches the VM-wide devices at the home: port I/O
 * to the PICs/PIT, MMIO to the I/O APIC, the PIC's INTA, an EOI for the I/O APIC, and
 * the PIC's INTR line (a shared word).
 */
export interface KvmHome {
  readonly ioapicBase: number;
  pio(port: number, len: number, isWrite: boolean, value: number): number;
  mmio(gpa: number, len: number, isWrite: boolean, data: Uint8Array): void;
  picOutput(): boolean;
  picReadIrq(): number;
  ioapicEoi(vcpuId: number, vector: number, level: boolean): void;
}

/** kvm->arch.irqchip_mode. */
export const KVM_IRQCHIP_NONE = 0;
export const KVM_IRQCHIP_KERNEL = 1;

/** struct kvm: one VM. */
export class Kvm {
  /** The process whose address space the VM belongs to (kvm->mm). */
  readonly mm: HostProcess;
  readonly kernel: HostKernel;
  readonly module: KvmVendorModule;
  readonly ops: KvmX86Ops;
  readonly memslots: KvmMemslots[] = [];
  readonly vcpus: KvmVcpu[] = [];
  readonly stat = newVmStat();
  /** References: the VM fd, each vCPU fd (kvm_get_kvm / kvm_put_kvm). */
  usersCount = 1;
  /** Index of the VM (for debugfs-style names). */
  readonly id: number;
  createdVcpus = 0;
  maxVcpus = KVM_MAX_VCPUS;
  /** Bumped by every memslot change and every dirty-log harvest: vendors rebuild their
   * guest-physical map (EPT/NPT) when it moves (kvm->mmu_invalidate_seq). */
  mmuInvalidateSeq = 0;
  readonly arch = {
    tssAddr: 0,
    identityMapAddr: 0xfffb_c000n,
    bspVcpuId: 0,
    /** KVM_CAP_EXCEPTION_PAYLOAD and KVM_CAP_X86_TRIPLE_FAULT_EVENT, as enabled. */
    exceptionPayloadEnabled: false,
    tripleFaultEvent: false,
    /** KVM_IRQCHIP_NONE until KVM_CREATE_IRQCHIP, then KVM_IRQCHIP_KERNEL. */
    irqchipMode: KVM_IRQCHIP_NONE as number,
    /** The 8259 pair (kvm->arch.vpic) and the I/O APIC (kvm->arch.vioapic). */
    vpic: null as KvmPic | null,
    vioapic: null as KvmIoapic | null,
    /** The PIT (kvm->arch.vpit), after KVM_CREATE_PIT2. */
    vpit: null as KvmPit | null,
    /** GSI routing (kvm->irq_routing), the default table after KVM_CREATE_IRQCHIP. */
    irqRouting: null as KvmIrqRoutingTable | null,
    /** kvm.ko's vector_hashing parameter: lowest-priority delivery picks by vector. */
    vectorHashing: true,
    /** kvm->irq_ack_notifier_list: told when the guest acknowledges a GSI (the PIT's reinject). */
    irqAckNotifiers: [] as KvmIrqAckNotifier[],
    /** VM-wide timers (the PIT's hrtimer) that the run loop polls and a halt may sleep until. */
    timerSources: [] as KvmTimerSource[],
    /** kvm->buses[KVM_PIO_BUS]: the in-kernel devices that claim I/O ports. */
    pioBus: [] as KvmPioDevice[],
  };
  /**
   * Set on a vCPU thread's shard of a VM (kvm_thread.ts): the home, where the VM-wide
   * in-kernel devices are. Null on the home itself and in a single-threaded VMM.
   */
  home: KvmHome | null = null;
  /** The vendor's per-VM state (to_kvm_vmx / to_kvm_svm). */
  vendor: unknown = null;
  dead = false;
  /**
   * The vCPUs run in threads of their own (one worker each): a block really sleeps until
   * kvmVcpuKick, and remote stubs stand for the vCPUs other threads own.
   */
  threaded = false;
  /**
   * A single-threaded VMM's one host thread has TIF_NEED_RESCHED: a vCPU sent an IPI to a
   * sibling that shares the thread. As Linux preempts the sender for the woken vCPU's
   * thread, the sender's KVM_RUN returns (-EINTR) at its next exit so the VMM runs the
   * target. Unused when vCPUs have threads of their own.
   */
  needResched = false;

  constructor(kernel: HostKernel, mm: HostProcess, module: KvmVendorModule, id: number) {
    this.kernel = kernel;
    this.mm = mm;
    this.module = module;
    this.ops = module.initOps.runtimeOps;
    this.id = id;
    for (let i = 0; i < KVM_ADDRESS_SPACE_NUM; i++)
      this.memslots.push({ generation: 0, slots: [] });
  }
}

/** struct kvm_vcpu. */
export class KvmVcpu {
  /** The 3-page mmap area: kvm_run, the PIO data page, the coalesced-MMIO ring. */
  readonly runArea: Uint8Array;
  readonly run: KvmRun;
  /** Page 1 of runArea (KVM_PIO_PAGE_OFFSET). */
  readonly pioData: Uint8Array;
  /** The state other threads may touch: the LAPIC page and the VCPU_SHARED_* words. */
  readonly shared: KvmVcpuShared;
  readonly arch: KvmVcpuArch;
  readonly stat = newVcpuStat();
  /**
   * A stub for a vCPU another thread owns (kvmCreateRemoteVcpu): interrupts may be
   * delivered to it, nothing else — it is never run and has no vendor state.
   */
  remote = false;
  /** KVM_GUESTDBG_* control bits from KVM_SET_GUEST_DEBUG. */
  guestDebug = 0;
  /** Pending userspace MMIO (vcpu->mmio_needed and friends). */
  mmioNeeded = false;
  mmioIsWrite = false;
  mmioCurFragment = 0;
  readonly mmioFragments: KvmMmioFragment[] = [];
  /** The MMIO read waiting for userspace: its fragments are views of this buffer. */
  mmioReadBuffer: Uint8Array | null = null;
  /** MMIO reads userspace completed, replayed in order when the instruction is emulated again. */
  readonly mmioReadCache: Uint8Array[] = [];
  mmioReadCacheIndex = 0;
  /** The instruction bytes the emulator saw last (it sets them), for KVM_EXIT_INTERNAL_ERROR. */
  emulatedInsnBytes: Uint8Array | null = null;
  /** PIO IN data userspace supplied for an emulated instruction. */
  pioReadCache: Uint8Array | null = null;
  /** The vendor's per-vCPU state (to_vmx(vcpu), to_svm(vcpu)). */
  vendor: unknown = null;
  /** KVM_SET_SIGNAL_MASK's mask (bit per signal) applied while in KVM_RUN. */
  sigsetMask: number | null = null;
  /** The host CPU it is loaded on (-1 = not loaded). */
  cpu = -1;

  /**
   * Pending KVM_REQ_* bits (the shared word; set them with kvmMakeRequest, which is
   * atomic — a plain `|=` here is not).
   */
  get requests(): number {
    return this.shared.words[VCPU_SHARED_REQUESTS]!;
  }
  set requests(v: number) {
    Atomics.store(this.shared.words, VCPU_SHARED_REQUESTS, v);
  }

  constructor(
    readonly kvm: Kvm,
    readonly vcpuId: number,
    readonly vcpuIdx: number,
    shared: KvmVcpuShared = new KvmVcpuShared(),
    /** The kvm_run area's memory (a vCPU thread gets it at clone, so the home can map it). */
    runArea?: SharedArrayBuffer,
  ) {
    this.shared = shared;
    this.arch = new KvmVcpuArch(shared);
    const buffer =
      runArea ??
      (typeof SharedArrayBuffer === "function"
        ? new SharedArrayBuffer(3 * PAGE_SIZE)
        : new ArrayBuffer(3 * PAGE_SIZE));
    this.runArea = new Uint8Array(buffer);
    this.run = new KvmRun(this.runArea);
    this.pioData = this.runArea.subarray(PAGE_SIZE, 2 * PAGE_SIZE);
  }
}
