/**
 * The checks VMLAUNCH/VMRESUME make on the current VMCS before any guest instruction runs
 * (SDM Vol. 3C 27.2 "Checks on VMX Controls and Host-State Area" and 27.3.1 "Checks on
 * the Guest State Area"), in the SDM's order, each a named rule:
 *
 *   1. controls    (27.2.1.1–27.2.1.3) → VMfailValid(7)
 *   2. host state  (27.2.2–27.2.4)     → VMfailValid(8)
 *   3. guest state (27.3.1.1–27.3.1.6) → VM exit 0x80000021 with an exit qualification
 *
 * The first failing rule decides the outcome. The SDM allows the checks in any order;
 * Bochs (vmx.cc) and KVM's nested checks use the manual's order, and so does this file.
 *
 * Deviations from the SDM, all forced by what these functions can see:
 * - No guest memory: the TPR-threshold ≤ VTPR comparison (virtual-APIC page) is not made,
 *   and the VMCS link pointer must be FFFFFFFF_FFFFFFFF (the SDM would also accept an
 *   aligned pointer to a region holding this part's revision identifier).
 * - The part's own limits: 48-bit linear addresses (CR4.LA57 cannot be set), EFER bits
 *   SCE/LME/LMA/NXE, no RTM, SGX, CET, SMM, PKRS or perf-global-ctrl loading.
 */
import {
  APIC_ACCESS_ADDR,
  CPU_BASED_ACTIVATE_SECONDARY_CONTROLS,
  CPU_BASED_ACTIVATE_TERTIARY_CONTROLS,
  CPU_BASED_MONITOR_TRAP_FLAG,
  CPU_BASED_NMI_WINDOW_EXITING,
  CPU_BASED_TPR_SHADOW,
  CPU_BASED_USE_IO_BITMAPS,
  CPU_BASED_USE_MSR_BITMAPS,
  CPU_BASED_VM_EXEC_CONTROL,
  CR3_TARGET_COUNT,
  ENTRY_FAIL_PDPTE,
  ENTRY_FAIL_VMCS_LINK_PTR,
  EPT_POINTER,
  GUEST_ACTIVITY_ACTIVE,
  GUEST_ACTIVITY_HLT,
  GUEST_ACTIVITY_SHUTDOWN,
  GUEST_ACTIVITY_STATE,
  GUEST_ACTIVITY_WAIT_SIPI,
  GUEST_CR0,
  GUEST_CR3,
  GUEST_CR4,
  GUEST_CS_AR_BYTES,
  GUEST_CS_BASE,
  GUEST_CS_LIMIT,
  GUEST_CS_SELECTOR,
  GUEST_DR7,
  GUEST_DS_AR_BYTES,
  GUEST_DS_BASE,
  GUEST_DS_LIMIT,
  GUEST_DS_SELECTOR,
  GUEST_ES_AR_BYTES,
  GUEST_ES_BASE,
  GUEST_ES_LIMIT,
  GUEST_ES_SELECTOR,
  GUEST_FS_AR_BYTES,
  GUEST_FS_BASE,
  GUEST_FS_LIMIT,
  GUEST_FS_SELECTOR,
  GUEST_GDTR_BASE,
  GUEST_GDTR_LIMIT,
  GUEST_GS_AR_BYTES,
  GUEST_GS_BASE,
  GUEST_GS_LIMIT,
  GUEST_GS_SELECTOR,
  GUEST_IA32_DEBUGCTL,
  GUEST_IA32_EFER,
  GUEST_IA32_PAT,
  GUEST_IDTR_BASE,
  GUEST_IDTR_LIMIT,
  GUEST_INTERRUPTIBILITY_INFO,
  GUEST_INTR_STATE_MOV_SS,
  GUEST_INTR_STATE_NMI,
  GUEST_INTR_STATE_SMI,
  GUEST_INTR_STATE_STI,
  GUEST_LDTR_AR_BYTES,
  GUEST_LDTR_BASE,
  GUEST_LDTR_LIMIT,
  GUEST_LDTR_SELECTOR,
  GUEST_PDPTR0,
  GUEST_PDPTR1,
  GUEST_PDPTR2,
  GUEST_PDPTR3,
  GUEST_PENDING_DBG_EXCEPTIONS,
  GUEST_RFLAGS,
  GUEST_RIP,
  GUEST_SS_AR_BYTES,
  GUEST_SS_BASE,
  GUEST_SS_LIMIT,
  GUEST_SS_SELECTOR,
  GUEST_SYSENTER_EIP,
  GUEST_SYSENTER_ESP,
  GUEST_TR_AR_BYTES,
  GUEST_TR_BASE,
  GUEST_TR_LIMIT,
  GUEST_TR_SELECTOR,
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
  HOST_IA32_SYSENTER_EIP,
  HOST_IA32_SYSENTER_ESP,
  HOST_IDTR_BASE,
  HOST_RIP,
  HOST_SS_SELECTOR,
  HOST_TR_BASE,
  HOST_TR_SELECTOR,
  INTR_INFO_DELIVER_CODE_MASK,
  INTR_INFO_INTR_TYPE_MASK,
  INTR_INFO_RESVD_BITS_MASK,
  INTR_INFO_VALID_MASK,
  INTR_INFO_VECTOR_MASK,
  INTR_TYPE_EXT_INTR,
  INTR_TYPE_HARD_EXCEPTION,
  INTR_TYPE_NMI_INTR,
  INTR_TYPE_OTHER_EVENT,
  INTR_TYPE_PRIV_SW_EXCEPTION,
  INTR_TYPE_RESERVED,
  INTR_TYPE_SOFT_EXCEPTION,
  INTR_TYPE_SOFT_INTR,
  IO_BITMAP_A,
  IO_BITMAP_B,
  MSR_BITMAP,
  PIN_BASED_EXT_INTR_MASK,
  PIN_BASED_NMI_EXITING,
  PIN_BASED_POSTED_INTR,
  PIN_BASED_VIRTUAL_NMIS,
  PIN_BASED_VM_EXEC_CONTROL,
  PIN_BASED_VMX_PREEMPTION_TIMER,
  PML_ADDRESS,
  POSTED_INTR_DESC_ADDR,
  POSTED_INTR_NV,
  SECONDARY_EXEC_APIC_REGISTER_VIRT,
  SECONDARY_EXEC_ENABLE_EPT,
  SECONDARY_EXEC_ENABLE_PML,
  SECONDARY_EXEC_ENABLE_VPID,
  SECONDARY_EXEC_MODE_BASED_EPT_EXEC,
  SECONDARY_EXEC_UNRESTRICTED_GUEST,
  SECONDARY_EXEC_VIRTUAL_INTR_DELIVERY,
  SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES,
  SECONDARY_EXEC_VIRTUALIZE_X2APIC_MODE,
  SECONDARY_VM_EXEC_CONTROL,
  TERTIARY_VM_EXEC_CONTROL,
  TPR_THRESHOLD,
  VIRTUAL_APIC_PAGE_ADDR,
  VIRTUAL_PROCESSOR_ID,
  VM_ENTRY_CONTROLS,
  VM_ENTRY_DEACT_DUAL_MONITOR,
  VM_ENTRY_EXCEPTION_ERROR_CODE,
  VM_ENTRY_IA32E_MODE,
  VM_ENTRY_INSTRUCTION_LEN,
  VM_ENTRY_INTR_INFO_FIELD,
  VM_ENTRY_LOAD_DEBUG_CONTROLS,
  VM_ENTRY_LOAD_IA32_EFER,
  VM_ENTRY_LOAD_IA32_PAT,
  VM_ENTRY_MSR_LOAD_ADDR,
  VM_ENTRY_MSR_LOAD_COUNT,
  VM_ENTRY_SMM,
  VM_EXIT_ACK_INTR_ON_EXIT,
  VM_EXIT_CONTROLS,
  VM_EXIT_HOST_ADDR_SPACE_SIZE,
  VM_EXIT_LOAD_IA32_EFER,
  VM_EXIT_LOAD_IA32_PAT,
  VM_EXIT_MSR_LOAD_ADDR,
  VM_EXIT_MSR_LOAD_COUNT,
  VM_EXIT_MSR_STORE_ADDR,
  VM_EXIT_MSR_STORE_COUNT,
  VM_EXIT_SAVE_VMX_PREEMPTION_TIMER,
  VMCS_LINK_POINTER,
  VMX_AR_DB_MASK,
  VMX_AR_DPL_MASK,
  VMX_AR_DPL_SHIFT,
  VMX_AR_G_MASK,
  VMX_AR_L_MASK,
  VMX_AR_P_MASK,
  VMX_AR_RESERVD_MASK,
  VMX_AR_S_MASK,
  VMX_AR_TYPE_MASK,
  VMX_AR_UNUSABLE_MASK,
  VMX_BASIC_32BIT_PHYS_ADDR_ONLY,
  VMX_BASIC_NO_HW_ERROR_CODE_CC,
  VMX_BASIC_TRUE_CTLS,
  VMX_EPT_AD_BIT,
  VMX_EPT_PAGE_WALK_4_BIT,
  VMX_EPT_PAGE_WALK_5_BIT,
  VMX_EPTP_AD_ENABLE_BIT,
  VMX_EPTP_MT_MASK,
  VMX_EPTP_MT_UC,
  VMX_EPTP_MT_WB,
  VMX_EPTP_PWL_4,
  VMX_EPTP_PWL_5,
  VMX_EPTP_PWL_MASK,
  VMX_EPTP_RESERVED_LOW_MASK,
  VMX_EPTP_UC_BIT,
  VMX_EPTP_WB_BIT,
  VMX_MISC_ACTIVITY_HLT,
  VMX_MISC_ACTIVITY_SHUTDOWN,
  VMX_MISC_ACTIVITY_WAIT_SIPI,
  VMX_MISC_CR3_TARGET_COUNT_MASK,
  VMX_MISC_CR3_TARGET_COUNT_SHIFT,
  VMX_MISC_ZERO_LEN_INS,
  VMXERR_ENTRY_INVALID_CONTROL_FIELD,
  VMXERR_ENTRY_INVALID_HOST_STATE_FIELD,
} from "../asm/vmx.js";
import {
  EXIT_REASON_INVALID_STATE,
  VMX_EXIT_REASONS_FAILED_VMENTRY,
} from "../asm/vmx-exit-reasons.js";
import { vmcsFieldName } from "../vmcs-fields.js";
import { type VmxCapabilities, vmxControlAllowed } from "./vmx_caps.js";

/** Reads a VMCS field's full value (zero-extended); the entry code passes the current VMCS. */
export interface VmcsReader {
  read(encoding: number): bigint;
  /** Bits 31:0 of a field, without a BigInt (optional: a fast path for the processor). */
  read32?(encoding: number): number;
  /** Bits 63:32 of a 64-bit or natural-width field, without a BigInt (optional, as read32). */
  readHigh32?(encoding: number): number;
}

export interface VmEntryContext {
  /** Capability MSRs; the TRUE control MSRs (0x48D–0x490) are used when IA32_VMX_BASIC[55] = 1. */
  readonly caps: VmxCapabilities;
  /** The processor executing VMLAUNCH/VMRESUME is in IA-32e mode. */
  readonly hostLongMode: boolean;
  /** MAXPHYADDR for address-width checks. */
  readonly physAddrBits: number;
}

export type VmEntryStage = "controls" | "host-state" | "guest-state";

export interface VmEntryFailure {
  readonly stage: VmEntryStage;
  /** Stable kebab-case id of the rule (one of VM_ENTRY_RULES). */
  readonly rule: string;
  /** The SDM section that states it (Vol. 3C numbering of a current SDM, e.g. "27.2.1.1"). */
  readonly sdm: string;
  /** The VMCS field(s) involved, by Linux name ("GUEST_CR0", "PIN_BASED_VM_EXEC_CONTROL"). */
  readonly field: string;
  readonly value: bigint;
  /** One line naming rule, field, value and what was required. */
  readonly message: string;
  /** controls → 7, host-state → 8, guest-state → 0x80000021. */
  readonly error: number;
  /** Exit qualification for guest-state failures: 0 default, 2 PDPTE, 4 VMCS link pointer. */
  readonly qualification: number;
}

// ---------------------------------------------------------------------------------------
// The rules
// ---------------------------------------------------------------------------------------

const C = "controls";
const H = "host-state";
const G = "guest-state";

