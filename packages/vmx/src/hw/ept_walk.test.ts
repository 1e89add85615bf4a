import { HostKernel } from "@glassvm/kvm-kernel";
import { PhysMemory } from "@glassvm/x86";
import { beforeEach, describe, expect, it } from "vitest";
import {
  EPT_VIOLATION_ACC_INSTR,
  EPT_VIOLATION_ACC_READ,
  EPT_VIOLATION_ACC_WRITE,
  EPT_VIOLATION_GVA_IS_VALID,
  EPT_VIOLATION_GVA_TRANSLATED,
  EPT_VIOLATION_PROT_EXEC,
  EPT_VIOLATION_PROT_READ,
  EPT_VIOLATION_PROT_WRITE,
} from "../asm/vmx.js";
import { type EptMemslot, EptMmu } from "../mmu/ept.js";
import {
  EPT_MISCONFIG,
  EPT_OK,
  EPT_VIOLATION,
  eptRamRanges,
  eptTranslate,
  eptViolationQualification,
  type PhysReader,
} from "./ept_walk.js";

const PAGE = 4096;
const READ = 1;
const WRITE = 2;
const FETCH = 4;

function slot(gpa: number, size: number, readonly = false): EptMemslot {
  return { baseGfn: gpa / PAGE, npages: size / PAGE, bytes: new Uint8Array(size), readonly };
}

