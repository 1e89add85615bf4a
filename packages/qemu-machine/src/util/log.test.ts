import { beforeEach, describe, expect, it } from "vitest";
import { QemuError, QemuExit } from "../qapi/error.js";
import {
  defineTraceEvent,
  traceAddSink,
  traceEvent,
  traceEventEnabled,
  traceReset,
} from "../trace/control.js";
import { setOutputSink } from "./error-report.js";
import {
  CPU_LOG_EXEC,
  CPU_LOG_TB_IN_ASM,
  LOG_GUEST_ERROR,
  LOG_INVALID_MEM,
  LOG_TRACE,
  LOG_UNIMP,
  QEMU_LOG_ITEMS,
  qemuLog,
  qemuLogEnabled,
  qemuLoglevelMask,
  qemuLogMask,
  qemuLogReset,
  qemuLogSeparate,
  qemuLogSetHost,
  qemuPrintLogUsage,
  qemuSetLog,
  qemuSetLogFilename,
  qemuSetLogFilenameFlags,
  qemuStrToLogMask,
} from "./log.js";

let stderr: string[];
let files: Map<string, string>;

beforeEach(() => {
  qemuLogReset();
  traceReset();
  stderr = [];
  files = new Map();
  qemuLogSetHost({
    stderr: (t) => stderr.push(t),
    writeFile: (p, t, append) => files.set(p, (append ? (files.get(p) ?? "") : "") + t),
    pid: 4242,
  });
});

describe("qemu_log_items", () => {
  it("has qemu-system-x86_64's items in QEMU's order", () => {
    expect(QEMU_LOG_ITEMS.map((i) => i.name)).toEqual([
      "out_asm",
      "in_asm",
      "op",
      "op_opt",
      "op_ind",
      "op_plugin",
      "int",
      "exec",
      "cpu",
      "fpu",
      "mmu",
      "pcall",
      "cpu_reset",
      "unimp",
      "guest_errors",
      "page",
      "nochain",
      "plugin",
      "strace",
      "tid",
      "vpu",
      "invalid_mem",
    ]);
    expect(new Set(QEMU_LOG_ITEMS.map((i) => i.mask)).size).toBe(QEMU_LOG_ITEMS.length);
  });

  it("prints the usage text -d falls back to", () => {
    const out: string[] = [];
    qemuPrintLogUsage((t) => out.push(t));
    const text = out.join("");
    expect(
      text.startsWith("Log items (comma separated):\nout_asm         show generated host"),
    ).toBe(true);
    expect(text).toContain(
      "guest_errors    log when the guest OS does something invalid (eg accessing a\nnon-existent register)\n",
    );
    expect(text).toContain("invalid_mem     log invalid memory accesses\n");
    expect(
      text.endsWith(
        'trace:PATTERN   enable trace events\n\nUse "-d trace:help" to get a list of trace events.\n\n',
      ),
    ).toBe(true);
  });
});

describe("qemu_str_to_log_mask", () => {
  it("ORs the comma-separated items", () => {
    expect(qemuStrToLogMask("guest_errors,unimp")).toBe(LOG_GUEST_ERROR | LOG_UNIMP);
    expect(qemuStrToLogMask("in_asm,exec")).toBe(CPU_LOG_TB_IN_ASM | CPU_LOG_EXEC);
  });

  it("is 0 for any unknown item, `help` included", () => {
    expect(qemuStrToLogMask("guest_errors,foo")).toBe(0);
    expect(qemuStrToLogMask("help")).toBe(0);
    expect(qemuStrToLogMask("trace:")).toBe(0);
  });

  it("all: every item", () => {
    const all = QEMU_LOG_ITEMS.reduce((m, i) => m | i.mask, 0);
    expect(qemuStrToLogMask("all")).toBe(all);
  });

  it("trace:PATTERN enables trace events and sets LOG_TRACE", () => {
    defineTraceEvent("log_test_event", (a) => `x ${a.x}`);
    expect(qemuStrToLogMask("trace:log_test_*")).toBe(LOG_TRACE);
    expect(traceEventEnabled("log_test_event")).toBe(true);
  });

  it("trace:help lists the events on stdout and exits 0", () => {
    defineTraceEvent("log_test_listed", () => "");
    const out: string[] = [];
    const old = setOutputSink((t) => out.push(t));
    try {
      expect(() => qemuStrToLogMask("trace:help")).toThrow(new QemuExit(0));
    } finally {
      setOutputSink(old);
    }
    expect(out).toContain("log_test_listed\n");
  });
});

