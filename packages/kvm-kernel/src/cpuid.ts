/**
 * arch/x86/kvm/cpuid.c: the supported-CPUID table, the per-vCPU table set by
 * KVM_SET_CPUID2, and the in-kernel answer to a guest's CPUID.
 */

import type { HostProcess } from "./kernel.js";
import type { KvmVcpu } from "./kvm_host.js";
import type { KvmGlobal } from "./kvm_main.js";
import { copyFromUser } from "./kvm_main.js";
import { kvmLapicAfterSetCpuid } from "./lapic.js";
import { E2BIG, EFAULT, EINVAL } from "./uapi/errno.js";
import type { IoctlArg } from "./uapi/hostos.js";
import { KVM_CPUID_FLAG_SIGNIFCANT_INDEX, KVM_MAX_CPUID_ENTRIES } from "./uapi/kvm.js";
import {
  decodeKvmCpuid2,
  encodeKvmCpuid2,
  KVM_CPUID_ENTRY2_SIZE,
  KVM_CPUID2_HEADER_SIZE,
  type KvmCpuidEntry2,
} from "./uapi/structs.js";

/** CPUID.1:ECX bits KVM's LAPIC emulates. */
const X86_FEATURE_X2APIC = 1 << 21;
const X86_FEATURE_TSC_DEADLINE_TIMER = 1 << 24;

/** "KVMKVMKVM\0\0\0" in EBX, ECX, EDX of leaf 0x40000000 (KVM_CPUID_SIGNATURE). */
export const KVM_CPUID_SIGNATURE = 0x4000_0000;
export const KVM_CPUID_FEATURES = 0x4000_0001;

/**
 * __do_cpuid_func's result for this host: the vendor's leaves (what the silicon and the
 * module support) plus KVM's own paravirt leaves. The model implements no paravirt
 * feature, so 0x40000001 advertises none.
 */
export function kvmSupportedCpuid(g: KvmGlobal): KvmCpuidEntry2[] {
  const entries = g.vendor.supportedCpuid().map((e) => ({ ...e }));
  // KVM emulates x2APIC and the TSC-deadline timer in its LAPIC whatever the host has
  // (EMULATED_F); both need KVM_CREATE_IRQCHIP to work (kernels built with it).
  if (g.kernel.config.CONFIG_KVM_IOAPIC) {
    const leaf1 = entries.find((e) => e.function === 1);
    if (leaf1) leaf1.ecx = (leaf1.ecx | X86_FEATURE_X2APIC | X86_FEATURE_TSC_DEADLINE_TIMER) >>> 0;
  }
  entries.push(
    {
      function: KVM_CPUID_SIGNATURE,
      index: 0,
      flags: 0,
      eax: KVM_CPUID_FEATURES,
      ebx: 0x4b4d_564b,
      ecx: 0x564b_4d56,
      edx: 0x4d,
    },
    { function: KVM_CPUID_FEATURES, index: 0, flags: 0, eax: 0, ebx: 0, ecx: 0, edx: 0 },
  );
  return entries;
}

/**
 * kvm_dev_ioctl_get_cpuid (KVM_GET_SUPPORTED_CPUID, KVM_GET_EMULATED_CPUID): E2BIG when
 * nent is too small — and then nent is not written back, as in Linux (QEMU retries with a
 * bigger buffer). On success nent becomes the number of entries.
 */
export function kvmDevIoctlGetCpuid(
  proc: HostProcess,
  arg: IoctlArg,
  entries: readonly KvmCpuidEntry2[],
): number {
  const hdr = proc.userArg(arg, KVM_CPUID2_HEADER_SIZE);
  if (typeof hdr === "number") return hdr;
  const view = new DataView(hdr.buffer, hdr.byteOffset, KVM_CPUID2_HEADER_SIZE);
  let nent = view.getUint32(0, true);
  if (nent < 1) return -E2BIG;
  if (nent > KVM_MAX_CPUID_ENTRIES) nent = KVM_MAX_CPUID_ENTRIES;
  if (entries.length > nent) return -E2BIG;
  const out = proc.userArg(arg, KVM_CPUID2_HEADER_SIZE + entries.length * KVM_CPUID_ENTRY2_SIZE);
  if (typeof out === "number") return out;
  // nent and the entries, as one struct kvm_cpuid2.
  encodeKvmCpuid2(entries, entries.length, out);
  return 0;
}

