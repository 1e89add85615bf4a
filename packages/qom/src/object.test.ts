import { beforeAll, describe, expect, it } from "vitest";
import {
  type InterfaceClass,
  MODULE_INIT_QOM,
  moduleCallInit,
  OBJ_PROP_FLAG_READ,
  OBJ_PROP_FLAG_READWRITE,
  OBJ_PROP_LINK_STRONG,
  type ObjectClass,
  objectCheck,
  objectClassByName,
  objectClassCheck,
  objectClassDynamicCast,
  objectClassGetList,
  objectClassGetParent,
  objectClassPropertyAddStr,
  objectClassPropertyIter,
  objectDynamicCast,
  objectGetCanonicalPath,
  objectGetClassChecked,
  objectGetRoot,
  objectGetTypename,
  objectInitialize,
  objectInitializeChild,
  objectNew,
  objectNewWithProps,
  objectPropertyAdd,
  objectPropertyAddAlias,
  objectPropertyAddBool,
  objectPropertyAddChild,
  objectPropertyAddConstLink,
  objectPropertyAddEnum,
  objectPropertyAddLink,
  objectPropertyAddStr,
  objectPropertyAddUint8Ptr,
  objectPropertyAddUint64Ptr,
  objectPropertyAllowSetLink,
  objectPropertyFind,
  objectPropertyGet,
  objectPropertyGetBool,
  objectPropertyGetLink,
  objectPropertyGetStr,
  objectPropertyGetUint,
  objectPropertyIter,
  objectPropertyParse,
  objectPropertySetBool,
  objectPropertySetInt,
  objectPropertySetLink,
  objectPropertySetStr,
  objectPropertySetUint,
  objectPropertyTryAdd,
  objectPropertyTryAddChild,
  objectRef,
  objectResolvePath,
  objectResolvePathType,
  objectUnparent,
  objectUnref,
  QomError,
  type QomObject,
  TYPE_CONTAINER,
  TYPE_INTERFACE,
  TYPE_OBJECT,
  typeRegisterStatic,
} from "./index.js";

/** Records hook calls in order. */
const calls: string[] = [];
const take = () => calls.splice(0);

interface AClass extends ObjectClass {
  describe: (() => string) | undefined;
  baseSeen: string[];
}
interface AObject extends QomObject {
  a?: number;
  b?: number;
  c?: number;
}

function throwsQom(fn: () => unknown, message: string | RegExp, fatal?: boolean): QomError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(QomError);
    const e = err as QomError;
    if (typeof message === "string") expect(e.message).toBe(message);
    else expect(e.message).toMatch(message);
    if (fatal !== undefined) expect(e.fatal).toBe(fatal);
    return e;
  }
  throw new Error(`expected a QomError: ${String(message)}`);
}

beforeAll(() => {
  moduleCallInit(MODULE_INIT_QOM);
  typeRegisterStatic<AClass, AObject>({
    name: "test-a",
    parent: TYPE_OBJECT,
    instanceInit: (o) => {
      calls.push("init A");
      o.a = 1;
    },
    instancePostInit: () => void calls.push("post A"),
    instanceFinalize: () => void calls.push("finalize A"),
    classInit: (k, data) => {
      calls.push(`class_init A ${String(data)}`);
      k.describe = () => "A";
      k.baseSeen = [];
    },
    classBaseInit: (k, data) => {
      calls.push(`base_init A for ${k.type.name} ${String(data)}`);
      k.baseSeen = [...k.baseSeen, k.type.name];
    },
    classData: "dA",
  });
  typeRegisterStatic<AClass, AObject>({
    name: "test-b",
    parent: "test-a",
    instanceInit: (o) => {
      calls.push("init B");
      o.b = (o.a ?? 0) + 1;
    },
    instancePostInit: () => void calls.push("post B"),
    instanceFinalize: () => void calls.push("finalize B"),
    classInit: (_k, data) => void calls.push(`class_init B ${String(data)}`),
    classBaseInit: (k, data) => void calls.push(`base_init B for ${k.type.name} ${String(data)}`),
    classData: "dB",
  });
  typeRegisterStatic<AClass, AObject>({
    name: "test-c",
    parent: "test-b",
    instanceInit: (o) => {
      calls.push("init C");
      o.c = (o.b ?? 0) + 1;
    },
    instancePostInit: () => void calls.push("post C"),
    instanceFinalize: () => void calls.push("finalize C"),
    classInit: (k, data) => {
      calls.push(`class_init C ${String(data)}`);
      k.describe = () => "C";
    },
    classData: "dC",
  });
});

