/**
 * The seed's command line through qemu_init: the start-up trace follows design.md's path
 * (configure_accelerator → accel_init_machine → kvm_init → machine_run_board_init →
 * pc_init1 → x86_cpus_init → x86_cpu_new → realize → qemu_init_vcpu → vCPU thread →
 * kvm_init_vcpu), once per CPU for -smp 2.
 */
import { describe, expect, it } from "vitest";
import { qemuInit } from "../src/system/vl.js";
import { qemuTestEnv, romWith } from "./qemu-firmware.js";

const SEED_CPU =
  "SandyBridge,+erms,+smep,+fsgsbase,+pdpe1gb,+rdrand,+f16c,+osxsave,+dca,+pcid,+pdcm,+xtpr," +
  "+tm2,+est,+smx,+vmx,+ds_cpl,+monitor,+dtes64,+pbe,+tm,+ht,+ss,+acpi,+ds,+vme";

const PER_CPU = [
  "x86CpuNew",
  "x86CpuRealizefn",
  "qemuInitVcpu",
  "kvmStartVcpuThread",
  "kvmVcpuThreadFn",
  "kvmInitVcpu",
  "kvmArchInitVcpu",
];

describe("qemu_init with the seed's command line", () => {
  it("walks design.md's path in order", () => {
    const { env, stderr } = qemuTestEnv({ "fw.bin": romWith([0xf4]) });
    const argv = [
      "qemu-system-x86_64",
      "-machine",
      "pc,accel=kvm",
      "-cpu",
      SEED_CPU,
      "-smp",
      "2",
      "-m",
      "64",
      "-bios",
      "fw.bin",
    ];
    const inst = qemuInit(argv, env);
    expect(inst.startupTrace.map((s) => s.fn)).toEqual([
      "qemuInit",
      "qemuParseOptions",
      "qemuCreateMachine",
      "configureAccelerators",
      "accelInitMachine",
      "kvmInit",
      "parseCpuOption",
      "machineRunBoardInit",
      "pcInit1",
      "x86CpusInit",
      ...PER_CPU,
      ...PER_CPU,
      "pcMemoryInit",
      "pcSystemFirmwareInit",
      "x86BiosRomInit",
      "fwCfgArchCreate",
      "pcBasicDeviceInit",
      "qemuCreateCliDevices",
      "qemuSystemReset",
      "vmStart",
    ]);
    expect(inst.startupTrace[0]).toEqual({ step: 1, file: "system/vl.ts", fn: "qemuInit" });
    expect(inst.startupTrace.find((s) => s.fn === "kvmInit")?.file).toBe("accel/kvm/kvm-all.ts");
    // Two vCPUs, APIC IDs 0 and 1, each with its thread and kvm_run mapping.
    expect(inst.vcpuThreads.map((t) => t.name)).toEqual(["CPU 0/KVM", "CPU 1/KVM"]);
    expect(inst.kvm.vcpus.map((v) => v.archId)).toEqual([0, 1]);
    // RAM and the BIOS (ROM at 4G-64K, isa-bios alias below 1M) are KVM memory slots.
    const slots = inst.kvm.slots.map((s) => [s.gpa, s.size, s.flags]).sort((a, b) => a[0]! - b[0]!);
    expect(slots).toEqual([
      [0, 0xf_0000, 0],
      [0xf_0000, 0x1_0000, 2],
      [0x10_0000, 63 * 1024 * 1024, 0],
      [0xffff_0000, 0x1_0000, 2],
    ]);
    // The seed's flags the host lacks are named, as QEMU's check does.
    expect(stderr.join("")).toContain(
      "qemu-system-x86_64: warning: host doesn't support requested feature: CPUID[eax=01h].ECX.vmx [bit 5]",
    );
  });
});
