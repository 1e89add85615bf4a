/**
 * The ISA bus (hw/isa/isa-bus.c, include/hw/isa/isa.h): one per machine, holding the
 * I/O port space that ISA devices map their registers into and the 16 IRQ lines the
 * board connects to the i8259 inputs (`isaBusIrqs`).
 *
 *   const isaBus = isaBusNew(null, null, null);      // its own 64 KiB I/O container
 *   isaBusIrqs(isaBus, i8259Init(isaBus, cpuIntr));  // ISA IRQ n → PIC input n
 *   isaCreateSimple(isaBus, "isa-debug-exit");       // realize registers 0x501..0x502
 *
 * An ISA device realizes by creating its MemoryRegion and calling
 * `isaRegisterIoport(dev, mr, iobase)`, and takes its interrupt line with
 * `isaGetIrq(dev, n)`.
 *
 * @glassvm/qom has no buses yet, so the bus is a plain QOM object (QEMU: a TYPE_BUS
 * child `isa.0` of the bridge) and a device records its bus in `isaBus`, set by
 * `isaRealizeAndUnref`; a device realized without one lands on the machine's only ISA
 * bus, as `-device` would place it. Not modelled: ISA DMA, `isa_register_portio_list`,
 * the `isabus-bridge` sysbus device, firmware device paths.
 */
import {
  type DeviceClass,
  type DeviceState,
  type ObjectClass,
  objectGetCanonicalPath,
  objectGetTypename,
  objectNew,
  objectPropertyAddChild,
  objectUnref,
  QomError,
  type QomObject,
  qdevNew,
  qdevRealizeAndUnref,
  TYPE_DEVICE,
  TYPE_OBJECT,
  typeInit,
  typeRegisterStatic,
} from "@glassvm/qom";
import {
  type MemoryRegion,
  type MemoryRegionOps,
  memoryRegionAddSubregion,
  memoryRegionInit,
} from "../../system/memory.js";
import { type QemuIrq, qemuAllocateIrq, qemuSetIrq } from "../irq.js";

export const TYPE_ISA_BUS = "ISA";
export const TYPE_ISA_DEVICE = "isa-device";
/** ISA_NUM_IRQS. */
export const ISA_NUM_IRQS = 16;
/** Size of the x86 I/O port space the bus decodes. */
export const ISA_IO_SPACE_SIZE = 0x1_0000;

/** `ISABus`. */
export interface ISABus extends QomObject {
  /** The memory space ISA memory decodes to (unused by the devices here), or null. */
  addressSpace: MemoryRegion | null;
  /** The I/O port space (QEMU's `address_space_io` on the pc machine). */
  addressSpaceIo: MemoryRegion;
  /** The IRQ inputs the board registered (`irqs_in`): ISA IRQ n → irqsIn[n]. */
  irqsIn: readonly QemuIrq[] | null;
}

/** `ISADevice`. */
export interface ISADevice extends DeviceState {
  /** The bus it sits on (QEMU: the qdev parent bus). */
  isaBus: ISABus | null;
  /** The lowest port it registered (`ioport_id`), 0 if none. */
  ioportId: number;
}

export type ISADeviceClass = DeviceClass;

/** The machine's ISA bus (`isabus` in isa-bus.c): there is at most one. */
let isabus: ISABus | null = null;

function isaFatal(what: string, operation: string): QomError {
  return new QomError("assertion", `assertion failed: (${what})`, { operation, fatal: true });
}

/** Forget the machine's ISA bus (a new process; qemuCleanup). */
export function isaBusReset(): void {
  isabus = null;
}

/**
 * `isa_bus_new`: create the ISA bus as child `isa.0` of `dev` (the south bridge), with
 * `addressSpaceIo` as its port space — a fresh 64 KiB container when null.
 */
export function isaBusNew(
  dev: DeviceState | null,
  addressSpace: MemoryRegion | null,
  addressSpaceIo: MemoryRegion | null,
): ISABus {
  if (isabus) {
    throw new QomError("invalid-parameter-value", "Can't create a second ISA bus", {
      operation: "isa_bus_new",
    });
  }
  const bus = objectNew<ISABus>(TYPE_ISA_BUS);
  bus.addressSpace = addressSpace;
  bus.addressSpaceIo = addressSpaceIo ?? memoryRegionInit("isa-bus", "io", ISA_IO_SPACE_SIZE);
  if (dev) {
    objectPropertyAddChild(dev, "isa.0", bus);
    objectUnref(bus);
  }
  isabus = bus;
  return bus;
}

/**
 * `isa_bus_register_input_irqs` (`isa_bus_irqs` before QEMU 8.0): the board hands the
 * bus its 16 IRQ inputs — on the pc machine the i8259's (or the GSI router's).
 */
export function isaBusRegisterInputIrqs(bus: ISABus, irqsIn: readonly QemuIrq[]): void {
  bus.irqsIn = irqsIn;
}

/** `isa_bus_irqs`: the pre-8.0 name of {@link isaBusRegisterInputIrqs}. */
export const isaBusIrqs = isaBusRegisterInputIrqs;

/**
 * `isa_bus_get_irq`: the input for ISA IRQ `irqnum`. Asked before the board registered
 * the inputs, it returns a line that forwards to whatever is registered when it fires.
 */
