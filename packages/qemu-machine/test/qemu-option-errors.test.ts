/** Option errors end qemu_init with QEMU's message (reference §1.2 format) and status 1. */
import { describe, expect, it } from "vitest";
import { qemuMain } from "../src/system/vl.js";
import { qemuTestEnv } from "./qemu-firmware.js";

describe("option errors", () => {
  it("-m foo: the size parser's message at the option's location", () => {
    const { env, stderr } = qemuTestEnv();
    expect(qemuMain(["qemu-system-x86_64", "-machine", "pc,accel=kvm", "-m", "foo"], env)).toBe(1);
    expect(stderr.join("")).toBe(
      "qemu-system-x86_64: -m foo: Parameter 'size' expects a non-negative number below 2^64\n" +
        "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n" +
        "and exabytes, respectively.\n",
    );
  });
});
