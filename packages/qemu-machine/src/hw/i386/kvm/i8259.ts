/**
 * hw/i386/kvm/i8259.c: the `kvm-i8259` pair, QEMU's face of the PICs that live in the
 * kernel (kernel-irqchip=on). The guest's accesses to ports 0x20/0x21, 0xA0/0xA1 and the
 * ELCRs 0x4D0/0x4D1 never leave the kernel; QEMU's side keeps the QOM devices (for reset,
 * migration and `info pic`) and turns ISA IRQ lines into KVM_IRQ_LINE: `kvm_i8259_init`
 * returns 16 inputs, each `kvm_pic_set_irq` → kvm_set_irq(GSI n). A reset (or a loaded
 * state) is written into the kernel with KVM_SET_IRQCHIP (`kvm_pic_put`); KVM_GET_IRQCHIP
 * reads it back (`kvm_pic_get`).
 */
import {
  decodeKvmIrqchip,
  encodeKvmIrqchip,
  KVM_GET_IRQCHIP,
  KVM_IRQCHIP_PIC_MASTER,
  KVM_IRQCHIP_PIC_SLAVE,
  KVM_SET_IRQCHIP,
} from "@glassvm/kvm-kernel/uapi";
import {
  type DeviceClass,
  type DeviceState,
  objectPropertySetBool,
  objectPropertySetUint,
  typeInit,
  typeRegisterStatic,
} from "@glassvm/qom";
import {
  kvmIoctlFailed,
  kvmSetIrq,
  kvmStateCurrent,
  kvmVmIoctl,
} from "../../../accel/kvm/kvm-all.js";
import { memoryRegionDelSubregion, memoryRegionInitIo } from "../../../system/memory.js";
import { qemuRegisterReset, qemuUnregisterReset } from "../../../system/runstate.js";
import { type PICCommonState, picResetCommon, TYPE_PIC_COMMON } from "../../intc/i8259.js";
import { type QemuIrq, qemuAllocateIrqs } from "../../irq.js";
import {
  ISA_NUM_IRQS,
  type ISABus,
  isaByteIoOps,
  isaDeviceOwner,
  isaNew,
  isaRealizeAndUnref,
  isaRegisterIoport,
} from "../../isa/isa-bus.js";

export const TYPE_KVM_I8259 = "kvm-i8259";

const chipId = (s: PICCommonState): number =>
  (s.masterBits & 1) !== 0 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;

/** `kvm_pic_get`: the chip's state from the kernel (KVM_GET_IRQCHIP). */
export function kvmPicGet(s: PICCommonState): void {
  const kvm = kvmStateCurrent();
  if (!kvm) return;
  const buf = encodeKvmIrqchip({ chipId: chipId(s) });
  const r = kvmVmIoctl(kvm, KVM_GET_IRQCHIP, buf);
  if (r < 0) kvmIoctlFailed("KVM_GET_IRQCHIP", r);
  const k = decodeKvmIrqchip(buf).pic!;
  s.lastIrr = k.lastIrr;
  s.irr = k.irr;
  s.imr = k.imr;
  s.isr = k.isr;
  s.priorityAdd = k.priorityAdd;
  s.irqBase = k.irqBase;
  s.readRegSelect = k.readRegSelect;
  s.poll = k.poll;
  s.specialMask = k.specialMask;
  s.initState = k.initState;
  s.autoEoi = k.autoEoi;
  s.rotateOnAutoEoi = k.rotateOnAutoEoi;
  s.specialFullyNestedMode = k.specialFullyNestedMode;
  s.init4 = k.init4;
  s.elcr = k.elcr;
  s.elcrMask = k.elcrMask;
}

