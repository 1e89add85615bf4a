/**
 * arch/x86/include/asm/vmx.h as TypeScript: VMCS field encodings, VM-execution / VM-exit /
 * VM-entry control bits, event and exit-qualification formats, segment access rights,
 * VM-instruction error numbers, the VMX capability MSRs and the EPT/VPID definitions.
 *
 * Names are Linux's wherever Linux defines the item; the few it does not (fields only Bochs
 * or kvm-unit-tests name, exit-qualification layouts kvm_intel decodes inline) say so in
 * their comment. Every value is 32-bit or narrower and non-negative (bit 31 masks are
 * written as hex literals); the few 64-bit-only masks are `bigint` and say so.
 */

// ---------------------------------------------------------------------------------------
// VMCS field encodings (SDM Vol. 3C App. B). A 64-bit field also has a "high" encoding
// (full + 1) that accesses bits 63:32 only, for 32-bit VMMs.
// ---------------------------------------------------------------------------------------

// 16-bit control fields
export const VIRTUAL_PROCESSOR_ID = 0x0000;
export const POSTED_INTR_NV = 0x0002;
export const EPTP_INDEX = 0x0004;
export const LAST_PID_POINTER_INDEX = 0x0008;

// 16-bit guest-state fields
export const GUEST_ES_SELECTOR = 0x0800;
export const GUEST_CS_SELECTOR = 0x0802;
export const GUEST_SS_SELECTOR = 0x0804;
export const GUEST_DS_SELECTOR = 0x0806;
export const GUEST_FS_SELECTOR = 0x0808;
export const GUEST_GS_SELECTOR = 0x080a;
export const GUEST_LDTR_SELECTOR = 0x080c;
export const GUEST_TR_SELECTOR = 0x080e;
export const GUEST_INTR_STATUS = 0x0810;
export const GUEST_PML_INDEX = 0x0812;

// 16-bit host-state fields
export const HOST_ES_SELECTOR = 0x0c00;
export const HOST_CS_SELECTOR = 0x0c02;
export const HOST_SS_SELECTOR = 0x0c04;
export const HOST_DS_SELECTOR = 0x0c06;
export const HOST_FS_SELECTOR = 0x0c08;
export const HOST_GS_SELECTOR = 0x0c0a;
export const HOST_TR_SELECTOR = 0x0c0c;

// 64-bit control fields (each with its _HIGH access encoding, = full + 1)
export const IO_BITMAP_A = 0x2000;
export const IO_BITMAP_A_HIGH = 0x2001;
export const IO_BITMAP_B = 0x2002;
export const IO_BITMAP_B_HIGH = 0x2003;
export const MSR_BITMAP = 0x2004;
export const MSR_BITMAP_HIGH = 0x2005;
export const VM_EXIT_MSR_STORE_ADDR = 0x2006;
export const VM_EXIT_MSR_STORE_ADDR_HIGH = 0x2007;
export const VM_EXIT_MSR_LOAD_ADDR = 0x2008;
export const VM_EXIT_MSR_LOAD_ADDR_HIGH = 0x2009;
export const VM_ENTRY_MSR_LOAD_ADDR = 0x200a;
export const VM_ENTRY_MSR_LOAD_ADDR_HIGH = 0x200b;
export const EXECUTIVE_VMCS_POINTER = 0x200c;
export const EXECUTIVE_VMCS_POINTER_HIGH = 0x200d;
export const PML_ADDRESS = 0x200e;
export const PML_ADDRESS_HIGH = 0x200f;
export const TSC_OFFSET = 0x2010;
export const TSC_OFFSET_HIGH = 0x2011;
export const VIRTUAL_APIC_PAGE_ADDR = 0x2012;
export const VIRTUAL_APIC_PAGE_ADDR_HIGH = 0x2013;
export const APIC_ACCESS_ADDR = 0x2014;
export const APIC_ACCESS_ADDR_HIGH = 0x2015;
export const POSTED_INTR_DESC_ADDR = 0x2016;
export const POSTED_INTR_DESC_ADDR_HIGH = 0x2017;
export const VM_FUNCTION_CONTROL = 0x2018;
export const VM_FUNCTION_CONTROL_HIGH = 0x2019;
export const EPT_POINTER = 0x201a;
export const EPT_POINTER_HIGH = 0x201b;
export const EOI_EXIT_BITMAP0 = 0x201c;
export const EOI_EXIT_BITMAP0_HIGH = 0x201d;
export const EOI_EXIT_BITMAP1 = 0x201e;
export const EOI_EXIT_BITMAP1_HIGH = 0x201f;
export const EOI_EXIT_BITMAP2 = 0x2020;
export const EOI_EXIT_BITMAP2_HIGH = 0x2021;
export const EOI_EXIT_BITMAP3 = 0x2022;
export const EOI_EXIT_BITMAP3_HIGH = 0x2023;
export const EPTP_LIST_ADDRESS = 0x2024;
export const EPTP_LIST_ADDRESS_HIGH = 0x2025;
export const VMREAD_BITMAP = 0x2026;
export const VMREAD_BITMAP_HIGH = 0x2027;
export const VMWRITE_BITMAP = 0x2028;
export const VMWRITE_BITMAP_HIGH = 0x2029;
export const VE_INFORMATION_ADDRESS = 0x202a;
export const VE_INFORMATION_ADDRESS_HIGH = 0x202b;
export const XSS_EXIT_BITMAP = 0x202c;
export const XSS_EXIT_BITMAP_HIGH = 0x202d;
export const ENCLS_EXITING_BITMAP = 0x202e;
export const ENCLS_EXITING_BITMAP_HIGH = 0x202f;
export const TSC_MULTIPLIER = 0x2032;
export const TSC_MULTIPLIER_HIGH = 0x2033;
export const TERTIARY_VM_EXEC_CONTROL = 0x2034;
export const TERTIARY_VM_EXEC_CONTROL_HIGH = 0x2035;
export const PID_POINTER_TABLE = 0x2042;
export const PID_POINTER_TABLE_HIGH = 0x2043;

// 64-bit read-only data field
export const GUEST_PHYSICAL_ADDRESS = 0x2400;
export const GUEST_PHYSICAL_ADDRESS_HIGH = 0x2401;

// 64-bit guest-state fields
export const VMCS_LINK_POINTER = 0x2800;
export const VMCS_LINK_POINTER_HIGH = 0x2801;
export const GUEST_IA32_DEBUGCTL = 0x2802;
export const GUEST_IA32_DEBUGCTL_HIGH = 0x2803;
export const GUEST_IA32_PAT = 0x2804;
export const GUEST_IA32_PAT_HIGH = 0x2805;
export const GUEST_IA32_EFER = 0x2806;
export const GUEST_IA32_EFER_HIGH = 0x2807;
export const GUEST_IA32_PERF_GLOBAL_CTRL = 0x2808;
export const GUEST_IA32_PERF_GLOBAL_CTRL_HIGH = 0x2809;
export const GUEST_PDPTR0 = 0x280a;
export const GUEST_PDPTR0_HIGH = 0x280b;
export const GUEST_PDPTR1 = 0x280c;
export const GUEST_PDPTR1_HIGH = 0x280d;
export const GUEST_PDPTR2 = 0x280e;
export const GUEST_PDPTR2_HIGH = 0x280f;
export const GUEST_PDPTR3 = 0x2810;
export const GUEST_PDPTR3_HIGH = 0x2811;
export const GUEST_BNDCFGS = 0x2812;
export const GUEST_BNDCFGS_HIGH = 0x2813;
export const GUEST_IA32_RTIT_CTL = 0x2814;
export const GUEST_IA32_RTIT_CTL_HIGH = 0x2815;

