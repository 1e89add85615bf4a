/**
 * The repository's hello-real guest (guests/bin/, the kvm-hello-world body in real mode)
 * through glassvm in-process: its console, exit status, the value it stores, and the
 * kernel's kvm_exit lines — the right exit reasons in the right order.
 */
import { readFileSync } from "node:fs";
import type { QemuMachineInstance } from "@glassvm/qemu-machine";
import { expect, it } from "vitest";
import { glassvmRun } from "../src/index.js";
import { testIo, withoutWarnings } from "./firmware.js";

const image = new URL("../../../guests/bin/hello-real.bin", import.meta.url);

it("hello-real: Hello, world!, 42 at 0x400, 15 I/O exits", () => {
  const t = testIo({ "hello-real.bin": new Uint8Array(readFileSync(image)) });
  let inst: QemuMachineInstance | null = null;
  const status = glassvmRun(
    [
      "glassvm",
      "-machine",
      "pc,accel=kvm",
      "-m",
      "64",
      "-bios",
      "hello-real.bin",
      "-debugcon",
      "stdio",
      "-device",
      "isa-debug-exit,iobase=0xf4,iosize=0x04",
      "-trace",
      "kvm_exit",
    ],
    t.io,
    {
      afterInit: (i) => {
        inst = i;
      },
    },
  );
  expect(status).toBe(1);
  expect(t.out()).toBe("Hello, world!\n");
  const ram = (inst as QemuMachineInstance | null)?.machine.ram?.ram;
  expect(ram && new DataView(ram.buffer, ram.byteOffset).getUint32(0x400, true)).toBe(42);
  const exits = withoutWarnings(t.err())
    .split("\n")
    .filter(Boolean)
    .map((l) =>
      l
        .match(/^CPU 0\/KVM kvm_exit: vcpu 0 reason (\w+) rip (0x[0-9a-f]+) info1 (0x[0-9a-f]+)/)!
        .slice(1)
        .join(" "),
    );
  // 14 bytes `out dx, al` to 0xE9 from the payload at 0 (the OUT at 0xf), then `out 0xf4, al`
  // (qualification bit 6: immediate port) to isa-debug-exit.
  expect(exits).toEqual([
    ...Array(14).fill("IO_INSTRUCTION 0xf 0x0000000000e90000"),
    "IO_INSTRUCTION 0x20 0x0000000000f40040",
  ]);
});
