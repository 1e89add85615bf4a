/**
 * 64-bit mode's shifts, rotates, SHLD/SHRD, multiply/divide, bit instructions, SETcc,
 * CMOVcc, BSWAP, XADD and CMPXCHG (long_alu.ts), run in IA-32e mode by the longMode
 * fixture. Expected values come from BigInt models written here: the shifts one bit at a
 * time (the flags are those of the last one-bit step), products and quotients exactly.
 * Encodings were checked with GNU as (`.intel_syntax`, `.code64`).
 */
import { describe, expect, it } from "vitest";
import { LONG, longMode, PM, read32, rng, vector64, write32 } from "../../test/helpers.js";
import { EXIT_HLT, type X86Cpu } from "../cpu.js";
import { opcodeDesc } from "../fetchdecode.js";
import { HANDLER_UD } from "../handlers.js";
import { getFlags } from "../lazy_flags.js";
import {
  FLAG_AF,
  FLAG_CF,
  FLAG_OF,
  FLAG_PF,
  FLAG_SF,
  FLAG_ZF,
  FLAGS_ARITH,
  GP_VECTOR,
  PF_VECTOR,
} from "../regs.js";
import { CR2, EIP, HALTED, RIP_HI } from "../state.js";

const RAX = 0;
const RCX = 1;
const RDX = 2;
const RBX = 3;
const RSP = 4;
const RSI = 6;
const R8 = 8;
const R9 = 9;
const R10 = 10;
const R12 = 12;

/** Scratch data (physical = linear, mapped by the fixture). */
const DATA = 0x30_0000;
const DE = 0;

const hex = (s: string): number[] =>
  s
    .trim()
    .split(/\s+/)
    .map((b) => Number.parseInt(b, 16));

/** movabs r, v (REX.W B8+r imm64). */
function movabs(r: number, v: bigint): number[] {
  const x = BigInt.asUintN(64, v);
  const out = [0x48 | (r >> 3), 0xb8 + (r & 7)];
  for (let k = 0n; k < 64n; k += 8n) out.push(Number((x >> k) & 0xffn));
  return out;
}

/**
 * One CPU, already in 64-bit mode (longMode's prologue ran once), reused by every case:
 * building the fixture costs far more than a case. Each run reloads the code at
 * LONG.ENTRY (the write invalidates the decoded page) and resets RSP, RIP and HALTED.
 */
let shared: X86Cpu | null = null;

/** rbx = DATA, then `code`, then HLT; run to the HLT (an exception stub's HLT included). */
function run(code: readonly (number[] | string)[], mem: readonly bigint[] = []): X86Cpu {
  if (shared === null) {
    shared = longMode([0xf4]);
    expect(shared.run(10_000)).toBe(EXIT_HLT);
  }
  const cpu = shared;
  const bytes = [...movabs(RBX, BigInt(DATA))];
  for (const c of code) bytes.push(...(typeof c === "string" ? hex(c) : c));
  bytes.push(0xf4);
  cpu.mem.load(DATA - 64, new Uint8Array(128));
  for (const [k, v] of mem.entries()) setQ(cpu, DATA + 8 * k, v);
  cpu.mem.load(LONG.ENTRY, bytes);
  cpu.regs[RSP] = PM.STACK0;
  cpu.regsHi[RSP] = 0;
  cpu.st[HALTED] = 0;
  cpu.st[EIP] = LONG.ENTRY;
  cpu.st[RIP_HI] = 0;
  expect(cpu.run(10_000)).toBe(EXIT_HLT);
  return cpu;
}

const u64 = (v: bigint) => BigInt.asUintN(64, v);
const s64 = (v: bigint) => BigInt.asIntN(64, v);

function reg(cpu: X86Cpu, r: number): bigint {
  return (BigInt(cpu.regsHi[r]! >>> 0) << 32n) | BigInt(cpu.regs[r]! >>> 0);
}
function getQ(cpu: X86Cpu, at: number): bigint {
  return (BigInt(read32(cpu, at + 4)) << 32n) | BigInt(read32(cpu, at));
}
function setQ(cpu: X86Cpu, at: number, v: bigint): void {
  const x = u64(v);
  write32(cpu, at, Number(x & 0xffff_ffffn));
  write32(cpu, at + 4, Number(x >> 32n));
}
const flags = (cpu: X86Cpu) => getFlags(cpu.st) & FLAGS_ARITH;
/** No exception: the HLT that ended the run is the program's own. */
function ok(cpu: X86Cpu): X86Cpu {
  expect(vector64(cpu)).toBe(-1);
  return cpu;
}

/** `xor r15d, r15d`: a known flag state (ZF, PF set; CF, OF, SF, AF clear). */
const ZF_PF = "45 31 ff";
const STC = "f9";
const CLC = "f8";

const mask = (n: number) => (1n << BigInt(n)) - 1n;
const sext = (v: bigint, n: number) => BigInt.asIntN(n, v);
function parity(v: bigint): number {
  let x = Number(v & 0xffn);
  let p = 1;
  while (x) {
    p ^= x & 1;
    x >>= 1;
  }
  return p;
}
function resultFlags(v: bigint, n: number): number {
  return (
    (v === 0n ? FLAG_ZF : 0) | ((v >> BigInt(n - 1)) & 1n ? FLAG_SF : 0) | (parity(v) ? FLAG_PF : 0)
  );
}

/** Replace the operand-sized part of a 64-bit register as a write of size n does. */
function merge(old: bigint, v: bigint, n: number): bigint {
  if (n === 64) return u64(v);
  if (n === 32) return v & mask(32);
  return (old & ~mask(n) & mask(64)) | (v & mask(n));
}

/** Prefixes + opcode + ModRM for an operand of size n: register `rm` or [rbx]. */
function enc(n: number, op: readonly number[], regField: number, mem: boolean, rm = RDX): number[] {
  const out: number[] = [];
  if (n === 16) out.push(0x66);
  if (n === 64) out.push(0x48);
  out.push(...op, mem ? (regField << 3) | RBX : 0xc0 | (regField << 3) | rm);
  return out;
}

