/**
 * arch/x86/kvm/vmx/vmx.c — kvm_intel: module setup (setup_vmcs_config), VMX on and off per
 * CPU (kvm_cpu_vmxon / cpu_vmxoff with the per-CPU VMXON region), the vCPU's VMCS
 * (vmx_vcpu_create, init_vmcs, vmx_vcpu_reset, vmx_vcpu_load), the register, MSR and
 * event-injection ops KVM calls, vmx_vcpu_run with its VM entry and exit, and the exit
 * handlers of kvm_vmx_exit_handlers. main.ts puts them in one table (vt_x86_ops).
 *
 * The kvm_intel of a part with EPT, VPID, unrestricted guest, virtual NMIs and the
 * "load IA32_EFER"/"load IA32_PAT" controls: no vm86 real-mode emulation, no
 * invalid-guest-state emulation, no shadow paging, no nested VMX, no in-kernel LAPIC.
 *
 * Two places differ from Linux because kvm-kernel reads some state straight from
 * vcpu.arch where Linux asks the vendor lazily (kvm_read_cr0/cr3): after each VM exit
 * the guest-owned CR0 bits and GUEST_CR3 are folded back into vcpu.arch at once.
 */
import {
  EFER_LMA,
  EFER_LME,
  EXIT_FASTPATH_NONE,
  gfnToMemslot,
  guestCpuidHas,
  type HostKernel,
  is64BitMode,
  isNoncanonicalAddress,
  KVM_REQ_EVENT,
  KVM_REQ_TLB_FLUSH,
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
  kvmReadGuest,
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
  MSR_FS_BASE,
  MSR_GS_BASE,
  MSR_IA32_CR_PAT,
  MSR_IA32_DEBUGCTLMSR,
  MSR_IA32_SPEC_CTRL,
  MSR_IA32_SYSENTER_CS,
  MSR_IA32_SYSENTER_EIP,
  MSR_IA32_SYSENTER_ESP,
  MSR_KERNEL_GS_BASE,
  MSR_LSTAR,
  MSR_STAR,
  MSR_SYSCALL_MASK,
  MSR_TSC_AUX,
  MSR_VM_HSAVE_PA,
  type MsrData,
  PFERR_FETCH_MASK,
  PFERR_PRESENT_MASK,
  PFERR_WRITE_MASK,
  traceKvmExit,
  VCPU_EXREG_CR0,
  VCPU_EXREG_CR3,
  VCPU_EXREG_CR4,
  VCPU_EXREG_RFLAGS,
  VCPU_REGS_RAX,
  VCPU_REGS_RCX,
  VCPU_REGS_RDX,
  VCPU_REGS_RIP,
  VCPU_REGS_RSP,
  VCPU_SREG_CS,
  VCPU_SREG_LDTR,
  x86EmulateInstruction,
} from "@glassvm/kvm-kernel";
import {
  EBUSY,
  EIO,
  KVM_EXIT_DEBUG,
  KVM_EXIT_FAIL_ENTRY,
  KVM_EXIT_INTERNAL_ERROR,
  KVM_EXIT_SET_TPR,
  KVM_EXIT_SHUTDOWN,
  KVM_GUESTDBG_ENABLE,
  KVM_GUESTDBG_SINGLESTEP,
  KVM_GUESTDBG_USE_HW_BP,
  KVM_GUESTDBG_USE_SW_BP,
  KVM_INTERNAL_ERROR_DELIVERY_EV,
  KVM_INTERNAL_ERROR_SIMUL_EX,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY,
  KVM_X86_SHADOW_INT_MOV_SS,
  KVM_X86_SHADOW_INT_STI,
  type KvmDtable,
  type KvmSegment,
} from "@glassvm/kvm-kernel/uapi";
import { getMsr, setMsr, type X86Cpu } from "@glassvm/x86";
import {
  CONTROL_REG_ACCESS_NUM,
  CONTROL_REG_ACCESS_REG_SHIFT,
  CPU_BASED_CR3_LOAD_EXITING,
  CPU_BASED_CR3_STORE_EXITING,
  CPU_BASED_INTR_WINDOW_EXITING,
  CPU_BASED_INVLPG_EXITING,
  CPU_BASED_MONITOR_TRAP_FLAG,
  CPU_BASED_NMI_WINDOW_EXITING,
  CPU_BASED_PAUSE_EXITING,
  CPU_BASED_RDTSC_EXITING,
  CPU_BASED_USE_IO_BITMAPS,
  CPU_BASED_USE_MSR_BITMAPS,
  CPU_BASED_VM_EXEC_CONTROL,
  CR_ACCESS_TYPE_CLTS,
  CR_ACCESS_TYPE_LMSW,
  CR_ACCESS_TYPE_MOV_FROM_CR,
  CR_ACCESS_TYPE_MOV_TO_CR,
  CR0_GUEST_HOST_MASK,
  CR0_READ_SHADOW,
  CR3_TARGET_COUNT,
  CR4_GUEST_HOST_MASK,
  CR4_READ_SHADOW,
  DEBUG_REG_ACCESS_NUM,
  DEBUG_REG_ACCESS_REG_SHIFT,
  EPT_POINTER,
  EPT_VIOLATION_ACC_INSTR,
  EPT_VIOLATION_ACC_WRITE,
  EPT_VIOLATION_RWX_MASK,
  EXCEPTION_BITMAP,
  EXIT_QUAL_IO_IN,
  EXIT_QUAL_IO_PORT_SHIFT,
  EXIT_QUAL_IO_SIZE_MASK,
  EXIT_QUAL_IO_STRING,
  EXIT_QUALIFICATION,
  FEAT_CTL_LOCKED,
  FEAT_CTL_VMX_ENABLED_INSIDE_SMX,
  FEAT_CTL_VMX_ENABLED_OUTSIDE_SMX,
  GUEST_ACTIVITY_ACTIVE,
  GUEST_ACTIVITY_STATE,
  GUEST_CR0,
  GUEST_CR3,
  GUEST_CR4,
  GUEST_DR7,
  GUEST_FS_BASE,
  GUEST_GDTR_BASE,
  GUEST_GDTR_LIMIT,
  GUEST_GS_BASE,
  GUEST_IA32_DEBUGCTL,
  GUEST_IA32_EFER,
  GUEST_IA32_PAT,
  GUEST_IDTR_BASE,
  GUEST_IDTR_LIMIT,
  GUEST_INTERRUPTIBILITY_INFO,
  GUEST_INTR_STATE_MOV_SS,
  GUEST_INTR_STATE_NMI,
  GUEST_INTR_STATE_STI,
  GUEST_PDPTR0,
  GUEST_PDPTR1,
  GUEST_PDPTR2,
  GUEST_PDPTR3,
  GUEST_PENDING_DBG_EXCEPTIONS,
  GUEST_PHYSICAL_ADDRESS,
  GUEST_RFLAGS,
  GUEST_RIP,
  GUEST_RSP,
  GUEST_SYSENTER_CS,
  GUEST_SYSENTER_EIP,
  GUEST_SYSENTER_ESP,
  HOST_CR0,
  HOST_CR3,
  HOST_CR4,
  HOST_CS_SELECTOR,
  HOST_DS_SELECTOR,
  HOST_ES_SELECTOR,
  HOST_FS_BASE,
  HOST_FS_SELECTOR,
  HOST_GDTR_BASE,
  HOST_GS_BASE,
  HOST_GS_SELECTOR,
  HOST_IA32_EFER,
  HOST_IA32_PAT,
  HOST_IA32_SYSENTER_CS,
  HOST_IA32_SYSENTER_EIP,
  HOST_IA32_SYSENTER_ESP,
  HOST_IDTR_BASE,
  HOST_RIP,
  HOST_RSP,
  HOST_SS_SELECTOR,
  HOST_TR_BASE,
  HOST_TR_SELECTOR,
  IDT_VECTORING_ERROR_CODE,
  IDT_VECTORING_INFO_FIELD,
  INTR_INFO_DELIVER_CODE_MASK,
  INTR_INFO_INTR_TYPE_MASK,
  INTR_INFO_UNBLOCK_NMI,
  INTR_INFO_VALID_MASK,
  INTR_INFO_VECTOR_MASK,
  INTR_TYPE_EXT_INTR,
  INTR_TYPE_HARD_EXCEPTION,
  INTR_TYPE_NMI_INTR,
  INTR_TYPE_PRIV_SW_EXCEPTION,
  INTR_TYPE_SOFT_EXCEPTION,
  INTR_TYPE_SOFT_INTR,
  MSR_BITMAP,
  MSR_IA32_FEAT_CTL,
  MSR_IA32_VMX_BASIC,
  MSR_IA32_VMX_CR4_FIXED1,
  MSR_IA32_VMX_VMFUNC,
  PAGE_FAULT_ERROR_CODE_MASK,
  PAGE_FAULT_ERROR_CODE_MATCH,
  PIN_BASED_POSTED_INTR,
  PIN_BASED_VM_EXEC_CONTROL,
  PIN_BASED_VMX_PREEMPTION_TIMER,
  SECONDARY_EXEC_ENABLE_VPID,
  SECONDARY_VM_EXEC_CONTROL,
  TSC_OFFSET,
  TYPE_MOV_FROM_DR,
  VIRTUAL_PROCESSOR_ID,
  VM_ENTRY_CONTROLS,
  VM_ENTRY_EXCEPTION_ERROR_CODE,
  VM_ENTRY_IA32E_MODE,
  VM_ENTRY_INSTRUCTION_LEN,
  VM_ENTRY_INTR_INFO_FIELD,
  VM_ENTRY_LOAD_IA32_PAT,
  VM_ENTRY_MSR_LOAD_COUNT,
  VM_EXIT_CONTROLS,
  VM_EXIT_INSTRUCTION_LEN,
  VM_EXIT_INTR_ERROR_CODE,
  VM_EXIT_INTR_INFO,
  VM_EXIT_LOAD_IA32_EFER,
  VM_EXIT_LOAD_IA32_PAT,
  VM_EXIT_MSR_LOAD_COUNT,
  VM_EXIT_MSR_STORE_COUNT,
  VM_EXIT_REASON,
  VM_EXIT_SAVE_IA32_EFER,
  VM_EXIT_SAVE_IA32_PAT,
  VM_EXIT_SAVE_VMX_PREEMPTION_TIMER,
  VM_INSTRUCTION_ERROR,
  VMCS_LINK_POINTER,
  VMX_EPT_EXTENT_CONTEXT,
  VMX_EPT_EXTENT_GLOBAL,
  VMX_EPT_LARGE_PAGE_MASK,
  VMX_EPT_RWX_MASK,
  VMX_EPT_WRITABLE_MASK,
  VMX_VPID_EXTENT_ALL_CONTEXT,
  VMX_VPID_EXTENT_INDIVIDUAL_ADDR,
  VMX_VPID_EXTENT_SINGLE_CONTEXT,
  X86_CR4_VMXE,
} from "./asm/vmx.js";
import {
  EXIT_REASON_APIC_ACCESS,
  EXIT_REASON_CPUID,
  EXIT_REASON_CR_ACCESS,
  EXIT_REASON_DR_ACCESS,
  EXIT_REASON_ENCLS,
  EXIT_REASON_EPT_MISCONFIG,
  EXIT_REASON_EPT_VIOLATION,
  EXIT_REASON_EXCEPTION_NMI,
  EXIT_REASON_EXTERNAL_INTERRUPT,
  EXIT_REASON_HLT,
  EXIT_REASON_INTERRUPT_WINDOW,
  EXIT_REASON_INVD,
  EXIT_REASON_INVEPT,
  EXIT_REASON_INVLPG,
  EXIT_REASON_INVVPID,
  EXIT_REASON_IO_INSTRUCTION,
  EXIT_REASON_MONITOR_INSTRUCTION,
  EXIT_REASON_MONITOR_TRAP_FLAG,
  EXIT_REASON_MSR_READ,
  EXIT_REASON_MSR_WRITE,
  EXIT_REASON_MWAIT_INSTRUCTION,
  EXIT_REASON_NMI_WINDOW,
  EXIT_REASON_NOTIFY,
  EXIT_REASON_PAUSE_INSTRUCTION,
  EXIT_REASON_PML_FULL,
  EXIT_REASON_PREEMPTION_TIMER,
  EXIT_REASON_RDPMC,
  EXIT_REASON_RDTSC,
  EXIT_REASON_TASK_SWITCH,
  EXIT_REASON_TRIPLE_FAULT,
  EXIT_REASON_VMCALL,
  EXIT_REASON_VMCLEAR,
  EXIT_REASON_VMFUNC,
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
  VMX_EXIT_REASONS_FAILED_VMENTRY,
} from "./asm/vmx-exit-reasons.js";
import {
  cpuHasVmxEpt,
  cpuHasVmxMsrBitmap,
  setupVmcsConfig,
  type VmcsConfig,
} from "./capabilities.js";
import { HOST_CR0 as HOST_CR0_VALUE, HostCpu } from "./hw/host_cpu.js";
import { VMX_SUCCEED, VMX_VMEXIT, vmxOutcomeName } from "./hw/vmx_cpu.js";
import { type EptMemslot, EptMmu } from "./mmu/ept.js";
import {
  vmcsClear,
  vmcsClearBits,
  vmcsLoad,
  vmcsRead32,
  vmcsRead64,
  vmcsReadl,
  vmcsSetBits,
  vmcsWrite16,
  vmcsWrite32,
  vmcsWrite64,
  vmcsWritel,
} from "./vmx_ops.js";
import {
  vmxGetCpl as __vmxGetCpl,
  vmxGetCsDbLBits as __vmxGetCsDbLBits,
  vmxGetSegment as __vmxGetSegment,
  vmxSetSegment as __vmxSetSegment,
  KVM_VMX_SEGMENT_FIELDS,
} from "./vmx_segments.js";

// ───────────────────────────── architectural numbers ─────────────────────────────

const X86_CR0_PE = 1 << 0;
const X86_CR0_TS = 1 << 3;
const X86_CR0_NE = 1 << 5;
const X86_CR0_WP = 1 << 16;
const X86_CR0_NW = 1 << 29;
const X86_CR0_CD = 1 << 30;
const X86_CR0_PG = 0x8000_0000;
const X86_CR4_DE = 1 << 3;
const X86_CR4_PAE = 1 << 5;
const X86_EFLAGS_TF = 1 << 8;
const X86_EFLAGS_IF = 1 << 9;
/** DR6 / pending debug exceptions bit 14: a single-step trap. */
const DR6_BS = 1n << 14n;

const DB_VECTOR = 1;
const NMI_VECTOR = 2;
const BP_VECTOR = 3;
const OF_VECTOR = 4;
const UD_VECTOR = 6;
const DF_VECTOR = 8;
const PF_VECTOR = 14;
const AC_VECTOR = 17;
const MC_VECTOR = 18;

/** uapi/linux/kvm_para.h: the hypercall KVM answers, and its error numbers. */
const KVM_HC_VAPIC_POLL_IRQ = 1;
const KVM_EPERM = 1n;
const KVM_ENOSYS = 1000n;

/** Debug-register bits (asm/debugreg.h). */
const DR6_ACTIVE_LOW = 0xffff_0ff0n;
const DR6_VOLATILE = 0x0001_e80fn;
const DR7_FIXED_1 = 0x400n;
const DR7_VOLATILE = 0xffff_2bffn;
const DR7_GD = 1n << 13n;
/** PFERR_RSVD_MASK: the reserved-bit fault an EPT misconfiguration stands for. */
const PFERR_RSVD_MASK = 1 << 3;

