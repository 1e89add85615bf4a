/**
 * The block executor's dispatch, generated from the handler table (conventions: "code
 * generated with new Function comes from the same table and names its functions"). A
 * `switch` on the handler id whose every case is a call to one known handler replaces a
 * call through a function array: each call site then has a single target, which V8 can
 * call directly (and inline when small) instead of through its megamorphic path.
 */
import type { X86Cpu } from "./cpu.js";
import { HANDLERS, type Handler } from "./handlers.js";
import { EIP, STOP } from "./state.js";

/** Runs decoded slots i .. end-1 until one stops the block; returns that slot, or end. */
export type SlotRunner = (cpu: X86Cpu, i: number, end: number) => number;

let runner: SlotRunner | null = null;
let builtFor = -1;

function build(handlers: readonly Handler[]): SlotRunner {
  const ids = handlers.map((_, id) => id);
  const source = [
    ...ids.map((id) => `const h${id} = H[${id}];`),
    "return function runSlots(cpu, i, end) {",
    "  const st = cpu.st;",
    "  const op = cpu.dc.op;",
    "  const len = cpu.dc.len;",
    "  for (;;) {",
    "    switch (op[i]) {",
    ...ids.map((id) => `      case ${id}: h${id}(cpu, i); break;`),
    "    }",
    `    if (st[${STOP}] !== 0) return i;`,
    `    st[${EIP}] = (st[${EIP}] + len[i]) | 0;`,
    "    if (++i === end) return i;",
    "  }",
    "};",
  ].join("\n");
  return new Function("H", source)(handlers) as SlotRunner;
}

/**
 * The same loop calling through `dc.fn`, for hosts that forbid generated code (a page
 * whose Content-Security-Policy has no 'unsafe-eval').
 */
function runSlotsByCall(cpu: X86Cpu, i: number, end: number): number {
  const st = cpu.st;
  const fn = cpu.dc.fn;
  const len = cpu.dc.len;
  for (;;) {
    fn[i]!(cpu, i);
    if (st[STOP] !== 0) return i;
    st[EIP] = (st[EIP]! + len[i]!) | 0;
    if (++i === end) return i;
  }
}

/** The runner for the current handler table (rebuilt if handlers were added since). */
export function slotRunner(): SlotRunner {
  if (runner === null || builtFor !== HANDLERS.length) {
    try {
      runner = build(HANDLERS);
    } catch {
      runner = runSlotsByCall;
    }
    builtFor = HANDLERS.length;
  }
  return runner;
}
