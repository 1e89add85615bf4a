/**
 * qom/object.c — QEMU's object model: type registry, lazy class initialisation with
 * inheritance by copying the parent class, interfaces, instances with reference
 * counts, dynamic casts, properties, and the composition tree with its paths.
 *
 * Mapping from C: a class struct is a plain object copied from its parent's (the
 * byte-copy of type_initialize); an instance is a plain object whose `instanceInit`
 * hooks add fields; `Error **errp` becomes a thrown {@link QomError}; where QEMU
 * aborts, the QomError has `fatal: true`.
 */
import { typeInit } from "./module.js";
import { errorPrepend, QomError, qomAssert } from "./qapi/error.js";
import { type QNum, type QValue, qnumFromBigint } from "./qapi/qobject.js";
import { qobjectInputVisitorNew } from "./qapi/qobject-input-visitor.js";
import { stringInputVisitorNew } from "./qapi/string-input-visitor.js";
import { type InputVisitor, visitTypeUintN } from "./qapi/visitor.js";

export const TYPE_OBJECT = "object";
export const TYPE_INTERFACE = "interface";

/** Interface implementations per type (MAX_INTERFACES in object.c). */
const MAX_INTERFACES = 32;
/** Names ending in `[*]` try `[0]` … up to INT16_MAX. */
const INT16_MAX = 0x7fff;

// ---------------------------------------------------------------------------
// Type descriptors

export interface InterfaceInfo {
  readonly type: string;
}

/**
 * `TypeInfo`: the static descriptor a type is registered from. Hooks use method
 * syntax so a `TypeInfo<X86CPUClass, X86CPU>` is accepted where a plain one is.
 */
export interface TypeInfo<C extends ObjectClass = ObjectClass, O extends QomObject = QomObject> {
  readonly name: string;
  readonly parent?: string;
  /** Size of the instance in the C model; 0 inherits. All-zero chains are abstract. */
  readonly instanceSize?: number;
  readonly instanceAlign?: number;
  instanceInit?(obj: O): void;
  instancePostInit?(obj: O): void;
  instanceFinalize?(obj: O): void;
  readonly abstract?: boolean;
  readonly classSize?: number;
  classInit?(klass: C, data: unknown): void;
  classBaseInit?(klass: C, data: unknown): void;
  readonly classData?: unknown;
  readonly interfaces?: readonly InterfaceInfo[];
}

/** `TypeImpl`: the registry entry; its class is created on first use. */
export interface TypeImpl {
  readonly name: string;
  classSize: number;
  instanceSize: number;
  instanceAlign: number;
  readonly classInit: ((klass: ObjectClass, data: unknown) => void) | undefined;
  readonly classBaseInit: ((klass: ObjectClass, data: unknown) => void) | undefined;
  readonly classData: unknown;
  readonly instanceInit: ((obj: QomObject) => void) | undefined;
  readonly instancePostInit: ((obj: QomObject) => void) | undefined;
  readonly instanceFinalize: ((obj: QomObject) => void) | undefined;
  abstract: boolean;
  readonly parent: string | undefined;
  parentType: TypeImpl | null;
  class: ObjectClass | null;
  readonly interfaces: readonly string[];
}

// ---------------------------------------------------------------------------
// Classes and instances

/** `ObjectClass`: the root of every class struct. */
export interface ObjectClass {
  type: TypeImpl;
  interfaces: InterfaceClass[];
  /** Called when the object is removed from its parent (device: unrealize). */
  unparent: ((obj: QomObject) => void) | undefined;
  properties: Map<string, ObjectProperty>;
}

/** `InterfaceClass`: the class of one type's implementation of one interface. */
export interface InterfaceClass extends ObjectClass {
  concreteClass: ObjectClass | null;
  interfaceType: TypeImpl | null;
}

/** `Object`: the root of every instance. */
export interface QomObject {
  class: ObjectClass;
  free: ((obj: QomObject) => void) | null;
  properties: Map<string, ObjectProperty>;
  ref: number;
  parent: QomObject | null;
}

/** Property getter: returns the value the QObject output visitor would produce. */
export type ObjectPropertyAccessor = (obj: QomObject, name: string, opaque: unknown) => QValue;
/** Property setter: reads its value through an input visitor; throws QomError. */
export type ObjectPropertySetter = (
  obj: QomObject,
  v: InputVisitor,
  name: string,
  opaque: unknown,
) => void;
export type ObjectPropertyResolve = (
  obj: QomObject,
  opaque: unknown,
  part: string,
) => QomObject | null;
export type ObjectPropertyRelease = (obj: QomObject, name: string, opaque: unknown) => void;
export type ObjectPropertyInit = (obj: QomObject, prop: ObjectProperty) => void;

/** `ObjectProperty`. */
export interface ObjectProperty {
  readonly name: string;
  readonly type: string;
  description: string | undefined;
  get: ObjectPropertyAccessor | undefined;
  set: ObjectPropertySetter | undefined;
  resolve: ObjectPropertyResolve | undefined;
  release: ObjectPropertyRelease | undefined;
  init: ObjectPropertyInit | undefined;
  opaque: unknown;
  defval: QValue | undefined;
}

/** A C pointer to a field: what `&obj->field` is in QEMU's property helpers. */
export interface QomPtr<T> {
  get(): T;
  set(value: T): void;
}

/** `&holder->key` as a {@link QomPtr}. */
export function fieldPtr<T extends object, K extends keyof T>(holder: T, key: K): QomPtr<T[K]> {
  return {
    get: () => holder[key],
    set: (value) => {
      holder[key] = value;
    },
  };
}

// ---------------------------------------------------------------------------
// The registry

const typeTable = new Map<string, TypeImpl>();
let enumerating = false;
let typeInterface: TypeImpl | null = null;

function typeNameIsValid(name: string): boolean {
  return name.length > 1 && /^[A-Za-z1-9][A-Za-z0-9\-_.]*$/.test(name);
}

function typeNew(info: TypeInfo, opts: { validateName: boolean }): TypeImpl {
  qomAssert(info.name, "info->name != NULL", "type_new");
  if (typeTable.has(info.name)) {
    throw new QomError("duplicate-type", `Registering \`${info.name}' which already exists`, {
      operation: "type_new",
      fatal: true,
    });
  }
  if (opts.validateName && !typeNameIsValid(info.name)) {
    throw new QomError("illegal-type-name", `Registering '${info.name}' with illegal type name`, {
      operation: "type_new",
      fatal: true,
    });
  }
  const interfaces = (info.interfaces ?? []).map((i) => i.type);
  qomAssert(interfaces.length <= MAX_INTERFACES, "i < MAX_INTERFACES", "type_new");
  return {
    name: info.name,
    classSize: info.classSize ?? 0,
    instanceSize: info.instanceSize ?? 0,
    instanceAlign: info.instanceAlign ?? 0,
    classInit: info.classInit as TypeImpl["classInit"],
    classBaseInit: info.classBaseInit as TypeImpl["classBaseInit"],
    classData: info.classData,
    instanceInit: info.instanceInit as TypeImpl["instanceInit"],
    instancePostInit: info.instancePostInit as TypeImpl["instancePostInit"],
    instanceFinalize: info.instanceFinalize as TypeImpl["instanceFinalize"],
    abstract: info.abstract ?? false,
    parent: info.parent,
    parentType: null,
    class: null,
    interfaces,
  };
}

function typeRegisterInternal(info: TypeInfo): TypeImpl {
  qomAssert(!enumerating, "!enumerating_types", "type_table_add");
  const ti = typeNew(info, { validateName: true });
  typeTable.set(ti.name, ti);
  return ti;
}

