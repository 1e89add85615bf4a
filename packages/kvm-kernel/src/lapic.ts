/**
 * arch/x86/kvm/lapic.c: the in-kernel local APIC of one vCPU (struct kvm_lapic). Its
 * registers live in a 4 KiB page laid out like the xAPIC MMIO page (register at offset X
 * at byte X), which is what KVM_GET_LAPIC / KVM_SET_LAPIC copy (the first 1 KiB).
 *
 * Reached three ways: xAPIC MMIO at the APIC base (the emulator's reads and writes, before
 * KVM_EXIT_MMIO), the x2APIC MSRs 0x800–0x8FF when IA32_APIC_BASE.EXTD is set, and the
 * interrupt paths (IPIs, the I/O APIC, the PIC through LINT0, the APIC timer).
 *
 * The register page and what other vCPUs may change (pending INIT/SIPI, the SIPI vector,
 * queued NMIs, the arbitration counter, requests) live in the vCPU's KvmVcpuShared, so a
 * thread that does not own the vCPU can deliver to it through a remote stub
 * (kvmCreateRemoteVcpu): apicAcceptIrq and the destination checks touch only that shared
 * state, IRR and TMR bits with Atomics.or/and (Linux's set_bit on apic->regs). The
 * timer, the ISR and the rest of the page are the owner's.
 */

import { guestCpuidHas } from "./cpuid.js";
import { kvmIoapicUpdateEoi } from "./ioapic.js";
import { type KvmLapicIrq, kvmIrqDeliveryToApic } from "./irq_comm.js";
import {
  KVM_IRQCHIP_KERNEL,
  KVM_REQ_EVENT,
  type Kvm,
  KvmVcpu,
  type KvmVcpuShared,
  VCPU_SHARED_APIC_EVENTS,
  VCPU_SHARED_ARB_PRIO,
  VCPU_SHARED_SIPI_VECTOR,
  VCPU_SREG_CS,
} from "./kvm_host.js";
import {
  APIC_DEFAULT_PHYS_BASE,
  MSR_IA32_APICBASE_BSP,
  MSR_IA32_APICBASE_ENABLE,
  X2APIC_ENABLE,
} from "./msr-index.js";
import { EINVAL } from "./uapi/errno.js";
import {
  KVM_APIC_REG_SIZE,
  KVM_MP_STATE_INIT_RECEIVED,
  KVM_MP_STATE_RUNNABLE,
  PAGE_SIZE,
} from "./uapi/kvm.js";
import { HOST_TSC_KHZ, kvmInjectNmi, kvmMakeRequest, kvmRipWrite, kvmVcpuReset } from "./x86.js";

// ── arch/x86/include/asm/apicdef.h ──

export const APIC_ID = 0x20;
export const APIC_LVR = 0x30;
export const APIC_TASKPRI = 0x80;
export const APIC_ARBPRI = 0x90;
export const APIC_PROCPRI = 0xa0;
export const APIC_EOI = 0xb0;
export const APIC_RRR = 0xc0;
export const APIC_LDR = 0xd0;
export const APIC_DFR = 0xe0;
export const APIC_SPIV = 0xf0;
export const APIC_ISR = 0x100;
export const APIC_TMR = 0x180;
export const APIC_IRR = 0x200;
export const APIC_ESR = 0x280;
export const APIC_LVTCMCI = 0x2f0;
export const APIC_ICR = 0x300;
export const APIC_ICR2 = 0x310;
export const APIC_LVTT = 0x320;
export const APIC_LVTTHMR = 0x330;
export const APIC_LVTPC = 0x340;
export const APIC_LVT0 = 0x350;
export const APIC_LVT1 = 0x360;
export const APIC_LVTERR = 0x370;
export const APIC_TMICT = 0x380;
export const APIC_TMCCT = 0x390;
export const APIC_TDCR = 0x3e0;
export const APIC_SELF_IPI = 0x3f0;

export const APIC_SPIV_APIC_ENABLED = 1 << 8;
export const APIC_SPIV_DIRECTED_EOI = 1 << 12;
export const APIC_VECTOR_MASK = 0xff;
export const APIC_MODE_MASK = 0x700;
export const APIC_DM_FIXED = 0x000;
export const APIC_DM_LOWEST = 0x100;
export const APIC_DM_SMI = 0x200;
export const APIC_DM_REMRD = 0x300;
export const APIC_DM_NMI = 0x400;
export const APIC_DM_INIT = 0x500;
export const APIC_DM_STARTUP = 0x600;
export const APIC_DM_EXTINT = 0x700;
export const APIC_DEST_PHYSICAL = 0x000;
export const APIC_DEST_LOGICAL = 0x800;
export const APIC_ICR_BUSY = 0x1000;
export const APIC_INT_ASSERT = 0x4000;
export const APIC_INT_LEVELTRIG = 0x8000;
export const APIC_SHORT_MASK = 0xc_0000;
export const APIC_DEST_NOSHORT = 0x0_0000;
export const APIC_DEST_SELF = 0x4_0000;
export const APIC_DEST_ALLINC = 0x8_0000;
export const APIC_DEST_ALLBUT = 0xc_0000;
export const APIC_SEND_PENDING = 1 << 12;
export const APIC_INPUT_POLARITY = 1 << 13;
export const APIC_LVT_REMOTE_IRR = 1 << 14;
export const APIC_LVT_LEVEL_TRIGGER = 1 << 15;
export const APIC_LVT_MASKED = 1 << 16;
export const APIC_LVT_TIMER_ONESHOT = 0;
export const APIC_LVT_TIMER_PERIODIC = 1 << 17;
export const APIC_LVT_TIMER_TSCDEADLINE = 2 << 17;
export const APIC_DFR_FLAT = 0xffff_ffff;
export const APIC_DFR_CLUSTER = 0x0fff_ffff;
export const APIC_BROADCAST = 0xff;
export const X2APIC_BROADCAST = 0xffff_ffff;
/** MSR of register offset X in x2APIC mode: 0x800 + X / 16. */
export const APIC_BASE_MSR = 0x800;
export const LAPIC_MMIO_LENGTH = 0x1000;

/** KVM's local APIC version (0x14, an integrated APIC) and LVT count (no CMCI: 6). */
export const APIC_VERSION = 0x14;
const KVM_APIC_NR_LVT_ENTRIES = 6;
/** The APIC bus runs at 1 GHz in KVM (APIC_BUS_CYCLE_NS). */
const APIC_BUS_CYCLE_NS = 1n;
/** min_timer_period_us: periodic timers faster than 200 µs are slowed to it. */
const MIN_TIMER_PERIOD_NS = 200_000n;

/** The six LVT registers in LVT order (timer, thermal, perf, LINT0, LINT1, error). */
const LVT_REGS = [APIC_LVTT, APIC_LVTTHMR, APIC_LVTPC, APIC_LVT0, APIC_LVT1, APIC_LVTERR];
const LVT_MASK = APIC_LVT_MASKED | APIC_SEND_PENDING | APIC_VECTOR_MASK;
const LINT_MASK =
  LVT_MASK | APIC_MODE_MASK | APIC_INPUT_POLARITY | APIC_LVT_REMOTE_IRR | APIC_LVT_LEVEL_TRIGGER;
/** apic_lvt_mask: the writable bits of each LVT register (the timer's mode bits added later). */
const LVT_WRITABLE = [
  LVT_MASK,
  LVT_MASK | APIC_MODE_MASK,
  LVT_MASK | APIC_MODE_MASK,
  LINT_MASK,
  LINT_MASK,
  LVT_MASK,
];

