/**
 * target/i386/kvm/kvm-cpu.c — the KVM accelerator's part of every x86 CPU
 * (`kvm-accel-x86_64-cpu`): at creation, the host's vendor and KVM's default paravirt
 * features for builtin models (`max`/`host` become the host CPU); at realize, the host's
 * physical-address width and guest-phys-bits; and the answers to "what does KVM support"
 * that feature filtering and `-cpu max` need.
 *
 *   x86CpuSetAccel(kvmX86AccelCpuOps({ os, kvmFd }))   // accel_init_interfaces
 */
import type { HostOs, KvmCpuidEntry2 } from "@glassvm/kvm-kernel/uapi";
import { objectPropertyParse, warnReport } from "@glassvm/qom";
import type { CpuidRegs, X86AccelCpuOps, X86CPU, X86CPUClass } from "../cpu.js";
import {
  CPUID_EXT2_LM,
  FEAT_8000_0001_EDX,
  FEATURE_WORD_INFO,
  MSR_IA32_UCODE_REV,
  R_EAX,
} from "../cpu-features.js";
import {
  hostCpuHasCpuid,
  hostCpuInstanceInit,
  hostCpuMaxInstanceInit,
  hostCpuRealizefn,
  hostCpuSetCpuid,
} from "../host-cpu.js";
import {
  cpuidFindEntry,
  type KvmX86Options,
  kvmArchGetSupportedCpuid,
  kvmArchGetSupportedCpuidFromTable,
  kvmArchGetSupportedCpuidRegs,
  kvmArchGetSupportedMsrFeature,
  kvmArchResetVcpu,
  kvmGetSupportedCpuidTable,
} from "./kvm.js";

/** The KVM accelerator as the x86 CPU sees it: /dev/kvm and the accelerator options. */
export interface KvmX86AccelConfig extends KvmX86Options {
  readonly os: HostOs;
  /** The /dev/kvm fd (KVMState.fd). */
  readonly kvmFd: number;
}

/**
 * `kvm_default_props`: features every builtin model gets under KVM (those the oldest
 * supported kernel already had), adjusted for the irqchip mode.
 */
export function kvmDefaultProps(cfg: KvmX86Options): [string, string][] {
  const props: [string, string][] = [
    ["kvmclock", "on"],
    ["kvm-nopiodelay", "on"],
    ["kvm-asyncpf", "on"],
    ["kvm-steal-time", "on"],
    ["kvm-pv-eoi", "on"],
    ["kvmclock-stable-bit", "on"],
    ["x2apic", "on"],
    ["kvm-msi-ext-dest-id", "off"],
    ["acpi", "off"],
    ["monitor", "off"],
    ["svm", "off"],
  ];
  const change = (prop: string, value: string) => {
    const pv = props.find(([p]) => p === prop)!;
    pv[1] = value;
  };
  if (!(cfg.irqchipInKernel ?? true)) change("x2apic", "off");
  else if (cfg.irqchipSplit) change("kvm-msi-ext-dest-id", "on");
  return props;
}

/** `kvm_cpu_max_instance_init`: `max`/`host` look like the host and take KVM's levels. */
function kvmCpuMaxInstanceInit(cpu: X86CPU, cfg: KvmX86AccelConfig): void {
  const env = cpu.env;
  hostCpuMaxInstanceInit(cpu);
  // lmce_supported(): KVM_X86_GET_MCE_CAP_SUPPORTED reports MCG_LMCE_P; this kernel has
  // no MCE support, so lmce stays off.
  env.cpuidMinLevel = kvmArchGetSupportedCpuid(cfg.os, cfg.kvmFd, 0x0, 0, R_EAX, cfg);
  env.cpuidMinXlevel = kvmArchGetSupportedCpuid(cfg.os, cfg.kvmFd, 0x8000_0000, 0, R_EAX, cfg);
  env.cpuidMinXlevel2 = kvmArchGetSupportedCpuid(cfg.os, cfg.kvmFd, 0xc000_0000, 0, R_EAX, cfg);
}

/** `kvm_cpu_instance_init`. */
export function kvmCpuInstanceInit(cpu: X86CPU, cfg: KvmX86AccelConfig): void {
  const xcc = cpu.class as X86CPUClass;
  hostCpuInstanceInit(cpu, xcc.model !== null);
  if (xcc.model) {
    for (const [prop, value] of kvmDefaultProps(cfg)) objectPropertyParse(cpu, prop, value);
  }
  if (cpu.maxFeatures) kvmCpuMaxInstanceInit(cpu, cfg);
}

/** `kvm_set_guest_phys_bits`: KVM's guest physical width (CPUID.80000008H:EAX[23:16]). */
function kvmSetGuestPhysBits(cpu: X86CPU, cfg: KvmX86AccelConfig): void {
  const eax = kvmArchGetSupportedCpuid(cfg.os, cfg.kvmFd, 0x8000_0008, 0, R_EAX, cfg);
  const guestPhysBits = (eax >>> 16) & 0xff;
  if (!guestPhysBits) return;
  cpu.guestPhysBits = Math.min(guestPhysBits, cpu.physBits);
  if (cpu.hostPhysBits && cpu.hostPhysBitsLimit && cpu.guestPhysBits > cpu.hostPhysBitsLimit) {
    cpu.guestPhysBits = cpu.hostPhysBitsLimit;
  }
}

