/**
 * `-d path`: the start-up path as a tree, from what really ran.
 *
 * What ran comes from two recorders, merged in the order things happened:
 * - qemu-machine's start-up trace (`startupStep(file, fn)` at the top of each function
 *   on the seed's path), received one step at a time through `startupTraceListen`;
 * - the system calls the QEMU process makes on its HostOs (open /dev/kvm, every ioctl by
 *   its uapi name, mmap of a vCPU fd), seen by wrapping the HostOs handed to qemuInit,
 *   and the kernel's log lines (printk) that appear meanwhile.
 *
 * The nesting is QEMU's call structure, kept here as a table (caller of each step) rather
 * than inferred from JS stack depth (which bundling, inlining and the steps recorded on a
 * callee's behalf would all distort). It stays true as the code changes because it only
 * says who calls whom: which steps run, how often and in what order is always what the
 * run recorded; a step missing from the table hangs under qemuInit instead of being lost,
 * and a test fails when qemu-machine records a step the table does not know. A system
 * call hangs under the step that was running. The kernel side of the notable ioctls (the
 * handler chain down to the vendor module) is a second table whose every function is
 * checked by a test to exist, under that name, in the named file.
 */

import { errnoName } from "@glassvm/kvm-kernel/uapi";

/** Where a function lives: package and file under the package's directory. */
export interface CodeSite {
  readonly pkg: string;
  readonly file: string;
}

/** One recorded event of the start-up. */
export type PathEvent =
  | { readonly kind: "step"; readonly fn: string; readonly file: string }
  | {
      readonly kind: "syscall";
      /** `open("/dev/kvm")`, `KVM_CREATE_VM`, `mmap(vcpu fd 13)` … */
      readonly call: string;
      /** The ioctl name when it is one (for the kernel chain). */
      readonly ioctl?: string;
      readonly result: number;
    }
  | { readonly kind: "printk"; readonly line: string };

/** QEMU's caller of each start-up step (system/vl.c, hw/i386/*, accel/kvm/*). */
export const STARTUP_CALLERS: Readonly<Record<string, string | null>> = {
  qemuInit: null,
  qemuParseOptions: "qemuInit",
  qemuCreateMachine: "qemuInit",
  configureAccelerators: "qemuInit",
  accelInitMachine: "configureAccelerators",
  kvmInit: "accelInitMachine",
  parseCpuOption: "qemuInit",
  machineRunBoardInit: "qemuInit",
  pcInit1: "machineRunBoardInit",
  x86CpusInit: "pcInit1",
  x86CpuNew: "x86CpusInit",
  x86CpuRealizefn: "x86CpuNew",
  qemuInitVcpu: "x86CpuRealizefn",
  kvmStartVcpuThread: "qemuInitVcpu",
  kvmVcpuThreadFn: "kvmStartVcpuThread",
  kvmInitVcpu: "kvmVcpuThreadFn",
  kvmArchInitVcpu: "kvmInitVcpu",
  pcMemoryInit: "pcInit1",
  pcSystemFirmwareInit: "pcMemoryInit",
  x86BiosRomInit: "pcSystemFirmwareInit",
  fwCfgArchCreate: "pcMemoryInit",
  x86LoadLinux: "pcMemoryInit",
  loadMultiboot: "x86LoadLinux",
  pcBasicDeviceInit: "pcInit1",
  qemuCreateCliDevices: "qemuInit",
  qemuSystemReset: "qemuInit",
  vmStart: "qemuInit",
};

/** Notes for steps whose node means more than the function (the vCPU thread's start). */
const STEP_NOTES: Readonly<Record<string, string>> = {
  kvmVcpuThreadFn: " (thread)",
};

/** A kernel function on an ioctl's path. */
export interface KernelFn extends CodeSite {
  readonly fn: string;
}

const KVM_MAIN: CodeSite = { pkg: "kvm-kernel", file: "src/kvm_main.ts" };
const X86: CodeSite = { pkg: "kvm-kernel", file: "src/x86.ts" };
const VMX: CodeSite = { pkg: "vmx", file: "src/vmx.ts" };
const VMX_MAIN: CodeSite = { pkg: "vmx", file: "src/main.ts" };

