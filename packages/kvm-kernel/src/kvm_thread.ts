/**
 * KVM across threads (vCPUs in workers, `thread=multi`). In Linux one struct kvm is seen
 * by every thread of the VMM; in JavaScript each thread has its own copy of the kernel, so
 * a VM has a *home* — the main thread's kernel, where QEMU created it and where the
 * VM-wide in-kernel devices live (8259 pair, I/O APIC, PIT) — and one *shard* per vCPU
 * thread: a struct kvm that mirrors the home's (its memslots over the same guest RAM,
 * its settings, stubs of the other vCPUs over their shared APIC pages) and runs the one
 * vCPU its thread created.
 *
 * - The home mails each thread the VM at clone time and every VM ioctl that a shard must
 *   mirror (memslots, TSS/identity-map addresses, capabilities, irqchip and PIT creation).
 * - KVM_CREATE_VCPU on a shard asks the home (K_CREATE_VCPU) for the fd number and index,
 *   then builds the vCPU here over the task pages the thread got at clone — its APIC page,
 *   request and wake words are shared, so the home and other shards deliver interrupts to
 *   it with atomics and a futex wake (kvm_vcpu_kick), through a stub of it.
 * - The home's fd for that vCPU forwards every ioctl to the thread (V_IOCTL; served
 *   between KVM_RUNs) and maps the same kvm_run pages.
 * - A shard reaches the VM-wide devices with calls to the home (K_PIO, K_MMIO,
 *   K_PIC_READ_IRQ, K_IOAPIC_EOI); the PIC's INTR output is a shared word.
 */
import { kvmCoalescedMmio } from "./coalesced_mmio.js";
import { kvmPicReadIrq } from "./i8259.js";
import {
  IOAPIC_DEFAULT_BASE_ADDRESS,
  ioapicInRange,
  ioapicMmioRead,
  ioapicMmioWrite,
  kvmIoapicUpdateEoi,
} from "./ioapic.js";
import {
  anonInodeGetfd,
  File,
  type FileOperations,
  type HostProcess,
  type HostTask,
  TASK_CALL_DEFERRED,
} from "./kernel.js";
import {
  KVM_MAX_VCPU_IDS,
  type Kvm,
  type KvmHome,
  type KvmVcpu,
  KvmVcpuShared,
} from "./kvm_host.js";
import {
  type KvmGlobal,
  kvmCreateVm,
  kvmGetKvm,
  kvmGlobal,
  kvmPutKvm,
  kvmVmFops,
} from "./kvm_main.js";
import { kvmCreateRemoteVcpu } from "./lapic.js";
import {
  copyBackIoctl,
  type HostThreadProcess,
  ioctlArgBytes,
  K_CREATE_VCPU,
  K_IOAPIC_EOI,
  K_IOCTL,
  K_MMIO,
  K_PIC_READ_IRQ,
  K_PIO,
  postIoctl,
  servedIoctlArg,
  threadMailHandlers,
  V_IOCTL,
} from "./threads.js";
import { EBADF, EEXIST, EINVAL, ENXIO } from "./uapi/errno.js";
import type { IoctlArg } from "./uapi/hostos.js";
import { O_CLOEXEC, O_RDWR } from "./uapi/hostos.js";
import { _IOC_SIZE } from "./uapi/ioctl.js";
import {
  KVM_CHECK_EXTENSION,
  KVM_COALESCED_MMIO_PAGE_OFFSET,
  KVM_CREATE_IRQCHIP,
  KVM_CREATE_PIT2,
  KVM_CREATE_VCPU,
  KVM_ENABLE_CAP,
  KVM_REGISTER_COALESCED_MMIO,
  KVM_SET_BOOT_CPU_ID,
  KVM_SET_IDENTITY_MAP_ADDR,
  KVM_SET_TSS_ADDR,
  KVM_SET_USER_MEMORY_REGION,
  KVM_UNREGISTER_COALESCED_MMIO,
  PAGE_SIZE,
} from "./uapi/kvm.js";
import type { CallChannel } from "./uapi/thread.js";