// 64-bit host-state fields
export const HOST_IA32_PAT = 0x2c00;
export const HOST_IA32_PAT_HIGH = 0x2c01;
export const HOST_IA32_EFER = 0x2c02;
export const HOST_IA32_EFER_HIGH = 0x2c03;
export const HOST_IA32_PERF_GLOBAL_CTRL = 0x2c04;
export const HOST_IA32_PERF_GLOBAL_CTRL_HIGH = 0x2c05;

// 32-bit control fields
export const PIN_BASED_VM_EXEC_CONTROL = 0x4000;
export const CPU_BASED_VM_EXEC_CONTROL = 0x4002;
export const EXCEPTION_BITMAP = 0x4004;
export const PAGE_FAULT_ERROR_CODE_MASK = 0x4006;
export const PAGE_FAULT_ERROR_CODE_MATCH = 0x4008;
export const CR3_TARGET_COUNT = 0x400a;
export const VM_EXIT_CONTROLS = 0x400c;
export const VM_EXIT_MSR_STORE_COUNT = 0x400e;
export const VM_EXIT_MSR_LOAD_COUNT = 0x4010;
export const VM_ENTRY_CONTROLS = 0x4012;
export const VM_ENTRY_MSR_LOAD_COUNT = 0x4014;
export const VM_ENTRY_INTR_INFO_FIELD = 0x4016;
export const VM_ENTRY_EXCEPTION_ERROR_CODE = 0x4018;
export const VM_ENTRY_INSTRUCTION_LEN = 0x401a;
export const TPR_THRESHOLD = 0x401c;
export const SECONDARY_VM_EXEC_CONTROL = 0x401e;
export const PLE_GAP = 0x4020;
export const PLE_WINDOW = 0x4022;
export const NOTIFY_WINDOW = 0x4024;

// 32-bit read-only data fields (VM-exit information)
export const VM_INSTRUCTION_ERROR = 0x4400;
export const VM_EXIT_REASON = 0x4402;
export const VM_EXIT_INTR_INFO = 0x4404;
export const VM_EXIT_INTR_ERROR_CODE = 0x4406;
export const IDT_VECTORING_INFO_FIELD = 0x4408;
export const IDT_VECTORING_ERROR_CODE = 0x440a;
export const VM_EXIT_INSTRUCTION_LEN = 0x440c;
export const VMX_INSTRUCTION_INFO = 0x440e;

// 32-bit guest-state fields
export const GUEST_ES_LIMIT = 0x4800;
export const GUEST_CS_LIMIT = 0x4802;
export const GUEST_SS_LIMIT = 0x4804;
export const GUEST_DS_LIMIT = 0x4806;
export const GUEST_FS_LIMIT = 0x4808;
export const GUEST_GS_LIMIT = 0x480a;
export const GUEST_LDTR_LIMIT = 0x480c;
export const GUEST_TR_LIMIT = 0x480e;
export const GUEST_GDTR_LIMIT = 0x4810;
export const GUEST_IDTR_LIMIT = 0x4812;
export const GUEST_ES_AR_BYTES = 0x4814;
export const GUEST_CS_AR_BYTES = 0x4816;
export const GUEST_SS_AR_BYTES = 0x4818;
export const GUEST_DS_AR_BYTES = 0x481a;
export const GUEST_FS_AR_BYTES = 0x481c;
export const GUEST_GS_AR_BYTES = 0x481e;
export const GUEST_LDTR_AR_BYTES = 0x4820;
export const GUEST_TR_AR_BYTES = 0x4822;
export const GUEST_INTERRUPTIBILITY_INFO = 0x4824;
export const GUEST_ACTIVITY_STATE = 0x4826;
export const GUEST_SMBASE = 0x4828;
export const GUEST_SYSENTER_CS = 0x482a;
export const VMX_PREEMPTION_TIMER_VALUE = 0x482e;

// 32-bit host-state field
export const HOST_IA32_SYSENTER_CS = 0x4c00;

// Natural-width control fields
export const CR0_GUEST_HOST_MASK = 0x6000;
export const CR4_GUEST_HOST_MASK = 0x6002;
export const CR0_READ_SHADOW = 0x6004;
export const CR4_READ_SHADOW = 0x6006;
export const CR3_TARGET_VALUE0 = 0x6008;
export const CR3_TARGET_VALUE1 = 0x600a;
export const CR3_TARGET_VALUE2 = 0x600c;
export const CR3_TARGET_VALUE3 = 0x600e;

// Natural-width read-only data fields
export const EXIT_QUALIFICATION = 0x6400;
export const IO_RCX = 0x6402;
export const IO_RSI = 0x6404;
export const IO_RDI = 0x6406;
export const IO_RIP = 0x6408;
export const GUEST_LINEAR_ADDRESS = 0x640a;

// Natural-width guest-state fields
export const GUEST_CR0 = 0x6800;
export const GUEST_CR3 = 0x6802;
export const GUEST_CR4 = 0x6804;
export const GUEST_ES_BASE = 0x6806;
export const GUEST_CS_BASE = 0x6808;
export const GUEST_SS_BASE = 0x680a;
export const GUEST_DS_BASE = 0x680c;
export const GUEST_FS_BASE = 0x680e;
export const GUEST_GS_BASE = 0x6810;
export const GUEST_LDTR_BASE = 0x6812;
export const GUEST_TR_BASE = 0x6814;
export const GUEST_GDTR_BASE = 0x6816;
export const GUEST_IDTR_BASE = 0x6818;
export const GUEST_DR7 = 0x681a;
export const GUEST_RSP = 0x681c;
export const GUEST_RIP = 0x681e;
export const GUEST_RFLAGS = 0x6820;
export const GUEST_PENDING_DBG_EXCEPTIONS = 0x6822;
export const GUEST_SYSENTER_ESP = 0x6824;
export const GUEST_SYSENTER_EIP = 0x6826;
export const GUEST_S_CET = 0x6828;

// Natural-width host-state fields
export const HOST_CR0 = 0x6c00;
export const HOST_CR3 = 0x6c02;
export const HOST_CR4 = 0x6c04;
export const HOST_FS_BASE = 0x6c06;
export const HOST_GS_BASE = 0x6c08;
export const HOST_TR_BASE = 0x6c0a;
export const HOST_GDTR_BASE = 0x6c0c;
export const HOST_IDTR_BASE = 0x6c0e;
export const HOST_IA32_SYSENTER_ESP = 0x6c10;
export const HOST_IA32_SYSENTER_EIP = 0x6c12;
export const HOST_RSP = 0x6c14;
export const HOST_RIP = 0x6c16;
export const HOST_S_CET = 0x6c18;

// ---------------------------------------------------------------------------------------
// Pin-based VM-execution controls (PIN_BASED_VM_EXEC_CONTROL, 0x4000)
// ---------------------------------------------------------------------------------------

/** Bit 0: external interrupts cause VM exits. */
export const PIN_BASED_EXT_INTR_MASK = 0x00000001;
/** Bit 3: NMIs cause VM exits. */
export const PIN_BASED_NMI_EXITING = 0x00000008;
/** Bit 5: virtual NMIs (requires NMI exiting). */
export const PIN_BASED_VIRTUAL_NMIS = 0x00000020;
/** Bit 6: activate the VMX-preemption timer. */
export const PIN_BASED_VMX_PREEMPTION_TIMER = 0x00000040;
/** Bit 7: process posted interrupts. */
export const PIN_BASED_POSTED_INTR = 0x00000080;

