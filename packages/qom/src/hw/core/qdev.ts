/**
 * hw/core/qdev.c — the device layer on top of QOM: TYPE_DEVICE, the `realized`
 * property and `device_set_realized`, parent-realize chaining, the machine init
 * phases, and attaching parentless devices under /machine/unattached.
 *
 * Not modelled yet: buses (every device is bus-less, `parent_bus` reads ""), vmstate
 * registration, reset, GPIOs and clocks, device listeners, QMP events.
 */

import { typeInit } from "../../module.js";
import {
  type InterfaceClass,
  type ObjectClass,
  objectApplyCompatProps,
  objectCheck,
  objectClassPropertyAdd,
  objectClassPropertyAddBool,
  objectDynamicCast,
  objectGetCanonicalPath,
  objectGetRoot,
  objectGetTypename,
  objectNew,
  objectPropertyAddChild,
  objectPropertySetBool,
  objectResolvePathComponent,
  objectUnparent,
  objectUnref,
  type QomObject,
  type QomPtr,
  TYPE_CONTAINER,
  TYPE_INTERFACE,
  TYPE_OBJECT,
  typeRegisterStatic,
} from "../../object.js";
import { QomError, qomAssert } from "../../qapi/error.js";
import { hotplugHandlerPlug, hotplugHandlerPrePlug, TYPE_HOTPLUG_HANDLER } from "./hotplug.js";
import { type Property, qdevPropSetGlobals } from "./qdev-properties.js";

export const TYPE_DEVICE = "device";
export const TYPE_MACHINE = "machine";

/** `DeviceRealize`: throws a QomError to fail. */
export type DeviceRealize = (dev: DeviceState) => void;
export type DeviceUnrealize = (dev: DeviceState) => void;

/** `DeviceCategory`: the sections of `-device help`, as bits of `DeviceClass.categories`. */
export const DEVICE_CATEGORY_BRIDGE = 0;
export const DEVICE_CATEGORY_USB = 1;
export const DEVICE_CATEGORY_STORAGE = 2;
export const DEVICE_CATEGORY_NETWORK = 3;
export const DEVICE_CATEGORY_INPUT = 4;
export const DEVICE_CATEGORY_DISPLAY = 5;
export const DEVICE_CATEGORY_SOUND = 6;
export const DEVICE_CATEGORY_MISC = 7;
export const DEVICE_CATEGORY_CPU = 8;
export const DEVICE_CATEGORY_WATCHDOG = 9;
export const DEVICE_CATEGORY_MAX = 10;

/** `DeviceClass` (include/hw/qdev-core.h). */
export interface DeviceClass extends ObjectClass {
  /** This class's own static properties (`device_class_set_props`). */
  props: readonly Property[];
  /** `DECLARE_BITMAP(categories, DEVICE_CATEGORY_MAX)`: bit n = DEVICE_CATEGORY_n. */
  categories: number;
  /** The bus type the device plugs into (`bus_type`: "ISA", …), or undefined. */
  busType: string | undefined;
  desc: string | undefined;
  userCreatable: boolean;
  hotpluggable: boolean;
  realize: DeviceRealize | undefined;
  unrealize: DeviceUnrealize | undefined;
}

/** `DeviceState`. */
export interface DeviceState extends QomObject {
  id: string | null;
  canonicalPath: string | null;
  realized: boolean;
  pendingDeletedEvent: boolean;
  hotplugged: boolean;
  allowUnplugDuringMigration: boolean;
  instanceIdAlias: number;
}

/** The part of `MachineClass` qdev consults: where plug requests go. */
export interface MachineHotplugClass extends ObjectClass {
  getHotplugHandler: ((machine: QomObject, dev: DeviceState) => QomObject | null) | undefined;
}

// Machine init phases (phase_check / phase_advance) --------------------------

export const PHASE_NO_MACHINE = 0;
export const PHASE_MACHINE_CREATED = 1;
export const PHASE_ACCEL_CREATED = 2;
export const PHASE_LATE_BACKENDS_CREATED = 3;
export const PHASE_MACHINE_INITIALIZED = 4;
export const PHASE_MACHINE_READY = 5;
export type MachineInitPhase = 0 | 1 | 2 | 3 | 4 | 5;

