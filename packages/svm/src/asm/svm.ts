/**
 * The numbers of AMD-V (APM Vol. 2 ch. 15) under the names Linux gives them in
 * arch/x86/include/asm/svm.h and uapi/asm/svm.h: intercept indices, exit codes, the
 * EVENTINJ/EXITINTINFO, int_ctl, IOIO and TLB_CONTROL formats, the SVM MSRs and CPUID
 * bits. Values from ../../shared/reference/svm.md §2, §3, §5–§7.
 *
 * An intercept is named by its global bit index in the intercept vector (word × 32 + bit,
 * word 0 at VMCB offset 0x000); below 0x400 that index is also the exit code it causes.
 */

// ── intercept indices (word 0: CRs, 1: DRs, 2: exceptions, 3–5: instructions/events) ──

export const INTERCEPT_CR0_READ = 0;
export const INTERCEPT_CR3_READ = 3;
export const INTERCEPT_CR4_READ = 4;
export const INTERCEPT_CR8_READ = 8;
export const INTERCEPT_CR0_WRITE = 16;
export const INTERCEPT_CR3_WRITE = 16 + 3;
export const INTERCEPT_CR4_WRITE = 16 + 4;
export const INTERCEPT_CR8_WRITE = 16 + 8;
export const INTERCEPT_DR0_READ = 32;
export const INTERCEPT_DR7_READ = 32 + 7;
export const INTERCEPT_DR0_WRITE = 48;
export const INTERCEPT_DR7_WRITE = 48 + 7;
/** Exception vector n is intercepted by index INTERCEPT_EXCEPTION_OFFSET + n. */
export const INTERCEPT_EXCEPTION_OFFSET = 64;
export const INTERCEPT_INTR = 96;
export const INTERCEPT_NMI = 97;
export const INTERCEPT_SMI = 98;
export const INTERCEPT_INIT = 99;
export const INTERCEPT_VINTR = 100;
export const INTERCEPT_SELECTIVE_CR0 = 101;
export const INTERCEPT_STORE_IDTR = 102;
export const INTERCEPT_STORE_GDTR = 103;
export const INTERCEPT_STORE_LDTR = 104;
export const INTERCEPT_STORE_TR = 105;
export const INTERCEPT_LOAD_IDTR = 106;
export const INTERCEPT_LOAD_GDTR = 107;
export const INTERCEPT_LOAD_LDTR = 108;
export const INTERCEPT_LOAD_TR = 109;
export const INTERCEPT_RDTSC = 110;
export const INTERCEPT_RDPMC = 111;
export const INTERCEPT_PUSHF = 112;
export const INTERCEPT_POPF = 113;
export const INTERCEPT_CPUID = 114;
export const INTERCEPT_RSM = 115;
export const INTERCEPT_IRET = 116;
export const INTERCEPT_INTn = 117;
export const INTERCEPT_INVD = 118;
export const INTERCEPT_PAUSE = 119;
export const INTERCEPT_HLT = 120;
export const INTERCEPT_INVLPG = 121;
export const INTERCEPT_INVLPGA = 122;
export const INTERCEPT_IOIO_PROT = 123;
export const INTERCEPT_MSR_PROT = 124;
export const INTERCEPT_TASK_SWITCH = 125;
export const INTERCEPT_FERR_FREEZE = 126;
export const INTERCEPT_SHUTDOWN = 127;
export const INTERCEPT_VMRUN = 128;
export const INTERCEPT_VMMCALL = 129;
export const INTERCEPT_VMLOAD = 130;
export const INTERCEPT_VMSAVE = 131;
export const INTERCEPT_STGI = 132;
export const INTERCEPT_CLGI = 133;
export const INTERCEPT_SKINIT = 134;
export const INTERCEPT_RDTSCP = 135;
export const INTERCEPT_ICEBP = 136;
export const INTERCEPT_WBINVD = 137;
export const INTERCEPT_MONITOR = 138;
export const INTERCEPT_MWAIT = 139;
export const INTERCEPT_MWAIT_COND = 140;
export const INTERCEPT_XSETBV = 141;
export const INTERCEPT_RDPRU = 142;
/** Number of intercept words the VMCB has (0x000–0x017). */
export const MAX_INTERCEPT = 6;

