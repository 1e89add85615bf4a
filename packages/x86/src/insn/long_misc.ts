/**
 * 64-bit mode's string instructions, LOOP/JrCXZ, PUSHF/POPF, ENTER, INT n/INT3/INT1,
 * IN/OUT, segment-register moves and LAR/LSL/VERR/VERW (SDM Vol. 2 per instruction).
 *
 * What differs from 16/32-bit code:
 * - string instructions move 1, 2, 4 or 8 bytes; the address size (64, or 32 with 67)
 *   picks RSI/RDI/RCX or ESI/EDI/ECX, and a 32-bit index write zero-extends; ES and DS
 *   have no base (access64.ts), only an FS/GS override adds one;
 * - LOOP/JrCXZ count in RCX (ECX with 67) and branch to a canonical RIP;
 * - PUSHF/POPF move RFLAGS as 8 bytes, ENTER builds its frame on the 64-bit stack;
 * - IN EAX zero-extends RAX; REX.W does not widen IN/OUT/INS/OUTS beyond 32 bits;
 * - a null selector may be loaded into SS below ring 3 (RPL = CPL); only FS/GS exist for
 *   PUSH/POP Sreg; INTO is invalid (its row is #UD in the 64-bit map);
 * - LAR/LSL know the IA-32e system types only (LDT, 64-bit TSS, 64-bit call gate).
 *
 * REP instructions run at most SLICE iterations per call and then leave RIP at themselves
 * (STOP_JUMP) so the run loop can take interrupts in between, as string.ts does; RSI,
 * RDI and RCX are written back after each iteration, so a fault leaves them at the
 * iterations that completed.
 */
import { recomputeSegment } from "../access.js";
import { addr64, canonical, ea64, linear64, read64, readQ, write64, writeQ } from "../access64.js";
import type { X86Cpu } from "../cpu.js";
import {
  DESC,
  descDpl,
  descLimit,
  descType,
  fetchDescriptor,
  loadNullSegment,
} from "../descriptor.js";
import { privilegedSoftwareException, raiseFault, softwareInterrupt } from "../exception.js";
import type { FormSplit, Handler, HandlerSpec } from "../handlers.js";
import { F_A64, F_MEM, F_REP, F_REPNE } from "../instr.js";
import { getFlags, getZF, setArithFlags, setFlags } from "../lazy_flags.js";
import { ACC_WRITE, dataAcc, translateLinear } from "../paging.js";
import {
  BP_VECTOR,
  CS,
  EAX,
  EBP,
  ECX,
  EDI,
  EDX,
  ES,
  ESI,
  ESP,
  FLAG_AC,
  FLAG_DF,
  FLAG_ID,
  FLAG_IF,
  FLAG_IOPL,
  FLAG_RF,
  FLAG_TF,
  FLAG_VIF,
  FLAG_VIP,
  FLAG_VM,
  FLAG_ZF,
  FS,
  GP_VECTOR,
  GS,
  SS,
  SS_VECTOR,
  UD_VECTOR,
} from "../regs.js";
import { CPL, EA_HI, FLAGS, INHIBIT, PENDING, STOP, STOP_JUMP, VAL_HI } from "../state.js";
import { ioIntercepted, ioPermitted } from "./io.js";
import {
  alu,
  faulted,
  getReg,
  jumpTo,
  nextRip,
  opSize,
  pop,
  push,
  readE,
  relTarget,
  setReg,
  writeE,
} from "./long.js";
import { loadSegment } from "./segment_ctrl.js";
import { SLICE } from "./string.js";

const CMP = 7;

// String instructions ----------------------------------------------------------------------

/**
 * The string registers of the running instruction: RSI, RDI, RCX as (lo, hi) pairs at
 * the address size (with 67 the high halves are 0 and the low halves wrap at 2^32).
 */
const SR = new Int32Array(6);
const SI_LO = 0;
const SI_HI = 1;
const DI_LO = 2;
const DI_HI = 3;
const CX_LO = 4;
const CX_HI = 5;

