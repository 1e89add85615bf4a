import { objectUnparent } from "@glassvm/qom";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ensureMachine } from "../../../test/isa-harness.js";
import { multibootElf, multibootFlat } from "../../../test/multiboot-images.js";
import { QemuExit } from "../../qapi/error.js";
import { memoryRegionInit } from "../../system/memory.js";
import { runstateReset } from "../../system/runstate.js";
import { errorInit, setErrorSink } from "../../util/error-report.js";
import {
  FW_CFG_INITRD_ADDR,
  FW_CFG_KERNEL_ADDR,
  FW_CFG_KERNEL_DATA,
  FW_CFG_KERNEL_ENTRY,
  FW_CFG_KERNEL_SIZE,
  type FWCfgState,
  fwCfgInitIo,
} from "../nvram/fw_cfg.js";
import { ADDR_MBI, loadMultiboot, MBI_SIZE } from "./multiboot.js";

let s: FWCfgState;
let err: string[];
let oldSink: ReturnType<typeof setErrorSink>;

const u32 = (b: Uint8Array | undefined, at = 0) =>
  new DataView(b!.buffer, b!.byteOffset, b!.byteLength).getUint32(at, true);

beforeEach(() => {
  ensureMachine();
  runstateReset();
  errorInit("qemu-system-x86_64");
  s = fwCfgInitIo(0x510, memoryRegionInit("test", "io", 0x10000));
  err = [];
  oldSink = setErrorSink((t) => err.push(t));
});

afterEach(() => {
  setErrorSink(oldSink);
  objectUnparent(s);
  runstateReset();
});

const load = (
  image: Uint8Array,
  initrd: string | null = null,
  files: Record<string, Uint8Array> = {},
) => loadMultiboot(s, image, "k", initrd, "", (p) => files[p] ?? null);

const fails = (image: Uint8Array, message: string) => {
  expect(() => load(image)).toThrow(QemuExit);
  expect(err.join("")).toBe(`qemu-system-x86_64: ${message}\n`);
};

describe("load_multiboot", () => {
  it("is not multiboot without the magic and a zero checksum", () => {
    expect(load(new Uint8Array(1024))).toBeNull();
    const bad = multibootFlat();
    bad[8]! ^= 1; // checksum off by one
    expect(load(bad)).toBeNull();
  });

  it("lays an ELF kernel out from its lowest PT_LOAD address, bss included", () => {
    const image = multibootElf(0x20_0000, 0x3000);
    const mb = load(image)!;
    expect(mb.loadAddr).toBe(0x20_0000);
    expect(mb.entry).toBe(0x20_0080);
    expect(u32(s.entries.get(FW_CFG_KERNEL_ENTRY))).toBe(0x20_0080);
    expect(u32(s.entries.get(FW_CFG_KERNEL_ADDR))).toBe(0x20_0000);
    // kernel + bss (0x3000 + file) page-aligned, then one page for the loader strings
    const size = u32(s.entries.get(FW_CFG_KERNEL_SIZE));
    expect(size).toBe(0x4000 + 0x1000);
    const data = s.entries.get(FW_CFG_KERNEL_DATA)!;
    expect(data.length).toBe(size);
    expect(Array.from(data.subarray(0, image.length))).toEqual(Array.from(image));
    expect(data.subarray(image.length, 0x3000 + image.length).every((b) => b === 0)).toBe(true);
    expect(u32(s.entries.get(FW_CFG_INITRD_ADDR))).toBe(ADDR_MBI);
    expect(mb.bootinfo.length).toBe(MBI_SIZE);
  });

  it("loads a flat image by its header's addresses", () => {
    const image = multibootFlat(0x10_0000, { bssEnd: 0x10_2000 });
    const mb = load(image)!;
    expect(mb.loadAddr).toBe(0x10_0000);
    expect(mb.entry).toBe(0x10_0020);
    expect(Array.from(mb.buf.subarray(0, image.length))).toEqual(Array.from(image));
    expect(mb.buf.length).toBe(0x3000); // 0x2000 of kernel+bss, one page of strings
    // The command line: the file name, a space, the (empty) -append.
    const cmdline = u32(mb.bootinfo, 16) - 0x10_0000;
    expect(new TextDecoder().decode(mb.buf.subarray(cmdline, cmdline + 3))).toBe("k \0");
  });

  it("puts -initrd modules page-aligned after the strings, each with its command line", () => {
    const a = new Uint8Array(5000).fill(0xaa);
    const b = new Uint8Array(10).fill(0xbb);
    const mb = load(multibootFlat(), "a.bin x=1,b,,c.bin", { "a.bin": a, "b,c.bin": b })!;
    expect(u32(mb.bootinfo, 20)).toBe(2);
    const table = u32(mb.bootinfo, 24) - mb.loadAddr;
    const mod = (i: number) => [u32(mb.buf, table + 16 * i), u32(mb.buf, table + 16 * i + 4)];
    const [a0, a1] = mod(0);
    const [b0, b1] = mod(1);
    expect([a0! % 4096, a1! - a0!]).toEqual([0, 5000]);
    expect([b0! % 4096, b1! - b0!, b0! - a0!]).toEqual([0, 10, 8192]);
    expect(mb.buf[a0! - mb.loadAddr]).toBe(0xaa);
    expect(mb.buf[b0! - mb.loadAddr]).toBe(0xbb);
  });

  it("fails on a module it cannot read", () => {
    expect(() => load(multibootFlat(), "missing.bin")).toThrow(QemuExit);
    expect(err.join("")).toBe("qemu-system-x86_64: Failed to open file 'missing.bin'\n");
  });

  it("refuses an x86-64 ELF", () => {
    fails(multibootElf(0x10_0000, 0, 62), "Cannot load x86-64 image, give a 32bit one.");
  });

  it("reports a malformed ELF", () => {
    const image = multibootElf();
    image[44] = 0; // no program headers
    fails(image, "Error while loading elf kernel");
  });

  it("checks a flat image's addresses", () => {
    fails(multibootFlat(0x10_0000, { headerAddr: 0xf_f000 }), "invalid load_addr address");
    err.length = 0;
    fails(multibootFlat(0x10_0000, { headerAddr: 0x10_1000 }), "invalid header_addr address");
    err.length = 0;
    fails(multibootFlat(0x10_0000, { loadEnd: 0xf_0000 }), "invalid load_end_addr address");
    err.length = 0;
    fails(
      multibootFlat(0x10_0000, { loadEnd: 0x10_1000, bssEnd: 0x10_0800 }),
      "invalid bss_end_addr address",
    );
  });

  it("warns that it cannot set a video mode", () => {
    const image = multibootFlat();
    const v = new DataView(image.buffer);
    v.setUint32(4, 0x1_0004, true);
    v.setUint32(8, -(0x1badb002 + 0x1_0004) >>> 0, true);
    expect(load(image)).not.toBeNull();
    expect(err.join("")).toBe("qemu-system-x86_64: warning: multiboot knows VBE. we don't.\n");
  });
});
