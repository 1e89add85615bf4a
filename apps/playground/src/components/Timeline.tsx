/**
 * Per vCPU: time in the guest (between kvm_entry and kvm_exit) against time handling exits
 * (from kvm_exit to the next kvm_entry: KVM, and QEMU for userspace exits), newest at the
 * right. Gaps are time the vCPU was stopped (paused, between slices) or idle.
 */
import type { TimelineSegment } from "../engine/session.js";

const W = 1000;
const ROW = 18;

export function Timeline({ rows }: { rows: readonly (readonly TimelineSegment[])[] }) {
  const all = rows.flat();
  if (all.length === 0) return <p>(nothing ran yet)</p>;
  const end = Math.max(...all.map((s) => (Number.isNaN(s.end) ? s.start : s.end)));
  const start = Math.min(...all.map((s) => s.start));
  const span = Math.max(end - start, 0.001);
  const x = (t: number): number => ((t - start) / span) * W;
  let guest = 0;
  let exit = 0;
  for (const s of all) {
    const d = (Number.isNaN(s.end) ? end : s.end) - s.start;
    if (s.kind === "guest") guest += d;
    else exit += d;
  }
  return (
    <div id="timeline">
      <p>
        The last {span.toFixed(1)} ms: guest{" "}
        {((guest / Math.max(guest + exit, 1e-9)) * 100).toFixed(0)}%, exit handling{" "}
        {((exit / Math.max(guest + exit, 1e-9)) * 100).toFixed(0)}%{" "}
        <span className="legend guest">guest</span>{" "}
        <span className="legend exit">exit handling</span>
      </p>
      <svg
        viewBox={`0 0 ${W} ${rows.length * ROW}`}
        preserveAspectRatio="none"
        width="100%"
        height={rows.length * ROW}
      >
        <title>vCPU timeline</title>
        {rows.map((segs, vcpu) =>
          segs.map((s) => {
            const e = Number.isNaN(s.end) ? end : s.end;
            return (
              <rect
                key={`${vcpu}-${s.start}-${s.kind}`}
                x={x(s.start)}
                y={vcpu * ROW + 2}
                width={Math.max(x(e) - x(s.start), 0.5)}
                height={ROW - 4}
                className={s.kind}
              >
                <title>
                  {`vCPU ${vcpu}: ${s.kind === "guest" ? "in the guest" : `handling ${s.reason}`} ${(e - s.start).toFixed(3)} ms`}
                </title>
              </rect>
            );
          }),
        )}
      </svg>
    </div>
  );
}
