/**
 * Random code in real mode and in 16- and 32-bit protected mode (flat GDT and an IDT
 * built here, every vector pointing at a HLT): whatever the bytes, run() returns an exit
 * reason and never throws, and exceptions are ones an integer x86 core can raise.
 * Encodings that iced-x86 calls invalid (on every CPU model, not just ours) must end
 * in #UD at the first instruction, and an instruction longer than 15 bytes in #GP(0).
 *
 * FUZZ_SEED and FUZZ_PROGRAMS override the seed (printed) and the programs per mode.
 */

import { Decoder, DecoderOptions, Code as IcedCode, Instruction } from "iced-x86";
import { afterAll, describe, expect, it } from "vitest";
import { recomputeSegment } from "../src/access.js";
import { EXIT_BUDGET, EXIT_HLT, EXIT_SHUTDOWN, X86Cpu } from "../src/cpu.js";
import { EV_EXCEPTION, HOOK_PASS, type X86Hooks } from "../src/hooks.js";
import { PhysMemory } from "../src/memory.js";
import {
  AR_DB,
  AR_G,
  AR_P,
  AR_S,
  AR_TYPE_ACCESSED,
  AR_TYPE_CODE,
  AR_TYPE_RW,
  CR0_PE,
  CS,
  DS,
  ES,
  FS,
  GS,
  SS,
} from "../src/regs.js";
import { CPL, CR0, EIP, GDTR_BASE, GDTR_LIMIT, IDTR_BASE, IDTR_LIMIT } from "../src/state.js";
import { rng } from "./helpers.js";

const SEED = Number(process.env.FUZZ_SEED ?? 0xf022_86) >>> 0 || 1;
const PROGRAMS = Number(process.env.FUZZ_PROGRAMS ?? 1000);
const BUDGET = 3000;

// Physical layout of the fuzz machine.
const CODE = 0x1_0000;
const STUBS = 0x1_8000; // 256 × HLT, one per vector
const DATA16 = 0x2_0000;
const STACK16 = 0x6_0000;
const STACK32_TOP = 0x7_0000;
const IDT = 0x8_0000;
const GDT = 0x8_1000;
const RAM = 0x10_0000;

type Mode = "real" | "pm16" | "pm32";

/** Access byte (P, DPL 0, S, type) and G/D flags, VMCS AR layout. */
const AR_CODE = AR_P | AR_S | AR_TYPE_CODE | AR_TYPE_RW | AR_TYPE_ACCESSED;
const AR_DATA = AR_P | AR_S | AR_TYPE_RW | AR_TYPE_ACCESSED;

interface Seg {
  sel: number;
  base: number;
  /** Byte-granular limit. */
  limit: number;
  ar: number;
}
const SEGS: Record<string, Seg> = {
  code32: { sel: 0x08, base: 0, limit: 0xffff_ffff, ar: AR_CODE | AR_DB | AR_G },
  data32: { sel: 0x10, base: 0, limit: 0xffff_ffff, ar: AR_DATA | AR_DB | AR_G },
  code16: { sel: 0x18, base: CODE, limit: 0xffff, ar: AR_CODE },
  data16: { sel: 0x20, base: DATA16, limit: 0xffff, ar: AR_DATA },
  stack16: { sel: 0x28, base: STACK16, limit: 0xffff, ar: AR_DATA },
};

/** A GDT entry from a cache: the inverse of descriptor.ts. */
function descriptor(s: Seg): [number, number] {
  const raw = s.ar & AR_G ? s.limit >>> 12 : s.limit;
  const lo = (raw & 0xffff) | ((s.base & 0xffff) << 16);
  const hi =
    ((s.base >>> 16) & 0xff) |
    ((s.ar & 0xff) << 8) |
    (raw & 0xf_0000) |
    (((s.ar >> 12) & 0xf) << 20) |
    (s.base & 0xff00_0000);
  return [lo | 0, hi | 0];
}

function write32(mem: PhysMemory, at: number, v: number): void {
  mem.load(at, [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24]);
}

function loadSeg(cpu: X86Cpu, reg: number, s: Seg): void {
  cpu.segSel[reg] = s.sel;
  cpu.segBase[reg] = s.base;
  cpu.segLimit[reg] = s.limit | 0;
  cpu.segAr[reg] = s.ar;
  recomputeSegment(cpu, reg);
}

/** Exceptions the hook saw: [vector, error code, software, EIP at delivery]. */
class Recorder implements X86Hooks {
  events: number[][] = [];
  onEvent(cpu: X86Cpu, kind: number): typeof HOOK_PASS {
    if (kind === EV_EXCEPTION) {
      const x = cpu.exitInfo;
      this.events.push([x[1]!, x[2]!, x[3]!, cpu.st[EIP]!]);
    }
    return HOOK_PASS;
  }
}

interface Machine {
  readonly cpu: X86Cpu;
  readonly rec: Recorder;
  readonly ram: Uint8Array;
}

