import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { QemuExit } from "./qapi/error.js";
import {
  lookupOpt,
  qemuHelpText,
  qemuOptionFind,
  qemuOptions,
  qemuVersionText,
} from "./qemu-options.js";
import { errorInit, errorReport, errorReportReset, setErrorSink } from "./util/error-report.js";

let stderr = "";
beforeEach(() => {
  stderr = "";
  errorReportReset();
  errorInit("/usr/bin/qemu-system-x86_64");
  setErrorSink((t) => {
    stderr += t;
  });
});
afterEach(() => setErrorSink(null));

function exitOf(fn: () => unknown): number | null {
  try {
    fn();
  } catch (e) {
    if (e instanceof QemuExit) return e.status;
    throw e;
  }
  return null;
}

describe("the option table", () => {
  it("has the options of the seed's command line and their argument flags", () => {
    const hasArg = Object.fromEntries(qemuOptions.map((o) => [o.name, o.hasArg]));
    expect(hasArg).toMatchObject({
      machine: true,
      M: true,
      accel: true,
      "enable-kvm": false,
      cpu: true,
      smp: true,
      m: true,
      kernel: true,
      initrd: true,
      append: true,
      bios: true,
      device: true,
      chardev: true,
      serial: true,
      nographic: false,
      "no-reboot": false,
      "no-shutdown": false,
      name: true,
      trace: true,
      d: true,
      D: true,
      S: false,
      h: false,
      help: false,
      version: false,
    });
    expect(qemuOptionFind("M")?.index).toBe("M");
    expect(qemuOptionFind("help")?.index).toBe("h");
  });

  it("writes help and version text", () => {
    const help = qemuHelpText("glassvm");
    expect(help).toContain("usage: glassvm [options] [disk_image]\n");
    expect(help).toContain("-machine [type=]name[,prop[=value][,...]]\n");
    expect(help).toContain("-m [size=]megs[,slots=n,maxmem=size]\n");
    expect(qemuVersionText()).toMatch(/^QEMU emulator version 10\.2\.0 \(glassvm\)\n/);
  });
});

describe("lookup_opt", () => {
  it("takes an option and its argument, setting the location", () => {
    const argv = ["qemu", "-m", "512", "--enable-kvm"];
    const a = lookupOpt(argv, 1);
    expect(a).toMatchObject({ optarg: "512", optind: 3 });
    expect(a.option.name).toBe("m");
    errorReport("here");
    const b = lookupOpt(argv, 3);
    expect(b).toMatchObject({ optarg: null, optind: 4 });
    expect(b.option.name).toBe("enable-kvm");
    errorReport("there");
    expect(stderr).toBe(
      "qemu-system-x86_64: -m 512: here\nqemu-system-x86_64: --enable-kvm: there\n",
    );
  });

  it("refuses an unknown option", () => {
    expect(exitOf(() => lookupOpt(["qemu", "-foo", "x"], 1))).toBe(1);
    expect(stderr).toBe("qemu-system-x86_64: -foo: invalid option\n");
  });

  it("refuses a missing argument", () => {
    expect(exitOf(() => lookupOpt(["qemu", "-m"], 1))).toBe(1);
    expect(stderr).toBe("qemu-system-x86_64: -m: requires an argument\n");
  });

  it("takes the next word as the argument even if it looks like an option", () => {
    expect(lookupOpt(["qemu", "-append", "-v"], 1).optarg).toBe("-v");
  });

  it("treats a lone dash as an unknown option", () => {
    expect(exitOf(() => lookupOpt(["qemu", "-"], 1))).toBe(1);
    expect(stderr).toBe("qemu-system-x86_64: -: invalid option\n");
  });
});
