/**
 * hw/intc/apic_common.c: `apic-common`, the local APIC state both models share (QEMU's
 * userspace `apic` and the kernel's `kvm-apic`) and its reset — `apic_reset_common` with
 * `apic_init_reset`: the base MSR (0xFEE00000, enabled, BSP on CPU 0), ID = the initial
 * APIC ID, TPR 0, SVR 0xFF (software-disabled), flat logical mode, every LVT masked, no
 * pending or in-service vector, the timer stopped; on the BSP LINT0 is ExtINT (0x700) so
 * the 8259's INTR reaches it while the APIC is software-disabled. glassvm has only the
 * kernel's model (hw/i386/kvm/apic.ts).
 */
import {
  type DeviceClass,
  type DeviceState,
  definePropUint32,
  deviceClassSetProps,
  TYPE_DEVICE,
  typeInit,
  typeRegisterStatic,
} from "@glassvm/qom";
import type { X86CPU } from "../../target/i386/cpu.js";

export const TYPE_APIC_COMMON = "apic-common";

/** APIC_DEFAULT_ADDRESS. */
export const APIC_DEFAULT_ADDRESS = 0xfee0_0000;
export const MSR_IA32_APICBASE_BSP = 1 << 8;
export const MSR_IA32_APICBASE_ENABLE = 1 << 11;
/** APIC_LVT_NB: timer, thermal, perf, LINT0, LINT1, error. */
export const APIC_LVT_NB = 6;
export const APIC_LVT_LINT0 = 3;
export const APIC_LVT_MASKED = 1 << 16;

/** `APICCommonState`. */
export interface APICCommonState extends DeviceState {
  cpu: X86CPU | null;
  apicbase: number;
  /** The APIC ID (QEMU's `id`). */
  apicId: number;
  initialApicId: number;
  tpr: number;
  spuriousVec: number;
  logDest: number;
  destMode: number;
  readonly isr: Uint32Array;
  readonly tmr: Uint32Array;
  readonly irr: Uint32Array;
  readonly lvt: Uint32Array;
  esr: number;
  readonly icr: Uint32Array;
  divideConf: number;
  initialCount: number;
  waitForSipi: number;
}

/** `apic_init_reset` (what INIT resets too). */
export function apicInitReset(s: APICCommonState): void {
  s.tpr = 0;
  s.spuriousVec = 0xff;
  s.logDest = 0;
  s.destMode = 0xf;
  s.isr.fill(0);
  s.tmr.fill(0);
  s.irr.fill(0);
  s.lvt.fill(APIC_LVT_MASKED);
  s.esr = 0;
  s.icr.fill(0);
  s.divideConf = 0;
  s.initialCount = 0;
  s.waitForSipi = s.cpu && s.cpu.cpuIndex !== 0 ? 1 : 0;
}

/** `apic_reset_common`. */
export function apicResetCommon(s: APICCommonState): void {
  const bsp = s.cpu?.cpuIndex === 0;
  s.apicbase =
    (APIC_DEFAULT_ADDRESS | (bsp ? MSR_IA32_APICBASE_BSP : 0) | MSR_IA32_APICBASE_ENABLE) >>> 0;
  s.apicId = s.initialApicId;
  apicInitReset(s);
  if (bsp) s.lvt[APIC_LVT_LINT0] = 0x700;
}

typeInit(() => {
  typeRegisterStatic<DeviceClass, APICCommonState>({
    name: TYPE_APIC_COMMON,
    parent: TYPE_DEVICE,
    abstract: true,
    instanceSize: 512,
    instanceInit: (s) => {
      s.cpu = null;
      s.apicbase = (APIC_DEFAULT_ADDRESS | MSR_IA32_APICBASE_ENABLE) >>> 0;
      s.apicId = 0;
      const w = s as {
        isr: Uint32Array;
        tmr: Uint32Array;
        irr: Uint32Array;
        lvt: Uint32Array;
        icr: Uint32Array;
      };
      w.isr = new Uint32Array(8);
      w.tmr = new Uint32Array(8);
      w.irr = new Uint32Array(8);
      w.lvt = new Uint32Array(APIC_LVT_NB);
      w.icr = new Uint32Array(2);
      apicInitReset(s);
    },
    classInit: (dc) => {
      // QEMU: DEFINE_PROP_UINT32("id", APICCommonState, initial_apic_id, -1).
      deviceClassSetProps(dc, [definePropUint32("id", "initialApicId", 0xffff_ffff)]);
    },
  });
});
