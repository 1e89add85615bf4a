/**
 * fw_cfg (hw/nvram/fw_cfg.c): how QEMU hands the firmware what the command line decided —
 * RAM size, CPU counts, the e820 map, a `-kernel` image and its information — as numbered
 * items and named files. The guest writes an item's selector (16 bits) to the control
 * port and reads its bytes, one at a time, from the data port; past the end it reads 0.
 *
 *   out 0x510, ax=0x0000   in al, 0x511 ×4   → "QEMU"   (FW_CFG_SIGNATURE)
 *   out 0x510, ax=0x0019   → the file directory: count (be32), then per file
 *                            size (be32), select (be16), reserved (be16), name[56]
 *
 * glassvm has the I/O-port interface (`fw_cfg_io`, ports 0x510/0x511); the DMA interface
 * (port 0x514, FW_CFG_ID bit 1) is not modelled, so FW_CFG_ID reads 1 — firmware falls
 * back to the byte interface, as SeaBIOS does on old machine types. Guest writes to items
 * (FW_CFG_WRITE_CHANNEL) are ignored, as in QEMU since 2.4.
 */
import {
  type DeviceClass,
  type DeviceState,
  objectPropertyAddChild,
  qdevGetMachine,
  qdevNew,
  qdevRealizeAndUnref,
  typeInit,
  typeRegisterStatic,
} from "@glassvm/qom";
import { QemuExit } from "../../qapi/error.js";
import {
  type MemoryRegion,
  memoryRegionAddSubregion,
  memoryRegionInitIo,
} from "../../system/memory.js";
import { qemuRegisterReset } from "../../system/runstate.js";
import { defineTraceEvent, traceEvent } from "../../trace/control.js";
import { errorReport } from "../../util/error-report.js";
import { TYPE_SYS_BUS_DEVICE } from "../core/sysbus.js";

export const TYPE_FW_CFG = "fw_cfg";
export const TYPE_FW_CFG_IO = "fw_cfg_io";

// Item numbers (include/standard-headers/linux/qemu_fw_cfg.h).
export const FW_CFG_SIGNATURE = 0x00;
export const FW_CFG_ID = 0x01;
export const FW_CFG_UUID = 0x02;
export const FW_CFG_RAM_SIZE = 0x03;
export const FW_CFG_NOGRAPHIC = 0x04;
export const FW_CFG_NB_CPUS = 0x05;
export const FW_CFG_MACHINE_ID = 0x06;
export const FW_CFG_KERNEL_ADDR = 0x07;
export const FW_CFG_KERNEL_SIZE = 0x08;
export const FW_CFG_KERNEL_CMDLINE = 0x09;
export const FW_CFG_INITRD_ADDR = 0x0a;
export const FW_CFG_INITRD_SIZE = 0x0b;
export const FW_CFG_BOOT_DEVICE = 0x0c;
export const FW_CFG_NUMA = 0x0d;
export const FW_CFG_BOOT_MENU = 0x0e;
export const FW_CFG_MAX_CPUS = 0x0f;
export const FW_CFG_KERNEL_ENTRY = 0x10;
export const FW_CFG_KERNEL_DATA = 0x11;
export const FW_CFG_INITRD_DATA = 0x12;
export const FW_CFG_CMDLINE_ADDR = 0x13;
export const FW_CFG_CMDLINE_SIZE = 0x14;
export const FW_CFG_CMDLINE_DATA = 0x15;
export const FW_CFG_SETUP_ADDR = 0x16;
export const FW_CFG_SETUP_SIZE = 0x17;
export const FW_CFG_SETUP_DATA = 0x18;
export const FW_CFG_FILE_DIR = 0x19;
export const FW_CFG_FILE_FIRST = 0x20;
export const FW_CFG_WRITE_CHANNEL = 0x4000;
export const FW_CFG_ARCH_LOCAL = 0x8000;
export const FW_CFG_ENTRY_MASK = 0x3fff;
export const FW_CFG_INVALID = 0xffff;
/** Files a fw_cfg has room for (`x-file-slots`, 0x20 on current machine types). */
export const FW_CFG_FILE_SLOTS_DFLT = 0x20;
export const FW_CFG_MAX_FILE_PATH = 56;
/** FW_CFG_ID: bit 0 the traditional interface, bit 1 DMA (not modelled). */
export const FW_CFG_VERSION = 0x01;

/** The x86 fw_cfg's base port (hw/i386/fw_cfg.h FW_CFG_IO_BASE). */
export const FW_CFG_IO_BASE = 0x510;

const KEY_NAMES = [
  "signature",
  "id",
  "uuid",
  "ram_size",
  "nographic",
  "nb_cpus",
  "machine_id",
  "kernel_addr",
  "kernel_size",
  "kernel_cmdline",
  "initrd_addr",
  "initrd_size",
  "boot_device",
  "numa",
  "boot_menu",
  "max_cpus",
  "kernel_entry",
  "kernel_data",
  "initrd_data",
  "cmdline_addr",
  "cmdline_size",
  "cmdline_data",
  "setup_addr",
  "setup_size",
  "setup_data",
  "file_dir",
];

