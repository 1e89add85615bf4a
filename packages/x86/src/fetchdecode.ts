/**
 * The decoder (Bochs fetchdecode32.cc, QEMU decode-new.c.inc): prefixes, the opcode
 * maps of opcodes.ts, ModRM/SIB in 16- and 32-bit addressing, displacements and
 * immediates, the 15-byte limit, #UD for undefined encodings. It writes one decoded
 * instruction into a DecodeCache slot and allocates nothing.
 *
 * Each row is compiled once into a descriptor with its handler resolved per operand size
 * and ModRM form, so executors are monomorphic (handlers.ts).
 *
 * Mandatory prefixes (SDM Vol. 2 §2.1.2, Table A-3): a `#sse` cell of the 0F map holds
 * four rows, for no prefix, 66, F3 and F2. The last of F2/F3 selects, else 66; the prefix
 * that selected is then consumed: a 66 no longer changes the operand size (REX.W still
 * does), and F2/F3 are not REP. x87 escapes with an implemented form (opcodes.ts `X87`)
 * are chosen after ModRM, like the Grp7 register forms.
 */

import {
  HANDLER_FETCH_FAULT,
  HANDLER_UD,
  HANDLERS,
  resolveHandler,
  resolveHandlerLong,
} from "./handlers.js";
import type { DecodeCache } from "./icache.js";
import {
  F_A32,
  F_A64,
  F_END,
  F_LOCK,
  F_MEM,
  F_O32,
  F_O64,
  F_P66,
  F_REP,
  F_REPNE,
  F_REX,
  F_RIPREL,
  F_SEGOVR,
} from "./instr.js";
import { lockedHandlerId } from "./locked.js";
import {
  BLOCK_ENDERS,
  D64,
  F64,
  GROUP7_REG,
  GROUP7_REG_64,
  GROUP9_6,
  GROUP15_REG,
  GROUPS,
  LOCKABLE,
  ONE_BYTE_64,
  ONE_BYTE_MAP,
  type OpRow,
  SSE_0F,
  THREE_BYTE_0F38,
  TWO_BYTE_64,
  TWO_BYTE_MAP,
  X87,
} from "./opcodes.js";
import { CS, DS, EBP, ESP, REG_ZERO, SS } from "./regs.js";

export type AddrLetter =
  | "E"
  | "G"
  | "M"
  | "R"
  | "S"
  | "C"
  | "D"
  | "I"
  | "J"
  | "O"
  | "A"
  | "X"
  | "Y"
  | "F"
  | "V"
  | "W"
  | "U"
  | "Z"
  | "DX"
  | "CL"
  | "1";

export interface Operand {
  readonly kind: AddrLetter;
  /** Size letter: b, w, d, v, z, p, a, s, q, dq, y, x, ps, pd, ss, sd (empty if fixed). */
  readonly size: string;
  /** Register number of a Z operand (a register named in the row). */
  readonly reg: number;
}

/** A compiled row. */
export interface OpDesc {
  readonly mnemonic: string;
  readonly ops: readonly Operand[];
  readonly modrm: boolean;
  /**
   * Group members by ModRM.reg, when the row is a group (Grp15: then its register forms,
   * 8 + ModRM.reg); for `sse`, the rows by mandatory prefix (none, 66, F3, F2).
   */
  readonly group: readonly (OpDesc | null)[] | null;
  /** Special decoding: "grp7", "grp9", "grp15", "0f38", "sse". */
  readonly special: string | null;
  /** Handler base name in SDM form (`add_Eb_Gb`) and its normalized alias. */
  readonly name: string;
  readonly alias: string | null;
  /** True when a size letter v/z selects the handler by operand size. */
  readonly sized: boolean;
  readonly lockable: boolean;
  readonly ender: boolean;
  /** Condition code for Jcc/SETcc/CMOVcc, else -1. */
  readonly cc: number;
  /** Handler ids: [o16 reg, o16 mem, o32 reg, o32 mem]. */
  readonly handlers: Int32Array;
  /** 64-bit mode's handler ids: [o16 reg, o16 mem, o32 reg, o32 mem, o64 reg, o64 mem]. */
  readonly handlersLong: Int32Array;
  /** Operand size in 64-bit mode: 0 by REX.W/66, 1 = d64 (default 64), 2 = f64 (always 64). */
  readonly size64: number;
  /** Registers named by the row's first and second Z operands (-1: none). */
  readonly z1: number;
  readonly z2: number;
  /** The segment register a row names (PUSH ES …), -1 if none. */
  readonly sreg: number;
  /** An `M` operand: a register ModRM is #UD. */
  readonly memOnly: boolean;
  /** A `U` operand: a memory ModRM is #UD. */
  readonly regOnly: boolean;
}

