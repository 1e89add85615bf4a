/**
 * virt/kvm/irqchip.c + arch/x86/kvm/irq_comm.c: GSI routing (the default table
 * KVM_CREATE_IRQCHIP installs), kvm_set_irq (one GSI to every chip pin it routes to) and
 * kvm_irq_delivery_to_apic (one interrupt message to the local APICs it addresses).
 */
import { kvmPicSetIrq } from "./i8259.js";
import { kvmIoapicSetIrq } from "./ioapic.js";
import type { Kvm, KvmIrqAckNotifier } from "./kvm_host.js";
import type { KvmLapic } from "./lapic.js";
import {
  APIC_DEST_PHYSICAL,
  APIC_DM_FIXED,
  APIC_DM_LOWEST,
  kvmApicComparePrio,
  kvmApicMatchDest,
  kvmApicPresent,
  kvmApicSetIrq,
  kvmApicSwEnabled,
} from "./lapic.js";
import { KVM_IRQCHIP_IOAPIC, KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE } from "./uapi/kvm.js";

/** KVM_USERSPACE_IRQ_SOURCE_ID: KVM_IRQ_LINE's source. */
export const KVM_USERSPACE_IRQ_SOURCE_ID = 0;

/** struct kvm_lapic_irq: an interrupt message on the APIC bus. */
export interface KvmLapicIrq {
  vector: number;
  /** APIC_DM_* (bits 10:8 in place). */
  deliveryMode: number;
  /** APIC_DEST_PHYSICAL (0) or APIC_DEST_LOGICAL (0x800). */
  destMode: number;
  level: boolean;
  /** true = level-triggered. */
  trigMode: boolean;
  /** APIC_DEST_NOSHORT / SELF / ALLINC / ALLBUT. */
  shorthand: number;
  destId: number;
}

/** One route of a GSI to a chip pin (struct kvm_kernel_irq_routing_entry, irqchip type). */
export interface KvmIrqRoutingEntry {
  gsi: number;
  /** KVM_IRQCHIP_PIC_MASTER / _SLAVE / _IOAPIC. */
  irqchip: number;
  /** The pin: 0–15 across the PIC pair (slave pins + 8), 0–23 on the I/O APIC. */
  pin: number;
}

/** struct kvm_irq_routing_table: the routes of each GSI. */
export type KvmIrqRoutingTable = ReadonlyMap<number, readonly KvmIrqRoutingEntry[]>;

/**
 * kvm_setup_default_irq_routing: GSIs 0–15 go to the PIC pin and the I/O APIC pin of the
 * same number (the guest uses one, the other ignores it), 16–23 to the I/O APIC only.
 */
export function kvmDefaultIrqRouting(): KvmIrqRoutingTable {
  const table = new Map<number, KvmIrqRoutingEntry[]>();
  for (let gsi = 0; gsi < 24; gsi++) {
    const routes: KvmIrqRoutingEntry[] = [{ gsi, irqchip: KVM_IRQCHIP_IOAPIC, pin: gsi }];
    if (gsi < 16) {
      routes.push({
        gsi,
        irqchip: gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
        pin: gsi,
      });
    }
    table.set(gsi, routes);
  }
  return table;
}

/**
 * kvm_set_irq: raise or lower GSI `gsi` on every chip it is routed to. Returns the sum of
 * the chips' answers (> 0 delivered, 0 coalesced), or -1 when no chip took it (masked, or
 * no route) — what KVM_IRQ_LINE_STATUS reports.
 */
