/**
 * The option half of system/vl.c: what qemu_init does with the command line before and
 * around creating the machine (reference §1.1 steps 1, 4, 5, 7, 8a, 10, 11, 12).
 *
 *   const vl = vlOptionsNew();                 // step 1: the option groups
 *   qemuParseOptions(vl, argv);                // step 4: the argv loop (pass 2)
 *   qemuValidateOptions(vl);                   // step 5
 *   parseMemoryOptions(vl);                    // step 7: -m → machine option `memory`
 *   const mc = selectMachine(vl.machineOptsDict);                  // step 8a (errp)
 *   // 8c/8e (qemu_create_machine): object_new, then mc.defaultMachineOpts through
 *   // keyvalParse + qemuApplyLegacyMachineOptions + objectSetPropertiesFromKeyval
 *   qemuApplyLegacyMachineOptions(vl, vl.machineOptsDict);         // step 10
 *   qemuApplyMachineOptions(machine, vl.machineOptsDict);          // step 11
 *   configureAccelerators(vl, machine);                            // step 12
 *
 * Like QEMU, functions that exit the process in QEMU report on the error sink and throw
 * QemuExit (status 1 for errors, 0 after help); functions with an `errp` in QEMU throw a
 * QemuError for the caller to report (errorFatal).
 *
 * glassvm is built like a QEMU configured with `--disable-tcg`: KVM is the only
 * accelerator, so it is also the default. Asking for TCG (`-accel tcg`,
 * `-machine accel=tcg`) reports `tcg accelerator is not implemented in glassvm` where a
 * QEMU without TCG says `invalid accelerator tcg`.
 */

import { strerror } from "@glassvm/kvm-kernel/uapi";
import {
  objectApplyCompatProps,
  objectClassByName,
  objectClassGetList,
  objectClassGetName,
  objectClassPropertyIter,
  objectNewWithClass,
  objectPropertyParse,
  objectRegisterSugarProp,
  type QValue,
  qdevPropRegisterGlobal,
} from "@glassvm/qom";
import {
  ACCEL_CLASS_SUFFIX,
  type AccelClass,
  type AccelState,
  accelClassName,
  accelFind,
  accelGetClass,
  TYPE_ACCEL,
} from "../accel/accel-common.js";
import { accelInitMachine } from "../accel/accel-system.js";
import {
  type MachineClass,
  type MachineState,
  SMP_CONFIGURATION_MEMBERS,
  TYPE_MACHINE,
} from "../hw/core/machine.js";
import { errorFatal, QemuError, QemuExit, withErrorFatal } from "../qapi/error.js";
import { lookupOpt, qemuHelp, qemuVersionText } from "../qemu-options.js";
import { traceEventNames } from "../trace/control.js";
import {
  errorGetProgname,
  errorReport,
  type Location,
  locNew,
  locPop,
  locPushNone,
  locSave,
  locSetCmdline,
  locSetNone,
  qemuPrintf,
  warnReport,
} from "../util/error-report.js";
import {
  type KeyvalDict,
  keyvalDictNew,
  keyvalMerge,
  keyvalParse,
  keyvalParseInto,
  objectSetPropertiesFromKeyval,
} from "../util/keyval.js";
import {
  type QemuOpts,
  type QemuOptsList,
  qemuOptForeach,
  qemuOptGet,
  qemuOptGetSize,
  qemuOptSet,
  qemuOptsCreate,
  qemuOptsFind,
  qemuOptsForeach,
  qemuOptsListNew,
  qemuOptsLocRestore,
  qemuOptsParseNoisily,
  qemuOptsPrintHelp,
} from "../util/qemu-option.js";

/** A `-device` given as JSON (`{"driver": …}`): the dictionary and where it came from. */
/** QEMU's DisplayType names (qapi/ui.json) that `-display` accepts. */
const DISPLAY_TYPES = [
  "default",
  "none",
  "gtk",
  "sdl",
  "egl-headless",
  "curses",
  "cocoa",
  "spice-app",
  "dbus",
];

