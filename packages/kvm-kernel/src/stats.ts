/**
 * KVM's statistics as debugfs shows them (/sys/kernel/debug/kvm/): per VM and per vCPU,
 * and each counter summed over every VM of the host (the top-level files `kvm_stat` reads).
 */
import type { HostKernel } from "./kernel.js";
import { type KvmVcpuStat, type KvmVmStat, newVcpuStat, newVmStat } from "./kvm_host.js";
import { kvmGlobal } from "./kvm_main.js";

export interface KvmStats {
  /** Every counter summed over all VMs and vCPUs (debugfs top level). */
  total: KvmVmStat & KvmVcpuStat;
  /** Per VM, keyed "<pid>-<vm id>" like debugfs directories. */
  vms: {
    name: string;
    stat: KvmVmStat;
    vcpus: { vcpuId: number; stat: KvmVcpuStat }[];
  }[];
}

/** A snapshot of every KVM counter of a host kernel (all zeros when KVM is not loaded). */
export function readKvmStats(kernel: HostKernel): KvmStats {
  const total: Record<string, number> = { ...newVmStat(), ...newVcpuStat() };
  const add = (o: object): void => {
    for (const [k, v] of Object.entries(o)) total[k] = (total[k] ?? 0) + (v as number);
  };
  const vms: KvmStats["vms"] = [];
  for (const kvm of kvmGlobal(kernel)?.vms ?? []) {
    add(kvm.stat);
    const vcpus = kvm.vcpus.map((v) => {
      add(v.stat);
      return { vcpuId: v.vcpuId, stat: { ...v.stat } };
    });
    vms.push({ name: `${kvm.mm.pid}-${kvm.id}`, stat: { ...kvm.stat }, vcpus });
  }
  return { total: total as unknown as KvmStats["total"], vms };
}
