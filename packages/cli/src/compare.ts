/**
 * `glassvm -host-cpu intel,amd …`: the same command line on a host with kvm_intel and on one
 * with kvm_amd, one after the other, and the two runs side by side — the hardware exits
 * (VMX exit reason vs SVM exit code, from the kvm_exit tracepoint) and whether QEMU saw
 * the same thing at the KVM boundary: the (exit_reason, port/address, size, direction,
 * data) of every KVM_RUN, recorded as strace with a kvm_run decoder would.
 */
import type { HostKernel } from "@glassvm/kvm-kernel";
import {
  EINTR,
  type HostOs,
  interposeHostOs,
  KVM_CREATE_VCPU,
  KVM_EXIT_IO,
  KVM_EXIT_IO_OUT,
  KVM_EXIT_MMIO,
  KVM_RUN,
  KvmRun,
  kvmExitReasonName,
} from "@glassvm/kvm-kernel/uapi";
import type { HostCpuVendor } from "./args.js";
import { type GlassvmIo, glassvmRun } from "./main.js";

/** One exit as userspace sees it in kvm_run after KVM_RUN returns. */
export interface UserspaceExit {
  /** kvm_run.exit_reason, or -1 when KVM_RUN failed (then `ret` is its -errno). */
  readonly exitReason: number;
  /** KVM_EXIT_IO: port, size, direction, count and the data (OUT: what the guest wrote). */
  readonly io?: { port: number; size: number; direction: number; count: number; data: string };
  /** KVM_EXIT_MMIO: address, length, write and (for a write) the data. */
  readonly mmio?: { addr: string; len: number; isWrite: number; data: string };
  readonly ret?: number;
}

/** One hardware exit, from the kvm_exit tracepoint. */
export interface HardwareExit {
  readonly vcpu: number;
  /** The vendor's code: VMX basic exit reason, SVM exit code. */
  readonly code: number;
  readonly name: string;
  readonly rip: bigint;
}

const hex = (b: Uint8Array): string =>
  Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/**
 * A HostOs that passes every call through to `os` and records, after each KVM_RUN on a
 * vCPU fd, what kvm_run hands userspace into `exits`.
 */
export function recordUserspaceExits(os: HostOs, exits: UserspaceExit[]): HostOs {
  const vcpuFds = new Set<number>();
  const runPages = new Map<number, [number, number]>();
  return interposeHostOs(os, {
    mmap: (fd, length, offset) => {
      const addr = os.mmap(fd, length, offset);
      if (vcpuFds.has(fd) && addr >= 0) runPages.set(fd, [addr, length]);
      return addr;
    },
    ioctl: (fd, request, arg) => {
      const r = os.ioctl(fd, request, arg);
      if (request === KVM_CREATE_VCPU && r >= 0) vcpuFds.add(r);
      if (request !== KVM_RUN || !vcpuFds.has(fd)) return r;
      if (r !== 0) {
        exits.push({ exitReason: -1, ret: r });
        return r;
      }
      const [addr, len] = runPages.get(fd)!;
      const page = os.view(addr, len);
      const run = new KvmRun(page);
      if (run.exitReason === KVM_EXIT_IO) {
        const off = Number(run.ioDataOffset);
        const n = run.ioSize * run.ioCount;
        const out = run.ioDirection === KVM_EXIT_IO_OUT;
        exits.push({
          exitReason: run.exitReason,
          io: {
            port: run.ioPort,
            size: run.ioSize,
            direction: run.ioDirection,
            count: run.ioCount,
            data: out ? hex(page.subarray(off, off + n)) : "",
          },
        });
      } else if (run.exitReason === KVM_EXIT_MMIO) {
        exits.push({
          exitReason: run.exitReason,
          mmio: {
            addr: run.mmioPhysAddr.toString(16),
            len: run.mmioLen,
            isWrite: run.mmioIsWrite,
            data: run.mmioIsWrite ? hex(run.mmioData.subarray(0, run.mmioLen)) : "",
          },
        });
      } else {
        exits.push({ exitReason: run.exitReason });
      }
      return r;
    },
  });
}

/**
 * The exits the guest and the backend caused: without the KVM_RUN calls that returned
 * -EINTR. Those are QEMU's own kicks (immediate_exit or a signal, when its main loop has a
 * timer or a reset request for the vCPU thread), and how many there are depends on the
 * host's clock and load, not on the KVM backend.
 */
export function guestCausedExits(exits: readonly UserspaceExit[]): UserspaceExit[] {
  return exits.filter((e) => !(e.exitReason < 0 && e.ret === -EINTR));
}

/** What one backend's run gave. */
export interface BackendRun {
  readonly hostCpu: HostCpuVendor;
  readonly status: number;
  readonly console: string;
  readonly messages: string;
  readonly hardware: HardwareExit[];
  readonly userspace: UserspaceExit[];
}

