/**
 * Guest mode on the software x86 core (APM Vol. 2 §15.5–15.13, 15.20, 15.25; reference
 * svm.md §2, §3, §6, §8): after VMRUN passed its checks, load the VMCB's state-save area
 * into a second x86 core, deliver EVENTINJ, run the guest, and let the intercept vectors,
 * the IOPM and the MSRPM decide — event by event through the core's virtualization hooks
 * — what causes #VMEXIT. At #VMEXIT: EXITCODE, EXITINFO1/2, EXITINTINFO and nRIP into
 * the control area, the guest state back into the state-save area, EVENTINJ.V cleared.
 *
 * What VMRUN does not switch stays the processor's: RBX … R15 (from `host.regs`), and
 * FS, GS, TR, LDTR with KernelGsBase, STAR, LSTAR, CSTAR, SFMASK and SYSENTER_* (the
 * VMLOAD/VMSAVE set) — the guest core takes them from the processor at VMRUN and hands
 * them back at #VMEXIT, so a VMM VMLOADs the guest's before VMRUN and VMSAVEs after, as
 * Linux's __svm_vcpu_run does.
 *
 * Memory: with NP_ENABLE, guest-physical memory is what the nested tables at nCR3 map.
 * They are walked once (nptRamRanges) and that RAM becomes the core's own, until the TLB
 * is flushed (TLB_CONTROL, INVLPGA), nCR3 or the ASID changes; every other access reaches
 * the EV_MMIO hook, where nptTranslate gives a nested page fault (exit 0x400) or the
 * access. Without nested paging guest-physical is host-physical.
 *
 * Time: guest instructions are the clock; every `timeslice` of them a host interrupt
 * arrives, which with the INTR intercept is exit 0x060 — what brings a guest that never
 * exits on its own back to its VMM.
 */
import {
  type CpuidSource,
  EVENT_EXTERNAL,
  EVENT_FAULT,
  EVENT_SOFTWARE,
  EXIT_HOOK,
  EXIT_SHUTDOWN,
  getMsr,
  type HookResult,
  hooks,
  injectEvent,
  instr,
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
  EFER_LMA,
  EFER_LME,
  EFER_SVME,
  INTERCEPT_CPUID,
  INTERCEPT_CR0_WRITE,
  INTERCEPT_EXCEPTION_OFFSET,
  INTERCEPT_HLT,
  INTERCEPT_INTn,
  INTERCEPT_INTR,
  INTERCEPT_IOIO_PROT,
  INTERCEPT_MSR_PROT,
  INTERCEPT_NMI,
  INTERCEPT_SELECTIVE_CR0,
  INTERCEPT_SHUTDOWN,
  INTERCEPT_VINTR,
  INTERCEPT_VMMCALL,
  MAX_INTERCEPT,
  MSR_EFER,
  PFERR_GUEST_FINAL_HI,
  SVM_EVTINJ_VALID,
  SVM_EVTINJ_VALID_ERR,
  SVM_EXIT_CR0_SEL_WRITE,
  SVM_EXIT_EXCP_BASE,
  SVM_EXIT_IDTR_READ,
  SVM_EXIT_INTR,
  SVM_EXIT_INVD,
  SVM_EXIT_INVLPG,
  SVM_EXIT_INVLPGA,
  SVM_EXIT_IOIO,
  SVM_EXIT_MONITOR,
  SVM_EXIT_MSR,
  SVM_EXIT_MWAIT,
  SVM_EXIT_NMI,
  SVM_EXIT_NPF,
  SVM_EXIT_PAUSE,
  SVM_EXIT_RDPMC,
  SVM_EXIT_RDTSC,
  SVM_EXIT_RDTSCP,
  SVM_EXIT_READ_CR0,
  SVM_EXIT_READ_DR0,
  SVM_EXIT_RSM,
  SVM_EXIT_SHUTDOWN,
  SVM_EXIT_TASK_SWITCH,
  SVM_EXIT_VINTR,
  SVM_EXIT_VMLOAD,
  SVM_EXIT_VMRUN,
  SVM_EXIT_VMSAVE,
  SVM_EXIT_WBINVD,
  SVM_EXIT_WRITE_CR0,
  SVM_EXIT_WRITE_DR0,
  SVM_EXIT_XSETBV,
  SVM_INTERRUPT_SHADOW_MASK,
  SVM_IOIO_ASIZE_SHIFT,
  SVM_IOIO_PORT_SHIFT,
  SVM_IOIO_REP_MASK,
  SVM_IOIO_SIZE_SHIFT,
  SVM_IOIO_STR_MASK,
  SVM_IOIO_TYPE_MASK,
  SVM_NESTED_CTL_NP_ENABLE,
  TLB_CONTROL_DO_NOTHING,
  V_IGN_TPR_MASK,
  V_INTR_PRIO_SHIFT,
  V_IRQ_MASK,
  V_TPR_MASK,
} from "../asm/svm.js";
import {
  NPT_ACCESS_FETCH,
  NPT_ACCESS_READ,
  NPT_ACCESS_WRITE,
  nptRamRanges,
  nptTranslate,
} from "./npt_walk.js";
import {
  SVM_SHUTDOWN,
  SVM_VMEXIT,
  type SvmCpu,
  type SvmProcessor,
  type SvmTlbHooks,
} from "./svm_cpu.js";
import {
  asVmcbWriter,
  msrpmBit,
  SVM_SELECTOR_DPL_MASK,
  SVM_SELECTOR_DPL_SHIFT,
  VMCB_ASID,
  VMCB_CPL,
  VMCB_CR0,
  VMCB_CR2,
  VMCB_CR3,
  VMCB_CR4,
  VMCB_DR6,
  VMCB_DR7,
  VMCB_EFER,
  VMCB_EVENT_INJ,
  VMCB_EVENT_INJ_ERR,
  VMCB_EXIT_CODE,
  VMCB_EXIT_INFO_1,
  VMCB_EXIT_INFO_2,
  VMCB_EXIT_INT_INFO,
  VMCB_EXIT_INT_INFO_ERR,
  VMCB_G_PAT,
  VMCB_GDTR,
  VMCB_IDTR,
  VMCB_INSN_LEN,
  VMCB_INT_CTL,
  VMCB_INT_STATE,
  VMCB_INT_VECTOR,
  VMCB_INTERCEPTS,
  VMCB_IOPM_BASE_PA,
  VMCB_MISC_CTL,
  VMCB_MSRPM_BASE_PA,
  VMCB_NESTED_CR3,
  VMCB_NEXT_RIP,
  VMCB_RAX,
  VMCB_RFLAGS,
  VMCB_RIP,
  VMCB_RSP,
  VMCB_SEG_ATTRIB,
  VMCB_SEG_BASE,
  VMCB_SEG_LIMIT,
  VMCB_SEGMENTS,
  VMCB_SIZE,
  VMCB_STAR,
  VMCB_SYSENTER_CS,
  VMCB_SYSENTER_EIP,
  VMCB_SYSENTER_ESP,
  VMCB_TLB_CTL,
  VMCB_TSC_OFFSET,
  Vmcb,
} from "./vmcb.js";
import { loadVmcbSegment, storeVmcbSegment } from "./vmcb_segment.js";

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
  EV_PAUSE,
  EV_RDMSR,
  EV_RDPMC,
  EV_RDTSC,
  EV_RDTSCP,
  EV_RSM,
  EV_SVM_INSN,
  EV_TASK_SWITCH,
  EV_TRIPLE_FAULT,
  EV_VMCALL,
  EV_WRMSR,
  EV_XSETBV,
  HOOK_DONE,
  HOOK_EXIT,
  HOOK_PASS,
  SVM_INSN_CLGI,
  SVM_INSN_INVLPGA,
  SVM_INSN_SKINIT,
  SVM_INSN_STGI,
  SVM_INSN_VMLOAD,
  SVM_INSN_VMRUN,
  SVM_INSN_VMSAVE,
} = hooks;
const {
  CPL,
  CR0,
  CR2,
  CR2_HI,
  CR3,
  CR4,
  CR8,
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
  INTR_LINE,
  INTR_VECTOR,
  MSR_STAR,
  NMI_BLOCKED,
  NMI_PENDING,
  RIP_HI,
} = state;

