import { afterEach, describe, expect, it, vi } from "vitest";
import { protectedMode, realMode } from "../../test/helpers.js";
import { type CpuidSource, EXIT_HLT, EXIT_HOOK, type X86Cpu } from "../cpu.js";
import { EV_EXCEPTION, HOOK_EXIT, HOOK_PASS } from "../hooks.js";
import { EAX, EBX, ECX, EDX, FLAGS_ARITH, FS, GS } from "../regs.js";
import {
  CPUID_FEATURE,
  type CpuidFeature,
  MSR_EFER,
  MSR_IA32_APIC_BASE,
  MSR_IA32_BIOS_SIGN_ID,
  MSR_IA32_CSTAR,
  MSR_IA32_FEATURE_CONTROL,
  MSR_IA32_FMASK,
  MSR_IA32_FS_BASE,
  MSR_IA32_GS_BASE,
  MSR_IA32_KERNEL_GS_BASE,
  MSR_IA32_LSTAR,
  MSR_IA32_MISC_ENABLE,
  MSR_IA32_MTRR_DEF_TYPE,
  MSR_IA32_MTRR_FIX4K_C0000,
  MSR_IA32_MTRR_FIX16K_80000,
  MSR_IA32_MTRR_FIX16K_A0000,
  MSR_IA32_MTRR_FIX64K_00000,
  MSR_IA32_MTRR_PHYSBASE0,
  MSR_IA32_MTRRCAP,
  MSR_IA32_PAT,
  MSR_IA32_STAR,
  MSR_IA32_SYSENTER_CS,
  MSR_IA32_SYSENTER_EIP,
  MSR_IA32_SYSENTER_ESP,
  MSR_TSC_AUX,
} from "./proc_ctrl.js";

const HLT = 0xf4;
const RDMSR = [0x0f, 0x32];
const WRMSR = [0x0f, 0x30];
const F = CPUID_FEATURE;
/** Every feature an MSR here depends on. */
const ALL: readonly CpuidFeature[] = Object.values(F);

/** A CPUID table advertising exactly `features` (max leaves 7 and 8000_0001h). */
function cpuidWith(features: readonly CpuidFeature[]): CpuidSource {
  return (leaf, sub, out) => {
    out.fill(0);
    if (leaf === 0) out[0] = 7;
    if (leaf === (0x8000_0000 | 0)) out[0] = 0x8000_0001 | 0;
    for (const [l, r, b] of features) {
      if (l === leaf && (l !== 7 || sub === 0)) out[r] = out[r]! | (1 << b);
    }
  };
}

/** A real-mode (CPL 0) CPU running `code; hlt` with `features`, faults caught. */
function machine(code: readonly number[], features: readonly CpuidFeature[]) {
  const cpu = realMode([...code, HLT]);
  cpu.cpuid = cpuidWith(features);
  let fault: [number, number] | null = null;
  cpu.hooks = {
    onEvent: (c, kind) => {
      if (kind !== EV_EXCEPTION) return HOOK_PASS;
      fault = [c.exitInfo[1]!, c.exitInfo[2]!];
      return HOOK_EXIT;
    },
  };
  return { cpu, fault: () => fault };
}

const value = (cpu: X86Cpu) => (BigInt(cpu.regs[EDX]! >>> 0) << 32n) | BigInt(cpu.regs[EAX]! >>> 0);
const hex = (v: number | bigint) =>
  `0x${(typeof v === "number" ? v >>> 0 : v).toString(16).toUpperCase()}`;
/** "LM+PAT", for test names. */
const named = (features: readonly CpuidFeature[]) =>
  Object.entries(F)
    .filter(([, f]) => features.includes(f))
    .map(([n]) => n)
    .join("+") || "no CPUID feature";

/** rdmsr `msr`: its value, or "#GP(0)". */
function rdmsr(msr: number, features: readonly CpuidFeature[] = ALL): bigint | string {
  const { cpu, fault } = machine(RDMSR, features);
  cpu.regs[ECX] = msr;
  return run(cpu, fault);
}

/** wrmsr `msr` with `v`, then rdmsr it: the value read back, or "#GP(0)". */
function wrmsr(msr: number, v: bigint, features: readonly CpuidFeature[] = ALL): bigint | string {
  const { cpu, fault } = machine([...WRMSR, ...RDMSR], features);
  cpu.regs[ECX] = msr;
  cpu.regs[EDX] = Number(BigInt.asIntN(32, v >> 32n));
  cpu.regs[EAX] = Number(BigInt.asIntN(32, v));
  return run(cpu, fault);
}

