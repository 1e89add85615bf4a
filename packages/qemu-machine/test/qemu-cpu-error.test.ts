/** `-cpu nosuchcpu`: parse_cpu_option's error at the -cpu location, status 1. */
import { describe, expect, it } from "vitest";
import { qemuMain } from "../src/system/vl.js";
import { qemuTestEnv } from "./qemu-firmware.js";

describe("-cpu nosuchcpu", () => {
  it("reports the unknown model and exits 1", () => {
    const { env, stderr } = qemuTestEnv();
    const argv = ["qemu-system-x86_64", "-machine", "pc,accel=kvm", "-cpu", "nosuchcpu"];
    expect(qemuMain(argv, env)).toBe(1);
    expect(stderr.join("")).toBe(
      "qemu-system-x86_64: -cpu nosuchcpu: unable to find CPU model 'nosuchcpu'\n",
    );
  });
});
