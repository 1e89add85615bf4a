/**
 * VMX non-root operation on the software x86 core (SDM Vol. 3C Ch. 26 VM entries, 27 VMX
 * non-root operation, 28 VM exits): after VMLAUNCH/VMRESUME passed their checks, load the
 * guest-state area into the core, deliver the event the VM-entry interruption-information
 * field names, run the guest, and let the execution controls decide, event by event through
 * the core's virtualization hooks, what exits. On the exit: the exit reason, qualification,
 * guest-linear and guest-physical addresses, interruption and IDT-vectoring information and
 * instruction length go into the exit-information fields, and the guest state back into the
 * guest-state area — each write reported as the processor's own (VmcsWriter "cpu").
 *
 * Memory: with "enable EPT", guest-physical memory is what the EPT maps. The structure is
 * walked once (eptRamRanges) and the RAM it maps becomes the core's PhysMemory, so guest
 * accesses run at the core's full speed; the cached map is dropped by INVEPT and whenever
 * another EPTP is used, like a TLB tagged by EPTP. Everything else — holes, read-only pages
 * written, fetches from outside RAM — reaches the EV_MMIO hook, where eptTranslate decides
 * between an access (RAM above 4 GiB), an EPT violation (48) and a misconfiguration (49).
 *
 * Time: guest instructions are the clock. The VMX-preemption timer counts them at the rate
 * IA32_VMX_MISC[4:0] gives; every `timeslice` instructions the host's timer interrupt
 * arrives, which with "external-interrupt exiting" is an EXTERNAL_INTERRUPT exit — what
 * brings a guest that never exits on its own back to its VMM.
 */
import {
  EVENT_EXTERNAL,
  EVENT_FAULT,
  EVENT_PRIV_SOFTWARE,
  EVENT_SOFTWARE,
  EXIT_HLT,
  EXIT_HOOK,
  getMsr,
  type HookResult,
  hooks,
  injectEvent,
  instr,
  loadSegment,
  OPEN_BUS,
  PhysMemory,
  setMsr,
  state,
  syncLoadedState,
  X86Cpu,
  type X86Devices,
  type X86Hooks,
} from "@glassvm/x86";
import {
  CPU_BASED_ACTIVATE_SECONDARY_CONTROLS,
  CPU_BASED_CR3_LOAD_EXITING,
  CPU_BASED_CR3_STORE_EXITING,
  CPU_BASED_CR8_LOAD_EXITING,
  CPU_BASED_CR8_STORE_EXITING,
  CPU_BASED_HLT_EXITING,
  CPU_BASED_INTR_WINDOW_EXITING,
  CPU_BASED_INVLPG_EXITING,
  CPU_BASED_MONITOR_EXITING,
  CPU_BASED_MOV_DR_EXITING,
  CPU_BASED_MWAIT_EXITING,
  CPU_BASED_NMI_WINDOW_EXITING,
  CPU_BASED_PAUSE_EXITING,
  CPU_BASED_RDPMC_EXITING,
  CPU_BASED_RDTSC_EXITING,
  CPU_BASED_UNCOND_IO_EXITING,
  CPU_BASED_USE_IO_BITMAPS,
  CPU_BASED_USE_MSR_BITMAPS,
  CPU_BASED_USE_TSC_OFFSETTING,
  CPU_BASED_VM_EXEC_CONTROL,
  CR0_GUEST_HOST_MASK,
  CR0_READ_SHADOW,
  CR3_TARGET_COUNT,
  CR3_TARGET_VALUE0,
  CR4_GUEST_HOST_MASK,
  CR4_READ_SHADOW,
  EPT_POINTER,
  EXCEPTION_BITMAP,
  EXIT_QUALIFICATION,
  GUEST_ACTIVITY_HLT,
  GUEST_ACTIVITY_STATE,
  GUEST_CR0,
  GUEST_CR3,
  GUEST_CR4,
  GUEST_DR7,
  GUEST_ES_AR_BYTES,
  GUEST_ES_BASE,
  GUEST_ES_LIMIT,
  GUEST_ES_SELECTOR,
  GUEST_GDTR_BASE,
  GUEST_GDTR_LIMIT,
  GUEST_IA32_EFER,
  GUEST_IA32_PAT,
  GUEST_IDTR_BASE,
  GUEST_IDTR_LIMIT,
  GUEST_INTERRUPTIBILITY_INFO,
  GUEST_INTR_STATE_MOV_SS,
  GUEST_INTR_STATE_NMI,
  GUEST_INTR_STATE_STI,
  GUEST_LINEAR_ADDRESS,
  GUEST_PENDING_DBG_EXCEPTIONS,
  GUEST_PHYSICAL_ADDRESS,
  GUEST_RFLAGS,
  GUEST_RIP,
  GUEST_RSP,
  GUEST_SYSENTER_CS,
  GUEST_SYSENTER_EIP,
  GUEST_SYSENTER_ESP,
  IDT_VECTORING_ERROR_CODE,
  IDT_VECTORING_INFO_FIELD,
  INTR_INFO_VALID_MASK,
  IO_BITMAP_A,
  IO_BITMAP_B,
  MSR_BITMAP,
  MSR_IA32_VMX_MISC,
  PAGE_FAULT_ERROR_CODE_MASK,
  PAGE_FAULT_ERROR_CODE_MATCH,
  PIN_BASED_EXT_INTR_MASK,
  PIN_BASED_NMI_EXITING,
  PIN_BASED_VM_EXEC_CONTROL,
  PIN_BASED_VMX_PREEMPTION_TIMER,
  SECONDARY_EXEC_DESC,
  SECONDARY_EXEC_ENABLE_EPT,
  SECONDARY_EXEC_ENABLE_VPID,
  SECONDARY_EXEC_WBINVD_EXITING,
  SECONDARY_VM_EXEC_CONTROL,
  TSC_OFFSET,
  VIRTUAL_PROCESSOR_ID,
  VM_ENTRY_CONTROLS,
  VM_ENTRY_EXCEPTION_ERROR_CODE,
  VM_ENTRY_IA32E_MODE,
  VM_ENTRY_INSTRUCTION_LEN,
  VM_ENTRY_INTR_INFO_FIELD,
  VM_ENTRY_LOAD_DEBUG_CONTROLS,
  VM_ENTRY_LOAD_IA32_EFER,
  VM_ENTRY_LOAD_IA32_PAT,
  VM_EXIT_ACK_INTR_ON_EXIT,
  VM_EXIT_CONTROLS,
  VM_EXIT_INSTRUCTION_LEN,
  VM_EXIT_INTR_ERROR_CODE,
  VM_EXIT_INTR_INFO,
  VM_EXIT_REASON,
  VM_EXIT_SAVE_DEBUG_CONTROLS,
  VM_EXIT_SAVE_IA32_EFER,
  VM_EXIT_SAVE_IA32_PAT,
  VM_EXIT_SAVE_VMX_PREEMPTION_TIMER,
  VMX_INSTRUCTION_INFO,
  VMX_PREEMPTION_TIMER_VALUE,
} from "../asm/vmx.js";
import {
  EXIT_REASON_CPUID,
  EXIT_REASON_CR_ACCESS,
  EXIT_REASON_DR_ACCESS,
  EXIT_REASON_EPT_MISCONFIG,
  EXIT_REASON_EPT_VIOLATION,
  EXIT_REASON_EXCEPTION_NMI,
  EXIT_REASON_EXTERNAL_INTERRUPT,
  EXIT_REASON_GDTR_IDTR,
  EXIT_REASON_HLT,
  EXIT_REASON_INTERRUPT_WINDOW,
  EXIT_REASON_INVD,
  EXIT_REASON_INVEPT,
  EXIT_REASON_INVLPG,
  EXIT_REASON_INVVPID,
  EXIT_REASON_IO_INSTRUCTION,
  EXIT_REASON_LDTR_TR,
  EXIT_REASON_MONITOR_INSTRUCTION,
  EXIT_REASON_MSR_READ,
  EXIT_REASON_MSR_WRITE,
  EXIT_REASON_MWAIT_INSTRUCTION,
  EXIT_REASON_NMI_WINDOW,
  EXIT_REASON_PAUSE_INSTRUCTION,
  EXIT_REASON_PREEMPTION_TIMER,
  EXIT_REASON_RDPMC,
  EXIT_REASON_RDTSC,
  EXIT_REASON_RDTSCP,
  EXIT_REASON_TASK_SWITCH,
  EXIT_REASON_TRIPLE_FAULT,
  EXIT_REASON_VMCALL,
  EXIT_REASON_VMCLEAR,
  EXIT_REASON_VMLAUNCH,
  EXIT_REASON_VMOFF,
  EXIT_REASON_VMON,
  EXIT_REASON_VMPTRLD,
  EXIT_REASON_VMPTRST,
  EXIT_REASON_VMREAD,
  EXIT_REASON_VMRESUME,
  EXIT_REASON_VMWRITE,
  EXIT_REASON_WBINVD,
  EXIT_REASON_XSETBV,
} from "../asm/vmx-exit-reasons.js";
import {
  EPT_MISCONFIG,
  EPT_OK,
  eptRamRanges,
  eptTranslate,
  eptViolationQualification,
} from "./ept_walk.js";
import { type VmcsRegion, vmcsSlot } from "./vmcs_region.js";
import type { VmxCapabilities } from "./vmx_caps.js";
import type { VmxCpu, VmxProcessor, VmxTlbHooks } from "./vmx_cpu.js";

