/**
 * The kvm_amd module (arch/x86/kvm/svm/svm.c's svm_x86_ops, svm_init_ops and svm_init):
 * `svmX86Ops`, the one table of svm_* functions KVM calls, and what the module tells KVM
 * about the hardware (supported CPUID, exit-code names).
 *
 *     const kernel = new HostKernel();
 *     kernel.loadModule(kvmModule(kvmAmdModule(kernel)));   // modprobe kvm_amd
 *
 * EFER.SVME and VM_HSAVE_PA are set in hardware_enable, which kvm-kernel calls when the
 * first VM is created and undoes when the last one goes away.
 *
 * `emulateInstruction` hands KVM the x86 core's instruction emulator (emulate.ts), as
 * kvm_intel does: in Linux both use kvm.ko's emulate.c.
 */
import {
  type HostKernel,
  KVM_ISA_SVM,
  type KvmVendorModule,
  type KvmX86Ops,
} from "@glassvm/kvm-kernel";
import { KVM_CPUID_FLAG_SIGNIFCANT_INDEX, type KvmCpuidEntry2 } from "@glassvm/kvm-kernel/uapi";
import { svmExitName } from "./asm/svm.js";
import { svmEmulateInstruction } from "./emulate.js";
import {
  KvmAmd,
  type KvmAmdVendorModule,
  svmCacheReg,
  svmCancelInjection,
  svmEnableIrqWindow,
  svmEnableNmiWindow,
  svmFlushTlbAll,
  svmFlushTlbCurrent,
  svmFlushTlbGuest,
  svmFlushTlbGva,
  svmGetCpl,
  svmGetCsDbLBits,
  svmGetExitInfo,
  svmGetGdt,
  svmGetIdt,
  svmGetIfFlag,
  svmGetInterruptShadow,
  svmGetMsr,
  svmGetMsrFeature,
  svmGetNmiMask,
  svmGetRflags,
  svmGetSegment,
  svmGetSegmentBase,
  svmHandleExit,
  svmHasEmulatedMsr,
  svmInjectException,
  svmInjectIrq,
  svmInjectNmi,
  svmInterruptAllowed,
  svmIsValidCr4,
  svmLoadMmuPgd,
  svmNmiAllowed,
  svmPatchHypercall,
  svmPrepareSwitchToGuest,
  svmSetCr0,
  svmSetCr4,
  svmSetDr7,
  svmSetEfer,
  svmSetGdt,
  svmSetIdt,
  svmSetInterruptShadow,
  svmSetMsr,
  svmSetNmiMask,
  svmSetRflags,
  svmSetSegment,
  svmSkipEmulatedInstruction,
  svmUpdateExceptionBitmap,
  svmVcpuCreate,
  svmVcpuFree,
  svmVcpuLoad,
  svmVcpuPut,
  svmVcpuReset,
  svmVcpuRun,
  svmVmDestroy,
  svmVmInit,
  svmWriteTscOffset,
} from "./svm.js";

/**
 * svm_x86_ops: every kvm_x86_ops member kvm_amd implements, grouped as kvm-x86-ops.h
 * lists them. hardware_enable/disable/unsetup act on one loaded module's CPUs and are
 * added by kvmAmdModule.
 */
export const svmX86Ops: KvmX86Ops = {
  name: "kvm_amd",

  // ── lifecycle ──
  vmInit: svmVmInit,
  vmDestroy: svmVmDestroy,
  vcpuCreate: svmVcpuCreate,
  vcpuFree: svmVcpuFree,
  vcpuReset: svmVcpuReset,
  vcpuLoad: svmVcpuLoad,
  vcpuPut: svmVcpuPut,
  prepareSwitchToGuest: svmPrepareSwitchToGuest,

  // ── registers ──
  updateExceptionBitmap: svmUpdateExceptionBitmap,
  getMsrFeature: svmGetMsrFeature,
  getMsr: svmGetMsr,
  setMsr: svmSetMsr,
  hasEmulatedMsr: svmHasEmulatedMsr,
  getSegmentBase: svmGetSegmentBase,
  getSegment: svmGetSegment,
  getCpl: svmGetCpl,
  setSegment: svmSetSegment,
  getCsDbLBits: svmGetCsDbLBits,
  isValidCr4: svmIsValidCr4,
  setCr0: svmSetCr0,
  setCr4: svmSetCr4,
  setEfer: svmSetEfer,
  getIdt: svmGetIdt,
  setIdt: svmSetIdt,
  getGdt: svmGetGdt,
  setGdt: svmSetGdt,
  setDr7: svmSetDr7,
  cacheReg: svmCacheReg,
  getRflags: svmGetRflags,
  setRflags: svmSetRflags,
  getIfFlag: svmGetIfFlag,
  flushTlbAll: svmFlushTlbAll,
  flushTlbCurrent: svmFlushTlbCurrent,
  flushTlbGva: svmFlushTlbGva,
  flushTlbGuest: svmFlushTlbGuest,
  loadMmuPgd: svmLoadMmuPgd,

  // ── run and exit ──
  vcpuRun: svmVcpuRun,
  handleExit: svmHandleExit,
  skipEmulatedInstruction: svmSkipEmulatedInstruction,
  setInterruptShadow: svmSetInterruptShadow,
  getInterruptShadow: svmGetInterruptShadow,
  patchHypercall: svmPatchHypercall,
  getExitInfo: svmGetExitInfo,

  // ── event injection ──
  injectIrq: svmInjectIrq,
  injectNmi: svmInjectNmi,
  injectException: svmInjectException,
  cancelInjection: svmCancelInjection,
  interruptAllowed: svmInterruptAllowed,
  nmiAllowed: svmNmiAllowed,
  getNmiMask: svmGetNmiMask,
  setNmiMask: svmSetNmiMask,
  enableNmiWindow: svmEnableNmiWindow,
  enableIrqWindow: svmEnableIrqWindow,

  // ── VM-wide ──
  writeTscOffset: svmWriteTscOffset,

  // ── KVM's instruction emulator, on the x86 core (see the header) ──
  emulateInstruction: svmEmulateInstruction,
};

