/**
 * isa-debug-exit (hw/misc/debugexit.c): a test guest ends QEMU with a status of its
 * choosing. Writing v (1–4 bytes) to the port asks for a shutdown with exit status
 * `(v << 1) | 1` — so a guest can never fake a clean exit 0. Reads return 0.
 *
 *   -device isa-debug-exit,iobase=0xf4,iosize=0x04   …   out 0xf4, al(=0x11)  → exit 35
 *
 * Since QEMU 9.1 the write is an orderly `qemu_system_shutdown_request_with_code`; the
 * main loop exits with the code (the process status is its low 8 bits).
 */
import {
  DEVICE_CATEGORY_MISC,
  type DeviceClass,
  type DeviceState,
  definePropUint32,
  deviceClassSetProps,
  typeInit,
  typeRegisterStatic,
} from "@glassvm/qom";
import {
  type MemoryRegion,
  memoryRegionAddSubregion,
  memoryRegionDelSubregion,
  memoryRegionInitIo,
} from "../../system/memory.js";
import {
  qemuSystemShutdownRequestWithCode,
  SHUTDOWN_CAUSE_GUEST_SHUTDOWN,
} from "../../system/runstate.js";
import {
  type ISADevice,
  isaAddressSpaceIo,
  isaDeviceOwner,
  TYPE_ISA_DEVICE,
} from "../isa/isa-bus.js";

export const TYPE_ISA_DEBUG_EXIT_DEVICE = "isa-debug-exit";

/** `ISADebugExitState`. */
export interface ISADebugExitState extends ISADevice {
  iobase: number;
  iosize: number;
  io: MemoryRegion | null;
}

function debugExitRead(): number {
  return 0;
}

function debugExitWrite(val: number): void {
  qemuSystemShutdownRequestWithCode(SHUTDOWN_CAUSE_GUEST_SHUTDOWN, (val << 1) | 1);
}

function debugExitRealizefn(dev: DeviceState): void {
  const isa = dev as ISADebugExitState;
  isa.io = memoryRegionInitIo(
    isaDeviceOwner(isa),
    { read: debugExitRead, write: (_addr, val) => debugExitWrite(val) },
    TYPE_ISA_DEBUG_EXIT_DEVICE,
    isa.iosize,
  );
  memoryRegionAddSubregion(isaAddressSpaceIo(isa), isa.iobase, isa.io);
}

function debugExitUnrealizefn(dev: DeviceState): void {
  const isa = dev as ISADebugExitState;
  if (isa.io?.container) memoryRegionDelSubregion(isa.io.container, isa.io);
}

typeInit(() => {
  typeRegisterStatic<DeviceClass, ISADebugExitState>({
    name: TYPE_ISA_DEBUG_EXIT_DEVICE,
    parent: TYPE_ISA_DEVICE,
    instanceSize: 224,
    instanceInit: (s) => {
      s.io = null;
    },
    classInit: (dc) => {
      dc.realize = debugExitRealizefn;
      dc.categories |= 1 << DEVICE_CATEGORY_MISC;
      dc.unrealize = debugExitUnrealizefn;
      deviceClassSetProps(dc, [
        definePropUint32("iobase", "iobase", 0x501),
        definePropUint32("iosize", "iosize", 0x02),
      ]);
    },
  });
});
