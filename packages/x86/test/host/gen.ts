/**
 * Random instruction sequences for the host-CPU differential test (host-diff.test.ts):
 * 1–8 user-mode integer instructions, register operands only, 8-, 16- and 32-bit operand
 * sizes, encoded by the table below so that the same bytes mean the same thing in 64-bit
 * mode (the native run) and in 32-bit protected mode (the interpreter):
 *
 * - no REX prefix, no INC/DEC short forms (40–4F are REX in 64-bit mode: FE/FF /0 /1
 *   instead), no ESP/RSP operand, no PUSH/POP/CALL/RET/Jcc, no instruction that is
 *   invalid in 64-bit mode (AAA…DAS, BOUND, 82, SALC, ARPL/MOVSXD 63);
 * - no memory operand. LEA is in: with 32-bit address size in 32-bit mode and 64-bit in
 *   64-bit mode (no 67 prefix) the low 32 bits of the effective address are the same sum
 *   modulo 2^32, and LEA r32 / r16 keeps only those bits (SDM Vol. 2 LEA, the
 *   OperandSize 32 / AddressSize 64 row). What differs is left out: ModRM mod=00 rm=101
 *   (RIP-relative in 64-bit mode) and ESP as a base;
 * - no F2/F3 except PAUSE (F3 0F BC/BD would be TZCNT/LZCNT on this host);
 * - a 32-bit destination zeroes bits 63:32 in 64-bit mode, an 8/16-bit one does not:
 *   only the low 32 bits of EAX..EDI (not ESP) are compared.
 *
 * With GenOptions.long the code is 64-bit and runs in the interpreter's 64-bit mode too:
 * operand size 64 by REX.W (immediates sign-extended, MOV r64, imm64 the exception),
 * R8–R15 by REX.R/X/B (never RSP), SPL..DIL and R8B..R15B with a REX prefix. Each
 * instruction is either "legacy" (no REX: AH..BH possible, as above) or "REX" (no
 * AH..BH), chosen per instruction. Also MOVSXD (63), CDQE/CQO, BSWAP r64, XCHG r8, rAX
 * (41 90), LEA with 64-bit addressing (R12/R13 bases, R12 as index) or 67 (32-bit).
 * All 64 bits of the sixteen registers but RSP are compared; `Bits.hi` tracks bits 63:32,
 * and writes at 32 bits define them (zero-extension, CMOVcc included: SDM CMOVcc). The
 * classes in LONG_GATED join when the interpreter has their 64-bit handlers.
 *
 * Undefined results (SDM Vol. 2, "Flags Affected" of each instruction; the host is AMD,
 * the interpreter follows Intel): `effectOf` says which of CF PF AF ZF SF OF an
 * instruction defines and which it leaves undefined, and when a destination register is
 * undefined (BSF/BSR with a zero source, SHLD/SHRD past the operand size). Where that
 * depends on a value (a CL count, a BSF source) it takes the value as a parameter: the
 * generator folds over every value the parameter could take (`Dataflow.applyAny`), the
 * checker applies the one that occurred (`Dataflow.apply`; diff.ts reads it from the
 * interpreter, single-stepped: a wrong value there shows up in the registers anyway).
 * The generator never emits an instruction that reads a flag or register bit that may
 * be undefined at that point (ADC/SBB/RCL/RCR/CMC/CMOVcc/SETcc/LAHF and every register
 * read); for flag readers it puts a flag-defining ADD/SUB/CMP/NEG in front instead. So
 * undefined values never propagate, and at the end only the defined flags and register
 * bits are compared.
 *
 * Reproducible: case `index` of run `seed` comes from its own PRNG seeded by
 * caseSeed(seed, index), so one failing case regenerates alone.
 */

// Arithmetic flags (EFLAGS bit positions).
export const CF = 0x001;
export const PF = 0x004;
export const AF = 0x010;
export const ZF = 0x040;
export const SF = 0x080;
export const OF = 0x800;
export const ARITH_FLAGS = CF | PF | AF | ZF | SF | OF;

/**
 * Operand sizes. 64 (REX.W) only in long mode, where the comparison takes all 64 bits of
 * each register (Bits.hi masks the high halves).
 */
export type Size = 8 | 16 | 32 | 64;
const SIZES: readonly Size[] = [8, 16, 32];
const SIZES_LONG: readonly Size[] = [8, 16, 32, 64];

/** Registers a 16/32-bit operand may name: all but ESP (4), which belongs to the harness. */
const GPRS: readonly number[] = [0, 1, 2, 3, 5, 6, 7];
/** Long mode adds R8–R15 (REX.R/X/B); with a REX prefix 4–7 as bytes are SPL..DIL (not SPL). */
const GPRS_LONG: readonly number[] = [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
/** Registers compared in 32-bit protected mode (r0..r7); long mode compares all 16. */
export const NREGS = 8;
export const NREGS_LONG = 16;

// Small PRNG --------------------------------------------------------------------------

/** xorshift32 with helpers. Deterministic from its seed. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x1234_5678;
  }
  /** A uniform uint32. */
  next(): number {
    let s = this.s;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.s = s >>> 0;
    return this.s;
  }
  /** Uniform in [0, n). */
  below(n: number): number {
    return Math.floor((this.next() / 0x1_0000_0000) * n);
  }
  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() / 0x1_0000_0000 < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.below(a.length)]!;
  }
}

/** The seed of case `index` of a run seeded `seed`: an integer hash of both. */
export function caseSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e37_79b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85eb_ca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2_ae35);
  h ^= h >>> 16;
  return h >>> 0 || 1;
}

// Instructions ------------------------------------------------------------------------

/** Bits of one general register: `mask` over bits 31:0, `hi` over bits 63:32. */
export interface Bits {
  readonly reg: number;
  readonly mask: number;
  readonly hi: number;
}

/** How an instruction treats the arithmetic flags (see effectOf). */
export type Effect =
  | "none"
  | "arith"
  | "logic"
  | "incdec"
  | "mul"
  | "div"
  | "shl"
  | "shr"
  | "sar"
  | "rot"
  | "rcx"
  | "shd"
  | "bt"
  | "bs"
  | "sahf"
  | "cf";

export interface Insn {
  /** Mnemonic and form, SDM notation ("ADD Ev,Gv"), for statistics. */
  readonly form: string;
  readonly bytes: readonly number[];
  readonly size: Size;
  readonly effect: Effect;
  readonly reads: readonly Bits[];
  readonly writes: readonly Bits[];
  /** Flags the instruction reads. */
  readonly flagsIn: number;
  /**
   * Where the effect's parameter comes from at run time: CL for a count (masked to 5
   * bits), the source operand for BSF/BSR (1 when zero). Null: `param` is fixed.
   */
  readonly dyn: Bits | null;
  readonly param: number;
  /** The destination that SHLD/SHRD past the size or BSF/BSR of zero leave undefined. */
  readonly dest: Bits | null;
  /** Bits left undefined whatever the parameter (after `writes`; see cmpxchg). */
  readonly undefs: readonly Bits[];
  /** Raises #UD (LOCK with a register operand, UD2): the sequence ends here. */
  readonly ud: boolean;
}

const ALL = ARITH_FLAGS;
/** effectOf() result: flags set, flags left undefined (<< 12), destination undefined. */
const UNDEF_SHIFT = 12;
const DEST_UNDEF = 1 << 24;
const eff = (set: number, undef: number, dest = false): number =>
  set | (undef << UNDEF_SHIFT) | (dest ? DEST_UNDEF : 0);

