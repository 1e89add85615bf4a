/**
 * Stack instructions (Bochs stack16.cc / stack32.cc, flag_ctrl.cc for PUSHF/POPF): PUSH and
 * POP of registers, memory and immediates, PUSHA/POPA, PUSHF/POPF, ENTER, LEAVE. The stack
 * pointer is SP or ESP by SS.B (access.ts `stack32`); the operand size picks the width of
 * what is pushed. Every instruction commits ESP only after its last access that can fault,
 * so a faulting PUSH/POP leaves ESP as it was (SDM Vol. 2 PUSH, POP, PUSHA, ENTER).
 */
import {
  ea,
  getSp,
  probeWrite,
  push16,
  push32,
  readMem16,
  readMem32,
  setSp,
  spOffset,
  stack32,
  writeMem16,
  writeMem32,
} from "../access.js";
import type { X86Cpu } from "../cpu.js";
import { raiseFault } from "../exception.js";
import type { HandlerSpec } from "../handlers.js";
import { getFlags, setFlags } from "../lazy_flags.js";
import {
  CR4_VME,
  EBP,
  ESP,
  FLAG_AC,
  FLAG_ID,
  FLAG_IF,
  FLAG_IOPL,
  FLAG_RF,
  FLAG_TF,
  FLAG_VIF,
  FLAG_VIP,
  FLAG_VM,
  GP_VECTOR,
  SS,
} from "../regs.js";
import { CPL, CR4, FLAGS, PENDING } from "../state.js";
import { faulted } from "./common.js";

// ---------------------------------------------------------------------------
// PUSH / POP

const pushEv16 = {
  reg: (cpu: X86Cpu, i: number) => push16(cpu, cpu.r16[cpu.dc.rm[i]! << 1]!),
  mem: (cpu: X86Cpu, i: number) => {
    const v = readMem16(cpu, cpu.dc.seg[i]!, ea(cpu, i));
    if (!faulted(cpu)) push16(cpu, v);
  },
};
const pushEv32 = {
  reg: (cpu: X86Cpu, i: number) => push32(cpu, cpu.regs[cpu.dc.rm[i]!]!),
  mem: (cpu: X86Cpu, i: number) => {
    const v = readMem32(cpu, cpu.dc.seg[i]!, ea(cpu, i));
    if (!faulted(cpu)) push32(cpu, v);
  },
};

/**
 * POP to memory: the effective address is computed with ESP already incremented (SDM
 * Vol. 2 POP), but ESP is committed only after the store succeeded, so a fault is
 * delivered on the original stack.
 */
function popMem(cpu: X86Cpu, i: number, size: 2 | 4): void {
  const v = size === 2 ? readMem16(cpu, SS, getSp(cpu)) : readMem32(cpu, SS, getSp(cpu));
  if (faulted(cpu)) return;
  const regs = cpu.regs;
  const old = regs[ESP]!;
  const sp = spOffset(cpu, size);
  setSp(cpu, sp);
  const addr = ea(cpu, i);
  regs[ESP] = old;
  if (size === 2) writeMem16(cpu, cpu.dc.seg[i]!, addr, v);
  else writeMem32(cpu, cpu.dc.seg[i]!, addr, v);
  if (!faulted(cpu)) setSp(cpu, sp);
}

const popEv16 = {
  // POP SP: the popped value replaces the incremented SP.
  reg: (cpu: X86Cpu, i: number) => {
    const v = readMem16(cpu, SS, getSp(cpu));
    if (faulted(cpu)) return;
    setSp(cpu, spOffset(cpu, 2));
    cpu.r16[cpu.dc.rm[i]! << 1] = v;
  },
  mem: (cpu: X86Cpu, i: number) => popMem(cpu, i, 2),
};
const popEv32 = {
  reg: (cpu: X86Cpu, i: number) => {
    const v = readMem32(cpu, SS, getSp(cpu));
    if (faulted(cpu)) return;
    setSp(cpu, spOffset(cpu, 4));
    cpu.regs[cpu.dc.rm[i]!] = v;
  },
  mem: (cpu: X86Cpu, i: number) => popMem(cpu, i, 4),
};

const pushImm = {
  o16: (cpu: X86Cpu, i: number) => push16(cpu, cpu.dc.imm[i]!),
  o32: (cpu: X86Cpu, i: number) => push32(cpu, cpu.dc.imm[i]!),
};

// ---------------------------------------------------------------------------
// PUSHA / POPA

