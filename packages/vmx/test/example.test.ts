import { expect, it } from "vitest";
import { main } from "../examples/vmxon.js";

it("the README's example reaches VMX root operation and explains a failed VMWRITE", () => {
  const out: string[] = [];
  main((s) => out.push(s));
  expect(out).toEqual([
    "vmcs_config: revision 0x10, primary 0xb7d9fffe, secondary 0xea",
    "CPU 0 in VMX root operation, VMXON region at 0x100000000",
    "VMREAD GUEST_RIP = 0xfff0",
    "VMWRITE VM_EXIT_REASON → error 13: VMWRITE to read-only VMCS component",
  ]);
});
