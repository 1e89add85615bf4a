/**
 * hw/i386/kvm/ioapic.c: `kvm-ioapic`, QEMU's face of the I/O APIC in the kernel
 * (kernel-irqchip=on). Its MMIO window at 0xFEC00000 is the kernel's (no handlers here);
 * its 24 inputs become KVM_IRQ_LINE on GSI `gsi_base + n` (`kvm_ioapic_set_irq`), and its
 * state goes into the kernel at reset with KVM_SET_IRQCHIP (`kvm_ioapic_put`) and comes
 * back with KVM_GET_IRQCHIP (`kvm_ioapic_get`). `ioapic_init_gsi` (hw/i386/x86-common.c)
 * creates it, maps it and takes its inputs as the board's I/O APIC GSIs.
 */
import {
  decodeKvmIrqchip,
  encodeKvmIrqchip,
  KVM_GET_IRQCHIP,
  KVM_IRQCHIP_IOAPIC,
  KVM_SET_IRQCHIP,
} from "@glassvm/kvm-kernel/uapi";
import {
  type DeviceClass,
  type DeviceState,
  definePropUint32,
  deviceClassSetProps,
  objectPropertyAddChild,
  qdevGetMachine,
  qdevNew,
  qdevRealizeAndUnref,
  typeInit,
  typeRegisterStatic,
} from "@glassvm/qom";
import {
  kvmIoctlFailed,
  kvmSetIrq,
  kvmStateCurrent,
  kvmVmIoctl,
} from "../../../accel/kvm/kvm-all.js";
import {
  memoryRegionAddSubregion,
  memoryRegionDelSubregion,
  memoryRegionInitIo,
} from "../../../system/memory.js";
import { getSystemMemory } from "../../../system/physmem.js";
import { qemuRegisterReset, qemuUnregisterReset } from "../../../system/runstate.js";
import {
  IO_APIC_DEFAULT_ADDRESS,
  IOAPIC_NUM_PINS,
  type IOAPICCommonState,
  ioapicResetCommon,
  TYPE_IOAPIC_COMMON,
} from "../../intc/ioapic_common.js";
import { type QemuIrq, qemuAllocateIrqs } from "../../irq.js";

export const TYPE_KVM_IOAPIC = "kvm-ioapic";

/** `KVMIOAPICState`. */
export interface KVMIOAPICState extends IOAPICCommonState {
  /** The GSI of input 0. */
  kvmGsiBase: number;
  /** The 24 inputs (qdev_init_gpio_in). */
  gpioIn: QemuIrq[];
}

/** `kvm_ioapic_get`: the kernel's I/O APIC state into QEMU's copy. */
export function kvmIoapicGet(s: IOAPICCommonState): void {
  const kvm = kvmStateCurrent();
  if (!kvm) return;
  const buf = encodeKvmIrqchip({ chipId: KVM_IRQCHIP_IOAPIC });
  const r = kvmVmIoctl(kvm, KVM_GET_IRQCHIP, buf);
  if (r < 0) kvmIoctlFailed("KVM_GET_IRQCHIP", r);
  const k = decodeKvmIrqchip(buf).ioapic!;
  s.ioapicId = k.id;
  s.ioregsel = k.ioregsel;
  s.irr = k.irr;
  for (let i = 0; i < IOAPIC_NUM_PINS; i++) s.ioredtbl[i] = k.redirtbl[i]!;
}

/** `kvm_ioapic_put`: QEMU's copy (and where the board mapped it) into the kernel. */
export function kvmIoapicPut(s: IOAPICCommonState): void {
  const kvm = kvmStateCurrent();
  if (!kvm) return;
  const buf = encodeKvmIrqchip({
    chipId: KVM_IRQCHIP_IOAPIC,
    ioapic: {
      baseAddress: BigInt(s.mmioAddr),
      ioregsel: s.ioregsel,
      id: s.ioapicId,
      irr: s.irr,
      redirtbl: [...s.ioredtbl],
    },
  });
  const r = kvmVmIoctl(kvm, KVM_SET_IRQCHIP, buf);
  if (r < 0) kvmIoctlFailed("KVM_SET_IRQCHIP", r);
}

/** `kvm_ioapic_reset`. */
function kvmIoapicReset(s: IOAPICCommonState): void {
  ioapicResetCommon(s);
  kvmIoapicPut(s);
}

const kvmIoapicResetHandler = (opaque: unknown) => kvmIoapicReset(opaque as IOAPICCommonState);

/** `kvm_ioapic_realize`: the MMIO window (the kernel's), version 0x11, the inputs. */
function kvmIoapicRealize(dev: DeviceState): void {
  const s = dev as KVMIOAPICState;
  s.ioMemory = memoryRegionInitIo(
    TYPE_KVM_IOAPIC,
    {
      read: () => 0xffff_ffff,
      write: () => {},
    },
    "kvm-ioapic",
    0x1000,
  );
  // The kernel's I/O APIC is version 0x11 (what `info ioapic` would dump).
  s.version = 0x11;
  s.gpioIn = qemuAllocateIrqs(
    (_opaque, n, level) => {
      const kvm = kvmStateCurrent();
      if (kvm) kvmSetIrq(kvm, s.kvmGsiBase + n, level);
    },
    s,
    IOAPIC_NUM_PINS,
  );
  qemuRegisterReset(kvmIoapicResetHandler, s);
}

function kvmIoapicUnrealize(dev: DeviceState): void {
  const s = dev as KVMIOAPICState;
  if (s.ioMemory?.container) memoryRegionDelSubregion(s.ioMemory.container, s.ioMemory);
  qemuUnregisterReset(kvmIoapicResetHandler, s);
}

/**
 * `ioapic_init_gsi` for the kernel's I/O APIC: `/machine/ioapic` (QEMU: a child of the
 * host bridge, which glassvm does not model), mapped at 0xFEC00000; returns its inputs.
 */
export function kvmIoapicInitGsi(): QemuIrq[] {
  const dev = qdevNew<KVMIOAPICState>(TYPE_KVM_IOAPIC);
  objectPropertyAddChild(qdevGetMachine(), "ioapic", dev);
  qdevRealizeAndUnref(dev);
  memoryRegionAddSubregion(getSystemMemory(), IO_APIC_DEFAULT_ADDRESS, dev.ioMemory!);
  dev.mmioAddr = IO_APIC_DEFAULT_ADDRESS;
  return dev.gpioIn;
}

typeInit(() => {
  typeRegisterStatic<DeviceClass, KVMIOAPICState>({
    name: TYPE_KVM_IOAPIC,
    parent: TYPE_IOAPIC_COMMON,
    instanceSize: 640,
    instanceInit: (s) => {
      s.kvmGsiBase = 0;
      s.gpioIn = [];
    },
    classInit: (dc) => {
      dc.realize = kvmIoapicRealize;
      dc.unrealize = kvmIoapicUnrealize;
      deviceClassSetProps(dc, [definePropUint32("gsi_base", "kvmGsiBase", 0)]);
    },
  });
});
