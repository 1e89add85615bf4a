/**
 * 64-bit mode's core integer instructions (SDM Vol. 1 §3.4.1.1, Vol. 2 per instruction):
 * the ALU group, INC/DEC/NEG/NOT, TEST, MOV (incl. MOV r64, imm64 and moffs64), LEA,
 * MOVZX/MOVSX/MOVSXD, CBW/CWDE/CDQE and CWD/CDQ/CQO, XCHG, near branches, Jcc, CALL/RET,
 * PUSH/POP and LEAVE, and the instructions that run unchanged.
 *
 * What differs from 16/32-bit code, and why these are separate handlers:
 * - a 32-bit result written to a register zero-extends into bits 63:32; 8- and 16-bit
 *   results leave the rest of the register alone;
 * - operands are 8, 16, 32 or 64 bits; a 64-bit register is (regs[n], regsHi[n]);
 * - addresses are 64-bit (access64.ts), the stack is 64-bit and RIP is (st[EIP],
 *   st[RIP_HI]); branch targets must be canonical (#GP(0)).
 *
 * 64-bit results keep their flags with LF_RESULT (CF, AF, OF computed here; ZF, SF and
 * PF from a 32-bit stand-in for the result: its low byte, bit 63 as bit 31, bit 8 set
 * when the result is nonzero), so the lazy-flag readers need no 64-bit path.
 */
import {
  addr64,
  canonical,
  ea64,
  read64,
  readQ,
  rmwRead64,
  rmwWrite64,
  write64,
  writeQ,
} from "../access64.js";
import type { X86Cpu } from "../cpu.js";
import { raiseFault } from "../exception.js";
import type { FormSplit, Handler, HandlerSpec, SizeSplit } from "../handlers.js";
import { F_A64, F_O32, F_O64 } from "../instr.js";
import { getCF, testCC } from "../lazy_flags.js";
import { EAX, EBP, EDX, ESP, FLAG_AF, FLAG_CF, FLAG_OF, GP_VECTOR, SS } from "../regs.js";
import {
  EA_HI,
  EIP,
  LF_ADC,
  LF_ADD,
  LF_CARRY,
  LF_DEC,
  LF_DST,
  LF_INC,
  LF_LOGIC,
  LF_OP,
  LF_RES,
  LF_RESULT,
  LF_SBB,
  LF_SIZE,
  LF_SRC,
  LF_SUB,
  RIP_HI,
  STOP,
  STOP_FAULT,
  VAL_HI,
} from "../state.js";
import { jumped, REG8 } from "./common.js";

const TWO32 = 4294967296;

/** Result of the last operation: low half, high half. */
export const RES = new Int32Array(2);

export function faulted(cpu: X86Cpu): boolean {
  return cpu.st[STOP] === STOP_FAULT;
}

// Registers ------------------------------------------------------------------------------

/** Read register n (ModRM numbering; REG8 index for bytes) at `size`; high half in VAL_HI. */
export function getReg(cpu: X86Cpu, n: number, size: number): number {
  if (size === 64) {
    cpu.st[VAL_HI] = cpu.regsHi[n]!;
    return cpu.regs[n]!;
  }
  cpu.st[VAL_HI] = 0;
  if (size === 32) return cpu.regs[n]!;
  if (size === 16) return cpu.r16[n << 1]!;
  return cpu.r8[REG8[n]!]!;
}

/** Write register n at `size`: a 32-bit write clears bits 63:32. */
export function setReg(cpu: X86Cpu, n: number, size: number, lo: number, hi: number): void {
  if (size === 64) {
    cpu.regs[n] = lo;
    cpu.regsHi[n] = hi;
  } else if (size === 32) {
    cpu.regs[n] = lo;
    cpu.regsHi[n] = 0;
  } else if (size === 16) {
    cpu.r16[n << 1] = lo;
  } else {
    cpu.r8[REG8[n]!] = lo;
  }
}

/** Operand size of slot i in 64-bit mode (v-sized rows). */
export function opSize(cpu: X86Cpu, i: number): number {
  const f = cpu.dc.flags[i]!;
  return (f & F_O64) !== 0 ? 64 : (f & F_O32) !== 0 ? 32 : 16;
}

function mask(size: number, v: number): number {
  return size === 8 ? v & 0xff : size === 16 ? v & 0xffff : v;
}

// Memory operands ------------------------------------------------------------------------