describe("every row has a 64-bit-mode handler", () => {
  const rows: [1 | 2, number, number][] = [];
  for (const op of [0xc0, 0xc1, 0xd0, 0xd1, 0xd2, 0xd3])
    for (let r = 0; r < 8; r++) rows.push([1, op, r]);
  for (const op of [0xf6, 0xf7]) for (let r = 4; r < 8; r++) rows.push([1, op, r]);
  for (const op of [0x69, 0x6b]) rows.push([1, op, -1]);
  for (let op = 0x40; op <= 0x4f; op++) rows.push([2, op, -1]);
  for (let op = 0x90; op <= 0x9f; op++) rows.push([2, op, -1]);
  for (let op = 0xc8; op <= 0xcf; op++) rows.push([2, op, -1]);
  for (const op of [0xa3, 0xa4, 0xa5, 0xab, 0xac, 0xad, 0xaf, 0xb0, 0xb1, 0xb3, 0xbb, 0xbc])
    rows.push([2, op, -1]);
  for (const op of [0xbd, 0xc0, 0xc1]) rows.push([2, op, -1]);
  for (let r = 4; r < 8; r++) rows.push([2, 0xba, r]);
  rows.push([2, 0xc7, 1]);
  it.each(rows)("map %i opcode %#x /%i", (map, op, r) => {
    let d = opcodeDesc(map, op, true)!;
    if (r >= 0) d = d.group![r]!;
    const ids = [...d.handlersLong];
    // cmpxchg8b is memory-only; bswap has no memory form.
    const forms =
      op === 0xc7 ? [1, 3, 5] : op >= 0xc8 && map === 2 ? [0, 2, 4] : [0, 1, 2, 3, 4, 5];
    for (const k of forms) expect(ids[k], `${d.name} form ${k}`).not.toBe(HANDLER_UD);
  });
});

// Shifts and rotates ---------------------------------------------------------------------

const KINDS = ["rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar"] as const;
type Kind = (typeof KINDS)[number];

/** grp2 of v at size n by count c (masked), one bit at a time, from flags `f`. */
function shiftModel(kind: Kind, n: number, v: bigint, count: number, f: number) {
  const c = count & (n === 64 ? 63 : 31);
  if (c === 0) return { r: v, f };
  const m = mask(n);
  const top = BigInt(n - 1);
  const msb = (x: bigint) => Number((x >> top) & 1n);
  let cf = f & 1;
  let of = 0;
  for (let k = 0; k < c; k++) {
    switch (kind) {
      case "rol":
        v = ((v << 1n) | BigInt(msb(v))) & m;
        cf = Number(v & 1n);
        of = msb(v) ^ cf;
        break;
      case "ror":
        v = (v >> 1n) | ((v & 1n) << top);
        cf = msb(v);
        of = cf ^ Number((v >> (top - 1n)) & 1n);
        break;
      case "rcl": {
        const out = msb(v);
        v = ((v << 1n) | BigInt(cf)) & m;
        cf = out;
        of = msb(v) ^ cf;
        break;
      }
      case "rcr": {
        const out = Number(v & 1n);
        v = (v >> 1n) | (BigInt(cf) << top);
        cf = out;
        of = msb(v) ^ Number((v >> (top - 1n)) & 1n);
        break;
      }
      case "shl":
      case "sal":
        cf = msb(v);
        v = (v << 1n) & m;
        of = msb(v) ^ cf;
        break;
      case "shr":
        of = msb(v);
        cf = Number(v & 1n);
        v >>= 1n;
        break;
      case "sar":
        cf = Number(v & 1n);
        v = (v >> 1n) | (v & (1n << top));
        of = 0;
        break;
    }
  }
  const co = cf | (of << 11);
  if (kind.startsWith("r")) return { r: v, f: (f & ~(FLAG_CF | FLAG_OF)) | co };
  return { r: v, f: co | resultFlags(v, n) };
}

describe("shifts and rotates match a one-bit-at-a-time model", () => {
  const next = rng(0x5417);
  const rand64 = () => (BigInt(next()) << 32n) | BigInt(next());
  const cases: [Kind, number, string, boolean, bigint, number, boolean][] = [];
  for (const kind of KINDS) {
    for (const n of [8, 16, 32, 64]) {
      for (const how of ["1", "CL", "Ib"]) {
        const counts =
          how === "1" ? [1] : [0, 1, n - 1, n, n + 1, 31, 32, 33, 63, 64, next() & 255];
        for (const mem of [false, true]) {
          for (const c of counts) cases.push([kind, n, how, mem, rand64(), c, (next() & 1) === 1]);
        }
      }
    }
  }
  // Values with the top bits set and clear, for OF and SAR.
  cases.push(["sar", 64, "CL", false, 0x8000_0000_0000_0001n, 63, false]);
  cases.push(["shr", 64, "1", false, 0x8000_0000_0000_0000n, 1, true]);
  it.each(cases)(
    "%s %i-bit by %s (mem %s) of %s by %i, CF in %s",
    (kind, n, how, mem, v0, c, cin) => {
      const ext = KINDS.indexOf(kind);
      const op = how === "1" ? 0xd0 : how === "CL" ? 0xd2 : 0xc0;
      const code = enc(n, [n === 8 ? op : op + 1], ext, mem);
      if (how === "Ib") code.push(c & 0xff);
      const before = 0x0123_4567_89ab_cdefn;
      const cpu = ok(
        run(
          [
            movabs(RDX, mem ? before : merge(before, v0, n === 32 ? 64 : n)),
            movabs(RCX, BigInt(c)),
            ZF_PF,
            cin ? STC : CLC,
            code,
          ],
          [v0, 0x5555_5555_5555_5555n],
        ),
      );
      const f0 = FLAG_ZF | FLAG_PF | (cin ? FLAG_CF : 0);
      const want = shiftModel(kind, n, v0 & mask(n), how === "1" ? 1 : c, f0);
      if (mem) {
        expect(getQ(cpu, DATA)).toBe(u64((v0 & ~mask(n)) | want.r));
        expect(getQ(cpu, DATA + 8)).toBe(0x5555_5555_5555_5555n);
        expect(reg(cpu, RDX)).toBe(before);
      } else {
        const old = merge(before, v0, n === 32 ? 64 : n);
        // A 32-bit register is written (zero-extended) even by a zero count.
        expect(reg(cpu, RDX)).toBe(merge(old, want.r, n));
      }
      expect(flags(cpu)).toBe(want.f);
    },
  );

  it("shl rax, 63 sets CF from bit 1 and OF = MSB(result) xor CF", () => {
    const cpu = ok(run([movabs(RAX, 0b11n), "48 c1 e0 3f"]));
    expect(reg(cpu, RAX)).toBe(1n << 63n);
    expect(flags(cpu)).toBe(FLAG_CF | FLAG_SF | FLAG_PF);
  });

  it("shl rax, cl with cl = 64 is a zero count: the value and the flags stay", () => {
    const cpu = ok(run([movabs(RAX, -5n), movabs(RCX, 64n), ZF_PF, STC, "48 d3 e0"]));
    expect(reg(cpu, RAX)).toBe(u64(-5n));
    expect(flags(cpu)).toBe(FLAG_ZF | FLAG_PF | FLAG_CF);
  });

  it("shl eax, cl with cl = 32 is a zero count: flags stay, rax is zero-extended", () => {
    const cpu = ok(run([movabs(RAX, -5n), movabs(RCX, 32n), ZF_PF, STC, "d3 e0"]));
    expect(reg(cpu, RAX)).toBe(0xffff_fffbn);
    expect(flags(cpu)).toBe(FLAG_ZF | FLAG_PF | FLAG_CF);
  });

  it("sal qword [rbx], 4 shifts memory across the halves", () => {
    const cpu = ok(run(["48 c1 23 04"], [0x0fed_cba9_8765_4321n]));
    expect(getQ(cpu, DATA)).toBe(u64(0x0fed_cba9_8765_4321n << 4n));
    expect(flags(cpu) & FLAG_CF).toBe(0);
  });

  it("shr rax, 1 sets OF from the old MSB and CF from bit 0", () => {
    const cpu = ok(run([movabs(RAX, 0x8000_0000_0000_0003n), "48 d1 e8"]));
    expect(reg(cpu, RAX)).toBe(0x4000_0000_0000_0001n);
    expect(flags(cpu) & (FLAG_OF | FLAG_CF | FLAG_SF)).toBe(FLAG_OF | FLAG_CF);
  });

  it("sar r9, 40 keeps the sign and CF is bit 39", () => {
    const v = 0x8000_0080_0000_0000n;
    const cpu = ok(run([movabs(R9, v), "49 c1 f9 28"]));
    expect(reg(cpu, R9)).toBe(u64(s64(v) >> 40n));
    expect(flags(cpu) & (FLAG_CF | FLAG_OF | FLAG_SF)).toBe(FLAG_CF | FLAG_SF);
  });

  it("rol rax, 36 and ror r8, 4 rotate 64 bits; rotates leave ZF, SF, PF", () => {
    const v = 0x1234_5678_9abc_def0n;
    const cpu = ok(run([movabs(RAX, v), movabs(R8, v), ZF_PF, "48 c1 c0 24", "49 c1 c8 04"]));
    expect(reg(cpu, RAX)).toBe(u64((v << 36n) | (v >> 28n)));
    expect(reg(cpu, R8)).toBe(u64((v >> 4n) | (v << 60n)));
    // ror by 4: CF = new bit 63 (0); OF = bit 63 xor bit 62 (0); ZF/PF kept.
    expect(flags(cpu)).toBe(FLAG_ZF | FLAG_PF);
  });

  it("rcl rax, 1 brings CF in at bit 0 and rcr rax, 1 puts it back at bit 63", () => {
    const cpu = ok(run([movabs(RAX, 0x8000_0000_0000_0000n), STC, "48 d1 d0"]));
    expect(reg(cpu, RAX)).toBe(1n);
    expect(flags(cpu) & (FLAG_CF | FLAG_OF)).toBe(FLAG_CF | FLAG_OF);
    const back = ok(run([movabs(RAX, 1n), STC, "48 d1 d8"]));
    expect(reg(back, RAX)).toBe(0x8000_0000_0000_0000n);
    expect(flags(back) & (FLAG_CF | FLAG_OF)).toBe(FLAG_CF | FLAG_OF);
  });

  it("shl al, 3 and rcr byte [rbx], cl leave the rest of the register and memory", () => {
    const cpu = ok(
      run(
        [movabs(RAX, 0x1111_1111_1111_11f1n), movabs(RCX, 9n), STC, "c0 e0 03", STC, "d2 1b"],
        [0x22n],
      ),
    );
    expect(reg(cpu, RAX)).toBe(0x1111_1111_1111_1188n);
    // rcr by 9 through 9 bits: back where it started, CF too.
    expect(getQ(cpu, DATA)).toBe(0x22n);
    expect(flags(cpu) & FLAG_CF).toBe(FLAG_CF);
  });
});

