/**
 * `-d vmcs`: after every VM exit, the fields of the vCPU's control block — the VMCS on
 * kvm_intel, the VMCB on kvm_amd — that changed since the exit before, each with its last
 * writer: kvm_intel's VMWRITEs or the processor's VM exit; kvm_amd's stores, the
 * processor's #VMEXIT, or VMSAVE. The first exit of a vCPU is compared with the block as
 * it was at its first VM entry, so it shows what that exit alone wrote.
 *
 * The vCPU behind a kvm_exit tracepoint is found as the kernel finds it (the VMs of
 * kvm_main's list, by vcpu_id); the snapshots and provenance are vmx's and svm's own
 * (vmcsSnapshot/vmcsDiff/VmcsProvenance, vmcbSnapshot/vmcbDiff/VmcbProvenance).
 */
import { type HostKernel, type KvmVcpu, kvmGlobal } from "@glassvm/kvm-kernel";
import {
  toSvm,
  type VmcbFieldChange,
  VmcbProvenance,
  type VmcbSnapshot,
  vmcbDiff,
  vmcbSnapshot,
} from "@glassvm/svm";
import {
  toKvmIntel,
  toVmx,
  type VmcsFieldChange,
  VmcsProvenance,
  type VmcsSnapshot,
  vmcsDiff,
  vmcsSnapshot,
} from "@glassvm/vmx";

const hex = (v: bigint): string => `0x${v.toString(16)}`;

const WRITERS: Record<string, string> = {
  vmwrite: "kvm_intel (VMWRITE)",
  cpu: "processor (VM exit)",
  software: "kvm_amd",
  "#VMEXIT": "processor (#VMEXIT)",
  vmsave: "VMSAVE",
};

function changeLine(c: VmcsFieldChange | VmcbFieldChange): string {
  const by = c.by ? WRITERS[c.by] : "before watching";
  return `  ${c.name.padEnd(32)} ${hex(c.before).padStart(18)} → ${hex(c.after).padEnd(18)}  ${by}\n`;
}

/** One vCPU's control block as the vendor module keeps it. */
interface Block {
  readonly what: "VMCS" | "VMCB";
  snapshot(): VmcsSnapshot | VmcbSnapshot | null;
  diff(before: VmcsSnapshot | VmcbSnapshot, after: VmcsSnapshot | VmcbSnapshot): string[];
  reset(): void;
}

/**
 * Watch every vCPU's control block from now on; `print` gets one block of lines per VM
 * exit, headed `CPU n/KVM: VMCS 0x… after REASON at rip 0x…`. Returns the detach function.
 */
export function watchControlBlocks(
  kernel: HostKernel,
  hostCpu: "intel" | "amd",
  cpuIndex: (vcpuId: number) => number,
  print: (text: string) => void,
): () => void {
  const blocks = new Map<number, Block>();
  const previous = new Map<number, VmcsSnapshot | VmcbSnapshot>();
  const vmcsWatchers = new Map<unknown, VmcsProvenance>();
  const vmcbWatcher = hostCpu === "amd" ? new VmcbProvenance() : null;

  const findVcpu = (id: number): KvmVcpu | undefined => {
    for (const kvm of kvmGlobal(kernel)?.vms ?? []) {
      const v = kvm.vcpus.find((c) => c.vcpuId === id);
      if (v) return v;
    }
    return undefined;
  };

  const intelBlock = (vcpu: KvmVcpu): Block => {
    const hw = () => {
      const vmx = toVmx(vcpu);
      return vmx.loadedCpu < 0 ? null : (toKvmIntel(vcpu.kvm).cpus[vmx.loadedCpu]?.vmx ?? null);
    };
    const provenance = (): VmcsProvenance | undefined => {
      const cpu = hw();
      if (!cpu) return undefined;
      let p = vmcsWatchers.get(cpu);
      if (!p) {
        p = new VmcsProvenance(cpu);
        vmcsWatchers.set(cpu, p);
      }
      return p;
    };
    provenance();
    return {
      what: "VMCS",
      snapshot() {
        const region = hw()?.current;
        return region && region.pa === toVmx(vcpu).vmcs.pa ? vmcsSnapshot(region) : null;
      },
      diff: (before, after) =>
        vmcsDiff(before as VmcsSnapshot, after as VmcsSnapshot, provenance()).map(changeLine),
      reset: () => provenance()?.reset(),
    };
  };

  const amdBlock = (vcpu: KvmVcpu): Block => ({
    what: "VMCB",
    snapshot: () => vmcbSnapshot(toSvm(vcpu).vmcb),
    diff: (before, after) =>
      vmcbDiff(before as VmcbSnapshot, after as VmcbSnapshot, vmcbWatcher ?? undefined).map(
        changeLine,
      ),
    reset: () => vmcbWatcher?.reset(),
  });

  const blockOf = (id: number): Block | undefined => {
    let b = blocks.get(id);
    if (b) return b;
    const vcpu = findVcpu(id);
    if (!vcpu) return undefined;
    b = hostCpu === "amd" ? amdBlock(vcpu) : intelBlock(vcpu);
    blocks.set(id, b);
    return b;
  };

  const offEntry = kernel.trace.kvm_entry.subscribe((e) => {
    if (previous.has(e.vcpu_id)) return;
    const b = blockOf(e.vcpu_id);
    const s = b?.snapshot();
    if (!b || !s) return;
    previous.set(e.vcpu_id, s);
    b.reset();
  });
  const offExit = kernel.trace.kvm_exit.subscribe((e) => {
    const b = blockOf(e.vcpu_id);
    const before = previous.get(e.vcpu_id);
    const after = b?.snapshot();
    if (!b || !before || !after) return;
    const lines = b.diff(before, after);
    previous.set(e.vcpu_id, after);
    b.reset();
    const code = e.isa === 2 ? `0x${e.exit_reason.toString(16).padStart(3, "0")}` : e.exit_reason;
    print(
      `CPU ${cpuIndex(e.vcpu_id)}/KVM: ${b.what} 0x${after.pa.toString(16)} after ${e.exit_reason_name} (${code}) at rip ${hex(e.guest_rip)}: ${lines.length} field${lines.length === 1 ? "" : "s"} changed\n${lines.join("")}`,
    );
  });
  return () => {
    offEntry();
    offExit();
    for (const p of vmcsWatchers.values()) p.detach();
    vmcbWatcher?.detach();
  };
}
