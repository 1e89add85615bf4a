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

it("the README's hello-vmx example runs a guest through kvm_intel and shows one exit's VMCS writes", async () => {
  const { main: hello } = await import("../examples/hello-vmx.js");
  const out: string[] = [];
  expect(hello((s) => out.push(s))).toBe("Hello, world!\n");
  expect(out).toContain("  VM_EXIT_REASON           0x1e         (cpu)");
  expect(out).toContain("  EPT_POINTER              0x10010701e  (vmwrite)");
  expect(out.filter((l) => l.startsWith("kvm_exit: vcpu 0 reason IO_INSTRUCTION"))).toHaveLength(3);
  expect(out.at(-1)).toBe('guest wrote: "Hello, world!\\n" in 15 KVM_RUNs');
});
