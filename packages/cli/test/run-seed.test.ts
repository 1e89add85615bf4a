/**
 * The seed's command line (machine pc, accel kvm, the SandyBridge flag list, -smp 2) with
 * -d path and -trace-file: the start-up tree shows the seed's chain in order, and the
 * Chrome trace is valid trace-event JSON with one track per vCPU.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { seedArgv } from "../examples/seed.js";
import { type ChromeTraceJson, glassvmMain } from "../src/index.js";
import { testIo, withoutWarnings } from "./firmware.js";
import { threadNames, traceProblems } from "./trace-schema.js";

const HELLO_LONG = new URL("../../../guests/bin/hello-long.bin", import.meta.url);

describe("the seed's command line on hello-long", () => {
  const t = testIo({ "hello-long.bin": new Uint8Array(readFileSync(HELLO_LONG)) });
  // With the seed's -d exits too: its perf-kvm-stat table goes to stderr after the run.
  const status = glassvmMain(
    seedArgv("hello-long.bin", ["-d", "path", "-trace-file", "out.json"]),
    t.io,
  );

  it("boots hello-long to isa-debug-exit", () => {
    expect(status).toBe(1);
    expect(t.out()).toBe("Hello, world!\n");
  });

  it("-d path: the seed's chain in order, each node with package and file", () => {
    const tree = withoutWarnings(t.err());
    const chain = [
      /^qemuInit +qemu-machine +src\/system\/vl\.ts$/,
      /^├─ configureAccelerators +qemu-machine +src\/system\/vl-options\.ts$/,
      /^│ {2}└─ accelInitMachine +qemu-machine +src\/accel\/accel-system\.ts$/,
      /^│ {5}└─ kvmInit +qemu-machine +src\/accel\/kvm\/kvm-all\.ts$/,
      /^│ {8}├─ open\("\/dev\/kvm"\) = \d+$/,
      /^│ {8}├─ KVM_GET_API_VERSION$/,
      /^│ {8}├─ KVM_CREATE_VM = fd \d+$/,
      /^│ {8}│ {2}└─ kvmDevIoctl +kvm-kernel +src\/kvm_main\.ts$/,
      /^│ {8}│ {5}└─ kvmDevIoctlCreateVm +kvm-kernel +src\/kvm_main\.ts$/,
      /^│ {8}│ {8}└─ kvmCreateVm +kvm-kernel +src\/kvm_main\.ts$/,
      /vmxHardwareEnable +vmx +src\/vmx\.ts$/,
      /^├─ machineRunBoardInit +qemu-machine +src\/hw\/core\/machine\.ts$/,
      /^│ {2}└─ pcInit1 +qemu-machine +src\/hw\/i386\/pc-init\.ts$/,
      /^│ {5}├─ x86CpusInit +qemu-machine +src\/hw\/i386\/x86-common\.ts$/,
      /^│ {5}│ {2}├─ x86CpuNew +qemu-machine/,
      /└─ x86CpuRealizefn +qemu-machine +src\/target\/i386\/cpu\.ts$/,
      /└─ qemuInitVcpu +qemu-machine +src\/system\/cpus\.ts$/,
      /└─ kvmStartVcpuThread +qemu-machine/,
      /└─ kvmVcpuThreadFn \(thread\) +qemu-machine/,
      /└─ kvmInitVcpu +qemu-machine +src\/accel\/kvm\/kvm-all\.ts$/,
      /├─ KVM_CREATE_VCPU = fd \d+$/,
      /└─ kvmVmIoctlCreateVcpu +kvm-kernel/,
      /└─ vmxVcpuCreate +vmx +src\/vmx\.ts$/,
      /├─ mmap\(vcpu 0 fd\) → struct kvm_run$/,
      /└─ kvmArchInitVcpu +qemu-machine/,
      /├─ KVM_SET_CPUID2 \(vcpu 0\)$/,
      // The second CPU: its own x86CpuNew under x86CpusInit, down to its vCPU.
      /^│ {5}│ {2}└─ x86CpuNew +qemu-machine/,
      /├─ KVM_CREATE_VCPU = fd \d+$/,
      /└─ vmxVcpuCreate +vmx +src\/vmx\.ts$/,
      /├─ mmap\(vcpu 1 fd\) → struct kvm_run$/,
      /^│ {5}├─ pcMemoryInit +qemu-machine/,
      /^├─ qemuSystemReset +qemu-machine/,
      /^└─ vmStart +qemu-machine +src\/system\/vl\.ts$/,
    ];
    const lines = tree.split("\n");
    let at = 0;
    for (const re of chain) {
      const i = lines.findIndex((l, k) => k >= at && re.test(l));
      expect(
        i,
        `${re} after line ${at}:\n${lines.slice(at, at + 5).join("\n")}`,
      ).toBeGreaterThanOrEqual(0);
      at = i + 1;
    }
  });

  it("-trace-file: valid trace-event JSON, one track per vCPU, guest and exit slices", () => {
    const json = JSON.parse(t.written.get("out.json")!) as ChromeTraceJson;
    expect(traceProblems(json)).toEqual([]);
    const names = threadNames(json);
    expect([...names.values()].filter((n) => n.endsWith("/KVM"))).toEqual([
      "CPU 0/KVM",
      "CPU 1/KVM",
    ]);
    const cpu0 = [...names].find(([, n]) => n === "CPU 0/KVM")![0];
    const b = json.traceEvents.filter((e) => e.ph === "B" && e.tid === cpu0).map((e) => e.name);
    // hello-long's CR writes exit first (handled in the kernel); then its first OUT.
    expect(b[0]).toBe("guest");
    const io = b.indexOf("IO_INSTRUCTION");
    expect(b.slice(io, io + 3)).toEqual(["IO_INSTRUCTION", "KVM_EXIT_IO", "isa-debugcon write"]);
    // Then the guest again — after a "restart" when the round robin's SIG_IPI (two vCPUs on
    // the kernel's irqchip) ended that KVM_RUN first.
    expect(b.slice(io + 3).find((n) => n !== "restart")).toBe("guest");
    expect(json.traceEvents.some((e) => e.ph === "C" && e.name === "exits/s")).toBe(true);
    // QEMU's memory_region_ops_* events fed the device slices without printing.
    expect(t.err()).not.toContain("memory_region_ops");
  });
});
