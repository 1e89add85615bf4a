import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type IsaHarness, isaHarness } from "../../../test/isa-harness.js";
import {
  mainLoopShouldExit,
  qemuShutdownRequestedGet,
  SHUTDOWN_CAUSE_GUEST_SHUTDOWN,
  SHUTDOWN_CAUSE_NONE,
} from "../../system/runstate.js";
import "./debugexit.js";

describe("isa-debug-exit", () => {
  let h: IsaHarness;
  beforeEach(() => {
    h = isaHarness();
  });
  afterEach(() => h.dispose());

  it("a write of v requests shutdown with exit status (v << 1) | 1", () => {
    h.create("isa-debug-exit");
    expect(h.inb(0x501)).toBe(0);
    expect(qemuShutdownRequestedGet()).toBe(SHUTDOWN_CAUSE_NONE);
    h.outb(0x501, 0x00);
    expect(qemuShutdownRequestedGet()).toBe(SHUTDOWN_CAUSE_GUEST_SHUTDOWN);
    const out = { status: 0 };
    expect(mainLoopShouldExit(out)).toBe(true);
    expect(out.status).toBe(1);
  });

  it("iobase=0xf4,iosize=0x04 with out 0xf4 (0x11) exits 35; dword writes carry all bits", () => {
    h.create("isa-debug-exit", { iobase: "0xf4", iosize: "0x04" });
    h.outb(0xf4, 0x11);
    const out = { status: 0 };
    expect(mainLoopShouldExit(out)).toBe(true);
    expect(out.status).toBe(35);
    h.io.write(0xf7, 0x100, 4);
    expect(mainLoopShouldExit(out)).toBe(true);
    expect(out.status).toBe(0x201);
  });
});