const {
  EV_CPUID,
  EV_CR_ACCESS,
  EV_DESC_TABLE,
  EV_DR_ACCESS,
  EV_EXCEPTION,
  EV_EXT_INTR,
  EV_HLT,
  EV_INTR_WINDOW,
  EV_INVD,
  EV_INVLPG,
  EV_IO,
  EV_MMIO,
  EV_MONITOR_MWAIT,
  EV_NMI,
  EV_NMI_WINDOW,
  EV_PAUSE,
  EV_RDMSR,
  EV_RDPMC,
  EV_RDTSC,
  EV_RDTSCP,
  EV_TASK_SWITCH,
  EV_TRIPLE_FAULT,
  EV_VMCALL,
  EV_VMX_INSN,
  EV_WRMSR,
  EV_XSETBV,
  HOOK_DONE,
  HOOK_EXIT,
  HOOK_PASS,
} = hooks;
const {
  CR0,
  CR2,
  CR2_HI,
  CR3,
  CR4,
  DR_BASE,
  EFER,
  EIP,
  EVENT_DEPTH,
  EVENT_ERROR,
  EVENT_KIND,
  EVENT_VECTOR,
  EXIT_REASON,
  GDTR_BASE,
  GDTR_BASE_HI,
  GDTR_LIMIT,
  HALTED,
  IDTR_BASE,
  IDTR_BASE_HI,
  IDTR_LIMIT,
  INHIBIT,
  NMI_BLOCKED,
  NMI_PENDING,
  INTR_LINE,
  PENDING,
  RIP_HI,
} = state;

/** The logical processor a VM entry happens on, as non-root operation needs it. */
export interface VmxNonRootHost extends VmxProcessor {
  /** RAX…R15 (ModRM order), low and high halves: VM entry and exit leave them as they are. */
  readonly regs: Int32Array;
  readonly regsHi: Int32Array;
  /** CR2: not switched by VM entry or exit either. */
  cr2: bigint;
  /** The processor's CPUID (what instructions' feature checks consult); default: the core's. */
  readonly cpuid?: (leaf: number, subleaf: number, out: Int32Array) => void;
  /**
   * The memory bus's lock for locked instructions no JavaScript atomic covers (split
   * locks, CMPXCHG16B): one word for every processor of the host, on every thread.
   */
  readonly busLock?: Int32Array;
}

/** The host's timer interrupt (LOCAL_TIMER_VECTOR in Linux's irq_vectors.h). */
export const HOST_TIMER_VECTOR = 0xec;

// Slots of the fields read on every entry or written on every exit.
/**
 * The slot of a field by encoding, as a table the entry and exit paths index directly
 * (every encoding used here is a supported field below 0x8000).
 */
const SLOT_OF = new Uint16Array(0x8000);
for (let e = 0; e < 0x8000; e++) SLOT_OF[e] = vmcsSlot(e);
const S_PIN = SLOT_OF[PIN_BASED_VM_EXEC_CONTROL]!;
const S_PROC = SLOT_OF[CPU_BASED_VM_EXEC_CONTROL]!;
const S_PROC2 = SLOT_OF[SECONDARY_VM_EXEC_CONTROL]!;
const S_EXIT_CTLS = SLOT_OF[VM_EXIT_CONTROLS]!;
const S_ENTRY_CTLS = SLOT_OF[VM_ENTRY_CONTROLS]!;

/** Segment fields in x86 order (ES CS SS DS FS GS LDTR TR): encodings step by 2. */
const SEG_SEL = (n: number): number => GUEST_ES_SELECTOR + 2 * n;
const SEG_BASE = (n: number): number => GUEST_ES_BASE + 2 * n;
const SEG_LIMIT = (n: number): number => GUEST_ES_LIMIT + 2 * n;
const SEG_AR = (n: number): number => GUEST_ES_AR_BYTES + 2 * n;

/** IA32_SYSENTER_* and IA32_PAT (MSR numbers). */
const MSR_SYSENTER_CS = 0x174;
const MSR_SYSENTER_ESP = 0x175;
const MSR_SYSENTER_EIP = 0x176;
const MSR_PAT = 0x277;

/** EFER.LME and EFER.LMA. */
const EFER_LME = 1 << 8;
const EFER_LMA = 1 << 10;
const CR0_PE = 1;
const CR0_TS = 1 << 3;
const CR0_PG = 1 << 31;
const FLAG_IF = 1 << 9;
/** Pending debug exceptions (and DR6) bit 14, BS: a single-step trap. */
const PENDING_DBG_BS = 1 << 14;

/**
 * Interruption information (VM-exit and IDT-vectoring formats, SDM 25.9.2–25.9.3):
 * vector, type, "error code valid" when `error` ≥ 0, valid.
 */
function interruptionInfo(vector: number, type: number, error: number): number {
  return (vector | (type << 8) | (error >= 0 ? 0x800 : 0) | INTR_INFO_VALID_MASK) >>> 0;
}

/** EVENT_* of the x86 core → VM-entry/IDT-vectoring event types. */
function eventType(kind: number, vector: number): number {
  if (kind === EVENT_EXTERNAL) return vector === 2 ? 2 : 0;
  if (kind === EVENT_SOFTWARE) return vector === 3 || vector === 4 ? 6 : 4;
  if (kind === EVENT_PRIV_SOFTWARE) return 5;
  return 3;
}

/** VMX instruction (hooks.ts VMX_INSN_*) → its exit reason. */
const VMX_INSN_EXIT = [
  EXIT_REASON_VMCLEAR,
  EXIT_REASON_VMLAUNCH,
  EXIT_REASON_VMPTRLD,
  EXIT_REASON_VMPTRST,
  EXIT_REASON_VMREAD,
  EXIT_REASON_VMRESUME,
  EXIT_REASON_VMWRITE,
  EXIT_REASON_VMOFF,
  EXIT_REASON_VMON,
  EXIT_REASON_INVEPT,
  EXIT_REASON_INVVPID,
];