/**
 * What `insn` does to the flags for parameter `p` (a masked count, or 1 when a BSF/BSR
 * source is zero), packed: bits 0–11 the flags it defines, 12–23 those it leaves
 * undefined, bit 24 set when its destination is undefined. Flags in neither are kept.
 * Intel SDM Vol. 2, each instruction's "Flags Affected".
 */
export function effectOf(insn: Insn, p: number): number {
  const n = insn.size;
  switch (insn.effect) {
    case "none":
      return 0;
    case "arith": // ADD ADC SUB SBB CMP NEG XADD CMPXCHG
      return eff(ALL, 0);
    case "logic": // AND OR XOR TEST: CF = OF = 0, AF undefined
      return eff(CF | OF | SF | ZF | PF, AF);
    case "incdec": // CF kept
      return eff(OF | SF | ZF | AF | PF, 0);
    case "mul": // MUL, IMUL (all forms)
      return eff(CF | OF, SF | ZF | AF | PF);
    case "div":
      return eff(0, ALL);
    case "shl":
    case "shr":
    case "sar": {
      // Count 0: nothing changes. CF undefined for SHL/SHR by >= the width, OF unless
      // the count is 1, AF always.
      if (p === 0) return 0;
      const cfUndef = insn.effect !== "sar" && p >= n;
      const set = SF | ZF | PF | (cfUndef ? 0 : CF) | (p === 1 ? OF : 0);
      const undef = AF | (cfUndef ? CF : 0) | (p === 1 ? 0 : OF);
      return eff(set, undef);
    }
    case "rot": // ROL ROR: CF OF only; OF undefined unless the masked count is 1
    case "rcx": // RCL RCR: likewise (a count that is a multiple of width + 1 keeps CF)
      if (p === 0) return 0;
      return p === 1 ? eff(CF | OF, 0) : eff(CF, OF);
    case "shd":
      // SHLD SHRD: past the operand size the result and every flag are undefined.
      if (p === 0) return 0;
      if (p > n) return eff(0, ALL, true);
      return eff(CF | SF | ZF | PF | (p === 1 ? OF : 0), AF | (p === 1 ? 0 : OF));
    case "bt": // BT BTS BTR BTC: ZF kept
      return eff(CF, OF | SF | AF | PF);
    case "bs": // BSF BSR: the destination is undefined when the source is 0
      return eff(ZF, CF | OF | SF | AF | PF, p !== 0);
    case "sahf":
      return eff(SF | ZF | AF | PF | CF, 0);
    case "cf": // CLC STC CMC
      return eff(CF, 0);
  }
}

/**
 * Every case effectOf distinguishes, for a count read from CL (masked to 5 bits; to 6
 * for a 64-bit operand, which adds 32, 33 and 63).
 */
const COUNT_CASES: readonly number[] = [0, 1, 2, 7, 8, 9, 15, 16, 17, 31];
const COUNT_CASES_64: readonly number[] = [...COUNT_CASES, 32, 33, 63];
const ZERO_CASES: readonly number[] = [0, 1];

/** The count mask of a shift at `size` (SDM SAL/SAR/SHL/SHR: 6 bits with REX.W). */
export const countMask = (size: Size): number => (size === 64 ? 0x3f : 0x1f);

/** The parameter `insn` runs with, given the registers (low, high halves) before it. */
export function paramOf(insn: Insn, regs: ArrayLike<number>, regsHi?: ArrayLike<number>): number {
  const d = insn.dyn;
  if (d === null) return insn.param;
  const v = (regs[d.reg]! & d.mask) >>> 0;
  if (insn.effect === "bs") return v === 0 && ((regsHi?.[d.reg] ?? 0) & d.hi) === 0 ? 1 : 0;
  return (v >>> (d.mask === 0xff00 ? 8 : 0)) & countMask(insn.size);
}

/**
 * Which flags and register bits are defined: the generator's view (every parameter
 * possible) or the checker's (the parameters that occurred).
 */
export class Dataflow {
  /** Defined arithmetic flags. */
  flags = ARITH_FLAGS;
  /** Per register, the bits that are (or may be) undefined: bits 31:0, bits 63:32. */
  readonly undef = new Uint32Array(NREGS_LONG);
  readonly undefHi = new Uint32Array(NREGS_LONG);

  /** True when every register bit `insn` reads is defined. */
  regsDefined(insn: Insn): boolean {
    for (const r of insn.reads) {
      if ((this.undef[r.reg]! & r.mask) !== 0 || (this.undefHi[r.reg]! & r.hi) !== 0) return false;
    }
    return true;
  }

  private written(insn: Insn, destUndef: boolean): void {
    for (const w of insn.writes) {
      this.undef[w.reg] = this.undef[w.reg]! & ~w.mask;
      this.undefHi[w.reg] = this.undefHi[w.reg]! & ~w.hi;
    }
    for (const u of insn.undefs) {
      this.undef[u.reg] = this.undef[u.reg]! | u.mask;
      this.undefHi[u.reg] = this.undefHi[u.reg]! | u.hi;
    }
    const d = insn.dest;
    if (destUndef && d) {
      this.undef[d.reg] = this.undef[d.reg]! | d.mask;
      this.undefHi[d.reg] = this.undefHi[d.reg]! | d.hi;
    }
  }

  /** After `insn` ran with parameter `p`. */
  apply(insn: Insn, p: number): void {
    const e = effectOf(insn, p);
    this.flags = ((this.flags & ~(e >>> UNDEF_SHIFT)) | e) & ALL;
    this.written(insn, (e & DEST_UNDEF) !== 0);
  }

  /** After `insn` ran with whichever parameter: defined only if defined in every case. */
  applyAny(insn: Insn): void {
    const cases =
      insn.dyn === null
        ? [insn.param]
        : insn.effect === "bs"
          ? ZERO_CASES
          : insn.size === 64
            ? COUNT_CASES_64
            : COUNT_CASES;
    let flags = ALL;
    let destUndef = false;
    for (const p of cases) {
      const e = effectOf(insn, p);
      flags &= (this.flags & ~(e >>> UNDEF_SHIFT)) | e;
      if (e & DEST_UNDEF) destUndef = true;
    }
    this.flags = flags & ALL;
    this.written(insn, destUndef);
  }
}

// Encoding ----------------------------------------------------------------------------

const ONES = 0xffff_ffff;

/** Legacy numbering: bytes 0–3 AL..BL, 4–7 AH..BH; other sizes the register itself. */
function bitsOf(n: number, size: Size): Bits {
  if (size === 8) {
    return n < 4 ? { reg: n, mask: 0xff, hi: 0 } : { reg: n - 4, mask: 0xff00, hi: 0 };
  }
  if (size === 64) return { reg: n, mask: ONES, hi: ONES };
  return { reg: n, mask: size === 16 ? 0xffff : ONES, hi: 0 };
}
const GPR_BITS: Readonly<Record<Size, readonly Bits[]>> = {
  8: Array.from({ length: 8 }, (_, n) => bitsOf(n, 8)),
  16: Array.from({ length: 16 }, (_, n) => bitsOf(n, 16)),
  32: Array.from({ length: 16 }, (_, n) => bitsOf(n, 32)),
  64: Array.from({ length: 16 }, (_, n) => bitsOf(n, 64)),
};
/** Byte registers with a REX prefix: the low byte of register n (SPL..DIL, R8B..R15B). */
const REX_BYTE_BITS: readonly Bits[] = Array.from({ length: 16 }, (_, n) => ({
  reg: n,
  mask: 0xff,
  hi: 0,
}));
/** What a 32-bit write in 64-bit mode defines: the register, zero-extended. */
const WRITE32_LONG: readonly Bits[] = GPR_BITS[64];