describe("types and classes", () => {
  it("[qom §11.2] initialises classes lazily, root first, each once; class_base_init before class_init", () => {
    take();
    expect(objectClassByName("test-c")).not.toBeNull();
    expect(take()).toEqual([
      "class_init A dA",
      "base_init A for test-b dB",
      "class_init B dB",
      "base_init B for test-c dC",
      "base_init A for test-c dC",
      "class_init C dC",
    ]);
    objectClassByName("test-c");
    objectClassByName("test-b");
    expect(take()).toEqual([]);
  });

  it("[qom §11.3, 4] inherits class slots by copy; an override leaves the parent's slot alone", () => {
    const a = objectClassByName("test-a") as AClass;
    const b = objectClassByName("test-b") as AClass;
    const c = objectClassByName("test-c") as AClass;
    expect(b.describe?.()).toBe("A");
    expect(c.describe?.()).toBe("C");
    expect(a.describe?.()).toBe("A");
    // class_base_init of A never ran for A's own class.
    expect(a.baseSeen).toEqual([]);
    expect(c.baseSeen).toEqual(["test-b", "test-c"]);
    expect(objectClassGetParent(c)).toBe(b);
  });

  it("refuses duplicate and illegal type names with QEMU's messages", () => {
    throwsQom(
      () => typeRegisterStatic({ name: "test-a", parent: TYPE_OBJECT }),
      "Registering `test-a' which already exists",
      true,
    );
    throwsQom(
      () => typeRegisterStatic({ name: "bad name", parent: TYPE_OBJECT }),
      "Registering 'bad name' with illegal type name",
      true,
    );
    throwsQom(() => typeRegisterStatic({ name: "x", parent: TYPE_OBJECT }), /illegal type name/);
  });

  it("reports a dangling parent at first use and changes nothing", () => {
    typeRegisterStatic({ name: "test-orphan", parent: "test-no-such-parent" });
    throwsQom(
      () => objectClassByName("test-orphan"),
      "Type 'test-orphan' is missing its parent 'test-no-such-parent'",
      true,
    );
    // Registering the parent later makes the type usable.
    typeRegisterStatic({ name: "test-no-such-parent", parent: TYPE_OBJECT });
    expect(objectClassByName("test-orphan")).not.toBeNull();
  });

  it("reports a missing interface as QEMU does", () => {
    typeRegisterStatic({
      name: "test-missing-iface",
      parent: "test-a",
      interfaces: [{ type: "test-no-such-iface" }],
    });
    throwsQom(
      () => objectClassByName("test-missing-iface"),
      "missing interface 'test-no-such-iface' for object 'test-a'",
      true,
    );
    typeRegisterStatic({ name: "test-no-such-iface", parent: TYPE_INTERFACE });
    expect(objectClassByName("test-missing-iface")!.interfaces).toHaveLength(1);
  });
});

