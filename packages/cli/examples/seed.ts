/**
 * The seed, end to end: QEMU's command line from design.md —
 *
 *   glassvm -machine pc,accel=kvm -cpu SandyBridge,+erms,…,+vme -smp 2 -m 64
 *           -bios guests/bin/hello-long.bin -debugcon stdio
 *           -device isa-debug-exit,iobase=0xf4,iosize=0x04 -d exits
 *
 * boots the guest suite's hello-long (reset vector → long mode → "Hello, world!" on port
 * 0xE9 → 42 at 0x400 → isa-debug-exit) on two vCPUs of the modelled KVM + VT-x, then prints
 * the perf-kvm-stat exit summary. Extra arguments are passed on (`-d path`, `-trace 'kvm_*'`).
 * The guest leaves with isa-debug-exit value 0, which QEMU turns into status 1; this script
 * reports that as success.
 *
 * Run: npm start   (or: npx tsx --conditions=@glassvm/source packages/cli/examples/seed.ts -d path)
 */
import { fileURLToPath } from "node:url";
import type { QemuMachineInstance } from "@glassvm/qemu-machine";
import { glassvmRun } from "../src/main.js";
import { nodeHostIo } from "../src/node-host.js";

export const SEED_CPU =
  "SandyBridge,+erms,+smep,+fsgsbase,+pdpe1gb,+rdrand,+f16c,+osxsave,+dca,+pcid,+pdcm,+xtpr," +
  "+tm2,+est,+smx,+vmx,+ds_cpl,+monitor,+dtes64,+pbe,+tm,+ht,+ss,+acpi,+ds,+vme";

export function seedArgv(image: string, extra: readonly string[] = []): string[] {
  return [
    "glassvm",
    "-machine",
    "pc,accel=kvm",
    "-cpu",
    SEED_CPU,
    "-smp",
    "2",
    "-m",
    "64",
    "-bios",
    image,
    "-debugcon",
    "stdio",
    "-device",
    "isa-debug-exit,iobase=0xf4,iosize=0x04",
    "-d",
    "exits",
    ...extra,
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const image = fileURLToPath(new URL("../../../guests/bin/hello-long.bin", import.meta.url));
  const io = nodeHostIo();
  let inst: QemuMachineInstance | null = null;
  const status = glassvmRun(seedArgv(image, process.argv.slice(2)), io, {
    afterInit: (i) => {
      inst = i;
    },
  });
  // Status 1 is also QEMU's error status: success is a shutdown the guest asked for.
  const vm = inst as QemuMachineInstance | null;
  if (status === 1 && vm?.runstate === "shutdown" && vm.exitStatus === 1) {
    io.stderr("glassvm: the guest left through isa-debug-exit with value 0 (status 1): success\n");
    process.exitCode = 0;
  } else {
    process.exitCode = status & 0xff || 1;
  }
}
