import { describe, expect, it } from "vitest";
import {
  _IO,
  _IOC,
  _IOC_DIR,
  _IOC_NONE,
  _IOC_NR,
  _IOC_READ,
  _IOC_SIZE,
  _IOC_TYPE,
  _IOC_WRITE,
  _IOR,
  _IOW,
  _IOWR,
} from "./ioctl.js";

describe("asm-generic ioctl encoding (§1)", () => {
  it("direction values", () => {
    expect([_IOC_NONE, _IOC_WRITE, _IOC_READ]).toEqual([0, 1, 2]);
  });

  it("packs DIR<<30 | SIZE<<16 | TYPE<<8 | NR as an unsigned 32-bit number", () => {
    expect(_IOC(3, 0xae, 0x02, 4)).toBe(0xc004ae02);
    expect(_IO(0xae, 0x80)).toBe(0x0000ae80);
    expect(_IOR(0xae, 0x81, 144)).toBe(0x8090ae81);
    expect(_IOW(0xae, 0x82, 144)).toBe(0x4090ae82);
    expect(_IOWR(0xae, 0x85, 24)).toBe(0xc018ae85);
    expect(_IOR(0xae, 0xa4, 4096)).toBe(0x9000aea4);
    expect(_IOWR(0xff, 0xff, 0x3fff)).toBe(0xffffffff);
    expect(_IOWR(0xae, 0x02, 4)).toBeGreaterThan(0);
  });

  it("unpacks the four fields", () => {
    const req = 0xc008ae05; // KVM_GET_SUPPORTED_CPUID
    expect(_IOC_DIR(req)).toBe(_IOC_READ | _IOC_WRITE);
    expect(_IOC_TYPE(req)).toBe(0xae);
    expect(_IOC_NR(req)).toBe(0x05);
    expect(_IOC_SIZE(req)).toBe(8);
    // a request read back as a signed int32 decodes the same
    expect(_IOC_DIR(req | 0)).toBe(3);
    expect(_IOC_SIZE(0x8208ae63)).toBe(520);
    expect(_IOC_DIR(0x0000ae80)).toBe(_IOC_NONE);
  });

  it("round-trips every direction and size extreme", () => {
    for (const dir of [0, 1, 2, 3]) {
      for (const size of [0, 1, 0x2000, 0x3fff]) {
        const req = _IOC(dir, 0x12, 0x34, size);
        expect([_IOC_DIR(req), _IOC_TYPE(req), _IOC_NR(req), _IOC_SIZE(req)]).toEqual([
          dir,
          0x12,
          0x34,
          size,
        ]);
      }
    }
  });

  it("rejects fields that do not fit", () => {
    expect(() => _IOC(4, 0xae, 0, 0)).toThrow(RangeError);
    expect(() => _IOW(0x100, 0, 0)).toThrow(RangeError);
    expect(() => _IO(0xae, 256)).toThrow(RangeError);
    expect(() => _IOR(0xae, 0, 0x4000)).toThrow(RangeError);
    expect(() => _IOR(0xae, 0, -1)).toThrow(RangeError);
    expect(() => _IOR(0xae, 0, 1.5)).toThrow(RangeError);
  });
});
