/**
 * The VMCS view's decoders: each field of a vmcsSnapshot (from @glassvm/vmx) read as the
 * SDM reads it — control bits by name (Vol. 3C 25.6–25.8, the constant names of Linux's
 * asm/vmx.h), the exit reason and qualification (Vol. 3C 28.2, Tables 28-1…28-7), event
 * information (25.9.2), access rights (Table 25-2) and control registers — and the fields
 * grouped by the SDM's areas.
 */
import * as vmx from "@glassvm/vmx";
import {
  EXIT_REASON_CR_ACCESS,
  EXIT_REASON_EPT_VIOLATION,
  EXIT_REASON_EXCEPTION_NMI,
  EXIT_REASON_IO_INSTRUCTION,
  VMCS_FIELD_BY_NAME,
  VMX_EXIT_REASON_NAMES,
  type VmcsArea,
  vmxInstructionErrorMessage,
} from "@glassvm/vmx";
import {
  type BitNames,
  bitList,
  CR0_BITS,
  CR4_BITS,
  EFER_BITS,
  groupByArea,
  hex,
  portName,
  rflagsText,
  vectorName,
  vmxArText,
} from "./bits.js";

/** A field as the view shows it. */
export interface VmcsFieldView {
  readonly name: string;
  readonly encoding: number;
  readonly area: VmcsArea;
  readonly value: bigint;
  /** The value decoded ("" when hex says it all). */
  readonly decoded: string;
}

/** The SDM's order of areas (Vol. 3C 25.3–25.9) with their headings. */
export const VMCS_AREAS: readonly { readonly area: VmcsArea; readonly title: string }[] = [
  { area: "guest-state", title: "Guest-state area (25.4)" },
  { area: "host-state", title: "Host-state area (25.5)" },
  { area: "vm-execution-control", title: "VM-execution control fields (25.6)" },
  { area: "vm-exit-control", title: "VM-exit control fields (25.7)" },
  { area: "vm-entry-control", title: "VM-entry control fields (25.8)" },
  { area: "vm-exit-information", title: "VM-exit information fields (25.9)" },
];

/**
 * Bit names of a control field, from @glassvm/vmx's constants with `prefix`: the single-bit
 * values that are not themselves field encodings.
 */
