import { describe, expect, it } from "vitest";
import { QemuError } from "../qapi/error.js";
import {
  keyvalDictNew,
  keyvalInputVisitorNew,
  keyvalMerge,
  keyvalParse,
  keyvalParseInto,
  parseQapiName,
  visitStartStruct,
} from "./keyval.js";

const plain = (v: unknown) => JSON.parse(JSON.stringify(v));
const parse = (s: string, implied: string | null = null) => plain(keyvalParse(s, implied).dict);
const fails = (s: string, implied: string | null, message: string) => {
  expect(() => keyvalParse(s, implied)).toThrow(QemuError);
  expect(() => keyvalParse(s, implied)).toThrow(message);
};

describe("keyval_parse", () => {
  it("parses key=value lists", () => {
    expect(parse("")).toEqual({});
    expect(parse("key=")).toEqual({ key: "" });
    expect(parse("a=1,b=2,")).toEqual({ a: "1", b: "2" });
  });

  it("unescapes ,, and lets the last value win", () => {
    expect(parse("a=1,b=2,,x,a=3")).toEqual({ a: "3", b: "2,x" });
    expect(parse("append=console=ttyS0,,115200 quiet")).toEqual({
      append: "console=ttyS0,115200 quiet",
    });
  });

  it("desugars the implied key of a bare first value", () => {
    expect(parse("4", "cpus")).toEqual({ cpus: "4" });
    expect(parse("4,sockets=2", "cpus")).toEqual({ cpus: "4", sockets: "2" });
    expect(parse("pc-i440fx-10.2,accel=kvm", "type")).toEqual({
      type: "pc-i440fx-10.2",
      accel: "kvm",
    });
    // Only the first item may omit its key.
    expect(() => keyvalParse("4,8", "cpus")).toThrow("Invalid parameter '8'");
    expect(() => keyvalParse("4,foo", "cpus")).toThrow("Expected '=' after parameter 'foo'");
    // The sugared value cannot hold a comma.
    expect(() => keyvalParse("val,,ue", "implied")).toThrow("Invalid parameter ''");
  });

  it("builds dictionaries and lists from dotted keys", () => {
    expect(parse("a.b=1,a.c=x,d=2")).toEqual({ a: { b: "1", c: "x" }, d: "2" });
    expect(parse("l.1=y,l.0=x")).toEqual({ l: ["x", "y"] });
    expect(parse("l.0.a=1,l.0.b=2")).toEqual({ l: [{ a: "1", b: "2" }] });
  });

  it("rejects bad keys with QEMU's messages", () => {
    expect(() => keyvalParse("=val", null)).toThrow("Invalid parameter ''");
    expect(() => keyvalParse("key", null)).toThrow("Expected '=' after parameter 'key'");
    expect(() => keyvalParse("a@b=1", null)).toThrow("Invalid parameter 'a@b'");
    expect(() => keyvalParse("1=x", null)).toThrow("Invalid parameter '1'");
    expect(() => keyvalParse("a..b=1", null)).toThrow("Invalid parameter 'a..b'");
    expect(() => keyvalParse("a.b=1,a=2", null)).toThrow("Parameters 'a.*' used inconsistently");
    expect(() => keyvalParse("a=1,a.b=2", null)).toThrow("Parameters 'a.*' used inconsistently");
    fails("l.1=y", null, "Parameter 'l.0' missing");
    fails("l.0=x,l.b=y", null, "Parameters 'l.*' used inconsistently");
    expect(parseQapiName("__com.redhat_feature", true)).toBe(20);
    expect(parse("__com.redhat_x=1")).toEqual({ "__com.redhat_x": "1" });
  });

  it("limits key fragments to 127 characters", () => {
    const k127 = "k".repeat(127);
    const k128 = "k".repeat(128);
    expect(parse(`${k127}=v`)).toEqual({ [k127]: "v" });
    expect(() => keyvalParse(`${k128}=v`, null)).toThrow(`Parameter '${k128}' is too long`);
    expect(() => keyvalParse(`a.${k128}=v`, null)).toThrow(
      `Parameter fragment '${k128}' is too long`,
    );
  });

  it("recognizes help", () => {
    expect(keyvalParse("help", "type").help).toBe(true);
    expect(keyvalParse("?", "type").help).toBe(true);
    expect(keyvalParse("pc,help", "type")).toMatchObject({ help: true });
    expect(plain(keyvalParse("pc,help", "type").dict)).toEqual({ type: "pc" });
    expect(keyvalParse("helpme", "type").help).toBe(false);
    expect(() => keyvalParse("help", null, false)).toThrow("Help is not available for this option");
  });

  it("has no prototype keys", () => {
    expect(parse("constructor=1")).toEqual({ constructor: "1" });
    expect(keyvalParse("", null).dict.toString).toBeUndefined();
  });

  it("parses into an existing dictionary (repeated -machine)", () => {
    const d = keyvalDictNew();
    keyvalParseInto(d, "pc,accel=kvm", "type");
    keyvalParseInto(d, "pc-i440fx-9.2,smp.cpus=2", "type");
    expect(plain(d)).toEqual({ type: "pc-i440fx-9.2", accel: "kvm", smp: { cpus: "2" } });
  });
});

describe("keyval_merge", () => {
  it("merges dictionaries, appends lists, replaces strings", () => {
    const dest = keyvalParse("smp.cpus=2,l.0=a,x=1", null).dict;
    keyvalMerge(dest, keyvalParse("smp.sockets=2,l.0=b,x=2", null).dict);
    expect(plain(dest)).toEqual({ smp: { cpus: "2", sockets: "2" }, l: ["a", "b"], x: "2" });
  });

  it("refuses a dictionary meeting a string", () => {
    const dest = keyvalParse("smp=4", null).dict;
    expect(() => keyvalMerge(dest, keyvalParse("smp.cpus=2", null).dict)).toThrow(
      "Parameter 'smp' used inconsistently",
    );
  });
});

describe("the keyval input visitor", () => {
  it("converts strings and names the full path in errors", () => {
    const st = visitStartStruct(keyvalInputVisitorNew(plain({ cpus: "4", x: "maybe" }), ""), "smp");
    expect(st.member("cpus").typeInt64("cpus")).toBe(4n);
    expect(() => st.member("x").typeInt64("x")).toThrow("Parameter 'smp.x' expects integer");
    expect(() => st.member("x").typeBool("x")).toThrow("Parameter 'smp.x' expects 'on' or 'off'");
    expect(() => st.member("x").typeSize("x")).toThrow("Parameter 'smp.x' expects size");
    expect(() => st.member("x").typeEnum("x", ["on", "off"])).toThrow(
      "Parameter 'smp.x' does not accept value 'maybe'",
    );
    expect(() => st.member("missing").typeStr("missing")).toThrow(
      "Parameter 'smp.missing' is missing",
    );
  });

  it("checks structs", () => {
    const v = keyvalInputVisitorNew("4", "");
    expect(() => visitStartStruct(v, "smp")).toThrow(
      "Invalid parameter type for 'smp', expected: object",
    );
    const st = visitStartStruct(keyvalInputVisitorNew(plain({ cpus: "4", foo: "1" }), ""), "smp");
    st.member("cpus");
    expect(() => st.check()).toThrow("Parameter 'smp.foo' is unexpected");
    expect(() => keyvalInputVisitorNew(plain({ a: "1" }), "").typeStr("kernel")).toThrow(
      "Parameters 'kernel.*' are unexpected",
    );
  });
});