/** The bits of register operand `n` at `size`, legacy numbering (8-bit: AL..BL, then AH..BH). */
export function gpr(n: number, size: Size): Bits {
  return GPR_BITS[size][n]!;
}

const AL = gpr(0, 8);
const AH = gpr(4, 8);
const CL = gpr(1, 8);
const AX = gpr(0, 16);

/**
 * The prefixes of an instruction at operand size `size` whose ModRM.reg is `reg`,
 * ModRM.rm (or opcode register) `rm` and SIB.index `index`: 66 for 16-bit operands, and
 * REX (W for 64-bit operands; R, X, B = bit 3 of reg, index, rm). `rex` forces a REX
 * prefix (byte registers SPL..DIL need one, and with one AH..BH cannot be encoded).
 */
function pfx(size: Size, reg = 0, rm = 0, index = 0, rex = false): number[] {
  const p = size === 16 ? [0x66] : [];
  const bits = (size === 64 ? 8 : 0) | ((reg >> 3) << 2) | ((index >> 3) << 1) | (rm >> 3);
  if (bits !== 0 || rex) p.push(0x40 | bits);
  return p;
}

/** ModRM with mod = 3 (register operand). */
const modrm = (reg: number, rm: number): number => 0xc0 | ((reg & 7) << 3) | (rm & 7);

/** An immediate of `size` (Ib, Iw, Id; Iz for 64: four bytes, sign-extended by the CPU). */
function imm(size: Size, v: number): number[] {
  const b = [v & 0xff];
  if (size >= 16) b.push((v >>> 8) & 0xff);
  if (size >= 32) b.push((v >>> 16) & 0xff, (v >>> 24) & 0xff);
  return b;
}

/** Opcode with the w bit: byte form `op`, word/dword/qword form `op + 1`. */
const w = (op: number, size: Size): number => (size === 8 ? op : op + 1);

const SIZE_LETTER = { 8: "b", 16: "v", 32: "v", 64: "v" } as const;

interface Parts {
  form: string;
  bytes: number[];
  size: Size;
  effect?: Effect;
  reads?: Bits[];
  writes?: Bits[];
  flagsIn?: number;
  dyn?: Bits | null;
  param?: number;
  dest?: Bits | null;
  undefs?: Bits[];
}

function make(p: Parts): Insn {
  return {
    form: p.form,
    bytes: p.bytes,
    size: p.size,
    effect: p.effect ?? "none",
    reads: p.reads ?? [],
    writes: p.writes ?? [],
    flagsIn: p.flagsIn ?? 0,
    dyn: p.dyn ?? null,
    param: p.param ?? 0,
    dest: p.dest ?? null,
    undefs: p.undefs ?? [],
    ud: false,
  };
}

/** Flags condition code `cc` (0–15) reads, SDM Vol. 1 Table B-1. */
export function ccFlags(cc: number): number {
  return [OF, CF, ZF, CF | ZF, SF, PF, SF | OF, ZF | SF | OF][cc >> 1]!;
}

const ALU_NAMES = ["ADD", "OR", "ADC", "SBB", "AND", "SUB", "XOR", "CMP"] as const;
const SHIFT_NAMES = ["ROL", "ROR", "RCL", "RCR", "SHL", "SHR", "SAL", "SAR"] as const;
const SHIFT_EFFECT: readonly Effect[] = ["rot", "rot", "rcx", "rcx", "shl", "shr", "shl", "sar"];
const GRP2_FORMS = ["Eb_1", "Ev_1", "Eb_CL", "Ev_CL", "Eb_Ib", "Ev_Ib"] as const;
// biome-ignore format: a table
const CC_NAMES = ["O", "NO", "B", "NB", "Z", "NZ", "BE", "NBE", "S", "NS", "P", "NP", "L", "NL", "LE", "NLE"];

// Values ------------------------------------------------------------------------------

// biome-ignore format: a table
const SPECIAL32: readonly number[] = [
  0, 1, 2, 3, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x1_0000, 0x7fff_ffff,
  0x8000_0000, 0x8000_0001, 0xffff_fffe, 0xffff_ffff, 0xffff_ff80, 0xffff_8000, 0x5555_5555,
  0xaaaa_aaaa, 0x0f0f_0f0f,
];
// biome-ignore format: a table
const COUNTS: readonly number[] = [
  0, 1, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 63, 0xff,
];

/** Generator for one case. */
class Gen {
  /** 64-bit mode code (GenOptions.long). */
  readonly long: boolean;
  readonly mix: Mix;
  /**
   * The instruction being made has no REX prefix, so its byte operands may be AH..BH
   * (always so outside long mode). In long mode `begin` chooses per instruction.
   */
  legacy = true;
  constructor(
    readonly rng: Rng,
    readonly opts: GenOptions,
  ) {
    this.long = opts.long !== undefined;
    this.mix = opts.long ? longMix(opts.long.gated) : MIX_32;
  }

  /** Before each instruction: long mode picks legacy (AH..BH, no REX) or REX operands. */
  begin(): void {
    if (this.long) this.legacy = this.rng.chance(0.25);
  }
  /** An operand size among `allowed` (default 8, 16, 32); with REX, 64 wherever 32 is. */
  size(...allowed: Size[]): Size {
    const all = allowed.length > 0 ? allowed : SIZES;
    if (this.legacy) return this.rng.pick(all);
    return this.rng.pick(all === SIZES ? SIZES_LONG : all.includes(32) ? [...all, 64] : all);
  }
  /**
   * A register operand number for `size`, never RSP: legacy, any of AL..BH for bytes;
   * with REX, 0–15 at every size (bytes: AL..BL, BPL SIL DIL, R8B..R15B).
   */
  reg(size: Size): number {
    if (!this.legacy) return this.rng.pick(GPRS_LONG);
    return size === 8 ? this.rng.below(8) : this.rng.pick(GPRS);
  }
  /** The bits operand `n` (a reg() number) names at `size`. */
  bits(n: number, size: Size): Bits {
    return size === 8 && !this.legacy ? REX_BYTE_BITS[n]! : gpr(n, size);
  }
  /** The bits a write of operand `n` at `size` defines: in 64-bit mode 32-bit writes zero-extend. */
  out(n: number, size: Size): Bits {
    return size === 32 && this.long ? WRITE32_LONG[n]! : this.bits(n, size);
  }
  /** pfx() for this instruction: `bytes` when it has a byte register operand. */
  pfx(size: Size, reg = 0, rm = 0, index = 0, bytes = size === 8): number[] {
    return pfx(size, reg, rm, index, bytes && !this.legacy);
  }
  /** A register-ish 32-bit value: specials, small numbers, sign-extended bytes/words, random. */
  value32(): number {
    const r = this.rng;
    switch (r.below(6)) {
      case 0:
        return r.pick(SPECIAL32);
      case 1:
        return r.below(40);
      case 2:
        return ((r.next() << 24) >> 24) >>> 0;
      case 3:
        return ((r.next() << 16) >> 16) >>> 0;
      case 4:
        return (r.pick(SPECIAL32) ^ r.below(4)) >>> 0;
      default:
        return r.next();
    }
  }
  immFor(size: Size): number {
    const v = this.value32();
    return size === 8 ? v & 0xff : size === 16 ? v & 0xffff : v;
  }
  count(): number {
    return this.rng.chance(0.7) ? this.rng.pick(COUNTS) : this.rng.below(256);
  }

