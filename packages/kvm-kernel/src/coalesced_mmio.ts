/**
 * virt/kvm/coalesced_mmio.c: writes to zones userspace registered
 * (KVM_REGISTER_COALESCED_MMIO; `pio` = 1 for ports, KVM_CAP_COALESCED_PIO) do not exit:
 * the kernel appends them to a ring the VMM maps (page KVM_COALESCED_MMIO_PAGE_OFFSET of
 * a vCPU's mmap) and the VMM replays them at its next exit — the way output-only devices
 * (a debug console) avoid one exit per byte. Reads, and writes when the ring is full, go
 * to userspace as before.
 *
 * The ring is the VM's: here it is page 2 of the first vCPU's kvm_run area (the page
 * QEMU takes it from; other vCPUs' page 2 is not aliased to it). With vCPUs on threads of
 * their own the page and the ring's lock word are shared memory, and each thread's copy
 * of the VM appends under that lock, as Linux does under kvm->ring_lock.
 */
import type { Kvm, KvmPioDevice } from "./kvm_host.js";
import { EINVAL } from "./uapi/errno.js";
import { KVM_COALESCED_MMIO_ENTRY_SIZE, KVM_COALESCED_MMIO_MAX } from "./uapi/kvm.js";

/** struct kvm_coalesced_mmio_zone. */
export interface KvmCoalescedMmioZone {
  readonly addr: number;
  readonly size: number;
  readonly pio: boolean;
}

/** A VM's ring and zones (kvm->coalesced_mmio_ring, kvm->coalesced_zones). */
export class KvmCoalescedMmio {
  /** The ring page, once the first vCPU exists. */
  ring: Uint8Array | null = null;
  private ringWords: Int32Array | null = null;
  /** kvm->ring_lock: a spinlock word, shared with every thread's copy of the VM. */
  lock = new Int32Array(
    typeof SharedArrayBuffer === "function" ? new SharedArrayBuffer(4) : new ArrayBuffer(4),
  );
  readonly zones: KvmCoalescedMmioZone[] = [];
  /** The PIO bus devices of the zones with `pio` (removed on unregister). */
  readonly pioDevices = new Map<KvmCoalescedMmioZone, KvmPioDevice>();

  /** Use `page` (4 KiB, page 2 of the first vCPU's run area) as the ring. */
  setRing(page: Uint8Array): void {
    this.ring = page;
    this.ringWords = new Int32Array(page.buffer, page.byteOffset, 2);
  }

  /** coalesced_mmio_has_room: one slot always stays free. */
  hasRoom(): boolean {
    const w = this.ringWords;
    if (!w) return false;
    const first = Atomics.load(w, 0);
    const last = Atomics.load(w, 1);
    return (first - last - 1 + KVM_COALESCED_MMIO_MAX) % KVM_COALESCED_MMIO_MAX !== 0;
  }

  /** An MMIO zone (pio = false) holds [addr, addr + len). */
  mmioInRange(addr: number, len: number): boolean {
    if (!this.ring) return false;
    return this.zones.some((z) => !z.pio && addr >= z.addr && addr + len <= z.addr + z.size);
  }

  /**
   * coalesced_mmio_write: append the write to the ring under the ring lock. False when
   * the ring is full (the access then goes to userspace).
   */
  write(addr: number, data: Uint8Array, pio: boolean): boolean {
    const w = this.ringWords;
    const ring = this.ring;
    if (!w || !ring) return false;
    const lock = this.lock;
    while (Atomics.compareExchange(lock, 0, 0, 1) !== 0) {
      // Another thread is appending: it holds the lock for a few stores.
    }
    try {
      if (!this.hasRoom()) return false;
      const last = Atomics.load(w, 1);
      const at = 8 + last * KVM_COALESCED_MMIO_ENTRY_SIZE;
      const dv = new DataView(ring.buffer, ring.byteOffset);
      dv.setBigUint64(at, BigInt(addr), true);
      dv.setUint32(at + 8, data.length, true);
      dv.setUint32(at + 12, pio ? 1 : 0, true);
      ring.fill(0, at + 16, at + 24);
      ring.set(data.subarray(0, 8), at + 16);
      // The entry is complete before userspace can see `last` move (smp_wmb).
      Atomics.store(w, 1, (last + 1) % KVM_COALESCED_MMIO_MAX);
      return true;
    } finally {
      Atomics.store(lock, 0, 0);
    }
  }
}

/** kvm->coalesced_mmio of a VM, made on first use (kvm_coalesced_mmio_init). */
const rings = new WeakMap<Kvm, KvmCoalescedMmio>();

export function kvmCoalescedMmio(kvm: Kvm): KvmCoalescedMmio {
  let c = rings.get(kvm);
  if (!c) {
    c = new KvmCoalescedMmio();
    rings.set(kvm, c);
  }
  return c;
}

/** kvm_vm_ioctl_register_coalesced_mmio. */
export function kvmVmIoctlRegisterCoalescedMmio(kvm: Kvm, zone: KvmCoalescedMmioZone): number {
  if (zone.size <= 0) return -EINVAL;
  const c = kvmCoalescedMmio(kvm);
  c.zones.push(zone);
  if (zone.pio) {
    // On KVM_PIO_BUS, in range only while the ring has room (coalesced_mmio_in_range).
    const dev: KvmPioDevice = {
      inRange: (port) => port >= zone.addr && port < zone.addr + zone.size && c.hasRoom(),
      writeOnly: true,
      read: () => 0xffff_ffff,
      write: (port, len, value) => {
        const b = new Uint8Array(len);
        for (let i = 0; i < len; i++) b[i] = (value >>> (8 * i)) & 0xff;
        c.write(port, b, true);
      },
    };
    c.pioDevices.set(zone, dev);
    kvm.arch.pioBus.unshift(dev);
  }
  return 0;
}

/** kvm_vm_ioctl_unregister_coalesced_mmio: every zone inside the given one goes. */
export function kvmVmIoctlUnregisterCoalescedMmio(kvm: Kvm, zone: KvmCoalescedMmioZone): number {
  const c = kvmCoalescedMmio(kvm);
  const gone = c.zones.filter(
    (z) => z.pio === zone.pio && z.addr >= zone.addr && z.addr + z.size <= zone.addr + zone.size,
  );
  for (const z of gone) {
    c.zones.splice(c.zones.indexOf(z), 1);
    const dev = c.pioDevices.get(z);
    if (dev) {
      kvm.arch.pioBus.splice(kvm.arch.pioBus.indexOf(dev), 1);
      c.pioDevices.delete(z);
    }
  }
  return 0;
}
