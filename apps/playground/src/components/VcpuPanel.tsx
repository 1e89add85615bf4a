/** vCPU 0 as KVM_GET_REGS / KVM_GET_SREGS return it, and its kvm_run page decoded. */
import type { KvmRegs, KvmSegment, KvmSregs } from "@glassvm/kvm-kernel/uapi";
import { bitList, CR0_BITS, CR4_BITS, EFER_BITS, hex, rflagsText } from "../decode/bits.js";
import type { KvmRunRow } from "../decode/kvm-run.js";

const GPRS = [
  "rax",
  "rbx",
  "rcx",
  "rdx",
  "rsi",
  "rdi",
  "rsp",
  "rbp",
  "r8",
  "r9",
  "r10",
  "r11",
  "r12",
  "r13",
  "r14",
  "r15",
  "rip",
  "rflags",
] as const;
const SEGS = ["cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt"] as const;

const h16 = (v: bigint): string => v.toString(16).padStart(16, "0");

function segFlags(s: KvmSegment): string {
  if (s.unusable) return "unusable";
  const f = [`type=${s.type}`, s.s ? "S" : "sys", `dpl=${s.dpl}`];
  if (s.present) f.push("P");
  if (s.l) f.push("L");
  if (s.db) f.push("DB");
  if (s.g) f.push("G");
  return f.join(" ");
}

export function VcpuPanel({
  regs,
  kvmRun,
}: {
  regs: { regs: KvmRegs; sregs: KvmSregs } | null;
  kvmRun: readonly KvmRunRow[] | null;
}) {
  if (!regs) return <p>(no vCPU)</p>;
  const r = regs.regs;
  const s = regs.sregs;
  return (
    <div className="vcpu">
      <div>
        <h3>Registers (KVM_GET_REGS)</h3>
        <table id="regs" className="grid mono">
          <tbody>
            {GPRS.map((g) => (
              <tr key={g}>
                <td>{g}</td>
                <td>{h16(r[g])}</td>
                <td>{g === "rflags" ? rflagsText(r.rflags) : ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <h3>Control registers (KVM_GET_SREGS)</h3>
        <table className="grid mono">
          <tbody>
            <tr>
              <td>cr0</td>
              <td>{h16(s.cr0)}</td>
              <td>{bitList(s.cr0, CR0_BITS).join(" ")}</td>
            </tr>
            <tr>
              <td>cr2</td>
              <td>{h16(s.cr2)}</td>
              <td />
            </tr>
            <tr>
              <td>cr3</td>
              <td>{h16(s.cr3)}</td>
              <td />
            </tr>
            <tr>
              <td>cr4</td>
              <td>{h16(s.cr4)}</td>
              <td>{bitList(s.cr4, CR4_BITS).join(" ")}</td>
            </tr>
            <tr>
              <td>efer</td>
              <td>{h16(s.efer)}</td>
              <td>{bitList(s.efer, EFER_BITS).join(" ")}</td>
            </tr>
            <tr>
              <td>gdt</td>
              <td>{h16(s.gdt.base)}</td>
              <td>limit {hex(s.gdt.limit)}</td>
            </tr>
            <tr>
              <td>idt</td>
              <td>{h16(s.idt.base)}</td>
              <td>limit {hex(s.idt.limit)}</td>
            </tr>
          </tbody>
        </table>
      </div>
      <div>
        <h3>Segment caches (hidden parts)</h3>
        <table id="segments" className="grid mono">
          <thead>
            <tr>
              <th>seg</th>
              <th>selector</th>
              <th>base</th>
              <th>limit</th>
              <th>attributes</th>
            </tr>
          </thead>
          <tbody>
            {SEGS.map((n) => {
              const seg = s[n];
              return (
                <tr key={n}>
                  <td>{n}</td>
                  <td>{seg.selector.toString(16).padStart(4, "0")}</td>
                  <td>{h16(seg.base)}</td>
                  <td>{seg.limit.toString(16).padStart(8, "0")}</td>
                  <td>{segFlags(seg)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
        <h3>struct kvm_run (mmap of the vCPU fd)</h3>
        <table id="kvm-run" className="grid mono">
          <thead>
            <tr>
              <th>offset</th>
              <th>field</th>
              <th>value</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {(kvmRun ?? []).map((row) => (
              <tr key={row.name}>
                <td>{row.offset === null ? "" : row.offset}</td>
                <td>{row.name}</td>
                <td>{row.value}</td>
                <td>{row.note}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
