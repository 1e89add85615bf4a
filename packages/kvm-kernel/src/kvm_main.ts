/**
 * virt/kvm/kvm_main.c: /dev/kvm, the VM and vCPU files and their lifetimes, the generic
 * ioctls, memslots and dirty logging. The x86 half is in x86.ts.
 */

import {
  kvmCoalescedMmio,
  kvmVmIoctlRegisterCoalescedMmio,
  kvmVmIoctlUnregisterCoalescedMmio,
} from "./coalesced_mmio.js";
import type { File, FileOperations, HostKernel, HostProcess, KernelModule } from "./kernel.js";
import { anonInodeGetfd } from "./kernel.js";
import {
  KVM_ADDRESS_SPACE_NUM,
  KVM_MAX_GPA_BITS,
  KVM_MAX_VCPU_IDS,
  KVM_USER_MEM_SLOTS,
  Kvm,
  type KvmMemorySlot,
  KvmVcpu,
} from "./kvm_host.js";
import {
  kvmMirrorVmIoctl,
  kvmNoteVmFd,
  kvmShardCreateVcpu,
  kvmShardLocalIoctl,
  kvmShardVmIoctl,
  kvmThreadsInit,
} from "./kvm_thread.js";
import type { KvmVendorModule } from "./kvm-x86-ops.js";
import { kvmX86OpsMissing } from "./kvm-x86-ops.js";
import { EEXIST, EFAULT, EINVAL, EIO, ENOENT } from "./uapi/errno.js";
import type { IoctlArg } from "./uapi/hostos.js";
import { O_CLOEXEC, O_RDWR } from "./uapi/hostos.js";
import { _IOC_TYPE } from "./uapi/ioctl.js";
import {
  KVM_API_VERSION,
  KVM_CAP_CHECK_EXTENSION_VM,
  KVM_CAP_COALESCED_MMIO,
  KVM_CAP_COALESCED_PIO,
  KVM_CAP_DESTROY_MEMORY_REGION_WORKS,
  KVM_CAP_ENABLE_CAP_VM,
  KVM_CAP_INTERNAL_ERROR_DATA,
  KVM_CAP_JOIN_MEMORY_REGIONS_WORKS,
  KVM_CAP_MAX_VCPU_ID,
  KVM_CAP_MULTI_ADDRESS_SPACE,
  KVM_CAP_NR_MEMSLOTS,
  KVM_CAP_USER_MEMORY,
  KVM_CHECK_EXTENSION,
  KVM_COALESCED_MMIO_PAGE_OFFSET,
  KVM_COALESCED_MMIO_ZONE_SIZE,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_ENABLE_CAP,
  KVM_GET_API_VERSION,
  KVM_GET_DIRTY_LOG,
  KVM_GET_VCPU_MMAP_SIZE,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY,
  KVM_REGISTER_COALESCED_MMIO,
  KVM_RUN,
  KVM_SET_USER_MEMORY_REGION,
  KVM_UNREGISTER_COALESCED_MMIO,
  KVM_X86_DEFAULT_VM,
  KVMIO,
  PAGE_SIZE,
} from "./uapi/kvm.js";
import {
  decodeKvmDirtyLog,
  decodeKvmEnableCap,
  decodeKvmUserspaceMemoryRegion,
  KVM_DIRTY_LOG_SIZE,
  KVM_ENABLE_CAP_SIZE,
  KVM_USERSPACE_MEMORY_REGION_SIZE,
  type KvmUserspaceMemoryRegion,
} from "./uapi/structs.js";
import {
  kvmArchDevIoctl,
  kvmArchVcpuCreate,
  kvmArchVcpuDestroy,
  kvmArchVcpuIoctl,
  kvmArchVcpuIoctlRun,
  kvmArchVmIoctl,
  kvmVmIoctlCheckExtension,
} from "./x86.js";