// ── exit codes (EXITCODE, VMCB 0x070) ──

export const SVM_EXIT_READ_CR0 = 0x000;
export const SVM_EXIT_READ_CR3 = 0x003;
export const SVM_EXIT_READ_CR4 = 0x004;
export const SVM_EXIT_READ_CR8 = 0x008;
export const SVM_EXIT_WRITE_CR0 = 0x010;
export const SVM_EXIT_WRITE_CR3 = 0x013;
export const SVM_EXIT_WRITE_CR4 = 0x014;
export const SVM_EXIT_WRITE_CR8 = 0x018;
export const SVM_EXIT_READ_DR0 = 0x020;
export const SVM_EXIT_WRITE_DR0 = 0x030;
export const SVM_EXIT_EXCP_BASE = 0x040;
export const SVM_EXIT_LAST_EXCP = 0x05f;
export const SVM_EXIT_INTR = 0x060;
export const SVM_EXIT_NMI = 0x061;
export const SVM_EXIT_SMI = 0x062;
export const SVM_EXIT_INIT = 0x063;
export const SVM_EXIT_VINTR = 0x064;
export const SVM_EXIT_CR0_SEL_WRITE = 0x065;
export const SVM_EXIT_IDTR_READ = 0x066;
export const SVM_EXIT_GDTR_READ = 0x067;
export const SVM_EXIT_LDTR_READ = 0x068;
export const SVM_EXIT_TR_READ = 0x069;
export const SVM_EXIT_IDTR_WRITE = 0x06a;
export const SVM_EXIT_GDTR_WRITE = 0x06b;
export const SVM_EXIT_LDTR_WRITE = 0x06c;
export const SVM_EXIT_TR_WRITE = 0x06d;
export const SVM_EXIT_RDTSC = 0x06e;
export const SVM_EXIT_RDPMC = 0x06f;
export const SVM_EXIT_PUSHF = 0x070;
export const SVM_EXIT_POPF = 0x071;
export const SVM_EXIT_CPUID = 0x072;
export const SVM_EXIT_RSM = 0x073;
export const SVM_EXIT_IRET = 0x074;
export const SVM_EXIT_SWINT = 0x075;
export const SVM_EXIT_INVD = 0x076;
export const SVM_EXIT_PAUSE = 0x077;
export const SVM_EXIT_HLT = 0x078;
export const SVM_EXIT_INVLPG = 0x079;
export const SVM_EXIT_INVLPGA = 0x07a;
export const SVM_EXIT_IOIO = 0x07b;
export const SVM_EXIT_MSR = 0x07c;
export const SVM_EXIT_TASK_SWITCH = 0x07d;
export const SVM_EXIT_FERR_FREEZE = 0x07e;
export const SVM_EXIT_SHUTDOWN = 0x07f;
export const SVM_EXIT_VMRUN = 0x080;
export const SVM_EXIT_VMMCALL = 0x081;
export const SVM_EXIT_VMLOAD = 0x082;
export const SVM_EXIT_VMSAVE = 0x083;
export const SVM_EXIT_STGI = 0x084;
export const SVM_EXIT_CLGI = 0x085;
export const SVM_EXIT_SKINIT = 0x086;
export const SVM_EXIT_RDTSCP = 0x087;
export const SVM_EXIT_ICEBP = 0x088;
export const SVM_EXIT_WBINVD = 0x089;
export const SVM_EXIT_MONITOR = 0x08a;
export const SVM_EXIT_MWAIT = 0x08b;
export const SVM_EXIT_MWAIT_COND = 0x08c;
export const SVM_EXIT_XSETBV = 0x08d;
export const SVM_EXIT_RDPRU = 0x08e;
export const SVM_EXIT_EFER_WRITE_TRAP = 0x08f;
export const SVM_EXIT_CR0_WRITE_TRAP = 0x090;
export const SVM_EXIT_INVPCID = 0x0a2;
export const SVM_EXIT_NPF = 0x400;
export const SVM_EXIT_AVIC_INCOMPLETE_IPI = 0x401;
export const SVM_EXIT_AVIC_UNACCELERATED_ACCESS = 0x402;
export const SVM_EXIT_VMGEXIT = 0x403;
/** VMEXIT_INVALID: a VMRUN consistency check failed (EXITCODE all ones, −1). */
export const SVM_EXIT_ERR = -1;

