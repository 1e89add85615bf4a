import { describe, expect, it } from "vitest";
import {
  exceptionVector,
  protectedMode,
  read16,
  read32,
  realMode,
  write16,
} from "../../test/helpers.js";
import { recomputeSegment } from "../access.js";
import { EXIT_HLT, EXIT_HOOK } from "../cpu.js";
import { EV_EXCEPTION, HOOK_EXIT, HOOK_PASS } from "../hooks.js";
import { EAX, EBP, ECX, ESP, FLAG_IF, FLAG_IOPL, SS } from "../regs.js";
import { EIP } from "../state.js";

const HLT = 0xf4;

describe("PUSH / POP", () => {
  it("push sp pushes the old sp", () => {
    const cpu = realMode([0x54, HLT]);
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(cpu.regs[ESP]).toBe(0x7ffe);
    expect(read16(cpu, 0x7ffe)).toBe(0x8000);
  });

  it("pop sp loads the popped value", () => {
    const cpu = realMode([0x5c, HLT]);
    write16(cpu, 0x8000, 0x1234);
    cpu.run(10);
    expect(cpu.regs[ESP]).toBe(0x1234);
  });

  it("push 0x80 sign-extends (6a 80)", () => {
    const cpu = realMode([0x6a, 0x80, HLT]);
    cpu.run(10);
    expect(read16(cpu, 0x7ffe)).toBe(0xff80);
  });

  it("push dword -2 in 16-bit code (66 6a fe)", () => {
    const cpu = realMode([0x66, 0x6a, 0xfe, HLT]);
    cpu.run(10);
    expect(cpu.regs[ESP]).toBe(0x7ffc);
    expect(read32(cpu, 0x7ffc)).toBe(0xffff_fffe);
  });

  it("push word [0x600]; pop word [0x602]", () => {
    const cpu = realMode([0xff, 0x36, 0x00, 0x06, 0x8f, 0x06, 0x02, 0x06, HLT]);
    write16(cpu, 0x600, 0xbeef);
    cpu.run(10);
    expect(read16(cpu, 0x602)).toBe(0xbeef);
    expect(cpu.regs[ESP]).toBe(0x8000);
  });

  it("pop word [esp] addresses with the incremented esp (67 8f 04 24)", () => {
    const cpu = realMode([0x67, 0x8f, 0x04, 0x24, HLT]);
    write16(cpu, 0x8000, 0x1234);
    cpu.run(10);
    expect(cpu.regs[ESP]).toBe(0x8002);
    expect(read16(cpu, 0x8002)).toBe(0x1234);
  });

  it("push ax that faults (#SS) leaves sp unchanged", () => {
    const cpu = realMode([0x50, HLT], { sp: 0x8001 });
    cpu.segLimit[SS] = 0x7fff;
    const seen: number[] = [];
    cpu.hooks = {
      onEvent: (c, kind) => {
        if (kind !== EV_EXCEPTION) return HOOK_PASS;
        seen.push(c.exitInfo[1]!);
        return HOOK_EXIT;
      },
    };
    recomputeSegment(cpu, SS);
    expect(cpu.run(10)).toBe(EXIT_HOOK);
    expect(seen).toEqual([12]);
    expect(cpu.regs[ESP]).toBe(0x8001);
    expect(cpu.st[EIP]).toBe(0x100);
  });

  it("pop word [bx] that faults leaves sp unchanged (8f 07, bx=0xffff)", () => {
    const cpu = realMode([0x8f, 0x07, HLT]);
    cpu.regs[3] = 0xffff;
    cpu.hooks = { onEvent: (_c, kind) => (kind === EV_EXCEPTION ? HOOK_EXIT : HOOK_PASS) };
    expect(cpu.run(10)).toBe(EXIT_HOOK);
    expect(cpu.exitInfo[1]).toBe(13);
    expect(cpu.regs[ESP]).toBe(0x8000);
  });
});