const PAGE_SHIFT = 12;
/** TASK_SIZE_MAX on x86-64 (47-bit user space). */
const TASK_SIZE_MAX = 2 ** 47 - PAGE_SIZE;

/** The KVM core's state in one host kernel: the loaded vendor and every VM. */
export interface KvmGlobal {
  readonly kernel: HostKernel;
  readonly vendor: KvmVendorModule;
  readonly vms: Set<Kvm>;
  /** kvm_usage_count: VMs alive; virtualization is enabled on the CPUs while > 0. */
  usageCount: number;
  /** Open /dev/kvm files (they pin the module). */
  devOpen: number;
  nextVmId: number;
}

const globals = new WeakMap<HostKernel, KvmGlobal>();

/** The loaded KVM (kvm.ko + vendor) of a kernel, if any. */
export function kvmGlobal(kernel: HostKernel): KvmGlobal | undefined {
  return globals.get(kernel);
}

/** An integer argument passed by value (`_IO` ioctls); NaN for a buffer. */
function argValue(arg: IoctlArg): number {
  if (typeof arg === "number") return arg;
  if (typeof arg === "bigint")
    return arg > BigInt(Number.MAX_SAFE_INTEGER) ? Number.NaN : Number(arg);
  return Number.NaN;
}

/** Copy a struct in from user memory (copy_from_user), or -EFAULT. */
export function copyFromUser(proc: HostProcess, arg: IoctlArg, size: number): Uint8Array | number {
  const v = proc.userArg(arg, size);
  if (typeof v === "number") return v;
  return v.slice(0, size);
}

/** Copy bytes out to user memory (copy_to_user): 0 or -EFAULT. */
export function copyToUser(proc: HostProcess, arg: IoctlArg, bytes: Uint8Array): number {
  const v = proc.userArg(arg, bytes.length);
  if (typeof v === "number") return v;
  v.set(bytes);
  return 0;
}

// ───────────────────────────── module load ─────────────────────────────

/**
 * kvm_x86_vendor_init + kvm_init as one loadable module: `kernel.loadModule(kvmModule(x))`
 * is `modprobe kvm_intel`. The vendor modules (vmx, svm) export the result.
 */
export function kvmModule(vendor: KvmVendorModule): KernelModule {
  return {
    name: vendor.name,
    init: (kernel) => kvmX86VendorInit(kernel, vendor),
    exit: (kernel) => kvmExit(kernel),
    refcount: (kernel) => kvmModuleRefcount(kernel),
  } satisfies KernelModule;
}

/** kvm_x86_vendor_init: one vendor at a time, every required op present, hardware set up. */
export function kvmX86VendorInit(kernel: HostKernel, vendor: KvmVendorModule): number {
  const loaded = globals.get(kernel);
  if (loaded) {
    kernel.printk(`kvm: already loaded vendor module '${loaded.vendor.name}'`);
    return -EEXIST;
  }
  const missing = kvmX86OpsMissing(vendor.initOps.runtimeOps);
  if (missing.length > 0) {
    kernel.printk(`kvm: ${vendor.name} lacks required kvm_x86_ops: ${missing.join(", ")}`);
    return -EINVAL;
  }
  const r = vendor.initOps.hardwareSetup();
  if (r < 0) {
    kernel.printk(`kvm: ${vendor.name}: hardware_setup failed (${r})`);
    return r;
  }
  return kvmInit(kernel, vendor);
}

/** kvm_init: the misc device /dev/kvm appears. */
function kvmInit(kernel: HostKernel, vendor: KvmVendorModule): number {
  const g: KvmGlobal = { kernel, vendor, vms: new Set(), usageCount: 0, devOpen: 0, nextVmId: 0 };
  globals.set(kernel, g);
  kernel.miscRegister("/dev/kvm", kvmChardevOps(g));
  kvmThreadsInit(g);
  return 0;
}

function kvmExit(kernel: HostKernel): void {
  const g = globals.get(kernel);
  if (!g) return;
  kernel.miscDeregister("/dev/kvm");
  g.vendor.initOps.runtimeOps.hardwareUnsetup?.();
  globals.delete(kernel);
}

