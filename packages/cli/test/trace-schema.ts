/**
 * A check of Chrome trace-event JSON (the JSON Object Format of the Trace Event Format
 * document): required fields per phase, and B/E pairs that nest per thread.
 */
import type { ChromeTraceJson } from "../src/index.js";

/** Problems found (empty = valid). */
export function traceProblems(json: unknown): string[] {
  const out: string[] = [];
  if (typeof json !== "object" || json === null) return ["not an object"];
  const events = (json as { traceEvents?: unknown }).traceEvents;
  if (!Array.isArray(events)) return ["traceEvents is not an array"];
  const stacks = new Map<string, string[]>();
  let lastTs = -Infinity;
  events.forEach((e: Record<string, unknown>, i) => {
    const at = `event ${i} (${JSON.stringify(e).slice(0, 80)})`;
    if (typeof e.name !== "string") out.push(`${at}: name`);
    if (!["B", "E", "X", "C", "M", "i", "I"].includes(e.ph as string)) out.push(`${at}: ph`);
    if (!Number.isInteger(e.pid)) out.push(`${at}: pid`);
    if (!Number.isInteger(e.tid)) out.push(`${at}: tid`);
    if (typeof e.ts !== "number" || !Number.isFinite(e.ts) || e.ts < 0) out.push(`${at}: ts`);
    if (e.ph === "X" && typeof e.dur !== "number") out.push(`${at}: X needs dur`);
    if (e.ph === "C" || e.ph === "M") {
      if (typeof e.args !== "object" || e.args === null) out.push(`${at}: args`);
    }
    if (e.ph === "C") {
      for (const v of Object.values(e.args as object)) {
        if (typeof v !== "number") out.push(`${at}: counter value not a number`);
      }
    }
    if (e.ph === "M" && typeof (e.args as { name?: unknown }).name !== "string") {
      out.push(`${at}: metadata args.name`);
    }
    if (e.ph !== "M") {
      if ((e.ts as number) < lastTs) out.push(`${at}: ts goes back`);
      lastTs = e.ts as number;
    }
    const key = `${e.pid}/${e.tid}`;
    const st = stacks.get(key) ?? [];
    stacks.set(key, st);
    if (e.ph === "B") st.push(e.name as string);
    if (e.ph === "E") {
      const open = st.pop();
      if (open !== e.name) out.push(`${at}: E closes ${String(open)}`);
    }
  });
  for (const [k, st] of stacks) if (st.length > 0) out.push(`${k}: unclosed ${st.join(" > ")}`);
  return out;
}

/** The thread names by tid. */
export function threadNames(json: ChromeTraceJson): Map<number, string> {
  const m = new Map<number, string>();
  for (const e of json.traceEvents) {
    if (e.ph === "M" && e.name === "thread_name") m.set(e.tid, String(e.args?.name));
  }
  return m;
}
