/**
 * The classic kvm-hello-world VMM, without QEMU: a process that talks to /dev/kvm with raw
 * ioctl request numbers and struct bytes — open, KVM_GET_API_VERSION, KVM_CREATE_VM,
 * guest memory from an anonymous mmap registered with KVM_SET_USER_MEMORY_REGION,
 * KVM_CREATE_VCPU, the kvm_run mapping, KVM_SET_SREGS/KVM_SET_REGS for one of four modes,
 * then the KVM_RUN loop that prints what the guest writes to port 0xE9 until it halts,
 * and checks that the guest stored 42 at guest-physical 0x400.
 *
 * It uses two layers only — @glassvm/kvm-kernel (the host kernel with kvm.ko) and
 * @glassvm/vmx (kvm_intel.ko on the VT-x model) — the way the C program uses Linux.
 * The guest is a flat payload entered at guest-physical 0 with the mode already set up
 * here (guests/bin/payload-<mode>.bin from this repository's guest suite).
 *
 * Run: npx tsx --conditions=@glassvm/source packages/vmx/examples/kvm-hello-world.ts long
 */
import { HostKernel, kvmModule } from "@glassvm/kvm-kernel";
import {
  decodeKvmSregs,
  emptyKvmRegs,
  encodeKvmRegs,
  encodeKvmSregs,
  encodeKvmUserspaceMemoryRegion,
  type HostOs,
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
  KVM_SREGS_SIZE,
  KvmRun,
  type KvmSegment,
  type KvmSregs,
  kvmExitReasonName,
  O_CLOEXEC,
  O_RDWR,
} from "@glassvm/kvm-kernel/uapi";
import { kvmIntelModule } from "@glassvm/vmx";

export type HelloMode = "real" | "protected" | "paged" | "long";
export const HELLO_MODES: readonly HelloMode[] = ["real", "protected", "paged", "long"];

/** Guest memory, as the C program sizes it: 2 MiB from guest-physical 0. */
const MEM_SIZE = 0x20_0000;

// CR0, CR4, EFER and page-table bits the four set-ups use.
const CR0_PE = 1n;
const CR0_MP = 1n << 1n;
const CR0_ET = 1n << 4n;
const CR0_NE = 1n << 5n;
const CR0_WP = 1n << 16n;
const CR0_AM = 1n << 18n;
const CR0_PG = 1n << 31n;
const CR4_PSE = 1n << 4n;
const CR4_PAE = 1n << 5n;
const EFER_LME = 1n << 8n;
const EFER_LMA = 1n << 10n;
const PTE_PRESENT = 1;
const PTE_RW = 1 << 1;
const PTE_USER = 1 << 2;
const PTE_PS = 1 << 7;

interface Vm {
  readonly os: HostOs;
  readonly vmFd: number;
  readonly mem: Uint8Array;
}

interface Vcpu {
  readonly fd: number;
  readonly run: KvmRun;
}

function check(ret: number, what: string): number {
  if (ret < 0) throw new Error(`${what}: errno ${-ret}`);
  return ret;
}

/** vm_init: /dev/kvm, the API version, a VM, its memory. */
function vmInit(os: HostOs, memSize: number): Vm {
  const sysFd = check(os.open("/dev/kvm", O_RDWR | O_CLOEXEC), "open /dev/kvm");
  const api = check(os.ioctl(sysFd, KVM_GET_API_VERSION, 0), "KVM_GET_API_VERSION");
  if (api !== 12) throw new Error(`Got KVM api version ${api}, expected 12`);
  const vmFd = check(os.ioctl(sysFd, KVM_CREATE_VM, 0), "KVM_CREATE_VM");
  const addr = check(os.mmap(-1, memSize), "mmap mem");
  const region = encodeKvmUserspaceMemoryRegion({
    slot: 0,
    flags: 0,
    guestPhysAddr: 0n,
    memorySize: BigInt(memSize),
    userspaceAddr: BigInt(addr),
  });
  check(os.ioctl(vmFd, KVM_SET_USER_MEMORY_REGION, region), "KVM_SET_USER_MEMORY_REGION");
  return { os, vmFd, mem: os.view(addr, memSize) };
}

/** vcpu_init: a vCPU and its kvm_run page. */
function vcpuInit(vm: Vm): Vcpu {
  const { os } = vm;
  const fd = check(os.ioctl(vm.vmFd, KVM_CREATE_VCPU, 0), "KVM_CREATE_VCPU");
  const sysFd = check(os.open("/dev/kvm", O_RDWR | O_CLOEXEC), "open /dev/kvm");
  const size = check(os.ioctl(sysFd, KVM_GET_VCPU_MMAP_SIZE, 0), "KVM_GET_VCPU_MMAP_SIZE");
  os.close(sysFd);
  const runAddr = check(os.mmap(fd, size), "mmap kvm_run");
  return { fd, run: new KvmRun(os.view(runAddr, size)) };
}

function getSregs(vm: Vm, vcpu: Vcpu): KvmSregs {
  const buf = new Uint8Array(KVM_SREGS_SIZE);
  check(vm.os.ioctl(vcpu.fd, KVM_GET_SREGS, buf), "KVM_GET_SREGS");
  return decodeKvmSregs(buf);
}

