/**
 * `kvm_arch_put_registers` (target/i386/kvm/kvm.c), the part glassvm pushes: the general
 * registers (`kvm_put_regs` → KVM_SET_REGS) and the segment/control registers
 * (`kvm_put_sregs` → KVM_SET_SREGS) from QEMU's CPUX86State. FPU, XSAVE, MSRs and vCPU
 * events are not pushed yet. The apic_base and the pending-interrupt bitmap are kept as
 * KVM has them (read with KVM_GET_SREGS first) — QEMU's userspace irqchip injects with
 * KVM_INTERRUPT instead.
 */
import {
  decodeKvmSregs,
  encodeKvmRegs,
  encodeKvmSregs,
  type HostOs,
  KVM_GET_SREGS,
  KVM_SET_REGS,
  KVM_SET_SREGS,
  KVM_SREGS_SIZE,
  type KvmRegs,
  type KvmSegment,
} from "@glassvm/kvm-kernel/uapi";
import {
  DESC_B_MASK,
  DESC_DPL_SHIFT,
  DESC_G_MASK,
  DESC_L_MASK,
  DESC_P_MASK,
  DESC_S_MASK,
  DESC_TYPE_SHIFT,
  R_CS,
  R_DS,
  R_ES,
  R_FS,
  R_GS,
  R_SS,
  type SegmentCache,
  type X86CPU,
} from "../cpu.js";

/** DESC_AVL_MASK (bit 20 of the flags word). */
const DESC_AVL_MASK = 1 << 20;

/** `set_seg`: QEMU's descriptor-cache flags → struct kvm_segment. */
export function setSeg(rhs: SegmentCache): KvmSegment {
  const flags = rhs.flags;
  const present = (flags & DESC_P_MASK) !== 0 ? 1 : 0;
  return {
    selector: rhs.selector,
    base: rhs.base,
    limit: rhs.limit >>> 0,
    type: (flags >>> DESC_TYPE_SHIFT) & 15,
    present,
    dpl: (flags >>> DESC_DPL_SHIFT) & 3,
    db: (flags & DESC_B_MASK) !== 0 ? 1 : 0,
    s: (flags & DESC_S_MASK) !== 0 ? 1 : 0,
    l: (flags & DESC_L_MASK) !== 0 ? 1 : 0,
    g: (flags & DESC_G_MASK) !== 0 ? 1 : 0,
    avl: (flags & DESC_AVL_MASK) !== 0 ? 1 : 0,
    unusable: present ? 0 : 1,
  };
}

/** `kvm_put_regs`: KVM_SET_REGS from env (QEMU's register order EAX ECX EDX EBX ESP EBP ESI EDI). */
export function kvmPutRegs(os: HostOs, vcpuFd: number, cpu: X86CPU): number {
  const env = cpu.env;
  const r = (i: number): bigint => BigInt.asUintN(64, env.regs[i] ?? 0n);
  const regs: KvmRegs = {
    rax: r(0),
    rcx: r(1),
    rdx: r(2),
    rbx: r(3),
    rsp: r(4),
    rbp: r(5),
    rsi: r(6),
    rdi: r(7),
    r8: r(8),
    r9: r(9),
    r10: r(10),
    r11: r(11),
    r12: r(12),
    r13: r(13),
    r14: r(14),
    r15: r(15),
    rip: BigInt.asUintN(64, env.eip),
    rflags: BigInt(env.eflags >>> 0),
  };
  return os.ioctl(vcpuFd, KVM_SET_REGS, encodeKvmRegs(regs));
}

/** `kvm_put_sregs`: KVM_SET_SREGS from env's segment caches, GDTR/IDTR, CR0–CR4, EFER. */
export function kvmPutSregs(os: HostOs, vcpuFd: number, cpu: X86CPU): number {
  const env = cpu.env;
  const buf = new Uint8Array(KVM_SREGS_SIZE);
  const g = os.ioctl(vcpuFd, KVM_GET_SREGS, buf);
  if (g < 0) return g;
  const sregs = decodeKvmSregs(buf);
  sregs.cs = setSeg(env.segs[R_CS]!);
  sregs.ds = setSeg(env.segs[R_DS]!);
  sregs.es = setSeg(env.segs[R_ES]!);
  sregs.fs = setSeg(env.segs[R_FS]!);
  sregs.gs = setSeg(env.segs[R_GS]!);
  sregs.ss = setSeg(env.segs[R_SS]!);
  sregs.tr = setSeg(env.tr);
  sregs.ldt = setSeg(env.ldt);
  sregs.idt = { base: env.idt.base, limit: env.idt.limit };
  sregs.gdt = { base: env.gdt.base, limit: env.gdt.limit };
  sregs.cr0 = env.cr[0] ?? 0n;
  sregs.cr2 = env.cr[2] ?? 0n;
  sregs.cr3 = env.cr[3] ?? 0n;
  sregs.cr4 = env.cr[4] ?? 0n;
  sregs.efer = env.efer;
  return os.ioctl(vcpuFd, KVM_SET_SREGS, encodeKvmSregs(sregs));
}

/** `kvm_arch_put_registers` (REGS and SREGS). 0 or a negative errno. */
export function kvmArchPutRegisters(os: HostOs, vcpuFd: number, cpu: X86CPU): number {
  const r = kvmPutRegs(os, vcpuFd, cpu);
  if (r < 0) return r;
  return kvmPutSregs(os, vcpuFd, cpu);
}
