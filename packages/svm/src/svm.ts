/**
 * arch/x86/kvm/svm/svm.c — kvm_amd: module setup (svm_hardware_setup), SVM on and off per
 * CPU (EFER.SVME, VM_HSAVE_PA with the per-CPU host save area), the vCPU's VMCB
 * (svm_vcpu_create, init_vmcb, svm_vcpu_reset), ASIDs, the register, MSR and
 * event-injection ops KVM calls, svm_vcpu_run with VMRUN and #VMEXIT, and the exit handlers
 * of svm_exit_handlers. main.ts puts them in one table (svm_x86_ops).
 *
 * The kvm_amd of a part with NPT, NRIPS, VMCB clean bits, flush-by-ASID and decode assists:
 * no shadow paging, no AVIC, no vGIF/vNMI, no SEV, no nested SVM (nested=0), no in-kernel
 * LAPIC. Every I/O port and every MSR is intercepted (the IOPM and MSRPM are all ones).
 *
 * MMIO (an NPF on an address no memslot backs) and string I/O (INS/OUTS) go through KVM's
 * instruction emulator (x86EmulateInstruction → svm_x86_ops.emulateInstruction,
 * emulate.ts); task switches are not emulated (KVM_EXIT_INTERNAL_ERROR).
 *
 * As in the vmx package, kvm-kernel reads CR0, CR3 and the GPRs from vcpu.arch, so after
 * each #VMEXIT the registers the guest changes without an exit are folded back at once.
 */
import {
  EFER_LMA,
  EFER_LME,
  EMULTYPE_SKIP,
  EXIT_FASTPATH_NONE,
  gfnToMemslot,
  guestCpuidHas,
  type HostKernel,
  is64BitMode,
  isNoncanonicalAddress,
  KVM_REQ_EVENT,
  type Kvm,
  type KvmExitInfo,
  type KvmVcpu,
  type KvmVendorModule,
  kvmClearExceptionQueue,
  kvmClearInterruptQueue,
  kvmCompleteInsnGp,
  kvmEmulateAsNop,
  kvmEmulateCpuid,
  kvmEmulateHalt,
  kvmEmulateRdmsr,
  kvmEmulateWrmsr,
  kvmFastPio,
  kvmGetCr8,
  kvmGetLinearRip,
  kvmGetMsrCommon,
  kvmInjectGp,
  kvmMakeRequest,
  kvmMmuPageFault,
  kvmPrepareUnexpectedReasonExit,
  kvmQueueException,
  kvmQueueInterrupt,
  kvmRegisterRead,
  kvmRegisterReadMode,
  kvmRegisterWrite,
  kvmRequeueException,
  kvmRipRead,
  kvmRipWrite,
  kvmSetCr0,
  kvmSetCr3,
  kvmSetCr4,
  kvmSetCr8Guest,
  kvmSetMsrCommon,
  kvmSkipEmulatedInstruction,
  MSR_CSTAR,
  MSR_EFER,
  MSR_FS_BASE,
  MSR_GS_BASE,
  MSR_IA32_CR_PAT,
  MSR_IA32_DEBUGCTLMSR,
  MSR_IA32_FEAT_CTL,
  MSR_IA32_SPEC_CTRL,
  MSR_IA32_SYSENTER_CS,
  MSR_IA32_SYSENTER_EIP,
  MSR_IA32_SYSENTER_ESP,
  MSR_KERNEL_GS_BASE,
  MSR_LSTAR,
  MSR_STAR,
  MSR_SYSCALL_MASK,
  MSR_TSC_AUX,
  type MsrData,
  PFERR_WRITE_MASK,
  traceKvmExit,
  VCPU_EXREG_CR0,
  VCPU_EXREG_CR3,
  VCPU_REGS_RAX,
  VCPU_REGS_RCX,
  VCPU_REGS_RDX,
  VCPU_REGS_RIP,
  VCPU_REGS_RSP,
  VCPU_SREG_CS,
  VCPU_SREG_SS,
  VCPU_SREG_TR,
  x86EmulateInstruction,
} from "@glassvm/kvm-kernel";
import {
  EBUSY,
  EIO,
  KVM_EXIT_DEBUG,
  KVM_EXIT_FAIL_ENTRY,
  KVM_EXIT_SET_TPR,
  KVM_EXIT_SHUTDOWN,
  KVM_GUESTDBG_ENABLE,
  KVM_GUESTDBG_SINGLESTEP,
  KVM_GUESTDBG_USE_HW_BP,
  KVM_GUESTDBG_USE_SW_BP,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY,
  KVM_X86_SHADOW_INT_MOV_SS,
  KVM_X86_SHADOW_INT_STI,
  type KvmDtable,
  type KvmSegment,
} from "@glassvm/kvm-kernel/uapi";
import { getMsr, setMsr, type X86Cpu } from "@glassvm/x86";
import {
  EFER_SVME,
  INTERCEPT_CLGI,
  INTERCEPT_CPUID,
  INTERCEPT_CR0_READ,
  INTERCEPT_CR0_WRITE,
  INTERCEPT_CR4_READ,
  INTERCEPT_CR4_WRITE,
  INTERCEPT_CR8_WRITE,
  INTERCEPT_DR0_READ,
  INTERCEPT_DR0_WRITE,
  INTERCEPT_HLT,
  INTERCEPT_INTR,
  INTERCEPT_INVD,
  INTERCEPT_INVLPGA,
  INTERCEPT_IOIO_PROT,
  INTERCEPT_IRET,
  INTERCEPT_MONITOR,
  INTERCEPT_MSR_PROT,
  INTERCEPT_MWAIT,
  INTERCEPT_NMI,
  INTERCEPT_RDPMC,
  INTERCEPT_RDPRU,
  INTERCEPT_RSM,
  INTERCEPT_SELECTIVE_CR0,
  INTERCEPT_SHUTDOWN,
  INTERCEPT_SKINIT,
  INTERCEPT_STGI,
  INTERCEPT_TASK_SWITCH,
  INTERCEPT_VINTR,
  INTERCEPT_VMLOAD,
  INTERCEPT_VMMCALL,
  INTERCEPT_VMRUN,
  INTERCEPT_VMSAVE,
  INTERCEPT_WBINVD,
  INTERCEPT_XSETBV,
  MSR_VM_CR,
  MSR_VM_HSAVE_PA,
  SVM_CPUID_FUNC,
  SVM_EVTINJ_TYPE_EXEPT,
  SVM_EVTINJ_TYPE_INTR,
  SVM_EVTINJ_TYPE_NMI,
  SVM_EVTINJ_TYPE_SOFT,
  SVM_EVTINJ_VALID,
  SVM_EVTINJ_VALID_ERR,
  SVM_EXIT_CLGI,
  SVM_EXIT_CPUID,
  SVM_EXIT_CR0_SEL_WRITE,
  SVM_EXIT_ERR,
  SVM_EXIT_EXCP_BASE,
  SVM_EXIT_HLT,
  SVM_EXIT_INTR,
  SVM_EXIT_INVD,
  SVM_EXIT_INVLPG,
  SVM_EXIT_INVLPGA,
  SVM_EXIT_IOIO,
  SVM_EXIT_IRET,
  SVM_EXIT_MONITOR,
  SVM_EXIT_MSR,
  SVM_EXIT_MWAIT,
  SVM_EXIT_NMI,
  SVM_EXIT_NPF,
  SVM_EXIT_PAUSE,
  SVM_EXIT_RDPMC,
  SVM_EXIT_RDPRU,
  SVM_EXIT_RDTSCP,
  SVM_EXIT_READ_CR0,
  SVM_EXIT_READ_DR0,
  SVM_EXIT_SHUTDOWN,
  SVM_EXIT_SKINIT,
  SVM_EXIT_SMI,
  SVM_EXIT_STGI,
  SVM_EXIT_VINTR,
  SVM_EXIT_VMLOAD,
  SVM_EXIT_VMMCALL,
  SVM_EXIT_VMRUN,
  SVM_EXIT_VMSAVE,
  SVM_EXIT_WBINVD,
  SVM_EXIT_WRITE_CR0,
  SVM_EXIT_WRITE_DR0,
  SVM_EXIT_XSETBV,
  SVM_EXITINTINFO_TYPE_EXEPT,
  SVM_EXITINTINFO_TYPE_INTR,
  SVM_EXITINTINFO_TYPE_MASK,
  SVM_EXITINTINFO_TYPE_NMI,
  SVM_EXITINTINFO_TYPE_SOFT,
  SVM_EXITINTINFO_VALID,
  SVM_EXITINTINFO_VALID_ERR,
  SVM_EXITINTINFO_VEC_MASK,
  SVM_FEATURE_FLUSH_ASID,
  SVM_FEATURE_NPT,
  SVM_FEATURE_NRIP,
  SVM_INTERRUPT_SHADOW_MASK,
  SVM_IOIO_SIZE_MASK,
  SVM_IOIO_SIZE_SHIFT,
  SVM_IOIO_STR_MASK,
  SVM_IOIO_TYPE_MASK,
  SVM_NESTED_CTL_NP_ENABLE,
  TLB_CONTROL_DO_NOTHING,
  TLB_CONTROL_FLUSH_ALL_ASID,
  TLB_CONTROL_FLUSH_ASID,
  V_IGN_TPR_MASK,
  V_INTR_MASKING_MASK,
  V_INTR_PRIO_MASK,
  V_INTR_PRIO_SHIFT,
  V_IRQ_MASK,
  V_TPR_MASK,
  X86_FEATURE_SVM_BIT,
} from "./asm/svm.js";
import { HostCpu } from "./hw/host_cpu.js";
import { SVM_VMEXIT, svmOutcomeName } from "./hw/svm_cpu.js";
import {
  IOPM_SIZE,
  MSRPM_SIZE,
  SVM_SELECTOR_AVL_MASK,
  SVM_SELECTOR_DB_MASK,
  SVM_SELECTOR_DPL_MASK,
  SVM_SELECTOR_DPL_SHIFT,
  SVM_SELECTOR_G_MASK,
  SVM_SELECTOR_L_MASK,
  SVM_SELECTOR_P_MASK,
  SVM_SELECTOR_S_MASK,
  SVM_SELECTOR_TYPE_MASK,
  VMCB_ASID,
  VMCB_CLEAN,
  VMCB_CLEAN_ALL,
  VMCB_CPL,
  VMCB_CR0,
  VMCB_CR2,
  VMCB_CR3,
  VMCB_CR4,
  VMCB_CSTAR,
  VMCB_DBGCTL,
  VMCB_DR6,
  VMCB_DR7,
  VMCB_EFER,
  VMCB_EVENT_INJ,
  VMCB_EVENT_INJ_ERR,
  VMCB_EXIT_INFO_1,
  VMCB_EXIT_INFO_2,
  VMCB_EXIT_INT_INFO,
  VMCB_EXIT_INT_INFO_ERR,
  VMCB_G_PAT,
  VMCB_GDTR,
  VMCB_IDTR,
  VMCB_INT_CTL,
  VMCB_INT_STATE,
  VMCB_INT_VECTOR,
  VMCB_INTERCEPT_EXCEPTIONS,
  VMCB_IOPM_BASE_PA,
  VMCB_KERNEL_GS_BASE,
  VMCB_LSTAR,
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
  VMCB_SFMASK,
  VMCB_STAR,
  VMCB_SYSENTER_CS,
  VMCB_SYSENTER_EIP,
  VMCB_SYSENTER_ESP,
  VMCB_TLB_CTL,
  VMCB_TSC_OFFSET,
  Vmcb,
} from "./hw/vmcb.js";
import { NPT_GFN_LIMIT, type NptMemslot, NptMmu } from "./mmu/npt.js";

