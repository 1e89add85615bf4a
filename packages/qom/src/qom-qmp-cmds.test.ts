import { beforeAll, describe, expect, it } from "vitest";
import {
  MODULE_INIT_QOM,
  moduleCallInit,
  OBJ_PROP_FLAG_READWRITE,
  objectGetRoot,
  objectInitializeChild,
  objectPropertyAddBool,
  objectPropertyAddUint32Ptr,
  type QomObject,
  qomGet,
  qomList,
  qomListGet,
  qomListProperties,
  qomListTypes,
  qomSet,
  TYPE_CONTAINER,
  TYPE_INTERFACE,
  TYPE_OBJECT,
  typeRegisterStatic,
} from "./index.js";

interface Board extends QomObject {
  slots: number;
}

beforeAll(() => {
  moduleCallInit(MODULE_INIT_QOM);
  typeRegisterStatic({ name: "qmp-iface", parent: TYPE_INTERFACE });
  typeRegisterStatic({ name: "qmp-base", parent: TYPE_OBJECT, abstract: true });
  typeRegisterStatic<never, Board>({
    name: "qmp-board",
    parent: "qmp-base",
    interfaces: [{ type: "qmp-iface" }],
    instanceInit: (b) => {
      b.slots = 4;
      objectPropertyAddUint32Ptr(
        b,
        "slots",
        { get: () => b.slots, set: (v) => (b.slots = v) },
        OBJ_PROP_FLAG_READWRITE,
      );
      objectPropertyAddBool(b, "secret", undefined, () => {});
    },
  });
  const m = objectInitializeChild(objectGetRoot(), "machine", TYPE_CONTAINER);
  objectInitializeChild(m, "board", "qmp-board");
  objectInitializeChild(m, "dup-a", TYPE_CONTAINER);
  objectInitializeChild(m, "dup-b", TYPE_CONTAINER);
  objectInitializeChild(objectInitializeChild(m, "x", TYPE_CONTAINER), "same", TYPE_CONTAINER);
  objectInitializeChild(objectInitializeChild(m, "y", TYPE_CONTAINER), "same", TYPE_CONTAINER);
});

describe("qom-list", () => {
  it("lists name and type, `type` first, children as child<T>", () => {
    expect(qomList("/machine/board")).toEqual({
      return: [
        { name: "type", type: "string" },
        { name: "secret", type: "bool" },
        { name: "slots", type: "uint32" },
      ],
    });
    const root = qomList("/");
    expect("return" in root && root.return.map((p) => p.name)).toEqual([
      "type",
      "machine",
      "backend",
      "objects",
      "chardevs",
      "audiodevs",
    ]);
    expect("return" in root && root.return[1]).toEqual({
      name: "machine",
      type: "child<container>",
    });
  });

  it("answers a bad path with DeviceNotFound and an ambiguous one with GenericError", () => {
    expect(qomList("/machine/nosuch")).toEqual({
      error: { class: "DeviceNotFound", desc: "Device '/machine/nosuch' not found" },
    });
    expect(qomList("same")).toEqual({
      error: { class: "GenericError", desc: "Path 'same' is ambiguous" },
    });
    expect(qomList("board")).toHaveProperty("return");
  });
});

describe("qom-get / qom-set", () => {
  it("reads values, children as paths", () => {
    expect(qomGet("/machine/board", "type")).toEqual({ return: "qmp-board" });
    expect(qomGet("/machine/board", "slots")).toEqual({ return: 4 });
    expect(qomGet("/machine", "board")).toEqual({ return: "/machine/board" });
    expect(qomGet("/machine/nosuch", "type")).toEqual({
      error: { class: "DeviceNotFound", desc: "Device '/machine/nosuch' not found" },
    });
    expect(qomGet("/machine/board", "nope")).toEqual({
      error: { class: "GenericError", desc: "Property 'qmp-board.nope' not found" },
    });
    expect(qomGet("/machine/board", "secret")).toEqual({
      error: { class: "GenericError", desc: "Property 'qmp-board.secret' is not readable" },
    });
  });

  it("writes with strict JSON types", () => {
    expect(qomSet("/machine/board", "slots", 8)).toEqual({ return: {} });
    expect(qomGet("/machine/board", "slots")).toEqual({ return: 8 });
    expect(qomSet("/machine/board", "slots", "8")).toEqual({
      error: {
        class: "GenericError",
        desc: "Invalid parameter type for 'slots', expected: integer",
      },
    });
    expect(qomSet("/machine/board", "slots", -1)).toEqual({
      error: { class: "GenericError", desc: "Parameter 'slots' expects uint32_t" },
    });
    expect(qomSet("/machine", "board", "/machine/x")).toEqual({
      error: { class: "GenericError", desc: "Property 'container.board' is not writable" },
    });
  });

  it("qom-list-get returns every readable value, omitting unreadable ones", () => {
    const r = qomListGet(["/machine/board"]);
    expect(r).toEqual({
      return: [
        {
          properties: [
            { name: "type", type: "string", value: "qmp-board" },
            { name: "secret", type: "bool" },
            { name: "slots", type: "uint32", value: 8 },
          ],
        },
      ],
    });
    expect(qomListGet(["/machine/board", "/nope"])).toEqual({
      error: { class: "DeviceNotFound", desc: "Device '/nope' not found" },
    });
  });
});

describe("qom-list-types / qom-list-properties", () => {
  it("lists concrete types, abstract ones on request, and implementers", () => {
    const concrete = qomListTypes();
    const names = "return" in concrete ? concrete.return.map((t) => t.name) : [];
    expect(names).toContain("qmp-board");
    expect(names).not.toContain("qmp-base");
    const all = qomListTypes({ abstract: true });
    const base = "return" in all ? all.return.find((t) => t.name === "qmp-base") : undefined;
    expect(base).toEqual({ name: "qmp-base", abstract: true, parent: "object" });
    expect(qomListTypes({ implements: "qmp-iface" })).toEqual({
      return: [{ name: "qmp-board", parent: "qmp-base" }],
    });
  });

  it("lists the properties of a type, without an instance for abstract ones", () => {
    expect(qomListProperties("qmp-board")).toEqual({
      return: [
        { name: "type", type: "string" },
        { name: "secret", type: "bool" },
        { name: "slots", type: "uint32" },
      ],
    });
    expect(qomListProperties("qmp-base")).toEqual({ return: [{ name: "type", type: "string" }] });
    expect(qomListProperties("nope")).toEqual({
      error: { class: "DeviceNotFound", desc: "Class 'nope' not found" },
    });
  });
});
