/**
 * The long ioctl soak: the generator of test/fuzz.test.ts for many more iterations.
 *
 *   npm run fuzz -w @glassvm/kvm-kernel -- --iterations 200000 --seed 1234
 *
 * Prints the seed first (a failing run is reproduced by passing it back), then a summary.
 * Exits 1 when any invariant was violated, 2 on bad arguments.
 */
import { parseArgs } from "node:util";
import { runFuzz } from "../test/fuzz-gen.js";

const USAGE = "usage: ioctl-fuzz [--iterations N] [--seed S] [--max-violations N]";

function parseInteger(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`ioctl-fuzz: --${name} must be a non-negative integer, got '${text}'\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

function main(): number {
  let values: { iterations?: string; seed?: string; "max-violations"?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: {
        iterations: { type: "string", short: "n" },
        seed: { type: "string", short: "s" },
        "max-violations": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (e) {
    console.error(`ioctl-fuzz: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const iterations = parseInteger("iterations", values.iterations, 200_000);
  const randomSeed = (Date.now() ^ (process.pid << 16)) >>> 0;
  const seed = parseInteger("seed", values.seed, randomSeed) >>> 0;
  const maxViolations = parseInteger("max-violations", values["max-violations"], 20);
  console.log(`ioctl-fuzz: seed ${seed}, ${iterations} iterations`);
  const t0 = performance.now();
  const report = runFuzz({ seed, iterations, maxViolations });
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(
    `ioctl-fuzz: ${report.syscalls} system calls, ${report.runs} KVM_RUN, ` +
      `${report.restarts} process restarts in ${secs}s`,
  );
  const top = (o: Record<string, number>) =>
    Object.entries(o)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(", ");
  console.log(`  KVM_RUN outcomes: ${top(report.runOutcomes)}`);
  console.log(`  errnos: ${top(report.errnos)}`);
  if (report.violations.length > 0) {
    console.error(`ioctl-fuzz: ${report.violations.length} violation(s) with seed ${seed}:`);
    for (const v of report.violations) console.error(`- ${v}`);
    console.error(
      `reproduce: npm run fuzz -w @glassvm/kvm-kernel -- --seed ${seed} --iterations ${iterations}`,
    );
    return 1;
  }
  console.log("ioctl-fuzz: no violations");
  return 0;
}

process.exitCode = main();
