import {
  KVM_EXIT_DEBUG,
  KVM_EXIT_HLT,
  KVM_EXIT_IO,
  KVM_EXIT_IO_OUT,
  KVM_EXIT_MMIO,
  KVM_RUN_SIZE,
  KvmRun,
} from "@glassvm/kvm-kernel/uapi";
import { describe, expect, it } from "vitest";
import { kvmRunRows } from "./kvm-run.js";

const page = (): { bytes: Uint8Array; run: KvmRun } => {
  // Two pages, as KVM_GET_VCPU_MMAP_SIZE gives: the PIO data page follows (KVM_PIO_PAGE_OFFSET).
  const bytes = new Uint8Array(KVM_RUN_SIZE > 4096 ? KVM_RUN_SIZE : 8192);
  return { bytes, run: new KvmRun(bytes) };
};
const row = (rows: ReturnType<typeof kvmRunRows>, name: string) =>
  rows.find((r) => r.name === name);

describe("kvm_run decoder", () => {
  it("shows a KVM_EXIT_IO page: header, the io member and the data bytes", () => {
    const { bytes, run } = page();
    run.exitReason = KVM_EXIT_IO;
    run.ioDirection = KVM_EXIT_IO_OUT;
    run.ioSize = 1;
    run.ioPort = 0xe9;
    run.ioCount = 1;
    run.ioDataOffset = 0x1000n;
    bytes[0x1000] = 0x48; // 'H'
    const rows = kvmRunRows(bytes);
    expect(row(rows, "exit_reason")).toEqual({
      offset: 8,
      name: "exit_reason",
      value: "2",
      note: "KVM_EXIT_IO",
    });
    expect(row(rows, "io.direction")).toMatchObject({
      offset: 32,
      value: "1",
      note: "KVM_EXIT_IO_OUT",
    });
    expect(row(rows, "io.port")).toMatchObject({
      offset: 34,
      value: "233 (0xe9)",
      note: "isa-debugcon",
    });
    expect(row(rows, "io.data_offset")).toMatchObject({ offset: 40, value: "0x1000" });
    expect(row(rows, "(io data)")).toMatchObject({ offset: 0x1000, value: "48", note: '"H"' });
    expect(rows.at(-1)?.name).toBe("kvm_dirty_regs");
  });

  it("shows an MMIO write with its direction", () => {
    const { bytes, run } = page();
    run.exitReason = KVM_EXIT_MMIO;
    run.mmioPhysAddr = 0xfee0_0000n;
    run.mmioLen = 4;
    run.mmioIsWrite = 1;
    run.mmioData.set([1, 2, 3, 4]);
    const rows = kvmRunRows(bytes);
    expect(row(rows, "exit_reason")?.note).toBe("KVM_EXIT_MMIO");
    expect(row(rows, "mmio.phys_addr")).toMatchObject({ offset: 32, value: "0xfee00000" });
    expect(row(rows, "mmio.is_write")).toMatchObject({ offset: 52, note: "write" });
    expect(row(rows, "mmio.data")?.value).toBe("01 02 03 04 00 00 00 00");
  });

  it("shows KVM_EXIT_DEBUG's arch fields at their offsets and a bare KVM_EXIT_HLT", () => {
    const { bytes, run } = page();
    run.exitReason = KVM_EXIT_DEBUG;
    run.debugException = 1;
    run.debugPc = 0xf0005n;
    const rows = kvmRunRows(bytes);
    expect(row(rows, "debug.arch.exception")).toMatchObject({ offset: 32, value: "1" });
    expect(row(rows, "debug.arch.pc")).toMatchObject({ offset: 40, value: "0xf0005" });
    const hlt = page();
    hlt.run.exitReason = KVM_EXIT_HLT;
    const names = kvmRunRows(hlt.bytes).map((r) => r.name);
    expect(names).toEqual([
      "request_interrupt_window",
      "immediate_exit",
      "exit_reason",
      "ready_for_interrupt_injection",
      "if_flag",
      "flags",
      "cr8",
      "apic_base",
      "kvm_valid_regs",
      "kvm_dirty_regs",
    ]);
  });
});
