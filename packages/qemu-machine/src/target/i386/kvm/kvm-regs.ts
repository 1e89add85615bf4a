/**
 * `kvm_arch_put_registers` / `kvm_arch_get_registers` (target/i386/kvm/kvm.c): QEMU's
 * CPUX86State to and from KVM. Put, in QEMU's order, with its levels
 * (KVM_PUT_RUNTIME_STATE 1 < KVM_PUT_RESET_STATE 2 < KVM_PUT_FULL_STATE 3):
 *
 *   ≥ reset  IA32_FEATURE_CONTROL alone (kvm_put_msr_feature_control), when the CPUID has
 *            VMX/SMX/SGX or LMCE
 *            KVM_SET_SREGS   segments, descriptor tables, CR0–CR4, EFER
 *            KVM_SET_REGS    general registers, RIP, RFLAGS
 *            KVM_SET_FPU     kvm_put_fpu — QEMU's kvm_put_xsave on a kernel without
 *                            KVM_CAP_XSAVE (the kernel model has none, see kvm-all.ts)
 *            KVM_SET_MSRS    kvm_put_msrs(level), see {@link kvmPutMsrs}
 *            KVM_SET_VCPU_EVENTS   kvm_put_vcpu_events(level)
 *   ≥ reset  KVM_SET_MP_STATE
 *            KVM_SET_DEBUGREGS
 *
 * Deviations: the apic_base and the pending-interrupt bitmap of KVM_SET_SREGS are kept as
 * KVM has them (read with KVM_GET_SREGS first) — QEMU's userspace irqchip injects with
 * KVM_INTERRUPT instead; no XCRs (no KVM_CAP_XCRS), nested state, Hyper-V, Xen, PMU,
 * Intel PT, SGX, XFD or arch-LBR MSRs; the MCE MSRs only when KVM has KVM_CAP_MCE (kvm.ts
 * skips MCE setup without it, so KVM's MCG_CAP has no banks and would refuse them).
 * Get: vCPU events, MP state, KVM_GET_REGS, KVM_GET_FPU, KVM_GET_SREGS (then the hflags,
 * as x86_update_hflags), KVM_GET_MSRS (the same list), KVM_GET_DEBUGREGS.
 */
