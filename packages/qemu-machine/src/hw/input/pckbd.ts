/**
 * The i8042 keyboard controller (hw/input/pckbd.c, device `i8042`), controller side
 * only: data port 0x60, status (read) / command (write) port 0x64.
 *
 * What is modelled is what firmware and kernels do to the controller itself: status
 * reads, the command byte (0x20 read / 0x60 write), self tests (0xAA → 0x55, 0xAB and
 * 0xA9 → 0x00), interface enable/disable (0xAD/0xAE, 0xA7/0xA8), the input and output
 * ports (0xC0, 0xD0/0xD1), A20 (0xDD/0xDF and output port bit 1, on the `a20` output),
 * writes to the output buffer (0xD2/0xD3) and reset: command 0xFE — any pulse command
 * 0xF0–0xFF with bit 0 clear — or an output port write with bit 0 clear requests a
 * system reset. Controller replies raise IRQ 1 (IRQ 12 for aux data) when the command
 * byte enables them.
 *
 * Not modelled: the PS/2 keyboard and mouse (bytes written to them are dropped and
 * nothing answers), scancode translation, the throttle and `extended-state` options,
 * the memory-mapped variant.
 */
import {
  DEVICE_CATEGORY_INPUT,
  type DeviceClass,
  type DeviceState,
  definePropUint8,
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
  qemuRegisterReset,
  qemuSystemResetRequest,
  qemuUnregisterReset,
  SHUTDOWN_CAUSE_GUEST_RESET,
} from "../../system/runstate.js";
import { defineTraceEvent, traceEvent } from "../../trace/control.js";
import { LOG_GUEST_ERROR, qemuLogMask } from "../../util/log.js";
import { type QemuIrq, qemuIrqLower, qemuIrqRaise, qemuSetIrq } from "../irq.js";
import {
  ISA_NUM_IRQS,
  type ISADevice,
  isaByteIoOps,
  isaDeviceOwner,
  isaGetIrq,
  isaRegisterIoport,
  TYPE_ISA_DEVICE,
} from "../isa/isa-bus.js";

export const TYPE_I8042 = "i8042";
/** The name of the i8042's A20 GPIO output (`I8042_A20_LINE`). */
export const I8042_A20_LINE = "a20";

// Controller commands ----------------------------------------------------------------------
export const KBD_CCMD_READ_MODE = 0x20;
export const KBD_CCMD_WRITE_MODE = 0x60;
export const KBD_CCMD_GET_VERSION = 0xa1;
export const KBD_CCMD_MOUSE_DISABLE = 0xa7;
export const KBD_CCMD_MOUSE_ENABLE = 0xa8;
export const KBD_CCMD_TEST_MOUSE = 0xa9;
export const KBD_CCMD_SELF_TEST = 0xaa;
export const KBD_CCMD_KBD_TEST = 0xab;
export const KBD_CCMD_KBD_DISABLE = 0xad;
export const KBD_CCMD_KBD_ENABLE = 0xae;
export const KBD_CCMD_READ_INPORT = 0xc0;
export const KBD_CCMD_READ_OUTPORT = 0xd0;
export const KBD_CCMD_WRITE_OUTPORT = 0xd1;
export const KBD_CCMD_WRITE_OBUF = 0xd2;
export const KBD_CCMD_WRITE_AUX_OBUF = 0xd3;
export const KBD_CCMD_WRITE_MOUSE = 0xd4;
export const KBD_CCMD_DISABLE_A20 = 0xdd;
export const KBD_CCMD_ENABLE_A20 = 0xdf;
export const KBD_CCMD_PULSE_BITS_3_0 = 0xf0;
export const KBD_CCMD_RESET = 0xfe;
export const KBD_CCMD_NO_OP = 0xff;

// Status register ----------------------------------------------------------------------------
export const KBD_STAT_OBF = 0x01;
export const KBD_STAT_IBF = 0x02;
export const KBD_STAT_SELFTEST = 0x04;
export const KBD_STAT_CMD = 0x08;
export const KBD_STAT_UNLOCKED = 0x10;
export const KBD_STAT_MOUSE_OBF = 0x20;
export const KBD_STAT_GTO = 0x40;
export const KBD_STAT_PERR = 0x80;

