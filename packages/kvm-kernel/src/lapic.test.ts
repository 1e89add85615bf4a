/**
 * The local APIC at register level (arch/x86/kvm/lapic.c behaviour): reset values,
 * priorities and acknowledge/EOI, LVT rules, IPI delivery modes and destinations, the
 * timer in its three modes, x2APIC, and the KVM_GET/SET_LAPIC image.
 */
import { describe, expect, it } from "vitest";
import { irqchipVm } from "../test/irqchip-setup.js";
import { TOY_CPUID } from "../test/toy-vendor.js";
import type { KvmVcpu } from "./kvm_host.js";
import {
  APIC_DFR,
  APIC_ICR,
  APIC_ICR2,
  APIC_ID,
  APIC_IRR,
  APIC_ISR,
  APIC_LDR,
  APIC_LVR,
  APIC_LVT0,
  APIC_LVT1,
  APIC_LVTERR,
  APIC_LVTPC,
  APIC_LVTT,
  APIC_LVTTHMR,
  APIC_PROCPRI,
  APIC_SPIV,
  APIC_TASKPRI,
  APIC_TDCR,
  APIC_TMCCT,
  APIC_TMICT,
  APIC_TMR,
  apicAcceptIrq,
  kvmApicAcceptEvents,
  kvmApicHasInterrupt,
  kvmGetApicInterrupt,
  kvmInjectApicTimerIrqs,
  kvmLapicCheckTimer,
  kvmLapicMmioRead,
  kvmLapicRegRead,
  kvmLapicRegWrite,
} from "./lapic.js";
import {
  encodeKvmCpuid2,
  KVM_GET_LAPIC,
  KVM_MP_STATE_INIT_RECEIVED,
  KVM_MP_STATE_RUNNABLE,
  KVM_MP_STATE_UNINITIALIZED,
  KVM_SET_CPUID2,
  KVM_SET_LAPIC,
} from "./uapi/index.js";
import { kvmGetCr8, kvmGetMsr, kvmSetCr8, kvmSetMsr } from "./x86.js";

const apic = (v: KvmVcpu) => v.arch.apic!;
const reg = (v: KvmVcpu, off: number) => kvmLapicRegRead(apic(v), off, 4);
const write = (v: KvmVcpu, off: number, val: number) => kvmLapicRegWrite(apic(v), off, val);
const irrHas = (v: KvmVcpu, vec: number) =>
  ((apic(v).getReg(APIC_IRR + ((vec >> 5) << 4)) >>> (vec & 31)) & 1) === 1;
const isrHas = (v: KvmVcpu, vec: number) =>
  ((apic(v).getReg(APIC_ISR + ((vec >> 5) << 4)) >>> (vec & 31)) & 1) === 1;
const fixed = (v: KvmVcpu, vec: number, level = false) =>
  apicAcceptIrq(apic(v), 0, vec, true, level);
/** A VM of `n` vCPUs whose APICs are software-enabled. */
function enabled(n: number) {
  const vm = irqchipVm(n);
  for (const v of vm.kv) write(v, APIC_SPIV, 0x1ff);
  return vm;
}
/** Write ICR2 then ICR (xAPIC). */
function ipi(v: KvmVcpu, low: number, dest = 0) {
  write(v, APIC_ICR2, dest << 24);
  write(v, APIC_ICR, low);
}

