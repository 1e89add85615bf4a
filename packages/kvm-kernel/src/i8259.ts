/**
 * arch/x86/kvm/i8259.c: the in-kernel 8259A pair (master at ports 0x20–0x21 with the slave
 * cascaded on its pin 2, slave at 0xA0–0xA1) and the PIIX ELCR (0x4D0–0x4D1). Its INTR
 * output reaches a vCPU through LINT0 in ExtINT mode (kvm_apic_accept_pic_intr), and
 * kvm_pic_read_irq is the INTA cycle that yields the vector.
 */
import { kvmIrqLineState } from "./ioapic.js";
import { kvmNotifyAckedIrq } from "./irq_comm.js";
import { KVM_REQ_EVENT, type Kvm } from "./kvm_host.js";
import { KVM_PIC_STATE_FIELDS, type KvmPicState } from "./uapi/structs.js";
import { kvmMakeRequest } from "./x86.js";

/** struct kvm_kpic_state: one 8259A (the fields of struct kvm_pic_state). */
export class KvmKpicState implements KvmPicState {
  lastIrr = 0;
  irr = 0;
  imr = 0;
  isr = 0;
  priorityAdd = 0;
  irqBase = 0;
  readRegSelect = 0;
  poll = 0;
  specialMask = 0;
  initState = 0;
  autoEoi = 0;
  rotateOnAutoEoi = 0;
  specialFullyNestedMode = 0;
  init4 = 0;
  elcr = 0;
  elcrMask = 0;

  constructor(
    readonly pics: KvmPic,
    readonly isMaster: boolean,
  ) {}
}

/** struct kvm_pic. */
export class KvmPic {
  readonly pics: readonly [KvmKpicState, KvmKpicState];
  /**
   * INTR as a shared word, so vCPU threads' shards see the line (kvm_cpu_has_extint)
   * without a call to the home.
   */
  readonly outputWord = new Int32Array(
    typeof SharedArrayBuffer === "function" ? new SharedArrayBuffer(4) : new ArrayBuffer(4),
  );

  /** INTR: the master has an interrupt for the CPU. */
  get output(): boolean {
    return this.outputWord[0] !== 0;
  }
  set output(v: boolean) {
    Atomics.store(this.outputWord, 0, v ? 1 : 0);
  }
  /** Per pin 0–15: the sources asserting it. */
  readonly irqStates = new Uint32Array(16);

  constructor(readonly kvm: Kvm) {
    this.pics = [new KvmKpicState(this, true), new KvmKpicState(this, false)];
    // kvm_create_pic: the ELCR bits a PIIX lets software set.
    this.pics[0].elcrMask = 0xf8;
    this.pics[1].elcrMask = 0xde;
  }
}

/** pic_set_irq1: an edge latches IRR; a level follows the line. -1 when the pin is masked. */
function picSetIrq1(s: KvmKpicState, irq: number, level: boolean): number {
  const mask = 1 << irq;
  let ret = 1;
  if (s.elcr & mask) {
    if (level) {
      ret = s.irr & mask ? 0 : 1;
      s.irr |= mask;
      s.lastIrr |= mask;
    } else {
      s.irr &= ~mask;
      s.lastIrr &= ~mask;
    }
  } else if (level) {
    if ((s.lastIrr & mask) === 0) {
      ret = s.irr & mask ? 0 : 1;
      s.irr |= mask;
    }
    s.lastIrr |= mask;
  } else {
    s.lastIrr &= ~mask;
  }
  return s.imr & mask ? -1 : ret;
}

/** get_priority: the highest priority (0 highest) in `mask` with rotation, 8 if none. */
function getPriority(s: KvmKpicState, mask: number): number {
  if (mask === 0) return 8;
  let priority = 0;
  while ((mask & (1 << ((priority + s.priorityAdd) & 7))) === 0) priority++;
  return priority;
}

/** pic_get_irq: the pin this 8259 wants to raise, or -1. */
function picGetIrq(s: KvmKpicState): number {
  const priority = getPriority(s, s.irr & ~s.imr);
  if (priority === 8) return -1;
  let mask = s.isr;
  // Special fully nested mode: the slave's pin does not block the master's priority.
  if (s.specialFullyNestedMode && s.isMaster) mask &= ~(1 << 2);
  const cur = getPriority(s, mask);
  return priority < cur ? (priority + s.priorityAdd) & 7 : -1;
}

/** pic_update_irq: cascade the slave into master pin 2, then set INTR. */
function picUpdateIrq(p: KvmPic): void {
  const irq2 = picGetIrq(p.pics[1]);
  if (irq2 >= 0) {
    picSetIrq1(p.pics[0], 2, true);
    picSetIrq1(p.pics[0], 2, false);
  }
  const irq = picGetIrq(p.pics[0]);
  const was = p.output;
  p.output = irq >= 0;
  // pic_unlock: INTR rose — the first vCPU whose LINT0 takes it re-evaluates its events.
  if (!was && p.output) {
    for (const v of p.kvm.vcpus) {
      if (v.arch.apic && picIntrTaker(v)) {
        kvmMakeRequest(v, KVM_REQ_EVENT);
        break;
      }
    }
  }
}

