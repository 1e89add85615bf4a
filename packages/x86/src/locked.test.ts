/**
 * Locked instructions on shared RAM (locked.ts, atomic.ts): every lockable form decodes to
 * its atomic variant when RAM is a SharedArrayBuffer, and gives the same registers, flags
 * and memory as the ordinary handler on plain RAM, for aligned, unaligned, split (page-
 * crossing) and MMIO operands; a compare that fails re-runs the instruction; and vCPUs in
 * worker threads over one RAM lose no increment (test/smp-worker.ts).
 */
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import {
  exceptionVector,
  LONG,
  longMode,
  PM,
  protectedMode,
  read32,
  rng,
  write32,
} from "../test/helpers.js";
import { rmwRead32, rmwWrite32 } from "./access.js";
import { EXIT_HLT, type X86Cpu } from "./cpu.js";
import { decodeInsn } from "./fetchdecode.js";
import { HANDLERS } from "./handlers.js";
import { DecodeCache } from "./icache.js";
import { getFlags, setArithFlags } from "./lazy_flags.js";
import { lockedVariant } from "./locked.js";
import { PhysMemory, type X86Devices } from "./memory.js";
import { DS, FLAG_CF, FLAG_ZF, FLAGS_ARITH } from "./regs.js";
import { EIP, HALTED, LOCK_FAIL, LOCK_MODE, RIP_HI } from "./state.js";

const EAX = 0;
const ECX = 1;
const EDX = 2;
const EBX = 3;
const ESP = 4;

/** Operands live around here (32-bit fixture and long-mode fixture alike). */
const DATA = 0x30_0000;
/** Offsets of the operand from DATA: aligned, unaligned, across 8 bytes, across a page. */
const OFFSETS = [0, 1, 2, 3, 4, 6, 0xffa, 0xffd, 0xfff];

const flags = (cpu: X86Cpu) => getFlags(cpu.st) & FLAGS_ARITH;

// Encodings with the operand at [ebx] / [rbx] (ModRM mod 00, rm 011) and ECX/CL as the
// register: `m(reg)` is that ModRM byte. `v` marks operand-size forms (run at 16 and 32,
// and 64 in long mode); `ib`/`iz` an immediate.
const m = (reg: number) => (reg << 3) | 3;
interface Form {
  readonly name: string;
  readonly bytes: readonly number[];
  readonly v: boolean;
  readonly imm?: "b" | "z";
  /** Locked without the prefix (XCHG). */
  readonly always?: boolean;
  /** ECX is a bit offset: keep it small. */
  readonly bitOffset?: boolean;
}