// ---------------------------------------------------------------------------------------
// Primary processor-based VM-execution controls (CPU_BASED_VM_EXEC_CONTROL, 0x4002)
// ---------------------------------------------------------------------------------------

/** Bit 2: exit at the start of any instruction when RFLAGS.IF = 1 and nothing blocks. */
export const CPU_BASED_INTR_WINDOW_EXITING = 0x00000004;
/** Bit 3: RDTSC/RDTSCP/RDMSR(TSC) return TSC + TSC_OFFSET. */
export const CPU_BASED_USE_TSC_OFFSETTING = 0x00000008;
/** Bit 7: HLT exits. */
export const CPU_BASED_HLT_EXITING = 0x00000080;
/** Bit 9: INVLPG exits. */
export const CPU_BASED_INVLPG_EXITING = 0x00000200;
/** Bit 10: MWAIT exits. */
export const CPU_BASED_MWAIT_EXITING = 0x00000400;
/** Bit 11: RDPMC exits. */
export const CPU_BASED_RDPMC_EXITING = 0x00000800;
/** Bit 12: RDTSC (and RDTSCP with secondary "enable RDTSCP") exits. */
export const CPU_BASED_RDTSC_EXITING = 0x00001000;
/** Bit 15: MOV to CR3 exits unless the value is a CR3-target value (default1). */
export const CPU_BASED_CR3_LOAD_EXITING = 0x00008000;
/** Bit 16: MOV from CR3 exits (default1). */
export const CPU_BASED_CR3_STORE_EXITING = 0x00010000;
/** Bit 17: use the tertiary controls (TERTIARY_VM_EXEC_CONTROL). */
export const CPU_BASED_ACTIVATE_TERTIARY_CONTROLS = 0x00020000;
/** Bit 19: MOV to CR8 exits. */
export const CPU_BASED_CR8_LOAD_EXITING = 0x00080000;
/** Bit 20: MOV from CR8 exits. */
export const CPU_BASED_CR8_STORE_EXITING = 0x00100000;
/** Bit 21: use the TPR shadow (virtual-APIC page). */
export const CPU_BASED_TPR_SHADOW = 0x00200000;
/** Bit 22: exit at the start of any instruction when no virtual-NMI blocking is in effect. */
export const CPU_BASED_NMI_WINDOW_EXITING = 0x00400000;
/** Bit 23: MOV DR exits. */
export const CPU_BASED_MOV_DR_EXITING = 0x00800000;
/** Bit 24: every I/O instruction exits (ignored when bit 25 is set). */
export const CPU_BASED_UNCOND_IO_EXITING = 0x01000000;
/** Bit 25: I/O bitmaps A/B decide which ports exit. */
export const CPU_BASED_USE_IO_BITMAPS = 0x02000000;
/** Bit 27: monitor trap flag. */
export const CPU_BASED_MONITOR_TRAP_FLAG = 0x08000000;
/** Bit 28: the MSR bitmap decides which RDMSR/WRMSR exit. */
export const CPU_BASED_USE_MSR_BITMAPS = 0x10000000;
/** Bit 29: MONITOR exits. */
export const CPU_BASED_MONITOR_EXITING = 0x20000000;
/** Bit 30: PAUSE exits. */
export const CPU_BASED_PAUSE_EXITING = 0x40000000;
/** Bit 31: use the secondary controls (SECONDARY_VM_EXEC_CONTROL). */
export const CPU_BASED_ACTIVATE_SECONDARY_CONTROLS = 0x80000000;

// ---------------------------------------------------------------------------------------
// Secondary processor-based VM-execution controls (SECONDARY_VM_EXEC_CONTROL, 0x401E)
// ---------------------------------------------------------------------------------------

export const SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES = 0x00000001;
export const SECONDARY_EXEC_ENABLE_EPT = 0x00000002;
/** Bit 2: descriptor-table exiting (LGDT/LIDT/LLDT/LTR/SGDT/SIDT/SLDT/STR). */
export const SECONDARY_EXEC_DESC = 0x00000004;
export const SECONDARY_EXEC_ENABLE_RDTSCP = 0x00000008;
export const SECONDARY_EXEC_VIRTUALIZE_X2APIC_MODE = 0x00000010;
export const SECONDARY_EXEC_ENABLE_VPID = 0x00000020;
export const SECONDARY_EXEC_WBINVD_EXITING = 0x00000040;
/** Bit 7: the guest may run with CR0.PE = 0 or CR0.PG = 0 (requires EPT). */
export const SECONDARY_EXEC_UNRESTRICTED_GUEST = 0x00000080;
export const SECONDARY_EXEC_APIC_REGISTER_VIRT = 0x00000100;
export const SECONDARY_EXEC_VIRTUAL_INTR_DELIVERY = 0x00000200;
export const SECONDARY_EXEC_PAUSE_LOOP_EXITING = 0x00000400;
export const SECONDARY_EXEC_RDRAND_EXITING = 0x00000800;
export const SECONDARY_EXEC_ENABLE_INVPCID = 0x00001000;
export const SECONDARY_EXEC_ENABLE_VMFUNC = 0x00002000;
export const SECONDARY_EXEC_SHADOW_VMCS = 0x00004000;
export const SECONDARY_EXEC_ENCLS_EXITING = 0x00008000;
export const SECONDARY_EXEC_RDSEED_EXITING = 0x00010000;
export const SECONDARY_EXEC_ENABLE_PML = 0x00020000;
export const SECONDARY_EXEC_EPT_VIOLATION_VE = 0x00040000;
export const SECONDARY_EXEC_PT_CONCEAL_VMX = 0x00080000;
export const SECONDARY_EXEC_ENABLE_XSAVES = 0x00100000;
export const SECONDARY_EXEC_MODE_BASED_EPT_EXEC = 0x00400000;
/** Bit 23: sub-page write permissions for EPT (Linux dropped its name; this is the old one). */
export const SECONDARY_EXEC_ENABLE_SPP = 0x00800000;
export const SECONDARY_EXEC_PT_USE_GPA = 0x01000000;
export const SECONDARY_EXEC_TSC_SCALING = 0x02000000;
export const SECONDARY_EXEC_ENABLE_USR_WAIT_PAUSE = 0x04000000;
/** Bit 27: enable PCONFIG (not named by Linux). */
export const SECONDARY_EXEC_ENABLE_PCONFIG = 0x08000000;
/** Bit 28: enable ENCLV exiting (not named by Linux). */
export const SECONDARY_EXEC_ENCLV_EXITING = 0x10000000;
export const SECONDARY_EXEC_BUS_LOCK_DETECTION = 0x40000000;
/** Bit 31: instruction-timeout (notify) VM exits. */
export const SECONDARY_EXEC_NOTIFY_VM_EXITING = 0x80000000;

// ---------------------------------------------------------------------------------------
// Tertiary processor-based VM-execution controls (TERTIARY_VM_EXEC_CONTROL, 0x2034,
// a 64-bit field; every defined bit is below bit 32). Only IPI_VIRT is a Linux name.
// ---------------------------------------------------------------------------------------

