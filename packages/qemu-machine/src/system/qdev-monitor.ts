/**
 * system/qdev-monitor.c, the help side of `-device`:
 *
 *   -device help              every user-creatable device type, by category:
 *                             `name "isa-debugcon", bus ISA` (+ alias, desc, no-user)
 *   -device isa-debugcon,help its properties: `  iobase=<uint32>        -  (default: 233)`
 *
 * Both print on stdout and make QEMU exit 0 (qemu_process_help_options).
 */
import {
  DEVICE_CATEGORY_MAX,
  type DeviceClass,
  objectClassByName,
  objectClassDynamicCast,
  objectClassGetListSorted,
  objectClassGetName,
  objectClassIsAbstract,
  objectNew,
  objectPropertyIter,
  objectUnref,
  TYPE_DEVICE,
} from "@glassvm/qom";
import { isHelpOption } from "../target/i386/cpu.js";
import { errorReport, qemuPrintf } from "../util/error-report.js";
import { objectPropertyHelp } from "./vl-options.js";

const CATEGORY_NAMES = [
  "Controller/Bridge/Hub",
  "USB",
  "Storage",
  "Network",
  "Input",
  "Display",
  "Sound",
  "Misc",
  "CPU",
  "Watchdog",
  "Uncategorized",
];

/** `qdev_print_devinfo`: one device type's line. */
function qdevPrintDevinfo(dc: DeviceClass): void {
  let line = `name "${objectClassGetName(dc)}"`;
  if (dc.busType) line += `, bus ${dc.busType}`;
  if (dc.desc) line += `, desc "${dc.desc}"`;
  if (!dc.userCreatable) line += ", no-user";
  qemuPrintf(`${line}\n`);
}

/**
 * `qdev_print_devinfos(show_no_user)`: the device types by category (sorted by name in
 * each; a type in several categories is listed in each), then those without one.
 */
export function qdevPrintDevinfos(showNoUser: boolean): void {
  const list = objectClassGetListSorted(TYPE_DEVICE, false) as DeviceClass[];
  for (let i = 0; i <= DEVICE_CATEGORY_MAX; i++) {
    let printed = false;
    for (const dc of list) {
      const inCategory = i < DEVICE_CATEGORY_MAX ? (dc.categories >> i) & 1 : dc.categories === 0;
      if (!inCategory || (!showNoUser && !dc.userCreatable)) continue;
      if (!printed) {
        qemuPrintf(`${i ? "\n" : ""}${CATEGORY_NAMES[i]} devices:\n`);
        printed = true;
      }
      qdevPrintDevinfo(dc);
    }
  }
}

/**
 * `qdev_device_help(opts)`: true when the `-device` option asked for help (and it was
 * printed, or the error reported).
 */
export function qdevDeviceHelp(driver: string | null, hasHelpOpt: boolean): boolean {
  if (driver !== null && isHelpOption(driver)) {
    qdevPrintDevinfos(false);
    return true;
  }
  if (driver === null || !hasHelpOpt) return false;
  // qmp_device_list_properties
  const klass = objectClassByName(driver);
  if (!klass) {
    errorReport(`Device '${driver}' not found`);
    return true;
  }
  if (!objectClassDynamicCast(klass, TYPE_DEVICE) || objectClassIsAbstract(klass)) {
    errorReport("Parameter 'typename' expects a non-abstract device type");
    return true;
  }
  const obj = objectNew(driver);
  const lines: string[] = [];
  const skip = new Set(["type", "realized", "hotpluggable", "hotplugged", "parent_bus"]);
  for (const prop of objectPropertyIter(obj)) {
    if (skip.has(prop.name) || prop.name.startsWith("legacy-")) continue;
    lines.push(objectPropertyHelp(prop.name, prop.type, prop.defval, prop.description));
  }
  objectUnref(obj);
  qemuPrintf(lines.length ? `${driver} options:\n` : `There are no options for ${driver}.\n`);
  lines.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const l of lines) qemuPrintf(`${l}\n`);
  return true;
}