/** Read a struct kvm_cpuid2 with its entries from user memory. */
function readCpuid2(proc: HostProcess, arg: IoctlArg): KvmCpuidEntry2[] | number {
  const hdr = copyFromUser(proc, arg, KVM_CPUID2_HEADER_SIZE);
  if (typeof hdr === "number") return hdr;
  const nent = new DataView(hdr.buffer).getUint32(0, true);
  if (nent > KVM_MAX_CPUID_ENTRIES) return -E2BIG;
  const all = copyFromUser(proc, arg, KVM_CPUID2_HEADER_SIZE + nent * KVM_CPUID_ENTRY2_SIZE);
  if (typeof all === "number") return all;
  return decodeKvmCpuid2(all);
}

const sameEntries = (a: readonly KvmCpuidEntry2[], b: readonly KvmCpuidEntry2[]): boolean =>
  a.length === b.length &&
  a.every((e, i) => {
    const o = b[i]!;
    return (
      e.function === o.function &&
      e.index === o.index &&
      e.flags === o.flags &&
      e.eax === o.eax &&
      e.ebx === o.ebx &&
      e.ecx === o.ecx &&
      e.edx === o.edx
    );
  });

/**
 * kvm_vcpu_ioctl_set_cpuid2 → kvm_set_cpuid. Once the vCPU has run, only the identical
 * table is accepted (Linux 5.16+): changing CPUID under a running guest is -EINVAL.
 */
export function kvmVcpuIoctlSetCpuid2(vcpu: KvmVcpu, hasRun: boolean, arg: IoctlArg): number {
  const entries = readCpuid2(vcpu.kvm.mm, arg);
  if (typeof entries === "number") return entries;
  if (hasRun) return sameEntries(entries, vcpu.arch.cpuidEntries) ? 0 : -EINVAL;
  vcpu.arch.cpuidEntries = entries;
  vcpu.arch.maxphyaddr = cpuidQueryMaxphyaddr(vcpu);
  kvmLapicAfterSetCpuid(vcpu);
  vcpu.kvm.ops.vcpuAfterSetCpuid?.(vcpu);
  return 0;
}

/** kvm_vcpu_ioctl_get_cpuid2: E2BIG (nent not written back) when the array is too small. */
export function kvmVcpuIoctlGetCpuid2(vcpu: KvmVcpu, arg: IoctlArg): number {
  const proc = vcpu.kvm.mm;
  const hdr = proc.userArg(arg, KVM_CPUID2_HEADER_SIZE);
  if (typeof hdr === "number") return hdr;
  const view = new DataView(hdr.buffer, hdr.byteOffset, KVM_CPUID2_HEADER_SIZE);
  const entries = vcpu.arch.cpuidEntries;
  if (view.getUint32(0, true) < entries.length) return -E2BIG;
  const out = proc.userArg(arg, KVM_CPUID2_HEADER_SIZE + entries.length * KVM_CPUID_ENTRY2_SIZE);
  if (typeof out === "number") return -EFAULT;
  // nent and the entries, as one struct kvm_cpuid2.
  encodeKvmCpuid2(entries, entries.length, out);
  return 0;
}

/** kvm_find_cpuid_entry_index: `index` only matters for leaves flagged SIGNIFCANT_INDEX. */
export function kvmFindCpuidEntry(
  vcpu: KvmVcpu,
  fn: number,
  index = 0,
): KvmCpuidEntry2 | undefined {
  for (const e of vcpu.arch.cpuidEntries) {
    if (e.function !== fn) continue;
    if ((e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) !== 0 && e.index !== index) continue;
    return e;
  }
  return undefined;
}

/** cpuid_query_maxphyaddr: CPUID.80000008H:EAX[7:0], or 36 without it. */
export function cpuidQueryMaxphyaddr(vcpu: KvmVcpu): number {
  const max = kvmFindCpuidEntry(vcpu, 0x8000_0000);
  if (!max || max.eax < 0x8000_0008) return 36;
  const e = kvmFindCpuidEntry(vcpu, 0x8000_0008);
  return e ? e.eax & 0xff : 36;
}

