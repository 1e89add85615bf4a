/**
 * @glassvm/qemu-machine — QEMU's pc machine on KVM, the userspace half of glassvm. It
 * talks to the kernel only through HostOs (open/ioctl/mmap/close on /dev/kvm) with real
 * request numbers and struct bytes, as QEMU talks to Linux.
 */

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
