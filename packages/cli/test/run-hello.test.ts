/**
 * End to end in-process: a firmware built here prints on debugcon and COM1 (both on
 * stdout) and leaves through isa-debug-exit; -trace shows QEMU's events and the kernel's
 * tracepoints interleaved, -d exits prints the perf-kvm-stat table.
 */
import { expect, it } from "vitest";
import { glassvmMain } from "../src/index.js";
import { HELLO_FW, testIo, withoutWarnings } from "./firmware.js";

it("runs the guest: console on stdout, exit status 33, traces and the exit table on stderr", () => {
  const t = testIo({ "fw.bin": HELLO_FW });
  const status = glassvmMain(
    [
      "glassvm",
      "-machine",
      "pc,accel=kvm",
      "-m",
      "16",
      "-bios",
      "fw.bin",
      "-debugcon",
      "stdio",
      "-serial",
      "stdio",
      "-device",
      "isa-debug-exit",
      "-trace",
      "kvm_run_exit",
      "-trace",
      "kvm_exit",
      "-trace",
      "kvm_pio",
      "-trace",
      "kvm_userspace_exit",
      "-d",
      "exits",
    ],
    t.io,
  );
  expect(status).toBe(33);
  expect(t.out()).toBe("Hi\nOK\n");
  const err = withoutWarnings(t.err());
  const lines = err.split("\n");
  // The first exit, in the order it happens: VM exit, the kernel's PIO, back to QEMU.
  const first = lines.findIndex((l) => l.startsWith("CPU 0/KVM kvm_exit:"));
  expect(lines.slice(first, first + 4)).toEqual([
    "CPU 0/KVM kvm_exit: vcpu 0 reason IO_INSTRUCTION rip 0xf005 info1 0x0000000000e90000 info2 0x0000000000000000 intr_info 0x00000000 error_code 0x00000000",
    "CPU 0/KVM kvm_pio: pio_write at 0xe9 size 1 count 1 val 0x48 ",
    "CPU 0/KVM kvm_userspace_exit: reason KVM_EXIT_IO (2)",
    "kvm_run_exit cpu_index 0, reason 2",
  ]);
  // One IO exit per byte written (3 on debugcon, 3 on COM1) and one for isa-debug-exit.
  expect(lines.filter((l) => l.includes("kvm_exit: vcpu 0 reason IO_INSTRUCTION")).length).toBe(7);
  expect(lines).toContain("CPU 0/KVM kvm_pio: pio_write at 0x501 size 1 count 1 val 0x10 ");
  // The table.
  expect(err).toContain("Analyze events for all VMs, all VCPUs:");
  expect(err).toMatch(
    /\n {13}VM-EXIT {4}Samples {2}Samples% {5}Time% {4}Min Time {4}Max Time {9}Avg time \n\n {6}IO_INSTRUCTION {10}[67] {3}100\.00% {3}100\.00% +[\d.]+us +[\d.]+us +[\d.]+us \( \+- +[\d.]+% \)\n\nTotal Samples:[67], Total events handled time:[\d.]+us\.\n/,
  );
  // The table comes last, after every trace line.
  expect(err.trimEnd().endsWith("us.")).toBe(true);
});