function run(cpu: X86Cpu, fault: () => [number, number] | null): bigint | string {
  const why = cpu.run(10);
  const f = fault();
  if (f !== null) return f[0] === 13 && f[1] === 0 && why === EXIT_HOOK ? "#GP(0)" : `#${f}`;
  expect(why).toBe(EXIT_HLT);
  return value(cpu);
}

const FIX4K = Array.from({ length: 8 }, (_, k) => MSR_IA32_MTRR_FIX4K_C0000 + k);
const VARIABLE = Array.from({ length: 16 }, (_, k) => MSR_IA32_MTRR_PHYSBASE0 + k);
const FIXED = [
  MSR_IA32_MTRR_FIX64K_00000,
  MSR_IA32_MTRR_FIX16K_80000,
  MSR_IA32_MTRR_FIX16K_A0000,
  ...FIX4K,
];

describe("MSR reset values", () => {
  // [msr, name, features, value at reset]
  const RESET: [number, string, readonly CpuidFeature[], bigint][] = [
    [MSR_IA32_APIC_BASE, "IA32_APIC_BASE", [], 0xfee0_0900n],
    [MSR_IA32_FEATURE_CONTROL, "IA32_FEATURE_CONTROL", [F.VMX], 0x5n],
    [MSR_IA32_FEATURE_CONTROL, "IA32_FEATURE_CONTROL", [F.SMX], 0x1n],
    [MSR_IA32_BIOS_SIGN_ID, "IA32_BIOS_SIGN_ID", [], 0n],
    [MSR_IA32_MTRRCAP, "IA32_MTRRCAP", [F.MTRR], 0x508n],
    [MSR_IA32_SYSENTER_CS, "IA32_SYSENTER_CS", [], 0n],
    [MSR_IA32_SYSENTER_ESP, "IA32_SYSENTER_ESP", [], 0n],
    [MSR_IA32_SYSENTER_EIP, "IA32_SYSENTER_EIP", [], 0n],
    [MSR_IA32_MISC_ENABLE, "IA32_MISC_ENABLE", [], 0x1801n],
    [MSR_IA32_MISC_ENABLE, "IA32_MISC_ENABLE", [F.MONITOR], 0x4_1801n],
    [MSR_IA32_PAT, "IA32_PAT", [F.PAT], 0x0007_0406_0007_0406n],
    [MSR_IA32_MTRR_DEF_TYPE, "IA32_MTRR_DEF_TYPE", [F.MTRR], 0n],
    ...FIXED.map((m): [number, string, CpuidFeature[], bigint] => [m, "fixed MTRR", [F.MTRR], 0n]),
    ...VARIABLE.map((m): [number, string, CpuidFeature[], bigint] => [
      m,
      "variable MTRR",
      [F.MTRR],
      0n,
    ]),
    [MSR_EFER, "IA32_EFER", [F.LM], 0n],
    [MSR_IA32_STAR, "IA32_STAR", [F.LM], 0n],
    [MSR_IA32_LSTAR, "IA32_LSTAR", [F.LM], 0n],
    [MSR_IA32_CSTAR, "IA32_CSTAR", [F.LM], 0n],
    [MSR_IA32_FMASK, "IA32_FMASK", [F.LM], 0n],
    [MSR_IA32_FS_BASE, "IA32_FS_BASE", [F.LM], 0n],
    [MSR_IA32_GS_BASE, "IA32_GS_BASE", [F.LM], 0n],
    [MSR_IA32_KERNEL_GS_BASE, "IA32_KERNEL_GS_BASE", [F.LM], 0n],
    [MSR_TSC_AUX, "IA32_TSC_AUX", [F.RDTSCP], 0n],
  ];
  for (const [msr, name, features, v] of RESET) {
    it(`rdmsr ${hex(msr)} (${name}) with ${named(features)} reads ${hex(v)}`, () => {
      expect(rdmsr(msr, features)).toBe(v);
    });
  }
});

