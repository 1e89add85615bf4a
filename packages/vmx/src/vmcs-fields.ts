/**
 * VMCS field metadata (SDM Vol. 3C App. B): for every field this implementation knows,
 * its Linux name, encoding, width, encoding type, SDM area and whether it is read-only.
 * The numbers come from asm/vmx.ts; width and type are decoded from the encoding.
 *
 * Encoding layout: bit 0 access type (1 = high half of a 64-bit field), bits 9:1 index,
 * bits 11:10 type, bit 12 reserved, bits 14:13 width, bits 31:15 reserved.
 */
import {
  APIC_ACCESS_ADDR,
  CPU_BASED_VM_EXEC_CONTROL,
  CR0_GUEST_HOST_MASK,
  CR0_READ_SHADOW,
  CR3_TARGET_COUNT,
  CR3_TARGET_VALUE0,
  CR3_TARGET_VALUE1,
  CR3_TARGET_VALUE2,
  CR3_TARGET_VALUE3,
  CR4_GUEST_HOST_MASK,
  CR4_READ_SHADOW,
  ENCLS_EXITING_BITMAP,
  EOI_EXIT_BITMAP0,
  EOI_EXIT_BITMAP1,
  EOI_EXIT_BITMAP2,
  EOI_EXIT_BITMAP3,
  EPT_POINTER,
  EPTP_INDEX,
  EPTP_LIST_ADDRESS,
  EXCEPTION_BITMAP,
  EXECUTIVE_VMCS_POINTER,
  EXIT_QUALIFICATION,
  GUEST_ACTIVITY_STATE,
  GUEST_BNDCFGS,
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
  GUEST_IA32_PERF_GLOBAL_CTRL,
  GUEST_IA32_RTIT_CTL,
  GUEST_IDTR_BASE,
  GUEST_IDTR_LIMIT,
  GUEST_INTERRUPTIBILITY_INFO,
  GUEST_INTR_STATUS,
  GUEST_LDTR_AR_BYTES,
  GUEST_LDTR_BASE,
  GUEST_LDTR_LIMIT,
  GUEST_LDTR_SELECTOR,
  GUEST_LINEAR_ADDRESS,
  GUEST_PDPTR0,
  GUEST_PDPTR1,
  GUEST_PDPTR2,
  GUEST_PDPTR3,
  GUEST_PENDING_DBG_EXCEPTIONS,
  GUEST_PHYSICAL_ADDRESS,
  GUEST_PML_INDEX,
  GUEST_RFLAGS,
  GUEST_RIP,
  GUEST_RSP,
  GUEST_S_CET,
  GUEST_SMBASE,
  GUEST_SS_AR_BYTES,
  GUEST_SS_BASE,
  GUEST_SS_LIMIT,
  GUEST_SS_SELECTOR,
  GUEST_SYSENTER_CS,
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
  HOST_IA32_PERF_GLOBAL_CTRL,
  HOST_IA32_SYSENTER_CS,
  HOST_IA32_SYSENTER_EIP,
  HOST_IA32_SYSENTER_ESP,
  HOST_IDTR_BASE,
  HOST_RIP,
  HOST_RSP,
  HOST_S_CET,
  HOST_SS_SELECTOR,
  HOST_TR_BASE,
  HOST_TR_SELECTOR,
  IDT_VECTORING_ERROR_CODE,
  IDT_VECTORING_INFO_FIELD,
  IO_BITMAP_A,
  IO_BITMAP_B,
  IO_RCX,
  IO_RDI,
  IO_RIP,
  IO_RSI,
  LAST_PID_POINTER_INDEX,
  MSR_BITMAP,
  NOTIFY_WINDOW,
  PAGE_FAULT_ERROR_CODE_MASK,
  PAGE_FAULT_ERROR_CODE_MATCH,
  PID_POINTER_TABLE,
  PIN_BASED_VM_EXEC_CONTROL,
  PLE_GAP,
  PLE_WINDOW,
  PML_ADDRESS,
  POSTED_INTR_DESC_ADDR,
  POSTED_INTR_NV,
  SECONDARY_VM_EXEC_CONTROL,
  TERTIARY_VM_EXEC_CONTROL,
  TPR_THRESHOLD,
  TSC_MULTIPLIER,
  TSC_OFFSET,
  VE_INFORMATION_ADDRESS,
  VIRTUAL_APIC_PAGE_ADDR,
  VIRTUAL_PROCESSOR_ID,
  VM_ENTRY_CONTROLS,
  VM_ENTRY_EXCEPTION_ERROR_CODE,
  VM_ENTRY_INSTRUCTION_LEN,
  VM_ENTRY_INTR_INFO_FIELD,
  VM_ENTRY_MSR_LOAD_ADDR,
  VM_ENTRY_MSR_LOAD_COUNT,
  VM_EXIT_CONTROLS,
  VM_EXIT_INSTRUCTION_LEN,
  VM_EXIT_INTR_ERROR_CODE,
  VM_EXIT_INTR_INFO,
  VM_EXIT_MSR_LOAD_ADDR,
  VM_EXIT_MSR_LOAD_COUNT,
  VM_EXIT_MSR_STORE_ADDR,
  VM_EXIT_MSR_STORE_COUNT,
  VM_EXIT_REASON,
  VM_FUNCTION_CONTROL,
  VM_INSTRUCTION_ERROR,
  VMCS_LINK_POINTER,
  VMREAD_BITMAP,
  VMWRITE_BITMAP,
  VMX_INSTRUCTION_INFO,
  VMX_PREEMPTION_TIMER_VALUE,
  XSS_EXIT_BITMAP,
} from "./asm/vmx.js";

