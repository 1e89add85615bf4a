import type { HandlerSpec } from "../handlers.js";

export const IO: Record<string, HandlerSpec> = {};
