/**
 * arch/x86/kvm/vmx/main.c — the kvm_intel module: vt_x86_ops (here `vmxX86Ops`, the one
 * table of vmx_* functions KVM calls), the init ops handed to kvm_x86_vendor_init, and
 * what the module tells KVM about the hardware (supported CPUID, exit-reason names).
 *
 *     const kernel = new HostKernel();
 *     kernel.loadModule(kvmModule(kvmIntelModule(kernel)));   // modprobe kvm_intel
 *
 * VMXON happens in hardware_enable, which kvm-kernel calls when the first VM is created
 * and undoes (VMXOFF) when the last one goes away — the behaviour of Linux before 6.12
 * made virtualization enabling happen at module load.
 */
import {
  type HostKernel,
  KVM_ISA_VMX,
  type KvmVendorModule,
  type KvmX86Ops,
} from "@glassvm/kvm-kernel";
import { KVM_CPUID_FLAG_SIGNIFCANT_INDEX, type KvmCpuidEntry2 } from "@glassvm/kvm-kernel/uapi";
import { vmxExitReasonName } from "./asm/vmx-exit-reasons.js";
import { vmxEmulateInstruction } from "./emulate.js";
import {
  KvmIntel,
  type KvmIntelVendorModule,
  toVmx,
  vmxCacheReg,
  vmxCancelInjection,
  vmxEnableIrqWindow,
  vmxEnableNmiWindow,
  vmxFlushTlbAll,
  vmxFlushTlbCurrent,
  vmxFlushTlbGuest,
  vmxFlushTlbGva,
  vmxGetCpl,
  vmxGetCsDbLBits,
  vmxGetExitInfo,
  vmxGetGdt,
  vmxGetIdt,
  vmxGetIfFlag,
  vmxGetInterruptShadow,
  vmxGetMsr,
  vmxGetMsrFeature,
  vmxGetNmiMask,
  vmxGetRflags,
  vmxGetSegment,
  vmxGetSegmentBase,
  vmxHandleExit,
  vmxHasEmulatedMsr,
  vmxInjectException,
  vmxInjectIrq,
  vmxInjectNmi,
  vmxInterruptAllowed,
  vmxIsValidCr4,
  vmxLoadMmuPgd,
  vmxNmiAllowed,
  vmxPatchHypercall,
  vmxPrepareSwitchToGuest,
  vmxSetCr0,
  vmxSetCr4,
  vmxSetDr7,
  vmxSetEfer,
  vmxSetGdt,
  vmxSetIdt,
  vmxSetInterruptShadow,
  vmxSetMsr,
  vmxSetNmiMask,
  vmxSetRflags,
  vmxSetSegment,
  vmxSkipEmulatedInstruction,
  vmxSyncGuestFpu,
  vmxUpdateExceptionBitmap,
  vmxVcpuAfterSetCpuid,
  vmxVcpuCreate,
  vmxVcpuFree,
  vmxVcpuLoad,
  vmxVcpuPut,
  vmxVcpuReset,
  vmxVcpuRun,
  vmxVmDestroy,
  vmxVmInit,
  vmxWriteTscOffset,
} from "./vmx.js";

/**
 * vt_x86_ops: every kvm_x86_ops member kvm_intel implements, grouped as kvm-x86-ops.h
 * lists them. The hardware enable/disable/unsetup members belong to one loaded module
 * (they act on its CPUs) and are added by kvmIntelModule.
 */
