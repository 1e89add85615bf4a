/**
 * `-device loader,file=…,addr=…,cpu-num=0`: the raw image lands in RAM at addr and CPU 0's
 * EIP becomes addr (x86_cpu_set_pc sets EIP only), so with reset's CS base 0xFFFF0000 the
 * CPU starts at ROM offset addr — where this firmware far-jumps to 0000:addr.
 */
import { describe, expect, it } from "vitest";
import { qemuChrFind, ringbufRead } from "../src/chardev/char.js";
import { qemuInit, qemuMainLoop } from "../src/system/vl.js";
import { ascii, outBytes, qemuTestEnv, romWith } from "./qemu-firmware.js";

describe("-device loader with cpu-num", () => {
  it("loads the image and sets EIP", () => {
    const fw = romWith([]);
    fw.set([0xea, 0x00, 0x10, 0x00, 0x00], 0x1000); // jmp far 0000:1000
    const image = new Uint8Array([
      ...outBytes(0xe9, ascii("L")),
      0xb0,
      0x05,
      0xba,
      0x01,
      0x05,
      0xee, // exit code 5 through 0x501
      0xf4,
    ]);
    const { env } = qemuTestEnv({ "fw.bin": fw, "code.bin": image });
    const inst = qemuInit(
      [
        "qemu-system-x86_64",
        "-m",
        "16",
        "-bios",
        "fw.bin",
        "-chardev",
        "ringbuf,id=dbg",
        "-device",
        "isa-debugcon,chardev=dbg",
        "-device",
        "isa-debug-exit",
        "-device",
        "loader,file=code.bin,addr=0x1000,cpu-num=0",
      ],
      env,
    );
    expect(qemuMainLoop(inst, 1000)).toBe(11);
    expect(new TextDecoder().decode(ringbufRead(qemuChrFind("dbg")!))).toBe("L");
  });
});
