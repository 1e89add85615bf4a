/**
 * KVM_RUN with the in-kernel irqchip, end to end on the toy vendor: guests that program
 * their local APIC through MMIO, take APIC-timer interrupts, start an AP with INIT/SIPI,
 * and receive PIC and I/O APIC interrupts from KVM_IRQ_LINE. Time is a VirtualClock, so a
 * halted vCPU waiting for its timer costs no wall time and runs are deterministic.
 */
import { describe, expect, it } from "vitest";
import { kvmRegisterIrqAckNotifier, kvmSetIrq } from "../src/irq_comm.js";
import {
  decodeKvmMpState,
  decodeKvmRegs,
  decodeKvmSregs,
  EAGAIN,
  EINTR,
  encodeKvmCpuid2,
  encodeKvmIrqLevel,
  KVM_EXIT_INTR,
  KVM_EXIT_IO,
  KVM_GET_MP_STATE,
  KVM_GET_REGS,
  KVM_GET_SREGS,
  KVM_IRQ_LINE,
  KVM_MP_STATE_HALTED,
  KVM_MP_STATE_RUNNABLE,
  KVM_MP_STATE_UNINITIALIZED,
  KVM_SET_CPUID2,
} from "../src/uapi/index.js";
import {
  HLT,
  type IrqchipVm,
  irqchipVm,
  JMP_SELF,
  le32,
  movAl,
  outImm,
  STI,
  store,
} from "./irqchip-setup.js";
import { TOY_CPUID } from "./toy-vendor.js";

const APIC = 0xfee0_0000;
const IOAPIC = 0xfec0_0000;

function mpState(v: IrqchipVm, i: number): number {
  const b = new Uint8Array(4);
  expect(v.proc.ioctl(v.vcpus[i]!, KVM_GET_MP_STATE, b)).toBe(0);
  return decodeKvmMpState(b);
}

function regs(v: IrqchipVm, i: number) {
  const b = new Uint8Array(144);
  expect(v.proc.ioctl(v.vcpus[i]!, KVM_GET_REGS, b)).toBe(0);
  return decodeKvmRegs(b);
}

/** The toy's vector table: handler address of vector `vec` at 4·vec. */
const ivt = (vec: number, handler: number): readonly [number, number[]] => [vec * 4, le32(handler)];

