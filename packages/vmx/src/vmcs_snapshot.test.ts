import { describe, expect, it } from "vitest";
import { kvmIntelWithVmcs } from "../test/setup.js";
import { GUEST_RIP, VM_INSTRUCTION_ERROR } from "./asm/vmx.js";
import { VmcsProvenance, vmcsDiff, vmcsSnapshot } from "./vmcs_snapshot.js";
import { VMCS_FIELDS } from "./vmcs-fields.js";
import { vmcsWrite32, vmcsWritel } from "./vmx_ops.js";

describe("VMCS snapshot and diff", () => {
  it("lists every field with name, area and value, and the diff shows what changed", () => {
    const { kvm, cpu } = kvmIntelWithVmcs();
    const vmcs = cpu.vmx.current!;
    const before = vmcsSnapshot(vmcs);
    expect(before.fields).toHaveLength(VMCS_FIELDS.length);
    expect(before.launchState).toBe("clear");
    expect(before.revisionId).toBe(kvm.vmcsConfig!.revisionId);
    vmcsWritel(cpu, GUEST_RIP, 0x7c00n);
    vmcsWrite32(cpu, 0x4402, 1); // read-only: VMfailValid(13) lands in VM_INSTRUCTION_ERROR
    const after = vmcsSnapshot(vmcs);
    expect(after.fields.find((f) => f.name === "GUEST_RIP")).toMatchObject({
      area: "guest-state",
      width: "natural",
      value: 0x7c00n,
    });
    expect(vmcsDiff(before, after)).toEqual(
      [
        {
          name: "VM_INSTRUCTION_ERROR",
          encoding: VM_INSTRUCTION_ERROR,
          area: "vm-exit-information",
          before: 0n,
          after: 13n,
        },
        { name: "GUEST_RIP", encoding: GUEST_RIP, area: "guest-state", before: 0n, after: 0x7c00n },
      ].sort(
        (a, b) =>
          VMCS_FIELDS.findIndex((f) => f.encoding === a.encoding) -
          VMCS_FIELDS.findIndex((f) => f.encoding === b.encoding),
      ),
    );
  });
});

describe("VMCS write provenance", () => {
  it("tells kvm_intel's VMWRITEs from the processor's own writes", () => {
    const { cpu } = kvmIntelWithVmcs();
    const who = new VmcsProvenance(cpu.vmx);
    const before = vmcsSnapshot(cpu.vmx.current!);
    vmcsWritel(cpu, GUEST_RIP, 0x7c00n);
    vmcsWrite32(cpu, 0x4402, 1);
    const diff = vmcsDiff(before, vmcsSnapshot(cpu.vmx.current!), who);
    expect(new Map(diff.map((c) => [c.name, c.by]))).toEqual(
      new Map([
        ["GUEST_RIP", "vmwrite"],
        ["VM_INSTRUCTION_ERROR", "cpu"],
      ]),
    );
    who.detach();
    expect(cpu.vmx.onFieldWrite).toBeNull();
  });
});
