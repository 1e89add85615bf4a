/**
 * `struct kvm_run` (include/uapi/linux/kvm.h): the first page of a vCPU's mmap area, shared
 * between the kernel and userspace (shared/reference/kvm-uapi.md §4).
 *
 * `KvmRun` is an accessor view over those bytes: every getter and setter reads or writes the
 * page itself through one DataView, so both sides of the ABI (and other threads holding the
 * same SharedArrayBuffer) see each other's writes. Nothing is ever copied.
 */

import {
  KVM_EXIT_DEBUG,
  KVM_EXIT_EXCEPTION,
  KVM_EXIT_FAIL_ENTRY,
  KVM_EXIT_HYPERCALL,
  KVM_EXIT_INTERNAL_ERROR,
  KVM_EXIT_IO,
  KVM_EXIT_IOAPIC_EOI,
  KVM_EXIT_MEMORY_FAULT,
  KVM_EXIT_MMIO,
  KVM_EXIT_NOTIFY,
  KVM_EXIT_SYSTEM_EVENT,
  KVM_EXIT_TPR_ACCESS,
  KVM_EXIT_UNKNOWN,
  KVM_EXIT_X86_RDMSR,
  KVM_EXIT_X86_WRMSR,
  KVM_INTERNAL_ERROR_EMULATION,
  KVM_INTERNAL_ERROR_NAMES,
  KVM_SYNC_X86_EVENTS,
  KVM_SYNC_X86_REGS,
  KVM_SYNC_X86_SREGS,
  KVM_SYSTEM_EVENT_NAMES,
  kvmExitReasonName,
} from "./kvm.js";
import { decodeKvmRegs, decodeKvmSregs, decodeKvmVcpuEvents, KVM_RUN_SIZE } from "./structs.js";

/**
 * Byte offset of every kvm_run field on x86-64, named `<member>_<field>` for union members
 * (`io_port` is `run->io.port`). Array fields give the offset of element 0.
 */
export const KVM_RUN_OFFSETS = Object.freeze({
  // header
  request_interrupt_window: 0,
  immediate_exit: 1,
  padding1: 2,
  exit_reason: 8,
  ready_for_interrupt_injection: 12,
  if_flag: 13,
  flags: 14,
  cr8: 16,
  apic_base: 24,
  /** Start of the 256-byte exit union; every member below starts here. */
  exit_union: 32,
  // hw (KVM_EXIT_UNKNOWN)
  hw_hardware_exit_reason: 32,
  // fail_entry (KVM_EXIT_FAIL_ENTRY)
  fail_entry_hardware_entry_failure_reason: 32,
  fail_entry_cpu: 40,
  // ex (KVM_EXIT_EXCEPTION)
  ex_exception: 32,
  ex_error_code: 36,
  // io (KVM_EXIT_IO)
  io_direction: 32,
  io_size: 33,
  io_port: 34,
  io_count: 36,
  io_data_offset: 40,
  // debug.arch (KVM_EXIT_DEBUG)
  debug_exception: 32,
  debug_pad: 36,
  debug_pc: 40,
  debug_dr6: 48,
  debug_dr7: 56,
  // mmio (KVM_EXIT_MMIO)
  mmio_phys_addr: 32,
  mmio_data: 40,
  mmio_len: 48,
  mmio_is_write: 52,
  // hypercall (KVM_EXIT_HYPERCALL)
  hypercall_nr: 32,
  hypercall_args: 40,
  hypercall_ret: 88,
  hypercall_longmode: 96,
  hypercall_flags: 96,
  // tpr_access (KVM_EXIT_TPR_ACCESS)
  tpr_access_rip: 32,
  tpr_access_is_write: 40,
  // internal (KVM_EXIT_INTERNAL_ERROR)
  internal_suberror: 32,
  internal_ndata: 36,
  internal_data: 40,
  // emulation_failure (internal with suberror KVM_INTERNAL_ERROR_EMULATION)
  emulation_failure_suberror: 32,
  emulation_failure_ndata: 36,
  emulation_failure_flags: 40,
  emulation_failure_insn_size: 48,
  emulation_failure_insn_bytes: 49,
  // system_event (KVM_EXIT_SYSTEM_EVENT); flags aliases data[0]
  system_event_type: 32,
  system_event_ndata: 36,
  system_event_flags: 40,
  system_event_data: 40,
  // eoi (KVM_EXIT_IOAPIC_EOI)
  eoi_vector: 32,
  // msr (KVM_EXIT_X86_RDMSR / KVM_EXIT_X86_WRMSR)
  msr_error: 32,
  msr_reason: 40,
  msr_index: 44,
  msr_data: 48,
  // notify (KVM_EXIT_NOTIFY)
  notify_flags: 32,
  // memory_fault (KVM_EXIT_MEMORY_FAULT)
  memory_fault_flags: 32,
  memory_fault_gpa: 40,
  memory_fault_size: 48,
  // after the union
  kvm_valid_regs: 288,
  kvm_dirty_regs: 296,
  /** Start of the 2048-byte sync-regs union `s`. */
  s: 304,
  s_regs: 304,
  s_sregs: 448,
  s_events: 760,
});