describe("instances", () => {
  it("[qom §11.1] runs instance_init root→leaf, post_init root→leaf; refcount 1, no parent", () => {
    take();
    const o = objectNew<AObject>("test-c");
    expect(take()).toEqual(["init A", "init B", "init C", "post A", "post B", "post C"]);
    expect([o.a, o.b, o.c]).toEqual([1, 2, 3]);
    expect(o.ref).toBe(1);
    expect(o.parent).toBeNull();
    expect(objectGetTypename(o)).toBe("test-c");
    objectUnref(o);
    take();
  });

  it("[qom §11.6] finalizes leaf→root after the property release hooks, on the last unref only", () => {
    const o = objectNew<AObject>("test-c");
    objectPropertyAdd(o, "probe", "string", undefined, undefined, () => {
      calls.push("release probe");
    });
    take();
    objectRef(o);
    objectUnref(o);
    expect(take()).toEqual([]);
    objectUnref(o);
    expect(take()).toEqual(["release probe", "finalize C", "finalize B", "finalize A"]);
    expect(o.ref).toBe(0);
  });

  it("[qom §11.5] refuses abstract types (explicit and by zero instance size)", () => {
    typeRegisterStatic({ name: "test-abstract", parent: "test-a", abstract: true });
    throwsQom(
      () => objectNew("test-abstract"),
      "assertion failed: (type->abstract == false)",
      true,
    );
    throwsQom(
      () => objectNewWithProps("test-abstract", null, null),
      "object type 'test-abstract' is abstract",
      false,
    );
    // An interface has no instance size: implicitly abstract.
    typeRegisterStatic({ name: "test-sizeless-iface", parent: TYPE_INTERFACE });
    expect(objectClassByName("test-sizeless-iface")!.type.abstract).toBe(true);
    expect(objectClassGetList(null, false).map((k) => k.type.name)).not.toContain("test-abstract");
    expect(objectClassGetList(null, true).map((k) => k.type.name)).toContain("test-abstract");
  });

  it("fails on an unknown type with QEMU's text", () => {
    throwsQom(() => objectNew("no-such-type"), "unknown type 'no-such-type'", true);
    throwsQom(
      () => objectNewWithProps("no-such-type", null, null),
      "invalid object type: no-such-type",
    );
  });

  it("initialises caller-owned storage in place (object_initialize)", () => {
    const storage = { extra: "kept" };
    const o = objectInitialize<AObject & { extra: string }>(storage, "test-b");
    expect(o).toBe(storage);
    expect(o.extra).toBe("kept");
    expect(o.b).toBe(2);
    expect(o.free).toBeNull();
  });

  it("[qom §11.6] never finalizes an object that is still in the tree", () => {
    const parent = objectNew("test-a");
    const child = objectNew("test-a");
    objectPropertyAddChild(parent, "kid", child);
    objectUnref(child);
    expect(child.ref).toBe(1);
    throwsQom(() => objectUnref(child), "assertion failed: (obj->parent == NULL)", true);
    expect(child.ref).toBe(1);
    expect(child.parent).toBe(parent);
  });
});

