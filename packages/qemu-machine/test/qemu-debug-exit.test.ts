/**
 * End to end: qemu_init with a -bios image built here, the guest in real mode writing to
 * isa-debugcon (0xE9) and COM1 (0x3F8), then leaving through isa-debug-exit: the main
 * loop returns (0x10 << 1) | 1.
 */
import { describe, expect, it } from "vitest";
import { qemuChrFind, ringbufRead } from "../src/chardev/char.js";
import { qemuInit, qemuMainLoop } from "../src/system/vl.js";
import { ascii, outBytes, qemuTestEnv, romWith } from "./qemu-firmware.js";

const dec = new TextDecoder();

describe("qemuInit → qemuMainLoop with isa-debugcon, isa-serial and isa-debug-exit", () => {
  it("runs the firmware and exits with status 33", () => {
    const fw = romWith([
      ...outBytes(0xe9, ascii("Hi\n")),
      ...outBytes(0x3f8, ascii("OK\n")),
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
        "-machine",
        "pc,accel=kvm",
        "-m",
        "64",
        "-bios",
        "fw.bin",
        "-chardev",
        "ringbuf,id=dbg",
        "-chardev",
        "ringbuf,id=com1",
        "-serial",
        "chardev:com1",
        "-device",
        "isa-debugcon,chardev=dbg",
        "-device",
        "isa-debug-exit,iobase=0x501,iosize=2",
      ],
      env,
    );
    expect(inst.runstate).toBe("running");
    const status = qemuMainLoop(inst, 1000);
    // Only the -cpu filtering warnings of qemu64 on this host.
    for (const line of stderr.join("").split("\n").filter(Boolean)) {
      expect(line).toMatch(/^qemu-system-x86_64: warning: host doesn't support requested feature/);
    }
    expect(status).toBe(33);
    expect(dec.decode(ringbufRead(qemuChrFind("dbg")!))).toBe("Hi\n");
    expect(dec.decode(ringbufRead(qemuChrFind("com1")!))).toBe("OK\n");
    expect(inst.runstate).toBe("shutdown");
  });
});