function loadStringRegs(cpu: X86Cpu, a64: boolean): void {
  const r = cpu.regs;
  const h = cpu.regsHi;
  SR[SI_LO] = r[ESI]!;
  SR[DI_LO] = r[EDI]!;
  SR[CX_LO] = r[ECX]!;
  SR[SI_HI] = a64 ? h[ESI]! : 0;
  SR[DI_HI] = a64 ? h[EDI]! : 0;
  SR[CX_HI] = a64 ? h[ECX]! : 0;
}

/** Step index register pair `at` (SI_LO or DI_LO) by `delta` and write it back. */
function stepIndex(cpu: X86Cpu, a64: boolean, at: number, reg: number, delta: number): void {
  let lo: number;
  let hi = 0;
  if (a64) {
    lo = addr64(cpu, SR[at]!, SR[at + 1]!, delta);
    hi = cpu.st[EA_HI]!;
  } else {
    lo = (SR[at]! + delta) | 0;
  }
  SR[at] = lo;
  SR[at + 1] = hi;
  cpu.regs[reg] = lo;
  cpu.regsHi[reg] = hi;
}

/** RCX (ECX) - 1, written back; true when it reached 0. */
function stepCount(cpu: X86Cpu, a64: boolean): boolean {
  const lo = (SR[CX_LO]! - 1) | 0;
  let hi = SR[CX_HI]!;
  if (a64 && lo === -1) hi = (hi - 1) | 0;
  SR[CX_LO] = lo;
  SR[CX_HI] = hi;
  cpu.regs[ECX] = lo;
  cpu.regsHi[ECX] = hi;
  return (lo | hi) === 0;
}

function countZero(): boolean {
  return (SR[CX_LO]! | SR[CX_HI]!) === 0;
}

/** Iterations for this call: SLICE at most, one when single-stepping. */
function sliceLength(cpu: X86Cpu): number {
  return (cpu.st[FLAGS]! & FLAG_TF) !== 0 ? 1 : SLICE;
}

/** Read `size` bytes at seg:hi:lo (high half of a quadword in st[VAL_HI]). */
function readN(cpu: X86Cpu, seg: number, lo: number, hi: number, size: number): number {
  if (size === 8) return readQ(cpu, seg, lo, hi);
  cpu.st[VAL_HI] = 0;
  return read64(cpu, seg, lo, hi, size);
}

function writeN(
  cpu: X86Cpu,
  seg: number,
  lo: number,
  hi: number,
  size: number,
  v: number,
  vh: number,
): void {
  if (size === 8) writeQ(cpu, seg, lo, hi, v, vh);
  else write64(cpu, seg, lo, hi, size, v);
}

function isRep(cpu: X86Cpu, i: number): boolean {
  return (cpu.dc.flags[i]! & (F_REP | F_REPNE)) !== 0;
}

/** After a REP slice: come back to this instruction while the count is not 0. */
function finishSlice(cpu: X86Cpu): void {
  if (!countZero() && !faulted(cpu)) cpu.st[STOP] = STOP_JUMP;
}

function delta(cpu: X86Cpu, size: number): number {
  return (cpu.st[FLAGS]! & FLAG_DF) !== 0 ? -size : size;
}

/** One MOVS element; false after a fault. */
function movsOne(cpu: X86Cpu, seg: number, size: number, a64: boolean, d: number): boolean {
  const v = readN(cpu, seg, SR[SI_LO]!, SR[SI_HI]!, size);
  if (faulted(cpu)) return false;
  writeN(cpu, ES, SR[DI_LO]!, SR[DI_HI]!, size, v, cpu.st[VAL_HI]!);
  if (faulted(cpu)) return false;
  stepIndex(cpu, a64, SI_LO, ESI, d);
  stepIndex(cpu, a64, DI_LO, EDI, d);
  return true;
}

function movs(size: number): Handler {
  return (cpu, i) => {
    const a64 = (cpu.dc.flags[i]! & F_A64) !== 0;
    const seg = cpu.dc.seg[i]!;
    const d = delta(cpu, size);
    loadStringRegs(cpu, a64);
    if (!isRep(cpu, i)) {
      movsOne(cpu, seg, size, a64, d);
      return;
    }
    if (countZero()) return;
    for (let left = sliceLength(cpu); left > 0; left--) {
      if (!movsOne(cpu, seg, size, a64, d)) return;
      if (stepCount(cpu, a64)) return;
    }
    finishSlice(cpu);
  };
}