import {
  decodeKvmDebugregs,
  decodeKvmFpu,
  decodeKvmMpState,
  decodeKvmMsrs,
  decodeKvmRegs,
  decodeKvmSregs,
  decodeKvmVcpuEvents,
  emptyKvmVcpuEvents,
  encodeKvmDebugregs,
  encodeKvmFpu,
  encodeKvmMpState,
  encodeKvmMsrs,
  encodeKvmRegs,
  encodeKvmSregs,
  encodeKvmVcpuEvents,
  type HostOs,
  KVM_CAP_MCE,
  KVM_CHECK_EXTENSION,
  KVM_DEBUGREGS_SIZE,
  KVM_FPU_SIZE,
  KVM_GET_DEBUGREGS,
  KVM_GET_FPU,
  KVM_GET_MP_STATE,
  KVM_GET_MSRS,
  KVM_GET_REGS,
  KVM_GET_SREGS,
  KVM_GET_VCPU_EVENTS,
  KVM_MP_STATE_HALTED,
  KVM_MP_STATE_SIPI_RECEIVED,
  KVM_MP_STATE_SIZE,
  KVM_REGS_SIZE,
  KVM_SET_DEBUGREGS,
  KVM_SET_FPU,
  KVM_SET_MP_STATE,
  KVM_SET_MSRS,
  KVM_SET_REGS,
  KVM_SET_SREGS,
  KVM_SET_VCPU_EVENTS,
  KVM_SREGS_SIZE,
  KVM_VCPU_EVENTS_SIZE,
  KVM_VCPUEVENT_VALID_NMI_PENDING,
  KVM_VCPUEVENT_VALID_PAYLOAD,
  KVM_VCPUEVENT_VALID_SIPI_VECTOR,
  KVM_VCPUEVENT_VALID_SMM,
  KVM_VCPUEVENT_VALID_TRIPLE_FAULT,
  type KvmMsrEntry,
  type KvmRegs,
  type KvmSegment,
  type KvmVcpuEvents,
} from "@glassvm/kvm-kernel/uapi";
import { QomError } from "@glassvm/qom";
import { currentAccel } from "../../../accel/accel-common.js";
import { kvmIrqchipInKernel } from "../../../accel/kvm/kvm-all.js";
import { errorReport } from "../../../util/error-report.js";
import {
  CPU_NB_REGS,
  DESC_B_MASK,
  DESC_DPL_SHIFT,
  DESC_G_MASK,
  DESC_L_MASK,
  DESC_P_MASK,
  DESC_S_MASK,
  DESC_TYPE_SHIFT,
  HF_INHIBIT_IRQ_MASK,
  HF_SMM_MASK,
  HF2_NMI_MASK,
  HF2_SMM_INSIDE_NMI_MASK,
  MCG_LMCE_P,
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
import { CPUID_MTRR, FEAT_1_EDX, FEAT_KVM } from "../cpu-features.js";
import { kvmGetSupportedMsrs, kvmHasMsrFeatureControl } from "./kvm.js";

/** DESC_AVL_MASK (bit 20 of the flags word). */
const DESC_AVL_MASK = 1 << 20;

/** A KVM_GET_* vCPU ioctl into a fresh struct, decoded; a negative errno when it fails. */
function vcpuGet<T extends object>(
  os: HostOs,
  vcpuFd: number,
  request: number,
  size: number,
  decode: (buf: Uint8Array) => T,
): T | number {
  const buf = new Uint8Array(size);
  const r = os.ioctl(vcpuFd, request, buf);
  return r < 0 ? r : decode(buf);
}

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
  const sregs = vcpuGet(os, vcpuFd, KVM_GET_SREGS, KVM_SREGS_SIZE, decodeKvmSregs);
  if (typeof sregs === "number") return sregs;
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

// ---------------------------------------------------------------------------
// Levels, MSR numbers, what KVM offers

/** kvm_arch_put_registers levels (sysemu/kvm.h). */
export const KVM_PUT_RUNTIME_STATE = 1;
export const KVM_PUT_RESET_STATE = 2;
export const KVM_PUT_FULL_STATE = 3;
export type KvmPutLevel =
  | typeof KVM_PUT_RUNTIME_STATE
  | typeof KVM_PUT_RESET_STATE
  | typeof KVM_PUT_FULL_STATE;

/** MSRs kvm_put_msrs / kvm_get_msrs move (target/i386/cpu.h, linux kvm_para.h). */
export const MSR_IA32_TSC = 0x10;
export const MSR_KVM_WALL_CLOCK = 0x11;
export const MSR_KVM_SYSTEM_TIME = 0x12;
export const MSR_IA32_FEATURE_CONTROL = 0x3a;
export const MSR_TSC_ADJUST = 0x3b;
export const MSR_IA32_SMBASE = 0x9e;
export const MSR_IA32_SYSENTER_CS = 0x174;
export const MSR_IA32_SYSENTER_ESP = 0x175;
export const MSR_IA32_SYSENTER_EIP = 0x176;
export const MSR_MCG_STATUS = 0x17a;
export const MSR_MCG_CTL = 0x17b;
export const MSR_IA32_MISC_ENABLE = 0x1a0;
export const MSR_MTRRphysBase = (i: number): number => 0x200 + 2 * i;
export const MSR_MTRRphysMask = (i: number): number => 0x201 + 2 * i;
export const MSR_MTRRfix64K_00000 = 0x250;
export const MSR_MTRRfix16K_80000 = 0x258;
export const MSR_MTRRfix16K_A0000 = 0x259;
/** MSR_MTRRfix4K_C0000 … _F8000 are 0x268 … 0x26f. */
export const MSR_MTRRfix4K_C0000 = 0x268;
export const MSR_PAT = 0x277;
export const MSR_MTRRdefType = 0x2ff;
export const MSR_MC0_CTL = 0x400;
export const MSR_MCG_EXT_CTL = 0x4d0;
export const MSR_STAR = 0xc000_0081;
export const MSR_LSTAR = 0xc000_0082;
export const MSR_CSTAR = 0xc000_0083;
export const MSR_FMASK = 0xc000_0084;
export const MSR_KERNELGSBASE = 0xc000_0102;
export const MSR_TSC_AUX = 0xc000_0103;
export const MSR_KVM_ASYNC_PF_EN = 0x4b56_4d02;
export const MSR_KVM_STEAL_TIME = 0x4b56_4d03;
export const MSR_KVM_PV_EOI_EN = 0x4b56_4d04;
export const MSR_KVM_POLL_CONTROL = 0x4b56_4d05;
export const MSR_KVM_ASYNC_PF_INT = 0x4b56_4d06;
/** Variable-range MTRR pairs (MSR_MTRRcap_VCNT). */
export const MSR_MTRRcap_VCNT = 8;

/** KVM paravirtual feature bits of CPUID 0x40000001 EAX (FEAT_KVM). */
const CPUID_KVM_CLOCK = 1n << 0n;
const CPUID_KVM_CLOCK2 = 1n << 3n;
const CPUID_KVM_ASYNCPF = 1n << 4n;
const CPUID_KVM_STEAL_TIME = 1n << 5n;
const CPUID_KVM_PV_EOI = 1n << 6n;
const CPUID_KVM_POLL_CONTROL = 1n << 12n;
const CPUID_KVM_ASYNCPF_INT = 1n << 14n;

/** MTRR fixed-range MSRs in env.mtrrFixed order. */
const MTRR_FIXED_MSRS: readonly number[] = [
  MSR_MTRRfix64K_00000,
  MSR_MTRRfix16K_80000,
  MSR_MTRRfix16K_A0000,
  ...Array.from({ length: 8 }, (_, i) => MSR_MTRRfix4K_C0000 + i),
];

/**
 * What QEMU learns from KVM once (kvm_arch_init, kvm_get_supported_msrs): the has_msr_*
 * flags of KVM_GET_MSR_INDEX_LIST, lm_capable_kernel, and the VM capabilities the puts
 * depend on.
 */
export interface KvmRegsCaps {
  readonly hasMsrStar: boolean;
  readonly hasMsrTscAux: boolean;
  readonly hasMsrTscAdjust: boolean;
  readonly hasMsrMiscEnable: boolean;
  readonly hasMsrSmbase: boolean;
  /** uname's machine is x86_64: CSTAR, KERNELGSBASE, FMASK, LSTAR are moved. */
  readonly lmCapableKernel: boolean;
  /** KVM_CAP_MCE: KVM_X86_SETUP_MCE ran, so KVM has the MCE banks. */
  readonly hasMce: boolean;
  /** KVM_CAP_EXCEPTION_PAYLOAD enabled on the VM (kvm_vm_enable_exception_payload). */
  readonly hasExceptionPayload: boolean;
  /** KVM_CAP_X86_TRIPLE_FAULT_EVENT enabled on the VM. */
  readonly hasTripleFaultEvent: boolean;
}

/** Options of {@link kvmArchPutRegisters} / {@link kvmArchGetRegisters}. */
export interface KvmRegsOptions {
  /** The /dev/kvm fd (kvm_state->fd); default: the current KVM accelerator's. */
  readonly kvmFd?: number;
  /** Overrides what is asked of KVM (tests). */
  readonly caps?: KvmRegsCaps;
}

let capsCache = new WeakMap<X86CPU, KvmRegsCaps>();

function accelKvmFd(): number | undefined {
  try {
    const st = (currentAccel() as { state?: { fd?: number } } | null)?.state;
    return typeof st?.fd === "number" ? st.fd : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The has_msr_* flags and capabilities for `cpu` (cached per CPU). Without a /dev/kvm fd
 * every optional MSR is left out. glassvm's host kernel is x86_64 (lm_capable_kernel). The
 * VM capabilities EXCEPTION_PAYLOAD and TRIPLE_FAULT_EVENT are not enabled by kvm-all.ts.
 */
export function kvmRegsCaps(os: HostOs, cpu: X86CPU, opts: KvmRegsOptions = {}): KvmRegsCaps {
  if (opts.caps) return opts.caps;
  const cached = capsCache.get(cpu);
  if (cached) return cached;
  const kvmFd = opts.kvmFd ?? accelKvmFd();
  const list = kvmFd === undefined ? new Set<number>() : kvmGetSupportedMsrs(os, kvmFd);
  const caps: KvmRegsCaps = {
    hasMsrStar: list.has(MSR_STAR),
    hasMsrTscAux: list.has(MSR_TSC_AUX),
    hasMsrTscAdjust: list.has(MSR_TSC_ADJUST),
    hasMsrMiscEnable: list.has(MSR_IA32_MISC_ENABLE),
    hasMsrSmbase: list.has(MSR_IA32_SMBASE),
    lmCapableKernel: true,
    hasMce: kvmFd !== undefined && os.ioctl(kvmFd, KVM_CHECK_EXTENSION, KVM_CAP_MCE) > 0,
    hasExceptionPayload: false,
    hasTripleFaultEvent: false,
  };
  capsCache.set(cpu, caps);
  return caps;
}

/** Forget the cached capabilities of every CPU (a new QEMU process; for tests). */
export function kvmRegsResetCaches(): void {
  capsCache = new WeakMap();
}

// ---------------------------------------------------------------------------
// FPU

/** `kvm_put_fpu`: KVM_SET_FPU — x87 registers and control/status/abridged tag, FOP/FIP/FDP, XMM, MXCSR. */
export function kvmPutFpu(os: HostOs, vcpuFd: number, cpu: X86CPU): number {
  const env = cpu.env;
  let ftwx = 0;
  for (let i = 0; i < 8; i++) if (!env.fptags[i]) ftwx |= 1 << i;
  const buf = encodeKvmFpu({
    fpr: env.fpregs,
    fcw: env.fpuc & 0xffff,
    fsw: ((env.fpus & ~(7 << 11)) | ((env.fpstt & 7) << 11)) & 0xffff,
    ftwx,
    lastOpcode: env.fpop & 0xffff,
    lastIp: env.fpip,
    lastDp: env.fpdp,
    xmm: env.xmmRegs,
    mxcsr: env.mxcsr >>> 0,
  });
  return os.ioctl(vcpuFd, KVM_SET_FPU, buf);
}

/** `kvm_get_fpu`: KVM_GET_FPU into env (fpstt from FSW.TOP, tags from the abridged word). */
export function kvmGetFpu(os: HostOs, vcpuFd: number, cpu: X86CPU): number {
  const fpu = vcpuGet(os, vcpuFd, KVM_GET_FPU, KVM_FPU_SIZE, decodeKvmFpu);
  if (typeof fpu === "number") return fpu;
  const env = cpu.env;
  env.fpstt = (fpu.fsw >> 11) & 7;
  env.fpus = fpu.fsw;
  env.fpuc = fpu.fcw;
  env.fpop = fpu.lastOpcode;
  env.fpip = fpu.lastIp;
  env.fpdp = fpu.lastDp;
  for (let i = 0; i < 8; i++) env.fptags[i] = (fpu.ftwx >> i) & 1 ? 0 : 1;
  env.fpregs = fpu.fpr.slice(0, 128);
  env.xmmRegs = fpu.xmm.slice(0, CPU_NB_REGS * 16);
  env.mxcsr = fpu.mxcsr;
  return 0;
}

// ---------------------------------------------------------------------------
// MSRs

/**
 * The MSR list of kvm_put_msrs, in QEMU's order: SYSENTER_CS/ESP/EIP, PAT, then STAR,
 * TSC_AUX, TSC_ADJUST, MISC_ENABLE, SMBASE when KVM lists them; on an x86_64 host CSTAR,
 * KERNELGSBASE, FMASK, LSTAR. From KVM_PUT_RESET_STATE up also the TSC, the KVM PV MSRs
 * the guest's CPUID offers, and the MTRRs when the CPU has MTRR. The MCE registers last
 * (only when KVM has KVM_CAP_MCE). IA32_FEATURE_CONTROL is written on its own first.
 */
export function kvmPutMsrsList(cpu: X86CPU, level: KvmPutLevel, caps: KvmRegsCaps): KvmMsrEntry[] {
  const env = cpu.env;
  const m: KvmMsrEntry[] = [];
  const add = (index: number, data: bigint) => {
    m.push({ index, data: BigInt.asUintN(64, data) });
  };
  add(MSR_IA32_SYSENTER_CS, env.sysenterCs);
  add(MSR_IA32_SYSENTER_ESP, env.sysenterEsp);
  add(MSR_IA32_SYSENTER_EIP, env.sysenterEip);
  add(MSR_PAT, env.pat);
  if (caps.hasMsrStar) add(MSR_STAR, env.star);
  if (caps.hasMsrTscAux) add(MSR_TSC_AUX, env.tscAux);
  if (caps.hasMsrTscAdjust) add(MSR_TSC_ADJUST, env.tscAdjust);
  if (caps.hasMsrMiscEnable) add(MSR_IA32_MISC_ENABLE, env.msrIa32MiscEnable);
  if (caps.hasMsrSmbase) add(MSR_IA32_SMBASE, BigInt(env.smbase >>> 0));
  if (caps.lmCapableKernel) {
    add(MSR_CSTAR, env.cstar);
    add(MSR_KERNELGSBASE, env.kernelgsbase);
    add(MSR_FMASK, env.fmask);
    add(MSR_LSTAR, env.lstar);
  }
  // Side effects on the guest, or too heavy for every writeback.
  if (level >= KVM_PUT_RESET_STATE) {
    add(MSR_IA32_TSC, env.tsc);
    const kvmf = env.features[FEAT_KVM] ?? 0n;
    if (kvmf & (CPUID_KVM_CLOCK | CPUID_KVM_CLOCK2)) {
      add(MSR_KVM_SYSTEM_TIME, env.systemTimeMsr);
      add(MSR_KVM_WALL_CLOCK, env.wallClockMsr);
    }
    if (kvmf & CPUID_KVM_ASYNCPF_INT) add(MSR_KVM_ASYNC_PF_INT, env.asyncPfIntMsr);
    if (kvmf & CPUID_KVM_ASYNCPF) add(MSR_KVM_ASYNC_PF_EN, env.asyncPfEnMsr);
    if (kvmf & CPUID_KVM_PV_EOI) add(MSR_KVM_PV_EOI_EN, env.pvEoiEnMsr);
    if (kvmf & CPUID_KVM_STEAL_TIME) add(MSR_KVM_STEAL_TIME, env.stealTimeMsr);
    if (kvmf & CPUID_KVM_POLL_CONTROL) add(MSR_KVM_POLL_CONTROL, env.pollControlMsr);
    if ((env.features[FEAT_1_EDX] ?? 0n) & CPUID_MTRR) {
      // Mask bits above the physical-address width would #GP (and KVM emulates that).
      const physMask = (1n << BigInt(cpu.physBits)) - 1n;
      add(MSR_MTRRdefType, env.mtrrDeftype);
      MTRR_FIXED_MSRS.forEach((msr, i) => {
        add(msr, env.mtrrFixed[i] ?? 0n);
      });
      for (let i = 0; i < MSR_MTRRcap_VCNT; i++) {
        const v = env.mtrrVar[i] ?? { base: 0n, mask: 0n };
        add(MSR_MTRRphysBase(i), v.base);
        add(MSR_MTRRphysMask(i), v.mask & physMask);
      }
    }
  }
  if (env.mcgCap && caps.hasMce) {
    add(MSR_MCG_STATUS, env.mcgStatus);
    add(MSR_MCG_CTL, env.mcgCtl);
    if (env.mcgCap & MCG_LMCE_P) add(MSR_MCG_EXT_CTL, 0n);
    const n = Number(env.mcgCap & 0xffn) * 4;
    for (let i = 0; i < n; i++) add(MSR_MC0_CTL + i, env.mceBanks[i] ?? 0n);
  }
  return m;
}

/**
 * `kvm_buf_set_msrs`: KVM_SET_MSRS; a short count is QEMU's
 * `error: failed to set MSR 0x… to 0x…` and its assertion (a fatal QomError here).
 */
function kvmBufSetMsrs(os: HostOs, vcpuFd: number, msrs: readonly KvmMsrEntry[]): number {
  const ret = os.ioctl(vcpuFd, KVM_SET_MSRS, encodeKvmMsrs(msrs));
  if (ret < 0) return ret;
  if (ret < msrs.length) {
    const e = msrs[ret]!;
    errorReport(`error: failed to set MSR 0x${e.index.toString(16)} to 0x${e.data.toString(16)}`);
  }
  if (ret !== msrs.length) {
    throw new QomError(
      "assertion",
      "kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.",
      {
        fatal: true,
        operation: "kvm_put_msrs",
      },
    );
  }
  return 0;
}

/** `kvm_put_msr_feature_control`: IA32_FEATURE_CONTROL alone, before everything else. */
export function kvmPutMsrFeatureControl(os: HostOs, vcpuFd: number, cpu: X86CPU): number {
  if (!kvmHasMsrFeatureControl(cpu)) return 0;
  const msrs = [{ index: MSR_IA32_FEATURE_CONTROL, data: cpu.env.msrIa32FeatureControl }];
  return kvmBufSetMsrs(os, vcpuFd, msrs);
}

/** `kvm_put_msrs(level)`: KVM_SET_MSRS with {@link kvmPutMsrsList}. 0 or -errno. */
export function kvmPutMsrs(
  os: HostOs,
  vcpuFd: number,
  cpu: X86CPU,
  level: KvmPutLevel,
  caps: KvmRegsCaps,
): number {
  return kvmBufSetMsrs(os, vcpuFd, kvmPutMsrsList(cpu, level, caps));
}

/** `kvm_get_msrs`: the runtime list (TSC included) back into env; MTRR masks get the top bits when fill-mtrr-mask. */
export function kvmGetMsrs(os: HostOs, vcpuFd: number, cpu: X86CPU, caps: KvmRegsCaps): number {
  const env = cpu.env;
  const want = kvmPutMsrsList(cpu, KVM_PUT_RESET_STATE, caps).map((e) => ({
    index: e.index,
    data: 0n,
  }));
  if (kvmHasMsrFeatureControl(cpu)) want.push({ index: MSR_IA32_FEATURE_CONTROL, data: 0n });
  const buf = encodeKvmMsrs(want);
  const ret = os.ioctl(vcpuFd, KVM_GET_MSRS, buf);
  if (ret < 0) return ret;
  if (ret < want.length) errorReport(`error: failed to get MSR 0x${want[ret]!.index.toString(16)}`);
  if (ret !== want.length) {
    throw new QomError(
      "assertion",
      "kvm_get_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.",
      {
        fatal: true,
        operation: "kvm_get_msrs",
      },
    );
  }
  const physBits = BigInt(cpu.physBits);
  const topBits = cpu.fillMtrrMask ? ((1n << (52n - physBits)) - 1n) << physBits : 0n;
  for (const { index, data } of decodeKvmMsrs(buf)) {
    switch (index) {
      case MSR_IA32_SYSENTER_CS:
        env.sysenterCs = data;
        break;
      case MSR_IA32_SYSENTER_ESP:
        env.sysenterEsp = data;
        break;
      case MSR_IA32_SYSENTER_EIP:
        env.sysenterEip = data;
        break;
      case MSR_PAT:
        env.pat = data;
        break;
      case MSR_STAR:
        env.star = data;
        break;
      case MSR_CSTAR:
        env.cstar = data;
        break;
      case MSR_KERNELGSBASE:
        env.kernelgsbase = data;
        break;
      case MSR_FMASK:
        env.fmask = data;
        break;
      case MSR_LSTAR:
        env.lstar = data;
        break;
      case MSR_IA32_TSC:
        env.tsc = data;
        break;
      case MSR_TSC_AUX:
        env.tscAux = data;
        break;
      case MSR_TSC_ADJUST:
        env.tscAdjust = data;
        break;
      case MSR_IA32_MISC_ENABLE:
        env.msrIa32MiscEnable = data;
        break;
      case MSR_IA32_SMBASE:
        env.smbase = Number(data & 0xffff_ffffn);
        break;
      case MSR_IA32_FEATURE_CONTROL:
        env.msrIa32FeatureControl = data;
        break;
      case MSR_KVM_SYSTEM_TIME:
        env.systemTimeMsr = data;
        break;
      case MSR_KVM_WALL_CLOCK:
        env.wallClockMsr = data;
        break;
      case MSR_KVM_ASYNC_PF_EN:
        env.asyncPfEnMsr = data;
        break;
      case MSR_KVM_ASYNC_PF_INT:
        env.asyncPfIntMsr = data;
        break;
      case MSR_KVM_PV_EOI_EN:
        env.pvEoiEnMsr = data;
        break;
      case MSR_KVM_STEAL_TIME:
        env.stealTimeMsr = data;
        break;
      case MSR_KVM_POLL_CONTROL:
        env.pollControlMsr = data;
        break;
      case MSR_MCG_STATUS:
        env.mcgStatus = data;
        break;
      case MSR_MCG_CTL:
        env.mcgCtl = data;
        break;
      case MSR_MTRRdefType:
        env.mtrrDeftype = data;
        break;
      default: {
        const fixed = MTRR_FIXED_MSRS.indexOf(index);
        if (fixed >= 0) env.mtrrFixed[fixed] = data;
        else if (index >= MSR_MTRRphysBase(0) && index <= MSR_MTRRphysMask(MSR_MTRRcap_VCNT - 1)) {
          const v = env.mtrrVar[(index - MSR_MTRRphysBase(0)) >> 1]!;
          if (index & 1) v.mask = data | topBits;
          else v.base = data;
        } else if (index >= MSR_MC0_CTL && index < MSR_MC0_CTL + Number(env.mcgCap & 0xffn) * 4) {
          env.mceBanks[index - MSR_MC0_CTL] = data;
        }
      }
    }
  }
  return 0;
}

// ---------------------------------------------------------------------------
// vCPU events, MP state, debug registers

/** `kvm_put_vcpu_events(level)`: KVM_SET_VCPU_EVENTS with QEMU's flags for the level. */
export function kvmPutVcpuEvents(
  os: HostOs,
  vcpuFd: number,
  cpu: X86CPU,
  level: KvmPutLevel,
  caps: KvmRegsCaps,
): number {
  const env = cpu.env;
  const ev: KvmVcpuEvents = emptyKvmVcpuEvents();
  ev.flags = 0;
  if (caps.hasExceptionPayload) {
    ev.flags |= KVM_VCPUEVENT_VALID_PAYLOAD;
    ev.exception.pending = env.exceptionPending;
    ev.exceptionHasPayload = env.exceptionHasPayload ? 1 : 0;
    ev.exceptionPayload = env.exceptionPayload;
  }
  // -1 ("none") goes out as the u8 255, as QEMU's implicit conversion does.
  ev.exception.nr = env.exceptionNr & 0xff;
  ev.exception.injected = env.exceptionInjected;
  ev.exception.hasErrorCode = env.hasErrorCode;
  ev.exception.errorCode = env.errorCode >>> 0;
  ev.interrupt.injected = env.interruptInjected >= 0 ? 1 : 0;
  ev.interrupt.nr = env.interruptInjected & 0xff;
  ev.interrupt.soft = env.softInterrupt;
  ev.nmi.injected = env.nmiInjected ? 1 : 0;
  ev.nmi.pending = env.nmiPending;
  ev.nmi.masked = env.hflags2 & HF2_NMI_MASK ? 1 : 0;
  ev.sipiVector = env.sipiVector;
  if (caps.hasMsrSmbase) {
    ev.flags |= KVM_VCPUEVENT_VALID_SMM;
    ev.smi.smm = env.hflags & HF_SMM_MASK ? 1 : 0;
    ev.smi.smmInsideNmi = env.hflags2 & HF2_SMM_INSIDE_NMI_MASK ? 1 : 0;
    // Userspace irqchip: SMI and INIT stay in cs->interrupt_request.
    ev.smi.pending = 0;
    ev.smi.latchedInit = 0;
  }
  if (level >= KVM_PUT_RESET_STATE) {
    ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING;
    if (env.mpState === KVM_MP_STATE_SIPI_RECEIVED) ev.flags |= KVM_VCPUEVENT_VALID_SIPI_VECTOR;
  }
  if (caps.hasTripleFaultEvent) {
    ev.flags |= KVM_VCPUEVENT_VALID_TRIPLE_FAULT;
    ev.tripleFault.pending = env.tripleFaultPending ? 1 : 0;
  }
  return os.ioctl(vcpuFd, KVM_SET_VCPU_EVENTS, encodeKvmVcpuEvents(ev));
}

/** `kvm_put_mp_state`: KVM_SET_MP_STATE with env.mpState. */
export function kvmPutMpState(os: HostOs, vcpuFd: number, cpu: X86CPU): number {
  return os.ioctl(vcpuFd, KVM_SET_MP_STATE, encodeKvmMpState(cpu.env.mpState));
}

/** `kvm_get_mp_state` (cs->halted follows it only with an in-kernel irqchip). */
export function kvmGetMpState(os: HostOs, vcpuFd: number, cpu: X86CPU): number {
  const buf = new Uint8Array(KVM_MP_STATE_SIZE);
  const r = os.ioctl(vcpuFd, KVM_GET_MP_STATE, buf);
  if (r < 0) return r;
  cpu.env.mpState = decodeKvmMpState(buf);
  if (kvmIrqchipInKernel()) cpu.halted = cpu.env.mpState === KVM_MP_STATE_HALTED ? 1 : 0;
  return 0;
}

/** `kvm_put_debugregs`: KVM_SET_DEBUGREGS with DR0–DR3, DR6, DR7. */
export function kvmPutDebugregs(os: HostOs, vcpuFd: number, cpu: X86CPU): number {
  const env = cpu.env;
  const buf = encodeKvmDebugregs({
    db: [0, 1, 2, 3].map((i) => BigInt.asUintN(64, env.dr[i] ?? 0n)),
    dr6: BigInt.asUintN(64, env.dr[6] ?? 0n),
    dr7: BigInt.asUintN(64, env.dr[7] ?? 0n),
    flags: 0n,
  });
  return os.ioctl(vcpuFd, KVM_SET_DEBUGREGS, buf);
}

// ---------------------------------------------------------------------------
// kvm_arch_put_registers

/**
 * `kvm_arch_put_registers(cpu, level)`: see the file header for the order. `level`
 * defaults to KVM_PUT_RESET_STATE: glassvm's one caller (kvm_cpu_exec's put of a dirty
 * vCPU) pushes both the post-reset state (QEMU: KVM_PUT_RESET_STATE) and state fetched by
 * kvm_cpu_synchronize_state (QEMU: KVM_PUT_RUNTIME_STATE); the reset level is right for
 * the first and, since the get side reads back everything the extra puts write (TSC,
 * MTRRs, MP state, NMI pending), harmless for the second. 0 or a negative errno.
 */
export function kvmArchPutRegisters(
  os: HostOs,
  vcpuFd: number,
  cpu: X86CPU,
  level: KvmPutLevel = KVM_PUT_RESET_STATE,
  opts: KvmRegsOptions = {},
): number {
  const caps = kvmRegsCaps(os, cpu, opts);
  const steps: (() => number)[] = [
    () => (level >= KVM_PUT_RESET_STATE ? kvmPutMsrFeatureControl(os, vcpuFd, cpu) : 0),
    () => kvmPutSregs(os, vcpuFd, cpu),
    () => kvmPutRegs(os, vcpuFd, cpu),
    () => kvmPutFpu(os, vcpuFd, cpu),
    () => kvmPutMsrs(os, vcpuFd, cpu, level, caps),
    () => kvmPutVcpuEvents(os, vcpuFd, cpu, level, caps),
    () => (level >= KVM_PUT_RESET_STATE ? kvmPutMpState(os, vcpuFd, cpu) : 0),
    () => kvmPutDebugregs(os, vcpuFd, cpu),
  ];
  for (const step of steps) {
    const r = step();
    if (r < 0) return r;
  }
  return 0;
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
  const regs = vcpuGet(os, vcpuFd, KVM_GET_REGS, KVM_REGS_SIZE, decodeKvmRegs);
  if (typeof regs === "number") return regs;
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
  const sregs = vcpuGet(os, vcpuFd, KVM_GET_SREGS, KVM_SREGS_SIZE, decodeKvmSregs);
  if (typeof sregs === "number") return sregs;
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

/** `kvm_get_vcpu_events`: pending and injected events, NMI state, SMM, the interrupt shadow. */
export function kvmGetVcpuEvents(os: HostOs, vcpuFd: number, cpu: X86CPU): number {
  const ev = vcpuGet(os, vcpuFd, KVM_GET_VCPU_EVENTS, KVM_VCPU_EVENTS_SIZE, decodeKvmVcpuEvents);
  if (typeof ev === "number") return ev;
  const env = cpu.env;
  if (ev.flags & KVM_VCPUEVENT_VALID_PAYLOAD) {
    env.exceptionPending = ev.exception.pending;
    env.exceptionHasPayload = ev.exceptionHasPayload !== 0;
    env.exceptionPayload = ev.exceptionPayload;
  } else {
    env.exceptionPending = 0;
    env.exceptionHasPayload = false;
  }
  env.exceptionInjected = ev.exception.injected;
  env.exceptionNr = env.exceptionPending || env.exceptionInjected ? ev.exception.nr : -1;
  env.hasErrorCode = ev.exception.hasErrorCode;
  env.errorCode = ev.exception.errorCode;
  env.interruptInjected = ev.interrupt.injected ? ev.interrupt.nr : -1;
  env.softInterrupt = ev.interrupt.soft;
  env.nmiInjected = ev.nmi.injected !== 0;
  env.nmiPending = ev.nmi.pending;
  if (ev.nmi.masked) env.hflags2 |= HF2_NMI_MASK;
  else env.hflags2 &= ~HF2_NMI_MASK;
  env.hflags &= ~HF_INHIBIT_IRQ_MASK;
  if (ev.interrupt.shadow) env.hflags |= HF_INHIBIT_IRQ_MASK;
  if (ev.flags & KVM_VCPUEVENT_VALID_SMM) {
    if (ev.smi.smm) env.hflags |= HF_SMM_MASK;
    else env.hflags &= ~HF_SMM_MASK;
    if (ev.smi.smmInsideNmi) env.hflags2 |= HF2_SMM_INSIDE_NMI_MASK;
    else env.hflags2 &= ~HF2_SMM_INSIDE_NMI_MASK;
  }
  if (ev.flags & KVM_VCPUEVENT_VALID_TRIPLE_FAULT) {
    env.tripleFaultPending = ev.tripleFault.pending !== 0;
  }
  env.sipiVector = ev.sipiVector;
  return 0;
}

/** `kvm_get_debugregs`: DR0–DR3, DR6 (also as DR4), DR7 (also as DR5). */
export function kvmGetDebugregs(os: HostOs, vcpuFd: number, cpu: X86CPU): number {
  const dbg = vcpuGet(os, vcpuFd, KVM_GET_DEBUGREGS, KVM_DEBUGREGS_SIZE, decodeKvmDebugregs);
  if (typeof dbg === "number") return dbg;
  const env = cpu.env;
  for (let i = 0; i < 4; i++) env.dr[i] = dbg.db[i] ?? 0n;
  env.dr[4] = env.dr[6] = dbg.dr6;
  env.dr[5] = env.dr[7] = dbg.dr7;
  return 0;
}

/**
 * `kvm_arch_get_registers`: vCPU events, MP state (before REGS/SREGS, which it may
 * change), REGS, FPU, SREGS, MSRs, debug registers. 0 or a negative errno.
 */
export function kvmArchGetRegisters(
  os: HostOs,
  vcpuFd: number,
  cpu: X86CPU,
  opts: KvmRegsOptions = {},
): number {
  const caps = kvmRegsCaps(os, cpu, opts);
  const steps: (() => number)[] = [
    () => kvmGetVcpuEvents(os, vcpuFd, cpu),
    () => kvmGetMpState(os, vcpuFd, cpu),
    () => kvmGetRegs(os, vcpuFd, cpu),
    () => kvmGetFpu(os, vcpuFd, cpu),
    () => kvmGetSregs(os, vcpuFd, cpu),
    () => kvmGetMsrs(os, vcpuFd, cpu, caps),
    () => kvmGetDebugregs(os, vcpuFd, cpu),
  ];
  for (const step of steps) {
    const r = step();
    if (r < 0) return r;
  }
  return 0;
}
