/**
 * `-accel kvm,thread=multi`: every vCPU is a thread of its own (a Node worker) running
 * QEMU's kvm_vcpu_thread_fn and KVM_RUN on its own copy of the kernel, over the guest RAM
 * the main thread shares. The guests of the suite give the same results as with
 * thread=single; the SMP guest's counters come out exact, which needs locked
 * instructions to be atomic across the workers.
 */
import { readFileSync } from "node:fs";
import { interposeHostOs, KVM_CREATE_VCPU, KVM_RUN, KVM_SET_REGS } from "@glassvm/kvm-kernel/uapi";
import { describe, expect, it } from "vitest";
import { glassvmRun } from "../src/index.js";
import { startVcpuWorker } from "../src/node-host.js";
import type { VcpuThreadData } from "../src/vcpu-thread.js";
import { guestArgs, testIo, withoutWarnings } from "./firmware.js";

const bin = (name: string) =>
  new Uint8Array(readFileSync(new URL(`../../../guests/bin/${name}`, import.meta.url)));

function run(image: string, ...extra: string[]) {
  const t = testIo({ [image]: bin(image) });
  const threads: VcpuThreadData[] = [];
  const mainIoctls = new Map<number, number>();
  const io = {
    ...t.io,
    startThread: (data: VcpuThreadData) => {
      threads.push(data);
      return startVcpuWorker(data);
    },
  };
  const status = glassvmRun(
    ["glassvm", "-accel", "kvm,thread=multi", ...extra, ...guestArgs(image)],
    io,
    {
      onHost: (kernel) => {
        kernel.config.CONFIG_KVM_IOAPIC = true;
      },
      // What the main thread itself asks of the kernel.
      wrapHostOs: (os) =>
        interposeHostOs(os, {
          ioctl: (fd, req, arg) => {
            mainIoctls.set(req, (mainIoctls.get(req) ?? 0) + 1);
            return os.ioctl(fd, req, arg);
          },
        }),
    },
  );
  return { status, out: t.out(), err: withoutWarnings(t.err()), threads, mainIoctls };
}

describe("thread=multi: a worker per vCPU", () => {
  for (const n of [1, 2, 4]) {
    it(`smp -smp ${n}: every CPU up, the LOCK XADD counter exact`, () => {
      const r = run("smp.bin", "-smp", String(n));
      const ups = Array.from({ length: n }, (_, i) => `cpu ${i} up\n`).join("");
      expect(r.out).toBe(`${ups}smp: ${n} cpus, counter ${n * 100000}, ok\n`);
      expect(r.status).toBe(1);
      expect(r.err.trim()).toBe("");
      // One thread per vCPU; the threads create and run their vCPUs, the main thread
      // never does — but it sets their registers (served by the threads).
      expect(r.threads.map((d) => d.arg.cpuIndex)).toEqual(Array.from({ length: n }, (_, i) => i));
      expect(new Set(r.threads.map((d) => d.link.tid)).size).toBe(n);
      expect(r.mainIoctls.get(KVM_CREATE_VCPU)).toBeUndefined();
      expect(r.mainIoctls.get(KVM_RUN)).toBeUndefined();
      expect(r.mainIoctls.get(KVM_SET_REGS)).toBeGreaterThanOrEqual(n);
    }, 60_000);
  }

  it("-d threads: info cpus gives each vCPU its own thread id (thread=single: QEMU's pid)", () => {
    const r = run("smp.bin", "-smp", "2", "-d", "threads");
    const [t0, t1] = r.threads.map((d) => d.link.tid);
    expect(r.err).toContain(`* CPU #0: thread_id=${t0}\n  CPU #1: thread_id=${t1}\n`);
    expect(t0).not.toBe(t1);
    const t = testIo({ "smp.bin": bin("smp.bin") });
    glassvmRun(["glassvm", "-smp", "2", "-d", "threads", ...guestArgs("smp.bin")], t.io, {
      onHost,
    });
    expect(t.err()).toContain("* CPU #0: thread_id=1000\n  CPU #1: thread_id=1000\n");
  }, 60_000);

  it("smp -smp 2 on kvm_amd", () => {
    const r = run("smp.bin", "-smp", "2", "-host-cpu", "amd");
    expect(r.out).toBe("cpu 0 up\ncpu 1 up\nsmp: 2 cpus, counter 200000, ok\n");
    expect(r.status).toBe(1);
    expect(r.threads.every((d) => d.hostCpu === "amd")).toBe(true);
  }, 60_000);

  it("apic-timer: one-shot and periodic on the thread's own APIC timer", () => {
    const r = run("apic-timer.bin", "-smp", "2");
    expect(r.out).toContain("apic timer one-shot: ok\n");
    expect(r.out).toContain("apic timer periodic: 5 ticks\n");
    expect(r.status).toBe(1);
  }, 60_000);

  it("timer: the home's PIT and PIC reach a vCPU thread (ExtINT through LINT0)", () => {
    const r = run("timer.bin");
    expect(r.out).toBe("tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n");
    expect(r.status).toBe(1);
    expect(r.err.trim()).toBe("");
  }, 60_000);

  it("faults: exceptions, port and MMIO exits cross to the main thread and back", () => {
    const single = runSingle("faults.bin");
    const r = run("faults.bin");
    expect(r.out).toBe(single.out);
    expect(r.out).toContain("faults: all checks passed");
    expect(r.status).toBe(single.status);
  }, 60_000);

  it("debugcon from a vCPU thread: the bytes go through KVM's coalesced ring to QEMU", () => {
    const t = testIo({ "hello-long.bin": bin("hello-long.bin") });
    const io = { ...t.io, startThread: startVcpuWorker };
    const status = glassvmRun(
      [
        "glassvm",
        "-accel",
        "kvm,thread=multi",
        "-bios",
        "hello-long.bin",
        "-debugcon",
        "stdio",
        "-device",
        "isa-debug-exit,iobase=0xf4,iosize=0x04",
      ],
      io,
      { onHost },
    );
    expect(t.out()).toBe("Hello, world!\n");
    expect(status).toBe(1);
  }, 60_000);

  it("without threads from the embedder, thread=multi falls back to thread=single", () => {
    const t = testIo({ "smp.bin": bin("smp.bin") });
    const status = glassvmRun(
      ["glassvm", "-accel", "kvm,thread=multi", "-smp", "2", ...guestArgs("smp.bin")],
      t.io,
      { onHost },
    );
    expect(t.err()).toContain(
      "warning: kvm: thread=multi needs threads with shared memory here; the vCPUs run with thread=single",
    );
    expect(t.out()).toContain("smp: 2 cpus, counter 200000, ok");
    expect(status).toBe(1);
  }, 60_000);
});

function onHost(k: { config: { CONFIG_KVM_IOAPIC: boolean } }): void {
  k.config.CONFIG_KVM_IOAPIC = true;
}

function runSingle(image: string) {
  const t = testIo({ [image]: bin(image) });
  const status = glassvmRun(["glassvm", ...guestArgs(image)], t.io, { onHost });
  return { status, out: t.out() };
}
