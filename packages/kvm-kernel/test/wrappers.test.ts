/**
 * The typed wrappers of src/uapi/kvm-ioctls.ts (Kvm, VmFd, VcpuFd): one happy path per
 * method, and every method over a closed fd failing with a KvmError that names its ioctl.
 */
import { describe, expect, it } from "vitest";
import { HostKernel } from "../src/index.js";
import {
  EBADF,
  EEXIST,
  EINTR,
  EINVAL,
  emptyKvmFpu,
  emptyKvmRegs,
  emptyKvmSregs,
  emptyKvmVcpuEvents,
  type HostOs,
  isEintr,
  KVM_CAP_EXCEPTION_PAYLOAD,
  KVM_CAP_NR_MEMSLOTS,
  KVM_CAP_USER_MEMORY,
  KVM_CREATE_VCPU,
  KVM_GUESTDBG_ENABLE,
  KVM_IRQCHIP_IOAPIC,
  KVM_IRQCHIP_PIC_MASTER,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MP_STATE_RUNNABLE,
  Kvm,
  KvmError,
  PAGE_SIZE,
  SIGUSR1,
  VcpuFd,
  VmFd,
} from "../src/uapi/index.js";
import { irqchipHost } from "./irqchip-setup.js";
import { host, le32 } from "./setup.js";
import { TOY_CPUID } from "./toy-vendor.js";

/** A guest: RAM at 0 with `code` at 0x1000, one vCPU in flat mode at RIP 0x1000. */
function wrapped(code: readonly number[]) {
  const { kernel, proc } = host();
  const os: HostOs = proc;
  const kvm = Kvm.open(os);
  const vm = kvm.createVm();
  const ramAddr = os.mmap(-1, 0x1_0000);
  os.view(ramAddr, 0x1_0000).set(code, 0x1000);
  vm.setUserMemoryRegion({
    slot: 0,
    flags: 0,
    guestPhysAddr: 0n,
    memorySize: 0x1_0000n,
    userspaceAddr: BigInt(ramAddr),
  });
  const vcpu = vm.createVcpu(0);
  const sregs = vcpu.getSregs();
  vcpu.setSregs({ ...sregs, cs: { ...sregs.cs, base: 0n, selector: 0 } });
  vcpu.setRegs({ ...emptyKvmRegs(), rip: 0x1000n, rflags: 2n });
  return { kernel, os, kvm, vm, vcpu, ramAddr };
}

function thrown(f: () => unknown): KvmError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(KvmError);
    return e as KvmError;
  }
  throw new Error("expected a KvmError, nothing was thrown");
}

describe("KvmError", () => {
  it("carries errno, its name and the ioctl, in a strerror-shaped message", () => {
    const e = new KvmError(EBADF, "KVM_GET_REGS");
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe("KvmError");
    expect([e.errno, e.code, e.ioctl]).toEqual([9, "EBADF", "KVM_GET_REGS"]);
    expect(e.message).toBe("KVM_GET_REGS: Bad file descriptor (EBADF)");
    expect(String(e)).toBe("KvmError: KVM_GET_REGS: Bad file descriptor (EBADF)");
    expect(new KvmError(200, "open").message).toBe("open: Unknown error 200 (errno 200)");
  });

  it("is what a failing wrapper throws, with the kernel's errno", () => {
    const { vm, vcpu } = wrapped([0xf4]);
    const e = thrown(() => vm.createVcpu(4096));
    expect([e.errno, e.code, e.ioctl]).toEqual([EINVAL, "EINVAL", "KVM_CREATE_VCPU"]);
    const dup = thrown(() => vm.createVcpu(0));
    expect([dup.code, dup.ioctl]).toEqual(["EEXIST", "KVM_CREATE_VCPU"]);
    expect(dup.errno).toBe(EEXIST);
    vcpu.setImmediateExit(true);
    const intr = thrown(() => vcpu.run());
    expect([intr.errno, intr.ioctl]).toEqual([EINTR, "KVM_RUN"]);
    expect(isEintr(intr)).toBe(true);
    expect(isEintr(new Error("x"))).toBe(false);
    expect(thrown(() => Kvm.open(new HostKernel().spawn())).message).toBe(
      "open: No such file or directory (ENOENT)",
    );
  });
});

