import { describe, expect, it } from "vitest";
import { REFERENCE } from "../test/vmcs-reference.js";
import * as vmx from "./asm/vmx.js";
import {
  VMCS_ENCODING_RESERVED_MASK,
  VMCS_FIELD_BY_NAME,
  VMCS_FIELDS,
  type VmcsArea,
  type VmcsType,
  vmcsEncodingReserved,
  vmcsFieldIndex,
  vmcsFieldInfo,
  vmcsFieldIsHigh,
  vmcsFieldName,
  vmcsFieldType,
  vmcsFieldWidthBits,
} from "./vmcs-fields.js";

const consts = vmx as unknown as Readonly<Record<string, unknown>>;

const ALL_ROWS = REFERENCE.flatMap((t) => t.rows.map((r) => ({ table: t, row: r })));

const WIDTH_BITS: Readonly<Record<string, number>> = { 16: 0, 64: 1, 32: 2, natural: 3 };
const TYPE_BITS: Readonly<Record<VmcsType, number>> = {
  control: 0,
  "exit-info": 1,
  guest: 2,
  host: 3,
};
const AREA_ORDER: readonly VmcsArea[] = [
  "guest-state",
  "host-state",
  "vm-execution-control",
  "vm-exit-control",
  "vm-entry-control",
  "vm-exit-information",
];
const EXIT_CONTROLS = [
  "VM_EXIT_CONTROLS",
  "VM_EXIT_MSR_STORE_COUNT",
  "VM_EXIT_MSR_STORE_ADDR",
  "VM_EXIT_MSR_LOAD_COUNT",
  "VM_EXIT_MSR_LOAD_ADDR",
];
const ENTRY_CONTROLS = [
  "VM_ENTRY_CONTROLS",
  "VM_ENTRY_MSR_LOAD_COUNT",
  "VM_ENTRY_MSR_LOAD_ADDR",
  "VM_ENTRY_INTR_INFO_FIELD",
  "VM_ENTRY_EXCEPTION_ERROR_CODE",
  "VM_ENTRY_INSTRUCTION_LEN",
];

describe("VMCS_FIELDS", () => {
  it("holds exactly the reference's fields", () => {
    expect(VMCS_FIELDS).toHaveLength(ALL_ROWS.length);
    const listed = new Map(VMCS_FIELDS.map((f) => [f.name, f.encoding]));
    expect(listed.size).toBe(VMCS_FIELDS.length);
    for (const { row } of ALL_ROWS) expect([row[1], listed.get(row[1])]).toEqual([row[1], row[0]]);
  });

  it("no duplicate encodings", () => {
    expect(new Set(VMCS_FIELDS.map((f) => f.encoding)).size).toBe(VMCS_FIELDS.length);
  });

  it("each field's encoding is its asm/vmx.ts constant", () => {
    for (const f of VMCS_FIELDS) expect([f.name, consts[f.name]]).toEqual([f.name, f.encoding]);
  });

  it("width and type agree with the table the field sits in", () => {
    for (const { table, row } of ALL_ROWS) {
      const [enc, name, index] = row;
      const f = vmcsFieldInfo(enc);
      expect([name, f?.width, f?.type], table.title).toEqual([name, table.width, table.type]);
      expect([name, vmcsFieldWidthBits(enc)]).toEqual([name, WIDTH_BITS[String(table.width)]]);
      expect([name, vmcsFieldType(enc)]).toEqual([name, TYPE_BITS[table.type]]);
      expect([name, vmcsFieldIndex(enc)]).toEqual([name, index]);
      expect(vmcsFieldIsHigh(enc)).toBe(false);
    }
  });

  it("areas follow the encoding type, and control fields split as the SDM does", () => {
    for (const f of VMCS_FIELDS) {
      const expected: VmcsArea =
        f.type === "guest"
          ? "guest-state"
          : f.type === "host"
            ? "host-state"
            : f.type === "exit-info"
              ? "vm-exit-information"
              : EXIT_CONTROLS.includes(f.name)
                ? "vm-exit-control"
                : ENTRY_CONTROLS.includes(f.name)
                  ? "vm-entry-control"
                  : "vm-execution-control";
      expect([f.name, f.area]).toEqual([f.name, expected]);
      expect([f.name, f.readOnly]).toEqual([f.name, f.type === "exit-info"]);
    }
    const count = (a: VmcsArea) => VMCS_FIELDS.filter((f) => f.area === a).length;
    expect(count("vm-exit-control")).toBe(5);
    expect(count("vm-entry-control")).toBe(6);
    expect(count("vm-exit-information")).toBe(15);
  });

  it("is grouped by area in SDM order", () => {
    const ranks = VMCS_FIELDS.map((f) => AREA_ORDER.indexOf(f.area));
    expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
    expect(VMCS_FIELDS[0]?.name).toBe("GUEST_ES_SELECTOR");
    expect(VMCS_FIELDS.at(-1)?.area).toBe("vm-exit-information");
  });

  it("VMCS_FIELD_BY_NAME", () => {
    expect(VMCS_FIELD_BY_NAME.size).toBe(VMCS_FIELDS.length);
    expect(VMCS_FIELD_BY_NAME.get("GUEST_RIP")?.encoding).toBe(0x681e);
    expect(VMCS_FIELD_BY_NAME.get("EPT_POINTER")?.width).toBe(64);
    expect(VMCS_FIELD_BY_NAME.get("IO_BITMAP_A_HIGH")).toBeUndefined();
  });
});