/** VMX_NR_VPIDS: the 16-bit VPID space. */
const VMX_NR_VPIDS = 1 << 16;

/** The GPRs the VMCS does not hold (all but RSP), as bits of regs_avail/regs_dirty. */
const GPRS_IN_REGS_ARRAY = 0xffff & ~(1 << VCPU_REGS_RSP);
/** VMX_REGS_LAZY_LOAD_SET: registers read from the VMCS on first use after an exit. */
const VMX_REGS_LAZY_LOAD_SET =
  (1 << VCPU_REGS_RSP) |
  (1 << VCPU_REGS_RIP) |
  (1 << VCPU_EXREG_RFLAGS) |
  (1 << VCPU_EXREG_CR0) |
  (1 << VCPU_EXREG_CR3) |
  (1 << VCPU_EXREG_CR4);

/** A VMCS (or VMXON region) page: its physical address and bytes. */
export interface VmcsPage {
  readonly pa: number;
  readonly bytes: Uint8Array;
}

// ───────────────────────────── module state ─────────────────────────────

/** kvm_intel's global state: the host CPUs, vmcs_config, the per-CPU VMXON regions. */
export class KvmIntel {
  readonly cpus: HostCpu[];
  vmcsConfig: VmcsConfig | null = null;
  /** per_cpu(vmxarea): each CPU's VMXON region. */
  readonly vmxarea = new Map<number, VmcsPage>();
  /** per_cpu(loaded_vmcss_on_cpu): the VMCSs each CPU may hold (VMCLEARed before VMXOFF). */
  readonly loadedVmcssOnCpu = new Map<number, Set<VcpuVmx>>();
  /** vmx_vpid_bitmap: VPIDs in use (VPID 0 is the host's). */
  readonly vpidInUse = new Set<number>();

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

  /** hardware_setup: read the capability MSRs on the boot CPU; 0 or -EIO. */
  vmxHardwareSetup(): number {
    const cpu = this.cpus[0]!;
    const cfg = setupVmcsConfig((i) => cpu.rdmsr(i));
    if (typeof cfg === "number") {
      this.kernel.printk("kvm_intel: VMX not supported by CPU (required controls missing)");
      return cfg;
    }
    this.vmcsConfig = cfg;
    for (const c of this.cpus) this.vmxarea.set(c.id, this.allocVmcsCpu());
    return 0;
  }

  /** hardware_unsetup → free_kvm_area: the VMXON regions go back to the page allocator. */
  vmxHardwareUnsetup(): void {
    for (const page of this.vmxarea.values()) this.freeVmcs(page);
    this.vmxarea.clear();
  }

  /**
   * alloc_vmcs_cpu: a zeroed page with the revision identifier at offset 0 (a VMCS or a
   * VMXON region — they share the format's first word).
   */
  allocVmcsCpu(): VmcsPage {
    const page = this.kernel.allocPage();
    new DataView(page.bytes.buffer, page.bytes.byteOffset, 4).setUint32(
      0,
      this.vmcsConfig?.revisionId ?? 0,
      true,
    );
    return page;
  }

  freeVmcs(page: VmcsPage): void {
    this.kernel.freePage(page.pa);
  }

  /** vmx_hardware_enable → kvm_cpu_vmxon: CR4.VMXE, then VMXON on the CPU's region. */
  vmxHardwareEnable(cpu: HostCpu): number {
    if ((cpu.cr4() & X86_CR4_VMXE) !== 0 || cpu.vmx.inVmxOperation) return -EBUSY;
    const area = this.vmxarea.get(cpu.id);
    if (!area) return -EIO;
    cpu.cr4Value |= X86_CR4_VMXE;
    const r = cpu.vmx.vmxon(cpu, area.pa);
    if (r !== VMX_SUCCEED) {
      cpu.cr4Value &= ~X86_CR4_VMXE;
      this.kernel.printk(`kvm: VMX: VMXON failed on CPU ${cpu.id}: ${vmxOutcomeName(r)}`);
      return -EIO;
    }
    return 0;
  }

  private initMmPgd: VmcsPage | null = null;

  /** The host kernel's page-table root (init_mm.pgd): HOST_CR3. */
  hostCr3(): number {
    this.initMmPgd ??= this.kernel.allocPage();
    return this.initMmPgd.pa;
  }

  /**
   * vmx_hardware_disable: VMCLEAR every VMCS the CPU may still cache
   * (vmclear_local_loaded_vmcss), then cpu_vmxoff — VMXOFF and CR4.VMXE cleared.
   */
  vmxHardwareDisable(cpu: HostCpu): void {
    for (const vmx of this.loadedVmcssOnCpu.get(cpu.id) ?? []) loadedVmcsClear(this, vmx);
    if (cpu.vmx.inVmxOperation) cpu.vmx.vmxoff(cpu);
    cpu.cr4Value &= ~X86_CR4_VMXE;
  }

  /** allocate_vpid: the lowest free VPID, or 0 (run untagged) without VPID or when none is left. */
  allocateVpid(): number {
    if ((this.vmcsConfig!.cpuBasedExec2Ctrl & SECONDARY_EXEC_ENABLE_VPID) === 0) return 0;
    for (let v = 1; v < VMX_NR_VPIDS; v++) {
      if (!this.vpidInUse.has(v)) {
        this.vpidInUse.add(v);
        return v;
      }
    }
    return 0;
  }

  /** free_vpid. */
  freeVpid(vpid: number): void {
    this.vpidInUse.delete(vpid);
  }
}

/**
 * kvm.module when kvm_intel is the vendor: the module object carries the module's state,
 * as kvm_intel.ko's globals belong to the one loaded copy.
 */
export interface KvmIntelVendorModule extends KvmVendorModule {
  readonly intel: KvmIntel;
}

/** kvm_intel's state for the kernel a VM belongs to. */
export const toKvmIntel = (kvm: Kvm): KvmIntel => (kvm.module as KvmIntelVendorModule).intel;

/** struct kvm_vmx: kvm_intel's part of a VM — the EPT every vCPU of it runs on. */
export class KvmVmx {
  readonly ept: EptMmu;
  /** The kvm.mmuInvalidateSeq the EPT was built for (-1: not built yet). */
  mmuSeq = -1;

  constructor(kernel: HostKernel) {
    this.ept = new EptMmu(kernel);
  }
}

export const toKvmVmx = (kvm: Kvm): KvmVmx => kvm.vendor as KvmVmx;

/** vmx_vm_init: the VM's EPT (built at the first entry). */
export function vmxVmInit(kvm: Kvm): number {
  kvm.vendor = new KvmVmx(kvm.kernel);
  return 0;
}

/** vmx_vm_destroy: the EPT tables go back to the page allocator. */
export function vmxVmDestroy(kvm: Kvm): void {
  toKvmVmx(kvm).ept.free();
}

// ───────────────────────────── per-vCPU state ─────────────────────────────

/** The host's kernel segments and tables (arch/x86 GDT layout; canonical kernel addresses). */
const __KERNEL_CS = 0x10;
const __KERNEL_DS = 0x18;
/** GDT_ENTRY_TSS * 8. */
const HOST_TR = 0x40;
/**
 * The per-CPU entry area (GDT, TSS, entry stack) of CPU 0 and the distance to the next
 * CPU's, the IDT, and the address of vmx_vmexit in the host kernel's image.
 */
const CPU_ENTRY_AREA_BASE = 0xffff_fe00_0000_1000n;
const CPU_ENTRY_AREA_SIZE = 0x3_b000n;
const HOST_GDT_OFFSET = 0x0n;
const HOST_TSS_OFFSET = 0x2000n;
const HOST_ENTRY_STACK_TOP_OFFSET = 0x2000n;
const HOST_IDT_BASE = 0xffff_fe00_0000_0000n;
const VMX_VMEXIT_RIP = 0xffff_ffff_8100_0000n;
const HOST_KERNEL_RSP = 0xffff_c900_0000_4000n;
const PAT_DEFAULT = 0x0007_0406_0007_0406n;
/** SCE | LME | LMA | NXE: the 64-bit host kernel's EFER. */
const HOST_EFER = 0xd01n;
/** KVM_VM_CR0_ALWAYS_ON_UNRESTRICTED_GUEST and KVM_VM_CR0_ALWAYS_OFF. */
const CR0_ALWAYS_ON_UG = X86_CR0_NE;
const CR0_ALWAYS_OFF = X86_CR0_NW | X86_CR0_CD;
/** KVM_VM_CR4_ALWAYS_ON_UNRESTRICTED_GUEST. */
const CR4_ALWAYS_ON_UG = X86_CR4_VMXE;
/** vmx_l1_guest_owned_cr0_bits with EPT: CR0.TS and CR0.WP change without an exit. */
const CR0_GUEST_OWNED = X86_CR0_TS | X86_CR0_WP;

/** The per-CPU entry area address of `cpu` (get_cpu_entry_area). */
const cpuEntryArea = (cpu: number): bigint =>
  CPU_ENTRY_AREA_BASE + BigInt(cpu) * CPU_ENTRY_AREA_SIZE;

/** struct vcpu_vmx (with the loaded_vmcs of vmcs01 folded in). */
export class VcpuVmx {
  /** The kvm_vcpu this is the VMX half of (set by vmx_vcpu_create). */
  vcpu: KvmVcpu | null = null;
  /** loaded_vmcs->cpu: the CPU that may cache this VMCS (-1 = VMCLEARed everywhere). */
  loadedCpu: number;
  /** loaded_vmcs->launched: VMRESUME, not VMLAUNCH, enters next. */
  launched = false;
  /** vmx->fail: the last VMLAUNCH/VMRESUME failed as an instruction (VMfailValid/Invalid). */
  fail = false;
  /** vmx->exit_reason.full (0xdead after a failed instruction). */
  exitReason = 0;
  /** vmx->idt_vectoring_info of the last exit. */
  idtVectoringInfo = 0;
  /** The exit qualification and exit interruption information, read on first use. */
  exitQualification = 0n;
  exitIntrInfo = 0;
  /** Bit 0: exitQualification read since the exit; bit 1: exitIntrInfo read. */
  exitInfoRead = 0;
  /** vcpu->arch.event_exit_inst_len: length of the soft event to re-inject. */
  eventExitInstLen = 0;
  /** vmx->rflags, valid while VCPU_EXREG_RFLAGS is available. */
  rflags = 0;
  /** controls_shadow: the VMCS controls as last written (no VMREAD to change a bit). */
  execControls = 0;
  entryControls = 0;
  exceptionBitmap = 0;
  /** loaded_vmcs->nmi_known_unmasked. */
  nmiKnownUnmasked = true;
  /** The EPT pointer in this VMCS. */
  eptp = 0n;
  /** loaded_vmcs->host_state.cr4: HOST_CR4 as last written. */
  hostCr4 = 0;
  /** The regs array __vmx_vcpu_run loads and stores: guest GPRs (not RSP) as 32-bit halves. */
  readonly gprs = new Int32Array(16);
  readonly gprsHi = new Int32Array(16);
  /** guest_uret_msrs: the user-return MSRs, loaded into the CPU around the guest. */
  star = 0n;
  lstar = 0n;
  cstar = 0n;
  syscallMask = 0n;
  tscAux = 0n;
  /** msr_guest_kernel_gs_base. */
  kernelGsBase = 0n;
  /** msr_ia32_feature_control and the bits the guest may set in it. */
  featureControl = 0n;
  featureControlValidBits = BigInt(FEAT_CTL_LOCKED);
  /** vcpu->arch.xcr0. */
  xcr0 = 1n;
  /** guest_state_loaded: the guest's MSRs and FPU are in the CPU (prepare_switch_to_guest ran). */
  guestStateLoaded = false;

  constructor(
    /** The host CPU it is loaded on. */
    public cpu: HostCpu,
    /** vmcs01: the VMCS this vCPU runs from. */
    readonly vmcs: VmcsPage,
    /** The 4 KiB MSR bitmap (every bit set: every MSR access exits until cleared). */
    readonly msrBitmap: VmcsPage,
    readonly vpid: number,
  ) {
    this.loadedCpu = cpu.id;
  }
}

/** to_vmx. */
export const toVmx = (vcpu: KvmVcpu): VcpuVmx => vcpu.vendor as VcpuVmx;

/** What vmx_vcpu_create does before kvm-kernel's part: VPID, VMCS, MSR bitmap, VMPTRLD. */
export function vmxCreateVcpuVmx(kvm: KvmIntel, cpu: HostCpu): VcpuVmx {
  const vpid = kvm.allocateVpid();
  const vmcs = kvm.allocVmcsCpu();
  const msrBitmap = kvm.kernel.allocPage();
  msrBitmap.bytes.fill(0xff);
  vmcsClear(cpu, vmcs.pa);
  vmcsLoad(cpu, vmcs.pa);
  const vmx = new VcpuVmx(cpu, vmcs, msrBitmap, vpid);
  loadedVmcssOn(kvm, cpu.id).add(vmx);
  initVmcs(kvm, vmx);
  return vmx;
}

function loadedVmcssOn(kvm: KvmIntel, cpu: number): Set<VcpuVmx> {
  let set = kvm.loadedVmcssOnCpu.get(cpu);
  if (!set) {
    set = new Set();
    kvm.loadedVmcssOnCpu.set(cpu, set);
  }
  return set;
}

/** loaded_vmcs_clear: VMCLEAR on the CPU that caches it; the next entry is a VMLAUNCH. */
export function loadedVmcsClear(kvm: KvmIntel, vmx: VcpuVmx): void {
  if (vmx.loadedCpu < 0) return;
  const cpu = kvm.cpus[vmx.loadedCpu]!;
  if (cpu.vmx.inVmxOperation) vmcsClear(cpu, vmx.vmcs.pa);
  kvm.loadedVmcssOnCpu.get(vmx.loadedCpu)?.delete(vmx);
  vmx.loadedCpu = -1;
  vmx.launched = false;
}

/** vmx_set_constant_host_state: the host state every VM exit returns to. */
export function vmxSetConstantHostState(kvm: KvmIntel, vmx: VcpuVmx): void {
  const cpu = vmx.cpu;
  const cfg = kvm.vmcsConfig!;
  vmcsWritel(cpu, HOST_CR0, BigInt(HOST_CR0_VALUE));
  vmcsWritel(cpu, HOST_CR3, BigInt(kvm.hostCr3()));
  vmx.hostCr4 = cpu.cr4();
  vmcsWritel(cpu, HOST_CR4, BigInt(vmx.hostCr4));
  vmcsWrite16(cpu, HOST_CS_SELECTOR, __KERNEL_CS);
  vmcsWrite16(cpu, HOST_DS_SELECTOR, 0);
  vmcsWrite16(cpu, HOST_ES_SELECTOR, 0);
  vmcsWrite16(cpu, HOST_SS_SELECTOR, __KERNEL_DS);
  vmcsWrite16(cpu, HOST_TR_SELECTOR, HOST_TR);
  vmcsWritel(cpu, HOST_IDTR_BASE, HOST_IDT_BASE);
  vmxSetPerCpuHostState(vmx);
  vmcsWritel(cpu, HOST_RIP, VMX_VMEXIT_RIP);
  vmcsWritel(cpu, HOST_RSP, HOST_KERNEL_RSP);
  vmcsWrite32(cpu, HOST_IA32_SYSENTER_CS, 0);
  vmcsWritel(cpu, HOST_IA32_SYSENTER_EIP, 0n);
  if ((cfg.vmexitCtrl & VM_EXIT_LOAD_IA32_PAT) !== 0) vmcsWrite64(cpu, HOST_IA32_PAT, PAT_DEFAULT);
  if ((cfg.vmexitCtrl & VM_EXIT_LOAD_IA32_EFER) !== 0) vmcsWrite64(cpu, HOST_IA32_EFER, HOST_EFER);
}

