import type { KvmSegment } from "@glassvm/kvm-kernel/uapi";
import { describe, expect, it } from "vitest";
import { kvmIntelWithVmcs } from "../test/setup.js";
import { GUEST_CS_AR_BYTES, GUEST_TR_SELECTOR } from "./asm/vmx.js";
import { vmcsRead16, vmcsRead32 } from "./vmx_ops.js";
import {
  kvmSegmentFromVmx,
  vmxGetCpl,
  vmxGetCsDbLBits,
  vmxGetSegment,
  vmxSegmentAccessRights,
  vmxSetSegment,
} from "./vmx_segments.js";

const seg = (patch: Partial<KvmSegment>): KvmSegment => ({
  base: 0n,
  limit: 0xffff_ffff,
  selector: 0x10,
  type: 11,
  present: 1,
  dpl: 0,
  db: 0,
  s: 1,
  l: 1,
  g: 1,
  avl: 0,
  unusable: 0,
  ...patch,
});

describe("segment access rights (vmx_segment_access_rights)", () => {
  it("packs the reference's common values", () => {
    expect(vmxSegmentAccessRights(seg({}))).toBe(0xa09b);
    expect(vmxSegmentAccessRights(seg({ l: 0, db: 1 }))).toBe(0xc09b);
    expect(vmxSegmentAccessRights(seg({ type: 3, l: 0, db: 1 }))).toBe(0xc093);
    expect(vmxSegmentAccessRights(seg({ type: 3, l: 0, g: 0, limit: 0xffff }))).toBe(0x93);
    expect(vmxSegmentAccessRights(seg({ type: 11, s: 0, l: 0, g: 0 }))).toBe(0x8b);
  });

  it("an unusable or not-present segment is written as bit 16 alone, and reads back not present", () => {
    expect(vmxSegmentAccessRights(seg({ present: 0 }))).toBe(0x1_0000);
    expect(vmxSegmentAccessRights(seg({ unusable: 1 }))).toBe(0x1_0000);
    expect(kvmSegmentFromVmx(0, 0n, 0, 0x1_0000)).toMatchObject({ unusable: 1, present: 0 });
  });
});

describe("vmx_get_segment / vmx_set_segment on a VMCS", () => {
  it("round-trips every segment register, TR and LDTR in VCPU_SREG order", () => {
    const { cpu } = kvmIntelWithVmcs();
    const segs = [0, 1, 2, 3, 4, 5, 6, 7].map((i) =>
      seg({ selector: 8 * i, base: BigInt(0x1000 * i), l: i === 1 ? 1 : 0, s: i >= 6 ? 0 : 1 }),
    );
    for (const [i, s] of segs.entries()) vmxSetSegment(cpu, s, i);
    for (const [i, s] of segs.entries()) expect(vmxGetSegment(cpu, i)).toEqual(s);
    // VCPU_SREG_TR (6) is the VMCS's TR, not LDTR.
    expect(vmcsRead16(cpu, GUEST_TR_SELECTOR)).toBe(48);
    expect(vmcsRead32(cpu, GUEST_CS_AR_BYTES)).toBe(0xa09b);
    expect(vmxGetCsDbLBits(cpu)).toEqual({ db: 0, l: 1 });
    vmxSetSegment(cpu, seg({ dpl: 3, type: 3, l: 0 }), 2);
    expect(vmxGetCpl(cpu)).toBe(3);
  });
});
