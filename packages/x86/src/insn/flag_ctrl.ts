/**
 * Flag control (Bochs flag_ctrl.cc): CLC STC CMC CLD STD CLI STI LAHF SAHF. CLI and STI
 * are IOPL-sensitive outside real mode, with the virtual-interrupt forms of CR4.PVI
 * (protected mode, CPL 3) and CR4.VME (VM86) (SDM Vol. 2 CLI/STI, Vol. 3 §20.4).
 */
import type { X86Cpu } from "../cpu.js";
import { raiseFault } from "../exception.js";
import type { HandlerSpec } from "../handlers.js";
import { getCF, getFlags, setArithFlags } from "../lazy_flags.js";
import {
  CR4_PVI,
  CR4_VME,
  FLAG_AF,
  FLAG_CF,
  FLAG_DF,
  FLAG_IF,
  FLAG_IOPL,
  FLAG_PF,
  FLAG_SF,
  FLAG_VIF,
  FLAG_VIP,
  FLAG_VM,
  FLAG_ZF,
  GP_VECTOR,
} from "../regs.js";
import { CPL, CR4, FLAGS, INHIBIT, PENDING } from "../state.js";

/** The flags SAHF loads from AH and LAHF stores (bit 1 always reads 1). */
const AH_FLAGS = FLAG_SF | FLAG_ZF | FLAG_AF | FLAG_PF | FLAG_CF;

const MAY_IF = 0;
const MAY_VIF = 1;
const DENIED = 2;

/**
 * What CLI/STI may change here: IF when CPL <= IOPL (always in real mode; IOPL = 3 in
 * VM86), VIF under CR4.VME in VM86 or CR4.PVI at CPL 3, else nothing (#GP(0)).
 */
function ifAccess(cpu: X86Cpu): number {
  if (cpu.realMode) return MAY_IF;
  const st = cpu.st;
  const f = st[FLAGS]!;
  const iopl = (f & FLAG_IOPL) >>> 12;
  if (f & FLAG_VM) {
    if (iopl === 3) return MAY_IF;
    return st[CR4]! & CR4_VME ? MAY_VIF : DENIED;
  }
  const cpl = st[CPL]!;
  if (cpl <= iopl) return MAY_IF;
  return cpl === 3 && st[CR4]! & CR4_PVI ? MAY_VIF : DENIED;
}

export const FLAG_CTRL: Readonly<Record<string, HandlerSpec>> = {
  clc: (cpu) => setArithFlags(cpu.st, FLAG_CF, 0),
  stc: (cpu) => setArithFlags(cpu.st, FLAG_CF, FLAG_CF),
  cmc: (cpu) => setArithFlags(cpu.st, FLAG_CF, getCF(cpu.st) ^ 1),
  cld: (cpu) => {
    cpu.st[FLAGS] = cpu.st[FLAGS]! & ~FLAG_DF;
  },
  std: (cpu) => {
    cpu.st[FLAGS] = cpu.st[FLAGS]! | FLAG_DF;
  },
  cli: (cpu) => {
    const st = cpu.st;
    switch (ifAccess(cpu)) {
      case MAY_IF:
        st[FLAGS] = st[FLAGS]! & ~FLAG_IF;
        return;
      case MAY_VIF:
        st[FLAGS] = st[FLAGS]! & ~FLAG_VIF;
        return;
      default:
        raiseFault(cpu, GP_VECTOR, 0);
    }
  },
  sti: (cpu) => {
    const st = cpu.st;
    const f = st[FLAGS]!;
    switch (ifAccess(cpu)) {
      case MAY_IF:
        if ((f & FLAG_IF) === 0) {
          st[FLAGS] = f | FLAG_IF;
          // Interrupts stay blocked until after the next instruction (SDM Vol. 2 STI).
          st[INHIBIT] = 2;
          st[PENDING] = 1;
        }
        return;
      case MAY_VIF:
        if (f & FLAG_VIP) return raiseFault(cpu, GP_VECTOR, 0);
        st[FLAGS] = f | FLAG_VIF;
        return;
      default:
        raiseFault(cpu, GP_VECTOR, 0);
    }
  },
  lahf: (cpu) => {
    cpu.r8[1] = (getFlags(cpu.st) & AH_FLAGS) | 2;
  },
  sahf: (cpu) => setArithFlags(cpu.st, AH_FLAGS, cpu.r8[1]!),
};
