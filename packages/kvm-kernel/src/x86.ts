/**
 * arch/x86/kvm/x86.c: the x86 ioctls, the vCPU state KVM keeps (registers, MSRs, queued
 * events), the run loop (kvm_arch_vcpu_ioctl_run → vcpu_run → vcpu_enter_guest →
 * kvm_x86_ops.vcpu_run / handle_exit), event injection, and the exit handlers vendors call
 * (PIO, MMIO through the emulator, HLT, CPUID, RDMSR/WRMSR, single-step).
 */

import { kvmCoalescedMmio } from "./coalesced_mmio.js";
import {
  guestCpuidHas,
  kvmCpuid,
  kvmDevIoctlGetCpuid,
  kvmSupportedCpuid,
  kvmVcpuIoctlGetCpuid2,
  kvmVcpuIoctlSetCpuid2,
} from "./cpuid.js";
import { KvmPit, kvmPitClaims } from "./i8254.js";
import {
  KvmPic,
  kvmGetPicState,
  kvmSetPicState,
  picdevInRange,
  picdevRead,
  picdevWrite,
} from "./i8259.js";
import {
  IOAPIC_MEM_LENGTH,
  ioapicInRange,
  ioapicMmioRead,
  ioapicMmioWrite,
  KvmIoapic,
  kvmGetIoapic,
  kvmSetIoapic,
} from "./ioapic.js";
import {
  kvmCpuGetInterrupt,
  kvmCpuHasInterrupt,
  kvmCpuHasPendingTimer,
  kvmInjectPendingTimerIrqs,
} from "./irq.js";
import {
  KVM_USERSPACE_IRQ_SOURCE_ID,
  kvmDefaultIrqRouting,
  kvmRegisterIrqAckNotifier,
  kvmSetIrq,
} from "./irq_comm.js";
import type { File } from "./kernel.js";
import {
  KVM_IRQCHIP_KERNEL,
  KVM_MAX_VCPU_IDS,
  KVM_MAX_VCPUS,
  KVM_REQ_EVENT,
  KVM_REQ_MMU_RELOAD,
  KVM_REQ_NMI,
  KVM_REQ_TLB_FLUSH,
  KVM_REQ_TLB_FLUSH_GUEST,
  KVM_REQ_TRIPLE_FAULT,
  KVM_SOFT_MAX_VCPUS,
  type Kvm,
  type KvmHome,
  type KvmMmioFragment,
  type KvmPioDevice,
  type KvmTimerSource,
  type KvmVcpu,
  kvmVcpuKick,
  NR_VCPU_REGS,
  VCPU_REGS_RAX,
  VCPU_REGS_RBP,
  VCPU_REGS_RBX,
  VCPU_REGS_RCX,
  VCPU_REGS_RDI,
  VCPU_REGS_RDX,
  VCPU_REGS_RIP,
  VCPU_REGS_RSI,
  VCPU_REGS_RSP,
  VCPU_SHARED_NMI_QUEUED,
  VCPU_SHARED_REQUESTS,
  VCPU_SHARED_WAKE,
  VCPU_SREG_CS,
  VCPU_SREG_DS,
  VCPU_SREG_ES,
  VCPU_SREG_FS,
  VCPU_SREG_GS,
  VCPU_SREG_LDTR,
  VCPU_SREG_SS,
  VCPU_SREG_TR,
} from "./kvm_host.js";
import type { KvmGlobal } from "./kvm_main.js";
import {
  copyFromUser,
  copyToUser,
  gfnToMemslot,
  kvmReadGuest,
  markPageDirtyInSlot,
} from "./kvm_main.js";
import {
  EMULTYPE_SKIP,
  type MsrData,
  X86EMUL_CONTINUE,
  X86EMUL_IO_NEEDED,
  X86EMUL_PROPAGATE_FAULT,
  X86EMUL_RETRY_INSTR,
  X86EMUL_UNHANDLEABLE,
  type X86EmulateOps,
} from "./kvm-x86-ops.js";
import {
  APIC_BASE_MSR,
  kvmApicAcceptEvents,
  kvmApicAcceptPicIntr,
  kvmApicGetState,
  kvmApicHasPendingInitOrSipi,
  kvmApicSetState,
  kvmCreateLapic,
  kvmGetLapicTscdeadlineMsr,
  kvmLapicGetCr8,
  kvmLapicLatchedInit,
  kvmLapicLatchSipi,
  kvmLapicMmioRead,
  kvmLapicMmioWrite,
  kvmLapicNextTimerNs,
  kvmLapicReset,
  kvmLapicSetBase,
  kvmLapicSetLatchedInit,
  kvmLapicSetSipiVector,
  kvmLapicSetTpr,
  kvmLapicTimerCanWake,
  kvmSetLapicTscdeadlineMsr,
  kvmX2apicMsrRead,
  kvmX2apicMsrWrite,
} from "./lapic.js";
import {
  APIC_DEFAULT_PHYS_BASE,
  EFER_FFXSR,
  EFER_LMA,
  EFER_LME,
  EFER_NX,
  EFER_SCE,
  EFER_SVME,
  EMULATED_MSRS_ALL,
  MSR_BASED_FEATURES,
  MSR_EFER,
  MSR_IA32_APICBASE,
  MSR_IA32_APICBASE_BSP,
  MSR_IA32_APICBASE_ENABLE,
  MSR_IA32_ARCH_CAPABILITIES,
  MSR_IA32_CR_PAT,
  MSR_IA32_MCG_CAP,
  MSR_IA32_MCG_CTL,
  MSR_IA32_MCG_STATUS,
  MSR_IA32_MISC_ENABLE,
  MSR_IA32_PLATFORM_ID,
  MSR_IA32_POWER_CTL,
  MSR_IA32_SMBASE,
  MSR_IA32_TSC,
  MSR_IA32_TSC_ADJUST,
  MSR_IA32_TSC_DEADLINE,
  MSR_IA32_UCODE_REV,
  MSR_MTRRcap,
  MSR_MTRRdefType,
  MSR_MTRRfix4K_C0000,
  MSR_MTRRfix4K_F8000,
  MSR_MTRRfix16K_80000,
  MSR_MTRRfix16K_A0000,
  MSR_MTRRfix64K_00000,
  MSR_MTRRphysBase0,
  MSRS_TO_SAVE_BASE,
  X2APIC_ENABLE,
} from "./msr-index.js";
import {
  KVM_TRACE_MMIO_READ,
  KVM_TRACE_MMIO_READ_UNSATISFIED,
  KVM_TRACE_MMIO_WRITE,
} from "./trace.js";
import {
  E2BIG,
  EAGAIN,
  EBUSY,
  EEXIST,
  EFAULT,
  EINTR,
  EINVAL,
  ENOENT,
  ENOTTY,
  ENXIO,
} from "./uapi/errno.js";
import type { IoctlArg } from "./uapi/hostos.js";
import {
  KVM_CAP_DEBUGREGS,
  KVM_CAP_EXCEPTION_PAYLOAD,
  KVM_CAP_EXT_CPUID,
  KVM_CAP_GET_MSR_FEATURES,
  KVM_CAP_GET_TSC_KHZ,
  KVM_CAP_HLT,
  KVM_CAP_IMMEDIATE_EXIT,
  KVM_CAP_INTR_SHADOW,
  KVM_CAP_IRQ_INJECT_STATUS,
  KVM_CAP_IRQCHIP,
  KVM_CAP_LAST_CPU,
  KVM_CAP_MAX_VCPUS,
  KVM_CAP_MP_STATE,
  KVM_CAP_NOP_IO_DELAY,
  KVM_CAP_NR_VCPUS,
  KVM_CAP_PIT_STATE2,
  KVM_CAP_PIT2,
  KVM_CAP_READONLY_MEM,
  KVM_CAP_SET_BOOT_CPU_ID,
  KVM_CAP_SET_GUEST_DEBUG,
  KVM_CAP_SET_GUEST_DEBUG2,
  KVM_CAP_SET_IDENTITY_MAP_ADDR,
  KVM_CAP_SET_TSS_ADDR,
  KVM_CAP_SYNC_MMU,
  KVM_CAP_SYNC_REGS,
  KVM_CAP_TSC_DEADLINE_TIMER,
  KVM_CAP_USER_NMI,
  KVM_CAP_VCPU_EVENTS,
  KVM_CAP_VM_TYPES,
  KVM_CAP_X86_TRIPLE_FAULT_EVENT,
  KVM_CREATE_IRQCHIP,
  KVM_CREATE_PIT2,
  KVM_ENABLE_CAP,
  KVM_EXIT_DEBUG,
  KVM_EXIT_HLT,
  KVM_EXIT_INTERNAL_ERROR,
  KVM_EXIT_INTR,
  KVM_EXIT_IO,
  KVM_EXIT_IO_IN,
  KVM_EXIT_IO_OUT,
  KVM_EXIT_IRQ_WINDOW_OPEN,
  KVM_EXIT_MMIO,
  KVM_EXIT_SHUTDOWN,
  KVM_EXIT_UNKNOWN,
  KVM_GET_CPUID2,
  KVM_GET_DEBUGREGS,
  KVM_GET_EMULATED_CPUID,
  KVM_GET_FPU,
  KVM_GET_IRQCHIP,
  KVM_GET_LAPIC,
  KVM_GET_MP_STATE,
  KVM_GET_MSR_FEATURE_INDEX_LIST,
  KVM_GET_MSR_INDEX_LIST,
  KVM_GET_MSRS,
  KVM_GET_PIT2,
  KVM_GET_REGS,
  KVM_GET_SREGS,
  KVM_GET_SUPPORTED_CPUID,
  KVM_GET_TSC_KHZ,
  KVM_GET_VCPU_EVENTS,
  KVM_GUESTDBG_ENABLE,
  KVM_GUESTDBG_INJECT_BP,
  KVM_GUESTDBG_INJECT_DB,
  KVM_GUESTDBG_SINGLESTEP,
  KVM_GUESTDBG_USE_HW_BP,
  KVM_GUESTDBG_VALID_MASK,
  KVM_INTERNAL_ERROR_EMULATION,
  KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES,
  KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON,
  KVM_INTERRUPT,
  KVM_IRQ_LINE,
  KVM_IRQ_LINE_STATUS,
  KVM_IRQCHIP_IOAPIC,
  KVM_IRQCHIP_PIC_MASTER,
  KVM_IRQCHIP_PIC_SLAVE,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY,
  KVM_MP_STATE_AP_RESET_HOLD,
  KVM_MP_STATE_HALTED,
  KVM_MP_STATE_INIT_RECEIVED,
  KVM_MP_STATE_RUNNABLE,
  KVM_MP_STATE_SIPI_RECEIVED,
  KVM_MP_STATE_UNINITIALIZED,
  KVM_NMI,
  KVM_NR_INTERRUPTS,
  KVM_PIO_PAGE_OFFSET,
  KVM_SET_BOOT_CPU_ID,
  KVM_SET_CPUID2,
  KVM_SET_DEBUGREGS,
  KVM_SET_FPU,
  KVM_SET_GUEST_DEBUG,
  KVM_SET_IDENTITY_MAP_ADDR,
  KVM_SET_IRQCHIP,
  KVM_SET_LAPIC,
  KVM_SET_MP_STATE,
  KVM_SET_MSRS,
  KVM_SET_PIT2,
  KVM_SET_REGS,
  KVM_SET_SIGNAL_MASK,
  KVM_SET_SREGS,
  KVM_SET_TSS_ADDR,
  KVM_SET_VCPU_EVENTS,
  KVM_SYNC_X86_EVENTS,
  KVM_SYNC_X86_REGS,
  KVM_SYNC_X86_SREGS,
  KVM_SYNC_X86_VALID_FIELDS,
  KVM_VCPUEVENT_VALID_NMI_PENDING,
  KVM_VCPUEVENT_VALID_PAYLOAD,
  KVM_VCPUEVENT_VALID_SHADOW,
  KVM_VCPUEVENT_VALID_SIPI_VECTOR,
  KVM_VCPUEVENT_VALID_SMM,
  KVM_VCPUEVENT_VALID_TRIPLE_FAULT,
  KVM_X86_DEFAULT_VM,
  MAX_IO_MSRS,
  PAGE_SIZE,
} from "./uapi/kvm.js";
import {
  decodeKvmDebugregs,
  decodeKvmEnableCap,
  decodeKvmFpu,
  decodeKvmGuestDebug,
  decodeKvmIrqchip,
  decodeKvmIrqLevel,
  decodeKvmMpState,
  decodeKvmPitConfig,
  decodeKvmPitState2,
  decodeKvmRegs,
  decodeKvmSregs,
  decodeKvmVcpuEvents,
  encodeKvmDebugregs,
  encodeKvmFpu,
  encodeKvmIrqchip,
  encodeKvmMpState,
  encodeKvmMsrList,
  encodeKvmPitState2,
  encodeKvmRegs,
  encodeKvmSregs,
  encodeKvmVcpuEvents,
  KVM_DEBUGREGS_SIZE,
  KVM_ENABLE_CAP_SIZE,
  KVM_FPU_SIZE,
  KVM_GUEST_DEBUG_SIZE,
  KVM_INTERRUPT_SIZE,
  KVM_IRQ_LEVEL_SIZE,
  KVM_IRQCHIP_SIZE,
  KVM_LAPIC_STATE_SIZE,
  KVM_MP_STATE_SIZE,
  KVM_MSR_ENTRY_SIZE,
  KVM_MSR_LIST_HEADER_SIZE,
  KVM_MSRS_HEADER_SIZE,
  KVM_PIT_CONFIG_SIZE,
  KVM_PIT_STATE2_SIZE,
  KVM_REGS_SIZE,
  KVM_SREGS_SIZE,
  KVM_VCPU_EVENTS_SIZE,
  type KvmFpu,
  type KvmPitConfig,
  type KvmRegs,
  type KvmSegment,
  type KvmSregs,
  type KvmVcpuEvents,
} from "./uapi/structs.js";
import { waitBell } from "./uapi/thread.js";

const X86_EFLAGS_FIXED = 0x2;
const X86_EFLAGS_TF = 0x100;
const X86_EFLAGS_IF = 0x200;
const X86_CR0_PE = 1 << 0;
const X86_CR0_ET = 1 << 4;
const X86_CR0_NW = 1 << 29;
const X86_CR0_CD = 1 << 30;
const X86_CR0_PG = 2 ** 31;
const X86_CR4_PAE = 1 << 5;
/** CR4 bits the model lets a guest set (everything through PKS, minus reserved bits). */
const CR4_RESERVED_BITS = ~0x01ff_ffff;
const DB_VECTOR = 1;
const NMI_VECTOR = 2;
const BP_VECTOR = 3;
const UD_VECTOR = 6;
const DF_VECTOR = 8;
const GP_VECTOR = 13;
const PF_VECTOR = 14;
/** DR6 bits: single-step, and the bits that read as 1. */
const DR6_BS = 1n << 14n;
const DR6_ACTIVE_LOW = 0xffff_0ff0n;
/** The host's TSC frequency in the model (kHz): a 2 GHz part. */
export const HOST_TSC_KHZ = 2_000_000;
/** IA32_MTRRCAP: fixed ranges + write-combining + 8 variable ranges (KVM_NR_VAR_MTRR). */
const MTRR_CAP = 0x508n;
/** What KVM reports in IA32_UCODE_REV before userspace sets it. */
const MICROCODE_VERSION = 0x1_0000_0000n;

const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);

// ───────────────────────────── register access ─────────────────────────────

/** kvm_register_read: a GPR or RIP, fetched from the hardware on first use after an exit. */
export function kvmRegisterRead(vcpu: KvmVcpu, reg: number): bigint {
  if ((vcpu.arch.regsAvail & (1 << reg)) === 0) {
    vcpu.kvm.ops.cacheReg(vcpu, reg);
    vcpu.arch.regsAvail |= 1 << reg;
  }
  return vcpu.arch.regs[reg]!;
}

/** kvm_register_write: updates the cache and marks it dirty for the next entry. */
export function kvmRegisterWrite(vcpu: KvmVcpu, reg: number, value: bigint): void {
  vcpu.arch.regs[reg] = u64(value);
  vcpu.arch.regsAvail |= 1 << reg;
  vcpu.arch.regsDirty |= 1 << reg;
}

export const kvmRipRead = (vcpu: KvmVcpu): bigint => kvmRegisterRead(vcpu, VCPU_REGS_RIP);
export const kvmRipWrite = (vcpu: KvmVcpu, v: bigint): void =>
  kvmRegisterWrite(vcpu, VCPU_REGS_RIP, v);
export const kvmRaxRead = (vcpu: KvmVcpu): bigint => kvmRegisterRead(vcpu, VCPU_REGS_RAX);
export const kvmRaxWrite = (vcpu: KvmVcpu, v: bigint): void =>
  kvmRegisterWrite(vcpu, VCPU_REGS_RAX, v);

/** is_64_bit_mode: EFER.LMA and CS.L. */
export function isLongMode(vcpu: KvmVcpu): boolean {
  return (vcpu.arch.efer & EFER_LMA) !== 0;
}

export function is64BitMode(vcpu: KvmVcpu): boolean {
  return isLongMode(vcpu) && vcpu.kvm.ops.getCsDbLBits(vcpu).l === 1;
}

/** kvm_get_linear_rip: CS.base + RIP, truncated to 32 bits outside 64-bit mode. */
export function kvmGetLinearRip(vcpu: KvmVcpu): bigint {
  const rip = kvmRipRead(vcpu);
  if (is64BitMode(vcpu)) return rip;
  const base =
    vcpu.kvm.ops.getSegmentBase?.(vcpu, VCPU_SREG_CS) ??
    vcpu.kvm.ops.getSegment(vcpu, VCPU_SREG_CS).base;
  return BigInt.asUintN(32, base + rip);
}

/** kvm_get_rflags: the guest's RFLAGS without the TF that single-stepping put there. */
export function kvmGetRflags(vcpu: KvmVcpu): number {
  let rflags = vcpu.kvm.ops.getRflags(vcpu);
  if ((vcpu.guestDebug & KVM_GUESTDBG_SINGLESTEP) !== 0) rflags &= ~X86_EFLAGS_TF;
  return rflags >>> 0;
}

/** __kvm_set_rflags + KVM_REQ_EVENT: re-adds TF while single-stepping at the same RIP. */
export function kvmSetRflags(vcpu: KvmVcpu, rflags: number): void {
  if (
    (vcpu.guestDebug & KVM_GUESTDBG_SINGLESTEP) !== 0 &&
    kvmGetLinearRip(vcpu) === vcpu.arch.singlestepRip
  ) {
    rflags |= X86_EFLAGS_TF;
  }
  vcpu.kvm.ops.setRflags(vcpu, rflags >>> 0);
  kvmMakeRequest(vcpu, KVM_REQ_EVENT);
}

