/**
 * `-host-cpu intel,amd`: one command line on both backends, side by side — VMX exit
 * reasons next to SVM exit codes, the verdict on the KVM_RUN exits userspace saw, and
 * where a guest the AMD side cannot run yet (no instruction emulator) diverges.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { glassvmMain } from "../src/index.js";
import { testIo, withoutWarnings } from "./firmware.js";

const bin = (name: string) =>
  new Uint8Array(readFileSync(new URL(`../../../guests/bin/${name}`, import.meta.url)));
const ARGS = ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"];

describe("glassvm -host-cpu intel,amd", () => {
  it("hello-long: both hardware exit streams, identical at the KVM boundary", () => {
    const t = testIo({ "hello-long.bin": bin("hello-long.bin") });
    const status = glassvmMain(
      [
        "glassvm",
        "-host-cpu",
        "intel,amd",
        "-bios",
        "hello-long.bin",
        "-debugcon",
        "stdio",
        ...ARGS,
      ],
      t.io,
    );
    expect(status).toBe(1);
    expect(t.out()).toBe("Hello, world!\n");
    const report = withoutWarnings(t.err()).split("\n").filter(Boolean);
    expect(report[0]).toMatch(/^ +# +kvm_intel: VMX exit reason +kvm_amd: SVM exit code$/);
    // The first exits: VT-x's CR0 mask lets the read through, SVM intercepts it.
    expect(report[1]).toMatch(
      /^ +1 +CR_ACCESS \(28\) rip 0x[0-9a-f]+ +read_cr0 \(0x000\) rip 0x[0-9a-f]+$/,
    );
    expect(report).toContain("KVM_RUN exits seen by userspace: identical (16 on each)");
    expect(report.at(-1)).toBe("guest console: identical (14 bytes); exit status 1 and 1");
    expect(report.some((l) => /IO_INSTRUCTION \(30\) .* io \(0x07b\)/.test(l))).toBe(true);
  });

  it("faults: names the first KVM_RUN exit where the backends part", () => {
    const t = testIo({ "faults.bin": bin("faults.bin") });
    const status = glassvmMain(
      ["glassvm", "-host-cpu", "intel,amd", "-nographic", "-bios", "faults.bin", ...ARGS],
      t.io,
    );
    expect(status).toBe(1);
    const err = withoutWarnings(t.err());
    expect(err).toMatch(
      /KVM_RUN exits seen by userspace: differ at #\d+\n {2}kvm_intel: KVM_EXIT_MMIO read 0xd0000000 len 4\n {2}kvm_amd: {3}KVM_EXIT_INTERNAL_ERROR\n/,
    );
    expect(err).toContain("guest console: differs;");
  });
});