/** Exit reasons caused by an instruction: VM_EXIT_INSTRUCTION_LEN is valid for them. */
const INSTRUCTION_EXITS = new Set([
  EXIT_REASON_CPUID,
  EXIT_REASON_HLT,
  EXIT_REASON_INVD,
  EXIT_REASON_INVLPG,
  EXIT_REASON_RDPMC,
  EXIT_REASON_RDTSC,
  EXIT_REASON_VMCALL,
  ...VMX_INSN_EXIT,
  EXIT_REASON_CR_ACCESS,
  EXIT_REASON_DR_ACCESS,
  EXIT_REASON_IO_INSTRUCTION,
  EXIT_REASON_MSR_READ,
  EXIT_REASON_MSR_WRITE,
  EXIT_REASON_MWAIT_INSTRUCTION,
  EXIT_REASON_MONITOR_INSTRUCTION,
  EXIT_REASON_PAUSE_INSTRUCTION,
  EXIT_REASON_GDTR_IDTR,
  EXIT_REASON_LDTR_TR,
  EXIT_REASON_RDTSCP,
  EXIT_REASON_WBINVD,
  EXIT_REASON_XSETBV,
  EXIT_REASON_TASK_SWITCH,
]);
/** INSTRUCTION_EXITS as a table by basic exit reason (a Set lookup on every exit costs). */
const INSTRUCTION_EXIT = new Uint8Array(0x100);
for (const r of INSTRUCTION_EXITS) INSTRUCTION_EXIT[r] = 1;

export class VmxNonRoot implements X86Hooks, VmxTlbHooks {
  /** Instructions between host timer interrupts (each an external-interrupt VM exit). */
  timeslice = 1_000_000;
  /** Where port I/O that does not cause a VM exit goes (the processor's own ports). */
  ports: X86Devices = OPEN_BUS;
  /** Guest instructions retired in non-root operation, over all entries. */
  instructions = 0;

  // The controls of the current entry.
  private vmcs: VmcsRegion | null = null;
  private vmx: VmxCpu | null = null;
  private pin = 0;
  private proc = 0;
  private proc2 = 0;
  private exitCtls = 0;
  private ept = false;
  private eptp = 0n;
  private preemptionRate = 0;
  /** The capabilities preemptionRate was read from (they are read-only). */
  private preemptionRateOf: VmxCapabilities | null = null;

  // The guest-physical map the core holds: for which EPTP, and whether INVEPT dropped it.
  private mappedEptp = -1n;
  private mappedNoEpt = false;
  /**
   * What the translations in the core's TLB were made under: valid flag, VPID, EPTP, and
   * CR0/CR3/CR4/EFER as the last exit left them.
   */
  private tlbValid = false;
  private tlbVpid = 0;
  private tlbEptp = 0n;
  private readonly tlbRegs = new Int32Array(4);

  // The exit being recorded (set by the hook, written to the VMCS after run() returns).
  private reason = 0;
  private qualLo = 0;
  private qualHi = 0;
  private gpa = -1;
  private glaLo = 0;
  private glaHi = 0;
  private glaValid = false;
  private intrInfo = 0;
  private intrError = 0;
  private idtInfo = 0;
  private idtError = 0;
  private insnInfo = 0;
  /** An I/O exit whose qualification still needs bit 6 (immediate port) from the decode. */
  private ioPending = false;
  private ioString = false;
  private ioIn = false;

  constructor(readonly host: VmxNonRootHost) {}

  #cpu: X86Cpu | null = null;
  /** RAX…R15 of the core's register file (views made once, with the core). */
  private coreGprs = new Int32Array(16);
  private coreGprsHi = new Int32Array(16);
  /** The host's CR2 as last loaded or stored, and its halves (64-bit normalized or not). */
  private cr2Value = 0n;
  private cr2Lo = 0;
  private cr2Hi = 0;
  private cr2Normal = true;

