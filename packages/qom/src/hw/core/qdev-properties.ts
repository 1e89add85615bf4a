/**
 * hw/core/qdev-properties.c — static device properties (the DEFINE_PROP_* kind) and
 * global properties (`-global driver.prop=value`).
 *
 * A static property names a field of the device instance (QEMU: an offset in the
 * struct). It is registered as a *class* property, its default is written before any
 * instance_init runs, and its setter refuses changes once the device is realized.
 * 64-bit fields (uint64, int64, size, bit64) hold a `bigint`; narrower ones a `number`.
 */

import {
  type GlobalProperty,
  OBJ_PROP_LINK_STRONG,
  type ObjectClass,
  type ObjectProperty,
  objectApplyGlobalProps,
  objectClassByName,
  objectClassDynamicCast,
  objectClassPropertyAdd,
  objectClassPropertyAddLink,
  objectClassPropertySetDescription,
  objectGetTypename,
  objectPropertySetDefaultBool,
  objectPropertySetDefaultInt,
  objectPropertySetDefaultStr,
  objectPropertySetDefaultUint,
  type QomObject,
} from "../../object.js";
import { QomError, qomAssert, warnReport } from "../../qapi/error.js";
import { type QNum, type QValue, qnumFromBigint } from "../../qapi/qobject.js";
import { type InputVisitor, visitTypeIntN, visitTypeUintN } from "../../qapi/visitor.js";
import type { DeviceClass, DeviceState } from "./qdev.js";

/** `PropertyInfo`: how one kind of static property reads, writes and defaults. */
export interface PropertyInfo {
  /** The QOM type string (`bool`, `uint32`, `str`, `OnOffAuto`, …). */
  readonly name: string;
  readonly description?: string;
  readonly enumTable?: readonly string[];
  /** May be set on a realized device (few kinds are). */
  readonly realizedSetAllowed?: boolean;
  readonly get?: (obj: QomObject, name: string, prop: Property) => QValue;
  readonly set?: (obj: QomObject, v: InputVisitor, name: string, prop: Property) => void;
  readonly setDefaultValue?: (op: ObjectProperty, prop: Property) => void;
  /** Registers the property itself instead of the generic field accessors (links). */
  readonly create?: (klass: ObjectClass, name: string, prop: Property) => ObjectProperty;
}

/** `Property`: one DEFINE_PROP_* entry. */
export interface Property {
  readonly name: string;
  readonly info: PropertyInfo;
  /** The instance field the property reads and writes. */
  readonly field: string;
  readonly bitnr?: number;
  readonly setDefault: boolean;
  readonly defval?: QNum | boolean | string;
  readonly linkType?: string;
  readonly bitmask?: bigint;
}

type Fields = Record<string, unknown>;
const field = (obj: QomObject, prop: Property) => (obj as unknown as Fields)[prop.field];
const setField = (obj: QomObject, prop: Property, value: unknown) => {
  (obj as unknown as Fields)[prop.field] = value;
};

// PropertyInfo tables ---------------------------------------------------------------

const setDefaultUint = (op: ObjectProperty, prop: Property) =>
  objectPropertySetDefaultUint(op, prop.defval as QNum);
const setDefaultInt = (op: ObjectProperty, prop: Property) =>
  objectPropertySetDefaultInt(op, prop.defval as QNum);
const setDefaultBool = (op: ObjectProperty, prop: Property) =>
  objectPropertySetDefaultBool(op, prop.defval as boolean);

export const qdevPropBool: PropertyInfo = {
  name: "bool",
  get: (obj, _n, prop) => field(obj, prop) as boolean,
  set: (obj, v, name, prop) => setField(obj, prop, v.typeBool(name)),
  setDefaultValue: setDefaultBool,
};

/** A bit of a uint32 field (DEFINE_PROP_BIT). */
export const qdevPropBit: PropertyInfo = {
  name: "bool",
  description: "on/off",
  get: (obj, _n, prop) => (((field(obj, prop) as number) >>> prop.bitnr!) & 1) === 1,
  set: (obj, v, name, prop) => {
    const mask = (1 << prop.bitnr!) >>> 0;
    const old = field(obj, prop) as number;
    setField(obj, prop, (v.typeBool(name) ? old | mask : old & ~mask) >>> 0);
  },
  setDefaultValue: setDefaultBool,
};

