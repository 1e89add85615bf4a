/**
 * Shutdown and reset requests (system/runstate.c) and the legacy reset handler list
 * (hw/core/reset.c, kept here until qdev has a reset tree).
 *
 * A device never resets or exits the machine itself: it *requests* it —
 * `qemuSystemResetRequest(SHUTDOWN_CAUSE_GUEST_RESET)` from port 0x92, 0xCF9 or the
 * i8042; `qemuSystemShutdownRequestWithCode(SHUTDOWN_CAUSE_GUEST_SHUTDOWN, code)` from
 * isa-debug-exit — and the main loop acts on it between iterations:
 *
 *   const out = { status: 0 };
 *   while (!mainLoopShouldExit(out)) mainLoopWait();
 *   return out.status;               // qemu_main_loop's exit status
 *
 * `mainLoopShouldExit` consumes a shutdown request first (returning true), then a reset
 * request, which it performs with `qemuSystemReset` (every registered reset handler).
 *
 * Not modelled: suspend/wakeup, powerdown, debug and vmstop requests, pausing vCPUs
 * around a reset, the `shutdown=pause` and `panic=` actions, QMP events.
 */
import { defineTraceEvent, traceEvent } from "../trace/control.js";

defineTraceEvent("qemu_system_shutdown_request", (a) => `reason=${a.reason}`);

// ShutdownCause (qapi/run-state.json), in declaration order --------------------------

export const SHUTDOWN_CAUSE_NONE = 0;
export const SHUTDOWN_CAUSE_HOST_ERROR = 1;
export const SHUTDOWN_CAUSE_HOST_QMP_QUIT = 2;
export const SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET = 3;
export const SHUTDOWN_CAUSE_HOST_SIGNAL = 4;
export const SHUTDOWN_CAUSE_HOST_UI = 5;
export const SHUTDOWN_CAUSE_GUEST_SHUTDOWN = 6;
export const SHUTDOWN_CAUSE_GUEST_RESET = 7;
export const SHUTDOWN_CAUSE_GUEST_PANIC = 8;
export const SHUTDOWN_CAUSE_SUBSYSTEM_RESET = 9;
export const SHUTDOWN_CAUSE_SNAPSHOT_LOAD = 10;
export type ShutdownCause =
  | typeof SHUTDOWN_CAUSE_NONE
  | typeof SHUTDOWN_CAUSE_HOST_ERROR
  | typeof SHUTDOWN_CAUSE_HOST_QMP_QUIT
  | typeof SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET
  | typeof SHUTDOWN_CAUSE_HOST_SIGNAL
  | typeof SHUTDOWN_CAUSE_HOST_UI
  | typeof SHUTDOWN_CAUSE_GUEST_SHUTDOWN
  | typeof SHUTDOWN_CAUSE_GUEST_RESET
  | typeof SHUTDOWN_CAUSE_GUEST_PANIC
  | typeof SHUTDOWN_CAUSE_SUBSYSTEM_RESET
  | typeof SHUTDOWN_CAUSE_SNAPSHOT_LOAD;

/** The QAPI names of the causes, indexed by value (ShutdownCause_str). */
export const SHUTDOWN_CAUSE_LOOKUP = [
  "none",
  "host-error",
  "host-qmp-quit",
  "host-qmp-system-reset",
  "host-signal",
  "host-ui",
  "guest-shutdown",
  "guest-reset",
  "guest-panic",
  "subsystem-reset",
  "snapshot-load",
] as const;

/** `shutdown_caused_by_guest`. */
export function shutdownCausedByGuest(cause: ShutdownCause): boolean {
  return cause >= SHUTDOWN_CAUSE_GUEST_SHUTDOWN;
}

// -action reboot=… (RebootAction); `-no-reboot` is reboot=shutdown -----------------

export type RebootAction = "reset" | "shutdown";

let rebootAction: RebootAction = "reset";
let resetRequested: ShutdownCause = SHUTDOWN_CAUSE_NONE;
let shutdownRequested: ShutdownCause = SHUTDOWN_CAUSE_NONE;
/** EXIT_SUCCESS until a request carries a code (`shutdown_exit_code`). */
let shutdownExitCode = 0;
let notifyEvent: (() => void) | null = null;

/** `qmp_set_action` (the reboot part): what a guest reset request does. */
export function qmpSetAction(actions: { reboot?: RebootAction }): void {
  if (actions.reboot) rebootAction = actions.reboot;
}

/**
 * Who to wake when a request arrives (QEMU's `qemu_notify_event` kicks the main loop
 * and `cpu_stop_current` the running vCPU). The main loop installs one; null removes it.
 */
export function qemuSetNotifyEvent(fn: (() => void) | null): void {
  notifyEvent = fn;
}

/** `qemu_notify_event`. */
export function qemuNotifyEvent(): void {
  notifyEvent?.();
}

/**
 * `qemu_system_reset_request`: ask the main loop to reset the machine — or, with
 * `-no-reboot` (reboot=shutdown), to shut it down instead (exit status 0).
 */
export function qemuSystemResetRequest(reason: ShutdownCause): void {
  if (rebootAction === "shutdown" && reason !== SHUTDOWN_CAUSE_SUBSYSTEM_RESET) {
    shutdownRequested = reason;
  } else {
    resetRequested = reason;
  }
  qemuNotifyEvent();
}