/**
 * kvm_make_request + kvm_vcpu_kick: set request bits atomically (any thread may, through a
 * remote stub) and wake the vCPU if it sleeps.
 */
export function kvmMakeRequest(vcpu: KvmVcpu, req: number): void {
  Atomics.or(vcpu.shared.words, VCPU_SHARED_REQUESTS, req);
  kvmVcpuKick(vcpu);
}

/** kvm_check_request: the owner tests, then clears atomically (a sender may set others). */
function kvmCheckRequest(vcpu: KvmVcpu, req: number): boolean {
  const words = vcpu.shared.words;
  if ((words[VCPU_SHARED_REQUESTS]! & req) === 0) return false;
  Atomics.and(words, VCPU_SHARED_REQUESTS, ~req);
  return true;
}

/** kvm_clear_request. */
function kvmClearRequest(vcpu: KvmVcpu, req: number): void {
  Atomics.and(vcpu.shared.words, VCPU_SHARED_REQUESTS, ~req);
}

export const kvmReadCr0 = (vcpu: KvmVcpu): number => vcpu.arch.cr0;
export const kvmReadCr4 = (vcpu: KvmVcpu): number => vcpu.arch.cr4;
export const kvmReadCr3 = (vcpu: KvmVcpu): bigint => vcpu.arch.cr3;

/** kvm_get_cr8: the LAPIC's TPR[7:4], or without one the TPR userspace and the guest share. */
export const kvmGetCr8 = (vcpu: KvmVcpu): number =>
  vcpu.arch.apic ? kvmLapicGetCr8(vcpu) : vcpu.arch.cr8;

/** kvm_set_cr8: 1 when reserved bits are set. With an in-kernel LAPIC it is the TPR. */
export function kvmSetCr8(vcpu: KvmVcpu, cr8: number | bigint): number {
  const v = BigInt(cr8);
  if ((v & ~0xfn) !== 0n) return 1;
  if (vcpu.arch.apic) kvmLapicSetTpr(vcpu, Number(v));
  else vcpu.arch.cr8 = Number(v);
  return 0;
}

/** kvm_is_valid_cr0 (the architectural part, then the vendor's). */
function kvmIsValidCr0(vcpu: KvmVcpu, cr0: number): boolean {
  if (cr0 > 0xffff_ffff) return false;
  if ((cr0 & X86_CR0_NW) !== 0 && (cr0 & X86_CR0_CD) === 0) return false;
  if (cr0 >= X86_CR0_PG && (cr0 & X86_CR0_PE) === 0) return false;
  return vcpu.kvm.ops.isValidCr0?.(vcpu, cr0) ?? true;
}

/** kvm_is_valid_cr4. */
function kvmIsValidCr4(vcpu: KvmVcpu, cr4: number): boolean {
  if (cr4 > 0xffff_ffff || (cr4 & CR4_RESERVED_BITS) !== 0) return false;
  return vcpu.kvm.ops.isValidCr4?.(vcpu, cr4) ?? true;
}

// ───────────────────────────── guest writes to control registers ─────────────────────────────

const X86_CR4_PCIDE = 1 << 17;
const X86_CR4_LA57 = 1 << 12;

function traceCr(vcpu: KvmVcpu, rw: number, cr: number, val: number | bigint): void {
  const tp = vcpu.kvm.kernel.trace.kvm_cr;
  if (tp.enabled) tp.emit({ vcpu_id: vcpu.vcpuId, rw, cr, val: BigInt(val) });
}

/** CR0 and CR4 bits whose change makes PAE paging reload its PDPTEs (X86_CR*_PDPTR_BITS). */
const X86_CR0_PDPTR_BITS = (1 << 30) | (1 << 29) | 0x8000_0000; // CD NW PG
const X86_CR4_PDPTR_BITS = (1 << 7) | (1 << 4) | (1 << 5) | (1 << 20); // PGE PSE PAE SMEP

/**
 * load_pdptrs: PAE paging's four page-directory-pointer entries at CR3 (32-byte aligned),
 * read from guest memory and checked — a present entry with a reserved bit set (bits 2:1,
 * 8:5, or at and above MAXPHYADDR) makes the CR write that needed them #GP, as on hardware.
 * False when one is invalid or the table is not in guest memory.
 */
export function loadPdptrs(vcpu: KvmVcpu, cr3: bigint): boolean {
  const gpa = Number(cr3 & 0xffff_ffe0n);
  const buf = new Uint8Array(32);
  if (kvmReadGuest(vcpu.kvm, gpa, buf) < 0) return false;
  const dv = new DataView(buf.buffer);
  const rsvdHigh = ~0n << BigInt(vcpu.arch.maxphyaddr);
  for (let i = 0; i < 4; i++) {
    const e = dv.getBigUint64(8 * i, true);
    if ((e & 1n) === 0n) continue;
    if ((e & 0x1e6n) !== 0n || (e & BigInt.asUintN(64, rsvdHigh)) !== 0n) return false;
  }
  return true;
}

/** PAE paging outside long mode: CR0.PG, CR4.PAE, not EFER.LMA. */
function isPaePagingWith(vcpu: KvmVcpu, cr0: number, cr4: number): boolean {
  return cr0 >= X86_CR0_PG && (cr4 & X86_CR4_PAE) !== 0 && !isLongMode(vcpu);
}

/**
 * kvm_set_cr0 (a guest MOV to CR0 the vendor intercepted): 1 when the value is refused
 * (#GP for the guest), else the vendor's set_cr0 and an MMU reload when paging changed.
 */
export function kvmSetCr0(vcpu: KvmVcpu, value: number): number {
  const old = vcpu.arch.cr0;
  traceCr(vcpu, 1, 0, value);
  if (!kvmIsValidCr0(vcpu, value)) return 1;
  // ET is hardwired to 1; writes to the other reserved bits are ignored.
  let cr0 = (value | X86_CR0_ET) >>> 0;
  cr0 = (cr0 & 0xe005_003f) >>> 0;
  const pg = cr0 >= X86_CR0_PG;
  const oldPg = old >= X86_CR0_PG;
  if (pg && !oldPg && (vcpu.arch.efer & EFER_LME) !== 0) {
    if ((vcpu.arch.cr4 & X86_CR4_PAE) === 0) return 1;
    if (vcpu.kvm.ops.getCsDbLBits(vcpu).l) return 1;
  }
  if (!pg && (is64BitMode(vcpu) || (vcpu.arch.cr4 & X86_CR4_PCIDE) !== 0)) return 1;
  if (
    (vcpu.arch.efer & EFER_LME) === 0 &&
    isPaePagingWith(vcpu, cr0, vcpu.arch.cr4) &&
    ((cr0 ^ old) & X86_CR0_PDPTR_BITS) !== 0 &&
    !loadPdptrs(vcpu, vcpu.arch.cr3)
  ) {
    return 1;
  }
  vcpu.kvm.ops.setCr0(vcpu, cr0);
  vcpu.arch.cr0 = cr0;
  if (pg !== oldPg || ((old ^ cr0) & 1) !== 0)
    kvmMakeRequest(vcpu, KVM_REQ_MMU_RELOAD | KVM_REQ_TLB_FLUSH);
  return 0;
}

/** kvm_set_cr4: 1 when refused (reserved bits, PAE off in long mode, LA57 toggled, PCIDE rules). */
export function kvmSetCr4(vcpu: KvmVcpu, cr4: number): number {
  const old = vcpu.arch.cr4;
  traceCr(vcpu, 1, 4, cr4);
  if (!kvmIsValidCr4(vcpu, cr4)) return 1;
  if (isLongMode(vcpu)) {
    if ((cr4 & X86_CR4_PAE) === 0) return 1;
    if (((cr4 ^ old) & X86_CR4_LA57) !== 0) return 1;
  } else if (
    isPaePagingWith(vcpu, vcpu.arch.cr0, cr4) &&
    ((cr4 ^ old) & X86_CR4_PDPTR_BITS) !== 0 &&
    !loadPdptrs(vcpu, vcpu.arch.cr3)
  ) {
    return 1;
  }
  if ((cr4 & X86_CR4_PCIDE) !== 0 && (old & X86_CR4_PCIDE) === 0) {
    if ((vcpu.arch.cr3 & 0xfffn) !== 0n || !isLongMode(vcpu)) return 1;
  }
  vcpu.kvm.ops.setCr4(vcpu, cr4 >>> 0);
  vcpu.arch.cr4 = cr4 >>> 0;
  if (((old ^ cr4) & 0x0002_00b0) !== 0)
    kvmMakeRequest(vcpu, KVM_REQ_MMU_RELOAD | KVM_REQ_TLB_FLUSH);
  return 0;
}

/** kvm_set_cr3: 1 when bits above MAXPHYADDR are set; else a new root for the MMU. */
export function kvmSetCr3(vcpu: KvmVcpu, cr3: bigint): number {
  traceCr(vcpu, 1, 3, cr3);
  // Bit 63 is PCID's no-flush hint in long mode, not part of the address.
  const noflush = isLongMode(vcpu) && (vcpu.arch.cr4 & X86_CR4_PCIDE) !== 0 && cr3 >> 63n === 1n;
  const v = noflush ? cr3 & ~(1n << 63n) : cr3;
  if (v >> BigInt(vcpu.arch.maxphyaddr) !== 0n) return 1;
  if (isPaePagingWith(vcpu, vcpu.arch.cr0, vcpu.arch.cr4) && !loadPdptrs(vcpu, v)) return 1;
  vcpu.arch.cr3 = v;
  vcpu.kvm.ops.postSetCr3?.(vcpu, v);
  kvmMakeRequest(vcpu, noflush ? KVM_REQ_MMU_RELOAD : KVM_REQ_MMU_RELOAD | KVM_REQ_TLB_FLUSH);
  return 0;
}

/** kvm_set_cr8 from a guest MOV to CR8: 1 when bits above 3 are set. */
export function kvmSetCr8Guest(vcpu: KvmVcpu, cr8: bigint): number {
  traceCr(vcpu, 1, 8, cr8);
  return kvmSetCr8(vcpu, cr8);
}

// ───────────────────────────── /dev/kvm (arch part) ─────────────────────────────

/** kvm_arch_dev_ioctl. Unknown requests on the system fd are -EINVAL, as Linux answers. */
export function kvmArchDevIoctl(g: KvmGlobal, file: File, request: number, arg: IoctlArg): number {
  const proc = file.owner;
  switch (request) {
    case KVM_GET_MSR_INDEX_LIST:
      return msrListToUser(proc, arg, kvmMsrsToSave(g));
    case KVM_GET_MSR_FEATURE_INDEX_LIST:
      return msrListToUser(proc, arg, kvmFeatureMsrs(g));
    case KVM_GET_SUPPORTED_CPUID:
      return kvmDevIoctlGetCpuid(proc, arg, kvmSupportedCpuid(g));
    case KVM_GET_EMULATED_CPUID:
      // The model emulates no instruction the silicon lacks: an empty table.
      return kvmDevIoctlGetCpuid(proc, arg, []);
    case KVM_GET_MSRS:
      return msrIo(proc, arg, (msr) => doGetMsrFeature(g, msr), false);
    default:
      return -EINVAL;
  }
}

/** The MSR index list: msrs_to_save the vendor supports, then emulated_msrs. */
export function kvmMsrsToSave(g: KvmGlobal): number[] {
  const ops = g.vendor.initOps.runtimeOps;
  const keep = (i: number): boolean => ops.hasEmulatedMsr?.(null, i) ?? true;
  return [...MSRS_TO_SAVE_BASE.filter(keep), ...EMULATED_MSRS_ALL.filter(keep)];
}

function kvmFeatureMsrs(g: KvmGlobal): number[] {
  const ops = g.vendor.initOps.runtimeOps;
  const vmxCaps: number[] = [];
  for (let i = 0x480; i <= 0x491; i++) {
    const msr: MsrData = { hostInitiated: true, index: i, data: 0n };
    if (ops.getMsrFeature && ops.getMsrFeature(msr) === 0) vmxCaps.push(i);
  }
  return [...MSR_BASED_FEATURES, ...vmxCaps];
}

/** kvm_get_msr_feature. */
function doGetMsrFeature(g: KvmGlobal, msr: MsrData): number {
  switch (msr.index) {
    case MSR_IA32_ARCH_CAPABILITIES:
      msr.data = 0n;
      return 0;
    case MSR_IA32_UCODE_REV:
      msr.data = MICROCODE_VERSION;
      return 0;
    default:
      return g.vendor.initOps.runtimeOps.getMsrFeature?.(msr) ?? 1;
  }
}

/**
 * KVM_GET_MSR_INDEX_LIST: nmsrs is written back even when the array is too small (then
 * -E2BIG), so userspace learns the size.
 */
function msrListToUser(proc: File["owner"], arg: IoctlArg, list: readonly number[]): number {
  const hdr = proc.userArg(arg, KVM_MSR_LIST_HEADER_SIZE);
  if (typeof hdr === "number") return hdr;
  const view = new DataView(hdr.buffer, hdr.byteOffset, KVM_MSR_LIST_HEADER_SIZE);
  const n = view.getUint32(0, true);
  view.setUint32(0, list.length, true);
  if (n < list.length) return -E2BIG;
  const out = proc.userArg(arg, KVM_MSR_LIST_HEADER_SIZE + 4 * list.length);
  if (typeof out === "number") return out;
  encodeKvmMsrList(list.length, list, out);
  return 0;
}

/**
 * msr_io (KVM_GET_MSRS / KVM_SET_MSRS): every entry in order, stopping at the first the
 * MSR code refuses. Returns the number processed; E2BIG when nmsrs ≥ MAX_IO_MSRS.
 */
function msrIo(
  proc: File["owner"],
  arg: IoctlArg,
  fn: (msr: MsrData) => number,
  isSet: boolean,
): number {
  const hdr = copyFromUser(proc, arg, KVM_MSRS_HEADER_SIZE);
  if (typeof hdr === "number") return hdr;
  const n = new DataView(hdr.buffer).getUint32(0, true);
  if (n >= MAX_IO_MSRS) return -E2BIG;
  const total = KVM_MSRS_HEADER_SIZE + n * KVM_MSR_ENTRY_SIZE;
  const user = proc.userArg(arg, total);
  if (typeof user === "number") return user;
  const entries = user.slice(0, total);
  const dv = new DataView(entries.buffer);
  let i = 0;
  for (; i < n; i++) {
    const off = KVM_MSRS_HEADER_SIZE + i * KVM_MSR_ENTRY_SIZE;
    const msr: MsrData = {
      hostInitiated: true,
      index: dv.getUint32(off, true),
      data: dv.getBigUint64(off + 8, true),
    };
    if (fn(msr) !== 0) break;
    dv.setBigUint64(off + 8, u64(msr.data), true);
  }
  // KVM_GET_MSRS writes the data back; KVM_SET_MSRS leaves user memory alone.
  if (!isSet) user.set(entries);
  return i;
}

// ───────────────────────────── VM ioctls (arch part) ─────────────────────────────

/** kvm_vm_ioctl_check_extension (x86): what this kernel model implements. */
export function kvmVmIoctlCheckExtension(g: KvmGlobal, _kvm: Kvm | null, cap: number): number {
  switch (cap) {
    case KVM_CAP_HLT:
    case KVM_CAP_SET_TSS_ADDR:
    case KVM_CAP_EXT_CPUID:
    case KVM_CAP_NOP_IO_DELAY:
    case KVM_CAP_MP_STATE:
    case KVM_CAP_SYNC_MMU:
    case KVM_CAP_USER_NMI:
    case KVM_CAP_SET_GUEST_DEBUG:
    case KVM_CAP_SET_IDENTITY_MAP_ADDR:
    case KVM_CAP_VCPU_EVENTS:
    case KVM_CAP_INTR_SHADOW:
    case KVM_CAP_DEBUGREGS:
    case KVM_CAP_READONLY_MEM:
    case KVM_CAP_IMMEDIATE_EXIT:
    case KVM_CAP_GET_MSR_FEATURES:
    case KVM_CAP_SET_BOOT_CPU_ID:
    case KVM_CAP_EXCEPTION_PAYLOAD:
    case KVM_CAP_X86_TRIPLE_FAULT_EVENT:
    case KVM_CAP_LAST_CPU:
    case KVM_CAP_GET_TSC_KHZ:
      return 1;
    case KVM_CAP_NR_VCPUS:
      return Math.min(g.kernel.nrCpus, KVM_SOFT_MAX_VCPUS);
    case KVM_CAP_MAX_VCPUS:
      return KVM_MAX_VCPUS;
    case KVM_CAP_SET_GUEST_DEBUG2:
      return KVM_GUESTDBG_VALID_MASK;
    case KVM_CAP_SYNC_REGS:
      return KVM_SYNC_X86_VALID_FIELDS;
    case KVM_CAP_VM_TYPES:
      return 1 << KVM_X86_DEFAULT_VM;
    // The in-kernel irqchip, its LAPIC timer and KVM_IRQ_LINE_STATUS (CONFIG_KVM_IOAPIC).
    case KVM_CAP_IRQCHIP:
    case KVM_CAP_TSC_DEADLINE_TIMER:
    case KVM_CAP_IRQ_INJECT_STATUS:
    case KVM_CAP_PIT2:
    case KVM_CAP_PIT_STATE2:
      return g.kernel.config.CONFIG_KVM_IOAPIC ? 1 : 0;
    default:
      return 0;
  }
}