const FORMS: Form[] = [];
for (const [name, base] of [
  ["add", 0x00],
  ["or", 0x08],
  ["adc", 0x10],
  ["sbb", 0x18],
  ["and", 0x20],
  ["sub", 0x28],
  ["xor", 0x30],
] as const) {
  FORMS.push({ name: `${name} Eb,Gb`, bytes: [base, m(ECX)], v: false });
  FORMS.push({ name: `${name} Ev,Gv`, bytes: [base + 1, m(ECX)], v: true });
}
for (let n = 0; n < 7; n++) {
  FORMS.push({ name: `grp1/${n} Eb,Ib`, bytes: [0x80, m(n)], v: false, imm: "b" });
  FORMS.push({ name: `grp1/${n} Ev,Iz`, bytes: [0x81, m(n)], v: true, imm: "z" });
  FORMS.push({ name: `grp1/${n} Ev,Ib`, bytes: [0x83, m(n)], v: true, imm: "b" });
}
FORMS.push(
  { name: "inc Eb", bytes: [0xfe, m(0)], v: false },
  { name: "dec Eb", bytes: [0xfe, m(1)], v: false },
  { name: "inc Ev", bytes: [0xff, m(0)], v: true },
  { name: "dec Ev", bytes: [0xff, m(1)], v: true },
  { name: "not Eb", bytes: [0xf6, m(2)], v: false },
  { name: "neg Eb", bytes: [0xf6, m(3)], v: false },
  { name: "not Ev", bytes: [0xf7, m(2)], v: true },
  { name: "neg Ev", bytes: [0xf7, m(3)], v: true },
  { name: "bts Ev,Gv", bytes: [0x0f, 0xab, m(ECX)], v: true, bitOffset: true },
  { name: "btr Ev,Gv", bytes: [0x0f, 0xb3, m(ECX)], v: true, bitOffset: true },
  { name: "btc Ev,Gv", bytes: [0x0f, 0xbb, m(ECX)], v: true, bitOffset: true },
  { name: "bts Ev,Ib", bytes: [0x0f, 0xba, m(5)], v: true, imm: "b" },
  { name: "btr Ev,Ib", bytes: [0x0f, 0xba, m(6)], v: true, imm: "b" },
  { name: "btc Ev,Ib", bytes: [0x0f, 0xba, m(7)], v: true, imm: "b" },
  { name: "xadd Eb,Gb", bytes: [0x0f, 0xc0, m(ECX)], v: false },
  { name: "xadd Ev,Gv", bytes: [0x0f, 0xc1, m(ECX)], v: true },
  { name: "cmpxchg Eb,Gb", bytes: [0x0f, 0xb0, m(ECX)], v: false },
  { name: "cmpxchg Ev,Gv", bytes: [0x0f, 0xb1, m(ECX)], v: true },
  { name: "xchg Eb,Gb", bytes: [0x86, m(ECX)], v: false, always: true },
  { name: "xchg Ev,Gv", bytes: [0x87, m(ECX)], v: true, always: true },
);

/** The encodings of `form` at each operand size: [size, bytes after the LOCK prefix]. */
function encodings(form: Form, long: boolean, r: () => number): [number, number[]][] {
  const imm = (size: number): number[] => {
    const n = form.imm === "b" ? 1 : form.imm === "z" ? (size === 16 ? 2 : 4) : 0;
    return Array.from({ length: n }, () => r() & 0xff);
  };
  if (!form.v) return [[8, [...form.bytes, ...imm(8)]]];
  const out: [number, number[]][] = [
    [16, [0x66, ...form.bytes, ...imm(16)]],
    [32, [...form.bytes, ...imm(32)]],
  ];
  if (long) out.push([64, [0x48, ...form.bytes, ...imm(64)]]);
  return out;
}

// Two CPUs built once per mode (building a fixture costs far more than a case): RAM in an
// ArrayBuffer and in a SharedArrayBuffer.
let pm: [X86Cpu, X86Cpu] | null = null;
let lm: [X86Cpu, X86Cpu] | null = null;

function cpus(long: boolean): [X86Cpu, X86Cpu] {
  if (long) {
    if (lm === null) {
      lm = [longMode([0xf4]), longMode([0xf4], { shared: true })];
      for (const c of lm) expect(c.run(10_000)).toBe(EXIT_HLT);
    }
    return lm;
  }
  pm ??= [
    protectedMode([0xf4], { ramSize: 4 << 20 }),
    protectedMode([0xf4], { ramSize: 4 << 20, shared: true }),
  ];
  return pm;
}

/** Registers (with high halves), EIP, arithmetic flags and the bytes around the operand. */
function snapshot(cpu: X86Cpu, at: number): number[] {
  const out = [cpu.st[EIP]!, flags(cpu)];
  for (let k = 0; k < 8; k++) out.push(cpu.regs[k]!, cpu.regsHi[k]!);
  for (let k = -8; k < 24; k++) out.push(cpu.mem.read8(at + k));
  return out;
}

/**
 * Run `code` + HLT on `cpu` with EBX/RBX = `at`, the other registers, the flags and the
 * bytes around `at` from `seed`. Returns the snapshot after the HLT.
 */