  /** The execution core while a guest runs (made at the first VM entry: it is large). */
  get cpu(): X86Cpu {
    if (this.#cpu) return this.#cpu;
    const mem = new PhysMemory({
      ioRead: (port, size) => this.ports.ioRead(port, size),
      ioWrite: (port, size, value) => this.ports.ioWrite(port, size, value),
      // Every access outside RAM is decided by the EV_MMIO hook; these never run.
      mmioRead: (_a, size) => (size === 4 ? 0xffff_ffff : (1 << (size * 8)) - 1),
      mmioWrite: () => {},
    });
    if (this.host.busLock) mem.lockWords = this.host.busLock;
    const cpu = new X86Cpu(mem);
    if (this.host.cpuid) cpu.cpuid = this.host.cpuid;
    this.#cpu = cpu;
    this.coreGprs = cpu.regs.subarray(0, 16);
    this.coreGprsHi = cpu.regsHi.subarray(0, 16);
    return cpu;
  }

  /**
   * Forget decoded instructions, as a processor's caches would see writes by other agents
   * (the VMM, its emulator, userspace) to guest memory. Call before an entry after such
   * writes may have happened.
   */
  invalidateCode(): void {
    this.#cpu?.flushDecodeCache();
  }

  // ── VmxTlbHooks ──

  invept(): void {
    this.mappedEptp = -1n;
    this.tlbValid = false;
  }

  invvpid(): void {
    this.tlbValid = false;
  }

  // ── VM entry ──

  /** VM entry after the checks passed: load, inject, run until a VM exit, store. */
  enter(vmx: VmxCpu, vmcs: VmcsRegion, _launch: boolean): void {
    this.vmx = vmx;
    this.vmcs = vmcs;
    const cpu = this.cpu;
    this.pin = vmcs.read32(S_PIN);
    this.proc = vmcs.read32(S_PROC);
    this.proc2 =
      (this.proc & CPU_BASED_ACTIVATE_SECONDARY_CONTROLS) !== 0 ? vmcs.read32(S_PROC2) : 0;
    this.exitCtls = vmcs.read32(S_EXIT_CTLS);
    this.ept = (this.proc2 & SECONDARY_EXEC_ENABLE_EPT) !== 0;
    this.eptp = this.ept ? vmcs.read64(SLOT_OF[EPT_POINTER]!) : 0n;
    if (vmx.caps !== this.preemptionRateOf) {
      this.preemptionRate = Number((vmx.capabilityMsr(MSR_IA32_VMX_MISC) ?? 0n) & 0x1fn);
      this.preemptionRateOf = vmx.caps;
    }
    this.mapGuestMemory();
    this.loadGuestState(vmcs);
    this.clearExit();
    cpu.st[EXIT_REASON] = 0;
    if (this.injectEntryEvent(vmcs)) {
      this.runGuest(vmcs);
    } else {
      this.storeExit(vmcs);
    }
    this.vmcs = null;
  }

  /** The guest-physical map: EPT's RAM ranges (cached per EPTP), or host memory. */
  private mapGuestMemory(): void {
    const mem = this.cpu.mem;
    if (this.ept) {
      if (this.mappedEptp === this.eptp && !this.mappedNoEpt) return;
      for (const r of [...mem.ranges]) if (r) mem.removeRam(r.base);
      for (const r of eptRamRanges(this.host, this.eptp)) {
        if (r.gpa + r.bytes.length <= 2 ** 32) mem.addRam(r.gpa, r.bytes, !r.writable);
      }
      this.mappedEptp = this.eptp;
      this.mappedNoEpt = false;
      return;
    }
    // Without EPT guest-physical is host-physical: every access goes through the hook.
    if (this.mappedNoEpt) return;
    for (const r of [...mem.ranges]) if (r) mem.removeRam(r.base);
    this.mappedNoEpt = true;
    this.mappedEptp = -1n;
  }

  /** SDM 27.3.2: control registers, debug, MSRs, segments, tables, RIP/RSP/RFLAGS, state. */
  private loadGuestState(v: VmcsRegion): void {
    const cpu = this.cpu;
    const st = cpu.st;
    const host = this.host;
    const entry = v.read32(S_ENTRY_CTLS);
    st[CR0] = v.read32(SLOT_OF[GUEST_CR0]!);
    st[CR3] = v.read32(SLOT_OF[GUEST_CR3]!);
    st[CR4] = v.read32(SLOT_OF[GUEST_CR4]!);
    if ((entry & VM_ENTRY_LOAD_DEBUG_CONTROLS) !== 0) {
      st[DR_BASE + 7] = v.read32(SLOT_OF[GUEST_DR7]!) | 0x400;
    }
    this.setMsr(MSR_SYSENTER_CS, BigInt(v.read32(SLOT_OF[GUEST_SYSENTER_CS]!)));
    this.setMsr(MSR_SYSENTER_ESP, v.read64(SLOT_OF[GUEST_SYSENTER_ESP]!));
    this.setMsr(MSR_SYSENTER_EIP, v.read64(SLOT_OF[GUEST_SYSENTER_EIP]!));
    if ((entry & VM_ENTRY_LOAD_IA32_PAT) !== 0)
      this.setMsr(MSR_PAT, v.read64(SLOT_OF[GUEST_IA32_PAT]!));
    const ia32e = (entry & VM_ENTRY_IA32E_MODE) !== 0;
    if ((entry & VM_ENTRY_LOAD_IA32_EFER) !== 0) {
      st[EFER] = v.read32(SLOT_OF[GUEST_IA32_EFER]!);
    } else {
      // Without loading EFER, LMA follows "IA-32e mode guest", and LME too when paging is on.
      let efer = st[EFER]! & ~EFER_LMA;
      if (ia32e) efer |= EFER_LMA;
      if ((st[CR0]! & CR0_PG) !== 0) efer = ia32e ? efer | EFER_LME : efer & ~EFER_LME;
      st[EFER] = efer;
    }
    for (let n = 0; n < 8; n++) {
      const base = SLOT_OF[SEG_BASE(n)]!;
      loadSegment(
        cpu,
        n,
        v.read32(SLOT_OF[SEG_SEL(n)]!) & 0xffff,
        v.read32(base),
        v.readHigh32(base),
        v.read32(SLOT_OF[SEG_LIMIT(n)]!),
        v.read32(SLOT_OF[SEG_AR(n)]!) & 0x1_f0ff,
      );
    }
    const gdt = SLOT_OF[GUEST_GDTR_BASE]!;
    st[GDTR_BASE] = v.read32(gdt);
    st[GDTR_BASE_HI] = v.readHigh32(gdt);
    st[GDTR_LIMIT] = v.read32(SLOT_OF[GUEST_GDTR_LIMIT]!) & 0xffff;
    const idt = SLOT_OF[GUEST_IDTR_BASE]!;
    st[IDTR_BASE] = v.read32(idt);
    st[IDTR_BASE_HI] = v.readHigh32(idt);
    st[IDTR_LIMIT] = v.read32(SLOT_OF[GUEST_IDTR_LIMIT]!) & 0xffff;
    const rip = SLOT_OF[GUEST_RIP]!;
    st[EIP] = v.read32(rip);
    st[RIP_HI] = v.readHigh32(rip);
    cpu.setEflags(v.read32(SLOT_OF[GUEST_RFLAGS]!));
    // The general registers are the processor's; RSP comes from the VMCS.
    this.coreGprs.set(host.regs.length === 16 ? host.regs : host.regs.subarray(0, 16));
    this.coreGprsHi.set(host.regsHi.length === 16 ? host.regsHi : host.regsHi.subarray(0, 16));
    const rsp = SLOT_OF[GUEST_RSP]!;
    cpu.regs[4] = v.read32(rsp);
    cpu.regsHi[4] = v.readHigh32(rsp);
    const cr2 = host.cr2;
    if (cr2 !== this.cr2Value) {
      const u = BigInt.asUintN(64, cr2);
      this.cr2Value = cr2;
      this.cr2Lo = Number(u & 0xffff_ffffn) | 0;
      this.cr2Hi = Number(u >> 32n) | 0;
      this.cr2Normal = u === cr2;
    }
    st[CR2] = this.cr2Lo;
    st[CR2_HI] = this.cr2Hi;
    // Interruptibility and activity (SDM 27.3.2.5, 27.3.3.4).
    const intr = v.read32(SLOT_OF[GUEST_INTERRUPTIBILITY_INFO]!);
    st[INHIBIT] = (intr & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS)) !== 0 ? 1 : 0;
    st[NMI_BLOCKED] = (intr & GUEST_INTR_STATE_NMI) !== 0 ? 1 : 0;
    st[HALTED] = v.read32(SLOT_OF[GUEST_ACTIVITY_STATE]!) === GUEST_ACTIVITY_HLT ? 1 : 0;
    // A single-step trap the last exit came before is delivered after this entry (SDM
    // 27.7.3); nothing else the core held pending survives from another guest.
    cpu.pendingDebugTrap =
      (v.read32(SLOT_OF[GUEST_PENDING_DBG_EXCEPTIONS]!) & PENDING_DBG_BS) !== 0;
    if (cpu.pendingDebugTrap) {
      st[DR_BASE + 6] = st[DR_BASE + 6]! | PENDING_DBG_BS;
      st[PENDING] = 1;
    }
    st[NMI_PENDING] = 0;
    st[INTR_LINE] = 0;
    cpu.counters[1] =
      (this.proc & CPU_BASED_USE_TSC_OFFSETTING) !== 0
        ? (v.readHigh32(SLOT_OF[TSC_OFFSET]!) | 0) * 2 ** 32 + v.read32(SLOT_OF[TSC_OFFSET]!)
        : 0;
    cpu.wantWindow =
      ((this.proc & CPU_BASED_INTR_WINDOW_EXITING) !== 0 ? 1 : 0) |
      ((this.proc & CPU_BASED_NMI_WINDOW_EXITING) !== 0 ? 2 : 0);
    // Linear translations survive an entry only under the same VPID and paging state
    // (without VPID every entry and exit invalidates them, SDM 29.4.3.1).
    const vpid =
      (this.proc2 & SECONDARY_EXEC_ENABLE_VPID) !== 0
        ? v.read32(SLOT_OF[VIRTUAL_PROCESSOR_ID]!)
        : 0;
    const r = this.tlbRegs;
    const keep =
      this.tlbValid &&
      vpid !== 0 &&
      vpid === this.tlbVpid &&
      this.eptp === this.tlbEptp &&
      r[0] === st[CR0] &&
      r[1] === st[CR3] &&
      r[2] === st[CR4] &&
      r[3] === st[EFER];
    syncLoadedState(cpu, !keep);
    this.tlbVpid = vpid;
    this.tlbEptp = this.eptp;
    cpu.hooks = this;
  }

  /**
   * VM entry loads IA32_SYSENTER_CS/ESP/EIP and IA32_PAT from the guest-state area (SDM
   * 27.3.2.1), here through the core's WRMSR. Those hold plain values in `cpu.msrs` and
   * writing them has no other effect, so a value the core already holds is left alone.
   */
  private setMsr(index: number, value: bigint): void {
    const cpu = this.cpu;
    if (cpu.msrs.get(index) === value) return;
    setMsr(cpu, index, value);
  }