/** kvm_arch_vm_ioctl. Unknown requests on a VM fd are -ENOTTY. */
export function kvmArchVmIoctl(kvm: Kvm, request: number, arg: IoctlArg): number {
  switch (request) {
    case KVM_SET_TSS_ADDR: {
      const addr = typeof arg === "number" || typeof arg === "bigint" ? Number(arg) : Number.NaN;
      if (!(addr >= 0 && addr <= 0xffff_d000)) return -EINVAL;
      const r = kvm.ops.setTssAddr?.(kvm, addr) ?? 0;
      if (r === 0) {
        kvm.arch.tssAddr = addr;
      }
      return r;
    }
    case KVM_SET_IDENTITY_MAP_ADDR: {
      if (kvm.createdVcpus > 0) return -EINVAL;
      const b = copyFromUser(kvm.mm, arg, 8);
      if (typeof b === "number") return -EFAULT;
      const addr = new DataView(b.buffer).getBigUint64(0, true);
      const r = kvm.ops.setIdentityMapAddr?.(kvm, addr) ?? 0;
      if (r === 0) {
        kvm.arch.identityMapAddr = addr;
      }
      return r;
    }
    case KVM_SET_BOOT_CPU_ID: {
      const id = typeof arg === "number" || typeof arg === "bigint" ? Number(arg) : Number.NaN;
      if (kvm.createdVcpus > 0) return -EBUSY;
      if (!(id >= 0 && id <= KVM_MAX_VCPU_IDS)) return -EINVAL;
      kvm.arch.bspVcpuId = id;
      return 0;
    }
    case KVM_ENABLE_CAP: {
      const b = copyFromUser(kvm.mm, arg, KVM_ENABLE_CAP_SIZE);
      if (typeof b === "number") return b;
      const cap = decodeKvmEnableCap(b);
      if (cap.flags !== 0) return -EINVAL;
      if (cap.cap === KVM_CAP_EXCEPTION_PAYLOAD) {
        kvm.arch.exceptionPayloadEnabled = cap.args[0] !== 0n;
        return 0;
      }
      if (cap.cap === KVM_CAP_X86_TRIPLE_FAULT_EVENT) {
        kvm.arch.tripleFaultEvent = cap.args[0] !== 0n;
        return 0;
      }
      return -EINVAL;
    }
    case KVM_CREATE_IRQCHIP:
      if (!kvm.kernel.config.CONFIG_KVM_IOAPIC) return -ENOTTY;
      return kvmVmIoctlCreateIrqchip(kvm);
    case KVM_IRQ_LINE:
    case KVM_IRQ_LINE_STATUS: {
      const b = copyFromUser(kvm.mm, arg, KVM_IRQ_LEVEL_SIZE);
      if (typeof b === "number") return b;
      if (kvm.arch.irqchipMode !== KVM_IRQCHIP_KERNEL) return -ENXIO;
      const ev = decodeKvmIrqLevel(b);
      const status = kvmSetIrq(
        kvm,
        KVM_USERSPACE_IRQ_SOURCE_ID,
        ev.irq,
        ev.level,
        request === KVM_IRQ_LINE_STATUS,
      );
      if (request === KVM_IRQ_LINE_STATUS) {
        new DataView(b.buffer).setInt32(0, status, true);
        return copyToUser(kvm.mm, arg, b);
      }
      return 0;
    }
    case KVM_GET_IRQCHIP:
    case KVM_SET_IRQCHIP: {
      const b = copyFromUser(kvm.mm, arg, KVM_IRQCHIP_SIZE);
      if (typeof b === "number") return b;
      if (kvm.arch.irqchipMode !== KVM_IRQCHIP_KERNEL) return -ENXIO;
      const chip = decodeKvmIrqchip(b);
      if (request === KVM_GET_IRQCHIP) {
        const r = kvmVmIoctlGetIrqchip(kvm, chip.chipId);
        if (typeof r === "number") return r;
        return copyToUser(kvm.mm, arg, r);
      }
      return kvmVmIoctlSetIrqchip(kvm, chip);
    }
    case KVM_CREATE_PIT2: {
      if (!kvm.kernel.config.CONFIG_KVM_IOAPIC) return -ENOTTY;
      const b = copyFromUser(kvm.mm, arg, KVM_PIT_CONFIG_SIZE);
      if (typeof b === "number") return b;
      return kvmVmIoctlCreatePit2(kvm, decodeKvmPitConfig(b));
    }
    case KVM_GET_PIT2: {
      const pit = kvm.arch.vpit;
      if (!pit) return -ENXIO;
      return copyToUser(kvm.mm, arg, kvmVmIoctlGetPit2(pit));
    }
    case KVM_SET_PIT2: {
      const b = copyFromUser(kvm.mm, arg, KVM_PIT_STATE2_SIZE);
      if (typeof b === "number") return b;
      const pit = kvm.arch.vpit;
      if (!pit) return -ENXIO;
      const s = decodeKvmPitState2(b);
      pit.setState2({
        flags: s.flags,
        channels: s.channels.map((c) => ({ ...c, countLoadTime: Number(c.countLoadTime) })),
      });
      return 0;
    }
    default:
      return -ENOTTY;
  }
}

/**
 * kvm_io_bus on KVM_PIO_BUS: the in-kernel device whose range holds `port` — the PICs and
 * ELCRs (0x20/0x21, 0xA0/0xA1, 0x4D0/0x4D1), the PIT (0x40–0x43) and its speaker port
 * (0x61, unless KVM_PIT_SPEAKER_DUMMY) — or undefined: the access goes to userspace.
 */
const pioBusDevice = (kvm: Kvm, port: number, isIn: boolean): KvmPioDevice | undefined =>
  kvm.arch.pioBus.find((d) => d.inRange(port) && !(isIn && d.writeOnly));

/** A shard's stand-in on its PIO bus for devices of the home: each access is a call there. */
function homePioDevice(home: KvmHome, inRange: (port: number) => boolean): KvmPioDevice {
  return {
    inRange,
    read: (port, len) => home.pio(port, len, false, 0),
    write: (port, len, v) => {
      home.pio(port, len, true, v);
    },
  };
}

/** The irq_source_id the PIT drives GSI 0 with (kvm_request_irq_source_id's first free). */
const KVM_PIT_IRQ_SOURCE_ID = 2;

/**
 * KVM_CREATE_PIT2 (kvm_create_pit): the PIT on the PIO bus, its channel 0 pulsing GSI 0 as
 * its own IRQ source, re-injecting missed ticks on GSI 0's acknowledgements; its timer is
 * one of the VM's polled timers. -EEXIST the second time, -ENOENT without the in-kernel
 * PIC.
 */
function kvmVmIoctlCreatePit2(kvm: Kvm, config: KvmPitConfig): number {
  const home = kvm.home;
  if (home) {
    // A vCPU thread's shard: the PIT is the home's; its ports are calls there.
    kvm.arch.pioBus.push(homePioDevice(home, (p) => kvmPitClaims(config.flags, p)));
    return 0;
  }
  if (kvm.arch.vpit) return -EEXIST;
  if (!kvm.arch.vpic) return -ENOENT;
  const clock = kvm.kernel.clock;
  const pit = new KvmPit(
    {
      now: () => Number(clock.now()),
      setIrq0: (level) => {
        kvmSetIrq(kvm, KVM_PIT_IRQ_SOURCE_ID, 0, level, false);
      },
    },
    config.flags,
  );
  kvm.arch.vpit = pit;
  // The PIT's ports are byte-wide: a wider access moves its low byte (pit_ioport_*).
  kvm.arch.pioBus.push({
    inRange: (port) => pit.claims(port),
    read: (port) => pit.read(port),
    write: (port, _len, v) => pit.write(port, v),
  });
  kvmRegisterIrqAckNotifier(kvm, { gsi: 0, irqAcked: () => pit.ackIrq() });
  kvm.arch.timerSources.push({
    expire: () => {
      pit.expire();
    },
    nextExpiry: () => {
      const at = pit.nextExpiry();
      return at < 0 ? null : BigInt(Math.ceil(at));
    },
  });
  return 0;
}

/** KVM_GET_PIT2: the channels and flags (count_load_time on the kernel's clock). */
function kvmVmIoctlGetPit2(pit: KvmPit): Uint8Array {
  const s = pit.getState2();
  return encodeKvmPitState2({
    flags: s.flags,
    channels: s.channels.map((c) => ({ ...c, countLoadTime: BigInt(Math.trunc(c.countLoadTime)) })),
  });
}

/**
 * KVM_CREATE_IRQCHIP: the PIC pair and the I/O APIC, the default GSI routing; vCPUs
 * created from now on get a local APIC. -EEXIST the second time, -EINVAL once a vCPU
 * exists.
 */
function kvmVmIoctlCreateIrqchip(kvm: Kvm): number {
  if (kvm.arch.irqchipMode === KVM_IRQCHIP_KERNEL) return -EEXIST;
  if (kvm.createdVcpus > 0) return -EINVAL;
  const home = kvm.home;
  if (home) {
    // A vCPU thread's shard: local APICs here, the PICs and the I/O APIC at the home.
    kvm.arch.pioBus.push(homePioDevice(home, picdevInRange));
    kvm.arch.irqRouting = kvmDefaultIrqRouting();
    kvm.arch.irqchipMode = KVM_IRQCHIP_KERNEL;
    return 0;
  }
  const pic = new KvmPic(kvm);
  kvm.arch.vpic = pic;
  kvm.arch.pioBus.push({
    inRange: picdevInRange,
    read: (port, len) => picdevRead(pic, port, len),
    write: (port, len, v) => picdevWrite(pic, port, len, v),
  });
  kvm.arch.vioapic = new KvmIoapic(kvm);
  kvm.arch.irqRouting = kvmDefaultIrqRouting();
  kvm.arch.irqchipMode = KVM_IRQCHIP_KERNEL;
  return 0;
}

/** kvm_vm_ioctl_get_irqchip: struct kvm_irqchip with the selected chip's state. */
function kvmVmIoctlGetIrqchip(kvm: Kvm, chipId: number): Uint8Array | number {
  switch (chipId) {
    case KVM_IRQCHIP_PIC_MASTER:
    case KVM_IRQCHIP_PIC_SLAVE:
      return encodeKvmIrqchip({ chipId, pic: kvmGetPicState(kvm.arch.vpic!, chipId) });
    case KVM_IRQCHIP_IOAPIC:
      return encodeKvmIrqchip({ chipId, ioapic: kvmGetIoapic(kvm.arch.vioapic!) });
    default:
      return -EINVAL;
  }
}

/** kvm_vm_ioctl_set_irqchip. */
function kvmVmIoctlSetIrqchip(kvm: Kvm, chip: ReturnType<typeof decodeKvmIrqchip>): number {
  if (chip.pic) kvmSetPicState(kvm.arch.vpic!, chip.chipId, chip.pic);
  else if (chip.ioapic) kvmSetIoapic(kvm.arch.vioapic!, chip.ioapic);
  else return -EINVAL;
  return 0;
}

// ───────────────────────────── vCPU lifecycle ─────────────────────────────

export const kvmVcpuIsBsp = (vcpu: KvmVcpu): boolean => vcpu.vcpuId === vcpu.kvm.arch.bspVcpuId;

/** kvm_arch_vcpu_create: KVM's state, the vendor's vcpu_create, then a cold reset. */
export function kvmArchVcpuCreate(vcpu: KvmVcpu): number {
  // With an in-kernel irqchip an AP waits for INIT and SIPI (UNINITIALIZED).
  vcpu.arch.mpState =
    vcpu.kvm.arch.irqchipMode !== KVM_IRQCHIP_KERNEL || kvmVcpuIsBsp(vcpu)
      ? KVM_MP_STATE_RUNNABLE
      : KVM_MP_STATE_UNINITIALIZED;
  if (vcpu.kvm.arch.irqchipMode === KVM_IRQCHIP_KERNEL) kvmCreateLapic(vcpu);
  vcpu.arch.apicBase =
    APIC_DEFAULT_PHYS_BASE |
    MSR_IA32_APICBASE_ENABLE |
    (kvmVcpuIsBsp(vcpu) ? MSR_IA32_APICBASE_BSP : 0);
  vcpu.arch.apicBase >>>= 0;
  const r = vcpu.kvm.ops.vcpuCreate(vcpu);
  if (r < 0) return r;
  kvmVcpuReset(vcpu, false);
  return 0;
}

export function kvmArchVcpuDestroy(vcpu: KvmVcpu): void {
  // A remote stub has no vendor state here; its owner's thread frees the vCPU.
  if (vcpu.remote) return;
  vcpu.kvm.ops.vcpuFree(vcpu);
}

/** fpstate_init: FCW 0x37f, MXCSR 0x1f80, every tag empty. */
function fpstateInit(fx: Uint8Array): void {
  fx.fill(0);
  const dv = new DataView(fx.buffer, fx.byteOffset, fx.length);
  dv.setUint16(0, 0x37f, true);
  dv.setUint32(24, 0x1f80, true);
  dv.setUint32(28, 0xffff, true);
}

/** kvm_vcpu_reset: the architectural RESET (or INIT) state, the vendor's part first. */
export function kvmVcpuReset(vcpu: KvmVcpu, initEvent: boolean): void {
  const a = vcpu.arch;
  const ops = vcpu.kvm.ops;
  const oldCr0 = a.cr0;
  a.exception.pending = false;
  a.exception.injected = false;
  a.interrupt.injected = false;
  a.nmiInjected = false;
  Atomics.store(vcpu.shared.words, VCPU_SHARED_NMI_QUEUED, 0);
  a.nmiPending = 0;
  kvmClearRequest(vcpu, KVM_REQ_TRIPLE_FAULT);
  a.db.fill(0n);
  a.dr6 = DR6_ACTIVE_LOW;
  a.dr7 = 0x400n;
  a.cr2 = 0n;
  if (!initEvent) {
    fpstateInit(a.guestFpu);
    a.guestFpuDirty = true;
    a.smbase = 0x3_0000;
    a.pat = 0x0007_0406_0007_0406n;
    a.miscEnable = 0n;
  }
  a.regs.fill(0n);
  a.regsAvail = (1 << NR_VCPU_REGS) - 1;
  a.regsDirty = (1 << NR_VCPU_REGS) - 1;
  // RDX holds the CPU signature (CPUID.1:EAX) after RESET; 0x600 without a CPUID table.
  const sig = a.cpuidEntries.find((e) => e.function === 1);
  a.regs[VCPU_REGS_RDX] = BigInt(sig ? sig.eax >>> 0 : 0x600);
  kvmLapicReset(vcpu, initEvent);
  ops.vcpuReset(vcpu, initEvent);
  kvmSetRflags(vcpu, X86_EFLAGS_FIXED);
  kvmRipWrite(vcpu, 0xfff0n);
  a.cr3 = 0n;
  let cr0 = X86_CR0_ET;
  cr0 |= initEvent ? oldCr0 & (X86_CR0_NW | X86_CR0_CD) : X86_CR0_NW | X86_CR0_CD;
  ops.setCr0(vcpu, cr0 >>> 0);
  a.cr0 = cr0 >>> 0;
  ops.setCr4(vcpu, 0);
  a.cr4 = 0;
  ops.setEfer(vcpu, 0);
  a.efer = 0;
  ops.updateExceptionBitmap(vcpu);
  kvmMakeRequest(vcpu, KVM_REQ_MMU_RELOAD | KVM_REQ_TLB_FLUSH | KVM_REQ_EVENT);
}

// ───────────────────────────── vCPU ioctls (arch part) ─────────────────────────────

/** kvm_arch_vcpu_ioctl (plus the generic vCPU ioctls kvm_vcpu_ioctl handles itself). */
export function kvmArchVcpuIoctl(vcpu: KvmVcpu, request: number, arg: IoctlArg): number {
  const proc = vcpu.kvm.mm;
  const ops = vcpu.kvm.ops;
  vcpuLoad(vcpu);
  try {
    switch (request) {
      case KVM_GET_REGS:
        return copyToUser(proc, arg, encodeKvmRegs(getRegs(vcpu)));
      case KVM_SET_REGS: {
        const b = copyFromUser(proc, arg, KVM_REGS_SIZE);
        if (typeof b === "number") return b;
        setRegs(vcpu, decodeKvmRegs(b));
        return 0;
      }
      case KVM_GET_SREGS:
        return copyToUser(proc, arg, encodeKvmSregs(getSregs(vcpu)));
      case KVM_SET_SREGS: {
        const b = copyFromUser(proc, arg, KVM_SREGS_SIZE);
        if (typeof b === "number") return b;
        return setSregs(vcpu, decodeKvmSregs(b));
      }
      case KVM_GET_FPU:
        return copyToUser(proc, arg, encodeKvmFpu(getFpu(vcpu)));
      case KVM_SET_FPU: {
        const b = copyFromUser(proc, arg, KVM_FPU_SIZE);
        if (typeof b === "number") return b;
        setFpu(vcpu, decodeKvmFpu(b));
        return 0;
      }
      case KVM_GET_MP_STATE:
        // Latched INIT/SIPI are taken first, so userspace sees where they lead.
        if (vcpu.arch.apic) kvmApicAcceptEvents(vcpu);
        return copyToUser(proc, arg, encodeKvmMpState(vcpu.arch.mpState));
      case KVM_SET_MP_STATE: {
        const b = copyFromUser(proc, arg, KVM_MP_STATE_SIZE);
        if (typeof b === "number") return b;
        return kvmArchVcpuIoctlSetMpstate(vcpu, decodeKvmMpState(b));
      }
      case KVM_SET_GUEST_DEBUG: {
        const b = copyFromUser(proc, arg, KVM_GUEST_DEBUG_SIZE);
        if (typeof b === "number") return b;
        const dbg = decodeKvmGuestDebug(b);
        return setGuestDebug(vcpu, dbg.control, dbg.debugreg);
      }
      case KVM_SET_SIGNAL_MASK: {
        // A NULL pointer (0 or 0n) removes the mask, as `if (argp)` does in Linux.
        if (typeof arg !== "object" && Number(arg) === 0) {
          vcpu.sigsetMask = null;
          return 0;
        }
        const hdr = copyFromUser(proc, arg, 4);
        if (typeof hdr === "number") return hdr;
        const len = new DataView(hdr.buffer).getUint32(0, true);
        if (len !== 8) return -EINVAL;
        const all = copyFromUser(proc, arg, 12);
        if (typeof all === "number") return all;
        // Signal n is bit n-1 of the kernel sigset.
        const lo = new DataView(all.buffer).getUint32(4, true);
        vcpu.sigsetMask = (lo << 1) >>> 0;
        return 0;
      }
      case KVM_INTERRUPT: {
        const b = copyFromUser(proc, arg, KVM_INTERRUPT_SIZE);
        if (typeof b === "number") return b;
        const irq = new DataView(b.buffer).getUint32(0, true);
        if (irq >= KVM_NR_INTERRUPTS) return -EINVAL;
        // With the in-kernel PIC, external interrupts come from it, not from userspace.
        if (vcpu.kvm.arch.irqchipMode === KVM_IRQCHIP_KERNEL) return -ENXIO;
        // No in-kernel irqchip: the vector is queued for injection at the next entry.
        kvmQueueInterrupt(vcpu, irq, false);
        kvmMakeRequest(vcpu, KVM_REQ_EVENT);
        return 0;
      }
      case KVM_NMI:
        kvmInjectNmi(vcpu);
        return 0;
      case KVM_GET_MSRS:
        return msrIo(proc, arg, (msr) => kvmGetMsr(vcpu, msr), false);
      case KVM_SET_MSRS:
        return msrIo(proc, arg, (msr) => kvmSetMsr(vcpu, msr), true);
      case KVM_SET_CPUID2:
        return kvmVcpuIoctlSetCpuid2(vcpu, vcpu.arch.lastVmentryCpu !== -1, arg);
      case KVM_GET_CPUID2:
        return kvmVcpuIoctlGetCpuid2(vcpu, arg);
      case KVM_GET_VCPU_EVENTS:
        return copyToUser(proc, arg, encodeKvmVcpuEvents(getVcpuEvents(vcpu)));
      case KVM_SET_VCPU_EVENTS: {
        const b = copyFromUser(proc, arg, KVM_VCPU_EVENTS_SIZE);
        if (typeof b === "number") return b;
        return setVcpuEvents(vcpu, decodeKvmVcpuEvents(b));
      }
      case KVM_GET_DEBUGREGS:
        return copyToUser(
          proc,
          arg,
          encodeKvmDebugregs({
            db: [...vcpu.arch.db],
            dr6: vcpu.arch.dr6,
            dr7: vcpu.arch.dr7,
            flags: 0n,
          }),
        );
      case KVM_SET_DEBUGREGS: {
        const b = copyFromUser(proc, arg, KVM_DEBUGREGS_SIZE);
        if (typeof b === "number") return b;
        const d = decodeKvmDebugregs(b);
        if (d.flags !== 0n) return -EINVAL;
        if (d.dr6 >> 32n !== 0n || d.dr7 >> 32n !== 0n) return -EINVAL;
        d.db.forEach((v, i) => {
          vcpu.arch.db[i] = v;
        });
        vcpu.arch.dr6 = d.dr6;
        vcpu.arch.dr7 = d.dr7;
        ops.setDr7?.(vcpu, d.dr7);
        return 0;
      }
      case KVM_GET_TSC_KHZ:
        return HOST_TSC_KHZ;
      case KVM_GET_LAPIC:
        // Only with an in-kernel LAPIC.
        if (!vcpu.arch.apic) return -EINVAL;
        return copyToUser(proc, arg, kvmApicGetState(vcpu));
      case KVM_SET_LAPIC: {
        if (!vcpu.arch.apic) return -EINVAL;
        const b = copyFromUser(proc, arg, KVM_LAPIC_STATE_SIZE);
        if (typeof b === "number") return b;
        return kvmApicSetState(vcpu, b);
      }
      default:
        return -EINVAL;
    }
  } finally {
    vcpuPut(vcpu);
  }
}