describe("qemu_set_log_filename_flags / qemu_log", () => {
  it("without a file: stderr, only the enabled items", () => {
    qemuSetLogFilenameFlags(null, LOG_GUEST_ERROR);
    expect(qemuLogEnabled()).toBe(true);
    expect(qemuLogSeparate()).toBe(false);
    expect(qemuLoglevelMask(LOG_GUEST_ERROR)).toBe(true);
    expect(qemuLoglevelMask(LOG_INVALID_MEM)).toBe(false);
    // The log trace backend is built in: LOG_TRACE is always on.
    expect(qemuLoglevelMask(LOG_TRACE)).toBe(true);
    qemuLogMask(LOG_GUEST_ERROR, "bad register\n");
    qemuLogMask(LOG_INVALID_MEM, "not shown\n");
    expect(stderr).toEqual(["bad register\n"]);
    expect(files.size).toBe(0);
  });

  it("-D FILE: created empty, then appended to; %d is the pid", () => {
    qemuSetLogFilenameFlags("qemu-%d.log", LOG_UNIMP);
    expect(files.get("qemu-4242.log")).toBe("");
    expect(qemuLogSeparate()).toBe(true);
    qemuLogMask(LOG_UNIMP, "one\n");
    qemuLog("two\n");
    expect(files.get("qemu-4242.log")).toBe("one\ntwo\n");
    expect(stderr).toEqual([]);
  });

  it("later changes: qemu_set_log keeps the file, qemu_set_log_filename moves it", () => {
    qemuSetLogFilenameFlags("a.log", 0);
    qemuSetLog(LOG_GUEST_ERROR);
    qemuLogMask(LOG_GUEST_ERROR, "in a\n");
    qemuSetLogFilename("b.log");
    qemuLogMask(LOG_GUEST_ERROR, "in b\n");
    expect(files.get("a.log")).toBe("in a\n");
    expect(files.get("b.log")).toBe("in b\n");
  });

  it("rejects bad templates and a tid log without %d", () => {
    expect(() => qemuSetLogFilenameFlags("x%s.log", 0)).toThrow(QemuError);
    expect(() => qemuSetLogFilenameFlags("x%s.log", 0)).toThrow("Bad logfile template: x%s.log");
    expect(() => qemuSetLogFilenameFlags("x.log", qemuStrToLogMask("tid"))).toThrow(
      "Filename template with '%d' required for 'tid'",
    );
  });

  it("reports a file it cannot create", () => {
    qemuLogSetHost({
      stderr: () => {},
      writeFile: () => {
        throw new Error("Permission denied");
      },
    });
    expect(() => qemuSetLogFilenameFlags("/root/q.log", LOG_UNIMP)).toThrow(
      "Error opening logfile /root/q.log: Permission denied",
    );
  });

  it("carries trace events when a sink routes them to qemu_log (the log backend)", () => {
    defineTraceEvent("log_test_routed", (a) => `v ${a.v}`);
    qemuSetLogFilenameFlags("t.log", qemuStrToLogMask("trace:log_test_routed"));
    const remove = traceAddSink((r) => {
      if (qemuLoglevelMask(LOG_TRACE)) qemuLog(`${r.line}\n`);
    });
    traceEvent("log_test_routed", { v: 7 });
    remove();
    expect(files.get("t.log")).toBe("log_test_routed v 7\n");
  });
});