// SHLD / SHRD -------------------------------------------------------------------------------

function doubleModel(left: boolean, n: number, d: bigint, s: bigint, count: number) {
  const c = count & (n === 64 ? 63 : 31);
  if (c === 0) return null;
  const m = mask(n);
  const top = BigInt(n - 1);
  let cf = 0;
  for (let k = 0; k < c; k++) {
    if (left) {
      cf = Number((d >> top) & 1n);
      d = ((d << 1n) | ((s >> top) & 1n)) & m;
      s = (s << 1n) & m;
    } else {
      cf = Number(d & 1n);
      d = (d >> 1n) | ((s & 1n) << top);
      s >>= 1n;
    }
  }
  const msb = Number((d >> top) & 1n);
  const of = left ? msb ^ cf : msb ^ Number((d >> (top - 1n)) & 1n);
  return { r: d, f: cf | (of << 11) | resultFlags(d, n) };
}

describe("shld/shrd match a one-bit-at-a-time model", () => {
  const next = rng(0x5d);
  const rand64 = () => (BigInt(next()) << 32n) | BigInt(next());
  const cases: [string, number, string, boolean, bigint, bigint, number][] = [];
  for (const name of ["shld", "shrd"]) {
    for (const n of [16, 32, 64]) {
      for (const how of ["CL", "Ib"]) {
        for (const mem of [false, true]) {
          // 16-bit counts above 16 are undefined in the SDM; not modelled here.
          for (const c of n === 16 ? [0, 1, 7, 15, 16] : [0, 1, 13, n - 1, n, 63, 64 + 5]) {
            cases.push([name, n, how, mem, rand64(), rand64(), c]);
          }
        }
      }
    }
  }
  it.each(cases)("%s %i-bit by %s (mem %s): %s, %s by %i", (name, n, how, mem, d0, s0, c) => {
    const left = name === "shld";
    const op = (left ? 0xa4 : 0xac) + (how === "CL" ? 1 : 0);
    // op rdx/[rbx], rsi, count
    const code = enc(n, [0x0f, op], RSI, mem);
    if (how === "Ib") code.push(c & 0xff);
    const cpu = ok(
      run([movabs(RDX, d0), movabs(RSI, s0), movabs(RCX, BigInt(c)), ZF_PF, STC, code], [d0]),
    );
    const want = doubleModel(left, n, d0 & mask(n), s0 & mask(n), c);
    const r = want ? want.r : d0 & mask(n);
    if (mem) expect(getQ(cpu, DATA)).toBe(u64((d0 & ~mask(n)) | r));
    else expect(reg(cpu, RDX)).toBe(merge(d0, r, n));
    expect(flags(cpu)).toBe(want ? want.f : FLAG_ZF | FLAG_PF | FLAG_CF);
  });

  it("shld rax, rdx, 12 takes rdx's top 12 bits", () => {
    const a = 0x0123_4567_89ab_cdefn;
    const b = 0xfedc_ba98_7654_3210n;
    const cpu = ok(run([movabs(RAX, a), movabs(RDX, b), "48 0f a4 d0 0c"]));
    expect(reg(cpu, RAX)).toBe(u64((a << 12n) | (b >> 52n)));
  });

  it("shrd qword [rbx], rdx, cl takes rdx's low bits into the top", () => {
    const a = 0x0123_4567_89ab_cdefn;
    const b = 0xfedc_ba98_7654_3210n;
    const cpu = ok(run([movabs(RDX, b), movabs(RCX, 40n), "48 0f ad 13"], [a]));
    expect(getQ(cpu, DATA)).toBe(u64((a >> 40n) | (b << 24n)));
    expect(flags(cpu) & FLAG_CF).toBe(Number((a >> 39n) & 1n));
  });

  it("shld dx, si, cl and shrd dx, si, cl with cl = 20 shift d:s:d (as shift.ts does)", () => {
    const d = 0x9abcn;
    const s = 0x1357n;
    const w = (d << 32n) | (s << 16n) | d;
    const left = run([movabs(RDX, d), movabs(RSI, s), movabs(RCX, 20n), "66 0f a5 f2"]);
    expect(reg(left, RDX)).toBe((w >> 12n) & 0xffffn);
    expect(flags(left) & FLAG_CF).toBe(Number((w >> 28n) & 1n));
    const right = run([movabs(RDX, d), movabs(RSI, s), movabs(RCX, 20n), "66 0f ad f2"]);
    expect(reg(right, RDX)).toBe((w >> 20n) & 0xffffn);
    expect(flags(right) & FLAG_CF).toBe(0);
  });

  it("shld eax, edx, cl with cl = 0 zero-extends rax and keeps the flags", () => {
    const cpu = ok(run([movabs(RAX, -1n), movabs(RCX, 0n), ZF_PF, "0f a5 d0"]));
    expect(reg(cpu, RAX)).toBe(0xffff_ffffn);
    expect(flags(cpu)).toBe(FLAG_ZF | FLAG_PF);
  });
});

