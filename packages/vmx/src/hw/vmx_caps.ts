/**
 * What this VT-x implementation supports, as the capability MSRs report it (SDM Vol. 3D
 * App. A): a SandyBridge-class part plus EPT, VPID and unrestricted guest. kvm_intel's
 * setup_vmcs_config reads these with RDMSR; VM entry checks controls against them.
 *
 * A control is offered only where the hardware model implements it: no TPR shadow, APIC
 * virtualization, posted interrupts, PML, VMCS shadowing or VM functions.
 */

import {
  MSR_IA32_VMX_BASIC,
  MSR_IA32_VMX_CR0_FIXED0,
  MSR_IA32_VMX_CR0_FIXED1,
  MSR_IA32_VMX_CR4_FIXED0,
  MSR_IA32_VMX_CR4_FIXED1,
  MSR_IA32_VMX_ENTRY_CTLS,
  MSR_IA32_VMX_EPT_VPID_CAP,
  MSR_IA32_VMX_EXIT_CTLS,
  MSR_IA32_VMX_MISC,
  MSR_IA32_VMX_PINBASED_CTLS,
  MSR_IA32_VMX_PROCBASED_CTLS,
  MSR_IA32_VMX_PROCBASED_CTLS2,
  MSR_IA32_VMX_TRUE_ENTRY_CTLS,
  MSR_IA32_VMX_TRUE_EXIT_CTLS,
  MSR_IA32_VMX_TRUE_PINBASED_CTLS,
  MSR_IA32_VMX_TRUE_PROCBASED_CTLS,
  MSR_IA32_VMX_VMCS_ENUM,
} from "../asm/vmx.js";
import { VMCS_FIELDS } from "../vmcs-fields.js";

const bits = (...b: number[]): number => b.reduce((v, n) => v | (1 << n), 0) >>> 0;

/** allowed-0 (must be 1) in bits 31:0, allowed-1 (may be 1) in bits 63:32. */
const ctls = (must1: number, may1: number): bigint =>
  (BigInt((may1 | must1) >>> 0) << 32n) | BigInt(must1 >>> 0);

/** VMCS revision identifier (IA32_VMX_BASIC[30:0]). */
export const VMCS_REVISION_ID = 0x10;
/** VMXON region and VMCS size in bytes (IA32_VMX_BASIC[44:32]). */
export const VMCS_SIZE = 0x1000;
/** Physical-address width the VMX structures may use (MAXPHYADDR). */
export const VMX_PHYS_ADDR_BITS = 36;

/** Default1 controls (SDM A.2–A.5): must be 1 unless the TRUE MSRs allow otherwise. */
export const PIN_BASED_ALWAYSON_WITHOUT_TRUE_MSR = 0x16;
export const CPU_BASED_ALWAYSON_WITHOUT_TRUE_MSR = 0x0401_e172;
export const VM_EXIT_ALWAYSON_WITHOUT_TRUE_MSR = 0x0003_6dff;
export const VM_ENTRY_ALWAYSON_WITHOUT_TRUE_MSR = 0x11ff;

/** Pin-based: external-interrupt exiting, NMI exiting, virtual NMIs, preemption timer. */
const PIN_MAY1 = bits(0, 3, 5, 6);
/**
 * Primary: interrupt window, TSC offsetting, HLT, INVLPG, MWAIT, RDPMC, RDTSC, CR3
 * load/store, CR8 load/store, NMI window, MOV-DR, unconditional I/O, I/O bitmaps, MSR
 * bitmaps, MONITOR, PAUSE, secondary controls.
 */
const PROC_MAY1 = bits(2, 3, 7, 9, 10, 11, 12, 15, 16, 19, 20, 22, 23, 24, 25, 28, 29, 30, 31);
/** Secondary: EPT, RDTSCP, VPID, WBINVD exiting, unrestricted guest. */
const PROC2_MAY1 = bits(1, 3, 5, 6, 7);
/** Exit: host address-space size, ack interrupt on exit, save/load PAT and EFER, save timer. */
const EXIT_MAY1 = bits(9, 15, 18, 19, 20, 21, 22);
/** Entry: IA-32e mode guest, load PAT, load EFER. */
const ENTRY_MAY1 = bits(9, 14, 15);

export interface VmxCapabilities {
  /** MSR number → value, for every capability MSR this part has. */
  readonly msrs: ReadonlyMap<number, bigint>;
  readonly revisionId: number;
  readonly physAddrBits: number;
}

/** IA32_VMX_BASIC: revision, 4 KiB regions, WB, INS/OUTS info, TRUE controls. */
export const IA32_VMX_BASIC_VALUE =
  (1n << 55n) | (1n << 54n) | (6n << 50n) | (BigInt(VMCS_SIZE) << 32n) | BigInt(VMCS_REVISION_ID);

/**
 * IA32_VMX_MISC: preemption timer at TSC/32, EFER.LMA stored on exit, HLT/shutdown/
 * wait-for-SIPI activity states, 4 CR3-target values, 512 MSR-list entries.
 */
export const IA32_VMX_MISC_VALUE = BigInt(
  5 | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (4 << 16),
);

