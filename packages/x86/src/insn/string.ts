import type { HandlerSpec } from "../handlers.js";

export const STRING: Record<string, HandlerSpec> = {};
