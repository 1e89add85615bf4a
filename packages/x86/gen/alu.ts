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

/** MOV E,G / G,E / E,I and LEA: the most frequent instructions of all. */
function mov(form: "EG" | "GE" | "EI", size: Size, mem: boolean, fname: string): string {
  const lines = [`function ${fname}(cpu: X86Cpu, i: number): void {`, `  const dc = cpu.dc;`];
  const imm = `dc.imm[i]!${mask(size)}`;
  if (form === "GE") {
    if (mem) {
      lines.push(
        `  const v = readMem${size}(cpu, dc.seg[i]!, ea(cpu, i));`,
        `  if (cpu.st[STOP] === STOP_FAULT) return;`,
        `  ${regWrite(size, "dc.reg[i]!", "v")}`,
      );
    } else {
      lines.push(`  ${regWrite(size, "dc.reg[i]!", regRead(size, "dc.rm[i]!"))}`);
    }
  } else {
    const v = form === "EG" ? regRead(size, "dc.reg[i]!") : imm;
    lines.push(
      mem
        ? `  writeMem${size}(cpu, dc.seg[i]!, ea(cpu, i), ${v});`
        : `  ${regWrite(size, "dc.rm[i]!", v)}`,
    );
  }
  lines.push("}");
  return lines.join("\n");
}

function lea(size: 16 | 32, fname: string): string {
  return [
    `function ${fname}(cpu: X86Cpu, i: number): void {`,
    `  ${regWrite(size, "cpu.dc.reg[i]!", "ea(cpu, i)")}`,
    "}",
  ].join("\n");
}

/**
 * SHL/SHR/SAR (Grp2 /4 /5 /7, /6 is SHL) with count 1, CL or Ib, as shift.ts defines
 * them: the count is masked to 5 bits, 0 changes nothing, flags come from the last
 * one-bit step (CF, OF; SF/ZF/PF from the result; AF = 0).
 */
function shift(
  kind: "shl" | "shr" | "sar",
  count: "1" | "CL" | "Ib",
  size: Size,
  mem: boolean,
  fname: string,
): string {
  const m = size === 32 ? "-1" : `0x${((1 << size) - 1).toString(16)}`;
  const c = count === "1" ? "1" : count === "CL" ? "cpu.r8[4]! & 0x1f" : "cpu.dc.imm[i]! & 0x1f";
  const compute = {
    shl: [
      `  const r = (v << c) & ${m};`,
      `  const cf = c <= ${size} ? (v >>> (${size} - c)) & 1 : 0;`,
      `  const of = ((r >>> ${size - 1}) ^ cf) & 1;`,
    ],
    shr: [
      "  const last = v >>> (c - 1);",
      "  const r = last >>> 1;",
      "  const cf = last & 1;",
      `  const of = (last >>> ${size - 1}) & 1;`,
    ],
    sar: [
      `  const last = ((v << ${32 - size}) >> ${32 - size}) >> (c - 1);`,
      `  const r = (last >> 1) & ${m};`,
      "  const cf = last & 1;",
      "  const of = 0;",
    ],
  }[kind];
  const lines = [`function ${fname}(cpu: X86Cpu, i: number): void {`, "  const dc = cpu.dc;"];
  if (mem) {
    lines.push(
      `  const v = rmwRead${size}(cpu, dc.seg[i]!, ea(cpu, i));`,
      `  const c = ${c};`,
      count === "1"
        ? "  if (cpu.st[STOP] === STOP_FAULT) return;"
        : "  if (cpu.st[STOP] === STOP_FAULT || c === 0) return;",
      ...compute,
      `  rmwWrite${size}(cpu, r);`,
    );
  } else {
    lines.push(
      `  const c = ${c};`,
      ...(count === "1" ? [] : ["  if (c === 0) return;"]),
      "  const n = dc.rm[i]!;",
      `  const v = ${regRead(size, "n")};`,
      ...compute,
      `  ${regWrite(size, "n", "r")}`,
    );
  }
  lines.push(
    "  const st = cpu.st;",
    "  st[LF_OP] = LF_RESULT;",
    `  st[LF_SIZE] = ${size};`,
    "  st[LF_RES] = r;",
    "  st[LF_CARRY] = cf | (of << 11);",
    "}",
  );
  return lines.join("\n");
}

