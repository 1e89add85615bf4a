/**
 * The i8254 PIT (hw/timer/i8254.c, i8254_common.c): three 16-bit counters clocked at
 * 1.193182 MHz, ports 0x40–0x42 (counters) and 0x43 (control word). Channel 0's output
 * is ISA IRQ 0 (the timer tick); channel 2 is gated by, and read back through, port
 * 0x61 (see hw/audio/pcspk.ts).
 *
 * Nothing ticks: a channel remembers when its count was loaded (`countLoadTime`, on
 * QEMU_CLOCK_VIRTUAL) and computes count and output from the elapsed time. Channel 0
 * arms a QEMUTimer for its next output transition and drives the IRQ line when it
 * fires — one rising edge per period in modes 2 and 3, one edge at terminal count in
 * modes 0 and 4.
 *
 * Control word: SC (bits 7–6: channel, 3 = read-back), RW (5–4: 0 latch, 1 LSB, 2 MSB,
 * 3 LSB then MSB), mode (3–1), BCD (0). Read-back (SC = 3) latches count and/or status
 * (output, RW, mode, BCD) of the selected channels.
 *
 * Deviations from QEMU: modes 6 and 7 are stored as 2 and 3 (what the chip does; QEMU
 * keeps 6/7 and then treats them inconsistently). As in QEMU: BCD counting and the
 * null-count status bit are not modelled, and a low gate does not stop counting (only
 * the rising edge restarts modes 1, 2, 3 and 5).
 */
import {
  type DeviceClass,
  type DeviceState,
  definePropUint32,
  deviceClassSetProps,
  objectPropertySetUint,
  typeInit,
  typeRegisterStatic,
} from "@glassvm/qom";
import {
  type MemoryRegion,
  memoryRegionDelSubregion,
  memoryRegionInitIo,
} from "../../system/memory.js";
import { qemuRegisterReset, qemuUnregisterReset } from "../../system/runstate.js";
import {
  muldiv64,
  NANOSECONDS_PER_SECOND,
  QEMU_CLOCK_VIRTUAL,
  type QEMUTimer,
  qemuClockGetNs,
  timerDel,
  timerModNs,
  timerNewNs,
} from "../../util/qemu-timer.js";
import { type QemuIrq, qemuSetIrq } from "../irq.js";
import {
  type ISABus,
  type ISADevice,
  isaByteIoOps,
  isaDeviceOwner,
  isaGetIrq,
  isaNew,
  isaRealizeAndUnref,
  isaRegisterIoport,
  TYPE_ISA_DEVICE,
} from "../isa/isa-bus.js";

export const TYPE_PIT_COMMON = "pit-common";
export const TYPE_I8254 = "isa-pit";

/** PIT_FREQ: the input clock, Hz. */
export const PIT_FREQ = 1_193_182;

export const RW_STATE_LSB = 1;
export const RW_STATE_MSB = 2;
export const RW_STATE_WORD0 = 3;
export const RW_STATE_WORD1 = 4;

/** `PITChannelState`. */
export interface PITChannelState {
  /** The initial count; 0 is loaded as 0x10000. */
  count: number;
  latchedCount: number;
  countLatched: number;
  statusLatched: number;
  status: number;
  readState: number;
  writeState: number;
  writeLatch: number;
  rwMode: number;
  mode: number;
  bcd: number;
  gate: number;
  countLoadTime: number;
  nextTransitionTime: number;
  irqTimer: QEMUTimer | null;
  irq: QemuIrq | null;
  irqDisabled: number;
}

/** `PITChannelInfo` (what the PC speaker and HPET ask). */
export interface PITChannelInfo {
  gate: number;
  mode: number;
  initialCount: number;
  out: number;
}

/** `PITCommonState`. */
export interface PITCommonState extends ISADevice {
  iobase: number;
  channels: PITChannelState[];
  ioports: MemoryRegion | null;
}

function newChannel(): PITChannelState {
  return {
    count: 0x10000,
    latchedCount: 0,
    countLatched: 0,
    statusLatched: 0,
    status: 0,
    readState: 0,
    writeState: 0,
    writeLatch: 0,
    rwMode: 0,
    mode: 0,
    bcd: 0,
    gate: 0,
    countLoadTime: 0,
    nextTransitionTime: -1,
    irqTimer: null,
    irq: null,
    irqDisabled: 0,
  };
}

