/**
 * The 16550A UART (hw/char/serial.c) and its ISA wrapper (hw/char/serial-isa.c).
 *
 * `serial` is the UART core: eight byte registers, a 16-byte receive and transmit FIFO,
 * and one interrupt line. `isa-serial` puts one on the ISA bus: `index` picks the PC's
 * COM1–COM4 port and IRQ (0x3f8/4, 0x2f8/3, 0x3e8/4, 0x2e8/3) unless `iobase`/`irq`
 * say otherwise; `chardev`, `baudbase` and `wakeup` are aliases of the core's.
 *
 *   off  DLAB=0 read   DLAB=0 write   DLAB=1
 *   0    RBR           THR            DLL
 *   1    IER           IER            DLM
 *   2    IIR           FCR
 *   3    LCR (bit 7 = DLAB)
 *   4    MCR (bit 4 = loopback)
 *   5    LSR (DR, OE, PE, FE, BI, THRE, TEMT)
 *   6    MSR
 *   7    SCR
 *
 * Transmission is instantaneous, as in QEMU: a THR write goes to the chardev at once and
 * THRE/TEMT are set again before the OUT instruction completes; the divisor latch only
 * sets the character time used for the receive FIFO timeout. Loopback (MCR bit 4) turns
 * transmitted bytes into received ones and reflects MCR's outputs in MSR. Interrupts, in
 * IIR priority order: line status (RLS), character timeout (CTI), received data (RDA,
 * at the FIFO trigger level), THR empty, modem status. The line level follows the
 * highest pending source; OUT2 does not gate it (as in QEMU).
 *
 * Not modelled: modem-line polling and line parameters of a host serial port (chardev
 * ioctls), the transmit retry when a backend is busy, wakeup from suspend.
 */
import {
  DEVICE_CATEGORY_INPUT,
  type DeviceClass,
  type DeviceState,
  definePropBool,
  definePropUint32,
  deviceClassSetProps,
  objectInitializeChild,
  objectPropertyAddAlias,
  QomError,
  qdevRealize,
  qdevUnrealize,
  typeInit,
  typeRegisterStatic,
} from "@glassvm/qom";
import {
  CHR_EVENT_BREAK,
  type CharBackend,
  charBackendNew,
  type QEMUChrEvent,
  qemuChrFeAcceptInput,
  qemuChrFeSetHandlers,
  qemuChrFeWrite,
} from "../../chardev/char.js";
import {
  type MemoryRegion,
  memoryRegionDelSubregion,
  memoryRegionInitIo,
} from "../../system/memory.js";
import { qemuRegisterReset, qemuUnregisterReset } from "../../system/runstate.js";
import { defineTraceEvent, traceEvent } from "../../trace/control.js";
import { Fifo8 } from "../../util/fifo8.js";
import {
  NANOSECONDS_PER_SECOND,
  QEMU_CLOCK_VIRTUAL,
  type QEMUTimer,
  qemuClockGetNs,
  timerDel,
  timerModNs,
  timerNewNs,
} from "../../util/qemu-timer.js";
import { definePropChr } from "../core/qdev-properties-system.js";
import { type QemuIrq, qemuIrqLower, qemuIrqRaise } from "../irq.js";
import {
  type ISADevice,
  isaByteIoOps,
  isaDeviceOwner,
  isaGetIrq,
  isaRegisterIoport,
  TYPE_ISA_DEVICE,
} from "../isa/isa-bus.js";

export const TYPE_SERIAL = "serial";
export const TYPE_ISA_SERIAL = "isa-serial";
export const MAX_ISA_SERIAL_PORTS = 4;

// Register bits (the names Linux's serial_reg.h and QEMU use) ----------------------------

export const UART_LCR_DLAB = 0x80;

export const UART_IER_MSI = 0x08;
export const UART_IER_RLSI = 0x04;
export const UART_IER_THRI = 0x02;
export const UART_IER_RDI = 0x01;

export const UART_IIR_NO_INT = 0x01;
export const UART_IIR_ID = 0x06;
export const UART_IIR_MSI = 0x00;
export const UART_IIR_THRI = 0x02;
export const UART_IIR_RDI = 0x04;
export const UART_IIR_RLSI = 0x06;
export const UART_IIR_CTI = 0x0c;
export const UART_IIR_FENF = 0x80;
export const UART_IIR_FE = 0xc0;

