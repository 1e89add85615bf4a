/**
 * `-host-clock instructions` with thread=single: the host's clock counts what the
 * processors did (guest instructions retired, VM exits) and skips idle time, so KVM's
 * timers (PIT, APIC timer, TSC), QEMU's clocks and the round-robin kick all happen at the
 * same instruction of the same vCPU every time — the same run twice gives the same trace.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { glassvmRun } from "../src/index.js";
import { guestArgs, testIo } from "./firmware.js";

const bin = (name: string) =>
  new Uint8Array(readFileSync(new URL(`../../../guests/bin/${name}`, import.meta.url)));

function onHost(k: { config: { CONFIG_KVM_IOAPIC: boolean } }): void {
  k.config.CONFIG_KVM_IOAPIC = true;
}

function run(image: string, ...extra: string[]) {
  const t = testIo({ [image]: bin(image) });
  const status = glassvmRun(
    [
      "glassvm",
      ...extra,
      ...guestArgs(image),
      // Every exit with its reason and RIP, every KVM_RUN's return, every IPI and timer.
      "-trace",
      "kvm_exit",
      "-trace",
      "kvm_userspace_exit",
      "-trace",
      "kvm_apic_*",
      "-trace",
      "kvm_pic_set_irq",
    ],
    t.io,
    { onHost },
  );
  return { status, out: t.out(), trace: t.err() };
}

describe("-host-clock instructions: thread=single runs repeat exactly", () => {
  for (const [image, smp] of [
    ["smp.bin", "2"],
    ["apic-timer.bin", "1"],
    ["timer.bin", "1"],
  ] as const) {
    it(`${image} -smp ${smp}: the same output and the same trace twice`, () => {
      const a = run(image, "-host-clock", "instructions", "-smp", smp);
      const b = run(image, "-host-clock", "instructions", "-smp", smp);
      expect(a.status).toBe(1);
      expect(a.out).not.toBe("");
      expect(a.trace.split("\n").length).toBeGreaterThan(100);
      expect(b.out).toBe(a.out);
      expect(b.trace).toBe(a.trace);
    }, 60_000);
  }

  it("refuses thread=multi (threads interleave as the host schedules them)", () => {
    const r = run("smp.bin", "-host-clock", "instructions", "-accel", "kvm,thread=multi");
    expect(r.status).toBe(1);
    expect(r.trace).toContain(
      "-host-clock instructions: a deterministic clock needs thread=single (one host thread for every vCPU)",
    );
  });
});