/** What keeps the module loaded: open /dev/kvm files and live VMs. */
export function kvmModuleRefcount(kernel: HostKernel): number {
  const g = globals.get(kernel);
  return g ? g.devOpen + g.vms.size : 0;
}

// ───────────────────────────── /dev/kvm ─────────────────────────────

function kvmChardevOps(g: KvmGlobal): FileOperations {
  return {
    name: "kvm",
    open: () => {
      g.devOpen++;
      return 0;
    },
    unlockedIoctl: (file, request, arg) => kvmDevIoctl(g, file, request, arg),
    release: () => {
      g.devOpen--;
    },
  };
}

/** kvm_dev_ioctl: the system fd's ioctls. */
export function kvmDevIoctl(g: KvmGlobal, file: File, request: number, arg: IoctlArg): number {
  switch (request) {
    case KVM_GET_API_VERSION:
      if (argValue(arg) !== 0) return -EINVAL;
      return KVM_API_VERSION;
    case KVM_CREATE_VM:
      return kvmDevIoctlCreateVm(g, file, argValue(arg));
    case KVM_CHECK_EXTENSION:
      return kvmVmIoctlCheckExtensionGeneric(g, null, argValue(arg));
    case KVM_GET_VCPU_MMAP_SIZE:
      if (argValue(arg) !== 0) return -EINVAL;
      // kvm_run + the PIO data page + the coalesced MMIO ring.
      return (KVM_COALESCED_MMIO_PAGE_OFFSET + 1) * PAGE_SIZE;
    default:
      return kvmArchDevIoctl(g, file, request, arg);
  }
}

/** kvm_dev_ioctl_create_vm: a "kvm-vm" anon-inode file around a new struct kvm. */
export function kvmDevIoctlCreateVm(g: KvmGlobal, file: File, type: number): number {
  const kvm = kvmCreateVm(g, file.owner, type);
  if (typeof kvm === "number") return kvm;
  const fd = anonInodeGetfd(file.owner, kvmVmFops(g), kvm, O_RDWR | O_CLOEXEC);
  if (fd < 0) kvmPutKvm(g, kvm);
  else kvmNoteVmFd(kvm, fd);
  return fd;
}

/** kvm_create_vm: the machine type, hardware enable for the first VM, kvm_arch_init_vm. */
export function kvmCreateVm(g: KvmGlobal, mm: HostProcess, type: number): Kvm | number {
  // kvm_arch_init_vm: only the default VM type exists here.
  if (type !== KVM_X86_DEFAULT_VM) return -EINVAL;
  const kvm = new Kvm(g.kernel, mm, g.vendor, g.nextVmId++);
  if (g.usageCount === 0) {
    // hardware_enable_all: VMXON / EFER.SVME on every CPU.
    const r = kvm.ops.hardwareEnable?.() ?? 0;
    if (r < 0) return r;
  }
  g.usageCount++;
  const r = kvm.ops.vmInit?.(kvm) ?? 0;
  if (r < 0) {
    kvmDisableVirtualization(g, kvm);
    return r;
  }
  g.vms.add(kvm);
  return kvm;
}

function kvmDisableVirtualization(g: KvmGlobal, kvm: Kvm): void {
  if (--g.usageCount === 0) kvm.ops.hardwareDisable?.();
}

/** kvm_get_kvm. */
export function kvmGetKvm(kvm: Kvm): void {
  kvm.usersCount++;
}

/** kvm_put_kvm: the last reference destroys the VM. */
export function kvmPutKvm(g: KvmGlobal, kvm: Kvm): void {
  if (--kvm.usersCount === 0) kvmDestroyVm(g, kvm);
}

