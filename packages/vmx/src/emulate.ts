/**
 * kvm_intel's `emulateInstruction` (kvm-x86-ops.ts): KVM's instruction emulator
 * (arch/x86/kvm/emulate.c) run for a VMX vCPU. In Linux emulate.c is part of kvm.ko; here
 * the decoder and interpreter belong to the silicon package, which kvm-kernel may not
 * import, so each vendor module hands the x86 core's emulator (x86EmulateInsn) to KVM.
 * KVM supplies the vCPU (emulatorVcpu) and the I/O callbacks, and keeps everything around
 * the instruction: MMIO and PIO exits, the read cache and replay, failures → #UD /
 * KVM_EXIT_INTERNAL_ERROR. Nothing here is VMX-specific: segment loads go back through
 * vmx_set_segment like every other KVM register write.
 */
import { EMULTYPE_SKIP, emulatorVcpu, type KvmVcpu, type X86EmulateOps } from "@glassvm/kvm-kernel";
import { X86EmulateCtxt, x86EmulateInsn } from "@glassvm/x86";

/** vcpu->arch.emulate_ctxt (alloc_emulate_ctxt): one per vCPU, on its first emulation. */
const contexts = new WeakMap<KvmVcpu, X86EmulateCtxt>();

/**
 * Emulate the instruction at the vCPU's CS:RIP. Returns X86EMUL_CONTINUE,
 * X86EMUL_IO_NEEDED, X86EMUL_PROPAGATE_FAULT or X86EMUL_UNHANDLEABLE; the bytes decoded
 * are left in vcpu.emulatedInsnBytes. With EMULTYPE_SKIP the instruction is only skipped.
 */
export function vmxEmulateInstruction(
  vcpu: KvmVcpu,
  ops: X86EmulateOps,
  emulationType: number,
): number {
  let ctxt = contexts.get(vcpu);
  if (!ctxt) {
    ctxt = new X86EmulateCtxt();
    contexts.set(vcpu, ctxt);
  }
  return x86EmulateInsn(ctxt, emulatorVcpu(vcpu), ops, (emulationType & EMULTYPE_SKIP) !== 0);
}
