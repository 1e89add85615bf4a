import { afterEach, describe, expect, it } from "vitest";
import { traceAddSink, traceEnable, traceReset } from "../trace/control.js";
import {
  LOG_INVALID_MEM,
  qemuLogReset,
  qemuLogSetHost,
  qemuSetLogFilenameFlags,
} from "../util/log.js";
import {
  AddressSpace,
  memoryRegionAddSubregion,
  memoryRegionInit,
  memoryRegionInitAlias,
  memoryRegionInitIo,
  memoryRegionInitRam,
  memoryRegionInitRom,
  memoryRegionSetEnabled,
} from "./memory.js";

describe("the memory API", () => {
  afterEach(() => traceReset());

  it("dispatches I/O to the region at the address, offset-relative; unassigned is all-ones", () => {
    const io = memoryRegionInit("machine", "io", 0x1_0000);
    const seen: number[][] = [];
    const dev = memoryRegionInitIo(
      "dev",
      { read: (a, s) => 0x40 + a + s, write: (a, v, s) => seen.push([a, v, s]) },
      "dev",
      8,
    );
    memoryRegionAddSubregion(io, 0x3f8, dev);
    const as = new AddressSpace("I/O", io);
    expect(as.read(0x3fa, 1)).toBe(0x43);
    as.write(0x3f8, 0x41, 1);
    expect(seen).toEqual([[0, 0x41, 1]]);
    expect(as.read(0x80, 1)).toBe(0xff);
    expect(as.read(0x80, 2)).toBe(0xffff);
    expect(as.read(0x80, 4)).toBe(0xffff_ffff);
  });

  it("traces unassigned accesses when asked", () => {
    const as = new AddressSpace("I/O", memoryRegionInit("m", "io", 0x1_0000));
    const lines: string[] = [];
    traceEnable("memory_region_unassigned_*");
    const off = traceAddSink((r) => lines.push(r.name));
    as.write(0x80, 1, 1);
    as.read(0x81, 1);
    off();
    expect(lines).toEqual(["memory_region_unassigned_write", "memory_region_unassigned_read"]);
  });

  it("reads and writes RAM little-endian; ROM ignores writes", () => {
    const sys = memoryRegionInit("m", "system", 2 ** 32);
    const ram = new Uint8Array(0x1000);
    memoryRegionAddSubregion(sys, 0, memoryRegionInitRam("m", "pc.ram", ram));
    const rom = new Uint8Array(0x1000).fill(0xaa);
    memoryRegionAddSubregion(sys, 0xf000, memoryRegionInitRom("m", "bios", rom));
    const as = new AddressSpace("memory", sys);
    as.write(0x10, 0x1234_5678, 4);
    expect([...ram.subarray(0x10, 0x14)]).toEqual([0x78, 0x56, 0x34, 0x12]);
    expect(as.read(0x11, 2)).toBe(0x3456);
    as.write(0xf000, 0, 1);
    expect(as.read(0xf000, 1)).toBe(0xaa);
  });

  it("flattens RAM for KVM: aliases, priorities and I/O holes hide what is beneath", () => {
    const sys = memoryRegionInit("m", "system", 2 ** 32);
    const ram = new Uint8Array(0x20_0000);
    const pcRam = memoryRegionInitRam("m", "pc.ram", ram, 0x7000_0000);
    memoryRegionAddSubregion(
      sys,
      0,
      memoryRegionInitAlias("m", "ram-below-4g", pcRam, 0, ram.length),
    );
    const bios = memoryRegionInitRom("m", "pc.bios", new Uint8Array(0x2_0000));
    memoryRegionAddSubregion(
      sys,
      0xe_0000,
      memoryRegionInitAlias("m", "isa-bios", bios, 0, 0x2_0000),
      1,
    );
    const vga = memoryRegionInitIo(
      "vga",
      { read: () => 0, write: () => {} },
      "vga-lowmem",
      0x2_0000,
    );
    memoryRegionAddSubregion(sys, 0xa_0000, vga, 1);
    const as = new AddressSpace("memory", sys);
    const flat = as.ramBlocks().map((b) => [b.region.name, b.gpa, b.size, b.offset, b.readonly]);
    expect(flat).toEqual([
      ["pc.ram", 0, 0xa_0000, 0, false],
      ["pc.ram", 0xc_0000, 0x2_0000, 0xc_0000, false],
      ["pc.bios", 0xe_0000, 0x2_0000, 0, true],
      ["pc.ram", 0x10_0000, 0x10_0000, 0x10_0000, false],
    ]);
    let changes = 0;
    as.onLayoutChange(() => changes++);
    memoryRegionSetEnabled(vga, false);
    expect(changes).toBe(1);
    // Without the VGA window low RAM is one block up to the BIOS.
    expect(as.ramBlocks()[0]).toMatchObject({ gpa: 0, size: 0xe_0000 });
  });

  it("system memory rejects unassigned accesses: a decode error, logged under -d invalid_mem", () => {
    const sys = memoryRegionInit("m", "system", 2 ** 32);
    memoryRegionAddSubregion(sys, 0, memoryRegionInitRam("m", "ram", new Uint8Array(0x1000)));
    const as = new AddressSpace("memory", sys, true);
    const logged: string[] = [];
    qemuLogReset();
    qemuLogSetHost({ stderr: (t) => logged.push(t) });
    qemuSetLogFilenameFlags(null, LOG_INVALID_MEM);
    try {
      expect(as.readChecked(0x10, 1)).toBe(0);
      expect(as.readChecked(0xfee0_0000, 4)).toBeNull();
      expect(as.read(0xfee0_0000, 2)).toBe(0); // unassigned_mem_read
      as.write(0xa_0000, 1, 1);
    } finally {
      qemuLogSetHost(null);
      qemuLogReset();
    }
    expect(logged).toEqual([
      "Invalid read at addr 0xFEE00000, size 4, region '(null)', reason: rejected\n",
      "Invalid read at addr 0xFEE00000, size 2, region '(null)', reason: rejected\n",
      "Invalid write at addr 0xA0000, size 1, region '(null)', reason: rejected\n",
    ]);
    // The port space's holes are the root's own ops: all-ones, no decode error.
    expect(
      new AddressSpace("I/O", memoryRegionInit("m", "io", 0x1_0000)).readChecked(0x80, 1),
    ).toBe(0xff);
  });
});
