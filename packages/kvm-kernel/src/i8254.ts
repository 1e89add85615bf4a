/**
 * arch/x86/kvm/i8254.c: the 8254 PIT in the kernel (KVM_CREATE_PIT2). Three 16-bit
 * counters at KVM_PIT_FREQ (1.193181 MHz) behind ports 0x40–0x43, and — unless userspace
 * asked for KVM_PIT_SPEAKER_DUMMY — port 0x61 (channel 2's gate and output, the speaker
 * data bit, the refresh toggle). With the in-kernel PIT, QEMU's accesses to those ports
 * never leave the kernel: the vendor's I/O exit reaches this device on the PIO bus.
 *
 * Nothing ticks. A counter knows when its count was loaded and computes count and output
 * from the time since (kpit_elapsed); channel 0 instead runs a timer (Linux: an hrtimer)
 * for its output: periodic in modes 2 and 3, one-shot in modes 0, 1 and 4. Each expiry
 * becomes an edge on GSI 0 of the in-kernel PIC and IOAPIC, pulsed (kvm_set_irq 1 then 0)
 * by {@link KvmPit.inject}. With `reinject` (Linux's default), expiries that arrive while
 * the previous tick is not yet acknowledged are counted in `pending` and delivered one per
 * acknowledge (kvm_pit_ack_irq, the IRQ-ack notifier of GSI 0), so a guest that was not
 * running when its timer fired still sees every tick.
 *
 * Time comes from the host (`now`, ktime_get in nanoseconds): the wall clock, or a
 * virtual clock for deterministic runs. The embedder polls: {@link KvmPit.expire} fires
 * what is due at that time; {@link KvmPit.nextExpiry} tells when to look again.
 */
import { KVM_PIT_SPEAKER_DUMMY } from "./uapi/kvm.js";
import type { KvmPitChannelState } from "./uapi/structs.js";

export const KVM_PIT_FREQ = 1_193_181;
export const KVM_PIT_BASE_ADDRESS = 0x40;
export const KVM_SPEAKER_BASE_ADDRESS = 0x61;
export const KVM_PIT_MEM_LENGTH = 4;
const KVM_PIT_CHANNEL_MASK = 0x3;

/**
 * The ports a PIT created with KVM_CREATE_PIT2 `flags` answers on KVM_PIO_BUS: 0x40–0x43,
 * and the speaker port 0x61 unless KVM_PIT_SPEAKER_DUMMY.
 */
export function kvmPitClaims(flags: number, port: number): boolean {
  if (port >= KVM_PIT_BASE_ADDRESS && port < KVM_PIT_BASE_ADDRESS + KVM_PIT_MEM_LENGTH) {
    return true;
  }
  return port === KVM_SPEAKER_BASE_ADDRESS && (flags & KVM_PIT_SPEAKER_DUMMY) === 0;
}

/** struct kvm_pit_state2.flags. */
export const KVM_PIT_FLAGS_HPET_LEGACY = 0x0000_0001;
export const KVM_PIT_FLAGS_SPEAKER_DATA_ON = 0x0000_0002;

/** The module parameter min_timer_period_us: the shortest periodic timer (200 µs). */
export const MIN_TIMER_PERIOD_US = 200;

const NSEC_PER_SEC = 1_000_000_000;

/** Access states; RW_STATE_LSB (1) is every switch's default branch. */
const RW_STATE_MSB = 2;
const RW_STATE_WORD0 = 3;
const RW_STATE_WORD1 = 4;

/**
 * struct kvm_kpit_channel_state: the uapi's kvm_pit_channel_state with count_load_time as
 * the kernel keeps it (ktime, a number of nanoseconds here). `count` is 1…0x10000 (0 is
 * loaded as 0x10000); `countLatched` says which bytes of latchedCount are still to be read.
 */
export type KvmKpitChannelState = Omit<KvmPitChannelState, "countLoadTime"> & {
  countLoadTime: number;
};

/** What the PIT needs from the rest of the kernel. */
export interface KvmPitHost {
  /** ktime_get, in nanoseconds. */
  now(): number;
  /** kvm_set_irq(kvm, pit->irq_source_id, GSI 0, level). */
  setIrq0(level: number): void;
}

const newChannel = (): KvmKpitChannelState => ({
  count: 0,
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
});

/** struct kvm_pit with its kvm_kpit_state. */
export class KvmPit {
  readonly channels: KvmKpitChannelState[] = [newChannel(), newChannel(), newChannel()];
  /** KVM_PIT_FLAGS_* as userspace set them (kvm_kpit_state.flags). */
  flags = 0;
  speakerDataOn = 0;
  /** Channel 0's timer: its period (ns, 0 = none armed), periodic or not, next expiry. */
  period = 0;
  isPeriodic = false;
  /**
   * Absolute ktime of the timer's expiry: the next one while armed, the last one after a
   * one-shot fired (the counter keeps counting from it, as hrtimer_get_remaining goes
   * negative).
   */
  expires = 0;
  /** The timer will fire at `expires`. */
  armed = false;
  /** Re-inject missed ticks (KVM_REINJECT_CONTROL; on by default). */
  reinject = true;
  /** Expiries not yet delivered (only counted with reinject). */
  pending = 0;
  /** The last tick was acknowledged by the guest (or none was sent). */
  irqAck = true;

