/**
 * arch/x86/include/uapi/asm/vmx.h: the VM_EXIT_REASON field (0x4402) — basic exit reasons
 * in bits 15:0, flag bits above — and the names Linux's kvm_exit tracepoint prints.
 *
 * Reasons Linux does not define (I/O SMI, GETSEC, RSM, PCONFIG, …) are named here after
 * the SDM's description so that every architectural basic reason has a constant; they are
 * marked "not a Linux name". 35, 38, 42, 71, 82 and 83 are reserved and have none.
 */

/** Bit 31: VM-entry failure (with basic reason 33, 34 or 41); no guest instruction ran. */
export const VMX_EXIT_REASONS_FAILED_VMENTRY = 0x80000000;
/** Bit 27: the exit happened in SGX enclave mode. */
export const VMX_EXIT_REASONS_SGX_ENCLAVE_MODE = 0x08000000;

export const EXIT_REASON_EXCEPTION_NMI = 0;
export const EXIT_REASON_EXTERNAL_INTERRUPT = 1;
export const EXIT_REASON_TRIPLE_FAULT = 2;
export const EXIT_REASON_INIT_SIGNAL = 3;
export const EXIT_REASON_SIPI_SIGNAL = 4;
/** Not a Linux name: I/O SMI. */
export const EXIT_REASON_IO_SMI = 5;
/** Not a Linux name: other SMI. */
export const EXIT_REASON_OTHER_SMI = 6;
export const EXIT_REASON_INTERRUPT_WINDOW = 7;
export const EXIT_REASON_NMI_WINDOW = 8;
export const EXIT_REASON_TASK_SWITCH = 9;
export const EXIT_REASON_CPUID = 10;
/** Not a Linux name: GETSEC. */
export const EXIT_REASON_GETSEC = 11;
export const EXIT_REASON_HLT = 12;
export const EXIT_REASON_INVD = 13;
export const EXIT_REASON_INVLPG = 14;
export const EXIT_REASON_RDPMC = 15;
export const EXIT_REASON_RDTSC = 16;
/** Not a Linux name: RSM in SMM. */
export const EXIT_REASON_RSM = 17;
export const EXIT_REASON_VMCALL = 18;
export const EXIT_REASON_VMCLEAR = 19;
export const EXIT_REASON_VMLAUNCH = 20;
export const EXIT_REASON_VMPTRLD = 21;
export const EXIT_REASON_VMPTRST = 22;
export const EXIT_REASON_VMREAD = 23;
export const EXIT_REASON_VMRESUME = 24;
export const EXIT_REASON_VMWRITE = 25;
/** VMXOFF. */
export const EXIT_REASON_VMOFF = 26;
/** VMXON. */
export const EXIT_REASON_VMON = 27;
/** MOV to/from CR, CLTS, LMSW. */
export const EXIT_REASON_CR_ACCESS = 28;
export const EXIT_REASON_DR_ACCESS = 29;
export const EXIT_REASON_IO_INSTRUCTION = 30;
/** RDMSR. */
export const EXIT_REASON_MSR_READ = 31;
/** WRMSR. */
export const EXIT_REASON_MSR_WRITE = 32;
/** VM-entry failure: invalid guest state. */
export const EXIT_REASON_INVALID_STATE = 33;
/** VM-entry failure: MSR loading. */
export const EXIT_REASON_MSR_LOAD_FAIL = 34;
export const EXIT_REASON_MWAIT_INSTRUCTION = 36;
export const EXIT_REASON_MONITOR_TRAP_FLAG = 37;
export const EXIT_REASON_MONITOR_INSTRUCTION = 39;
export const EXIT_REASON_PAUSE_INSTRUCTION = 40;
/** VM-entry failure: machine-check event. */
export const EXIT_REASON_MCE_DURING_VMENTRY = 41;
export const EXIT_REASON_TPR_BELOW_THRESHOLD = 43;
export const EXIT_REASON_APIC_ACCESS = 44;
export const EXIT_REASON_EOI_INDUCED = 45;
/** LGDT, LIDT, SGDT, SIDT. */
export const EXIT_REASON_GDTR_IDTR = 46;
/** LLDT, LTR, SLDT, STR. */
export const EXIT_REASON_LDTR_TR = 47;
export const EXIT_REASON_EPT_VIOLATION = 48;
export const EXIT_REASON_EPT_MISCONFIG = 49;
export const EXIT_REASON_INVEPT = 50;
export const EXIT_REASON_RDTSCP = 51;
export const EXIT_REASON_PREEMPTION_TIMER = 52;
export const EXIT_REASON_INVVPID = 53;
/** WBINVD, WBNOINVD. */
export const EXIT_REASON_WBINVD = 54;
export const EXIT_REASON_XSETBV = 55;
export const EXIT_REASON_APIC_WRITE = 56;
export const EXIT_REASON_RDRAND = 57;
export const EXIT_REASON_INVPCID = 58;
export const EXIT_REASON_VMFUNC = 59;
export const EXIT_REASON_ENCLS = 60;
export const EXIT_REASON_RDSEED = 61;
export const EXIT_REASON_PML_FULL = 62;
export const EXIT_REASON_XSAVES = 63;
export const EXIT_REASON_XRSTORS = 64;
/** Not a Linux name: PCONFIG. */
export const EXIT_REASON_PCONFIG = 65;
/** Not a Linux name: SPP-related event. */
export const EXIT_REASON_SPP = 66;
export const EXIT_REASON_UMWAIT = 67;
export const EXIT_REASON_TPAUSE = 68;
/** Not a Linux name: LOADIWKEY. */
export const EXIT_REASON_LOADIWKEY = 69;
/** Not a Linux name: ENCLV. */
export const EXIT_REASON_ENCLV = 70;
/** Not a Linux name: ENQCMD PASID translation failure. */
export const EXIT_REASON_ENQCMD_PASID_FAIL = 72;
/** Not a Linux name: ENQCMDS PASID translation failure. */
export const EXIT_REASON_ENQCMDS_PASID_FAIL = 73;
export const EXIT_REASON_BUS_LOCK = 74;
/** Instruction timeout. */
export const EXIT_REASON_NOTIFY = 75;
/** Not a Linux name: SEAMCALL. */
export const EXIT_REASON_SEAMCALL = 76;
/** Not a Linux name: TDCALL. */
export const EXIT_REASON_TDCALL = 77;
/** Not a Linux name: RDMSRLIST. */
export const EXIT_REASON_RDMSRLIST = 78;
/** Not a Linux name: WRMSRLIST. */
export const EXIT_REASON_WRMSRLIST = 79;
/** Not a Linux name: URDMSR. */
export const EXIT_REASON_URDMSR = 80;
/** Not a Linux name: UWRMSR. */
export const EXIT_REASON_UWRMSR = 81;
/** Not a Linux name: RDMSR with an immediate operand. */
export const EXIT_REASON_MSR_READ_IMM = 84;
/** Not a Linux name: WRMSRNS. */
export const EXIT_REASON_WRMSRNS = 85;

