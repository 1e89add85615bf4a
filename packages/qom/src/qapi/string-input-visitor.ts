/**
 * qapi/string-input-visitor.c: reads a value from its command-line spelling, as
 * `-device x,prop=value`, `-global` and `object_property_parse` do.
 */
import { enumLookup, type InputVisitor, invalidParameterValue } from "./visitor.js";

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

/** `qemu_strtoi64`/`qemu_strtou64` with base 0: decimal, 0x hex, leading-0 octal. */
export function parseCInteger(text: string): bigint | undefined {
  const m = /^\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(text);
  if (!m) return undefined;
  const digits = m[2]!;
  let v: bigint;
  if (/^0[xX]/.test(digits)) v = BigInt(digits);
  else if (digits.length > 1 && digits.startsWith("0")) v = BigInt(`0o${digits.slice(1)}`);
  else v = BigInt(digits);
  return m[1] === "-" ? -v : v;
}

const SIZE_SUFFIX: Record<string, bigint> = {
  "": 1n,
  b: 1n,
  k: 1n << 10n,
  m: 1n << 20n,
  g: 1n << 30n,
  t: 1n << 40n,
  p: 1n << 50n,
  e: 1n << 60n,
};

/** `qemu_strtosz`: a number (hex or decimal, decimal may have a fraction) and a suffix. */
export function parseSize(text: string): bigint | undefined {
  const hex = /^\s*0[xX]([0-9a-fA-F]+)([bBkKmMgGtTpPeE]?)$/.exec(text);
  if (hex) {
    const v = BigInt(`0x${hex[1]}`) * SIZE_SUFFIX[hex[2]!.toLowerCase()]!;
    return v > UINT64_MAX ? undefined : v;
  }
  const dec = /^\s*([0-9]+)(?:\.([0-9]+))?([bBkKmMgGtTpPeE]?)$/.exec(text);
  if (!dec) return undefined;
  const unit = SIZE_SUFFIX[dec[3]!.toLowerCase()]!;
  const frac = dec[2] ?? "";
  if (frac && unit === 1n) return undefined;
  const scale = 10n ** BigInt(frac.length);
  const v = ((BigInt(dec[1]!) * scale + BigInt(frac || "0")) * unit) / scale;
  return v > UINT64_MAX ? undefined : v;
}

export function stringInputVisitorNew(text: string): InputVisitor {
  return {
    typeBool(name) {
      if (["on", "yes", "true", "y"].includes(text)) return true;
      if (["off", "no", "false", "n"].includes(text)) return false;
      throw invalidParameterValue(name, "'on' or 'off'");
    },
    typeStr() {
      return text;
    },
    typeInt64(name) {
      const v = parseCInteger(text);
      if (v === undefined || v < INT64_MIN || v > INT64_MAX) {
        throw invalidParameterValue(name, "int64");
      }
      return v;
    },
    typeUint64(name) {
      const v = parseCInteger(text);
      if (v === undefined || v > UINT64_MAX || v < -UINT64_MAX) {
        throw invalidParameterValue(name, "uint64");
      }
      // strtoull semantics: "-1" wraps to 2^64 - 1.
      return v < 0n ? (1n << 64n) + v : v;
    },
    typeSize(name) {
      const v = parseSize(text);
      if (v === undefined) throw invalidParameterValue(name, "a size value");
      return v;
    },
    typeEnum(name, lookup) {
      return enumLookup(name, lookup, text);
    },
    typeAny() {
      return text;
    },
  };
}