/** kvm_pic_update_irq. */
export const kvmPicUpdateIrq = (p: KvmPic): void => picUpdateIrq(p);

/** kvm_pic_set_irq: pin 0–15 of the pair from kvm_set_irq. */
export function kvmPicSetIrq(p: KvmPic, irq: number, irqSourceId: number, level: boolean): number {
  const irqLevel = kvmIrqLineState(p.irqStates, irq, irqSourceId, level);
  const s = p.pics[irq >> 3]!;
  const ret = picSetIrq1(s, irq & 7, irqLevel);
  picUpdateIrq(p);
  const tp = p.kvm.kernel.trace.kvm_pic_set_irq;
  if (tp.enabled) {
    tp.emit({ chip: irq >> 3, pin: irq & 7, elcr: s.elcr, imr: s.imr, coalesced: ret === 0 });
  }
  return ret;
}

/** pic_clear_isr: retire an in-service pin and tell the ack notifiers of its GSI. */
function picClearIsr(s: KvmKpicState, irq: number): void {
  s.isr &= ~(1 << irq);
  const kvm = s.pics.kvm;
  kvmNotifyAckedIrq(kvm, s.isMaster ? 0 : 1, s.isMaster ? irq : irq + 8);
}

/** pic_intack: in service; an edge request is consumed; auto-EOI retires it at once. */
function picIntack(s: KvmKpicState, irq: number): void {
  s.isr |= 1 << irq;
  if (!(s.elcr & (1 << irq))) s.irr &= ~(1 << irq);
  if (s.autoEoi) {
    if (s.rotateOnAutoEoi) s.priorityAdd = (irq + 1) & 7;
    picClearIsr(s, irq);
  }
}

/** kvm_pic_read_irq: the INTA cycle; a request that vanished gives the spurious IRQ 7. */
export function kvmPicReadIrq(kvm: Kvm): number {
  const p = kvm.arch.vpic!;
  p.output = false;
  const [m, sl] = p.pics;
  let intno: number;
  const irq = picGetIrq(m);
  if (irq >= 0) {
    picIntack(m, irq);
    if (irq === 2) {
      let irq2 = picGetIrq(sl);
      if (irq2 >= 0) picIntack(sl, irq2);
      else irq2 = 7;
      intno = sl.irqBase + irq2;
    } else {
      intno = m.irqBase + irq;
    }
  } else {
    intno = m.irqBase + 7;
  }
  picUpdateIrq(p);
  return intno & 0xff;
}

/** kvm_pic_reset: ICW1 starts initialization. */
function kvmPicReset(s: KvmKpicState): void {
  const edgeIrr = s.irr & ~s.elcr;
  s.lastIrr = 0;
  s.irr &= s.elcr;
  s.imr = 0;
  s.priorityAdd = 0;
  s.specialMask = 0;
  s.readRegSelect = 0;
  if (!s.init4) {
    s.specialFullyNestedMode = 0;
    s.autoEoi = 0;
  }
  s.initState = 1;
  // Edge requests a vCPU was already taking are retired from ISR too (only with a taker).
  const taker = s.pics.kvm.vcpus.some((v) => v.arch.apic && picIntrTaker(v));
  if (!taker) return;
  for (let irq = 0; irq < 8; irq++) if (edgeIrr & (1 << irq)) picClearIsr(s, irq);
}

/** kvm_apic_accept_pic_intr, without importing lapic.ts (hardware-disabled or LINT0 ExtINT). */
function picIntrTaker(v: Kvm["vcpus"][number]): boolean {
  const apic = v.arch.apic!;
  if ((v.arch.apicBase & (1 << 11)) === 0) return true;
  const lvt0 = apic.getReg(0x350);
  return (lvt0 & 0x1_0000) === 0 && (lvt0 & 0x700) === 0x700;
}