/** setup_protected_mode: flat 4 GiB code (selector 8) and data (selector 16) segments, PE. */
function setupProtectedMode(s: KvmSregs): KvmSregs {
  const code: KvmSegment = {
    base: 0n,
    limit: 0xffff_ffff,
    selector: 1 << 3,
    type: 11, // execute, read, accessed
    present: 1,
    dpl: 0,
    db: 1,
    s: 1,
    l: 0,
    g: 1,
    avl: 0,
    unusable: 0,
  };
  const data: KvmSegment = { ...code, type: 3, selector: 2 << 3 }; // read/write, accessed
  return { ...s, cr0: s.cr0 | CR0_PE, cs: code, ds: data, es: data, fs: data, gs: data, ss: data };
}

/** setup_paged_32bit_mode: one 4 MiB page (PSE) mapping 0 at guest-physical 0x2000. */
function setupPaged32(vm: Vm, s: KvmSregs): KvmSregs {
  const pdAddr = 0x2000;
  new DataView(vm.mem.buffer, vm.mem.byteOffset).setUint32(
    pdAddr,
    PTE_PRESENT | PTE_RW | PTE_USER | PTE_PS,
    true,
  );
  const p = setupProtectedMode(s);
  return {
    ...p,
    cr3: BigInt(pdAddr),
    cr4: CR4_PSE,
    cr0: CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG,
    efer: 0n,
  };
}

/** setup_long_mode: PML4 → PDPT → PD with one 2 MiB page, PAE, LME|LMA, a 64-bit CS. */
function setupLongMode(vm: Vm, s: KvmSregs): KvmSregs {
  const pml4 = 0x2000;
  const pdpt = 0x3000;
  const pd = 0x4000;
  const v = new DataView(vm.mem.buffer, vm.mem.byteOffset);
  v.setUint32(pml4, PTE_PRESENT | PTE_RW | PTE_USER | pdpt, true);
  v.setUint32(pdpt, PTE_PRESENT | PTE_RW | PTE_USER | pd, true);
  v.setUint32(pd, PTE_PRESENT | PTE_RW | PTE_USER | PTE_PS, true);
  const p = setupProtectedMode(s);
  return {
    ...p,
    cr3: BigInt(pml4),
    cr4: CR4_PAE,
    cr0: CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG,
    efer: EFER_LME | EFER_LMA,
    cs: { ...p.cs, l: 1, db: 0 },
  };
}

/** What one run saw. */
export interface HelloResult {
  readonly output: string;
  /** The 32-bit value at guest-physical 0x400 after the guest halted. */
  readonly at0x400: number;
  readonly kvmRuns: number;
}

/**
 * run_<mode>_mode + run_vm: set the mode, RIP 0, RSP at the top of memory, then KVM_RUN
 * until KVM_EXIT_HLT; OUTs to 0xE9 are the guest's output, other OUTs are ignored.
 */
export function kvmHelloWorld(mode: HelloMode, payload: Uint8Array): HelloResult {
  const kernel = new HostKernel();
  kernel.loadModule(kvmModule(kvmIntelModule(kernel)));
  const os = kernel.spawn("kvm-hello-world");
  const vm = vmInit(os, MEM_SIZE);
  const vcpu = vcpuInit(vm);

  let sregs = getSregs(vm, vcpu);
  if (mode === "real") sregs = { ...sregs, cs: { ...sregs.cs, selector: 0, base: 0n } };
  else if (mode === "protected") sregs = setupProtectedMode(sregs);
  else if (mode === "paged") sregs = setupPaged32(vm, sregs);
  else sregs = setupLongMode(vm, sregs);
  check(os.ioctl(vcpu.fd, KVM_SET_SREGS, encodeKvmSregs(sregs)), "KVM_SET_SREGS");
  const regs = { ...emptyKvmRegs(), rflags: 2n, rip: 0n, rsp: BigInt(MEM_SIZE) };
  check(os.ioctl(vcpu.fd, KVM_SET_REGS, encodeKvmRegs(regs)), "KVM_SET_REGS");
  vm.mem.set(payload, 0);

  let output = "";
  let kvmRuns = 0;
  for (;;) {
    check(os.ioctl(vcpu.fd, KVM_RUN, 0), "KVM_RUN");
    kvmRuns++;
    const run = vcpu.run;
    if (run.exitReason === KVM_EXIT_HLT) break;
    if (run.exitReason === KVM_EXIT_IO && run.ioDirection === KVM_EXIT_IO_OUT) {
      if (run.ioPort === 0xe9) {
        const at = Number(run.ioDataOffset);
        const bytes = run.bytes.subarray(at, at + run.ioSize * run.ioCount);
        output += String.fromCharCode(...bytes);
      }
      continue;
    }
    throw new Error(
      `Got exit_reason ${run.exitReason} (${kvmExitReasonName(run.exitReason)}), expected KVM_EXIT_HLT (5)`,
    );
  }
  const at0x400 = new DataView(vm.mem.buffer, vm.mem.byteOffset).getUint32(0x400, true);
  return { output, at0x400, kvmRuns };
}

async function main(): Promise<void> {
  const { readFileSync } = await import("node:fs");
  const mode = (process.argv[2] ?? "long") as HelloMode;
  if (!HELLO_MODES.includes(mode)) {
    console.error(`usage: kvm-hello-world.ts [${HELLO_MODES.join("|")}] [payload.bin]`);
    process.exit(1);
  }
  const file =
    process.argv[3] ?? new URL(`../../../guests/bin/payload-${mode}.bin`, import.meta.url);
  const r = kvmHelloWorld(mode, new Uint8Array(readFileSync(file)));
  process.stdout.write(r.output);
  console.log(`Testing ${mode} mode: 0x400 = ${r.at0x400} (${r.kvmRuns} KVM_RUNs)`);
  if (r.at0x400 !== 42) process.exit(1);
}

if (import.meta.url === `file://${process.argv[1]}`) void main();