/** `type_register_static`: add a type to the registry (no class is created yet). */
export function typeRegisterStatic<C extends ObjectClass, O extends QomObject>(
  info: TypeInfo<C, O>,
): TypeImpl {
  qomAssert(info.parent !== undefined, "info->parent", "type_register_static");
  return typeRegisterInternal(info as TypeInfo);
}

/** `type_register_static_array` / `DEFINE_TYPES`. */
export function typeRegisterStaticArray(infos: readonly TypeInfo<never, never>[]): void {
  for (const info of infos) typeRegisterStatic(info as TypeInfo);
}

function typeGetByName(name: string | undefined): TypeImpl | null {
  if (name === undefined) return null;
  return typeTable.get(name) ?? null;
}

function typeGetParent(ti: TypeImpl): TypeImpl | null {
  if (ti.parent !== undefined && ti.parentType === null) {
    const parent = typeGetByName(ti.parent);
    if (!parent) {
      throw new QomError(
        "missing-parent",
        `Type '${ti.name}' is missing its parent '${ti.parent}'`,
        {
          operation: "type_get_parent",
          fatal: true,
        },
      );
    }
    ti.parentType = parent;
  }
  return ti.parentType;
}

function typeIsAncestor(type: TypeImpl | null, target: TypeImpl): boolean {
  for (let t = type; t; t = typeGetParent(t)) {
    if (t === target) return true;
  }
  return false;
}

function typeClassGetSize(ti: TypeImpl): number {
  if (ti.classSize) return ti.classSize;
  const parent = typeGetParent(ti);
  return parent ? typeClassGetSize(parent) : OBJECT_CLASS_SIZE;
}

function typeObjectGetSize(ti: TypeImpl): number {
  if (ti.instanceSize) return ti.instanceSize;
  const parent = typeGetParent(ti);
  return parent ? typeObjectGetSize(parent) : 0;
}

function typeObjectGetAlign(ti: TypeImpl): number {
  if (ti.instanceAlign) return ti.instanceAlign;
  const parent = typeGetParent(ti);
  return parent ? typeObjectGetAlign(parent) : 0;
}

/** sizeof(ObjectClass) and sizeof(Object) on x86_64 hosts, the sizes QEMU starts from. */
const OBJECT_CLASS_SIZE = 96;
const OBJECT_INSTANCE_SIZE = 40;

function interfaceTypeGet(): TypeImpl {
  if (!typeInterface) {
    typeInterface = typeGetByName(TYPE_INTERFACE);
    qomAssert(typeInterface, "type_interface", "type_initialize");
  }
  return typeInterface;
}

function typeInitializeInterface(ti: TypeImpl, interfaceType: TypeImpl, parentType: TypeImpl) {
  const ifaceImpl = typeNew(
    { name: `${ti.name}::${interfaceType.name}`, parent: parentType.name, abstract: true },
    { validateName: false },
  );
  ifaceImpl.parentType = parentType;
  typeInitialize(ifaceImpl);
  const iclass = ifaceImpl.class as InterfaceClass;
  iclass.concreteClass = ti.class;
  iclass.interfaceType = interfaceType;
  ti.class!.interfaces.push(iclass);
}

/**
 * `type_initialize`: create the class of `ti` on first use — parent first, then a copy
 * of the parent's class, interfaces, each ancestor's class_base_init, class_init.
 */
function typeInitialize(ti: TypeImpl): void {
  if (ti.class) return;
  // Resolve the whole parent chain before changing anything, so a dangling parent
  // leaves the registry as it was.
  for (let t: TypeImpl | null = ti; t; t = typeGetParent(t));

  ti.classSize = typeClassGetSize(ti);
  ti.instanceSize = typeObjectGetSize(ti);
  ti.instanceAlign = typeObjectGetAlign(ti);
  if (ti.instanceSize === 0) ti.abstract = true;
  if (ti !== typeTable.get(TYPE_INTERFACE) && typeIsAncestor(ti, interfaceTypeGet())) {
    qomAssert(ti.instanceSize === 0, "ti->instance_size == 0", "type_initialize");
    qomAssert(ti.abstract, "ti->abstract", "type_initialize");
    qomAssert(
      !ti.instanceInit && !ti.instancePostInit && !ti.instanceFinalize,
      "!ti->instance_init && !ti->instance_post_init && !ti->instance_finalize",
      "type_initialize",
    );
    qomAssert(ti.interfaces.length === 0, "!ti->num_interfaces", "type_initialize");
  }

  const parent = typeGetParent(ti);
  if (parent) {
    typeInitialize(parent);
    qomAssert(parent.classSize <= ti.classSize, "parent->class_size <= ti->class_size");
    qomAssert(parent.instanceSize <= ti.instanceSize, "parent->instance_size <= ti->instance_size");
    // The byte-copy: every slot of the parent's class, methods included.
    const klass = { ...parent.class! } as ObjectClass;
    klass.interfaces = [];
    ti.class = klass;
    for (const iface of parent.class!.interfaces) {
      typeInitializeInterface(ti, iface.interfaceType!, iface.type);
    }
    for (const name of ti.interfaces) {
      const t = typeGetByName(name);
      if (!t) {
        ti.class = null;
        throw new QomError(
          "missing-interface",
          `missing interface '${name}' for object '${parent.name}'`,
          {
            operation: "type_initialize",
            fatal: true,
          },
        );
      }
      if (klass.interfaces.some((impl) => typeIsAncestor(impl.type, t))) continue;
      typeInitializeInterface(ti, t, t);
    }
  } else {
    ti.class = { interfaces: [] } as unknown as ObjectClass;
  }
  const klass = ti.class;
  klass.properties = new Map();
  klass.type = ti;
  for (let p = parent; p; p = typeGetParent(p)) {
    p.classBaseInit?.(klass, ti.classData);
  }
  ti.classInit?.(klass, ti.classData);
}

// ---------------------------------------------------------------------------
// Instances

const objectHandles = new WeakMap<QomObject, number>();
let nextHandle = 1;

/** A stable, pointer-like label for messages that print an object's address. */
function objectHandle(obj: QomObject): string {
  let h = objectHandles.get(obj);
  if (h === undefined) {
    h = nextHandle++;
    objectHandles.set(obj, h);
  }
  return `0x${h.toString(16)}`;
}

function objectInitWithTypeImpl(obj: QomObject, ti: TypeImpl): void {
  const parent = typeGetParent(ti);
  if (parent) objectInitWithTypeImpl(obj, parent);
  ti.instanceInit?.(obj);
}

function objectPostInitWithType(obj: QomObject, ti: TypeImpl): void {
  // Root first, as QEMU 10.1 and later do.
  const parent = typeGetParent(ti);
  if (parent) objectPostInitWithType(obj, parent);
  ti.instancePostInit?.(obj);
}

function objectClassPropertyInitAll(obj: QomObject): void {
  for (const prop of classPropertiesLeafToRoot(obj.class)) {
    prop.init?.(obj, prop);
  }
}

function objectInitializeWithType(obj: QomObject, ti: TypeImpl): void {
  typeInitialize(ti);
  qomAssert(ti.instanceSize >= OBJECT_INSTANCE_SIZE, "type->instance_size >= sizeof(Object)");
  if (ti.abstract) {
    throw new QomError("abstract-type", "assertion failed: (type->abstract == false)", {
      operation: "object_initialize_with_type",
      fatal: true,
    });
  }
  obj.class = ti.class!;
  obj.free = null;
  obj.ref = 1;
  obj.parent = null;
  obj.properties = new Map();
  objectClassPropertyInitAll(obj);
  objectInitWithTypeImpl(obj, ti);
  objectPostInitWithType(obj, ti);
}

