/**
 * Trace events (trace/control.c, the `-trace` option): every event has QEMU's name and
 * arguments; `-trace PATTERN` (globs, `-trace enable=…`) turns matching events on, and each
 * enabled event goes to the sinks as its name, arguments and the line QEMU's log backend
 * prints. A disabled event costs one Set lookup.
 *
 *   traceEnable("kvm_*");
 *   traceAddSink((e) => console.error(e.line));
 */

export type TraceArgs = Readonly<Record<string, number | bigint | string | boolean>>;

export interface TraceRecord {
  readonly name: string;
  readonly args: TraceArgs;
  /** As QEMU's "log" backend prints it: `name arg1 …` per the event's format. */
  readonly line: string;
}

export type TraceSink = (record: TraceRecord) => void;

/** Formats of the events that have one (trace-events files); others print key=value. */
const formats = new Map<string, (args: TraceArgs) => string>();
const enabled = new Set<string>();
const patterns: RegExp[] = [];
const sinks: TraceSink[] = [];
/** Every event name seen or declared, for `-trace help` and for late enabling. */
const known = new Set<string>();

/** Declare an event and how QEMU formats it (a trace-events line). */
export function defineTraceEvent(name: string, format: (args: TraceArgs) => string): void {
  formats.set(name, format);
  known.add(name);
  if (patterns.some((p) => p.test(name))) enabled.add(name);
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${body}$`);
}

/** `-trace PATTERN`: enable every event (declared now or later) matching the glob. */
export function traceEnable(pattern: string): void {
  const re = globToRegExp(pattern);
  patterns.push(re);
  for (const name of known) if (re.test(name)) enabled.add(name);
}

/** Turn every event off and forget the patterns (a fresh process). */
export function traceReset(): void {
  enabled.clear();
  patterns.length = 0;
}

/** Receive every enabled event. Returns the remover. */
export function traceAddSink(sink: TraceSink): () => void {
  sinks.push(sink);
  return () => {
    const i = sinks.indexOf(sink);
    if (i >= 0) sinks.splice(i, 1);
  };
}

/** Is `name` enabled (trace_event_get_state)? */
export function traceEventEnabled(name: string): boolean {
  return enabled.has(name);
}

/** The declared events, sorted (what `-trace help` lists). */
export function traceEventNames(): string[] {
  return [...known].sort();
}

/** Emit an event (the generated trace_<name>() call). */
export function traceEvent(name: string, args: TraceArgs): void {
  if (!enabled.has(name)) {
    if (!known.has(name)) {
      known.add(name);
      if (patterns.some((p) => p.test(name))) enabled.add(name);
      else return;
    } else return;
  }
  const f = formats.get(name);
  const line = f
    ? `${name} ${f(args)}`
    : `${name} ${Object.entries(args)
        .map(
          ([k, v]) => `${k}=${typeof v === "number" ? `0x${(v >>> 0).toString(16)}` : String(v)}`,
        )
        .join(" ")}`;
  const record = { name, args, line };
  for (const s of sinks) s(record);
}
