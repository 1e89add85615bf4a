import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  GLASSVM_VERSION,
  GlassvmUsageError,
  glassvmHelpText,
  glassvmVersionText,
  parseGlassvmArgs,
} from "./args.js";

describe("glassvm's own options, taken out before qemuInit", () => {
  it("keeps QEMU's options (and their arguments) in order, argv[0] = glassvm", () => {
    const o = parseGlassvmArgs([
      "x",
      "-m",
      "-d",
      "-host-cpu",
      "intel",
      "-d",
      "path,guest_errors,exits",
      "-trace",
      "enable=kvm_*,file=t.log",
      "-trace-file",
      "out.json",
      "-cpu",
      "help",
    ]);
    // "-m -d": -d is -m's argument, not an option.
    expect(o.qemuArgv).toEqual([
      "glassvm",
      "-m",
      "-d",
      "-d",
      "guest_errors",
      "-trace",
      "enable=kvm_*,file=t.log",
      "-cpu",
      "help",
    ]);
    expect(o).toMatchObject({
      hostCpu: "intel",
      showPath: true,
      exitStats: true,
      traceFile: "out.json",
      tracePatterns: ["kvm_*"],
    });
  });

  it("drops a -d that had only glassvm items; notes help requests", () => {
    const o = parseGlassvmArgs(["glassvm", "-d", "exits", "--trace", "help", "-d", "help"]);
    expect(o.qemuArgv).toEqual(["glassvm", "--trace", "help", "-d", "help"]);
    expect(o.traceHelp).toBe(true);
    expect(o.logHelp).toBe(true);
    expect(o.tracePatterns).toEqual([]);
  });

  it("a glassvm option without its argument is an error", () => {
    expect(() => parseGlassvmArgs(["glassvm", "-trace-file"])).toThrow(GlassvmUsageError);
  });

  it("-help lists QEMU's options and glassvm's; -version says what glassvm is", () => {
    const h = glassvmHelpText();
    expect(h).toMatch(
      /^glassvm version 0\.0\.0 \(QEMU 10\.2\.0 command line, Linux KVM \+ Intel VT-x model\)\nusage: glassvm \[options\]/,
    );
    for (const o of [
      "-machine",
      "-cpu",
      "-smp",
      "-m",
      "-bios",
      "-device",
      "-trace",
      "-d item1",
      "-host-cpu",
      "-trace-file",
    ]) {
      expect(h).toContain(`\n${o}`);
    }
    expect(glassvmVersionText().split("\n")[0]).toBe(
      "glassvm version 0.0.0 (QEMU 10.2.0 command line, Linux KVM + Intel VT-x model)",
    );
  });
});

it("GLASSVM_VERSION is package.json's version (bump both)", () => {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  expect(GLASSVM_VERSION).toBe(pkg.version);
});
