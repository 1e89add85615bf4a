import { HostKernel } from "@glassvm/kvm-kernel";
import { beforeEach, describe, expect, it } from "vitest";
import {
  VMX_EPT_EXECUTABLE_MASK,
  VMX_EPT_IPAT_BIT,
  VMX_EPT_LARGE_PAGE_MASK,
  VMX_EPT_MT_MASK,
  VMX_EPT_READABLE_MASK,
  VMX_EPT_WRITABLE_MASK,
  VMX_EPTP_MT_WB,
  VMX_EPTP_PWL_4,
} from "../asm/vmx.js";
import {
  EPT_OK,
  EPT_VIOLATION,
  eptRamRanges,
  eptTranslate,
  eptViolationQualification,
  type PhysReader,
} from "../hw/ept_walk.js";
import { type EptMemslot, EptMmu } from "./ept.js";

const PAGE = 4096;
const READ = 1;
const WRITE = 2;
const FETCH = 4;

/** A slot backed by a fresh anonymous mapping of the VMM (mmap + the process's view). */
function slot(kernel: HostKernel, gpa: number, size: number, readonly = false): EptMemslot {
  const proc = kernel.spawn();
  const addr = proc.mmap(-1, size);
  return { baseGfn: gpa / PAGE, npages: size / PAGE, bytes: proc.view(addr, size), readonly };
}

/** The 8-byte entry at `level` on the walk of `gpa` (low half only: flags and address). */
function entryLo(kernel: HostKernel, eptp: bigint, gpa: number, level: number): number {
  let table = Number(eptp & ~0xfffn);
  for (let l = 4; ; l--) {
    const idx = Math.floor(gpa / 2 ** (12 + 9 * (l - 1))) % 512;
    const e = kernel.physBytes(table + idx * 8, 8);
    if (!e) throw new Error("table page missing");
    const lo = new DataView(e.buffer, e.byteOffset, 8).getUint32(0, true);
    const hi = new DataView(e.buffer, e.byteOffset, 8).getUint32(4, true);
    if (l === level) return lo;
    table = (hi & 0xfffff) * 2 ** 32 + ((lo & 0xffff_f000) >>> 0);
  }
}