function stos(size: number): Handler {
  return (cpu, i) => {
    const a64 = (cpu.dc.flags[i]! & F_A64) !== 0;
    const d = delta(cpu, size);
    const v = getReg(cpu, EAX, size * 8);
    const vh = cpu.st[VAL_HI]!;
    loadStringRegs(cpu, a64);
    const rep = isRep(cpu, i);
    if (rep && countZero()) return;
    for (let left = rep ? sliceLength(cpu) : 1; left > 0; left--) {
      writeN(cpu, ES, SR[DI_LO]!, SR[DI_HI]!, size, v, vh);
      if (faulted(cpu)) return;
      stepIndex(cpu, a64, DI_LO, EDI, d);
      if (rep && stepCount(cpu, a64)) return;
    }
    if (rep) finishSlice(cpu);
  };
}

function lods(size: number): Handler {
  return (cpu, i) => {
    const a64 = (cpu.dc.flags[i]! & F_A64) !== 0;
    const seg = cpu.dc.seg[i]!;
    const d = delta(cpu, size);
    loadStringRegs(cpu, a64);
    const rep = isRep(cpu, i);
    if (rep && countZero()) return;
    for (let left = rep ? sliceLength(cpu) : 1; left > 0; left--) {
      const v = readN(cpu, seg, SR[SI_LO]!, SR[SI_HI]!, size);
      if (faulted(cpu)) return;
      setReg(cpu, EAX, size * 8, v, cpu.st[VAL_HI]!);
      stepIndex(cpu, a64, SI_LO, ESI, d);
      if (rep && stepCount(cpu, a64)) return;
    }
    if (rep) finishSlice(cpu);
  };
}

/** CMPS (`scas` false) or SCAS: REPE repeats while equal, REPNE while not. */
function compare(size: number, scas: boolean): Handler {
  return (cpu, i) => {
    const f = cpu.dc.flags[i]!;
    const a64 = (f & F_A64) !== 0;
    const seg = cpu.dc.seg[i]!;
    const st = cpu.st;
    const d = delta(cpu, size);
    const bits = size * 8;
    const acc = scas ? getReg(cpu, EAX, bits) : 0;
    const accHi = st[VAL_HI]!;
    loadStringRegs(cpu, a64);
    const rep = (f & (F_REP | F_REPNE)) !== 0;
    const whileEqual = (f & F_REP) !== 0;
    if (rep && countZero()) return;
    for (let left = rep ? sliceLength(cpu) : 1; left > 0; left--) {
      let a = acc;
      let ah = accHi;
      if (!scas) {
        a = readN(cpu, seg, SR[SI_LO]!, SR[SI_HI]!, size);
        if (faulted(cpu)) return;
        ah = st[VAL_HI]!;
      }
      const b = readN(cpu, ES, SR[DI_LO]!, SR[DI_HI]!, size);
      if (faulted(cpu)) return;
      const bh = st[VAL_HI]!;
      alu(cpu, CMP, bits, a, ah, b, bh);
      if (!scas) stepIndex(cpu, a64, SI_LO, ESI, d);
      stepIndex(cpu, a64, DI_LO, EDI, d);
      if (!rep) return;
      if (stepCount(cpu, a64)) return;
      if ((a === b && ah === bh) !== whileEqual) return;
    }
    finishSlice(cpu);
  };
}

/**
 * Check that `size` bytes at seg:hi:lo may be written (INS checks its destination before
 * the port is read: a read may have side effects). False after the fault.
 */
function probeWrite64(cpu: X86Cpu, seg: number, lo: number, hi: number, size: number): boolean {
  const st = cpu.st;
  const lin = linear64(cpu, seg, lo, hi);
  if (faulted(cpu)) return false;
  const linHi = st[EA_HI]!;
  translateLinear(cpu, lin, dataAcc(cpu, ACC_WRITE), linHi);
  if (faulted(cpu)) return false;
  if ((lin & 0xfff) + size > 0x1000) {
    const last = addr64(cpu, lin, linHi, size - 1);
    translateLinear(cpu, last, dataAcc(cpu, ACC_WRITE), st[EA_HI]!);
    if (faulted(cpu)) return false;
  }
  return true;
}