/** Pending INIT/SIPI bits (KVM_APIC_INIT, KVM_APIC_SIPI). */
const KVM_APIC_INIT = 1;
const KVM_APIC_SIPI = 2;

/** kvm_apic tracepoint: KVM_APIC_READ / KVM_APIC_WRITE. */
const KVM_APIC_READ = 0;
const KVM_APIC_WRITE = 1;

/** struct kvm_timer: the APIC timer, in nanoseconds of the kernel's clock. */
interface KvmTimer {
  /** The LVTT mode bits in force (APIC_LVT_TIMER_*). */
  timerMode: number;
  /** Which LVTT mode bits the guest may set: 3 << 17 with CPUID TSC_DEADLINE, else 1 << 17. */
  timerModeMask: number;
  /** One period in ns (0 = not started). */
  period: bigint;
  /** When the running one-shot/periodic countdown reaches 0 (absolute ns). */
  targetExpiration: bigint;
  /** A one-shot/periodic countdown is running (the hrtimer is queued). */
  armed: boolean;
  /** IA32_TSC_DEADLINE in guest TSC units (0 = disarmed). */
  tscDeadline: bigint;
  /** Expirations not yet delivered into the LVT timer vector (0 or 1, like Linux). */
  pending: number;
}

/** struct kvm_lapic. */
export class KvmLapic {
  /** The register page (kvm_lapic.regs): page 0 of the vCPU's shared state, little-endian. */
  readonly regs: Uint8Array;
  /** The page as 32-bit registers (index = offset / 4), for Atomics on IRR and TMR. */
  readonly regs32: Int32Array;
  /** The vCPU's shared words (pending events, SIPI vector). */
  private readonly words: Int32Array;
  /** Guest-physical base of the xAPIC MMIO page (IA32_APIC_BASE bits 51:12). */
  baseAddress = APIC_DEFAULT_PHYS_BASE;
  divideCount = 2;
  readonly timer: KvmTimer = {
    timerMode: 0,
    timerModeMask: APIC_LVT_TIMER_PERIODIC,
    period: 0n,
    targetExpiration: 0n,
    armed: false,
    tscDeadline: 0n,
    pending: 0,
  };
  readonly nrLvtEntries = KVM_APIC_NR_LVT_ENTRIES;

  /** Over `vcpu.shared`'s register page; the registers are not reset here (kvmLapicReset). */
  constructor(readonly vcpu: KvmVcpu) {
    const shared: KvmVcpuShared = vcpu.shared;
    this.regs = shared.apicRegs;
    this.regs32 = new Int32Array(this.regs.buffer, this.regs.byteOffset, PAGE_SIZE / 4);
    this.words = shared.words;
  }

  /** KVM_APIC_INIT / KVM_APIC_SIPI bits, set by other vCPUs' IPIs (a shared word). */
  get pendingEvents(): number {
    return this.words[VCPU_SHARED_APIC_EVENTS]!;
  }
  set pendingEvents(v: number) {
    Atomics.store(this.words, VCPU_SHARED_APIC_EVENTS, v);
  }
  /** The vector of the last SIPI (a shared word). */
  get sipiVector(): number {
    return this.words[VCPU_SHARED_SIPI_VECTOR]!;
  }
  set sipiVector(v: number) {
    Atomics.store(this.words, VCPU_SHARED_SIPI_VECTOR, v);
  }

  /** kvm_lapic_get_reg (`off` 4-byte aligned, as every register is). */
  getReg(off: number): number {
    return this.regs32[off >> 2]! >>> 0;
  }

  /** kvm_lapic_set_reg: a plain store, for registers only the owner writes. */
  setReg(off: number, val: number): void {
    this.regs32[off >> 2] = val;
  }
}

// ── small helpers ──

const trace = (apic: KvmLapic, rw: number, reg: number, val: number | bigint): void => {
  const tp = apic.vcpu.kvm.kernel.trace.kvm_apic;
  if (tp.enabled) tp.emit({ vcpu_id: apic.vcpu.vcpuId, rw, reg, val: BigInt(val) });
};

const nowNs = (apic: KvmLapic): bigint => apic.vcpu.kvm.kernel.clock.now();

/** lapic_in_kernel. */
export const lapicInKernel = (vcpu: KvmVcpu): boolean => vcpu.arch.apic !== null;

/** kvm_apic_hw_enabled: IA32_APIC_BASE.EN. */
export const kvmApicHwEnabled = (apic: KvmLapic): boolean =>
  (apic.vcpu.arch.apicBase & MSR_IA32_APICBASE_ENABLE) !== 0;

/** kvm_apic_sw_enabled: SVR bit 8. */
export const kvmApicSwEnabled = (apic: KvmLapic): boolean =>
  (apic.getReg(APIC_SPIV) & APIC_SPIV_APIC_ENABLED) !== 0;

/** apic_enabled: hardware and software enabled. */
const apicEnabled = (apic: KvmLapic): boolean => kvmApicSwEnabled(apic) && kvmApicHwEnabled(apic);

/** apic_x2apic_mode. */
export const apicX2apicMode = (apic: KvmLapic): boolean =>
  (apic.vcpu.arch.apicBase & X2APIC_ENABLE) !== 0;

/** kvm_apic_present: an in-kernel LAPIC that is hardware-enabled. */
export const kvmApicPresent = (vcpu: KvmVcpu): boolean =>
  vcpu.arch.apic !== null && kvmApicHwEnabled(vcpu.arch.apic);

/** kvm_lapic_enabled: present and software-enabled. */
export const kvmLapicEnabled = (vcpu: KvmVcpu): boolean =>
  kvmApicPresent(vcpu) && kvmApicSwEnabled(vcpu.arch.apic!);

/** The xAPIC ID (bits 31:24 of APIC_ID) or the x2APIC ID (all 32 bits). */
export const kvmXapicId = (apic: KvmLapic): number => apic.getReg(APIC_ID) >>> 24;
export const kvmX2apicId = (apic: KvmLapic): number => apic.vcpu.vcpuId;

// 256-bit vector registers (IRR, ISR, TMR): 8 u32 words, 16 bytes apart.

const vecWord = (vec: number): number => (vec >> 5) << 4;

function testVector(apic: KvmLapic, base: number, vec: number): boolean {
  return ((apic.getReg(base + vecWord(vec)) >>> (vec & 31)) & 1) === 1;
}

/** kvm_lapic_set_vector: atomic (set_bit), since other threads set IRR and TMR bits too. */
function setVector(apic: KvmLapic, base: number, vec: number): void {
  Atomics.or(apic.regs32, (base + vecWord(vec)) >> 2, 1 << (vec & 31));
}

/** kvm_lapic_clear_vector: atomic (clear_bit), so a bit another thread sets is never lost. */
function clearVector(apic: KvmLapic, base: number, vec: number): void {
  Atomics.and(apic.regs32, (base + vecWord(vec)) >> 2, ~(1 << (vec & 31)));
}

/** find_highest_vector: the highest set bit of a 256-bit register, or -1. */
function findHighestVector(apic: KvmLapic, base: number): number {
  for (let w = 7; w >= 0; w--) {
    const v = apic.getReg(base + (w << 4));
    if (v !== 0) return w * 32 + 31 - Math.clz32(v);
  }
  return -1;
}

