/**
 * Random code in 64-bit mode (IA-32e, 4-level paging identity-mapping the first 4 MiB,
 * a 64-bit IDT whose every vector goes to a HLT): whatever the bytes, run() returns an
 * exit reason and never throws, and RIP stays canonical.
 *
 * FUZZ_SEED and FUZZ_PROGRAMS override the seed (printed) and the number of programs.
 */

import { describe, expect, it } from "vitest";
import { recomputeSegment } from "../src/access.js";
import { EXIT_BUDGET, EXIT_HLT, EXIT_SHUTDOWN, X86Cpu } from "../src/cpu.js";
import { PhysMemory } from "../src/memory.js";
import {
  AR_G,
  AR_L,
  AR_P,
  AR_S,
  AR_TYPE_ACCESSED,
  AR_TYPE_CODE,
  AR_TYPE_RW,
  CR0_PE,
  CR0_PG,
  CR4_PAE,
  CS,
  DS,
  EFER_LMA,
  EFER_LME,
  ES,
  FS,
  GS,
  SS,
} from "../src/regs.js";
import {
  CR0,
  CR3,
  CR4,
  EFER,
  EIP,
  GDTR_BASE,
  GDTR_LIMIT,
  IDTR_BASE,
  IDTR_LIMIT,
  RIP_HI,
} from "../src/state.js";
import { rng } from "./helpers.js";

const SEED = Number(process.env.FUZZ_SEED ?? 0x64_f022) >>> 0 || 1;
const PROGRAMS = Number(process.env.FUZZ_PROGRAMS ?? 1000);
const BUDGET = 3000;

const CODE = 0x1_0000;
const STUBS = 0x1_8000;
const STACK_TOP = 0x7_0000;
const IDT = 0x8_0000;
const GDT = 0x8_2000;
const PML4 = 0x9_0000;
const RAM = 4 << 20;

function w32(ram: Uint8Array, at: number, v: number): void {
  new DataView(ram.buffer).setUint32(at, v >>> 0, true);
}

function machine(): { cpu: X86Cpu; ram: Uint8Array } {
  const ram = new Uint8Array(RAM);
  const mem = new PhysMemory();
  mem.addRam(0, ram);
  return { cpu: new X86Cpu(mem), ram };
}

/**
 * Page tables, GDT, IDT and exception stubs, written again before every program (a
 * random program may overwrite them, and the next one must not inherit that).
 */
function writeTables(ram: Uint8Array): void {
  // PML4 → PDPT → PD: two 2 MiB pages, 0–4 MiB.
  ram.fill(0, PML4, PML4 + 0x3000);
  w32(ram, PML4, (PML4 + 0x1000) | 7);
  w32(ram, PML4 + 0x1000, (PML4 + 0x2000) | 7);
  w32(ram, PML4 + 0x2000, 0x87);
  w32(ram, PML4 + 0x2008, 0x20_0000 | 0x87);
  // GDT: null, 64-bit code (0x08), data (0x10).
  ram.fill(0, GDT, GDT + 24);
  w32(ram, GDT + 8, 0x0000_ffff);
  w32(ram, GDT + 12, 0x00af_9a00);
  w32(ram, GDT + 16, 0x0000_ffff);
  w32(ram, GDT + 20, 0x00cf_9200);
  ram.fill(0, IDT, IDT + 256 * 16);
  for (let v = 0; v < 256; v++) {
    const off = STUBS + 16 * v;
    ram[off] = 0xf4;
    w32(ram, IDT + 16 * v, (0x08 << 16) | (off & 0xffff));
    w32(ram, IDT + 16 * v + 4, (off & 0xffff_0000) | 0x8e00);
  }
}

function enterLongMode(cpu: X86Cpu): void {
  const st = cpu.st;
  st[CR3] = PML4;
  st[CR4] = CR4_PAE;
  st[EFER] = EFER_LME | EFER_LMA;
  st[CR0] = st[CR0]! | CR0_PE | CR0_PG;
  st[GDTR_BASE] = GDT;
  st[GDTR_LIMIT] = 23;
  st[IDTR_BASE] = IDT;
  st[IDTR_LIMIT] = 256 * 16 - 1;
  cpu.segSel[CS] = 0x08;
  cpu.segBase[CS] = 0;
  cpu.segLimit[CS] = -1;
  cpu.segAr[CS] = AR_P | AR_S | AR_TYPE_CODE | AR_TYPE_RW | AR_TYPE_ACCESSED | AR_L | AR_G;
  for (const s of [DS, ES, FS, GS, SS]) {
    cpu.segSel[s] = 0x10;
    cpu.segBase[s] = 0;
    cpu.segLimit[s] = -1;
    cpu.segAr[s] = AR_P | AR_S | AR_TYPE_RW | AR_TYPE_ACCESSED | AR_G;
  }
  for (const s of [CS, DS, ES, FS, GS, SS]) recomputeSegment(cpu, s);
  cpu.flushTlb();
}

describe("random code in 64-bit mode", () => {
  it(`${PROGRAMS} random programs never escape the CPU`, { timeout: 10_000 + PROGRAMS * 5 }, () => {
    console.log(`fuzz-long seed 0x${SEED.toString(16)}, ${PROGRAMS} programs`);
    const next = rng(SEED);
    const { cpu, ram } = machine();
    const exits = new Map<number, number>();
    for (let p = 0; p < PROGRAMS; p++) {
      writeTables(ram);
      cpu.reset();
      enterLongMode(cpu);
      for (let k = 0; k < 256; k++) ram[CODE + k] = next() & 0xff;
      for (let r = 0; r < 16; r++) {
        cpu.regs[r] = next() & 0x3f_fff0;
        cpu.regsHi[r] = 0;
      }
      cpu.regs[4] = STACK_TOP;
      cpu.st[EIP] = CODE;
      cpu.st[RIP_HI] = 0;
      let why: number;
      try {
        why = cpu.run(BUDGET);
      } catch (e) {
        throw new Error(`program ${p} (seed 0x${SEED.toString(16)}) threw: ${e}`);
      }
      expect([EXIT_HLT, EXIT_BUDGET, EXIT_SHUTDOWN]).toContain(why);
      const hi = cpu.st[RIP_HI]!;
      expect((hi << 16) >> 16).toBe(hi);
      exits.set(why, (exits.get(why) ?? 0) + 1);
    }
    console.log(`  exits: ${[...exits].map(([k, v]) => `${k}: ${v}`).join(", ")}`);
  });
});
