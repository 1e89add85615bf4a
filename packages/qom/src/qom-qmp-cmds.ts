/**
 * qom/qom-qmp-cmds.c — the QMP commands over the object tree, as functions that
 * return QMP's reply shapes (`{"return": …}` or `{"error": {"class", "desc"}}`).
 * A QMP server that speaks them over a socket comes with the machine layer.
 */

import {
  type ObjectProperty,
  objectClassByName,
  objectClassForeach,
  objectClassGetParent,
  objectClassIsAbstract,
  objectClassPropertyIter,
  objectNewWithClass,
  objectPropertyGetQobject,
  objectPropertyIter,
  objectPropertySetQobject,
  objectResolvePath,
  objectUnref,
  type QomObject,
} from "./object.js";
import { type QmpErrorClass, QomError } from "./qapi/error.js";
import type { QValue } from "./qapi/qobject.js";

export type QmpReply<T> =
  | { readonly return: T }
  | { readonly error: { readonly class: QmpErrorClass; readonly desc: string } };

/** `ObjectPropertyInfo` (qapi/qom.json). */
export interface ObjectPropertyInfo {
  readonly name: string;
  readonly type: string;
  readonly description?: string;
  readonly "default-value"?: QValue;
}

/** `ObjectTypeInfo` (qapi/qom.json). */
export interface ObjectTypeInfo {
  readonly name: string;
  readonly abstract?: true;
  readonly parent?: string;
}

/** One entry of `qom-list-get`'s reply. */
export interface ObjectPropertyValue {
  readonly name: string;
  readonly type: string;
  readonly value?: QValue;
}

function run<T>(fn: () => T): QmpReply<T> {
  try {
    return { return: fn() };
  } catch (err) {
    if (err instanceof QomError && !err.fatal) {
      return { error: { class: err.errorClass, desc: err.message } };
    }
    throw err;
  }
}

function deviceNotFound(path: string): QomError {
  return new QomError("device-not-found", `Device '${path}' not found`);
}

function resolveForList(path: string): QomObject {
  const out = { ambiguous: false };
  const obj = objectResolvePath(path, out);
  if (obj) return obj;
  if (out.ambiguous) throw new QomError("ambiguous-path", `Path '${path}' is ambiguous`);
  throw deviceNotFound(path);
}

function resolveOrNotFound(path: string): QomObject {
  const obj = objectResolvePath(path);
  if (!obj) throw deviceNotFound(path);
  return obj;
}

/** `qom-list`: each property's name and type; the first element is always `type`. */
export function qomList(path: string): QmpReply<ObjectPropertyInfo[]> {
  return run(() => {
    const obj = resolveForList(path);
    const list: ObjectPropertyInfo[] = [];
    for (const prop of objectPropertyIter(obj)) list.unshift({ name: prop.name, type: prop.type });
    return list;
  });
}

/** `qom-get`: the property's value as JSON (children and links as paths). */
export function qomGet(path: string, property: string): QmpReply<QValue> {
  return run(() => objectPropertyGetQobject(resolveOrNotFound(path), property));
}

/** `qom-set`: strict JSON typing, as QMP's input visitor. */
export function qomSet(path: string, property: string, value: QValue): QmpReply<object> {
  return run(() => {
    objectPropertySetQobject(resolveOrNotFound(path), property, value);
    return {};
  });
}

/** `qom-list-get` (QEMU 10.1): names, types and values for several objects at once. */
export function qomListGet(
  paths: readonly string[],
): QmpReply<{ properties: ObjectPropertyValue[] }[]> {
  return run(() => {
    const objects = paths.map(resolveOrNotFound);
    return objects.map((obj) => {
      const properties: ObjectPropertyValue[] = [];
      for (const prop of objectPropertyIter(obj)) {
        let value: QValue | undefined;
        try {
          value = objectPropertyGetQobject(obj, prop.name);
        } catch (err) {
          if (!(err instanceof QomError)) throw err;
        }
        properties.unshift(
          value === undefined
            ? { name: prop.name, type: prop.type }
            : { name: prop.name, type: prop.type, value },
        );
      }
      return { properties };
    });
  });
}

/** `qom-list-types`: every type (abstract ones on request), optionally filtered. */
export function qomListTypes(
  args: { implements?: string; abstract?: boolean } = {},
): QmpReply<ObjectTypeInfo[]> {
  return run(() => {
    const list: ObjectTypeInfo[] = [];
    objectClassForeach(
      (klass) => {
        const parent = objectClassGetParent(klass);
        list.push({
          name: klass.type.name,
          ...(objectClassIsAbstract(klass) ? { abstract: true as const } : {}),
          ...(parent ? { parent: parent.type.name } : {}),
        });
      },
      args.implements ?? null,
      args.abstract ?? false,
    );
    return list;
  });
}

function propertyInfo(prop: ObjectProperty): ObjectPropertyInfo {
  return {
    name: prop.name,
    type: prop.type,
    ...(prop.description !== undefined ? { description: prop.description } : {}),
    ...(prop.defval !== undefined ? { "default-value": prop.defval } : {}),
  };
}

/**
 * `qom-list-properties`: for an abstract type its class properties; otherwise a
 * temporary instance is created and destroyed to list its properties too.
 */
export function qomListProperties(typename: string): QmpReply<ObjectPropertyInfo[]> {
  return run(() => {
    const klass = objectClassByName(typename);
    if (!klass) throw new QomError("device-not-found", `Class '${typename}' not found`);
    const list: ObjectPropertyInfo[] = [];
    if (objectClassIsAbstract(klass)) {
      for (const prop of objectClassPropertyIter(klass)) list.unshift(propertyInfo(prop));
      return list;
    }
    const obj = objectNewWithClass(klass);
    try {
      for (const prop of objectPropertyIter(obj)) list.unshift(propertyInfo(prop));
    } finally {
      objectUnref(obj);
    }
    return list;
  });
}