// ───────────────────────────── architectural numbers ─────────────────────────────

const X86_CR0_PE = 1 << 0;
const X86_CR0_NW = 1 << 29;
const X86_CR0_CD = 1 << 30;
const X86_CR0_PG = 0x8000_0000;
const X86_CR4_DE = 1 << 3;
const X86_EFLAGS_TF = 1 << 8;
const X86_EFLAGS_IF = 1 << 9;
const X86_EFLAGS_RF = 1 << 16;

const DB_VECTOR = 1;
const BP_VECTOR = 3;
const OF_VECTOR = 4;
const UD_VECTOR = 6;
const AC_VECTOR = 17;
const MC_VECTOR = 18;

/** uapi/linux/kvm_para.h. */
const KVM_HC_VAPIC_POLL_IRQ = 1;
const KVM_EPERM = 1n;
const KVM_ENOSYS = 1000n;

/** asm/debugreg.h. */
const DR6_ACTIVE_LOW = 0xffff_0ff0n;
const DR6_VOLATILE = 0x0001_e80fn;
const DR7_FIXED_1 = 0x400n;
const DR7_VOLATILE = 0xffff_2bffn;
const DR7_GD = 1n << 13n;

/** Decode assists: EXITINFO1 bit 63 says a MOV CRn was decoded; bits 3:0 name its GPR. */
const CR_VALID_HI = 1 << 31;
const SVM_EXITINFO_REG_MASK = 0xf;

/** The GPRs the VMCB does not hold (all but RAX and RSP), as bits of regs_dirty. */
const GPRS_IN_REGS_ARRAY = 0xffff & ~((1 << VCPU_REGS_RAX) | (1 << VCPU_REGS_RSP));
/** Everything svm_vcpu_run leaves in vcpu.arch after #VMEXIT: GPRs and RIP. */
const REGS_AFTER_EXIT = (1 << 17) - 1;

const PAT_DEFAULT = 0x0007_0406_0007_0406n;

// ───────────────────────────── module state ─────────────────────────────

/** struct svm_cpu_data: one host CPU's SVM state. */
export interface SvmCpuData {
  readonly cpu: HostCpu;
  /** The host save area (VM_HSAVE_PA), also where the host's VMSAVE set goes. */
  readonly saveArea: { pa: number; bytes: Uint8Array };
  /** ASID allocation: the generation, the next free ASID and the range. */
  asidGeneration: number;
  nextAsid: number;
  maxAsid: number;
  minAsid: number;
  /** The VMCB that last ran here (current_vmcb). */
  currentVmcb: number;
}

/** kvm_amd's global state: the host CPUs, their svm_cpu_data, the shared IOPM. */
export class KvmAmd {
  readonly cpus: HostCpu[];
  readonly sd = new Map<number, SvmCpuData>();
  /** iopm_base: one 12 KiB I/O permission map every VMCB points at (all ones). */
  iopmPa = 0;
  /** svm_hardware_setup found nested paging and NRIPS. */
  nptEnabled = false;
  nrips = false;
  flushByAsid = false;

  constructor(
    readonly kernel: HostKernel,
    nrCpus = 1,
  ) {
    this.cpus = Array.from({ length: nrCpus }, (_, i) => new HostCpu(kernel, i));
    // The processors' retired-instruction counters, for the kernel's InstructionClock.
    kernel.instRetired = () => {
      let n = 0;
      for (const c of this.cpus) n += c.nonRoot.instructions;
      return n;
    };
  }

  /**
   * svm_hardware_setup: the CPU must have SVM (CPUID 8000_0001h.ECX[2]) with NPT (npt=1 is
   * the only mode modelled) and NRIPS; the IOPM and each CPU's save area are allocated.
   */
  svmHardwareSetup(): number {
    const out = new Int32Array(4);
    const cpu = this.cpus[0]!;
    cpu.cpuid(0x8000_0001, 0, out);
    if (((out[2]! >>> X86_FEATURE_SVM_BIT) & 1) === 0) {
      this.kernel.printk("kvm_amd: SVM not supported by CPU");
      return -EIO;
    }
    cpu.cpuid(SVM_CPUID_FUNC, 0, out);
    const features = out[3]!;
    this.nptEnabled = (features & SVM_FEATURE_NPT) !== 0;
    this.nrips = (features & SVM_FEATURE_NRIP) !== 0;
    this.flushByAsid = (features & SVM_FEATURE_FLUSH_ASID) !== 0;
    if (!this.nptEnabled) {
      this.kernel.printk("kvm_amd: Nested Paging required (shadow paging is not modelled)");
      return -EIO;
    }
    this.iopmPa = allocPagesContiguous(this.kernel, IOPM_SIZE / 4096, 0xff);
    for (const c of this.cpus) {
      this.sd.set(c.id, {
        cpu: c,
        saveArea: this.kernel.allocPage(),
        asidGeneration: 1,
        nextAsid: out[1]!,
        maxAsid: out[1]! - 1,
        minAsid: 1,
        currentVmcb: 0,
      });
    }
    this.kernel.printk("kvm_amd: Nested Paging enabled");
    return 0;
  }

  /** svm_hardware_unsetup: the save areas and the IOPM go back to the page allocator. */
  svmHardwareUnsetup(): void {
    for (const sd of this.sd.values()) this.kernel.freePage(sd.saveArea.pa);
    this.sd.clear();
    for (let i = 0; i < IOPM_SIZE / 4096; i++) this.kernel.freePage(this.iopmPa + i * 4096);
    this.iopmPa = 0;
  }

  /**
   * svm_hardware_enable (svm_enable_virtualization_cpu): EFER.SVME on, VM_HSAVE_PA = the
   * CPU's save area. -EBUSY if SVM is already on (another hypervisor).
   */
  svmHardwareEnable(cpu: HostCpu): number {
    if ((cpu.efer() & EFER_SVME) !== 0) return -EBUSY;
    const sd = this.sd.get(cpu.id);
    if (!sd) return -EIO;
    sd.asidGeneration = 1;
    sd.maxAsid = cpu.svm.caps.nasid - 1;
    sd.nextAsid = sd.maxAsid + 1;
    if (!cpu.wrmsr(MSR_EFER, BigInt((cpu.efer() | EFER_SVME) >>> 0))) {
      this.kernel.printk(`kvm_amd: SVM is disabled by the BIOS on CPU ${cpu.id} (VM_CR.SVMDIS)`);
      return -EIO;
    }
    cpu.wrmsr(MSR_VM_HSAVE_PA, BigInt(sd.saveArea.pa));
    return 0;
  }

  /** svm_hardware_disable: VM_HSAVE_PA = 0 and EFER.SVME off. */
  svmHardwareDisable(cpu: HostCpu): void {
    cpu.wrmsr(MSR_VM_HSAVE_PA, 0n);
    cpu.wrmsr(MSR_EFER, BigInt((cpu.efer() & ~EFER_SVME) >>> 0));
  }
}

/** `n` physically consecutive pages filled with `fill`; the address of the first. */
function allocPagesContiguous(kernel: HostKernel, n: number, fill: number): number {
  for (;;) {
    const pages = Array.from({ length: n }, () => kernel.allocPage());
    if (pages.every((p, i) => p.pa === pages[0]!.pa + i * 4096)) {
      for (const p of pages) p.bytes.fill(fill);
      return pages[0]!.pa;
    }
    for (const p of pages) kernel.freePage(p.pa);
  }
}

/** kvm.module when kvm_amd is the vendor. */
export interface KvmAmdVendorModule extends KvmVendorModule {
  readonly amd: KvmAmd;
}

export const toKvmAmd = (kvm: Kvm): KvmAmd => (kvm.module as KvmAmdVendorModule).amd;

/** struct kvm_svm: kvm_amd's part of a VM — the nested page tables of its memslots. */
export class KvmSvm {
  readonly npt: NptMmu;
  /** The kvm.mmuInvalidateSeq the NPT was built for (-1: not yet). */
  mmuSeq = -1;

  constructor(kernel: HostKernel) {
    this.npt = new NptMmu(kernel);
  }
}

export const toKvmSvm = (kvm: Kvm): KvmSvm => kvm.vendor as KvmSvm;

/** svm_vm_init. */
export function svmVmInit(kvm: Kvm): number {
  kvm.vendor = new KvmSvm(kvm.kernel);
  return 0;
}

/** svm_vm_destroy: the nested tables are freed. */
export function svmVmDestroy(kvm: Kvm): void {
  toKvmSvm(kvm).npt.free();
}

// ───────────────────────────── per-vCPU state ─────────────────────────────

/** struct vcpu_svm (vmcb01 only: no nested guest). */
export class VcpuSvm {
  vcpu: KvmVcpu | null = null;
  /** The VMCB page this vCPU runs from. */
  readonly vmcb: Vmcb;
  /** The host CPU it is loaded on. */
  cpu: HostCpu;
  /** The CPU the VMCB last ran on (-1: never): a move marks every clean bit dirty. */
  vmcbCpu = -1;
  /** The ASID generation of svm_cpu_data this vCPU's ASID belongs to. */
  asidGeneration = 0;
  /** The exit code of the last #VMEXIT (−1: VMEXIT_INVALID). */
  exitCode = 0;
  /** A VMRUN that faulted as an instruction (#UD/#GP) rather than exiting. */
  vmrunFault = 0;
  /** svm->nmi_masked, svm->awaiting_iret_completion, svm->nmi_singlestep. */
  nmiMasked = false;
  awaitingIretCompletion = false;
  nmiIretRip = 0n;
  nmiSinglestep = false;
  nmiSinglestepGuestRflags = 0;
  /** Guest GPRs (all but RAX/RSP, which the VMCB holds) as 32-bit halves. */
  readonly gprs = new Int32Array(16);
  readonly gprsHi = new Int32Array(16);
  /** TSC_AUX (a user-return MSR in Linux), XCR0, VM_HSAVE_PA as the guest wrote it. */
  tscAux = 0n;
  xcr0 = 1n;
  guestHsavePa = 0n;
  /** guest_state_loaded: prepare_switch_to_guest ran since the last vcpu_put. */
  guestStateLoaded = false;
  /** The NPT build (KvmSvm.mmuSeq) this VMCB's nCR3 belongs to. */
  nptSeq = -1;

  constructor(
    cpu: HostCpu,
    readonly vmcbPage: { pa: number; bytes: Uint8Array },
    /** The 8 KiB MSR permission map (all ones: every RDMSR/WRMSR exits). */
    readonly msrpmPa: number,
  ) {
    this.cpu = cpu;
    this.vmcb = new Vmcb(vmcbPage.pa, vmcbPage.bytes);
  }
}

export const toSvm = (vcpu: KvmVcpu): VcpuSvm => vcpu.vendor as VcpuSvm;

// ───────────────────────────── lifecycle ─────────────────────────────

/**
 * init_vmcb: the intercepts Linux sets for a guest with NPT, the permission maps, nested
 * paging, V_INTR_MASKING, and the reset state of the segments (svm.md §2, §4.1).
 */
