/**
 * Decoder cross-check against iced-x86 (MIT, https://github.com/icedland/iced), an
 * independent table-driven x86 decoder. Random byte strings are decoded by both in
 * 16-bit and 32-bit mode; the instruction length must agree for every encoding iced
 * accepts, and valid/invalid must agree wherever our opcode row has its handler.
 *
 * Deliberate differences (each counted and printed; see EXCLUDED below):
 * - x87 (D8–DF): we decode the ModRM form and run `esc` (#NM / the FPU that comes later);
 *   iced knows each x87 encoding. Length is compared, validity is not — except for the
 *   x87 forms we implement (opcodes.ts X87), which are compared fully.
 * - VEX (C4/C5 with ModRM.mod = 3), EVEX (62 with mod = 3), XOP (8F with mmmmm >= 8):
 *   AVX/AVX-512/XOP, not implemented; we decode LES/LDS/BOUND/POP-with-#UD instead.
 * - SSE/MMX/3DNow!/SSSE3+ rows of the 0F map (0F 0E–0F, 10–17, 28–2F, 38 xx, 3A xx,
 *   50–7F, AE, B8, C2–C6, D0–FE and the mandatory-prefix forms of 0F 78/79) that have no
 *   row of ours (opcodes.ts SSE_0F, by mandatory prefix, and Grp15's members); the SSE
 *   rows we have are compared fully, including their #UD forms (U with memory, LOCK), and
 *   instructions of later extensions reached through group rows (0F 01 register forms
 *   beyond GROUP7_REG, 0F C7 /3–/5 and /7 register form), C6 F8 / C7 F8 (XABORT /
 *   XBEGIN, TSX), F3 0F 01 /5 memory (RSTORSSP, CET), 0F A6/A7 register forms (VIA PadLock), 0F 37 (GETSEC, SMX) and
 *   0F 05/07 (SYSCALL/SYSRET, which Intel CPUs reject outside 64-bit mode but iced
 *   accepts): our CPU model
 *   (P6-class integer core with VMX/SVM) does not have them. We decode them as #UD
 *   without their ModRM, so neither length nor validity is compared.
 * - A row whose handler is not written yet decodes as #UD ("pending"): length is
 *   compared (the descriptor still decodes operands), validity is not.
 * - Encodings invalid by an operand value (MOV Sreg 6/7 or to CS, MOV CR1/CR5–7, …)
 *   decode, and the handler raises #UD: when iced says invalid and we decode, the
 *   instruction is run once in a sandbox and must raise #UD (counted separately).
 *
 * ICED_SEED and ICED_COUNT override the seed and the strings per mode
 * (`npm run soak` in ../scripts runs a larger set).
 */
import { Decoder, DecoderOptions, Code as IcedCode, Instruction } from "iced-x86";
import { describe, expect, it } from "vitest";
import { recomputeSegment } from "../src/access.js";
import { X86Cpu } from "../src/cpu.js";
import { decodeInsn, type FetchSource, type OpDesc, opcodeDesc } from "../src/fetchdecode.js";
import { HANDLER_UD, handlerNames } from "../src/handlers.js";
import { EV_EXCEPTION, HOOK_EXIT, HOOK_PASS } from "../src/hooks.js";
import { DecodeCache } from "../src/icache.js";
import { F_MEM } from "../src/instr.js";
import { PhysMemory } from "../src/memory.js";
import {
  GROUP7_REG,
  GROUP7_REG_64,
  GROUP9_6,
  GROUP15_REG,
  GROUPS,
  SSE_0F,
  THREE_BYTE_0F38,
  X87,
} from "../src/opcodes.js";
import { AR_DB, AR_G, AR_TYPE_CODE, CR0_PE, CS, DS, ES, FS, GS, SS } from "../src/regs.js";
import { CPL, CR0, EIP } from "../src/state.js";
import { rng } from "./helpers.js";

const SEED = Number(process.env.ICED_SEED ?? 0x1ced_86) >>> 0 || 1;
const COUNT = Number(process.env.ICED_COUNT ?? 100_000);
const STRIDE = 16;

const PREFIXES = [0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65];

/**
 * Random instruction-shaped byte strings: a quarter uniformly random, the rest a few
 * prefixes, a one-byte or 0F (0F 38 / 0F 3A) opcode and random operand bytes.
 */