  /**
   * Event injection (SDM 27.6): deliver the event the VM-entry interruption-information
   * field names through the guest's IDT. False when its delivery already caused a VM exit.
   */
  private injectEntryEvent(v: VmcsRegion): boolean {
    const info = v.read32(SLOT_OF[VM_ENTRY_INTR_INFO_FIELD]!);
    if ((info & INTR_INFO_VALID_MASK) === 0) return true;
    const cpu = this.cpu;
    const st = cpu.st;
    const vector = info & 0xff;
    const type = (info >>> 8) & 7;
    const error = (info & 0x800) !== 0 ? v.read32(SLOT_OF[VM_ENTRY_EXCEPTION_ERROR_CODE]!) | 0 : -1;
    const next = (st[EIP]! + v.read32(SLOT_OF[VM_ENTRY_INSTRUCTION_LEN]!)) | 0;
    // An injected event is delivered instead of the pending debug exceptions — once it is:
    // an exit during its delivery saves them as they were.
    const pendingDebugTrap = cpu.pendingDebugTrap;
    cpu.pendingDebugTrap = false;
    switch (type) {
      case 0:
      case 2:
        injectEvent(cpu, vector, -1, EVENT_EXTERNAL, 0);
        break;
      case 3:
        injectEvent(cpu, vector, error, EVENT_FAULT, 0);
        break;
      case 4:
      case 6:
        injectEvent(cpu, vector, -1, EVENT_SOFTWARE, next);
        break;
      case 5:
        injectEvent(cpu, vector, -1, EVENT_PRIV_SOFTWARE, next);
        break;
      default:
        // Type 7 (other event: a pending MTF exit) is not modelled.
        return true;
    }
    if (st[EXIT_REASON] !== 0) {
      cpu.pendingDebugTrap = pendingDebugTrap;
      return false;
    }
    // A delivered event leaves the guest at its handler.
    st[HALTED] = 0;
    return true;
  }

  // ── running ──

  private runGuest(v: VmcsRegion): void {
    const cpu = this.cpu;
    const timerOn = (this.pin & PIN_BASED_VMX_PREEMPTION_TIMER) !== 0;
    // Instructions until the preemption timer reaches 0 (it counts TSC >> rate).
    let timerLeft = timerOn
      ? (v.read32(SLOT_OF[VMX_PREEMPTION_TIMER_VALUE]!) * 2 ** this.preemptionRate) | 0
      : Number.POSITIVE_INFINITY;
    if (timerOn && timerLeft === 0) {
      this.reason = EXIT_REASON_PREEMPTION_TIMER;
      this.storeExit(v, 0);
      return;
    }
    for (;;) {
      const budget = Math.min(this.timeslice, timerLeft);
      const before = cpu.counters[0]!;
      const why = cpu.run(budget);
      const ran = cpu.counters[0]! - before;
      this.instructions += ran;
      if (timerOn) timerLeft -= Math.max(ran, why === EXIT_HOOK ? 0 : budget - ran);
      if (why === EXIT_HOOK) break;
      // The budget ran out, the guest halted, or the embedder asked: time passes.
      if (timerOn && timerLeft <= 0) {
        this.clearExit();
        this.reason = EXIT_REASON_PREEMPTION_TIMER;
        break;
      }
      if ((this.pin & PIN_BASED_EXT_INTR_MASK) !== 0) {
        // The host's timer tick: an external interrupt, which exits.
        this.clearExit();
        this.reason = EXIT_REASON_EXTERNAL_INTERRUPT;
        if ((this.exitCtls & VM_EXIT_ACK_INTR_ON_EXIT) !== 0) {
          this.intrInfo = interruptionInfo(HOST_TIMER_VECTOR, 0, -1);
        }
        break;
      }
      if (why === EXIT_HLT && !timerOn) {
        // Nothing can end this wait: the host's interrupts would go to the guest, which
        // this model does not do. A real processor would sit here until INIT or SMI.
        throw new Error(
          "VMX: guest halted with external-interrupt exiting and the preemption timer off; nothing can wake it",
        );
      }
    }
    this.storeExit(v, timerOn ? Math.max(0, timerLeft) : 0);
  }

  // ── the hooks: which events exit ──

  private clearExit(): void {
    this.reason = 0;
    this.qualLo = 0;
    this.qualHi = 0;
    this.gpa = -1;
    this.glaValid = false;
    this.intrInfo = 0;
    this.intrError = 0;
    this.idtInfo = 0;
    this.idtError = 0;
    this.insnInfo = 0;
    this.ioPending = false;
  }

  /** Record exit `reason` with qualification `qual`, and the event being delivered if any. */
  private exit(reason: number, qual: number): HookResult {
    this.clearExit();
    this.reason = reason;
    this.qualLo = qual;
    this.recordVectoring();
    return HOOK_EXIT;
  }

  /** IDT-vectoring information (SDM 28.2.4): an exit while delivering an event. */
  private recordVectoring(): void {
    const st = this.cpu.st;
    if (st[EVENT_DEPTH]! === 0) return;
    const vector = st[EVENT_VECTOR]!;
    const type = eventType(st[EVENT_KIND]!, vector);
    const error = st[EVENT_ERROR]!;
    this.idtInfo = interruptionInfo(vector, type, error);
    this.idtError = Math.max(0, error);
  }