let machinePhase: MachineInitPhase = PHASE_NO_MACHINE;

/** `phase_get`. */
export function phaseGet(): MachineInitPhase {
  return machinePhase;
}
/** `phase_check`: has start-up reached `phase`? */
export function phaseCheck(phase: MachineInitPhase): boolean {
  return machinePhase >= phase;
}
/** `phase_advance`: phases only move forward, one step at a time. */
export function phaseAdvance(phase: MachineInitPhase): void {
  qomAssert(machinePhase === phase - 1, "machine_phase == phase - 1", "phase_advance");
  machinePhase = phase;
}

/**
 * Back to PHASE_NO_MACHINE. Not in QEMU, whose phase ends with the process: for an
 * embedder that starts a new QEMU process in the same JS realm after qemu_cleanup.
 */
export function phaseReset(): void {
  machinePhase = PHASE_NO_MACHINE;
}

// Machine lookups --------------------------------------------------------------

/** `qdev_get_machine`: the object at /machine, which must exist. */
export function qdevGetMachine(): QomObject {
  const machine = objectResolvePathComponent(objectGetRoot(), "machine");
  qomAssert(machine, "dev", "qdev_get_machine");
  return machine;
}

/** `machine_get_container`: /machine/unattached, /machine/peripheral, … */
export function machineGetContainer(name: string): QomObject {
  const container = objectResolvePathComponent(qdevGetMachine(), name);
  qomAssert(
    objectDynamicCast(container, TYPE_CONTAINER),
    "object_dynamic_cast(container, TYPE_CONTAINER)",
    "machine_get_container",
  );
  return container!;
}

/** `qdev_get_machine_hotplug_handler`: the machine class's get_hotplug_handler. */
export function qdevGetMachineHotplugHandler(dev: DeviceState): QomObject | null {
  const machine = objectResolvePathComponent(objectGetRoot(), "machine");
  if (!machine || !objectDynamicCast(machine, TYPE_MACHINE)) return null;
  const mc = machine.class as MachineHotplugClass;
  return mc.getHotplugHandler?.(machine, dev) ?? null;
}

/** `qdev_get_hotplug_handler`: the bus's handler would come first; no buses yet. */
export function qdevGetHotplugHandler(dev: DeviceState): QomObject | null {
  return qdevGetMachineHotplugHandler(dev);
}

// Realize ----------------------------------------------------------------------

let unattachedCount = 0;

function deviceGetClass(dev: QomObject): DeviceClass {
  return dev.class as DeviceClass;
}

/**
 * `device_set_realized`, the setter of `realized`. false→true attaches a parentless
 * device at /machine/unattached/device[N], runs pre_plug, the class's realize and
 * plug, then sets `realized` last; any failure unwinds and leaves it false.
 */
export function deviceSetRealized(obj: QomObject, value: boolean): void {
  const dev = obj as DeviceState;
  const dc = deviceGetClass(dev);
  if (dev.hotplugged && !dc.hotpluggable) {
    throw new QomError(
      "hotplug",
      `Device '${objectGetTypename(dev)}' does not support hotplugging`,
      {
        operation: "device_set_realized",
      },
    );
  }
  if (value && !dev.realized) {
    let unattached = false;
    if (!obj.parent) {
      objectPropertyAddChild(
        machineGetContainer("unattached"),
        `device[${unattachedCount++}]`,
        obj,
      );
      unattached = true;
    }
    let realizedByClass = false;
    try {
      const hotplugCtrl = qdevGetHotplugHandler(dev);
      if (hotplugCtrl) hotplugHandlerPrePlug(hotplugCtrl, dev);
      dc.realize?.(dev);
      realizedByClass = true;
      dev.canonicalPath = objectGetCanonicalPath(dev);
      dev.pendingDeletedEvent = false;
      if (hotplugCtrl) hotplugHandlerPlug(hotplugCtrl, dev);
    } catch (err) {
      if (realizedByClass) {
        dev.canonicalPath = null;
        dc.unrealize?.(dev);
      }
      if (unattached) {
        objectUnparent(obj);
        unattachedCount--;
      }
      throw err;
    }
    dev.realized = true;
  } else if (!value && dev.realized) {
    dev.realized = false;
    dc.unrealize?.(dev);
    dev.pendingDeletedEvent = true;
  }
}

