/**
 * hw/i386/multiboot.c: `-kernel` with a multiboot (v1) image. `loadMultiboot` finds the
 * header in the first 8 KiB, lays the kernel out as one buffer at its load address — an
 * ELF32 image by its PT_LOAD segments (physical addresses), a flat image by the header's
 * load/load_end/bss_end addresses — appends the module table, the command lines and the
 * boot loader name ("qemu"), builds the multiboot information structure, and hands both to
 * the firmware through fw_cfg (KERNEL_* = the buffer and entry point, INITRD_* = the
 * information structure at 0x9500). The firmware fills in the memory map at 0x9000 and
 * mem_lower/mem_upper, loads the buffer and jumps to the entry in protected mode with
 * EAX = 0x2BADB002 and EBX = 0x9500 (QEMU: SeaBIOS runs the multiboot.bin option ROM;
 * glassvm's own firmware, pc-bios/glassvm-bios.S, does the same steps).
 *
 * `-initrd "a.bin args,b.bin"` become multiboot modules (page-aligned after the kernel),
 * each with its command line; `-append` follows the kernel's file name in its command line.
 */

import { QemuExit } from "../../qapi/error.js";
import { errorReport, warnReport } from "../../util/error-report.js";
import { getOptValue } from "../../util/qemu-option.js";
import {
  FW_CFG_INITRD_ADDR,
  FW_CFG_INITRD_DATA,
  FW_CFG_INITRD_SIZE,
  FW_CFG_KERNEL_ADDR,
  FW_CFG_KERNEL_DATA,
  FW_CFG_KERNEL_ENTRY,
  FW_CFG_KERNEL_SIZE,
  type FWCfgState,
  fwCfgAddBytes,
  fwCfgAddI32,
} from "../nvram/fw_cfg.js";

export const MULTIBOOT_HEADER_MAGIC = 0x1badb002;
export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;
/** Header flags: bit 2 wants a video mode, bit 16 carries the load addresses. */
export const MULTIBOOT_VIDEO_MODE = 0x0000_0004;
export const MULTIBOOT_AOUT_KLUDGE = 0x0001_0000;

/** Where the firmware puts the memory map, and the information structure after it. */
export const MULTIBOOT_STRUCT_ADDR = 0x9000;
export const ADDR_E820_MAP = MULTIBOOT_STRUCT_ADDR;
export const ADDR_MBI = ADDR_E820_MAP + 0x500;

// multiboot_info_t offsets and flags.
const MBI_FLAGS = 0;
const MBI_BOOT_DEVICE = 12;
const MBI_CMDLINE = 16;
const MBI_MODS_COUNT = 20;
const MBI_MODS_ADDR = 24;
const MBI_MMAP_ADDR = 48;
const MBI_BOOT_LOADER_NAME = 64;
export const MBI_SIZE = 88;
const MB_MOD_SIZE = 16;

export const MULTIBOOT_INFO_MEMORY = 1 << 0;
export const MULTIBOOT_INFO_BOOTDEV = 1 << 1;
export const MULTIBOOT_INFO_CMDLINE = 1 << 2;
export const MULTIBOOT_INFO_MODS = 1 << 3;
export const MULTIBOOT_INFO_MEM_MAP = 1 << 6;
export const MULTIBOOT_INFO_BOOT_LOADER_NAME = 1 << 9;

const BOOTLOADER_NAME = "qemu";
const TARGET_PAGE_SIZE = 4096;
const EM_386 = 3;
const EM_X86_64 = 62;
const PT_LOAD = 1;

function pageAlign(n: number): number {
  return Math.ceil(n / TARGET_PAGE_SIZE) * TARGET_PAGE_SIZE;
}

function fatal(text: string): never {
  errorReport(text);
  throw new QemuExit(1);
}

/**
 * The ELF loader's part (hw/core/loader.c load_elf for EM_386): the PT_LOAD segments with
 * a size, at their physical addresses. Null when the image is not a loadable ELF32 for
 * i386.
 */