export const TERTIARY_EXEC_LOADIWKEY_EXITING = 0x00000001;
/** Bit 1: hypervisor-managed linear-address translation. */
export const TERTIARY_EXEC_HLAT = 0x00000002;
export const TERTIARY_EXEC_IPI_VIRT = 0x00000010;
export const TERTIARY_EXEC_MSRLIST = 0x00000040;
export const TERTIARY_EXEC_VIRT_SPEC_CTRL = 0x00000080;

// ---------------------------------------------------------------------------------------
// VM-exit controls (VM_EXIT_CONTROLS, 0x400C)
// ---------------------------------------------------------------------------------------

/** Bit 2: save DR7 and IA32_DEBUGCTL (default1). Old headers had 0x2, which is wrong. */
export const VM_EXIT_SAVE_DEBUG_CONTROLS = 0x00000004;
/** Bit 9: the host runs in 64-bit mode after the exit. */
export const VM_EXIT_HOST_ADDR_SPACE_SIZE = 0x00000200;
export const VM_EXIT_LOAD_IA32_PERF_GLOBAL_CTRL = 0x00001000;
/** Bit 15: acknowledge the interrupt controller and store the vector in VM_EXIT_INTR_INFO. */
export const VM_EXIT_ACK_INTR_ON_EXIT = 0x00008000;
export const VM_EXIT_SAVE_IA32_PAT = 0x00040000;
export const VM_EXIT_LOAD_IA32_PAT = 0x00080000;
export const VM_EXIT_SAVE_IA32_EFER = 0x00100000;
export const VM_EXIT_LOAD_IA32_EFER = 0x00200000;
export const VM_EXIT_SAVE_VMX_PREEMPTION_TIMER = 0x00400000;
export const VM_EXIT_CLEAR_BNDCFGS = 0x00800000;
export const VM_EXIT_PT_CONCEAL_PIP = 0x01000000;
export const VM_EXIT_CLEAR_IA32_RTIT_CTL = 0x02000000;
export const VM_EXIT_CLEAR_IA32_LBR_CTL = 0x04000000;
export const VM_EXIT_LOAD_CET_STATE = 0x10000000;
/** Bit 29: load host IA32_PKRS (not named by Linux). */
export const VM_EXIT_LOAD_IA32_PKRS = 0x20000000;
export const VM_EXIT_SAVE_IA32_PERF_GLOBAL_CTRL = 0x40000000;
/** Bit 31: use the secondary VM-exit controls (64-bit field 0x2044). */
export const VM_EXIT_ACTIVATE_SECONDARY_CONTROLS = 0x80000000;

// ---------------------------------------------------------------------------------------
// VM-entry controls (VM_ENTRY_CONTROLS, 0x4012)
// ---------------------------------------------------------------------------------------

/** Bit 2: load DR7 and IA32_DEBUGCTL (default1). */
export const VM_ENTRY_LOAD_DEBUG_CONTROLS = 0x00000004;
/** Bit 9: IA-32e mode guest (guest EFER.LMA after entry). */
export const VM_ENTRY_IA32E_MODE = 0x00000200;
export const VM_ENTRY_SMM = 0x00000400;
export const VM_ENTRY_DEACT_DUAL_MONITOR = 0x00000800;
export const VM_ENTRY_LOAD_IA32_PERF_GLOBAL_CTRL = 0x00002000;
export const VM_ENTRY_LOAD_IA32_PAT = 0x00004000;
export const VM_ENTRY_LOAD_IA32_EFER = 0x00008000;
export const VM_ENTRY_LOAD_BNDCFGS = 0x00010000;
export const VM_ENTRY_PT_CONCEAL_PIP = 0x00020000;
export const VM_ENTRY_LOAD_IA32_RTIT_CTL = 0x00040000;
/** Bit 19: load the user-interrupt notification vector (not named by Linux). */
export const VM_ENTRY_LOAD_UINV = 0x00080000;
export const VM_ENTRY_LOAD_CET_STATE = 0x00100000;
export const VM_ENTRY_LOAD_IA32_LBR_CTL = 0x00200000;
/** Bit 22: load guest IA32_PKRS (not named by Linux). */
export const VM_ENTRY_LOAD_IA32_PKRS = 0x00400000;

// ---------------------------------------------------------------------------------------
// Interruption-information format: VM_ENTRY_INTR_INFO_FIELD, VM_EXIT_INTR_INFO and
// IDT_VECTORING_INFO_FIELD share it.
// ---------------------------------------------------------------------------------------

/** Bits 7:0: vector. */
export const INTR_INFO_VECTOR_MASK = 0xff;
/** Bits 10:8: interruption type (INTR_TYPE_*). */
export const INTR_INFO_INTR_TYPE_MASK = 0x700;
/** Bit 11: an error code is delivered (0x4018 on entry, 0x4406 / 0x440A on exit). */
export const INTR_INFO_DELIVER_CODE_MASK = 0x800;
/** Bit 12 (exit information only): NMI unblocking due to IRET. */
export const INTR_INFO_UNBLOCK_NMI = 0x1000;
/** Bit 31: the field is valid. */
export const INTR_INFO_VALID_MASK = 0x80000000;
/** Bits 30:12, which must be 0 in the VM-entry interruption-information field. */
export const INTR_INFO_RESVD_BITS_MASK = 0x7ffff000;

export const VECTORING_INFO_VECTOR_MASK = INTR_INFO_VECTOR_MASK;
export const VECTORING_INFO_TYPE_MASK = INTR_INFO_INTR_TYPE_MASK;
export const VECTORING_INFO_DELIVER_CODE_MASK = INTR_INFO_DELIVER_CODE_MASK;
export const VECTORING_INFO_VALID_MASK = INTR_INFO_VALID_MASK;

/** Interruption types, already shifted into bits 10:8. */
export const INTR_TYPE_EXT_INTR = 0 << 8;
/** Type 1 is reserved: VM entry fails with error 7 if it is injected. */
export const INTR_TYPE_RESERVED = 1 << 8;
export const INTR_TYPE_NMI_INTR = 2 << 8;
export const INTR_TYPE_HARD_EXCEPTION = 3 << 8;
/** INT n. */
export const INTR_TYPE_SOFT_INTR = 4 << 8;
/** INT1 (ICEBP). */
export const INTR_TYPE_PRIV_SW_EXCEPTION = 5 << 8;
/** INT3, INTO. */
export const INTR_TYPE_SOFT_EXCEPTION = 6 << 8;
/** Other event (MTF injection, vector 0). */
export const INTR_TYPE_OTHER_EVENT = 7 << 8;

// ---------------------------------------------------------------------------------------
// Guest interruptibility state (GUEST_INTERRUPTIBILITY_INFO, 0x4824) and activity state
// (GUEST_ACTIVITY_STATE, 0x4826)
// ---------------------------------------------------------------------------------------

export const GUEST_INTR_STATE_STI = 0x00000001;
export const GUEST_INTR_STATE_MOV_SS = 0x00000002;
export const GUEST_INTR_STATE_SMI = 0x00000004;
export const GUEST_INTR_STATE_NMI = 0x00000008;
export const GUEST_INTR_STATE_ENCLAVE_INTR = 0x00000010;

export const GUEST_ACTIVITY_ACTIVE = 0;
export const GUEST_ACTIVITY_HLT = 1;
export const GUEST_ACTIVITY_SHUTDOWN = 2;
export const GUEST_ACTIVITY_WAIT_SIPI = 3;