function generate(count: number, seed: number): Uint8Array {
  const next = rng(seed);
  const buf = new Uint8Array(count * STRIDE);
  for (let k = 0; k < count; k++) {
    const at = k * STRIDE;
    for (let j = 0; j < STRIDE; j++) buf[at + j] = next() & 0xff;
    if (next() % 4 === 0) continue;
    let p = at;
    while (next() % 3 === 0 && p - at < 4) buf[p++] = PREFIXES[next() % PREFIXES.length]!;
    if (next() % 2 === 0) {
      buf[p++] = 0x0f;
      const r = next() % 16;
      if (r === 0) buf[p++] = 0x38;
      else if (r === 1) buf[p++] = 0x3a;
    }
  }
  return buf;
}

/** A FetchSource over `bytes` at `start`. */
class ArraySource implements FetchSource {
  start = 0;
  constructor(private readonly bytes: Uint8Array) {}
  fetch(offset: number): number {
    return this.bytes[this.start + offset] ?? -13;
  }
}

/** The opcode bytes of the string at `at`, after the prefixes our decoder knows. */
interface Shape {
  p66: boolean;
  pF3: boolean;
  pF2: boolean;
  /** 1 = one-byte map, 2 = 0F, 3 = 0F 38, 4 = 0F 3A; 0 = only prefixes (too long). */
  map: number;
  op: number;
  /** The byte after the opcode (ModRM when the row has one). */
  modrm: number;
  /** O32 in effect (CS.D xor 66). */
  o32: boolean;
}

function shapeOf(b: Uint8Array, at: number, def32: boolean): Shape {
  let p = at;
  let p66 = false;
  let pF3 = false;
  let pF2 = false;
  while (p < at + 15 && PREFIXES.includes(b[p]!)) {
    if (b[p] === 0x66) p66 = true;
    if (b[p] === 0xf3) [pF3, pF2] = [true, false];
    if (b[p] === 0xf2) [pF3, pF2] = [false, true];
    p++;
  }
  const s: Shape = { p66, pF3, pF2, map: 0, op: 0, modrm: 0, o32: def32 !== p66 };
  if (p >= at + 15) return s;
  if (b[p] !== 0x0f) return { ...s, map: 1, op: b[p]!, modrm: b[p + 1]! };
  const op2 = b[p + 1]!;
  if (op2 === 0x38) return { ...s, map: 3, op: b[p + 2]!, modrm: b[p + 3]! };
  if (op2 === 0x3a) return { ...s, map: 4, op: b[p + 2]!, modrm: b[p + 3]! };
  return { ...s, map: 2, op: op2, modrm: b[p + 2]! };
}

/** How an encoding is treated: compared fully, length only, or not at all. */
type Treatment = "full" | "length" | "skip";

const SSE_MMX_0F = new Set<number>();
for (const [lo, hi] of [
  [0x0e, 0x0f],
  [0x10, 0x17],
  [0x28, 0x2f],
  [0x50, 0x77],
  [0x7a, 0x7f],
  [0xc2, 0xc6],
  [0xd0, 0xfe],
] as const) {
  for (let op = lo; op <= hi; op++) SSE_MMX_0F.add(op);
}
SSE_MMX_0F.add(0xae); // Grp15: FXSAVE, LDMXCSR, fences, CLFLUSH
SSE_MMX_0F.add(0xb8); // F3 0F B8 POPCNT (0F B8 alone is JMPE, invalid in both)

/** The mandatory-prefix column of a shape in SSE_0F: none, 66, F3, F2. */
function ssePrefix(s: Shape): number {
  return s.pF3 ? 2 : s.pF2 ? 3 : s.p66 ? 1 : 0;
}

/** Our row for an SSE cell of the 0F map (Grp15: its member), or null if we have none. */
function sseRow(s: Shape): string | null {
  const cell = SSE_0F[s.op];
  if (s.map !== 2 || cell === undefined) return null;
  const row = cell[ssePrefix(s)] ?? null;
  if (row !== "#grp15") return row;
  const reg = (s.modrm >> 3) & 7;
  return (s.modrm >> 6 === 3 ? GROUP15_REG[reg] : GROUPS.grp15![reg]) ?? null;
}