/** Bytes of the exit union (offsets 32..287). */
export const KVM_RUN_EXIT_UNION_SIZE = 256;
/** Bytes of the sync-regs union `s` (offsets 304..2351). */
export const KVM_RUN_SYNC_REGS_SIZE = 2048;
/** Entries of internal.data[] and system_event.data[]. */
export const KVM_RUN_DATA_ENTRIES = 16;
/** Entries of hypercall.args[]. */
export const KVM_RUN_HYPERCALL_ARGS = 6;

const O = KVM_RUN_OFFSETS;

function checkIndex(i: number, count: number, what: string): void {
  if (!Number.isInteger(i) || i < 0 || i >= count) {
    throw new RangeError(`kvm_run.${what}[${i}]: index out of 0..${count - 1}`);
  }
}

/**
 * A live view of `struct kvm_run`. Field names are the camelCase of C's, prefixed with the
 * union member (`ioPort` is `run->io.port`); only the member matching `exitReason` is
 * meaningful. u64 fields are bigints, everything narrower is a number.
 */
export class KvmRun {
  /** The mapping this view reads and writes (at least KVM_RUN_SIZE bytes). */
  readonly bytes: Uint8Array;
  /** mmio.data: the 8 data bytes of an MMIO exit (a view at offset 40). */
  readonly mmioData: Uint8Array;
  /** emulation_failure.insn_bytes: 15 bytes at offset 49 (a view). */
  readonly emulationFailureInsnBytes: Uint8Array;
  readonly #dv: DataView;

  constructor(bytes: Uint8Array) {
    if (bytes.byteLength < KVM_RUN_SIZE) {
      throw new RangeError(`kvm_run needs ${KVM_RUN_SIZE} bytes, got ${bytes.byteLength}`);
    }
    this.bytes = bytes;
    this.#dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.mmioData = bytes.subarray(O.mmio_data, O.mmio_data + 8);
    this.emulationFailureInsnBytes = bytes.subarray(
      O.emulation_failure_insn_bytes,
      O.emulation_failure_insn_bytes + 15,
    );
  }

  /** Zeroes the exit union (bytes 32..287), e.g. before the kernel fills in a new exit. */
  clearExitUnion(): void {
    this.bytes.fill(0, O.exit_union, O.exit_union + KVM_RUN_EXIT_UNION_SIZE);
  }

  // --- header ---------------------------------------------------------------------------

  get requestInterruptWindow(): number {
    return this.#dv.getUint8(O.request_interrupt_window);
  }
  set requestInterruptWindow(v: number) {
    this.#dv.setUint8(O.request_interrupt_window, v);
  }

  get immediateExit(): number {
    return this.#dv.getUint8(O.immediate_exit);
  }
  set immediateExit(v: number) {
    this.#dv.setUint8(O.immediate_exit, v);
  }