// ---------------------------------------------------------------------------------------
// Exit qualification (EXIT_QUALIFICATION, 0x6400) formats
// ---------------------------------------------------------------------------------------

// I/O instruction (reason 30). Linux decodes these inline; the names are this file's.
/** Bits 2:0: access size − 1 (0 = byte, 1 = word, 3 = dword). */
export const EXIT_QUAL_IO_SIZE_MASK = 0x7;
export const EXIT_QUAL_IO_SIZE_1 = 0;
export const EXIT_QUAL_IO_SIZE_2 = 1;
export const EXIT_QUAL_IO_SIZE_4 = 3;
/** Bit 3: direction, 1 = IN (0 = OUT). */
export const EXIT_QUAL_IO_IN = 0x8;
/** Bit 4: string instruction (INS/OUTS). */
export const EXIT_QUAL_IO_STRING = 0x10;
/** Bit 5: REP prefix. */
export const EXIT_QUAL_IO_REP = 0x20;
/** Bit 6: port given as an immediate (0 = in DX). */
export const EXIT_QUAL_IO_IMMEDIATE = 0x40;
/** Bits 31:16: port number. */
export const EXIT_QUAL_IO_PORT_SHIFT = 16;
export const EXIT_QUAL_IO_PORT_MASK = 0xffff0000;

// Control-register access (reason 28).
/**
 * Bits 3:0: control register (0, 3, 4, 8). Linux masks with 0x7, which loses CR8's bit 3;
 * the architectural field is four bits wide and is modelled so.
 */
export const CONTROL_REG_ACCESS_NUM = 0xf;
/** Bits 5:4: access type (CR_ACCESS_TYPE_*). */
export const CONTROL_REG_ACCESS_TYPE = 0x30;
export const CR_ACCESS_TYPE_MOV_TO_CR = 0 << 4;
export const CR_ACCESS_TYPE_MOV_FROM_CR = 1 << 4;
export const CR_ACCESS_TYPE_CLTS = 2 << 4;
export const CR_ACCESS_TYPE_LMSW = 3 << 4;
/** Bit 6: LMSW operand is in memory (0 = register). */
export const LMSW_OPERAND_TYPE_MEMORY = 0x40;
/** Bits 11:8: general-purpose register of MOV CR (0 RAX … 15 R15). */
export const CONTROL_REG_ACCESS_REG = 0xf00;
export const CONTROL_REG_ACCESS_REG_SHIFT = 8;
/** Bits 31:16: LMSW source data. */
export const LMSW_SOURCE_DATA_SHIFT = 16;
export const LMSW_SOURCE_DATA = 0xffff0000;

// MOV DR (reason 29).
/** Bits 2:0: debug register. */
export const DEBUG_REG_ACCESS_NUM = 0x7;
/** Bit 4: direction (TYPE_MOV_TO_DR / TYPE_MOV_FROM_DR). */
export const DEBUG_REG_ACCESS_TYPE = 0x10;
export const TYPE_MOV_TO_DR = 0 << 4;
export const TYPE_MOV_FROM_DR = 1 << 4;
/** Bits 11:8: general-purpose register (Linux has this as a macro that shifts; here a mask). */
export const DEBUG_REG_ACCESS_REG = 0xf00;
export const DEBUG_REG_ACCESS_REG_SHIFT = 8;

// EPT violation (reason 48); the guest-physical address is in GUEST_PHYSICAL_ADDRESS.
export const EPT_VIOLATION_ACC_READ_BIT = 0;
export const EPT_VIOLATION_ACC_WRITE_BIT = 1;
export const EPT_VIOLATION_ACC_INSTR_BIT = 2;
export const EPT_VIOLATION_RWX_SHIFT = 3;
export const EPT_VIOLATION_GVA_IS_VALID_BIT = 7;
export const EPT_VIOLATION_GVA_TRANSLATED_BIT = 8;
/** Bit 0: the access was a data read. */
export const EPT_VIOLATION_ACC_READ = 0x1;
/** Bit 1: the access was a data write. */
export const EPT_VIOLATION_ACC_WRITE = 0x2;
/** Bit 2: the access was an instruction fetch. */
export const EPT_VIOLATION_ACC_INSTR = 0x4;
/** Bit 3: the guest-physical address was readable (AND of the R bits along the walk). */
export const EPT_VIOLATION_PROT_READ = 0x8;
/** Bit 4: it was writable. */
export const EPT_VIOLATION_PROT_WRITE = 0x10;
/** Bit 5: it was (supervisor-)executable. */
export const EPT_VIOLATION_PROT_EXEC = 0x20;
/** Bit 6: it was user-executable (mode-based execute control only). */
export const EPT_VIOLATION_PROT_USER_EXEC = 0x40;
/** Bits 5:3, the R/W/X permissions of the translation. */
export const EPT_VIOLATION_RWX_MASK = 0x38;
/** Bit 7: GUEST_LINEAR_ADDRESS (0x640A) is valid. */
export const EPT_VIOLATION_GVA_IS_VALID = 0x80;
/** Bit 8 (when bit 7 is set): the access was to the final translation, not a paging walk. */
export const EPT_VIOLATION_GVA_TRANSLATED = 0x100;
/** Bit 12: NMI unblocking due to IRET. */
export const EPT_VIOLATION_NMI_UNBLOCKING = 0x1000;
/** Bit 13: shadow-stack access. */
export const EPT_VIOLATION_SHADOW_STACK = 0x2000;

// VM-entry failure (reason 33 with bit 31 set).
/** Most guest-state checks. */
export const ENTRY_FAIL_DEFAULT = 0;
/** PDPTE loading failed. */
export const ENTRY_FAIL_PDPTE = 2;
/** NMI injection while blocked by virtual-NMI state. */
export const ENTRY_FAIL_NMI = 3;
/** VMCS link pointer invalid. */
export const ENTRY_FAIL_VMCS_LINK_PTR = 4;

// ---------------------------------------------------------------------------------------
// Segment access rights (GUEST_xx_AR_BYTES): descriptor byte 5 in bits 7:0, the flags
// nibble of byte 6 in bits 15:12, "unusable" in bit 16.
// ---------------------------------------------------------------------------------------

/** Bits 3:0: segment type. */
export const VMX_AR_TYPE_MASK = 0x0f;
export const VMX_AR_TYPE_ACCESSES_MASK = 0x01;
export const VMX_AR_TYPE_READABLE_MASK = 0x02;
export const VMX_AR_TYPE_WRITEABLE_MASK = 0x02;
export const VMX_AR_TYPE_CODE_MASK = 0x08;
/** Bit 4: S (1 = code/data). */
export const VMX_AR_S_MASK = 0x10;
/** Bits 6:5: DPL. */
export const VMX_AR_DPL_SHIFT = 5;
export const VMX_AR_DPL_MASK = 0x60;
/** Bit 7: present. */
export const VMX_AR_P_MASK = 0x80;
/** Bit 12: AVL. */
export const VMX_AR_AVL_MASK = 0x1000;
/** Bit 13: L (64-bit code segment). */
export const VMX_AR_L_MASK = 0x2000;
/** Bit 14: D/B. */
export const VMX_AR_DB_MASK = 0x4000;
/** Bit 15: G. */
export const VMX_AR_G_MASK = 0x8000;
/** Bit 16: the segment is unusable. */
export const VMX_AR_UNUSABLE_MASK = 0x10000;
/** Bits 11:8 and 31:17, which must be 0 (Linux's spelling). */
export const VMX_AR_RESERVD_MASK = 0xfffe0f00;

