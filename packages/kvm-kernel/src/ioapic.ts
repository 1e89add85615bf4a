/**
 * arch/x86/kvm/ioapic.c: the in-kernel I/O APIC (82093AA-style, version 0x11, 24 pins) at
 * 0xFEC00000: IOREGSEL at +0x00, IOWIN at +0x10, the EOI register at +0x40; each pin's
 * 64-bit redirection entry turns a GSI into an interrupt message for the local APICs.
 */
import { type KvmLapicIrq, kvmIrqDeliveryToApic, kvmNotifyAckedIrq } from "./irq_comm.js";
import type { Kvm } from "./kvm_host.js";
import type { KvmLapic } from "./lapic.js";
import { KVM_IRQCHIP_IOAPIC } from "./uapi/kvm.js";
import { KVM_IOAPIC_NUM_PINS, type KvmIoapicState } from "./uapi/structs.js";

export const IOAPIC_DEFAULT_BASE_ADDRESS = 0xfec0_0000;
export const IOAPIC_MEM_LENGTH = 0x100;
export const IOAPIC_NUM_PINS = KVM_IOAPIC_NUM_PINS;
export const IOAPIC_VERSION_ID = 0x11;
/** Direct registers (offsets from the base). */
export const IOAPIC_REG_SELECT = 0x00;
export const IOAPIC_REG_WINDOW = 0x10;
export const IOAPIC_REG_EOI = 0x40;
/** Indirect registers (IOREGSEL values). */
export const IOAPIC_REG_APIC_ID = 0x00;
export const IOAPIC_REG_VERSION = 0x01;
export const IOAPIC_REG_ARB_ID = 0x02;
/** IOAPIC_SUCCESSIVE_IRQ_MAX_COUNT: a level interrupt re-raised this often is delayed. */
const IOAPIC_SUCCESSIVE_IRQ_MAX_COUNT = 10_000;

/** Redirection-entry fields (the union kvm_ioapic_redirect_entry). */
export const IOREDTBL_VECTOR = 0xffn;
export const IOREDTBL_DELIVERY_MODE_SHIFT = 8n;
export const IOREDTBL_DEST_MODE = 1n << 11n;
export const IOREDTBL_DELIVERY_STATUS = 1n << 12n;
export const IOREDTBL_REMOTE_IRR = 1n << 14n;
export const IOREDTBL_TRIG_MODE = 1n << 15n;
export const IOREDTBL_MASK = 1n << 16n;
export const IOREDTBL_DEST_SHIFT = 56n;

/** struct kvm_ioapic. */
export class KvmIoapic {
  baseAddress = IOAPIC_DEFAULT_BASE_ADDRESS;
  ioregsel = 0;
  id = 0;
  /** Pins whose line is asserted (level) or whose edge waits (bit per pin). */
  irr = 0;
  /** Edge pins already delivered (reported as not pending by KVM_GET_IRQCHIP). */
  irrDelivered = 0;
  readonly redirtbl = new BigUint64Array(IOAPIC_NUM_PINS);
  /** Per pin: the sources asserting it (irq_states, a bit per irq source id). */
  readonly irqStates = new Uint32Array(IOAPIC_NUM_PINS);
  /** Per pin: EOIs that found the level line still up, in a row (irq_eoi). */
  readonly irqEoi = new Uint32Array(IOAPIC_NUM_PINS);

  constructor(readonly kvm: Kvm) {
    kvmIoapicReset(this);
  }
}

/** kvm_ioapic_reset: every pin masked, registers cleared. */
export function kvmIoapicReset(ioapic: KvmIoapic): void {
  for (let i = 0; i < IOAPIC_NUM_PINS; i++) ioapic.redirtbl[i] = IOREDTBL_MASK;
  ioapic.baseAddress = IOAPIC_DEFAULT_BASE_ADDRESS;
  ioapic.ioregsel = 0;
  ioapic.irr = 0;
  ioapic.irrDelivered = 0;
  ioapic.id = 0;
  ioapic.irqEoi.fill(0);
}

const isLevel = (e: bigint): boolean => (e & IOREDTBL_TRIG_MODE) !== 0n;

/** __kvm_irq_line_state: a line is up while any source holds it up. */
export function kvmIrqLineState(
  states: Uint32Array,
  pin: number,
  sourceId: number,
  level: boolean,
): boolean {
  if (level) states[pin]! |= 1 << sourceId;
  else states[pin]! &= ~(1 << sourceId);
  return states[pin] !== 0;
}

/**
 * ioapic_service: send pin `irq`'s message unless it is masked or a level interrupt still
 * waits for its EOI (remote IRR). Returns kvm_irq_delivery_to_apic's count (-1: none).
 */