/** CPUID.1:EDX — the same P6+ set kvm_intel offers: FPU … SSE2, no HTT. */
const CPUID_1_EDX =
  0x3ff | // FPU VME DE PSE TSC MSR PAE MCE CX8 APIC
  (0x7f << 11) | // SEP MTRR PGE MCA CMOV PAT PSE36
  (1 << 19) | // CLFLUSH
  (0xf << 23); // MMX FXSR SSE SSE2
/** CPUID.80000001H:EDX: SYSCALL, NX, RDTSCP, LM; ECX: LAHF/SAHF — and no SVM (nested=0). */
const CPUID_80000001_EDX = (1 << 11) | (1 << 20) | (1 << 27) | (1 << 29);
const CPUID_80000001_ECX = 1 << 0;

/** "AuthenticAMD" as EBX, EDX, ECX. */
const AUTH = 0x6874_7541;
const ENTI = 0x6974_6e65;
const CAMD = 0x444d_4163;

const leaf = (
  fn: number,
  eax: number,
  ebx: number,
  ecx: number,
  edx: number,
  index = 0,
  flags = 0,
): KvmCpuidEntry2 => ({
  function: fn,
  index,
  flags,
  eax: eax >>> 0,
  ebx: ebx >>> 0,
  ecx: ecx >>> 0,
  edx: edx >>> 0,
});

/**
 * KVM_GET_SUPPORTED_CPUID of this host: the family 17h AuthenticAMD part of hw/host_cpu.ts
 * narrowed to what both the x86 core and kvm_amd support — the same features kvm_intel
 * offers (x87/MMX/SSE/SSE2, PAE, NX, long mode, SYSCALL/SYSENTER, RDTSCP, ARAT), the AMD
 * vendor string in leaves 0 and 8000_0000h, no SVM bit (nested=0), 48-bit physical
 * and linear addresses.
 */
export const SVM_SUPPORTED_CPUID: readonly KvmCpuidEntry2[] = [
  leaf(0, 0xd, AUTH, CAMD, ENTI),
  // The host's signature (family 17h); CLFLUSH line 8 × 8 bytes.
  leaf(1, 0x0080_0f12, 0x0000_0800, 0, CPUID_1_EDX),
  leaf(6, 0x4, 0, 0, 0),
  leaf(7, 0, 0, 0, 0, 0, KVM_CPUID_FLAG_SIGNIFCANT_INDEX),
  leaf(0xd, 0, 0, 0, 0, 0, KVM_CPUID_FLAG_SIGNIFCANT_INDEX),
  leaf(0x8000_0000, 0x8000_0008, AUTH, CAMD, ENTI),
  leaf(0x8000_0001, 0, 0, CPUID_80000001_ECX, CPUID_80000001_EDX),
  leaf(0x8000_0008, 0x3030, 0, 0, 0),
];

/** kvm_amd's module parameters that the model has. */
export interface KvmAmdOptions {
  /** Host CPUs to run SVM on (default: the kernel's online CPUs). */
  readonly nrCpus?: number;
}

/** The kvm_amd module object: a KvmVendorModule that also holds its KvmAmd. */
export type KvmAmdModule = KvmVendorModule & KvmAmdVendorModule;

/**
 * kvm_amd's module init (svm_init → kvm_x86_vendor_init with svm_init_ops): load it with
 * `kernel.loadModule(kvmModule(kvmAmdModule(kernel)))`. hardware_setup checks SVM, NPT
 * and NRIPS and allocates the IOPM and each CPU's save area; hardware_enable turns SVM on
 * in every CPU, hardware_disable off.
 */
export function kvmAmdModule(kernel: HostKernel, opts: KvmAmdOptions = {}): KvmAmdModule {
  const amd = new KvmAmd(kernel, opts.nrCpus ?? kernel.nrCpus);
  const runtimeOps: KvmX86Ops = {
    ...svmX86Ops,
    hardwareEnable: () => svmHardwareEnableAll(amd),
    hardwareDisable: () => {
      for (const cpu of amd.cpus) amd.svmHardwareDisable(cpu);
    },
    hardwareUnsetup: () => amd.svmHardwareUnsetup(),
  };
  return {
    name: "kvm_amd",
    isa: KVM_ISA_SVM,
    amd,
    initOps: { hardwareSetup: () => amd.svmHardwareSetup(), runtimeOps },
    supportedCpuid: () => SVM_SUPPORTED_CPUID,
    exitReasonName: svmExitName,
  };
}

/** hardware_enable_all for kvm_amd: all CPUs or none. */
function svmHardwareEnableAll(amd: KvmAmd): number {
  for (const cpu of amd.cpus) {
    const r = amd.svmHardwareEnable(cpu);
    if (r < 0) {
      for (const c of amd.cpus) amd.svmHardwareDisable(c);
      return r;
    }
  }
  return 0;
}