describe("Kvm (the /dev/kvm fd)", () => {
  it("answers the system ioctls", () => {
    const { proc } = host();
    const kvm = Kvm.open(proc);
    expect(kvm.getApiVersion()).toBe(12);
    expect(kvm.checkExtension(KVM_CAP_NR_MEMSLOTS)).toBe(32764);
    expect(kvm.checkExtension(12345)).toBe(0);
    expect(kvm.getVcpuMmapSize()).toBe(3 * PAGE_SIZE);
    const cpuid = kvm.getSupportedCpuid();
    expect(cpuid.map((e) => e.function)).toEqual(
      expect.arrayContaining([0, 1, 0x4000_0000, 0x4000_0001]),
    );
    expect(kvm.getEmulatedCpuid()).toEqual([]);
    expect(kvm.getMsrIndexList()).toEqual(expect.arrayContaining([0x174, 0x277]));
    expect(kvm.getMsrFeatureIndexList()).toEqual(expect.arrayContaining([0x10a, 0x8b]));
    expect(kvm.getMsrs([0x8b, 0x10a, 0xc000_0080])).toEqual([
      { index: 0x8b, data: 0x1_0000_0000n },
      { index: 0x10a, data: 0n },
    ]);
    const vm = kvm.createVm();
    expect(vm).toBeInstanceOf(VmFd);
    expect(vm.kvm).toBe(kvm);
    vm.close();
    kvm.close();
  });
});

