/**
 * The SVM side of one logical processor (APM Vol. 2 §15.1–15.5, 15.17; reference svm.md
 * §7, §8): enabling through EFER.SVME (gated by VM_CR.SVMDIS), the host save area named
 * by VM_HSAVE_PA, the global interrupt flag, CPUID 8000_000Ah, and the instructions
 * VMRUN, VMLOAD, VMSAVE, VMMCALL, STGI, CLGI and INVLPGA with their faults.
 *
 * Like VmxCpu in @glassvm/vmx, the same methods serve kvm_amd (TypeScript calling them as
 * the kernel's inline asm does) and x86 code executing the instructions: the caller
 * supplies the processor (CPL, EFER, physical memory, its host state) through
 * SvmProcessor, and the guest runs on an SvmGuestEngine (svm_nonroot.ts).
 */
import {
  EFER_SVME,
  MSR_VM_CR,
  MSR_VM_HSAVE_PA,
  SVM_CPUID_FUNC,
  SVM_EVTINJ_VALID,
  SVM_EXIT_ERR,
  SVM_FEATURE_DECODE_ASSISTS,
  SVM_FEATURE_FLUSH_ASID,
  SVM_FEATURE_NPT,
  SVM_FEATURE_NRIP,
  SVM_FEATURE_VMCB_CLEAN,
  SVM_VM_CR_SVM_DIS_MASK,
  SVM_VM_CR_SVM_LOCK_MASK,
  SVM_VM_CR_VALID_MASK,
  X86_FEATURE_SVM_BIT,
} from "../asm/svm.js";
import {
  asVmcbWriter,
  VMCB_EVENT_INJ,
  VMCB_EXIT_CODE,
  VMCB_EXIT_INFO_1,
  VMCB_EXIT_INFO_2,
  VMCB_EXIT_INT_INFO,
  VMCB_EXIT_INT_INFO_ERR,
  VMCB_SIZE,
  Vmcb,
} from "./vmcb.js";
import { SVM_EFER_VALID, type VmrunFailure, vmrunChecks } from "./vmrun_checks.js";

/** Outcomes of an SVM instruction. */
export const SVM_SUCCEED = 0;
/** VMRUN ended in #VMEXIT (after the guest ran, or at once: VMEXIT_INVALID); host state is back. */
export const SVM_VMEXIT = -2;
/**
 * The guest shut down (a triple fault) without the SHUTDOWN intercept: the processor
 * entered the shutdown state as it was (APM §15.12: no #VMEXIT, host state not restored).
 */
export const SVM_SHUTDOWN = -3;
export const SVM_FAULT_UD = -6;
export const SVM_FAULT_GP = -13;

/** What this part reports in CPUID 8000_000Ah and checks VMRUN against. */
export interface SvmCapabilities {
  /** EAX[7:0]. */
  revision: number;
  /** EBX: number of ASIDs (ASID 0 is the host's). */
  nasid: number;
  /** EDX feature bits (SVM_FEATURE_*). */
  features: number;
  /** MAXPHYADDR. */
  physAddrBits: number;
  /** CR4 bits VMRUN accepts in guest state. */
  cr4Valid: number;
}

/**
 * The modelled part: SVM revision 1, 16 ASIDs, nested paging, nRIP save, VMCB clean bits,
 * flush by ASID and decode assists; 48-bit physical addresses. CR4: VME … OSXMMEXCPT
 * (bits 10:0), FSGSBASE, OSXSAVE, SMEP, SMAP.
 */
export function svmCapabilities(): SvmCapabilities {
  return {
    revision: 1,
    nasid: 16,
    features:
      SVM_FEATURE_NPT |
      SVM_FEATURE_NRIP |
      SVM_FEATURE_VMCB_CLEAN |
      SVM_FEATURE_FLUSH_ASID |
      SVM_FEATURE_DECODE_ASSISTS,
    physAddrBits: 48,
    cr4Valid: 0x7ff | (1 << 16) | (1 << 18) | (1 << 20) | (1 << 21),
  };
}

/** The processor executing an SVM instruction, as the instruction sees it. */
export interface SvmProcessor {
  /** `len` bytes at physical address `pa` (within one page), or null where there is none. */
  phys(pa: number, len: number): Uint8Array | null;
  cpl(): number;
  /** EFER bits 31:0. */
  efer(): number;
  /**
   * VMRUN step 1 (§8.1): ES, CS, SS, DS, GDTR, IDTR, EFER, CR0, CR3, CR4, RFLAGS, the RIP
   * of the instruction after VMRUN, RSP and RAX into the host save area.
   */
  saveHostState(hsave: Vmcb): void;
  /**
   * #VMEXIT step 3 (§8.2): the same state back from the host save area, CPL 0, DR7 0x400,
   * RFLAGS.VM clear; execution continues after VMRUN.
   */
  loadHostState(hsave: Vmcb): void;
  /** VMLOAD: FS, GS, TR, LDTR (with hidden state) and the eight MSR fields from `from`. */
  vmloadState(from: Vmcb): void;
  /** VMSAVE: the same set into `to`. */
  vmsaveState(to: Vmcb): void;
}