function ins(size: 1 | 2 | 4): Handler {
  return (cpu, i) => {
    const a64 = (cpu.dc.flags[i]! & F_A64) !== 0;
    const port = cpu.r16[EDX << 1]!;
    const rep = isRep(cpu, i);
    if (!ioPermitted(cpu, port, size)) return;
    if (ioIntercepted(cpu, port, size, true, true, rep, 0)) return;
    const dev = cpu.mem.devices;
    const d = delta(cpu, size);
    loadStringRegs(cpu, a64);
    if (rep && countZero()) return;
    for (let left = rep ? sliceLength(cpu) : 1; left > 0; left--) {
      if (!probeWrite64(cpu, ES, SR[DI_LO]!, SR[DI_HI]!, size)) return;
      write64(cpu, ES, SR[DI_LO]!, SR[DI_HI]!, size, dev.ioRead(port, size));
      if (faulted(cpu)) return;
      stepIndex(cpu, a64, DI_LO, EDI, d);
      if (rep && stepCount(cpu, a64)) return;
    }
    if (rep) finishSlice(cpu);
  };
}

function outs(size: 1 | 2 | 4): Handler {
  return (cpu, i) => {
    const a64 = (cpu.dc.flags[i]! & F_A64) !== 0;
    const seg = cpu.dc.seg[i]!;
    const port = cpu.r16[EDX << 1]!;
    const rep = isRep(cpu, i);
    if (!ioPermitted(cpu, port, size)) return;
    // Asked before any memory access: an I/O exit comes before the operand's faults.
    if (ioIntercepted(cpu, port, size, false, true, rep, 0)) return;
    const dev = cpu.mem.devices;
    const d = delta(cpu, size);
    loadStringRegs(cpu, a64);
    if (rep && countZero()) return;
    for (let left = rep ? sliceLength(cpu) : 1; left > 0; left--) {
      const v = read64(cpu, seg, SR[SI_LO]!, SR[SI_HI]!, size);
      if (faulted(cpu)) return;
      dev.ioWrite(port, size, size === 4 ? v >>> 0 : v);
      stepIndex(cpu, a64, SI_LO, ESI, d);
      if (rep && stepCount(cpu, a64)) return;
    }
    if (rep) finishSlice(cpu);
  };
}

/** A v-sized string row: 2, 4 or 8 bytes by operand size. */
function vSized(make: (size: number) => Handler): HandlerSpec {
  return { o16: make(2), o32: make(4), o64: make(8) };
}

/** A z-sized I/O string row: 2 or 4 bytes (REX.W changes nothing). */
function zSized(make: (size: 1 | 2 | 4) => Handler): HandlerSpec {
  const four = make(4);
  return { o16: make(2), o32: four, o64: four };
}

// LOOP, LOOPE, LOOPNE, JRCXZ ------------------------------------------------------------

/** RCX (ECX with 67) - 1, written back (an ECX write zero-extends); true when not 0. */
function decCount(cpu: X86Cpu, i: number): boolean {
  const r = cpu.regs;
  const lo = (r[ECX]! - 1) | 0;
  if ((cpu.dc.flags[i]! & F_A64) !== 0) {
    const hi = lo === -1 ? (cpu.regsHi[ECX]! - 1) | 0 : cpu.regsHi[ECX]!;
    r[ECX] = lo;
    cpu.regsHi[ECX] = hi;
    return (lo | hi) !== 0;
  }
  r[ECX] = lo;
  cpu.regsHi[ECX] = 0;
  return lo !== 0;
}

function branch(cpu: X86Cpu, i: number): void {
  const lo = relTarget(cpu, i);
  jumpTo(cpu, lo, cpu.st[EA_HI]!);
}