// Multiply and divide ----------------------------------------------------------------------

const EDGES = [
  0n,
  1n,
  2n,
  0x7fn,
  0x80n,
  0xffn,
  0x7fffn,
  0x8000n,
  0xffffn,
  0x7fff_ffffn,
  0x8000_0000n,
  0xffff_ffffn,
  0x1_0000_0000n,
  0x7fff_ffff_ffff_ffffn,
  0x8000_0000_0000_0000n,
  0xffff_ffff_ffff_ffffn,
  0xdead_beef_cafe_f00dn,
  0x0000_0001_2345_6789n,
];

/** rDX:rAX after MUL/IMUL/DIV/IDIV of size n by `src`, or "DE". */
function accModel(kind: string, n: number, rax: bigint, rdx: bigint, src: bigint) {
  const m = mask(n);
  const b = src & m;
  const signed = kind.startsWith("i");
  if (kind === "mul" || kind === "imul") {
    const a = rax & m;
    const p = signed ? sext(a, n) * sext(b, n) : a * b;
    const lo = p & m;
    const hi = (p >> BigInt(n)) & m;
    const ov = signed ? p !== sext(lo, n) : hi !== 0n;
    if (n === 8) return { rax: merge(rax, p & 0xffffn, 16), rdx, ov, lo };
    return { rax: merge(rax, lo, n), rdx: merge(rdx, hi, n), ov, lo };
  }
  if (b === 0n) return "DE" as const;
  const x = n === 8 ? rax & 0xffffn : (((rdx & m) << BigInt(n)) | (rax & m)) & mask(2 * n);
  const xs = signed ? sext(x, 2 * n) : x;
  const d = signed ? sext(b, n) : b;
  const q = xs / d; // BigInt division truncates toward 0
  const r = xs - q * d;
  if (signed ? q !== sext(q & m, n) : q > m) return "DE" as const;
  if (n === 8) return { rax: merge(rax, ((r & 0xffn) << 8n) | (q & 0xffn), 16), rdx };
  return { rax: merge(rax, q & m, n), rdx: merge(rdx, r & m, n) };
}