describe("MSRs exist only where CPUID says so", () => {
  // [msr, name, the features that each make it exist]
  const GATED: [number, string, readonly CpuidFeature[]][] = [
    [MSR_IA32_STAR, "IA32_STAR", [F.LM, F.SYSCALL]],
    [MSR_IA32_LSTAR, "IA32_LSTAR", [F.LM]],
    [MSR_IA32_CSTAR, "IA32_CSTAR", [F.LM]],
    [MSR_IA32_FMASK, "IA32_FMASK", [F.LM]],
    [MSR_IA32_FS_BASE, "IA32_FS_BASE", [F.LM]],
    [MSR_IA32_GS_BASE, "IA32_GS_BASE", [F.LM]],
    [MSR_IA32_KERNEL_GS_BASE, "IA32_KERNEL_GS_BASE", [F.LM]],
    [MSR_TSC_AUX, "IA32_TSC_AUX", [F.RDTSCP, F.RDPID]],
    [MSR_IA32_FEATURE_CONTROL, "IA32_FEATURE_CONTROL", [F.VMX, F.SMX, F.SGX, F.SGX_LC]],
    [MSR_IA32_MTRRCAP, "IA32_MTRRCAP", [F.MTRR]],
    [MSR_IA32_MTRR_DEF_TYPE, "IA32_MTRR_DEF_TYPE", [F.MTRR]],
    ...[...FIXED, ...VARIABLE].map((m): [number, string, CpuidFeature[]] => [m, "MTRR", [F.MTRR]]),
    [MSR_IA32_PAT, "IA32_PAT", [F.PAT]],
  ];
  for (const [msr, name, gates] of GATED) {
    it(`rdmsr ${hex(msr)} (${name}) raises #GP(0) unless ${gates.map((g) => named([g])).join(" or ")} is advertised`, () => {
      const others = ALL.filter((f) => !gates.includes(f));
      expect(rdmsr(msr, others)).toBe("#GP(0)");
      for (const g of gates) expect(rdmsr(msr, [g]), named([g])).toBeTypeOf("bigint");
    });
  }

  const ABSENT = [
    0x210, 0x24f, 0x251, 0x257, 0x25a, 0x267, 0x270, 0x2fe, 0xc000_0085, 0xc000_00ff, 0xc000_0104,
  ];
  for (const msr of ABSENT) {
    it(`rdmsr ${hex(msr)} (no such MSR) raises #GP(0) even with every CPUID feature`, () => {
      expect(rdmsr(msr | 0)).toBe("#GP(0)");
    });
  }

  const FAMILY = [
    MSR_IA32_APIC_BASE,
    MSR_IA32_SYSENTER_CS,
    MSR_IA32_MISC_ENABLE,
    MSR_IA32_BIOS_SIGN_ID,
  ];
  for (const msr of FAMILY) {
    it(`rdmsr ${hex(msr)} (architectural since a processor family) needs no CPUID feature`, () => {
      expect(rdmsr(msr, [])).toBeTypeOf("bigint");
    });
  }
});

