/**
 * `-host-cpu intel,amd`: one command line on both backends, side by side — VMX exit
 * reasons next to SVM exit codes, the verdict on the KVM_RUN exits userspace saw, and
 * where two runs part when they do.
 */
import { readFileSync } from "node:fs";
import { KVM_EXIT_INTERNAL_ERROR, KVM_EXIT_IO, KVM_EXIT_IO_OUT } from "@glassvm/kvm-kernel/uapi";
import { describe, expect, it } from "vitest";
import { type BackendRun, compareReport, glassvmMain, type UserspaceExit } from "../src/index.js";
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
    expect(report).toContain("KVM_RUN exits seen by userspace: identical (15 on each)");
    expect(report).toContain("  (not compared: QEMU's kicks, KVM_RUN = -EINTR: 1 and 1)");
    expect(report.at(-1)).toBe("guest console: identical (14 bytes); exit status 1 and 1");
    expect(report.some((l) => /IO_INSTRUCTION \(30\) .* io \(0x07b\)/.test(l))).toBe(true);
  });

  it("faults: MMIO through EPT violations on one side and NPFs on the other, the same exits", () => {
    const t = testIo({ "faults.bin": bin("faults.bin") });
    const status = glassvmMain(
      ["glassvm", "-host-cpu", "intel,amd", "-nographic", "-bios", "faults.bin", ...ARGS],
      t.io,
    );
    expect(status).toBe(1);
    const report = withoutWarnings(t.err()).split("\n");
    // The MMIO read at 0xd0000000 (the same RIP): an EPT violation on VT-x, an NPF on AMD-V.
    const rip = /EPT_VIOLATION \(48\) rip (0x[0-9a-f]+)/.exec(report.join("\n"))?.[1];
    expect(rip).toBeDefined();
    expect(report.some((l) => l.endsWith(`npf (0x400) rip ${rip}`))).toBe(true);
    expect(
      report.some((l) => /^KVM_RUN exits seen by userspace: identical \(\d+ on each\)$/.test(l)),
    ).toBe(true);
    expect(report).toContain(
      `guest console: identical (${t.out().length} bytes); exit status 1 and 1`,
    );
  });

  it("names the first KVM_RUN exit where two runs part", () => {
    const io = (port: number, data: string): UserspaceExit => ({
      exitReason: KVM_EXIT_IO,
      io: { direction: KVM_EXIT_IO_OUT, size: 1, port, count: 1, data },
    });
    const run = (hostCpu: "intel" | "amd", userspace: UserspaceExit[]): BackendRun => ({
      hostCpu,
      status: 1,
      console: "",
      messages: "",
      hardware: [],
      userspace,
    });
    const report = compareReport(
      run("intel", [io(0xe9, "48"), io(0xe9, "69")]),
      run("amd", [io(0xe9, "48"), { exitReason: KVM_EXIT_INTERNAL_ERROR }]),
    );
    expect(report).toMatch(
      /KVM_RUN exits seen by userspace: differ at #2\n {2}kvm_intel: KVM_EXIT_IO out port 0xe9 .*\n {2}kvm_amd: {3}KVM_EXIT_INTERNAL_ERROR\n/,
    );
  });
});