describe("VmFd", () => {
  it("sets memory, TSS, identity map, boot CPU and caps, reads the dirty log", () => {
    // mov al,1; mov [0x2_1000],al; hlt
    const { os, vm, vcpu } = wrapped([0xb0, 1, 0xa2, ...le32(0x2_1000), 0xf4]);
    expect(vm.checkExtension(KVM_CAP_USER_MEMORY)).toBe(1);
    vm.setTssAddress(0xfffb_d000);
    vm.enableCap(KVM_CAP_EXCEPTION_PAYLOAD, [1n]);
    const data = os.mmap(-1, 4 * PAGE_SIZE);
    const slot1 = {
      slot: 1,
      flags: KVM_MEM_LOG_DIRTY_PAGES,
      guestPhysAddr: 0x2_0000n,
      memorySize: BigInt(4 * PAGE_SIZE),
      userspaceAddr: BigInt(data),
    };
    vm.setUserMemoryRegion(slot1);
    expect(thrown(() => vm.setUserMemoryRegion({ ...slot1, slot: 2 })).code).toBe("EEXIST");
    expect(vm.getDirtyLog(1, 4 * PAGE_SIZE)).toEqual(new Uint8Array(8));
    expect(vcpu.run()).toEqual({ reason: "Hlt" });
    expect([...vm.getDirtyLog(1, 4 * PAGE_SIZE)]).toEqual([0b10, 0, 0, 0, 0, 0, 0, 0]);
    expect([...vm.getDirtyLog(1, 4 * PAGE_SIZE)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    // Identity map and boot CPU: only before the first vCPU.
    expect(thrown(() => vm.setIdentityMapAddress(0xfeff_c000n)).code).toBe("EINVAL");
    expect(thrown(() => vm.setBootCpuId(0)).code).toBe("EBUSY");
    const fresh = vm.kvm.createVm();
    fresh.setIdentityMapAddress(0xfeff_c000n);
    fresh.setBootCpuId(3);
    const v = fresh.createVcpu(3);
    expect(v).toBeInstanceOf(VcpuFd);
    expect([v.id, v.mapping.length]).toEqual([3, 3 * PAGE_SIZE]);
    v.close();
    fresh.close();
    vm.close();
  });
});

describe("VcpuFd", () => {
  it("run() decodes exits; IoOut data is a view of the mapping, not a copy", () => {
    // mov eax,0x11223344; out 0x80,eax; mov eax,[0xd000_0000]; hlt
    const { os, vcpu } = wrapped([
      0xb8,
      ...le32(0x1122_3344),
      0xe7,
      0x80,
      0xa1,
      ...le32(0xd000_0000),
      0xf4,
    ]);
    const out = vcpu.run();
    expect(out.reason).toBe("IoOut");
    if (out.reason !== "IoOut") throw new Error("unreachable");
    expect([out.port, out.size, [...out.data]]).toEqual([0x80, 4, [0x44, 0x33, 0x22, 0x11]]);
    expect(out.data.buffer).toBe(vcpu.mapping.buffer);
    expect(out.data.byteOffset).toBe(vcpu.mapping.byteOffset + PAGE_SIZE);
    // The mapping is process memory: the same bytes through os.view.
    const addr = (os as ReturnType<typeof host>["proc"]).mappings.find(
      (m) => m.bytes.buffer === vcpu.mapping.buffer,
    )!.addr;
    expect(os.view(addr + PAGE_SIZE, 4).buffer).toBe(out.data.buffer);

    const read = vcpu.run();
    expect(read).toMatchObject({ reason: "MmioRead", addr: 0xd000_0000n });
    if (read.reason !== "MmioRead") throw new Error("unreachable");
    expect(read.data.length).toBe(4);
    expect(read.data.buffer).toBe(vcpu.mapping.buffer);
    read.data.set(le32(0xfeed_f00d));
    expect(vcpu.run()).toEqual({ reason: "Hlt" });
    expect(vcpu.getRegs().rax).toBe(0xfeed_f00dn);
    expect(vcpu.exit()).toEqual({ reason: "Hlt" });
    vcpu.setImmediateExit(true);
    expect(vcpu.kvmRun.immediateExit).toBe(1);
    expect(thrown(() => vcpu.run()).code).toBe("EINTR");
    expect(vcpu.exit()).toEqual({ reason: "Unsupported", exitReason: 10 });
    vcpu.setImmediateExit(false);
    expect(vcpu.kvmRun.immediateExit).toBe(0);
  });

  it("gets and sets registers, FPU, MSRs, CPUID, events, MP state, debug state", () => {
    const { vm, vcpu } = wrapped([0xf4]);
    const regs = { ...vcpu.getRegs(), rbx: 0x1234n };
    vcpu.setRegs(regs);
    expect(vcpu.getRegs()).toEqual(regs);
    const sregs = { ...vcpu.getSregs(), cr2: 0x4000n };
    vcpu.setSregs(sregs);
    expect(vcpu.getSregs()).toEqual(sregs);
    expect(thrown(() => vcpu.setSregs({ ...emptyKvmSregs(), cr0: 0x8000_0000n })).code).toBe(
      "EINVAL",
    );

    const fpu = { ...emptyKvmFpu(), fcw: 0x27f, mxcsr: 0x1f80 };
    vcpu.setFpu(fpu);
    expect(vcpu.getFpu()).toEqual(fpu);

    expect(
      vcpu.setMsrs([
        { index: 0x174, data: 8n },
        { index: 0xdead, data: 1n },
      ]),
    ).toBe(1);
    expect(vcpu.getMsrs([0x174, 0xdead])).toEqual([{ index: 0x174, data: 8n }]);

    vcpu.setCpuid2(TOY_CPUID);
    expect(vcpu.getCpuid2()).toEqual(TOY_CPUID);
    expect(thrown(() => vcpu.getCpuid2(1)).code).toBe("E2BIG");

    vcpu.interrupt(0x20);
    vcpu.nmi();
    const ev = vcpu.getVcpuEvents();
    expect([ev.interrupt.injected, ev.interrupt.nr, ev.nmi.pending]).toEqual([1, 0x20, 1]);
    vcpu.setVcpuEvents({ ...emptyKvmVcpuEvents(), flags: 0 });
    expect(vcpu.getVcpuEvents().interrupt.injected).toBe(0);

    expect(vcpu.getMpState()).toBe(KVM_MP_STATE_RUNNABLE);
    vcpu.setMpState(KVM_MP_STATE_RUNNABLE);
    vcpu.setGuestDebug(KVM_GUESTDBG_ENABLE);
    vcpu.setGuestDebug(0);
    const dr = { db: [1n, 2n, 3n, 4n], dr6: 0xffff_0ff0n, dr7: 0x400n, flags: 0n };
    vcpu.setDebugregs(dr);
    expect(vcpu.getDebugregs()).toEqual(dr);
    vcpu.setSignalMask([SIGUSR1]);
    vcpu.setSignalMask(null);
    expect(vcpu.getTscKhz()).toBe(2_000_000);
    vcpu.close();
    vm.close();
  });
});

describe("the irqchip wrappers", () => {
  it("createIrqchip, irqLineStatus, get/setIrqchip, get/setLapic (a kernel with CONFIG_KVM_IOAPIC)", () => {
    const { proc } = irqchipHost();
    const vm = Kvm.open(proc).createVm();
    vm.createIrqchip();
    expect(thrown(() => vm.createIrqchip()).code).toBe("EEXIST");
    const vcpu = vm.createVcpu(0);
    const io = vm.getIrqchip(KVM_IRQCHIP_IOAPIC).ioapic!;
    expect(io.redirtbl[0]).toBe(0x1_0000n);
    const pic = vm.getIrqchip(KVM_IRQCHIP_PIC_MASTER).pic!;
    vm.setIrqchip({ chipId: KVM_IRQCHIP_PIC_MASTER, pic: { ...pic, imr: 0xff } });
    expect(vm.irqLineStatus(3, 1)).toBe(-1);
    vm.irqLine(3, 0);
    const lapic = vcpu.getLapic();
    expect(new DataView(lapic.buffer).getUint32(0x30, true)).toBe(0x5_0014);
    new DataView(lapic.buffer).setUint32(0x80, 0x20, true);
    vcpu.setLapic(lapic);
    expect(new DataView(vcpu.getLapic().buffer).getUint32(0x80, true)).toBe(0x20);
  });
});

// ───────────────────────────── every method over a bad fd ─────────────────────────────

/** Methods that make no system call (they read or write the mapped kvm_run). */
const NO_SYSCALL = new Set(["constructor", "exit", "setImmediateExit", "msrList"]);

const methodsOf = (proto: object): string[] =>
  Object.getOwnPropertyNames(proto)
    .filter((n) => typeof (proto as Record<string, unknown>)[n] === "function")
    .filter((n) => !NO_SYSCALL.has(n))
    .sort();

type Case<W> = readonly [method: string, call: (w: W) => unknown, ioctl: string];

const KVM_CASES: Case<Kvm>[] = [
  ["getApiVersion", (k) => k.getApiVersion(), "KVM_GET_API_VERSION"],
  ["checkExtension", (k) => k.checkExtension(KVM_CAP_USER_MEMORY), "KVM_CHECK_EXTENSION"],
  ["getVcpuMmapSize", (k) => k.getVcpuMmapSize(), "KVM_GET_VCPU_MMAP_SIZE"],
  ["getSupportedCpuid", (k) => k.getSupportedCpuid(), "KVM_GET_SUPPORTED_CPUID"],
  ["getEmulatedCpuid", (k) => k.getEmulatedCpuid(), "KVM_GET_EMULATED_CPUID"],
  ["getMsrIndexList", (k) => k.getMsrIndexList(), "KVM_GET_MSR_INDEX_LIST"],
  ["getMsrFeatureIndexList", (k) => k.getMsrFeatureIndexList(), "KVM_GET_MSR_FEATURE_INDEX_LIST"],
  ["getMsrs", (k) => k.getMsrs([0x10a]), "KVM_GET_MSRS"],
  ["createVm", (k) => k.createVm(), "KVM_CREATE_VM"],
  ["close", (k) => k.close(), "close"],
];

const region = {
  slot: 0,
  flags: 0,
  guestPhysAddr: 0n,
  memorySize: 0x1000n,
  userspaceAddr: 0n,
};

const VM_CASES: Case<VmFd>[] = [
  ["checkExtension", (v) => v.checkExtension(KVM_CAP_USER_MEMORY), "KVM_CHECK_EXTENSION"],
  ["setUserMemoryRegion", (v) => v.setUserMemoryRegion(region), "KVM_SET_USER_MEMORY_REGION"],
  ["setTssAddress", (v) => v.setTssAddress(0xfffb_d000), "KVM_SET_TSS_ADDR"],
  [
    "setIdentityMapAddress",
    (v) => v.setIdentityMapAddress(0xfeff_c000n),
    "KVM_SET_IDENTITY_MAP_ADDR",
  ],
  ["setBootCpuId", (v) => v.setBootCpuId(0), "KVM_SET_BOOT_CPU_ID"],
  ["enableCap", (v) => v.enableCap(KVM_CAP_EXCEPTION_PAYLOAD, [1n]), "KVM_ENABLE_CAP"],
  ["getDirtyLog", (v) => v.getDirtyLog(0, 0x1_0000), "KVM_GET_DIRTY_LOG"],
  ["createVcpu", (v) => v.createVcpu(0), "KVM_CREATE_VCPU"],
  ["createIrqchip", (v) => v.createIrqchip(), "KVM_CREATE_IRQCHIP"],
  ["irqLine", (v) => v.irqLine(4, 1), "KVM_IRQ_LINE"],
  ["irqLineStatus", (v) => v.irqLineStatus(4, 1), "KVM_IRQ_LINE_STATUS"],
  ["getIrqchip", (v) => v.getIrqchip(0), "KVM_GET_IRQCHIP"],
  ["setIrqchip", (v) => v.setIrqchip({ chipId: 0 }), "KVM_SET_IRQCHIP"],
  ["close", (v) => v.close(), "close"],
];

const VCPU_CASES: Case<VcpuFd>[] = [
  ["run", (c) => c.run(), "KVM_RUN"],
  ["getRegs", (c) => c.getRegs(), "KVM_GET_REGS"],
  ["setRegs", (c) => c.setRegs(emptyKvmRegs()), "KVM_SET_REGS"],
  ["getSregs", (c) => c.getSregs(), "KVM_GET_SREGS"],
  ["setSregs", (c) => c.setSregs(emptyKvmSregs()), "KVM_SET_SREGS"],
  ["getFpu", (c) => c.getFpu(), "KVM_GET_FPU"],
  ["setFpu", (c) => c.setFpu(emptyKvmFpu()), "KVM_SET_FPU"],
  ["getMsrs", (c) => c.getMsrs([0x174]), "KVM_GET_MSRS"],
  ["setMsrs", (c) => c.setMsrs([{ index: 0x174, data: 0n }]), "KVM_SET_MSRS"],
  ["setCpuid2", (c) => c.setCpuid2(TOY_CPUID), "KVM_SET_CPUID2"],
  ["getCpuid2", (c) => c.getCpuid2(), "KVM_GET_CPUID2"],
  ["interrupt", (c) => c.interrupt(0x20), "KVM_INTERRUPT"],
  ["nmi", (c) => c.nmi(), "KVM_NMI"],
  ["getVcpuEvents", (c) => c.getVcpuEvents(), "KVM_GET_VCPU_EVENTS"],
  ["setVcpuEvents", (c) => c.setVcpuEvents(emptyKvmVcpuEvents()), "KVM_SET_VCPU_EVENTS"],
  ["getMpState", (c) => c.getMpState(), "KVM_GET_MP_STATE"],
  ["getLapic", (c) => c.getLapic(), "KVM_GET_LAPIC"],
  ["setLapic", (c) => c.setLapic(new Uint8Array(1024)), "KVM_SET_LAPIC"],
  ["setMpState", (c) => c.setMpState(KVM_MP_STATE_RUNNABLE), "KVM_SET_MP_STATE"],
  ["setGuestDebug", (c) => c.setGuestDebug(KVM_GUESTDBG_ENABLE), "KVM_SET_GUEST_DEBUG"],
  ["getDebugregs", (c) => c.getDebugregs(), "KVM_GET_DEBUGREGS"],
  [
    "setDebugregs",
    (c) => c.setDebugregs({ db: [], dr6: 0n, dr7: 0n, flags: 0n }),
    "KVM_SET_DEBUGREGS",
  ],
  ["setSignalMask", (c) => c.setSignalMask([SIGUSR1]), "KVM_SET_SIGNAL_MASK"],
  ["setSignalMask", (c) => c.setSignalMask(null), "KVM_SET_SIGNAL_MASK"],
  ["getTscKhz", (c) => c.getTscKhz(), "KVM_GET_TSC_KHZ"],
  ["close", (c) => c.close(), "close"],
];

/**
 * Wrappers over fds that were opened and then closed. Nothing opens an fd afterwards, so
 * the numbers stay free.
 */
function closedWrappers() {
  const { proc } = host();
  const kvm = Kvm.open(proc);
  const vmFd = kvm.createVm().fd;
  const vcpuFd = proc.ioctl(vmFd, KVM_CREATE_VCPU, 0);
  const deadKvm = Kvm.open(proc);
  expect(vcpuFd).toBeGreaterThan(vmFd);
  for (const fd of [vcpuFd, vmFd]) expect(proc.close(fd)).toBe(0);
  deadKvm.close();
  const vm = new VmFd(proc, vmFd, kvm);
  const vcpu = new VcpuFd(proc, vcpuFd, 0, new Uint8Array(3 * PAGE_SIZE));
  return { proc, deadKvm, vm, vcpu };
}

describe("every wrapper method over a closed fd throws KvmError(EBADF) naming its ioctl", () => {
  it("the tables below cover every method that makes a system call", () => {
    const names = <W>(cases: readonly Case<W>[]) => [...new Set(cases.map(([m]) => m))].sort();
    expect(names(KVM_CASES)).toEqual(methodsOf(Kvm.prototype));
    expect(names(VM_CASES)).toEqual(methodsOf(VmFd.prototype));
    expect(names(VCPU_CASES)).toEqual(methodsOf(VcpuFd.prototype));
  });

  const check = <W>(w: W, [method, call, ioctl]: Case<W>) => {
    const e = thrown(() => call(w));
    expect({ method, errno: e.errno, code: e.code, ioctl: e.ioctl }).toEqual({
      method,
      errno: 9,
      code: "EBADF",
      ioctl,
    });
    expect(e.message).toBe(`${ioctl}: Bad file descriptor (EBADF)`);
  };

  it.each(KVM_CASES.map((c) => [c[0], c] as const))("Kvm.%s", (_, c) => {
    check(closedWrappers().deadKvm, c);
  });

  it.each(VM_CASES.map((c) => [c[0], c] as const))("VmFd.%s", (_, c) => {
    const { proc, vm } = closedWrappers();
    const before = proc.mappings.length;
    check(vm, c);
    // getDirtyLog's bitmap buffer is unmapped again on the error path.
    expect(proc.mappings.length).toBe(before);
  });

  it.each(VCPU_CASES.map((c, i) => [`${c[0]}#${i}`, c] as const))("VcpuFd.%s", (_, c) => {
    check(closedWrappers().vcpu, c);
  });
});