  /** KVM_EXIT_*. */
  get exitReason(): number {
    return this.#dv.getUint32(O.exit_reason, true);
  }
  set exitReason(v: number) {
    this.#dv.setUint32(O.exit_reason, v, true);
  }

  get readyForInterruptInjection(): number {
    return this.#dv.getUint8(O.ready_for_interrupt_injection);
  }
  set readyForInterruptInjection(v: number) {
    this.#dv.setUint8(O.ready_for_interrupt_injection, v);
  }

  get ifFlag(): number {
    return this.#dv.getUint8(O.if_flag);
  }
  set ifFlag(v: number) {
    this.#dv.setUint8(O.if_flag, v);
  }

  /** KVM_RUN_X86_SMM | KVM_RUN_X86_BUS_LOCK. */
  get flags(): number {
    return this.#dv.getUint16(O.flags, true);
  }
  set flags(v: number) {
    this.#dv.setUint16(O.flags, v, true);
  }

  get cr8(): bigint {
    return this.#dv.getBigUint64(O.cr8, true);
  }
  set cr8(v: bigint) {
    this.#dv.setBigUint64(O.cr8, v, true);
  }

  get apicBase(): bigint {
    return this.#dv.getBigUint64(O.apic_base, true);
  }
  set apicBase(v: bigint) {
    this.#dv.setBigUint64(O.apic_base, v, true);
  }

  // --- hw, fail_entry, ex -----------------------------------------------------------------

  get hwHardwareExitReason(): bigint {
    return this.#dv.getBigUint64(O.hw_hardware_exit_reason, true);
  }
  set hwHardwareExitReason(v: bigint) {
    this.#dv.setBigUint64(O.hw_hardware_exit_reason, v, true);
  }

  get failEntryHardwareEntryFailureReason(): bigint {
    return this.#dv.getBigUint64(O.fail_entry_hardware_entry_failure_reason, true);
  }
  set failEntryHardwareEntryFailureReason(v: bigint) {
    this.#dv.setBigUint64(O.fail_entry_hardware_entry_failure_reason, v, true);
  }

  get failEntryCpu(): number {
    return this.#dv.getUint32(O.fail_entry_cpu, true);
  }
  set failEntryCpu(v: number) {
    this.#dv.setUint32(O.fail_entry_cpu, v, true);
  }

  get exException(): number {
    return this.#dv.getUint32(O.ex_exception, true);
  }
  set exException(v: number) {
    this.#dv.setUint32(O.ex_exception, v, true);
  }

  get exErrorCode(): number {
    return this.#dv.getUint32(O.ex_error_code, true);
  }
  set exErrorCode(v: number) {
    this.#dv.setUint32(O.ex_error_code, v, true);
  }

  // --- io ---------------------------------------------------------------------------------

  /** KVM_EXIT_IO_IN (0) or KVM_EXIT_IO_OUT (1). */
  get ioDirection(): number {
    return this.#dv.getUint8(O.io_direction);
  }
  set ioDirection(v: number) {
    this.#dv.setUint8(O.io_direction, v);
  }

  /** Bytes per element: 1, 2 or 4. */
  get ioSize(): number {
    return this.#dv.getUint8(O.io_size);
  }
  set ioSize(v: number) {
    this.#dv.setUint8(O.io_size, v);
  }

  get ioPort(): number {
    return this.#dv.getUint16(O.io_port, true);
  }
  set ioPort(v: number) {
    this.#dv.setUint16(O.io_port, v, true);
  }

  /** Number of elements (> 1 for string I/O). */
  get ioCount(): number {
    return this.#dv.getUint32(O.io_count, true);
  }
  set ioCount(v: number) {
    this.#dv.setUint32(O.io_count, v, true);
  }

  /** Offset of the data from the start of the mapping (4096 on x86: the PIO page). */
  get ioDataOffset(): bigint {
    return this.#dv.getBigUint64(O.io_data_offset, true);
  }
  set ioDataOffset(v: bigint) {
    this.#dv.setBigUint64(O.io_data_offset, v, true);
  }