/** Read the E operand of slot i (size bytes); high half in VAL_HI. */
export function readE(cpu: X86Cpu, i: number, size: number, isMem: boolean): number {
  if (!isMem) return getReg(cpu, cpu.dc.rm[i]!, size);
  const lo = ea64(cpu, i);
  const hi = cpu.st[EA_HI]!;
  const seg = cpu.dc.seg[i]!;
  if (size === 64) return readQ(cpu, seg, lo, hi);
  cpu.st[VAL_HI] = 0;
  return read64(cpu, seg, lo, hi, size >> 3);
}

/** Write the E operand of slot i (a plain store, not read first). */
export function writeE(
  cpu: X86Cpu,
  i: number,
  size: number,
  isMem: boolean,
  v: number,
  vh: number,
): void {
  if (!isMem) {
    setReg(cpu, cpu.dc.rm[i]!, size, v, vh);
    return;
  }
  const lo = ea64(cpu, i);
  const hi = cpu.st[EA_HI]!;
  const seg = cpu.dc.seg[i]!;
  if (size === 64) writeQ(cpu, seg, lo, hi, v, vh);
  else write64(cpu, seg, lo, hi, size >> 3, v);
}

/** Read a memory E operand for read-modify-write; rmwWrite64 stores the result. */
export function rmwE(cpu: X86Cpu, i: number, size: number): number {
  const lo = ea64(cpu, i);
  const v = rmwRead64(cpu, cpu.dc.seg[i]!, lo, cpu.st[EA_HI]!, size >> 3);
  if (size !== 64) cpu.st[VAL_HI] = 0;
  return v;
}

// Flags of 64-bit results ----------------------------------------------------------------

/** Record flags of a 64-bit result lo/hi with CF, AF, OF given (0/1 each). */
export function flags64(
  cpu: X86Cpu,
  lo: number,
  hi: number,
  cf: number,
  af: number,
  of: number,
): void {
  const st = cpu.st;
  st[LF_OP] = LF_RESULT;
  st[LF_SIZE] = 32;
  st[LF_RES] = (lo & 0xff) | (hi & (0x8000_0000 | 0)) | ((lo | hi) !== 0 ? 0x100 : 0);
  st[LF_CARRY] = (cf ? FLAG_CF : 0) | (af ? FLAG_AF : 0) | (of ? FLAG_OF : 0);
}

// The ALU group (ModRM.reg order) --------------------------------------------------------

export const ADD = 0;
const OR = 1;
const ADC = 2;
const SBB = 3;
const AND = 4;
export const SUB = 5;
const CMP = 7;

/** d op s at `size` into RES, with the flags. `dh`, `sh`: high halves for size 64. */
export function alu(
  cpu: X86Cpu,
  op: number,
  size: number,
  d: number,
  dh: number,
  s: number,
  sh: number,
): void {
  const st = cpu.st;
  if (size !== 64) {
    let r: number;
    let lf: number;
    let c = 0;
    switch (op) {
      case ADD:
        r = d + s;
        lf = LF_ADD;
        break;
      case ADC:
        c = getCF(st);
        r = d + s + c;
        lf = LF_ADC;
        break;
      case SBB:
        c = getCF(st);
        r = d - s - c;
        lf = LF_SBB;
        break;
      case SUB:
      case CMP:
        r = d - s;
        lf = LF_SUB;
        break;
      case OR:
        r = d | s;
        lf = LF_LOGIC;
        break;
      case AND:
        r = d & s;
        lf = LF_LOGIC;
        break;
      default: // XOR
        r = d ^ s;
        lf = LF_LOGIC;
    }
    r = mask(size, r | 0);
    st[LF_OP] = lf;
    st[LF_SIZE] = size;
    st[LF_DST] = mask(size, d);
    st[LF_SRC] = mask(size, s);
    st[LF_RES] = r;
    st[LF_CARRY] = c;
    RES[0] = r;
    RES[1] = 0;
    return;
  }
  let lo: number;
  let hi: number;
  let cf = 0;
  let of = 0;
  let af = 0;
  switch (op) {
    case ADD:
    case ADC: {
      const c = op === ADC ? getCF(st) : 0;
      const l = (d >>> 0) + (s >>> 0) + c;
      lo = l | 0;
      const h = (dh >>> 0) + (sh >>> 0) + (l >= TWO32 ? 1 : 0);
      hi = h | 0;
      cf = h >= TWO32 ? 1 : 0;
      of = ((dh ^ hi) & (sh ^ hi)) >>> 31;
      af = ((d ^ s ^ lo) >> 4) & 1;
      break;
    }
    case SUB:
    case CMP:
    case SBB: {
      const c = op === SBB ? getCF(st) : 0;
      const l = (d >>> 0) - (s >>> 0) - c;
      lo = l | 0;
      const h = (dh >>> 0) - (sh >>> 0) - (l < 0 ? 1 : 0);
      hi = h | 0;
      cf = h < 0 ? 1 : 0;
      of = ((dh ^ sh) & (dh ^ hi)) >>> 31;
      af = ((d ^ s ^ lo) >> 4) & 1;
      break;
    }
    case OR:
      lo = d | s;
      hi = dh | sh;
      break;
    case AND:
      lo = d & s;
      hi = dh & sh;
      break;
    default: // XOR
      lo = d ^ s;
      hi = dh ^ sh;
  }
  flags64(cpu, lo, hi, cf, af, of);
  RES[0] = lo;
  RES[1] = hi;
}

