import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  buildStartupTree,
  formatStartupTree,
  KERNEL_PATHS,
  KERNEL_PATHS_AMD,
  type PathEvent,
  STARTUP_CALLERS,
} from "./startup-path.js";

const step = (fn: string, file = "x.ts"): PathEvent => ({ kind: "step", fn, file });
const sys = (call: string, result = 0): PathEvent => ({
  kind: "syscall",
  call,
  ioctl: call,
  result,
});

describe("-d path: the start-up tree", () => {
  it("nests steps by QEMU's callers, syscalls under the running step, folds repeats", () => {
    const tree = buildStartupTree([
      step("qemuInit", "system/vl.ts"),
      step("configureAccelerators"),
      step("accelInitMachine"),
      step("kvmInit"),
      sys("KVM_CHECK_EXTENSION"),
      sys("KVM_CHECK_EXTENSION"),
      sys("KVM_CREATE_VM = fd 1"),
      sys("KVM_GET_SUPPORTED_CPUID", -7),
      { kind: "printk", line: "kvm: hello" },
      step("machineRunBoardInit"),
      step("pcInit1"),
      step("somethingNew"),
    ]);
    expect(formatStartupTree(tree)).toBe(
      [
        "qemuInit                           qemu-machine  src/system/vl.ts",
        "├─ configureAccelerators           qemu-machine  src/x.ts",
        "│  └─ accelInitMachine             qemu-machine  src/x.ts",
        "│     └─ kvmInit                   qemu-machine  src/x.ts",
        "│        ├─ KVM_CHECK_EXTENSION ×2",
        "│        ├─ KVM_CREATE_VM = fd 1",
        "│        └─ KVM_GET_SUPPORTED_CPUID = -E2BIG",
        "│           └─ printk: kvm: hello  kvm-kernel    (kernel log)",
        "├─ machineRunBoardInit             qemu-machine  src/x.ts",
        "│  └─ pcInit1                      qemu-machine  src/x.ts",
        "└─ somethingNew                    qemu-machine  src/x.ts",
        "",
      ].join("\n"),
    );
  });

  it("expands the kernel's chain of the seed's ioctls", () => {
    const text = formatStartupTree(
      buildStartupTree([
        step("qemuInit"),
        { kind: "syscall", call: "KVM_CREATE_VCPU", ioctl: "KVM_CREATE_VCPU", result: 3 },
      ]),
    );
    expect(text).toMatch(
      /KVM_CREATE_VCPU\n.*└─ kvmVmIoctl .*\n.*└─ kvmVmIoctlCreateVcpu .*\n.*└─ kvmArchVcpuCreate .*kvm-kernel +src\/x86\.ts\n.*└─ vmxVcpuCreate +vmx +src\/vmx\.ts\n/,
    );
  });

  it("with kvm_amd (-host-cpu amd) the vendor's functions are svm_*", () => {
    const text = formatStartupTree(
      buildStartupTree(
        [
          step("qemuInit"),
          { kind: "syscall", call: "KVM_CREATE_VCPU", ioctl: "KVM_CREATE_VCPU", result: 3 },
          { kind: "syscall", call: "KVM_RUN", ioctl: "KVM_RUN", result: 0 },
        ],
        KERNEL_PATHS_AMD,
      ),
    );
    expect(text).toMatch(/└─ svmVcpuCreate +svm +src\/svm\.ts\n/);
    expect(text).toMatch(/└─ svmVcpuRun +svm +src\/svm\.ts\n.*└─ svmHandleExit +svm/);
    expect(text).not.toMatch(/vmx/);
  });

  it("every kernel function in the table exists under its name in the named file", () => {
    for (const chain of [...Object.values(KERNEL_PATHS), ...Object.values(KERNEL_PATHS_AMD)]) {
      for (const k of chain) {
        const src = readFileSync(new URL(`../../${k.pkg}/${k.file}`, import.meta.url), "utf8");
        expect(src, `${k.fn} in ${k.pkg}/${k.file}`).toMatch(new RegExp(`\\b${k.fn}\\(`));
      }
    }
  });

  it("every step qemu-machine records has its caller in the table", () => {
    const dir = new URL("../../qemu-machine/src/", import.meta.url);
    const files = (readdirSync(dir, { recursive: true }) as string[]).filter(
      (f) => f.endsWith(".ts") && !f.endsWith(".test.ts"),
    );
    const recorded = new Set<string>();
    for (const f of files) {
      const src = readFileSync(new URL(f, dir), "utf8");
      for (const m of src.matchAll(/startupStep\([^,]+,\s*"(\w+)"\)/g)) recorded.add(m[1]!);
    }
    expect(recorded.size).toBeGreaterThan(20);
    for (const fn of recorded) expect(STARTUP_CALLERS, fn).toHaveProperty(fn);
  });
});
