/**
 * The VMCS (VT-x) or VMCB (AMD-V) of vCPU 0: every field grouped by area, decoded; the
 * fields the last step wrote are highlighted with their writer (the CPU at the VM exit,
 * kvm_intel's VMWRITE, kvm_amd, VMSAVE …), and a value that changed shows its old value.
 */
import { hex } from "../decode/bits.js";
import { groupVmcbFields } from "../decode/vmcb.js";
import { groupVmcsFields } from "../decode/vmcs.js";
import type { ControlBlock, EntryFailure, FieldChange, LastExit } from "../engine/session.js";

interface Row {
  name: string;
  where: string;
  value: bigint;
  decoded: string;
}

export function ControlBlockView({
  block,
  changed,
  lastExit,
  failure,
}: {
  block: ControlBlock | null;
  changed: ReadonlyMap<string, FieldChange>;
  lastExit: LastExit | null;
  failure: EntryFailure | null;
}) {
  if (!block) return <p id="vmcs">(no current VMCS: the vCPU has not been loaded on a CPU yet)</p>;
  const groups: { title: string; rows: Row[] }[] =
    block.kind === "vmcs"
      ? groupVmcsFields(block.snapshot.fields).map((g) => ({
          title: g.title,
          rows: g.fields.map((f) => ({
            name: f.name,
            where: `0x${f.encoding.toString(16).padStart(4, "0")}`,
            value: f.value,
            decoded: f.decoded,
          })),
        }))
      : groupVmcbFields(block.snapshot.fields).map((g) => ({
          title: g.title,
          rows: g.fields.map((f) => ({
            name: f.name,
            where: `+0x${f.offset.toString(16).padStart(3, "0")}`,
            value: f.value,
            decoded: f.decoded,
          })),
        }));
  const exitInfo =
    block.kind === "vmcs" ? groups.find((g) => g.title.startsWith("VM-exit information")) : null;
  return (
    <div id="vmcs" data-kind={block.kind}>
      <p>
        {block.kind === "vmcs"
          ? `VMCS at ${hex(block.snapshot.pa)}, revision ${hex(block.snapshot.revisionId)}, ${block.snapshot.launchState}`
          : `VMCB at ${hex(block.snapshot.pa)}`}
        {lastExit
          ? ` — last exit: ${lastExit.reason} at rip ${hex(lastExit.rip)} (vcpu ${lastExit.vcpu})`
          : ""}
        {changed.size > 0
          ? ` — ${changed.size} fields written by the last exit or step (highlighted, with their writer)`
          : ""}
      </p>
      {failure ? (
        <p id="entry-failure" className="entry-failure">
          {block.kind === "vmcs" ? "VM entry failed" : "VMRUN failed"}
          {failure.sdm ? ` (SDM ${failure.sdm}, ${failure.rule})` : ` (${failure.rule})`}:{" "}
          {failure.message}
        </p>
      ) : null}
      {exitInfo ? (
        <p className="exit-summary">
          {exitInfo.rows
            .filter((r) => r.decoded && r.decoded !== "not valid")
            .map((r) => `${r.name}: ${r.decoded}`)
            .join(" · ")}
        </p>
      ) : null}
      {groups.map((g) => (
        <details key={g.title} open>
          <summary>{g.title}</summary>
          <table className="grid mono fields">
            <tbody>
              {g.rows.map((r) => {
                const c = changed.get(r.name);
                const failed = failure?.field === r.name;
                const cls = failed
                  ? "failed"
                  : c
                    ? c.before !== c.after
                      ? "changed"
                      : "written"
                    : undefined;
                return (
                  <tr key={r.name} data-field={r.name} className={cls}>
                    <td>{r.where}</td>
                    <td>{r.name}</td>
                    <td>{hex(r.value)}</td>
                    <td>{r.decoded}</td>
                    <td className="writer">
                      {c ? `${c.by}${c.before !== c.after ? ` (was ${hex(c.before)})` : ""}` : ""}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </details>
      ))}
    </div>
  );
}
