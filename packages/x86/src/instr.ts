/**
 * The flag bits of a decoded instruction (`dc.flags[i]`; Bochs instr.h). This module holds
 * constants only and imports nothing, so the bundler folds them into their uses (see
 * tsup.config.ts).
 */

/** Prefix and form bits in `flags`. */
export const F_REP = 1 << 0;
export const F_REPNE = 1 << 1;
export const F_LOCK = 1 << 2;
/** 32-bit address size. */
export const F_A32 = 1 << 3;
/** 32-bit operand size. */
export const F_O32 = 1 << 4;
/** A memory operand (ModRM.mod != 3, or moffs). */
export const F_MEM = 1 << 5;
/** A segment override prefix was present. */
export const F_SEGOVR = 1 << 6;
/** An operand-size prefix (66) was present. */
export const F_P66 = 1 << 7;
/** The block ends after this instruction (control transfer, mode change, fault). */
export const F_END = 1 << 8;
/** 64-bit operand size (64-bit mode: REX.W, or an instruction whose size is 64). */
export const F_O64 = 1 << 9;
/** 64-bit address size (64-bit mode without 67). */
export const F_A64 = 1 << 10;
/** RIP-relative memory operand (64-bit mode, ModRM.mod = 0, rm = 101): disp + next RIP. */
export const F_RIPREL = 1 << 11;
/** A REX prefix was present (64-bit mode). */
export const F_REX = 1 << 12;
