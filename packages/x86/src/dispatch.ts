/**
 * The block executor's dispatch, generated from the handler table (conventions: "code
 * generated with new Function comes from the same table and names its functions"). A
 * `switch` on the handler id whose every case is a call to one known handler replaces a
 * call through a function array: each call site then has a single target, which V8 can
 * call directly (and inline when small) instead of through its megamorphic path. Where
 * generated code is not allowed, the same loop calls through `dc.fn`.
 */
import type { X86Cpu } from "./cpu.js";
import { HANDLERS, type Handler } from "./handlers.js";
import { FRONT_MASK } from "./icache.js";
import { CS, FLAG_TF } from "./regs.js";
import {
  EIP,
  EXIT_REASON,
  FLAGS,
  HALTED,
  INHIBIT,
  PENDING,
  RIP_HI,
  STOP,
  STOP_FAULT,
  STOP_NEXT,
} from "./state.js";

/** Runs decoded slots i .. end-1 until one stops the block; returns that slot, or end. */
export type SlotRunner = (cpu: X86Cpu, i: number, end: number) => number;

/**
 * Runs block after block from CS:EIP, at most `budget` instructions, and returns how many
 * retired. It returns early when an instruction faults or an exit is requested, and when
 * anything needs the run loop's attention (an event, HLT, an interrupt shadow, TF).
 */
export type ChainRunner = (cpu: X86Cpu, budget: number) => number;

let chain: ChainRunner | null = null;
let builtFor = -1;

/**
 * The slot loop of runChain: a switch with a case per handler in `ids`; the default case
 * notes a handler that has none (for the next generation) and calls it through `dc.fn`.
 */
function slotLoop(ids: readonly number[]): string[] {
  return [
    "    for (;;) {",
    "      switch (op[i]) {",
    ...ids.map((id) => `        case ${id}: h${id}(cpu, i); break;`),
    "        default: ran[op[i]]++; missed[0]++; fn[i](cpu, i);",
    "      }",
    `      if (st[${STOP}] !== 0) break;`,
    `      st[${EIP}] = (st[${EIP}] + len[i]) | 0;`,
    "      if (++i === end) break;",
    "    }",
  ];
}

function chainSource(ids: readonly number[]): string {
  return [
    "return function runChain(cpu, budget) {",
    "  const st = cpu.st;",
    "  const op = cpu.dc.op;",
    "  const fn = cpu.dc.fn;",
    "  const len = cpu.dc.len;",
    "  const counters = cpu.counters;",
    "  const dc = cpu.dc;",
    "  const fEip = dc.fEip, fEpoch = dc.fEpoch, fBase = dc.fBase, fSlot = dc.fSlot, fCount = dc.fCount;",
    "  const segBase = cpu.segBase;",
    "  let retired = 0;",
    "  for (;;) {",
    // The front cache's hit path (cpu.lookupBlock) inline; the rest is a call.
    `    const eip = st[${EIP}];`,
    `    const k = eip & ${FRONT_MASK};`,
    "    let i, n;",
    `    if (fEip[k] === eip && fEpoch[k] === dc.epoch && fBase[k] === (segBase[${CS}] ^ st[${RIP_HI}])) {`,
    "      i = fSlot[k];",
    "      n = fCount[k];",
    "    } else {",
    "      i = cpu.lookupBlock();",
    "      n = cpu.blockCount;",
    "    }",
    "    if (n > budget - retired) n = budget - retired;",
    "    const first = i;",
    "    const end = i + n;",
    `    st[${STOP}] = 0;`,
    ...slotLoop(ids),
    "    let done = i - first;",
    `    const stop = st[${STOP}];`,
    "    if (stop !== 0) {",
    `      if (stop === ${STOP_FAULT}) {`,
    "        counters[0] += done;",
    "        return retired + done;",
    "      }",
    `      if (stop === ${STOP_NEXT}) st[${EIP}] = (st[${EIP}] + len[i]) | 0;`,
    "      done++;",
    "    }",
    "    counters[0] += done;",
    "    retired += done;",
    "    if (retired >= budget) return retired;",
    `    if ((st[${PENDING}] | st[${HALTED}] | st[${INHIBIT}] | st[${EXIT_REASON}]) !== 0) return retired;`,
    `    if ((st[${FLAGS}] & ${FLAG_TF}) !== 0) return retired;`,
    "  }",
    "};",
  ].join("\n");
}

function buildChain(handlers: readonly Handler[], ids: readonly number[]): ChainRunner {
  const consts = ids.map((id) => `const h${id} = H[${id}];`);
  return new Function("H", "ran", "missed", [...consts, chainSource(ids)].join("\n"))(
    handlers,
    ran,
    missed,
  ) as ChainRunner;
}

/*
 * The chained runner's switch holds a case only for handlers that have run often; the
 * others go through `fn[i]` in its default case, which counts them in `ran`. A case that
 * has never run has no type feedback, and V8 throws the optimized runner away the first
 * time one is reached: a switch over the whole table (about 1,500 handlers, 100 ms and
 * more per compile on these machines) would be recompiled again and again as a guest
 * reaches new instructions, and so would a switch holding code that ran once at start-up.
 * Instead the runner is regenerated, with a case for each handler that has become hot
 * (HOT calls through the default case), when more than 1/64 of the instructions since the
 * last generation went through the default case, and at most once per doubling of the
 * instructions retired: the number of compiles grows with the log of the run's length.
 */
/** Calls through the default case after which a handler gets a case. */
const HOT = 1024;
/** ran[id]: calls of handler id through the default case (while it has no case). */
let ran = new Uint32Array(0);
/** missed[0]: calls through the default case since the runner was generated. */
const missed = new Uint32Array(1);
/** `retired` when the runner was generated. */
let retiredAtBuild = 0;
let inSwitch: number[] = [];
let retired = 0;
let rebuildAt = 0;
/** The first regeneration waits for this many retired instructions. */
const FIRST_REBUILD = 1 << 20;

