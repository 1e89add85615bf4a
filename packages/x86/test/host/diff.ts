/**
 * The differential run shared by host-diff.test.ts and scripts/host-soak.ts: generate
 * cases (gen.ts), run them natively in batches (native.ts), run each on the interpreter
 * — in 32-bit flat protected mode (Interpreter), or for 64-bit cases in 64-bit mode
 * (Interpreter64) — and compare the defined flags and register bits: the low 32 bits of
 * EAX..EDI in 32-bit mode, all 64 bits of all sixteen registers but RSP in 64-bit mode.
 */
import { Decoder, DecoderOptions, Formatter, FormatterSyntax } from "iced-x86";
import { EXIT_HLT } from "../../src/cpu.js";
import { setRegisters, setRegisters64, type X86Registers64 } from "../../src/cpu-state.js";
import { resolveHandlerLong } from "../../src/handlers.js";
import { getFlags } from "../../src/lazy_flags.js";
import { EFER_LMA } from "../../src/regs.js";
import { EFER, EIP, HALTED, RIP_HI } from "../../src/state.js";
import {
  exceptionVector,
  LONG,
  longMode,
  PM,
  protectedMode,
  read32,
  stackDword,
  vector64,
} from "../helpers.js";
import {
  AF,
  ARITH_FLAGS,
  type Case,
  CF,
  Dataflow,
  type GatedClass,
  type GenOptions,
  generateCase,
  LONG_GATED,
  NREGS,
  NREGS_LONG,
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
// biome-ignore format: a table
const REG_NAMES64 = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];
/** Vectors that push an error code (the 64-bit frame's RIP is then at RSP + 8). */
const ERROR_CODE_VECTORS = new Set([8, 10, 11, 12, 13, 14, 17]);

/** How a run ended and the state it left, in the interpreter's terms. */
export interface Outcome {
  /** Exception vector, or -1 when the sequence ran to its end. */
  vector: number;
  /** Index of the faulting instruction (-1: none or not at an instruction boundary). */
  faultIndex: number;
  /** r0..r15: bits 31:0 and 63:32 (r4 reads 0; 32-bit mode leaves r8..r15 and hi 0). */
  regs: Uint32Array;
  hi: Uint32Array;
  /** EFLAGS (arithmetic bits are what is compared). */
  flags: number;
  /** What went wrong outside the comparison (did not halt, …), or "". */
  note: string;
}

export interface Mismatch {
  readonly c: Case;
  readonly native: Outcome;
  readonly interp: Outcome;
  /** Bits compared per register (31:0, 63:32), and the flags compared. */
  readonly regMask: Uint32Array;
  readonly regMaskHi: Uint32Array;
  readonly flagMask: number;
  readonly why: string;
}

/** Case `k` of a native batch as an Outcome. */
export function fromNative(c: Case, r: NativeResults, k: number): Outcome {
  const signal = r.signal[k]!;
  const regs = r.lo.slice(k * 16, k * 16 + 16);
  const hi = r.hi.slice(k * 16, k * 16 + 16);
  regs[4] = 0;
  hi[4] = 0;
  if (!c.long) {
    regs.fill(0, NREGS);
    hi.fill(0);
  }
  return {
    vector: signal === 0 ? -1 : (SIGNAL_VECTOR[signal] ?? 1000 + signal),
    faultIndex: signal === 0 ? -1 : c.offsets.indexOf(r.faultOffset[k]!),
    regs,
    hi,
    flags: r.rflags[k]!,
    note: signal === 0 || signal in SIGNAL_VECTOR ? "" : `signal ${signal}`,
  };
}

/** An interpreter that runs cases: Interpreter (32-bit code) or Interpreter64. */
export interface Runner {
  /** Run the case to its HLT (or the exception stub's). */
  run(c: Case): Outcome;
  /**
   * Single-step the case: the parameter each instruction ran with (its CL count, whether
   * its BSF/BSR source was zero), up to the first that did not complete, and the outcome,
   * which must be the one run() gives.
   */
  step(c: Case): { params: number[]; outcome: Outcome };
}

/** One reusable interpreter: a flat ring-0 protected-mode CPU (test/helpers.ts). */
export class Interpreter implements Runner {
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
    const regs = new Uint32Array(16);
    const hi = new Uint32Array(16);
    for (let n = 0; n < NREGS; n++) regs[n] = n === 4 ? 0 : cpu.regs[n]! >>> 0;
    const vector = exceptionVector(cpu);
    const note = exit === EXIT_HLT ? "" : `run() returned ${exit}, not HLT`;
    if (vector < 0) {
      const end = PM.CODE + c.code.length + 1;
      const where = cpu.st[EIP] === end ? "" : `halted at EIP ${cpu.st[EIP]!.toString(16)}`;
      return { vector: -1, faultIndex: -1, regs, hi, flags: getFlags(cpu.st), note: note || where };
    }
    // The stub halted: the exception frame holds EIP of the faulting instruction and EFLAGS.
    const eip = stackDword(cpu, 0) - PM.CODE;
    return {
      vector,
      faultIndex: c.offsets.indexOf(eip),
      regs,
      hi,
      flags: stackDword(cpu, 8),
      note,
    };
  }

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