/** A bit of a uint64 field (DEFINE_PROP_BIT64). */
export const qdevPropBit64: PropertyInfo = {
  name: "bool",
  description: "on/off",
  get: (obj, _n, prop) => (((field(obj, prop) as bigint) >> BigInt(prop.bitnr!)) & 1n) === 1n,
  set: (obj, v, name, prop) => {
    const mask = 1n << BigInt(prop.bitnr!);
    const old = field(obj, prop) as bigint;
    setField(obj, prop, v.typeBool(name) ? old | mask : old & ~mask);
  },
  setDefaultValue: setDefaultBool,
};

function uintInfo(bits: 8 | 16 | 32): PropertyInfo {
  return {
    name: `uint${bits}`,
    get: (obj, _n, prop) => field(obj, prop) as number,
    set: (obj, v, name, prop) => setField(obj, prop, visitTypeUintN(v, name, bits)),
    setDefaultValue: setDefaultUint,
  };
}

export const qdevPropUint8 = uintInfo(8);
export const qdevPropUint16 = uintInfo(16);
export const qdevPropUint32 = uintInfo(32);

export const qdevPropInt32: PropertyInfo = {
  name: "int32",
  get: (obj, _n, prop) => field(obj, prop) as number,
  set: (obj, v, name, prop) => setField(obj, prop, visitTypeIntN(v, name, 32)),
  setDefaultValue: setDefaultInt,
};

/** Getter of the 64-bit kinds: the `bigint` field as a QNum. */
const get64 = (obj: QomObject, _n: string, prop: Property): QValue =>
  qnumFromBigint(field(obj, prop) as bigint);

export const qdevPropUint64: PropertyInfo = {
  name: "uint64",
  get: get64,
  set: (obj, v, name, prop) => setField(obj, prop, v.typeUint64(name)),
  setDefaultValue: setDefaultUint,
};

export const qdevPropInt64: PropertyInfo = {
  name: "int64",
  get: get64,
  set: (obj, v, name, prop) => setField(obj, prop, v.typeInt64(name)),
  setDefaultValue: setDefaultInt,
};

export const qdevPropSize: PropertyInfo = {
  name: "size",
  get: get64,
  set: (obj, v, name, prop) => setField(obj, prop, v.typeSize(name)),
  setDefaultValue: setDefaultUint,
};

/** DEFINE_PROP_UINT64_CHECKMASK: a uint64 that must stay inside `bitmask`. */
export const qdevPropUint64Checkmask: PropertyInfo = {
  name: "uint64",
  get: get64,
  set: (obj, v, name, prop) => {
    const value = v.typeUint64(name);
    if (value & ~prop.bitmask!) {
      throw new QomError(
        "invalid-parameter-value",
        `Property value for '${name}' has bits outside mask '0x${prop.bitmask!.toString(16)}'`,
      );
    }
    setField(obj, prop, value);
  },
  setDefaultValue: setDefaultUint,
};

export const qdevPropString: PropertyInfo = {
  name: "str",
  get: (obj, _n, prop) => (field(obj, prop) as string | null) ?? "",
  set: (obj, v, name, prop) => setField(obj, prop, v.typeStr(name)),
  setDefaultValue: (op, prop) => objectPropertySetDefaultStr(op, prop.defval as string),
};

/** QAPI's OnOffAuto, in its declaration order. */
export const ON_OFF_AUTO_LOOKUP = ["auto", "on", "off"] as const;
export const ON_OFF_AUTO_AUTO = 0;
export const ON_OFF_AUTO_ON = 1;
export const ON_OFF_AUTO_OFF = 2;

