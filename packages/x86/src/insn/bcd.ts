import type { HandlerSpec } from "../handlers.js";

export const BCD: Record<string, HandlerSpec> = {};
