/**
 * The long random-guest soak: the generator of test/guest-fuzz.test.ts for many more guests.
 *
 *   npm run fuzz -w @glassvm/vmx -- --iterations 20000 --seed 1234
 *   npm run fuzz -w @glassvm/vmx -- --seed 1234 --first 517 --iterations 1 --verbose
 *
 * Prints the seed first (a failing run is reproduced by passing it back; each guest depends
 * only on the seed and its iteration number, so --first replays one alone), then a summary.
 * Exits 1 when any invariant was violated, 2 on bad arguments.
 */
import { parseArgs } from "node:util";
import { runGuestFuzz } from "../test/guest-fuzz-gen.js";

const USAGE =
  "usage: guest-fuzz [--iterations N] [--seed S] [--first I] [--runs K] [--max-violations N] [--verbose]";

function parseInteger(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`guest-fuzz: --${name} must be a non-negative integer, got '${text}'\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

function main(): number {
  let values: {
    iterations?: string;
    seed?: string;
    first?: string;
    runs?: string;
    "max-violations"?: string;
    verbose?: boolean;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      options: {
        iterations: { type: "string", short: "n" },
        seed: { type: "string", short: "s" },
        first: { type: "string" },
        runs: { type: "string" },
        "max-violations": { type: "string" },
        verbose: { type: "boolean", short: "v" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (e) {
    console.error(`guest-fuzz: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const iterations = parseInteger("iterations", values.iterations, 20_000);
  const randomSeed = (Date.now() ^ (process.pid << 16)) >>> 0;
  const seed = parseInteger("seed", values.seed, randomSeed) >>> 0;
  const first = parseInteger("first", values.first, 0);
  const runsPerGuest = parseInteger("runs", values.runs, 20);
  const maxViolations = parseInteger("max-violations", values["max-violations"], 20);
  console.log(`guest-fuzz: seed ${seed}, ${iterations} guests from iteration ${first}`);
  const t0 = performance.now();
  const report = runGuestFuzz({
    seed,
    iterations,
    first,
    runsPerGuest,
    maxViolations,
    log: values.verbose ? (line) => console.log(line) : undefined,
  });
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(
    `guest-fuzz: ${report.iterations} guests, ${report.runs} KVM_RUN, ` +
      `${report.restarts} host reboots in ${secs}s`,
  );
  const top = (o: Record<string, number>) =>
    Object.entries(o)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(", ") || "none";
  console.log(`  modes: ${top(report.modes)}`);
  console.log(`  exits: ${top(report.exits)}`);
  console.log(`  KVM_EXIT_FAIL_ENTRY: ${top(report.failEntry)}`);
  console.log(`  KVM_EXIT_INTERNAL_ERROR: ${top(report.internalErrors)}`);
  console.log(`  errnos: ${top(report.errnos)}`);
  console.log(`  printk: ${top(report.printk)}`);
  for (const [finding, n] of Object.entries(report.known)) {
    console.log(`  known finding (not counted as a violation), ${n} ×: ${finding}`);
  }
  const kinds = Object.keys(report.violationCounts).length;
  if (kinds > 0) {
    console.error(`guest-fuzz: violations with seed ${seed}, by kind:`);
    for (const [k, v] of Object.entries(report.violationCounts).sort((a, b) => b[1] - a[1])) {
      console.error(`  ${v} × ${k}`);
    }
    console.error("first occurrences:");
    for (const v of report.violations) console.error(`- ${v}`);
    console.error(
      `reproduce: npm run fuzz -w @glassvm/vmx -- --seed ${seed} --first <iteration> --iterations 1 --verbose`,
    );
    return 1;
  }
  console.log("guest-fuzz: no violations");
  return 0;
}

process.exitCode = main();
