/**
 * hw/intc/ioapic_common.c: `ioapic-common`, the state both I/O APIC models share — the ID,
 * IOREGSEL, the IRR and the 24 redirection entries — and its reset (every entry masked).
 * glassvm has only the kernel's I/O APIC (`kvm-ioapic`, hw/i386/kvm/ioapic.ts); QEMU's
 * userspace `ioapic` (kernel-irqchip=off or split) is not modelled.
 */
import { type DeviceClass, type DeviceState, typeInit, typeRegisterStatic } from "@glassvm/qom";
import type { MemoryRegion } from "../../system/memory.js";
import { TYPE_SYS_BUS_DEVICE } from "../core/sysbus.js";

export const TYPE_IOAPIC_COMMON = "ioapic-common";

/** IOAPIC_NUM_PINS. */
export const IOAPIC_NUM_PINS = 24;
/** IO_APIC_DEFAULT_ADDRESS: where the board maps it. */
export const IO_APIC_DEFAULT_ADDRESS = 0xfec0_0000;
/** Redirection-entry bit 16: masked. */
export const IOAPIC_LVT_MASKED = 1n << 16n;

/** `IOAPICCommonState`. */
export interface IOAPICCommonState extends DeviceState {
  /** The MMIO window (sysbus mmio 0). */
  ioMemory: MemoryRegion | null;
  /** Where the board mapped it (sysbus mmio[0].addr). */
  mmioAddr: number;
  /** The I/O APIC ID (QEMU's `id`; DeviceState has an `id` of its own here). */
  ioapicId: number;
  ioregsel: number;
  irr: number;
  readonly ioredtbl: bigint[];
  version: number;
}

/** `ioapic_reset_common`: ID 0, IOREGSEL 0, no request, every entry masked. */
export function ioapicResetCommon(s: IOAPICCommonState): void {
  s.ioapicId = 0;
  s.ioregsel = 0;
  s.irr = 0;
  for (let i = 0; i < IOAPIC_NUM_PINS; i++) s.ioredtbl[i] = IOAPIC_LVT_MASKED;
}

typeInit(() => {
  typeRegisterStatic<DeviceClass, IOAPICCommonState>({
    name: TYPE_IOAPIC_COMMON,
    parent: TYPE_SYS_BUS_DEVICE,
    abstract: true,
    instanceSize: 512,
    instanceInit: (s) => {
      s.ioMemory = null;
      s.mmioAddr = IO_APIC_DEFAULT_ADDRESS;
      (s as { ioredtbl: bigint[] }).ioredtbl = new Array<bigint>(IOAPIC_NUM_PINS).fill(0n);
      s.version = 0x20;
      ioapicResetCommon(s);
    },
  });
});