/**
 * kvm_arch_vcpu_ioctl_set_mpstate: RUNNABLE always; the waiting states only with an
 * in-kernel LAPIC. SIPI_RECEIVED is stored as INIT_RECEIVED with a latched SIPI (the vector
 * from KVM_SET_VCPU_EVENTS); the wait-for-SIPI states are refused while an INIT is latched.
 */
export function kvmArchVcpuIoctlSetMpstate(vcpu: KvmVcpu, state: number): number {
  switch (state) {
    case KVM_MP_STATE_RUNNABLE:
      break;
    case KVM_MP_STATE_UNINITIALIZED:
    case KVM_MP_STATE_HALTED:
    case KVM_MP_STATE_AP_RESET_HOLD:
    case KVM_MP_STATE_INIT_RECEIVED:
    case KVM_MP_STATE_SIPI_RECEIVED:
      if (!vcpu.arch.apic) return -EINVAL;
      break;
    default:
      return -EINVAL;
  }
  if (
    kvmLapicLatchedInit(vcpu) &&
    (state === KVM_MP_STATE_SIPI_RECEIVED || state === KVM_MP_STATE_INIT_RECEIVED)
  ) {
    return -EINVAL;
  }
  if (state === KVM_MP_STATE_SIPI_RECEIVED) {
    vcpu.arch.mpState = KVM_MP_STATE_INIT_RECEIVED;
    kvmLapicLatchSipi(vcpu);
  } else {
    vcpu.arch.mpState = state;
  }
  kvmMakeRequest(vcpu, KVM_REQ_EVENT);
  return 0;
}

function vcpuLoad(vcpu: KvmVcpu): void {
  vcpu.cpu = 0;
  vcpu.kvm.ops.vcpuLoad?.(vcpu, 0);
}

function vcpuPut(vcpu: KvmVcpu): void {
  vcpu.kvm.ops.vcpuPut?.(vcpu);
  vcpu.cpu = -1;
}

const GPR_ORDER: readonly [keyof KvmRegs, number][] = [
  ["rax", VCPU_REGS_RAX],
  ["rbx", VCPU_REGS_RBX],
  ["rcx", VCPU_REGS_RCX],
  ["rdx", VCPU_REGS_RDX],
  ["rsi", VCPU_REGS_RSI],
  ["rdi", VCPU_REGS_RDI],
  ["rsp", VCPU_REGS_RSP],
  ["rbp", VCPU_REGS_RBP],
  ["r8", 8],
  ["r9", 9],
  ["r10", 10],
  ["r11", 11],
  ["r12", 12],
  ["r13", 13],
  ["r14", 14],
  ["r15", 15],
];

/** __get_regs. */
export function getRegs(vcpu: KvmVcpu): KvmRegs {
  const r = {} as KvmRegs;
  for (const [name, idx] of GPR_ORDER) r[name] = kvmRegisterRead(vcpu, idx);
  r.rip = kvmRipRead(vcpu);
  r.rflags = BigInt(kvmGetRflags(vcpu));
  return r;
}

/** __set_regs: RFLAGS bit 1 forced, a pending exception dropped. */
export function setRegs(vcpu: KvmVcpu, regs: KvmRegs): void {
  for (const [name, idx] of GPR_ORDER) kvmRegisterWrite(vcpu, idx, regs[name]);
  kvmRipWrite(vcpu, regs.rip);
  kvmSetRflags(vcpu, Number(BigInt.asUintN(32, regs.rflags)) | X86_EFLAGS_FIXED);
  vcpu.arch.exception.pending = false;
  kvmMakeRequest(vcpu, KVM_REQ_EVENT);
}

const SREGS: readonly [keyof KvmSregs, number][] = [
  ["cs", VCPU_SREG_CS],
  ["ds", VCPU_SREG_DS],
  ["es", VCPU_SREG_ES],
  ["fs", VCPU_SREG_FS],
  ["gs", VCPU_SREG_GS],
  ["ss", VCPU_SREG_SS],
  ["tr", VCPU_SREG_TR],
  ["ldt", VCPU_SREG_LDTR],
];

/** __get_sregs. A queued external interrupt shows in interrupt_bitmap. */
export function getSregs(vcpu: KvmVcpu): KvmSregs {
  const ops = vcpu.kvm.ops;
  const s = {} as KvmSregs;
  for (const [name, seg] of SREGS) (s[name] as KvmSegment) = ops.getSegment(vcpu, seg);
  s.idt = ops.getIdt(vcpu);
  s.gdt = ops.getGdt(vcpu);
  s.cr0 = BigInt(kvmReadCr0(vcpu));
  s.cr2 = vcpu.arch.cr2;
  s.cr3 = kvmReadCr3(vcpu);
  s.cr4 = BigInt(kvmReadCr4(vcpu));
  s.cr8 = BigInt(kvmGetCr8(vcpu));
  s.efer = BigInt(vcpu.arch.efer);
  s.apicBase = BigInt(vcpu.arch.apicBase);
  s.interruptBitmap = [0n, 0n, 0n, 0n];
  const irq = vcpu.arch.interrupt;
  if (irq.injected && !irq.soft) s.interruptBitmap[irq.nr >> 6] = 1n << BigInt(irq.nr & 63);
  return s;
}

/** kvm_is_valid_sregs: long mode needs PAE and LMA; no LMA or CS.L without it. */
function kvmIsValidSregs(vcpu: KvmVcpu, s: KvmSregs): boolean {
  const efer = Number(s.efer & 0xffff_ffffn);
  const cr0 = s.cr0;
  if ((efer & EFER_LME) !== 0 && (cr0 & BigInt(X86_CR0_PG)) !== 0n) {
    if ((s.cr4 & BigInt(X86_CR4_PAE)) === 0n || (efer & EFER_LMA) === 0) return false;
    if (s.cr3 >> BigInt(vcpu.arch.maxphyaddr) !== 0n) return false;
  } else if ((efer & EFER_LMA) !== 0 || s.cs.l !== 0) {
    return false;
  }
  if (s.cr0 > 0xffff_ffffn || s.cr4 > 0xffff_ffffn || s.efer > 0xffff_ffffn) return false;
  return kvmIsValidCr4(vcpu, Number(s.cr4)) && kvmIsValidCr0(vcpu, Number(s.cr0));
}

/** __set_sregs: validated as a whole first, so a bad struct changes nothing. */
export function setSregs(vcpu: KvmVcpu, s: KvmSregs): number {
  const ops = vcpu.kvm.ops;
  if (!kvmIsValidSregs(vcpu, s)) return -EINVAL;
  if (s.cr8 > 0xfn) return -EINVAL;
  if (kvmSetApicBase(vcpu, s.apicBase, true) !== 0) return -EINVAL;
  ops.setIdt(vcpu, s.idt);
  ops.setGdt(vcpu, s.gdt);
  vcpu.arch.cr2 = s.cr2;
  let mmuReset = vcpu.arch.cr3 !== s.cr3;
  vcpu.arch.cr3 = s.cr3;
  ops.postSetCr3?.(vcpu, vcpu.arch.cr3);
  kvmSetCr8(vcpu, s.cr8);
  const efer = Number(s.efer);
  mmuReset ||= vcpu.arch.efer !== efer;
  ops.setEfer(vcpu, efer);
  vcpu.arch.efer = efer;
  const cr0 = Number(s.cr0);
  mmuReset ||= vcpu.arch.cr0 !== cr0;
  ops.setCr0(vcpu, cr0);
  vcpu.arch.cr0 = cr0;
  const cr4 = Number(s.cr4);
  mmuReset ||= vcpu.arch.cr4 !== cr4;
  ops.setCr4(vcpu, cr4);
  vcpu.arch.cr4 = cr4;
  for (const [name, seg] of SREGS) ops.setSegment(vcpu, s[name] as KvmSegment, seg);
  // Older userspace does not unhalt the BSP on reset.
  if (
    kvmVcpuIsBsp(vcpu) &&
    kvmRipRead(vcpu) === 0xfff0n &&
    s.cs.selector === 0xf000 &&
    s.cs.base === 0xffff_0000n &&
    (cr0 & X86_CR0_PE) === 0
  ) {
    vcpu.arch.mpState = KVM_MP_STATE_RUNNABLE;
  }
  for (let w = 0; w < 4; w++) {
    const word = s.interruptBitmap[w]!;
    if (word === 0n) continue;
    let bit = 0;
    while (((word >> BigInt(bit)) & 1n) === 0n) bit++;
    kvmQueueInterrupt(vcpu, w * 64 + bit, false);
    kvmMakeRequest(vcpu, KVM_REQ_EVENT);
    break;
  }
  if (mmuReset) kvmMakeRequest(vcpu, KVM_REQ_MMU_RELOAD | KVM_REQ_TLB_FLUSH);
  return 0;
}

/** KVM_GET_FPU: the FXSAVE image as struct kvm_fpu. */
export function getFpu(vcpu: KvmVcpu): KvmFpu {
  const fx = vcpu.arch.guestFpu;
  const dv = new DataView(fx.buffer, fx.byteOffset, fx.length);
  const fpr = new Uint8Array(128);
  fpr.set(fx.subarray(32, 160));
  return {
    fpr,
    fcw: dv.getUint16(0, true),
    fsw: dv.getUint16(2, true),
    ftwx: fx[4]!,
    lastOpcode: dv.getUint16(6, true),
    lastIp: dv.getBigUint64(8, true),
    lastDp: dv.getBigUint64(16, true),
    xmm: fx.slice(160, 416),
    mxcsr: dv.getUint32(24, true),
  };
}

/** KVM_SET_FPU: into the FXSAVE image; the vendor reloads it before the next entry. */
export function setFpu(vcpu: KvmVcpu, f: KvmFpu): void {
  const fx = vcpu.arch.guestFpu;
  const dv = new DataView(fx.buffer, fx.byteOffset, fx.length);
  fx.set(f.fpr.subarray(0, 128), 32);
  dv.setUint16(0, f.fcw, true);
  dv.setUint16(2, f.fsw, true);
  fx[4] = f.ftwx;
  dv.setUint16(6, f.lastOpcode, true);
  dv.setBigUint64(8, f.lastIp, true);
  dv.setBigUint64(16, f.lastDp, true);
  fx.set(f.xmm.subarray(0, 256), 160);
  dv.setUint32(24, f.mxcsr, true);
  vcpu.arch.guestFpuDirty = true;
}

/** kvm_vcpu_ioctl_x86_get_vcpu_events. */
export function getVcpuEvents(vcpu: KvmVcpu): KvmVcpuEvents {
  processNmi(vcpu);
  const ops = vcpu.kvm.ops;
  const a = vcpu.arch;
  const ex = a.exception;
  const caps = vcpu.kvm.arch;
  const soft = ex.vector === BP_VECTOR || ex.vector === 4;
  let flags =
    KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM;
  if (caps.exceptionPayloadEnabled) flags |= KVM_VCPUEVENT_VALID_PAYLOAD;
  if (caps.tripleFaultEvent) flags |= KVM_VCPUEVENT_VALID_TRIPLE_FAULT;
  return {
    exception: {
      injected: Number((ex.injected || (!caps.exceptionPayloadEnabled && ex.pending)) && !soft),
      nr: ex.vector,
      hasErrorCode: Number(ex.hasErrorCode),
      pending: Number(caps.exceptionPayloadEnabled && ex.pending && !soft),
      errorCode: ex.errorCode >>> 0,
    },
    interrupt: {
      injected: Number(a.interrupt.injected && !a.interrupt.soft),
      nr: a.interrupt.nr,
      soft: 0,
      shadow: ops.getInterruptShadow(vcpu),
    },
    nmi: {
      injected: Number(a.nmiInjected),
      pending: Number(a.nmiPending > 0),
      masked: Number(ops.getNmiMask(vcpu)),
    },
    sipiVector: 0,
    flags,
    smi: { smm: 0, pending: 0, smmInsideNmi: 0, latchedInit: Number(kvmLapicLatchedInit(vcpu)) },
    tripleFault: {
      pending: Number(caps.tripleFaultEvent && (vcpu.requests & KVM_REQ_TRIPLE_FAULT) !== 0),
    },
    exceptionHasPayload: Number(caps.exceptionPayloadEnabled && ex.hasPayload),
    exceptionPayload: caps.exceptionPayloadEnabled ? ex.payload : 0n,
  };
}

/** kvm_vcpu_ioctl_x86_set_vcpu_events: checked in full before anything changes. */
export function setVcpuEvents(vcpu: KvmVcpu, e: KvmVcpuEvents): number {
  const ops = vcpu.kvm.ops;
  const caps = vcpu.kvm.arch;
  const valid =
    KVM_VCPUEVENT_VALID_NMI_PENDING |
    KVM_VCPUEVENT_VALID_SIPI_VECTOR |
    KVM_VCPUEVENT_VALID_SHADOW |
    KVM_VCPUEVENT_VALID_SMM |
    KVM_VCPUEVENT_VALID_PAYLOAD |
    KVM_VCPUEVENT_VALID_TRIPLE_FAULT;
  if ((e.flags & ~valid) !== 0) return -EINVAL;
  let pending = e.exception.pending;
  let injected = e.exception.injected;
  let hasPayload = e.exceptionHasPayload;
  if ((e.flags & KVM_VCPUEVENT_VALID_PAYLOAD) !== 0) {
    if (!caps.exceptionPayloadEnabled) return -EINVAL;
    if (pending) injected = 0;
    else hasPayload = 0;
  } else {
    pending = 0;
    hasPayload = 0;
  }
  if ((injected || pending) && (e.exception.nr > 31 || e.exception.nr === NMI_VECTOR)) {
    return -EINVAL;
  }
  if ((e.flags & KVM_VCPUEVENT_VALID_SMM) !== 0 && (e.smi.smm || e.smi.pending)) {
    // The model has no SMM.
    return -EINVAL;
  }
  if ((e.flags & KVM_VCPUEVENT_VALID_TRIPLE_FAULT) !== 0 && !caps.tripleFaultEvent) return -EINVAL;
  const a = vcpu.arch;
  a.exception.injected = injected !== 0;
  a.exception.pending = pending !== 0;
  a.exception.vector = e.exception.nr;
  a.exception.hasErrorCode = e.exception.hasErrorCode !== 0;
  a.exception.errorCode = e.exception.errorCode >>> 0;
  a.exception.hasPayload = hasPayload !== 0;
  a.exception.payload = e.exceptionPayload;
  a.interrupt.injected = e.interrupt.injected !== 0;
  a.interrupt.nr = e.interrupt.nr;
  a.interrupt.soft = e.interrupt.soft !== 0;
  if ((e.flags & KVM_VCPUEVENT_VALID_SHADOW) !== 0)
    ops.setInterruptShadow(vcpu, e.interrupt.shadow);
  a.nmiInjected = e.nmi.injected !== 0;
  if ((e.flags & KVM_VCPUEVENT_VALID_NMI_PENDING) !== 0) {
    Atomics.store(vcpu.shared.words, VCPU_SHARED_NMI_QUEUED, 0);
    a.nmiPending = e.nmi.pending ? 1 : 0;
    if (e.nmi.pending) kvmMakeRequest(vcpu, KVM_REQ_NMI);
  }
  ops.setNmiMask(vcpu, e.nmi.masked !== 0);
  if ((e.flags & KVM_VCPUEVENT_VALID_TRIPLE_FAULT) !== 0) {
    if (e.tripleFault.pending) kvmMakeRequest(vcpu, KVM_REQ_TRIPLE_FAULT);
    else kvmClearRequest(vcpu, KVM_REQ_TRIPLE_FAULT);
  }
  if (vcpu.arch.apic) {
    if ((e.flags & KVM_VCPUEVENT_VALID_SIPI_VECTOR) !== 0)
      kvmLapicSetSipiVector(vcpu, e.sipiVector);
    if ((e.flags & KVM_VCPUEVENT_VALID_SMM) !== 0)
      kvmLapicSetLatchedInit(vcpu, e.smi.latchedInit !== 0);
  }
  kvmMakeRequest(vcpu, KVM_REQ_EVENT);
  return 0;
}

