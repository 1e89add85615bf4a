/**
 * Port 0x61, "system control port B" (hw/audio/pcspk.c, device `isa-pcspk`): on the PC it
 * gates PIT channel 2 and reads back its output, which is how firmware and kernels time
 * short delays and calibrate the TSC.
 *
 *   write: bit 0 = channel 2 GATE, bit 1 = speaker data enable
 *   read:  bit 0 = GATE, bit 1 = speaker data, bit 4 = refresh toggle (flips on every
 *          read), bit 5 = channel 2 OUT
 *
 * The `pit` link names the PIT. No sound is produced (QEMU's audio backend is not
 * modelled).
 */
import {
  DEVICE_CATEGORY_SOUND,
  type DeviceClass,
  type DeviceState,
  definePropLink,
  definePropUint32,
  deviceClassSetProps,
  QomError,
  typeInit,
  typeRegisterStatic,
} from "@glassvm/qom";
import {
  type MemoryRegion,
  memoryRegionDelSubregion,
  memoryRegionInitIo,
} from "../../system/memory.js";
import {
  type ISADevice,
  isaByteIoOps,
  isaDeviceOwner,
  isaRegisterIoport,
  TYPE_ISA_DEVICE,
} from "../isa/isa-bus.js";
import {
  type PITCommonState,
  pitGetChannelInfo,
  pitSetGate,
  TYPE_PIT_COMMON,
} from "../timer/i8254.js";

export const TYPE_PC_SPEAKER = "isa-pcspk";

/** `PCSpkState`. */
export interface PCSpkState extends ISADevice {
  iobase: number;
  pit: PITCommonState | null;
  dataOn: number;
  dummyRefreshClock: number;
  ioport: MemoryRegion | null;
}

/** `pcspk_io_read`. */
export function pcspkIoRead(s: PCSpkState): number {
  const ch = pitGetChannelInfo(s.pit!, 2);
  s.dummyRefreshClock ^= 1 << 4;
  return ch.gate | (s.dataOn << 1) | s.dummyRefreshClock | (ch.out << 5);
}

/** `pcspk_io_write`. */
export function pcspkIoWrite(s: PCSpkState, val: number): void {
  s.dataOn = (val >> 1) & 1;
  pitSetGate(s.pit!, 2, val & 1);
}

function pcspkRealizefn(dev: DeviceState): void {
  const s = dev as PCSpkState;
  if (!s.pit) {
    throw new QomError("invalid-parameter-value", "pcspk: the 'pit' link is not set", {
      operation: "pcspk_realizefn",
    });
  }
  s.ioport = memoryRegionInitIo(
    isaDeviceOwner(s),
    isaByteIoOps(
      1,
      () => pcspkIoRead(s),
      (_addr, val) => pcspkIoWrite(s, val),
    ),
    "pcspk",
    1,
  );
  isaRegisterIoport(s, s.ioport, s.iobase);
}

function pcspkUnrealizefn(dev: DeviceState): void {
  const s = dev as PCSpkState;
  if (s.ioport?.container) memoryRegionDelSubregion(s.ioport.container, s.ioport);
}

typeInit(() => {
  typeRegisterStatic<DeviceClass, PCSpkState>({
    name: TYPE_PC_SPEAKER,
    parent: TYPE_ISA_DEVICE,
    instanceSize: 240,
    instanceInit: (s) => {
      s.pit = null;
      s.dataOn = 0;
      s.dummyRefreshClock = 0;
      s.ioport = null;
    },
    classInit: (dc) => {
      dc.realize = pcspkRealizefn;
      dc.categories |= 1 << DEVICE_CATEGORY_SOUND;
      // Created by the board with its link to the PIT.
      dc.userCreatable = false;
      dc.unrealize = pcspkUnrealizefn;
      deviceClassSetProps(dc, [
        definePropUint32("iobase", "iobase", 0x61),
        definePropLink("pit", "pit", TYPE_PIT_COMMON),
      ]);
    },
  });
});
