/**
 * Builds native.c with the system gcc (into a temp dir; nothing installed) and runs
 * batches of cases through it. native.c documents the line format.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), "native.c");

/** Why the native harness cannot run here, or null when it can. */
export function nativeUnavailable(): string | null {
  if (process.platform !== "linux" || process.arch !== "x64") {
    return `the native oracle needs x86-64 Linux (this is ${process.platform}/${process.arch})`;
  }
  if (spawnSync("sh", ["-c", "command -v gcc"]).status !== 0) {
    return "gcc not found (apt-get install -y gcc)";
  }
  return null;
}

/** Compile native.c; returns the executable's path. */
export function buildNative(): string {
  const dir = mkdtempSync(join(tmpdir(), "glassvm-host-"));
  const exe = join(dir, "native");
  const r = spawnSync("gcc", ["-O2", "-Wall", "-o", exe, SOURCE], { encoding: "utf8" });
  if (r.error) throw new Error(`gcc: ${r.error.message}`);
  if (r.status !== 0) {
    const hint = /No such file/.test(r.stderr)
      ? "\nlibc headers missing? apt-get install -y libc6-dev"
      : "";
    throw new Error(`gcc -O2 -o ${exe} native.c failed:\n${r.stderr}${hint}`);
  }
  return exe;
}

/** Delete what buildNative() made. */
export function removeNative(exe: string): void {
  rmSync(dirname(exe), { recursive: true, force: true });
}

/** True when LAHF/SAHF are valid in 64-bit mode on this host (CPUID 8000_0001h ECX.0). */
export function hostHasLahf(exe: string): boolean {
  const r = spawnSync(exe, ["-i"], { encoding: "utf8" });
  return /^lahf_lm 1$/m.test(r.stdout);
}

/**
 * Results of a batch, one slot per case (struct of arrays: a batch is many thousands).
 * Registers r0..r15 of case k are at lo/hi[16k + n]; r4 reads 0.
 */
export class NativeResults {
  /** 0 when the snippet ran to its end, else the signal number. */
  readonly signal: Int32Array;
  /** Offset of the faulting instruction in the code (signal != 0). */
  readonly faultOffset: Int32Array;
  readonly rflags: Int32Array;
  readonly lo: Uint32Array;
  readonly hi: Uint32Array;
  constructor(readonly count: number) {
    this.signal = new Int32Array(count);
    this.faultOffset = new Int32Array(count);
    this.rflags = new Int32Array(count);
    this.lo = new Uint32Array(count * 16);
    this.hi = new Uint32Array(count * 16);
  }
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Parse native.c's output (see there) for `count` cases. */
export function parseResults(out: Uint8Array, count: number): NativeResults {
  const r = new NativeResults(count);
  let p = 0;
  const fail = (why: string): never => {
    const line = new TextDecoder().decode(out.subarray(p, out.indexOf(0x0a, p)));
    throw new Error(`native output: ${why} at ${JSON.stringify(line)}`);
  };
  // One hex field (up to 16 digits) as hi:lo, then skip the separator.
  let hi = 0;
  let lo = 0;
  const field = (): void => {
    const start = p;
    hi = 0;
    lo = 0;
    for (let d = hexDigit(out[p]!); d >= 0; d = hexDigit(out[++p]!)) {
      hi = ((hi << 4) | (lo >>> 28)) >>> 0;
      lo = ((lo << 4) | d) >>> 0;
    }
    if (p === start || p - start > 16) fail("bad number");
    p++;
  };
  for (let k = 0; k < count; k++) {
    if (p >= out.length) fail(`${k} results for ${count} cases`);
    const tag = out[p];
    p += 2;
    if (tag === 0x46) {
      // F <signal, decimal> <offset> …
      let sig = 0;
      while (out[p]! >= 0x30 && out[p]! <= 0x39) sig = sig * 10 + out[p++]! - 0x30;
      p++;
      r.signal[k] = sig;
      field();
      r.faultOffset[k] = lo;
    } else if (tag !== 0x52) fail("not R or F");
    field();
    r.rflags[k] = lo;
    for (let n = 0; n < 16; n++) {
      field();
      r.lo[k * 16 + n] = lo;
      r.hi[k * 16 + n] = hi;
    }
  }
  if (p !== out.length) fail("more results than cases");
  return r;
}

/** Run a batch of `count` cases (`input`: native.c input lines) in one process. */
export function runNative(exe: string, input: Uint8Array, count: number): NativeResults {
  const r = spawnSync(exe, [], { input, maxBuffer: 1 << 30 });
  if (r.error) throw new Error(`native: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(`native exited with ${r.status ?? r.signal}: ${r.stderr.toString()}`);
  }
  return parseResults(r.stdout, count);
}