/** A 64-bit register value from its halves. */
const u64 = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);

/**
 * One reusable 64-bit interpreter: the long-mode fixture (test/helpers.ts) entered once;
 * each case then loads its code at LONG.ENTRY, sets the registers with setRegisters64
 * (RSP = PM.STACK0, RIP at the code) and runs to the HLT after it, or to the HLT of the
 * exception stub, whose 64-bit frame holds RIP and RFLAGS.
 */
export class Interpreter64 implements Runner {
  readonly cpu = longMode([HLT]);
  private readonly regs: X86Registers64 = {
    rax: 0n,
    rbx: 0n,
    rcx: 0n,
    rdx: 0n,
    rsi: 0n,
    rdi: 0n,
    rsp: BigInt(PM.STACK0),
    rbp: 0n,
    r8: 0n,
    r9: 0n,
    r10: 0n,
    r11: 0n,
    r12: 0n,
    r13: 0n,
    r14: 0n,
    r15: 0n,
    rip: BigInt(LONG.ENTRY),
    rflags: 2n,
  };

  constructor() {
    const cpu = this.cpu;
    const exit = cpu.run(1000);
    if (exit !== EXIT_HLT || vector64(cpu) >= 0 || (cpu.st[EFER]! & EFER_LMA) === 0) {
      throw new Error(`long-mode fixture: did not reach 64-bit mode (exit ${exit})`);
    }
  }

  private start(c: Case): void {
    const cpu = this.cpu;
    cpu.mem.load(LONG.ENTRY, c.code);
    cpu.mem.load(LONG.ENTRY + c.code.length, [HLT]);
    cpu.st[HALTED] = 0;
    const r = this.regs;
    const l = c.lo;
    const h = c.hi;
    r.rax = u64(l[0]!, h[0]!);
    r.rcx = u64(l[1]!, h[1]!);
    r.rdx = u64(l[2]!, h[2]!);
    r.rbx = u64(l[3]!, h[3]!);
    r.rbp = u64(l[5]!, h[5]!);
    r.rsi = u64(l[6]!, h[6]!);
    r.rdi = u64(l[7]!, h[7]!);
    r.r8 = u64(l[8]!, h[8]!);
    r.r9 = u64(l[9]!, h[9]!);
    r.r10 = u64(l[10]!, h[10]!);
    r.r11 = u64(l[11]!, h[11]!);
    r.r12 = u64(l[12]!, h[12]!);
    r.r13 = u64(l[13]!, h[13]!);
    r.r14 = u64(l[14]!, h[14]!);
    r.r15 = u64(l[15]!, h[15]!);
    r.rflags = BigInt(c.flags | 2);
    setRegisters64(cpu, r);
  }

  run(c: Case): Outcome {
    this.start(c);
    return this.finish(c);
  }

  private finish(c: Case): Outcome {
    const cpu = this.cpu;
    const exit = cpu.run(64);
    const regs = new Uint32Array(16);
    const hi = new Uint32Array(16);
    for (let n = 0; n < 16; n++) {
      if (n === 4) continue;
      regs[n] = cpu.regs[n]! >>> 0;
      hi[n] = cpu.regsHi[n]! >>> 0;
    }
    const vector = vector64(cpu);
    const note = exit === EXIT_HLT ? "" : `run() returned ${exit}, not HLT`;
    if (vector < 0) {
      const end = LONG.ENTRY + c.code.length + 1;
      const at = cpu.st[EIP]! >>> 0;
      const where =
        at === end && cpu.st[RIP_HI] === 0
          ? ""
          : `halted at RIP ${u64(at, cpu.st[RIP_HI]!).toString(16)}`;
      return { vector: -1, faultIndex: -1, regs, hi, flags: getFlags(cpu.st), note: note || where };
    }
    // The 64-bit frame: [error code], RIP, CS, RFLAGS, RSP, SS (8 bytes each).
    const sp = (cpu.regs[4]! >>> 0) + (ERROR_CODE_VECTORS.has(vector) ? 8 : 0);
    const rip = read32(cpu, sp) - LONG.ENTRY;
    const flags = read32(cpu, sp + 16);
    return { vector, faultIndex: c.offsets.indexOf(rip), regs, hi, flags, note };
  }

