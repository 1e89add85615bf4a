import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  errorInit,
  errorReport,
  errorReportReset,
  locSetCmdline,
  locSetNone,
  setErrorSink,
  setOutputSink,
} from "./error-report.js";
import {
  type QemuOptsList,
  qemuOptGet,
  qemuOptGetBool,
  qemuOptGetNumber,
  qemuOptGetSize,
  qemuOptHasHelpOpt,
  qemuOptsCreate,
  qemuOptsForeach,
  qemuOptsListNew,
  qemuOptsParse,
  qemuOptsParseNoisily,
  qemuOptsPrintHelp,
  qemuOptsToQdict,
} from "./qemu-option.js";

let stderr = "";
let stdout = "";
beforeEach(() => {
  stderr = "";
  stdout = "";
  errorReportReset();
  errorInit("glassvm");
  setErrorSink((t) => {
    stderr += t;
  });
  setOutputSink((t) => {
    stdout += t;
  });
});
afterEach(() => {
  setErrorSink(null);
  setOutputSink(null);
});

function memoryList(): QemuOptsList {
  return qemuOptsListNew("memory", "size", true, [
    { name: "size", type: "size" },
    { name: "slots", type: "number" },
    { name: "maxmem", type: "size" },
  ]);
}

const SIZE_HINT =
  "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n" +
  "and exabytes, respectively.\n";

describe("qemu_opts_parse", () => {
  it("takes a bare first value as the implied key", () => {
    const opts = qemuOptsParse(memoryList(), "1G,slots=2,maxmem=4G", true);
    expect(qemuOptGet(opts, "size")).toBe("1G");
    expect(qemuOptGetSize(opts, "size", 0n)).toBe(1n << 30n);
    expect(qemuOptGetNumber(opts, "slots", 0n)).toBe(2n);
    expect(qemuOptGetSize(opts, "maxmem", 0n)).toBe(4n << 30n);
  });

  it("merges repeated uses, the last setting wins", () => {
    const list = memoryList();
    qemuOptsParse(list, "512", true);
    const opts = qemuOptsParse(list, "size=1G", true);
    expect(list.head.length).toBe(1);
    expect(qemuOptGet(opts, "size")).toBe("1G");
    expect(opts.head.map((o) => o.str)).toEqual(["512", "1G"]);
  });

  it("unescapes ,, (implied value too)", () => {
    const list = qemuOptsListNew("device", "driver", false, []);
    const opts = qemuOptsParse(list, "a,,b,x=1,,2,,,y=3", true);
    expect(qemuOptGet(opts, "driver")).toBe("a,b");
    expect(qemuOptGet(opts, "x")).toBe("1,2,");
    expect(qemuOptGet(opts, "y")).toBe("3");
  });

  it("reports QEMU's messages", () => {
    const list = memoryList();
    expect(() => qemuOptsParse(list, "foo", true)).toThrow(
      "Parameter 'size' expects a non-negative number below 2^64",
    );
    try {
      qemuOptsParse(list, "foo", true);
    } catch (e) {
      expect((e as { hint?: string }).hint).toBe(SIZE_HINT);
    }
    expect(() => qemuOptsParse(list, "1G,foo=1", true)).toThrow("Invalid parameter 'foo'");
    expect(() => qemuOptsParse(list, "1G,slots=x", true)).toThrow(
      "Parameter 'slots' expects a number",
    );
    expect(() => qemuOptsParse(list, "1G,slots=99999999999999999999", true)).toThrow(
      "Value '99999999999999999999' is too large for parameter 'slots'",
    );
    expect(() => qemuOptsParse(list, "-1", true)).toThrow(
      "Value '-1' is out of range for parameter 'size'",
    );
    expect(() => qemuOptsParse(list, "1G,id=m", true)).toThrow("Invalid parameter 'id'");
    const bools = qemuOptsListNew("b", null, false, [{ name: "on", type: "bool" }]);
    expect(() => qemuOptsParse(bools, "on=maybe", false)).toThrow(
      "Parameter 'on' expects 'on' or 'off'",
    );
  });

  it("handles ids", () => {
    const list = qemuOptsListNew("chardev", "backend", false, [
      { name: "backend", type: "string" },
    ]);
    const a = qemuOptsParse(list, "stdio,id=c0", true);
    expect(a.id).toBe("c0");
    expect(qemuOptsToQdict(a)).toEqual(
      Object.assign(Object.create(null), { id: "c0", backend: "stdio" }),
    );
    expect(() => qemuOptsParse(list, "null,id=c0", true)).toThrow("Duplicate ID 'c0' for chardev");
    let hint: string | undefined;
    try {
      qemuOptsParse(list, "null,id=0bad", true);
    } catch (e) {
      expect((e as Error).message).toBe("Parameter 'id' expects an identifier");
      hint = (e as { hint?: string }).hint;
    }
    expect(hint).toBe(
      "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.\n",
    );
    expect(list.head.length).toBe(1);
  });

  it("reads bare flags as on/off and warns", () => {
    const list = qemuOptsListNew("chardev", "backend", false, [
      { name: "backend", type: "string" },
      { name: "mux", type: "bool" },
      { name: "server", type: "bool" },
    ]);
    const opts = qemuOptsParseNoisily(list, "socket,server,nomux", true).opts!;
    expect(qemuOptGetBool(opts, "server", false)).toBe(true);
    expect(qemuOptGetBool(opts, "mux", true)).toBe(false);
    expect(stderr).toBe(
      "glassvm: warning: short-form boolean option 'server' deprecated\n" +
        "Please use server=on instead\n" +
        "glassvm: warning: short-form boolean option 'nomux' deprecated\n" +
        "Please use mux=off instead\n",
    );
  });
});

