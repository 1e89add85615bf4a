/**
 * The instruction emulator on a KVM vCPU made through kvm-kernel's public API. The vendor
 * module here ("emutest") keeps the vCPU's state in plain fields — it never runs a guest —
 * so the tests reach vmxEmulateInstruction exactly as KVM does, with a recording
 * X86EmulateOps or with KVM's own (x86EmulateInstruction, the exits, the replay).
 */
import {
  EMULTYPE_SKIP,
  EXIT_FASTPATH_NONE,
  emulatorOps,
  HostKernel,
  KVM_ISA_VMX,
  type KvmVcpu,
  type KvmVendorModule,
  type KvmX86Ops,
  kvmGetMsrCommon,
  kvmModule,
  kvmSetMsrCommon,
  VCPU_SREG_CS,
  VCPU_SREG_SS,
  X86EMUL_CONTINUE,
  X86EMUL_IO_NEEDED,
  X86EMUL_PROPAGATE_FAULT,
  X86EMUL_UNHANDLEABLE,
  type X86EmulateOps,
  x86EmulateInstruction,
} from "@glassvm/kvm-kernel";
import {
  emptyKvmRegs,
  KVM_EXIT_INTERNAL_ERROR,
  KVM_EXIT_IO,
  KVM_EXIT_IO_OUT,
  KVM_EXIT_MMIO,
  KVM_INTERNAL_ERROR_EMULATION,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY,
  KVM_X86_SHADOW_INT_STI,
  type KvmCpuidEntry2,
  type KvmDtable,
  type KvmRegs,
  type KvmSegment,
  type KvmSregs,
  Kvm as KvmSystem,
  type VcpuFd,
  type VmFd,
} from "@glassvm/kvm-kernel/uapi";
import { describe, expect, it } from "vitest";
import { vmxEmulateInstruction } from "./emulate.js";

// ── a vendor module that only holds state ──

interface TestCpu {
  segs: KvmSegment[];
  rflags: number;
  idt: KvmDtable;
  gdt: KvmDtable;
  shadow: number;
}

const seg = (selector: number, type: number, s = 1): KvmSegment => ({
  base: 0n,
  limit: 0xffff,
  selector,
  type,
  present: 1,
  dpl: 0,
  db: 0,
  s,
  l: 0,
  g: 0,
  avl: 0,
  unusable: 0,
});

const state = (vcpu: KvmVcpu): TestCpu => vcpu.vendor as TestCpu;

function testOps(created: KvmVcpu[]): KvmX86Ops {
  return {
    name: "emutest",
    vcpuCreate(vcpu) {
      const segs = [0, 1, 2, 3, 4, 5].map(() => seg(0, 3));
      segs.push(seg(0, 0xb, 0), seg(0, 2, 0));
      vcpu.vendor = {
        segs,
        rflags: 2,
        idt: { base: 0n, limit: 0xffff },
        gdt: { base: 0n, limit: 0xffff },
        shadow: 0,
      } satisfies TestCpu;
      created.push(vcpu);
      return 0;
    },
    vcpuFree() {},
    vcpuReset(vcpu) {
      state(vcpu).segs[VCPU_SREG_CS] = { ...seg(0xf000, 0xb), base: 0xffff_0000n };
    },
    updateExceptionBitmap() {},
    getMsr: kvmGetMsrCommon,
    setMsr: kvmSetMsrCommon,
    getSegment: (vcpu, s) => ({ ...state(vcpu).segs[s]! }),
    setSegment(vcpu, v, s) {
      state(vcpu).segs[s] = { ...v };
    },
    getCpl: (vcpu) => state(vcpu).segs[VCPU_SREG_SS]!.dpl,
    getCsDbLBits: (vcpu) => ({
      db: state(vcpu).segs[VCPU_SREG_CS]!.db,
      l: state(vcpu).segs[VCPU_SREG_CS]!.l,
    }),
    setCr0(vcpu, cr0) {
      vcpu.arch.cr0 = cr0;
    },
    setCr4(vcpu, cr4) {
      vcpu.arch.cr4 = cr4;
    },
    setEfer(vcpu, efer) {
      vcpu.arch.efer = efer;
      return 0;
    },
    getIdt: (vcpu) => ({ ...state(vcpu).idt }),
    setIdt(vcpu, dt) {
      state(vcpu).idt = { ...dt };
    },
    getGdt: (vcpu) => ({ ...state(vcpu).gdt }),
    setGdt(vcpu, dt) {
      state(vcpu).gdt = { ...dt };
    },
    cacheReg() {},
    getRflags: (vcpu) => state(vcpu).rflags,
    setRflags(vcpu, rflags) {
      state(vcpu).rflags = rflags;
    },
    getIfFlag: (vcpu) => (state(vcpu).rflags & 0x200) !== 0,
    loadMmuPgd() {},
    vcpuRun: () => EXIT_FASTPATH_NONE,
    handleExit: () => 0,
    skipEmulatedInstruction: () => 1,
    setInterruptShadow(vcpu, mask) {
      state(vcpu).shadow = mask;
    },
    getInterruptShadow: (vcpu) => state(vcpu).shadow,
    getExitInfo: () => ({ reason: 0, info1: 0n, info2: 0n, intrInfo: 0, errorCode: 0 }),
    injectIrq() {},
    injectNmi() {},
    injectException() {},
    cancelInjection() {},
    interruptAllowed: () => 1,
    nmiAllowed: () => 1,
    getNmiMask: () => false,
    setNmiMask() {},
    enableNmiWindow() {},
    enableIrqWindow() {},
    emulateInstruction: vmxEmulateInstruction,
  };
}