/** `op Ev,Gv` / `op Eb,Gb`: E = E op G. */
function aluEG(op: number, byte: boolean): FormSplit {
  const run = (cpu: X86Cpu, i: number, isMem: boolean) => {
    const size = byte ? 8 : opSize(cpu, i);
    const st = cpu.st;
    const s = getReg(cpu, cpu.dc.reg[i]!, size);
    const sh = st[VAL_HI]!;
    const d = isMem && op !== CMP ? rmwE(cpu, i, size) : readE(cpu, i, size, isMem);
    if (faulted(cpu)) return;
    alu(cpu, op, size, d, st[VAL_HI]!, s, sh);
    if (op === CMP) return;
    if (isMem) rmwWrite64(cpu, size >> 3, RES[0]!, RES[1]!);
    else setReg(cpu, cpu.dc.rm[i]!, size, RES[0]!, RES[1]!);
  };
  return { reg: (cpu, i) => run(cpu, i, false), mem: (cpu, i) => run(cpu, i, true) };
}

/** `op Gv,Ev` / `op Gb,Eb`: G = G op E. */
function aluGE(op: number, byte: boolean): FormSplit {
  const run = (cpu: X86Cpu, i: number, isMem: boolean) => {
    const size = byte ? 8 : opSize(cpu, i);
    const st = cpu.st;
    const s = readE(cpu, i, size, isMem);
    if (faulted(cpu)) return;
    const sh = st[VAL_HI]!;
    const n = cpu.dc.reg[i]!;
    const d = getReg(cpu, n, size);
    alu(cpu, op, size, d, st[VAL_HI]!, s, sh);
    if (op !== CMP) setReg(cpu, n, size, RES[0]!, RES[1]!);
  };
  return { reg: (cpu, i) => run(cpu, i, false), mem: (cpu, i) => run(cpu, i, true) };
}

/** `op Ev,Iz` / `op Ev,Ib` / `op Eb,Ib` and `op rAX,Iz` / `op AL,Ib` (rm = 0). */
function aluEI(op: number, byte: boolean): FormSplit {
  const run = (cpu: X86Cpu, i: number, isMem: boolean) => {
    const size = byte ? 8 : opSize(cpu, i);
    const st = cpu.st;
    const imm = cpu.dc.imm[i]!;
    const s = mask(size, imm);
    const sh = imm >> 31;
    const d = isMem && op !== CMP ? rmwE(cpu, i, size) : readE(cpu, i, size, isMem);
    if (faulted(cpu)) return;
    alu(cpu, op, size, d, st[VAL_HI]!, s, sh);
    if (op === CMP) return;
    if (isMem) rmwWrite64(cpu, size >> 3, RES[0]!, RES[1]!);
    else setReg(cpu, cpu.dc.rm[i]!, size, RES[0]!, RES[1]!);
  };
  return { reg: (cpu, i) => run(cpu, i, false), mem: (cpu, i) => run(cpu, i, true) };
}

/** A FormSplit for every operand size (the size comes from the slot's flags). */
function sized(f: FormSplit): SizeSplit {
  return { o16: f, o32: f, o64: f };
}

const ALU_NAMES = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"];

