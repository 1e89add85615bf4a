/**
 * Generates src/insn/long.gen.ts: 64-bit mode's hottest handlers — the ALU group, TEST
 * and MOV at 32 and 64 bits, register and memory forms — one plain function each, as
 * gen/alu.ts does for 16/32-bit code (long.ts's shared closures are megamorphic to V8).
 * 32-bit results zero-extend into bits 63:32; 64-bit ones keep flags through flags64.
 * 8- and 16-bit forms stay with long.ts. Run `npm run gen -w @glassvm/x86`; a test checks
 * the checked-in file is current.
 */

type Size = 32 | 64;

interface Op {
  readonly name: string;
  /** 0 ADD, 1 OR, 2 ADC, 3 SBB, 4 AND, 5 SUB, 6 XOR, 7 CMP, 8 TEST. */
  readonly kind: number;
  readonly write: boolean;
}

const OPS: readonly Op[] = [
  { name: "add", kind: 0, write: true },
  { name: "or", kind: 1, write: true },
  { name: "adc", kind: 2, write: true },
  { name: "sbb", kind: 3, write: true },
  { name: "and", kind: 4, write: true },
  { name: "sub", kind: 5, write: true },
  { name: "xor", kind: 6, write: true },
  { name: "cmp", kind: 7, write: false },
  { name: "test", kind: 8, write: false },
];

const LF = [
  "LF_ADD",
  "LF_LOGIC",
  "LF_ADC",
  "LF_SBB",
  "LF_LOGIC",
  "LF_SUB",
  "LF_LOGIC",
  "LF_SUB",
  "LF_LOGIC",
];
const EXPR32 = [
  "(d + s) | 0",
  "d | s",
  "(d + s + c) | 0",
  "(d - s - c) | 0",
  "d & s",
  "(d - s) | 0",
  "d ^ s",
  "(d - s) | 0",
  "d & s",
];
const LOGIC = ["", "|", "", "", "&", "", "^", "", "&"];

const carries = (op: Op) => op.kind === 2 || op.kind === 3;

/** Statements: d, dh, s, sh in scope → lo, hi and the flags of a 64-bit `op`. */
function compute64(op: Op): string[] {
  const c = carries(op) ? "const c = getCF(cpu.st);" : "const c = 0;";
  if (op.kind === 0 || op.kind === 2) {
    return [
      c,
      "const l = (d >>> 0) + (s >>> 0) + c;",
      "const lo = l | 0;",
      "const h = (dh >>> 0) + (sh >>> 0) + (l >= TWO32 ? 1 : 0);",
      "const hi = h | 0;",
      "flags64(cpu, lo, hi, h >= TWO32 ? 1 : 0, ((d ^ s ^ lo) >> 4) & 1, ((dh ^ hi) & (sh ^ hi)) >>> 31);",
    ];
  }
  if (op.kind === 3 || op.kind === 5 || op.kind === 7) {
    return [
      c,
      "const l = (d >>> 0) - (s >>> 0) - c;",
      "const lo = l | 0;",
      "const h = (dh >>> 0) - (sh >>> 0) - (l < 0 ? 1 : 0);",
      "const hi = h | 0;",
      "flags64(cpu, lo, hi, h < 0 ? 1 : 0, ((d ^ s ^ lo) >> 4) & 1, ((dh ^ sh) & (dh ^ hi)) >>> 31);",
    ];
  }
  const o = LOGIC[op.kind]!;
  return [`const lo = d ${o} s;`, `const hi = dh ${o} sh;`, "flags64(cpu, lo, hi, 0, 0, 0);"];
}

/** Statements: d, s in scope → r and the flags of a 32-bit `op`. */
function compute32(op: Op): string[] {
  return [
    ...(carries(op) ? ["const c = getCF(cpu.st);"] : []),
    `const r = ${EXPR32[op.kind]};`,
    "const st = cpu.st;",
    `st[LF_OP] = ${LF[op.kind]};`,
    "st[LF_SIZE] = 32;",
    "st[LF_DST] = d;",
    "st[LF_SRC] = s;",
    "st[LF_RES] = r;",
    ...(carries(op) ? ["st[LF_CARRY] = c;"] : []),
  ];
}

function fn(name: string, body: string[]): string {
  return [
    `function ${name}(cpu: X86Cpu, i: number): void {`,
    ...body.map((l) => `  ${l}`),
    "}",
  ].join("\n");
}