/** `cond`: 0 LOOP, 1 LOOPE (ZF = 1), 2 LOOPNE (ZF = 0). */
function loop(cond: number): Handler {
  return (cpu, i) => {
    if (!decCount(cpu, i)) return;
    if (cond !== 0 && getZF(cpu.st) !== (cond === 1 ? 1 : 0)) return;
    branch(cpu, i);
  };
}

const jrcxz: Handler = (cpu, i) => {
  const a64 = (cpu.dc.flags[i]! & F_A64) !== 0;
  const zero = a64 ? (cpu.regs[ECX]! | cpu.regsHi[ECX]!) === 0 : cpu.regs[ECX] === 0;
  if (zero) branch(cpu, i);
};

// PUSHF, POPF, ENTER -----------------------------------------------------------------------

/** PUSHFQ (PUSHF with 66: 16 bits): RFLAGS with VM and RF read as 0. */
const pushf: Handler = (cpu, i) => {
  const size = opSize(cpu, i);
  const f = getFlags(cpu.st) & ~(FLAG_VM | FLAG_RF);
  push(cpu, size, size === 16 ? f & 0xffff : f, 0);
};

/** Flags POPFQ may change at CPL 0 (RF, VM, VIF, VIP never; bits 63:32 are reserved). */
const POPF64_BITS = 0x0000_7fd5 | FLAG_AC | FLAG_ID;
const POPF16_BITS = 0x0000_7fd5;

/** POPFQ / POPF (66): IOPL only at CPL 0, IF only when CPL ≤ IOPL; RF cleared. */
const popf: Handler = (cpu, i) => {
  const st = cpu.st;
  const size = opSize(cpu, i);
  const v = pop(cpu, size);
  if (faulted(cpu)) return;
  const old = getFlags(st);
  let bits = size === 16 ? POPF16_BITS : POPF64_BITS;
  const cpl = st[CPL]!;
  if (cpl > 0) {
    bits &= ~FLAG_IOPL;
    if (cpl > (old & FLAG_IOPL) >>> 12) bits &= ~FLAG_IF;
  }
  let f = (old & ~bits) | (v & bits);
  f = (f & ~(FLAG_VIF | FLAG_VIP)) | (old & (FLAG_VIF | FLAG_VIP));
  if (size !== 16) f &= ~FLAG_RF;
  setFlags(st, f);
  // IF or TF may have changed: look at pending events before the next instruction.
  st[PENDING] = 1;
};

/**
 * ENTER Iw, Ib (SDM Vol. 2 ENTER, 64-bit operation): push RBP, copy level − 1 frame
 * pointers from the old frame, push the new frame pointer, allocate Iw bytes. RBP and RSP
 * change only after every access succeeded.
 */
const enter: Handler = (cpu, i) => {
  const st = cpu.st;
  const size = opSize(cpu, i);
  const n = size >> 3;
  const alloc = cpu.dc.imm[i]! & 0xffff;
  const level = cpu.dc.imm2[i]! & 31;
  const bp = getReg(cpu, EBP, size);
  const bpHi = st[VAL_HI]!;
  let sp = addr64(cpu, cpu.regs[ESP]!, cpu.regsHi[ESP]!, -n);
  let spHi = st[EA_HI]!;
  writeN(cpu, SS, sp, spHi, n, bp, bpHi);
  if (faulted(cpu)) return;
  const frame = sp;
  const frameHi = spHi;
  if (level > 0) {
    let at = cpu.regs[EBP]!;
    let atHi = cpu.regsHi[EBP]!;
    for (let k = 1; k < level; k++) {
      at = addr64(cpu, at, atHi, -n);
      atHi = st[EA_HI]!;
      const v = readN(cpu, SS, at, atHi, n);
      if (faulted(cpu)) return;
      const vh = st[VAL_HI]!;
      sp = addr64(cpu, sp, spHi, -n);
      spHi = st[EA_HI]!;
      writeN(cpu, SS, sp, spHi, n, v, vh);
      if (faulted(cpu)) return;
    }
    sp = addr64(cpu, sp, spHi, -n);
    spHi = st[EA_HI]!;
    writeN(cpu, SS, sp, spHi, n, frame, frameHi);
    if (faulted(cpu)) return;
  }
  sp = addr64(cpu, sp, spHi, -alloc);
  spHi = st[EA_HI]!;
  if (!canonical(spHi)) return raiseFault(cpu, SS_VECTOR, 0);
  setReg(cpu, EBP, size, frame, frameHi);
  cpu.regs[ESP] = sp;
  cpu.regsHi[ESP] = spHi;
};