/** Exit-code names as Linux's SVM_EXIT_REASONS prints them (the kvm_exit tracepoint). */
const EXIT_NAMES: ReadonlyArray<readonly [number, string]> = [
  [SVM_EXIT_READ_CR0, "read_cr0"],
  [SVM_EXIT_READ_CR3, "read_cr3"],
  [SVM_EXIT_READ_CR4, "read_cr4"],
  [SVM_EXIT_READ_CR8, "read_cr8"],
  [SVM_EXIT_WRITE_CR0, "write_cr0"],
  [SVM_EXIT_WRITE_CR3, "write_cr3"],
  [SVM_EXIT_WRITE_CR4, "write_cr4"],
  [SVM_EXIT_WRITE_CR8, "write_cr8"],
  [SVM_EXIT_EXCP_BASE + 1, "DB_excp"],
  [SVM_EXIT_EXCP_BASE + 3, "BP_excp"],
  [SVM_EXIT_EXCP_BASE + 6, "UD_excp"],
  [SVM_EXIT_EXCP_BASE + 7, "NM_excp"],
  [SVM_EXIT_EXCP_BASE + 13, "GP_excp"],
  [SVM_EXIT_EXCP_BASE + 14, "PF_excp"],
  [SVM_EXIT_EXCP_BASE + 17, "AC_excp"],
  [SVM_EXIT_EXCP_BASE + 18, "MC_excp"],
  [SVM_EXIT_INTR, "interrupt"],
  [SVM_EXIT_NMI, "nmi"],
  [SVM_EXIT_SMI, "smi"],
  [SVM_EXIT_INIT, "init"],
  [SVM_EXIT_VINTR, "vintr"],
  [SVM_EXIT_CR0_SEL_WRITE, "cr0_sel_write"],
  [SVM_EXIT_RDTSC, "rdtsc"],
  [SVM_EXIT_RDPMC, "rdpmc"],
  [SVM_EXIT_CPUID, "cpuid"],
  [SVM_EXIT_IRET, "iret"],
  [SVM_EXIT_SWINT, "swint"],
  [SVM_EXIT_INVD, "invd"],
  [SVM_EXIT_PAUSE, "pause"],
  [SVM_EXIT_HLT, "hlt"],
  [SVM_EXIT_INVLPG, "invlpg"],
  [SVM_EXIT_INVLPGA, "invlpga"],
  [SVM_EXIT_IOIO, "io"],
  [SVM_EXIT_MSR, "msr"],
  [SVM_EXIT_TASK_SWITCH, "task_switch"],
  [SVM_EXIT_SHUTDOWN, "shutdown"],
  [SVM_EXIT_VMRUN, "vmrun"],
  [SVM_EXIT_VMMCALL, "hypercall"],
  [SVM_EXIT_VMLOAD, "vmload"],
  [SVM_EXIT_VMSAVE, "vmsave"],
  [SVM_EXIT_STGI, "stgi"],
  [SVM_EXIT_CLGI, "clgi"],
  [SVM_EXIT_SKINIT, "skinit"],
  [SVM_EXIT_RDTSCP, "rdtscp"],
  [SVM_EXIT_WBINVD, "wbinvd"],
  [SVM_EXIT_MONITOR, "monitor"],
  [SVM_EXIT_MWAIT, "mwait"],
  [SVM_EXIT_XSETBV, "xsetbv"],
  [SVM_EXIT_RDPRU, "rdpru"],
  [SVM_EXIT_NPF, "npf"],
  [SVM_EXIT_ERR, "invalid"],
];
const EXIT_NAME = new Map(EXIT_NAMES);

