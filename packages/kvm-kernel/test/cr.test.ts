/** The guest's MOV-to-CR path vendors call (kvm_set_cr0/3/4/8) and full-width CR2/CR3. */
import { describe, expect, it } from "vitest";
import {
  EFER_LME,
  type KvmVcpu,
  kvmGlobal,
  kvmSetCr0,
  kvmSetCr3,
  kvmSetCr4,
  kvmSetCr8Guest,
} from "../src/index.js";
import { decodeKvmSregs, encodeKvmSregs, KVM_GET_SREGS, KVM_SET_SREGS } from "../src/uapi/index.js";
import { guest } from "./setup.js";

function vcpuOf(g: ReturnType<typeof guest>): KvmVcpu {
  const [kvm] = [...(kvmGlobal(g.kernel)?.vms ?? [])];
  return kvm!.vcpus[0]!;
}

describe("guest control-register writes", () => {
  it("CR0: PG without PE and NW without CD are refused; ET reads as 1; kvm_cr traces each write", () => {
    const g = guest([0xf4]);
    const v = vcpuOf(g);
    const seen: number[] = [];
    g.kernel.trace.kvm_cr.subscribe((e) => seen.push(e.cr));
    expect(kvmSetCr0(v, 0x8000_0000)).toBe(1);
    expect(kvmSetCr0(v, 1 << 29)).toBe(1);
    expect(kvmSetCr0(v, 0x21)).toBe(0);
    expect(v.arch.cr0).toBe(0x31);
    expect(seen).toEqual([0, 0, 0]);
  });

  it("CR0.PG with EFER.LME needs CR4.PAE", () => {
    const g = guest([0xf4]);
    const v = vcpuOf(g);
    v.arch.efer = EFER_LME;
    expect(kvmSetCr0(v, 0x8000_0011)).toBe(1);
    expect(kvmSetCr4(v, 0x20)).toBe(0);
    expect(kvmSetCr0(v, 0x8000_0011)).toBe(0);
  });

  it("CR3 above MAXPHYADDR, CR4 reserved bits and CR8 above 15 are refused", () => {
    const g = guest([0xf4]);
    const v = vcpuOf(g);
    expect(kvmSetCr3(v, 1n << 40n)).toBe(1);
    expect(kvmSetCr3(v, 0x1000n)).toBe(0);
    expect(v.arch.cr3).toBe(0x1000n);
    expect(kvmSetCr4(v, 1 << 30)).toBe(1);
    expect(kvmSetCr8Guest(v, 16n)).toBe(1);
    expect(kvmSetCr8Guest(v, 15n)).toBe(0);
  });

  it("CR2 and CR3 keep all 64 bits through KVM_SET_SREGS / KVM_GET_SREGS", () => {
    const g = guest([0xf4]);
    const b = new Uint8Array(312);
    g.proc.ioctl(g.vcpu, KVM_GET_SREGS, b);
    const s = decodeKvmSregs(b);
    s.cr2 = 0xffff_ffff_8100_0123n;
    s.cr3 = 0xf_1234_5000n;
    expect(g.proc.ioctl(g.vcpu, KVM_SET_SREGS, encodeKvmSregs(s))).toBe(0);
    g.proc.ioctl(g.vcpu, KVM_GET_SREGS, b);
    expect([decodeKvmSregs(b).cr2, decodeKvmSregs(b).cr3]).toEqual([s.cr2, s.cr3]);
  });
});

describe("host-physical pages (alloc_page)", () => {
  it("gives zeroed distinct pages, reachable by physical address until freed", async () => {
    const { HostKernel } = await import("../src/index.js");
    const k = new HostKernel();
    const a = k.allocPage();
    const b = k.allocPage();
    expect(a.pa % 4096).toBe(0);
    expect(b.pa).not.toBe(a.pa);
    a.bytes[5] = 7;
    expect(k.physBytes(a.pa + 5, 1)?.[0]).toBe(7);
    expect(k.physBytes(a.pa + 4095, 2)).toBeNull();
    k.freePage(a.pa);
    expect(k.physBytes(a.pa, 1)).toBeNull();
  });
});

describe("host-physical pages (get_user_pages)", () => {
  it("pins a view's pages as consecutive frames sharing its bytes, once per view", async () => {
    const { HostKernel } = await import("../src/index.js");
    const k = new HostKernel();
    const buf = new ArrayBuffer(6 * 4096);
    const view = new Uint8Array(buf, 4096, 3 * 4096);
    const pfn = k.gupPages(view);
    view[2 * 4096 + 9] = 0x5a;
    expect(k.physBytes((pfn + 2) * 4096 + 9, 1)?.[0]).toBe(0x5a);
    k.physBytes(pfn * 4096, 4096)?.fill(0x11);
    expect(view[0]).toBe(0x11);
    expect(view[4096]).toBe(0);
    expect(k.physBytes((pfn + 3) * 4096, 1)).toBeNull();
    expect(k.gupPages(new Uint8Array(buf, 4096, 3 * 4096))).toBe(pfn);
    const other = k.gupPages(new Uint8Array(buf, 4096, 2 * 4096));
    expect(other).not.toBe(pfn);
    expect(k.allocPage().pa / 4096).toBeGreaterThanOrEqual(other + 2);
    expect(() => k.gupPages(new Uint8Array(buf, 0, 100))).toThrow(RangeError);
  });

  it("backs 2 MiB-aligned chunks of a large view with 2 MiB-aligned frame runs", async () => {
    const { HostKernel } = await import("../src/index.js");
    const k = new HostKernel();
    k.allocPage();
    const buf = new ArrayBuffer(5 << 20);
    const pfn = k.gupPages(new Uint8Array(buf, 0x3000, (4 << 20) + 0x1000));
    expect((pfn + (0x20_0000 - 0x3000) / 4096) % 512).toBe(0);
  });
});

describe("PAE paging's PDPTEs (load_pdptrs)", () => {
  /** Paging on without PAE, CR3 = 0x3000 (a page directory of 4 MiB entries, say). */
  function pagedGuest() {
    const g = guest([0xf4]);
    const v = vcpuOf(g);
    v.arch.cr0 = 0x8000_0011;
    v.arch.cr3 = 0x3000n;
    return { g, v };
  }

  it("turning on CR4.PAE over entries with reserved bits set is refused (#GP), else taken", () => {
    const { g, v } = pagedGuest();
    // A 4 MiB PDE (PS, bit 7) read as a PDPTE: present with a reserved bit.
    new DataView(g.ram.buffer, g.ram.byteOffset).setUint32(0x3000, 0x83, true);
    expect(kvmSetCr4(v, 0x20)).toBe(1);
    expect(v.arch.cr4 & 0x20).toBe(0);
    new DataView(g.ram.buffer, g.ram.byteOffset).setUint32(0x3000, 0x4001, true);
    expect(kvmSetCr4(v, 0x20)).toBe(0);
  });

  it("MOV to CR3 under PAE paging checks the new table", () => {
    const { g, v } = pagedGuest();
    expect(kvmSetCr4(v, 0x20)).toBe(0); // zeroed PDPTEs: not present, valid
    new DataView(g.ram.buffer, g.ram.byteOffset).setUint32(0x5008, 0x5, true); // bit 2 reserved
    expect(kvmSetCr3(v, 0x5000n)).toBe(1);
    expect(v.arch.cr3).toBe(0x3000n);
    expect(kvmSetCr3(v, 0x6000n)).toBe(0);
  });
});