/** PIT input clocks elapsed since the count was loaded. */
function ticksSinceLoad(s: PITChannelState, currentTime: number): number {
  return muldiv64(currentTime - s.countLoadTime, PIT_FREQ, NANOSECONDS_PER_SECOND);
}

/** `pit_get_out`: the channel's OUT pin at `currentTime`. */
export function pitGetOut(s: PITChannelState, currentTime: number): number {
  const d = ticksSinceLoad(s, currentTime);
  switch (s.mode) {
    case 1:
      return d < s.count ? 1 : 0;
    case 2:
      return d % s.count === 0 && d !== 0 ? 1 : 0;
    case 3:
      return d % s.count < (s.count + 1) >> 1 ? 1 : 0;
    case 4:
    case 5:
      return d === s.count ? 1 : 0;
    default:
      return d >= s.count ? 1 : 0;
  }
}

/** `pit_get_next_transition_time`: when OUT next changes (ns), or -1 for never. */
export function pitGetNextTransitionTime(s: PITChannelState, currentTime: number): number {
  const d = ticksSinceLoad(s, currentTime);
  let nextTime: number;
  switch (s.mode) {
    case 2: {
      const base = d - (d % s.count);
      nextTime = d - base === 0 && d !== 0 ? base + s.count : base + s.count + 1;
      break;
    }
    case 3: {
      const base = d - (d % s.count);
      const period2 = (s.count + 1) >> 1;
      nextTime = d - base < period2 ? base + period2 : base + s.count;
      break;
    }
    case 4:
    case 5:
      if (d < s.count) nextTime = s.count;
      else if (d === s.count) nextTime = s.count + 1;
      else return -1;
      break;
    default: // 0, 1
      if (d < s.count) nextTime = s.count;
      else return -1;
      break;
  }
  nextTime = s.countLoadTime + muldiv64(nextTime, NANOSECONDS_PER_SECOND, PIT_FREQ);
  // Rounding may land on or before now; a transition is always in the future.
  if (nextTime <= currentTime) nextTime = currentTime + 1;
  return nextTime;
}

/** `pit_get_count`: the counter's current value. */
function pitGetCount(s: PITChannelState): number {
  const d = ticksSinceLoad(s, qemuClockGetNs(QEMU_CLOCK_VIRTUAL));
  switch (s.mode) {
    case 0:
    case 1:
    case 4:
    case 5:
      return (s.count - d) & 0xffff;
    case 3:
      // Counts down by two, twice per period.
      return s.count - ((2 * d) % s.count);
    default:
      return s.count - (d % s.count);
  }
}

/** `pit_irq_timer_update`: drive the IRQ from OUT at `currentTime`, arm the next transition. */
function pitIrqTimerUpdate(s: PITChannelState, currentTime: number): void {
  if (!s.irqTimer || s.irqDisabled) return;
  const expireTime = pitGetNextTransitionTime(s, currentTime);
  qemuSetIrq(s.irq, pitGetOut(s, currentTime));
  s.nextTransitionTime = expireTime;
  if (expireTime !== -1) timerModNs(s.irqTimer, expireTime);
  else timerDel(s.irqTimer);
}

function pitIrqTimer(s: PITChannelState): void {
  pitIrqTimerUpdate(s, s.nextTransitionTime);
}

/** `pit_set_channel_gate`: a rising gate restarts modes 1, 2, 3 and 5. */
function pitSetChannelGate(sc: PITChannelState, val: number): void {
  switch (sc.mode) {
    case 1:
    case 2:
    case 3:
    case 5:
      if (sc.gate < val) {
        sc.countLoadTime = qemuClockGetNs(QEMU_CLOCK_VIRTUAL);
        pitIrqTimerUpdate(sc, sc.countLoadTime);
      }
      break;
    default: // 0, 4: the gate would pause counting; not modelled
      break;
  }
  sc.gate = val;
}

/** `pit_load_count`. */
function pitLoadCount(s: PITChannelState, val: number): void {
  s.countLoadTime = qemuClockGetNs(QEMU_CLOCK_VIRTUAL);
  s.count = val === 0 ? 0x10000 : val;
  pitIrqTimerUpdate(s, s.countLoadTime);
}