export interface DeviceOption {
  readonly opts: Readonly<Record<string, QValue>>;
  readonly loc: Location;
}

/** The option groups qemu_init registers (step 1) that these options use. */
export interface VlOptionLists {
  readonly accel: QemuOptsList;
  readonly memory: QemuOptsList;
  readonly smpOpts: QemuOptsList;
  readonly device: QemuOptsList;
  readonly chardev: QemuOptsList;
  readonly name: QemuOptsList;
  readonly trace: QemuOptsList;
  readonly global: QemuOptsList;
}

/** What the command line asked for, in QEMU's structures (vl.c's globals). */
export interface VlOptions {
  readonly lists: VlOptionLists;
  /** `machine_opts_dict`: -machine keys, plus kernel/initrd/append/firmware/accel/graphics, `smp` and (after parseMemoryOptions) `memory`. */
  readonly machineOptsDict: KeyvalDict;
  /** `-cpu`, verbatim (parse_cpu_option reads it later). */
  cpuOption: string | null;
  /** `-device {json}` (the key=value ones are QemuOpts in lists.device). */
  readonly deviceOpts: DeviceOption[];
  /** `-serial` specs in order (DEV_SERIAL device configs). */
  readonly serials: string[];
  /** `-debugcon` specs (DEV_DEBUGCON). */
  readonly debugcons: string[];
  /** Bare arguments: disk images for IDE hard disk 0 (`drive_add(IF_DEFAULT, …)`). */
  readonly drives: string[];
  /** `-trace enable=PATTERN` values in order (a leading `-` disables). */
  readonly tracePatterns: string[];
  /** `-trace events=FILE`: files of patterns, one per line. */
  readonly traceEventsFiles: string[];
  /** `-trace file=FILE`: where the log backend writes (last one wins). */
  traceFile: string | null;
  /** `-d items` and `-D logfile`. */
  logMask: string | null;
  logFile: string | null;
  /** `-name guest=…` (also the guest name in messages with `-msg guest-name=on`). */
  guestName: string | null;
  nographic: boolean;
  /** `-display TYPE` (null: not given). */
  displayType: string | null;
  /** `-no-reboot`: action reboot=shutdown. */
  noReboot: boolean;
  /** `-no-shutdown`: action shutdown=pause. */
  noShutdown: boolean;
  /** false after `-S`. */
  autostart: boolean;
  /** A default serial port is added unless `-serial` was given (`default_serial`). */
  defaultSerial: boolean;
  /** `default_monitor`: cleared by `-serial mon:…`. */
  defaultMonitor: boolean;
  /** Step 10: `-machine accel=` (the accelerator list), removed from the dict. */
  accelerators: string | null;
  /** Step 10: `-machine memory-backend=`. */
  ramMemdevId: string | null;
  /** Step 10: `-m` gave a size. */
  haveCustomRamSize: boolean;
}

const str = (name: string) => ({ name, type: "string" as const });
const bool = (name: string) => ({ name, type: "bool" as const });
const num = (name: string) => ({ name, type: "number" as const });