/** The host fields that name per-CPU data (vmx_vcpu_load_vmcs on a new CPU). */
function vmxSetPerCpuHostState(vmx: VcpuVmx): void {
  const cpu = vmx.cpu;
  const area = cpuEntryArea(cpu.id);
  vmcsWritel(cpu, HOST_TR_BASE, area + HOST_TSS_OFFSET);
  vmcsWritel(cpu, HOST_GDTR_BASE, area + HOST_GDT_OFFSET);
  vmcsWritel(cpu, HOST_IA32_SYSENTER_ESP, area + HOST_ENTRY_STACK_TOP_OFFSET);
}

/** vmx_exec_control: the primary controls for this vCPU (EPT: no CR3/INVLPG exits). */
export function vmxExecControl(cfg: VmcsConfig): number {
  let c = cfg.cpuBasedExecCtrl;
  // The window-exiting controls are turned on only while KVM waits for a window.
  c &= ~(
    CPU_BASED_RDTSC_EXITING |
    CPU_BASED_USE_IO_BITMAPS |
    CPU_BASED_MONITOR_TRAP_FLAG |
    CPU_BASED_PAUSE_EXITING |
    CPU_BASED_INTR_WINDOW_EXITING |
    CPU_BASED_NMI_WINDOW_EXITING
  );
  if (cpuHasVmxEpt(cfg)) {
    c &= ~(CPU_BASED_CR3_LOAD_EXITING | CPU_BASED_CR3_STORE_EXITING | CPU_BASED_INVLPG_EXITING);
  }
  return c >>> 0;
}

/** The exception bitmap without guest debugging: #DB, #UD, #AC, #MC (no #PF with EPT). */
const EB_BASE = (1 << DB_VECTOR) | (1 << UD_VECTOR) | (1 << AC_VECTOR) | (1 << MC_VECTOR);

/** init_vmcs: the control fields and constant host state of a fresh vmcs01. */
export function initVmcs(kvm: KvmIntel, vmx: VcpuVmx): void {
  const cpu = vmx.cpu;
  const cfg = kvm.vmcsConfig!;
  vmcsWrite64(cpu, VMCS_LINK_POINTER, 0xffff_ffff_ffff_ffffn);
  // vmx_pin_based_exec_ctrl: no posted interrupts (no APICv); the preemption timer is
  // armed only when a deadline needs it.
  vmcsWrite32(
    cpu,
    PIN_BASED_VM_EXEC_CONTROL,
    cfg.pinBasedExecCtrl & ~(PIN_BASED_POSTED_INTR | PIN_BASED_VMX_PREEMPTION_TIMER),
  );
  vmx.execControls = vmxExecControl(cfg);
  vmcsWrite32(cpu, CPU_BASED_VM_EXEC_CONTROL, vmx.execControls);
  vmcsWrite32(cpu, SECONDARY_VM_EXEC_CONTROL, cfg.cpuBasedExec2Ctrl);
  if (vmx.vpid) vmcsWrite16(cpu, VIRTUAL_PROCESSOR_ID, vmx.vpid);
  if (cpuHasVmxMsrBitmap(cfg) && (vmx.execControls & CPU_BASED_USE_MSR_BITMAPS) !== 0) {
    vmcsWrite64(cpu, MSR_BITMAP, BigInt(vmx.msrBitmap.pa));
  }
  vmcsWrite32(cpu, PAGE_FAULT_ERROR_CODE_MASK, 0);
  vmcsWrite32(cpu, PAGE_FAULT_ERROR_CODE_MATCH, 0);
  vmcsWrite32(cpu, CR3_TARGET_COUNT, 0);
  vmcsWrite16(cpu, HOST_FS_SELECTOR, 0);
  vmcsWrite16(cpu, HOST_GS_SELECTOR, 0);
  vmxSetConstantHostState(kvm, vmx);
  vmcsWritel(cpu, HOST_FS_BASE, 0n);
  vmcsWritel(cpu, HOST_GS_BASE, 0n);
  vmcsWrite32(cpu, VM_EXIT_MSR_STORE_COUNT, 0);
  vmcsWrite32(cpu, VM_EXIT_MSR_LOAD_COUNT, 0);
  vmcsWrite32(cpu, VM_ENTRY_MSR_LOAD_COUNT, 0);
  if ((cfg.vmentryCtrl & VM_ENTRY_LOAD_IA32_PAT) !== 0)
    vmcsWrite64(cpu, GUEST_IA32_PAT, PAT_DEFAULT);
  // vmx_vmexit_ctrl: the save-PAT/EFER/timer controls exist for nested guests only.
  vmcsWrite32(
    cpu,
    VM_EXIT_CONTROLS,
    cfg.vmexitCtrl &
      ~(VM_EXIT_SAVE_IA32_PAT | VM_EXIT_SAVE_IA32_EFER | VM_EXIT_SAVE_VMX_PREEMPTION_TIMER),
  );
  // The guest starts outside IA-32e mode; set_efer turns the entry control on. EFER is
  // always switched by the VMCS ("load IA32_EFER" on entry and exit).
  vmx.entryControls = (cfg.vmentryCtrl & ~VM_ENTRY_IA32E_MODE) >>> 0;
  vmcsWrite32(cpu, VM_ENTRY_CONTROLS, vmx.entryControls);
  vmcsWrite64(cpu, GUEST_IA32_EFER, 0n);
  vmcsWritel(cpu, CR0_GUEST_HOST_MASK, BigInt(~CR0_GUEST_OWNED >>> 0) | 0xffff_ffff_0000_0000n);
  vmcsWritel(cpu, CR4_GUEST_HOST_MASK, 0xffff_ffff_ffff_ffffn);
  vmx.exceptionBitmap = EB_BASE;
  vmcsWrite32(cpu, EXCEPTION_BITMAP, EB_BASE);
}

/** exec_controls_setbit / exec_controls_clearbit: through the shadow, VMWRITE only on change. */
function execControlsSet(vmx: VcpuVmx, value: number): void {
  value >>>= 0;
  if (value === vmx.execControls) return;
  vmx.execControls = value;
  vmcsWrite32(vmx.cpu, CPU_BASED_VM_EXEC_CONTROL, value);
}

function vmEntryControlsSet(vmx: VcpuVmx, value: number): void {
  value >>>= 0;
  if (value === vmx.entryControls) return;
  vmx.entryControls = value;
  vmcsWrite32(vmx.cpu, VM_ENTRY_CONTROLS, value);
}

// ───────────────────────────── lifecycle ─────────────────────────────

/**
 * vmx_vcpu_create: VPID, vmcs01 (VMCLEAR + VMPTRLD on the current CPU), the MSR bitmap and
 * init_vmcs. The VMCS stays current so that the reset that follows can write it.
 */
export function vmxVcpuCreate(vcpu: KvmVcpu): number {
  const intel = toKvmIntel(vcpu.kvm);
  if (!intel.vmcsConfig) return -EIO;
  const cpu = intel.cpus[Math.max(0, vcpu.cpu)] ?? intel.cpus[0]!;
  const vmx = vmxCreateVcpuVmx(intel, cpu);
  vmx.vcpu = vcpu;
  vcpu.vendor = vmx;
  return 0;
}

/** vmx_vcpu_free: VMCLEAR, then the VMCS, the MSR bitmap and the VPID are freed. */
export function vmxVcpuFree(vcpu: KvmVcpu): void {
  const intel = toKvmIntel(vcpu.kvm);
  const vmx = toVmx(vcpu);
  loadedVmcsClear(intel, vmx);
  intel.freeVmcs(vmx.vmcs);
  intel.kernel.freePage(vmx.msrBitmap.pa);
  intel.freeVpid(vmx.vpid);
}

/** seg_setup's access rights: present, accessed, read/write data (code for CS). */
const RESET_DATA_SEG: KvmSegment = {
  base: 0n,
  limit: 0xffff,
  selector: 0,
  type: 3,
  present: 1,
  dpl: 0,
  db: 0,
  s: 1,
  l: 0,
  g: 0,
  avl: 0,
  unusable: 0,
};
const RESET_CS: KvmSegment = { ...RESET_DATA_SEG, selector: 0xf000, base: 0xffff_0000n, type: 11 };
const RESET_TR: KvmSegment = { ...RESET_DATA_SEG, type: 11, s: 0 };
const RESET_LDTR: KvmSegment = { ...RESET_DATA_SEG, type: 2, s: 0 };

/**
 * vmx_vcpu_reset (with __vmx_vcpu_reset on a cold reset): the RESET/INIT state of SDM
 * Table 10-1 as unrestricted guest runs it — real mode, CS F000:FFF0 with base FFFF0000.
 * KVM sets RFLAGS, RIP, CR0, CR4 and EFER right after, through the ops.
 *
 * The second form resets a VcpuVmx that no KVM vCPU owns (hardware-level tests): the same
 * VMCS state plus what KVM would set — RIP FFF0, RFLAGS 2, CR0 60000010, CR4 0, CR3 0.
 */
export function vmxVcpuReset(vcpu: KvmVcpu, initEvent: boolean): void;
export function vmxVcpuReset(vmx: VcpuVmx): void;
export function vmxVcpuReset(target: KvmVcpu | VcpuVmx, initEvent = false): void {
  if (target instanceof VcpuVmx) {
    resetVmcs(target, false);
    vmcsSetCr0(target, 0x6000_0010);
    vmcsSetCr4(target, 0);
    vmcsWritel(target.cpu, GUEST_CR3, 0n);
    return;
  }
  const vmx = toVmx(target);
  resetVmcs(vmx, initEvent);
  target.arch.cr8 = 0;
  target.arch.regsAvail &= ~(1 << VCPU_EXREG_RFLAGS);
}

/** The VMCS part of vmx_vcpu_reset (seg_setup and friends), and vcpu_vmx's soft state. */
function resetVmcs(vmx: VcpuVmx, initEvent: boolean): void {
  const cpu = vmx.cpu;
  if (!initEvent) {
    vmcsWrite32(cpu, GUEST_SYSENTER_CS, 0);
    vmcsWritel(cpu, GUEST_SYSENTER_ESP, 0n);
    vmcsWritel(cpu, GUEST_SYSENTER_EIP, 0n);
    vmcsWrite64(cpu, GUEST_IA32_DEBUGCTL, 0n);
    vmx.star = 0n;
    vmx.lstar = 0n;
    vmx.cstar = 0n;
    vmx.syscallMask = 0n;
    vmx.tscAux = 0n;
    vmx.kernelGsBase = 0n;
    vmx.xcr0 = 1n;
  }
  for (const seg of [0, 2, 3, 4, 5]) __vmxSetSegment(cpu, RESET_DATA_SEG, seg);
  __vmxSetSegment(cpu, RESET_CS, VCPU_SREG_CS);
  __vmxSetSegment(cpu, RESET_TR, 6);
  __vmxSetSegment(cpu, RESET_LDTR, VCPU_SREG_LDTR);
  vmcsWritel(cpu, GUEST_GDTR_BASE, 0n);
  vmcsWrite32(cpu, GUEST_GDTR_LIMIT, 0xffff);
  vmcsWritel(cpu, GUEST_IDTR_BASE, 0n);
  vmcsWrite32(cpu, GUEST_IDTR_LIMIT, 0xffff);
  vmcsWrite32(cpu, GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_ACTIVE);
  vmcsWrite32(cpu, GUEST_INTERRUPTIBILITY_INFO, 0);
  vmx.nmiKnownUnmasked = true;
  vmcsWritel(cpu, GUEST_PENDING_DBG_EXCEPTIONS, 0n);
  vmcsWrite32(cpu, VM_ENTRY_INTR_INFO_FIELD, 0);
  vmcsWritel(cpu, GUEST_DR7, DR7_FIXED_1);
  vmcsWritel(cpu, GUEST_RSP, 0n);
  vmcsWritel(cpu, GUEST_RIP, 0xfff0n);
  vmcsWritel(cpu, GUEST_RFLAGS, 0x2n);
  vpidSyncContext(vmx);
}

/**
 * vmx_vcpu_load → vmx_vcpu_load_vmcs: on a CPU change the VMCS is VMCLEARed where it was
 * (it becomes "clear": the next entry is a VMLAUNCH) and the per-CPU host fields are
 * rewritten; VMPTRLD when another VMCS is current on this CPU.
 */
export function vmxVcpuLoad(vcpu: KvmVcpu, cpuId: number): void {
  const intel = toKvmIntel(vcpu.kvm);
  const vmx = toVmx(vcpu);
  const cpu = intel.cpus[cpuId] ?? intel.cpus[0]!;
  const alreadyLoaded = vmx.loadedCpu === cpu.id;
  if (!alreadyLoaded) {
    loadedVmcsClear(intel, vmx);
    loadedVmcssOn(intel, cpu.id).add(vmx);
    vmx.cpu = cpu;
  }
  if (cpu.vmx.current?.pa !== vmx.vmcs.pa) vmcsLoad(cpu, vmx.vmcs.pa);
  if (!alreadyLoaded) {
    // The new CPU may hold stale EPT/VPID translations of this vCPU.
    kvmMakeRequest(vcpu, KVM_REQ_TLB_FLUSH);
    vmxSetPerCpuHostState(vmx);
    vmx.loadedCpu = cpu.id;
  }
}

/** vmx_vcpu_put → vmx_prepare_switch_to_host. */
export function vmxVcpuPut(vcpu: KvmVcpu): void {
  vmxPrepareSwitchToHost(vcpu);
}

/** The execution core of the host CPU (what WRMSR/FXRSTOR on that CPU reach). */
const physCpu = (vmx: VcpuVmx): X86Cpu => vmx.cpu.nonRoot.cpu;

/**
 * struct kvm_user_return_msrs (x86.c), per CPU: `curr`, the value each user-return MSR
 * holds on that CPU as far as KVM knows (unknown until KVM first writes it). Only KVM
 * writes these MSRs there — the guest's WRMSRs exit (the MSR bitmap is all ones).
 */
const userReturnMsrs = new WeakMap<X86Cpu, Map<number, bigint>>();

/**
 * kvm_set_user_return_msr: WRMSR only when the value differs from what the CPU holds
 * (0 = done; 1 = the WRMSR faulted, and `curr` keeps the old value).
 */
function kvmSetUserReturnMsr(x: X86Cpu, msr: number, value: bigint): number {
  let curr = userReturnMsrs.get(x);
  if (!curr) {
    curr = new Map();
    userReturnMsrs.set(x, curr);
  }
  if (curr.get(msr) === value) return 0;
  if (!setMsr(x, msr, value)) return 1;
  curr.set(msr, value);
  return 0;
}

