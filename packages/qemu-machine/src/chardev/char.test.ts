import {
  type DeviceClass,
  type DeviceState,
  deviceClassSetProps,
  MODULE_INIT_QOM,
  moduleCallInit,
  objectGetRoot,
  objectNew,
  objectPropertyGetStr,
  objectPropertySetStr,
  objectResolvePathComponent,
  objectUnparent,
  objectUnref,
  TYPE_DEVICE,
  typeRegisterStatic,
} from "@glassvm/qom";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { definePropChr } from "../hw/core/qdev-properties-system.js";
import {
  CHR_EVENT_OPENED,
  type CharBackend,
  charBackendNew,
  qemuChardevNew,
  qemuChrBeQueueInput,
  qemuChrFeAcceptInput,
  qemuChrFeInit,
  qemuChrFeSetHandlers,
  qemuChrFeWriteAll,
  qemuChrFind,
  ringbufCount,
  ringbufRead,
} from "./char.js";

interface FrontendState extends DeviceState {
  chr: CharBackend;
}

describe("chardev backends and frontends", () => {
  beforeAll(() => {
    moduleCallInit(MODULE_INIT_QOM);
    typeRegisterStatic<DeviceClass, FrontendState>({
      name: "test-chr-frontend",
      parent: TYPE_DEVICE,
      instanceInit: (s) => {
        s.chr = charBackendNew();
      },
      classInit: (dc) => deviceClassSetProps(dc, [definePropChr("chardev", "chr")]),
    });
  });

  afterEach(() => {
    const root = objectResolvePathComponent(objectGetRoot(), "chardevs")!;
    for (const id of ["c0", "c1", "c2"]) {
      const chr = objectResolvePathComponent(root, id);
      if (chr) objectUnparent(chr);
    }
  });

  it("ringbuf collects output at /chardevs/<id>; memory is its alias", () => {
    const chr = qemuChardevNew("c0", { type: "ringbuf" });
    expect(qemuChrFind("c0")).toBe(chr);
    expect(chr.write(new TextEncoder().encode("hello"))).toBe(5);
    expect(ringbufCount(chr)).toBe(5);
    expect(new TextDecoder().decode(ringbufRead(chr, 2))).toBe("he");
    expect(new TextDecoder().decode(ringbufRead(chr))).toBe("llo");
    expect(ringbufCount(chr)).toBe(0);
    const mem = qemuChardevNew("c1", { type: "memory", size: 4 });
    mem.write(Uint8Array.of(1, 2, 3, 4, 5, 6));
    // The ring keeps the newest `size` bytes.
    expect([...ringbufRead(mem)]).toEqual([3, 4, 5, 6]);
    expect(() => qemuChardevNew("c2", { type: "ringbuf", size: 3 })).toThrow(
      "size of ringbuf chardev must be power of two",
    );
  });

  it("callback hands each write to the sink; null swallows output", () => {
    const chunks: number[][] = [];
    const chr = qemuChardevNew("c0", { type: "callback", write: (d) => chunks.push([...d]) });
    const be = charBackendNew();
    qemuChrFeInit(be, chr);
    expect(qemuChrFeWriteAll(be, Uint8Array.of(0x41, 0x42))).toBe(2);
    expect(chunks).toEqual([[0x41, 0x42]]);
    const nul = qemuChardevNew("c1", { type: "null" });
    expect(nul.write(Uint8Array.of(1, 2, 3))).toBe(3);
    expect(nul.beOpen).toBe(false);
    expect(qemuChrFeWriteAll(charBackendNew(), Uint8Array.of(1))).toBe(0);
  });

  it("input flows as the frontend's can_read allows; accept_input resumes it", () => {
    const chr = qemuChardevNew("c0", { type: "ringbuf" });
    const be = charBackendNew();
    qemuChrFeInit(be, chr);
    const got: number[] = [];
    const events: number[] = [];
    let room = 1;
    qemuChrFeSetHandlers(
      be,
      () => room,
      (_o, buf) => {
        got.push(...buf);
        room -= buf.length;
      },
      (_o, e) => events.push(e),
      null,
      true,
    );
    expect(events).toEqual([CHR_EVENT_OPENED]);
    qemuChrBeQueueInput(chr, new TextEncoder().encode("abc"));
    expect(String.fromCharCode(...got)).toBe("a");
    room = 2;
    qemuChrFeAcceptInput(be);
    expect(String.fromCharCode(...got)).toBe("abc");
  });

  it("DEFINE_PROP_CHR attaches by id and reports QEMU's errors", () => {
    const chr = qemuChardevNew("c0", { type: "ringbuf" });
    const a = objectNew<FrontendState>("test-chr-frontend");
    const b = objectNew<FrontendState>("test-chr-frontend");
    expect(objectPropertyGetStr(a, "chardev")).toBe("");
    objectPropertySetStr(a, "chardev", "c0");
    expect(a.chr.chr).toBe(chr);
    expect(objectPropertyGetStr(a, "chardev")).toBe("c0");
    expect(() => objectPropertySetStr(b, "chardev", "nope")).toThrow(
      "Property 'test-chr-frontend.chardev' can't find value 'nope'",
    );
    expect(() => objectPropertySetStr(b, "chardev", "c0")).toThrow(
      "Property 'test-chr-frontend.chardev' can't take value 'c0': Device 'c0' is in use",
    );
    objectUnref(a);
    objectUnref(b);
  });

  it("a second chardev with the same id is refused", () => {
    qemuChardevNew("c0", { type: "null" });
    expect(() => qemuChardevNew("c0", { type: "null" })).toThrow(
      "attempt to add duplicate property 'c0'",
    );
  });
});