/** Our row for an implemented x87 form (opcodes.ts X87), or undefined. */
function x87Row(s: Shape): string | undefined {
  const op = s.op.toString(16).toUpperCase();
  if (s.modrm >> 6 === 3) return X87[`${op} ${s.modrm.toString(16).toUpperCase()}`];
  return X87[`${op} /${(s.modrm >> 3) & 7}`];
}

/** The excluded encodings, by name, as the report prints them. */
function exclusion(s: Shape): [string, Treatment] | null {
  const mod3 = s.modrm >> 6 === 3;
  const reg = (s.modrm >> 3) & 7;
  if (s.map === 1) {
    if (s.op >= 0xd8 && s.op <= 0xdf) return x87Row(s) ? null : ["x87 D8-DF", "length"];
    if ((s.op === 0xc4 || s.op === 0xc5) && mod3) return ["VEX C4/C5", "skip"];
    if (s.op === 0x62 && mod3) return ["EVEX 62", "skip"];
    if (s.op === 0x8f && (s.modrm & 0x1f) >= 8) return ["XOP 8F", "skip"];
    if ((s.op === 0xc6 || s.op === 0xc7) && s.modrm === 0xf8)
      return ["XABORT/XBEGIN (TSX)", "skip"];
    return null;
  }
  if (s.map === 3) {
    if (s.p66 && (s.op === 0x80 || s.op === 0x81)) return null; // INVEPT / INVVPID
    return ["SSE 0F 38", "skip"];
  }
  if (s.map === 4) return ["SSE 0F 3A", "skip"];
  if (s.map !== 2) return null;
  if (sseRow(s) !== null) return null;
  if (SSE_MMX_0F.has(s.op)) return ["SSE/MMX 0F", "skip"];
  if ((s.op === 0x78 || s.op === 0x79) && (s.p66 || s.pF2 || s.pF3)) {
    return ["SSE4a EXTRQ/INSERTQ", "skip"];
  }
  if (s.op === 0x05 || s.op === 0x07) return ["SYSCALL/SYSRET", "skip"];
  if (s.op === 0x37) return ["GETSEC (SMX)", "skip"];
  if ((s.op === 0xa6 || s.op === 0xa7) && mod3) return ["VIA PadLock 0F A6/A7", "skip"];
  if (s.op === 0x01 && mod3 && GROUP7_REG[s.modrm] === undefined && reg !== 4 && reg !== 6) {
    return ["0F 01 reg forms (SMAP, TSX, PKU, ...)", "skip"];
  }
  if (s.op === 0x01 && !mod3 && reg === 5 && s.pF3) return ["F3 0F 01 /5 (CET RSTORSSP)", "skip"];
  if (s.op === 0xc7 && (reg === 3 || reg === 4 || reg === 5 || (reg === 7 && mod3))) {
    return ["0F C7 XSAVES/XSAVEC/RDSEED", "skip"];
  }
  return null;
}

const NAMES = new Set(handlerNames());
function nameHasHandler(mnemonic: string): boolean {
  const m = mnemonic.toLowerCase();
  for (const n of NAMES) if (n === m || n.startsWith(`${m}_`)) return true;
  return false;
}

/**
 * Whether our row for this encoding exists but has no handler yet (the decoder then
 * stores #UD). Returns the row's handler name, or null when the table itself says #UD or
 * the handler exists.
 */
function pendingHandler(s: Shape, isMem: boolean): string | null {
  const reg = (s.modrm >> 3) & 7;
  const mod3 = s.modrm >> 6 === 3;
  const byName = (row: string | undefined): string | null => {
    if (row === undefined) return null;
    const mn = row.split(" ")[0]!;
    return nameHasHandler(mn) ? null : mn.toLowerCase();
  };
  if (s.map === 3) return s.p66 ? byName(THREE_BYTE_0F38[s.op]) : null;
  if (s.map !== 1 && s.map !== 2) return null;
  let desc: OpDesc | null = opcodeDesc(s.map, s.op);
  if (desc?.special === "sse") desc = desc.group?.[ssePrefix(s)] ?? null;
  if (desc === null) return null;
  if (desc.special === "grp15") {
    desc = desc.group?.[mod3 ? 8 + reg : reg] ?? null;
  } else if (desc.special === "grp7" && mod3) {
    const row = GROUP7_REG[s.modrm];
    if (row !== undefined) return byName(row);
    desc = reg === 4 || reg === 6 ? (desc.group?.[reg] ?? null) : null;
  } else if (desc.special === "grp9" && reg === 6) {
    return byName(
      mod3 ? GROUP9_6.reg : s.p66 ? GROUP9_6.p66 : s.pF3 ? GROUP9_6.pF3 : GROUP9_6.none,
    );
  } else if (desc.group) {
    desc = desc.group[reg] ?? null;
  }
  if (desc === null) return null;
  const id = desc.handlers[(s.o32 ? 2 : 0) + (isMem ? 1 : 0)];
  return id === HANDLER_UD ? desc.name : null;
}

