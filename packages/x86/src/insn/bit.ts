import type { HandlerSpec } from "../handlers.js";

export const BIT: Record<string, HandlerSpec> = {};
