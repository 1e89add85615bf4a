/**
 * qapi/qobject-input-visitor.c: reads one QObject with QMP's strict typing (a JSON
 * boolean for a bool, a JSON number for an integer …). Used by `qom-set` and by the
 * typed `object_property_set_*` helpers.
 */

import type { QValue } from "./qobject.js";
import {
  enumLookup,
  type InputVisitor,
  invalidParameterType,
  invalidParameterValue,
} from "./visitor.js";

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

function toBigint(v: QValue): bigint | undefined {
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
  return undefined;
}

export function qobjectInputVisitorNew(value: QValue): InputVisitor {
  return {
    typeBool(name) {
      if (typeof value !== "boolean") throw invalidParameterType(name, "boolean");
      return value;
    },
    typeStr(name) {
      if (typeof value !== "string") throw invalidParameterType(name, "string");
      return value;
    },
    typeInt64(name) {
      const n = toBigint(value);
      if (n === undefined || n < INT64_MIN || n > INT64_MAX) {
        throw invalidParameterType(name, "integer");
      }
      return n;
    },
    typeUint64(name) {
      const n = toBigint(value);
      if (n === undefined) throw invalidParameterType(name, "integer");
      // QNum holds int64 or uint64: a negative int64 reads as its two's complement.
      if (n < INT64_MIN || n > UINT64_MAX) throw invalidParameterValue(name, "uint64");
      return n < 0n ? n + (1n << 64n) : n;
    },
    typeSize(name) {
      return this.typeUint64(name);
    },
    typeEnum(name, lookup) {
      if (typeof value !== "string") throw invalidParameterType(name, "string");
      return enumLookup(name, lookup, value);
    },
    typeAny() {
      return value;
    },
  };
}
