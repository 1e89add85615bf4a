/**
 * util/cutils.c — QEMU's number parsers, with libc's strtoull/strtoll/strtod behaviour
 * they build on, and QEMU's errors: 0, -EINVAL (not a number, or junk after it when the
 * caller wants the whole string) or -ERANGE (does not fit).
 *
 * Sizes (`qemu_strtosz`): a decimal integer, a decimal fraction followed by a suffix, or a
 * hex integer without suffix; suffixes B, K, M, G, T, P, E in either case (powers of 1024,
 * or of 1000 for the metric variant); a fraction is kept in 64.64 fixed point and the
 * result rounded half up, as QEMU does.
 *
 *   qemuStrtosz("1.5G")   → { ret: 0, value: 1610612736n, … }
 *   qemuStrtosz("0x100M") → { ret: -EINVAL, … }   (hex takes no suffix)
 *   qemuStrtosz("-1")     → { ret: -ERANGE, … }
 *
 * 64-bit results are `bigint`. `end` is the index just past what was parsed.
 */
import { EINVAL, ERANGE } from "@glassvm/kvm-kernel/uapi";

const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

/** Result of a parse: `ret` is 0, -EINVAL or -ERANGE; `end` indexes the rest of the text. */
export interface ParseResult<T> {
  readonly ret: number;
  readonly value: T;
  readonly end: number;
}

/** C's isspace in the "C" locale (qemu_isspace). */
export function qemuIsspace(c: string | undefined): boolean {
  return c === " " || c === "\t" || c === "\n" || c === "\v" || c === "\f" || c === "\r";
}

function digitValue(c: string | undefined): number {
  if (c === undefined) return 99;
  const code = c.charCodeAt(0);
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 122) return code - 87;
  if (code >= 65 && code <= 90) return code - 55;
  return 99;
}

interface LibcInteger {
  /** The magnitude read (before applying the sign), capped at 2^64. */
  magnitude: bigint;
  negative: boolean;
  /** Index after the number; equals `start` when nothing was converted. */
  end: number;
  overflow: boolean;
}

/** The scanner shared by strtoull and strtoll (glibc's ____strtoul_l_internal). */
function scanInteger(s: string, start: number, base: number): LibcInteger {
  let i = start;
  while (qemuIsspace(s[i])) i++;
  let negative = false;
  if (s[i] === "+" || s[i] === "-") {
    negative = s[i] === "-";
    i++;
  }
  const hexPrefix = (s[i] === "0" && (s[i + 1] === "x" || s[i + 1] === "X")) as boolean;
  if (base === 0) {
    if (hexPrefix && digitValue(s[i + 2]) < 16) base = 16;
    else if (s[i] === "0") base = 8;
    else base = 10;
  }
  if (base === 16 && hexPrefix && digitValue(s[i + 2]) < 16) i += 2;
  const first = i;
  let magnitude = 0n;
  let overflow = false;
  const b = BigInt(base);
  while (digitValue(s[i]) < base) {
    if (!overflow) {
      magnitude = magnitude * b + BigInt(digitValue(s[i]));
      if (magnitude > UINT64_MAX) overflow = true;
    }
    i++;
  }
  if (i === first) return { magnitude: 0n, negative: false, end: start, overflow: false };
  return { magnitude, negative, end: i, overflow };
}

/** strtoull(3): negative input wraps; too large gives ULLONG_MAX and ERANGE. */
function strtoull(s: string, start: number, base: number): ParseResult<bigint> {
  const r = scanInteger(s, start, base);
  if (r.overflow) return { ret: -ERANGE, value: UINT64_MAX, end: r.end };
  const v = r.negative && r.magnitude !== 0n ? (1n << 64n) - r.magnitude : r.magnitude;
  return { ret: 0, value: v, end: r.end };
}

