import { MODULE_INIT_QOM, moduleCallInit } from "@glassvm/qom";
import { beforeAll, describe, expect, it } from "vitest";
import "../hw/audio/pcspk.js";
import "../hw/char/debugcon.js";
import "../hw/char/serial.js";
import "../hw/core/generic-loader.js";
import "../hw/i386/port92.js";
import "../hw/input/pckbd.js";
import "../hw/misc/debugexit.js";
import "../hw/rtc/mc146818rtc.js";
import "../target/i386/cpu.js";
import { setErrorSink, setOutputSink } from "../util/error-report.js";
import { qdevDeviceHelp } from "./qdev-monitor.js";
import { objectPropertyHelp } from "./vl-options.js";

function capture(fn: () => boolean): { ret: boolean; out: string; err: string } {
  let out = "";
  let err = "";
  const o = setOutputSink((t) => {
    out += t;
  });
  const e = setErrorSink((t) => {
    err += t;
  });
  try {
    return { ret: fn(), out, err };
  } finally {
    setOutputSink(o);
    setErrorSink(e);
  }
}

beforeAll(() => moduleCallInit(MODULE_INIT_QOM));

describe("-device help", () => {
  it("lists the user-creatable devices by category, name order, bus and description", () => {
    const { ret, out } = capture(() => qdevDeviceHelp("help", false));
    expect(ret).toBe(true);
    // Every category but the first (bridges, none here) starts with a blank line.
    expect(out[0]).toBe("\n");
    const sections = out.slice(1).split("\n\n");
    expect(sections[0]).toBe('Input devices:\nname "i8042", bus ISA\nname "isa-serial", bus ISA');
    expect(sections[1]).toBe(
      [
        "Misc devices:",
        'name "isa-debug-exit", bus ISA',
        'name "isa-debugcon", bus ISA',
        'name "loader", desc "Generic Loader"',
        'name "mc146818rtc", bus ISA',
      ].join("\n"),
    );
    expect(sections[2]).toMatch(/^CPU devices:\n/);
    expect(sections[2]).toContain('name "SandyBridge-x86_64-cpu"\n');
    expect(sections).toHaveLength(3); // no-user devices (PIT, PIC, speaker, port92) hidden
    expect(out).not.toContain("isa-pcspk");
  });

  it("is not help without `help`", () => {
    expect(capture(() => qdevDeviceHelp("isa-debugcon", false)).ret).toBe(false);
    expect(capture(() => qdevDeviceHelp(null, true)).ret).toBe(false);
  });
});

describe("-device TYPE,help", () => {
  it("lists the properties, sorted, with types and defaults", () => {
    const { ret, out } = capture(() => qdevDeviceHelp("isa-debug-exit", true));
    expect(ret).toBe(true);
    expect(out).toBe(
      [
        "isa-debug-exit options:",
        "  iobase=<uint32>        -  (default: 1281)",
        "  iosize=<uint32>        -  (default: 2)",
        "",
      ].join("\n"),
    );
  });

  it("reports an unknown or abstract type with QEMU's message", () => {
    expect(capture(() => qdevDeviceHelp("nosuch", true)).err).toMatch(
      /Device 'nosuch' not found\n$/,
    );
    expect(capture(() => qdevDeviceHelp("isa-device", true)).err).toMatch(
      /Parameter 'typename' expects a non-abstract device type\n$/,
    );
  });

  it("formats one property like object_property_help", () => {
    expect(objectPropertyHelp("chardev", "str", undefined, "ID of a chardev")).toBe(
      "  chardev=<str>          - ID of a chardev",
    );
    expect(objectPropertyHelp("x", "bool", undefined, undefined)).toBe("  x=<bool>");
    expect(objectPropertyHelp("on", "bool", true, undefined)).toBe(
      "  on=<bool>              -  (default: true)",
    );
  });
});