/** Step 1: the option groups, and empty structures. */
export function vlOptionsNew(): VlOptions {
  return {
    lists: {
      // qemu_accel_opts: any key (checked when set on the accelerator).
      accel: qemuOptsListNew("accel", "accel", false, []),
      memory: qemuOptsListNew("memory", "size", true, [
        { name: "size", type: "size" },
        num("slots"),
        { name: "maxmem", type: "size" },
      ]),
      smpOpts: qemuOptsListNew(
        "smp-opts",
        "cpus",
        true,
        SMP_CONFIGURATION_MEMBERS.map((m) => num(m)),
      ),
      device: qemuOptsListNew("device", "driver", false, []),
      chardev: qemuOptsListNew("chardev", "backend", false, [
        str("backend"),
        str("path"),
        str("host"),
        str("port"),
        str("fd"),
        str("local_addr"),
        str("local_port"),
        num("to"),
        bool("ipv4"),
        bool("ipv6"),
        bool("wait"),
        bool("server"),
        bool("delay"),
        bool("nodelay"),
        num("reconnect"),
        num("reconnect-ms"),
        bool("telnet"),
        bool("tn3270"),
        str("tls-creds"),
        str("tls-authz"),
        bool("websocket"),
        num("width"),
        num("height"),
        num("cols"),
        num("rows"),
        bool("mux"),
        bool("signal"),
        str("name"),
        num("debug"),
        { name: "size", type: "size" },
        str("chardev"),
        bool("append"),
        str("logfile"),
        bool("logappend"),
        bool("mouse"),
        bool("clipboard"),
        bool("abstract"),
        bool("tight"),
      ]),
      name: qemuOptsListNew("name", "guest", true, [
        {
          name: "guest",
          type: "string",
          help:
            "Sets the name of the guest.\nThis name will be displayed in the SDL window caption.\n" +
            "The name will also be used for the VNC server",
        },
        {
          name: "process",
          type: "string",
          help: "Sets the name of the QEMU process, as shown in top etc",
        },
        {
          name: "debug-threads",
          type: "bool",
          help: "When enabled, name the individual threads; defaults off.\nNOTE: The thread names are for debugging and not a\nstable API.",
        },
      ]),
      trace: qemuOptsListNew("trace", "enable", false, [str("enable"), str("events"), str("file")]),
      global: qemuOptsListNew("global", null, false, [
        str("driver"),
        str("property"),
        str("value"),
      ]),
    },
    machineOptsDict: keyvalDictNew(),
    cpuOption: null,
    deviceOpts: [],
    serials: [],
    debugcons: [],
    drives: [],
    tracePatterns: [],
    traceEventsFiles: [],
    traceFile: null,
    logMask: null,
    logFile: null,
    guestName: null,
    nographic: false,
    displayType: null,
    noReboot: false,
    noShutdown: false,
    autostart: true,
    defaultSerial: true,
    defaultMonitor: true,
    accelerators: null,
    ramMemdevId: null,
    haveCustomRamSize: false,
  };
}

// ---------------------------------------------------------------------------
// Machine types: lookup and `-machine help`

/** `find_machine`: the non-abstract machine class whose name or alias is `name`. */
export function findMachine(name: string): MachineClass | null {
  for (const klass of objectClassGetList(TYPE_MACHINE, false)) {
    const mc = klass as MachineClass;
    if (mc.name === name || (mc.alias !== undefined && mc.alias === name)) return mc;
  }
  return null;
}