  step(c: Case): { params: number[]; outcome: Outcome } {
    const cpu = this.cpu;
    this.start(c);
    const params: number[] = [];
    for (let k = 0; k < c.insns.length; k++) {
      if (cpu.st[EIP] !== LONG.ENTRY + c.offsets[k]! || cpu.st[RIP_HI] !== 0) break;
      params.push(paramOf(c.insns[k]!, cpu.regs, cpu.regsHi));
      cpu.run(1);
    }
    return { params, outcome: this.finish(c) };
  }
}

/**
 * The LONG_GATED classes whose handlers all exist in 64-bit mode now (handlers.ts
 * resolveHandlerLong, at every operand size): what the 64-bit generator may include.
 * HOST_DIFF_LONG_GATED overrides: "none", "all", or a comma-separated list.
 */
export function longGatedClasses(override = process.env.HOST_DIFF_LONG_GATED): Set<GatedClass> {
  const all = Object.keys(LONG_GATED) as GatedClass[];
  if (override !== undefined && override !== "") {
    if (override === "none") return new Set();
    if (override === "all") return new Set(all);
    const list = override.split(",").map((s) => s.trim());
    const bad = list.filter((s) => !(s in LONG_GATED));
    if (bad.length) throw new Error(`HOST_DIFF_LONG_GATED: unknown ${bad.join(", ")}`);
    return new Set(list as GatedClass[]);
  }
  const sizes = [16, 32, 64] as const;
  return new Set(
    all.filter((cls) =>
      LONG_GATED[cls].every((name) => sizes.every((s) => resolveHandlerLong(name, s, true) >= 0)),
    ),
  );
}

function sameOutcome(a: Outcome, b: Outcome): boolean {
  return (
    a.vector === b.vector &&
    a.faultIndex === b.faultIndex &&
    a.flags === b.flags &&
    a.regs.every((v, n) => v === b.regs[n]) &&
    a.hi.every((v, n) => v === b.hi[n])
  );
}

/** What may be compared after case `c` ran to `nat`'s end: bits per register, flags. */
export interface DefinedMasks {
  regMask: Uint32Array;
  regMaskHi: Uint32Array;
  flagMask: number;
  /** The single-stepped interpreter outcome, when the masks needed it. */
  stepped: Outcome | null;
}

/**
 * The defined register bits and flags when case `c` stops where the host stopped (at
 * its end, or before the faulting instruction). Parameters that decide them (CL counts,
 * BSF/BSR sources) come from single-stepping the interpreter.
 */
export function definedMasks(c: Case, nat: Outcome, interp: Runner): DefinedMasks {
  const stop = nat.faultIndex >= 0 ? nat.faultIndex : c.insns.length;
  const flow = new Dataflow();
  const dynamic = c.insns.slice(0, stop).some((i) => i.dyn !== null);
  const stepped = dynamic ? interp.step(c) : null;
  for (let k = 0; k < stop; k++) {
    const insn = c.insns[k]!;
    flow.apply(insn, stepped?.params[k] ?? insn.param);
  }
  const regMask = new Uint32Array(16);
  const regMaskHi = new Uint32Array(16);
  for (let n = 0; n < (c.long ? NREGS_LONG : NREGS); n++) {
    if (n === 4) continue;
    regMask[n] = ~flow.undef[n]! >>> 0;
    if (c.long) regMaskHi[n] = ~flow.undefHi[n]! >>> 0;
  }
  return { regMask, regMaskHi, flagMask: flow.flags, stepped: stepped?.outcome ?? null };
}

/**
 * Compare native and interpreter outcomes of `c` under `masks` (definedMasks); null when
 * they agree. The single-stepped outcome in `masks`, if any, must equal `it` exactly.
 */