const apicFindHighestIrr = (apic: KvmLapic): number => findHighestVector(apic, APIC_IRR);
const apicFindHighestIsr = (apic: KvmLapic): number => findHighestVector(apic, APIC_ISR);

/** kvm_lapic_set_irr. */
export function kvmLapicSetIrr(vec: number, apic: KvmLapic): void {
  setVector(apic, APIC_IRR, vec);
}

// ── creation, reset, version, base ──

/** kvm_create_lapic. */
export function kvmCreateLapic(vcpu: KvmVcpu): KvmLapic {
  const apic = new KvmLapic(vcpu);
  vcpu.arch.apic = apic;
  return apic;
}

/**
 * A remote stub of a vCPU another thread owns (threaded VMs): put in `kvm.vcpus` at
 * `vcpuIdx` (kept sorted by index, replacing a stub already there) over the owner's
 * `shared` state, with `remote = true`, no vendor state, and with an in-kernel irqchip a
 * KvmLapic over the shared register page — not reset, the owner initialized it. Interrupt
 * delivery (kvmIrqDeliveryToApic, kvmApicSendIpi, apicAcceptIrq, the I/O APIC and PIC) may
 * target it and touches only the shared state; it is never run.
 */
export function kvmCreateRemoteVcpu(
  kvm: Kvm,
  vcpuId: number,
  vcpuIdx: number,
  shared: KvmVcpuShared,
): KvmVcpu {
  const vcpu = new KvmVcpu(kvm, vcpuId, vcpuIdx, shared);
  vcpu.remote = true;
  if (kvm.arch.irqchipMode === KVM_IRQCHIP_KERNEL) vcpu.arch.apic = new KvmLapic(vcpu);
  const vcpus = kvm.vcpus;
  let i = 0;
  while (i < vcpus.length && vcpus[i]!.vcpuIdx < vcpuIdx) i++;
  const at = vcpus[i];
  if (at?.vcpuIdx === vcpuIdx) {
    if (!at.remote) throw new RangeError(`kvmCreateRemoteVcpu: vCPU index ${vcpuIdx} is local`);
    vcpus[i] = vcpu;
  } else {
    vcpus.splice(i, 0, vcpu);
  }
  return vcpu;
}

/** kvm_apic_set_version: version 0x14, max LVT entry 5; no directed EOI (the IOAPIC is in kernel). */
export function kvmApicSetVersion(vcpu: KvmVcpu): void {
  const apic = vcpu.arch.apic;
  if (!apic) return;
  apic.setReg(APIC_LVR, APIC_VERSION | ((apic.nrLvtEntries - 1) << 16));
}

/** kvm_apic_calc_x2apic_ldr: cluster (id >> 4) in bits 31:16, one bit for id & 15. */
export const kvmApicCalcX2apicLdr = (id: number): number =>
  (((id >>> 4) << 16) | (1 << (id & 0xf))) >>> 0;

function kvmApicSetXapicId(apic: KvmLapic, id: number): void {
  apic.setReg(APIC_ID, (id & 0xff) << 24);
}

function kvmApicSetX2apicId(apic: KvmLapic, id: number): void {
  apic.setReg(APIC_ID, id);
  apic.setReg(APIC_LDR, kvmApicCalcX2apicLdr(id));
}

/**
 * kvm_lapic_set_base: a new IA32_APIC_BASE (already validated by kvm_set_apic_base).
 * Enabling the APIC restores the xAPIC ID; entering x2APIC mode sets the x2APIC ID and its
 * derived LDR.
 */
export function kvmLapicSetBase(vcpu: KvmVcpu, value: number): void {
  const old = vcpu.arch.apicBase;
  vcpu.arch.apicBase = value;
  const apic = vcpu.arch.apic;
  if (!apic) return;
  if (
    ((old ^ value) & MSR_IA32_APICBASE_ENABLE) !== 0 &&
    (value & MSR_IA32_APICBASE_ENABLE) !== 0
  ) {
    kvmApicSetXapicId(apic, vcpu.vcpuId);
  }
  if (((old ^ value) & X2APIC_ENABLE) !== 0) {
    if ((value & X2APIC_ENABLE) !== 0) kvmApicSetX2apicId(apic, vcpu.vcpuId);
    else if ((value & MSR_IA32_APICBASE_ENABLE) !== 0) kvmApicSetXapicId(apic, vcpu.vcpuId);
  }
  apic.baseAddress = Number(BigInt(vcpu.arch.apicBase) & 0xf_ffff_ffff_f000n);
}

/** update_divide_count: TDCR bits 3,1:0 → 2, 4, 8, … 128, 1. */
function updateDivideCount(apic: KvmLapic): void {
  const tdcr = apic.getReg(APIC_TDCR) & 0xf;
  const t = ((tdcr & 3) | ((tdcr & 8) >> 1)) + 1;
  apic.divideCount = 1 << (t & 7);
}

/**
 * kvm_lapic_reset: the state after RESET or INIT. The xAPIC ID is set only at RESET; the
 * BSP's LINT0 comes out of reset in ExtINT mode, unmasked (KVM_X86_QUIRK_LINT0_REENABLED),
 * so the PIC reaches it before the guest programs its APIC.
 */
export function kvmLapicReset(vcpu: KvmVcpu, initEvent: boolean): void {
  const apic = vcpu.arch.apic;
  if (!apic) return;
  cancelApicTimer(apic);
  if (!initEvent) {
    kvmLapicSetBase(
      vcpu,
      (APIC_DEFAULT_PHYS_BASE |
        MSR_IA32_APICBASE_ENABLE |
        (vcpu.vcpuId === vcpu.kvm.arch.bspVcpuId ? MSR_IA32_APICBASE_BSP : 0)) >>>
        0,
    );
    kvmApicSetXapicId(apic, vcpu.vcpuId);
  }
  kvmApicSetVersion(vcpu);
  for (const r of LVT_REGS) apic.setReg(r, APIC_LVT_MASKED);
  apicUpdateLvtt(apic);
  if (vcpu.vcpuId === vcpu.kvm.arch.bspVcpuId) apic.setReg(APIC_LVT0, APIC_DM_EXTINT);
  apic.setReg(APIC_DFR, APIC_DFR_FLAT);
  apic.setReg(APIC_SPIV, 0xff);
  apic.setReg(APIC_TASKPRI, 0);
  mirrorCr8(apic);
  if (!apicX2apicMode(apic)) apic.setReg(APIC_LDR, 0);
  apic.setReg(APIC_ESR, 0);
  apic.setReg(APIC_ICR, 0);
  apic.setReg(APIC_ICR2, 0);
  apic.setReg(APIC_TDCR, 0);
  apic.setReg(APIC_TMICT, 0);
  for (let i = 0; i < 8; i++) {
    apic.setReg(APIC_IRR + 16 * i, 0);
    apic.setReg(APIC_ISR + 16 * i, 0);
    apic.setReg(APIC_TMR + 16 * i, 0);
  }
  updateDivideCount(apic);
  apic.timer.pending = 0;
  apicUpdatePpr(apic);
  vcpu.arch.apicArbPrio = 0;
}

/** kvm_vcpu_after_set_cpuid's APIC part: TSC-deadline mode exists iff CPUID.1:ECX[24]. */
export function kvmLapicAfterSetCpuid(vcpu: KvmVcpu): void {
  const apic = vcpu.arch.apic;
  if (!apic) return;
  apic.timer.timerModeMask = guestCpuidHas(vcpu, 1, "ecx", 24)
    ? APIC_LVT_TIMER_PERIODIC | APIC_LVT_TIMER_TSCDEADLINE
    : APIC_LVT_TIMER_PERIODIC;
  kvmApicSetVersion(vcpu);
}

