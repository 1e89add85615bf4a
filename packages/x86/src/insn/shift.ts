import type { HandlerSpec } from "../handlers.js";

export const SHIFT: Record<string, HandlerSpec> = {};