describe("WRMSR rules", () => {
  // [assembly, msr, value written, features, value read back or "#GP(0)"]
  const GP = "#GP(0)";
  // biome-ignore format: one write per row
  const WRITES: [string, number, bigint, readonly CpuidFeature[], bigint | string][] = [
    // Canonical addresses (bits 63:47 equal; 63:56 with LA57).
    ["IA32_LSTAR = 0x00007FFF_FFFFFFFF", MSR_IA32_LSTAR, 0x7fff_ffff_ffffn, [F.LM], 0x7fff_ffff_ffffn],
    ["IA32_LSTAR = 0xFFFF8000_00000000", MSR_IA32_LSTAR, 0xffff_8000_0000_0000n, [F.LM], 0xffff_8000_0000_0000n],
    ["IA32_LSTAR = 0x00008000_00000000 (non-canonical)", MSR_IA32_LSTAR, 0x8000_0000_0000n, [F.LM], GP],
    ["IA32_LSTAR = 0xFFFE8000_00000000 (non-canonical)", MSR_IA32_LSTAR, 0xfffe_8000_0000_0000n, [F.LM], GP],
    ["IA32_LSTAR = 0x00FF0000_00000000 (canonical only with LA57)", MSR_IA32_LSTAR, 0xff_0000_0000_0000n, [F.LM], GP],
    ["IA32_LSTAR = 0x00FF0000_00000000 with LA57", MSR_IA32_LSTAR, 0xff_0000_0000_0000n, [F.LM, F.LA57], 0xff_0000_0000_0000n],
    ["IA32_LSTAR = 0x01000000_00000000 with LA57 (non-canonical)", MSR_IA32_LSTAR, 0x100_0000_0000_0000n, [F.LM, F.LA57], GP],
    ["IA32_CSTAR = 0x00008000_00000000 (non-canonical)", MSR_IA32_CSTAR, 0x8000_0000_0000n, [F.LM], GP],
    ["IA32_KERNEL_GS_BASE = 0xFFFF8880_00001000", MSR_IA32_KERNEL_GS_BASE, 0xffff_8880_0000_1000n, [F.LM], 0xffff_8880_0000_1000n],
    ["IA32_KERNEL_GS_BASE = 0x00008000_00000000 (non-canonical)", MSR_IA32_KERNEL_GS_BASE, 0x8000_0000_0000n, [F.LM], GP],
    ["IA32_FS_BASE = 0x00008000_00000000 (non-canonical)", MSR_IA32_FS_BASE, 0x8000_0000_0000n, [F.LM], GP],
    ["IA32_GS_BASE = 0x80000000_00000000 (non-canonical)", MSR_IA32_GS_BASE, 0x8000_0000_0000_0000n, [F.LM], GP],
    ["IA32_STAR = all ones (no reserved bits)", MSR_IA32_STAR, 0xffff_ffff_ffff_ffffn, [F.LM], 0xffff_ffff_ffff_ffffn],
    ["IA32_FMASK = 0xFFFFFFFF", MSR_IA32_FMASK, 0xffff_ffffn, [F.LM], 0xffff_ffffn],
    ["IA32_FMASK = 0x1_00000000 (bits 63:32 reserved)", MSR_IA32_FMASK, 0x1_0000_0000n, [F.LM], GP],
    ["IA32_TSC_AUX = 0xFFFFFFFF", MSR_TSC_AUX, 0xffff_ffffn, [F.RDTSCP], 0xffff_ffffn],
    ["IA32_TSC_AUX = 0x1_00000000 (bits 63:32 reserved)", MSR_TSC_AUX, 0x1_0000_0000n, [F.RDTSCP], GP],
    ["IA32_SYSENTER_CS = all ones", MSR_IA32_SYSENTER_CS, 0xffff_ffff_ffff_ffffn, [], 0xffff_ffff_ffff_ffffn],
    ["IA32_SYSENTER_ESP = 0x00008000_00000000 with LM (non-canonical)", MSR_IA32_SYSENTER_ESP, 0x8000_0000_0000n, [F.LM], GP],
    ["IA32_SYSENTER_EIP = 0xFFFFFFFF_80001000 with LM", MSR_IA32_SYSENTER_EIP, 0xffff_ffff_8000_1000n, [F.LM], 0xffff_ffff_8000_1000n],
    ["IA32_SYSENTER_EIP = 0x12345678_9ABCDEF0 without LM (32-bit: EDX dropped)", MSR_IA32_SYSENTER_EIP, 0x1234_5678_9abc_def0n, [], 0x9abc_def0n],
    // MTRRs.
    ["IA32_MTRRCAP (read-only)", MSR_IA32_MTRRCAP, 0x508n, [F.MTRR], GP],
    ["IA32_MTRR_DEF_TYPE = 0xC06 (E, FE, WB)", MSR_IA32_MTRR_DEF_TYPE, 0xc06n, [F.MTRR], 0xc06n],
    ["IA32_MTRR_DEF_TYPE = 0x801 (E, WC)", MSR_IA32_MTRR_DEF_TYPE, 0x801n, [F.MTRR], 0x801n],
    ["IA32_MTRR_DEF_TYPE = 0x1_00000C06 (bits 63:32 reserved)", MSR_IA32_MTRR_DEF_TYPE, 0x1_0000_0c06n, [F.MTRR], GP],
    ["IA32_MTRR_DEF_TYPE = 0x106 (bit 8 reserved)", MSR_IA32_MTRR_DEF_TYPE, 0x106n, [F.MTRR], GP],
    ["IA32_MTRR_DEF_TYPE = 0x1000 (bit 12 reserved)", MSR_IA32_MTRR_DEF_TYPE, 0x1000n, [F.MTRR], GP],
    ["IA32_MTRR_DEF_TYPE = 0x802 (type 2 reserved)", MSR_IA32_MTRR_DEF_TYPE, 0x802n, [F.MTRR], GP],
    ["IA32_MTRR_DEF_TYPE = 0x807 (type 7, UC-, is PAT-only)", MSR_IA32_MTRR_DEF_TYPE, 0x807n, [F.MTRR], GP],
    ["IA32_MTRR_FIX64K_00000 = UC WC WT WP WB WB WB WB", MSR_IA32_MTRR_FIX64K_00000, 0x0606_0606_0504_0100n, [F.MTRR], 0x0606_0606_0504_0100n],
    ["IA32_MTRR_FIX16K_80000 with a type 3 byte", MSR_IA32_MTRR_FIX16K_80000, 0x0306_0606_0606_0606n, [F.MTRR], GP],
    ["IA32_MTRR_FIX16K_A0000 with a type 8 byte", MSR_IA32_MTRR_FIX16K_A0000, 0x0000_0000_0000_0800n, [F.MTRR], GP],
    ["IA32_MTRR_FIX4K_C0000 with type 0x0E in the top byte", MSR_IA32_MTRR_FIX4K_C0000, 0x0e00_0000_0000_0000n, [F.MTRR], GP],
    ["IA32_MTRR_FIX4K_F8000 with a type 7 byte", MSR_IA32_MTRR_FIX4K_C0000 + 7, 0x0700_0000_0000_0000n, [F.MTRR], GP],
    ["IA32_MTRR_PHYSBASE0 = 0xF_FFFFF006", MSR_IA32_MTRR_PHYSBASE0, 0xf_ffff_f006n, [F.MTRR], 0xf_ffff_f006n],
    ["IA32_MTRR_PHYSBASE0 = 0x106 (bits 11:8 reserved)", MSR_IA32_MTRR_PHYSBASE0, 0x106n, [F.MTRR], GP],
    ["IA32_MTRR_PHYSBASE0 = 0x10_00000006 (above MAXPHYADDR 36)", MSR_IA32_MTRR_PHYSBASE0, 0x10_0000_0006n, [F.MTRR], GP],
    ["IA32_MTRR_PHYSBASE0 = 0x3 (type 3 reserved)", MSR_IA32_MTRR_PHYSBASE0, 0x3n, [F.MTRR], GP],
    ["IA32_MTRR_PHYSMASK7 = 0xF_FFFFF800 (valid)", MSR_IA32_MTRR_PHYSBASE0 + 15, 0xf_ffff_f800n, [F.MTRR], 0xf_ffff_f800n],
    ["IA32_MTRR_PHYSMASK7 = 0xF_FFFFFC00 (bit 10 reserved)", MSR_IA32_MTRR_PHYSBASE0 + 15, 0xf_ffff_fc00n, [F.MTRR], GP],
    ["IA32_MTRR_PHYSMASK7 = 0x1F_FFFFF800 (above MAXPHYADDR 36)", MSR_IA32_MTRR_PHYSBASE0 + 15, 0x1f_ffff_f800n, [F.MTRR], GP],
    // PAT.
    ["IA32_PAT = 0x07070707_07070707 (UC- everywhere)", MSR_IA32_PAT, 0x0707_0707_0707_0707n, [F.PAT], 0x0707_0707_0707_0707n],
    ["IA32_PAT with type 2 in PA0", MSR_IA32_PAT, 0x0007_0406_0007_0402n, [F.PAT], GP],
    ["IA32_PAT with type 3 in PA1", MSR_IA32_PAT, 0x0007_0406_0007_0306n, [F.PAT], GP],
    ["IA32_PAT with type 3 in PA7", MSR_IA32_PAT, 0x0307_0406_0007_0406n, [F.PAT], GP],
    ["IA32_PAT with bit 3 of PA4 set (reserved)", MSR_IA32_PAT, 0x0007_0406_0007_0406n | (8n << 32n), [F.PAT], GP],
    // APIC_BASE.
    ["IA32_APIC_BASE = 0xFEE00D00 (x2APIC from xAPIC)", MSR_IA32_APIC_BASE, 0xfee0_0d00n, [F.X2APIC], 0xfee0_0d00n],
    ["IA32_APIC_BASE = 0xFEE00D00 without x2APIC (bit 10 reserved)", MSR_IA32_APIC_BASE, 0xfee0_0d00n, [], GP],
    ["IA32_APIC_BASE = 0xFEE00500 (EXTD without EN)", MSR_IA32_APIC_BASE, 0xfee0_0500n, [F.X2APIC], GP],
    ["IA32_APIC_BASE = 0xFEE00B00 (bit 9 reserved)", MSR_IA32_APIC_BASE, 0xfee0_0b00n, [], GP],
    ["IA32_APIC_BASE = 0x10_FEE00900 (above MAXPHYADDR 36)", MSR_IA32_APIC_BASE, 0x10_fee0_0900n, [], GP],
    ["IA32_APIC_BASE = 0xFEE00100 (disabled)", MSR_IA32_APIC_BASE, 0xfee0_0100n, [], 0xfee0_0100n],
    // MISC_ENABLE: read-only and fixed bits keep their values, reserved bits #GP.
    ["IA32_MISC_ENABLE = 0 (fast strings off; BTS/PEBS unavailable stay)", MSR_IA32_MISC_ENABLE, 0n, [], 0x1800n],
    ["IA32_MISC_ENABLE = 0x801809 (TCC, xTPR disable)", MSR_IA32_MISC_ENABLE, 0x80_1809n, [], 0x80_1809n],
    ["IA32_MISC_ENABLE = 0x11801 (EIST without CPUID EIST: reserved)", MSR_IA32_MISC_ENABLE, 0x1_1801n, [], GP],
    ["IA32_MISC_ENABLE = 0x11801 with EIST", MSR_IA32_MISC_ENABLE, 0x1_1801n, [F.EIST], 0x1_1801n],
    ["IA32_MISC_ENABLE = 0x1803 (bit 1 reserved)", MSR_IA32_MISC_ENABLE, 0x1803n, [], GP],
    ["IA32_MISC_ENABLE = 0x401881 (Limit CPUID, perfmon: fixed here)", MSR_IA32_MISC_ENABLE, 0x40_1881n, [], 0x1801n],
    ["IA32_MISC_ENABLE = 0x1801 with MONITOR (ENABLE MONITOR FSM stays set)", MSR_IA32_MISC_ENABLE, 0x1801n, [F.MONITOR], 0x4_1801n],
    ["IA32_MISC_ENABLE bit 34 (XD disable) without NX: reserved", MSR_IA32_MISC_ENABLE, 0x4_0000_1801n, [], GP],
    ["IA32_MISC_ENABLE bit 34 (XD disable) with NX: stays 0 here", MSR_IA32_MISC_ENABLE, 0x4_0000_1801n, [F.NX], 0x1801n],
    ["IA32_MISC_ENABLE bit 32 (reserved)", MSR_IA32_MISC_ENABLE, 0x1_0000_1801n, [F.NX], GP],
    // FEATURE_CONTROL: locked.
    ["IA32_FEATURE_CONTROL = 5 (locked)", MSR_IA32_FEATURE_CONTROL, 5n, [F.VMX], GP],
    ["IA32_FEATURE_CONTROL = 0 (locked)", MSR_IA32_FEATURE_CONTROL, 0n, [F.VMX], GP],
    // BIOS_SIGN_ID: any value.
    ["IA32_BIOS_SIGN_ID = 0", MSR_IA32_BIOS_SIGN_ID, 0n, [], 0n],
  ];
  for (const [what, msr, v, features, expected] of WRITES) {
    const result = typeof expected === "string" ? "raises #GP(0)" : `reads ${hex(expected)}`;
    it(`wrmsr ${hex(msr)}: ${what}; rdmsr ${result}`, () => {
      expect(wrmsr(msr, v, features)).toBe(expected);
    });
  }

  it("wrmsr 0x3A (IA32_FEATURE_CONTROL) left unlocked by the embedder: 5 is taken, then locked", () => {
    const { cpu, fault } = machine([...WRMSR, ...RDMSR, ...WRMSR], [F.VMX]);
    cpu.msrs.set(MSR_IA32_FEATURE_CONTROL, 0n);
    cpu.regs[ECX] = MSR_IA32_FEATURE_CONTROL;
    cpu.regs[EAX] = 5;
    cpu.regs[EDX] = 0;
    expect(cpu.run(10)).toBe(EXIT_HOOK);
    expect(cpu.regs[EAX]).toBe(5); // the rdmsr
    expect(fault()).toEqual([13, 0]); // the second wrmsr
  });

  it("wrmsr 0x3A (IA32_FEATURE_CONTROL) unlocked: SENTER bits without SMX raise #GP(0)", () => {
    const { cpu, fault } = machine(WRMSR, [F.VMX]);
    cpu.msrs.set(MSR_IA32_FEATURE_CONTROL, 0n);
    cpu.regs[ECX] = MSR_IA32_FEATURE_CONTROL;
    cpu.regs[EAX] = 0x105;
    cpu.regs[EDX] = 0;
    cpu.run(10);
    expect(fault()).toEqual([13, 0]);
  });

  it("wrmsr 0x1B = 0xFEE00D00 (x2APIC); wrmsr 0x1B = 0xFEE00900 (straight back to xAPIC) raises #GP(0)", () => {
    const { cpu, fault } = machine(
      [...WRMSR, 0x66, 0xb8, 0x00, 0x09, 0xe0, 0xfe, ...WRMSR],
      [F.X2APIC],
    );
    cpu.regs[ECX] = MSR_IA32_APIC_BASE;
    cpu.regs[EAX] = 0xfee0_0d00 | 0;
    cpu.regs[EDX] = 0;
    cpu.run(10);
    expect(fault()).toEqual([13, 0]);
    expect(cpu.msrs.get(MSR_IA32_APIC_BASE)).toBe(0xfee0_0d00n);
  });

  it("wrmsr 0x1B = 0xFEE00D00 from the disabled state (x2APIC only from xAPIC) raises #GP(0)", () => {
    const { cpu, fault } = machine(WRMSR, [F.X2APIC]);
    cpu.msrs.set(MSR_IA32_APIC_BASE, 0xfee0_0100n);
    cpu.regs[ECX] = MSR_IA32_APIC_BASE;
    cpu.regs[EAX] = 0xfee0_0d00 | 0;
    cpu.regs[EDX] = 0;
    cpu.run(10);
    expect(fault()).toEqual([13, 0]);
  });
});