/**
 * vmx_prepare_switch_to_guest (+ kvm_load_guest_fpu): the user-return MSRs (STAR, LSTAR,
 * CSTAR, SYSCALL_MASK, TSC_AUX), KERNEL_GS_BASE and the guest's x87/SSE state go into the
 * CPU — none of them is switched by the VMCS. Done once per KVM_RUN, undone at vcpu_put.
 */
export function vmxPrepareSwitchToGuest(vcpu: KvmVcpu): void {
  const vmx = toVmx(vcpu);
  const a = vcpu.arch;
  if (vmx.guestStateLoaded && !a.guestFpuDirty) return;
  const x = physCpu(vmx);
  if (!vmx.guestStateLoaded) {
    // Back from userspace, which may have written guest code: a real CPU's caches see
    // such writes (they are coherent); the core's decoded blocks must be dropped.
    vmx.cpu.nonRoot.invalidateCode();
    kvmSetUserReturnMsr(x, MSR_STAR, vmx.star);
    kvmSetUserReturnMsr(x, MSR_LSTAR, vmx.lstar);
    kvmSetUserReturnMsr(x, MSR_CSTAR, vmx.cstar);
    kvmSetUserReturnMsr(x, MSR_SYSCALL_MASK, vmx.syscallMask);
    kvmSetUserReturnMsr(x, MSR_TSC_AUX, vmx.tscAux);
    setMsr(x, MSR_KERNEL_GS_BASE, vmx.kernelGsBase);
  }
  x.fpu.restoreImage(a.guestFpu);
  a.guestFpuDirty = false;
  vmx.guestStateLoaded = true;
}

/**
 * vmx_prepare_switch_to_host (+ kvm_put_guest_fpu): what the guest may have changed
 * without an exit — KERNEL_GS_BASE (SWAPGS) and the x87/SSE state — is read back.
 */
export function vmxPrepareSwitchToHost(vcpu: KvmVcpu): void {
  const vmx = toVmx(vcpu);
  if (!vmx.guestStateLoaded) return;
  const x = physCpu(vmx);
  vmx.kernelGsBase = getMsr(x, MSR_KERNEL_GS_BASE) ?? vmx.kernelGsBase;
  // An image the emulator (or KVM_SET_FPU) changed since the last entry is the newer one.
  if (!vcpu.arch.guestFpuDirty) x.fpu.saveImage(vcpu.arch.guestFpu);
  vmx.guestStateLoaded = false;
}

/**
 * kvm_fpu_get's effect for the emulator: while the guest's x87/SSE state is in the CPU,
 * vcpu.arch.guestFpu is brought up to date from it, so the emulator reads the live
 * registers. What the emulator writes back (guestFpuDirty) goes into the CPU before the
 * next entry.
 */
export function vmxSyncGuestFpu(vcpu: KvmVcpu): void {
  const vmx = toVmx(vcpu);
  if (vmx.guestStateLoaded && !vcpu.arch.guestFpuDirty)
    physCpu(vmx).fpu.saveImage(vcpu.arch.guestFpu);
}

// ───────────────────────────── registers ─────────────────────────────

/** vmx_get_segment: selector, base, limit and access rights from the VMCS. */
export function vmxGetSegment(vcpu: KvmVcpu, seg: number): KvmSegment {
  return __vmxGetSegment(toVmx(vcpu).cpu, seg);
}

/** vmx_get_segment_base. */
export function vmxGetSegmentBase(vcpu: KvmVcpu, seg: number): bigint {
  return vmcsReadl(toVmx(vcpu).cpu, KVM_VMX_SEGMENT_FIELDS[seg]!.base);
}

/**
 * vmx_set_segment → __vmx_set_segment. With unrestricted guest the "accessed" bit of every
 * segment but LDTR is forced on: the RESET state has it, and older userspace dropped it,
 * which would fail the VM-entry checks.
 */
export function vmxSetSegment(vcpu: KvmVcpu, v: KvmSegment, seg: number): void {
  const fixed = seg !== VCPU_SREG_LDTR && (v.type & 1) === 0 ? { ...v, type: v.type | 1 } : v;
  __vmxSetSegment(toVmx(vcpu).cpu, fixed, seg);
}

/** vmx_get_cpl: SS.DPL. */
export function vmxGetCpl(vcpu: KvmVcpu): number {
  return __vmxGetCpl(toVmx(vcpu).cpu);
}

/** vmx_get_cs_db_l_bits. */
export function vmxGetCsDbLBits(vcpu: KvmVcpu): { db: number; l: number } {
  return __vmxGetCsDbLBits(toVmx(vcpu).cpu);
}

/**
 * vmx_set_cr0 (unrestricted guest): the read shadow holds the guest's value; GUEST_CR0 has
 * NE forced on and CD/NW off. With EFER.LME, turning paging on or off enters or leaves
 * IA-32e mode (enter_lmode / exit_lmode).
 */
export function vmxSetCr0(vcpu: KvmVcpu, cr0: number): void {
  cr0 >>>= 0;
  const oldPg = vcpu.arch.cr0 >= X86_CR0_PG;
  vmcsSetCr0(toVmx(vcpu), cr0);
  vcpu.arch.cr0 = cr0;
  if ((vcpu.arch.efer & EFER_LME) !== 0) {
    const pg = cr0 >= X86_CR0_PG;
    if (!oldPg && pg) enterLmode(vcpu);
    else if (oldPg && !pg) exitLmode(vcpu);
  }
}

/** CR0_READ_SHADOW = the guest's CR0; GUEST_CR0 = what the hardware runs with. */
function vmcsSetCr0(vmx: VcpuVmx, cr0: number): void {
  const hwCr0 = ((cr0 & ~CR0_ALWAYS_OFF) | CR0_ALWAYS_ON_UG) >>> 0;
  vmcsWritel(vmx.cpu, CR0_READ_SHADOW, BigInt(cr0 >>> 0));
  vmcsWritel(vmx.cpu, GUEST_CR0, BigInt(hwCr0));
}

/** CR4_READ_SHADOW = the guest's CR4; GUEST_CR4 adds VMXE. */
function vmcsSetCr4(vmx: VcpuVmx, cr4: number): void {
  vmcsWritel(vmx.cpu, CR4_READ_SHADOW, BigInt(cr4 >>> 0));
  vmcsWritel(vmx.cpu, GUEST_CR4, BigInt((cr4 | CR4_ALWAYS_ON_UG) >>> 0));
}

/** enter_lmode: TR must be a busy 64-bit TSS in IA-32e mode; then EFER.LMA. */
function enterLmode(vcpu: KvmVcpu): void {
  const cpu = toVmx(vcpu).cpu;
  const trAr = vmcsRead32(cpu, KVM_VMX_SEGMENT_FIELDS[6]!.arBytes);
  if ((trAr & 0xf) !== 11) {
    vmcsWrite32(cpu, KVM_VMX_SEGMENT_FIELDS[6]!.arBytes, (trAr & ~0xf) | 11);
  }
  vmxSetEfer(vcpu, vcpu.arch.efer | EFER_LMA);
}

/** exit_lmode. */
function exitLmode(vcpu: KvmVcpu): void {
  vmxSetEfer(vcpu, vcpu.arch.efer & ~EFER_LMA);
}

/**
 * vmx_is_valid_cr4: no bit the hardware cannot run (IA32_VMX_CR4_FIXED1), and — as
 * kvm_is_valid_cr4's guest-reserved bits — none whose feature the guest's CPUID lacks.
 */
export function vmxIsValidCr4(vcpu: KvmVcpu, cr4: number): boolean {
  const fixed1 = Number(toVmx(vcpu).cpu.rdmsr(MSR_IA32_VMX_CR4_FIXED1) ?? 0xffff_ffffn);
  if ((cr4 & ~fixed1) !== 0) return false;
  const gated: readonly [number, number, "ebx" | "ecx", number][] = [
    [13, 1, "ecx", 5], // VMXE: VMX
    [14, 1, "ecx", 6], // SMXE: SMX
    [16, 7, "ebx", 0], // FSGSBASE
    [17, 1, "ecx", 17], // PCIDE: PCID
    [18, 1, "ecx", 26], // OSXSAVE: XSAVE
    [20, 7, "ebx", 7], // SMEP
    [21, 7, "ebx", 20], // SMAP
  ];
  for (const [bit, leaf, reg, feature] of gated) {
    if ((cr4 >>> bit) & 1 && !guestCpuidHas(vcpu, leaf, reg, feature)) return false;
  }
  return true;
}

/** vmx_set_cr4: the read shadow holds the guest's value, GUEST_CR4 adds VMXE. */
export function vmxSetCr4(vcpu: KvmVcpu, cr4: number): void {
  cr4 >>>= 0;
  vmcsSetCr4(toVmx(vcpu), cr4);
  vcpu.arch.cr4 = cr4;
}

/**
 * vmx_set_efer: the "IA-32e mode guest" entry control follows EFER.LMA, and EFER is
 * switched atomically through GUEST_IA32_EFER (update_transition_efer: LME is dropped
 * while LMA is clear). Linux clears "load IA32_EFER" when guest and host EFER agree; this
 * model always loads it.
 */
export function vmxSetEfer(vcpu: KvmVcpu, efer: number): number {
  const vmx = toVmx(vcpu);
  vcpu.arch.efer = efer;
  const lma = (efer & EFER_LMA) !== 0;
  vmEntryControlsSet(
    vmx,
    lma ? vmx.entryControls | VM_ENTRY_IA32E_MODE : vmx.entryControls & ~VM_ENTRY_IA32E_MODE,
  );
  const guestEfer = lma ? efer : efer & ~EFER_LME;
  vmcsWrite64(vmx.cpu, GUEST_IA32_EFER, BigInt(guestEfer >>> 0));
  return 0;
}

/** vmx_get_idt. */
export function vmxGetIdt(vcpu: KvmVcpu): KvmDtable {
  const cpu = toVmx(vcpu).cpu;
  return { limit: vmcsRead32(cpu, GUEST_IDTR_LIMIT), base: vmcsReadl(cpu, GUEST_IDTR_BASE) };
}

/** vmx_set_idt. */
export function vmxSetIdt(vcpu: KvmVcpu, dt: KvmDtable): void {
  const cpu = toVmx(vcpu).cpu;
  vmcsWrite32(cpu, GUEST_IDTR_LIMIT, dt.limit);
  vmcsWritel(cpu, GUEST_IDTR_BASE, dt.base);
}

/** vmx_get_gdt. */
export function vmxGetGdt(vcpu: KvmVcpu): KvmDtable {
  const cpu = toVmx(vcpu).cpu;
  return { limit: vmcsRead32(cpu, GUEST_GDTR_LIMIT), base: vmcsReadl(cpu, GUEST_GDTR_BASE) };
}

/** vmx_set_gdt. */
export function vmxSetGdt(vcpu: KvmVcpu, dt: KvmDtable): void {
  const cpu = toVmx(vcpu).cpu;
  vmcsWrite32(cpu, GUEST_GDTR_LIMIT, dt.limit);
  vmcsWritel(cpu, GUEST_GDTR_BASE, dt.base);
}

/** vmx_set_dr7. */
export function vmxSetDr7(vcpu: KvmVcpu, value: bigint): void {
  vmcsWritel(toVmx(vcpu).cpu, GUEST_DR7, value);
}

/**
 * vmx_cache_reg: RSP and RIP from the VMCS; the guest-owned CR0 bits; CR3 when the guest
 * loads it without an exit (EPT); CR4 (no guest-owned bits here).
 */
export function vmxCacheReg(vcpu: KvmVcpu, reg: number): void {
  const vmx = toVmx(vcpu);
  const a = vcpu.arch;
  switch (reg) {
    case VCPU_REGS_RSP:
      a.regs[VCPU_REGS_RSP] = vmcsReadl(vmx.cpu, GUEST_RSP);
      break;
    case VCPU_REGS_RIP:
      a.regs[VCPU_REGS_RIP] = vmcsReadl(vmx.cpu, GUEST_RIP);
      break;
    case VCPU_EXREG_CR0: {
      const hw = Number(vmcsReadl(vmx.cpu, GUEST_CR0) & 0xffff_ffffn);
      a.cr0 = ((a.cr0 & ~CR0_GUEST_OWNED) | (hw & CR0_GUEST_OWNED)) >>> 0;
      break;
    }
    case VCPU_EXREG_CR3:
      if ((vmx.execControls & CPU_BASED_CR3_LOAD_EXITING) === 0) {
        a.cr3 = vmcsReadl(vmx.cpu, GUEST_CR3);
      }
      break;
    default:
      break;
  }
}

/** vmx_get_rflags: GUEST_RFLAGS, cached until the next exit. */
export function vmxGetRflags(vcpu: KvmVcpu): number {
  const vmx = toVmx(vcpu);
  const a = vcpu.arch;
  if ((a.regsAvail & (1 << VCPU_EXREG_RFLAGS)) === 0) {
    vmx.rflags = Number(vmcsReadl(vmx.cpu, GUEST_RFLAGS) & 0xffff_ffffn);
    a.regsAvail |= 1 << VCPU_EXREG_RFLAGS;
  }
  return vmx.rflags;
}

/** vmx_set_rflags. */
export function vmxSetRflags(vcpu: KvmVcpu, rflags: number): void {
  const vmx = toVmx(vcpu);
  vmx.rflags = rflags >>> 0;
  vcpu.arch.regsAvail |= 1 << VCPU_EXREG_RFLAGS;
  vmcsWritel(vmx.cpu, GUEST_RFLAGS, BigInt(vmx.rflags));
}

/** vmx_get_if_flag. */
export function vmxGetIfFlag(vcpu: KvmVcpu): boolean {
  return (vmxGetRflags(vcpu) & X86_EFLAGS_IF) !== 0;
}

/** vmx_get_interrupt_shadow: STI / MOV-SS blocking as KVM_X86_SHADOW_INT_* bits. */
export function vmxGetInterruptShadow(vcpu: KvmVcpu): number {
  const intr = vmcsRead32(toVmx(vcpu).cpu, GUEST_INTERRUPTIBILITY_INFO);
  let ret = 0;
  if (intr & GUEST_INTR_STATE_STI) ret |= KVM_X86_SHADOW_INT_STI;
  if (intr & GUEST_INTR_STATE_MOV_SS) ret |= KVM_X86_SHADOW_INT_MOV_SS;
  return ret;
}

/** vmx_set_interrupt_shadow: MOV-SS blocking wins when both are asked for. */
export function vmxSetInterruptShadow(vcpu: KvmVcpu, mask: number): void {
  const cpu = toVmx(vcpu).cpu;
  const old = vmcsRead32(cpu, GUEST_INTERRUPTIBILITY_INFO);
  let intr = old & ~(GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS);
  if (mask & KVM_X86_SHADOW_INT_MOV_SS) intr |= GUEST_INTR_STATE_MOV_SS;
  else if (mask & KVM_X86_SHADOW_INT_STI) intr |= GUEST_INTR_STATE_STI;
  if (intr !== old) vmcsWrite32(cpu, GUEST_INTERRUPTIBILITY_INFO, intr);
}

/** vmx_write_tsc_offset: what the guest's RDTSC adds to the host TSC. */
export function vmxWriteTscOffset(vcpu: KvmVcpu, offset: bigint): void {
  vmcsWrite64(toVmx(vcpu).cpu, TSC_OFFSET, offset);
}