// Command byte ("mode") -------------------------------------------------------------------------
export const KBD_MODE_KBD_INT = 0x01;
export const KBD_MODE_MOUSE_INT = 0x02;
export const KBD_MODE_SYS = 0x04;
export const KBD_MODE_NO_KEYLOCK = 0x08;
export const KBD_MODE_DISABLE_KBD = 0x10;
export const KBD_MODE_DISABLE_MOUSE = 0x20;
export const KBD_MODE_KCC = 0x40;

// Output port ------------------------------------------------------------------------------------
export const KBD_OUT_RESET = 0x01;
export const KBD_OUT_A20 = 0x02;
export const KBD_OUT_OBF = 0x10;
export const KBD_OUT_MOUSE_OBF = 0x20;

defineTraceEvent("pckbd_kbd_read_data", (a) => `0x${hex2(a.val as number)}`);
defineTraceEvent("pckbd_kbd_read_status", (a) => `0x${hex2(a.status as number)}`);
defineTraceEvent("pckbd_outport_write", (a) => `0x${hex2(a.val as number)}`);
defineTraceEvent("pckbd_kbd_write_command", (a) => `0x${hex2(a.val as number)}`);
defineTraceEvent("pckbd_kbd_write_data", (a) => `0x${hex2(a.val as number)}`);

function hex2(v: number): string {
  return v.toString(16).padStart(2, "0");
}

/** `ISAKBDState` with its embedded `KBDState`. */
export interface ISAKBDState extends ISADevice {
  writeCmd: number;
  status: number;
  mode: number;
  outport: number;
  /** The byte in the output buffer (or the last one read). */
  obdata: number;
  /** A controller reply waiting for the output buffer: byte and whether it is aux. */
  pending: { data: number; aux: boolean } | null;
  kbdIrq: number;
  mouseIrq: number;
  irqKbd: QemuIrq | null;
  irqMouse: QemuIrq | null;
  /** The `a20` output; the board connects it. */
  a20Out: QemuIrq | null;
  ioData: MemoryRegion | null;
  ioCmd: MemoryRegion | null;
}

/** `kbd_update_irq_lines`: IRQ 1/12 follow a full output buffer, per the command byte. */
function kbdUpdateIrqLines(s: ISAKBDState): void {
  let irqKbdLevel = 0;
  let irqMouseLevel = 0;
  s.outport &= ~(KBD_OUT_OBF | KBD_OUT_MOUSE_OBF);
  if (s.status & KBD_STAT_OBF) {
    s.outport |= KBD_OUT_OBF;
    if (s.status & KBD_STAT_MOUSE_OBF) {
      s.outport |= KBD_OUT_MOUSE_OBF;
      if (s.mode & KBD_MODE_MOUSE_INT) irqMouseLevel = 1;
    } else if (s.mode & KBD_MODE_KBD_INT) {
      irqKbdLevel = 1;
    }
  }
  qemuSetIrq(s.irqKbd, irqKbdLevel);
  qemuSetIrq(s.irqMouse, irqMouseLevel);
}

/** Move a pending reply into an empty output buffer (`kbd_update_irq`). */
function kbdUpdateIrq(s: ISAKBDState): void {
  if (!(s.status & KBD_STAT_OBF) && s.pending) {
    s.obdata = s.pending.data;
    s.status |= KBD_STAT_OBF;
    if (s.pending.aux) s.status |= KBD_STAT_MOUSE_OBF;
    else s.status &= ~KBD_STAT_MOUSE_OBF;
    s.pending = null;
  }
  kbdUpdateIrqLines(s);
}

/** `kbd_queue`: a controller reply (`aux`: as if from the mouse). */
function kbdQueue(s: ISAKBDState, b: number, aux: boolean): void {
  s.pending = { data: b & 0xff, aux };
  kbdUpdateIrq(s);
}

/** `outport_write`: A20 from bit 1; bit 0 clear holds the CPU in reset. */
function outportWrite(s: ISAKBDState, val: number): void {
  traceEvent("pckbd_outport_write", { val });
  s.outport = val;
  qemuSetIrq(s.a20Out, (val >> 1) & 1);
  if (!(val & 1)) qemuSystemResetRequest(SHUTDOWN_CAUSE_GUEST_RESET);
}

