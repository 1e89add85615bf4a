import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type IsaHarness, isaHarness } from "../../../test/isa-harness.js";
import { memoryRegionAddSubregion, memoryRegionInitIo } from "../../system/memory.js";
import {
  qemuResetRequested,
  qemuShutdownRequested,
  qmpSetAction,
  SHUTDOWN_CAUSE_GUEST_RESET,
  SHUTDOWN_CAUSE_NONE,
} from "../../system/runstate.js";
import { TYPE_PIIX_RCR } from "./piix-rcr.js";

describe("PIIX reset control register (0xcf9)", () => {
  let h: IsaHarness;
  beforeEach(() => {
    h = isaHarness();
    // The PCI config data window it overlaps (0xcfc-0xcff in QEMU; 0xcf8-0xcff here).
    const pci = memoryRegionInitIo("pci", { read: () => 0x77, write: () => {} }, "pci-conf", 8);
    memoryRegionAddSubregion(h.bus.addressSpaceIo, 0xcf8, pci);
  });
  afterEach(() => h.dispose());

  it("stores only the reset type (bit 1) and wins over the overlapping window", () => {
    h.create(TYPE_PIIX_RCR);
    h.outb(0xcf9, 0x02);
    expect(h.inb(0xcf9)).toBe(0x02);
    h.outb(0xcf9, 0xf9);
    expect(h.inb(0xcf9)).toBe(0x00);
    expect(h.inb(0xcfa)).toBe(0x77);
    expect(qemuResetRequested()).toBe(SHUTDOWN_CAUSE_NONE);
  });

  it("out 0xcf9, 0x06 (or 0x0e) requests a reset", () => {
    h.create(TYPE_PIIX_RCR);
    h.outb(0xcf9, 0x06);
    expect(qemuResetRequested()).toBe(SHUTDOWN_CAUSE_GUEST_RESET);
    h.outb(0xcf9, 0x0e);
    expect(qemuResetRequested()).toBe(SHUTDOWN_CAUSE_GUEST_RESET);
  });

  it("with -no-reboot the reset becomes a shutdown", () => {
    h.create(TYPE_PIIX_RCR);
    qmpSetAction({ reboot: "shutdown" });
    h.outb(0xcf9, 0x06);
    expect(qemuShutdownRequested()).toBe(SHUTDOWN_CAUSE_GUEST_RESET);
  });
});