describe("mul, imul, div and idiv with rDX:rAX match BigInt", () => {
  const next = rng(0xd1f);
  const rand64 = () => (BigInt(next()) << 32n) | BigInt(next());
  const cases: [string, number, boolean, bigint, bigint, bigint][] = [];
  for (const kind of ["mul", "imul", "div", "idiv"]) {
    for (const n of [8, 16, 32, 64]) {
      for (const mem of [false, true]) {
        for (let k = 0; k < 12; k++) {
          const pick = () => (next() & 1 ? EDGES[next() % EDGES.length]! : rand64());
          let rdx = pick();
          const src = pick();
          // For division, keep most dividends' high part below the divisor.
          if (kind.includes("div") && k % 3 !== 0) rdx = (src & mask(n)) >> 1n;
          if (kind === "idiv" && k % 4 === 1) rdx = u64(-1n);
          cases.push([kind, n, mem, pick(), rdx, src]);
        }
      }
    }
  }
  cases.push(["idiv", 64, false, 0x8000_0000_0000_0000n, u64(-1n), u64(-1n)]);
  cases.push(["idiv", 64, false, 0x8000_0000_0000_0000n, u64(-1n), 1n]);
  cases.push(["idiv", 64, false, 0n, u64(-1n), u64(-2n)]);
  cases.push(["idiv", 32, false, 0x8000_0000n, u64(-1n), u64(-1n)]);
  // The high half equal to the divisor: the smallest quotient that does not fit.
  cases.push(["div", 64, true, 5n, 7n, 7n]);
  cases.push(["div", 32, false, 5n, 7n, 7n]);
  cases.push(["div", 16, true, 5n, 7n, 7n]);
  cases.push(["div", 8, false, 0x700n, 0n, 7n]);
  cases.push(["mul", 8, false, 0x80n, 0n, 2n]);
  it.each(cases)("%s %i-bit (mem %s) rax %s rdx %s by %s", (kind, n, mem, rax, rdx, src) => {
    const ext = { mul: 4, imul: 5, div: 6, idiv: 7 }[kind]!;
    const code = enc(n, [n === 8 ? 0xf6 : 0xf7], ext, mem, RCX);
    const cpu = run([movabs(RAX, rax), movabs(RDX, rdx), movabs(RCX, src), ZF_PF, code], [src]);
    const want = accModel(kind, n, rax, rdx, src);
    if (want === "DE") {
      expect(vector64(cpu)).toBe(DE);
      expect(reg(cpu, RAX)).toBe(rax);
      expect(reg(cpu, RDX)).toBe(rdx);
      return;
    }
    ok(cpu);
    expect(reg(cpu, RAX)).toBe(want.rax);
    expect(reg(cpu, RDX)).toBe(want.rdx);
    if ("ov" in want) {
      const o = want.ov ? FLAG_CF | FLAG_OF : 0;
      expect(flags(cpu) & (FLAG_CF | FLAG_OF | FLAG_ZF | FLAG_SF)).toBe(
        o | (resultFlags(want.lo!, n) & (FLAG_ZF | FLAG_SF)),
      );
    } else {
      expect(flags(cpu)).toBe(FLAG_ZF | FLAG_PF); // DIV/IDIV leave the flags
    }
  });

  it("mul r9 gives the 128-bit product in rdx:rax", () => {
    const a = 0xfedc_ba98_7654_3210n;
    const b = 0xffff_ffff_ffff_fffbn;
    const cpu = ok(run([movabs(RAX, a), movabs(R9, b), "49 f7 e1"]));
    const p = a * b;
    expect(reg(cpu, RAX)).toBe(p & mask(64));
    expect(reg(cpu, RDX)).toBe(p >> 64n);
    expect(flags(cpu) & (FLAG_CF | FLAG_OF)).toBe(FLAG_CF | FLAG_OF);
  });

  it("imul rcx (one operand) gives the signed 128-bit product; CF = OF = 0 when it fits", () => {
    const cpu = ok(run([movabs(RAX, -3n), movabs(RCX, 0x1234_5678n), "48 f7 e9"]));
    expect(reg(cpu, RAX)).toBe(u64(-3n * 0x1234_5678n));
    expect(reg(cpu, RDX)).toBe(u64(-1n));
    expect(flags(cpu) & (FLAG_CF | FLAG_OF)).toBe(0);
  });

  it("div rcx by zero is #DE and changes nothing", () => {
    const cpu = run([movabs(RAX, 10n), movabs(RDX, 0n), movabs(RCX, 0n), "48 f7 f1"]);
    expect(vector64(cpu)).toBe(DE);
    expect(reg(cpu, RAX)).toBe(10n);
  });

  it("div rcx with rdx >= rcx is #DE (the quotient does not fit)", () => {
    const cpu = run([movabs(RAX, 0n), movabs(RDX, 3n), movabs(RCX, 3n), "48 f7 f1"]);
    expect(vector64(cpu)).toBe(DE);
  });

  it("idiv rcx: -2^63 / -1 is #DE", () => {
    const cpu = run([movabs(RAX, 1n << 63n), movabs(RDX, -1n), movabs(RCX, -1n), "48 f7 f9"]);
    expect(vector64(cpu)).toBe(DE);
  });

  it("idiv rcx truncates toward zero; the remainder takes the dividend's sign", () => {
    const x = -0x1_2345_6789_abcd_ef01_2345n;
    const cpu = ok(
      run([movabs(RAX, x), movabs(RDX, x >> 64n), movabs(RCX, 0x7_0000_0001n), "48 f7 f9"]),
    );
    expect(s64(reg(cpu, RAX))).toBe(x / 0x7_0000_0001n);
    expect(s64(reg(cpu, RDX))).toBe(x % 0x7_0000_0001n);
  });

  it("div ecx zero-extends rax and rdx", () => {
    const cpu = ok(
      run([
        movabs(RAX, 0xffff_ffff_0000_0064n),
        movabs(RDX, 0xffff_ffff_0000_0000n),
        movabs(RCX, 7n),
        "f7 f1",
      ]),
    );
    expect(reg(cpu, RAX)).toBe(14n);
    expect(reg(cpu, RDX)).toBe(2n);
  });

  it("mul cl writes ax only", () => {
    const cpu = ok(run([movabs(RAX, 0x1111_1111_1111_11f0n), movabs(RCX, 0x10n), "f6 e1"]));
    expect(reg(cpu, RAX)).toBe(0x1111_1111_1111_0f00n);
  });
});

describe("imul with two and three operands", () => {
  const cases: [string, number, string, bigint, bigint, bigint][] = [];
  const next = rng(0x1a1);
  const rand64 = () => (BigInt(next()) << 32n) | BigInt(next());
  for (const form of ["Gv,Ev", "Gv,Ev,Iz", "Gv,Ev,Ib"]) {
    for (const n of [16, 32, 64]) {
      for (const mem of ["reg", "mem"]) {
        for (let k = 0; k < 6; k++) {
          const imm =
            form === "Gv,Ev,Ib"
              ? BigInt((next() & 0xff) - 128)
              : sext(rand64(), n === 16 ? 16 : 32);
          cases.push([
            form,
            n,
            mem,
            k < 2 ? EDGES[next() % EDGES.length]! : rand64(),
            rand64(),
            k === 5 ? 1n : imm,
          ]);
        }
      }
    }
  }
  it.each(cases)("imul %s %i-bit (%s): dst %s src %s imm %s", (form, n, where, g0, e0, imm) => {
    const mem = where === "mem";
    // imul rdx, rcx/[rbx] (, imm)
    let code: number[];
    if (form === "Gv,Ev") code = enc(n, [0x0f, 0xaf], RDX, mem, RCX);
    else if (form === "Gv,Ev,Ib") code = [...enc(n, [0x6b], RDX, mem, RCX), Number(imm & 0xffn)];
    else {
      code = enc(n, [0x69], RDX, mem, RCX);
      for (let k = 0n; k < (n === 16 ? 16n : 32n); k += 8n) code.push(Number((imm >> k) & 0xffn));
    }
    const cpu = ok(run([movabs(RDX, g0), movabs(RCX, e0), code], [e0]));
    const a = sext(e0 & mask(n), n);
    const b = form === "Gv,Ev" ? sext(g0 & mask(n), n) : imm;
    const p = a * b;
    const lo = p & mask(n);
    expect(reg(cpu, RDX)).toBe(merge(g0, lo, n));
    const ov = p !== sext(lo, n);
    expect(flags(cpu) & (FLAG_CF | FLAG_OF | FLAG_ZF | FLAG_SF)).toBe(
      (ov ? FLAG_CF | FLAG_OF : 0) | (resultFlags(lo, n) & (FLAG_ZF | FLAG_SF)),
    );
  });

  it("imul rax, rcx sets CF and OF when the product overflows 64 bits", () => {
    const cpu = ok(run([movabs(RAX, 1n << 62n), movabs(RCX, 2n), "48 0f af c1"]));
    expect(reg(cpu, RAX)).toBe(1n << 63n);
    expect(flags(cpu) & (FLAG_CF | FLAG_OF)).toBe(FLAG_CF | FLAG_OF);
  });

  it("imul eax, ecx, 0x12345678 zero-extends rax", () => {
    const cpu = ok(run([movabs(RAX, -1n), movabs(RCX, 3n), "69 c1 78 56 34 12"]));
    expect(reg(cpu, RAX)).toBe(0x369d_0368n);
  });

  it("imul r8, [rbx], -3 sign-extends the byte", () => {
    const cpu = ok(run(["4c 6b 03 fd"], [0x1_0000_0000n]));
    expect(reg(cpu, R8)).toBe(u64(-3n * 0x1_0000_0000n));
  });

  it("imul ax, cx, -2 writes ax only", () => {
    const cpu = ok(run([movabs(RAX, -1n), movabs(RCX, 0x4000n), "66 6b c1 fe"]));
    expect(reg(cpu, RAX)).toBe(0xffff_ffff_ffff_8000n);
    expect(flags(cpu) & FLAG_CF).toBe(0);
  });
});