  // The forms ---------------------------------------------------------------------

  /** ADD OR ADC SBB AND SUB XOR CMP in every register form. */
  alu(op = this.rng.below(8)): Insn {
    const name = ALU_NAMES[op]!;
    const effect: Effect = op === 1 || op === 4 || op === 6 ? "logic" : "arith";
    const flagsIn = op === 2 || op === 3 ? CF : 0;
    const writesDst = op !== 7;
    const r = this.rng;
    const size = this.size();
    const v = SIZE_LETTER[size];
    const dst = this.reg(size);
    const d = this.bits(dst, size);
    const dw = writesDst ? [this.out(dst, size)] : [];
    const base = { size, effect, flagsIn };
    switch (r.below(5)) {
      case 0:
      case 1: {
        // E,G (00..) or G,E (02..): the same operation, the other direction bit.
        const src = this.reg(size);
        const s = this.bits(src, size);
        const toG = r.chance(0.5);
        return make({
          ...base,
          form: `${name} ${toG ? `G${v},E${v}` : `E${v},G${v}`}`,
          bytes: [
            ...this.pfx(size, toG ? dst : src, toG ? src : dst),
            w(op * 8 + (toG ? 2 : 0), size),
            toG ? modrm(dst, src) : modrm(src, dst),
          ],
          reads: [d, s],
          writes: dw,
        });
      }
      case 2: {
        // AL,Ib / eAX,Iz
        const a = this.bits(0, size);
        const i = this.immFor(size);
        return make({
          ...base,
          form: `${name} ${size === 8 ? "AL,Ib" : "eAX,Iz"}`,
          bytes: [...this.pfx(size), w(op * 8 + 4, size), ...imm(size, i)],
          reads: [a],
          writes: writesDst ? [this.out(0, size)] : [],
        });
      }
      default: {
        // 80 /op Ib, 81 /op Iz, 83 /op Ib (sign-extended). 82 is invalid in 64-bit mode.
        const short = size !== 8 && r.chance(0.5);
        const i = short ? this.immFor(8) : this.immFor(size);
        return make({
          ...base,
          form: `${name} E${v},${short || size === 8 ? "Ib" : "Iz"}`,
          bytes: [
            ...this.pfx(size, op, dst),
            short ? 0x83 : w(0x80, size),
            modrm(op, dst),
            ...imm(short ? 8 : size, i),
          ],
          reads: [d],
          writes: dw,
        });
      }
    }
  }

  /** A full flag definer that reads no flag: ADD/SUB/CMP or NEG. */
  definer(): Insn {
    const r = this.rng;
    if (r.chance(0.2)) return this.unary(3);
    return this.alu(r.pick([0, 5, 7]));
  }

  test(): Insn {
    const r = this.rng;
    const size = this.size();
    const v = SIZE_LETTER[size];
    const dst = this.reg(size);
    const d = this.bits(dst, size);
    const base = { size, effect: "logic" as const };
    switch (r.below(3)) {
      case 0: {
        const src = this.reg(size);
        return make({
          ...base,
          form: `TEST E${v},G${v}`,
          bytes: [...this.pfx(size, src, dst), w(0x84, size), modrm(src, dst)],
          reads: [d, this.bits(src, size)],
        });
      }
      case 1:
        return make({
          ...base,
          form: `TEST ${size === 8 ? "AL,Ib" : "eAX,Iz"}`,
          bytes: [...this.pfx(size), w(0xa8, size), ...imm(size, this.immFor(size))],
          reads: [this.bits(0, size)],
        });
      default: {
        // F6/F7 /0, and /1 (an alias Intel and AMD both decode as TEST).
        const ext = r.chance(0.15) ? 1 : 0;
        return make({
          ...base,
          form: `TEST E${v},${size === 8 ? "Ib" : "Iz"}${ext ? " (/1)" : ""}`,
          bytes: [
            ...this.pfx(size, ext, dst),
            w(0xf6, size),
            modrm(ext, dst),
            ...imm(size, this.immFor(size)),
          ],
          reads: [d],
        });
      }
    }
  }

  /** INC DEC (FE/FF /0 /1), NOT NEG (F6/F7 /2 /3). */
  unary(kind = this.rng.below(4)): Insn {
    const size = this.size();
    const n = this.reg(size);
    const d = this.bits(n, size);
    const names = ["INC", "DEC", "NOT", "NEG"];
    return make({
      form: `${names[kind]} E${SIZE_LETTER[size]}`,
      bytes: [...this.pfx(size, kind, n), w(kind < 2 ? 0xfe : 0xf6, size), modrm(kind, n)],
      size,
      effect: kind < 2 ? "incdec" : kind === 2 ? "none" : "arith",
      reads: [d],
      writes: [this.out(n, size)],
    });
  }

  /** MUL IMUL DIV IDIV with the accumulator (F6/F7 /4–/7). */
  muldiv(kind = this.rng.below(4)): Insn {
    const size = this.size();
    const src = this.reg(size);
    const s = this.bits(src, size);
    const names = ["MUL", "IMUL", "DIV", "IDIV"];
    const div = kind >= 2;
    let reads: Bits[];
    let writes: Bits[];
    if (size === 8) {
      reads = [div ? AX : AL, s];
      writes = [AX];
    } else {
      const a = this.bits(0, size);
      const dx = this.bits(2, size);
      reads = div ? [a, dx, s] : [a, s];
      writes = [this.out(0, size), this.out(2, size)];
    }
    return make({
      form: `${names[kind]} E${SIZE_LETTER[size]}`,
      bytes: [...this.pfx(size, 4 + kind, src), w(0xf6, size), modrm(4 + kind, src)],
      size,
      effect: div ? "div" : "mul",
      reads,
      writes,
    });
  }

  /** IMUL Gv,Ev (0F AF), Gv,Ev,Iz (69), Gv,Ev,Ib (6B). */
  imul(): Insn {
    const r = this.rng;
    const size = this.size(16, 32);
    const dst = this.reg(size);
    const src = this.reg(size);
    const d = this.bits(dst, size);
    const s = this.bits(src, size);
    const k = r.below(3);
    if (k === 0) {
      return make({
        form: "IMUL Gv,Ev",
        bytes: [...this.pfx(size, dst, src), 0x0f, 0xaf, modrm(dst, src)],
        size,
        effect: "mul",
        reads: [d, s],
        writes: [this.out(dst, size)],
      });
    }
    const short = k === 2;
    return make({
      form: `IMUL Gv,Ev,${short ? "Ib" : "Iz"}`,
      bytes: [
        ...this.pfx(size, dst, src),
        short ? 0x6b : 0x69,
        modrm(dst, src),
        ...imm(short ? 8 : size, this.immFor(short ? 8 : size)),
      ],
      size,
      effect: "mul",
      reads: [s],
      writes: [this.out(dst, size)],
    });
  }

