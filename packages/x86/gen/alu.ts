/**
 * Generates src/insn/alu.gen.ts: one plain function per (ALU operation, operand form,
 * operand size, ModRM form). Written out rather than built from closures so that every
 * handler is its own function to V8 — monomorphic, with its helpers inlined — which is
 * what keeps the interpreter fast. Run `npm run gen -w @glassvm/x86`; a test checks the
 * checked-in file is current.
 */

type Size = 8 | 16 | 32;
interface Op {
  readonly name: string;
  /** Statements computing `r` from `d`, `s` (and `c` when `carry`). */
  readonly expr: string;
  readonly lf: string;
  readonly write: boolean;
  readonly carry: boolean;
}

const OPS: readonly Op[] = [
  { name: "add", expr: "(d + s) | 0", lf: "LF_ADD", write: true, carry: false },
  { name: "or", expr: "d | s", lf: "LF_LOGIC", write: true, carry: false },
  { name: "adc", expr: "(d + s + c) | 0", lf: "LF_ADC", write: true, carry: true },
  { name: "sbb", expr: "(d - s - c) | 0", lf: "LF_SBB", write: true, carry: true },
  { name: "and", expr: "d & s", lf: "LF_LOGIC", write: true, carry: false },
  { name: "sub", expr: "(d - s) | 0", lf: "LF_SUB", write: true, carry: false },
  { name: "xor", expr: "d ^ s", lf: "LF_LOGIC", write: true, carry: false },
  { name: "cmp", expr: "(d - s) | 0", lf: "LF_SUB", write: false, carry: false },
  { name: "test", expr: "d & s", lf: "LF_LOGIC", write: false, carry: false },
];

const mask = (size: Size) => (size === 32 ? "" : ` & 0x${((1 << size) - 1).toString(16)}`);
const regRead = (size: Size, n: string) =>
  size === 8 ? `cpu.r8[REG8[${n}]!]!` : size === 16 ? `cpu.r16[${n} << 1]!` : `cpu.regs[${n}]!`;
const regWrite = (size: Size, n: string, v: string) =>
  size === 8
    ? `cpu.r8[REG8[${n}]!] = ${v};`
    : size === 16
      ? `cpu.r16[${n} << 1] = ${v};`
      : `cpu.regs[${n}] = ${v};`;

function flags(op: Op, size: Size): string {
  return [
    `  const st = cpu.st;`,
    `  st[LF_OP] = ${op.lf};`,
    `  st[LF_SIZE] = ${size};`,
    `  st[LF_DST] = d;`,
    `  st[LF_SRC] = s;`,
    `  st[LF_RES] = r;`,
    ...(op.carry ? [`  st[LF_CARRY] = c;`] : []),
  ].join("\n");
}

function carryIn(op: Op): string {
  return op.carry ? "  const c = getCF(cpu.st);\n" : "";
}

/** `op E, src` where src is G (a register) or I (the immediate). */
function toE(op: Op, size: Size, src: "G" | "I", mem: boolean, fname: string): string {
  const s = src === "G" ? regRead(size, "dc.reg[i]!") : `dc.imm[i]!${mask(size)}`;
  const lines = [`function ${fname}(cpu: X86Cpu, i: number): void {`, `  const dc = cpu.dc;`];
  if (!mem) {
    lines.push(`  const n = dc.rm[i]!;`, `  const d = ${regRead(size, "n")};`, `  const s = ${s};`);
    lines.push(`${carryIn(op)}  const r = ${op.expr};`);
    if (op.write) lines.push(`  ${regWrite(size, "n", "r")}`);
  } else {
    const rd = op.write ? `rmwRead${size}` : `readMem${size}`;
    lines.push(
      `  const d = ${rd}(cpu, dc.seg[i]!, ea(cpu, i));`,
      `  if (cpu.st[STOP] === STOP_FAULT) return;`,
    );
    lines.push(`  const s = ${s};`, `${carryIn(op)}  const r = ${op.expr};`);
    if (op.write) lines.push(`  rmwWrite${size}(cpu, r);`);
  }
  lines.push(flags(op, size), "}");
  return lines.filter((l) => l !== "").join("\n");
}

/** `op G, E`. */
function toG(op: Op, size: Size, mem: boolean, fname: string): string {
  const lines = [`function ${fname}(cpu: X86Cpu, i: number): void {`, `  const dc = cpu.dc;`];
  if (mem) {
    lines.push(
      `  const s = readMem${size}(cpu, dc.seg[i]!, ea(cpu, i));`,
      `  if (cpu.st[STOP] === STOP_FAULT) return;`,
    );
  } else {
    lines.push(`  const s = ${regRead(size, "dc.rm[i]!")};`);
  }
  lines.push(
    `  const n = dc.reg[i]!;`,
    `  const d = ${regRead(size, "n")};`,
    `${carryIn(op)}  const r = ${op.expr};`,
  );
  if (op.write) lines.push(`  ${regWrite(size, "n", "r")}`);
  lines.push(flags(op, size), "}");
  return lines.filter((l) => l !== "").join("\n");
}

