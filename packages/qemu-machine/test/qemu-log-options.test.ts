/**
 * `-d` / `-D` at qemu_init's early options (before any machine): an item list it cannot
 * parse — `help` included, which is not an item — prints the usage on stdout and exits 1
 * with no message; `-d trace:help` lists the trace events and exits 0; a bad `-D`
 * template is an error_fatal.
 */
import { describe, expect, it } from "vitest";
import { qemuMain } from "../src/system/vl.js";
import { qemuTestEnv } from "./qemu-firmware.js";

describe("-d and -D option handling", () => {
  it("-d help: the item list on stdout, exit 1", () => {
    const { env, stdout, stderr } = qemuTestEnv();
    expect(qemuMain(["qemu-system-x86_64", "-d", "help"], env)).toBe(1);
    const out = stdout.join("");
    expect(out.startsWith("Log items (comma separated):\n")).toBe(true);
    expect(out).toContain("guest_errors    log when the guest OS does something invalid");
    expect(out).toContain("trace:PATTERN   enable trace events\n");
    expect(stderr.join("")).toBe("");
  });

  it("-d guest_errors,foo: the same list, exit 1, no error message", () => {
    const { env, stdout, stderr } = qemuTestEnv();
    expect(qemuMain(["qemu-system-x86_64", "-d", "guest_errors,foo"], env)).toBe(1);
    expect(stdout.join("")).toMatch(/^Log items \(comma separated\):\nout_asm /);
    expect(stderr.join("")).toBe("");
  });

  it("-d trace:help lists the trace events, exit 0", () => {
    const { env, stdout } = qemuTestEnv();
    expect(qemuMain(["qemu-system-x86_64", "-d", "trace:help"], env)).toBe(0);
    expect(stdout.join("").split("\n")).toContain("kvm_run_exit");
  });

  it("-D with a bad template: QEMU's error, exit 1", () => {
    const { env, stderr } = qemuTestEnv();
    expect(qemuMain(["qemu-system-x86_64", "-D", "q%s.log", "-d", "unimp"], env)).toBe(1);
    expect(stderr.join("")).toBe("qemu-system-x86_64: Bad logfile template: q%s.log\n");
  });
});
