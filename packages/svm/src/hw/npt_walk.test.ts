/**
 * The nested walk over hand-built long-mode tables: 4 KiB, 2 MiB and 1 GiB pages, and the
 * error code of each kind of nested page fault (reference svm.md §6.2).
 */
import { describe, expect, it } from "vitest";
import {
  NPT_ACCESS_FETCH,
  NPT_ACCESS_READ,
  NPT_ACCESS_WRITE,
  nptRamRanges,
  nptTranslate,
  type PhysReader,
} from "./npt_walk.js";

/** Host memory: one 2 MiB buffer of pages at host-physical 0x4000_0000. */
const BASE = 0x4000_0000;
const host = new Uint8Array(2 << 20);
const mem: PhysReader = {
  phys(pa, len) {
    const off = pa - BASE;
    if (off < 0 || off + len > host.length || (off % 4096) + len > 4096) return null;
    return host.subarray(off, off + len);
  },
};
const dv = new DataView(host.buffer);
const set = (pa: number, v: bigint) => dv.setBigUint64(pa - BASE, v, true);

const PML4 = BASE;
const PDPT = BASE + 0x1000;
const PD = BASE + 0x2000;
const PT = BASE + 0x3000;
const DATA = BASE + 0x10_0000; // 1 MiB of frames the tables map
const NCR3 = BigInt(PML4);

set(PML4, BigInt(PDPT) | 7n);
set(PDPT, BigInt(PD) | 7n);
set(PD, BigInt(PT) | 7n); // GPA 0–2 MiB: a page table
// GPA 0x0000–0x3fff: RW, user; 0x4000: read-only; 0x5000: supervisor; 0x6000: NX;
// 0x7000: reserved bit 50; 0x8000: not present.
for (let i = 0; i < 4; i++) set(PT + 8 * i, BigInt(DATA + i * 4096) | 7n);
set(PT + 8 * 4, BigInt(DATA + 0x4000) | 5n);
set(PT + 8 * 5, BigInt(DATA + 0x5000) | 3n);
set(PT + 8 * 6, BigInt(DATA + 0x6000) | 7n | (1n << 63n));
set(PT + 8 * 7, BigInt(DATA + 0x7000) | 7n | (1n << 50n));
// GPA 2–4 MiB: one 2 MiB page at host 0 (unbacked here), GPA 1 GiB: a 1 GiB page.
set(PD + 8, 0x20_0000n | 0x87n);
set(PDPT + 8, 0x8000_0000n | 0x87n);

describe("nptTranslate", () => {
  it("translates through 4 KiB, 2 MiB and 1 GiB pages", () => {
    expect(nptTranslate(mem, NCR3, 0x1234, NPT_ACCESS_WRITE, 48)).toEqual({
      ok: true,
      hpa: DATA + 0x1234,
      errorCode: 0,
    });
    expect(nptTranslate(mem, NCR3, 0x30_0010, NPT_ACCESS_READ, 48).hpa).toBe(0x30_0010);
    expect(nptTranslate(mem, NCR3, 0x4000_0008, NPT_ACCESS_READ, 48).hpa).toBe(0x8000_0008);
  });

  it("reports each fault's error code: not present, write to read-only, supervisor, NX, reserved", () => {
    const ec = (gpa: number, access: number) => nptTranslate(mem, NCR3, gpa, access, 48).errorCode;
    expect(ec(0x8000, NPT_ACCESS_READ)).toBe(0x4); // US
    expect(ec(0x8000, NPT_ACCESS_WRITE)).toBe(0x6); // US | W
    expect(ec(0x4000, NPT_ACCESS_WRITE)).toBe(0x7); // P | W | US
    expect(ec(0x4000, NPT_ACCESS_READ)).toBe(0);
    expect(ec(0x5000, NPT_ACCESS_READ)).toBe(0x5); // P | US: nested accesses are user
    expect(ec(0x6000, NPT_ACCESS_FETCH)).toBe(0x15); // P | US | ID
    expect(ec(0x6000, NPT_ACCESS_READ)).toBe(0);
    expect(ec(0x7000, NPT_ACCESS_READ)).toBe(0xd); // P | US | RSV
    expect(ec(0x7000, NPT_ACCESS_READ) & 8).toBe(8);
    expect(nptTranslate(mem, NCR3, 0x7000, NPT_ACCESS_READ, 52).ok).toBe(true);
    expect(ec(2 ** 48, NPT_ACCESS_READ)).toBe(0x4);
  });
});

describe("nptRamRanges", () => {
  it("merges consecutive frames, splits on permission, leaves out faulting pages", () => {
    const ranges = nptRamRanges(mem, NCR3, 48).map((r) => [r.gpa, r.bytes.length, r.writable]);
    expect(ranges).toEqual([
      [0, 0x4000, true],
      [0x4000, 0x1000, false],
      // 0x5000 (supervisor) left out; 0x6000 (NX) mapped; 0x7000 (reserved) left out.
      [0x6000, 0x1000, true],
    ]);
  });
});