/** One named file of the directory. */
export interface FWCfgFile {
  readonly name: string;
  select: number;
  readonly data: Uint8Array;
}

/** `FWCfgIoState` (with FWCfgState's fields). */
export interface FWCfgState extends DeviceState {
  /** Items by full key (arch-local bit included); files too, at their selectors. */
  entries: Map<number, Uint8Array>;
  /** The directory, sorted by name (QEMU's order on current machine types). */
  files: FWCfgFile[];
  fileSlots: number;
  curEntry: number;
  curOffset: number;
  io: MemoryRegion | null;
}

function keyName(key: number): string {
  if (key & FW_CFG_ARCH_LOCAL) return "arch-local";
  const k = key & FW_CFG_ENTRY_MASK;
  if (k < KEY_NAMES.length) return KEY_NAMES[k]!;
  return "unknown";
}

defineTraceEvent(
  "fw_cfg_select",
  (a) =>
    `${a.s} key 0x${Number(a.key_value).toString(16).padStart(4, "0")} '${a.key_name}', ret: ${a.ret}`,
);
defineTraceEvent("fw_cfg_read", (a) => `${a.s} read 0x${Number(a.ret).toString(16)}`);
defineTraceEvent(
  "fw_cfg_add_bytes",
  (a) =>
    `key 0x${Number(a.key_value).toString(16).padStart(4, "0")} '${a.key_name}', ${a.len} bytes`,
);
defineTraceEvent("fw_cfg_add_file", (a) => `${a.s} #${a.index}: '${a.name}' (${a.len} bytes)`);

const PATH = "/machine/fw_cfg";

/** `fw_cfg_select`: make `key` current; false (and FW_CFG_INVALID) when no such slot. */
export function fwCfgSelect(s: FWCfgState, key: number): boolean {
  s.curOffset = 0;
  const ok = (key & FW_CFG_ENTRY_MASK) < FW_CFG_FILE_FIRST + s.fileSlots;
  s.curEntry = ok ? key : FW_CFG_INVALID;
  traceEvent("fw_cfg_select", { s: PATH, key_value: key, key_name: keyName(key), ret: ok ? 1 : 0 });
  return ok;
}

/** `fw_cfg_data_read` (one byte): the current item's next byte, 0 past its end. */
export function fwCfgDataRead(s: FWCfgState): number {
  let ret = 0;
  if (s.curEntry !== FW_CFG_INVALID) {
    const data = s.entries.get(s.curEntry & ~FW_CFG_WRITE_CHANNEL);
    if (data && s.curOffset < data.length) ret = data[s.curOffset++]!;
  }
  traceEvent("fw_cfg_read", { s: PATH, ret });
  return ret;
}

function fwCfgSetBytes(s: FWCfgState, key: number, data: Uint8Array): void {
  const k = key & (FW_CFG_ENTRY_MASK | FW_CFG_ARCH_LOCAL);
  if ((k & FW_CFG_ENTRY_MASK) >= FW_CFG_FILE_FIRST + s.fileSlots) {
    throw new RangeError(`fw_cfg: key 0x${key.toString(16)} out of range`);
  }
  s.entries.set(k, data);
}

/** `fw_cfg_add_bytes`. */
export function fwCfgAddBytes(s: FWCfgState, key: number, data: Uint8Array): void {
  traceEvent("fw_cfg_add_bytes", { key_value: key, key_name: keyName(key), len: data.length });
  fwCfgSetBytes(s, key, data);
}

/** `fw_cfg_add_string`: the bytes and a NUL. */
export function fwCfgAddString(s: FWCfgState, key: number, value: string): void {
  const enc = new TextEncoder().encode(value);
  const data = new Uint8Array(enc.length + 1);
  data.set(enc);
  fwCfgAddBytes(s, key, data);
}

function le(bytes: number, value: bigint): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = Number((value >> BigInt(8 * i)) & 0xffn);
  return out;
}

/** `fw_cfg_add_i16` (little-endian). */
export function fwCfgAddI16(s: FWCfgState, key: number, value: number): void {
  fwCfgAddBytes(s, key, le(2, BigInt(value & 0xffff)));
}

/** `fw_cfg_add_i32` (little-endian). */
export function fwCfgAddI32(s: FWCfgState, key: number, value: number): void {
  fwCfgAddBytes(s, key, le(4, BigInt(value >>> 0)));
}

/** `fw_cfg_add_i64` (little-endian). */
export function fwCfgAddI64(s: FWCfgState, key: number, value: bigint): void {
  fwCfgAddBytes(s, key, le(8, BigInt.asUintN(64, value)));
}

/** The directory item: count (be32), then one 64-byte record per file. */
function fwCfgFileDir(s: FWCfgState): Uint8Array {
  const dir = new Uint8Array(4 + 64 * s.files.length);
  const v = new DataView(dir.buffer);
  v.setUint32(0, s.files.length);
  const enc = new TextEncoder();
  s.files.forEach((f, i) => {
    const o = 4 + 64 * i;
    v.setUint32(o, f.data.length);
    v.setUint16(o + 4, f.select);
    dir.set(enc.encode(f.name).subarray(0, FW_CFG_MAX_FILE_PATH - 1), o + 8);
  });
  return dir;
}