/** Every rule in the order the checks run. */
const RULES = [
  // 27.2.1.1 VM-execution control fields
  {
    rule: "pin-based-allowed-settings",
    stage: C,
    sdm: "27.2.1.1",
    description:
      "PIN_BASED_VM_EXEC_CONTROL sets every allowed-0 bit and no bit outside the allowed-1 bits of IA32_VMX_(TRUE_)PINBASED_CTLS.",
  },
  {
    rule: "primary-proc-based-allowed-settings",
    stage: C,
    sdm: "27.2.1.1",
    description:
      "CPU_BASED_VM_EXEC_CONTROL respects IA32_VMX_(TRUE_)PROCBASED_CTLS; this part rejects TPR shadow, monitor trap flag and tertiary controls here.",
  },
  {
    rule: "secondary-proc-based-allowed-settings",
    stage: C,
    sdm: "27.2.1.1",
    description:
      "With 'activate secondary controls', SECONDARY_VM_EXEC_CONTROL respects IA32_VMX_PROCBASED_CTLS2 (here: EPT, RDTSCP, VPID, WBINVD exiting, unrestricted guest).",
  },
  {
    rule: "tertiary-proc-based-allowed-settings",
    stage: C,
    sdm: "27.2.1.1",
    description:
      "With 'activate tertiary controls', TERTIARY_VM_EXEC_CONTROL sets only bits IA32_VMX_PROCBASED_CTLS3 allows (this part has no such MSR, so primary-proc-based-allowed-settings fires first).",
  },
  {
    rule: "cr3-target-count",
    stage: C,
    sdm: "27.2.1.1",
    description: "CR3_TARGET_COUNT is at most IA32_VMX_MISC[24:16] (4).",
  },
  {
    rule: "io-bitmap-address",
    stage: C,
    sdm: "27.2.1.1",
    description:
      "With 'use I/O bitmaps', IO_BITMAP_A and IO_BITMAP_B are 4 KiB aligned and within the physical-address width.",
  },
  {
    rule: "msr-bitmap-address",
    stage: C,
    sdm: "27.2.1.1",
    description:
      "With 'use MSR bitmaps', MSR_BITMAP is 4 KiB aligned and within the physical-address width.",
  },
  {
    rule: "virtual-apic-page-address",
    stage: C,
    sdm: "27.2.1.1",
    description:
      "With 'use TPR shadow', VIRTUAL_APIC_PAGE_ADDR is 4 KiB aligned and within the physical-address width (this part cannot enable the TPR shadow).",
  },
  {
    rule: "tpr-threshold-reserved-bits",
    stage: C,
    sdm: "27.2.1.1",
    description:
      "With 'use TPR shadow' and no virtual-interrupt delivery, TPR_THRESHOLD bits 31:4 are 0. The threshold ≤ VTPR[7:4] check needs the virtual-APIC page and is not made.",
  },
  {
    rule: "apic-virtualization-requires-tpr-shadow",
    stage: C,
    sdm: "27.2.1.1",
    description:
      "Without 'use TPR shadow', 'virtualize x2APIC mode', 'APIC-register virtualization' and 'virtual-interrupt delivery' are 0 (none can be enabled on this part).",
  },
  {
    rule: "x2apic-excludes-apic-accesses",
    stage: C,
    sdm: "27.2.1.1",
    description: "'virtualize x2APIC mode' and 'virtualize APIC accesses' are not both 1.",
  },
  {
    rule: "virtual-interrupt-delivery-requires-ext-int-exiting",
    stage: C,
    sdm: "27.2.1.1",
    description: "'virtual-interrupt delivery' requires 'external-interrupt exiting'.",
  },
  {
    rule: "posted-interrupts-requirements",
    stage: C,
    sdm: "27.2.1.1",
    description:
      "'process posted interrupts' requires 'virtual-interrupt delivery' and 'acknowledge interrupt on exit' (this part cannot enable posted interrupts).",
  },
  {
    rule: "posted-interrupt-notification-vector",
    stage: C,
    sdm: "27.2.1.1",
    description: "With posted interrupts, POSTED_INTR_NV bits 15:8 are 0.",
  },
  {
    rule: "posted-interrupt-descriptor-address",
    stage: C,
    sdm: "27.2.1.1",
    description:
      "With posted interrupts, POSTED_INTR_DESC_ADDR is 64-byte aligned and within the physical-address width.",
  },
  {
    rule: "nmi-exiting-virtual-nmis",
    stage: C,
    sdm: "27.2.1.1",
    description: "'virtual NMIs' requires 'NMI exiting'.",
  },
  {
    rule: "virtual-nmis-nmi-window",
    stage: C,
    sdm: "27.2.1.1",
    description: "'NMI-window exiting' requires 'virtual NMIs'.",
  },
  {
    rule: "apic-access-address",
    stage: C,
    sdm: "27.2.1.1",
    description:
      "With 'virtualize APIC accesses', APIC_ACCESS_ADDR is 4 KiB aligned and within the physical-address width.",
  },
  {
    rule: "vpid-nonzero",
    stage: C,
    sdm: "27.2.1.1",
    description: "With 'enable VPID', VIRTUAL_PROCESSOR_ID is not 0 (VPID 0 is the host's).",
  },
  {
    rule: "eptp-memory-type",
    stage: C,
    sdm: "27.2.1.1",
    description:
      "With 'enable EPT', EPT_POINTER bits 2:0 are UC (0) or WB (6), each only if IA32_VMX_EPT_VPID_CAP bit 8 / 14 reports it.",
  },
  {
    rule: "eptp-walk-length",
    stage: C,
    sdm: "27.2.1.1",
    description:
      "With 'enable EPT', EPT_POINTER bits 5:3 are 3 (4-level, cap bit 6) or 4 (5-level, cap bit 7); this part has 4-level only.",
  },
  {
    rule: "eptp-accessed-dirty",
    stage: C,
    sdm: "27.2.1.1",
    description:
      "With 'enable EPT', EPT_POINTER bit 6 (A/D flags) is 0 unless IA32_VMX_EPT_VPID_CAP bit 21 is set (it is not on this part).",
  },
  {
    rule: "eptp-reserved-bits",
    stage: C,
    sdm: "27.2.1.1",
    description:
      "With 'enable EPT', EPT_POINTER bits 11:7 and bits at or above MAXPHYADDR are 0 (bit 7, supervisor shadow stacks, needs CET).",
  },
  {
    rule: "pml-requires-ept",
    stage: C,
    sdm: "27.2.1.1",
    description: "'enable PML' requires 'enable EPT' (this part cannot enable PML).",
  },
  {
    rule: "pml-address",
    stage: C,
    sdm: "27.2.1.1",
    description:
      "With 'enable PML', PML_ADDRESS is 4 KiB aligned and within the physical-address width.",
  },
  {
    rule: "unrestricted-guest-requires-ept",
    stage: C,
    sdm: "27.2.1.1",
    description: "'unrestricted guest' requires 'enable EPT'.",
  },
  {
    rule: "mode-based-execute-requires-ept",
    stage: C,
    sdm: "27.2.1.1",
    description:
      "'mode-based execute control for EPT' requires 'enable EPT' (this part cannot enable it).",
  },
  // 27.2.1.2 VM-exit control fields
  {
    rule: "exit-controls-allowed-settings",
    stage: C,
    sdm: "27.2.1.2",
    description: "VM_EXIT_CONTROLS respects IA32_VMX_(TRUE_)EXIT_CTLS.",
  },
  {
    rule: "preemption-timer-save-requires-activate",
    stage: C,
    sdm: "27.2.1.2",
    description:
      "'save VMX-preemption timer value' (exit bit 22) requires 'activate VMX-preemption timer' (pin bit 6).",
  },
  {
    rule: "exit-msr-store-address",
    stage: C,
    sdm: "27.2.1.2",
    description:
      "With VM_EXIT_MSR_STORE_COUNT > 0, VM_EXIT_MSR_STORE_ADDR is 16-byte aligned and the list's last byte is within the physical-address width.",
  },
  {
    rule: "exit-msr-load-address",
    stage: C,
    sdm: "27.2.1.2",
    description:
      "With VM_EXIT_MSR_LOAD_COUNT > 0, VM_EXIT_MSR_LOAD_ADDR is 16-byte aligned and the list's last byte is within the physical-address width.",
  },
  // 27.2.1.3 VM-entry control fields
  {
    rule: "entry-controls-allowed-settings",
    stage: C,
    sdm: "27.2.1.3",
    description: "VM_ENTRY_CONTROLS respects IA32_VMX_(TRUE_)ENTRY_CTLS.",
  },
  {
    rule: "event-injection-type",
    stage: C,
    sdm: "27.2.1.3",
    description:
      "A valid VM_ENTRY_INTR_INFO_FIELD has a type other than 1 (reserved), and type 7 (other event) only if 'monitor trap flag' is supported (it is not on this part).",
  },
  {
    rule: "event-injection-vector",
    stage: C,
    sdm: "27.2.1.3",
    description:
      "The injected vector fits the type: NMI ⇒ 2, hardware exception ⇒ ≤ 31, other event ⇒ 0.",
  },
  {
    rule: "event-injection-error-code-bit",
    stage: C,
    sdm: "27.2.1.3",
    description:
      "'deliver error code' is set exactly for hardware exceptions 8, 10–14, 17, 21 in protected mode (guest CR0.PE = 1 or no unrestricted guest); with IA32_VMX_BASIC[56] it need only be 0 outside hardware exceptions / real mode.",
  },
  {
    rule: "event-injection-reserved-bits",
    stage: C,
    sdm: "27.2.1.3",
    description: "VM_ENTRY_INTR_INFO_FIELD bits 30:12 are 0.",
  },
  {
    rule: "event-injection-error-code-reserved-bits",
    stage: C,
    sdm: "27.2.1.3",
    description: "When an error code is delivered, VM_ENTRY_EXCEPTION_ERROR_CODE bits 31:16 are 0.",
  },
  {
    rule: "event-injection-instruction-length",
    stage: C,
    sdm: "27.2.1.3",
    description:
      "For software interrupts and (privileged) software exceptions, VM_ENTRY_INSTRUCTION_LEN is 1–15 (0 only if IA32_VMX_MISC[30]).",
  },
  {
    rule: "entry-msr-load-address",
    stage: C,
    sdm: "27.2.1.3",
    description:
      "With VM_ENTRY_MSR_LOAD_COUNT > 0, VM_ENTRY_MSR_LOAD_ADDR is 16-byte aligned and the list's last byte is within the physical-address width.",
  },
  {
    rule: "entry-smm-outside-smm",
    stage: C,
    sdm: "27.2.1.3",
    description:
      "Outside SMM (always, on this part) 'entry to SMM' and 'deactivate dual-monitor treatment' are 0; the allowed-settings rule catches them first here.",
  },
  // 27.2.2 Host control registers and MSRs
  {
    rule: "host-cr0-fixed-bits",
    stage: H,
    sdm: "27.2.2",
    description:
      "HOST_CR0 has every IA32_VMX_CR0_FIXED0 bit and no bit outside IA32_VMX_CR0_FIXED1 (CD and NW are not checked).",
  },
  {
    rule: "host-cr4-fixed-bits",
    stage: H,
    sdm: "27.2.2",
    description:
      "HOST_CR4 has every IA32_VMX_CR4_FIXED0 bit and no bit outside IA32_VMX_CR4_FIXED1.",
  },
  {
    rule: "host-cr3-width",
    stage: H,
    sdm: "27.2.2",
    description: "HOST_CR3 sets no bit at or above MAXPHYADDR.",
  },
  {
    rule: "host-sysenter-canonical",
    stage: H,
    sdm: "27.2.2",
    description: "HOST_IA32_SYSENTER_ESP and HOST_IA32_SYSENTER_EIP are canonical.",
  },
  {
    rule: "host-pat-valid",
    stage: H,
    sdm: "27.2.2",
    description: "With 'load IA32_PAT' on exit, each byte of HOST_IA32_PAT is 0, 1, 4, 5, 6 or 7.",
  },
  {
    rule: "host-efer-reserved-bits",
    stage: H,
    sdm: "27.2.2",
    description: "With 'load IA32_EFER' on exit, HOST_IA32_EFER sets only SCE, LME, LMA and NXE.",
  },
  {
    rule: "host-efer-lma-lme",
    stage: H,
    sdm: "27.2.2",
    description:
      "With 'load IA32_EFER' on exit, HOST_IA32_EFER.LMA and .LME each equal 'host address-space size'.",
  },
  // 27.2.3 Host segment and descriptor-table registers
  {
    rule: "host-selector-rpl-ti",
    stage: H,
    sdm: "27.2.3",
    description: "HOST_ES/CS/SS/DS/FS/GS/TR_SELECTOR have RPL = 0 and TI = 0.",
  },
  {
    rule: "host-cs-nonzero",
    stage: H,
    sdm: "27.2.3",
    description: "HOST_CS_SELECTOR is not 0.",
  },
  {
    rule: "host-tr-nonzero",
    stage: H,
    sdm: "27.2.3",
    description: "HOST_TR_SELECTOR is not 0.",
  },
  {
    rule: "host-ss-nonzero",
    stage: H,
    sdm: "27.2.3",
    description: "HOST_SS_SELECTOR is not 0 unless 'host address-space size' is 1.",
  },
  {
    rule: "host-base-canonical",
    stage: H,
    sdm: "27.2.3",
    description:
      "HOST_FS_BASE, HOST_GS_BASE, HOST_GDTR_BASE, HOST_IDTR_BASE and HOST_TR_BASE are canonical.",
  },
  // 27.2.4 Address-space size
  {
    rule: "host-address-space-size",
    stage: H,
    sdm: "27.2.4",
    description:
      "'host address-space size' (exit bit 9) is 1 exactly when the processor executing the entry is in IA-32e mode.",
  },
  {
    rule: "host-32bit-ia32e-guest",
    stage: H,
    sdm: "27.2.4",
    description: "With 'host address-space size' = 0, 'IA-32e mode guest' is 0.",
  },
  {
    rule: "host-32bit-cr4-pcide",
    stage: H,
    sdm: "27.2.4",
    description: "With 'host address-space size' = 0, HOST_CR4.PCIDE is 0.",
  },
  {
    rule: "host-32bit-rip-width",
    stage: H,
    sdm: "27.2.4",
    description: "With 'host address-space size' = 0, HOST_RIP bits 63:32 are 0.",
  },
  {
    rule: "host-64bit-cr4-pae",
    stage: H,
    sdm: "27.2.4",
    description: "With 'host address-space size' = 1, HOST_CR4.PAE is 1.",
  },
  {
    rule: "host-64bit-rip-canonical",
    stage: H,
    sdm: "27.2.4",
    description: "With 'host address-space size' = 1, HOST_RIP is canonical.",
  },
  // 27.3.1.1 Guest control registers, debug registers and MSRs
  {
    rule: "guest-cr0-fixed-bits",
    stage: G,
    sdm: "27.3.1.1",
    description:
      "GUEST_CR0 has every IA32_VMX_CR0_FIXED0 bit and no bit outside IA32_VMX_CR0_FIXED1; CD/NW are never checked, PE/PG not with unrestricted guest.",
  },
  {
    rule: "guest-cr0-pg-requires-pe",
    stage: G,
    sdm: "27.3.1.1",
    description: "GUEST_CR0.PG = 1 requires GUEST_CR0.PE = 1.",
  },
  {
    rule: "guest-cr4-fixed-bits",
    stage: G,
    sdm: "27.3.1.1",
    description:
      "GUEST_CR4 has every IA32_VMX_CR4_FIXED0 bit and no bit outside IA32_VMX_CR4_FIXED1.",
  },
  {
    rule: "guest-debugctl-reserved-bits",
    stage: G,
    sdm: "27.3.1.1",
    description:
      "With 'load debug controls', GUEST_IA32_DEBUGCTL sets only bits 0, 1 and 6–14 (the Sandy Bridge layout; the x86 core has no IA32_DEBUGCTL of its own).",
  },
  {
    rule: "guest-ia32e-cr0-pg",
    stage: G,
    sdm: "27.3.1.1",
    description: "'IA-32e mode guest' requires GUEST_CR0.PG = 1.",
  },
  {
    rule: "guest-ia32e-cr4-pae",
    stage: G,
    sdm: "27.3.1.1",
    description: "'IA-32e mode guest' requires GUEST_CR4.PAE = 1.",
  },
  {
    rule: "guest-cr4-pcide-ia32e",
    stage: G,
    sdm: "27.3.1.1",
    description: "Without 'IA-32e mode guest', GUEST_CR4.PCIDE is 0.",
  },
  {
    rule: "guest-cr3-width",
    stage: G,
    sdm: "27.3.1.1",
    description: "GUEST_CR3 sets no bit at or above MAXPHYADDR.",
  },
  {
    rule: "guest-dr7-upper-bits",
    stage: G,
    sdm: "27.3.1.1",
    description: "With 'load debug controls', GUEST_DR7 bits 63:32 are 0.",
  },
  {
    rule: "guest-sysenter-canonical",
    stage: G,
    sdm: "27.3.1.1",
    description: "GUEST_SYSENTER_ESP and GUEST_SYSENTER_EIP are canonical.",
  },
  {
    rule: "guest-pat-valid",
    stage: G,
    sdm: "27.3.1.1",
    description: "With 'load IA32_PAT', each byte of GUEST_IA32_PAT is 0, 1, 4, 5, 6 or 7.",
  },
  {
    rule: "guest-efer-reserved-bits",
    stage: G,
    sdm: "27.3.1.1",
    description: "With 'load IA32_EFER', GUEST_IA32_EFER sets only SCE, LME, LMA and NXE.",
  },
  {
    rule: "guest-efer-lma",
    stage: G,
    sdm: "27.3.1.1",
    description: "With 'load IA32_EFER', GUEST_IA32_EFER.LMA equals 'IA-32e mode guest'.",
  },
  {
    rule: "guest-efer-lme",
    stage: G,
    sdm: "27.3.1.1",
    description: "With 'load IA32_EFER' and GUEST_CR0.PG = 1, GUEST_IA32_EFER.LME equals LMA.",
  },
  // 27.3.1.2 Guest segment registers
  {
    rule: "guest-tr-ti",
    stage: G,
    sdm: "27.3.1.2",
    description: "GUEST_TR_SELECTOR has TI = 0.",
  },
  {
    rule: "guest-ldtr-ti",
    stage: G,
    sdm: "27.3.1.2",
    description: "A usable LDTR has TI = 0 in GUEST_LDTR_SELECTOR.",
  },
  {
    rule: "guest-ss-rpl",
    stage: G,
    sdm: "27.3.1.2",
    description: "Outside virtual-8086 mode and without unrestricted guest, SS.RPL equals CS.RPL.",
  },
  {
    rule: "guest-v8086-segment-base",
    stage: G,
    sdm: "27.3.1.2",
    description: "In virtual-8086 mode, each CS/SS/DS/ES/FS/GS base is its selector × 16.",
  },
  {
    rule: "guest-segment-base-canonical",
    stage: G,
    sdm: "27.3.1.2",
    description: "The TR, FS and GS bases (and a usable LDTR's) are canonical.",
  },
  {
    rule: "guest-segment-base-upper-bits",
    stage: G,
    sdm: "27.3.1.2",
    description: "Bits 63:32 of the CS base, and of usable SS/DS/ES bases, are 0.",
  },
  {
    rule: "guest-v8086-segment-limit",
    stage: G,
    sdm: "27.3.1.2",
    description: "In virtual-8086 mode, each CS/SS/DS/ES/FS/GS limit is 0xFFFF.",
  },
  {
    rule: "guest-v8086-segment-ar",
    stage: G,
    sdm: "27.3.1.2",
    description: "In virtual-8086 mode, each CS/SS/DS/ES/FS/GS access-rights field is 0xF3.",
  },
  {
    rule: "guest-cs-type",
    stage: G,
    sdm: "27.3.1.2",
    description:
      "CS type is 9, 11, 13 or 15 (accessed code); with unrestricted guest also 3 (accessed read/write data).",
  },
  {
    rule: "guest-ss-type",
    stage: G,
    sdm: "27.3.1.2",
    description: "A usable SS has type 3 or 7 (accessed read/write data).",
  },
  {
    rule: "guest-data-segment-type",
    stage: G,
    sdm: "27.3.1.2",
    description: "A usable DS/ES/FS/GS is accessed, and readable if it is a code segment.",
  },
  {
    rule: "guest-segment-s",
    stage: G,
    sdm: "27.3.1.2",
    description: "S = 1 for CS and usable SS/DS/ES/FS/GS; S = 0 for TR and a usable LDTR.",
  },
  {
    rule: "guest-cs-dpl",
    stage: G,
    sdm: "27.3.1.2",
    description:
      "CS.DPL: 0 for type 3; = SS.DPL for non-conforming code (9, 11); ≤ SS.DPL for conforming code (13, 15).",
  },
  {
    rule: "guest-ss-dpl",
    stage: G,
    sdm: "27.3.1.2",
    description:
      "SS.DPL = SS.RPL without unrestricted guest; SS.DPL = 0 when CS has type 3 or GUEST_CR0.PE = 0 (so an unrestricted real-mode guest needs SS.DPL 0).",
  },
  {
    rule: "guest-data-segment-dpl",
    stage: G,
    sdm: "27.3.1.2",
    description:
      "Without unrestricted guest, a usable DS/ES/FS/GS of type 0–11 has DPL ≥ its selector's RPL.",
  },
  {
    rule: "guest-segment-present",
    stage: G,
    sdm: "27.3.1.2",
    description: "P = 1 for CS, TR and every usable SS/DS/ES/FS/GS/LDTR.",
  },
  {
    rule: "guest-segment-ar-reserved-bits",
    stage: G,
    sdm: "27.3.1.2",
    description:
      "Access-rights bits 11:8 and 31:17 are 0 for CS, TR and every usable SS/DS/ES/FS/GS/LDTR.",
  },
  {
    rule: "guest-cs-l-db",
    stage: G,
    sdm: "27.3.1.2",
    description: "For an IA-32e mode guest, CS.L = 1 requires CS.D/B = 0.",
  },
  {
    rule: "guest-segment-limit-granularity",
    stage: G,
    sdm: "27.3.1.2",
    description:
      "For CS, TR and usable segments: limit[11:0] ≠ 0xFFF requires G = 0, limit[31:20] ≠ 0 requires G = 1.",
  },
  {
    rule: "guest-tr-type",
    stage: G,
    sdm: "27.3.1.2",
    description: "TR is a busy TSS: type 11, or 3 (16-bit) when the guest is not IA-32e mode.",
  },
  {
    rule: "guest-tr-usable",
    stage: G,
    sdm: "27.3.1.2",
    description: "TR is usable (GUEST_TR_AR_BYTES bit 16 is 0).",
  },
  {
    rule: "guest-ldtr-type",
    stage: G,
    sdm: "27.3.1.2",
    description: "A usable LDTR has type 2 (LDT).",
  },
  // 27.3.1.3 Guest descriptor-table registers
  {
    rule: "guest-descriptor-table-base-canonical",
    stage: G,
    sdm: "27.3.1.3",
    description: "GUEST_GDTR_BASE and GUEST_IDTR_BASE are canonical.",
  },
  {
    rule: "guest-descriptor-table-limit",
    stage: G,
    sdm: "27.3.1.3",
    description: "GUEST_GDTR_LIMIT and GUEST_IDTR_LIMIT are at most 0xFFFF.",
  },
  // 27.3.1.4 Guest RIP and RFLAGS
  {
    rule: "guest-rip-upper-bits",
    stage: G,
    sdm: "27.3.1.4",
    description: "GUEST_RIP bits 63:32 are 0 unless the guest is IA-32e mode with CS.L = 1.",
  },
  {
    rule: "guest-rip-canonical",
    stage: G,
    sdm: "27.3.1.4",
    description: "In 64-bit mode (IA-32e mode guest, CS.L = 1), GUEST_RIP is canonical.",
  },
  {
    rule: "guest-rflags-reserved-bits",
    stage: G,
    sdm: "27.3.1.4",
    description: "GUEST_RFLAGS bits 63:22, 15, 5 and 3 are 0 and bit 1 is 1.",
  },
  {
    rule: "guest-rflags-vm",
    stage: G,
    sdm: "27.3.1.4",
    description: "RFLAGS.VM is 0 for an IA-32e mode guest and when GUEST_CR0.PE = 0.",
  },
  {
    rule: "guest-rflags-if-ext-int",
    stage: G,
    sdm: "27.3.1.4",
    description: "RFLAGS.IF is 1 when an external interrupt is injected.",
  },
  // 27.3.1.5 Guest non-register state
  {
    rule: "guest-activity-state-range",
    stage: G,
    sdm: "27.3.1.5",
    description: "GUEST_ACTIVITY_STATE is 0–3.",
  },
  {
    rule: "guest-activity-state-supported",
    stage: G,
    sdm: "27.3.1.5",
    description:
      "A non-active GUEST_ACTIVITY_STATE is one IA32_VMX_MISC[8:6] reports (this part reports HLT, shutdown and wait-for-SIPI).",
  },
  {
    rule: "guest-activity-hlt-ss-dpl",
    stage: G,
    sdm: "27.3.1.5",
    description: "The HLT activity state requires SS.DPL = 0.",
  },
  {
    rule: "guest-activity-blocking",
    stage: G,
    sdm: "27.3.1.5",
    description: "Blocking by STI or MOV SS requires the active state.",
  },
  {
    rule: "guest-activity-event-injection",
    stage: G,
    sdm: "27.3.1.5",
    description:
      "An injected event is one the activity state accepts: HLT takes external interrupts, NMIs, #DB, #MC and MTF; shutdown NMIs and #MC; wait-for-SIPI nothing.",
  },
  {
    rule: "guest-interruptibility-reserved-bits",
    stage: G,
    sdm: "27.3.1.5",
    description:
      "GUEST_INTERRUPTIBILITY_INFO bits 31:5 are 0; bit 4 (enclave interruption) too, as this part has no SGX.",
  },
  {
    rule: "guest-interruptibility-sti-movss",
    stage: G,
    sdm: "27.3.1.5",
    description: "Blocking by STI and by MOV SS are not both set.",
  },
  {
    rule: "guest-interruptibility-sti-if",
    stage: G,
    sdm: "27.3.1.5",
    description: "Blocking by STI requires RFLAGS.IF = 1.",
  },
  {
    rule: "guest-interruptibility-ext-int",
    stage: G,
    sdm: "27.3.1.5",
    description: "Injecting an external interrupt requires no blocking by STI or MOV SS.",
  },
  {
    rule: "guest-interruptibility-nmi-movss",
    stage: G,
    sdm: "27.3.1.5",
    description:
      "Injecting an NMI requires no blocking by MOV SS (the optional STI-blocking check, qualification 3, is not made).",
  },
  {
    rule: "guest-interruptibility-smi",
    stage: G,
    sdm: "27.3.1.5",
    description: "Blocking by SMI is 0 outside SMM (always, on this part).",
  },
  {
    rule: "guest-interruptibility-virtual-nmi",
    stage: G,
    sdm: "27.3.1.5",
    description: "With 'virtual NMIs', injecting an NMI requires blocking by NMI = 0.",
  },
  {
    rule: "guest-pending-dbg-reserved-bits",
    stage: G,
    sdm: "27.3.1.5",
    description:
      "GUEST_PENDING_DBG_EXCEPTIONS bits 11:4, 13, 15 and 63:17 are 0; bit 16 (RTM) too, as this part has no RTM.",
  },
  {
    rule: "guest-pending-dbg-bs",
    stage: G,
    sdm: "27.3.1.5",
    description:
      "With STI/MOV-SS blocking or HLT, pending BS = 1 exactly when RFLAGS.TF = 1 and IA32_DEBUGCTL.BTF = 0.",
  },
  {
    rule: "guest-vmcs-link-pointer",
    stage: G,
    sdm: "27.3.1.5",
    description:
      "VMCS_LINK_POINTER is FFFFFFFF_FFFFFFFF (qualification 4). The SDM also accepts a 4 KiB-aligned in-range pointer to a region with this part's revision id and bit 31 clear; that needs memory these checks do not read, so any other value fails.",
  },
  // 27.3.1.6 Guest PDPTEs
  {
    rule: "guest-pdpte-reserved-bits",
    stage: G,
    sdm: "27.3.1.6",
    description:
      "PAE paging (CR0.PG, CR4.PAE, not IA-32e) without EPT: each present PDPTE at GUEST_CR3 has bits 2:1, 8:5 and MAXPHYADDR and up clear (qualification 2; skipped without a PDPTE reader).",
  },
  {
    rule: "guest-pdpte-fields-reserved-bits",
    stage: G,
    sdm: "27.3.1.6",
    description:
      "PAE paging with EPT: each present GUEST_PDPTRn has bits 2:1, 8:5 and MAXPHYADDR and up clear (qualification 2).",
  },
] as const satisfies readonly {
  readonly rule: string;
  readonly stage: VmEntryStage;
  readonly sdm: string;
  readonly description: string;
}[];

