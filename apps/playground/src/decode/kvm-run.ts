/**
 * The kvm_run view: the mmap'd page of a vCPU as rows of `offset  field  value  meaning`,
 * from uapi's decodeKvmRun (header, the exit-union member exit_reason selects) plus what
 * the page alone cannot say in C: the I/O data bytes at data_offset, the device on a port,
 * the direction of an MMIO access.
 */
import { decodeKvmRun, KVM_EXIT_IO, KVM_RUN_OFFSETS, KvmRun } from "@glassvm/kvm-kernel/uapi";
import { hex, portName } from "./bits.js";

export interface KvmRunRow {
  /** Byte offset in struct kvm_run, or null for a derived line. */
  readonly offset: number | null;
  /** The C field name (`io.port`). */
  readonly name: string;
  readonly value: string;
  readonly note: string;
}

const fmt = (v: unknown): string => {
  if (typeof v === "bigint") return hex(v);
  if (typeof v === "number") return v > 9 ? `${v} (${hex(v)})` : String(v);
  if (v instanceof Uint8Array)
    return Array.from(v, (b) => b.toString(16).padStart(2, "0")).join(" ");
  return String(v);
};

/** Printable ASCII of bytes, `.` for the rest. */
const ascii = (b: Uint8Array): string =>
  Array.from(b, (c) => (c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : ".")).join("");

const OFFSETS = KVM_RUN_OFFSETS as Readonly<Record<string, number>>;

/** The page's rows: header first, then the exit union member, then sync-regs flags. */
export function kvmRunRows(bytes: Uint8Array): KvmRunRow[] {
  const d = decodeKvmRun(bytes);
  const rows: KvmRunRow[] = [];
  const header = [
    "request_interrupt_window",
    "immediate_exit",
    "exit_reason",
    "ready_for_interrupt_injection",
    "if_flag",
    "flags",
    "cr8",
    "apic_base",
  ];
  for (const name of header) {
    const v = d[name];
    const note = name === "exit_reason" ? String(d.exit_reason_name) : "";
    rows.push({ offset: OFFSETS[name] ?? null, name, value: fmt(v), note });
  }
  const reason = Number(d.exit_reason);
  for (const [member, body] of Object.entries(d)) {
    if (header.includes(member) || typeof body !== "object" || body === null) continue;
    if (member === "s" || body instanceof Uint8Array) continue;
    const flat = (prefix: string, obj: Record<string, unknown>): void => {
      for (const [k, v] of Object.entries(obj)) {
        if (
          v !== null &&
          typeof v === "object" &&
          !(v instanceof Uint8Array) &&
          !Array.isArray(v)
        ) {
          flat(`${prefix}${k}.`, v as Record<string, unknown>);
          continue;
        }
        const key = `${prefix}${k}`;
        const off = OFFSETS[key.replace(/\./g, "_").replace(/^debug_arch_/, "debug_")];
        let note = "";
        if (key === "io.direction") note = v === 1 ? "KVM_EXIT_IO_OUT" : "KVM_EXIT_IO_IN";
        if (key === "io.port") note = portName(Number(v)) ?? "";
        if (key === "mmio.is_write") note = v ? "write" : "read";
        rows.push({
          offset: off ?? null,
          name: key,
          value: Array.isArray(v) ? v.map(fmt).join(", ") : fmt(v),
          note,
        });
      }
    };
    flat(`${member}.`, body as Record<string, unknown>);
  }
  if (reason === KVM_EXIT_IO) {
    const run = new KvmRun(bytes);
    const data = run.ioData();
    rows.push({
      offset: Number(run.ioDataOffset),
      name: "(io data)",
      value: fmt(data),
      note: `"${ascii(data)}"`,
    });
  }
  rows.push({
    offset: OFFSETS.kvm_valid_regs ?? null,
    name: "kvm_valid_regs",
    value: fmt(d.kvm_valid_regs),
    note: "",
  });
  rows.push({
    offset: OFFSETS.kvm_dirty_regs ?? null,
    name: "kvm_dirty_regs",
    value: fmt(d.kvm_dirty_regs),
    note: "",
  });
  return rows;
}
