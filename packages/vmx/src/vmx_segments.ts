/**
 * Segment registers between struct kvm_segment and the VMCS guest-state area (vmx.c:
 * kvm_vmx_segment_fields, vmx_segment_access_rights, vmx_get_segment, vmx_set_segment,
 * vmx_get_cpl, vmx_get_cs_db_l_bits).
 */
import type { KvmSegment } from "@glassvm/kvm-kernel/uapi";
import { segmentAccessRights, segmentFields } from "@glassvm/x86";
import {
  GUEST_CS_AR_BYTES,
  GUEST_CS_BASE,
  GUEST_CS_LIMIT,
  GUEST_CS_SELECTOR,
  GUEST_DS_AR_BYTES,
  GUEST_DS_BASE,
  GUEST_DS_LIMIT,
  GUEST_DS_SELECTOR,
  GUEST_ES_AR_BYTES,
  GUEST_ES_BASE,
  GUEST_ES_LIMIT,
  GUEST_ES_SELECTOR,
  GUEST_FS_AR_BYTES,
  GUEST_FS_BASE,
  GUEST_FS_LIMIT,
  GUEST_FS_SELECTOR,
  GUEST_GS_AR_BYTES,
  GUEST_GS_BASE,
  GUEST_GS_LIMIT,
  GUEST_GS_SELECTOR,
  GUEST_LDTR_AR_BYTES,
  GUEST_LDTR_BASE,
  GUEST_LDTR_LIMIT,
  GUEST_LDTR_SELECTOR,
  GUEST_SS_AR_BYTES,
  GUEST_SS_BASE,
  GUEST_SS_LIMIT,
  GUEST_SS_SELECTOR,
  GUEST_TR_AR_BYTES,
  GUEST_TR_BASE,
  GUEST_TR_LIMIT,
  GUEST_TR_SELECTOR,
} from "./asm/vmx.js";
import type { HostCpu } from "./hw/host_cpu.js";
import {
  vmcsRead16,
  vmcsRead32,
  vmcsReadl,
  vmcsWrite16,
  vmcsWrite32,
  vmcsWritel,
} from "./vmx_ops.js";

/** struct kvm_vmx_segment_field. */
export interface KvmVmxSegmentField {
  readonly selector: number;
  readonly base: number;
  readonly limit: number;
  readonly arBytes: number;
}

/** kvm_vmx_segment_fields, indexed by VCPU_SREG_* (ES, CS, SS, DS, FS, GS, TR, LDTR). */
export const KVM_VMX_SEGMENT_FIELDS: readonly KvmVmxSegmentField[] = [
  {
    selector: GUEST_ES_SELECTOR,
    base: GUEST_ES_BASE,
    limit: GUEST_ES_LIMIT,
    arBytes: GUEST_ES_AR_BYTES,
  },
  {
    selector: GUEST_CS_SELECTOR,
    base: GUEST_CS_BASE,
    limit: GUEST_CS_LIMIT,
    arBytes: GUEST_CS_AR_BYTES,
  },
  {
    selector: GUEST_SS_SELECTOR,
    base: GUEST_SS_BASE,
    limit: GUEST_SS_LIMIT,
    arBytes: GUEST_SS_AR_BYTES,
  },
  {
    selector: GUEST_DS_SELECTOR,
    base: GUEST_DS_BASE,
    limit: GUEST_DS_LIMIT,
    arBytes: GUEST_DS_AR_BYTES,
  },
  {
    selector: GUEST_FS_SELECTOR,
    base: GUEST_FS_BASE,
    limit: GUEST_FS_LIMIT,
    arBytes: GUEST_FS_AR_BYTES,
  },
  {
    selector: GUEST_GS_SELECTOR,
    base: GUEST_GS_BASE,
    limit: GUEST_GS_LIMIT,
    arBytes: GUEST_GS_AR_BYTES,
  },
  {
    selector: GUEST_TR_SELECTOR,
    base: GUEST_TR_BASE,
    limit: GUEST_TR_LIMIT,
    arBytes: GUEST_TR_AR_BYTES,
  },
  {
    selector: GUEST_LDTR_SELECTOR,
    base: GUEST_LDTR_BASE,
    limit: GUEST_LDTR_LIMIT,
    arBytes: GUEST_LDTR_AR_BYTES,
  },
];

/**
 * vmx_segment_access_rights: the VMCS access-rights word of a kvm_segment. An unusable
 * or not-present segment is written as "unusable" (bit 16) alone.
 */
export function vmxSegmentAccessRights(v: KvmSegment): number {
  return segmentAccessRights(v);
}

/**
 * The kvm_segment of a VMCS access-rights word and its selector, base and limit. An
 * unusable segment reads as not present (some userspace does not keep `unusable`). The
 * VMCS layout is the x86 core's, so this is the core's conversion.
 */
export function kvmSegmentFromVmx(
  selector: number,
  base: bigint,
  limit: number,
  ar: number,
): KvmSegment {
  return segmentFields(selector, base, limit, ar);
}

/** vmx_get_segment: read VCPU_SREG_* `seg` from the current VMCS. */
export function vmxGetSegment(cpu: HostCpu, seg: number): KvmSegment {
  const f = KVM_VMX_SEGMENT_FIELDS[seg]!;
  return kvmSegmentFromVmx(
    vmcsRead16(cpu, f.selector),
    vmcsReadl(cpu, f.base),
    vmcsRead32(cpu, f.limit),
    vmcsRead32(cpu, f.arBytes),
  );
}

/** vmx_set_segment (unrestricted guest: no vm86 real-mode emulation needed). */
export function vmxSetSegment(cpu: HostCpu, v: KvmSegment, seg: number): void {
  const f = KVM_VMX_SEGMENT_FIELDS[seg]!;
  vmcsWrite16(cpu, f.selector, v.selector);
  vmcsWritel(cpu, f.base, v.base);
  vmcsWrite32(cpu, f.limit, v.limit);
  vmcsWrite32(cpu, f.arBytes, vmxSegmentAccessRights(v));
}

/** vmx_get_cpl: SS.DPL (the VMCS keeps the CPL there). */
export function vmxGetCpl(cpu: HostCpu): number {
  return (vmcsRead32(cpu, GUEST_SS_AR_BYTES) >>> 5) & 3;
}

/** vmx_get_cs_db_l_bits. */
export function vmxGetCsDbLBits(cpu: HostCpu): { db: number; l: number } {
  const ar = vmcsRead32(cpu, GUEST_CS_AR_BYTES);
  return { db: (ar >>> 14) & 1, l: (ar >>> 13) & 1 };
}