const REG_NAMES: Record<string, [number, string]> = {
  AX: [0, "w"],
  AL: [0, "b"],
  CL: [1, "b"],
  DL: [2, "b"],
  BL: [3, "b"],
  AH: [4, "b"],
  CH: [5, "b"],
  DH: [6, "b"],
  BH: [7, "b"],
};
["AX", "CX", "DX", "BX", "SP", "BP", "SI", "DI"].forEach((r, n) => {
  REG_NAMES[`e${r}`] = [n, "v"];
  REG_NAMES[`r${r}`] = [n, "v"];
});
const SEG_LITERALS: Record<string, number> = { ES: 0, CS: 1, SS: 2, DS: 3, FS: 4, GS: 5 };
const CC_NAMES = [
  "O",
  "NO",
  "B",
  "NB",
  "Z",
  "NZ",
  "BE",
  "NBE",
  "S",
  "NS",
  "P",
  "NP",
  "L",
  "NL",
  "LE",
  "NLE",
];

function parseOperand(text: string, index = 1): Operand {
  // CL is the shift count, except as a destination (MOV CL,Ib: the register).
  if (text === "DX" || (text === "CL" && index > 0) || text === "1") {
    return { kind: text, size: "", reg: -1 };
  }
  const r = REG_NAMES[text];
  if (r) return { kind: "Z", size: r[1], reg: r[0] };
  const s = SEG_LITERALS[text];
  if (s !== undefined) return { kind: "S", size: "w", reg: s };
  return { kind: text[0] as AddrLetter, size: text.slice(1), reg: -1 };
}

function conditionOf(mnemonic: string): { base: string; cc: number } {
  for (const prefix of ["J", "SET", "CMOV"]) {
    if (mnemonic.startsWith(prefix)) {
      const cc = CC_NAMES.indexOf(mnemonic.slice(prefix.length));
      if (cc >= 0 && !(prefix === "J" && ["MP", "MPF"].includes(mnemonic.slice(1)))) {
        return { base: `${prefix}cc`, cc };
      }
    }
  }
  return { base: mnemonic, cc: -1 };
}

/** The alias of a row whose named registers or moffs stand for E/G operands. */
function normalizedName(base: string, ops: readonly Operand[]): string | null {
  const hasEG = ops.some((o) => "EGM".includes(o.kind) && o.kind.length === 1);
  const hasO = ops.some((o) => o.kind === "O");
  if (hasEG || !ops.some((o) => o.kind === "Z" || o.kind === "O")) return null;
  let zSeen = 0;
  const parts = ops.map((o) => {
    if (o.kind === "O") return `E${o.size}`;
    if (o.kind === "Z") {
      zSeen++;
      return `${hasO || zSeen > 1 ? "G" : "E"}${o.size}`;
    }
    if (o.kind === "I" && o.size === "v") return "Iz";
    return `${o.kind}${o.size}`;
  });
  return [base.toLowerCase(), ...parts].join("_");
}

function compileRow(row: string, inherited: readonly Operand[] = []): OpDesc {
  const space = row.indexOf(" ");
  const head = space < 0 ? row : row.slice(0, space);
  const tail = space < 0 ? "" : row.slice(space + 1);
  let ops: Operand[];
  if (tail === "+I") {
    const e = inherited[0]!;
    ops = [e, { kind: "I", size: e.size === "b" ? "b" : "z", reg: -1 }];
  } else {
    ops = tail ? tail.split(",").map(parseOperand) : [...inherited];
  }
  const { base, cc } = conditionOf(head);
  const modrm = ops.some(
    (o) => "EGMRSCDVWU".includes(o.kind) && o.kind.length === 1 && !(o.kind === "S" && o.reg >= 0),
  );
  const nameParts = ops.map((o) => (o.kind === "Z" ? `Z${o.size}` : `${o.kind}${o.size}`));
  const name = [base.toLowerCase(), ...nameParts].join("_");
  const enderKey = ops[0]?.kind === "S" && ops[0].reg === SS && base === "POP" ? "POP_SS" : base;
  const movSreg = base === "MOV" && ops[0]?.kind === "S";
  const movCr = base === "MOV" && ops[0]?.kind === "C";
  return {
    mnemonic: head,
    ops,
    modrm,
    group: null,
    special: null,
    name,
    alias: normalizedName(base, ops),
    sized: ops.some((o) => o.size === "v" || o.size === "z" || o.size === "p" || o.size === "a"),
    lockable: LOCKABLE.has(base),
    ender: BLOCK_ENDERS.has(enderKey) || (movSreg && BLOCK_ENDERS.has("MOV_Sw")) || movCr,
    cc,
    handlers: resolveRow(
      name,
      normalizedName(base, ops),
      ops,
      cc >= 0 ? [head.toLowerCase(), ...nameParts].join("_") : null,
    ),
    handlersLong: compilingLong
      ? resolveRowLong(
          name,
          normalizedName(base, ops),
          ops,
          cc >= 0 ? [head.toLowerCase(), ...nameParts].join("_") : null,
        )
      : NO_LONG_HANDLERS,
    size64:
      F64.has(base) || (base === "MOV" && ops.some((o) => o.kind === "C" || o.kind === "D"))
        ? 2
        : D64.has(base)
          ? 1
          : 0,
    ...namedRegisters(ops),
  };
}

