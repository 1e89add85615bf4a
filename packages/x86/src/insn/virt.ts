import type { HandlerSpec } from "../handlers.js";

export const VIRT: Record<string, HandlerSpec> = {};