/** The VM ioctls a shard replays so its struct kvm matches the home's. */
const MIRRORED = new Set<number>([
  KVM_REGISTER_COALESCED_MMIO,
  KVM_UNREGISTER_COALESCED_MMIO,
  KVM_SET_USER_MEMORY_REGION,
  KVM_SET_TSS_ADDR,
  KVM_SET_IDENTITY_MAP_ADDR,
  KVM_ENABLE_CAP,
  KVM_CREATE_IRQCHIP,
  KVM_CREATE_PIT2,
  KVM_SET_BOOT_CPU_ID,
]);

interface MirrorEntry {
  readonly request: number;
  readonly arg: number | Uint8Array;
}

/** Per home VM: its fd in the VMM, the mirror log, the PIC output word. */
interface HomeVm {
  fd: number;
  readonly log: MirrorEntry[];
  readonly tasks: Set<HostTask>;
}

const homeVms = new WeakMap<Kvm, HomeVm>();

function homeVm(kvm: Kvm): HomeVm {
  let h = homeVms.get(kvm);
  if (!h) {
    h = { fd: -1, log: [], tasks: new Set() };
    homeVms.set(kvm, h);
  }
  return h;
}

/** KVM_CREATE_VM gave the VMM `fd` for `kvm` (the number a thread's shard will use). */
export function kvmNoteVmFd(kvm: Kvm, fd: number): void {
  homeVm(kvm).fd = fd;
}

/**
 * After a successful VM ioctl at the home: a request the shards mirror is logged (for
 * threads cloned later) and mailed to the threads that have the VM.
 */
export function kvmMirrorVmIoctl(kvm: Kvm, request: number, arg: IoctlArg): void {
  if (!MIRRORED.has(request) || kvm.home) return;
  const h = homeVm(kvm);
  const size = _IOC_SIZE(request);
  let a: number | Uint8Array;
  if (arg instanceof Uint8Array) a = arg.slice(0, size || arg.length);
  else if (size > 0) {
    const b = kvm.mm.accessUser(Number(arg), size);
    if (!b) return;
    a = b.slice();
  } else a = Number(arg);
  const e: MirrorEntry = { request, arg: a };
  h.log.push(e);
  for (const t of h.tasks) t.mail({ kind: "kvm-vm-ioctl", fd: h.fd, request, arg: a });
}

/** clone() at the home: mail the new thread /dev/kvm, each VM, its log and its vCPUs. */
function kvmOnClone(g: KvmGlobal, proc: HostProcess, task: HostTask): void {
  for (const [fd, f] of proc.fds) {
    if (f.fops.name === "kvm") task.mail({ kind: "kvm-dev", fd });
  }
  for (const kvm of g.vms) {
    if (kvm.mm !== proc || kvm.dead) continue;
    const h = homeVm(kvm);
    if (h.fd < 0) continue;
    h.tasks.add(task);
    const c = kvmCoalescedMmio(kvm);
    task.mail({
      kind: "kvm-vm",
      fd: h.fd,
      picOutput: kvm.arch.vpic?.outputWord.buffer ?? null,
      coalescedLock: c.lock.buffer,
    });
    for (const e of h.log)
      task.mail({ kind: "kvm-vm-ioctl", fd: h.fd, request: e.request, arg: e.arg });
    for (const v of kvm.vcpus) mailVcpu(task, h.fd, v);
    if (c.ring) mailRing(task, h.fd, c.ring);
  }
}

/** The VM's coalesced MMIO ring page (the first vCPU's page 2), for a thread's shard. */
function mailRing(task: HostTask, vmFd: number, ring: Uint8Array): void {
  task.mail({
    kind: "kvm-coalesced-ring",
    fd: vmFd,
    buffer: ring.buffer,
    byteOffset: ring.byteOffset,
  });
}

function mailVcpu(task: HostTask, vmFd: number, v: KvmVcpu): void {
  task.mail({
    kind: "kvm-vcpu",
    fd: vmFd,
    id: v.vcpuId,
    idx: v.vcpuIdx,
    shared: v.shared.buffer,
  });
}

