/**
 * The start-up trace: each step qemu_init takes on the path of design.md ("the seed"),
 * recorded as {step, file, fn} so tests and the CLI can show which function in which file
 * ran, in order — qemuInit → configureAccelerators → accelInitMachine → kvmInit → … →
 * kvmInitVcpu. `step` counts from 1.
 */

export interface StartupStep {
  readonly step: number;
  /** The glassvm source file (under packages/qemu-machine/src). */
  readonly file: string;
  /** The camelCase name of QEMU's function. */
  readonly fn: string;
}

let current: StartupStep[] | null = null;
let listener: ((step: StartupStep) => void) | null = null;

/** Start recording into `list` (null stops). */
export function startupTraceBegin(list: StartupStep[] | null): void {
  current = list;
}

/** Record that `fn` of `file` runs now. */
export function startupStep(file: string, fn: string): void {
  if (!current) return;
  const s = { step: current.length + 1, file, fn };
  current.push(s);
  listener?.(s);
}

/**
 * Be told of each step as it is recorded (null stops), so a host can place what it sees
 * itself — the ioctls on its HostOs, the kernel's log — between the steps (the CLI's
 * `-d path` does).
 */
export function startupTraceListen(fn: ((step: StartupStep) => void) | null): void {
  listener = fn;
}