function ioapicService(ioapic: KvmIoapic, irq: number): number {
  const e = ioapic.redirtbl[irq]!;
  if ((e & IOREDTBL_MASK) !== 0n || (isLevel(e) && (e & IOREDTBL_REMOTE_IRR) !== 0n)) return -1;
  const irqe: KvmLapicIrq = {
    destId: Number(e >> IOREDTBL_DEST_SHIFT),
    vector: Number(e & IOREDTBL_VECTOR),
    destMode: (e & IOREDTBL_DEST_MODE) !== 0n ? 0x800 : 0,
    trigMode: isLevel(e),
    deliveryMode: Number((e >> IOREDTBL_DELIVERY_MODE_SHIFT) & 7n) << 8,
    level: true,
    shorthand: 0,
  };
  if (!irqe.trigMode) ioapic.irrDelivered |= 1 << irq;
  const ret = kvmIrqDeliveryToApic(ioapic.kvm, null, irqe);
  if (ret !== 0 && irqe.trigMode) ioapic.redirtbl[irq] = e | IOREDTBL_REMOTE_IRR;
  return ret;
}

/**
 * ioapic_set_irq: a pin's line level changes. Returns 1 (or the delivery count) when it
 * was delivered, 0 when coalesced (an edge not yet delivered, a level awaiting EOI), -1
 * when masked.
 */
function ioapicSetIrq(ioapic: KvmIoapic, irq: number, level: boolean): number {
  const mask = 1 << irq;
  const entry = ioapic.redirtbl[irq]!;
  const edge = !isLevel(entry);
  let ret: number;
  if (!level) {
    ioapic.irr &= ~mask;
    ret = 1;
  } else {
    const oldIrr = ioapic.irr;
    ioapic.irr |= mask;
    if (edge) ioapic.irrDelivered &= ~mask;
    if (edge && oldIrr === ioapic.irr) ret = 0;
    else ret = ioapicService(ioapic, irq);
  }
  const tp = ioapic.kvm.kernel.trace.kvm_ioapic_set_irq;
  if (tp.enabled) tp.emit({ e: entry, pin: irq, coalesced: ret === 0 });
  return ret;
}

/** kvm_ioapic_set_irq: from kvm_set_irq, for one routed pin. */
export function kvmIoapicSetIrq(
  ioapic: KvmIoapic,
  irq: number,
  irqSourceId: number,
  level: boolean,
  _lineStatus: boolean,
): number {
  const irqLevel = kvmIrqLineState(ioapic.irqStates, irq, irqSourceId, level);
  return ioapicSetIrq(ioapic, irq, irqLevel);
}

/**
 * kvm_ioapic_update_eoi: a local APIC retired `vector`. Each level-triggered pin with that
 * vector drops its remote IRR and, if its line is still up and unmasked, fires again.
 */
export function kvmIoapicUpdateEoi(
  ioapic: KvmIoapic,
  apic: KvmLapic,
  vector: number,
  levelTriggered: boolean,
): void {
  for (let i = 0; i < IOAPIC_NUM_PINS; i++) {
    const e = ioapic.redirtbl[i]!;
    if (Number(e & IOREDTBL_VECTOR) !== vector) continue;
    kvmNotifyAckedIrq(ioapic.kvm, KVM_IRQCHIP_IOAPIC, i);
    // SPIV's directed-EOI bit leaves the EOI to the I/O APIC's own EOI register.
    if (!levelTriggered || (apic.getReg(0xf0) & (1 << 12)) !== 0) continue;
    ioapic.redirtbl[i] = e & ~IOREDTBL_REMOTE_IRR;
    if ((e & IOREDTBL_MASK) === 0n && (ioapic.irr & (1 << i)) !== 0) {
      ioapic.irqEoi[i]!++;
      // Linux delays the 10 000th successive re-injection to let the guest make progress;
      // a single-threaded model just starts counting again.
      if (ioapic.irqEoi[i] === IOAPIC_SUCCESSIVE_IRQ_MAX_COUNT) ioapic.irqEoi[i] = 0;
      ioapicService(ioapic, i);
    } else {
      ioapic.irqEoi[i] = 0;
    }
  }
}

/** ioapic_read_indirect: the register IOREGSEL selects. */
function ioapicReadIndirect(ioapic: KvmIoapic): number {
  switch (ioapic.ioregsel) {
    case IOAPIC_REG_VERSION:
      return (((IOAPIC_NUM_PINS - 1) & 0xff) << 16) | (IOAPIC_VERSION_ID & 0xff);
    case IOAPIC_REG_APIC_ID:
    case IOAPIC_REG_ARB_ID:
      return ((ioapic.id & 0xf) << 24) >>> 0;
    default: {
      const index = (ioapic.ioregsel - 0x10) >> 1;
      let content = 0xffff_ffff_ffff_ffffn;
      if (index >= 0 && index < IOAPIC_NUM_PINS) content = ioapic.redirtbl[index]!;
      return Number((ioapic.ioregsel & 1 ? content >> 32n : content) & 0xffff_ffffn);
    }
  }
}

/**
 * ioapic_write_indirect: IOREGSEL's register gets `val`. Delivery status and remote IRR are
 * read-only (remote IRR clears when the pin becomes edge-triggered); unmasking a level pin
 * whose line is up fires it.
 */
