/**
 * VMX operation of one logical processor (SDM Vol. 3C Ch. 24, 31; the instruction
 * reference in Vol. 2 / 3C 31.3): VMXON and VMXOFF, the current-VMCS pointer, and
 * VMCLEAR, VMPTRLD, VMPTRST, VMREAD, VMWRITE, INVEPT, INVVPID and VMCALL in root
 * operation with the SDM's outcomes — VMsucceed, VMfailInvalid, VMfailValid(n) — or the
 * fault the instruction raises.
 *
 * The same methods serve kvm_intel (TypeScript calling them as the kernel's inline asm
 * does) and x86 code executing the instructions in root operation on the software CPU:
 * the caller supplies the processor context (CR0, CR4, CPL, mode, IA32_FEATURE_CONTROL)
 * and physical memory through VmxProcessor.
 */
import {
  EXIT_QUALIFICATION,
  FEAT_CTL_LOCKED,
  FEAT_CTL_VMX_ENABLED_OUTSIDE_SMX,
  MSR_IA32_VMX_CR0_FIXED0,
  MSR_IA32_VMX_CR0_FIXED1,
  MSR_IA32_VMX_CR4_FIXED0,
  MSR_IA32_VMX_CR4_FIXED1,
  MSR_IA32_VMX_EPT_VPID_CAP,
  MSR_IA32_VMX_MISC,
  VM_ENTRY_INTR_INFO_FIELD,
  VM_EXIT_REASON,
  VM_INSTRUCTION_ERROR,
  VMXERR_ENTRY_EVENTS_BLOCKED_BY_MOV_SS,
  VMXERR_INVALID_OPERAND_TO_INVEPT_INVVPID,
  VMXERR_UNSUPPORTED_VMCS_COMPONENT,
  VMXERR_VMCALL_IN_VMX_ROOT_OPERATION,
  VMXERR_VMCLEAR_INVALID_ADDRESS,
  VMXERR_VMCLEAR_VMXON_POINTER,
  VMXERR_VMLAUNCH_NONCLEAR_VMCS,
  VMXERR_VMPTRLD_INCORRECT_VMCS_REVISION_ID,
  VMXERR_VMPTRLD_INVALID_ADDRESS,
  VMXERR_VMPTRLD_VMXON_POINTER,
  VMXERR_VMRESUME_NONLAUNCHED_VMCS,
  VMXERR_VMWRITE_READ_ONLY_VMCS_COMPONENT,
  VMXERR_VMXON_IN_VMX_ROOT_OPERATION,
  X86_CR4_VMXE,
} from "../asm/vmx.js";
import {
  type VmcsFieldInfo,
  vmcsEncodingReserved,
  vmcsFieldInfo,
  vmcsFieldIsHigh,
} from "../vmcs-fields.js";
import { VMCS_STATE_CLEAR, VMCS_STATE_LAUNCHED, VmcsRegion, vmcsSlot } from "./vmcs_region.js";
import {
  type VmcsReader,
  type VmEntryContext,
  type VmEntryFailure,
  vmEntryChecks,
} from "./vmentry_checks.js";
import { type VmxCapabilities, vmxCapabilities } from "./vmx_caps.js";

/** Outcomes of a VMX instruction. Positive values are VMfailValid's error number. */
export const VMX_SUCCEED = 0;
export const VMX_FAIL_INVALID = -1;
/**
 * VMLAUNCH/VMRESUME ended in a VM exit — after the guest ran, or at once when a
 * guest-state check failed (VM_EXIT_REASON bit 31). Host state has been loaded.
 */
export const VMX_VMEXIT = -2;
/** The instruction faulted instead: #UD or #GP(0). */
export const VMX_FAULT_UD = -6;
export const VMX_FAULT_GP = -13;

/** Who wrote a VMCS field: software through VMWRITE, or the processor itself. */
export type VmcsWriter = "vmwrite" | "cpu";

/** The all-ones "no current VMCS" pointer that VMPTRST stores. */
export const VMCS_POINTER_INVALID = 0xffff_ffff_ffff_ffffn;