describe("casts and interfaces", () => {
  beforeAll(() => {
    typeRegisterStatic<InterfaceClass & { greet?: () => string }, QomObject>({
      name: "test-iface",
      parent: TYPE_INTERFACE,
      classInit: (ic) => {
        ic.greet = () => "default";
      },
    });
    typeRegisterStatic({ name: "test-iface-left", parent: "test-iface" });
    typeRegisterStatic({ name: "test-iface-right", parent: "test-iface" });
    typeRegisterStatic<AClass, AObject>({
      name: "test-direct",
      parent: "test-a",
      interfaces: [{ type: "test-iface" }],
      classInit: (k) => {
        const ic = objectClassDynamicCast<InterfaceClass & { greet?: () => string }>(
          k,
          "test-iface",
        )!;
        ic.greet = () => "direct";
      },
    });
    typeRegisterStatic({ name: "test-inherits-iface", parent: "test-direct" });
    typeRegisterStatic({
      name: "test-twice",
      parent: "test-a",
      interfaces: [{ type: "test-iface-left" }, { type: "test-iface-right" }],
    });
  });

  it("[qom §11.11] casts up the chain and not sideways", () => {
    const c = objectNew("test-c");
    expect(objectDynamicCast(c, "test-a")).toBe(c);
    expect(objectDynamicCast(c, TYPE_OBJECT)).toBe(c);
    expect(objectDynamicCast(c, "test-direct")).toBeNull();
    expect(objectDynamicCast(c, "no-such-type")).toBeNull();
    expect(objectClassDynamicCast(null, "test-a")).toBeNull();
    throwsQom(
      () => objectCheck(c, "test-direct"),
      /^Object 0x[0-9a-f]+ is not an instance of type test-direct$/,
      true,
    );
    throwsQom(
      () => objectCheck(c, "test-direct", { file: "cpu.c", line: 7, func: "x86_cpu_new" }),
      /^cpu\.c:7:x86_cpu_new: Object 0x[0-9a-f]+ is not an instance of type test-direct$/,
    );
    throwsQom(() => objectClassCheck(c.class, "test-direct"), /is not an instance of type/);
    expect(objectCheck(null, "test-a")).toBeNull();
    objectUnref(c);
  });

  it("[qom §11.11] casts to an interface implemented directly or by an ancestor", () => {
    const d = objectNew("test-direct");
    const i = objectNew("test-inherits-iface");
    expect(objectDynamicCast(d, "test-iface")).toBe(d);
    expect(objectDynamicCast(i, "test-iface")).toBe(i);
    type GreetClass = InterfaceClass & { greet: () => string };
    const dc = objectGetClassChecked<GreetClass>(d, "test-iface");
    const ic = objectGetClassChecked<GreetClass>(i, "test-iface");
    expect(dc.type.name).toBe("test-direct::test-iface");
    expect(ic.type.name).toBe("test-inherits-iface::test-iface");
    expect(dc.concreteClass).toBe(d.class);
    // The child's implementation starts as a copy of the parent's implementation.
    expect(ic.greet()).toBe("direct");
    expect((objectClassByName("test-iface") as GreetClass).greet()).toBe("default");
    expect(objectDynamicCast(objectNew("test-a"), "test-iface")).toBeNull();
  });

  it("[qom §11.11] fails a cast to an interface reached twice (ambiguous)", () => {
    const t = objectNew("test-twice");
    expect(objectDynamicCast(t, "test-iface-left")).toBe(t);
    expect(objectDynamicCast(t, "test-iface-right")).toBe(t);
    expect(objectDynamicCast(t, "test-iface")).toBeNull();
  });

  it("lists implementers of an interface, leaving out ambiguous ones", () => {
    const names = objectClassGetList("test-iface", false).map((k) => k.type.name);
    expect(names.sort()).toEqual(["test-direct", "test-inherits-iface"]);
  });
});

