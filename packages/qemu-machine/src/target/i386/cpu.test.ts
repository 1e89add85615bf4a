import {
  globalProps,
  MODULE_INIT_QOM,
  moduleCallInit,
  objectGetRoot,
  objectNew,
  objectPropertyAddChild,
  objectPropertyAddNewContainer,
  objectPropertyGet,
  objectPropertyGetBool,
  objectPropertyGetStr,
  objectPropertySetBool,
  objectPropertySetUint,
  objectUnparent,
  objectUnref,
  QomError,
  setWarnReporter,
  TYPE_CONTAINER,
} from "@glassvm/qom";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { x86TopoInfoFromSmp } from "../../hw/i386/topology.js";
import {
  CPU_VERSION_AUTO,
  cpuForeach,
  featureWordDescription,
  parseCpuOption,
  R_CS,
  R_DS,
  UNASSIGNED_APIC_ID,
  type X86AccelCpuOps,
  type X86CPU,
  x86CpuCpuid,
  x86CpuFilterFeatures,
  x86CpuList,
  x86CpuParseFeaturestrReset,
  x86CpuResetHold,
  x86CpuSetAccel,
} from "./cpu.js";
import {
  FEAT_1_ECX,
  FEAT_1_EDX,
  FEAT_7_0_EBX,
  FEAT_8000_0001_EDX,
  FEAT_VMX_BASIC,
  FEAT_VMX_EPT_VPID_CAPS,
  FEAT_XSAVE,
  FEAT_XSAVE_XCR0_LO,
} from "./cpu-features.js";
import { kvmX86AccelCpuOpsFromTable } from "./kvm/kvm-cpu.js";

/** The seed's -cpu argument (design.md). */
const SEED =
  "SandyBridge,+erms,+smep,+fsgsbase,+pdpe1gb,+rdrand,+f16c,+osxsave,+dca,+pcid,+pdcm,+xtpr," +
  "+tm2,+est,+smx,+vmx,+ds_cpl,+monitor,+dtes64,+pbe,+tm,+ht,+ss,+acpi,+ds,+vme";

const warnings: string[] = [];
const created: X86CPU[] = [];

beforeAll(() => {
  moduleCallInit(MODULE_INIT_QOM);
  const machine = objectNew(TYPE_CONTAINER);
  objectPropertyAddChild(objectGetRoot(), "machine", machine);
  objectUnref(machine);
  objectPropertyAddNewContainer(machine, "unattached");
  setWarnReporter((m) => warnings.push(m));
});

beforeEach(() => {
  warnings.length = 0;
  globalProps().length = 0;
  x86CpuParseFeaturestrReset();
  x86CpuSetAccel(null);
});

afterEach(() => {
  for (const cpu of created.splice(0)) if (cpu.parent) objectUnparent(cpu);
  x86CpuSetAccel(null);
});

interface MakeOpts {
  readonly apicId?: number;
  readonly smp?: Parameters<typeof x86TopoInfoFromSmp>[0];
  readonly realize?: boolean;
}

/** parse_cpu_option, object_new, apic-id, topology (x86_cpu_pre_plug's part), realize. */
function makeCpu(option: string, opts: MakeOpts = {}): X86CPU {
  const r = parseCpuOption(option);
  if (!r.ok) throw r.error;
  const cpu = objectNew<X86CPU>(r.cpuType);
  objectPropertySetUint(cpu, "apic-id", opts.apicId ?? 0);
  if (opts.smp) cpu.env.topoInfo = x86TopoInfoFromSmp(opts.smp);
  if (opts.realize ?? true) {
    objectPropertySetBool(cpu, "realized", true);
    objectUnref(cpu); // owned by /machine/unattached now
    created.push(cpu);
  }
  return cpu;
}

const leaf = (cpu: X86CPU, index: number, count = 0) => {
  const r = x86CpuCpuid(cpu, index, count);
  return [r.eax, r.ebx, r.ecx, r.edx].map((v) => `0x${v.toString(16).padStart(8, "0")}`);
};

const err = (option: string): string => {
  const r = parseCpuOption(option);
  if (r.ok) throw new Error(`${option} parsed`);
  return r.error.message;
};

