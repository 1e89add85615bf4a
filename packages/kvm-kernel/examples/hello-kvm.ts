/**
 * The numbered path of every KVM tutorial, against the model: open /dev/kvm →
 * KVM_GET_API_VERSION → KVM_CREATE_VM → SET_USER_MEMORY_REGION → CREATE_VCPU → mmap →
 * SET_SREGS/REGS → the KVM_RUN loop. Raw request numbers and struct bytes through HostOs,
 * exactly what a VMM written in C does.
 *
 * The hardware is the tests' scripted vendor module (toyvt): kvm-kernel may not import a
 * vendor package. The same path on kvm_intel and VT-x is packages/vmx/examples/hello-vmx.ts.
 * Run: npx tsx --conditions=@glassvm/source packages/kvm-kernel/examples/hello-kvm.ts
 */
import { HostKernel, kvmModule } from "@glassvm/kvm-kernel";
import {
  decodeKvmSregs,
  emptyKvmRegs,
  encodeKvmRegs,
  encodeKvmSregs,
  encodeKvmUserspaceMemoryRegion,
  KVM_API_VERSION,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_EXIT_HLT,
  KVM_EXIT_IO,
  KVM_EXIT_IO_OUT,
  KVM_GET_API_VERSION,
  KVM_GET_SREGS,
  KVM_GET_VCPU_MMAP_SIZE,
  KVM_RUN,
  KVM_SET_REGS,
  KVM_SET_SREGS,
  KVM_SET_USER_MEMORY_REGION,
  KvmRun,
  kvmExitReasonName,
  O_CLOEXEC,
  O_RDWR,
  strerror,
} from "@glassvm/kvm-kernel/uapi";
import { toyModule } from "../test/toy-vendor.js";

/** The guest: mov esi,msg; mov ecx,len; mov edx,0xe9; rep outsb; hlt; msg: "Hello, world!\n". */
const MSG = "Hello, world!\n";
const GUEST = [
  [0xbe, 0x12, 0x10, 0x00, 0x00],
  [0xb9, MSG.length, 0x00, 0x00, 0x00],
  [0xba, 0xe9, 0x00, 0x00, 0x00],
  [0xf3, 0x6e],
  [0xf4],
  [...new TextEncoder().encode(MSG)],
].flat();

function must(r: number, what: string): number {
  if (r < 0) throw new Error(`${what}: ${strerror(r)}`);
  return r;
}

export function main(print: (s: string) => void = (s) => process.stdout.write(s)): number {
  // The host: a kernel with the vendor module loaded (modprobe), and a VMM process.
  const kernel = new HostKernel();
  must(kernel.loadModule(kvmModule(toyModule())), "modprobe");
  const os = kernel.spawn("hello-kvm");

  // 1. open /dev/kvm   2. KVM_GET_API_VERSION
  const kvm = must(os.open("/dev/kvm", O_RDWR | O_CLOEXEC), "open /dev/kvm");
  if (os.ioctl(kvm, KVM_GET_API_VERSION, 0) !== KVM_API_VERSION) throw new Error("KVM API");
  // 3. KVM_CREATE_VM
  const vm = must(os.ioctl(kvm, KVM_CREATE_VM, 0), "KVM_CREATE_VM");
  // 4. guest RAM is anonymous process memory, registered as memslot 0 at GPA 0
  const ramSize = 0x10_0000;
  const ram = must(os.mmap(-1, ramSize), "mmap");
  os.view(ram, ramSize).set(GUEST, 0x1000);
  const region = { slot: 0, flags: 0, guestPhysAddr: 0n, memorySize: BigInt(ramSize) };
  const mem = encodeKvmUserspaceMemoryRegion({ ...region, userspaceAddr: BigInt(ram) });
  must(os.ioctl(vm, KVM_SET_USER_MEMORY_REGION, mem), "KVM_SET_USER_MEMORY_REGION");
  // 5. KVM_CREATE_VCPU   6. mmap its kvm_run
  const vcpu = must(os.ioctl(vm, KVM_CREATE_VCPU, 0), "KVM_CREATE_VCPU");
  const size = must(os.ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), "KVM_GET_VCPU_MMAP_SIZE");
  const run = new KvmRun(os.view(must(os.mmap(vcpu, size), "mmap vcpu"), size));
  // 7. registers: a flat code segment, RIP at the guest's first byte
  const sb = new Uint8Array(312);
  must(os.ioctl(vcpu, KVM_GET_SREGS, sb), "KVM_GET_SREGS");
  const sregs = decodeKvmSregs(sb);
  sregs.cs = { ...sregs.cs, base: 0n, selector: 0 };
  must(os.ioctl(vcpu, KVM_SET_SREGS, encodeKvmSregs(sregs)), "KVM_SET_SREGS");
  const regs = { ...emptyKvmRegs(), rip: 0x1000n, rflags: 0x2n };
  must(os.ioctl(vcpu, KVM_SET_REGS, encodeKvmRegs(regs)), "KVM_SET_REGS");
  // 8. the run loop
  for (;;) {
    must(os.ioctl(vcpu, KVM_RUN, 0), "KVM_RUN");
    switch (run.exitReason) {
      case KVM_EXIT_IO:
        if (run.ioDirection === KVM_EXIT_IO_OUT && run.ioPort === 0xe9) {
          print(new TextDecoder().decode(run.ioData()));
        }
        break;
      case KVM_EXIT_HLT:
        print("KVM_EXIT_HLT\n");
        return 0;
      default:
        print(`unexpected exit ${kvmExitReasonName(run.exitReason)}\n`);
        return 1;
    }
  }
}

if (process.argv[1]?.endsWith("hello-kvm.ts")) process.exitCode = main();