/** The processor executing a VMX instruction, as the instruction's checks see it. */
export interface VmxProcessor {
  /** `len` bytes at physical address `pa`, or null where there is no memory. */
  phys(pa: number, len: number): Uint8Array | null;
  cr0(): number;
  cr4(): number;
  cpl(): number;
  /** IA32_FEATURE_CONTROL (MSR 0x3A). */
  featureControl(): number;
  /** CR0.PE = 1, RFLAGS.VM = 0 and not compatibility mode: else VMX instructions are #UD. */
  vmxModeOk(): boolean;
  /** Blocking by MOV SS in the current context (interruptibility bit 1). */
  movSsBlocking(): boolean;
  /** The processor is in IA-32e mode (checked against "host address-space size"). */
  longMode(): boolean;
  /**
   * A VM exit (or failed VM entry) loads the host-state area into this processor
   * (SDM 28.5): RIP, RSP, control registers, segments. Optional for callers that keep
   * no register file of their own (kvm_intel's host CPU).
   */
  loadHostState?(read: (encoding: number) => bigint): void;
}

/**
 * Runs the guest in VMX non-root operation from the current VMCS until a VM exit, then
 * stores the exit information and the guest state in the VMCS (SDM 27.5–28).
 */
export interface VmxGuestEngine {
  enter(vmx: VmxCpu, vmcs: VmcsRegion, launch: boolean): void;
}

/** Guest-physical and linear translations the caches hold, flushed by INVEPT/INVVPID. */
export interface VmxTlbHooks {
  invept(type: number, eptp: bigint): void;
  invvpid(type: number, vpid: number, gla: bigint): void;
}

/**
 * VMX state of one logical processor: in or out of VMX operation, root or non-root,
 * the VMXON pointer and the current VMCS.
 */
export class VmxCpu {
  readonly caps: VmxCapabilities;
  inVmxOperation = false;
  /** VMX non-root operation (a guest is running). */
  nonRoot = false;
  /** Physical address of the VMXON region (-1 outside VMX operation). */
  vmxonPointer = -1;
  /** The current VMCS, or null when the current-VMCS pointer is invalid. */
  current: VmcsRegion | null = null;
  /**
   * The value VMREAD (or VMPTRST) stored, as unsigned 32-bit halves (valid after a
   * VMsucceed): a 16- or 32-bit read needs no BigInt.
   */
  readLo = 0;
  readHi = 0;

  /** The value VMREAD read (valid after a VMsucceed). */
  get readValue(): bigint {
    return this.readHi === 0
      ? BigInt(this.readLo)
      : (BigInt(this.readHi) << 32n) | BigInt(this.readLo);
  }
  tlb: VmxTlbHooks | null = null;
  /** Non-root execution (the x86 core under the VMCS controls). */
  guest: VmxGuestEngine | null = null;
  /**
   * Told of every VMCS field write: "vmwrite" (software, e.g. kvm_intel's vmcs_write) or
   * "cpu" (the processor itself: VM-instruction errors, exit information). Null = nobody
   * listens and writes cost nothing extra.
   */
  onFieldWrite: ((pa: number, encoding: number, by: VmcsWriter) => void) | null = null;
  /** Why the last VM entry failed a check, for the VMM and for people (null = none). */
  lastEntryFailure: VmEntryFailure | null = null;

  /** What VM entry checks against, for a processor outside and inside IA-32e mode. */
  private readonly entryCtx32: VmEntryContext;
  private readonly entryCtx64: VmEntryContext;

  constructor(caps?: VmxCapabilities) {
    this.caps = caps ?? vmxCapabilities();
    const physAddrBits = this.caps.physAddrBits;
    this.entryCtx32 = { caps: this.caps, hostLongMode: false, physAddrBits };
    this.entryCtx64 = { caps: this.caps, hostLongMode: true, physAddrBits };
  }

  /** The MSR value this part reports for a capability MSR, or undefined (#GP). */
  capabilityMsr(index: number): bigint | undefined {
    return this.caps.msrs.get(index);
  }

  /** A physical address VMX structures may use: 4 KiB aligned and within MAXPHYADDR. */
  private validRegionAddress(pa: number): boolean {
    return (
      Number.isSafeInteger(pa) && pa >= 0 && pa % 4096 === 0 && pa < 2 ** this.caps.physAddrBits
    );
  }

  /** VMfail(n): VMfailValid(n) with a current VMCS (recording n in it), else VMfailInvalid. */
  private vmfail(error: number): number {
    const v = this.current;
    if (!v) return VMX_FAIL_INVALID;
    v.write32(vmcsSlot(VM_INSTRUCTION_ERROR), error);
    this.onFieldWrite?.(v.pa, VM_INSTRUCTION_ERROR, "cpu");
    return error;
  }

