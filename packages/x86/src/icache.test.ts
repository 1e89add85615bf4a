/**
 * Decoded blocks are found by EIP first (the front cache) and by physical address
 * second. Each test runs the same EIP under two different fetch states and checks that
 * the second run decodes what is really there.
 */
import { describe, expect, it } from "vitest";
import {
  ACC,
  loadSegmentDirect,
  PM,
  protectedMode,
  realMode,
  writeDescriptor,
} from "../test/helpers.js";
import { recomputeSegment } from "./access.js";
import { EXIT_HLT, type X86Cpu } from "./cpu.js";
import { AR_DB, CS, EAX, EBX, GP_VECTOR } from "./regs.js";
import { EIP, HALTED } from "./state.js";

/** Wake from the last HLT and run from `eip` until the next. */
function rerun(cpu: X86Cpu, eip: number): void {
  cpu.st[HALTED] = 0;
  cpu.st[EIP] = eip;
  expect(cpu.run(10)).toBe(EXIT_HLT);
}

describe("blocks found by EIP", () => {
  it("jmp far between two segments at the same offset runs each segment's code", () => {
    // 0000:0100: inc ax; jmp 0010:0100      (phys 0x100)
    // 0010:0100: inc bx; cmp bx,3; je 0x10b; jmp 0000:0100; hlt   (phys 0x200)
    const cpu = realMode([0x40, 0xea, 0x00, 0x01, 0x10, 0x00]);
    cpu.mem.load(0x200, [0x43, 0x83, 0xfb, 0x03, 0x74, 0x05, 0xea, 0x00, 0x01, 0x00, 0x00, 0xf4]);
    expect(cpu.run(100)).toBe(EXIT_HLT);
    expect(cpu.regs[EAX]).toBe(3);
    expect(cpu.regs[EBX]).toBe(3);
    expect(cpu.segBase[CS]).toBe(0x100);
  });

  it("turning A20 off makes FFFF:0110 run the code at 0x100 instead of 0x100100", () => {
    const cpu = realMode([0xb8, 0x01, 0x00, 0xf4], { ramSize: 2 << 20 }); // mov ax,1; hlt
    cpu.mem.load(0x10_0100, [0xb8, 0x02, 0x00, 0xf4]); // mov ax,2; hlt
    const fromFfff = () => {
      cpu.segSel[CS] = 0xffff;
      cpu.segBase[CS] = 0xffff0;
      recomputeSegment(cpu, CS);
      rerun(cpu, 0x110);
      return cpu.regs[EAX];
    };
    expect(fromFfff()).toBe(2);
    cpu.setA20(false);
    expect(fromFfff()).toBe(1);
    cpu.setA20(true);
    expect(fromFfff()).toBe(2);
  });

  it("other RAM mapped at the code's address runs its own code", () => {
    const cpu = realMode([0xb8, 0x01, 0x00, 0xf4]); // mov ax,1; hlt
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(cpu.regs[EAX]).toBe(1);
    const other = new Uint8Array(1 << 20);
    other.set([0xb8, 0x02, 0x00, 0xf4], 0x100); // mov ax,2; hlt
    cpu.mem.removeRam(0);
    cpu.mem.addRam(0, other);
    rerun(cpu, 0x100);
    expect(cpu.regs[EAX]).toBe(2);
  });

  it("a smaller CS limit cuts a block decoded under the flat one: #GP(0)", () => {
    // nop; nop; nop; hlt at PM.CODE, run once under the flat ring-0 code segment.
    const cpu = protectedMode([0x90, 0x90, 0x90, 0xf4]);
    expect(cpu.run(10)).toBe(EXIT_HLT);
    // A code segment with base 0 whose last byte is PM.CODE + 1.
    writeDescriptor(cpu, PM.FREE, 0, PM.CODE + 1, ACC.CODE0);
    loadSegmentDirect(cpu, CS, PM.FREE);
    rerun(cpu, PM.CODE);
    // Two NOPs ran; the third is beyond the limit. The #GP stub's HLT halted.
    expect(cpu.st[EIP]).toBe(PM.STUBS + 16 * GP_VECTOR + 1);
  });

  it("flipping CS.D between runs decodes the same bytes with the other operand size", () => {
    // 66 b8 02 00 f4 90 f4: 32-bit code: mov ax,2; hlt.  16-bit: mov eax,0x90f40002; hlt.
    const cpu = protectedMode([0x66, 0xb8, 0x02, 0x00, 0xf4, 0x90, 0xf4]);
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(cpu.st[EIP]).toBe(PM.CODE + 5);
    cpu.segAr[CS] = cpu.segAr[CS]! & ~AR_DB; // as an embedder would, without recompute
    rerun(cpu, PM.CODE);
    expect(cpu.regs[EAX]! >>> 0).toBe(0x90f4_0002);
    expect(cpu.st[EIP]).toBe(PM.CODE + 7);
  });
});
