/**
 * The guest suite (guests/README.md) as glassvm runs it: each guest's command line, its
 * exact console output and exit status. One guest per test file in-process (so vitest
 * spreads them over its workers); bin-all.test.ts runs
 * them all as child processes.
 */
import { readFileSync } from "node:fs";
import type { QemuMachineInstance } from "@glassvm/qemu-machine";
import { expect } from "vitest";
import { glassvmRun, recordUserspaceExits, type UserspaceExit } from "../../src/index.js";
import { testIo, withoutWarnings } from "../firmware.js";

export const GUEST_BIN = new URL("../../../../guests/bin/", import.meta.url);
const EXIT = ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"];

export interface GuestCase {
  readonly image: string;
  /** Options after `-machine pc,accel=kvm -m 64` and the debug-exit device. */
  readonly args: readonly string[];
  readonly stdout: string;
  readonly status: number;
  /** The 32-bit value at guest-physical 0x400 afterwards, when the guest stores one. */
  readonly at0x400?: number;
}

const HELLO = "Hello, world!\n";
const hello = (mode: string): GuestCase => ({
  image: `hello-${mode}.bin`,
  args: ["-bios", `hello-${mode}.bin`, "-debugcon", "stdio"],
  stdout: HELLO,
  status: 1,
  at0x400: 42,
});

export const GUESTS: Readonly<Record<string, GuestCase>> = {
  "hello-real": hello("real"),
  "hello-protected": hello("protected"),
  "hello-paged": hello("paged"),
  "hello-long": hello("long"),
  "multiboot-hello": {
    image: "multiboot-hello.elf",
    args: ["-nographic", "-kernel", "multiboot-hello.elf", "-append", "console=ttyS0"],
    stdout: "Hello from multiboot!\ncmdline: multiboot-hello.elf console=ttyS0\nmem_upper: 64512\n",
    status: 1,
  },
  "bios-hello": {
    image: "bios-hello.bin",
    args: ["-nographic", "-bios", "bios-hello.bin"],
    stdout: "Hello from the reset vector!\n",
    status: 1,
  },
  "cpu-bench": {
    image: "cpu-bench.bin",
    args: ["-nographic", "-bios", "cpu-bench.bin"],
    stdout: "cpu-bench checksum: f59c4562\niterations: 1000000\n",
    status: 1,
  },
  "io-bench": {
    image: "io-bench.bin",
    args: ["-nographic", "-bios", "io-bench.bin"],
    stdout: "io-bench: 10000 OUT to port 0x80\n",
    status: 1,
  },
  faults: {
    image: "faults.bin",
    args: ["-nographic", "-bios", "faults.bin"],
    stdout:
      "triple fault: resetting\nrebooted once\nud: handled\nport: ff\nmmio: 00000000\n" +
      "faults: all checks passed\n",
    status: 1,
  },
  "faults-no-reboot": {
    image: "faults.bin",
    args: ["-nographic", "-no-reboot", "-bios", "faults.bin"],
    stdout: "triple fault: resetting\n",
    status: 0,
  },
  timer: {
    image: "timer.bin",
    args: ["-nographic", "-bios", "timer.bin"],
    stdout: "tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n",
    status: 1,
  },
};

/** The host's virtualization extension: kvm_intel (the default) or kvm_amd. */
export type HostCpuVendor = "intel" | "amd";

/** The whole argv of one guest case (with `-host-cpu amd` for kvm_amd). */
export function guestArgv(c: GuestCase, dir = "", hostCpu: HostCpuVendor = "intel"): string[] {
  const args = c.args.map((a) => (a === c.image ? `${dir}${a}` : a));
  const host = hostCpu === "amd" ? ["-host-cpu", "amd"] : [];
  return ["glassvm", ...host, "-machine", "pc,accel=kvm", "-m", "64", ...EXIT, ...args];
}

/** The guest's image as the test host's file system. */
const guestFiles = (c: GuestCase) => ({
  [c.image]: new Uint8Array(readFileSync(new URL(c.image, GUEST_BIN))),
});

/** Run one guest in-process and check what the suite promises (on either backend). */
export function expectGuest(name: string, hostCpu: HostCpuVendor = "intel"): void {
  const c = GUESTS[name]!;
  const t = testIo(guestFiles(c));
  let inst: QemuMachineInstance | null = null;
  const status = glassvmRun(guestArgv(c, "", hostCpu), t.io, {
    afterInit: (i) => {
      inst = i;
    },
  });
  expect(withoutWarnings(t.err()).trim()).toBe("");
  expect(t.out()).toBe(c.stdout);
  expect(status).toBe(c.status);
  if (c.at0x400 !== undefined) {
    const ram = (inst as QemuMachineInstance | null)!.machine.ram!.ram!;
    expect(new DataView(ram.buffer, ram.byteOffset).getUint32(0x400, true)).toBe(c.at0x400);
  }
}

/**
 * Run a guest and record what every KVM_RUN hands userspace: the exit reason and that
 * exit's kvm_run fields (recordUserspaceExits, interposed through wrapHostOs).
 */
export function userspaceExits(name: string, hostCpu: HostCpuVendor): UserspaceExit[] {
  const c = GUESTS[name]!;
  const t = testIo(guestFiles(c));
  const exits: UserspaceExit[] = [];
  const status = glassvmRun(guestArgv(c, "", hostCpu), t.io, {
    wrapHostOs: (os) => recordUserspaceExits(os, exits),
  });
  expect(status).toBe(c.status);
  expect(t.out()).toBe(c.stdout);
  return exits;
}
