/**
 * No -bios: the pc machine's default firmware is glassvm's own (pc-bios/glassvm-bios.S,
 * from the package's data directory); with nothing to boot it says so on COM1 and halts,
 * as SeaBIOS says "No bootable device.". A -bios file that is not there is QEMU's message.
 */
import { describe, expect, it } from "vitest";
import type { KvmVcpuThread } from "../src/accel/kvm/kvm-accel-ops.js";
import { qemuChrFind, ringbufRead } from "../src/chardev/char.js";
import { qemuInit, qemuMainLoop } from "../src/system/vl.js";
import { qemuTestEnv } from "./qemu-firmware.js";

describe("without -bios", () => {
  it("runs glassvm-bios, which finds nothing to boot", () => {
    const { env, stderr } = qemuTestEnv();
    const inst = qemuInit(
      [
        "qemu-system-x86_64",
        "-machine",
        "pc,accel=kvm",
        "-m",
        "16",
        "-chardev",
        "ringbuf,id=com1",
        "-serial",
        "chardev:com1",
      ],
      env,
    );
    expect(inst.machine.firmware).toBe("glassvm-bios.bin");
    expect(qemuMainLoop(inst, 200)).toBeNull(); // halted with interrupts off: runs on
    expect(new TextDecoder().decode(ringbufRead(qemuChrFind("com1")!))).toBe(
      "No bootable device.\r\n",
    );
    expect((inst.vcpuThreads[0] as KvmVcpuThread).cpu.halted).toBe(1);
    expect(
      stderr
        .join("")
        .split("\n")
        .filter((l) => l && !l.includes("warning:")),
    ).toEqual([]);
  });
});