  /** The checks every VMX instruction but VMXON makes first. */
  private rootChecks(p: VmxProcessor): number {
    if (!this.inVmxOperation || !p.vmxModeOk()) return VMX_FAULT_UD;
    if (p.cpl() > 0) return VMX_FAULT_GP;
    return VMX_SUCCEED;
  }

  /**
   * The faults an instruction raises before it reads its memory operand (#UD, then #GP(0)
   * at CPL > 0): what x86 code executing VMXON (`vmxon` true) or another VMX instruction
   * checks first. VMX_SUCCEED, VMX_FAULT_UD or VMX_FAULT_GP.
   */
  operandChecks(p: VmxProcessor, vmxon: boolean): number {
    if (!vmxon) return this.rootChecks(p);
    if (!p.vmxModeOk() || (p.cr4() & X86_CR4_VMXE) === 0) return VMX_FAULT_UD;
    return p.cpl() > 0 ? VMX_FAULT_GP : VMX_SUCCEED;
  }

  /** CR0 and CR4 hold values VMX operation supports (the FIXED0/FIXED1 MSRs). */
  private crsSupported(p: VmxProcessor): boolean {
    const m = this.caps.msrs;
    const fixed = (v: number, f0: bigint | undefined, f1: bigint | undefined) => {
      const must1 = Number(f0 ?? 0n);
      const may1 = Number(f1 ?? 0xffff_ffffn);
      return (v & must1) >>> 0 === must1 >>> 0 && (v & ~may1) >>> 0 === 0;
    };
    return (
      fixed(p.cr0(), m.get(MSR_IA32_VMX_CR0_FIXED0), m.get(MSR_IA32_VMX_CR0_FIXED1)) &&
      fixed(p.cr4(), m.get(MSR_IA32_VMX_CR4_FIXED0), m.get(MSR_IA32_VMX_CR4_FIXED1))
    );
  }

  /** VMXON (SDM 31.3): enter VMX root operation with the region at `pa`. */
  vmxon(p: VmxProcessor, pa: number): number {
    if (!p.vmxModeOk() || (p.cr4() & X86_CR4_VMXE) === 0) return VMX_FAULT_UD;
    if (this.inVmxOperation) {
      if (p.cpl() > 0) return VMX_FAULT_GP;
      return this.vmfail(VMXERR_VMXON_IN_VMX_ROOT_OPERATION);
    }
    const fc = p.featureControl();
    if (
      p.cpl() > 0 ||
      !this.crsSupported(p) ||
      (fc & FEAT_CTL_LOCKED) === 0 ||
      (fc & FEAT_CTL_VMX_ENABLED_OUTSIDE_SMX) === 0
    ) {
      return VMX_FAULT_GP;
    }
    if (!this.validRegionAddress(pa)) return VMX_FAIL_INVALID;
    const region = p.phys(pa, 4);
    if (!region) return VMX_FAIL_INVALID;
    const rev = new DataView(region.buffer, region.byteOffset, 4).getUint32(0, true);
    if (rev !== this.caps.revisionId) return VMX_FAIL_INVALID;
    this.inVmxOperation = true;
    this.vmxonPointer = pa;
    this.current = null;
    return VMX_SUCCEED;
  }

  /** VMXOFF: leave VMX operation. */
  vmxoff(p: VmxProcessor): number {
    const r = this.rootChecks(p);
    if (r !== VMX_SUCCEED) return r;
    this.inVmxOperation = false;
    this.vmxonPointer = -1;
    this.current = null;
    return VMX_SUCCEED;
  }

  /**
   * The VMCS operand of VMCLEAR/VMPTRLD: its page, or the outcome when the instruction
   * faults, the address is invalid (`badAddress`) or it is the VMXON region (`isVmxon`).
   */
  private vmcsOperand(
    p: VmxProcessor,
    pa: number,
    badAddress: number,
    isVmxon: number,
  ): Uint8Array | number {
    const r = this.rootChecks(p);
    if (r !== VMX_SUCCEED) return r;
    if (!this.validRegionAddress(pa)) return this.vmfail(badAddress);
    if (pa === this.vmxonPointer) return this.vmfail(isVmxon);
    return p.phys(pa, 4096) ?? this.vmfail(badAddress);
  }

  /** VMCLEAR: the VMCS at `pa` becomes clear (and not current, if it was). */
  vmclear(p: VmxProcessor, pa: number): number {
    const bytes = this.vmcsOperand(
      p,
      pa,
      VMXERR_VMCLEAR_INVALID_ADDRESS,
      VMXERR_VMCLEAR_VMXON_POINTER,
    );
    if (typeof bytes === "number") return bytes;
    new VmcsRegion(pa, bytes).launchState = VMCS_STATE_CLEAR;
    if (this.current?.pa === pa) this.current = null;
    return VMX_SUCCEED;
  }