describe("eptTranslate: misconfigurations and violations (SDM 29.3.3)", () => {
  let kernel: HostKernel;
  let cpu: PhysReader;
  let eptp: bigint;

  /** The two 32-bit halves of the entry at `level` on the walk of `gpa`. */
  function entry(gpa: number, level: number): DataView {
    let table = Number(eptp & ~0xfffn);
    for (let l = 4; ; l--) {
      const idx = Math.floor(gpa / 2 ** (12 + 9 * (l - 1))) % 512;
      const e = kernel.physBytes(table + idx * 8, 8)!;
      const v = new DataView(e.buffer, e.byteOffset, 8);
      if (l === level) return v;
      table = (v.getUint32(4, true) & 0xfffff) * 2 ** 32 + (v.getUint32(0, true) & 0xffff_f000);
    }
  }
  const setLo = (v: DataView, f: (lo: number) => number) =>
    v.setUint32(0, f(v.getUint32(0, true)) >>> 0, true);
  const setHi = (v: DataView, f: (hi: number) => number) =>
    v.setUint32(4, f(v.getUint32(4, true)) >>> 0, true);
  const status = (gpa: number, access = READ) => eptTranslate(cpu, eptp, gpa, access).status;

  beforeEach(() => {
    kernel = new HostKernel();
    cpu = { phys: (pa, len) => kernel.physBytes(pa, len) };
    const mmu = new EptMmu(kernel);
    eptp = mmu.build([
      slot(0, 1 << 20),
      slot(0x1000_0000, 2 << 20),
      slot(0xfffe_0000, 64 << 10, true),
    ]);
  });

  it("bits 2:0 = 010b or 110b (write without read) are misconfigurations at any level", () => {
    setLo(entry(0x3000, 1), (lo) => (lo & ~7) | 2);
    expect(eptTranslate(cpu, eptp, 0x3000, READ)).toMatchObject({
      status: EPT_MISCONFIG,
      level: 1,
    });
    setLo(entry(0x1000_0000, 3), (lo) => (lo & ~7) | 6);
    expect(eptTranslate(cpu, eptp, 0x1000_0000, FETCH)).toMatchObject({
      status: EPT_MISCONFIG,
      level: 3,
    });
    // The PDPTE covers the whole 0–1 GiB: the 1 MiB slot goes with it.
    expect(status(0x5000)).toBe(EPT_MISCONFIG);
    expect(status(0xfffe_0000)).toBe(EPT_OK);
  });

  it("execute-only (100b) is allowed on this part: fetches pass, reads are violations", () => {
    setLo(entry(0x7000, 1), (lo) => (lo & ~7) | 4);
    const fetch = eptTranslate(cpu, eptp, 0x7000, FETCH);
    expect([fetch.status, fetch.perms]).toEqual([EPT_OK, 4]);
    const read = eptTranslate(cpu, eptp, 0x7000, READ);
    expect([read.status, read.perms, read.qualPerms]).toEqual([EPT_VIOLATION, 4, 0x20]);
    expect(eptViolationQualification(READ, read.perms, false, false)).toBe(0x21);
  });

  it("a leaf's memory type 2, 3 or 7 is a misconfiguration; 0, 1, 4, 5, 6 are not", () => {
    for (let mt = 0; mt < 8; mt++) {
      setLo(entry(0x9000, 1), (lo) => (lo & ~0x38) | (mt << 3));
      setLo(entry(0x1000_0000, 2), (lo) => (lo & ~0x38) | (mt << 3));
      const bad = mt === 2 || mt === 3 || mt === 7;
      expect(status(0x9000)).toBe(bad ? EPT_MISCONFIG : EPT_OK);
      expect(status(0x1010_0000)).toBe(bad ? EPT_MISCONFIG : EPT_OK);
    }
  });

  it("misconfigurations are found before permissions: a write to ROM with MT 3", () => {
    expect(status(0xfffe_1000, WRITE)).toBe(EPT_VIOLATION);
    setLo(entry(0xfffe_1000, 1), (lo) => (lo & ~0x38) | (3 << 3));
    expect(status(0xfffe_1000, WRITE)).toBe(EPT_MISCONFIG);
  });

  it("reserved bits: 7:3 in a PML4E, bit 7 in a PDPTE (no 1 GiB pages), 6:3 in a PDE", () => {
    for (const bit of [3, 4, 5, 6, 7]) {
      const v = entry(0, 4);
      const saved = v.getUint32(0, true);
      setLo(v, (lo) => lo | (1 << bit));
      expect(eptTranslate(cpu, eptp, 0, READ)).toMatchObject({ status: EPT_MISCONFIG, level: 4 });
      v.setUint32(0, saved, true);
    }
    const pdpte = entry(0, 3);
    setLo(pdpte, (lo) => lo | 0x80);
    expect(eptTranslate(cpu, eptp, 0, READ)).toMatchObject({ status: EPT_MISCONFIG, level: 3 });
    setLo(pdpte, (lo) => lo & ~0x80);
    const pde = entry(0, 2);
    setLo(pde, (lo) => lo | 0x40);
    expect(eptTranslate(cpu, eptp, 0, READ)).toMatchObject({ status: EPT_MISCONFIG, level: 2 });
    setLo(pde, (lo) => lo & ~0x40);
    expect(status(0)).toBe(EPT_OK);
  });

  it("bit 8 (accessed, ignored without A/D) and other ignored bits are not reserved", () => {
    setLo(entry(0, 4), (lo) => lo | 0x100 | 0x200 | 0x400 | 0x800);
    setLo(entry(0, 3), (lo) => lo | 0x100);
    setLo(entry(0, 2), (lo) => lo | 0x100);
    // A PTE's bit 7 is ignored; IPAT is allowed; bits 62:52 and 63 (suppress #VE) are ignored.
    setLo(entry(0, 1), (lo) => lo | 0x80 | 0x40 | 0x100 | 0x200);
    setHi(entry(0, 1), (hi) => hi | 0xfff0_0000);
    const t = eptTranslate(cpu, eptp, 0x10, READ | WRITE | FETCH);
    expect([t.status, t.perms, t.level]).toEqual([EPT_OK, 7, 1]);
  });

  it("reserved bits: 20:12 in a 2 MiB leaf and address bits at or above MAXPHYADDR (36)", () => {
    const pde = entry(0x1000_0000, 2);
    setLo(pde, (lo) => lo | 0x1000);
    expect(status(0x1000_0000)).toBe(EPT_MISCONFIG);
    setLo(pde, (lo) => lo & ~0x1000);
    setHi(pde, (hi) => hi | (1 << (36 - 32)));
    expect(status(0x1000_0000)).toBe(EPT_MISCONFIG);
    setHi(pde, (hi) => hi & ~(1 << (36 - 32)));
    setHi(entry(0x4000, 1), (hi) => hi | (1 << (51 - 32)));
    expect(status(0x4000)).toBe(EPT_MISCONFIG);
    expect(status(0x1000_0000)).toBe(EPT_OK);
  });

  it("reserved bits do not matter in a not-present entry", () => {
    const v = entry(0x6000, 1);
    v.setUint32(0, 0xffff_fff8, true);
    v.setUint32(4, 0xffff_ffff, true);
    expect(eptTranslate(cpu, eptp, 0x6000, READ)).toMatchObject({
      status: EPT_VIOLATION,
      perms: 0,
      level: 1,
    });
  });

  it("a table pointer to memory that is not there reads as all ones: misconfiguration", () => {
    setHi(entry(0, 2), (hi) => (hi & ~0xf) | 0xe);
    expect(eptTranslate(cpu, eptp, 0, READ)).toMatchObject({ status: EPT_MISCONFIG, level: 1 });
  });

  it("permissions are the AND over all levels", () => {
    setLo(entry(0, 4), (lo) => lo & ~4);
    const fetch = eptTranslate(cpu, eptp, 0x2000, FETCH);
    expect([fetch.status, fetch.perms, fetch.qualPerms]).toEqual([EPT_VIOLATION, 3, 0x18]);
    expect(eptTranslate(cpu, eptp, 0x2000, READ | WRITE).status).toBe(EPT_OK);
    setLo(entry(0xfffe_0000, 2), (lo) => lo & ~2);
    expect(eptTranslate(cpu, eptp, 0xfffe_0000, WRITE).perms).toBe(1);
  });

  it("guest-physical addresses beyond 48 bits are refused", () => {
    expect(() => eptTranslate(cpu, eptp, 2 ** 48, READ)).toThrow(RangeError);
    expect(() => eptTranslate(cpu, eptp, -1, READ)).toThrow(RangeError);
    expect(status(2 ** 48 - PAGE)).toBe(EPT_VIOLATION);
  });
});