// ── priorities ──

/** __apic_update_ppr: PPR = TPR if its class is at least the highest in-service class. */
function apicUpdatePpr(apic: KvmLapic): number {
  const tpr = apic.getReg(APIC_TASKPRI);
  const isr = apicFindHighestIsr(apic);
  const isrv = isr === -1 ? 0 : isr;
  const ppr = (tpr & 0xf0) >= (isrv & 0xf0) ? tpr & 0xff : isrv & 0xf0;
  apic.setReg(APIC_PROCPRI, ppr);
  return ppr;
}

/**
 * vcpu.arch.cr8 mirrors TPR[7:4] while the LAPIC is in the kernel. Linux reads CR8 from the
 * LAPIC (kvm_get_cr8) and leaves arch.cr8 unused; the mirror keeps vendor code that reads
 * arch.cr8 directly (V_TPR sync, MOV from CR8) right until it calls kvmGetCr8.
 */
const mirrorCr8 = (apic: KvmLapic): void => {
  apic.vcpu.arch.cr8 = (apic.getReg(APIC_TASKPRI) & 0xf0) >> 4;
};

function apicSetTpr(apic: KvmLapic, tpr: number): void {
  apic.setReg(APIC_TASKPRI, tpr);
  mirrorCr8(apic);
  apicUpdatePpr(apic);
  kvmMakeRequest(apic.vcpu, KVM_REQ_EVENT);
}

/** kvm_lapic_set_tpr (CR8 writes and KVM_SET_SREGS.cr8): TPR = CR8 << 4. */
export function kvmLapicSetTpr(vcpu: KvmVcpu, cr8: number): void {
  if (vcpu.arch.apic) apicSetTpr(vcpu.arch.apic, (cr8 & 0xf) << 4);
}

/** kvm_lapic_get_cr8: TPR bits 7:4. */
export function kvmLapicGetCr8(vcpu: KvmVcpu): number {
  return vcpu.arch.apic ? (vcpu.arch.apic.getReg(APIC_TASKPRI) & 0xf0) >> 4 : 0;
}

/** apic_has_interrupt_for_ppr / kvm_apic_has_interrupt: the vector to deliver, or -1. */
export function kvmApicHasInterrupt(vcpu: KvmVcpu): number {
  const apic = vcpu.arch.apic;
  if (!apic || !kvmApicHwEnabled(apic)) return -1;
  const ppr = apicUpdatePpr(apic);
  const irr = apicFindHighestIrr(apic);
  if (irr === -1 || (irr & 0xf0) <= ppr) return -1;
  return irr;
}

/** kvm_get_apic_interrupt: acknowledge the highest deliverable IRR bit (IRR → ISR). */
export function kvmGetApicInterrupt(vcpu: KvmVcpu): number {
  const vector = kvmApicHasInterrupt(vcpu);
  if (vector === -1) return -1;
  const apic = vcpu.arch.apic!;
  clearVector(apic, APIC_IRR, vector);
  setVector(apic, APIC_ISR, vector);
  apicUpdatePpr(apic);
  return vector;
}

/**
 * apic_set_eoi: retire the highest in-service vector; for a level-triggered one (TMR set)
 * tell the I/O APIC (kvm_ioapic_send_eoi → kvm_ioapic_update_eoi).
 */
function apicSetEoi(apic: KvmLapic): number {
  const vector = apicFindHighestIsr(apic);
  const tp = apic.vcpu.kvm.kernel.trace.kvm_eoi;
  if (tp.enabled) tp.emit({ apicid: apic.vcpu.vcpuId, vector });
  if (vector === -1) return vector;
  clearVector(apic, APIC_ISR, vector);
  apicUpdatePpr(apic);
  const ioapic = apic.vcpu.kvm.arch.vioapic;
  const home = apic.vcpu.kvm.home;
  if (home) home.ioapicEoi(apic.vcpu.vcpuId, vector, testVector(apic, APIC_TMR, vector));
  else if (ioapic) {
    const level = testVector(apic, APIC_TMR, vector);
    kvmIoapicUpdateEoi(ioapic, apic, vector, level);
  }
  kvmMakeRequest(apic.vcpu, KVM_REQ_EVENT);
  return vector;
}

// ── destinations and delivery ──

/** kvm_apic_match_physical_addr. */
function kvmApicMatchPhysicalAddr(apic: KvmLapic, mda: number): boolean {
  const x2 = apicX2apicMode(apic);
  if (mda === (x2 ? X2APIC_BROADCAST : APIC_BROADCAST)) return true;
  if (x2 || mda > 0xff) return mda === kvmX2apicId(apic);
  return mda === kvmXapicId(apic);
}

/** kvm_apic_match_logical_addr: x2APIC cluster, xAPIC flat or cluster (by DFR). */
function kvmApicMatchLogicalAddr(apic: KvmLapic, mda: number): boolean {
  const x2 = apicX2apicMode(apic);
  if (mda === (x2 ? X2APIC_BROADCAST : APIC_BROADCAST)) return true;
  const ldr = apic.getReg(APIC_LDR);
  if (x2) return ldr >>> 16 === mda >>> 16 && (ldr & mda & 0xffff) !== 0;
  const logicalId = ldr >>> 24;
  switch (apic.getReg(APIC_DFR)) {
    case APIC_DFR_FLAT:
      return (logicalId & mda) !== 0;
    case APIC_DFR_CLUSTER:
      return logicalId >> 4 === mda >> 4 && (logicalId & mda & 0xf) !== 0;
    default:
      return false;
  }
}

/**
 * kvm_apic_match_dest: does `vcpu`'s APIC take an interrupt for `dest` with this shorthand
 * and destination mode? `source` is the sending APIC (null for the I/O APIC and MSIs).
 */
export function kvmApicMatchDest(
  vcpu: KvmVcpu,
  source: KvmLapic | null,
  shorthand: number,
  dest: number,
  destMode: number,
): boolean {
  const target = vcpu.arch.apic!;
  // kvm_apic_mda: a device's 0xff broadcast reaches x2APIC targets too.
  const mda =
    source === null && dest === APIC_BROADCAST && apicX2apicMode(target) ? X2APIC_BROADCAST : dest;
  switch (shorthand) {
    case APIC_DEST_NOSHORT:
      return destMode === APIC_DEST_PHYSICAL
        ? kvmApicMatchPhysicalAddr(target, mda >>> 0)
        : kvmApicMatchLogicalAddr(target, mda >>> 0);
    case APIC_DEST_SELF:
      return target === source;
    case APIC_DEST_ALLINC:
      return true;
    case APIC_DEST_ALLBUT:
      return target !== source;
    default:
      return false;
  }
}

/** kvm_apic_compare_prio: lowest-priority arbitration by the (shared) arbitration counters. */
export const kvmApicComparePrio = (a: KvmVcpu, b: KvmVcpu): number =>
  a.arch.apicArbPrio - b.arch.apicArbPrio;

/**
 * __apic_accept_irq: one APIC takes one interrupt. Returns 1 when it was accepted.
 * Fixed/lowest-priority set IRR (and TMR for level), NMI queues an NMI, INIT and SIPI are
 * latched for kvm_apic_accept_events, SMI is ignored (no SMM), ExtINT arrives only through
 * LINT0 and the PIC (kvm_apic_accept_pic_intr). `apic` may be a remote stub's: only
 * shared state is touched (atomically), then the vCPU is kicked.
 */