function aluRows(): Record<string, HandlerSpec> {
  const rows: Record<string, HandlerSpec> = {};
  ALU_NAMES.forEach((name, op) => {
    rows[`${name}_Eb_Gb`] = aluEG(op, true);
    rows[`${name}_Ev_Gv`] = sized(aluEG(op, false));
    rows[`${name}_Gb_Eb`] = aluGE(op, true);
    rows[`${name}_Gv_Ev`] = sized(aluGE(op, false));
    rows[`${name}_Eb_Ib`] = aluEI(op, true);
    rows[`${name}_Ev_Iz`] = sized(aluEI(op, false));
    rows[`${name}_Ev_Ib`] = sized(aluEI(op, false));
  });
  return rows;
}

// TEST, INC, DEC, NEG, NOT ---------------------------------------------------------------

function testEG(byte: boolean): FormSplit {
  const run = (cpu: X86Cpu, i: number, isMem: boolean) => {
    const size = byte ? 8 : opSize(cpu, i);
    const st = cpu.st;
    const s = getReg(cpu, cpu.dc.reg[i]!, size);
    const sh = st[VAL_HI]!;
    const d = readE(cpu, i, size, isMem);
    if (faulted(cpu)) return;
    alu(cpu, AND, size, d, st[VAL_HI]!, s, sh);
  };
  return { reg: (cpu, i) => run(cpu, i, false), mem: (cpu, i) => run(cpu, i, true) };
}

function testEI(byte: boolean): FormSplit {
  const run = (cpu: X86Cpu, i: number, isMem: boolean) => {
    const size = byte ? 8 : opSize(cpu, i);
    const imm = cpu.dc.imm[i]!;
    const d = readE(cpu, i, size, isMem);
    if (faulted(cpu)) return;
    alu(cpu, AND, size, d, cpu.st[VAL_HI]!, mask(size, imm), imm >> 31);
  };
  return { reg: (cpu, i) => run(cpu, i, false), mem: (cpu, i) => run(cpu, i, true) };
}

const INC = 0;
const DEC = 1;
const NOT = 2;
const NEG = 3;

/** INC/DEC/NOT/NEG of the E operand. */
function unary(kind: number, byte: boolean): FormSplit {
  const run = (cpu: X86Cpu, i: number, isMem: boolean) => {
    const size = byte ? 8 : opSize(cpu, i);
    const st = cpu.st;
    const d = isMem ? rmwE(cpu, i, size) : readE(cpu, i, size, false);
    if (faulted(cpu)) return;
    const dh = st[VAL_HI]!;
    let lo: number;
    let hi = 0;
    if (size !== 64) {
      if (kind === NOT) {
        lo = mask(size, ~d);
      } else if (kind === NEG) {
        alu(cpu, SUB, size, 0, 0, d, 0);
        lo = RES[0]!;
      } else {
        const c = getCF(st);
        lo = mask(size, kind === INC ? d + 1 : d - 1);
        st[LF_OP] = kind === INC ? LF_INC : LF_DEC;
        st[LF_SIZE] = size;
        st[LF_DST] = mask(size, d);
        st[LF_SRC] = 1;
        st[LF_RES] = lo;
        st[LF_CARRY] = c;
      }
    } else if (kind === NOT) {
      lo = ~d;
      hi = ~dh;
    } else if (kind === NEG) {
      alu(cpu, SUB, 64, 0, 0, d, dh);
      lo = RES[0]!;
      hi = RES[1]!;
    } else {
      const c = getCF(st);
      alu(cpu, kind === INC ? ADD : SUB, 64, d, dh, 1, 0);
      lo = RES[0]!;
      hi = RES[1]!;
      // INC and DEC leave CF alone.
      st[LF_CARRY] = (st[LF_CARRY]! & ~FLAG_CF) | c;
    }
    if (isMem) rmwWrite64(cpu, size >> 3, lo, hi);
    else setReg(cpu, cpu.dc.rm[i]!, size, lo, hi);
  };
  return { reg: (cpu, i) => run(cpu, i, false), mem: (cpu, i) => run(cpu, i, true) };
}

// MOV, LEA, MOVZX, MOVSX, MOVSXD, XCHG ---------------------------------------------------

function movEG(byte: boolean): FormSplit {
  const run = (cpu: X86Cpu, i: number, isMem: boolean) => {
    const size = byte ? 8 : opSize(cpu, i);
    const v = getReg(cpu, cpu.dc.reg[i]!, size);
    writeE(cpu, i, size, isMem, v, cpu.st[VAL_HI]!);
  };
  return { reg: (cpu, i) => run(cpu, i, false), mem: (cpu, i) => run(cpu, i, true) };
}