/** Source operand statements for form "G" (a register) or "I" (the immediate). */
function source(size: Size, src: "G" | "I"): string[] {
  if (src === "G") {
    return size === 64
      ? ["const m = dc.reg[i]!;", "const s = cpu.regs[m]!;", "const sh = cpu.regsHi[m]!;"]
      : ["const s = cpu.regs[dc.reg[i]!]!;"];
  }
  return size === 64 ? ["const s = dc.imm[i]!;", "const sh = s >> 31;"] : ["const s = dc.imm[i]!;"];
}

/** `op E, G|I`. */
function toE(op: Op, size: Size, src: "G" | "I", mem: boolean, name: string): string {
  const body = ["const dc = cpu.dc;", ...source(size, src)];
  if (!mem) {
    body.push("const n = dc.rm[i]!;", "const d = cpu.regs[n]!;");
    if (size === 64) {
      body.push("const dh = cpu.regsHi[n]!;", ...compute64(op));
      if (op.write) body.push("cpu.regs[n] = lo;", "cpu.regsHi[n] = hi;");
    } else {
      body.push(...compute32(op));
      if (op.write) body.push("cpu.regs[n] = r;", "cpu.regsHi[n] = 0;");
    }
  } else {
    const bytes = size >> 3;
    body.push("const a = ea64(cpu, i);");
    body.push(
      op.write
        ? `const d = rmwRead64(cpu, dc.seg[i]!, a, cpu.st[EA_HI]!, ${bytes});`
        : size === 64
          ? "const d = readQ(cpu, dc.seg[i]!, a, cpu.st[EA_HI]!);"
          : "const d = read64(cpu, dc.seg[i]!, a, cpu.st[EA_HI]!, 4);",
    );
    body.push("if (cpu.st[STOP] === STOP_FAULT) return;");
    if (size === 64) {
      body.push("const dh = cpu.st[VAL_HI]!;", ...compute64(op));
      if (op.write) body.push("rmwWrite64(cpu, 8, lo, hi);");
    } else {
      body.push(...compute32(op));
      if (op.write) body.push("rmwWrite64(cpu, 4, r);");
    }
  }
  return fn(name, body);
}

/** `op G, E`. */
function toG(op: Op, size: Size, mem: boolean, name: string): string {
  const body = ["const dc = cpu.dc;"];
  if (!mem) {
    body.push("const m = dc.rm[i]!;", "const s = cpu.regs[m]!;");
    if (size === 64) body.push("const sh = cpu.regsHi[m]!;");
  } else {
    body.push(
      "const a = ea64(cpu, i);",
      size === 64
        ? "const s = readQ(cpu, dc.seg[i]!, a, cpu.st[EA_HI]!);"
        : "const s = read64(cpu, dc.seg[i]!, a, cpu.st[EA_HI]!, 4);",
      "if (cpu.st[STOP] === STOP_FAULT) return;",
    );
    if (size === 64) body.push("const sh = cpu.st[VAL_HI]!;");
  }
  body.push("const n = dc.reg[i]!;", "const d = cpu.regs[n]!;");
  if (size === 64) {
    body.push("const dh = cpu.regsHi[n]!;", ...compute64(op));
    if (op.write) body.push("cpu.regs[n] = lo;", "cpu.regsHi[n] = hi;");
  } else {
    body.push(...compute32(op));
    if (op.write) body.push("cpu.regs[n] = r;", "cpu.regsHi[n] = 0;");
  }
  return fn(name, body);
}

/** MOV E,G / G,E / E,Iz. */
function mov(form: "EG" | "GE" | "EI", size: Size, mem: boolean, name: string): string {
  const body = ["const dc = cpu.dc;"];
  const hi = size === 64;
  if (form === "GE") {
    if (!mem) {
      body.push("const m = dc.rm[i]!;", "const v = cpu.regs[m]!;");
      if (hi) body.push("const vh = cpu.regsHi[m]!;");
    } else {
      body.push(
        "const a = ea64(cpu, i);",
        hi
          ? "const v = readQ(cpu, dc.seg[i]!, a, cpu.st[EA_HI]!);"
          : "const v = read64(cpu, dc.seg[i]!, a, cpu.st[EA_HI]!, 4);",
        "if (cpu.st[STOP] === STOP_FAULT) return;",
      );
      if (hi) body.push("const vh = cpu.st[VAL_HI]!;");
    }
    body.push("const n = dc.reg[i]!;", "cpu.regs[n] = v;", `cpu.regsHi[n] = ${hi ? "vh" : "0"};`);
    return fn(name, body);
  }
  if (form === "EI") {
    body.push("const v = dc.imm[i]!;");
    if (hi) body.push("const vh = v >> 31;");
  } else {
    body.push("const m = dc.reg[i]!;", "const v = cpu.regs[m]!;");
    if (hi) body.push("const vh = cpu.regsHi[m]!;");
  }
  if (!mem) {
    body.push("const n = dc.rm[i]!;", "cpu.regs[n] = v;", `cpu.regsHi[n] = ${hi ? "vh" : "0"};`);
  } else {
    body.push(
      "const a = ea64(cpu, i);",
      hi
        ? "writeQ(cpu, dc.seg[i]!, a, cpu.st[EA_HI]!, v, vh);"
        : "write64(cpu, dc.seg[i]!, a, cpu.st[EA_HI]!, 4, v);",
    );
  }
  return fn(name, body);
}