/**
 * Runs the guest a VMCB describes until #VMEXIT, which it records in the VMCB
 * (SVM_VMEXIT), or until the processor shut down in the guest (SVM_SHUTDOWN).
 */
export interface SvmGuestEngine {
  enter(svm: SvmCpu, vmcb: Vmcb): number;
}

/** The translations the processor caches, tagged by ASID. */
export interface SvmTlbHooks {
  /** INVLPGA: drop the translation of `va` for `asid`. */
  invlpga(va: bigint, asid: number): void;
}

/** SVM state of one logical processor. */
export class SvmCpu {
  readonly caps: SvmCapabilities;
  /** VM_CR (MSR C001_0114h). */
  vmCr = 0;
  /** VM_HSAVE_PA (MSR C001_0117h). */
  hsavePa = 0;
  /** The global interrupt flag: interrupts, NMIs and SMIs are held while it is clear. */
  gif = true;
  /** A guest is running (between VMRUN and #VMEXIT). */
  guestMode = false;
  guest: SvmGuestEngine | null = null;
  tlb: SvmTlbHooks | null = null;
  /** Why the last VMRUN ended in VMEXIT_INVALID (null = it did not). */
  lastVmrunFailure: VmrunFailure | null = null;

  constructor(caps?: SvmCapabilities) {
    this.caps = caps ?? svmCapabilities();
  }

  /** CPUID of the processor, SVM part: 8000_0001h.ECX.SVM and leaf 8000_000Ah. */
  cpuid(leaf: number, out: Int32Array): void {
    const l = leaf >>> 0;
    if (l === 0x8000_0001) out[2] = out[2]! | (1 << X86_FEATURE_SVM_BIT);
    if (l === SVM_CPUID_FUNC) {
      out[0] = this.caps.revision;
      out[1] = this.caps.nasid;
      out[2] = 0;
      out[3] = this.caps.features;
    }
  }

  /** RDMSR of an SVM MSR, or undefined when `index` is not one. */
  rdmsr(index: number): bigint | undefined {
    if (index >>> 0 === MSR_VM_CR) return BigInt(this.vmCr);
    if (index >>> 0 === MSR_VM_HSAVE_PA) return BigInt(this.hsavePa);
    return undefined;
  }

  /**
   * WRMSR of an SVM MSR: false = #GP. VM_CR: bits 63:5 reserved; with LOCK set, LOCK and
   * SVMDIS are read-only (changing them is #GP). VM_HSAVE_PA: 4 KiB aligned, below
   * MAXPHYADDR. Undefined when `index` is not an SVM MSR.
   */
  wrmsr(index: number, value: bigint): boolean | undefined {
    const i = index >>> 0;
    if (i === MSR_VM_CR) {
      if ((value & ~BigInt(SVM_VM_CR_VALID_MASK)) !== 0n) return false;
      const v = Number(value);
      const locked = SVM_VM_CR_SVM_LOCK_MASK | SVM_VM_CR_SVM_DIS_MASK;
      if ((this.vmCr & SVM_VM_CR_SVM_LOCK_MASK) !== 0 && ((v ^ this.vmCr) & locked) !== 0) {
        return false;
      }
      this.vmCr = v;
      return true;
    }
    if (i === MSR_VM_HSAVE_PA) {
      if ((value & 0xfffn) !== 0n || value >> BigInt(this.caps.physAddrBits) !== 0n) return false;
      this.hsavePa = Number(value);
      return true;
    }
    return undefined;
  }

  /** May EFER be written with `efer`? Setting SVME is #GP while VM_CR.SVMDIS is set. */
  eferWriteAllowed(efer: number): boolean {
    return (efer & EFER_SVME) === 0 || (this.vmCr & SVM_VM_CR_SVM_DIS_MASK) === 0;
  }

  /** Every SVM instruction but VMMCALL: #UD without EFER.SVME, then #GP(0) at CPL > 0. */
  instructionChecks(p: SvmProcessor): number {
    if ((p.efer() & EFER_SVME) === 0) return SVM_FAULT_UD;
    if (p.cpl() > 0) return SVM_FAULT_GP;
    return SVM_SUCCEED;
  }

  /** The page at rAX for VMRUN/VMLOAD/VMSAVE: 4 KiB aligned, within MAXPHYADDR, backed. */
  private vmcbOperand(p: SvmProcessor, pa: number): Vmcb | null {
    if (!Number.isSafeInteger(pa) || pa < 0 || pa % VMCB_SIZE !== 0) return null;
    if (pa >= 2 ** this.caps.physAddrBits) return null;
    const bytes = p.phys(pa, VMCB_SIZE);
    return bytes ? new Vmcb(pa, bytes) : null;
  }