/** kvm_destroy_vm: vCPUs freed through the vendor, memslots dropped, hardware disabled last. */
function kvmDestroyVm(g: KvmGlobal, kvm: Kvm): void {
  // A stub of a vCPU that runs on another thread has nothing of the vendor's here.
  for (const vcpu of kvm.vcpus) if (!vcpu.remote) kvmArchVcpuDestroy(vcpu);
  kvm.vcpus.length = 0;
  kvm.ops.vmDestroy?.(kvm);
  for (const as of kvm.memslots) as.slots.length = 0;
  kvm.dead = true;
  g.vms.delete(kvm);
  kvmDisableVirtualization(g, kvm);
}

/** kvm_vm_ioctl_check_extension_generic: the answers common to every arch. */
export function kvmVmIoctlCheckExtensionGeneric(
  g: KvmGlobal,
  kvm: Kvm | null,
  cap: number,
): number {
  switch (cap) {
    case KVM_CAP_USER_MEMORY:
    case KVM_CAP_DESTROY_MEMORY_REGION_WORKS:
    case KVM_CAP_JOIN_MEMORY_REGIONS_WORKS:
    case KVM_CAP_INTERNAL_ERROR_DATA:
    case KVM_CAP_CHECK_EXTENSION_VM:
    case KVM_CAP_ENABLE_CAP_VM:
      return 1;
    case KVM_CAP_COALESCED_MMIO:
      return KVM_COALESCED_MMIO_PAGE_OFFSET;
    case KVM_CAP_COALESCED_PIO:
      return 1;
    case KVM_CAP_NR_MEMSLOTS:
      return KVM_USER_MEM_SLOTS;
    case KVM_CAP_MULTI_ADDRESS_SPACE:
      return KVM_ADDRESS_SPACE_NUM;
    case KVM_CAP_MAX_VCPU_ID:
      return KVM_MAX_VCPU_IDS;
    default:
      return kvmVmIoctlCheckExtension(g, kvm, cap);
  }
}

// ───────────────────────────── the VM file ─────────────────────────────

export function kvmVmFops(g: KvmGlobal): FileOperations {
  return {
    name: "kvm-vm",
    unlockedIoctl: (file, request, arg) => kvmVmIoctl(g, file, request, arg),
    release: (file) => kvmPutKvm(g, file.privateData as Kvm),
  };
}

/** kvm_vm_ioctl. */
export function kvmVmIoctl(g: KvmGlobal, file: File, request: number, arg: IoctlArg): number {
  const kvm = file.privateData as Kvm;
  if (kvm.mm !== file.owner || kvm.dead) return -EIO;
  // A vCPU thread's shard of a VM answers what it mirrors; the rest is the home's.
  if (kvm.home && !kvmShardLocalIoctl(request)) return kvmShardVmIoctl(kvm, request, arg);
  const r = kvmVmIoctlDispatch(g, kvm, request, arg);
  if (r >= 0) kvmMirrorVmIoctl(kvm, request, arg);
  return r;
}

