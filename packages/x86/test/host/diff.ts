/**
 * The differential run shared by host-diff.test.ts and scripts/host-soak.ts: generate
 * cases (gen.ts), run them natively in batches (native.ts), run each on the interpreter
 * in 32-bit flat protected mode, and compare the defined flags and register bits.
 *
 * LONG MODE: when the interpreter runs 64-bit code, Interpreter gets a long-mode fixture
 * (CS.L, paging) and all sixteen registers, and the comparison all 64 bits of each
 * (NativeResults already carries them; gen.ts marks what the generator needs).
 */
import { Decoder, DecoderOptions, Formatter, FormatterSyntax } from "iced-x86";
import { EXIT_HLT } from "../../src/cpu.js";
import { setRegisters } from "../../src/cpu-state.js";
import { getFlags } from "../../src/lazy_flags.js";
import { EIP, HALTED } from "../../src/state.js";
import { exceptionVector, PM, protectedMode, stackDword } from "../helpers.js";
import {
  AF,
  ARITH_FLAGS,
  type Case,
  CF,
  Dataflow,
  type GenOptions,
  generateCase,
  NREGS,
  nativeLine,
  nativeLineBytes,
  OF,
  PF,
  paramOf,
  SF,
  writeNativeLine,
  ZF,
} from "./gen.js";
import { type NativeResults, runNative } from "./native.js";

const HLT = 0xf4;
/** Vector an exception signal stands for (SIGFPE #DE, SIGILL #UD, SIGTRAP #DB/#BP, SIGSEGV #GP). */
const SIGNAL_VECTOR: Readonly<Record<number, number>> = { 8: 0, 4: 6, 5: 1, 11: 13 };
const VECTOR_NAME: Readonly<Record<number, string>> = { 0: "#DE", 1: "#DB", 6: "#UD", 13: "#GP" };
const REG_NAMES = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];

/** How a run ended and the state it left, in the interpreter's terms. */
export interface Outcome {
  /** Exception vector, or -1 when the sequence ran to its end. */
  vector: number;
  /** Index of the faulting instruction (-1: none or not at an instruction boundary). */
  faultIndex: number;
  /** Low 32 bits of r0..r7 (r4 unused). */
  regs: Uint32Array;
  /** EFLAGS (arithmetic bits are what is compared). */
  flags: number;
  /** What went wrong outside the comparison (did not halt, …), or "". */
  note: string;
}

export interface Mismatch {
  readonly c: Case;
  readonly native: Outcome;
  readonly interp: Outcome;
  /** Bits compared per register, and the flags compared. */
  readonly regMask: Uint32Array;
  readonly flagMask: number;
  readonly why: string;
}

/** Case `k` of a native batch as an Outcome. */
export function fromNative(c: Case, r: NativeResults, k: number): Outcome {
  const signal = r.signal[k]!;
  const regs = r.lo.slice(k * 16, k * 16 + NREGS);
  regs[4] = 0;
  return {
    vector: signal === 0 ? -1 : (SIGNAL_VECTOR[signal] ?? 1000 + signal),
    faultIndex: signal === 0 ? -1 : c.offsets.indexOf(r.faultOffset[k]!),
    regs,
    flags: r.rflags[k]!,
    note: signal === 0 || signal in SIGNAL_VECTOR ? "" : `signal ${signal}`,
  };
}

/** One reusable interpreter: a flat ring-0 protected-mode CPU (test/helpers.ts). */
export class Interpreter {
  readonly cpu = protectedMode([HLT]);

  private start(c: Case): void {
    const cpu = this.cpu;
    cpu.mem.load(PM.CODE, c.code);
    cpu.mem.load(PM.CODE + c.code.length, [HLT]);
    cpu.st[HALTED] = 0;
    const l = c.lo;
    setRegisters(cpu, {
      eax: l[0]!,
      ecx: l[1]!,
      edx: l[2]!,
      ebx: l[3]!,
      esp: PM.STACK0,
      ebp: l[5]!,
      esi: l[6]!,
      edi: l[7]!,
      eip: PM.CODE,
      eflags: c.flags | 2,
    });
  }