function movGE(byte: boolean): FormSplit {
  const run = (cpu: X86Cpu, i: number, isMem: boolean) => {
    const size = byte ? 8 : opSize(cpu, i);
    const v = readE(cpu, i, size, isMem);
    if (faulted(cpu)) return;
    setReg(cpu, cpu.dc.reg[i]!, size, v, cpu.st[VAL_HI]!);
  };
  return { reg: (cpu, i) => run(cpu, i, false), mem: (cpu, i) => run(cpu, i, true) };
}

/** MOV Ev,Iz / Eb,Ib (Iz sign-extended to 64 bits). */
function movEI(byte: boolean): FormSplit {
  const run = (cpu: X86Cpu, i: number, isMem: boolean) => {
    const size = byte ? 8 : opSize(cpu, i);
    const imm = cpu.dc.imm[i]!;
    writeE(cpu, i, size, isMem, mask(size, imm), imm >> 31);
  };
  return { reg: (cpu, i) => run(cpu, i, false), mem: (cpu, i) => run(cpu, i, true) };
}

/** MOV r, imm (B0–BF): imm64 with REX.W (high half in imm2). */
const movRegImm: Handler = (cpu, i) => {
  const size = opSize(cpu, i);
  setReg(cpu, cpu.dc.rm[i]!, size, cpu.dc.imm[i]!, size === 64 ? cpu.dc.imm2[i]! : 0);
};
const movRegImm8: Handler = (cpu, i) => setReg(cpu, cpu.dc.rm[i]!, 8, cpu.dc.imm[i]!, 0);

/** MOV AL/rAX, moffs and back: the offset is disp (low) and imm2 (high, 64-bit). */
function moffs(load: boolean, byte: boolean): Handler {
  return (cpu, i) => {
    const dc = cpu.dc;
    const size = byte ? 8 : opSize(cpu, i);
    const lo = dc.disp[i]!;
    // With the 67 prefix the offset is 32-bit and imm2 stays 0.
    const hi = dc.imm2[i]!;
    const seg = dc.seg[i]!;
    if (load) {
      const v = size === 64 ? readQ(cpu, seg, lo, hi) : read64(cpu, seg, lo, hi, size >> 3);
      if (faulted(cpu)) return;
      setReg(cpu, EAX, size, v, size === 64 ? cpu.st[VAL_HI]! : 0);
    } else {
      const v = getReg(cpu, EAX, size);
      if (size === 64) writeQ(cpu, seg, lo, hi, v, cpu.st[VAL_HI]!);
      else write64(cpu, seg, lo, hi, size >> 3, v);
    }
  };
}

const lea: Handler = (cpu, i) => {
  const lo = ea64(cpu, i);
  setReg(cpu, cpu.dc.reg[i]!, opSize(cpu, i), lo, cpu.st[EA_HI]!);
};

/** MOVZX/MOVSX Gv, Eb/Ew and MOVSXD Gv, Ed. */
function extend(from: number, signed: boolean): FormSplit {
  const run = (cpu: X86Cpu, i: number, isMem: boolean) => {
    const size = opSize(cpu, i);
    let v = readE(cpu, i, from, isMem);
    if (faulted(cpu)) return;
    if (signed) v = from === 8 ? (v << 24) >> 24 : from === 16 ? (v << 16) >> 16 : v;
    setReg(cpu, cpu.dc.reg[i]!, size, mask(size, v), signed ? v >> 31 : 0);
  };
  return { reg: (cpu, i) => run(cpu, i, false), mem: (cpu, i) => run(cpu, i, true) };
}

/** XCHG E, G (with a memory operand: locked, read-modify-write). */
function xchgEG(byte: boolean): FormSplit {
  const run = (cpu: X86Cpu, i: number, isMem: boolean) => {
    const size = byte ? 8 : opSize(cpu, i);
    const st = cpu.st;
    const n = cpu.dc.reg[i]!;
    const g = getReg(cpu, n, size);
    const gh = st[VAL_HI]!;
    const e = isMem ? rmwE(cpu, i, size) : readE(cpu, i, size, false);
    if (faulted(cpu)) return;
    const eh = st[VAL_HI]!;
    if (isMem) rmwWrite64(cpu, size >> 3, g, gh);
    else setReg(cpu, cpu.dc.rm[i]!, size, g, gh);
    setReg(cpu, n, size, e, eh);
  };
  return { reg: (cpu, i) => run(cpu, i, false), mem: (cpu, i) => run(cpu, i, true) };
}