export const qdevPropOnOffAuto: PropertyInfo = {
  name: "OnOffAuto",
  description: "on/off/auto",
  enumTable: ON_OFF_AUTO_LOOKUP,
  get: (obj, _n, prop) => ON_OFF_AUTO_LOOKUP[field(obj, prop) as number] ?? null,
  set: (obj, v, name, prop) => setField(obj, prop, v.typeEnum(name, ON_OFF_AUTO_LOOKUP)),
  setDefaultValue: (op, prop) =>
    objectPropertySetDefaultStr(op, ON_OFF_AUTO_LOOKUP[prop.defval as number]!),
};

/** `qdev_prop_allow_set_link_before_realize`. */
export function qdevPropAllowSetLinkBeforeRealize(
  obj: QomObject,
  name: string,
  _target: QomObject | null,
): void {
  const dev = obj as DeviceState;
  if (dev.realized) {
    throw new QomError(
      "realized",
      `Attempt to set link property '${name}' on device '${dev.id ?? "(null)"}' (type '${objectGetTypename(dev)}') after it was realized`,
      { operation: "qdev_prop_allow_set_link_before_realize" },
    );
  }
}

export const qdevPropLink: PropertyInfo = {
  name: "link",
  create: (klass, name, prop) =>
    objectClassPropertyAddLink(
      klass,
      name,
      prop.linkType!,
      prop.field,
      qdevPropAllowSetLinkBeforeRealize,
      OBJ_PROP_LINK_STRONG,
    ),
};

// DEFINE_PROP_* -------------------------------------------------------------------------

const def = (
  name: string,
  info: PropertyInfo,
  fieldName: string,
  extra: Partial<Property> = {},
): Property => ({ name, info, field: fieldName, setDefault: false, ...extra });

/** DEFINE_PROP_BOOL. */
export const definePropBool = (name: string, f: string, defval: boolean): Property =>
  def(name, qdevPropBool, f, { setDefault: true, defval });
/** DEFINE_PROP_BIT (a bit of a uint32 field). */
export const definePropBit = (name: string, f: string, bitnr: number, defval: boolean): Property =>
  def(name, qdevPropBit, f, { setDefault: true, defval, bitnr });
/** DEFINE_PROP_BIT64 (a bit of a uint64 `bigint` field). */
export const definePropBit64 = (name: string, f: string, bitnr: number, defval: boolean) =>
  def(name, qdevPropBit64, f, { setDefault: true, defval, bitnr });
/** DEFINE_PROP_UINT8. */
export const definePropUint8 = (name: string, f: string, defval: number): Property =>
  def(name, qdevPropUint8, f, { setDefault: true, defval });
/** DEFINE_PROP_UINT16. */
export const definePropUint16 = (name: string, f: string, defval: number): Property =>
  def(name, qdevPropUint16, f, { setDefault: true, defval });
/** DEFINE_PROP_UINT32. */
export const definePropUint32 = (name: string, f: string, defval: number): Property =>
  def(name, qdevPropUint32, f, { setDefault: true, defval });
/** DEFINE_PROP_INT32. */
export const definePropInt32 = (name: string, f: string, defval: number): Property =>
  def(name, qdevPropInt32, f, { setDefault: true, defval });
/** DEFINE_PROP_UINT64. */
export const definePropUint64 = (name: string, f: string, defval: bigint): Property =>
  def(name, qdevPropUint64, f, { setDefault: true, defval });
/** DEFINE_PROP_INT64. */
export const definePropInt64 = (name: string, f: string, defval: bigint): Property =>
  def(name, qdevPropInt64, f, { setDefault: true, defval });
/** DEFINE_PROP_SIZE. */
export const definePropSize = (name: string, f: string, defval: bigint): Property =>
  def(name, qdevPropSize, f, { setDefault: true, defval });
/** DEFINE_PROP_UINT64_CHECKMASK. */
export const definePropUint64Checkmask = (
  name: string,
  f: string,
  defval: bigint,
  bitmask: bigint,
): Property => def(name, qdevPropUint64Checkmask, f, { setDefault: true, defval, bitmask });
/** DEFINE_PROP_STRING: no default; an unset string reads as "". */
export const definePropString = (name: string, f: string): Property => def(name, qdevPropString, f);
/** DEFINE_PROP_ON_OFF_AUTO. */
export const definePropOnOffAuto = (name: string, f: string, defval: number): Property =>
  def(name, qdevPropOnOffAuto, f, { setDefault: true, defval });