/**
 * IA32_VMX_EPT_VPID_CAP: execute-only, 4-level walk, UC and WB tables, 2 MiB pages,
 * INVEPT single/all-context, INVVPID individual/single/all/single-non-global.
 */
export const IA32_VMX_EPT_VPID_CAP_VALUE =
  BigInt(bits(0, 6, 8, 14, 16, 20, 25, 26)) | (BigInt(bits(0, 8, 9, 10, 11)) << 32n);

/** CR0 bits fixed to 1 / allowed to be 1 in VMX operation; CR4 likewise (VMXE fixed to 1). */
export const IA32_VMX_CR0_FIXED0_VALUE = 0x8000_0021n;
export const IA32_VMX_CR0_FIXED1_VALUE = 0xffff_ffffn;
export const IA32_VMX_CR4_FIXED0_VALUE = 0x2000n;
/** The CR4 bits the x86 core implements: VME … OSXMMEXCPT, VMXE, SMXE, FSGSBASE, PCIDE, OSXSAVE, SMEP, SMAP. */
export const IA32_VMX_CR4_FIXED1_VALUE = 0x0037_67ffn;

/** The highest field index of any encoding this part supports (IA32_VMX_VMCS_ENUM[9:1]). */
const HIGHEST_FIELD_INDEX = VMCS_FIELDS.reduce((m, f) => Math.max(m, (f.encoding >> 1) & 0x1ff), 0);

/** The capability MSRs of this part (numbers as in msr-index.h). */
export function vmxCapabilities(highestFieldIndex = HIGHEST_FIELD_INDEX): VmxCapabilities {
  const msrs = new Map<number, bigint>([
    [MSR_IA32_VMX_BASIC, IA32_VMX_BASIC_VALUE],
    [MSR_IA32_VMX_PINBASED_CTLS, ctls(PIN_BASED_ALWAYSON_WITHOUT_TRUE_MSR, PIN_MAY1)],
    [MSR_IA32_VMX_PROCBASED_CTLS, ctls(CPU_BASED_ALWAYSON_WITHOUT_TRUE_MSR, PROC_MAY1)],
    [MSR_IA32_VMX_EXIT_CTLS, ctls(VM_EXIT_ALWAYSON_WITHOUT_TRUE_MSR, EXIT_MAY1)],
    [MSR_IA32_VMX_ENTRY_CTLS, ctls(VM_ENTRY_ALWAYSON_WITHOUT_TRUE_MSR, ENTRY_MAY1)],
    [MSR_IA32_VMX_MISC, IA32_VMX_MISC_VALUE],
    [MSR_IA32_VMX_CR0_FIXED0, IA32_VMX_CR0_FIXED0_VALUE],
    [MSR_IA32_VMX_CR0_FIXED1, IA32_VMX_CR0_FIXED1_VALUE],
    [MSR_IA32_VMX_CR4_FIXED0, IA32_VMX_CR4_FIXED0_VALUE],
    [MSR_IA32_VMX_CR4_FIXED1, IA32_VMX_CR4_FIXED1_VALUE],
    [MSR_IA32_VMX_VMCS_ENUM, BigInt(highestFieldIndex << 1)],
    [MSR_IA32_VMX_PROCBASED_CTLS2, ctls(0, PROC2_MAY1)],
    [MSR_IA32_VMX_EPT_VPID_CAP, IA32_VMX_EPT_VPID_CAP_VALUE],
    // TRUE controls: CR3-load/store exiting (primary 15, 16) and the debug-controls
    // save/load bits (exit 2, entry 2) may be cleared.
    [MSR_IA32_VMX_TRUE_PINBASED_CTLS, ctls(PIN_BASED_ALWAYSON_WITHOUT_TRUE_MSR, PIN_MAY1)],
    [
      MSR_IA32_VMX_TRUE_PROCBASED_CTLS,
      ctls(CPU_BASED_ALWAYSON_WITHOUT_TRUE_MSR & ~bits(15, 16), PROC_MAY1 | bits(15, 16)),
    ],
    [
      MSR_IA32_VMX_TRUE_EXIT_CTLS,
      ctls(VM_EXIT_ALWAYSON_WITHOUT_TRUE_MSR & ~bits(2), EXIT_MAY1 | bits(2)),
    ],
    [
      MSR_IA32_VMX_TRUE_ENTRY_CTLS,
      ctls(VM_ENTRY_ALWAYSON_WITHOUT_TRUE_MSR & ~bits(2), ENTRY_MAY1 | bits(2)),
    ],
  ]);
  return { msrs, revisionId: VMCS_REVISION_ID, physAddrBits: VMX_PHYS_ADDR_BITS };
}

/** A control value is allowed by a capability MSR: every must-be-1 set, no may-not-be-1 set. */
export function vmxControlAllowed(cap: bigint, value: number): boolean {
  const must1 = Number(cap & 0xffff_ffffn);
  const may1 = Number(cap >> 32n);
  return (value & must1) >>> 0 === must1 && (value & ~may1) >>> 0 === 0;
}