describe("reset state (kvm_lapic_reset)", () => {
  it("ID = vCPU id << 24, version 0x50014, SVR 0xFF, DFR flat, every LVT masked", () => {
    const { kv } = irqchipVm(2);
    const [bsp, ap] = kv as [KvmVcpu, KvmVcpu];
    expect(reg(bsp, APIC_ID)).toBe(0);
    expect(reg(ap, APIC_ID)).toBe(1 << 24);
    expect(reg(bsp, APIC_LVR)).toBe(0x5_0014);
    expect(reg(bsp, APIC_SPIV)).toBe(0xff);
    expect(reg(bsp, APIC_DFR)).toBe(0xffff_ffff);
    for (const r of [APIC_LVTT, APIC_LVTTHMR, APIC_LVTPC, APIC_LVT1, APIC_LVTERR]) {
      expect(reg(bsp, r)).toBe(0x1_0000);
    }
    // The BSP's LINT0 comes up in ExtINT mode, unmasked (KVM_X86_QUIRK_LINT0_REENABLED).
    expect(reg(bsp, APIC_LVT0)).toBe(0x700);
    expect(reg(ap, APIC_LVT0)).toBe(0x1_0000);
    expect(bsp.arch.apicBase).toBe(0xfee0_0900);
    expect(ap.arch.apicBase).toBe(0xfee0_0800);
    expect(bsp.arch.mpState).toBe(KVM_MP_STATE_RUNNABLE);
    expect(ap.arch.mpState).toBe(KVM_MP_STATE_UNINITIALIZED);
  });

  it("reserved registers and straddling accesses read nothing; byte reads see the right byte", () => {
    const { kv } = irqchipVm(1);
    const a = apic(kv[0]!);
    expect(kvmLapicRegRead(a, 0x40, 4)).toBeNull();
    expect(kvmLapicRegRead(a, 0xb0, 4)).toBeNull(); // EOI is write-only
    expect(kvmLapicRegRead(a, 0x32, 4)).toBeNull();
    expect(kvmLapicRegRead(a, 0x30, 1)).toBe(0x14);
    expect(kvmLapicRegRead(a, 0x32, 1)).toBe(0x05);
  });
});

describe("priorities: TPR, PPR, acknowledge and EOI", () => {
  it("the highest IRR above PPR's class is delivered; EOI retires the highest ISR", () => {
    const { kv } = enabled(1);
    const v = kv[0]!;
    fixed(v, 0x50);
    fixed(v, 0x61);
    write(v, APIC_TASKPRI, 0x60);
    expect(kvmApicHasInterrupt(v)).toBe(-1); // class 6 is not above TPR class 6
    write(v, APIC_TASKPRI, 0x50);
    expect(kvmGetApicInterrupt(v)).toBe(0x61);
    expect(isrHas(v, 0x61) && !irrHas(v, 0x61)).toBe(true);
    expect(reg(v, APIC_PROCPRI)).toBe(0x60);
    expect(kvmApicHasInterrupt(v)).toBe(-1); // 0x50 waits for the EOI
    write(v, 0xb0, 0);
    expect(isrHas(v, 0x61)).toBe(false);
    expect(reg(v, APIC_PROCPRI)).toBe(0x50);
    write(v, APIC_TASKPRI, 0);
    expect(kvmGetApicInterrupt(v)).toBe(0x50);
  });

  it("a software-disabled APIC drops fixed interrupts; level-triggered ones set TMR", () => {
    const { kv } = irqchipVm(1);
    const v = kv[0]!;
    expect(fixed(v, 0x40)).toBe(0);
    expect(irrHas(v, 0x40)).toBe(false);
    write(v, APIC_SPIV, 0x1ff);
    expect(fixed(v, 0x40, true)).toBe(1);
    expect(apic(v).getReg(APIC_TMR + 0x20)).toBe(1);
  });

  it("CR8 is the TPR's high nibble", () => {
    const { kv } = enabled(1);
    write(kv[0]!, APIC_TASKPRI, 0xa7);
    expect(kvmGetCr8(kv[0]!)).toBe(0xa);
    expect(kv[0]!.arch.cr8).toBe(0xa); // the mirror vendors read today
    kvmSetCr8(kv[0]!, 3);
    expect(reg(kv[0]!, APIC_TASKPRI)).toBe(0x30);
  });
});