export type VmcsWidth = 16 | 32 | 64 | "natural";
export type VmcsType = "control" | "exit-info" | "guest" | "host";
/** The SDM's VMCS areas (Vol. 3C 25.3–25.9): where a field lives. */
export type VmcsArea =
  | "guest-state"
  | "host-state"
  | "vm-execution-control"
  | "vm-exit-control"
  | "vm-entry-control"
  | "vm-exit-information";

export interface VmcsFieldInfo {
  /** Linux's name (asm/vmx.h), or Bochs' / kvm-unit-tests' where Linux has none. */
  readonly name: string;
  /** The full encoding (bit 0 clear). */
  readonly encoding: number;
  readonly width: VmcsWidth;
  readonly type: VmcsType;
  readonly area: VmcsArea;
  /** VM-exit information fields: VMWRITE fails with error 13 unless IA32_VMX_MISC[29]. */
  readonly readOnly: boolean;
}

/** Encoding bits 14:13 (Linux's enum vmcs_field_width). */
export const VMCS_FIELD_WIDTH_U16 = 0;
export const VMCS_FIELD_WIDTH_U64 = 1;
export const VMCS_FIELD_WIDTH_U32 = 2;
export const VMCS_FIELD_WIDTH_NATURAL_WIDTH = 3;

/** Encoding bits 11:10. */
export const VMCS_FIELD_TYPE_CONTROL = 0;
export const VMCS_FIELD_TYPE_VMEXIT_INFORMATION = 1;
export const VMCS_FIELD_TYPE_GUEST = 2;
export const VMCS_FIELD_TYPE_HOST = 3;

/** Bits that must be 0 in a field encoding: 31:16, 15 and 12. */
export const VMCS_ENCODING_RESERVED_MASK = 0xffff9000;

const WIDTHS: readonly VmcsWidth[] = [16, 64, 32, "natural"];
const TYPES: readonly VmcsType[] = ["control", "exit-info", "guest", "host"];

/** Encoding bits 14:13: 0 = 16-bit, 1 = 64-bit, 2 = 32-bit, 3 = natural width. */
export function vmcsFieldWidthBits(enc: number): 0 | 1 | 2 | 3 {
  return ((enc >>> 13) & 3) as 0 | 1 | 2 | 3;
}

/** Encoding bits 11:10: 0 = control, 1 = VM-exit information, 2 = guest state, 3 = host state. */
export function vmcsFieldType(enc: number): 0 | 1 | 2 | 3 {
  return ((enc >>> 10) & 3) as 0 | 1 | 2 | 3;
}

/** Encoding bits 9:1: the index within the field's width/type group. */
export function vmcsFieldIndex(enc: number): number {
  return (enc >>> 1) & 0x1ff;
}

/** Encoding bit 0: the access reads or writes bits 63:32 of a 64-bit field. */
export function vmcsFieldIsHigh(enc: number): boolean {
  return (enc & 1) !== 0;
}

/**
 * Any of bits 31:16, 15 or 12 set (VMREAD/VMWRITE then fail with error 12). A value that is
 * not a 32-bit unsigned integer — e.g. a 64-bit register operand with bits 63:32 set —
 * counts as reserved too.
 */
