/**
 * @glassvm/cli — `glassvm`, a qemu-system-x86_64-compatible command line and the
 * composition root of glassvm: a host kernel with kvm_intel or kvm_amd, QEMU's process
 * on it, and what lets you see inside (kernel tracepoints, the start-up path,
 * perf-kvm-stat, Chrome trace, both backends side by side). Browser-safe: the host's
 * files, clock and terminal come in as a GlassvmIo.
 */
export {
  GLASSVM_LOG_ITEMS,
  GLASSVM_VERSION,
  type GlassvmOptions,
  glassvmHelpText,
  glassvmVersionText,
  parseGlassvmArgs,
} from "./args.js";
export { ChromeTrace, type ChromeTraceJson, type TraceEvent } from "./chrome-trace.js";
export {
  type BackendRun,
  compareReport,
  glassvmCompareHosts,
  guestCausedExits,
  type HardwareExit,
  recordUserspaceExits,
  runOnBackend,
  type UserspaceExit,
} from "./compare.js";
export { KvmStat, kvmStatReport } from "./kvm-stat.js";
export { type GlassvmHooks, type GlassvmIo, glassvmMain, glassvmRun } from "./main.js";
export {
  buildStartupTree,
  formatStartupTree,
  KERNEL_PATHS,
  KERNEL_PATHS_AMD,
  type PathEvent,
  type PathNode,
  STARTUP_CALLERS,
} from "./startup-path.js";
export { tpPrintk, tracepointLine } from "./tracepoints.js";
export { type VcpuThreadData, vcpuThreadMain } from "./vcpu-thread.js";