  /**
   * The `count × size` data bytes of the current I/O exit, as a view into the mapping at
   * `data_offset`. RangeError if they lie outside `bytes` (e.g. only page 0 was given).
   */
  ioData(): Uint8Array {
    const start = Number(this.ioDataOffset);
    const end = start + this.ioCount * this.ioSize;
    if (start > this.bytes.byteLength || end > this.bytes.byteLength) {
      throw new RangeError(
        `kvm_run io data ${start}..${end} lies outside the ${this.bytes.byteLength}-byte mapping`,
      );
    }
    return this.bytes.subarray(start, end);
  }

  // --- debug.arch -------------------------------------------------------------------------

  get debugException(): number {
    return this.#dv.getUint32(O.debug_exception, true);
  }
  set debugException(v: number) {
    this.#dv.setUint32(O.debug_exception, v, true);
  }

  get debugPad(): number {
    return this.#dv.getUint32(O.debug_pad, true);
  }
  set debugPad(v: number) {
    this.#dv.setUint32(O.debug_pad, v, true);
  }

  get debugPc(): bigint {
    return this.#dv.getBigUint64(O.debug_pc, true);
  }
  set debugPc(v: bigint) {
    this.#dv.setBigUint64(O.debug_pc, v, true);
  }

  get debugDr6(): bigint {
    return this.#dv.getBigUint64(O.debug_dr6, true);
  }
  set debugDr6(v: bigint) {
    this.#dv.setBigUint64(O.debug_dr6, v, true);
  }

  get debugDr7(): bigint {
    return this.#dv.getBigUint64(O.debug_dr7, true);
  }
  set debugDr7(v: bigint) {
    this.#dv.setBigUint64(O.debug_dr7, v, true);
  }

  // --- mmio (data: see mmioData) ---------------------------------------------------------

  get mmioPhysAddr(): bigint {
    return this.#dv.getBigUint64(O.mmio_phys_addr, true);
  }
  set mmioPhysAddr(v: bigint) {
    this.#dv.setBigUint64(O.mmio_phys_addr, v, true);
  }

  /** 1..8. */
  get mmioLen(): number {
    return this.#dv.getUint32(O.mmio_len, true);
  }
  set mmioLen(v: number) {
    this.#dv.setUint32(O.mmio_len, v, true);
  }

  get mmioIsWrite(): number {
    return this.#dv.getUint8(O.mmio_is_write);
  }
  set mmioIsWrite(v: number) {
    this.#dv.setUint8(O.mmio_is_write, v);
  }

  // --- hypercall --------------------------------------------------------------------------

  get hypercallNr(): bigint {
    return this.#dv.getBigUint64(O.hypercall_nr, true);
  }
  set hypercallNr(v: bigint) {
    this.#dv.setBigUint64(O.hypercall_nr, v, true);
  }

  /** hypercall.args[i], i in 0..5. */
  hypercallArg(i: number): bigint {
    checkIndex(i, KVM_RUN_HYPERCALL_ARGS, "hypercall.args");
    return this.#dv.getBigUint64(O.hypercall_args + 8 * i, true);
  }
  setHypercallArg(i: number, v: bigint): void {
    checkIndex(i, KVM_RUN_HYPERCALL_ARGS, "hypercall.args");
    this.#dv.setBigUint64(O.hypercall_args + 8 * i, v, true);
  }

  get hypercallRet(): bigint {
    return this.#dv.getBigUint64(O.hypercall_ret, true);
  }
  set hypercallRet(v: bigint) {
    this.#dv.setBigUint64(O.hypercall_ret, v, true);
  }

  /** hypercall.flags (u64; its low 32 bits alias the older `longmode`). */
  get hypercallFlags(): bigint {
    return this.#dv.getBigUint64(O.hypercall_flags, true);
  }
  set hypercallFlags(v: bigint) {
    this.#dv.setBigUint64(O.hypercall_flags, v, true);
  }

  // --- tpr_access -------------------------------------------------------------------------

