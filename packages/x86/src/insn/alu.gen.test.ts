import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { generate } from "../../gen/alu.js";

it("alu.gen.ts is what gen/alu.ts generates (run `npm run gen -w @glassvm/x86`)", () => {
  const onDisk = readFileSync(fileURLToPath(new URL("./alu.gen.ts", import.meta.url)), "utf8");
  expect(onDisk).toBe(generate());
});