/** One CPU and RAM per mode, reused: prepare() resets both for each program. */
function machine(): Machine {
  const mem = new PhysMemory();
  const ram = new Uint8Array(RAM);
  mem.addRam(0, ram);
  const cpu = new X86Cpu(mem);
  const rec = new Recorder();
  cpu.hooks = rec;
  return { cpu, rec, ram };
}

/** `code` at CS:start in `mode`, every interrupt vector ending at a HLT. */
function prepare(m: Machine, mode: Mode, code: Uint8Array, regs: Int32Array): void {
  const { cpu, rec, ram } = m;
  const mem = cpu.mem;
  ram.fill(0);
  ram.fill(0xf4, STUBS, STUBS + 256);
  ram.set(code, CODE);
  rec.events.length = 0;
  cpu.reset();
  cpu.regs.set(regs.subarray(0, 8));
  cpu.st[IDTR_BASE] = IDT;
  if (mode === "real") {
    for (let v = 0; v < 256; v++) {
      // IVT entry: offset, segment (CS = CODE >> 4, so stubs are at 0x8000 + v).
      write32(mem, IDT + v * 4, ((STUBS - CODE + v) & 0xffff) | ((CODE >> 4) << 16));
    }
    cpu.st[IDTR_LIMIT] = 0x3ff;
    const real = (reg: number, base: number) => {
      cpu.segSel[reg] = base >> 4;
      cpu.segBase[reg] = base;
      cpu.segLimit[reg] = 0xffff;
      recomputeSegment(cpu, reg);
    };
    real(CS, CODE);
    for (const r of [DS, ES, FS, GS]) real(r, DATA16);
    real(SS, STACK16);
    cpu.regs[4] = 0xff00;
    cpu.st[EIP] = 0;
    return;
  }
  const gdt = Object.values(SEGS);
  for (const s of gdt) {
    const [lo, hi] = descriptor(s);
    write32(mem, GDT + s.sel, lo);
    write32(mem, GDT + s.sel + 4, hi);
  }
  const pm32 = mode === "pm32";
  const cs = pm32 ? SEGS.code32! : SEGS.code16!;
  for (let v = 0; v < 256; v++) {
    const off = STUBS - cs.base + v;
    const type = pm32 ? 0xe : 0x6; // 32- or 16-bit interrupt gate, DPL 0, present
    write32(mem, IDT + v * 8, (off & 0xffff) | (cs.sel << 16));
    write32(mem, IDT + v * 8 + 4, (off & 0xffff_0000) | 0x8000 | (type << 8));
  }
  cpu.st[GDTR_BASE] = GDT;
  cpu.st[GDTR_LIMIT] = 0x2f;
  cpu.st[IDTR_LIMIT] = 256 * 8 - 1;
  cpu.st[CR0] = cpu.st[CR0]! | CR0_PE;
  cpu.st[CPL] = 0;
  loadSeg(cpu, CS, cs);
  const data = pm32 ? SEGS.data32! : SEGS.data16!;
  for (const r of [DS, ES, FS, GS]) loadSeg(cpu, r, data);
  loadSeg(cpu, SS, pm32 ? SEGS.data32! : SEGS.stack16!);
  cpu.regs[4] = pm32 ? STACK32_TOP : 0xff00;
  cpu.st[EIP] = CODE - cs.base;
}

/** Random code: mostly common one-byte opcodes and ModRM forms, some 0F, some noise. */
function program(next: () => number): Uint8Array {
  const code = new Uint8Array(64);
  for (let k = 0; k < code.length; k++) code[k] = next() & 0xff;
  return code;
}

/** Exception vectors an integer core without paging can raise by itself. */
const HARDWARE_VECTORS = new Set([0, 1, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 16, 17]);

const MODES: Mode[] = ["real", "pm16", "pm32"];
const summary: string[] = [];
afterAll(() => console.log(`fuzz seed 0x${SEED.toString(16)}\n${summary.join("\n")}`));

describe("random code never escapes the CPU", () => {
  for (const mode of MODES) {
    it(`${PROGRAMS} random programs in ${mode}`, { timeout: 10_000 + PROGRAMS * 5 }, () => {
      const next = rng(SEED ^ ((MODES.indexOf(mode) + 1) * 0x9e37_79b9));
      const exits = [0, 0, 0, 0, 0];
      const vectors = new Map<number, number>();
      let retired = 0;
      const m = machine();
      const { cpu, rec } = m;
      const bad: string[] = [];
      for (let p = 0; p < PROGRAMS; p++) {
        const code = program(next);
        const regs = new Int32Array(8);
        for (let r = 0; r < 8; r++) regs[r] = next() & 0xffff;
        prepare(m, mode, code, regs);
        const where = `seed 0x${SEED.toString(16)} ${mode} program ${p}`;
        let why: number;
        try {
          why = cpu.run(BUDGET);
        } catch (e) {
          throw new Error(`${where}: host exception ${String(e)}`, { cause: e });
        }
        expect([EXIT_BUDGET, EXIT_HLT, EXIT_SHUTDOWN], where).toContain(why);
        exits[why]!++;
        retired += cpu.instructionCount;
        expect(cpu.instructionCount, where).toBeLessThanOrEqual(BUDGET);
        for (const [v, , soft] of rec.events) {
          if (soft === 0 && !HARDWARE_VECTORS.has(v!)) bad.push(`${where}: vector ${v}`);
          vectors.set(v!, (vectors.get(v!) ?? 0) + 1);
        }
      }
      expect(bad.slice(0, 10)).toEqual([]);
      summary.push(
        `  ${mode}: exits budget ${exits[EXIT_BUDGET]} hlt ${exits[EXIT_HLT]} shutdown ${exits[EXIT_SHUTDOWN]}, ` +
          `${retired} instructions retired, vectors ${[...vectors]
            .sort((a, b) => a[0] - b[0])
            .map(([v, n]) => `${v}:${n}`)
            .join(" ")}`,
      );
    });
  }
});

