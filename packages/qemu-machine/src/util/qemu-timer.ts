/**
 * Clocks and timers (util/qemu-timer.c, include/qemu/timer.h).
 *
 * Each QEMUClockType reads a nanosecond time source and owns one timer list sorted by
 * expiry. Devices arm QEMUTimers (`timerNewNs` + `timerMod`); the main loop calls
 * `qemuClockRunTimers(type)` and every expired timer's callback runs, in expiry order.
 * A callback may re-arm its own timer, as the PIT does for each output transition.
 *
 * Time sources are injectable: the defaults read `performance.now()` (REALTIME, VIRTUAL)
 * and `Date.now()` (HOST); tests install a manual clock with `qemuClockSetSource`.
 * Times are plain numbers of nanoseconds (exact up to 2^53 ns, about 104 days).
 *
 * Not modelled: stopping QEMU_CLOCK_VIRTUAL while the VM is paused (cpu_disable_ticks),
 * icount, timer lists per AioContext, and attributes.
 */

export const QEMU_CLOCK_REALTIME = 0;
export const QEMU_CLOCK_VIRTUAL = 1;
export const QEMU_CLOCK_HOST = 2;
export const QEMU_CLOCK_VIRTUAL_RT = 3;
export type QEMUClockType =
  | typeof QEMU_CLOCK_REALTIME
  | typeof QEMU_CLOCK_VIRTUAL
  | typeof QEMU_CLOCK_HOST
  | typeof QEMU_CLOCK_VIRTUAL_RT;
const QEMU_CLOCK_MAX = 4;

export const NANOSECONDS_PER_SECOND = 1_000_000_000;
/** Timer scales: how many nanoseconds one unit of `timerMod`'s argument is. */
export const SCALE_MS = 1_000_000;
export const SCALE_US = 1_000;
export const SCALE_NS = 1;

/** A time source: the current time of a clock in nanoseconds. */
export type QEMUClockSource = () => number;

const monotonicNs: QEMUClockSource = () => Math.floor(performance.now() * 1e6);
const wallNs: QEMUClockSource = () => Date.now() * 1e6;

const defaultSources: readonly QEMUClockSource[] = [monotonicNs, monotonicNs, wallNs, monotonicNs];

export type QEMUTimerCB = (opaque: unknown) => void;

/** `QEMUTimer`. `expireTime` is in nanoseconds; -1 when the timer is not pending. */
export interface QEMUTimer {
  expireTime: number;
  readonly clock: QEMUClockType;
  readonly scale: number;
  readonly cb: QEMUTimerCB;
  readonly opaque: unknown;
}

interface QEMUClock {
  source: QEMUClockSource;
  enabled: boolean;
  /** Pending timers, earliest first (equal expiry: first armed first). */
  readonly active: QEMUTimer[];
}

const clocks: QEMUClock[] = Array.from({ length: QEMU_CLOCK_MAX }, (_, i) => ({
  source: defaultSources[i]!,
  enabled: true,
  active: [],
}));

function clockOf(type: QEMUClockType): QEMUClock {
  const c = clocks[type];
  if (!c) throw new RangeError(`bad QEMUClockType ${type}`);
  return c;
}

/**
 * Install the time source of a clock (null restores the default). A test's manual
 * clock: `let t = 0; qemuClockSetSource(QEMU_CLOCK_VIRTUAL, () => t);` then advance `t`.
 */
export function qemuClockSetSource(type: QEMUClockType, source: QEMUClockSource | null): void {
  clockOf(type).source = source ?? defaultSources[type]!;
}

/** `qemu_clock_get_ns`. */
export function qemuClockGetNs(type: QEMUClockType): number {
  return clockOf(type).source();
}

/** `qemu_clock_get_ms`. */
export function qemuClockGetMs(type: QEMUClockType): number {
  return Math.floor(qemuClockGetNs(type) / SCALE_MS);
}

/** `qemu_clock_get_us`. */
export function qemuClockGetUs(type: QEMUClockType): number {
  return Math.floor(qemuClockGetNs(type) / SCALE_US);
}

/** `qemu_clock_enable`: a disabled clock runs no timers. */
export function qemuClockEnable(type: QEMUClockType, enabled: boolean): void {
  clockOf(type).enabled = enabled;
}

/** `timer_new` / `timer_new_full` with a scale. */
export function timerNew(
  type: QEMUClockType,
  scale: number,
  cb: QEMUTimerCB,
  opaque: unknown,
): QEMUTimer {
  clockOf(type);
  return { expireTime: -1, clock: type, scale, cb, opaque };
}