describe("properties", () => {
  it("[qom §11.9] adds typed properties; duplicates and [*] names as QEMU does", () => {
    const o = objectNew("test-a");
    let flag = false;
    let name = "n";
    objectPropertyAddBool(
      o,
      "flag",
      () => flag,
      (_o, v) => (flag = v),
    );
    objectPropertyAddStr(
      o,
      "name",
      () => name,
      (_o, v) => (name = v),
    );
    objectPropertySetBool(o, "flag", true);
    expect(objectPropertyGetBool(o, "flag")).toBe(true);
    objectPropertySetStr(o, "name", "cpu0");
    expect(objectPropertyGetStr(o, "name")).toBe("cpu0");
    throwsQom(
      () => objectPropertyTryAdd(o, "flag", "bool"),
      "attempt to add duplicate property 'flag' to object (type 'test-a')",
      false,
    );
    // A class property ('type' from object) also counts.
    throwsQom(() => objectPropertyAdd(o, "type", "string"), /duplicate property 'type'/, true);
    expect(objectPropertyTryAdd(o, "slot[*]", "string").name).toBe("slot[0]");
    expect(objectPropertyTryAdd(o, "slot[*]", "string").name).toBe("slot[1]");
  });

  it("[qom §11.10] fails unknown, read-only and write-only properties with QEMU's texts", () => {
    const o = objectNew("test-b");
    objectPropertyAdd(o, "wo", "string", undefined, (_o, v, n) => void v.typeStr(n));
    throwsQom(() => objectPropertyGet(o, "nope"), "Property 'test-b.nope' not found");
    throwsQom(() => objectPropertySetStr(o, "type", "x"), "Property 'test-b.type' is not writable");
    throwsQom(() => objectPropertyGet(o, "wo"), "Property 'test-b.wo' is not readable");
    expect(objectPropertyGetStr(o, "type")).toBe("test-b");
  });

  it("checks value types strictly (QObject) and parses strings (command line)", () => {
    const o = objectNew("test-a");
    const f = { u8: 7, u64: 0n };
    objectPropertyAddUint8Ptr(
      o,
      "u8",
      { get: () => f.u8, set: (v) => (f.u8 = v) },
      OBJ_PROP_FLAG_READWRITE,
    );
    objectPropertyAddUint64Ptr(
      o,
      "u64",
      { get: () => f.u64, set: (v) => (f.u64 = v) },
      OBJ_PROP_FLAG_READWRITE,
    );
    objectPropertyAddUint8Ptr(o, "ro8", { get: () => 1, set: () => {} }, OBJ_PROP_FLAG_READ);
    throwsQom(
      () => objectPropertySetStr(o, "u8", "3"),
      "Invalid parameter type for 'u8', expected: integer",
    );
    throwsQom(() => objectPropertySetUint(o, "u8", 256), "Parameter 'u8' expects uint8_t");
    objectPropertyParse(o, "u8", "0x10");
    expect(f.u8).toBe(16);
    throwsQom(() => objectPropertyParse(o, "u8", "foo"), "Parameter 'u8' expects uint64");
    objectPropertyParse(o, "u64", "0xffffffffffffffff");
    expect(f.u64).toBe(0xffff_ffff_ffff_ffffn);
    expect(objectPropertyGet(o, "u64")).toBe(0xffff_ffff_ffff_ffffn);
    expect(objectPropertyGetUint(o, "u64")).toBe(0xffff_ffff_ffff_ffffn);
    objectPropertySetUint(o, "u64", 5);
    expect(objectPropertyGet(o, "u64")).toBe(5);
    throwsQom(() => objectPropertySetInt(o, "ro8", 1), "Property 'test-a.ro8' is not writable");
    throwsQom(
      () => objectPropertyGetBool(o, "u8"),
      "Invalid parameter type for 'u8', expected: boolean",
    );

    let b = false;
    objectPropertyAddBool(
      o,
      "b",
      () => b,
      (_o, v) => (b = v),
    );
    for (const yes of ["on", "yes", "true", "y"]) {
      b = false;
      objectPropertyParse(o, "b", yes);
      expect(b).toBe(true);
    }
    throwsQom(() => objectPropertyParse(o, "b", "maybe"), "Parameter 'b' expects 'on' or 'off'");
    throwsQom(
      () => objectPropertySetInt(o, "b", 1),
      "Invalid parameter type for 'b', expected: boolean",
    );

    const lookup = ["auto", "on", "off"];
    let e = 0;
    objectPropertyAddEnum(
      o,
      "mode",
      "OnOffAuto",
      lookup,
      () => e,
      (_o, v) => (e = v),
    );
    objectPropertyParse(o, "mode", "off");
    expect(e).toBe(2);
    expect(objectPropertyGet(o, "mode")).toBe("off");
    throwsQom(
      () => objectPropertyParse(o, "mode", "sideways"),
      "Parameter 'mode' does not accept value 'sideways'",
    );
  });

  it("[qom §11.13] iterates instance, class and inherited class properties; classes alone", () => {
    const k = objectClassByName("test-b")!;
    objectClassPropertyAddStr(k, "class-b", () => "b");
    const o = objectNew("test-c");
    objectPropertyAddStr(o, "inst", () => "i");
    const names = [...objectPropertyIter(o)].map((p) => p.name);
    expect(names).toEqual(["inst", "class-b", "type"]);
    expect([...objectClassPropertyIter(o.class)].map((p) => p.name)).toEqual(["class-b", "type"]);
    expect(objectPropertyGetStr(o, "class-b")).toBe("b");
    // A class property defined on an ancestor cannot be defined again below it.
    throwsQom(() => objectClassPropertyAddStr(o.class, "class-b"), /assertion failed/, true);
  });

  it("aliases forward to the target; a child target reads as a link", () => {
    const target = objectNew("test-a");
    let v = "t";
    objectPropertyAddStr(
      target,
      "name",
      () => v,
      (_o, x) => (v = x),
    );
    const kid = objectNew("test-b");
    objectPropertyAddChild(target, "kid", kid);
    const holder = objectNew("test-a");
    objectPropertyAddAlias(holder, "alias", target, "name");
    const a2 = objectPropertyAddAlias(holder, "kid-alias", target, "kid");
    objectPropertySetStr(holder, "alias", "via alias");
    expect(v).toBe("via alias");
    expect(objectPropertyGetStr(holder, "alias")).toBe("via alias");
    expect(a2.type).toBe("link<test-b>");
  });
});

