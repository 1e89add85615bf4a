import { objectPropertyGetStr, objectUnparent } from "@glassvm/qom";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type IsaHarness, isaHarness } from "../../../test/isa-harness.js";
import { qemuChardevNew, qemuChrFind, ringbufRead } from "../../chardev/char.js";
import "./debugcon.js";

describe("isa-debugcon", () => {
  let h: IsaHarness;
  beforeEach(() => {
    h = isaHarness();
    qemuChardevNew("debugcon", { type: "ringbuf" });
  });
  afterEach(() => {
    h.dispose();
    objectUnparent(qemuChrFind("debugcon")!);
  });

  it("sends each byte written to port 0xe9 to the chardev", () => {
    const dev = h.create("isa-debugcon", { chardev: "debugcon" });
    expect(objectPropertyGetStr(dev, "chardev")).toBe("debugcon");
    for (const c of "Hi!\n") h.outb(0xe9, c.charCodeAt(0));
    // A word OUT sends its low byte; the high byte belongs to port 0xea.
    h.io.write(0xe9, 0x4241, 2);
    expect(new TextDecoder().decode(ringbufRead(qemuChrFind("debugcon")!))).toBe("Hi!\nA");
  });

  it("reads back 0xe9 so guests can detect it (readback is a property)", () => {
    h.create("isa-debugcon", { chardev: "debugcon" });
    expect(h.inb(0xe9)).toBe(0xe9);
    objectUnparent(qemuChrFind("debugcon")!);
    qemuChardevNew("debugcon", { type: "null" });
    h.create("isa-debugcon", { chardev: "debugcon", iobase: "0x402", readback: "0x55" });
    expect(h.inb(0x402)).toBe(0x55);
  });

  it("refuses to realize without a chardev", () => {
    expect(() => h.create("isa-debugcon")).toThrow(
      "Can't create debugcon device, empty char device",
    );
    expect(() => h.create("isa-debugcon", { chardev: "nope" })).toThrow(
      "Property 'isa-debugcon.chardev' can't find value 'nope'",
    );
  });
});
