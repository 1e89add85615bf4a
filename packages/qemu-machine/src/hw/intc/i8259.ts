/**
 * The i8259 PIC pair (hw/intc/i8259.c, i8259_common.c): the pc machine's master at
 * 0x20/0x21 (ISA IRQ 0–7) and slave at 0xa0/0xa1 (IRQ 8–15), the slave's output
 * cascaded into master input 2, and the ELCR edge/level registers at 0x4d0/0x4d1.
 *
 *   const irqs = i8259Init(isaBus, cpuIntr);   // 16 inputs; cpuIntr follows INTR
 *   isaBusIrqs(isaBus, irqs);
 *   …  when INTR is high and the CPU takes it:  vector = picReadIrq(isaPic!)
 *
 * Programming: ICW1 (port 0, bit 4) resets the chip and starts the ICW2 (vector base,
 * port 1), ICW3 (cascade, only when not single) and ICW4 (if ICW1 bit 0; bit 1 =
 * auto-EOI, bit 4 = special fully nested) sequence; then port 1 writes are OCW1 (IMR)
 * and port 0 writes are OCW2 (EOI, specific EOI, rotations, set priority) or OCW3
 * (bit 3: select IRR/ISR for reads, poll, special mask). Priorities rotate with
 * `priority_add`; level-triggered inputs (ELCR bit or ICW1 LTIM) keep IRR while high.
 *
 * `picReadIrq` is the INTA cycle: it returns the vector of the highest pending input,
 * moves it from IRR to ISR (or not, with auto-EOI), and answers a spurious IRQ 7 (15
 * on the slave) when nothing is pending. With KVM and no in-kernel irqchip QEMU injects
 * that vector with KVM_INTERRUPT — the accelerator's part, not this file's.
 *
 * Not modelled: the `info pic` statistics, KVM's in-kernel i8259 (`kvm-i8259`).
 */
import {
  type DeviceClass,
  type DeviceState,
  definePropBit,
  definePropUint8,
  definePropUint32,
  deviceClassSetProps,
  objectPropertySetBool,
  objectPropertySetUint,
  typeInit,
  typeRegisterStatic,
} from "@glassvm/qom";
import {
  type MemoryRegion,
  memoryRegionDelSubregion,
  memoryRegionInitIo,
} from "../../system/memory.js";
import { qemuRegisterReset, qemuUnregisterReset } from "../../system/runstate.js";
import { defineTraceEvent, traceEvent } from "../../trace/control.js";
import { type QemuIrq, qemuAllocateIrqs, qemuIrqLower, qemuIrqRaise } from "../irq.js";
import {
  ISA_NUM_IRQS,
  type ISABus,
  type ISADevice,
  isaByteIoOps,
  isaDeviceOwner,
  isaNew,
  isaRealizeAndUnref,
  isaRegisterIoport,
  TYPE_ISA_DEVICE,
} from "../isa/isa-bus.js";

export const TYPE_PIC_COMMON = "pic-common";
export const TYPE_I8259 = "isa-i8259";

defineTraceEvent(
  "pic_update_irq",
  (a) => `master ${+(a.master as boolean)} imr ${a.imr} irr ${a.irr} padd ${a.padd}`,
);
defineTraceEvent(
  "pic_set_irq",
  (a) => `master ${+(a.master as boolean)} irq ${a.irq} level ${a.level}`,
);
defineTraceEvent("pic_interrupt", (a) => `irq ${a.irq} intno ${a.intno}`);
defineTraceEvent(
  "pic_ioport_write",
  (a) =>
    `master ${+(a.master as boolean)} addr 0x${(a.addr as number).toString(16)} val 0x${(a.val as number).toString(16)}`,
);
defineTraceEvent(
  "pic_ioport_read",
  (a) =>
    `master ${+(a.master as boolean)} addr 0x${(a.addr as number).toString(16)} val 0x${(a.val as number).toString(16)}`,
);