/** INC/DEC (CF kept), NEG, NOT. */
function unary(
  kind: "inc" | "dec" | "neg" | "not",
  size: Size,
  mem: boolean,
  fname: string,
): string {
  const m = size === 32 ? "" : ` & 0x${((1 << size) - 1).toString(16)}`;
  const compute = {
    inc: `const r = (d + 1) | 0;`,
    dec: `const r = (d - 1) | 0;`,
    neg: `const r = -d | 0;`,
    not: `const r = ~d;`,
  }[kind];
  const lines = [`function ${fname}(cpu: X86Cpu, i: number): void {`, `  const dc = cpu.dc;`];
  if (mem) {
    lines.push(
      `  const d = rmwRead${size}(cpu, dc.seg[i]!, ea(cpu, i));`,
      `  if (cpu.st[STOP] === STOP_FAULT) return;`,
    );
  } else {
    lines.push(`  const n = dc.rm[i]!;`, `  const d = ${regRead(size, "n")};`);
  }
  if (kind === "inc" || kind === "dec") lines.push(`  const c = getCF(cpu.st);`);
  lines.push(`  ${compute}`);
  lines.push(mem ? `  rmwWrite${size}(cpu, r${m});` : `  ${regWrite(size, "n", `r${m}`)}`);
  if (kind !== "not") {
    const lf = kind === "inc" ? "LF_INC" : kind === "dec" ? "LF_DEC" : "LF_SUB";
    lines.push(
      `  const st = cpu.st;`,
      `  st[LF_OP] = ${lf};`,
      `  st[LF_SIZE] = ${size};`,
      `  st[LF_DST] = ${kind === "neg" ? "0" : "d"};`,
      `  st[LF_SRC] = ${kind === "neg" ? "d" : "1"};`,
      `  st[LF_RES] = r;`,
    );
    if (kind !== "neg") lines.push(`  st[LF_CARRY] = c;`);
  }
  lines.push("}");
  return lines.join("\n");
}

export function generate(): string {
  const fns: string[] = [];
  const table: string[] = [];
  const split = (
    base: string,
    make: (size: Size, mem: boolean, f: string) => string,
    sized: boolean,
  ) => {
    if (!sized) {
      fns.push(make(8, false, `${base}_reg`), make(8, true, `${base}_mem`));
      table.push(`  ${base}: { reg: ${base}_reg, mem: ${base}_mem },`);
      return;
    }
    for (const size of [16, 32] as const) {
      fns.push(make(size, false, `${base}_o${size}_reg`), make(size, true, `${base}_o${size}_mem`));
    }
    table.push(
      `  ${base}: {\n    o16: { reg: ${base}_o16_reg, mem: ${base}_o16_mem },\n    o32: { reg: ${base}_o32_reg, mem: ${base}_o32_mem },\n  },`,
    );
  };
  for (const op of OPS) {
    split(`${op.name}_Eb_Gb`, (s, m, f) => toE(op, s, "G", m, f), false);
    split(`${op.name}_Ev_Gv`, (s, m, f) => toE(op, s, "G", m, f), true);
    if (op.name !== "test") {
      split(`${op.name}_Gb_Eb`, (s, m, f) => toG(op, s, m, f), false);
      split(`${op.name}_Gv_Ev`, (s, m, f) => toG(op, s, m, f), true);
    }
    split(`${op.name}_Eb_Ib`, (s, m, f) => toE(op, s, "I", m, f), false);
    split(`${op.name}_Ev_Iz`, (s, m, f) => toE(op, s, "I", m, f), true);
    table.push(`  ${op.name}_Ev_Ib: ALU_GEN_SELF.${op.name}_Ev_Iz,`);
  }
  for (const kind of ["inc", "dec", "neg", "not"] as const) {
    split(`${kind}_Eb`, (s, m, f) => unary(kind, s, m, f), false);
    split(`${kind}_Ev`, (s, m, f) => unary(kind, s, m, f), true);
  }
  const direct = table.filter((t) => !t.includes("ALU_GEN_SELF"));
  const aliases = table.filter((t) => t.includes("ALU_GEN_SELF"));
  return [
    "// GENERATED by packages/x86/gen/alu.ts — do not edit; run `npm run gen -w @glassvm/x86`.",

    "/**",
    " * ADD OR ADC SBB AND SUB XOR CMP TEST in every form and size, INC DEC NEG NOT: one",
    " * function per variant (see gen/alu.ts for why).",
    " */",
    'import { ea, readMem8, readMem16, readMem32, rmwRead8, rmwRead16, rmwRead32, rmwWrite8, rmwWrite16, rmwWrite32 } from "../access.js";',
    'import type { X86Cpu } from "../cpu.js";',
    'import type { FormSplit, HandlerSpec, SizeSplit } from "../handlers.js";',
    'import { getCF, LF_ADC, LF_ADD, LF_DEC, LF_INC, LF_LOGIC, LF_SBB, LF_SUB } from "../lazy_flags.js";',
    'import { LF_CARRY, LF_DST, LF_OP, LF_RES, LF_SIZE, LF_SRC, STOP, STOP_FAULT } from "../state.js";',
    'import { REG8 } from "./common.js";',
    "",
    ...fns.map((f) => `${f}\n`),
    "const ALU_GEN_SELF: Record<string, FormSplit | SizeSplit> = {",
    ...direct,
    "};",
    "",
    "export const ALU_GEN: Readonly<Record<string, HandlerSpec>> = {",
    "  ...ALU_GEN_SELF,",
    ...aliases.map((a) => a.replace("ALU_GEN_SELF.", "ALU_GEN_SELF.").replace(/,$/, "!,")),
    "};",
    "",
  ].join("\n");
}

if (process.argv[1]?.endsWith("alu.ts")) {
  const { writeFileSync } = await import("node:fs");
  const { fileURLToPath } = await import("node:url");
  writeFileSync(fileURLToPath(new URL("../src/insn/alu.gen.ts", import.meta.url)), generate());
}