/** `timer_new_ns`. */
export function timerNewNs(type: QEMUClockType, cb: QEMUTimerCB, opaque: unknown): QEMUTimer {
  return timerNew(type, SCALE_NS, cb, opaque);
}

/** `timer_new_us`. */
export function timerNewUs(type: QEMUClockType, cb: QEMUTimerCB, opaque: unknown): QEMUTimer {
  return timerNew(type, SCALE_US, cb, opaque);
}

/** `timer_new_ms`. */
export function timerNewMs(type: QEMUClockType, cb: QEMUTimerCB, opaque: unknown): QEMUTimer {
  return timerNew(type, SCALE_MS, cb, opaque);
}

function unlink(ts: QEMUTimer): void {
  const list = clocks[ts.clock]!.active;
  const i = list.indexOf(ts);
  if (i >= 0) list.splice(i, 1);
}

/** `timer_del`: the timer will not fire until armed again. */
export function timerDel(ts: QEMUTimer): void {
  if (ts.expireTime === -1) return;
  unlink(ts);
  ts.expireTime = -1;
}

/** `timer_mod_ns`: (re-)arm the timer to fire at `expireTime` ns on its clock. */
export function timerModNs(ts: QEMUTimer, expireTime: number): void {
  timerDel(ts);
  const t = Math.max(0, expireTime);
  ts.expireTime = t;
  const list = clocks[ts.clock]!.active;
  let i = list.length;
  while (i > 0 && list[i - 1]!.expireTime > t) i--;
  list.splice(i, 0, ts);
}

/** `timer_mod`: arm the timer; `expireTime` is in the timer's scale. */
export function timerMod(ts: QEMUTimer, expireTime: number): void {
  timerModNs(ts, expireTime * ts.scale);
}

/** `timer_mod_anticipate_ns`: arm it, unless it is already due earlier. */
export function timerModAnticipateNs(ts: QEMUTimer, expireTime: number): void {
  if (ts.expireTime === -1 || ts.expireTime > expireTime) timerModNs(ts, expireTime);
}

/** `timer_pending`. */
export function timerPending(ts: QEMUTimer): boolean {
  return ts.expireTime !== -1;
}

/** `timer_expired`: would the timer have fired by `currentTime` (in its scale)? */
export function timerExpired(ts: QEMUTimer, currentTime: number): boolean {
  return ts.expireTime !== -1 && ts.expireTime <= currentTime * ts.scale;
}

/** `timer_expire_time_ns`: the expiry in ns, or -1 when not pending. */
export function timerExpireTimeNs(ts: QEMUTimer): number {
  return ts.expireTime;
}

/** `timer_free` (the timer must not be pending afterwards). */
export function timerFree(ts: QEMUTimer): void {
  timerDel(ts);
}

/**
 * `qemu_clock_run_timers`: run the callback of every timer of `type` that expired by
 * now (the clock is read once). Returns whether any ran (`progress`).
 */
export function qemuClockRunTimers(type: QEMUClockType): boolean {
  const c = clockOf(type);
  if (!c.enabled) return false;
  const now = c.source();
  let progress = false;
  for (;;) {
    const ts = c.active[0];
    if (!ts || ts.expireTime > now) break;
    c.active.shift();
    ts.expireTime = -1;
    ts.cb(ts.opaque);
    progress = true;
  }
  return progress;
}

/** `qemu_clock_run_all_timers`. */
export function qemuClockRunAllTimers(): boolean {
  let progress = false;
  for (let type = 0; type < QEMU_CLOCK_MAX; type++) {
    progress = qemuClockRunTimers(type as QEMUClockType) || progress;
  }
  return progress;
}

/**
 * `qemu_clock_deadline_ns_all`: nanoseconds until the earliest timer of `type` is
 * due (0 if overdue), or -1 if none is pending — how long the main loop may sleep.
 */
export function qemuClockDeadlineNsAll(type: QEMUClockType): number {
  const c = clockOf(type);
  const first = c.active[0];
  if (!c.enabled || !first) return -1;
  return Math.max(0, first.expireTime - c.source());
}

/**
 * `muldiv64` (include/qemu/host-utils.h): floor(a * b / c) without losing integer
 * precision when a * b exceeds 2^53 (a < 2^53; b and c below 2^31).
 */
export function muldiv64(a: number, b: number, c: number): number {
  const q = Math.floor(a / c);
  const r = a - q * c;
  return q * b + Math.floor((r * b) / c);
}