export function compare(c: Case, nat: Outcome, it: Outcome, masks: DefinedMasks): Mismatch | null {
  const { regMask, regMaskHi, flagMask, stepped } = masks;
  const names = c.long ? REG_NAMES64 : REG_NAMES;
  const why: string[] = [];
  if (nat.note) why.push(`native: ${nat.note}`);
  if (it.note) why.push(`interpreter: ${it.note}`);
  if (stepped && !sameOutcome(stepped, it)) why.push("interpreter stepped vs run");
  if (nat.vector !== it.vector || nat.faultIndex !== it.faultIndex) why.push("outcome");
  else {
    for (let n = 0; n < 16; n++) {
      if (
        ((nat.regs[n]! ^ it.regs[n]!) & regMask[n]!) !== 0 ||
        ((nat.hi[n]! ^ it.hi[n]!) & regMaskHi[n]!) !== 0
      ) {
        why.push(names[n]!);
      }
    }
    if (((nat.flags ^ it.flags) & flagMask) !== 0) why.push("flags");
  }
  return why.length === 0
    ? null
    : { c, native: nat, interp: it, regMask, regMaskHi, flagMask, why: why.join(", ") };
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
  const interp: Runner = o.gen.long ? new Interpreter64() : new Interpreter();
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

/** The case's instructions disassembled (iced-x86, 32- or 64-bit, Intel syntax), one per line. */
export function disassemble(c: Case): string[] {
  const fmt = new Formatter(FormatterSyntax.Intel);
  const out: string[] = [];
  try {
    c.insns.forEach((insn, k) => {
      const bytes = Uint8Array.from(insn.bytes);
      const dec = new Decoder(c.long ? 64 : 32, bytes, DecoderOptions.None);
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

/** Register n of `c`'s mode as hex: 8 digits (32-bit mode) or 16, with "*" if masked. */
function regText(c: Case, n: number, lo: number, hi: number, mask?: [number, number]): string {
  const v = c.long ? hex8(hi) + hex8(lo) : hex8(lo);
  const full = !mask || (mask[0] === 0xffff_ffff && (!c.long || mask[1] === 0xffff_ffff));
  return `${(c.long ? REG_NAMES64 : REG_NAMES)[n]}=${v}${full ? "" : "*"}`;
}

const regNumbers = (c: Case): number[] =>
  Array.from({ length: c.long ? NREGS_LONG : NREGS }, (_, n) => n).filter((n) => n !== 4);

function describe(c: Case, o: Outcome, m: Mismatch): string[] {
  const end =
    o.vector < 0
      ? "ran to the end"
      : `${VECTOR_NAME[o.vector] ?? `vector ${o.vector}`} at instruction ${o.faultIndex}`;
  const regs = regNumbers(c).map((n) =>
    regText(c, n, o.regs[n]!, o.hi[n]!, [m.regMask[n]!, m.regMaskHi[n]!]),
  );
  return [
    `${end}${o.note ? ` (${o.note})` : ""}`,
    ...(c.long ? [regs.slice(0, 8), regs.slice(8)].map((r) => r.join(" ")) : [regs.join(" ")]),
    `flags: ${flagNames(o.flags & ARITH_FLAGS)}`,
  ];
}

/** The command that reruns case `c` alone. */
export function rerunCommand(c: Case): string {
  const env = `HOST_DIFF_SEED=0x${c.seed.toString(16)} HOST_DIFF_FIRST=${c.index} HOST_DIFF_COUNT=1`;
  const test = "npx vitest run packages/x86/test/host-diff.test.ts";
  if (!c.long) return `${env} ${test} -t "agrees with the host on 1 sequences"`;
  const gated = c.gated.length ? c.gated.join(",") : "none";
  return `${env} HOST_DIFF_LONG_GATED=${gated} ${test} -t "64-bit sequences"`;
}

/** A failure report: how to rerun it, the code, the initial state, both results. */
export function report(m: Mismatch): string {
  const c = m.c;
  const init = regNumbers(c).map((n) => regText(c, n, c.lo[n]!, c.hi[n]!));
  const pad = "             ";
  const side = (label: string, o: Outcome) =>
    describe(c, o, m).map((l, k) => `  ${k ? pad : label}${l}`);
  const masked = regNumbers(c)
    .filter((n) => m.regMask[n] !== 0xffff_ffff || (c.long && m.regMaskHi[n] !== 0xffff_ffff))
    .map((n) => {
      const name = (c.long ? REG_NAMES64 : REG_NAMES)[n];
      return `${name}&${c.long ? hex8(m.regMaskHi[n]!) : ""}${hex8(m.regMask[n]!)}`;
    });
  const lines = [
    `${c.long ? "64-bit " : ""}case ${c.index} of seed 0x${c.seed.toString(16)} differs in: ${m.why}`,
    `  rerun: ${rerunCommand(c)}`,
    ...disassemble(c).map((l) => `    ${l}`),
    `  native.c input: ${nativeLine(c)}`,
    `  initial:     ${c.long ? `${init.slice(0, 8).join(" ")}\n${pad}  ${init.slice(8).join(" ")}` : init.join(" ")}  flags: ${flagNames(c.flags)}`,
    ...side("native:      ", m.native),
    ...side("interpreter: ", m.interp),
    `  compared:    flags ${flagNames(m.flagMask)}; * = register bits masked: ${masked.join(" ")}`,
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
