import type { HandlerSpec } from "../handlers.js";

export const PROTECT_CTRL: Record<string, HandlerSpec> = {};