export function vmcsEncodingReserved(enc: number): boolean {
  if (!Number.isInteger(enc) || enc < 0 || enc > 0xffffffff) return true;
  return (enc & VMCS_ENCODING_RESERVED_MASK) !== 0;
}

function area(where: VmcsArea, fields: ReadonlyArray<readonly [number, string]>): VmcsFieldInfo[] {
  return fields.map(([encoding, name]) => {
    const type = TYPES[vmcsFieldType(encoding)]!;
    return {
      name,
      encoding,
      width: WIDTHS[vmcsFieldWidthBits(encoding)]!,
      type,
      area: where,
      readOnly: type === "exit-info",
    };
  });
}

/**
 * Every supported field (full encodings only), grouped by SDM area in the SDM's order;
 * within an area by width (16, 64, 32, natural) and then encoding.
 */
export const VMCS_FIELDS: readonly VmcsFieldInfo[] = [
  // Guest-state area (SDM 25.4)
  ...area("guest-state", [
    [GUEST_ES_SELECTOR, "GUEST_ES_SELECTOR"],
    [GUEST_CS_SELECTOR, "GUEST_CS_SELECTOR"],
    [GUEST_SS_SELECTOR, "GUEST_SS_SELECTOR"],
    [GUEST_DS_SELECTOR, "GUEST_DS_SELECTOR"],
    [GUEST_FS_SELECTOR, "GUEST_FS_SELECTOR"],
    [GUEST_GS_SELECTOR, "GUEST_GS_SELECTOR"],
    [GUEST_LDTR_SELECTOR, "GUEST_LDTR_SELECTOR"],
    [GUEST_TR_SELECTOR, "GUEST_TR_SELECTOR"],
    [GUEST_INTR_STATUS, "GUEST_INTR_STATUS"],
    [GUEST_PML_INDEX, "GUEST_PML_INDEX"],
    [VMCS_LINK_POINTER, "VMCS_LINK_POINTER"],
    [GUEST_IA32_DEBUGCTL, "GUEST_IA32_DEBUGCTL"],
    [GUEST_IA32_PAT, "GUEST_IA32_PAT"],
    [GUEST_IA32_EFER, "GUEST_IA32_EFER"],
    [GUEST_IA32_PERF_GLOBAL_CTRL, "GUEST_IA32_PERF_GLOBAL_CTRL"],
    [GUEST_PDPTR0, "GUEST_PDPTR0"],
    [GUEST_PDPTR1, "GUEST_PDPTR1"],
    [GUEST_PDPTR2, "GUEST_PDPTR2"],
    [GUEST_PDPTR3, "GUEST_PDPTR3"],
    [GUEST_BNDCFGS, "GUEST_BNDCFGS"],
    [GUEST_IA32_RTIT_CTL, "GUEST_IA32_RTIT_CTL"],
    [GUEST_ES_LIMIT, "GUEST_ES_LIMIT"],
    [GUEST_CS_LIMIT, "GUEST_CS_LIMIT"],
    [GUEST_SS_LIMIT, "GUEST_SS_LIMIT"],
    [GUEST_DS_LIMIT, "GUEST_DS_LIMIT"],
    [GUEST_FS_LIMIT, "GUEST_FS_LIMIT"],
    [GUEST_GS_LIMIT, "GUEST_GS_LIMIT"],
    [GUEST_LDTR_LIMIT, "GUEST_LDTR_LIMIT"],
    [GUEST_TR_LIMIT, "GUEST_TR_LIMIT"],
    [GUEST_GDTR_LIMIT, "GUEST_GDTR_LIMIT"],
    [GUEST_IDTR_LIMIT, "GUEST_IDTR_LIMIT"],
    [GUEST_ES_AR_BYTES, "GUEST_ES_AR_BYTES"],
    [GUEST_CS_AR_BYTES, "GUEST_CS_AR_BYTES"],
    [GUEST_SS_AR_BYTES, "GUEST_SS_AR_BYTES"],
    [GUEST_DS_AR_BYTES, "GUEST_DS_AR_BYTES"],
    [GUEST_FS_AR_BYTES, "GUEST_FS_AR_BYTES"],
    [GUEST_GS_AR_BYTES, "GUEST_GS_AR_BYTES"],
    [GUEST_LDTR_AR_BYTES, "GUEST_LDTR_AR_BYTES"],
    [GUEST_TR_AR_BYTES, "GUEST_TR_AR_BYTES"],
    [GUEST_INTERRUPTIBILITY_INFO, "GUEST_INTERRUPTIBILITY_INFO"],
    [GUEST_ACTIVITY_STATE, "GUEST_ACTIVITY_STATE"],
    [GUEST_SMBASE, "GUEST_SMBASE"],
    [GUEST_SYSENTER_CS, "GUEST_SYSENTER_CS"],
    [VMX_PREEMPTION_TIMER_VALUE, "VMX_PREEMPTION_TIMER_VALUE"],
    [GUEST_CR0, "GUEST_CR0"],
    [GUEST_CR3, "GUEST_CR3"],
    [GUEST_CR4, "GUEST_CR4"],
    [GUEST_ES_BASE, "GUEST_ES_BASE"],
    [GUEST_CS_BASE, "GUEST_CS_BASE"],
    [GUEST_SS_BASE, "GUEST_SS_BASE"],
    [GUEST_DS_BASE, "GUEST_DS_BASE"],
    [GUEST_FS_BASE, "GUEST_FS_BASE"],
    [GUEST_GS_BASE, "GUEST_GS_BASE"],
    [GUEST_LDTR_BASE, "GUEST_LDTR_BASE"],
    [GUEST_TR_BASE, "GUEST_TR_BASE"],
    [GUEST_GDTR_BASE, "GUEST_GDTR_BASE"],
    [GUEST_IDTR_BASE, "GUEST_IDTR_BASE"],
    [GUEST_DR7, "GUEST_DR7"],
    [GUEST_RSP, "GUEST_RSP"],
    [GUEST_RIP, "GUEST_RIP"],
    [GUEST_RFLAGS, "GUEST_RFLAGS"],
    [GUEST_PENDING_DBG_EXCEPTIONS, "GUEST_PENDING_DBG_EXCEPTIONS"],
    [GUEST_SYSENTER_ESP, "GUEST_SYSENTER_ESP"],
    [GUEST_SYSENTER_EIP, "GUEST_SYSENTER_EIP"],
    [GUEST_S_CET, "GUEST_S_CET"],
  ]),
  // Host-state area (SDM 25.5)
  ...area("host-state", [
    [HOST_ES_SELECTOR, "HOST_ES_SELECTOR"],
    [HOST_CS_SELECTOR, "HOST_CS_SELECTOR"],
    [HOST_SS_SELECTOR, "HOST_SS_SELECTOR"],
    [HOST_DS_SELECTOR, "HOST_DS_SELECTOR"],
    [HOST_FS_SELECTOR, "HOST_FS_SELECTOR"],
    [HOST_GS_SELECTOR, "HOST_GS_SELECTOR"],
    [HOST_TR_SELECTOR, "HOST_TR_SELECTOR"],
    [HOST_IA32_PAT, "HOST_IA32_PAT"],
    [HOST_IA32_EFER, "HOST_IA32_EFER"],
    [HOST_IA32_PERF_GLOBAL_CTRL, "HOST_IA32_PERF_GLOBAL_CTRL"],
    [HOST_IA32_SYSENTER_CS, "HOST_IA32_SYSENTER_CS"],
    [HOST_CR0, "HOST_CR0"],
    [HOST_CR3, "HOST_CR3"],
    [HOST_CR4, "HOST_CR4"],
    [HOST_FS_BASE, "HOST_FS_BASE"],
    [HOST_GS_BASE, "HOST_GS_BASE"],
    [HOST_TR_BASE, "HOST_TR_BASE"],
    [HOST_GDTR_BASE, "HOST_GDTR_BASE"],
    [HOST_IDTR_BASE, "HOST_IDTR_BASE"],
    [HOST_IA32_SYSENTER_ESP, "HOST_IA32_SYSENTER_ESP"],
    [HOST_IA32_SYSENTER_EIP, "HOST_IA32_SYSENTER_EIP"],
    [HOST_RSP, "HOST_RSP"],
    [HOST_RIP, "HOST_RIP"],
    [HOST_S_CET, "HOST_S_CET"],
  ]),
  // VM-execution control fields (SDM 25.6)
  ...area("vm-execution-control", [
    [VIRTUAL_PROCESSOR_ID, "VIRTUAL_PROCESSOR_ID"],
    [POSTED_INTR_NV, "POSTED_INTR_NV"],
    [EPTP_INDEX, "EPTP_INDEX"],
    [LAST_PID_POINTER_INDEX, "LAST_PID_POINTER_INDEX"],
    [IO_BITMAP_A, "IO_BITMAP_A"],
    [IO_BITMAP_B, "IO_BITMAP_B"],
    [MSR_BITMAP, "MSR_BITMAP"],
    [EXECUTIVE_VMCS_POINTER, "EXECUTIVE_VMCS_POINTER"],
    [PML_ADDRESS, "PML_ADDRESS"],
    [TSC_OFFSET, "TSC_OFFSET"],
    [VIRTUAL_APIC_PAGE_ADDR, "VIRTUAL_APIC_PAGE_ADDR"],
    [APIC_ACCESS_ADDR, "APIC_ACCESS_ADDR"],
    [POSTED_INTR_DESC_ADDR, "POSTED_INTR_DESC_ADDR"],
    [VM_FUNCTION_CONTROL, "VM_FUNCTION_CONTROL"],
    [EPT_POINTER, "EPT_POINTER"],
    [EOI_EXIT_BITMAP0, "EOI_EXIT_BITMAP0"],
    [EOI_EXIT_BITMAP1, "EOI_EXIT_BITMAP1"],
    [EOI_EXIT_BITMAP2, "EOI_EXIT_BITMAP2"],
    [EOI_EXIT_BITMAP3, "EOI_EXIT_BITMAP3"],
    [EPTP_LIST_ADDRESS, "EPTP_LIST_ADDRESS"],
    [VMREAD_BITMAP, "VMREAD_BITMAP"],
    [VMWRITE_BITMAP, "VMWRITE_BITMAP"],
    [VE_INFORMATION_ADDRESS, "VE_INFORMATION_ADDRESS"],
    [XSS_EXIT_BITMAP, "XSS_EXIT_BITMAP"],
    [ENCLS_EXITING_BITMAP, "ENCLS_EXITING_BITMAP"],
    [TSC_MULTIPLIER, "TSC_MULTIPLIER"],
    [TERTIARY_VM_EXEC_CONTROL, "TERTIARY_VM_EXEC_CONTROL"],
    [PID_POINTER_TABLE, "PID_POINTER_TABLE"],
    [PIN_BASED_VM_EXEC_CONTROL, "PIN_BASED_VM_EXEC_CONTROL"],
    [CPU_BASED_VM_EXEC_CONTROL, "CPU_BASED_VM_EXEC_CONTROL"],
    [EXCEPTION_BITMAP, "EXCEPTION_BITMAP"],
    [PAGE_FAULT_ERROR_CODE_MASK, "PAGE_FAULT_ERROR_CODE_MASK"],
    [PAGE_FAULT_ERROR_CODE_MATCH, "PAGE_FAULT_ERROR_CODE_MATCH"],
    [CR3_TARGET_COUNT, "CR3_TARGET_COUNT"],
    [TPR_THRESHOLD, "TPR_THRESHOLD"],
    [SECONDARY_VM_EXEC_CONTROL, "SECONDARY_VM_EXEC_CONTROL"],
    [PLE_GAP, "PLE_GAP"],
    [PLE_WINDOW, "PLE_WINDOW"],
    [NOTIFY_WINDOW, "NOTIFY_WINDOW"],
    [CR0_GUEST_HOST_MASK, "CR0_GUEST_HOST_MASK"],
    [CR4_GUEST_HOST_MASK, "CR4_GUEST_HOST_MASK"],
    [CR0_READ_SHADOW, "CR0_READ_SHADOW"],
    [CR4_READ_SHADOW, "CR4_READ_SHADOW"],
    [CR3_TARGET_VALUE0, "CR3_TARGET_VALUE0"],
    [CR3_TARGET_VALUE1, "CR3_TARGET_VALUE1"],
    [CR3_TARGET_VALUE2, "CR3_TARGET_VALUE2"],
    [CR3_TARGET_VALUE3, "CR3_TARGET_VALUE3"],
  ]),
  // VM-exit control fields (SDM 25.7)
  ...area("vm-exit-control", [
    [VM_EXIT_MSR_STORE_ADDR, "VM_EXIT_MSR_STORE_ADDR"],
    [VM_EXIT_MSR_LOAD_ADDR, "VM_EXIT_MSR_LOAD_ADDR"],
    [VM_EXIT_CONTROLS, "VM_EXIT_CONTROLS"],
    [VM_EXIT_MSR_STORE_COUNT, "VM_EXIT_MSR_STORE_COUNT"],
    [VM_EXIT_MSR_LOAD_COUNT, "VM_EXIT_MSR_LOAD_COUNT"],
  ]),
  // VM-entry control fields (SDM 25.8)
  ...area("vm-entry-control", [
    [VM_ENTRY_MSR_LOAD_ADDR, "VM_ENTRY_MSR_LOAD_ADDR"],
    [VM_ENTRY_CONTROLS, "VM_ENTRY_CONTROLS"],
    [VM_ENTRY_MSR_LOAD_COUNT, "VM_ENTRY_MSR_LOAD_COUNT"],
    [VM_ENTRY_INTR_INFO_FIELD, "VM_ENTRY_INTR_INFO_FIELD"],
    [VM_ENTRY_EXCEPTION_ERROR_CODE, "VM_ENTRY_EXCEPTION_ERROR_CODE"],
    [VM_ENTRY_INSTRUCTION_LEN, "VM_ENTRY_INSTRUCTION_LEN"],
  ]),
  // VM-exit information fields (SDM 25.9), read-only
  ...area("vm-exit-information", [
    [GUEST_PHYSICAL_ADDRESS, "GUEST_PHYSICAL_ADDRESS"],
    [VM_INSTRUCTION_ERROR, "VM_INSTRUCTION_ERROR"],
    [VM_EXIT_REASON, "VM_EXIT_REASON"],
    [VM_EXIT_INTR_INFO, "VM_EXIT_INTR_INFO"],
    [VM_EXIT_INTR_ERROR_CODE, "VM_EXIT_INTR_ERROR_CODE"],
    [IDT_VECTORING_INFO_FIELD, "IDT_VECTORING_INFO_FIELD"],
    [IDT_VECTORING_ERROR_CODE, "IDT_VECTORING_ERROR_CODE"],
    [VM_EXIT_INSTRUCTION_LEN, "VM_EXIT_INSTRUCTION_LEN"],
    [VMX_INSTRUCTION_INFO, "VMX_INSTRUCTION_INFO"],
    [EXIT_QUALIFICATION, "EXIT_QUALIFICATION"],
    [IO_RCX, "IO_RCX"],
    [IO_RSI, "IO_RSI"],
    [IO_RDI, "IO_RDI"],
    [IO_RIP, "IO_RIP"],
    [GUEST_LINEAR_ADDRESS, "GUEST_LINEAR_ADDRESS"],
  ]),
];

