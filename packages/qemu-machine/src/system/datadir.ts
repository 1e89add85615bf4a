/**
 * system/datadir.c: `qemu_find_file` — a name given on the command line is read as a path
 * first; firmware names not found there come from the data directory, which for glassvm
 * is the package itself (src/pc-bios/, generated from pc-bios/*.S), so it works without a
 * file system.
 */
import * as glassvmBios from "../pc-bios/glassvm-bios.js";
import { qemuHost } from "./qemu-host.js";

export const QEMU_FILE_TYPE_BIOS = 0;
export const QEMU_FILE_TYPE_KEYMAP = 1;
export const QEMU_FILE_TYPE_DTB = 2;

/** The data directory's firmware images (QEMU: /usr/share/qemu). */
const DATA_DIR: Readonly<
  Record<string, { size: number; chunks: readonly (readonly [number, string])[] }>
> = {
  "glassvm-bios.bin": glassvmBios,
};

function fromBase64(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** A data-directory image's bytes, or null (for tests and tools). */
export function qemuDataFile(name: string): Uint8Array | null {
  const img = DATA_DIR[name];
  if (!img) return null;
  const out = new Uint8Array(img.size);
  for (const [at, b64] of img.chunks) out.set(fromBase64(b64), at);
  return out;
}

/** `qemu_find_file(type, name)`: the bytes of `name` from the host, else the data directory. */
export function qemuFindFile(type: number, name: string): Uint8Array | null {
  const own = qemuHost().files(name);
  if (own) return own;
  return type === QEMU_FILE_TYPE_BIOS ? qemuDataFile(name) : null;
}
