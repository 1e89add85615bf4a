import { describe, expect, it } from "vitest";
import { exceptionVector, protectedMode, realMode, write16 } from "../../test/helpers.js";
import { EXIT_HLT } from "../cpu.js";
import { EAX, FLAG_AF, FLAG_CF, FLAG_DF, FLAG_IF, FLAG_SF, FLAG_ZF } from "../regs.js";
import { EIP, FLAGS, HALTED } from "../state.js";

const HLT = 0xf4;

describe("CLC STC CMC CLD STD", () => {
  it("stc; cmc; cmc", () => {
    const cpu = realMode([0xf9, 0xf5, 0xf5, HLT]);
    cpu.run(10);
    expect(cpu.getEflags() & FLAG_CF).toBe(FLAG_CF);
  });

  it("stc; clc after an add keeps the other flags (add al,0xff with al=1; clc)", () => {
    const cpu = realMode([0x04, 0xff, 0xf8, HLT]);
    cpu.regs[EAX] = 1;
    cpu.run(10);
    const f = cpu.getEflags();
    expect(f & FLAG_CF).toBe(0);
    expect(f & FLAG_ZF).toBe(FLAG_ZF);
    expect(f & FLAG_AF).toBe(FLAG_AF);
  });

  it("std; cld", () => {
    const cpu = realMode([0xfd, HLT, 0xfc, HLT]);
    cpu.run(10);
    expect(cpu.getEflags() & FLAG_DF).toBe(FLAG_DF);
    cpu.st[HALTED] = 0;
    cpu.run(10);
    expect(cpu.getEflags() & FLAG_DF).toBe(0);
  });
});

describe("LAHF / SAHF", () => {
  it("sahf with ah=0xd5 then lahf", () => {
    const cpu = realMode([0x9e, 0xb4, 0x00, 0x9f, HLT]);
    cpu.regs[EAX] = 0xff00;
    cpu.run(10);
    expect(cpu.getEflags() & 0xff).toBe(0xd7);
    expect(cpu.regs[EAX]! >> 8).toBe(0xd7);
  });

  it("sahf does not touch OF", () => {
    const cpu = realMode([0x9e, HLT]);
    cpu.setEflags(0x0802);
    cpu.regs[EAX] = 0x8000;
    cpu.run(10);
    expect(cpu.getEflags() & 0x08ff).toBe(0x0800 | FLAG_SF | 2);
  });
});

describe("CLI / STI", () => {
  it("sti delays an interrupt until after the next instruction (sti; inc ax; hlt)", () => {
    const cpu = realMode([0xfb, 0x40, HLT, HLT]);
    write16(cpu, 0x20 * 4, 0x0200);
    cpu.mem.load(0x200, [0x43, HLT]); // inc bx; hlt
    cpu.raiseIrq(0x20);
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(cpu.regs[EAX]).toBe(1); // inc ax ran first
    expect(cpu.regs[3]).toBe(1); // then the handler
    expect(cpu.st[EIP]).toBe(0x202);
    expect(cpu.mem.read8(0x8000 - 6)).toBe(0x02); // return IP 0x102
  });

  it("cli; sti when IF was already 1 sets no shadow", () => {
    const cpu = realMode([0xfb, HLT]);
    cpu.st[FLAGS] = cpu.st[FLAGS]! | FLAG_IF;
    cpu.run(10);
    expect(cpu.getEflags() & FLAG_IF).toBe(FLAG_IF);
  });

  it("cli at cpl 3 with iopl 0 raises #GP", () => {
    const cpu = protectedMode([0xfa, HLT], { ring: 3 });
    cpu.run(10);
    expect(exceptionVector(cpu)).toBe(13);
  });

  it("sti at cpl 3 with iopl 3 sets IF", () => {
    const cpu = protectedMode([0xfb, 0xeb, 0xfe], { ring: 3 });
    cpu.st[FLAGS] = cpu.st[FLAGS]! | 0x3000;
    cpu.run(5);
    expect(cpu.getEflags() & FLAG_IF).toBe(FLAG_IF);
  });
});