/** The processor VMRUN runs on, as guest mode needs it. */
export interface SvmNonRootHost extends SvmProcessor {
  /** RAX … R15 (ModRM order), low and high halves: VMRUN and #VMEXIT leave them alone. */
  readonly regs: Int32Array;
  readonly regsHi: Int32Array;
  /** The processor's CPUID (guests see it where CPUID is not intercepted). */
  readonly cpuid?: CpuidSource;
  /**
   * The memory bus's lock for locked instructions no JavaScript atomic covers (split
   * locks, CMPXCHG16B): one word for every processor of the host, on every thread.
   */
  readonly busLock?: Int32Array;
}

/** The host's timer interrupt (LOCAL_TIMER_VECTOR in Linux's irq_vectors.h). */
export const HOST_TIMER_VECTOR = 0xec;

const MSR_SYSENTER_CS = 0x174;
const MSR_SYSENTER_ESP = 0x175;
const MSR_SYSENTER_EIP = 0x176;
const MSR_PAT = 0x277;
const CR0_PG = 1 << 31;
const CR0_PE = 1;
/** CR0 bits a selective CR0 write may change without exit 0x065: TS (3) and MP (1). */
const CR0_SEL_IGNORED = (1 << 3) | (1 << 1);

/** EVENT_* of the x86 core → the EXITINTINFO/EVENTINJ type field. */
function eventType(kind: number, vector: number): number {
  if (kind === EVENT_EXTERNAL) return vector === 2 ? 2 : 0;
  if (kind === EVENT_SOFTWARE) return vector === 3 || vector === 4 ? 3 : 4;
  return 3;
}

/** Exit codes an instruction causes: nRIP is written for them. */
function instructionExit(code: number): boolean {
  return (
    code < SVM_EXIT_EXCP_BASE ||
    (code >= SVM_EXIT_CR0_SEL_WRITE && code <= SVM_EXIT_MSR) ||
    (code >= SVM_EXIT_VMRUN && code <= 0x08e)
  );
}

