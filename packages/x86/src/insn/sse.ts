/**
 * The x87 control instructions and the SSE/SSE2 data-movement and integer instructions
 * that compilers emit in freestanding code (SDM Vol. 1 Ch. 8–11, Vol. 2).
 */
import type { HandlerSpec } from "../handlers.js";

/** 16/32-bit code. */
export const SSE: Readonly<Record<string, HandlerSpec>> = {};
/** 64-bit mode. */
export const SSE_LONG: Readonly<Record<string, HandlerSpec>> = {};
