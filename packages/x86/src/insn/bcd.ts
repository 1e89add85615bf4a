/**
 * Decimal adjust (Bochs bcd.cc): DAA DAS AAA AAS AAM AAD, and SALC (SDM Vol. 2, each by
 * name; SALC is the undocumented D6: AL = CF ? FF : 00, flags unchanged).
 *
 * DAA/DAS set SF ZF PF from AL (OF undefined: left 0). AAA/AAS change AX as the 286 and
 * later do (AX ± 0x106, so a carry out of AL reaches AH) and define only AF and CF (the
 * others follow AL). AAM/AAD define SF ZF PF from AL (OF AF CF undefined: 0). AAM 0
 * raises #DE with AL and AH unchanged.
 */
import type { X86Cpu } from "../cpu.js";
import { raiseFault } from "../exception.js";
import type { HandlerSpec } from "../handlers.js";
import { FLAG_AF, FLAG_CF, getAF, getCF } from "../lazy_flags.js";
import { DE_VECTOR } from "../regs.js";
import { LF_CARRY, LF_OP, LF_RES, LF_RESULT, LF_SIZE } from "../state.js";

/** Record the flags of a new AL: SF/ZF/PF from `al`, CF/AF/OF from `carry` bits. */
function alFlags(cpu: X86Cpu, al: number, carry: number): void {
  const st = cpu.st;
  st[LF_OP] = LF_RESULT;
  st[LF_SIZE] = 8;
  st[LF_RES] = al;
  st[LF_CARRY] = carry;
}

export const BCD: Readonly<Record<string, HandlerSpec>> = {
  daa: (cpu) => {
    const old = cpu.r8[0]!;
    const cf = getCF(cpu.st);
    let al = old;
    let carry = 0;
    if ((old & 0x0f) > 9 || getAF(cpu.st)) {
      al = (al + 6) & 0xff;
      carry = FLAG_AF;
    }
    if (old > 0x99 || cf) {
      al = (al + 0x60) & 0xff;
      carry |= FLAG_CF;
    }
    cpu.r8[0] = al;
    alFlags(cpu, al, carry);
  },
  das: (cpu) => {
    const old = cpu.r8[0]!;
    const cf = getCF(cpu.st);
    let al = old;
    let carry = 0;
    if ((old & 0x0f) > 9 || getAF(cpu.st)) {
      al = (al - 6) & 0xff;
      carry = FLAG_AF | (cf || old < 6 ? FLAG_CF : 0);
    }
    if (old > 0x99 || cf) {
      al = (al - 0x60) & 0xff;
      carry |= FLAG_CF;
    }
    cpu.r8[0] = al;
    alFlags(cpu, al, carry);
  },
  aaa: (cpu) => {
    if ((cpu.r8[0]! & 0x0f) > 9 || getAF(cpu.st)) {
      cpu.r16[0] = cpu.r16[0]! + 0x106;
      cpu.r8[0] = cpu.r8[0]! & 0x0f;
      alFlags(cpu, cpu.r8[0]!, FLAG_AF | FLAG_CF);
    } else {
      cpu.r8[0] = cpu.r8[0]! & 0x0f;
      alFlags(cpu, cpu.r8[0]!, 0);
    }
  },
  aas: (cpu) => {
    if ((cpu.r8[0]! & 0x0f) > 9 || getAF(cpu.st)) {
      cpu.r16[0] = cpu.r16[0]! - 0x106;
      cpu.r8[0] = cpu.r8[0]! & 0x0f;
      alFlags(cpu, cpu.r8[0]!, FLAG_AF | FLAG_CF);
    } else {
      cpu.r8[0] = cpu.r8[0]! & 0x0f;
      alFlags(cpu, cpu.r8[0]!, 0);
    }
  },
  aam_Ib: (cpu, i) => {
    const base = cpu.dc.imm[i]! & 0xff;
    if (base === 0) {
      // The 286 has begun dividing when it faults: the pushed SF ZF PF are those of
      // AL >> 1 (seen in all the SingleStepTests vectors); nothing else changes.
      alFlags(cpu, cpu.r8[0]! >> 1, 0);
      return raiseFault(cpu, DE_VECTOR, -1);
    }
    const al = cpu.r8[0]!;
    cpu.r8[1] = (al / base) | 0;
    cpu.r8[0] = al % base;
    alFlags(cpu, cpu.r8[0]!, 0);
  },
  aad_Ib: (cpu, i) => {
    const al = (cpu.r8[0]! + cpu.r8[1]! * (cpu.dc.imm[i]! & 0xff)) & 0xff;
    cpu.r16[0] = al;
    alFlags(cpu, al, 0);
  },
  salc: (cpu) => {
    cpu.r8[0] = getCF(cpu.st) ? 0xff : 0;
  },
};