/** SVM instruction (hooks.ts SVM_INSN_*) → its exit code / intercept index. */
const SVM_INSN_EXIT: Record<number, number> = {
  [SVM_INSN_VMRUN]: SVM_EXIT_VMRUN,
  [SVM_INSN_VMLOAD]: SVM_EXIT_VMLOAD,
  [SVM_INSN_VMSAVE]: SVM_EXIT_VMSAVE,
  [SVM_INSN_STGI]: 0x084,
  [SVM_INSN_CLGI]: 0x085,
  [SVM_INSN_SKINIT]: 0x086,
  [SVM_INSN_INVLPGA]: SVM_EXIT_INVLPGA,
};

/** EV_DESC_TABLE [1] (0 SGDT 1 SIDT 2 LGDT 3 LIDT 4 SLDT 5 STR 6 LLDT 7 LTR) → exit code. */
const DESC_TABLE_EXIT = [0x067, 0x066, 0x06b, 0x06a, 0x068, 0x069, 0x06c, 0x06d];

export class SvmNonRoot implements X86Hooks, SvmTlbHooks {
  /** Instructions between host timer interrupts. */
  timeslice = 1_000_000;
  /** Where port I/O that is not intercepted goes. */
  ports: X86Devices = OPEN_BUS;
  /** Guest instructions retired in guest mode, over all VMRUNs. */
  instructions = 0;

  private readonly intercepts = new Int32Array(MAX_INTERCEPT);
  private np = false;
  private ncr3 = 0n;
  private iopm = 0;
  private msrpm = 0;
  private intCtl = 0;
  /** The processor's VMLOAD/VMSAVE set, while the guest core holds it. */
  private readonly loadable = new Vmcb(0, new Uint8Array(VMCB_SIZE));

  // The nested map the core holds, and what its TLB was filled under.
  private mappedNcr3 = -1n;
  private mappedNoNp = false;
  private tlbValid = false;
  private tlbAsid = 0;
  private readonly tlbRegs = new Int32Array(4);

  // The exit being recorded.
  private code = 0;
  private info1Lo = 0;
  private info1Hi = 0;
  private info2Lo = 0;
  private info2Hi = 0;
  private intInfo = 0;
  private intInfoErr = 0;
  private ioPending = false;

  constructor(
    readonly host: SvmNonRootHost,
    /** MAXPHYADDR, for the nested walk's reserved bits. */
    readonly physAddrBits = 48,
  ) {}

  #cpu: X86Cpu | null = null;

