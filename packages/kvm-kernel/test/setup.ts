/** A host with the toy vendor loaded, a VMM process, and the numbered path to a vCPU. */
import { HostKernel, type HostProcess, kvmModule } from "../src/index.js";
import {
  decodeKvmSregs,
  emptyKvmRegs,
  encodeKvmRegs,
  encodeKvmSregs,
  encodeKvmUserspaceMemoryRegion,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_GET_SREGS,
  KVM_GET_VCPU_MMAP_SIZE,
  KVM_SET_REGS,
  KVM_SET_SREGS,
  KVM_SET_USER_MEMORY_REGION,
  KvmRun,
  O_RDWR,
} from "../src/uapi/index.js";
import { toyModule } from "./toy-vendor.js";

export interface Host {
  kernel: HostKernel;
  proc: HostProcess;
  mod: ReturnType<typeof toyModule>;
  sys: number;
}

export function host(): Host {
  const kernel = new HostKernel();
  const mod = toyModule();
  if (kernel.loadModule(kvmModule(mod)) !== 0) throw new Error("modprobe failed");
  const proc = kernel.spawn();
  const sys = proc.open("/dev/kvm", O_RDWR);
  if (sys < 0) throw new Error(`open /dev/kvm: ${sys}`);
  return { kernel, proc, mod, sys };
}

export interface Guest extends Host {
  vm: number;
  vcpu: number;
  run: KvmRun;
  /** Guest RAM (slot 0 at guest-physical `ramBase`), as the VMM's own view. */
  ram: Uint8Array;
  ramAddr: number;
  ramBase: number;
}

/** Run `code` at guest-physical `entry` in flat mode (CS base 0), RAM at [ramBase, +size). */
export function guest(
  code: readonly number[],
  { entry = 0x1000, ramBase = 0, ramSize = 0x10_000 } = {},
): Guest {
  const h = host();
  const { proc, sys } = h;
  const vm = proc.ioctl(sys, KVM_CREATE_VM, 0);
  const ramAddr = proc.mmap(-1, ramSize);
  const ram = proc.view(ramAddr, ramSize);
  ram.set(code, entry - ramBase);
  const r = proc.ioctl(
    vm,
    KVM_SET_USER_MEMORY_REGION,
    encodeKvmUserspaceMemoryRegion({
      slot: 0,
      flags: 0,
      guestPhysAddr: BigInt(ramBase),
      memorySize: BigInt(ramSize),
      userspaceAddr: BigInt(ramAddr),
    }),
  );
  if (r !== 0) throw new Error(`SET_USER_MEMORY_REGION: ${r}`);
  const vcpu = proc.ioctl(vm, KVM_CREATE_VCPU, 0);
  const size = proc.ioctl(sys, KVM_GET_VCPU_MMAP_SIZE, 0);
  const run = new KvmRun(proc.view(proc.mmap(vcpu, size), size));
  const sb = new Uint8Array(312);
  proc.ioctl(vcpu, KVM_GET_SREGS, sb);
  const sregs = decodeKvmSregs(sb);
  sregs.cs = { ...sregs.cs, base: 0n, selector: 0 };
  proc.ioctl(vcpu, KVM_SET_SREGS, encodeKvmSregs(sregs));
  const regs = emptyKvmRegs();
  regs.rip = BigInt(entry);
  regs.rflags = 2n;
  proc.ioctl(vcpu, KVM_SET_REGS, encodeKvmRegs(regs));
  return { ...h, vm, vcpu, run, ram, ramAddr, ramBase };
}

/** Little-endian bytes of a 32-bit value (for hand-assembled guests). */
export const le32 = (v: number): number[] => [
  v & 0xff,
  (v >>> 8) & 0xff,
  (v >>> 16) & 0xff,
  v >>> 24,
];