function kvmVmIoctlDispatch(g: KvmGlobal, kvm: Kvm, request: number, arg: IoctlArg): number {
  switch (request) {
    case KVM_CREATE_VCPU:
      return kvmVmIoctlCreateVcpu(g, kvm, argValue(arg));
    case KVM_ENABLE_CAP: {
      const b = copyFromUser(kvm.mm, arg, KVM_ENABLE_CAP_SIZE);
      if (typeof b === "number") return b;
      const cap = decodeKvmEnableCap(b);
      if (cap.flags !== 0) return -EINVAL;
      // kvm_vm_ioctl_enable_cap_generic: no generic cap is enableable yet, so every one goes
      // to the arch's kvm_vm_ioctl_enable_cap (KVM_CAP_EXCEPTION_PAYLOAD …).
      return kvmArchVmIoctl(kvm, request, arg);
    }
    case KVM_SET_USER_MEMORY_REGION: {
      const b = copyFromUser(kvm.mm, arg, KVM_USERSPACE_MEMORY_REGION_SIZE);
      if (typeof b === "number") return b;
      return kvmVmIoctlSetMemoryRegion(kvm, decodeKvmUserspaceMemoryRegion(b));
    }
    case KVM_GET_DIRTY_LOG: {
      const b = copyFromUser(kvm.mm, arg, KVM_DIRTY_LOG_SIZE);
      if (typeof b === "number") return b;
      const log = decodeKvmDirtyLog(b);
      return kvmVmIoctlGetDirtyLog(kvm, log.slot, log.dirtyBitmap);
    }
    case KVM_CHECK_EXTENSION:
      return kvmVmIoctlCheckExtensionGeneric(g, kvm, argValue(arg));
    case KVM_REGISTER_COALESCED_MMIO:
    case KVM_UNREGISTER_COALESCED_MMIO: {
      const b = copyFromUser(kvm.mm, arg, KVM_COALESCED_MMIO_ZONE_SIZE);
      if (typeof b === "number") return b;
      const dv = new DataView(b.buffer, b.byteOffset, KVM_COALESCED_MMIO_ZONE_SIZE);
      const zone = {
        addr: Number(dv.getBigUint64(0, true)),
        size: dv.getUint32(8, true),
        pio: dv.getUint32(12, true) !== 0,
      };
      return request === KVM_REGISTER_COALESCED_MMIO
        ? kvmVmIoctlRegisterCoalescedMmio(kvm, zone)
        : kvmVmIoctlUnregisterCoalescedMmio(kvm, zone);
    }
    default:
      return kvmArchVmIoctl(kvm, request, arg);
  }
}

/**
 * kvm_vm_ioctl_create_vcpu: id limits, the vendor's vcpu_create (through
 * kvm_arch_vcpu_create), the duplicate-id check, then a "kvm-vcpu" fd holding a VM reference.
 */
export function kvmVmIoctlCreateVcpu(g: KvmGlobal, kvm: Kvm, id: number): number {
  if (kvm.home) {
    // A vCPU thread's shard: the home numbers it, it is built and runs here.
    return kvmShardCreateVcpu(
      kvm,
      id,
      (idx, shared, runArea) => {
        const vcpu = new KvmVcpu(kvm, id, idx, shared, runArea);
        const r = kvmArchVcpuCreate(vcpu);
        if (r < 0) return r;
        kvm.createdVcpus++;
        kvmGetKvm(kvm);
        kvm.vcpus.push(vcpu);
        kvm.vcpus.sort((a, b) => a.vcpuIdx - b.vcpuIdx);
        kvmCoalescedMmioSetRing(kvm, vcpu);
        return vcpu;
      },
      (vcpu) => vcpuFops(g, vcpu),
    );
  }
  if (!Number.isInteger(id) || id < 0 || id >= KVM_MAX_VCPU_IDS) return -EINVAL;
  if (kvm.createdVcpus >= kvm.maxVcpus) return -EINVAL;
  let r = kvm.ops.vcpuPrecreate?.(kvm) ?? 0;
  if (r < 0) return r;
  kvm.createdVcpus++;
  const vcpu = new KvmVcpu(kvm, id, kvm.vcpus.length);
  r = kvmArchVcpuCreate(vcpu);
  if (r < 0) {
    kvm.createdVcpus--;
    return r;
  }
  if (kvm.vcpus.some((v) => v.vcpuId === id)) {
    kvmArchVcpuDestroy(vcpu);
    kvm.createdVcpus--;
    return -EEXIST;
  }
  kvmGetKvm(kvm);
  const fd = createVcpuFd(g, vcpu);
  if (fd < 0) {
    kvm.usersCount--;
    kvmArchVcpuDestroy(vcpu);
    kvm.createdVcpus--;
    return fd;
  }
  kvm.vcpus.push(vcpu);
  kvmCoalescedMmioSetRing(kvm, vcpu);
  return fd;
}