function loadElf32(
  image: Uint8Array,
): { entry: number; low: number; high: number; buf: Uint8Array } | null {
  if (image.length < 52) return null;
  if (image[0] !== 0x7f || image[1] !== 0x45 || image[2] !== 0x4c || image[3] !== 0x46) {
    return null;
  }
  if (image[4] !== 1 || image[5] !== 1) return null; // ELFCLASS32, little-endian
  const v = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (v.getUint16(18, true) !== EM_386) return null;
  const entry = v.getUint32(24, true);
  const phoff = v.getUint32(28, true);
  const phentsize = v.getUint16(42, true);
  const phnum = v.getUint16(44, true);
  if (phentsize < 32 || phoff + phnum * phentsize > image.length) return null;
  const segs: { paddr: number; off: number; filesz: number; memsz: number }[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    if (v.getUint32(o, true) !== PT_LOAD) continue;
    const seg = {
      off: v.getUint32(o + 4, true),
      paddr: v.getUint32(o + 12, true),
      filesz: v.getUint32(o + 16, true),
      memsz: v.getUint32(o + 20, true),
    };
    if (seg.memsz === 0) continue;
    if (seg.filesz > seg.memsz || seg.off + seg.filesz > image.length) return null;
    segs.push(seg);
  }
  if (segs.length === 0) return null;
  const low = Math.min(...segs.map((s) => s.paddr));
  const high = Math.max(...segs.map((s) => s.paddr + s.memsz));
  if (high > 2 ** 32) return null;
  const buf = new Uint8Array(high - low);
  for (const s of segs) buf.set(image.subarray(s.off, s.off + s.filesz), s.paddr - low);
  return { entry, low, high, buf };
}

/** What loadMultiboot gives the firmware (for tests and `-d path`). */
export interface MultibootImage {
  readonly entry: number;
  readonly loadAddr: number;
  /** Kernel, module table, command lines, boot loader name, modules: KERNEL_DATA. */
  readonly buf: Uint8Array;
  /** The multiboot information structure: INITRD_DATA at ADDR_MBI. */
  readonly bootinfo: Uint8Array;
}

/**
 * `load_multiboot(x86ms, fw_cfg, f, kernel_filename, initrd_filename, kernel_cmdline,
 * kernel_file_size, header)`: null when the image has no valid multiboot header (the
 * caller tries other formats); QEMU's fatal messages for a malformed one.
 */
