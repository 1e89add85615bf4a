/**
 * accel/kvm against the modelled kernel with kvm_intel loaded: kvm_init, the memory slots
 * from the flattened RAM, kvm_init_vcpu and the kvm_cpu_exec loop — a guest's OUTs reach
 * an I/O region, its HLT ends the loop — with QEMU's trace lines.
 */
import { HostKernel, kvmModule } from "@glassvm/kvm-kernel";
import {
  decodeKvmSregs,
  emptyKvmRegs,
  encodeKvmRegs,
  encodeKvmSregs,
  KVM_GET_SREGS,
  KVM_SET_REGS,
  KVM_SET_SREGS,
  KVM_SREGS_SIZE,
} from "@glassvm/kvm-kernel/uapi";
import { kvmIntelModule } from "@glassvm/vmx";
import { afterEach, describe, expect, it } from "vitest";
import {
  EXCP_HLT,
  EXCP_INTERRUPT,
  KVMState,
  type KvmCpuExecHooks,
  type KvmVcpuState,
  kvmCpuExec,
  kvmInit,
  kvmInitVcpu,
  kvmVcpuIoctl,
} from "../src/accel/kvm/kvm-all.js";
import {
  AddressSpace,
  memoryRegionAddSubregion,
  memoryRegionInit,
  memoryRegionInitIo,
  memoryRegionInitRam,
} from "../src/system/memory.js";
import { traceAddSink, traceEnable, traceReset } from "../src/trace/control.js";

function machine(ramSize = 1 << 20) {
  const kernel = new HostKernel();
  kernel.loadModule(kvmModule(kvmIntelModule(kernel)));
  const os = kernel.spawn("qemu-system-x86_64");
  const ramAddr = os.mmap(-1, ramSize);
  const ram = os.view(ramAddr, ramSize);
  const sys = memoryRegionInit("machine", "system", 2 ** 32);
  memoryRegionAddSubregion(sys, 0, memoryRegionInitRam("machine", "pc.ram", ram, ramAddr));
  const io = memoryRegionInit("machine", "io", 0x1_0000);
  const out: number[] = [];
  memoryRegionAddSubregion(
    io,
    0xe9,
    memoryRegionInitIo(
      "debugcon",
      { read: () => 0xe9, write: (_a, v) => out.push(v) },
      "debugcon",
      1,
    ),
  );
  const m = {
    smpCpus: 1,
    maxCpus: 1,
    memory: new AddressSpace("memory", sys),
    io: new AddressSpace("I/O", io),
  };
  return { kernel, os, ram, out, m };
}

const messages: string[] = [];
const hooks: KvmCpuExecHooks = {
  resetRequest: () => messages.push("reset"),
  shutdownRequest: () => messages.push("shutdown"),
  report: (t) => messages.push(t),
};

/** Real mode at 0000:1000 (KVM_SET_SREGS with CS base 0, KVM_SET_REGS). */
function realModeAt(s: KVMState, cpu: KvmVcpuState, rip: number) {
  const buf = new Uint8Array(KVM_SREGS_SIZE);
  expect(kvmVcpuIoctl(s, cpu, KVM_GET_SREGS, buf)).toBe(0);
  const sregs = decodeKvmSregs(buf);
  sregs.cs = { ...sregs.cs, selector: 0, base: 0n };
  expect(kvmVcpuIoctl(s, cpu, KVM_SET_SREGS, encodeKvmSregs(sregs))).toBe(0);
  const regs = { ...emptyKvmRegs(), rip: BigInt(rip), rflags: 2n, rsp: 0x8000n };
  expect(kvmVcpuIoctl(s, cpu, KVM_SET_REGS, encodeKvmRegs(regs))).toBe(0);
}