  /**
   * VMRUN (§8.1): save host state to the host save area, check the VMCB (failure:
   * #VMEXIT with VMEXIT_INVALID, guest state untouched), GIF = 1, run the guest until
   * #VMEXIT, GIF = 0, host state back. `pa` is rAX masked to the address size.
   */
  vmrun(p: SvmProcessor, pa: number): number {
    const r = this.instructionChecks(p);
    if (r !== SVM_SUCCEED) return r;
    const vmcb = this.vmcbOperand(p, pa);
    const hsave = this.vmcbOperand(p, this.hsavePa);
    if (!vmcb || !hsave) return SVM_FAULT_GP;
    p.saveHostState(hsave);
    this.lastVmrunFailure = vmrunChecks(vmcb, {
      physAddrBits: this.caps.physAddrBits,
      npt: (this.caps.features & SVM_FEATURE_NPT) !== 0,
      eferValid: SVM_EFER_VALID,
      cr4Valid: this.caps.cr4Valid,
    });
    if (this.lastVmrunFailure) {
      vmcb.write64(VMCB_EXIT_CODE, BigInt(SVM_EXIT_ERR));
      vmcb.write64(VMCB_EXIT_INFO_1, 0n);
      vmcb.write64(VMCB_EXIT_INFO_2, 0n);
      vmcb.write32(VMCB_EXIT_INT_INFO, 0);
      vmcb.write32(VMCB_EXIT_INT_INFO_ERR, 0);
      vmcb.write32(VMCB_EVENT_INJ, vmcb.read32(VMCB_EVENT_INJ) & ~SVM_EVTINJ_VALID);
      this.gif = false;
      p.loadHostState(hsave);
      return SVM_VMEXIT;
    }
    if (!this.guest)
      throw new Error("SvmCpu: VMRUN passed its checks but no guest engine is attached");
    this.gif = true;
    this.guestMode = true;
    let outcome: number;
    try {
      outcome = this.guest.enter(this, vmcb);
    } finally {
      this.guestMode = false;
    }
    this.gif = false;
    // In the shutdown state the processor does nothing more until RESET or INIT.
    if (outcome === SVM_SHUTDOWN) return SVM_SHUTDOWN;
    p.loadHostState(hsave);
    return SVM_VMEXIT;
  }

  /** VMLOAD (§8): FS, GS, TR, LDTR, KernelGsBase, STAR, LSTAR, CSTAR, SFMASK, SYSENTER_*. */
  vmload(p: SvmProcessor, pa: number): number {
    const r = this.instructionChecks(p);
    if (r !== SVM_SUCCEED) return r;
    const vmcb = this.vmcbOperand(p, pa);
    if (!vmcb) return SVM_FAULT_GP;
    p.vmloadState(vmcb);
    return SVM_SUCCEED;
  }

  /** VMSAVE: the VMLOAD set from the processor into the VMCB at `pa`. */
  vmsave(p: SvmProcessor, pa: number): number {
    const r = this.instructionChecks(p);
    if (r !== SVM_SUCCEED) return r;
    const vmcb = this.vmcbOperand(p, pa);
    if (!vmcb) return SVM_FAULT_GP;
    asVmcbWriter("vmsave", () => p.vmsaveState(vmcb));
    return SVM_SUCCEED;
  }

  /** STGI: GIF = 1 (held interrupts may now be taken). */
  stgi(p: SvmProcessor): number {
    const r = this.instructionChecks(p);
    if (r === SVM_SUCCEED) this.gif = true;
    return r;
  }

  /** CLGI: GIF = 0. */
  clgi(p: SvmProcessor): number {
    const r = this.instructionChecks(p);
    if (r === SVM_SUCCEED) this.gif = false;
    return r;
  }

  /** INVLPGA: invalidate the mapping of `va` (rAX) in ASID `asid` (ECX). */
  invlpga(p: SvmProcessor, va: bigint, asid: number): number {
    const r = this.instructionChecks(p);
    if (r !== SVM_SUCCEED) return r;
    this.tlb?.invlpga(va, asid >>> 0);
    return SVM_SUCCEED;
  }

  /** VMMCALL outside a guest (or not intercepted): #UD. It has no CPL check. */
  vmmcall(_p: SvmProcessor): number {
    return SVM_FAULT_UD;
  }
}

/** A readable name for an outcome: "success", "#VMEXIT", "#UD", "#GP(0)". */
export function svmOutcomeName(outcome: number): string {
  if (outcome === SVM_SUCCEED) return "success";
  if (outcome === SVM_VMEXIT) return "#VMEXIT";
  if (outcome === SVM_SHUTDOWN) return "shutdown in the guest (SHUTDOWN not intercepted)";
  if (outcome === SVM_FAULT_UD) return "#UD";
  if (outcome === SVM_FAULT_GP) return "#GP(0)";
  return `outcome ${outcome}`;
}
