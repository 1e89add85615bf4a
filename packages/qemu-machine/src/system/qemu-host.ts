/**
 * What a QEMU process gets from its host that glassvm passes in instead of reaching for
 * globals: the HostOs (open/ioctl/mmap on /dev/kvm, anonymous mmap for guest RAM), the
 * file reader (`-bios`, `-device loader,file=`), and `serial_hd(i)` — the chardevs of
 * the `-serial` options (system/vl.c keeps those in its device configs).
 */
import type { HostOs } from "@glassvm/kvm-kernel/uapi";
import type { Chardev } from "../chardev/char.js";

export interface QemuHost {
  readonly os: HostOs;
  /** The bytes of a file, or null when it cannot be read. */
  readonly files: (path: string) => Uint8Array | null;
}

let host: QemuHost | null = null;
const serialHds: Chardev[] = [];

/** Install the host (qemu_init does, first). */
export function qemuHostSet(h: QemuHost | null): void {
  host = h;
  serialHds.length = 0;
}

/** The host qemu_init was given. */
export function qemuHost(): QemuHost {
  if (!host) throw new Error("qemu host not set (qemuInit installs it)");
  return host;
}

/** Append the chardev of one `-serial` (serial_parse). */
export function serialHdAdd(chr: Chardev): void {
  serialHds.push(chr);
}

/** `serial_hd(i)`: the chardev of the i-th `-serial`, or null. */
export function serialHd(i: number): Chardev | null {
  return serialHds[i] ?? null;
}
