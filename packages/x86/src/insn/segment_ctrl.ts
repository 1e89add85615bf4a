/**
 * Segment register loads (Bochs segment_ctrl.cc, segment_ctrl_pro.cc): MOV Sreg, MOV from
 * Sreg, PUSH/POP Sreg, LDS/LES/LSS/LFS/LGS, and `loadSegment`, the protected-mode checks
 * of SDM Vol. 3 §5.4–5.6 and the MOV/POP/LDS pages of Vol. 2 that every data-segment and
 * stack-segment load goes through.
 */
import {
  ea,
  getSp,
  linRead8,
  linWrite8,
  readMem16,
  readMem32,
  recomputeSegment,
  spOffset,
  stack32,
  writeMem16,
} from "../access.js";
import type { X86Cpu } from "../cpu.js";
import {
  DESC,
  descDpl,
  descPresent,
  descType,
  fetchDescriptor,
  loadNullSegment,
  loadSegmentCache,
  loadSegmentReal,
} from "../descriptor.js";
import { raiseFault } from "../exception.js";
import type { HandlerSpec } from "../handlers.js";
import { F_A32 } from "../instr.js";
import {
  AR_P,
  AR_S,
  AR_TYPE_ACCESSED,
  AR_TYPE_RW,
  CS,
  DS,
  ES,
  ESP,
  FLAG_VM,
  FS,
  GP_VECTOR,
  GS,
  NP_VECTOR,
  SS,
  SS_VECTOR,
  UD_VECTOR,
} from "../regs.js";
import { CPL, FLAGS, INHIBIT, PENDING } from "../state.js";
import { faulted } from "./common.js";

/** True in virtual-8086 mode (CR0.PE = 1, EFLAGS.VM = 1). */
export function v86Mode(cpu: X86Cpu): boolean {
  return (cpu.st[FLAGS]! & FLAG_VM) !== 0 && !cpu.realMode;
}

/** Real mode or virtual-8086 mode: segments are loaded as selector × 16. */
export function realOrV86(cpu: X86Cpu): boolean {
  return cpu.realMode || (cpu.st[FLAGS]! & FLAG_VM) !== 0;
}

/**
 * Set the accessed bit of the descriptor DESC holds (fetchDescriptor left its linear
 * address in DESC[2]), in memory and in DESC[1] (SDM §3.4.5.1).
 */
export function setAccessed(cpu: X86Cpu): void {
  if ((DESC[1]! & 0x100) !== 0) return;
  const at = (DESC[2]! + 5) | 0;
  linWrite8(cpu, at, linRead8(cpu, at) | 1);
  DESC[1] = DESC[1]! | 0x100;
}

/**
 * A VM86-mode segment load: base = selector × 16, 64 KiB, DPL 3 read/write data — CS too,
 * as the processor holds it (VM entry demands access rights 0xF3 for every segment in
 * virtual-8086 mode, SDM Vol. 3C §27.3.1.2, and a VM exit saves what the processor holds).
 */
export function loadSegmentV86(cpu: X86Cpu, seg: number, selector: number): void {
  cpu.segSel[seg] = selector;
  cpu.segBase[seg] = (selector & 0xffff) << 4;
  cpu.segBaseHi[seg] = 0;
  cpu.segLimit[seg] = 0xffff;
  cpu.segAr[seg] = AR_P | AR_S | (3 << 5) | AR_TYPE_RW | AR_TYPE_ACCESSED;
}

/**
 * Load data or stack segment register `seg` (ES, SS, DS, FS, GS) with `selector` as MOV,
 * POP and LxS do (SDM Vol. 2 MOV "Operation"; Vol. 3 §5.4–5.6). Returns false after
 * raising #GP/#SS/#NP; on success the cache and the derived checks are updated.
 */
