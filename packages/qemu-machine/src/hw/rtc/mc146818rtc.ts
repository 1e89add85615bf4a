/**
 * The MC146818 RTC and CMOS RAM (hw/rtc/mc146818rtc.c, device `mc146818rtc`): 128 bytes
 * behind an index port (0x70; bit 7 of the written index is the NMI mask on real PCs)
 * and a data port (0x71).
 *
 *   0x00–0x09  seconds, alarm s, minutes, alarm m, hours, alarm h, weekday, day, month,
 *              year — BCD unless register B's DM bit; 12-hour unless B's 24H bit (PM =
 *              bit 7 of the hour)
 *   0x0a–0x0d  registers A (UIP, divider, rate), B (SET, PIE, AIE, UIE, SQWE, DM, 24H,
 *              DSE), C (IRQF, PF, AF, UF — read clears) and D (VRT)
 *   0x32       century (0x37, the PS/2 century byte, aliases it)
 *   the rest   firmware data the board fills with `rtcSetMemory`: the pc machine's
 *              memory size at 0x15/0x16 (base KiB), 0x17/0x18 and 0x30/0x31 (KiB above
 *              1 MiB), 0x34/0x35 (64 KiB units above 16 MiB), 0x5b–0x5d (64 KiB units
 *              above 4 GiB), boot order, equipment bytes…
 *
 * Time is not ticked: the RTC keeps the second it was set to (`baseRtc`) and when
 * (`lastUpdate` on `rtc_clock`), and recomputes the time registers when they are read.
 * `rtc_clock` is QEMU_CLOCK_HOST by default, as in QEMU (`-rtc clock=vm` makes it
 * QEMU_CLOCK_VIRTUAL: `setRtcClock`). The date starts at the host's UTC time at realize
 * (`-rtc base=utc`); `rtcSetDateTime` sets another. Writing a time register while the
 * clock runs (or clearing SET) moves the base, as a guest's `hwclock --systohc` does.
 *
 * Interrupts on ISA IRQ 8: periodic (PIE, rate from register A), update-ended (UIE, once
 * a second) and alarm (AIE; 0xC0–0xFF in an alarm register matches anything). The
 * line stays high until register C is read.
 *
 * Not modelled: the `slew` lost-tick policy (ticks are discarded, QEMU's default), the
 * exact UIP latch around the update timer (UIP reads as set during the last 244 µs of
 * each second), RTC_CHANGE events, suspend/wakeup, the `date` QOM property.
 */
