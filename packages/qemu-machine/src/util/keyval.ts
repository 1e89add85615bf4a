/**
 * util/keyval.c — QEMU's `key=value,...` syntax as a tree, the parser behind `-machine`,
 * `-smp` and (via the machine) `-m`; plus the "keyval" input visitor that reads property
 * values from such a tree (qapi/qobject-input-visitor.c, qobject_input_visitor_new_keyval)
 * and object_set_properties_from_keyval (qom/object_interfaces.c).
 *
 * Grammar (QEMU 10.2):
 *   key-vals     = [ key-val { ',' key-val } [ ',' ] ]
 *   key-val      = key '=' val | help
 *   key          = key-fragment { '.' key-fragment }
 *   key-fragment = QAPI name | decimal index (not first)
 *   val          = { any char but ',' | ',,' }        (',,' is a literal comma)
 *   help         = 'help' | '?'
 * With an implied key the first item may be a bare value (no '=', no ','), meaning
 * `implied-key=value`. Dotted keys build nested dictionaries; a dictionary whose keys are
 * all indexes 0..n-1 becomes a list. The same leaf given twice: the last one wins.
 *
 *   keyvalParse("4,sockets=2", "cpus")  → { cpus: "4", sockets: "2" }
 *   keyvalParse("a.b=1,a.c=x,,y", null) → { a: { b: "1", c: "x,y" } }
 *
 * Leaves are strings; the visitor converts them when a property reads them, reporting
 * QEMU's messages with the full dotted name (`Parameter 'smp.cpus' expects integer`).
 */
import {
  type InputVisitor,
  objectPropertySet,
  type QomObject,
  type QValue,
  qobjectInputVisitorNew,
} from "@glassvm/qom";
import { QemuError } from "../qapi/error.js";
import { qemuStrtoi64, qemuStrtosz, qemuStrtou64 } from "./cutils.js";

/** A parsed value: a string leaf, a dictionary or a list. */
export type KeyvalValue = string | KeyvalDict | KeyvalValue[];
/** A dictionary (QDict) of parsed values; created without a prototype. */
export interface KeyvalDict {
  [key: string]: KeyvalValue;
}

/** An empty dictionary (no prototype, so keys like `constructor` are plain keys). */
export function keyvalDictNew(): KeyvalDict {
  return Object.create(null) as KeyvalDict;
}

const INT_MAX = 0x7fff_ffff;
/** Longest key fragment + 1 (key_in_cur[128]). */
const KEY_FRAGMENT_BUF = 128;

