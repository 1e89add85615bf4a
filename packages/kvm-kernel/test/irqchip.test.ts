/**
 * The in-kernel irqchip's ioctls and their errno rules (KVM_CREATE_IRQCHIP,
 * KVM_IRQ_LINE(_STATUS), KVM_GET/SET_IRQCHIP, KVM_GET/SET_LAPIC, KVM_GET/SET_MP_STATE,
 * KVM_INTERRUPT), the default GSI routing to the PIC pair and the I/O APIC, and the
 * irqchip tracepoints' text.
 */
import { describe, expect, it } from "vitest";
import { irqchipTpPrintk, VirtualClock } from "../src/index.js";
import {
  decodeKvmCpuid2,
  decodeKvmIrqchip,
  decodeKvmMpState,
  decodeKvmSregs,
  EEXIST,
  EINVAL,
  ENOTTY,
  ENXIO,
  emptyKvmVcpuEvents,
  encodeKvmCpuid2,
  encodeKvmInterrupt,
  encodeKvmIrqchip,
  encodeKvmIrqLevel,
  encodeKvmMpState,
  encodeKvmVcpuEvents,
  KVM_CAP_IRQ_INJECT_STATUS,
  KVM_CAP_IRQCHIP,
  KVM_CAP_TSC_DEADLINE_TIMER,
  KVM_CHECK_EXTENSION,
  KVM_CREATE_IRQCHIP,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_GET_IRQCHIP,
  KVM_GET_LAPIC,
  KVM_GET_MP_STATE,
  KVM_GET_SREGS,
  KVM_GET_SUPPORTED_CPUID,
  KVM_INTERRUPT,
  KVM_IRQ_LINE,
  KVM_IRQ_LINE_STATUS,
  KVM_IRQCHIP_IOAPIC,
  KVM_IRQCHIP_PIC_MASTER,
  KVM_IRQCHIP_PIC_SLAVE,
  KVM_IRQCHIP_SIZE,
  KVM_MP_STATE_HALTED,
  KVM_MP_STATE_INIT_RECEIVED,
  KVM_MP_STATE_RUNNABLE,
  KVM_MP_STATE_SIPI_RECEIVED,
  KVM_MP_STATE_UNINITIALIZED,
  KVM_PIC_STATE_FIELDS,
  KVM_SET_IRQCHIP,
  KVM_SET_LAPIC,
  KVM_SET_MP_STATE,
  KVM_SET_VCPU_EVENTS,
  KVM_VCPUEVENT_VALID_SIPI_VECTOR,
  type KvmIrqchip,
} from "../src/uapi/index.js";
import { runFuzz } from "./fuzz-gen.js";
import { irqchipHost, irqchipVm } from "./irqchip-setup.js";
import { guest, host } from "./setup.js";

function getChip(proc: ReturnType<typeof irqchipHost>["proc"], vm: number, chipId: number) {
  const b = encodeKvmIrqchip({ chipId });
  const r = proc.ioctl(vm, KVM_GET_IRQCHIP, b);
  return r < 0 ? r : decodeKvmIrqchip(b);
}

function lineStatus(
  proc: ReturnType<typeof irqchipHost>["proc"],
  vm: number,
  irq: number,
  level: number,
) {
  const b = encodeKvmIrqLevel({ irq, level });
  expect(proc.ioctl(vm, KVM_IRQ_LINE_STATUS, b)).toBe(0);
  return new DataView(b.buffer).getInt32(0, true);
}

describe("a kernel built without CONFIG_KVM_IOAPIC (the default) behaves as before", () => {
  it("KVM_CAP_IRQCHIP 0, KVM_CREATE_IRQCHIP -ENOTTY, KVM_IRQ_LINE -ENXIO, no x2APIC bit", () => {
    const { proc, sys } = host();
    const vm = proc.ioctl(sys, KVM_CREATE_VM, 0);
    expect(proc.ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP)).toBe(0);
    expect(proc.ioctl(sys, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER)).toBe(0);
    expect(proc.ioctl(vm, KVM_CREATE_IRQCHIP, 0)).toBe(-ENOTTY);
    expect(proc.ioctl(vm, KVM_IRQ_LINE, encodeKvmIrqLevel({ irq: 0, level: 1 }))).toBe(-ENXIO);
    const cpuid = encodeKvmCpuid2([], 64);
    expect(proc.ioctl(sys, KVM_GET_SUPPORTED_CPUID, cpuid)).toBe(0);
    expect(decodeKvmCpuid2(cpuid).find((e) => e.function === 1)!.ecx & (1 << 21)).toBe(0);
  });
});

