/**
 * The vendor contract: struct kvm_x86_ops (arch/x86/include/asm/kvm-x86-ops.h) and
 * struct kvm_x86_init_ops. kvm_intel (the vmx package) and kvm_amd (the svm package) each
 * provide one; kvm-kernel calls nothing vendor-specific any other way.
 *
 * KVM_X86_OPS is the member list with Linux's marking: KVM_X86_OP (required),
 * KVM_X86_OP_OPTIONAL (may be absent), KVM_X86_OP_OPTIONAL_RET0 (absent = returns 0).
 * Loading a module whose ops lack a required member fails with -EINVAL.
 *
 * One member has no Linux counterpart: `emulateInstruction`. Linux's instruction
 * emulator (arch/x86/kvm/emulate.c) is part of kvm.ko; here the x86 decoder and
 * interpreter belong to the silicon package, which kvm-kernel may not import, so the
 * vendor module hands it over. KVM still owns everything around it (x86EmulateInstruction:
 * MMIO and PIO exits, the read cache, failures → KVM_EXIT_INTERNAL_ERROR).
 */
import type { Kvm, KvmVcpu } from "./kvm_host.js";
import type { KvmCpuidEntry2, KvmDtable, KvmSegment } from "./uapi/structs.js";

/** enum exit_fastpath_completion. */
export const EXIT_FASTPATH_NONE = 0;
export const EXIT_FASTPATH_REENTER_GUEST = 1;
export const EXIT_FASTPATH_EXIT_HANDLED = 2;
export const EXIT_FASTPATH_EXIT_USERSPACE = 3;

/** The `isa` field of the kvm_exit tracepoint (trace.h). */
export const KVM_ISA_VMX = 1;
export const KVM_ISA_SVM = 2;

/** struct msr_data. */
export interface MsrData {
  hostInitiated: boolean;
  index: number;
  data: bigint;
}

/** What get_exit_info reports for the kvm_exit tracepoint. */
export interface KvmExitInfo {
  reason: number;
  info1: bigint;
  info2: bigint;
  intrInfo: number;
  errorCode: number;
}

/** X86EMUL_* (kvm_emulate.h): what an emulator callback or the emulator returns. */
export const X86EMUL_CONTINUE = 0;
export const X86EMUL_UNHANDLEABLE = 1;
export const X86EMUL_PROPAGATE_FAULT = 2;
export const X86EMUL_RETRY_INSTR = 3;
export const X86EMUL_CMPXCHG_FAILED = 4;
export const X86EMUL_IO_NEEDED = 5;
export const X86EMUL_INTERCEPTED = 6;

/**
 * The part of struct x86_emulate_ops that reaches outside the CPU: memory that may be
 * MMIO, and port I/O. The emulator itself translates linear to guest-physical addresses
 * and reads RAM through the memslots; it calls these for the accesses KVM must route.
 * A callback returning X86EMUL_IO_NEEDED means: stop, KVM goes to userspace, and the
 * instruction is emulated again on the next KVM_RUN, when the same call succeeds.
 */
export interface X86EmulateOps {
  /** Read `dst.length` bytes (≤ 8 per call) at guest-physical `gpa`. */
  readEmulated(gpa: number, dst: Uint8Array): number;
  /** Write `src` at `gpa` (RAM, or an MMIO exit after the instruction completes). */
  writeEmulated(gpa: number, src: Uint8Array): number;
  /** IN/INS: `count` elements of `size` bytes from `port` into `dst`. */
  pioInEmulated(size: number, port: number, count: number, dst: Uint8Array): number;
  /** OUT/OUTS: `count` elements of `size` bytes from `src` to `port`. */
  pioOutEmulated(size: number, port: number, count: number, src: Uint8Array): number;
}

/** EMULTYPE_* bits (kvm_host.h). */
export const EMULTYPE_NO_DECODE = 1 << 0;
export const EMULTYPE_TRAP_UD = 1 << 1;
export const EMULTYPE_SKIP = 1 << 2;
export const EMULTYPE_ALLOW_RETRY_PF = 1 << 3;
export const EMULTYPE_PF = 1 << 6;

/** kvm_x86_ops. `vcpu.vendor` holds the module's per-vCPU state (to_vmx / to_svm). */
export interface KvmX86Ops {
  readonly name: string;

  // ── lifecycle ──
  hardwareEnable?(): number;
  hardwareDisable?(): void;
  hardwareUnsetup?(): void;
  vmInit?(kvm: Kvm): number;
  vmDestroy?(kvm: Kvm): void;
  vcpuPrecreate?(kvm: Kvm): number;
  vcpuCreate(vcpu: KvmVcpu): number;
  vcpuFree(vcpu: KvmVcpu): void;
  vcpuReset(vcpu: KvmVcpu, initEvent: boolean): void;
  vcpuLoad?(vcpu: KvmVcpu, cpu: number): void;
  vcpuPut?(vcpu: KvmVcpu): void;
  prepareSwitchToGuest?(vcpu: KvmVcpu): void;
  vcpuAfterSetCpuid?(vcpu: KvmVcpu): void;

