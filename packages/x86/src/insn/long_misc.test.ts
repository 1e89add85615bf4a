/**
 * 64-bit mode's string instructions, LOOP/JRCXZ, PUSHFQ/POPFQ, ENTER, INT n, IN/OUT,
 * segment-register moves and LAR/LSL/VERR/VERW (long_misc.ts), run in the long-mode
 * fixture: the 32-bit prologue enters 64-bit mode and the code below runs at LONG.ENTRY.
 */
import { describe, expect, it } from "vitest";
import {
  LONG,
  longMode,
  longModeRing3,
  PM,
  read16,
  read32,
  vector64,
  write32,
  writeDescriptor,
} from "../../test/helpers.js";
import { EXIT_HLT, type X86Cpu } from "../cpu.js";
import { getFlags } from "../lazy_flags.js";
import type { X86Devices } from "../memory.js";
import {
  EAX,
  EBP,
  EBX,
  ECX,
  EDI,
  EDX,
  ESI,
  ESP,
  FLAG_CF,
  FLAG_IF,
  FLAG_ZF,
  FS,
  GS,
  SS,
} from "../regs.js";
import { IDTR_LIMIT } from "../state.js";

const d = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const w = (v: number) => [v & 0xff, (v >>> 8) & 0xff];

// A few encodings used throughout.
const movRcx = (v: number) => [0x48, 0xc7, 0xc1, ...d(v)]; // mov rcx, simm32
const movRsi = (v: number) => [0x48, 0xc7, 0xc6, ...d(v)]; // mov rsi, simm32
const movRdi = (v: number) => [0x48, 0xc7, 0xc7, ...d(v)]; // mov rdi, simm32
const movRax64 = (lo: number, hi: number) => [0x48, 0xb8, ...d(lo), ...d(hi)]; // mov rax, imm64
const movRcx64 = (lo: number, hi: number) => [0x48, 0xb9, ...d(lo), ...d(hi)]; // mov rcx, imm64
const HLT = 0xf4;

const SRC = 0x3_0000;
const DST = 0x3_8000;

function run(cpu: X86Cpu): void {
  expect(cpu.run(100_000)).toBe(EXIT_HLT);
}

/** Run to HLT and check that no exception stub was reached. */
function runClean(code: readonly number[], setup?: (cpu: X86Cpu) => void): X86Cpu {
  const cpu = longMode(code);
  setup?.(cpu);
  run(cpu);
  expect(vector64(cpu)).toBe(-1);
  return cpu;
}

function fill(cpu: X86Cpu, at: number, bytes: readonly number[]): void {
  cpu.mem.load(at, bytes);
}

