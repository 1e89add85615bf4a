/**
 * util/error-report.c — how QEMU talks to the user on stderr.
 *
 * Every report is one line `<prog>: [<location>: ][warning: |info: ]<text>`: `<prog>` is the
 * basename of argv[0] (errorInit), `<location>` the command-line option being processed
 * (`-m foo`) when one is current. The location is a stack: qemu_init sets it per option in
 * its argv loop (locSetCmdline), clears it once the options are read (locSetNone), and
 * code working on a saved QemuOpts pushes that option's location for the duration.
 *
 * Output goes through pluggable sinks (QEMU's stderr and stdout), so the CLI can write to
 * the process streams, the playground to a panel, and tests can capture it.
 *
 *   errorInit("/usr/bin/qemu-system-x86_64");
 *   locSetCmdline(["-m", "foo"], 0, 2);
 *   errorReport("Parameter 'size' expects a non-negative number below 2^64");
 *   // qemu-system-x86_64: -m foo: Parameter 'size' expects a non-negative number below 2^64
 */

/** Where a report comes from (`Location`, include/qemu/error-report.h). */
export interface Location {
  kind: "none" | "cmdline" | "file";
  /** cmdline: the argv and the slice [idx, idx + num) that is the option. */
  argv: readonly string[];
  idx: number;
  /** cmdline: how many argv words; file: the line number (0 = none). */
  num: number;
  /** file: the file name. */
  fname: string;
  /** The location below this one on the stack (null for a saved copy). */
  prev: Location | null;
}

/** Receives text exactly as QEMU writes it to a stream (pieces, newlines included). */
export type OutputSink = (text: string) => void;

