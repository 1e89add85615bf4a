/**
 * target/i386/host-cpu.c — what QEMU learns from the CPU it runs on, with the CPUID
 * instruction: the host vendor (every builtin model takes it under KVM), family/model/
 * stepping and brand string (`-cpu max`/`host`), and the host's physical-address width.
 *
 * A JavaScript process cannot execute CPUID. The host CPUID source is therefore pluggable:
 * {@link hostCpuSetCpuid} installs it (the KVM accelerator glue installs one answering
 * from the kernel's KVM_GET_SUPPORTED_CPUID table, whose identity leaves — vendor,
 * signature, brand, address sizes — are the host's). Without a source every leaf reads
 * as zero, like a leaf above the CPU's maximum.
 */
import {
  objectPropertySetBool,
  objectPropertySetInt,
  objectPropertySetStr,
  QomError,
} from "@glassvm/qom";
import type { CpuidRegs, X86CPU } from "./cpu.js";
import { CPUID_EXT2_LM, FEAT_8000_0001_EDX } from "./cpu-features.js";

export type HostCpuidFn = (fn: number, count: number) => CpuidRegs;

const zeroCpuid: HostCpuidFn = () => ({ eax: 0, ebx: 0, ecx: 0, edx: 0 });
let hostCpuidImpl: HostCpuidFn = zeroCpuid;
let hostCpuidInstalled = false;

/** Install (or with null, remove) the host CPUID source. */
export function hostCpuSetCpuid(fn: HostCpuidFn | null): void {
  hostCpuidImpl = fn ?? zeroCpuid;
  hostCpuidInstalled = fn !== null;
}

/** Whether a host CPUID source has been installed. */
export function hostCpuHasCpuid(): boolean {
  return hostCpuidInstalled;
}

/** `host_cpuid`: CPUID leaf `fn`, subleaf `count`, on the host. */
export function hostCpuid(fn: number, count: number): CpuidRegs {
  const r = hostCpuidImpl(fn >>> 0, count >>> 0);
  return { eax: r.eax >>> 0, ebx: r.ebx >>> 0, ecx: r.ecx >>> 0, edx: r.edx >>> 0 };
}

/** Little-endian register bytes as characters (how CPUID returns strings). */
function wordsToString(...words: number[]): string {
  let s = "";
  for (const w of words) {
    for (let i = 0; i < 4; i++) s += String.fromCharCode((w >>> (8 * i)) & 0xff);
  }
  return s;
}

/** `x86_cpu_vendor_words2str`: the 12-byte vendor string of CPUID.0 EBX, EDX, ECX. */
export function x86CpuVendorWords2str(v1: number, v2: number, v3: number): string {
  return wordsToString(v1, v2, v3);
}

export interface HostCpuFms {
  readonly vendor: string;
  readonly family: number;
  readonly model: number;
  readonly stepping: number;
}

/** `host_cpu_vendor_fms`: vendor, family, model and stepping from CPUID 0 and 1. */
export function hostCpuVendorFms(): HostCpuFms {
  const l0 = hostCpuid(0, 0);
  const l1 = hostCpuid(1, 0);
  const eax = l1.eax;
  return {
    vendor: x86CpuVendorWords2str(l0.ebx, l0.edx, l0.ecx),
    family: ((eax >>> 8) & 0x0f) + ((eax >>> 20) & 0xff),
    model: ((eax >>> 4) & 0x0f) | ((eax & 0xf_0000) >>> 12),
    stepping: eax & 0x0f,
  };
}

/** `host_cpu_phys_bits`: CPUID.80000008H:EAX[7:0], or 36 without the leaf. */
export function hostCpuPhysBits(): number {
  const max = hostCpuid(0x8000_0000, 0).eax;
  return max >= 0x8000_0008 ? hostCpuid(0x8000_0008, 0).eax & 0xff : 36;
}

let warnedPhysBits = false;

/** `host_cpu_adjust_phys_bits`: the phys-bits to use, warning once on a mismatch. */
function hostCpuAdjustPhysBits(cpu: X86CPU, warn: (m: string) => void): number {
  const hostPhysBits = hostCpuPhysBits();
  let physBits = cpu.physBits;
  if (physBits !== hostPhysBits && physBits !== 0 && !warnedPhysBits) {
    warn(`Host physical bits (${hostPhysBits}) does not match phys-bits property (${physBits})`);
    warnedPhysBits = true;
  }
  if (cpu.hostPhysBits) {
    physBits = hostPhysBits;
    if (cpu.hostPhysBitsLimit && physBits > cpu.hostPhysBitsLimit) {
      physBits = cpu.hostPhysBitsLimit;
    }
  }
  return physBits;
}

/** TARGET_PHYS_ADDR_SPACE_BITS of qemu-system-x86_64. */
export const TARGET_PHYS_ADDR_SPACE_BITS = 52;

/** `host_cpu_realizefn`: adopt the host's physical-address width (64-bit CPUs). Throws. */
export function hostCpuRealizefn(cpu: X86CPU, warn: (m: string) => void): void {
  if ((cpu.env.features[FEAT_8000_0001_EDX]! & CPUID_EXT2_LM) === 0n) return;
  const physBits = hostCpuAdjustPhysBits(cpu, warn);
  if (physBits && (physBits > TARGET_PHYS_ADDR_SPACE_BITS || physBits < 32)) {
    throw new QomError(
      "invalid-parameter-value",
      `phys-bits should be between 32 and ${TARGET_PHYS_ADDR_SPACE_BITS}  (but is ${physBits})`,
      { operation: "host_cpu_realizefn" },
    );
  }
  cpu.physBits = physBits;
}

/** `host_cpu_instance_init`: builtin models take the host's vendor. */
export function hostCpuInstanceInit(cpu: X86CPU, hasModel: boolean): void {
  if (!hasModel) return;
  const l0 = hostCpuid(0, 0);
  objectPropertySetStr(cpu, "vendor", x86CpuVendorWords2str(l0.ebx, l0.edx, l0.ecx));
}

/** The 48-byte brand string of CPUID 80000002h–80000004h, up to its first NUL. */
export function hostCpuBrandString(): string {
  if (hostCpuid(0x8000_0000, 0).eax < 0x8000_0004) return "";
  let s = "";
  for (let leaf = 0x8000_0002; leaf <= 0x8000_0004; leaf++) {
    const r = hostCpuid(leaf, 0);
    s += wordsToString(r.eax, r.ebx, r.ecx, r.edx);
  }
  const nul = s.indexOf("\0");
  return nul < 0 ? s : s.slice(0, nul);
}

/** `host_cpu_max_instance_init`: `max`/`host` look like the host CPU. */
export function hostCpuMaxInstanceInit(cpu: X86CPU): void {
  const fms = hostCpuVendorFms();
  objectPropertySetStr(cpu, "vendor", fms.vendor);
  objectPropertySetInt(cpu, "family", fms.family);
  objectPropertySetInt(cpu, "model", fms.model);
  objectPropertySetInt(cpu, "stepping", fms.stepping);
  objectPropertySetStr(cpu, "model-id", hostCpuBrandString());
  objectPropertySetBool(cpu, "host-phys-bits", true);
}
