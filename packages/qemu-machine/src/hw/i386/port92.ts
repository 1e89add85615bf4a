/**
 * Port 0x92, "system control port A" (hw/i386/port92.c, device `port92`): the fast A20
 * gate and a CPU reset that skips the keyboard controller.
 *
 *   bit 1  A20 enable — drives the `a20` output (the board connects it to the CPU's
 *          A20 mask; with KVM it only matters for real-mode wraparound)
 *   bit 0  fast reset — a 0→1 transition requests a system reset
 *
 * Reads return the last value written; reset clears bit 0.
 */
import { type DeviceClass, type DeviceState, typeInit, typeRegisterStatic } from "@glassvm/qom";
import {
  type MemoryRegion,
  memoryRegionDelSubregion,
  memoryRegionInitIo,
} from "../../system/memory.js";
import {
  qemuRegisterReset,
  qemuSystemResetRequest,
  qemuUnregisterReset,
  SHUTDOWN_CAUSE_GUEST_RESET,
} from "../../system/runstate.js";
import { defineTraceEvent, traceEvent } from "../../trace/control.js";
import { type QemuIrq, qemuSetIrq } from "../irq.js";
import {
  type ISADevice,
  isaByteIoOps,
  isaDeviceOwner,
  isaRegisterIoport,
  TYPE_ISA_DEVICE,
} from "../isa/isa-bus.js";

export const TYPE_PORT92 = "port92";
/** The name of port92's A20 GPIO output (`PORT92_A20_LINE`). */
export const PORT92_A20_LINE = "a20";

defineTraceEvent("port92_read", (a) => `port92: read 0x${hex2(a.val as number)}`);
defineTraceEvent("port92_write", (a) => `port92: write 0x${hex2(a.val as number)}`);

function hex2(v: number): string {
  return v.toString(16).padStart(2, "0");
}

/** `Port92State`. */
export interface Port92State extends ISADevice {
  outport: number;
  /** The `a20` output; the board connects it (`qdev_connect_gpio_out_named`). */
  a20Out: QemuIrq | null;
  io: MemoryRegion | null;
}

/** `port92_write`. */
export function port92Write(s: Port92State, val: number): void {
  const oldval = s.outport;
  traceEvent("port92_write", { val });
  s.outport = val;
  qemuSetIrq(s.a20Out, (val >> 1) & 1);
  if (val & 1 && !(oldval & 1)) qemuSystemResetRequest(SHUTDOWN_CAUSE_GUEST_RESET);
}

/** `port92_read`. */
export function port92Read(s: Port92State): number {
  const ret = s.outport;
  traceEvent("port92_read", { val: ret });
  return ret;
}

/** `port92_reset`. */
export function port92Reset(s: Port92State): void {
  s.outport &= ~1;
}

const port92ResetHandler = (opaque: unknown) => port92Reset(opaque as Port92State);

function port92Realizefn(dev: DeviceState): void {
  const s = dev as Port92State;
  s.io = memoryRegionInitIo(
    isaDeviceOwner(s),
    isaByteIoOps(
      1,
      () => port92Read(s),
      (_addr, val) => port92Write(s, val),
    ),
    "port92",
    1,
  );
  isaRegisterIoport(s, s.io, 0x92);
  qemuRegisterReset(port92ResetHandler, s);
}

function port92Unrealizefn(dev: DeviceState): void {
  const s = dev as Port92State;
  if (s.io?.container) memoryRegionDelSubregion(s.io.container, s.io);
  qemuUnregisterReset(port92ResetHandler, s);
}

typeInit(() => {
  typeRegisterStatic<DeviceClass, Port92State>({
    name: TYPE_PORT92,
    parent: TYPE_ISA_DEVICE,
    instanceSize: 224,
    instanceInit: (s) => {
      s.outport = 0;
      s.a20Out = null;
      s.io = null;
    },
    classInit: (dc) => {
      dc.realize = port92Realizefn;
      // Wired up (A20) by pc_basic_device_init.
      dc.userCreatable = false;
      dc.unrealize = port92Unrealizefn;
    },
  });
});