/** `kbd_read_status`. */
export function kbdReadStatus(s: ISAKBDState): number {
  traceEvent("pckbd_kbd_read_status", { status: s.status });
  return s.status;
}

/** `kbd_write_command` (port 0x64). */
export function kbdWriteCommand(s: ISAKBDState, val: number): void {
  traceEvent("pckbd_kbd_write_command", { val });
  // Pulse commands: bits 3–0 select output port bits to pulse low (0 = pulse). Only
  // bit 0 means anything: the CPU reset line.
  if ((val & KBD_CCMD_PULSE_BITS_3_0) === KBD_CCMD_PULSE_BITS_3_0) {
    val = val & 1 ? KBD_CCMD_NO_OP : KBD_CCMD_RESET;
  }
  switch (val) {
    case KBD_CCMD_READ_MODE:
      kbdQueue(s, s.mode, false);
      break;
    case KBD_CCMD_WRITE_MODE:
    case KBD_CCMD_WRITE_OBUF:
    case KBD_CCMD_WRITE_AUX_OBUF:
    case KBD_CCMD_WRITE_MOUSE:
    case KBD_CCMD_WRITE_OUTPORT:
      s.writeCmd = val;
      break;
    case KBD_CCMD_MOUSE_DISABLE:
      s.mode |= KBD_MODE_DISABLE_MOUSE;
      break;
    case KBD_CCMD_MOUSE_ENABLE:
      s.mode &= ~KBD_MODE_DISABLE_MOUSE;
      kbdUpdateIrq(s);
      break;
    case KBD_CCMD_TEST_MOUSE:
      kbdQueue(s, 0x00, false);
      break;
    case KBD_CCMD_SELF_TEST:
      s.status |= KBD_STAT_SELFTEST;
      kbdQueue(s, 0x55, false);
      break;
    case KBD_CCMD_KBD_TEST:
      kbdQueue(s, 0x00, false);
      break;
    case KBD_CCMD_KBD_DISABLE:
      s.mode |= KBD_MODE_DISABLE_KBD;
      break;
    case KBD_CCMD_KBD_ENABLE:
      s.mode &= ~KBD_MODE_DISABLE_KBD;
      kbdUpdateIrq(s);
      break;
    case KBD_CCMD_READ_INPORT:
      kbdQueue(s, 0x80, false);
      break;
    case KBD_CCMD_READ_OUTPORT:
      kbdQueue(s, s.outport, false);
      break;
    case KBD_CCMD_ENABLE_A20:
      qemuIrqRaise(s.a20Out);
      s.outport |= KBD_OUT_A20;
      break;
    case KBD_CCMD_DISABLE_A20:
      qemuIrqLower(s.a20Out);
      s.outport &= ~KBD_OUT_A20;
      break;
    case KBD_CCMD_RESET:
      qemuSystemResetRequest(SHUTDOWN_CAUSE_GUEST_RESET);
      break;
    case KBD_CCMD_NO_OP:
      break;
    default:
      qemuLogMask(
        LOG_GUEST_ERROR,
        `unsupported keyboard cmd=0x${val.toString(16).padStart(2, "0")}\n`,
      );
      break;
  }
}

/** `kbd_read_data` (port 0x60): empties the output buffer; the next reply moves in. */
export function kbdReadData(s: ISAKBDState): number {
  if (s.status & KBD_STAT_OBF) {
    s.status &= ~(KBD_STAT_OBF | KBD_STAT_MOUSE_OBF);
    kbdUpdateIrq(s);
  }
  traceEvent("pckbd_kbd_read_data", { val: s.obdata });
  return s.obdata;
}

