/**
 * The random-guest soak (test/guest-fuzz-gen.ts) in the default suite: 150 guests from one
 * seed thrown at kvm_intel, every invariant checked after every step. `GUEST_FUZZ_SEED=<n>`
 * (and `GUEST_FUZZ_ITERATIONS`) run another seed; `npm run fuzz -w @glassvm/vmx` is the long
 * soak with the same generator.
 */
import { describe, expect, it } from "vitest";
import { guestSeed, Mulberry32, runGuestFuzz } from "./guest-fuzz-gen.js";

const ENV_SEED = process.env.GUEST_FUZZ_SEED;
const SEED = ENV_SEED ? Number(ENV_SEED) >>> 0 : 0x6e57_f022;
const ITERATIONS = Number(process.env.GUEST_FUZZ_ITERATIONS ?? 150);

describe("random guests under kvm_intel", () => {
  it("mulberry32 is reproducible and spreads its draws; guest seeds differ", () => {
    const a = new Mulberry32(42);
    const b = new Mulberry32(42);
    const xs = Array.from({ length: 1000 }, () => a.next());
    expect(Array.from({ length: 1000 }, () => b.next())).toEqual(xs);
    expect(new Set(xs).size).toBe(1000);
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 8000; i++) counts[a.int(8)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(800);
    const seeds = Array.from({ length: 1000 }, (_, i) => guestSeed(SEED, i));
    expect(new Set(seeds).size).toBe(1000);
  });

  it(`seed ${SEED}: ${ITERATIONS} random guests keep every invariant`, () => {
    const r = runGuestFuzz({ seed: SEED, iterations: ITERATIONS });
    expect(r.violations).toEqual([]);
    expect(r.violationCounts).toEqual({});
    expect(r.restarts).toBe(0);
    if (ENV_SEED) return;
    // The generator reaches what is worth reaching: every starting mode, and guests that
    // end in at least six different ways (I/O, MMIO, HLT, triple fault, failed entry,
    // internal error, debug exits …), besides the watchdog's EINTR.
    expect(Object.keys(r.modes).sort()).toEqual([
      "long64",
      "prot32",
      "prot32-paging",
      "real",
      "reset",
    ]);
    const reasons = Object.keys(r.exits).filter((k) => k.startsWith("KVM_EXIT_"));
    expect(reasons.length).toBeGreaterThanOrEqual(6);
    expect(r.exits.EINTR).toBeGreaterThan(0);
    expect(r.runs).toBeGreaterThan(ITERATIONS * 2);
  }, 60_000);

  it("replays one guest alone: iteration i depends only on the seed and i", () => {
    const lines: string[] = [];
    runGuestFuzz({ seed: SEED, iterations: 6, log: (l) => lines.push(l) });
    const alone: string[] = [];
    runGuestFuzz({ seed: SEED, first: 4, iterations: 1, log: (l) => alone.push(l) });
    expect(alone).toEqual([lines[4]]);
    expect(alone[0]).toMatch(/^#4 /);
  });

  it("reports an exception that escapes KVM_RUN with the seed and the iteration, then reboots", () => {
    const r = runGuestFuzz({
      seed: 5,
      iterations: 3,
      setup: (kernel) => {
        kernel.trace.kvm_exit.subscribe(() => {
          throw new Error("injected fault");
        });
      },
    });
    expect(r.violations.length).toBeGreaterThan(0);
    expect(r.violations[0]).toMatch(/^seed 5 iteration 0: KVM_RUN threw Error: injected fault/);
    expect(r.violationCounts).toEqual({ "KVM_RUN threw: Error: injected fault": 3 });
    expect(r.restarts).toBe(3);
  });
});
