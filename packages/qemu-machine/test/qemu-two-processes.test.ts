/**
 * Two QEMU processes, one after the other, in one JS realm: qemu_cleanup (called by
 * qemuInit for a process that did not clean up) closes the first one's KVM fds and drops
 * its module state, so the second boots as a fresh process — its own /machine, chardevs,
 * CPU list, ISA bus and exit status.
 */
import { objectGetRoot, objectResolvePathComponent } from "@glassvm/qom";
import { describe, expect, it } from "vitest";
import { qemuChrFind, ringbufRead } from "../src/chardev/char.js";
import { qemuCleanup, qemuInit, qemuMainLoop } from "../src/system/vl.js";
import { cpuForeach } from "../src/target/i386/cpu.js";
import { ascii, outBytes, qemuTestEnv, romWith } from "./qemu-firmware.js";

const rom = (text: string, code: number) =>
  romWith([...outBytes(0xe9, ascii(text)), 0xb0, code, 0xe6, 0xf4, 0xf4]); // out 0xf4, al; hlt

function run(text: string, code: number, smp: string) {
  const { env, os } = qemuTestEnv({ "fw.bin": rom(text, code) });
  const inst = qemuInit(
    [
      "qemu-system-x86_64",
      "-m",
      "16",
      "-smp",
      smp,
      "-bios",
      "fw.bin",
      "-chardev",
      "ringbuf,id=dbg",
      "-device",
      "isa-debugcon,chardev=dbg",
      "-device",
      "isa-debug-exit,iobase=0xf4,iosize=4",
    ],
    env,
  );
  const status = qemuMainLoop(inst, 1000);
  return { inst, os, status, out: new TextDecoder().decode(ringbufRead(qemuChrFind("dbg")!)) };
}

describe("qemuInit twice in one realm", () => {
  it("runs the second process from a clean state", () => {
    const first = run("one\n", 1, "2");
    expect([first.status, first.out, cpuForeach().length]).toEqual([3, "one\n", 2]);
    const machine1 = objectResolvePathComponent(objectGetRoot(), "machine");

    const second = run("two\n", 2, "1");
    expect([second.status, second.out, cpuForeach().length]).toEqual([5, "two\n", 1]);
    expect(objectResolvePathComponent(objectGetRoot(), "machine")).not.toBe(machine1);
    // The first process's /dev/kvm, VM and vCPU fds were closed by its cleanup.
    expect(first.os.close(first.inst.kvm.fd)).toBeLessThan(0);
    expect(first.os.close(first.inst.kvm.vmfd)).toBeLessThan(0);

    qemuCleanup();
    expect(objectResolvePathComponent(objectGetRoot(), "machine")).toBeNull();
    expect(cpuForeach()).toHaveLength(0);
    expect(second.os.close(second.inst.kvm.fd)).toBeLessThan(0);
  });
});