/** `kvm_pic_put`: QEMU's copy of the chip into the kernel (KVM_SET_IRQCHIP). */
export function kvmPicPut(s: PICCommonState): void {
  const kvm = kvmStateCurrent();
  if (!kvm) return;
  const buf = encodeKvmIrqchip({
    chipId: chipId(s),
    pic: {
      lastIrr: s.lastIrr,
      irr: s.irr,
      imr: s.imr,
      isr: s.isr,
      priorityAdd: s.priorityAdd,
      irqBase: s.irqBase,
      readRegSelect: s.readRegSelect,
      poll: s.poll,
      specialMask: s.specialMask,
      initState: s.initState,
      autoEoi: s.autoEoi,
      rotateOnAutoEoi: s.rotateOnAutoEoi,
      specialFullyNestedMode: s.specialFullyNestedMode,
      init4: s.init4,
      elcr: s.elcr,
      elcrMask: s.elcrMask,
    },
  });
  const r = kvmVmIoctl(kvm, KVM_SET_IRQCHIP, buf);
  if (r < 0) kvmIoctlFailed("KVM_SET_IRQCHIP", r);
}

/** `kvm_pic_reset`: the reset state, ELCR cleared, written into the kernel. */
function kvmPicReset(s: PICCommonState): void {
  s.elcr = 0;
  picResetCommon(s);
  kvmPicPut(s);
}

const kvmPicResetHandler = (opaque: unknown) => kvmPicReset(opaque as PICCommonState);

/**
 * `kvm_pic_realize` + pic_common_realize: the port ranges are claimed with no handlers of
 * QEMU's (the kernel answers them; an access that reached QEMU would read all ones).
 */
function kvmPicRealize(dev: DeviceState): void {
  const s = dev as PICCommonState;
  const owner = isaDeviceOwner(s);
  const none = (size: number) =>
    isaByteIoOps(
      size,
      () => 0xff,
      () => {},
    );
  s.baseIo = memoryRegionInitIo(owner, none(2), "kvm-pic", 2);
  s.elcrIo = memoryRegionInitIo(owner, none(1), "kvm-elcr", 1);
  isaRegisterIoport(s, s.baseIo, s.iobase);
  if (s.elcrAddr !== 0xffff_ffff) isaRegisterIoport(s, s.elcrIo, s.elcrAddr);
  qemuRegisterReset(kvmPicResetHandler, s);
}

function kvmPicUnrealize(dev: DeviceState): void {
  const s = dev as PICCommonState;
  for (const mr of [s.baseIo, s.elcrIo]) {
    if (mr?.container) memoryRegionDelSubregion(mr.container, mr);
  }
  qemuUnregisterReset(kvmPicResetHandler, s);
}

/** `kvm_pic_set_irq`: an ISA line into the kernel's irqchip (GSI = ISA IRQ). */
function kvmPicSetIrq(_opaque: unknown, irq: number, level: number): void {
  const kvm = kvmStateCurrent();
  if (kvm) kvmSetIrq(kvm, irq, level);
}

function kvmI8259InitChip(bus: ISABus, master: boolean): PICCommonState {
  const dev = isaNew<PICCommonState>(TYPE_KVM_I8259);
  objectPropertySetUint(dev, "iobase", master ? 0x20 : 0xa0);
  objectPropertySetUint(dev, "elcr_addr", master ? 0x4d0 : 0x4d1);
  objectPropertySetUint(dev, "elcr_mask", master ? 0xf8 : 0xde);
  objectPropertySetBool(dev, "master", master);
  isaRealizeAndUnref(dev, bus);
  return dev;
}

/** `kvm_i8259_init`: the pair on `bus`; returns the 16 ISA IRQ inputs. */
export function kvmI8259Init(bus: ISABus): QemuIrq[] {
  kvmI8259InitChip(bus, true);
  kvmI8259InitChip(bus, false);
  return qemuAllocateIrqs(kvmPicSetIrq, null, ISA_NUM_IRQS);
}

typeInit(() => {
  typeRegisterStatic<DeviceClass, PICCommonState>({
    name: TYPE_KVM_I8259,
    parent: TYPE_PIC_COMMON,
    classInit: (dc) => {
      dc.realize = kvmPicRealize;
      dc.unrealize = kvmPicUnrealize;
    },
  });
});