/** `find_default_machine`: the one class with is_default. */
export function findDefaultMachine(): MachineClass | null {
  let found: MachineClass | null = null;
  for (const klass of objectClassGetList(TYPE_MACHINE, false)) {
    const mc = klass as MachineClass;
    if (mc.isDefault) {
      if (found) throw new Error("find_default_machine: Multiple default machines");
      found = mc;
    }
  }
  return found;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * `machine_class_cmp`: families first, alphabetically; within a family by type name
 * *decreasing* (a byte-wise compare, so `pc-i440fx-9.2` sorts before `pc-i440fx-10.2`);
 * machines without a family last, increasing.
 */
export function machineClassCmp(a: MachineClass, b: MachineClass): number {
  if (a.family === undefined) {
    if (b.family === undefined) return cmp(objectClassGetName(a), objectClassGetName(b));
    return 1;
  }
  if (b.family === undefined) return -1;
  const res = cmp(a.family, b.family);
  if (res !== 0) return res;
  return cmp(objectClassGetName(b), objectClassGetName(a));
}

/** `-machine help`: the list QEMU prints (`Supported machines are:` …). */
export function machineListText(): string {
  const machines = objectClassGetList(TYPE_MACHINE, false) as MachineClass[];
  machines.sort(machineClassCmp);
  let out = "Supported machines are:\n";
  const pad = (s: string) => s.padEnd(20, " ");
  for (const mc of machines) {
    if (mc.alias !== undefined) {
      out += `${pad(mc.alias)} ${mc.desc ?? ""} (alias of ${mc.name})\n`;
    }
    out +=
      `${pad(mc.name)} ${mc.desc ?? ""}${mc.isDefault ? " (default)" : ""}` +
      `${mc.deprecationReason !== undefined ? " (deprecated)" : ""}\n`;
  }
  return out;
}

/**
 * `object_property_help`: `  name=<type>`, padded to 24 columns before ` - ` when a
 * description or default follows, `(default: <json>)` last.
 */
export function objectPropertyHelp(
  name: string,
  type: string,
  defval: QValue | undefined,
  description: string | undefined,
): string {
  let s = `  ${name}=<${type}>`;
  if (description !== undefined || defval !== undefined) {
    if (s.length < 24) s += " ".repeat(24 - s.length);
    s += " - ";
  }
  if (description !== undefined) s += description;
  if (defval !== undefined) {
    s += ` (default: ${JSON.stringify(defval, (_k, v) => (typeof v === "bigint" ? Number(v) : v))})`;
  }
  return s;
}

/**
 * `type_print_class_properties`: `<type> options:` and the settable class properties,
 * sorted. False if the type does not exist.
 */
export function typePrintClassProperties(type: string): boolean {
  const klass = objectClassByName(type);
  if (!klass) return false;
  const lines: string[] = [];
  for (const prop of objectClassPropertyIter(klass)) {
    if (!prop.set) continue;
    lines.push(objectPropertyHelp(prop.name, prop.type, prop.defval, prop.description));
  }
  lines.sort(cmp);
  if (lines.length > 0) qemuPrintf(`${type} options:\n`);
  else qemuPrintf(`There are no options for ${type}.\n`);
  for (const l of lines) qemuPrintf(`${l}\n`);
  return true;
}

/**
 * `machine_help_func`: with a known `type` in the options (`-M pc,help`), that machine's
 * properties; otherwise the list of machines.
 */
export function machineHelpFunc(dict: KeyvalDict): void {
  const type = dict.type;
  if (typeof type === "string") {
    const mc = findMachine(type);
    if (mc) {
      typePrintClassProperties(objectClassGetName(mc));
      return;
    }
  }
  qemuPrintf(machineListText());
}

/**
 * `select_machine(qdict, errp)` (step 8a): the class named by `type` (removed from the
 * dictionary) or the default one. Throws a QemuError with the hint
 * `Use -machine help to list supported machines`.
 */
export function selectMachine(dict: KeyvalDict): MachineClass {
  const type = dict.type;
  let mc: MachineClass | null;
  let message: string;
  if (typeof type === "string") {
    mc = findMachine(type);
    message = `unsupported machine type: "${type}"`;
    delete dict.type;
  } else {
    mc = findDefaultMachine();
    message = "No machine specified, and there is no default";
  }
  if (!mc) {
    throw new QemuError("machine", message, {
      hint: "Use -machine help to list supported machines\n",
      operation: "select_machine",
    });
  }
  return mc;
}

// ---------------------------------------------------------------------------
// The argv loop

function parseNoisilyOrExit(list: QemuOptsList, optarg: string, permitAbbrev: boolean): QemuOpts {
  const r = qemuOptsParseNoisily(list, optarg, permitAbbrev);
  if (!r.opts) throw new QemuExit(1);
  return r.opts;
}

/**
 * `machine_parse_property_opt`: keyval-parse `-smp` (implied `cpus`) and merge it into
 * the machine options under `smp`; `help` lists the keys and exits 0.
 */
function machineParsePropertyOpt(
  vl: VlOptions,
  list: QemuOptsList,
  propname: string,
  arg: string,
): void {
  withErrorFatal(() => {
    const { dict, help } = keyvalParse(arg, list.impliedOptName);
    if (help) {
      qemuOptsPrintHelp(list, true);
      throw new QemuExit(0);
    }
    const opts = keyvalDictNew();
    opts[propname] = dict;
    keyvalMerge(vl.machineOptsDict, opts);
  });
}

/** `-accel help`: `Accelerators supported in QEMU binary:` and each accelerator's name. */
export function accelListText(): string {
  let out = "Accelerators supported in QEMU binary:\n";
  for (const klass of objectClassGetList(TYPE_ACCEL, false)) {
    const typename = objectClassGetName(klass);
    if (typename === accelClassName("qtest") || !typename.endsWith(ACCEL_CLASS_SUFFIX)) continue;
    out += `${typename.slice(0, -ACCEL_CLASS_SUFFIX.length)}\n`;
  }
  return out;
}

/**
 * `qemu_global_option`: `driver.property=value`, or the QemuOpts form with all three
 * keys. Returns false after reporting an error.
 */
export function qemuGlobalOption(vl: VlOptions, s: string): boolean {
  const m = /^([^.=]{1,63})\.([^=]{1,63})=/.exec(s);
  if (m) {
    const opts = qemuOptsCreate(vl.lists.global, null, false);
    qemuOptSet(opts, "driver", m[1]!);
    qemuOptSet(opts, "property", m[2]!);
    qemuOptSet(opts, "value", s.slice(m[0].length));
    return true;
  }
  const r = qemuOptsParseNoisily(vl.lists.global, s, false);
  if (!r.opts) return false;
  if (
    qemuOptGet(r.opts, "driver") === null ||
    qemuOptGet(r.opts, "property") === null ||
    qemuOptGet(r.opts, "value") === null
  ) {
    errorReport("options 'driver', 'property', and 'value' are required");
    return false;
  }
  return true;
}

/** `qemu_add_globals` (step 6): register the `-global`s as qdev global properties. */
export function qemuAddGlobals(vl: VlOptions): void {
  for (const opts of vl.lists.global.head) {
    qdevPropRegisterGlobal({
      driver: qemuOptGet(opts, "driver")!,
      property: qemuOptGet(opts, "property")!,
      value: qemuOptGet(opts, "value")!,
    });
  }
}

/**
 * Pass 2 over argv (step 4): each option is looked up (unknown → `-foo: invalid
 * option`, missing argument → `-m: requires an argument`) and its argument stored where
 * QEMU keeps it; option errors are reported with the option as location. `-h`,
 * `-version`, `-machine help`, `-accel help`, `-smp help`, `-trace help` print and exit 0.
 * `argv[0]` is the program. Ends with the location cleared (step 5's loc_set_none).
 */
export function qemuParseOptions(vl: VlOptions, argv: readonly string[]): void {
  let optind = 1;
  const dict = vl.machineOptsDict;
  while (optind < argv.length) {
    if (!argv[optind]!.startsWith("-")) {
      locSetCmdline(argv, optind, 1);
      vl.drives.push(argv[optind++]!);
      continue;
    }
    const looked = lookupOpt(argv, optind);
    optind = looked.optind;
    const optarg = looked.optarg ?? "";
    switch (looked.option.index) {
      case "h":
        qemuHelp(errorGetProgname() ?? argv[0] ?? "qemu");
        break;
      case "version":
        qemuPrintf(qemuVersionText());
        throw new QemuExit(0);
      case "M":
      case "machine": {
        const { help } = withErrorFatal(() => keyvalParseInto(dict, optarg, "type"));
        if (help) {
          machineHelpFunc(dict);
          throw new QemuExit(0);
        }
        break;
      }
      case "accel": {
        const r = qemuOptsParseNoisily(vl.lists.accel, optarg, true);
        const accel = qemuOptGet(r.opts, "accel");
        if (accel === null || accel === "help" || accel === "?") {
          qemuPrintf(accelListText());
          throw new QemuExit(0);
        }
        break;
      }
      case "enable_kvm":
        dict.accel = "kvm";
        break;
      case "cpu":
        vl.cpuOption = optarg;
        break;
      case "smp":
        machineParsePropertyOpt(vl, vl.lists.smpOpts, "smp", optarg);
        break;
      case "m":
        parseNoisilyOrExit(vl.lists.memory, optarg, true);
        break;
      case "kernel":
        dict.kernel = optarg;
        break;
      case "initrd":
        dict.initrd = optarg;
        break;
      case "append":
        dict.append = optarg;
        break;
      case "bios":
        dict.firmware = optarg;
        break;
      case "device":
        if (optarg.startsWith("{")) {
          let parsed: unknown;
          try {
            parsed = JSON.parse(optarg);
          } catch (err) {
            errorReport(`JSON parse error, ${(err as Error).message}`);
            throw new QemuExit(1);
          }
          if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
            errorReport("JSON parse error, expected an object");
            throw new QemuExit(1);
          }
          vl.deviceOpts.push({ opts: parsed as Record<string, QValue>, loc: locSave(locNew()) });
        } else {
          parseNoisilyOrExit(vl.lists.device, optarg, true);
        }
        break;
      case "chardev":
        parseNoisilyOrExit(vl.lists.chardev, optarg, true);
        break;
      case "serial":
        vl.serials.push(optarg);
        vl.defaultSerial = false;
        if (optarg.startsWith("mon:")) vl.defaultMonitor = false;
        break;
      case "debugcon":
        vl.debugcons.push(optarg);
        break;
      case "global":
        if (!qemuGlobalOption(vl, optarg)) throw new QemuExit(1);
        break;
      case "display": {
        // parse_display: the type is the first key; options after it are not checked.
        const type = optarg.split(",")[0]!;
        if (!DISPLAY_TYPES.includes(type)) {
          errorReport(`Parameter 'type' does not accept value '${type}'`);
          throw new QemuExit(1);
        }
        vl.displayType = type;
        break;
      }
      case "nographic":
        dict.graphics = "off";
        vl.nographic = true;
        break;
      case "no_reboot":
        vl.noReboot = true;
        break;
      case "no_shutdown":
        vl.noShutdown = true;
        break;
      case "name": {
        const opts = parseNoisilyOrExit(vl.lists.name, optarg, true);
        vl.guestName = qemuOptGet(opts, "guest");
        break;
      }
      case "trace":
        traceOptParse(vl, optarg);
        break;
      case "d":
        vl.logMask = optarg;
        break;
      case "D":
        vl.logFile = optarg;
        break;
      case "S":
        vl.autostart = false;
        break;
      default: {
        const never: never = looked.option.index;
        throw new Error(`unhandled option ${String(never)}`);
      }
    }
  }
  locSetNone();
}

