import { describe, expect, it } from "vitest";
import {
  exceptionVector,
  loadSegmentDirect,
  PM,
  protectedMode,
  realMode,
  stackDword,
} from "../../test/helpers.js";
import { recomputeSegment } from "../access.js";
import { type CpuidSource, EXIT_HLT, EXIT_HOOK, type X86Cpu } from "../cpu.js";
import { EV_EXCEPTION, HOOK_EXIT, HOOK_PASS } from "../hooks.js";
import {
  CS,
  DS,
  ECX,
  EDX,
  ES,
  ESP,
  FLAG_CF,
  FLAG_DF,
  FLAG_IF,
  FLAG_RF,
  FLAG_VM,
  FLAG_ZF,
  SS,
} from "../regs.js";
import { CPL, EIP } from "../state.js";
import {
  CPUID_FEATURE,
  MSR_IA32_SYSENTER_CS,
  MSR_IA32_SYSENTER_EIP,
  MSR_IA32_SYSENTER_ESP,
} from "./proc_ctrl.js";

const HLT = 0xf4;
const NOP = 0x90;
const SYSENTER = [0x0f, 0x34];
const SYSEXIT = [0x0f, 0x35];
/** Where the ring-0 SYSENTER target lives, and its stack. */
const KERNEL_ENTRY = 0x1_1000;
const KERNEL_STACK = 0xa000;

/** A CPUID table with SEP (CPUID.01H:EDX[11]) — the fixtures' default lacks it. */
const withSep: CpuidSource = (leaf, _sub, out) => {
  out.fill(0);
  if (leaf === 0) out[0] = 1;
  const [l, r, b] = CPUID_FEATURE.SEP;
  if (leaf === l) out[r] = 1 << b;
};

function sysenterMsrs(cpu: X86Cpu, cs: number): void {
  cpu.msrs.set(MSR_IA32_SYSENTER_CS, BigInt(cs));
  cpu.msrs.set(MSR_IA32_SYSENTER_ESP, BigInt(KERNEL_STACK));
  cpu.msrs.set(MSR_IA32_SYSENTER_EIP, BigInt(KERNEL_ENTRY));
}

/** Everything a segment register holds, for one comparison. */
function segment(cpu: X86Cpu, s: number) {
  return {
    sel: cpu.segSel[s],
    base: cpu.segBase[s]! >>> 0,
    limit: cpu.segLimit[s]! >>> 0,
    ar: cpu.segAr[s]!.toString(16),
    hi: cpu.segHi[s],
  };
}

/** SDM SYSENTER: type 11, S, DPL 0, P, D, G; base 0; limit FFFFFh pages. */
const RING0_CS = { base: 0, limit: 0xffff_ffff, ar: "c09b", hi: 0xffff_ffff };
/** SDM SYSENTER: type 3, S, DPL 0, P, B, G. */
const RING0_SS = { base: 0, limit: 0xffff_ffff, ar: "c093", hi: 0xffff_ffff };
/** SDM SYSEXIT: the same with DPL 3. */
const RING3_CS = { base: 0, limit: 0xffff_ffff, ar: "c0fb", hi: 0xffff_ffff };
const RING3_SS = { base: 0, limit: 0xffff_ffff, ar: "c0f3", hi: 0xffff_ffff };

/** Stop at the first exception (real mode has no IDT stubs): [vector, error code]. */
function catchFault(cpu: X86Cpu): () => readonly [number, number] | null {
  let seen: [number, number] | null = null;
  cpu.hooks = {
    onEvent: (c, kind) => {
      if (kind !== EV_EXCEPTION) return HOOK_PASS;
      seen = [c.exitInfo[1]!, c.exitInfo[2]!];
      return HOOK_EXIT;
    },
  };
  return () => seen;
}

/** After a fault at `eip` reached the fixture's stub: vector, error code, faulting EIP. */
function delivered(cpu: X86Cpu) {
  return { vector: exceptionVector(cpu), error: stackDword(cpu, 0), eip: stackDword(cpu, 4) };
}