/**
 * Some encodings are invalid because of an operand *value* the handler checks, as the
 * SDM words it (MOV Sreg with Sreg 6/7 or to CS, MOV CRn with CR1/CR5–7, …): we decode
 * them and the handler raises #UD. This runs one instruction at 0x1000 (real mode for
 * 16-bit, flat protected mode at CPL 0 for 32-bit) and says whether it raised #UD there.
 */
class Sandbox {
  private readonly ram = new Uint8Array(1 << 20);
  private readonly cpu: X86Cpu;
  private vector = -1;
  private at = 0;
  constructor(private readonly bits: 16 | 32) {
    const mem = new PhysMemory();
    mem.addRam(0, this.ram);
    this.cpu = new X86Cpu(mem);
    this.cpu.hooks = {
      onEvent: (cpu, kind) => {
        if (kind !== EV_EXCEPTION || this.vector >= 0) return HOOK_PASS;
        this.vector = cpu.exitInfo[1]!;
        this.at = cpu.st[EIP]!;
        return HOOK_EXIT;
      },
    };
  }
  raisesUd(bytes: Uint8Array): boolean {
    const cpu = this.cpu;
    cpu.reset();
    this.ram.fill(0, 0x1000, 0x1010);
    this.ram.set(bytes.subarray(0, 15), 0x1000);
    if (this.bits === 32) cpu.st[CR0] = cpu.st[CR0]! | CR0_PE;
    cpu.st[CPL] = 0;
    for (const r of [CS, DS, ES, FS, GS, SS]) {
      cpu.segSel[r] = this.bits === 32 ? (r === CS ? 8 : 16) : 0;
      cpu.segBase[r] = 0;
      if (this.bits === 32) {
        cpu.segLimit[r] = -1;
        cpu.segAr[r] = 0x93 | AR_DB | AR_G | (r === CS ? AR_TYPE_CODE : 0);
      }
      recomputeSegment(cpu, r);
    }
    cpu.regs[4] = 0x8000;
    cpu.st[EIP] = 0x1000;
    this.vector = -1;
    cpu.run(1);
    return this.vector === 6 && this.at === 0x1000;
  }
}

interface ModeReport {
  bits: 16 | 32;
  total: number;
  excluded: Map<string, number>;
  lengthCompared: number;
  lengthAgree: number;
  validityCompared: number;
  validityAgree: number;
  /** Of those, decoded but #UD raised by the handler (operand-value checks). */
  udAtExecution: number;
  pending: Map<string, number>;
  disagreements: string[];
  /** Disagreements by kind and opcode. */
  byOpcode: Map<string, number>;
}

function hex(b: Uint8Array, at: number, n: number): string {
  return Array.from(b.subarray(at, at + n), (x) => x.toString(16).padStart(2, "0")).join(" ");
}

