/** The QEMU process's system calls into KVM, newest last: strace's view. */
import { useState } from "react";
import type { SyscallEntry } from "../engine/ioctl-log.js";

export function IoctlLog({ entries, total }: { entries: readonly SyscallEntry[]; total: number }) {
  const [hideRun, setHideRun] = useState(false);
  const shown = hideRun ? entries.filter((e) => e.name !== "KVM_RUN") : entries;
  return (
    <div>
      <p>
        {total} calls{total > entries.length ? `, the last ${entries.length} kept` : ""}{" "}
        <label>
          <input type="checkbox" checked={hideRun} onChange={(e) => setHideRun(e.target.checked)} />{" "}
          hide KVM_RUN
        </label>
      </p>
      <div className="scroll">
        <table id="ioctl-log" className="grid">
          <thead>
            <tr>
              <th>#</th>
              <th>ms</th>
              <th>fd</th>
              <th>call</th>
              <th>arguments</th>
              <th>result</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((e) => (
              <tr key={e.seq} className={e.failed ? "failed" : undefined}>
                <td className="num">{e.seq}</td>
                <td className="num">{e.t.toFixed(1)}</td>
                <td>{e.fd}</td>
                <td>
                  <code>{e.name}</code>
                </td>
                <td className="args">{e.args}</td>
                <td>{e.result}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
