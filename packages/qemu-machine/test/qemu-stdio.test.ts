/** `-debugcon stdio` and `-serial stdio`: guest bytes reach QemuEnv.stdout. */
import { describe, expect, it } from "vitest";
import { qemuInit, qemuMainLoop } from "../src/system/vl.js";
import { ascii, outBytes, qemuTestEnv, romWith } from "./qemu-firmware.js";

describe("stdio chardevs", () => {
  it("debugcon and COM1 write to stdout", () => {
    const fw = romWith([
      ...outBytes(0xe9, ascii("dbg ")),
      ...outBytes(0x3f8, ascii("com1\n")),
      ...[0xb0, 0x00, 0xba, 0x01, 0x05, 0xee, 0xf4],
    ]);
    const { env, stdout } = qemuTestEnv({ "fw.bin": fw });
    const argv = ["qemu-system-x86_64", "-m", "8", "-bios", "fw.bin", "-debugcon", "stdio"];
    const inst = qemuInit([...argv, "-serial", "stdio", "-device", "isa-debug-exit"], env);
    expect(qemuMainLoop(inst, 1000)).toBe(1);
    expect(stdout.join("")).toBe("dbg com1\n");
  });
});