  /** Run the case to its HLT (or the exception stub's). */
  run(c: Case): Outcome {
    this.start(c);
    return this.finish(c);
  }

  /** Run on to the next HLT and describe how the case ended. */
  private finish(c: Case): Outcome {
    const cpu = this.cpu;
    const exit = cpu.run(64);
    const regs = new Uint32Array(NREGS);
    for (let n = 0; n < NREGS; n++) regs[n] = n === 4 ? 0 : cpu.regs[n]! >>> 0;
    const vector = exceptionVector(cpu);
    const note = exit === EXIT_HLT ? "" : `run() returned ${exit}, not HLT`;
    if (vector < 0) {
      const end = PM.CODE + c.code.length + 1;
      const where = cpu.st[EIP] === end ? "" : `halted at EIP ${cpu.st[EIP]!.toString(16)}`;
      return { vector: -1, faultIndex: -1, regs, flags: getFlags(cpu.st), note: note || where };
    }
    // The stub halted: the exception frame holds EIP of the faulting instruction and EFLAGS.
    const eip = stackDword(cpu, 0) - PM.CODE;
    return { vector, faultIndex: c.offsets.indexOf(eip), regs, flags: stackDword(cpu, 8), note };
  }

  /**
   * Single-step the case: the parameter each instruction ran with (its CL count, whether
   * its BSF/BSR source was zero), up to the first that did not complete, and the outcome,
   * which must be the one run() gives.
   */
  step(c: Case): { params: number[]; outcome: Outcome } {
    const cpu = this.cpu;
    this.start(c);
    const params: number[] = [];
    for (let k = 0; k < c.insns.length; k++) {
      if (cpu.st[EIP] !== PM.CODE + c.offsets[k]!) break;
      params.push(paramOf(c.insns[k]!, cpu.regs));
      cpu.run(1);
    }
    return { params, outcome: this.finish(c) };
  }
}

function sameOutcome(a: Outcome, b: Outcome): boolean {
  return (
    a.vector === b.vector &&
    a.faultIndex === b.faultIndex &&
    a.flags === b.flags &&
    a.regs.every((v, n) => v === b.regs[n])
  );
}

/** What may be compared after case `c` ran to `nat`'s end: bits per register, flags. */
export interface DefinedMasks {
  regMask: Uint32Array;
  flagMask: number;
  /** The single-stepped interpreter outcome, when the masks needed it. */
  stepped: Outcome | null;
}

/**
 * The defined register bits and flags when case `c` stops where the host stopped (at
 * its end, or before the faulting instruction). Parameters that decide them (CL counts,
 * BSF/BSR sources) come from single-stepping the interpreter.
 */
export function definedMasks(c: Case, nat: Outcome, interp: Interpreter): DefinedMasks {
  const stop = nat.faultIndex >= 0 ? nat.faultIndex : c.insns.length;
  const flow = new Dataflow();
  const dynamic = c.insns.slice(0, stop).some((i) => i.dyn !== null);
  const stepped = dynamic ? interp.step(c) : null;
  for (let k = 0; k < stop; k++) {
    const insn = c.insns[k]!;
    flow.apply(insn, stepped?.params[k] ?? insn.param);
  }
  const regMask = new Uint32Array(NREGS);
  for (let n = 0; n < NREGS; n++) regMask[n] = n === 4 ? 0 : ~flow.undef[n]! >>> 0;
  return { regMask, flagMask: flow.flags, stepped: stepped?.outcome ?? null };
}

/**
 * Compare native and interpreter outcomes of `c` under `masks` (definedMasks); null when
 * they agree. The single-stepped outcome in `masks`, if any, must equal `it` exactly.
 */