function crossCheck(bits: 16 | 32, bytes: Uint8Array, count: number): ModeReport {
  const def32 = bits === 32;
  const dc = new DecodeCache();
  const src = new ArraySource(bytes);
  const decoder = new Decoder(bits, bytes, DecoderOptions.None);
  const insn = new Instruction();
  const sandbox = new Sandbox(bits);
  const r: ModeReport = {
    bits,
    total: count,
    excluded: new Map(),
    lengthCompared: 0,
    lengthAgree: 0,
    validityCompared: 0,
    validityAgree: 0,
    udAtExecution: 0,
    pending: new Map(),
    disagreements: [],
    byOpcode: new Map(),
  };
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  try {
    for (let k = 0; k < count; k++) {
      const at = k * STRIDE;
      decoder.position = at;
      decoder.decodeOut(insn);
      const icedValid = insn.code !== IcedCode.INVALID;
      const icedLen = insn.length;

      src.start = at;
      const n = decodeInsn(dc, 0, src, def32);
      const op = dc.op[0]!;
      const ourValid = n >= 0 && op !== HANDLER_UD;

      const s = shapeOf(bytes, at, def32);
      const ex = exclusion(s);
      let treat: Treatment = "full";
      if (ex) {
        bump(r.excluded, ex[0]);
        treat = ex[1];
        if (treat === "skip") continue;
      }
      const pending =
        n >= 0 && op === HANDLER_UD ? pendingHandler(s, (dc.flags[0]! & F_MEM) !== 0) : null;
      if (pending !== null) {
        bump(r.pending, pending);
        treat = "length";
      }
      const what = (msg: string) => {
        const map = ["", "", "0f ", "0f 38 ", "0f 3a "][s.map];
        bump(r.byOpcode, `${msg} ${map}${s.op.toString(16).padStart(2, "0")}`);
        return `${bits}-bit ${hex(bytes, at, Math.max(icedLen, n, 1))}: ${msg} (iced ${icedValid ? `len ${icedLen}` : "invalid"}, ours ${n < 0 ? "fetch fault" : ourValid ? `len ${n}` : `#UD len ${n}`})`;
      };
      // Length: for every encoding iced accepts that our table decodes as an instruction.
      if (icedValid && (ourValid || pending !== null || treat === "length")) {
        r.lengthCompared++;
        if (n === icedLen) r.lengthAgree++;
        else r.disagreements.push(what("length"));
      }
      if (treat !== "full") continue;
      r.validityCompared++;
      if (icedValid === ourValid) r.validityAgree++;
      else if (!icedValid && sandbox.raisesUd(bytes.subarray(at, at + STRIDE))) {
        r.validityAgree++;
        r.udAtExecution++;
      } else r.disagreements.push(what("validity"));
    }
  } finally {
    insn.free();
    decoder.free();
  }
  return r;
}

