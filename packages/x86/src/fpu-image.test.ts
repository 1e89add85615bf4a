import { describe, expect, it } from "vitest";
import { FpuState, MXCSR_MASK } from "./fpu.js";

describe("FpuState FXSAVE image (64-bit layout)", () => {
  it("puts each field at its offset and reads the same state back", () => {
    const a = new FpuState();
    a.fcw = 0x027f;
    a.fsw = 0x3800;
    a.ftw = 0x81;
    a.fop = 0x7ff;
    a.fip = 0x1234_5678;
    a.fipHi = 0x9;
    a.fdp = 0x0abc_def0;
    a.fdpHi = 0x7;
    a.mxcsr = 0x9fc0;
    for (let i = 0; i < a.stRegs.length; i++) a.stRegs[i] = i + 1;
    for (let i = 0; i < a.xmm8.length; i++) a.xmm8[i] = 255 - i;
    const fx = new Uint8Array(512);
    a.saveImage(fx);
    const v = new DataView(fx.buffer);
    expect([v.getUint16(0, true), v.getUint16(2, true), fx[4], v.getUint16(6, true)]).toEqual([
      0x027f, 0x3800, 0x81, 0x7ff,
    ]);
    expect([v.getUint32(8, true), v.getUint32(24, true), v.getUint32(28, true)]).toEqual([
      0x1234_5678,
      0x9fc0,
      MXCSR_MASK,
    ]);
    expect(Array.from(fx.subarray(48, 58))).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    expect(fx[160]).toBe(255);
    const b = new FpuState();
    b.restoreImage(fx);
    for (const k of [
      "fcw",
      "fsw",
      "ftw",
      "fop",
      "fip",
      "fipHi",
      "fdp",
      "fdpHi",
      "mxcsr",
    ] as const) {
      expect(b[k], k).toBe(a[k]);
    }
    expect(b.stRegs).toEqual(a.stRegs);
    expect(b.xmm8).toEqual(a.xmm8);
  });
});