function runCase(
  cpu: X86Cpu,
  long: boolean,
  code: number[],
  at: number,
  seed: number,
  bitOffset: boolean,
): number[] {
  const r = rng(seed);
  const entry = long ? LONG.ENTRY : PM.CODE;
  cpu.mem.load(entry, [...code, 0xf4]);
  for (let k = -8; k < 24; k++) cpu.mem.write8(at + k, r() & 0xff);
  for (const g of [EAX, ECX, EDX, 5, 6, 7]) {
    cpu.regs[g] = r();
    cpu.regsHi[g] = long ? r() : 0;
  }
  if (bitOffset) {
    cpu.regs[ECX] = (r() % 96) - 32;
    cpu.regsHi[ECX] = cpu.regs[ECX]! >> 31;
  }
  // Two times in three the accumulator equals the operand (EDX:EAX or RAX the quadword,
  // or RDX:RAX the double quadword): CMPXCHG* succeeds.
  const pick = r() % 3;
  if (pick !== 0) {
    cpu.regs[EAX] = read32(cpu, at);
    cpu.regsHi[EAX] = long ? read32(cpu, at + 4) : 0;
    cpu.regs[EDX] = read32(cpu, at + 4);
    if (pick === 2 && long) {
      cpu.regs[EDX] = read32(cpu, at + 8);
      cpu.regsHi[EDX] = read32(cpu, at + 12);
    }
  }
  cpu.regs[EBX] = at;
  cpu.regsHi[EBX] = 0;
  cpu.regs[ESP] = PM.STACK0;
  cpu.regsHi[ESP] = 0;
  setArithFlags(cpu.st, FLAGS_ARITH, r() & FLAGS_ARITH);
  cpu.st[HALTED] = 0;
  cpu.st[EIP] = entry;
  cpu.st[RIP_HI] = 0;
  expect(cpu.run(1_000)).toBe(EXIT_HLT);
  return snapshot(cpu, at);
}

/** The name of the handler slot 0 gets for `bytes` when RAM is shared (or not). */
function decodedName(bytes: number[], mode: 32 | 64, shared: boolean): string {
  const dc = new DecodeCache();
  dc.atomicRmw = shared;
  decodeInsn(dc, 0, { fetch: (k) => bytes[k] ?? 0x90 }, mode);
  return HANDLERS[dc.op[0]!]!.name;
}