/** CPUID.01H:EDX with FXSR, SSE and SSE2 (bits 24–26), and without. */
const SSE_EDX = 0x0700_0000;
const cpuidTable = (edx1: number): KvmCpuidEntry2[] => [
  { function: 0, index: 0, flags: 0, eax: 1, ebx: 0x756e_6547, ecx: 0x6c65_746e, edx: 0x4965_6e69 },
  { function: 1, index: 0, flags: 0, eax: 0x206a7, ebx: 0, ecx: 0, edx: edx1 },
];

function testModule(created: KvmVcpu[]): KvmVendorModule {
  return {
    name: "emutest",
    isa: KVM_ISA_VMX,
    initOps: { hardwareSetup: () => 0, runtimeOps: testOps(created) },
    supportedCpuid: () => cpuidTable(SSE_EDX),
    exitReasonName: (r) => `${r}`,
  };
}

// ── guests ──

const RAM_SIZE = 0x20_0000;
const MMIO = 0xd000_0000;
const CODE = 0x1000;

interface Guest {
  vcpu: KvmVcpu;
  fd: VcpuFd;
  vm: VmFd;
  ram: Uint8Array;
  ramAddr: number;
  /** Map `size` bytes of fresh process memory at `gpa` as memslot `slot`. */
  addSlot(slot: number, gpa: number, size: number, flags?: number): Uint8Array;
}

function guest(code: readonly number[], { ramSize = RAM_SIZE } = {}): Guest {
  const kernel = new HostKernel();
  const created: KvmVcpu[] = [];
  if (kernel.loadModule(kvmModule(testModule(created))) !== 0) throw new Error("modprobe");
  const proc = kernel.spawn();
  const vm = KvmSystem.open(proc).createVm();
  const addSlot = (slot: number, gpa: number, size: number, flags = 0): Uint8Array => {
    const addr = proc.mmap(-1, size);
    vm.setUserMemoryRegion({
      slot,
      flags,
      guestPhysAddr: BigInt(gpa),
      memorySize: BigInt(size),
      userspaceAddr: BigInt(addr),
    });
    return proc.view(addr, size);
  };
  const ramAddr = proc.mmap(-1, ramSize);
  vm.setUserMemoryRegion({
    slot: 0,
    flags: 0,
    guestPhysAddr: 0n,
    memorySize: BigInt(ramSize),
    userspaceAddr: BigInt(ramAddr),
  });
  const ram = proc.view(ramAddr, ramSize);
  ram.set(code, CODE);
  const fd = vm.createVcpu(0);
  fd.setCpuid2(cpuidTable(SSE_EDX));
  return { vcpu: created[0]!, fd, vm, ram, ramAddr, addSlot };
}

const flat = (type: number, selector: number): KvmSegment => ({
  ...seg(selector, type),
  limit: 0xffff_ffff,
  db: 1,
  g: 1,
});

const CR0_PE = 1;
const CR0_ET = 1 << 4;
const CR0_PG = 1 << 31;

/** 32-bit protected mode, flat 4 GiB segments; `paging` with the page directory at CR3. */
function protected32(g: Guest, { cr3 = 0, cr4 = 0 } = {}): KvmSregs {
  const s = g.fd.getSregs();
  const data = flat(3, 0x10);
  const sregs: KvmSregs = {
    ...s,
    cs: flat(0xb, 0x08),
    ds: data,
    es: data,
    fs: data,
    gs: data,
    ss: data,
    cr0: BigInt((CR0_PE | CR0_ET | (cr3 !== 0 ? CR0_PG : 0)) >>> 0),
    cr3: BigInt(cr3),
    cr4: BigInt(cr4),
  };
  g.fd.setSregs(sregs);
  return sregs;
}