type RuleId = (typeof RULES)[number]["rule"];

/** Every rule with its stage, SDM section and a one-line description (for docs, the CLI, the playground). */
export const VM_ENTRY_RULES: readonly {
  readonly rule: string;
  readonly stage: VmEntryStage;
  readonly sdm: string;
  readonly description: string;
}[] = RULES;

const RULE_BY_ID: ReadonlyMap<string, (typeof RULES)[number]> = new Map(
  RULES.map((r) => [r.rule, r]),
);

/** The outcome of a failure at each stage: VM-instruction error 7 / 8, or the exit reason. */
const STAGE_ERROR: Readonly<Record<VmEntryStage, number>> = {
  controls: VMXERR_ENTRY_INVALID_CONTROL_FIELD,
  "host-state": VMXERR_ENTRY_INVALID_HOST_STATE_FIELD,
  "guest-state": (EXIT_REASON_INVALID_STATE | VMX_EXIT_REASONS_FAILED_VMENTRY) >>> 0,
};

/**
 * The MSR-value checks host and guest state share (SDM 27.2.2, 27.3.1.1): SYSENTER_ESP/EIP
 * canonical; a loaded PAT holds memory types only; a loaded EFER has no reserved bits.
 */
function checkMsrValues(
  vmcs: VmcsReader,
  sysenter: readonly [RuleId, number, number],
  pat: readonly [RuleId, number] | null,
  efer: readonly [RuleId, number] | null,
): VmEntryFailure | null {
  const [sysRule, ...sysFields] = sysenter;
  for (const enc of sysFields) {
    const v = vmcs.read(enc);
    if (!canonical(v)) return fail(sysRule, name(enc), v, "is not canonical");
  }
  if (pat) {
    const v = vmcs.read(pat[1]);
    const i = badPatByte(v);
    if (i >= 0) {
      const byte = hex((v >> BigInt(8 * i)) & 0xffn);
      return fail(
        pat[0],
        name(pat[1]),
        v,
        `has byte ${i} = ${byte}, not a memory type (0, 1, 4, 5, 6, 7)`,
      );
    }
  }
  if (efer) {
    const v = vmcs.read(efer[1]);
    const reserved = v & ~EFER_DEFINED;
    if (reserved !== 0n)
      return fail(efer[0], name(efer[1]), v, `sets reserved bits ${hex(reserved)}`);
  }
  return null;
}

/**
 * What TR and LDTR share (SDM 27.3.1.2): a system segment (S = 0), present, no reserved
 * access-rights bits, and a limit consistent with G.
 */
function systemSegmentChecks(seg: Segment, label: string): VmEntryFailure | null {
  if (has(seg.arValue, VMX_AR_S_MASK)) {
    return fail("guest-segment-s", name(seg.ar), seg.arValue, `sets S (bit 4) for ${label}`);
  }
  if (!has(seg.arValue, VMX_AR_P_MASK)) {
    return fail(
      "guest-segment-present",
      name(seg.ar),
      seg.arValue,
      `clears P (bit 7) for ${label}`,
    );
  }
  if ((seg.arValue & VMX_AR_RESERVD_MASK) !== 0) {
    const bits = hex((seg.arValue & VMX_AR_RESERVD_MASK) >>> 0);
    const detail = `sets reserved bits ${bits} (11:8, 31:17) for ${label}`;
    return fail("guest-segment-ar-reserved-bits", name(seg.ar), seg.arValue, detail);
  }
  const p = granularityProblem(seg);
  if (p) return fail("guest-segment-limit-granularity", name(seg.limit), seg.limitValue, p);
  return null;
}

function hex(v: bigint | number): string {
  return `0x${(typeof v === "bigint" ? BigInt.asUintN(64, v) : v >>> 0).toString(16)}`;
}

/** A failure whose message reads "<sdm> <rule>: <field> = <value> <detail>". */
function fail(
  rule: RuleId,
  field: string,
  value: bigint | number,
  detail: string,
  qualification = 0,
): VmEntryFailure {
  return failWith(rule, field, value, `${field} = ${hex(value)} ${detail}`, qualification);
}

/** A failure with a message body of the caller's own (it must name the field and value). */
function failWith(
  rule: RuleId,
  field: string,
  value: bigint | number,
  body: string,
  qualification = 0,
): VmEntryFailure {
  const r = RULE_BY_ID.get(rule)!;
  return {
    stage: r.stage,
    rule,
    sdm: r.sdm,
    field,
    value: typeof value === "bigint" ? BigInt.asUintN(64, value) : BigInt(value >>> 0),
    message: `${r.sdm} ${rule}: ${body}`,
    error: STAGE_ERROR[r.stage],
    qualification,
  };
}

// ---------------------------------------------------------------------------------------
// Architectural bits this file needs that asm/vmx.ts does not define (Linux's names from
// processor-flags.h / msr-index.h).
// ---------------------------------------------------------------------------------------

// BigInt forms, for the failure path's messages (the checks themselves use the numbers below).
const X86_CR0_PE = 0x1n;
const X86_CR0_NW = 0x2000_0000n;
const X86_CR0_CD = 0x4000_0000n;
const X86_CR0_PG = 0x8000_0000n;
/** RFLAGS bits that must be 0 in the guest-state field: 63:22, 15, 5, 3. */
const RFLAGS_RESERVED = (~0x3f_ffffn & 0xffff_ffff_ffff_ffffn) | 0x8000n | 0x20n | 0x8n;
const EFER_SCE = 0x1n;
const EFER_LME = 0x100n;
const EFER_LMA = 0x400n;
const EFER_NX = 0x800n;
/** The EFER bits the x86 core implements (proc_ctrl.ts eferSupported, plus LMA). */
const EFER_DEFINED = EFER_SCE | EFER_LME | EFER_LMA | EFER_NX;
/**
 * IA32_DEBUGCTL bits a Sandy Bridge defines: LBR, BTF, TR, BTS, BTINT, BTS_OFF_OS,
 * BTS_OFF_USR, FREEZE_LBRS_ON_PMI, FREEZE_PERFMON_ON_PMI, ENABLE_UNCORE_PMI,
 * FREEZE_WHILE_SMM. Bits 5:2 and 63:15 are reserved.
 */
const DEBUGCTL_DEFINED = 0x7fc3n;
/** Pending-debug-exceptions bits that may be set: B3–B0, enabled breakpoint (12), BS (14). */
const PENDING_DBG_DEFINED = 0x500fn;
/** PAE PDPTE bit 0 (present) and its reserved bits below MAXPHYADDR: 2:1 and 8:5. */
const PDPTE_P = 0x1n;
const PDPTE_RESERVED_LOW = 0x1e6n;

// The same bits as numbers, tested on a field's 32-bit halves.
const CR0_PE_BIT = 0x1;
const CR0_PG_BIT = 0x8000_0000 | 0;
const CR0_CD_NW = 0x6000_0000;
const CR4_PAE_BIT = 0x20;
const CR4_PCIDE_BIT = 0x2_0000;
const EFLAGS_TF_BIT = 0x100;
const EFLAGS_IF_BIT = 0x200;
const EFLAGS_VM_BIT = 0x2_0000;
/** RFLAGS_RESERVED's bits 31:0 (bits 63:32 are all reserved); bit 1 must be 1. */
const RFLAGS_RESERVED_LO = ~0x3f_ffff | 0x8000 | 0x20 | 0x8;
const EFER_LME_BIT = 0x100;
const EFER_LMA_BIT = 0x400;
const EFER_DEFINED_BITS = 0x1 | 0x100 | 0x400 | 0x800;
/** IA32_DEBUGCTL.BTF (single-step on branches). */
const DEBUGCTLMSR_BTF_BIT = 0x2;
const DEBUGCTL_DEFINED_BITS = 0x7fc3;
const PENDING_DBG_DEFINED_BITS = 0x500f;
const PENDING_DBG_BS_BIT = 0x4000;
/** Interruptibility bits that may be set: STI, MOV SS, SMI and NMI blocking. */
const INTR_STATE_DEFINED = 0xf;
/** Linear-address width: CR4.LA57 is outside IA32_VMX_CR4_FIXED1, so 48 bits. */
const LINEAR_ADDRESS_BITS = 48;
/** Exceptions that push an error code: #DF, #TS, #NP, #SS, #GP, #PF, #AC, #CP. */
const ERROR_CODE_VECTORS: ReadonlySet<number> = new Set([8, 10, 11, 12, 13, 14, 17, 21]);
const DB_VECTOR = 1;
const NMI_VECTOR = 2;
const MC_VECTOR = 18;

