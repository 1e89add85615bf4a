/**
 * @glassvm/qemu-machine — QEMU's pc machine on KVM, the userspace half of glassvm. It
 * talks to the kernel only through HostOs (open/ioctl/mmap/close on /dev/kvm) with real
 * request numbers and struct bytes, as QEMU talks to Linux.
 */

export { type AccelClass, type AccelState, accelFind } from "./accel/accel-common.js";
export { type AccelOpsClass, accelInitMachine, cpusGetAccel } from "./accel/accel-system.js";
export {
  type KVMAccelState,
  kvmEnabled,
  setKvmInitMachine,
  TYPE_KVM_ACCEL,
} from "./accel/kvm/kvm-accel.js";
export {
  cpuSynchronizeState,
  KvmVcpuThread,
  kvmStartVcpuThread,
  kvmVcpuThreadFn,
  TYPE_KVM_ACCEL_OPS,
} from "./accel/kvm/kvm-accel-ops.js";
export {
  type KvmVcpuThreadArg,
  kvmVcpuThreadDied,
  kvmVcpuThreadFnMulti,
  type QemuThreadHandle,
} from "./accel/kvm/kvm-vcpu-thread.js";
export {
  CHR_EVENT_BREAK,
  CHR_EVENT_CLOSED,
  CHR_EVENT_MUX_IN,
  CHR_EVENT_MUX_OUT,
  CHR_EVENT_OPENED,
  type CharBackend,
  type Chardev,
  type ChardevBackend,
  type ChardevClass,
  charBackendNew,
  type IOCanReadHandler,
  type IOEventHandler,
  type IOReadHandler,
  type QEMUChrEvent,
  qemuChardevNew,
  qemuChardevRemove,
  qemuChrBeCanWrite,
  qemuChrBeEvent,
  qemuChrBeQueueInput,
  qemuChrBeWrite,
  qemuChrFeAcceptInput,
  qemuChrFeBackendConnected,
  qemuChrFeDeinit,
  qemuChrFeGetDriver,
  qemuChrFeInit,
  qemuChrFeSetHandlers,
  qemuChrFeWrite,
  qemuChrFeWriteAll,
  qemuChrFind,
  qemuChrWrite,
  ringbufCount,
  ringbufRead,
  TYPE_CHARDEV,
  TYPE_CHARDEV_CALLBACK,
  TYPE_CHARDEV_MEMORY,
  TYPE_CHARDEV_NULL,
  TYPE_CHARDEV_RINGBUF,
} from "./chardev/char.js";
export {
  type PCSpkState,
  pcspkIoRead,
  pcspkIoWrite,
  TYPE_PC_SPEAKER,
} from "./hw/audio/pcspk.js";
export { type ISADebugconState, TYPE_ISA_DEBUGCON_DEVICE } from "./hw/char/debugcon.js";
export {
  ISA_SERIAL_IO,
  ISA_SERIAL_IRQ,
  type ISASerialState,
  MAX_ISA_SERIAL_PORTS,
  type SerialState,
  serialIoportRead,
  serialIoportWrite,
  serialReset,
  TYPE_ISA_SERIAL,
  TYPE_SERIAL,
} from "./hw/char/serial.js";
export {
  type CPUArchId,
  type CpuTopology,
  type MachineClass,
  type MachineState,
  machineRunBoardInit,
} from "./hw/core/machine.js";
export {
  type CpuInfoFast,
  hmpInfoCpus,
  qmpQueryCpusFast,
} from "./hw/core/machine-qmp-cmds.js";
export { machineParseSmpConfig } from "./hw/core/machine-smp.js";
export { definePropChr, qdevPropChr } from "./hw/core/qdev-properties-system.js";
export { type PCMachineState, TYPE_PC_MACHINE } from "./hw/i386/pc.js";
export { setPcInit1 } from "./hw/i386/pc_piix.js";
export { pcInit1 } from "./hw/i386/pc-init.js";
export {
  PORT92_A20_LINE,
  type Port92State,
  port92Read,
  port92Reset,
  port92Write,
  TYPE_PORT92,
} from "./hw/i386/port92.js";
export {
  apicidBitwidthForCount,
  type X86CPUTopoIDs,
  type X86CPUTopoInfo,
  x86ApicidFromCpuIdx,
  x86ApicidFromTopoIds,
  x86TopoIdsFromApicid,
  x86TopoIdsFromIdx,
  x86TopoInfoFromSmp,
} from "./hw/i386/topology.js";
export { TYPE_X86_MACHINE, type X86MachineState, x86PossibleCpuArchIds } from "./hw/i386/x86.js";
export { x86CpuNew, x86CpusInit } from "./hw/i386/x86-common.js";
export {
  I8042_A20_LINE,
  type ISAKBDState,
  kbdReadData,
  kbdReadStatus,
  kbdReset,
  kbdWriteCommand,
  kbdWriteData,
  TYPE_I8042,
} from "./hw/input/pckbd.js";
export {
  i8259Init,
  isaPic,
  type PICCommonState,
  picGetOutput,
  picIoportRead,
  picIoportWrite,
  picReadIrq,
  picReset,
  TYPE_I8259,
  TYPE_PIC_COMMON,
} from "./hw/intc/i8259.js";
export {
  type QemuIrq,
  type QemuIrqHandler,
  qemuAllocateIrq,
  qemuAllocateIrqs,
  qemuIrqLower,
  qemuIrqPulse,
  qemuIrqRaise,
  qemuSetIrq,
} from "./hw/irq.js";
export {
  ISA_IO_SPACE_SIZE,
  ISA_NUM_IRQS,
  type ISABus,
  type ISADevice,
  type ISADeviceClass,
  isaAddressSpace,
  isaAddressSpaceIo,
  isaBusFromDevice,
  isaBusGetIrq,
  isaBusIrqs,
  isaBusNew,
  isaBusRegisterInputIrqs,
  isaByteIoOps,
  isaCreateSimple,
  isaDeviceOwner,
  isaGetIrq,
  isaNew,
  isaRealizeAndUnref,
  isaRegisterIoport,
  TYPE_ISA_BUS,
  TYPE_ISA_DEVICE,
} from "./hw/isa/isa-bus.js";
export {
  PIIX_RCR_IOPORT,
  type PIIXRcrState,
  rcrRead,
  rcrWrite,
  TYPE_PIIX_RCR,
} from "./hw/isa/piix-rcr.js";
export { type ISADebugExitState, TYPE_ISA_DEBUG_EXIT_DEVICE } from "./hw/misc/debugexit.js";
export {
  cmosIoportRead,
  cmosIoportWrite,
  getRtcClock,
  type MC146818RtcState,
  mc146818RtcInit,
  RTC_ISA_BASE,
  RTC_ISA_IRQ,
  rtcGetDateTime,
  rtcGetMemory,
  rtcReset,
  rtcSetDateTime,
  rtcSetMemory,
  setRtcClock,
  TYPE_MC146818_RTC,
} from "./hw/rtc/mc146818rtc.js";
export {
  i8254PitInit,
  PIT_FREQ,
  type PITChannelInfo,
  type PITChannelState,
  type PITCommonState,
  pitGetChannelInfo,
  pitGetNextTransitionTime,
  pitGetOut,
  pitIoportRead,
  pitIoportWrite,
  pitIrqControl,
  pitReset,
  pitSetGate,
  TYPE_I8254,
  TYPE_PIT_COMMON,
} from "./hw/timer/i8254.js";
// Option grammar, error reporting, machine types and accelerator selection (qemu_init's
// front half: vl.c options, util/error-report.c, hw/core/machine.c, hw/i386/pc*.c, accel/).
export { errorReportErr, QemuError, type QemuErrorCode, QemuExit } from "./qapi/error.js";
export { lookupOpt, QEMU_VERSION, type QemuOption, qemuOptions } from "./qemu-options.js";
export {
  cpuCanRun,
  pauseAllVcpus,
  qemuInitVcpu,
  resumeAllVcpus,
  type VcpuThread,
} from "./system/cpus.js";
export {
  type AccessSize,
  AddressSpace,
  type MemoryRegion,
  type MemoryRegionKind,
  type MemoryRegionOps,
  memoryRegionAddSubregion,
  memoryRegionDelSubregion,
  memoryRegionInit,
  memoryRegionInitAlias,
  memoryRegionInitIo,
  memoryRegionInitRam,
  memoryRegionInitRom,
  memoryRegionSetEnabled,
  type RamBlockMapping,
} from "./system/memory.js";
export {
  mainLoopShouldExit,
  type QEMUResetHandler,
  qemuDevicesReset,
  qemuNotifyEvent,
  qemuRegisterReset,
  qemuResetRequested,
  qemuResetRequestedGet,
  qemuSetNotifyEvent,
  qemuShutdownExitCode,
  qemuShutdownRequested,
  qemuShutdownRequestedGet,
  qemuSystemKilled,
  qemuSystemReset,
  qemuSystemResetRequest,
  qemuSystemShutdownRequest,
  qemuSystemShutdownRequestWithCode,
  qemuUnregisterReset,
  qmpSetAction,
  type RebootAction,
  runstateReset,
  SHUTDOWN_CAUSE_GUEST_PANIC,
  SHUTDOWN_CAUSE_GUEST_RESET,
  SHUTDOWN_CAUSE_GUEST_SHUTDOWN,
  SHUTDOWN_CAUSE_HOST_ERROR,
  SHUTDOWN_CAUSE_HOST_QMP_QUIT,
  SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET,
  SHUTDOWN_CAUSE_HOST_SIGNAL,
  SHUTDOWN_CAUSE_HOST_UI,
  SHUTDOWN_CAUSE_LOOKUP,
  SHUTDOWN_CAUSE_NONE,
  SHUTDOWN_CAUSE_SNAPSHOT_LOAD,
  SHUTDOWN_CAUSE_SUBSYSTEM_RESET,
  type ShutdownCause,
  shutdownCausedByGuest,
} from "./system/runstate.js";
export { type StartupStep, startupTraceListen } from "./system/startup-trace.js";
export {
  type QemuEnv,
  type QemuMachineInstance,
  type QemuRunState,
  qemuCleanup,
  qemuInit,
  qemuMain,
  qemuMainLoop,
} from "./system/vl.js";
export {
  configureAccelerators,
  findMachine,
  parseMemoryOptions,
  qemuApplyLegacyMachineOptions,
  qemuApplyMachineOptions,
  qemuParseOptions,
  qemuValidateOptions,
  selectMachine,
  type VlOptions,
  vlOptionsNew,
} from "./system/vl-options.js";
export {
  type CPUClass,
  type CPUState,
  type CPUX86State,
  type CpuidRegs,
  cpuForeach,
  cpuListAdd,
  cpuListRemove,
  cpuReset,
  cpuX86Cpuid,
  featureWordDescription,
  isHelpOption,
  type ParseCpuOptionResult,
  parseCpuOption,
  type SegmentCache,
  TYPE_CPU,
  TYPE_X86_CPU,
  tcgX86AccelCpuOps,
  UNASSIGNED_APIC_ID,
  type X86AccelCpuOps,
  type X86CPU,
  type X86CPUClass,
  type X86CpuRealizeHooks,
  x86CpuClassByName,
  x86CpuCpuid,
  x86CpuExpandFeatures,
  x86CpuFilterFeatures,
  x86CpuGetAccel,
  x86CpuGetSupportedFeatureWord,
  x86CpuList,
  x86CpuParseFeaturestr,
  x86CpuParseFeaturestrReset as experimental_x86CpuParseFeaturestrReset,
  x86CpuRealizefn,
  x86CpuResetHold,
  x86CpuSetAccel,
  x86CpuSetDefaultVersion,
  x86CpuSetRealizeHooks,
  x86CpuTypeName,
} from "./target/i386/cpu.js";
export {
  CPU_DUMP_CODE,
  CPU_DUMP_FPU,
  cpuMemoryReadDebug,
  x86CpuDumpState,
} from "./target/i386/cpu-dump.js";
export {
  FEATURE_WORD_INFO,
  FEATURE_WORDS,
  type FeatureWord,
  type FeatureWordInfo,
} from "./target/i386/cpu-features.js";
export { BUILTIN_X86_DEFS, type X86CPUDefinition } from "./target/i386/cpu-models.js";
export { type HostCpuidFn, hostCpuSetCpuid } from "./target/i386/host-cpu.js";
export {
  type KvmArchInitVcpuOptions,
  type KvmX86Options,
  kvmArchGetSupportedCpuid,
  kvmArchGetSupportedMsrFeature,
  kvmArchInitVcpu,
  kvmArchResetVcpu,
  kvmGetSupportedCpuidTable,
  kvmX86BuildCpuid,
} from "./target/i386/kvm/kvm.js";
export {
  type KvmX86AccelConfig,
  kvmX86AccelCpuOps,
  kvmX86AccelCpuOpsFromTable,
} from "./target/i386/kvm/kvm-cpu.js";
export {
  defineTraceEvent,
  type TraceArgs,
  type TraceRecord,
  type TraceSink,
  traceAddSink,
  traceEnable,
  traceEvent,
  traceEventEnabled,
  traceEventNames,
  traceReset,
} from "./trace/control.js";
export { qemuStrtosz } from "./util/cutils.js";
export {
  errorInit,
  errorReport,
  infoReport,
  type OutputSink,
  setErrorSink,
  setOutputSink,
  warnReport,
} from "./util/error-report.js";
export { Fifo8 } from "./util/fifo8.js";
export { type KeyvalDict, type KeyvalValue, keyvalParse } from "./util/keyval.js";
export {
  LOG_GUEST_ERROR,
  LOG_INVALID_MEM,
  LOG_UNIMP,
  QEMU_LOG_ITEMS,
  type QEMULogItem,
  qemuLog,
  qemuLoglevelMask,
  qemuLogMask,
  qemuPrintLogUsage,
  qemuSetLogFilenameFlags,
  qemuStrToLogMask,
} from "./util/log.js";
export { type QemuOpts, type QemuOptsList, qemuOptGet, qemuOptsParse } from "./util/qemu-option.js";
export {
  muldiv64,
  NANOSECONDS_PER_SECOND,
  QEMU_CLOCK_HOST,
  QEMU_CLOCK_REALTIME,
  QEMU_CLOCK_VIRTUAL,
  QEMU_CLOCK_VIRTUAL_RT,
  type QEMUClockSource,
  type QEMUClockType,
  type QEMUTimer,
  type QEMUTimerCB,
  qemuClockDeadlineNsAll,
  qemuClockEnable,
  qemuClockGetMs,
  qemuClockGetNs,
  qemuClockGetUs,
  qemuClockRunAllTimers,
  qemuClockRunTimers,
  qemuClockSetSource,
  SCALE_MS,
  SCALE_NS,
  SCALE_US,
  timerDel,
  timerExpired,
  timerExpireTimeNs,
  timerFree,
  timerMod,
  timerModAnticipateNs,
  timerModNs,
  timerNew,
  timerNewMs,
  timerNewNs,
  timerNewUs,
  timerPending,
} from "./util/qemu-timer.js";
