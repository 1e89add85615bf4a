import { SVM_EXIT_HLT, SVM_EXIT_IOIO, SVM_EXIT_NPF, VMCB_FIELDS } from "@glassvm/svm";
import { describe, expect, it } from "vitest";
import { decodeVmcbField, eventInjText, exitCodeText, groupVmcbFields, ioioText } from "./vmcb.js";

describe("VMCB field decoders", () => {
  it("names the exit code (APM Appendix C)", () => {
    expect(exitCodeText(BigInt(SVM_EXIT_IOIO))).toBe("io (0x7b)");
    expect(exitCodeText(BigInt(SVM_EXIT_HLT))).toBe("hlt (0x78)");
    expect(exitCodeText(0xffff_ffff_ffff_ffffn)).toBe("invalid (0xffffffff)");
  });

  it("reads EXITINFO1 of an IOIO intercept (APM 15.10.2)", () => {
    // OUT to 0xE9, SZ8 (bit 4).
    expect(ioioText(0x00e9_0010n)).toBe("OUT port 0xe9 1 byte (isa-debugcon)");
    // IN (bit 0) from COM1's LSR, SZ8.
    expect(ioioText(0x03fd_0011n)).toBe("IN port 0x3fd 1 byte (COM1 LSR)");
    // REP OUTS (bits 2, 3), SZ16.
    expect(ioioText(0x03f8_002cn)).toBe("OUTS port 0x3f8 2 bytes REP (COM1 THR/RBR)");
    const all = new Map([["exit_code", BigInt(SVM_EXIT_IOIO)]]);
    expect(decodeVmcbField("exit_info_1", 0x00f4_0010n, all)).toBe(
      "OUT port 0xf4 1 byte (isa-debug-exit)",
    );
    expect(decodeVmcbField("exit_info_2", 0xf0010n, all)).toBe("next RIP 0xf0010");
  });

  it("reads a nested page fault", () => {
    const all = new Map([["exit_code", BigInt(SVM_EXIT_NPF)]]);
    expect(decodeVmcbField("exit_info_1", 0x6n, all)).toBe("W U");
    expect(decodeVmcbField("exit_info_2", 0xfee0_0000n, all)).toBe("guest-physical 0xfee00000");
  });

  it("reads EVENTINJ / EXITINTINFO, attributes and control registers", () => {
    expect(eventInjText(0)).toBe("not valid");
    expect(eventInjText(0x8000_0b0e)).toBe("exception, #PF, error code");
    expect(eventInjText(0x8000_0020)).toBe("INTR, vector 0x20");
    // A 64-bit code segment: type 0xb, S, P, L (bit 9), G (bit 11).
    expect(decodeVmcbField("cs.attrib", 0xa9bn)).toBe("code R A DPL0 P L G");
    expect(decodeVmcbField("efer", 0x1500n)).toBe("LME LMA SVME");
    expect(decodeVmcbField("cr0", 0x11n)).toBe("PE ET");
    expect(decodeVmcbField("rflags", 0x2n)).toBe("");
  });

  it("groups the fields into the control and state-save areas", () => {
    const groups = groupVmcbFields(VMCB_FIELDS.map((f) => ({ ...f, value: 0n })));
    expect(groups.map((g) => g.area)).toEqual(["control", "save"]);
    expect(groups[0]!.fields.map((f) => f.name)).toContain("exit_code");
    expect(groups[1]!.fields.map((f) => f.name)).toContain("rip");
    expect(groups[0]!.fields.length + groups[1]!.fields.length).toBe(VMCB_FIELDS.length);
  });
});
