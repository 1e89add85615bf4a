/**
 * Processor control (Bochs proc_ctrl.cc): HLT, CPUID, RDTSC, RDMSR/WRMSR, MOV to/from CR
 * and DR, INVD/WBINVD, INVLPG, CLTS, UD2, ESC/FWAIT without an x87.
 */
import type { X86Cpu } from "../cpu.js";
import { raiseFault } from "../exception.js";
import type { HandlerSpec } from "../handlers.js";
import { EV_HLT, HOOK_EXIT } from "../hooks.js";
import { GP_VECTOR, UD_VECTOR } from "../regs.js";
import { CPL, EXIT_REASON, HALTED, STOP, STOP_FAULT, STOP_NEXT } from "../state.js";

/** Ask the hook about `kind`; true when it claimed the event (the instruction stops). */
export function intercepted(cpu: X86Cpu, kind: number): boolean {
  if (cpu.hooks === null) return false;
  cpu.exitInfo[0] = kind;
  if (cpu.hooks.onEvent(cpu, kind) !== HOOK_EXIT) return false;
  cpu.st[STOP] = STOP_FAULT;
  cpu.st[EXIT_REASON] = 3;
  return true;
}

export const PROC_CTRL: Readonly<Record<string, HandlerSpec>> = {
  hlt: (cpu) => {
    if (cpu.st[CPL] !== 0) return raiseFault(cpu, GP_VECTOR, 0);
    if (intercepted(cpu, EV_HLT)) return;
    cpu.st[HALTED] = 1;
    cpu.st[STOP] = STOP_NEXT;
  },
  ud2: (cpu) => raiseFault(cpu, UD_VECTOR, -1),
};