/** kvm_arch_vcpu_ioctl_set_guest_debug. */
export function setGuestDebug(vcpu: KvmVcpu, control: number, debugreg: readonly bigint[]): number {
  if ((control & ~KVM_GUESTDBG_VALID_MASK) !== 0) return -EINVAL;
  if ((control & (KVM_GUESTDBG_INJECT_DB | KVM_GUESTDBG_INJECT_BP)) !== 0) {
    if (vcpu.arch.exception.pending || vcpu.arch.exception.injected) return -EBUSY;
    kvmQueueException(vcpu, (control & KVM_GUESTDBG_INJECT_DB) !== 0 ? DB_VECTOR : BP_VECTOR);
  }
  // Read RFLAGS while the old single-step TF is still filtered out.
  const rflags = kvmGetRflags(vcpu);
  vcpu.guestDebug = (control & KVM_GUESTDBG_ENABLE) !== 0 ? control : 0;
  if ((vcpu.guestDebug & KVM_GUESTDBG_USE_HW_BP) !== 0) {
    for (let i = 0; i < 4; i++) vcpu.arch.db[i] = debugreg[i] ?? 0n;
    vcpu.kvm.ops.setDr7?.(vcpu, debugreg[7] ?? 0x400n);
  }
  if ((vcpu.guestDebug & KVM_GUESTDBG_SINGLESTEP) !== 0) {
    vcpu.arch.singlestepRip = kvmGetLinearRip(vcpu);
  }
  // Re-set RFLAGS so TF is added (or dropped) for single-stepping.
  kvmSetRflags(vcpu, rflags);
  vcpu.kvm.ops.updateExceptionBitmap(vcpu);
  return 0;
}

// ───────────────────────────── MSRs ─────────────────────────────

/** kvm_get_msr (guest or host initiated): the vendor first, which falls back to common. */
export function kvmGetMsr(vcpu: KvmVcpu, msr: MsrData): number {
  const r = vcpu.kvm.ops.getMsr(vcpu, msr);
  traceMsr(vcpu, false, msr.index, msr.data, r !== 0);
  return r;
}

export function kvmSetMsr(vcpu: KvmVcpu, msr: MsrData): number {
  const r = vcpu.kvm.ops.setMsr(vcpu, msr);
  traceMsr(vcpu, true, msr.index, msr.data, r !== 0);
  return r;
}

function traceMsr(vcpu: KvmVcpu, write: boolean, ecx: number, data: bigint, exception: boolean) {
  const tp = vcpu.kvm.kernel.trace.kvm_msr;
  if (tp.enabled) tp.emit({ vcpu_id: vcpu.vcpuId, write, ecx, data, exception });
}

const isMtrr = (i: number): boolean =>
  i === MSR_MTRRdefType ||
  i === MSR_MTRRfix64K_00000 ||
  i === MSR_MTRRfix16K_80000 ||
  i === MSR_MTRRfix16K_A0000 ||
  (i >= MSR_MTRRfix4K_C0000 && i <= MSR_MTRRfix4K_F8000) ||
  (i >= MSR_MTRRphysBase0 && i < MSR_MTRRphysBase0 + 16);

function mtrrFixedIndex(i: number): number {
  if (i === MSR_MTRRfix64K_00000) return 0;
  if (i === MSR_MTRRfix16K_80000) return 1;
  if (i === MSR_MTRRfix16K_A0000) return 2;
  return 3 + (i - MSR_MTRRfix4K_C0000);
}

/** kvm_get_msr_common: the MSRs KVM emulates itself. 1 = unknown (→ #GP / stop). */
export function kvmGetMsrCommon(vcpu: KvmVcpu, msr: MsrData): number {
  const a = vcpu.arch;
  const i = msr.index;
  switch (i) {
    case MSR_IA32_PLATFORM_ID:
    case MSR_IA32_POWER_CTL:
      msr.data = 0n;
      return 0;
    case MSR_IA32_UCODE_REV:
      msr.data = MICROCODE_VERSION;
      return 0;
    case MSR_IA32_ARCH_CAPABILITIES:
      if (!msr.hostInitiated && !guestCpuidHas(vcpu, 7, "edx", 29)) return 1;
      msr.data = 0n;
      return 0;
    case MSR_MTRRcap:
      msr.data = MTRR_CAP;
      return 0;
    case MSR_IA32_APICBASE:
      msr.data = BigInt(a.apicBase);
      return 0;
    case MSR_IA32_TSC:
      msr.data = u64(vcpu.kvm.kernel.rdtsc() + a.tscOffset);
      return 0;
    case MSR_IA32_TSC_ADJUST:
      msr.data = a.tscAdjust;
      return 0;
    case MSR_IA32_MISC_ENABLE:
      msr.data = a.miscEnable;
      return 0;
    case MSR_IA32_SMBASE:
      if (!msr.hostInitiated) return 1;
      msr.data = BigInt(a.smbase);
      return 0;
    case MSR_IA32_MCG_CAP:
      msr.data = 0n;
      return 0;
    case MSR_IA32_MCG_CTL:
      msr.data = a.mcgCtl;
      return 0;
    case MSR_IA32_MCG_STATUS:
      msr.data = a.mcgStatus;
      return 0;
    case MSR_EFER:
      msr.data = BigInt(a.efer);
      return 0;
    case MSR_IA32_CR_PAT:
      msr.data = a.pat;
      return 0;
    default:
      if (a.apic && i === MSR_IA32_TSC_DEADLINE) {
        msr.data = kvmGetLapicTscdeadlineMsr(vcpu);
        return 0;
      }
      if (a.apic && i >= APIC_BASE_MSR && i <= APIC_BASE_MSR + 0xff) {
        return kvmX2apicMsrRead(vcpu, i, msr);
      }
      if (isMtrr(i)) {
        if (i === MSR_MTRRdefType) msr.data = a.mtrrDefType;
        else if (i >= MSR_MTRRphysBase0 && i < MSR_MTRRphysBase0 + 16)
          msr.data = a.mtrrVar[i - MSR_MTRRphysBase0]!;
        else msr.data = a.mtrrFixed[mtrrFixedIndex(i)]!;
        return 0;
      }
      return 1;
  }
}

/** The EFER bits this vCPU may set, from its CPUID (__kvm_valid_efer). */
function kvmValidEfer(vcpu: KvmVcpu, efer: number): boolean {
  const known = EFER_SCE | EFER_LME | EFER_LMA | EFER_NX | EFER_SVME | EFER_FFXSR;
  if ((efer & ~known) !== 0) return false;
  if ((efer & (EFER_LME | EFER_LMA)) !== 0 && !guestCpuidHas(vcpu, 0x8000_0001, "edx", 29)) {
    return false;
  }
  if ((efer & EFER_NX) !== 0 && !guestCpuidHas(vcpu, 0x8000_0001, "edx", 20)) return false;
  if ((efer & EFER_SVME) !== 0 && !guestCpuidHas(vcpu, 0x8000_0001, "ecx", 2)) return false;
  return true;
}

/** kvm_set_apic_base without an in-kernel LAPIC: 0, or 1 for a refused value. */
export function kvmSetApicBase(vcpu: KvmVcpu, value: bigint, hostInitiated: boolean): number {
  const reserved =
    ((1n << 64n) - (1n << BigInt(vcpu.arch.maxphyaddr))) |
    0x2ffn |
    (guestCpuidHas(vcpu, 1, "ecx", 21) ? 0n : BigInt(X2APIC_ENABLE));
  if ((value & reserved) !== 0n) return 1;
  const v = Number(value);
  const mode = (x: number) => (x & (MSR_IA32_APICBASE_ENABLE | X2APIC_ENABLE)) >>> 10;
  const next = mode(v);
  // X2APIC_ENABLE without ENABLE is the invalid mode.
  if (next === 1) return 1;
  if (!hostInitiated) {
    const old = mode(vcpu.arch.apicBase);
    if (old === 3 && next === 2) return 1;
    if (old === 0 && next === 3) return 1;
  }
  kvmLapicSetBase(vcpu, v);
  return 0;
}

/** kvm_set_msr_common. 1 = refused (→ #GP for the guest, stop for KVM_SET_MSRS). */
export function kvmSetMsrCommon(vcpu: KvmVcpu, msr: MsrData): number {
  const a = vcpu.arch;
  const i = msr.index;
  const data = u64(msr.data);
  switch (i) {
    case MSR_EFER: {
      if (data > 0xffff_ffffn) return 1;
      let efer = Number(data);
      if (!msr.hostInitiated) {
        if (!kvmValidEfer(vcpu, efer)) return 1;
        const paging = a.cr0 >= X86_CR0_PG;
        if (paging && (a.efer & EFER_LME) !== (efer & EFER_LME)) return 1;
        efer = (efer & ~EFER_LMA) | (a.efer & EFER_LMA);
      } else if (
        (efer & ~(EFER_SCE | EFER_LME | EFER_LMA | EFER_NX | EFER_SVME | EFER_FFXSR)) !==
        0
      ) {
        return 1;
      }
      const r = vcpu.kvm.ops.setEfer(vcpu, efer);
      if (r !== 0) return 1;
      a.efer = efer;
      kvmMakeRequest(vcpu, KVM_REQ_MMU_RELOAD);
      return 0;
    }
    case MSR_IA32_APICBASE:
      return kvmSetApicBase(vcpu, data, msr.hostInitiated);
    case MSR_IA32_CR_PAT: {
      // Each byte must be a valid memory type (0, 1, 4, 5, 6, 7).
      for (let b = 0n; b < 64n; b += 8n) {
        const t = (data >> b) & 0xffn;
        if (t === 2n || t === 3n || t > 7n) return 1;
      }
      a.pat = data;
      return 0;
    }
    case MSR_IA32_TSC:
      a.tscOffset = u64(data - vcpu.kvm.kernel.rdtsc());
      vcpu.kvm.ops.writeTscOffset?.(vcpu, a.tscOffset);
      return 0;
    case MSR_IA32_TSC_ADJUST:
      a.tscAdjust = data;
      return 0;
    case MSR_IA32_MISC_ENABLE:
      a.miscEnable = data;
      return 0;
    case MSR_IA32_SMBASE:
      if (!msr.hostInitiated) return 1;
      a.smbase = Number(data & 0xffff_ffffn);
      return 0;
    case MSR_IA32_MCG_STATUS:
      a.mcgStatus = data;
      return 0;
    case MSR_IA32_MCG_CTL:
      if (data !== 0n && data !== u64(-1n)) return 1;
      a.mcgCtl = data;
      return 0;
    case MSR_IA32_UCODE_REV:
    case MSR_IA32_ARCH_CAPABILITIES:
      return msr.hostInitiated ? 0 : 1;
    case MSR_IA32_POWER_CTL:
      return 0;
    default:
      if (a.apic && i === MSR_IA32_TSC_DEADLINE) {
        kvmSetLapicTscdeadlineMsr(vcpu, data);
        return 0;
      }
      if (a.apic && i >= APIC_BASE_MSR && i <= APIC_BASE_MSR + 0xff) {
        return kvmX2apicMsrWrite(vcpu, i, data);
      }
      if (isMtrr(i)) {
        if (i === MSR_MTRRdefType) a.mtrrDefType = data;
        else if (i >= MSR_MTRRphysBase0 && i < MSR_MTRRphysBase0 + 16)
          a.mtrrVar[i - MSR_MTRRphysBase0] = data;
        else a.mtrrFixed[mtrrFixedIndex(i)] = data;
        return 0;
      }
      return 1;
  }
}

// ───────────────────────────── exceptions and interrupts ─────────────────────────────

const exceptionClass = (v: number): "benign" | "contributory" | "pf" =>
  v === PF_VECTOR ? "pf" : v === 0 || (v >= 10 && v <= 13) ? "contributory" : "benign";

/**
 * kvm_multiple_exception: queue an exception, turning two that cannot be delivered
 * serially into #DF, and a fault during #DF into a triple fault (KVM_EXIT_SHUTDOWN).
 */
export function kvmQueueException(
  vcpu: KvmVcpu,
  vector: number,
  errorCode?: number,
  payload?: bigint,
): void {
  const ex = vcpu.arch.exception;
  kvmMakeRequest(vcpu, KVM_REQ_EVENT);
  if (ex.pending || ex.injected) {
    if (ex.vector === DF_VECTOR) {
      kvmMakeRequest(vcpu, KVM_REQ_TRIPLE_FAULT);
      return;
    }
    const c1 = exceptionClass(ex.vector);
    const c2 = exceptionClass(vector);
    if ((c1 === "contributory" && c2 === "contributory") || (c1 === "pf" && c2 !== "benign")) {
      Object.assign(ex, {
        pending: true,
        injected: false,
        hasErrorCode: true,
        vector: DF_VECTOR,
        errorCode: 0,
        hasPayload: false,
        payload: 0n,
      });
      return;
    }
  }
  ex.pending = true;
  ex.injected = false;
  ex.vector = vector;
  ex.hasErrorCode = errorCode !== undefined;
  ex.errorCode = (errorCode ?? 0) >>> 0;
  ex.hasPayload = payload !== undefined;
  ex.payload = payload ?? 0n;
}

/** kvm_requeue_exception: an event the hardware was delivering when it exited. */
export function kvmRequeueException(vcpu: KvmVcpu, vector: number, errorCode?: number): void {
  const ex = vcpu.arch.exception;
  ex.pending = false;
  ex.injected = true;
  ex.vector = vector;
  ex.hasErrorCode = errorCode !== undefined;
  ex.errorCode = (errorCode ?? 0) >>> 0;
  ex.hasPayload = false;
  ex.payload = 0n;
  kvmMakeRequest(vcpu, KVM_REQ_EVENT);
}

export const kvmInjectGp = (vcpu: KvmVcpu, errorCode = 0): void =>
  kvmQueueException(vcpu, GP_VECTOR, errorCode);

/** kvm_queue_interrupt. */
export function kvmQueueInterrupt(vcpu: KvmVcpu, vector: number, soft: boolean): void {
  vcpu.arch.interrupt.injected = true;
  vcpu.arch.interrupt.soft = soft;
  vcpu.arch.interrupt.nr = vector;
}

export function kvmClearInterruptQueue(vcpu: KvmVcpu): void {
  vcpu.arch.interrupt.injected = false;
}

export function kvmClearExceptionQueue(vcpu: KvmVcpu): void {
  vcpu.arch.exception.pending = false;
  vcpu.arch.exception.injected = false;
}

/**
 * kvm_inject_nmi: queue an NMI (atomic nmi_queued, any thread, a remote stub too) and
 * request KVM_REQ_NMI; the owner's process_nmi takes it into nmi_pending. On the owner's
 * own thread it is taken at once (as the model always did), so the limit applies at send.
 */
export function kvmInjectNmi(vcpu: KvmVcpu): void {
  Atomics.add(vcpu.shared.words, VCPU_SHARED_NMI_QUEUED, 1);
  kvmMakeRequest(vcpu, KVM_REQ_NMI | KVM_REQ_EVENT);
  if (!vcpu.remote) processNmi(vcpu);
}

/**
 * process_nmi (the owner only: it asks the vendor for the NMI mask): queued NMIs become
 * pending, at most two (one being delivered, one latched), one if NMIs are blocked.
 */
function processNmi(vcpu: KvmVcpu): void {
  const words = vcpu.shared.words;
  if (words[VCPU_SHARED_NMI_QUEUED] === 0) return;
  const limit = vcpu.kvm.ops.getNmiMask(vcpu) || vcpu.arch.nmiInjected ? 1 : 2;
  const queued = Atomics.exchange(words, VCPU_SHARED_NMI_QUEUED, 0);
  vcpu.arch.nmiPending = Math.min(vcpu.arch.nmiPending + queued, limit);
  if (vcpu.arch.nmiPending > 0) kvmMakeRequest(vcpu, KVM_REQ_EVENT);
}

/** kvm_make_request(KVM_REQ_TRIPLE_FAULT): the next entry attempt exits with SHUTDOWN. */
export function kvmTripleFault(vcpu: KvmVcpu): void {
  kvmMakeRequest(vcpu, KVM_REQ_TRIPLE_FAULT);
}

function kvmInjectException(vcpu: KvmVcpu): void {
  const ex = vcpu.arch.exception;
  const tp = vcpu.kvm.kernel.trace.kvm_inj_exception;
  if (tp.enabled) {
    tp.emit({
      vcpu_id: vcpu.vcpuId,
      exception: ex.vector,
      has_error: ex.hasErrorCode,
      error_code: ex.errorCode,
      reinjected: ex.injected,
    });
  }
  vcpu.kvm.ops.injectException(vcpu);
}

function traceInjVirq(vcpu: KvmVcpu, reinjected: boolean): void {
  const tp = vcpu.kvm.kernel.trace.kvm_inj_virq;
  if (tp.enabled) {
    tp.emit({
      vcpu_id: vcpu.vcpuId,
      vector: vcpu.arch.interrupt.nr,
      soft: vcpu.arch.interrupt.soft,
      reinjected,
    });
  }
}

/**
 * kvm_check_and_inject_events: re-inject what the last exit interrupted, then a pending
 * exception, then an NMI, asking for the windows that are still closed. With no
 * in-kernel irqchip, external interrupts arrive only through KVM_INTERRUPT (already
 * queued as `interrupt.injected`).
 */
function kvmCheckAndInjectEvents(vcpu: KvmVcpu): number {
  const ops = vcpu.kvm.ops;
  const a = vcpu.arch;
  let canInject = true;
  if (a.exception.injected) {
    kvmInjectException(vcpu);
    canInject = false;
  } else if (!a.exception.pending) {
    if (a.nmiInjected) {
      ops.injectNmi(vcpu);
      canInject = false;
    } else if (a.interrupt.injected) {
      traceInjVirq(vcpu, true);
      ops.injectIrq(vcpu, true);
      canInject = false;
    }
  }
  if (a.exception.pending) {
    // Faults set RF in the pushed RFLAGS so the faulting instruction's breakpoint does
    // not fire again.
    const v = a.exception.vector;
    if (v === 0 || v === 5 || v === 6 || v === 7 || (v >= 10 && v <= 14) || v === 16 || v === 17) {
      ops.setRflags(vcpu, (ops.getRflags(vcpu) | 0x1_0000) >>> 0);
    }
    if (v === DB_VECTOR && a.exception.hasPayload) {
      a.dr6 = (a.dr6 & ~0xfn) | a.exception.payload;
    }
    kvmInjectException(vcpu);
    a.exception.pending = false;
    a.exception.injected = true;
    canInject = false;
  }
  if (a.nmiPending > 0) {
    const r = canInject ? ops.nmiAllowed(vcpu, true) : -EBUSY;
    if (r > 0) {
      a.nmiPending--;
      a.nmiInjected = true;
      ops.injectNmi(vcpu);
      canInject = false;
    }
    if (a.nmiPending > 0) ops.enableNmiWindow(vcpu);
  }
  // In-kernel irqchip: the PIC through LINT0, then the LAPIC's highest deliverable vector.
  if (a.apic && kvmCpuHasInterrupt(vcpu)) {
    const r = canInject ? ops.interruptAllowed(vcpu, true) : -EBUSY;
    if (r > 0) {
      const irq = kvmCpuGetInterrupt(vcpu);
      if (irq !== -1) {
        kvmQueueInterrupt(vcpu, irq, false);
        traceInjVirq(vcpu, false);
        ops.injectIrq(vcpu, false);
      }
    }
    if (kvmCpuHasInterrupt(vcpu)) ops.enableIrqWindow(vcpu);
  }
  return 0;
}