export function loadSegment(cpu: X86Cpu, seg: number, selector: number): boolean {
  const sel = selector & 0xffff;
  if (cpu.realMode) {
    loadSegmentReal(cpu, seg, sel);
    recomputeSegment(cpu, seg);
    return true;
  }
  if ((cpu.st[FLAGS]! & FLAG_VM) !== 0) {
    loadSegmentV86(cpu, seg, sel);
    recomputeSegment(cpu, seg);
    return true;
  }
  const err = sel & 0xfffc;
  if (err === 0) {
    if (seg === SS) {
      raiseFault(cpu, GP_VECTOR, 0);
      return false;
    }
    loadNullSegment(cpu, seg, sel);
    recomputeSegment(cpu, seg);
    return true;
  }
  if (!fetchDescriptor(cpu, sel)) {
    if (!faulted(cpu)) raiseFault(cpu, GP_VECTOR, err);
    return false;
  }
  const hi = DESC[1]!;
  const type = descType(hi);
  const dpl = descDpl(hi);
  const rpl = sel & 3;
  const cpl = cpu.st[CPL]!;
  if (seg === SS) {
    // A writable data segment at exactly CPL.
    if (rpl !== cpl || (type & 0x1a) !== 0x12 || dpl !== cpl) {
      raiseFault(cpu, GP_VECTOR, err);
      return false;
    }
    if (!descPresent(hi)) {
      raiseFault(cpu, SS_VECTOR, err);
      return false;
    }
  } else {
    // Data, or readable code; data and non-conforming code also need RPL, CPL ≤ DPL.
    if ((type & 0x10) === 0 || (type & 0x1a) === 0x18) {
      raiseFault(cpu, GP_VECTOR, err);
      return false;
    }
    if ((type & 0x1c) !== 0x1c && (rpl > dpl || cpl > dpl)) {
      raiseFault(cpu, GP_VECTOR, err);
      return false;
    }
    if (!descPresent(hi)) {
      raiseFault(cpu, NP_VECTOR, err);
      return false;
    }
  }
  setAccessed(cpu);
  if (faulted(cpu)) return false;
  loadSegmentCache(cpu, seg, sel, DESC[0]!, DESC[1]!);
  recomputeSegment(cpu, seg);
  return true;
}

/** After MOV SS / POP SS: no interrupt, NMI or debug trap until the next instruction retires. */
function ssShadow(cpu: X86Cpu): void {
  cpu.st[INHIBIT] = 2;
  cpu.st[PENDING] = 1;
}

/** MOV Sreg with a valid Sreg field (not CS, not 6/7), then the shadow for SS. */
function movSreg(cpu: X86Cpu, seg: number, selector: number): void {
  if (!loadSegment(cpu, seg, selector)) return;
  if (seg === SS) ssShadow(cpu);
}

const movSwReg = (cpu: X86Cpu, i: number) => {
  const seg = cpu.dc.reg[i]!;
  if (seg === CS || seg > GS) return raiseFault(cpu, UD_VECTOR, -1);
  movSreg(cpu, seg, cpu.r16[cpu.dc.rm[i]! << 1]!);
};
const movSwMem = (cpu: X86Cpu, i: number) => {
  const seg = cpu.dc.reg[i]!;
  if (seg === CS || seg > GS) return raiseFault(cpu, UD_VECTOR, -1);
  const v = readMem16(cpu, cpu.dc.seg[i]!, ea(cpu, i));
  if (faulted(cpu)) return;
  movSreg(cpu, seg, v);
};

const movEvSwMem = (cpu: X86Cpu, i: number) => {
  const seg = cpu.dc.reg[i]!;
  if (seg > GS) return raiseFault(cpu, UD_VECTOR, -1);
  writeMem16(cpu, cpu.dc.seg[i]!, ea(cpu, i), cpu.segSel[seg]!);
};

/**
 * POP Sreg: read the selector, load it, then move the stack pointer by the operand size
 * as the old stack's B bit says (Bochs POP16_Sw: RSP commits after the load).
 */