// Segment types (access-rights bits 3:0) the segment checks name.
const TYPE_DATA_RW_ACCESSED = 3;
const TYPE_DATA_RW_DOWN_ACCESSED = 7;
const TYPE_CODE_ACCESSED = 9;
const TYPE_CODE_READ_ACCESSED = 11;
const TYPE_CODE_CONFORMING_ACCESSED = 13;
const TYPE_CODE_READ_CONFORMING_ACCESSED = 15;
const TYPE_LDT = 2;
const TYPE_BUSY_TSS16 = 3;
const TYPE_BUSY_TSS = 11;

// Capability MSRs (msr-index.h numbers), and their names for messages.
const MSR_IA32_VMX_BASIC = 0x480;
const MSR_IA32_VMX_PINBASED_CTLS = 0x481;
const MSR_IA32_VMX_PROCBASED_CTLS = 0x482;
const MSR_IA32_VMX_EXIT_CTLS = 0x483;
const MSR_IA32_VMX_ENTRY_CTLS = 0x484;
const MSR_IA32_VMX_MISC = 0x485;
const MSR_IA32_VMX_CR0_FIXED0 = 0x486;
const MSR_IA32_VMX_CR0_FIXED1 = 0x487;
const MSR_IA32_VMX_CR4_FIXED0 = 0x488;
const MSR_IA32_VMX_CR4_FIXED1 = 0x489;
const MSR_IA32_VMX_PROCBASED_CTLS2 = 0x48b;
const MSR_IA32_VMX_EPT_VPID_CAP = 0x48c;
const MSR_IA32_VMX_PROCBASED_CTLS3 = 0x492;
/** A TRUE control MSR is its plain one + 0xC (0x481 → 0x48D … 0x484 → 0x490). */
const TRUE_CTLS_OFFSET = 0xc;
const MSR_NAMES: ReadonlyMap<number, string> = new Map([
  [0x481, "IA32_VMX_PINBASED_CTLS"],
  [0x482, "IA32_VMX_PROCBASED_CTLS"],
  [0x483, "IA32_VMX_EXIT_CTLS"],
  [0x484, "IA32_VMX_ENTRY_CTLS"],
  [0x48b, "IA32_VMX_PROCBASED_CTLS2"],
  [0x48d, "IA32_VMX_TRUE_PINBASED_CTLS"],
  [0x48e, "IA32_VMX_TRUE_PROCBASED_CTLS"],
  [0x48f, "IA32_VMX_TRUE_EXIT_CTLS"],
  [0x490, "IA32_VMX_TRUE_ENTRY_CTLS"],
]);

// ---------------------------------------------------------------------------------------
// Reading the VMCS and the capabilities
// ---------------------------------------------------------------------------------------

const name = vmcsFieldName;

function u32(vmcs: VmcsReader, encoding: number): number {
  if (vmcs.read32) return vmcs.read32(encoding) >>> 0;
  return Number(vmcs.read(encoding) & 0xffff_ffffn) >>> 0;
}

// The success path works on the 32-bit halves of 64-bit and natural-width fields as int32
// numbers (no BigInt, no allocation); a check that sees a problem hands the full value to
// the BigInt code below, which decides and builds the message.

/** Bits 31:0 of a field as an int32. */
function lo32(vmcs: VmcsReader, encoding: number): number {
  if (vmcs.read32) return vmcs.read32(encoding) | 0;
  return Number(BigInt.asUintN(32, vmcs.read(encoding))) | 0;
}

/** Bits 63:32 of a 64-bit or natural-width field as an int32. */
function hi32(vmcs: VmcsReader, encoding: number): number {
  if (vmcs.readHigh32) return vmcs.readHigh32(encoding) | 0;
  return Number(BigInt.asUintN(64, vmcs.read(encoding)) >> 32n) | 0;
}

/** A 64-bit value given by its halves sets a bit at or above bit `width`. */
function beyondWidth(l: number, h: number, width: number): boolean {
  if (width >= 64) return false;
  if (width >= 32) return h >>> (width - 32) !== 0;
  return h !== 0 || l >>> width !== 0;
}

/** Canonical for 48-bit linear addresses: bits 63:47 all equal (only the high half matters). */
function canonicalHi(h: number): boolean {
  return (h << 16) >> 16 === h;
}

/** Every byte of a PAT value (given by its halves) is a memory type: 0, 1, 4, 5, 6 or 7. */
function patOk(l: number, h: number): boolean {
  for (let i = 0; i < 32; i += 8) {
    const a = (l >>> i) & 0xff;
    const b = (h >>> i) & 0xff;
    if (a === 2 || a === 3 || a > 7 || b === 2 || b === 3 || b > 7) return false;
  }
  return true;
}

/** A CR value (halves) has every FIXED0 bit and none outside FIXED1, `exempt` (bits 31:0) aside. */
function fixedBitsOk(l: number, h: number, k: CapWords, cr: 0 | 4, exempt: number): boolean {
  const f0l = cr === 0 ? k.cr0Fixed0Lo : k.cr4Fixed0Lo;
  const f0h = cr === 0 ? k.cr0Fixed0Hi : k.cr4Fixed0Hi;
  const f1l = cr === 0 ? k.cr0Fixed1Lo : k.cr4Fixed1Lo;
  const f1h = cr === 0 ? k.cr0Fixed1Hi : k.cr4Fixed1Hi;
  const missing = (f0l & ~l & ~exempt) | (f0h & ~h);
  const extra = (l & ~f1l & ~exempt) | (h & ~f1h);
  return (missing | extra) === 0;
}

/** The allowed-0/allowed-1 rule on the halves of a control MSR (vmxControlAllowed's numbers). */
function controlAllowed(must1: number, may1: number, value: number): boolean {
  return (value & must1) >>> 0 === must1 && (value & ~may1) >>> 0 === 0;
}

/** The capability MSRs VM entry consults, as 32-bit halves (the TRUE controls chosen once). */
interface CapWords {
  readonly basicHi: number;
  readonly pinMust1: number;
  readonly pinMay1: number;
  readonly procMust1: number;
  readonly procMay1: number;
  readonly proc2Must1: number;
  readonly proc2May1: number;
  readonly exitMust1: number;
  readonly exitMay1: number;
  readonly entryMust1: number;
  readonly entryMay1: number;
  readonly miscLo: number;
  readonly eptCapLo: number;
  readonly cr0Fixed0Lo: number;
  readonly cr0Fixed0Hi: number;
  readonly cr0Fixed1Lo: number;
  readonly cr0Fixed1Hi: number;
  readonly cr4Fixed0Lo: number;
  readonly cr4Fixed0Hi: number;
  readonly cr4Fixed1Lo: number;
  readonly cr4Fixed1Hi: number;
}

/**
 * Decoded once per capability table (a VmxCapabilities' `msrs` is read-only): the values
 * are the same MSRs `msr()` reads, split into halves so no entry does a Map or BigInt
 * operation to consult them.
 */
const CAP_WORDS = new WeakMap<ReadonlyMap<number, bigint>, CapWords>();

function capWords(ctx: VmEntryContext): CapWords {
  const msrs = ctx.caps.msrs;
  let k = CAP_WORDS.get(msrs);
  if (k) return k;
  const l = (index: number) => Number(BigInt.asUintN(32, msr(ctx, index))) >>> 0;
  const h = (index: number) => Number(BigInt.asUintN(64, msr(ctx, index)) >> 32n) >>> 0;
  const ctl = (plain: number) => controlMsr(ctx, plain).cap;
  const must1 = (plain: number) => Number(BigInt.asUintN(32, ctl(plain))) >>> 0;
  const may1 = (plain: number) => Number(BigInt.asUintN(64, ctl(plain)) >> 32n) >>> 0;
  k = {
    basicHi: h(MSR_IA32_VMX_BASIC),
    pinMust1: must1(MSR_IA32_VMX_PINBASED_CTLS),
    pinMay1: may1(MSR_IA32_VMX_PINBASED_CTLS),
    procMust1: must1(MSR_IA32_VMX_PROCBASED_CTLS),
    procMay1: may1(MSR_IA32_VMX_PROCBASED_CTLS),
    proc2Must1: l(MSR_IA32_VMX_PROCBASED_CTLS2),
    proc2May1: h(MSR_IA32_VMX_PROCBASED_CTLS2),
    exitMust1: must1(MSR_IA32_VMX_EXIT_CTLS),
    exitMay1: may1(MSR_IA32_VMX_EXIT_CTLS),
    entryMust1: must1(MSR_IA32_VMX_ENTRY_CTLS),
    entryMay1: may1(MSR_IA32_VMX_ENTRY_CTLS),
    miscLo: l(MSR_IA32_VMX_MISC),
    eptCapLo: l(MSR_IA32_VMX_EPT_VPID_CAP),
    cr0Fixed0Lo: l(MSR_IA32_VMX_CR0_FIXED0) | 0,
    cr0Fixed0Hi: h(MSR_IA32_VMX_CR0_FIXED0) | 0,
    cr0Fixed1Lo: l(MSR_IA32_VMX_CR0_FIXED1) | 0,
    cr0Fixed1Hi: h(MSR_IA32_VMX_CR0_FIXED1) | 0,
    cr4Fixed0Lo: l(MSR_IA32_VMX_CR4_FIXED0) | 0,
    cr4Fixed0Hi: h(MSR_IA32_VMX_CR4_FIXED0) | 0,
    cr4Fixed1Lo: l(MSR_IA32_VMX_CR4_FIXED1) | 0,
    cr4Fixed1Hi: h(MSR_IA32_VMX_CR4_FIXED1) | 0,
  };
  CAP_WORDS.set(msrs, k);
  return k;
}

/** vmxAddressWidth from the decoded IA32_VMX_BASIC (bit 48 = bit 16 of the high half). */
function vmxAddressWidthOf(k: CapWords, ctx: VmEntryContext): number {
  return (k.basicHi & (1 << 16)) !== 0 ? Math.min(32, ctx.physAddrBits) : ctx.physAddrBits;
}

function msr(ctx: VmEntryContext, index: number): bigint {
  return ctx.caps.msrs.get(index) ?? 0n;
}

/** The control MSR VM entry consults: the TRUE one when IA32_VMX_BASIC[55] = 1. */
function controlMsr(ctx: VmEntryContext, plain: number): { cap: bigint; msrName: string } {
  const index =
    (msr(ctx, MSR_IA32_VMX_BASIC) & VMX_BASIC_TRUE_CTLS) !== 0n ? plain + TRUE_CTLS_OFFSET : plain;
  return { cap: msr(ctx, index), msrName: MSR_NAMES.get(index) ?? hex(index) };
}

/** What is wrong with a 32-bit control value under an allowed-0/allowed-1 MSR, or null. */
function allowedProblem(cap: bigint, value: number, msrName: string): string | null {
  if (vmxControlAllowed(cap, value)) return null;
  const must1 = Number(cap & 0xffff_ffffn) >>> 0;
  const may1 = Number(cap >> 32n) >>> 0;
  const missing = (must1 & ~value) >>> 0;
  if (missing !== 0)
    return `lacks bits ${hex(missing)} that ${msrName} requires (allowed-0 settings)`;
  return `sets bits ${hex((value & ~may1) >>> 0)} that ${msrName} does not allow (allowed-1 settings)`;
}

/** The VM-execution, VM-exit and VM-entry controls in force (secondary/tertiary only if activated). */
interface Controls {
  pin: number;
  proc: number;
  proc2: number;
  proc3: bigint;
  exit: number;
  entry: number;
  intrInfo: number;
}

/**
 * One Controls record reused by every check: the checks run to completion before anything
 * else can enter (a nested hypervisor's VMLAUNCH runs inside the guest, after them).
 */
const CONTROLS: Controls = { pin: 0, proc: 0, proc2: 0, proc3: 0n, exit: 0, entry: 0, intrInfo: 0 };

function readControls(vmcs: VmcsReader): Controls {
  const c = CONTROLS;
  const proc = u32(vmcs, CPU_BASED_VM_EXEC_CONTROL);
  c.pin = u32(vmcs, PIN_BASED_VM_EXEC_CONTROL);
  c.proc = proc;
  c.proc2 =
    (proc & CPU_BASED_ACTIVATE_SECONDARY_CONTROLS) !== 0 ? u32(vmcs, SECONDARY_VM_EXEC_CONTROL) : 0;
  c.proc3 =
    (proc & CPU_BASED_ACTIVATE_TERTIARY_CONTROLS) !== 0 ? vmcs.read(TERTIARY_VM_EXEC_CONTROL) : 0n;
  c.exit = u32(vmcs, VM_EXIT_CONTROLS);
  c.entry = u32(vmcs, VM_ENTRY_CONTROLS);
  c.intrInfo = u32(vmcs, VM_ENTRY_INTR_INFO_FIELD);
  return c;
}

const has = (controls: number, bit: number): boolean => (controls & bit) !== 0;

function canonical(v: bigint): boolean {
  return BigInt.asIntN(LINEAR_ADDRESS_BITS, v) === BigInt.asIntN(64, v);
}

/** Width of the physical addresses VMX structures may use (32 if IA32_VMX_BASIC[48]). */
function vmxAddressWidth(ctx: VmEntryContext): number {
  return (msr(ctx, MSR_IA32_VMX_BASIC) & VMX_BASIC_32BIT_PHYS_ADDR_ONLY) !== 0n
    ? Math.min(32, ctx.physAddrBits)
    : ctx.physAddrBits;
}

/** Why `addr` is not a `2^alignBits`-aligned physical address within the VMX width, or null. */
function addressProblem(addr: bigint, alignBits: number, ctx: VmEntryContext): string | null {
  if ((addr & ((1n << BigInt(alignBits)) - 1n)) !== 0n) {
    return `is not ${2 ** alignBits}-byte aligned (bits ${alignBits - 1}:0 must be 0)`;
  }
  const width = vmxAddressWidth(ctx);
  if (addr >> BigInt(width) !== 0n) {
    return `sets bits beyond the ${width}-bit physical-address width`;
  }
  return null;
}

/** An MSR list (16-byte entries): aligned start, and its last byte within the width. */
function msrListProblem(addr: bigint, count: number, ctx: VmEntryContext): string | null {
  const start = addressProblem(addr, 4, ctx);
  if (start !== null) return start;
  const last = addr + BigInt(count) * 16n - 1n;
  const width = vmxAddressWidth(ctx);
  if (last >> BigInt(width) !== 0n) {
    return `with ${count} entries ends at ${hex(last)}, beyond the ${width}-bit physical-address width`;
  }
  return null;
}

/** Bits a CR value must have (FIXED0) but lacks, and bits it has that FIXED1 forbids. */
function fixedBitsProblem(
  value: bigint,
  fixed0: bigint,
  fixed1: bigint,
  exempt: bigint,
  names: readonly [string, string],
): string | null {
  const missing = fixed0 & ~value & ~exempt;
  if (missing !== 0n) return `lacks bits ${hex(missing)} that ${names[0]} requires`;
  const extra = value & ~fixed1 & ~exempt & 0xffff_ffff_ffff_ffffn;
  if (extra !== 0n) return `sets bits ${hex(extra)} that ${names[1]} does not allow`;
  return null;
}

/** The first byte of a PAT value that is not a memory type (0, 1, 4, 5, 6, 7), or -1. */
function badPatByte(pat: bigint): number {
  for (let i = 0; i < 8; i++) {
    const t = Number((pat >> BigInt(8 * i)) & 0xffn);
    if (t === 2 || t === 3 || t > 7) return i;
  }
  return -1;
}

const CR0_FIXED_NAMES = ["IA32_VMX_CR0_FIXED0", "IA32_VMX_CR0_FIXED1"] as const;
const CR4_FIXED_NAMES = ["IA32_VMX_CR4_FIXED0", "IA32_VMX_CR4_FIXED1"] as const;