// Bit instructions --------------------------------------------------------------------------

describe("bt, bts, btr, btc", () => {
  it("bt rax, 63 copies bit 63 to CF and leaves the other flags", () => {
    const cpu = ok(run([movabs(RAX, 1n << 63n), ZF_PF, "48 0f ba e0 3f"]));
    expect(flags(cpu)).toBe(FLAG_CF | FLAG_ZF | FLAG_PF);
    expect(reg(cpu, RAX)).toBe(1n << 63n);
  });

  it("bts qword [rbx], rcx with rcx = -1 sets bit 63 of the qword before [rbx]", () => {
    const cpu = ok(run([movabs(RBX, BigInt(DATA + 8)), movabs(RCX, -1n), "48 0f ab 0b"], [0n, 5n]));
    expect(getQ(cpu, DATA)).toBe(1n << 63n);
    expect(getQ(cpu, DATA + 8)).toBe(5n);
    expect(flags(cpu) & FLAG_CF).toBe(0);
  });

  it("bts qword [rbx], rcx with rcx = 2^33 + 5 reaches 2^30 bytes on", () => {
    // The qword at DATA + 2^30 is not mapped: a #PF at that address proves the reach.
    const cpu = run([movabs(RCX, (1n << 33n) + 5n), "48 0f ab 0b"]);
    expect(vector64(cpu)).toBe(PF_VECTOR);
    expect(cpu.st[CR2]! >>> 0).toBe(DATA + 2 ** 30);
  });

  it("btr dword [rbx], ecx with ecx = 100 clears bit 4 of the dword at [rbx + 12]", () => {
    const cpu = ok(run([movabs(RCX, 100n), "0f b3 0b"], [0n, 0xffff_ffff_ffff_ffffn]));
    expect(getQ(cpu, DATA + 8)).toBe(0xffff_ffef_ffff_ffffn);
    expect(flags(cpu) & FLAG_CF).toBe(FLAG_CF);
  });

  it("bt word [rbx], cx with cx = -1 tests bit 15 of the word before [rbx]", () => {
    const cpu = ok(
      run(
        [movabs(RBX, BigInt(DATA + 8)), movabs(RCX, 0xffffn), "66 0f a3 0b"],
        [0x8000_0000_0000_0000n],
      ),
    );
    expect(flags(cpu) & FLAG_CF).toBe(FLAG_CF);
  });

  it("bts dword [ebx], ecx (67 prefix) wraps the bit-string address at 32 bits", () => {
    // ebx + (ecx >> 5) * 4 = 2^32 + DATA: DATA with 32-bit addressing.
    const cpu = ok(
      run([movabs(RBX, 0xffff_ff00n), movabs(RCX, BigInt((DATA + 0x100) * 8 + 3)), "67 0f ab 0b"]),
    );
    expect(getQ(cpu, DATA)).toBe(8n);
  });

  it("btc ax, 17 takes the offset mod 16 and leaves the rest of rax", () => {
    const cpu = ok(run([movabs(RAX, 0xffff_ffff_ffff_0000n), "66 0f ba f8 11"]));
    expect(reg(cpu, RAX)).toBe(0xffff_ffff_ffff_0002n);
    expect(flags(cpu) & FLAG_CF).toBe(0);
  });

  it("bts eax, ecx zero-extends rax", () => {
    const cpu = ok(run([movabs(RAX, -1n << 32n), movabs(RCX, 33n), "0f ab c8"]));
    expect(reg(cpu, RAX)).toBe(2n);
  });

  it("btc r10, rcx flips a bit in the high half (offset mod 64)", () => {
    const cpu = ok(run([movabs(R10, 1n << 40n), movabs(RCX, 64n + 40n), "49 0f bb ca"]));
    expect(reg(cpu, R10)).toBe(0n);
    expect(flags(cpu) & FLAG_CF).toBe(FLAG_CF);
  });

  const forms: [string, string, number, bigint, number, bigint][] = [];
  for (const name of ["bt", "bts", "btr", "btc"]) {
    for (const n of [16, 32, 64]) {
      const v = 0x8421_0000_1248_0001n & mask(n);
      for (const b of n === 64 ? [0, 63, 3, 31, 32] : [0, n - 1, 3]) {
        const bit = 1n << BigInt(b);
        const want =
          name === "bt" ? v : name === "bts" ? v | bit : name === "btr" ? v & ~bit : v ^ bit;
        forms.push([`${name} Ev,Ib`, "ib", n, v, b, want]);
        forms.push([`${name} Ev,Gv`, "gv", n, v, b, want]);
      }
    }
  }
  it.each(forms)("%s %s %i-bit of %s, bit %i, register and memory", (name, how, n, v, b, want) => {
    const [mn] = name.split(" ");
    const ext = { bt: 4, bts: 5, btr: 6, btc: 7 }[mn!]!;
    const opG = { bt: 0xa3, bts: 0xab, btr: 0xb3, btc: 0xbb }[mn!]!;
    for (const mem of [false, true]) {
      const code =
        how === "ib" ? [...enc(n, [0x0f, 0xba], ext, mem), b] : enc(n, [0x0f, opG], RCX, mem);
      // Bits above the operand: kept by BT and 16-bit writes, cleared by 32-bit writes.
      const init = n < 64 ? 0x7700_0000_0000_0000n | v : v;
      const cpu = ok(run([movabs(RDX, init), movabs(RCX, BigInt(b)), ZF_PF, code], [v]));
      expect(flags(cpu)).toBe(FLAG_ZF | FLAG_PF | Number((v >> BigInt(b)) & 1n));
      if (mem) expect(getQ(cpu, DATA)).toBe(mn === "bt" ? v : want);
      else
        expect(reg(cpu, RDX)).toBe(
          mn === "bt" ? init : n === 16 ? (init & ~mask(16)) | want : want,
        );
    }
  });
});