function namedRegisters(
  ops: readonly Operand[],
): Pick<OpDesc, "z1" | "z2" | "sreg" | "memOnly" | "regOnly"> {
  const z = ops.filter((o) => o.kind === "Z");
  const s = ops.find((o) => o.kind === "S" && o.reg >= 0);
  return {
    z1: z[0]?.reg ?? -1,
    z2: z[1]?.reg ?? -1,
    sreg: s ? s.reg : -1,
    memOnly: ops.some((o) => o.kind === "M"),
    regOnly: ops.some((o) => o.kind === "U"),
  };
}

/**
 * Handler ids for a row. A condition-code row first tries a handler specialised to its
 * condition (`jz_Jb`), then the generic one (`jcc_Jb`, condition in imm2).
 */
function resolveRow(
  name: string,
  alias: string | null,
  ops: readonly Operand[],
  exact: string | null,
): Int32Array {
  const ids = new Int32Array(4);
  const zAsReg = ops.some((o) => o.kind === "Z") && !ops.some((o) => o.kind === "O");
  for (let k = 0; k < 4; k++) {
    const size = k < 2 ? 16 : 32;
    const isReg = k % 2 === 0;
    let id = exact ? resolveHandler(exact, size, isReg) : -1;
    if (id < 0) id = resolveHandler(name, size, isReg);
    if (id < 0 && alias) id = resolveHandler(alias, size, zAsReg ? true : isReg);
    ids[k] = id < 0 ? HANDLER_UD : id;
  }
  return ids;
}

/** Rows compiled for 16/32-bit code have no 64-bit-mode handlers. */
const NO_LONG_HANDLERS = new Int32Array(6).fill(HANDLER_UD);
/** True while the 64-bit maps are being compiled (they resolve 64-bit-mode handlers). */
let compilingLong = false;

/** resolveRow for 64-bit mode: six ids, from the 64-bit-mode handlers. */
function resolveRowLong(
  name: string,
  alias: string | null,
  ops: readonly Operand[],
  exact: string | null,
): Int32Array {
  const ids = new Int32Array(6);
  const zAsReg = ops.some((o) => o.kind === "Z") && !ops.some((o) => o.kind === "O");
  for (let k = 0; k < 6; k++) {
    const size = k < 2 ? 16 : k < 4 ? 32 : 64;
    const isReg = k % 2 === 0;
    let id = exact ? resolveHandlerLong(exact, size, isReg) : -1;
    if (id < 0) id = resolveHandlerLong(name, size, isReg);
    if (id < 0 && alias) id = resolveHandlerLong(alias, size, zAsReg ? true : isReg);
    ids[k] = id < 0 ? HANDLER_UD : id;
  }
  return ids;
}

function compileMap(map: readonly OpRow[]): (OpDesc | null)[] {
  return map.map((row, op) => {
    if (row === null) return null;
    if (row.startsWith("#")) {
      const space = row.indexOf(" ");
      const key = (space < 0 ? row : row.slice(0, space)).slice(1);
      const ops =
        space < 0
          ? []
          : row
              .slice(space + 1)
              .split(",")
              .map(parseOperand);
      const compileMember = (m: OpRow) =>
        m === null || m.startsWith("#") ? null : compileRow(m, ops);
      let group: (OpDesc | null)[] | null = null;
      if (key === "sse") {
        const cell = SSE_0F[op];
        if (cell === undefined) throw new Error(`0F ${op.toString(16)}: #sse without SSE_0F row`);
        group = cell.map((m) => (m?.startsWith("#") ? compileMap([m])[0]! : compileMember(m)));
      } else if (GROUPS[key]) {
        group = GROUPS[key].map(compileMember);
        if (key === "grp15") group.push(...GROUP15_REG.map(compileMember));
      }
      const specialDesc: OpDesc = {
        mnemonic: key,
        ops,
        modrm: key !== "0f38" && key !== "sse",
        group,
        special: ["grp7", "grp9", "grp15", "0f38", "sse"].includes(key) ? key : null,
        name: key,
        alias: null,
        sized: false,
        lockable: false,
        ender: false,
        cc: -1,
        handlers: new Int32Array(4).fill(HANDLER_UD),
        handlersLong: new Int32Array(6).fill(HANDLER_UD),
        size64: 0,
        z1: -1,
        z2: -1,
        sreg: -1,
        memOnly: false,
        regOnly: false,
      };
      return specialDesc;
    }
    return compileRow(row);
  });
}

let xchgR8: OpDesc | null = null;
/** 64-bit mode's REX.B 90: XCHG r8, rAX (the register in the opcode is rAX, + 8). */
function xchgR8Desc(): OpDesc {
  tables64();
  return xchgR8!;
}

let pause: OpDesc | null = null;
let pause64: OpDesc | null = null;
function pauseDesc(): OpDesc {
  pause ??= compileRow("PAUSE");
  return pause;
}