describe("string instructions in 64-bit mode", () => {
  it("rep movsq copies rcx quadwords and leaves rcx 0", () => {
    const cpu = runClean(
      [...movRsi(SRC), ...movRdi(DST), ...movRcx(3), 0xf3, 0x48, 0xa5, HLT],
      (c) => {
        for (let k = 0; k < 6; k++) write32(c, SRC + 4 * k, 0x1111_0000 + k);
      },
    );
    for (let k = 0; k < 6; k++) expect(read32(cpu, DST + 4 * k)).toBe(0x1111_0000 + k);
    expect(read32(cpu, DST + 24)).toBe(0);
    expect([cpu.regs[ECX], cpu.regsHi[ECX]]).toEqual([0, 0]);
    expect(cpu.regs[ESI]).toBe(SRC + 24);
    expect(cpu.regs[EDI]).toBe(DST + 24);
  });

  it("rep movsb of more than one slice (4096) resumes and copies everything", () => {
    const n = 10_000;
    const cpu = runClean([...movRsi(SRC), ...movRdi(DST), ...movRcx(n), 0xf3, 0xa4, HLT], (c) => {
      fill(
        c,
        SRC,
        Array.from({ length: n }, (_, k) => (k * 7) & 0xff),
      );
    });
    expect(cpu.mem.read8(DST + n - 1)).toBe(((n - 1) * 7) & 0xff);
    expect(cpu.mem.read8(DST + 5000)).toBe((5000 * 7) & 0xff);
    expect(cpu.regs[ECX]).toBe(0);
    expect(cpu.regs[EDI]).toBe(DST + n);
  });

  it("rep stosd with 67 counts in ecx, stores at edi and zero-extends rdi", () => {
    const code = [
      0x48,
      0xc7,
      0xc0,
      ...d(0x55aa_1234), // mov rax, 0x55aa1234
      ...movRdi64(DST, 1), // rdi = 0x1_0000_0000 + DST: the high half is ignored with 67
      ...movRcx64(2, 7), // rcx = 0x7_0000_0002: ecx = 2
      0x67,
      0xf3,
      0xab, // rep stos dword [edi]
      HLT,
    ];
    const cpu = runClean(code);
    expect(read32(cpu, DST)).toBe(0x55aa_1234);
    expect(read32(cpu, DST + 4)).toBe(0x55aa_1234);
    expect(read32(cpu, DST + 8)).toBe(0);
    expect([cpu.regs[EDI], cpu.regsHi[EDI]]).toEqual([DST + 8, 0]);
    expect([cpu.regs[ECX], cpu.regsHi[ECX]]).toEqual([0, 0]);
  });

  it("rep stosb counts rcx through its high half; a #PF stops it with the count so far", () => {
    // RDI two bytes below the end of the mapped 4 MiB: the third store page-faults.
    const code = [...movRdi(0x3f_fffe), ...movRcx64(1, 1), 0xf3, 0xaa, HLT];
    const cpu = longMode(code);
    run(cpu);
    expect(vector64(cpu)).toBe(14);
    expect([cpu.regs[ECX], cpu.regsHi[ECX]]).toEqual([-1, 0]);
    expect(cpu.regs[EDI]).toBe(0x40_0000);
  });

  it("std; lodsq loads rax and moves rsi down by 8", () => {
    const cpu = runClean([...movRsi(SRC + 8), 0xfd, 0x48, 0xad, 0xfc, HLT], (c) => {
      write32(c, SRC + 8, 0x8765_4321);
      write32(c, SRC + 12, 0x0bad_cafe);
    });
    expect([cpu.regs[EAX]! >>> 0, cpu.regsHi[EAX]]).toEqual([0x8765_4321, 0x0bad_cafe]);
    expect(cpu.regs[ESI]).toBe(SRC);
  });

  it("lodsd zero-extends rax", () => {
    const cpu = runClean([...movRax64(-1, -1), ...movRsi(SRC), 0xad, HLT], (c) =>
      write32(c, SRC, 0x1234_5678),
    );
    expect([cpu.regs[EAX], cpu.regsHi[EAX]]).toEqual([0x1234_5678, 0]);
  });

  it("repe cmpsb stops after the first difference with zf = 0", () => {
    const cpu = runClean([...movRsi(SRC), ...movRdi(DST), ...movRcx(8), 0xf3, 0xa6, HLT], (c) => {
      fill(c, SRC, [1, 2, 3, 4, 5]);
      fill(c, DST, [1, 2, 3, 9, 5]);
    });
    expect(cpu.regs[ECX]).toBe(4);
    expect(cpu.regs[ESI]).toBe(SRC + 4);
    expect(getFlags(cpu.st) & FLAG_ZF).toBe(0);
    // 4 - 9 borrows.
    expect(getFlags(cpu.st) & FLAG_CF).toBe(FLAG_CF);
  });

  it("repne scasq finds rax and leaves rdi after the match", () => {
    const code = [
      ...movRax64(0x1111, 0x2222),
      ...movRdi(DST),
      ...movRcx(10),
      0xf2,
      0x48,
      0xaf,
      HLT,
    ];
    const cpu = runClean(code, (c) => {
      write32(c, DST + 16, 0x1111);
      write32(c, DST + 20, 0x2222);
      // A quadword whose low half matches but high half does not.
      write32(c, DST + 8, 0x1111);
    });
    expect(cpu.regs[EDI]).toBe(DST + 24);
    expect(cpu.regs[ECX]).toBe(7);
    expect(getFlags(cpu.st) & FLAG_ZF).toBe(FLAG_ZF);
  });

  it("rep outsb writes rcx bytes to port dx; rep insw reads words into [rdi]", () => {
    const out: number[] = [];
    const devices: X86Devices = {
      ioRead: (port, size) => (port === 0x60 && size === 2 ? 0xbeef : 0),
      ioWrite: (port, _size, v) => {
        if (port === 0x61) out.push(v);
      },
      mmioRead: () => 0,
      mmioWrite: () => {},
    };
    const code = [
      0x66,
      0xba,
      ...w(0x61),
      ...movRsi(SRC),
      ...movRcx(3),
      0xf3,
      0x6e, // rep outsb
      0x66,
      0xba,
      ...w(0x60),
      ...movRdi(DST),
      ...movRcx(2),
      0x66,
      0xf3,
      0x6d, // rep insw
      HLT,
    ];
    const cpu = runClean(code, (c) => {
      c.mem.devices = devices;
      fill(c, SRC, [7, 8, 9]);
    });
    expect(out).toEqual([7, 8, 9]);
    expect(read16(cpu, DST)).toBe(0xbeef);
    expect(read16(cpu, DST + 2)).toBe(0xbeef);
    expect(cpu.regs[EDI]).toBe(DST + 4);
  });
});

