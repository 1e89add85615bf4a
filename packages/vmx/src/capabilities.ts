/**
 * arch/x86/kvm/vmx/capabilities.h and setup_vmcs_config (vmx.c): what kvm_intel learns
 * from the capability MSRs at module load, and the control words it will use.
 */
import { EIO } from "@glassvm/kvm-kernel/uapi";
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
  CPU_BASED_MONITOR_TRAP_FLAG,
  CPU_BASED_MOV_DR_EXITING,
  CPU_BASED_MWAIT_EXITING,
  CPU_BASED_NMI_WINDOW_EXITING,
  CPU_BASED_RDPMC_EXITING,
  CPU_BASED_RDTSC_EXITING,
  CPU_BASED_TPR_SHADOW,
  CPU_BASED_UNCOND_IO_EXITING,
  CPU_BASED_USE_IO_BITMAPS,
  CPU_BASED_USE_MSR_BITMAPS,
  CPU_BASED_USE_TSC_OFFSETTING,
  MSR_IA32_VMX_BASIC,
  MSR_IA32_VMX_ENTRY_CTLS,
  MSR_IA32_VMX_EPT_VPID_CAP,
  MSR_IA32_VMX_EXIT_CTLS,
  MSR_IA32_VMX_MISC,
  MSR_IA32_VMX_PINBASED_CTLS,
  MSR_IA32_VMX_PROCBASED_CTLS,
  MSR_IA32_VMX_PROCBASED_CTLS2,
  PIN_BASED_EXT_INTR_MASK,
  PIN_BASED_NMI_EXITING,
  PIN_BASED_POSTED_INTR,
  PIN_BASED_VIRTUAL_NMIS,
  PIN_BASED_VMX_PREEMPTION_TIMER,
  SECONDARY_EXEC_DESC,
  SECONDARY_EXEC_ENABLE_EPT,
  SECONDARY_EXEC_ENABLE_INVPCID,
  SECONDARY_EXEC_ENABLE_PML,
  SECONDARY_EXEC_ENABLE_RDTSCP,
  SECONDARY_EXEC_ENABLE_VPID,
  SECONDARY_EXEC_ENABLE_XSAVES,
  SECONDARY_EXEC_PAUSE_LOOP_EXITING,
  SECONDARY_EXEC_RDRAND_EXITING,
  SECONDARY_EXEC_RDSEED_EXITING,
  SECONDARY_EXEC_SHADOW_VMCS,
  SECONDARY_EXEC_UNRESTRICTED_GUEST,
  SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES,
  SECONDARY_EXEC_VIRTUALIZE_X2APIC_MODE,
  SECONDARY_EXEC_WBINVD_EXITING,
  VM_ENTRY_IA32E_MODE,
  VM_ENTRY_LOAD_DEBUG_CONTROLS,
  VM_ENTRY_LOAD_IA32_EFER,
  VM_ENTRY_LOAD_IA32_PAT,
  VM_EXIT_ACK_INTR_ON_EXIT,
  VM_EXIT_HOST_ADDR_SPACE_SIZE,
  VM_EXIT_LOAD_IA32_EFER,
  VM_EXIT_LOAD_IA32_PAT,
  VM_EXIT_SAVE_DEBUG_CONTROLS,
  VM_EXIT_SAVE_IA32_PAT,
  VM_EXIT_SAVE_VMX_PREEMPTION_TIMER,
} from "./asm/vmx.js";

/** struct vmcs_config. */
export interface VmcsConfig {
  revisionId: number;
  /** VMCS region size (IA32_VMX_BASIC[44:32]). */
  size: number;
  basic: bigint;
  pinBasedExecCtrl: number;
  cpuBasedExecCtrl: number;
  cpuBasedExec2Ctrl: number;
  vmexitCtrl: number;
  vmentryCtrl: number;
  misc: bigint;
  /** IA32_VMX_EPT_VPID_CAP split as struct vmx_capability keeps it. */
  eptCap: number;
  vpidCap: number;
}

/** The controls kvm_intel cannot run without, and those it takes when offered (≈ Linux 6.x). */
export const KVM_REQUIRED_VMX_PIN_BASED_VM_EXEC_CONTROL =
  PIN_BASED_EXT_INTR_MASK | PIN_BASED_NMI_EXITING;
