import { describe, expect, it } from "vitest";
import {
  commandLine,
  DEFAULT_OPTIONS,
  GUESTS,
  optionsFromQuery,
  optionsToQuery,
  qemuArgs,
} from "./options.js";

describe("playground options", () => {
  it("gives each guest its README command line", () => {
    const o = { ...DEFAULT_OPTIONS, guest: "hello-long" };
    expect(qemuArgs(o)).toEqual([
      "-machine",
      "pc,accel=kvm",
      "-m",
      "64",
      "-cpu",
      "qemu64",
      "-device",
      "isa-debug-exit,iobase=0xf4,iosize=0x04",
      "-bios",
      "hello-long.bin",
      "-debugcon",
      "stdio",
    ]);
    expect(qemuArgs({ ...o, guest: "multiboot-hello", smp: 2 }).join(" ")).toBe(
      "-machine pc,accel=kvm -m 64 -cpu qemu64 -smp 2 -device isa-debug-exit,iobase=0xf4,iosize=0x04 " +
        "-kernel multiboot-hello.elf -append console=ttyS0 -nographic",
    );
  });

  it("shows the terminal command, quoted for a shell", () => {
    expect(commandLine({ ...DEFAULT_OPTIONS, backend: "svm" })).toBe(
      "npm run glassvm -- -host-cpu amd -machine pc,accel=kvm -m 64 -cpu qemu64 " +
        "-device isa-debug-exit,iobase=0xf4,iosize=0x04 -bios guests/bin/hello-real.bin -debugcon stdio",
    );
    const file = {
      ...DEFAULT_OPTIONS,
      guest: "file",
      fileName: "my os.elf",
      fileLoad: "kernel" as const,
    };
    expect(commandLine(file)).toContain("-kernel 'my os.elf' -nographic");
  });

  it("round-trips through the URL and rejects what it does not know", () => {
    for (const g of GUESTS) {
      const o = { guest: g.id, cpu: "Haswell", smp: 2, backend: "svm" as const };
      expect(optionsFromQuery(optionsToQuery(o))).toEqual(o);
    }
    expect(optionsFromQuery("?guest=nope&cpu=Pentium9&smp=99&backend=arm")).toEqual(
      DEFAULT_OPTIONS,
    );
  });
});