export function initVmcb(amd: KvmAmd, svm: VcpuSvm): void {
  const v = svm.vmcb;
  v.bytes.fill(0);
  // CR0/CR4 read and write (CR0 ones dropped by svm_set_cr0 while the hardware value is the
  // guest's), CR8 write; no CR3 intercepts with NPT.
  for (const i of [
    INTERCEPT_CR0_READ,
    INTERCEPT_CR4_READ,
    INTERCEPT_CR0_WRITE,
    INTERCEPT_CR4_WRITE,
    INTERCEPT_CR8_WRITE,
  ]) {
    v.setIntercept(i);
  }
  for (let dr = 0; dr < 8; dr++) {
    v.setIntercept(INTERCEPT_DR0_READ + dr);
    v.setIntercept(INTERCEPT_DR0_WRITE + dr);
  }
  v.write32(VMCB_INTERCEPT_EXCEPTIONS, EXCEPTIONS_BASE);
  for (const i of [
    INTERCEPT_INTR,
    INTERCEPT_NMI,
    INTERCEPT_SELECTIVE_CR0,
    INTERCEPT_RDPMC,
    INTERCEPT_CPUID,
    INTERCEPT_INVD,
    INTERCEPT_INVLPGA,
    INTERCEPT_IOIO_PROT,
    INTERCEPT_MSR_PROT,
    INTERCEPT_TASK_SWITCH,
    INTERCEPT_SHUTDOWN,
    INTERCEPT_VMRUN,
    INTERCEPT_VMMCALL,
    INTERCEPT_VMLOAD,
    INTERCEPT_VMSAVE,
    INTERCEPT_STGI,
    INTERCEPT_CLGI,
    INTERCEPT_SKINIT,
    INTERCEPT_WBINVD,
    INTERCEPT_XSETBV,
    INTERCEPT_RDPRU,
    INTERCEPT_RSM,
    INTERCEPT_MONITOR,
    INTERCEPT_MWAIT,
    INTERCEPT_HLT,
  ]) {
    v.setIntercept(i);
  }
  v.write64(VMCB_IOPM_BASE_PA, BigInt(amd.iopmPa));
  v.write64(VMCB_MSRPM_BASE_PA, BigInt(svm.msrpmPa));
  v.write32(VMCB_INT_CTL, V_INTR_MASKING_MASK);
  // Reset segments: ES/SS/DS/FS/GS data 0x93, CS F000:FFFF0000 0x9B, LDTR 0x82, TR 0x8B.
  for (const n of [0, 2, 3, 4, 5]) {
    v.setSegment(VMCB_SEGMENTS[n]!, { selector: 0, attrib: 0x93, limit: 0xffff, base: 0n });
  }
  v.setSegment(VMCB_SEGMENTS[VCPU_SREG_CS]!, {
    selector: 0xf000,
    attrib: 0x9b,
    limit: 0xffff,
    base: 0xffff_0000n,
  });
  v.setSegment(VMCB_SEGMENTS[7]!, { selector: 0, attrib: 0x82, limit: 0xffff, base: 0n });
  v.setSegment(VMCB_SEGMENTS[VCPU_SREG_TR]!, {
    selector: 0,
    attrib: 0x8b,
    limit: 0xffff,
    base: 0n,
  });
  v.write32(VMCB_GDTR + VMCB_SEG_LIMIT, 0xffff);
  v.write32(VMCB_IDTR + VMCB_SEG_LIMIT, 0xffff);
  v.write64(VMCB_EFER, BigInt(EFER_SVME));
  v.write64(VMCB_CR0, BigInt(0x6000_0010 & ~(X86_CR0_CD | X86_CR0_NW)));
  v.write64(VMCB_DR6, DR6_ACTIVE_LOW);
  v.write64(VMCB_DR7, DR7_FIXED_1);
  v.write64(VMCB_RFLAGS, 2n);
  v.write64(VMCB_RIP, 0xfff0n);
  // Nested paging: nCR3 is installed by load_mmu_pgd; the guest's PAT goes to gPAT.
  v.write64(VMCB_MISC_CTL, BigInt(SVM_NESTED_CTL_NP_ENABLE));
  v.write64(VMCB_G_PAT, PAT_DEFAULT);
  v.write32(VMCB_CLEAN, 0);
  svm.asidGeneration = 0;
  svm.nmiMasked = false;
  svm.awaitingIretCompletion = false;
  svm.nmiSinglestep = false;
}

/** The exceptions kvm_amd always intercepts: #UD, #AC, #MC (no #PF with NPT). */
const EXCEPTIONS_BASE = (1 << UD_VECTOR) | (1 << AC_VECTOR) | (1 << MC_VECTOR);

/**
 * svm_vcpu_create: the VMCB page (vmcb01) and the 8 KiB MSRPM (all ones), then init_vmcb
 * through svm_vcpu_reset.
 */
export function svmVcpuCreate(vcpu: KvmVcpu): number {
  const amd = toKvmAmd(vcpu.kvm);
  if (amd.iopmPa === 0) return -EIO;
  const cpu = amd.cpus[Math.max(0, vcpu.cpu)] ?? amd.cpus[0]!;
  const msrpmPa = allocPagesContiguous(amd.kernel, MSRPM_SIZE / 4096, 0xff);
  const svm = new VcpuSvm(cpu, amd.kernel.allocPage(), msrpmPa);
  svm.vcpu = vcpu;
  vcpu.vendor = svm;
  initVmcb(amd, svm);
  return 0;
}

/** svm_vcpu_free: the VMCB and the MSRPM go back to the page allocator. */
export function svmVcpuFree(vcpu: KvmVcpu): void {
  const amd = toKvmAmd(vcpu.kvm);
  const svm = toSvm(vcpu);
  for (const sd of amd.sd.values()) if (sd.currentVmcb === svm.vmcb.pa) sd.currentVmcb = 0;
  amd.kernel.freePage(svm.vmcbPage.pa);
  for (let i = 0; i < MSRPM_SIZE / 4096; i++) amd.kernel.freePage(svm.msrpmPa + i * 4096);
}

/**
 * svm_vcpu_reset: init_vmcb (a cold reset also clears the MSR state kept in vcpu_svm).
 * KVM then sets RFLAGS, RIP, CR0, CR4 and EFER through the ops.
 */
export function svmVcpuReset(vcpu: KvmVcpu, initEvent: boolean): void {
  const svm = toSvm(vcpu);
  initVmcb(toKvmAmd(vcpu.kvm), svm);
  if (!initEvent) {
    svm.tscAux = 0n;
    svm.xcr0 = 1n;
    svm.guestHsavePa = 0n;
  }
  svmUpdateExceptionBitmap(vcpu);
  vcpu.arch.cr8 = 0;
}

/** svm_vcpu_load: the vCPU moves to `cpuId` (pre_svm_run notices and marks the VMCB dirty). */
export function svmVcpuLoad(vcpu: KvmVcpu, cpuId: number): void {
  const amd = toKvmAmd(vcpu.kvm);
  toSvm(vcpu).cpu = amd.cpus[cpuId] ?? amd.cpus[0]!;
}

/** svm_vcpu_put → svm_prepare_host_switch (+ kvm_put_guest_fpu). */
export function svmVcpuPut(vcpu: KvmVcpu): void {
  const svm = toSvm(vcpu);
  if (!svm.guestStateLoaded) return;
  if (!vcpu.arch.guestFpuDirty) guestCore(svm).fpu.saveImage(vcpu.arch.guestFpu);
  svm.guestStateLoaded = false;
}

/** The execution core guest mode runs on (what FXRSTOR/WRMSR TSC_AUX on that CPU reach). */
const guestCore = (svm: VcpuSvm): X86Cpu => svm.cpu.nonRoot.cpu;

/**
 * svm_prepare_switch_to_guest (+ kvm_load_guest_fpu): VMSAVE the host's FS/GS/TR/LDTR and
 * syscall MSRs into the CPU's save area (VMLOAD restores them after each VMRUN), TSC_AUX and
 * the guest's x87/SSE state into the CPU. Once per KVM_RUN, undone by vcpu_put.
 */
export function svmPrepareSwitchToGuest(vcpu: KvmVcpu): void {
  const svm = toSvm(vcpu);
  const a = vcpu.arch;
  if (svm.guestStateLoaded && !a.guestFpuDirty) return;
  const x = guestCore(svm);
  if (!svm.guestStateLoaded) {
    // Back from userspace, which may have written guest code: drop decoded blocks.
    svm.cpu.nonRoot.invalidateCode();
    const sd = toKvmAmd(vcpu.kvm).sd.get(svm.cpu.id)!;
    svm.cpu.svm.vmsave(svm.cpu, sd.saveArea.pa);
    if (getMsr(x, MSR_TSC_AUX) !== svm.tscAux) setMsr(x, MSR_TSC_AUX, svm.tscAux);
  }
  x.fpu.restoreImage(a.guestFpu);
  a.guestFpuDirty = false;
  svm.guestStateLoaded = true;
}

/** kvm_fpu_get's effect for an emulator: vcpu.arch.guestFpu from the live registers. */
export function svmSyncGuestFpu(vcpu: KvmVcpu): void {
  const svm = toSvm(vcpu);
  if (svm.guestStateLoaded && !vcpu.arch.guestFpuDirty)
    guestCore(svm).fpu.saveImage(vcpu.arch.guestFpu);
}

// ───────────────────────────── registers ─────────────────────────────

const segAt = (seg: number): number => VMCB_SEGMENTS[seg]!;

/**
 * svm_get_segment: the VMCB record in kvm_segment form. There is no "unusable" bit: a
 * segment is unusable when P is clear. G follows the limit; TR is reported busy, usable
 * data segments accessed, and SS.DPL is the CPL byte.
 */
export function svmGetSegment(vcpu: KvmVcpu, seg: number): KvmSegment {
  const v = toSvm(vcpu).vmcb;
  const s = v.segment(segAt(seg));
  const at = s.attrib;
  const out: KvmSegment = {
    base: s.base,
    limit: s.limit,
    selector: s.selector,
    type: at & SVM_SELECTOR_TYPE_MASK,
    s: (at & SVM_SELECTOR_S_MASK) !== 0 ? 1 : 0,
    dpl: (at & SVM_SELECTOR_DPL_MASK) >>> SVM_SELECTOR_DPL_SHIFT,
    present: (at & SVM_SELECTOR_P_MASK) !== 0 ? 1 : 0,
    avl: (at & SVM_SELECTOR_AVL_MASK) !== 0 ? 1 : 0,
    l: (at & SVM_SELECTOR_L_MASK) !== 0 ? 1 : 0,
    db: (at & SVM_SELECTOR_DB_MASK) !== 0 ? 1 : 0,
    g: s.limit > 0xf_ffff ? 1 : 0,
    unusable: (at & SVM_SELECTOR_P_MASK) === 0 ? 1 : 0,
  };
  switch (seg) {
    case VCPU_SREG_CS:
      out.unusable = 0;
      break;
    case VCPU_SREG_TR:
      out.unusable = 0;
      out.type |= 2;
      break;
    case VCPU_SREG_SS:
      if (out.unusable) out.db = 0;
      out.dpl = v.read8(VMCB_CPL) & 3;
      break;
    case 0:
    case 3:
    case 4:
    case 5:
      if (!out.unusable) out.type |= 1;
      break;
  }
  return out;
}

/** svm_get_segment_base. */
export function svmGetSegmentBase(vcpu: KvmVcpu, seg: number): bigint {
  return toSvm(vcpu).vmcb.read64(segAt(seg) + VMCB_SEG_BASE);
}