export function apicAcceptIrq(
  apic: KvmLapic,
  deliveryMode: number,
  vector: number,
  level: boolean,
  trigMode: boolean,
): number {
  const vcpu = apic.vcpu;
  const tp = vcpu.kvm.kernel.trace.kvm_apic_accept_irq;
  if (tp.enabled)
    tp.emit({ apicid: vcpu.vcpuId, dm: deliveryMode, tm: trigMode ? 1 : 0, vec: vector });
  switch (deliveryMode) {
    case APIC_DM_LOWEST:
    case APIC_DM_FIXED:
      if (deliveryMode === APIC_DM_LOWEST) Atomics.add(vcpu.shared.words, VCPU_SHARED_ARB_PRIO, 1);
      if (trigMode && !level) return 0;
      if (!apicEnabled(apic)) return 0;
      if (trigMode) setVector(apic, APIC_TMR, vector);
      else clearVector(apic, APIC_TMR, vector);
      kvmLapicSetIrr(vector, apic);
      kvmMakeRequest(vcpu, KVM_REQ_EVENT);
      return 1;
    case APIC_DM_REMRD:
      kvmMakeRequest(vcpu, KVM_REQ_EVENT);
      return 1;
    case APIC_DM_SMI:
      // No SMM in the model: kvm_inject_smi fails, the SMI is dropped.
      return 0;
    case APIC_DM_NMI:
      kvmInjectNmi(vcpu);
      return 1;
    case APIC_DM_INIT:
      if (!trigMode || level) {
        // Only INIT and SIPI exist: an INIT drops a latched SIPI.
        apic.pendingEvents = KVM_APIC_INIT;
        kvmMakeRequest(vcpu, KVM_REQ_EVENT);
        return 1;
      }
      return 0;
    case APIC_DM_STARTUP:
      // The vector is visible before the bit (smp_wmb; Atomics are sequentially consistent).
      apic.sipiVector = vector;
      Atomics.or(vcpu.shared.words, VCPU_SHARED_APIC_EVENTS, KVM_APIC_SIPI);
      kvmMakeRequest(vcpu, KVM_REQ_EVENT);
      return 1;
    default:
      return 0;
  }
}

/** kvm_apic_set_irq. */
export function kvmApicSetIrq(vcpu: KvmVcpu, irq: KvmLapicIrq): number {
  return apicAcceptIrq(vcpu.arch.apic!, irq.deliveryMode, irq.vector, irq.level, irq.trigMode);
}

/** kvm_apic_send_ipi: an ICR write becomes an interrupt for the matching APICs. */
export function kvmApicSendIpi(apic: KvmLapic, icrLow: number, icrHigh: number): void {
  const irq: KvmLapicIrq = {
    vector: icrLow & APIC_VECTOR_MASK,
    deliveryMode: icrLow & APIC_MODE_MASK,
    destMode: icrLow & APIC_DEST_LOGICAL,
    level: (icrLow & APIC_INT_ASSERT) !== 0,
    trigMode: (icrLow & APIC_INT_LEVELTRIG) !== 0,
    shorthand: icrLow & APIC_SHORT_MASK,
    destId: apicX2apicMode(apic) ? icrHigh >>> 0 : icrHigh >>> 24,
  };
  const tp = apic.vcpu.kvm.kernel.trace.kvm_apic_ipi;
  if (tp.enabled)
    tp.emit({ vcpu_id: apic.vcpu.vcpuId, icr_low: icrLow >>> 0, dest_id: irq.destId });
  const kvm = apic.vcpu.kvm;
  kvmIrqDeliveryToApic(kvm, apic, irq);
  // One host thread runs every vCPU: the target can only take the IPI once the sender
  // gives the thread up (see Kvm.needResched).
  if (!kvm.threaded && irq.shorthand !== APIC_DEST_SELF && kvm.vcpus.length > 1) {
    kvm.needResched = true;
  }
}

/** kvm_apic_local_deliver: an LVT entry fires (timer, LINT0/1, …) unless masked. */
export function kvmApicLocalDeliver(apic: KvmLapic, lvtReg: number): number {
  const reg = apic.getReg(lvtReg);
  if (!kvmApicHwEnabled(apic) || (reg & APIC_LVT_MASKED) !== 0) return 0;
  return apicAcceptIrq(
    apic,
    reg & APIC_MODE_MASK,
    reg & APIC_VECTOR_MASK,
    true,
    (reg & APIC_LVT_LEVEL_TRIGGER) !== 0,
  );
}

/**
 * kvm_apic_accept_pic_intr: the PIC's INTR output reaches this vCPU when its APIC is
 * hardware-disabled or LINT0 is unmasked in ExtINT mode.
 */
export function kvmApicAcceptPicIntr(vcpu: KvmVcpu): boolean {
  const apic = vcpu.arch.apic;
  if (!apic) return false;
  if (!kvmApicHwEnabled(apic)) return true;
  const lvt0 = apic.getReg(APIC_LVT0);
  return (lvt0 & APIC_LVT_MASKED) === 0 && (lvt0 & APIC_MODE_MASK) === APIC_DM_EXTINT;
}

// ── INIT and SIPI ──

/** kvm_apic_has_pending_init_or_sipi. */
export const kvmApicHasPendingInitOrSipi = (vcpu: KvmVcpu): boolean =>
  (vcpu.arch.apic?.pendingEvents ?? 0) !== 0;

/** kvm_lapic_latched_init. */
export const kvmLapicLatchedInit = (vcpu: KvmVcpu): boolean =>
  ((vcpu.arch.apic?.pendingEvents ?? 0) & KVM_APIC_INIT) !== 0;

/** Latch or drop an INIT (KVM_SET_VCPU_EVENTS smi.latched_init). */
export function kvmLapicSetLatchedInit(vcpu: KvmVcpu, on: boolean): void {
  const apic = vcpu.arch.apic;
  if (!apic) return;
  if (on) Atomics.or(vcpu.shared.words, VCPU_SHARED_APIC_EVENTS, KVM_APIC_INIT);
  else Atomics.and(vcpu.shared.words, VCPU_SHARED_APIC_EVENTS, ~KVM_APIC_INIT);
}

/** Latch a SIPI with the last vector (KVM_SET_MP_STATE SIPI_RECEIVED). */
export function kvmLapicLatchSipi(vcpu: KvmVcpu): void {
  if (vcpu.arch.apic) Atomics.or(vcpu.shared.words, VCPU_SHARED_APIC_EVENTS, KVM_APIC_SIPI);
}

/** The SIPI vector KVM_SET_VCPU_EVENTS may set (KVM_VCPUEVENT_VALID_SIPI_VECTOR). */
export function kvmLapicSetSipiVector(vcpu: KvmVcpu, vector: number): void {
  if (vcpu.arch.apic) vcpu.arch.apic.sipiVector = vector & 0xff;
}

/**
 * kvm_vcpu_deliver_sipi_vector: the AP starts in real mode at CS = vector << 8
 * (base vector << 12), IP = 0.
 */
export function kvmVcpuDeliverSipiVector(vcpu: KvmVcpu, vector: number): void {
  const ops = vcpu.kvm.ops;
  const cs = ops.getSegment(vcpu, VCPU_SREG_CS);
  cs.selector = (vector << 8) & 0xffff;
  cs.base = BigInt(vector << 12);
  ops.setSegment(vcpu, cs, VCPU_SREG_CS);
  kvmRipWrite(vcpu, 0n);
}