/** The home's file for a vCPU that runs on another thread: ioctls go there. */
function remoteVcpuFops(g: KvmGlobal, task: HostTask, vcpu: KvmVcpu): FileOperations {
  return {
    name: `kvm-vcpu:${vcpu.vcpuId}`,
    unlockedIoctl: (file, request, arg) => {
      const proc = file.owner;
      const bytes = ioctlArgBytes(proc, request, arg);
      if (typeof bytes === "number") return bytes;
      postIoctl(task.vcpuCall, V_IOCTL, 0, request, arg, bytes, task.words, task.bellIndex);
      const r = proc.waitCall(task.vcpuCall);
      copyBackIoctl(task.vcpuCall, request, bytes);
      return r;
    },
    mmap: (_file, length, pgoff) => {
      if (pgoff * PAGE_SIZE + length > task.runArea.byteLength) return -EINVAL;
      return new Uint8Array(task.runArea, pgoff * PAGE_SIZE, length);
    },
    release: () => kvmPutKvm(g, vcpu.kvm),
  };
}

/** K_CREATE_VCPU at the home: checks as kvm_vm_ioctl_create_vcpu, a stub, a forwarding fd. */
function homeCreateVcpu(g: KvmGlobal, proc: HostProcess, task: HostTask, ch: CallChannel): number {
  const f = proc.fds.get(ch.args[0]!);
  if (f?.fops.name !== "kvm-vm") return -EBADF;
  const kvm = f.privateData as Kvm;
  const id = ch.args[1]!;
  if (!Number.isInteger(id) || id < 0 || id >= KVM_MAX_VCPU_IDS) return -EINVAL;
  if (kvm.createdVcpus >= kvm.maxVcpus) return -EINVAL;
  if (kvm.vcpus.some((v) => v.vcpuId === id)) return -EEXIST;
  kvm.createdVcpus++;
  const idx = kvm.vcpus.length;
  const stub = kvmCreateRemoteVcpu(kvm, id, idx, new KvmVcpuShared(task.shared));
  kvmGetKvm(kvm);
  const fd = anonInodeGetfd(proc, remoteVcpuFops(g, task, stub), stub, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    kvm.usersCount--;
    kvm.vcpus.splice(kvm.vcpus.indexOf(stub), 1);
    kvm.createdVcpus--;
    return fd;
  }
  task.data.set("kvm", kvm);
  const h = homeVm(kvm);
  for (const t of h.tasks) if (t !== task) mailVcpu(t, h.fd, stub);
  if (idx === 0) {
    // The first vCPU's page 2 is the VM's coalesced MMIO ring, here and in every shard.
    const off = KVM_COALESCED_MMIO_PAGE_OFFSET * PAGE_SIZE;
    const ring = new Uint8Array(task.runArea, off, PAGE_SIZE);
    kvmCoalescedMmio(kvm).setRing(ring);
    for (const t of h.tasks) if (t !== task) mailRing(t, h.fd, ring);
  }
  ch.args[0] = idx;
  return fd;
}