describe("LVT entries and the spurious-vector register", () => {
  it("LVT writes are forced masked while the APIC is software-disabled", () => {
    const { kv } = irqchipVm(1);
    const v = kv[0]!;
    write(v, APIC_LVTERR, 0xfe);
    expect(reg(v, APIC_LVTERR)).toBe(0x1_00fe);
    write(v, APIC_SPIV, 0x1ff);
    write(v, APIC_LVTERR, 0x7fe); // mode bits are not writable in LVTERR
    expect(reg(v, APIC_LVTERR)).toBe(0xfe);
    write(v, APIC_LVT1, 0x400); // NMI
    expect(reg(v, APIC_LVT1)).toBe(0x400);
    // Clearing SVR.8 masks every LVT entry.
    write(v, APIC_SPIV, 0xff);
    expect(reg(v, APIC_LVT1)).toBe(0x1_0400);
    expect(reg(v, APIC_LVT0)).toBe(0x1_0700);
  });

  it("LDR keeps bits 31:24, DFR forces bits 27:0 to ones, ID keeps bits 31:24", () => {
    const { kv } = enabled(1);
    const v = kv[0]!;
    write(v, APIC_LDR, 0x1234_5678);
    expect(reg(v, APIC_LDR)).toBe(0x1200_0000);
    write(v, APIC_DFR, 0);
    expect(reg(v, APIC_DFR)).toBe(0x0fff_ffff);
    write(v, APIC_ID, 0x0500_00ff);
    expect(reg(v, APIC_ID)).toBe(0x0500_0000);
  });
});

