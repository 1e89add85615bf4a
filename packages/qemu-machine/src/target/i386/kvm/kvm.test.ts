import {
  decodeKvmCpuid2,
  decodeKvmMsrs,
  E2BIG,
  EFAULT,
  encodeKvmCpuid2,
  encodeKvmMsrList,
  encodeKvmMsrs,
  type HostOs,
  type IoctlArg,
  KVM_CAP_GET_MSR_FEATURES,
  KVM_CHECK_EXTENSION,
  KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
  KVM_GET_MSR_FEATURE_INDEX_LIST,
  KVM_GET_MSR_INDEX_LIST,
  KVM_GET_MSRS,
  KVM_GET_SUPPORTED_CPUID,
  KVM_GET_TSC_KHZ,
  KVM_SET_CPUID2,
  KVM_SET_MSRS,
  type KvmCpuidEntry2,
  KvmError,
  type KvmMsrEntry,
  kvmCpuid2Nent,
  kvmMsrListNmsrs,
} from "@glassvm/kvm-kernel/uapi";
import {
  globalProps,
  MODULE_INIT_QOM,
  moduleCallInit,
  objectNew,
  objectPropertySetUint,
  objectUnref,
  setWarnReporter,
} from "@glassvm/qom";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  parseCpuOption,
  type X86CPU,
  x86CpuExpandFeatures,
  x86CpuParseFeaturestrReset,
  x86CpuSetAccel,
} from "../cpu.js";
import {
  MSR_IA32_ARCH_CAPABILITIES,
  MSR_IA32_UCODE_REV,
  MSR_IA32_VMX_TRUE_PINBASED_CTLS,
  R_EAX,
  R_ECX,
  R_EDX,
} from "../cpu-features.js";
import {
  KVM_CPUID_FEATURES,
  KVM_CPUID_SIGNATURE,
  kvmArchGetSupportedCpuid,
  kvmArchGetSupportedCpuidFromTable,
  kvmArchGetSupportedMsrFeature,
  kvmArchInitVcpu,
  kvmArchInitVcpuResult,
  kvmGetSupportedCpuidTable,
  kvmI386ResetCaches,
  kvmX86BuildCpuid,
} from "./kvm.js";

const entry = (fn: number, eax: number, ebx = 0, ecx = 0, edx = 0, index = 0, flags = 0) => ({
  function: fn,
  index,
  flags,
  eax,
  ebx,
  ecx,
  edx,
});

/** A supported-CPUID table of `n` entries. */
const tableOf = (n: number): KvmCpuidEntry2[] => [
  entry(0, 0xd, 0x756e_6547, 0x6c65_746e, 0x4965_6e69),
  entry(1, 0x206a7, 0x800, 0, 0x078b_fbff),
  ...Array.from({ length: n - 2 }, (_, i) => entry(0x8000_0000 + i, i === 0 ? 0x8000_0008 : 0)),
];

/** A HostOs answering the /dev/kvm ioctls the CPUID code makes, and recording them. */
function scriptedOs(
  table: KvmCpuidEntry2[],
  opts: {
    getCpuidError?: number;
    msrs?: number[];
    featureMsrs?: Map<number, bigint>;
    caps?: Map<number, number>;
  } = {},
) {
  const calls: { request: number; nent?: number }[] = [];
  const setCpuid: KvmCpuidEntry2[][] = [];
  const setMsrs: KvmMsrEntry[][] = [];
  const os: HostOs = {
    pid: 1,
    open: () => 3,
    close: () => 0,
    mmap: () => -EFAULT,
    munmap: () => 0,
    view: () => new Uint8Array(0),
    kill: () => 0,
    sigprocmask: () => 0,
    sigtimedwait: () => 0,
    timerSignal: () => 0,
    ioctl(_fd: number, request: number, arg?: IoctlArg): number {
      const buf = arg instanceof Uint8Array ? arg : new Uint8Array(0);
      switch (request) {
        case KVM_GET_SUPPORTED_CPUID: {
          const nent = kvmCpuid2Nent(buf);
          calls.push({ request, nent });
          if (opts.getCpuidError) return -opts.getCpuidError;
          if (nent < table.length) return -E2BIG;
          encodeKvmCpuid2(table, table.length, buf);
          return 0;
        }
        case KVM_CHECK_EXTENSION:
          return opts.caps?.get(Number(arg)) ?? 0;
        case KVM_GET_MSR_INDEX_LIST:
        case KVM_GET_MSR_FEATURE_INDEX_LIST: {
          const list =
            request === KVM_GET_MSR_INDEX_LIST
              ? (opts.msrs ?? [])
              : [...(opts.featureMsrs?.keys() ?? [])];
          const n = kvmMsrListNmsrs(buf);
          new DataView(buf.buffer, buf.byteOffset).setUint32(0, list.length, true);
          if (n < list.length) return -E2BIG;
          encodeKvmMsrList(list.length, list, buf);
          return 0;
        }
        case KVM_GET_MSRS: {
          const want = decodeKvmMsrs(buf);
          const out = want.map((e) => ({
            index: e.index,
            data: opts.featureMsrs?.get(e.index) ?? 0n,
          }));
          encodeKvmMsrs(out, buf);
          return out.length;
        }
        case KVM_SET_CPUID2:
          setCpuid.push(decodeKvmCpuid2(buf));
          return 0;
        case KVM_SET_MSRS: {
          const e = decodeKvmMsrs(buf);
          setMsrs.push(e);
          return e.length;
        }
        case KVM_GET_TSC_KHZ:
          return 2_000_000;
        default:
          return -25;
      }
    },
  };
  return { os, calls, setCpuid, setMsrs };
}

