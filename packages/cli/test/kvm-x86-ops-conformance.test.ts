/**
 * One conformance suite for the KvmX86Ops contract, run against both vendor modules through
 * a factory (issue 9): kvm_intel (vmxX86Ops) and kvm_amd (svmX86Ops) must look the same to
 * a VMM — the same reset state, the same register round trips, the same exits and results
 * for the same guest code — though one drives a VMCS and the other a VMCB.
 */
import { HostKernel, type KvmVendorModule, kvmModule, kvmX86OpsMissing } from "@glassvm/kvm-kernel";
import {
  emptyKvmRegs,
  Kvm,
  type KvmSegment,
  type VcpuExit,
  type VcpuFd,
} from "@glassvm/kvm-kernel/uapi";
import { kvmAmdModule } from "@glassvm/svm";
import { kvmIntelModule } from "@glassvm/vmx";
import { describe, expect, it } from "vitest";

type Factory = (kernel: HostKernel) => KvmVendorModule;
const VENDORS: readonly (readonly [string, Factory])[] = [
  ["kvm_intel", (k) => kvmIntelModule(k)],
  ["kvm_amd", (k) => kvmAmdModule(k)],
];

interface Machine {
  vcpu: VcpuFd;
  ram: Uint8Array;
}

function machine(factory: Factory, ramSize = 0x10_0000): Machine {
  const kernel = new HostKernel();
  expect(kernel.loadModule(kvmModule(factory(kernel)))).toBe(0);
  const os = kernel.spawn("conformance");
  const vm = Kvm.open(os).createVm();
  const addr = os.mmap(-1, ramSize);
  vm.setUserMemoryRegion({
    slot: 0,
    flags: 0,
    guestPhysAddr: 0n,
    memorySize: BigInt(ramSize),
    userspaceAddr: BigInt(addr),
  });
  return { vcpu: vm.createVcpu(0), ram: os.view(addr, ramSize) };
}

