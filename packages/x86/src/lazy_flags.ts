/**
 * Lazy arithmetic flags (Bochs lazy_flags.cc, QEMU's cc_op). An instruction that sets
 * flags stores its operation, size, operands and result; CF/PF/AF/ZF/SF/OF are computed
 * only when something reads them. `st[LF_OP] === LF_NONE` means EFLAGS holds them all.
 */
import {
  FLAG_AF,
  FLAG_CF,
  FLAG_FIXED1,
  FLAG_OF,
  FLAG_PF,
  FLAG_SF,
  FLAG_ZF,
  FLAGS_ARITH,
} from "./regs.js";
import {
  FLAGS,
  LF_ADC,
  LF_ADD,
  LF_CARRY,
  LF_DEC,
  LF_DST,
  LF_INC,
  LF_LOGIC,
  LF_NONE,
  LF_OP,
  LF_RES,
  LF_RESULT,
  LF_SBB,
  LF_SIZE,
  LF_SRC,
  LF_SUB,
} from "./state.js";

/** PARITY[b] is FLAG_PF when b has an even number of set bits. */
export const PARITY = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  let n = 0;
  for (let x = b; x; x >>= 1) n += x & 1;
  PARITY[b] = n & 1 ? 0 : FLAG_PF;
}

function mask(size: number): number {
  return size === 32 ? -1 : (1 << size) - 1;
}

/** CF as 0 or 1. */
export function getCF(st: Int32Array): number {
  const op = st[LF_OP]!;
  if (op === LF_NONE) return st[FLAGS]! & FLAG_CF;
  const m = mask(st[LF_SIZE]!);
  const d = (st[LF_DST]! & m) >>> 0;
  switch (op) {
    case LF_ADD:
      return (st[LF_RES]! & m) >>> 0 < d ? 1 : 0;
    case LF_ADC:
      return st[LF_CARRY]!
        ? (st[LF_RES]! & m) >>> 0 <= d
          ? 1
          : 0
        : (st[LF_RES]! & m) >>> 0 < d
          ? 1
          : 0;
    case LF_SUB:
      return d < (st[LF_SRC]! & m) >>> 0 ? 1 : 0;
    case LF_SBB:
      return st[LF_CARRY]!
        ? d <= (st[LF_SRC]! & m) >>> 0
          ? 1
          : 0
        : d < (st[LF_SRC]! & m) >>> 0
          ? 1
          : 0;
    case LF_LOGIC:
      return 0;
    case LF_INC:
    case LF_DEC:
      return st[LF_CARRY]! & 1;
    default:
      return st[LF_CARRY]! & FLAG_CF;
  }
}

/** ZF as 0 or 1. */
export function getZF(st: Int32Array): number {
  if (st[LF_OP] === LF_NONE) return (st[FLAGS]! >> 6) & 1;
  return (st[LF_RES]! & mask(st[LF_SIZE]!)) === 0 ? 1 : 0;
}

/** SF as 0 or 1. */
export function getSF(st: Int32Array): number {
  if (st[LF_OP] === LF_NONE) return (st[FLAGS]! >> 7) & 1;
  return (st[LF_RES]! >>> (st[LF_SIZE]! - 1)) & 1;
}

/** PF as 0 or 1. */
export function getPF(st: Int32Array): number {
  if (st[LF_OP] === LF_NONE) return (st[FLAGS]! >> 2) & 1;
  return PARITY[st[LF_RES]! & 0xff]! >> 2;
}

/** AF as 0 or 1. */
export function getAF(st: Int32Array): number {
  switch (st[LF_OP]) {
    case LF_NONE:
      return (st[FLAGS]! >> 4) & 1;
    case LF_LOGIC:
      return 0;
    case LF_RESULT:
      return (st[LF_CARRY]! >> 4) & 1;
    case LF_INC:
    case LF_DEC:
      return ((st[LF_DST]! ^ 1 ^ st[LF_RES]!) >> 4) & 1;
    default:
      return ((st[LF_DST]! ^ st[LF_SRC]! ^ st[LF_RES]!) >> 4) & 1;
  }
}

/** OF as 0 or 1. */
export function getOF(st: Int32Array): number {
  const op = st[LF_OP]!;
  const top = st[LF_SIZE]! - 1;
  const d = st[LF_DST]!;
  const r = st[LF_RES]!;
  switch (op) {
    case LF_NONE:
      return (st[FLAGS]! >> 11) & 1;
    case LF_ADD:
    case LF_ADC:
      return (((d ^ r) & (st[LF_SRC]! ^ r)) >>> top) & 1;
    case LF_SUB:
    case LF_SBB:
      return (((d ^ st[LF_SRC]!) & (d ^ r)) >>> top) & 1;
    case LF_INC:
      return (((d ^ r) & (1 ^ r)) >>> top) & 1;
    case LF_DEC:
      return (((d ^ 1) & (d ^ r)) >>> top) & 1;
    case LF_LOGIC:
      return 0;
    default:
      return (st[LF_CARRY]! >> 11) & 1;
  }
}