/** XLAT: AL = the byte at [RBX + AL] (EBX with 67), DS or an override. */
const xlat: Handler = (cpu, i) => {
  const dc = cpu.dc;
  const a32 = (dc.flags[i]! & F_A64) === 0;
  const s = (cpu.regs[3]! >>> 0) + cpu.r8[0]!;
  const lo = s | 0;
  const hi = a32 ? 0 : (cpu.regsHi[3]! + (s >= TWO32 ? 1 : 0)) | 0;
  const v = read64(cpu, dc.seg[i]!, lo, hi, 1);
  if (faulted(cpu)) return;
  cpu.r8[0] = v;
};

/** CBW / CWDE / CDQE. */
const cbw: Handler = (cpu, i) => {
  const size = opSize(cpu, i);
  if (size === 16) cpu.r16[0] = (cpu.r8[0]! << 24) >> 24;
  else if (size === 32) setReg(cpu, EAX, 32, (cpu.r16[0]! << 16) >> 16, 0);
  else setReg(cpu, EAX, 64, cpu.regs[EAX]!, cpu.regs[EAX]! >> 31);
};

/** CWD / CDQ / CQO. */
const cwd: Handler = (cpu, i) => {
  const size = opSize(cpu, i);
  if (size === 16) cpu.r16[EDX << 1] = (cpu.r16[0]! << 16) >> 31;
  else if (size === 32) setReg(cpu, EDX, 32, cpu.regs[EAX]! >> 31, 0);
  else {
    const s = cpu.regsHi[EAX]! >> 31;
    setReg(cpu, EDX, 64, s, s);
  }
};

// RIP, the stack, branches ---------------------------------------------------------------

/** Next RIP (this instruction's end): low half returned, high half in st[EA_HI]. */
export function nextRip(cpu: X86Cpu, i: number): number {
  return addr64(cpu, cpu.st[EIP]!, cpu.st[RIP_HI]!, cpu.dc.len[i]!);
}

/** Jump to hi:lo; #GP(0) when it is not canonical. */
export function jumpTo(cpu: X86Cpu, lo: number, hi: number): boolean {
  if (!canonical(hi)) {
    raiseFault(cpu, GP_VECTOR, 0);
    return false;
  }
  cpu.st[EIP] = lo;
  cpu.st[RIP_HI] = hi;
  jumped(cpu);
  return true;
}

/** RIP-relative target: next RIP + sign-extended imm. */
export function relTarget(cpu: X86Cpu, i: number): number {
  const lo = nextRip(cpu, i);
  const imm = cpu.dc.imm[i]!;
  return addr64(cpu, lo, (cpu.st[EA_HI]! + (imm >> 31)) | 0, imm >>> 0);
}

const jcc: Handler = (cpu, i) => {
  if (!testCC(cpu.st, cpu.dc.imm2[i]!)) return;
  const lo = relTarget(cpu, i);
  jumpTo(cpu, lo, cpu.st[EA_HI]!);
};

const jmpRel: Handler = (cpu, i) => {
  const lo = relTarget(cpu, i);
  jumpTo(cpu, lo, cpu.st[EA_HI]!);
};

/** Push hi:lo (8 bytes) or a 16-bit value (66 prefix) onto the 64-bit stack. */
export function push(cpu: X86Cpu, size: number, lo: number, hi: number): boolean {
  const st = cpu.st;
  const n = size >> 3;
  const sp = addr64(cpu, cpu.regs[ESP]!, cpu.regsHi[ESP]!, -n);
  const sph = st[EA_HI]!;
  if (size === 64) writeQ(cpu, SS, sp, sph, lo, hi);
  else write64(cpu, SS, sp, sph, n, lo);
  if (faulted(cpu)) return false;
  cpu.regs[ESP] = sp;
  cpu.regsHi[ESP] = sph;
  return true;
}