export const KVM_OPTIONAL_VMX_PIN_BASED_VM_EXEC_CONTROL =
  PIN_BASED_VIRTUAL_NMIS | PIN_BASED_POSTED_INTR | PIN_BASED_VMX_PREEMPTION_TIMER;
export const KVM_REQUIRED_VMX_CPU_BASED_VM_EXEC_CONTROL =
  (CPU_BASED_INTR_WINDOW_EXITING |
    CPU_BASED_USE_TSC_OFFSETTING |
    CPU_BASED_HLT_EXITING |
    CPU_BASED_INVLPG_EXITING |
    CPU_BASED_RDPMC_EXITING |
    CPU_BASED_CR3_LOAD_EXITING |
    CPU_BASED_CR3_STORE_EXITING |
    CPU_BASED_CR8_LOAD_EXITING |
    CPU_BASED_CR8_STORE_EXITING |
    CPU_BASED_MOV_DR_EXITING |
    CPU_BASED_UNCOND_IO_EXITING |
    CPU_BASED_MONITOR_EXITING |
    CPU_BASED_MWAIT_EXITING) >>>
  0;
export const KVM_OPTIONAL_VMX_CPU_BASED_VM_EXEC_CONTROL =
  (CPU_BASED_RDTSC_EXITING |
    CPU_BASED_TPR_SHADOW |
    CPU_BASED_USE_IO_BITMAPS |
    CPU_BASED_MONITOR_TRAP_FLAG |
    CPU_BASED_USE_MSR_BITMAPS |
    CPU_BASED_NMI_WINDOW_EXITING |
    CPU_BASED_ACTIVATE_SECONDARY_CONTROLS) >>>
  0;
export const KVM_OPTIONAL_VMX_SECONDARY_VM_EXEC_CONTROL =
  (SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES |
    SECONDARY_EXEC_VIRTUALIZE_X2APIC_MODE |
    SECONDARY_EXEC_WBINVD_EXITING |
    SECONDARY_EXEC_ENABLE_VPID |
    SECONDARY_EXEC_ENABLE_EPT |
    SECONDARY_EXEC_UNRESTRICTED_GUEST |
    SECONDARY_EXEC_PAUSE_LOOP_EXITING |
    SECONDARY_EXEC_DESC |
    SECONDARY_EXEC_ENABLE_RDTSCP |
    SECONDARY_EXEC_ENABLE_INVPCID |
    SECONDARY_EXEC_SHADOW_VMCS |
    SECONDARY_EXEC_ENABLE_XSAVES |
    SECONDARY_EXEC_RDSEED_EXITING |
    SECONDARY_EXEC_RDRAND_EXITING |
    SECONDARY_EXEC_ENABLE_PML) >>>
  0;
export const KVM_REQUIRED_VMX_VM_EXIT_CONTROLS =
  (VM_EXIT_SAVE_DEBUG_CONTROLS | VM_EXIT_ACK_INTR_ON_EXIT | VM_EXIT_HOST_ADDR_SPACE_SIZE) >>> 0;
export const KVM_OPTIONAL_VMX_VM_EXIT_CONTROLS =
  (VM_EXIT_SAVE_IA32_PAT |
    VM_EXIT_LOAD_IA32_PAT |
    VM_EXIT_LOAD_IA32_EFER |
    VM_EXIT_SAVE_VMX_PREEMPTION_TIMER) >>>
  0;
export const KVM_REQUIRED_VMX_VM_ENTRY_CONTROLS =
  (VM_ENTRY_LOAD_DEBUG_CONTROLS | VM_ENTRY_IA32E_MODE) >>> 0;
export const KVM_OPTIONAL_VMX_VM_ENTRY_CONTROLS =
  (VM_ENTRY_LOAD_IA32_PAT | VM_ENTRY_LOAD_IA32_EFER) >>> 0;

/**
 * adjust_vmx_controls: the wanted controls limited to what the MSR allows, plus what it
 * requires; -EIO when a required control is missing.
 */
export function adjustVmxControls(min: number, opt: number, cap: bigint): number {
  const must1 = Number(cap & 0xffff_ffffn);
  const may1 = Number(cap >> 32n);
  let ctl = (min | opt) & may1;
  ctl |= must1;
  if ((min & ~ctl) !== 0) return -EIO;
  return ctl >>> 0;
}