  // ── registers ──
  updateExceptionBitmap(vcpu: KvmVcpu): void;
  getMsrFeature?(msr: MsrData): number;
  /** 0 = done, 1 = the MSR does not exist or the value is refused (#GP for the guest). */
  getMsr(vcpu: KvmVcpu, msr: MsrData): number;
  setMsr(vcpu: KvmVcpu, msr: MsrData): number;
  hasEmulatedMsr?(kvm: Kvm | null, index: number): boolean;
  getSegmentBase?(vcpu: KvmVcpu, seg: number): bigint;
  getSegment(vcpu: KvmVcpu, seg: number): KvmSegment;
  getCpl(vcpu: KvmVcpu): number;
  setSegment(vcpu: KvmVcpu, var_: KvmSegment, seg: number): void;
  getCsDbLBits(vcpu: KvmVcpu): { db: number; l: number };
  isValidCr0?(vcpu: KvmVcpu, cr0: number): boolean;
  /** Set the guest's CR0 in the hardware and in vcpu.arch.cr0. */
  setCr0(vcpu: KvmVcpu, cr0: number): void;
  postSetCr3?(vcpu: KvmVcpu, cr3: bigint): void;
  isValidCr4?(vcpu: KvmVcpu, cr4: number): boolean;
  /** Set the guest's CR4 in the hardware and in vcpu.arch.cr4. */
  setCr4(vcpu: KvmVcpu, cr4: number): void;
  /** Set EFER in the hardware and vcpu.arch.efer: 0, or 1 (refused). */
  setEfer(vcpu: KvmVcpu, efer: number): number;
  getIdt(vcpu: KvmVcpu): KvmDtable;
  setIdt(vcpu: KvmVcpu, dt: KvmDtable): void;
  getGdt(vcpu: KvmVcpu): KvmDtable;
  setGdt(vcpu: KvmVcpu, dt: KvmDtable): void;
  syncDirtyDebugRegs?(vcpu: KvmVcpu): void;
  setDr7?(vcpu: KvmVcpu, value: bigint): void;
  /** Bring register `reg` (VCPU_REGS_* / VCPU_EXREG_*) from the hardware into vcpu.arch. */
  cacheReg(vcpu: KvmVcpu, reg: number): void;
  getRflags(vcpu: KvmVcpu): number;
  setRflags(vcpu: KvmVcpu, rflags: number): void;
  getIfFlag(vcpu: KvmVcpu): boolean;
  flushTlbAll?(vcpu: KvmVcpu): void;
  flushTlbCurrent?(vcpu: KvmVcpu): void;
  flushTlbGva?(vcpu: KvmVcpu, gva: bigint): void;
  flushTlbGuest?(vcpu: KvmVcpu): void;
  /** Install the guest's page-table root (EPT pointer / nCR3, and the guest CR3). */
  loadMmuPgd(vcpu: KvmVcpu): void;

  // ── run and exit ──
  /** 1 = go on to vcpu_run, ≤ 0 = return that to userspace. */
  vcpuPreRun?(vcpu: KvmVcpu): number;
  /** Enter the guest until a VM exit. Returns EXIT_FASTPATH_*. */
  vcpuRun(vcpu: KvmVcpu): number;
  /** 1 = resume the guest, 0 = exit to userspace (kvm_run filled), < 0 = -errno. */
  handleExit(vcpu: KvmVcpu, fastpath: number): number;
  /** 1 = done; 0 = exit to userspace (the instruction could not be skipped). */
  skipEmulatedInstruction(vcpu: KvmVcpu): number;
  updateEmulatedInstruction?(vcpu: KvmVcpu): void;
  setInterruptShadow(vcpu: KvmVcpu, mask: number): void;
  getInterruptShadow(vcpu: KvmVcpu): number;
  patchHypercall?(vcpu: KvmVcpu, buf: Uint8Array): void;
  handleExitIrqoff?(vcpu: KvmVcpu): void;
  getExitInfo(vcpu: KvmVcpu): KvmExitInfo;

  // ── event injection ──
  injectIrq(vcpu: KvmVcpu, reinjected: boolean): void;
  injectNmi(vcpu: KvmVcpu): void;
  injectException(vcpu: KvmVcpu): void;
  cancelInjection(vcpu: KvmVcpu): void;
  /** > 0 allowed, 0 blocked, -EBUSY (for injection) when blocked by a pending entry. */
  interruptAllowed(vcpu: KvmVcpu, forInjection: boolean): number;
  nmiAllowed(vcpu: KvmVcpu, forInjection: boolean): number;
  getNmiMask(vcpu: KvmVcpu): boolean;
  setNmiMask(vcpu: KvmVcpu, masked: boolean): void;
  enableNmiWindow(vcpu: KvmVcpu): void;
  enableIrqWindow(vcpu: KvmVcpu): void;
  updateCr8Intercept?(vcpu: KvmVcpu, tpr: number, irr: number): void;