export const UART_MCR_LOOP = 0x10;
export const UART_MCR_OUT2 = 0x08;
export const UART_MCR_OUT1 = 0x04;
export const UART_MCR_RTS = 0x02;
export const UART_MCR_DTR = 0x01;

export const UART_MSR_DCD = 0x80;
export const UART_MSR_RI = 0x40;
export const UART_MSR_DSR = 0x20;
export const UART_MSR_CTS = 0x10;
export const UART_MSR_DDCD = 0x08;
export const UART_MSR_TERI = 0x04;
export const UART_MSR_DDSR = 0x02;
export const UART_MSR_DCTS = 0x01;
export const UART_MSR_ANY_DELTA = 0x0f;

export const UART_LSR_TEMT = 0x40;
export const UART_LSR_THRE = 0x20;
export const UART_LSR_BI = 0x10;
export const UART_LSR_FE = 0x08;
export const UART_LSR_PE = 0x04;
export const UART_LSR_OE = 0x02;
export const UART_LSR_DR = 0x01;
export const UART_LSR_INT_ANY = 0x1e;

export const UART_FCR_ITL_1 = 0x00;
export const UART_FCR_ITL_2 = 0x40;
export const UART_FCR_ITL_3 = 0x80;
export const UART_FCR_ITL_4 = 0xc0;
export const UART_FCR_DMS = 0x08;
export const UART_FCR_XFR = 0x04;
export const UART_FCR_RFR = 0x02;
export const UART_FCR_FE = 0x01;

export const UART_FIFO_LENGTH = 16;

/** Default ports and IRQs of COM1–COM4 (`isa_serial_io`, `isa_serial_irq`). */
export const ISA_SERIAL_IO = [0x3f8, 0x2f8, 0x3e8, 0x2e8] as const;
export const ISA_SERIAL_IRQ = [4, 3, 4, 3] as const;

defineTraceEvent(
  "serial_read",
  (a) => `read addr 0x${hex2(a.addr as number)} val 0x${hex2(a.value as number)}`,
);
defineTraceEvent(
  "serial_write",
  (a) => `write addr 0x${hex2(a.addr as number)} val 0x${hex2(a.value as number)}`,
);
defineTraceEvent(
  "serial_update_parameters",
  (a) => `baudrate=${a.baudrate} parity='${a.parity}' data=${a.data_bits} stop=${a.stop_bits}`,
);

function hex2(v: number): string {
  return v.toString(16).padStart(2, "0");
}

/** `SerialState`: the UART core (device type `serial`). */
export interface SerialState extends DeviceState {
  divider: number;
  rbr: number;
  thr: number;
  tsr: number;
  ier: number;
  iir: number;
  lcr: number;
  mcr: number;
  lsr: number;
  msr: number;
  scr: number;
  fcr: number;
  thrIpending: boolean;
  timeoutIpending: boolean;
  lastBreakEnable: number;
  baudbase: number;
  wakeup: boolean;
  irq: QemuIrq | null;
  chr: CharBackend;
  recvFifo: Fifo8;
  xmitFifo: Fifo8;
  recvFifoItl: number;
  /** Nanoseconds per character at the programmed rate and frame format. */
  charTransmitTime: number;
  lastXmitTs: number;
  fifoTimeoutTimer: QEMUTimer | null;
}

/** `ISASerialState`. */
export interface ISASerialState extends ISADevice {
  index: number;
  iobase: number;
  isairq: number;
  state: SerialState;
  io: MemoryRegion | null;
}

// The UART core ----------------------------------------------------------------------------

function recvFifoPut(s: SerialState, chr: number): void {
  // Receive overruns do not overwrite what is in the FIFO.
  if (!s.recvFifo.isFull()) s.recvFifo.push(chr);
  else s.lsr |= UART_LSR_OE;
}