describe("IA32_FS_BASE / IA32_GS_BASE are the FS / GS base", () => {
  it("wrmsr 0xC0000100 = 0xFFFF8000_12345000 sets FS.base; rdmsr reads all 64 bits", () => {
    const { cpu } = machine([...WRMSR, ...RDMSR], [F.LM]);
    cpu.regs[ECX] = MSR_IA32_FS_BASE;
    cpu.regs[EDX] = 0xffff_8000 | 0;
    cpu.regs[EAX] = 0x1234_5000;
    cpu.run(10);
    expect(cpu.segBase[FS]).toBe(0x1234_5000);
    expect(value(cpu)).toBe(0xffff_8000_1234_5000n);
  });

  it("wrmsr 0xC0000100 = 0xFFFF8000_12345000; mov fs,bx; rdmsr reads the new 32-bit base", () => {
    const { cpu } = machine([...WRMSR, 0x8e, 0xe3, ...RDMSR], [F.LM]);
    cpu.regs[ECX] = MSR_IA32_FS_BASE;
    cpu.regs[EDX] = 0xffff_8000 | 0;
    cpu.regs[EAX] = 0x1234_5000;
    cpu.regs[EBX] = 0x1234;
    cpu.run(10);
    expect(cpu.segBase[FS]).toBe(0x1_2340);
    expect(value(cpu)).toBe(0x1_2340n);
  });

  it("wrmsr 0xC0000101 = 0x00007FFF_FFFFF000 sets GS.base, not FS.base", () => {
    const { cpu } = machine([...WRMSR, ...RDMSR], [F.LM]);
    cpu.regs[ECX] = MSR_IA32_GS_BASE;
    cpu.regs[EDX] = 0x7fff;
    cpu.regs[EAX] = 0xffff_f000 | 0;
    cpu.run(10);
    expect(cpu.segBase[GS]! >>> 0).toBe(0xffff_f000);
    expect(cpu.segBase[FS]).toBe(0);
    expect(value(cpu)).toBe(0x7fff_ffff_f000n);
  });

  it("mov gs,bx; rdmsr 0xC0000101 reads the base the segment load set", () => {
    const { cpu } = machine([0x8e, 0xeb, ...RDMSR], [F.LM]);
    cpu.regs[ECX] = MSR_IA32_GS_BASE;
    cpu.regs[EBX] = 0xb800;
    cpu.run(10);
    expect(value(cpu)).toBe(0xb_8000n);
  });

  it("wrmsr 0xC0000100 with a non-canonical value raises #GP(0) and leaves FS.base", () => {
    const { cpu, fault } = machine(WRMSR, [F.LM]);
    cpu.segBase[FS] = 0x4000;
    cpu.regs[ECX] = MSR_IA32_FS_BASE;
    cpu.regs[EDX] = 0x8000;
    cpu.regs[EAX] = 0x1000;
    cpu.run(10);
    expect(fault()).toEqual([13, 0]);
    expect(cpu.segBase[FS]).toBe(0x4000);
  });
});