/**
 * The kernel's handling of the ioctls on the seed's path, outermost first (virt/kvm/
 * kvm_main.c's dispatch, arch/x86/kvm/x86.c, the kvm_intel vendor op).
 */
export const KERNEL_PATHS: Readonly<Record<string, readonly KernelFn[]>> = {
  KVM_GET_API_VERSION: [{ fn: "kvmDevIoctl", ...KVM_MAIN }],
  KVM_CREATE_VM: [
    { fn: "kvmDevIoctl", ...KVM_MAIN },
    { fn: "kvmDevIoctlCreateVm", ...KVM_MAIN },
    { fn: "kvmCreateVm", ...KVM_MAIN },
    { fn: "vmxHardwareEnableAll", ...VMX_MAIN },
    { fn: "vmxHardwareEnable", ...VMX },
  ],
  KVM_SET_USER_MEMORY_REGION: [
    { fn: "kvmVmIoctl", ...KVM_MAIN },
    { fn: "kvmVmIoctlSetMemoryRegion", ...KVM_MAIN },
  ],
  KVM_CREATE_VCPU: [
    { fn: "kvmVmIoctl", ...KVM_MAIN },
    { fn: "kvmVmIoctlCreateVcpu", ...KVM_MAIN },
    { fn: "kvmArchVcpuCreate", ...X86 },
    { fn: "vmxVcpuCreate", ...VMX },
  ],
  KVM_RUN: [
    { fn: "kvmVcpuIoctl", ...KVM_MAIN },
    { fn: "kvmArchVcpuIoctlRun", ...X86 },
    { fn: "vcpuRun", ...X86 },
    { fn: "vcpuEnterGuest", ...X86 },
    { fn: "vmxVcpuRun", ...VMX },
    { fn: "vmxHandleExit", ...VMX },
  ],
};

const SVM: CodeSite = { pkg: "svm", file: "src/svm.ts" };
const SVM_MAIN: CodeSite = { pkg: "svm", file: "src/main.ts" };

/** The kvm_intel functions of KERNEL_PATHS and their kvm_amd counterparts. */
const AMD_FOR_INTEL: Readonly<Record<string, KernelFn>> = {
  vmxHardwareEnableAll: { fn: "svmHardwareEnableAll", ...SVM_MAIN },
  vmxHardwareEnable: { fn: "svmHardwareEnable", ...SVM },
  vmxVcpuCreate: { fn: "svmVcpuCreate", ...SVM },
  vmxVcpuRun: { fn: "svmVcpuRun", ...SVM },
  vmxHandleExit: { fn: "svmHandleExit", ...SVM },
};

/** KERNEL_PATHS with kvm_amd (`-host-cpu amd`) as the vendor module. */
export const KERNEL_PATHS_AMD: Readonly<Record<string, readonly KernelFn[]>> = Object.fromEntries(
  Object.entries(KERNEL_PATHS).map(([ioctl, chain]) => [
    ioctl,
    chain.map((k) => AMD_FOR_INTEL[k.fn] ?? k),
  ]),
);

/** The qemu-machine source file of a step (startupStep's `file` is under its src/). */
function qemuSite(file: string): CodeSite {
  return { pkg: "qemu-machine", file: `src/${file}` };
}

/** A node of the printed tree. */
export interface PathNode {
  readonly label: string;
  readonly site: CodeSite | null;
  readonly children: PathNode[];
  /** Identical leaf siblings folded into this one. */
  repeat: number;
}

function node(label: string, site: CodeSite | null): PathNode {
  return { label, site, children: [], repeat: 1 };
}

