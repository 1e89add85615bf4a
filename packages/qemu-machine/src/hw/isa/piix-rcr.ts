/**
 * The PIIX3 Reset Control Register at port 0xCF9 (hw/isa/piix.c: `rcr_read`/`rcr_write`,
 * region "piix-reset-control").
 *
 *   bit 2  reset CPU — writing it set requests a system reset
 *   bit 1  system reset type (hard/soft), the only bit stored
 *
 * `out 0xcf9, 0x06` (or 0x0e) is the usual reboot sequence. In QEMU the register belongs
 * to the PIIX3 PCI function and overlaps the PCI configuration data window
 * (0xcf8–0xcff) with priority 1; until the south bridge exists it is this small ISA
 * device, `piix-reset-control` (a glassvm type named after QEMU's region), which maps
 * itself the same way.
 */
import { type DeviceClass, type DeviceState, typeInit, typeRegisterStatic } from "@glassvm/qom";
import {
  type MemoryRegion,
  memoryRegionAddSubregion,
  memoryRegionDelSubregion,
  memoryRegionInitIo,
} from "../../system/memory.js";
import {
  qemuRegisterReset,
  qemuSystemResetRequest,
  qemuUnregisterReset,
  SHUTDOWN_CAUSE_GUEST_RESET,
} from "../../system/runstate.js";
import {
  type ISADevice,
  isaAddressSpaceIo,
  isaByteIoOps,
  isaDeviceOwner,
  TYPE_ISA_DEVICE,
} from "./isa-bus.js";

export const TYPE_PIIX_RCR = "piix-reset-control";
/** PIIX_RCR_IOPORT. */
export const PIIX_RCR_IOPORT = 0xcf9;

/** The RCR part of `PIIXState`. */
export interface PIIXRcrState extends ISADevice {
  rcr: number;
  rcrMem: MemoryRegion | null;
}

/** `rcr_write`. */
export function rcrWrite(d: PIIXRcrState, val: number): void {
  if (val & 4) {
    qemuSystemResetRequest(SHUTDOWN_CAUSE_GUEST_RESET);
    return;
  }
  // Keep only the system reset type.
  d.rcr = val & 2;
}

/** `rcr_read`. */
export function rcrRead(d: PIIXRcrState): number {
  return d.rcr;
}

/** The RCR part of `piix_reset`. */
export function piixRcrReset(d: PIIXRcrState): void {
  d.rcr = 0;
}

const rcrResetHandler = (opaque: unknown) => piixRcrReset(opaque as PIIXRcrState);

function piixRcrRealize(dev: DeviceState): void {
  const d = dev as PIIXRcrState;
  d.rcrMem = memoryRegionInitIo(
    isaDeviceOwner(d),
    isaByteIoOps(
      1,
      () => rcrRead(d),
      (_addr, val) => rcrWrite(d, val),
    ),
    "piix-reset-control",
    1,
  );
  // memory_region_add_subregion_overlap(…, PIIX_RCR_IOPORT, &d->rcr_mem, 1)
  memoryRegionAddSubregion(isaAddressSpaceIo(d), PIIX_RCR_IOPORT, d.rcrMem, 1);
  qemuRegisterReset(rcrResetHandler, d);
}

function piixRcrUnrealize(dev: DeviceState): void {
  const d = dev as PIIXRcrState;
  if (d.rcrMem?.container) memoryRegionDelSubregion(d.rcrMem.container, d.rcrMem);
  qemuUnregisterReset(rcrResetHandler, d);
}

typeInit(() => {
  typeRegisterStatic<DeviceClass, PIIXRcrState>({
    name: TYPE_PIIX_RCR,
    parent: TYPE_ISA_DEVICE,
    instanceSize: 200,
    instanceInit: (d) => {
      d.rcr = 0;
      d.rcrMem = null;
    },
    classInit: (dc) => {
      dc.realize = piixRcrRealize;
      dc.unrealize = piixRcrUnrealize;
      dc.userCreatable = false;
    },
  });
});