describe("bsf and bsr", () => {
  it("bsf rax, rcx finds the lowest set bit in the high half", () => {
    const cpu = ok(run([movabs(RCX, 0x0000_0300_0000_0000n), ZF_PF, "48 0f bc c1"]));
    expect(reg(cpu, RAX)).toBe(40n);
    expect(flags(cpu) & FLAG_ZF).toBe(0);
  });

  it("bsr r8, [rbx] finds the highest set bit", () => {
    const cpu = ok(run(["4c 0f bd 03"], [0x8000_0000_0000_0001n]));
    expect(reg(cpu, R8)).toBe(63n);
    const low = ok(run(["4c 0f bd 03"], [0x0000_0000_0010_0001n]));
    expect(reg(low, R8)).toBe(20n);
  });

  it("bsf rax, rcx with rcx = 0 sets ZF and leaves all of rax", () => {
    const cpu = ok(run([movabs(RAX, 0x1234_5678_9abc_def0n), movabs(RCX, 0n), "48 0f bc c1"]));
    expect(reg(cpu, RAX)).toBe(0x1234_5678_9abc_def0n);
    expect(flags(cpu) & FLAG_ZF).toBe(FLAG_ZF);
  });

  it("bsr eax, ecx zero-extends rax; bsf ax, cx writes ax only", () => {
    const cpu = ok(run([movabs(RAX, -1n), movabs(RCX, 0xf000_0000_0001_0000n), "0f bd c1"]));
    expect(reg(cpu, RAX)).toBe(16n);
    const w = ok(run([movabs(RAX, -1n), movabs(RCX, 0x10n), "66 0f bc c1"]));
    expect(reg(w, RAX)).toBe(0xffff_ffff_ffff_0004n);
  });
});

describe("bswap", () => {
  it("bswap rax reverses 8 bytes", () => {
    const cpu = ok(run([movabs(RAX, 0x0102_0304_0506_0708n), "48 0f c8"]));
    expect(reg(cpu, RAX)).toBe(0x0807_0605_0403_0201n);
  });

  it("bswap r12 (REX.WB) and bswap r9d (REX.B) zero-extends", () => {
    const cpu = ok(
      run([
        movabs(R12, 0x1122_3344_5566_7788n),
        movabs(R9, (-1n << 32n) | 0x1234_5678n),
        "49 0f cc",
        "41 0f c9",
      ]),
    );
    expect(reg(cpu, R12)).toBe(0x8877_6655_4433_2211n);
    expect(reg(cpu, R9)).toBe(0x7856_3412n);
  });

  it("bswap ax clears ax (undefined in the SDM)", () => {
    const cpu = ok(run([movabs(RAX, 0x1122_3344_5566_7788n), "66 0f c8"]));
    expect(reg(cpu, RAX)).toBe(0x1122_3344_5566_0000n);
  });
});

describe("setcc and cmovcc", () => {
  const pairs: [bigint, bigint][] = [
    [1n, 2n],
    [2n, 1n],
    [5n, 5n],
    [1n << 63n, 1n],
    [u64(-1n), 1n],
    [0x7fff_ffff_ffff_ffffn, u64(-1n)],
  ];
  it.each(pairs)(
    "cmp rax, rcx (%s, %s), then setcc of each condition follows the SDM's table",
    (a, b) => {
      const d = u64(a - b);
      const cf = a < b;
      const zf = d === 0n;
      const sf = d >> 63n === 1n;
      const of = s64(a) - s64(b) !== s64(d);
      const pf = parity(d) === 1;
      const truth = [of, cf, zf, cf || zf, sf, pf, sf !== of, zf || sf !== of];
      const code: (number[] | string)[] = [movabs(RAX, a), movabs(RCX, b), "48 39 c8"];
      for (let cc = 0; cc < 16; cc++) code.push([0x0f, 0x90 + cc, 0x43, cc]); // setcc [rbx + cc]
      const cpu = ok(run(code, [-1n, -1n]));
      for (let cc = 0; cc < 16; cc++) {
        const want = truth[cc >> 1]! !== ((cc & 1) === 1);
        expect(cpu.mem.read8(DATA + cc), `cc ${cc}`).toBe(want ? 1 : 0);
      }
    },
  );

  it("setz al / setb r9b / setnz sil write their byte registers only", () => {
    const cpu = ok(
      run([
        movabs(RAX, 0xff01n),
        movabs(RCX, 0xff01n),
        movabs(R9, -1n),
        movabs(RSI, -1n),
        "48 39 c8",
        "0f 94 c0",
        "41 0f 92 c1",
        "40 0f 95 c6",
      ]),
    );
    expect(reg(cpu, RAX)).toBe(0xff01n);
    expect(reg(cpu, R9)).toBe(u64(-1n) & ~0xffn);
    expect(reg(cpu, RSI)).toBe(u64(-1n) & ~0xffn);
  });

  it("cmovz rax, rcx moves when ZF is set", () => {
    const cpu = ok(run([movabs(RAX, 1n), movabs(RCX, -7n), ZF_PF, "48 0f 44 c1"]));
    expect(reg(cpu, RAX)).toBe(u64(-7n));
  });

  it("cmovz eax, ecx zero-extends when false", () => {
    const cpu = ok(run([movabs(RAX, -1n), movabs(RCX, 5n), "48 39 c8", "0f 44 c1"]));
    expect(reg(cpu, RAX)).toBe(0xffff_ffffn);
  });

  it("cmovz eax, [rbx] zero-extends when false too", () => {
    const cpu = ok(run([movabs(RAX, -1n), movabs(RCX, 5n), "48 39 c8", "0f 44 03"], [9n]));
    expect(reg(cpu, RAX)).toBe(0xffff_ffffn);
  });

  it("cmovnz ax, cx leaves rax when false", () => {
    const cpu = ok(run([movabs(RAX, -1n), movabs(RCX, 5n), ZF_PF, "66 0f 45 c1"]));
    expect(reg(cpu, RAX)).toBe(u64(-1n));
  });

  it("cmovb rax, [rbx] moves a quadword from memory when CF is set", () => {
    const cpu = ok(run([STC, "48 0f 42 03"], [0x1234_5678_9abc_def0n]));
    expect(reg(cpu, RAX)).toBe(0x1234_5678_9abc_def0n);
  });
});

// XADD, CMPXCHG -----------------------------------------------------------------------------

describe("xadd", () => {
  it("xadd rax, rcx: rcx = old rax, rax = the sum with its 64-bit flags", () => {
    const cpu = ok(run([movabs(RAX, -1n), movabs(RCX, 1n), "48 0f c1 c8"]));
    expect(reg(cpu, RAX)).toBe(0n);
    expect(reg(cpu, RCX)).toBe(u64(-1n));
    expect(flags(cpu) & (FLAG_CF | FLAG_ZF | FLAG_AF | FLAG_OF)).toBe(FLAG_CF | FLAG_ZF | FLAG_AF);
  });

  it("lock xadd qword [rbx], rcx", () => {
    const cpu = ok(run([movabs(RCX, 0x7fff_ffff_ffff_ffffn), "f0 48 0f c1 0b"], [1n]));
    expect(getQ(cpu, DATA)).toBe(1n << 63n);
    expect(reg(cpu, RCX)).toBe(1n);
    expect(flags(cpu) & (FLAG_OF | FLAG_SF | FLAG_CF)).toBe(FLAG_OF | FLAG_SF);
  });

  it("xadd al, cl and xadd edx, edx (same register: the sum wins, zero-extended)", () => {
    const cpu = ok(
      run([
        movabs(RAX, 0x1111_11f0n),
        movabs(RCX, 0x2222_2220n),
        movabs(RDX, (-1n << 32n) | 3n),
        "0f c0 c8",
        "0f c1 d2",
      ]),
    );
    expect(reg(cpu, RAX)).toBe(0x1111_1110n);
    expect(reg(cpu, RCX)).toBe(0x2222_22f0n);
    expect(reg(cpu, RDX)).toBe(6n);
  });
});