  /** The execution core while a guest runs (made at the first VMRUN: it is large). */
  get cpu(): X86Cpu {
    if (this.#cpu) return this.#cpu;
    const mem = new PhysMemory({
      ioRead: (port, size) => this.ports.ioRead(port, size),
      ioWrite: (port, size, value) => this.ports.ioWrite(port, size, value),
      // Accesses outside RAM are decided by the EV_MMIO hook; these never run.
      mmioRead: (_a, size) => (size === 4 ? 0xffff_ffff : (1 << (size * 8)) - 1),
      mmioWrite: () => {},
    });
    if (this.host.busLock) mem.lockWords = this.host.busLock;
    const cpu = new X86Cpu(mem);
    if (this.host.cpuid) cpu.cpuid = this.host.cpuid;
    this.#cpu = cpu;
    return cpu;
  }

  /** Forget decoded instructions (guest memory written by someone else). */
  invalidateCode(): void {
    this.#cpu?.flushDecodeCache();
  }

  /** Drop the nested map and the TLB (a full flush). */
  flushTlb(): void {
    this.mappedNcr3 = -1n;
    this.mappedNoNp = false;
    this.tlbValid = false;
  }

  // ── SvmTlbHooks ──

  invlpga(_va: bigint, _asid: number): void {
    // One page of one ASID: the core's TLB is per guest, so drop all of it.
    this.tlbValid = false;
  }

  // ── VMRUN ──

  enter(_svm: SvmCpu, vmcb: Vmcb): number {
    const cpu = this.cpu;
    for (let i = 0; i < MAX_INTERCEPT; i++)
      this.intercepts[i] = vmcb.read32(VMCB_INTERCEPTS + 4 * i);
    this.np = (vmcb.read32(VMCB_MISC_CTL) & SVM_NESTED_CTL_NP_ENABLE) !== 0;
    this.ncr3 = this.np ? vmcb.read64(VMCB_NESTED_CR3) : 0n;
    this.iopm = Number(vmcb.read64(VMCB_IOPM_BASE_PA) & ~0xfffn);
    this.msrpm = Number(vmcb.read64(VMCB_MSRPM_BASE_PA) & ~0xfffn);
    const asid = vmcb.read32(VMCB_ASID);
    if (vmcb.read8(VMCB_TLB_CTL) !== TLB_CONTROL_DO_NOTHING || asid !== this.tlbAsid) {
      this.flushTlb();
    }
    this.mapGuestMemory();
    this.loadGuestState(vmcb, asid);
    this.clearExit();
    cpu.st[EXIT_REASON] = 0;
    if (this.injectEvent(vmcb) && !this.runGuest()) return SVM_SHUTDOWN;
    this.storeExit(vmcb);
    return SVM_VMEXIT;
  }

  private intercepted(index: number): boolean {
    return ((this.intercepts[index >>> 5]! >>> (index & 31)) & 1) !== 0;
  }

  private mapGuestMemory(): void {
    const mem = this.cpu.mem;
    if (this.np) {
      if (this.mappedNcr3 === this.ncr3) return;
      for (const r of [...mem.ranges]) if (r) mem.removeRam(r.base);
      for (const r of nptRamRanges(this.host, this.ncr3, this.physAddrBits)) {
        if (r.gpa + r.bytes.length <= 2 ** 32) mem.addRam(r.gpa, r.bytes, !r.writable);
      }
      this.mappedNcr3 = this.ncr3;
      this.mappedNoNp = false;
      return;
    }
    if (this.mappedNoNp) return;
    for (const r of [...mem.ranges]) if (r) mem.removeRam(r.base);
    this.mappedNoNp = true;
    this.mappedNcr3 = -1n;
  }

  /** §8.1 step 3: the state-save area into the core (and the processor's registers). */
  private loadGuestState(v: Vmcb, asid: number): void {
    const cpu = this.cpu;
    const st = cpu.st;
    const host = this.host;
    st[CR0] = v.read32(VMCB_CR0);
    st[CR3] = v.read32(VMCB_CR3);
    st[CR4] = v.read32(VMCB_CR4);
    let efer = v.read32(VMCB_EFER) & ~EFER_LMA;
    if ((efer & EFER_LME) !== 0 && (st[CR0]! & CR0_PG) !== 0) efer |= EFER_LMA;
    st[EFER] = efer;
    st[DR_BASE + 6] = v.read32(VMCB_DR6);
    st[DR_BASE + 7] = v.read32(VMCB_DR7);
    st[CR2] = v.read32(VMCB_CR2);
    st[CR2_HI] = v.readHigh32(VMCB_CR2);
    // The VMLOAD set comes from the processor, the rest from the VMCB.
    host.vmsaveState(this.loadable);
    const cplByte = v.read8(VMCB_CPL) & 3;
    for (let n = 0; n < 8; n++) {
      const src = n <= 3 ? v : this.loadable;
      const at = VMCB_SEGMENTS[n]!;
      let attrib = src.read16(at + VMCB_SEG_ATTRIB);
      // SS.DPL is the CPL (the core derives CPL from it).
      if (n === 2) attrib = (attrib & ~SVM_SELECTOR_DPL_MASK) | (cplByte << SVM_SELECTOR_DPL_SHIFT);
      loadVmcbSegment(cpu, n, src, at, attrib);
    }
    const l = this.loadable;
    for (let i = 0; i < 5; i++) {
      st[MSR_STAR + 2 * i] = l.read32(VMCB_STAR + 8 * i);
      st[MSR_STAR + 2 * i + 1] = l.readHigh32(VMCB_STAR + 8 * i);
    }
    this.setMsr(MSR_SYSENTER_CS, l.read64(VMCB_SYSENTER_CS));
    this.setMsr(MSR_SYSENTER_ESP, l.read64(VMCB_SYSENTER_ESP));
    this.setMsr(MSR_SYSENTER_EIP, l.read64(VMCB_SYSENTER_EIP));
    if (this.np) this.setMsr(MSR_PAT, v.read64(VMCB_G_PAT));
    st[GDTR_BASE] = v.read32(VMCB_GDTR + VMCB_SEG_BASE);
    st[GDTR_BASE_HI] = v.readHigh32(VMCB_GDTR + VMCB_SEG_BASE);
    st[GDTR_LIMIT] = v.read32(VMCB_GDTR + VMCB_SEG_LIMIT) & 0xffff;
    st[IDTR_BASE] = v.read32(VMCB_IDTR + VMCB_SEG_BASE);
    st[IDTR_BASE_HI] = v.readHigh32(VMCB_IDTR + VMCB_SEG_BASE);
    st[IDTR_LIMIT] = v.read32(VMCB_IDTR + VMCB_SEG_LIMIT) & 0xffff;
    st[EIP] = v.read32(VMCB_RIP);
    st[RIP_HI] = v.readHigh32(VMCB_RIP);
    cpu.setEflags(v.read32(VMCB_RFLAGS));
    // RBX … R15 are the processor's; RAX and RSP come from the VMCB.
    for (let i = 0; i < 16; i++) {
      cpu.regs[i] = host.regs[i]!;
      cpu.regsHi[i] = host.regsHi[i]!;
    }
    cpu.regs[0] = v.read32(VMCB_RAX);
    cpu.regsHi[0] = v.readHigh32(VMCB_RAX);
    cpu.regs[4] = v.read32(VMCB_RSP);
    cpu.regsHi[4] = v.readHigh32(VMCB_RSP);
    // Virtual interrupts: V_TPR is the guest's CR8; a pending V_IRQ either exits at the
    // interrupt window (VINTR intercepted) or is taken through the core's INTR line.
    this.intCtl = v.read32(VMCB_INT_CTL);
    st[CR8] = this.intCtl & V_TPR_MASK;
    st[INHIBIT] = (v.read32(VMCB_INT_STATE) & SVM_INTERRUPT_SHADOW_MASK) !== 0 ? 1 : 0;
    st[NMI_BLOCKED] = 0;
    st[NMI_PENDING] = 0;
    st[HALTED] = 0;
    st[INTR_LINE] = 0;
    cpu.wantWindow = 0;
    if ((this.intCtl & V_IRQ_MASK) !== 0) {
      if (this.intercepted(INTERCEPT_VINTR)) {
        cpu.wantWindow = 1;
      } else if (this.virtualIrqAllowed()) {
        st[INTR_LINE] = 1;
        st[INTR_VECTOR] = v.read32(VMCB_INT_VECTOR) & 0xff;
      }
    }
    cpu.counters[1] = Number(BigInt.asIntN(64, v.read64(VMCB_TSC_OFFSET)));
    const r = this.tlbRegs;
    const keep =
      this.tlbValid &&
      asid === this.tlbAsid &&
      r[0] === st[CR0] &&
      r[1] === st[CR3] &&
      r[2] === st[CR4] &&
      r[3] === st[EFER];
    syncLoadedState(cpu, !keep);
    if ((st[CR0]! & CR0_PE) !== 0) st[CPL] = cplByte;
    this.tlbAsid = asid;
    cpu.hooks = this;
  }

  /** V_IRQ is taken unless V_TPR holds it back (V_IGN_TPR off and priority ≤ V_TPR). */
  private virtualIrqAllowed(): boolean {
    if ((this.intCtl & V_IGN_TPR_MASK) !== 0) return true;
    return ((this.intCtl >>> V_INTR_PRIO_SHIFT) & 0xf) > (this.intCtl & V_TPR_MASK);
  }

  private setMsr(index: number, value: bigint): void {
    const cpu = this.cpu;
    if (cpu.msrs.get(index) === value) return;
    setMsr(cpu, index, value);
  }

  /** EVENTINJ (§3.2): deliver it through the guest IDT. False when that caused #VMEXIT. */
  private injectEvent(v: Vmcb): boolean {
    const inj = v.read32(VMCB_EVENT_INJ);
    if ((inj & SVM_EVTINJ_VALID) === 0) return true;
    const cpu = this.cpu;
    const vector = inj & 0xff;
    const type = (inj >>> 8) & 7;
    const error = (inj & SVM_EVTINJ_VALID_ERR) !== 0 ? v.read32(VMCB_EVENT_INJ_ERR) | 0 : -1;
    switch (type) {
      case 0:
        injectEvent(cpu, vector, -1, EVENT_EXTERNAL, 0);
        break;
      case 2:
        injectEvent(cpu, 2, -1, EVENT_EXTERNAL, 0);
        break;
      case 3:
        injectEvent(cpu, vector, error, EVENT_FAULT, 0);
        break;
      default: {
        // A software interrupt returns to nRIP (what Linux writes before injecting one).
        const next = v.read32(VMCB_NEXT_RIP) || cpu.st[EIP]!;
        injectEvent(cpu, vector, -1, EVENT_SOFTWARE, next | 0);
      }
    }
    if (cpu.st[EXIT_REASON] !== 0) return false;
    cpu.st[HALTED] = 0;
    return true;
  }

  /** Run until an exit (true), or until the processor shut down unintercepted (false). */
  private runGuest(): boolean {
    const cpu = this.cpu;
    for (;;) {
      const before = cpu.counters[0]!;
      const why = cpu.run(this.timeslice);
      this.instructions += cpu.counters[0]! - before;
      if (why === EXIT_HOOK) return true;
      if (why === EXIT_SHUTDOWN) return false;
      // The budget ran out or the guest halted: the host's timer interrupt arrives.
      if (this.intercepted(INTERCEPT_INTR)) {
        this.exit(SVM_EXIT_INTR);
        return true;
      }
      if (cpu.st[HALTED] === 1) {
        throw new Error(
          "SVM: guest halted with neither HLT nor INTR intercepted; nothing can wake it",
        );
      }
    }
  }

  // ── the hooks: which events exit ──

  private clearExit(): void {
    this.code = 0;
    this.info1Lo = 0;
    this.info1Hi = 0;
    this.info2Lo = 0;
    this.info2Hi = 0;
    this.intInfo = 0;
    this.intInfoErr = 0;
    this.ioPending = false;
  }

  /** Record exit `code` with EXITINFO1 (low half), and the event in delivery if any. */
  private exit(code: number, info1 = 0): HookResult {
    this.clearExit();
    this.code = code;
    this.info1Lo = info1;
    const st = this.cpu.st;
    if (st[EVENT_DEPTH]! > 0) {
      const vector = st[EVENT_VECTOR]!;
      const error = st[EVENT_ERROR]!;
      this.intInfo =
        (vector & 0xff) |
        (eventType(st[EVENT_KIND]!, vector) << 8) |
        (error >= 0 ? SVM_EVTINJ_VALID_ERR : 0) |
        SVM_EVTINJ_VALID;
      this.intInfoErr = Math.max(0, error);
    }
    return HOOK_EXIT;
  }

  private exitIf(index: number, info1 = 0): HookResult {
    return this.intercepted(index) ? this.exit(index, info1) : HOOK_PASS;
  }

  onEvent(cpu: X86Cpu, kind: number): HookResult {
    const x = cpu.exitInfo;
    switch (kind) {
      case EV_IO:
        return this.onIo(x);
      case EV_HLT:
        return this.exitIf(INTERCEPT_HLT);
      case EV_CPUID:
        return this.exitIf(INTERCEPT_CPUID);
      case EV_RDMSR:
        return this.msrExits(x[1]!, false) ? this.exit(SVM_EXIT_MSR, 0) : HOOK_PASS;
      case EV_WRMSR:
        if (this.msrExits(x[1]!, true)) return this.exit(SVM_EXIT_MSR, 1);
        return x[1]! >>> 0 === MSR_EFER ? this.writeEfer(cpu, x[2]!, x[3]!) : HOOK_PASS;
      case EV_CR_ACCESS:
        return this.onCrAccess(x);
      case EV_DR_ACCESS: {
        // Decode assists: EXITINFO1[3:0] the GPR.
        const code = (x[2] === 0 ? SVM_EXIT_WRITE_DR0 : SVM_EXIT_READ_DR0) + (x[1]! & 15);
        return this.exitIf(code, x[3]! & 15);
      }
      case EV_INVLPG:
        if (!this.intercepted(SVM_EXIT_INVLPG)) return HOOK_PASS;
        this.exit(SVM_EXIT_INVLPG, x[1]!);
        this.info1Hi = x[2]!;
        return HOOK_EXIT;
      case EV_DESC_TABLE:
        return this.exitIf(DESC_TABLE_EXIT[x[1]!] ?? SVM_EXIT_IDTR_READ);
      case EV_RDTSC:
        return this.exitIf(SVM_EXIT_RDTSC);
      case EV_RDTSCP:
        return this.exitIf(SVM_EXIT_RDTSCP);
      case EV_RDPMC:
        return this.exitIf(SVM_EXIT_RDPMC);
      case EV_INVD:
        return this.exitIf(x[1] === 0 ? SVM_EXIT_INVD : SVM_EXIT_WBINVD);
      case EV_XSETBV:
        return this.exitIf(SVM_EXIT_XSETBV);
      case EV_MONITOR_MWAIT:
        return this.exitIf(x[1] === 0 ? SVM_EXIT_MONITOR : SVM_EXIT_MWAIT);
      case EV_PAUSE:
        return this.exitIf(SVM_EXIT_PAUSE);
      case EV_RSM:
        return this.exitIf(SVM_EXIT_RSM);
      case EV_TASK_SWITCH: {
        if (!this.intercepted(SVM_EXIT_TASK_SWITCH)) return HOOK_PASS;
        this.exit(SVM_EXIT_TASK_SWITCH, x[1]! & 0xffff);
        // EXITINFO2 bit 36: caused by IRET, bit 38: by JMP.
        this.info2Hi = x[2] === 1 ? 1 << 4 : x[2] === 2 ? 1 << 6 : 0;
        return HOOK_EXIT;
      }
      case EV_EXCEPTION:
        return this.onException(x);
      case EV_EXT_INTR:
        // The core's INTR line carries V_IRQ: taking it consumes the virtual interrupt.
        this.intCtl &= ~V_IRQ_MASK;
        return HOOK_PASS;
      case EV_NMI:
        if (!this.intercepted(INTERCEPT_NMI)) return HOOK_PASS;
        cpu.st[NMI_PENDING] = 0;
        return this.exit(SVM_EXIT_NMI);
      case EV_INTR_WINDOW:
        return this.exit(SVM_EXIT_VINTR);
      case EV_TRIPLE_FAULT:
        if (!this.intercepted(INTERCEPT_SHUTDOWN)) return HOOK_PASS;
        this.exit(SVM_EXIT_SHUTDOWN);
        this.intInfo = 0;
        this.intInfoErr = 0;
        return HOOK_EXIT;
      case EV_VMCALL:
        // VMMCALL exits when intercepted; otherwise (and VMCALL, Intel's) it is #UD.
        return x[1] === 1 ? this.exitIf(INTERCEPT_VMMCALL) : HOOK_PASS;
      case EV_SVM_INSN:
        return this.onSvmInstruction(cpu, x[1]!);
      case EV_MMIO:
        return this.onMemory(x);
      default:
        return HOOK_PASS;
    }
  }

  /**
   * A guest WRMSR to EFER that is not intercepted: the core checks and keeps the bits its
   * CPUID lists; SVME, which the guest sees set, is kept here.
   */
  private writeEfer(cpu: X86Cpu, lo: number, hi: number): HookResult {
    const value = (BigInt(hi >>> 0) << 32n) | BigInt((lo & ~EFER_SVME) >>> 0);
    if (!setMsr(cpu, MSR_EFER, value)) {
      injectEvent(cpu, 13, 0, EVENT_FAULT, 0);
      return HOOK_DONE;
    }
    cpu.st[EFER] = cpu.st[EFER]! | (lo & EFER_SVME);
    return HOOK_DONE;
  }

  /** SVM instructions in the guest: #UD without the guest's EFER.SVME, #GP at CPL > 0. */
  private onSvmInstruction(cpu: X86Cpu, id: number): HookResult {
    if ((cpu.st[EFER]! & EFER_SVME) === 0) return HOOK_PASS;
    if (cpu.st[CPL] !== 0) {
      injectEvent(cpu, 13, 0, EVENT_FAULT, 0);
      return HOOK_DONE;
    }
    const code = SVM_INSN_EXIT[id];
    // Not intercepted: nested SVM in the guest is not modelled.
    return code !== undefined && this.intercepted(code) ? this.exit(code) : HOOK_PASS;
  }

  /** IN/OUT/INS/OUTS: the IOIO intercept and the IOPM (§3.6, EXITINFO1 per §6.1). */
  private onIo(x: Int32Array): HookResult {
    if (!this.intercepted(INTERCEPT_IOIO_PROT)) return HOOK_PASS;
    const port = x[1]! & 0xffff;
    const size = x[2]!;
    let hit = false;
    for (let p = port; p < port + size && !hit; p++) {
      const b = this.host.phys(this.iopm + (p >>> 3), 1);
      hit = !b || ((b[0]! >>> (p & 7)) & 1) !== 0;
    }
    if (!hit) return HOOK_PASS;
    this.exit(
      SVM_EXIT_IOIO,
      (port << SVM_IOIO_PORT_SHIFT) |
        (size << SVM_IOIO_SIZE_SHIFT) |
        (x[3] !== 0 ? SVM_IOIO_TYPE_MASK : 0) |
        (x[4] !== 0 ? SVM_IOIO_STR_MASK : 0) |
        (x[5] !== 0 ? SVM_IOIO_REP_MASK : 0),
    );
    this.ioPending = true;
    return HOOK_EXIT;
  }

  /** RDMSR/WRMSR: the MSR_PROT intercept and the MSRPM (MSRs outside its ranges exit). */
  private msrExits(msr: number, write: boolean): boolean {
    if (!this.intercepted(INTERCEPT_MSR_PROT)) return false;
    const bit = msrpmBit(msr, write);
    if (bit < 0) return true;
    const b = this.host.phys(this.msrpm + (bit >>> 3), 1);
    return !b || ((b[0]! >>> (bit & 7)) & 1) !== 0;
  }

  /**
   * MOV from/to CRn, CLTS, LMSW: the CR read/write intercepts, then for CR0 writes the
   * selective CR0 intercept (a change to a bit other than TS and MP). Decode assists:
   * EXITINFO1 bit 63 set for MOV CRn with the GPR in bits 3:0.
   */
  private onCrAccess(x: Int32Array): HookResult {
    const cr = x[1]! & 15;
    const type = x[2]!;
    const isMov = type === 0 || type === 1;
    const gpr = x[3]!;
    if (type === 1) {
      if (!this.intercepted(SVM_EXIT_READ_CR0 + cr)) return HOOK_PASS;
      this.exit(SVM_EXIT_READ_CR0 + cr, gpr & 15);
      this.info1Hi = 1 << 31;
      return HOOK_EXIT;
    }
    if (this.intercepted(INTERCEPT_CR0_WRITE + cr)) {
      this.exit(SVM_EXIT_WRITE_CR0 + cr, isMov ? gpr & 15 : 0);
      if (isMov) this.info1Hi = 1 << 31;
      return HOOK_EXIT;
    }
    if (cr === 0 && type !== 2 && this.intercepted(INTERCEPT_SELECTIVE_CR0)) {
      const old = this.cpu.st[CR0]!;
      // LMSW writes only bits 3:0 (and cannot clear PE).
      const value = type === 3 ? (old & ~0xe) | (x[4]! & 0xf) : x[4]!;
      if (((old ^ value) & ~CR0_SEL_IGNORED) !== 0) {
        this.exit(SVM_EXIT_CR0_SEL_WRITE, isMov ? gpr & 15 : 0);
        if (isMov) this.info1Hi = 1 << 31;
        return HOOK_EXIT;
      }
    }
    return HOOK_PASS;
  }

  /**
   * Exceptions by vector (0x040 + n): EXITINFO1 the error code, EXITINFO2 the #PF
   * address. INT n is the INTn intercept instead (INT3/INTO raise #BP/#OF and use theirs).
   */
  private onException(x: Int32Array): HookResult {
    const vector = x[1]!;
    const error = x[2]!;
    const soft = x[3]!;
    if (soft === 1 && vector !== 3 && vector !== 4) return this.exitIf(INTERCEPT_INTn, vector);
    if (vector > 31 || !this.intercepted(INTERCEPT_EXCEPTION_OFFSET + vector)) return HOOK_PASS;
    this.exit(SVM_EXIT_EXCP_BASE + vector, Math.max(0, error));
    if (vector === 14) {
      this.info2Lo = x[4]!;
      this.info2Hi = x[5]!;
    }
    return HOOK_EXIT;
  }

  /** An access outside the core's RAM: through the nested tables, or to host memory. */
  private onMemory(x: Int32Array): HookResult {
    const gpa = x[1]! >>> 0;
    const size = x[2]!;
    const kind = x[3]!;
    let hpa = gpa;
    if (this.np) {
      const access =
        kind === 1 ? NPT_ACCESS_WRITE : kind === 2 ? NPT_ACCESS_FETCH : NPT_ACCESS_READ;
      const t = nptTranslate(this.host, this.ncr3, gpa, access, this.physAddrBits);
      if (!t.ok) {
        this.exit(SVM_EXIT_NPF, t.errorCode);
        // The model sees only final accesses here (the core walks guest tables in RAM).
        this.info1Hi = PFERR_GUEST_FINAL_HI;
        this.info2Lo = gpa | 0;
        this.info2Hi = 0;
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

  // ── #VMEXIT ──

  /** §8.2 steps 1–2: exit information into the control area, guest state into the save area. */
  private storeExit(v: Vmcb): void {
    asVmcbWriter("#VMEXIT", () => this.storeExitFields(v));
  }

  private storeExitFields(v: Vmcb): void {
    const cpu = this.cpu;
    const st = cpu.st;
    let nripLo = 0;
    let nripHi = 0;
    if (instructionExit(this.code)) {
      const len = cpu.decodeAtRip();
      const sum = (st[EIP]! >>> 0) + len;
      nripLo = sum | 0;
      nripHi = (st[RIP_HI]! + (sum > 0xffff_ffff ? 1 : 0)) | 0;
      if (this.ioPending) {
        const flags = cpu.dc.flags[cpu.dc.scratch]!;
        const asize = (flags & instr.F_A64) !== 0 ? 4 : (flags & instr.F_A32) !== 0 ? 2 : 1;
        this.info1Lo |= asize << SVM_IOIO_ASIZE_SHIFT;
        this.info2Lo = nripLo;
        this.info2Hi = nripHi;
      }
    }
    v.write64Halves(VMCB_EXIT_CODE, this.code, 0);
    v.write64Halves(VMCB_EXIT_INFO_1, this.info1Lo, this.info1Hi);
    v.write64Halves(VMCB_EXIT_INFO_2, this.info2Lo, this.info2Hi);
    v.write32(VMCB_EXIT_INT_INFO, this.intInfo);
    v.write32(VMCB_EXIT_INT_INFO_ERR, this.intInfoErr);
    v.write64Halves(VMCB_NEXT_RIP, nripLo, nripHi);
    v.write8(VMCB_INSN_LEN, 0);
    v.write32(VMCB_EVENT_INJ, v.read32(VMCB_EVENT_INJ) & ~SVM_EVTINJ_VALID);
    this.storeGuestState(v);
    cpu.hooks = null;
  }

  private storeGuestState(v: Vmcb): void {
    const cpu = this.cpu;
    const st = cpu.st;
    const host = this.host;
    const l = this.loadable;
    for (let n = 0; n < 8; n++) {
      const dst = n <= 3 ? v : l;
      storeVmcbSegment(cpu, n, dst, VMCB_SEGMENTS[n]!);
    }
    for (let i = 0; i < 5; i++) {
      l.write64Halves(VMCB_STAR + 8 * i, st[MSR_STAR + 2 * i]!, st[MSR_STAR + 2 * i + 1]!);
    }
    l.write64(VMCB_SYSENTER_CS, this.getMsr(MSR_SYSENTER_CS));
    l.write64(VMCB_SYSENTER_ESP, this.getMsr(MSR_SYSENTER_ESP));
    l.write64(VMCB_SYSENTER_EIP, this.getMsr(MSR_SYSENTER_EIP));
    host.vmloadState(l);
    if (this.np) v.write64(VMCB_G_PAT, this.getMsr(MSR_PAT));
    v.write64Halves(VMCB_GDTR + VMCB_SEG_BASE, st[GDTR_BASE]!, st[GDTR_BASE_HI]!);
    v.write32(VMCB_GDTR + VMCB_SEG_LIMIT, st[GDTR_LIMIT]! & 0xffff);
    v.write64Halves(VMCB_IDTR + VMCB_SEG_BASE, st[IDTR_BASE]!, st[IDTR_BASE_HI]!);
    v.write32(VMCB_IDTR + VMCB_SEG_LIMIT, st[IDTR_LIMIT]! & 0xffff);
    v.write8(VMCB_CPL, (st[CR0]! & CR0_PE) !== 0 ? st[CPL]! : 0);
    v.write64Halves(VMCB_EFER, st[EFER]!, 0);
    v.write64Halves(VMCB_CR0, st[CR0]!, 0);
    v.write64Halves(VMCB_CR2, st[CR2]!, st[CR2_HI]!);
    v.write64Halves(VMCB_CR3, st[CR3]!, 0);
    v.write64Halves(VMCB_CR4, st[CR4]!, 0);
    v.write64Halves(VMCB_DR6, st[DR_BASE + 6]!, 0);
    v.write64Halves(VMCB_DR7, st[DR_BASE + 7]!, 0);
    v.write64Halves(VMCB_RFLAGS, cpu.getEflags(), 0);
    v.write64Halves(VMCB_RIP, st[EIP]!, st[RIP_HI]!);
    v.write64Halves(VMCB_RSP, cpu.regs[4]!, cpu.regsHi[4]!);
    v.write64Halves(VMCB_RAX, cpu.regs[0]!, cpu.regsHi[0]!);
    // V_TPR and V_IRQ back into int_ctl; the interrupt shadow into int_state.
    v.write32(VMCB_INT_CTL, (this.intCtl & ~V_TPR_MASK) | (st[CR8]! & V_TPR_MASK));
    v.write32(VMCB_INT_STATE, st[INHIBIT] !== 0 ? SVM_INTERRUPT_SHADOW_MASK : 0);
    // The general registers stay in the processor (RAX and RSP come back from HSAVE).
    for (let i = 0; i < 16; i++) {
      host.regs[i] = cpu.regs[i]!;
      host.regsHi[i] = cpu.regsHi[i]!;
    }
    st[HALTED] = 0;
    st[INTR_LINE] = 0;
    cpu.wantWindow = 0;
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
}
