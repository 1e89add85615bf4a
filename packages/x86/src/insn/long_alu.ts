/**
 * 64-bit mode's shifts and rotates, multiply and divide, bit instructions, SETcc/CMOVcc,
 * BSWAP, XADD and CMPXCHG (SDM Vol. 2 per instruction).
 */
import type { HandlerSpec } from "../handlers.js";

export const LONG_ALU: Readonly<Record<string, HandlerSpec>> = {};
