/**
 * Every instruction handler, by SDM-form name (handlers.ts resolves them). One module per
 * family, named after Bochs's files for the same family.
 */

import type { HandlerSpec } from "./handlers.js";
import { ALU_GEN } from "./insn/alu.gen.js";
import { ARITH } from "./insn/arith.js";
import { BCD } from "./insn/bcd.js";
import { BIT } from "./insn/bit.js";
import { CTRL_XFER } from "./insn/ctrl_xfer.js";
import { DATA_XFER } from "./insn/data_xfer.js";
import { FAR_XFER } from "./insn/far_xfer.js";
import { FLAG_CTRL } from "./insn/flag_ctrl.js";
import { IO } from "./insn/io.js";
import { LONG_GEN } from "./insn/long.gen.js";
import { LONG } from "./insn/long.js";
import { LONG_ALU } from "./insn/long_alu.js";
import { LONG_FAR } from "./insn/long_far.js";
import { LONG_MISC } from "./insn/long_misc.js";
import { MULT } from "./insn/mult.js";
import { PROC_CTRL } from "./insn/proc_ctrl.js";
import { PROTECT_CTRL } from "./insn/protect_ctrl.js";
import { SEGMENT_CTRL } from "./insn/segment_ctrl.js";
import { SHIFT } from "./insn/shift.js";
import { SSE, SSE_LONG } from "./insn/sse.js";
import { STACK } from "./insn/stack.js";
import { STRING } from "./insn/string.js";
import { SYSENTER_SYSEXIT, SYSENTER_SYSEXIT_LONG } from "./insn/sysenter.js";
import { VIRT } from "./insn/virt.js";
import { STOP, STOP_FAULT } from "./state.js";

export const INSTRUCTIONS: Readonly<Record<string, HandlerSpec>> = {
  ...ARITH,
  ...BCD,
  ...BIT,
  ...CTRL_XFER,
  ...DATA_XFER,
  ...FAR_XFER,
  ...FLAG_CTRL,
  ...IO,
  ...MULT,
  ...PROC_CTRL,
  ...PROTECT_CTRL,
  ...SEGMENT_CTRL,
  ...SHIFT,
  ...STACK,
  ...STRING,
  ...SSE,
  ...SYSENTER_SYSEXIT,
  ...VIRT,
  // Generated variants of the hot operations (gen/alu.ts) take precedence.
  ...ALU_GEN,
};

/** Instructions that behave the same in 64-bit mode: no operands, stack or addresses. */
const SAME_IN_LONG_MODE = [
  "nop",
  "nop_Ev",
  "pause",
  "hlt",
  "clc",
  "stc",
  "cmc",
  "cld",
  "std",
  "cli",
  "sti",
  "lahf",
  "sahf",
  "wrmsr",
  "invd",
  "wbinvd",
  "ud0_Gv_Ev",
  "ud1_Gv_Ev",
  "ud2",
  // VMX and SVM instructions: decoded here and handed to the extension with the slot, whose
  // flags (F_O64, F_A64) tell it the mode; the same handlers in 64-bit mode.
  ...Object.keys(VIRT),
];

/**
 * Instructions that write 32-bit results into fixed registers: the same in 64-bit mode,
 * except that each of those writes zero-extends (SDM Vol. 1 §3.4.1.1).
 */
const ZERO_EXTENDING: Readonly<Record<string, readonly number[]>> = {
  cpuid: [0, 1, 2, 3],
  rdtsc: [0, 2],
  rdtscp: [0, 1, 2],
  rdmsr: [0, 2],
  rdpmc: [0, 2],
  xgetbv: [0, 2],
};

function longModeCopies(): Record<string, HandlerSpec> {
  const out: Record<string, HandlerSpec> = {};
  for (const name of SAME_IN_LONG_MODE) {
    const h = INSTRUCTIONS[name];
    if (h !== undefined) out[name] = h;
  }
  for (const [name, regs] of Object.entries(ZERO_EXTENDING)) {
    const h = INSTRUCTIONS[name];
    if (typeof h !== "function") continue;
    out[name] = (cpu, i) => {
      h(cpu, i);
      if (cpu.st[STOP] === STOP_FAULT) return;
      for (const r of regs) cpu.regsHi[r] = 0;
    };
  }
  return out;
}

/**
 * 64-bit-mode handlers, by the same SDM-form names (handlers.ts resolveHandlerLong).
 * Long mode's instruction families join here as they are written; until a row has one,
 * it decodes as #UD in 64-bit mode.
 */
export const INSTRUCTIONS_LONG: Readonly<Record<string, HandlerSpec>> = {
  ...longModeCopies(),
  ...LONG,
  // Generated 32/64-bit variants of the hottest rows (gen/long.ts) take precedence.
  ...LONG_GEN,
  ...LONG_ALU,
  ...LONG_FAR,
  ...LONG_MISC,
  ...SYSENTER_SYSEXIT_LONG,
  ...SSE_LONG,
};
