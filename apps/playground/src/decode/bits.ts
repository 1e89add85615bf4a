/**
 * Bit-field decoding shared by the VMCS, VMCB and register views: architectural flag
 * names (SDM Vol. 3A 2.5 control registers, 2.2.1 EFER, 3.4.3 EFLAGS), exception vectors,
 * segment access rights.
 */

/** [bit, name] pairs, low bit first. */
export type BitNames = readonly (readonly [number, string])[];

/** The names of the set bits of `v` (unknown bits as `bitN`). */
export function bitList(v: bigint | number, names: BitNames): string[] {
  const x = BigInt(v);
  const out: string[] = [];
  const known = new Set<number>();
  for (const [bit, name] of names) {
    known.add(bit);
    if ((x >> BigInt(bit)) & 1n) out.push(name);
  }
  for (let b = 0; b < 64; b++) {
    if (!known.has(b) && (x >> BigInt(b)) & 1n) out.push(`bit${b}`);
  }
  return out;
}

export const CR0_BITS: BitNames = [
  [0, "PE"],
  [1, "MP"],
  [2, "EM"],
  [3, "TS"],
  [4, "ET"],
  [5, "NE"],
  [16, "WP"],
  [18, "AM"],
  [29, "NW"],
  [30, "CD"],
  [31, "PG"],
];

export const CR4_BITS: BitNames = [
  [0, "VME"],
  [1, "PVI"],
  [2, "TSD"],
  [3, "DE"],
  [4, "PSE"],
  [5, "PAE"],
  [6, "MCE"],
  [7, "PGE"],
  [8, "PCE"],
  [9, "OSFXSR"],
  [10, "OSXMMEXCPT"],
  [11, "UMIP"],
  [12, "LA57"],
  [13, "VMXE"],
  [14, "SMXE"],
  [16, "FSGSBASE"],
  [17, "PCIDE"],
  [18, "OSXSAVE"],
  [20, "SMEP"],
  [21, "SMAP"],
  [22, "PKE"],
];

export const EFER_BITS: BitNames = [
  [0, "SCE"],
  [8, "LME"],
  [10, "LMA"],
  [11, "NXE"],
  [12, "SVME"],
];

export const RFLAGS_BITS: BitNames = [
  [0, "CF"],
  [1, "1"],
  [2, "PF"],
  [4, "AF"],
  [6, "ZF"],
  [7, "SF"],
  [8, "TF"],
  [9, "IF"],
  [10, "DF"],
  [11, "OF"],
  [12, "IOPL0"],
  [13, "IOPL1"],
  [14, "NT"],
  [16, "RF"],
  [17, "VM"],
  [18, "AC"],
  [19, "VIF"],
  [20, "VIP"],
  [21, "ID"],
];

/** RFLAGS as `IF ZF …` (the reserved bit 1 left out). */
export function rflagsText(v: bigint | number): string {
  return bitList(v, RFLAGS_BITS)
    .filter((n) => n !== "1")
    .join(" ");
}

export const EXCEPTION_NAMES = [
  "#DE",
  "#DB",
  "NMI",
  "#BP",
  "#OF",
  "#BR",
  "#UD",
  "#NM",
  "#DF",
  "CSO",
  "#TS",
  "#NP",
  "#SS",
  "#GP",
  "#PF",
  "15",
  "#MF",
  "#AC",
  "#MC",
  "#XM",
  "#VE",
  "#CP",
] as const;

/** A vector as a name: an exception mnemonic below 32, else the number. */
export function vectorName(v: number): string {
  return v < EXCEPTION_NAMES.length ? EXCEPTION_NAMES[v]! : `vector 0x${v.toString(16)}`;
}

/** Segment descriptor type names (SDM Vol. 3A 3.4.5.1), code/data (S=1). */
function segTypeText(type: number, s: number): string {
  if (!s) {
    const sys: Record<number, string> = {
      2: "LDT",
      3: "TSS16-busy",
      9: "TSS-avail",
      11: "TSS-busy",
      12: "call-gate",
      14: "int-gate",
      15: "trap-gate",
    };
    return sys[type] ?? `system ${type}`;
  }
  if (type & 8) return `code${type & 2 ? " R" : ""}${type & 4 ? " C" : ""}${type & 1 ? " A" : ""}`;
  return `data${type & 2 ? " W" : " RO"}${type & 4 ? " E↓" : ""}${type & 1 ? " A" : ""}`;
}

/** VMX access rights (SDM 25.4.1, Table 25-2): type, S, DPL, P, AVL, L, D/B, G, unusable. */
export function vmxArText(ar: number): string {
  if (ar & 0x1_0000) return "unusable";
  const type = ar & 0xf;
  const s = (ar >> 4) & 1;
  const parts = [segTypeText(type, s), `DPL${(ar >> 5) & 3}`];
  if (ar & 0x80) parts.push("P");
  if (ar & 0x2000) parts.push("L");
  if (ar & 0x4000) parts.push("D/B");
  if (ar & 0x8000) parts.push("G");
  return parts.join(" ");
}

/** VMCB segment attributes (APM Vol. 2 15.5.1): the descriptor's bits 8–15 and 20–23, packed. */
export function vmcbAttribText(attrib: number): string {
  const type = attrib & 0xf;
  const s = (attrib >> 4) & 1;
  const parts = [segTypeText(type, s), `DPL${(attrib >> 5) & 3}`];
  if (attrib & 0x80) parts.push("P");
  if (attrib & 0x200) parts.push("L");
  if (attrib & 0x400) parts.push("D/B");
  if (attrib & 0x800) parts.push("G");
  return parts.join(" ");
}

/** Hex with a 0x prefix. */
export const hex = (v: bigint | number): string => `0x${BigInt(v).toString(16)}`;

/** Port numbers of the pc machine's devices (QEMU's hw/i386/pc.c map), for I/O exits. */
export function portName(port: number): string | null {
  if (port === 0xe9) return "isa-debugcon";
  if (port >= 0x3f8 && port <= 0x3ff)
    return `COM1 ${["THR/RBR", "IER", "IIR/FCR", "LCR", "MCR", "LSR", "MSR", "SCR"][port - 0x3f8]}`;
  if (port === 0xf4) return "isa-debug-exit";
  if (port === 0x80) return "POST (port 0x80)";
  if (port === 0x70 || port === 0x71) return "RTC/CMOS";
  if (port >= 0x40 && port <= 0x43) return "PIT i8254";
  if (port === 0x20 || port === 0x21 || port === 0xa0 || port === 0xa1) return "PIC i8259";
  if (port === 0x60 || port === 0x64) return "i8042";
  if (port === 0x92) return "port92 (A20)";
  if (port === 0xcf9) return "PIIX reset control";
  if (port === 0x61) return "PC speaker";
  return null;
}

/**
 * A control block's fields (VMCS or VMCB) grouped by area in the manual's order, each
 * with its decoded text; `decode` sees every field's value by name (some decode others).
 */
export function groupByArea<
  A extends string,
  F extends { readonly name: string; readonly area: A; readonly value: bigint },
>(
  fields: readonly F[],
  areas: readonly { readonly area: A; readonly title: string }[],
  decode: (name: string, value: bigint, all: ReadonlyMap<string, bigint>) => string,
): { area: A; title: string; fields: (F & { decoded: string })[] }[] {
  const all = new Map(fields.map((f) => [f.name, f.value]));
  return areas.map(({ area, title }) => ({
    area,
    title,
    fields: fields
      .filter((f) => f.area === area)
      .map((f) => ({ ...f, decoded: decode(f.name, f.value, all) })),
  }));
}
