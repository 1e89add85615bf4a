/**
 * QEMU's `Error` (include/qapi/error.h, util/error.c) as the error class of this layer.
 *
 * Where QEMU fills `Error **errp` (error_setg), glassvm throws a {@link QemuError} carrying
 * QEMU's message and, like `error_append_hint`, optional hint lines that are printed after
 * it. Errors of the layer below (QomError) keep their own class and are printed the same
 * way. Where QEMU gives up — `&error_fatal`, `error_report(...); exit(1)` — glassvm reports
 * on the error sink and throws {@link QemuExit}: the process-level code (the CLI) ends the
 * process with its status; nothing below it calls `process.exit`.
 */
import { QomError } from "@glassvm/qom";
import { errorPrintf, errorReport } from "../util/error-report.js";

/** Closed set of failure kinds raised in this package. */
export type QemuErrorCode =
  /** QERR_INVALID_PARAMETER: `Invalid parameter '%s'`. */
  | "invalid-parameter"
  /** QERR_INVALID_PARAMETER_VALUE: `Parameter '%s' expects %s`. */
  | "invalid-parameter-value"
  /** QERR_INVALID_PARAMETER_TYPE: `Invalid parameter type for '%s', expected: %s`. */
  | "invalid-parameter-type"
  /** QERR_MISSING_PARAMETER: `Parameter '%s' is missing`. */
  | "missing-parameter"
  /** A value outside what the option or property allows (`… is out of range …`). */
  | "out-of-range"
  /** KEY=VALUE syntax errors (keyval, QemuOpts). */
  | "parse"
  /** Duplicate QemuOpts ids. */
  | "duplicate-id"
  /** Machine selection and machine properties (-machine, -smp, -m). */
  | "machine"
  /** Accelerator selection and initialisation. */
  | "accel"
  /** Anything else QEMU reports with a plain error_setg. */
  | "generic";

export interface QemuErrorOptions {
  /** `error_append_hint` text: whole lines, each ending in `\n`. */
  readonly hint?: string;
  /** The C function that raised it. */
  readonly operation?: string;
  readonly cause?: unknown;
}

export class QemuError extends Error {
  override readonly name = "QemuError";
  readonly code: QemuErrorCode;
  /** Printed after the message by errorReportErr, as QEMU prints `err->hint`. */
  readonly hint: string | undefined;
  readonly operation: string | undefined;

  constructor(code: QemuErrorCode, message: string, options: QemuErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
    this.operation = options.operation;
  }
}

/**
 * `exit(status)` of the QEMU process. Thrown after the messages are printed; the CLI ends
 * the process with `status` (0 after `-machine help`, `-version`, …; 1 on errors).
 */
export class QemuExit extends Error {
  override readonly name = "QemuExit";
  constructor(readonly status: number) {
    super(`exit(${status})`);
  }
}

/** `error_append_hint`: a copy of `err` with more hint text. */
export function errorAppendHint(err: QemuError, hint: string): QemuError {
  return new QemuError(err.code, err.message, {
    hint: (err.hint ?? "") + hint,
    operation: err.operation,
    cause: err.cause,
  });
}

/** `error_prepend`: a copy of `err` with `prefix` in front of its message. */
export function errorPrepend(err: QemuError, prefix: string): QemuError {
  return new QemuError(err.code, prefix + err.message, {
    hint: err.hint,
    operation: err.operation,
    cause: err,
  });
}

/**
 * `error_report_err`: report any error's message with the current location, then its
 * hint lines as they are. A non-Error is reported by its string form.
 */
export function errorReportErr(err: unknown): void {
  if (err instanceof Error) {
    errorReport(err.message);
    const hint = (err as { hint?: unknown }).hint;
    if (typeof hint === "string" && hint) errorPrintf(hint);
  } else {
    errorReport(String(err));
  }
}

/** True for the errors QEMU would have put in an `Error *` (this layer's and QOM's). */
export function isQemuError(err: unknown): err is QemuError | QomError {
  return err instanceof QemuError || err instanceof QomError;
}

/**
 * `&error_fatal`: report `err` and exit(1). Anything that is not a QemuError or QomError —
 * a QemuExit (already reported) or a bug such as a TypeError — passes through untouched.
 */
export function errorFatal(err: unknown): never {
  if (!isQemuError(err)) throw err;
  errorReportErr(err);
  throw new QemuExit(1);
}

/** Run `fn` with `&error_fatal` semantics: a QEMU error is reported and becomes exit(1). */
export function withErrorFatal<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    return errorFatal(err);
  }
}