function movRdi64(lo: number, hi: number): number[] {
  return [0x48, 0xbf, ...d(lo), ...d(hi)];
}

describe("LOOP and JRCXZ in 64-bit mode", () => {
  it("loop counts rcx down through its high half", () => {
    // rcx = 0x1_0000_0002: loop runs until the full 64-bit count is 0, but stop after
    // crossing the high half: count iterations in rbx and bail out at 3.
    const code = [
      ...movRcx64(1, 1), // rcx = 0x1_0000_0001
      0x48,
      0xff,
      0xc3, // l: inc rbx
      0x48,
      0x83,
      0xfb,
      0x03, // cmp rbx, 3
      0x74,
      0x02, // je out
      0xe2,
      0xf5, // loop l
      HLT, // out
    ];
    const cpu = runClean(code);
    expect(cpu.regs[EBX]).toBe(3);
    // After two decrements: 0x1_0000_0001 → 0x1_0000_0000 → 0x0_FFFF_FFFF.
    expect([cpu.regs[ECX], cpu.regsHi[ECX]]).toEqual([-1, 0]);
  });

  it("loop with 67 decrements ecx and zero-extends rcx", () => {
    const code = [...movRcx64(1, 5), 0x67, 0xe2, 0xfe, HLT]; // loop $ (address size 32)
    const cpu = runClean(code);
    expect([cpu.regs[ECX], cpu.regsHi[ECX]]).toEqual([0, 0]);
  });

  it("loopne stops when zf = 1", () => {
    const code = [
      ...movRcx(10),
      0x48,
      0xff,
      0xc3, // l: inc rbx
      0x48,
      0x83,
      0xfb,
      0x04, // cmp rbx, 4
      0xe0,
      0xf7, // loopne l
      HLT,
    ];
    const cpu = runClean(code);
    expect(cpu.regs[EBX]).toBe(4);
    expect(cpu.regs[ECX]).toBe(6);
  });

  it("jrcxz branches only when all 64 bits of rcx are zero", () => {
    const code = [
      ...movRcx64(0, 1), // rcx = 0x1_0000_0000
      0xe3,
      0x03, // jrcxz +3 (not taken)
      0x48,
      0xff,
      0xc3, // inc rbx
      0x48,
      0x31,
      0xc9, // xor rcx, rcx
      0xe3,
      0x03, // jrcxz +3 (taken)
      0x48,
      0xff,
      0xc3, // inc rbx (skipped)
      HLT,
    ];
    const cpu = runClean(code);
    expect(cpu.regs[EBX]).toBe(1);
  });
});

