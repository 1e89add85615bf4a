/**
 * `-trace-file out.json`: the Chrome trace-event format (the JSON Object Format of the
 * Trace Event Format document, which Perfetto and chrome://tracing open): one process
 * (the VMM), one track per vCPU thread named like QEMU's (`CPU 0/KVM`), and on it
 *
 *   guest                      kvm_entry → kvm_exit            (cat "guest")
 *   <exit reason>              kvm_exit → next kvm_entry       (cat "kvm")
 *     KVM_EXIT_<reason>        kvm_userspace_exit → next KVM_RUN (cat "qemu")
 *       <device region>        QEMU's memory_region_ops_* → the next event (cat "device")
 *
 * as properly nested B/E pairs, plus a counter track "exits/s" with one series per exit
 * reason. Timestamps are µs from the host clock the CLI is given.
 */

export type TraceEventPhase = "B" | "E" | "X" | "C" | "M" | "i";

/** One trace event (only the fields this writer uses). */
export interface TraceEvent {
  name: string;
  ph: TraceEventPhase;
  pid: number;
  tid: number;
  /** µs. */
  ts: number;
  cat?: string;
  dur?: number;
  s?: "t" | "p" | "g";
  args?: Record<string, string | number>;
}

export interface ChromeTraceJson {
  traceEvents: TraceEvent[];
  displayTimeUnit: "ms" | "ns";
  otherData: Record<string, string>;
}

interface OpenSlice {
  readonly name: string;
  readonly cat: string;
}

/** Depths of the nested slices on a vCPU track. */
const DEPTH = { guest: 0, exit: 0, userspace: 1, device: 2 } as const;

/** Builds the event list while the VM runs; {@link toJSON} gives the file's object. */
export class ChromeTrace {
  readonly events: TraceEvent[] = [];
  private readonly stacks = new Map<number, OpenSlice[]>();
  private readonly named = new Set<number>();
  private readonly t0: number;
  private lastTs = 0;
  /** Exits counted since the counter window began, by reason. */
  private window = new Map<string, number>();
  private windowStart = 0;
  private readonly reasons = new Set<string>();

  /**
   * @param pid the VMM's process id; vCPU n runs on thread `pid + 1 + n`
   * @param t0 the host clock (ms) at which the trace starts (ts 0)
   * @param counterWindowMs the width of one exits/s sample
   */
  constructor(
    readonly pid: number,
    t0: number,
    readonly processName = "glassvm",
    readonly counterWindowMs = 10,
  ) {
    this.t0 = t0;
    this.meta(pid, "process_name", processName);
    this.meta(pid, "thread_name", "main");
  }

  /** The track (thread id) of vCPU `index`. */
  tid(index: number): number {
    return this.pid + 1 + index;
  }

  private ts(ms: number): number {
    const t = Math.max(this.lastTs, Math.round((ms - this.t0) * 1000 * 1000) / 1000);
    this.lastTs = t;
    return t;
  }

  private meta(tid: number, name: "process_name" | "thread_name", value: string): void {
    this.events.push({ name, ph: "M", pid: this.pid, tid, ts: 0, args: { name: value } });
  }

  /** Name vCPU `index`'s track (it exists from its creation, busy or not). */
  vcpuThread(index: number): void {
    this.stack(index);
  }

  private stack(vcpu: number): OpenSlice[] {
    let s = this.stacks.get(vcpu);
    if (!s) {
      s = [];
      this.stacks.set(vcpu, s);
      if (!this.named.has(vcpu)) {
        this.named.add(vcpu);
        this.meta(this.tid(vcpu), "thread_name", `CPU ${vcpu}/KVM`);
      }
    }
    return s;
  }

  /** Close slices on `vcpu` until `depth` remain. */
  private closeTo(vcpu: number, depth: number, ms: number): void {
    const s = this.stack(vcpu);
    while (s.length > depth) {
      const top = s.pop()!;
      this.events.push({
        name: top.name,
        cat: top.cat,
        ph: "E",
        pid: this.pid,
        tid: this.tid(vcpu),
        ts: this.ts(ms),
      });
    }
  }

  private open(
    vcpu: number,
    depth: number,
    name: string,
    cat: string,
    ms: number,
    args?: Record<string, string | number>,
  ): void {
    this.closeTo(vcpu, depth, ms);
    const s = this.stack(vcpu);
    // A slice needs its parent: without one (an event seen mid-exit) it opens at the top.
    const ev: TraceEvent = { name, cat, ph: "B", pid: this.pid, tid: this.tid(vcpu), ts: 0 };
    ev.ts = this.ts(ms);
    if (args) ev.args = args;
    this.events.push(ev);
    s.push({ name, cat });
  }

  /** kvm_entry: the exit being handled (if any) ends, guest time begins. */
  entry(vcpu: number, ms: number, rip?: bigint): void {
    this.open(
      vcpu,
      DEPTH.guest,
      "guest",
      "guest",
      ms,
      rip === undefined ? undefined : { rip: `0x${rip.toString(16)}` },
    );
  }

  /** kvm_exit: guest time ends, handling of `reason` begins. */
  exit(vcpu: number, reason: string, ms: number, rip?: bigint): void {
    this.open(
      vcpu,
      DEPTH.exit,
      reason,
      "kvm",
      ms,
      rip === undefined ? undefined : { rip: `0x${rip.toString(16)}` },
    );
    this.count(reason, ms);
  }

  /** kvm_userspace_exit: KVM_RUN returns to the VMM with `reason` (KVM_EXIT_IO …). */
  userspaceExit(vcpu: number, reason: string, ms: number): void {
    if (this.stack(vcpu).length < DEPTH.userspace) return;
    this.open(vcpu, DEPTH.userspace, reason, "qemu", ms);
  }

  /** A device's handler runs for the vCPU's exit (a memory region's read/write callback). */
  device(vcpu: number, name: string, ms: number, args?: Record<string, string | number>): void {
    if (this.stack(vcpu).length < DEPTH.device) return;
    this.open(vcpu, DEPTH.device, name, "device", ms, args);
  }

  /** The VMM calls KVM_RUN again: its handling of the userspace exit is over. */
  run(vcpu: number, ms: number): void {
    this.closeTo(vcpu, DEPTH.userspace, ms);
  }

  private count(reason: string, ms: number): void {
    if (this.window.size === 0 && this.windowStart === 0) this.windowStart = ms;
    if (ms - this.windowStart >= this.counterWindowMs) this.flushCounter(ms);
    this.reasons.add(reason);
    this.window.set(reason, (this.window.get(reason) ?? 0) + 1);
  }

  private flushCounter(ms: number): void {
    const span = Math.max(ms - this.windowStart, 1e-3) / 1000;
    const args: Record<string, number> = {};
    for (const r of this.reasons) args[r] = Math.round((this.window.get(r) ?? 0) / span);
    if (this.reasons.size > 0) {
      this.events.push({
        name: "exits/s",
        ph: "C",
        pid: this.pid,
        tid: this.pid,
        ts: this.ts(this.windowStart),
        args,
      });
    }
    this.window = new Map();
    this.windowStart = ms;
  }

  /** Close every open slice at `ms` and flush the last counter sample. */
  finish(ms: number): void {
    if (this.window.size > 0) this.flushCounter(ms);
    for (const vcpu of this.stacks.keys()) this.closeTo(vcpu, 0, ms);
  }

  toJSON(): ChromeTraceJson {
    return {
      traceEvents: this.events,
      displayTimeUnit: "ns",
      otherData: { producer: "glassvm" },
    };
  }
}