/** vmx_patch_hypercall: VMCALL (0F 01 C1). */
export function vmxPatchHypercall(_vcpu: KvmVcpu, buf: Uint8Array): void {
  buf[0] = 0x0f;
  buf[1] = 0x01;
  buf[2] = 0xc1;
}

/**
 * vmx_update_exception_bitmap: #DB, #UD, #AC and #MC always exit; #BP too while userspace
 * debugs the guest with software breakpoints (KVM_GUESTDBG_USE_SW_BP).
 */
export function vmxUpdateExceptionBitmap(vcpu: KvmVcpu): void {
  const vmx = toVmx(vcpu);
  let eb = EB_BASE;
  const both = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP;
  if ((vcpu.guestDebug & both) === both) eb |= 1 << BP_VECTOR;
  if (eb === vmx.exceptionBitmap) return;
  vmx.exceptionBitmap = eb;
  vmcsWrite32(vmx.cpu, EXCEPTION_BITMAP, eb);
}

// ───────────────────────────── MSRs ─────────────────────────────

/**
 * vmx_get_msr: the MSRs whose guest values live in the VMCS (FS/GS base, SYSENTER,
 * DEBUGCTL) or in vcpu_vmx (the user-return MSRs, KERNEL_GS_BASE, FEATURE_CONTROL), then
 * kvm_get_msr_common. 1 = no such MSR (#GP for the guest).
 */
export function vmxGetMsr(vcpu: KvmVcpu, msr: MsrData): number {
  const vmx = toVmx(vcpu);
  const cpu = vmx.cpu;
  switch (msr.index) {
    case MSR_FS_BASE:
      msr.data = vmcsReadl(cpu, GUEST_FS_BASE);
      return 0;
    case MSR_GS_BASE:
      msr.data = vmcsReadl(cpu, GUEST_GS_BASE);
      return 0;
    case MSR_KERNEL_GS_BASE:
      msr.data = vmx.guestStateLoaded
        ? (getMsr(physCpu(vmx), MSR_KERNEL_GS_BASE) ?? vmx.kernelGsBase)
        : vmx.kernelGsBase;
      return 0;
    case MSR_IA32_SYSENTER_CS:
      msr.data = BigInt(vmcsRead32(cpu, GUEST_SYSENTER_CS));
      return 0;
    case MSR_IA32_SYSENTER_EIP:
      msr.data = vmcsReadl(cpu, GUEST_SYSENTER_EIP);
      return 0;
    case MSR_IA32_SYSENTER_ESP:
      msr.data = vmcsReadl(cpu, GUEST_SYSENTER_ESP);
      return 0;
    case MSR_IA32_DEBUGCTLMSR:
      msr.data = vmcsRead64(cpu, GUEST_IA32_DEBUGCTL);
      return 0;
    case MSR_IA32_FEAT_CTL:
      msr.data = vmx.featureControl;
      return 0;
    case MSR_STAR:
      msr.data = vmx.star;
      return 0;
    case MSR_LSTAR:
      msr.data = vmx.lstar;
      return 0;
    case MSR_CSTAR:
      msr.data = vmx.cstar;
      return 0;
    case MSR_SYSCALL_MASK:
      msr.data = vmx.syscallMask;
      return 0;
    case MSR_TSC_AUX:
      if (!msr.hostInitiated && !guestCpuidHas(vcpu, 0x8000_0001, "edx", 27)) return 1;
      msr.data = vmx.tscAux;
      return 0;
    default:
      // The VMX capability MSRs exist for a guest only with nested VMX.
      if (msr.index >= MSR_IA32_VMX_BASIC && msr.index <= MSR_IA32_VMX_VMFUNC) return 1;
      return kvmGetMsrCommon(vcpu, msr);
  }
}

/**
 * vmx_set_msr (with __kvm_set_msr's canonical checks): 0 = written, 1 = refused (#GP for
 * the guest, KVM_SET_MSRS stops there).
 */
export function vmxSetMsr(vcpu: KvmVcpu, msr: MsrData): number {
  const vmx = toVmx(vcpu);
  const cpu = vmx.cpu;
  const data = BigInt.asUintN(64, msr.data);
  switch (msr.index) {
    case MSR_FS_BASE:
    case MSR_GS_BASE:
    case MSR_KERNEL_GS_BASE:
    case MSR_LSTAR:
    case MSR_CSTAR:
      if (isNoncanonicalAddress(data)) return 1;
  }
  switch (msr.index) {
    case MSR_FS_BASE:
      vmcsWritel(cpu, GUEST_FS_BASE, data);
      return 0;
    case MSR_GS_BASE:
      vmcsWritel(cpu, GUEST_GS_BASE, data);
      return 0;
    case MSR_KERNEL_GS_BASE:
      vmx.kernelGsBase = data;
      if (vmx.guestStateLoaded) setMsr(physCpu(vmx), MSR_KERNEL_GS_BASE, data);
      return 0;
    case MSR_IA32_SYSENTER_CS:
      vmcsWrite32(cpu, GUEST_SYSENTER_CS, Number(data & 0xffff_ffffn));
      return 0;
    case MSR_IA32_SYSENTER_EIP:
      // Intel truncates a non-canonical SYSENTER_EIP/ESP rather than faulting.
      vmcsWritel(cpu, GUEST_SYSENTER_EIP, BigInt.asUintN(64, BigInt.asIntN(48, data)));
      return 0;
    case MSR_IA32_SYSENTER_ESP:
      vmcsWritel(cpu, GUEST_SYSENTER_ESP, BigInt.asUintN(64, BigInt.asIntN(48, data)));
      return 0;
    case MSR_IA32_DEBUGCTLMSR:
      // Neither LBRs nor BTF are virtualized: bits 0 and 1 are dropped, others refused.
      if ((data & ~3n) !== 0n) return 1;
      vmcsWrite64(cpu, GUEST_IA32_DEBUGCTL, 0n);
      return 0;
    case MSR_IA32_CR_PAT: {
      const r = kvmSetMsrCommon(vcpu, msr);
      if (r === 0) vmcsWrite64(cpu, GUEST_IA32_PAT, data);
      return r;
    }
    case MSR_IA32_FEAT_CTL:
      // Writable until locked (by the guest; userspace may always write it).
      if (!msr.hostInitiated && (vmx.featureControl & BigInt(FEAT_CTL_LOCKED)) !== 0n) return 1;
      if ((data & ~vmx.featureControlValidBits) !== 0n) return 1;
      vmx.featureControl = data;
      return 0;
    case MSR_STAR:
      vmx.star = data;
      break;
    case MSR_LSTAR:
      vmx.lstar = data;
      break;
    case MSR_CSTAR:
      vmx.cstar = data;
      break;
    case MSR_SYSCALL_MASK:
      vmx.syscallMask = data & 0xffff_ffffn;
      break;
    case MSR_TSC_AUX:
      if (!msr.hostInitiated && !guestCpuidHas(vcpu, 0x8000_0001, "edx", 27)) return 1;
      if (data >> 32n !== 0n) return 1;
      vmx.tscAux = data;
      break;
    default:
      if (msr.index >= MSR_IA32_VMX_BASIC && msr.index <= MSR_IA32_VMX_VMFUNC) return 1;
      return kvmSetMsrCommon(vcpu, msr);
  }
  // A user-return MSR: straight into the CPU while the guest's values are loaded.
  if (vmx.guestStateLoaded) kvmSetUserReturnMsr(physCpu(vmx), msr.index, data);
  return 0;
}

/**
 * vmx_has_emulated_msr (and, for the MSR index list, kvm_probe_msr_to_save): this part has
 * no IA32_SPEC_CTRL, and VM_HSAVE_PA is AMD's.
 */
export function vmxHasEmulatedMsr(_kvm: Kvm | null, index: number): boolean {
  return index !== MSR_IA32_SPEC_CTRL && index !== MSR_VM_HSAVE_PA;
}

/** vmx_get_msr_feature: the VMX capability MSRs are features only with nested VMX. */
export function vmxGetMsrFeature(_msr: MsrData): number {
  return 1;
}

/**
 * vmx_vcpu_after_set_cpuid: which IA32_FEATURE_CONTROL bits the guest may set follows its
 * CPUID (VMX enabled outside SMX with VMX, inside SMX with VMX and SMX).
 */
export function vmxVcpuAfterSetCpuid(vcpu: KvmVcpu): void {
  const vmx = toVmx(vcpu);
  let valid = FEAT_CTL_LOCKED;
  if (guestCpuidHas(vcpu, 1, "ecx", 5)) {
    valid |= FEAT_CTL_VMX_ENABLED_OUTSIDE_SMX;
    if (guestCpuidHas(vcpu, 1, "ecx", 6)) valid |= FEAT_CTL_VMX_ENABLED_INSIDE_SMX;
  }
  vmx.featureControlValidBits = BigInt(valid);
}

// ───────────────────────────── MMU (EPT) ─────────────────────────────

/** Frames per chunk of a dirty-logged slot: below 512, so no chunk gets a 2 MiB mapping. */
const DIRTY_LOG_CHUNK = 511;
/** The guest-physical frames 4-level EPT reaches. */
const EPT_GFN_LIMIT = 2 ** 36;

/**
 * The EPT's view of the VM's memslots (address space 0). A slot under dirty logging is
 * mapped 4 KiB at a time and write-protected, so the first write to each page after a
 * KVM_GET_DIRTY_LOG exits and is logged (kvm_mmu_slot_remove_write_access).
 */
function eptMemslots(kvm: Kvm): EptMemslot[] {
  const out: EptMemslot[] = [];
  for (const s of kvm.memslots[0]!.slots) {
    if (s.baseGfn + s.npages > EPT_GFN_LIMIT) continue;
    const readonly = (s.flags & KVM_MEM_READONLY) !== 0;
    if ((s.flags & KVM_MEM_LOG_DIRTY_PAGES) === 0 || readonly) {
      out.push({ baseGfn: s.baseGfn, npages: s.npages, bytes: s.bytes, readonly });
      continue;
    }
    for (let i = 0; i < s.npages; i += DIRTY_LOG_CHUNK) {
      const n = Math.min(DIRTY_LOG_CHUNK, s.npages - i);
      const bytes = s.bytes.subarray(i * 4096, (i + n) * 4096);
      out.push({ baseGfn: s.baseGfn + i, npages: n, bytes, readonly: true });
    }
  }
  return out;
}

/**
 * kvm_mmu_load for this eager EPT: when the memslots changed (kvm->mmu_invalidate_seq
 * moved) the tables are rebuilt and the old context invalidated; a vCPU whose VMCS holds
 * another EPTP gets the new one, followed by INVEPT single-context.
 */
export function kvmMmuLoad(vcpu: KvmVcpu): void {
  const kvm = vcpu.kvm;
  const kv = toKvmVmx(kvm);
  const vmx = toVmx(vcpu);
  if (kv.mmuSeq !== kvm.mmuInvalidateSeq) {
    const old = kv.ept.eptp;
    kv.ept.build(eptMemslots(kvm));
    kv.mmuSeq = kvm.mmuInvalidateSeq;
    // Pages logged dirty already need no further write faults.
    for (const s of kvm.memslots[0]!.slots) {
      const bm = s.dirtyBitmap;
      if (!bm || (s.flags & KVM_MEM_READONLY) !== 0 || s.baseGfn + s.npages > EPT_GFN_LIMIT) {
        continue;
      }
      for (let i = 0; i < s.npages; i++) {
        if ((bm[i >> 3]! >> (i & 7)) & 1)
          eptSpteMakeWritable(kvm.kernel, kv.ept.eptp, s.baseGfn + i);
      }
    }
    if (old !== 0n) eptSyncContext(vmx, old);
  }
  if (vmx.eptp !== kv.ept.eptp) {
    vmx.eptp = kv.ept.eptp;
    vmcsWrite64(vmx.cpu, EPT_POINTER, vmx.eptp);
    eptSyncContext(vmx, vmx.eptp);
  }
}

/**
 * fast_page_fault for dirty logging: the write-protected leaf that maps `gfn` becomes
 * writable in place. False when no 4 KiB leaf maps it.
 */
export function eptSpteMakeWritable(kernel: HostKernel, eptp: bigint, gfn: number): boolean {
  let tablePa = Number(eptp & 0x000f_ffff_ffff_f000n);
  for (let level = 4; level >= 1; level--) {
    const table = kernel.physBytes(tablePa, 4096);
    if (!table) return false;
    const at = (Math.floor(gfn / 2 ** (9 * (level - 1))) % 512) * 8;
    const lo =
      (table[at]! | (table[at + 1]! << 8) | (table[at + 2]! << 16) | (table[at + 3]! << 24)) >>> 0;
    const hi =
      table[at + 4]! | (table[at + 5]! << 8) | (table[at + 6]! << 16) | (table[at + 7]! << 24);
    if ((lo & VMX_EPT_RWX_MASK) === 0) return false;
    if (level === 1) {
      table[at] = (lo | VMX_EPT_WRITABLE_MASK) & 0xff;
      // Bits 57 and 58: the host and the MMU allow writes (spte.h software bits).
      table[at + 7] = ((hi | (3 << 25)) >>> 24) & 0xff;
      return true;
    }
    if ((lo & VMX_EPT_LARGE_PAGE_MASK) !== 0) return false;
    tablePa = (hi & 0xf_ffff) * 2 ** 32 + ((lo & 0xffff_f000) >>> 0);
  }
  return false;
}

/** ept_sync_context: INVEPT single-context (all contexts where the part lacks it). */
function eptSyncContext(vmx: VcpuVmx, eptp: bigint): void {
  const cpu = vmx.cpu;
  if (cpu.vmx.invept(cpu, VMX_EPT_EXTENT_CONTEXT, eptp) !== VMX_SUCCEED) {
    cpu.vmx.invept(cpu, VMX_EPT_EXTENT_GLOBAL, 0n);
  }
}

/** vpid_sync_context: INVVPID single-context for this vCPU's VPID. */
function vpidSyncContext(vmx: VcpuVmx): void {
  if (vmx.vpid === 0) return;
  vmx.cpu.vmx.invvpid(vmx.cpu, VMX_VPID_EXTENT_SINGLE_CONTEXT, vmx.vpid, 0n);
}

/** is_pae_paging: CR0.PG, CR4.PAE, not IA-32e mode. */
const isPaePaging = (vcpu: KvmVcpu): boolean =>
  vcpu.arch.cr0 >= X86_CR0_PG &&
  (vcpu.arch.cr4 & X86_CR4_PAE) !== 0 &&
  (vcpu.arch.efer & EFER_LMA) === 0;

const GUEST_PDPTRS = [GUEST_PDPTR0, GUEST_PDPTR1, GUEST_PDPTR2, GUEST_PDPTR3] as const;

/**
 * vmx_load_mmu_pgd with EPT: the EPT pointer, the guest's own CR3, and — for PAE paging,
 * whose PDPTEs VM entry takes from the VMCS — the four PDPTEs read from guest memory
 * (load_pdptrs + vmx_ept_load_pdptrs).
 *
 * The second form installs a given EPTP and guest CR3 in a VcpuVmx no KVM vCPU owns.
 */