describe("IA32_TSC_AUX and IA32_BIOS_SIGN_ID", () => {
  it("wrmsr 0xC0000103 = 0xDEADBEEF; rdtscp reads it into ECX", () => {
    const { cpu } = machine([...WRMSR, 0x0f, 0x01, 0xf9], [F.RDTSCP]);
    cpu.regs[ECX] = MSR_TSC_AUX;
    cpu.regs[EAX] = 0xdead_beef | 0;
    cpu.regs[EDX] = 0;
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(cpu.regs[ECX]! >>> 0).toBe(0xdead_beef);
  });

  it("wrmsr 0xC0000103 without RDTSCP or RDPID raises #GP(0)", () => {
    expect(wrmsr(MSR_TSC_AUX, 1n, [F.LM])).toBe("#GP(0)");
  });

  it("wrmsr 0x8B = 0x55_00000000; mov eax,1; cpuid; mov ecx,0x8B; rdmsr reads revision 0", () => {
    const code = [
      ...WRMSR,
      0x66,
      0xb8,
      1,
      0,
      0,
      0,
      0x0f,
      0xa2,
      0x66,
      0xb9,
      0x8b,
      0,
      0,
      0,
      ...RDMSR,
    ];
    const { cpu } = machine(code, []);
    cpu.regs[ECX] = MSR_IA32_BIOS_SIGN_ID;
    cpu.regs[EDX] = 0x55;
    cpu.regs[EAX] = 0;
    expect(cpu.run(10)).toBe(EXIT_HLT);
    expect(value(cpu)).toBe(0n);
  });

  it("wrmsr 0x8B = 0x55_00000000; rdmsr reads it back (no CPUID in between)", () => {
    expect(wrmsr(MSR_IA32_BIOS_SIGN_ID, 0x55_0000_0000n, [])).toBe(0x55_0000_0000n);
  });
});

