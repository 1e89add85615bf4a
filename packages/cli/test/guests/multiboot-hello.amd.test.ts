import { it } from "vitest";
import { expectEmulationFailureOnAmd } from "./suite.js";

// kvm_amd has no instruction emulator yet (packages/svm/README.md): REP INSB (string I/O) ends in
// KVM_EXIT_INTERNAL_ERROR / KVM_INTERNAL_ERROR_EMULATION on AMD.
it("multiboot-hello on -host-cpu amd: stops with an emulation failure (no emulator in kvm_amd yet)", () => {
  expectEmulationFailureOnAmd("multiboot-hello");
});
