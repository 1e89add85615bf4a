/**
 * util/log.c: QEMU's debug log, the `-d ITEM,…` and `-D FILE` options.
 *
 *   qemuStrToLogMask("guest_errors,trace:kvm_run*")   the mask (0: an unknown item)
 *   qemuSetLogFilenameFlags("qemu.log", mask)          where it goes, which items are on
 *   qemuLogMask(LOG_GUEST_ERROR, "…\n")                 written if the item is on
 *
 * Items and mask bits are qemu-system-x86_64's (include/qemu/log.h, qemu_log_items in
 * util/log.c; the build has plugins and the "log" trace backend, so LOG_TRACE is always
 * set and `trace:PATTERN` is accepted). The TCG items (in_asm, op, exec, cpu, nochain …)
 * are accepted and, under KVM, nothing ever logs them — as in QEMU.
 *
 * Output: without `-D`, stderr; with `-D FILE`, the file is created empty when the log is
 * set up (fopen "w") and every qemu_log appends to it. The host provides both through
 * {@link qemuLogSetHost}. `tid` (a file per thread, `%d` = thread id) writes one file
 * named after the process id: glassvm's `thread=single` runs every vCPU on the main thread.
 */
import { QemuError, QemuExit } from "../qapi/error.js";
import { traceEnable, traceEventNames } from "../trace/control.js";
import { qemuPrintf } from "./error-report.js";

// include/qemu/log.h (and log-for-trace.h for LOG_TRACE)
export const CPU_LOG_TB_OUT_ASM = 1 << 0;
export const CPU_LOG_TB_IN_ASM = 1 << 1;
export const CPU_LOG_TB_OP = 1 << 2;
export const CPU_LOG_TB_OP_OPT = 1 << 3;
export const CPU_LOG_INT = 1 << 4;
export const CPU_LOG_EXEC = 1 << 5;
export const CPU_LOG_PCALL = 1 << 6;
export const CPU_LOG_TB_CPU = 1 << 8;
export const CPU_LOG_RESET = 1 << 9;
export const LOG_UNIMP = 1 << 10;
export const LOG_GUEST_ERROR = 1 << 11;
export const CPU_LOG_MMU = 1 << 12;
export const CPU_LOG_TB_NOCHAIN = 1 << 13;
export const CPU_LOG_PAGE = 1 << 14;
export const LOG_TRACE = 1 << 15;
export const CPU_LOG_TB_OP_IND = 1 << 16;
export const CPU_LOG_TB_FPU = 1 << 17;
export const CPU_LOG_PLUGIN = 1 << 18;
export const LOG_STRACE = 1 << 19;
export const LOG_PER_THREAD = 1 << 20;
export const CPU_LOG_TB_VPU = 1 << 21;
export const LOG_TB_OP_PLUGIN = 1 << 22;
export const LOG_INVALID_MEM = 1 << 23;

/** `QEMULogItem`: one `-d` item. */
export interface QEMULogItem {
  readonly mask: number;
  readonly name: string;
  readonly help: string;
}

