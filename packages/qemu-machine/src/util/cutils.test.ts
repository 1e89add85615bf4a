import { EINVAL, ERANGE } from "@glassvm/kvm-kernel/uapi";
import { describe, expect, it } from "vitest";
import {
  parseUint,
  qemuStrtoi64,
  qemuStrtosz,
  qemuStrtoszMetric,
  qemuStrtoszMiB,
  qemuStrtou64,
} from "./cutils.js";

const KiB = 1024n;
const MiB = KiB * KiB;
const GiB = MiB * KiB;
const EiB = GiB * GiB;

describe("qemu_strtosz", () => {
  it.each([
    ["0", 0n],
    ["12345", 12345n],
    ["1B", 1n],
    ["1b", 1n],
    ["1K", KiB],
    ["1k", KiB],
    ["512M", 512n * MiB],
    ["1G", GiB],
    ["1g", GiB],
    ["2T", 2n * GiB * KiB],
    ["1P", GiB * MiB],
    ["8E", 8n * EiB],
    ["1.5G", GiB + GiB / 2n],
    ["12.345M", 12944671n], // 12.345 MiB, rounded half up
    ["0.1M", 104858n],
    ["1.k", KiB],
    [".5K", 512n],
    ["0x10", 16n],
    ["0X1f", 31n],
    ["0x1B", 27n], // B is a hex digit here, not the byte suffix
    [" 1G", GiB],
    ["18446744073709550591", (1n << 64n) - 1025n],
  ])("%s", (text, value) => {
    const r = qemuStrtosz(text);
    expect(r).toEqual({ ret: 0, value, end: text.length });
  });

  it.each([
    ["", -EINVAL],
    ["foo", -EINVAL],
    ["1.5", -EINVAL], // a fraction needs a suffix
    ["0.5B", -EINVAL],
    ["0x100M", -EINVAL], // hex takes no suffix
    ["0x1.8G", -EINVAL],
    ["0x", -EINVAL],
    ["12x", -EINVAL],
    ["1G1", -EINVAL],
    ["1.5e3G", -EINVAL], // e is the exabyte suffix, then junk
    ["-1", -ERANGE],
    ["-.5", -ERANGE],
    ["-.5K", -EINVAL], // ERANGE at the sign, then junk (the suffix is never reached)
    ["-1M", -EINVAL], // ERANGE before the suffix, then junk after it
    ["16E", -ERANGE],
    ["15.9999999999999999999E", -ERANGE], // the fraction is 1.0 as a double: 16 EiB
    ["18446744073709551616", -ERANGE],
    ["99999999999999999999", -ERANGE],
  ])("%s fails", (text, ret) => {
    const r = qemuStrtosz(text);
    expect(r.ret).toBe(ret);
    expect(r.value).toBe(0n);
  });

  it("reports where it stopped when asked", () => {
    expect(qemuStrtosz("12M,slots=2", true)).toEqual({ ret: 0, value: 12n * MiB, end: 3 });
    expect(qemuStrtosz("foo", true)).toEqual({ ret: -EINVAL, value: 0n, end: 0 });
  });

  it("qemu_strtosz_MiB defaults to MiB and qemu_strtosz_metric to 1000s", () => {
    expect(qemuStrtoszMiB("512").value).toBe(512n * MiB);
    expect(qemuStrtoszMiB("1G").value).toBe(GiB);
    expect(qemuStrtoszMetric("1k").value).toBe(1000n);
    expect(qemuStrtoszMetric("2.5G").value).toBe(2_500_000_000n);
  });
});

describe("integer parsers", () => {
  it("qemu_strtou64: base 0, wraps negatives, rejects junk", () => {
    expect(qemuStrtou64("42").value).toBe(42n);
    expect(qemuStrtou64("0x10").value).toBe(16n);
    expect(qemuStrtou64("010").value).toBe(8n);
    expect(qemuStrtou64("-1").value).toBe((1n << 64n) - 1n);
    expect(qemuStrtou64("x").ret).toBe(-EINVAL);
    expect(qemuStrtou64("").ret).toBe(-EINVAL);
    expect(qemuStrtou64("4x").ret).toBe(-EINVAL);
    expect(qemuStrtou64("4x", true)).toEqual({ ret: 0, value: 4n, end: 1 });
    expect(qemuStrtou64("18446744073709551616").ret).toBe(-ERANGE);
  });

  it("qemu_strtoi64 clamps", () => {
    expect(qemuStrtoi64("-5").value).toBe(-5n);
    const big = qemuStrtoi64("9223372036854775808");
    expect(big.ret).toBe(-ERANGE);
    expect(big.value).toBe((1n << 63n) - 1n);
  });

  it("parse_uint refuses negatives", () => {
    expect(parseUint("-5").ret).toBe(-ERANGE);
    expect(parseUint(" 7", false, 10).value).toBe(7n);
  });
});
