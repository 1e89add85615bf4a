/** A triple fault with -no-reboot: the reset request becomes a shutdown, status 0. */
import { describe, expect, it } from "vitest";
import { qemuChrFind, ringbufRead } from "../src/chardev/char.js";
import { qemuInit, qemuMainLoop } from "../src/system/vl.js";
import { qemuTestEnv, TRIPLE_FAULT_ARGV, tripleFaultRom } from "./qemu-firmware.js";

describe("guest reset by triple fault with -no-reboot", () => {
  it("shuts down with status 0 after one run", () => {
    const { env } = qemuTestEnv({ "tf.bin": tripleFaultRom(2) });
    const inst = qemuInit([...TRIPLE_FAULT_ARGV, "-no-reboot"], env);
    expect(qemuMainLoop(inst, 1000)).toBe(0);
    expect(inst.resetCount).toBe(0);
    expect(inst.runstate).toBe("shutdown");
    expect(new TextDecoder().decode(ringbufRead(qemuChrFind("dbg")!))).toBe("1");
  });
});