/** The VM's coalesced MMIO ring is page KVM_COALESCED_MMIO_PAGE_OFFSET of its first vCPU. */
function kvmCoalescedMmioSetRing(kvm: Kvm, vcpu: KvmVcpu): void {
  if (vcpu.vcpuIdx !== 0) return;
  const off = KVM_COALESCED_MMIO_PAGE_OFFSET * PAGE_SIZE;
  kvmCoalescedMmio(kvm).setRing(vcpu.runArea.subarray(off, off + PAGE_SIZE));
}

/** create_vcpu_fd: the anon inode "kvm-vcpu:<id>". */
function createVcpuFd(g: KvmGlobal, vcpu: KvmVcpu): number {
  return anonInodeGetfd(vcpu.kvm.mm, vcpuFops(g, vcpu), vcpu, O_RDWR | O_CLOEXEC);
}

/** kvm_vcpu_fops. */
function vcpuFops(g: KvmGlobal, vcpu: KvmVcpu): FileOperations {
  return {
    name: `kvm-vcpu:${vcpu.vcpuId}`,
    unlockedIoctl: (file, request, arg) => kvmVcpuIoctl(file, request, arg),
    mmap: (_file, length, pgoff) => kvmVcpuMmap(vcpu, length, pgoff),
    release: () => kvmPutKvm(g, vcpu.kvm),
  };
}

/**
 * kvm_vcpu_mmap / kvm_vcpu_fault: page 0 is kvm_run, page 1 the PIO data, page 2 the
 * coalesced MMIO ring. The mapping is the vCPU's own buffer, never a copy.
 */
function kvmVcpuMmap(vcpu: KvmVcpu, length: number, pgoff: number): Uint8Array | number {
  const pages = length / PAGE_SIZE;
  if (pgoff + pages > KVM_COALESCED_MMIO_PAGE_OFFSET + 1) return -EINVAL;
  return vcpu.runArea.subarray(pgoff * PAGE_SIZE, (pgoff + pages) * PAGE_SIZE);
}

/** kvm_vcpu_ioctl: KVM_RUN here, everything else in kvm_arch_vcpu_ioctl. */
export function kvmVcpuIoctl(file: File, request: number, arg: IoctlArg): number {
  const vcpu = file.privateData as KvmVcpu;
  const kvm = vcpu.kvm;
  if (kvm.mm !== file.owner || kvm.dead) return -EIO;
  if (_IOC_TYPE(request) !== KVMIO) return -EINVAL;
  if (request === KVM_RUN) {
    if (argValue(arg) !== 0) return -EINVAL;
    const r = kvmArchVcpuIoctlRun(vcpu);
    const tp = kvm.kernel.trace.kvm_userspace_exit;
    if (tp.enabled) tp.emit({ vcpu_id: vcpu.vcpuId, reason: vcpu.run.exitReason, errno: r });
    return r;
  }
  return kvmArchVcpuIoctl(vcpu, request, arg);
}

// ───────────────────────────── memslots ─────────────────────────────

/** id_to_memslot. */
export function idToMemslot(kvm: Kvm, asId: number, id: number): KvmMemorySlot | undefined {
  return kvm.memslots[asId]?.slots.find((s) => s.id === id);
}

/** gfn_to_memslot (address space 0): the slot holding guest frame `gfn`, if any. */
export function gfnToMemslot(kvm: Kvm, gfn: number, asId = 0): KvmMemorySlot | undefined {
  const slots = kvm.memslots[asId]?.slots ?? [];
  let lo = 0;
  let hi = slots.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = slots[mid]!;
    if (gfn < s.baseGfn) hi = mid - 1;
    else if (gfn >= s.baseGfn + s.npages) lo = mid + 1;
    else return s;
  }
  return undefined;
}