/** Stack offset `delta` from `sp`, wrapped to the stack size. */
function spAdd(big: boolean, sp: number, delta: number): number {
  return big ? (sp + delta) | 0 : (sp + delta) & 0xffff;
}

function pusha16(cpu: X86Cpu): void {
  const big = stack32(cpu);
  const sp = getSp(cpu);
  const r16 = cpu.r16;
  // AX CX DX BX SP(original) BP SI DI, from the highest address down.
  for (let n = 0; n < 8; n++) {
    writeMem16(cpu, SS, spAdd(big, sp, -2 * (n + 1)), r16[n << 1]!);
    if (faulted(cpu)) return;
  }
  setSp(cpu, spAdd(big, sp, -16));
}

function pusha32(cpu: X86Cpu): void {
  const big = stack32(cpu);
  const sp = getSp(cpu);
  const regs = cpu.regs;
  for (let n = 0; n < 8; n++) {
    writeMem32(cpu, SS, spAdd(big, sp, -4 * (n + 1)), regs[n]!);
    if (faulted(cpu)) return;
  }
  setSp(cpu, spAdd(big, sp, -32));
}

const POPA_TMP = new Int32Array(8);

function popa16(cpu: X86Cpu): void {
  const big = stack32(cpu);
  const sp = getSp(cpu);
  for (let n = 7; n >= 0; n--) {
    POPA_TMP[n] = readMem16(cpu, SS, spAdd(big, sp, 2 * (7 - n)));
    if (faulted(cpu)) return;
  }
  const r16 = cpu.r16;
  for (let n = 0; n < 8; n++) if (n !== ESP) r16[n << 1] = POPA_TMP[n]!;
  setSp(cpu, spAdd(big, sp, 16));
}

function popa32(cpu: X86Cpu): void {
  const big = stack32(cpu);
  const sp = getSp(cpu);
  for (let n = 7; n >= 0; n--) {
    POPA_TMP[n] = readMem32(cpu, SS, spAdd(big, sp, 4 * (7 - n)));
    if (faulted(cpu)) return;
  }
  const regs = cpu.regs;
  for (let n = 0; n < 8; n++) if (n !== ESP) regs[n] = POPA_TMP[n]!;
  setSp(cpu, spAdd(big, sp, 32));
}

// ---------------------------------------------------------------------------
// PUSHF / POPF (SDM Vol. 2 PUSHF, POPF; Vol. 3 §20.2.5 for VME)

const IOPL_SHIFT = 12;

/** EFLAGS bits a 32-bit POPF may change at CPL 0 (RF, VM, VIF, VIP never). */
const POPF32_BITS = 0x0000_7fd5 | FLAG_AC | FLAG_ID;
/** EFLAGS bits a 16-bit POPF may change at CPL 0. */
const POPF16_BITS = 0x0000_7fd5;

function inVm86(cpu: X86Cpu): boolean {
  return (cpu.st[FLAGS]! & FLAG_VM) !== 0;
}

/** VM86 with IOPL < 3: the IOPL-sensitive instruction either uses VME or faults. */
function vm86Sensitive(cpu: X86Cpu): boolean {
  return inVm86(cpu) && (cpu.st[FLAGS]! & FLAG_IOPL) !== FLAG_IOPL;
}

function pushf16(cpu: X86Cpu): void {
  let f = getFlags(cpu.st) & 0xffff;
  if (vm86Sensitive(cpu)) {
    if ((cpu.st[CR4]! & CR4_VME) === 0) {
      raiseFault(cpu, GP_VECTOR, 0);
      return;
    }
    // VME: IF reads as VIF, IOPL as 3.
    f = (f & ~FLAG_IF) | FLAG_IOPL | (cpu.st[FLAGS]! & FLAG_VIF ? FLAG_IF : 0);
  }
  push16(cpu, f);
}

function pushf32(cpu: X86Cpu): void {
  if (vm86Sensitive(cpu)) {
    raiseFault(cpu, GP_VECTOR, 0);
    return;
  }
  push32(cpu, getFlags(cpu.st) & ~(FLAG_VM | FLAG_RF));
}

