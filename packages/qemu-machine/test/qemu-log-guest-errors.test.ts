/**
 * `-d guest_errors,trace:kvm_run_exit` on a running guest, no `-D`: the log goes to
 * stderr. The firmware sends the i8042 a command it does not know (0x00 to port 0x64):
 * kbd_write_command logs it under guest_errors, as QEMU does. The `trace:` item enables
 * the event without any `-trace` option; its lines reach stderr through qemu_log.
 */
import { expect, it } from "vitest";
import { qemuInit, qemuMainLoop } from "../src/system/vl.js";
import { qemuTestEnv, romWith } from "./qemu-firmware.js";

it("logs the i8042's unsupported command and the traced exits on stderr", () => {
  const fw = romWith([
    0xb0,
    0x00, // mov al, 0
    0xe6,
    0x64, // out 0x64, al
    0xb0,
    0x10, // mov al, 0x10
    0xba,
    0x01,
    0x05, // mov dx, 0x501
    0xee, // out dx, al
    0xf4, // hlt
  ]);
  const { env, stderr } = qemuTestEnv({ "fw.bin": fw });
  const inst = qemuInit(
    [
      "qemu-system-x86_64",
      "-m",
      "16",
      "-bios",
      "fw.bin",
      "-device",
      "isa-debug-exit,iobase=0x501,iosize=2",
      "-d",
      "guest_errors,trace:kvm_run_exit",
    ],
    env,
  );
  expect(qemuMainLoop(inst, 100)).toBe(33);
  const lines = stderr
    .join("")
    .split("\n")
    .filter((l) => l && !l.includes("warning:"));
  expect(lines).toEqual([
    "kvm_run_exit cpu_index 0, reason 2",
    "unsupported keyboard cmd=0x00",
    "kvm_run_exit cpu_index 0, reason 2",
  ]);
});