describe("PUSHFQ, POPFQ, ENTER", () => {
  it("pushfq pushes 8 bytes of rflags and popfq restores them", () => {
    const code = [0xf9, 0x9c, 0xf8, 0x9d, HLT]; // stc; pushfq; clc; popfq
    const cpu = runClean(code);
    expect(cpu.regs[ESP]).toBe(PM.STACK0);
    expect(getFlags(cpu.st) & FLAG_CF).toBe(FLAG_CF);
    expect(read32(cpu, PM.STACK0 - 8) & FLAG_CF).toBe(FLAG_CF);
    expect(read32(cpu, PM.STACK0 - 4)).toBe(0);
  });

  it("popfq at ring 3 leaves IF and IOPL alone", () => {
    // Ring 3: push a value with IF set and IOPL 3, popfq, hlt is privileged → #GP; so
    // read the result with pushfq into memory first.
    const ring3 = [
      0x68,
      ...d(0x3202), // push 0x3202 (IOPL 3, IF)
      0x9d, // popfq
      0x9c, // pushfq
      0x58, // pop rax
      0x0f,
      0x0b, // ud2 → #UD stub (ring 0)
    ];
    const cpu = longModeRing3(ring3);
    run(cpu);
    expect(vector64(cpu)).toBe(6);
    expect(cpu.regs[EAX]! & (FLAG_IF | 0x3000)).toBe(0);
  });

  it("enter 16, 3 builds a nested frame with 8-byte slots", () => {
    const FRAME = 0x8000;
    const code = [
      0x48,
      0xc7,
      0xc5,
      ...d(FRAME), // mov rbp, FRAME
      0xc8,
      ...w(16),
      3, // enter 16, 3
      HLT,
    ];
    const cpu = runClean(code, (c) => {
      write32(c, FRAME - 8, 0xaaaa);
      write32(c, FRAME - 16, 0xbbbb);
    });
    const top = PM.STACK0;
    // [top-8] = old rbp; then the two copied frame pointers; then the new frame pointer.
    expect(read32(cpu, top - 8)).toBe(FRAME);
    expect(read32(cpu, top - 16)).toBe(0xaaaa);
    expect(read32(cpu, top - 24)).toBe(0xbbbb);
    expect(read32(cpu, top - 32)).toBe(top - 8);
    expect(cpu.regs[EBP]).toBe(top - 8);
    expect(cpu.regs[ESP]).toBe(top - 32 - 16);
  });
});

describe("INT n, INT3, INTO", () => {
  it("int 0x80 goes through the 64-bit IDT with the next instruction as return rip", () => {
    const code = [0x90, 0xcd, 0x80, HLT];
    const cpu = longMode(code);
    const handler = 0x2_0000;
    cpu.mem.load(handler, [HLT]);
    write32(cpu, LONG.IDT64 + 0x80 * 16, (LONG.CODE64 << 16) | (handler & 0xffff));
    write32(cpu, LONG.IDT64 + 0x80 * 16 + 4, (handler & 0xffff_0000) | 0x8e00);
    cpu.st[IDTR_LIMIT] = 0x81 * 16 - 1;
    run(cpu);
    expect(cpu.st[0]).toBe(handler + 1);
    const sp = cpu.regs[ESP]!;
    expect(read32(cpu, sp)).toBe(LONG.ENTRY + 3);
    expect(read32(cpu, sp + 4)).toBe(0);
  });

  it("int3 delivers #BP with rip after it", () => {
    const cpu = longMode([0xcc, HLT]);
    run(cpu);
    expect(vector64(cpu)).toBe(3);
    expect(read32(cpu, cpu.regs[ESP]!)).toBe(LONG.ENTRY + 1);
  });

  it("into is #UD in 64-bit mode", () => {
    const cpu = longMode([0xce, HLT]);
    run(cpu);
    expect(vector64(cpu)).toBe(6);
  });
});

describe("IN and OUT", () => {
  it("in eax, dx zero-extends rax; rex.w in stays 32-bit; out dx, al writes one byte", () => {
    const writes: number[][] = [];
    const devices: X86Devices = {
      ioRead: (_p, size) => (size === 4 ? 0x8000_0001 : 0xff),
      ioWrite: (port, size, v) => void writes.push([port, size, v]),
      mmioRead: () => 0,
      mmioWrite: () => {},
    };
    const code = [
      ...movRax64(-1, -1),
      0x66,
      0xba,
      ...w(0x70), // mov dx, 0x70
      0xed, // in eax, dx
      0x48,
      0x89,
      0xc3, // mov rbx, rax
      0x48,
      0xc7,
      0xc0,
      ...d(0x1234), // mov rax, 0x1234
      0xee, // out dx, al
      0x48,
      0xe7,
      0x71, // rex.w out 0x71, eax
      HLT,
    ];
    const cpu = runClean(code, (c) => {
      c.mem.devices = devices;
    });
    expect([cpu.regs[EBX]! >>> 0, cpu.regsHi[EBX]]).toEqual([0x8000_0001, 0]);
    expect(writes).toEqual([
      [0x70, 1, 0x34],
      [0x71, 4, 0x1234],
    ]);
  });
});