import {
  DEVICE_CATEGORY_MISC,
  type DeviceClass,
  type DeviceState,
  definePropInt32,
  definePropUint8,
  definePropUint16,
  deviceClassSetProps,
  objectPropertySetInt,
  QomError,
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
  QEMU_CLOCK_HOST,
  type QEMUClockType,
  type QEMUTimer,
  qemuClockGetNs,
  timerDel,
  timerModNs,
  timerNewNs,
} from "../../util/qemu-timer.js";
import { type QemuIrq, qemuIrqLower, qemuIrqRaise } from "../irq.js";
import {
  ISA_NUM_IRQS,
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

export const TYPE_MC146818_RTC = "mc146818rtc";
export const RTC_ISA_IRQ = 8;
export const RTC_ISA_BASE = 0x70;

// Register indexes and bits (include/hw/rtc/mc146818rtc_regs.h) -----------------------

export const RTC_SECONDS = 0;
export const RTC_SECONDS_ALARM = 1;
export const RTC_MINUTES = 2;
export const RTC_MINUTES_ALARM = 3;
export const RTC_HOURS = 4;
export const RTC_HOURS_ALARM = 5;
export const RTC_DAY_OF_WEEK = 6;
export const RTC_DAY_OF_MONTH = 7;
export const RTC_MONTH = 8;
export const RTC_YEAR = 9;
export const RTC_REG_A = 10;
export const RTC_REG_B = 11;
export const RTC_REG_C = 12;
export const RTC_REG_D = 13;
export const RTC_CENTURY = 0x32;
export const RTC_IBM_PS2_CENTURY_BYTE = 0x37;

export const REG_A_UIP = 0x80;

export const REG_B_SET = 0x80;
export const REG_B_PIE = 0x40;
export const REG_B_AIE = 0x20;
export const REG_B_UIE = 0x10;
export const REG_B_SQWE = 0x08;
export const REG_B_DM = 0x04;
export const REG_B_24H = 0x02;

export const REG_C_UF = 0x10;
export const REG_C_IRQF = 0x80;
export const REG_C_PF = 0x40;
export const REG_C_AF = 0x20;
export const REG_C_MASK = 0x70;

const RTC_CLOCK_RATE = 32768;
/** How long before each second's update UIP reads as set (8 cycles of 32.768 kHz). */
const UIP_HOLD_LENGTH = (8 * NANOSECONDS_PER_SECOND) / RTC_CLOCK_RATE;

let rtcClock: QEMUClockType = QEMU_CLOCK_HOST;

/** `rtc_clock` (`-rtc clock=host|vm|rt`): the clock RTCs realized afterwards count on. */
export function setRtcClock(type: QEMUClockType): void {
  rtcClock = type;
}

/** The current `rtc_clock`. */
export function getRtcClock(): QEMUClockType {
  return rtcClock;
}

/** `MC146818RtcState`. */
export interface MC146818RtcState extends ISADevice {
  cmosData: Uint8Array;
  cmosIndex: number;
  /** Bit 7 of the last index write (the PC's NMI mask; not wired to the CPU). */
  nmiDisabled: number;
  baseYear: number;
  iobase: number;
  isairq: number;
  /** The RTC's second at `lastUpdate` (Unix time). */
  baseRtc: number;
  lastUpdate: number;
  /** Sub-second phase (ns) added to the clock's elapsed time. */
  offset: number;
  clock: QEMUClockType;
  irq: QemuIrq | null;
  period: number;
  nextPeriodicTime: number;
  periodicTimer: QEMUTimer | null;
  updateTimer: QEMUTimer | null;
  io: MemoryRegion | null;
}

interface Tm {
  sec: number;
  min: number;
  hour: number;
  mday: number;
  /** 0–11 */
  mon: number;
  /** Full year. */
  year: number;
  /** 0 = Sunday */
  wday: number;
}

function gmtime(unixSeconds: number): Tm {
  const d = new Date(unixSeconds * 1000);
  return {
    sec: d.getUTCSeconds(),
    min: d.getUTCMinutes(),
    hour: d.getUTCHours(),
    mday: d.getUTCDate(),
    mon: d.getUTCMonth(),
    year: d.getUTCFullYear(),
    wday: d.getUTCDay(),
  };
}

function mktimegm(tm: Tm): number {
  const ms = Date.UTC(tm.year, tm.mon, tm.mday, tm.hour, tm.min, tm.sec);
  return Number.isNaN(ms) ? 0 : Math.floor(ms / 1000);
}

function rtcRunning(s: MC146818RtcState): boolean {
  const d = s.cmosData;
  return !(d[RTC_REG_B]! & REG_B_SET) && (d[RTC_REG_A]! & 0x70) <= 0x20;
}

/** `get_guest_rtc_ns`, split: the RTC's current second and nanosecond within it. */
function getGuestRtc(s: MC146818RtcState): { sec: number; nsec: number } {
  const elapsed = qemuClockGetNs(s.clock) - s.lastUpdate + s.offset;
  const whole = Math.floor(elapsed / NANOSECONDS_PER_SECOND);
  return { sec: s.baseRtc + whole, nsec: elapsed - whole * NANOSECONDS_PER_SECOND };
}

function rtcToBcd(s: MC146818RtcState, a: number): number {
  if (s.cmosData[RTC_REG_B]! & REG_B_DM) return a & 0xff;
  return (Math.floor(a / 10) << 4) | (a % 10);
}

/** `rtc_from_bcd`: -1 for a "don't care" value (0xC0–0xFF). */
function rtcFromBcd(s: MC146818RtcState, a: number): number {
  if ((a & 0xc0) === 0xc0) return -1;
  if (s.cmosData[RTC_REG_B]! & REG_B_DM) return a;
  return (a >> 4) * 10 + (a & 0x0f);
}

/** `convert_hour`: a register's hour in 24-hour form. */
function convertHour(s: MC146818RtcState, hour: number, raw: number): number {
  if (!(s.cmosData[RTC_REG_B]! & REG_B_24H)) {
    hour %= 12;
    if (raw & 0x80) hour += 12;
  }
  return hour;
}

/** `rtc_get_time`: the time the registers hold. */
function rtcGetTime(s: MC146818RtcState): Tm {
  const d = s.cmosData;
  return {
    sec: rtcFromBcd(s, d[RTC_SECONDS]!),
    min: rtcFromBcd(s, d[RTC_MINUTES]!),
    hour: convertHour(s, rtcFromBcd(s, d[RTC_HOURS]! & 0x7f), d[RTC_HOURS]!),
    wday: rtcFromBcd(s, d[RTC_DAY_OF_WEEK]!) - 1,
    mday: rtcFromBcd(s, d[RTC_DAY_OF_MONTH]!),
    mon: rtcFromBcd(s, d[RTC_MONTH]!) - 1,
    year: rtcFromBcd(s, d[RTC_YEAR]!) + s.baseYear + rtcFromBcd(s, d[RTC_CENTURY]!) * 100,
  };
}

/** `rtc_set_time`: the registers become the new base time. */
function rtcSetTime(s: MC146818RtcState): void {
  s.baseRtc = mktimegm(rtcGetTime(s));
  s.lastUpdate = qemuClockGetNs(s.clock);
}

/** `rtc_set_cmos`: write `tm` into the time registers in the current format. */
function rtcSetCmos(s: MC146818RtcState, tm: Tm): void {
  const d = s.cmosData;
  d[RTC_SECONDS] = rtcToBcd(s, tm.sec);
  d[RTC_MINUTES] = rtcToBcd(s, tm.min);
  if (d[RTC_REG_B]! & REG_B_24H) {
    d[RTC_HOURS] = rtcToBcd(s, tm.hour);
  } else {
    const h = tm.hour % 12 ? tm.hour % 12 : 12;
    d[RTC_HOURS] = rtcToBcd(s, h) | (tm.hour >= 12 ? 0x80 : 0);
  }
  d[RTC_DAY_OF_WEEK] = rtcToBcd(s, tm.wday + 1);
  d[RTC_DAY_OF_MONTH] = rtcToBcd(s, tm.mday);
  d[RTC_MONTH] = rtcToBcd(s, tm.mon + 1);
  const year = tm.year - s.baseYear;
  d[RTC_YEAR] = rtcToBcd(s, year % 100);
  d[RTC_CENTURY] = rtcToBcd(s, Math.floor(year / 100));
}

/** `rtc_update_time`: bring the time registers up to date (unless SET freezes them). */
function rtcUpdateTime(s: MC146818RtcState): void {
  const { sec } = getGuestRtc(s);
  if (!(s.cmosData[RTC_REG_B]! & REG_B_SET)) rtcSetCmos(s, gmtime(sec));
}

function updateInProgress(s: MC146818RtcState): boolean {
  if (!rtcRunning(s)) return false;
  return getGuestRtc(s).nsec >= NANOSECONDS_PER_SECOND - UIP_HOLD_LENGTH;
}

/** `periodic_period_to_clock`: register A's rate field as a period in 32 kHz cycles. */
function periodicPeriodToClock(periodCode: number): number {
  if (!periodCode) return 0;
  if (periodCode <= 2) periodCode += 7;
  return 1 << (periodCode - 1);
}

function periodicClockToNs(clock: number): number {
  return muldiv64(clock, NANOSECONDS_PER_SECOND, RTC_CLOCK_RATE);
}

function rtcPeriodicClockTicks(s: MC146818RtcState): number {
  if (!(s.cmosData[RTC_REG_B]! & REG_B_PIE)) return 0;
  return periodicPeriodToClock(s.cmosData[RTC_REG_A]! & 0x0f);
}

/** `periodic_timer_update` with the `discard` lost-tick policy. */
function periodicTimerUpdate(
  s: MC146818RtcState,
  currentTime: number,
  oldPeriod: number,
  periodChange: boolean,
): void {
  const period = rtcPeriodicClockTicks(s);
  s.period = period;
  if (!period) {
    if (s.periodicTimer) timerDel(s.periodicTimer);
    return;
  }
  const curClock = muldiv64(currentTime, RTC_CLOCK_RATE, NANOSECONDS_PER_SECOND);
  let lostClock = 0;
  // A new rate counts from the last interrupt of the old one.
  if (oldPeriod && periodChange) {
    const nextPeriodicClock = muldiv64(s.nextPeriodicTime, RTC_CLOCK_RATE, NANOSECONDS_PER_SECOND);
    lostClock = Math.max(0, curClock - (nextPeriodicClock - oldPeriod));
  }
  lostClock = Math.min(lostClock, period);
  s.nextPeriodicTime = periodicClockToNs(curClock + period - lostClock) + 1;
  if (s.periodicTimer) timerModNs(s.periodicTimer, s.nextPeriodicTime);
}

function rtcPeriodicTimer(s: MC146818RtcState): void {
  periodicTimerUpdate(s, s.nextPeriodicTime, s.period, false);
  s.cmosData[RTC_REG_C]! |= REG_C_PF;
  if (s.cmosData[RTC_REG_B]! & REG_B_PIE) {
    s.cmosData[RTC_REG_C]! |= REG_C_IRQF;
    qemuIrqRaise(s.irq);
  }
}

/** `check_update_timer`: arm the once-a-second update unless the divider is held in reset. */
function checkUpdateTimer(s: MC146818RtcState): void {
  if (!s.updateTimer) return;
  if ((s.cmosData[RTC_REG_A]! & 0x60) === 0x60) {
    timerDel(s.updateTimer);
    return;
  }
  const { nsec } = getGuestRtc(s);
  timerModNs(s.updateTimer, qemuClockGetNs(s.clock) + NANOSECONDS_PER_SECOND - nsec);
}

/** Does the alarm (with its don't-care values) match the time at `sec`? */
function alarmMatches(s: MC146818RtcState, sec: number): boolean {
  const d = s.cmosData;
  const now = gmtime(sec);
  const aSec = rtcFromBcd(s, d[RTC_SECONDS_ALARM]!);
  const aMin = rtcFromBcd(s, d[RTC_MINUTES_ALARM]!);
  let aHour = rtcFromBcd(s, d[RTC_HOURS_ALARM]! & 0x7f);
  if ((d[RTC_HOURS_ALARM]! & 0xc0) === 0xc0) aHour = -1;
  else aHour = convertHour(s, aHour, d[RTC_HOURS_ALARM]!);
  return (
    (aSec === -1 || aSec === now.sec) &&
    (aMin === -1 || aMin === now.min) &&
    (aHour === -1 || aHour === now.hour)
  );
}

/** `rtc_update_timer`: the end of an update cycle — UF, and AF when the alarm matches. */
function rtcUpdateTimer(s: MC146818RtcState): void {
  rtcUpdateTime(s);
  const d = s.cmosData;
  d[RTC_REG_A]! &= ~REG_A_UIP;
  let irqs = REG_C_UF;
  if (alarmMatches(s, getGuestRtc(s).sec)) irqs |= REG_C_AF;
  const newIrqs = irqs & ~d[RTC_REG_C]!;
  d[RTC_REG_C]! |= irqs;
  if (newIrqs & d[RTC_REG_B]!) {
    d[RTC_REG_C]! |= REG_C_IRQF;
    qemuIrqRaise(s.irq);
  }
  checkUpdateTimer(s);
}

/** `cmos_ioport_write`. */
export function cmosIoportWrite(s: MC146818RtcState, addr: number, data: number): void {
  const d = s.cmosData;
  data &= 0xff;
  if ((addr & 1) === 0) {
    s.cmosIndex = data & 0x7f;
    s.nmiDisabled = data >> 7;
    return;
  }
  switch (s.cmosIndex) {
    case RTC_SECONDS_ALARM:
    case RTC_MINUTES_ALARM:
    case RTC_HOURS_ALARM:
      d[s.cmosIndex] = data;
      checkUpdateTimer(s);
      break;
    case RTC_IBM_PS2_CENTURY_BYTE:
    case RTC_CENTURY:
    case RTC_SECONDS:
    case RTC_MINUTES:
    case RTC_HOURS:
    case RTC_DAY_OF_WEEK:
    case RTC_DAY_OF_MONTH:
    case RTC_MONTH:
    case RTC_YEAR:
      if (s.cmosIndex === RTC_IBM_PS2_CENTURY_BYTE) s.cmosIndex = RTC_CENTURY;
      d[s.cmosIndex] = data;
      // In SET mode the new time takes effect when SET is cleared.
      if (rtcRunning(s)) {
        rtcSetTime(s);
        checkUpdateTimer(s);
      }
      break;
    case RTC_REG_A: {
      const updatePeriodic = ((d[RTC_REG_A]! ^ data) & 0x0f) !== 0;
      const oldPeriod = rtcPeriodicClockTicks(s);
      if ((data & 0x60) === 0x60) {
        // Divider held in reset: the time stops.
        if (rtcRunning(s)) rtcUpdateTime(s);
        d[RTC_REG_A]! &= ~REG_A_UIP;
      } else if ((d[RTC_REG_A]! & 0x60) === 0x60 && (data & 0x70) <= 0x20) {
        // Leaving divider reset: the first update comes half a second later.
        if (!(d[RTC_REG_B]! & REG_B_SET)) {
          s.offset = 500_000_000;
          rtcSetTime(s);
        }
        d[RTC_REG_A]! &= ~REG_A_UIP;
      }
      // UIP is read-only.
      d[RTC_REG_A] = (data & ~REG_A_UIP) | (d[RTC_REG_A]! & REG_A_UIP);
      if (updatePeriodic) periodicTimerUpdate(s, qemuClockGetNs(s.clock), oldPeriod, true);
      checkUpdateTimer(s);
      break;
    }
    case RTC_REG_B: {
      const updatePeriodic = ((d[RTC_REG_B]! ^ data) & REG_B_PIE) !== 0;
      const oldPeriod = rtcPeriodicClockTicks(s);
      if (data & REG_B_SET) {
        // Freeze the registers at the moment SET goes up.
        if (rtcRunning(s)) rtcUpdateTime(s);
        d[RTC_REG_A]! &= ~REG_A_UIP;
        data &= ~REG_B_UIE;
      } else if (d[RTC_REG_B]! & REG_B_SET && (d[RTC_REG_A]! & 0x70) <= 0x20) {
        // Leaving SET: the registers become the time, keeping the sub-second phase.
        s.offset = getGuestRtc(s).nsec;
        rtcSetTime(s);
      }
      // An already-set flag whose interrupt becomes enabled interrupts at once.
      if (data & d[RTC_REG_C]! & REG_C_MASK) {
        d[RTC_REG_C]! |= REG_C_IRQF;
        qemuIrqRaise(s.irq);
      } else {
        d[RTC_REG_C]! &= ~REG_C_IRQF;
        qemuIrqLower(s.irq);
      }
      d[RTC_REG_B] = data;
      if (updatePeriodic) periodicTimerUpdate(s, qemuClockGetNs(s.clock), oldPeriod, true);
      checkUpdateTimer(s);
      break;
    }
    case RTC_REG_C:
    case RTC_REG_D:
      // Read-only.
      break;
    default:
      d[s.cmosIndex] = data;
      break;
  }
}

/** `cmos_ioport_read`: the index port reads 0xff. */
export function cmosIoportRead(s: MC146818RtcState, addr: number): number {
  if ((addr & 1) === 0) return 0xff;
  const d = s.cmosData;
  switch (s.cmosIndex) {
    case RTC_IBM_PS2_CENTURY_BYTE:
    case RTC_CENTURY:
    case RTC_SECONDS:
    case RTC_MINUTES:
    case RTC_HOURS:
    case RTC_DAY_OF_WEEK:
    case RTC_DAY_OF_MONTH:
    case RTC_MONTH:
    case RTC_YEAR:
      if (s.cmosIndex === RTC_IBM_PS2_CENTURY_BYTE) s.cmosIndex = RTC_CENTURY;
      if (rtcRunning(s)) rtcUpdateTime(s);
      return d[s.cmosIndex]!;
    case RTC_REG_A:
      return d[RTC_REG_A]! | (updateInProgress(s) ? REG_A_UIP : 0);
    case RTC_REG_C: {
      const ret = d[RTC_REG_C]!;
      qemuIrqLower(s.irq);
      d[RTC_REG_C] = 0;
      return ret;
    }
    default:
      return d[s.cmosIndex]!;
  }
}

/** `mc146818rtc_set_cmos_data` (`rtc_set_memory` before QEMU 8): a CMOS byte. */
export function rtcSetMemory(dev: MC146818RtcState, addr: number, val: number): void {
  if (addr >= 0 && addr <= 127) dev.cmosData[addr] = val & 0xff;
}

/** `mc146818rtc_get_cmos_data`. */
export function rtcGetMemory(dev: MC146818RtcState, addr: number): number {
  if (!(addr >= 0 && addr <= 127)) throw new RangeError(`CMOS address ${addr} out of range`);
  return dev.cmosData[addr]!;
}

/**
 * Set the RTC to `unixSeconds` (UTC), as realize does from the host's clock
 * (`rtc_set_date_from_host` with `-rtc base=<datetime>`).
 */
export function rtcSetDateTime(dev: MC146818RtcState, unixSeconds: number): void {
  dev.baseRtc = Math.floor(unixSeconds);
  dev.lastUpdate = qemuClockGetNs(dev.clock);
  dev.offset = 0;
  rtcSetCmos(dev, gmtime(dev.baseRtc));
  checkUpdateTimer(dev);
}

/** The current RTC time (Unix seconds), as the `date` property reports it. */
export function rtcGetDateTime(dev: MC146818RtcState): number {
  rtcUpdateTime(dev);
  return mktimegm(rtcGetTime(dev));
}

/** `rtc_reset_enter` + `rtc_reset_hold`. */
export function rtcReset(s: MC146818RtcState): void {
  const d = s.cmosData;
  // 0xfe in the shutdown status byte means "resume from S3" and survives.
  if (d[0x0f] !== 0xfe) d[0x0f] = 0x00;
  d[RTC_REG_B]! &= ~(REG_B_PIE | REG_B_AIE | REG_B_SQWE);
  d[RTC_REG_C]! &= ~(REG_C_UF | REG_C_IRQF | REG_C_PF | REG_C_AF);
  periodicTimerUpdate(s, qemuClockGetNs(s.clock), 0, false);
  checkUpdateTimer(s);
  qemuIrqLower(s.irq);
}

const rtcResetHandler = (opaque: unknown) => rtcReset(opaque as MC146818RtcState);

function rtcRealizefn(dev: DeviceState): void {
  const s = dev as MC146818RtcState;
  const d = s.cmosData;
  d[RTC_REG_A] = 0x26;
  d[RTC_REG_B] = 0x02;
  d[RTC_REG_C] = 0x00;
  d[RTC_REG_D] = 0x80;
  // Machine types that asked for base_year 2000 predate the century byte: with base 0
  // the century register holds the real century.
  if (s.baseYear === 2000) s.baseYear = 0;
  if (s.isairq >= ISA_NUM_IRQS) {
    throw new QomError(
      "invalid-parameter-value",
      `Maximum value for "irq" is: ${ISA_NUM_IRQS - 1}`,
      { operation: "rtc_realizefn" },
    );
  }
  s.clock = rtcClock;
  s.periodicTimer = timerNewNs(s.clock, (o) => rtcPeriodicTimer(o as MC146818RtcState), s);
  s.updateTimer = timerNewNs(s.clock, (o) => rtcUpdateTimer(o as MC146818RtcState), s);
  rtcSetDateTime(s, Math.floor(Date.now() / 1000));
  s.io = memoryRegionInitIo(
    isaDeviceOwner(s),
    isaByteIoOps(
      2,
      (addr) => cmosIoportRead(s, addr),
      (addr, val) => cmosIoportWrite(s, addr, val),
    ),
    "rtc",
    2,
  );
  isaRegisterIoport(s, s.io, s.iobase);
  s.irq = isaGetIrq(s, s.isairq);
  qemuRegisterReset(rtcResetHandler, s);
}

function rtcUnrealizefn(dev: DeviceState): void {
  const s = dev as MC146818RtcState;
  if (s.periodicTimer) timerDel(s.periodicTimer);
  if (s.updateTimer) timerDel(s.updateTimer);
  if (s.io?.container) memoryRegionDelSubregion(s.io.container, s.io);
  qemuUnregisterReset(rtcResetHandler, s);
}

/**
 * `mc146818_rtc_init`: the RTC on `bus` with `baseYear` (the pc machine passes 2000);
 * `interceptIrq` (the HPET's) replaces ISA IRQ 8 when given.
 */
export function mc146818RtcInit(
  bus: ISABus,
  baseYear: number,
  interceptIrq: QemuIrq | null,
): MC146818RtcState {
  const s = isaNew<MC146818RtcState>(TYPE_MC146818_RTC);
  objectPropertySetInt(s, "base_year", baseYear);
  isaRealizeAndUnref(s, bus);
  if (interceptIrq) s.irq = interceptIrq;
  return s;
}

typeInit(() => {
  typeRegisterStatic<DeviceClass, MC146818RtcState>({
    name: TYPE_MC146818_RTC,
    parent: TYPE_ISA_DEVICE,
    instanceSize: 480,
    instanceInit: (s) => {
      s.cmosData = new Uint8Array(128);
      s.cmosIndex = 0;
      s.nmiDisabled = 0;
      s.baseRtc = 0;
      s.lastUpdate = 0;
      s.offset = 0;
      s.clock = rtcClock;
      s.irq = null;
      s.period = 0;
      s.nextPeriodicTime = 0;
      s.periodicTimer = null;
      s.updateTimer = null;
      s.io = null;
    },
    classInit: (dc) => {
      dc.realize = rtcRealizefn;
      dc.categories |= 1 << DEVICE_CATEGORY_MISC;
      dc.unrealize = rtcUnrealizefn;
      deviceClassSetProps(dc, [
        definePropInt32("base_year", "baseYear", 1980),
        definePropUint16("iobase", "iobase", RTC_ISA_BASE),
        definePropUint8("irq", "isairq", RTC_ISA_IRQ),
      ]);
    },
  });
});