  /** Grp2: ROL ROR RCL RCR SHL SHR SAL SAR by 1 (D0/D1), CL (D2/D3) or Ib (C0/C1). */
  shift(ops?: readonly number[]): Insn {
    const r = this.rng;
    const op = ops ? r.pick(ops) : r.below(8);
    const size = this.size();
    const dst = this.reg(size);
    const d = this.bits(dst, size);
    const how = r.below(3);
    const effect = SHIFT_EFFECT[op]!;
    const v = SIZE_LETTER[size];
    const writes = [this.out(dst, size)];
    const base = { size, effect, flagsIn: effect === "rcx" ? CF : 0, writes };
    const name = `${SHIFT_NAMES[op]} E${v}`;
    if (how === 0) {
      return make({
        ...base,
        form: `${name},1`,
        bytes: [...this.pfx(size, op, dst), w(0xd0, size), modrm(op, dst)],
        reads: [d],
        param: 1,
      });
    }
    if (how === 1) {
      return make({
        ...base,
        form: `${name},CL`,
        bytes: [...this.pfx(size, op, dst), w(0xd2, size), modrm(op, dst)],
        reads: [d, CL],
        dyn: CL,
      });
    }
    const c = this.count();
    return make({
      ...base,
      form: `${name},Ib`,
      bytes: [...this.pfx(size, op, dst), w(0xc0, size), modrm(op, dst), c],
      reads: [d],
      param: c & countMask(size),
    });
  }

  /** SHLD/SHRD Ev,Gv,Ib|CL (0F A4/A5, AC/AD). */
  shiftDouble(): Insn {
    const r = this.rng;
    const size = this.size(16, 32);
    const dst = this.reg(size);
    const src = this.reg(size);
    const d = this.bits(dst, size);
    const right = r.chance(0.5);
    const byCl = r.chance(0.5);
    const c = this.count();
    const op = (right ? 0xac : 0xa4) + (byCl ? 1 : 0);
    return make({
      form: `${right ? "SHRD" : "SHLD"} Ev,Gv,${byCl ? "CL" : "Ib"}`,
      bytes: [...this.pfx(size, src, dst), 0x0f, op, modrm(src, dst), ...(byCl ? [] : [c])],
      size,
      effect: "shd",
      reads: byCl ? [d, this.bits(src, size), CL] : [d, this.bits(src, size)],
      writes: [this.out(dst, size)],
      dyn: byCl ? CL : null,
      param: c & countMask(size),
      dest: this.out(dst, size),
    });
  }

  /** BT BTS BTR BTC Ev,Gv (0F A3/AB/B3/BB) and Ev,Ib (0F BA /4–/7). */
  bitTest(): Insn {
    const r = this.rng;
    const kind = r.below(4);
    const size = this.size(16, 32);
    const dst = this.reg(size);
    const d = this.bits(dst, size);
    const name = ["BT", "BTS", "BTR", "BTC"][kind]!;
    const writes = kind === 0 ? [] : [this.out(dst, size)];
    if (r.chance(0.5)) {
      const src = this.reg(size);
      return make({
        form: `${name} Ev,Gv`,
        bytes: [
          ...this.pfx(size, src, dst),
          0x0f,
          [0xa3, 0xab, 0xb3, 0xbb][kind]!,
          modrm(src, dst),
        ],
        size,
        effect: "bt",
        reads: [d, this.bits(src, size)],
        writes,
      });
    }
    return make({
      form: `${name} Ev,Ib`,
      bytes: [...this.pfx(size, 4 + kind, dst), 0x0f, 0xba, modrm(4 + kind, dst), r.below(256)],
      size,
      effect: "bt",
      reads: [d],
      writes,
    });
  }

  /** BSF BSR Gv,Ev (0F BC/BD; never with F3, which makes them TZCNT/LZCNT). */
  bitScan(): Insn {
    const size = this.size(16, 32);
    const dst = this.reg(size);
    const src = this.reg(size);
    const s = this.bits(src, size);
    const rev = this.rng.chance(0.5);
    return make({
      form: `${rev ? "BSR" : "BSF"} Gv,Ev`,
      bytes: [...this.pfx(size, dst, src), 0x0f, rev ? 0xbd : 0xbc, modrm(dst, src)],
      size,
      effect: "bs",
      reads: [s],
      writes: [this.out(dst, size)],
      dyn: s,
      dest: this.out(dst, size),
    });
  }

  /** BSWAP Zd, Zq (0F C8+r; 16-bit operands are undefined, not generated). */
  bswap(): Insn {
    const size = this.long ? this.size(32) : 32;
    const n = this.reg(size);
    return make({
      form: size === 32 ? "BSWAP Zd" : "BSWAP Zq",
      bytes: [...this.pfx(size, 0, n), 0x0f, 0xc8 + (n & 7)],
      size,
      reads: [this.bits(n, size)],
      writes: [this.out(n, size)],
    });
  }

  /** MOVZX/MOVSX Gv,Eb|Ew (0F B6/B7/BE/BF). */
  movx(): Insn {
    const r = this.rng;
    const size = this.size(16, 32);
    const from: Size = r.chance(0.6) ? 8 : 16;
    const signed = r.chance(0.5);
    const dst = this.reg(size);
    const src = this.reg(from);
    return make({
      form: `${signed ? "MOVSX" : "MOVZX"} Gv,E${from === 8 ? "b" : "w"}`,
      bytes: [
        ...this.pfx(size, dst, src, 0, from === 8),
        0x0f,
        (signed ? 0xbe : 0xb6) + (from === 8 ? 0 : 1),
        modrm(dst, src),
      ],
      size,
      reads: [this.bits(src, from)],
      writes: [this.out(dst, size)],
    });
  }

  /** MOVSXD Gv,Ed (63 /r, 64-bit mode only): REX.W sign-extends; without, a plain move. */
  movsxd(): Insn {
    const size = this.size(32, 64);
    const dst = this.reg(size);
    const src = this.reg(32);
    return make({
      form: "MOVSXD Gv,Ed",
      bytes: [...this.pfx(size, dst, src), 0x63, modrm(dst, src)],
      size,
      reads: [this.bits(src, 32)],
      writes: [this.out(dst, size)],
    });
  }

  /** MOV E,G (88/89), G,E (8A/8B), r,imm (B0+r/B8+r), E,imm (C6/C7 /0). */
  mov(): Insn {
    const r = this.rng;
    const size = this.size();
    const v = SIZE_LETTER[size];
    const dst = this.reg(size);
    const d = this.out(dst, size);
    switch (r.below(4)) {
      case 0:
      case 1: {
        const src = this.reg(size);
        const toG = r.chance(0.5);
        return make({
          form: `MOV ${toG ? `G${v},E${v}` : `E${v},G${v}`}`,
          bytes: [
            ...this.pfx(size, toG ? dst : src, toG ? src : dst),
            w(toG ? 0x8a : 0x88, size),
            toG ? modrm(dst, src) : modrm(src, dst),
          ],
          size,
          reads: [this.bits(src, size)],
          writes: [d],
        });
      }
      case 2:
        return make({
          form: `MOV Z${v},I${v}`,
          bytes: [
            ...this.pfx(size, 0, dst),
            (size === 8 ? 0xb0 : 0xb8) + (dst & 7),
            // With REX.W the only 8-byte immediate: MOV r64, imm64.
            ...imm(size, this.immFor(size)),
            ...(size === 64 ? imm(32, this.value32()) : []),
          ],
          size,
          writes: [d],
        });
      default:
        return make({
          form: `MOV E${v},I${size === 8 ? "b" : "z"}`,
          bytes: [
            ...this.pfx(size, 0, dst),
            w(0xc6, size),
            modrm(0, dst),
            ...imm(size, this.immFor(size)),
          ],
          size,
          writes: [d],
        });
    }
  }

