import { describe, expect, it } from "vitest";
import { parseCInteger, parseSize, stringInputVisitorNew } from "./string-input-visitor.js";

describe("string input visitor", () => {
  it("parses integers with C base detection", () => {
    expect(parseCInteger("42")).toBe(42n);
    expect(parseCInteger("0x2A")).toBe(42n);
    expect(parseCInteger("052")).toBe(42n);
    expect(parseCInteger("0")).toBe(0n);
    expect(parseCInteger("-7")).toBe(-7n);
    expect(parseCInteger("12abc")).toBeUndefined();
    expect(parseCInteger("")).toBeUndefined();
    expect(parseCInteger("09")).toBeUndefined();
  });

  it("parses sizes with qemu_strtosz suffixes", () => {
    expect(parseSize("64M")).toBe(64n << 20n);
    expect(parseSize("64m")).toBe(64n << 20n);
    expect(parseSize("4096")).toBe(4096n);
    expect(parseSize("1.5G")).toBe(3n << 29n);
    expect(parseSize("0x1000")).toBe(4096n);
    expect(parseSize("1.5")).toBeUndefined();
    expect(parseSize("16E")).toBeUndefined();
  });

  it("wraps a negative uint64 as strtoull does and rejects int64 overflow", () => {
    expect(stringInputVisitorNew("-1").typeUint64("x")).toBe((1n << 64n) - 1n);
    expect(() => stringInputVisitorNew("0x8000000000000000").typeInt64("x")).toThrow(
      "Parameter 'x' expects int64",
    );
  });
});