describe("encoding decode", () => {
  it("helpers", () => {
    expect(vmcsFieldWidthBits(vmx.GUEST_RIP)).toBe(3);
    expect(vmcsFieldType(vmx.GUEST_RIP)).toBe(2);
    expect(vmcsFieldIndex(vmx.GUEST_RIP)).toBe(15);
    expect(vmcsFieldIsHigh(vmx.IO_BITMAP_A_HIGH)).toBe(true);
    expect(vmcsFieldWidthBits(vmx.VM_EXIT_REASON)).toBe(2);
    expect(vmcsFieldType(vmx.VM_EXIT_REASON)).toBe(1);
  });

  it("reserved bits", () => {
    expect(VMCS_ENCODING_RESERVED_MASK).toBe(0xffff9000);
    expect(vmcsEncodingReserved(0x00001000)).toBe(true);
    expect(vmcsEncodingReserved(0x00008000)).toBe(true);
    expect(vmcsEncodingReserved(0x00010000)).toBe(true);
    expect(vmcsEncodingReserved(0x80000000)).toBe(true);
    expect(vmcsEncodingReserved(0x1_0000_0000)).toBe(true);
    expect(vmcsEncodingReserved(-1)).toBe(true);
    expect(vmcsEncodingReserved(0x681e | 0x1000)).toBe(true);
    for (const f of VMCS_FIELDS) {
      expect([f.name, vmcsEncodingReserved(f.encoding)]).toEqual([f.name, false]);
      if (f.width === 64) expect(vmcsEncodingReserved(f.encoding + 1)).toBe(false);
    }
  });
});

describe("vmcsFieldInfo / vmcsFieldName", () => {
  it("the brief's cases", () => {
    expect(vmcsFieldInfo(vmx.GUEST_RIP)?.area).toBe("guest-state");
    expect(vmcsFieldInfo(vmx.VM_EXIT_REASON)?.readOnly).toBe(true);
    expect(vmcsFieldInfo(vmx.IO_BITMAP_A_HIGH)?.name).toBe("IO_BITMAP_A");
    expect(vmcsFieldInfo(vmx.GUEST_RIP + 1)).toBeUndefined();
  });

  it("high halves: 64-bit fields only", () => {
    for (const f of VMCS_FIELDS) {
      const high = vmcsFieldInfo(f.encoding + 1);
      if (f.width === 64) {
        expect(high).toBe(f);
        expect(vmcsFieldName(f.encoding + 1)).toBe(`${f.name}_HIGH`);
        expect(consts[`${f.name}_HIGH`]).toBe(f.encoding + 1);
      } else {
        expect([f.name, high]).toEqual([f.name, undefined]);
      }
    }
  });

  it("areas and read-only samples", () => {
    expect(vmcsFieldInfo(vmx.HOST_RIP)?.area).toBe("host-state");
    expect(vmcsFieldInfo(vmx.PIN_BASED_VM_EXEC_CONTROL)?.area).toBe("vm-execution-control");
    expect(vmcsFieldInfo(vmx.EPT_POINTER)?.area).toBe("vm-execution-control");
    expect(vmcsFieldInfo(vmx.CR0_GUEST_HOST_MASK)?.area).toBe("vm-execution-control");
    expect(vmcsFieldInfo(vmx.VM_EXIT_CONTROLS)?.area).toBe("vm-exit-control");
    expect(vmcsFieldInfo(vmx.VM_EXIT_MSR_LOAD_ADDR_HIGH)?.area).toBe("vm-exit-control");
    expect(vmcsFieldInfo(vmx.VM_ENTRY_INTR_INFO_FIELD)?.area).toBe("vm-entry-control");
    expect(vmcsFieldInfo(vmx.VM_ENTRY_INSTRUCTION_LEN)?.area).toBe("vm-entry-control");
    expect(vmcsFieldInfo(vmx.EXIT_QUALIFICATION)?.area).toBe("vm-exit-information");
    expect(vmcsFieldInfo(vmx.GUEST_PHYSICAL_ADDRESS)?.readOnly).toBe(true);
    expect(vmcsFieldInfo(vmx.GUEST_RIP)?.readOnly).toBe(false);
    expect(vmcsFieldInfo(vmx.VIRTUAL_PROCESSOR_ID)?.width).toBe(16);
    expect(vmcsFieldInfo(vmx.GUEST_CS_AR_BYTES)?.width).toBe(32);
  });

  it("unknown and reserved encodings", () => {
    expect(vmcsFieldInfo(0x0006)).toBeUndefined();
    expect(vmcsFieldInfo(0x2030)).toBeUndefined();
    expect(vmcsFieldInfo(0x1000)).toBeUndefined();
    expect(vmcsFieldInfo(vmx.GUEST_RIP | 0x10000)).toBeUndefined();
    expect(vmcsFieldName(0x2030)).toBe("0x2030");
    expect(vmcsFieldName(vmx.GUEST_RIP + 1)).toBe("0x681f");
    expect(vmcsFieldName(-1)).toBe("0xffffffff");
  });

  it("names", () => {
    expect(vmcsFieldName(vmx.GUEST_RIP)).toBe("GUEST_RIP");
    expect(vmcsFieldName(vmx.IO_BITMAP_A_HIGH)).toBe("IO_BITMAP_A_HIGH");
    for (const f of VMCS_FIELDS) expect(vmcsFieldName(f.encoding)).toBe(f.name);
  });
});
