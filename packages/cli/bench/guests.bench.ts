/**
 * The guest benchmark (issue 8): the CLI as a user runs it — `node dist/bin.js`, a child
 * process per run — on the guest suite, against QEMU's TCG on the same images when
 * `qemu-system-x86_64` is installed (Debian: qemu-system-x86), in the same run:
 *
 * glassvm runs twice, on kvm_intel (VT-x model) and on kvm_amd (AMD-V model), side by side.
 *
 *  - cpu-bench: guest MIPS and wall time. The guest executes 16 000 916 instructions
 *    (guests/README.md); its run time is its wall time minus bios-hello's (same start-up
 *    and teardown, almost no guest work), so MIPS compares the engines, not the launch.
 *  - io-bench: the exit round trip per OUT (guest OUT → KVM_EXIT_IO → QEMU's handler →
 *    next KVM_RUN), 10 000 of them, the same subtraction.
 *  - start-up: from spawn to the first byte of hello-real's output on stdout.
 *
 * Medians of several runs; a table on stdout and the same figures as JSON.
 * Run: npm run bench -w @glassvm/cli   (builds the packages first)
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const BIN = join(here, "..", "dist", "bin.js");
const GUESTS = join(here, "..", "..", "..", "guests", "bin");
const RUNS = Number(process.env.GLASSVM_BENCH_RUNS ?? 5);
const CPU_BENCH_INSTRUCTIONS = 16_000_916;
const IO_BENCH_OUTS = 10_000;
const EXIT_DEVICE = ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function hasQemu(): boolean {
  return spawnSync("qemu-system-x86_64", ["--version"], { stdio: "ignore" }).status === 0;
}

/** One run's wall time in ms; throws if the guest did not exit with status 1. */
function wall(cmd: string, args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  const ms = performance.now() - t0;
  if (r.status !== 1) throw new Error(`${cmd} ${args.join(" ")}: status ${r.status}\n${r.stderr}`);
  return ms;
}

/** An engine: the command line that runs `image` with its output on `console` (stdout). */
interface Engine {
  readonly name: string;
  readonly exits: boolean;
  readonly make: (image: string, console?: string) => [string, string[]];
}

const glassvmEngine = (name: string, hostCpu: "intel" | "amd"): Engine => ({
  name,
  exits: true,
  make: (image, console = "-serial") => [
    process.execPath,
    [
      BIN,
      "-host-cpu",
      hostCpu,
      "-m",
      "64",
      "-bios",
      join(GUESTS, image),
      console,
      "stdio",
      ...EXIT_DEVICE,
    ],
  ],
});

const qemuEngine: Engine = {
  name: "qemu-tcg",
  exits: false,
  make: (image, console = "-serial") => [
    "qemu-system-x86_64",
    [
      "-machine",
      "pc,accel=tcg",
      "-m",
      "64",
      "-display",
      "none",
      "-bios",
      join(GUESTS, image),
      console,
      "stdio",
      ...EXIT_DEVICE,
    ],
  ],
};

function medianWall(engine: Engine, image: string): number {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) times.push(wall(...engine.make(image)));
  return median(times);
}

/** Spawn to first stdout byte, ms. */
function firstByte(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args);
    let done = false;
    child.stdout.once("data", () => {
      done = true;
      resolve(performance.now() - t0);
    });
    child.on("exit", () => {
      if (!done) reject(new Error(`${cmd}: no output`));
    });
  });
}

async function main(): Promise<void> {
  if (!existsSync(BIN))
    throw new Error(`${BIN} missing: build first (npm run build -w @glassvm/cli)`);
  const engines: Engine[] = [
    glassvmEngine("glassvm", "intel"),
    glassvmEngine("glassvm-amd", "amd"),
  ];
  if (hasQemu()) engines.push(qemuEngine);
  const result: Record<string, Record<string, number>> = {};
  for (const engine of engines) {
    const name = engine.name;
    const base = medianWall(engine, "bios-hello.bin");
    const cpu = medianWall(engine, "cpu-bench.bin");
    const io = medianWall(engine, "io-bench.bin");
    const cpuMs = Math.max(cpu - base, 0.001);
    const starts: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      starts.push(await firstByte(...engine.make("hello-real.bin", "-debugcon")));
    }
    result[name] = {
      "cpu-bench wall ms": cpu,
      "cpu-bench guest ms": cpuMs,
      "cpu-bench MIPS": CPU_BENCH_INSTRUCTIONS / cpuMs / 1000,
      // TCG has no VM exits: its OUTs cost less than the run-to-run noise.
      "io-bench ns per OUT exit": engine.exits ? ((io - base) * 1e6) / IO_BENCH_OUTS : Number.NaN,
      "start-up to first byte ms": median(starts),
      "bios-hello wall ms": base,
    };
  }
  const keys = Object.keys(result.glassvm!);
  const names = Object.keys(result);
  const rows = keys.map((k) => {
    const cell = (v: number) => (Number.isNaN(v) ? "–" : v.toFixed(k.includes("MIPS") ? 1 : 0));
    const cells = names.map((n) => cell(result[n]![k]!).padStart(12));
    const q = result["qemu-tcg"]?.[k];
    const ratio =
      q !== undefined && !Number.isNaN(q) ? (result.glassvm![k]! / q).toFixed(2).padStart(14) : "";
    return `${k.padEnd(28)}${cells.join("")}${ratio}`;
  });
  console.log(
    `${"".padEnd(28)}${names.map((n) => n.padStart(12)).join("")}${result["qemu-tcg"] ? "glassvm/qemu".padStart(14) : ""}`,
  );
  for (const r of rows) console.log(r);
  console.log(
    `targets: exit round trip <= 1000 ns (glassvm: ${result.glassvm!["io-bench ns per OUT exit"]!.toFixed(0)} ns), start-up <= 150 ms (glassvm: ${result.glassvm!["start-up to first byte ms"]!.toFixed(0)} ms)`,
  );
  console.log(JSON.stringify({ runs: RUNS, ...result }));
}

await main();