/** `pit_latch_count`: freeze the count for reading (a second latch is ignored). */
function pitLatchCount(s: PITChannelState): void {
  if (!s.countLatched) {
    s.latchedCount = pitGetCount(s);
    s.countLatched = s.rwMode;
  }
}

/** `pit_ioport_write`. */
export function pitIoportWrite(pit: PITCommonState, addr: number, val: number): void {
  addr &= 3;
  val &= 0xff;
  if (addr === 3) {
    const channel = val >> 6;
    if (channel === 3) {
      // Read-back: bit 5 = 0 latches counts, bit 4 = 0 latches status, bits 3–1 select.
      for (let c = 0; c < 3; c++) {
        const s = pit.channels[c]!;
        if (!(val & (2 << c))) continue;
        if (!(val & 0x20)) pitLatchCount(s);
        if (!(val & 0x10) && !s.statusLatched) {
          s.status =
            (pitGetOut(s, qemuClockGetNs(QEMU_CLOCK_VIRTUAL)) << 7) |
            (s.rwMode << 4) |
            (s.mode << 1) |
            s.bcd;
          s.statusLatched = 1;
        }
      }
    } else {
      const s = pit.channels[channel]!;
      const access = (val >> 4) & 3;
      if (access === 0) {
        pitLatchCount(s);
      } else {
        s.rwMode = access;
        s.readState = access;
        s.writeState = access;
        const mode = (val >> 1) & 7;
        s.mode = mode >= 6 ? mode - 4 : mode;
        s.bcd = val & 1;
      }
    }
  } else {
    const s = pit.channels[addr]!;
    switch (s.writeState) {
      case RW_STATE_MSB:
        pitLoadCount(s, val << 8);
        break;
      case RW_STATE_WORD0:
        s.writeLatch = val;
        s.writeState = RW_STATE_WORD1;
        break;
      case RW_STATE_WORD1:
        pitLoadCount(s, s.writeLatch | (val << 8));
        s.writeState = RW_STATE_WORD0;
        break;
      default: // RW_STATE_LSB (and before any control word)
        pitLoadCount(s, val);
        break;
    }
  }
}

/** `pit_ioport_read`: latched status first, then a latched count, else the live count. */
export function pitIoportRead(pit: PITCommonState, addr: number): number {
  addr &= 3;
  // The control register is write-only.
  if (addr === 3) return 0;
  const s = pit.channels[addr]!;
  if (s.statusLatched) {
    s.statusLatched = 0;
    return s.status;
  }
  if (s.countLatched) {
    switch (s.countLatched) {
      case RW_STATE_MSB:
        s.countLatched = 0;
        return (s.latchedCount >> 8) & 0xff;
      case RW_STATE_WORD0:
        s.countLatched = RW_STATE_MSB;
        return s.latchedCount & 0xff;
      default:
        s.countLatched = 0;
        return s.latchedCount & 0xff;
    }
  }
  switch (s.readState) {
    case RW_STATE_MSB:
      return (pitGetCount(s) >> 8) & 0xff;
    case RW_STATE_WORD0:
      s.readState = RW_STATE_WORD1;
      return pitGetCount(s) & 0xff;
    case RW_STATE_WORD1:
      s.readState = RW_STATE_WORD0;
      return (pitGetCount(s) >> 8) & 0xff;
    default:
      return pitGetCount(s) & 0xff;
  }
}

/** `pit_set_gate`: the GATE input of `channel` (port 0x61 bit 0 for channel 2). */
export function pitSetGate(dev: PITCommonState, channel: number, val: number): void {
  pitSetChannelGate(dev.channels[channel]!, val ? 1 : 0);
}

/** `pit_get_channel_info`. */
export function pitGetChannelInfo(dev: PITCommonState, channel: number): PITChannelInfo {
  const sc = dev.channels[channel]!;
  return {
    gate: sc.gate,
    mode: sc.mode,
    initialCount: sc.count,
    out: pitGetOut(sc, qemuClockGetNs(QEMU_CLOCK_VIRTUAL)),
  };
}

/**
 * The HPET's legacy-replacement switch (`pit_irq_control`, the device's GPIO input):
 * disabled, channel 0 stops driving IRQ 0.
 */