/** Instructions retired through the chained runner (paces its regeneration). */
export function noteRetired(n: number): void {
  retired += n;
}

let generations = 0;

/** How many times the chained runner has been generated, and the handler ids with a case. */
export function chainDispatchInfo(): { generations: number; cases: readonly number[] } {
  return { generations, cases: inSwitch };
}

/** Room in `ran` for every handler registered so far. */
function growRan(): void {
  if (ran.length >= HANDLERS.length) return;
  const grown = new Uint32Array(HANDLERS.length);
  grown.set(ran);
  ran = grown;
}

function buildChainOverUsed(): ChainRunner {
  growRan();
  const ids = inSwitch.slice();
  for (let id = 0; id < ran.length; id++) {
    if (ran[id]! >= HOT) {
      // A handler with a case already (counted again after the table grew) keeps it.
      if (!inSwitch.includes(id)) ids.push(id);
      ran[id] = 0;
    }
  }
  ids.sort((a, b) => a - b);
  inSwitch = ids;
  missed[0] = 0;
  retiredAtBuild = retired;
  rebuildAt = Math.max(retired * 2, FIRST_REBUILD);
  generations++;
  return buildChain(HANDLERS, ids);
}

/**
 * Runs slots calling through `dc.fn`. cpu.run uses it for single instructions (the one
 * in an interrupt shadow, or each one under TF): a generated switch over the whole table
 * would be thrown away by V8 each time it reached a handler it had not run before.
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

/**
 * runSlotsByCall counting each handler into `ran`: the first runner, while V8 has not yet
 * compiled anything and before anything is known to be hot. A plain function warms up
 * in a fraction of the time a generated switch takes.
 */
function runSlotsCounting(cpu: X86Cpu, i: number, end: number): number {
  const st = cpu.st;
  const op = cpu.dc.op;
  const fn = cpu.dc.fn;
  const len = cpu.dc.len;
  for (;;) {
    ran[op[i]!]!++;
    missed[0]!++;
    fn[i]!(cpu, i);
    if (st[STOP] !== 0) return i;
    st[EIP] = (st[EIP]! + len[i]!) | 0;
    if (++i === end) return i;
  }
}

/** The runner for single instructions. */
export function slotRunner(): SlotRunner {
  return runSlotsByCall;
}

/**
 * How many of `left` instructions the chained runner may run before the run loop asks
 * chainRunner() again (so a regeneration that is due is not held off by a long run).
 */
export function chainBudget(left: number): number {
  const due = rebuildAt - retired;
  return due > 0 && due < left ? due : left;
}

/** The chained block runner for the current handler table (regenerated when due). */
export function chainRunner(): ChainRunner {
  rebuild();
  return chain!;
}

let forceCall = false;

/**
 * Use the call-through-`dc.fn` loops instead of generated code (what a host that forbids
 * `new Function` gets automatically). `false` returns to the generated dispatchers.
 */
export function experimental_useCallDispatch(on: boolean): void {
  forceCall = on;
  builtFor = -1;
}

let evalAllowed = true;

function rebuild(): void {
  if (chain !== null && builtFor === HANDLERS.length) {
    if (evalAllowed && !forceCall && retired >= rebuildAt) {
      if (missed[0]! * 64 > retired - retiredAtBuild) chain = buildChainOverUsed();
      else rebuildAt = retired * 2;
    }
    return;
  }
  if (forceCall) {
    chain = chainWithoutEval();
    builtFor = HANDLERS.length;
    return;
  }
  try {
    new Function("");
  } catch {
    // No generated code allowed here: the same loop, calling through dc.fn.
    evalAllowed = false;
    chain = chainWithoutEval();
    builtFor = HANDLERS.length;
    return;
  }
  // Count first; generate the switch once something is hot.
  growRan();
  missed[0] = 0;
  retiredAtBuild = retired;
  rebuildAt = retired + FIRST_REBUILD;
  chain = chainCallingThrough(runSlotsCounting, "runChainCounting");
  builtFor = HANDLERS.length;
}

/** runChain calling through dc.fn, for hosts without generated code. */
function chainWithoutEval(): ChainRunner {
  return chainCallingThrough(runSlotsByCall, "runChainByCall");
}

/** The chained loop of runChain around a slot runner that calls through dc.fn. */
function chainCallingThrough(runSlots: SlotRunner, name: string): ChainRunner {
  const runner = (cpu: X86Cpu, budget: number): number => {
    const st = cpu.st;
    const len = cpu.dc.len;
    let retired = 0;
    for (;;) {
      let i = cpu.lookupBlock();
      let n = cpu.blockCount;
      if (n > budget - retired) n = budget - retired;
      const first = i;
      st[STOP] = 0;
      i = runSlots(cpu, i, i + n);
      let done = i - first;
      const stop = st[STOP]!;
      if (stop !== 0) {
        if (stop === STOP_FAULT) {
          cpu.counters[0] = cpu.counters[0]! + done;
          return retired + done;
        }
        if (stop === STOP_NEXT) st[EIP] = (st[EIP]! + len[i]!) | 0;
        done++;
      }
      cpu.counters[0] = cpu.counters[0]! + done;
      retired += done;
      if (retired >= budget) return retired;
      if ((st[PENDING]! | st[HALTED]! | st[INHIBIT]! | st[EXIT_REASON]!) !== 0) return retired;
      if ((st[FLAGS]! & FLAG_TF) !== 0) return retired;
    }
  };
  Object.defineProperty(runner, "name", { value: name });
  return runner;
}