/** kvm_vm_ioctl_set_memory_region → kvm_set_memory_region: create, move, flags, delete. */
export function kvmVmIoctlSetMemoryRegion(kvm: Kvm, mem: KvmUserspaceMemoryRegion): number {
  // check_memory_region_flags: x86 has read-only memory.
  if ((mem.flags & ~(KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY)) !== 0) return -EINVAL;
  const asId = mem.slot >>> 16;
  const id = mem.slot & 0xffff;
  const size = mem.memorySize;
  const gpa = mem.guestPhysAddr;
  const uaddr = mem.userspaceAddr;
  const pageMask = BigInt(PAGE_SIZE - 1);
  if ((size & pageMask) !== 0n) return -EINVAL;
  if ((gpa & pageMask) !== 0n) return -EINVAL;
  // The VMM's pages must be page aligned and below TASK_SIZE (access_ok).
  if ((uaddr & pageMask) !== 0n || uaddr + size > BigInt(TASK_SIZE_MAX)) return -EINVAL;
  if (asId >= KVM_ADDRESS_SPACE_NUM || id >= KVM_USER_MEM_SLOTS) return -EINVAL;
  if (gpa + size > 0xffff_ffff_ffff_ffffn) return -EINVAL;
  const as = kvm.memslots[asId]!;
  const old = as.slots.find((s) => s.id === id);
  if (size === 0n) {
    if (!old) return -EINVAL;
    return kvmSetMemslot(kvm, asId, old, null);
  }
  const baseGfn = Number(gpa >> BigInt(PAGE_SHIFT));
  const npages = Number(size >> BigInt(PAGE_SHIFT));
  let change: "create" | "move" | "flags";
  if (!old) {
    change = "create";
  } else {
    if (Number(uaddr) !== old.userspaceAddr || npages !== old.npages) return -EINVAL;
    if (((mem.flags ^ old.flags) & KVM_MEM_READONLY) !== 0) return -EINVAL;
    if (baseGfn !== old.baseGfn) change = "move";
    else if (mem.flags !== old.flags) change = "flags";
    else return 0;
  }
  if (change !== "flags") {
    for (const s of as.slots) {
      if (s.id === id) continue;
      if (baseGfn < s.baseGfn + s.npages && s.baseGfn < baseGfn + npages) return -EEXIST;
    }
    // kvm_arch_prepare_memory_region: the slot must fit the guest-physical address width.
    if (baseGfn + npages - 1 > 2 ** (KVM_MAX_GPA_BITS - PAGE_SHIFT) - 1) return -EINVAL;
  }
  const bytes = kvm.mm.accessUser(Number(uaddr), npages * PAGE_SIZE);
  // Linux would accept unmapped memory and fail the first guest access with -EFAULT from
  // KVM_RUN; the model needs the pages now (one mapping must back the whole slot).
  if (!bytes) return -EFAULT;
  const logDirty = (mem.flags & KVM_MEM_LOG_DIRTY_PAGES) !== 0;
  const slot: KvmMemorySlot = {
    id,
    asId,
    baseGfn,
    npages,
    userspaceAddr: Number(uaddr),
    flags: mem.flags,
    bytes,
    // kvm_prepare_memory_region: logging on in old and new (a move or a flags change)
    // keeps the old bitmap, so no dirty bit is lost.
    dirtyBitmap: logDirty ? (old?.dirtyBitmap ?? new Uint8Array(Math.ceil(npages / 64) * 8)) : null,
  };
  const tp = kvm.kernel.trace.kvm_set_user_memory_region;
  if (tp.enabled) {
    tp.emit({
      slot: mem.slot,
      flags: mem.flags,
      guest_phys_addr: gpa,
      memory_size: size,
      userspace_addr: uaddr,
    });
  }
  return kvmSetMemslot(kvm, asId, old ?? null, slot);
}

/** kvm_set_memslot: swap the slot in, bump the generation, and tell the MMU. */
function kvmSetMemslot(
  kvm: Kvm,
  asId: number,
  old: KvmMemorySlot | null,
  next: KvmMemorySlot | null,
): number {
  const as = kvm.memslots[asId]!;
  if (old) as.slots.splice(as.slots.indexOf(old), 1);
  if (next) {
    as.slots.push(next);
    as.slots.sort((a, b) => a.baseGfn - b.baseGfn);
  }
  as.generation++;
  kvm.mmuInvalidateSeq++;
  kvm.stat.memslot_updates++;
  // kvm_arch_flush_shadow_memslot / commit: every vCPU drops translations of the old map.
  kvm.stat.remote_tlb_flush++;
  return 0;
}