  /** XCHG E,G (86/87) and XCHG eAX,r (91–97, not 94). */
  xchg(): Insn {
    const r = this.rng;
    const size = this.size();
    const a = this.reg(size);
    const b = this.reg(size);
    const x = this.bits(a, size);
    const y = this.bits(b, size);
    // 90 alone is NOP (no zero-extension of EAX in 64-bit mode); 41 90 is XCHG r8, rAX.
    if (size !== 8 && a !== 0 && r.chance(0.3)) {
      return make({
        form: "XCHG Zv,eAX",
        bytes: [...this.pfx(size, 0, a), 0x90 + (a & 7)],
        size,
        reads: [x, this.bits(0, size)],
        writes: [this.out(a, size), this.out(0, size)],
      });
    }
    return make({
      form: `XCHG E${SIZE_LETTER[size]},G${SIZE_LETTER[size]}`,
      bytes: [...this.pfx(size, b, a), w(0x86, size), modrm(b, a)],
      size,
      reads: [x, y],
      writes: [this.out(a, size), this.out(b, size)],
    });
  }

  /** XADD (0F C0/C1), CMPXCHG (0F B0/B1); `only` picks one. */
  xaddCmpxchg(only?: "xadd" | "cmpxchg"): Insn {
    const size = this.size();
    const dst = this.reg(size);
    const src = this.reg(size);
    const d = this.bits(dst, size);
    const s = this.bits(src, size);
    const v = SIZE_LETTER[size];
    const xadd = this.rng.chance(0.5);
    if (only ? only === "xadd" : xadd) {
      return make({
        form: `XADD E${v},G${v}`,
        bytes: [...this.pfx(size, src, dst), 0x0f, w(0xc0, size), modrm(src, dst)],
        size,
        effect: "arith",
        reads: [d, s],
        writes: [this.out(dst, size), this.out(src, size)],
      });
    }
    const acc = this.bits(0, size);
    // With 32-bit operands in 64-bit mode, which of RAX and the destination get
    // zero-extended depends on ZF, and the vendors differ for the destination (Intel
    // writes it either way, SDM CMPXCHG Operation): bits 63:32 of both are masked.
    const hiUnknown = size === 32 && this.long ? [WRITE32_LONG[0]!, WRITE32_LONG[dst]!] : [];
    return make({
      form: `CMPXCHG E${v},G${v}`,
      bytes: [...this.pfx(size, src, dst), 0x0f, w(0xb0, size), modrm(src, dst)],
      size,
      effect: "arith",
      reads: [acc, d, s],
      writes: [acc, d],
      undefs: hiUnknown.map((b) => ({ ...b, mask: 0 })),
    });
  }

  /**
   * CMOVcc Gv,Ev (0F 40+cc) and SETcc Eb (0F 90+cc); `only` picks one. A 32-bit CMOVcc
   * in 64-bit mode zero-extends even when the condition is false (SDM CMOVcc).
   */
  cond(only?: "cmov" | "set"): Insn {
    const r = this.rng;
    const cc = r.below(16);
    const cmov = r.chance(0.5);
    if (only ? only === "cmov" : cmov) {
      const size = this.size(16, 32);
      const dst = this.reg(size);
      const src = this.reg(size);
      const d = this.bits(dst, size);
      return make({
        form: `CMOV${CC_NAMES[cc]} Gv,Ev`,
        bytes: [...this.pfx(size, dst, src), 0x0f, 0x40 + cc, modrm(dst, src)],
        size,
        reads: [d, this.bits(src, size)],
        writes: [this.out(dst, size)],
        flagsIn: ccFlags(cc),
      });
    }
    const dst = this.reg(8);
    return make({
      form: `SET${CC_NAMES[cc]} Eb`,
      bytes: [...this.pfx(8, 0, dst), 0x0f, 0x90 + cc, modrm(0, dst)],
      size: 8,
      writes: [this.bits(dst, 8)],
      flagsIn: ccFlags(cc),
    });
  }

  /** CBW/CWDE/CDQE (98), CWD/CDQ/CQO (99). */
  convert(): Insn {
    const size = this.size(16, 32);
    const k = size === 16 ? 0 : size === 32 ? 1 : 2;
    if (this.rng.chance(0.5)) {
      return make({
        form: ["CBW", "CWDE", "CDQE"][k]!,
        bytes: [...this.pfx(size), 0x98],
        size,
        reads: [[AL, AX, gpr(0, 32)][k]!],
        writes: [this.out(0, size)],
      });
    }
    return make({
      form: ["CWD", "CDQ", "CQO"][k]!,
      bytes: [...this.pfx(size), 0x99],
      size,
      reads: [this.bits(0, size)],
      writes: [this.out(2, size)],
    });
  }

  /** LAHF SAHF (if the host has them in 64-bit mode), CLC STC CMC. */
  flagOp(): Insn {
    const r = this.rng;
    const k = r.below(this.opts.lahf ? 5 : 3);
    switch (k) {
      case 0:
        return make({ form: "CLC", bytes: [0xf8], size: 32, effect: "cf" });
      case 1:
        return make({ form: "STC", bytes: [0xf9], size: 32, effect: "cf" });
      case 2:
        return make({ form: "CMC", bytes: [0xf5], size: 32, effect: "cf", flagsIn: CF });
      case 3:
        return make({
          form: "LAHF",
          bytes: [0x9f],
          size: 8,
          flagsIn: SF | ZF | AF | PF | CF,
          writes: [AH],
        });
      default:
        return make({ form: "SAHF", bytes: [0x9e], size: 8, effect: "sahf", reads: [AH] });
    }
  }

  /** NOP (90), 66 90, PAUSE (F3 90), NOP Ev (0F 1F /0, register form). */
  nop(): Insn {
    const r = this.rng;
    switch (r.below(4)) {
      case 0:
        return make({ form: "NOP", bytes: [0x90], size: 32 });
      case 1:
        return make({ form: "NOP (66)", bytes: [0x66, 0x90], size: 16 });
      case 2:
        return make({ form: "PAUSE", bytes: [0xf3, 0x90], size: 32 });
      default: {
        const size = this.size(16, 32);
        const n = this.reg(size);
        return make({
          form: "NOP Ev",
          bytes: [...this.pfx(size, 0, n), 0x0f, 0x1f, modrm(0, n)],
          size,
        });
      }
    }
  }

  /**
   * LEA Gv,M with 32-bit addressing: [base], [base+disp8/32], [base+index*s+disp],
   * [index*s+disp32]; never RIP-relative (mod=00 rm=101) or ESP-based.
   */
  lea(): Insn {
    const r = this.rng;
    const size = this.size(16, 32);
    const dst = this.reg(size);
    // Long mode: 64-bit addressing, or 32-bit with 67 (the sum's low 32 bits, zero-extended).
    const a32 = this.long && !this.legacy && r.chance(0.15);
    const as: Size = size === 64 && !a32 ? 64 : 32;
    const reads: Bits[] = [];
    let mod = r.below(3);
    let bytes: number[];
    if (r.chance(0.5)) {
      const base = this.reg(32);
      // mod 00 rm 101 is [disp32] in 32-bit code but [RIP+disp32] in 64-bit code (R13 too).
      if (mod === 0 && (base & 7) === 5) mod = 1;
      bytes = [...this.pfx(size, dst, base), 0x8d, (mod << 6) | ((dst & 7) << 3) | (base & 7)];
      // R12 as rm means a SIB byte follows: [r12] is SIB base 100, no index.
      if ((base & 7) === 4) bytes.push(0x24);
      reads.push(this.bits(base, as));
    } else {
      const scale = r.below(4);
      const index = r.below(this.legacy ? 8 : 16); // 4: no index (12 is R12)
      const noBase = mod === 0 && r.chance(0.3);
      const base = noBase ? 5 : this.reg(32);
      if (!noBase && mod === 0 && (base & 7) === 5) mod = 1;
      bytes = [
        ...this.pfx(size, dst, base, index),
        0x8d,
        (mod << 6) | ((dst & 7) << 3) | 4,
        (scale << 6) | ((index & 7) << 3) | (base & 7),
      ];
      if (noBase) bytes.push(...imm(32, this.value32()));
      else reads.push(this.bits(base, as));
      if (index !== 4) reads.push(this.bits(index, as));
    }
    if (mod === 1) bytes.push(this.value32() & 0xff);
    else if (mod === 2) bytes.push(...imm(32, this.value32()));
    if (a32) bytes.unshift(0x67);
    return make({
      form: a32 ? "LEA Gv,M (67)" : "LEA Gv,M",
      bytes,
      size,
      reads,
      writes: [this.out(dst, size)],
    });
  }