/** `serial_update_irq`: pick the highest-priority pending source for IIR and the line. */
function serialUpdateIrq(s: SerialState): void {
  let tmpIir = UART_IIR_NO_INT;
  if (s.ier & UART_IER_RLSI && s.lsr & UART_LSR_INT_ANY) {
    tmpIir = UART_IIR_RLSI;
  } else if (s.ier & UART_IER_RDI && s.timeoutIpending) {
    // Masked by IER.RDI too: not in the datasheet, but real parts behave so.
    tmpIir = UART_IIR_CTI;
  } else if (
    s.ier & UART_IER_RDI &&
    s.lsr & UART_LSR_DR &&
    (!(s.fcr & UART_FCR_FE) || s.recvFifo.num >= s.recvFifoItl)
  ) {
    tmpIir = UART_IIR_RDI;
  } else if (s.ier & UART_IER_THRI && s.thrIpending) {
    tmpIir = UART_IIR_THRI;
  } else if (s.ier & UART_IER_MSI && s.msr & UART_MSR_ANY_DELTA) {
    tmpIir = UART_IIR_MSI;
  }
  s.iir = tmpIir | (s.iir & 0xf0);
  if (tmpIir !== UART_IIR_NO_INT) qemuIrqRaise(s.irq);
  else qemuIrqLower(s.irq);
}

/** `serial_update_parameters`: the character time from the divisor and LCR. */
function serialUpdateParameters(s: SerialState): void {
  if (s.divider === 0 || s.divider > s.baudbase) return;
  let frameSize = 1; // start bit
  let parity = "N";
  if (s.lcr & 0x08) {
    frameSize++;
    parity = s.lcr & 0x10 ? "E" : "O";
  }
  const stopBits = s.lcr & 0x04 ? 2 : 1;
  const dataBits = (s.lcr & 0x03) + 5;
  frameSize += dataBits + stopBits;
  const speed = Math.floor(s.baudbase / s.divider);
  s.charTransmitTime = Math.floor(NANOSECONDS_PER_SECOND / speed) * frameSize;
  traceEvent("serial_update_parameters", {
    baudrate: speed,
    parity,
    data_bits: dataBits,
    stop_bits: stopBits,
  });
}

/** `serial_xmit`: move THR (or the transmit FIFO) through TSR to the chardev or loopback. */
function serialXmit(s: SerialState): void {
  do {
    if (s.fcr & UART_FCR_FE) {
      s.tsr = s.xmitFifo.pop();
      if (s.xmitFifo.num === 0) s.lsr |= UART_LSR_THRE;
    } else {
      s.tsr = s.thr;
      s.lsr |= UART_LSR_THRE;
    }
    if (s.lsr & UART_LSR_THRE && !s.thrIpending) {
      s.thrIpending = true;
      serialUpdateIrq(s);
    }
    if (s.mcr & UART_MCR_LOOP) {
      serialReceive1(s, Uint8Array.of(s.tsr));
    } else {
      qemuChrFeWrite(s.chr, Uint8Array.of(s.tsr));
    }
    // Only a non-empty transmit FIFO leaves THRE clear: send its next byte.
  } while (!(s.lsr & UART_LSR_THRE));
  s.lastXmitTs = qemuClockGetNs(QEMU_CLOCK_VIRTUAL);
  s.lsr |= UART_LSR_TEMT;
}

/** `serial_write_fcr`: the sticky FCR bits and the receive trigger level. */
function serialWriteFcr(s: SerialState, val: number): void {
  s.fcr = val;
  if (val & UART_FCR_FE) {
    s.iir |= UART_IIR_FE;
    s.recvFifoItl = [1, 4, 8, 14][(val >> 6) & 3]!;
  } else {
    s.iir &= ~UART_IIR_FE;
  }
}

