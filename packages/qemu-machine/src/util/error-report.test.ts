import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { errorAppendHint, errorFatal, errorReportErr, QemuError, QemuExit } from "../qapi/error.js";
import {
  errorInit,
  errorPrintf,
  errorReport,
  errorReportReset,
  infoReport,
  locNew,
  locPop,
  locPushNone,
  locPushRestore,
  locRestore,
  locSave,
  locSetCmdline,
  locSetFile,
  locSetNone,
  reportOnceCond,
  setErrorSink,
  warnReport,
} from "./error-report.js";

let stderr = "";
beforeEach(() => {
  stderr = "";
  errorReportReset();
  setErrorSink((t) => {
    stderr += t;
  });
});
afterEach(() => setErrorSink(null));

describe("error_report", () => {
  it("prefixes the basename of argv[0]", () => {
    errorInit("/usr/local/bin/qemu-system-x86_64");
    errorReport("no accelerator found");
    expect(stderr).toBe("qemu-system-x86_64: no accelerator found\n");
  });

  it("has no prefix before error_init", () => {
    errorReport("early");
    expect(stderr).toBe("early\n");
  });

  it("adds warning: and info:", () => {
    errorInit("glassvm");
    warnReport("short-form boolean option 'mux' deprecated");
    infoReport("hello");
    expect(stderr).toBe(
      "glassvm: warning: short-form boolean option 'mux' deprecated\nglassvm: info: hello\n",
    );
  });

  it("prints the command-line location", () => {
    errorInit("glassvm");
    const argv = ["glassvm", "-m", "foo"];
    locSetCmdline(argv, 1, 2);
    errorReport("Parameter 'size' expects a non-negative number below 2^64");
    locSetCmdline(argv, 1, 1);
    warnReport("x");
    locSetNone();
    errorReport("y");
    expect(stderr).toBe(
      "glassvm: -m foo: Parameter 'size' expects a non-negative number below 2^64\n" +
        "glassvm: -m: warning: x\n" +
        "glassvm: y\n",
    );
  });

  it("prints file locations (QEMU puts no space after the program name there)", () => {
    errorInit("glassvm");
    locSetFile("vm.cfg", 12);
    errorReport("bad");
    locSetFile(null, 0);
    errorReport("worse");
    expect(stderr).toBe("glassvm:vm.cfg:12: bad\nglassvm:vm.cfg: worse\n");
  });

  it("keeps a stack of locations", () => {
    errorInit("glassvm");
    const argv = ["glassvm", "-accel", "kvm"];
    locSetCmdline(argv, 1, 2);
    const saved = locSave();
    locSetNone();
    const pushed = locPushNone();
    locRestore(saved);
    errorReport("inside");
    locPop(pushed);
    errorReport("outside");
    const again = locPushRestore(locSave(locNew()));
    locPop(again);
    expect(stderr).toBe("glassvm: -accel kvm: inside\nglassvm: outside\n");
    expect(() => locPop(pushed)).toThrow();
  });

  it("reports once", () => {
    errorInit("glassvm");
    const printed = { value: false };
    expect(reportOnceCond(printed, "warning", "w")).toBe(true);
    expect(reportOnceCond(printed, "warning", "w")).toBe(false);
    expect(stderr).toBe("glassvm: warning: w\n");
  });
});

describe("Error", () => {
  it("error_report_err prints the message then the hint", () => {
    errorInit("glassvm");
    const err = errorAppendHint(
      new QemuError("machine", 'unsupported machine type: "foo"'),
      "Use -machine help to list supported machines\n",
    );
    errorReportErr(err);
    errorPrintf("raw");
    expect(stderr).toBe(
      'glassvm: unsupported machine type: "foo"\nUse -machine help to list supported machines\nraw',
    );
  });

  it("error_fatal reports and exits 1; other throwables pass", () => {
    errorInit("glassvm");
    let exit: unknown;
    try {
      errorFatal(new QemuError("generic", "boom"));
    } catch (e) {
      exit = e;
    }
    expect(exit).toBeInstanceOf(QemuExit);
    expect((exit as QemuExit).status).toBe(1);
    expect(stderr).toBe("glassvm: boom\n");
    expect(() => errorFatal(new TypeError("bug"))).toThrow(TypeError);
    expect(() => errorFatal(new QemuExit(0))).toThrow(QemuExit);
  });
});
