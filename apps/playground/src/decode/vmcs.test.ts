import {
  CPU_BASED_HLT_EXITING,
  CPU_BASED_UNCOND_IO_EXITING,
  EXIT_REASON_CR_ACCESS,
  EXIT_REASON_EPT_VIOLATION,
  EXIT_REASON_IO_INSTRUCTION,
  PIN_BASED_EXT_INTR_MASK,
  PIN_BASED_NMI_EXITING,
  VM_ENTRY_IA32E_MODE,
  VMCS_FIELDS,
  vmcsSnapshot,
} from "@glassvm/vmx";
import { describe, expect, it } from "vitest";
import {
  decodeVmcsField,
  exitQualificationText,
  exitReasonText,
  groupVmcsFields,
  intrInfoText,
  VMCS_AREAS,
} from "./vmcs.js";

describe("VMCS field decoders", () => {
  it("names the pin-based, processor-based and entry control bits", () => {
    expect(
      decodeVmcsField(
        "PIN_BASED_VM_EXEC_CONTROL",
        BigInt(PIN_BASED_EXT_INTR_MASK | PIN_BASED_NMI_EXITING),
      ),
    ).toBe("EXT_INTR_MASK NMI_EXITING");
    expect(
      decodeVmcsField(
        "CPU_BASED_VM_EXEC_CONTROL",
        BigInt(CPU_BASED_HLT_EXITING | CPU_BASED_UNCOND_IO_EXITING),
      ),
    ).toBe("HLT_EXITING UNCOND_IO_EXITING");
    expect(decodeVmcsField("VM_ENTRY_CONTROLS", BigInt(VM_ENTRY_IA32E_MODE))).toBe("IA32E_MODE");
    // A bit without a name still shows.
    expect(decodeVmcsField("PIN_BASED_VM_EXEC_CONTROL", 1n << 30n)).toBe("bit30");
  });

  it("reads the basic exit reason and the VM-entry-failure bit (SDM Table C-1)", () => {
    expect(exitReasonText(30)).toBe("IO_INSTRUCTION");
    expect(exitReasonText(12)).toBe("HLT");
    expect(exitReasonText(0x8000_0021)).toBe("INVALID_STATE (VM-entry failure)");
    expect(decodeVmcsField("VM_EXIT_REASON", 1n)).toBe("EXTERNAL_INTERRUPT");
  });

  it("reads an I/O exit qualification (SDM Table 28-5)", () => {
    // OUT DX, AL to port 0xE9: size 0 (1 byte), direction 0 (out), port in bits 31:16.
    expect(exitQualificationText(EXIT_REASON_IO_INSTRUCTION, 0x00e9_0000n)).toBe(
      "OUT port 0xe9 1 byte (isa-debugcon)",
    );
    // IN AL, 0x71 (immediate), 1 byte.
    expect(exitQualificationText(EXIT_REASON_IO_INSTRUCTION, 0x0071_0048n)).toBe(
      "IN port 0x71 1 byte imm8 (RTC/CMOS)",
    );
    // REP OUTSW to COM1's THR: string, REP, 2 bytes.
    expect(exitQualificationText(EXIT_REASON_IO_INSTRUCTION, 0x03f8_0031n)).toBe(
      "OUTS port 0x3f8 2 bytes REP (COM1 THR/RBR)",
    );
    // The field decoder takes the reason from the snapshot.
    const all = new Map([["VM_EXIT_REASON", BigInt(EXIT_REASON_IO_INSTRUCTION)]]);
    expect(decodeVmcsField("EXIT_QUALIFICATION", 0x00f4_0000n, all)).toBe(
      "OUT port 0xf4 1 byte (isa-debug-exit)",
    );
  });

  it("reads control-register and EPT-violation qualifications (SDM Tables 28-3, 28-7)", () => {
    // MOV CR0, RAX: CR 0, type 0, register 0.
    expect(exitQualificationText(EXIT_REASON_CR_ACCESS, 0x0n)).toBe("MOV to CR0 from rax");
    // MOV RBX, CR3: CR 3, type 1 (from CR), register 3.
    expect(exitQualificationText(EXIT_REASON_CR_ACCESS, 0x313n)).toBe("MOV from CR3 to rbx");
    expect(exitQualificationText(EXIT_REASON_EPT_VIOLATION, 0x82n)).toBe(
      "write; EPT entry ---; linear address valid",
    );
  });

  it("reads interruption information (SDM 25.9.2)", () => {
    expect(intrInfoText(0)).toBe("not valid");
    // #GP, hardware exception, error code valid.
    expect(intrInfoText(0x8000_0b0d)).toBe("hardware exception, #GP, error code");
    // The host timer (vector 0xec), external interrupt.
    expect(intrInfoText(0x8000_00ec)).toBe("external interrupt, vector 0xec");
  });

  it("reads access rights, CR0, EFER, RFLAGS and the activity state", () => {
    // A flat 64-bit code segment: type 0xb, S, DPL 0, P, L, G.
    expect(decodeVmcsField("GUEST_CS_AR_BYTES", 0xa09bn)).toBe("code R A DPL0 P L G");
    expect(decodeVmcsField("GUEST_TR_AR_BYTES", 0x8bn)).toBe("TSS-busy DPL0 P");
    expect(decodeVmcsField("GUEST_LDTR_AR_BYTES", 0x1_0000n)).toBe("unusable");
    expect(decodeVmcsField("GUEST_CR0", 0x8000_0031n)).toBe("PE ET NE PG");
    expect(decodeVmcsField("GUEST_IA32_EFER", 0x500n)).toBe("LME LMA");
    expect(decodeVmcsField("GUEST_RFLAGS", 0x246n)).toBe("PF ZF IF");
    expect(decodeVmcsField("GUEST_ACTIVITY_STATE", 1n)).toBe("HLT");
    expect(decodeVmcsField("VM_INSTRUCTION_ERROR", 7n)).toMatch(/invalid control/i);
    expect(decodeVmcsField("GUEST_RIP", 0x1000n)).toBe("");
  });

  it("groups every field of a snapshot by SDM area, in the SDM's order", () => {
    const fields = VMCS_FIELDS.map((f) => ({
      name: f.name,
      encoding: f.encoding,
      area: f.area,
      value: 0n,
    }));
    const groups = groupVmcsFields(fields);
    expect(groups.map((g) => g.area)).toEqual(VMCS_AREAS.map((a) => a.area));
    expect(groups.reduce((n, g) => n + g.fields.length, 0)).toBe(VMCS_FIELDS.length);
    const exitInfo = groups.find((g) => g.area === "vm-exit-information")!;
    expect(exitInfo.fields.map((f) => f.name)).toContain("VM_EXIT_REASON");
    expect(typeof vmcsSnapshot).toBe("function");
  });
});
