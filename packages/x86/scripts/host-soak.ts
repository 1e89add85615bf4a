/**
 * Host-CPU differential soak: test/host-diff.test.ts with a fresh seed and millions of
 * sequences. Re-run a failure with the seed and case it prints:
 *
 *   npm run host-soak -w @glassvm/x86 -- [--long] [--count N] [--seed S] [--first K]
 *
 * --long runs 64-bit sequences in the interpreter's 64-bit mode (the classes of gen.ts
 * LONG_GATED that have 64-bit handlers, or HOST_DIFF_LONG_GATED's list).
 *
 * Needs x86-64 Linux and gcc (native.c is built into a temp dir).
 */
import { randomInt } from "node:crypto";
import { parseArgs } from "node:util";
import { longGatedClasses, report, runDiff, summary } from "../test/host/diff.js";
import { buildNative, hostHasLahf, nativeUnavailable, removeNative } from "../test/host/native.js";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "2000000" },
    seed: { type: "string" },
    first: { type: "string", default: "0" },
    long: { type: "boolean", default: false },
  },
});
const seed = values.seed === undefined ? randomInt(1, 2 ** 31) : Number(values.seed) >>> 0;
const count = Number(values.count);
const first = Number(values.first);
if (!Number.isFinite(count) || count < 1 || !Number.isFinite(first) || seed === 0) {
  console.error("host-soak: --count, --first and --seed take positive numbers (0x… for hex)");
  process.exit(2);
}
const why = nativeUnavailable();
if (why) {
  console.error(`host-soak: ${why}`);
  process.exit(2);
}
const exe = buildNative();
const lahf = hostHasLahf(exe);
const gated = values.long ? longGatedClasses() : null;
const mode = gated ? `64-bit (gated classes: ${[...gated].join(", ") || "none"})` : "32-bit";
console.log(
  `host-soak: seed 0x${seed.toString(16)} (${seed}), ${count} ${mode} sequences from ${first}`,
);
const t0 = performance.now();
let shown = 0;
const { stats, mismatches } = runDiff(exe, {
  seed,
  count,
  first,
  gen: gated ? { lahf, long: { gated } } : { lahf },
  onBatch: (done) => {
    if (done - shown >= 200_000 || done === count) {
      shown = done;
      const s = (performance.now() - t0) / 1000;
      console.log(`  ${done} done, ${s.toFixed(0)} s`);
    }
  },
});
removeNative(exe);
for (const m of mismatches) console.log(report(m));
console.log(summary(seed, stats, (performance.now() - t0) / 1000));
console.log(
  `host-soak: seed 0x${seed.toString(16)} ${mismatches.length === 0 ? "passed" : `FAILED (${mismatches.length} cases)`}`,
);
process.exit(mismatches.length === 0 ? 0 : 1);