  /** VMPTRLD: the VMCS at `pa` becomes current (its launch state is kept). */
  vmptrld(p: VmxProcessor, pa: number): number {
    const bytes = this.vmcsOperand(
      p,
      pa,
      VMXERR_VMPTRLD_INVALID_ADDRESS,
      VMXERR_VMPTRLD_VMXON_POINTER,
    );
    if (typeof bytes === "number") return bytes;
    const region = new VmcsRegion(pa, bytes);
    // Bit 31 (shadow VMCS) needs VMCS shadowing, which this part lacks.
    if (region.revisionId !== this.caps.revisionId) {
      return this.vmfail(VMXERR_VMPTRLD_INCORRECT_VMCS_REVISION_ID);
    }
    this.current = region;
    return VMX_SUCCEED;
  }

  /** VMPTRST: the current-VMCS pointer (all ones when there is none) in `readValue`. */
  vmptrst(p: VmxProcessor): number {
    const r = this.rootChecks(p);
    if (r !== VMX_SUCCEED) return r;
    const pa = this.current ? this.current.pa : -1;
    this.readLo = pa === -1 ? 0xffff_ffff : pa >>> 0;
    this.readHi = pa === -1 ? 0xffff_ffff : Math.floor(pa / 2 ** 32);
    return VMX_SUCCEED;
  }

  /** The field an encoding names, if this implementation has it (HIGH accesses included). */
  private field(encoding: number): VmcsFieldInfo | undefined {
    if (!Number.isInteger(encoding) || encoding < 0 || encoding > 0xffff_ffff) return undefined;
    if (vmcsEncodingReserved(encoding)) return undefined;
    const info = vmcsFieldInfo(encoding);
    if (!info || vmcsSlot(info.encoding) === 0) return undefined;
    return info;
  }

  /**
   * VMREAD: the field's value, zero-extended, in `readValue`. A HIGH encoding reads bits
   * 63:32 of a 64-bit field.
   */
  vmread(p: VmxProcessor, encoding: number): number {
    const r = this.rootChecks(p);
    if (r !== VMX_SUCCEED) return r;
    const v = this.current;
    if (!v) return VMX_FAIL_INVALID;
    const info = this.field(encoding);
    if (!info) return this.vmfail(VMXERR_UNSUPPORTED_VMCS_COMPONENT);
    const slot = vmcsSlot(info.encoding);
    if (vmcsFieldIsHigh(encoding)) {
      this.readLo = v.readHigh32(slot);
      this.readHi = 0;
    } else {
      // vmcsValue's widths, on the halves.
      const lo = v.read32(slot);
      this.readLo = info.width === 16 ? lo & 0xffff : lo;
      this.readHi = info.width === 16 || info.width === 32 ? 0 : v.readHigh32(slot);
    }
    return VMX_SUCCEED;
  }

  /**
   * VMWRITE: store `value` truncated to the field's width (a HIGH encoding writes bits
   * 63:32). Exit-information fields are read-only unless IA32_VMX_MISC[29].
   */
  vmwrite(p: VmxProcessor, encoding: number, value: bigint): number {
    const r = this.rootChecks(p);
    if (r !== VMX_SUCCEED) return r;
    const v = this.current;
    if (!v) return VMX_FAIL_INVALID;
    const info = this.field(encoding);
    if (!info) return this.vmfail(VMXERR_UNSUPPORTED_VMCS_COMPONENT);
    const misc = this.caps.msrs.get(MSR_IA32_VMX_MISC) ?? 0n;
    if (info.readOnly && ((misc >> 29n) & 1n) === 0n) {
      return this.vmfail(VMXERR_VMWRITE_READ_ONLY_VMCS_COMPONENT);
    }
    const slot = vmcsSlot(info.encoding);
    if (vmcsFieldIsHigh(encoding)) v.writeHigh32(slot, Number(value & 0xffff_ffffn));
    else storeVmcsValue(v, slot, info, value);
    this.onFieldWrite?.(v.pa, info.encoding, "vmwrite");
    return VMX_SUCCEED;
  }

