/**
 * The /dev/kvm ABI ioctl by ioctl, through HostOs only: raw request numbers, argument
 * bytes built with the uapi codecs (or placed in process memory), and the -errno results
 * Linux gives — the module and device, the system, VM and vCPU ioctls, the vCPU mmap
 * area, fd and mapping lifetimes, and processes.
 */
import { describe, expect, it } from "vitest";
import { HostKernel, kvmGlobal, kvmModule } from "../src/index.js";
import {
  _IO,
  _IOC_SIZE,
  decodeKvmCpuid2,
  decodeKvmDebugregs,
  decodeKvmFpu,
  decodeKvmMpState,
  decodeKvmMsrList,
  decodeKvmMsrs,
  decodeKvmRegs,
  decodeKvmSregs,
  decodeKvmVcpuEvents,
  E2BIG,
  EBADF,
  EBUSY,
  EEXIST,
  EFAULT,
  EINTR,
  EINVAL,
  EMFILE,
  ENODEV,
  ENOENT,
  ENOTTY,
  ENXIO,
  emptyKvmFpu,
  emptyKvmVcpuEvents,
  encodeKvmCpuid2,
  encodeKvmDebugregs,
  encodeKvmDirtyLog,
  encodeKvmEnableCap,
  encodeKvmFpu,
  encodeKvmGuestDebug,
  encodeKvmInterrupt,
  encodeKvmIrqLevel,
  encodeKvmMpState,
  encodeKvmMsrList,
  encodeKvmMsrs,
  encodeKvmRegs,
  encodeKvmSignalMask,
  encodeKvmSregs,
  encodeKvmUserspaceMemoryRegion,
  encodeKvmVcpuEvents,
  KVM_CAP_COALESCED_MMIO,
  KVM_CAP_EXCEPTION_PAYLOAD,
  KVM_CAP_IMMEDIATE_EXIT,
  KVM_CAP_MAX_VCPU_ID,
  KVM_CAP_MAX_VCPUS,
  KVM_CAP_NR_MEMSLOTS,
  KVM_CAP_READONLY_MEM,
  KVM_CAP_SYNC_REGS,
  KVM_CAP_USER_MEMORY,
  KVM_CHECK_EXTENSION,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_ENABLE_CAP,
  KVM_EXIT_HLT,
  KVM_EXIT_INTR,
  KVM_EXIT_IO,
  KVM_EXIT_MMIO,
  KVM_GET_API_VERSION,
  KVM_GET_CPUID2,
  KVM_GET_DEBUGREGS,
  KVM_GET_DIRTY_LOG,
  KVM_GET_FPU,
  KVM_GET_MP_STATE,
  KVM_GET_MSR_FEATURE_INDEX_LIST,
  KVM_GET_MSR_INDEX_LIST,
  KVM_GET_MSRS,
  KVM_GET_REGS,
  KVM_GET_SREGS,
  KVM_GET_SUPPORTED_CPUID,
  KVM_GET_VCPU_EVENTS,
  KVM_GET_VCPU_MMAP_SIZE,
  KVM_GUESTDBG_ENABLE,
  KVM_GUESTDBG_SINGLESTEP,
  KVM_INTERRUPT,
  KVM_IRQ_LINE,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY,
  KVM_MP_STATE_HALTED,
  KVM_MP_STATE_RUNNABLE,
  KVM_RUN,
  KVM_SET_BOOT_CPU_ID,
  KVM_SET_CPUID2,
  KVM_SET_DEBUGREGS,
  KVM_SET_FPU,
  KVM_SET_GUEST_DEBUG,
  KVM_SET_IDENTITY_MAP_ADDR,
  KVM_SET_MP_STATE,
  KVM_SET_MSRS,
  KVM_SET_REGS,
  KVM_SET_SIGNAL_MASK,
  KVM_SET_SREGS,
  KVM_SET_TSS_ADDR,
  KVM_SET_USER_MEMORY_REGION,
  KVM_SET_VCPU_EVENTS,
  KVM_SYNC_X86_REGS,
  KVM_VCPUEVENT_VALID_NMI_PENDING,
  KVM_VCPUEVENT_VALID_PAYLOAD,
  KVM_VCPUEVENT_VALID_SHADOW,
  KVM_VCPUEVENT_VALID_SMM,
  type KvmRegs,
  KvmRun,
  type KvmSregs,
  type KvmUserspaceMemoryRegion,
  type KvmVcpuEvents,
  kvmCpuid2Nent,
  kvmMsrListNmsrs,
  O_RDWR,
  PAGE_SIZE,
} from "../src/uapi/index.js";
import { type Guest, guest, type Host, host, le32 } from "./setup.js";
import { TOY_CPUID, toyModule } from "./toy-vendor.js";

// ───────────────────────────── helpers ─────────────────────────────

const MSR_IA32_TSC = 0x10;
const MSR_IA32_UCODE_REV = 0x8b;
const MSR_IA32_ARCH_CAPABILITIES = 0x10a;
const MSR_IA32_SYSENTER_CS = 0x174;
const MSR_IA32_CR_PAT = 0x277;
const MSR_EFER = 0xc000_0080;
/** An address no mapping ever gets (mmap hands out addresses below 0x7f0000000000). */
const UNMAPPED = 0x7f00_0010_0000;

type P = Host["proc"];

/** An anonymous mapping: its address and the process's own view of it. */
function anon(proc: P, size: number): { addr: number; bytes: Uint8Array } {
  const addr = proc.mmap(-1, size);
  expect(addr).toBeGreaterThan(0);
  return { addr, bytes: proc.view(addr, size) };
}

function region(
  proc: P,
  vm: number,
  r: Partial<KvmUserspaceMemoryRegion> & { size: number | bigint; uaddr: number | bigint },
): number {
  return proc.ioctl(
    vm,
    KVM_SET_USER_MEMORY_REGION,
    encodeKvmUserspaceMemoryRegion({
      slot: r.slot ?? 0,
      flags: r.flags ?? 0,
      guestPhysAddr: r.guestPhysAddr ?? 0n,
      memorySize: BigInt(r.size),
      userspaceAddr: BigInt(r.uaddr),
    }),
  );
}

/** A VM fd and a vCPU fd on a fresh host. */
function vmAndVcpu(): Host & { vm: number; vcpu: number } {
  const h = host();
  const vm = h.proc.ioctl(h.sys, KVM_CREATE_VM, 0);
  expect(vm).toBeGreaterThanOrEqual(0);
  const vcpu = h.proc.ioctl(vm, KVM_CREATE_VCPU, 0);
  expect(vcpu).toBeGreaterThanOrEqual(0);
  return { ...h, vm, vcpu };
}

function getRegs(proc: P, vcpu: number): KvmRegs {
  const b = new Uint8Array(144);
  expect(proc.ioctl(vcpu, KVM_GET_REGS, b)).toBe(0);
  return decodeKvmRegs(b);
}

function getSregs(proc: P, vcpu: number): KvmSregs {
  const b = new Uint8Array(312);
  expect(proc.ioctl(vcpu, KVM_GET_SREGS, b)).toBe(0);
  return decodeKvmSregs(b);
}

function getEvents(proc: P, vcpu: number): KvmVcpuEvents {
  const b = new Uint8Array(64);
  expect(proc.ioctl(vcpu, KVM_GET_VCPU_EVENTS, b)).toBe(0);
  return decodeKvmVcpuEvents(b);
}

function enableCap(proc: P, fd: number, cap: number, arg0: bigint, flags = 0): number {
  return proc.ioctl(
    fd,
    KVM_ENABLE_CAP,
    encodeKvmEnableCap({ cap, flags, args: [arg0, 0n, 0n, 0n] }),
  );
}

const u64 = (v: bigint): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
};

const sigmask = (len: number, lo = 0): Uint8Array => {
  const b = new Uint8Array(4 + Math.max(len, 8));
  const dv = new DataView(b.buffer);
  dv.setUint32(0, len, true);
  dv.setUint32(4, lo, true);
  return b;
};

const runOf = (g: Guest): number => g.proc.ioctl(g.vcpu, KVM_RUN, 0);

// ───────────────────────────── module and device ─────────────────────────────