const SEL = PM.FREE + 8;

describe("segment registers", () => {
  it("mov fs, ax loads the base from the descriptor and clears the high half", () => {
    const code = [0x66, 0xb8, ...w(SEL), 0x8e, 0xe0, HLT]; // mov ax, SEL; mov fs, ax
    const cpu = runClean(code, (c) => {
      writeDescriptor(c, SEL, 0x1234_5000, 0xfffff, 0x92);
      c.segBaseHi[FS] = 7;
    });
    expect(cpu.segSel[FS]).toBe(SEL);
    expect(cpu.segBase[FS]).toBe(0x1234_5000);
    expect(cpu.segBaseHi[FS]).toBe(0);
  });

  it("push fs; pop gs moves the selector through an 8-byte slot", () => {
    const code = [0x66, 0xb8, ...w(SEL), 0x8e, 0xe0, 0x0f, 0xa0, 0x0f, 0xa9, HLT];
    const cpu = runClean(code, (c) => writeDescriptor(c, SEL, 0x4000, 0xfffff, 0x92));
    expect(cpu.segSel[GS]).toBe(SEL);
    expect(cpu.segBase[GS]).toBe(0x4000);
    expect(cpu.regs[ESP]).toBe(PM.STACK0);
    expect(read32(cpu, PM.STACK0 - 8)).toBe(SEL);
    expect(read32(cpu, PM.STACK0 - 4)).toBe(0);
  });

  it("pop gs with a bad selector faults and leaves rsp alone", () => {
    // Push a selector beyond the GDT limit, then pop gs: #GP, rsp as before the pop.
    const code = [0x68, ...d(0xfff8), 0x0f, 0xa9, HLT];
    const cpu = longMode(code);
    run(cpu);
    expect(vector64(cpu)).toBe(13);
    // The #GP frame sits below the stack the pop left: old RSP (STACK0 - 8) in it.
    expect(read32(cpu, cpu.regs[ESP]! + 8 + 24)).toBe(PM.STACK0 - 8);
  });

  it("mov ss with a null selector is allowed at ring 0 in 64-bit mode", () => {
    const code = [0x31, 0xc0, 0x8e, 0xd0, 0x50, 0x58, HLT]; // xor eax,eax; mov ss,ax; push/pop
    const cpu = runClean(code);
    expect(cpu.segSel[SS]).toBe(0);
  });

  it("mov rax, fs stores the selector zero-extended", () => {
    const code = [...movRax64(-1, -1), 0x48, 0x8c, 0xe0, HLT];
    const cpu = runClean(code);
    expect([cpu.regs[EAX], cpu.regsHi[EAX]]).toEqual([PM.DATA0, 0]);
  });

  it("lsl and lar read a descriptor's limit and access rights; verw says writable", () => {
    const code = [
      0x66,
      0xb9,
      ...w(SEL), // mov cx, SEL
      0x48,
      0x0f,
      0x03,
      0xc1, // lsl rax, ecx
      0x0f,
      0x02,
      0xd1, // lar edx, ecx
      0x0f,
      0x00,
      0xe9, // verw cx
      HLT,
    ];
    const cpu = runClean(code, (c) => writeDescriptor(c, SEL, 0, 0x1_2345, 0x92, 0x4));
    expect(cpu.regs[EAX]).toBe(0x1_2345);
    // Bits 23:8 of the high dword: D, limit 19:16, P DPL S type.
    expect(cpu.regs[EDX]).toBe(0x41_9200);
    expect(getFlags(cpu.st) & FLAG_ZF).toBe(FLAG_ZF);
  });

  it("lar of a 32-bit call gate fails (not an IA-32e type)", () => {
    const code = [0x66, 0xb9, ...w(SEL), 0x0f, 0x02, 0xd1, HLT];
    const cpu = runClean(code, (c) => {
      write32(c, PM.GDT + SEL, 0);
      write32(c, PM.GDT + SEL + 4, 0x8400); // 16-bit call gate, present
    });
    expect(getFlags(cpu.st) & FLAG_ZF).toBe(0);
  });
});