/** Pop 8 (or 2) bytes: low half returned, high half in st[VAL_HI]; RSP moves on success. */
export function pop(cpu: X86Cpu, size: number): number {
  const st = cpu.st;
  const lo = cpu.regs[ESP]!;
  const hi = cpu.regsHi[ESP]!;
  const v = size === 64 ? readQ(cpu, SS, lo, hi) : read64(cpu, SS, lo, hi, 2);
  if (faulted(cpu)) return 0;
  const vh = size === 64 ? st[VAL_HI]! : 0;
  const sp = addr64(cpu, lo, hi, size >> 3);
  cpu.regs[ESP] = sp;
  cpu.regsHi[ESP] = st[EA_HI]!;
  st[VAL_HI] = vh;
  return v;
}

const callRel: Handler = (cpu, i) => {
  const st = cpu.st;
  const ret = nextRip(cpu, i);
  const retHi = st[EA_HI]!;
  const lo = relTarget(cpu, i);
  const hi = st[EA_HI]!;
  if (!canonical(hi)) return raiseFault(cpu, GP_VECTOR, 0);
  if (!push(cpu, 64, ret, retHi)) return;
  jumpTo(cpu, lo, hi);
};

function callE(isMem: boolean): Handler {
  return (cpu, i) => {
    const st = cpu.st;
    const lo = readE(cpu, i, 64, isMem);
    if (faulted(cpu)) return;
    const hi = st[VAL_HI]!;
    if (!canonical(hi)) return raiseFault(cpu, GP_VECTOR, 0);
    const ret = nextRip(cpu, i);
    if (!push(cpu, 64, ret, st[EA_HI]!)) return;
    jumpTo(cpu, lo, hi);
  };
}

function jmpE(isMem: boolean): Handler {
  return (cpu, i) => {
    const lo = readE(cpu, i, 64, isMem);
    if (faulted(cpu)) return;
    jumpTo(cpu, lo, cpu.st[VAL_HI]!);
  };
}

/** RET / RET Iw (near). */
function ret(withImm: boolean): Handler {
  return (cpu, i) => {
    const st = cpu.st;
    const lo = cpu.regs[ESP]!;
    const hi = cpu.regsHi[ESP]!;
    const target = readQ(cpu, SS, lo, hi);
    if (faulted(cpu)) return;
    const th = st[VAL_HI]!;
    if (!canonical(th)) return raiseFault(cpu, GP_VECTOR, 0);
    const sp = addr64(cpu, lo, hi, 8 + (withImm ? cpu.dc.imm[i]! & 0xffff : 0));
    cpu.regs[ESP] = sp;
    cpu.regsHi[ESP] = st[EA_HI]!;
    jumpTo(cpu, target, th);
  };
}

/** PUSH r64/r16 (50+r), PUSH Ev, PUSH Iz/Ib. */
const pushReg: Handler = (cpu, i) => {
  const size = opSize(cpu, i);
  const v = getReg(cpu, cpu.dc.rm[i]!, size);
  push(cpu, size, v, cpu.st[VAL_HI]!);
};
function pushE(isMem: boolean): Handler {
  return (cpu, i) => {
    const size = opSize(cpu, i);
    const v = readE(cpu, i, size, isMem);
    if (faulted(cpu)) return;
    push(cpu, size, v, cpu.st[VAL_HI]!);
  };
}
const pushImm: Handler = (cpu, i) => {
  const imm = cpu.dc.imm[i]!;
  push(cpu, opSize(cpu, i), imm, imm >> 31);
};

const popReg: Handler = (cpu, i) => {
  const size = opSize(cpu, i);
  const v = pop(cpu, size);
  if (faulted(cpu)) return;
  setReg(cpu, cpu.dc.rm[i]!, size, v, cpu.st[VAL_HI]!);
};
/** POP Ev: with RSP as the base, the address uses RSP after the pop (SDM POP). */
function popE(isMem: boolean): Handler {
  return (cpu, i) => {
    const size = opSize(cpu, i);
    const st = cpu.st;
    const lo = cpu.regs[ESP]!;
    const hi = cpu.regsHi[ESP]!;
    const v = size === 64 ? readQ(cpu, SS, lo, hi) : read64(cpu, SS, lo, hi, 2);
    if (faulted(cpu)) return;
    const vh = size === 64 ? st[VAL_HI]! : 0;
    const newLo = addr64(cpu, lo, hi, size >> 3);
    const newHi = st[EA_HI]!;
    if (!isMem) {
      cpu.regs[ESP] = newLo;
      cpu.regsHi[ESP] = newHi;
      setReg(cpu, cpu.dc.rm[i]!, size, v, vh);
      return;
    }
    // An RSP-based destination is addressed with RSP after the pop (SDM POP), but RSP
    // changes only once the store has succeeded: a fault leaves it as it was.
    cpu.regs[ESP] = newLo;
    cpu.regsHi[ESP] = newHi;
    const eLo = ea64(cpu, i);
    const eHi = st[EA_HI]!;
    cpu.regs[ESP] = lo;
    cpu.regsHi[ESP] = hi;
    const seg = cpu.dc.seg[i]!;
    if (size === 64) writeQ(cpu, seg, eLo, eHi, v, vh);
    else write64(cpu, seg, eLo, eHi, size >> 3, v);
    if (faulted(cpu)) return;
    cpu.regs[ESP] = newLo;
    cpu.regsHi[ESP] = newHi;
  };
}