export function compare(c: Case, nat: Outcome, it: Outcome, masks: DefinedMasks): Mismatch | null {
  const { regMask, flagMask, stepped } = masks;
  const why: string[] = [];
  if (nat.note) why.push(`native: ${nat.note}`);
  if (it.note) why.push(`interpreter: ${it.note}`);
  if (stepped && !sameOutcome(stepped, it)) why.push("interpreter stepped vs run");
  if (nat.vector !== it.vector || nat.faultIndex !== it.faultIndex) why.push("outcome");
  else {
    for (let n = 0; n < NREGS; n++) {
      if (((nat.regs[n]! ^ it.regs[n]!) & regMask[n]!) !== 0) why.push(REG_NAMES[n]!);
    }
    if (((nat.flags ^ it.flags) & flagMask) !== 0) why.push("flags");
  }
  return why.length === 0
    ? null
    : { c, native: nat, interp: it, regMask, flagMask, why: why.join(", ") };
}

export interface DiffOptions {
  readonly seed: number;
  readonly count: number;
  /** First case index (default 0): a run covers indices first .. first + count - 1. */
  readonly first?: number;
  readonly gen: GenOptions;
  /** Cases per native process (default 10 000). */
  readonly batch?: number;
  /** Stop collecting after this many mismatches (default 50). */
  readonly maxMismatches?: number;
  readonly onBatch?: (done: number) => void;
}

export interface DiffStats {
  cases: number;
  instructions: number;
  /** Sequences that ended in an exception, by vector name. */
  faults: Record<string, number>;
  /** Instructions generated, by form. */
  forms: Map<string, number>;
  /** Milliseconds spent generating, running natively, interpreting and comparing. */
  ms: { gen: number; native: number; interp: number };
}

export interface DiffResult {
  readonly stats: DiffStats;
  readonly mismatches: Mismatch[];
}

export function runDiff(exe: string, o: DiffOptions): DiffResult {
  const interp = new Interpreter();
  const batch = o.batch ?? 10_000;
  const first = o.first ?? 0;
  const max = o.maxMismatches ?? 50;
  const mismatches: Mismatch[] = [];
  const stats: DiffStats = {
    cases: 0,
    instructions: 0,
    faults: {},
    forms: new Map(),
    ms: { gen: 0, native: 0, interp: 0 },
  };
  for (let at = 0; at < o.count && mismatches.length < max; at += batch) {
    const n = Math.min(batch, o.count - at);
    let t = performance.now();
    const cases: Case[] = [];
    let bytes = 0;
    for (let k = 0; k < n; k++) {
      const c = generateCase(o.seed, first + at + k, o.gen);
      cases.push(c);
      bytes += nativeLineBytes(c);
    }
    const input = new Uint8Array(bytes);
    let end = 0;
    for (const c of cases) end = writeNativeLine(c, input, end);
    const t1 = performance.now();
    stats.ms.gen += t1 - t;
    t = t1;
    const results = runNative(exe, input.subarray(0, end), n);
    const t2 = performance.now();
    stats.ms.native += t2 - t;
    t = t2;
    for (let k = 0; k < n && mismatches.length < max; k++) {
      const c = cases[k]!;
      const nat = fromNative(c, results, k);
      const it = interp.run(c);
      const m = compare(c, nat, it, definedMasks(c, nat, interp));
      if (m) mismatches.push(m);
      stats.cases++;
      stats.instructions += c.insns.length;
      for (const i of c.insns) stats.forms.set(i.form, (stats.forms.get(i.form) ?? 0) + 1);
      if (nat.vector >= 0) {
        const name = VECTOR_NAME[nat.vector] ?? `vector ${nat.vector}`;
        stats.faults[name] = (stats.faults[name] ?? 0) + 1;
      }
    }
    stats.ms.interp += performance.now() - t;
    o.onBatch?.(at + n);
  }
  return { stats, mismatches };
}

// Reports ------------------------------------------------------------------------------

const hex8 = (v: number): string => (v >>> 0).toString(16).padStart(8, "0");

/** Names of the arithmetic flags set in `f`, e.g. "CF ZF". */
export function flagNames(f: number): string {
  const names: string[] = [];
  for (const [bit, name] of [
    [CF, "CF"],
    [PF, "PF"],
    [AF, "AF"],
    [ZF, "ZF"],
    [SF, "SF"],
    [OF, "OF"],
  ] as const) {
    if (f & bit) names.push(name);
  }
  return names.length ? names.join(" ") : "-";
}

