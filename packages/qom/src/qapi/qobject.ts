/**
 * QObject (qobject/): the dynamically typed values QMP and the visitors carry.
 * QNum holds any int64/uint64; it is a `number` while that is exact and a `bigint`
 * beyond 2^53, so values round-trip without loss.
 */
export type QNum = number | bigint;
export type QValue = null | boolean | QNum | string | readonly QValue[] | QDict;
export interface QDict {
  readonly [key: string]: QValue;
}

/** A `bigint` as a QNum: a `number` when exact, else the `bigint` itself. */
export function qnumFromBigint(v: bigint): QNum {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(v)
    : v;
}

/** True for an integral QNum (a `bigint`, or an integer-valued `number`). */
export function qnumIsInteger(v: unknown): v is QNum {
  return typeof v === "bigint" || (typeof v === "number" && Number.isInteger(v));
}