/** `PICCommonState`: one 8259. */
export interface PICCommonState extends ISADevice {
  lastIrr: number;
  irr: number;
  imr: number;
  isr: number;
  priorityAdd: number;
  irqBase: number;
  readRegSelect: number;
  poll: number;
  specialMask: number;
  initState: number;
  autoEoi: number;
  rotateOnAutoEoi: number;
  specialFullyNestedMode: number;
  init4: number;
  singleMode: number;
  /** ICW1 LTIM: every input level-triggered. */
  ltim: number;
  elcr: number;
  elcrMask: number;
  /** `master` is bit 0 of this field (DEFINE_PROP_BIT). */
  masterBits: number;
  iobase: number;
  elcrAddr: number;
  /** The INT output (`int_out[0]`): the CPU's INTR, or the master's input 2. */
  intOut: QemuIrq | null;
  /** The 8 inputs (`qdev_get_gpio_in`), created at realize. */
  gpioIn: QemuIrq[];
  /** The other chip when this is the master of a cascaded pair. */
  slave: PICCommonState | null;
  baseIo: MemoryRegion | null;
  elcrIo: MemoryRegion | null;
}

/** The master PIC (`isa_pic`), set by `i8259Init`; the CPU's INTA goes to it. */
export let isaPic: PICCommonState | null = null;

const isMaster = (s: PICCommonState) => (s.masterBits & 1) !== 0;

/** `get_priority`: highest priority in `mask` (0 = highest) relative to the rotation; 8 if none. */
function getPriority(s: PICCommonState, mask: number): number {
  if (mask === 0) return 8;
  let priority = 0;
  while ((mask & (1 << ((priority + s.priorityAdd) & 7))) === 0) priority++;
  return priority;
}

/** `pic_get_irq`: the input the chip wants serviced, or -1. */
function picGetIrq(s: PICCommonState): number {
  let mask = s.irr & ~s.imr;
  const priority = getPriority(s, mask);
  if (priority === 8) return -1;
  // What is in service blocks equal and lower priorities. Special mask mode ignores
  // in-service inputs that are masked; special fully nested mode lets the slave
  // interrupt its own in-service request on master input 2.
  mask = s.isr;
  if (s.specialMask) mask &= ~s.imr;
  if (s.specialFullyNestedMode && isMaster(s)) mask &= ~(1 << 2);
  const curPriority = getPriority(s, mask);
  return priority < curPriority ? (priority + s.priorityAdd) & 7 : -1;
}

/** `pic_update_irq`: drive INT from the current state. */
function picUpdateIrq(s: PICCommonState): void {
  if (picGetIrq(s) >= 0) {
    traceEvent("pic_update_irq", {
      master: isMaster(s),
      imr: s.imr,
      irr: s.irr,
      padd: s.priorityAdd,
    });
    qemuIrqRaise(s.intOut);
  } else {
    qemuIrqLower(s.intOut);
  }
}

/** `pic_set_irq`: an input changed level; an edge sets IRR. */
function picSetIrq(s: PICCommonState, irq: number, level: number): void {
  const mask = 1 << irq;
  traceEvent("pic_set_irq", { master: isMaster(s), irq, level });
  if (s.ltim || s.elcr & mask) {
    // Level-triggered: IRR follows the line.
    if (level) {
      s.irr |= mask;
      s.lastIrr |= mask;
    } else {
      s.irr &= ~mask;
      s.lastIrr &= ~mask;
    }
  } else if (level) {
    // Edge-triggered: only a rising edge requests.
    if ((s.lastIrr & mask) === 0) s.irr |= mask;
    s.lastIrr |= mask;
  } else {
    s.lastIrr &= ~mask;
  }
  picUpdateIrq(s);
}

/** `pic_intack`: the CPU acknowledged `irq`. */
function picIntack(s: PICCommonState, irq: number): void {
  if (s.autoEoi) {
    if (s.rotateOnAutoEoi) s.priorityAdd = (irq + 1) & 7;
  } else {
    s.isr |= 1 << irq;
  }
  // A level-triggered request stays in IRR while its line is high.
  if (!s.ltim && !(s.elcr & (1 << irq))) s.irr &= ~(1 << irq);
  picUpdateIrq(s);
}

/**
 * `pic_read_irq`: the interrupt acknowledge cycle on the master. Returns the vector;
 * with nothing pending (the request went away) it is the spurious IRQ 7 of the chip
 * that was asked (IRQ 15 when the master pointed at the slave).
 */
export function picReadIrq(s: PICCommonState): number {
  let irq = picGetIrq(s);
  let intno: number;
  if (irq >= 0) {
    const slave = s.slave;
    if (irq === 2 && slave) {
      let irq2 = picGetIrq(slave);
      if (irq2 >= 0) picIntack(slave, irq2);
      else irq2 = 7; // spurious IRQ on the slave
      intno = slave.irqBase + irq2;
      picIntack(s, irq);
      irq = irq2 + 8;
    } else {
      intno = s.irqBase + irq;
      picIntack(s, irq);
    }
  } else {
    irq = 7; // spurious IRQ on the master
    intno = s.irqBase + irq;
  }
  traceEvent("pic_interrupt", { irq, intno });
  return intno;
}