/** LEAVE: RSP = RBP, pop RBP; nothing changes if the read faults. */
const leave: Handler = (cpu, i) => {
  const size = opSize(cpu, i);
  const st = cpu.st;
  const lo = cpu.regs[EBP]!;
  const hi = cpu.regsHi[EBP]!;
  const v = size === 64 ? readQ(cpu, SS, lo, hi) : read64(cpu, SS, lo, hi, 2);
  if (faulted(cpu)) return;
  const vh = size === 64 ? st[VAL_HI]! : 0;
  cpu.regs[ESP] = addr64(cpu, lo, hi, size >> 3);
  cpu.regsHi[ESP] = st[EA_HI]!;
  setReg(cpu, EBP, size, v, vh);
};

// The table --------------------------------------------------------------------------------

function both(h: Handler): FormSplit {
  return { reg: h, mem: h };
}

export const LONG: Readonly<Record<string, HandlerSpec>> = {
  ...aluRows(),
  test_Eb_Gb: testEG(true),
  test_Ev_Gv: sized(testEG(false)),
  test_Eb_Ib: testEI(true),
  test_Ev_Iz: sized(testEI(false)),
  inc_Eb: unary(INC, true),
  dec_Eb: unary(DEC, true),
  inc_Ev: sized(unary(INC, false)),
  dec_Ev: sized(unary(DEC, false)),
  not_Eb: unary(NOT, true),
  neg_Eb: unary(NEG, true),
  not_Ev: sized(unary(NOT, false)),
  neg_Ev: sized(unary(NEG, false)),
  mov_Eb_Gb: movEG(true),
  mov_Ev_Gv: sized(movEG(false)),
  mov_Gb_Eb: movGE(true),
  mov_Gv_Ev: sized(movGE(false)),
  mov_Eb_Ib: movEI(true),
  mov_Ev_Iz: sized(movEI(false)),
  mov_Zb_Ib: movRegImm8,
  mov_Zv_Iv: movRegImm,
  mov_Zb_Ob: moffs(true, true),
  mov_Zv_Ov: moffs(true, false),
  mov_Ob_Zb: moffs(false, true),
  mov_Ov_Zv: moffs(false, false),
  lea_Gv_M: sized(both(lea)),
  movzx_Gv_Eb: sized(extend(8, false)),
  movzx_Gv_Ew: sized(extend(16, false)),
  movsx_Gv_Eb: sized(extend(8, true)),
  movsx_Gv_Ew: sized(extend(16, true)),
  movsxd_Gv_Ed: sized(extend(32, true)),
  xchg_Eb_Gb: xchgEG(true),
  xchg_Ev_Gv: sized(xchgEG(false)),
  xlat,
  cbw: sized(both(cbw)),
  cwd: sized(both(cwd)),
  jcc_Jb: jcc,
  jcc_Jz: jcc,
  jmp_Jb: jmpRel,
  jmp_Jz: jmpRel,
  call_Jz: callRel,
  call_Ev: sized({ reg: callE(false), mem: callE(true) }),
  jmp_Ev: sized({ reg: jmpE(false), mem: jmpE(true) }),
  ret: ret(false),
  ret_Iw: ret(true),
  push_Zv: sized(both(pushReg)),
  pop_Zv: sized(both(popReg)),
  push_Ev: sized({ reg: pushE(false), mem: pushE(true) }),
  pop_Ev: sized({ reg: popE(false), mem: popE(true) }),
  push_Iz: sized(both(pushImm)),
  push_Ib: sized(both(pushImm)),
  leave: sized(both(leave)),
};
