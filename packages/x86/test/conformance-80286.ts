/**
 * Runs the SingleStepTests 80286 real-mode vectors on the CPU, following the runner
 * rules of shared/conformance/80286/README.md, including its table of expected
 * differences between a 286 and a 386-or-later CPU.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { fileURLToPath } from "node:url";
import { recomputeSegment } from "../src/access.js";
import { EXIT_HLT, X86Cpu } from "../src/cpu.js";
import { EV_EXCEPTION, HOOK_PASS } from "../src/hooks.js";
import { PhysMemory } from "../src/memory.js";
import { CS, DS, ES, SS } from "../src/regs.js";
import {
  A20_MASK,
  CR0,
  EIP,
  EVENT_DEPTH,
  HALTED,
  IDTR_BASE,
  IDTR_LIMIT,
  INHIBIT,
  PENDING,
} from "../src/state.js";
import { type MooReg, type MooTest, readMoo } from "./moo.js";

const here = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = join(here, "../../..");

/**
 * shared/ sits beside the repository root (as CI lays it out); $GLASSVM_SHARED names it
 * elsewhere; a clone of a local checkout (`git clone /work/main …`) finds it beside the
 * checkout it was cloned from.
 */
function findVectorDir(): string {
  const tail = "conformance/80286";
  const env = process.env.GLASSVM_SHARED;
  if (env) return join(env, tail);
  const beside = join(REPO_ROOT, "../shared", tail);
  if (existsSync(beside)) return beside;
  try {
    const origin = execFileSync("git", ["-C", REPO_ROOT, "remote", "get-url", "origin"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
    if (isAbsolute(origin)) {
      const fromOrigin = join(origin, "../shared", tail);
      if (existsSync(fromOrigin)) return fromOrigin;
    }
  } catch {
    // not a git checkout, or no origin: only the places above count
  }
  return beside;
}

export const VECTOR_DIR = findVectorDir();

export interface FileResult {
  readonly file: string;
  readonly mnemonic: string;
  pass: number;
  fail: number;
  skip: number;
  /** The first few failures, described. */
  readonly failures: string[];
}

const GPRS: readonly [MooReg, number][] = [
  ["ax", 0],
  ["cx", 1],
  ["dx", 2],
  ["bx", 3],
  ["sp", 4],
  ["bp", 5],
  ["si", 6],
  ["di", 7],
];
const SEGS: readonly [MooReg, number][] = [
  ["es", ES],
  ["cs", CS],
  ["ss", SS],
  ["ds", DS],
];
const PREFIXES = new Set([0x26, 0x2e, 0x36, 0x3e, 0xf0, 0xf2, 0xf3]);
const STRING_OPS = new Set([
  0x6c, 0x6d, 0x6e, 0x6f, 0xa4, 0xa5, 0xa6, 0xa7, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
]);

interface Meta {
  opcodes: Record<
    string,
    {
      mnemonic?: string;
      "flags-mask"?: number;
      reg?: Record<string, { mnemonic?: string; "flags-mask"?: number }>;
    }
  >;
}

export function vectorsAvailable(): boolean {
  return existsSync(join(VECTOR_DIR, "metadata.json"));
}

export function vectorFiles(): string[] {
  return readdirSync(join(VECTOR_DIR, "v1_real_mode"))
    .filter((f) => f.endsWith(".MOO.gz"))
    .sort();
}

function metaFor(meta: Meta, file: string): { mask: number; mnemonic: string } {
  const [op, reg] = file.replace(".MOO.gz", "").split(".");
  const entry = meta.opcodes[op!];
  const sub = reg !== undefined ? entry?.reg?.[reg] : entry;
  return { mask: sub?.["flags-mask"] ?? 0xffff, mnemonic: sub?.mnemonic ?? entry?.mnemonic ?? "" };
}

/** One reusable CPU over 2 MiB of RAM (real-mode addresses reach 0x10FFEF with A20 on). */
class Bench {
  readonly mem = new PhysMemory();
  readonly cpu: X86Cpu;
  readonly vectors: number[] = [];
  private readonly dirty: number[] = [];

  constructor() {
    this.mem.addRam(0, new Uint8Array(0x20_0000));
    this.cpu = new X86Cpu(this.mem);
    this.cpu.hooks = {
      onEvent: (cpu, kind) => {
        if (kind === EV_EXCEPTION) this.vectors.push(cpu.exitInfo[1]!);
        return HOOK_PASS;
      },
    };
  }

  load(t: MooTest): void {
    const cpu = this.cpu;
    for (const a of this.dirty) this.mem.write8(a, 0);
    this.dirty.length = 0;
    for (const [a, v] of t.initial.ram) {
      this.mem.write8(a, v);
      this.dirty.push(a);
    }
    for (const [a] of t.final.ram) this.dirty.push(a);
    const r = t.initial.regs;
    for (const [name, n] of GPRS) cpu.regs[n] = r[name]!;
    for (const [name, s] of SEGS) {
      cpu.segSel[s] = r[name]!;
      cpu.segBase[s] = r[name]! << 4;
      cpu.segLimit[s] = 0xffff;
      recomputeSegment(cpu, s);
    }
    const st = cpu.st;
    st[CR0] = st[CR0]! & ~1;
    st[EIP] = r.ip!;
    st[IDTR_BASE] = 0;
    st[IDTR_LIMIT] = 0xffff;
    st[A20_MASK] = -1;
    st[HALTED] = 0;
    st[INHIBIT] = 0;
    st[PENDING] = 0;
    st[EVENT_DEPTH] = 0;
    cpu.setEflags(r.flags! & 0x0fff);
    this.vectors.length = 0;
  }
}

function instructionOf(t: MooTest): { opcode: number; modrm: number; lock: boolean } {
  let k = 0;
  let lock = false;
  while (PREFIXES.has(t.bytes[k]!)) {
    if (t.bytes[k] === 0xf0) lock = true;
    k++;
  }
  return { opcode: t.bytes[k]!, modrm: t.bytes[k + 1] ?? 0, lock };
}

/** Run every test of one file. */
export function runVectorFile(
  file: string,
  revoked: ReadonlySet<string>,
  meta: Meta,
  bench = new Bench(),
): FileResult {
  const { mask, mnemonic } = metaFor(meta, file);
  const result: FileResult = { file, mnemonic, pass: 0, fail: 0, skip: 0, failures: [] };
  const cpu = bench.cpu;
  for (const t of readMoo(join(VECTOR_DIR, "v1_real_mode", file))) {
    const ins = instructionOf(t);
    // Expected differences between the 286 and a 386+ (README table).
    if (
      revoked.has(t.hash) ||
      t.bytes.length - 1 > 10 ||
      ins.opcode === 0xd8 ||
      ((ins.opcode === 0x8c || ins.opcode === 0x8e) && ((ins.modrm >> 3) & 7) >= 4)
    ) {
      result.skip++;
      continue;
    }
    bench.load(t);
    const why = cpu.run(2000);
    const took = bench.vectors[0];
    if (ins.lock && took === 6 && t.exception?.vector !== 6) {
      result.skip++; // LOCK on a non-lockable form: #UD on 386+
      continue;
    }
    if (t.exception?.vector === 13 && took === 12) {
      result.skip++; // an SS-relative access past 0xFFFF: #SS on 386+
      continue;
    }
    // The 286 moves SI/DI (and CX) of a string instruction, and SP of POP [mem], before a
    // #GP on an offset past 0xFFFF; a 386+ faults with them unchanged (restartable).
    const stringGp = t.exception?.vector === 13 && STRING_OPS.has(ins.opcode);
    if (t.exception?.vector === 13 && ins.opcode === 0x8f) {
      result.skip++;
      continue;
    }
    const problems: string[] = [];
    if (why !== EXIT_HLT) problems.push(`stopped with exit ${why}`);
    const exp = { ...t.initial.regs, ...t.final.regs };
    for (const [name, n] of GPRS) {
      if (stringGp && (name === "si" || name === "di" || name === "cx")) continue;
      const got = cpu.r16[n << 1]!;
      if (got !== exp[name]) problems.push(`${name}=${hex(got)} want ${hex(exp[name]!)}`);
    }
    for (const [name, s] of SEGS) {
      if (cpu.segSel[s] !== exp[name])
        problems.push(`${name}=${hex(cpu.segSel[s]!)} want ${hex(exp[name]!)}`);
    }
    const ip = cpu.st[EIP]! & 0xffff;
    if (ip !== exp.ip) problems.push(`ip=${hex(ip)} want ${hex(exp.ip!)}`);
    const fm = mask & 0x0fff;
    const flags = cpu.getEflags() & fm;
    if (flags !== (exp.flags! & fm))
      problems.push(
        `flags=${hex(cpu.getEflags() & 0xffff)} want ${hex(exp.flags!)} (mask ${hex(fm)})`,
      );
    // The FLAGS word an exception pushed: at SS:SP-2 of the initial state. (The vectors'
    // flag_address is one byte low when SP is odd, so it is not used.)
    const ssBase = (t.initial.regs.ss! << 4) >>> 0;
    const flagLo = t.exception ? ssBase + ((t.initial.regs.sp! - 2) & 0xffff) : -1;
    const flagHi = t.exception ? ssBase + ((t.initial.regs.sp! - 1) & 0xffff) : -1;
    for (const [a, v] of t.final.ram) {
      let got = bench.mem.read8(a);
      let want = v;
      if (a === flagLo || a === flagHi) {
        const m = a === flagLo ? fm & 0xff : fm >> 8;
        got &= m;
        want &= m;
      }
      if (got !== want) problems.push(`[${hex(a)}]=${hex(got)} want ${hex(want)}`);
    }
    if (problems.length === 0) result.pass++;
    else {
      result.fail++;
      if (result.failures.length < 3) {
        result.failures.push(
          `#${t.idx} ${t.name} [${t.bytes.map((b) => hex(b, 2)).join(" ")}]: ${problems.join(", ")}`,
        );
      }
    }
  }
  return result;
}

function hex(v: number, width = 4): string {
  return v.toString(16).padStart(width, "0");
}

/** Everything the runner needs besides the file list. */
export function loadContext(): { revoked: Set<string>; meta: Meta } {
  const revoked = new Set(
    readFileSync(join(VECTOR_DIR, "revocation_list.txt"), "utf8")
      .split(/\s+/)
      .filter((l) => /^[0-9a-f]{40}$/.test(l)),
  );
  const meta = JSON.parse(readFileSync(join(VECTOR_DIR, "metadata.json"), "utf8")) as Meta;
  return { revoked, meta };
}

export function newBench(): Bench {
  return new Bench();
}