beforeAll(() => {
  moduleCallInit(MODULE_INIT_QOM);
  setWarnReporter(() => {});
});

beforeEach(() => {
  kvmI386ResetCaches();
  x86CpuSetAccel(null);
  x86CpuParseFeaturestrReset();
  globalProps().length = 0;
});

describe("KVM_GET_SUPPORTED_CPUID (get_supported_cpuid / try_get_cpuid)", () => {
  it("starts with room for 1 entry and doubles while the kernel says E2BIG", () => {
    const table = tableOf(10);
    const { os, calls } = scriptedOs(table);
    expect(kvmGetSupportedCpuidTable(os, 3)).toEqual(table);
    expect(calls.map((c) => c.nent)).toEqual([1, 2, 4, 8, 16]);
    // Cached afterwards.
    kvmGetSupportedCpuidTable(os, 3);
    expect(calls).toHaveLength(5);
  });

  it("treats an exactly full buffer as too small (the table may have been cut)", () => {
    const { os, calls } = scriptedOs(tableOf(8));
    expect(kvmGetSupportedCpuidTable(os, 3)).toHaveLength(8);
    expect(calls.map((c) => c.nent)).toEqual([1, 2, 4, 8, 16]);
  });

  it("fails with the errno of any other error", () => {
    const { os } = scriptedOs(tableOf(4), { getCpuidError: EFAULT });
    expect(() => kvmGetSupportedCpuidTable(os, 3)).toThrow(KvmError);
    expect(() => kvmGetSupportedCpuidTable(os, 3)).toThrow("KVM_GET_SUPPORTED_CPUID: Bad address");
  });
});

describe("kvm_arch_get_supported_cpuid fixups", () => {
  const table = [
    entry(1, 0x206a7, 0x800, (1 << 21) | (1 << 5), 0x078b_fbff),
    entry(7, 0, 0x281, 0, 1 << 29, 0, KVM_CPUID_FLAG_SIGNIFCANT_INDEX),
    entry(0x8000_0001, 0, 0, 1, 0x2810_0800),
    entry(KVM_CPUID_FEATURES, (1 << 7) | 1, 0, 0, 0),
  ];
  const get = (fn: number, idx: number, reg: 0 | 1 | 2 | 3, ctx = {}) =>
    kvmArchGetSupportedCpuidFromTable(table, fn, idx, reg, ctx) >>> 0;

  it("1.EDX gains MTRR/PAT/MCE/MCA and HT; 1.ECX the hypervisor bit", () => {
    expect(get(1, 0, R_EDX)).toBe((0x078b_fbff | (1 << 28)) >>> 0);
    expect(get(1, 0, R_ECX) >>> 31).toBe(1);
  });
  it("TSC deadline needs the capability and an in-kernel irqchip; x2apic needs the irqchip", () => {
    const caps = (c: number) => (c === 72 ? 1 : 0);
    expect(get(1, 0, R_ECX, { checkExtension: caps }) & (1 << 24)).not.toBe(0);
    expect(get(1, 0, R_ECX, { checkExtension: caps, irqchipInKernel: false }) & (1 << 24)).toBe(0);
    expect(get(1, 0, R_ECX, { irqchipInKernel: false }) & (1 << 21)).toBe(0);
    expect(get(1, 0, R_ECX) & (1 << 21)).not.toBe(0);
  });
  it("8000_0001.EDX copies the AMD alias bits of 1.EDX; ECX always offers TOPOEXT", () => {
    expect(get(0x8000_0001, 0, R_EDX)).toBe((0x2810_0800 | (0x078b_fbff & 0x0183_f3ff)) >>> 0);
    expect(get(0x8000_0001, 0, R_ECX)).toBe((1 | (1 << 22)) >>> 0);
  });
  it("ARCH_CAPABILITIES only when KVM lists the MSR; ARAT always", () => {
    expect(get(7, 0, R_EDX)).toBe(0);
    expect(get(7, 0, R_EDX, { hasMsrArchCapabs: true })).toBe(1 << 29);
    expect(get(6, 0, R_EAX)).toBe(4);
  });
  it("the KVM leaf: PV unhalt needs the in-kernel irqchip, split adds MSI ext dest id", () => {
    expect(get(KVM_CPUID_FEATURES, 0, R_EAX)).toBe((1 << 7) | 1);
    expect(get(KVM_CPUID_FEATURES, 0, R_EAX, { irqchipInKernel: false })).toBe(1);
    expect(get(KVM_CPUID_FEATURES, 0, R_EAX, { irqchipSplit: true })).toBe(
      (1 << 7) | 1 | (1 << 15),
    );
    expect(get(KVM_CPUID_FEATURES, 0, R_EDX)).toBe(1);
  });
  it("reads through /dev/kvm with kvm_arch_get_supported_cpuid", () => {
    const { os } = scriptedOs(table, { msrs: [MSR_IA32_ARCH_CAPABILITIES] });
    expect(kvmArchGetSupportedCpuid(os, 3, 7, 0, R_EDX)).toBe(1 << 29);
  });
});