/**
 * setup_vmcs_config: read the capability MSRs (through `rdmsr`) and settle the control
 * words. kvm_intel refuses to load (-EIO) when a required control or the 4 KiB,
 * write-back VMCS is missing.
 */
export function setupVmcsConfig(rdmsr: (index: number) => bigint | undefined): VmcsConfig | number {
  const msr = (i: number) => rdmsr(i) ?? 0n;
  const pin = adjustVmxControls(
    KVM_REQUIRED_VMX_PIN_BASED_VM_EXEC_CONTROL,
    KVM_OPTIONAL_VMX_PIN_BASED_VM_EXEC_CONTROL,
    msr(MSR_IA32_VMX_PINBASED_CTLS),
  );
  const cpu = adjustVmxControls(
    KVM_REQUIRED_VMX_CPU_BASED_VM_EXEC_CONTROL,
    KVM_OPTIONAL_VMX_CPU_BASED_VM_EXEC_CONTROL,
    msr(MSR_IA32_VMX_PROCBASED_CTLS),
  );
  if (pin < 0 || cpu < 0) return -EIO;
  const cpu2 =
    (cpu & CPU_BASED_ACTIVATE_SECONDARY_CONTROLS) !== 0
      ? adjustVmxControls(
          0,
          KVM_OPTIONAL_VMX_SECONDARY_VM_EXEC_CONTROL,
          msr(MSR_IA32_VMX_PROCBASED_CTLS2),
        )
      : 0;
  const exit = adjustVmxControls(
    KVM_REQUIRED_VMX_VM_EXIT_CONTROLS,
    KVM_OPTIONAL_VMX_VM_EXIT_CONTROLS,
    msr(MSR_IA32_VMX_EXIT_CTLS),
  );
  const entry = adjustVmxControls(
    KVM_REQUIRED_VMX_VM_ENTRY_CONTROLS,
    KVM_OPTIONAL_VMX_VM_ENTRY_CONTROLS,
    msr(MSR_IA32_VMX_ENTRY_CTLS),
  );
  if (cpu2 < 0 || exit < 0 || entry < 0) return -EIO;
  const basic = msr(MSR_IA32_VMX_BASIC);
  const size = Number((basic >> 32n) & 0x1fffn);
  // The VMCS must fit a page and be write-back.
  if (size > 4096 || ((basic >> 50n) & 0xfn) !== 6n) return -EIO;
  const eptVpid = msr(MSR_IA32_VMX_EPT_VPID_CAP);
  return {
    revisionId: Number(basic & 0x7fff_ffffn),
    size,
    basic,
    pinBasedExecCtrl: pin,
    cpuBasedExecCtrl: cpu,
    cpuBasedExec2Ctrl: cpu2,
    vmexitCtrl: exit,
    vmentryCtrl: entry,
    misc: msr(MSR_IA32_VMX_MISC),
    eptCap: Number(eptVpid & 0xffff_ffffn),
    vpidCap: Number(eptVpid >> 32n),
  };
}

export const cpuHasVmxEpt = (c: VmcsConfig): boolean =>
  (c.cpuBasedExec2Ctrl & SECONDARY_EXEC_ENABLE_EPT) !== 0;
export const cpuHasVmxVpid = (c: VmcsConfig): boolean =>
  (c.cpuBasedExec2Ctrl & SECONDARY_EXEC_ENABLE_VPID) !== 0;
export const cpuHasVmxUnrestrictedGuest = (c: VmcsConfig): boolean =>
  (c.cpuBasedExec2Ctrl & SECONDARY_EXEC_UNRESTRICTED_GUEST) !== 0;
export const cpuHasVmxMsrBitmap = (c: VmcsConfig): boolean =>
  (c.cpuBasedExecCtrl & CPU_BASED_USE_MSR_BITMAPS) !== 0;
export const cpuHasVmxTprShadow = (c: VmcsConfig): boolean =>
  (c.cpuBasedExecCtrl & CPU_BASED_TPR_SHADOW) !== 0;
export const cpuHasVirtualNmis = (c: VmcsConfig): boolean =>
  (c.pinBasedExecCtrl & PIN_BASED_VIRTUAL_NMIS) !== 0;
export const cpuHasLoadIa32Efer = (c: VmcsConfig): boolean =>
  (c.vmentryCtrl & VM_ENTRY_LOAD_IA32_EFER) !== 0 && (c.vmexitCtrl & VM_EXIT_LOAD_IA32_EFER) !== 0;