/** `kvm_cpu_realizefn`: microcode revision for `max`, host phys-bits, guest-phys-bits. */
export function kvmCpuRealizefn(cpu: X86CPU, cfg: KvmX86AccelConfig): void {
  if (cpu.maxFeatures && cpu.ucodeRev === 0n) {
    cpu.ucodeRev = kvmArchGetSupportedMsrFeature(cfg.os, cfg.kvmFd, MSR_IA32_UCODE_REV, cfg);
  }
  hostCpuRealizefn(cpu, warnReport);
  if (
    (cpu.env.features[FEAT_8000_0001_EDX]! & CPUID_EXT2_LM) !== 0n &&
    cpu.guestPhysBits === 0xffff_ffff
  ) {
    kvmSetGuestPhysBits(cpu, cfg);
  }
}

/**
 * The x86 CPU hooks of the KVM accelerator. Unless a host CPUID source is installed
 * already, it installs one answering from KVM_GET_SUPPORTED_CPUID (the closest a
 * JavaScript process gets to executing CPUID on the host; see host-cpu.ts).
 */
export function kvmX86AccelCpuOps(cfg: KvmX86AccelConfig): X86AccelCpuOps {
  if (!hostCpuHasCpuid()) {
    hostCpuSetCpuid((fn, count) => {
      const table = kvmGetSupportedCpuidTable(cfg.os, cfg.kvmFd);
      const e = cpuidFindEntry(table, fn, count) ?? cpuidFindEntry(table, fn, 0);
      return e
        ? { eax: e.eax, ebx: e.ebx, ecx: e.ecx, edx: e.edx }
        : { eax: 0, ebx: 0, ecx: 0, edx: 0 };
    });
  }
  return {
    name: "kvm",
    usesHostCpuid: true,
    supportedFeatureWord(w) {
      const wi = FEATURE_WORD_INFO[w]!;
      if (wi.type === "msr")
        return kvmArchGetSupportedMsrFeature(cfg.os, cfg.kvmFd, wi.msr!.index, cfg);
      const c = wi.cpuid!;
      return BigInt(kvmArchGetSupportedCpuid(cfg.os, cfg.kvmFd, c.eax, c.ecx, c.reg, cfg));
    },
    supportedCpuid: (fn, index) => kvmArchGetSupportedCpuidRegs(cfg.os, cfg.kvmFd, fn, index, cfg),
    cpuInstanceInit: (cpu) => kvmCpuInstanceInit(cpu, cfg),
    cpuTargetRealize: (cpu) => kvmCpuRealizefn(cpu, cfg),
    cpuResetHold: (cpu) => kvmArchResetVcpu(cpu, cfg),
  };
}

/**
 * The KVM view of the x86 CPU for a fixed KVM_GET_SUPPORTED_CPUID table and no feature
 * MSRs, without a kernel: what QEMU would decide on a host reporting `table` (the host
 * vendor comes from its leaf 0). For tests and for showing a host's effect offline.
 */
export function kvmX86AccelCpuOpsFromTable(
  table: readonly KvmCpuidEntry2[],
  opts: KvmX86Options = {},
): X86AccelCpuOps {
  const get = (fn: number, index: number, reg: 0 | 1 | 2 | 3) =>
    kvmArchGetSupportedCpuidFromTable(table, fn, index, reg, opts);
  const regs = (fn: number, index: number): CpuidRegs => ({
    eax: get(fn, index, 0),
    ebx: get(fn, index, 3),
    ecx: get(fn, index, 1),
    edx: get(fn, index, 2),
  });
  return {
    name: "kvm",
    usesHostCpuid: true,
    supportedFeatureWord(w) {
      const wi = FEATURE_WORD_INFO[w]!;
      if (wi.type === "msr") return 0n;
      return BigInt(get(wi.cpuid!.eax, wi.cpuid!.ecx, wi.cpuid!.reg));
    },
    supportedCpuid: regs,
    cpuInstanceInit(cpu) {
      const xcc = cpu.class as X86CPUClass;
      if (xcc.model) {
        const l0 = cpuidFindEntry(table, 0, 0);
        if (l0) {
          const v = [l0.ebx, l0.edx, l0.ecx]
            .map((w) =>
              String.fromCharCode(w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, w >>> 24),
            )
            .join("");
          objectPropertyParse(cpu, "vendor", v);
        }
        for (const [prop, value] of kvmDefaultProps(opts)) objectPropertyParse(cpu, prop, value);
      }
      if (cpu.maxFeatures) {
        cpu.env.cpuidMinLevel = get(0, 0, R_EAX);
        cpu.env.cpuidMinXlevel = get(0x8000_0000, 0, R_EAX);
        cpu.env.cpuidMinXlevel2 = get(0xc000_0000, 0, R_EAX);
      }
    },
    cpuResetHold: (cpu) => kvmArchResetVcpu(cpu, opts),
  };
}
