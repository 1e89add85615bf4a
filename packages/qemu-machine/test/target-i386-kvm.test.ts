/**
 * The x86 CPU on the glassvm host kernel: kvm_intel loaded (no nested VMX), a `qemu`
 * process with /dev/kvm open, the seed's -cpu line filtered against what that kernel
 * reports, and the resulting CPUID handed to a real vCPU with KVM_SET_CPUID2.
 */
import { HostKernel, kvmModule } from "@glassvm/kvm-kernel";
import {
  decodeKvmCpuid2,
  encodeKvmCpuid2,
  type HostOs,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_GET_CPUID2,
  KVM_GET_SUPPORTED_CPUID,
  kvmCpuid2Nent,
  O_RDWR,
} from "@glassvm/kvm-kernel/uapi";
import {
  globalProps,
  MODULE_INIT_QOM,
  moduleCallInit,
  objectGetRoot,
  objectNew,
  objectPropertyAddChild,
  objectPropertyAddNewContainer,
  objectPropertyGetBool,
  objectPropertyGetStr,
  objectPropertySetBool,
  objectPropertySetUint,
  objectUnparent,
  objectUnref,
  setWarnReporter,
  TYPE_CONTAINER,
} from "@glassvm/qom";
import { kvmIntelModule } from "@glassvm/vmx";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  parseCpuOption,
  type X86CPU,
  x86CpuCpuid,
  x86CpuParseFeaturestrReset,
  x86CpuSetAccel,
} from "../src/target/i386/cpu.js";
import { R_ECX, R_EDX } from "../src/target/i386/cpu-features.js";
import { hostCpuSetCpuid } from "../src/target/i386/host-cpu.js";
import {
  kvmArchGetSupportedCpuid,
  kvmArchInitVcpu,
  kvmArchInitVcpuResult,
  kvmI386ResetCaches,
} from "../src/target/i386/kvm/kvm.js";
import { kvmX86AccelCpuOps } from "../src/target/i386/kvm/kvm-cpu.js";

const SEED =
  "SandyBridge,+erms,+smep,+fsgsbase,+pdpe1gb,+rdrand,+f16c,+osxsave,+dca,+pcid,+pdcm,+xtpr," +
  "+tm2,+est,+smx,+vmx,+ds_cpl,+monitor,+dtes64,+pbe,+tm,+ht,+ss,+acpi,+ds,+vme";
const PREFIX = "host doesn't support requested feature: ";

const warnings: string[] = [];
let os: HostOs;
let kvmFd: number;
let getSupportedCalls: number[];
const cpus: X86CPU[] = [];

beforeAll(() => {
  moduleCallInit(MODULE_INIT_QOM);
  const machine = objectNew(TYPE_CONTAINER);
  objectPropertyAddChild(objectGetRoot(), "machine", machine);
  objectUnref(machine);
  objectPropertyAddNewContainer(machine, "unattached");
  setWarnReporter((m) => warnings.push(m));
});

beforeEach(() => {
  const kernel = new HostKernel();
  expect(kernel.loadModule(kvmModule(kvmIntelModule(kernel)))).toBe(0);
  const proc = kernel.spawn("qemu");
  // Count the sizes QEMU tries for KVM_GET_SUPPORTED_CPUID.
  getSupportedCalls = [];
  os = new Proxy(proc, {
    get(target, key, receiver) {
      if (key === "ioctl") {
        return (fd: number, request: number, arg?: Uint8Array | number | bigint) => {
          if (request === KVM_GET_SUPPORTED_CPUID && arg instanceof Uint8Array) {
            getSupportedCalls.push(kvmCpuid2Nent(arg));
          }
          return target.ioctl(fd, request, arg);
        };
      }
      const v = Reflect.get(target, key, receiver);
      return typeof v === "function" ? v.bind(target) : v;
    },
  }) as HostOs;
  kvmFd = os.open("/dev/kvm", O_RDWR);
  expect(kvmFd).toBeGreaterThanOrEqual(0);
  kvmI386ResetCaches();
  hostCpuSetCpuid(null);
  x86CpuSetAccel(kvmX86AccelCpuOps({ os, kvmFd }));
  warnings.length = 0;
  globalProps().length = 0;
  x86CpuParseFeaturestrReset();
});

afterEach(() => {
  for (const cpu of cpus.splice(0)) objectUnparent(cpu);
  x86CpuSetAccel(null);
  hostCpuSetCpuid(null);
});

function realize(option: string, apicId = 0): X86CPU {
  const r = parseCpuOption(option);
  if (!r.ok) throw r.error;
  const cpu = objectNew<X86CPU>(r.cpuType);
  objectPropertySetUint(cpu, "apic-id", apicId);
  objectPropertySetBool(cpu, "realized", true);
  objectUnref(cpu);
  cpus.push(cpu);
  return cpu;
}