/** svm_set_segment: attrib 0 for an unusable segment; setting SS sets the CPL byte. */
export function svmSetSegment(vcpu: KvmVcpu, s: KvmSegment, seg: number): void {
  const v = toSvm(vcpu).vmcb;
  const attrib = s.unusable
    ? 0
    : (s.type & SVM_SELECTOR_TYPE_MASK) |
      (s.s ? SVM_SELECTOR_S_MASK : 0) |
      ((s.dpl & 3) << SVM_SELECTOR_DPL_SHIFT) |
      (s.present ? SVM_SELECTOR_P_MASK : 0) |
      (s.avl ? SVM_SELECTOR_AVL_MASK : 0) |
      (s.l ? SVM_SELECTOR_L_MASK : 0) |
      (s.db ? SVM_SELECTOR_DB_MASK : 0) |
      (s.g ? SVM_SELECTOR_G_MASK : 0);
  v.setSegment(segAt(seg), {
    selector: s.selector,
    attrib,
    limit: s.limit >>> 0,
    base: BigInt.asUintN(64, s.base),
  });
  if (seg === VCPU_SREG_SS) v.write8(VMCB_CPL, s.dpl & 3);
}

/** svm_get_cpl: the CPL byte. */
export function svmGetCpl(vcpu: KvmVcpu): number {
  return toSvm(vcpu).vmcb.read8(VMCB_CPL) & 3;
}

/** svm_get_cs_db_l_bits: CS attrib bits 10 and 9. */
export function svmGetCsDbLBits(vcpu: KvmVcpu): { db: number; l: number } {
  const at = toSvm(vcpu).vmcb.read16(segAt(VCPU_SREG_CS) + VMCB_SEG_ATTRIB);
  return {
    db: (at & SVM_SELECTOR_DB_MASK) !== 0 ? 1 : 0,
    l: (at & SVM_SELECTOR_L_MASK) !== 0 ? 1 : 0,
  };
}

/**
 * svm_set_cr0 (NPT): save.CR0 = the guest's value without CD/NW (KVM_X86_QUIRK_CD_NW_CLEARED);
 * while that equals the guest's own value the CR0 read/write intercepts are dropped (the
 * selective-CR0 intercept still catches every change but TS/MP). With EFER.LME, turning
 * paging on or off enters or leaves long mode.
 */
export function svmSetCr0(vcpu: KvmVcpu, cr0: number): void {
  cr0 >>>= 0;
  const svm = toSvm(vcpu);
  const v = svm.vmcb;
  const a = vcpu.arch;
  const oldPg = a.cr0 >= X86_CR0_PG;
  if ((a.efer & EFER_LME) !== 0) {
    const pg = cr0 >= X86_CR0_PG;
    if (!oldPg && pg) {
      a.efer |= EFER_LMA;
      v.write64(VMCB_EFER, BigInt((a.efer | EFER_SVME) >>> 0));
    } else if (oldPg && !pg) {
      a.efer &= ~EFER_LMA;
      v.write64(VMCB_EFER, BigInt((a.efer | EFER_SVME) >>> 0));
    }
  }
  a.cr0 = cr0;
  const hcr0 = (cr0 & ~(X86_CR0_CD | X86_CR0_NW)) >>> 0;
  v.write64(VMCB_CR0, BigInt(hcr0));
  markDirty(v);
  const same = hcr0 === cr0;
  v.setIntercept(INTERCEPT_CR0_READ, !same);
  v.setIntercept(INTERCEPT_CR0_WRITE, !same);
}

/** The CR4 bits this processor runs (its VMRUN check) and, per bit, the CPUID gate. */
const CR4_GATED: readonly (readonly [number, number, "ebx" | "ecx", number])[] = [
  [16, 7, "ebx", 0], // FSGSBASE
  [18, 1, "ecx", 26], // OSXSAVE: XSAVE
  [20, 7, "ebx", 7], // SMEP
  [21, 7, "ebx", 20], // SMAP
];

/**
 * svm_is_valid_cr4 (always true in Linux, the check being kvm_is_valid_cr4's): no bit the
 * processor cannot run (VMXE among them), none whose feature the guest's CPUID lacks.
 */
export function svmIsValidCr4(vcpu: KvmVcpu, cr4: number): boolean {
  if ((cr4 & ~toSvm(vcpu).cpu.svm.caps.cr4Valid) !== 0) return false;
  for (const [bit, leaf, reg, feature] of CR4_GATED) {
    if ((cr4 >>> bit) & 1 && !guestCpuidHas(vcpu, leaf, reg, feature)) return false;
  }
  return true;
}

/** svm_set_cr4 (NPT): save.CR4 = the guest's value. */
export function svmSetCr4(vcpu: KvmVcpu, cr4: number): void {
  cr4 >>>= 0;
  vcpu.arch.cr4 = cr4;
  const v = toSvm(vcpu).vmcb;
  v.write64(VMCB_CR4, BigInt(cr4));
  markDirty(v);
}

/**
 * svm_set_efer: save.EFER = the value with SVME forced on (VMRUN requires it; the guest
 * never sees it: RDMSR EFER exits to KVM).
 */
export function svmSetEfer(vcpu: KvmVcpu, efer: number): number {
  vcpu.arch.efer = efer;
  const v = toSvm(vcpu).vmcb;
  v.write64(VMCB_EFER, BigInt((efer | EFER_SVME) >>> 0));
  markDirty(v);
  return 0;
}

/** Clear every VMCB clean bit (vmcb_mark_all_dirty; the model rewrites whole groups). */
function markDirty(v: Vmcb): void {
  v.write32(VMCB_CLEAN, 0);
}

function getDt(vcpu: KvmVcpu, at: number): KvmDtable {
  const v = toSvm(vcpu).vmcb;
  return { limit: v.read32(at + VMCB_SEG_LIMIT) & 0xffff, base: v.read64(at + VMCB_SEG_BASE) };
}

function setDt(vcpu: KvmVcpu, at: number, dt: KvmDtable): void {
  const v = toSvm(vcpu).vmcb;
  v.write32(at + VMCB_SEG_LIMIT, dt.limit & 0xffff);
  v.write64(at + VMCB_SEG_BASE, dt.base);
  markDirty(v);
}

/** svm_get_idt / svm_set_idt / svm_get_gdt / svm_set_gdt: save.idtr / save.gdtr. */
export const svmGetIdt = (vcpu: KvmVcpu): KvmDtable => getDt(vcpu, VMCB_IDTR);
export const svmSetIdt = (vcpu: KvmVcpu, dt: KvmDtable): void => setDt(vcpu, VMCB_IDTR, dt);
export const svmGetGdt = (vcpu: KvmVcpu): KvmDtable => getDt(vcpu, VMCB_GDTR);
export const svmSetGdt = (vcpu: KvmVcpu, dt: KvmDtable): void => setDt(vcpu, VMCB_GDTR, dt);

/** svm_set_dr7: save.DR7. */
export function svmSetDr7(vcpu: KvmVcpu, value: bigint): void {
  toSvm(vcpu).vmcb.write64(VMCB_DR7, value);
}

/**
 * svm_cache_reg: the GPRs, RIP and RSP are copied into vcpu.arch after every #VMEXIT, so
 * only CR0's guest-owned bits and CR3 (with NPT) are left — and those are folded back at
 * the exit too; nothing to fetch.
 */
export function svmCacheReg(vcpu: KvmVcpu, reg: number): void {
  const svm = toSvm(vcpu);
  if (reg === VCPU_EXREG_CR3) vcpu.arch.cr3 = svm.vmcb.read64(VMCB_CR3);
  else if (reg === VCPU_EXREG_CR0 && !svm.vmcb.intercept(INTERCEPT_CR0_WRITE)) {
    vcpu.arch.cr0 = svm.vmcb.read32(VMCB_CR0);
  }
}

/** svm_get_rflags: save.RFLAGS (without the TF/RF KVM added for NMI single-stepping). */
export function svmGetRflags(vcpu: KvmVcpu): number {
  const svm = toSvm(vcpu);
  let rflags = svm.vmcb.read32(VMCB_RFLAGS);
  if (svm.nmiSinglestep) {
    rflags &= ~(X86_EFLAGS_TF | X86_EFLAGS_RF);
    rflags |= svm.nmiSinglestepGuestRflags;
  }
  return rflags >>> 0;
}

/** svm_set_rflags. */
export function svmSetRflags(vcpu: KvmVcpu, rflags: number): void {
  const svm = toSvm(vcpu);
  if (svm.nmiSinglestep) {
    svm.nmiSinglestepGuestRflags = rflags & (X86_EFLAGS_TF | X86_EFLAGS_RF);
    rflags |= X86_EFLAGS_TF | X86_EFLAGS_RF;
  }
  svm.vmcb.write64(VMCB_RFLAGS, BigInt(rflags >>> 0));
}

/** svm_get_if_flag. */
export function svmGetIfFlag(vcpu: KvmVcpu): boolean {
  return (toSvm(vcpu).vmcb.read32(VMCB_RFLAGS) & X86_EFLAGS_IF) !== 0;
}

/** svm_get_interrupt_shadow: int_state bit 0 stands for both STI and MOV SS. */
export function svmGetInterruptShadow(vcpu: KvmVcpu): number {
  return (toSvm(vcpu).vmcb.read32(VMCB_INT_STATE) & SVM_INTERRUPT_SHADOW_MASK) !== 0
    ? KVM_X86_SHADOW_INT_STI | KVM_X86_SHADOW_INT_MOV_SS
    : 0;
}

/** svm_set_interrupt_shadow. */
export function svmSetInterruptShadow(vcpu: KvmVcpu, mask: number): void {
  const v = toSvm(vcpu).vmcb;
  const s = v.read32(VMCB_INT_STATE);
  v.write32(VMCB_INT_STATE, mask ? s | SVM_INTERRUPT_SHADOW_MASK : s & ~SVM_INTERRUPT_SHADOW_MASK);
}

/** svm_write_tsc_offset: control.tsc_offset. */
export function svmWriteTscOffset(vcpu: KvmVcpu, offset: bigint): void {
  toSvm(vcpu).vmcb.write64(VMCB_TSC_OFFSET, offset);
}

/** svm_patch_hypercall: VMMCALL (0F 01 D9). */
export function svmPatchHypercall(_vcpu: KvmVcpu, buf: Uint8Array): void {
  buf[0] = 0x0f;
  buf[1] = 0x01;
  buf[2] = 0xd9;
}

/**
 * svm_update_exception_bitmap: #UD, #AC, #MC always; #BP while userspace debugs with
 * software breakpoints, #DB while it single-steps or uses hardware breakpoints (or KVM
 * single-steps out of an NMI shadow).
 */
export function svmUpdateExceptionBitmap(vcpu: KvmVcpu): void {
  const svm = toSvm(vcpu);
  let eb = EXCEPTIONS_BASE;
  const dbg = vcpu.guestDebug;
  if ((dbg & KVM_GUESTDBG_ENABLE) !== 0) {
    if ((dbg & KVM_GUESTDBG_USE_SW_BP) !== 0) eb |= 1 << BP_VECTOR;
    if ((dbg & (KVM_GUESTDBG_SINGLESTEP | KVM_GUESTDBG_USE_HW_BP)) !== 0) eb |= 1 << DB_VECTOR;
  }
  if (svm.nmiSinglestep) eb |= 1 << DB_VECTOR;
  svm.vmcb.write32(VMCB_INTERCEPT_EXCEPTIONS, eb);
}

// ───────────────────────────── MSRs ─────────────────────────────

