import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import {
  type FileResult,
  loadContext,
  newBench,
  runVectorFile,
  vectorFiles,
  vectorsAvailable,
} from "./conformance-80286.js";

/**
 * SingleStepTests 80286 (real mode): every applicable vector. `conformance-80286.allowed.json`
 * lists how many failures each file may still have; the goal is an empty list. Run with
 * UPDATE_CONFORMANCE=1 to rewrite it after an improvement (it never loosens by itself).
 */
const allowedPath = fileURLToPath(new URL("./conformance-80286.allowed.json", import.meta.url));
const allowed = JSON.parse(readFileSync(allowedPath, "utf8")) as Record<string, number>;
const results: FileResult[] = [];

describe("SingleStepTests 80286 real mode", () => {
  it("has the vectors (../shared/conformance/80286 beside the repository)", () => {
    expect(vectorsAvailable()).toBe(true);
  });
  if (!vectorsAvailable()) return;
  const ctx = loadContext();
  const bench = newBench();
  for (const file of vectorFiles()) {
    it(file, { timeout: 60_000 }, () => {
      const r = runVectorFile(file, ctx.revoked, ctx.meta, bench);
      results.push(r);
      const limit = allowed[file] ?? 0;
      if (r.fail > limit) {
        expect.fail(
          `${file} (${r.mnemonic}): ${r.fail} failures, ${limit} allowed\n  ${r.failures.join("\n  ")}`,
        );
      }
    });
  }
});

afterAll(() => {
  if (results.length === 0) return;
  const pass = results.reduce((n, r) => n + r.pass, 0);
  const fail = results.reduce((n, r) => n + r.fail, 0);
  const skip = results.reduce((n, r) => n + r.skip, 0);
  const bad = results
    .filter((r) => r.fail > 0)
    .map((r) => `${r.file.replace(".MOO.gz", "")}:${r.fail}`);
  console.log(
    `80286 vectors: ${pass} pass, ${fail} fail, ${skip} skipped (286-only behaviour) in ${results.length} files`,
  );
  if (bad.length) console.log(`failing files: ${bad.join(" ")}`);
  if (process.env.UPDATE_CONFORMANCE === "1") {
    const next: Record<string, number> = {};
    for (const r of results)
      if (r.fail > 0) next[r.file] = Math.min(r.fail, allowed[r.file] ?? r.fail);
    writeFileSync(allowedPath, `${JSON.stringify(next, null, 2)}\n`);
  }
});
