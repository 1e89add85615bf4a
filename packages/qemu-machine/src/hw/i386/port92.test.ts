import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type IsaHarness, isaHarness } from "../../../test/isa-harness.js";
import {
  qemuDevicesReset,
  qemuResetRequested,
  SHUTDOWN_CAUSE_GUEST_RESET,
  SHUTDOWN_CAUSE_NONE,
} from "../../system/runstate.js";
import { qemuAllocateIrq } from "../irq.js";
import { type Port92State, TYPE_PORT92 } from "./port92.js";

describe("port92", () => {
  let h: IsaHarness;
  beforeEach(() => {
    h = isaHarness();
  });
  afterEach(() => h.dispose());

  it("bit 1 drives the a20 output; reads return the last write", () => {
    const dev = h.create<Port92State>(TYPE_PORT92);
    const a20: number[] = [];
    dev.a20Out = qemuAllocateIrq((_o, _n, l) => a20.push(l), null, 0);
    h.outb(0x92, 0x02);
    h.outb(0x92, 0x00);
    expect(a20).toEqual([1, 0]);
    h.outb(0x92, 0x02);
    expect(h.inb(0x92)).toBe(0x02);
    expect(qemuResetRequested()).toBe(SHUTDOWN_CAUSE_NONE);
  });

  it("bit 0 going 0→1 requests a reset; reset clears it", () => {
    h.create(TYPE_PORT92);
    h.outb(0x92, 0x03);
    expect(qemuResetRequested()).toBe(SHUTDOWN_CAUSE_GUEST_RESET);
    h.outb(0x92, 0x03);
    expect(qemuResetRequested()).toBe(SHUTDOWN_CAUSE_NONE);
    qemuDevicesReset();
    expect(h.inb(0x92)).toBe(0x02);
    h.outb(0x92, 0x01);
    expect(qemuResetRequested()).toBe(SHUTDOWN_CAUSE_GUEST_RESET);
  });
});
