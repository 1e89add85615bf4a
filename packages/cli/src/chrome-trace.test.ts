import { describe, expect, it } from "vitest";
import { threadNames, traceProblems } from "../test/trace-schema.js";
import { ChromeTrace } from "./chrome-trace.js";

describe("Chrome trace-event JSON", () => {
  it("nests guest, exit, userspace exit and device slices on the vCPU's track", () => {
    const t = new ChromeTrace(1000, 0);
    t.entry(0, 1, 0xfff0n);
    t.exit(0, "IO_INSTRUCTION", 2);
    t.userspaceExit(0, "KVM_EXIT_IO", 2.1);
    t.device(0, "isa-debugcon write", 2.2);
    t.run(0, 2.3);
    t.entry(0, 2.4);
    t.finish(3);
    const json = t.toJSON();
    expect(traceProblems(json)).toEqual([]);
    const slices = json.traceEvents.filter((e) => e.ph === "B" || e.ph === "E");
    expect(slices.map((e) => `${e.ph} ${e.name} ${e.ts}`)).toEqual([
      "B guest 1000",
      "E guest 2000",
      "B IO_INSTRUCTION 2000",
      "B KVM_EXIT_IO 2100",
      "B isa-debugcon write 2200",
      "E isa-debugcon write 2300",
      "E KVM_EXIT_IO 2300",
      "E IO_INSTRUCTION 2400",
      "B guest 2400",
      "E guest 3000",
    ]);
    expect(slices.every((e) => e.tid === 1001)).toBe(true);
    expect(threadNames(json).get(1001)).toBe("CPU 0/KVM");
    const counters = json.traceEvents.filter((e) => e.ph === "C");
    expect(counters).toHaveLength(1);
    expect(counters[0]).toMatchObject({ name: "exits/s", args: { IO_INSTRUCTION: 1000 } });
  });

  it("one track per vCPU, counters per window", () => {
    const t = new ChromeTrace(7, 0, "glassvm", 10);
    for (let i = 0; i < 30; i++) {
      const v = i % 2;
      t.entry(v, i);
      t.exit(v, v ? "HLT" : "IO_INSTRUCTION", i + 0.5);
    }
    t.finish(40);
    const json = t.toJSON();
    expect(traceProblems(json)).toEqual([]);
    expect([...threadNames(json)]).toEqual([
      [7, "main"],
      [8, "CPU 0/KVM"],
      [9, "CPU 1/KVM"],
    ]);
    const counters = json.traceEvents.filter((e) => e.ph === "C");
    expect(counters.length).toBe(3);
    expect(counters[0]!.args).toEqual({ IO_INSTRUCTION: 500, HLT: 500 });
  });

  it("the validator catches broken nesting and missing fields", () => {
    expect(
      traceProblems({
        traceEvents: [
          { name: "a", ph: "B", pid: 1, tid: 1, ts: 0 },
          { name: "b", ph: "E", pid: 1, tid: 1, ts: 1 },
          { name: "c", ph: "Q", pid: 1, ts: 2 },
        ],
      }),
    ).toHaveLength(3);
  });
});
