import type { HandlerSpec } from "../handlers.js";

export const FLAG_CTRL: Record<string, HandlerSpec> = {};
