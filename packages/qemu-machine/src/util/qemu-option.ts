/**
 * util/qemu-option.c — QemuOpts, the older `key=value,...` option store behind `-m`,
 * `-accel`, `-device`, `-chardev`, `-name`, `-trace`.
 *
 * A QemuOptsList describes one option group: its name, the implied name of a bare first
 * value (`-m 512` is `size=512`), whether repeated uses merge into one QemuOpts (`-m`),
 * and the typed keys it knows (an empty list accepts any key, checked later by whoever
 * consumes them). Each use of the option becomes a QemuOpts: an optional `id`, the
 * location of the option on the command line (for later messages), and its settings in
 * order; a key given twice keeps both, and the last one wins when read.
 *
 * Syntax: `key=value` pairs separated by `,`; `,,` is a literal comma in a value; a bare
 * `key` is `key=on` and a bare `nokey` is `key=off` (both deprecated, with a warning);
 * `help` or `?` asks for the list of keys.
 *
 *   const mem = qemuOptsListNew("memory", "size", true, [{ name: "size", type: "size" }, …]);
 *   qemuOptsParse(mem, "1G,slots=2", true);   // size=1G (1073741824), slots=2
 */
import { ERANGE } from "@glassvm/kvm-kernel/uapi";
import { errorReportErr, QemuError } from "../qapi/error.js";
import { qemuStrtosz, qemuStrtou64 } from "./cutils.js";
import {
  errorPrintf,
  type Location,
  locNew,
  locPop,
  locPushNone,
  locRestore,
  locSave,
  qemuPrintf,
  warnReport,
} from "./error-report.js";
import { type KeyvalDict, keyvalDictNew, qapiBoolParse } from "./keyval.js";

/** `enum QemuOptType`. */
export type QemuOptType = "string" | "bool" | "number" | "size";

/** `QemuOptDesc`: one key an option group accepts. */
export interface QemuOptDesc {
  readonly name: string;
  readonly type: QemuOptType;
  readonly help?: string;
  /** Returned by qemuOptGet when the key was not given. */
  readonly defValueStr?: string;
}

/** `QemuOptsList`: an option group and every QemuOpts created for it. */
export interface QemuOptsList {
  readonly name: string;
  readonly impliedOptName: string | null;
  readonly mergeLists: boolean;
  /** Empty: any key is accepted (opts_accepts_any). */
  readonly desc: readonly QemuOptDesc[];
  readonly head: QemuOpts[];
}

/** `QemuOpt`: one `key=value` as given, plus its parsed value. */
export interface QemuOpt {
  readonly name: string;
  readonly str: string;
  readonly desc: QemuOptDesc | null;
  /** Parsed value for bool keys. */
  boolean: boolean;
  /** Parsed value for number and size keys. */
  uint: bigint;
}

/** `QemuOpts`: one use of an option. */
export interface QemuOpts {
  readonly id: string | null;
  readonly list: QemuOptsList;
  /** Where on the command line it came from (error messages about it later). */
  readonly loc: Location;
  readonly head: QemuOpt[];
}

/** A new option group. */
export function qemuOptsListNew(
  name: string,
  impliedOptName: string | null,
  mergeLists: boolean,
  desc: readonly QemuOptDesc[],
): QemuOptsList {
  return { name, impliedOptName, mergeLists, desc, head: [] };
}

function optsAcceptsAny(list: QemuOptsList): boolean {
  return list.desc.length === 0;
}

function findDescByName(desc: readonly QemuOptDesc[], name: string): QemuOptDesc | null {
  return desc.find((d) => d.name === name) ?? null;
}

/** `id_wellformed`: a letter, then letters, digits, `-`, `.` and `_`. */
export function idWellformed(id: string): boolean {
  return /^[A-Za-z][A-Za-z0-9\-._]*$/.test(id);
}

/** `qemu_opts_find`: the QemuOpts with this id (null: the one without id). */
export function qemuOptsFind(list: QemuOptsList, id: string | null): QemuOpts | null {
  for (const opts of list.head) {
    if (opts.id === id) return opts;
  }
  return null;
}

/**
 * `qemu_opts_create(list, id, fail_if_exists)`: a new QemuOpts at the end of the list,
 * remembering the current location; for merging lists the existing one is reused.
 */