function lookupType(typename: string, operation: string): TypeImpl {
  const ti = typeGetByName(typename);
  if (!ti) {
    throw new QomError("unknown-type", `unknown type '${typename}'`, { operation, fatal: true });
  }
  return ti;
}

/**
 * `object_initialize`: initialise caller-owned storage as an instance of `typename`
 * (QEMU's embedded objects). The result has refcount 1 and no free function.
 */
export function objectInitialize<T extends QomObject = QomObject>(
  data: object,
  typename: string,
): T {
  const obj = data as QomObject;
  objectInitializeWithType(obj, lookupType(typename, "object_initialize"));
  return obj as T;
}

function objectFreeHeap(): void {}

/** `object_new_with_class`. */
export function objectNewWithClass<T extends QomObject = QomObject>(klass: ObjectClass): T {
  const obj = {} as QomObject;
  objectInitializeWithType(obj, klass.type);
  obj.free = objectFreeHeap;
  return obj as T;
}

/**
 * `object_new`: a new instance with refcount 1 and no parent. Unknown and abstract
 * types are fatal errors, as in QEMU.
 */
export function objectNew<T extends QomObject = QomObject>(typename: string): T {
  const ti = lookupType(typename, "object_new");
  typeInitialize(ti);
  return objectNewWithClass<T>(ti.class!);
}

/**
 * `object_new_with_props`: create, set properties from strings, attach as child `id`
 * of `parent`, run user-creatable `complete`. Returns the object owned by its parent.
 */
export function objectNewWithProps<T extends QomObject = QomObject>(
  typename: string,
  parent: QomObject | null,
  id: string | null,
  props: Readonly<Record<string, string>> = {},
): T {
  const klass = objectClassByName(typename);
  if (!klass) {
    throw new QomError("invalid-parameter-value", `invalid object type: ${typename}`, {
      operation: "object_new_with_props",
    });
  }
  if (objectClassIsAbstract(klass)) {
    throw new QomError("abstract-type", `object type '${typename}' is abstract`, {
      operation: "object_new_with_props",
    });
  }
  const obj = objectNewWithClass<T>(klass);
  try {
    for (const [name, value] of Object.entries(props)) objectPropertyParse(obj, name, value);
    if (id !== null && parent) objectPropertyAddChild(parent, id, obj);
    const uc = objectClassDynamicCast(obj.class, TYPE_USER_CREATABLE) as UserCreatableClass | null;
    if (uc?.complete) {
      try {
        uc.complete(obj);
      } catch (err) {
        if (id !== null && parent) objectUnparent(obj);
        throw err;
      }
    }
  } catch (err) {
    objectUnref(obj);
    throw err;
  }
  objectUnref(obj);
  return obj;
}

/** `user-creatable` (qom/object_interfaces.c): objects that `-object` can create. */
export const TYPE_USER_CREATABLE = "user-creatable";
export interface UserCreatableClass extends InterfaceClass {
  complete: ((uc: QomObject) => void) | undefined;
  canBeDeleted: ((uc: QomObject) => boolean) | undefined;
}

/** `object_ref`. */
export function objectRef<T extends QomObject | null>(obj: T): T {
  if (!obj) return obj;
  qomAssert(obj.ref < 0x7fffffff, "ref < INT_MAX", "object_ref");
  obj.ref++;
  return obj;
}

/** `object_unref`: drop a reference; the last one finalizes the object. */
export function objectUnref(obj: QomObject | null): void {
  if (!obj) return;
  qomAssert(obj.ref > 0, "obj->ref > 0", "object_unref");
  if (obj.ref === 1) {
    // An object still in the tree is owned by its parent's child property.
    qomAssert(obj.parent === null, "obj->parent == NULL", "object_finalize");
    obj.ref = 0;
    objectFinalize(obj);
    return;
  }
  obj.ref--;
}

function objectPropertyDelAll(obj: QomObject): void {
  const released = new Set<ObjectProperty>();
  let again = true;
  while (again) {
    again = false;
    for (const prop of objectPropertyIter(obj)) {
      if (prop.release && !released.has(prop)) {
        released.add(prop);
        prop.release(obj, prop.name, prop.opaque);
        again = true;
        break;
      }
    }
  }
  obj.properties.clear();
}

function objectDeinit(obj: QomObject, ti: TypeImpl): void {
  ti.instanceFinalize?.(obj);
  const parent = typeGetParent(ti);
  if (parent) objectDeinit(obj, parent);
}

function objectFinalize(obj: QomObject): void {
  objectPropertyDelAll(obj);
  objectDeinit(obj, obj.class.type);
  qomAssert(obj.ref === 0, "obj->ref == 0", "object_finalize");
  qomAssert(obj.parent === null, "obj->parent == NULL", "object_finalize");
  obj.free?.(obj);
}

// ---------------------------------------------------------------------------
// Class queries and casts

/** `object_get_class`. */
export function objectGetClass(obj: QomObject): ObjectClass {
  return obj.class;
}

/** `object_get_typename`. */
export function objectGetTypename(obj: QomObject): string {
  return obj.class.type.name;
}

/** `object_class_get_name`. */
export function objectClassGetName(klass: ObjectClass): string {
  return klass.type.name;
}

/** `object_class_is_abstract`. */
export function objectClassIsAbstract(klass: ObjectClass): boolean {
  return klass.type.abstract;
}

/** `object_class_by_name`: the class of a type (initialising it), or null. */
export function objectClassByName(typename: string): ObjectClass | null {
  const ti = typeGetByName(typename);
  if (!ti) return null;
  typeInitialize(ti);
  return ti.class;
}

/** `object_class_get_parent`. */
export function objectClassGetParent(klass: ObjectClass): ObjectClass | null {
  const parent = typeGetParent(klass.type);
  if (!parent) return null;
  typeInitialize(parent);
  return parent.class;
}

/**
 * `object_class_dynamic_cast`: `klass` if it is (or descends from) `typename`; for an
 * interface, the one implementation class — none or an ambiguous two give null.
 */
export function objectClassDynamicCast<C extends ObjectClass = ObjectClass>(
  klass: ObjectClass | null,
  typename: string,
): C | null {
  if (!klass) return null;
  const type = klass.type;
  if (type.name === typename) return klass as C;
  const target = typeGetByName(typename);
  if (!target) return null;
  if (type.class!.interfaces.length > 0 && typeIsAncestor(target, interfaceTypeGet())) {
    let found = 0;
    let ret: ObjectClass | null = null;
    for (const impl of klass.interfaces) {
      if (typeIsAncestor(impl.type, target)) {
        ret = impl;
        found++;
      }
    }
    return found > 1 ? null : (ret as C | null);
  }
  return typeIsAncestor(type, target) ? (klass as C) : null;
}

/** `object_dynamic_cast`: the object itself if its class casts to `typename`. */
export function objectDynamicCast<T extends QomObject = QomObject>(
  obj: QomObject | null,
  typename: string,
): T | null {
  if (obj && objectClassDynamicCast(obj.class, typename)) return obj as T;
  return null;
}

/** Where a checked cast was written: QEMU prints `file:line:func:` before the message. */
export interface CastSite {
  readonly file: string;
  readonly line: number;
  readonly func: string;
}

function castFailure(what: string, typename: string, site: CastSite | undefined): QomError {
  const where = site ? `${site.file}:${site.line}:${site.func}: ` : "";
  return new QomError("bad-cast", `${where}${what} is not an instance of type ${typename}`, {
    operation: "object_dynamic_cast_assert",
    fatal: true,
  });
}

/** `OBJECT_CHECK` / `object_dynamic_cast_assert`: a cast that must succeed. */
export function objectCheck<T extends QomObject = QomObject>(
  obj: QomObject | null,
  typename: string,
  site?: CastSite,
): T {
  if (obj === null) return null as unknown as T;
  const ret = objectDynamicCast<T>(obj, typename);
  if (!ret) throw castFailure(`Object ${objectHandle(obj)}`, typename, site);
  return ret;
}