  /** INVEPT with a descriptor {EPTP, reserved}: types 1 (single context) and 2 (all). */
  invept(p: VmxProcessor, type: number, eptp: bigint): number {
    const r = this.rootChecks(p);
    if (r !== VMX_SUCCEED) return r;
    const cap = this.caps.msrs.get(MSR_IA32_VMX_EPT_VPID_CAP) ?? 0n;
    const supported = type === 1 ? (cap >> 25n) & 1n : type === 2 ? (cap >> 26n) & 1n : 0n;
    if (((cap >> 20n) & 1n) === 0n || supported === 0n) {
      return this.vmfail(VMXERR_INVALID_OPERAND_TO_INVEPT_INVVPID);
    }
    this.tlb?.invept(type, eptp);
    return VMX_SUCCEED;
  }

  /** INVVPID with a descriptor {VPID, linear address}: types 0–3 as the capability MSR allows. */
  invvpid(p: VmxProcessor, type: number, vpid: number, gla: bigint): number {
    const r = this.rootChecks(p);
    if (r !== VMX_SUCCEED) return r;
    const cap = this.caps.msrs.get(MSR_IA32_VMX_EPT_VPID_CAP) ?? 0n;
    const supported = type >= 0 && type <= 3 ? (cap >> BigInt(40 + type)) & 1n : 0n;
    if (((cap >> 32n) & 1n) === 0n || supported === 0n) {
      return this.vmfail(VMXERR_INVALID_OPERAND_TO_INVEPT_INVVPID);
    }
    // VPID 0 is the host's; a non-canonical address for an individual-address flush.
    const canonical = BigInt.asIntN(48, gla) === BigInt.asIntN(64, gla);
    if ((type !== 2 && vpid === 0) || (type === 0 && !canonical)) {
      return this.vmfail(VMXERR_INVALID_OPERAND_TO_INVEPT_INVVPID);
    }
    this.tlb?.invvpid(type, vpid, gla);
    return VMX_SUCCEED;
  }

  /** The current VMCS as the entry checks and the host-state load read it. */
  private readonly entryReader = new VmcsEntryReader();
  private readonly readEntryField = (encoding: number): bigint => this.entryReader.read(encoding);

  /** VMLAUNCH: VM entry of a clear VMCS (SDM 31.3, 27). */
  vmlaunch(p: VmxProcessor): number {
    return this.vmentry(p, true);
  }

  /** VMRESUME: VM entry of a launched VMCS. */
  vmresume(p: VmxProcessor): number {
    return this.vmentry(p, false);
  }

  /**
   * The VM-entry sequence: the instruction's own checks, then the checks on controls
   * (VMfailValid(7)) and host state (VMfailValid(8)), then guest state — whose failure
   * is a VM exit with reason 0x80000021 (or 0x80000022) that loads host state and leaves
   * the launch state alone. Every failure is kept, explained, in `lastEntryFailure`.
   */
  private vmentry(p: VmxProcessor, launch: boolean): number {
    if (!this.inVmxOperation || !p.vmxModeOk()) return VMX_FAULT_UD;
    if (p.cpl() > 0) return VMX_FAULT_GP;
    const v = this.current;
    if (!v) return VMX_FAIL_INVALID;
    this.lastEntryFailure = null;
    if (p.movSsBlocking()) return this.vmfail(VMXERR_ENTRY_EVENTS_BLOCKED_BY_MOV_SS);
    if (launch && v.launchState !== VMCS_STATE_CLEAR) {
      return this.vmfail(VMXERR_VMLAUNCH_NONCLEAR_VMCS);
    }
    if (!launch && v.launchState !== VMCS_STATE_LAUNCHED) {
      return this.vmfail(VMXERR_VMRESUME_NONLAUNCHED_VMCS);
    }
    const vmcs = this.entryReader;
    vmcs.v = v;
    const ctx = p.longMode() ? this.entryCtx64 : this.entryCtx32;
    const failure = vmEntryChecks(vmcs, ctx);
    if (failure) {
      this.lastEntryFailure = failure;
      if (failure.stage !== "guest-state") return this.vmfail(failure.error);
      // A failed VM entry is a VM exit: exit reason with bit 31, qualification, host state.
      v.write64(vmcsSlot(VM_EXIT_REASON), BigInt(failure.error >>> 0));
      v.write64(vmcsSlot(EXIT_QUALIFICATION), BigInt(failure.qualification));
      this.onFieldWrite?.(v.pa, VM_EXIT_REASON, "cpu");
      this.onFieldWrite?.(v.pa, EXIT_QUALIFICATION, "cpu");
      this.clearEntryInterruptionValid(v);
      p.loadHostState?.(this.readEntryField);
      return VMX_VMEXIT;
    }
    if (!this.guest) {
      throw new Error("VmxCpu: VM entry passed its checks but no non-root engine is attached");
    }
    if (launch) v.launchState = VMCS_STATE_LAUNCHED;
    this.nonRoot = true;
    try {
      this.guest.enter(this, v, launch);
    } finally {
      this.nonRoot = false;
    }
    this.clearEntryInterruptionValid(v);
    vmcs.v = v;
    p.loadHostState?.(this.readEntryField);
    return VMX_VMEXIT;
  }