// INT n, INT3, INT1 ------------------------------------------------------------------------

// The return RIP's high half is st[RIP_HI] (deliverLong): next RIP is in the same 4 GiB.
const intN: Handler = (cpu, i) => softwareInterrupt(cpu, cpu.dc.imm[i]! & 0xff, nextRip(cpu, i));
const int3: Handler = (cpu, i) => softwareInterrupt(cpu, BP_VECTOR, nextRip(cpu, i));
const int1: Handler = (cpu, i) => privilegedSoftwareException(cpu, nextRip(cpu, i));

// IN, OUT ---------------------------------------------------------------------------------

function inOp(cpu: X86Cpu, port: number, size: 1 | 2 | 4): void {
  if (!ioPermitted(cpu, port, size)) return;
  if (ioIntercepted(cpu, port, size, true, false, false, 0)) return;
  setReg(cpu, EAX, size * 8, cpu.mem.devices.ioRead(port, size), 0);
}

function outOp(cpu: X86Cpu, port: number, size: 1 | 2 | 4): void {
  if (!ioPermitted(cpu, port, size)) return;
  const v = size === 1 ? cpu.r8[0]! : size === 2 ? cpu.r16[EAX << 1]! : cpu.regs[EAX]! >>> 0;
  if (ioIntercepted(cpu, port, size, false, false, false, v)) return;
  cpu.mem.devices.ioWrite(port, size, v);
}

const immPort = (cpu: X86Cpu, i: number) => cpu.dc.imm[i]! & 0xff;
const dxPort = (cpu: X86Cpu) => cpu.r16[EDX << 1]!;

function io(isIn: boolean, dx: boolean, byte: boolean): HandlerSpec {
  const make =
    (size: 1 | 2 | 4): Handler =>
    (cpu, i) => {
      const port = dx ? dxPort(cpu) : immPort(cpu, i);
      if (isIn) inOp(cpu, port, size);
      else outOp(cpu, port, size);
    };
  if (byte) return make(1);
  const four = make(4);
  return { o16: make(2), o32: four, o64: four };
}

// Segment registers -----------------------------------------------------------------------

/**
 * Load `seg` (ES, SS, DS, FS, GS) with `sel` in 64-bit mode: as in protected mode, but a
 * null selector may go into SS at CPL < 3 when RPL = CPL (SDM Vol. 2 MOV, POP, 64-bit
 * mode exceptions). A null SS keeps RPL as its DPL, as IRETQ and interrupts leave it.
 */
function loadSegment64(cpu: X86Cpu, seg: number, sel: number): boolean {
  if (seg === SS && (sel & 0xfffc) === 0) {
    const cpl = cpu.st[CPL]!;
    if (cpl === 3 || (sel & 3) !== cpl) {
      raiseFault(cpu, GP_VECTOR, 0);
      return false;
    }
    loadNullSegment(cpu, SS, sel);
    cpu.segAr[SS] = cpu.segAr[SS]! | (cpl << 5);
    recomputeSegment(cpu, SS);
    return true;
  }
  return loadSegment(cpu, seg, sel);
}

/** After MOV SS / POP SS: no interrupt, NMI or debug trap until the next one retires. */
function ssShadow(cpu: X86Cpu): void {
  cpu.st[INHIBIT] = 2;
  cpu.st[PENDING] = 1;
}

/** MOV Sreg, Ew (REX.R does not select more segment registers). */
function movSw(isMem: boolean): Handler {
  return (cpu, i) => {
    const seg = cpu.dc.reg[i]! & 7;
    if (seg === CS || seg > GS) return raiseFault(cpu, UD_VECTOR, -1);
    const sel = readE(cpu, i, 16, isMem);
    if (faulted(cpu)) return;
    if (!loadSegment64(cpu, seg, sel) || seg !== SS) return;
    ssShadow(cpu);
  };
}