describe("SandyBridge with the seed's flags on kvm_intel (nested=0)", () => {
  it("reads KVM_GET_SUPPORTED_CPUID growing the buffer on E2BIG", () => {
    const ecx = kvmArchGetSupportedCpuid(os, kvmFd, 1, 0, R_ECX);
    expect(ecx >>> 31).toBe(1); // hypervisor, QEMU's fixup
    expect(ecx & (1 << 5)).toBe(0); // no VMX without nested
    expect(kvmArchGetSupportedCpuid(os, kvmFd, 1, 0, R_EDX) & (1 << 28)).not.toBe(0); // HT fixup
    // 8 vendor leaves + KVM's 2: 1, 2, 4, 8 are too small.
    expect(getSupportedCalls).toEqual([1, 2, 4, 8, 16]);
  });

  it("warns that the host doesn't support vmx (and the rest QEMU would name)", () => {
    const cpu = realize(SEED);
    expect(warnings).toContain(`${PREFIX}CPUID[eax=01h].ECX.vmx [bit 5]`);
    expect(warnings).toContain(`${PREFIX}CPUID[eax=01h].ECX.osxsave [bit 27]`);
    expect(warnings).toContain(`${PREFIX}CPUID[eax=01h].ECX.ds-cpl [bit 4]`);
    expect(warnings).toContain(`${PREFIX}CPUID[eax=01h].ECX.dca [bit 18]`);
    expect(warnings).toContain(`${PREFIX}CPUID[eax=01h].EDX.acpi [bit 22]`);
    expect(warnings).toContain(`${PREFIX}MSR(480h).vmx-ins-outs [bit 54]`);
    for (const w of warnings) expect(w.startsWith(PREFIX)).toBe(true);
    // Supported requests pass silently: ht (QEMU's fixup), vme, rdtscp, lm.
    for (const f of ["ht", "vme", "rdtscp", "lm", "nx", "arat"]) {
      expect(objectPropertyGetBool(cpu, f), f).toBe(true);
      expect(
        warnings.some((w) => w.includes(`.${f} [`)),
        f,
      ).toBe(false);
    }
    expect(objectPropertyGetBool(cpu, "vmx")).toBe(false);
    expect(objectPropertyGetStr(cpu, "vendor")).toBe("GenuineIntel");
  });

  it("KVM_SET_CPUID2 accepts the table kvm_arch_init_vcpu builds", () => {
    const cpu = realize(SEED);
    const vmFd = os.ioctl(kvmFd, KVM_CREATE_VM, 0);
    expect(vmFd).toBeGreaterThanOrEqual(0);
    const vcpuFd = os.ioctl(vmFd, KVM_CREATE_VCPU, cpu.apicId);
    expect(vcpuFd).toBeGreaterThanOrEqual(0);

    expect(kvmArchInitVcpu(os, vcpuFd, cpu, { kvmFd })).toBe(0);

    const sent = kvmArchInitVcpuResult(cpu)!;
    const buf = encodeKvmCpuid2([], 256);
    expect(os.ioctl(vcpuFd, KVM_GET_CPUID2, buf)).toBe(0);
    const back = decodeKvmCpuid2(buf);
    expect(back).toEqual(sent.cpuid);
    // The KVM signature leaf comes first, then leaf 0 with the host's vendor.
    expect(back[0]).toMatchObject({ function: 0x4000_0000, ebx: 0x4b4d_564b });
    const leaf1 = back.find((e) => e.function === 1)!;
    const cpuid1 = x86CpuCpuid(cpu, 1);
    expect(leaf1.ecx).toBe(cpuid1.ecx);
    expect(leaf1.ecx & (1 << 5)).toBe(0);
    // The MSRs kvm_init_msrs sets on this kernel: ARCH_CAPABILITIES and UCODE_REV.
    expect(sent.msrs.map((m) => m.index)).toEqual([0x10a, 0x8b]);
  });

  it("-cpu max takes everything the kernel offers, silently", () => {
    const cpu = realize("max");
    expect(warnings).toEqual([]);
    expect(objectPropertyGetStr(cpu, "vendor")).toBe("GenuineIntel");
    // The host's signature: family 6, model 42, stepping 7.
    expect(x86CpuCpuid(cpu, 1).eax).toBe(0x0002_06a7);
    expect(objectPropertyGetBool(cpu, "lm")).toBe(true);
    expect(objectPropertyGetBool(cpu, "vmx")).toBe(false);
  });
});