export function vmxLoadMmuPgd(vcpu: KvmVcpu): void;
export function vmxLoadMmuPgd(vmx: VcpuVmx, eptp: bigint, guestCr3: bigint): void;
export function vmxLoadMmuPgd(target: KvmVcpu | VcpuVmx, eptp = 0n, guestCr3 = 0n): void {
  if (target instanceof VcpuVmx) {
    target.eptp = eptp;
    vmcsWrite64(target.cpu, EPT_POINTER, eptp);
    vmcsWritel(target.cpu, GUEST_CR3, guestCr3);
    return;
  }
  const vcpu = target;
  const vmx = toVmx(vcpu);
  kvmMmuLoad(vcpu);
  vmcsWritel(vmx.cpu, GUEST_CR3, vcpu.arch.cr3);
  if (isPaePaging(vcpu)) {
    const b = new Uint8Array(32);
    const base = Number(vcpu.arch.cr3 & 0xffff_ffe0n);
    if (kvmReadGuest(vcpu.kvm, base, b) !== 0) b.fill(0);
    const dv = new DataView(b.buffer);
    for (let i = 0; i < 4; i++)
      vmcsWrite64(vmx.cpu, GUEST_PDPTRS[i]!, dv.getBigUint64(8 * i, true));
  }
}

/** vmx_flush_tlb_all: INVEPT all-context. */
export function vmxFlushTlbAll(vcpu: KvmVcpu): void {
  const cpu = toVmx(vcpu).cpu;
  cpu.vmx.invept(cpu, VMX_EPT_EXTENT_GLOBAL, 0n);
}

/** vmx_flush_tlb_current: INVEPT single-context for the loaded EPTP. */
export function vmxFlushTlbCurrent(vcpu: KvmVcpu): void {
  const vmx = toVmx(vcpu);
  if (vmx.eptp !== 0n) eptSyncContext(vmx, vmx.eptp);
}

/** vmx_flush_tlb_gva: INVVPID individual-address. */
export function vmxFlushTlbGva(vcpu: KvmVcpu, gva: bigint): void {
  const vmx = toVmx(vcpu);
  if (vmx.vpid === 0) return;
  vmx.cpu.vmx.invvpid(vmx.cpu, VMX_VPID_EXTENT_INDIVIDUAL_ADDR, vmx.vpid, gva);
}

/** vmx_flush_tlb_guest: the guest's linear translations (INVVPID single-context). */
export function vmxFlushTlbGuest(vcpu: KvmVcpu): void {
  const vmx = toVmx(vcpu);
  if (vmx.vpid !== 0) vpidSyncContext(vmx);
  else vmx.cpu.vmx.invvpid(vmx.cpu, VMX_VPID_EXTENT_ALL_CONTEXT, 0, 0n);
}

// ───────────────────────────── event injection ─────────────────────────────

/** vmx_inject_irq: an external interrupt, or INT n re-injected with its length. */
export function vmxInjectIrq(vcpu: KvmVcpu, _reinjected: boolean): void {
  const vmx = toVmx(vcpu);
  const irq = vcpu.arch.interrupt;
  vcpu.stat.irq_injections++;
  let intr = (irq.nr & INTR_INFO_VECTOR_MASK) | INTR_INFO_VALID_MASK;
  if (irq.soft) {
    intr |= INTR_TYPE_SOFT_INTR;
    vmcsWrite32(vmx.cpu, VM_ENTRY_INSTRUCTION_LEN, vmx.eventExitInstLen);
  } else {
    intr |= INTR_TYPE_EXT_INTR;
  }
  vmcsWrite32(vmx.cpu, VM_ENTRY_INTR_INFO_FIELD, intr >>> 0);
}

/** vmx_inject_nmi. */
export function vmxInjectNmi(vcpu: KvmVcpu): void {
  const vmx = toVmx(vcpu);
  vcpu.stat.nmi_injections++;
  vmx.nmiKnownUnmasked = false;
  vmcsWrite32(
    vmx.cpu,
    VM_ENTRY_INTR_INFO_FIELD,
    (NMI_VECTOR | INTR_TYPE_NMI_INTR | INTR_INFO_VALID_MASK) >>> 0,
  );
}

/**
 * vmx_inject_exception: #BP and #OF as software exceptions with the instruction length of
 * the exit that produced them, the rest as hardware exceptions. Real mode delivers no
 * error code (kvm_inject_exception drops it there), and VMX takes only 16 bits of it.
 */
export function vmxInjectException(vcpu: KvmVcpu): void {
  const vmx = toVmx(vcpu);
  const ex = vcpu.arch.exception;
  let intr = (ex.vector & INTR_INFO_VECTOR_MASK) | INTR_INFO_VALID_MASK;
  if (ex.hasErrorCode && (vcpu.arch.cr0 & X86_CR0_PE) !== 0) {
    vmcsWrite32(vmx.cpu, VM_ENTRY_EXCEPTION_ERROR_CODE, ex.errorCode & 0xffff);
    intr |= INTR_INFO_DELIVER_CODE_MASK;
  }
  if (ex.vector === BP_VECTOR || ex.vector === OF_VECTOR) {
    vmcsWrite32(vmx.cpu, VM_ENTRY_INSTRUCTION_LEN, vmx.eventExitInstLen);
    intr |= INTR_TYPE_SOFT_EXCEPTION;
  } else {
    intr |= INTR_TYPE_HARD_EXCEPTION;
  }
  vmcsWrite32(vmx.cpu, VM_ENTRY_INTR_INFO_FIELD, intr >>> 0);
}

/** vmx_cancel_injection: the pending entry event goes back to KVM's queues. */
export function vmxCancelInjection(vcpu: KvmVcpu): void {
  const cpu = toVmx(vcpu).cpu;
  __vmxCompleteInterrupts(
    vcpu,
    vmcsRead32(cpu, VM_ENTRY_INTR_INFO_FIELD),
    VM_ENTRY_INSTRUCTION_LEN,
    VM_ENTRY_EXCEPTION_ERROR_CODE,
  );
  vmcsWrite32(cpu, VM_ENTRY_INTR_INFO_FIELD, 0);
}

/** vmx_interrupt_blocked: RFLAGS.IF clear, or blocking by STI or MOV SS. */
export function vmxInterruptBlocked(vcpu: KvmVcpu): boolean {
  if ((vmxGetRflags(vcpu) & X86_EFLAGS_IF) === 0) return true;
  const intr = vmcsRead32(toVmx(vcpu).cpu, GUEST_INTERRUPTIBILITY_INFO);
  return (intr & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS)) !== 0;
}

/** vmx_interrupt_allowed. */
export function vmxInterruptAllowed(vcpu: KvmVcpu, _forInjection: boolean): number {
  return vmxInterruptBlocked(vcpu) ? 0 : 1;
}

/** vmx_nmi_blocked: blocking by STI, MOV SS or NMI. */
export function vmxNmiBlocked(vcpu: KvmVcpu): boolean {
  const intr = vmcsRead32(toVmx(vcpu).cpu, GUEST_INTERRUPTIBILITY_INFO);
  return (intr & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS | GUEST_INTR_STATE_NMI)) !== 0;
}

/** vmx_nmi_allowed. */
export function vmxNmiAllowed(vcpu: KvmVcpu, _forInjection: boolean): number {
  return vmxNmiBlocked(vcpu) ? 0 : 1;
}

/** vmx_get_nmi_mask: blocking by NMI (virtual-NMI blocking). */
export function vmxGetNmiMask(vcpu: KvmVcpu): boolean {
  const vmx = toVmx(vcpu);
  if (vmx.nmiKnownUnmasked) return false;
  const masked = (vmcsRead32(vmx.cpu, GUEST_INTERRUPTIBILITY_INFO) & GUEST_INTR_STATE_NMI) !== 0;
  vmx.nmiKnownUnmasked = !masked;
  return masked;
}

/** vmx_set_nmi_mask. */
export function vmxSetNmiMask(vcpu: KvmVcpu, masked: boolean): void {
  const vmx = toVmx(vcpu);
  vmx.nmiKnownUnmasked = !masked;
  if (masked) vmcsSetBits(vmx.cpu, GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_STATE_NMI);
  else vmcsClearBits(vmx.cpu, GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_STATE_NMI);
}

/** vmx_enable_irq_window: exit as soon as the guest can take an interrupt. */
export function vmxEnableIrqWindow(vcpu: KvmVcpu): void {
  const vmx = toVmx(vcpu);
  execControlsSet(vmx, vmx.execControls | CPU_BASED_INTR_WINDOW_EXITING);
}

/**
 * vmx_enable_nmi_window: exit when virtual-NMI blocking ends — or, under STI blocking
 * (which the NMI window does not wait for), at the interrupt window.
 */
export function vmxEnableNmiWindow(vcpu: KvmVcpu): void {
  const vmx = toVmx(vcpu);
  if (vmcsRead32(vmx.cpu, GUEST_INTERRUPTIBILITY_INFO) & GUEST_INTR_STATE_STI) {
    vmxEnableIrqWindow(vcpu);
    return;
  }
  execControlsSet(vmx, vmx.execControls | CPU_BASED_NMI_WINDOW_EXITING);
}

/**
 * __vmx_complete_interrupts: whatever was injected has been delivered — unless
 * `vectoringInfo` says the delivery was cut short by the exit, and then it is queued
 * again (NMI, exception with its error code, soft event with its length, interrupt).
 */
function __vmxCompleteInterrupts(
  vcpu: KvmVcpu,
  vectoringInfo: number,
  instrLenField: number,
  errorCodeField: number,
): void {
  const vmx = toVmx(vcpu);
  vcpu.arch.nmiInjected = false;
  kvmClearExceptionQueue(vcpu);
  kvmClearInterruptQueue(vcpu);
  if ((vectoringInfo & INTR_INFO_VALID_MASK) === 0) return;
  kvmMakeRequest(vcpu, KVM_REQ_EVENT);
  const vector = vectoringInfo & INTR_INFO_VECTOR_MASK;
  const type = vectoringInfo & INTR_INFO_INTR_TYPE_MASK;
  switch (type) {
    case INTR_TYPE_NMI_INTR:
      vcpu.arch.nmiInjected = true;
      // An NMI being delivered is not yet blocking further NMIs (SDM 27.7.1.2).
      vmxSetNmiMask(vcpu, false);
      break;
    case INTR_TYPE_SOFT_EXCEPTION:
    case INTR_TYPE_HARD_EXCEPTION:
      if (type === INTR_TYPE_SOFT_EXCEPTION) {
        vmx.eventExitInstLen = vmcsRead32(vmx.cpu, instrLenField);
      }
      if (vectoringInfo & INTR_INFO_DELIVER_CODE_MASK) {
        kvmRequeueException(vcpu, vector, vmcsRead32(vmx.cpu, errorCodeField));
      } else {
        kvmRequeueException(vcpu, vector);
      }
      break;
    case INTR_TYPE_SOFT_INTR:
    case INTR_TYPE_EXT_INTR:
      if (type === INTR_TYPE_SOFT_INTR) vmx.eventExitInstLen = vmcsRead32(vmx.cpu, instrLenField);
      kvmQueueInterrupt(vcpu, vector, type === INTR_TYPE_SOFT_INTR);
      break;
    default:
      break;
  }
}

/** vmx_complete_interrupts: requeue from IDT_VECTORING_INFO_FIELD. */
export function vmxCompleteInterrupts(vcpu: KvmVcpu): void {
  __vmxCompleteInterrupts(
    vcpu,
    toVmx(vcpu).idtVectoringInfo,
    VM_EXIT_INSTRUCTION_LEN,
    IDT_VECTORING_ERROR_CODE,
  );
}

/**
 * vmx_recover_nmi_blocking: a fault on the guest's IRET unblocked NMIs, but the IRET did
 * not complete — blocking by NMI is set again before re-entry.
 */
function vmxRecoverNmiBlocking(vcpu: KvmVcpu): void {
  const vmx = toVmx(vcpu);
  if (vmx.nmiKnownUnmasked) return;
  const info = vmxGetIntrInfo(vcpu);
  if (
    (info & INTR_INFO_VALID_MASK) !== 0 &&
    (info & INTR_INFO_UNBLOCK_NMI) !== 0 &&
    (info & INTR_INFO_VECTOR_MASK) !== DF_VECTOR
  ) {
    vmcsSetBits(vmx.cpu, GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_STATE_NMI);
  } else {
    vmx.nmiKnownUnmasked =
      (vmcsRead32(vmx.cpu, GUEST_INTERRUPTIBILITY_INFO) & GUEST_INTR_STATE_NMI) === 0;
  }
}

// ───────────────────────────── run ─────────────────────────────

/** vmx_get_exit_qual: EXIT_QUALIFICATION, read once per exit. */
export function vmxGetExitQual(vcpu: KvmVcpu): bigint {
  const vmx = toVmx(vcpu);
  if ((vmx.exitInfoRead & 1) === 0) {
    vmx.exitQualification = vmcsReadl(vmx.cpu, EXIT_QUALIFICATION);
    vmx.exitInfoRead |= 1;
  }
  return vmx.exitQualification;
}

/** vmx_get_intr_info: VM_EXIT_INTR_INFO, read once per exit. */
export function vmxGetIntrInfo(vcpu: KvmVcpu): number {
  const vmx = toVmx(vcpu);
  if ((vmx.exitInfoRead & 2) === 0) {
    vmx.exitIntrInfo = vmcsRead32(vmx.cpu, VM_EXIT_INTR_INFO);
    vmx.exitInfoRead |= 2;
  }
  return vmx.exitIntrInfo;
}

/** Low 32 bits of the exit qualification, as a number. */
const exitQual32 = (vcpu: KvmVcpu): number => Number(vmxGetExitQual(vcpu) & 0xffff_ffffn);

/** vmx_get_exit_info: what kvm_exit and KVM_EXIT_INTERNAL_ERROR report. */
export function vmxGetExitInfo(vcpu: KvmVcpu): KvmExitInfo {
  const vmx = toVmx(vcpu);
  const info1 = vmxGetExitQual(vcpu);
  if (vmx.exitReason & VMX_EXIT_REASONS_FAILED_VMENTRY) {
    return { reason: vmx.exitReason, info1, info2: 0n, intrInfo: 0, errorCode: 0 };
  }
  const intrInfo = vmxGetIntrInfo(vcpu);
  const valid = (intrInfo & INTR_INFO_VALID_MASK) !== 0;
  const errorCode =
    valid && (intrInfo & INTR_INFO_DELIVER_CODE_MASK) !== 0
      ? vmcsRead32(vmx.cpu, VM_EXIT_INTR_ERROR_CODE)
      : 0;
  return {
    reason: vmx.exitReason,
    info1,
    info2: BigInt(vmx.idtVectoringInfo >>> 0),
    intrInfo,
    errorCode,
  };
}

/** Number.MAX_SAFE_INTEGER: a register value within ±this converts to a double exactly. */
const SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * vmx_vcpu_run, in Linux's order: RSP and RIP KVM changed go into the VMCS, HOST_CR4 is
 * refreshed, then vmx_vcpu_enter_exit; after the exit the exit reason and IDT-vectoring
 * information are read, the VMCS is marked launched (unless the entry failed), NMI
 * blocking is recovered and interrupted events are queued again.
 */
