/** `-device help` and `-device TYPE,help` through qemu_init: listed on stdout, exit 0. */
import { describe, expect, it } from "vitest";
import { qemuMain } from "../src/system/vl.js";
import { qemuTestEnv } from "./qemu-firmware.js";

describe("-device help", () => {
  it("lists the device types and exits 0 before a machine is built", () => {
    const { env, stdout, stderr } = qemuTestEnv();
    expect(qemuMain(["qemu-system-x86_64", "-device", "help"], env)).toBe(0);
    const out = stdout.join("");
    expect(out).toContain('\nMisc devices:\nname "isa-debug-exit", bus ISA\n');
    expect(out).toContain('name "isa-serial", bus ISA\n');
    expect(stderr.join("")).toBe("");
  });

  it("lists a type's properties", () => {
    const { env, stdout } = qemuTestEnv();
    expect(qemuMain(["qemu-system-x86_64", "-device", "isa-debugcon,help"], env)).toBe(0);
    expect(stdout.join("")).toMatch(/^isa-debugcon options:\n {2}chardev=<str> +- /);
    expect(stdout.join("")).toContain("  iobase=<uint32>        -  (default: 233)\n");
  });
});