/** The case's instructions disassembled (iced-x86, 32-bit, Intel syntax), one per line. */
export function disassemble(c: Case): string[] {
  const fmt = new Formatter(FormatterSyntax.Intel);
  const out: string[] = [];
  try {
    c.insns.forEach((insn, k) => {
      const bytes = Uint8Array.from(insn.bytes);
      const dec = new Decoder(32, bytes, DecoderOptions.None);
      dec.ip = BigInt(c.offsets[k]!);
      const i = dec.decode();
      const text = fmt.format(i);
      const hex = insn.bytes.map((b) => b.toString(16).padStart(2, "0")).join(" ");
      out.push(`${c.offsets[k]!.toString(16).padStart(4, "0")}  ${hex.padEnd(30)} ${text}`);
      i.free();
      dec.free();
    });
  } finally {
    fmt.free();
  }
  return out;
}

function describe(o: Outcome, regMask: Uint32Array): string[] {
  const end =
    o.vector < 0
      ? "ran to the end"
      : `${VECTOR_NAME[o.vector] ?? `vector ${o.vector}`} at instruction ${o.faultIndex}`;
  const regs = REG_NAMES.map((name, n) =>
    n === 4 ? "" : `${name}=${hex8(o.regs[n]!)}${regMask[n] === 0xffff_ffff ? "" : "*"}`,
  ).filter((s) => s);
  return [
    `${end}${o.note ? ` (${o.note})` : ""}`,
    `${regs.join(" ")}  flags: ${flagNames(o.flags & ARITH_FLAGS)}`,
  ];
}

/** A failure report: how to rerun it, the code, the initial state, both results. */
export function report(m: Mismatch): string {
  const c = m.c;
  const init = REG_NAMES.map((name, n) => (n === 4 ? "" : `${name}=${hex8(c.lo[n]!)}`)).filter(
    (s) => s,
  );
  const lines = [
    `case ${c.index} of seed 0x${c.seed.toString(16)} differs in: ${m.why}`,
    `  rerun: HOST_DIFF_SEED=0x${c.seed.toString(16)} HOST_DIFF_FIRST=${c.index} HOST_DIFF_COUNT=1 npx vitest run packages/x86/test/host-diff.test.ts`,
    ...disassemble(c).map((l) => `    ${l}`),
    `  native.c input: ${nativeLine(c)}`,
    `  initial:     ${init.join(" ")}  flags: ${flagNames(c.flags)}`,
    ...describe(m.native, m.regMask).map(
      (l, k) => `  ${k ? "             " : "native:      "}${l}`,
    ),
    ...describe(m.interp, m.regMask).map(
      (l, k) => `  ${k ? "             " : "interpreter: "}${l}`,
    ),
    `  compared:    flags ${flagNames(m.flagMask)}; * = register bits masked: ${REG_NAMES.map(
      (name, n) =>
        n !== 4 && m.regMask[n] !== 0xffff_ffff ? `${name}&${hex8(m.regMask[n]!)}` : "",
    )
      .filter((s) => s)
      .join(" ")}`,
  ];
  return lines.join("\n");
}

/** A one-paragraph summary of a run. */
export function summary(seed: number, s: DiffStats, seconds: number): string {
  const faults = Object.entries(s.faults)
    .map(([k, v]) => `${v} ${k}`)
    .join(", ");
  return (
    `host-diff: seed 0x${seed.toString(16)}: ${s.cases} sequences, ${s.instructions} instructions ` +
    `(${s.forms.size} forms), exceptions: ${faults || "none"}; ${seconds.toFixed(1)} s ` +
    `(generate ${(s.ms.gen / 1000).toFixed(1)}, native ${(s.ms.native / 1000).toFixed(1)}, ` +
    `interpreter+compare ${(s.ms.interp / 1000).toFixed(1)})`
  );
}