  get tprAccessRip(): bigint {
    return this.#dv.getBigUint64(O.tpr_access_rip, true);
  }
  set tprAccessRip(v: bigint) {
    this.#dv.setBigUint64(O.tpr_access_rip, v, true);
  }

  get tprAccessIsWrite(): number {
    return this.#dv.getUint32(O.tpr_access_is_write, true);
  }
  set tprAccessIsWrite(v: number) {
    this.#dv.setUint32(O.tpr_access_is_write, v, true);
  }

  // --- internal / emulation_failure -------------------------------------------------------

  /** KVM_INTERNAL_ERROR_*. */
  get internalSuberror(): number {
    return this.#dv.getUint32(O.internal_suberror, true);
  }
  set internalSuberror(v: number) {
    this.#dv.setUint32(O.internal_suberror, v, true);
  }

  /** Valid entries of internal.data[]. */
  get internalNdata(): number {
    return this.#dv.getUint32(O.internal_ndata, true);
  }
  set internalNdata(v: number) {
    this.#dv.setUint32(O.internal_ndata, v, true);
  }

  /** internal.data[i], i in 0..15. */
  internalData(i: number): bigint {
    checkIndex(i, KVM_RUN_DATA_ENTRIES, "internal.data");
    return this.#dv.getBigUint64(O.internal_data + 8 * i, true);
  }
  setInternalData(i: number, v: bigint): void {
    checkIndex(i, KVM_RUN_DATA_ENTRIES, "internal.data");
    this.#dv.setBigUint64(O.internal_data + 8 * i, v, true);
  }

  /** Bit 0: KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES. */
  get emulationFailureFlags(): bigint {
    return this.#dv.getBigUint64(O.emulation_failure_flags, true);
  }
  set emulationFailureFlags(v: bigint) {
    this.#dv.setBigUint64(O.emulation_failure_flags, v, true);
  }

  get emulationFailureInsnSize(): number {
    return this.#dv.getUint8(O.emulation_failure_insn_size);
  }
  set emulationFailureInsnSize(v: number) {
    this.#dv.setUint8(O.emulation_failure_insn_size, v);
  }

  // --- system_event -----------------------------------------------------------------------

  /** KVM_SYSTEM_EVENT_*. */
  get systemEventType(): number {
    return this.#dv.getUint32(O.system_event_type, true);
  }
  set systemEventType(v: number) {
    this.#dv.setUint32(O.system_event_type, v, true);
  }

  get systemEventNdata(): number {
    return this.#dv.getUint32(O.system_event_ndata, true);
  }
  set systemEventNdata(v: number) {
    this.#dv.setUint32(O.system_event_ndata, v, true);
  }

  /** system_event.data[i], i in 0..15 (data[0] is also the older `flags`). */
  systemEventData(i: number): bigint {
    checkIndex(i, KVM_RUN_DATA_ENTRIES, "system_event.data");
    return this.#dv.getBigUint64(O.system_event_data + 8 * i, true);
  }
  setSystemEventData(i: number, v: bigint): void {
    checkIndex(i, KVM_RUN_DATA_ENTRIES, "system_event.data");
    this.#dv.setBigUint64(O.system_event_data + 8 * i, v, true);
  }

  // --- eoi, notify, memory_fault ----------------------------------------------------------

  get eoiVector(): number {
    return this.#dv.getUint8(O.eoi_vector);
  }
  set eoiVector(v: number) {
    this.#dv.setUint8(O.eoi_vector, v);
  }

  get notifyFlags(): number {
    return this.#dv.getUint32(O.notify_flags, true);
  }
  set notifyFlags(v: number) {
    this.#dv.setUint32(O.notify_flags, v, true);
  }

  get memoryFaultFlags(): bigint {
    return this.#dv.getBigUint64(O.memory_fault_flags, true);
  }
  set memoryFaultFlags(v: bigint) {
    this.#dv.setBigUint64(O.memory_fault_flags, v, true);
  }