export function pitIrqControl(pit: PITCommonState, enable: boolean): void {
  const s = pit.channels[0]!;
  if (enable) {
    s.irqDisabled = 0;
    pitIrqTimerUpdate(s, qemuClockGetNs(QEMU_CLOCK_VIRTUAL));
  } else {
    s.irqDisabled = 1;
    if (s.irqTimer) timerDel(s.irqTimer);
  }
}

/** `pit_reset_common`: every channel in mode 3 with count 0x10000 (18.2 Hz), loaded now. */
export function pitResetCommon(pit: PITCommonState): void {
  for (let i = 0; i < 3; i++) {
    const s = pit.channels[i]!;
    s.mode = 3;
    s.gate = i !== 2 ? 1 : 0;
    s.countLoadTime = qemuClockGetNs(QEMU_CLOCK_VIRTUAL);
    s.count = 0x10000;
    if (i === 0 && !s.irqDisabled) {
      s.nextTransitionTime = pitGetNextTransitionTime(s, s.countLoadTime);
    }
  }
}

/** `pit_reset`: the common reset, and channel 0's timer armed for its first edge. */
export function pitReset(pit: PITCommonState): void {
  pitResetCommon(pit);
  const s = pit.channels[0]!;
  if (!s.irqDisabled && s.irqTimer) timerModNs(s.irqTimer, s.nextTransitionTime);
}

const pitResetHandler = (opaque: unknown) => pitReset(opaque as PITCommonState);

/** `pit_realizefn` + `pit_common_realize`. */
function pitRealizefn(dev: DeviceState): void {
  const pit = dev as PITCommonState;
  const s = pit.channels[0]!;
  // Channel 0 is the one wired to an IRQ.
  s.irqTimer = timerNewNs(QEMU_CLOCK_VIRTUAL, (o) => pitIrqTimer(o as PITChannelState), s);
  pit.ioports = memoryRegionInitIo(
    isaDeviceOwner(pit),
    isaByteIoOps(
      4,
      (addr) => pitIoportRead(pit, addr),
      (addr, val) => pitIoportWrite(pit, addr, val),
    ),
    "pit",
    4,
  );
  isaRegisterIoport(pit, pit.ioports, pit.iobase);
  qemuRegisterReset(pitResetHandler, pit);
  pitReset(pit);
}

function pitUnrealizefn(dev: DeviceState): void {
  const pit = dev as PITCommonState;
  const t = pit.channels[0]!.irqTimer;
  if (t) timerDel(t);
  if (pit.ioports?.container) memoryRegionDelSubregion(pit.ioports.container, pit.ioports);
  qemuUnregisterReset(pitResetHandler, pit);
}

/**
 * `i8254_pit_init`: the PIT at `base`; channel 0 drives ISA IRQ `isaIrq`, or `altIrq`
 * when `isaIrq` is negative (the HPET's interception).
 */
export function i8254PitInit(
  bus: ISABus,
  base: number,
  isaIrq: number,
  altIrq: QemuIrq | null,
): PITCommonState {
  const d = isaNew<PITCommonState>(TYPE_I8254);
  objectPropertySetUint(d, "iobase", base);
  isaRealizeAndUnref(d, bus);
  d.channels[0]!.irq = isaIrq >= 0 ? isaGetIrq(d, isaIrq) : altIrq;
  return d;
}

typeInit(() => {
  typeRegisterStatic<DeviceClass, PITCommonState>({
    name: TYPE_PIT_COMMON,
    parent: TYPE_ISA_DEVICE,
    abstract: true,
    instanceSize: 400,
    instanceInit: (pit) => {
      pit.channels = [newChannel(), newChannel(), newChannel()];
      pit.ioports = null;
    },
    classInit: (dc) => {
      // The board wires the PIT (and the HPET may take its IRQ over).
      dc.userCreatable = false;
      deviceClassSetProps(dc, [definePropUint32("iobase", "iobase", 0xffff_ffff)]);
    },
  });
  typeRegisterStatic<DeviceClass, PITCommonState>({
    name: TYPE_I8254,
    parent: TYPE_PIT_COMMON,
    classInit: (dc) => {
      dc.realize = pitRealizefn;
      dc.unrealize = pitUnrealizefn;
    },
  });
});