describe("cmpxchg", () => {
  it("cmpxchg rcx, rdx when rax = rcx: rcx = rdx, ZF", () => {
    const cpu = ok(
      run([movabs(RAX, 1n << 40n), movabs(RCX, 1n << 40n), movabs(RDX, 7n), "48 0f b1 d1"]),
    );
    expect(reg(cpu, RCX)).toBe(7n);
    expect(reg(cpu, RAX)).toBe(1n << 40n);
    expect(flags(cpu) & FLAG_ZF).toBe(FLAG_ZF);
  });

  it("cmpxchg rcx, rdx when unequal: rax = rcx, flags of cmp rax, rcx", () => {
    const cpu = ok(run([movabs(RAX, 1n), movabs(RCX, 1n << 40n), movabs(RDX, 7n), "48 0f b1 d1"]));
    expect(reg(cpu, RAX)).toBe(1n << 40n);
    expect(reg(cpu, RCX)).toBe(1n << 40n);
    expect(flags(cpu) & (FLAG_ZF | FLAG_CF | FLAG_SF)).toBe(FLAG_CF | FLAG_SF);
  });

  it("cmpxchg ecx, edx: unequal loads eax zero-extended and leaves rcx; equal writes ecx zero-extended and leaves rax", () => {
    const miss = ok(
      run([
        movabs(RAX, (-1n << 32n) | 7n),
        movabs(RCX, (-1n << 32n) | 5n),
        movabs(RDX, 9n),
        "0f b1 d1",
      ]),
    );
    expect(reg(miss, RAX)).toBe(5n);
    expect(reg(miss, RCX)).toBe(u64((-1n << 32n) | 5n));
    const hit = ok(
      run([
        movabs(RAX, (-1n << 32n) | 5n),
        movabs(RCX, (-1n << 32n) | 5n),
        movabs(RDX, -1n),
        "0f b1 d1",
      ]),
    );
    expect(reg(hit, RCX)).toBe(0xffff_ffffn);
    expect(reg(hit, RAX)).toBe(u64((-1n << 32n) | 5n));
  });

  it("lock cmpxchg qword [rbx], rdx: equal stores rdx, unequal loads rax", () => {
    const hit = ok(run([movabs(RAX, 1n << 50n), movabs(RDX, 3n), "f0 48 0f b1 13"], [1n << 50n]));
    expect(getQ(hit, DATA)).toBe(3n);
    const miss = ok(run([movabs(RAX, 1n), movabs(RDX, 3n), "f0 48 0f b1 13"], [1n << 50n]));
    expect(getQ(miss, DATA)).toBe(1n << 50n);
    expect(reg(miss, RAX)).toBe(1n << 50n);
  });

  it("cmpxchg byte [rbx], dl and cmpxchg r9w, dx", () => {
    const cpu = ok(run([movabs(RAX, 0x4455n), movabs(RDX, 0x6677n), "0f b0 13"], [0x1155n]));
    expect(getQ(cpu, DATA)).toBe(0x1177n);
    const w = ok(
      run([
        movabs(RAX, 0x1234n),
        movabs(R9, (-1n << 16n) | 0x1234n),
        movabs(RDX, 0xbeefn),
        "66 41 0f b1 d1",
      ]),
    );
    expect(reg(w, R9)).toBe(u64((-1n << 16n) | 0xbeefn));
  });
});

describe("cmpxchg8b and cmpxchg16b", () => {
  it("lock cmpxchg16b [rbx]: equal stores rcx:rbx and sets ZF", () => {
    const cpu = ok(
      run([movabs(RAX, 1n), movabs(RDX, 2n), movabs(RCX, 4n), "f0 48 0f c7 0b"], [1n, 2n]),
    );
    expect(getQ(cpu, DATA)).toBe(BigInt(DATA)); // rbx
    expect(getQ(cpu, DATA + 8)).toBe(4n);
    expect(flags(cpu) & FLAG_ZF).toBe(FLAG_ZF);
  });

  it("cmpxchg16b [rbx] unequal loads rdx:rax and clears ZF", () => {
    const cpu = ok(
      run(
        [movabs(RAX, 1n), movabs(RDX, 3n), ZF_PF, "f0 48 0f c7 0b"],
        [0x1111_2222_3333_4444n, -5n],
      ),
    );
    expect(reg(cpu, RAX)).toBe(0x1111_2222_3333_4444n);
    expect(reg(cpu, RDX)).toBe(u64(-5n));
    expect(getQ(cpu, DATA + 8)).toBe(u64(-5n));
    expect(flags(cpu)).toBe(FLAG_PF);
  });

  it("cmpxchg16b [rbx] compares all 128 bits (rdx's high half differs)", () => {
    const cpu = ok(
      run(
        [movabs(RAX, 1n), movabs(RDX, 2n), movabs(RCX, 4n), ZF_PF, "48 0f c7 0b"],
        [1n, (1n << 40n) | 2n],
      ),
    );
    expect(flags(cpu) & FLAG_ZF).toBe(0);
    expect(reg(cpu, RDX)).toBe((1n << 40n) | 2n);
    expect(getQ(cpu, DATA)).toBe(1n);
  });

  it("cmpxchg16b [rbx] with rbx not 16-byte aligned is #GP(0)", () => {
    const cpu = run([movabs(RBX, BigInt(DATA + 8)), "48 0f c7 0b"]);
    expect(vector64(cpu)).toBe(GP_VECTOR);
  });

  it("cmpxchg8b [rbx]: equal stores ecx:ebx; unequal loads edx:eax zero-extended", () => {
    const hit = ok(
      run([movabs(RAX, 1n), movabs(RDX, 2n), movabs(RCX, 4n), "0f c7 0b"], [0x2_0000_0001n]),
    );
    expect(getQ(hit, DATA)).toBe((4n << 32n) | BigInt(DATA));
    expect(flags(hit) & FLAG_ZF).toBe(FLAG_ZF);
    const miss = ok(run([movabs(RAX, -1n), movabs(RDX, -1n), "0f c7 0b"], [0x2_0000_0001n]));
    expect(reg(miss, RAX)).toBe(1n);
    expect(reg(miss, RDX)).toBe(2n);
    expect(flags(miss) & FLAG_ZF).toBe(0);
  });
});