/** The name of an exit code ("io", "npf", "invalid", …; otherwise its hex value). */
export function svmExitName(code: number): string {
  return EXIT_NAME.get(code) ?? `0x${(code >>> 0).toString(16)}`;
}

// ── EVENTINJ (0x0A8) and EXITINTINFO (0x088) ──

export const SVM_EVTINJ_VEC_MASK = 0xff;
export const SVM_EVTINJ_TYPE_SHIFT = 8;
export const SVM_EVTINJ_TYPE_MASK = 7 << SVM_EVTINJ_TYPE_SHIFT;
export const SVM_EVTINJ_TYPE_INTR = 0 << SVM_EVTINJ_TYPE_SHIFT;
export const SVM_EVTINJ_TYPE_NMI = 2 << SVM_EVTINJ_TYPE_SHIFT;
export const SVM_EVTINJ_TYPE_EXEPT = 3 << SVM_EVTINJ_TYPE_SHIFT;
export const SVM_EVTINJ_TYPE_SOFT = 4 << SVM_EVTINJ_TYPE_SHIFT;
export const SVM_EVTINJ_VALID_ERR = 1 << 11;
/** Bits 30:12, which must be zero. */
export const SVM_EVTINJ_RESERVED = 0x7fff_f000;
export const SVM_EVTINJ_VALID = 1 << 31;
export const SVM_EXITINTINFO_VEC_MASK = SVM_EVTINJ_VEC_MASK;
export const SVM_EXITINTINFO_TYPE_MASK = SVM_EVTINJ_TYPE_MASK;
export const SVM_EXITINTINFO_TYPE_INTR = SVM_EVTINJ_TYPE_INTR;
export const SVM_EXITINTINFO_TYPE_NMI = SVM_EVTINJ_TYPE_NMI;
export const SVM_EXITINTINFO_TYPE_EXEPT = SVM_EVTINJ_TYPE_EXEPT;
export const SVM_EXITINTINFO_TYPE_SOFT = SVM_EVTINJ_TYPE_SOFT;
export const SVM_EXITINTINFO_VALID = SVM_EVTINJ_VALID;
export const SVM_EXITINTINFO_VALID_ERR = SVM_EVTINJ_VALID_ERR;

// ── int_ctl (0x060), int_state (0x068) ──

export const V_TPR_MASK = 0x0f;
export const V_IRQ_SHIFT = 8;
export const V_IRQ_MASK = 1 << V_IRQ_SHIFT;
export const V_GIF_MASK = 1 << 9;
export const V_NMI_PENDING_MASK = 1 << 11;
export const V_NMI_BLOCKING_MASK = 1 << 12;
export const V_INTR_PRIO_SHIFT = 16;
export const V_INTR_PRIO_MASK = 0x0f << V_INTR_PRIO_SHIFT;
export const V_IGN_TPR_MASK = 1 << 20;
export const V_INTR_MASKING_MASK = 1 << 24;
export const V_GIF_ENABLE_MASK = 1 << 25;
export const V_NMI_ENABLE_MASK = 1 << 26;
export const AVIC_ENABLE_MASK = 1 << 31;
export const SVM_INTERRUPT_SHADOW_MASK = 1 << 0;
export const SVM_GUEST_INTERRUPT_MASK = 1 << 1;

// ── misc_ctl (0x090), TLB_CONTROL (0x05C) ──

export const SVM_NESTED_CTL_NP_ENABLE = 1 << 0;
export const SVM_NESTED_CTL_SEV_ENABLE = 1 << 1;
export const SVM_NESTED_CTL_SEV_ES_ENABLE = 1 << 2;
export const TLB_CONTROL_DO_NOTHING = 0;
export const TLB_CONTROL_FLUSH_ALL_ASID = 1;
export const TLB_CONTROL_FLUSH_ASID = 3;
export const TLB_CONTROL_FLUSH_ASID_LOCAL = 7;

