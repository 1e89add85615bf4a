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
 * SMP (issue 11), on kvm_intel and on QEMU TCG, each with thread=multi (a host thread per
 * vCPU) unless said otherwise:
 *  - smp-bench: a fixed amount of integer work split among the CPUs; its parallel phase
 *    is timed from the guest's "go" line to its result line as they reach stdout, and the
 *    whole run too; the speed-up is -smp 1's time over -smp 2's (target ≥ 1.8 on 2 cores).
 *  - io-bench with -smp 1 and thread=multi: the OUT round trip when the vCPU is a thread
 *    of its own and the device is the main thread's (the cross-thread exit), against
 *    thread=single's in the same run.
 *  - ipi-bench (-smp 2): a fixed IPI from the BSP to a halted AP and the AP's reply
 *    through memory, per round trip.
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

/**
 * One run with its output timed as it arrives: ms from spawn to the whole run's end, and
 * between the line starting with `from` and the line starting with `to`.
 */
function phased(
  cmd: string,
  args: string[],
  from: string,
  to: string,
): Promise<{ wall: number; phase: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args);
    let buf = "";
    let tFrom = Number.NaN;
    let tTo = Number.NaN;
    let out = "";
    child.stdout.setEncoding("latin1");
    child.stdout.on("data", (d: string) => {
      const t = performance.now();
      out += d;
      buf += d;
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith(from)) tFrom = t;
        if (line.startsWith(to)) tTo = t;
        nl = buf.indexOf("\n");
      }
    });
    child.on("close", (code) => {
      const wall = performance.now() - t0;
      if (code !== 1 || Number.isNaN(tFrom) || Number.isNaN(tTo) || !out.includes(", ok")) {
        reject(new Error(`${cmd} ${args.join(" ")}: status ${code}, output:\n${out}`));
      } else resolve({ wall, phase: tTo - tFrom });
    });
  });
}

/** `image` with extra options before -bios, as `engine` runs it. */
function withOpts(engine: Engine, image: string, opts: string[]): [string, string[]] {
  const [cmd, args] = engine.make(image);
  const at = args.indexOf("-bios");
  return [cmd, [...args.slice(0, at), ...opts, ...args.slice(at)]];
}

async function medianPhased(
  engine: Engine,
  image: string,
  opts: string[],
  from: string,
  to: string,
): Promise<{ wall: number; phase: number }> {
  const walls: number[] = [];
  const phases: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await phased(...withOpts(engine, image, opts), from, to);
    walls.push(r.wall);
    phases.push(r.phase);
  }
  return { wall: median(walls), phase: median(phases) };
}

const IPI_BENCH_ROUND_TRIPS = 10_000;

/** The SMP figures of `engine` (threads: its option for a thread per vCPU). */
async function smpFigures(engine: Engine, threads: string[]): Promise<Record<string, number>> {
  const go = "smp-bench: go";
  const done = "smp-bench: ";
  const one = await medianPhased(
    engine,
    "smp-bench.bin",
    ["-smp", "1", ...threads],
    go,
    `${done}1 cpus`,
  );
  const two = await medianPhased(
    engine,
    "smp-bench.bin",
    ["-smp", "2", ...threads],
    go,
    `${done}2 cpus`,
  );
  const r: Record<string, number> = {
    "smp-bench -smp 1 phase ms": one.phase,
    "smp-bench -smp 2 phase ms": two.phase,
    "smp-bench speed-up (phase)": one.phase / two.phase,
    "smp-bench -smp 1 wall ms": one.wall,
    "smp-bench -smp 2 wall ms": two.wall,
    "smp-bench speed-up (wall)": one.wall / two.wall,
  };
  if (existsSync(join(GUESTS, "ipi-bench.bin"))) {
    const ipi = await medianPhased(
      engine,
      "ipi-bench.bin",
      ["-smp", "2", ...threads],
      "ipi-bench: go",
      "ipi-bench: ",
    );
    r["ipi-bench us per IPI round trip"] = (ipi.phase * 1000) / IPI_BENCH_ROUND_TRIPS;
  }
  return r;
}

async function smpMain(qemu: boolean): Promise<void> {
  const multi = ["-accel", "kvm,thread=multi"];
  const engine = glassvmEngine("glassvm", "intel");
  const result: Record<string, Record<string, number>> = {};
  result["glassvm multi"] = await smpFigures(engine, multi);
  result["glassvm single"] = await smpFigures(engine, []);
  // The exit round trip with the vCPU on a thread of its own vs on QEMU's main thread.
  const base = medianWall(engine, "bios-hello.bin");
  const io = medianWall(engine, "io-bench.bin");
  const [c0, a0] = withOpts(engine, "bios-hello.bin", multi);
  const [c1, a1] = withOpts(engine, "io-bench.bin", multi);
  const baseM: number[] = [];
  const ioM: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    baseM.push(wall(c0, a0));
    ioM.push(wall(c1, a1));
  }
  result["glassvm single"]!["io-bench ns per OUT exit"] = ((io - base) * 1e6) / IO_BENCH_OUTS;
  result["glassvm multi"]!["io-bench ns per OUT exit"] =
    ((median(ioM) - median(baseM)) * 1e6) / IO_BENCH_OUTS;
  if (qemu) {
    const tcg: Engine = {
      ...qemuEngine,
      make: (image, console) => {
        const [cmd, args] = qemuEngine.make(image, console);
        const at = args.indexOf("pc,accel=tcg");
        return [
          cmd,
          [...args.slice(0, at), "pc", "-accel", "tcg,thread=multi", ...args.slice(at + 1)],
        ];
      },
    };
    result["qemu-tcg multi"] = await smpFigures(tcg, []);
  }
  const names = Object.keys(result);
  const keys = [...new Set(names.flatMap((n) => Object.keys(result[n]!)))];
  console.log(`\nSMP${"".padEnd(33)}${names.map((n) => n.padStart(16)).join("")}`);
  for (const k of keys) {
    const cells = names.map((n) => {
      const v = result[n]![k];
      return (
        v === undefined ? "–" : v.toFixed(k.includes("speed-up") || k.includes("us per") ? 2 : 0)
      ).padStart(16);
    });
    console.log(`${k.padEnd(36)}${cells.join("")}`);
  }
  console.log(
    `target: smp-bench speed-up >= 1.8 with 2 vCPUs on 2 cores (glassvm thread=multi: ${result["glassvm multi"]!["smp-bench speed-up (phase)"]!.toFixed(2)} in the parallel phase)`,
  );
  console.log(JSON.stringify({ runs: RUNS, smp: result }));
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

// GLASSVM_BENCH=smp runs only the SMP part.
if (process.env.GLASSVM_BENCH !== "smp") await main();
await smpMain(hasQemu());
