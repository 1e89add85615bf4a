/**
 * The VMCB view's decoders: each field of a vmcbSnapshot (from @glassvm/svm) as the AMD
 * APM Vol. 2 reads it — the exit code by name (Appendix C), EXITINFO1 of an IOIO intercept
 * (15.10.2), EVENTINJ / EXITINTINFO (15.20, 15.7.2), segment attributes (15.5.1) and control
 * registers — grouped into the control area and the state-save area (Appendix B).
 */
import {
  SVM_EXIT_EXCP_BASE,
  SVM_EXIT_IOIO,
  SVM_EXIT_NPF,
  svmExitName,
  type VmcbArea,
} from "@glassvm/svm";
import {
  bitList,
  CR0_BITS,
  CR4_BITS,
  EFER_BITS,
  groupByArea,
  hex,
  portName,
  rflagsText,
  vectorName,
  vmcbAttribText,
} from "./bits.js";

export interface VmcbFieldView {
  readonly name: string;
  readonly offset: number;
  readonly area: VmcbArea;
  readonly value: bigint;
  readonly decoded: string;
}

export const VMCB_AREAS: readonly { readonly area: VmcbArea; readonly title: string }[] = [
  { area: "control", title: "Control area (APM Table B-1)" },
  { area: "save", title: "State-save area (APM Table B-2)" },
];

const EVENT_TYPES = ["INTR", "reserved", "NMI", "exception", "software interrupt", "5", "6", "7"];

/** EVENTINJ / EXITINTINFO: V bit 31, vector, type, EV (error code valid). */
export function eventInjText(v: number): string {
  if ((v & 0x8000_0000) === 0) return "not valid";
  const type = (v >> 8) & 7;
  const vec = v & 0xff;
  const parts = [EVENT_TYPES[type]!, type === 3 ? vectorName(vec) : `vector 0x${vec.toString(16)}`];
  if (v & 0x800) parts.push("error code");
  return parts.join(", ");
}

/** EXITINFO1 of an IOIO intercept: port, direction, size, string, REP. */
export function ioioText(info1: bigint): string {
  const v = Number(info1 & 0xffff_ffffn);
  const port = v >>> 16;
  const size = v & 0x10 ? 1 : v & 0x20 ? 2 : v & 0x40 ? 4 : 0;
  const parts = [
    `${v & 1 ? "IN" : "OUT"}${v & 4 ? "S" : ""}`,
    `port ${hex(port)}`,
    `${size} byte${size === 1 ? "" : "s"}`,
  ];
  if (v & 8) parts.push("REP");
  const dev = portName(port);
  if (dev) parts.push(`(${dev})`);
  return parts.join(" ");
}

/** The exit code's name, e.g. `io (0x7b)`. */
export function exitCodeText(code: bigint): string {
  // SVM_EXIT_ERR is -1: the name table keys the code as a signed int.
  const c = Number(BigInt.asIntN(32, code & 0xffff_ffffn));
  const name = svmExitName(c);
  return name.startsWith("0x") ? name : `${name} (${hex(c >>> 0)})`;
}

export function decodeVmcbField(
  name: string,
  value: bigint,
  all: ReadonlyMap<string, bigint> = new Map(),
): string {
  const n = Number(value & 0xffff_ffffn);
  const exitCode = Number((all.get("exit_code") ?? 0n) & 0xffff_ffffn);
  switch (name) {
    case "exit_code":
      return exitCodeText(value);
    case "exit_info_1":
      if (exitCode === SVM_EXIT_IOIO) return ioioText(value);
      if (exitCode === SVM_EXIT_NPF)
        return bitList(value, [
          [0, "P"],
          [1, "W"],
          [2, "U"],
          [3, "RSV"],
          [4, "fetch"],
        ]).join(" ");
      if (exitCode >= SVM_EXIT_EXCP_BASE && exitCode < SVM_EXIT_EXCP_BASE + 32)
        return value === 0n ? "" : `error code ${hex(value)}`;
      return "";
    case "exit_info_2":
      if (exitCode === SVM_EXIT_IOIO) return value === 0n ? "" : `next RIP ${hex(value)}`;
      if (exitCode === SVM_EXIT_NPF) return `guest-physical ${hex(value)}`;
      return "";
    case "event_inj":
    case "exit_int_info":
      return eventInjText(n);
    case "cr0":
      return bitList(value, CR0_BITS).join(" ");
    case "cr4":
      return bitList(value, CR4_BITS).join(" ");
    case "efer":
      return bitList(value, EFER_BITS).join(" ");
    case "rflags":
      return rflagsText(value);
    case "int_state":
      return n & 1 ? "interrupt shadow" : "";
    case "int_ctl":
      return bitList(n, [
        [8, "V_IRQ"],
        [24, "V_INTR_MASKING"],
      ]).join(" ");
    default:
      if (name.endsWith(".attrib")) return vmcbAttribText(n);
      return "";
  }
}

export function groupVmcbFields(
  fields: readonly { name: string; offset: number; area: VmcbArea; value: bigint }[],
): { area: VmcbArea; title: string; fields: VmcbFieldView[] }[] {
  return groupByArea(fields, VMCB_AREAS, decodeVmcbField);
}