export function isaBusGetIrq(bus: ISABus, irqnum: number): QemuIrq {
  if (!(irqnum >= 0 && irqnum < ISA_NUM_IRQS)) {
    throw isaFatal("irqnum < ISA_NUM_IRQS", "isa_bus_get_irq");
  }
  const irq = bus.irqsIn?.[irqnum];
  if (irq) return irq;
  return qemuAllocateIrq(
    (_opaque, n, level) => qemuSetIrq(bus.irqsIn?.[n] ?? null, level),
    bus,
    irqnum,
  );
}

/** `isa_bus_from_device`: the device's bus, else the machine's ISA bus. */
export function isaBusFromDevice(dev: ISADevice): ISABus {
  const bus = dev.isaBus ?? isabus;
  if (!bus) {
    throw new QomError(
      "invalid-parameter-value",
      `No '${TYPE_ISA_BUS}' bus found for device '${objectGetTypename(dev)}'`,
      { operation: "qdev_device_add" },
    );
  }
  dev.isaBus = bus;
  return bus;
}

/** `isa_get_irq`: the PIC input that ISA IRQ `isairq` of the device's bus drives. */
export function isaGetIrq(dev: ISADevice | null, isairq: number): QemuIrq {
  const bus = dev ? isaBusFromDevice(dev) : isabus;
  if (!bus) throw isaFatal("isabus", "isa_get_irq");
  return isaBusGetIrq(bus, isairq);
}

/** `isa_address_space_io`: the port space of the device's bus. */
export function isaAddressSpaceIo(dev: ISADevice | null): MemoryRegion {
  const bus = dev ? isaBusFromDevice(dev) : isabus;
  if (!bus) throw isaFatal("isabus", "isa_address_space_io");
  return bus.addressSpaceIo;
}

/** `isa_address_space`: the memory space of the device's bus (null when none). */
export function isaAddressSpace(dev: ISADevice | null): MemoryRegion | null {
  const bus = dev ? isaBusFromDevice(dev) : isabus;
  return bus?.addressSpace ?? null;
}

/** `isa_register_ioport`: map `io` at port `start` of the device's bus. */
export function isaRegisterIoport(dev: ISADevice, io: MemoryRegion, start: number): void {
  memoryRegionAddSubregion(isaAddressSpaceIo(dev), start, io);
  if (dev.ioportId === 0 || start < dev.ioportId) dev.ioportId = start;
}

/** The owner string a device's MemoryRegions carry (its QOM path, else its type). */
export function isaDeviceOwner(dev: ISADevice): string {
  return objectGetCanonicalPath(dev) ?? objectGetTypename(dev);
}

/**
 * MemoryRegionOps for byte-wide registers (QEMU's `.impl.max_access_size = 1`): a
 * wider access is split into byte accesses, lowest address first, as QEMU's memory
 * core does; bytes past the end of the `size`-byte region read 0xff and drop writes
 * (they belong to the next port).
 */
export function isaByteIoOps(
  size: number,
  read: (addr: number) => number,
  write: (addr: number, val: number) => void,
): MemoryRegionOps {
  return {
    read: (addr, width) => {
      if (width === 1) return read(addr) & 0xff;
      let v = 0;
      for (let i = 0; i < width; i++) {
        const b = addr + i < size ? read(addr + i) & 0xff : 0xff;
        v |= b << (8 * i);
      }
      return v >>> 0;
    },
    write: (addr, val, width) => {
      for (let i = 0; i < width && addr + i < size; i++) write(addr + i, (val >>> (8 * i)) & 0xff);
    },
  };
}

/** `isa_new`: a new, unrealized ISA device. */
export function isaNew<T extends ISADevice = ISADevice>(typename: string): T {
  const dev = qdevNew<T>(typename);
  if (!("ioportId" in dev)) throw isaFatal(`${typename} is an ISA device`, "isa_new");
  return dev;
}

/** `isa_realize_and_unref`: put the device on `bus`, realize it, drop the caller's ref. */
export function isaRealizeAndUnref(dev: ISADevice, bus: ISABus): void {
  dev.isaBus = bus;
  qdevRealizeAndUnref(dev);
}

/** `isa_create_simple`: new + realize with default properties. */
export function isaCreateSimple<T extends ISADevice = ISADevice>(bus: ISABus, typename: string): T {
  const dev = isaNew<T>(typename);
  isaRealizeAndUnref(dev, bus);
  return dev;
}

typeInit(() => {
  typeRegisterStatic<ObjectClass, ISABus>({
    name: TYPE_ISA_BUS,
    parent: TYPE_OBJECT,
    instanceSize: 96,
    instanceInit: (bus) => {
      bus.addressSpace = null;
      bus.irqsIn = null;
    },
    instanceFinalize: (bus) => {
      if (isabus === bus) isabus = null;
    },
  });
  typeRegisterStatic<ISADeviceClass, ISADevice>({
    name: TYPE_ISA_DEVICE,
    parent: TYPE_DEVICE,
    abstract: true,
    instanceInit: (dev) => {
      dev.isaBus = null;
      dev.ioportId = 0;
    },
    classInit: (dc) => {
      dc.busType = TYPE_ISA_BUS;
    },
  });
});