/**
 * `trace_opt_parse`: `-trace [enable=]PATTERN[,events=FILE][,file=FILE]`. `help` lists
 * the trace events and exits 0; patterns are collected for the trace backend.
 */
function traceOptParse(vl: VlOptions, optarg: string): void {
  const opts = parseNoisilyOrExit(vl.lists.trace, optarg, true);
  const enable = qemuOptGet(opts, "enable");
  if (enable !== null) {
    if (enable === "help" || enable === "?") {
      for (const name of traceEventNames()) qemuPrintf(`${name}\n`);
      throw new QemuExit(0);
    }
    vl.tracePatterns.push(enable);
  }
  const events = qemuOptGet(opts, "events");
  if (events !== null) vl.traceEventsFiles.push(events);
  const file = qemuOptGet(opts, "file");
  vl.traceFile = file;
  const i = vl.lists.trace.head.indexOf(opts);
  if (i >= 0) vl.lists.trace.head.splice(i, 1);
}

/**
 * `qemu_validate_options` (step 5): `-append` and `-initrd` need `-kernel`. Reported
 * without location; exit 1.
 */
export function qemuValidateOptions(vl: VlOptions): void {
  const d = vl.machineOptsDict;
  // qemu_display_early_init: glassvm has no display backend but `none` (the default).
  if (vl.displayType !== null && vl.displayType !== "none" && vl.displayType !== "default") {
    errorReport(`Display '${vl.displayType}' is not available.`);
    throw new QemuExit(1);
  }
  if (d.kernel === undefined) {
    if (d.append !== undefined) {
      errorReport("-append only allowed with -kernel option");
      throw new QemuExit(1);
    }
    if (d.initrd !== undefined) {
      errorReport("-initrd only allowed with -kernel option");
      throw new QemuExit(1);
    }
  }
}

