/**
 * `perf kvm stat report` as a live table (one row per exit reason: samples, share, handling
 * time from kvm_exit to the next kvm_entry) and a bar per reason.
 */
import type { ExitRow } from "../engine/session.js";

const f2 = (v: number): string => (Number.isFinite(v) ? v.toFixed(2) : "–");

export function ExitsPanel({ rows, total }: { rows: readonly ExitRow[]; total: number }) {
  const sorted = [...rows].sort((a, b) => b.count - a.count || b.totalUs - a.totalUs);
  const time = sorted.reduce((s, r) => s + r.totalUs, 0);
  const max = Math.max(1, ...sorted.map((r) => r.count));
  return (
    <div>
      <p>
        VM exits: <strong id="exit-total">{total}</strong> (perf kvm stat: from kvm_exit to the
        vCPU's next kvm_entry)
      </p>
      <table id="exit-table" className="grid">
        <thead>
          <tr>
            <th>VM-EXIT</th>
            <th>Samples</th>
            <th>Samples%</th>
            <th>Time%</th>
            <th>Min Time</th>
            <th>Max Time</th>
            <th>Avg time</th>
          </tr>
        </thead>
        <tbody>
          {sorted.map((r) => (
            <tr key={r.reason} data-reason={r.reason}>
              <td>{r.reason}</td>
              <td className="num samples">{r.count}</td>
              <td className="num">{f2(total ? (r.count / total) * 100 : 0)}%</td>
              <td className="num">{f2(time ? (r.totalUs / time) * 100 : 0)}%</td>
              <td className="num">{r.timed ? `${f2(r.minUs)}us` : "–"}</td>
              <td className="num">{r.timed ? `${f2(r.maxUs)}us` : "–"}</td>
              <td className="num">{r.timed ? `${f2(r.totalUs / r.timed)}us` : "–"}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="chart" role="img" aria-label="exits per reason">
        {sorted.map((r) => (
          <div key={r.reason} className="bar-row">
            <span className="bar-label">{r.reason}</span>
            <span className="bar" style={{ width: `${(r.count / max) * 100}%` }} />
            <span className="bar-count">{r.count}</span>
          </div>
        ))}
      </div>
    </div>
  );
}