// ───────────────────────────── KVM_RUN ─────────────────────────────

/** signal_pending(current) inside KVM_RUN, where KVM_SET_SIGNAL_MASK's mask applies. */
/** signal_pending(current), after the timer interrupt has had its say (POSIX timers). */
const signalPending = (vcpu: KvmVcpu): boolean => {
  const mm = vcpu.kvm.mm;
  mm.pollTimers();
  return mm.signalPending(vcpu.sigsetMask ?? mm.blockedSignals);
};

/** dm_request_for_irq_injection: userspace asked for the interrupt window. */
const dmRequestForIrqInjection = (vcpu: KvmVcpu): boolean => vcpu.run.requestInterruptWindow !== 0;

/** kvm_vcpu_ready_for_interrupt_injection (userspace irqchip). */
function kvmVcpuReadyForInterruptInjection(vcpu: KvmVcpu): boolean {
  const a = vcpu.arch;
  return (
    vcpu.kvm.ops.interruptAllowed(vcpu, false) > 0 &&
    !a.interrupt.injected &&
    !a.exception.pending &&
    !a.exception.injected &&
    !a.nmiInjected
  );
}

/**
 * kvm_arch_vcpu_ioctl_run: finish what the last exit left to userspace (PIO IN data, MMIO
 * reads), honour immediate_exit, run, then publish if_flag, cr8, apic_base and
 * ready_for_interrupt_injection in kvm_run.
 */
export function kvmArchVcpuIoctlRun(vcpu: KvmVcpu): number {
  const run = vcpu.run;
  vcpuLoad(vcpu);
  run.flags = 0;
  const fpu = vcpu.kvm.kernel.trace.kvm_fpu;
  if (fpu.enabled) fpu.emit({ vcpu_id: vcpu.vcpuId, load: 1 });
  const r = kvmArchVcpuIoctlRunInner(vcpu);
  if (fpu.enabled) fpu.emit({ vcpu_id: vcpu.vcpuId, load: 0 });
  if (run.kvmValidRegs !== 0n) storeRegs(vcpu);
  postKvmRunSave(vcpu);
  vcpuPut(vcpu);
  return r;
}

/** The part of kvm_arch_vcpu_ioctl_run between FPU load and post_kvm_run_save. */
function kvmArchVcpuIoctlRunInner(vcpu: KvmVcpu): number {
  const run = vcpu.run;
  if (vcpu.arch.mpState === KVM_MP_STATE_UNINITIALIZED) return kvmRunUninitialized(vcpu);
  const valid = BigInt(KVM_SYNC_X86_VALID_FIELDS);
  if ((run.kvmValidRegs & ~valid) !== 0n || (run.kvmDirtyRegs & ~valid) !== 0n) {
    return -EINVAL;
  }
  if (run.kvmDirtyRegs !== 0n) {
    const r = syncRegs(vcpu);
    if (r !== 0) return r;
  }
  // Re-sync the TPR userspace may have changed (the LAPIC owns it when in the kernel).
  if (!vcpu.arch.apic && kvmSetCr8(vcpu, run.cr8) !== 0) {
    return -EINVAL;
  }
  const cui = vcpu.arch.completeUserspaceIo;
  if (cui) {
    vcpu.arch.completeUserspaceIo = null;
    const r = cui(vcpu);
    if (r <= 0) return r;
  }
  if (run.immediateExit !== 0) {
    run.exitReason = KVM_EXIT_INTR;
    vcpu.stat.signal_exits++;
    return -EINTR;
  }
  const pre = vcpu.kvm.ops.vcpuPreRun?.(vcpu) ?? 1;
  if (pre <= 0) return pre;
  return vcpuRun(vcpu);
}

/**
 * KVM_RUN on an AP that never got INIT (UNINITIALIZED): Linux blocks once until INIT/SIPI
 * or a signal, takes the events and returns -EAGAIN (QEMU simply calls KVM_RUN again).
 * Single-threaded, nothing can send INIT while it would wait (kvmBlockNoWakeSource); a
 * threaded VM sleeps on the WAKE word until the INIT/SIPI or signal arrives.
 */
function kvmRunUninitialized(vcpu: KvmVcpu): number {
  const run = vcpu.run;
  if (run.immediateExit !== 0) {
    // As the model's main path reports immediate_exit.
    run.exitReason = KVM_EXIT_INTR;
    vcpu.stat.signal_exits++;
    return -EINTR;
  }
  if (vcpu.kvm.threaded) {
    // Another thread's INIT/SIPI or a signal kicks the WAKE word.
    for (;;) {
      const seq = Atomics.load(vcpu.shared.words, VCPU_SHARED_WAKE);
      if (kvmApicHasPendingInitOrSipi(vcpu) || signalPending(vcpu)) break;
      if (!kvmVcpuSleep(vcpu, seq, KVM_THREADED_BLOCK_SLICE_MS)) return kvmBlockNoWakeSource(vcpu);
    }
  } else if (!kvmApicHasPendingInitOrSipi(vcpu) && !signalPending(vcpu)) {
    return kvmBlockNoWakeSource(vcpu);
  }
  kvmApicAcceptEvents(vcpu);
  if (signalPending(vcpu)) {
    run.exitReason = KVM_EXIT_INTR;
    vcpu.stat.signal_exits++;
    return -EINTR;
  }
  return -EAGAIN;
}

/** post_kvm_run_save. */
function postKvmRunSave(vcpu: KvmVcpu): void {
  const run = vcpu.run;
  run.ifFlag = vcpu.kvm.ops.getIfFlag(vcpu) ? 1 : 0;
  run.cr8 = BigInt(kvmGetCr8(vcpu));
  run.apicBase = BigInt(vcpu.arch.apicBase);
  run.readyForInterruptInjection =
    vcpu.kvm.arch.irqchipMode === KVM_IRQCHIP_KERNEL || kvmVcpuReadyForInterruptInjection(vcpu)
      ? 1
      : 0;
}

/** store_regs: the sync-regs area of kvm_run (KVM_CAP_SYNC_REGS). */
function storeRegs(vcpu: KvmVcpu): void {
  const run = vcpu.run;
  const valid = Number(run.kvmValidRegs);
  if (valid & KVM_SYNC_X86_REGS) encodeKvmRegs(getRegs(vcpu), run.bytes, 304);
  if (valid & KVM_SYNC_X86_SREGS) encodeKvmSregs(getSregs(vcpu), run.bytes, 448);
  if (valid & KVM_SYNC_X86_EVENTS) encodeKvmVcpuEvents(getVcpuEvents(vcpu), run.bytes, 760);
}

/** sync_regs: apply what userspace marked dirty in the sync-regs area. */
function syncRegs(vcpu: KvmVcpu): number {
  const run = vcpu.run;
  const dirty = Number(run.kvmDirtyRegs);
  if (dirty & KVM_SYNC_X86_REGS) {
    setRegs(vcpu, decodeKvmRegs(run.bytes, 304));
    run.kvmDirtyRegs &= ~BigInt(KVM_SYNC_X86_REGS);
  }
  if (dirty & KVM_SYNC_X86_SREGS) {
    if (setSregs(vcpu, decodeKvmSregs(run.bytes, 448)) !== 0) return -EINVAL;
    run.kvmDirtyRegs &= ~BigInt(KVM_SYNC_X86_SREGS);
  }
  if (dirty & KVM_SYNC_X86_EVENTS) {
    if (setVcpuEvents(vcpu, decodeKvmVcpuEvents(run.bytes, 760)) !== 0) return -EINVAL;
    run.kvmDirtyRegs &= ~BigInt(KVM_SYNC_X86_EVENTS);
  }
  return 0;
}

/**
 * vcpu_run: enter the guest again and again while exits are handled in the kernel; stop
 * for userspace (r ≤ 0), for a requested interrupt window, or for a signal.
 */
export function vcpuRun(vcpu: KvmVcpu): number {
  const run = vcpu.run;
  run.exitReason = KVM_EXIT_UNKNOWN;
  // Timers that expired while userspace had the thread (Linux's hrtimers fire on their own).
  if (vcpu.arch.apic) pollTimers(vcpu);
  for (;;) {
    const r = kvmVcpuRunning(vcpu) ? vcpuEnterGuest(vcpu) : vcpuBlock(vcpu);
    if (r <= 0) return r;
    if (vcpu.arch.apic) pollTimers(vcpu);
    if (dmRequestForIrqInjection(vcpu) && kvmVcpuReadyForInterruptInjection(vcpu)) {
      run.exitReason = KVM_EXIT_IRQ_WINDOW_OPEN;
      vcpu.stat.request_irq_exits++;
      return 0;
    }
    if (signalPending(vcpu)) {
      run.exitReason = KVM_EXIT_INTR;
      vcpu.stat.signal_exits++;
      return -EINTR;
    }
    // need_resched: a sibling on this host thread was sent an IPI; let it run.
    if (vcpu.kvm.needResched) {
      vcpu.kvm.needResched = false;
      run.exitReason = KVM_EXIT_INTR;
      vcpu.stat.signal_exits++;
      return -EINTR;
    }
  }
}

/**
 * The polled stand-in for hrtimer callbacks: VM device timers raise their GSIs, and this
 * vCPU's APIC timer expiration goes into its LVT timer vector (kvm_inject_pending_timer_irqs).
 */
function pollTimers(vcpu: KvmVcpu): void {
  for (const t of vcpu.kvm.arch.timerSources) t.expire();
  if (kvmCpuHasPendingTimer(vcpu)) kvmInjectPendingTimerIrqs(vcpu);
}

/** kvm_vcpu_running: RUNNABLE (always, without an in-kernel LAPIC). */
const kvmVcpuRunning = (vcpu: KvmVcpu): boolean => vcpu.arch.mpState === KVM_MP_STATE_RUNNABLE;

/**
 * kvm_vcpu_has_events: something would make a halted or waiting vCPU run — a latched
 * INIT/SIPI, a pending exception, an NMI it can take, an interrupt it can take.
 */
function kvmVcpuHasEvents(vcpu: KvmVcpu): boolean {
  const a = vcpu.arch;
  const ops = vcpu.kvm.ops;
  if (kvmApicHasPendingInitOrSipi(vcpu)) return true;
  if (a.exception.pending || a.exception.injected) return true;
  if ((vcpu.requests & KVM_REQ_NMI) !== 0 || (a.nmiPending > 0 && ops.nmiAllowed(vcpu, false) > 0))
    return true;
  if (ops.interruptAllowed(vcpu, false) > 0 && kvmCpuHasInterrupt(vcpu)) return true;
  return false;
}

/** kvm_arch_vcpu_runnable. */
const kvmArchVcpuRunnable = (vcpu: KvmVcpu): boolean =>
  kvmVcpuRunning(vcpu) || kvmVcpuHasEvents(vcpu);

/** How long a real-clock halt may sleep before KVM_RUN gives userspace its thread back. */
export const KVM_HALT_SLICE_NS = 10_000_000n;

/**
 * The single-threaded stand-in for a block nothing in this thread can end: no timer armed,
 * no event latched. In Linux the vCPU thread sleeps until another thread (a vCPU's IPI,
 * KVM_IRQ_LINE from an I/O thread) or a signal wakes it; here those can only run once
 * KVM_RUN returns, so it returns as if the waking signal had arrived: -EINTR with
 * KVM_EXIT_INTR, mp_state unchanged (still HALTED / INIT_RECEIVED / UNINITIALIZED).
 * Calling KVM_RUN again re-checks and waits again; nothing is lost. A threaded VM
 * (Kvm.threaded) really sleeps instead, and comes here only on a thread that cannot wait.
 */
function kvmBlockNoWakeSource(vcpu: KvmVcpu): number {
  vcpu.run.exitReason = KVM_EXIT_INTR;
  return -EINTR;
}

/**
 * kvm_vcpu_block / kvm_vcpu_halt: wait until the vCPU is runnable, its APIC timer is due,
 * or a signal is pending. The wait is never a spin: with a virtual clock
 * (`HostClock.idleUntil`) time jumps to the timer's deadline — when that expiration will
 * wake the vCPU (kvmLapicTimerCanWake), else it counts as no wake source; with the real clock the
 * thread sleeps (Atomics.wait) for at most KVM_HALT_SLICE_NS and then, if the deadline is
 * still ahead, KVM_RUN returns -EINTR / KVM_EXIT_INTR so a single-threaded VMM can run its
 * other vCPUs and devices. With no wake source at all, see kvmBlockNoWakeSource. A
 * threaded VM blocks in kvmVcpuBlockThreaded. Returns 1 when woken, or ≤ 0 to return to
 * userspace.
 */
/** The earliest of the APIC timer's deadline and the VM device timers' next expiries. */
function nextWakeNs(lapicNext: bigint | null, sources: readonly KvmTimerSource[]): bigint | null {
  let next = lapicNext;
  for (const t of sources) {
    const n = t.nextExpiry();
    if (n !== null && (next === null || n < next)) next = n;
  }
  return next;
}

function kvmVcpuBlock(vcpu: KvmVcpu): number {
  if (vcpu.kvm.threaded) return kvmVcpuBlockThreaded(vcpu);
  const clock = vcpu.kvm.kernel.clock;
  const sources = vcpu.kvm.arch.timerSources;
  let sourceJumped = false;
  for (;;) {
    for (const t of sources) t.expire();
    if (kvmArchVcpuRunnable(vcpu) || kvmCpuHasPendingTimer(vcpu) || signalPending(vcpu)) {
      vcpu.stat.halt_wakeup++;
      return 1;
    }
    // The earliest wake-up: this vCPU's APIC timer, or a VM device timer (the PIT).
    const lapicNext = kvmLapicNextTimerNs(vcpu);
    const next = nextWakeNs(lapicNext, sources);
    if (next === null) return kvmBlockNoWakeSource(vcpu);
    if (clock.idleUntil) {
      // Virtual time: jump to the deadline only if the expiration will wake the vCPU — for
      // the APIC timer known in advance, for a device timer tried once per wait.
      if (next === lapicNext) {
        if (!kvmLapicTimerCanWake(vcpu)) return kvmBlockNoWakeSource(vcpu);
      } else {
        if (sourceJumped) return kvmBlockNoWakeSource(vcpu);
        sourceJumped = true;
      }
      if (clock.idleUntil(next)) continue;
    }
    // One host thread runs every vCPU of this VM (a single-threaded VMM): while another
    // of them can run, sleeping here would stall it — schedule() gives the CPU away.
    if (vcpu.kvm.vcpus.some((v) => v !== vcpu && !v.remote && kvmArchVcpuRunnable(v))) {
      return kvmBlockNoWakeSource(vcpu);
    }
    const wait = next - clock.now();
    const slice = wait < KVM_HALT_SLICE_NS ? wait : KVM_HALT_SLICE_NS;
    if (slice > 0n) {
      const seq = Atomics.load(vcpu.shared.words, VCPU_SHARED_WAKE);
      // No Atomics.wait on this thread (a browser's main thread): give the thread back.
      if (!kvmVcpuSleep(vcpu, seq, Number(slice) / 1e6)) return kvmBlockNoWakeSource(vcpu);
    }
    if (clock.now() < next) return kvmBlockNoWakeSource(vcpu);
  }
}

/** The longest one wait of a threaded block lasts before it re-checks (a lost wake-up is
 * never fatal). */
const KVM_THREADED_BLOCK_SLICE_MS = 100;

/**
 * Sleep on the vCPU's WAKE word while it still holds `seq` (the value read before the
 * wake conditions were checked, so a kick in between is not lost), at most `ms`. False
 * when this thread cannot wait (a browser's main thread, or no SharedArrayBuffer).
 */
function kvmVcpuSleep(vcpu: KvmVcpu, seq: number, ms: number): boolean {
  // No halt polling (kvm.ko's halt_poll_ns): on the 2-core machines measured, a halted
  // vCPU polling 200 µs before it sleeps made ipi-bench slower (the poller takes the core
  // the other vCPU and the main thread need).
  return waitBell(vcpu.shared.words, VCPU_SHARED_WAKE, seq, Math.max(ms, 0));
}

/**
 * kvm_vcpu_block when the vCPU has a thread of its own (Kvm.threaded): sleep until it is
 * runnable, its APIC timer is due or a signal is pending — other threads' IPIs, I/O APIC
 * and PIC interrupts and signals kick the WAKE word. Waits last until the next local timer
 * deadline (a virtual clock jumps to it when the expiration will wake the vCPU, as in the
 * single-threaded block), at most KVM_THREADED_BLOCK_SLICE_MS before re-checking. Nothing
 * here returns because no other wake source is local: that is the single-threaded rule.
 */
function kvmVcpuBlockThreaded(vcpu: KvmVcpu): number {
  const clock = vcpu.kvm.kernel.clock;
  const sources = vcpu.kvm.arch.timerSources;
  let sourceJumped = false;
  for (;;) {
    const seq = Atomics.load(vcpu.shared.words, VCPU_SHARED_WAKE);
    for (const t of sources) t.expire();
    if (kvmArchVcpuRunnable(vcpu) || kvmCpuHasPendingTimer(vcpu) || signalPending(vcpu)) {
      vcpu.stat.halt_wakeup++;
      return 1;
    }
    const lapicNext = kvmLapicNextTimerNs(vcpu);
    const next = nextWakeNs(lapicNext, sources);
    let ms = KVM_THREADED_BLOCK_SLICE_MS;
    if (next !== null) {
      if (clock.idleUntil) {
        const wakes = next === lapicNext ? kvmLapicTimerCanWake(vcpu) : !sourceJumped;
        if (wakes) {
          if (next !== lapicNext) sourceJumped = true;
          if (clock.idleUntil(next)) continue;
        }
      } else {
        const wait = Number(next - clock.now()) / 1e6;
        if (wait < ms) ms = wait;
      }
    }
    if (!kvmVcpuSleep(vcpu, seq, ms)) return kvmBlockNoWakeSource(vcpu);
  }
}