/** MOVZX/MOVSX Gv, Eb/Ew. */
function movx(signed: boolean, from: 8 | 16, size: 16 | 32, mem: boolean, fname: string): string {
  const ext = (v: string) => (signed ? `(${v} << ${32 - from}) >> ${32 - from}` : v);
  const src = mem ? "v" : regRead(from, "dc.rm[i]!");
  const lines = [`function ${fname}(cpu: X86Cpu, i: number): void {`, "  const dc = cpu.dc;"];
  if (mem) {
    lines.push(
      `  const v = readMem${from}(cpu, dc.seg[i]!, ea(cpu, i));`,
      "  if (cpu.st[STOP] === STOP_FAULT) return;",
    );
  }
  lines.push(`  ${regWrite(size, "dc.reg[i]!", ext(src))}`, "}");
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
  // Jcc, one handler per condition and displacement size (the decoder prefers these
  // to the generic jcc_Jb/jcc_Jz).
  const conds = ["o", "b", "z", "be", "s", "p", "l", "le"];
  const condFn = ["condO", "condB", "condZ", "condBE", "condS", "condP", "condL", "condLE"];
  conds.forEach((c, k) => {
    for (const neg of [false, true]) {
      const name = `j${neg ? "n" : ""}${c}`;
      for (const form of ["Jb", "Jz"]) {
        fns.push(
          [
            `function ${name}_${form}(cpu: X86Cpu, i: number): void {`,
            `  if (${neg ? "!" : ""}${condFn[k]}(cpu.st)) {`,
            `    branchNear(cpu, i, (cpu.st[EIP]! + cpu.dc.len[i]! + cpu.dc.imm[i]!) | 0);`,
            `  }`,
            `}`,
          ].join("\n"),
        );
        table.push(`  ${name}_${form},`);
      }
    }
  });
  split("mov_Eb_Gb", (s, m, f) => mov("EG", s, m, f), false);
  split("mov_Ev_Gv", (s, m, f) => mov("EG", s, m, f), true);
  split("mov_Gb_Eb", (s, m, f) => mov("GE", s, m, f), false);
  split("mov_Gv_Ev", (s, m, f) => mov("GE", s, m, f), true);
  split("mov_Eb_Ib", (s, m, f) => mov("EI", s, m, f), false);
  split("mov_Ev_Iz", (s, m, f) => mov("EI", s, m, f), true);
  fns.push(lea(16, "lea_Gv_M_o16"), lea(32, "lea_Gv_M_o32"));
  for (const kind of ["shl", "shr", "sar"] as const) {
    for (const count of ["1", "CL", "Ib"] as const) {
      split(`${kind}_Eb_${count}`, (s, m, f) => shift(kind, count, s, m, f), false);
      split(`${kind}_Ev_${count}`, (s, m, f) => shift(kind, count, s, m, f), true);
    }
  }
  for (const signed of [false, true]) {
    for (const from of [8, 16] as const) {
      const base = `mov${signed ? "sx" : "zx"}_Gv_E${from === 8 ? "b" : "w"}`;
      split(base, (s, m, f) => movx(signed, from, s as 16 | 32, m, f), true);
    }
  }
  table.push("  lea_Gv_M: { o16: lea_Gv_M_o16, o32: lea_Gv_M_o32 },");
  const direct = table.filter((t) => !t.includes("ALU_GEN_SELF"));
  const aliases = table.filter((t) => t.includes("ALU_GEN_SELF"));
  return [
    "// GENERATED by packages/x86/gen/alu.ts — do not edit; run `npm run gen -w @glassvm/x86`.",

    "/**",
    " * ADD OR ADC SBB AND SUB XOR CMP TEST in every form and size, INC DEC NEG NOT, Jcc per",
    " * condition, MOV, LEA, MOVZX/MOVSX, SHL/SHR/SAR: one function per variant (see",
    " * gen/alu.ts for why).",
    " */",
    'import {\n  ea,\n  readMem8,\n  readMem16,\n  readMem32,\n  rmwRead8,\n  rmwRead16,\n  rmwRead32,\n  rmwWrite8,\n  rmwWrite16,\n  rmwWrite32,\n  writeMem8,\n  writeMem16,\n  writeMem32,\n} from "../access.js";',
    'import type { X86Cpu } from "../cpu.js";',
    'import type { HandlerSpec } from "../handlers.js";',
    'import {\n  condB,\n  condBE,\n  condL,\n  condLE,\n  condO,\n  condP,\n  condS,\n  condZ,\n  getCF,\n} from "../lazy_flags.js";',
    'import {\n  EIP,\n  LF_ADC,\n  LF_ADD,\n  LF_CARRY,\n  LF_DEC,\n  LF_DST,\n  LF_INC,\n  LF_LOGIC,\n  LF_OP,\n  LF_RES,\n  LF_RESULT,\n  LF_SBB,\n  LF_SIZE,\n  LF_SRC,\n  LF_SUB,\n  STOP,\n  STOP_FAULT,\n} from "../state.js";',
    'import { REG8 } from "./common.js";',
    'import { branchNear } from "./ctrl_xfer.js";',
    "",
    ...fns.map((f) => `export ${f}\n`),
    "const ALU_GEN_SELF: Record<string, HandlerSpec> = {",
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
