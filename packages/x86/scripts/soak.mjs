#!/usr/bin/env node
/**
 * Soak: the iced-x86 decoder cross-check and the random-code fuzz test with a fresh seed
 * and many more cases than CI runs. Re-run a failure with the printed seed:
 *
 *   npm run soak -w @glassvm/x86 [-- SEED [COUNT]]
 */
import { spawnSync } from "node:child_process";
import { randomInt } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const seed = process.argv[2] ? Number(process.argv[2]) >>> 0 : randomInt(1, 2 ** 31);
const count = Number(process.argv[3] ?? 2_000_000);
console.log(`soak: seed 0x${seed.toString(16)} (${seed}), ${count} strings per mode`);
const r = spawnSync(
  "npx",
  ["vitest", "run", "--project", "@glassvm/x86", "test/decoder-iced.test.ts", "test/fuzz.test.ts"],
  {
    cwd: root,
    stdio: "inherit",
    env: {
      ...process.env,
      ICED_SEED: String(seed),
      ICED_COUNT: String(count),
      FUZZ_SEED: String(seed),
      FUZZ_PROGRAMS: String(Math.max(1000, Math.floor(count / 100))),
    },
  },
);
console.log(`soak: seed 0x${seed.toString(16)} ${r.status === 0 ? "passed" : "FAILED"}`);
process.exit(r.status ?? 1);