describe("the module and /dev/kvm", () => {
  it("open(/dev/kvm) is ENOENT until a vendor module is loaded", () => {
    const kernel = new HostKernel();
    const proc = kernel.spawn();
    expect(proc.open("/dev/kvm", O_RDWR)).toBe(-ENOENT);
    expect(kernel.loadModule(kvmModule(toyModule()))).toBe(0);
    expect(proc.open("/dev/kvm", O_RDWR)).toBeGreaterThanOrEqual(0);
  });

  it("a second vendor module is EEXIST, whatever its name", () => {
    const h = host();
    expect(h.kernel.loadModule(kvmModule(toyModule()))).toBe(-EEXIST);
    const other = { ...toyModule(), name: "othervt" };
    expect(h.kernel.loadModule(kvmModule(other))).toBe(-EEXIST);
    expect(h.kernel.log.join("\n")).toContain("already loaded vendor module 'toyvt'");
    expect([...h.kernel.modules.keys()]).toEqual(["toyvt"]);
  });

  it("rmmod is EBUSY while /dev/kvm is open or a VM lives, and 0 once all is closed", () => {
    const { kernel, proc, sys } = host();
    expect(kernel.unloadModule("toyvt")).toBe(-EBUSY);
    expect(kernel.log.at(-1)).toBe("rmmod: ERROR: Module toyvt is in use");
    const vm = proc.ioctl(sys, KVM_CREATE_VM, 0);
    expect(proc.close(sys)).toBe(0);
    // The VM fd alone pins the module.
    expect(kernel.unloadModule("toyvt")).toBe(-EBUSY);
    expect(proc.close(vm)).toBe(0);
    expect(kernel.unloadModule("toyvt")).toBe(0);
    expect(kernel.unloadModule("toyvt")).toBe(-ENOENT);
    expect(proc.open("/dev/kvm", O_RDWR)).toBe(-ENOENT);
    // And it can be loaded again.
    expect(kernel.loadModule(kvmModule(toyModule()))).toBe(0);
    expect(proc.open("/dev/kvm", O_RDWR)).toBeGreaterThanOrEqual(0);
  });
});

// ───────────────────────────── system fd ─────────────────────────────

describe("system ioctls (/dev/kvm)", () => {
  it("KVM_GET_API_VERSION is 12; a non-zero argument is EINVAL", () => {
    const { proc, sys } = host();
    expect(proc.ioctl(sys, KVM_GET_API_VERSION, 0)).toBe(12);
    expect(proc.ioctl(sys, KVM_GET_API_VERSION)).toBe(12);
    expect(proc.ioctl(sys, KVM_GET_API_VERSION, 1)).toBe(-EINVAL);
    expect(proc.ioctl(sys, KVM_GET_API_VERSION, 0x1000n)).toBe(-EINVAL);
  });

  it("KVM_CREATE_VM: type 0 gives a VM fd, any other machine type is EINVAL", () => {
    const { proc, sys } = host();
    expect(proc.ioctl(sys, KVM_CREATE_VM, 1)).toBe(-EINVAL);
    expect(proc.ioctl(sys, KVM_CREATE_VM, 4)).toBe(-EINVAL);
    const vm = proc.ioctl(sys, KVM_CREATE_VM, 0);
    expect(vm).toBe(sys + 1);
    // A second VM from the same /dev/kvm fd is a separate fd.
    expect(proc.ioctl(sys, KVM_CREATE_VM, 0)).toBe(vm + 1);
  });

  it("KVM_CHECK_EXTENSION answers the same on the system and VM fds", () => {
    const { proc, sys } = host();
    const vm = proc.ioctl(sys, KVM_CREATE_VM, 0);
    const caps: [number, number][] = [
      [KVM_CAP_USER_MEMORY, 1],
      [KVM_CAP_NR_MEMSLOTS, 32764],
      [KVM_CAP_MAX_VCPU_ID, 4096],
      [KVM_CAP_MAX_VCPUS, 1024],
      [KVM_CAP_COALESCED_MMIO, 2],
      [KVM_CAP_IMMEDIATE_EXIT, 1],
      [KVM_CAP_READONLY_MEM, 1],
      [KVM_CAP_SYNC_REGS, 7],
      [9999, 0],
      [0x7fff_ffff, 0],
    ];
    for (const fd of [sys, vm]) {
      for (const [cap, value] of caps) {
        expect([cap, proc.ioctl(fd, KVM_CHECK_EXTENSION, cap)]).toEqual([cap, value]);
      }
    }
  });

  it("KVM_GET_VCPU_MMAP_SIZE is three pages; a non-zero argument is EINVAL", () => {
    const { proc, sys } = host();
    expect(proc.ioctl(sys, KVM_GET_VCPU_MMAP_SIZE, 0)).toBe(12288);
    expect(proc.ioctl(sys, KVM_GET_VCPU_MMAP_SIZE, 7)).toBe(-EINVAL);
  });

  it("KVM_GET_SUPPORTED_CPUID: E2BIG without writing nent back, then every leaf", () => {
    const { proc, sys } = host();
    for (const nent of [0, 1, 2]) {
      const small = encodeKvmCpuid2([], nent);
      expect(proc.ioctl(sys, KVM_GET_SUPPORTED_CPUID, small)).toBe(-E2BIG);
      expect(kvmCpuid2Nent(small)).toBe(nent);
    }
    // The struct in process memory, as C passes it; nent above 256 is clamped, not refused.
    const { addr, bytes } = anon(proc, 8 + 40 * 256);
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(0, 1000, true);
    expect(proc.ioctl(sys, KVM_GET_SUPPORTED_CPUID, addr)).toBe(0);
    const entries = decodeKvmCpuid2(bytes);
    expect(entries.length).toBe(TOY_CPUID.length + 2);
    const sig = entries.find((e) => e.function === 0x4000_0000);
    expect(sig).toBeDefined();
    const text = new Uint8Array(12);
    const dv = new DataView(text.buffer);
    dv.setUint32(0, sig!.ebx, true);
    dv.setUint32(4, sig!.ecx, true);
    dv.setUint32(8, sig!.edx, true);
    expect(new TextDecoder().decode(text)).toBe("KVMKVMKVM\0\0\0");
    expect(entries.some((e) => e.function === 0x4000_0001)).toBe(true);
    // Room in the header but not for the entries: EFAULT.
    const header = new Uint8Array(8);
    new DataView(header.buffer).setUint32(0, 256, true);
    expect(proc.ioctl(sys, KVM_GET_SUPPORTED_CPUID, header)).toBe(-EFAULT);
  });

  it("KVM_GET_MSR_INDEX_LIST: E2BIG writes the count back; then the list", () => {
    const { proc, sys } = host();
    const probe = encodeKvmMsrList(0);
    expect(proc.ioctl(sys, KVM_GET_MSR_INDEX_LIST, probe)).toBe(-E2BIG);
    const n = kvmMsrListNmsrs(probe);
    expect(n).toBeGreaterThan(3);
    const short = encodeKvmMsrList(n - 1);
    expect(proc.ioctl(sys, KVM_GET_MSR_INDEX_LIST, short)).toBe(-E2BIG);
    expect(kvmMsrListNmsrs(short)).toBe(n);
    const buf = encodeKvmMsrList(n);
    expect(proc.ioctl(sys, KVM_GET_MSR_INDEX_LIST, buf)).toBe(0);
    const list = decodeKvmMsrList(buf);
    expect(list).toHaveLength(n);
    expect(list).toEqual(
      expect.arrayContaining([MSR_IA32_SYSENTER_CS, MSR_IA32_CR_PAT, MSR_IA32_TSC]),
    );
    expect(new Set(list).size).toBe(n);
  });

  it("KVM_GET_MSR_FEATURE_INDEX_LIST and KVM_GET_MSRS of feature MSRs on the system fd", () => {
    const { proc, sys } = host();
    const probe = encodeKvmMsrList(0);
    expect(proc.ioctl(sys, KVM_GET_MSR_FEATURE_INDEX_LIST, probe)).toBe(-E2BIG);
    const buf = encodeKvmMsrList(kvmMsrListNmsrs(probe));
    expect(proc.ioctl(sys, KVM_GET_MSR_FEATURE_INDEX_LIST, buf)).toBe(0);
    expect(decodeKvmMsrList(buf)).toEqual(
      expect.arrayContaining([MSR_IA32_ARCH_CAPABILITIES, MSR_IA32_UCODE_REV]),
    );

    const msrs = encodeKvmMsrs([
      { index: MSR_IA32_ARCH_CAPABILITIES, data: 0xffn },
      { index: MSR_IA32_UCODE_REV, data: 0n },
    ]);
    expect(proc.ioctl(sys, KVM_GET_MSRS, msrs)).toBe(2);
    expect(decodeKvmMsrs(msrs)).toEqual([
      { index: MSR_IA32_ARCH_CAPABILITIES, data: 0n },
      { index: MSR_IA32_UCODE_REV, data: 0x1_0000_0000n },
    ]);
    // A non-feature MSR stops the walk: the count read before it.
    const mixed = encodeKvmMsrs([
      { index: MSR_IA32_UCODE_REV, data: 0n },
      { index: MSR_EFER, data: 0n },
      { index: MSR_IA32_ARCH_CAPABILITIES, data: 0n },
    ]);
    expect(proc.ioctl(sys, KVM_GET_MSRS, mixed)).toBe(1);
  });

  it("unknown requests on the system fd are EINVAL (VM and vCPU ioctls included)", () => {
    const { proc, sys } = host();
    expect(proc.ioctl(sys, _IO(0xae, 0x3f), 0)).toBe(-EINVAL);
    expect(proc.ioctl(sys, 0xdead_beef, 0)).toBe(-EINVAL);
    expect(proc.ioctl(sys, KVM_CREATE_VCPU, 0)).toBe(-EINVAL);
    expect(proc.ioctl(sys, KVM_RUN, 0)).toBe(-EINVAL);
    expect(proc.ioctl(sys, KVM_GET_REGS, new Uint8Array(144))).toBe(-EINVAL);
  });
});

