/**
 * hw/i386/kvm/apic.c: `kvm-apic`, QEMU's face of a local APIC that lives in the kernel
 * (kernel-irqchip=on|split). The guest's register accesses — xAPIC MMIO at the APIC base,
 * x2APIC MSRs — never leave the kernel. QEMU keeps the state for reset and migration:
 * `kvm_apic_reset` writes the reset state into the kernel on the CPU's own thread
 * (run_on_cpu → `kvm_apic_put`: MSR_IA32_APICBASE with KVM_SET_MSRS, then the register
 * page with KVM_SET_LAPIC, built by `kvm_put_apic_state`); `kvm_get_apic_state` reads a
 * KVM_GET_LAPIC page back. INIT/SIPI waiting is the vCPU's mp_state in the kernel, so
 * `wait_for_sipi` stays 0 here.
 *
 * Not modelled: the "kvm-apic-msi" MMIO window QEMU maps at the APIC base for MSI writes
 * from devices (glassvm has no MSI-capable device, and the kernel model has no
 * KVM_SIGNAL_MSI), and the VAPIC option ROM.
 */
import {
  encodeKvmMsrs,
  KVM_GET_LAPIC,
  KVM_LAPIC_STATE_SIZE,
  KVM_SET_LAPIC,
  KVM_SET_MSRS,
} from "@glassvm/kvm-kernel/uapi";
import { type DeviceClass, typeInit, typeRegisterStatic } from "@glassvm/qom";
import { kvmVcpuThreadOf } from "../../../accel/kvm/kvm-accel-ops.js";
import { kvmIoctlFailed, kvmStateCurrent, kvmVcpuIoctl } from "../../../accel/kvm/kvm-all.js";
import {
  APIC_LVT_NB,
  type APICCommonState,
  apicResetCommon,
  TYPE_APIC_COMMON,
} from "../../intc/apic_common.js";

export const TYPE_KVM_APIC = "kvm-apic";

const MSR_IA32_APICBASE = 0x1b;

/** kvm_apic_set_reg / kvm_apic_get_reg: register `n` is at byte 16·n of the page. */
const setReg = (dv: DataView, reg: number, v: number) => dv.setUint32(reg << 4, v >>> 0, true);
const getReg = (dv: DataView, reg: number) => dv.getUint32(reg << 4, true);

/** `kvm_put_apic_state`: QEMU's copy as a KVM_SET_LAPIC register page (xAPIC layout). */
export function kvmPutApicState(s: APICCommonState): Uint8Array {
  const page = new Uint8Array(KVM_LAPIC_STATE_SIZE);
  const dv = new DataView(page.buffer);
  setReg(dv, 0x2, s.apicId << 24);
  setReg(dv, 0x8, s.tpr);
  setReg(dv, 0xd, s.logDest << 24);
  setReg(dv, 0xe, (s.destMode << 28) | 0x0fff_ffff);
  setReg(dv, 0xf, s.spuriousVec);
  for (let i = 0; i < 8; i++) {
    setReg(dv, 0x10 + i, s.isr[i]!);
    setReg(dv, 0x18 + i, s.tmr[i]!);
    setReg(dv, 0x20 + i, s.irr[i]!);
  }
  setReg(dv, 0x28, s.esr);
  setReg(dv, 0x30, s.icr[0]!);
  setReg(dv, 0x31, s.icr[1]!);
  for (let i = 0; i < APIC_LVT_NB; i++) setReg(dv, 0x32 + i, s.lvt[i]!);
  setReg(dv, 0x38, s.initialCount);
  setReg(dv, 0x3e, s.divideConf);
  return page;
}

/** `kvm_get_apic_state`: a KVM_GET_LAPIC page into QEMU's copy. */
export function kvmGetApicState(s: APICCommonState, page: Uint8Array): void {
  const dv = new DataView(page.buffer, page.byteOffset, page.byteLength);
  s.apicId = getReg(dv, 0x2) >>> 24;
  s.tpr = getReg(dv, 0x8);
  s.logDest = getReg(dv, 0xd) >>> 24;
  s.destMode = getReg(dv, 0xe) >>> 28;
  s.spuriousVec = getReg(dv, 0xf);
  for (let i = 0; i < 8; i++) {
    s.isr[i] = getReg(dv, 0x10 + i);
    s.tmr[i] = getReg(dv, 0x18 + i);
    s.irr[i] = getReg(dv, 0x20 + i);
  }
  s.esr = getReg(dv, 0x28);
  s.icr[0] = getReg(dv, 0x30);
  s.icr[1] = getReg(dv, 0x31);
  for (let i = 0; i < APIC_LVT_NB; i++) s.lvt[i] = getReg(dv, 0x32 + i);
  s.initialCount = getReg(dv, 0x38);
  s.divideConf = getReg(dv, 0x3e);
}

/** The vCPU this APIC belongs to, once its thread created it in KVM. */
function vcpuOf(s: APICCommonState) {
  const kvm = kvmStateCurrent();
  const v = s.cpu ? kvmVcpuThreadOf(s.cpu)?.vcpu : null;
  return kvm && v ? { kvm, v } : null;
}

/** `kvm_apic_put` (on the CPU's thread): the base MSR, then the register page. */
export function kvmApicPut(s: APICCommonState): void {
  const at = vcpuOf(s);
  if (!at) return;
  const msr = encodeKvmMsrs([{ index: MSR_IA32_APICBASE, data: BigInt(s.apicbase) }]);
  const n = kvmVcpuIoctl(at.kvm, at.v, KVM_SET_MSRS, msr);
  if (n !== 1) kvmIoctlFailed("kvm_put_apicbase: KVM_SET_MSRS", n < 0 ? n : -22);
  const r = kvmVcpuIoctl(at.kvm, at.v, KVM_SET_LAPIC, kvmPutApicState(s));
  if (r < 0) kvmIoctlFailed("KVM_SET_LAPIC", r);
}

/** KVM_GET_LAPIC into QEMU's copy (what `info lapic` and migration read). */
export function kvmApicGet(s: APICCommonState): void {
  const at = vcpuOf(s);
  if (!at) return;
  const page = new Uint8Array(KVM_LAPIC_STATE_SIZE);
  const r = kvmVcpuIoctl(at.kvm, at.v, KVM_GET_LAPIC, page);
  if (r < 0) kvmIoctlFailed("KVM_GET_LAPIC", r);
  kvmGetApicState(s, page);
}

/** The device reset: apic_reset_common, then `kvm_apic_reset`. */
export function kvmApicReset(s: APICCommonState): void {
  apicResetCommon(s);
  s.waitForSipi = 0;
  kvmApicPut(s);
}

typeInit(() => {
  typeRegisterStatic<DeviceClass, APICCommonState>({
    name: TYPE_KVM_APIC,
    parent: TYPE_APIC_COMMON,
  });
});
