import { describe, expect, it } from "vitest";
import {
  KVM_EXIT_HLT,
  KVM_EXIT_INTERNAL_ERROR,
  KVM_EXIT_IO,
  KVM_EXIT_IO_OUT,
  KVM_EXIT_MMIO,
  KVM_EXIT_SYSTEM_EVENT,
  KVM_EXIT_X86_RDMSR,
  KVM_INTERNAL_ERROR_EMULATION,
  KVM_SYNC_X86_REGS,
  KVM_SYNC_X86_SREGS,
  KVM_SYSTEM_EVENT_RESET,
  PAGE_SIZE,
} from "./kvm.js";
import { decodeKvmRun, KVM_RUN_OFFSETS, KvmRun } from "./kvm_run.js";
import {
  decodeKvmRegs,
  emptyKvmRegs,
  emptyKvmSregs,
  encodeKvmRegs,
  encodeKvmSregs,
  KVM_RUN_SIZE,
} from "./structs.js";

const BIG = 0xfedc_ba98_7654_3210n;

function page(): Uint8Array {
  return new Uint8Array(3 * PAGE_SIZE);
}

function u(bytes: Uint8Array, offset: number, width: 1 | 2 | 4 | 8): number | bigint {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (width === 1) return dv.getUint8(offset);
  if (width === 2) return dv.getUint16(offset, true);
  if (width === 4) return dv.getUint32(offset, true);
  return dv.getBigUint64(offset, true);
}

/** shared/reference/kvm-uapi.md §4: accessor, offset, width, a value filling the width. */
const ACCESSORS: ReadonlyArray<readonly [string, number, 1 | 2 | 4 | 8, number | bigint]> = [
  ["requestInterruptWindow", 0, 1, 0xa1],
  ["immediateExit", 1, 1, 0xa2],
  ["exitReason", 8, 4, 0xdead_beef],
  ["readyForInterruptInjection", 12, 1, 0xa3],
  ["ifFlag", 13, 1, 0xa4],
  ["flags", 14, 2, 0xa5b6],
  ["cr8", 16, 8, BIG],
  ["apicBase", 24, 8, BIG + 1n],
  ["hwHardwareExitReason", 32, 8, BIG + 2n],
  ["failEntryHardwareEntryFailureReason", 32, 8, 0xffff_ffff_ffff_ffffn],
  ["failEntryCpu", 40, 4, 0x8000_0021],
  ["exException", 32, 4, 0x1111_2222],
  ["exErrorCode", 36, 4, 0x3333_4444],
  ["ioDirection", 32, 1, 0xb1],
  ["ioSize", 33, 1, 0xb2],
  ["ioPort", 34, 2, 0xc3f8],
  ["ioCount", 36, 4, 0x5555_6666],
  ["ioDataOffset", 40, 8, BIG + 3n],
  ["debugException", 32, 4, 0x7777_8888],
  ["debugPad", 36, 4, 0x9999_aaaa],
  ["debugPc", 40, 8, BIG + 4n],
  ["debugDr6", 48, 8, BIG + 5n],
  ["debugDr7", 56, 8, BIG + 6n],
  ["mmioPhysAddr", 32, 8, BIG + 7n],
  ["mmioLen", 48, 4, 0xbbbb_cccc],
  ["mmioIsWrite", 52, 1, 0xb3],
  ["hypercallNr", 32, 8, BIG + 8n],
  ["hypercallRet", 88, 8, BIG + 9n],
  ["hypercallFlags", 96, 8, BIG + 10n],
  ["tprAccessRip", 32, 8, BIG + 11n],
  ["tprAccessIsWrite", 40, 4, 0xdddd_eeee],
  ["internalSuberror", 32, 4, 0x1234_5678],
  ["internalNdata", 36, 4, 0x9abc_def0],
  ["emulationFailureFlags", 40, 8, BIG + 12n],
  ["emulationFailureInsnSize", 48, 1, 0xb4],
  ["systemEventType", 32, 4, 0x0102_0304],
  ["systemEventNdata", 36, 4, 0x0506_0708],
  ["eoiVector", 32, 1, 0xb5],
  ["msrError", 32, 1, 0xb6],
  ["msrReason", 40, 4, 0x0a0b_0c0d],
  ["msrIndex", 44, 4, 0xc000_0080],
  ["msrData", 48, 8, BIG + 13n],
  ["notifyFlags", 32, 4, 0x0e0f_1011],
  ["memoryFaultFlags", 32, 8, BIG + 14n],
  ["memoryFaultGpa", 40, 8, BIG + 15n],
  ["memoryFaultSize", 48, 8, BIG + 16n],
  ["kvmValidRegs", 288, 8, BIG + 17n],
  ["kvmDirtyRegs", 296, 8, BIG + 18n],
];