  onEvent(cpu: X86Cpu, kind: number): HookResult {
    const x = cpu.exitInfo;
    switch (kind) {
      case EV_IO:
        return this.onIo(x);
      case EV_HLT:
        return (this.proc & CPU_BASED_HLT_EXITING) !== 0
          ? this.exit(EXIT_REASON_HLT, 0)
          : HOOK_PASS;
      case EV_CPUID:
        return this.exit(EXIT_REASON_CPUID, 0);
      case EV_RDMSR:
        return this.msrExits(x[1]!, false) ? this.exit(EXIT_REASON_MSR_READ, 0) : HOOK_PASS;
      case EV_WRMSR:
        return this.msrExits(x[1]!, true) ? this.exit(EXIT_REASON_MSR_WRITE, 0) : HOOK_PASS;
      case EV_CR_ACCESS:
        return this.onCrAccess(x);
      case EV_DR_ACCESS:
        if ((this.proc & CPU_BASED_MOV_DR_EXITING) === 0) return HOOK_PASS;
        return this.exit(EXIT_REASON_DR_ACCESS, x[1]! | (x[2]! << 4) | ((x[3]! & 15) << 8));
      case EV_INVLPG:
        if ((this.proc & CPU_BASED_INVLPG_EXITING) === 0) return HOOK_PASS;
        this.exit(EXIT_REASON_INVLPG, x[1]!);
        this.qualHi = x[2]!;
        return HOOK_EXIT;
      case EV_DESC_TABLE:
        if ((this.proc2 & SECONDARY_EXEC_DESC) === 0) return HOOK_PASS;
        return this.exit(x[1]! < 4 ? EXIT_REASON_GDTR_IDTR : EXIT_REASON_LDTR_TR, 0);
      case EV_RDTSC:
        return (this.proc & CPU_BASED_RDTSC_EXITING) !== 0
          ? this.exit(EXIT_REASON_RDTSC, 0)
          : HOOK_PASS;
      case EV_RDTSCP:
        return (this.proc & CPU_BASED_RDTSC_EXITING) !== 0
          ? this.exit(EXIT_REASON_RDTSCP, 0)
          : HOOK_PASS;
      case EV_EXCEPTION:
        return this.onException(x);
      case EV_EXT_INTR:
        if ((this.pin & PIN_BASED_EXT_INTR_MASK) === 0) return HOOK_PASS;
        this.exit(EXIT_REASON_EXTERNAL_INTERRUPT, 0);
        if ((this.exitCtls & VM_EXIT_ACK_INTR_ON_EXIT) !== 0) {
          // Acknowledged: the vector is taken from the controller and reported.
          this.intrInfo = interruptionInfo(x[1]! & 0xff, 0, -1);
          cpu.lowerIrq();
        }
        return HOOK_EXIT;
      case EV_NMI:
        if ((this.pin & PIN_BASED_NMI_EXITING) === 0) return HOOK_PASS;
        this.exit(EXIT_REASON_EXCEPTION_NMI, 0);
        this.intrInfo = interruptionInfo(2, 2, -1);
        cpu.st[NMI_PENDING] = 0;
        return HOOK_EXIT;
      case EV_INTR_WINDOW:
        return this.exit(EXIT_REASON_INTERRUPT_WINDOW, 0);
      case EV_NMI_WINDOW:
        return this.exit(EXIT_REASON_NMI_WINDOW, 0);
      case EV_TRIPLE_FAULT:
        this.exit(EXIT_REASON_TRIPLE_FAULT, 0);
        // The shutdown is the exit: no event was being delivered any more.
        this.idtInfo = 0;
        return HOOK_EXIT;
      case EV_VMCALL:
        return x[1] === 0 ? this.exit(EXIT_REASON_VMCALL, 0) : HOOK_PASS;
      case EV_VMX_INSN:
        // #UD comes first (SDM 31.3): outside protected mode, in virtual-8086 or
        // compatibility mode; otherwise every VMX instruction exits in non-root operation.
        if (!this.vmxInstructionsAvailable()) return HOOK_PASS;
        return this.exit(VMX_INSN_EXIT[x[1]!]!, 0);
      case EV_INVD:
        if (x[1] === 0) return this.exit(EXIT_REASON_INVD, 0);
        return (this.proc2 & SECONDARY_EXEC_WBINVD_EXITING) !== 0
          ? this.exit(EXIT_REASON_WBINVD, 0)
          : HOOK_PASS;
      case EV_RDPMC:
        return (this.proc & CPU_BASED_RDPMC_EXITING) !== 0
          ? this.exit(EXIT_REASON_RDPMC, 0)
          : HOOK_PASS;
      case EV_XSETBV:
        return this.exit(EXIT_REASON_XSETBV, 0);
      case EV_MONITOR_MWAIT:
        if (x[1] === 0) {
          return (this.proc & CPU_BASED_MONITOR_EXITING) !== 0
            ? this.exit(EXIT_REASON_MONITOR_INSTRUCTION, 0)
            : HOOK_PASS;
        }
        return (this.proc & CPU_BASED_MWAIT_EXITING) !== 0
          ? this.exit(EXIT_REASON_MWAIT_INSTRUCTION, 0)
          : HOOK_PASS;
      case EV_PAUSE:
        return (this.proc & CPU_BASED_PAUSE_EXITING) !== 0
          ? this.exit(EXIT_REASON_PAUSE_INSTRUCTION, 0)
          : HOOK_PASS;
      case EV_TASK_SWITCH:
        // Qualification: the new TSS selector, bits 31:30 the source (CALL, IRET, JMP, gate).
        return this.exit(EXIT_REASON_TASK_SWITCH, (x[1]! & 0xffff) | (x[2]! << 30));
      case EV_MMIO:
        return this.onMemory(x);
      default:
        return HOOK_PASS;
    }
  }

  /** CR0.PE = 1, RFLAGS.VM = 0 and not compatibility mode: VMX instructions do not #UD. */
  private vmxInstructionsAvailable(): boolean {
    const cpu = this.cpu;
    const st = cpu.st;
    if ((st[CR0]! & CR0_PE) === 0 || (cpu.getEflags() & (1 << 17)) !== 0) return false;
    return (st[EFER]! & EFER_LMA) === 0 || (cpu.segAr[1]! & (1 << 13)) !== 0;
  }

  /** I/O instructions (SDM 26.1.3): unconditional I/O exiting, or the I/O bitmaps. */
  private onIo(x: Int32Array): HookResult {
    const port = x[1]! & 0xffff;
    const size = x[2]!;
    if (!this.ioExits(port, size)) return HOOK_PASS;
    const isIn = x[3]! !== 0;
    const str = x[4]! !== 0;
    this.exit(
      EXIT_REASON_IO_INSTRUCTION,
      (size - 1) | (isIn ? 8 : 0) | (str ? 16 : 0) | (x[5]! !== 0 ? 32 : 0) | (port << 16),
    );
    this.ioPending = true;
    this.ioString = str;
    this.ioIn = isIn;
    return HOOK_EXIT;
  }

  private ioExits(port: number, size: number): boolean {
    if ((this.proc & CPU_BASED_USE_IO_BITMAPS) === 0) {
      return (this.proc & CPU_BASED_UNCOND_IO_EXITING) !== 0;
    }
    // Any port of the access with its bit set exits; so does wrapping past FFFFh.
    if (port + size - 1 > 0xffff) return true;
    const v = this.vmcs!;
    for (let p = port; p < port + size; p++) {
      const bitmap = Number(v.read64(SLOT_OF[p < 0x8000 ? IO_BITMAP_A : IO_BITMAP_B]!));
      const byte = this.host.phys(bitmap + ((p & 0x7fff) >>> 3), 1);
      if (!byte || ((byte[0]! >>> (p & 7)) & 1) !== 0) return true;
    }
    return false;
  }

  /** RDMSR/WRMSR (SDM 26.1.3, 25.6.9): every access exits unless the MSR bitmap clears it. */
  private msrExits(msr: number, write: boolean): boolean {
    if ((this.proc & CPU_BASED_USE_MSR_BITMAPS) === 0) return true;
    const m = msr >>> 0;
    let offset: number;
    if (m <= 0x1fff) offset = 0;
    else if (m >= 0xc000_0000 && m <= 0xc000_1fff) offset = 1024;
    else return true;
    if (write) offset += 2048;
    const index = m & 0x1fff;
    const bitmap = Number(this.vmcs!.read64(SLOT_OF[MSR_BITMAP]!));
    const byte = this.host.phys(bitmap + offset + (index >>> 3), 1);
    return !byte || ((byte[0]! >>> (index & 7)) & 1) !== 0;
  }