  constructor(
    private readonly host: KvmPitHost,
    /** struct kvm_pit_config.flags (KVM_PIT_SPEAKER_DUMMY). */
    readonly configFlags = 0,
  ) {
    this.reset();
  }

  /** kvm_pit_reset: every channel in no mode, gates high but channel 2's, counts 0x10000. */
  reset(): void {
    this.flags = 0;
    for (let i = 0; i < 3; i++) {
      const c = this.channels[i]!;
      c.mode = 0xff;
      c.gate = i !== 2 ? 1 : 0;
      this.loadCount(i, 0);
    }
    this.resetReinject();
  }

  /** kvm_pit_reset_reinject. */
  private resetReinject(): void {
    this.pending = 0;
    this.irqAck = true;
  }

  // ── counting ──

  /** kpit_elapsed: ns since the count was loaded (channel 0: into the timer's period). */
  private elapsed(channel: number): number {
    if (channel === 0) {
      if (this.period === 0) return 0;
      return this.period - (this.expires - this.host.now());
    }
    return this.host.now() - this.channels[channel]!.countLoadTime;
  }

  /** Input-clock ticks since the load. */
  private ticks(channel: number): number {
    return Math.floor((this.elapsed(channel) * KVM_PIT_FREQ) / NSEC_PER_SEC);
  }

  /** pit_get_count: the current count. */
  getCount(channel: number): number {
    const c = this.channels[channel]!;
    const d = this.ticks(channel);
    switch (c.mode) {
      case 0:
      case 1:
      case 4:
      case 5:
        return (c.count - d) & 0xffff;
      case 3:
        return c.count - ((2 * d) % c.count);
      default:
        return c.count - (d % c.count);
    }
  }

  /** pit_get_out: the counter's output pin. */
  getOut(channel: number): number {
    const c = this.channels[channel]!;
    const d = this.ticks(channel);
    switch (c.mode) {
      case 1:
        return d < c.count ? 1 : 0;
      case 2:
        return d % c.count === 0 && d !== 0 ? 1 : 0;
      case 3:
        return d % c.count < (c.count + 1) >> 1 ? 1 : 0;
      case 4:
      case 5:
        return d === c.count ? 1 : 0;
      default:
        return d >= c.count ? 1 : 0;
    }
  }

  /** pit_set_gate: modes 1, 2, 3 and 5 restart on a rising edge. */
  setGate(channel: number, val: number): void {
    const c = this.channels[channel]!;
    if ((c.mode === 1 || c.mode === 2 || c.mode === 3 || c.mode === 5) && c.gate < val) {
      c.countLoadTime = this.host.now();
    }
    c.gate = val;
  }

  /** pit_load_count: a new count; channel 0 (re)arms its timer by mode. */
  loadCount(channel: number, val: number): void {
    const c = this.channels[channel]!;
    c.count = val === 0 ? 0x1_0000 : val;
    if (channel !== 0) {
      c.countLoadTime = this.host.now();
      return;
    }
    switch (c.mode) {
      case 0:
      case 1:
      case 4:
        this.createTimer(c.count, false);
        break;
      case 2:
      case 3:
        this.createTimer(c.count, true);
        break;
      default:
        this.destroyTimer();
    }
  }

  /** create_pit_timer: arm channel 0 for `count` input ticks (periods ≥ 200 µs). */
  private createTimer(count: number, periodic: boolean): void {
    let interval = Math.floor((count * NSEC_PER_SEC) / KVM_PIT_FREQ);
    this.isPeriodic = periodic;
    if (periodic) interval = Math.max(interval, MIN_TIMER_PERIOD_US * 1000);
    this.period = interval;
    this.pending = 0;
    this.irqAck = true;
    this.expires = this.host.now() + interval;
    this.armed = true;
  }

  /** destroy_pit_timer. */
  private destroyTimer(): void {
    this.armed = false;
    this.period = 0;
  }

  private latchCount(channel: number): void {
    const c = this.channels[channel]!;
    if (c.countLatched) return;
    c.latchedCount = this.getCount(channel);
    c.countLatched = c.rwMode;
  }

  private latchStatus(channel: number): void {
    const c = this.channels[channel]!;
    if (c.statusLatched) return;
    c.status = (this.getOut(channel) << 7) | (c.rwMode << 4) | (c.mode << 1) | c.bcd;
    c.statusLatched = 1;
  }

  // ── the ports (the PIO-bus device) ──

  /** Ports this device answers: 0x40–0x43, and 0x61 unless KVM_PIT_SPEAKER_DUMMY. */
  claims(port: number): boolean {
    return kvmPitClaims(this.configFlags, port);
  }

