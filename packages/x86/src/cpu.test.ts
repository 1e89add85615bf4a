import { describe, expect, it } from "vitest";
import { EXIT_BUDGET, EXIT_HLT, EXIT_SHUTDOWN, X86Cpu } from "./cpu.js";
import { PhysMemory } from "./memory.js";
import { CS, EAX, EBX, ECX } from "./regs.js";
import { EIP } from "./state.js";

/** A real-mode CPU with 1 MiB of RAM and `code` at 0000:0100, stack at 0000:8000. */
function realMode(code: number[]): X86Cpu {
  const mem = new PhysMemory();
  mem.addRam(0, new Uint8Array(1 << 20));
  const cpu = new X86Cpu(mem);
  mem.load(0x100, code);
  cpu.segSel[CS] = 0;
  cpu.segBase[CS] = 0;
  cpu.st[EIP] = 0x100;
  cpu.regs[4] = 0x8000;
  return cpu;
}

describe("run loop", () => {
  it("mov ax,5; add ax,7; hlt", () => {
    const cpu = realMode([0xb8, 0x05, 0x00, 0x05, 0x07, 0x00, 0xf4]);
    expect(cpu.run(100)).toBe(EXIT_HLT);
    expect(cpu.regs[EAX]).toBe(12);
    expect(cpu.st[EIP]).toBe(0x107);
    expect(cpu.instructionCount).toBe(3);
  });

  it("a counted loop: mov cx,10; xor bx,bx; l: add bx,cx; loop l; hlt", () => {
    const cpu = realMode([0xb9, 0x0a, 0x00, 0x31, 0xdb, 0x01, 0xcb, 0xe2, 0xfc, 0xf4]);
    expect(cpu.run(1000)).toBe(EXIT_HLT);
    expect(cpu.regs[EBX]).toBe(55);
    expect(cpu.regs[ECX]).toBe(0);
    expect(cpu.instructionCount).toBe(2 + 20 + 1);
  });

  it("stops after exactly the budget, resumable", () => {
    const cpu = realMode([0xeb, 0xfe]); // jmp $
    expect(cpu.run(5)).toBe(EXIT_BUDGET);
    expect(cpu.instructionCount).toBe(5);
    expect(cpu.run(7)).toBe(EXIT_BUDGET);
    expect(cpu.instructionCount).toBe(12);
  });

  it("self-modifying code: a store into the next instruction takes effect", () => {
    // mov byte [0x106], 0x40 (inc ax) ; then at 0x105: nop ; 0x106: hlt -> inc ax ; hlt
    const cpu = realMode([0xc6, 0x06, 0x06, 0x01, 0x40, 0x90, 0xf4, 0xf4]);
    expect(cpu.run(100)).toBe(EXIT_HLT);
    expect(cpu.regs[EAX]).toBe(1);
  });

  it("an undefined opcode raises #UD through the IVT; a broken IVT triple-faults", () => {
    const cpu = realMode([0x0f, 0xff]);
    // IVT[6] = 0000:0200 where a HLT waits.
    cpu.mem.load(6 * 4, [0x00, 0x02, 0x00, 0x00]);
    cpu.mem.load(0x200, [0xf4]);
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(cpu.st[EIP]).toBe(0x201);
    const bad = realMode([0x0f, 0xff]);
    bad.regs[4] = 1; // SP = 1: pushing FLAGS wraps into a #SS, then #DF, then shutdown
    bad.segLimit[2] = 0;
    expect(bad.run(10)).toBe(EXIT_SHUTDOWN);
  });
});