describe("IPIs (ICR writes)", () => {
  it("fixed, physical destination: only the APIC with that ID", () => {
    const { kv } = enabled(3);
    ipi(kv[0]!, 0x4041, 2);
    expect(kv.map((v) => irrHas(v, 0x41))).toEqual([false, false, true]);
    // ICR reads back without the busy bit.
    expect(reg(kv[0]!, APIC_ICR)).toBe(0x4041);
    expect(reg(kv[0]!, APIC_ICR2)).toBe(2 << 24);
  });

  it("physical broadcast 0xFF reaches every APIC", () => {
    const { kv } = enabled(3);
    ipi(kv[1]!, 0x4042, 0xff);
    expect(kv.map((v) => irrHas(v, 0x42))).toEqual([true, true, true]);
  });

  it("logical flat: each APIC whose LDR shares a bit with the destination", () => {
    const { kv } = enabled(3);
    kv.forEach((v, i) => {
      write(v, APIC_LDR, (1 << i) << 24);
    });
    ipi(kv[0]!, 0x4843, 0b110);
    expect(kv.map((v) => irrHas(v, 0x43))).toEqual([false, true, true]);
  });

  it("logical cluster: same cluster (bits 7:4) and a shared member bit (3:0)", () => {
    const { kv } = enabled(3);
    for (const v of kv) write(v, APIC_DFR, 0x0fff_ffff);
    write(kv[0]!, APIC_LDR, 0x11 << 24);
    write(kv[1]!, APIC_LDR, 0x12 << 24);
    write(kv[2]!, APIC_LDR, 0x21 << 24);
    ipi(kv[0]!, 0x4844, 0x13);
    expect(kv.map((v) => irrHas(v, 0x44))).toEqual([true, true, false]);
  });

  it("shorthands: self, all including self, all excluding self", () => {
    const { kv } = enabled(3);
    write(kv[1]!, APIC_ICR, 0x4_4050);
    expect(kv.map((v) => irrHas(v, 0x50))).toEqual([false, true, false]);
    write(kv[1]!, APIC_ICR, 0x8_4051);
    expect(kv.map((v) => irrHas(v, 0x51))).toEqual([true, true, true]);
    write(kv[1]!, APIC_ICR, 0xc_4052);
    expect(kv.map((v) => irrHas(v, 0x52))).toEqual([true, false, true]);
  });

  it("lowest priority: one APIC takes it — (vector mod n) with vector hashing, else round robin", () => {
    const { kv, kvm } = enabled(3);
    kv.forEach((v, i) => {
      write(v, APIC_LDR, (1 << i) << 24);
    });
    ipi(kv[0]!, 0x4960, 0b111); // 0x60 % 3 = 0
    expect(kv.map((v) => irrHas(v, 0x60))).toEqual([true, false, false]);
    ipi(kv[0]!, 0x4961, 0b111); // 0x61 % 3 = 1
    expect(kv.map((v) => irrHas(v, 0x61))).toEqual([false, true, false]);
    // Without hashing, the lowest arbitration counter wins (kvm_apic_compare_prio).
    kvm().arch.vectorHashing = false;
    const got: number[] = [];
    for (const vec of [0x70, 0x71, 0x72, 0x73]) {
      ipi(kv[0]!, 0x4900 | vec, 0b111);
      got.push(kv.findIndex((v) => irrHas(v, vec)));
    }
    expect(got).toEqual([2, 0, 1, 2]);
  });

  it("NMI queues an NMI; SMI is dropped (no SMM)", () => {
    const { kv } = enabled(2);
    ipi(kv[0]!, 0x4400, 1);
    expect(kv[1]!.arch.nmiPending).toBe(1);
    ipi(kv[0]!, 0x4200, 1);
    expect(kv[1]!.arch.nmiPending).toBe(1);
  });

  it("INIT then SIPI: UNINITIALIZED → INIT_RECEIVED → RUNNABLE at the vector's page", () => {
    const { kv, kvm } = enabled(2);
    const ap = kv[1]!;
    // A SIPI before INIT is ignored.
    ipi(kv[0]!, 0x4608, 1);
    kvmApicAcceptEvents(ap);
    expect(ap.arch.mpState).toBe(KVM_MP_STATE_UNINITIALIZED);
    ipi(kv[0]!, 0x4500, 1);
    kvmApicAcceptEvents(ap);
    expect(ap.arch.mpState).toBe(KVM_MP_STATE_INIT_RECEIVED);
    // INIT level de-assert is not an INIT.
    ipi(kv[0]!, 0x8500, 1);
    expect(apic(ap).pendingEvents).toBe(0);
    ipi(kv[0]!, 0x4609, 1);
    kvmApicAcceptEvents(ap);
    expect(ap.arch.mpState).toBe(KVM_MP_STATE_RUNNABLE);
    const cs = kvm().ops.getSegment(ap, 1);
    expect([cs.selector, cs.base]).toEqual([0x900, 0x9000n]);
    // INIT to the BSP resets it but it stays RUNNABLE.
    ipi(kv[1]!, 0x4500, 0);
    kvmApicAcceptEvents(kv[0]!);
    expect(kv[0]!.arch.mpState).toBe(KVM_MP_STATE_RUNNABLE);
    expect(reg(kv[0]!, APIC_SPIV)).toBe(0xff); // the INIT reset the APIC too
  });
});

