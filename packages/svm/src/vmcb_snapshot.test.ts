import { describe, expect, it } from "vitest";
import { svmHost } from "../test/setup.js";
import { INTERCEPT_IOIO_PROT } from "./asm/svm.js";
import { VMCB_RIP, VMCB_SIZE } from "./hw/vmcb.js";
import { VMCB_FIELDS, VmcbProvenance, vmcbDiff, vmcbSnapshot } from "./vmcb_snapshot.js";

describe("vmcbSnapshot / vmcbDiff", () => {
  it("lists fields without overlap, inside the page", () => {
    let end = 0;
    for (const f of VMCB_FIELDS) {
      expect(f.offset, f.name).toBeGreaterThanOrEqual(end);
      end = f.offset + f.width / 8;
    }
    expect(end).toBeLessThanOrEqual(VMCB_SIZE);
  });

  it("shows what an IOIO #VMEXIT wrote", () => {
    const h = svmHost();
    h.vmcb.setIntercept(INTERCEPT_IOIO_PROT);
    h.interceptPort(0xe9);
    h.ram.set([0xb0, 0x48, 0xe6, 0xe9], 0x1000); // mov al, 'H'; out 0xe9, al
    const before = vmcbSnapshot(h.vmcb);
    h.cpu.svm.vmrun(h.cpu, h.vmcb.pa);
    const changed = vmcbDiff(before, vmcbSnapshot(h.vmcb)).map((c) => [c.name, c.after]);
    expect(changed).toEqual([
      ["exit_code", 0x7bn],
      ["exit_info_1", 0xe9_0090n],
      ["exit_info_2", 0x1004n],
      ["next_rip", 0x1004n],
      ["rip", 0x1002n],
      ["rax", 0x48n],
    ]);
  });

  it("says who wrote each changed field: software before VMRUN, the processor at #VMEXIT", () => {
    const h = svmHost();
    h.vmcb.setIntercept(INTERCEPT_IOIO_PROT);
    h.interceptPort(0xe9);
    h.ram.set([0x90, 0x90, 0xb0, 0x48, 0xe6, 0xe9], 0x1000); // nop; nop; mov al,'H'; out
    const before = vmcbSnapshot(h.vmcb);
    const provenance = new VmcbProvenance();
    try {
      // kvm_amd's part: start the guest two bytes further on.
      h.vmcb.write64Halves(VMCB_RIP, 0x1002, 0);
      const software = vmcbDiff(before, vmcbSnapshot(h.vmcb), provenance);
      expect(software.map((c) => [c.name, c.by])).toEqual([["rip", "software"]]);
      h.cpu.svm.vmrun(h.cpu, h.vmcb.pa);
      const by = Object.fromEntries(
        vmcbDiff(before, vmcbSnapshot(h.vmcb), provenance).map((c) => [c.name, c.by]),
      );
      expect(by).toMatchObject({
        exit_code: "#VMEXIT",
        exit_info_1: "#VMEXIT",
        next_rip: "#VMEXIT",
        rip: "#VMEXIT",
        rax: "#VMEXIT",
      });
      provenance.reset();
      expect(vmcbDiff(before, vmcbSnapshot(h.vmcb), provenance)[0]!.by).toBeUndefined();
    } finally {
      provenance.detach();
    }
  });
});