/**
 * kvm_vm_ioctl_get_dirty_log (kvm_get_dirty_log_protect): copy the slot's bitmap to the
 * user pointer, then clear it and write-protect again (the vendors re-arm tracking when
 * mmuInvalidateSeq moves). Nothing is cleared when the copy would fault.
 */
export function kvmVmIoctlGetDirtyLog(kvm: Kvm, slotArg: number, bitmapPtr: bigint): number {
  const asId = slotArg >>> 16;
  const id = slotArg & 0xffff;
  if (asId >= KVM_ADDRESS_SPACE_NUM || id >= KVM_USER_MEM_SLOTS) return -EINVAL;
  const slot = idToMemslot(kvm, asId, id);
  if (!slot?.dirtyBitmap) return -ENOENT;
  const n = slot.dirtyBitmap.length;
  const dst = kvm.mm.accessUser(Number(bitmapPtr), n);
  if (!dst) return -EFAULT;
  dst.set(slot.dirtyBitmap);
  let any = false;
  for (let i = 0; i < n; i++) {
    if (slot.dirtyBitmap[i] !== 0) any = true;
  }
  slot.dirtyBitmap.fill(0);
  if (any) {
    kvm.mmuInvalidateSeq++;
    kvm.stat.remote_tlb_flush++;
  }
  kvm.stat.dirty_log_reads++;
  return 0;
}

/** mark_page_dirty_in_slot. */
export function markPageDirtyInSlot(slot: KvmMemorySlot, gfn: number): void {
  const bm = slot.dirtyBitmap;
  if (!bm) return;
  const rel = gfn - slot.baseGfn;
  bm[rel >> 3]! |= 1 << (rel & 7);
}

/** mark_page_dirty. */
export function markPageDirty(kvm: Kvm, gfn: number): void {
  const slot = gfnToMemslot(kvm, gfn);
  if (slot) markPageDirtyInSlot(slot, gfn);
}

/**
 * kvm_vcpu_read_guest: guest-physical bytes into `dst`. Returns 0, or -EFAULT when part of
 * the range has no memslot.
 */
export function kvmReadGuest(kvm: Kvm, gpa: number, dst: Uint8Array): number {
  let done = 0;
  while (done < dst.length) {
    const a = gpa + done;
    const gfn = Math.floor(a / PAGE_SIZE);
    const slot = gfnToMemslot(kvm, gfn);
    if (!slot) return -EFAULT;
    const off = a - slot.baseGfn * PAGE_SIZE;
    const n = Math.min(dst.length - done, PAGE_SIZE - (a % PAGE_SIZE));
    dst.set(slot.bytes.subarray(off, off + n), done);
    done += n;
  }
  return 0;
}

/** kvm_vcpu_write_guest: 0, or -EFAULT (no slot, or a read-only slot). Marks pages dirty. */
export function kvmWriteGuest(kvm: Kvm, gpa: number, src: Uint8Array): number {
  let done = 0;
  while (done < src.length) {
    const a = gpa + done;
    const gfn = Math.floor(a / PAGE_SIZE);
    const slot = gfnToMemslot(kvm, gfn);
    if (!slot || (slot.flags & KVM_MEM_READONLY) !== 0) return -EFAULT;
    const off = a - slot.baseGfn * PAGE_SIZE;
    const n = Math.min(src.length - done, PAGE_SIZE - (a % PAGE_SIZE));
    slot.bytes.set(src.subarray(done, done + n), off);
    markPageDirtyInSlot(slot, gfn);
    done += n;
  }
  return 0;
}