  /**
   * MOV to/from CR0/CR3/CR4/CR8, CLTS and LMSW (SDM 26.1.3, 26.3): the guest/host masks
   * and read shadows decide, and where the access does not exit, host-owned bits read
   * from the shadow and are not changed by writes.
   */
  private onCrAccess(x: Int32Array): HookResult {
    const v = this.vmcs!;
    const cr = x[1]!;
    const type = x[2]!;
    const gpr = x[3]!;
    const value = x[4]!;
    const cur = this.cpu.st;
    const qual = (cr & 15) | (type << 4) | ((gpr & 15) << 8);
    if (type === 0 || type === 1) {
      if (cr === 0 || cr === 4) {
        const mask = v.read32(SLOT_OF[cr === 0 ? CR0_GUEST_HOST_MASK : CR4_GUEST_HOST_MASK]!);
        const shadow = v.read32(SLOT_OF[cr === 0 ? CR0_READ_SHADOW : CR4_READ_SHADOW]!);
        const actual = cr === 0 ? cur[CR0]! : cur[CR4]!;
        if (type === 1) {
          x[4] = (actual & ~mask) | (shadow & mask);
          return HOOK_PASS;
        }
        if (((value ^ shadow) & mask) !== 0) return this.exit(EXIT_REASON_CR_ACCESS, qual);
        x[4] = (value & ~mask) | (actual & mask);
        return HOOK_PASS;
      }
      if (cr === 3) {
        if (type === 1) {
          return (this.proc & CPU_BASED_CR3_STORE_EXITING) !== 0
            ? this.exit(EXIT_REASON_CR_ACCESS, qual)
            : HOOK_PASS;
        }
        if ((this.proc & CPU_BASED_CR3_LOAD_EXITING) === 0) return HOOK_PASS;
        // A value among the CR3-target values does not exit.
        const count = Math.min(4, v.read32(SLOT_OF[CR3_TARGET_COUNT]!));
        for (let i = 0; i < count; i++) {
          if (v.read32(SLOT_OF[CR3_TARGET_VALUE0 + 2 * i]!) === value >>> 0) return HOOK_PASS;
        }
        return this.exit(EXIT_REASON_CR_ACCESS, qual);
      }
      if (cr === 8) {
        const bit = type === 0 ? CPU_BASED_CR8_LOAD_EXITING : CPU_BASED_CR8_STORE_EXITING;
        return (this.proc & bit) !== 0 ? this.exit(EXIT_REASON_CR_ACCESS, qual) : HOOK_PASS;
      }
      return HOOK_PASS;
    }
    const mask = v.read32(SLOT_OF[CR0_GUEST_HOST_MASK]!);
    const shadow = v.read32(SLOT_OF[CR0_READ_SHADOW]!);
    if (type === 2) {
      // CLTS: exits when TS is host-owned and set in the shadow; with the shadow's TS
      // clear it completes without touching CR0.TS.
      if ((mask & CR0_TS) === 0) return HOOK_PASS;
      if ((shadow & CR0_TS) !== 0) return this.exit(EXIT_REASON_CR_ACCESS, 2 << 4);
      x[4] = cur[CR0]!;
      return HOOK_PASS;
    }
    // LMSW: exits when a host-owned bit among MP, EM, TS would differ from the shadow, or
    // when it would set a host-owned PE that the shadow has clear.
    const src = value & 0xf;
    const owned = mask & 0xf;
    const differs = (src ^ shadow) & owned & 0xe;
    const setsPe = owned & CR0_PE & src & ~shadow;
    if (differs !== 0 || setsPe !== 0) {
      return this.exit(
        EXIT_REASON_CR_ACCESS,
        // Bit 6: memory operand; bits 11:8 stay 0 for LMSW; 31:16 the source data.
        (3 << 4) | (gpr < 0 ? 1 << 6 : 0) | ((value & 0xffff) << 16),
      );
    }
    x[4] = (src & ~owned) | (cur[CR0]! & owned);
    return HOOK_PASS;
  }

  /**
   * Exceptions (SDM 25.2): the exception bitmap; for #PF the error-code mask and match
   * decide whether the bit means exit or not. INT n (a software interrupt) never consults
   * it. The exit reports the event as it would have been delivered.
   */
  private onException(x: Int32Array): HookResult {
    const vector = x[1]!;
    const error = x[2]!;
    const soft = x[3]!;
    const type = eventType(
      soft === 1 ? EVENT_SOFTWARE : soft === 2 ? EVENT_PRIV_SOFTWARE : EVENT_FAULT,
      vector,
    );
    if (type === 4 || vector > 31) return HOOK_PASS;
    const v = this.vmcs!;
    let exits = ((v.read32(SLOT_OF[EXCEPTION_BITMAP]!) >>> vector) & 1) !== 0;
    if (vector === 14) {
      const match =
        ((error & v.read32(SLOT_OF[PAGE_FAULT_ERROR_CODE_MASK]!)) | 0) ===
        (v.read32(SLOT_OF[PAGE_FAULT_ERROR_CODE_MATCH]!) | 0);
      if (!match) exits = !exits;
    }
    if (!exits) return HOOK_PASS;
    this.exit(EXIT_REASON_EXCEPTION_NMI, vector === 14 ? x[4]! : 0);
    if (vector === 14) this.qualHi = x[5]!;
    this.intrInfo = interruptionInfo(vector, type, error);
    this.intrError = Math.max(0, error);
    return HOOK_EXIT;
  }

  /**
   * An access outside the core's RAM (x[1] address, [2] size, [3] 0 read / 1 write / 2
   * fetch, [4] value): through EPT — or straight to host memory without it.
   */
  private onMemory(x: Int32Array): HookResult {
    const gpa = x[1]! >>> 0;
    const size = x[2]!;
    const kind = x[3]!;
    let hpa = gpa;
    if (this.ept) {
      const access = kind === 1 ? 2 : kind === 2 ? 4 : 1;
      const t = eptTranslate(this.host, this.eptp, gpa, access);
      if (t.status !== EPT_OK) {
        const reason =
          t.status === EPT_MISCONFIG ? EXIT_REASON_EPT_MISCONFIG : EXIT_REASON_EPT_VIOLATION;
        const qual =
          t.status === EPT_MISCONFIG ? 0 : eptViolationQualification(access, t.perms, false, false);
        this.exit(reason, qual);
        this.gpa = gpa;
        return HOOK_EXIT;
      }
      hpa = t.hpa;
    }
    const bytes = this.host.phys(hpa, size);
    if (kind === 1) {
      if (bytes) for (let i = 0; i < size; i++) bytes[i] = (x[4]! >>> (8 * i)) & 0xff;
      return HOOK_DONE;
    }
    let value = 0;
    if (bytes) for (let i = size - 1; i >= 0; i--) value = (value << 8) | bytes[i]!;
    else value = -1;
    x[4] = value;
    return HOOK_DONE;
  }

  // ── VM exit ──

  /** Write the exit information and the guest state into the VMCS (SDM 28.2, 28.3). */
  private storeExit(v: VmcsRegion, timerLeft = 0): void {
    const cpu = this.cpu;
    let len = 0;
    const type = (this.intrInfo >>> 8) & 7;
    const softEvent =
      this.reason === EXIT_REASON_EXCEPTION_NMI && (type === 4 || type === 5 || type === 6);
    const softVectoring =
      (this.idtInfo & INTR_INFO_VALID_MASK) !== 0 && ((this.idtInfo >>> 8) & 7) >= 4;
    const reason = this.reason;
    const instruction = reason >= 0 && reason < 0x100 && INSTRUCTION_EXIT[reason] === 1;
    if (instruction || softEvent || softVectoring) {
      len = cpu.decodeAtRip();
    }
    if (this.ioPending) {
      const slot = cpu.dc.scratch;
      const op = cpu.dc.opcode[slot]!;
      if (op >= 0xe4 && op <= 0xe7) this.qualLo |= 64;
      if (this.ioString) this.stringIoInfo(slot);
    }
    this.w32(v, VM_EXIT_REASON, this.reason);
    this.wNat(v, EXIT_QUALIFICATION, this.qualLo, this.qualHi);
    this.wNat(
      v,
      GUEST_LINEAR_ADDRESS,
      this.glaValid ? this.glaLo : 0,
      this.glaValid ? this.glaHi : 0,
    );
    if (this.gpa >= 0) this.w64(v, GUEST_PHYSICAL_ADDRESS, BigInt(this.gpa));
    this.w32(v, VM_EXIT_INTR_INFO, this.intrInfo);
    this.w32(v, VM_EXIT_INTR_ERROR_CODE, this.intrError);
    this.w32(v, IDT_VECTORING_INFO_FIELD, this.idtInfo);
    this.w32(v, IDT_VECTORING_ERROR_CODE, this.idtError);
    this.w32(v, VM_EXIT_INSTRUCTION_LEN, len);
    this.w32(v, VMX_INSTRUCTION_INFO, this.insnInfo);
    this.storeGuestState(v, timerLeft);
    cpu.hooks = null;
  }