function popSreg(cpu: X86Cpu, i: number, size: number): void {
  const seg = cpu.dc.reg[i]!;
  const big = stack32(cpu);
  const sp = getSp(cpu);
  const v = size === 2 ? readMem16(cpu, SS, sp) : readMem32(cpu, SS, sp);
  if (faulted(cpu)) return;
  const next = spOffset(cpu, size);
  if (!loadSegment(cpu, seg, v & 0xffff)) return;
  if (big) cpu.regs[ESP] = next;
  else cpu.r16[ESP << 1] = next;
  if (seg === SS) ssShadow(cpu);
}

/** The far pointer of LxS: offset (16 or 32 bits) then selector, at the address wrap. */
function loadFarPointer(cpu: X86Cpu, i: number, seg: number, size: number): void {
  const dc = cpu.dc;
  const s = dc.seg[i]!;
  const a = ea(cpu, i);
  const off = size === 2 ? readMem16(cpu, s, a) : readMem32(cpu, s, a);
  if (faulted(cpu)) return;
  const selAt = dc.flags[i]! & F_A32 ? (a + size) | 0 : (a + size) & 0xffff;
  const sel = readMem16(cpu, s, selAt);
  if (faulted(cpu)) return;
  if (!loadSegment(cpu, seg, sel)) return;
  if (size === 2) cpu.r16[dc.reg[i]! << 1] = off;
  else cpu.regs[dc.reg[i]!] = off;
}

function lxs(seg: number): HandlerSpec {
  return {
    o16: (cpu, i) => loadFarPointer(cpu, i, seg, 2),
    o32: (cpu, i) => loadFarPointer(cpu, i, seg, 4),
  };
}

export const SEGMENT_CTRL: Readonly<Record<string, HandlerSpec>> = {
  mov_Sw_Ew: { reg: movSwReg, mem: movSwMem },
  mov_Ev_Sw: {
    o16: {
      reg: (cpu, i) => {
        const seg = cpu.dc.reg[i]!;
        if (seg > GS) return raiseFault(cpu, UD_VECTOR, -1);
        cpu.r16[cpu.dc.rm[i]! << 1] = cpu.segSel[seg]!;
      },
      mem: movEvSwMem,
    },
    o32: {
      reg: (cpu, i) => {
        const seg = cpu.dc.reg[i]!;
        if (seg > GS) return raiseFault(cpu, UD_VECTOR, -1);
        cpu.regs[cpu.dc.rm[i]!] = cpu.segSel[seg]!;
      },
      mem: movEvSwMem,
    },
  },
  push_Sw: {
    o16: (cpu, i) => {
      const sp = spOffset(cpu, -2);
      writeMem16(cpu, SS, sp, cpu.segSel[cpu.dc.reg[i]!]!);
      if (faulted(cpu)) return;
      if (stack32(cpu)) cpu.regs[ESP] = sp;
      else cpu.r16[ESP << 1] = sp;
    },
    // A 16-bit store into the 4-byte slot, as recent Intel processors do (SDM PUSH).
    o32: (cpu, i) => {
      const sp = spOffset(cpu, -4);
      writeMem16(cpu, SS, sp, cpu.segSel[cpu.dc.reg[i]!]!);
      if (faulted(cpu)) return;
      if (stack32(cpu)) cpu.regs[ESP] = sp;
      else cpu.r16[ESP << 1] = sp;
    },
  },
  pop_Sw: {
    o16: (cpu, i) => {
      if (cpu.dc.reg[i] === CS) return raiseFault(cpu, UD_VECTOR, -1);
      popSreg(cpu, i, 2);
    },
    o32: (cpu, i) => {
      if (cpu.dc.reg[i] === CS) return raiseFault(cpu, UD_VECTOR, -1);
      popSreg(cpu, i, 4);
    },
  },
  les_Gz_Mp: lxs(ES),
  lds_Gz_Mp: lxs(DS),
  lss_Gv_Mp: lxs(SS),
  lfs_Gv_Mp: lxs(FS),
  lgs_Gv_Mp: lxs(GS),
};