export function loadMultiboot(
  fwCfg: FWCfgState,
  kernel: Uint8Array,
  kernelFilename: string,
  initrdFilename: string | null,
  kernelCmdline: string,
  readFile: (path: string) => Uint8Array | null,
): MultibootImage | null {
  const header = kernel.subarray(0, 8192);
  const hv = new DataView(header.buffer, header.byteOffset, header.byteLength);
  let at = -1;
  let flags = 0;
  for (let i = 0; i + 48 <= 8192 && i + 12 <= header.length; i += 4) {
    if (hv.getUint32(i, true) !== MULTIBOOT_HEADER_MAGIC) continue;
    const f = hv.getUint32(i + 4, true);
    const sum = (MULTIBOOT_HEADER_MAGIC + f + hv.getUint32(i + 8, true)) >>> 0;
    if (sum === 0) {
      at = i;
      flags = f;
      break;
    }
  }
  if (at < 0) return null;
  const field = (off: number) => (at + off + 4 <= header.length ? hv.getUint32(at + off, true) : 0);

  if (flags & MULTIBOOT_VIDEO_MODE) warnReport("multiboot knows VBE. we don't.");

  let loadAddr: number;
  let entry: number;
  let kernelBuf: Uint8Array;
  if (!(flags & MULTIBOOT_AOUT_KLUDGE)) {
    if (header.length >= 20 && hv.getUint16(18, true) === EM_X86_64) {
      fatal("Cannot load x86-64 image, give a 32bit one.");
    }
    const elf = loadElf32(kernel);
    if (!elf) fatal("Error while loading elf kernel");
    loadAddr = elf.low;
    entry = elf.entry;
    kernelBuf = elf.buf;
  } else {
    const headerAddr = field(12);
    loadAddr = field(16);
    const loadEndAddr = field(20);
    const bssEndAddr = field(24);
    entry = field(28);
    if (headerAddr < loadAddr) fatal("invalid load_addr address");
    if (headerAddr - loadAddr > at) fatal("invalid header_addr address");
    const textOffset = at - (headerAddr - loadAddr);
    let loadSize: number;
    if (loadEndAddr) {
      if (loadEndAddr < loadAddr) fatal("invalid load_end_addr address");
      loadSize = loadEndAddr - loadAddr;
    } else {
      if (kernel.length < textOffset) fatal("invalid kernel_file_size");
      loadSize = kernel.length - textOffset;
    }
    if (loadSize > 0xffff_ffff - loadAddr) fatal("kernel does not fit in address space");
    let kernelSize = loadSize;
    if (bssEndAddr) {
      if (bssEndAddr < loadAddr + loadSize) fatal("invalid bss_end_addr address");
      kernelSize = bssEndAddr - loadAddr;
    }
    if (textOffset + loadSize > kernel.length) fatal("fread() failed");
    kernelBuf = new Uint8Array(kernelSize);
    kernelBuf.set(kernel.subarray(textOffset, textOffset + loadSize));
  }

  // The buffer: kernel (page-aligned), module table, command lines, loader name, modules.
  const enc = new TextEncoder();
  const offsetMbinfo = pageAlign(kernelBuf.length);
  let cmdlineLen = enc.encode(kernelFilename).length + 1 + enc.encode(kernelCmdline).length + 1;
  const modSpecs: string[] = [];
  if (initrdFilename !== null) {
    cmdlineLen += enc.encode(initrdFilename).length + 1;
    let p = 0;
    for (;;) {
      const { value, end } = getOptValue(initrdFilename, p);
      modSpecs.push(value);
      if (end >= initrdFilename.length) break;
      p = end + 1;
    }
  }
  let size = pageAlign(
    offsetMbinfo + cmdlineLen + MB_MOD_SIZE * modSpecs.length + BOOTLOADER_NAME.length + 1,
  );
  const offsetCmdlinesStart = offsetMbinfo + modSpecs.length * MB_MOD_SIZE;
  let offsetCmdlines = offsetCmdlinesStart;
  const offsetBootloader = offsetCmdlinesStart + cmdlineLen;
  const parts: { at: number; bytes: Uint8Array }[] = [{ at: 0, bytes: kernelBuf }];
  const fixed: { at: number; bytes: Uint8Array }[] = [];
  const addCmdline = (text: string): number => {
    const b = enc.encode(`${text}\0`);
    fixed.push({ at: offsetCmdlines, bytes: b });
    const addr = loadAddr + offsetCmdlines;
    offsetCmdlines += b.length;
    return addr;
  };
  const mods: number[][] = [];
  for (const spec of modSpecs) {
    const c = addCmdline(spec);
    const space = spec.indexOf(" ");
    const file = space >= 0 ? spec.slice(0, space) : spec;
    const data = readFile(file);
    if (!data) fatal(`Failed to open file '${file}'`);
    const offs = size;
    size = pageAlign(size + data.length);
    parts.push({ at: offs, bytes: data });
    mods.push([loadAddr + offs, loadAddr + offs + data.length, c]);
  }
  const cmdline = addCmdline(`${kernelFilename} ${kernelCmdline}`);
  const nameBytes = enc.encode(`${BOOTLOADER_NAME}\0`);
  fixed.push({ at: offsetBootloader, bytes: nameBytes });

  const buf = new Uint8Array(size);
  for (const p of [...parts, ...fixed]) buf.set(p.bytes, p.at);
  const bv = new DataView(buf.buffer);
  mods.forEach((m, i) => {
    bv.setUint32(offsetMbinfo + MB_MOD_SIZE * i, m[0]!, true);
    bv.setUint32(offsetMbinfo + MB_MOD_SIZE * i + 4, m[1]!, true);
    bv.setUint32(offsetMbinfo + MB_MOD_SIZE * i + 8, m[2]!, true);
  });

  const bootinfo = new Uint8Array(MBI_SIZE);
  const iv = new DataView(bootinfo.buffer);
  iv.setUint32(MBI_CMDLINE, cmdline, true);
  iv.setUint32(MBI_BOOT_LOADER_NAME, loadAddr + offsetBootloader, true);
  iv.setUint32(MBI_MODS_ADDR, loadAddr + offsetMbinfo, true);
  iv.setUint32(MBI_MODS_COUNT, mods.length, true);
  iv.setUint32(
    MBI_FLAGS,
    MULTIBOOT_INFO_MEMORY |
      MULTIBOOT_INFO_BOOTDEV |
      MULTIBOOT_INFO_CMDLINE |
      MULTIBOOT_INFO_MODS |
      MULTIBOOT_INFO_MEM_MAP |
      MULTIBOOT_INFO_BOOT_LOADER_NAME,
    true,
  );
  iv.setUint32(MBI_BOOT_DEVICE, 0x8000_ffff, true);
  iv.setUint32(MBI_MMAP_ADDR, ADDR_E820_MAP, true);

  fwCfgAddI32(fwCfg, FW_CFG_KERNEL_ENTRY, entry);
  fwCfgAddI32(fwCfg, FW_CFG_KERNEL_ADDR, loadAddr);
  fwCfgAddI32(fwCfg, FW_CFG_KERNEL_SIZE, buf.length);
  fwCfgAddBytes(fwCfg, FW_CFG_KERNEL_DATA, buf);
  fwCfgAddI32(fwCfg, FW_CFG_INITRD_ADDR, ADDR_MBI);
  fwCfgAddI32(fwCfg, FW_CFG_INITRD_SIZE, MBI_SIZE);
  fwCfgAddBytes(fwCfg, FW_CFG_INITRD_DATA, bootinfo);
  return { entry, loadAddr, buf, bootinfo };
}