// ---------------------------------------------------------------------------------------
// VM-instruction error numbers (VM_INSTRUCTION_ERROR, 0x4400). 14, 21 and 27 are reserved.
// ---------------------------------------------------------------------------------------

export const VMXERR_VMCALL_IN_VMX_ROOT_OPERATION = 1;
export const VMXERR_VMCLEAR_INVALID_ADDRESS = 2;
export const VMXERR_VMCLEAR_VMXON_POINTER = 3;
export const VMXERR_VMLAUNCH_NONCLEAR_VMCS = 4;
export const VMXERR_VMRESUME_NONLAUNCHED_VMCS = 5;
export const VMXERR_VMRESUME_AFTER_VMXOFF = 6;
export const VMXERR_ENTRY_INVALID_CONTROL_FIELD = 7;
export const VMXERR_ENTRY_INVALID_HOST_STATE_FIELD = 8;
export const VMXERR_VMPTRLD_INVALID_ADDRESS = 9;
export const VMXERR_VMPTRLD_VMXON_POINTER = 10;
export const VMXERR_VMPTRLD_INCORRECT_VMCS_REVISION_ID = 11;
export const VMXERR_UNSUPPORTED_VMCS_COMPONENT = 12;
export const VMXERR_VMWRITE_READ_ONLY_VMCS_COMPONENT = 13;
export const VMXERR_VMXON_IN_VMX_ROOT_OPERATION = 15;
export const VMXERR_ENTRY_INVALID_EXECUTIVE_VMCS_POINTER = 16;
export const VMXERR_ENTRY_NONLAUNCHED_EXECUTIVE_VMCS = 17;
export const VMXERR_ENTRY_EXECUTIVE_VMCS_POINTER_NOT_VMXON_POINTER = 18;
export const VMXERR_VMCALL_NONCLEAR_VMCS = 19;
export const VMXERR_VMCALL_INVALID_VM_EXIT_CONTROL_FIELDS = 20;
export const VMXERR_VMCALL_INCORRECT_MSEG_REVISION_ID = 22;
export const VMXERR_VMXOFF_UNDER_DUAL_MONITOR_TREATMENT_OF_SMIS_AND_SMM = 23;
export const VMXERR_VMCALL_INVALID_SMM_MONITOR_FEATURES = 24;
export const VMXERR_ENTRY_INVALID_VM_EXECUTION_CONTROL_FIELDS_IN_EXECUTIVE_VMCS = 25;
export const VMXERR_ENTRY_EVENTS_BLOCKED_BY_MOV_SS = 26;
export const VMXERR_INVALID_OPERAND_TO_INVEPT_INVVPID = 28;

/** One row per defined error: [number, Linux name, SDM-style message]. */
const VMXERR_TABLE: ReadonlyArray<readonly [number, string, string]> = [
  [
    VMXERR_VMCALL_IN_VMX_ROOT_OPERATION,
    "VMXERR_VMCALL_IN_VMX_ROOT_OPERATION",
    "VMCALL executed in VMX root operation",
  ],
  [
    VMXERR_VMCLEAR_INVALID_ADDRESS,
    "VMXERR_VMCLEAR_INVALID_ADDRESS",
    "VMCLEAR with invalid physical address",
  ],
  [VMXERR_VMCLEAR_VMXON_POINTER, "VMXERR_VMCLEAR_VMXON_POINTER", "VMCLEAR with VMXON pointer"],
  [VMXERR_VMLAUNCH_NONCLEAR_VMCS, "VMXERR_VMLAUNCH_NONCLEAR_VMCS", "VMLAUNCH with non-clear VMCS"],
  [
    VMXERR_VMRESUME_NONLAUNCHED_VMCS,
    "VMXERR_VMRESUME_NONLAUNCHED_VMCS",
    "VMRESUME with non-launched VMCS",
  ],
  [
    VMXERR_VMRESUME_AFTER_VMXOFF,
    "VMXERR_VMRESUME_AFTER_VMXOFF",
    "VMRESUME after VMXOFF (VMXOFF and VMXON between VMLAUNCH and VMRESUME)",
  ],
  [
    VMXERR_ENTRY_INVALID_CONTROL_FIELD,
    "VMXERR_ENTRY_INVALID_CONTROL_FIELD",
    "VM entry with invalid control field(s)",
  ],
  [
    VMXERR_ENTRY_INVALID_HOST_STATE_FIELD,
    "VMXERR_ENTRY_INVALID_HOST_STATE_FIELD",
    "VM entry with invalid host-state field(s)",
  ],
  [
    VMXERR_VMPTRLD_INVALID_ADDRESS,
    "VMXERR_VMPTRLD_INVALID_ADDRESS",
    "VMPTRLD with invalid physical address",
  ],
  [VMXERR_VMPTRLD_VMXON_POINTER, "VMXERR_VMPTRLD_VMXON_POINTER", "VMPTRLD with VMXON pointer"],
  [
    VMXERR_VMPTRLD_INCORRECT_VMCS_REVISION_ID,
    "VMXERR_VMPTRLD_INCORRECT_VMCS_REVISION_ID",
    "VMPTRLD with incorrect VMCS revision identifier",
  ],
  [
    VMXERR_UNSUPPORTED_VMCS_COMPONENT,
    "VMXERR_UNSUPPORTED_VMCS_COMPONENT",
    "VMREAD/VMWRITE from/to unsupported VMCS component",
  ],
  [
    VMXERR_VMWRITE_READ_ONLY_VMCS_COMPONENT,
    "VMXERR_VMWRITE_READ_ONLY_VMCS_COMPONENT",
    "VMWRITE to read-only VMCS component",
  ],
  [
    VMXERR_VMXON_IN_VMX_ROOT_OPERATION,
    "VMXERR_VMXON_IN_VMX_ROOT_OPERATION",
    "VMXON executed in VMX root operation",
  ],
  [
    VMXERR_ENTRY_INVALID_EXECUTIVE_VMCS_POINTER,
    "VMXERR_ENTRY_INVALID_EXECUTIVE_VMCS_POINTER",
    "VM entry with invalid executive-VMCS pointer",
  ],
  [
    VMXERR_ENTRY_NONLAUNCHED_EXECUTIVE_VMCS,
    "VMXERR_ENTRY_NONLAUNCHED_EXECUTIVE_VMCS",
    "VM entry with non-launched executive VMCS",
  ],
  [
    VMXERR_ENTRY_EXECUTIVE_VMCS_POINTER_NOT_VMXON_POINTER,
    "VMXERR_ENTRY_EXECUTIVE_VMCS_POINTER_NOT_VMXON_POINTER",
    "VM entry with executive-VMCS pointer not VMXON pointer",
  ],
  [
    VMXERR_VMCALL_NONCLEAR_VMCS,
    "VMXERR_VMCALL_NONCLEAR_VMCS",
    "VMCALL with non-clear VMCS (SMM-monitor activation)",
  ],
  [
    VMXERR_VMCALL_INVALID_VM_EXIT_CONTROL_FIELDS,
    "VMXERR_VMCALL_INVALID_VM_EXIT_CONTROL_FIELDS",
    "VMCALL with invalid VM-exit control fields",
  ],
  [
    VMXERR_VMCALL_INCORRECT_MSEG_REVISION_ID,
    "VMXERR_VMCALL_INCORRECT_MSEG_REVISION_ID",
    "VMCALL with incorrect MSEG revision identifier",
  ],
  [
    VMXERR_VMXOFF_UNDER_DUAL_MONITOR_TREATMENT_OF_SMIS_AND_SMM,
    "VMXERR_VMXOFF_UNDER_DUAL_MONITOR_TREATMENT_OF_SMIS_AND_SMM",
    "VMXOFF under dual-monitor treatment of SMIs and SMM",
  ],
  [
    VMXERR_VMCALL_INVALID_SMM_MONITOR_FEATURES,
    "VMXERR_VMCALL_INVALID_SMM_MONITOR_FEATURES",
    "VMCALL with invalid SMM-monitor features",
  ],
  [
    VMXERR_ENTRY_INVALID_VM_EXECUTION_CONTROL_FIELDS_IN_EXECUTIVE_VMCS,
    "VMXERR_ENTRY_INVALID_VM_EXECUTION_CONTROL_FIELDS_IN_EXECUTIVE_VMCS",
    "VM entry with invalid VM-execution control fields in executive VMCS",
  ],
  [
    VMXERR_ENTRY_EVENTS_BLOCKED_BY_MOV_SS,
    "VMXERR_ENTRY_EVENTS_BLOCKED_BY_MOV_SS",
    "VM entry with events blocked by MOV SS",
  ],
  [
    VMXERR_INVALID_OPERAND_TO_INVEPT_INVVPID,
    "VMXERR_INVALID_OPERAND_TO_INVEPT_INVVPID",
    "Invalid operand to INVEPT/INVVPID",
  ],
];

