/**
 * `perf kvm stat` for one run: `record` is a pair of probes on kvm_exit and kvm_entry
 * (an exit's time runs from its kvm_exit to the same vCPU's next kvm_entry: the time KVM
 * and userspace spent handling it), `report` prints perf's VM-EXIT table. The table's
 * columns and widths follow perf's (tools/perf/builtin-kvm.c, as listed in
 * ../shared/reference/qemu-machine.md §7.3); the code is glassvm's own.
 */

/** Running statistics of one event key (perf's struct stats: Welford's mean/variance). */
export interface KvmEventStats {
  readonly key: string;
  count: number;
  /** Sum of the handling times, µs. */
  total: number;
  min: number;
  max: number;
  mean: number;
  /** Sum of squared deviations from the mean (Welford's M2). */
  m2: number;
}

function statsNew(key: string): KvmEventStats {
  return { key, count: 0, total: 0, min: Infinity, max: 0, mean: 0, m2: 0 };
}

function statsUpdate(s: KvmEventStats, v: number): void {
  s.count++;
  s.total += v;
  if (v < s.min) s.min = v;
  if (v > s.max) s.max = v;
  const delta = v - s.mean;
  s.mean += delta / s.count;
  s.m2 += delta * (v - s.mean);
}

/** The standard error of the mean as a percentage of the mean (perf's `( +- x% )`). */
export function relStddev(s: KvmEventStats): number {
  if (s.count < 2 || s.mean === 0) return 0;
  const variance = s.m2 / (s.count - 1);
  return (Math.sqrt(variance / s.count) / s.mean) * 100;
}

/** Exit handling times per exit reason, fed by the kvm_exit / kvm_entry tracepoints. */
export class KvmStat {
  readonly events = new Map<string, KvmEventStats>();
  /** Per vCPU: the exit being handled (reason, time of its kvm_exit). */
  private readonly pending = new Map<number, { key: string; t: number }>();

  /** kvm_exit on `vcpu` at `t` ms. */
  exit(vcpu: number, reason: string, t: number): void {
    this.pending.set(vcpu, { key: reason, t });
  }

  /** kvm_entry on `vcpu` at `t` ms: closes the vCPU's pending exit. */
  entry(vcpu: number, t: number): void {
    const p = this.pending.get(vcpu);
    if (!p) return;
    this.pending.delete(vcpu);
    this.add(p.key, (t - p.t) * 1000);
  }

  /** One sample of `us` microseconds for `key`. */
  add(key: string, us: number): void {
    let s = this.events.get(key);
    if (!s) {
      s = statsNew(key);
      this.events.set(key, s);
    }
    statsUpdate(s, us);
  }

  /** Samples recorded (exits whose handling ended with a VM entry). */
  get totalSamples(): number {
    let n = 0;
    for (const s of this.events.values()) n += s.count;
    return n;
  }
}

const pad = (s: string, w: number): string => s.padStart(w);
const f2 = (v: number): string => v.toFixed(2);

/**
 * `perf kvm stat report` (sorted by samples, as `-k sample`): a blank line, the
 * "Analyze events" header, the column titles, one row per exit reason and the totals.
 */
export function kvmStatReport(stat: KvmStat, eventTitle = "VM-EXIT"): string {
  const rows = [...stat.events.values()].sort((a, b) => b.count - a.count || b.total - a.total);
  const samples = stat.totalSamples;
  let time = 0;
  for (const s of rows) time += s.total;
  const out: string[] = ["", "Analyze events for all VMs, all VCPUs:", ""];
  out.push(
    `${pad(eventTitle, 20)} ${pad("Samples", 10)} ${pad("Samples%", 9)} ${pad("Time%", 9)} ` +
      `${pad("Min Time", 11)} ${pad("Max Time", 11)} ${pad("Avg time", 16)} `,
    "",
  );
  for (const s of rows) {
    const sp = samples ? (s.count / samples) * 100 : 0;
    const tp = time ? (s.total / time) * 100 : 0;
    out.push(
      `${pad(s.key, 20)} ${pad(String(s.count), 10)} ${pad(f2(sp), 8)}% ${pad(f2(tp), 8)}% ` +
        `${pad(f2(s.min), 9)}us ${pad(f2(s.max), 9)}us ${pad(f2(s.mean), 9)}us ` +
        `( +-${pad(f2(relStddev(s)), 7)}% )`,
    );
  }
  out.push("", `Total Samples:${samples}, Total events handled time:${f2(time)}us.`, "");
  return `${out.join("\n")}\n`;
}