/**
 * 64-bit mode with 4-level paging: the low 2 MiB identity-mapped (a large page), and the
 * page at linear 1_0000_0000h mapped to the MMIO page.
 */
function long64(g: Guest): void {
  const [pml4, pdpt, pdLow, pdHigh, pt] = [0x10000, 0x11000, 0x12000, 0x13000, 0x14000];
  put32(g.ram, pml4, pdpt | 3);
  put32(g.ram, pdpt, pdLow | 3);
  put32(g.ram, pdLow, 0x83);
  put32(g.ram, pdpt + 8 * 4, pdHigh | 3);
  put32(g.ram, pdHigh, pt | 3);
  put32(g.ram, pt, MMIO | 3);
  const s = g.fd.getSregs();
  const data = flat(3, 0x10);
  g.fd.setSregs({
    ...s,
    cs: { ...flat(0xb, 0x08), db: 0, l: 1 },
    ds: data,
    es: data,
    ss: data,
    cr0: BigInt((CR0_PE | CR0_ET | CR0_PG) >>> 0),
    cr3: BigInt(pml4),
    cr4: 1n << 5n,
    efer: 0x500n,
  });
}

function regs(g: Guest, r: Partial<KvmRegs>): void {
  g.fd.setRegs({ ...emptyKvmRegs(), rip: BigInt(CODE), rflags: 2n, ...r });
}

const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];

function put32(mem: Uint8Array, at: number, v: number): void {
  mem.set(le32(v), at);
}

const get32 = (mem: Uint8Array, at: number): number =>
  (mem[at]! | (mem[at + 1]! << 8) | (mem[at + 2]! << 16) | (mem[at + 3]! << 24)) >>> 0;

/** An X86EmulateOps that records every call; MMIO and port reads answer from functions. */
class RecordingOps implements X86EmulateOps {
  readonly reads: { gpa: number; len: number }[] = [];
  readonly writes: { gpa: number; bytes: number[] }[] = [];
  readonly ins: { size: number; port: number; count: number }[] = [];
  readonly outs: { size: number; port: number; count: number; bytes: number[] }[] = [];
  /** MMIO read data, or null: "userspace must answer" (IO_NEEDED). */
  mmio: (gpa: number, len: number) => number[] | null = (_gpa, len) => Array(len).fill(0xee);
  port: (size: number, port: number, count: number) => number[] | null = () => null;

  readEmulated(gpa: number, dst: Uint8Array): number {
    this.reads.push({ gpa, len: dst.length });
    const data = this.mmio(gpa, dst.length);
    if (!data) return X86EMUL_IO_NEEDED;
    dst.set(data);
    return X86EMUL_CONTINUE;
  }
  writeEmulated(gpa: number, src: Uint8Array): number {
    this.writes.push({ gpa, bytes: [...src] });
    return X86EMUL_CONTINUE;
  }
  pioInEmulated(size: number, port: number, count: number, dst: Uint8Array): number {
    this.ins.push({ size, port, count });
    const data = this.port(size, port, count);
    if (!data) return X86EMUL_IO_NEEDED;
    dst.set(data);
    return X86EMUL_CONTINUE;
  }
  pioOutEmulated(size: number, port: number, count: number, src: Uint8Array): number {
    this.outs.push({ size, port, count, bytes: [...src.subarray(0, size * count)] });
    return X86EMUL_CONTINUE;
  }
}

const emulate = (g: Guest, ops: X86EmulateOps, type = 0): number =>
  vmxEmulateInstruction(g.vcpu, ops, type);

// ── tests ──