/** MOV Ev, Sreg: a 16-bit store to memory; a register gets it zero-extended (16: kept). */
function movEvSw(isMem: boolean): Handler {
  return (cpu, i) => {
    const seg = cpu.dc.reg[i]! & 7;
    if (seg > GS) return raiseFault(cpu, UD_VECTOR, -1);
    const v = cpu.segSel[seg]! & 0xffff;
    if (isMem) writeE(cpu, i, 16, true, v, 0);
    else setReg(cpu, cpu.dc.rm[i]!, opSize(cpu, i), v, 0);
  };
}

/** PUSH FS / PUSH GS: the selector zero-extended to 8 bytes (2 with 66). */
const pushSw: Handler = (cpu, i) => {
  push(cpu, opSize(cpu, i), cpu.segSel[cpu.dc.reg[i]!]! & 0xffff, 0);
};

/**
 * POP FS / POP GS: RSP moves only after the segment load succeeded (a fault is delivered
 * at once, on the stack as it was).
 */
const popSw: Handler = (cpu, i) => {
  const seg = cpu.dc.reg[i]!;
  if (seg === CS) return raiseFault(cpu, UD_VECTOR, -1);
  const size = opSize(cpu, i);
  const lo = cpu.regs[ESP]!;
  const hi = cpu.regsHi[ESP]!;
  const v = read64(cpu, SS, lo, hi, 2);
  if (faulted(cpu)) return;
  if (size === 64) {
    // The whole slot must be readable.
    readQ(cpu, SS, lo, hi);
    if (faulted(cpu)) return;
  }
  if (!loadSegment64(cpu, seg, v & 0xffff)) return;
  cpu.regs[ESP] = addr64(cpu, lo, hi, size >> 3);
  cpu.regsHi[ESP] = cpu.st[EA_HI]!;
  if (seg === SS) ssShadow(cpu);
};

// LAR, LSL, VERR, VERW ----------------------------------------------------------------------

/** System types LAR reports in IA-32e mode: LDT, 64-bit TSS (available, busy), call gate. */
function larType(type: number): boolean {
  return type >= 0x10 || type === 2 || type === 9 || type === 11 || type === 12;
}
/** System types LSL reports in IA-32e mode: LDT and 64-bit TSS. */
function lslType(type: number): boolean {
  return type >= 0x10 || type === 2 || type === 9 || type === 11;
}

/** Can the descriptor in DESC be seen at this CPL with `rpl` (conforming code always)? */
function visible(cpu: X86Cpu, rpl: number): boolean {
  const hi = DESC[1]!;
  if ((descType(hi) & 0x1c) === 0x1c) return true;
  const dpl = descDpl(hi);
  return dpl >= cpu.st[CPL]! && dpl >= rpl;
}

/** The descriptor a LAR/LSL/VERx selector names, into DESC; false when there is none. */
function query(cpu: X86Cpu, sel: number): boolean {
  if ((sel & 0xfffc) === 0) return false;
  return fetchDescriptor(cpu, sel);
}

function setZF(cpu: X86Cpu, ok: boolean): void {
  setArithFlags(cpu.st, FLAG_ZF, ok ? FLAG_ZF : 0);
}

/** LAR / LSL Gv, Ew: ZF = 1 and the access rights / limit zero-extended into Gv. */
function larLsl(lsl: boolean): Handler {
  return (cpu, i) => {
    const sel = readE(cpu, i, 16, (cpu.dc.flags[i]! & F_MEM) !== 0);
    if (faulted(cpu)) return;
    let ok = query(cpu, sel);
    if (faulted(cpu)) return;
    const lo = DESC[0]!;
    const hi = DESC[1]!;
    if (ok) ok = (lsl ? lslType(descType(hi)) : larType(descType(hi))) && visible(cpu, sel & 3);
    setZF(cpu, ok);
    if (!ok) return;
    const size = opSize(cpu, i);
    const v = lsl ? descLimit(lo, hi) : hi & (size === 16 ? 0xff00 : 0x00ff_ff00);
    setReg(cpu, cpu.dc.reg[i]!, size, size === 16 ? v & 0xffff : v, 0);
  };
}

