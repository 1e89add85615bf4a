/**
 * A vCPU thread for the multi-worker tests of locked instructions (src/locked.test.ts):
 * an X86Cpu over the shared RAM it is given, in real mode at CS:IP = 0000:entry, started
 * when every worker is ready, run until HLT. Loaded in a worker through tsx.
 */
import { parentPort, workerData } from "node:worker_threads";
import { recomputeSegment } from "../src/access.js";
import { EXIT_BUDGET, X86Cpu } from "../src/cpu.js";
import { PhysMemory } from "../src/memory.js";
import { CS, DS, ES, SS } from "../src/regs.js";
import { EIP } from "../src/state.js";

export interface SmpWorkerData {
  readonly ram: SharedArrayBuffer;
  /** PhysMemory.lockWords of the first vCPU: every vCPU shares them. */
  readonly lockWords: Int32Array;
  /** [0]: workers ready; they start together when it reaches `workers`. */
  readonly barrier: Int32Array;
  readonly workers: number;
  readonly entry: number;
  readonly id: number;
}

const data = workerData as SmpWorkerData;
const mem = new PhysMemory();
mem.addRam(0, new Uint8Array(data.ram));
mem.lockWords = data.lockWords;
const cpu = new X86Cpu(mem);
for (const s of [CS, DS, ES, SS]) {
  cpu.segSel[s] = 0;
  cpu.segBase[s] = 0;
  recomputeSegment(cpu, s);
}
cpu.st[EIP] = data.entry;
cpu.regs[4] = 0x8000 - 0x100 * data.id;
Atomics.add(data.barrier, 0, 1);
while (Atomics.load(data.barrier, 0) < data.workers) {
  // Spin: the vCPUs start together, so their loops overlap.
}
let exit = EXIT_BUDGET;
for (let n = 0; n < 100_000 && exit === EXIT_BUDGET; n++) exit = cpu.run(1_000_000);
parentPort!.postMessage({ exit, instructions: cpu.instructionCount });
