/**
 * A VM with the in-kernel irqchip (KVM_CREATE_IRQCHIP) on the toy vendor, a virtual clock,
 * and N vCPUs: the BSP set up in flat mode at `entry`, the APs left as KVM created them.
 */
import {
  gfnToMemslot,
  HostKernel,
  type Kvm,
  type KvmVcpu,
  kvmGlobal,
  kvmModule,
  VirtualClock,
} from "../src/index.js";
import {
  decodeKvmSregs,
  emptyKvmRegs,
  encodeKvmRegs,
  encodeKvmSregs,
  encodeKvmUserspaceMemoryRegion,
  KVM_CREATE_IRQCHIP,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_GET_SREGS,
  KVM_GET_VCPU_MMAP_SIZE,
  KVM_RUN,
  KVM_SET_REGS,
  KVM_SET_SREGS,
  KVM_SET_USER_MEMORY_REGION,
  KvmRun,
  O_RDWR,
} from "../src/uapi/index.js";
import { toyModule } from "./toy-vendor.js";

export { gfnToMemslot };

export interface IrqchipVm {
  kernel: HostKernel;
  clock: VirtualClock;
  proc: ReturnType<HostKernel["spawn"]>;
  sys: number;
  vm: number;
  /** vCPU fds, index = vCPU id. */
  vcpus: number[];
  runs: KvmRun[];
  ram: Uint8Array;
  /** The kernel's vCPU objects (for register-level checks). */
  kv: KvmVcpu[];
  run(i: number): number;
  kvm(): Kvm;
}

/** A host kernel built with CONFIG_KVM_IOAPIC, the toy vendor loaded, a virtual clock. */
export function irqchipHost(): {
  kernel: HostKernel;
  clock: VirtualClock;
  proc: ReturnType<HostKernel["spawn"]>;
  sys: number;
} {
  const kernel = new HostKernel();
  kernel.config.CONFIG_KVM_IOAPIC = true;
  const clock = new VirtualClock();
  kernel.clock = clock;
  if (kernel.loadModule(kvmModule(toyModule())) !== 0) throw new Error("modprobe failed");
  const proc = kernel.spawn();
  const sys = proc.open("/dev/kvm", O_RDWR);
  return { kernel, clock, proc, sys };
}

export function irqchipVm(
  nvcpus: number,
  code: readonly (readonly [number, readonly number[]])[] = [],
  { entry = 0x1000, ramSize = 0x10_000, irqchip = true } = {},
): IrqchipVm {
  const { kernel, clock, proc, sys } = irqchipHost();
  const vm = proc.ioctl(sys, KVM_CREATE_VM, 0);
  const ramAddr = proc.mmap(-1, ramSize);
  const ram = proc.view(ramAddr, ramSize);
  for (const [addr, bytes] of code) ram.set(bytes, addr);
  const r = proc.ioctl(
    vm,
    KVM_SET_USER_MEMORY_REGION,
    encodeKvmUserspaceMemoryRegion({
      slot: 0,
      flags: 0,
      guestPhysAddr: 0n,
      memorySize: BigInt(ramSize),
      userspaceAddr: BigInt(ramAddr),
    }),
  );
  if (r !== 0) throw new Error(`SET_USER_MEMORY_REGION: ${r}`);
  if (irqchip && proc.ioctl(vm, KVM_CREATE_IRQCHIP, 0) !== 0) throw new Error("CREATE_IRQCHIP");
  const size = proc.ioctl(sys, KVM_GET_VCPU_MMAP_SIZE, 0);
  const vcpus: number[] = [];
  const runs: KvmRun[] = [];
  for (let i = 0; i < nvcpus; i++) {
    const fd = proc.ioctl(vm, KVM_CREATE_VCPU, i);
    if (fd < 0) throw new Error(`CREATE_VCPU ${i}: ${fd}`);
    vcpus.push(fd);
    runs.push(new KvmRun(proc.view(proc.mmap(fd, size), size)));
  }
  // The BSP: flat CS, RIP = entry.
  const sb = new Uint8Array(312);
  proc.ioctl(vcpus[0]!, KVM_GET_SREGS, sb);
  const sregs = decodeKvmSregs(sb);
  sregs.cs = { ...sregs.cs, base: 0n, selector: 0 };
  proc.ioctl(vcpus[0]!, KVM_SET_SREGS, encodeKvmSregs(sregs));
  const regs = emptyKvmRegs();
  regs.rip = BigInt(entry);
  regs.rflags = 2n;
  proc.ioctl(vcpus[0]!, KVM_SET_REGS, encodeKvmRegs(regs));
  const kvm = [...kvmGlobal(kernel)!.vms][0]!;
  return {
    kernel,
    clock,
    proc,
    sys,
    vm,
    vcpus,
    runs,
    ram,
    kv: kvm.vcpus,
    run: (i) => proc.ioctl(vcpus[i]!, KVM_RUN, 0),
    kvm: () => kvm,
  };
}

/** Little-endian bytes of a 32-bit value. */
export const le32 = (v: number): number[] => [
  v & 0xff,
  (v >>> 8) & 0xff,
  (v >>> 16) & 0xff,
  (v >>> 24) & 0xff,
];

// Toy-CPU assembly helpers (the encodings the toy vendor runs).
export const movEax = (v: number): number[] => [0xb8, ...le32(v)];
export const movMemEax = (addr: number): number[] => [0xa3, ...le32(addr)];
export const movEaxMem = (addr: number): number[] => [0xa1, ...le32(addr)];
/** mov eax, v; mov [addr], eax — one 32-bit MMIO store. */
export const store = (addr: number, v: number): number[] => [...movEax(v), ...movMemEax(addr)];
export const outImm = (port: number): number[] => [0xe6, port];
export const movAl = (v: number): number[] => [0xb0, v];
export const STI = [0xfb];
export const CLI = [0xfa];
export const HLT = [0xf4];
export const JMP_SELF = [0xeb, 0xfe];