describe("eptViolationQualification (reference §2.4)", () => {
  it("places access in bits 2:0, permissions in 5:3, GLA valid in 7, linear access in 8", () => {
    expect(EPT_VIOLATION_ACC_READ | EPT_VIOLATION_ACC_WRITE | EPT_VIOLATION_ACC_INSTR).toBe(7);
    expect(eptViolationQualification(READ, 0, false, false)).toBe(EPT_VIOLATION_ACC_READ);
    expect(eptViolationQualification(WRITE, 5, false, false)).toBe(
      EPT_VIOLATION_ACC_WRITE | EPT_VIOLATION_PROT_READ | EPT_VIOLATION_PROT_EXEC,
    );
    expect(eptViolationQualification(FETCH, 3, true, false)).toBe(
      EPT_VIOLATION_ACC_INSTR |
        EPT_VIOLATION_PROT_READ |
        EPT_VIOLATION_PROT_WRITE |
        EPT_VIOLATION_GVA_IS_VALID,
    );
    expect(eptViolationQualification(WRITE, 5, true, true)).toBe(0x1aa);
    expect(eptViolationQualification(READ, 0, true, true)).toBe(
      EPT_VIOLATION_ACC_READ | EPT_VIOLATION_GVA_IS_VALID | EPT_VIOLATION_GVA_TRANSLATED,
    );
    // Bit 8 means something only with bit 7; no stray bits from wide inputs.
    expect(eptViolationQualification(READ, 0, false, true)).toBe(1);
    expect(eptViolationQualification(0xff, 0xff, false, false)).toBe(0x3f);
  });
});