/** Bits 15:0 of VM_EXIT_REASON. */
const BASIC_REASON_MASK = 0xffff;

/**
 * Basic exit reason → its name without the EXIT_REASON_ prefix, the string the kvm_exit
 * tracepoint prints ("EXCEPTION_NMI", "IO_INSTRUCTION", "EPT_VIOLATION" …).
 */
export const VMX_EXIT_REASON_NAMES: ReadonlyMap<number, string> = new Map<number, string>([
  [EXIT_REASON_EXCEPTION_NMI, "EXCEPTION_NMI"],
  [EXIT_REASON_EXTERNAL_INTERRUPT, "EXTERNAL_INTERRUPT"],
  [EXIT_REASON_TRIPLE_FAULT, "TRIPLE_FAULT"],
  [EXIT_REASON_INIT_SIGNAL, "INIT_SIGNAL"],
  [EXIT_REASON_SIPI_SIGNAL, "SIPI_SIGNAL"],
  [EXIT_REASON_IO_SMI, "IO_SMI"],
  [EXIT_REASON_OTHER_SMI, "OTHER_SMI"],
  [EXIT_REASON_INTERRUPT_WINDOW, "INTERRUPT_WINDOW"],
  [EXIT_REASON_NMI_WINDOW, "NMI_WINDOW"],
  [EXIT_REASON_TASK_SWITCH, "TASK_SWITCH"],
  [EXIT_REASON_CPUID, "CPUID"],
  [EXIT_REASON_GETSEC, "GETSEC"],
  [EXIT_REASON_HLT, "HLT"],
  [EXIT_REASON_INVD, "INVD"],
  [EXIT_REASON_INVLPG, "INVLPG"],
  [EXIT_REASON_RDPMC, "RDPMC"],
  [EXIT_REASON_RDTSC, "RDTSC"],
  [EXIT_REASON_RSM, "RSM"],
  [EXIT_REASON_VMCALL, "VMCALL"],
  [EXIT_REASON_VMCLEAR, "VMCLEAR"],
  [EXIT_REASON_VMLAUNCH, "VMLAUNCH"],
  [EXIT_REASON_VMPTRLD, "VMPTRLD"],
  [EXIT_REASON_VMPTRST, "VMPTRST"],
  [EXIT_REASON_VMREAD, "VMREAD"],
  [EXIT_REASON_VMRESUME, "VMRESUME"],
  [EXIT_REASON_VMWRITE, "VMWRITE"],
  [EXIT_REASON_VMOFF, "VMOFF"],
  [EXIT_REASON_VMON, "VMON"],
  [EXIT_REASON_CR_ACCESS, "CR_ACCESS"],
  [EXIT_REASON_DR_ACCESS, "DR_ACCESS"],
  [EXIT_REASON_IO_INSTRUCTION, "IO_INSTRUCTION"],
  [EXIT_REASON_MSR_READ, "MSR_READ"],
  [EXIT_REASON_MSR_WRITE, "MSR_WRITE"],
  [EXIT_REASON_INVALID_STATE, "INVALID_STATE"],
  [EXIT_REASON_MSR_LOAD_FAIL, "MSR_LOAD_FAIL"],
  [EXIT_REASON_MWAIT_INSTRUCTION, "MWAIT_INSTRUCTION"],
  [EXIT_REASON_MONITOR_TRAP_FLAG, "MONITOR_TRAP_FLAG"],
  [EXIT_REASON_MONITOR_INSTRUCTION, "MONITOR_INSTRUCTION"],
  [EXIT_REASON_PAUSE_INSTRUCTION, "PAUSE_INSTRUCTION"],
  [EXIT_REASON_MCE_DURING_VMENTRY, "MCE_DURING_VMENTRY"],
  [EXIT_REASON_TPR_BELOW_THRESHOLD, "TPR_BELOW_THRESHOLD"],
  [EXIT_REASON_APIC_ACCESS, "APIC_ACCESS"],
  [EXIT_REASON_EOI_INDUCED, "EOI_INDUCED"],
  [EXIT_REASON_GDTR_IDTR, "GDTR_IDTR"],
  [EXIT_REASON_LDTR_TR, "LDTR_TR"],
  [EXIT_REASON_EPT_VIOLATION, "EPT_VIOLATION"],
  [EXIT_REASON_EPT_MISCONFIG, "EPT_MISCONFIG"],
  [EXIT_REASON_INVEPT, "INVEPT"],
  [EXIT_REASON_RDTSCP, "RDTSCP"],
  [EXIT_REASON_PREEMPTION_TIMER, "PREEMPTION_TIMER"],
  [EXIT_REASON_INVVPID, "INVVPID"],
  [EXIT_REASON_WBINVD, "WBINVD"],
  [EXIT_REASON_XSETBV, "XSETBV"],
  [EXIT_REASON_APIC_WRITE, "APIC_WRITE"],
  [EXIT_REASON_RDRAND, "RDRAND"],
  [EXIT_REASON_INVPCID, "INVPCID"],
  [EXIT_REASON_VMFUNC, "VMFUNC"],
  [EXIT_REASON_ENCLS, "ENCLS"],
  [EXIT_REASON_RDSEED, "RDSEED"],
  [EXIT_REASON_PML_FULL, "PML_FULL"],
  [EXIT_REASON_XSAVES, "XSAVES"],
  [EXIT_REASON_XRSTORS, "XRSTORS"],
  [EXIT_REASON_PCONFIG, "PCONFIG"],
  [EXIT_REASON_SPP, "SPP"],
  [EXIT_REASON_UMWAIT, "UMWAIT"],
  [EXIT_REASON_TPAUSE, "TPAUSE"],
  [EXIT_REASON_LOADIWKEY, "LOADIWKEY"],
  [EXIT_REASON_ENCLV, "ENCLV"],
  [EXIT_REASON_ENQCMD_PASID_FAIL, "ENQCMD_PASID_FAIL"],
  [EXIT_REASON_ENQCMDS_PASID_FAIL, "ENQCMDS_PASID_FAIL"],
  [EXIT_REASON_BUS_LOCK, "BUS_LOCK"],
  [EXIT_REASON_NOTIFY, "NOTIFY"],
  [EXIT_REASON_SEAMCALL, "SEAMCALL"],
  [EXIT_REASON_TDCALL, "TDCALL"],
  [EXIT_REASON_RDMSRLIST, "RDMSRLIST"],
  [EXIT_REASON_WRMSRLIST, "WRMSRLIST"],
  [EXIT_REASON_URDMSR, "URDMSR"],
  [EXIT_REASON_UWRMSR, "UWRMSR"],
  [EXIT_REASON_MSR_READ_IMM, "MSR_READ_IMM"],
  [EXIT_REASON_WRMSRNS, "WRMSRNS"],
]);

/**
 * The name of a VM_EXIT_REASON value, from its basic reason (bits 15:0): "HLT",
 * "INVALID_STATE (VM-entry failure)" when bit 31 is set, `0x${hex}` for an unknown basic
 * reason (with the same suffix when bit 31 is set).
 */
export function vmxExitReasonName(reason: number): string {
  const basic = reason & BASIC_REASON_MASK;
  const name = VMX_EXIT_REASON_NAMES.get(basic) ?? `0x${basic.toString(16)}`;
  return (reason & VMX_EXIT_REASONS_FAILED_VMENTRY) !== 0 ? `${name} (VM-entry failure)` : name;
}
