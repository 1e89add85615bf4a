/** An option QEMU does not know: `glassvm: -foo: invalid option`, exit 1 (qemuInit's lookup_opt). */
import { expect, it } from "vitest";
import { glassvmMain } from "../src/index.js";
import { testIo } from "./firmware.js";

it("-foo: invalid option", () => {
  const t = testIo();
  expect(glassvmMain(["glassvm", "-m", "16", "-foo"], t.io)).toBe(1);
  expect(t.err()).toBe("glassvm: -foo: invalid option\n");
});
