/**
 * kvm_amd's `emulateInstruction` (kvm-x86-ops.ts): KVM's instruction emulator
 * (arch/x86/kvm/emulate.c, the x86 core's x86EmulateInsn) run for an SVM vCPU — the same
 * emulator kvm_intel hands over, as both modules use kvm.ko's. KVM supplies the vCPU
 * (emulatorVcpu: registers, segments through svm_set_segment, RAM, CPUID) and the I/O
 * callbacks, and owns the exits around the instruction. kvm_amd needs it for MMIO (an NPF
 * on a gpa no memslot backs), string I/O (INS/OUTS), and skipping an instruction when
 * the VMCB has no next-RIP.
 */
import { EMULTYPE_SKIP, emulatorVcpu, type KvmVcpu, type X86EmulateOps } from "@glassvm/kvm-kernel";
import { X86EmulateCtxt, x86EmulateInsn } from "@glassvm/x86";

/** svm->vcpu.arch.emulate_ctxt: one per vCPU, allocated on its first emulation. */
const emulateCtxts = new WeakMap<KvmVcpu, X86EmulateCtxt>();

/**
 * Emulate (or with EMULTYPE_SKIP only skip) the instruction at the vCPU's CS:RIP;
 * X86EMUL_* result, the decoded bytes in vcpu.emulatedInsnBytes.
 */
export function svmEmulateInstruction(
  vcpu: KvmVcpu,
  ops: X86EmulateOps,
  emulationType: number,
): number {
  let ctxt = emulateCtxts.get(vcpu);
  if (!ctxt) {
    ctxt = new X86EmulateCtxt();
    emulateCtxts.set(vcpu, ctxt);
  }
  return x86EmulateInsn(ctxt, emulatorVcpu(vcpu), ops, (emulationType & EMULTYPE_SKIP) !== 0);
}