  // ── VM-wide ──
  setTssAddr?(kvm: Kvm, addr: number): number;
  setIdentityMapAddr?(kvm: Kvm, addr: bigint): number;
  writeTscOffset?(vcpu: KvmVcpu, offset: bigint): void;

  // ── the instruction emulator (see the header); it leaves the bytes it decoded in
  //    vcpu.emulatedInsnBytes for KVM_EXIT_INTERNAL_ERROR ──
  emulateInstruction?(vcpu: KvmVcpu, ops: X86EmulateOps, emulationType: number): number;
}

/** struct kvm_x86_init_ops: what the vendor hands kvm_x86_vendor_init. */
export interface KvmX86InitOps {
  /** Probe and set up the hardware (vmx hardware_setup / svm_hardware_setup): 0 or -errno. */
  hardwareSetup(): number;
  readonly runtimeOps: KvmX86Ops;
}

/** One loadable vendor module (kvm_intel.ko, kvm_amd.ko). */
export interface KvmVendorModule {
  /** "kvm_intel", "kvm_amd", … */
  readonly name: string;
  /** KVM_ISA_VMX or KVM_ISA_SVM (the kvm_exit tracepoint's isa field). */
  readonly isa: number;
  readonly initOps: KvmX86InitOps;
  /**
   * The CPUID leaves the hardware and module support (kvm_cpu_caps after
   * kvm_set_cpu_caps): what KVM_GET_SUPPORTED_CPUID reports.
   */
  supportedCpuid(): readonly KvmCpuidEntry2[];
  /** The vendor's names for its exit codes, for kvm_exit. */
  exitReasonName(reason: number): string;
}

export type OpKind = "required" | "optional" | "optional_ret0";

/** kvm-x86-ops.h: every member, in its order, with its marking. */
export const KVM_X86_OPS: readonly (readonly [keyof KvmX86Ops, OpKind])[] = [
  ["hardwareEnable", "optional"],
  ["hardwareDisable", "optional"],
  ["hardwareUnsetup", "optional"],
  ["vmInit", "optional_ret0"],
  ["vmDestroy", "optional"],
  ["vcpuPrecreate", "optional_ret0"],
  ["vcpuCreate", "required"],
  ["vcpuFree", "required"],
  ["vcpuReset", "required"],
  ["vcpuLoad", "optional"],
  ["vcpuPut", "optional"],
  ["prepareSwitchToGuest", "optional"],
  ["vcpuAfterSetCpuid", "optional"],
  ["updateExceptionBitmap", "required"],
  ["getMsrFeature", "optional_ret0"],
  ["getMsr", "required"],
  ["setMsr", "required"],
  ["hasEmulatedMsr", "optional"],
  ["getSegmentBase", "optional"],
  ["getSegment", "required"],
  ["getCpl", "required"],
  ["setSegment", "required"],
  ["getCsDbLBits", "required"],
  ["isValidCr0", "optional"],
  ["setCr0", "required"],
  ["postSetCr3", "optional"],
  ["isValidCr4", "optional"],
  ["setCr4", "required"],
  ["setEfer", "required"],
  ["getIdt", "required"],
  ["setIdt", "required"],
  ["getGdt", "required"],
  ["setGdt", "required"],
  ["syncDirtyDebugRegs", "optional"],
  ["setDr7", "optional"],
  ["cacheReg", "required"],
  ["getRflags", "required"],
  ["setRflags", "required"],
  ["getIfFlag", "required"],
  ["flushTlbAll", "optional"],
  ["flushTlbCurrent", "optional"],
  ["flushTlbGva", "optional"],
  ["flushTlbGuest", "optional"],
  ["loadMmuPgd", "required"],
  ["vcpuPreRun", "optional"],
  ["vcpuRun", "required"],
  ["handleExit", "required"],
  ["skipEmulatedInstruction", "required"],
  ["updateEmulatedInstruction", "optional"],
  ["setInterruptShadow", "required"],
  ["getInterruptShadow", "required"],
  ["patchHypercall", "optional"],
  ["handleExitIrqoff", "optional"],
  ["getExitInfo", "required"],
  ["injectIrq", "required"],
  ["injectNmi", "required"],
  ["injectException", "required"],
  ["cancelInjection", "required"],
  ["interruptAllowed", "required"],
  ["nmiAllowed", "required"],
  ["getNmiMask", "required"],
  ["setNmiMask", "required"],
  ["enableNmiWindow", "required"],
  ["enableIrqWindow", "required"],
  ["updateCr8Intercept", "optional"],
  ["setTssAddr", "optional_ret0"],
  ["setIdentityMapAddr", "optional_ret0"],
  ["writeTscOffset", "optional"],
  ["emulateInstruction", "optional"],
];

/** kvm_ops_update's check: the required members a table lacks (empty = loadable). */
export function kvmX86OpsMissing(ops: KvmX86Ops): string[] {
  const missing: string[] = [];
  for (const [name, kind] of KVM_X86_OPS) {
    if (kind === "required" && typeof ops[name] !== "function") missing.push(name);
  }
  return missing;
}