describe("the APIC timer in a guest (MMIO programming, HLT in the kernel)", () => {
  it("one-shot: HLT sleeps until the count runs out, the LVTT vector is delivered", () => {
    const code = [
      ...store(APIC + 0xf0, 0x1ff), // SVR: software enable
      ...store(APIC + 0x3e0, 0xb), // TDCR: divide by 1
      ...store(APIC + 0x320, 0x30), // LVTT: one-shot, vector 0x30
      ...store(APIC + 0x380, 5000), // TMICT: 5000 bus cycles = 5 µs
      ...STI,
      ...HLT,
      ...JMP_SELF,
    ];
    const handler = [...movAl(0x30), ...outImm(0x80), ...store(APIC + 0xb0, 0), ...HLT];
    const v = irqchipVm(1, [ivt(0x30, 0x1100), [0x1000, code], [0x1100, handler]]);
    expect(v.run(0)).toBe(0);
    expect(v.runs[0]!.exitReason).toBe(KVM_EXIT_IO);
    expect(v.runs[0]!.ioPort).toBe(0x80);
    // The halt skipped exactly to the deadline.
    expect(v.clock.now()).toBe(5000n);
    expect(v.kv[0]!.stat.halt_exits).toBe(1);
    // EOI, then HLT with nothing that could wake it: KVM_RUN gives the thread back.
    expect(v.run(0)).toBe(-EINTR);
    expect(v.runs[0]!.exitReason).toBe(KVM_EXIT_INTR);
    expect(mpState(v, 0)).toBe(KVM_MP_STATE_HALTED);
    expect(v.kv[0]!.arch.apic!.getReg(0x100 + 16)).toBe(0); // ISR[0x30] retired by the EOI
  });

  it("periodic: every period one interrupt, TMCCT counts down in between", () => {
    const code = [
      ...store(APIC + 0xf0, 0x1ff),
      ...store(APIC + 0x3e0, 0xb),
      ...store(APIC + 0x320, 0x2_0031), // periodic, vector 0x31
      ...store(APIC + 0x380, 1_000_000), // 1 ms
      ...STI,
      ...HLT,
      ...JMP_SELF,
    ];
    // Each tick: report, EOI, sleep again.
    const handler = [...movAl(0x31), ...outImm(0x81), ...store(APIC + 0xb0, 0), ...STI, ...HLT];
    const v = irqchipVm(1, [ivt(0x31, 0x1100), [0x1000, code], [0x1100, handler]]);
    for (let tick = 1; tick <= 3; tick++) {
      expect(v.run(0)).toBe(0);
      expect(v.runs[0]!.ioPort).toBe(0x81);
      expect(v.clock.now()).toBe(BigInt(tick) * 1_000_000n);
    }
    // Half a period later the current count is half the initial count.
    v.clock.advance(500_000n);
    expect(v.kv[0]!.arch.apic!.getReg(0x380)).toBe(1_000_000);
  });

  it("TSC-deadline: WRMSR 0x6E0 arms it, the interrupt comes when the TSC passes it", () => {
    const code = [
      ...store(APIC + 0xf0, 0x1ff),
      ...store(APIC + 0x320, 0x4_0032), // TSC-deadline mode, vector 0x32
      // wrmsr(0x6e0, 20000): ecx = 0x6e0, edx:eax = 20000
      0xb9,
      ...le32(0x6e0),
      0xba,
      ...le32(0),
      0xb8,
      ...le32(20_000),
      0x0f,
      0x30,
      ...STI,
      ...HLT,
      ...JMP_SELF,
    ];
    const handler = [...movAl(0x32), ...outImm(0x82), ...HLT];
    const v = irqchipVm(1, [ivt(0x32, 0x1100), [0x1000, code], [0x1100, handler]]);
    // The guest must see CPUID.1:ECX.TSC_DEADLINE for the mode to exist.
    const cpuid = TOY_CPUID.map((e) => (e.function === 1 ? { ...e, ecx: e.ecx | (1 << 24) } : e));
    expect(v.proc.ioctl(v.vcpus[0]!, KVM_SET_CPUID2, encodeKvmCpuid2(cpuid))).toBe(0);
    expect(v.run(0)).toBe(0);
    expect(v.runs[0]!.ioPort).toBe(0x82);
    // 20000 TSC ticks at 2 GHz = 10 µs of the kernel's clock.
    expect(v.clock.now()).toBe(10_000n);
    expect(v.kernel.rdtsc()).toBe(20_000n);
  });
});

describe("INIT / SIPI bring-up of vCPU 1 by vCPU 0", () => {
  const bsp = [
    ...store(APIC + 0x310, 1 << 24), // ICR2: destination APIC ID 1
    ...store(APIC + 0x300, 0x4500), // ICR: INIT, assert
    ...store(APIC + 0x300, 0x4602), // ICR: SIPI, vector 2 → 0x2000
    ...outImm(0x90),
    ...HLT,
  ];
  const ap = [...movAl(0x11), ...outImm(0x91), ...HLT];

  it("the AP waits UNINITIALIZED, INIT+SIPI start it in real mode at vector << 12", () => {
    const v = irqchipVm(2, [
      [0x1000, bsp],
      [0x2000, ap],
    ]);
    expect(mpState(v, 0)).toBe(KVM_MP_STATE_RUNNABLE);
    expect(mpState(v, 1)).toBe(KVM_MP_STATE_UNINITIALIZED);
    // Nothing can wake the AP yet: KVM_RUN returns as if kicked.
    expect(v.run(1)).toBe(-EINTR);
    expect(v.runs[1]!.exitReason).toBe(KVM_EXIT_INTR);
    expect(mpState(v, 1)).toBe(KVM_MP_STATE_UNINITIALIZED);

    // Each IPI to the sibling that shares this (single) host thread ends the sender's
    // KVM_RUN with -EINTR at its next exit (need_resched); QEMU simply runs it again.
    expect(v.run(0)).toBe(-EINTR);
    expect(v.run(0)).toBe(-EINTR);
    expect(v.run(0)).toBe(0);
    expect(v.runs[0]!.ioPort).toBe(0x90);
    // INIT and SIPI are latched: the first KVM_RUN takes them and answers -EAGAIN.
    expect(v.run(1)).toBe(-EAGAIN);
    expect(mpState(v, 1)).toBe(KVM_MP_STATE_RUNNABLE);
    const sb = new Uint8Array(312);
    v.proc.ioctl(v.vcpus[1]!, KVM_GET_SREGS, sb);
    const cs = decodeKvmSregs(sb).cs;
    expect([cs.selector, cs.base]).toEqual([0x200, 0x2000n]);
    expect(regs(v, 1).rip).toBe(0n);
    expect(v.run(1)).toBe(0);
    expect(v.runs[1]!.exitReason).toBe(KVM_EXIT_IO);
    expect(v.runs[1]!.ioPort).toBe(0x91);
  });

  it("kvm_apic_ipi and kvm_apic_accept_irq trace the INIT and the SIPI", () => {
    const v = irqchipVm(2, [
      [0x1000, bsp],
      [0x2000, ap],
    ]);
    const lines: string[] = [];
    v.kernel.trace.kvm_apic_ipi.subscribe((e) =>
      lines.push(`ipi ${e.icr_low.toString(16)} ${e.dest_id}`),
    );
    v.kernel.trace.kvm_apic_accept_irq.subscribe((e) =>
      lines.push(`accept ${e.apicid} ${e.dm.toString(16)} ${e.vec}`),
    );
    while (v.run(0) === -EINTR) {}
    expect(lines).toEqual(["ipi 4500 1", "accept 1 500 0", "ipi 4602 1", "accept 1 600 2"]);
  });
});