  /** A byte written to one of its ports (pit_ioport_write / speaker_ioport_write). */
  write(port: number, value: number): void {
    const val = value & 0xff;
    if (port === KVM_SPEAKER_BASE_ADDRESS) {
      this.speakerDataOn = (val >>> 1) & 1;
      this.setGate(2, val & 1);
      return;
    }
    const addr = port & KVM_PIT_CHANNEL_MASK;
    if (addr === 3) {
      const channel = val >>> 6;
      if (channel === 3) {
        // Read-back: bit 5 clear latches the counts, bit 4 clear the statuses.
        for (let ch = 0; ch < 3; ch++) {
          if ((val & (2 << ch)) === 0) continue;
          if ((val & 0x20) === 0) this.latchCount(ch);
          if ((val & 0x10) === 0) this.latchStatus(ch);
        }
        return;
      }
      const c = this.channels[channel]!;
      const access = (val >>> 4) & 3;
      if (access === 0) {
        this.latchCount(channel);
        return;
      }
      c.rwMode = access;
      c.readState = access;
      c.writeState = access;
      c.mode = (val >>> 1) & 7;
      if (c.mode > 5) c.mode -= 4;
      c.bcd = val & 1;
      return;
    }
    const c = this.channels[addr]!;
    switch (c.writeState) {
      case RW_STATE_MSB:
        this.loadCount(addr, val << 8);
        break;
      case RW_STATE_WORD0:
        c.writeLatch = val;
        c.writeState = RW_STATE_WORD1;
        break;
      case RW_STATE_WORD1:
        this.loadCount(addr, c.writeLatch | (val << 8));
        c.writeState = RW_STATE_WORD0;
        break;
      default:
        this.loadCount(addr, val);
    }
  }

  /** A byte read from one of its ports (pit_ioport_read / speaker_ioport_read). */
  read(port: number): number {
    if (port === KVM_SPEAKER_BASE_ADDRESS) {
      const refresh = Math.floor(this.host.now() / 16384) & 1;
      return (
        (this.getOut(2) << 5) | (refresh << 4) | this.channels[2]!.gate | (this.speakerDataOn << 1)
      );
    }
    const addr = port & KVM_PIT_CHANNEL_MASK;
    if (addr === 3) return 0;
    const c = this.channels[addr]!;
    if (c.statusLatched) {
      c.statusLatched = 0;
      return c.status;
    }
    if (c.countLatched) {
      switch (c.countLatched) {
        case RW_STATE_MSB:
          c.countLatched = 0;
          return (c.latchedCount >>> 8) & 0xff;
        case RW_STATE_WORD0:
          c.countLatched = RW_STATE_MSB;
          return c.latchedCount & 0xff;
        default:
          c.countLatched = 0;
          return c.latchedCount & 0xff;
      }
    }
    switch (c.readState) {
      case RW_STATE_MSB:
        return (this.getCount(addr) >>> 8) & 0xff;
      case RW_STATE_WORD0:
        c.readState = RW_STATE_WORD1;
        return this.getCount(addr) & 0xff;
      case RW_STATE_WORD1:
        c.readState = RW_STATE_WORD0;
        return (this.getCount(addr) >>> 8) & 0xff;
      default:
        return this.getCount(addr) & 0xff;
    }
  }

  // ── the timer and the interrupt ──

  /** When channel 0's timer fires next (ktime ns), or -1. */
  nextExpiry(): number {
    return this.armed ? this.expires : -1;
  }

  /**
   * pit_timer_fn for every expiry due by now: count it (with reinject), deliver a tick,
   * move a periodic timer on (by whole periods: a host that looked late does not shift
   * the guest's time base). Returns the expiries that happened.
   */
  expire(): number {
    if (!this.armed) return 0;
    const now = this.host.now();
    let fired = 0;
    while (this.armed && this.expires <= now) {
      fired++;
      if (this.reinject) this.pending++;
      if (this.isPeriodic) this.expires += this.period;
      else this.armed = false;
      if (!this.reinject) this.inject();
    }
    if (fired > 0 && this.reinject) this.inject();
    return fired;
  }

  /**
   * pit_do_work: one tick as an edge on GSI 0. With reinject, nothing until the previous
   * tick was acknowledged.
   */
  inject(): void {
    if (this.reinject) {
      if (!this.irqAck) return;
      this.irqAck = false;
    }
    this.host.setIrq0(1);
    this.host.setIrq0(0);
  }

  /**
   * kvm_pit_ack_irq: the guest acknowledged GSI 0 (the PIC's or IOAPIC's EOI notifier); the
   * next pending tick may go.
   */
  ackIrq(): void {
    this.irqAck = true;
    if (this.pending > 0) this.pending--;
    if (this.pending > 0) this.inject();
  }

  // ── KVM_GET_PIT2 / KVM_SET_PIT2 ──

  /** kvm_vm_ioctl_get_pit2: the channels (copies) and flags. */
  getState2(): { channels: KvmKpitChannelState[]; flags: number } {
    return { channels: this.channels.map((c) => ({ ...c })), flags: this.flags };
  }

  /** kvm_vm_ioctl_set_pit2: take the channels and flags, re-arm channel 0 from its count. */
  setState2(state: { channels: readonly KvmKpitChannelState[]; flags: number }): void {
    for (let i = 0; i < 3; i++) Object.assign(this.channels[i]!, state.channels[i]!);
    this.flags = state.flags;
    this.loadCount(0, this.channels[0]!.count);
  }
}
