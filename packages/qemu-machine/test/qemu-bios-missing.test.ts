/** A -bios image the host cannot read: QEMU's message (no program prefix) and status 1. */
import { describe, expect, it } from "vitest";
import { qemuMain } from "../src/system/vl.js";
import { qemuTestEnv } from "./qemu-firmware.js";

describe("-bios with a missing file", () => {
  it("cannot load PC BIOS 'bios-256k.bin'", () => {
    const { env, stderr } = qemuTestEnv();
    expect(qemuMain(["qemu-system-x86_64", "-m", "16", "-bios", "bios-256k.bin"], env)).toBe(1);
    expect(
      stderr
        .join("")
        .split("\n")
        .filter((l) => !l.includes("warning:")),
    ).toEqual(["qemu: could not load PC BIOS 'bios-256k.bin'", ""]);
  });
});