describe("device interrupts from KVM_IRQ_LINE", () => {
  it("PIC: ICW1–4 from the guest (ports in the kernel), GSI 1 reaches it via LINT0 ExtINT", () => {
    const code = [
      // master: ICW1 (edge, ICW4), ICW2 base 0x20, ICW3 slave on 2, ICW4 8086; OCW1 unmask IRQ1
      ...movAl(0x11),
      ...outImm(0x20),
      ...movAl(0x20),
      ...outImm(0x21),
      ...movAl(0x04),
      ...outImm(0x21),
      ...movAl(0x01),
      ...outImm(0x21),
      ...movAl(0xfd),
      ...outImm(0x21),
      ...STI,
      ...outImm(0x99), // tell userspace the PIC is ready
      ...HLT,
      ...JMP_SELF,
    ];
    const handler = [...movAl(0x21), ...outImm(0x98), ...movAl(0x20), ...outImm(0x20), ...HLT];
    const v = irqchipVm(1, [ivt(0x21, 0x1100), [0x1000, code], [0x1100, handler]]);
    expect(v.run(0)).toBe(0);
    // Only the ready signal left the kernel: the PIC's ports did not.
    expect(v.runs[0]!.ioPort).toBe(0x99);
    expect(v.kv[0]!.stat.io_exits).toBe(6);
    expect(v.proc.ioctl(v.vm, KVM_IRQ_LINE, encodeKvmIrqLevel({ irq: 1, level: 1 }))).toBe(0);
    expect(v.proc.ioctl(v.vm, KVM_IRQ_LINE, encodeKvmIrqLevel({ irq: 1, level: 0 }))).toBe(0);
    expect(v.run(0)).toBe(0);
    expect(v.runs[0]!.ioPort).toBe(0x98);
    expect(regs(v, 0).rax & 0xffn).toBe(0x21n);
    expect(v.kvm().arch.vpic!.pics[0].isr).toBe(1 << 1);
    const acked: number[] = [];
    kvmRegisterIrqAckNotifier(v.kvm(), { gsi: 1, irqAcked: (gsi) => acked.push(gsi) });
    // The handler's non-specific EOI retires IRQ1, then it halts with nothing to wait for.
    expect(v.run(0)).toBe(-EINTR);
    expect(acked).toEqual([1]);
    expect(v.kvm().arch.vpic!.pics[0].isr).toBe(0);
  });

  it("I/O APIC: a redirection entry programmed by the guest routes GSI 16 to the LAPIC", () => {
    const code = [
      ...store(APIC + 0xf0, 0x1ff),
      ...store(IOAPIC, 0x10 + 2 * 16), // IOREGSEL: pin 16 low
      ...store(IOAPIC + 0x10, 0x8045), // vector 0x45, level-triggered, unmasked
      ...store(IOAPIC, 0x10 + 2 * 16 + 1),
      ...store(IOAPIC + 0x10, 0), // destination APIC 0
      ...STI,
      ...outImm(0x99),
      ...HLT,
      ...JMP_SELF,
    ];
    const handler = [...outImm(0x97), ...store(APIC + 0xb0, 0), ...outImm(0x96), ...HLT];
    const v = irqchipVm(1, [ivt(0x45, 0x1100), [0x1000, code], [0x1100, handler]]);
    expect(v.run(0)).toBe(0);
    expect(v.runs[0]!.ioPort).toBe(0x99);
    expect(v.proc.ioctl(v.vm, KVM_IRQ_LINE, encodeKvmIrqLevel({ irq: 16, level: 1 }))).toBe(0);
    expect(v.run(0)).toBe(0);
    expect(v.runs[0]!.ioPort).toBe(0x97);
    const ioapic = v.kvm().arch.vioapic!;
    expect(ioapic.redirtbl[16]! & (1n << 14n)).toBe(1n << 14n); // remote IRR until the EOI
    // The device lowers the line before the guest's EOI: the EOI clears remote IRR only.
    expect(v.proc.ioctl(v.vm, KVM_IRQ_LINE, encodeKvmIrqLevel({ irq: 16, level: 0 }))).toBe(0);
    expect(v.run(0)).toBe(0);
    expect(v.runs[0]!.ioPort).toBe(0x96);
    expect(ioapic.redirtbl[16]! & (1n << 14n)).toBe(0n);
    expect(v.kv[0]!.arch.apic!.getReg(0x180 + 0x20)).toBe(1 << 5); // TMR[0x45]: level
  });
});

