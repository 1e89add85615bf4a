import type { HandlerSpec } from "../handlers.js";

export const MULT: Record<string, HandlerSpec> = {};