/**
 * kvm_apic_accept_events: a latched INIT resets the vCPU (the BSP stays RUNNABLE, an AP
 * waits in INIT_RECEIVED); a SIPI starts an AP that waits for one. Each bit is taken with
 * an atomic test-and-clear (another thread may be setting the other).
 */
export function kvmApicAcceptEvents(vcpu: KvmVcpu): void {
  const apic = vcpu.arch.apic;
  if (!apic || apic.pendingEvents === 0) return;
  const words = vcpu.shared.words;
  if ((Atomics.and(words, VCPU_SHARED_APIC_EVENTS, ~KVM_APIC_INIT) & KVM_APIC_INIT) !== 0) {
    kvmVcpuReset(vcpu, true);
    vcpu.arch.mpState =
      (vcpu.arch.apicBase & MSR_IA32_APICBASE_BSP) !== 0
        ? KVM_MP_STATE_RUNNABLE
        : KVM_MP_STATE_INIT_RECEIVED;
  }
  if ((Atomics.and(words, VCPU_SHARED_APIC_EVENTS, ~KVM_APIC_SIPI) & KVM_APIC_SIPI) !== 0) {
    if (vcpu.arch.mpState === KVM_MP_STATE_INIT_RECEIVED) {
      kvmVcpuDeliverSipiVector(vcpu, apic.sipiVector);
      vcpu.arch.mpState = KVM_MP_STATE_RUNNABLE;
    }
  }
}

// ── the APIC timer ──

const apicLvttMode = (apic: KvmLapic): number => apic.timer.timerMode;
const apicLvttPeriod = (apic: KvmLapic): boolean => apicLvttMode(apic) === APIC_LVT_TIMER_PERIODIC;
const apicLvttTscdeadline = (apic: KvmLapic): boolean =>
  apicLvttMode(apic) === APIC_LVT_TIMER_TSCDEADLINE;

function cancelApicTimer(apic: KvmLapic): void {
  apic.timer.armed = false;
}

const tmictToNs = (apic: KvmLapic, count: number): bigint =>
  BigInt(count >>> 0) * APIC_BUS_CYCLE_NS * BigInt(apic.divideCount);

function limitPeriodicTimerFrequency(apic: KvmLapic): void {
  const t = apic.timer;
  if (apicLvttPeriod(apic) && t.period !== 0n && t.period < MIN_TIMER_PERIOD_NS) {
    t.period = MIN_TIMER_PERIOD_NS;
  }
}

/** apic_update_lvtt: a mode change to or from TSC-deadline stops the timer and clears TMICT. */
function apicUpdateLvtt(apic: KvmLapic): void {
  const t = apic.timer;
  const mode = apic.getReg(APIC_LVTT) & t.timerModeMask;
  if (t.timerMode === mode) return;
  if (apicLvttTscdeadline(apic) !== (mode === APIC_LVT_TIMER_TSCDEADLINE)) {
    cancelApicTimer(apic);
    apic.setReg(APIC_TMICT, 0);
    t.period = 0n;
    t.tscDeadline = 0n;
  }
  t.timerMode = mode;
  limitPeriodicTimerFrequency(apic);
}

/**
 * start_apic_timer (with set_target_expiration): one-shot and periodic count TMICT bus
 * cycles × divider; `countReg` APIC_TMCCT restarts from a saved current count
 * (KVM_SET_LAPIC).
 */
function startApicTimer(apic: KvmLapic, countReg = APIC_TMICT): void {
  const t = apic.timer;
  cancelApicTimer(apic);
  if (apicLvttTscdeadline(apic)) {
    t.armed = t.tscDeadline !== 0n;
    return;
  }
  t.period = tmictToNs(apic, apic.getReg(APIC_TMICT));
  if (t.period === 0n) return;
  limitPeriodicTimerFrequency(apic);
  let deadline = t.period;
  if (countReg !== APIC_TMICT) {
    deadline = tmictToNs(apic, apic.getReg(countReg));
    if (deadline <= 0n) deadline = apicLvttPeriod(apic) ? t.period : 0n;
    else if (deadline > t.period) deadline = t.period;
  }
  t.targetExpiration = nowNs(apic) + deadline;
  t.armed = true;
}

/** The guest's TSC now (kvm_read_l1_tsc). */
const guestTsc = (vcpu: KvmVcpu): bigint =>
  BigInt.asUintN(64, vcpu.kvm.kernel.rdtsc() + vcpu.arch.tscOffset);

/**
 * The absolute time (kernel clock, ns) of this vCPU's next timer expiration, or null when
 * no timer is running. TSC-deadline deadlines are converted at the TSC's frequency.
 */
export function kvmLapicNextTimerNs(vcpu: KvmVcpu): bigint | null {
  const apic = vcpu.arch.apic;
  if (!apic?.timer.armed) return null;
  if (apicLvttTscdeadline(apic)) {
    const delta = apic.timer.tscDeadline - guestTsc(vcpu);
    const now = nowNs(apic);
    if (delta <= 0n) return now;
    const khz = BigInt(HOST_TSC_KHZ);
    return now + (delta * 1_000_000n + khz - 1n) / khz;
  }
  return apic.timer.targetExpiration;
}

/**
 * Would this vCPU's next timer expiration make it runnable? Only then may a halted vCPU
 * skip virtual time to it: a masked LVT timer, a vector already pending, one below the
 * processor priority, or interrupts disabled leave it halted, and skipping period after
 * period would never end.
 */
export function kvmLapicTimerCanWake(vcpu: KvmVcpu): boolean {
  const apic = vcpu.arch.apic;
  if (!apic || !kvmApicHwEnabled(apic)) return false;
  const lvtt = apic.getReg(APIC_LVTT);
  if ((lvtt & APIC_LVT_MASKED) !== 0) return false;
  const mode = lvtt & APIC_MODE_MASK;
  if (mode === APIC_DM_NMI) return vcpu.kvm.ops.nmiAllowed(vcpu, false) > 0;
  if (mode !== APIC_DM_FIXED || !apicEnabled(apic)) return false;
  const vec = lvtt & APIC_VECTOR_MASK;
  if (testVector(apic, APIC_IRR, vec)) return false;
  return (vec & 0xf0) > apicUpdatePpr(apic) && vcpu.kvm.ops.interruptAllowed(vcpu, false) > 0;
}

/**
 * apic_timer_expired, polled: the running timer has reached its deadline → one pending
 * expiration; a periodic timer re-arms one period later (missed periods coalesce, as the
 * single `pending` counter does in Linux). Returns true when an expiration is pending.
 */
export function kvmLapicCheckTimer(vcpu: KvmVcpu): boolean {
  const apic = vcpu.arch.apic;
  if (!apic) return false;
  const t = apic.timer;
  if (t.armed) {
    let due: boolean;
    if (apicLvttTscdeadline(apic)) due = guestTsc(vcpu) >= t.tscDeadline;
    else due = nowNs(apic) >= t.targetExpiration;
    if (due) {
      t.pending = 1;
      if (apicLvttPeriod(apic) && t.period > 0n) {
        const now = nowNs(apic);
        t.targetExpiration += t.period;
        if (t.targetExpiration <= now) {
          const behind = now - t.targetExpiration;
          t.targetExpiration += (behind / t.period + 1n) * t.period;
        }
      } else {
        t.armed = false;
      }
    }
  }
  return t.pending > 0;
}