/** `qemu_log_items`, in QEMU's order (what `-d help` lists). */
export const QEMU_LOG_ITEMS: readonly QEMULogItem[] = [
  {
    mask: CPU_LOG_TB_OUT_ASM,
    name: "out_asm",
    help: "show generated host assembly code for each compiled TB",
  },
  {
    mask: CPU_LOG_TB_IN_ASM,
    name: "in_asm",
    help: "show target assembly code for each compiled TB",
  },
  { mask: CPU_LOG_TB_OP, name: "op", help: "show micro ops for each compiled TB" },
  { mask: CPU_LOG_TB_OP_OPT, name: "op_opt", help: "show micro ops after optimization" },
  { mask: CPU_LOG_TB_OP_IND, name: "op_ind", help: "show micro ops before indirect lowering" },
  { mask: LOG_TB_OP_PLUGIN, name: "op_plugin", help: "show micro ops before plugin injection" },
  { mask: CPU_LOG_INT, name: "int", help: "show interrupts/exceptions in short format" },
  { mask: CPU_LOG_EXEC, name: "exec", help: "show trace before each executed TB (lots of logs)" },
  {
    mask: CPU_LOG_TB_CPU,
    name: "cpu",
    help: "show CPU registers before entering a TB (lots of logs)",
  },
  { mask: CPU_LOG_TB_FPU, name: "fpu", help: "include FPU registers in the 'cpu' logging" },
  { mask: CPU_LOG_MMU, name: "mmu", help: "log MMU-related activities" },
  {
    mask: CPU_LOG_PCALL,
    name: "pcall",
    help: "x86 only: show protected mode far calls/returns/exceptions",
  },
  { mask: CPU_LOG_RESET, name: "cpu_reset", help: "show CPU state before CPU resets" },
  { mask: LOG_UNIMP, name: "unimp", help: "log unimplemented functionality" },
  {
    mask: LOG_GUEST_ERROR,
    name: "guest_errors",
    help: "log when the guest OS does something invalid (eg accessing a\nnon-existent register)",
  },
  { mask: CPU_LOG_PAGE, name: "page", help: "dump pages at beginning of user mode emulation" },
  {
    mask: CPU_LOG_TB_NOCHAIN,
    name: "nochain",
    help: 'do not chain compiled TBs so that "exec" and "cpu" show\ncomplete traces',
  },
  { mask: CPU_LOG_PLUGIN, name: "plugin", help: "output from TCG plugins" },
  {
    mask: LOG_STRACE,
    name: "strace",
    help: "log every user-mode syscall, its input, and its result",
  },
  {
    mask: LOG_PER_THREAD,
    name: "tid",
    help: "open a separate log file per thread; filename must contain '%d'",
  },
  { mask: CPU_LOG_TB_VPU, name: "vpu", help: "include VPU registers in the 'cpu' logging" },
  { mask: LOG_INVALID_MEM, name: "invalid_mem", help: "log invalid memory accesses" },
];

/** What the log writes to: the process's stderr, and files (`-D`). */
export interface QemuLogHost {
  readonly stderr: (text: string) => void;
  /** Write `text` to `path` (truncating unless `append`). Throws an Error if it cannot. */
  readonly writeFile?: (path: string, text: string, append: boolean) => void;
  readonly pid?: number;
}

let host: QemuLogHost | null = null;
/** `qemu_loglevel`. */
let qemuLoglevel = 0;
/** `global_filename`: the -D name after the %d substitution, or null (stderr). */
let globalFilename: string | null = null;
/** `global_file` is open (qemu_log writes somewhere). */
let globalFileOpen = false;
let logPerThread = false;

/** Where qemu_log output goes from now on (the QEMU process's stderr and files). */
export function qemuLogSetHost(h: QemuLogHost | null): void {
  host = h;
}

/** Back to a fresh process: no items, no file. */
export function qemuLogReset(): void {
  qemuLoglevel = 0;
  globalFilename = null;
  globalFileOpen = false;
  logPerThread = false;
}

/** `qemu_loglevel_mask`: is any bit of `mask` enabled? */
export function qemuLoglevelMask(mask: number): boolean {
  return (qemuLoglevel & mask) !== 0;
}

/** The whole `qemu_loglevel`. */
export function qemuGetLoglevel(): number {
  return qemuLoglevel;
}

/** `qemu_log_enabled`: will qemu_log write anywhere? */
export function qemuLogEnabled(): boolean {
  return globalFileOpen;
}

/** `qemu_log_separate`: does qemu_log write somewhere other than stderr? */
export function qemuLogSeparate(): boolean {
  return globalFileOpen && globalFilename !== null;
}

/** `qemu_log`: `text` (printf-formatted by the caller) to the log, if it is open. */
export function qemuLog(text: string): void {
  if (!globalFileOpen || !host) return;
  if (globalFilename === null) host.stderr(text);
  else host.writeFile?.(globalFilename, text, true);
}

/** `qemu_log_mask`: qemu_log if an item of `mask` is enabled. */
export function qemuLogMask(mask: number, text: string): void {
  if (qemuLoglevelMask(mask)) qemuLog(text);
}

/**
 * `qemu_str_to_log_mask`: a comma list of item names, `all` (every item), or
 * `trace:PATTERN` (enables the matching trace events; `trace:help` lists them and exits
 * 0). Returns 0 if any item is unknown.
 */
