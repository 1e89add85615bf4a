import { objectUnparent } from "@glassvm/qom";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type IsaHarness, isaHarness } from "../../../test/isa-harness.js";
import { qemuDevicesReset } from "../../system/runstate.js";
import {
  type MC146818RtcState,
  mc146818RtcInit,
  RTC_CENTURY,
  RTC_DAY_OF_MONTH,
  RTC_DAY_OF_WEEK,
  RTC_HOURS,
  RTC_HOURS_ALARM,
  RTC_MINUTES,
  RTC_MINUTES_ALARM,
  RTC_MONTH,
  RTC_REG_A,
  RTC_REG_B,
  RTC_REG_C,
  RTC_REG_D,
  RTC_SECONDS,
  RTC_SECONDS_ALARM,
  RTC_YEAR,
  rtcGetDateTime,
  rtcGetMemory,
  rtcSetDateTime,
  rtcSetMemory,
} from "./mc146818rtc.js";

const S = 1_000_000_000;
const KiB = 1024;
const MiB = 1024 * KiB;

/** What pc_cmos_init stores for the RAM below and above 4 GiB. */
function pcCmosInitMemory(rtc: MC146818RtcState, below4g: number, above4g: number): void {
  let val = Math.min(below4g / KiB, 640);
  rtcSetMemory(rtc, 0x15, val);
  rtcSetMemory(rtc, 0x16, val >> 8);
  val = Math.min(below4g > MiB ? (below4g - MiB) / KiB : 0, 65535);
  rtcSetMemory(rtc, 0x17, val);
  rtcSetMemory(rtc, 0x18, val >> 8);
  rtcSetMemory(rtc, 0x30, val);
  rtcSetMemory(rtc, 0x31, val >> 8);
  val = Math.min(below4g > 16 * MiB ? (below4g - 16 * MiB) / (64 * KiB) : 0, 65535);
  rtcSetMemory(rtc, 0x34, val);
  rtcSetMemory(rtc, 0x35, val >> 8);
  val = above4g / (64 * KiB);
  rtcSetMemory(rtc, 0x5b, val);
  rtcSetMemory(rtc, 0x5c, val >> 8);
  rtcSetMemory(rtc, 0x5d, val >> 16);
}