const BY_ENCODING: ReadonlyMap<number, VmcsFieldInfo> = new Map(
  VMCS_FIELDS.map((f) => [f.encoding, f]),
);

/** Field name → field ("GUEST_RIP" → …); full names only, no _HIGH. */
export const VMCS_FIELD_BY_NAME: ReadonlyMap<string, VmcsFieldInfo> = new Map(
  VMCS_FIELDS.map((f) => [f.name, f]),
);

/**
 * The field an encoding accesses. A high encoding (bit 0 set) of a 64-bit field maps to
 * that field; a high encoding of any other width, a reserved encoding or an unknown one
 * gives `undefined`.
 */
export function vmcsFieldInfo(enc: number): VmcsFieldInfo | undefined {
  // Every encoding that is not reserved is below 0x8000: a table lookup answers it.
  if (enc >= 0 && enc < 0x8000 && Number.isInteger(enc)) return BY_ACCESS[enc];
  return undefined;
}

/** vmcsFieldInfo for every encoding below 0x8000 (bits 15 and up are reserved). */
const BY_ACCESS: readonly (VmcsFieldInfo | undefined)[] = Array.from(
  { length: 0x8000 },
  (_, enc): VmcsFieldInfo | undefined => {
    if (vmcsEncodingReserved(enc)) return undefined;
    if (vmcsFieldIsHigh(enc)) {
      const field = BY_ENCODING.get(enc - 1);
      return field?.width === 64 ? field : undefined;
    }
    return BY_ENCODING.get(enc);
  },
);

/** "GUEST_RIP", "IO_BITMAP_A_HIGH", or `0x${hex}` for an encoding with no field. */
export function vmcsFieldName(enc: number): string {
  const field = vmcsFieldInfo(enc);
  // A negative value is an int32 view of a 32-bit encoding: print it unsigned.
  if (field === undefined)
    return `0x${(Number.isInteger(enc) && enc < 0 ? enc >>> 0 : enc).toString(16)}`;
  return vmcsFieldIsHigh(enc) ? `${field.name}_HIGH` : field.name;
}