  /** INS/OUTS: the linear address of the memory operand and the instruction information. */
  private stringIoInfo(slot: number): void {
    const cpu = this.cpu;
    const flags = cpu.dc.flags[slot]!;
    const seg = this.ioIn ? 0 : cpu.dc.seg[slot]!;
    const reg = this.ioIn ? 7 : 6;
    const a64 = (flags & instr.F_A64) !== 0;
    const a32 = (flags & instr.F_A32) !== 0;
    let lo = cpu.regs[reg]!;
    let hi = a64 ? cpu.regsHi[reg]! : 0;
    if (!a64 && !a32) lo &= 0xffff;
    if (!a64 || seg === 4 || seg === 5) {
      const sum = (lo >>> 0) + (cpu.segBase[seg]! >>> 0);
      hi = a64 ? (hi + cpu.segBaseHi[seg]! + (sum >= 2 ** 32 ? 1 : 0)) | 0 : 0;
      lo = sum | 0;
    }
    this.glaLo = lo;
    this.glaHi = hi;
    this.glaValid = true;
    // Bits 9:7 address size (0 = 16, 1 = 32, 2 = 64), 17:15 the segment register.
    this.insnInfo = ((a64 ? 2 : a32 ? 1 : 0) << 7) | (seg << 15);
  }

  /** SDM 28.3: the guest-state area from the core. */
  private storeGuestState(v: VmcsRegion, timerLeft: number): void {
    const cpu = this.cpu;
    const st = cpu.st;
    const host = this.host;
    this.wNat(v, GUEST_CR0, st[CR0]!, 0);
    this.wNat(v, GUEST_CR3, st[CR3]!, 0);
    this.wNat(v, GUEST_CR4, st[CR4]!, 0);
    if ((this.exitCtls & VM_EXIT_SAVE_DEBUG_CONTROLS) !== 0)
      this.wNat(v, GUEST_DR7, st[DR_BASE + 7]!, 0);
    this.wNat(v, GUEST_RSP, cpu.regs[4]!, cpu.regsHi[4]!);
    this.wNat(v, GUEST_RIP, st[EIP]!, st[RIP_HI]!);
    this.wNat(v, GUEST_RFLAGS, cpu.getEflags(), 0);
    for (let n = 0; n < 8; n++) {
      this.w32(v, SEG_SEL(n), cpu.segSel[n]!);
      this.wNat(v, SEG_BASE(n), cpu.segBase[n]!, cpu.segBaseHi[n]!);
      this.w32(v, SEG_LIMIT(n), cpu.segLimit[n]!);
      this.w32(v, SEG_AR(n), cpu.segAr[n]! & 0x1_f0ff);
    }
    this.wNat(v, GUEST_GDTR_BASE, st[GDTR_BASE]!, st[GDTR_BASE_HI]!);
    this.w32(v, GUEST_GDTR_LIMIT, st[GDTR_LIMIT]! & 0xffff);
    this.wNat(v, GUEST_IDTR_BASE, st[IDTR_BASE]!, st[IDTR_BASE_HI]!);
    this.w32(v, GUEST_IDTR_LIMIT, st[IDTR_LIMIT]! & 0xffff);
    this.w32(v, GUEST_SYSENTER_CS, Number(this.getPlainMsr(MSR_SYSENTER_CS) & 0xffff_ffffn));
    this.w64(v, GUEST_SYSENTER_ESP, this.getPlainMsr(MSR_SYSENTER_ESP));
    this.w64(v, GUEST_SYSENTER_EIP, this.getPlainMsr(MSR_SYSENTER_EIP));
    if ((this.exitCtls & VM_EXIT_SAVE_IA32_PAT) !== 0)
      this.w64(v, GUEST_IA32_PAT, this.getMsr(MSR_PAT));
    if ((this.exitCtls & VM_EXIT_SAVE_IA32_EFER) !== 0)
      this.w64(v, GUEST_IA32_EFER, BigInt(st[EFER]! >>> 0));
    // "IA-32e mode guest" follows EFER.LMA (SDM 28.2).
    const entry = v.read32(S_ENTRY_CTLS);
    const lma = (st[EFER]! & EFER_LMA) !== 0;
    this.w32(
      v,
      VM_ENTRY_CONTROLS,
      lma ? entry | VM_ENTRY_IA32E_MODE : entry & ~VM_ENTRY_IA32E_MODE,
    );
    // Blocking by STI and by MOV SS are one shadow in the core: with IF set it is STI's.
    let intr = 0;
    if (st[INHIBIT]! !== 0) {
      intr |= (cpu.getEflags() & FLAG_IF) !== 0 ? GUEST_INTR_STATE_STI : GUEST_INTR_STATE_MOV_SS;
    }
    if (st[NMI_BLOCKED]! !== 0) intr |= GUEST_INTR_STATE_NMI;
    this.w32(v, GUEST_INTERRUPTIBILITY_INFO, intr);
    // A single-step trap not yet delivered (the exit came at the boundary before it) is
    // saved as pending (SDM 28.3.4); an exit that delivering the #DB caused saves none.
    this.wNat(v, GUEST_PENDING_DBG_EXCEPTIONS, cpu.pendingDebugTrap ? PENDING_DBG_BS : 0, 0);
    cpu.pendingDebugTrap = false;
    this.w32(v, GUEST_ACTIVITY_STATE, st[HALTED]! === 1 ? GUEST_ACTIVITY_HLT : 0);
    if ((this.exitCtls & VM_EXIT_SAVE_VMX_PREEMPTION_TIMER) !== 0) {
      this.w32(v, VMX_PREEMPTION_TIMER_VALUE, Math.floor(timerLeft / 2 ** this.preemptionRate));
    }
    // The general registers and CR2 stay in the processor — all but RSP, which the exit
    // takes from HOST_RSP (loadHostState), so the processor's own is kept here.
    const rsp = host.regs[4]!;
    const rspHi = host.regsHi[4]!;
    host.regs.set(this.coreGprs);
    host.regsHi.set(this.coreGprsHi);
    host.regs[4] = rsp;
    host.regsHi[4] = rspHi;
    // CR2 as the guest left it; unchanged since the entry, the host still holds it.
    if (st[CR2] !== this.cr2Lo || st[CR2_HI] !== this.cr2Hi || !this.cr2Normal) {
      const cr2 = (BigInt(st[CR2_HI]! >>> 0) << 32n) | BigInt(st[CR2]! >>> 0);
      host.cr2 = cr2;
      this.cr2Value = cr2;
      this.cr2Lo = st[CR2]!;
      this.cr2Hi = st[CR2_HI]!;
      this.cr2Normal = true;
    }
    st[HALTED] = 0;
    // What the TLB's translations were made under, for the next entry.
    const r = this.tlbRegs;
    r[0] = st[CR0]!;
    r[1] = st[CR3]!;
    r[2] = st[CR4]!;
    r[3] = st[EFER]!;
    this.tlbValid = true;
  }

  private getMsr(index: number): bigint {
    return getMsr(this.cpu, index) ?? 0n;
  }

  /**
   * An MSR every core has and keeps as a plain value (the IA32_SYSENTER MSRs): the value
   * in `cpu.msrs` is what RDMSR returns; until one is written, RDMSR's reset value.
   */
  private getPlainMsr(index: number): bigint {
    return this.cpu.msrs.get(index) ?? this.getMsr(index);
  }

  private w32(v: VmcsRegion, encoding: number, value: number): void {
    const slot = SLOT_OF[encoding]!;
    v.write32(slot, value);
    v.writeHigh32(slot, 0);
    this.vmx?.onFieldWrite?.(v.pa, encoding, "cpu");
  }

  private wNat(v: VmcsRegion, encoding: number, lo: number, hi: number): void {
    const slot = SLOT_OF[encoding]!;
    v.write32(slot, lo);
    v.writeHigh32(slot, hi);
    this.vmx?.onFieldWrite?.(v.pa, encoding, "cpu");
  }

  private w64(v: VmcsRegion, encoding: number, value: bigint): void {
    v.write64(SLOT_OF[encoding]!, value);
    this.vmx?.onFieldWrite?.(v.pa, encoding, "cpu");
  }
}
