/**
 * 64-bit mode's string instructions, LOOP/JrCXZ, PUSHF/POPF, ENTER, INT n/INT3/INT1,
 * IN/OUT and segment-register moves (SDM Vol. 2 per instruction).
 */
import type { HandlerSpec } from "../handlers.js";

export const LONG_MISC: Readonly<Record<string, HandlerSpec>> = {};