/** strtoll(3): out of range clamps to LLONG_MIN/LLONG_MAX with ERANGE. */
function strtoll(s: string, start: number, base: number): ParseResult<bigint> {
  const r = scanInteger(s, start, base);
  const v = r.negative ? -r.magnitude : r.magnitude;
  if (r.overflow || v > INT64_MAX) {
    return { ret: -ERANGE, value: r.negative ? INT64_MIN : INT64_MAX, end: r.end };
  }
  if (v < INT64_MIN) return { ret: -ERANGE, value: INT64_MIN, end: r.end };
  return { ret: 0, value: v, end: r.end };
}

/**
 * check_strtox_error: nothing converted → -EINVAL; junk after the number when the caller
 * did not ask for the end → -EINVAL; else libc's errno.
 */
function checkStrtoxError<T>(s: string, r: ParseResult<T>, wantEnd: boolean): ParseResult<T> {
  if (r.end === 0) return { ret: -EINVAL, value: r.value, end: 0 };
  if (!wantEnd && r.end < s.length) return { ret: -EINVAL, value: r.value, end: r.end };
  return r;
}

/**
 * `qemu_strtou64(nptr, endptr, base, &result)`: strtoull with QEMU's error rules. With
 * `wantEnd` false (endptr NULL) the whole string must be the number.
 */
export function qemuStrtou64(nptr: string, wantEnd = false, base = 0): ParseResult<bigint> {
  return checkStrtoxError(nptr, strtoull(nptr, 0, base), wantEnd);
}

/** `qemu_strtoi64`: strtoll with QEMU's error rules. */
export function qemuStrtoi64(nptr: string, wantEnd = false, base = 0): ParseResult<bigint> {
  return checkStrtoxError(nptr, strtoll(nptr, 0, base), wantEnd);
}

/**
 * `parse_uint`: like strtoull but a leading `-` is -ERANGE (value 0) instead of wrapping;
 * nothing converted is -EINVAL.
 */
export function parseUint(s: string, wantEnd = false, base = 0): ParseResult<bigint> {
  const r = strtoull(s, 0, base);
  let out: ParseResult<bigint>;
  if (r.ret) out = r;
  else if (r.end === 0) out = { ret: -EINVAL, value: 0n, end: 0 };
  else {
    let i = 0;
    while (qemuIsspace(s[i])) i++;
    out = s[i] === "-" ? { ret: -ERANGE, value: 0n, end: r.end } : r;
  }
  if (!wantEnd && out.end < s.length) return { ret: -EINVAL, value: 0n, end: out.end };
  return out;
}

/**
 * strtod(3) on decimal text as QEMU's size parser meets it (no exponent: the caller
 * removed every `e`): leading blanks, a sign, digits with one optional point. `inf` and
 * `nan` spellings never reach a finite result and count as no conversion here, which is
 * what qemu_strtod_finite makes of them. ERANGE for an underflow to zero of a non-zero
 * fraction.
 */
function strtodFinite(s: string): ParseResult<number> {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d+\.?\d*|\.\d+)/.exec(s);
  if (!m) return { ret: -EINVAL, value: 0, end: 0 };
  const v = Number(`${m[1]}${m[2]}`);
  const nonZero = /[1-9]/.test(m[2]!);
  if (nonZero && Math.abs(v) < 2.2250738585072014e-308) {
    return { ret: -ERANGE, value: v, end: m[0].length };
  }
  return { ret: 0, value: v, end: m[0].length };
}

/** `suffix_mul`: the multiplier of a size suffix, or -1. */
function suffixMul(c: string | undefined, unit: bigint): bigint {
  switch (c?.toUpperCase()) {
    case "B":
      return 1n;
    case "K":
      return unit;
    case "M":
      return unit ** 2n;
    case "G":
      return unit ** 3n;
    case "T":
      return unit ** 4n;
    case "P":
      return unit ** 5n;
    case "E":
      return unit ** 6n;
    default:
      return -1n;
  }
}