describe("locked read-modify-writes on shared RAM", () => {
  for (const long of [false, true]) {
    const mode = long ? "64-bit mode" : "32-bit protected mode";
    it(`every lockable form decodes to its locked variant only on shared RAM (${mode})`, () => {
      const r = rng(7);
      const forms = [...FORMS];
      forms.push({ name: "cmpxchg8b Mq", bytes: [0x0f, 0xc7, m(1)], v: false });
      for (const form of forms) {
        for (const [, enc] of encodings(form, long, r)) {
          const bytes = form.always ? enc : [0xf0, ...enc];
          const plain = decodedName(bytes, long ? 64 : 32, false);
          expect(plain, form.name).not.toMatch(/^lock_/);
          expect(plain, form.name).not.toBe("ud");
          expect(decodedName(bytes, long ? 64 : 32, true), form.name).toMatch(/^lock_/);
          // A register operand is not locked (and LOCK with one is #UD).
          const reg = [...bytes];
          const at = reg.indexOf(form.bytes.at(-1)!, form.always ? 0 : 1);
          reg[at] = reg[at]! | 0xc0;
          expect(decodedName(reg, long ? 64 : 32, true), form.name).not.toMatch(/^lock_/);
        }
      }
      if (long) {
        expect(decodedName([0xf0, 0x48, 0x0f, 0xc7, m(1)], 64, true)).toBe("lock_cmpxchg16b");
      }
      // Plain (unprefixed) read-modify-writes stay plain on shared RAM.
      expect(decodedName([0x01, m(ECX)], long ? 64 : 32, true)).not.toMatch(/^lock_/);
    });

    it(`LOCK forms give what the ordinary handlers give on plain RAM (${mode})`, () => {
      const [plain, shared] = cpus(long);
      const r = rng(long ? 64 : 32);
      const forms = [...FORMS, { name: "cmpxchg8b Mq", bytes: [0x0f, 0xc7, m(1)], v: false }];
      let cases = 0;
      for (const form of forms) {
        for (const [size, enc] of encodings(form, long, r)) {
          for (const off of OFFSETS) {
            for (let t = 0; t < 2; t++) {
              const seed = r();
              const code = form.always && t === 0 ? enc : [0xf0, ...enc];
              const at = DATA + off;
              const a = runCase(plain, long, code, at, seed, form.bitOffset === true);
              const b = runCase(shared, long, code, at, seed, form.bitOffset === true);
              expect(b, `${form.name} size ${size} at +${off.toString(16)}`).toEqual(a);
              cases++;
            }
          }
        }
      }
      if (long) {
        // CMPXCHG16B (aligned: else #GP, which both raise).
        for (let t = 0; t < 8; t++) {
          const seed = r();
          const at = DATA + (t & 1 ? 0x10 : 0x08);
          const code = [0xf0, 0x48, 0x0f, 0xc7, m(1)];
          expect(runCase(shared, long, code, at, seed, false)).toEqual(
            runCase(plain, long, code, at, seed, false),
          );
        }
      }
      expect(cases).toBeGreaterThan(1000);
    });
  }

  it("LOCK CMPXCHG: equal stores the source, else loads the accumulator", () => {
    const [, cpu] = cpus(false);
    // lock cmpxchg [ebx], ecx
    const code = [0xf0, 0x0f, 0xb1, m(ECX), 0xf4];
    const go = (mem: number, eax: number) => {
      write32(cpu, DATA, mem);
      cpu.mem.load(PM.CODE, code);
      cpu.regs[EAX] = eax;
      cpu.regs[ECX] = 0x1234_5678;
      cpu.regs[EBX] = DATA;
      cpu.st[EIP] = PM.CODE;
      cpu.st[HALTED] = 0;
      expect(cpu.run(100)).toBe(EXIT_HLT);
    };
    go(7, 7);
    expect(read32(cpu, DATA)).toBe(0x1234_5678);
    expect(cpu.regs[EAX]).toBe(7);
    expect(flags(cpu) & FLAG_ZF).toBe(FLAG_ZF);
    go(9, 7);
    expect(read32(cpu, DATA)).toBe(9);
    expect(cpu.regs[EAX]).toBe(9);
    expect(flags(cpu) & FLAG_ZF).toBe(0);
    expect(flags(cpu) & FLAG_CF).toBe(FLAG_CF); // 7 - 9 borrows
  });

  it("LOCK CMPXCHG8B: equal stores ECX:EBX, else loads EDX:EAX", () => {
    const [, cpu] = cpus(false);
    // lock cmpxchg8b [esi]
    const code = [0xf0, 0x0f, 0xc7, 0x0e, 0xf4];
    const go = (lo: number, hi: number) => {
      write32(cpu, DATA, 0x1111_1111);
      write32(cpu, DATA + 4, 0x2222_2222);
      cpu.mem.load(PM.CODE, code);
      cpu.regs[EAX] = lo;
      cpu.regs[EDX] = hi;
      cpu.regs[EBX] = 0x3333_3333;
      cpu.regs[ECX] = 0x4444_4444;
      cpu.regs[6] = DATA;
      cpu.st[EIP] = PM.CODE;
      cpu.st[HALTED] = 0;
      expect(cpu.run(100)).toBe(EXIT_HLT);
    };
    go(0x1111_1111, 0x2222_2222);
    expect([read32(cpu, DATA), read32(cpu, DATA + 4)]).toEqual([0x3333_3333, 0x4444_4444]);
    expect(flags(cpu) & FLAG_ZF).toBe(FLAG_ZF);
    go(0x1111_1111, 0x2222_2223);
    expect([read32(cpu, DATA), read32(cpu, DATA + 4)]).toEqual([0x1111_1111, 0x2222_2222]);
    expect([cpu.regs[EAX], cpu.regs[EDX]]).toEqual([0x1111_1111, 0x2222_2222]);
    expect(flags(cpu) & FLAG_ZF).toBe(0);
  });

  it("LOCK XADD qword and XCHG qword in 64-bit mode", () => {
    const [, cpu] = cpus(true);
    const go = (code: number[]) => {
      cpu.mem.load(LONG.ENTRY, [...code, 0xf4]);
      write32(cpu, DATA, 0xffff_ffff);
      write32(cpu, DATA + 4, 0x0000_0001);
      cpu.regs[ECX] = 2;
      cpu.regsHi[ECX] = 0x10;
      cpu.regs[EBX] = DATA;
      cpu.regsHi[EBX] = 0;
      cpu.st[HALTED] = 0;
      cpu.st[EIP] = LONG.ENTRY;
      cpu.st[RIP_HI] = 0;
      expect(cpu.run(100)).toBe(EXIT_HLT);
    };
    go([0xf0, 0x48, 0x0f, 0xc1, m(ECX)]); // lock xadd [rbx], rcx
    expect([read32(cpu, DATA), read32(cpu, DATA + 4)]).toEqual([1, 0x12]);
    expect([cpu.regs[ECX], cpu.regsHi[ECX]]).toEqual([-1, 1]);
    go([0x48, 0x87, m(ECX)]); // xchg [rbx], rcx
    expect([read32(cpu, DATA), read32(cpu, DATA + 4)]).toEqual([2, 0x10]);
    expect([cpu.regs[ECX], cpu.regsHi[ECX]]).toEqual([-1, 1]);
  });

  it("a locked operand outside RAM takes the device path", () => {
    const log: string[] = [];
    const devices: X86Devices = {
      ioRead: () => 0,
      ioWrite: () => {},
      mmioRead: (a, size) => {
        log.push(`r${size}@${a.toString(16)}`);
        return 40;
      },
      mmioWrite: (a, size, v) => {
        log.push(`w${size}@${a.toString(16)}=${v}`);
      },
    };
    // lock add [ebx], ecx with EBX beyond the 2 MiB of RAM.
    const cpu = protectedMode([0xf0, 0x01, m(ECX), 0xf4], { shared: true, devices });
    cpu.regs[EBX] = 0x40_0000;
    cpu.regs[ECX] = 2;
    expect(cpu.run(100)).toBe(EXIT_HLT);
    expect(exceptionVector(cpu)).toBe(-1);
    expect(log).toEqual(["r4@400000", "w4@400000=42"]);
    // lock cmpxchg8b [ebx]: unequal, the device's quadword is written back and loaded.
    log.length = 0;
    const c8 = protectedMode([0xf0, 0x0f, 0xc7, m(1), 0xf4], { shared: true, devices });
    c8.regs[EBX] = 0x40_0000;
    expect(c8.run(100)).toBe(EXIT_HLT);
    expect(exceptionVector(c8)).toBe(-1);
    expect(log).toEqual(["r4@400000", "r4@400004", "w4@400000=40", "w4@400004=40"]);
    expect([c8.regs[EAX], c8.regs[EDX]]).toEqual([40, 40]);
  });

  it("the write of a locked read-modify-write is a compare-and-exchange", () => {
    const [, cpu] = cpus(false);
    write32(cpu, DATA, 5);
    cpu.st[LOCK_MODE] = 1;
    cpu.st[LOCK_FAIL] = 0;
    expect(rmwRead32(cpu, DS, DATA)).toBe(5);
    write32(cpu, DATA, 6); // another agent's store
    rmwWrite32(cpu, 99);
    expect(cpu.st[LOCK_FAIL]).toBe(1);
    expect(read32(cpu, DATA)).toBe(6);
    cpu.st[LOCK_FAIL] = 0;
    expect(rmwRead32(cpu, DS, DATA)).toBe(6);
    rmwWrite32(cpu, 99);
    cpu.st[LOCK_MODE] = 0;
    expect(cpu.st[LOCK_FAIL]).toBe(0);
    expect(read32(cpu, DATA)).toBe(99);
  });

  it("a failed compare puts registers and flags back and runs the instruction again", () => {
    const [, cpu] = cpus(false);
    let attempts = 0;
    // An XADD-like handler whose first attempt meets another agent's store between its
    // read and its write.
    const h = lockedVariant((c, _i) => {
      attempts++;
      const d = rmwRead32(c, DS, DATA);
      if (attempts === 1) write32(c, DATA, 100);
      c.regs[ECX] = (c.regs[ECX]! + d) | 0;
      setArithFlags(c.st, FLAG_CF, attempts === 1 ? FLAG_CF : 0);
      rmwWrite32(c, d + 1);
    });
    write32(cpu, DATA, 10);
    cpu.dc.reg[0] = ECX; // the instruction's ModRM.reg, which a retry restores
    cpu.regs[ECX] = 1;
    setArithFlags(cpu.st, FLAG_CF, 0);
    h(cpu, 0);
    expect(attempts).toBe(2);
    expect(read32(cpu, DATA)).toBe(101);
    expect(cpu.regs[ECX]).toBe(101);
    expect(flags(cpu) & FLAG_CF).toBe(0);
    expect(cpu.st[LOCK_MODE]).toBe(0);
  });

  it("plain RAM decodes no locked variants", () => {
    const mem = new PhysMemory();
    mem.addRam(0, new Uint8Array(1 << 16));
    expect(mem.shared).toBe(false);
    mem.addRam(1 << 16, new Uint8Array(new SharedArrayBuffer(1 << 16)));
    expect(mem.shared).toBe(true);
    mem.removeRam(1 << 16);
    expect(mem.shared).toBe(false);
  });
});