/**
 * `parse_memory_options` (step 7): copy `-m` into the machine option `memory`. A size
 * whose last character is a digit gets `M` appended (so `-m 512` is 512 MiB), a zero
 * size is left to the machine's default; `maxmem` becomes `max-size`. Runs with the
 * location of the `-m` option.
 */
export function parseMemoryOptions(vl: VlOptions): void {
  const opts = qemuOptsFind(vl.lists.memory, null);
  if (!opts) return;
  const loc = locPushNone();
  try {
    qemuOptsLocRestore(opts);
    const prop = keyvalDictNew();
    if (qemuOptGetSize(opts, "size", 0n) !== 0n) {
      const memStr = qemuOptGet(opts, "size")!;
      prop.size = /[0-9]$/.test(memStr) ? `${memStr}M` : memStr;
    }
    const maxmem = qemuOptGet(opts, "maxmem");
    if (maxmem !== null) prop["max-size"] = maxmem;
    const slots = qemuOptGet(opts, "slots");
    if (slots !== null) prop.slots = slots;
    const d = keyvalDictNew();
    d.memory = prop;
    withErrorFatal(() => keyvalMerge(vl.machineOptsDict, d));
  } finally {
    locPop(loc);
  }
}

/**
 * `keyval_dashify`: keys with `_` become their `-` spelling (`kernel_irqchip`);
 * both spellings present → `Conflict between 'a_b' and 'a-b'`.
 */
