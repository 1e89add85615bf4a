/**
 * `npm run bench`: the x86 interpreter on a CPU-bound 32-bit guest (guests/bench.c,
 * built here with gcc/binutils), against the same work in plain JavaScript and, when
 * qemu-system-i386 is installed, against QEMU's TCG. The guest's checksum must match the
 * JavaScript one, so the benchmark also checks correctness.
 *
 *   npm run bench [-- --rounds 250]      (BENCH_ROUNDS works too)
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
// The package as users install it: dist/, bundled by tsup (npm run bench builds it first).
import {
  EXIT_BUDGET,
  getSystemRegisters,
  type HookResult,
  hooks,
  PhysMemory,
  regs,
  setSystemRegisters,
  state,
  X86Cpu,
} from "@glassvm/x86";
import {
  buildGuest,
  ENTRY_OFFSET,
  GuestBuildError,
  type GuestImage,
  LOAD_ADDRESS,
} from "./build-guest.js";
import { benchMain } from "./workload.js";

const argRounds = process.argv.indexOf("--rounds");
const ROUNDS = Number(
  argRounds >= 0 ? process.argv[argRounds + 1] : (process.env.BENCH_ROUNDS ?? 250),
);
const RAM_BYTES = 4 << 20;
const SLICE = 5_000_000;
const QEMU_SCALE = 20;

function fmt(n: number, digits = 2): string {
  return n.toFixed(digits);
}

function hex(n: number): string {
  return (n >>> 0).toString(16).padStart(8, "0");
}

/** The first exception the guest raised: it has no IDT, so this is where it went wrong. */
class FirstFault {
  vector = -1;
  eip = 0;
  onEvent(cpu: X86Cpu, kind: number): HookResult {
    if (kind !== hooks.EV_EXCEPTION) return hooks.HOOK_PASS;
    this.vector = cpu.exitInfo[1]!;
    this.eip = cpu.st[state.EIP]!;
    return hooks.HOOK_EXIT;
  }
}

/** Flat 4 GiB code and data at CPL 0, 32-bit: what a multiboot loader hands over. */
function flatProtectedMode(cpu: X86Cpu): void {
  const s = getSystemRegisters(cpu);
  const { AR_DB, AR_G, AR_P, AR_S, AR_TYPE_ACCESSED, AR_TYPE_CODE, AR_TYPE_RW } = regs;
  const flat = (selector: number, type: number) => ({
    selector,
    base: 0,
    limit: 0xffff_ffff,
    ar: type | AR_P | AR_S | AR_TYPE_RW | AR_TYPE_ACCESSED | AR_DB | AR_G,
  });
  s.cs = flat(0x08, AR_TYPE_CODE);
  s.ds = s.es = s.fs = s.gs = s.ss = flat(0x10, 0);
  s.cr0 |= regs.CR0_PE;
  setSystemRegisters(cpu, s);
}

/**
 * The faulting instruction in GAS syntax. iced-x86 is loaded only here: instantiating its
 * WebAssembly module detaches an ArrayBuffer, which disables a V8 fast path (its
 * "array buffer detaching" protector) for every typed-array access in the process from
 * then on, slowing the interpreter by about a fifth.
 */
function describeInsn(bytes: Uint8Array, eip: number): string {
  const { Decoder, DecoderOptions, Formatter, FormatterSyntax } = createRequire(import.meta.url)(
    "iced-x86",
  ) as typeof import("iced-x86");
  const d = new Decoder(32, bytes, DecoderOptions.None);
  d.ip = BigInt(eip >>> 0);
  const insn = d.decode();
  const f = new Formatter(FormatterSyntax.Gas);
  const text = `${f.format(insn)} (${Array.from(bytes.subarray(0, insn.length || 4), (b) => b.toString(16).padStart(2, "0")).join(" ")})`;
  insn.free();
  d.free();
  f.free();
  return text;
}

interface GlassResult {
  instructions: number;
  seconds: number;
  /** MIPS over the second half of the run, when V8 has compiled what is hot. */
  secondHalfMips: number;
  checksum: number | null;
  problem: string | null;
}

/** Runs the guest; `half` is where the second-half figure starts (instructions). */
function runGlassvm(image: GuestImage, half: number): GlassResult {
  const mem = new PhysMemory();
  const ram = new Uint8Array(RAM_BYTES);
  mem.addRam(0, ram);
  ram.set(image.bin, LOAD_ADDRESS);
  const cpu = new X86Cpu(mem);
  const fault = new FirstFault();
  cpu.hooks = fault;
  flatProtectedMode(cpu);
  cpu.st[state.EIP] = LOAD_ADDRESS + ENTRY_OFFSET;
  const t0 = performance.now();
  let why: number = EXIT_BUDGET;
  let halfAt = 0;
  let halfCount = 0;
  while (why === EXIT_BUDGET) {
    why = cpu.run(SLICE);
    if (halfAt === 0 && cpu.instructionCount >= half) {
      halfAt = performance.now();
      halfCount = cpu.instructionCount;
    }
  }
  const end = performance.now();
  const seconds = (end - t0) / 1000;
  const secondHalfMips = halfAt > 0 ? (cpu.instructionCount - halfCount) / (end - halfAt) / 1e3 : 0;
  const instructions = cpu.instructionCount;
  if (fault.vector >= 0) {
    const at = fault.eip >>> 0;
    const bytes = ram.subarray(at, at + 15);
    return {
      instructions,
      seconds,
      secondHalfMips,
      checksum: null,
      problem: `guest raised vector ${fault.vector} at ${hex(at)}: ${describeInsn(bytes, at)}`,
    };
  }
  const inMem = new DataView(ram.buffer).getUint32(image.resultAddress, true);
  const eax = cpu.regs[regs.EAX]! >>> 0;
  if (inMem !== eax) {
    return {
      instructions,
      seconds,
      secondHalfMips,
      checksum: null,
      problem: `EAX ${hex(eax)} != bench_result ${hex(inMem)}`,
    };
  }
  return { instructions, seconds, secondHalfMips, checksum: eax, problem: null };
}