  get memoryFaultGpa(): bigint {
    return this.#dv.getBigUint64(O.memory_fault_gpa, true);
  }
  set memoryFaultGpa(v: bigint) {
    this.#dv.setBigUint64(O.memory_fault_gpa, v, true);
  }

  get memoryFaultSize(): bigint {
    return this.#dv.getBigUint64(O.memory_fault_size, true);
  }
  set memoryFaultSize(v: bigint) {
    this.#dv.setBigUint64(O.memory_fault_size, v, true);
  }

  // --- msr --------------------------------------------------------------------------------

  /** Set by userspace: 1 ⇒ inject #GP. */
  get msrError(): number {
    return this.#dv.getUint8(O.msr_error);
  }
  set msrError(v: number) {
    this.#dv.setUint8(O.msr_error, v);
  }

  /** KVM_MSR_EXIT_REASON_*. */
  get msrReason(): number {
    return this.#dv.getUint32(O.msr_reason, true);
  }
  set msrReason(v: number) {
    this.#dv.setUint32(O.msr_reason, v, true);
  }

  get msrIndex(): number {
    return this.#dv.getUint32(O.msr_index, true);
  }
  set msrIndex(v: number) {
    this.#dv.setUint32(O.msr_index, v, true);
  }

  get msrData(): bigint {
    return this.#dv.getBigUint64(O.msr_data, true);
  }
  set msrData(v: bigint) {
    this.#dv.setBigUint64(O.msr_data, v, true);
  }

  // --- sync regs --------------------------------------------------------------------------

  /** KVM_SYNC_X86_* bits valid in `s` (kernel → userspace). */
  get kvmValidRegs(): bigint {
    return this.#dv.getBigUint64(O.kvm_valid_regs, true);
  }
  set kvmValidRegs(v: bigint) {
    this.#dv.setBigUint64(O.kvm_valid_regs, v, true);
  }

  /** KVM_SYNC_X86_* bits userspace modified in `s` (userspace → kernel). */
  get kvmDirtyRegs(): bigint {
    return this.#dv.getBigUint64(O.kvm_dirty_regs, true);
  }
  set kvmDirtyRegs(v: bigint) {
    this.#dv.setBigUint64(O.kvm_dirty_regs, v, true);
  }
}

function u64List(count: number, read: (i: number) => bigint): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i < count; i++) out.push(read(i));
  return out;
}

