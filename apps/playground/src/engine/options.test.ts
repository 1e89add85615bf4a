import { describe, expect, it } from "vitest";
import {
  commandLine,
  DEFAULT_OPTIONS,
  GUESTS,
  optionsFromQuery,
  optionsToQuery,
  qemuArgs,
  supportedOptions,
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
      for (const threads of ["single", "multi"] as const) {
        const o = { guest: g.id, cpu: "Haswell", smp: 2, backend: "svm" as const, threads };
        expect(optionsFromQuery(optionsToQuery(o))).toEqual(o);
      }
    }
    expect(optionsFromQuery("?guest=nope&cpu=Pentium9&smp=99&backend=arm&threads=many")).toEqual(
      DEFAULT_OPTIONS,
    );
  });

  it("offers the SMP guests of the suite", () => {
    const ids = GUESTS.map((g) => g.id);
    expect(ids).toEqual(expect.arrayContaining(["smp", "smp-bench", "apic-timer"]));
    expect(qemuArgs({ ...DEFAULT_OPTIONS, guest: "smp", smp: 2 }).join(" ")).toBe(
      "-machine pc,accel=kvm -m 64 -cpu qemu64 -smp 2 -device isa-debug-exit,iobase=0xf4,iosize=0x04 " +
        "-bios smp.bin -nographic",
    );
  });

  it("threads: single by default, multi as -accel kvm,thread=multi", () => {
    expect(DEFAULT_OPTIONS.threads).toBe("single");
    expect(optionsToQuery(DEFAULT_OPTIONS)).not.toContain("threads");
    const multi = { ...DEFAULT_OPTIONS, guest: "smp", smp: 2, threads: "multi" as const };
    expect(optionsToQuery(multi)).toBe("?guest=smp&backend=vmx&cpu=qemu64&smp=2&threads=multi");
    expect(optionsFromQuery("?guest=smp&smp=2&threads=multi")).toEqual(multi);
    // -accel beside -machine accel= is an error in QEMU: the machine goes without accel=.
    expect(qemuArgs(multi).slice(0, 4)).toEqual(["-machine", "pc", "-accel", "kvm,thread=multi"]);
    expect(qemuArgs(multi).join(" ")).not.toContain("accel=kvm");
    expect(commandLine(multi)).toBe(
      "npm run glassvm -- -host-cpu intel -machine pc -accel kvm,thread=multi -m 64 -cpu qemu64 " +
        "-smp 2 -device isa-debug-exit,iobase=0xf4,iosize=0x04 -bios guests/bin/smp.bin -nographic",
    );
  });

  it("runs thread=multi only on a cross-origin isolated page", () => {
    const multi = { ...DEFAULT_OPTIONS, smp: 2, threads: "multi" as const };
    expect(supportedOptions(multi, true)).toBe(multi);
    expect(supportedOptions(multi, false)).toEqual({ ...multi, threads: "single" });
    expect(supportedOptions(DEFAULT_OPTIONS, false)).toBe(DEFAULT_OPTIONS);
  });
});