describe("the APIC timer", () => {
  it("one-shot: TMCCT counts down bus cycles / divider, expiry sets the LVTT vector once", () => {
    const { kv, clock } = enabled(1);
    const v = kv[0]!;
    write(v, APIC_LVTT, 0x33);
    write(v, APIC_TDCR, 0x1); // divide by 4
    write(v, APIC_TMICT, 1000); // 4000 ns
    clock.advance(1000n);
    expect(reg(v, APIC_TMCCT)).toBe(750);
    clock.advance(3000n);
    expect(kvmLapicCheckTimer(v)).toBe(true);
    expect(apic(v).timer.armed).toBe(false);
    expect(reg(v, APIC_TMCCT)).toBe(0);
  });

  it("periodic: re-arms every period; periods under 200 µs are slowed to 200 µs", () => {
    const { kv, clock } = enabled(1);
    const v = kv[0]!;
    write(v, APIC_LVTT, 0x2_0034);
    write(v, APIC_TDCR, 0xb);
    write(v, APIC_TMICT, 1000);
    expect(apic(v).timer.period).toBe(200_000n);
    clock.advance(200_000n);
    expect(kvmLapicCheckTimer(v)).toBe(true);
    expect(apic(v).timer.targetExpiration).toBe(400_000n);
  });

  it("a masked LVTT still expires but delivers nothing", () => {
    const { kv, clock } = enabled(1);
    const v = kv[0]!;
    write(v, APIC_LVTT, 0x1_0035);
    write(v, APIC_TMICT, 10);
    clock.advance(100n);
    expect(kvmLapicCheckTimer(v)).toBe(true);
    kvmInjectApicTimerIrqs(v);
    expect(irrHas(v, 0x35)).toBe(false);
  });

  it("TDCR changes scale the time left", () => {
    const { kv, clock } = enabled(1);
    const v = kv[0]!;
    write(v, APIC_LVTT, 0x36);
    write(v, APIC_TDCR, 0xb); // ÷1
    write(v, APIC_TMICT, 1000);
    clock.advance(500n);
    write(v, APIC_TDCR, 0x0); // ÷2: the 500 ns left become 1000
    expect(apic(v).timer.targetExpiration).toBe(1500n);
  });

  it("TSC-deadline mode: needs CPUID, ignores TMICT, is armed by MSR 0x6E0, reads back 0 after firing", () => {
    const vm = enabled(1);
    const v = vm.kv[0]!;
    // Without CPUID.1:ECX[24] the mode bits do not stick.
    write(v, APIC_LVTT, 0x4_0037);
    expect(reg(v, APIC_LVTT)).toBe(0x37);
    const cpuid = TOY_CPUID.map((e) => (e.function === 1 ? { ...e, ecx: e.ecx | (1 << 24) } : e));
    expect(vm.proc.ioctl(vm.vcpus[0]!, KVM_SET_CPUID2, encodeKvmCpuid2(cpuid))).toBe(0);
    write(v, APIC_LVTT, 0x4_0037);
    expect(reg(v, APIC_LVTT)).toBe(0x4_0037);
    write(v, APIC_TMICT, 1000);
    expect(reg(v, APIC_TMICT)).toBe(0);
    expect(kvmSetMsr(v, { hostInitiated: false, index: 0x6e0, data: 1000n })).toBe(0);
    const m = { hostInitiated: false, index: 0x6e0, data: 0n };
    expect(kvmGetMsr(v, m)).toBe(0);
    expect(m.data).toBe(1000n);
    vm.clock.advance(499n); // TSC 998
    expect(kvmLapicCheckTimer(v)).toBe(false);
    vm.clock.advance(1n);
    expect(kvmLapicCheckTimer(v)).toBe(true);
    // The run loop injects it (kvm_inject_pending_timer_irqs); here by hand.
    kvmInjectApicTimerIrqs(v);
    expect(irrHas(v, 0x37)).toBe(true);
    expect(kvmGetMsr(v, m)).toBe(0);
    expect(m.data).toBe(0n);
    // Leaving TSC-deadline mode clears the deadline and TMICT.
    write(v, APIC_LVTT, 0x37);
    expect(apic(v).timer.tscDeadline).toBe(0n);
  });
});

