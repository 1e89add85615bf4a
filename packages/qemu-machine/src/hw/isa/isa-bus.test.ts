import { objectDynamicCast, objectUnref, qdevNew } from "@glassvm/qom";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type IsaHarness, isaHarness } from "../../../test/isa-harness.js";
import { memoryRegionInitIo } from "../../system/memory.js";
import { qemuAllocateIrqs } from "../irq.js";
import {
  type ISADevice,
  isaBusIrqs,
  isaBusNew,
  isaByteIoOps,
  isaGetIrq,
  isaRegisterIoport,
  TYPE_ISA_DEVICE,
} from "./isa-bus.js";
import "../misc/debugexit.js";

describe("the ISA bus", () => {
  let h: IsaHarness;
  beforeEach(() => {
    h = isaHarness({ ownIrqs: false });
  });
  afterEach(() => h.dispose());

  it("is the only one: a second isa_bus_new fails", () => {
    expect(() => isaBusNew(null, null, null)).toThrow("Can't create a second ISA bus");
    expect(h.bus.addressSpaceIo.size).toBe(0x1_0000);
  });

  it("isa_get_irq returns the registered input — or one that forwards to it later", () => {
    const dev = h.create<ISADevice>("isa-debug-exit");
    expect(objectDynamicCast(dev, TYPE_ISA_DEVICE)).toBe(dev);
    const early = isaGetIrq(dev, 4);
    const seen: string[] = [];
    const irqs = qemuAllocateIrqs((_o, n, l) => seen.push(`${n}:${l}`), null, 16);
    isaBusIrqs(h.bus, irqs);
    expect(isaGetIrq(dev, 3)).toBe(irqs[3]);
    early.handler(early.opaque, early.n, 1);
    expect(seen).toEqual(["4:1"]);
    expect(() => isaGetIrq(dev, 16)).toThrow("irqnum < ISA_NUM_IRQS");
  });

  it("isa_register_ioport maps a region and records the lowest port as ioport_id", () => {
    const dev = qdevNew<ISADevice>("isa-debug-exit");
    dev.isaBus = h.bus;
    const mr = memoryRegionInitIo(
      "t",
      isaByteIoOps(
        2,
        (a) => 0x10 + a,
        () => {},
      ),
      "t",
      2,
    );
    isaRegisterIoport(dev, mr, 0x300);
    expect(dev.ioportId).toBe(0x300);
    expect(h.inb(0x301)).toBe(0x11);
    objectUnref(dev);
  });

  it("byte-wide registers see a word access as two byte accesses", () => {
    const writes: [number, number][] = [];
    const ops = isaByteIoOps(
      2,
      (a) => 0xa0 + a,
      (a, v) => writes.push([a, v]),
    );
    expect(ops.read(0, 2)).toBe(0xa1a0);
    expect(ops.read(1, 2)).toBe(0xffa1);
    ops.write(0, 0x1234, 2);
    ops.write(1, 0xbeef, 2);
    expect(writes).toEqual([
      [0, 0x34],
      [1, 0x12],
      [1, 0xef],
    ]);
  });
});