  /** UD2 (0F 0B): #UD. */
  ud2(): Insn {
    return { ...make({ form: "UD2", bytes: [0x0f, 0x0b], size: 32 }), ud: true };
  }
}

type FormMaker = (g: Gen) => Insn;

/** The instruction mix: [weight, maker]. */
const MIX: ReadonlyArray<readonly [number, FormMaker]> = [
  [14, (g) => g.alu()],
  [3, (g) => g.test()],
  [6, (g) => g.unary()],
  [4, (g) => g.muldiv(g.rng.below(2))],
  [5, (g) => g.muldiv(2 + g.rng.below(2))],
  [3, (g) => g.imul()],
  [10, (g) => g.shift()],
  [4, (g) => g.shiftDouble()],
  [4, (g) => g.bitTest()],
  [3, (g) => g.bitScan()],
  [1, (g) => g.bswap()],
  [3, (g) => g.movx()],
  [5, (g) => g.mov()],
  [3, (g) => g.xchg()],
  [3, (g) => g.xaddCmpxchg()],
  [6, (g) => g.cond()],
  [2, (g) => g.convert()],
  [4, (g) => g.flagOp()],
  [1, (g) => g.nop()],
  [3, (g) => g.lea()],
];
const MIX_TOTAL = MIX.reduce((t, [wt]) => t + wt, 0);

/**
 * Classes of 64-bit instructions that wait for the interpreter: each is generated only
 * when every handler it names has a 64-bit form (diff.ts asks handlers.ts at run time).
 */
export const LONG_GATED = {
  mul: ["mul_Eb", "mul_Ev", "imul_Eb", "imul_Ev"],
  div: ["div_Eb", "div_Ev", "idiv_Eb", "idiv_Ev"],
  imul: ["imul_Gv_Ev", "imul_Gv_Ev_Iz", "imul_Gv_Ev_Ib"],
  shift: ["shl", "shr", "sar"].flatMap((n) => GRP2_FORMS.map((f) => `${n}_${f}`)),
  rotate: ["rol", "ror", "rcl", "rcr"].flatMap((n) => GRP2_FORMS.map((f) => `${n}_${f}`)),
  shiftDouble: ["shld_Ev_Gv_Ib", "shld_Ev_Gv_CL", "shrd_Ev_Gv_Ib", "shrd_Ev_Gv_CL"],
  bitTest: ["bt", "bts", "btr", "btc"].flatMap((n) => [`${n}_Ev_Gv`, `${n}_Ev_Ib`]),
  bitScan: ["bsf_Gv_Ev", "bsr_Gv_Ev"],
  bswap: ["bswap_Zv"],
  xadd: ["xadd_Eb_Gb", "xadd_Ev_Gv"],
  cmpxchg: ["cmpxchg_Eb_Gb", "cmpxchg_Ev_Gv"],
  cmov: ["cmovcc_Gv_Ev"],
  setcc: ["setcc_Eb"],
} as const satisfies Record<string, readonly string[]>;
export type GatedClass = keyof typeof LONG_GATED;

/** The 64-bit mix: [weight, gated class or null (long.ts has it), maker]. */
const MIX_LONG: ReadonlyArray<readonly [number, GatedClass | null, FormMaker]> = [
  [14, null, (g) => g.alu()],
  [3, null, (g) => g.test()],
  [6, null, (g) => g.unary()],
  [6, null, (g) => g.mov()],
  [3, null, (g) => g.movx()],
  [2, null, (g) => g.movsxd()],
  [3, null, (g) => g.xchg()],
  [3, null, (g) => g.convert()],
  [4, null, (g) => g.flagOp()],
  [1, null, (g) => g.nop()],
  [4, null, (g) => g.lea()],
  [4, "mul", (g) => g.muldiv(g.rng.below(2))],
  [5, "div", (g) => g.muldiv(2 + g.rng.below(2))],
  [3, "imul", (g) => g.imul()],
  [6, "shift", (g) => g.shift([4, 5, 6, 7])],
  [4, "rotate", (g) => g.shift([0, 1, 2, 3])],
  [4, "shiftDouble", (g) => g.shiftDouble()],
  [4, "bitTest", (g) => g.bitTest()],
  [3, "bitScan", (g) => g.bitScan()],
  [1, "bswap", (g) => g.bswap()],
  [2, "xadd", (g) => g.xaddCmpxchg("xadd")],
  [2, "cmpxchg", (g) => g.xaddCmpxchg("cmpxchg")],
  [3, "cmov", (g) => g.cond("cmov")],
  [3, "setcc", (g) => g.cond("set")],
];

/** The makers and total weight of a mix. */
interface Mix {
  readonly entries: ReadonlyArray<readonly [number, FormMaker]>;
  readonly total: number;
}
const MIX_32: Mix = { entries: MIX, total: MIX_TOTAL };
const longMixes = new Map<string, Mix>();

/** The 64-bit mix with the gated classes in `on`. */
function longMix(on: ReadonlySet<GatedClass>): Mix {
  const key = [...on].sort().join();
  let m = longMixes.get(key);
  if (!m) {
    const entries = MIX_LONG.filter(([, c]) => c === null || on.has(c)).map(
      ([wt, , f]) => [wt, f] as const,
    );
    m = { entries, total: entries.reduce((t, [wt]) => t + wt, 0) };
    longMixes.set(key, m);
  }
  return m;
}

function pickForm(g: Gen): Insn {
  const mix = g.mix;
  let k = g.rng.below(mix.total);
  g.begin();
  for (const [wt, f] of mix.entries) {
    if (k < wt) return f(g);
    k -= wt;
  }
  throw new Error("unreachable");
}

/** Harmless prefixes: a segment override on a register instruction is ignored in both modes. */
const SEG_PREFIXES = [0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65];

/** `p` inserted before or after an operand-size prefix `insn` starts with. */
function insertPrefix(g: Gen, insn: Insn, p: number): number[] {
  const b = insn.bytes;
  const at = b[0] === 0x66 && g.rng.chance(0.5) ? 1 : 0;
  return [...b.slice(0, at), p, ...b.slice(at)];
}

/**
 * Now and then a prefix that changes nothing (a segment override; 66 on a byte
 * operation or a second 66), or LOCK, which makes any of these instructions #UD.
 */
function withPrefix(g: Gen, insn: Insn): Insn {
  const r = g.rng;
  if (r.chance(0.02)) return { ...insn, bytes: insertPrefix(g, insn, r.pick(SEG_PREFIXES)) };
  if (r.chance(0.01) && (insn.bytes[0] === 0x66 || /[EG]b|AL,Ib/.test(insn.form))) {
    return { ...insn, bytes: [0x66, ...insn.bytes] };
  }
  if (r.chance(0.004)) {
    return { ...insn, form: `LOCK ${insn.form}`, bytes: insertPrefix(g, insn, 0xf0), ud: true };
  }
  return insn;
}