/** `serial_ioport_write`. */
export function serialIoportWrite(s: SerialState, addr: number, val: number): void {
  addr &= 7;
  val &= 0xff;
  traceEvent("serial_write", { addr, value: val });
  switch (addr) {
    case 0:
      if (s.lcr & UART_LCR_DLAB) {
        s.divider = (s.divider & 0xff00) | val;
        serialUpdateParameters(s);
      } else {
        s.thr = val;
        if (s.fcr & UART_FCR_FE) {
          // Transmit overruns overwrite: make room.
          if (s.xmitFifo.isFull()) s.xmitFifo.pop();
          s.xmitFifo.push(s.thr);
        }
        s.thrIpending = false;
        s.lsr &= ~(UART_LSR_THRE | UART_LSR_TEMT);
        serialUpdateIrq(s);
        serialXmit(s);
      }
      break;
    case 1:
      if (s.lcr & UART_LCR_DLAB) {
        s.divider = (s.divider & 0x00ff) | (val << 8);
        serialUpdateParameters(s);
      } else {
        const changed = (s.ier ^ val) & 0x0f;
        s.ier = val & 0x0f;
        // Enabling THRI while THR is empty raises THRE again even after an IIR read
        // cleared it (Windows relies on this; Bochs does the same).
        if (changed & UART_IER_THRI) {
          s.thrIpending = (s.ier & UART_IER_THRI) !== 0 && (s.lsr & UART_LSR_THRE) !== 0;
        }
        if (changed) serialUpdateIrq(s);
      }
      break;
    case 2:
      // Toggling the enable bit flushes both FIFOs.
      if ((val ^ s.fcr) & UART_FCR_FE) val |= UART_FCR_XFR | UART_FCR_RFR;
      if (val & UART_FCR_RFR) {
        s.lsr &= ~(UART_LSR_DR | UART_LSR_BI);
        if (s.fifoTimeoutTimer) timerDel(s.fifoTimeoutTimer);
        s.timeoutIpending = false;
        s.recvFifo.reset();
      }
      if (val & UART_FCR_XFR) {
        s.lsr |= UART_LSR_THRE;
        s.thrIpending = true;
        s.xmitFifo.reset();
      }
      serialWriteFcr(s, val & 0xc9);
      serialUpdateIrq(s);
      break;
    case 3:
      s.lcr = val;
      serialUpdateParameters(s);
      s.lastBreakEnable = (val >> 6) & 1;
      break;
    case 4:
      s.mcr = val & 0x1f;
      break;
    case 5:
    case 6:
      break;
    case 7:
      s.scr = val;
      break;
  }
}

/** `serial_ioport_read`. */
export function serialIoportRead(s: SerialState, addr: number): number {
  addr &= 7;
  let ret = 0;
  switch (addr) {
    case 0:
      if (s.lcr & UART_LCR_DLAB) {
        ret = s.divider & 0xff;
      } else {
        if (s.fcr & UART_FCR_FE) {
          ret = s.recvFifo.isEmpty() ? 0 : s.recvFifo.pop();
          if (s.recvFifo.num === 0) {
            s.lsr &= ~(UART_LSR_DR | UART_LSR_BI);
          } else if (s.fifoTimeoutTimer) {
            timerModNs(
              s.fifoTimeoutTimer,
              qemuClockGetNs(QEMU_CLOCK_VIRTUAL) + s.charTransmitTime * 4,
            );
          }
          s.timeoutIpending = false;
        } else {
          ret = s.rbr;
          s.lsr &= ~(UART_LSR_DR | UART_LSR_BI);
        }
        serialUpdateIrq(s);
        // In loopback the line is disconnected from the backend.
        if (!(s.mcr & UART_MCR_LOOP)) qemuChrFeAcceptInput(s.chr);
      }
      break;
    case 1:
      ret = s.lcr & UART_LCR_DLAB ? (s.divider >> 8) & 0xff : s.ier;
      break;
    case 2:
      ret = s.iir;
      if ((ret & UART_IIR_ID) === UART_IIR_THRI) {
        s.thrIpending = false;
        serialUpdateIrq(s);
      }
      break;
    case 3:
      ret = s.lcr;
      break;
    case 4:
      ret = s.mcr;
      break;
    case 5:
      ret = s.lsr;
      // Reading LSR clears break and overrun.
      if (s.lsr & (UART_LSR_BI | UART_LSR_OE)) {
        s.lsr &= ~(UART_LSR_BI | UART_LSR_OE);
        serialUpdateIrq(s);
      }
      break;
    case 6:
      if (s.mcr & UART_MCR_LOOP) {
        // Loopback wires OUT2→DCD, OUT1→RI, RTS→CTS, DTR→DSR.
        ret = ((s.mcr & 0x0c) << 4) | ((s.mcr & 0x02) << 3) | ((s.mcr & 0x01) << 5);
      } else {
        ret = s.msr;
        if (s.msr & UART_MSR_ANY_DELTA) {
          s.msr &= 0xf0;
          serialUpdateIrq(s);
        }
      }
      break;
    case 7:
      ret = s.scr;
      break;
  }
  traceEvent("serial_read", { addr, value: ret });
  return ret;
}