/**
 * kvm_inject_apic_timer_irqs: a pending expiration goes into the LVT timer vector (unless
 * masked); a finished TSC deadline reads back as 0.
 */
export function kvmInjectApicTimerIrqs(vcpu: KvmVcpu): void {
  const apic = vcpu.arch.apic;
  if (!apic || apic.timer.pending === 0) return;
  kvmApicLocalDeliver(apic, APIC_LVTT);
  if (apicLvttTscdeadline(apic)) apic.timer.tscDeadline = 0n;
  apic.timer.pending = 0;
}

/** kvm_get_lapic_tscdeadline_msr: the armed deadline in TSC-deadline mode, else 0. */
export function kvmGetLapicTscdeadlineMsr(vcpu: KvmVcpu): bigint {
  const apic = vcpu.arch.apic;
  if (!apic || !kvmApicHwEnabled(apic) || !apicLvttTscdeadline(apic)) return 0n;
  return apic.timer.tscDeadline;
}

/** kvm_set_lapic_tscdeadline_msr: arms (or with 0 disarms) the deadline; ignored in other modes. */
export function kvmSetLapicTscdeadlineMsr(vcpu: KvmVcpu, data: bigint): void {
  const apic = vcpu.arch.apic;
  if (!apic || !kvmApicHwEnabled(apic) || !apicLvttTscdeadline(apic)) return;
  apic.timer.tscDeadline = BigInt.asUintN(64, data);
  startApicTimer(apic);
}

/** apic_get_tmcct: the current count, from the time left modulo the period. */
function apicGetTmcct(apic: KvmLapic): number {
  const t = apic.timer;
  if (apic.getReg(APIC_TMICT) === 0 || t.period === 0n) return 0;
  let remaining = t.targetExpiration - nowNs(apic);
  if (remaining < 0n) {
    // Past an expiration the poll has not handled yet: Linux's hrtimer would already have
    // moved a periodic timer to its next period (a one-shot one stays at 0).
    remaining = apicLvttPeriod(apic) ? t.period - (-remaining % t.period) : 0n;
  }
  const ns = remaining % t.period;
  return Number(ns / (APIC_BUS_CYCLE_NS * BigInt(apic.divideCount)));
}

/** A TDCR write while the countdown runs: the time left scales with the new divider. */
function updateTargetExpiration(apic: KvmLapic, oldDivisor: number): void {
  const t = apic.timer;
  if (!t.armed || apicLvttTscdeadline(apic)) return;
  const now = nowNs(apic);
  t.period = tmictToNs(apic, apic.getReg(APIC_TMICT));
  limitPeriodicTimerFrequency(apic);
  let remaining = t.targetExpiration - now;
  if (remaining < 0n) remaining = 0n;
  remaining = (remaining * BigInt(apic.divideCount)) / BigInt(oldDivisor);
  t.targetExpiration = now + remaining;
}

// ── register reads and writes ──

const regBit = (off: number): number => off >> 4;

/** kvm_lapic_readable_reg_mask, as a set of offsets. */
function readable(apic: KvmLapic, off: number): boolean {
  switch (off) {
    case APIC_ID:
    case APIC_LVR:
    case APIC_TASKPRI:
    case APIC_PROCPRI:
    case APIC_LDR:
    case APIC_SPIV:
    case APIC_ESR:
    case APIC_ICR:
    case APIC_LVTT:
    case APIC_LVTTHMR:
    case APIC_LVTPC:
    case APIC_LVT0:
    case APIC_LVT1:
    case APIC_LVTERR:
    case APIC_TMICT:
    case APIC_TMCCT:
    case APIC_TDCR:
      return true;
    case APIC_ARBPRI:
    case APIC_DFR:
    case APIC_ICR2:
      return !apicX2apicMode(apic);
    default: {
      const b = regBit(off);
      return (
        (b >= regBit(APIC_ISR) && b < regBit(APIC_ISR) + 8) ||
        (b >= regBit(APIC_TMR) && b < regBit(APIC_TMR) + 8) ||
        (b >= regBit(APIC_IRR) && b < regBit(APIC_IRR) + 8)
      );
    }
  }
}

/** __apic_read: the 32-bit value of an aligned register. */
function apicRead(apic: KvmLapic, off: number): number {
  switch (off) {
    case APIC_ARBPRI:
      return 0;
    case APIC_TMCCT:
      return apicLvttTscdeadline(apic) ? 0 : apicGetTmcct(apic);
    case APIC_PROCPRI:
      return apicUpdatePpr(apic);
    default:
      return apic.getReg(off);
  }
}

/**
 * kvm_lapic_reg_read: `len` (1, 2 or 4) bytes at `offset` within one 16-byte register.
 * Returns the value, or null for a reserved/unreadable register or a straddling access.
 */
export function kvmLapicRegRead(apic: KvmLapic, offset: number, len: number): number | null {
  const alignment = offset & 0xf;
  if (alignment + len > 4) return null;
  const reg = offset & ~0xf;
  if (offset > 0x3f0 || !readable(apic, reg)) return null;
  const result = apicRead(apic, reg);
  trace(apic, KVM_APIC_READ, reg, result);
  const shifted = result >>> (8 * alignment);
  return len === 4 ? shifted >>> 0 : shifted & ((1 << (8 * len)) - 1);
}

/**
 * kvm_lapic_reg_write: a 32-bit write to an aligned register. Returns 0, or 1 when the
 * register is read-only or reserved in this mode (x2APIC turns that into #GP).
 */
export function kvmLapicRegWrite(apic: KvmLapic, reg: number, value: number): number {
  const val = value >>> 0;
  const x2 = apicX2apicMode(apic);
  trace(apic, KVM_APIC_WRITE, reg, val);
  switch (reg) {
    case APIC_ID:
      if (x2) return 1;
      kvmApicSetXapicId(apic, val >>> 24);
      return 0;
    case APIC_TASKPRI:
      apicSetTpr(apic, val & 0xff);
      return 0;
    case APIC_EOI:
      apicSetEoi(apic);
      return 0;
    case APIC_LDR:
      if (x2) return 1;
      apic.setReg(APIC_LDR, val & 0xff00_0000);
      return 0;
    case APIC_DFR:
      if (x2) return 1;
      apic.setReg(APIC_DFR, val | 0x0fff_ffff);
      return 0;
    case APIC_SPIV: {
      apic.setReg(APIC_SPIV, val & 0x3ff);
      if ((val & APIC_SPIV_APIC_ENABLED) === 0) {
        for (const r of LVT_REGS) apic.setReg(r, apic.getReg(r) | APIC_LVT_MASKED);
        apicUpdateLvtt(apic);
        apic.timer.pending = 0;
      }
      kvmMakeRequest(apic.vcpu, KVM_REQ_EVENT);
      return 0;
    }
    case APIC_ICR: {
      if (x2) return 1;
      const low = val & ~APIC_ICR_BUSY;
      kvmApicSendIpi(apic, low, apic.getReg(APIC_ICR2));
      apic.setReg(APIC_ICR, low);
      return 0;
    }
    case APIC_ICR2:
      if (x2) return 1;
      apic.setReg(APIC_ICR2, val & 0xff00_0000);
      return 0;
    case APIC_LVT0:
    case APIC_LVTTHMR:
    case APIC_LVTPC:
    case APIC_LVT1:
    case APIC_LVTERR: {
      const i = LVT_REGS.indexOf(reg);
      let v = val;
      if (!kvmApicSwEnabled(apic)) v |= APIC_LVT_MASKED;
      apic.setReg(reg, v & LVT_WRITABLE[i]!);
      return 0;
    }
    case APIC_LVTT: {
      let v = val;
      if (!kvmApicSwEnabled(apic)) v |= APIC_LVT_MASKED;
      apic.setReg(APIC_LVTT, v & (LVT_WRITABLE[0]! | apic.timer.timerModeMask));
      apicUpdateLvtt(apic);
      return 0;
    }
    case APIC_TMICT:
      if (apicLvttTscdeadline(apic)) return 0;
      apic.setReg(APIC_TMICT, val);
      startApicTimer(apic);
      return 0;
    case APIC_TDCR: {
      const old = apic.divideCount;
      apic.setReg(APIC_TDCR, val & 0xb);
      updateDivideCount(apic);
      if (apic.divideCount !== old) updateTargetExpiration(apic, old);
      return 0;
    }
    case APIC_ESR:
      return x2 && val !== 0 ? 1 : 0;
    case APIC_SELF_IPI:
      if (!x2) return 1;
      kvmApicSendIpi(apic, APIC_DEST_SELF | (val & APIC_VECTOR_MASK), 0);
      return 0;
    default:
      return 1;
  }
}