let oneByte: (OpDesc | null)[] | null = null;
let twoByte: (OpDesc | null)[] | null = null;
/** The maps as 64-bit mode has them (ONE_BYTE_64 / TWO_BYTE_64 applied). */
let oneByte64: (OpDesc | null)[] | null = null;
let twoByte64: (OpDesc | null)[] | null = null;
const grp7Reg = new Map<number, OpDesc>();
const grp7Reg64 = new Map<number, OpDesc>();
const grp9Long: Record<string, OpDesc> = {};
const threeByte64 = new Map<number, OpDesc>();
const grp9: Record<string, OpDesc> = {};
const threeByte = new Map<number, OpDesc>();
/**
 * The implemented x87 forms (opcodes.ts X87): memory forms at (opcode & 7) · 8 + ModRM.reg,
 * register forms at 64 + (opcode & 7) · 64 + (ModRM & 63); null runs the ESC row.
 */
const X87_FORMS = 64 + 8 * 64;
let x87: (OpDesc | null)[] = [];
let x87Long: (OpDesc | null)[] = [];

function compileX87(): (OpDesc | null)[] {
  const forms: (OpDesc | null)[] = new Array(X87_FORMS).fill(null);
  for (const [where, row] of Object.entries(X87)) {
    const [opText, form] = where.split(" ") as [string, string];
    const op = Number.parseInt(opText, 16) & 7;
    const at = form.startsWith("/")
      ? op * 8 + Number(form.slice(1))
      : 64 + op * 64 + (Number.parseInt(form, 16) & 63);
    forms[at] = compileRow(row);
  }
  return forms;
}

/** The maps of 64-bit mode, compiled the first time 64-bit code is decoded. */
function tables64(): void {
  if (oneByte64 !== null) return;
  compilingLong = true;
  try {
    oneByte64 = compileMap(
      ONE_BYTE_MAP.map((row, op) => (op in ONE_BYTE_64 ? ONE_BYTE_64[op]! : row)),
    );
    twoByte64 = compileMap(
      TWO_BYTE_MAP.map((row, op) => (op in TWO_BYTE_64 ? TWO_BYTE_64[op]! : row)),
    );
    for (const [k, row] of Object.entries({ ...GROUP7_REG, ...GROUP7_REG_64 })) {
      grp7Reg64.set(Number(k), compileRow(row));
    }
    for (const [k, row] of Object.entries(GROUP9_6)) grp9Long[k] = compileRow(row);
    for (const [k, row] of Object.entries(THREE_BYTE_0F38)) {
      threeByte64.set(Number(k), compileRow(row));
    }
    pause64 = compileRow("PAUSE");
    xchgR8 = compileRow("XCHG rAX,rAX");
    x87Long = compileX87();
  } finally {
    compilingLong = false;
  }
}

function tables(): void {
  pauseDesc();
  oneByte = compileMap(ONE_BYTE_MAP);
  twoByte = compileMap(TWO_BYTE_MAP);
  for (const [k, row] of Object.entries(GROUP7_REG)) grp7Reg.set(Number(k), compileRow(row));
  for (const [k, row] of Object.entries(GROUP9_6)) grp9[k] = compileRow(row);
  for (const [k, row] of Object.entries(THREE_BYTE_0F38)) threeByte.set(Number(k), compileRow(row));
  x87 = compileX87();
  for (const k of Object.keys(SSE_0F)) {
    if (TWO_BYTE_MAP[Number(k)] !== "#sse") throw new Error(`SSE_0F ${k}: its 0F cell is not #sse`);
  }
}

/**
 * The compiled descriptor of a one-byte (`map` 1) or 0F-prefixed (`map` 2) opcode, as
 * 16/32-bit code or (`mode64`) 64-bit mode decodes it.
 */
export function opcodeDesc(map: 1 | 2, opcode: number, mode64 = false): OpDesc | null {
  if (!oneByte) tables();
  if (mode64) {
    tables64();
    return (map === 1 ? oneByte64! : twoByte64!)[opcode] ?? null;
  }
  return (map === 1 ? oneByte! : twoByte!)[opcode] ?? null;
}

// ---------------------------------------------------------------------------
// Decoding one instruction

/**
 * Bytes come from here: the byte at `offset` from the instruction start, or the negated
 * vector of the fault that fetching it raises (-13 beyond the CS limit, -14 page fault).
 */
export interface FetchSource {
  fetch(offset: number): number;
}

export const MAX_INSN_LENGTH = 15;

/** What decodeInsn decodes for: CS.D (true = 32-bit, false = 16-bit) or 16, 32, 64. */
export type DecodeMode = boolean | 16 | 32 | 64;

/**
 * Decode the instruction whose bytes `src` supplies into slot `i`. `mode` is the code
 * segment's default size: CS.D as a boolean, or 16, 32 or 64 (64-bit mode: CS.L with
 * EFER.LMA). Returns the length, or -1 after writing a slot that raises the fetch fault
 * (CS limit, page fault, or over 15 bytes) when executed.
 */