/** `serial_can_receive`: how many bytes the receiver takes now. */
function serialCanReceive(s: SerialState): number {
  if (s.fcr & UART_FCR_FE) {
    if (s.recvFifo.num < UART_FIFO_LENGTH) {
      // Offer only up to the trigger level, then one at a time, so the guest sees the
      // RDA interrupt at the level it programmed rather than a full FIFO.
      return s.recvFifo.num <= s.recvFifoItl ? s.recvFifoItl - s.recvFifo.num : 1;
    }
    return 0;
  }
  return s.lsr & UART_LSR_DR ? 0 : 1;
}

/** `serial_receive1`: bytes from the chardev (or loopback) into RBR / the receive FIFO. */
function serialReceive1(s: SerialState, buf: Uint8Array): void {
  if (s.fcr & UART_FCR_FE) {
    for (const b of buf) recvFifoPut(s, b);
    s.lsr |= UART_LSR_DR;
    // Character timeout: 4 character times after the last byte.
    if (s.fifoTimeoutTimer) {
      timerModNs(s.fifoTimeoutTimer, qemuClockGetNs(QEMU_CLOCK_VIRTUAL) + s.charTransmitTime * 4);
    }
  } else {
    if (s.lsr & UART_LSR_DR) s.lsr |= UART_LSR_OE;
    s.rbr = buf[0]!;
    s.lsr |= UART_LSR_DR;
  }
  serialUpdateIrq(s);
}

/** `fifo_timeout_int`. */
function fifoTimeoutInt(s: SerialState): void {
  if (s.recvFifo.num) {
    s.timeoutIpending = true;
    serialUpdateIrq(s);
  }
}

/** `serial_receive_break`: a NUL with BI. */
function serialReceiveBreak(s: SerialState): void {
  s.rbr = 0;
  recvFifoPut(s, 0);
  s.lsr |= UART_LSR_BI | UART_LSR_DR;
  serialUpdateIrq(s);
}

function serialEvent(s: SerialState, event: QEMUChrEvent): void {
  if (event === CHR_EVENT_BREAK) serialReceiveBreak(s);
}

/** `serial_reset`. */
export function serialReset(s: SerialState): void {
  s.rbr = 0;
  s.ier = 0;
  s.iir = UART_IIR_NO_INT;
  s.lcr = 0;
  s.lsr = UART_LSR_TEMT | UART_LSR_THRE;
  s.msr = UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
  // 9600 baud, 8 data bits, 1 stop bit, no parity.
  s.divider = 0x0c;
  s.mcr = UART_MCR_OUT2;
  s.scr = 0;
  s.charTransmitTime = Math.floor(NANOSECONDS_PER_SECOND / 9600) * 10;
  s.timeoutIpending = false;
  if (s.fifoTimeoutTimer) timerDel(s.fifoTimeoutTimer);
  s.recvFifo.reset();
  s.xmitFifo.reset();
  s.lastXmitTs = qemuClockGetNs(QEMU_CLOCK_VIRTUAL);
  s.thrIpending = false;
  s.lastBreakEnable = 0;
  qemuIrqLower(s.irq);
}

const serialResetHandler = (opaque: unknown) => serialReset(opaque as SerialState);

function serialRealize(dev: DeviceState): void {
  const s = dev as SerialState;
  s.fifoTimeoutTimer = timerNewNs(QEMU_CLOCK_VIRTUAL, (o) => fifoTimeoutInt(o as SerialState), s);
  qemuRegisterReset(serialResetHandler, s);
  qemuChrFeSetHandlers(
    s.chr,
    (o) => serialCanReceive(o as SerialState),
    (o, buf) => serialReceive1(o as SerialState, buf),
    (o, event) => serialEvent(o as SerialState, event),
    s,
    true,
  );
  serialReset(s);
}

