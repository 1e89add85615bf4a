import { describe, expect, it } from "vitest";
import { KvmStat, kvmStatReport, relStddev } from "./kvm-stat.js";

describe("perf kvm stat report", () => {
  it("times each exit from kvm_exit to the vCPU's next kvm_entry", () => {
    const s = new KvmStat();
    s.exit(0, "IO_INSTRUCTION", 1.0);
    s.exit(1, "HLT", 1.0005);
    s.entry(0, 1.002); // 2 µs
    s.entry(1, 1.0105); // 10 µs
    s.entry(1, 2); // no exit pending: ignored
    expect(s.events.get("IO_INSTRUCTION")?.count).toBe(1);
    expect(s.events.get("IO_INSTRUCTION")?.min).toBeCloseTo(2);
    expect(s.events.get("HLT")?.total).toBeCloseTo(10);
    expect(s.totalSamples).toBe(2);
  });

  it("prints perf's table: columns, widths, ± of the mean, totals", () => {
    const s = new KvmStat();
    for (const us of [1, 2, 3]) s.add("IO_INSTRUCTION", us);
    s.add("HLT", 20);
    expect(relStddev(s.events.get("IO_INSTRUCTION")!)).toBeCloseTo(28.87, 2);
    expect(kvmStatReport(s)).toBe(
      [
        "",
        "Analyze events for all VMs, all VCPUs:",
        "",
        "             VM-EXIT    Samples  Samples%     Time%    Min Time    Max Time         Avg time ",
        "",
        "      IO_INSTRUCTION          3    75.00%    23.08%      1.00us      3.00us      2.00us ( +-  28.87% )",
        "                 HLT          1    25.00%    76.92%     20.00us     20.00us     20.00us ( +-   0.00% )",
        "",
        "Total Samples:4, Total events handled time:26.00us.",
        "",
        "",
      ].join("\n"),
    );
  });

  it("an empty run still prints the header and zero totals", () => {
    expect(kvmStatReport(new KvmStat())).toContain(
      "Total Samples:0, Total events handled time:0.00us.",
    );
  });
});