describe("-cpu parsing (parse_cpu_option, x86_cpu_parse_featurestr)", () => {
  it("reports QEMU's errors as values", () => {
    expect(err("")).toBe("-cpu option cannot be empty");
    expect(err("foo")).toBe("unable to find CPU model 'foo'");
    expect(err("foo,+vmx")).toBe("unable to find CPU model 'foo'");
    expect(err(",+vmx")).toBe("unable to find CPU model ''");
    // The abstract base type is not a model.
    expect(err("x86_64")).toBe("unable to find CPU model 'x86_64'");
    x86CpuParseFeaturestrReset();
    expect(err("qemu64,tsc-freq=fast")).toBe("bad numerical value fast");
  });

  it("resolves models, versions and aliases to their classes", () => {
    for (const [model, type] of [
      ["SandyBridge", "SandyBridge-x86_64-cpu"],
      ["SandyBridge-v2", "SandyBridge-v2-x86_64-cpu"],
      ["SandyBridge-IBRS", "SandyBridge-IBRS-x86_64-cpu"],
      ["Haswell-noTSX-IBRS", "Haswell-noTSX-IBRS-x86_64-cpu"],
      ["max", "max-x86_64-cpu"],
      ["qemu64", "qemu64-x86_64-cpu"],
    ] as const) {
      x86CpuParseFeaturestrReset();
      expect(parseCpuOption(model)).toEqual({ ok: true, cpuType: type });
    }
  });

  it("turns feat=val into a global property with _ → - and tsc-freq into tsc-frequency", () => {
    expect(parseCpuOption("SandyBridge,ds_cpl=on,x2apic=off,pmu,tsc-freq=2.5G").ok).toBe(true);
    expect(globalProps().map((g) => `${g.driver}.${g.property}=${g.value}`)).toEqual([
      "SandyBridge-x86_64-cpu.ds-cpl=on",
      "SandyBridge-x86_64-cpu.x2apic=off",
      "SandyBridge-x86_64-cpu.pmu=on",
      "SandyBridge-x86_64-cpu.tsc-frequency=2500000000",
    ]);
    const cpu = makeCpu("SandyBridge", { realize: false });
    expect(objectPropertyGetBool(cpu, "ds-cpl")).toBe(true);
    expect(objectPropertyGetBool(cpu, "x2apic")).toBe(false);
    expect(cpu.env.tscKhz).toBe(2_500_000);
    objectUnref(cpu);
  });

  it("is parsed once per process, like QEMU", () => {
    expect(parseCpuOption("SandyBridge,vmx=on").ok).toBe(true);
    expect(parseCpuOption("SandyBridge,smx=on").ok).toBe(true);
    expect(globalProps().map((g) => g.property)).toEqual(["vmx"]);
  });

  it("an unknown feat=on fails when the CPU is created", () => {
    expect(parseCpuOption("SandyBridge,foo=on").ok).toBe(true);
    let e: unknown;
    try {
      objectNew("SandyBridge-x86_64-cpu");
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(QomError);
    expect((e as QomError).message).toBe(
      "can't apply global SandyBridge-x86_64-cpu.foo=on: Property 'SandyBridge-x86_64-cpu.foo' not found",
    );
  });

  it("an unknown +feat fails at realize", () => {
    const cpu = makeCpu("SandyBridge,+foo", { realize: false });
    expect(() => objectPropertySetBool(cpu, "realized", true)).toThrow(
      "Property 'SandyBridge-x86_64-cpu.foo' not found",
    );
    expect(cpu.realized).toBe(false);
    objectUnref(cpu);
  });

  it("applies +feat before -feat, both after the globals, and warns about mixing", () => {
    // QEMU's qtest /x86/cpuid/parsing-plus-minus on a model with these bits.
    const cpu = makeCpu("SandyBridge,-fpu,+fpu,-mce,mce=on,+cx8,cx8=off,+sse4_1,sse4_2=on");
    expect(objectPropertyGetBool(cpu, "fpu")).toBe(false);
    expect(objectPropertyGetBool(cpu, "mce")).toBe(false);
    expect(objectPropertyGetBool(cpu, "cx8")).toBe(true);
    expect(objectPropertyGetBool(cpu, "sse4.1")).toBe(true);
    expect(objectPropertyGetBool(cpu, "sse4-1")).toBe(true);
    expect(objectPropertyGetBool(cpu, "sse4.2")).toBe(true);
    expect(objectPropertyGetBool(cpu, "sse4-2")).toBe(true);
    expect(warnings).toEqual([
      'Ambiguous CPU model string. Don\'t mix both "-mce" and "mce=on"',
      'Ambiguous CPU model string. Don\'t mix both "+cx8" and "cx8=off"',
      "Compatibility of ambiguous CPU model strings won't be kept on future QEMU versions",
    ]);
  });

  it("accepts every name of the seed's -cpu list, osxsave included (QEMU ≤ 2.8 behaviour)", () => {
    const cpu = makeCpu(SEED);
    for (const f of [
      "erms",
      "smep",
      "fsgsbase",
      "pdpe1gb",
      "ds-cpl",
      "ds_cpl",
      "vmx",
      "ht",
      "vme",
    ]) {
      expect(objectPropertyGetBool(cpu, f), f).toBe(true);
    }
    expect(objectPropertyGetBool(cpu, "osxsave")).toBe(true);
    // pdcm needs pmu=on: dropped silently.
    expect(objectPropertyGetBool(cpu, "pdcm")).toBe(false);
    expect(warnings).toEqual([]);
  });

  it("refuses a realize without apic-id", () => {
    const cpu = makeCpu("qemu64", { realize: false });
    objectPropertySetUint(cpu, "apic-id", UNASSIGNED_APIC_ID);
    expect(() => objectPropertySetBool(cpu, "realized", true)).toThrow(
      "apic-id property was not initialized properly",
    );
    objectUnref(cpu);
  });

  it("refuses feature changes after realize", () => {
    const cpu = makeCpu("qemu64");
    expect(() => objectPropertySetBool(cpu, "vmx", true)).toThrow(
      "Attempt to set property 'vmx' on anonymous device (type 'qemu64-x86_64-cpu') after it was realized",
    );
  });
});

describe("CPU models (x86_cpu_load_model)", () => {
  it("loads vendor, family/model/stepping, levels and model-id; versions stack props", () => {
    const sb = makeCpu("SandyBridge", { realize: false });
    expect(objectPropertyGetStr(sb, "vendor")).toBe("GenuineIntel");
    expect(objectPropertyGet(sb, "family")).toBe(6);
    expect(objectPropertyGet(sb, "model")).toBe(42);
    expect(objectPropertyGet(sb, "stepping")).toBe(1);
    expect(objectPropertyGetStr(sb, "model-id")).toBe("Intel Xeon E312xx (Sandy Bridge)");
    expect(objectPropertyGet(sb, "min-level")).toBe(0xd);
    expect(objectPropertyGet(sb, "min-xlevel")).toBe(0x8000_0008);
    expect(objectPropertyGetBool(sb, "hypervisor")).toBe(true);
    expect(objectPropertyGetBool(sb, "spec-ctrl")).toBe(false);
    objectUnref(sb);

    x86CpuParseFeaturestrReset();
    const ibrs = makeCpu("SandyBridge-IBRS", { realize: false });
    expect(objectPropertyGetBool(ibrs, "spec-ctrl")).toBe(true);
    expect(objectPropertyGetStr(ibrs, "model-id")).toBe(
      "Intel Xeon E312xx (Sandy Bridge, IBRS update)",
    );
    objectUnref(ibrs);

    x86CpuParseFeaturestrReset();
    const hsw = makeCpu("Haswell-v4", { realize: false });
    expect(objectPropertyGetBool(hsw, "hle")).toBe(false);
    expect(objectPropertyGetBool(hsw, "spec-ctrl")).toBe(true);
    expect(objectPropertyGet(hsw, "stepping")).toBe(1);
    objectUnref(hsw);

    x86CpuParseFeaturestrReset();
    const epyc = makeCpu("EPYC", { realize: false });
    expect(objectPropertyGetStr(epyc, "vendor")).toBe("AuthenticAMD");
    expect(objectPropertyGet(epyc, "family")).toBe(23);
    expect(epyc.env.cpuidVersion).toBe(0x0080_0f12);
    expect(objectPropertyGetBool(epyc, "legacy-cache")).toBe(false);
    objectUnref(epyc);
  });

  it("encodes CPUID.1:EAX from family/model/stepping (family > 15 uses the extended field)", () => {
    const q = makeCpu("qemu64", { realize: false });
    // family 15, model 107 (0x6b), stepping 1.
    expect(q.env.cpuidVersion).toBe(0x0006_0fb1);
    objectUnref(q);
  });

  it("qemu64 has P6+ without vme, kvm64 with it", () => {
    const q = makeCpu("qemu64", { realize: false });
    expect(Number(q.env.features[FEAT_1_EDX])).toBe(0x078b_fbfd);
    objectUnref(q);
    x86CpuParseFeaturestrReset();
    const k = makeCpu("kvm64", { realize: false });
    expect(Number(k.env.features[FEAT_1_EDX])).toBe(0x078b_fbff);
    objectUnref(k);
  });
});

describe("CPUID of the seed's CPU (cpu_x86_cpuid), nothing filtered", () => {
  // No accelerator: x86_cpu_get_supported_feature_word reports everything, so the leaves are
  // the model's words plus the listed flags. Expected values are assembled bit by bit from
  // the reference's tables (§5.4 bit numbers, §5.5 SandyBridge words):
  //  1.EDX = P6+ 078BFBFF | ds 21 | acpi 22 | ss 27 | ht 28 | tm 29 | pbe 31 = BFEBFBFF
  //  1.ECX = SandyBridge (pni pclmulqdq ssse3 cx16 sse4.1 sse4.2 x2apic popcnt tsc-deadline
  //          aes xsave avx) | hypervisor | dtes64 monitor ds-cpl vmx smx est tm2 xtpr pcid
  //          dca osxsave f16c rdrand (pdcm is dropped without a PMU) = FFBE63FF
  //  1.EAX = family 6, model 42 = 0x2a, stepping 1 → 000206A1
  //  7.0.EBX = fsgsbase 0 | smep 7 | erms 9 = 00000281
  //  80000001.EDX = syscall 11 | nx 20 | pdpe1gb 26 | rdtscp 27 | lm 29 = 2C100800
  it("-smp 1, APIC ID 0", () => {
    const cpu = makeCpu(SEED);
    const GenuineIntel = ["0x756e6547", "0x6c65746e", "0x49656e69"];
    expect(leaf(cpu, 0)).toEqual(["0x0000000d", GenuineIntel[0], GenuineIntel[1], GenuineIntel[2]]);
    expect(leaf(cpu, 1)).toEqual(["0x000206a1", "0x00000800", "0xffbe63ff", "0xbfebfbff"]);
    // Legacy caches: L1d 2C, L1i 30, L2 7D, L3 4D.
    expect(leaf(cpu, 2)).toEqual(["0x00000001", "0x00000000", "0x0000004d", "0x002c307d"]);
    expect(leaf(cpu, 4, 0)).toEqual(["0x00000121", "0x01c0003f", "0x0000003f", "0x00000001"]);
    expect(leaf(cpu, 4, 1)).toEqual(["0x00000122", "0x01c0003f", "0x0000003f", "0x00000001"]);
    expect(leaf(cpu, 4, 2)).toEqual(["0x00000143", "0x03c0003f", "0x00000fff", "0x00000001"]);
    expect(leaf(cpu, 4, 3)).toEqual(["0x00000163", "0x03c0003f", "0x00003fff", "0x00000006"]);
    expect(leaf(cpu, 4, 4)).toEqual(["0x00000000", "0x00000000", "0x00000000", "0x00000000"]);
    expect(leaf(cpu, 6)).toEqual(["0x00000004", "0x00000000", "0x00000000", "0x00000000"]);
    expect(leaf(cpu, 7)).toEqual(["0x00000000", "0x00000281", "0x00000000", "0x00000000"]);
    expect(leaf(cpu, 0xb, 0)).toEqual(["0x00000000", "0x00000001", "0x00000100", "0x00000000"]);
    expect(leaf(cpu, 0xb, 1)).toEqual(["0x00000000", "0x00000001", "0x00000201", "0x00000000"]);
    expect(leaf(cpu, 0xb, 2)).toEqual(["0x00000000", "0x00000000", "0x00000002", "0x00000000"]);
    // XSAVE: x87|SSE|AVX = 7; standard size 576 + 256 = 0x340; EBX follows XCR0 (x87 only).
    expect(leaf(cpu, 0xd, 0)).toEqual(["0x00000007", "0x00000240", "0x00000340", "0x00000000"]);
    expect(leaf(cpu, 0xd, 1)).toEqual(["0x00000001", "0x00000340", "0x00000000", "0x00000000"]);
    expect(leaf(cpu, 0xd, 2)).toEqual(["0x00000100", "0x00000240", "0x00000000", "0x00000000"]);
    expect(leaf(cpu, 0x8000_0000)).toEqual([
      "0x80000008",
      GenuineIntel[0],
      GenuineIntel[1],
      GenuineIntel[2],
    ]);
    expect(leaf(cpu, 0x8000_0001)).toEqual([
      "0x000206a1",
      "0x00000000",
      "0x00000001",
      "0x2c100800",
    ]);
    // "Intel Xeon E312xx (Sandy Bridge)" in 16-byte slices.
    expect(leaf(cpu, 0x8000_0002)).toEqual([
      "0x65746e49",
      "0x6558206c",
      "0x45206e6f",
      "0x78323133",
    ]);
    // 40 physical bits (TCG default), 48 virtual.
    expect(leaf(cpu, 0x8000_0008)).toEqual([
      "0x00003028",
      "0x00000000",
      "0x00000000",
      "0x00000000",
    ]);
    // Above xlevel: the highest basic leaf (0xd, subleaf kept).
    expect(leaf(cpu, 0x8000_0009)).toEqual(leaf(cpu, 0xd, 0));
    expect(leaf(cpu, 0x4000_0000)).toEqual([
      "0x00000000",
      "0x00000000",
      "0x00000000",
      "0x00000000",
    ]);
  });

  it("-smp 2 (two cores), APIC ID 1: logical count, cache sharing, topology leaves", () => {
    const cpu = makeCpu(SEED, { apicId: 1, smp: { cores: 2 } });
    expect(leaf(cpu, 1)[1]).toBe("0x01020800");
    expect(leaf(cpu, 4, 0)[0]).toBe("0x04000121");
    expect(leaf(cpu, 4, 3)[0]).toBe("0x04004163");
    expect(leaf(cpu, 0xb, 0)).toEqual(["0x00000000", "0x00000001", "0x00000100", "0x00000001"]);
    expect(leaf(cpu, 0xb, 1)).toEqual(["0x00000001", "0x00000002", "0x00000201", "0x00000001"]);
    expect(leaf(cpu, 0x8000_0008)[2]).toBe("0x00001001");
  });

  it("-smp 12,sockets=2,cores=3,threads=2: HT set for the package, leaf 0Bh widths", () => {
    const cpu = makeCpu("SandyBridge", { apicId: 13, smp: { cores: 3, threads: 2 } });
    expect(objectPropertyGetBool(cpu, "ht")).toBe(true);
    // 6 threads per package, initial APIC ID 13.
    expect(leaf(cpu, 1)[1]).toBe("0x0d060800");
    expect(leaf(cpu, 0xb, 0)).toEqual(["0x00000001", "0x00000002", "0x00000100", "0x0000000d"]);
    expect(leaf(cpu, 0xb, 1)).toEqual(["0x00000003", "0x00000006", "0x00000201", "0x0000000d"]);
  });
});

describe("reset state (x86_cpu_reset_hold)", () => {
  it("is the architectural power-on state", () => {
    const cpu = makeCpu("SandyBridge");
    x86CpuResetHold(cpu);
    const env = cpu.env;
    expect(env.cr[0]).toBe(0x6000_0010n);
    expect(env.eip).toBe(0xfff0n);
    expect(env.eflags).toBe(2);
    expect(env.segs[R_CS]).toEqual({
      selector: 0xf000,
      base: 0xffff_0000n,
      limit: 0xffff,
      flags: 0x9b00,
    });
    expect(env.segs[R_DS]).toEqual({ selector: 0, base: 0n, limit: 0xffff, flags: 0x9300 });
    expect(env.ldt.flags).toBe(0x8200);
    expect(env.tr.flags).toBe(0x8b00);
    expect(env.gdt).toEqual({ base: 0n, limit: 0xffff });
    expect(env.regs[2]).toBe(0x206a1n); // EDX = CPUID.1:EAX
    expect(env.dr[6]).toBe(0xffff_0ff0n);
    expect(env.dr[7]).toBe(0x400n);
    expect(env.efer).toBe(0n);
    expect(env.pat).toBe(0x0007_0406_0007_0406n);
    expect(env.mtrrDeftype).toBe(0n);
    expect(env.mxcsr).toBe(0x1f80);
    expect(env.fpuc).toBe(0x37f);
    expect(env.xcr0).toBe(1n);
  });
});

describe("filtering (x86_cpu_filter_features)", () => {
  /** KVM_GET_SUPPORTED_CPUID of a kvm_intel host without nested VMX (as data). */
  const HOST: readonly [number, number, number, number, number, number, number][] = [
    // function, index, flags, eax, ebx, ecx, edx
    [0, 0, 0, 0xd, 0x756e_6547, 0x6c65_746e, 0x4965_6e69],
    [1, 0, 0, 0x0002_06a7, 0x0000_0800, 0, 0x078b_fbff],
    [6, 0, 0, 0x4, 0, 0, 0],
    [7, 0, 1, 0, 0, 0, 0],
    [0xd, 0, 1, 0, 0, 0, 0],
    [0x8000_0000, 0, 0, 0x8000_0008, 0, 0, 0],
    [0x8000_0001, 0, 0, 0, 0, 0x1, 0x2810_0800],
    [0x8000_0008, 0, 0, 0x3024, 0, 0, 0],
    [0x4000_0000, 0, 0, 0x4000_0001, 0x4b4d_564b, 0x564b_4d56, 0x4d],
    [0x4000_0001, 0, 0, 0, 0, 0, 0],
  ];
  const table = HOST.map(([fn, index, flags, eax, ebx, ecx, edx]) => ({
    function: fn,
    index,
    flags,
    eax,
    ebx,
    ecx,
    edx,
  }));

  it("warns once per unsupported bit, in feature-word order, with QEMU's text", () => {
    x86CpuSetAccel(kvmX86AccelCpuOpsFromTable(table));
    const cpu = makeCpu(SEED);
    const p = "host doesn't support requested feature: ";
    const cpuidWarnings = warnings.filter((w) => w.startsWith(`${p}CPUID`));
    expect(cpuidWarnings).toEqual(
      [
        "CPUID[eax=01h].EDX.ds [bit 21]",
        "CPUID[eax=01h].EDX.acpi [bit 22]",
        "CPUID[eax=01h].EDX.ss [bit 27]",
        "CPUID[eax=01h].EDX.tm [bit 29]",
        "CPUID[eax=01h].EDX.pbe [bit 31]",
        ...[
          "pni [bit 0]",
          "pclmulqdq [bit 1]",
          "dtes64 [bit 2]",
          "monitor [bit 3]",
          "ds-cpl [bit 4]",
          "vmx [bit 5]",
          "smx [bit 6]",
          "est [bit 7]",
          "tm2 [bit 8]",
          "ssse3 [bit 9]",
          "cx16 [bit 13]",
          "xtpr [bit 14]",
          "pcid [bit 17]",
          "dca [bit 18]",
          "sse4.1 [bit 19]",
          "sse4.2 [bit 20]",
          "x2apic [bit 21]",
          "popcnt [bit 23]",
          "tsc-deadline [bit 24]",
          "aes [bit 25]",
          "xsave [bit 26]",
          "osxsave [bit 27]",
          "avx [bit 28]",
          "f16c [bit 29]",
          "rdrand [bit 30]",
        ].map((s) => `CPUID[eax=01h].ECX.${s}`),
        "CPUID[eax=07h,ecx=00h].EBX.fsgsbase [bit 0]",
        "CPUID[eax=07h,ecx=00h].EBX.smep [bit 7]",
        "CPUID[eax=07h,ecx=00h].EBX.erms [bit 9]",
        "CPUID[eax=80000001h].EDX.pdpe1gb [bit 26]",
        // KVM's paravirt defaults, which this host's leaf 0x40000001 does not offer.
        "CPUID[eax=40000001h].EAX.kvmclock [bit 0]",
        "CPUID[eax=40000001h].EAX.kvm-nopiodelay [bit 1]",
        "CPUID[eax=40000001h].EAX.kvmclock [bit 3]",
        "CPUID[eax=40000001h].EAX.kvm-asyncpf [bit 4]",
        "CPUID[eax=40000001h].EAX.kvm-steal-time [bit 5]",
        "CPUID[eax=40000001h].EAX.kvm-pv-eoi [bit 6]",
        "CPUID[eax=40000001h].EAX.kvmclock-stable-bit [bit 24]",
        "CPUID[eax=0Dh,ecx=01h].EAX.xsaveopt [bit 0]",
        // XCR0 components have no names of their own.
        "CPUID[eax=0Dh,ecx=00h].EAX [bit 0]",
        "CPUID[eax=0Dh,ecx=00h].EAX [bit 1]",
      ].map((w) => p + w),
    );
    // +vmx keeps the model's VMX capability words, which this host cannot back either.
    const msr = warnings.filter((w) => w.startsWith(`${p}MSR`));
    expect(msr).toContain(`${p}MSR(48Eh).vmx-hlt-exit [bit 7]`);
    expect(msr).toContain(`${p}MSR(480h).vmx-ins-outs [bit 54]`);
    expect(msr).toContain(`${p}MSR(48Ch) [bit 14]`);
    expect(warnings.length).toBe(cpuidWarnings.length + msr.length);

    // What is left is what the host offers.
    expect(leaf(cpu, 1).slice(2)).toEqual(["0x80000000", "0x178bfbff"]);
    expect(objectPropertyGet(cpu, "unavailable-features")).toContain("vmx");
    expect(cpu.filteredFeatures[FEAT_VMX_BASIC]).toBe((1n << 54n) | (1n << 55n));
    expect(cpu.filteredFeatures[FEAT_VMX_EPT_VPID_CAPS]! & (1n << 14n)).toBe(1n << 14n);
    // Vendor comes from the host under KVM.
    expect(objectPropertyGetStr(cpu, "vendor")).toBe("GenuineIntel");
  });

  it("with enforce, refuses to realize", () => {
    x86CpuSetAccel(kvmX86AccelCpuOpsFromTable(table));
    const cpu = makeCpu("SandyBridge,enforce=on", { realize: false });
    expect(() => objectPropertySetBool(cpu, "realized", true)).toThrow(
      "Host doesn't support requested features",
    );
    objectUnref(cpu);
  });

  it("check=off filters silently", () => {
    x86CpuSetAccel(kvmX86AccelCpuOpsFromTable(table));
    makeCpu("SandyBridge,check=off,+vmx");
    expect(warnings).toEqual([]);
  });

  it("TCG names itself and keeps what TCG implements", () => {
    const tcg: X86AccelCpuOps = {
      name: "tcg",
      usesHostCpuid: false,
      supportedFeatureWord: (w) => 0xffff_ffff_ffff_ffffn & ~(w === FEAT_1_ECX ? 1n << 5n : 0n),
      supportedCpuid: () => ({ eax: 0, ebx: 0, ecx: 0, edx: 0 }),
    };
    const cpu = makeCpu("SandyBridge", { realize: false });
    cpu.env.features[FEAT_1_ECX] = cpu.env.features[FEAT_1_ECX]! | (1n << 5n);
    expect(x86CpuFilterFeatures(cpu, true, tcg)).toBe(true);
    expect(warnings).toEqual([
      "TCG doesn't support requested feature: CPUID[eax=01h].ECX.vmx [bit 5]",
    ]);
    objectUnref(cpu);
  });

  it("describes feature words the 10.x way, or the 7.2 way", () => {
    expect(featureWordDescription(FEAT_1_ECX)).toBe("CPUID[eax=01h].ECX");
    expect(featureWordDescription(FEAT_7_0_EBX)).toBe("CPUID[eax=07h,ecx=00h].EBX");
    expect(featureWordDescription(FEAT_8000_0001_EDX)).toBe("CPUID[eax=80000001h].EDX");
    expect(featureWordDescription(FEAT_XSAVE)).toBe("CPUID[eax=0Dh,ecx=01h].EAX");
    expect(featureWordDescription(FEAT_XSAVE_XCR0_LO, "7.2")).toBe("CPUID.0DH:EAX");
    expect(featureWordDescription(FEAT_1_ECX, "7.2")).toBe("CPUID.01H:ECX");
    expect(featureWordDescription(FEAT_VMX_BASIC)).toBe("MSR(480h)");
  });
});

describe("-cpu help (x86_cpu_list)", () => {
  it("lists every model line and the flags, QEMU's layout", () => {
    const text = x86CpuList();
    const [models, flags] = text.split("\nRecognized CPUID flags:\n") as [string, string];
    const a = "(alias configured by machine type)";
    const row = (name: string, desc: string) => `  ${name.padEnd(20)}  ${desc}`;
    expect(models.split("\n")).toEqual([
      "Available CPUs:",
      row("Conroe", a),
      row("Conroe-v1", "Intel Celeron_4x0 (Conroe/Merom Class Core 2)"),
      row("EPYC", a),
      row("EPYC-IBPB", "(alias of EPYC-v2)"),
      row("EPYC-v1", "AMD EPYC Processor"),
      row("EPYC-v2", "AMD EPYC Processor (with IBPB)"),
      row("EPYC-v3", "AMD EPYC Processor"),
      row("EPYC-v4", "AMD EPYC-v4 Processor"),
      row("Haswell", a),
      row("Haswell-IBRS", "(alias of Haswell-v3)"),
      row("Haswell-noTSX", "(alias of Haswell-v2)"),
      row("Haswell-noTSX-IBRS", "(alias of Haswell-v4)"),
      row("Haswell-v1", "Intel Core Processor (Haswell)"),
      row("Haswell-v2", "Intel Core Processor (Haswell, no TSX)"),
      row("Haswell-v3", "Intel Core Processor (Haswell, IBRS)"),
      row("Haswell-v4", "Intel Core Processor (Haswell, no TSX, IBRS)"),
      row("IvyBridge", a),
      row("IvyBridge-IBRS", "(alias of IvyBridge-v2)"),
      row("IvyBridge-v1", "Intel Xeon E3-12xx v2 (Ivy Bridge)"),
      row("IvyBridge-v2", "Intel Xeon E3-12xx v2 (Ivy Bridge, IBRS)"),
      row("Nehalem", a),
      row("Nehalem-IBRS", "(alias of Nehalem-v2)"),
      row("Nehalem-v1", "Intel Core i7 9xx (Nehalem Class Core i7)"),
      row("Nehalem-v2", "Intel Core i7 9xx (Nehalem Core i7, IBRS update)"),
      row("Penryn", a),
      row("Penryn-v1", "Intel Core 2 Duo P9xxx (Penryn Class Core 2)"),
      row("SandyBridge", a),
      row("SandyBridge-IBRS", "(alias of SandyBridge-v2)"),
      row("SandyBridge-v1", "Intel Xeon E312xx (Sandy Bridge)"),
      row("SandyBridge-v2", "Intel Xeon E312xx (Sandy Bridge, IBRS update)"),
      row("Skylake-Client", a),
      row("Skylake-Client-IBRS", "(alias of Skylake-Client-v2)"),
      row("Skylake-Client-noTSX-IBRS", "(alias of Skylake-Client-v3)"),
      row("Skylake-Client-v1", "Intel Core Processor (Skylake)"),
      row("Skylake-Client-v2", "Intel Core Processor (Skylake, IBRS)"),
      row("Skylake-Client-v3", "Intel Core Processor (Skylake, IBRS, no TSX)"),
      row(
        "Skylake-Client-v4",
        "Intel Core Processor (Skylake, IBRS, no TSX) [IBRS, XSAVES, no TSX]",
      ),
      row("Westmere", a),
      row("Westmere-IBRS", "(alias of Westmere-v2)"),
      row("Westmere-v1", "Westmere E56xx/L56xx/X56xx (Nehalem-C)"),
      row("Westmere-v2", "Westmere E56xx/L56xx/X56xx (IBRS update)"),
      row("kvm64", a),
      row("kvm64-v1", "Common KVM processor"),
      row("qemu64", a),
      row("qemu64-v1", "QEMU Virtual CPU version 2.5+"),
      row("base", "base CPU model type with no features enabled"),
      row("host", "processor with all supported host features "),
      row("max", "Enables all features supported by the accelerator in the current host"),
      "",
    ]);
    const lines = flags.split("\n");
    expect(lines[0]).toBe(
      "  3dnow 3dnowext 3dnowprefetch abm ace2 ace2-en acpi adx aes amd-no-ssb",
    );
    expect(lines.slice(-2)).toEqual(["", ""]);
    for (const l of lines.slice(0, -2)) {
      expect(l.startsWith("  ")).toBe(true);
      expect(l.length).toBeLessThan(75 + 2);
    }
    const names = lines.join(" ").split(/\s+/).filter(Boolean);
    // Sorted with duplicates, as QEMU lists every named bit.
    expect(names).toEqual([...names].sort());
    expect(names.filter((n) => n === "kvmclock")).toHaveLength(2);
    expect(names).toContain("ds-cpl");
    expect(names).not.toContain("ds_cpl");
    expect(names).not.toContain("osxsave");
    expect(cpuForeach()).toHaveLength(0);
  });

  it("unversioned names are machine-resolved aliases", () => {
    expect(CPU_VERSION_AUTO).toBe(-2);
  });
});