/** Build the tree (rooted at the first qemuInit) from the recorded events. */
export function buildStartupTree(
  events: readonly PathEvent[],
  kernelPaths: Readonly<Record<string, readonly KernelFn[]>> = KERNEL_PATHS,
): PathNode[] {
  const roots: PathNode[] = [];
  /** Step nodes by function, the latest first found by lastIndexOf. */
  const steps: { fn: string; node: PathNode }[] = [];
  let current: PathNode | null = null;
  let lastSyscall: PathNode | null = null;
  const attach = (parent: PathNode | null, n: PathNode): void => {
    if (parent) parent.children.push(n);
    else roots.push(n);
  };
  for (const e of events) {
    if (e.kind === "step") {
      const n = node(`${e.fn}${STEP_NOTES[e.fn] ?? ""}`, qemuSite(e.file));
      const caller = STARTUP_CALLERS[e.fn];
      let parent: PathNode | null = null;
      if (caller !== null) {
        const want = caller ?? "qemuInit";
        for (let i = steps.length - 1; i >= 0; i--) {
          if (steps[i]!.fn === want) {
            parent = steps[i]!.node;
            break;
          }
        }
        // A caller that never ran (or an unknown step): under the root.
        parent ??= steps[0]?.node ?? null;
      }
      attach(parent, n);
      steps.push({ fn: e.fn, node: n });
      current = n;
      lastSyscall = null;
    } else if (e.kind === "syscall") {
      const text = e.result < 0 ? `${e.call} = -${errnoName(-e.result)}` : e.call;
      const n = node(text, null);
      // The kernel's chain is a line of descent: each function calls the next.
      let leaf = n;
      for (const k of (e.ioctl && kernelPaths[e.ioctl]) || []) {
        const c = node(k.fn, { pkg: k.pkg, file: k.file });
        leaf.children.push(c);
        leaf = c;
      }
      attach(current, n);
      lastSyscall = n;
    } else {
      const n = node(`printk: ${e.line}`, { pkg: "kvm-kernel", file: "(kernel log)" });
      attach(lastSyscall ?? current, n);
    }
  }
  for (const r of roots) foldRepeats(r);
  return roots;
}

/** A node and its subtree as one string (for folding identical siblings). */
function shape(n: PathNode): string {
  return `${n.label}|${n.site?.pkg ?? ""}|${n.site?.file ?? ""}|${n.repeat}[${n.children.map(shape).join(",")}]`;
}

/** Fold runs of identical siblings (same label, site and subtree) into one with a count. */
function foldRepeats(n: PathNode): void {
  const out: PathNode[] = [];
  for (const c of n.children) {
    foldRepeats(c);
    const prev = out.at(-1);
    if (prev && shape({ ...prev, repeat: 1 }) === shape({ ...c, repeat: 1 })) {
      prev.repeat += c.repeat;
    } else {
      out.push(c);
    }
  }
  n.children.splice(0, n.children.length, ...out);
}

/**
 * The tree as text: box-drawing branches, then the package and file in a column.
 *
 *   qemuInit                          qemu-machine  src/system/vl.ts
 *   ├─ qemuParseOptions               qemu-machine  src/system/vl-options.ts
 */
export function formatStartupTree(roots: readonly PathNode[]): string {
  const rows: { left: string; site: CodeSite | null }[] = [];
  const walk = (n: PathNode, prefix: string, branch: string): void => {
    const label = n.repeat > 1 ? `${n.label} ×${n.repeat}` : n.label;
    rows.push({ left: `${prefix}${branch}${label}`, site: n.site });
    const childPrefix = prefix + (branch === "" ? "" : branch === "├─ " ? "│  " : "   ");
    n.children.forEach((c, i) => {
      walk(c, childPrefix, i === n.children.length - 1 ? "└─ " : "├─ ");
    });
  };
  for (const r of roots) walk(r, "", "");
  const sited = rows.filter((r) => r.site);
  const width = Math.min(64, Math.max(0, ...sited.map((r) => [...r.left].length))) + 2;
  const pkgWidth = Math.max(0, ...sited.map((r) => r.site!.pkg.length)) + 2;
  const lines = rows.map((r) => {
    if (!r.site) return r.left;
    const pad = Math.max(2, width - [...r.left].length);
    return `${r.left}${" ".repeat(pad)}${r.site.pkg.padEnd(pkgWidth)}${r.site.file}`;
  });
  return `${lines.join("\n")}\n`;
}