describe("x2APIC (IA32_APIC_BASE.EXTD, MSRs 0x800–0x8FF)", () => {
  function x2(n: number) {
    const vm = enabled(n);
    const cpuid = TOY_CPUID.map((e) => (e.function === 1 ? { ...e, ecx: e.ecx | (1 << 21) } : e));
    for (let i = 0; i < n; i++) {
      expect(vm.proc.ioctl(vm.vcpus[i]!, KVM_SET_CPUID2, encodeKvmCpuid2(cpuid))).toBe(0);
      const base = BigInt(vm.kv[i]!.arch.apicBase) | 0x400n;
      expect(kvmSetMsr(vm.kv[i]!, { hostInitiated: false, index: 0x1b, data: base })).toBe(0);
    }
    return vm;
  }
  const rdmsr = (v: KvmVcpu, index: number) => {
    const m = { hostInitiated: false, index, data: 0n };
    return kvmGetMsr(v, m) === 0 ? m.data : null;
  };
  const wrmsr = (v: KvmVcpu, index: number, data: bigint) =>
    kvmSetMsr(v, { hostInitiated: false, index, data });

  it("x2APIC MSRs #GP in xAPIC mode", () => {
    const { kv } = enabled(1);
    expect(rdmsr(kv[0]!, 0x802)).toBeNull();
  });

  it("ID is the vCPU id, LDR is derived (cluster << 16 | 1 << (id & 15)) and read-only", () => {
    const { kv } = x2(2);
    expect(rdmsr(kv[1]!, 0x802)).toBe(1n);
    expect(rdmsr(kv[1]!, 0x80d)).toBe(0x2n);
    expect(wrmsr(kv[1]!, 0x80d, 0n)).toBe(1);
    expect(rdmsr(kv[1]!, 0x803)).toBe(0x5_0014n);
    // DFR and ICR2 do not exist in x2APIC mode; upper bits of 32-bit registers #GP.
    expect(rdmsr(kv[1]!, 0x80e)).toBeNull();
    expect(rdmsr(kv[1]!, 0x831)).toBeNull();
    expect(wrmsr(kv[1]!, 0x808, 1n << 32n)).toBe(1);
  });

  it("ICR is one 64-bit MSR with a 32-bit destination; SELF_IPI sends to itself", () => {
    const { kv } = x2(2);
    expect(wrmsr(kv[0]!, 0x830, (1n << 32n) | 0x4055n)).toBe(0);
    expect(irrHas(kv[1]!, 0x55)).toBe(true);
    expect(rdmsr(kv[0]!, 0x830)).toBe((1n << 32n) | 0x4055n);
    expect(wrmsr(kv[0]!, 0x83f, 0x56n)).toBe(0);
    expect(irrHas(kv[0]!, 0x56)).toBe(true);
  });

  it("the xAPIC page reads as all ones in x2APIC mode", () => {
    const { kv } = x2(1);
    const buf = new Uint8Array(4);
    expect(kvmLapicMmioRead(kv[0]!, 0xfee0_0030, buf)).toBe(true);
    expect([...buf]).toEqual([0xff, 0xff, 0xff, 0xff]);
  });
});

describe("KVM_GET_LAPIC / KVM_SET_LAPIC", () => {
  it("the image is the register page with TMCCT computed; SET restarts the timer from it", () => {
    const vm = enabled(2);
    const v = vm.kv[0]!;
    write(v, APIC_LVTT, 0x38);
    write(v, APIC_TDCR, 0xb);
    write(v, APIC_TMICT, 1000);
    vm.clock.advance(400n);
    const img = new Uint8Array(1024);
    expect(vm.proc.ioctl(vm.vcpus[0]!, KVM_GET_LAPIC, img)).toBe(0);
    const dv = new DataView(img.buffer);
    expect(dv.getUint32(APIC_TMCCT, true)).toBe(600);
    expect(dv.getUint32(APIC_LVR, true)).toBe(0x5_0014);
    expect(dv.getUint32(APIC_SPIV, true)).toBe(0x1ff);
    // Load it into vCPU 1 (with its own ID): 600 ns left there too.
    dv.setUint32(APIC_ID, 1 << 24, true);
    expect(vm.proc.ioctl(vm.vcpus[1]!, KVM_SET_LAPIC, img)).toBe(0);
    const a1 = apic(vm.kv[1]!);
    expect(a1.timer.targetExpiration).toBe(1000n);
    expect(a1.getReg(APIC_TMCCT)).toBe(0);
    const back = new Uint8Array(1024);
    vm.proc.ioctl(vm.vcpus[1]!, KVM_GET_LAPIC, back);
    expect(new DataView(back.buffer).getUint32(APIC_LVTT, true)).toBe(0x38);
  });
});
