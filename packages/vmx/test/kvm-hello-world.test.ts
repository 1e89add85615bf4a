/**
 * kvm-hello-world parity: the classic C program's sequence of ioctls, without QEMU, runs
 * the guest suite's four payloads (guests/bin/payload-<mode>.bin) on kvm.ko + kvm_intel —
 * each prints "Hello, world!\n" on port 0xE9, stores 42 at 0x400 and halts.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { HELLO_MODES, kvmHelloWorld } from "../examples/kvm-hello-world.js";

const payload = (mode: string) =>
  new Uint8Array(readFileSync(new URL(`../../../guests/bin/payload-${mode}.bin`, import.meta.url)));

describe.each(HELLO_MODES)("kvm-hello-world, %s mode", (mode) => {
  it("prints Hello, world! and leaves 42 at 0x400", () => {
    const r = kvmHelloWorld(mode, payload(mode));
    expect(r.output).toBe("Hello, world!\n");
    expect(r.at0x400).toBe(42);
  });
});