export function decodeInsn(dc: DecodeCache, i: number, src: FetchSource, mode: DecodeMode): number {
  if (!oneByte) tables();
  const mode64 = mode === 64;
  if (mode64 && oneByte64 === null) tables64();
  const def32 = mode === true || mode === 32;
  let pos = 0;
  let flags = mode64 ? F_A64 : def32 ? F_O32 | F_A32 : 0;
  let seg = -1;
  let b = 0;
  let p66 = false;
  let pF3 = false;
  let rex = 0;
  for (;;) {
    if (pos >= MAX_INSN_LENGTH) return fetchFault(dc, i, -13, pos);
    b = src.fetch(pos);
    if (b < 0) return fetchFault(dc, i, b, pos);
    pos++;
    if (mode64 && (b & 0xf0) === 0x40) {
      // REX: counts only as the last prefix before the opcode.
      rex = b;
      continue;
    }
    switch (b) {
      case 0x66:
        p66 = true;
        rex = 0;
        continue;
      case 0x67:
        if (mode64) flags = (flags & ~F_A64) | F_A32;
        else flags ^= def32 === ((flags & F_A32) !== 0) ? F_A32 : 0;
        rex = 0;
        continue;
      case 0x26:
      case 0x2e:
      case 0x36:
      case 0x3e:
        // In 64-bit mode ES, CS, SS and DS overrides are ignored.
        if (!mode64) seg = (b >> 3) & 3;
        rex = 0;
        continue;
      case 0x64:
      case 0x65:
        seg = b - 0x60;
        rex = 0;
        continue;
      case 0xf0:
        flags |= F_LOCK;
        rex = 0;
        continue;
      case 0xf2:
        flags = (flags & ~F_REP) | F_REPNE;
        pF3 = false;
        rex = 0;
        continue;
      case 0xf3:
        flags = (flags & ~F_REPNE) | F_REP;
        pF3 = true;
        rex = 0;
        continue;
    }
    break;
  }
  if (rex !== 0) flags |= F_REX;
  const rexR = (rex >> 2) & 1;
  const rexB = rex & 1;
  if (p66) flags = (flags ^ (mode64 ? 0 : F_O32)) | F_P66;
  // F3 90 is PAUSE (SDM Vol. 2), a NOP that virtualization can intercept; with REX.B
  // 90 is XCHG r8, rAX.
  if (b === 0x90 && pF3 && rexB === 0) {
    dc.opcode[i] = 0xf390;
    dc.reg[i] = 0;
    dc.rm[i] = 0;
    dc.seg[i] = DS;
    const id =
      flags & F_LOCK ? HANDLER_UD : mode64 ? pause64!.handlersLong[2]! : pauseDesc().handlers[0]!;
    return finish(dc, i, id, pos, flags, seg, false);
  }
  let desc: OpDesc | null;
  let opcode = b;
  if (b === 0x0f) {
    if (pos >= MAX_INSN_LENGTH) return fetchFault(dc, i, -13, pos);
    const b2 = src.fetch(pos);
    if (b2 < 0) return fetchFault(dc, i, b2, pos);
    pos++;
    opcode = 0x0f00 | b2;
    desc = (mode64 ? twoByte64! : twoByte!)[b2] ?? null;
    if (desc !== null && desc.special === "sse") {
      // The mandatory prefix selects the row and is consumed by it.
      if (pF3 || (flags & F_REPNE) !== 0) {
        desc = desc.group![pF3 ? 2 : 3] ?? null;
        flags &= ~(F_REP | F_REPNE);
      } else if (p66) {
        desc = desc.group![1] ?? null;
        flags = (flags ^ (mode64 ? 0 : F_O32)) & ~F_P66;
        p66 = false;
      } else {
        desc = desc.group![0] ?? null;
      }
    }
  } else {
    desc = (mode64 ? oneByte64! : oneByte!)[b] ?? null;
    // 90 with REX.B is XCHG r8, rAX, not NOP.
    if (b === 0x90 && rexB !== 0) desc = xchgR8Desc();
  }

  dc.opcode[i] = opcode;
  dc.reg[i] = 0;
  dc.rm[i] = 0;
  dc.base[i] = REG_ZERO;
  dc.index[i] = REG_ZERO;
  dc.scale[i] = 0;
  dc.disp[i] = 0;
  dc.imm[i] = 0;
  dc.imm2[i] = 0;
  dc.seg[i] = DS;

  if (desc?.special === "0f38") {
    if (pos >= MAX_INSN_LENGTH) return fetchFault(dc, i, -13, pos);
    const b3 = src.fetch(pos);
    if (b3 < 0) return fetchFault(dc, i, b3, pos);
    pos++;
    dc.opcode[i] = 0x0f3800 | b3;
    desc = p66 ? ((mode64 ? threeByte64 : threeByte).get(b3) ?? null) : null;
  }

  // ModRM / SIB / displacement.
  let isMem = false;
  if (desc?.modrm) {
    if (pos >= MAX_INSN_LENGTH) return fetchFault(dc, i, -13, pos);
    const modrm = src.fetch(pos);
    if (modrm < 0) return fetchFault(dc, i, modrm, pos);
    pos++;
    const mod = modrm >> 6;
    const reg = (modrm >> 3) & 7;
    const rm = modrm & 7;
    dc.reg[i] = reg | (rexR << 3);
    dc.rm[i] = rm | (rexB << 3);
    // MOV to/from CR/DR ignore ModRM.mod: always a register (SDM MOV—Move to/from CRn).
    if (mod !== 3 && desc.ops[0]?.kind !== "R" && desc.ops[1]?.kind !== "R") {
      isMem = true;
      const r = mode64
        ? decodeModrm64(dc, i, src, pos, mod, rm, rex)
        : decodeModrmMemory(dc, i, src, pos, mod, rm, (flags & F_A32) !== 0);
      if (r < 0) return fetchFault(dc, i, r, pos);
      if (mode64 && mod === 0 && rm === 5) flags |= F_RIPREL;
      pos = r;
    }
    // Groups, the Grp7/Grp9/Grp15 register forms and x87 forms choose the instruction now.
    if (opcode >= 0xd8 && opcode <= 0xdf) {
      const forms = mode64 ? x87Long : x87;
      desc =
        (mod === 3
          ? forms[64 + (opcode & 7) * 64 + (modrm & 63)]
          : forms[(opcode & 7) * 8 + reg]) ?? desc;
    } else if (desc.special === "grp15") {
      desc = desc.group![mod === 3 ? 8 + reg : reg] ?? null;
    } else if (desc.special === "grp7" && mod === 3) {
      const regForms = mode64 ? grp7Reg64 : grp7Reg;
      desc = regForms.get(modrm) ?? (reg === 4 || reg === 6 ? (desc.group?.[reg] ?? null) : null);
    } else if (desc.special === "grp9" && reg === 6) {
      const g9 = mode64 ? grp9Long : grp9;
      desc = mod === 3 ? g9.reg! : p66 ? g9.p66! : pF3 ? g9.pF3! : g9.none!;
      if (pF3 && !isMem) desc = null;
    } else if (desc.group) {
      desc = desc.group[reg] ?? null;
    }
  }

  if (desc === null) return finish(dc, i, HANDLER_UD, pos, flags | F_END, seg, isMem);

  // The operand size of 64-bit mode: REX.W, or the row's d64/f64 attribute.
  if (mode64) {
    if (desc.size64 === 2 || (desc.size64 === 1 && !p66) || (rex & 8) !== 0) {
      flags = (flags & ~F_O32) | F_O64;
    } else if (!p66) {
      flags |= F_O32;
    }
  }

  // Memory-only operands with a register ModRM (and the reverse), and LOCK where it is not
  // allowed: #UD.
  let ud = (desc.memOnly && !isMem) || (desc.regOnly && isMem);
  // Registers named in the row: the first stands in rm (and reg), a second in reg. Rows
  // whose register is in the opcode (50–5F, 90–97, B0–BF, 0F C8–CF) take REX.B.
  if (desc.z1 >= 0) {
    const embedded =
      (b >= 0x50 && b <= 0x5f) ||
      (b >= 0x90 && b <= 0x97) ||
      (b >= 0xb0 && b <= 0xbf) ||
      (opcode >= 0x0fc8 && opcode <= 0x0fcf);
    const ext = embedded ? rexB << 3 : 0;
    dc.rm[i] = desc.z1 + ext;
    dc.reg[i] = desc.z2 >= 0 ? desc.z2 : desc.z1 + ext;
  }
  if (desc.sreg >= 0) dc.reg[i] = desc.sreg;
  // Byte registers: with any REX, numbers 4–7 are SPL BPL SIL DIL (REG8 16–19), 8–15 are
  // R8B–R15B; without, 4–7 are AH CH DH BH.
  if (rex !== 0) {
    for (let k = 0; k < desc.ops.length; k++) {
      const o = desc.ops[k]!;
      if (o.size !== "b") continue;
      if (o.kind === "E" && !isMem) dc.rm[i] = byteReg64(dc.rm[i]!);
      else if (o.kind === "G") dc.reg[i] = byteReg64(dc.reg[i]!);
      else if (o.kind === "Z" && desc.z1 >= 0 && k === 0) dc.rm[i] = byteReg64(dc.rm[i]!);
    }
  }
  const lockDst = desc.ops[0]?.kind === "E" || desc.ops[0]?.kind === "M";
  if (flags & F_LOCK && (!desc.lockable || !isMem || !lockDst)) ud = true;

  // Immediates, relative offsets, moffs, far pointers.
  const o64 = (flags & F_O64) !== 0;
  const o32 = (flags & F_O32) !== 0;
  let immIndex = 0;
  for (const o of desc.ops) {
    let n = 0;
    let signed = false;
    switch (o.kind) {
      case "I":
        if (o.size === "v" && o64) {
          // MOV r64, imm64: the only 8-byte immediate; low half in imm, high in imm2.
          if (pos + 8 > MAX_INSN_LENGTH) return fetchFault(dc, i, -13, pos);
          const lo = readImm(src, pos, 4);
          if (lo === null) return fetchFault(dc, i, lastFetch, pos);
          const hi = readImm(src, pos + 4, 4);
          if (hi === null) return fetchFault(dc, i, lastFetch, pos + 4);
          pos += 8;
          dc.imm[i] = lo;
          dc.imm2[i] = hi;
          immIndex = 2;
          continue;
        }
        n = o.size === "b" ? 1 : o.size === "w" ? 2 : o.size === "d" ? 4 : o32 || o64 ? 4 : 2;
        signed = o.size === "b";
        break;
      case "J":
        n = o.size === "b" ? 1 : o32 || o64 ? 4 : 2;
        signed = true;
        break;
      case "O": {
        if (flags & F_A64) {
          // moffs64: low half in disp, high half in imm2.
          if (pos + 8 > MAX_INSN_LENGTH) return fetchFault(dc, i, -13, pos);
          const lo = readImm(src, pos, 4);
          if (lo === null) return fetchFault(dc, i, lastFetch, pos);
          const hi = readImm(src, pos + 4, 4);
          if (hi === null) return fetchFault(dc, i, lastFetch, pos + 4);
          pos += 8;
          dc.disp[i] = lo;
          dc.imm2[i] = hi;
          isMem = true;
          continue;
        }
        const an = flags & F_A32 ? 4 : 2;
        const v = readImm(src, pos, an);
        if (v === null) return fetchFault(dc, i, lastFetch, pos);
        pos += an;
        dc.disp[i] = v;
        isMem = true;
        continue;
      }
      case "A": {
        const on = o32 ? 4 : 2;
        const off = readImm(src, pos, on);
        if (off === null) return fetchFault(dc, i, lastFetch, pos);
        const sel = readImm(src, pos + on, 2);
        if (sel === null) return fetchFault(dc, i, lastFetch, pos);
        pos += on + 2;
        dc.imm[i] = off;
        dc.imm2[i] = sel;
        continue;
      }
      default:
        continue;
    }
    if (pos + n > MAX_INSN_LENGTH) return fetchFault(dc, i, -13, pos);
    let v = readImm(src, pos, n);
    if (v === null) return fetchFault(dc, i, lastFetch, pos);
    pos += n;
    if (signed) v = n === 1 ? (v << 24) >> 24 : n === 2 ? (v << 16) >> 16 : v;
    if (immIndex++ === 0) dc.imm[i] = v;
    else dc.imm2[i] = v;
  }
  if (pos > MAX_INSN_LENGTH) return fetchFault(dc, i, -13, pos);
  // Jcc/SETcc/CMOVcc carry their condition in imm2 (they have at most one immediate).
  if (desc.cc >= 0) dc.imm2[i] = desc.cc;

  let id: number;
  if (mode64) {
    const k = (o64 ? 4 : o32 ? 2 : 0) + (isMem ? 1 : 0);
    id = ud ? HANDLER_UD : desc.handlersLong[k]!;
  } else {
    const k = (o32 ? 2 : 0) + (isMem ? 1 : 0);
    id = ud ? HANDLER_UD : desc.handlers[k]!;
  }
  if (ud || desc.ender || id === HANDLER_UD) flags |= F_END;
  // On shared RAM a locked read-modify-write (XCHG with memory is locked without the
  // prefix) gets its atomic variant.
  if (dc.atomicRmw && isMem && !ud && ((flags & F_LOCK) !== 0 || desc.mnemonic === "XCHG")) {
    id = lockedHandlerId(id);
  }
  return finish(dc, i, id, pos, flags, seg, isMem);
}