export function qemuOptsCreate(
  list: QemuOptsList,
  id: string | null,
  failIfExists: boolean,
): QemuOpts {
  if (list.mergeLists) {
    if (id !== null) {
      throw new QemuError("invalid-parameter", "Invalid parameter 'id'", {
        operation: "qemu_opts_create",
      });
    }
    const existing = qemuOptsFind(list, null);
    if (existing) return existing;
  } else if (id !== null) {
    if (!idWellformed(id)) {
      throw new QemuError("invalid-parameter-value", "Parameter 'id' expects an identifier", {
        hint: "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.\n",
        operation: "qemu_opts_create",
      });
    }
    if (qemuOptsFind(list, id)) {
      if (!failIfExists) throw new Error("qemu_opts_create: fail_if_exists must be set");
      throw new QemuError("duplicate-id", `Duplicate ID '${id}' for ${list.name}`, {
        operation: "qemu_opts_create",
      });
    }
  }
  const opts: QemuOpts = { id, list, loc: locSave(locNew()), head: [] };
  list.head.push(opts);
  return opts;
}

/** `qemu_opts_del`. */
export function qemuOptsDel(opts: QemuOpts): void {
  const i = opts.list.head.indexOf(opts);
  if (i >= 0) opts.list.head.splice(i, 1);
}

/** `qemu_opts_id`. */
export function qemuOptsId(opts: QemuOpts): string | null {
  return opts.id;
}

/** `qemu_opt_find`: the last setting of `name` (later settings win). */
function qemuOptFind(opts: QemuOpts, name: string): QemuOpt | null {
  for (let i = opts.head.length - 1; i >= 0; i--) {
    if (opts.head[i]!.name === name) return opts.head[i]!;
  }
  return null;
}

/** `qemu_opt_get`: the string value of `name`, its default, or null. */
export function qemuOptGet(opts: QemuOpts | null, name: string): string | null {
  if (!opts) return null;
  const opt = qemuOptFind(opts, name);
  if (opt) return opt.str;
  return findDescByName(opts.list.desc, name)?.defValueStr ?? null;
}

/** `qemu_opt_has_help_opt`: was `help` (or `?`) given as a key? */
export function qemuOptHasHelpOpt(opts: QemuOpts): boolean {
  for (let i = opts.head.length - 1; i >= 0; i--) {
    const n = opts.head[i]!.name;
    if (n === "help" || n === "?") return true;
  }
  return false;
}

function typedGet<T>(
  opts: QemuOpts | null,
  name: string,
  type: QemuOptType,
  defval: T,
  read: (opt: QemuOpt) => T,
  parseDefault: (s: string) => T,
): T {
  if (!opts) return defval;
  const opt = qemuOptFind(opts, name);
  if (!opt) {
    const desc = findDescByName(opts.list.desc, name);
    if (desc?.defValueStr !== undefined) return parseDefault(desc.defValueStr);
    return defval;
  }
  if (opt.desc?.type !== type) {
    throw new Error(`qemu_opt_get: '${name}' is not a ${type} option`);
  }
  return read(opt);
}

/** `qemu_opt_get_bool`. */
export function qemuOptGetBool(opts: QemuOpts | null, name: string, defval: boolean): boolean {
  return typedGet(
    opts,
    name,
    "bool",
    defval,
    (o) => o.boolean,
    (s) => qapiBoolParse(s) ?? defval,
  );
}

/** `qemu_opt_get_number`. */
export function qemuOptGetNumber(opts: QemuOpts | null, name: string, defval: bigint): bigint {
  return typedGet(
    opts,
    name,
    "number",
    defval,
    (o) => o.uint,
    (s) => BigInt(s),
  );
}

/** `qemu_opt_get_size`. */
export function qemuOptGetSize(opts: QemuOpts | null, name: string, defval: bigint): bigint {
  return typedGet(
    opts,
    name,
    "size",
    defval,
    (o) => o.uint,
    (s) => qemuStrtosz(s).value,
  );
}

/** `parse_option_number`: a uint64 (base 0: decimal, 0x hex, 0 octal). */
export function parseOptionNumber(name: string, value: string): bigint {
  const r = qemuStrtou64(value, false, 0);
  if (r.ret === -ERANGE) {
    throw new QemuError("out-of-range", `Value '${value}' is too large for parameter '${name}'`, {
      operation: "parse_option_number",
    });
  }
  if (r.ret) {
    throw new QemuError("invalid-parameter-value", `Parameter '${name}' expects a number`, {
      operation: "parse_option_number",
    });
  }
  return r.value;
}

/** `parse_option_size`: a size with optional suffix, and QEMU's two hint lines on error. */
export function parseOptionSize(name: string, value: string): bigint {
  const r = qemuStrtosz(value, false);
  if (r.ret === -ERANGE) {
    throw new QemuError(
      "out-of-range",
      `Value '${value}' is out of range for parameter '${name}'`,
      { operation: "parse_option_size" },
    );
  }
  if (r.ret) {
    throw new QemuError(
      "invalid-parameter-value",
      `Parameter '${name}' expects a non-negative number below 2^64`,
      {
        hint:
          "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n" +
          "and exabytes, respectively.\n",
        operation: "parse_option_size",
      },
    );
  }
  return r.value;
}