export const vmxX86Ops: KvmX86Ops = {
  name: "kvm_intel",

  // ── lifecycle ──
  vmInit: vmxVmInit,
  vmDestroy: vmxVmDestroy,
  vcpuCreate: vmxVcpuCreate,
  vcpuFree: vmxVcpuFree,
  vcpuReset: vmxVcpuReset,
  vcpuLoad: vmxVcpuLoad,
  vcpuPut: vmxVcpuPut,
  prepareSwitchToGuest: vmxPrepareSwitchToGuest,
  vcpuAfterSetCpuid: vmxVcpuAfterSetCpuid,

  // ── registers ──
  updateExceptionBitmap: vmxUpdateExceptionBitmap,
  getMsrFeature: vmxGetMsrFeature,
  getMsr: vmxGetMsr,
  setMsr: vmxSetMsr,
  hasEmulatedMsr: vmxHasEmulatedMsr,
  getSegmentBase: vmxGetSegmentBase,
  getSegment: vmxGetSegment,
  getCpl: vmxGetCpl,
  setSegment: vmxSetSegment,
  getCsDbLBits: vmxGetCsDbLBits,
  isValidCr4: vmxIsValidCr4,
  setCr0: vmxSetCr0,
  setCr4: vmxSetCr4,
  setEfer: vmxSetEfer,
  getIdt: vmxGetIdt,
  setIdt: vmxSetIdt,
  getGdt: vmxGetGdt,
  setGdt: vmxSetGdt,
  setDr7: vmxSetDr7,
  cacheReg: vmxCacheReg,
  getRflags: vmxGetRflags,
  setRflags: vmxSetRflags,
  getIfFlag: vmxGetIfFlag,
  flushTlbAll: vmxFlushTlbAll,
  flushTlbCurrent: vmxFlushTlbCurrent,
  flushTlbGva: vmxFlushTlbGva,
  flushTlbGuest: vmxFlushTlbGuest,
  loadMmuPgd: vmxLoadMmuPgd,

  // ── run and exit ──
  vcpuRun: vmxVcpuRun,
  handleExit: vmxHandleExit,
  skipEmulatedInstruction: vmxSkipEmulatedInstruction,
  setInterruptShadow: vmxSetInterruptShadow,
  getInterruptShadow: vmxGetInterruptShadow,
  patchHypercall: vmxPatchHypercall,
  getExitInfo: vmxGetExitInfo,

  // ── event injection ──
  injectIrq: vmxInjectIrq,
  injectNmi: vmxInjectNmi,
  injectException: vmxInjectException,
  cancelInjection: vmxCancelInjection,
  interruptAllowed: vmxInterruptAllowed,
  nmiAllowed: vmxNmiAllowed,
  getNmiMask: vmxGetNmiMask,
  setNmiMask: vmxSetNmiMask,
  enableNmiWindow: vmxEnableNmiWindow,
  enableIrqWindow: vmxEnableIrqWindow,

  // ── VM-wide ──
  writeTscOffset: vmxWriteTscOffset,

  // ── the instruction emulator (emulate.c's part, which the x86 core provides here); it
  //    reads the guest's SSE registers from vcpu.arch.guestFpu, brought up to date first ──
  emulateInstruction(vcpu, ops, emulationType) {
    vmxSyncGuestFpu(vcpu);
    const r = vmxEmulateInstruction(vcpu, ops, emulationType);
    // The emulator may have written guest memory behind the hardware core's back.
    toVmx(vcpu).cpu.nonRoot.invalidateCode();
    return r;
  },
};

/** P6+ in CPUID.1:EDX (QEMU's name for the common Intel set): FPU … SSE2, no HTT. */
const CPUID_1_EDX =
  0x3ff | // FPU VME DE PSE TSC MSR PAE MCE CX8 APIC
  (0x7f << 11) | // SEP MTRR PGE MCA CMOV PAT PSE36
  (1 << 19) | // CLFLUSH
  (0xf << 23); // MMX FXSR SSE SSE2
/**
 * CPUID.1:ECX: nothing. VMX is not offered to guests — kvm_intel here runs with nested=0
 * (the VMX instructions in a guest exit and get #UD) — and the SandyBridge extensions
 * beyond SSE2 are not in this core.
 */
const CPUID_1_ECX = 0;
/** CPUID.80000001H:EDX: SYSCALL, NX, RDTSCP, LM; ECX: LAHF/SAHF in 64-bit mode. */
const CPUID_80000001_EDX = (1 << 11) | (1 << 20) | (1 << 27) | (1 << 29);
const CPUID_80000001_ECX = 1 << 0;

const leaf = (
  fn: number,
  eax: number,
  ebx: number,
  ecx: number,
  edx: number,
  index = 0,
  flags = 0,
) =>
  ({
    function: fn,
    index,
    flags,
    eax: eax >>> 0,
    ebx: ebx >>> 0,
    ecx: ecx >>> 0,
    edx: edx >>> 0,
  }) as const;