/** A thread's call into the home kernel. */
function kvmTaskCall(g: KvmGlobal, proc: HostProcess, task: HostTask, ch: CallChannel): number {
  switch (ch.op) {
    case K_IOCTL: {
      const fd = ch.args[0]!;
      const request = ch.args[1]! >>> 0;
      const arg = servedIoctlArg(ch);
      const r = proc.ioctl(fd, request, arg);
      ch.reply(r, arg instanceof Uint8Array ? arg : null, task.words, task.bellIndex);
      return TASK_CALL_DEFERRED;
    }
    case K_CREATE_VCPU:
      return homeCreateVcpu(g, proc, task, ch);
  }
  const kvm = task.data.get("kvm") as Kvm | undefined;
  if (!kvm) return -ENXIO;
  switch (ch.op) {
    case K_PIO: {
      const [port, len, isWrite, value] = [ch.args[0]!, ch.args[1]!, ch.args[2]!, ch.args[3]!];
      const dev = kvm.arch.pioBus.find((d) => d.inRange(port));
      if (!dev) return -ENXIO;
      if (isWrite) dev.write(port, len, value);
      else ch.args[0] = dev.read(port, len);
      return 0;
    }
    case K_MMIO: {
      const [gpa, len, isWrite] = [ch.args[0]!, ch.args[1]!, ch.args[2]!];
      const ioapic = kvm.arch.vioapic;
      if (!ioapic || !ioapicInRange(ioapic, gpa)) return -ENXIO;
      const data = ch.data.subarray(0, len);
      if (isWrite) ioapicMmioWrite(ioapic, gpa, data);
      else ioapicMmioRead(ioapic, gpa, data);
      ch.reply(0, isWrite ? null : data, task.words, task.bellIndex);
      return TASK_CALL_DEFERRED;
    }
    case K_PIC_READ_IRQ:
      return kvm.arch.vpic ? kvmPicReadIrq(kvm) : -ENXIO;
    case K_IOAPIC_EOI: {
      const vcpu = kvm.vcpus.find((v) => v.vcpuId === ch.args[0]);
      const ioapic = kvm.arch.vioapic;
      if (!vcpu?.arch.apic || !ioapic) return -ENXIO;
      kvmIoapicUpdateEoi(ioapic, vcpu.arch.apic, ch.args[1]!, ch.args[2] !== 0);
      return 0;
    }
    default:
      return -EINVAL;
  }
}

/** The home's VM device timers (the PIT), run while the main thread waits. */
function kvmRunTimers(g: KvmGlobal, proc: HostProcess): bigint | null {
  let next: bigint | null = null;
  for (const kvm of g.vms) {
    if (kvm.mm !== proc || kvm.dead || kvm.home) continue;
    for (const t of kvm.arch.timerSources) {
      t.expire();
      const n = t.nextExpiry();
      if (n !== null && (next === null || n < next)) next = n;
    }
  }
  return next;
}

// ───────────────────────────── the shard (a vCPU thread) ─────────────────────────────

/** The home as a shard's VM reaches it. */
class ShardHome implements KvmHome {
  private readonly picWord: Int32Array | null;
  constructor(
    private readonly proc: HostThreadProcess,
    /** The VM's fd at the home. */
    readonly homeFd: number,
    picOutput: SharedArrayBuffer | null,
  ) {
    this.picWord = picOutput ? new Int32Array(picOutput) : null;
  }
  /** The I/O APIC's MMIO window (relocation is not mirrored). */
  readonly ioapicBase = IOAPIC_DEFAULT_BASE_ADDRESS;
  pio(port: number, len: number, isWrite: boolean, value: number): number {
    const r = this.proc.callHome(K_PIO, [port, len, isWrite ? 1 : 0, value]);
    return r < 0 ? 0xffff_ffff : this.proc.kernelCall.args[0]!;
  }
  mmio(gpa: number, len: number, isWrite: boolean, data: Uint8Array): void {
    this.proc.callHome(K_MMIO, [gpa, len, isWrite ? 1 : 0], isWrite ? data : null);
    if (!isWrite) data.set(this.proc.kernelCall.data.subarray(0, len));
  }
  picOutput(): boolean {
    return this.picWord !== null && Atomics.load(this.picWord, 0) !== 0;
  }
  picReadIrq(): number {
    return this.proc.callHome(K_PIC_READ_IRQ, []);
  }
  ioapicEoi(vcpuId: number, vector: number, level: boolean): void {
    this.proc.callHome(K_IOAPIC_EOI, [vcpuId, vector, level ? 1 : 0]);
  }
}

/** The shard VM a thread has for home VM fd `fd`. */
function shardVm(proc: HostThreadProcess, fd: number): Kvm | undefined {
  return proc.fds.get(fd)?.privateData as Kvm | undefined;
}