describe("EptMmu: tables built from the memslots", () => {
  let kernel: HostKernel;
  let cpu: PhysReader;
  let mmu: EptMmu;
  let low: EptMemslot;
  let big: EptMemslot;
  let rom: EptMemslot;
  let slots: EptMemslot[];

  beforeEach(() => {
    kernel = new HostKernel();
    cpu = { phys: (pa, len) => kernel.physBytes(pa, len) };
    mmu = new EptMmu(kernel);
    low = slot(kernel, 0, 1 << 20);
    big = slot(kernel, 0x1000_0000, 2 << 20);
    rom = slot(kernel, 0xfffe_0000, 64 << 10, true);
    slots = [low, big, rom];
  });

  it("returns a 4-level, write-back EPTP without A/D whose root is a table page", () => {
    expect(mmu.eptp).toBe(0n);
    const eptp = mmu.build(slots);
    expect(mmu.eptp).toBe(eptp);
    expect(eptp & 0xfffn).toBe(BigInt(VMX_EPTP_PWL_4 | VMX_EPTP_MT_WB));
    expect(eptp & 0xfffn).toBe(0x1en);
    expect(kernel.physBytes(Number(eptp & ~0xfffn), PAGE)).not.toBeNull();
    // Root, one PDPT, the PDs for 0–1 GiB and 3–4 GiB, the PTs for 0–2 MiB and 4 GiB−2 MiB.
    expect(mmu.tablePages).toBe(6);
  });

  it("maps every page of every slot to the frame holding the slot's bytes", () => {
    const eptp = mmu.build(slots);
    for (const s of slots) {
      const firstPfn = kernel.gupPages(s.bytes);
      for (let i = 0; i < s.npages; i++) {
        const gpa = (s.baseGfn + i) * PAGE;
        const t = eptTranslate(cpu, eptp, gpa, READ);
        expect(t.status).toBe(EPT_OK);
        expect(t.hpa).toBe((firstPfn + i) * PAGE);
        // One memory: a write through the host-physical page shows in the slot and back.
        const host = kernel.physBytes(t.hpa, PAGE)!;
        host[7] = (i * 3 + 1) & 0xff;
        expect(s.bytes[i * PAGE + 7]).toBe((i * 3 + 1) & 0xff);
        s.bytes[i * PAGE + 4095] = (i + 0x40) & 0xff;
        expect(host[4095]).toBe((i + 0x40) & 0xff);
      }
    }
    expect(eptTranslate(cpu, eptp, 0x1234, READ).hpa).toBe(
      (kernel.gupPages(low.bytes) + 1) * PAGE + 0x234,
    );
  });

  it("uses a 2 MiB leaf for the aligned 2 MiB slot and 4 KiB leaves elsewhere", () => {
    const eptp = mmu.build(slots);
    const t = eptTranslate(cpu, eptp, 0x1012_3456, READ | WRITE | FETCH);
    expect([t.status, t.level, t.perms]).toEqual([EPT_OK, 2, 7]);
    expect(t.hpa).toBe(kernel.gupPages(big.bytes) * PAGE + 0x12_3456);
    expect(eptTranslate(cpu, eptp, 0x8_0000, READ).level).toBe(1);
    expect(eptTranslate(cpu, eptp, 0xfffe_f000, READ).level).toBe(1);

    const pde = entryLo(kernel, eptp, 0x1000_0000, 2);
    expect(pde & VMX_EPT_LARGE_PAGE_MASK).toBe(VMX_EPT_LARGE_PAGE_MASK);
    expect((pde & VMX_EPT_MT_MASK) >>> 3).toBe(6);
    expect(pde & VMX_EPT_IPAT_BIT).toBe(0);
    const pte = entryLo(kernel, eptp, 0x3000, 1);
    expect(pte & 7).toBe(VMX_EPT_READABLE_MASK | VMX_EPT_WRITABLE_MASK | VMX_EPT_EXECUTABLE_MASK);
    expect((pte & VMX_EPT_MT_MASK) >>> 3).toBe(6);
    expect(pte & (VMX_EPT_IPAT_BIT | VMX_EPT_LARGE_PAGE_MASK)).toBe(0);
    expect(entryLo(kernel, eptp, 0xfffe_0000, 1) & 7).toBe(
      VMX_EPT_READABLE_MASK | VMX_EPT_EXECUTABLE_MASK,
    );
  });

  it("leaves holes not present: any access is a violation with no permissions", () => {
    const eptp = mmu.build(slots);
    for (const [gpa, level] of [
      [0x10_0000, 1], // just past the 1 MiB slot, same page table
      [0x20_0000, 2], // no page table for 2–4 MiB
      [0xc000_0000, 2], // 3 GiB: a PD, but no entry in it
      [0xffff_0000, 1], // just past the read-only slot
      [0x4000_0000, 3], // 1–2 GiB: no PDPT entry
      [0x80_0000_0000, 4], // 512 GiB: no PML4 entry
      [0xffff_ffff_f000, 4],
    ] as const) {
      for (const access of [READ, WRITE, FETCH]) {
        const t = eptTranslate(cpu, eptp, gpa, access);
        expect([t.status, t.perms, t.level, t.qualPerms]).toEqual([EPT_VIOLATION, 0, level, 0]);
        expect(eptViolationQualification(access, t.perms, false, false)).toBe(access);
      }
    }
  });

  it("read-only slots: reads and fetches pass, writes are violations reporting R+X", () => {
    const eptp = mmu.build(slots);
    expect(eptTranslate(cpu, eptp, 0xfffe_fff0, READ).status).toBe(EPT_OK);
    expect(eptTranslate(cpu, eptp, 0xfffe_fff0, FETCH).status).toBe(EPT_OK);
    const t = eptTranslate(cpu, eptp, 0xfffe_8010, WRITE);
    expect([t.status, t.perms, t.level, t.qualPerms]).toEqual([EPT_VIOLATION, 5, 1, 0x28]);
    // A data write to the final linear address: access bit 1, R and X (bits 3, 5), 7, 8.
    expect(eptViolationQualification(WRITE, t.perms, true, true)).toBe(0x1aa);
    expect(eptTranslate(cpu, eptp, 0xfffe_8010, READ | WRITE).status).toBe(EPT_VIOLATION);
  });

  it("rebuilding after a slot moves frees the old tables and maps the new place", () => {
    const first = mmu.build(slots);
    const pinned = kernel.physPages.size;
    const pages = mmu.tablePages;
    const lowPfn = kernel.gupPages(low.bytes);
    let eptp = first;
    for (let round = 1; round <= 8; round++) {
      const moved: EptMemslot = { ...low, baseGfn: (0x2000_0000 + round * 0x10_0000) / PAGE };
      const prev = eptp;
      eptp = mmu.build([moved, big, rom]);
      expect(kernel.physBytes(Number(prev & ~0xfffn), 8)).toBeNull();
      expect(mmu.tablePages).toBeLessThanOrEqual(pages + 1);
      // The same pinned frames: only table pages come and go.
      expect(kernel.physPages.size).toBe(pinned - pages + mmu.tablePages);
      const t = eptTranslate(cpu, eptp, moved.baseGfn * PAGE + 0x5008, READ);
      expect([t.status, t.hpa]).toEqual([EPT_OK, (lowPfn + 5) * PAGE + 8]);
      expect(eptTranslate(cpu, eptp, 0x5008, READ).status).toBe(EPT_VIOLATION);
    }
    expect(eptTranslate(cpu, eptp, 0x1000_0000, WRITE).status).toBe(EPT_OK);
  });

  it("a slot unaligned in guest-physical space gets 4 KiB leaves and still translates", () => {
    const odd = slot(kernel, 0x4000_1000, (6 << 20) + 3 * PAGE);
    const eptp = mmu.build([odd]);
    const firstPfn = kernel.gupPages(odd.bytes);
    for (let i = 0; i < odd.npages; i++) {
      const t = eptTranslate(cpu, eptp, 0x4000_1000 + i * PAGE + 0x10, WRITE);
      expect([t.status, t.level, t.hpa]).toEqual([EPT_OK, 1, (firstPfn + i) * PAGE + 0x10]);
    }
    expect(eptTranslate(cpu, eptp, 0x4000_0000, READ).status).toBe(EPT_VIOLATION);
    expect(eptTranslate(cpu, eptp, 0x4000_1000 + odd.npages * PAGE, READ).status).toBe(
      EPT_VIOLATION,
    );
    // Root, PDPT, one PD and a page table for each 2 MiB region the slot touches (4).
    expect(mmu.tablePages).toBe(7);
  });

  it("mixes leaf sizes when the frames line up with guest-physical 2 MiB boundaries", () => {
    // The view starts one page into its buffer, like the slot starts one page into a 2 MiB
    // region: huge-page backing then covers the aligned middle.
    const buf = new ArrayBuffer(8 << 20);
    const bytes = new Uint8Array(buf, PAGE, (6 << 20) - PAGE);
    const mid: EptMemslot = {
      baseGfn: 0x4000_1000 / PAGE,
      npages: bytes.length / PAGE,
      bytes,
      readonly: false,
    };
    const eptp = mmu.build([mid]);
    const firstPfn = kernel.gupPages(bytes);
    const levels = new Set<number>();
    for (let i = 0; i < mid.npages; i++) {
      const t = eptTranslate(cpu, eptp, 0x4000_1000 + i * PAGE, READ);
      expect([t.status, t.hpa]).toEqual([EPT_OK, (firstPfn + i) * PAGE]);
      levels.add(t.level);
    }
    expect(levels).toEqual(new Set([1, 2]));
    expect(eptTranslate(cpu, eptp, 0x4020_0000, READ).level).toBe(2);
    expect(eptTranslate(cpu, eptp, 0x4040_0000, READ).level).toBe(2);
    expect(eptTranslate(cpu, eptp, 0x401f_f000, READ).level).toBe(1);
    expect(eptRamRanges(cpu, eptp)).toHaveLength(1);
  });

  it("repeated builds pin each slot view once", () => {
    mmu.build(slots);
    const before = kernel.physPages.size;
    mmu.build(slots);
    mmu.build([...slots].reverse());
    expect(kernel.physPages.size).toBe(before);
  });

  it("free() returns every table page; bad slot sets leave the current tables alone", () => {
    const eptp = mmu.build(slots);
    expect(() => mmu.build([low, { ...low, baseGfn: 0x80 }])).toThrow(RangeError);
    expect(() => mmu.build([{ ...low, npages: 512 }])).toThrow(RangeError);
    expect(mmu.eptp).toBe(eptp);
    expect(eptTranslate(cpu, eptp, 0, READ).status).toBe(EPT_OK);
    mmu.free();
    expect([mmu.eptp, mmu.tablePages]).toEqual([0n, 0]);
    expect(kernel.physBytes(Number(eptp & ~0xfffn), 8)).toBeNull();
    // The guest's memory is the VMM's: still pinned and intact after the tables go.
    expect(kernel.physBytes(kernel.gupPages(low.bytes) * PAGE, 1)).not.toBeNull();
  });

  it("an empty slot list gives a root with nothing mapped", () => {
    const eptp = mmu.build([]);
    expect(mmu.tablePages).toBe(1);
    expect(eptTranslate(cpu, eptp, 0, READ).status).toBe(EPT_VIOLATION);
    expect(eptRamRanges(cpu, eptp)).toEqual([]);
  });
});