function controlBits(prefix: string, skip: readonly string[] = []): BitNames {
  const out: [number, string][] = [];
  for (const [name, v] of Object.entries(vmx)) {
    if (!name.startsWith(prefix) || typeof v !== "number" || skip.includes(name)) continue;
    if (VMCS_FIELD_BY_NAME.has(name) || v <= 0 || (v & (v - 1)) !== 0) continue;
    const bit = 31 - Math.clz32(v);
    if (!out.some(([b]) => b === bit)) out.push([bit, name.slice(prefix.length)]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}

const PIN_BITS = controlBits("PIN_BASED_");
const PROC_BITS = controlBits("CPU_BASED_");
const PROC2_BITS = controlBits("SECONDARY_EXEC_");
const EXIT_BITS = controlBits("VM_EXIT_", ["VM_EXIT_ACTIVATE_SECONDARY_CONTROLS"]);
const ENTRY_BITS = controlBits("VM_ENTRY_");

const INTR_TYPES = [
  "external interrupt",
  "reserved",
  "NMI",
  "hardware exception",
  "software interrupt",
  "privileged software exception",
  "software exception",
  "other event",
];

/** VM-exit / IDT-vectoring / VM-entry interruption information (SDM 25.9.2, 25.8.3). */
export function intrInfoText(v: number): string {
  if ((v & 0x8000_0000) === 0) return "not valid";
  const vector = v & 0xff;
  const type = (v >> 8) & 7;
  const parts = [
    INTR_TYPES[type]!,
    type === 0 ? `vector 0x${vector.toString(16)}` : vectorName(vector),
  ];
  if (v & 0x800) parts.push("error code");
  if (v & 0x1000) parts.push("NMI unblocking");
  return parts.join(", ");
}

/** The basic exit reason's name (bits 15:0), and bit 31 when VM entry failed. */
export function exitReasonText(v: number): string {
  const basic = v & 0xffff;
  const name = VMX_EXIT_REASON_NAMES.get(basic) ?? `reason ${basic}`;
  return (v & 0x8000_0000) !== 0 ? `${name} (VM-entry failure)` : name;
}

/** The exit qualification, read the way the exit reason says (SDM Tables 28-1…28-7). */
export function exitQualificationText(reason: number, q: bigint): string {
  const lo = Number(q & 0xffff_ffffn);
  switch (reason & 0xffff) {
    case EXIT_REASON_IO_INSTRUCTION: {
      const port = lo >>> 16;
      const size = (lo & 7) + 1;
      const dir = lo & 8 ? "IN" : "OUT";
      const what = [
        `${dir}${lo & 0x10 ? "S" : ""}`,
        `port ${hex(port)}`,
        `${size} byte${size > 1 ? "s" : ""}`,
      ];
      if (lo & 0x20) what.push("REP");
      if (lo & 0x40) what.push("imm8");
      const dev = portName(port);
      if (dev) what.push(`(${dev})`);
      return what.join(" ");
    }
    case EXIT_REASON_CR_ACCESS: {
      const cr = lo & 0xf;
      const type = (lo >> 4) & 3;
      const reg = (lo >> 8) & 0xf;
      const gpr = [
        "rax",
        "rcx",
        "rdx",
        "rbx",
        "rsp",
        "rbp",
        "rsi",
        "rdi",
        "r8",
        "r9",
        "r10",
        "r11",
        "r12",
        "r13",
        "r14",
        "r15",
      ][reg]!;
      if (type === 0) return `MOV to CR${cr} from ${gpr}`;
      if (type === 1) return `MOV from CR${cr} to ${gpr}`;
      if (type === 2) return "CLTS";
      return `LMSW 0x${(lo >>> 16).toString(16)}`;
    }
    case EXIT_REASON_EPT_VIOLATION: {
      const acc = [lo & 1 ? "read" : "", lo & 2 ? "write" : "", lo & 4 ? "fetch" : ""].filter(
        Boolean,
      );
      const perm = [lo & 8 ? "R" : "-", lo & 0x10 ? "W" : "-", lo & 0x20 ? "X" : "-"].join("");
      return `${acc.join("+") || "access"}; EPT entry ${perm}${lo & 0x80 ? "; linear address valid" : ""}`;
    }
    case EXIT_REASON_EXCEPTION_NMI:
      return q === 0n ? "" : `${hex(q)} (#PF: linear address; #DB: DR6-style bits)`;
    default:
      return q === 0n ? "" : hex(q);
  }
}

/** One field's value in words, given the whole snapshot (for the exit qualification). */
export function decodeVmcsField(
  name: string,
  value: bigint,
  all: ReadonlyMap<string, bigint> = new Map(),
): string {
  const n = Number(value & 0xffff_ffffn);
  switch (name) {
    case "PIN_BASED_VM_EXEC_CONTROL":
      return bitList(n, PIN_BITS).join(" ");
    case "CPU_BASED_VM_EXEC_CONTROL":
      return bitList(n, PROC_BITS).join(" ");
    case "SECONDARY_VM_EXEC_CONTROL":
      return bitList(n, PROC2_BITS).join(" ");
    case "VM_EXIT_CONTROLS":
      return bitList(n, EXIT_BITS).join(" ");
    case "VM_ENTRY_CONTROLS":
      return bitList(n, ENTRY_BITS).join(" ");
    case "EXCEPTION_BITMAP":
      return bitList(
        n,
        Array.from({ length: 32 }, (_, i) => [i, vectorName(i)] as const),
      ).join(" ");
    case "VM_EXIT_REASON":
      return exitReasonText(n);
    case "EXIT_QUALIFICATION":
      return exitQualificationText(Number(all.get("VM_EXIT_REASON") ?? 0n), value);
    case "VM_EXIT_INTR_INFO":
    case "IDT_VECTORING_INFO_FIELD":
    case "VM_ENTRY_INTR_INFO_FIELD":
      return intrInfoText(n);
    case "VM_INSTRUCTION_ERROR":
      return n === 0 ? "" : vmxInstructionErrorMessage(n);
    case "GUEST_ACTIVITY_STATE":
      return ["active", "HLT", "shutdown", "wait-for-SIPI"][n] ?? String(n);
    case "GUEST_INTERRUPTIBILITY_INFO":
      return bitList(n, [
        [0, "blocking by STI"],
        [1, "blocking by MOV SS"],
        [2, "blocking by SMI"],
        [3, "blocking by NMI"],
      ]).join(", ");
    case "GUEST_CR0":
    case "HOST_CR0":
    case "CR0_GUEST_HOST_MASK":
    case "CR0_READ_SHADOW":
      return bitList(value, CR0_BITS).join(" ");
    case "GUEST_CR4":
    case "HOST_CR4":
    case "CR4_GUEST_HOST_MASK":
    case "CR4_READ_SHADOW":
      return bitList(value, CR4_BITS).join(" ");
    case "GUEST_IA32_EFER":
    case "HOST_IA32_EFER":
      return bitList(value, EFER_BITS).join(" ");
    case "GUEST_RFLAGS":
      return rflagsText(value);
    default:
      if (name.endsWith("_AR_BYTES")) return vmxArText(n);
      return "";
  }
}

/** The snapshot's fields decoded and grouped by area, in the SDM's order. */
export function groupVmcsFields(
  fields: readonly { name: string; encoding: number; area: VmcsArea; value: bigint }[],
): { area: VmcsArea; title: string; fields: VmcsFieldView[] }[] {
  return groupByArea(fields, VMCS_AREAS, decodeVmcsField);
}
