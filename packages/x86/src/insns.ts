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
import { MULT } from "./insn/mult.js";
import { PROC_CTRL } from "./insn/proc_ctrl.js";
import { PROTECT_CTRL } from "./insn/protect_ctrl.js";
import { SEGMENT_CTRL } from "./insn/segment_ctrl.js";
import { SHIFT } from "./insn/shift.js";
import { STACK } from "./insn/stack.js";
import { STRING } from "./insn/string.js";
import { VIRT } from "./insn/virt.js";

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
  ...VIRT,
  // Generated variants of the hot operations (gen/alu.ts) take precedence.
  ...ALU_GEN,
};

/**
 * 64-bit-mode handlers, by the same SDM-form names (handlers.ts resolveHandlerLong).
 * Long mode's instruction families join here as they are written; until a row has one,
 * it decodes as #UD in 64-bit mode.
 */
export const INSTRUCTIONS_LONG: Readonly<Record<string, HandlerSpec>> = {};