/**
 * `fw_cfg_add_file`: a named item in the next free file slot, the directory kept sorted
 * by name (files after it move up one selector). A second file of the same name is
 * QEMU's fatal "duplicate fw_cfg file name".
 */
export function fwCfgAddFile(s: FWCfgState, filename: string, data: Uint8Array): void {
  if (s.files.length >= s.fileSlots) {
    errorReport("fw_cfg: no more file slots");
    throw new QemuExit(1);
  }
  if (s.files.some((f) => f.name === filename)) {
    errorReport(`duplicate fw_cfg file name: ${filename}`);
    throw new QemuExit(1);
  }
  let index = s.files.findIndex((f) => f.name > filename);
  if (index < 0) index = s.files.length;
  s.files.splice(index, 0, { name: filename, select: 0, data });
  s.files.forEach((f, i) => {
    f.select = FW_CFG_FILE_FIRST + i;
    s.entries.set(f.select, f.data);
  });
  traceEvent("fw_cfg_add_file", { s: PATH, index, name: filename, len: data.length });
  s.entries.set(FW_CFG_FILE_DIR, fwCfgFileDir(s));
}

/** The bytes of a named file (for tests and `info`), or null. */
export function fwCfgFindFile(s: FWCfgState, filename: string): Uint8Array | null {
  return s.files.find((f) => f.name === filename)?.data ?? null;
}

/** `fw_cfg_reset`: the selector back to the signature. */
function fwCfgReset(opaque: unknown): void {
  fwCfgSelect(opaque as FWCfgState, FW_CFG_SIGNATURE);
}

/**
 * `fw_cfg_comb_*`: ports base+0 (selector, 16-bit writes only) and base+1 (data, byte
 * reads); other sizes are not accepted (reads all-ones, writes dropped).
 */
function fwCfgIoOps(s: FWCfgState) {
  return {
    read: (addr: number, size: number): number => {
      if (addr === 1 && size === 1) return fwCfgDataRead(s);
      return size === 4 ? 0xffff_ffff : (1 << (8 * size)) - 1;
    },
    write: (addr: number, value: number, size: number): void => {
      if (addr === 0 && size === 2) fwCfgSelect(s, value & 0xffff);
    },
  };
}

/**
 * `fw_cfg_common_realize` + `fw_cfg_io_realize`: the standard items (signature, id, uuid,
 * nographic, boot menu), the empty directory, the port region (placed by the caller).
 */
function fwCfgIoRealize(dev: DeviceState): void {
  const s = dev as FWCfgState;
  fwCfgAddBytes(s, FW_CFG_SIGNATURE, new TextEncoder().encode("QEMU"));
  fwCfgAddI32(s, FW_CFG_ID, FW_CFG_VERSION);
  fwCfgAddBytes(s, FW_CFG_UUID, new Uint8Array(16));
  fwCfgAddI16(s, FW_CFG_NOGRAPHIC, 0);
  fwCfgAddI16(s, FW_CFG_BOOT_MENU, 0);
  s.entries.set(FW_CFG_FILE_DIR, fwCfgFileDir(s));
  s.io = memoryRegionInitIo(PATH, fwCfgIoOps(s), "fwcfg", 2);
  qemuRegisterReset(fwCfgReset, s);
  fwCfgReset(s);
}

/**
 * `fw_cfg_init_io_dma(iobase, dma_iobase=0, dma_as)`: the device as `/machine/fw_cfg`,
 * realized, its ports at `iobase` of `io` (sysbus_add_io: the system I/O space).
 */
export function fwCfgInitIo(iobase: number, io: MemoryRegion): FWCfgState {
  const dev = qdevNew<FWCfgState>(TYPE_FW_CFG_IO);
  objectPropertyAddChild(qdevGetMachine(), TYPE_FW_CFG, dev);
  qdevRealizeAndUnref(dev);
  memoryRegionAddSubregion(io, iobase, dev.io!);
  return dev;
}

typeInit(() => {
  typeRegisterStatic<DeviceClass, FWCfgState>({
    name: TYPE_FW_CFG,
    parent: TYPE_SYS_BUS_DEVICE,
    abstract: true,
    instanceSize: 1024,
    instanceInit: (s) => {
      s.entries = new Map();
      s.files = [];
      s.fileSlots = FW_CFG_FILE_SLOTS_DFLT;
      s.curEntry = FW_CFG_INVALID;
      s.curOffset = 0;
      s.io = null;
    },
  });
  typeRegisterStatic<DeviceClass, FWCfgState>({
    name: TYPE_FW_CFG_IO,
    parent: TYPE_FW_CFG,
    instanceSize: 1088,
    classInit: (dc) => {
      dc.realize = fwCfgIoRealize;
    },
  });
});