/** The highest VM-instruction error number defined. */
export const VMXERR_MAX = VMXERR_INVALID_OPERAND_TO_INVEPT_INVVPID;

/**
 * Error number → its `VMXERR_*` constant's name; `undefined` at 0 and at the reserved
 * numbers 14, 21 and 27. Length VMXERR_MAX + 1.
 */
export const VMX_INSTRUCTION_ERROR_NAMES: readonly (string | undefined)[] = (() => {
  const names = Array.from({ length: VMXERR_MAX + 1 }, (): string | undefined => undefined);
  for (const [n, name] of VMXERR_TABLE) names[n] = name;
  return names;
})();

const VMXERR_MESSAGES: ReadonlyMap<number, string> = new Map(
  VMXERR_TABLE.map(([n, , message]) => [n, message]),
);

/**
 * The SDM's description of a VM-instruction error (7 → "VM entry with invalid control
 * field(s)"); "Reserved VM-instruction error 14" for 14/21/27 and "Unknown
 * VM-instruction error n" for anything else.
 */
export function vmxInstructionErrorMessage(n: number): string {
  const message = VMXERR_MESSAGES.get(n);
  if (message !== undefined) return message;
  if (n === 14 || n === 21 || n === 27) return `Reserved VM-instruction error ${n}`;
  return `Unknown VM-instruction error ${n}`;
}

// ---------------------------------------------------------------------------------------
// VMX-abort indicator codes (VMCS bytes 4–7)
// ---------------------------------------------------------------------------------------

export const VMX_ABORT_SAVE_GUEST_MSR_FAIL = 1;
export const VMX_ABORT_LOAD_HOST_PDPTE_FAIL = 2;
export const VMX_ABORT_VMCS_CORRUPTED = 3;
export const VMX_ABORT_LOAD_HOST_MSR_FAIL = 4;

// ---------------------------------------------------------------------------------------
// Enabling VMX: CR4.VMXE, IA32_FEATURE_CONTROL, the capability MSRs (msr-index.h)
// ---------------------------------------------------------------------------------------

/** CR4 bit 13: VMX enable. */
export const X86_CR4_VMXE_BIT = 13;
export const X86_CR4_VMXE = 0x2000;

export const MSR_IA32_FEAT_CTL = 0x3a;
/** Bit 0: the MSR is locked (VMXON #GP(0) unless set). */
export const FEAT_CTL_LOCKED = 0x1;
export const FEAT_CTL_VMX_ENABLED_INSIDE_SMX = 0x2;
export const FEAT_CTL_VMX_ENABLED_OUTSIDE_SMX = 0x4;

export const MSR_IA32_VMX_BASIC = 0x480;
export const MSR_IA32_VMX_PINBASED_CTLS = 0x481;
export const MSR_IA32_VMX_PROCBASED_CTLS = 0x482;
export const MSR_IA32_VMX_EXIT_CTLS = 0x483;
export const MSR_IA32_VMX_ENTRY_CTLS = 0x484;
export const MSR_IA32_VMX_MISC = 0x485;
export const MSR_IA32_VMX_CR0_FIXED0 = 0x486;
export const MSR_IA32_VMX_CR0_FIXED1 = 0x487;
export const MSR_IA32_VMX_CR4_FIXED0 = 0x488;
export const MSR_IA32_VMX_CR4_FIXED1 = 0x489;
export const MSR_IA32_VMX_VMCS_ENUM = 0x48a;
export const MSR_IA32_VMX_PROCBASED_CTLS2 = 0x48b;
export const MSR_IA32_VMX_EPT_VPID_CAP = 0x48c;
export const MSR_IA32_VMX_TRUE_PINBASED_CTLS = 0x48d;
export const MSR_IA32_VMX_TRUE_PROCBASED_CTLS = 0x48e;
export const MSR_IA32_VMX_TRUE_EXIT_CTLS = 0x48f;
export const MSR_IA32_VMX_TRUE_ENTRY_CTLS = 0x490;
export const MSR_IA32_VMX_VMFUNC = 0x491;
export const MSR_IA32_VMX_PROCBASED_CTLS3 = 0x492;
export const MSR_IA32_VMX_EXIT_CTLS2 = 0x493;

// IA32_VMX_BASIC (0x480): bit positions and field shifts of the 64-bit value.
/** Bits 30:0: VMCS revision identifier. */
export const VMX_BASIC_REVISION_ID_MASK = 0x7fffffff;
/** Bits 44:32: VMXON / VMCS region size in bytes. */
export const VMX_BASIC_VMCS_SIZE_SHIFT = 32;
export const VMX_BASIC_VMCS_SIZE_MASK = 0x1fff;
/** Bit 48: VMX structures limited to 32-bit physical addresses. */
export const VMX_BASIC_32BIT_PHYS_ADDR_ONLY_BIT = 48;
/** Bit 49: dual-monitor treatment of SMIs and SMM. */
export const VMX_BASIC_DUAL_MONITOR_TREATMENT_BIT = 49;
/** Bits 53:50: memory type for VMCS accesses (VMX_BASIC_MEM_TYPE_*). */
export const VMX_BASIC_MEM_TYPE_SHIFT = 50;
export const VMX_BASIC_MEM_TYPE_MASK = 0xf;
export const VMX_BASIC_MEM_TYPE_UC = 0;
export const VMX_BASIC_MEM_TYPE_WB = 6;
/** Bit 54: INS/OUTS exits report VMX_INSTRUCTION_INFO. */
export const VMX_BASIC_INOUT_BIT = 54;
/** Bit 55: the TRUE_* control MSRs exist. */
export const VMX_BASIC_TRUE_CTLS_BIT = 55;
/** Bit 56: hardware exceptions may be injected without the error-code consistency check. */
export const VMX_BASIC_NO_HW_ERROR_CODE_CC_BIT = 56;
/** The same bits as 64-bit masks (Linux's BIT_ULL names). */
export const VMX_BASIC_32BIT_PHYS_ADDR_ONLY = 1n << 48n;
export const VMX_BASIC_DUAL_MONITOR_TREATMENT = 1n << 49n;
export const VMX_BASIC_INOUT = 1n << 54n;
export const VMX_BASIC_TRUE_CTLS = 1n << 55n;
export const VMX_BASIC_NO_HW_ERROR_CODE_CC = 1n << 56n;