describe("PUSHA / POPA", () => {
  it("pusha; popa restores every register but sp", () => {
    // pusha; mov word [0x7ff6],0x5555 (the saved SP slot); popa
    const cpu = realMode([0x60, 0xc7, 0x06, 0xf6, 0x7f, 0x55, 0x55, 0x61, HLT]);
    for (let r = 0; r < 8; r++) if (r !== ESP) cpu.regs[r] = 0x1000 + r;
    cpu.run(10);
    expect(read16(cpu, 0x7ffe)).toBe(0x1000); // AX at the top
    expect(read16(cpu, 0x7ff0)).toBe(0x1007); // DI at the bottom
    for (let r = 0; r < 8; r++) if (r !== ESP) expect(cpu.regs[r]).toBe(0x1000 + r);
    expect(cpu.regs[ESP]).toBe(0x8000);
  });

  it("pushad (66 60) pushes eight dwords", () => {
    const cpu = realMode([0x66, 0x60, HLT]);
    cpu.regs[EAX] = 0x1122_3344;
    cpu.run(10);
    expect(cpu.regs[ESP]).toBe(0x8000 - 32);
    expect(read32(cpu, 0x7ffc)).toBe(0x1122_3344);
    expect(read32(cpu, 0x7fec)).toBe(0x8000); // the original ESP
  });
});

describe("PUSHF / POPF", () => {
  it("popf in real mode can set IOPL", () => {
    // push 0x3000; popf
    const cpu = realMode([0x68, 0x00, 0x30, 0x9d, HLT]);
    cpu.run(10);
    expect(cpu.getEflags() & FLAG_IOPL).toBe(FLAG_IOPL);
  });

  it("pushf pushes the folded arithmetic flags (stc; pushf)", () => {
    const cpu = realMode([0xf9, 0x9c, HLT]);
    cpu.run(10);
    expect(read16(cpu, 0x7ffe) & 0x0003).toBe(0x0003);
  });

  it("popfd at cpl 3 changes neither IOPL nor IF", () => {
    // push 0x3201; popfd; hlt (HLT at CPL 3 → #GP stub)
    const cpu = protectedMode([0x68, 0x01, 0x32, 0x00, 0x00, 0x9d, HLT], { ring: 3 });
    cpu.run(10);
    const f = cpu.getEflags();
    expect(f & 1).toBe(1);
    expect(f & (FLAG_IOPL | FLAG_IF)).toBe(0);
    expect(exceptionVector(cpu)).toBe(13);
  });

  it("popfd at cpl 0 sets IOPL and IF and clears RF", () => {
    const cpu = protectedMode([0x68, 0x00, 0x32, 0x01, 0x00, 0x9d, HLT]);
    cpu.run(10);
    const f = cpu.getEflags();
    expect(f & (FLAG_IOPL | FLAG_IF)).toBe(FLAG_IOPL | FLAG_IF);
    expect(f & 0x1_0000).toBe(0);
  });
});

describe("ENTER / LEAVE", () => {
  it("enter 8,0; leave", () => {
    const cpu = realMode([0xc8, 0x08, 0x00, 0x00, 0xc9, HLT]);
    cpu.regs[EBP] = 0x4444;
    cpu.run(1);
    expect(cpu.regs[EBP]).toBe(0x7ffe);
    expect(cpu.regs[ESP]).toBe(0x7ffe - 8);
    cpu.run(10);
    expect(cpu.regs[EBP]).toBe(0x4444);
    expect(cpu.regs[ESP]).toBe(0x8000);
  });

  it("enter 4,2 copies one outer frame pointer", () => {
    const cpu = realMode([0xc8, 0x04, 0x00, 0x02, HLT]);
    cpu.regs[EBP] = 0x9000;
    write16(cpu, 0x9000 - 2, 0xabcd);
    cpu.run(10);
    expect(read16(cpu, 0x7ffe)).toBe(0x9000); // old BP
    expect(read16(cpu, 0x7ffc)).toBe(0xabcd); // [BP-2]
    expect(read16(cpu, 0x7ffa)).toBe(0x7ffe); // the new frame
    expect(cpu.regs[EBP]).toBe(0x7ffe);
    expect(cpu.regs[ESP]).toBe(0x7ffa - 4);
  });

  it("enter with nesting level 33 uses 33 mod 32 = 1", () => {
    const cpu = realMode([0xc8, 0x00, 0x00, 0x21, HLT]);
    cpu.run(10);
    expect(read16(cpu, 0x7ffc)).toBe(0x7ffe);
    expect(cpu.regs[ESP]).toBe(0x7ffc);
  });

  it("leave with a 16-bit operand keeps ecx untouched", () => {
    const cpu = realMode([0xc9, HLT]);
    cpu.regs[EBP] = 0x7000;
    cpu.regs[ECX] = 7;
    write16(cpu, 0x7000, 0x1234);
    cpu.run(10);
    expect(cpu.regs[ESP]).toBe(0x7002);
    expect(cpu.regs[EBP]).toBe(0x1234);
    expect(cpu.regs[ECX]).toBe(7);
  });
});