function registerShardMail(): void {
  threadMailHandlers.set("kvm-dev", (proc, msg) => {
    const fd = proc.open("/dev/kvm");
    if (fd >= 0) proc.moveFd(fd, msg.fd as number);
  });
  threadMailHandlers.set("kvm-vm", (proc, msg) => {
    const g = kvmGlobal(proc.kernel);
    if (!g) return;
    const kvm = kvmCreateVm(g, proc, 0);
    if (typeof kvm === "number") return;
    kvm.threaded = true;
    kvm.home = new ShardHome(proc, msg.fd as number, msg.picOutput as SharedArrayBuffer | null);
    kvmCoalescedMmio(kvm).lock = new Int32Array(msg.coalescedLock as SharedArrayBuffer);
    proc.installLocalFd(msg.fd as number, new File(kvmVmFops(g), kvm, proc, O_RDWR | O_CLOEXEC));
  });
  threadMailHandlers.set("kvm-vm-ioctl", (proc, msg) => {
    const fd = msg.fd as number;
    const arg = msg.arg as number | Uint8Array;
    const r = proc.ioctl(fd, msg.request as number, arg instanceof Uint8Array ? arg.slice() : arg);
    if (r < 0)
      proc.kernel.printk(
        `kvm: shard of VM fd ${fd}: mirrored ioctl 0x${(msg.request as number).toString(16)} failed (${r})`,
      );
  });
  threadMailHandlers.set("kvm-coalesced-ring", (proc, msg) => {
    const kvm = shardVm(proc, msg.fd as number);
    if (!kvm) return;
    const buf = msg.buffer as SharedArrayBuffer;
    kvmCoalescedMmio(kvm).setRing(new Uint8Array(buf, msg.byteOffset as number, PAGE_SIZE));
  });
  threadMailHandlers.set("kvm-vcpu", (proc, msg) => {
    const kvm = shardVm(proc, msg.fd as number);
    if (!kvm) return;
    const id = msg.id as number;
    if (kvm.vcpus.some((v) => v.vcpuId === id)) return;
    kvmCreateRemoteVcpu(
      kvm,
      id,
      msg.idx as number,
      new KvmVcpuShared(msg.shared as SharedArrayBuffer),
    );
  });
}

/**
 * KVM_CREATE_VCPU on a shard: the home gives the fd number and index, the vCPU is built
 * here over the thread's task pages and kvm_run area, at that fd.
 */
export function kvmShardCreateVcpu(
  kvm: Kvm,
  id: number,
  create: (idx: number, shared: KvmVcpuShared, runArea: SharedArrayBuffer) => KvmVcpu | number,
  fops: (vcpu: KvmVcpu) => FileOperations,
): number {
  const proc = kvm.mm as HostThreadProcess;
  const home = kvm.home as ShardHome;
  const fd = proc.callHome(K_CREATE_VCPU, [home.homeFd, id]);
  if (fd < 0) return fd;
  const idx = proc.kernelCall.args[0]!;
  const vcpu = create(idx, new KvmVcpuShared(proc.link.task), proc.link.runArea);
  if (typeof vcpu === "number") return vcpu;
  proc.installLocalFd(fd, new File(fops(vcpu), vcpu, proc, O_RDWR | O_CLOEXEC));
  proc.vcpuFd = fd;
  return fd;
}

/** What a shard's VM fd answers itself: what it mirrors, vCPU creation, capabilities. */
export function kvmShardLocalIoctl(request: number): boolean {
  return MIRRORED.has(request) || request === KVM_CREATE_VCPU || request === KVM_CHECK_EXTENSION;
}

/** A shard forwards VM ioctls it does not mirror to the home (KVM_IRQ_LINE …). */
export function kvmShardVmIoctl(kvm: Kvm, request: number, arg: IoctlArg): number {
  const proc = kvm.mm as HostThreadProcess;
  return proc.homeIoctl((kvm.home as ShardHome).homeFd, request, arg);
}

/** Set up KVM's share of threads on a kernel (kvm_init). */
export function kvmThreadsInit(g: KvmGlobal): void {
  const k = g.kernel;
  k.onClone = (proc, task) => kvmOnClone(g, proc, task);
  k.taskCall = (proc, task, ch) => kvmTaskCall(g, proc, task, ch);
  k.runTimers = (proc) => kvmRunTimers(g, proc);
  registerShardMail();
}
