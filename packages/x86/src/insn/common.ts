/**
 * Helpers every handler module shares. Handlers are specialised by operand size and by
 * ModRM form at decode time; these keep each one short.
 */
import type { X86Cpu } from "../cpu.js";
import { STOP, STOP_FAULT, STOP_JUMP } from "../state.js";

/**
 * Byte index in `cpu.r8` of 8-bit register n: 0–7 AL CL DL BL AH CH DH BH; in 64-bit
 * mode with a REX prefix also 8–15 R8B–R15B and 16–19 SPL BPL SIL DIL (the decoder maps
 * ModRM numbers 4–7 there).
 */
export const REG8 = new Int32Array([
  0, 4, 8, 12, 1, 5, 9, 13, 32, 36, 40, 44, 48, 52, 56, 60, 16, 20, 24, 28,
]);

/** True when the last memory access of this instruction faulted (or was claimed). */
export function faulted(cpu: X86Cpu): boolean {
  return cpu.st[STOP] === STOP_FAULT;
}

/** End the block after this instruction: it has set EIP itself. */
export function jumped(cpu: X86Cpu): void {
  cpu.st[STOP] = STOP_JUMP;
}

/** Mask for an operand size in bits. */
export function sizeMask(size: number): number {
  return size === 32 ? -1 : (1 << size) - 1;
}
