/** A QEMU option error, reported by qemuInit under the program name glassvm. */
import { expect, it } from "vitest";
import { glassvmMain } from "../src/index.js";
import { HELLO_FW, testIo } from "./firmware.js";

it("-cpu foo: unable to find CPU model 'foo' (exit 1)", () => {
  const t = testIo({ "fw.bin": HELLO_FW });
  expect(
    glassvmMain(["glassvm", "-m", "16", "-cpu", "foo", "-bios", "fw.bin", "-d", "exits"], t.io),
  ).toBe(1);
  expect(t.err().split("\n")[0]).toBe("glassvm: -cpu foo: unable to find CPU model 'foo'");
  expect(t.out()).toBe("");
  // The VM never ran: no exit table.
  expect(t.err()).not.toContain("Analyze events");
});