function lineBufferedConsole(write: (line: string) => void): OutputSink {
  let pending = "";
  return (text) => {
    pending += text;
    let nl = pending.indexOf("\n");
    while (nl >= 0) {
      write(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
      nl = pending.indexOf("\n");
    }
  };
}

const defaultStderr: OutputSink = lineBufferedConsole((line) => console.error(line));
const defaultStdout: OutputSink = lineBufferedConsole((line) => console.log(line));

let stderrSink: OutputSink = defaultStderr;
let stdoutSink: OutputSink = defaultStdout;
let prgname: string | null = null;

const stdLoc: Location = { kind: "none", argv: [], idx: 0, num: 0, fname: "", prev: null };
let curLoc: Location = stdLoc;

/**
 * Route QEMU's stderr (error_report & co) to `sink`; `null` restores the console. Returns
 * the sink that was installed before.
 */
export function setErrorSink(sink: OutputSink | null): OutputSink {
  const old = stderrSink;
  stderrSink = sink ?? defaultStderr;
  return old;
}

/** Route QEMU's stdout (printf: help listings, `-version`) to `sink`; `null` restores. */
export function setOutputSink(sink: OutputSink | null): OutputSink {
  const old = stdoutSink;
  stdoutSink = sink ?? defaultStdout;
  return old;
}

/** `printf` to QEMU's stdout. */
export function qemuPrintf(text: string): void {
  stdoutSink(text);
}

/** `error_printf`: raw text to stderr (no prefix, no newline added). */
export function errorPrintf(text: string): void {
  stderrSink(text);
}

/**
 * `error_init(argv0)`: the program name every report starts with is the part of argv[0]
 * after its last `/`.
 */
export function errorInit(argv0: string): void {
  const slash = argv0.lastIndexOf("/");
  prgname = slash >= 0 ? argv0.slice(slash + 1) : argv0;
}

/** `g_get_prgname()`: the name set by errorInit, or null before it. */
export function errorGetProgname(): string | null {
  return prgname;
}

// The location stack ------------------------------------------------------------

/** A fresh "nowhere" location, for locPushNone / locSave. */
export function locNew(): Location {
  return { kind: "none", argv: [], idx: 0, num: 0, fname: "", prev: null };
}

/** `loc_push_restore`: make the saved `loc` current, on top of the current one. */
export function locPushRestore(loc: Location): Location {
  if (loc.prev) throw new Error("loc_push_restore: location is already on the stack");
  loc.prev = curLoc;
  curLoc = loc;
  return loc;
}

/** `loc_push_none`: push "nowhere" (pair with locPop). */
export function locPushNone(loc: Location = locNew()): Location {
  loc.kind = "none";
  loc.prev = null;
  return locPushRestore(loc);
}

/** `loc_pop`: `loc` must be the top of the stack. */
export function locPop(loc: Location): Location {
  if (curLoc !== loc || !loc.prev) throw new Error("loc_pop: not the current location");
  curLoc = loc.prev;
  loc.prev = null;
  return loc;
}

/** `loc_save`: a copy of the current location (not on the stack). */
export function locSave(loc: Location = locNew()): Location {
  loc.kind = curLoc.kind;
  loc.argv = curLoc.argv;
  loc.idx = curLoc.idx;
  loc.num = curLoc.num;
  loc.fname = curLoc.fname;
  loc.prev = null;
  return loc;
}

/** `loc_restore`: the current location becomes a copy of the saved `loc`. */
export function locRestore(loc: Location): void {
  if (loc.prev) throw new Error("loc_restore: location is on the stack");
  curLoc.kind = loc.kind;
  curLoc.argv = loc.argv;
  curLoc.idx = loc.idx;
  curLoc.num = loc.num;
  curLoc.fname = loc.fname;
}

/** `loc_set_none`: reports carry no location from now on. */
export function locSetNone(): void {
  curLoc.kind = "none";
}

/** `loc_set_cmdline(argv, idx, cnt)`: the current location is argv[idx .. idx+cnt-1]. */
export function locSetCmdline(argv: readonly string[], idx: number, cnt: number): void {
  curLoc.kind = "cmdline";
  curLoc.argv = argv;
  curLoc.idx = idx;
  curLoc.num = cnt;
}

/** `loc_set_file(fname, lno)`: a config file line (`fname` null keeps the file). */
export function locSetFile(fname: string | null, lno: number): void {
  curLoc.kind = "file";
  curLoc.num = lno;
  if (fname !== null) curLoc.fname = fname;
}

/** Forget the stack and the program name: a fresh process (tests). */
export function errorReportReset(): void {
  curLoc = stdLoc;
  stdLoc.kind = "none";
  stdLoc.prev = null;
  prgname = null;
}

/** The `<prog>: <location>: ` prefix of a report (QEMU's print_loc). */
export function errorLocPrefix(): string {
  let out = "";
  let sep = "";
  if (prgname !== null) {
    out += `${prgname}:`;
    sep = " ";
  }
  switch (curLoc.kind) {
    case "cmdline":
      for (let i = 0; i < curLoc.num; i++) {
        out += sep + (curLoc.argv[curLoc.idx + i] ?? "");
        sep = " ";
      }
      out += ": ";
      break;
    case "file":
      out += `${curLoc.fname}:`;
      if (curLoc.num) out += `${curLoc.num}:`;
      out += " ";
      break;
    default:
      out += sep;
  }
  return out;
}

type ReportType = "error" | "warning" | "info";

function vreport(type: ReportType, text: string): void {
  const kind = type === "warning" ? "warning: " : type === "info" ? "info: " : "";
  stderrSink(`${errorLocPrefix()}${kind}${text}\n`);
}

/** `error_report`: one error line with the program name and current location. */
export function errorReport(text: string): void {
  vreport("error", text);
}

/** `warn_report`: like errorReport with `warning: ` before the text. */
export function warnReport(text: string): void {
  vreport("warning", text);
}

/** `info_report`: like errorReport with `info: ` before the text. */
export function infoReport(text: string): void {
  vreport("info", text);
}

/** `error_report_once_cond` / `warn_report_once_cond`: report the first time only. */
export function reportOnceCond(
  printed: { value: boolean },
  type: "error" | "warning",
  text: string,
): boolean {
  if (printed.value) return false;
  printed.value = true;
  vreport(type, text);
  return true;
}