// ───────────────────────────── memory slots ─────────────────────────────

describe("KVM_SET_USER_MEMORY_REGION", () => {
  function vmWithRam(pages = 16) {
    const h = host();
    const vm = h.proc.ioctl(h.sys, KVM_CREATE_VM, 0);
    const ram = anon(h.proc, pages * PAGE_SIZE);
    return { ...h, vm, ram, size: pages * PAGE_SIZE };
  }

  it("adds a slot; an overlapping one in the same address space is EEXIST", () => {
    const { proc, vm, ram, size } = vmWithRam();
    expect(region(proc, vm, { slot: 0, size, uaddr: ram.addr })).toBe(0);
    // Setting exactly the same again changes nothing and succeeds.
    expect(region(proc, vm, { slot: 0, size, uaddr: ram.addr })).toBe(0);
    const other = anon(proc, 2 * PAGE_SIZE);
    const at = (gpa: number) =>
      region(proc, vm, {
        slot: 1,
        guestPhysAddr: BigInt(gpa),
        size: 2 * PAGE_SIZE,
        uaddr: other.addr,
      });
    expect(at(0)).toBe(-EEXIST);
    expect(at(size - PAGE_SIZE)).toBe(-EEXIST);
    expect(at(size)).toBe(0);
    // The SMM address space has its own map: the same range there is fine.
    expect(region(proc, vm, { slot: 0 | (1 << 16), size, uaddr: ram.addr })).toBe(0);
  });

  it("rejects unaligned addresses and sizes, unknown flags, bad slot ids and address spaces", () => {
    const { proc, vm, ram, size } = vmWithRam();
    const bad: [string, Parameters<typeof region>[2]][] = [
      ["gpa not page aligned", { guestPhysAddr: 0x800n, size, uaddr: ram.addr }],
      ["size not a page multiple", { size: 0x1800, uaddr: ram.addr }],
      ["userspace_addr not page aligned", { size: PAGE_SIZE, uaddr: ram.addr + 0x10 }],
      ["KVM_MEM_GUEST_MEMFD (region2 only)", { flags: 4, size, uaddr: ram.addr }],
      ["flag bit 15", { flags: 0x8000, size, uaddr: ram.addr }],
      ["flag bit 16", { flags: 0x1_0000, size, uaddr: ram.addr }],
      ["slot id 32764", { slot: 32764, size, uaddr: ram.addr }],
      ["slot id 0xffff", { slot: 0xffff, size, uaddr: ram.addr }],
      ["address space 2", { slot: 2 << 16, size, uaddr: ram.addr }],
      ["gpa above 52 bits", { guestPhysAddr: 1n << 52n, size, uaddr: ram.addr }],
      ["gpa range wraps", { guestPhysAddr: 0xffff_ffff_ffff_f000n, size, uaddr: ram.addr }],
      ["userspace_addr beyond TASK_SIZE", { size, uaddr: 1n << 47n }],
    ];
    for (const [why, r] of bad) expect([why, region(proc, vm, r)]).toEqual([why, -EINVAL]);
    // The highest slot id is fine.
    expect(region(proc, vm, { slot: 32763, size, uaddr: ram.addr })).toBe(0);
  });

  it("deleting a slot that does not exist is EINVAL", () => {
    const { proc, vm, ram } = vmWithRam();
    expect(region(proc, vm, { slot: 5, size: 0, uaddr: ram.addr })).toBe(-EINVAL);
  });

  it("an existing slot cannot change size, userspace_addr or READONLY", () => {
    const { proc, vm, ram, size } = vmWithRam();
    expect(region(proc, vm, { slot: 0, size: size / 2, uaddr: ram.addr })).toBe(0);
    expect(region(proc, vm, { slot: 0, size, uaddr: ram.addr })).toBe(-EINVAL);
    expect(region(proc, vm, { slot: 0, size: size / 2, uaddr: ram.addr + PAGE_SIZE })).toBe(
      -EINVAL,
    );
    const ro = { slot: 0, flags: KVM_MEM_READONLY, size: size / 2, uaddr: ram.addr };
    expect(region(proc, vm, ro)).toBe(-EINVAL);
    // A flags-only change (dirty logging on) is allowed.
    expect(region(proc, vm, { ...ro, flags: KVM_MEM_LOG_DIRTY_PAGES })).toBe(0);
  });

  it("memory not mapped in the process is EFAULT", () => {
    const { proc, vm, ram, size } = vmWithRam();
    expect(region(proc, vm, { size: PAGE_SIZE, uaddr: UNMAPPED })).toBe(-EFAULT);
    // Mapped at the start but not for the whole size.
    expect(region(proc, vm, { size: size + PAGE_SIZE, uaddr: ram.addr })).toBe(-EFAULT);
    // The struct itself at an unmapped address.
    expect(proc.ioctl(vm, KVM_SET_USER_MEMORY_REGION, UNMAPPED)).toBe(-EFAULT);
    expect(proc.ioctl(vm, KVM_SET_USER_MEMORY_REGION, new Uint8Array(31))).toBe(-EFAULT);
  });

  it("moving a slot (new gpa): the guest sees the RAM at the new place only", () => {
    // mov eax,[0x30000]; out 0x80,eax; mov eax,[0x20000]; hlt
    const g = guest([0xa1, ...le32(0x3_0000), 0xe7, 0x80, 0xa1, ...le32(0x2_0000), 0xf4]);
    const data = anon(g.proc, PAGE_SIZE);
    data.bytes.set(le32(0xcafe_babe));
    const slot1 = { slot: 1, size: PAGE_SIZE, uaddr: data.addr };
    expect(region(g.proc, g.vm, { ...slot1, guestPhysAddr: 0x2_0000n })).toBe(0);
    // Onto slot 0's range: EEXIST, nothing moves.
    expect(region(g.proc, g.vm, { ...slot1, guestPhysAddr: 0x8000n })).toBe(-EEXIST);
    expect(region(g.proc, g.vm, { ...slot1, guestPhysAddr: 0x3_0000n })).toBe(0);

    expect(runOf(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_IO);
    expect([...g.run.ioData()]).toEqual(le32(0xcafe_babe));
    // The old place is no RAM any more: an MMIO read.
    expect(runOf(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_MMIO);
    expect(g.run.mmioPhysAddr).toBe(0x2_0000n);
    expect(g.run.mmioIsWrite).toBe(0);
    g.run.mmioData.set(le32(0x1122_3344));
    expect(runOf(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_HLT);
    expect(getRegs(g.proc, g.vcpu).rax).toBe(0x1122_3344n);
  });

  it("delete then re-add with another size is how a VMM resizes a slot", () => {
    const { proc, vm, ram } = vmWithRam(4);
    expect(region(proc, vm, { slot: 3, size: 2 * PAGE_SIZE, uaddr: ram.addr })).toBe(0);
    expect(region(proc, vm, { slot: 3, size: 4 * PAGE_SIZE, uaddr: ram.addr })).toBe(-EINVAL);
    expect(region(proc, vm, { slot: 3, size: 0, uaddr: ram.addr })).toBe(0);
    expect(region(proc, vm, { slot: 3, size: 0, uaddr: ram.addr })).toBe(-EINVAL);
    expect(region(proc, vm, { slot: 3, size: 4 * PAGE_SIZE, uaddr: ram.addr })).toBe(0);
  });
});

// ───────────────────────────── dirty log ─────────────────────────────

describe("KVM_GET_DIRTY_LOG", () => {
  /** A guest that writes pages 0 and 2 of a 4-page slot 1 at 0x20000, then halts. */
  function dirtyGuest(flags = KVM_MEM_LOG_DIRTY_PAGES) {
    // mov al,0x55; mov [0x20000],al; mov [0x22000],al; hlt
    const g = guest([0xb0, 0x55, 0xa2, ...le32(0x2_0000), 0xa2, ...le32(0x2_2000), 0xf4]);
    const data = anon(g.proc, 4 * PAGE_SIZE);
    const slot = { slot: 1, guestPhysAddr: 0x2_0000n, size: 4 * PAGE_SIZE, uaddr: data.addr };
    expect(region(g.proc, g.vm, { ...slot, flags })).toBe(0);
    const bitmap = anon(g.proc, PAGE_SIZE);
    const log = (slotArg: number, ptr: number | bigint = bitmap.addr) =>
      g.proc.ioctl(
        g.vm,
        KVM_GET_DIRTY_LOG,
        encodeKvmDirtyLog({ slot: slotArg, dirtyBitmap: BigInt(ptr) }),
      );
    return { g, data, slot, bitmap, log };
  }

  it("a slot without KVM_MEM_LOG_DIRTY_PAGES is ENOENT; bad slot ids are EINVAL", () => {
    const { log } = dirtyGuest(0);
    expect(log(1)).toBe(-ENOENT);
    expect(log(0)).toBe(-ENOENT);
    // A valid id with no slot behind it.
    expect(log(9)).toBe(-ENOENT);
    expect(log(32764)).toBe(-EINVAL);
    expect(log(2 << 16)).toBe(-EINVAL);
  });

  it("sets the bits of the pages the guest wrote and clears them once read", () => {
    const { g, data, bitmap, log } = dirtyGuest();
    expect(log(1)).toBe(0);
    expect(bitmap.bytes[0]).toBe(0);
    expect(runOf(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_HLT);
    expect([data.bytes[0], data.bytes[2 * PAGE_SIZE]]).toEqual([0x55, 0x55]);
    expect(log(1)).toBe(0);
    expect(bitmap.bytes[0]).toBe(0b101);
    expect(log(1)).toBe(0);
    expect(bitmap.bytes[0]).toBe(0);
  });

  it("an unmapped bitmap pointer is EFAULT and no dirty bit is lost", () => {
    const { g, bitmap, log } = dirtyGuest();
    expect(runOf(g)).toBe(0);
    expect(log(1, UNMAPPED)).toBe(-EFAULT);
    expect(log(1, 0)).toBe(-EFAULT);
    // The kvm_dirty_log struct itself unmapped.
    expect(g.proc.ioctl(g.vm, KVM_GET_DIRTY_LOG, UNMAPPED)).toBe(-EFAULT);
    expect(log(1)).toBe(0);
    expect(bitmap.bytes[0]).toBe(0b101);
  });

  it("a flags-only change turns logging on; a move keeps the dirty bits", () => {
    const { g, slot, bitmap, log } = dirtyGuest(0);
    expect(log(1)).toBe(-ENOENT);
    expect(region(g.proc, g.vm, { ...slot, flags: KVM_MEM_LOG_DIRTY_PAGES })).toBe(0);
    expect(runOf(g)).toBe(0);
    const moved = { ...slot, guestPhysAddr: 0x4_0000n, flags: KVM_MEM_LOG_DIRTY_PAGES };
    expect(region(g.proc, g.vm, moved)).toBe(0);
    expect(log(1)).toBe(0);
    expect(bitmap.bytes[0]).toBe(0b101);
    // Logging off again: the slot has no bitmap.
    expect(region(g.proc, g.vm, { ...moved, flags: 0 })).toBe(0);
    expect(log(1)).toBe(-ENOENT);
  });
});

// ───────────────────────────── other VM ioctls ─────────────────────────────

describe("VM ioctls", () => {
  it("KVM_SET_TSS_ADDR accepts addresses up to 0xffffd000 (three pages below 4 GiB)", () => {
    const { proc, sys } = host();
    const vm = proc.ioctl(sys, KVM_CREATE_VM, 0);
    expect(proc.ioctl(vm, KVM_SET_TSS_ADDR, 0xfffb_d000)).toBe(0);
    expect(proc.ioctl(vm, KVM_SET_TSS_ADDR, 0xffff_d000)).toBe(0);
    expect(proc.ioctl(vm, KVM_SET_TSS_ADDR, 0xffff_d001)).toBe(-EINVAL);
    expect(proc.ioctl(vm, KVM_SET_TSS_ADDR, 0xffff_f000)).toBe(-EINVAL);
    expect(proc.ioctl(vm, KVM_SET_TSS_ADDR, 2 ** 32)).toBe(-EINVAL);
  });

  it("KVM_SET_IDENTITY_MAP_ADDR works until a vCPU exists, then is EINVAL", () => {
    const { proc, sys } = host();
    const vm = proc.ioctl(sys, KVM_CREATE_VM, 0);
    expect(proc.ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, u64(0xfeff_c000n))).toBe(0);
    expect(proc.ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, UNMAPPED)).toBe(-EFAULT);
    expect(proc.ioctl(vm, KVM_CREATE_VCPU, 0)).toBeGreaterThanOrEqual(0);
    expect(proc.ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, u64(0xfeff_c000n))).toBe(-EINVAL);
  });

  it("KVM_SET_BOOT_CPU_ID works until a vCPU exists, then is EBUSY", () => {
    const { proc, sys } = host();
    const vm = proc.ioctl(sys, KVM_CREATE_VM, 0);
    expect(proc.ioctl(vm, KVM_SET_BOOT_CPU_ID, 1)).toBe(0);
    expect(proc.ioctl(vm, KVM_SET_BOOT_CPU_ID, 4097)).toBe(-EINVAL);
    expect(proc.ioctl(vm, KVM_CREATE_VCPU, 1)).toBeGreaterThanOrEqual(0);
    expect(proc.ioctl(vm, KVM_SET_BOOT_CPU_ID, 0)).toBe(-EBUSY);
  });

  it("KVM_CREATE_VCPU: id ≥ 4096 is EINVAL; a duplicate id is EEXIST after create+free", () => {
    const { proc, sys, mod } = host();
    const vm = proc.ioctl(sys, KVM_CREATE_VM, 0);
    expect(proc.ioctl(vm, KVM_CREATE_VCPU, 4096)).toBe(-EINVAL);
    expect(proc.ioctl(vm, KVM_CREATE_VCPU, -1)).toBe(-EINVAL);
    expect(mod.ops.counters).toEqual({ created: 0, freed: 0 });
    expect(proc.ioctl(vm, KVM_CREATE_VCPU, 4095)).toBeGreaterThanOrEqual(0);
    expect(proc.ioctl(vm, KVM_CREATE_VCPU, 0)).toBeGreaterThanOrEqual(0);
    expect(mod.ops.counters).toEqual({ created: 2, freed: 0 });
    expect(proc.ioctl(vm, KVM_CREATE_VCPU, 0)).toBe(-EEXIST);
    // kvm_vm_ioctl_create_vcpu finds the duplicate after kvm_arch_vcpu_create ran.
    expect(mod.ops.counters).toEqual({ created: 3, freed: 1 });
    expect(kvmGlobal(proc.kernel)!.vms.values().next().value!.vcpus).toHaveLength(2);
  });

  it("KVM_CREATE_VCPU beyond KVM_MAX_VCPUS (1024) vCPUs is EINVAL", () => {
    const { kernel, proc, sys } = host();
    kernel.nrOpen = 2048;
    const vm = proc.ioctl(sys, KVM_CREATE_VM, 0);
    for (let id = 0; id < 1024; id++) {
      const fd = proc.ioctl(vm, KVM_CREATE_VCPU, id * 4);
      if (fd < 0) expect([id, fd]).toEqual([id, "an fd"]);
    }
    expect(proc.ioctl(vm, KVM_CREATE_VCPU, 4095)).toBe(-EINVAL);
  });

  it("KVM_IRQ_LINE without an in-kernel irqchip is ENXIO", () => {
    const { proc, sys } = host();
    const vm = proc.ioctl(sys, KVM_CREATE_VM, 0);
    expect(proc.ioctl(vm, KVM_IRQ_LINE, encodeKvmIrqLevel({ irq: 4, level: 1 }))).toBe(-ENXIO);
  });

  it("KVM_ENABLE_CAP: flags ≠ 0 and caps that cannot be enabled are EINVAL", () => {
    const { proc, sys } = host();
    const vm = proc.ioctl(sys, KVM_CREATE_VM, 0);
    expect(enableCap(proc, vm, KVM_CAP_EXCEPTION_PAYLOAD, 1n, 1)).toBe(-EINVAL);
    expect(enableCap(proc, vm, KVM_CAP_USER_MEMORY, 1n)).toBe(-EINVAL);
    expect(enableCap(proc, vm, KVM_CAP_EXCEPTION_PAYLOAD, 1n)).toBe(0);
  });

  it("unknown requests and vCPU ioctls on a VM fd are ENOTTY", () => {
    const { proc, sys } = host();
    const vm = proc.ioctl(sys, KVM_CREATE_VM, 0);
    expect(proc.ioctl(vm, _IO(0xae, 0x3f), 0)).toBe(-ENOTTY);
    expect(proc.ioctl(vm, 0x1234_5678, 0)).toBe(-ENOTTY);
    expect(proc.ioctl(vm, KVM_RUN, 0)).toBe(-ENOTTY);
    expect(proc.ioctl(vm, KVM_GET_REGS, new Uint8Array(144))).toBe(-ENOTTY);
    expect(proc.ioctl(vm, KVM_GET_API_VERSION, 0)).toBe(-ENOTTY);
  });
});

// ───────────────────────────── the vCPU mmap area ─────────────────────────────

describe("mmap of a vCPU fd", () => {
  it("maps up to three pages from offset 0, 1 or 2; beyond is EINVAL", () => {
    const { proc, vcpu } = vmAndVcpu();
    expect(proc.mmap(vcpu, 3 * PAGE_SIZE)).toBeGreaterThan(0);
    expect(proc.mmap(vcpu, 1)).toBeGreaterThan(0);
    expect(proc.mmap(vcpu, PAGE_SIZE, 2 * PAGE_SIZE)).toBeGreaterThan(0);
    expect(proc.mmap(vcpu, 4 * PAGE_SIZE)).toBe(-EINVAL);
    expect(proc.mmap(vcpu, 2 * PAGE_SIZE, 2 * PAGE_SIZE)).toBe(-EINVAL);
    expect(proc.mmap(vcpu, PAGE_SIZE, 3 * PAGE_SIZE)).toBe(-EINVAL);
    expect(proc.mmap(vcpu, PAGE_SIZE, 100)).toBe(-EINVAL);
    expect(proc.mmap(vcpu, 0)).toBe(-EINVAL);
  });

  it("/dev/kvm and VM fds cannot be mapped (ENODEV); bad fds are EBADF", () => {
    const { proc, sys, vm } = vmAndVcpu();
    expect(proc.mmap(sys, PAGE_SIZE)).toBe(-ENODEV);
    expect(proc.mmap(vm, PAGE_SIZE)).toBe(-ENODEV);
    expect(proc.mmap(77, PAGE_SIZE)).toBe(-EBADF);
  });

  it("is the memory the kernel reads and writes, shared by every mapping", () => {
    const { kernel, proc, vcpu } = vmAndVcpu();
    const addr = proc.mmap(vcpu, 3 * PAGE_SIZE);
    const run = new KvmRun(proc.view(addr, 3 * PAGE_SIZE));
    const kvcpu = kvmGlobal(kernel)!.vms.values().next().value!.vcpus[0]!;
    // Written through the mapping, read by KVM_RUN.
    run.immediateExit = 1;
    expect(kvcpu.run.immediateExit).toBe(1);
    expect(proc.ioctl(vcpu, KVM_RUN, 0)).toBe(-EINTR);
    // Written by the kernel, read through the mapping.
    expect(run.exitReason).toBe(KVM_EXIT_INTR);
    kvcpu.pioData[5] = 0xa5;
    expect(proc.view(addr + PAGE_SIZE + 5, 1)[0]).toBe(0xa5);
    // A second mapping of page 1 is the same page.
    const pio = proc.mmap(vcpu, PAGE_SIZE, PAGE_SIZE);
    expect(proc.view(pio + 5, 1)[0]).toBe(0xa5);
    proc.view(pio + 6, 1)[0] = 0x5a;
    expect(kvcpu.pioData[6]).toBe(0x5a);
  });
});

// ───────────────────────────── vCPU state ─────────────────────────────

describe("KVM_GET/SET_REGS and KVM_GET/SET_SREGS", () => {
  it("KVM_SET_REGS round-trips every register; RFLAGS bit 1 is forced", () => {
    const { proc, vcpu } = vmAndVcpu();
    const regs = getRegs(proc, vcpu);
    expect(regs.rip).toBe(0xfff0n);
    expect(regs.rflags).toBe(2n);
    const names = Object.keys(regs) as (keyof KvmRegs)[];
    const want = { ...regs };
    names.forEach((k, i) => {
      want[k] = 0x0101_0101_0101_0101n * BigInt(i + 1);
    });
    want.rflags = 0x201n;
    expect(proc.ioctl(vcpu, KVM_SET_REGS, encodeKvmRegs(want))).toBe(0);
    expect(getRegs(proc, vcpu)).toEqual({ ...want, rflags: 0x203n });
    expect(proc.ioctl(vcpu, KVM_SET_REGS, encodeKvmRegs({ ...want, rflags: 0n }))).toBe(0);
    expect(getRegs(proc, vcpu).rflags).toBe(2n);
  });

  it("KVM_SET_SREGS round-trips segments, tables, control registers and a pending IRQ", () => {
    const { proc, vcpu } = vmAndVcpu();
    const s = getSregs(proc, vcpu);
    expect(s.cs.selector).toBe(0xf000);
    expect(s.cs.base).toBe(0xffff_0000n);
    expect(s.cr0).toBe(0x6000_0010n);
    const want: KvmSregs = {
      ...s,
      cs: { ...s.cs, base: 0x1000n, selector: 8, limit: 0xffff_ffff, db: 1, g: 1, type: 0xb },
      ds: { ...s.ds, base: 0x2000n, selector: 0x10, limit: 0xfffff },
      ss: { ...s.ss, selector: 0x18, dpl: 0 },
      gdt: { base: 0x5000n, limit: 0x27 },
      idt: { base: 0x6000n, limit: 0x7ff },
      cr0: 0x11n,
      cr2: 0xdead_b000n,
      cr3: 0x7000n,
      cr4: 0x20n,
      cr8: 5n,
      efer: 0x1n,
      apicBase: 0xfee0_0900n,
      interruptBitmap: [0n, 1n << 0x30n, 0n, 0n],
    };
    expect(proc.ioctl(vcpu, KVM_SET_SREGS, encodeKvmSregs(want))).toBe(0);
    expect(getSregs(proc, vcpu)).toEqual(want);
    // A valid long-mode state is accepted.
    const lm: KvmSregs = {
      ...want,
      cs: { ...want.cs, l: 1, db: 0 },
      cr0: 0x8000_0011n,
      cr4: 0x20n,
      efer: 0x500n,
      interruptBitmap: [0n, 0n, 0n, 0n],
    };
    expect(proc.ioctl(vcpu, KVM_SET_SREGS, encodeKvmSregs(lm))).toBe(0);
  });

  it("an invalid CR0/CR4/EFER combination is EINVAL and changes nothing", () => {
    const { proc, vcpu } = vmAndVcpu();
    const before = getSregs(proc, vcpu);
    const bad: [string, Partial<KvmSregs>][] = [
      ["CR0.PG without PE", { cr0: 0x8000_0010n }],
      ["CR0.NW without CD", { cr0: 0x2000_0011n }],
      ["EFER.LME + CR0.PG without CR4.PAE", { cr0: 0x8000_0011n, efer: 0x500n, cr4: 0n }],
      ["EFER.LME + CR0.PG without LMA", { cr0: 0x8000_0011n, efer: 0x100n, cr4: 0x20n }],
      ["EFER.LMA without LME/PG", { cr0: 0x11n, efer: 0x400n }],
      ["CS.L outside long mode", { cr0: 0x11n, cs: { ...before.cs, l: 1 } }],
      ["CR0 above 32 bits", { cr0: 1n << 32n }],
      ["a reserved CR4 bit", { cr4: 1n << 30n }],
      ["CR8 above 15", { cr8: 16n }],
      ["a reserved APIC base bit", { apicBase: 0xfee0_0901n }],
    ];
    for (const [why, patch] of bad) {
      // Other fields changed too, to show none of them lands.
      const s = { ...before, cr2: 0x1234n, gdt: { base: 0x9000n, limit: 7 }, ...patch };
      expect([why, proc.ioctl(vcpu, KVM_SET_SREGS, encodeKvmSregs(s))]).toEqual([why, -EINVAL]);
      expect(getSregs(proc, vcpu)).toEqual(before);
    }
  });
});

describe("KVM_GET/SET_MSRS", () => {
  it("round-trips EFER, PAT and SYSENTER_CS and returns the count", () => {
    const { proc, vcpu } = vmAndVcpu();
    const set = [
      { index: MSR_EFER, data: 0x801n },
      { index: MSR_IA32_CR_PAT, data: 0x0606_0606_0606_0606n },
      { index: MSR_IA32_SYSENTER_CS, data: 0x10n },
    ];
    expect(proc.ioctl(vcpu, KVM_SET_MSRS, encodeKvmMsrs(set))).toBe(3);
    const get = encodeKvmMsrs(set.map((e) => ({ index: e.index, data: 0n })));
    expect(proc.ioctl(vcpu, KVM_GET_MSRS, get)).toBe(3);
    expect(decodeKvmMsrs(get)).toEqual(set);
    // EFER is the one KVM_GET_SREGS reports too.
    expect(getSregs(proc, vcpu).efer).toBe(0x801n);
  });

  it("nmsrs ≥ 256 is E2BIG; entries beyond the buffer are EFAULT", () => {
    const { proc, vcpu } = vmAndVcpu();
    const many = (n: number) =>
      encodeKvmMsrs(Array.from({ length: n }, () => ({ index: MSR_IA32_CR_PAT, data: 0x0606n })));
    expect(proc.ioctl(vcpu, KVM_SET_MSRS, many(256))).toBe(-E2BIG);
    expect(proc.ioctl(vcpu, KVM_GET_MSRS, many(256))).toBe(-E2BIG);
    expect(proc.ioctl(vcpu, KVM_SET_MSRS, many(255))).toBe(255);
    const lying = encodeKvmMsrs([{ index: MSR_IA32_CR_PAT, data: 0n }]);
    new DataView(lying.buffer).setUint32(0, 3, true);
    expect(proc.ioctl(vcpu, KVM_GET_MSRS, lying)).toBe(-EFAULT);
  });

  it("an unknown MSR in the middle stops the walk: the count before it", () => {
    const { proc, vcpu } = vmAndVcpu();
    expect(
      proc.ioctl(vcpu, KVM_SET_MSRS, encodeKvmMsrs([{ index: MSR_IA32_SYSENTER_CS, data: 0x10n }])),
    ).toBe(1);
    const set = encodeKvmMsrs([
      { index: MSR_IA32_CR_PAT, data: 0x0404_0404_0404_0404n },
      { index: 0xdead, data: 1n },
      { index: MSR_IA32_SYSENTER_CS, data: 0x20n },
    ]);
    expect(proc.ioctl(vcpu, KVM_SET_MSRS, set)).toBe(1);
    const get = encodeKvmMsrs([
      { index: MSR_IA32_CR_PAT, data: 0n },
      { index: 0xdead, data: 7n },
      { index: MSR_IA32_SYSENTER_CS, data: 7n },
    ]);
    expect(proc.ioctl(vcpu, KVM_GET_MSRS, get)).toBe(1);
    expect(decodeKvmMsrs(get).map((e) => e.data)).toEqual([0x0404_0404_0404_0404n, 7n, 7n]);
    // SYSENTER_CS after the unknown MSR was not written.
    const cs = encodeKvmMsrs([{ index: MSR_IA32_SYSENTER_CS, data: 0n }]);
    expect(proc.ioctl(vcpu, KVM_GET_MSRS, cs)).toBe(1);
    expect(decodeKvmMsrs(cs)[0]!.data).toBe(0x10n);
    // A refused value counts as the stop too (PAT memory type 2 is reserved).
    const badPat = [{ index: MSR_IA32_CR_PAT, data: 0x02n }];
    expect(proc.ioctl(vcpu, KVM_SET_MSRS, encodeKvmMsrs(badPat))).toBe(0);
  });
});

describe("KVM_SET_CPUID2 / KVM_GET_CPUID2", () => {
  it("nent above 256 is E2BIG; GET with too small an array is E2BIG; a round trip", () => {
    const { proc, vcpu } = vmAndVcpu();
    const tooMany = encodeKvmCpuid2([], 257);
    expect(proc.ioctl(vcpu, KVM_SET_CPUID2, tooMany)).toBe(-E2BIG);
    // Before any SET the table is empty.
    const none = encodeKvmCpuid2([], 4);
    expect(proc.ioctl(vcpu, KVM_GET_CPUID2, none)).toBe(0);
    expect(kvmCpuid2Nent(none)).toBe(0);

    expect(proc.ioctl(vcpu, KVM_SET_CPUID2, encodeKvmCpuid2(TOY_CPUID))).toBe(0);
    const small = encodeKvmCpuid2([], 2);
    expect(proc.ioctl(vcpu, KVM_GET_CPUID2, small)).toBe(-E2BIG);
    expect(kvmCpuid2Nent(small)).toBe(2);
    const big = encodeKvmCpuid2([], 256);
    expect(proc.ioctl(vcpu, KVM_GET_CPUID2, big)).toBe(0);
    expect(decodeKvmCpuid2(big)).toEqual(TOY_CPUID);
    // The entries promised by nent must be readable.
    const lying = encodeKvmCpuid2([], 0);
    new DataView(lying.buffer).setUint32(0, 3, true);
    expect(proc.ioctl(vcpu, KVM_SET_CPUID2, lying)).toBe(-EFAULT);
  });

  it("after KVM_RUN only the identical table is accepted", () => {
    const g = guest([0xf4]);
    expect(g.proc.ioctl(g.vcpu, KVM_SET_CPUID2, encodeKvmCpuid2(TOY_CPUID))).toBe(0);
    // Changing it before the first run is fine.
    const changed = TOY_CPUID.map((e) => (e.function === 1 ? { ...e, ecx: e.ecx | 0x20 } : e));
    expect(g.proc.ioctl(g.vcpu, KVM_SET_CPUID2, encodeKvmCpuid2(changed))).toBe(0);
    expect(runOf(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_HLT);
    expect(g.proc.ioctl(g.vcpu, KVM_SET_CPUID2, encodeKvmCpuid2(TOY_CPUID))).toBe(-EINVAL);
    expect(g.proc.ioctl(g.vcpu, KVM_SET_CPUID2, encodeKvmCpuid2(changed.slice(1)))).toBe(-EINVAL);
    expect(g.proc.ioctl(g.vcpu, KVM_SET_CPUID2, encodeKvmCpuid2(changed))).toBe(0);
  });
});

describe("events, MP state, debug, FPU and signal mask", () => {
  it("KVM_INTERRUPT: vectors 0..255 queue, 256 and above are EINVAL", () => {
    const { proc, vcpu } = vmAndVcpu();
    expect(proc.ioctl(vcpu, KVM_INTERRUPT, encodeKvmInterrupt(256))).toBe(-EINVAL);
    expect(proc.ioctl(vcpu, KVM_INTERRUPT, encodeKvmInterrupt(0xffff_ffff))).toBe(-EINVAL);
    expect(proc.ioctl(vcpu, KVM_INTERRUPT, encodeKvmInterrupt(0x41))).toBe(0);
    // The queued external interrupt shows in KVM_GET_SREGS's interrupt_bitmap.
    expect(getSregs(proc, vcpu).interruptBitmap).toEqual([0n, 2n, 0n, 0n]);
  });

  it("KVM_GET/SET_VCPU_EVENTS round-trips exception, interrupt, NMI and shadow", () => {
    const { proc, vcpu } = vmAndVcpu();
    const initial = getEvents(proc, vcpu);
    expect(initial.flags).toBe(
      KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM,
    );
    // GET then SET of the same struct is accepted.
    expect(proc.ioctl(vcpu, KVM_SET_VCPU_EVENTS, encodeKvmVcpuEvents(initial))).toBe(0);
    const want: KvmVcpuEvents = {
      ...initial,
      exception: { injected: 1, nr: 13, hasErrorCode: 1, pending: 0, errorCode: 0x18 },
      interrupt: { injected: 1, nr: 0x30, soft: 0, shadow: 1 },
      nmi: { injected: 0, pending: 1, masked: 1 },
      flags: KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW,
    };
    expect(proc.ioctl(vcpu, KVM_SET_VCPU_EVENTS, encodeKvmVcpuEvents(want))).toBe(0);
    expect(getEvents(proc, vcpu)).toEqual({ ...want, flags: initial.flags });
  });

  it("KVM_SET_VCPU_EVENTS: unknown flags, exception 2 or > 31 are EINVAL", () => {
    const { proc, vcpu } = vmAndVcpu();
    const before = getEvents(proc, vcpu);
    const set = (e: KvmVcpuEvents) => proc.ioctl(vcpu, KVM_SET_VCPU_EVENTS, encodeKvmVcpuEvents(e));
    expect(set({ ...before, flags: 0x40 })).toBe(-EINVAL);
    expect(set({ ...before, flags: 0x8000_0000 })).toBe(-EINVAL);
    const ex = (nr: number) => ({ ...before.exception, injected: 1, nr });
    expect(set({ ...before, exception: ex(2) })).toBe(-EINVAL);
    expect(set({ ...before, exception: ex(32) })).toBe(-EINVAL);
    expect(set({ ...before, exception: ex(255) })).toBe(-EINVAL);
    expect(getEvents(proc, vcpu)).toEqual(before);
    // A vector is only checked when an exception is injected or pending.
    expect(set({ ...before, exception: { ...before.exception, nr: 2 } })).toBe(0);
    expect(set({ ...before, exception: ex(31) })).toBe(0);
  });

  it("VALID_PAYLOAD needs KVM_ENABLE_CAP(KVM_CAP_EXCEPTION_PAYLOAD)", () => {
    const { proc, vm, vcpu } = vmAndVcpu();
    const e: KvmVcpuEvents = {
      ...emptyKvmVcpuEvents(),
      exception: { injected: 0, nr: 14, hasErrorCode: 1, pending: 1, errorCode: 2 },
      exceptionHasPayload: 1,
      exceptionPayload: 0xdead_0000n,
      flags: KVM_VCPUEVENT_VALID_PAYLOAD,
    };
    expect(proc.ioctl(vcpu, KVM_SET_VCPU_EVENTS, encodeKvmVcpuEvents(e))).toBe(-EINVAL);
    expect(enableCap(proc, vm, KVM_CAP_EXCEPTION_PAYLOAD, 1n)).toBe(0);
    expect(proc.ioctl(vcpu, KVM_SET_VCPU_EVENTS, encodeKvmVcpuEvents(e))).toBe(0);
    const got = getEvents(proc, vcpu);
    expect(got.flags & KVM_VCPUEVENT_VALID_PAYLOAD).toBe(KVM_VCPUEVENT_VALID_PAYLOAD);
    expect(got.exception).toEqual(e.exception);
    expect([got.exceptionHasPayload, got.exceptionPayload]).toEqual([1, 0xdead_0000n]);
  });

  it("KVM_GET/SET_MP_STATE: RUNNABLE only without an in-kernel irqchip", () => {
    const { proc, vcpu } = vmAndVcpu();
    const b = new Uint8Array(4);
    expect(proc.ioctl(vcpu, KVM_GET_MP_STATE, b)).toBe(0);
    expect(decodeKvmMpState(b)).toBe(KVM_MP_STATE_RUNNABLE);
    expect(proc.ioctl(vcpu, KVM_SET_MP_STATE, encodeKvmMpState(KVM_MP_STATE_HALTED))).toBe(-EINVAL);
    expect(proc.ioctl(vcpu, KVM_SET_MP_STATE, encodeKvmMpState(KVM_MP_STATE_RUNNABLE))).toBe(0);
  });

  it("KVM_SET_GUEST_DEBUG: unknown control bits are EINVAL", () => {
    const { proc, vcpu } = vmAndVcpu();
    const dbg = (control: number) =>
      proc.ioctl(vcpu, KVM_SET_GUEST_DEBUG, encodeKvmGuestDebug({ control, debugreg: [] }));
    expect(dbg(0x4)).toBe(-EINVAL);
    expect(dbg(0x8000_0000)).toBe(-EINVAL);
    expect(dbg(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP)).toBe(0);
    expect(dbg(0)).toBe(0);
  });

  it("KVM_GET/SET_FPU round-trips the x87 and SSE state", () => {
    const { proc, vcpu } = vmAndVcpu();
    const b = new Uint8Array(416);
    expect(proc.ioctl(vcpu, KVM_GET_FPU, b)).toBe(0);
    const reset = decodeKvmFpu(b);
    expect([reset.fcw, reset.mxcsr]).toEqual([0x37f, 0x1f80]);
    const want = emptyKvmFpu();
    // Each x87 register is 10 bytes in its 16-byte slot.
    for (let i = 0; i < 8; i++) for (let j = 0; j < 10; j++) want.fpr[16 * i + j] = i * 16 + j + 1;
    for (let i = 0; i < 256; i++) want.xmm[i] = (i * 7) & 0xff;
    Object.assign(want, {
      fcw: 0x27f,
      fsw: 0x3800,
      ftwx: 0xa5,
      lastOpcode: 0x7ff,
      lastIp: 0x1122_3344_5566_7788n,
      lastDp: 0x99aa_bbcc_ddee_ff00n,
      mxcsr: 0x1fa0,
    });
    expect(proc.ioctl(vcpu, KVM_SET_FPU, encodeKvmFpu(want))).toBe(0);
    expect(proc.ioctl(vcpu, KVM_GET_FPU, b)).toBe(0);
    expect(decodeKvmFpu(b)).toEqual(want);
  });

  it("KVM_GET/SET_DEBUGREGS: a round trip; flags ≠ 0 or high DR6/DR7 bits are EINVAL", () => {
    const { proc, vcpu } = vmAndVcpu();
    const get = () => {
      const b = new Uint8Array(128);
      expect(proc.ioctl(vcpu, KVM_GET_DEBUGREGS, b)).toBe(0);
      return decodeKvmDebugregs(b);
    };
    expect(get()).toEqual({ db: [0n, 0n, 0n, 0n], dr6: 0xffff_0ff0n, dr7: 0x400n, flags: 0n });
    const want = {
      db: [0x1000n, 0x2000n, 0x3000n, 0x4000n],
      dr6: 0xffff_0ff1n,
      dr7: 0x401n,
      flags: 0n,
    };
    const set = (d: typeof want) => proc.ioctl(vcpu, KVM_SET_DEBUGREGS, encodeKvmDebugregs(d));
    expect(set({ ...want, flags: 1n })).toBe(-EINVAL);
    expect(set({ ...want, dr6: 1n << 32n })).toBe(-EINVAL);
    expect(set({ ...want, dr7: 1n << 40n })).toBe(-EINVAL);
    expect(set(want)).toBe(0);
    expect(get()).toEqual(want);
  });

  it("KVM_SET_SIGNAL_MASK: len must be 8; NULL removes the mask", () => {
    const { proc, vcpu } = vmAndVcpu();
    expect(proc.ioctl(vcpu, KVM_SET_SIGNAL_MASK, sigmask(4))).toBe(-EINVAL);
    expect(proc.ioctl(vcpu, KVM_SET_SIGNAL_MASK, sigmask(16))).toBe(-EINVAL);
    expect(proc.ioctl(vcpu, KVM_SET_SIGNAL_MASK, sigmask(8, 1 << 9))).toBe(0);
    expect(proc.ioctl(vcpu, KVM_SET_SIGNAL_MASK, encodeKvmSignalMask(new Uint8Array(8)))).toBe(0);
    expect(proc.ioctl(vcpu, KVM_SET_SIGNAL_MASK, 0)).toBe(0);
    expect(proc.ioctl(vcpu, KVM_SET_SIGNAL_MASK, 0n)).toBe(0);
    expect(proc.ioctl(vcpu, KVM_SET_SIGNAL_MASK, UNMAPPED)).toBe(-EFAULT);
    // The header says 8 but the sigset is not there.
    expect(proc.ioctl(vcpu, KVM_SET_SIGNAL_MASK, sigmask(8).subarray(0, 8))).toBe(-EFAULT);
  });
});

describe("KVM_RUN arguments and dispatch on the vCPU fd", () => {
  it("a non-zero argument is EINVAL and the guest does not run", () => {
    const g = guest([0xf4]);
    expect(g.proc.ioctl(g.vcpu, KVM_RUN, 1)).toBe(-EINVAL);
    expect(g.proc.ioctl(g.vcpu, KVM_RUN, new Uint8Array(8))).toBe(-EINVAL);
    expect(getRegs(g.proc, g.vcpu).rip).toBe(0x1000n);
    expect(runOf(g)).toBe(0);
    expect(g.run.exitReason).toBe(KVM_EXIT_HLT);
  });

  it("unknown kvm_valid_regs / kvm_dirty_regs bits are EINVAL; valid ones sync", () => {
    const g = guest([0xf4]);
    g.run.kvmValidRegs = 8n;
    expect(runOf(g)).toBe(-EINVAL);
    g.run.kvmValidRegs = 0n;
    g.run.kvmDirtyRegs = 1n << 63n;
    expect(runOf(g)).toBe(-EINVAL);
    g.run.kvmDirtyRegs = 0n;
    expect(getRegs(g.proc, g.vcpu).rip).toBe(0x1000n);
    g.run.kvmValidRegs = BigInt(KVM_SYNC_X86_REGS);
    expect(runOf(g)).toBe(0);
    expect(decodeKvmRegs(g.run.bytes, 304)).toEqual(getRegs(g.proc, g.vcpu));
  });

  it("unknown requests are EINVAL, so is any request whose _IOC_TYPE is not KVMIO", () => {
    const { proc, vcpu } = vmAndVcpu();
    expect(proc.ioctl(vcpu, _IO(0xae, 0x3f), 0)).toBe(-EINVAL);
    expect(proc.ioctl(vcpu, 0xdead_beef, 0)).toBe(-EINVAL);
    const foreign = ((KVM_GET_REGS & ~0xff00) | (0xaf << 8)) >>> 0;
    expect(_IOC_SIZE(foreign)).toBe(144);
    expect(proc.ioctl(vcpu, foreign, new Uint8Array(144))).toBe(-EINVAL);
    expect(proc.ioctl(vcpu, (KVM_RUN & ~0xff00) >>> 0, 0)).toBe(-EINVAL);
    // VM and system ioctls on a vCPU fd.
    expect(proc.ioctl(vcpu, KVM_CREATE_VCPU, 1)).toBe(-EINVAL);
    expect(proc.ioctl(vcpu, KVM_GET_API_VERSION, 0)).toBe(-EINVAL);
  });
});

// ───────────────────────────── fds and pointers ─────────────────────────────

describe("bad fds and bad pointers", () => {
  it("any ioctl on a closed or never-opened fd is EBADF", () => {
    const { proc, sys, vm, vcpu } = vmAndVcpu();
    for (const fd of [77, -1, 1024]) {
      expect(proc.ioctl(fd, KVM_GET_API_VERSION, 0)).toBe(-EBADF);
      expect(proc.close(fd)).toBe(-EBADF);
    }
    expect(proc.close(vcpu)).toBe(0);
    expect(proc.ioctl(vcpu, KVM_RUN, 0)).toBe(-EBADF);
    expect(proc.ioctl(vcpu, KVM_GET_REGS, new Uint8Array(144))).toBe(-EBADF);
    expect(proc.close(vcpu)).toBe(-EBADF);
    expect(proc.close(vm)).toBe(0);
    expect(proc.ioctl(vm, KVM_CREATE_VCPU, 0)).toBe(-EBADF);
    expect(proc.close(sys)).toBe(0);
    expect(proc.ioctl(sys, KVM_CREATE_VM, 0)).toBe(-EBADF);
  });

  it("a pointer that is not mapped is EFAULT, in both directions", () => {
    const { proc, vcpu } = vmAndVcpu();
    expect(proc.ioctl(vcpu, KVM_GET_REGS, UNMAPPED)).toBe(-EFAULT);
    expect(proc.ioctl(vcpu, KVM_GET_REGS, BigInt(UNMAPPED))).toBe(-EFAULT);
    expect(proc.ioctl(vcpu, KVM_SET_REGS, 0x1000)).toBe(-EFAULT);
    expect(proc.ioctl(vcpu, KVM_GET_SREGS, 0)).toBe(-EFAULT);
    expect(proc.ioctl(vcpu, KVM_GET_VCPU_EVENTS, UNMAPPED)).toBe(-EFAULT);
    // A buffer that is too short is user memory of that size: EFAULT too.
    expect(proc.ioctl(vcpu, KVM_GET_REGS, new Uint8Array(143))).toBe(-EFAULT);
    // A struct that runs off the end of its mapping.
    const m = anon(proc, PAGE_SIZE);
    expect(proc.ioctl(vcpu, KVM_GET_REGS, m.addr + PAGE_SIZE - 100)).toBe(-EFAULT);
    // And one that fits, written by the kernel into process memory.
    expect(proc.ioctl(vcpu, KVM_GET_REGS, m.addr + 8)).toBe(0);
    expect(decodeKvmRegs(m.bytes, 8).rip).toBe(0xfff0n);
  });
});

// ───────────────────────────── lifetimes ─────────────────────────────

describe("lifetimes", () => {
  it("closing the VM fd keeps the VM alive for its vCPU fds; the last close frees all", () => {
    const { kernel, proc, sys, mod } = host();
    const vm = proc.ioctl(sys, KVM_CREATE_VM, 0);
    const ram = anon(proc, 0x1_0000);
    ram.bytes.set([0xf4], 0x1000);
    expect(region(proc, vm, { size: 0x1_0000, uaddr: ram.addr })).toBe(0);
    const v0 = proc.ioctl(vm, KVM_CREATE_VCPU, 0);
    const v1 = proc.ioctl(vm, KVM_CREATE_VCPU, 1);
    expect(proc.close(vm)).toBe(0);
    const g = kvmGlobal(kernel)!;
    expect(g.vms.size).toBe(1);
    expect(mod.ops.counters).toEqual({ created: 2, freed: 0 });
    // Still usable: set up flat mode and run to the HLT.
    const s = getSregs(proc, v0);
    expect(proc.ioctl(v0, KVM_SET_SREGS, encodeKvmSregs({ ...s, cs: { ...s.cs, base: 0n } }))).toBe(
      0,
    );
    expect(
      proc.ioctl(v0, KVM_SET_REGS, encodeKvmRegs({ ...getRegs(proc, v0), rip: 0x1000n })),
    ).toBe(0);
    const runAddr = proc.mmap(v0, 3 * PAGE_SIZE);
    const run = new KvmRun(proc.view(runAddr, 3 * PAGE_SIZE));
    expect(proc.ioctl(v0, KVM_RUN, 0)).toBe(0);
    expect(run.exitReason).toBe(KVM_EXIT_HLT);
    expect(proc.close(v1)).toBe(0);
    expect(mod.ops.counters.freed).toBe(0);
    expect(proc.close(v0)).toBe(0);
    // v0's kvm_run mapping still holds the VM.
    expect(g.vms.size).toBe(1);
    expect(mod.ops.counters.freed).toBe(0);
    expect(proc.munmap(runAddr, 3 * PAGE_SIZE)).toBe(0);
    expect(g.vms.size).toBe(0);
    expect(mod.ops.counters).toEqual({ created: 2, freed: 2 });
  });

  it("a kvm_run mapping holds the vCPU (and VM) until munmap", () => {
    const { kernel, proc, sys, mod } = host();
    const vm = proc.ioctl(sys, KVM_CREATE_VM, 0);
    const vcpu = proc.ioctl(vm, KVM_CREATE_VCPU, 0);
    const other = proc.ioctl(vm, KVM_CREATE_VCPU, 1);
    const addr = proc.mmap(vcpu, 3 * PAGE_SIZE);
    for (const fd of [vcpu, other, vm, sys]) expect(proc.close(fd)).toBe(0);
    const g = kvmGlobal(kernel)!;
    expect(g.vms.size).toBe(1);
    expect(mod.ops.counters).toEqual({ created: 2, freed: 0 });
    expect(kernel.unloadModule("toyvt")).toBe(-EBUSY);
    expect(proc.munmap(addr, 3 * PAGE_SIZE)).toBe(0);
    expect(g.vms.size).toBe(0);
    expect(g.usageCount).toBe(0);
    // kvm_destroy_vm frees every vCPU through the vendor.
    expect(mod.ops.counters).toEqual({ created: 2, freed: 2 });
    expect(kernel.unloadModule("toyvt")).toBe(0);
  });

  it("closing the last fd without mappings frees every vCPU", () => {
    const { kernel, proc, sys, mod } = host();
    const vm = proc.ioctl(sys, KVM_CREATE_VM, 0);
    const fds = [0, 1, 2].map((id) => proc.ioctl(vm, KVM_CREATE_VCPU, id));
    expect(proc.close(vm)).toBe(0);
    expect(proc.close(fds[0]!)).toBe(0);
    expect(proc.close(fds[1]!)).toBe(0);
    expect(mod.ops.counters.freed).toBe(0);
    expect(proc.close(fds[2]!)).toBe(0);
    expect(mod.ops.counters).toEqual({ created: 3, freed: 3 });
    expect(kvmGlobal(kernel)!.vms.size).toBe(0);
  });

  it("EMFILE from KVM_CREATE_VCPU or KVM_CREATE_VM leaves every reference count intact", () => {
    const { kernel, proc, sys, mod } = host();
    const vm = proc.ioctl(sys, KVM_CREATE_VM, 0);
    const v0 = proc.ioctl(vm, KVM_CREATE_VCPU, 0);
    kernel.nrOpen = v0 + 1;
    expect(proc.ioctl(vm, KVM_CREATE_VCPU, 1)).toBe(-EMFILE);
    expect(proc.ioctl(sys, KVM_CREATE_VM, 0)).toBe(-EMFILE);
    expect(mod.ops.counters).toEqual({ created: 2, freed: 1 });
    const g = kvmGlobal(kernel)!;
    expect([g.vms.size, g.usageCount]).toEqual([1, 1]);
    // The VM fd goes; the vCPU fd still holds the VM.
    expect(proc.close(vm)).toBe(0);
    expect(g.vms.size).toBe(1);
    expect(proc.ioctl(v0, KVM_GET_REGS, new Uint8Array(144))).toBe(0);
    expect(proc.close(v0)).toBe(0);
    expect([g.vms.size, g.usageCount]).toEqual([0, 0]);
    expect(mod.ops.counters).toEqual({ created: 2, freed: 2 });
  });

  it("process exit releases every fd, mapping, VM and vCPU", () => {
    const { kernel, proc, sys, mod } = host();
    const vm = proc.ioctl(sys, KVM_CREATE_VM, 0);
    const ram = anon(proc, 4 * PAGE_SIZE);
    expect(region(proc, vm, { size: 4 * PAGE_SIZE, uaddr: ram.addr })).toBe(0);
    const v0 = proc.ioctl(vm, KVM_CREATE_VCPU, 0);
    proc.ioctl(vm, KVM_CREATE_VCPU, 1);
    expect(proc.mmap(v0, 3 * PAGE_SIZE)).toBeGreaterThan(0);
    expect(proc.close(v0)).toBe(0);
    proc.exit();
    const g = kvmGlobal(kernel)!;
    expect([g.vms.size, g.devOpen, g.usageCount]).toEqual([0, 0, 0]);
    expect(mod.ops.counters).toEqual({ created: 2, freed: 2 });
    expect(proc.ioctl(vm, KVM_CREATE_VCPU, 2)).toBe(-EBADF);
    expect(kernel.unloadModule("toyvt")).toBe(0);
  });

  it("fds are per process: another process gets EBADF for them", () => {
    const { kernel, proc, sys } = host();
    const vm = proc.ioctl(sys, KVM_CREATE_VM, 0);
    const vcpu = proc.ioctl(vm, KVM_CREATE_VCPU, 0);
    const other = kernel.spawn("other-vmm");
    expect(other.ioctl(sys, KVM_GET_API_VERSION, 0)).toBe(-EBADF);
    expect(other.ioctl(vm, KVM_CREATE_VCPU, 1)).toBe(-EBADF);
    expect(other.ioctl(vcpu, KVM_RUN, 0)).toBe(-EBADF);
    expect(other.mmap(vcpu, PAGE_SIZE)).toBe(-EBADF);
    expect(other.close(vm)).toBe(-EBADF);
    // Its own /dev/kvm gets the same fd number, and is a different file.
    const otherSys = other.open("/dev/kvm", O_RDWR);
    expect(otherSys).toBe(sys);
    expect(other.ioctl(otherSys, KVM_CREATE_VM, 0)).toBe(vm);
    expect(other.close(otherSys)).toBe(0);
    expect(proc.ioctl(sys, KVM_GET_API_VERSION, 0)).toBe(12);
    expect(proc.ioctl(vcpu, KVM_GET_REGS, new Uint8Array(144))).toBe(0);
    expect(kvmGlobal(kernel)!.vms.size).toBe(2);
  });
});