/** `INTERFACE_CHECK`: the object, checked to implement `typename`. */
export const interfaceCheck = objectCheck;

const classHandles = new WeakMap<ObjectClass, number>();

/** `OBJECT_CLASS_CHECK` / `object_class_dynamic_cast_assert`. */
export function objectClassCheck<C extends ObjectClass = ObjectClass>(
  klass: ObjectClass | null,
  typename: string,
  site?: CastSite,
): C {
  if (klass === null) return null as unknown as C;
  const ret = objectClassDynamicCast<C>(klass, typename);
  if (!ret) {
    let h = classHandles.get(klass);
    if (h === undefined) {
      h = nextHandle++;
      classHandles.set(klass, h);
    }
    throw castFailure(`Object 0x${h.toString(16)}`, typename, site);
  }
  return ret;
}

/** `OBJECT_GET_CLASS(Class, obj, name)`: the object's class (or interface class), checked. */
export function objectGetClassChecked<C extends ObjectClass = ObjectClass>(
  obj: QomObject,
  typename: string,
  site?: CastSite,
): C {
  return objectClassCheck<C>(obj.class, typename, site);
}

/**
 * `object_class_foreach`: visit every type, initialising its class; abstract types
 * only when asked; filtered by a dynamic cast to `implementsType` when given.
 */
export function objectClassForeach(
  fn: (klass: ObjectClass) => void,
  implementsType: string | null,
  includeAbstract: boolean,
): void {
  enumerating = true;
  try {
    for (const ti of typeTable.values()) {
      typeInitialize(ti);
      const k = ti.class!;
      if (!includeAbstract && ti.abstract) continue;
      if (implementsType && !objectClassDynamicCast(k, implementsType)) continue;
      fn(k);
    }
  } finally {
    enumerating = false;
  }
}

/** `object_class_get_list`. */
export function objectClassGetList(
  implementsType: string | null,
  includeAbstract: boolean,
): ObjectClass[] {
  const list: ObjectClass[] = [];
  objectClassForeach((k) => list.push(k), implementsType, includeAbstract);
  return list;
}