/** `pic_get_output`: is INT asserted? (The LAPIC's LINT0 asks this.) */
export function picGetOutput(s: PICCommonState): boolean {
  return picGetIrq(s) >= 0;
}

/** `pic_reset_common`: what ICW1 and reset clear (ELCR survives ICW1). */
export function picResetCommon(s: PICCommonState): void {
  s.lastIrr = 0;
  s.irr &= s.elcr;
  s.imr = 0;
  s.isr = 0;
  s.priorityAdd = 0;
  s.irqBase = 0;
  s.readRegSelect = 0;
  s.poll = 0;
  s.specialMask = 0;
  s.initState = 0;
  s.autoEoi = 0;
  s.rotateOnAutoEoi = 0;
  s.specialFullyNestedMode = 0;
  s.init4 = 0;
  s.singleMode = 0;
}

function picInitReset(s: PICCommonState): void {
  picResetCommon(s);
  picUpdateIrq(s);
}

/** `pic_reset`: the device reset also clears ELCR and LTIM. */
export function picReset(s: PICCommonState): void {
  s.elcr = 0;
  s.ltim = 0;
  picInitReset(s);
}

/** `pic_ioport_write` (ports base+0 and base+1). */
export function picIoportWrite(s: PICCommonState, addr: number, val: number): void {
  traceEvent("pic_ioport_write", { master: isMaster(s), addr, val });
  if (addr === 0) {
    if (val & 0x10) {
      // ICW1
      picInitReset(s);
      s.initState = 1;
      s.init4 = val & 1;
      s.singleMode = val & 2;
      s.ltim = val & 8;
    } else if (val & 0x08) {
      // OCW3
      if (val & 0x04) s.poll = 1;
      if (val & 0x02) s.readRegSelect = val & 1;
      if (val & 0x40) s.specialMask = (val >> 5) & 1;
    } else {
      // OCW2
      const cmd = val >> 5;
      switch (cmd) {
        case 0: // rotate in auto-EOI mode: clear
        case 4: // rotate in auto-EOI mode: set
          s.rotateOnAutoEoi = cmd >> 2;
          break;
        case 1: // non-specific EOI
        case 5: {
          // rotate on non-specific EOI
          const priority = getPriority(s, s.isr);
          if (priority !== 8) {
            const irq = (priority + s.priorityAdd) & 7;
            s.isr &= ~(1 << irq);
            if (cmd === 5) s.priorityAdd = (irq + 1) & 7;
            picUpdateIrq(s);
          }
          break;
        }
        case 3: // specific EOI
          s.isr &= ~(1 << (val & 7));
          picUpdateIrq(s);
          break;
        case 6: // set priority: val & 7 becomes the lowest
          s.priorityAdd = (val + 1) & 7;
          picUpdateIrq(s);
          break;
        case 7: {
          // rotate on specific EOI
          const irq = val & 7;
          s.isr &= ~(1 << irq);
          s.priorityAdd = (irq + 1) & 7;
          picUpdateIrq(s);
          break;
        }
        default: // 2: no operation
          break;
      }
    }
  } else {
    switch (s.initState) {
      case 0: // OCW1
        s.imr = val;
        picUpdateIrq(s);
        break;
      case 1: // ICW2
        s.irqBase = val & 0xf8;
        s.initState = s.singleMode ? (s.init4 ? 3 : 0) : 2;
        break;
      case 2: // ICW3 (cascade wiring is fixed on the PC)
        s.initState = s.init4 ? 3 : 0;
        break;
      case 3: // ICW4
        s.specialFullyNestedMode = (val >> 4) & 1;
        s.autoEoi = (val >> 1) & 1;
        s.initState = 0;
        break;
    }
  }
}

/** `pic_ioport_read`: IRR or ISR (per OCW3) at base+0, IMR at base+1; a poll acknowledges. */
export function picIoportRead(s: PICCommonState, addr: number): number {
  let ret: number;
  if (s.poll) {
    ret = picGetIrq(s);
    if (ret >= 0) {
      picIntack(s, ret);
      ret |= 0x80;
    } else {
      ret = 0;
    }
    s.poll = 0;
  } else if (addr === 0) {
    ret = s.readRegSelect ? s.isr : s.irr;
  } else {
    ret = s.imr;
  }
  traceEvent("pic_ioport_read", { master: isMaster(s), addr, val: ret });
  return ret;
}

