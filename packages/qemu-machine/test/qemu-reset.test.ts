/**
 * A triple fault without -no-reboot: KVM_EXIT_SHUTDOWN → qemu_system_reset_request →
 * the main loop resets devices and CPUs (state pushed to KVM) and the firmware runs again
 * from the reset vector; RAM keeps the run count, so the second run exits.
 */
import { describe, expect, it } from "vitest";
import { qemuChrFind, ringbufRead } from "../src/chardev/char.js";
import { qemuInit, qemuMainLoop } from "../src/system/vl.js";
import { qemuTestEnv, TRIPLE_FAULT_ARGV, tripleFaultRom } from "./qemu-firmware.js";

describe("guest reset by triple fault", () => {
  it("resets and runs the firmware again", () => {
    const { env } = qemuTestEnv({ "tf.bin": tripleFaultRom(2) });
    const inst = qemuInit(TRIPLE_FAULT_ARGV, env);
    expect(qemuMainLoop(inst, 1000)).toBe(67);
    expect(inst.resetCount).toBe(1);
    expect(new TextDecoder().decode(ringbufRead(qemuChrFind("dbg")!))).toBe("12");
  });
});
