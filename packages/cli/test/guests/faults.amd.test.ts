import { it } from "vitest";
import { expectEmulationFailureOnAmd } from "./suite.js";

// kvm_amd has no instruction emulator yet (packages/svm/README.md): MMIO (the read at 0xd0000000) ends in
// KVM_EXIT_INTERNAL_ERROR / KVM_INTERNAL_ERROR_EMULATION on AMD.
it("faults on -host-cpu amd: stops with an emulation failure (no emulator in kvm_amd yet)", () => {
  expectEmulationFailureOnAmd("faults");
});