/**
 * First instructions that are invalid on every x86: iced-x86 (which accepts every
 * extension) rejects them, or decodes UD0/UD1/UD2. Templates aim at the interesting
 * rows; random bytes fill the rest and iced filters.
 */
const INVALID_TEMPLATES: readonly (readonly number[])[] = [
  [0xf0], // LOCK + whatever follows
  [0x8d], // LEA with a register operand
  [0xfe], // Grp4 /2../7
  [0xff], // Grp5 /3 /5 register, /7
  [0x0f, 0x0b],
  [0x0f, 0xb9],
  [0x0f, 0xff],
  [0x0f, 0x04],
  [0x0f, 0x0a],
  [0x0f, 0x0c],
  [0x0f, 0x36],
  [0x0f, 0x39],
  [0x0f, 0x3b],
  [0x0f, 0x00], // Grp6 /6 /7
  [0x0f, 0x01], // Grp7 register forms / reserved
  [0x0f, 0xba], // Grp8 /0../3
  [0x0f, 0xc7], // Grp9
  [0xc6], // Grp11 /1../7
  [0xc7],
];
const UD_CODES = new Set<number>([IcedCode.Ud0, IcedCode.Ud0_r16_rm16, IcedCode.Ud0_r32_rm32]);
for (const name of ["Ud1_r16_rm16", "Ud1_r32_rm32", "Ud2"] as const) UD_CODES.add(IcedCode[name]);

describe("invalid first instructions fault as hardware does", () => {
  for (const mode of MODES) {
    it(`#UD for iced-invalid encodings, #GP(0) past 15 bytes, in ${mode}`, () => {
      const next = rng(SEED ^ 0x5bd1_e995 ^ MODES.indexOf(mode));
      const bits = mode === "pm32" ? 32 : 16;
      const tries = 20_000;
      const all = new Uint8Array(tries * 16);
      for (let k = 0; k < all.length; k++) all[k] = next() & 0xff;
      for (let k = 0; k < tries; k++) {
        all.set(INVALID_TEMPLATES[next() % INVALID_TEMPLATES.length]!, k * 16);
      }
      // iced copies its input: one decoder over every candidate.
      const decoder = new Decoder(bits, all, DecoderOptions.None);
      const insn = new Instruction();
      let checked = 0;
      const m = machine();
      const { cpu, rec } = m;
      try {
        for (let k = 0; k < tries && checked < 300; k++) {
          const buf = all.subarray(k * 16, k * 16 + 16);
          decoder.position = k * 16;
          decoder.decodeOut(insn);
          if (insn.code !== IcedCode.INVALID && !UD_CODES.has(insn.code)) continue;
          checked++;
          prepare(m, mode, buf, new Int32Array(8));
          const start = cpu.st[EIP]!;
          cpu.run(1);
          const where = `${mode} ${Array.from(buf.subarray(0, 8), (b) => b.toString(16)).join(" ")}`;
          expect(rec.events[0]?.[0], where).toBe(6);
          expect(rec.events[0]?.[3], where).toBe(start);
        }
        // Sixteen operand-size prefixes and a NOP: 16 bytes, #GP(0).
        const long = new Uint8Array(16).fill(0x66);
        long[15] = 0x90;
        prepare(m, mode, long, new Int32Array(8));
        cpu.run(1);
        expect(rec.events[0]?.slice(0, 2)).toEqual([13, 0]);
      } finally {
        insn.free();
        decoder.free();
      }
      expect(checked).toBe(300);
      summary.push(`  ${mode}: ${checked} iced-invalid first instructions raised #UD`);
    });
  }
});

describe("regressions found by the fuzzer", () => {
  it("mov eax,0x80000000; jmp eax in flat 32-bit code: open bus FF FF is #UD", () => {
    // Linear addresses >= 2 GiB must not read as a negative "fault" from translateFetch.
    const m = machine();
    prepare(
      m,
      "pm32",
      new Uint8Array([0xb8, 0x00, 0x00, 0x00, 0x80, 0xff, 0xe0]),
      new Int32Array(8),
    );
    m.cpu.run(3);
    expect(m.rec.events.map((e) => e[0])).toEqual([6]);
    expect(m.rec.events[0]![3]! >>> 0).toBe(0x8000_0000);
  });
});