// ── IOIO EXITINFO1 (§6.1) ──

export const SVM_IOIO_TYPE_MASK = 1 << 0;
export const SVM_IOIO_STR_SHIFT = 2;
export const SVM_IOIO_STR_MASK = 1 << SVM_IOIO_STR_SHIFT;
export const SVM_IOIO_REP_SHIFT = 3;
export const SVM_IOIO_REP_MASK = 1 << SVM_IOIO_REP_SHIFT;
export const SVM_IOIO_SIZE_SHIFT = 4;
export const SVM_IOIO_SIZE_MASK = 7 << SVM_IOIO_SIZE_SHIFT;
export const SVM_IOIO_ASIZE_SHIFT = 7;
export const SVM_IOIO_ASIZE_MASK = 7 << SVM_IOIO_ASIZE_SHIFT;
export const SVM_IOIO_PORT_SHIFT = 16;

// ── NPF EXITINFO1 (§6.2): the #PF error-code bits plus where the fault happened ──

export const PFERR_PRESENT_MASK = 1 << 0;
export const PFERR_WRITE_MASK = 1 << 1;
export const PFERR_USER_MASK = 1 << 2;
export const PFERR_RSVD_MASK = 1 << 3;
export const PFERR_FETCH_MASK = 1 << 4;
/** Bit 32 (as a bit of EXITINFO1's high half: 1 << 0): the guest's final access faulted. */
export const PFERR_GUEST_FINAL_HI = 1 << 0;
/** Bit 33 (high half 1 << 1): the fault was on the guest's own page-table walk. */
export const PFERR_GUEST_PAGE_HI = 1 << 1;

// ── MSRs and CPUID (§7) ──

export const MSR_EFER = 0xc000_0080;
export const EFER_SCE = 1 << 0;
export const EFER_LME = 1 << 8;
export const EFER_LMA = 1 << 10;
export const EFER_NX = 1 << 11;
export const EFER_SVME = 1 << 12;
export const MSR_VM_CR = 0xc001_0114;
export const SVM_VM_CR_VALID_MASK = 0x001f;
export const SVM_VM_CR_DPD = 1 << 0;
export const SVM_VM_CR_R_INIT = 1 << 1;
export const SVM_VM_CR_DIS_A20M = 1 << 2;
export const SVM_VM_CR_SVM_LOCK_MASK = 1 << 3;
export const SVM_VM_CR_SVM_DIS_MASK = 1 << 4;
export const MSR_VM_IGNNE = 0xc001_0115;
export const MSR_VM_HSAVE_PA = 0xc001_0117;
export const MSR_AMD64_TSC_RATIO = 0xc000_0104;

/** CPUID leaf with the SVM revision, ASID count and features. */
export const SVM_CPUID_FUNC = 0x8000_000a;
/** CPUID 8000_0001h ECX bit 2: SVM. */
export const X86_FEATURE_SVM_BIT = 2;
/** CPUID 8000_000Ah EDX feature bits. */
export const SVM_FEATURE_NPT = 1 << 0;
export const SVM_FEATURE_LBRV = 1 << 1;
export const SVM_FEATURE_SVML = 1 << 2;
export const SVM_FEATURE_NRIP = 1 << 3;
export const SVM_FEATURE_TSC_RATE = 1 << 4;
export const SVM_FEATURE_VMCB_CLEAN = 1 << 5;
export const SVM_FEATURE_FLUSH_ASID = 1 << 6;
export const SVM_FEATURE_DECODE_ASSISTS = 1 << 7;
export const SVM_FEATURE_PAUSE_FILTER = 1 << 10;
export const SVM_FEATURE_PFTHRESHOLD = 1 << 12;
export const SVM_FEATURE_AVIC = 1 << 13;
export const SVM_FEATURE_V_VMSAVE_VMLOAD = 1 << 15;
export const SVM_FEATURE_VGIF = 1 << 16;
export const SVM_FEATURE_VNMI = 1 << 25;