// IA32_VMX_MISC (0x485). All but the MSEG revision live in bits 31:0.
/** Bits 4:0: the preemption timer ticks once per 2^N TSC ticks. */
export const VMX_MISC_PREEMPTION_TIMER_RATE_MASK = 0x1f;
/** Bit 5: VM exit stores EFER.LMA into the "IA-32e mode guest" entry control. */
export const VMX_MISC_SAVE_EFER_LMA = 0x20;
export const VMX_MISC_ACTIVITY_HLT = 0x40;
export const VMX_MISC_ACTIVITY_SHUTDOWN = 0x80;
export const VMX_MISC_ACTIVITY_WAIT_SIPI = 0x100;
export const VMX_MISC_INTEL_PT = 0x4000;
export const VMX_MISC_RDMSR_IN_SMM = 0x8000;
/** Bits 24:16: number of CR3-target values. */
export const VMX_MISC_CR3_TARGET_COUNT_SHIFT = 16;
export const VMX_MISC_CR3_TARGET_COUNT_MASK = 0x1ff;
/** Bits 27:25: N, where the MSR lists may hold 512 × (N + 1) entries. */
export const VMX_MISC_MAX_MSR_LIST_SHIFT = 25;
export const VMX_MISC_MAX_MSR_LIST_MASK = 0x7;
export const VMX_MISC_MSR_LIST_MULTIPLIER = 512;
/** Bit 28: IA32_SMM_MONITOR_CTL bit 2 (VMXOFF unblocks SMIs) supported. */
export const VMX_MISC_VMXOFF_BLOCK_SMI = 0x10000000;
/** Bit 29: VMWRITE may write every field, read-only exit-information fields included. */
export const VMX_MISC_VMWRITE_SHADOW_RO_FIELDS = 0x20000000;
/** Bit 30: software interrupts/exceptions may be injected with instruction length 0. */
export const VMX_MISC_ZERO_LEN_INS = 0x40000000;
/** Bits 63:32: MSEG revision identifier. */
export const VMX_MISC_MSEG_ID_SHIFT = 32;

// IA32_VMX_EPT_VPID_CAP (0x48C). As in Linux, the EPT bits apply to bits 31:0 of the
// MSR and the VPID bits to bits 63:32 (each taken as its own 32-bit word).
export const VMX_EPT_EXECUTE_ONLY_BIT = 0x1;
export const VMX_EPT_PAGE_WALK_4_BIT = 0x40;
export const VMX_EPT_PAGE_WALK_5_BIT = 0x80;
export const VMX_EPTP_UC_BIT = 0x100;
export const VMX_EPTP_WB_BIT = 0x4000;
export const VMX_EPT_2MB_PAGE_BIT = 0x10000;
export const VMX_EPT_1GB_PAGE_BIT = 0x20000;
export const VMX_EPT_INVEPT_BIT = 0x100000;
export const VMX_EPT_AD_BIT = 0x200000;
/** INVEPT type t is supported iff bit (VMX_EPT_EXTENT_SHIFT + t) is set. */
export const VMX_EPT_EXTENT_SHIFT = 24;
export const VMX_EPT_EXTENT_CONTEXT_BIT = 0x2000000;
export const VMX_EPT_EXTENT_GLOBAL_BIT = 0x4000000;
/** MSR bit 32. */
export const VMX_VPID_INVVPID_BIT = 0x1;
/** MSR bits 40–43: INVVPID type t is supported iff bit (8 + t) of the high word is set. */
export const VMX_VPID_EXTENT_INDIVIDUAL_ADDR_BIT = 0x100;
export const VMX_VPID_EXTENT_SINGLE_CONTEXT_BIT = 0x200;
export const VMX_VPID_EXTENT_GLOBAL_CONTEXT_BIT = 0x400;
export const VMX_VPID_EXTENT_SINGLE_NON_GLOBAL_BIT = 0x800;
export const VMX_VPID_EXTENT_SUPPORTED_MASK = 0xf00;

// ---------------------------------------------------------------------------------------
// EPT pointer (EPT_POINTER, 0x201A), EPT paging-structure entries, INVEPT / INVVPID
// ---------------------------------------------------------------------------------------

/** Bits 2:0: memory type of the EPT paging structures. */
export const VMX_EPTP_MT_MASK = 0x7;
export const VMX_EPTP_MT_UC = 0;
export const VMX_EPTP_MT_WB = 6;
/** Bits 5:3: page-walk length − 1. */
export const VMX_EPTP_PWL_MASK = 0x38;
export const VMX_EPTP_PWL_4 = 0x18;
export const VMX_EPTP_PWL_5 = 0x20;
/** Bit 6: enable accessed/dirty flags. */
export const VMX_EPTP_AD_ENABLE_BIT = 0x40;
/** Bits 11:7, reserved (bit 7 is the supervisor shadow-stack control on newer parts). */
export const VMX_EPTP_RESERVED_LOW_MASK = 0xf80;
export const VMX_EPT_DEFAULT_GAW = 3;
export const VMX_EPT_MAX_GAW = 4;
export const VMX_EPT_GAW_EPTP_SHIFT = 3;

export const VMX_EPT_READABLE_MASK = 0x1;
export const VMX_EPT_WRITABLE_MASK = 0x2;
export const VMX_EPT_EXECUTABLE_MASK = 0x4;
export const VMX_EPT_RWX_MASK = 0x7;
/** Leaf bits 5:3: memory type. */
export const VMX_EPT_MT_EPTE_SHIFT = 3;
export const VMX_EPT_MT_MASK = 0x38;
/** Leaf bit 6: ignore PAT. */
export const VMX_EPT_IPAT_BIT = 0x40;
/** Bit 7: the entry maps a 2 MiB / 1 GiB page (Linux uses the generic PT_PAGE_SIZE_MASK). */
export const VMX_EPT_LARGE_PAGE_MASK = 0x80;
export const VMX_EPT_ACCESS_BIT = 0x100;
export const VMX_EPT_DIRTY_BIT = 0x200;
/** Bit 10: user-execute (mode-based execute control). */
export const VMX_EPT_USER_EXECUTABLE_MASK = 0x400;
/** Bit 63: suppress #VE (a 64-bit mask). */
export const VMX_EPT_SUPPRESS_VE_BIT = 1n << 63n;

/** INVEPT types. */
export const VMX_EPT_EXTENT_CONTEXT = 1;
export const VMX_EPT_EXTENT_GLOBAL = 2;
/** INVVPID types. */
export const VMX_VPID_EXTENT_INDIVIDUAL_ADDR = 0;
export const VMX_VPID_EXTENT_SINGLE_CONTEXT = 1;
export const VMX_VPID_EXTENT_ALL_CONTEXT = 2;
export const VMX_VPID_EXTENT_SINGLE_NON_GLOBAL = 3;

/** IA32_VMX_VMFUNC / VM_FUNCTION_CONTROL bit 0: EPTP switching. */
export const VMX_VMFUNC_EPTP_SWITCHING = 0x1;