describe("SYSENTER / SYSEXIT round trip", () => {
  // ring 3: mov ecx,esp; mov edx,ret; sysenter; ret: nop      ring 0 (KERNEL_ENTRY): sysexit
  const RET = PM.CODE + 9;
  const user = [0x89, 0xe1, 0xba, ...le32(RET), ...SYSENTER, NOP, HLT];

  it("mov ecx,esp; mov edx,ret; sysenter — ring 0 with flat CS 0x08 and SS 0x10 at SYSENTER_EIP", () => {
    const cpu = protectedMode(user, { ring: 3 });
    cpu.cpuid = withSep;
    sysenterMsrs(cpu, PM.CODE0);
    cpu.mem.load(KERNEL_ENTRY, SYSEXIT);
    cpu.step();
    cpu.step();
    cpu.step();
    expect(cpu.st[CPL]).toBe(0);
    expect(segment(cpu, CS)).toEqual({ sel: 0x08, ...RING0_CS });
    expect(segment(cpu, SS)).toEqual({ sel: 0x10, ...RING0_SS });
    expect(cpu.regs[ESP]).toBe(KERNEL_STACK);
    expect(cpu.st[EIP]).toBe(KERNEL_ENTRY);
    expect(cpu.tlbR).toBe(cpu.tlbRs);
    // DS and ES are not SYSENTER's: they keep the ring-3 caches.
    expect(cpu.segSel[DS]).toBe(PM.DATA3);
    expect(cpu.segSel[ES]).toBe(PM.DATA3);
  });

  it("sysexit from the sysenter target — ring 3 with flat CS 0x1B and SS 0x23, ESP = ECX, EIP = EDX", () => {
    const cpu = protectedMode(user, { ring: 3 });
    cpu.cpuid = withSep;
    sysenterMsrs(cpu, PM.CODE0);
    cpu.mem.load(KERNEL_ENTRY, SYSEXIT);
    for (let k = 0; k < 4; k++) cpu.step();
    expect(cpu.st[CPL]).toBe(3);
    expect(segment(cpu, CS)).toEqual({ sel: 0x1b, ...RING3_CS });
    expect(segment(cpu, SS)).toEqual({ sel: 0x23, ...RING3_SS });
    expect(cpu.regs[ESP]).toBe(PM.STACK3);
    expect(cpu.st[EIP]).toBe(RET);
    expect(cpu.tlbR).toBe(cpu.tlbRu);
    cpu.step(); // nop, at ring 3 after the return
    expect(cpu.st[EIP]).toBe(RET + 1);
  });

  it("sysenter with IA32_SYSENTER_CS = 0x47 takes CS 0x44, SS 0x4C; sysexit CS 0x57, SS 0x5F; no descriptor is read", () => {
    // 0x40–0x58 are empty GDT slots: the caches come from SYSENTER/SYSEXIT, not the GDT.
    const cpu = protectedMode(user, { ring: 3 });
    cpu.cpuid = withSep;
    sysenterMsrs(cpu, 0x47);
    cpu.mem.load(KERNEL_ENTRY, SYSEXIT);
    for (let k = 0; k < 3; k++) cpu.step();
    expect(segment(cpu, CS)).toEqual({ sel: 0x44, ...RING0_CS });
    expect(segment(cpu, SS)).toEqual({ sel: 0x4c, ...RING0_SS });
    cpu.step();
    expect(segment(cpu, CS)).toEqual({ sel: 0x57, ...RING3_CS });
    expect(segment(cpu, SS)).toEqual({ sel: 0x5f, ...RING3_SS });
  });

  it("wrmsr 0x174/0x175/0x176; mov ecx,esp3; mov edx,user; sysexit; (ring 3) sysenter; (ring 0) hlt", () => {
    const USER = PM.CODE + 0x100;
    // mov ecx,0x174; xor edx,edx; mov eax,8; wrmsr; mov ecx,0x175; mov eax,STACK; wrmsr;
    // mov ecx,0x176; mov eax,ENTRY; wrmsr; mov ecx,STACK3; mov edx,USER; sysexit
    const kernel = [
      ...[0xb9, ...le32(0x174), 0x31, 0xd2, 0xb8, ...le32(PM.CODE0), 0x0f, 0x30],
      ...[0xb9, ...le32(0x175), 0xb8, ...le32(KERNEL_STACK), 0x0f, 0x30],
      ...[0xb9, ...le32(0x176), 0xb8, ...le32(KERNEL_ENTRY), 0x0f, 0x30],
      ...[0xb9, ...le32(PM.STACK3), 0xba, ...le32(USER), ...SYSEXIT],
    ];
    const cpu = protectedMode(kernel);
    cpu.cpuid = withSep;
    cpu.mem.load(USER, [...SYSENTER, HLT]);
    cpu.mem.load(KERNEL_ENTRY, [HLT]);
    expect(cpu.run(100)).toBe(EXIT_HLT);
    expect(cpu.st[EIP]).toBe(KERNEL_ENTRY + 1);
    expect(cpu.st[CPL]).toBe(0);
    expect(cpu.regs[ESP]).toBe(KERNEL_STACK);
    expect(segment(cpu, CS)).toEqual({ sel: 0x08, ...RING0_CS });
  });

  it("sysexit from 16-bit ring-0 code (CS 0x30, SS 0x38, limit 0xFFFF) returns to flat 32-bit ring 3", () => {
    const cpu = protectedMode(SYSEXIT, { at: 0x4000 });
    cpu.cpuid = withSep;
    loadSegmentDirect(cpu, CS, PM.CODE16);
    loadSegmentDirect(cpu, SS, PM.DATA16);
    sysenterMsrs(cpu, PM.CODE0);
    cpu.regs[ECX] = PM.STACK3;
    cpu.regs[EDX] = 0x1_2345;
    cpu.step();
    expect(segment(cpu, CS)).toEqual({ sel: 0x1b, ...RING3_CS });
    expect(segment(cpu, SS)).toEqual({ sel: 0x23, ...RING3_SS });
    expect(cpu.st[EIP]).toBe(0x1_2345);
    expect(cpu.regs[ESP]).toBe(PM.STACK3);
  });

  it("66 sysexit returns to 32-bit code like sysexit (only REX.W selects a 64-bit return)", () => {
    const cpu = protectedMode([0x66, ...SYSEXIT]);
    cpu.cpuid = withSep;
    sysenterMsrs(cpu, PM.CODE0);
    cpu.regs[ECX] = PM.STACK3;
    cpu.regs[EDX] = 0x1_2345;
    cpu.step();
    expect(segment(cpu, CS)).toEqual({ sel: 0x1b, ...RING3_CS });
    expect(cpu.st[EIP]).toBe(0x1_2345);
  });
});

