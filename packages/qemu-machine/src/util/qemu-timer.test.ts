import { afterEach, describe, expect, it } from "vitest";
import {
  muldiv64,
  QEMU_CLOCK_VIRTUAL,
  qemuClockDeadlineNsAll,
  qemuClockGetNs,
  qemuClockRunTimers,
  qemuClockSetSource,
  timerDel,
  timerExpired,
  timerExpireTimeNs,
  timerMod,
  timerModNs,
  timerNewMs,
  timerNewNs,
  timerPending,
} from "./qemu-timer.js";

describe("QEMU clocks and timers", () => {
  let now = 0;
  qemuClockSetSource(QEMU_CLOCK_VIRTUAL, () => now);
  afterEach(() => {
    now = 0;
  });

  it("reads the injected time source", () => {
    now = 1234;
    expect(qemuClockGetNs(QEMU_CLOCK_VIRTUAL)).toBe(1234);
  });

  it("runs expired timers in expiry order, each once", () => {
    const fired: string[] = [];
    const a = timerNewNs(QEMU_CLOCK_VIRTUAL, (o) => fired.push(o as string), "a");
    const b = timerNewNs(QEMU_CLOCK_VIRTUAL, (o) => fired.push(o as string), "b");
    const c = timerNewNs(QEMU_CLOCK_VIRTUAL, (o) => fired.push(o as string), "c");
    timerModNs(a, 300);
    timerModNs(b, 100);
    timerModNs(c, 1000);
    now = 500;
    expect(qemuClockRunTimers(QEMU_CLOCK_VIRTUAL)).toBe(true);
    expect(fired).toEqual(["b", "a"]);
    expect(timerPending(a)).toBe(false);
    expect(timerPending(c)).toBe(true);
    expect(qemuClockDeadlineNsAll(QEMU_CLOCK_VIRTUAL)).toBe(500);
    expect(qemuClockRunTimers(QEMU_CLOCK_VIRTUAL)).toBe(false);
    timerDel(c);
    expect(qemuClockDeadlineNsAll(QEMU_CLOCK_VIRTUAL)).toBe(-1);
  });

  it("lets a callback re-arm its timer (a periodic tick)", () => {
    let ticks = 0;
    const t = timerNewNs(
      QEMU_CLOCK_VIRTUAL,
      () => {
        ticks++;
        timerModNs(t, (ticks + 1) * 10);
      },
      null,
    );
    timerModNs(t, 10);
    now = 55;
    qemuClockRunTimers(QEMU_CLOCK_VIRTUAL);
    expect(ticks).toBe(5);
    expect(timerExpireTimeNs(t)).toBe(60);
  });

  it("scales timer_mod by the timer's unit", () => {
    const t = timerNewMs(QEMU_CLOCK_VIRTUAL, () => {}, null);
    timerMod(t, 3);
    expect(timerExpireTimeNs(t)).toBe(3_000_000);
    expect(timerExpired(t, 2)).toBe(false);
    expect(timerExpired(t, 3)).toBe(true);
    timerDel(t);
  });

  it("muldiv64 stays exact where a * b exceeds 2^53", () => {
    const hour = 3_600_000_000_000;
    expect(muldiv64(hour, 1_193_182, 1_000_000_000)).toBe(4_295_455_200);
    expect(muldiv64(999_999_999, 1_193_182, 1_000_000_000)).toBe(1_193_181);
    expect(muldiv64(1_193_182, 1_000_000_000, 1_193_182)).toBe(1_000_000_000);
  });
});