export function generate(): string {
  const fns: string[] = [];
  const table: string[] = [];
  const aliases: string[] = [];
  /** name → (size → {reg, mem}) for the table. */
  const add = (row: string, make: (size: Size, mem: boolean, name: string) => string) => {
    const parts: string[] = [];
    for (const size of [32, 64] as const) {
      const reg = `${row}_o${size}_reg`;
      const mem = `${row}_o${size}_mem`;
      fns.push(make(size, false, reg), make(size, true, mem));
      parts.push(`o${size}: { reg: ${reg}, mem: ${mem} }`);
    }
    table.push(`  ${row}: { o16: sizeOf(LONG.${row}!, "o16"), ${parts.join(", ")} },`);
  };
  for (const op of OPS) {
    if (op.name === "test") {
      add("test_Ev_Gv", (size, mem, name) => toE(op, size, "G", mem, name));
      add("test_Ev_Iz", (size, mem, name) => toE(op, size, "I", mem, name));
      continue;
    }
    add(`${op.name}_Ev_Gv`, (size, mem, name) => toE(op, size, "G", mem, name));
    add(`${op.name}_Gv_Ev`, (size, mem, name) => toG(op, size, mem, name));
    add(`${op.name}_Ev_Iz`, (size, mem, name) => toE(op, size, "I", mem, name));
    // Ib is sign-extended by the decoder: the same handlers as Iz.
    aliases.push(`  ${op.name}_Ev_Ib: LONG_GEN_SELF.${op.name}_Ev_Iz!,`);
  }
  add("mov_Ev_Gv", (size, mem, name) => mov("EG", size, mem, name));
  add("mov_Gv_Ev", (size, mem, name) => mov("GE", size, mem, name));
  add("mov_Ev_Iz", (size, mem, name) => mov("EI", size, mem, name));
  return [
    "// GENERATED by packages/x86/gen/long.ts — do not edit; run `npm run gen -w @glassvm/x86`.",
    "/**",
    " * 64-bit mode's ALU group, TEST and MOV at 32 and 64 bits, one function per variant",
    " * (see gen/long.ts for why). 16-bit forms come from long.ts.",
    " */",
    'import { ea64, read64, readQ, rmwRead64, rmwWrite64, write64, writeQ } from "../access64.js";',
    'import type { X86Cpu } from "../cpu.js";',
    'import type { FormSplit, Handler, HandlerSpec, SizeSplit } from "../handlers.js";',
    'import { getCF } from "../lazy_flags.js";',
    "import {",
    "  EA_HI,",
    "  LF_ADC,",
    "  LF_ADD,",
    "  LF_CARRY,",
    "  LF_DST,",
    "  LF_LOGIC,",
    "  LF_OP,",
    "  LF_RES,",
    "  LF_SBB,",
    "  LF_SIZE,",
    "  LF_SRC,",
    "  LF_SUB,",
    "  STOP,",
    "  STOP_FAULT,",
    "  VAL_HI,",
    '} from "../state.js";',
    'import { flags64, LONG } from "./long.js";',
    "",
    "const TWO32 = 4294967296;",
    "",
    "/** The 16-bit variant of a long.ts row. */",
    'function sizeOf(spec: HandlerSpec, size: "o16"): Handler | FormSplit {',
    "  return (spec as SizeSplit)[size];",
    "}",
    "",
    ...fns.map((f) => `export ${f}\n`),
    "const LONG_GEN_SELF: Record<string, HandlerSpec> = {",
    ...table,
    "};",
    "",
    "export const LONG_GEN: Readonly<Record<string, HandlerSpec>> = {",
    "  ...LONG_GEN_SELF,",
    ...aliases,
    "};",
    "",
  ].join("\n");
}

if (process.argv[1]?.endsWith("long.ts")) {
  const { writeFileSync } = await import("node:fs");
  const { fileURLToPath } = await import("node:url");
  writeFileSync(fileURLToPath(new URL("../src/insn/long.gen.ts", import.meta.url)), generate());
}