/**
 * KVM_GET_SUPPORTED_CPUID of this host: the SandyBridge-class GenuineIntel part of
 * hw/host_cpu.ts (family 6, model 42), narrowed to what both the x86 core and kvm_intel
 * support —
 * x87/MMX/SSE/SSE2, PAE, NX, long mode, SYSCALL/SYSENTER, RDTSCP, ARAT; no VMX (nested=0);
 * 36-bit physical and 48-bit linear addresses.
 */
export const VMX_SUPPORTED_CPUID: readonly KvmCpuidEntry2[] = [
  // "GenuineIntel", max basic leaf 0xD.
  leaf(0, 0xd, 0x756e_6547, 0x6c65_746e, 0x4965_6e69),
  // The host's signature (family 6, model 42, stepping 7); CLFLUSH line 8 × 8 bytes.
  leaf(1, 0x0002_06a7, 0x0000_0800, CPUID_1_ECX, CPUID_1_EDX),
  // ARAT (the APIC timer keeps running in deep C-states).
  leaf(6, 0x4, 0, 0, 0),
  // No structured extended features.
  leaf(7, 0, 0, 0, 0, 0, KVM_CPUID_FLAG_SIGNIFCANT_INDEX),
  // No XSAVE: leaf 0xD is empty.
  leaf(0xd, 0, 0, 0, 0, 0, KVM_CPUID_FLAG_SIGNIFCANT_INDEX),
  leaf(0x8000_0000, 0x8000_0008, 0, 0, 0),
  leaf(0x8000_0001, 0, 0, CPUID_80000001_ECX, CPUID_80000001_EDX),
  // 36-bit physical, 48-bit linear addresses.
  leaf(0x8000_0008, 0x3024, 0, 0, 0),
];

/** kvm_intel's module parameters that the model has. */
export interface KvmIntelOptions {
  /** Host CPUs to run VMX on (default: the kernel's online CPUs). */
  readonly nrCpus?: number;
}

/** The kvm_intel module object: a KvmVendorModule that also holds its KvmIntel. */
export type KvmIntelModule = KvmVendorModule & KvmIntelVendorModule;

/**
 * kvm_intel's module init (vt_init → kvm_x86_vendor_init with vt_init_ops): load it with
 * `kernel.loadModule(kvmModule(kvmIntelModule(kernel)))`. hardware_setup reads the
 * capability MSRs (setup_vmcs_config) and allocates each CPU's VMXON region;
 * hardware_enable turns VMX on in every CPU (kvm_cpu_vmxon), hardware_disable off.
 */
export function kvmIntelModule(kernel: HostKernel, opts: KvmIntelOptions = {}): KvmIntelModule {
  const intel = new KvmIntel(kernel, opts.nrCpus ?? kernel.nrCpus);
  const runtimeOps: KvmX86Ops = {
    ...vmxX86Ops,
    hardwareEnable: () => vmxHardwareEnableAll(intel),
    hardwareDisable: () => {
      for (const cpu of intel.cpus) intel.vmxHardwareDisable(cpu);
    },
    hardwareUnsetup: () => intel.vmxHardwareUnsetup(),
  };
  return {
    name: "kvm_intel",
    isa: KVM_ISA_VMX,
    intel,
    initOps: { hardwareSetup: () => intel.vmxHardwareSetup(), runtimeOps },
    supportedCpuid: () => VMX_SUPPORTED_CPUID,
    exitReasonName: vmxExitReasonName,
  };
}

/**
 * hardware_enable_all for kvm_intel: vmx_hardware_enable on each CPU; if one fails, the
 * ones already enabled are disabled again and the VM cannot be created.
 */
function vmxHardwareEnableAll(intel: KvmIntel): number {
  for (const cpu of intel.cpus) {
    const r = intel.vmxHardwareEnable(cpu);
    if (r < 0) {
      for (const c of intel.cpus) intel.vmxHardwareDisable(c);
      return r;
    }
  }
  return 0;
}