export function kvmSetIrq(
  kvm: Kvm,
  irqSourceId: number,
  gsi: number,
  level: number,
  lineStatus: boolean,
): number {
  const tp = kvm.kernel.trace.kvm_set_irq;
  if (tp.enabled) tp.emit({ gsi, level, irq_source_id: irqSourceId });
  const routes = kvm.arch.irqRouting?.get(gsi) ?? [];
  let ret = -1;
  for (const e of routes) {
    let r: number;
    if (e.irqchip === KVM_IRQCHIP_IOAPIC) {
      const ioapic = kvm.arch.vioapic;
      r = ioapic ? kvmIoapicSetIrq(ioapic, e.pin, irqSourceId, level !== 0, lineStatus) : -1;
    } else {
      const pic = kvm.arch.vpic;
      r = pic ? kvmPicSetIrq(pic, e.pin, irqSourceId, level !== 0) : -1;
    }
    if (r < 0) continue;
    ret = r + Math.max(ret, 0);
  }
  return ret;
}

const kvmLowestPrioDelivery = (irq: KvmLapicIrq): boolean => irq.deliveryMode === APIC_DM_LOWEST;

/**
 * kvm_irq_delivery_to_apic (the slow path, which the model always takes): every present
 * APIC the message addresses takes it; a lowest-priority message goes to one of them —
 * with vector hashing (kvm.ko's default) the (vector mod n)-th software-enabled match,
 * else the one with the lowest arbitration counter (kvm_apic_compare_prio). Returns the
 * number of APICs that accepted it, or -1 when none matched.
 */
export function kvmIrqDeliveryToApic(kvm: Kvm, src: KvmLapic | null, irq: KvmLapicIrq): number {
  let r = -1;
  if (irq.destMode === APIC_DEST_PHYSICAL && irq.destId === 0xff && kvmLowestPrioDelivery(irq)) {
    kvm.kernel.printk("kvm: apic: phys broadcast and lowest prio");
    irq.deliveryMode = APIC_DM_FIXED;
  }
  let lowest: (typeof kvm.vcpus)[number] | null = null;
  const candidates: (typeof kvm.vcpus)[number][] = [];
  for (const vcpu of kvm.vcpus) {
    if (!kvmApicPresent(vcpu)) continue;
    if (!kvmApicMatchDest(vcpu, src, irq.shorthand, irq.destId, irq.destMode)) continue;
    if (!kvmLowestPrioDelivery(irq)) {
      if (r < 0) r = 0;
      r += kvmApicSetIrq(vcpu, irq);
    } else if (kvmApicSwEnabled(vcpu.arch.apic!)) {
      if (kvm.arch.vectorHashing) candidates.push(vcpu);
      else if (!lowest || kvmApicComparePrio(vcpu, lowest) < 0) lowest = vcpu;
    }
  }
  if (candidates.length > 0) lowest = candidates[irq.vector % candidates.length]!;
  if (lowest) r = kvmApicSetIrq(lowest, irq);
  return r;
}

/** kvm_register_irq_ack_notifier. */
export function kvmRegisterIrqAckNotifier(kvm: Kvm, n: KvmIrqAckNotifier): void {
  kvm.arch.irqAckNotifiers.push(n);
}

/** kvm_unregister_irq_ack_notifier. */
export function kvmUnregisterIrqAckNotifier(kvm: Kvm, n: KvmIrqAckNotifier): void {
  const i = kvm.arch.irqAckNotifiers.indexOf(n);
  if (i >= 0) kvm.arch.irqAckNotifiers.splice(i, 1);
}

/**
 * kvm_notify_acked_irq: the guest acknowledged chip pin `pin` (a PIC ISR bit cleared, an
 * I/O APIC EOI); every GSI routed to that pin tells its ack notifiers.
 */
export function kvmNotifyAckedIrq(kvm: Kvm, irqchip: number, pin: number): void {
  if (kvm.arch.irqAckNotifiers.length === 0) return;
  for (const routes of kvm.arch.irqRouting?.values() ?? []) {
    for (const e of routes) {
      if (e.irqchip === irqchip && e.pin === pin) {
        for (const n of kvm.arch.irqAckNotifiers) if (n.gsi === e.gsi) n.irqAcked(e.gsi);
      }
    }
  }
}