describe("kvm_arch_get_supported_msr_feature", () => {
  it("VMX controls report 'may be 1, need not be'; others as read; absent → 0", () => {
    const featureMsrs = new Map([
      [MSR_IA32_VMX_TRUE_PINBASED_CTLS, (0xffn << 32n) | 0x16n],
      [MSR_IA32_UCODE_REV, 0x1_0000_0000n],
    ]);
    const { os } = scriptedOs(tableOf(2), {
      featureMsrs,
      caps: new Map([[KVM_CAP_GET_MSR_FEATURES, 1]]),
    });
    expect(kvmArchGetSupportedMsrFeature(os, 3, MSR_IA32_VMX_TRUE_PINBASED_CTLS)).toBe(0xe9n);
    expect(kvmArchGetSupportedMsrFeature(os, 3, MSR_IA32_UCODE_REV)).toBe(0x1_0000_0000n);
    expect(kvmArchGetSupportedMsrFeature(os, 3, 0x480)).toBe(0n);
  });
});

function seedCpu(option = "SandyBridge"): X86CPU {
  const r = parseCpuOption(option);
  if (!r.ok) throw r.error;
  const cpu = objectNew<X86CPU>(r.cpuType);
  objectPropertySetUint(cpu, "apic-id", 0);
  x86CpuExpandFeatures(cpu);
  cpu.legacyCache = true;
  return cpu;
}

describe("kvm_x86_build_cpuid", () => {
  it("walks 0…level and 0x80000000…xlevel, subleaves flagged, zero leaves dropped", () => {
    const cpu = seedCpu();
    // Caches as realize would set them (legacy tables).
    cpu.env.cacheInfoCpuid2 = null;
    const entries = kvmX86BuildCpuid(cpu);
    const keys = entries.map((e) => `${e.function.toString(16)}.${e.index}`);
    expect(keys).toEqual([
      "0.0",
      "1.0",
      // No cache tables before realize: leaf 2 (always sent) is empty, 4 ends at subleaf 0.
      "2.0",
      "4.0",
      "6.0",
      "7.0",
      "b.0",
      "b.1",
      "b.2",
      "d.0",
      "d.1",
      "d.2",
      "80000000.0",
      "80000001.0",
      "80000002.0",
      "80000003.0",
      // The 32-byte model-id leaves 0x80000004 all zero: left out.
      "80000005.0",
      "80000006.0",
      "80000008.0",
    ]);
    const flagged = entries.filter((e) => e.flags === KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
    expect(flagged.map((e) => e.function)).toEqual([4, 7, 0xb, 0xb, 0xb, 0xd, 0xd, 0xd]);
    objectUnref(cpu);
  });
});

describe("kvm_arch_init_vcpu (CPUID and MSRs)", () => {
  it("puts the KVM leaves first, sends KVM_SET_CPUID2, then the initial KVM_SET_MSRS", () => {
    const { os, setCpuid, setMsrs } = scriptedOs(tableOf(4), {
      msrs: [MSR_IA32_ARCH_CAPABILITIES, MSR_IA32_UCODE_REV],
    });
    const cpu = seedCpu();
    cpu.ucodeRev = 0x1_0000_0000n;
    expect(kvmArchInitVcpu(os, 4, cpu, { kvmFd: 3 })).toBe(0);
    expect(setCpuid).toHaveLength(1);
    const sent = setCpuid[0]!;
    expect(sent[0]).toEqual(
      entry(KVM_CPUID_SIGNATURE, KVM_CPUID_FEATURES, 0x4b4d_564b, 0x564b_4d56, 0x4d),
    );
    expect(sent[1]!.function).toBe(KVM_CPUID_FEATURES);
    expect(sent).toEqual(kvmArchInitVcpuResult(cpu)!.cpuid);
    expect(setMsrs).toEqual([
      [
        { index: MSR_IA32_ARCH_CAPABILITIES, data: 0n },
        { index: MSR_IA32_UCODE_REV, data: 0x1_0000_0000n },
      ],
    ]);
    // KVM's TSC frequency is remembered (KVM_GET_TSC_KHZ with KVM_CAP_GET_TSC_KHZ only).
    expect(cpu.env.tscKhz).toBe(0);
    objectUnref(cpu);
  });

  it("kvm=off hides the KVM leaves", () => {
    const { os, setCpuid } = scriptedOs(tableOf(4));
    const cpu = seedCpu("SandyBridge,kvm=off");
    expect(kvmArchInitVcpu(os, 4, cpu, { kvmFd: 3 })).toBe(0);
    expect(setCpuid[0]!.some((e) => e.function === KVM_CPUID_SIGNATURE)).toBe(false);
    objectUnref(cpu);
  });
});
