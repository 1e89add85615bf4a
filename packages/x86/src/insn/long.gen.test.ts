import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { generate } from "../../gen/long.js";

it("long.gen.ts is what gen/long.ts generates (run `npm run gen -w @glassvm/x86`)", () => {
  const onDisk = readFileSync(fileURLToPath(new URL("./long.gen.ts", import.meta.url)), "utf8");
  expect(onDisk).toBe(generate());
});
