/** No -bios: the default firmware bios-256k.bin does not exist in glassvm → QEMU's message, 1. */
import { describe, expect, it } from "vitest";
import { qemuMain } from "../src/system/vl.js";
import { qemuTestEnv } from "./qemu-firmware.js";

describe("without -bios", () => {
  it("cannot load PC BIOS 'bios-256k.bin'", () => {
    const { env, stderr } = qemuTestEnv();
    expect(qemuMain(["qemu-system-x86_64", "-machine", "pc,accel=kvm", "-m", "16"], env)).toBe(1);
    expect(
      stderr
        .join("")
        .split("\n")
        .filter((l) => !l.includes("warning:")),
    ).toEqual(["qemu: could not load PC BIOS 'bios-256k.bin'", ""]);
  });
});