/** The MSRs whose guest values live in the VMCB save area (the VMLOAD set and more). */
const VMCB_MSRS = new Map<number, number>([
  [MSR_STAR, VMCB_STAR],
  [MSR_LSTAR, VMCB_LSTAR],
  [MSR_CSTAR, VMCB_CSTAR],
  [MSR_SYSCALL_MASK, VMCB_SFMASK],
  [MSR_KERNEL_GS_BASE, VMCB_KERNEL_GS_BASE],
  [MSR_IA32_SYSENTER_CS, VMCB_SYSENTER_CS],
  [MSR_IA32_SYSENTER_ESP, VMCB_SYSENTER_ESP],
  [MSR_IA32_SYSENTER_EIP, VMCB_SYSENTER_EIP],
  [MSR_FS_BASE, segAt(4) + VMCB_SEG_BASE],
  [MSR_GS_BASE, segAt(5) + VMCB_SEG_BASE],
]);

/**
 * svm_get_msr: the MSRs in the VMCB (syscall MSRs, SYSENTER, FS/GS base, DEBUGCTL), TSC_AUX,
 * VM_CR and VM_HSAVE_PA, then kvm_get_msr_common. 1 = no such MSR (#GP).
 */
export function svmGetMsr(vcpu: KvmVcpu, msr: MsrData): number {
  const svm = toSvm(vcpu);
  const at = VMCB_MSRS.get(msr.index >>> 0);
  if (at !== undefined) {
    msr.data = svm.vmcb.read64(at);
    return 0;
  }
  switch (msr.index >>> 0) {
    case MSR_IA32_DEBUGCTLMSR:
      msr.data = svm.vmcb.read64(VMCB_DBGCTL);
      return 0;
    case MSR_TSC_AUX:
      if (!msr.hostInitiated && !guestCpuidHas(vcpu, 0x8000_0001, "edx", 27)) return 1;
      msr.data = svm.tscAux;
      return 0;
    case MSR_VM_CR:
      // nested=0: SVM is disabled for the guest (SVMDIS) and locked.
      msr.data = 0x18n;
      return 0;
    case MSR_VM_HSAVE_PA:
      msr.data = svm.guestHsavePa;
      return 0;
    case MSR_IA32_FEAT_CTL:
      return 1;
    default:
      return kvmGetMsrCommon(vcpu, msr);
  }
}

/** svm_set_msr: 0 = written, 1 = refused (#GP for the guest). */
export function svmSetMsr(vcpu: KvmVcpu, msr: MsrData): number {
  const svm = toSvm(vcpu);
  const data = BigInt.asUintN(64, msr.data);
  const index = msr.index >>> 0;
  const at = VMCB_MSRS.get(index);
  if (at !== undefined) {
    const canonicalOnly =
      index === MSR_FS_BASE ||
      index === MSR_GS_BASE ||
      index === MSR_KERNEL_GS_BASE ||
      index === MSR_LSTAR ||
      index === MSR_CSTAR;
    if (canonicalOnly && isNoncanonicalAddress(data)) return 1;
    svm.vmcb.write64(
      at,
      index === MSR_SYSCALL_MASK || index === MSR_IA32_SYSENTER_CS ? data & 0xffff_ffffn : data,
    );
    return 0;
  }
  switch (index) {
    case MSR_IA32_DEBUGCTLMSR:
      // No LBR virtualization: bits 0 (LBR) and 1 (BTF) are dropped, others refused.
      if ((data & ~3n) !== 0n) return 1;
      svm.vmcb.write64(VMCB_DBGCTL, 0n);
      return 0;
    case MSR_IA32_CR_PAT: {
      const r = kvmSetMsrCommon(vcpu, msr);
      if (r === 0) svm.vmcb.write64(VMCB_G_PAT, data);
      return r;
    }
    case MSR_TSC_AUX:
      if (!msr.hostInitiated && !guestCpuidHas(vcpu, 0x8000_0001, "edx", 27)) return 1;
      if (data >> 32n !== 0n) return 1;
      svm.tscAux = data;
      if (svm.guestStateLoaded) setMsr(guestCore(svm), MSR_TSC_AUX, data);
      return 0;
    case MSR_VM_CR:
      // Locked with SVMDIS: only the value it has may be written.
      return data === 0x18n || msr.hostInitiated ? 0 : 1;
    case MSR_VM_HSAVE_PA:
      if ((data & 0xfffn) !== 0n) return 1;
      svm.guestHsavePa = data;
      return 0;
    case MSR_IA32_FEAT_CTL:
      return 1;
    default:
      return kvmSetMsrCommon(vcpu, msr);
  }
}

/**
 * svm_has_emulated_msr (and what kvm_probe_msr_to_save drops on an AMD host): no
 * IA32_FEATURE_CONTROL (Intel's), no IA32_SPEC_CTRL in this model.
 */
export function svmHasEmulatedMsr(_kvm: Kvm | null, index: number): boolean {
  return index !== MSR_IA32_FEAT_CTL && index !== MSR_IA32_SPEC_CTRL;
}

/** svm_get_msr_feature: no feature MSRs of its own. */
export function svmGetMsrFeature(_msr: MsrData): number {
  return 1;
}

// ───────────────────────────── MMU (NPT) and ASIDs ─────────────────────────────

/** The NPT's view of the VM's memslots (address space 0). */
function nptMemslots(kvm: Kvm): NptMemslot[] {
  const out: NptMemslot[] = [];
  for (const s of kvm.memslots[0]!.slots) {
    if (s.baseGfn + s.npages > NPT_GFN_LIMIT) continue;
    out.push({
      baseGfn: s.baseGfn,
      npages: s.npages,
      bytes: s.bytes,
      readonly: (s.flags & KVM_MEM_READONLY) !== 0,
      dirtyLog: (s.flags & KVM_MEM_LOG_DIRTY_PAGES) !== 0,
    });
  }
  return out;
}

/**
 * kvm_mmu_load for the eager NPT: when the memslots changed (kvm->mmu_invalidate_seq
 * moved) the tables are rebuilt — pages already logged dirty stay writable — and every
 * vCPU's nCR3 follows, with a TLB flush of its ASID.
 */
export function kvmMmuLoad(vcpu: KvmVcpu): void {
  const kvm = vcpu.kvm;
  const ks = toKvmSvm(kvm);
  const svm = toSvm(vcpu);
  if (ks.mmuSeq !== kvm.mmuInvalidateSeq) {
    ks.npt.build(nptMemslots(kvm));
    ks.mmuSeq = kvm.mmuInvalidateSeq;
    for (const s of kvm.memslots[0]!.slots) {
      const bm = s.dirtyBitmap;
      if (!bm || (s.flags & KVM_MEM_READONLY) !== 0 || s.baseGfn + s.npages > NPT_GFN_LIMIT)
        continue;
      for (let i = 0; i < s.npages; i++) {
        if ((bm[i >> 3]! >> (i & 7)) & 1) ks.npt.makeWritable(s.baseGfn + i);
      }
    }
  }
  const ncr3 = BigInt(ks.npt.ncr3);
  const v = svm.vmcb;
  if (v.read64(VMCB_NESTED_CR3) !== ncr3 || ks.mmuSeq !== svm.nptSeq) {
    v.write64(VMCB_NESTED_CR3, ncr3);
    svm.nptSeq = ks.mmuSeq;
    svmFlushTlbAsid(vcpu);
    markDirty(v);
  }
}

/**
 * svm_load_mmu_pgd with NPT: nCR3 = the nested tables' root, save.CR3 = the guest's own.
 */
export function svmLoadMmuPgd(vcpu: KvmVcpu): void {
  kvmMmuLoad(vcpu);
  const v = toSvm(vcpu).vmcb;
  v.write64(VMCB_CR3, vcpu.arch.cr3);
  markDirty(v);
}

/**
 * svm_flush_tlb_asid: TLB_CONTROL = flush this ASID on the next VMRUN, or — without
 * flush-by-ASID — a new ASID (by moving the vCPU off its generation).
 */
export function svmFlushTlbAsid(vcpu: KvmVcpu): void {
  const svm = toSvm(vcpu);
  if (toKvmAmd(vcpu.kvm).flushByAsid) svm.vmcb.write8(VMCB_TLB_CTL, TLB_CONTROL_FLUSH_ASID);
  else svm.asidGeneration--;
}

/** svm_flush_tlb_all / _current / _guest: all of them flush this vCPU's ASID. */
export const svmFlushTlbAll = svmFlushTlbAsid;
export const svmFlushTlbCurrent = svmFlushTlbAsid;
export const svmFlushTlbGuest = svmFlushTlbAsid;

/** svm_flush_tlb_gva: INVLPGA for this vCPU's ASID. */
export function svmFlushTlbGva(vcpu: KvmVcpu, gva: bigint): void {
  const svm = toSvm(vcpu);
  svm.cpu.svm.invlpga(svm.cpu, gva, svm.vmcb.read32(VMCB_ASID));
}

/**
 * new_asid: the CPU's next ASID; when they run out a new generation starts at the first
 * one with a flush of every ASID (TLB_CONTROL = 1).
 */
function newAsid(svm: VcpuSvm, sd: SvmCpuData): void {
  if (sd.nextAsid > sd.maxAsid) {
    sd.asidGeneration++;
    sd.nextAsid = sd.minAsid;
    svm.vmcb.write8(VMCB_TLB_CTL, TLB_CONTROL_FLUSH_ALL_ASID);
  }
  svm.asidGeneration = sd.asidGeneration;
  svm.vmcb.write32(VMCB_ASID, sd.nextAsid++);
  svm.vmcb.write32(VMCB_CLEAN, svm.vmcb.read32(VMCB_CLEAN) & ~(1 << 2));
}

/**
 * pre_svm_run: a VMCB that last ran on another CPU (or another VMCB ran here since) has
 * every clean bit cleared; a vCPU whose ASID is from an older generation gets a new one.
 */
function preSvmRun(amd: KvmAmd, svm: VcpuSvm): void {
  const sd = amd.sd.get(svm.cpu.id)!;
  if (svm.vmcbCpu !== svm.cpu.id || sd.currentVmcb !== svm.vmcb.pa) {
    markDirty(svm.vmcb);
    svm.vmcbCpu = svm.cpu.id;
    sd.currentVmcb = svm.vmcb.pa;
  }
  if (svm.asidGeneration !== sd.asidGeneration) newAsid(svm, sd);
}

// ───────────────────────────── event injection ─────────────────────────────

/** svm_inject_irq: EVENTINJ = vector | INTR (or SOFT for a re-injected INT n) | VALID. */
export function svmInjectIrq(vcpu: KvmVcpu, _reinjected: boolean): void {
  const irq = vcpu.arch.interrupt;
  vcpu.stat.irq_injections++;
  const type = irq.soft ? SVM_EVTINJ_TYPE_SOFT : SVM_EVTINJ_TYPE_INTR;
  toSvm(vcpu).vmcb.write32(VMCB_EVENT_INJ, ((irq.nr & 0xff) | type | SVM_EVTINJ_VALID) >>> 0);
}

/**
 * svm_inject_nmi: EVENTINJ = NMI | VALID; NMIs are masked until the guest's IRET, which
 * is intercepted to see it.
 */
export function svmInjectNmi(vcpu: KvmVcpu): void {
  const svm = toSvm(vcpu);
  vcpu.stat.nmi_injections++;
  svm.vmcb.write32(VMCB_EVENT_INJ, (SVM_EVTINJ_TYPE_NMI | SVM_EVTINJ_VALID) >>> 0);
  svm.nmiMasked = true;
  svm.vmcb.setIntercept(INTERCEPT_IRET);
}

/**
 * svm_inject_exception: EVENTINJ = vector | EXEPT | VALID, with EV and event_inj_err when
 * the exception has an error code (never in real mode). #BP/#OF re-execute their
 * instruction instead (the soft exception's return address is the instruction after it).
 */