/** The full EFLAGS value. */
export function getFlags(st: Int32Array): number {
  if (st[LF_OP] === LF_NONE) return st[FLAGS]!;
  return (
    (st[FLAGS]! & ~FLAGS_ARITH) |
    FLAG_FIXED1 |
    getCF(st) |
    (getPF(st) << 2) |
    (getAF(st) << 4) |
    (getZF(st) << 6) |
    (getSF(st) << 7) |
    (getOF(st) << 11)
  );
}

/** Write EFLAGS (already filtered for what the instruction may change); ends lazy mode. */
export function setFlags(st: Int32Array, value: number): void {
  st[FLAGS] = value | FLAG_FIXED1;
  st[LF_OP] = LF_NONE;
}

/** Replace the arithmetic flags selected by `which` with the bits of `value`. */
export function setArithFlags(st: Int32Array, which: number, value: number): void {
  st[FLAGS] = (getFlags(st) & ~which) | (value & which);
  st[LF_OP] = LF_NONE;
}

/** Record a flag-setting result: the common case, inlined by V8 into handlers. */
export function lazy(
  st: Int32Array,
  op: number,
  size: number,
  dst: number,
  src: number,
  res: number,
): void {
  st[LF_OP] = op;
  st[LF_SIZE] = size;
  st[LF_DST] = dst;
  st[LF_SRC] = src;
  st[LF_RES] = res;
}

/** Condition code `cc` (the low nibble of Jcc/SETcc/CMOVcc), SDM Vol. 1 Table B-1. */
export function testCC(st: Int32Array, cc: number): boolean {
  let t: number;
  switch (cc >> 1) {
    case 0:
      t = getOF(st);
      break;
    case 1:
      t = getCF(st);
      break;
    case 2:
      t = getZF(st);
      break;
    case 3:
      t = getCF(st) | getZF(st);
      break;
    case 4:
      t = getSF(st);
      break;
    case 5:
      t = getPF(st);
      break;
    case 6:
      t = getSF(st) ^ getOF(st);
      break;
    default:
      t = (getSF(st) ^ getOF(st)) | getZF(st);
      break;
  }
  return (t ^ (cc & 1)) !== 0;
}

export { FLAG_AF, FLAG_CF, FLAG_OF, FLAG_PF, FLAG_SF, FLAG_ZF };

// Conditions with fast paths for the flags CMP/SUB and TEST/AND/OR/XOR leave behind, the
// usual producers before a Jcc. Each falls back to the general computation.

/** B/C: CF. */
export function condB(st: Int32Array): boolean {
  if (st[LF_OP] === LF_SUB) {
    const m = mask(st[LF_SIZE]!);
    return (st[LF_DST]! & m) >>> 0 < (st[LF_SRC]! & m) >>> 0;
  }
  return getCF(st) !== 0;
}

/** Z/E: ZF. */
export function condZ(st: Int32Array): boolean {
  return getZF(st) !== 0;
}

/** BE: CF or ZF. */
export function condBE(st: Int32Array): boolean {
  if (st[LF_OP] === LF_SUB) {
    const m = mask(st[LF_SIZE]!);
    return (st[LF_DST]! & m) >>> 0 <= (st[LF_SRC]! & m) >>> 0;
  }
  return (getCF(st) | getZF(st)) !== 0;
}

/** L: SF != OF. */
export function condL(st: Int32Array): boolean {
  const op = st[LF_OP];
  if (op === LF_SUB) {
    const sh = 32 - st[LF_SIZE]!;
    return st[LF_DST]! << sh < st[LF_SRC]! << sh;
  }
  if (op === LF_LOGIC) return getSF(st) !== 0;
  return (getSF(st) ^ getOF(st)) !== 0;
}

/** LE: ZF or SF != OF. */
export function condLE(st: Int32Array): boolean {
  const op = st[LF_OP];
  if (op === LF_SUB) {
    const sh = 32 - st[LF_SIZE]!;
    return st[LF_DST]! << sh <= st[LF_SRC]! << sh;
  }
  if (op === LF_LOGIC) return (getSF(st) | getZF(st)) !== 0;
  return ((getSF(st) ^ getOF(st)) | getZF(st)) !== 0;
}

/** S: SF. */
export function condS(st: Int32Array): boolean {
  return getSF(st) !== 0;
}

/** O: OF. */
export function condO(st: Int32Array): boolean {
  return getOF(st) !== 0;
}

/** P: PF. */
export function condP(st: Int32Array): boolean {
  return getPF(st) !== 0;
}