/** `qemu_system_shutdown_request`. */
/** `shutdown_signal`: the host signal that asked QEMU to stop (0 = none). */
let shutdownSignal = 0;

/**
 * `qemu_system_killed(signal, pid)`: a host signal (SIGINT from ^C at the terminal, SIGTERM)
 * asks for a shutdown; the main loop reports it (qemuKillReport) as it exits.
 */
export function qemuSystemKilled(signal: number): void {
  shutdownSignal = signal;
  qemuSystemShutdownRequest(SHUTDOWN_CAUSE_HOST_SIGNAL);
}

/**
 * `qemu_kill_report`: "terminated by signal N" (QEMU's wording for a signal from the
 * terminal, pid 0), once. Returns the line, or null when no signal stopped QEMU.
 */
export function qemuKillReport(): string | null {
  if (shutdownSignal === 0) return null;
  const line = `terminated by signal ${shutdownSignal}`;
  shutdownSignal = 0;
  return line;
}

export function qemuSystemShutdownRequest(reason: ShutdownCause): void {
  traceEvent("qemu_system_shutdown_request", { reason });
  shutdownRequested = reason;
  qemuNotifyEvent();
}

/**
 * `qemu_system_shutdown_request_with_code`: shut down and make `exitCode` the process
 * exit status (isa-debug-exit's `(v << 1) | 1`).
 */
export function qemuSystemShutdownRequestWithCode(reason: ShutdownCause, exitCode: number): void {
  shutdownExitCode = exitCode | 0;
  qemuSystemShutdownRequest(reason);
}

/** `qemu_shutdown_requested`: take (and clear) the pending shutdown cause. */
export function qemuShutdownRequested(): ShutdownCause {
  const r = shutdownRequested;
  shutdownRequested = SHUTDOWN_CAUSE_NONE;
  return r;
}

/** `qemu_reset_requested`: take (and clear) the pending reset cause. */
export function qemuResetRequested(): ShutdownCause {
  const r = resetRequested;
  resetRequested = SHUTDOWN_CAUSE_NONE;
  return r;
}

/** `qemu_shutdown_requested_get`: peek without consuming. */
export function qemuShutdownRequestedGet(): ShutdownCause {
  return shutdownRequested;
}

/** `qemu_reset_requested_get`: peek without consuming. */
export function qemuResetRequestedGet(): ShutdownCause {
  return resetRequested;
}

/** The exit status a shutdown request asked for (`shutdown_exit_code`). */
export function qemuShutdownExitCode(): number {
  return shutdownExitCode;
}

// hw/core/reset.c ---------------------------------------------------------------------

export type QEMUResetHandler = (opaque: unknown) => void;

interface QEMUResetEntry {
  readonly func: QEMUResetHandler;
  readonly opaque: unknown;
}

const resetHandlers: QEMUResetEntry[] = [];

/** `qemu_register_reset`: `func(opaque)` runs on every system reset, in registration order. */
export function qemuRegisterReset(func: QEMUResetHandler, opaque: unknown): void {
  resetHandlers.push({ func, opaque });
}

/** `qemu_unregister_reset`. */
export function qemuUnregisterReset(func: QEMUResetHandler, opaque: unknown): void {
  const i = resetHandlers.findIndex((e) => e.func === func && e.opaque === opaque);
  if (i >= 0) resetHandlers.splice(i, 1);
}

/** `qemu_devices_reset`. */
export function qemuDevicesReset(): void {
  for (const e of [...resetHandlers]) e.func(e.opaque);
}

/** The machine's reset (MachineClass.reset), if it has one. */
let machineReset: (() => void) | null = null;

/** Install the current machine's reset (qemu_system_reset calls `mc->reset`). */
export function qemuSetMachineReset(fn: (() => void) | null): void {
  machineReset = fn;
}

/**
 * `qemu_system_reset`: the machine's reset when it has one (pc: devices, then the CPUs'
 * local APICs), else every device (the CPUs reset through their own handlers).
 */
export function qemuSystemReset(_reason: ShutdownCause): void {
  if (machineReset) machineReset();
  else qemuDevicesReset();
}

/**
 * `main_loop_should_exit`: act on pending requests. A shutdown returns true and sets
 * `out.status` to the requested exit code (when non-zero); a reset runs
 * `qemuSystemReset` and returns false.
 */
export function mainLoopShouldExit(out: { status: number }): boolean {
  let request = qemuShutdownRequested();
  if (request !== SHUTDOWN_CAUSE_NONE) {
    if (shutdownExitCode !== 0) out.status = shutdownExitCode;
    return true;
  }
  request = qemuResetRequested();
  if (request !== SHUTDOWN_CAUSE_NONE) qemuSystemReset(request);
  return false;
}

/** Forget every request, handler and action (a fresh process; for tests). */
export function runstateReset(): void {
  rebootAction = "reset";
  resetRequested = SHUTDOWN_CAUSE_NONE;
  shutdownRequested = SHUTDOWN_CAUSE_NONE;
  shutdownExitCode = 0;
  notifyEvent = null;
  resetHandlers.length = 0;
  machineReset = null;
  shutdownSignal = 0;
}