/** pic_ioport_write: ICW1–4 and OCW1–3. */
function picIoportWrite(s: KvmKpicState, addr: number, val: number): void {
  const p = s.pics;
  if ((addr & 1) === 0) {
    if (val & 0x10) {
      s.init4 = val & 1;
      if (val & 0x02) p.kvm.kernel.printk("kvm: pic: single mode not supported");
      if (val & 0x08) p.kvm.kernel.printk("kvm: pic: level sensitive irq not supported");
      kvmPicReset(s);
    } else if (val & 0x08) {
      if (val & 0x04) s.poll = 1;
      if (val & 0x02) s.readRegSelect = val & 1;
      if (val & 0x40) s.specialMask = (val >> 5) & 1;
    } else {
      const cmd = val >> 5;
      switch (cmd) {
        case 0:
        case 4:
          s.rotateOnAutoEoi = cmd >> 2;
          break;
        case 1:
        case 5: {
          const priority = getPriority(s, s.isr);
          if (priority !== 8) {
            const irq = (priority + s.priorityAdd) & 7;
            if (cmd === 5) s.priorityAdd = (irq + 1) & 7;
            picClearIsr(s, irq);
            picUpdateIrq(p);
          }
          break;
        }
        case 3:
          picClearIsr(s, val & 7);
          picUpdateIrq(p);
          break;
        case 6:
          s.priorityAdd = (val + 1) & 7;
          picUpdateIrq(p);
          break;
        case 7: {
          const irq = val & 7;
          s.priorityAdd = (irq + 1) & 7;
          picClearIsr(s, irq);
          picUpdateIrq(p);
          break;
        }
        default:
          break;
      }
    }
    return;
  }
  switch (s.initState) {
    case 0:
      s.imr = val;
      picUpdateIrq(p);
      break;
    case 1:
      s.irqBase = val & 0xf8;
      s.initState = 2;
      break;
    case 2:
      s.initState = s.init4 ? 3 : 0;
      break;
    case 3:
      s.specialFullyNestedMode = (val >> 4) & 1;
      s.autoEoi = (val >> 1) & 1;
      s.initState = 0;
      break;
  }
}

/** pic_poll_read: OCW3 poll — acknowledge the highest request, bit 7 = one was there. */
function picPollRead(s: KvmKpicState, addr: number): number {
  const p = s.pics;
  let ret = picGetIrq(s);
  if (ret >= 0) {
    if (addr >> 7) {
      p.pics[0].isr &= ~(1 << 2);
      p.pics[0].irr &= ~(1 << 2);
    }
    s.irr &= ~(1 << ret);
    picClearIsr(s, ret);
    if (addr >> 7 || ret !== 2) picUpdateIrq(p);
    ret |= 0x80;
  } else {
    ret = 0x07;
    picUpdateIrq(p);
  }
  return ret;
}

function picIoportRead(s: KvmKpicState, addr: number): number {
  if (s.poll) {
    const r = picPollRead(s, addr);
    s.poll = 0;
    return r;
  }
  if ((addr & 1) === 0) return s.readRegSelect ? s.isr : s.irr;
  return s.imr;
}

/** picdev_in_range: the ports the PIC claims. */
export const picdevInRange = (port: number): boolean =>
  port === 0x20 ||
  port === 0x21 ||
  port === 0xa0 ||
  port === 0xa1 ||
  port === 0x4d0 ||
  port === 0x4d1;

/** picdev_write: one byte to a PIC port (wider writes are ignored). */
export function picdevWrite(p: KvmPic, port: number, len: number, data: number): void {
  if (len !== 1) {
    p.kvm.kernel.printk("kvm: pic: non byte write");
    return;
  }
  const v = data & 0xff;
  switch (port) {
    case 0x20:
    case 0x21:
      picIoportWrite(p.pics[0], port, v);
      break;
    case 0xa0:
    case 0xa1:
      picIoportWrite(p.pics[1], port, v);
      break;
    case 0x4d0:
    case 0x4d1: {
      const s = p.pics[port & 1]!;
      s.elcr = v & s.elcrMask;
      break;
    }
  }
}

/** picdev_read: one byte from a PIC port (a wider read returns 0). */
export function picdevRead(p: KvmPic, port: number, len: number): number {
  if (len !== 1) {
    p.kvm.kernel.printk("kvm: pic: non byte read");
    return 0;
  }
  switch (port) {
    case 0x20:
    case 0x21:
    case 0xa0:
    case 0xa1:
      return picIoportRead(p.pics[port >> 7]!, port);
    default:
      return p.pics[port & 1]!.elcr;
  }
}

/** struct kvm_pic_state's fields, in order (the uapi's list). */
const FIELDS = KVM_PIC_STATE_FIELDS;

/** KVM_GET_IRQCHIP for chip 0 or 1: a copy of struct kvm_pic_state. */
export function kvmGetPicState(p: KvmPic, chip: number): KvmPicState {
  const s = p.pics[chip]!;
  const out = {} as KvmPicState;
  for (const f of FIELDS) out[f] = s[f];
  return out;
}

/** KVM_SET_IRQCHIP for chip 0 or 1: load the state, then recompute INTR. */
export function kvmSetPicState(p: KvmPic, chip: number, st: KvmPicState): void {
  const s = p.pics[chip]!;
  for (const f of FIELDS) s[f] = st[f] & 0xff;
  picUpdateIrq(p);
}