describe("eptRamRanges: the mapped RAM, walked once", () => {
  let kernel: HostKernel;
  let cpu: PhysReader;
  let mmu: EptMmu;
  let slots: EptMemslot[];

  beforeEach(() => {
    kernel = new HostKernel();
    cpu = { phys: (pa, len) => kernel.physBytes(pa, len) };
    mmu = new EptMmu(kernel);
    slots = [slot(0xfffe_0000, 64 << 10, true), slot(0, 1 << 20), slot(0x1000_0000, 2 << 20)];
  });

  it("gives one range per slot, sorted, sharing the slots' bytes", () => {
    const ranges = eptRamRanges(cpu, mmu.build(slots));
    expect(ranges.map((r) => [r.gpa, r.bytes.length, r.writable, r.executable])).toEqual([
      [0, 1 << 20, true, true],
      [0x1000_0000, 2 << 20, true, true],
      [0xfffe_0000, 64 << 10, false, true],
    ]);
    const bySlot = [slots[1]!, slots[2]!, slots[0]!];
    ranges.forEach((r, i) => {
      const s = bySlot[i]!;
      expect(r.bytes.buffer).toBe(s.bytes.buffer);
      expect(r.bytes.byteOffset).toBe(s.bytes.byteOffset);
    });
  });

  it("takes a 2 MiB leaf as one run when the host gives it (physRange), with the same result", () => {
    const eptp = mmu.build(slots);
    let lookups = 0;
    const counting: PhysReader = {
      phys: (pa, len) => {
        lookups++;
        return kernel.physBytes(pa, len);
      },
    };
    const perPage = eptRamRanges(counting, eptp);
    const perPageLookups = lookups;
    lookups = 0;
    const withRuns = eptRamRanges(
      { ...counting, physRange: (pa, len) => kernel.physRange(pa, len) },
      eptp,
    );
    const shape = (rs: typeof perPage) =>
      rs.map((r) => [r.gpa, r.bytes.length, r.bytes.byteOffset]);
    expect(shape(withRuns)).toEqual(shape(perPage));
    // The 1 MiB and 64 KiB slots are 4 KiB leaves; the 2 MiB slot is one large page, now
    // one physRange instead of 512 page lookups.
    expect(perPageLookups - lookups).toBe(512);
    // Frames that are not one run of one buffer are refused.
    expect(kernel.physRange(kernel.allocPage().pa, 2 * PAGE)).toBeNull();
  });

  it("feeds PhysMemory.addRam: the x86 core sees the slots' memory", () => {
    const ranges = eptRamRanges(cpu, mmu.build(slots));
    const mem = new PhysMemory();
    for (const r of ranges) mem.addRam(r.gpa, r.bytes, !r.writable);
    slots[2]!.bytes[0x1f_fffe] = 0x77;
    expect(mem.read8(0x101f_fffe)).toBe(0x77);
    mem.write8(0x8_0001, 0x42);
    expect(slots[1]!.bytes[0x8_0001]).toBe(0x42);
    mem.write8(0xfffe_0002, 0x99);
    expect(slots[0]!.bytes[2]).toBe(0);
  });

  it("does not merge across holes, buffers or permission changes", () => {
    const buf = new ArrayBuffer(8 * PAGE);
    const a: EptMemslot = {
      baseGfn: 0x100,
      npages: 4,
      bytes: new Uint8Array(buf, 0, 4 * PAGE),
      readonly: false,
    };
    const b: EptMemslot = {
      baseGfn: 0x104,
      npages: 4,
      bytes: new Uint8Array(buf, 4 * PAGE, 4 * PAGE),
      readonly: true,
    };
    const c = slot(0x108000, 2 * PAGE);
    const d = slot(0x10b000, PAGE);
    const ranges = eptRamRanges(cpu, mmu.build([a, b, c, d]));
    expect(ranges.map((r) => [r.gpa, r.bytes.length, r.writable])).toEqual([
      [0x100000, 4 * PAGE, true],
      [0x104000, 4 * PAGE, false],
      [0x108000, 2 * PAGE, true],
      [0x10b000, PAGE, true],
    ]);
  });

  it("leaves out misconfigured and non-readable pages, splitting the range", () => {
    const eptp = mmu.build(slots);
    const root = Number(eptp & ~0xfffn);
    const at = (table: number, idx: number) => {
      const e = kernel.physBytes(table + idx * 8, 8)!;
      return new DataView(e.buffer, e.byteOffset, 8);
    };
    const next = (v: DataView) =>
      (v.getUint32(4, true) & 0xfffff) * 2 ** 32 + (v.getUint32(0, true) & 0xffff_f000);
    const pt = next(at(next(at(next(at(root, 0)), 0)), 0));
    // Page 0x10: memory type 7; page 0x20: execute-only.
    const p10 = at(pt, 0x10);
    p10.setUint32(0, p10.getUint32(0, true) | 0x38, true);
    const p20 = at(pt, 0x20);
    p20.setUint32(0, (p20.getUint32(0, true) & ~7) | 4, true);
    const ranges = eptRamRanges(cpu, eptp);
    expect(ranges.slice(0, 3).map((r) => [r.gpa, r.bytes.length])).toEqual([
      [0, 0x10 * PAGE],
      [0x11000, 0xf * PAGE],
      [0x21000, (0x100 - 0x21) * PAGE],
    ]);
    expect(ranges[1]!.bytes.byteOffset).toBe(0x11000);
    expect(eptTranslate(cpu, eptp, 0x10000, READ).status).toBe(EPT_MISCONFIG);
    expect(eptTranslate(cpu, eptp, 0x20000, FETCH).status).toBe(EPT_OK);
    expect(ranges).toHaveLength(5);
  });

  it("follows a rebuild: the moved slot's range is at its new place", () => {
    mmu.build(slots);
    const moved = { ...slots[1]!, baseGfn: 0x3000_0000 / PAGE };
    const ranges = eptRamRanges(cpu, mmu.build([slots[0]!, moved, slots[2]!]));
    expect(ranges.map((r) => r.gpa)).toEqual([0x1000_0000, 0x3000_0000, 0xfffe_0000]);
    expect(ranges[1]!.bytes.buffer).toBe(moved.bytes.buffer);
  });
});