/** VERR / VERW Ew: ZF = 1 when the segment is readable / writable from here. */
function verx(write: boolean): Handler {
  return (cpu, i) => {
    const sel = readE(cpu, i, 16, (cpu.dc.flags[i]! & F_MEM) !== 0);
    if (faulted(cpu)) return;
    let ok = query(cpu, sel);
    if (faulted(cpu)) return;
    if (ok) {
      const type = descType(DESC[1]!);
      if ((type & 0x10) === 0) ok = false;
      else if (write) ok = (type & 0x0a) === 0x02 && visible(cpu, sel & 3);
      else ok = (type & 0x0a) !== 0x08 && visible(cpu, sel & 3);
    }
    setZF(cpu, ok);
  };
}

// The table --------------------------------------------------------------------------------

function forms(make: (isMem: boolean) => Handler): FormSplit {
  return { reg: make(false), mem: make(true) };
}

/**
 * LSS / LFS / LGS Gv, Mp: offset (2, 4 or 8 bytes) then selector from memory; the
 * segment loads before the register is written, so a fault changes neither.
 */
function loadFar(seg: number): Handler {
  return (cpu, i) => {
    const size = opSize(cpu, i);
    const st = cpu.st;
    const lo = ea64(cpu, i);
    const hi = st[EA_HI]!;
    const s = cpu.dc.seg[i]!;
    const off = size === 64 ? readQ(cpu, s, lo, hi) : read64(cpu, s, lo, hi, size >> 3);
    if (faulted(cpu)) return;
    const offHi = size === 64 ? st[VAL_HI]! : 0;
    const at = addr64(cpu, lo, hi, size >> 3);
    const sel = read64(cpu, s, at, st[EA_HI]!, 2);
    if (faulted(cpu)) return;
    if (!loadSegment64(cpu, seg, sel & 0xffff)) return;
    setReg(cpu, cpu.dc.reg[i]!, size, off, offHi);
    if (seg === SS) ssShadow(cpu);
  };
}

export const LONG_MISC: Readonly<Record<string, HandlerSpec>> = {
  lss_Gv_Mp: loadFar(SS),
  lfs_Gv_Mp: loadFar(FS),
  lgs_Gv_Mp: loadFar(GS),
  movs_Yb_Xb: movs(1),
  movs_Yv_Xv: vSized(movs),
  stos_Yb_Zb: stos(1),
  stos_Yv_Zv: vSized(stos),
  lods_Zb_Xb: lods(1),
  lods_Zv_Xv: vSized(lods),
  cmps_Xb_Yb: compare(1, false),
  cmps_Xv_Yv: vSized((s) => compare(s, false)),
  scas_Zb_Yb: compare(1, true),
  scas_Zv_Yv: vSized((s) => compare(s, true)),
  ins_Yb_DX: ins(1),
  ins_Yz_DX: zSized(ins),
  outs_DX_Xb: outs(1),
  outs_DX_Xz: zSized(outs),
  loop_Jb: loop(0),
  loope_Jb: loop(1),
  loopne_Jb: loop(2),
  jcxz_Jb: jrcxz,
  pushf_Fv: pushf,
  popf_Fv: popf,
  enter_Iw_Ib: enter,
  int_Ib: intN,
  int3,
  int1,
  in_Zb_Ib: io(true, false, true),
  in_Zv_Ib: io(true, false, false),
  out_Ib_Zb: io(false, false, true),
  out_Ib_Zv: io(false, false, false),
  in_Zb_DX: io(true, true, true),
  in_Zv_DX: io(true, true, false),
  out_DX_Zb: io(false, true, true),
  out_DX_Zv: io(false, true, false),
  mov_Sw_Ew: forms(movSw),
  mov_Ev_Sw: forms(movEvSw),
  push_Sw: pushSw,
  pop_Sw: popSw,
  lar_Gv_Ew: larLsl(false),
  lsl_Gv_Ew: larLsl(true),
  verr_Ew: verx(false),
  verw_Ew: verx(true),
};
