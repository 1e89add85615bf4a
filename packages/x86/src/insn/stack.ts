import type { HandlerSpec } from "../handlers.js";

export const STACK: Record<string, HandlerSpec> = {};