function serialUnrealize(dev: DeviceState): void {
  const s = dev as SerialState;
  qemuChrFeSetHandlers(s.chr, null, null, null, null, true);
  if (s.fifoTimeoutTimer) timerDel(s.fifoTimeoutTimer);
  qemuUnregisterReset(serialResetHandler, s);
}

// isa-serial ----------------------------------------------------------------------------

/** The next COM index to hand out (`index` in serial_isa_realizefn). */
let isaSerialNextIndex = 0;

/** The next isa-serial index back to 0 (a new process; qemuCleanup). */
export function isaSerialIndexReset(): void {
  isaSerialNextIndex = 0;
}

function serialIsaRealizefn(dev: DeviceState): void {
  const isa = dev as ISASerialState;
  const s = isa.state;
  if (isa.index === 0xffff_ffff) isa.index = isaSerialNextIndex;
  if (isa.index >= MAX_ISA_SERIAL_PORTS) {
    throw new QomError(
      "invalid-parameter-value",
      `Max. supported number of ISA serial ports is ${MAX_ISA_SERIAL_PORTS}.`,
      { operation: "serial_isa_realizefn" },
    );
  }
  if (isa.iobase === 0xffff_ffff) isa.iobase = ISA_SERIAL_IO[isa.index]!;
  if (isa.isairq === 0xffff_ffff) isa.isairq = ISA_SERIAL_IRQ[isa.index]!;
  isaSerialNextIndex++;

  s.irq = isaGetIrq(isa, isa.isairq);
  qdevRealize(s);

  isa.io = memoryRegionInitIo(
    isaDeviceOwner(isa),
    isaByteIoOps(
      8,
      (addr) => serialIoportRead(s, addr),
      (addr, val) => serialIoportWrite(s, addr, val),
    ),
    "serial",
    8,
  );
  isaRegisterIoport(isa, isa.io, isa.iobase);
}

function serialIsaUnrealizefn(dev: DeviceState): void {
  const isa = dev as ISASerialState;
  if (isa.io?.container) memoryRegionDelSubregion(isa.io.container, isa.io);
  if (isa.state.realized) qdevUnrealize(isa.state);
}

typeInit(() => {
  typeRegisterStatic<DeviceClass, SerialState>({
    name: TYPE_SERIAL,
    parent: "device",
    instanceSize: 400,
    instanceInit: (s) => {
      s.chr = charBackendNew();
      s.irq = null;
      s.recvFifo = new Fifo8(UART_FIFO_LENGTH);
      s.xmitFifo = new Fifo8(UART_FIFO_LENGTH);
      s.recvFifoItl = 1;
      s.fcr = 0;
      s.tsr = 0;
      s.thr = 0;
      s.fifoTimeoutTimer = null;
      serialReset(s);
    },
    classInit: (dc) => {
      dc.realize = serialRealize;
      dc.unrealize = serialUnrealize;
      dc.userCreatable = false;
      deviceClassSetProps(dc, [
        definePropChr("chardev", "chr"),
        definePropUint32("baudbase", "baudbase", 115200),
        definePropBool("wakeup", "wakeup", false),
      ]);
    },
  });
  typeRegisterStatic<DeviceClass, ISASerialState>({
    name: TYPE_ISA_SERIAL,
    parent: TYPE_ISA_DEVICE,
    instanceSize: 560,
    instanceInit: (isa) => {
      isa.io = null;
      isa.state = objectInitializeChild<SerialState>(isa, "serial", TYPE_SERIAL);
      // qdev_alias_all_properties: the core's chardev, baudbase and wakeup.
      for (const name of ["chardev", "baudbase", "wakeup"]) {
        objectPropertyAddAlias(isa, name, isa.state, name);
      }
    },
    classInit: (dc) => {
      dc.realize = serialIsaRealizefn;
      dc.categories |= 1 << DEVICE_CATEGORY_INPUT;
      dc.unrealize = serialIsaUnrealizefn;
      deviceClassSetProps(dc, [
        definePropUint32("index", "index", 0xffff_ffff),
        definePropUint32("iobase", "iobase", 0xffff_ffff),
        definePropUint32("irq", "isairq", 0xffff_ffff),
      ]);
    },
  });
});