  /** Every VM exit clears the valid bit of the VM-entry interruption-information field. */
  private clearEntryInterruptionValid(v: VmcsRegion): void {
    const slot = vmcsSlot(VM_ENTRY_INTR_INFO_FIELD);
    v.write32(slot, v.read32(slot) & 0x7fff_ffff);
  }

  /** VMCALL in root operation (without the dual-monitor treatment): VMfail(1). */
  vmcall(p: VmxProcessor): number {
    const r = this.rootChecks(p);
    if (r !== VMX_SUCCEED) return r;
    return this.vmfail(VMXERR_VMCALL_IN_VMX_ROOT_OPERATION);
  }
}

/**
 * A VMCS region read by encoding: VMREAD's view without its checks, for the processor's own
 * use during VM entry. A full field's slot holds it zero-extended, so its halves need no
 * BigInt; an unsupported encoding reads as 0.
 */
class VmcsEntryReader implements VmcsReader {
  v: VmcsRegion | null = null;

  read(encoding: number): bigint {
    const info = vmcsFieldInfo(encoding);
    const slot = info ? vmcsSlot(info.encoding) : 0;
    return info && slot && this.v ? vmcsValue(this.v, slot, info) : 0n;
  }

  read32(encoding: number): number {
    const slot = vmcsSlot(encoding);
    if (slot !== 0 && this.v) return this.v.read32(slot);
    return Number(this.read(encoding) & 0xffff_ffffn);
  }

  readHigh32(encoding: number): number {
    const slot = vmcsSlot(encoding);
    if (slot !== 0 && this.v) return this.v.readHigh32(slot);
    return Number((this.read(encoding) >> 32n) & 0xffff_ffffn);
  }
}

/** A field's full value, zero-extended from its width. */
export function vmcsValue(v: VmcsRegion, slot: number, info: VmcsFieldInfo): bigint {
  switch (info.width) {
    case 16:
      return BigInt(v.read32(slot) & 0xffff);
    case 32:
      return BigInt(v.read32(slot));
    default:
      return v.read64(slot);
  }
}

/** Store a value truncated to the field's width. */
export function storeVmcsValue(v: VmcsRegion, slot: number, info: VmcsFieldInfo, value: bigint) {
  switch (info.width) {
    case 16:
      v.write64(slot, value & 0xffffn);
      break;
    case 32:
      v.write64(slot, value & 0xffff_ffffn);
      break;
    default:
      v.write64(slot, value);
  }
}

/**
 * The architectural RFLAGS after a VMX instruction (SDM 31.2): VMsucceed clears CF, PF,
 * AF, ZF, SF, OF; VMfailInvalid sets CF; VMfailValid sets ZF. Faults leave RFLAGS alone.
 */
export function vmxResultFlags(rflags: number, outcome: number): number {
  if (outcome === VMX_FAULT_UD || outcome === VMX_FAULT_GP) return rflags;
  // A VM exit loads RFLAGS with only bit 1 set.
  if (outcome === VMX_VMEXIT) return 0x2;
  let f = rflags & ~(0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x800);
  if (outcome === VMX_FAIL_INVALID) f |= 0x1;
  else if (outcome > 0) f |= 0x40;
  return f >>> 0;
}

/** A readable name for an outcome: "VMsucceed", "VMfailInvalid", "VMfailValid(7)", "#UD", "#GP(0)". */
export function vmxOutcomeName(outcome: number): string {
  if (outcome === VMX_SUCCEED) return "VMsucceed";
  if (outcome === VMX_VMEXIT) return "VM exit";
  if (outcome === VMX_FAIL_INVALID) return "VMfailInvalid";
  if (outcome === VMX_FAULT_UD) return "#UD";
  if (outcome === VMX_FAULT_GP) return "#GP(0)";
  return `VMfailValid(${outcome})`;
}