export interface GenOptions {
  /** LAHF/SAHF are valid in 64-bit mode on the host (CPUID 8000_0001h ECX bit 0). */
  readonly lahf: boolean;
  /** Longest sequence (default 8). */
  readonly maxLength?: number;
  /**
   * 64-bit code for a 64-bit-mode interpreter: operand size 64 (REX.W), R8–R15,
   * SPL..DIL, MOVSXD, imm64; `gated`: the LONG_GATED classes to include.
   */
  readonly long?: { readonly gated: ReadonlySet<GatedClass> };
}

export interface Case {
  readonly seed: number;
  readonly index: number;
  /** 64-bit code (GenOptions.long), and the gated classes it was generated with. */
  readonly long: boolean;
  readonly gated: readonly GatedClass[];
  readonly insns: readonly Insn[];
  readonly code: Uint8Array;
  /** Where each instruction starts in `code`; the last entry is code.length. */
  readonly offsets: readonly number[];
  /** Initial r0..r15 (RAX..R15; r4 is unused), low and high halves. */
  readonly lo: Uint32Array;
  readonly hi: Uint32Array;
  /** Initial arithmetic flags. */
  readonly flags: number;
}

/** Instructions that set up a divide so that it does not always fault. */
function divSetup(g: Gen, div: Insn): Insn | null {
  const r = g.rng;
  if (!r.chance(0.6)) return null;
  const signed = div.form.startsWith("IDIV");
  const size = div.size;
  if (size === 8) {
    // MOV AH, small / CBW
    if (signed && r.chance(0.5)) {
      return make({
        form: "CBW",
        bytes: [0x66, 0x98],
        size: 16,
        reads: [AL],
        writes: [AX],
      });
    }
    return make({ form: "MOV Zb,Ib", bytes: [0xb4, r.below(4)], size: 8, writes: [AH] });
  }
  const dx = gpr(2, size);
  const dxOut = g.out(2, size);
  if (signed && r.chance(0.5)) {
    return make({
      form: size === 16 ? "CWD" : size === 32 ? "CDQ" : "CQO",
      bytes: [...pfx(size), 0x99],
      size,
      reads: [gpr(0, size)],
      writes: [dxOut],
    });
  }
  if (r.chance(0.5)) {
    return make({
      form: `XOR Ev,Gv`,
      bytes: [...pfx(size, 2, 2), 0x31, modrm(2, 2)],
      size,
      effect: "logic",
      reads: [dx],
      writes: [dxOut],
    });
  }
  return make({
    form: "MOV Zv,Iv",
    bytes: [
      ...pfx(size, 0, 2),
      0xba,
      ...imm(size, r.below(4)),
      ...(size === 64 ? [0, 0, 0, 0] : []),
    ],
    size,
    writes: [dxOut],
  });
}

/** MOV CL, count before an instruction that shifts by CL. */
function countSetup(g: Gen): Insn | null {
  if (!g.rng.chance(0.35)) return null;
  return make({ form: "MOV Zb,Ib", bytes: [0xb1, g.count()], size: 8, writes: [CL] });
}

/** Generate case `index` of the run seeded `seed`. */
export function generateCase(seed: number, index: number, opts: GenOptions): Case {
  const rng = new Rng(caseSeed(seed, index));
  const g = new Gen(rng, opts);
  const lo = new Uint32Array(16);
  const hi = new Uint32Array(16);
  for (let n = 0; n < 16; n++) {
    if (n === 4) continue;
    lo[n] = rng.chance(0.08) ? 0 : g.value32();
    hi[n] = rng.pick([0, 0xffff_ffff, rng.next(), rng.next()]);
    // 64-bit code also sees sign-extended values (small negatives, 0x8000_0000 edges).
    if (g.long && rng.chance(0.3)) hi[n] = lo[n]! >> 31;
  }
  const flags = rng.next() & ARITH_FLAGS;
  const length = 1 + rng.below(opts.maxLength ?? 8);
  const flow = new Dataflow();
  const insns: Insn[] = [];
  const push = (i: Insn): void => {
    insns.push(i);
    flow.applyAny(i);
  };
  let tries = 0;
  while (insns.length < length && !insns.at(-1)?.ud) {
    if (++tries > 200) {
      push(make({ form: "NOP", bytes: [0x90], size: 32 }));
      continue;
    }
    const insn = withPrefix(g, pickForm(g));
    // Set-up instructions first (they only write): a count in CL, a dividend that fits.
    const setup =
      insn.dyn !== null && insn.effect !== "bs"
        ? countSetup(g)
        : insn.effect === "div"
          ? divSetup(g, insn)
          : null;
    const room = length - insns.length;
    if (setup && room >= 2 && flow.regsDefined(setup)) push(setup);
    if (!flow.regsDefined(insn)) continue;
    if ((insn.flagsIn & ~flow.flags) !== 0) {
      // A flag it reads may be undefined: define them all first, if there is room.
      if (length - insns.length < 2) continue;
      let d = g.definer();
      for (let k = 0; k < 20 && !flow.regsDefined(d); k++) d = g.definer();
      if (!flow.regsDefined(d)) continue;
      push(d);
      if (!flow.regsDefined(insn)) continue;
    }
    push(insn);
  }
  const offsets = [0];
  for (const i of insns) offsets.push(offsets.at(-1)! + i.bytes.length);
  const code = new Uint8Array(offsets.at(-1)!);
  insns.forEach((i, k) => {
    code.set(i.bytes, offsets[k]!);
  });
  const gated = opts.long ? [...opts.long.gated].sort() : [];
  return { seed, index, long: g.long, gated, insns, code, offsets, lo, hi, flags };
}

const HEX_DIGITS = Uint8Array.from("0123456789abcdef", (ch) => ch.charCodeAt(0));

/** Longest input line of a case (flags, 16 registers, code), in bytes. */
export function nativeLineBytes(c: Case): number {
  return 4 + 16 * 17 + 1 + 2 * c.code.length + 1;
}

/**
 * Write the case as a line of native.c's input (hex fields, newline) into `out` at
 * `at`; returns the offset after it. Registers are written as all 16 digits.
 */
export function writeNativeLine(c: Case, out: Uint8Array, at: number): number {
  let p = at;
  const f = c.flags;
  for (let sh = 8; sh >= 0; sh -= 4) out[p++] = HEX_DIGITS[(f >>> sh) & 15]!;
  for (let n = 0; n < 16; n++) {
    out[p++] = 0x20;
    for (const v of [c.hi[n]!, c.lo[n]!]) {
      for (let sh = 28; sh >= 0; sh -= 4) out[p++] = HEX_DIGITS[(v >>> sh) & 15]!;
    }
  }
  out[p++] = 0x20;
  for (const b of c.code) {
    out[p++] = HEX_DIGITS[b >>> 4]!;
    out[p++] = HEX_DIGITS[b & 15]!;
  }
  out[p++] = 0x0a;
  return p;
}

/** The case as a line of native.c's input, without the newline (for reports). */
export function nativeLine(c: Case): string {
  const buf = new Uint8Array(nativeLineBytes(c));
  const end = writeNativeLine(c, buf, 0);
  return new TextDecoder().decode(buf.subarray(0, end - 1));
}