/** REG8 index of byte register n (0–15) when a REX prefix is present. */
function byteReg64(n: number): number {
  return n >= 4 && n <= 7 ? 12 + n : n;
}

function finish(
  dc: DecodeCache,
  i: number,
  id: number,
  len: number,
  flags: number,
  seg: number,
  isMem: boolean,
): number {
  if (seg >= 0) {
    dc.seg[i] = seg;
    flags |= F_SEGOVR;
  }
  dc.op[i] = id;
  dc.fn[i] = HANDLERS[id]!;
  dc.len[i] = len;
  dc.flags[i] = flags | (isMem ? F_MEM : 0);
  return len;
}

let lastFetch = -1;

function readImm(src: FetchSource, pos: number, n: number): number | null {
  let v = 0;
  for (let k = 0; k < n; k++) {
    if (pos + k >= MAX_INSN_LENGTH) {
      lastFetch = -13;
      return null;
    }
    const b = src.fetch(pos + k);
    if (b < 0) {
      lastFetch = b;
      return null;
    }
    v |= b << (8 * k);
  }
  return v;
}

/**
 * ModRM memory forms. 16-bit: the eight base/index pairs of Table 2-1; 32-bit: SIB and
 * disp32 of Tables 2-2/2-3. Writes base/index/scale/disp and the default segment (SS for
 * BP/EBP/ESP bases, DS otherwise) into the slot. Returns the new position or <0.
 */