/**
 * vcpu_block: a vCPU that is not RUNNABLE (halted, or an AP waiting for INIT/SIPI) waits
 * for an event, then takes INIT/SIPI and leaves HALTED.
 */
function vcpuBlock(vcpu: KvmVcpu): number {
  if (!kvmArchVcpuRunnable(vcpu)) {
    const r = kvmVcpuBlock(vcpu);
    if (r <= 0) return r;
    // Woken by a timer or a signal, not by something it can take: the run loop injects
    // the timer or exits for the signal, and the vCPU keeps its state.
    if (!kvmArchVcpuRunnable(vcpu)) return 1;
  }
  kvmApicAcceptEvents(vcpu);
  const a = vcpu.arch;
  if (a.mpState === KVM_MP_STATE_HALTED || a.mpState === KVM_MP_STATE_AP_RESET_HOLD) {
    a.mpState = KVM_MP_STATE_RUNNABLE;
  }
  return 1;
}

/** vcpu_enter_guest: requests, event injection, one VM entry and the exit's handling. */
export function vcpuEnterGuest(vcpu: KvmVcpu): number {
  const ops = vcpu.kvm.ops;
  const run = vcpu.run;
  const apic = vcpu.arch.apic;
  // kvm_cpu_accept_dm_intr: with the PIC in the kernel, userspace's window is LINT0's.
  const reqIntWin =
    dmRequestForIrqInjection(vcpu) &&
    (apic ? kvmApicAcceptPicIntr(vcpu) : !vcpu.arch.interrupt.injected);
  if (vcpu.requests !== 0) {
    if (kvmCheckRequest(vcpu, KVM_REQ_TRIPLE_FAULT)) {
      run.exitReason = KVM_EXIT_SHUTDOWN;
      vcpu.mmioNeeded = false;
      return 0;
    }
    if (kvmCheckRequest(vcpu, KVM_REQ_MMU_RELOAD)) ops.loadMmuPgd(vcpu);
    if (kvmCheckRequest(vcpu, KVM_REQ_TLB_FLUSH)) {
      vcpu.stat.tlb_flush++;
      ops.flushTlbAll?.(vcpu);
    }
    if (kvmCheckRequest(vcpu, KVM_REQ_TLB_FLUSH_GUEST)) ops.flushTlbGuest?.(vcpu);
    if (kvmCheckRequest(vcpu, KVM_REQ_NMI)) processNmi(vcpu);
  }
  if (kvmCheckRequest(vcpu, KVM_REQ_EVENT) || reqIntWin) {
    vcpu.stat.req_event++;
    if (apic) {
      kvmApicAcceptEvents(vcpu);
      // INIT just reset the vCPU into wait-for-SIPI: no entry.
      if (vcpu.arch.mpState === KVM_MP_STATE_INIT_RECEIVED) return 1;
    }
    kvmCheckAndInjectEvents(vcpu);
    if (reqIntWin) ops.enableIrqWindow(vcpu);
  }
  ops.prepareSwitchToGuest?.(vcpu);
  // kvm_vcpu_exit_request: a signal that arrived while injecting cancels the entry.
  if (signalPending(vcpu)) {
    ops.cancelInjection(vcpu);
    return 1;
  }
  const entry = vcpu.kvm.kernel.trace.kvm_entry;
  if (entry.enabled) entry.emit({ vcpu_id: vcpu.vcpuId, rip: kvmRipRead(vcpu) });
  const fastpath = ops.vcpuRun(vcpu);
  vcpu.arch.lastVmentryCpu = vcpu.cpu;
  ops.handleExitIrqoff?.(vcpu);
  vcpu.stat.exits++;
  vcpu.kvm.kernel.vmExits++;
  return ops.handleExit(vcpu, fastpath);
}

// ───────────────────────────── exit handlers vendors call ─────────────────────────────

/** kvm_traced_exit: emit kvm_exit for the exit the vendor just took (its get_exit_info). */
export function traceKvmExit(vcpu: KvmVcpu): void {
  const tp = vcpu.kvm.kernel.trace.kvm_exit;
  if (!tp.enabled) return;
  const info = vcpu.kvm.ops.getExitInfo(vcpu);
  tp.emit({
    vcpu_id: vcpu.vcpuId,
    exit_reason: info.reason,
    exit_reason_name: vcpu.kvm.module.exitReasonName(info.reason),
    guest_rip: kvmRipRead(vcpu),
    isa: vcpu.kvm.module.isa,
    info1: info.info1,
    info2: info.info2,
    intr_info: info.intrInfo,
    error_code: info.errorCode,
  });
}

/** kvm_vcpu_do_singlestep: TF was set before the emulated instruction. */
function kvmVcpuDoSinglestep(vcpu: KvmVcpu): number {
  if ((vcpu.guestDebug & KVM_GUESTDBG_SINGLESTEP) !== 0) {
    const run = vcpu.run;
    run.debugDr6 = DR6_BS | DR6_ACTIVE_LOW;
    run.debugDr7 = vcpu.arch.dr7;
    run.debugPc = kvmGetLinearRip(vcpu);
    run.debugException = DB_VECTOR;
    run.exitReason = KVM_EXIT_DEBUG;
    return 0;
  }
  kvmQueueException(vcpu, DB_VECTOR, undefined, DR6_BS);
  return 1;
}

/** kvm_skip_emulated_instruction: RIP past the instruction, then a pending single-step trap. */
export function kvmSkipEmulatedInstruction(vcpu: KvmVcpu): number {
  const rflags = vcpu.kvm.ops.getRflags(vcpu);
  const r = vcpu.kvm.ops.skipEmulatedInstruction(vcpu);
  if (r === 0) return 0;
  if ((rflags & X86_EFLAGS_TF) !== 0) return kvmVcpuDoSinglestep(vcpu);
  return r;
}

/** kvm_register_read: a GPR as the current mode sees it (32 bits outside 64-bit mode). */
export function kvmRegisterReadMode(vcpu: KvmVcpu, reg: number): bigint {
  const v = kvmRegisterRead(vcpu, reg);
  return is64BitMode(vcpu) ? v : v & 0xffff_ffffn;
}

/** kvm_complete_insn_gp: #GP(0) when the emulation failed, else skip the instruction. */
export function kvmCompleteInsnGp(vcpu: KvmVcpu, err: number): number {
  if (err) {
    kvmInjectGp(vcpu, 0);
    return 1;
  }
  return kvmSkipEmulatedInstruction(vcpu);
}

/** kvm_emulate_as_nop: an exit handled by skipping the instruction. */
export function kvmEmulateAsNop(vcpu: KvmVcpu): number {
  return kvmSkipEmulatedInstruction(vcpu);
}

/** is_noncanonical_address for 48-bit linear addresses. */
export function isNoncanonicalAddress(v: bigint): boolean {
  return BigInt.asIntN(48, v) !== BigInt.asIntN(64, v);
}

/**
 * kvm_emulate_halt: skip HLT; with an in-kernel LAPIC the vCPU becomes HALTED and the run
 * loop blocks it until an interrupt (vcpu_block), else exit with KVM_EXIT_HLT.
 */
export function kvmEmulateHalt(vcpu: KvmVcpu): number {
  const ret = kvmSkipEmulatedInstruction(vcpu);
  vcpu.stat.halt_exits++;
  if (vcpu.arch.apic) {
    vcpu.arch.mpState = KVM_MP_STATE_HALTED;
    return ret;
  }
  vcpu.run.exitReason = KVM_EXIT_HLT;
  return ret && 0;
}

/** kvm_emulate_cpuid: answered from the KVM_SET_CPUID2 table; RIP skipped. */
export function kvmEmulateCpuid(vcpu: KvmVcpu): number {
  const eax = Number(kvmRegisterRead(vcpu, VCPU_REGS_RAX) & 0xffff_ffffn);
  const ecx = Number(kvmRegisterRead(vcpu, VCPU_REGS_RCX) & 0xffff_ffffn);
  const r = kvmCpuid(vcpu, eax, ecx, false);
  kvmRegisterWrite(vcpu, VCPU_REGS_RAX, BigInt(r.eax));
  kvmRegisterWrite(vcpu, VCPU_REGS_RBX, BigInt(r.ebx));
  kvmRegisterWrite(vcpu, VCPU_REGS_RCX, BigInt(r.ecx));
  kvmRegisterWrite(vcpu, VCPU_REGS_RDX, BigInt(r.edx));
  return kvmSkipEmulatedInstruction(vcpu);
}

/** kvm_emulate_rdmsr: EDX:EAX = MSR[ECX], or #GP when the MSR is refused. */
export function kvmEmulateRdmsr(vcpu: KvmVcpu): number {
  const ecx = Number(kvmRegisterRead(vcpu, VCPU_REGS_RCX) & 0xffff_ffffn);
  const msr: MsrData = { hostInitiated: false, index: ecx, data: 0n };
  if (kvmGetMsr(vcpu, msr) !== 0) {
    kvmInjectGp(vcpu, 0);
    return 1;
  }
  kvmRegisterWrite(vcpu, VCPU_REGS_RAX, msr.data & 0xffff_ffffn);
  kvmRegisterWrite(vcpu, VCPU_REGS_RDX, (msr.data >> 32n) & 0xffff_ffffn);
  return kvmSkipEmulatedInstruction(vcpu);
}

/** kvm_emulate_wrmsr: MSR[ECX] = EDX:EAX, or #GP. */
export function kvmEmulateWrmsr(vcpu: KvmVcpu): number {
  const ecx = Number(kvmRegisterRead(vcpu, VCPU_REGS_RCX) & 0xffff_ffffn);
  const data =
    ((kvmRegisterRead(vcpu, VCPU_REGS_RDX) & 0xffff_ffffn) << 32n) |
    (kvmRegisterRead(vcpu, VCPU_REGS_RAX) & 0xffff_ffffn);
  if (kvmSetMsr(vcpu, { hostInitiated: false, index: ecx, data }) !== 0) {
    kvmInjectGp(vcpu, 0);
    return 1;
  }
  return kvmSkipEmulatedInstruction(vcpu);
}

/** Fill kvm_run.io and the PIO data page for a port access that goes to userspace. */
function pioExit(vcpu: KvmVcpu, size: number, port: number, count: number, isIn: boolean): void {
  const run = vcpu.run;
  run.exitReason = KVM_EXIT_IO;
  run.ioDirection = isIn ? KVM_EXIT_IO_IN : KVM_EXIT_IO_OUT;
  run.ioSize = size;
  run.ioPort = port;
  run.ioCount = count;
  run.ioDataOffset = BigInt(KVM_PIO_PAGE_OFFSET * PAGE_SIZE);
  const pio = vcpu.arch.pio;
  pio.count = count;
  pio.port = port;
  pio.size = size;
  pio.in = isIn;
}

function tracePio(vcpu: KvmVcpu, rw: number, port: number, size: number, count: number) {
  const tp = vcpu.kvm.kernel.trace.kvm_pio;
  if (!tp.enabled) return;
  const d = vcpu.pioData;
  const val =
    size === 1
      ? d[0]!
      : size === 2
        ? d[0]! | (d[1]! << 8)
        : new DataView(d.buffer, d.byteOffset).getUint32(0, true);
  tp.emit({ vcpu_id: vcpu.vcpuId, rw, port, size, count, val });
}

/**
 * kvm_fast_pio: a non-string IN/OUT. Nothing in the kernel claims ports yet, so the
 * access goes to userspace. OUT leaves RIP on the instruction until the next KVM_RUN
 * (complete_fast_pio_out skips it) — except port 0x7e, which old userspace expects
 * skipped first (KVM_X86_QUIRK_OUT_7E_INC_RIP). IN finishes on the next KVM_RUN.
 */
export function kvmFastPio(vcpu: KvmVcpu, size: number, port: number, isIn: boolean): number {
  const dev = pioBusDevice(vcpu.kvm, port, isIn);
  if (dev) {
    // kernel_pio: an in-kernel device claims the port; the instruction completes here.
    if (isIn) {
      const v = dev.read(port, size);
      vcpu.pioData.fill(0, 0, size);
      vcpu.pioData[0] = v;
      tracePio(vcpu, 0, port, size, 1);
      const rax = kvmRaxRead(vcpu);
      const keep = size < 4 ? rax & ~((1n << BigInt(8 * size)) - 1n) : 0n;
      kvmRaxWrite(vcpu, keep | BigInt(v));
    } else {
      const rax = kvmRaxRead(vcpu);
      for (let i = 0; i < size; i++) vcpu.pioData[i] = Number((rax >> BigInt(8 * i)) & 0xffn);
      tracePio(vcpu, 1, port, size, 1);
      // A coalesced zone keeps the whole value; the PICs and the PIT are byte-wide.
      const mask = dev.writeOnly ? (1n << BigInt(8 * size)) - 1n : 0xffn;
      dev.write(port, size, Number(rax & mask));
    }
    return kvmSkipEmulatedInstruction(vcpu);
  }
  if (isIn) {
    pioExit(vcpu, size, port, 1, true);
    vcpu.arch.cuiLinearRip = kvmGetLinearRip(vcpu);
    vcpu.arch.completeUserspaceIo = completeFastPioIn;
    return 0;
  }
  const rax = kvmRaxRead(vcpu);
  for (let i = 0; i < size; i++) vcpu.pioData[i] = Number((rax >> BigInt(8 * i)) & 0xffn);
  pioExit(vcpu, size, port, 1, false);
  tracePio(vcpu, 1, port, size, 1);
  if (port === 0x7e) {
    vcpu.arch.completeUserspaceIo = (v) => {
      v.arch.pio.count = 0;
      return 1;
    };
    return kvmSkipEmulatedInstruction(vcpu) && 0;
  }
  vcpu.arch.cuiLinearRip = kvmGetLinearRip(vcpu);
  vcpu.arch.completeUserspaceIo = completeFastPioOut;
  return 0;
}

/** complete_fast_pio_out: skip the OUT unless userspace moved RIP meanwhile. */
function completeFastPioOut(vcpu: KvmVcpu): number {
  vcpu.arch.pio.count = 0;
  if (kvmGetLinearRip(vcpu) !== vcpu.arch.cuiLinearRip) return 1;
  return kvmSkipEmulatedInstruction(vcpu);
}

/** complete_fast_pio_in: the data userspace left in the PIO page goes to AL/AX/EAX. */
function completeFastPioIn(vcpu: KvmVcpu): number {
  const { size, port } = vcpu.arch.pio;
  if (kvmGetLinearRip(vcpu) !== vcpu.arch.cuiLinearRip) {
    vcpu.arch.pio.count = 0;
    return 1;
  }
  // Below 32 bits the rest of RAX is kept; a 32-bit IN zero-extends.
  let val = size < 4 ? kvmRaxRead(vcpu) : 0n;
  for (let i = 0; i < size; i++) {
    const shift = BigInt(8 * i);
    val = (val & ~(0xffn << shift)) | (BigInt(vcpu.pioData[i]!) << shift);
  }
  tracePio(vcpu, 0, port, size, 1);
  vcpu.arch.pio.count = 0;
  kvmRaxWrite(vcpu, val);
  return kvmSkipEmulatedInstruction(vcpu);
}

// ── the emulator's view of memory and ports (x86_emulate_ops) ──

