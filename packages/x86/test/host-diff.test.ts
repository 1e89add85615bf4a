/**
 * The host CPU is the oracle: random sequences of register-only integer instructions
 * (test/host/gen.ts) run natively on this x86-64 machine (test/host/native.c, built with
 * the system gcc) and on the interpreter in 32-bit flat protected mode; the defined
 * flags and register bits must agree, and so must the exception (#DE, #UD) and the
 * instruction that raised it. Undefined flags and results (SDM) are masked, following
 * Intel, so an AMD host compares cleanly.
 *
 * The same in 64-bit mode: 64-bit code (REX.W, R8–R15, SPL..DIL, imm64, MOVSXD) runs
 * natively and on the interpreter in IA-32e mode, and all 64 bits of every register but
 * RSP are compared. Instruction classes whose 64-bit handlers are not written yet
 * (gen.ts LONG_GATED) join by themselves when handlers.ts resolves them.
 *
 * HOST_DIFF_SEED, HOST_DIFF_COUNT and HOST_DIFF_FIRST choose the cases (each case is
 * generated from the seed and its index alone; HOST_DIFF_LONG_GATED fixes the 64-bit
 * classes); `npm run host-soak -w @glassvm/x86 [-- --long]` runs millions. Skipped,
 * saying why, where there is no gcc or the host is not x86-64 Linux.
 */
import { Decoder, DecoderOptions, Code as IcedCode } from "iced-x86";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  compare,
  definedMasks,
  fromNative,
  Interpreter,
  Interpreter64,
  longGatedClasses,
  report,
  runDiff,
  summary,
} from "./host/diff.js";
import {
  ARITH_FLAGS,
  type Case,
  type GenOptions,
  generateCase,
  LONG_GATED,
  nativeLineBytes,
  writeNativeLine,
} from "./host/gen.js";
import {
  buildNative,
  hostHasLahf,
  nativeUnavailable,
  removeNative,
  runNative,
} from "./host/native.js";

const SEED = Number(process.env.HOST_DIFF_SEED ?? 0x05_ca1e) >>> 0 || 1;
const COUNT = Number(process.env.HOST_DIFF_COUNT ?? 200_000);
const COUNT64 = Number(process.env.HOST_DIFF_COUNT ?? 200_000);
const FIRST = Number(process.env.HOST_DIFF_FIRST ?? 0);

const REG_NAMES = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
// biome-ignore format: a table
const REG_NAMES64 = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];

/** Cases run natively in one batch. */
function nativeBatch(exe: string, cases: readonly Case[]) {
  const input = new Uint8Array(cases.reduce((n, c) => n + nativeLineBytes(c), 0));
  let end = 0;
  for (const c of cases) end = writeNativeLine(c, input, end);
  return runNative(exe, input.subarray(0, end), cases.length);
}

const unavailable = nativeUnavailable();
if (unavailable) console.warn(`host-diff: skipped: ${unavailable}`);

