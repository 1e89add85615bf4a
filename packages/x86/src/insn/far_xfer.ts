import type { HandlerSpec } from "../handlers.js";

export const FAR_XFER: Record<string, HandlerSpec> = {};