/** `qemu_opt_parse` + `opt_validate`: check the key and parse the value by its type. */
function optValidate(opts: QemuOpts, name: string, str: string): QemuOpt {
  const desc = findDescByName(opts.list.desc, name);
  if (!desc && !optsAcceptsAny(opts.list)) {
    throw new QemuError("invalid-parameter", `Invalid parameter '${name}'`, {
      operation: "opt_validate",
    });
  }
  const opt: QemuOpt = { name, str, desc, boolean: false, uint: 0n };
  switch (desc?.type) {
    case "bool": {
      const b = qapiBoolParse(str);
      if (b === undefined) {
        throw new QemuError(
          "invalid-parameter-value",
          `Parameter '${name}' expects 'on' or 'off'`,
          {
            operation: "qapi_bool_parse",
          },
        );
      }
      opt.boolean = b;
      break;
    }
    case "number":
      opt.uint = parseOptionNumber(name, str);
      break;
    case "size":
      opt.uint = parseOptionSize(name, str);
      break;
    default:
      break;
  }
  return opt;
}

/** `qemu_opt_set`: add a setting as if it had been given. */
export function qemuOptSet(opts: QemuOpts, name: string, value: string): void {
  opts.head.push(optValidate(opts, name, value));
}

/** `qemu_opt_set_bool` (for bool keys or any-key lists). */
export function qemuOptSetBool(opts: QemuOpts, name: string, value: boolean): void {
  qemuOptSet(opts, name, value ? "on" : "off");
}

/** `qemu_opt_unset`: forget every setting of `name`. */
export function qemuOptUnset(opts: QemuOpts, name: string): void {
  for (let i = opts.head.length - 1; i >= 0; i--) {
    if (opts.head[i]!.name === name) opts.head.splice(i, 1);
  }
}

/** `get_opt_value`: a value up to a single `,` (`,,` is a literal comma). */
export function getOptValue(params: string, p: number): { value: string; end: number } {
  let value = "";
  for (;;) {
    let offset = params.indexOf(",", p);
    if (offset < 0) offset = params.length;
    value += params.slice(p, offset);
    if (offset >= params.length || params[offset + 1] !== ",") {
      return { value, end: offset };
    }
    value += ",";
    p = offset + 2;
  }
}

interface NameValue {
  name: string;
  value: string;
  next: number;
  isHelp: boolean;
}

/**
 * `get_opt_name_value`: one parameter at `p`. Without `=`: the implied name if any, else
 * a flag (`name` → on, `noname` → off, warning when `warnOnFlag`).
 */
function getOptNameValue(
  params: string,
  p: number,
  firstname: string | null,
  warnOnFlag: boolean,
): NameValue {
  let len = 0;
  while (p + len < params.length && params[p + len] !== "=" && params[p + len] !== ",") len++;
  let name: string;
  let value: string;
  let end: number;
  let isHelp = false;
  if (params[p + len] !== "=") {
    if (firstname !== null) {
      name = firstname;
      ({ value, end } = getOptValue(params, p));
    } else {
      name = params.slice(p, p + len);
      end = p + len;
      let prefix = "";
      if (name.startsWith("no")) {
        name = name.slice(2);
        value = "off";
        prefix = "no";
      } else {
        value = "on";
        isHelp = name === "help" || name === "?";
      }
      if (!isHelp && warnOnFlag) {
        warnReport(`short-form boolean option '${prefix}${name}' deprecated`);
        if (name === "delay") {
          errorPrintf(`Please use nodelay=${prefix ? "on" : "off"} instead\n`);
        } else {
          errorPrintf(`Please use ${name}=${value} instead\n`);
        }
      }
    }
  } else {
    name = params.slice(p, p + len);
    ({ value, end } = getOptValue(params, p + len + 1));
  }
  let next = end;
  if (params[next] === ",") next++;
  return { name, value, next, isHelp };
}

/** `opts_parse_id`: the value of the first `id=` parameter, if any. */
function optsParseId(params: string): string | null {
  for (let p = 0; p < params.length; ) {
    const nv = getOptNameValue(params, p, null, false);
    if (nv.name === "id") return nv.value;
    p = nv.next;
  }
  return null;
}

/** Thrown inside parsing when `help` was asked for (help_wanted). */
class HelpWanted {}

/** `opts_do_parse`: every parameter of `params` into `opts` (`id` is skipped). */
function optsDoParse(
  opts: QemuOpts,
  params: string,
  firstname: string | null,
  warnOnFlag: boolean,
  helpWanted: boolean,
): void {
  for (let p = 0; p < params.length; ) {
    const nv = getOptNameValue(params, p, firstname, warnOnFlag);
    if (helpWanted && nv.isHelp) throw new HelpWanted();
    p = nv.next;
    firstname = null;
    if (nv.name === "id") continue;
    opts.head.push(optValidate(opts, nv.name, nv.value));
  }
}