function deviceGetRealized(obj: QomObject): boolean {
  return (obj as DeviceState).realized;
}

/**
 * `device_class_set_parent_realize`: save the inherited realize into `parentRealize`
 * (the subclass's `parent_realize` slot) and install `devRealize`. The new function
 * calls the saved one itself.
 */
export function deviceClassSetParentRealize(
  dc: DeviceClass,
  devRealize: DeviceRealize,
  parentRealize: QomPtr<DeviceRealize | undefined>,
): void {
  parentRealize.set(dc.realize);
  dc.realize = devRealize;
}

/** `device_class_set_parent_unrealize`. */
export function deviceClassSetParentUnrealize(
  dc: DeviceClass,
  devUnrealize: DeviceUnrealize,
  parentUnrealize: QomPtr<DeviceUnrealize | undefined>,
): void {
  parentUnrealize.set(dc.unrealize);
  dc.unrealize = devUnrealize;
}

/** `qdev_new`: a new, unrealized device. */
export function qdevNew<T extends DeviceState = DeviceState>(name: string): T {
  return objectCheck<T>(objectNew(name), TYPE_DEVICE);
}

/** `qdev_realize` for a bus-less device: set `realized` to true. */
export function qdevRealize(dev: DeviceState): void {
  qomAssert(!dev.realized, "!dev->realized", "qdev_realize");
  objectPropertySetBool(dev, "realized", true);
}

/** `qdev_realize_and_unref`: realize, then drop the caller's reference. */
export function qdevRealizeAndUnref(dev: DeviceState): void {
  try {
    qdevRealize(dev);
  } finally {
    // QEMU drops the reference on failure too.
    objectUnref(dev);
  }
}

/** `qdev_unrealize`. */
export function qdevUnrealize(dev: DeviceState): void {
  objectPropertySetBool(dev, "realized", false);
}

// Type registration ---------------------------------------------------------------

function deviceInitfn(obj: QomObject): void {
  const dev = obj as DeviceState;
  dev.hotplugged = phaseCheck(PHASE_MACHINE_READY);
  dev.instanceIdAlias = -1;
  dev.realized = false;
  dev.allowUnplugDuringMigration = false;
  dev.id = null;
  dev.canonicalPath = null;
  dev.pendingDeletedEvent = false;
}

/** `device_post_init`: compat properties, then the user's `-global`s. */
function devicePostInit(obj: QomObject): void {
  objectApplyCompatProps(obj);
  qdevPropSetGlobals(obj as DeviceState);
}

function deviceUnparent(obj: QomObject): void {
  const dev = obj as DeviceState;
  if (dev.realized) qdevUnrealize(dev);
}

function deviceClassBaseInit(klass: ObjectClass): void {
  // Each subclass lists only its own static properties; lookups walk up the chain.
  (klass as DeviceClass).props = [];
}

function deviceClassInit(klass: ObjectClass): void {
  const dc = klass as DeviceClass;
  dc.unparent = deviceUnparent;
  dc.hotpluggable = true;
  dc.userCreatable = true;
  dc.categories = 0;
  dc.busType = undefined;
  dc.props = [];
  objectClassPropertyAddBool(klass, "realized", deviceGetRealized, deviceSetRealized);
  objectClassPropertyAddBool(klass, "hotpluggable", (obj: QomObject) => {
    return deviceGetClass(obj).hotpluggable;
  });
  objectClassPropertyAddBool(klass, "hotplugged", (obj: DeviceState) => obj.hotplugged);
  objectClassPropertyAdd(klass, "parent_bus", "link<bus>", () => "");
}

function qdevRegisterTypes(): void {
  typeRegisterStatic<DeviceClass, DeviceState>({
    name: TYPE_DEVICE,
    parent: TYPE_OBJECT,
    instanceSize: 160,
    instanceInit: deviceInitfn,
    instancePostInit: devicePostInit,
    classInit: deviceClassInit,
    classBaseInit: deviceClassBaseInit,
    classSize: 200,
    abstract: true,
  });
  typeRegisterStatic<InterfaceClass, QomObject>({
    name: TYPE_HOTPLUG_HANDLER,
    parent: TYPE_INTERFACE,
  });
}

typeInit(qdevRegisterTypes);