/** `kbd_write_data` (port 0x60): the data byte of the pending command, else for the keyboard. */
export function kbdWriteData(s: ISAKBDState, val: number): void {
  traceEvent("pckbd_kbd_write_data", { val });
  switch (s.writeCmd) {
    case 0:
      // To the keyboard (none attached); sending re-enables the interface.
      s.mode &= ~KBD_MODE_DISABLE_KBD;
      kbdUpdateIrq(s);
      break;
    case KBD_CCMD_WRITE_MODE:
      s.mode = val;
      kbdUpdateIrq(s);
      break;
    case KBD_CCMD_WRITE_OBUF:
      kbdQueue(s, val, false);
      break;
    case KBD_CCMD_WRITE_AUX_OBUF:
      kbdQueue(s, val, true);
      break;
    case KBD_CCMD_WRITE_OUTPORT:
      outportWrite(s, val);
      break;
    case KBD_CCMD_WRITE_MOUSE:
      // To the mouse (none attached).
      s.mode &= ~KBD_MODE_DISABLE_MOUSE;
      kbdUpdateIrq(s);
      break;
    default:
      break;
  }
  s.writeCmd = 0;
}

/** `kbd_reset`. */
export function kbdReset(s: ISAKBDState): void {
  s.mode = KBD_MODE_KBD_INT | KBD_MODE_MOUSE_INT;
  s.status = KBD_STAT_CMD | KBD_STAT_UNLOCKED;
  s.outport = KBD_OUT_RESET | KBD_OUT_A20;
  s.writeCmd = 0;
  s.pending = null;
  kbdUpdateIrqLines(s);
}

const kbdResetHandler = (opaque: unknown) => kbdReset(opaque as ISAKBDState);

function i8042Realizefn(dev: DeviceState): void {
  const s = dev as ISAKBDState;
  for (const [name, irq] of [
    ["kbd-irq", s.kbdIrq],
    ["mouse-irq", s.mouseIrq],
  ] as const) {
    if (irq >= ISA_NUM_IRQS) {
      throw new QomError(
        "invalid-parameter-value",
        `Maximum value for "${name}" is: ${ISA_NUM_IRQS - 1}`,
        { operation: "i8042_realizefn" },
      );
    }
  }
  s.irqKbd = isaGetIrq(s, s.kbdIrq);
  s.irqMouse = isaGetIrq(s, s.mouseIrq);
  const owner = isaDeviceOwner(s);
  s.ioData = memoryRegionInitIo(
    owner,
    isaByteIoOps(
      1,
      () => kbdReadData(s),
      (_addr, val) => kbdWriteData(s, val),
    ),
    "i8042-data",
    1,
  );
  s.ioCmd = memoryRegionInitIo(
    owner,
    isaByteIoOps(
      1,
      () => kbdReadStatus(s),
      (_addr, val) => kbdWriteCommand(s, val),
    ),
    "i8042-cmd",
    1,
  );
  isaRegisterIoport(s, s.ioData, 0x60);
  isaRegisterIoport(s, s.ioCmd, 0x64);
  qemuRegisterReset(kbdResetHandler, s);
  kbdReset(s);
}

function i8042Unrealizefn(dev: DeviceState): void {
  const s = dev as ISAKBDState;
  for (const mr of [s.ioData, s.ioCmd]) {
    if (mr?.container) memoryRegionDelSubregion(mr.container, mr);
  }
  qemuUnregisterReset(kbdResetHandler, s);
}

typeInit(() => {
  typeRegisterStatic<DeviceClass, ISAKBDState>({
    name: TYPE_I8042,
    parent: TYPE_ISA_DEVICE,
    instanceSize: 320,
    instanceInit: (s) => {
      s.writeCmd = 0;
      s.obdata = 0;
      s.pending = null;
      s.irqKbd = null;
      s.irqMouse = null;
      s.a20Out = null;
      s.ioData = null;
      s.ioCmd = null;
      s.mode = KBD_MODE_KBD_INT | KBD_MODE_MOUSE_INT;
      s.status = KBD_STAT_CMD | KBD_STAT_UNLOCKED;
      s.outport = KBD_OUT_RESET | KBD_OUT_A20;
    },
    classInit: (dc) => {
      dc.realize = i8042Realizefn;
      dc.categories |= 1 << DEVICE_CATEGORY_INPUT;
      dc.unrealize = i8042Unrealizefn;
      deviceClassSetProps(dc, [
        definePropUint8("kbd-irq", "kbdIrq", 1),
        definePropUint8("mouse-irq", "mouseIrq", 12),
      ]);
    },
  });
});