function optsParse(
  list: QemuOptsList,
  params: string,
  permitAbbrev: boolean,
  warnOnFlag: boolean,
  helpWanted: boolean,
): QemuOpts {
  if (permitAbbrev && list.impliedOptName === null) {
    throw new Error(`qemu_opts_parse: option group ${list.name} has no implied key`);
  }
  const firstname = permitAbbrev ? list.impliedOptName : null;
  const id = optsParseId(params);
  const opts = qemuOptsCreate(list, id, !list.mergeLists);
  try {
    optsDoParse(opts, params, firstname, warnOnFlag, helpWanted);
  } catch (err) {
    // QEMU drops the QemuOpts on failure (a merged one too: the caller exits anyway).
    qemuOptsDel(opts);
    throw err;
  }
  return opts;
}

/**
 * `qemu_opts_parse(list, params, permit_abbrev, errp)`: parse one use of the option.
 * `permitAbbrev` lets the first value go without its key (the implied name). Throws a
 * QemuError with QEMU's message (and hint) on failure.
 */
export function qemuOptsParse(list: QemuOptsList, params: string, permitAbbrev: boolean): QemuOpts {
  return optsParse(list, params, permitAbbrev, false, false);
}

/**
 * `qemu_opts_parse_noisily`: as qemuOptsParse, but errors are reported (with the current
 * location) and short-form booleans warned about; `help` prints the group's keys. Returns
 * null when it printed an error or help (the caller exits, with 1 or 0).
 */
export function qemuOptsParseNoisily(
  list: QemuOptsList,
  params: string,
  permitAbbrev: boolean,
): { opts: QemuOpts | null; help: boolean } {
  try {
    return {
      opts: optsParse(list, params, permitAbbrev, true, !optsAcceptsAny(list)),
      help: false,
    };
  } catch (err) {
    if (err instanceof HelpWanted) {
      qemuOptsPrintHelp(list, true);
      return { opts: null, help: true };
    }
    if (err instanceof QemuError) {
      errorReportErr(err);
      return { opts: null, help: false };
    }
    throw err;
  }
}

/** `opt_type_to_string`. */
function optTypeToString(type: QemuOptType): string {
  switch (type) {
    case "string":
      return "str";
    case "bool":
      return "bool (on/off)";
    case "number":
      return "num";
    case "size":
      return "size";
  }
}

/**
 * `qemu_opts_print_help`: `<group> options:` then one sorted line per key,
 * `  name=<type>` padded to 24 columns before ` - help`.
 */
export function qemuOptsPrintHelp(list: QemuOptsList, printCaption: boolean): void {
  const lines = list.desc.map((d) => {
    let s = `  ${d.name}=<${optTypeToString(d.type)}>`;
    if (d.help) {
      if (s.length < 24) s += " ".repeat(24 - s.length);
      s += ` - ${d.help}`;
    }
    return s;
  });
  lines.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (printCaption && lines.length > 0) qemuPrintf(`${list.name} options:\n`);
  else if (lines.length === 0) qemuPrintf(`There are no options for ${list.name}.\n`);
  for (const l of lines) qemuPrintf(`${l}\n`);
}

/**
 * `qemu_opts_foreach`: call `fn` on each QemuOpts with its command-line location current
 * (so errors name the option); stops at the first non-zero return, which it returns.
 */
export function qemuOptsForeach(list: QemuOptsList, fn: (opts: QemuOpts) => number): number {
  const loc = locPushNone();
  let rc = 0;
  try {
    for (const opts of [...list.head]) {
      locRestore(opts.loc);
      rc = fn(opts);
      if (rc) break;
    }
  } finally {
    locPop(loc);
  }
  return rc;
}

/** `qemu_opts_loc_restore`: make the option's location current. */
export function qemuOptsLocRestore(opts: QemuOpts): void {
  locRestore(opts.loc);
}

/** `qemu_opt_foreach`: every setting in order; stops at the first non-zero return. */
export function qemuOptForeach(
  opts: QemuOpts,
  fn: (name: string, value: string) => number,
): number {
  for (const opt of [...opts.head]) {
    const rc = fn(opt.name, opt.str);
    if (rc) return rc;
  }
  return 0;
}

/**
 * `qemu_opts_to_qdict`: the settings as a dictionary of strings (last one wins), with
 * `id` first when the QemuOpts has one.
 */
export function qemuOptsToQdict(opts: QemuOpts): KeyvalDict {
  const dict = keyvalDictNew();
  if (opts.id !== null) dict.id = opts.id;
  for (const opt of opts.head) dict[opt.name] = opt.str;
  return dict;
}