describe("SYSENTER / SYSEXIT and EFLAGS", () => {
  it("sysenter clears IF and RF and keeps DF, CF, ZF", () => {
    const cpu = protectedMode(SYSENTER, { ring: 3 });
    cpu.cpuid = withSep;
    sysenterMsrs(cpu, PM.CODE0);
    cpu.setEflags(FLAG_IF | FLAG_RF | FLAG_DF | FLAG_CF | FLAG_ZF);
    cpu.step();
    expect(cpu.st[EIP]).toBe(KERNEL_ENTRY);
    expect(cpu.getEflags()).toBe(2 | FLAG_DF | FLAG_CF | FLAG_ZF);
  });

  it("sysexit keeps EFLAGS (IF = 1 set by the kernel stays)", () => {
    const cpu = protectedMode(SYSEXIT);
    cpu.cpuid = withSep;
    sysenterMsrs(cpu, PM.CODE0);
    cpu.setEflags(FLAG_IF | FLAG_CF);
    cpu.regs[ECX] = PM.STACK3;
    cpu.regs[EDX] = PM.CODE;
    cpu.step();
    expect(cpu.st[CPL]).toBe(3);
    expect(cpu.getEflags()).toBe(2 | FLAG_IF | FLAG_CF);
  });

  it("sysenter in virtual-8086 mode clears VM and enters ring 0 with 32-bit flat CS", () => {
    const cpu = protectedMode([], { ring: 3 });
    cpu.cpuid = withSep;
    sysenterMsrs(cpu, PM.CODE0);
    // A VM86 task at 2000:0000 (linear 0x20000): real-mode-style caches, DPL 3, 16-bit.
    for (const s of [CS, SS, DS, ES]) {
      cpu.segSel[s] = 0x2000;
      cpu.segBase[s] = 0x2_0000;
      cpu.segLimit[s] = 0xffff;
      cpu.segAr[s] = 0xf3;
      recomputeSegment(cpu, s);
    }
    cpu.mem.load(0x2_0000, SYSENTER);
    cpu.st[EIP] = 0;
    cpu.setEflags(FLAG_VM | FLAG_IF);
    cpu.step();
    expect(cpu.getEflags() & (FLAG_VM | FLAG_IF)).toBe(0);
    expect(cpu.st[CPL]).toBe(0);
    expect(segment(cpu, CS)).toEqual({ sel: 0x08, ...RING0_CS });
    expect(segment(cpu, SS)).toEqual({ sel: 0x10, ...RING0_SS });
    expect(cpu.st[EIP]).toBe(KERNEL_ENTRY);
  });
});

