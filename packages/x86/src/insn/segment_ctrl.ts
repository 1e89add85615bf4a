import type { HandlerSpec } from "../handlers.js";

export const SEGMENT_CTRL: Record<string, HandlerSpec> = {};