function isDict(v: unknown): v is KeyvalDict {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isAlpha(c: string | undefined): boolean {
  return c !== undefined && /^[A-Za-z]$/.test(c);
}
function isAlnum(c: string | undefined): boolean {
  return c !== undefined && /^[A-Za-z0-9]$/.test(c);
}

/**
 * `parse_qapi_name(str, complete)` (qapi/qapi-util.c): the length of the QAPI name at the
 * start of `s` — an optional downstream prefix `__RFQDN_`, then a letter followed by
 * letters, digits, `-` and `_` — or -1. With `complete`, the name must be all of `s`.
 */
export function parseQapiName(s: string, complete: boolean, start = 0): number {
  let p = start;
  if (s[p] === "_") {
    p++;
    if (s[p] !== "_") return -1;
    p++;
    while (p < s.length && (isAlnum(s[p]) || s[p] === "-" || s[p] === ".")) p++;
    if (s[p] !== "_") return -1;
    p++;
  }
  if (!isAlpha(s[p])) return -1;
  p++;
  while (p < s.length && (isAlnum(s[p]) || s[p] === "-" || s[p] === "_")) p++;
  if (complete && p < s.length) return -1;
  return p - start;
}

/**
 * `key_to_index`: the decimal digits at `s[start]` as a list index (capped at INT_MAX),
 * and where they end; -1 if `s[start]` is not a digit. With `whole`, anything after the
 * digits makes it -1.
 */
function keyToIndex(s: string, start: number, whole: boolean): { index: number; end: number } {
  if (!/[0-9]/.test(s[start] ?? "")) return { index: -1, end: start };
  let end = start;
  while (/[0-9]/.test(s[end] ?? "")) end++;
  if (whole && end < s.length) return { index: -1, end };
  const n = Number(s.slice(start, end));
  return { index: Math.min(n, INT_MAX), end };
}

/** `starts_with_help_option`: 1 for `?…`, 4 for `help…`, else 0. */
function startsWithHelpOption(s: string): number {
  if (s.startsWith("?")) return 1;
  if (s.startsWith("help")) return 4;
  return 0;
}

/** `keyval_parse_put`: make `cur[keyInCur]` a dict (value null) or the string `value`. */
function keyvalParsePut(
  cur: KeyvalDict,
  keyInCur: string,
  value: string | null,
  keyForError: string,
): KeyvalValue {
  const old = cur[keyInCur];
  if (old !== undefined) {
    const wantDict = value === null;
    if (isDict(old) !== wantDict || Array.isArray(old)) {
      throw new QemuError("parse", `Parameters '${keyForError}.*' used inconsistently`, {
        operation: "keyval_parse",
      });
    }
    if (wantDict) return old;
  }
  const created: KeyvalValue = value ?? keyvalDictNew();
  cur[keyInCur] = created;
  return created;
}

/**
 * `keyval_parse_one`: parse one `key=value` (or the implied value, or `help`) at
 * `params[pos]` into `dict`. Returns where the next one starts.
 */
function keyvalParseOne(
  dict: KeyvalDict,
  params: string,
  pos: number,
  impliedKey: string | null,
  help: { value: boolean },
): number {
  let key = params;
  let keyStart = pos;
  let valEnd = -1;
  let len = 0;
  while (pos + len < params.length && params[pos + len] !== "=" && params[pos + len] !== ",") {
    len++;
  }
  let implied = false;
  if (len && params[pos + len] !== "=") {
    if (startsWithHelpOption(params.slice(pos)) === len) {
      help.value = true;
      let s = pos + len;
      if (params[s] === ",") s++;
      return s;
    }
    if (impliedKey !== null) {
      key = impliedKey;
      keyStart = 0;
      valEnd = pos + len;
      len = impliedKey.length;
      implied = true;
    }
  }
  const keyEnd = keyStart + len;
  const fullKey = key.slice(keyStart, keyEnd);

  let cur = dict;
  let s = keyStart;
  let keyInCur = "";
  for (;;) {
    let fragLen: number;
    const idx = s !== keyStart ? keyToIndex(key, s, false) : { index: -1, end: s };
    if (idx.index >= 0) {
      fragLen = idx.end - s;
    } else {
      const r = parseQapiName(key, false, s);
      fragLen = Math.max(r, 0);
    }
    if (!fragLen || (s + fragLen < keyEnd && key[s + fragLen] !== ".")) {
      throw new QemuError("invalid-parameter", `Invalid parameter '${fullKey}'`, {
        operation: "keyval_parse",
      });
    }
    if (fragLen >= KEY_FRAGMENT_BUF) {
      const fragment = s !== keyStart || s + fragLen !== keyEnd ? " fragment" : "";
      throw new QemuError(
        "parse",
        `Parameter${fragment} '${key.slice(s, s + fragLen)}' is too long`,
        { operation: "keyval_parse" },
      );
    }
    if (s !== keyStart) {
      cur = keyvalParsePut(cur, keyInCur, null, key.slice(keyStart, s - 1)) as KeyvalDict;
    }
    keyInCur = key.slice(s, s + fragLen);
    s += fragLen;
    if (key[s] !== ".") break;
    s++;
  }

  let value: string;
  let next: number;
  if (implied) {
    value = params.slice(pos, valEnd);
    next = valEnd;
    if (params[next] === ",") next++;
  } else {
    if (params[s] !== "=") {
      throw new QemuError("parse", `Expected '=' after parameter '${params.slice(keyStart, s)}'`, {
        operation: "keyval_parse",
      });
    }
    s++;
    value = "";
    for (;;) {
      if (s >= params.length) break;
      if (params[s] === ",") {
        s++;
        if (params[s] !== ",") break;
      }
      value += params[s];
      s++;
    }
    next = s;
  }
  keyvalParsePut(cur, keyInCur, value, fullKey);
  return next;
}

/** `keyval_listify`: turn dictionaries keyed 0..n-1 into lists, recursively. */
function keyvalListify(cur: KeyvalDict, keyOfCur: string): KeyvalValue {
  let hasIndex = false;
  let hasMember = false;
  for (const k of Object.keys(cur)) {
    if (keyToIndex(k, 0, true).index >= 0) hasIndex = true;
    else hasMember = true;
    const v = cur[k];
    if (isDict(v)) {
      const listified = keyvalListify(v, `${keyOfCur}${k}.`);
      if (listified !== v) cur[k] = listified;
    }
  }
  if (hasIndex && hasMember) {
    throw new QemuError("parse", `Parameters '${keyOfCur}*' used inconsistently`, {
      operation: "keyval_parse",
    });
  }
  if (!hasIndex) return cur;
  const elements: (KeyvalValue | undefined)[] = [];
  const nelt = Object.keys(cur).length;
  let maxIndex = -1;
  for (const k of Object.keys(cur)) {
    const index = keyToIndex(k, 0, true).index;
    if (index > maxIndex) maxIndex = index;
    if (index < nelt) elements[index] = cur[k];
  }
  const list: KeyvalValue[] = [];
  for (let i = 0; i < Math.min(nelt + 1, maxIndex + 1); i++) {
    const e = elements[i];
    if (e === undefined) {
      throw new QemuError("parse", `Parameter '${keyOfCur}${i}' missing`, {
        operation: "keyval_parse",
      });
    }
    list.push(e);
  }
  return list;
}

/**
 * `keyval_parse_into(qdict, params, implied_key, p_help, errp)`: parse `params` into the
 * existing `dict` (later keys replace earlier leaves). `help` (or `?`) anywhere sets the
 * returned flag; when the caller cannot show help (`acceptHelp` false) it is an error.
 * Throws a QemuError with QEMU's message.
 */
export function keyvalParseInto(
  dict: KeyvalDict,
  params: string,
  impliedKey: string | null,
  acceptHelp = true,
): { dict: KeyvalDict; help: boolean } {
  const help = { value: false };
  let pos = 0;
  let implied = impliedKey;
  while (pos < params.length) {
    pos = keyvalParseOne(dict, params, pos, implied, help);
    implied = null;
  }
  if (help.value && !acceptHelp) {
    throw new QemuError("parse", "Help is not available for this option", {
      operation: "keyval_parse",
    });
  }
  keyvalListify(dict, "");
  return { dict, help: help.value };
}

/** `keyval_parse(params, implied_key, p_help, errp)`: parse into a new dictionary. */
export function keyvalParse(
  params: string,
  impliedKey: string | null,
  acceptHelp = true,
): { dict: KeyvalDict; help: boolean } {
  return keyvalParseInto(keyvalDictNew(), params, impliedKey, acceptHelp);
}

/**
 * `keyval_merge(dest, merged)`: copy `merged` into `dest`; dictionaries merge member by
 * member, lists are appended, strings replace. A key that is a dictionary on one side and
 * not on the other is `Parameter '<path>' used inconsistently`.
 */
export function keyvalMerge(dest: KeyvalDict, merged: KeyvalDict, path = ""): void {
  for (const k of Object.keys(merged)) {
    const value = merged[k]!;
    const old = dest[k];
    if (old !== undefined) {
      const kind = (v: KeyvalValue) => (Array.isArray(v) ? "list" : isDict(v) ? "dict" : "str");
      if (kind(old) !== kind(value)) {
        throw new QemuError("parse", `Parameter '${path}${k}' used inconsistently`, {
          operation: "keyval_merge",
        });
      }
      if (isDict(value)) {
        keyvalMerge(old as KeyvalDict, value, `${path}${k}.`);
        continue;
      }
      if (Array.isArray(value)) {
        (old as KeyvalValue[]).push(...value);
        continue;
      }
    }
    dest[k] = value;
  }
}

// ---------------------------------------------------------------------------
// The keyval input visitor

/** An input visitor that knows the dotted path of what it reads (error messages). */
export interface KeyvalInputVisitor extends InputVisitor {
  /** `full_name`: `name` with the path of the enclosing structs in front. */
  fullName(name: string): string;
  readonly keyval: true;
}

function isKeyvalVisitor(v: InputVisitor): v is KeyvalInputVisitor {
  return (v as Partial<KeyvalInputVisitor>).keyval === true;
}

/** `qapi_bool_parse`: on/yes/true/y and off/no/false/n. */
export function qapiBoolParse(value: string): boolean | undefined {
  if (value === "on" || value === "yes" || value === "true" || value === "y") return true;
  if (value === "off" || value === "no" || value === "false" || value === "n") return false;
  return undefined;
}

function invalidValue(full: string, expected: string): QemuError {
  return new QemuError("invalid-parameter-value", `Parameter '${full}' expects ${expected}`, {
    operation: "qobject_input_visitor",
  });
}

/**
 * `qobject_input_visitor_new_keyval` for one value: `value` is what the tree holds at
 * this position (undefined when absent), `prefix` the dotted path of its parent (`""` at
 * the top, `"smp."` inside -smp). Scalars are parsed from their strings.
 */
export function keyvalInputVisitorNew(value: QValue | undefined, prefix = ""): KeyvalInputVisitor {
  const fullName = (name: string) => prefix + name;
  const keyvalString = (name: string): string => {
    if (value === undefined) {
      throw new QemuError("missing-parameter", `Parameter '${fullName(name)}' is missing`, {
        operation: "qobject_input_visitor",
      });
    }
    if (typeof value === "string") return value;
    if (typeof value === "object" && value !== null) {
      throw new QemuError("parse", `Parameters '${fullName(name)}.*' are unexpected`, {
        operation: "qobject_input_visitor",
      });
    }
    throw new QemuError("generic", `Internal error: parameter ${fullName(name)} invalid`, {
      operation: "qobject_input_visitor",
    });
  };
  return {
    keyval: true,
    fullName,
    typeStr(name) {
      return keyvalString(name);
    },
    typeBool(name) {
      const b = qapiBoolParse(keyvalString(name));
      if (b === undefined) throw invalidValue(fullName(name), "'on' or 'off'");
      return b;
    },
    typeInt64(name) {
      const r = qemuStrtoi64(keyvalString(name), false, 0);
      if (r.ret < 0) throw invalidValue(fullName(name), "integer");
      return r.value;
    },
    typeUint64(name) {
      const r = qemuStrtou64(keyvalString(name), false, 0);
      if (r.ret < 0) throw invalidValue(fullName(name), "integer");
      return r.value;
    },
    typeSize(name) {
      const r = qemuStrtosz(keyvalString(name), false);
      if (r.ret < 0) throw invalidValue(fullName(name), "size");
      return r.value;
    },
    typeEnum(name, lookup) {
      const s = keyvalString(name);
      const index = lookup.indexOf(s);
      if (index < 0) {
        throw new QemuError(
          "invalid-parameter-value",
          `Parameter '${fullName(name)}' does not accept value '${s}'`,
          { operation: "qobject_input_visitor" },
        );
      }
      return index;
    },
    typeAny(name) {
      if (value === undefined) keyvalString(name);
      return value as QValue;
    },
  };
}

/** The members of a struct being visited (visit_start_struct … visit_check_struct). */
export interface StructVisit {
  /** True if the member is present (visit_optional). */
  has(member: string): boolean;
  /** A visitor for one member, of the same kind as the one the struct came from. */
  member(member: string): InputVisitor;
  /** `visit_check_struct`: every member present must have been visited. */
  check(): void;
}

/**
 * `visit_start_struct` on an input visitor: the value at `name` must be a dictionary
 * (`Invalid parameter type for '<name>', expected: object`). Members are read with a
 * keyval visitor if `v` is one, else with QMP's strict visitor.
 */
export function visitStartStruct(v: InputVisitor, name: string): StructVisit {
  const full = isKeyvalVisitor(v) ? v.fullName(name) : name;
  const value = v.typeAny(name);
  if (!isDict(value)) {
    throw new QemuError(
      "invalid-parameter-type",
      `Invalid parameter type for '${full}', expected: object`,
      { operation: "visit_start_struct" },
    );
  }
  const dict = value as Readonly<Record<string, QValue>>;
  const visited = new Set<string>();
  const keyval = isKeyvalVisitor(v);
  return {
    has: (m) => Object.hasOwn(dict, m),
    member(m) {
      visited.add(m);
      const mv = Object.hasOwn(dict, m) ? dict[m] : undefined;
      return keyval ? keyvalInputVisitorNew(mv, `${full}.`) : qobjectInputVisitorNew(mv ?? null);
    },
    check() {
      for (const k of Object.keys(dict)) {
        if (!visited.has(k)) {
          throw new QemuError("invalid-parameter", `Parameter '${full}.${k}' is unexpected`, {
            operation: "visit_check_struct",
          });
        }
      }
    },
  };
}

/**
 * `object_set_properties_from_keyval(obj, qdict, from_json, errp)`: set each key of
 * `dict` as a property of `obj`, in order; the first failure is thrown (an unknown key is
 * QOM's `Property '<type>.<key>' not found`).
 */
export function objectSetPropertiesFromKeyval(
  obj: QomObject,
  dict: Readonly<Record<string, QValue>>,
  fromJson = false,
): void {
  for (const key of Object.keys(dict)) {
    const value = dict[key]!;
    objectPropertySet(
      obj,
      key,
      fromJson ? qobjectInputVisitorNew(value) : keyvalInputVisitorNew(value, ""),
    );
  }
}