// ── xAPIC MMIO (apic_mmio_read / apic_mmio_write) ──

/** apic_mmio_in_range: the 4 KiB page at the APIC base. */
export function apicMmioInRange(apic: KvmLapic, gpa: number): boolean {
  return gpa >= apic.baseAddress && gpa < apic.baseAddress + LAPIC_MMIO_LENGTH;
}

/**
 * An MMIO read the LAPIC claims: true when `gpa` is in its page. A disabled or x2APIC-mode
 * APIC reads as all ones (KVM_X86_QUIRK_LAPIC_MMIO_HOLE); a reserved register as 0.
 */
export function kvmLapicMmioRead(vcpu: KvmVcpu, gpa: number, dst: Uint8Array): boolean {
  const apic = vcpu.arch.apic;
  if (!apic || !apicMmioInRange(apic, gpa)) return false;
  if (!kvmApicHwEnabled(apic) || apicX2apicMode(apic)) {
    dst.fill(0xff);
    return true;
  }
  dst.fill(0);
  const len = dst.length;
  if (len !== 1 && len !== 2 && len !== 4) return true;
  const v = kvmLapicRegRead(apic, gpa - apic.baseAddress, len);
  if (v !== null) for (let i = 0; i < len; i++) dst[i] = (v >>> (8 * i)) & 0xff;
  return true;
}

/** An MMIO write the LAPIC claims: only aligned 32-bit writes reach a register (SDM 10.4.1). */
export function kvmLapicMmioWrite(vcpu: KvmVcpu, gpa: number, src: Uint8Array): boolean {
  const apic = vcpu.arch.apic;
  if (!apic || !apicMmioInRange(apic, gpa)) return false;
  if (!kvmApicHwEnabled(apic) || apicX2apicMode(apic)) return true;
  const offset = gpa - apic.baseAddress;
  if (src.length !== 4 || (offset & 0xf) !== 0) return true;
  const val = (src[0]! | (src[1]! << 8) | (src[2]! << 16) | (src[3]! << 24)) >>> 0;
  kvmLapicRegWrite(apic, offset & 0xff0, val);
  return true;
}

// ── x2APIC MSRs ──

/** kvm_x2apic_msr_read: 0 and `out.data`, or 1 (#GP) outside x2APIC mode or for a hole. */
export function kvmX2apicMsrRead(vcpu: KvmVcpu, msr: number, out: { data: bigint }): number {
  const apic = vcpu.arch.apic;
  if (!apic || !apicX2apicMode(apic)) return 1;
  const reg = (msr - APIC_BASE_MSR) << 4;
  if (reg === APIC_ICR) {
    out.data = (BigInt(apic.getReg(APIC_ICR2)) << 32n) | BigInt(apic.getReg(APIC_ICR));
    return 0;
  }
  const v = kvmLapicRegRead(apic, reg, 4);
  if (v === null) return 1;
  out.data = BigInt(v);
  return 0;
}

/** kvm_x2apic_msr_write: ICR is one 64-bit register; bits 63:32 of any other must be 0. */
export function kvmX2apicMsrWrite(vcpu: KvmVcpu, msr: number, data: bigint): number {
  const apic = vcpu.arch.apic;
  if (!apic || !apicX2apicMode(apic)) return 1;
  const reg = (msr - APIC_BASE_MSR) << 4;
  if (reg === APIC_ICR) {
    const low = Number(data & 0xffff_ffffn) & ~APIC_ICR_BUSY;
    const high = Number((data >> 32n) & 0xffff_ffffn);
    kvmApicSendIpi(apic, low, high);
    apic.setReg(APIC_ICR, low);
    apic.setReg(APIC_ICR2, high);
    trace(apic, KVM_APIC_WRITE, APIC_ICR, (BigInt(high) << 32n) | BigInt(low >>> 0));
    return 0;
  }
  if (data >> 32n !== 0n) return 1;
  return kvmLapicRegWrite(apic, reg, Number(data));
}

// ── KVM_GET_LAPIC / KVM_SET_LAPIC ──

/**
 * kvm_apic_get_state: the first 1 KiB of the register page with TMCCT computed; in
 * x2APIC mode the ID is reported shifted to bits 31:24 (no KVM_X2APIC_API_USE_32BIT_IDS).
 */
export function kvmApicGetState(vcpu: KvmVcpu): Uint8Array {
  const apic = vcpu.arch.apic!;
  const s = apic.regs.slice(0, KVM_APIC_REG_SIZE);
  const dv = new DataView(s.buffer);
  dv.setUint32(APIC_TMCCT, apicRead(apic, APIC_TMCCT) >>> 0, true);
  if (apicX2apicMode(apic)) dv.setUint32(APIC_ID, (dv.getUint32(APIC_ID, true) << 24) >>> 0, true);
  return s;
}

/**
 * kvm_apic_set_state: load a register image; the timer restarts from the image's TMCCT,
 * version and PPR are recomputed. In x2APIC mode the ID comes in bits 31:24 and the LDR is
 * derived from it.
 */
export function kvmApicSetState(vcpu: KvmVcpu, s: Uint8Array): number {
  const apic = vcpu.arch.apic;
  if (!apic) return -EINVAL;
  const img = s.slice(0, KVM_APIC_REG_SIZE);
  const dv = new DataView(img.buffer);
  if (apicX2apicMode(apic)) {
    const id = dv.getUint32(APIC_ID, true) >>> 24;
    dv.setUint32(APIC_ID, id, true);
    dv.setUint32(APIC_LDR, kvmApicCalcX2apicLdr(id), true);
  }
  apic.regs.set(img);
  mirrorCr8(apic);
  kvmApicSetVersion(vcpu);
  apicUpdatePpr(apic);
  cancelApicTimer(apic);
  apicUpdateLvtt(apic);
  updateDivideCount(apic);
  startApicTimer(apic, APIC_TMCCT);
  apic.setReg(APIC_TMCCT, 0);
  apic.timer.pending = 0;
  kvmMakeRequest(vcpu, KVM_REQ_EVENT);
  vcpu.arch.apicArbPrio = 0;
  return 0;
}