// vCPUs in worker threads ------------------------------------------------------------------

/**
 * Real-mode code for the workers, at 0000:7C00: EBP = [1020h] iterations of LOCK INC
 * [1000h], of LOCK INC on an unaligned dword inside a qword [1031h] and across a page
 * [1FFEh] (the lock word), LOCK ADD byte [1040h], LOCK INC on an odd word [1043h], a
 * LOCK CMPXCHG8B loop incrementing the qword [1060h]; LOCK XADD [1004h], EAX=1; a spinlock at [100Ch] (LOCK CMPXCHG to take it, XCHG
 * to release) around a plain INC [1008h]. `locked` false: a plain INC [1010h] only.
 */
function smpProgram(locked: boolean): number[] {
  const out: number[] = [];
  const jnz = (to: number) => out.push(0x75, (to - (out.length + 2)) & 0xff);
  out.push(0x66, 0x8b, 0x2e, 0x20, 0x10); // mov ebp, [1020h]
  const loop = out.length;
  if (locked) {
    out.push(0xf0, 0x66, 0xff, 0x06, 0x00, 0x10); // lock inc dword [1000h]
    out.push(0xf0, 0x66, 0xff, 0x06, 0x31, 0x10); // lock inc dword [1031h]: inside a qword
    out.push(0xf0, 0x66, 0xff, 0x06, 0xfe, 0x1f); // lock inc dword [1FFEh]: a split lock
    out.push(0xf0, 0x80, 0x06, 0x40, 0x10, 0x01); // lock add byte [1040h], 1
    out.push(0xf0, 0xff, 0x06, 0x43, 0x10); // lock inc word [1043h]: odd, inside a qword
    // A qword increment by LOCK CMPXCHG8B, retried until it succeeds.
    const retry = out.length;
    out.push(0x66, 0xa1, 0x60, 0x10); // mov eax, [1060h]
    out.push(0x66, 0x8b, 0x16, 0x64, 0x10); // mov edx, [1064h]
    out.push(0x66, 0x89, 0xc3, 0x66, 0x89, 0xd1); // mov ebx, eax; mov ecx, edx
    out.push(0x66, 0x83, 0xc3, 0x01, 0x66, 0x83, 0xd1, 0x00); // add ebx, 1; adc ecx, 0
    out.push(0xf0, 0x66, 0x0f, 0xc7, 0x0e, 0x60, 0x10); // lock cmpxchg8b [1060h]
    jnz(retry);
    out.push(0x66, 0xb8, 1, 0, 0, 0); // mov eax, 1
    out.push(0xf0, 0x66, 0x0f, 0xc1, 0x06, 0x04, 0x10); // lock xadd [1004h], eax
    const spin = out.length;
    out.push(0x66, 0x31, 0xc0); // xor eax, eax
    out.push(0x66, 0xba, 1, 0, 0, 0); // mov edx, 1
    out.push(0xf0, 0x66, 0x0f, 0xb1, 0x16, 0x0c, 0x10); // lock cmpxchg [100Ch], edx
    jnz(spin);
    out.push(0x66, 0xff, 0x06, 0x08, 0x10); // inc dword [1008h]
    out.push(0x66, 0x31, 0xdb); // xor ebx, ebx
    out.push(0x66, 0x87, 0x1e, 0x0c, 0x10); // xchg [100Ch], ebx
  } else {
    out.push(0x66, 0xff, 0x06, 0x10, 0x10); // inc dword [1010h]
  }
  out.push(0x66, 0x4d); // dec ebp
  jnz(loop);
  out.push(0xf4);
  return out;
}