describe("halting with nothing that can wake the vCPU", () => {
  it("CLI; HLT with a periodic timer: virtual time does not run away, KVM_RUN returns", () => {
    const code = [
      ...store(APIC + 0xf0, 0x1ff),
      ...store(APIC + 0x3e0, 0xb),
      ...store(APIC + 0x320, 0x2_0033),
      ...store(APIC + 0x380, 1_000_000),
      0xfa, // cli
      ...HLT,
    ];
    const v = irqchipVm(1, [[0x1000, code]]);
    expect(v.run(0)).toBe(-EINTR);
    expect(v.runs[0]!.exitReason).toBe(KVM_EXIT_INTR);
    expect(v.clock.now()).toBe(0n);
    expect(mpState(v, 0)).toBe(KVM_MP_STATE_HALTED);
    // Time the VMM lets pass is caught up on the next KVM_RUN: the tick is pending in IRR.
    v.clock.advance(1_500_000n);
    expect(v.run(0)).toBe(-EINTR);
    expect(v.kv[0]!.arch.apic!.getReg(0x200 + 0x10) & (1 << 0x13)).toBe(1 << 0x13);
  });
});

describe("VM device timers (kvm.arch.timerSources) and IRQ-ack notifiers", () => {
  it("a halted vCPU sleeps until a device timer raises its GSI; the EOI reaches the ack notifier", () => {
    const code = [
      ...store(APIC + 0xf0, 0x1ff),
      ...store(IOAPIC, 0x10 + 2 * 2), // pin 2 (the PIT's GSI 0 override target in ACPI; any pin will do)
      ...store(IOAPIC + 0x10, 0x46), // vector 0x46, edge, unmasked, destination 0
      ...STI,
      ...HLT,
      ...JMP_SELF,
    ];
    const handler = [...outImm(0x95), ...store(APIC + 0xb0, 0), ...HLT];
    const v = irqchipVm(1, [ivt(0x46, 0x1100), [0x1000, code], [0x1100, handler]]);
    const kvm = v.kvm();
    let expires: bigint | null = 7000n;
    kvm.arch.timerSources.push({
      expire() {
        if (expires !== null && v.clock.now() >= expires) {
          expires = null;
          kvmSetIrq(kvm, 2, 2, 1, false);
          kvmSetIrq(kvm, 2, 2, 0, false);
        }
      },
      nextExpiry: () => expires,
    });
    const acked: number[] = [];
    kvmRegisterIrqAckNotifier(kvm, { gsi: 2, irqAcked: (gsi) => acked.push(gsi) });
    expect(v.run(0)).toBe(0);
    expect(v.runs[0]!.ioPort).toBe(0x95);
    expect(v.clock.now()).toBe(7000n);
    expect(acked).toEqual([]);
    expect(v.run(0)).toBe(-EINTR); // EOI, then HLT with nothing left to wait for
    expect(acked).toEqual([2]);
  });
});