export function vmxVcpuRun(vcpu: KvmVcpu): number {
  const vmx = toVmx(vcpu);
  const cpu = vmx.cpu;
  const a = vcpu.arch;
  kvmMmuLoad(vcpu);
  const dirty = a.regsDirty;
  if (dirty & (1 << VCPU_REGS_RSP)) vmcsWritel(cpu, GUEST_RSP, a.regs[VCPU_REGS_RSP]!);
  if (dirty & (1 << VCPU_REGS_RIP)) vmcsWritel(cpu, GUEST_RIP, a.regs[VCPU_REGS_RIP]!);
  if (dirty & GPRS_IN_REGS_ARRAY) {
    for (let i = 0; i < 16; i++) {
      if ((dirty & GPRS_IN_REGS_ARRAY & (1 << i)) === 0) continue;
      const v = a.regs[i]!;
      if (v >= -SAFE_BIG && v <= SAFE_BIG) {
        // Exact as a double: its halves without a BigInt operation.
        const n = Number(v);
        vmx.gprs[i] = n | 0;
        vmx.gprsHi[i] = Math.floor(n / 2 ** 32) | 0;
      } else {
        vmx.gprs[i] = Number(BigInt.asIntN(32, v));
        vmx.gprsHi[i] = Number(BigInt.asIntN(32, v >> 32n));
      }
    }
  }
  a.regsDirty = 0;
  const hostCr4 = cpu.cr4();
  if (hostCr4 !== vmx.hostCr4) {
    vmcsWritel(cpu, HOST_CR4, BigInt(hostCr4));
    vmx.hostCr4 = hostCr4;
  }
  // Single-stepping over STI or MOV SS for userspace: drop the shadow, or VM entry would
  // demand BS in the pending debug exceptions, which is not the trap userspace wants.
  if ((vcpu.guestDebug & KVM_GUESTDBG_SINGLESTEP) !== 0) vmxSetInterruptShadow(vcpu, 0);

  vmxVcpuEnterExit(vcpu, vmx);

  a.regsAvail = (a.regsAvail | GPRS_IN_REGS_ARRAY) & ~VMX_REGS_LAZY_LOAD_SET;
  vmx.exitInfoRead = 0;
  if (vmx.fail) {
    vmx.exitReason = 0xdead;
    vmx.idtVectoringInfo = 0;
    return EXIT_FASTPATH_NONE;
  }
  vmx.exitReason = vmcsRead32(cpu, VM_EXIT_REASON);
  if (vmx.exitReason & VMX_EXIT_REASONS_FAILED_VMENTRY) {
    vmx.idtVectoringInfo = 0;
    return EXIT_FASTPATH_NONE;
  }
  vmx.idtVectoringInfo = vmcsRead32(cpu, IDT_VECTORING_INFO_FIELD);
  vmx.launched = true;
  // kvm-kernel reads CR0 and CR3 from vcpu.arch: bring the guest's own changes in now.
  vmxCacheReg(vcpu, VCPU_EXREG_CR0);
  vmxCacheReg(vcpu, VCPU_EXREG_CR3);
  vmxRecoverNmiBlocking(vcpu);
  vmxCompleteInterrupts(vcpu);
  return EXIT_FASTPATH_NONE;
}

/**
 * vmx_vcpu_enter_exit → __vmx_vcpu_run: CR2 and the guest GPRs (all but RSP, which the VMCS
 * holds) into the CPU, VMLAUNCH or VMRESUME, and on a VM exit the GPRs back into the regs
 * array. A VMfail leaves the registers as they were and sets vmx->fail.
 */