describe("composition tree", () => {
  it("[qom §11.7] adds a child: child<T>, refcount+1, canonical path, read-only in QMP terms", () => {
    const root = objectGetRoot();
    const p = objectNew("test-a");
    objectPropertyAddChild(root, "tree1", p);
    objectUnref(p);
    const c = objectNew("test-b");
    const prop = objectPropertyAddChild(p, "x", c);
    expect(prop.type).toBe("child<test-b>");
    expect(c.ref).toBe(2);
    expect(objectGetCanonicalPath(c)).toBe("/tree1/x");
    expect(objectPropertyGet(p, "x")).toBe("/tree1/x");
    throwsQom(() => objectPropertySetStr(p, "x", "/"), "Property 'test-a.x' is not writable");
    expect(objectResolvePath("/tree1/x")).toBe(c);
    expect(objectResolvePath("//tree1//x")).toBe(c);
    expect(objectResolvePath("/tree1/nope")).toBeNull();
    expect(objectResolvePathType("/tree1/x", "test-c")).toBeNull();
    expect(objectGetCanonicalPath(root)).toBe("/");
    expect(objectGetCanonicalPath(objectNew("test-a"))).toBeNull();
    objectUnref(c);
  });

  it("[qom §11.8] unparents: removes the property, calls unparent, clears parent, drops the ref", () => {
    const unparented: string[] = [];
    typeRegisterStatic<ObjectClass, QomObject>({
      name: "test-unparent",
      parent: "test-a",
      classInit: (k) => {
        k.unparent = (o) => void unparented.push(objectGetTypename(o));
      },
    });
    const p = objectNew("test-a");
    const c = objectNew("test-unparent");
    objectPropertyAddChild(p, "kid", c);
    objectUnref(c);
    take();
    objectUnparent(c);
    expect(unparented).toEqual(["test-unparent"]);
    expect(objectPropertyFind(p, "kid")).toBeNull();
    expect(c.parent).toBeNull();
    expect(c.ref).toBe(0);
    expect(take()).toEqual(["finalize A"]);
    objectUnparent(objectNew("test-a")); // no parent: a no-op
  });

  it("object_initialize_child leaves the parent holding the only reference", () => {
    const p = objectNew("test-a");
    const c = objectInitializeChild(p, "inner", "test-c");
    expect(c.ref).toBe(1);
    expect(c.parent).toBe(p);
    take();
    objectUnref(p);
    expect(take()).toEqual(["finalize C", "finalize B", "finalize A", "finalize A"]);
  });

  it("[qom §11.12] resolves partial paths: unique match, ambiguity, and the unique object of a type", () => {
    const root = objectGetRoot();
    const t1 = objectInitializeChild(root, "partial1", TYPE_CONTAINER);
    const t2 = objectInitializeChild(root, "partial2", TYPE_CONTAINER);
    const only = objectInitializeChild(t1, "obj1", "test-b");
    const out = { ambiguous: false };
    expect(objectResolvePathType("obj1", TYPE_OBJECT, out)).toBe(only);
    expect(out.ambiguous).toBe(false);
    expect(objectResolvePath("partial1/obj1")).toBe(only);
    objectInitializeChild(t2, "obj1", "test-b");
    expect(objectResolvePathType("obj1", TYPE_OBJECT, out)).toBeNull();
    expect(out.ambiguous).toBe(true);
    typeRegisterStatic({ name: "test-unique", parent: "test-a" });
    const u = objectInitializeChild(t2, "somewhere", "test-unique");
    expect(objectResolvePathType("", "test-unique", out)).toBe(u);
    expect(out.ambiguous).toBe(false);
  });

  it("creates the root with QEMU 10.2's containers", () => {
    const names = [...objectGetRoot().properties.values()]
      .filter((p) => p.type.startsWith("child<"))
      .map((p) => p.name);
    expect(names.slice(0, 4)).toEqual(["audiodevs", "chardevs", "objects", "backend"]);
  });
});

