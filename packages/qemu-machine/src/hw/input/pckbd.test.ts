import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type IsaHarness, isaHarness } from "../../../test/isa-harness.js";
import {
  qemuResetRequested,
  SHUTDOWN_CAUSE_GUEST_RESET,
  SHUTDOWN_CAUSE_NONE,
} from "../../system/runstate.js";
import { qemuAllocateIrq } from "../irq.js";
import {
  type ISAKBDState,
  KBD_STAT_CMD,
  KBD_STAT_OBF,
  KBD_STAT_SELFTEST,
  KBD_STAT_UNLOCKED,
  TYPE_I8042,
} from "./pckbd.js";

describe("i8042 (controller only)", () => {
  let h: IsaHarness;
  beforeEach(() => {
    h = isaHarness();
  });
  afterEach(() => h.dispose());

  it("reads a sane status and answers the self tests on IRQ 1", () => {
    h.create(TYPE_I8042);
    expect(h.inb(0x64)).toBe(KBD_STAT_CMD | KBD_STAT_UNLOCKED);
    h.outb(0x64, 0xaa);
    expect(h.inb(0x64) & (KBD_STAT_OBF | KBD_STAT_SELFTEST)).toBe(KBD_STAT_OBF | KBD_STAT_SELFTEST);
    expect(h.levels[1]).toBe(1);
    expect(h.inb(0x60)).toBe(0x55);
    expect(h.inb(0x64) & KBD_STAT_OBF).toBe(0);
    expect(h.levels[1]).toBe(0);
    h.outb(0x64, 0xab);
    expect(h.inb(0x60)).toBe(0x00);
  });

  it("reads and writes the command byte; IRQ 1 follows its enable bit", () => {
    h.create(TYPE_I8042);
    h.outb(0x64, 0x20);
    expect(h.inb(0x60)).toBe(0x03);
    h.outb(0x64, 0x60);
    h.outb(0x60, 0x00);
    h.outb(0x64, 0x20);
    expect(h.inb(0x64) & KBD_STAT_OBF).toBe(KBD_STAT_OBF);
    expect(h.levels[1]).toBe(0);
    expect(h.inb(0x60)).toBe(0x00);
  });

  it("command 0xFE (any pulse with bit 0 clear) requests a reset; 0xFF does not", () => {
    h.create(TYPE_I8042);
    h.outb(0x64, 0xff);
    expect(qemuResetRequested()).toBe(SHUTDOWN_CAUSE_NONE);
    h.outb(0x64, 0xfe);
    expect(qemuResetRequested()).toBe(SHUTDOWN_CAUSE_GUEST_RESET);
    h.outb(0x64, 0xf0);
    expect(qemuResetRequested()).toBe(SHUTDOWN_CAUSE_GUEST_RESET);
  });

  it("drives A20 from 0xDD/0xDF and the output port; output port bit 0 clear resets", () => {
    const kbd = h.create<ISAKBDState>(TYPE_I8042);
    const a20: number[] = [];
    kbd.a20Out = qemuAllocateIrq((_o, _n, l) => a20.push(l), null, 0);
    h.outb(0x64, 0xdd);
    h.outb(0x64, 0xd0);
    expect(h.inb(0x60) & 0x02).toBe(0);
    h.outb(0x64, 0xdf);
    h.outb(0x64, 0xd1);
    h.outb(0x60, 0x03);
    expect(a20).toEqual([0, 1, 1]);
    expect(qemuResetRequested()).toBe(SHUTDOWN_CAUSE_NONE);
    h.outb(0x64, 0xd1);
    h.outb(0x60, 0x02);
    expect(qemuResetRequested()).toBe(SHUTDOWN_CAUSE_GUEST_RESET);
  });
});