export function keyvalDashify(dict: KeyvalDict): void {
  for (const key of Object.keys(dict)) {
    if (!key.includes("_")) continue;
    const newKey = key.replaceAll("_", "-");
    if (Object.hasOwn(dict, newKey)) {
      throw new QemuError("parse", `Conflict between '${key}' and '${newKey}'`, {
        operation: "keyval_dashify",
      });
    }
    dict[newKey] = dict[key]!;
    delete dict[key];
  }
}

/**
 * `qemu_apply_legacy_machine_options` (step 10): machine options that are not machine
 * properties — `accel` (the accelerator list), `kvm-shadow-mem` and `kernel-irqchip`
 * (global properties of `kvm-accel`), `memory-backend` (resolved later) — are taken out.
 */
export function qemuApplyLegacyMachineOptions(vl: VlOptions, dict: KeyvalDict): void {
  withErrorFatal(() => keyvalDashify(dict));
  const take = (key: string): string | null => {
    const v = dict[key];
    if (typeof v !== "string") return null;
    delete dict[key];
    return v;
  };
  const accel = take("accel");
  if (accel !== null) vl.accelerators = accel;
  const igd = take("igd-passthru");
  if (igd !== null) objectRegisterSugarProp(accelClassName("xen"), "igd-passthru", igd);
  const shadow = take("kvm-shadow-mem");
  if (shadow !== null) objectRegisterSugarProp(accelClassName("kvm"), "kvm-shadow-mem", shadow);
  const irqchip = take("kernel-irqchip");
  if (irqchip !== null) {
    objectRegisterSugarProp(accelClassName("kvm"), "kernel-irqchip", irqchip);
    objectRegisterSugarProp(accelClassName("whpx"), "kernel-irqchip", irqchip);
  }
  const memdev = take("memory-backend");
  if (memdev !== null) vl.ramMemdevId = memdev;
  const mem = dict.memory;
  if (mem !== undefined) {
    vl.haveCustomRamSize =
      typeof mem === "object" && !Array.isArray(mem) && Object.hasOwn(mem, "size");
  }
}

/**
 * `qemu_apply_machine_options` (step 11): every remaining machine option becomes a QOM
 * property of the machine (keyval visitor): kernel, append, memory (size checks), smp
 * (topology), … An error is reported (no location) and exits 1:
 * `Property 'pc-i440fx-10.2-machine.foo' not found`, `Parameter 'smp.cpus' expects
 * integer`, `Invalid CPU topology: …`.
 */
export function qemuApplyMachineOptions(machine: MachineState, dict: KeyvalDict): void {
  withErrorFatal(() => objectSetPropertiesFromKeyval(machine, dict, false));
}

// ---------------------------------------------------------------------------
// Accelerators (step 12)

