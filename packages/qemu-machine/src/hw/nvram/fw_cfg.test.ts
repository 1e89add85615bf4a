import { objectUnparent } from "@glassvm/qom";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ensureMachine } from "../../../test/isa-harness.js";
import { QemuExit } from "../../qapi/error.js";
import { AddressSpace, memoryRegionInit } from "../../system/memory.js";
import { qemuDevicesReset, runstateReset } from "../../system/runstate.js";
import { setErrorSink } from "../../util/error-report.js";
import {
  FW_CFG_FILE_DIR,
  FW_CFG_FILE_FIRST,
  FW_CFG_ID,
  FW_CFG_IO_BASE,
  FW_CFG_KERNEL_SIZE,
  FW_CFG_SIGNATURE,
  type FWCfgState,
  fwCfgAddFile,
  fwCfgAddI32,
  fwCfgAddI64,
  fwCfgInitIo,
} from "./fw_cfg.js";

let s: FWCfgState;
let io: AddressSpace;

const select = (key: number) => io.write(FW_CFG_IO_BASE, key, 2);
const read = (n: number) => Array.from({ length: n }, () => io.read(FW_CFG_IO_BASE + 1, 1));
const text = (bytes: number[]) => String.fromCharCode(...bytes);

beforeEach(() => {
  ensureMachine();
  runstateReset();
  const root = memoryRegionInit("test", "io", 0x10000);
  io = new AddressSpace("I/O", root);
  s = fwCfgInitIo(FW_CFG_IO_BASE, root);
});

afterEach(() => {
  objectUnparent(s);
  runstateReset();
});

describe("fw_cfg_io", () => {
  it("reads the signature after reset, and ID 1 (no DMA interface)", () => {
    expect(text(read(4))).toBe("QEMU");
    select(FW_CFG_ID);
    expect(read(4)).toEqual([1, 0, 0, 0]);
  });

  it("gives integers little-endian and 0 past an item's end", () => {
    fwCfgAddI32(s, FW_CFG_KERNEL_SIZE, 0x12345678);
    select(FW_CFG_KERNEL_SIZE);
    expect(read(6)).toEqual([0x78, 0x56, 0x34, 0x12, 0, 0]);
    fwCfgAddI64(s, 0x8000 + 3, 0x1_0000_0002n); // an arch-local key
    select(0x8003);
    expect(read(8)).toEqual([2, 0, 0, 0, 1, 0, 0, 0]);
  });

  it("selecting again starts over; the device reset selects the signature", () => {
    select(FW_CFG_SIGNATURE);
    read(2);
    select(FW_CFG_SIGNATURE);
    expect(text(read(4))).toBe("QEMU");
    select(FW_CFG_ID);
    qemuDevicesReset();
    expect(text(read(4))).toBe("QEMU");
  });

  it("answers only 16-bit selector writes and byte data reads", () => {
    select(FW_CFG_ID);
    io.write(FW_CFG_IO_BASE, FW_CFG_SIGNATURE, 1); // not accepted: still ID
    expect(read(1)).toEqual([1]);
    expect(io.read(FW_CFG_IO_BASE + 1, 2)).toBe(0xffff);
  });

  it("reads 0 from a key beyond the file slots (FW_CFG_INVALID)", () => {
    select(0x3fff);
    expect(read(4)).toEqual([0, 0, 0, 0]);
  });

  it("keeps the file directory sorted by name, big-endian", () => {
    fwCfgAddFile(s, "etc/e820", new Uint8Array(40));
    fwCfgAddFile(s, "bootorder", new Uint8Array(3).fill(7));
    select(FW_CFG_FILE_DIR);
    const dir = read(4 + 2 * 64);
    expect(dir.slice(0, 4)).toEqual([0, 0, 0, 2]);
    const entry = (i: number) => {
      const e = dir.slice(4 + 64 * i, 4 + 64 * (i + 1));
      const name = text(e.slice(8, 8 + e.slice(8).indexOf(0)));
      return { size: (e[2]! << 8) | e[3]!, select: (e[4]! << 8) | e[5]!, name };
    };
    expect(entry(0)).toEqual({ size: 3, select: FW_CFG_FILE_FIRST, name: "bootorder" });
    expect(entry(1)).toEqual({ size: 40, select: FW_CFG_FILE_FIRST + 1, name: "etc/e820" });
    select(FW_CFG_FILE_FIRST);
    expect(read(4)).toEqual([7, 7, 7, 0]);
  });

  it("refuses a second file of the same name with QEMU's message", () => {
    const err: string[] = [];
    const old = setErrorSink((t) => err.push(t));
    try {
      fwCfgAddFile(s, "etc/e820", new Uint8Array(1));
      expect(() => fwCfgAddFile(s, "etc/e820", new Uint8Array(1))).toThrow(QemuExit);
      expect(err.join("")).toContain("duplicate fw_cfg file name: etc/e820");
    } finally {
      setErrorSink(old);
    }
  });
});