describe("KvmRun accessors (§4)", () => {
  it.each(ACCESSORS)("%s lands at offset %i (%i bytes)", (name, offset, width, value) => {
    const bytes = page();
    const run = new KvmRun(bytes);
    const fields = run as unknown as Record<string, unknown>;
    fields[name] = value;
    expect(u(bytes, offset, width)).toBe(value);
    expect(fields[name]).toBe(value);
    // nothing else was touched: the width is right too
    const others = bytes.slice();
    others.fill(0, offset, offset + width);
    expect(others.every((x) => x === 0)).toBe(true);
  });

  it("indexed data: internal.data[i] @40+8i, system_event.data[i] @40+8i, hypercall.args[i] @40+8i", () => {
    const bytes = page();
    const run = new KvmRun(bytes);
    for (let i = 0; i < 16; i++) run.setInternalData(i, BIG + BigInt(i));
    for (let i = 0; i < 16; i++) expect(u(bytes, 40 + 8 * i, 8)).toBe(BIG + BigInt(i));
    expect(run.systemEventData(15)).toBe(BIG + 15n);
    run.setSystemEventData(0, 7n);
    expect(run.internalData(0)).toBe(7n);
    expect(run.emulationFailureFlags).toBe(7n);
    run.setHypercallArg(5, 9n);
    expect(u(bytes, 80, 8)).toBe(9n);
    expect(run.hypercallArg(5)).toBe(9n);
    expect(() => run.internalData(16)).toThrow(RangeError);
    expect(() => run.setSystemEventData(-1, 0n)).toThrow(RangeError);
    expect(() => run.hypercallArg(6)).toThrow(RangeError);
  });

  it("mmioData is an 8-byte view @40; emulationFailureInsnBytes a 15-byte view @49", () => {
    const bytes = page();
    const run = new KvmRun(bytes);
    expect(run.mmioData).toHaveLength(8);
    expect(run.emulationFailureInsnBytes).toHaveLength(15);
    run.mmioData.set([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(Array.from(bytes.subarray(40, 48))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    bytes[49] = 0x0f;
    bytes[63] = 0xcc;
    expect(run.emulationFailureInsnBytes[0]).toBe(0x0f);
    expect(run.emulationFailureInsnBytes[14]).toBe(0xcc);
    expect(run.mmioData).toBe(run.mmioData); // created once
  });

  it("clearExitUnion zeroes exactly bytes 32..287", () => {
    const bytes = page().fill(0xee);
    new KvmRun(bytes).clearExitUnion();
    expect(bytes.subarray(32, 288).every((x) => x === 0)).toBe(true);
    expect(bytes[31]).toBe(0xee);
    expect(bytes[288]).toBe(0xee);
  });

  it("ioData is a view of count × size bytes at data_offset", () => {
    const bytes = page();
    const run = new KvmRun(bytes);
    run.ioDataOffset = BigInt(PAGE_SIZE);
    run.ioSize = 2;
    run.ioCount = 3;
    const data = run.ioData();
    expect(data).toHaveLength(6);
    data[5] = 0x42;
    expect(bytes[PAGE_SIZE + 5]).toBe(0x42);
    expect(() => new KvmRun(bytes.subarray(0, PAGE_SIZE)).ioData()).toThrow(RangeError);
  });

  it("needs at least KVM_RUN_SIZE bytes", () => {
    expect(() => new KvmRun(new Uint8Array(KVM_RUN_SIZE - 1))).toThrow(RangeError);
    expect(() => new KvmRun(new Uint8Array(KVM_RUN_SIZE))).not.toThrow();
  });
});

describe("KvmRun never copies", () => {
  it("sees writes through another view of the same SharedArrayBuffer, and vice versa", () => {
    const sab = new SharedArrayBuffer(3 * PAGE_SIZE);
    const run = new KvmRun(new Uint8Array(sab, 0, PAGE_SIZE));
    const other = new DataView(sab);
    other.setUint32(8, KVM_EXIT_IO, true);
    other.setUint16(34, 0x3f8, true);
    other.setBigUint64(40, 4096n, true);
    expect(run.exitReason).toBe(KVM_EXIT_IO);
    expect(run.ioPort).toBe(0x3f8);
    expect(run.ioDataOffset).toBe(4096n);
    new Uint8Array(sab)[44] = 0x99; // inside mmio.data
    expect(run.mmioData[4]).toBe(0x99);

    run.immediateExit = 1;
    run.msrData = BIG;
    expect(other.getUint8(1)).toBe(1);
    expect(other.getBigUint64(48, true)).toBe(BIG);
  });

  it("honours a view's byteOffset", () => {
    const sab = new SharedArrayBuffer(4 * PAGE_SIZE);
    const run = new KvmRun(new Uint8Array(sab, PAGE_SIZE, 3 * PAGE_SIZE));
    run.exitReason = KVM_EXIT_HLT;
    run.mmioData[0] = 0x5a;
    const dv = new DataView(sab);
    expect(dv.getUint32(PAGE_SIZE + 8, true)).toBe(KVM_EXIT_HLT);
    expect(dv.getUint8(PAGE_SIZE + 40)).toBe(0x5a);
    expect(dv.getUint32(8, true)).toBe(0);
  });
});

describe("KVM_RUN_OFFSETS", () => {
  it("matches the reference and is frozen", () => {
    expect(Object.isFrozen(KVM_RUN_OFFSETS)).toBe(true);
    expect(KVM_RUN_OFFSETS).toMatchObject({
      request_interrupt_window: 0,
      immediate_exit: 1,
      padding1: 2,
      exit_reason: 8,
      ready_for_interrupt_injection: 12,
      if_flag: 13,
      flags: 14,
      cr8: 16,
      apic_base: 24,
      hw_hardware_exit_reason: 32,
      fail_entry_hardware_entry_failure_reason: 32,
      fail_entry_cpu: 40,
      ex_exception: 32,
      ex_error_code: 36,
      io_direction: 32,
      io_size: 33,
      io_port: 34,
      io_count: 36,
      io_data_offset: 40,
      debug_exception: 32,
      debug_pad: 36,
      debug_pc: 40,
      debug_dr6: 48,
      debug_dr7: 56,
      mmio_phys_addr: 32,
      mmio_data: 40,
      mmio_len: 48,
      mmio_is_write: 52,
      hypercall_nr: 32,
      hypercall_args: 40,
      hypercall_ret: 88,
      hypercall_flags: 96,
      tpr_access_rip: 32,
      tpr_access_is_write: 40,
      internal_suberror: 32,
      internal_ndata: 36,
      internal_data: 40,
      emulation_failure_flags: 40,
      emulation_failure_insn_size: 48,
      emulation_failure_insn_bytes: 49,
      system_event_type: 32,
      system_event_ndata: 36,
      system_event_data: 40,
      eoi_vector: 32,
      msr_error: 32,
      msr_reason: 40,
      msr_index: 44,
      msr_data: 48,
      notify_flags: 32,
      memory_fault_flags: 32,
      memory_fault_gpa: 40,
      memory_fault_size: 48,
      kvm_valid_regs: 288,
      kvm_dirty_regs: 296,
      s: 304,
      s_regs: 304,
      s_sregs: 448,
      s_events: 760,
    });
    // the sync-regs structs fit in the 2048-byte union, which ends at KVM_RUN_SIZE
    expect(KVM_RUN_OFFSETS.s + 2048).toBe(KVM_RUN_SIZE);
    expect(KVM_RUN_OFFSETS.s_events + 64).toBeLessThanOrEqual(KVM_RUN_SIZE);
  });

  it("sync regs written at s_regs are read back by the codec", () => {
    const bytes = page();
    const regs = { ...emptyKvmRegs(), rip: BIG, rflags: 2n };
    encodeKvmRegs(regs, bytes, KVM_RUN_OFFSETS.s_regs);
    expect(u(bytes, 304 + 128, 8)).toBe(BIG);
    expect(decodeKvmRegs(bytes, 304)).toEqual(regs);
  });
});

describe("decodeKvmRun", () => {
  it("an I/O exit: header plus only the io member", () => {
    const bytes = page();
    const run = new KvmRun(bytes);
    run.exitReason = KVM_EXIT_IO;
    run.readyForInterruptInjection = 1;
    run.ifFlag = 1;
    run.cr8 = 3n;
    run.ioDirection = KVM_EXIT_IO_OUT;
    run.ioSize = 1;
    run.ioPort = 0x3f8;
    run.ioCount = 1;
    run.ioDataOffset = 4096n;
    expect(decodeKvmRun(bytes)).toEqual({
      request_interrupt_window: 0,
      immediate_exit: 0,
      exit_reason: 2,
      exit_reason_name: "KVM_EXIT_IO",
      ready_for_interrupt_injection: 1,
      if_flag: 1,
      flags: 0,
      cr8: 3n,
      apic_base: 0n,
      io: { direction: 1, size: 1, port: 0x3f8, count: 1, data_offset: 4096n },
      kvm_valid_regs: 0n,
      kvm_dirty_regs: 0n,
    });
  });

  it("an MMIO write copies the data bytes", () => {
    const bytes = page();
    const run = new KvmRun(bytes);
    run.exitReason = KVM_EXIT_MMIO;
    run.mmioPhysAddr = 0xfee0_0300n;
    run.mmioLen = 4;
    run.mmioIsWrite = 1;
    run.mmioData.set([0x11, 0x22, 0x33, 0x44]);
    const out = decodeKvmRun(bytes);
    expect(out.mmio).toEqual({
      phys_addr: 0xfee0_0300n,
      data: Uint8Array.of(0x11, 0x22, 0x33, 0x44, 0, 0, 0, 0),
      len: 4,
      is_write: 1,
    });
    expect(out.io).toBeUndefined();
  });

  it("an emulation failure carries the overlay", () => {
    const bytes = page();
    const run = new KvmRun(bytes);
    run.exitReason = KVM_EXIT_INTERNAL_ERROR;
    run.internalSuberror = KVM_INTERNAL_ERROR_EMULATION;
    run.internalNdata = 3;
    run.emulationFailureFlags = 1n;
    run.emulationFailureInsnSize = 2;
    run.emulationFailureInsnBytes.set([0x0f, 0x0b]);
    const internal = decodeKvmRun(bytes).internal as Record<string, unknown>;
    expect(internal.suberror_name).toBe("KVM_INTERNAL_ERROR_EMULATION");
    expect(internal.data).toHaveLength(3);
    expect(internal.emulation_failure).toMatchObject({ flags: 1n, insn_size: 2 });
  });

  it("system events, MSR exits, exits with no member, sync regs", () => {
    const bytes = page();
    const run = new KvmRun(bytes);
    run.exitReason = KVM_EXIT_SYSTEM_EVENT;
    run.systemEventType = KVM_SYSTEM_EVENT_RESET;
    run.systemEventNdata = 1;
    run.setSystemEventData(0, 5n);
    expect(decodeKvmRun(bytes).system_event).toEqual({
      type: 2,
      type_name: "KVM_SYSTEM_EVENT_RESET",
      ndata: 1,
      data: [5n],
    });

    run.clearExitUnion();
    run.exitReason = KVM_EXIT_X86_RDMSR;
    run.msrIndex = 0x1b;
    run.msrReason = 2;
    expect(decodeKvmRun(bytes).msr).toEqual({ error: 0, reason: 2, index: 0x1b, data: 0n });

    run.exitReason = KVM_EXIT_HLT;
    const hlt = decodeKvmRun(bytes);
    expect(hlt.exit_reason_name).toBe("KVM_EXIT_HLT");
    expect(Object.keys(hlt)).not.toContain("msr");
    expect(hlt.s).toBeUndefined();

    run.kvmValidRegs = BigInt(KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS);
    encodeKvmRegs({ ...emptyKvmRegs(), rax: 42n }, bytes, KVM_RUN_OFFSETS.s_regs);
    encodeKvmSregs(emptyKvmSregs(), bytes, KVM_RUN_OFFSETS.s_sregs);
    const s = decodeKvmRun(bytes).s as Record<string, unknown>;
    expect((s.regs as { rax: bigint }).rax).toBe(42n);
    expect(s.sregs).toEqual(emptyKvmSregs());
    expect(s.events).toBeUndefined();

    run.exitReason = 99;
    expect(decodeKvmRun(bytes).exit_reason_name).toBe("KVM_EXIT_99?");
  });
});
