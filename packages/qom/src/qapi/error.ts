/**
 * QEMU's `Error` (qapi/error.c) as one error class for the QOM layer.
 *
 * QEMU reports failures through `Error **errp`; glassvm throws a {@link QomError}
 * carrying QEMU's message text. Where QEMU would abort the process (an assertion or
 * `&error_abort`), the error is thrown with `fatal: true` instead: the host process
 * stays alive, the caller learns exactly what QEMU would have printed.
 */

/** Closed set of failure kinds; `errorClass` maps them onto QMP's error classes. */
export type QomErrorCode =
  | "illegal-type-name"
  | "duplicate-type"
  | "missing-parent"
  | "missing-interface"
  | "unknown-type"
  | "abstract-type"
  | "bad-cast"
  | "property-not-found"
  | "duplicate-property"
  | "not-readable"
  | "not-writable"
  | "invalid-parameter-type"
  | "invalid-parameter-value"
  | "device-not-found"
  | "ambiguous-path"
  | "realized"
  | "hotplug"
  | "assertion";

/** QMP's `ErrorClass` (qapi/error.json) as used by the qom-* commands. */
export type QmpErrorClass = "GenericError" | "DeviceNotFound";

export interface QomErrorOptions {
  /** The C function that failed (e.g. `object_property_find_err`). */
  readonly operation?: string;
  /** True where QEMU aborts instead of returning the error. */
  readonly fatal?: boolean;
  readonly cause?: unknown;
}

export class QomError extends Error {
  override readonly name = "QomError";
  readonly code: QomErrorCode;
  readonly operation: string | undefined;
  readonly fatal: boolean;

  constructor(code: QomErrorCode, message: string, options: QomErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.operation = options.operation;
    this.fatal = options.fatal ?? false;
  }

  /** The QMP error class a monitor reply would carry for this error. */
  get errorClass(): QmpErrorClass {
    return this.code === "device-not-found" ? "DeviceNotFound" : "GenericError";
  }
}

/** `g_assert` / `abort()` in QEMU: a programming error, thrown as a fatal QomError. */
export function qomAssert(cond: unknown, what: string, operation?: string): asserts cond {
  if (!cond) {
    throw new QomError("assertion", `assertion failed: (${what})`, { operation, fatal: true });
  }
}

/** `error_prepend`: keep the code and class, put context in front of the message. */
export function errorPrepend(err: QomError, prefix: string): QomError {
  return new QomError(err.code, prefix + err.message, {
    operation: err.operation,
    fatal: err.fatal,
    cause: err,
  });
}

let warnSink: (message: string) => void = (message) => {
  console.error(`warning: ${message}`);
};

/** `warn_report` (util/error-report.c): QEMU prints the warning to stderr. */
export function warnReport(message: string): void {
  warnSink(message);
}

/** Route `warn_report` output; the CLI and tests install their own sink. */
export function setWarnReporter(sink: (message: string) => void): void {
  warnSink = sink;
}