function hasCommand(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
}

/** Wall seconds and checksum of the ELF under qemu-system-i386 (TCG), or null. */
function runQemu(elf: string): { seconds: number; checksum: number | null; log: string } {
  const dir = mkdtempSync(join(tmpdir(), "glassvm-qemu-"));
  const con = join(dir, "debugcon.txt");
  const args = [
    "-accel",
    "tcg",
    "-m",
    "16",
    "-display",
    "none",
    "-serial",
    "none",
    "-monitor",
    "none",
    "-no-reboot",
    "-kernel",
    elf,
    "-debugcon",
    `file:${con}`,
    "-device",
    "isa-debug-exit,iobase=0xf4,iosize=0x04",
  ];
  const t0 = performance.now();
  const r = spawnSync("qemu-system-i386", args, { encoding: "utf8", timeout: 600_000 });
  const seconds = (performance.now() - t0) / 1000;
  let log = "";
  try {
    log = readFileSync(con, "utf8");
  } catch {}
  rmSync(dir, { recursive: true, force: true });
  const m = /checksum ([0-9a-f]{8})/.exec(log);
  // isa-debug-exit: status = (value << 1) | 1; the guest writes 0.
  const ok = r.status === 1 && m !== null;
  return {
    seconds,
    checksum: ok ? Number.parseInt(m[1]!, 16) : null,
    log: ok ? "" : `${r.stderr}${log}`,
  };
}

function main(): number {
  console.log(`glassvm x86 interpreter benchmark: guests/bench.c, ${ROUNDS} rounds`);
  let image: GuestImage;
  let empty: GuestImage;
  try {
    image = buildGuest(ROUNDS);
    empty = buildGuest(0);
  } catch (e) {
    if (e instanceof GuestBuildError) {
      console.error(`cannot build the guest: ${e.message}`);
      return 2;
    }
    throw e;
  }

  // Baseline: the same work in plain JavaScript (best of 3, after a warm-up).
  benchMain(Math.min(ROUNDS, 20));
  let jsSeconds = Number.POSITIVE_INFINITY;
  let expected = 0;
  for (let k = 0; k < 3; k++) {
    const t0 = performance.now();
    expected = benchMain(ROUNDS);
    jsSeconds = Math.min(jsSeconds, (performance.now() - t0) / 1000);
  }
  console.log(`  JavaScript baseline: ${fmt(jsSeconds, 3)} s, checksum ${hex(expected)}`);

  // 250 rounds are 1.08 × 10⁸ instructions.
  const g = runGlassvm(image, (ROUNDS / 250) * 54_000_000);
  const mips = g.instructions / g.seconds / 1e6;
  console.log(
    `  glassvm: ${g.instructions.toLocaleString("en")} instructions in ${fmt(g.seconds, 3)} s = ${fmt(mips)} MIPS` +
      ` (second half alone: ${fmt(g.secondHalfMips)} MIPS)`,
  );
  let status = 0;
  if (g.problem) {
    console.log(`  glassvm: FAILED, ${g.problem}`);
    status = 1;
  } else if (g.checksum !== expected) {
    console.log(`  glassvm: WRONG checksum ${hex(g.checksum ?? 0)}, expected ${hex(expected)}`);
    status = 1;
  } else {
    console.log(`  glassvm: checksum ${hex(g.checksum)} matches`);
    console.log(`  ratio glassvm / JavaScript: ${fmt(g.seconds / jsSeconds, 1)}x the time`);
  }

  if (hasCommand("qemu-system-i386")) {
    // QEMU runs QEMU_SCALE times the work, so start-up (timed on a 0-round image, best
    // of 3) is small against it; its time is scaled back to ROUNDS.
    const big = buildGuest(ROUNDS * QEMU_SCALE);
    const bigExpected = benchMain(ROUNDS * QEMU_SCALE);
    let start = Number.POSITIVE_INFINITY;
    for (let k = 0; k < 3; k++) start = Math.min(start, runQemu(empty.elf).seconds);
    const q = runQemu(big.elf);
    if (q.checksum === null) {
      console.log(`  qemu-system-i386 (TCG): FAILED\n${q.log}`);
      status = 1;
    } else {
      const perRounds = Math.max(q.seconds - start, 1e-3) / QEMU_SCALE;
      const okText = q.checksum === bigExpected ? "matches" : `WRONG, expected ${hex(bigExpected)}`;
      if (q.checksum !== bigExpected) status = 1;
      console.log(
        `  qemu-system-i386 (TCG): ${ROUNDS * QEMU_SCALE} rounds in ${fmt(q.seconds, 3)} s wall (start-up ${fmt(start, 3)} s), checksum ${hex(q.checksum)} ${okText}`,
      );
      if (!g.problem) {
        console.log(
          `  ratio glassvm / QEMU TCG on ${ROUNDS} rounds: ${fmt(g.seconds / perRounds, 1)}x (QEMU TCG ≈ ${fmt(g.instructions / perRounds / 1e6, 0)} MIPS)`,
        );
      }
    }
  } else {
    console.log(
      "  qemu-system-i386 not found; to compare with QEMU TCG: apt-get install -y qemu-system-x86",
    );
  }
  return status;
}

process.exitCode = main();