const TCG_NOT_IMPLEMENTED = "tcg accelerator is not implemented in glassvm";

/** The message for an accelerator name this build does not have. */
function invalidAccelerator(name: string): string {
  return name === "tcg" ? TCG_NOT_IMPLEMENTED : `invalid accelerator ${name}`;
}

/**
 * `do_configure_accelerator`: create the accelerator named by one `accel` QemuOpts, set
 * its properties (`-accel kvm,kernel-irqchip=off`; errors are fatal) and init it for
 * the machine. 1 on success; 0 after reporting a failure (`failed to initialize kvm:
 * No such file or directory`), noting it in `state.initFailed`.
 */
export function doConfigureAccelerator(
  opts: QemuOpts,
  machine: MachineState,
  state: { initFailed: boolean },
): number {
  const acc = qemuOptGet(opts, "accel");
  const bad = (): number => {
    state.initFailed = true;
    return 0;
  };
  if (acc === null) {
    errorFatal(
      new QemuError("missing-parameter", "Parameter 'accel' is missing", {
        operation: "do_configure_accelerator",
      }),
    );
  }
  const ac: AccelClass | null = accelFind(acc);
  if (!ac) {
    errorReport(invalidAccelerator(acc));
    return bad();
  }
  const accel = objectNewWithClass<AccelState>(ac);
  objectApplyCompatProps(accel);
  qemuOptForeach(opts, (name, value) => {
    if (name === "accel") return 0;
    withErrorFatal(() => objectPropertyParse(accel, name, value));
    return 0;
  });
  const ret = accelInitMachine(accel, machine);
  if (ret < 0) {
    errorReport(`failed to initialize ${acc}: ${strerror(-ret)}`);
    return bad();
  }
  return 1;
}

/**
 * `configure_accelerators(progname)` (reference §2): without `-accel`, the `-machine
 * accel=` list (or the default: kvm in glassvm) is split on `:` into `accel` options,
 * unknown names reported; `-accel` and `-machine accel=` together are refused. Then the
 * first accelerator that initialises wins. None → `no accelerator found` (unless a
 * failure was already reported) and exit 1; a success after a failure says
 * `falling back to <name>`.
 */
export function configureAccelerators(vl: VlOptions, machine: MachineState): void {
  const state = { initFailed: false };
  const list = vl.lists.accel;
  if (list.head.length === 0) {
    let accelerators = vl.accelerators;
    if (accelerators === null) {
      const haveTcg = accelFind("tcg") !== null;
      const haveKvm = accelFind("kvm") !== null;
      const haveHvf = accelFind("hvf") !== null;
      const progname = errorGetProgname() ?? "";
      if (haveTcg && haveKvm) {
        accelerators = progname.endsWith("kvm") ? "kvm:tcg" : "tcg:kvm";
      } else if (haveKvm) {
        accelerators = "kvm";
      } else if (haveTcg) {
        accelerators = "tcg";
      } else if (haveHvf) {
        accelerators = "hvf";
      } else {
        errorReport("No accelerator selected and no default accelerator available");
        throw new QemuExit(1);
      }
    }
    for (const name of accelerators.split(":")) {
      if (accelFind(name)) {
        qemuOptsParseNoisily(list, name, true);
      } else {
        state.initFailed = true;
        errorReport(invalidAccelerator(name));
      }
    }
  } else if (vl.accelerators !== null) {
    errorReport('The -accel and "-machine accel=" options are incompatible');
    throw new QemuExit(1);
  }

  if (!qemuOptsForeach(list, (opts) => doConfigureAccelerator(opts, machine, state))) {
    if (!state.initFailed) errorReport("no accelerator found");
    throw new QemuExit(1);
  }
  if (state.initFailed) {
    errorReport(`falling back to ${accelGetClass(machine.accelerator!).name}`);
  }
}

/** Warn about a deprecated machine type (step 13). */
export function machineWarnDeprecated(mc: MachineClass): void {
  if (mc.deprecationReason !== undefined) {
    warnReport(`Machine type '${mc.name}' is deprecated: ${mc.deprecationReason}`);
  }
}