/** DEFINE_PROP_LINK: a strong `link<type>` settable only before realize. */
export const definePropLink = (name: string, f: string, linkType: string): Property =>
  def(name, qdevPropLink, f, { linkType });

// Registration ----------------------------------------------------------------------------

/** `qdev_prop_set_after_realize`: the error for changing a realized device. */
export function qdevPropSetAfterRealize(dev: DeviceState, name: string): QomError {
  const who = dev.id !== null ? `device '${dev.id}'` : "anonymous device";
  return new QomError(
    "realized",
    `Attempt to set property '${name}' on ${who} (type '${objectGetTypename(dev)}') after it was realized`,
    { operation: "qdev_prop_set_after_realize" },
  );
}

function fieldPropGet(obj: QomObject, name: string, opaque: unknown): QValue {
  const prop = opaque as Property;
  return prop.info.get!(obj, name, prop);
}

function fieldPropSet(obj: QomObject, v: InputVisitor, name: string, opaque: unknown): void {
  const prop = opaque as Property;
  const dev = obj as DeviceState;
  if (dev.realized && !prop.info.realizedSetAllowed) throw qdevPropSetAfterRealize(dev, name);
  prop.info.set!(obj, v, name, prop);
}

function qdevClassAddProperty(klass: ObjectClass, name: string, prop: Property): void {
  let op: ObjectProperty;
  if (prop.info.create) {
    op = prop.info.create(klass, name, prop);
  } else {
    op = objectClassPropertyAdd(
      klass,
      name,
      prop.info.name,
      prop.info.get ? fieldPropGet : undefined,
      prop.info.set ? fieldPropSet : undefined,
      undefined,
      prop,
    );
  }
  if (prop.setDefault) {
    qomAssert(
      prop.info.setDefaultValue,
      "prop->info->set_default_value",
      "qdev_class_add_property",
    );
    prop.info.setDefaultValue(op, prop);
  }
  if (prop.info.description) {
    objectClassPropertySetDescription(klass, name, prop.info.description);
  }
}

/**
 * `device_class_set_props`: register each entry as a class property of `dc`, with
 * its default written into every new instance before instance_init.
 */
export function deviceClassSetProps(dc: DeviceClass, props: readonly Property[]): void {
  dc.props = props;
  for (const prop of props) qdevClassAddProperty(dc, prop.name, prop);
}

// Global properties -------------------------------------------------------------------------

const userGlobals: GlobalProperty[] = [];

/** `global_props`: the user's `-global` list, in registration order. */
export function globalProps(): GlobalProperty[] {
  return userGlobals;
}

/** `qdev_prop_register_global`. */
export function qdevPropRegisterGlobal(prop: GlobalProperty): void {
  userGlobals.push(prop);
}

/** `qdev_prop_set_globals`: apply the `-global`s to a new device (device_post_init). */
export function qdevPropSetGlobals(dev: DeviceState): void {
  if (dev.hotplugged) {
    objectApplyGlobalProps(dev, userGlobals, (err) => warnReport(err.message));
  } else {
    objectApplyGlobalProps(dev, userGlobals);
  }
}

/**
 * `qdev_prop_check_globals`: warn about globals that name no device type or were
 * never used by a non-hotpluggable one. Returns 1 if it warned, else 0.
 */
export function qdevPropCheckGlobals(): 0 | 1 {
  let ret: 0 | 1 = 0;
  for (const prop of userGlobals) {
    if (prop.used) continue;
    const oc = objectClassDynamicCast<DeviceClass>(objectClassByName(prop.driver), "device");
    if (!oc) {
      warnReport(`global ${prop.driver}.${prop.property} has invalid class name`);
      ret = 1;
      continue;
    }
    if (!oc.hotpluggable) {
      warnReport(`global ${prop.driver}.${prop.property}=${prop.value} not used`);
      ret = 1;
    }
  }
  return ret;
}