/** Run `workers` vCPUs of `program` over one shared RAM; the counters after. */
async function runSmp(program: number[], workers: number, iterations: number): Promise<number[]> {
  const ram = new SharedArrayBuffer(1 << 20);
  new Uint8Array(ram).set(program, 0x7c00);
  const view = new DataView(ram);
  view.setUint32(0x1020, iterations, true);
  const lockWords = new PhysMemory().lockWords;
  const barrier = new Int32Array(new SharedArrayBuffer(4));
  const script = new URL("../test/smp-worker.ts", import.meta.url).pathname;
  // The worker loads the TypeScript sources through tsx.
  const boot = `import("tsx/esm/api").then(({ tsImport }) => tsImport(${JSON.stringify(script)}, ${JSON.stringify(import.meta.url)}))`;
  const exits = await Promise.all(
    Array.from(
      { length: workers },
      (_, id) =>
        new Promise<number>((resolve, reject) => {
          const w = new Worker(boot, {
            eval: true,
            workerData: { ram, lockWords, barrier, workers, entry: 0x7c00, id },
          });
          w.once("message", (msg: { exit: number }) => {
            resolve(msg.exit);
            void w.terminate();
          });
          w.once("error", reject);
        }),
    ),
  );
  expect(exits).toEqual(Array(workers).fill(EXIT_HLT));
  const at = [0x1000, 0x1004, 0x1008, 0x1010, 0x1031, 0x1ffe, 0x1040, 0x1043, 0x1060];
  return at.map((a) =>
    a === 0x1040
      ? view.getUint8(a)
      : a === 0x1043
        ? view.getUint16(a, true)
        : view.getUint32(a, true),
  );
}

