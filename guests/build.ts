/**
 * Builds the guest suite with GNU as and ld (binutils): guests/src/*.S → guests/bin/.
 * The outputs are committed so the suite runs without a toolchain; test/guests.test.ts
 * rebuilds into a temporary directory when binutils is installed and checks that every
 * committed file comes out byte for byte.
 *
 *   npx tsx guests/build.ts
 *
 * Deterministic by construction: flat binaries carry nothing but the code, and the ELF is
 * linked by a script to a fixed address, stripped, with no build ID, notes or comments.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** guests/ */
export const GUESTS_DIR = dirname(fileURLToPath(import.meta.url));
export const SRC_DIR = join(GUESTS_DIR, "src");
export const BIN_DIR = join(GUESTS_DIR, "bin");

/**
 * How an image is linked and what shape it has:
 * - `payload`: flat binary linked at 0, for a host that sets the CPU mode itself;
 * - `bios`: 64 KiB flat firmware image for -bios, reset vector at offset 0xFFF0;
 * - `multiboot`: multiboot v1 ELF32 kernel for -kernel, linked by `<name>.ld`.
 */
export type GuestKind = "payload" | "bios" | "multiboot";

export interface Guest {
  readonly name: string;
  readonly kind: GuestKind;
  /** The file in bin/. */
  readonly output: string;
}

const guest = (name: string, kind: GuestKind): Guest => ({
  name,
  kind,
  output: `${name}${kind === "multiboot" ? ".elf" : ".bin"}`,
});

/** Every guest, in build order (a hello-<mode> image embeds payload-<mode>.bin). */
export const GUESTS: readonly Guest[] = [
  guest("payload-real", "payload"),
  guest("payload-protected", "payload"),
  guest("payload-paged", "payload"),
  guest("payload-long", "payload"),
  guest("hello-real", "bios"),
  guest("hello-protected", "bios"),
  guest("hello-paged", "bios"),
  guest("hello-long", "bios"),
  guest("multiboot-hello", "multiboot"),
  guest("bios-hello", "bios"),
  guest("cpu-bench", "bios"),
  guest("io-bench", "bios"),
  guest("faults", "bios"),
  guest("timer", "bios"),
  guest("smp", "bios"),
  guest("smp-bench", "bios"),
  guest("ipi-bench", "bios"),
  guest("apic-timer", "bios"),
  guest("serial-echo", "bios"),
];

/** A -bios image's size, and where the CPU fetches its first instruction. */
export const BIOS_IMAGE_SIZE = 0x1_0000;
export const RESET_VECTOR_OFFSET = 0xfff0;

/** The multiboot v1 header (Multiboot Specification 0.6.96, §3.1.1). */
export const MULTIBOOT_HEADER_MAGIC = 0x1bad_b002;
export const MULTIBOOT_SEARCH_LIMIT = 8192;

/** cpu-bench's loop, as in src/cpu-bench.S (the benchmark computes MIPS from it). */
export const CPU_BENCH = {
  iterations: 1_000_000,
  /** Instructions retired per iteration, on either arm of its branch. */
  instructionsPerIteration: 16,
  seed: 0x2545_f491,
} as const;

/** The checksum cpu-bench prints: a model of its loop. */
export function cpuBenchChecksum(iterations: number = CPU_BENCH.iterations): number {
  let x = CPU_BENCH.seed;
  let sum = 0;
  for (let i = 0; i < iterations; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    sum = Math.imul(sum, 0x0100_0193) >>> 0;
    if (x & 1) sum = (sum + x) >>> 0;
    else {
      sum = (sum - x) >>> 0;
      sum = ((sum << 7) | (sum >>> 25)) >>> 0;
    }
  }
  return sum;
}

/** smp's workload, as in src/smp.S: per CPU, K LOCK XADDs and K / 8 spinlocked increments. */
export const SMP = {
  /** LOCK XADDs of 1 to the shared counter, per CPU (`K`). */
  xaddsPerCpu: 100_000,
  /** One spinlock-protected plain increment every this many XADDs (`LOCK_EVERY`). */
  lockEvery: 8,
  /** The most CPUs it brings up (`MAX_CPUS`). */
  maxCpus: 16,
  /** Where the AP trampoline is copied: SIPI vector 0x08. */
  trampoline: 0x8000,
} as const;

/**
 * What smp prints on COM1 with `-smp cpus` when every check passes, given APIC IDs
 * 0 … cpus − 1 (QEMU's and glassvm's numbering for a single-socket `-smp N`).
 */
export function smpOutput(cpus: number): string {
  let out = "";
  for (let id = 0; id < cpus; id++) out += `cpu ${id} up\n`;
  return `${out}smp: ${cpus} cpus, counter ${cpus * SMP.xaddsPerCpu}, ok\n`;
}

