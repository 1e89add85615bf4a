/**
 * The in-kernel irqchip through the whole path: a host kernel built with
 * CONFIG_KVM_IOAPIC reports KVM_CAP_IRQCHIP, so QEMU (kernel-irqchip=on, its default)
 * creates the kernel's PICs, I/O APIC and local APICs (KVM_CREATE_IRQCHIP), the kernel's
 * PIT (KVM_CREATE_PIT2), wires the board's GSIs to KVM_IRQ_LINE and resets each local APIC
 * with KVM_SET_LAPIC. The timer guest's PIT ticks then reach it through the kernel's PIC
 * and LINT0 in ExtINT mode, and port 0x20/0x40/0x61 accesses never leave the kernel.
 */
import { readFileSync } from "node:fs";
import {
  interposeHostOs,
  KVM_CREATE_IRQCHIP,
  KVM_CREATE_PIT2,
  KVM_INTERRUPT,
  KVM_IRQ_LINE_STATUS,
  KVM_RUN,
  KVM_SET_LAPIC,
  kvmIoctlName,
} from "@glassvm/kvm-kernel/uapi";
import { describe, expect, it } from "vitest";
import { glassvmRun } from "../src/index.js";
import { testIo, withoutWarnings } from "./firmware.js";

const bin = (name: string) =>
  new Uint8Array(readFileSync(new URL(`../../../guests/bin/${name}`, import.meta.url)));

function run(image: string, ...extra: string[]) {
  const t = testIo({ [image]: bin(image) });
  const ioctls: string[] = [];
  const status = glassvmRun(
    [
      "glassvm",
      ...extra,
      "-nographic",
      "-bios",
      image,
      "-device",
      "isa-debug-exit,iobase=0xf4,iosize=0x04",
    ],
    t.io,
    {
      onHost: (kernel) => {
        kernel.config.CONFIG_KVM_IOAPIC = true;
      },
      wrapHostOs: (os) =>
        interposeHostOs(os, {
          ioctl: (fd, req, arg) => {
            const r = os.ioctl(fd, req, arg);
            if (req !== KVM_RUN) ioctls.push(`${kvmIoctlName(req)}=${r}`);
            return r;
          },
        }),
    },
  );
  return { status, out: t.out(), err: withoutWarnings(t.err()), ioctls };
}

describe("kernel-irqchip=on with the kernel's irqchip", () => {
  it("creates the irqchip and the PIT, resets the local APIC; bios-hello runs", () => {
    const r = run("bios-hello.bin");
    expect(r.out).toBe("Hello from the reset vector!\n");
    expect(r.status).toBe(1);
    const name = (req: number) => kvmIoctlName(req);
    expect(r.ioctls).toContain(`${name(KVM_CREATE_IRQCHIP)}=0`);
    expect(r.ioctls).toContain(`${name(KVM_CREATE_PIT2)}=0`);
    expect(r.ioctls).toContain(`${name(KVM_SET_LAPIC)}=0`);
    expect(r.ioctls.some((l) => l.startsWith(name(KVM_INTERRUPT)))).toBe(false);
    // The CREATE_IRQCHIP comes before any vCPU, as the kernel demands.
    const irqchip = r.ioctls.indexOf(`${name(KVM_CREATE_IRQCHIP)}=0`);
    expect(irqchip).toBeLessThan(r.ioctls.findIndex((l) => l.startsWith("KVM_CREATE_VCPU")));
  });

  it("timer: PIT ticks through the kernel's PIC and LINT0 (ExtINT), the same output", () => {
    const r = run("timer.bin");
    expect(r.out).toBe("tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n");
    expect(r.status).toBe(1);
    expect(r.err.trim()).toBe("");
    // The board's ISA lines are KVM_IRQ_LINE(_STATUS); no KVM_INTERRUPT from QEMU.
    expect(r.ioctls.some((l) => l.startsWith(kvmIoctlName(KVM_INTERRUPT)))).toBe(false);
    expect(r.ioctls.some((l) => l.startsWith(kvmIoctlName(KVM_IRQ_LINE_STATUS)))).toBe(true);
  });

  it("smp -smp 1: the workload with LOCK XADD on the BSP alone", () => {
    const r = run("smp.bin", "-smp", "1");
    expect(r.out).toBe("cpu 0 up\nsmp: 1 cpus, counter 100000, ok\n");
    expect(r.status).toBe(1);
  });

  it("smp -smp 2 and 4: INIT-SIPI-SIPI brings the APs up, LOCK XADD counts exactly", () => {
    for (const n of [2, 4]) {
      const r = run("smp.bin", "-smp", String(n));
      const up = Array.from({ length: n }, (_, i) => `cpu ${i} up\n`).join("");
      expect(r.out).toBe(`${up}smp: ${n} cpus, counter ${n * 100000}, ok\n`);
      expect(r.status).toBe(1);
      expect(r.ioctls.filter((l) => l.startsWith("KVM_SET_LAPIC")).length).toBe(n);
    }
  }, 60_000);

  it("smp -smp 2 on kvm_amd: the same", () => {
    const r = run("smp.bin", "-host-cpu", "amd", "-smp", "2");
    expect(r.out).toBe("cpu 0 up\ncpu 1 up\nsmp: 2 cpus, counter 200000, ok\n");
    expect(r.status).toBe(1);
  }, 60_000);

  it("apic-timer: one-shot and periodic LAPIC timer interrupts on both backends", () => {
    const want =
      "apic timer one-shot: ok\napic timer periodic: 5 ticks\n" +
      "apic timer tsc-deadline: skipped (not in CPUID)\n";
    for (const host of ["intel", "amd"]) {
      const r = run("apic-timer.bin", "-host-cpu", host);
      expect(r.out).toBe(want);
      expect(r.status).toBe(1);
    }
  }, 60_000);
});