/** checkMsrValues' arguments for host and guest state. */
const HOST_SYSENTER_RULE = [
  "host-sysenter-canonical",
  HOST_IA32_SYSENTER_ESP,
  HOST_IA32_SYSENTER_EIP,
] as const;
const HOST_PAT_RULE = ["host-pat-valid", HOST_IA32_PAT] as const;
const HOST_EFER_RULE = ["host-efer-reserved-bits", HOST_IA32_EFER] as const;
const GUEST_SYSENTER_RULE = [
  "guest-sysenter-canonical",
  GUEST_SYSENTER_ESP,
  GUEST_SYSENTER_EIP,
] as const;
const GUEST_PAT_RULE = ["guest-pat-valid", GUEST_IA32_PAT] as const;
const GUEST_EFER_RULE = ["guest-efer-reserved-bits", GUEST_IA32_EFER] as const;

/** checkMsrValues' SYSENTER and PAT rules hold (on the halves; EFER is eferOk). */
function msrValuesOk(
  vmcs: VmcsReader,
  esp: number,
  eip: number,
  loadPat: boolean,
  pat: number,
): boolean {
  return (
    canonicalHi(hi32(vmcs, esp)) &&
    canonicalHi(hi32(vmcs, eip)) &&
    (!loadPat || patOk(lo32(vmcs, pat), hi32(vmcs, pat)))
  );
}

/** An EFER field sets only SCE, LME, LMA and NXE. */
function eferOk(vmcs: VmcsReader, enc: number): boolean {
  return ((lo32(vmcs, enc) & ~EFER_DEFINED_BITS) | hi32(vmcs, enc)) === 0;
}

const HOST_SELECTORS = [
  HOST_ES_SELECTOR,
  HOST_CS_SELECTOR,
  HOST_SS_SELECTOR,
  HOST_DS_SELECTOR,
  HOST_FS_SELECTOR,
  HOST_GS_SELECTOR,
  HOST_TR_SELECTOR,
] as const;
const HOST_BASES = [
  HOST_FS_BASE,
  HOST_GS_BASE,
  HOST_GDTR_BASE,
  HOST_IDTR_BASE,
  HOST_TR_BASE,
] as const;

// ---------------------------------------------------------------------------------------
// Stage 1: VMX controls (27.2.1)
// ---------------------------------------------------------------------------------------

/** SDM 27.2.1: checks on the VM-execution, VM-exit and VM-entry control fields. */
export function checkVmxControls(vmcs: VmcsReader, ctx: VmEntryContext): VmEntryFailure | null {
  return vmxControlsProblem(vmcs, ctx, readControls(vmcs));
}

function vmxControlsProblem(
  vmcs: VmcsReader,
  ctx: VmEntryContext,
  c: Controls,
): VmEntryFailure | null {
  const { pin, proc, proc2, exit, entry } = c;
  const k = capWords(ctx);

  // 27.2.1.1 VM-execution control fields.
  if (!controlAllowed(k.pinMust1, k.pinMay1, pin)) {
    const { cap, msrName } = controlMsr(ctx, MSR_IA32_VMX_PINBASED_CTLS);
    const p = allowedProblem(cap, pin, msrName);
    if (p) return fail("pin-based-allowed-settings", name(PIN_BASED_VM_EXEC_CONTROL), pin, p);
  }
  if (!controlAllowed(k.procMust1, k.procMay1, proc)) {
    const { cap, msrName } = controlMsr(ctx, MSR_IA32_VMX_PROCBASED_CTLS);
    const p = allowedProblem(cap, proc, msrName);
    if (p) {
      return fail("primary-proc-based-allowed-settings", name(CPU_BASED_VM_EXEC_CONTROL), proc, p);
    }
  }
  if (
    has(proc, CPU_BASED_ACTIVATE_SECONDARY_CONTROLS) &&
    !controlAllowed(k.proc2Must1, k.proc2May1, proc2)
  ) {
    const cap = msr(ctx, MSR_IA32_VMX_PROCBASED_CTLS2);
    const p = allowedProblem(cap, proc2, "IA32_VMX_PROCBASED_CTLS2");
    if (p) {
      return fail(
        "secondary-proc-based-allowed-settings",
        name(SECONDARY_VM_EXEC_CONTROL),
        proc2,
        p,
      );
    }
  }
  if (has(proc, CPU_BASED_ACTIVATE_TERTIARY_CONTROLS)) {
    const extra = c.proc3 & ~msr(ctx, MSR_IA32_VMX_PROCBASED_CTLS3);
    if (extra !== 0n) {
      return fail(
        "tertiary-proc-based-allowed-settings",
        name(TERTIARY_VM_EXEC_CONTROL),
        c.proc3,
        `sets bits ${hex(extra)} that IA32_VMX_PROCBASED_CTLS3 does not allow`,
      );
    }
  }

  const cr3Targets =
    (k.miscLo >>> VMX_MISC_CR3_TARGET_COUNT_SHIFT) & VMX_MISC_CR3_TARGET_COUNT_MASK;
  const cr3Count = u32(vmcs, CR3_TARGET_COUNT);
  if (cr3Count > cr3Targets) {
    return fail(
      "cr3-target-count",
      name(CR3_TARGET_COUNT),
      cr3Count,
      `exceeds the ${cr3Targets} CR3-target values IA32_VMX_MISC[24:16] reports`,
    );
  }

  const width = vmxAddressWidthOf(k, ctx);
  if (has(proc, CPU_BASED_USE_IO_BITMAPS)) {
    for (let i = 0; i < IO_BITMAPS.length; i++) {
      const enc = IO_BITMAPS[i]!;
      if (pageAddressOk(vmcs, enc, width)) continue;
      const addr = vmcs.read(enc);
      const p = addressProblem(addr, 12, ctx);
      if (p) return fail("io-bitmap-address", name(enc), addr, `${p} ('use I/O bitmaps' is 1)`);
    }
  }
  if (has(proc, CPU_BASED_USE_MSR_BITMAPS) && !pageAddressOk(vmcs, MSR_BITMAP, width)) {
    const addr = vmcs.read(MSR_BITMAP);
    const p = addressProblem(addr, 12, ctx);
    if (p)
      return fail("msr-bitmap-address", name(MSR_BITMAP), addr, `${p} ('use MSR bitmaps' is 1)`);
  }

  const tprShadow = has(proc, CPU_BASED_TPR_SHADOW);
  const vid = has(proc2, SECONDARY_EXEC_VIRTUAL_INTR_DELIVERY);
  if (tprShadow) {
    const addr = vmcs.read(VIRTUAL_APIC_PAGE_ADDR);
    const p = addressProblem(addr, 12, ctx);
    if (p) return fail("virtual-apic-page-address", name(VIRTUAL_APIC_PAGE_ADDR), addr, p);
    const threshold = u32(vmcs, TPR_THRESHOLD);
    if (!vid && (threshold & ~0xf) !== 0) {
      return fail(
        "tpr-threshold-reserved-bits",
        name(TPR_THRESHOLD),
        threshold,
        "sets bits 31:4, which must be 0 without virtual-interrupt delivery",
      );
    }
  } else {
    const needShadow =
      proc2 &
      (SECONDARY_EXEC_VIRTUALIZE_X2APIC_MODE |
        SECONDARY_EXEC_APIC_REGISTER_VIRT |
        SECONDARY_EXEC_VIRTUAL_INTR_DELIVERY);
    if (needShadow !== 0) {
      return fail(
        "apic-virtualization-requires-tpr-shadow",
        name(SECONDARY_VM_EXEC_CONTROL),
        proc2,
        `sets bits ${hex(needShadow)} that require 'use TPR shadow' (CPU_BASED_VM_EXEC_CONTROL bit 21)`,
      );
    }
  }
  if (
    has(proc2, SECONDARY_EXEC_VIRTUALIZE_X2APIC_MODE) &&
    has(proc2, SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES)
  ) {
    return fail(
      "x2apic-excludes-apic-accesses",
      name(SECONDARY_VM_EXEC_CONTROL),
      proc2,
      "sets both 'virtualize x2APIC mode' (bit 4) and 'virtualize APIC accesses' (bit 0)",
    );
  }
  if (vid && !has(pin, PIN_BASED_EXT_INTR_MASK)) {
    return fail(
      "virtual-interrupt-delivery-requires-ext-int-exiting",
      name(PIN_BASED_VM_EXEC_CONTROL),
      pin,
      "lacks 'external-interrupt exiting' (bit 0), which 'virtual-interrupt delivery' requires",
    );
  }
  if (has(pin, PIN_BASED_POSTED_INTR)) {
    if (!vid || !has(exit, VM_EXIT_ACK_INTR_ON_EXIT)) {
      return fail(
        "posted-interrupts-requirements",
        name(PIN_BASED_VM_EXEC_CONTROL),
        pin,
        `sets 'process posted interrupts' without ${vid ? "'acknowledge interrupt on exit'" : "'virtual-interrupt delivery'"}`,
      );
    }
    const nv = u32(vmcs, POSTED_INTR_NV);
    if ((nv & 0xff00) !== 0) {
      return fail(
        "posted-interrupt-notification-vector",
        name(POSTED_INTR_NV),
        nv,
        "sets bits 15:8, which must be 0",
      );
    }
    const desc = vmcs.read(POSTED_INTR_DESC_ADDR);
    const p = addressProblem(desc, 6, ctx);
    if (p) return fail("posted-interrupt-descriptor-address", name(POSTED_INTR_DESC_ADDR), desc, p);
  }
  if (!has(pin, PIN_BASED_NMI_EXITING) && has(pin, PIN_BASED_VIRTUAL_NMIS)) {
    return fail(
      "nmi-exiting-virtual-nmis",
      name(PIN_BASED_VM_EXEC_CONTROL),
      pin,
      "sets 'virtual NMIs' (bit 5) without 'NMI exiting' (bit 3)",
    );
  }
  if (!has(pin, PIN_BASED_VIRTUAL_NMIS) && has(proc, CPU_BASED_NMI_WINDOW_EXITING)) {
    return fail(
      "virtual-nmis-nmi-window",
      name(CPU_BASED_VM_EXEC_CONTROL),
      proc,
      "sets 'NMI-window exiting' (bit 22) without 'virtual NMIs' (pin-based bit 5)",
    );
  }
  if (has(proc2, SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES)) {
    const addr = vmcs.read(APIC_ACCESS_ADDR);
    const p = addressProblem(addr, 12, ctx);
    if (p) return fail("apic-access-address", name(APIC_ACCESS_ADDR), addr, p);
  }
  if (has(proc2, SECONDARY_EXEC_ENABLE_VPID)) {
    const vpid = u32(vmcs, VIRTUAL_PROCESSOR_ID);
    if (vpid === 0) {
      return fail("vpid-nonzero", name(VIRTUAL_PROCESSOR_ID), vpid, "is 0 with 'enable VPID' set");
    }
  }
  const ept = has(proc2, SECONDARY_EXEC_ENABLE_EPT);
  if (ept && !eptpOk(lo32(vmcs, EPT_POINTER), hi32(vmcs, EPT_POINTER), k.eptCapLo, ctx)) {
    const p = eptpProblem(vmcs.read(EPT_POINTER), ctx);
    if (p) return p;
  }
  if (has(proc2, SECONDARY_EXEC_ENABLE_PML)) {
    if (!ept) {
      return fail(
        "pml-requires-ept",
        name(SECONDARY_VM_EXEC_CONTROL),
        proc2,
        "sets 'enable PML' (bit 17) without 'enable EPT' (bit 1)",
      );
    }
    const addr = vmcs.read(PML_ADDRESS);
    const p = addressProblem(addr, 12, ctx);
    if (p) return fail("pml-address", name(PML_ADDRESS), addr, p);
  }
  if (has(proc2, SECONDARY_EXEC_UNRESTRICTED_GUEST) && !ept) {
    return fail(
      "unrestricted-guest-requires-ept",
      name(SECONDARY_VM_EXEC_CONTROL),
      proc2,
      "sets 'unrestricted guest' (bit 7) without 'enable EPT' (bit 1)",
    );
  }
  if (has(proc2, SECONDARY_EXEC_MODE_BASED_EPT_EXEC) && !ept) {
    return fail(
      "mode-based-execute-requires-ept",
      name(SECONDARY_VM_EXEC_CONTROL),
      proc2,
      "sets 'mode-based execute control for EPT' (bit 22) without 'enable EPT' (bit 1)",
    );
  }

  // 27.2.1.2 VM-exit control fields.
  if (!controlAllowed(k.exitMust1, k.exitMay1, exit)) {
    const { cap, msrName } = controlMsr(ctx, MSR_IA32_VMX_EXIT_CTLS);
    const p = allowedProblem(cap, exit, msrName);
    if (p) return fail("exit-controls-allowed-settings", name(VM_EXIT_CONTROLS), exit, p);
  }
  if (has(exit, VM_EXIT_SAVE_VMX_PREEMPTION_TIMER) && !has(pin, PIN_BASED_VMX_PREEMPTION_TIMER)) {
    return fail(
      "preemption-timer-save-requires-activate",
      name(VM_EXIT_CONTROLS),
      exit,
      "sets 'save VMX-preemption timer value' (bit 22) without 'activate VMX-preemption timer' (pin-based bit 6)",
    );
  }
  {
    const p =
      msrListCheck(
        vmcs,
        ctx,
        "exit-msr-store-address",
        VM_EXIT_MSR_STORE_COUNT,
        VM_EXIT_MSR_STORE_ADDR,
      ) ??
      msrListCheck(
        vmcs,
        ctx,
        "exit-msr-load-address",
        VM_EXIT_MSR_LOAD_COUNT,
        VM_EXIT_MSR_LOAD_ADDR,
      );
    if (p) return p;
  }

  // 27.2.1.3 VM-entry control fields.
  if (!controlAllowed(k.entryMust1, k.entryMay1, entry)) {
    const { cap, msrName } = controlMsr(ctx, MSR_IA32_VMX_ENTRY_CTLS);
    const p = allowedProblem(cap, entry, msrName);
    if (p) return fail("entry-controls-allowed-settings", name(VM_ENTRY_CONTROLS), entry, p);
  }
  const injection = eventInjectionProblem(vmcs, ctx, c);
  if (injection) return injection;
  {
    const p = msrListCheck(
      vmcs,
      ctx,
      "entry-msr-load-address",
      VM_ENTRY_MSR_LOAD_COUNT,
      VM_ENTRY_MSR_LOAD_ADDR,
    );
    if (p) return p;
  }
  // This model is never in SMM, so neither SMM-related entry control may be set.
  const smm = entry & (VM_ENTRY_SMM | VM_ENTRY_DEACT_DUAL_MONITOR);
  if (smm !== 0) {
    return fail(
      "entry-smm-outside-smm",
      name(VM_ENTRY_CONTROLS),
      entry,
      `sets bits ${hex(smm)} ('entry to SMM' / 'deactivate dual-monitor treatment') outside SMM`,
    );
  }
  return null;
}

function msrListCheck(
  vmcs: VmcsReader,
  ctx: VmEntryContext,
  rule: "exit-msr-store-address" | "exit-msr-load-address" | "entry-msr-load-address",
  countField: number,
  addrField: number,
): VmEntryFailure | null {
  const count = u32(vmcs, countField);
  if (count === 0) return null;
  const addr = vmcs.read(addrField);
  const p = msrListProblem(addr, count, ctx);
  return p ? fail(rule, name(addrField), addr, `${p} (${name(countField)} = ${count})`) : null;
}

/** The I/O bitmaps in the order they are checked. */
const IO_BITMAPS = [IO_BITMAP_A, IO_BITMAP_B] as const;

/** A 4 KiB-aligned physical address within `width` bits (addressProblem's success case). */
function pageAddressOk(vmcs: VmcsReader, enc: number, width: number): boolean {
  const l = lo32(vmcs, enc);
  return (l & 0xfff) === 0 && !beyondWidth(l, hi32(vmcs, enc), width);
}

/** eptpProblem finds nothing: the same rules on the halves of EPT_POINTER. */
function eptpOk(l: number, h: number, cap: number, ctx: VmEntryContext): boolean {
  const low = l & 0xfff;
  const mt = low & VMX_EPTP_MT_MASK;
  const pwl = low & VMX_EPTP_PWL_MASK;
  return (
    ((mt === VMX_EPTP_MT_UC && has(cap, VMX_EPTP_UC_BIT)) ||
      (mt === VMX_EPTP_MT_WB && has(cap, VMX_EPTP_WB_BIT))) &&
    ((pwl === VMX_EPTP_PWL_4 && has(cap, VMX_EPT_PAGE_WALK_4_BIT)) ||
      (pwl === VMX_EPTP_PWL_5 && has(cap, VMX_EPT_PAGE_WALK_5_BIT))) &&
    (!has(low, VMX_EPTP_AD_ENABLE_BIT) || has(cap, VMX_EPT_AD_BIT)) &&
    (l & VMX_EPTP_RESERVED_LOW_MASK) === 0 &&
    !beyondWidth(l, h, ctx.physAddrBits)
  );
}

