import { describe, expect, it } from "vitest";
import { realMode } from "../../test/helpers.js";
import { EXIT_HLT, EXIT_HOOK } from "../cpu.js";
import {
  EV_EXCEPTION,
  EV_VMCALL,
  EV_VMX_INSN,
  HOOK_DONE,
  HOOK_EXIT,
  HOOK_PASS,
  VMX_INSN_VMXON,
} from "../hooks.js";
import { EIP } from "../state.js";

// IVT[6] → 0000:0200 (HLT), so a #UD ends at 0x201.
function withUdHandler(code: number[]) {
  const cpu = realMode(code);
  cpu.mem.load(6 * 4, [0x00, 0x02, 0x00, 0x00]);
  cpu.mem.load(0x200, [0xf4]);
  return cpu;
}

describe("VMX/SVM opcodes go to the extension", () => {
  it("vmcall without an extension raises #UD", () => {
    const cpu = withUdHandler([0x0f, 0x01, 0xc1, 0xf4]);
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(cpu.st[EIP]).toBe(0x201);
  });

  it("vmcall claimed by the extension stops at the instruction", () => {
    const cpu = withUdHandler([0x0f, 0x01, 0xc1, 0xf4]);
    const seen: number[] = [];
    cpu.hooks = {
      onEvent: (_c, kind) => {
        seen.push(kind);
        return kind === EV_VMCALL ? HOOK_EXIT : HOOK_PASS;
      },
    };
    expect(cpu.run(10)).toBe(EXIT_HOOK);
    expect(seen).toEqual([EV_VMCALL]);
    expect(cpu.st[EIP]).toBe(0x100);
  });

  it("vmxon [0x300] performed by the extension retires", () => {
    const cpu = withUdHandler([0xf3, 0x0f, 0xc7, 0x36, 0x00, 0x03, 0xf4]);
    const ids: number[] = [];
    cpu.hooks = {
      onEvent: (c, kind) => {
        if (kind === EV_VMX_INSN) ids.push(c.exitInfo[1]!);
        return kind === EV_VMX_INSN ? HOOK_DONE : kind === EV_EXCEPTION ? HOOK_PASS : HOOK_PASS;
      },
    };
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(ids).toEqual([VMX_INSN_VMXON]);
    expect(cpu.st[EIP]).toBe(0x107);
  });
});
