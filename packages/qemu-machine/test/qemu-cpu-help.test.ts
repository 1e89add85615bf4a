/** `-cpu help`: the model list on stdout, exit status 0, before any machine is built. */
import { expect, it } from "vitest";
import { qemuMain } from "../src/system/vl.js";
import { qemuTestEnv } from "./qemu-firmware.js";

it("-cpu help lists the CPU models and exits 0", () => {
  const { env, stdout, stderr } = qemuTestEnv({});
  expect(qemuMain(["qemu-system-x86_64", "-cpu", "help"], env)).toBe(0);
  const out = stdout.join("");
  expect(out).toMatch(/SandyBridge/);
  expect(out).toMatch(/qemu64/);
  expect(stderr.join("")).toBe("");
});
