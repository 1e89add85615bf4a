/**
 * glassvm's own options and the errors reported before QEMU starts (no qemuInit runs in
 * this file, so many cases share it).
 */
import { describe, expect, it } from "vitest";
import { glassvmMain } from "../src/index.js";
import { testIo } from "./firmware.js";

describe("glassvm options before qemuInit", () => {
  it("-help prints the usage and exits 0", () => {
    const t = testIo();
    expect(glassvmMain(["glassvm", "-help"], t.io)).toBe(0);
    expect(t.out()).toMatch(/^glassvm version .*\nusage: glassvm \[options\]\n/);
    expect(t.out()).toContain("-host-cpu intel|amd");
    expect(t.err()).toBe("");
    const h = testIo();
    expect(glassvmMain(["glassvm", "-m", "16", "--help"], h.io)).toBe(0);
    expect(h.out()).toBe(t.out());
  });

  it("-version says what glassvm is and exits 0", () => {
    const t = testIo();
    expect(glassvmMain(["glassvm", "-version"], t.io)).toBe(0);
    expect(t.out().split("\n")[0]).toBe(
      "glassvm version 0.0.0 (QEMU 10.2.0 command line, Linux KVM + Intel VT-x model)",
    );
  });

  it("-host-cpu amd loads kvm_amd: the same outcome as intel for missing firmware", () => {
    const run = (vendor: string) => {
      const t = testIo();
      const status = glassvmMain(
        ["glassvm", "-host-cpu", vendor, "-m", "16", "-bios", "missing.bin"],
        t.io,
      );
      return { status, out: t.out(), err: t.err() };
    };
    const amd = run("amd");
    expect(amd.err).not.toContain("not implemented");
    expect(amd).toEqual(run("intel"));
  });

  it("-help says what -host-cpu amd does", () => {
    const t = testIo();
    expect(glassvmMain(["glassvm", "-help"], t.io)).toBe(0);
    expect(t.out()).toContain("amd loads kvm_amd (AMD-V)");
  });

  it("-host-cpu with another vendor, and a missing argument, are errors", () => {
    const t = testIo();
    expect(glassvmMain(["glassvm", "-host-cpu", "via"], t.io)).toBe(1);
    expect(t.err()).toBe(
      "glassvm: -host-cpu via: unknown host CPU vendor (expected intel, amd, or intel,amd for both side by side)\n",
    );
    const u = testIo();
    expect(glassvmMain(["glassvm", "-trace-file"], u.io)).toBe(1);
    expect(u.err()).toBe("glassvm: -trace-file: requires an argument\n");
  });

  it("-trace-file needs a host that can write files", () => {
    const t = testIo();
    const { writeFile: _, ...noWrite } = t.io;
    expect(glassvmMain(["glassvm", "-trace-file", "x.json"], noWrite)).toBe(1);
    expect(t.err()).toBe("glassvm: -trace-file x.json: cannot write files on this host\n");
  });
});