describe("vmxEmulateInstruction", () => {
  it("mov [moffs32], al: one writeEmulated with the MMIO address and AL, RIP past it", () => {
    const g = guest([0xa2, ...le32(MMIO + 0x10)]);
    protected32(g);
    regs(g, { rax: 0x1234_565an });
    const ops = new RecordingOps();
    expect(emulate(g, ops)).toBe(X86EMUL_CONTINUE);
    expect(ops.writes).toEqual([{ gpa: MMIO + 0x10, bytes: [0x5a] }]);
    expect(ops.reads).toEqual([]);
    expect(g.fd.getRegs().rip).toBe(BigInt(CODE + 5));
    expect([...g.vcpu.emulatedInsnBytes!]).toEqual([0xa2, 0x10, 0x00, 0x00, 0xd0]);
  });

  it("mov ebx, [disp32]: IO_NEEDED changes nothing; the replay completes with the data", () => {
    const g = guest([0x8b, 0x1d, ...le32(MMIO + 0x20)]);
    protected32(g);
    regs(g, { rbx: 0x1111n });
    const ops = new RecordingOps();
    ops.mmio = () => null;
    expect(emulate(g, ops)).toBe(X86EMUL_IO_NEEDED);
    expect(g.fd.getRegs()).toMatchObject({ rbx: 0x1111n, rip: BigInt(CODE) });
    ops.mmio = () => [0x78, 0x56, 0x34, 0x12];
    expect(emulate(g, ops)).toBe(X86EMUL_CONTINUE);
    expect(g.fd.getRegs()).toMatchObject({ rbx: 0x1234_5678n, rip: BigInt(CODE + 6) });
    expect(ops.reads).toEqual([
      { gpa: MMIO + 0x20, len: 4 },
      { gpa: MMIO + 0x20, len: 4 },
    ]);
  });

  it("through KVM: mov eax, [mmio] exits KVM_EXIT_MMIO and userspace's answer completes it", () => {
    const g = guest([0xa1, ...le32(MMIO + 0x40)]);
    protected32(g);
    regs(g, {});
    expect(x86EmulateInstruction(g.vcpu, 0)).toBe(0);
    const run = g.vcpu.run;
    expect(run.exitReason).toBe(KVM_EXIT_MMIO);
    expect(run.mmioPhysAddr).toBe(BigInt(MMIO + 0x40));
    expect(run.mmioLen).toBe(4);
    expect(run.mmioIsWrite).toBe(0);
    run.mmioData.set([0xef, 0xbe, 0xad, 0xde]);
    expect(g.vcpu.arch.completeUserspaceIo!(g.vcpu)).toBe(1);
    expect(g.fd.getRegs()).toMatchObject({ rax: 0xdead_beefn, rip: BigInt(CODE + 5) });
  });

  it("32-bit paging: mov [esi+4], ecx reaches MMIO through the guest's page table", () => {
    const g = guest([0x89, 0x4e, 0x04]);
    const pd = 0x8000;
    const pt = 0x9000;
    const ptMmio = 0xa000;
    put32(g.ram, pd, pt | 3);
    for (let i = 0; i < 512; i++) put32(g.ram, pt + 4 * i, (i << 12) | 3);
    put32(g.ram, pd + 4 * 0x100, ptMmio | 3);
    put32(g.ram, ptMmio, MMIO | 3);
    protected32(g, { cr3: pd });
    regs(g, { rsi: 0x4000_0000n, rcx: 0xcafe_f00dn });
    const ops = new RecordingOps();
    expect(emulate(g, ops)).toBe(X86EMUL_CONTINUE);
    expect(ops.writes).toEqual([{ gpa: MMIO + 4, bytes: le32(0xcafe_f00d) }]);
    expect(get32(g.ram, ptMmio) & 0x60).toBe(0x60);
    expect(g.fd.getRegs().rip).toBe(BigInt(CODE + 3));
  });

  it("#PF: a write to an unmapped page is queued with its error code and CR2", () => {
    const g = guest([0x89, 0x4e, 0x04]);
    const pd = 0x8000;
    put32(g.ram, pd, 0x9000 | 3);
    for (let i = 0; i < 512; i++) put32(g.ram, 0x9000 + 4 * i, (i << 12) | 3);
    protected32(g, { cr3: pd });
    regs(g, { rsi: 0x4040_0000n });
    const ops = new RecordingOps();
    expect(emulate(g, ops)).toBe(X86EMUL_PROPAGATE_FAULT);
    expect(g.vcpu.arch.exception).toMatchObject({
      pending: true,
      vector: 14,
      hasErrorCode: true,
      errorCode: 2,
    });
    expect(g.vcpu.arch.cr2).toBe(0x4040_0004n);
    expect(g.fd.getRegs().rip).toBe(BigInt(CODE));
    expect(ops.writes).toEqual([]);
  });

  it("#GP: an access beyond DS's limit is queued as #GP(0), RIP unchanged", () => {
    const g = guest([0xa2, ...le32(0x2_0000)]);
    const s = protected32(g);
    g.fd.setSregs({ ...s, ds: { ...s.ds, limit: 0xffff, g: 0 } });
    regs(g, {});
    expect(emulate(g, new RecordingOps())).toBe(X86EMUL_PROPAGATE_FAULT);
    expect(g.vcpu.arch.exception).toMatchObject({ pending: true, vector: 13, errorCode: 0 });
    expect(g.fd.getRegs().rip).toBe(BigInt(CODE));
  });

  it("rep outsb of 3 bytes: one pioOutEmulated with all three, RCX 0, RSI past them", () => {
    const g = guest([0xf3, 0x6e]);
    g.ram.set([0x61, 0x62, 0x63], 0x2000);
    protected32(g);
    regs(g, { rsi: 0x2000n, rcx: 3n, rdx: 0x3f8n });
    const ops = new RecordingOps();
    expect(emulate(g, ops)).toBe(X86EMUL_CONTINUE);
    expect(ops.outs).toEqual([{ size: 1, port: 0x3f8, count: 3, bytes: [0x61, 0x62, 0x63] }]);
    expect(g.fd.getRegs()).toMatchObject({ rcx: 0n, rsi: 0x2003n, rip: BigInt(CODE + 2) });
  });

  it("through KVM: rep outsb is one KVM_EXIT_IO with count 3 and the bytes in the PIO page", () => {
    const g = guest([0xf3, 0x6e]);
    g.ram.set([0x48, 0x69, 0x0a], 0x2000);
    protected32(g);
    regs(g, { rsi: 0x2000n, rcx: 3n, rdx: 0xe9n });
    expect(x86EmulateInstruction(g.vcpu, 0)).toBe(0);
    const run = g.vcpu.run;
    expect(run.exitReason).toBe(KVM_EXIT_IO);
    expect(run.ioDirection).toBe(KVM_EXIT_IO_OUT);
    expect([run.ioSize, run.ioPort, run.ioCount]).toEqual([1, 0xe9, 3]);
    expect([...g.vcpu.pioData.subarray(0, 3)]).toEqual([0x48, 0x69, 0x0a]);
    expect(g.fd.getRegs()).toMatchObject({ rcx: 0n, rip: BigInt(CODE + 2) });
  });

  it("rep outsw of 3000 words: a page of data per call, RIP stays until RCX is 0", () => {
    const g = guest([0xf3, 0x66, 0x6f]);
    protected32(g);
    regs(g, { rsi: 0x1_0000n, rcx: 3000n, rdx: 0x80n });
    const ops = new RecordingOps();
    expect(emulate(g, ops)).toBe(X86EMUL_CONTINUE);
    expect(g.fd.getRegs()).toMatchObject({ rcx: 952n, rsi: 0x1_1000n, rip: BigInt(CODE) });
    expect(emulate(g, ops)).toBe(X86EMUL_CONTINUE);
    expect(g.fd.getRegs()).toMatchObject({
      rcx: 0n,
      rsi: 0x1_0000n + 6000n,
      rip: BigInt(CODE + 3),
    });
    expect(ops.outs.map((o) => [o.size, o.port, o.count])).toEqual([
      [2, 0x80, 2048],
      [2, 0x80, 952],
    ]);
  });

  it("rep insb: IO_NEEDED first, then the port's bytes land at ES:EDI", () => {
    const g = guest([0xf3, 0x6c]);
    protected32(g);
    regs(g, { rdi: 0x3000n, rcx: 3n, rdx: 0x60n });
    const ops = new RecordingOps();
    expect(emulate(g, ops)).toBe(X86EMUL_IO_NEEDED);
    expect(g.fd.getRegs()).toMatchObject({ rcx: 3n, rdi: 0x3000n, rip: BigInt(CODE) });
    ops.port = () => [7, 8, 9];
    expect(emulate(g, ops)).toBe(X86EMUL_CONTINUE);
    expect(ops.ins).toEqual([
      { size: 1, port: 0x60, count: 3 },
      { size: 1, port: 0x60, count: 3 },
    ]);
    expect([...g.ram.subarray(0x3000, 0x3003)]).toEqual([7, 8, 9]);
    expect(g.fd.getRegs()).toMatchObject({ rcx: 0n, rdi: 0x3003n, rip: BigInt(CODE + 2) });
  });

  it("rep movsb that faults part-way keeps the iterations done and stays at RIP", () => {
    const g = guest([0xf3, 0xa4]);
    g.ram.set([1, 2, 3, 4], 0x2000);
    const s = protected32(g);
    // ES: the MMIO page, two bytes long.
    g.fd.setSregs({ ...s, es: { ...s.es, base: BigInt(MMIO), limit: 1, g: 0 } });
    regs(g, { rsi: 0x2000n, rdi: 0n, rcx: 4n });
    const ops = new RecordingOps();
    expect(emulate(g, ops)).toBe(X86EMUL_CONTINUE);
    expect(ops.writes).toEqual([
      { gpa: MMIO, bytes: [1] },
      { gpa: MMIO + 1, bytes: [2] },
    ]);
    expect(g.fd.getRegs()).toMatchObject({ rcx: 2n, rsi: 0x2002n, rdi: 2n, rip: BigInt(CODE) });
    expect(g.vcpu.arch.exception.pending).toBe(false);
  });

  it("ud2 is unhandleable; through KVM at CPL 0 it is KVM_EXIT_INTERNAL_ERROR with its bytes", () => {
    const g = guest([0x0f, 0x0b]);
    protected32(g);
    regs(g, {});
    expect(emulate(g, new RecordingOps())).toBe(X86EMUL_UNHANDLEABLE);
    expect([...g.vcpu.emulatedInsnBytes!]).toEqual([0x0f, 0x0b]);
    expect(x86EmulateInstruction(g.vcpu, 0)).toBe(0);
    const run = g.vcpu.run;
    expect(run.exitReason).toBe(KVM_EXIT_INTERNAL_ERROR);
    expect(run.internalSuberror).toBe(KVM_INTERNAL_ERROR_EMULATION);
    expect(run.emulationFailureInsnSize).toBe(2);
    expect([...run.emulationFailureInsnBytes.subarray(0, 2)]).toEqual([0x0f, 0x0b]);
  });

  it("code outside guest RAM is unhandleable", () => {
    const g = guest([]);
    protected32(g);
    regs(g, { rip: BigInt(MMIO) });
    expect(emulate(g, new RecordingOps())).toBe(X86EMUL_UNHANDLEABLE);
    expect(g.vcpu.emulatedInsnBytes).toHaveLength(0);
  });

  it("a segment register load is written back with set_segment", () => {
    // mov ss, [mmio] — the selector comes from MMIO.
    const g = guest([0x8e, 0x15, ...le32(MMIO)]);
    // A GDT with a data segment at selector 18h: base 1000h, limit 4 GiB.
    put32(g.ram, 0x7018, 0x1000_ffff);
    put32(g.ram, 0x701c, 0x00cf_9300);
    const s = protected32(g);
    g.fd.setSregs({ ...s, gdt: { base: 0x7000n, limit: 0x1f } });
    regs(g, {});
    const ops = new RecordingOps();
    ops.mmio = () => [0x18, 0];
    expect(emulate(g, ops)).toBe(X86EMUL_CONTINUE);
    expect(g.fd.getRegs().rip).toBe(BigInt(CODE + 6));
    const ss = g.fd.getSregs().ss;
    expect([ss.selector, ss.base, ss.limit, ss.type, ss.db, ss.g]).toEqual([
      0x18,
      0x1000n,
      0xffff_ffff,
      3,
      1,
      1,
    ]);
  });

  it("instructions that change state it does not write back are unhandleable", () => {
    // lldt [mmio] — loads LDTR, which the emulator does not write back.
    const g = guest([0x0f, 0x00, 0x15, ...le32(MMIO)]);
    // An LDT descriptor at selector 18h: base 2000h, limit FFh, type 2, present.
    put32(g.ram, 0x7018, 0x2000_00ff);
    put32(g.ram, 0x701c, 0x0000_8200);
    const s = protected32(g);
    g.fd.setSregs({ ...s, gdt: { base: 0x7000n, limit: 0x1f } });
    regs(g, {});
    const ops = new RecordingOps();
    ops.mmio = () => [0x18, 0];
    expect(emulate(g, ops)).toBe(X86EMUL_UNHANDLEABLE);
    expect(g.fd.getRegs().rip).toBe(BigInt(CODE));
  });

  it("EMULTYPE_SKIP moves RIP past the instruction without running it", () => {
    const g = guest([0xa2, ...le32(MMIO)]);
    protected32(g);
    regs(g, {});
    const ops = new RecordingOps();
    expect(emulate(g, ops, EMULTYPE_SKIP)).toBe(X86EMUL_CONTINUE);
    expect(ops.writes).toEqual([]);
    expect(g.fd.getRegs().rip).toBe(BigInt(CODE + 5));
  });

  it("64-bit mode: mov [rax], ecx with RAX above 4 GiB reaches the MMIO page mapped there", () => {
    const g = guest([0x89, 0x08]);
    long64(g);
    regs(g, { rax: 0x1_0000_0040n, rcx: 0x8765_4321n });
    const ops = new RecordingOps();
    expect(emulate(g, ops)).toBe(X86EMUL_CONTINUE);
    expect(ops.writes).toEqual([{ gpa: MMIO + 0x40, bytes: le32(0x8765_4321) }]);
    expect(g.fd.getRegs().rip).toBe(BigInt(CODE + 2));
  });

  it("64-bit mode: rep outsb with a 33-bit RCX moves a page and keeps the rest of the count", () => {
    const g = guest([0xf3, 0x6e]);
    long64(g);
    regs(g, { rsi: 0x2000n, rcx: 0x1_0000_0002n, rdx: 0x402n });
    const ops = new RecordingOps();
    expect(emulate(g, ops)).toBe(X86EMUL_CONTINUE);
    expect(ops.outs.map((o) => [o.size, o.port, o.count])).toEqual([[1, 0x402, 4096]]);
    expect(g.fd.getRegs()).toMatchObject({
      rcx: 0x1_0000_0002n - 4096n,
      rsi: 0x3000n,
      rip: BigInt(CODE),
    });
  });

  it.todo("MMIO above 4 GiB physical (the x86 core's physical addresses are 32-bit)");

  it("memslots: a slot added later is RAM; a read-only slot's writes go to writeEmulated", () => {
    const g = guest([0xa3, ...le32(MMIO)]);
    protected32(g);
    regs(g, { rax: 0x0102_0304n });
    const ops = new RecordingOps();
    expect(emulate(g, ops)).toBe(X86EMUL_CONTINUE);
    expect(ops.writes).toHaveLength(1);
    const ram = g.addSlot(1, MMIO, 0x1000);
    regs(g, { rax: 0x0506_0708n });
    expect(emulate(g, ops)).toBe(X86EMUL_CONTINUE);
    expect(ops.writes).toHaveLength(1);
    expect(get32(ram, 0)).toBe(0x0506_0708);
    // A ROM: reads come from its bytes, writes are MMIO.
    const rom = g.addSlot(2, 0xe000_0000, 0x1000, KVM_MEM_READONLY);
    put32(rom, 0, 0xaabb_ccdd);
    g.ram.set([0xa1, ...le32(0xe000_0000), 0xa3, ...le32(0xe000_0000)], CODE);
    regs(g, {});
    expect(emulate(g, ops)).toBe(X86EMUL_CONTINUE);
    expect(g.fd.getRegs().rax).toBe(0xaabb_ccddn);
    expect(ops.reads).toEqual([]);
    expect(emulate(g, ops)).toBe(X86EMUL_CONTINUE);
    expect(ops.writes[1]).toEqual({ gpa: 0xe000_0000, bytes: le32(0xaabb_ccdd) });
    expect(get32(rom, 0)).toBe(0xaabb_ccdd);
  });

  it("through KVM: movsd from MMIO into a dirty-logged page lands there and marks it dirty", () => {
    const g = guest([0xa5]);
    g.vm.setUserMemoryRegion({
      slot: 0,
      flags: KVM_MEM_LOG_DIRTY_PAGES,
      guestPhysAddr: 0n,
      memorySize: BigInt(RAM_SIZE),
      userspaceAddr: BigInt(g.ramAddr),
    });
    protected32(g);
    regs(g, { rsi: BigInt(MMIO), rdi: 0x5000n });
    g.vm.getDirtyLog(0, RAM_SIZE);
    expect(x86EmulateInstruction(g.vcpu, 0)).toBe(0);
    expect(g.vcpu.run.exitReason).toBe(KVM_EXIT_MMIO);
    g.vcpu.run.mmioData.set(le32(0x1357_9bdf));
    expect(g.vcpu.arch.completeUserspaceIo!(g.vcpu)).toBe(1);
    expect(get32(g.ram, 0x5000)).toBe(0x1357_9bdf);
    expect(g.fd.getRegs()).toMatchObject({ rsi: BigInt(MMIO + 4), rdi: 0x5004n });
    const dirty = g.vm.getDirtyLog(0, RAM_SIZE);
    expect(dirty[0]! & (1 << 5)).not.toBe(0);
  });

  it("SSE: movdqu xmm1, [mmio] needs SSE2 in the vCPU's CPUID and goes to the FXSAVE image", () => {
    const g = guest([0xf3, 0x0f, 0x6f, 0x0d, ...le32(MMIO)]);
    protected32(g, { cr4: 1 << 9 });
    regs(g, {});
    const ops = new RecordingOps();
    ops.mmio = (gpa, len) => Array.from({ length: len }, (_, k) => (gpa - MMIO + k) & 0xff);
    g.vcpu.arch.guestFpuDirty = false;
    expect(emulate(g, ops)).toBe(X86EMUL_CONTINUE);
    const xmm1 = g.vcpu.arch.guestFpu.subarray(160 + 16, 160 + 32);
    expect([...xmm1]).toEqual(Array.from({ length: 16 }, (_, k) => k));
    expect(g.vcpu.arch.guestFpuDirty).toBe(true);
    expect(g.fd.getRegs().rip).toBe(BigInt(CODE + 8));
  });

  it("SSE: without SSE2 in CPUID movdqu is #UD, which the emulator does not handle", () => {
    const g = guest([0xf3, 0x0f, 0x6f, 0x0d, ...le32(MMIO)]);
    g.fd.setCpuid2(cpuidTable(0));
    protected32(g, { cr4: 1 << 9 });
    regs(g, {});
    expect(emulate(g, new RecordingOps())).toBe(X86EMUL_UNHANDLEABLE);
  });

  it("uses KVM's emulatorOps object unchanged between calls (one emulator per vCPU)", () => {
    const g = guest([0x90]);
    protected32(g);
    regs(g, {});
    expect(emulate(g, emulatorOps(g.vcpu))).toBe(X86EMUL_CONTINUE);
    expect(g.fd.getRegs().rip).toBe(BigInt(CODE + 1));
    regs(g, {});
    expect(emulate(g, emulatorOps(g.vcpu))).toBe(X86EMUL_CONTINUE);
    expect(g.fd.getRegs().rip).toBe(BigInt(CODE + 1));
  });
  it("in al, 60h and out dx, ax: one port access each", () => {
    const g = guest([0xe4, 0x60]);
    protected32(g);
    regs(g, { rax: 0xffff_ff00n });
    const ops = new RecordingOps();
    expect(emulate(g, ops)).toBe(X86EMUL_IO_NEEDED);
    expect(g.fd.getRegs().rip).toBe(BigInt(CODE));
    ops.port = () => [0x42];
    expect(emulate(g, ops)).toBe(X86EMUL_CONTINUE);
    expect(g.fd.getRegs()).toMatchObject({ rax: 0xffff_ff42n, rip: BigInt(CODE + 2) });
    g.ram.set([0x66, 0xef], CODE);
    regs(g, { rax: 0xbeefn, rdx: 0x1f0n });
    expect(emulate(g, ops)).toBe(X86EMUL_CONTINUE);
    expect(ops.outs).toEqual([{ size: 2, port: 0x1f0, count: 1, bytes: [0xef, 0xbe] }]);
    expect(g.fd.getRegs().rip).toBe(BigInt(CODE + 2));
  });

  it("real mode: mov [10h], al with DS at the VGA window below guest RAM's end", () => {
    const g = guest([0xa2, 0x10, 0x00], { ramSize: 0xa_0000 });
    const s = g.fd.getSregs();
    g.fd.setSregs({
      ...s,
      cs: { ...s.cs, selector: 0, base: 0n },
      ds: { ...s.ds, selector: 0xa000, base: 0xa_0000n },
    });
    regs(g, { rax: 0x77n });
    const ops = new RecordingOps();
    expect(emulate(g, ops)).toBe(X86EMUL_CONTINUE);
    expect(ops.writes).toEqual([{ gpa: 0xa_0010, bytes: [0x77] }]);
    expect(g.fd.getRegs().rip).toBe(BigInt(CODE + 3));
  });

  it("sti opens the STI shadow; the next emulated instruction closes it", () => {
    const g = guest([0xfb, 0x90]);
    protected32(g);
    regs(g, {});
    expect(emulate(g, new RecordingOps())).toBe(X86EMUL_CONTINUE);
    expect(g.vcpu.kvm.ops.getInterruptShadow(g.vcpu)).toBe(KVM_X86_SHADOW_INT_STI);
    expect(g.fd.getRegs().rflags & 0x200n).toBe(0x200n);
    expect(emulate(g, new RecordingOps())).toBe(X86EMUL_CONTINUE);
    expect(g.vcpu.kvm.ops.getInterruptShadow(g.vcpu)).toBe(0);
    expect(g.fd.getRegs().rip).toBe(BigInt(CODE + 2));
  });

  it("through KVM: movsd from MMIO to MMIO is a read exit, then a write exit after the replay", () => {
    const g = guest([0xa5]);
    protected32(g);
    regs(g, { rsi: BigInt(MMIO), rdi: BigInt(MMIO + 0x100) });
    const run = g.vcpu.run;
    expect(x86EmulateInstruction(g.vcpu, 0)).toBe(0);
    expect([run.exitReason, run.mmioPhysAddr, run.mmioIsWrite]).toEqual([
      KVM_EXIT_MMIO,
      BigInt(MMIO),
      0,
    ]);
    run.mmioData.set(le32(0x0bad_f00d));
    expect(g.vcpu.arch.completeUserspaceIo!(g.vcpu)).toBe(0);
    expect([run.exitReason, run.mmioPhysAddr, run.mmioIsWrite, run.mmioLen]).toEqual([
      KVM_EXIT_MMIO,
      BigInt(MMIO + 0x100),
      1,
      4,
    ]);
    expect([...run.mmioData.subarray(0, 4)]).toEqual(le32(0x0bad_f00d));
    expect(g.vcpu.arch.completeUserspaceIo!(g.vcpu)).toBe(1);
    expect(g.fd.getRegs()).toMatchObject({
      rsi: BigInt(MMIO + 4),
      rdi: BigInt(MMIO + 0x104),
      rip: BigInt(CODE + 1),
    });
  });
});