/** Byte-wise little-endian value of up to 8 bytes, for tracepoints. */
const leValue = (b: Uint8Array): bigint => {
  let v = 0n;
  for (let i = Math.min(b.length, 8) - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
};

function traceMmio(vcpu: KvmVcpu, type: number, gpa: number, data: Uint8Array | null, len: number) {
  const tp = vcpu.kvm.kernel.trace.kvm_mmio;
  if (tp.enabled) {
    tp.emit({ vcpu_id: vcpu.vcpuId, type, len, gpa: BigInt(gpa), val: data ? leValue(data) : 0n });
  }
}

/** Per vCPU: PIO OUT data an emulated instruction produced, waiting for the exit. */
const emulatorOpsCache = new WeakMap<KvmVcpu, X86EmulateOps>();

/** The x86_emulate_ops KVM gives the vendor's emulator for one vCPU. */
export function emulatorOps(vcpu: KvmVcpu): X86EmulateOps {
  let ops = emulatorOpsCache.get(vcpu);
  if (ops) return ops;
  const kvm = vcpu.kvm;
  ops = {
    readEmulated(gpa, dst) {
      // A replay after userspace answered: the same read gets the same bytes.
      if (vcpu.mmioReadCacheIndex < vcpu.mmioReadCache.length) {
        dst.set(vcpu.mmioReadCache[vcpu.mmioReadCacheIndex++]!.subarray(0, dst.length));
        return X86EMUL_CONTINUE;
      }
      // RAM pieces are read now; MMIO pieces become fragments that are views of one
      // buffer, so userspace's answers assemble the read in place.
      const buf = new Uint8Array(dst.length);
      const frags: KvmMmioFragment[] = [];
      forEachPiece(kvm, gpa, dst.length, (slot, off, at, n) => {
        if (slot) buf.set(slot.bytes.subarray(off, off + n), at);
        else frags.push({ gpa: gpa + at, len: n, data: buf.subarray(at, at + n) });
      });
      // vcpu_mmio_read: the in-kernel LAPIC, then the I/O APIC, claim their pages.
      if (frags.length > 0 && kernelMmioRead(vcpu, frags)) frags.length = 0;
      if (frags.length === 0) {
        dst.set(buf);
        return X86EMUL_CONTINUE;
      }
      vcpu.mmioNeeded = true;
      vcpu.mmioIsWrite = false;
      vcpu.mmioCurFragment = 0;
      vcpu.mmioFragments.length = 0;
      vcpu.mmioFragments.push(...frags);
      vcpu.mmioReadBuffer = buf;
      return X86EMUL_IO_NEEDED;
    },
    writeEmulated(gpa, src) {
      forEachPiece(kvm, gpa, src.length, (slot, off, at, n) => {
        if (slot && (slot.flags & 2) === 0) {
          slot.bytes.set(src.subarray(at, at + n), off);
          markPageDirtyInSlot(slot, Math.floor((gpa + at) / PAGE_SIZE));
        } else if (!kernelMmioWrite(vcpu, gpa + at, src.subarray(at, at + n))) {
          vcpu.mmioFragments.push({ gpa: gpa + at, len: n, data: src.slice(at, at + n) });
          vcpu.mmioNeeded = true;
          vcpu.mmioIsWrite = true;
        }
      });
      return X86EMUL_CONTINUE;
    },
    pioInEmulated(size, port, count, dst) {
      // The data travels through the one PIO page of kvm_run. Linux's emulator never asks
      // for more (pio_in_emulated caps a REP INS at 1 KiB); a vendor emulator that does
      // gets a failed emulation, not an I/O exit userspace could not read.
      if (!pioFitsPage(size, count)) return X86EMUL_UNHANDLEABLE;
      const dev = pioBusDevice(kvm, port, true);
      if (dev) {
        for (let i = 0; i < count; i++) {
          dst.fill(0, i * size, (i + 1) * size);
          dst[i * size] = dev.read(port, size);
        }
        return X86EMUL_CONTINUE;
      }
      if (vcpu.pioReadCache) {
        dst.set(vcpu.pioReadCache.subarray(0, size * count));
        vcpu.pioReadCache = null;
        tracePio(vcpu, 0, port, size, count);
        return X86EMUL_CONTINUE;
      }
      pioExit(vcpu, size, port, count, true);
      return X86EMUL_IO_NEEDED;
    },
    pioOutEmulated(size, port, count, src) {
      if (!pioFitsPage(size, count)) return X86EMUL_UNHANDLEABLE;
      const dev = pioBusDevice(kvm, port, false);
      if (dev) {
        for (let i = 0; i < count; i++) {
          let v = src[i * size]!;
          // A coalesced zone keeps the whole value; the PICs and the PIT are byte-wide.
          if (dev.writeOnly) for (let k = 1; k < size; k++) v |= src[i * size + k]! << (8 * k);
          dev.write(port, size, v >>> 0);
        }
        return X86EMUL_CONTINUE;
      }
      vcpu.pioData.set(src.subarray(0, size * count));
      pioExit(vcpu, size, port, count, false);
      tracePio(vcpu, 1, port, size, count);
      return X86EMUL_CONTINUE;
    },
  };
  emulatorOpsCache.set(vcpu, ops);
  return ops;
}

/**
 * vcpu_mmio_read's in-kernel devices for the MMIO pieces of a read: every piece must be
 * claimed (LAPIC page, I/O APIC window) for the read to complete in the kernel.
 */
function kernelMmioRead(vcpu: KvmVcpu, frags: readonly KvmMmioFragment[]): boolean {
  if (!vcpu.arch.apic && !vcpu.kvm.arch.vioapic) return false;
  const ioapic = vcpu.kvm.arch.vioapic;
  const home = vcpu.kvm.home;
  for (const f of frags) {
    if (!kvmLapicMmioRead(vcpu, f.gpa, f.data)) {
      if (home && homeIoapicInRange(home, f.gpa)) home.mmio(f.gpa, f.len, false, f.data);
      else if (!ioapic || !ioapicInRange(ioapic, f.gpa)) return false;
      else ioapicMmioRead(ioapic, f.gpa, f.data);
    }
    traceMmio(vcpu, KVM_TRACE_MMIO_READ, f.gpa, f.data, f.len);
  }
  return true;
}

/** The home's I/O APIC window, as a shard sees it. */
const homeIoapicInRange = (home: KvmHome, gpa: number): boolean =>
  gpa >= home.ioapicBase && gpa < home.ioapicBase + IOAPIC_MEM_LENGTH;

/** vcpu_mmio_write's in-kernel devices: true when the LAPIC or the I/O APIC took the write. */
function kernelMmioWrite(vcpu: KvmVcpu, gpa: number, src: Uint8Array): boolean {
  const coalesced = kvmCoalescedMmio(vcpu.kvm);
  if (coalesced.mmioInRange(gpa, src.length) && coalesced.write(gpa, src, false)) {
    traceMmio(vcpu, KVM_TRACE_MMIO_WRITE, gpa, src, src.length);
    return true;
  }
  if (!kvmLapicMmioWrite(vcpu, gpa, src)) {
    const ioapic = vcpu.kvm.arch.vioapic;
    const home = vcpu.kvm.home;
    if (home && homeIoapicInRange(home, gpa)) home.mmio(gpa, src.length, true, src);
    else if (!ioapic || !ioapicInRange(ioapic, gpa)) return false;
    else ioapicMmioWrite(ioapic, gpa, src);
  }
  traceMmio(vcpu, KVM_TRACE_MMIO_WRITE, gpa, src, src.length);
  return true;
}

/** Per vCPU: the emulator's view of it, and the CPUID function of its current table. */
const emulatorVcpuCache = new WeakMap<KvmVcpu, ReturnType<typeof makeEmulatorVcpu>>();

/**
 * The vCPU half of x86_emulate_ops that KVM gives the instruction emulator (the x86
 * package's x86EmulateInsn, which the vendor module runs): registers through KVM's caches
 * and the vendor's segment ops, RAM from the memslots (address space 0), CPUID from the
 * KVM_SET_CPUID2 table, the FXSAVE image, the interrupt shadow, exception queueing.
 */
export function emulatorVcpu(vcpu: KvmVcpu) {
  let v = emulatorVcpuCache.get(vcpu);
  if (!v) {
    v = makeEmulatorVcpu(vcpu);
    emulatorVcpuCache.set(vcpu, v);
  }
  return v;
}

function makeEmulatorVcpu(vcpu: KvmVcpu) {
  let cpuidTable: unknown = null;
  let cpuid = (_leaf: number, _subleaf: number, _out: Int32Array): void => {};
  return {
    ramGeneration: () => vcpu.kvm.memslots[0]!.generation,
    *ramRanges() {
      for (const slot of vcpu.kvm.memslots[0]!.slots) {
        yield {
          base: slot.baseGfn * PAGE_SIZE,
          bytes: slot.bytes,
          // Writes to these must reach writeEmulated (refused, or marked dirty).
          readonly: (slot.flags & (KVM_MEM_READONLY | KVM_MEM_LOG_DIRTY_PAGES)) !== 0,
        };
      }
    },
    ramByte(gpa: number): number {
      const slot = gfnToMemslot(vcpu.kvm, Math.floor(gpa / PAGE_SIZE));
      return slot ? slot.bytes[gpa - slot.baseGfn * PAGE_SIZE]! : -1;
    },
    cpuidSource() {
      const entries = vcpu.arch.cpuidEntries;
      if (entries !== cpuidTable) {
        cpuidTable = entries;
        cpuid = (leaf, subleaf, out) => {
          const r = kvmCpuid(vcpu, leaf, subleaf, false);
          out[0] = r.eax;
          out[1] = r.ebx;
          out[2] = r.ecx;
          out[3] = r.edx;
        };
      }
      return cpuid;
    },
    getRegs: () => getRegs(vcpu),
    getSregs: () => getSregs(vcpu),
    fxsaveImage: () => vcpu.arch.guestFpu,
    fxsaveChanged() {
      vcpu.arch.guestFpuDirty = true;
    },
    writeGpr: (reg: number, value: bigint) => kvmRegisterWrite(vcpu, reg, value),
    setSegment: (seg: KvmSegment, sreg: number) => vcpu.kvm.ops.setSegment(vcpu, seg, sreg),
    writeRip: (rip: bigint) => kvmRipWrite(vcpu, rip),
    setRflags: (rflags: number) => kvmSetRflags(vcpu, rflags),
    getInterruptShadow: () => vcpu.kvm.ops.getInterruptShadow(vcpu),
    /** toggle_interruptibility: a shadow that ends may let a pending event in. */
    setInterruptShadow(mask: number) {
      vcpu.kvm.ops.setInterruptShadow(vcpu, mask);
      if (mask === 0) kvmMakeRequest(vcpu, KVM_REQ_EVENT);
    },
    queueException(vector: number, errorCode: number | undefined, cr2?: bigint) {
      if (cr2 !== undefined) {
        // KVM's injection delivers no #PF payload: CR2 is the emulator's to write.
        vcpu.arch.cr2 = cr2;
        kvmQueueException(vcpu, vector, errorCode, cr2);
      } else {
        kvmQueueException(vcpu, vector, errorCode);
      }
    },
    setInsnBytes(bytes: Uint8Array) {
      vcpu.emulatedInsnBytes = bytes;
    },
  };
}

/** A port access of `count` elements of `size` bytes fits in the PIO data page. */
const pioFitsPage = (size: number, count: number): boolean =>
  (size === 1 || size === 2 || size === 4) &&
  Number.isInteger(count) &&
  count >= 1 &&
  size * count <= PAGE_SIZE;

/** Split a guest-physical range at page boundaries and look each piece's slot up. */
function forEachPiece(
  kvm: Kvm,
  gpa: number,
  len: number,
  fn: (slot: ReturnType<typeof gfnToMemslot>, off: number, at: number, n: number) => void,
): void {
  let at = 0;
  while (at < len) {
    const a = gpa + at;
    const n = Math.min(len - at, PAGE_SIZE - (a % PAGE_SIZE));
    const gfn = Math.floor(a / PAGE_SIZE);
    const slot = gfnToMemslot(kvm, gfn);
    fn(slot, slot ? a - slot.baseGfn * PAGE_SIZE : 0, at, n);
    at += n;
  }
}

/** Point kvm_run.mmio at the current fragment (≤ 8 bytes of it). */
function mmioExit(vcpu: KvmVcpu): void {
  const frag = vcpu.mmioFragments[vcpu.mmioCurFragment]!;
  const run = vcpu.run;
  const len = Math.min(8, frag.len);
  run.exitReason = KVM_EXIT_MMIO;
  run.mmioPhysAddr = BigInt(frag.gpa);
  run.mmioLen = len;
  run.mmioIsWrite = vcpu.mmioIsWrite ? 1 : 0;
  run.mmioData.fill(0);
  if (vcpu.mmioIsWrite) {
    run.mmioData.set(frag.data.subarray(0, len));
    traceMmio(vcpu, KVM_TRACE_MMIO_WRITE, frag.gpa, frag.data.subarray(0, len), len);
  } else {
    traceMmio(vcpu, KVM_TRACE_MMIO_READ_UNSATISFIED, frag.gpa, null, len);
  }
  vcpu.stat.mmio_exits++;
  vcpu.arch.completeUserspaceIo = completeEmulatedMmio;
}

/**
 * complete_emulated_mmio: take userspace's answer for this fragment, move to the next
 * piece; when all are done a write is finished and a read replays the instruction.
 */
function completeEmulatedMmio(vcpu: KvmVcpu): number {
  const frag = vcpu.mmioFragments[vcpu.mmioCurFragment]!;
  const len = Math.min(8, frag.len);
  if (!vcpu.mmioIsWrite) {
    frag.data.set(vcpu.run.mmioData.subarray(0, len));
    traceMmio(vcpu, KVM_TRACE_MMIO_READ, frag.gpa, vcpu.run.mmioData.subarray(0, len), len);
  }
  if (frag.len <= 8) {
    vcpu.mmioCurFragment++;
  } else {
    vcpu.mmioFragments[vcpu.mmioCurFragment] = {
      gpa: frag.gpa + len,
      len: frag.len - len,
      data: frag.data.subarray(len),
    };
  }
  if (vcpu.mmioCurFragment < vcpu.mmioFragments.length) {
    mmioExit(vcpu);
    return 0;
  }
  vcpu.mmioNeeded = false;
  vcpu.mmioFragments.length = 0;
  if (vcpu.mmioIsWrite) {
    endEmulation(vcpu);
    return 1;
  }
  // The answered pieces are in the read's buffer: replay the instruction.
  vcpu.mmioReadCache.push(vcpu.mmioReadBuffer!);
  vcpu.mmioReadBuffer = null;
  return x86EmulateInstruction(vcpu, 0);
}

/** complete_emulated_pio: userspace's IN data replays the instruction. */
function completeEmulatedPio(vcpu: KvmVcpu): number {
  const { size, count } = vcpu.arch.pio;
  vcpu.pioReadCache = vcpu.pioData.slice(0, size * count);
  vcpu.arch.pio.count = 0;
  return x86EmulateInstruction(vcpu, 0);
}

function endEmulation(vcpu: KvmVcpu): void {
  vcpu.mmioReadCache.length = 0;
  vcpu.mmioReadCacheIndex = 0;
  vcpu.pioReadCache = null;
}

/**
 * prepare_emulation_failure_exit: KVM_EXIT_INTERNAL_ERROR / EMULATION with the
 * instruction bytes (when known) and the exit information (reason, info1, info2,
 * intr_info, error_code, last CPU).
 */
export function prepareEmulationFailureExit(vcpu: KvmVcpu): void {
  const run = vcpu.run;
  run.clearExitUnion();
  run.exitReason = KVM_EXIT_INTERNAL_ERROR;
  run.internalSuberror = KVM_INTERNAL_ERROR_EMULATION;
  let ndata = 0;
  const insn = vcpu.emulatedInsnBytes;
  if (insn && insn.length > 0) {
    run.emulationFailureFlags = BigInt(KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES);
    const n = Math.min(15, insn.length);
    run.emulationFailureInsnSize = n;
    run.emulationFailureInsnBytes.set(insn.subarray(0, n));
    ndata = 3;
  }
  const info = vcpu.kvm.ops.getExitInfo(vcpu);
  const extra = [
    BigInt(info.reason >>> 0),
    info.info1,
    info.info2,
    BigInt(info.intrInfo >>> 0),
    BigInt(info.errorCode >>> 0),
    BigInt(Math.max(0, vcpu.arch.lastVmentryCpu)),
  ];
  extra.forEach((v, i) => {
    run.setInternalData(ndata + i, u64(v));
  });
  run.internalNdata = ndata + extra.length;
}

/**
 * handle_emulation_failure: #UD for the guest; at CPL 0 (or when told to skip) also an
 * exit to userspace with KVM_EXIT_INTERNAL_ERROR.
 */
function handleEmulationFailure(vcpu: KvmVcpu, emulationType: number): number {
  vcpu.stat.insn_emulation_fail++;
  endEmulation(vcpu);
  vcpu.mmioNeeded = false;
  vcpu.mmioFragments.length = 0;
  if ((emulationType & EMULTYPE_SKIP) !== 0) {
    prepareEmulationFailureExit(vcpu);
    return 0;
  }
  kvmQueueException(vcpu, UD_VECTOR);
  if (vcpu.kvm.ops.getCpl(vcpu) === 0) {
    prepareEmulationFailureExit(vcpu);
    return 0;
  }
  return 1;
}

/**
 * x86_emulate_instruction: run the vendor-supplied emulator on the instruction at RIP and
 * route what it touched: MMIO and port accesses become KVM_EXIT_MMIO / KVM_EXIT_IO, reads
 * replay on the next KVM_RUN, failures become #UD / KVM_EXIT_INTERNAL_ERROR.
 */
export function x86EmulateInstruction(vcpu: KvmVcpu, emulationType: number): number {
  const emulate = vcpu.kvm.ops.emulateInstruction;
  if (!emulate) return handleEmulationFailure(vcpu, emulationType);
  vcpu.stat.insn_emulation++;
  vcpu.mmioReadCacheIndex = 0;
  vcpu.mmioFragments.length = 0;
  vcpu.mmioNeeded = false;
  vcpu.arch.pio.count = 0;
  const r = emulate.call(vcpu.kvm.ops, vcpu, emulatorOps(vcpu), emulationType);
  switch (r) {
    case X86EMUL_CONTINUE:
      if (vcpu.arch.pio.count > 0 && !vcpu.arch.pio.in) {
        // OUT data is in the PIO page and the instruction has retired.
        vcpu.arch.pio.count = 0;
        endEmulation(vcpu);
        return 0;
      }
      if (vcpu.mmioNeeded && vcpu.mmioIsWrite) {
        vcpu.mmioCurFragment = 0;
        mmioExit(vcpu);
        return 0;
      }
      endEmulation(vcpu);
      return 1;
    case X86EMUL_IO_NEEDED:
      if (vcpu.arch.pio.count > 0 && vcpu.arch.pio.in) {
        vcpu.arch.completeUserspaceIo = completeEmulatedPio;
        return 0;
      }
      if (vcpu.mmioNeeded) {
        mmioExit(vcpu);
        return 0;
      }
      return handleEmulationFailure(vcpu, emulationType);
    case X86EMUL_PROPAGATE_FAULT:
    case X86EMUL_RETRY_INSTR:
      endEmulation(vcpu);
      return 1;
    default:
      return handleEmulationFailure(vcpu, emulationType);
  }
}

/**
 * kvm_prepare_unexpected_reason_exit: a vendor exit code with no handler becomes
 * KVM_EXIT_INTERNAL_ERROR / UNEXPECTED_EXIT_REASON (data: the raw code, the last CPU).
 */
export function kvmPrepareUnexpectedReasonExit(vcpu: KvmVcpu, exitReason: number): void {
  const run = vcpu.run;
  run.clearExitUnion();
  run.exitReason = KVM_EXIT_INTERNAL_ERROR;
  run.internalSuberror = KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON;
  run.internalNdata = 2;
  run.setInternalData(0, BigInt(exitReason >>> 0));
  run.setInternalData(1, BigInt(Math.max(0, vcpu.arch.lastVmentryCpu)));
}

/** PFERR_* bits of a page-fault / EPT-violation error code. */
export const PFERR_PRESENT_MASK = 1 << 0;
export const PFERR_WRITE_MASK = 1 << 1;
export const PFERR_USER_MASK = 1 << 2;
export const PFERR_FETCH_MASK = 1 << 4;

/** RET_PF_*: what kvmMmuPageFault did. */
export const RET_PF_CONTINUE = 0;
export const RET_PF_RETRY = 1;
export const RET_PF_EMULATE = 2;
export const RET_PF_FIXED = 4;

/**
 * kvm_mmu_page_fault for a two-dimensional (EPT/NPT) fault at `gpa`: RAM in a slot is
 * fixed (dirty-logged on write, and the vendor maps it and retries); no slot, or a write
 * to a read-only slot, is MMIO — the instruction is emulated and its access goes to
 * userspace. Returns 1 to resume the guest or 0 to exit to userspace.
 */
export function kvmMmuPageFault(vcpu: KvmVcpu, gpa: number, errorCode: number): number {
  vcpu.stat.pf_taken++;
  const gfn = Math.floor(gpa / PAGE_SIZE);
  const slot = gfnToMemslot(vcpu.kvm, gfn);
  const write = (errorCode & PFERR_WRITE_MASK) !== 0;
  if (slot && !(write && (slot.flags & 2) !== 0)) {
    if (write) markPageDirtyInSlot(slot, gfn);
    return 1;
  }
  if (!slot) vcpu.stat.pf_mmio_spte_created++;
  return x86EmulateInstruction(vcpu, 0);
}

export const readyForInterruptInjection = kvmVcpuReadyForInterruptInjection;
export { X86_EFLAGS_IF };
