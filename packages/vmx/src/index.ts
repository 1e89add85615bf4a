/**
 * @glassvm/vmx — Intel VT-x on the software x86 CPU and the kvm_intel module.
 * The hardware: VMX operation, the VMCS (field encodings, private layout, snapshots and
 * provenance), the VMX instructions with their outcomes, the VM-entry checks as named SDM
 * rules, non-root operation on the x86 core with exits by the controls, EPT, and the VMX
 * instructions executed by x86 code (`VmxRootCpu`). The module: `kvmIntelModule` and
 * `vmxX86Ops` for kvm-kernel — vCPU setup, vmx_vcpu_run, the exit handlers, injection,
 * EPT management and the instruction emulator.
 */
export * from "./asm/vmx.js";
export * from "./asm/vmx-exit-reasons.js";
export type { VmcsConfig } from "./capabilities.js";
export {
  adjustVmxControls,
  cpuHasLoadIa32Efer,
  cpuHasVirtualNmis,
  cpuHasVmxEpt,
  cpuHasVmxMsrBitmap,
  cpuHasVmxTprShadow,
  cpuHasVmxUnrestrictedGuest,
  cpuHasVmxVpid,
  setupVmcsConfig,
} from "./capabilities.js";
export { vmxEmulateInstruction } from "./emulate.js";
export type { EptRange, EptStatus, EptTranslation, PhysReader } from "./hw/ept_walk.js";
export {
  EPT_MISCONFIG,
  EPT_OK,
  EPT_VIOLATION,
  eptRamRanges,
  eptTranslate,
  eptViolationQualification,
} from "./hw/ept_walk.js";
export { HOST_CR0, HOST_CR4, HOST_FEATURE_CONTROL, HostCpu } from "./hw/host_cpu.js";
export {
  VMCS_STATE_CLEAR,
  VMCS_STATE_LAUNCHED,
} from "./hw/vmcs_region.js";
export type {
  VmcsReader,
  VmEntryContext,
  VmEntryFailure,
  VmEntryStage,
} from "./hw/vmentry_checks.js";
export {
  checkGuestState,
  checkHostState,
  checkVmxControls,
  VM_ENTRY_RULES,
  vmEntryChecks,
} from "./hw/vmentry_checks.js";
export type { VmxCapabilities } from "./hw/vmx_caps.js";
export {
  VMCS_REVISION_ID,
  VMCS_SIZE,
  vmxCapabilities,
  vmxControlAllowed,
} from "./hw/vmx_caps.js";
export type { VmcsWriter, VmxGuestEngine, VmxProcessor, VmxTlbHooks } from "./hw/vmx_cpu.js";
export {
  VMCS_POINTER_INVALID,
  VMX_FAIL_INVALID,
  VMX_FAULT_GP,
  VMX_FAULT_UD,
  VMX_SUCCEED,
  VMX_VMEXIT,
  VmxCpu,
  vmxOutcomeName,
  vmxResultFlags,
} from "./hw/vmx_cpu.js";
export { HOST_TIMER_VECTOR, VmxNonRoot, type VmxNonRootHost } from "./hw/vmx_nonroot.js";
export { VmxRootCpu } from "./hw/vmx_root.js";
export {
  type KvmIntelModule,
  type KvmIntelOptions,
  kvmIntelModule,
  VMX_SUPPORTED_CPUID,
  vmxX86Ops,
} from "./main.js";
export { type EptMemslot, EptMmu } from "./mmu/ept.js";
export type { VmcsFieldChange, VmcsFieldValue, VmcsSnapshot } from "./vmcs_snapshot.js";
export { VmcsProvenance, vmcsDiff, vmcsSnapshot } from "./vmcs_snapshot.js";
export type { VmcsArea, VmcsFieldInfo, VmcsType, VmcsWidth } from "./vmcs-fields.js";
export {
  VMCS_FIELD_BY_NAME,
  VMCS_FIELDS,
  vmcsEncodingReserved,
  vmcsFieldInfo,
  vmcsFieldName,
} from "./vmcs-fields.js";
export {
  eptSpteMakeWritable,
  initVmcs,
  KvmIntel,
  type KvmIntelVendorModule,
  KvmVmx,
  kvmMmuLoad,
  kvmVmxExitHandlers,
  loadedVmcsClear,
  toKvmIntel,
  toKvmVmx,
  toVmx,
  VcpuVmx,
  type VmcsPage,
  vmxCacheReg,
  vmxCancelInjection,
  vmxCompleteInterrupts,
  vmxCreateVcpuVmx,
  vmxEnableIrqWindow,
  vmxEnableNmiWindow,
  vmxExecControl,
  vmxFlushTlbAll,
  vmxFlushTlbCurrent,
  vmxFlushTlbGuest,
  vmxFlushTlbGva,
  vmxGetCpl,
  vmxGetCsDbLBits,
  vmxGetExitInfo,
  vmxGetExitQual,
  vmxGetGdt,
  vmxGetIdt,
  vmxGetIfFlag,
  vmxGetInterruptShadow,
  vmxGetIntrInfo,
  vmxGetMsr,
  vmxGetNmiMask,
  vmxGetRflags,
  vmxGetSegment,
  vmxGetSegmentBase,
  vmxHandleExit,
  vmxHasEmulatedMsr,
  vmxInjectException,
  vmxInjectIrq,
  vmxInjectNmi,
  vmxInterruptAllowed,
  vmxInterruptBlocked,
  vmxIsValidCr4,
  vmxLoadMmuPgd,
  vmxNmiAllowed,
  vmxNmiBlocked,
  vmxPrepareSwitchToGuest,
  vmxPrepareSwitchToHost,
  vmxSetConstantHostState,
  vmxSetCr0,
  vmxSetCr4,
  vmxSetDr7,
  vmxSetEfer,
  vmxSetGdt,
  vmxSetIdt,
  vmxSetInterruptShadow,
  vmxSetMsr,
  vmxSetNmiMask,
  vmxSetRflags,
  vmxSetSegment,
  vmxSkipEmulatedInstruction,
  vmxSyncGuestFpu,
  vmxUpdateExceptionBitmap,
  vmxVcpuAfterSetCpuid,
  vmxVcpuCreate,
  vmxVcpuFree,
  vmxVcpuLoad,
  vmxVcpuPut,
  vmxVcpuReset,
  vmxVcpuRun,
  vmxVmDestroy,
  vmxVmInit,
  vmxWriteTscOffset,
} from "./vmx.js";
export {
  vmcsClear,
  vmcsClearBits,
  vmcsLoad,
  vmcsRead16,
  vmcsRead32,
  vmcsRead64,
  vmcsReadl,
  vmcsSetBits,
  vmcsWrite16,
  vmcsWrite32,
  vmcsWrite64,
  vmcsWritel,
} from "./vmx_ops.js";
/** The VMCS-level halves of the segment ops (a HostCpu with the vCPU's VMCS current). */
export {
  KVM_VMX_SEGMENT_FIELDS,
  type KvmVmxSegmentField,
  kvmSegmentFromVmx,
  vmxGetCpl as __vmxGetCpl,
  vmxGetCsDbLBits as __vmxGetCsDbLBits,
  vmxGetSegment as __vmxGetSegment,
  vmxSegmentAccessRights,
  vmxSetSegment as __vmxSetSegment,
} from "./vmx_segments.js";