export function qemuStrToLogMask(str: string): number {
  let mask = 0;
  for (const part of str.split(",")) {
    if (part === "all") {
      for (const item of QEMU_LOG_ITEMS) mask |= item.mask;
    } else if (part.startsWith("trace:") && part.length > "trace:".length) {
      traceEnableEvents(part.slice("trace:".length));
      mask |= LOG_TRACE;
    } else {
      const item = QEMU_LOG_ITEMS.find((i) => i.name === part);
      if (!item) return 0;
      mask |= item.mask;
    }
  }
  return mask;
}

/** `trace_enable_events` (trace/control.c): `help` lists the events and exits. */
function traceEnableEvents(pattern: string): void {
  if (pattern === "help" || pattern === "?") {
    for (const name of traceEventNames()) qemuPrintf(`${name}\n`);
    throw new QemuExit(0);
  }
  traceEnable(pattern);
}

/** `qemu_print_log_usage`: the item list `-d` prints when it cannot parse its argument. */
export function qemuPrintLogUsage(print: (text: string) => void): void {
  print("Log items (comma separated):\n");
  for (const item of QEMU_LOG_ITEMS) print(`${item.name.padEnd(15)} ${item.help}\n`);
  print("trace:PATTERN   enable trace events\n");
  print('\nUse "-d trace:help" to get a list of trace events.\n\n');
}

/**
 * `valid_filename_template`: at most one `%`, and it must be `%d` (replaced by the process
 * id, or by the thread id for `tid`); `tid` requires it.
 */
function validFilenameTemplate(filename: string | null, perThread: boolean): string | null {
  if (filename !== null) {
    const pct = filename.indexOf("%");
    if (pct >= 0) {
      if (filename[pct + 1] !== "d" || filename.indexOf("%", pct + 2) >= 0) {
        throw new QemuError("generic", `Bad logfile template: ${filename}`, {
          operation: "valid_filename_template",
        });
      }
      const id = String(host?.pid ?? 0);
      return filename.slice(0, pct) + id + filename.slice(pct + 2);
    }
  }
  if (perThread) {
    throw new QemuError("generic", "Filename template with '%d' required for 'tid'", {
      operation: "valid_filename_template",
    });
  }
  return filename;
}

/** `qemu_set_log_internal`: the level, and (if `changedName`) the file. Throws QemuError. */
function qemuSetLogInternal(filename: string | null, changedName: boolean, flags: number): void {
  let logFlags = flags;
  if (logPerThread) logFlags |= LOG_PER_THREAD;
  else if (globalFilename !== null) logFlags &= ~LOG_PER_THREAD;
  const perThread = (logFlags & LOG_PER_THREAD) !== 0;
  let name = globalFilename;
  if (changedName) {
    if (logPerThread) {
      throw new QemuError("generic", "Cannot change log filename after setting 'tid'", {
        operation: "qemu_set_log_internal",
      });
    }
    name = validFilenameTemplate(filename, perThread);
  } else if (perThread) {
    validFilenameTemplate(globalFilename, true);
  }
  if (perThread) logPerThread = true;
  // The "log" trace backend is built in: trace events always reach qemu_log.
  qemuLoglevel = (logFlags & ~LOG_PER_THREAD) | LOG_TRACE;
  if (changedName) {
    globalFilename = name;
    globalFileOpen = false;
  }
  if (!globalFileOpen && qemuLoglevel !== 0) {
    if (globalFilename !== null) {
      try {
        if (!host?.writeFile) throw new Error("No such file or directory");
        host.writeFile(globalFilename, "", false);
      } catch (err) {
        throw new QemuError(
          "generic",
          `Error opening logfile ${globalFilename}: ${err instanceof Error ? err.message : String(err)}`,
          { operation: "qemu_set_log_internal", cause: err },
        );
      }
    }
    globalFileOpen = true;
  }
}

/** `qemu_set_log`: change the enabled items. Throws QemuError (as `Error **errp`). */
export function qemuSetLog(flags: number): void {
  qemuSetLogInternal(null, false, flags);
}

/** `qemu_set_log_filename`: log to `filename` (null: stderr) from now on. */
export function qemuSetLogFilename(filename: string | null): void {
  qemuSetLogInternal(filename, true, qemuLoglevel);
}

/** `qemu_set_log_filename_flags`: both at once, as qemu_init does for `-D` and `-d`. */
export function qemuSetLogFilenameFlags(filename: string | null, flags: number): void {
  qemuSetLogInternal(filename, true, flags);
}