function popf(cpu: X86Cpu, o32: boolean): void {
  const st = cpu.st;
  const v = o32 ? readMem32(cpu, SS, getSp(cpu)) : readMem16(cpu, SS, getSp(cpu));
  if (faulted(cpu)) return;
  const old = getFlags(st);
  let bits = o32 ? POPF32_BITS : POPF16_BITS;
  let vif = old & FLAG_VIF;
  if (cpu.realMode) {
    // Real mode runs at CPL 0: everything but RF/VM/VIF/VIP.
  } else if ((old & FLAG_VM) === 0) {
    const cpl = st[CPL]!;
    if (cpl > 0) {
      bits &= ~FLAG_IOPL;
      if (cpl > (old & FLAG_IOPL) >>> IOPL_SHIFT) bits &= ~FLAG_IF;
    }
  } else if ((old & FLAG_IOPL) === FLAG_IOPL) {
    bits &= ~FLAG_IOPL;
  } else if (!o32 && st[CR4]! & CR4_VME) {
    if (v & FLAG_TF || (old & FLAG_VIP && v & FLAG_IF)) {
      raiseFault(cpu, GP_VECTOR, 0);
      return;
    }
    bits &= ~(FLAG_IOPL | FLAG_IF);
    vif = v & FLAG_IF ? FLAG_VIF : 0;
  } else {
    raiseFault(cpu, GP_VECTOR, 0);
    return;
  }
  setSp(cpu, spOffset(cpu, o32 ? 4 : 2));
  let f = (old & ~bits) | (v & bits);
  f = (f & ~FLAG_VIF) | vif;
  if (o32) f &= ~FLAG_RF;
  setFlags(st, f);
  // IF or TF may have changed: look at pending events before the next instruction.
  st[PENDING] = 1;
}

// ---------------------------------------------------------------------------
// ENTER / LEAVE (SDM Vol. 2 ENTER: the frame-building algorithm)

function enter(cpu: X86Cpu, i: number, o32: boolean): void {
  const alloc = cpu.dc.imm[i]! & 0xffff;
  const level = cpu.dc.imm2[i]! & 31;
  const big = stack32(cpu);
  const regs = cpu.regs;
  const size = o32 ? 4 : 2;
  let sp = getSp(cpu);
  // Push (E)BP.
  sp = spAdd(big, sp, -size);
  if (o32) writeMem32(cpu, SS, sp, regs[EBP]!);
  else writeMem16(cpu, SS, sp, regs[EBP]!);
  if (faulted(cpu)) return;
  const frame = sp;
  if (level > 0) {
    let bp = big ? regs[EBP]! : regs[EBP]! & 0xffff;
    for (let n = 1; n < level; n++) {
      bp = spAdd(big, bp, -size);
      const v = o32 ? readMem32(cpu, SS, bp) : readMem16(cpu, SS, bp);
      if (faulted(cpu)) return;
      sp = spAdd(big, sp, -size);
      if (o32) writeMem32(cpu, SS, sp, v);
      else writeMem16(cpu, SS, sp, v);
      if (faulted(cpu)) return;
    }
    sp = spAdd(big, sp, -size);
    if (o32) writeMem32(cpu, SS, sp, frame);
    else writeMem16(cpu, SS, sp, frame);
    if (faulted(cpu)) return;
  }
  sp = spAdd(big, sp, -alloc);
  // #SS(0) when the new stack pointer is outside the segment (checked, not written).
  if (!probeWrite(cpu, SS, sp, size)) return;
  if (o32) regs[EBP] = frame;
  else cpu.r16[EBP << 1] = frame;
  setSp(cpu, sp);
}

function leave(cpu: X86Cpu, o32: boolean): void {
  const big = stack32(cpu);
  const bp = big ? cpu.regs[EBP]! : cpu.regs[EBP]! & 0xffff;
  const v = o32 ? readMem32(cpu, SS, bp) : readMem16(cpu, SS, bp);
  if (faulted(cpu)) return;
  setSp(cpu, spAdd(big, bp, o32 ? 4 : 2));
  if (o32) cpu.regs[EBP] = v;
  else cpu.r16[EBP << 1] = v;
}

export const STACK: Readonly<Record<string, HandlerSpec>> = {
  // PUSH r16/r32 (50+r) decodes as push_Zv and normalizes to push_Ev's register form.
  push_Ev: { o16: pushEv16, o32: pushEv32 },
  pop_Ev: { o16: popEv16, o32: popEv32 },
  push_Iz: pushImm,
  push_Ib: pushImm,
  pusha: { o16: pusha16, o32: pusha32 },
  popa: { o16: popa16, o32: popa32 },
  pushf_Fv: { o16: pushf16, o32: pushf32 },
  popf_Fv: { o16: (cpu) => popf(cpu, false), o32: (cpu) => popf(cpu, true) },
  enter_Iw_Ib: {
    o16: (cpu, i) => enter(cpu, i, false),
    o32: (cpu, i) => enter(cpu, i, true),
  },
  leave: { o16: (cpu) => leave(cpu, false), o32: (cpu) => leave(cpu, true) },
};