describe("qemu_opts_parse_noisily", () => {
  it("reports with the current location and the hint lines", () => {
    const argv = ["glassvm", "-m", "foo"];
    locSetCmdline(argv, 1, 2);
    const r = qemuOptsParseNoisily(memoryList(), "foo", true);
    expect(r).toEqual({ opts: null, help: false });
    expect(stderr).toBe(
      `glassvm: -m foo: Parameter 'size' expects a non-negative number below 2^64\n${SIZE_HINT}`,
    );
  });

  it("prints help for `help` (the keys, sorted, with types)", () => {
    const r = qemuOptsParseNoisily(memoryList(), "1G,help", true);
    expect(r).toEqual({ opts: null, help: true });
    expect(stdout).toBe("memory options:\n  maxmem=<size>\n  size=<size>\n  slots=<num>\n");
  });

  it("leaves help to any-key lists", () => {
    const list = qemuOptsListNew("device", "driver", false, []);
    const r = qemuOptsParseNoisily(list, "isa-debugcon,help", true);
    expect(qemuOptHasHelpOpt(r.opts!)).toBe(true);
  });

  it("prints help text with descriptions", () => {
    const list = qemuOptsListNew("name", "guest", true, [
      { name: "guest", type: "string", help: "Sets the name of the guest." },
      { name: "debug-threads", type: "bool" },
    ]);
    qemuOptsPrintHelp(list, true);
    expect(stdout).toBe(
      "name options:\n" +
        "  debug-threads=<bool (on/off)>\n" +
        `  guest=<str>${" ".repeat(11)} - Sets the name of the guest.\n`,
    );
    stdout = "";
    qemuOptsPrintHelp(qemuOptsListNew("empty", null, false, []), true);
    expect(stdout).toBe("There are no options for empty.\n");
  });
});

describe("qemu_opts_foreach", () => {
  it("restores each QemuOpts' location while it runs", () => {
    const list = qemuOptsListNew("accel", "accel", false, []);
    const argv = ["glassvm", "-accel", "kvm", "-accel", "tcg"];
    locSetCmdline(argv, 1, 2);
    qemuOptsParse(list, "kvm", true);
    locSetCmdline(argv, 3, 2);
    qemuOptsParse(list, "tcg", true);
    locSetNone();
    qemuOptsCreate(list, null, false);
    const rc = qemuOptsForeach(list, (opts) => {
      errorReport(`saw ${qemuOptGet(opts, "accel")}`);
      return 0;
    });
    errorReport("after");
    expect(rc).toBe(0);
    expect(stderr).toBe(
      "glassvm: -accel kvm: saw kvm\nglassvm: -accel tcg: saw tcg\nglassvm: saw null\nglassvm: after\n",
    );
  });
});