describe("vCPUs in worker threads over one shared RAM", () => {
  it("LOCK INC/ADD/XADD, CMPXCHG8B and a CMPXCHG spinlock lose no increment (3 workers)", async () => {
    const n = 10_000;
    const [inc, xadd, spinlocked, , unaligned, split, byte, word, qword] = await runSmp(
      smpProgram(true),
      3,
      n,
    );
    expect({ inc, xadd, spinlocked, unaligned, split, byte, word, qword }).toEqual({
      inc: 3 * n,
      xadd: 3 * n,
      spinlocked: 3 * n,
      unaligned: 3 * n,
      split: 3 * n,
      byte: (3 * n) & 0xff,
      word: 3 * n,
      qword: 3 * n,
    });
  }, 30_000);

  it("without LOCK, two vCPUs incrementing one counter lose increments", async () => {
    // Whether the two loops overlap is up to the host scheduler: up to three tries.
    const n = 200_000;
    let lost = 0;
    for (let attempt = 0; attempt < 3 && lost === 0; attempt++) {
      const [, , , plain] = await runSmp(smpProgram(false), 2, n);
      expect(plain).toBeLessThanOrEqual(2 * n);
      lost = 2 * n - plain!;
    }
    expect(lost).toBeGreaterThan(0);
  }, 30_000);
});