/** `object_class_get_list_sorted`: by name, case-insensitively. */
export function objectClassGetListSorted(
  implementsType: string | null,
  includeAbstract: boolean,
): ObjectClass[] {
  return objectClassGetList(implementsType, includeAbstract).sort((a, b) => {
    const x = a.type.name.toLowerCase();
    const y = b.type.name.toLowerCase();
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

// ---------------------------------------------------------------------------
// Properties: lookup and iteration

function* classPropertiesLeafToRoot(klass: ObjectClass): Generator<ObjectProperty> {
  for (let k: ObjectClass | null = klass; k; k = objectClassGetParent(k)) {
    yield* k.properties.values();
  }
}

/**
 * `object_property_iter_init/next`: the instance's own properties, then its class's,
 * then each parent class's up to `object`.
 */
export function* objectPropertyIter(obj: QomObject): Generator<ObjectProperty> {
  yield* [...obj.properties.values()];
  yield* classPropertiesLeafToRoot(obj.class);
}

/** `object_class_property_iter_init`: class properties only, leaf class first. */
export function objectClassPropertyIter(klass: ObjectClass): Generator<ObjectProperty> {
  return classPropertiesLeafToRoot(klass);
}

/** `object_class_property_find`: the root-most definition in the class chain wins. */
export function objectClassPropertyFind(klass: ObjectClass, name: string): ObjectProperty | null {
  const parent = objectClassGetParent(klass);
  if (parent) {
    const prop = objectClassPropertyFind(parent, name);
    if (prop) return prop;
  }
  return klass.properties.get(name) ?? null;
}

/** `object_property_find`: class chain first, then the instance's own table. */
export function objectPropertyFind(obj: QomObject, name: string): ObjectProperty | null {
  return objectClassPropertyFind(obj.class, name) ?? obj.properties.get(name) ?? null;
}

/** `object_property_find_err`. */
export function objectPropertyFindErr(obj: QomObject, name: string): ObjectProperty {
  const prop = objectPropertyFind(obj, name);
  if (!prop) {
    throw new QomError(
      "property-not-found",
      `Property '${objectGetTypename(obj)}.${name}' not found`,
      { operation: "object_property_find_err" },
    );
  }
  return prop;
}

/** `object_class_property_find_err`. */
export function objectClassPropertyFindErr(klass: ObjectClass, name: string): ObjectProperty {
  const prop = objectClassPropertyFind(klass, name);
  if (!prop) {
    throw new QomError("property-not-found", `Property '.${name}' not found`, {
      operation: "object_class_property_find_err",
    });
  }
  return prop;
}

// ---------------------------------------------------------------------------
// Properties: adding and removing

function newProperty(
  name: string,
  type: string,
  get: ObjectPropertyAccessor | undefined,
  set: ObjectPropertySetter | undefined,
  release: ObjectPropertyRelease | undefined,
  opaque: unknown,
): ObjectProperty {
  return {
    name,
    type,
    description: undefined,
    get,
    set,
    resolve: undefined,
    release,
    init: undefined,
    opaque,
    defval: undefined,
  };
}

/**
 * `object_property_try_add`. A name ending in `[*]` takes the first free `name[N]`.
 * A name already visible on the object fails with QEMU's duplicate-property message.
 */
export function objectPropertyTryAdd(
  obj: QomObject,
  name: string,
  type: string,
  get?: ObjectPropertyAccessor,
  set?: ObjectPropertySetter,
  release?: ObjectPropertyRelease,
  opaque?: unknown,
): ObjectProperty {
  if (name.endsWith("[*]")) {
    const stem = name.slice(0, -3);
    for (let i = 0; i < INT16_MAX; i++) {
      const full = `${stem}[${i}]`;
      if (!objectPropertyFind(obj, full)) {
        return objectPropertyTryAdd(obj, full, type, get, set, release, opaque);
      }
    }
    qomAssert(false, "i < INT16_MAX", "object_property_try_add");
  }
  if (objectPropertyFind(obj, name)) {
    throw new QomError(
      "duplicate-property",
      `attempt to add duplicate property '${name}' to object (type '${objectGetTypename(obj)}')`,
      { operation: "object_property_try_add" },
    );
  }
  const prop = newProperty(name, type, get, set, release, opaque);
  obj.properties.set(prop.name, prop);
  return prop;
}

/** `object_property_add`: like try_add, but a failure is fatal (`&error_abort`). */
export function objectPropertyAdd(
  obj: QomObject,
  name: string,
  type: string,
  get?: ObjectPropertyAccessor,
  set?: ObjectPropertySetter,
  release?: ObjectPropertyRelease,
  opaque?: unknown,
): ObjectProperty {
  try {
    return objectPropertyTryAdd(obj, name, type, get, set, release, opaque);
  } catch (err) {
    throw asFatal(err);
  }
}

function asFatal(err: unknown): unknown {
  if (err instanceof QomError && !err.fatal) {
    return new QomError(err.code, err.message, {
      operation: err.operation,
      fatal: true,
      cause: err,
    });
  }
  return err;
}

/** `object_class_property_add`: a second definition anywhere in the chain is fatal. */
export function objectClassPropertyAdd(
  klass: ObjectClass,
  name: string,
  type: string,
  get?: ObjectPropertyAccessor,
  set?: ObjectPropertySetter,
  release?: ObjectPropertyRelease,
  opaque?: unknown,
): ObjectProperty {
  qomAssert(
    !objectClassPropertyFind(klass, name),
    "!object_class_property_find(klass, name)",
    "object_class_property_add",
  );
  const prop = newProperty(name, type, get, set, release, opaque);
  klass.properties.set(name, prop);
  return prop;
}

/** `object_property_del`: run the release hook and remove the instance property. */
export function objectPropertyDel(obj: QomObject, name: string): void {
  const prop = obj.properties.get(name);
  if (!prop) return;
  prop.release?.(obj, name, prop.opaque);
  obj.properties.delete(name);
}

/** `object_property_set_description`. */
export function objectPropertySetDescription(obj: QomObject, name: string, desc: string): void {
  objectPropertyFindErr(obj, name).description = desc;
}

/** `object_class_property_set_description`. */
export function objectClassPropertySetDescription(
  klass: ObjectClass,
  name: string,
  desc: string,
): void {
  const prop = klass.properties.get(name);
  qomAssert(prop, "op", "object_class_property_set_description");
  prop.description = desc;
}

/** `object_property_init_defval`: write the default through the setter. */
function objectPropertyInitDefval(obj: QomObject, prop: ObjectProperty): void {
  qomAssert(prop.set, "prop->set", "object_property_init_defval");
  prop.set(obj, qobjectInputVisitorNew(prop.defval ?? null), prop.name, prop.opaque);
}

function objectPropertySetDefault(prop: ObjectProperty, value: QValue): void {
  qomAssert(prop.defval === undefined, "!prop->defval", "object_property_set_default");
  qomAssert(prop.init === undefined, "!prop->init", "object_property_set_default");
  prop.defval = value;
  prop.init = objectPropertyInitDefval;
}

/** `object_property_set_default_bool`. */
export function objectPropertySetDefaultBool(prop: ObjectProperty, value: boolean): void {
  objectPropertySetDefault(prop, value);
}
/** `object_property_set_default_str`. */
export function objectPropertySetDefaultStr(prop: ObjectProperty, value: string): void {
  objectPropertySetDefault(prop, value);
}
/** `object_property_set_default_int`. */
export function objectPropertySetDefaultInt(prop: ObjectProperty, value: QNum): void {
  objectPropertySetDefault(prop, typeof value === "bigint" ? qnumFromBigint(value) : value);
}
/** `object_property_set_default_uint`. */
export function objectPropertySetDefaultUint(prop: ObjectProperty, value: QNum): void {
  objectPropertySetDefault(prop, typeof value === "bigint" ? qnumFromBigint(value) : value);
}

// Typed adders ------------------------------------------------------------

export type StrGetter<O extends QomObject> = (obj: O) => string;
export type StrSetter<O extends QomObject> = (obj: O, value: string) => void;
export type BoolGetter<O extends QomObject> = (obj: O) => boolean;
export type BoolSetter<O extends QomObject> = (obj: O, value: boolean) => void;

/** Wrap typed accessors as property accessors that read through `read`. */
function typedAccessors<O extends QomObject, V>(
  read: (v: InputVisitor, name: string) => V,
  get?: (obj: O) => V,
  set?: (obj: O, value: V) => void,
) {
  return [
    get && ((obj: QomObject) => get(obj as O) as QValue),
    set && ((obj: QomObject, v: InputVisitor, name: string) => set(obj as O, read(v, name))),
  ] as const;
}
const readStr = (v: InputVisitor, name: string) => v.typeStr(name);
const readBool = (v: InputVisitor, name: string) => v.typeBool(name);

/** `object_property_add_str`: a property of type `string`. */
export function objectPropertyAddStr<O extends QomObject>(
  obj: O,
  name: string,
  get?: StrGetter<O>,
  set?: StrSetter<O>,
): ObjectProperty {
  const [g, s] = typedAccessors(readStr, get, set);
  return objectPropertyAdd(obj, name, "string", g, s);
}

/** `object_class_property_add_str`. */
export function objectClassPropertyAddStr<O extends QomObject>(
  klass: ObjectClass,
  name: string,
  get?: StrGetter<O>,
  set?: StrSetter<O>,
): ObjectProperty {
  const [g, s] = typedAccessors(readStr, get, set);
  return objectClassPropertyAdd(klass, name, "string", g, s);
}

/** `object_property_add_bool`. */
export function objectPropertyAddBool<O extends QomObject>(
  obj: O,
  name: string,
  get?: BoolGetter<O>,
  set?: BoolSetter<O>,
): ObjectProperty {
  const [g, s] = typedAccessors(readBool, get, set);
  return objectPropertyAdd(obj, name, "bool", g, s);
}

/** `object_class_property_add_bool`. */
export function objectClassPropertyAddBool<O extends QomObject>(
  klass: ObjectClass,
  name: string,
  get?: BoolGetter<O>,
  set?: BoolSetter<O>,
): ObjectProperty {
  const [g, s] = typedAccessors(readBool, get, set);
  return objectClassPropertyAdd(klass, name, "bool", g, s);
}

function enumAccessors<O extends QomObject>(
  lookup: readonly string[],
  get?: (obj: O) => number,
  set?: (obj: O, value: number) => void,
) {
  return [
    get && ((obj: QomObject) => lookup[get(obj as O)] ?? null),
    set &&
      ((obj: QomObject, v: InputVisitor, name: string) => set(obj as O, v.typeEnum(name, lookup))),
  ] as const;
}

/** `object_property_add_enum`: values are indices into `lookup` (a QEnumLookup). */
export function objectPropertyAddEnum<O extends QomObject>(
  obj: O,
  name: string,
  typename: string,
  lookup: readonly string[],
  get?: (obj: O) => number,
  set?: (obj: O, value: number) => void,
): ObjectProperty {
  const [g, s] = enumAccessors(lookup, get, set);
  return objectPropertyAdd(obj, name, typename, g, s);
}

/** `object_class_property_add_enum`. */
export function objectClassPropertyAddEnum<O extends QomObject>(
  klass: ObjectClass,
  name: string,
  typename: string,
  lookup: readonly string[],
  get?: (obj: O) => number,
  set?: (obj: O, value: number) => void,
): ObjectProperty {
  const [g, s] = enumAccessors(lookup, get, set);
  return objectClassPropertyAdd(klass, name, typename, g, s);
}

/** `ObjectPropertyFlags` for the `_ptr` adders. */
export const OBJ_PROP_FLAG_READ = 1;
export const OBJ_PROP_FLAG_WRITE = 2;
export const OBJ_PROP_FLAG_READWRITE = 3;
export type ObjectPropertyFlags = 1 | 2 | 3;

function uintPtrAdd(
  obj: QomObject,
  name: string,
  bits: 8 | 16 | 32,
  ptr: QomPtr<number>,
  flags: ObjectPropertyFlags,
): ObjectProperty {
  return objectPropertyAdd(
    obj,
    name,
    `uint${bits}`,
    flags & OBJ_PROP_FLAG_READ ? () => ptr.get() : undefined,
    flags & OBJ_PROP_FLAG_WRITE
      ? (_o, v, n) => {
          ptr.set(visitTypeUintN(v, n, bits));
        }
      : undefined,
  );
}

/** `object_property_add_uint8_ptr`. */
export function objectPropertyAddUint8Ptr(
  obj: QomObject,
  name: string,
  ptr: QomPtr<number>,
  flags: ObjectPropertyFlags,
): ObjectProperty {
  return uintPtrAdd(obj, name, 8, ptr, flags);
}
/** `object_property_add_uint16_ptr`. */
export function objectPropertyAddUint16Ptr(
  obj: QomObject,
  name: string,
  ptr: QomPtr<number>,
  flags: ObjectPropertyFlags,
): ObjectProperty {
  return uintPtrAdd(obj, name, 16, ptr, flags);
}
/** `object_property_add_uint32_ptr`. */
export function objectPropertyAddUint32Ptr(
  obj: QomObject,
  name: string,
  ptr: QomPtr<number>,
  flags: ObjectPropertyFlags,
): ObjectProperty {
  return uintPtrAdd(obj, name, 32, ptr, flags);
}
/** `object_property_add_uint64_ptr`: 64-bit fields are `bigint`. */
export function objectPropertyAddUint64Ptr(
  obj: QomObject,
  name: string,
  ptr: QomPtr<bigint>,
  flags: ObjectPropertyFlags,
): ObjectProperty {
  return objectPropertyAdd(
    obj,
    name,
    "uint64",
    flags & OBJ_PROP_FLAG_READ ? () => qnumFromBigint(ptr.get()) : undefined,
    flags & OBJ_PROP_FLAG_WRITE
      ? (_o, v, n) => {
          ptr.set(v.typeUint64(n));
        }
      : undefined,
  );
}

// Links -------------------------------------------------------------------

/** `ObjectPropertyLinkFlags`. */
export const OBJ_PROP_LINK_STRONG = 0x1;

/** The veto hook of a link: throws to refuse the new target. */
export type LinkCheck = (obj: QomObject, name: string, target: QomObject | null) => void;

/** `object_property_allow_set_link`: the check that always allows. */
export const objectPropertyAllowSetLink: LinkCheck = () => {};

interface LinkProperty {
  readonly targetType: string;
  readonly ptr: (obj: QomObject) => QomPtr<QomObject | null>;
  readonly check: LinkCheck | undefined;
  readonly flags: number;
}

/** `object_resolve_link`: resolve a path for a `link<T>` property with QEMU's errors. */
function objectResolveLink(name: string, path: string, targetType: string) {
  const out = { ambiguous: false };
  const target = objectResolvePathType(path, targetType, out);
  if (out.ambiguous) {
    throw new QomError("ambiguous-path", `Path '${path}' does not uniquely identify an object`, {
      operation: "object_resolve_link",
    });
  }
  if (target) return target;
  const any = objectResolvePath(path, out);
  if (any || out.ambiguous) throw invalidType(name, targetType);
  throw new QomError("device-not-found", `Device '${path}' not found`, {
    operation: "object_resolve_link",
  });
}

function invalidType(name: string, expected: string): QomError {
  return new QomError(
    "invalid-parameter-type",
    `Invalid parameter type for '${name}', expected: ${expected}`,
  );
}

function linkGet(obj: QomObject, _name: string, opaque: unknown): QValue {
  const target = (opaque as LinkProperty).ptr(obj).get();
  return target ? (objectGetCanonicalPath(target) ?? "") : "";
}

function linkSet(obj: QomObject, v: InputVisitor, name: string, opaque: unknown): void {
  const lprop = opaque as LinkProperty;
  const ptr = lprop.ptr(obj);
  const path = v.typeStr(name);
  const newTarget = path === "" ? null : objectResolveLink(name, path, lprop.targetType);
  lprop.check!(obj, name, newTarget);
  const old = ptr.get();
  ptr.set(newTarget);
  if (lprop.flags & OBJ_PROP_LINK_STRONG) {
    objectRef(newTarget);
    objectUnref(old);
  }
}

function linkResolve(obj: QomObject, opaque: unknown): QomObject | null {
  return (opaque as LinkProperty).ptr(obj).get();
}

function linkRelease(obj: QomObject, _name: string, opaque: unknown): void {
  const lprop = opaque as LinkProperty;
  if (lprop.flags & OBJ_PROP_LINK_STRONG) {
    const ptr = lprop.ptr(obj);
    const target = ptr.get();
    if (target) {
      ptr.set(null);
      objectUnref(target);
    }
  }
}

/**
 * `object_property_add_link`: a `link<T>` property. Without a `check` it is read-only;
 * with OBJ_PROP_LINK_STRONG it holds a reference on its target.
 */
export function objectPropertyAddLink(
  obj: QomObject,
  name: string,
  type: string,
  ptr: QomPtr<QomObject | null>,
  check: LinkCheck | undefined,
  flags: number,
): ObjectProperty {
  const lprop: LinkProperty = { targetType: type, ptr: () => ptr, check, flags };
  const op = objectPropertyAdd(
    obj,
    name,
    `link<${type}>`,
    linkGet,
    check ? linkSet : undefined,
    linkRelease,
    lprop,
  );
  op.resolve = linkResolve;
  return op;
}

/**
 * `object_class_property_add_link`: a class link whose target lives in a field of each
 * instance (OBJ_PROP_LINK_CLASS); qdev's DEFINE_PROP_LINK is built on it.
 */
export function objectClassPropertyAddLink(
  klass: ObjectClass,
  name: string,
  type: string,
  field: string,
  check: LinkCheck | undefined,
  flags: number,
): ObjectProperty {
  const lprop: LinkProperty = {
    targetType: type,
    ptr: (obj) => fieldPtr(obj as unknown as Record<string, QomObject | null>, field),
    check,
    flags,
  };
  const op = objectClassPropertyAdd(
    klass,
    name,
    `link<${type}>`,
    linkGet,
    check ? linkSet : undefined,
    linkRelease,
    lprop,
  );
  op.resolve = linkResolve;
  return op;
}

/** `object_property_add_const_link`: a read-only link to a fixed target. */
export function objectPropertyAddConstLink(
  obj: QomObject,
  name: string,
  target: QomObject,
): ObjectProperty {
  let value: QomObject | null = target;
  return objectPropertyAddLink(
    obj,
    name,
    objectGetTypename(target),
    { get: () => value, set: (v) => (value = v) },
    undefined,
    0,
  );
}

// Children ------------------------------------------------------------------

function childGet(_obj: QomObject, _name: string, opaque: unknown): QValue {
  return objectGetCanonicalPath(opaque as QomObject) ?? "";
}

function childResolve(_obj: QomObject, opaque: unknown): QomObject | null {
  return opaque as QomObject;
}

function childRelease(_obj: QomObject, _name: string, opaque: unknown): void {
  const child = opaque as QomObject;
  child.class.unparent?.(child);
  child.parent = null;
  objectUnref(child);
}

/** True for a `child<…>` property (object_property_is_child). */
export function objectPropertyIsChild(prop: ObjectProperty): boolean {
  return prop.type.startsWith("child<");
}

/**
 * `object_property_try_add_child`: `parent.name` becomes a `child<T>` property holding
 * one reference on `child`, and `child`'s parent is set.
 */
export function objectPropertyTryAddChild<T extends QomObject>(
  parent: QomObject,
  name: string,
  child: T,
): ObjectProperty {
  qomAssert(!child.parent, "!child->parent", "object_property_try_add_child");
  const op = objectPropertyTryAdd(
    parent,
    name,
    `child<${objectGetTypename(child)}>`,
    childGet,
    undefined,
    childRelease,
    child,
  );
  op.resolve = childResolve;
  objectRef(child);
  child.parent = parent;
  return op;
}

/** `object_property_add_child`: as try_add_child, failures fatal. */
export function objectPropertyAddChild<T extends QomObject>(
  parent: QomObject,
  name: string,
  child: T,
): ObjectProperty {
  try {
    return objectPropertyTryAddChild(parent, name, child);
  } catch (err) {
    throw asFatal(err);
  }
}

/**
 * `object_initialize_child`: create `typename` as child `name` of `parent`; the
 * parent's child property holds the only reference.
 */
export function objectInitializeChild<T extends QomObject = QomObject>(
  parent: QomObject,
  name: string,
  typename: string,
): T {
  const child = objectNew<T>(typename);
  objectPropertyAddChild(parent, name, child);
  objectUnref(child);
  return child;
}

/** `object_unparent`: remove `obj` from its parent, dropping the parent's reference. */
export function objectUnparent(obj: QomObject): void {
  const parent = obj.parent;
  if (!parent) return;
  for (const prop of parent.properties.values()) {
    if (objectPropertyIsChild(prop) && prop.opaque === obj) {
      // Release while the property still exists (the device unrealizes in place).
      const release = prop.release;
      prop.release = undefined;
      release?.(parent, prop.name, prop.opaque);
      parent.properties.delete(prop.name);
      return;
    }
  }
}

/** `object_get_canonical_path_component`: the child property name in the parent. */
export function objectGetCanonicalPathComponent(obj: QomObject): string | null {
  const parent = obj.parent;
  if (!parent) return null;
  for (const prop of parent.properties.values()) {
    if (objectPropertyIsChild(prop) && prop.opaque === obj) return prop.name;
  }
  qomAssert(false, "child property of parent", "object_get_canonical_path_component");
}

/** `object_get_canonical_path`: `/` for the root, null if not attached to it. */
export function objectGetCanonicalPath(obj: QomObject): string | null {
  const root = objectGetRoot();
  if (obj === root) return "/";
  const parts: string[] = [];
  for (let o: QomObject = obj; o !== root; o = o.parent!) {
    const component = objectGetCanonicalPathComponent(o);
    if (component === null) return null;
    parts.unshift(component);
  }
  return `/${parts.join("/")}`;
}

// Aliases -------------------------------------------------------------------

interface AliasProperty {
  readonly target: QomObject;
  readonly targetName: string;
}

/**
 * `object_property_add_alias`: forward get/set/resolve to `target`'s property. A
 * `child<X>` target is exposed as `link<X>`.
 */
export function objectPropertyAddAlias(
  obj: QomObject,
  name: string,
  target: QomObject,
  targetName: string,
): ObjectProperty {
  const targetProp = objectPropertyFindErr(target, targetName);
  const type = objectPropertyIsChild(targetProp)
    ? `link${targetProp.type.slice("child".length)}`
    : targetProp.type;
  const alias: AliasProperty = { target, targetName };
  const op = objectPropertyAdd(
    obj,
    name,
    type,
    (_o, _n, opaque) => {
      const a = opaque as AliasProperty;
      return objectPropertyGet(a.target, a.targetName);
    },
    (_o, v, _n, opaque) => {
      const a = opaque as AliasProperty;
      objectPropertySet(a.target, a.targetName, v);
    },
    undefined,
    alias,
  );
  op.resolve = (_o, opaque) => {
    const a = opaque as AliasProperty;
    return objectResolvePathComponent(a.target, a.targetName);
  };
  op.description = targetProp.description;
  if (targetProp.defval !== undefined) op.defval = targetProp.defval;
  return op;
}

// ---------------------------------------------------------------------------
// Properties: get and set

/** `object_property_get`: the value as a QObject. */
export function objectPropertyGet(obj: QomObject, name: string): QValue {
  const prop = objectPropertyFindErr(obj, name);
  if (!prop.get) {
    throw new QomError(
      "not-readable",
      `Property '${objectGetTypename(obj)}.${name}' is not readable`,
      { operation: "object_property_get" },
    );
  }
  return prop.get(obj, name, prop.opaque);
}

/** `object_property_set`: feed a visitor to the property's setter. */
export function objectPropertySet(obj: QomObject, name: string, v: InputVisitor): void {
  const prop = objectPropertyFindErr(obj, name);
  if (!prop.set) {
    throw new QomError(
      "not-writable",
      `Property '${objectGetTypename(obj)}.${name}' is not writable`,
      { operation: "object_property_set" },
    );
  }
  prop.set(obj, v, name, prop.opaque);
}

/** `object_property_get_qobject`. */
export const objectPropertyGetQobject = objectPropertyGet;

/** `object_property_set_qobject`: strict JSON typing, as QMP's qom-set. */
export function objectPropertySetQobject(obj: QomObject, name: string, value: QValue): void {
  objectPropertySet(obj, name, qobjectInputVisitorNew(value));
}

/** `object_property_parse`: set from the command-line spelling of a value. */
export function objectPropertyParse(obj: QomObject, name: string, text: string): void {
  objectPropertySet(obj, name, stringInputVisitorNew(text));
}

/** `object_property_set_str`. */
export function objectPropertySetStr(obj: QomObject, name: string, value: string): void {
  objectPropertySetQobject(obj, name, value);
}
/** `object_property_set_bool`. */
export function objectPropertySetBool(obj: QomObject, name: string, value: boolean): void {
  objectPropertySetQobject(obj, name, value);
}
/** `object_property_set_int`. */
export function objectPropertySetInt(obj: QomObject, name: string, value: QNum): void {
  objectPropertySetQobject(obj, name, value);
}
/** `object_property_set_uint`. */
export function objectPropertySetUint(obj: QomObject, name: string, value: QNum): void {
  objectPropertySetQobject(obj, name, value);
}
/** `object_property_set_link`: writes the target's canonical path, `""` for null. */
export function objectPropertySetLink(obj: QomObject, name: string, value: QomObject | null): void {
  objectPropertySetStr(obj, name, value ? (objectGetCanonicalPath(value) ?? "") : "");
}

/** `object_property_get_str`. */
export function objectPropertyGetStr(obj: QomObject, name: string): string {
  const v = objectPropertyGet(obj, name);
  if (typeof v !== "string") throw invalidType(name, "string");
  return v;
}
/** `object_property_get_bool`. */
export function objectPropertyGetBool(obj: QomObject, name: string): boolean {
  const v = objectPropertyGet(obj, name);
  if (typeof v !== "boolean") throw invalidType(name, "boolean");
  return v;
}
/** `object_property_get_int`: an int64, exact. */
export function objectPropertyGetInt(obj: QomObject, name: string): bigint {
  const v = objectPropertyGet(obj, name);
  if (typeof v === "bigint") {
    if (v < -(1n << 63n) || v >= 1n << 63n) throw invalidType(name, "int");
    return v;
  }
  if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
  throw invalidType(name, "int");
}
/** `object_property_get_uint`: a uint64, exact. */
export function objectPropertyGetUint(obj: QomObject, name: string): bigint {
  const v = objectPropertyGet(obj, name);
  const n =
    typeof v === "bigint"
      ? v
      : typeof v === "number" && Number.isInteger(v)
        ? BigInt(v)
        : undefined;
  if (n === undefined || n < 0n) throw invalidType(name, "uint");
  return n;
}
/** `object_property_get_enum`: the index of the value in `lookup`. */
export function objectPropertyGetEnum(
  obj: QomObject,
  name: string,
  typename: string,
  lookup: readonly string[],
): number {
  const prop = objectPropertyFindErr(obj, name);
  if (prop.type !== typename) {
    throw new QomError(
      "invalid-parameter-type",
      `Property ${name} on ${objectGetTypename(obj)} is not '${typename}' enum type`,
      { operation: "object_property_get_enum" },
    );
  }
  const v = objectPropertyGetStr(obj, name);
  const i = lookup.indexOf(v);
  if (i < 0) throw invalidType(name, typename);
  return i;
}
/** `object_property_get_link`: resolve the path the property holds. */
export function objectPropertyGetLink(obj: QomObject, name: string): QomObject | null {
  const path = objectPropertyGetStr(obj, name);
  if (path === "") return null;
  const target = objectResolvePath(path);
  if (!target) {
    throw new QomError("device-not-found", `Device '${path}' not found`, {
      operation: "object_property_get_link",
    });
  }
  return target;
}

/** `object_property_print`: the value in the string output visitor's spelling. */
export function objectPropertyPrint(obj: QomObject, name: string, human = false): string {
  const v = objectPropertyGet(obj, name);
  if (typeof v === "string") return human ? JSON.stringify(v) : v;
  if (typeof v === "boolean" || typeof v === "number" || typeof v === "bigint") return String(v);
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));
}

/** `object_property_get_type`. */
export function objectPropertyGetType(obj: QomObject, name: string): string {
  return objectPropertyFindErr(obj, name).type;
}

// ---------------------------------------------------------------------------
// Global and compat properties (object_apply_global_props)

/** `GlobalProperty`: `-global driver.property=value` and machine/accel compat entries. */
export interface GlobalProperty {
  readonly driver: string;
  readonly property: string;
  readonly value: string;
  used?: boolean;
  readonly optional?: boolean;
}

/**
 * `object_apply_global_props`: each entry whose driver `obj` is-a, in order (later
 * entries win). Errors go to `onError` (QEMU's errp), or are fatal when it is absent.
 */
export function objectApplyGlobalProps(
  obj: QomObject,
  props: readonly GlobalProperty[],
  onError?: (err: QomError) => void,
): void {
  for (const p of props) {
    if (!objectDynamicCast(obj, p.driver)) continue;
    if (p.optional && !objectPropertyFind(obj, p.property)) continue;
    p.used = true;
    try {
      objectPropertyParse(obj, p.property, p.value);
    } catch (err) {
      if (!(err instanceof QomError)) throw err;
      const e = errorPrepend(err, `can't apply global ${p.driver}.${p.property}=${p.value}: `);
      if (onError) onError(e);
      else throw asFatal(e);
    }
  }
}

const compatProps: [GlobalProperty[], GlobalProperty[], GlobalProperty[]] = [[], [], []];

/** `object_set_accelerator_compat_props`. */
export function objectSetAcceleratorCompatProps(props: readonly GlobalProperty[]): void {
  compatProps[0] = props.map((p) => ({ ...p }));
}
/** `object_set_machine_compat_props`. */
export function objectSetMachineCompatProps(props: readonly GlobalProperty[]): void {
  compatProps[1] = props.map((p) => ({ ...p }));
}
/** `object_register_sugar_prop`: e.g. `-cpu Model,+feat` becomes `Model-x86_64-cpu.feat=on`. */
export function objectRegisterSugarProp(
  driver: string,
  property: string,
  value: string,
  optional = false,
): void {
  compatProps[2].push({ driver, property, value, optional });
}
/** `object_apply_compat_props`: accelerator, then machine, then sugar properties. */
export function objectApplyCompatProps(obj: QomObject): void {
  for (const props of compatProps) objectApplyGlobalProps(obj, props);
}

// ---------------------------------------------------------------------------
// The composition tree

let root: QomObject | null = null;
let internalRoot: QomObject | null = null;

/**
 * `object_get_root`: the `/` container, created on first use with the containers
 * `audiodevs`, `chardevs`, `objects` and `backend`.
 */
export function objectGetRoot(): QomObject {
  if (!root) {
    root = objectNew(TYPE_CONTAINER);
    for (const name of ["audiodevs", "chardevs", "objects", "backend"]) {
      objectPropertyAddNewContainer(root, name);
    }
  }
  return root;
}

/** `object_get_objects_root`: `/objects`, where `-object id=…` lands. */
export function objectGetObjectsRoot(): QomObject {
  return objectResolvePathComponent(objectGetRoot(), "objects")!;
}

/** `object_get_internal_root`: a container outside the visible tree. */
export function objectGetInternalRoot(): QomObject {
  internalRoot ??= objectNew(TYPE_CONTAINER);
  return internalRoot;
}

/** `object_resolve_path_component`: follow one child, link or alias property. */
export function objectResolvePathComponent(parent: QomObject, part: string): QomObject | null {
  const prop = objectPropertyFind(parent, part);
  if (!prop?.resolve) return null;
  return prop.resolve(parent, prop.opaque, part);
}

function objectResolveAbsPath(
  parent: QomObject,
  parts: readonly string[],
  index: number,
  typename: string,
): QomObject | null {
  let obj: QomObject | null = parent;
  for (let i = index; i < parts.length && obj; i++) {
    if (parts[i] === "") continue;
    obj = objectResolvePathComponent(obj, parts[i]!);
  }
  return obj ? objectDynamicCast(obj, typename) : null;
}

function objectResolvePartialPath(
  parent: QomObject,
  parts: readonly string[],
  typename: string,
  out: { ambiguous: boolean },
): QomObject | null {
  let obj = objectResolveAbsPath(parent, parts, 0, typename);
  for (const prop of parent.properties.values()) {
    if (!objectPropertyIsChild(prop)) continue;
    const found = objectResolvePartialPath(prop.opaque as QomObject, parts, typename, out);
    if (found) {
      if (obj) {
        out.ambiguous = true;
        return null;
      }
      obj = found;
    }
    if (out.ambiguous) return null;
  }
  return obj;
}

/**
 * `object_resolve_path_type`: an absolute path walks from `/`; a partial path must
 * match exactly one place in the tree (`out.ambiguous` says when it matched more).
 */
export function objectResolvePathType<T extends QomObject = QomObject>(
  path: string,
  typename: string,
  out?: { ambiguous: boolean },
): T | null {
  const parts = path.split("/");
  const state = out ?? { ambiguous: false };
  state.ambiguous = false;
  if (!path.startsWith("/")) {
    return objectResolvePartialPath(objectGetRoot(), parts, typename, state) as T | null;
  }
  return objectResolveAbsPath(objectGetRoot(), parts, 1, typename) as T | null;
}

/** `object_resolve_path`: any object at `path`. */
export function objectResolvePath<T extends QomObject = QomObject>(
  path: string,
  out?: { ambiguous: boolean },
): T | null {
  return objectResolvePathType<T>(path, TYPE_OBJECT, out);
}

/** `object_resolve_path_at`: a path relative to `parent`, or absolute. */
export function objectResolvePathAt<T extends QomObject = QomObject>(
  parent: QomObject,
  path: string,
): T | null {
  const parts = path.split("/");
  if (path.startsWith("/")) {
    return objectResolveAbsPath(objectGetRoot(), parts, 1, TYPE_OBJECT) as T | null;
  }
  return objectResolveAbsPath(parent, parts, 0, TYPE_OBJECT) as T | null;
}

// ---------------------------------------------------------------------------
// Containers (qom/container.c)

export const TYPE_CONTAINER = "container";

/** `object_property_add_new_container`: a new container as child `name` of `obj`. */
export function objectPropertyAddNewContainer(obj: QomObject, name: string): QomObject {
  const child = objectNew(TYPE_CONTAINER);
  objectPropertyAddChild(obj, name, child);
  objectUnref(child);
  return child;
}

// ---------------------------------------------------------------------------
// Built-in types

function objectClassInit(klass: ObjectClass): void {
  objectClassPropertyAddStr(klass, "type", objectGetTypename);
}

function registerTypes(): void {
  const interfaceInfo: TypeInfo = { name: TYPE_INTERFACE, classSize: 112, abstract: true };
  const objectInfo: TypeInfo = {
    name: TYPE_OBJECT,
    instanceSize: OBJECT_INSTANCE_SIZE,
    classInit: objectClassInit,
    abstract: true,
  };
  typeInterface = typeRegisterInternal(interfaceInfo);
  typeRegisterInternal(objectInfo);
  typeRegisterStatic({ name: TYPE_CONTAINER, parent: TYPE_OBJECT });
  typeRegisterStatic({ name: TYPE_USER_CREATABLE, parent: TYPE_INTERFACE });
}

typeInit(registerTypes);
