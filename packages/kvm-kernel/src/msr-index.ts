/** MSR numbers KVM itself handles or lists (arch/x86/include/asm/msr-index.h). */
export const MSR_IA32_TSC = 0x10;
export const MSR_IA32_PLATFORM_ID = 0x17;
export const MSR_IA32_APICBASE = 0x1b;
export const MSR_IA32_FEAT_CTL = 0x3a;
export const MSR_IA32_TSC_ADJUST = 0x3b;
export const MSR_IA32_SPEC_CTRL = 0x48;
export const MSR_IA32_PRED_CMD = 0x49;
export const MSR_IA32_UCODE_REV = 0x8b;
export const MSR_IA32_SMBASE = 0x9e;
export const MSR_IA32_PERF_CAPABILITIES = 0x345;
export const MSR_IA32_TSC_DEADLINE = 0x6e0;
export const MSR_MTRRcap = 0xfe;
export const MSR_IA32_ARCH_CAPABILITIES = 0x10a;
export const MSR_IA32_SYSENTER_CS = 0x174;
export const MSR_IA32_SYSENTER_ESP = 0x175;
export const MSR_IA32_SYSENTER_EIP = 0x176;
export const MSR_IA32_MCG_CAP = 0x179;
export const MSR_IA32_MCG_STATUS = 0x17a;
export const MSR_IA32_MCG_CTL = 0x17b;
export const MSR_IA32_MISC_ENABLE = 0x1a0;
export const MSR_IA32_POWER_CTL = 0x1fc;
export const MSR_IA32_DEBUGCTLMSR = 0x1d9;
export const MSR_MTRRphysBase0 = 0x200;
export const MSR_MTRRfix64K_00000 = 0x250;
export const MSR_MTRRfix16K_80000 = 0x258;
export const MSR_MTRRfix16K_A0000 = 0x259;
export const MSR_MTRRfix4K_C0000 = 0x268;
export const MSR_MTRRfix4K_F8000 = 0x26f;
export const MSR_IA32_CR_PAT = 0x277;
export const MSR_MTRRdefType = 0x2ff;
export const MSR_IA32_VMX_BASIC = 0x480;
export const MSR_IA32_VMX_VMFUNC = 0x491;
export const MSR_EFER = 0xc000_0080;
export const MSR_STAR = 0xc000_0081;
export const MSR_LSTAR = 0xc000_0082;
export const MSR_CSTAR = 0xc000_0083;
export const MSR_SYSCALL_MASK = 0xc000_0084;
export const MSR_FS_BASE = 0xc000_0100;
export const MSR_GS_BASE = 0xc000_0101;
export const MSR_KERNEL_GS_BASE = 0xc000_0102;
export const MSR_TSC_AUX = 0xc000_0103;
export const MSR_VM_HSAVE_PA = 0xc001_0117;

/** EFER bits. */
export const EFER_SCE = 1 << 0;
export const EFER_LME = 1 << 8;
export const EFER_LMA = 1 << 10;
export const EFER_NX = 1 << 11;
export const EFER_SVME = 1 << 12;
export const EFER_FFXSR = 1 << 14;

/** IA32_APIC_BASE bits. */
export const MSR_IA32_APICBASE_BSP = 1 << 8;
export const X2APIC_ENABLE = 1 << 10;
export const MSR_IA32_APICBASE_ENABLE = 1 << 11;
export const APIC_DEFAULT_PHYS_BASE = 0xfee0_0000;

/** msrs_to_save_base: MSRs userspace must save and restore for migration. */
export const MSRS_TO_SAVE_BASE: readonly number[] = [
  MSR_IA32_SYSENTER_CS,
  MSR_IA32_SYSENTER_ESP,
  MSR_IA32_SYSENTER_EIP,
  MSR_STAR,
  MSR_CSTAR,
  MSR_KERNEL_GS_BASE,
  MSR_SYSCALL_MASK,
  MSR_LSTAR,
  MSR_IA32_TSC,
  MSR_IA32_CR_PAT,
  MSR_VM_HSAVE_PA,
  MSR_IA32_FEAT_CTL,
  MSR_TSC_AUX,
  MSR_IA32_SPEC_CTRL,
];

/** emulated_msrs_all: MSRs KVM emulates whatever the host has (the subset modelled). */
export const EMULATED_MSRS_ALL: readonly number[] = [
  MSR_IA32_TSC_ADJUST,
  MSR_IA32_ARCH_CAPABILITIES,
  MSR_IA32_MISC_ENABLE,
  MSR_IA32_MCG_STATUS,
  MSR_IA32_MCG_CTL,
  MSR_IA32_SMBASE,
  MSR_IA32_POWER_CTL,
  MSR_IA32_UCODE_REV,
];

/** msr_based_features_all_except_vmx: feature MSRs readable through /dev/kvm. */
export const MSR_BASED_FEATURES: readonly number[] = [
  MSR_IA32_ARCH_CAPABILITIES,
  MSR_IA32_UCODE_REV,
];