function decodeModrmMemory(
  dc: DecodeCache,
  i: number,
  src: FetchSource,
  pos: number,
  mod: number,
  rm: number,
  a32: boolean,
): number {
  let dispBytes = 0;
  let defSeg = DS;
  if (!a32) {
    const BASE16 = [3, 3, 5, 5, 6, 7, 5, 3];
    const INDEX16 = [6, 7, 6, 7, REG_ZERO, REG_ZERO, REG_ZERO, REG_ZERO];
    if (mod === 0 && rm === 6) {
      dc.base[i] = REG_ZERO;
      dc.index[i] = REG_ZERO;
      dispBytes = 2;
    } else {
      dc.base[i] = BASE16[rm]!;
      dc.index[i] = INDEX16[rm]!;
      if (rm === 2 || rm === 3 || rm === 6) defSeg = SS;
      dispBytes = mod === 1 ? 1 : mod === 2 ? 2 : 0;
    }
  } else {
    if (rm === 4) {
      if (pos >= MAX_INSN_LENGTH) return -13;
      const sib = src.fetch(pos);
      if (sib < 0) return sib;
      pos++;
      const scale = sib >> 6;
      const index = (sib >> 3) & 7;
      const base = sib & 7;
      dc.scale[i] = scale;
      dc.index[i] = index === 4 ? REG_ZERO : index;
      if (base === 5 && mod === 0) {
        dc.base[i] = REG_ZERO;
        dispBytes = 4;
      } else {
        dc.base[i] = base;
        if (base === EBP || base === ESP) defSeg = SS;
      }
    } else if (rm === 5 && mod === 0) {
      dc.base[i] = REG_ZERO;
      dispBytes = 4;
    } else {
      dc.base[i] = rm;
      if (rm === EBP) defSeg = SS;
    }
    if (mod === 1) dispBytes = 1;
    else if (mod === 2) dispBytes = 4;
  }
  dc.seg[i] = defSeg;
  if (dispBytes) {
    if (pos + dispBytes > MAX_INSN_LENGTH) return -13;
    const v = readImm(src, pos, dispBytes);
    if (v === null) return lastFetch;
    dc.disp[i] = dispBytes === 1 ? (v << 24) >> 24 : dispBytes === 2 ? (v << 16) >> 16 : v;
    pos += dispBytes;
  }
  return pos;
}