function elcrIoportWrite(s: PICCommonState, val: number): void {
  s.elcr = val & s.elcrMask;
}

function elcrIoportRead(s: PICCommonState): number {
  return s.elcr;
}

const picResetHandler = (opaque: unknown) => picReset(opaque as PICCommonState);

/** `pic_common_realize` + `pic_realize`. */
function picRealize(dev: DeviceState): void {
  const s = dev as PICCommonState;
  const owner = isaDeviceOwner(s);
  s.baseIo = memoryRegionInitIo(
    owner,
    isaByteIoOps(
      2,
      (addr) => picIoportRead(s, addr),
      (addr, val) => picIoportWrite(s, addr, val),
    ),
    "pic",
    2,
  );
  s.elcrIo = memoryRegionInitIo(
    owner,
    isaByteIoOps(
      1,
      () => elcrIoportRead(s),
      (_addr, val) => elcrIoportWrite(s, val),
    ),
    "elcr",
    1,
  );
  s.gpioIn = qemuAllocateIrqs(
    (opaque, n, level) => picSetIrq(opaque as PICCommonState, n, level),
    s,
    8,
  );
  isaRegisterIoport(s, s.baseIo, s.iobase);
  if (s.elcrAddr !== 0xffff_ffff) isaRegisterIoport(s, s.elcrIo, s.elcrAddr);
  qemuRegisterReset(picResetHandler, s);
  picReset(s);
}

function picUnrealize(dev: DeviceState): void {
  const s = dev as PICCommonState;
  for (const mr of [s.baseIo, s.elcrIo]) {
    if (mr?.container) memoryRegionDelSubregion(mr.container, mr);
  }
  qemuUnregisterReset(picResetHandler, s);
}

/** `i8259_init_chip`. */
function i8259InitChip(bus: ISABus, master: boolean): PICCommonState {
  const dev = isaNew<PICCommonState>(TYPE_I8259);
  objectPropertySetUint(dev, "iobase", master ? 0x20 : 0xa0);
  objectPropertySetUint(dev, "elcr_addr", master ? 0x4d0 : 0x4d1);
  objectPropertySetUint(dev, "elcr_mask", master ? 0xf8 : 0xde);
  objectPropertySetBool(dev, "master", master);
  isaRealizeAndUnref(dev, bus);
  return dev;
}

/**
 * `i8259_init`: create and wire the master/slave pair on `bus`; the master's INT drives
 * `parentIrq`. Returns the 16 ISA IRQ inputs (what the board registers on the bus).
 */
export function i8259Init(bus: ISABus, parentIrq: QemuIrq | null): QemuIrq[] {
  const irqSet: QemuIrq[] = [];
  const master = i8259InitChip(bus, true);
  master.intOut = parentIrq;
  irqSet.push(...master.gpioIn);
  isaPic = master;
  const slave = i8259InitChip(bus, false);
  slave.intOut = master.gpioIn[2]!;
  irqSet.push(...slave.gpioIn);
  master.slave = slave;
  if (irqSet.length !== ISA_NUM_IRQS) throw new RangeError("i8259_init: expected 16 inputs");
  return irqSet;
}

typeInit(() => {
  typeRegisterStatic<DeviceClass, PICCommonState>({
    name: TYPE_PIC_COMMON,
    parent: TYPE_ISA_DEVICE,
    abstract: true,
    instanceSize: 320,
    instanceInit: (s) => {
      s.lastIrr = 0;
      s.irr = 0;
      s.elcr = 0;
      s.ltim = 0;
      s.intOut = null;
      s.gpioIn = [];
      s.slave = null;
      s.baseIo = null;
      s.elcrIo = null;
      picResetCommon(s);
    },
    classInit: (dc) => {
      dc.userCreatable = false;
      deviceClassSetProps(dc, [
        definePropUint32("iobase", "iobase", 0xffff_ffff),
        definePropUint32("elcr_addr", "elcrAddr", 0xffff_ffff),
        definePropUint8("elcr_mask", "elcrMask", 0xff),
        definePropBit("master", "masterBits", 0, false),
      ]);
    },
  });
  typeRegisterStatic<DeviceClass, PICCommonState>({
    name: TYPE_I8259,
    parent: TYPE_PIC_COMMON,
    classInit: (dc) => {
      dc.realize = picRealize;
      dc.unrealize = picUnrealize;
    },
  });
});