describe("RDRAND", () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllGlobals();
  });

  /** Make crypto.getRandomValues produce `v`. */
  function randomIs(v: number): void {
    vi.spyOn(globalThis.crypto, "getRandomValues").mockImplementation(
      <T extends ArrayBufferView | null>(a: T): T => {
        (a as unknown as Uint32Array)[0] = v;
        return a;
      },
    );
  }

  it("rdrand eax (0f c7 f0) without CPUID.1:ECX.RDRAND raises #UD", () => {
    const { cpu, fault } = machine([0x66, 0x0f, 0xc7, 0xf0], []);
    cpu.run(10);
    expect(fault()).toEqual([6, -1]);
  });

  it("rdrand eax (0f c7 f0) sets EAX, CF = 1 and clears OF SF ZF AF PF", () => {
    randomIs(0x89ab_cdef);
    const cpu = protectedMode([0x0f, 0xc7, 0xf0, HLT]);
    cpu.cpuid = cpuidWith([F.RDRAND]);
    cpu.setEflags(2 | FLAGS_ARITH);
    cpu.run(10);
    expect(cpu.regs[EAX]! >>> 0).toBe(0x89ab_cdef);
    expect(cpu.getEflags() & FLAGS_ARITH).toBe(1);
  });

  it("rdrand cx (66 0f c7 f1) writes only CX", () => {
    randomIs(0x89ab_cdef);
    const cpu = protectedMode([0x66, 0x0f, 0xc7, 0xf1, HLT]);
    cpu.cpuid = cpuidWith([F.RDRAND]);
    cpu.regs[ECX] = 0x1111_2222;
    cpu.regs[EAX] = 0x3333_4444;
    cpu.run(10);
    expect(cpu.regs[ECX]! >>> 0).toBe(0x1111_cdef);
    expect(cpu.regs[EAX]).toBe(0x3333_4444);
  });

  it("rdrand bx (0f c7 f3) in real mode is 16-bit; 66 0f c7 f3 is rdrand ebx", () => {
    randomIs(0x89ab_cdef);
    const { cpu } = machine([0x0f, 0xc7, 0xf3], [F.RDRAND]);
    cpu.regs[EBX] = 0x5555_0000;
    cpu.run(10);
    expect(cpu.regs[EBX]! >>> 0).toBe(0x5555_cdef);
    const wide = machine([0x66, 0x0f, 0xc7, 0xf3], [F.RDRAND]).cpu;
    wide.run(10);
    expect(wide.regs[EBX]! >>> 0).toBe(0x89ab_cdef);
  });

  it("rdrand eax with no crypto global falls back to Math.random", () => {
    vi.stubGlobal("crypto", undefined);
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    const cpu = protectedMode([0x0f, 0xc7, 0xf0, HLT]);
    cpu.cpuid = cpuidWith([F.RDRAND]);
    cpu.run(10);
    expect(cpu.regs[EAX]! >>> 0).toBe(0x8000_0000);
  });

  it("rdrand eax twice gives different values (the real source)", () => {
    const cpu = protectedMode([0x0f, 0xc7, 0xf0, 0x0f, 0xc7, 0xf3, HLT]);
    cpu.cpuid = cpuidWith([F.RDRAND]);
    cpu.run(10);
    // 2^-32 chance of a false failure.
    expect(cpu.regs[EAX]).not.toBe(cpu.regs[EBX]);
  });
});