describe("SYSENTER / SYSEXIT faults", () => {
  it("sysenter with IA32_SYSENTER_CS = 0 raises #GP(0) at the sysenter", () => {
    const cpu = protectedMode(SYSENTER, { ring: 3 });
    cpu.cpuid = withSep;
    cpu.run(10);
    expect(delivered(cpu)).toEqual({ vector: 13, error: 0, eip: PM.CODE });
  });

  it("sysenter with IA32_SYSENTER_CS = 3 (bits 15:2 zero) raises #GP(0)", () => {
    const cpu = protectedMode(SYSENTER, { ring: 3 });
    cpu.cpuid = withSep;
    sysenterMsrs(cpu, 3);
    cpu.run(10);
    expect(delivered(cpu)).toEqual({ vector: 13, error: 0, eip: PM.CODE });
  });

  it("sysenter with IA32_SYSENTER_CS = 4 (bits 15:2 nonzero) does not fault", () => {
    const cpu = protectedMode(SYSENTER, { ring: 3 });
    cpu.cpuid = withSep;
    sysenterMsrs(cpu, 4);
    cpu.step();
    expect(cpu.segSel[CS]).toBe(4);
    expect(cpu.st[EIP]).toBe(KERNEL_ENTRY);
  });

  it("sysenter in real mode raises #GP(0)", () => {
    const cpu = realMode([...SYSENTER, HLT]);
    cpu.cpuid = withSep;
    sysenterMsrs(cpu, PM.CODE0);
    const fault = catchFault(cpu);
    expect(cpu.run(10)).toBe(EXIT_HOOK);
    expect(fault()).toEqual([13, 0]);
    expect(cpu.st[EIP]).toBe(0x100);
  });

  it("sysexit at CPL 3 raises #GP(0)", () => {
    const cpu = protectedMode(SYSEXIT, { ring: 3 });
    cpu.cpuid = withSep;
    sysenterMsrs(cpu, PM.CODE0);
    cpu.run(10);
    expect(delivered(cpu)).toEqual({ vector: 13, error: 0, eip: PM.CODE });
  });

  it("sysexit at CPL 0 with IA32_SYSENTER_CS = 0 raises #GP(0)", () => {
    const cpu = protectedMode(SYSEXIT);
    cpu.cpuid = withSep;
    cpu.run(10);
    expect(delivered(cpu)).toEqual({ vector: 13, error: 0, eip: PM.CODE });
  });

  it("sysexit in real mode raises #GP(0)", () => {
    const cpu = realMode([...SYSEXIT, HLT]);
    cpu.cpuid = withSep;
    sysenterMsrs(cpu, PM.CODE0);
    const fault = catchFault(cpu);
    expect(cpu.run(10)).toBe(EXIT_HOOK);
    expect(fault()).toEqual([13, 0]);
  });

  it("sysenter without CPUID.01H:EDX.SEP raises #UD", () => {
    const cpu = protectedMode(SYSENTER, { ring: 3 });
    sysenterMsrs(cpu, PM.CODE0);
    cpu.run(10);
    expect(exceptionVector(cpu)).toBe(6);
  });

  it("sysexit without CPUID.01H:EDX.SEP raises #UD", () => {
    const cpu = protectedMode(SYSEXIT);
    sysenterMsrs(cpu, PM.CODE0);
    cpu.run(10);
    expect(exceptionVector(cpu)).toBe(6);
  });
});

function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}
