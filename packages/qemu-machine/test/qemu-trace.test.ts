/**
 * `-trace PATTERN`: QEMU's kvm events on stderr, one line each — the vCPU ioctls and the
 * KVM_RUN exits of a firmware that writes to isa-debugcon and leaves through isa-debug-exit.
 */
import { expect, it } from "vitest";
import { qemuInit, qemuMainLoop } from "../src/system/vl.js";
import { ascii, outBytes, qemuTestEnv, romWith } from "./qemu-firmware.js";

it("prints kvm_vcpu_ioctl / kvm_run_exit lines for -trace 'kvm_*'", () => {
  const fw = romWith([...outBytes(0xe9, ascii("x")), ...outBytes(0x501, [0])]);
  const { env, stderr } = qemuTestEnv({ "fw.bin": fw });
  const inst = qemuInit(
    [
      "qemu-system-x86_64",
      "-m",
      "16",
      "-bios",
      "fw.bin",
      "-trace",
      "kvm_run_exit",
      "-trace",
      "kvm_vcpu_ioctl",
      "-device",
      "isa-debug-exit",
    ],
    env,
  );
  expect(qemuMainLoop(inst, 1000)).toBe(1);
  const lines = stderr.join("").split("\n");
  expect(lines).toContain("kvm_vcpu_ioctl cpu_index 0, type 0xae80, arg (nil)");
  // Port I/O exits (reason 2): the debugcon byte and the debug-exit write.
  expect(
    lines.filter((l) => l === "kvm_run_exit cpu_index 0, reason 2").length,
  ).toBeGreaterThanOrEqual(2);
  // KVM_SET_CPUID2 went through the same traced path at vCPU init.
  expect(lines.some((l) => l.startsWith("kvm_vcpu_ioctl cpu_index 0, type 0x4008ae90"))).toBe(true);
});