describe("KVM_CREATE_IRQCHIP", () => {
  it("reports KVM_CAP_IRQCHIP, KVM_CAP_TSC_DEADLINE_TIMER, KVM_CAP_IRQ_INJECT_STATUS; x2APIC and TSC-deadline CPUID bits", () => {
    const { proc, sys } = irqchipHost();
    for (const cap of [KVM_CAP_IRQCHIP, KVM_CAP_TSC_DEADLINE_TIMER, KVM_CAP_IRQ_INJECT_STATUS]) {
      expect(proc.ioctl(sys, KVM_CHECK_EXTENSION, cap)).toBe(1);
    }
    const cpuid = encodeKvmCpuid2([], 64);
    expect(proc.ioctl(sys, KVM_GET_SUPPORTED_CPUID, cpuid)).toBe(0);
    const ecx = decodeKvmCpuid2(cpuid).find((e) => e.function === 1)!.ecx;
    expect(ecx & ((1 << 21) | (1 << 24))).toBe((1 << 21) | (1 << 24));
  });

  it("-EEXIST the second time, -EINVAL once a vCPU exists", () => {
    const { proc, sys } = irqchipHost();
    const vm = proc.ioctl(sys, KVM_CREATE_VM, 0);
    expect(proc.ioctl(vm, KVM_CREATE_IRQCHIP, 0)).toBe(0);
    expect(proc.ioctl(vm, KVM_CREATE_IRQCHIP, 0)).toBe(-EEXIST);
    const vm2 = proc.ioctl(sys, KVM_CREATE_VM, 0);
    expect(proc.ioctl(vm2, KVM_CREATE_VCPU, 0)).toBeGreaterThanOrEqual(0);
    expect(proc.ioctl(vm2, KVM_CREATE_IRQCHIP, 0)).toBe(-EINVAL);
  });

  it("before it: KVM_IRQ_LINE(_STATUS) and KVM_GET/SET_IRQCHIP -ENXIO, KVM_GET/SET_LAPIC -EINVAL", () => {
    const { proc, sys } = irqchipHost();
    const vm = proc.ioctl(sys, KVM_CREATE_VM, 0);
    const vcpu = proc.ioctl(vm, KVM_CREATE_VCPU, 0);
    expect(proc.ioctl(vm, KVM_IRQ_LINE, encodeKvmIrqLevel({ irq: 0, level: 1 }))).toBe(-ENXIO);
    expect(proc.ioctl(vm, KVM_IRQ_LINE_STATUS, encodeKvmIrqLevel({ irq: 0, level: 1 }))).toBe(
      -ENXIO,
    );
    expect(getChip(proc, vm, 0)).toBe(-ENXIO);
    expect(proc.ioctl(vm, KVM_SET_IRQCHIP, encodeKvmIrqchip({ chipId: 0 }))).toBe(-ENXIO);
    expect(proc.ioctl(vcpu, KVM_GET_LAPIC, new Uint8Array(1024))).toBe(-EINVAL);
    expect(proc.ioctl(vcpu, KVM_SET_LAPIC, new Uint8Array(1024))).toBe(-EINVAL);
  });

  it("KVM_INTERRUPT: -EINVAL for irq ≥ 256 first, then -ENXIO with the in-kernel PIC", () => {
    const v = irqchipVm(1);
    expect(v.proc.ioctl(v.vcpus[0]!, KVM_INTERRUPT, encodeKvmInterrupt(256))).toBe(-EINVAL);
    expect(v.proc.ioctl(v.vcpus[0]!, KVM_INTERRUPT, encodeKvmInterrupt(0x20))).toBe(-ENXIO);
  });
});

