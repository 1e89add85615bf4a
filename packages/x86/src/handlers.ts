/**
 * Instruction handlers by name. Each row of the opcode maps names its handler in SDM form
 * (`add_Eb_Gb`, `jcc_Jb`, `push_Sw`); a handler module supplies either one function or a
 * split by operand size and/or ModRM form, and the decoder stores the id of the exact
 * variant in the decoded instruction, so executors never branch on size or form.
 *
 * A handler runs with `st[EIP]` at the instruction's first byte. It either returns
 * normally (the loop advances EIP by the length) or sets `st[STOP]` (stack.ts / state.ts).
 */
import type { X86Cpu } from "./cpu.js";
import { INSTRUCTIONS, INSTRUCTIONS_LONG } from "./insns.js";

export type Handler = (cpu: X86Cpu, i: number) => void;

/** A split by ModRM form: `reg` for mod = 3, `mem` for a memory operand. */
export interface FormSplit {
  readonly reg: Handler;
  readonly mem: Handler;
}

/** A split by operand size (16, 32 or — in 64-bit mode — 64 bits); each may be split by form. */
export interface SizeSplit {
  readonly o16: Handler | FormSplit;
  readonly o32: Handler | FormSplit;
  readonly o64?: Handler | FormSplit;
}

export type HandlerSpec = Handler | FormSplit | SizeSplit;

export const HANDLERS: Handler[] = [];
const ids = new Map<Handler, number>();

function idOf(h: Handler): number {
  let id = ids.get(h);
  if (id === undefined) {
    id = HANDLERS.length;
    HANDLERS.push(h);
    ids.set(h, id);
  }
  return id;
}

/** The id of handler `h`, registering it if it has none (locked.ts's variants). */
export function handlerId(h: Handler): number {
  return idOf(h);
}

/** The id of the handler for `name` at `size` in form reg/mem, or -1 if none exists. */
export function resolveHandler(name: string, size: 16 | 32, isReg: boolean): number {
  return resolveIn(INSTRUCTIONS, name, size, isReg);
}

/**
 * The id of the 64-bit-mode handler for `name` at `size` (16, 32 or 64) in form reg/mem,
 * or -1. 64-bit mode has its own handlers: its addresses, stack and zero-extension of
 * 32-bit results differ from 16/32-bit code; a row without one decodes as #UD there.
 */
export function resolveHandlerLong(name: string, size: 16 | 32 | 64, isReg: boolean): number {
  return resolveIn(INSTRUCTIONS_LONG, name, size, isReg);
}

function resolveIn(
  table: Readonly<Record<string, HandlerSpec>>,
  name: string,
  size: 16 | 32 | 64,
  isReg: boolean,
): number {
  const spec = table[name];
  if (spec === undefined) return -1;
  let s: HandlerSpec | undefined = spec;
  if (typeof s !== "function" && "o16" in s) s = size === 16 ? s.o16 : size === 32 ? s.o32 : s.o64;
  if (s === undefined) return -1;
  if (typeof s !== "function") s = isReg ? s.reg : s.mem;
  return idOf(s);
}

/** Every handler name the instruction modules define (for coverage reports). */
export function handlerNames(): string[] {
  return Object.keys(INSTRUCTIONS);
}

// Handlers the decoder itself stores.
import { raiseFault } from "./exception.js";
import { FETCH_HOOK_EXIT } from "./hooks.js";
import { pageFault } from "./paging.js";
import { CS, PF_VECTOR, UD_VECTOR } from "./regs.js";
import { EIP, EXIT_REASON, RIP_HI, STOP, STOP_FAULT } from "./state.js";

/** An undefined or invalid encoding. */
export const HANDLER_UD = idOf(function ud(cpu) {
  raiseFault(cpu, UD_VECTOR, -1);
});

/** Fetching the instruction faulted; the vector is in `imm` (#GP(0) or #PF). */
export const HANDLER_FETCH_FAULT = idOf(function fetchFault(cpu, i) {
  const vector = cpu.dc.imm[i]!;
  if (vector === FETCH_HOOK_EXIT) {
    // The extension claimed the fetch (hooks.ts EV_MMIO): the instruction never starts.
    cpu.st[STOP] = STOP_FAULT;
    cpu.st[EXIT_REASON] = 3;
    return;
  }
  if (vector === PF_VECTOR) {
    // The byte that could not be fetched: `len` holds its offset in the instruction.
    const lin = (cpu.segBase[CS]! + cpu.st[EIP]! + cpu.dc.len[i]!) | 0;
    pageFault(cpu, lin, cpu.fetchErrorCode, cpu.st[RIP_HI]!);
    return;
  }
  raiseFault(cpu, vector, vector === 13 ? 0 : cpu.fetchErrorCode);
});
