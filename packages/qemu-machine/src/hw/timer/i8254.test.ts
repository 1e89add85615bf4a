import { objectGetCanonicalPath, objectUnparent } from "@glassvm/qom";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type IsaHarness, isaHarness } from "../../../test/isa-harness.js";
import { TYPE_PC_SPEAKER } from "../audio/pcspk.js";
import { i8254PitInit, type PITCommonState, pitGetChannelInfo } from "./i8254.js";

const MS = 1_000_000;

describe("i8254 PIT", () => {
  let h: IsaHarness;
  let pit: PITCommonState;
  const readCount = (port: number) => h.inb(port) | (h.inb(port) << 8);
  const load = (port: number, count: number) => {
    h.outb(port, count & 0xff);
    h.outb(port, count >> 8);
  };

  beforeEach(() => {
    h = isaHarness();
    pit = i8254PitInit(h.bus, 0x40, 0, null);
  });
  afterEach(() => {
    objectUnparent(pit);
    h.dispose();
  });

  it("after reset channel 0 runs mode 3 with count 0x10000: IRQ 0 at 18.2 Hz", () => {
    expect(pitGetChannelInfo(pit, 0)).toEqual({ gate: 1, mode: 3, initialCount: 0x10000, out: 1 });
    h.advance(100 * MS);
    const first = h.edges[0]!;
    h.advance(10_000 * MS);
    expect(h.edges[0]! - first).toBe(182);
  });

  it("mode 2 (rate generator) at 1 kHz: one IRQ 0 pulse per period", () => {
    h.outb(0x43, 0x34); // channel 0, LSB then MSB, mode 2, binary
    load(0x40, 1193);
    expect(h.levels[0]).toBe(0);
    h.advance(10 * MS);
    expect(h.edges[0]).toBe(10);
    h.advance(90 * MS);
    expect(h.edges[0]).toBe(100);
  });

  it("mode 3 (square wave) at 100 Hz: high for the first half of each period", () => {
    h.outb(0x43, 0x36);
    load(0x40, 11932);
    expect(h.levels[0]).toBe(1);
    h.advance(42 * MS);
    expect(h.levels[0]).toBe(1);
    h.advance(5 * MS);
    expect(h.levels[0]).toBe(0);
    h.advance(53 * MS);
    expect(h.edges[0]).toBe(10);
  });

  it("mode 0 (interrupt on terminal count) fires once", () => {
    h.outb(0x43, 0x30);
    load(0x40, 1193);
    const before = h.edges[0]!;
    h.advance(MS / 2);
    expect(h.levels[0]).toBe(0);
    h.advance(MS);
    expect(h.levels[0]).toBe(1);
    h.advance(100 * MS);
    expect(h.edges[0]).toBe(before + 1);
    expect(h.levels[0]).toBe(1);
  });

  it("counter latch freezes the count until both bytes are read", () => {
    h.outb(0x43, 0x34);
    load(0x40, 1193);
    h.advance(MS / 2); // 596 input clocks
    h.outb(0x43, 0x00); // latch channel 0
    h.advance(MS / 4);
    expect(readCount(0x40)).toBe(1193 - 596);
    expect(readCount(0x40)).toBe(1193 - 894);
  });

  it("read-back latches status (OUT, RW, mode, BCD) and count", () => {
    h.outb(0x43, 0x34);
    load(0x40, 1193);
    h.advance(MS / 2);
    h.outb(0x43, 0xc2); // read-back: count and status of channel 0
    expect(h.inb(0x40)).toBe(0x34);
    expect(readCount(0x40)).toBe(1193 - 596);
    h.outb(0x43, 0x30); // channel 0, mode 0
    load(0x40, 100);
    h.advance(MS);
    h.outb(0x43, 0xe2); // status only
    expect(h.inb(0x40)).toBe(0x80 | 0x30);
    expect(h.inb(0x43)).toBe(0);
  });

  it("stores modes 6 and 7 as 2 and 3", () => {
    h.outb(0x43, 0x3c); // mode 6
    expect(pitGetChannelInfo(pit, 0).mode).toBe(2);
    h.outb(0x43, 0x3e); // mode 7
    expect(pitGetChannelInfo(pit, 0).mode).toBe(3);
  });

  describe("channel 2 through port 0x61 (isa-pcspk)", () => {
    beforeEach(() => {
      h.create(TYPE_PC_SPEAKER, { pit: objectGetCanonicalPath(pit)! });
    });

    it("gates channel 2 and reads back its OUT in bit 5 (TSC calibration)", () => {
      expect(h.inb(0x61) & 0x03).toBe(0);
      h.outb(0x61, 0x01); // gate high, speaker off
      h.outb(0x43, 0xb0); // channel 2, LSB then MSB, mode 0
      load(0x42, 1193);
      expect(h.inb(0x61) & 0x21).toBe(0x01);
      h.advance(MS / 2);
      expect(h.inb(0x61) & 0x20).toBe(0);
      h.advance(MS);
      expect(h.inb(0x61) & 0x20).toBe(0x20);
      h.outb(0x61, 0x03);
      expect(h.inb(0x61) & 0x03).toBe(0x03);
      expect(h.edges[0]).toBeGreaterThanOrEqual(0); // channel 2 drives no IRQ
    });

    it("toggles the refresh bit on every read", () => {
      const a = h.inb(0x61) & 0x10;
      const b = h.inb(0x61) & 0x10;
      expect(a ^ b).toBe(0x10);
    });

    it("a rising gate restarts a mode 2/3 count", () => {
      h.outb(0x43, 0xb6); // channel 2, mode 3
      load(0x42, 1000);
      h.advance(MS / 4);
      h.outb(0x43, 0x80); // latch channel 2
      expect(readCount(0x42)).not.toBe(1000);
      h.outb(0x61, 0x01);
      h.outb(0x43, 0x80);
      expect(readCount(0x42)).toBe(1000);
    });
  });
});