/** `do_strtosz(nptr, end, default_suffix, unit, result)`. */
function doStrtosz(
  nptr: string,
  wantEnd: boolean,
  defaultSuffix: string,
  unit: bigint,
): ParseResult<bigint> {
  let endptr: number;
  let val: bigint;
  let valf = 0n;
  let retval: number;

  const finish = (): ParseResult<bigint> => {
    if (!wantEnd && endptr < nptr.length) retval = -EINVAL;
    if (retval === 0) return { ret: 0, value: val, end: endptr };
    return { ret: retval, value: 0n, end: wantEnd && retval === -EINVAL ? 0 : endptr };
  };

  const integral = parseUint(nptr, true, 10);
  retval = integral.ret;
  val = integral.value;
  endptr = integral.end;
  if (retval === -ERANGE) return finish();

  if (retval === 0 && val === 0n && (nptr[endptr] === "x" || nptr[endptr] === "X")) {
    // Hex: reparse in base 16; no fraction and no suffix allowed.
    const hex = qemuStrtou64(nptr, true, 16);
    retval = hex.ret;
    val = hex.value;
    endptr = hex.end;
    if (retval) return finish();
    if (nptr[endptr] === "." || suffixMul(nptr[endptr], unit) > 0n) {
      endptr = 0;
      retval = -EINVAL;
      return finish();
    }
  } else if (nptr[endptr] === "." || (endptr === 0 && nptr.includes("."))) {
    // A fraction: kept as 64.64 fixed point. `e` is a suffix here, not an exponent.
    let fraction = 0;
    if (retval === 0 && nptr[endptr] === "." && !/[0-9]/.test(nptr[endptr + 1] ?? "")) {
      endptr++;
    } else {
      const copy = nptr.slice(endptr).split(/[eE]/)[0]!;
      const f = strtodFinite(copy);
      retval = f.ret;
      fraction = f.value;
      endptr += f.end;
      if (Object.is(fraction, -0) || fraction < 0) {
        retval = -ERANGE;
        return finish();
      }
    }
    if (fraction === 1.0) {
      if (val === UINT64_MAX) {
        retval = -ERANGE;
        return finish();
      }
      val++;
    } else if (retval === -ERANGE) {
      valf = 1n;
      retval = 0;
    } else {
      // fraction · 2^64 is exact in a double; truncate like the C cast.
      valf = BigInt(Math.trunc(fraction * 2 ** 64));
      if (valf === 0n && fraction > 0) valf = 1n;
    }
  }
  if (retval) return finish();

  let mul = suffixMul(nptr[endptr], unit);
  if (mul > 0n) endptr++;
  else mul = suffixMul(defaultSuffix, unit);

  if (mul === 1n) {
    if (valf !== 0n) {
      endptr = 0;
      retval = -EINVAL;
      return finish();
    }
  } else {
    const frac = valf * mul;
    const round = (frac & UINT64_MAX) >> 63n;
    const total = val * mul + (frac >> 64n) + round;
    if (total > UINT64_MAX) {
      retval = -ERANGE;
      return finish();
    }
    val = total;
  }
  retval = 0;
  return finish();
}

/** `qemu_strtosz`: a size in bytes; no suffix means bytes; K = 1024. */
export function qemuStrtosz(nptr: string, wantEnd = false): ParseResult<bigint> {
  return doStrtosz(nptr, wantEnd, "B", 1024n);
}

/** `qemu_strtosz_MiB`: like qemuStrtosz, but no suffix means MiB. */
export function qemuStrtoszMiB(nptr: string, wantEnd = false): ParseResult<bigint> {
  return doStrtosz(nptr, wantEnd, "M", 1024n);
}

/** `qemu_strtosz_metric`: K = 1000 (frequencies such as `tsc-freq`). */
export function qemuStrtoszMetric(nptr: string, wantEnd = false): ParseResult<bigint> {
  return doStrtosz(nptr, wantEnd, "B", 1000n);
}