/** Run `argv` (without -host-cpu) on one backend, console and messages captured. */
export function runOnBackend(
  argv: readonly string[],
  io: GlassvmIo,
  hostCpu: HostCpuVendor,
): BackendRun {
  let console = "";
  let messages = "";
  const hardware: HardwareExit[] = [];
  const userspace: UserspaceExit[] = [];
  const status = glassvmRun(
    [argv[0]!, "-host-cpu", hostCpu, ...argv.slice(1)],
    {
      ...io,
      isTTY: false,
      stdout: (t) => {
        console += t;
      },
      stderr: (t) => {
        messages += t;
      },
    },
    {
      onHost: (kernel: HostKernel) => {
        kernel.trace.kvm_exit.subscribe((e) =>
          hardware.push({
            vcpu: e.vcpu_id,
            code: e.exit_reason,
            name: e.exit_reason_name,
            rip: e.guest_rip,
          }),
        );
      },
      wrapHostOs: (os) => recordUserspaceExits(os, userspace),
    },
  );
  return { hostCpu, status, console, messages, hardware, userspace };
}

const same = (a: UserspaceExit, b: UserspaceExit): boolean =>
  JSON.stringify(a) === JSON.stringify(b);

function describeExit(e: UserspaceExit): string {
  if (e.exitReason < 0) return `KVM_RUN = ${e.ret}`;
  const name = kvmExitReasonName(e.exitReason);
  if (e.io) {
    const dir = e.io.direction === KVM_EXIT_IO_OUT ? "out" : "in";
    return `${name} ${dir} port 0x${e.io.port.toString(16)} size ${e.io.size} count ${e.io.count}${e.io.data ? ` data ${e.io.data}` : ""}`;
  }
  if (e.mmio) {
    return `${name} ${e.mmio.isWrite ? "write" : "read"} 0x${e.mmio.addr} len ${e.mmio.len}${e.mmio.data ? ` data ${e.mmio.data}` : ""}`;
  }
  return name;
}

/**
 * The side-by-side report: the hardware exits of both runs line by line (VMX exit reason
 * and SVM exit code with their guest RIP), then the verdict on the userspace streams and
 * the consoles.
 */
export function compareReport(intel: BackendRun, amd: BackendRun): string {
  const cell = (e: HardwareExit | undefined, code: (n: number) => string): string =>
    e ? `${e.name} (${code(e.code)}) rip 0x${e.rip.toString(16)}` : "";
  const lines = [
    `${"#".padStart(5)}  ${"kvm_intel: VMX exit reason".padEnd(44)}  kvm_amd: SVM exit code`,
  ];
  const n = Math.max(intel.hardware.length, amd.hardware.length);
  for (let i = 0; i < n; i++) {
    const left = cell(intel.hardware[i], (c) => String(c));
    const right = cell(amd.hardware[i], (c) => `0x${c.toString(16).padStart(3, "0")}`);
    lines.push(`${String(i + 1).padStart(5)}  ${left.padEnd(44)}  ${right}`);
  }
  lines.push(
    `hardware exits: ${intel.hardware.length} on kvm_intel, ${amd.hardware.length} on kvm_amd`,
  );
  const ui = guestCausedExits(intel.userspace);
  const ua = guestCausedExits(amd.userspace);
  const kicks = (all: readonly UserspaceExit[], guest: readonly UserspaceExit[]) =>
    all.length - guest.length;
  const u = Math.max(ui.length, ua.length);
  let diff = -1;
  for (let i = 0; i < u && diff < 0; i++) {
    const a = ui[i];
    const b = ua[i];
    if (!a || !b || !same(a, b)) diff = i;
  }
  if (diff < 0) {
    lines.push(`KVM_RUN exits seen by userspace: identical (${u} on each)`);
  } else {
    const show = (e: UserspaceExit | undefined) => (e ? describeExit(e) : "(none)");
    lines.push(`KVM_RUN exits seen by userspace: differ at #${diff + 1}`);
    lines.push(`  kvm_intel: ${show(ui[diff])}`);
    lines.push(`  kvm_amd:   ${show(ua[diff])}`);
  }
  const ki = kicks(intel.userspace, ui);
  const ka = kicks(amd.userspace, ua);
  if (ki + ka > 0) {
    lines.push(`  (not compared: QEMU's kicks, KVM_RUN = -EINTR: ${ki} and ${ka})`);
  }
  lines.push(
    intel.console === amd.console
      ? `guest console: identical (${intel.console.length} bytes); exit status ${intel.status} and ${amd.status}`
      : `guest console: differs; exit status ${intel.status} on kvm_intel, ${amd.status} on kvm_amd`,
  );
  return `${lines.join("\n")}\n`;
}

/**
 * `-host-cpu intel,amd`: both runs, the guest console of the kvm_intel run on stdout, the
 * report on stderr. The status is kvm_intel's when both runs agree, else 1.
 */
export function glassvmCompareHosts(argv: readonly string[], io: GlassvmIo): number {
  const intel = runOnBackend(argv, io, "intel");
  const amd = runOnBackend(argv, io, "amd");
  io.stdout(intel.console);
  io.stderr(intel.messages);
  if (amd.messages !== intel.messages) io.stderr(amd.messages);
  io.stderr(compareReport(intel, amd));
  const agree =
    intel.status === amd.status &&
    intel.console === amd.console &&
    intel.userspace.length === amd.userspace.length &&
    intel.userspace.every((e, i) => same(e, amd.userspace[i]!));
  return agree ? intel.status : 1;
}