/** EPT_POINTER against IA32_VMX_EPT_VPID_CAP. */
function eptpProblem(eptp: bigint, ctx: VmEntryContext): VmEntryFailure | null {
  const cap = Number(msr(ctx, MSR_IA32_VMX_EPT_VPID_CAP) & 0xffff_ffffn) >>> 0;
  const field = name(EPT_POINTER);
  const low = Number(eptp & 0xfffn);
  const mt = low & VMX_EPTP_MT_MASK;
  const mtOk =
    (mt === VMX_EPTP_MT_UC && has(cap, VMX_EPTP_UC_BIT)) ||
    (mt === VMX_EPTP_MT_WB && has(cap, VMX_EPTP_WB_BIT));
  if (!mtOk) {
    return fail(
      "eptp-memory-type",
      field,
      eptp,
      `has memory type ${mt}; IA32_VMX_EPT_VPID_CAP allows ${[
        has(cap, VMX_EPTP_UC_BIT) ? "0 (UC)" : "",
        has(cap, VMX_EPTP_WB_BIT) ? "6 (WB)" : "",
      ]
        .filter((s) => s !== "")
        .join(" or ")}`,
    );
  }
  const pwl = low & VMX_EPTP_PWL_MASK;
  const pwlOk =
    (pwl === VMX_EPTP_PWL_4 && has(cap, VMX_EPT_PAGE_WALK_4_BIT)) ||
    (pwl === VMX_EPTP_PWL_5 && has(cap, VMX_EPT_PAGE_WALK_5_BIT));
  if (!pwlOk) {
    return fail(
      "eptp-walk-length",
      field,
      eptp,
      `encodes a ${(pwl >> 3) + 1}-level walk that IA32_VMX_EPT_VPID_CAP does not report`,
    );
  }
  if (has(low, VMX_EPTP_AD_ENABLE_BIT) && !has(cap, VMX_EPT_AD_BIT)) {
    return fail(
      "eptp-accessed-dirty",
      field,
      eptp,
      "enables accessed/dirty flags (bit 6) but IA32_VMX_EPT_VPID_CAP bit 21 is 0",
    );
  }
  const reserved =
    (eptp & BigInt(VMX_EPTP_RESERVED_LOW_MASK)) |
    ((eptp >> BigInt(ctx.physAddrBits)) << BigInt(ctx.physAddrBits));
  if (reserved !== 0n) {
    return fail(
      "eptp-reserved-bits",
      field,
      eptp,
      `sets reserved bits ${hex(reserved)} (11:7 and ${ctx.physAddrBits} and up)`,
    );
  }
  return null;
}