function vmxVcpuEnterExit(vcpu: KvmVcpu, vmx: VcpuVmx): void {
  const cpu = vmx.cpu;
  const a = vcpu.arch;
  if (cpu.cr2 !== a.cr2) cpu.cr2 = a.cr2;
  const regs = cpu.regs;
  const regsHi = cpu.regsHi;
  const hostRsp = regs[VCPU_REGS_RSP]!;
  const hostRspHi = regsHi[VCPU_REGS_RSP]!;
  regs.set(vmx.gprs);
  regsHi.set(vmx.gprsHi);
  regs[VCPU_REGS_RSP] = hostRsp;
  regsHi[VCPU_REGS_RSP] = hostRspHi;
  const r = vmx.launched ? cpu.vmx.vmresume(cpu) : cpu.vmx.vmlaunch(cpu);
  vmx.fail = r !== VMX_VMEXIT;
  if (vmx.fail) return;
  const g = vmx.gprs;
  const gHi = vmx.gprsHi;
  for (let i = 0; i < 16; i++) {
    if (i === VCPU_REGS_RSP) continue;
    const lo = regs[i]!;
    const hi = regsHi[i]!;
    if (lo === g[i] && hi === gHi[i]) continue;
    g[i] = lo;
    gHi[i] = hi;
    a.regs[i] = hi === 0 ? BigInt(lo >>> 0) : (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  }
  a.cr2 = cpu.cr2;
}

/**
 * __vmx_handle_exit: a failed VM entry or a failed VMLAUNCH/VMRESUME is KVM_EXIT_FAIL_ENTRY;
 * an exit during event delivery KVM cannot redo is KVM_EXIT_INTERNAL_ERROR; the rest goes
 * to kvm_vmx_exit_handlers[basic reason] (none: UNEXPECTED_EXIT_REASON). 1 = re-enter,
 * 0 = to userspace.
 */
export function vmxHandleExit(vcpu: KvmVcpu, fastpath: number): number {
  const vmx = toVmx(vcpu);
  const run = vcpu.run;
  const reason = vmx.exitReason;
  if (!vmx.fail) traceKvmExit(vcpu);
  if (reason & VMX_EXIT_REASONS_FAILED_VMENTRY) {
    // What dump_vmcs leaves for a person: here, the rule that failed, its field and value.
    const why = vmx.cpu.vmx.lastEntryFailure;
    if (why) vcpu.kvm.kernel.printk(`kvm_intel: VM-entry failure: ${why.message}`);
    run.exitReason = KVM_EXIT_FAIL_ENTRY;
    run.failEntryHardwareEntryFailureReason = BigInt(reason >>> 0);
    run.failEntryCpu = vcpu.arch.lastVmentryCpu;
    return 0;
  }
  if (vmx.fail) {
    const why = vmx.cpu.vmx.lastEntryFailure;
    if (why) vcpu.kvm.kernel.printk(`kvm_intel: VMfailValid: ${why.message}`);
    run.exitReason = KVM_EXIT_FAIL_ENTRY;
    run.failEntryHardwareEntryFailureReason = BigInt(vmcsRead32(vmx.cpu, VM_INSTRUCTION_ERROR));
    run.failEntryCpu = vcpu.arch.lastVmentryCpu;
    return 0;
  }
  const basic = reason & 0xffff;
  if (
    vmx.idtVectoringInfo & INTR_INFO_VALID_MASK &&
    basic !== EXIT_REASON_EXCEPTION_NMI &&
    basic !== EXIT_REASON_EPT_VIOLATION &&
    basic !== EXIT_REASON_PML_FULL &&
    basic !== EXIT_REASON_APIC_ACCESS &&
    basic !== EXIT_REASON_TASK_SWITCH &&
    basic !== EXIT_REASON_NOTIFY
  ) {
    const misconfig = basic === EXIT_REASON_EPT_MISCONFIG;
    vmxPrepareEventVectoringExit(
      vcpu,
      misconfig ? vmcsRead64(vmx.cpu, GUEST_PHYSICAL_ADDRESS) : null,
    );
    return 0;
  }
  if (fastpath !== EXIT_FASTPATH_NONE) return 1;
  const handler = kvmVmxExitHandlers[basic];
  if (!handler) {
    vcpu.kvm.kernel.printk(
      `kvm_intel: vmx: unexpected exit reason 0x${(reason >>> 0).toString(16)}`,
    );
    kvmPrepareUnexpectedReasonExit(vcpu, reason);
    return 0;
  }
  return handler(vcpu);
}

/**
 * kvm_prepare_event_vectoring_exit: KVM_EXIT_INTERNAL_ERROR / DELIVERY_EV for an exit KVM
 * cannot handle while an event was being delivered. Data: the IDT-vectoring information,
 * the exit reason, the qualification, the guest-physical address if there is one, the CPU.
 */
function vmxPrepareEventVectoringExit(vcpu: KvmVcpu, gpa: bigint | null): void {
  const vmx = toVmx(vcpu);
  const run = vcpu.run;
  run.clearExitUnion();
  run.exitReason = KVM_EXIT_INTERNAL_ERROR;
  run.internalSuberror = KVM_INTERNAL_ERROR_DELIVERY_EV;
  let n = 0;
  run.setInternalData(n++, BigInt(vmx.idtVectoringInfo >>> 0));
  run.setInternalData(n++, BigInt(vmx.exitReason >>> 0));
  run.setInternalData(n++, vmxGetExitQual(vcpu));
  if (gpa !== null) run.setInternalData(n++, gpa);
  run.setInternalData(n++, BigInt(Math.max(0, vcpu.arch.lastVmentryCpu)));
  run.internalNdata = n;
}

/**
 * vmx_skip_emulated_instruction (skip_emulated_instruction): RIP += VM_EXIT_INSTRUCTION_LEN
 * (wrapping at 4 GiB outside 64-bit mode), and the STI/MOV-SS shadow ends.
 */
export function vmxSkipEmulatedInstruction(vcpu: KvmVcpu): number {
  const vmx = toVmx(vcpu);
  const len = vmcsRead32(vmx.cpu, VM_EXIT_INSTRUCTION_LEN);
  const orig = kvmRipRead(vcpu);
  let rip = orig + BigInt(len);
  if ((rip ^ orig) >> 31n === 3n && !is64BitMode(vcpu)) rip = BigInt.asUintN(32, rip);
  kvmRipWrite(vcpu, rip);
  vmxSetInterruptShadow(vcpu, 0);
  return 1;
}

// ───────────────────────────── exit handlers ─────────────────────────────

type ExitHandler = (vcpu: KvmVcpu) => number;

/**
 * handle_exception_nmi: NMIs and machine checks were the host's; #UD is the guest's own
 * (handle_ud); #DB and #BP go to userspace while it debugs the guest
 * (KVM_EXIT_DEBUG), else back to the guest; #AC and anything else is re-injected.
 */
function handleExceptionNmi(vcpu: KvmVcpu): number {
  const vmx = toVmx(vcpu);
  const run = vcpu.run;
  const intrInfo = vmxGetIntrInfo(vcpu);
  const type = intrInfo & INTR_INFO_INTR_TYPE_MASK;
  const vector = intrInfo & INTR_INFO_VECTOR_MASK;
  if (type === INTR_TYPE_NMI_INTR) return 1;
  if (type === INTR_TYPE_HARD_EXCEPTION && vector === MC_VECTOR) return 1;
  if (type === INTR_TYPE_HARD_EXCEPTION && vector === UD_VECTOR) {
    kvmQueueException(vcpu, UD_VECTOR);
    return 1;
  }
  const errorCode =
    (intrInfo & INTR_INFO_DELIVER_CODE_MASK) !== 0
      ? vmcsRead32(vmx.cpu, VM_EXIT_INTR_ERROR_CODE)
      : undefined;
  if (vmx.idtVectoringInfo & INTR_INFO_VALID_MASK && vector !== PF_VECTOR) {
    run.clearExitUnion();
    run.exitReason = KVM_EXIT_INTERNAL_ERROR;
    run.internalSuberror = KVM_INTERNAL_ERROR_SIMUL_EX;
    run.internalNdata = 4;
    run.setInternalData(0, BigInt(vmx.idtVectoringInfo >>> 0));
    run.setInternalData(1, BigInt(intrInfo >>> 0));
    run.setInternalData(2, BigInt((errorCode ?? 0) >>> 0));
    run.setInternalData(3, BigInt(Math.max(0, vcpu.arch.lastVmentryCpu)));
    return 0;
  }
  switch (vector) {
    case DB_VECTOR: {
      const dr6 = vmxGetExitQual(vcpu);
      if ((vcpu.guestDebug & (KVM_GUESTDBG_SINGLESTEP | KVM_GUESTDBG_USE_HW_BP)) === 0) {
        // ICEBP (INT1) is a trap that already happened: skip it, then deliver #DB.
        if (type === INTR_TYPE_PRIV_SW_EXCEPTION) vmxSkipEmulatedInstruction(vcpu);
        else if ((vmxGetRflags(vcpu) & X86_EFLAGS_TF) !== 0 && vmxGetInterruptShadow(vcpu)) {
          // The CPU leaves BS clear on an exit for an intercepted #DB, but in an STI or
          // MOV-SS shadow with TF set VM entry demands it: the trap is pending.
          vmcsWritel(
            vmx.cpu,
            GUEST_PENDING_DBG_EXCEPTIONS,
            vmcsReadl(vmx.cpu, GUEST_PENDING_DBG_EXCEPTIONS) | DR6_BS,
          );
        }
        kvmQueueException(vcpu, DB_VECTOR, undefined, dr6);
        return 1;
      }
      run.debugDr6 = dr6 | DR6_ACTIVE_LOW;
      run.debugDr7 = vmcsReadl(vmx.cpu, GUEST_DR7);
      return debugExit(vcpu, vector);
    }
    case BP_VECTOR:
      return debugExit(vcpu, vector);
    default:
      kvmQueueException(vcpu, vector, errorCode);
      return 1;
  }
}

/** The #DB/#BP tail of handle_exception_nmi: KVM_EXIT_DEBUG at the linear RIP. */
function debugExit(vcpu: KvmVcpu, vector: number): number {
  const vmx = toVmx(vcpu);
  const run = vcpu.run;
  // Userspace may re-inject the #BP (KVM_GUESTDBG_INJECT_BP) with this length.
  vmx.eventExitInstLen = vmcsRead32(vmx.cpu, VM_EXIT_INSTRUCTION_LEN);
  run.exitReason = KVM_EXIT_DEBUG;
  run.debugPc = kvmGetLinearRip(vcpu);
  run.debugException = vector;
  return 0;
}

/** handle_external_interrupt: the host took its interrupt; re-enter. */
function handleExternalInterrupt(vcpu: KvmVcpu): number {
  vcpu.stat.irq_exits++;
  return 1;
}

/** handle_triple_fault: the guest shut down. */
function handleTripleFault(vcpu: KvmVcpu): number {
  vcpu.run.exitReason = KVM_EXIT_SHUTDOWN;
  vcpu.mmioNeeded = false;
  return 0;
}

/** handle_interrupt_window: the window is open; KVM injects (or tells userspace). */
function handleInterruptWindow(vcpu: KvmVcpu): number {
  const vmx = toVmx(vcpu);
  execControlsSet(vmx, vmx.execControls & ~CPU_BASED_INTR_WINDOW_EXITING);
  kvmMakeRequest(vcpu, KVM_REQ_EVENT);
  vcpu.stat.irq_window_exits++;
  return 1;
}

/** handle_nmi_window. */
function handleNmiWindow(vcpu: KvmVcpu): number {
  const vmx = toVmx(vcpu);
  execControlsSet(vmx, vmx.execControls & ~CPU_BASED_NMI_WINDOW_EXITING);
  vcpu.stat.nmi_window_exits++;
  kvmMakeRequest(vcpu, KVM_REQ_EVENT);
  return 1;
}

/** handle_io: INS/OUTS through the emulator, IN/OUT through kvm_fast_pio. */
function handleIo(vcpu: KvmVcpu): number {
  const q = exitQual32(vcpu);
  vcpu.stat.io_exits++;
  if (q & EXIT_QUAL_IO_STRING) return x86EmulateInstruction(vcpu, 0);
  const port = q >>> EXIT_QUAL_IO_PORT_SHIFT;
  const size = (q & EXIT_QUAL_IO_SIZE_MASK) + 1;
  return kvmFastPio(vcpu, size, port, (q & EXIT_QUAL_IO_IN) !== 0);
}

/** kvm_lmsw: LMSW sets CR0[3:0] but cannot clear PE. */
function kvmLmsw(vcpu: KvmVcpu, msw: number): void {
  kvmSetCr0(vcpu, ((vcpu.arch.cr0 & ~0x0e) | (msw & 0x0f)) >>> 0);
}

/**
 * handle_cr: MOV to CR0/CR3/CR4/CR8, MOV from CR3/CR8, CLTS and LMSW, as the exit
 * qualification describes them; #GP for a value KVM refuses. Lowering CR8 without an
 * in-kernel LAPIC goes to userspace (KVM_EXIT_SET_TPR).
 */
function handleCr(vcpu: KvmVcpu): number {
  const q = exitQual32(vcpu);
  const cr = q & CONTROL_REG_ACCESS_NUM;
  const reg = (q >>> CONTROL_REG_ACCESS_REG_SHIFT) & 15;
  switch (q & 0x30) {
    case CR_ACCESS_TYPE_MOV_TO_CR: {
      const val = kvmRegisterReadMode(vcpu, reg);
      switch (cr) {
        case 0:
          return kvmCompleteInsnGp(vcpu, kvmSetCr0(vcpu, Number(val)));
        case 3:
          return kvmCompleteInsnGp(vcpu, kvmSetCr3(vcpu, val));
        case 4:
          return kvmCompleteInsnGp(vcpu, kvmSetCr4(vcpu, Number(val)));
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
      break;
    }
    case CR_ACCESS_TYPE_CLTS:
      kvmSetCr0(vcpu, vcpu.arch.cr0 & ~X86_CR0_TS);
      return kvmSkipEmulatedInstruction(vcpu);
    case CR_ACCESS_TYPE_MOV_FROM_CR:
      if (cr === 3) {
        kvmRegisterWrite(vcpu, reg, vcpu.arch.cr3);
        return kvmSkipEmulatedInstruction(vcpu);
      }
      if (cr === 8) {
        kvmRegisterWrite(vcpu, reg, BigInt(kvmGetCr8(vcpu)));
        return kvmSkipEmulatedInstruction(vcpu);
      }
      break;
    case CR_ACCESS_TYPE_LMSW:
      kvmLmsw(vcpu, (q >>> 16) & 0x0f);
      return kvmSkipEmulatedInstruction(vcpu);
  }
  vcpu.run.exitReason = 0;
  vcpu.kvm.kernel.printk(`kvm_intel: unhandled control register: op ${(q >>> 4) & 3} cr ${cr}`);
  return 0;
}

/**
 * handle_dr: MOV to/from DR0–DR7 emulated on KVM's copies (vcpu.arch.db/dr6/dr7, DR7 also
 * in the VMCS). DR4/DR5 alias DR6/DR7 unless CR4.DE (#UD); CPL > 0 is #GP; DR7.GD raises
 * #DB (or KVM_EXIT_DEBUG while userspace uses hardware breakpoints).
 */
function handleDr(vcpu: KvmVcpu): number {
  const vmx = toVmx(vcpu);
  const a = vcpu.arch;
  const q = exitQual32(vcpu);
  let dr = q & DEBUG_REG_ACCESS_NUM;
  if (dr === 4 || dr === 5) {
    if (a.cr4 & X86_CR4_DE) {
      kvmQueueException(vcpu, UD_VECTOR);
      return 1;
    }
    dr += 2;
  }
  if (vmxGetCpl(vcpu) > 0) return kvmCompleteInsnGp(vcpu, 1);
  if ((vmcsReadl(vmx.cpu, GUEST_DR7) & DR7_GD) !== 0n) {
    if (vcpu.guestDebug & KVM_GUESTDBG_USE_HW_BP) {
      const run = vcpu.run;
      run.debugDr6 = DR6_ACTIVE_LOW | (1n << 13n);
      run.debugDr7 = a.dr7;
      run.debugPc = kvmGetLinearRip(vcpu);
      run.debugException = DB_VECTOR;
      run.exitReason = KVM_EXIT_DEBUG;
      return 0;
    }
    kvmQueueException(vcpu, DB_VECTOR, undefined, 1n << 13n);
    return 1;
  }
  const reg = (q >>> DEBUG_REG_ACCESS_REG_SHIFT) & 15;
  if (q & TYPE_MOV_FROM_DR) {
    const v = dr < 4 ? a.db[dr]! : dr === 6 ? a.dr6 : a.dr7;
    kvmRegisterWrite(vcpu, reg, v);
    return kvmSkipEmulatedInstruction(vcpu);
  }
  const val = kvmRegisterReadMode(vcpu, reg);
  let err = 0;
  if (dr < 4) {
    a.db[dr] = val;
  } else if (val >> 32n !== 0n) {
    err = 1;
  } else if (dr === 6) {
    a.dr6 = (val & DR6_VOLATILE) | DR6_ACTIVE_LOW;
  } else {
    a.dr7 = (val & DR7_VOLATILE) | DR7_FIXED_1;
    vmxSetDr7(vcpu, a.dr7);
  }
  return kvmCompleteInsnGp(vcpu, err);
}

/** handle_invlpg: drop the guest's translation of that address, then skip. */
function handleInvlpg(vcpu: KvmVcpu): number {
  vmxFlushTlbGva(vcpu, vmxGetExitQual(vcpu));
  return kvmSkipEmulatedInstruction(vcpu);
}

/** RDTSC under RDTSC exiting: EDX:EAX = host TSC + the guest's offset. */
function handleRdtsc(vcpu: KvmVcpu): number {
  const tsc = BigInt.asUintN(64, vcpu.kvm.kernel.rdtsc() + vcpu.arch.tscOffset);
  kvmRegisterWrite(vcpu, VCPU_REGS_RAX, tsc & 0xffff_ffffn);
  kvmRegisterWrite(vcpu, VCPU_REGS_RDX, tsc >> 32n);
  return kvmSkipEmulatedInstruction(vcpu);
}

/** kvm_emulate_rdpmc: no PMU is exposed, so every counter is #GP. */
function handleRdpmc(vcpu: KvmVcpu): number {
  kvmInjectGp(vcpu, 0);
  return 1;
}

/**
 * handle_vmcall → kvm_emulate_hypercall: RAX = 0 for KVM_HC_VAPIC_POLL_IRQ, -KVM_ENOSYS for
 * every other number, -KVM_EPERM above CPL 0 (truncated to 32 bits outside 64-bit mode).
 */
function handleVmcall(vcpu: KvmVcpu): number {
  const op64 = is64BitMode(vcpu);
  let nr = kvmRegisterRead(vcpu, VCPU_REGS_RAX);
  if (!op64) nr &= 0xffff_ffffn;
  let ret: bigint;
  if (vmxGetCpl(vcpu) !== 0) ret = -KVM_EPERM;
  else if (nr === BigInt(KVM_HC_VAPIC_POLL_IRQ)) ret = 0n;
  else ret = -KVM_ENOSYS;
  if (!op64) ret = BigInt.asUintN(32, ret);
  kvmRegisterWrite(vcpu, VCPU_REGS_RAX, ret);
  vcpu.stat.hypercalls++;
  return kvmSkipEmulatedInstruction(vcpu);
}

/** handle_vmx_instruction without nested VMX: the instruction does not exist (#UD). */
function handleVmxInstruction(vcpu: KvmVcpu): number {
  kvmQueueException(vcpu, UD_VECTOR);
  return 1;
}

/**
 * handle_ept_violation: the access becomes a page-fault error code (write, fetch, present
 * if the EPT entry allowed any access) for kvm_mmu_page_fault — RAM is retried (a write to
 * a dirty-logged page is logged and unprotected), anything else is emulated as MMIO.
 */
function handleEptViolation(vcpu: KvmVcpu): number {
  const vmx = toVmx(vcpu);
  const q = exitQual32(vcpu);
  // An IRET that faulted unblocked NMIs before the exit; they are blocked again.
  if ((vmx.idtVectoringInfo & INTR_INFO_VALID_MASK) === 0 && q & INTR_INFO_UNBLOCK_NMI) {
    vmcsSetBits(vmx.cpu, GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_STATE_NMI);
  }
  const gpa = Number(vmcsRead64(vmx.cpu, GUEST_PHYSICAL_ADDRESS));
  let err = 0;
  if (q & EPT_VIOLATION_ACC_WRITE) err |= PFERR_WRITE_MASK;
  if (q & EPT_VIOLATION_ACC_INSTR) err |= PFERR_FETCH_MASK;
  if (q & EPT_VIOLATION_RWX_MASK) err |= PFERR_PRESENT_MASK;
  if (vmx.idtVectoringInfo & INTR_INFO_VALID_MASK) {
    // MMIO while an event was being delivered cannot be emulated: the instruction at RIP
    // is not what touched memory (vmx_check_emulate_instruction → DELIVERY_EV).
    const slot = gfnToMemslot(vcpu.kvm, Math.floor(gpa / 4096));
    if (!slot || (err & PFERR_WRITE_MASK && slot.flags & KVM_MEM_READONLY)) {
      vmxPrepareEventVectoringExit(vcpu, BigInt(gpa));
      return 0;
    }
  }
  const r = kvmMmuPageFault(vcpu, gpa, err);
  if (r === 1 && err & PFERR_WRITE_MASK) {
    const gfn = Math.floor(gpa / 4096);
    const slot = gfnToMemslot(vcpu.kvm, gfn);
    if (slot?.dirtyBitmap && (slot.flags & KVM_MEM_READONLY) === 0) {
      if (eptSpteMakeWritable(vcpu.kvm.kernel, vmx.eptp, gfn)) eptSyncContext(vmx, vmx.eptp);
    }
  }
  return r;
}

/** handle_ept_misconfig: an MMIO access (a reserved-bit fault for kvm_mmu_page_fault). */
function handleEptMisconfig(vcpu: KvmVcpu): number {
  const gpa = Number(vmcsRead64(toVmx(vcpu).cpu, GUEST_PHYSICAL_ADDRESS));
  return kvmMmuPageFault(vcpu, gpa, PFERR_RSVD_MASK);
}

/** handle_preemption_timer: nothing armed it for the guest; re-enter. */
const handlePreemptionTimer: ExitHandler = () => 1;

/** handle_monitor_trap: single-stepping by MTF is not used; re-enter. */
const handleMonitorTrap: ExitHandler = () => 1;

/**
 * kvm_emulate_xsetbv: XCR0 must keep x87, take AVX only with SSE, and stay within what the
 * guest's CPUID 0xD.0 offers; CPL > 0 or anything else is #GP.
 */
function handleXsetbv(vcpu: KvmVcpu): number {
  const vmx = toVmx(vcpu);
  const index = Number(kvmRegisterRead(vcpu, VCPU_REGS_RCX) & 0xffff_ffffn);
  const xcr =
    ((kvmRegisterRead(vcpu, VCPU_REGS_RDX) & 0xffff_ffffn) << 32n) |
    (kvmRegisterRead(vcpu, VCPU_REGS_RAX) & 0xffff_ffffn);
  const leaf = vcpu.arch.cpuidEntries.find((e) => e.function === 0xd && e.index === 0);
  const supported = leaf ? (BigInt(leaf.edx >>> 0) << 32n) | BigInt(leaf.eax >>> 0) : 1n;
  const ok =
    vmxGetCpl(vcpu) === 0 &&
    index === 0 &&
    (xcr & 1n) === 1n &&
    !((xcr & 4n) !== 0n && (xcr & 2n) === 0n) &&
    (xcr & ~supported) === 0n;
  if (!ok) {
    kvmInjectGp(vcpu, 0);
    return 1;
  }
  vmx.xcr0 = xcr;
  return kvmSkipEmulatedInstruction(vcpu);
}

/** kvm_vmx_exit_handlers, indexed by basic exit reason. */
export const kvmVmxExitHandlers: readonly (ExitHandler | undefined)[] = (() => {
  const h: (ExitHandler | undefined)[] = [];
  h[EXIT_REASON_EXCEPTION_NMI] = handleExceptionNmi;
  h[EXIT_REASON_EXTERNAL_INTERRUPT] = handleExternalInterrupt;
  h[EXIT_REASON_TRIPLE_FAULT] = handleTripleFault;
  h[EXIT_REASON_NMI_WINDOW] = handleNmiWindow;
  h[EXIT_REASON_IO_INSTRUCTION] = handleIo;
  h[EXIT_REASON_CR_ACCESS] = handleCr;
  h[EXIT_REASON_DR_ACCESS] = handleDr;
  h[EXIT_REASON_CPUID] = kvmEmulateCpuid;
  h[EXIT_REASON_MSR_READ] = kvmEmulateRdmsr;
  h[EXIT_REASON_MSR_WRITE] = kvmEmulateWrmsr;
  h[EXIT_REASON_INTERRUPT_WINDOW] = handleInterruptWindow;
  h[EXIT_REASON_HLT] = kvmEmulateHalt;
  h[EXIT_REASON_INVD] = kvmEmulateAsNop;
  h[EXIT_REASON_INVLPG] = handleInvlpg;
  h[EXIT_REASON_RDPMC] = handleRdpmc;
  h[EXIT_REASON_RDTSC] = handleRdtsc;
  h[EXIT_REASON_VMCALL] = handleVmcall;
  h[EXIT_REASON_VMCLEAR] = handleVmxInstruction;
  h[EXIT_REASON_VMLAUNCH] = handleVmxInstruction;
  h[EXIT_REASON_VMPTRLD] = handleVmxInstruction;
  h[EXIT_REASON_VMPTRST] = handleVmxInstruction;
  h[EXIT_REASON_VMREAD] = handleVmxInstruction;
  h[EXIT_REASON_VMRESUME] = handleVmxInstruction;
  h[EXIT_REASON_VMWRITE] = handleVmxInstruction;
  h[EXIT_REASON_VMOFF] = handleVmxInstruction;
  h[EXIT_REASON_VMON] = handleVmxInstruction;
  h[EXIT_REASON_INVEPT] = handleVmxInstruction;
  h[EXIT_REASON_INVVPID] = handleVmxInstruction;
  h[EXIT_REASON_VMFUNC] = handleVmxInstruction;
  h[EXIT_REASON_ENCLS] = handleVmxInstruction;
  h[EXIT_REASON_WBINVD] = kvmEmulateAsNop;
  h[EXIT_REASON_XSETBV] = handleXsetbv;
  h[EXIT_REASON_EPT_VIOLATION] = handleEptViolation;
  h[EXIT_REASON_EPT_MISCONFIG] = handleEptMisconfig;
  h[EXIT_REASON_PAUSE_INSTRUCTION] = kvmEmulateAsNop;
  h[EXIT_REASON_MWAIT_INSTRUCTION] = kvmEmulateAsNop;
  h[EXIT_REASON_MONITOR_TRAP_FLAG] = handleMonitorTrap;
  h[EXIT_REASON_MONITOR_INSTRUCTION] = kvmEmulateAsNop;
  h[EXIT_REASON_PREEMPTION_TIMER] = handlePreemptionTimer;
  return h;
})();
