/**
 * 64-bit mode decoding (SDM Vol. 2 §2.2): what the decoder writes into the slot for REX
 * prefixes, RIP-relative operands, 64-bit immediates and offsets, and the operand sizes
 * of d64/f64 rows. Lengths and validity are cross-checked against iced-x86 in
 * test/decoder-iced.test.ts; this checks the operands.
 */
import { describe, expect, it } from "vitest";
import { decodeInsn, type FetchSource } from "./fetchdecode.js";
import { HANDLER_UD } from "./handlers.js";
import { DecodeCache } from "./icache.js";
import { F_A32, F_A64, F_O32, F_O64, F_REX, F_RIPREL } from "./instr.js";
import { REG_ZERO } from "./regs.js";

class Bytes implements FetchSource {
  constructor(private readonly b: readonly number[]) {}
  fetch(offset: number): number {
    return this.b[offset] ?? -13;
  }
}

function decode(bytes: readonly number[]) {
  const dc = new DecodeCache();
  const len = decodeInsn(dc, 0, new Bytes(bytes), 64);
  return {
    len,
    reg: dc.reg[0],
    rm: dc.rm[0],
    base: dc.base[0],
    index: dc.index[0],
    scale: dc.scale[0],
    disp: dc.disp[0],
    imm: dc.imm[0],
    imm2: dc.imm2[0],
    flags: dc.flags[0]!,
    ud: dc.op[0] === HANDLER_UD,
    seg: dc.seg[0],
  };
}

describe("64-bit mode decoding", () => {
  it("add r9, r10 (4d 01 d1): REX.W is 64-bit, REX.R and REX.B extend reg and rm", () => {
    const d = decode([0x4d, 0x01, 0xd1]);
    expect(d.len).toBe(3);
    expect([d.reg, d.rm]).toEqual([10, 9]);
    expect(d.flags & (F_O64 | F_REX)).toBe(F_O64 | F_REX);
  });

  it("mov eax, [r12 + r13*4 + 8] (43 8b 44 ac 08): REX.X and REX.B reach index and base", () => {
    const d = decode([0x43, 0x8b, 0x44, 0xac, 0x08]);
    expect([d.base, d.index, d.scale, d.disp]).toEqual([12, 13, 2, 8]);
    expect(d.flags & (F_O32 | F_O64 | F_A64)).toBe(F_O32 | F_A64);
  });

  it("mov rax, [rip + 0x10] (48 8b 05 10 00 00 00) is RIP-relative with no base", () => {
    const d = decode([0x48, 0x8b, 0x05, 0x10, 0, 0, 0]);
    expect(d.len).toBe(7);
    expect(d.flags & F_RIPREL).toBe(F_RIPREL);
    expect([d.base, d.index, d.disp]).toEqual([REG_ZERO, REG_ZERO, 0x10]);
  });

  it("mov spl, 1 (40 b4 01) is SPL with a REX, mov ah, 1 (b4 01) is AH without", () => {
    // REG8 indices: 16 = SPL, 4 = AH.
    expect(decode([0x40, 0xb4, 0x01]).rm).toBe(16);
    expect(decode([0xb4, 0x01]).rm).toBe(4);
    expect(decode([0x41, 0xb4, 0x01]).rm).toBe(12); // R12B
  });

  it("mov r11, imm64 (49 bb ...) takes 8 immediate bytes, low half in imm, high in imm2", () => {
    const d = decode([0x49, 0xbb, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(d.len).toBe(10);
    expect(d.rm).toBe(11);
    expect([d.imm! >>> 0, d.imm2! >>> 0]).toEqual([0x0403_0201, 0x0807_0605]);
  });

  it("mov al, [moffs64] (a0 + 8 bytes); with 67 the offset is 4 bytes", () => {
    const d = decode([0xa0, 1, 0, 0, 0, 2, 0, 0, 0]);
    expect(d.len).toBe(9);
    expect([d.disp, d.imm2]).toEqual([1, 2]);
    const a32 = decode([0x67, 0xa0, 1, 0, 0, 0]);
    expect(a32.len).toBe(6);
    expect(a32.flags & (F_A32 | F_A64)).toBe(F_A32);
  });

  it("push r8 (41 50) and push imm32 (68) default to 64 bits; 66 makes push 16-bit", () => {
    const d = decode([0x41, 0x50]);
    expect(d.rm).toBe(8);
    expect(d.flags & F_O64).toBe(F_O64);
    expect(decode([0x68, 1, 2, 3, 4]).flags & F_O64).toBe(F_O64);
    const p16 = decode([0x66, 0x68, 1, 2]);
    expect(p16.len).toBe(4);
    expect(p16.flags & (F_O32 | F_O64)).toBe(0);
  });

  it("jmp rel32 with 66 (66 e9 ...) still has a 4-byte offset (f64)", () => {
    const d = decode([0x66, 0xe9, 1, 0, 0, 0]);
    expect(d.len).toBe(6);
    expect(d.flags & F_O64).toBe(F_O64);
  });

  it("xchg r8, rax (49 90) is not NOP; i64 rows (06, 27, 60, ce, ea) are #UD", () => {
    const d = decode([0x49, 0x90]);
    expect([d.rm, d.reg]).toEqual([8, 0]);
    for (const op of [0x06, 0x27, 0x60, 0xce, 0xea])
      expect(decode([op, 0, 0, 0, 0, 0, 0]).ud).toBe(true);
  });

  it("a REX before a legacy prefix is ignored (48 66 01 c0: add ax, ax)", () => {
    const d = decode([0x48, 0x66, 0x01, 0xc0]);
    expect(d.flags & (F_REX | F_O64 | F_O32)).toBe(0);
  });

  it("movsxd rax, ecx (48 63 c1) and a DS override ignored, FS kept", () => {
    const d = decode([0x48, 0x63, 0xc1]);
    expect([d.len, d.reg, d.rm]).toEqual([3, 0, 1]);
    expect(decode([0x3e, 0x8b, 0x00]).seg).toBe(3); // default DS, the override ignored
    expect(decode([0x2e, 0x8b, 0x04, 0x24]).seg).toBe(2); // [rsp]: SS, CS ignored
    expect(decode([0x64, 0x8b, 0x00]).seg).toBe(4); // FS
  });
});
