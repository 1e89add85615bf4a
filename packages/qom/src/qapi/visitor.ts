/**
 * The input side of QAPI visitors (qapi/qapi-visit-core.c). A property setter reads
 * its value through a visitor, so the same setter serves QMP (`qom-set`, strict JSON
 * types) and the command line (`-device x,prop=str`, parsed strings) and each reports
 * its own errors as QEMU does.
 */
import { QomError } from "./error.js";
import type { QValue } from "./qobject.js";

export interface InputVisitor {
  typeBool(name: string): boolean;
  typeStr(name: string): string;
  typeInt64(name: string): bigint;
  typeUint64(name: string): bigint;
  /** `qemu_strtosz` suffixes on string input. */
  typeSize(name: string): bigint;
  /** Index of the value in `lookup` (QEnumLookup). */
  typeEnum(name: string, lookup: readonly string[]): number;
  typeAny(name: string): QValue;
}

export type IntWidth = 8 | 16 | 32;

/** `visit_type_intN`: read an int64 and check the range of the narrower C type. */
export function visitTypeIntN(v: InputVisitor, name: string, bits: IntWidth): number {
  const value = v.typeInt64(name);
  const max = (1n << BigInt(bits - 1)) - 1n;
  if (value < -max - 1n || value > max) {
    throw invalidParameterValue(name, `int${bits}_t`);
  }
  return Number(value);
}

/** `visit_type_uintN`: read a uint64 and check the range of the narrower C type. */
export function visitTypeUintN(v: InputVisitor, name: string, bits: IntWidth): number {
  const value = v.typeUint64(name);
  if (value > (1n << BigInt(bits)) - 1n) {
    throw invalidParameterValue(name, `uint${bits}_t`);
  }
  return Number(value);
}

/** QERR_INVALID_PARAMETER_VALUE: "Parameter '%s' expects %s". */
export function invalidParameterValue(name: string, expected: string): QomError {
  return new QomError("invalid-parameter-value", `Parameter '${name}' expects ${expected}`);
}

/** QERR_INVALID_PARAMETER_TYPE: "Invalid parameter type for '%s', expected: %s". */
export function invalidParameterType(name: string, expected: string): QomError {
  return new QomError(
    "invalid-parameter-type",
    `Invalid parameter type for '${name}', expected: ${expected}`,
  );
}

/** `visit_type_enum` on input: a name that is not in the lookup table. */
export function enumLookup(name: string, lookup: readonly string[], value: string): number {
  const index = lookup.indexOf(value);
  if (index < 0) {
    throw new QomError(
      "invalid-parameter-value",
      `Parameter '${name}' does not accept value '${value}'`,
    );
  }
  return index;
}