describe("links", () => {
  it("sets strong links by path with QEMU's errors and reference rules", () => {
    const root = objectGetRoot();
    const holder = objectInitializeChild(root, "link-holder", "test-a");
    const targetB = objectInitializeChild(root, "link-b", "test-b");
    const targetA = objectInitializeChild(root, "link-a", "test-a");
    const slot: { t: QomObject | null } = { t: null };
    objectPropertyAddLink(
      holder,
      "peer",
      "test-b",
      { get: () => slot.t, set: (v) => (slot.t = v) },
      objectPropertyAllowSetLink,
      OBJ_PROP_LINK_STRONG,
    );
    expect(objectPropertyGet(holder, "peer")).toBe("");
    objectPropertySetStr(holder, "peer", "/link-b");
    expect(slot.t).toBe(targetB);
    expect(targetB.ref).toBe(2);
    expect(objectPropertyGet(holder, "peer")).toBe("/link-b");
    expect(objectPropertyGetLink(holder, "peer")).toBe(targetB);
    expect(objectResolvePath("/link-holder/peer")).toBe(targetB);
    throwsQom(
      () => objectPropertySetStr(holder, "peer", "/link-a"),
      "Invalid parameter type for 'peer', expected: test-b",
    );
    const e = throwsQom(
      () => objectPropertySetStr(holder, "peer", "/nowhere"),
      "Device '/nowhere' not found",
    );
    expect(e.errorClass).toBe("DeviceNotFound");
    expect(targetA.ref).toBe(1);
    objectPropertySetLink(holder, "peer", null);
    expect(targetB.ref).toBe(1);
    const c = objectPropertyAddConstLink(holder, "fixed", targetA);
    expect(c.type).toBe("link<test-a>");
    throwsQom(
      () => objectPropertySetStr(holder, "fixed", ""),
      "Property 'test-a.fixed' is not writable",
    );
  });

  it("a strong link's reference is dropped when its holder is finalized", () => {
    const target = objectNew("test-a");
    const holder = objectNew("test-a");
    const root = objectGetRoot();
    objectPropertyAddChild(root, "strong-target", target);
    const slot: { t: QomObject | null } = { t: null };
    objectPropertyAddLink(
      holder,
      "t",
      "test-a",
      { get: () => slot.t, set: (v) => (slot.t = v) },
      objectPropertyAllowSetLink,
      OBJ_PROP_LINK_STRONG,
    );
    objectPropertySetLink(holder, "t", target);
    expect(target.ref).toBe(3);
    objectUnref(holder);
    expect(target.ref).toBe(2);
  });
});

describe("object_new_with_props", () => {
  it("creates, sets properties from strings, and parents the object", () => {
    typeRegisterStatic<ObjectClass, AObject & { size: number }>({
      name: "test-props",
      parent: "test-a",
      instanceInit: (o) => {
        o.size = 0;
        objectPropertyAddUint8Ptr(
          o,
          "size",
          { get: () => o.size, set: (v) => (o.size = v) },
          OBJ_PROP_FLAG_READWRITE,
        );
      },
    });
    const parent = objectInitializeChild(objectGetRoot(), "with-props", TYPE_CONTAINER);
    const o = objectNewWithProps<AObject & { size: number }>("test-props", parent, "p0", {
      size: "9",
    });
    expect(o.size).toBe(9);
    expect(o.ref).toBe(1);
    expect(objectGetCanonicalPath(o)).toBe("/with-props/p0");
    throwsQom(
      () => objectNewWithProps("test-props", parent, "p1", { size: "300" }),
      "Parameter 'size' expects uint8_t",
    );
    expect(objectResolvePath("/with-props/p1")).toBeNull();
  });
});

it("a child added twice under one name fails without touching the child", () => {
  const p = objectNew("test-a");
  const c1 = objectNew("test-a");
  const c2 = objectNew("test-a");
  objectPropertyAddChild(p, "only", c1);
  throwsQom(() => objectPropertyTryAddChild(p, "only", c2), /duplicate property 'only'/, false);
  expect(c2.parent).toBeNull();
  expect(c2.ref).toBe(1);
});
