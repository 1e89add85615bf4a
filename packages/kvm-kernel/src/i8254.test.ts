import { describe, expect, it } from "vitest";
import { KVM_PIT_FREQ, KvmPit, MIN_TIMER_PERIOD_US } from "./i8254.js";
import { KVM_PIT_SPEAKER_DUMMY } from "./uapi/kvm.js";

/** A PIT on a clock the test moves, recording GSI 0's level changes. */
function pit(flags = 0) {
  let now = 1_000_000;
  const edges: number[] = [];
  const p = new KvmPit({ now: () => now, setIrq0: (l) => edges.push(l) }, flags);
  const advance = (ns: number) => {
    now += ns;
  };
  /** ns for `ticks` input-clock ticks (rounded up, so the count has moved that far). */
  const ticks = (t: number) => Math.ceil((t * 1e9) / KVM_PIT_FREQ);
  return { p, edges, advance, ticks };
}

/** Program channel `ch` with `mode`, LSB then MSB, to `count`. */
function program(p: KvmPit, ch: number, mode: number, count: number): void {
  p.write(0x43, (ch << 6) | (3 << 4) | (mode << 1));
  p.write(0x40 + ch, count & 0xff);
  p.write(0x40 + ch, count >>> 8);
}

const readCount = (p: KvmPit, ch: number): number => {
  const lo = p.read(0x40 + ch);
  return lo | (p.read(0x40 + ch) << 8);
};

describe("the in-kernel PIT (arch/x86/kvm/i8254.c)", () => {
  it("resets like kvm_pit_reset: channel 0 unarmed, channel 2's gate low, counts 0x10000", () => {
    const { p } = pit();
    expect(p.nextExpiry()).toBe(-1);
    expect(p.channels.map((c) => [c.mode, c.gate, c.count])).toEqual([
      [0xff, 1, 0x1_0000],
      [0xff, 1, 0x1_0000],
      [0xff, 0, 0x1_0000],
    ]);
  });

  it("mode 2 on channel 0: a periodic timer, one GSI 0 pulse per period once acknowledged", () => {
    const { p, edges, advance } = pit();
    program(p, 0, 2, 11932); // ~10 ms
    const period = Math.floor((11932 * 1e9) / KVM_PIT_FREQ);
    expect(p.nextExpiry()).toBeGreaterThan(0);
    advance(period - 1);
    expect(p.expire()).toBe(0);
    advance(1);
    expect(p.expire()).toBe(1);
    expect(edges).toEqual([1, 0]);
    // Not acknowledged yet: the next expiries are counted, not delivered.
    advance(2 * period);
    expect(p.expire()).toBe(2);
    expect(edges).toEqual([1, 0]);
    expect(p.pending).toBe(3);
    p.ackIrq(); // the first tick's EOI → the second goes
    expect(edges).toEqual([1, 0, 1, 0]);
    p.ackIrq();
    p.ackIrq();
    expect(edges.length).toBe(6);
    expect(p.pending).toBe(0);
  });

  it("without reinject every expiry is a pulse at once", () => {
    const { p, edges, advance } = pit();
    p.reinject = false;
    program(p, 0, 3, 1193); // ~1 ms, square wave
    advance(3_000_000);
    expect(p.expire()).toBe(3);
    expect(edges).toEqual([1, 0, 1, 0, 1, 0]);
  });

  it("periodic timers are no faster than min_timer_period_us", () => {
    const { p } = pit();
    program(p, 0, 2, 2); // ~1.7 µs asked
    expect(p.period).toBe(MIN_TIMER_PERIOD_US * 1000);
  });

  it("mode 0: one-shot, then the count wraps on (read through a latch)", () => {
    const { p, edges, advance, ticks } = pit();
    program(p, 0, 0, 1000);
    advance(ticks(400));
    p.write(0x43, 0x00); // latch channel 0
    expect(readCount(p, 0)).toBeCloseTo(600, -1);
    advance(ticks(600));
    expect(p.expire()).toBe(1);
    expect(edges).toEqual([1, 0]);
    expect(p.nextExpiry()).toBe(-1);
    advance(ticks(100));
    // Counting goes on below zero: 0 - 100 wraps to 0xff9c.
    const c = readCount(p, 0);
    expect(c).toBeGreaterThan(0xff90);
    expect(p.expire()).toBe(0);
  });

  it("channel 2 through port 0x61: the gate starts it, bit 5 shows its output", () => {
    const { p, advance, ticks } = pit();
    program(p, 2, 0, 100);
    expect(p.read(0x61) & 1).toBe(0);
    p.write(0x61, 0x03); // gate on, speaker data on
    expect(p.read(0x61) & 0x23).toBe(0x03); // output low while counting
    advance(ticks(101));
    expect(p.read(0x61) & 0x20).toBe(0x20); // terminal count reached
    expect(
      new KvmPit({ now: () => 0, setIrq0: () => {} }, KVM_PIT_SPEAKER_DUMMY).claims(0x61),
    ).toBe(false);
    expect(p.claims(0x61)).toBe(true);
    expect(p.claims(0x43)).toBe(true);
    expect(p.claims(0x44)).toBe(false);
  });

  it("read-back latches count and status; status shows output, access, mode", () => {
    const { p, advance, ticks } = pit();
    program(p, 1, 2, 500);
    advance(ticks(100));
    p.write(0x43, 0xc0 | (2 << 1)); // read-back, count and status, channel 1
    expect(p.read(0x41)).toBe((0 << 7) | (3 << 4) | (2 << 1)); // status first
    const c = readCount(p, 1);
    expect(c).toBeLessThanOrEqual(400);
    expect(c).toBeGreaterThan(390);
    // A mode 6 control word is mode 2, mode 7 is 3 (the chip's don't-care bit).
    p.write(0x43, (1 << 6) | (1 << 4) | (6 << 1));
    expect(p.channels[1]!.mode).toBe(2);
  });

  it("KVM_GET_PIT2 / KVM_SET_PIT2 round-trip and re-arm channel 0", () => {
    const a = pit();
    program(a.p, 0, 2, 5000);
    const st = a.p.getState2();
    const b = pit();
    b.p.setState2({ ...st, flags: 0 });
    expect(b.p.channels[0]).toMatchObject({ mode: 2, count: 5000, rwMode: 3 });
    expect(b.p.nextExpiry()).toBeGreaterThan(0);
    expect(b.p.isPeriodic).toBe(true);
  });
});