/**
 * ModRM memory forms of 64-bit mode (SDM Vol. 2 §2.2.1): the 32-bit forms with REX.B
 * and REX.X extending base and index, and RIP-relative addressing for mod = 0, rm = 101
 * (the caller sets F_RIPREL). The default segment stays SS for an rSP/rBP base, for #SS
 * against #GP on a non-canonical address.
 */
function decodeModrm64(
  dc: DecodeCache,
  i: number,
  src: FetchSource,
  pos: number,
  mod: number,
  rm: number,
  rex: number,
): number {
  const rexX = (rex >> 1) & 1;
  const rexB = rex & 1;
  let dispBytes = 0;
  let defSeg = DS;
  if (rm === 4) {
    if (pos >= MAX_INSN_LENGTH) return -13;
    const sib = src.fetch(pos);
    if (sib < 0) return sib;
    pos++;
    const index = ((sib >> 3) & 7) | (rexX << 3);
    const base = sib & 7;
    dc.scale[i] = sib >> 6;
    dc.index[i] = index === 4 ? REG_ZERO : index;
    if (base === 5 && mod === 0) {
      dc.base[i] = REG_ZERO;
      dispBytes = 4;
    } else {
      dc.base[i] = base | (rexB << 3);
      if (dc.base[i] === EBP || dc.base[i] === ESP) defSeg = SS;
    }
  } else if (rm === 5 && mod === 0) {
    dc.base[i] = REG_ZERO;
    dispBytes = 4;
  } else {
    dc.base[i] = rm | (rexB << 3);
    if (dc.base[i] === EBP) defSeg = SS;
  }
  if (mod === 1) dispBytes = 1;
  else if (mod === 2) dispBytes = 4;
  dc.seg[i] = defSeg;
  if (dispBytes) {
    if (pos + dispBytes > MAX_INSN_LENGTH) return -13;
    const v = readImm(src, pos, dispBytes);
    if (v === null) return lastFetch;
    dc.disp[i] = dispBytes === 1 ? (v << 24) >> 24 : v;
    pos += dispBytes;
  }
  return pos;
}

/**
 * A slot that raises the fault met while fetching: `negVector` is -13 (#GP(0): beyond
 * the CS limit or longer than 15 bytes) or the negated vector the fetch source reported.
 */
function fetchFault(dc: DecodeCache, i: number, negVector: number, pos: number): number {
  dc.op[i] = HANDLER_FETCH_FAULT;
  dc.fn[i] = HANDLERS[HANDLER_FETCH_FAULT]!;
  dc.imm[i] = -negVector;
  dc.len[i] = pos;
  dc.flags[i] = F_END;
  dc.seg[i] = CS;
  return -1;
}