describe("KVM_GET_IRQCHIP / KVM_SET_IRQCHIP (struct kvm_irqchip, 520 bytes)", () => {
  it("the chips after creation: PICs zeroed with PIIX ELCR masks, every IOAPIC pin masked", () => {
    const v = irqchipVm(1);
    const m = getChip(v.proc, v.vm, KVM_IRQCHIP_PIC_MASTER) as KvmIrqchip;
    const s = getChip(v.proc, v.vm, KVM_IRQCHIP_PIC_SLAVE) as KvmIrqchip;
    expect(m.pic!.elcrMask).toBe(0xf8);
    expect(s.pic!.elcrMask).toBe(0xde);
    expect(m.pic!.imr).toBe(0);
    const io = getChip(v.proc, v.vm, KVM_IRQCHIP_IOAPIC) as KvmIrqchip;
    expect(io.ioapic!.baseAddress).toBe(0xfec0_0000n);
    expect(io.ioapic!.redirtbl).toEqual(Array(24).fill(0x1_0000n));
    expect(getChip(v.proc, v.vm, 3)).toBe(-EINVAL);
  });

  it("byte layout: PIC state at offset 8 (16 u8 fields), IOAPIC redirtbl at 8 + 24", () => {
    const v = irqchipVm(1);
    const pic = Object.fromEntries(KVM_PIC_STATE_FIELDS.map((f, i) => [f, i + 1])) as never;
    expect(v.proc.ioctl(v.vm, KVM_SET_IRQCHIP, encodeKvmIrqchip({ chipId: 1, pic }))).toBe(0);
    const b = encodeKvmIrqchip({ chipId: 1 });
    expect(b.length).toBe(KVM_IRQCHIP_SIZE);
    expect(v.proc.ioctl(v.vm, KVM_GET_IRQCHIP, b)).toBe(0);
    expect([...b.subarray(8, 24)]).toEqual([...Array(16).keys()].map((i) => i + 1));
    const redirtbl = Array.from({ length: 24 }, (_, i) => BigInt(0x20 + i) | (BigInt(i) << 56n));
    const ioapic = { baseAddress: 0xfec0_0000n, ioregsel: 0x12, id: 3, irr: 0, redirtbl };
    expect(v.proc.ioctl(v.vm, KVM_SET_IRQCHIP, encodeKvmIrqchip({ chipId: 2, ioapic }))).toBe(0);
    const c = encodeKvmIrqchip({ chipId: 2 });
    v.proc.ioctl(v.vm, KVM_GET_IRQCHIP, c);
    const dv = new DataView(c.buffer);
    expect(dv.getBigUint64(8, true)).toBe(0xfec0_0000n);
    expect(dv.getUint32(16, true)).toBe(0x12);
    expect(dv.getUint32(20, true)).toBe(3);
    expect(dv.getBigUint64(32 + 8 * 5, true)).toBe(0x25n | (5n << 56n));
  });
});

describe("KVM_IRQ_LINE_STATUS through the default routing", () => {
  it("masked everywhere: -1; an unmasked PIC pin: 1; raised again before delivery: coalesced 0", () => {
    const v = irqchipVm(1);
    const m = (getChip(v.proc, v.vm, 0) as KvmIrqchip).pic!;
    // A fresh PIC masks nothing; mask the master, and the IOAPIC pins are masked already.
    v.proc.ioctl(v.vm, KVM_SET_IRQCHIP, encodeKvmIrqchip({ chipId: 0, pic: { ...m, imr: 0xff } }));
    expect(lineStatus(v.proc, v.vm, 3, 1)).toBe(-1);
    lineStatus(v.proc, v.vm, 3, 0);
    // Program the master: base 0x20, everything but IRQ3 masked, edge-triggered.
    v.proc.ioctl(
      v.vm,
      KVM_SET_IRQCHIP,
      encodeKvmIrqchip({ chipId: 0, pic: { ...m, irqBase: 0x20, imr: 0xf7 } }),
    );
    expect(lineStatus(v.proc, v.vm, 3, 1)).toBe(1);
    lineStatus(v.proc, v.vm, 3, 0);
    expect(lineStatus(v.proc, v.vm, 3, 1)).toBe(0);
    expect(v.kvm().arch.vpic!.output).toBe(true);
  });

  it("GSI 16–23 go to the I/O APIC only; GSIs beyond the table report -1", () => {
    const v = irqchipVm(1);
    const io = (getChip(v.proc, v.vm, 2) as KvmIrqchip).ioapic!;
    io.redirtbl[20] = 0x41n; // vector 0x41, physical, edge, unmasked, destination 0
    v.proc.ioctl(v.vm, KVM_SET_IRQCHIP, encodeKvmIrqchip({ chipId: 2, ioapic: io }));
    // The LAPIC is software-disabled after reset: the message finds no taker.
    expect(lineStatus(v.proc, v.vm, 20, 1)).toBe(0);
    lineStatus(v.proc, v.vm, 20, 0);
    v.kv[0]!.arch.apic!.setReg(0xf0, 0x1ff);
    expect(lineStatus(v.proc, v.vm, 20, 1)).toBe(1);
    expect(v.kv[0]!.arch.apic!.getReg(0x200 + 0x20) & (1 << 1)).toBe(2);
    expect(lineStatus(v.proc, v.vm, 99, 1)).toBe(-1);
  });

  it("kvm_set_irq, kvm_pic_set_irq and kvm_ioapic_set_irq fire with Linux's text", () => {
    const v = irqchipVm(1);
    const lines: string[] = [];
    v.kernel.trace.subscribe("kvm_*", (name, ev) => {
      if (name === "kvm_set_irq" || name === "kvm_pic_set_irq" || name === "kvm_ioapic_set_irq") {
        lines.push(`${name}: ${irqchipTpPrintk(name, ev as never)}`);
      }
    });
    lineStatus(v.proc, v.vm, 4, 1);
    expect(lines).toEqual([
      "kvm_set_irq: gsi 4 level 1 source 0",
      "kvm_ioapic_set_irq: pin 4 dst 0 vec 0 (Fixed|physical|edge|masked)",
      "kvm_pic_set_irq: chip 0 pin 4 (edge)",
    ]);
  });
});