export function svmInjectException(vcpu: KvmVcpu): void {
  const svm = toSvm(vcpu);
  const ex = vcpu.arch.exception;
  let inj = (ex.vector & 0xff) | SVM_EVTINJ_TYPE_EXEPT | SVM_EVTINJ_VALID;
  if (ex.hasErrorCode && (vcpu.arch.cr0 & X86_CR0_PE) !== 0) {
    inj |= SVM_EVTINJ_VALID_ERR;
    svm.vmcb.write32(VMCB_EVENT_INJ_ERR, ex.errorCode >>> 0);
  }
  if (ex.vector === BP_VECTOR || ex.vector === OF_VECTOR) {
    // A soft exception returns past its instruction (INT3/INTO, one byte): Linux moves
    // next_rip there (svm_update_soft_interrupt_rip); EVENTINJ delivers it as a fault.
    kvmRipWrite(vcpu, kvmRipRead(vcpu) + 1n);
  }
  svm.vmcb.write32(VMCB_EVENT_INJ, inj >>> 0);
}

/** svm_cancel_injection: the pending EVENTINJ goes back to KVM's queues. */
export function svmCancelInjection(vcpu: KvmVcpu): void {
  const v = toSvm(vcpu).vmcb;
  v.write32(VMCB_EXIT_INT_INFO, v.read32(VMCB_EVENT_INJ));
  v.write32(VMCB_EXIT_INT_INFO_ERR, v.read32(VMCB_EVENT_INJ_ERR));
  v.write32(VMCB_EVENT_INJ, 0);
  svmCompleteInterrupts(vcpu);
}

/** svm_interrupt_blocked: RFLAGS.IF clear or an interrupt shadow (GIF is always set). */
export function svmInterruptBlocked(vcpu: KvmVcpu): boolean {
  const v = toSvm(vcpu).vmcb;
  if ((svmGetRflags(vcpu) & X86_EFLAGS_IF) === 0) return true;
  return (v.read32(VMCB_INT_STATE) & SVM_INTERRUPT_SHADOW_MASK) !== 0;
}

/** svm_interrupt_allowed. */
export function svmInterruptAllowed(vcpu: KvmVcpu, _forInjection: boolean): number {
  return svmInterruptBlocked(vcpu) ? 0 : 1;
}

/** svm_nmi_blocked: NMIs masked (until IRET) or an interrupt shadow. */
export function svmNmiBlocked(vcpu: KvmVcpu): boolean {
  const svm = toSvm(vcpu);
  if (svm.nmiMasked) return true;
  return (svm.vmcb.read32(VMCB_INT_STATE) & SVM_INTERRUPT_SHADOW_MASK) !== 0;
}

/** svm_nmi_allowed. */
export function svmNmiAllowed(vcpu: KvmVcpu, _forInjection: boolean): number {
  return svmNmiBlocked(vcpu) ? 0 : 1;
}

/** svm_get_nmi_mask. */
export function svmGetNmiMask(vcpu: KvmVcpu): boolean {
  return toSvm(vcpu).nmiMasked;
}

/** svm_set_nmi_mask: masked NMIs are tracked through the IRET intercept. */
export function svmSetNmiMask(vcpu: KvmVcpu, masked: boolean): void {
  const svm = toSvm(vcpu);
  svm.nmiMasked = masked;
  svm.awaitingIretCompletion = false;
  svm.vmcb.setIntercept(INTERCEPT_IRET, masked);
}

/**
 * svm_set_vintr: a fake virtual interrupt (V_IRQ, highest priority, ignoring V_TPR) with
 * the VINTR intercept: the guest exits (0x064) as soon as it could take an interrupt.
 */
function svmSetVintr(svm: VcpuSvm): void {
  const v = svm.vmcb;
  v.setIntercept(INTERCEPT_VINTR);
  const ctl = v.read32(VMCB_INT_CTL) & ~V_INTR_PRIO_MASK;
  v.write32(VMCB_INT_CTL, ctl | V_IRQ_MASK | V_IGN_TPR_MASK | (0xf << V_INTR_PRIO_SHIFT));
  v.write32(VMCB_INT_VECTOR, 0);
  v.write32(VMCB_CLEAN, v.read32(VMCB_CLEAN) & ~(1 << 3));
}

/** svm_clear_vintr. */
function svmClearVintr(svm: VcpuSvm): void {
  const v = svm.vmcb;
  v.setIntercept(INTERCEPT_VINTR, false);
  v.write32(
    VMCB_INT_CTL,
    v.read32(VMCB_INT_CTL) & ~(V_IRQ_MASK | V_IGN_TPR_MASK | V_INTR_PRIO_MASK),
  );
  v.write32(VMCB_CLEAN, v.read32(VMCB_CLEAN) & ~(1 << 3));
}

/** svm_enable_irq_window. */
export function svmEnableIrqWindow(vcpu: KvmVcpu): void {
  svmSetVintr(toSvm(vcpu));
}

/**
 * svm_enable_nmi_window: with NMIs masked, the intercepted IRET is the window. Otherwise
 * (an interrupt shadow, or IRET already seen but not completed) single-step the guest out
 * of it: TF|RF with the #DB intercept, taken by the next instruction boundary.
 */
export function svmEnableNmiWindow(vcpu: KvmVcpu): void {
  const svm = toSvm(vcpu);
  if (svm.nmiMasked && !svm.awaitingIretCompletion) return;
  if (svm.nmiSinglestep) return;
  const rflags = svmGetRflags(vcpu);
  svm.nmiSinglestep = true;
  svm.nmiSinglestepGuestRflags = rflags & (X86_EFLAGS_TF | X86_EFLAGS_RF);
  svm.vmcb.write64(VMCB_RFLAGS, BigInt((rflags | X86_EFLAGS_TF | X86_EFLAGS_RF) >>> 0));
  svmUpdateExceptionBitmap(vcpu);
}

/** disable_nmi_singlestep: the guest's own TF/RF come back. */
function disableNmiSinglestep(vcpu: KvmVcpu): void {
  const svm = toSvm(vcpu);
  const rflags = svmGetRflags(vcpu);
  svm.nmiSinglestep = false;
  svm.vmcb.write64(VMCB_RFLAGS, BigInt(rflags >>> 0));
  svmUpdateExceptionBitmap(vcpu);
}

/**
 * svm_complete_interrupts: what was injected has been delivered — unless EXITINTINFO says
 * the exit cut its delivery short; then it is queued again (NMI, exception ± error code,
 * INTR, INT n). A soft exception (#BP/#OF) is not re-injected: its instruction runs again.
 * An NMI's masking ends once the guest's IRET has completed (RIP moved past it).
 */
export function svmCompleteInterrupts(vcpu: KvmVcpu): void {
  const svm = toSvm(vcpu);
  const v = svm.vmcb;
  if (svm.awaitingIretCompletion && kvmRipRead(vcpu) !== svm.nmiIretRip) {
    svm.awaitingIretCompletion = false;
    svm.nmiMasked = false;
    kvmMakeRequest(vcpu, KVM_REQ_EVENT);
  }
  vcpu.arch.nmiInjected = false;
  kvmClearExceptionQueue(vcpu);
  kvmClearInterruptQueue(vcpu);
  const info = v.read32(VMCB_EXIT_INT_INFO);
  if ((info & SVM_EXITINTINFO_VALID) === 0) return;
  kvmMakeRequest(vcpu, KVM_REQ_EVENT);
  const vector = info & SVM_EXITINTINFO_VEC_MASK;
  switch (info & SVM_EXITINTINFO_TYPE_MASK) {
    case SVM_EXITINTINFO_TYPE_NMI:
      vcpu.arch.nmiInjected = true;
      svm.nmiMasked = false;
      break;
    case SVM_EXITINTINFO_TYPE_EXEPT:
      if (vector === BP_VECTOR || vector === OF_VECTOR) break;
      if ((info & SVM_EXITINTINFO_VALID_ERR) !== 0) {
        kvmRequeueException(vcpu, vector, v.read32(VMCB_EXIT_INT_INFO_ERR));
      } else {
        kvmRequeueException(vcpu, vector);
      }
      break;
    case SVM_EXITINTINFO_TYPE_INTR:
      kvmQueueInterrupt(vcpu, vector, false);
      break;
    case SVM_EXITINTINFO_TYPE_SOFT:
      kvmQueueInterrupt(vcpu, vector, true);
      break;
    default:
      break;
  }
}

// ───────────────────────────── run ─────────────────────────────