function ioapicWriteIndirect(ioapic: KvmIoapic, val: number): void {
  switch (ioapic.ioregsel) {
    case IOAPIC_REG_VERSION:
    case IOAPIC_REG_ARB_ID:
      return;
    case IOAPIC_REG_APIC_ID:
      ioapic.id = (val >>> 24) & 0xf;
      return;
    default: {
      const index = (ioapic.ioregsel - 0x10) >> 1;
      if (index < 0 || index >= IOAPIC_NUM_PINS) return;
      const old = ioapic.redirtbl[index]!;
      const ro = IOREDTBL_REMOTE_IRR | IOREDTBL_DELIVERY_STATUS;
      let e =
        ioapic.ioregsel & 1
          ? (old & 0xffff_ffffn) | (BigInt(val >>> 0) << 32n)
          : (old & 0xffff_ffff_0000_0000n) | BigInt(val >>> 0);
      e = (e & ~ro) | (old & ro);
      if (!isLevel(e)) e &= ~IOREDTBL_REMOTE_IRR;
      ioapic.redirtbl[index] = e;
      if (
        isLevel(e) &&
        (ioapic.irr & (1 << index)) !== 0 &&
        (e & IOREDTBL_MASK) === 0n &&
        (e & IOREDTBL_REMOTE_IRR) === 0n
      ) {
        ioapicService(ioapic, index);
      }
    }
  }
}

/** ioapic_mmio_in_range. */
export const ioapicInRange = (ioapic: KvmIoapic, gpa: number): boolean =>
  gpa >= ioapic.baseAddress && gpa < ioapic.baseAddress + IOAPIC_MEM_LENGTH;

/** ioapic_mmio_read: IOREGSEL or IOWIN (1, 2, 4 or 8 bytes; others read as 0). */
export function ioapicMmioRead(ioapic: KvmIoapic, gpa: number, dst: Uint8Array): void {
  const addr = (gpa - ioapic.baseAddress) & 0xff;
  let result = 0;
  if ((addr & ~0xf) === IOAPIC_REG_SELECT) result = ioapic.ioregsel;
  else if ((addr & ~0xf) === IOAPIC_REG_WINDOW) result = ioapicReadIndirect(ioapic);
  dst.fill(0);
  const n = Math.min(dst.length, 4);
  for (let i = 0; i < n; i++) dst[i] = (result >>> (8 * i)) & 0xff;
}

/** ioapic_mmio_write: IOREGSEL, IOWIN, or the EOI register (a vector, as from a LAPIC EOI). */
export function ioapicMmioWrite(ioapic: KvmIoapic, gpa: number, src: Uint8Array): void {
  const addr = (gpa - ioapic.baseAddress) & 0xff;
  let data: number;
  if (src.length === 8 || src.length === 4) {
    data = (src[0]! | (src[1]! << 8) | (src[2]! << 16) | (src[3]! << 24)) >>> 0;
  } else if (src.length === 2) {
    data = src[0]! | (src[1]! << 8);
  } else if (src.length === 1) {
    data = src[0]!;
  } else {
    return;
  }
  switch (addr & ~0xf) {
    case IOAPIC_REG_SELECT:
      ioapic.ioregsel = data & 0xff;
      return;
    case IOAPIC_REG_WINDOW:
      ioapicWriteIndirect(ioapic, data);
      return;
    case IOAPIC_REG_EOI:
      eoiRegisterWrite(ioapic, data & 0xff);
      return;
  }
}

/** The EOI register: the same as a level-triggered LAPIC EOI for that vector, without an APIC. */
function eoiRegisterWrite(ioapic: KvmIoapic, vector: number): void {
  for (let i = 0; i < IOAPIC_NUM_PINS; i++) {
    const e = ioapic.redirtbl[i]!;
    if (Number(e & IOREDTBL_VECTOR) !== vector) continue;
    kvmNotifyAckedIrq(ioapic.kvm, KVM_IRQCHIP_IOAPIC, i);
    if (!isLevel(e)) continue;
    ioapic.redirtbl[i] = e & ~IOREDTBL_REMOTE_IRR;
    if ((e & IOREDTBL_MASK) === 0n && (ioapic.irr & (1 << i)) !== 0) ioapicService(ioapic, i);
  }
}

/** kvm_get_ioapic: the state, with delivered edges no longer pending. */
export function kvmGetIoapic(ioapic: KvmIoapic): KvmIoapicState {
  return {
    baseAddress: BigInt(ioapic.baseAddress),
    ioregsel: ioapic.ioregsel,
    id: ioapic.id,
    irr: (ioapic.irr & ~ioapic.irrDelivered) >>> 0,
    redirtbl: [...ioapic.redirtbl],
  };
}

/** kvm_set_ioapic: load the state, then raise again every pin the state has pending. */
export function kvmSetIoapic(ioapic: KvmIoapic, s: KvmIoapicState): void {
  ioapic.baseAddress = Number(s.baseAddress);
  ioapic.ioregsel = s.ioregsel;
  ioapic.id = s.id;
  for (let i = 0; i < IOAPIC_NUM_PINS; i++) ioapic.redirtbl[i] = s.redirtbl[i] ?? 0n;
  ioapic.irr = 0;
  ioapic.irrDelivered = 0;
  for (let i = 0; i < IOAPIC_NUM_PINS; i++) if ((s.irr >>> i) & 1) ioapicSetIrq(ioapic, i, true);
}