describe("KVM_GET_MP_STATE / KVM_SET_MP_STATE", () => {
  it("without an in-kernel LAPIC only RUNNABLE is accepted", () => {
    const g = guest([0xf4]);
    for (const s of [1, 2, 3, 4]) {
      expect(g.proc.ioctl(g.vcpu, KVM_SET_MP_STATE, encodeKvmMpState(s))).toBe(-EINVAL);
    }
    expect(g.proc.ioctl(g.vcpu, KVM_SET_MP_STATE, encodeKvmMpState(0))).toBe(0);
  });

  it("with one: all five x86 states; unknown ones -EINVAL; SIPI_RECEIVED starts at the events' vector", () => {
    const v = irqchipVm(2);
    const get = (i: number) => {
      const b = new Uint8Array(4);
      v.proc.ioctl(v.vcpus[i]!, KVM_GET_MP_STATE, b);
      return decodeKvmMpState(b);
    };
    const set = (i: number, s: number) =>
      v.proc.ioctl(v.vcpus[i]!, KVM_SET_MP_STATE, encodeKvmMpState(s));
    for (const s of [
      KVM_MP_STATE_UNINITIALIZED,
      KVM_MP_STATE_HALTED,
      KVM_MP_STATE_INIT_RECEIVED,
      KVM_MP_STATE_RUNNABLE,
    ]) {
      expect(set(1, s)).toBe(0);
      expect(get(1)).toBe(s);
    }
    expect(set(1, 5)).toBe(-EINVAL);
    const ev = emptyKvmVcpuEvents();
    ev.flags = KVM_VCPUEVENT_VALID_SIPI_VECTOR;
    ev.sipiVector = 0x12;
    expect(v.proc.ioctl(v.vcpus[1]!, KVM_SET_VCPU_EVENTS, encodeKvmVcpuEvents(ev))).toBe(0);
    expect(set(1, KVM_MP_STATE_SIPI_RECEIVED)).toBe(0);
    // GET takes the latched SIPI first: the AP is running at 0x12000.
    expect(get(1)).toBe(KVM_MP_STATE_RUNNABLE);
    const sb = new Uint8Array(312);
    v.proc.ioctl(v.vcpus[1]!, KVM_GET_SREGS, sb);
    expect(decodeKvmSregs(sb).cs.base).toBe(0x12000n);
  });
});

describe("the ioctl fuzzer on a kernel with the in-kernel irqchip", () => {
  it.each([1, 2, 3])("seed %i: random system calls keep every invariant", (seed) => {
    const r = runFuzz({
      seed,
      iterations: 1500,
      setup: (kernel) => {
        kernel.config.CONFIG_KVM_IOAPIC = true;
        kernel.clock = new VirtualClock();
      },
    });
    expect(r.violations).toEqual([]);
  });
});