/** The VM-entry event-injection fields (27.2.1.3). */
function eventInjectionProblem(
  vmcs: VmcsReader,
  ctx: VmEntryContext,
  c: Controls,
): VmEntryFailure | null {
  const info = c.intrInfo;
  if (!has(info, INTR_INFO_VALID_MASK)) return null;
  const field = name(VM_ENTRY_INTR_INFO_FIELD);
  const type = info & INTR_INFO_INTR_TYPE_MASK;
  const vector = info & INTR_INFO_VECTOR_MASK;

  const mtfSupported = has(
    Number(controlMsr(ctx, MSR_IA32_VMX_PROCBASED_CTLS).cap >> 32n) >>> 0,
    CPU_BASED_MONITOR_TRAP_FLAG,
  );
  if (type === INTR_TYPE_RESERVED) {
    return fail("event-injection-type", field, info, "has interruption type 1, which is reserved");
  }
  if (type === INTR_TYPE_OTHER_EVENT && !mtfSupported) {
    return fail(
      "event-injection-type",
      field,
      info,
      "has interruption type 7 (other event), reserved without 'monitor trap flag' support",
    );
  }

  if (type === INTR_TYPE_NMI_INTR && vector !== NMI_VECTOR) {
    return fail(
      "event-injection-vector",
      field,
      info,
      `injects an NMI with vector ${vector}, not 2`,
    );
  }
  if (type === INTR_TYPE_HARD_EXCEPTION && vector > 31) {
    return fail(
      "event-injection-vector",
      field,
      info,
      `injects a hardware exception with vector ${vector} (at most 31)`,
    );
  }
  if (type === INTR_TYPE_OTHER_EVENT && vector !== 0) {
    return fail("event-injection-vector", field, info, `injects other event ${vector}, not 0`);
  }

  const deliver = has(info, INTR_INFO_DELIVER_CODE_MASK);
  const unrestricted = has(c.proc2, SECONDARY_EXEC_UNRESTRICTED_GUEST);
  const protectedMode = !unrestricted || (vmcs.read(GUEST_CR0) & X86_CR0_PE) !== 0n;
  const hwException = type === INTR_TYPE_HARD_EXCEPTION;
  const relaxed = (msr(ctx, MSR_IA32_VMX_BASIC) & VMX_BASIC_NO_HW_ERROR_CODE_CC) !== 0n;
  if (relaxed) {
    if (deliver && (!hwException || !protectedMode)) {
      return fail(
        "event-injection-error-code-bit",
        field,
        info,
        `sets 'deliver error code' for ${hwException ? "a real-mode guest" : "an event that is not a hardware exception"}`,
      );
    }
  } else {
    const required = hwException && protectedMode && ERROR_CODE_VECTORS.has(vector);
    if (deliver !== required) {
      return fail(
        "event-injection-error-code-bit",
        field,
        info,
        required
          ? `lacks 'deliver error code' (bit 11), required for exception ${vector} in protected mode`
          : `sets 'deliver error code' (bit 11), allowed only for exceptions 8, 10–14, 17, 21 with guest CR0.PE = 1`,
      );
    }
  }

  const reserved = (info & INTR_INFO_RESVD_BITS_MASK) >>> 0;
  if (reserved !== 0) {
    return fail(
      "event-injection-reserved-bits",
      field,
      info,
      `sets reserved bits ${hex(reserved)} (30:12)`,
    );
  }

  if (deliver) {
    const code = u32(vmcs, VM_ENTRY_EXCEPTION_ERROR_CODE);
    if ((code & 0xffff_0000) !== 0) {
      return fail(
        "event-injection-error-code-reserved-bits",
        name(VM_ENTRY_EXCEPTION_ERROR_CODE),
        code,
        "sets bits 31:16, which must be 0 when an error code is delivered",
      );
    }
  }

  if (
    type === INTR_TYPE_SOFT_INTR ||
    type === INTR_TYPE_PRIV_SW_EXCEPTION ||
    type === INTR_TYPE_SOFT_EXCEPTION
  ) {
    const len = u32(vmcs, VM_ENTRY_INSTRUCTION_LEN);
    const zeroOk = (msr(ctx, MSR_IA32_VMX_MISC) & BigInt(VMX_MISC_ZERO_LEN_INS)) !== 0n;
    if (len > 15 || (len === 0 && !zeroOk)) {
      return fail(
        "event-injection-instruction-length",
        name(VM_ENTRY_INSTRUCTION_LEN),
        len,
        `is not ${zeroOk ? "0–15" : "1–15"}, as a software interrupt or exception (${field} = ${hex(info)}) requires`,
      );
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------
// Stage 2: host state (27.2.2–27.2.4)
// ---------------------------------------------------------------------------------------

/** SDM 27.2.2–27.2.4: checks on the host-state area. */
export function checkHostState(vmcs: VmcsReader, ctx: VmEntryContext): VmEntryFailure | null {
  return hostStateProblem(vmcs, ctx, readControls(vmcs));
}

function hostStateProblem(
  vmcs: VmcsReader,
  ctx: VmEntryContext,
  c: Controls,
): VmEntryFailure | null {
  const host64 = has(c.exit, VM_EXIT_HOST_ADDR_SPACE_SIZE);
  const k = capWords(ctx);

  // 27.2.2 Control registers and MSRs.
  // CR0.CD and CR0.NW are not checked: VM exits leave them unchanged.
  if (!fixedBitsOk(lo32(vmcs, HOST_CR0), hi32(vmcs, HOST_CR0), k, 0, CR0_CD_NW)) {
    const cr0 = vmcs.read(HOST_CR0);
    const cr0Problem = fixedBitsProblem(
      cr0,
      msr(ctx, MSR_IA32_VMX_CR0_FIXED0),
      msr(ctx, MSR_IA32_VMX_CR0_FIXED1),
      X86_CR0_CD | X86_CR0_NW,
      CR0_FIXED_NAMES,
    );
    if (cr0Problem) return fail("host-cr0-fixed-bits", name(HOST_CR0), cr0, cr0Problem);
  }
  const cr4 = lo32(vmcs, HOST_CR4);
  if (!fixedBitsOk(cr4, hi32(vmcs, HOST_CR4), k, 4, 0)) {
    const cr4Value = vmcs.read(HOST_CR4);
    const cr4Problem = fixedBitsProblem(
      cr4Value,
      msr(ctx, MSR_IA32_VMX_CR4_FIXED0),
      msr(ctx, MSR_IA32_VMX_CR4_FIXED1),
      0n,
      CR4_FIXED_NAMES,
    );
    if (cr4Problem) return fail("host-cr4-fixed-bits", name(HOST_CR4), cr4Value, cr4Problem);
  }
  const crWidth = Math.max(32, ctx.physAddrBits);
  if (beyondWidth(lo32(vmcs, HOST_CR3), hi32(vmcs, HOST_CR3), crWidth)) {
    return fail(
      "host-cr3-width",
      name(HOST_CR3),
      vmcs.read(HOST_CR3),
      `sets bits at or above bit ${crWidth} (MAXPHYADDR)`,
    );
  }
  const loadPat = has(c.exit, VM_EXIT_LOAD_IA32_PAT);
  const loadEfer = has(c.exit, VM_EXIT_LOAD_IA32_EFER);
  if (
    !msrValuesOk(vmcs, HOST_IA32_SYSENTER_ESP, HOST_IA32_SYSENTER_EIP, loadPat, HOST_IA32_PAT) ||
    (loadEfer && !eferOk(vmcs, HOST_IA32_EFER))
  ) {
    const hostMsrs = checkMsrValues(
      vmcs,
      HOST_SYSENTER_RULE,
      loadPat ? HOST_PAT_RULE : null,
      loadEfer ? HOST_EFER_RULE : null,
    );
    if (hostMsrs) return hostMsrs;
  }
  if (loadEfer) {
    const efer = lo32(vmcs, HOST_IA32_EFER);
    const lma = (efer & EFER_LMA_BIT) !== 0;
    const lme = (efer & EFER_LME_BIT) !== 0;
    if (lma !== host64 || lme !== host64) {
      return fail(
        "host-efer-lma-lme",
        name(HOST_IA32_EFER),
        vmcs.read(HOST_IA32_EFER),
        `has LMA = ${+lma}, LME = ${+lme}; both must equal 'host address-space size' (${+host64})`,
      );
    }
  }

  // 27.2.3 Segment and descriptor-table registers.
  for (let i = 0; i < HOST_SELECTORS.length; i++) {
    const enc = HOST_SELECTORS[i]!;
    const sel = u32(vmcs, enc) & 0xffff;
    if ((sel & 7) !== 0) {
      return fail("host-selector-rpl-ti", name(enc), sel, "has RPL or TI set (bits 2:0 must be 0)");
    }
  }
  if ((u32(vmcs, HOST_CS_SELECTOR) & 0xffff) === 0) {
    return fail("host-cs-nonzero", name(HOST_CS_SELECTOR), 0, "is the null selector");
  }
  if ((u32(vmcs, HOST_TR_SELECTOR) & 0xffff) === 0) {
    return fail("host-tr-nonzero", name(HOST_TR_SELECTOR), 0, "is the null selector");
  }
  if ((u32(vmcs, HOST_SS_SELECTOR) & 0xffff) === 0 && !host64) {
    return fail(
      "host-ss-nonzero",
      name(HOST_SS_SELECTOR),
      0,
      "is the null selector, allowed only with 'host address-space size' = 1",
    );
  }
  for (let i = 0; i < HOST_BASES.length; i++) {
    const enc = HOST_BASES[i]!;
    if (!canonicalHi(hi32(vmcs, enc))) {
      return fail("host-base-canonical", name(enc), vmcs.read(enc), "is not canonical");
    }
  }

  // 27.2.4 Address-space size.
  if (host64 !== ctx.hostLongMode) {
    return fail(
      "host-address-space-size",
      name(VM_EXIT_CONTROLS),
      c.exit,
      `has 'host address-space size' (bit 9) = ${+host64} but the processor is ${ctx.hostLongMode ? "in" : "outside"} IA-32e mode`,
    );
  }
  const ripHi = hi32(vmcs, HOST_RIP);
  if (!host64) {
    if (has(c.entry, VM_ENTRY_IA32E_MODE)) {
      return fail(
        "host-32bit-ia32e-guest",
        name(VM_ENTRY_CONTROLS),
        c.entry,
        "sets 'IA-32e mode guest' (bit 9) with 'host address-space size' = 0",
      );
    }
    if ((cr4 & CR4_PCIDE_BIT) !== 0) {
      return fail(
        "host-32bit-cr4-pcide",
        name(HOST_CR4),
        vmcs.read(HOST_CR4),
        "sets PCIDE (bit 17) with 'host address-space size' = 0",
      );
    }
    if (ripHi !== 0) {
      return fail(
        "host-32bit-rip-width",
        name(HOST_RIP),
        vmcs.read(HOST_RIP),
        "sets bits 63:32 with 'host address-space size' = 0",
      );
    }
  } else {
    if ((cr4 & CR4_PAE_BIT) === 0) {
      return fail(
        "host-64bit-cr4-pae",
        name(HOST_CR4),
        vmcs.read(HOST_CR4),
        "lacks PAE (bit 5), required with 'host address-space size' = 1",
      );
    }
    if (!canonicalHi(ripHi)) {
      return fail(
        "host-64bit-rip-canonical",
        name(HOST_RIP),
        vmcs.read(HOST_RIP),
        "is not canonical, required with 'host address-space size' = 1",
      );
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------
// Stage 3: guest state (27.3.1)
// ---------------------------------------------------------------------------------------

interface SegmentFields {
  readonly seg: string;
  readonly selector: number;
  readonly base: number;
  readonly limit: number;
  readonly ar: number;
}

/** A guest segment register as read from the VMCS (the base as its two 32-bit halves). */
interface Segment extends SegmentFields {
  sel: number;
  baseLo: number;
  baseHi: number;
  limitValue: number;
  arValue: number;
  usable: boolean;
  type: number;
  dpl: number;
}

const seg = (s: string, selector: number, base: number, limit: number, ar: number): Segment => ({
  seg: s,
  selector,
  base,
  limit,
  ar,
  sel: 0,
  baseLo: 0,
  baseHi: 0,
  limitValue: 0,
  arValue: 0,
  usable: false,
  type: 0,
  dpl: 0,
});

/**
 * CS, SS, DS, ES, FS, GS in the SDM's order, then TR and LDTR: one record each, refilled
 * by every check of guest state (see CONTROLS on why sharing them is safe).
 */
const CS_S = seg("CS", GUEST_CS_SELECTOR, GUEST_CS_BASE, GUEST_CS_LIMIT, GUEST_CS_AR_BYTES);
const SS_S = seg("SS", GUEST_SS_SELECTOR, GUEST_SS_BASE, GUEST_SS_LIMIT, GUEST_SS_AR_BYTES);
const DS_S = seg("DS", GUEST_DS_SELECTOR, GUEST_DS_BASE, GUEST_DS_LIMIT, GUEST_DS_AR_BYTES);
const ES_S = seg("ES", GUEST_ES_SELECTOR, GUEST_ES_BASE, GUEST_ES_LIMIT, GUEST_ES_AR_BYTES);
const FS_S = seg("FS", GUEST_FS_SELECTOR, GUEST_FS_BASE, GUEST_FS_LIMIT, GUEST_FS_AR_BYTES);
const GS_S = seg("GS", GUEST_GS_SELECTOR, GUEST_GS_BASE, GUEST_GS_LIMIT, GUEST_GS_AR_BYTES);
const TR_S = seg("TR", GUEST_TR_SELECTOR, GUEST_TR_BASE, GUEST_TR_LIMIT, GUEST_TR_AR_BYTES);
const LDTR_S = seg(
  "LDTR",
  GUEST_LDTR_SELECTOR,
  GUEST_LDTR_BASE,
  GUEST_LDTR_LIMIT,
  GUEST_LDTR_AR_BYTES,
);
/** DS, ES, FS, GS. */
const DATA_SEGS: readonly Segment[] = [DS_S, ES_S, FS_S, GS_S];
/** CS, SS, DS, ES, FS, GS. */
const CODE_DATA_SEGS: readonly Segment[] = [CS_S, SS_S, DS_S, ES_S, FS_S, GS_S];

function readSegment(vmcs: VmcsReader, s: Segment): Segment {
  const arValue = u32(vmcs, s.ar);
  s.sel = u32(vmcs, s.selector) & 0xffff;
  s.baseLo = lo32(vmcs, s.base);
  s.baseHi = hi32(vmcs, s.base);
  s.limitValue = u32(vmcs, s.limit);
  s.arValue = arValue;
  s.usable = (arValue & VMX_AR_UNUSABLE_MASK) === 0;
  s.type = arValue & VMX_AR_TYPE_MASK;
  s.dpl = (arValue & VMX_AR_DPL_MASK) >> VMX_AR_DPL_SHIFT;
  return s;
}

/** The G-bit rule for a limit: what is wrong, or null. */
function granularityProblem(s: Segment): string | null {
  const g = has(s.arValue, VMX_AR_G_MASK);
  if ((s.limitValue & 0xfff) !== 0xfff && g) {
    return `has limit[11:0] ≠ 0xfff but ${name(s.ar)} = ${hex(s.arValue)} sets G`;
  }
  if ((s.limitValue & 0xfff0_0000) !== 0 && !g) {
    return `has limit[31:20] ≠ 0 but ${name(s.ar)} = ${hex(s.arValue)} clears G`;
  }
  return null;
}

/**
 * SDM 27.3.1: checks on the guest-state area. `pdpte(i)` gives the guest's PDPTE i for the
 * PAE-paging check when EPT is off (omitted → that rule is skipped).
 */
export function checkGuestState(
  vmcs: VmcsReader,
  ctx: VmEntryContext,
  pdpte?: (i: number) => bigint | undefined,
): VmEntryFailure | null {
  return guestStateProblem(vmcs, ctx, readControls(vmcs), pdpte);
}

function guestStateProblem(
  vmcs: VmcsReader,
  ctx: VmEntryContext,
  c: Controls,
  pdpte: ((i: number) => bigint | undefined) | undefined,
): VmEntryFailure | null {
  const unrestricted = has(c.proc2, SECONDARY_EXEC_UNRESTRICTED_GUEST);
  const ept = has(c.proc2, SECONDARY_EXEC_ENABLE_EPT);
  const ia32e = has(c.entry, VM_ENTRY_IA32E_MODE);
  const loadDebug = has(c.entry, VM_ENTRY_LOAD_DEBUG_CONTROLS);
  const k = capWords(ctx);

  // 27.3.1.1 Control registers, debug registers and MSRs.
  const cr0 = lo32(vmcs, GUEST_CR0);
  const cr0Exempt = CR0_CD_NW | (unrestricted ? CR0_PE_BIT | CR0_PG_BIT : 0);
  if (!fixedBitsOk(cr0, hi32(vmcs, GUEST_CR0), k, 0, cr0Exempt)) {
    const cr0Value = vmcs.read(GUEST_CR0);
    const cr0Problem = fixedBitsProblem(
      cr0Value,
      msr(ctx, MSR_IA32_VMX_CR0_FIXED0),
      msr(ctx, MSR_IA32_VMX_CR0_FIXED1),
      X86_CR0_CD | X86_CR0_NW | (unrestricted ? X86_CR0_PE | X86_CR0_PG : 0n),
      CR0_FIXED_NAMES,
    );
    if (cr0Problem) return fail("guest-cr0-fixed-bits", name(GUEST_CR0), cr0Value, cr0Problem);
  }
  const pe = (cr0 & CR0_PE_BIT) !== 0;
  const pg = (cr0 & CR0_PG_BIT) !== 0;
  if (pg && !pe) {
    return fail(
      "guest-cr0-pg-requires-pe",
      name(GUEST_CR0),
      vmcs.read(GUEST_CR0),
      "sets PG (bit 31) without PE (bit 0)",
    );
  }
  const cr4 = lo32(vmcs, GUEST_CR4);
  if (!fixedBitsOk(cr4, hi32(vmcs, GUEST_CR4), k, 4, 0)) {
    const cr4Value = vmcs.read(GUEST_CR4);
    const cr4Problem = fixedBitsProblem(
      cr4Value,
      msr(ctx, MSR_IA32_VMX_CR4_FIXED0),
      msr(ctx, MSR_IA32_VMX_CR4_FIXED1),
      0n,
      CR4_FIXED_NAMES,
    );
    if (cr4Problem) return fail("guest-cr4-fixed-bits", name(GUEST_CR4), cr4Value, cr4Problem);
  }
  const debugctl = lo32(vmcs, GUEST_IA32_DEBUGCTL);
  if (loadDebug && ((debugctl & ~DEBUGCTL_DEFINED_BITS) | hi32(vmcs, GUEST_IA32_DEBUGCTL)) !== 0) {
    const v = vmcs.read(GUEST_IA32_DEBUGCTL);
    return fail(
      "guest-debugctl-reserved-bits",
      name(GUEST_IA32_DEBUGCTL),
      v,
      `sets reserved bits ${hex(v & ~DEBUGCTL_DEFINED)} with 'load debug controls'`,
    );
  }
  if (ia32e && !pg) {
    return fail(
      "guest-ia32e-cr0-pg",
      name(GUEST_CR0),
      vmcs.read(GUEST_CR0),
      "lacks PG (bit 31), required for an IA-32e mode guest",
    );
  }
  if (ia32e && (cr4 & CR4_PAE_BIT) === 0) {
    return fail(
      "guest-ia32e-cr4-pae",
      name(GUEST_CR4),
      vmcs.read(GUEST_CR4),
      "lacks PAE (bit 5), required for an IA-32e mode guest",
    );
  }
  if (!ia32e && (cr4 & CR4_PCIDE_BIT) !== 0) {
    return fail(
      "guest-cr4-pcide-ia32e",
      name(GUEST_CR4),
      vmcs.read(GUEST_CR4),
      "sets PCIDE (bit 17) without 'IA-32e mode guest'",
    );
  }
  const crWidth = Math.max(32, ctx.physAddrBits);
  if (beyondWidth(lo32(vmcs, GUEST_CR3), hi32(vmcs, GUEST_CR3), crWidth)) {
    return fail(
      "guest-cr3-width",
      name(GUEST_CR3),
      vmcs.read(GUEST_CR3),
      `sets bits at or above bit ${crWidth} (MAXPHYADDR)`,
    );
  }
  if (loadDebug && hi32(vmcs, GUEST_DR7) !== 0) {
    return fail(
      "guest-dr7-upper-bits",
      name(GUEST_DR7),
      vmcs.read(GUEST_DR7),
      "sets bits 63:32 with 'load debug controls'",
    );
  }
  const loadPat = has(c.entry, VM_ENTRY_LOAD_IA32_PAT);
  const loadEfer = has(c.entry, VM_ENTRY_LOAD_IA32_EFER);
  if (
    !msrValuesOk(vmcs, GUEST_SYSENTER_ESP, GUEST_SYSENTER_EIP, loadPat, GUEST_IA32_PAT) ||
    (loadEfer && !eferOk(vmcs, GUEST_IA32_EFER))
  ) {
    const guestMsrs = checkMsrValues(
      vmcs,
      GUEST_SYSENTER_RULE,
      loadPat ? GUEST_PAT_RULE : null,
      loadEfer ? GUEST_EFER_RULE : null,
    );
    if (guestMsrs) return guestMsrs;
  }
  if (loadEfer) {
    const efer = lo32(vmcs, GUEST_IA32_EFER);
    const lma = (efer & EFER_LMA_BIT) !== 0;
    if (lma !== ia32e) {
      return fail(
        "guest-efer-lma",
        name(GUEST_IA32_EFER),
        vmcs.read(GUEST_IA32_EFER),
        `has LMA = ${+lma} but 'IA-32e mode guest' is ${+ia32e}`,
      );
    }
    const lme = (efer & EFER_LME_BIT) !== 0;
    if (pg && lme !== lma) {
      return fail(
        "guest-efer-lme",
        name(GUEST_IA32_EFER),
        vmcs.read(GUEST_IA32_EFER),
        `has LME = ${+lme} ≠ LMA = ${+lma} with GUEST_CR0.PG = 1`,
      );
    }
  }

  // 27.3.1.2 Segment registers.
  const rflags = lo32(vmcs, GUEST_RFLAGS);
  const v8086 = (rflags & EFLAGS_VM_BIT) !== 0;
  const cs = readSegment(vmcs, CS_S);
  const ss = readSegment(vmcs, SS_S);
  for (let i = 0; i < DATA_SEGS.length; i++) readSegment(vmcs, DATA_SEGS[i]!);
  const tr = readSegment(vmcs, TR_S);
  const ldtr = readSegment(vmcs, LDTR_S);

  // Selectors.
  if ((tr.sel & 4) !== 0) {
    return fail(
      "guest-tr-ti",
      name(tr.selector),
      tr.sel,
      "has TI (bit 2) set; TR must come from the GDT",
    );
  }
  if (ldtr.usable && (ldtr.sel & 4) !== 0) {
    return fail(
      "guest-ldtr-ti",
      name(ldtr.selector),
      ldtr.sel,
      "has TI (bit 2) set for a usable LDTR; the LDT descriptor must come from the GDT",
    );
  }
  if (!v8086 && !unrestricted && (ss.sel & 3) !== (cs.sel & 3)) {
    return fail(
      "guest-ss-rpl",
      name(ss.selector),
      ss.sel,
      `has RPL ${ss.sel & 3} ≠ CS RPL ${cs.sel & 3} (${name(cs.selector)} = ${hex(cs.sel)})`,
    );
  }

  // Bases.
  if (v8086) {
    for (let i = 0; i < CODE_DATA_SEGS.length; i++) {
      const s = CODE_DATA_SEGS[i]!;
      if (s.baseHi !== 0 || s.baseLo >>> 0 !== s.sel << 4) {
        return fail(
          "guest-v8086-segment-base",
          name(s.base),
          vmcs.read(s.base),
          `is not ${name(s.selector)} × 16 = ${hex(s.sel << 4)} in virtual-8086 mode`,
        );
      }
    }
  }
  // TR, FS, GS and a usable LDTR: canonical.
  for (let i = 0; i < 4; i++) {
    const s = i === 0 ? tr : i === 1 ? FS_S : i === 2 ? GS_S : ldtr;
    if (s === ldtr && !ldtr.usable) break;
    if (!canonicalHi(s.baseHi)) {
      return fail(
        "guest-segment-base-canonical",
        name(s.base),
        vmcs.read(s.base),
        "is not canonical",
      );
    }
  }
  // CS, SS, DS, ES: bits 63:32 clear (CS always, the others when usable).
  for (let i = 0; i < 4; i++) {
    const s = CODE_DATA_SEGS[i]!;
    if ((s === cs || s.usable) && s.baseHi !== 0) {
      return fail(
        "guest-segment-base-upper-bits",
        name(s.base),
        vmcs.read(s.base),
        `sets bits 63:32${s === cs ? "" : " of a usable segment"}`,
      );
    }
  }

  // Limits and access rights in virtual-8086 mode.
  if (v8086) {
    for (let i = 0; i < CODE_DATA_SEGS.length; i++) {
      const s = CODE_DATA_SEGS[i]!;
      if (s.limitValue !== 0xffff) {
        return fail(
          "guest-v8086-segment-limit",
          name(s.limit),
          s.limitValue,
          "is not 0xffff in virtual-8086 mode",
        );
      }
    }
    for (let i = 0; i < CODE_DATA_SEGS.length; i++) {
      const s = CODE_DATA_SEGS[i]!;
      if (s.arValue !== 0xf3) {
        return fail(
          "guest-v8086-segment-ar",
          name(s.ar),
          s.arValue,
          "is not 0xf3 in virtual-8086 mode",
        );
      }
    }
  } else {
    const p = codeDataArProblem(cs, ss, unrestricted, ia32e, pe);
    if (p) return p;
  }
  {
    const p = systemSegmentProblem(tr, ldtr, ia32e);
    if (p) return p;
  }

  // 27.3.1.3 Descriptor-table registers.
  for (let i = 0; i < GUEST_DT_BASES.length; i++) {
    const enc = GUEST_DT_BASES[i]!;
    if (!canonicalHi(hi32(vmcs, enc))) {
      const v = vmcs.read(enc);
      return fail("guest-descriptor-table-base-canonical", name(enc), v, "is not canonical");
    }
  }
  for (let i = 0; i < GUEST_DT_LIMITS.length; i++) {
    const enc = GUEST_DT_LIMITS[i]!;
    const v = u32(vmcs, enc);
    if (v > 0xffff) return fail("guest-descriptor-table-limit", name(enc), v, "sets bits 31:16");
  }

  // 27.3.1.4 RIP and RFLAGS.
  const ripHi = hi32(vmcs, GUEST_RIP);
  const long64 = ia32e && has(cs.arValue, VMX_AR_L_MASK);
  if (!long64 && ripHi !== 0) {
    return fail(
      "guest-rip-upper-bits",
      name(GUEST_RIP),
      vmcs.read(GUEST_RIP),
      "sets bits 63:32 outside 64-bit mode (IA-32e mode guest with CS.L = 1)",
    );
  }
  if (long64 && !canonicalHi(ripHi)) {
    const rip = vmcs.read(GUEST_RIP);
    return fail("guest-rip-canonical", name(GUEST_RIP), rip, "is not canonical in 64-bit mode");
  }
  if (((rflags & RFLAGS_RESERVED_LO) | hi32(vmcs, GUEST_RFLAGS)) !== 0 || (rflags & 0x2) === 0) {
    const v = vmcs.read(GUEST_RFLAGS);
    return fail(
      "guest-rflags-reserved-bits",
      name(GUEST_RFLAGS),
      v,
      (v & RFLAGS_RESERVED) !== 0n
        ? `sets reserved bits ${hex(v & RFLAGS_RESERVED)} (63:22, 15, 5, 3 must be 0)`
        : "clears bit 1, which must be 1",
    );
  }
  if (v8086 && (ia32e || !pe)) {
    return fail(
      "guest-rflags-vm",
      name(GUEST_RFLAGS),
      vmcs.read(GUEST_RFLAGS),
      `sets VM (bit 17) ${ia32e ? "for an IA-32e mode guest" : "with GUEST_CR0.PE = 0"}`,
    );
  }
  const injecting = has(c.intrInfo, INTR_INFO_VALID_MASK);
  const injType = c.intrInfo & INTR_INFO_INTR_TYPE_MASK;
  const injVector = c.intrInfo & INTR_INFO_VECTOR_MASK;
  const extInt = injecting && injType === INTR_TYPE_EXT_INTR;
  const nmi = injecting && injType === INTR_TYPE_NMI_INTR;
  if (extInt && (rflags & EFLAGS_IF_BIT) === 0) {
    return fail(
      "guest-rflags-if-ext-int",
      name(GUEST_RFLAGS),
      vmcs.read(GUEST_RFLAGS),
      `clears IF (bit 9) while injecting external interrupt ${injVector}`,
    );
  }

  // 27.3.1.5 Non-register state: activity state.
  const activity = u32(vmcs, GUEST_ACTIVITY_STATE);
  const intr = u32(vmcs, GUEST_INTERRUPTIBILITY_INFO);
  if (activity > GUEST_ACTIVITY_WAIT_SIPI) {
    return fail("guest-activity-state-range", name(GUEST_ACTIVITY_STATE), activity, "is not 0–3");
  }
  if (activity !== GUEST_ACTIVITY_ACTIVE) {
    const bit = ACTIVITY_MISC_BITS[activity]!;
    if (!has(k.miscLo, bit)) {
      return fail(
        "guest-activity-state-supported",
        name(GUEST_ACTIVITY_STATE),
        activity,
        `is an activity state IA32_VMX_MISC (bit ${Math.log2(bit)}) does not report`,
      );
    }
  }
  if (activity === GUEST_ACTIVITY_HLT && ss.dpl !== 0) {
    return fail(
      "guest-activity-hlt-ss-dpl",
      name(GUEST_ACTIVITY_STATE),
      activity,
      `is HLT but SS.DPL = ${ss.dpl} (${name(ss.ar)} = ${hex(ss.arValue)}); HLT needs SS.DPL = 0`,
    );
  }
  if (
    activity !== GUEST_ACTIVITY_ACTIVE &&
    (intr & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS)) !== 0
  ) {
    return fail(
      "guest-activity-blocking",
      name(GUEST_ACTIVITY_STATE),
      activity,
      `is not active while ${name(GUEST_INTERRUPTIBILITY_INFO)} = ${hex(intr)} blocks by STI or MOV SS`,
    );
  }
  if (injecting && activity !== GUEST_ACTIVITY_ACTIVE) {
    const allowed =
      activity === GUEST_ACTIVITY_HLT
        ? injType === INTR_TYPE_EXT_INTR ||
          injType === INTR_TYPE_NMI_INTR ||
          (injType === INTR_TYPE_HARD_EXCEPTION &&
            (injVector === DB_VECTOR || injVector === MC_VECTOR)) ||
          (injType === INTR_TYPE_OTHER_EVENT && injVector === 0)
        : activity === GUEST_ACTIVITY_SHUTDOWN
          ? injType === INTR_TYPE_NMI_INTR ||
            (injType === INTR_TYPE_HARD_EXCEPTION && injVector === MC_VECTOR)
          : false;
    if (!allowed) {
      return fail(
        "guest-activity-event-injection",
        name(GUEST_ACTIVITY_STATE),
        activity,
        `does not accept the event ${name(VM_ENTRY_INTR_INFO_FIELD)} = ${hex(c.intrInfo)} injects`,
      );
    }
  }

  // Interruptibility state.
  if ((intr & ~INTR_STATE_DEFINED) !== 0) {
    return fail(
      "guest-interruptibility-reserved-bits",
      name(GUEST_INTERRUPTIBILITY_INFO),
      intr,
      `sets reserved bits ${hex((intr & ~INTR_STATE_DEFINED) >>> 0)} (31:4 on this part)`,
    );
  }
  const sti = has(intr, GUEST_INTR_STATE_STI);
  const movss = has(intr, GUEST_INTR_STATE_MOV_SS);
  if (sti && movss) {
    return fail(
      "guest-interruptibility-sti-movss",
      name(GUEST_INTERRUPTIBILITY_INFO),
      intr,
      "sets blocking by both STI and MOV SS",
    );
  }
  if (sti && (rflags & EFLAGS_IF_BIT) === 0) {
    return fail(
      "guest-interruptibility-sti-if",
      name(GUEST_INTERRUPTIBILITY_INFO),
      intr,
      `sets blocking by STI while ${name(GUEST_RFLAGS)} = ${hex(vmcs.read(GUEST_RFLAGS))} has IF = 0`,
    );
  }
  if (extInt && (sti || movss)) {
    return fail(
      "guest-interruptibility-ext-int",
      name(GUEST_INTERRUPTIBILITY_INFO),
      intr,
      `blocks by ${sti ? "STI" : "MOV SS"} while an external interrupt is injected`,
    );
  }
  if (nmi && movss) {
    return fail(
      "guest-interruptibility-nmi-movss",
      name(GUEST_INTERRUPTIBILITY_INFO),
      intr,
      "blocks by MOV SS while an NMI is injected",
    );
  }
  if (has(intr, GUEST_INTR_STATE_SMI)) {
    return fail(
      "guest-interruptibility-smi",
      name(GUEST_INTERRUPTIBILITY_INFO),
      intr,
      "sets blocking by SMI outside SMM",
    );
  }
  if (nmi && has(c.pin, PIN_BASED_VIRTUAL_NMIS) && has(intr, GUEST_INTR_STATE_NMI)) {
    return fail(
      "guest-interruptibility-virtual-nmi",
      name(GUEST_INTERRUPTIBILITY_INFO),
      intr,
      "sets blocking by NMI while an NMI is injected with 'virtual NMIs'",
    );
  }

  // Pending debug exceptions.
  const pending = lo32(vmcs, GUEST_PENDING_DBG_EXCEPTIONS);
  if (((pending & ~PENDING_DBG_DEFINED_BITS) | hi32(vmcs, GUEST_PENDING_DBG_EXCEPTIONS)) !== 0) {
    const v = vmcs.read(GUEST_PENDING_DBG_EXCEPTIONS);
    return fail(
      "guest-pending-dbg-reserved-bits",
      name(GUEST_PENDING_DBG_EXCEPTIONS),
      v,
      `sets reserved bits ${hex(v & ~PENDING_DBG_DEFINED)}`,
    );
  }
  if (sti || movss || activity === GUEST_ACTIVITY_HLT) {
    const tf = (rflags & EFLAGS_TF_BIT) !== 0;
    const btf = (debugctl & DEBUGCTLMSR_BTF_BIT) !== 0;
    const bs = (pending & PENDING_DBG_BS_BIT) !== 0;
    const want = tf && !btf;
    if (bs !== want) {
      return fail(
        "guest-pending-dbg-bs",
        name(GUEST_PENDING_DBG_EXCEPTIONS),
        vmcs.read(GUEST_PENDING_DBG_EXCEPTIONS),
        `has BS = ${+bs} but RFLAGS.TF = ${+tf} and IA32_DEBUGCTL.BTF = ${+btf} require BS = ${+want} (with STI/MOV-SS blocking or HLT)`,
      );
    }
  }

  // VMCS link pointer (VMCS shadowing is not offered, so it must link to nothing).
  // (all ones: both halves -1)
  if ((lo32(vmcs, VMCS_LINK_POINTER) & hi32(vmcs, VMCS_LINK_POINTER)) !== -1) {
    return fail(
      "guest-vmcs-link-pointer",
      name(VMCS_LINK_POINTER),
      vmcs.read(VMCS_LINK_POINTER),
      "is not 0xffffffffffffffff",
      ENTRY_FAIL_VMCS_LINK_PTR,
    );
  }

  // 27.3.1.6 PDPTEs, when the guest will use PAE paging.
  if (pg && (cr4 & CR4_PAE_BIT) !== 0 && !ia32e) {
    const reservedHigh = ~((1n << BigInt(ctx.physAddrBits)) - 1n) & 0xffff_ffff_ffff_ffffn;
    const reservedMask = PDPTE_RESERVED_LOW | reservedHigh;
    if (ept) {
      for (let i = 0; i < GUEST_PDPTRS.length; i++) {
        const enc = GUEST_PDPTRS[i]!;
        const l = lo32(vmcs, enc);
        if ((l & 1) === 0) continue;
        if ((l & 0x1e6) === 0 && !beyondWidth(l, hi32(vmcs, enc), ctx.physAddrBits)) continue;
        const e = vmcs.read(enc);
        if ((e & PDPTE_P) !== 0n && (e & reservedMask) !== 0n) {
          return fail(
            "guest-pdpte-fields-reserved-bits",
            name(enc),
            e,
            `is present with reserved bits ${hex(e & reservedMask)}`,
            ENTRY_FAIL_PDPTE,
          );
        }
      }
    } else if (pdpte) {
      for (let i = 0; i < 4; i++) {
        const e = pdpte(i);
        if (e === undefined || (e & PDPTE_P) === 0n || (e & reservedMask) === 0n) continue;
        const cr3 = vmcs.read(GUEST_CR3);
        return failWith(
          "guest-pdpte-reserved-bits",
          name(GUEST_CR3),
          e,
          `PDPTE${i} = ${hex(e)} of the table at ${name(GUEST_CR3)} = ${hex(cr3)} is present with reserved bits ${hex(e & reservedMask)}`,
          ENTRY_FAIL_PDPTE,
        );
      }
    }
  }
  return null;
}

const GUEST_DT_BASES = [GUEST_GDTR_BASE, GUEST_IDTR_BASE] as const;
const GUEST_DT_LIMITS = [GUEST_GDTR_LIMIT, GUEST_IDTR_LIMIT] as const;
const GUEST_PDPTRS = [GUEST_PDPTR0, GUEST_PDPTR1, GUEST_PDPTR2, GUEST_PDPTR3] as const;
/** The IA32_VMX_MISC bit that reports each activity state (active needs none). */
const ACTIVITY_MISC_BITS = [
  0,
  VMX_MISC_ACTIVITY_HLT,
  VMX_MISC_ACTIVITY_SHUTDOWN,
  VMX_MISC_ACTIVITY_WAIT_SIPI,
] as const;

/** Access rights of CS, SS, DS, ES, FS, GS outside virtual-8086 mode (27.3.1.2). */
function codeDataArProblem(
  cs: Segment,
  ss: Segment,
  unrestricted: boolean,
  ia32e: boolean,
  pe: boolean,
): VmEntryFailure | null {
  const all = CODE_DATA_SEGS;
  const dataSegs = DATA_SEGS;
  // Type.
  const csCode =
    cs.type === TYPE_CODE_ACCESSED ||
    cs.type === TYPE_CODE_READ_ACCESSED ||
    cs.type === TYPE_CODE_CONFORMING_ACCESSED ||
    cs.type === TYPE_CODE_READ_CONFORMING_ACCESSED;
  if (!csCode && !(unrestricted && cs.type === TYPE_DATA_RW_ACCESSED)) {
    return fail(
      "guest-cs-type",
      name(cs.ar),
      cs.arValue,
      `has type ${cs.type}; CS needs 9, 11, 13 or 15${unrestricted ? " (or 3 with unrestricted guest)" : ""}`,
    );
  }
  if (ss.usable && ss.type !== TYPE_DATA_RW_ACCESSED && ss.type !== TYPE_DATA_RW_DOWN_ACCESSED) {
    return fail(
      "guest-ss-type",
      name(ss.ar),
      ss.arValue,
      `has type ${ss.type}; a usable SS needs 3 or 7`,
    );
  }
  for (let i = 0; i < dataSegs.length; i++) {
    const s = dataSegs[i]!;
    if (!s.usable) continue;
    if ((s.type & 1) === 0) {
      return fail(
        "guest-data-segment-type",
        name(s.ar),
        s.arValue,
        `has type ${s.type}, not accessed`,
      );
    }
    if ((s.type & 8) !== 0 && (s.type & 2) === 0) {
      return fail(
        "guest-data-segment-type",
        name(s.ar),
        s.arValue,
        `has type ${s.type}, an execute-only code segment`,
      );
    }
  }
  // S.
  for (let i = 0; i < all.length; i++) {
    const s = all[i]!;
    if ((s === cs || s.usable) && !has(s.arValue, VMX_AR_S_MASK)) {
      return fail("guest-segment-s", name(s.ar), s.arValue, `clears S (bit 4) for ${s.seg}`);
    }
  }
  // DPL.
  if (cs.type === TYPE_DATA_RW_ACCESSED && cs.dpl !== 0) {
    return fail(
      "guest-cs-dpl",
      name(cs.ar),
      cs.arValue,
      `has DPL ${cs.dpl}; a type-3 CS needs DPL 0`,
    );
  }
  if (
    (cs.type === TYPE_CODE_ACCESSED || cs.type === TYPE_CODE_READ_ACCESSED) &&
    cs.dpl !== ss.dpl
  ) {
    return fail(
      "guest-cs-dpl",
      name(cs.ar),
      cs.arValue,
      `has DPL ${cs.dpl} ≠ SS.DPL ${ss.dpl} for a non-conforming code segment`,
    );
  }
  if (
    (cs.type === TYPE_CODE_CONFORMING_ACCESSED || cs.type === TYPE_CODE_READ_CONFORMING_ACCESSED) &&
    cs.dpl > ss.dpl
  ) {
    return fail(
      "guest-cs-dpl",
      name(cs.ar),
      cs.arValue,
      `has DPL ${cs.dpl} > SS.DPL ${ss.dpl} for a conforming code segment`,
    );
  }
  if (!unrestricted && ss.dpl !== (ss.sel & 3)) {
    return fail(
      "guest-ss-dpl",
      name(ss.ar),
      ss.arValue,
      `has DPL ${ss.dpl} ≠ RPL ${ss.sel & 3} of ${name(ss.selector)} = ${hex(ss.sel)}`,
    );
  }
  if ((cs.type === TYPE_DATA_RW_ACCESSED || !pe) && ss.dpl !== 0) {
    return fail(
      "guest-ss-dpl",
      name(ss.ar),
      ss.arValue,
      `has DPL ${ss.dpl}; SS.DPL must be 0 ${pe ? "when CS has type 3" : "when GUEST_CR0.PE = 0"}`,
    );
  }
  if (!unrestricted) {
    for (let i = 0; i < dataSegs.length; i++) {
      const s = dataSegs[i]!;
      if (s.usable && s.type <= 11 && s.dpl < (s.sel & 3)) {
        return fail(
          "guest-data-segment-dpl",
          name(s.ar),
          s.arValue,
          `has DPL ${s.dpl} < RPL ${s.sel & 3} of ${name(s.selector)} = ${hex(s.sel)}`,
        );
      }
    }
  }
  // P.
  for (let i = 0; i < all.length; i++) {
    const s = all[i]!;
    if ((s === cs || s.usable) && !has(s.arValue, VMX_AR_P_MASK)) {
      return fail("guest-segment-present", name(s.ar), s.arValue, `clears P (bit 7) for ${s.seg}`);
    }
  }
  // Reserved bits 11:8 and 31:17.
  for (let i = 0; i < all.length; i++) {
    const s = all[i]!;
    if ((s === cs || s.usable) && (s.arValue & VMX_AR_RESERVD_MASK) !== 0) {
      return fail(
        "guest-segment-ar-reserved-bits",
        name(s.ar),
        s.arValue,
        `sets reserved bits ${hex((s.arValue & VMX_AR_RESERVD_MASK) >>> 0)} (11:8, 31:17)`,
      );
    }
  }
  // D/B.
  if (ia32e && has(cs.arValue, VMX_AR_L_MASK) && has(cs.arValue, VMX_AR_DB_MASK)) {
    return fail(
      "guest-cs-l-db",
      name(cs.ar),
      cs.arValue,
      "sets both L and D/B for an IA-32e mode guest",
    );
  }
  // G.
  for (let i = 0; i < all.length; i++) {
    const s = all[i]!;
    if (s !== cs && !s.usable) continue;
    const p = granularityProblem(s);
    if (p) return fail("guest-segment-limit-granularity", name(s.limit), s.limitValue, p);
  }
  return null;
}

/** TR and LDTR (27.3.1.2). */
function systemSegmentProblem(tr: Segment, ldtr: Segment, ia32e: boolean): VmEntryFailure | null {
  if (tr.type !== TYPE_BUSY_TSS && (ia32e || tr.type !== TYPE_BUSY_TSS16)) {
    return fail(
      "guest-tr-type",
      name(tr.ar),
      tr.arValue,
      `has type ${tr.type}; TR needs a busy TSS (11${ia32e ? " in IA-32e mode" : " or 3"})`,
    );
  }
  const trCommon = systemSegmentChecks(tr, "TR");
  if (trCommon) return trCommon;
  if (!tr.usable) {
    return fail("guest-tr-usable", name(tr.ar), tr.arValue, "marks TR unusable (bit 16)");
  }
  if (!ldtr.usable) return null;
  if (ldtr.type !== TYPE_LDT) {
    return fail(
      "guest-ldtr-type",
      name(ldtr.ar),
      ldtr.arValue,
      `has type ${ldtr.type}; a usable LDTR needs 2`,
    );
  }
  const ldtrCommon = systemSegmentChecks(ldtr, "LDTR");
  if (ldtrCommon) return ldtrCommon;
  return null;
}

// ---------------------------------------------------------------------------------------
// All three
// ---------------------------------------------------------------------------------------

/** The VM-entry checks in the SDM's order (controls, host state, guest state); the first failure wins. */
export function vmEntryChecks(
  vmcs: VmcsReader,
  ctx: VmEntryContext,
  pdpte?: (i: number) => bigint | undefined,
): VmEntryFailure | null {
  // The controls are read once: no check writes the VMCS.
  const c = readControls(vmcs);
  return (
    vmxControlsProblem(vmcs, ctx, c) ??
    hostStateProblem(vmcs, ctx, c) ??
    guestStateProblem(vmcs, ctx, c, pdpte)
  );
}