describe("mc146818rtc", () => {
  let h: IsaHarness;
  let rtc: MC146818RtcState;
  const cmos = (index: number) => {
    h.outb(0x70, index);
    return h.inb(0x71);
  };
  const setCmos = (index: number, val: number) => {
    h.outb(0x70, index);
    h.outb(0x71, val);
  };

  beforeEach(() => {
    h = isaHarness();
    // The pc machine asks for base_year 2000 (the century byte is then the century).
    rtc = mc146818RtcInit(h.bus, 2000, null);
    // Thursday 2024-02-29 23:59:58 UTC.
    rtcSetDateTime(rtc, Date.UTC(2024, 1, 29, 23, 59, 58) / 1000);
  });
  afterEach(() => {
    objectUnparent(rtc);
    h.dispose();
  });

  it("holds the memory-size bytes the pc machine stores (-m 64)", () => {
    pcCmosInitMemory(rtc, 64 * MiB, 0);
    const bytes = [0x15, 0x16, 0x17, 0x18, 0x30, 0x31, 0x34, 0x35, 0x5b, 0x5c, 0x5d].map(cmos);
    expect(bytes).toEqual([0x80, 0x02, 0x00, 0xfc, 0x00, 0xfc, 0x00, 0x03, 0, 0, 0]);
  });

  it("holds the memory-size bytes for -m 5G (3 GiB low, 2 GiB high)", () => {
    pcCmosInitMemory(rtc, 3072 * MiB, 2048 * MiB);
    expect([0x17, 0x18].map(cmos)).toEqual([0xff, 0xff]);
    expect([0x34, 0x35].map(cmos)).toEqual([0x00, 0xbf]);
    expect([0x5b, 0x5c, 0x5d].map(cmos)).toEqual([0x00, 0x80, 0x00]);
    expect(rtcGetMemory(rtc, 0x5c)).toBe(0x80);
  });

  it("reads the time in BCD, 24-hour, with weekday and century", () => {
    expect(cmos(RTC_SECONDS)).toBe(0x58);
    expect(cmos(RTC_MINUTES)).toBe(0x59);
    expect(cmos(RTC_HOURS)).toBe(0x23);
    expect(cmos(RTC_DAY_OF_WEEK)).toBe(5);
    expect(cmos(RTC_DAY_OF_MONTH)).toBe(0x29);
    expect(cmos(RTC_MONTH)).toBe(0x02);
    expect(cmos(RTC_YEAR)).toBe(0x24);
    expect(cmos(RTC_CENTURY)).toBe(0x20);
    expect(cmos(0x37)).toBe(0x20); // the PS/2 century byte aliases it
  });

  it("advances with its clock (over a leap day)", () => {
    h.advance(3 * S);
    expect([RTC_SECONDS, RTC_MINUTES, RTC_HOURS].map(cmos)).toEqual([0x01, 0x00, 0x00]);
    expect([RTC_DAY_OF_MONTH, RTC_MONTH, RTC_DAY_OF_WEEK].map(cmos)).toEqual([0x01, 0x03, 6]);
    expect(rtcGetDateTime(rtc)).toBe(Date.UTC(2024, 2, 1, 0, 0, 1) / 1000);
  });

  it("follows register B: binary (DM) and 12-hour (PM in bit 7)", () => {
    setCmos(RTC_REG_B, 0x06);
    expect(cmos(RTC_SECONDS)).toBe(58);
    expect(cmos(RTC_HOURS)).toBe(23);
    setCmos(RTC_REG_B, 0x00);
    expect(cmos(RTC_HOURS)).toBe(0x80 | 0x11);
  });

  it("has registers A–D at their power-on values; the index port reads 0xff", () => {
    expect(cmos(RTC_REG_A) & 0x7f).toBe(0x26);
    expect(cmos(RTC_REG_B)).toBe(0x02);
    expect(cmos(RTC_REG_C)).toBe(0x00);
    expect(cmos(RTC_REG_D)).toBe(0x80);
    expect(h.inb(0x70)).toBe(0xff);
  });

  it("masks the NMI bit out of the index", () => {
    h.outb(0x70, 0x80 | RTC_REG_D);
    expect(h.inb(0x71)).toBe(0x80);
    expect(rtc.nmiDisabled).toBe(1);
  });

  it("reports UIP in the last 244 µs of a second", () => {
    expect(cmos(RTC_REG_A) & 0x80).toBe(0);
    h.advance(S - 100_000);
    expect(cmos(RTC_REG_A) & 0x80).toBe(0x80);
  });

  it("SET freezes the registers; clearing it makes them the time", () => {
    setCmos(RTC_REG_B, 0x82);
    setCmos(RTC_HOURS, 0x10);
    setCmos(RTC_MINUTES, 0x30);
    h.advance(5 * S);
    expect(cmos(RTC_HOURS)).toBe(0x10);
    expect(cmos(RTC_SECONDS)).toBe(0x58);
    setCmos(RTC_REG_B, 0x02);
    h.advance(2 * S);
    expect([RTC_SECONDS, RTC_MINUTES, RTC_HOURS].map(cmos)).toEqual([0x00, 0x31, 0x10]);
  });

  it("raises IRQ 8 for update-ended (UIE) until register C is read", () => {
    setCmos(RTC_REG_B, 0x12);
    expect(h.levels[8]).toBe(0);
    h.advance(S);
    expect(h.levels[8]).toBe(1);
    expect(cmos(RTC_REG_C)).toBe(0x90);
    expect(h.levels[8]).toBe(0);
    expect(cmos(RTC_REG_C)).toBe(0x00);
  });

  it("fires the alarm (AIE) when the time matches; 0xC0+ is don't-care", () => {
    setCmos(RTC_SECONDS_ALARM, 0x03);
    setCmos(RTC_MINUTES_ALARM, 0xff);
    setCmos(RTC_HOURS_ALARM, 0xff);
    setCmos(RTC_REG_B, 0x22);
    h.advance(2 * S);
    expect(h.levels[8]).toBe(0);
    h.advance(3 * S);
    expect(h.levels[8]).toBe(1);
    expect(cmos(RTC_REG_C) & 0xa0).toBe(0xa0);
  });

  it("raises periodic interrupts (PIE) at the rate in register A", () => {
    setCmos(RTC_REG_A, 0x26); // 1024 Hz
    setCmos(RTC_REG_B, 0x42);
    let pf = 0;
    for (let i = 0; i < 100; i++) {
      h.advance(1_000_000);
      if (cmos(RTC_REG_C) & 0x40) pf++;
    }
    expect(pf).toBeGreaterThanOrEqual(97);
    expect(pf).toBeLessThanOrEqual(100);
    expect(h.edges[8]).toBe(pf);
    // Reset clears PIE: the ticks stop.
    qemuDevicesReset();
    h.advance(10_000_000);
    expect(cmos(RTC_REG_C) & 0x40).toBe(0);
  });
});
