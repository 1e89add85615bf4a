/**
 * isa-debugcon (hw/char/debugcon.c): Bochs' port 0xE9 hack. A byte written to the port
 * goes to the chardev; reading the port returns `readback` (0xE9), which is how
 * SeaBIOS and guests detect it. `-debugcon file:x` is this device with chardev
 * `debugcon`.
 *
 * The port is one byte wide: a wider OUT sends only its low byte here (the next byte
 * belongs to port iobase + 1, as QEMU's memory core splits the access).
 */
import {
  DEVICE_CATEGORY_MISC,
  type DeviceClass,
  type DeviceState,
  definePropUint32,
  deviceClassSetProps,
  QomError,
  typeInit,
  typeRegisterStatic,
} from "@glassvm/qom";
import {
  type CharBackend,
  charBackendNew,
  qemuChrFeBackendConnected,
  qemuChrFeWriteAll,
} from "../../chardev/char.js";
import {
  type MemoryRegion,
  memoryRegionAddCoalescing,
  memoryRegionDelSubregion,
  memoryRegionInitIo,
} from "../../system/memory.js";
import { definePropChr } from "../core/qdev-properties-system.js";
import {
  type ISADevice,
  isaByteIoOps,
  isaDeviceOwner,
  isaRegisterIoport,
  TYPE_ISA_DEVICE,
} from "../isa/isa-bus.js";

export const TYPE_ISA_DEBUGCON_DEVICE = "isa-debugcon";

/** `ISADebugconState` (with its embedded `DebugconState`). */
export interface ISADebugconState extends ISADevice {
  iobase: number;
  readback: number;
  chr: CharBackend;
  io: MemoryRegion | null;
}

function debugconIoportWrite(s: ISADebugconState, val: number): void {
  qemuChrFeWriteAll(s.chr, Uint8Array.of(val & 0xff));
}

function debugconIoportRead(s: ISADebugconState): number {
  return s.readback;
}

function debugconIsaRealizefn(dev: DeviceState): void {
  const s = dev as ISADebugconState;
  if (!qemuChrFeBackendConnected(s.chr)) {
    throw new QomError(
      "invalid-parameter-value",
      "Can't create debugcon device, empty char device",
      { operation: "debugcon_realize_core" },
    );
  }
  s.io = memoryRegionInitIo(
    isaDeviceOwner(s),
    isaByteIoOps(
      1,
      () => debugconIoportRead(s),
      (_addr, val) => debugconIoportWrite(s, val),
    ),
    TYPE_ISA_DEBUGCON_DEVICE,
    1,
  );
  isaRegisterIoport(s, s.io, s.iobase);
  // Output only: its port's writes may wait in KVM's coalesced ring for the next exit
  // (the data byte; reading the port back still exits).
  memoryRegionAddCoalescing(s.iobase, 0, 1, true);
}

function debugconIsaUnrealizefn(dev: DeviceState): void {
  const s = dev as ISADebugconState;
  if (s.io?.container) memoryRegionDelSubregion(s.io.container, s.io);
}

typeInit(() => {
  typeRegisterStatic<DeviceClass, ISADebugconState>({
    name: TYPE_ISA_DEBUGCON_DEVICE,
    parent: TYPE_ISA_DEVICE,
    instanceSize: 240,
    instanceInit: (s) => {
      s.chr = charBackendNew();
      s.io = null;
    },
    classInit: (dc) => {
      dc.realize = debugconIsaRealizefn;
      dc.categories |= 1 << DEVICE_CATEGORY_MISC;
      dc.unrealize = debugconIsaUnrealizefn;
      deviceClassSetProps(dc, [
        definePropUint32("iobase", "iobase", 0xe9),
        definePropChr("chardev", "chr"),
        definePropUint32("readback", "readback", 0xe9),
      ]);
    },
  });
});