const seg = (over: Partial<KvmSegment>): KvmSegment => ({
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

function realMode(m: Machine, code: readonly number[]): void {
  m.ram.set(code, 0x1000);
  const s = m.vcpu.getSregs();
  const d = seg({});
  m.vcpu.setSregs({ ...s, cs: seg({ type: 11 }), ds: d, es: d, fs: d, gs: d, ss: d });
  m.vcpu.setRegs({ ...emptyKvmRegs(), rip: 0x1000n, rsp: 0x8000n, rflags: 2n });
}

/** Run until HLT (at most `max` exits), answering IN with 0x42; the exits seen. */
function runToHlt(m: Machine, max = 50): VcpuExit[] {
  const seen: VcpuExit[] = [];
  for (let i = 0; i < max; i++) {
    const e = m.vcpu.run();
    seen.push(e.reason === "IoIn" || e.reason === "IoOut" ? { ...e, data: e.data.slice() } : e);
    if (e.reason === "IoIn") e.data.fill(0x42);
    if (e.reason !== "IoIn" && e.reason !== "IoOut") break;
  }
  return seen;
}

/** The same assertions for each vendor; `both` runs a scenario on both and compares. */
function both<T>(scenario: (m: Machine) => T, ramSize?: number): [T, T] {
  return [scenario(machine(VENDORS[0]![1], ramSize)), scenario(machine(VENDORS[1]![1], ramSize))];
}

describe.each(VENDORS)("KvmX86Ops conformance: %s", (name, factory) => {
  it("has every required member", () => {
    const kernel = new HostKernel();
    const mod = factory(kernel);
    expect(mod.name).toBe(name);
    expect(kvmX86OpsMissing(mod.initOps.runtimeOps)).toEqual([]);
  });

  it("resets to the architectural RESET state (CS F000:FFF0, base FFFF0000)", () => {
    const m = machine(factory);
    const s = m.vcpu.getSregs();
    expect(s.cs).toMatchObject({ selector: 0xf000, base: 0xffff_0000n, limit: 0xffff });
    expect(m.vcpu.getRegs().rip).toBe(0xfff0n);
    expect(s.cr0).toBe(0x6000_0010n);
  });

  it("KVM_SET_SREGS / KVM_GET_SREGS round-trip a flat protected-mode state", () => {
    const m = machine(factory);
    const code = seg({ selector: 8, type: 11, db: 1, g: 1, limit: 0xffff_ffff });
    const data = seg({ selector: 16, type: 3, db: 1, g: 1, limit: 0xffff_ffff });
    const s = m.vcpu.getSregs();
    const want = {
      ...s,
      cs: code,
      ds: data,
      es: data,
      fs: data,
      gs: data,
      ss: data,
      gdt: { base: 0x500n, limit: 0x17 },
      idt: { base: 0x800n, limit: 0xff },
      cr0: 0x11n,
    };
    m.vcpu.setSregs(want);
    const got = m.vcpu.getSregs();
    for (const k of ["cs", "ds", "es", "fs", "gs", "ss", "gdt", "idt"] as const) {
      expect(got[k], k).toEqual(want[k]);
    }
    expect(got.cr0).toBe(0x11n);
  });
});

describe("kvm_intel and kvm_amd, side by side", () => {
  it("the same guest code gives the same exits, registers and memory", () => {
    // cpuid (leaf 0); out 0xe9, 'A'; in al, 0x60; wrmsr/rdmsr SYSENTER_CS; store; hlt
    const code = [
      0x66,
      0x31,
      0xc0, // xor eax, eax
      0x0f,
      0xa2, // cpuid
      0xb0,
      0x41, // mov al, 'A'
      0xe6,
      0xe9, // out 0xe9, al
      0xe4,
      0x60, // in al, 0x60
      0xa2,
      0x00,
      0x30, // mov [0x3000], al
      0x66,
      0xb9,
      0x74,
      0x01,
      0x00,
      0x00, // mov ecx, 0x174
      0x66,
      0xb8,
      0x08,
      0x00,
      0x00,
      0x00, // mov eax, 8
      0x66,
      0x31,
      0xd2, // xor edx, edx
      0x0f,
      0x30, // wrmsr
      0x66,
      0x31,
      0xc0, // xor eax, eax
      0x0f,
      0x32, // rdmsr
      0xf4, // hlt
    ];
    const [intel, amd] = both((m) => {
      realMode(m, code);
      const exits = runToHlt(m);
      const r = m.vcpu.getRegs();
      return { exits, rip: r.rip, rax: r.rax, rcx: r.rcx, mem: m.ram[0x3000] };
    });
    expect(amd).toEqual(intel);
    expect(intel.exits.map((e) => e.reason)).toEqual(["IoOut", "IoIn", "Hlt"]);
    expect(intel.mem).toBe(0x42);
    expect(intel.rax & 0xffff_ffffn).toBe(8n);
  });

  it("an access outside every memslot: KVM_EXIT_MMIO on both, completed by userspace", () => {
    const [intel, amd] = both((m) => {
      // mov ax, 0xd000; mov ds, ax; mov al, [0]; out 0xe9, al; hlt
      realMode(m, [0xb8, 0x00, 0xd0, 0x8e, 0xd8, 0xa0, 0, 0, 0xe6, 0xe9, 0xf4]);
      const read = m.vcpu.run();
      if (read.reason === "MmioRead") read.data.set([0x7e]);
      const out = m.vcpu.run();
      return { read: { reason: read.reason, addr: "addr" in read ? read.addr : -1n }, out };
    }, 0x1_0000); // 64 KiB of RAM: 0xD0000 is backed by nothing
    expect(amd).toEqual(intel);
    expect(intel.read).toEqual({ reason: "MmioRead", addr: 0xd_0000n });
    expect(intel.out).toMatchObject({ reason: "IoOut", port: 0xe9, data: new Uint8Array([0x7e]) });
  });

  it("a triple fault is KVM_EXIT_SHUTDOWN on both", () => {
    const [intel, amd] = both((m) => {
      // lidt [0x600] (an empty IDT); int3
      realMode(m, [0x0f, 0x01, 0x1e, 0x00, 0x06, 0xcc]);
      return m.vcpu.run().reason;
    });
    expect([intel, amd]).toEqual(["Shutdown", "Shutdown"]);
  });
});
