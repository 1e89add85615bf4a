/**
 * @glassvm/svm — AMD-V on the software x86 CPU, and kvm_amd on it (`kvmAmdModule`,
 * `svmX86Ops`: arch/x86/kvm/svm/svm.c).
 * The VMCB at the APM's offsets with typed accessors, the permission maps, the SVM
 * numbers under Linux's names, VMRUN's consistency checks as named rules, the SVM
 * instructions of one processor (`SvmCpu`), guest mode on the x86 core with #VMEXIT by
 * the intercepts (`SvmNonRoot`), nested paging, and the host CPU kvm_amd runs on.
 */
export * from "./asm/svm.js";
export {
  HOST_CR0,
  HOST_CR4,
  HOST_EFER,
  HostCpu,
  type HostSvmState,
  hostCpuid,
} from "./hw/host_cpu.js";
export {
  NPT_ACCESS_FETCH,
  NPT_ACCESS_READ,
  NPT_ACCESS_WRITE,
  type NptRange,
  type NptTranslation,
  nptRamRanges,
  nptRoot,
  nptTranslate,
  type PhysReader,
} from "./hw/npt_walk.js";
export {
  SVM_FAULT_GP,
  SVM_FAULT_UD,
  SVM_SHUTDOWN,
  SVM_SUCCEED,
  SVM_VMEXIT,
  type SvmCapabilities,
  SvmCpu,
  type SvmGuestEngine,
  type SvmProcessor,
  type SvmTlbHooks,
  svmCapabilities,
  svmOutcomeName,
} from "./hw/svm_cpu.js";
export { HOST_TIMER_VECTOR, SvmNonRoot, type SvmNonRootHost } from "./hw/svm_nonroot.js";
export { SvmRootCpu } from "./hw/svm_root.js";
export * from "./hw/vmcb.js";
export {
  SVM_EFER_VALID,
  VMRUN_RULES,
  type VmrunContext,
  type VmrunFailure,
  vmrunChecks,
} from "./hw/vmrun_checks.js";
export {
  type KvmAmdModule,
  type KvmAmdOptions,
  kvmAmdModule,
  SVM_SUPPORTED_CPUID,
  svmX86Ops,
} from "./main.js";
export { type NptMemslot, NptMmu } from "./mmu/npt.js";
export {
  initVmcb,
  KvmAmd,
  type KvmAmdVendorModule,
  KvmSvm,
  type SvmCpuData,
  svmCompleteInterrupts,
  svmExitHandlers,
  svmHandleExit,
  svmVcpuCreate,
  svmVcpuRun,
  toKvmAmd,
  toSvm,
  VcpuSvm,
} from "./svm.js";
export type {
  VmcbArea,
  VmcbFieldChange,
  VmcbFieldInfo,
  VmcbFieldValue,
  VmcbSnapshot,
  VmcbWidth,
} from "./vmcb_snapshot.js";
export { VMCB_FIELDS, VmcbProvenance, vmcbDiff, vmcbSnapshot } from "./vmcb_snapshot.js";