/** The union member that `exit_reason` selects, keyed by its C name; undefined for none. */
function decodeExitUnion(run: KvmRun): [string, Record<string, unknown>] | undefined {
  switch (run.exitReason) {
    case KVM_EXIT_UNKNOWN:
      return ["hw", { hardware_exit_reason: run.hwHardwareExitReason }];
    case KVM_EXIT_EXCEPTION:
      return ["ex", { exception: run.exException, error_code: run.exErrorCode }];
    case KVM_EXIT_IO:
      return [
        "io",
        {
          direction: run.ioDirection,
          size: run.ioSize,
          port: run.ioPort,
          count: run.ioCount,
          data_offset: run.ioDataOffset,
        },
      ];
    case KVM_EXIT_HYPERCALL:
      return [
        "hypercall",
        {
          nr: run.hypercallNr,
          args: u64List(KVM_RUN_HYPERCALL_ARGS, (i) => run.hypercallArg(i)),
          ret: run.hypercallRet,
          flags: run.hypercallFlags,
        },
      ];
    case KVM_EXIT_DEBUG:
      return [
        "debug",
        {
          arch: {
            exception: run.debugException,
            pad: run.debugPad,
            pc: run.debugPc,
            dr6: run.debugDr6,
            dr7: run.debugDr7,
          },
        },
      ];
    case KVM_EXIT_MMIO:
      return [
        "mmio",
        {
          phys_addr: run.mmioPhysAddr,
          data: run.mmioData.slice(),
          len: run.mmioLen,
          is_write: run.mmioIsWrite,
        },
      ];
    case KVM_EXIT_FAIL_ENTRY:
      return [
        "fail_entry",
        {
          hardware_entry_failure_reason: run.failEntryHardwareEntryFailureReason,
          cpu: run.failEntryCpu,
        },
      ];
    case KVM_EXIT_TPR_ACCESS:
      return ["tpr_access", { rip: run.tprAccessRip, is_write: run.tprAccessIsWrite }];
    case KVM_EXIT_INTERNAL_ERROR: {
      const suberror = run.internalSuberror;
      const ndata = run.internalNdata;
      const member: Record<string, unknown> = {
        suberror,
        suberror_name: KVM_INTERNAL_ERROR_NAMES.get(suberror) ?? `${suberror}`,
        ndata,
        data: u64List(Math.min(ndata, KVM_RUN_DATA_ENTRIES), (i) => run.internalData(i)),
      };
      if (suberror === KVM_INTERNAL_ERROR_EMULATION) {
        member.emulation_failure = {
          flags: run.emulationFailureFlags,
          insn_size: run.emulationFailureInsnSize,
          insn_bytes: run.emulationFailureInsnBytes.slice(),
        };
      }
      return ["internal", member];
    }
    case KVM_EXIT_SYSTEM_EVENT: {
      const type = run.systemEventType;
      const ndata = run.systemEventNdata;
      return [
        "system_event",
        {
          type,
          type_name: KVM_SYSTEM_EVENT_NAMES.get(type) ?? `${type}`,
          ndata,
          data: u64List(Math.min(ndata, KVM_RUN_DATA_ENTRIES), (i) => run.systemEventData(i)),
        },
      ];
    }
    case KVM_EXIT_IOAPIC_EOI:
      return ["eoi", { vector: run.eoiVector }];
    case KVM_EXIT_X86_RDMSR:
    case KVM_EXIT_X86_WRMSR:
      return [
        "msr",
        { error: run.msrError, reason: run.msrReason, index: run.msrIndex, data: run.msrData },
      ];
    case KVM_EXIT_NOTIFY:
      return ["notify", { flags: run.notifyFlags }];
    case KVM_EXIT_MEMORY_FAULT:
      return [
        "memory_fault",
        { flags: run.memoryFaultFlags, gpa: run.memoryFaultGpa, size: run.memoryFaultSize },
      ];
    default:
      return undefined;
  }
}

/**
 * A plain snapshot of a kvm_run page for UIs and logs: the header (snake_case C names, plus
 * `exit_reason_name`), the union member that `exit_reason` selects under its C name (e.g.
 * `io: { direction, size, port, count, data_offset }`), and `s` with the sync-regs structs
 * flagged in `kvm_valid_regs`. u64 fields stay bigints; byte arrays are copies.
 */
export function decodeKvmRun(bytes: Uint8Array): Record<string, unknown> {
  const run = new KvmRun(bytes);
  const reason = run.exitReason;
  const out: Record<string, unknown> = {
    request_interrupt_window: run.requestInterruptWindow,
    immediate_exit: run.immediateExit,
    exit_reason: reason,
    exit_reason_name: kvmExitReasonName(reason),
    ready_for_interrupt_injection: run.readyForInterruptInjection,
    if_flag: run.ifFlag,
    flags: run.flags,
    cr8: run.cr8,
    apic_base: run.apicBase,
  };
  const member = decodeExitUnion(run);
  if (member) out[member[0]] = member[1];
  const valid = run.kvmValidRegs;
  out.kvm_valid_regs = valid;
  out.kvm_dirty_regs = run.kvmDirtyRegs;
  if (valid !== 0n) {
    const s: Record<string, unknown> = {};
    if (valid & BigInt(KVM_SYNC_X86_REGS)) s.regs = decodeKvmRegs(bytes, O.s_regs);
    if (valid & BigInt(KVM_SYNC_X86_SREGS)) s.sregs = decodeKvmSregs(bytes, O.s_sregs);
    if (valid & BigInt(KVM_SYNC_X86_EVENTS)) s.events = decodeKvmVcpuEvents(bytes, O.s_events);
    out.s = s;
  }
  return out;
}
