/**
 * A vCPU thread of glassvm's QEMU process (`-accel kvm,thread=multi`), as a worker: the
 * composition root of the thread's realm. Like a thread of a Linux process it runs on
 * the same kernel — here this realm's copy of it, with the same vendor module loaded —
 * and attaches to the process it was cloned from (attachHostThread), then runs QEMU's
 * kvm_vcpu_thread_fn (kvmVcpuThreadFnMulti) until told to exit.
 */
import { attachHostThread, HostKernel, kvmModule } from "@glassvm/kvm-kernel";
import type { HostThreadLink } from "@glassvm/kvm-kernel/uapi";
import { type KvmVcpuThreadArg, kvmVcpuThreadFnMulti } from "@glassvm/qemu-machine";
import { kvmAmdModule } from "@glassvm/svm";
import { kvmIntelModule } from "@glassvm/vmx";

/** What the main thread hands a vCPU thread's worker. */
export interface VcpuThreadData {
  readonly link: HostThreadLink;
  readonly arg: KvmVcpuThreadArg;
  readonly hostCpu: "intel" | "amd";
  /** The main thread's performance.timeOrigin: one monotonic clock for every thread. */
  readonly timeOrigin: number;
}

/** The thread's body; `onError` gets what killed it. */
export async function vcpuThreadMain(data: VcpuThreadData): Promise<void> {
  const kernel = new HostKernel();
  kernel.config.CONFIG_KVM_IOAPIC = true;
  // ktime_get is one clock on every CPU: the main thread's origin.
  const delta = performance.timeOrigin - data.timeOrigin;
  kernel.clock = { now: () => BigInt(Math.floor((performance.now() + delta) * 1e6)) };
  const vendor = data.hostCpu === "amd" ? kvmAmdModule(kernel) : kvmIntelModule(kernel);
  const r = kernel.loadModule(kvmModule(vendor));
  if (r < 0) throw new Error(`modprobe ${vendor.name} failed (${r}) on a vCPU thread`);
  const proc = await attachHostThread(kernel, data.link);
  await kvmVcpuThreadFnMulti(
    proc,
    data.link,
    data.arg,
    () => proc.catchUpMail(),
    () => proc.mailPending(),
  );
}