describe("accel/kvm on kvm_intel", () => {
  afterEach(() => {
    traceReset();
    messages.length = 0;
  });

  it("kvm_init opens /dev/kvm, creates the VM and registers the RAM as a slot", () => {
    const { os, m } = machine();
    const lines: string[] = [];
    traceEnable("kvm_*");
    const off = traceAddSink((r) => lines.push(r.line));
    const s = kvmInit(os, m, (k, t) => messages.push(`${k}: ${t}`));
    off();
    expect(s).toBeInstanceOf(KVMState);
    const st = s as KVMState;
    expect(st.slots).toEqual([
      { slot: 0, gpa: 0, size: 1 << 20, hostAddr: expect.any(Number), flags: 0 },
    ]);
    expect(lines[0]).toBe("kvm_ioctl type 0xae00, arg (nil)");
    expect(lines).toContain("kvm_ioctl type 0xae01, arg (nil)");
    expect(
      lines.some((l) =>
        l.startsWith("kvm_set_user_memory AddrSpace#0 Slot#0 flags=0x0 gpa=0x0 size=0x100000"),
      ),
    ).toBe(true);
    // What the kernel model lacks of QEMU's required list is named, not hidden.
    expect(st.waivedCapabilities).toContain("KVM_CAP_IOEVENTFD");
    expect(messages).toEqual([]);
  });

  it("reports QEMU's messages: no /dev/kvm, too many vCPUs", () => {
    const kernel = new HostKernel();
    const os = kernel.spawn("qemu");
    const { m } = machine();
    expect(kvmInit(os, m, (k, t) => messages.push(`${k}: ${t}`))).toBe(-2);
    expect(messages).toEqual([
      "error: Could not access KVM kernel module: No such file or directory",
    ]);
    messages.length = 0;
    const big = machine();
    const r = kvmInit(big.os, { ...big.m, smpCpus: 4096, maxCpus: 4096 }, (k, t) =>
      messages.push(`${k}: ${t}`),
    );
    expect(r).toBe(-22);
    expect(messages[0]).toMatch(
      /^warning: Number of SMP cpus requested \(4096\) exceeds the recommended cpus supported by KVM \(\d+\)$/,
    );
    expect(messages[1]).toMatch(
      /^error: Number of SMP cpus requested \(4096\) exceeds the maximum cpus supported by KVM \(\d+\)$/,
    );
  });

  it("kvm_cpu_exec: OUTs go to the I/O address space; HLT ends the loop with EXCP_HLT", () => {
    const { os, m, ram, out } = machine();
    const s = kvmInit(os, m, () => {}) as KVMState;
    const cpu = kvmInitVcpu(s, 0, 0) as KvmVcpuState;
    expect(typeof cpu).toBe("object");
    // mov al,'H'; out 0xe9,al; mov al,'i'; out 0xe9,al; hlt
    ram.set([0xb0, 0x48, 0xe6, 0xe9, 0xb0, 0x69, 0xe6, 0xe9, 0xf4], 0x1000);
    realModeAt(s, cpu, 0x1000);
    const lines: string[] = [];
    traceEnable("kvm_run_exit");
    traceEnable("kvm_vcpu_ioctl");
    const off = traceAddSink((r) => lines.push(r.line));
    expect(kvmCpuExec(s, cpu, hooks)).toBe(EXCP_HLT);
    off();
    expect(String.fromCharCode(...out)).toBe("Hi");
    expect(lines.slice(0, 2)).toEqual([
      "kvm_vcpu_ioctl cpu_index 0, type 0xae80, arg (nil)",
      "kvm_run_exit cpu_index 0, reason 2",
    ]);
    expect(lines.at(-1)).toBe("kvm_run_exit cpu_index 0, reason 5");
    expect(cpu.halted).toBe(true);
  });

  it("a triple fault is a reset request; a failed entry prints QEMU's text and stops", () => {
    const { os, m, ram } = machine();
    const s = kvmInit(os, m, () => {}) as KVMState;
    const cpu = kvmInitVcpu(s, 0, 0) as KvmVcpuState;
    // lidt [0x2000] (limit 0), int3 → no IDT → triple fault
    ram.set([0x0f, 0x01, 0x1e, 0x00, 0x20, 0xcc], 0x1000);
    realModeAt(s, cpu, 0x1000);
    expect(kvmCpuExec(s, cpu, hooks)).toBe(EXCP_INTERRUPT);
    expect(messages).toEqual(["reset"]);
  });
});
