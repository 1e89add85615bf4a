/**
 * `kvm_arch_put_registers` / `kvm_arch_get_registers` (target/i386/kvm/kvm.c), the parts
 * glassvm moves. Put: the general
 * registers (`kvm_put_regs` → KVM_SET_REGS) and the segment/control registers
 * (`kvm_put_sregs` → KVM_SET_SREGS) from QEMU's CPUX86State. FPU, XSAVE, MSRs and vCPU
 * events are not pushed yet. The apic_base and the pending-interrupt bitmap are kept as
 * KVM has them (read with KVM_GET_SREGS first) — QEMU's userspace irqchip injects with
 * KVM_INTERRUPT instead. Get: vCPU events (interrupt shadow, SMM), KVM_GET_REGS,
 * KVM_GET_SREGS (then the hflags, as x86_update_hflags), KVM_GET_DEBUGREGS.
 */
import {
  decodeKvmDebugregs,
  decodeKvmRegs,
  decodeKvmSregs,
  decodeKvmVcpuEvents,
  encodeKvmRegs,
  encodeKvmSregs,
  type HostOs,
  KVM_DEBUGREGS_SIZE,
  KVM_GET_DEBUGREGS,
  KVM_GET_REGS,
  KVM_GET_SREGS,
  KVM_GET_VCPU_EVENTS,
  KVM_REGS_SIZE,
  KVM_SET_REGS,
  KVM_SET_SREGS,
  KVM_SREGS_SIZE,
  KVM_VCPU_EVENTS_SIZE,
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
  HF_INHIBIT_IRQ_MASK,
  HF_SMM_MASK,
  R_CS,
  R_DS,
  R_ES,
  R_FS,
  R_GS,
  R_SS,
  type SegmentCache,
  type X86CPU,
  x86UpdateHflags,
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

/** `get_seg`: struct kvm_segment → QEMU's descriptor-cache flags (unusable: flags 0). */
export function getSeg(rhs: KvmSegment): SegmentCache {
  return {
    selector: rhs.selector,
    base: rhs.base,
    limit: rhs.limit >>> 0,
    flags: rhs.unusable
      ? 0
      : (rhs.type << DESC_TYPE_SHIFT) |
        (rhs.present ? DESC_P_MASK : 0) |
        (rhs.dpl << DESC_DPL_SHIFT) |
        (rhs.db ? DESC_B_MASK : 0) |
        (rhs.s ? DESC_S_MASK : 0) |
        (rhs.l ? DESC_L_MASK : 0) |
        (rhs.g ? DESC_G_MASK : 0) |
        (rhs.avl ? DESC_AVL_MASK : 0),
  };
}

/** `kvm_get_regs`: KVM_GET_REGS into env. */
export function kvmGetRegs(os: HostOs, vcpuFd: number, cpu: X86CPU): number {
  const buf = new Uint8Array(KVM_REGS_SIZE);
  const r = os.ioctl(vcpuFd, KVM_GET_REGS, buf);
  if (r < 0) return r;
  const regs = decodeKvmRegs(buf);
  const env = cpu.env;
  const order = [
    regs.rax,
    regs.rcx,
    regs.rdx,
    regs.rbx,
    regs.rsp,
    regs.rbp,
    regs.rsi,
    regs.rdi,
    regs.r8,
    regs.r9,
    regs.r10,
    regs.r11,
    regs.r12,
    regs.r13,
    regs.r14,
    regs.r15,
  ];
  order.forEach((v, i) => {
    env.regs[i] = v;
  });
  env.eip = regs.rip;
  env.eflags = Number(BigInt.asUintN(32, regs.rflags));
  return 0;
}

/** `kvm_get_sregs`: segments, descriptor tables, CR0–CR4, EFER; then the hflags. */
export function kvmGetSregs(os: HostOs, vcpuFd: number, cpu: X86CPU): number {
  const buf = new Uint8Array(KVM_SREGS_SIZE);
  const r = os.ioctl(vcpuFd, KVM_GET_SREGS, buf);
  if (r < 0) return r;
  const sregs = decodeKvmSregs(buf);
  const env = cpu.env;
  env.segs[R_CS] = getSeg(sregs.cs);
  env.segs[R_DS] = getSeg(sregs.ds);
  env.segs[R_ES] = getSeg(sregs.es);
  env.segs[R_FS] = getSeg(sregs.fs);
  env.segs[R_GS] = getSeg(sregs.gs);
  env.segs[R_SS] = getSeg(sregs.ss);
  env.tr = getSeg(sregs.tr);
  env.ldt = getSeg(sregs.ldt);
  env.idt = { base: sregs.idt.base, limit: sregs.idt.limit };
  env.gdt = { base: sregs.gdt.base, limit: sregs.gdt.limit };
  env.cr[0] = sregs.cr0;
  env.cr[2] = sregs.cr2;
  env.cr[3] = sregs.cr3;
  env.cr[4] = sregs.cr4;
  env.efer = sregs.efer;
  x86UpdateHflags(env);
  return 0;
}

/** `kvm_get_vcpu_events`, the parts the hflags keep: the interrupt shadow and SMM. */
export function kvmGetVcpuEvents(os: HostOs, vcpuFd: number, cpu: X86CPU): number {
  const buf = new Uint8Array(KVM_VCPU_EVENTS_SIZE);
  const r = os.ioctl(vcpuFd, KVM_GET_VCPU_EVENTS, buf);
  if (r < 0) return r;
  const ev = decodeKvmVcpuEvents(buf);
  const env = cpu.env;
  env.hflags &= ~(HF_INHIBIT_IRQ_MASK | HF_SMM_MASK);
  if (ev.interrupt.shadow) env.hflags |= HF_INHIBIT_IRQ_MASK;
  if (ev.smi.smm) env.hflags |= HF_SMM_MASK;
  return 0;
}

/** `kvm_get_debugregs`: DR0–DR3, DR6 (also as DR4), DR7 (also as DR5). */
export function kvmGetDebugregs(os: HostOs, vcpuFd: number, cpu: X86CPU): number {
  const buf = new Uint8Array(KVM_DEBUGREGS_SIZE);
  const r = os.ioctl(vcpuFd, KVM_GET_DEBUGREGS, buf);
  if (r < 0) return r;
  const dbg = decodeKvmDebugregs(buf);
  const env = cpu.env;
  for (let i = 0; i < 4; i++) env.dr[i] = dbg.db[i] ?? 0n;
  env.dr[4] = env.dr[6] = dbg.dr6;
  env.dr[5] = env.dr[7] = dbg.dr7;
  return 0;
}

/** `kvm_arch_get_registers` (events, REGS, SREGS, debug registers). 0 or a negative errno. */
export function kvmArchGetRegisters(os: HostOs, vcpuFd: number, cpu: X86CPU): number {
  for (const get of [kvmGetVcpuEvents, kvmGetRegs, kvmGetSregs, kvmGetDebugregs]) {
    const r = get(os, vcpuFd, cpu);
    if (r < 0) return r;
  }
  return 0;
}