describe.skipIf(unavailable !== null)("host CPU differential", () => {
  let exe = "";
  let lahf = false;
  beforeAll(() => {
    exe = buildNative();
    lahf = hostHasLahf(exe);
    if (!lahf) console.warn("host-diff: this host has no LAHF/SAHF in 64-bit mode: left out");
  });
  const log: string[] = [];
  afterAll(() => {
    if (exe) removeNative(exe);
    if (log.length) console.log(log.join("\n"));
  });

  it("native.c runs snippets and reports #DE and #UD with their offsets", () => {
    const regs = (eax: string, ecx: string) => `${eax} ${ecx} ${"0 ".repeat(14)}`;
    const input = [
      `8d5 ${regs("ffffffff00000001", "2")}01c8`, // add eax, ecx: zeroes RAX[63:32]
      `0 ${regs("5", "0")}90f7f1`, // nop; div ecx (ecx = 0)
      `0 ${regs("5", "0")}66900f0b`, // 66 nop; ud2
    ].join("\n");
    const r = runNative(exe, new TextEncoder().encode(`${input}\n`), 3);
    expect([r.signal[0], r.lo[0], r.hi[0], r.lo[1], r.rflags[0]! & ARITH_FLAGS]).toEqual([
      0, 3, 0, 2, 0x4,
    ]);
    expect([r.signal[1], r.faultOffset[1], r.lo[16]]).toEqual([8, 1, 5]);
    expect([r.signal[2], r.faultOffset[2]]).toEqual([4, 2]);
  });

  it("the comparison reports a changed defined bit and ignores undefined flags", () => {
    // The harness must be able to fail: plant differences in agreeing outcomes.
    const interp = new Interpreter();
    const cases = Array.from({ length: 1000 }, (_, k) => generateCase(SEED ^ 1, k, { lahf }));
    const input = new Uint8Array(cases.reduce((n, c) => n + nativeLineBytes(c), 0));
    let end = 0;
    for (const c of cases) end = writeNativeLine(c, input, end);
    const results = runNative(exe, input.subarray(0, end), cases.length);
    let maskedFlags = 0;
    let maskedBits = 0;
    cases.forEach((c, k) => {
      const nat = fromNative(c, results, k);
      const it = interp.run(c);
      const masks = definedMasks(c, nat, interp);
      const agree = compare(c, nat, it, masks);
      expect(agree && report(agree)).toBeNull();
      const { regMask, flagMask } = masks;
      const plain = { ...masks, stepped: null };
      // A defined register bit is caught; an undefined one (BSF/BSR of 0, SHLD/SHRD
      // past 16) is not.
      REG_NAMES.forEach((name, n) => {
        const defined = regMask[n]!;
        const masked = ~defined >>> 0;
        const flip = (bit: number) => {
          const regs = it.regs.slice();
          regs[n] = regs[n]! ^ bit;
          return compare(c, nat, { ...it, regs }, plain);
        };
        if (n === 4) return;
        if (defined !== 0) expect(flip(defined & -defined)?.why).toBe(name);
        if (masked !== 0) {
          maskedBits++;
          expect(flip(masked & -masked)).toBeNull();
        }
      });
      // Undefined flags are ignored; a defined one is caught.
      const undefinedFlags = ARITH_FLAGS & ~flagMask;
      if (undefinedFlags !== 0) {
        maskedFlags++;
        expect(compare(c, nat, { ...it, flags: it.flags ^ undefinedFlags }, plain)).toBeNull();
      }
      const definedFlag = flagMask & -flagMask;
      if (definedFlag !== 0) {
        expect(compare(c, nat, { ...it, flags: it.flags ^ definedFlag }, plain)?.why).toBe("flags");
      }
    });
    expect(maskedBits).toBeGreaterThan(0);
    expect(maskedFlags).toBeGreaterThan(100);
  });

  it("the generated encodings mean the same in 32-bit and 64-bit code (iced-x86)", () => {
    // A second opinion on the encoder: each instruction decodes to the same instruction
    // and length in both modes, and only UD2 / LOCK forms are invalid.
    const opts = { lahf: true };
    const bad: string[] = [];
    for (let k = 0; k < 3000 && bad.length < 10; k++) {
      const c = generateCase(SEED, FIRST + k, opts);
      c.insns.forEach((insn, j) => {
        const bytes = Uint8Array.from(insn.bytes);
        const codes = [32, 64].map((bits) => {
          const d = new Decoder(bits, bytes, DecoderOptions.None);
          const i = d.decode();
          const r = { code: i.code, len: i.length };
          i.free();
          d.free();
          return r;
        });
        const [a, b] = codes as [{ code: number; len: number }, { code: number; len: number }];
        const invalid = a.code === IcedCode.INVALID;
        if (
          a.code !== b.code ||
          a.len !== insn.bytes.length ||
          b.len !== insn.bytes.length ||
          (invalid && !insn.ud)
        ) {
          bad.push(
            `case ${c.index} insn ${j} ${insn.form}: ${insn.bytes.map((x) => x.toString(16))}`,
          );
        }
      });
    }
    expect(bad).toEqual([]);
  });

  it(`agrees with the host on ${COUNT} sequences (seed 0x${SEED.toString(16)})`, () => {
    const t0 = performance.now();
    const { stats, mismatches } = runDiff(exe, {
      seed: SEED,
      count: COUNT,
      first: FIRST,
      gen: { lahf },
    });
    log.push(summary(SEED, stats, (performance.now() - t0) / 1000));
    for (const m of mismatches.slice(0, 10)) log.push(report(m));
    if (mismatches.length > 10) log.push(`… and ${mismatches.length - 10} more`);
    expect(
      mismatches.map((m) => `case ${m.c.index}: ${m.why}`),
      `seed 0x${SEED.toString(16)}: see the reports above`,
    ).toEqual([]);
  }, 300_000);

  describe("64-bit mode", () => {
    const gated = longGatedClasses();
    const long = (): GenOptions => ({ lahf, long: { gated } });
    const off = Object.keys(LONG_GATED).filter((k) => !gated.has(k as never));
    if (off.length) log.push(`host-diff 64-bit: gated classes off: ${off.join(", ")}`);

    it("the 64-bit encodings decode as generated (iced-x86, 64-bit)", () => {
      // A second opinion on the encoder: each instruction is one valid 64-bit
      // instruction of the generated length (UD2 / LOCK forms excepted).
      const bad: string[] = [];
      const forms = new Set<string>();
      for (let k = 0; k < 5000 && bad.length < 10; k++) {
        const c = generateCase(SEED, FIRST + k, { ...long(), lahf: true });
        c.insns.forEach((insn, j) => {
          forms.add(insn.form);
          const d = new Decoder(64, Uint8Array.from(insn.bytes), DecoderOptions.None);
          const i = d.decode();
          const invalid = i.code === IcedCode.INVALID;
          if (i.length !== insn.bytes.length || invalid !== insn.ud) {
            bad.push(
              `case ${c.index} insn ${j} ${insn.form}: ${insn.bytes.map((x) => x.toString(16))}`,
            );
          }
          i.free();
          d.free();
        });
      }
      expect(bad).toEqual([]);
      for (const f of [
        "MOVSXD Gv,Ed",
        "MOV Zv,Iv",
        "XCHG Zv,eAX",
        "CDQE",
        "CQO",
        "LEA Gv,M (67)",
      ]) {
        expect(forms).toContain(f);
      }
    });

    it("the 64-bit comparison catches a changed defined bit, high halves included", () => {
      const interp = new Interpreter64();
      const cases = Array.from({ length: 1000 }, (_, k) => generateCase(SEED ^ 1, k, long()));
      const results = nativeBatch(exe, cases);
      let maskedHi = 0;
      cases.forEach((c, k) => {
        const nat = fromNative(c, results, k);
        const it = interp.run(c);
        const masks = definedMasks(c, nat, interp);
        const agree = compare(c, nat, it, masks);
        expect(agree && report(agree)).toBeNull();
        const plain = { ...masks, stepped: null };
        REG_NAMES64.forEach((name, n) => {
          if (n === 4) {
            expect([masks.regMask[n], masks.regMaskHi[n]]).toEqual([0, 0]);
            return;
          }
          for (const half of ["regs", "hi"] as const) {
            const defined = (half === "regs" ? masks.regMask : masks.regMaskHi)[n]!;
            const flip = (bit: number) => {
              const v = it[half].slice();
              v[n] = v[n]! ^ bit;
              return compare(c, nat, { ...it, [half]: v }, plain);
            };
            if (defined !== 0) expect(flip(defined & -defined)?.why).toBe(name);
            if (half === "hi" && defined !== 0xffff_ffff) {
              maskedHi++;
              expect(flip(~defined & -~defined)).toBeNull();
            }
          }
        });
      });
      // Undefined flags are ignored; a defined one is caught (as in 32-bit mode).
      let maskedFlags = 0;
      cases.forEach((c, k) => {
        const nat = fromNative(c, results, k);
        const it = interp.run(c);
        const masks = { ...definedMasks(c, nat, interp), stepped: null };
        const { flagMask } = masks;
        if ((ARITH_FLAGS & ~flagMask) !== 0) {
          maskedFlags++;
          const flags = it.flags ^ (ARITH_FLAGS & ~flagMask);
          expect(compare(c, nat, { ...it, flags }, masks)).toBeNull();
        }
        if (flagMask !== 0) {
          const flags = it.flags ^ (flagMask & -flagMask);
          expect(compare(c, nat, { ...it, flags }, masks)?.why).toBe("flags");
        }
      });
      expect(maskedFlags).toBeGreaterThan(50);
      // CMPXCHG r32 and BSF/BSR r32 of 0 leave high halves undefined, when generated.
      if (gated.has("cmpxchg") || gated.has("bitScan")) expect(maskedHi).toBeGreaterThan(0);
    });

    it(`agrees with the host on ${COUNT64} 64-bit sequences (seed 0x${SEED.toString(16)})`, () => {
      const t0 = performance.now();
      const { stats, mismatches } = runDiff(exe, {
        seed: SEED,
        count: COUNT64,
        first: FIRST,
        gen: long(),
      });
      log.push(summary(SEED, stats, (performance.now() - t0) / 1000));
      log.push(`host-diff 64-bit: gated classes on: ${[...gated].join(", ") || "none"}`);
      for (const m of mismatches.slice(0, 10)) log.push(report(m));
      if (mismatches.length > 10) log.push(`… and ${mismatches.length - 10} more`);
      expect(
        mismatches.map((m) => `case ${m.c.index}: ${m.why}`),
        `seed 0x${SEED.toString(16)}: see the reports above`,
      ).toEqual([]);
    }, 300_000);
  });
});