function report(r: ModeReport): string {
  const ex = [...r.excluded].sort((a, b) => b[1] - a[1]);
  const exTotal = ex.reduce((a, [, v]) => a + v, 0);
  const pend = [...r.pending].sort((a, b) => b[1] - a[1]);
  const pendTotal = pend.reduce((a, [, v]) => a + v, 0);
  return [
    `iced-x86 cross-check, ${r.bits}-bit, seed 0x${SEED.toString(16)}: ${r.total} strings`,
    `  length agree   ${r.lengthAgree}/${r.lengthCompared}`,
    `  validity agree ${r.validityAgree}/${r.validityCompared} (${r.udAtExecution} of them decode, then the handler raises #UD)`,
    `  excluded ${exTotal}: ${ex.map(([k, v]) => `${k} ${v}`).join(", ")}`,
    `  pending handlers (length only) ${pendTotal}: ${pend
      .slice(0, 40)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}${pend.length > 40 ? ", ..." : ""}`,
    `  disagreements ${r.disagreements.length}: ${[...r.byOpcode]
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
    ...r.disagreements.slice(0, 30).map((d) => `  DISAGREE ${d}`),
  ].join("\n");
}

describe("decoder vs iced-x86", () => {
  const bytes = generate(COUNT, SEED);
  for (const bits of [16, 32] as const) {
    it(`${COUNT} random byte strings in ${bits}-bit mode agree on length and validity`, () => {
      const r = crossCheck(bits, bytes, COUNT);
      console.log(report(r));
      expect(r.lengthCompared).toBeGreaterThan(COUNT / 4);
      expect(r.disagreements.slice(0, 30)).toEqual([]);
    }, 120_000);
  }
});

// 64-bit mode ----------------------------------------------------------------------------

/**
 * Strings for 64-bit mode: as `generate`, with a REX prefix (40–4F) before the opcode in
 * half of the shaped ones.
 */
function generate64(count: number, seed: number): Uint8Array {
  const next = rng(seed ^ 0x6464);
  const buf = new Uint8Array(count * STRIDE);
  for (let k = 0; k < count; k++) {
    const at = k * STRIDE;
    for (let j = 0; j < STRIDE; j++) buf[at + j] = next() & 0xff;
    if (next() % 4 === 0) continue;
    let p = at;
    while (next() % 3 === 0 && p - at < 4) buf[p++] = PREFIXES[next() % PREFIXES.length]!;
    if (next() % 2 === 0) buf[p++] = 0x40 | (next() & 15);
    if (next() % 2 === 0) {
      buf[p++] = 0x0f;
      const r = next() % 16;
      if (r === 0) buf[p++] = 0x38;
      else if (r === 1) buf[p++] = 0x3a;
    }
  }
  return buf;
}

/** shapeOf for 64-bit mode: REX bytes are skipped like prefixes. */
function shapeOf64(b: Uint8Array, at: number): Shape {
  let p = at;
  let p66 = false;
  let pF3 = false;
  let pF2 = false;
  while (p < at + 15 && (PREFIXES.includes(b[p]!) || (b[p]! & 0xf0) === 0x40)) {
    if (b[p] === 0x66) p66 = true;
    if (b[p] === 0xf3) [pF3, pF2] = [true, false];
    if (b[p] === 0xf2) [pF3, pF2] = [false, true];
    p++;
  }
  const s: Shape = { p66, pF3, pF2, map: 0, op: 0, modrm: 0, o32: !p66 };
  if (p >= at + 15) return s;
  if (b[p] !== 0x0f) return { ...s, map: 1, op: b[p]!, modrm: b[p + 1]! };
  const op2 = b[p + 1]!;
  if (op2 === 0x38) return { ...s, map: 3, op: b[p + 2]!, modrm: b[p + 3]! };
  if (op2 === 0x3a) return { ...s, map: 4, op: b[p + 2]!, modrm: b[p + 3]! };
  return { ...s, map: 2, op: op2, modrm: b[p + 2]! };
}

/** The exclusions of 16/32-bit code, adjusted for 64-bit mode. */
function exclusion64(s: Shape): [string, Treatment] | null {
  const mod3 = s.modrm >> 6 === 3;
  const reg = (s.modrm >> 3) & 7;
  if (s.map === 1 && (s.op === 0xc4 || s.op === 0xc5)) return ["VEX C4/C5", "skip"];
  if (s.map === 1 && s.op === 0x62) return ["EVEX 62", "skip"];
  if (s.map === 2 && s.op === 0x00 && s.pF2 && ((s.modrm >> 3) & 7) === 6) {
    return ["LKGS F2 0F 00 /6 (FRED)", "skip"];
  }
  if (s.map === 2 && s.op === 0xc7 && s.pF3 && mod3 && reg === 6) {
    return ["SENDUIPI F3 0F C7 /6 (UINTR)", "skip"];
  }
  // SYSCALL / SYSRET are rows of 64-bit mode.
  if (s.map === 2 && (s.op === 0x05 || s.op === 0x07)) return null;
  if (s.map === 2 && s.op === 0x01 && mod3 && GROUP7_REG_64[s.modrm] !== undefined) return null;
  if (
    s.map === 2 &&
    s.op === 0x01 &&
    mod3 &&
    GROUP7_REG[s.modrm] === undefined &&
    reg !== 4 &&
    reg !== 6
  ) {
    return ["0F 01 reg forms (SMAP, TSX, PKU, ...)", "skip"];
  }
  return exclusion(s);
}

interface Report64 {
  total: number;
  excluded: Map<string, number>;
  lengthCompared: number;
  lengthAgree: number;
  /** Encodings our maps reject (table #UD, i64 rows): iced must reject them too. */
  invalidCompared: number;
  invalidAgree: number;
  disagreements: string[];
}

/**
 * 64-bit mode: instruction length for every encoding iced accepts and our maps decode,
 * and agreement where our maps reject an encoding (i64 rows, undefined opcodes, group
 * holes). Handlers of 64-bit mode come with long-mode execution; until a row has one it
 * decodes as #UD, which is not compared (`table` tells the two kinds of #UD apart).
 */
function crossCheck64(bytes: Uint8Array, count: number): Report64 {
  const dc = new DecodeCache();
  const src = new ArraySource(bytes);
  const decoder = new Decoder(64, bytes, DecoderOptions.None);
  const insn = new Instruction();
  const r: Report64 = {
    total: count,
    excluded: new Map(),
    lengthCompared: 0,
    lengthAgree: 0,
    invalidCompared: 0,
    invalidAgree: 0,
    disagreements: [],
  };
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  try {
    for (let k = 0; k < count; k++) {
      const at = k * STRIDE;
      decoder.position = at;
      decoder.decodeOut(insn);
      const icedValid = insn.code !== IcedCode.INVALID;
      const icedLen = insn.length;
      src.start = at;
      const n = decodeInsn(dc, 0, src, 64);
      const s = shapeOf64(bytes, at);
      const ex = exclusion64(s);
      if (ex) {
        bump(r.excluded, ex[0]);
        if (ex[1] === "skip") continue;
      }
      const rejected =
        n >= 0 && dc.op[0] === HANDLER_UD && tableRejects64(s, (dc.flags[0]! & F_MEM) !== 0);
      const what = (msg: string) =>
        `64-bit ${hex(bytes, at, Math.max(icedLen, n, 1))}: ${msg} (iced ${icedValid ? `len ${icedLen}` : "invalid"}, ours ${n < 0 ? "fetch fault" : rejected ? "#UD by the maps" : `len ${n}`})`;
      if (icedValid && n >= 0 && !rejected) {
        r.lengthCompared++;
        if (n === icedLen) r.lengthAgree++;
        else r.disagreements.push(what("length"));
      }
      if (rejected && (ex === null || ex[1] === "full")) {
        r.invalidCompared++;
        if (!icedValid) r.invalidAgree++;
        else r.disagreements.push(what("validity"));
      }
    }
  } finally {
    insn.free();
    decoder.free();
  }
  return r;
}

/** True when 64-bit mode's maps themselves say #UD for this shape (no row, or a hole). */
function tableRejects64(s: Shape, isMem: boolean): boolean {
  const reg = (s.modrm >> 3) & 7;
  const mod3 = s.modrm >> 6 === 3;
  if (s.map === 3) return !(s.p66 && THREE_BYTE_0F38[s.op] !== undefined);
  if (s.map !== 1 && s.map !== 2) return false;
  let desc: OpDesc | null = opcodeDesc(s.map, s.op, true);
  if (desc?.special === "sse") desc = desc.group?.[ssePrefix(s)] ?? null;
  if (desc === null) return true;
  if (desc.special === "grp15") {
    desc = desc.group?.[mod3 ? 8 + reg : reg] ?? null;
  } else if (desc.special === "grp7" && mod3) {
    if (GROUP7_REG[s.modrm] !== undefined || GROUP7_REG_64[s.modrm] !== undefined) return false;
    desc = reg === 4 || reg === 6 ? (desc.group?.[reg] ?? null) : null;
  } else if (desc.special === "grp9" && reg === 6) {
    return s.pF3 && mod3;
  } else if (desc.group) {
    desc = desc.group[reg] ?? null;
  }
  if (desc === null) return true;
  return (desc.memOnly && !isMem) || (desc.regOnly && isMem);
}

describe("decoder vs iced-x86, 64-bit mode", () => {
  it(`${COUNT} random byte strings in 64-bit mode agree on length and on what is invalid`, () => {
    const bytes = generate64(COUNT, SEED);
    const r = crossCheck64(bytes, COUNT);
    const ex = [...r.excluded].sort((a, b) => b[1] - a[1]);
    console.log(
      [
        `iced-x86 cross-check, 64-bit, seed 0x${SEED.toString(16)}: ${r.total} strings`,
        `  length agree  ${r.lengthAgree}/${r.lengthCompared}`,
        `  invalid agree ${r.invalidAgree}/${r.invalidCompared} (encodings our maps reject)`,
        `  excluded ${ex.reduce((a, [, v]) => a + v, 0)}: ${ex.map(([k, v]) => `${k} ${v}`).join(", ")}`,
        ...r.disagreements.slice(0, 30).map((d) => `  DISAGREE ${d}`),
      ].join("\n"),
    );
    expect(r.lengthCompared).toBeGreaterThan(COUNT / 4);
    expect(r.invalidCompared).toBeGreaterThan(COUNT / 100);
    expect(r.disagreements.slice(0, 30)).toEqual([]);
  }, 120_000);
});