/** Number.MAX_SAFE_INTEGER as a bigint. */
const SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * svm_vcpu_run, in Linux's order (svm.md §10): RAX, RSP and RIP into the save area;
 * pre_svm_run (clean bits, ASID); V_TPR and CR2; CLGI; __svm_vcpu_run (the guest's other
 * GPRs into the CPU, VMLOAD the guest's FS/GS/TR/LDTR set, VMRUN, VMSAVE it back, VMLOAD
 * the host's); CR2, RAX, RSP, RIP back; STGI; TLB_CONTROL reset and every clean bit set;
 * the registers the guest changes without an exit folded back; svm_complete_interrupts.
 */
export function svmVcpuRun(vcpu: KvmVcpu): number {
  const svm = toSvm(vcpu);
  const amd = toKvmAmd(vcpu.kvm);
  const v = svm.vmcb;
  const cpu = svm.cpu;
  const a = vcpu.arch;
  kvmMmuLoad(vcpu);
  const dirty = a.regsDirty;
  if (dirty & (1 << VCPU_REGS_RAX)) v.write64(VMCB_RAX, a.regs[VCPU_REGS_RAX]!);
  if (dirty & (1 << VCPU_REGS_RSP)) v.write64(VMCB_RSP, a.regs[VCPU_REGS_RSP]!);
  if (dirty & (1 << VCPU_REGS_RIP)) v.write64(VMCB_RIP, a.regs[VCPU_REGS_RIP]!);
  if (dirty & GPRS_IN_REGS_ARRAY) {
    for (let i = 0; i < 16; i++) {
      if ((dirty & GPRS_IN_REGS_ARRAY & (1 << i)) === 0) continue;
      const r = a.regs[i]!;
      if (r <= SAFE_BIG) {
        const n = Number(r);
        svm.gprs[i] = n | 0;
        svm.gprsHi[i] = Math.floor(n / 2 ** 32) | 0;
      } else {
        svm.gprs[i] = Number(BigInt.asIntN(32, r));
        svm.gprsHi[i] = Number(BigInt.asIntN(32, r >> 32n));
      }
    }
  }
  a.regsDirty = 0;

  preSvmRun(amd, svm);
  // V_TPR is the guest's CR8 (no in-kernel LAPIC: KVM's copy).
  const ctl = v.read32(VMCB_INT_CTL);
  if ((ctl & V_TPR_MASK) !== (a.cr8 & 0xf))
    v.write32(VMCB_INT_CTL, (ctl & ~V_TPR_MASK) | (a.cr8 & 0xf));
  if (v.read64(VMCB_CR2) !== a.cr2) v.write64(VMCB_CR2, a.cr2);
  v.write64(VMCB_DR6, a.dr6);

  cpu.svm.clgi(cpu);
  svmVcpuEnterExit(vcpu, svm, amd);
  cpu.svm.stgi(cpu);

  a.regsAvail |= REGS_AFTER_EXIT;
  if (svm.vmrunFault !== 0) {
    svm.exitCode = SVM_EXIT_ERR;
    return EXIT_FASTPATH_NONE;
  }
  svm.exitCode = v.exitCode();
  v.write8(VMCB_TLB_CTL, TLB_CONTROL_DO_NOTHING);
  v.write32(VMCB_CLEAN, VMCB_CLEAN_ALL);
  if (svm.exitCode === SVM_EXIT_ERR) return EXIT_FASTPATH_NONE;
  a.cr2 = v.read64(VMCB_CR2);
  a.regs[VCPU_REGS_RAX] = v.read64(VMCB_RAX);
  a.regs[VCPU_REGS_RSP] = v.read64(VMCB_RSP);
  a.regs[VCPU_REGS_RIP] = v.read64(VMCB_RIP);
  // CR8 writes are intercepted, so V_TPR holds KVM's value; CR0 (TS/MP, or all of it when
  // not intercepted) and CR3 change without exits.
  svmCacheReg(vcpu, VCPU_EXREG_CR0);
  svmCacheReg(vcpu, VCPU_EXREG_CR3);
  svmCompleteInterrupts(vcpu);
  return EXIT_FASTPATH_NONE;
}

/**
 * __svm_vcpu_run: RBX … R15 into the CPU (RAX and RSP are the VMCB's), VMLOAD the guest's
 * VMLOAD set from its VMCB, VMRUN, VMSAVE it back, VMLOAD the host's from the save area,
 * and the guest's GPRs back into the regs array.
 */
function svmVcpuEnterExit(vcpu: KvmVcpu, svm: VcpuSvm, amd: KvmAmd): void {
  const cpu = svm.cpu;
  const a = vcpu.arch;
  const regs = cpu.regs;
  const regsHi = cpu.regsHi;
  const hostRax = [regs[0]!, regsHi[0]!];
  const hostRsp = [regs[4]!, regsHi[4]!];
  regs.set(svm.gprs);
  regsHi.set(svm.gprsHi);
  regs[0] = hostRax[0]!;
  regsHi[0] = hostRax[1]!;
  regs[4] = hostRsp[0]!;
  regsHi[4] = hostRsp[1]!;
  const saveArea = amd.sd.get(cpu.id)!.saveArea.pa;
  cpu.svm.vmload(cpu, svm.vmcb.pa);
  const r = cpu.svm.vmrun(cpu, svm.vmcb.pa);
  svm.vmrunFault = r === SVM_VMEXIT ? 0 : r;
  if (r !== SVM_VMEXIT) {
    vcpu.kvm.kernel.printk(`kvm_amd: VMRUN faulted: ${svmOutcomeName(r)}`);
    return;
  }
  cpu.svm.vmsave(cpu, svm.vmcb.pa);
  cpu.svm.vmload(cpu, saveArea);
  const g = svm.gprs;
  const gHi = svm.gprsHi;
  for (let i = 0; i < 16; i++) {
    if (i === VCPU_REGS_RAX || i === VCPU_REGS_RSP) continue;
    const lo = regs[i]!;
    const hi = regsHi[i]!;
    if (lo === g[i] && hi === gHi[i]) continue;
    g[i] = lo;
    gHi[i] = hi;
    a.regs[i] = hi === 0 ? BigInt(lo >>> 0) : (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  }
}

/** svm_get_exit_info: exit code, EXITINFO1/2, EXITINTINFO and its error code. */
export function svmGetExitInfo(vcpu: KvmVcpu): KvmExitInfo {
  const svm = toSvm(vcpu);
  const v = svm.vmcb;
  const intrInfo = v.read32(VMCB_EXIT_INT_INFO);
  return {
    reason: svm.exitCode,
    info1: v.read64(VMCB_EXIT_INFO_1),
    info2: v.read64(VMCB_EXIT_INFO_2),
    intrInfo,
    errorCode: (intrInfo & SVM_EXITINTINFO_VALID_ERR) !== 0 ? v.read32(VMCB_EXIT_INT_INFO_ERR) : 0,
  };
}

/**
 * svm_handle_exit: VMEXIT_INVALID (−1) is KVM_EXIT_FAIL_ENTRY with the exit code as the
 * hardware reason; the rest goes to svm_exit_handlers[exit code] (none: an unexpected
 * exit, KVM_EXIT_INTERNAL_ERROR). 1 = re-enter, 0 = to userspace.
 */
export function svmHandleExit(vcpu: KvmVcpu, fastpath: number): number {
  const svm = toSvm(vcpu);
  const run = vcpu.run;
  const code = svm.exitCode;
  if (svm.vmrunFault === 0) traceKvmExit(vcpu);
  if (code === SVM_EXIT_ERR) {
    const why = svm.cpu.svm.lastVmrunFailure;
    if (why) vcpu.kvm.kernel.printk(`kvm_amd: VMRUN failed: ${why.message}`);
    run.exitReason = KVM_EXIT_FAIL_ENTRY;
    // A VMRUN that faulted as an instruction (a kvm_amd bug; Linux would oops) reads the same.
    run.failEntryHardwareEntryFailureReason = 0xffff_ffff_ffff_ffffn;
    run.failEntryCpu = vcpu.arch.lastVmentryCpu;
    return 0;
  }
  if (fastpath !== EXIT_FASTPATH_NONE) return 1;
  const handler = svmExitHandlers.get(code);
  if (!handler) {
    vcpu.kvm.kernel.printk(`kvm_amd: svm: unexpected exit reason 0x${(code >>> 0).toString(16)}`);
    kvmPrepareUnexpectedReasonExit(vcpu, code);
    return 0;
  }
  return handler(vcpu);
}

/**
 * svm_skip_emulated_instruction: RIP = next_rip (NRIPS), else the emulator decodes the
 * instruction to skip it; the interrupt shadow ends.
 */
export function svmSkipEmulatedInstruction(vcpu: KvmVcpu): number {
  const svm = toSvm(vcpu);
  const next = toKvmAmd(vcpu.kvm).nrips ? svm.vmcb.read64(VMCB_NEXT_RIP) : 0n;
  if (next === 0n) {
    if (x86EmulateInstruction(vcpu, EMULTYPE_SKIP) === 0) return 0;
  } else {
    kvmRipWrite(vcpu, next);
  }
  svmSetInterruptShadow(vcpu, 0);
  return 1;
}

// ───────────────────────────── exit handlers ─────────────────────────────

type ExitHandler = (vcpu: KvmVcpu) => number;

const exitInfo1Lo = (vcpu: KvmVcpu): number => toSvm(vcpu).vmcb.read32(VMCB_EXIT_INFO_1);

/** kvm_handle_invalid_op: #UD. */
const kvmHandleInvalidOp: ExitHandler = (vcpu) => {
  kvmQueueException(vcpu, UD_VECTOR);
  return 1;
};

/** emulate_on_interception: the instruction goes to KVM's emulator. */
const emulateOnInterception: ExitHandler = (vcpu) => x86EmulateInstruction(vcpu, 0);

/** intr_interception: the host took its interrupt; re-enter. */
const intrInterception: ExitHandler = (vcpu) => {
  vcpu.stat.irq_exits++;
  return 1;
};

/** nmi_interception / smi_interception: the host's; re-enter. */
const nmiInterception: ExitHandler = () => 1;

/**
 * io_interception: INS/OUTS go to the emulator; IN/OUT to kvm_fast_pio with EXITINFO1's
 * port, size and direction (RIP moves to EXITINFO2, next_rip, once it completes).
 */
function ioInterception(vcpu: KvmVcpu): number {
  const info = exitInfo1Lo(vcpu);
  vcpu.stat.io_exits++;
  if (info & SVM_IOIO_STR_MASK) return x86EmulateInstruction(vcpu, 0);
  const port = info >>> 16;
  const size = (info & SVM_IOIO_SIZE_MASK) >>> SVM_IOIO_SIZE_SHIFT;
  return kvmFastPio(vcpu, size, port, (info & SVM_IOIO_TYPE_MASK) !== 0);
}

/** msr_interception: EXITINFO1 = 0 RDMSR, 1 WRMSR. */
function msrInterception(vcpu: KvmVcpu): number {
  return exitInfo1Lo(vcpu) === 1 ? kvmEmulateWrmsr(vcpu) : kvmEmulateRdmsr(vcpu);
}

/** shutdown_interception: the guest shut down (triple fault). */
function shutdownInterception(vcpu: KvmVcpu): number {
  vcpu.run.exitReason = KVM_EXIT_SHUTDOWN;
  vcpu.mmioNeeded = false;
  return 0;
}

/** interrupt_window_interception: the window is open; KVM injects (or tells userspace). */
function interruptWindowInterception(vcpu: KvmVcpu): number {
  kvmMakeRequest(vcpu, KVM_REQ_EVENT);
  svmClearVintr(toSvm(vcpu));
  vcpu.stat.irq_window_exits++;
  return 1;
}

/**
 * iret_interception: the guest's IRET after an injected NMI. Its completion (RIP moved on)
 * ends NMI masking; until then the IRET intercept is off.
 */
function iretInterception(vcpu: KvmVcpu): number {
  const svm = toSvm(vcpu);
  vcpu.stat.nmi_window_exits++;
  svm.awaitingIretCompletion = true;
  svm.vmcb.setIntercept(INTERCEPT_IRET, false);
  svm.nmiIretRip = kvmRipRead(vcpu);
  kvmMakeRequest(vcpu, KVM_REQ_EVENT);
  return 1;
}

/**
 * cr_interception (with decode assists): MOV to/from CR0, CR3, CR4, CR8 and the selective
 * CR0 write; EXITINFO1 bit 63 marks a decoded MOV, bits 3:0 its GPR. Without the decode
 * (LMSW, CLTS) the emulator is needed. Lowering CR8 without an in-kernel LAPIC goes to
 * userspace (KVM_EXIT_SET_TPR).
 */
function crInterception(vcpu: KvmVcpu): number {
  const v = toSvm(vcpu).vmcb;
  if ((v.readHigh32(VMCB_EXIT_INFO_1) & CR_VALID_HI) === 0) return emulateOnInterception(vcpu);
  const reg = v.read32(VMCB_EXIT_INFO_1) & SVM_EXITINFO_REG_MASK;
  const code = svmCodeOf(vcpu);
  const cr = code === SVM_EXIT_CR0_SEL_WRITE ? 16 : code - SVM_EXIT_READ_CR0;
  if (cr >= 16) {
    const val = kvmRegisterReadMode(vcpu, reg);
    switch (cr - 16) {
      case 0:
        return kvmCompleteInsnGp(vcpu, kvmSetCr0(vcpu, Number(val & 0xffff_ffffn)));
      case 3:
        return kvmCompleteInsnGp(vcpu, kvmSetCr3(vcpu, val));
      case 4:
        return kvmCompleteInsnGp(vcpu, kvmSetCr4(vcpu, Number(val & 0xffff_ffffn)));
      case 8: {
        const prev = kvmGetCr8(vcpu);
        const cr8 = Number(val & 0xffn);
        const ret = kvmCompleteInsnGp(vcpu, kvmSetCr8Guest(vcpu, BigInt(cr8)));
        // With the local APIC in the kernel, the TPR is KVM's own: nothing for userspace.
        if (vcpu.arch.apic || prev <= cr8) return ret;
        vcpu.run.exitReason = KVM_EXIT_SET_TPR;
        return 0;
      }
    }
  } else {
    let val: bigint | null = null;
    switch (cr) {
      case 0:
        val = BigInt(vcpu.arch.cr0 >>> 0);
        break;
      case 3:
        val = vcpu.arch.cr3;
        break;
      case 4:
        val = BigInt(vcpu.arch.cr4 >>> 0);
        break;
      case 8:
        val = BigInt(kvmGetCr8(vcpu));
        break;
    }
    if (val !== null) {
      kvmRegisterWrite(vcpu, reg, val);
      return kvmSkipEmulatedInstruction(vcpu);
    }
  }
  vcpu.kvm.kernel.printk(`kvm_amd: unhandled control register access: exit 0x${code.toString(16)}`);
  kvmQueueException(vcpu, UD_VECTOR);
  return 1;
}

const svmCodeOf = (vcpu: KvmVcpu): number => toSvm(vcpu).exitCode;

/**
 * dr_interception (decode assists: EXITINFO1[3:0] the GPR): MOV to/from DR0–DR7 on KVM's
 * copies; DR4/DR5 alias DR6/DR7 unless CR4.DE (#UD); CPL > 0 is #GP; DR7.GD raises #DB.
 */
function drInterception(vcpu: KvmVcpu): number {
  const a = vcpu.arch;
  const code = svmCodeOf(vcpu);
  const write = code >= SVM_EXIT_WRITE_DR0;
  let dr = code - (write ? SVM_EXIT_WRITE_DR0 : SVM_EXIT_READ_DR0);
  const reg = exitInfo1Lo(vcpu) & SVM_EXITINFO_REG_MASK;
  if (dr === 4 || dr === 5) {
    if (a.cr4 & X86_CR4_DE) {
      kvmQueueException(vcpu, UD_VECTOR);
      return 1;
    }
    dr += 2;
  }
  if (dr > 7) {
    kvmQueueException(vcpu, UD_VECTOR);
    return 1;
  }
  if (svmGetCpl(vcpu) > 0) return kvmCompleteInsnGp(vcpu, 1);
  if ((a.dr7 & DR7_GD) !== 0n) {
    kvmQueueException(vcpu, DB_VECTOR, undefined, 1n << 13n);
    return 1;
  }
  if (!write) {
    const val = dr < 4 ? a.db[dr]! : dr === 6 ? a.dr6 : a.dr7;
    kvmRegisterWrite(vcpu, reg, val);
    return kvmSkipEmulatedInstruction(vcpu);
  }
  const val = kvmRegisterReadMode(vcpu, reg);
  let err = 0;
  if (dr < 4) a.db[dr] = val;
  else if (val >> 32n !== 0n) err = 1;
  else if (dr === 6) a.dr6 = (val & DR6_VOLATILE) | DR6_ACTIVE_LOW;
  else {
    a.dr7 = (val & DR7_VOLATILE) | DR7_FIXED_1;
    svmSetDr7(vcpu, a.dr7);
  }
  return kvmCompleteInsnGp(vcpu, err);
}

/**
 * The exception intercepts (ud_interception, db_interception, bp_interception,
 * ac_interception, mc_interception): #UD is the guest's own; #MC was the host's; #DB ends
 * KVM's NMI single-step or goes to userspace while it debugs; #BP goes to userspace;
 * #AC is re-injected with its error code.
 */
function exceptionInterception(vcpu: KvmVcpu): number {
  const svm = toSvm(vcpu);
  const vector = svm.exitCode - SVM_EXIT_EXCP_BASE;
  const run = vcpu.run;
  switch (vector) {
    case UD_VECTOR:
      kvmQueueException(vcpu, UD_VECTOR);
      return 1;
    case MC_VECTOR:
      return 1;
    case DB_VECTOR: {
      if (svm.nmiSinglestep) {
        disableNmiSinglestep(vcpu);
        kvmMakeRequest(vcpu, KVM_REQ_EVENT);
        if ((vcpu.guestDebug & KVM_GUESTDBG_SINGLESTEP) === 0) return 1;
      }
      if ((vcpu.guestDebug & (KVM_GUESTDBG_SINGLESTEP | KVM_GUESTDBG_USE_HW_BP)) === 0) {
        kvmQueueException(vcpu, DB_VECTOR);
        return 1;
      }
      const dr6 = svm.vmcb.read64(VMCB_DR6);
      run.debugDr6 = dr6 | DR6_ACTIVE_LOW;
      run.debugDr7 = svm.vmcb.read64(VMCB_DR7);
      run.exitReason = KVM_EXIT_DEBUG;
      run.debugPc = kvmGetLinearRip(vcpu);
      run.debugException = DB_VECTOR;
      return 0;
    }
    case BP_VECTOR:
      run.exitReason = KVM_EXIT_DEBUG;
      run.debugPc = kvmGetLinearRip(vcpu);
      run.debugException = BP_VECTOR;
      return 0;
    default:
      kvmQueueException(vcpu, vector, exitInfo1Lo(vcpu));
      return 1;
  }
}

/** rdpmc_interception → kvm_emulate_rdpmc: no PMU is exposed, so #GP. */
function rdpmcInterception(vcpu: KvmVcpu): number {
  kvmInjectGp(vcpu, 0);
  return 1;
}

/** invlpg_interception (without NPT it would be intercepted): drop the GVA, skip. */
function invlpgInterception(vcpu: KvmVcpu): number {
  svmFlushTlbGva(vcpu, toSvm(vcpu).vmcb.read64(VMCB_EXIT_INFO_1));
  return kvmSkipEmulatedInstruction(vcpu);
}

/**
 * vmmcall_interception → kvm_emulate_hypercall: RAX = 0 for KVM_HC_VAPIC_POLL_IRQ,
 * -KVM_ENOSYS otherwise, -KVM_EPERM above CPL 0.
 */
function vmmcallInterception(vcpu: KvmVcpu): number {
  const op64 = is64BitMode(vcpu);
  let nr = kvmRegisterRead(vcpu, VCPU_REGS_RAX);
  if (!op64) nr &= 0xffff_ffffn;
  let ret: bigint;
  if (svmGetCpl(vcpu) !== 0) ret = -KVM_EPERM;
  else if (nr === BigInt(KVM_HC_VAPIC_POLL_IRQ)) ret = 0n;
  else ret = -KVM_ENOSYS;
  if (!op64) ret = BigInt.asUintN(32, ret);
  kvmRegisterWrite(vcpu, VCPU_REGS_RAX, ret);
  vcpu.stat.hypercalls++;
  return kvmSkipEmulatedInstruction(vcpu);
}

/** kvm_emulate_xsetbv. */
function xsetbvInterception(vcpu: KvmVcpu): number {
  const svm = toSvm(vcpu);
  const index = Number(kvmRegisterRead(vcpu, VCPU_REGS_RCX) & 0xffff_ffffn);
  const xcr =
    ((kvmRegisterRead(vcpu, VCPU_REGS_RDX) & 0xffff_ffffn) << 32n) |
    (kvmRegisterRead(vcpu, VCPU_REGS_RAX) & 0xffff_ffffn);
  const leaf = vcpu.arch.cpuidEntries.find((e) => e.function === 0xd && e.index === 0);
  const supported = leaf ? (BigInt(leaf.edx >>> 0) << 32n) | BigInt(leaf.eax >>> 0) : 1n;
  const ok =
    svmGetCpl(vcpu) === 0 &&
    index === 0 &&
    (xcr & 1n) === 1n &&
    !((xcr & 4n) !== 0n && (xcr & 2n) === 0n) &&
    (xcr & ~supported) === 0n;
  if (!ok) {
    kvmInjectGp(vcpu, 0);
    return 1;
  }
  svm.xcr0 = xcr;
  return kvmSkipEmulatedInstruction(vcpu);
}

/**
 * npf_interception → kvm_mmu_page_fault with EXITINFO2 (the GPA) and EXITINFO1's error
 * code: RAM is retried (a write to a dirty-logged page is logged, then unprotected),
 * anything else is MMIO for the emulator.
 */
function npfInterception(vcpu: KvmVcpu): number {
  const v = toSvm(vcpu).vmcb;
  const gpa = Number(v.read64(VMCB_EXIT_INFO_2));
  const err = v.read32(VMCB_EXIT_INFO_1) & 0x1f;
  const r = kvmMmuPageFault(vcpu, gpa, err);
  if (r === 1 && err & PFERR_WRITE_MASK) {
    const gfn = Math.floor(gpa / 4096);
    const slot = gfnToMemslot(vcpu.kvm, gfn);
    if (slot?.dirtyBitmap && (slot.flags & KVM_MEM_READONLY) === 0) {
      if (toKvmSvm(vcpu.kvm).npt.makeWritable(gfn)) svmFlushTlbAsid(vcpu);
    }
  }
  return r;
}

/** svm_exit_handlers, by exit code. */
export const svmExitHandlers: ReadonlyMap<number, ExitHandler> = (() => {
  const h = new Map<number, ExitHandler>();
  for (const cr of [0, 3, 4, 8]) {
    h.set(SVM_EXIT_READ_CR0 + cr, crInterception);
    h.set(SVM_EXIT_WRITE_CR0 + cr, crInterception);
  }
  h.set(SVM_EXIT_CR0_SEL_WRITE, crInterception);
  for (let dr = 0; dr < 8; dr++) {
    h.set(SVM_EXIT_READ_DR0 + dr, drInterception);
    h.set(SVM_EXIT_WRITE_DR0 + dr, drInterception);
  }
  for (const vector of [DB_VECTOR, BP_VECTOR, UD_VECTOR, AC_VECTOR, MC_VECTOR]) {
    h.set(SVM_EXIT_EXCP_BASE + vector, exceptionInterception);
  }
  h.set(SVM_EXIT_INTR, intrInterception);
  h.set(SVM_EXIT_NMI, nmiInterception);
  h.set(SVM_EXIT_SMI, nmiInterception);
  h.set(SVM_EXIT_VINTR, interruptWindowInterception);
  h.set(SVM_EXIT_RDPMC, rdpmcInterception);
  h.set(SVM_EXIT_CPUID, kvmEmulateCpuid);
  h.set(SVM_EXIT_IRET, iretInterception);
  h.set(SVM_EXIT_INVD, kvmEmulateAsNop);
  h.set(SVM_EXIT_PAUSE, kvmEmulateAsNop);
  h.set(SVM_EXIT_HLT, kvmEmulateHalt);
  h.set(SVM_EXIT_INVLPG, invlpgInterception);
  h.set(SVM_EXIT_INVLPGA, kvmHandleInvalidOp);
  h.set(SVM_EXIT_IOIO, ioInterception);
  h.set(SVM_EXIT_MSR, msrInterception);
  h.set(SVM_EXIT_SHUTDOWN, shutdownInterception);
  h.set(SVM_EXIT_VMRUN, kvmHandleInvalidOp);
  h.set(SVM_EXIT_VMMCALL, vmmcallInterception);
  h.set(SVM_EXIT_VMLOAD, kvmHandleInvalidOp);
  h.set(SVM_EXIT_VMSAVE, kvmHandleInvalidOp);
  h.set(SVM_EXIT_STGI, kvmHandleInvalidOp);
  h.set(SVM_EXIT_CLGI, kvmHandleInvalidOp);
  h.set(SVM_EXIT_SKINIT, kvmHandleInvalidOp);
  h.set(SVM_EXIT_RDTSCP, kvmHandleInvalidOp);
  h.set(SVM_EXIT_WBINVD, kvmEmulateAsNop);
  h.set(SVM_EXIT_MONITOR, kvmEmulateAsNop);
  h.set(SVM_EXIT_MWAIT, kvmEmulateAsNop);
  h.set(SVM_EXIT_XSETBV, xsetbvInterception);
  h.set(SVM_EXIT_RDPRU, kvmHandleInvalidOp);
  h.set(SVM_EXIT_NPF, npfInterception);
  return h;
})();