/** smp-bench's workload, as in src/smp-bench.S: W indices split among the CPUs. */
export const SMP_BENCH = {
  /** Indices in all (`W`), whatever the CPU count: divisible by 1…10, 12, 14, 15, 16. */
  indices: 12_600_000,
  /** Instructions retired per index by its loop (`BENCH_INSNS`). */
  instructionsPerIndex: 16,
  /** The sum the guest checks and prints (`EXPECTED_SUM`): smpBenchSum(). */
  sum: 0x9208_25c6,
} as const;

/**
 * A model of smp-bench's work: Σ fmix32(i × 0x9E3779B1) for i in [0, indices), mod 2^32
 * (fmix32 is murmur3's finaliser), which the guest must find for every CPU count.
 */
export function smpBenchSum(indices: number = SMP_BENCH.indices): number {
  let sum = 0;
  for (let i = 0; i < indices; i++) {
    let x = Math.imul(i, 0x9e37_79b1);
    x ^= x >>> 15;
    x = Math.imul(x, 0x85eb_ca6b);
    x ^= x >>> 13;
    x = Math.imul(x, 0xc2b2_ae35);
    x ^= x >>> 16;
    sum = (sum + x) >>> 0;
  }
  return sum;
}

/** What smp-bench prints on COM1 with `-smp cpus` when its check passes. */
export function smpBenchOutput(cpus: number): string {
  const sum = SMP_BENCH.sum.toString(16).padStart(8, "0");
  return `smp-bench: go\nsmp-bench: ${cpus} cpus, sum ${sum}, ok\n`;
}

/** ipi-bench's workload, as in src/ipi-bench.S: N IPIs from the BSP to AP 1, one at a time. */
export const IPI_BENCH = {
  /** Round trips (`N`): IPI sent, handled by the halted AP, seen by the BSP. */
  roundTrips: 10_000,
  /** The IPI's vector (`VECTOR`). */
  vector: 0x40,
} as const;

/** What ipi-bench prints on COM1 with two or more CPUs when its check passes. */
export function ipiBenchOutput(): string {
  return `ipi-bench: go\nipi-bench: ${IPI_BENCH.roundTrips} round trips, ok\n`;
}

/** What apic-timer prints on COM1, with and without TSC-deadline mode in CPUID.1:ECX[24]. */
export function apicTimerOutput(tscDeadline: boolean): string {
  return (
    "apic timer one-shot: ok\n" +
    "apic timer periodic: 5 ticks\n" +
    `apic timer tsc-deadline: ${tscDeadline ? "ok" : "skipped (not in CPUID)"}\n`
  );
}

/** Run a tool in `cwd`; a failure or any diagnostic (warnings included) is an error. */
function run(cmd: string, args: readonly string[], cwd: string): void {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8" });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`, { cause: r.error });
  if (r.status !== 0 || r.stderr) {
    throw new Error(`${cmd} ${args.join(" ")} (exit ${r.status}):\n${r.stderr}`);
  }
}

/**
 * Assemble and link one guest into `outDir` (which must already hold the payloads a
 * hello-<mode> image includes); returns the bytes written to `outDir/<output>`.
 */
export function buildGuest(g: Guest, outDir: string): Uint8Array {
  const work = mkdtempSync(join(tmpdir(), `guest-${g.name}-`));
  try {
    const obj = join(work, `${g.name}.o`);
    const out = join(outDir, g.output);
    // Relative source name and include paths: nothing of the checkout's location can
    // reach the output.
    run("as", ["--32", "-I", "include", "-I", outDir, "-o", obj, `${g.name}.S`], SRC_DIR);
    if (g.kind === "multiboot") {
      run(
        "ld",
        [
          "-m",
          "elf_i386",
          "-T",
          `${g.name}.ld`,
          "--build-id=none",
          "-z",
          "noexecstack",
          "-s",
          "-o",
          out,
          obj,
        ],
        SRC_DIR,
      );
    } else {
      run(
        "ld",
        ["-m", "elf_i386", "-e", "_start", "-Ttext", "0", "--oformat", "binary", "-o", out, obj],
        SRC_DIR,
      );
    }
    return new Uint8Array(readFileSync(out));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Build every guest into `outDir` (created if missing); output name → bytes. */
export function buildGuests(outDir: string): Map<string, Uint8Array> {
  mkdirSync(outDir, { recursive: true });
  const built = new Map<string, Uint8Array>();
  for (const g of GUESTS) built.set(g.output, buildGuest(g, outDir));
  return built;
}

function main(): void {
  const outDir = process.argv[2] ?? BIN_DIR;
  for (const [output, bytes] of buildGuests(outDir)) {
    console.log(`${join(outDir, output)}: ${bytes.length} bytes`);
  }
  const sum = cpuBenchChecksum().toString(16).padStart(8, "0");
  console.log(`cpu-bench checksum (model): ${sum}`);
  const bench = smpBenchSum().toString(16).padStart(8, "0");
  console.log(`smp-bench sum (model): ${bench}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