/** guest_cpuid_has for a (leaf, register, bit). */
export function guestCpuidHas(
  vcpu: KvmVcpu,
  fn: number,
  reg: "eax" | "ebx" | "ecx" | "edx",
  bit: number,
  index = 0,
): boolean {
  const e = kvmFindCpuidEntry(vcpu, fn, index);
  return e !== undefined && ((e[reg] >>> bit) & 1) === 1;
}

const isVendorAmd = (e: KvmCpuidEntry2): boolean =>
  // "AuthenticAMD" or "HygonGenuine"
  (e.ebx === 0x6874_7541 && e.ecx === 0x444d_4163 && e.edx === 0x6974_6e65) ||
  (e.ebx === 0x6f67_7948 && e.ecx === 0x656e_6975 && e.edx === 0x6e65_476e);

/**
 * get_out_of_range_cpuid_entry: Intel CPUs answer a leaf above the class's maximum with
 * the highest basic leaf (keeping the subleaf); AMD answers zeros.
 */
function outOfRangeEntry(vcpu: KvmVcpu, fn: number, index: number): KvmCpuidEntry2 | undefined {
  const basic = kvmFindCpuidEntry(vcpu, 0);
  if (!basic || isVendorAmd(basic)) return undefined;
  let cls: KvmCpuidEntry2 | undefined;
  if (fn >= 0x4000_0000 && fn <= 0x4fff_ffff) cls = kvmFindCpuidEntry(vcpu, fn & 0xffff_ff00);
  else if (fn >= 0xc000_0000) cls = kvmFindCpuidEntry(vcpu, 0xc000_0000);
  else cls = kvmFindCpuidEntry(vcpu, (fn & 0x8000_0000) >>> 0);
  if (cls && fn <= cls.eax) return undefined;
  return kvmFindCpuidEntry(vcpu, basic.eax, index);
}

export interface CpuidResult {
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
  /** An entry matched exactly. */
  exact: boolean;
}

/** kvm_cpuid: the guest's CPUID answered from the KVM_SET_CPUID2 table. */
export function kvmCpuid(
  vcpu: KvmVcpu,
  fn: number,
  index: number,
  exactOnly: boolean,
): CpuidResult {
  fn >>>= 0;
  index >>>= 0;
  let entry = kvmFindCpuidEntry(vcpu, fn, index);
  const exact = entry !== undefined;
  let usedMaxBasic = false;
  if (!entry && !exactOnly) {
    entry = outOfRangeEntry(vcpu, fn, index);
    usedMaxBasic = entry !== undefined;
  }
  const r: CpuidResult = { eax: 0, ebx: 0, ecx: 0, edx: 0, exact };
  if (entry) {
    r.eax = entry.eax >>> 0;
    r.ebx = entry.ebx >>> 0;
    r.ecx = entry.ecx >>> 0;
    r.edx = entry.edx >>> 0;
    if (entry.function === 1) {
      // kvm_update_cpuid_runtime: OSXSAVE follows CR4.OSXSAVE, APIC follows the APIC
      // base MSR's enable bit.
      r.ecx = ((r.ecx & ~(1 << 27)) | (((vcpu.arch.cr4 >>> 18) & 1) << 27)) >>> 0;
      r.edx = ((r.edx & ~(1 << 9)) | (((vcpu.arch.apicBase >>> 11) & 1) << 9)) >>> 0;
    }
  } else if (fn === 0xb || fn === 0x1f) {
    // Undefined subleaves of the topology leaves still pass ECX[7:0] and the x2APIC id.
    const e = kvmFindCpuidEntry(vcpu, fn, 1);
    if (e) {
      r.ecx = index & 0xff;
      r.edx = e.edx >>> 0;
    }
  }
  const tp = vcpu.kvm.kernel.trace.kvm_cpuid;
  if (tp.enabled) {
    tp.emit({
      vcpu_id: vcpu.vcpuId,
      function: fn,
      index,
      rax: r.eax,
      rbx: r.ebx,
      rcx: r.ecx,
      rdx: r.edx,
      found: exact,
      used_max_basic: usedMaxBasic,
    });
  }
  return r;
}
