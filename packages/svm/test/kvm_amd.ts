/**
 * A host with kvm_amd loaded (modprobe), a VMM process that talks to /dev/kvm through the
 * uapi wrappers only, a VM with RAM at guest-physical 0 and one vCPU, and the register
 * set-ups tiny hand-assembled guests start from (real mode, flat 32-bit protected mode).
 */
import {
  HostKernel,
  type HostProcess,
  type KvmVcpu,
  kvmGlobal,
  kvmModule,
} from "@glassvm/kvm-kernel";
import {
  emptyKvmRegs,
  Kvm,
  type KvmSegment,
  type VcpuFd,
  type VmFd,
} from "@glassvm/kvm-kernel/uapi";
import { type KvmAmdModule, kvmAmdModule } from "../src/index.js";

export interface AmdGuest {
  kernel: HostKernel;
  mod: KvmAmdModule;
  os: HostProcess;
  kvm: Kvm;
  vm: VmFd;
  vcpu: VcpuFd;
  ram: Uint8Array;
}

/** `modprobe kvm_amd`, a VMM process, a VM with `ramSize` bytes of RAM at 0 and vCPU 0. */
export function createAmdGuest({ ramSize = 0x10_0000, flags = 0 } = {}): AmdGuest {
  const kernel = new HostKernel();
  const mod = kvmAmdModule(kernel);
  const r = kernel.loadModule(kvmModule(mod));
  if (r !== 0) throw new Error(`modprobe kvm_amd: ${r}`);
  const os = kernel.spawn("glassvm-test");
  const kvm = Kvm.open(os);
  const vm = kvm.createVm();
  const ramAddr = os.mmap(-1, ramSize);
  const ram = os.view(ramAddr, ramSize);
  vm.setUserMemoryRegion({
    slot: 0,
    flags,
    guestPhysAddr: 0n,
    memorySize: BigInt(ramSize),
    userspaceAddr: BigInt(ramAddr),
  });
  const vcpu = vm.createVcpu(0);
  return { kernel, mod, os, kvm, vm, vcpu, ram };
}

/** The kernel's struct kvm_vcpu behind vCPU `id` (white-box checks). */
export function kernelVcpu(g: AmdGuest, id = 0): KvmVcpu {
  for (const vm of kvmGlobal(g.kernel)!.vms) {
    const v = vm.vcpus.find((c) => c.vcpuId === id);
    if (v) return v;
  }
  throw new Error(`no vCPU ${id}`);
}

export const le16 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff];
export const le32 = (v: number): number[] => [...le16(v & 0xffff), ...le16(v >>> 16)];

export const seg = (over: Partial<KvmSegment>): KvmSegment => ({
  base: 0n,
  limit: 0xffff,
  selector: 0,
  type: 3,
  present: 1,
  dpl: 0,
  db: 0,
  s: 1,
  l: 0,
  g: 0,
  avl: 0,
  unusable: 0,
  ...over,
});

/** Real mode with every segment at 0 (code at `entry`), stack at 0x8000. */
export function realMode(g: AmdGuest, entry = 0x1000): void {
  const s = g.vcpu.getSregs();
  const data = seg({});
  g.vcpu.setSregs({
    ...s,
    cs: seg({ type: 11 }),
    ds: data,
    es: data,
    fs: data,
    gs: data,
    ss: data,
  });
  g.vcpu.setRegs({ ...emptyKvmRegs(), rip: BigInt(entry), rsp: 0x8000n, rflags: 2n });
}
