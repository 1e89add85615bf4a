/**
 * `glassvm`'s main: what `qemu-system-x86_64 …` does on a Linux host with kvm_intel (or,
 * with `-host-cpu amd`, kvm_amd) loaded, with both halves modelled — the host (a
 * HostKernel with kvm + the vendor module, the QEMU process spawned on it) and QEMU (qemu-machine's qemuInit and main loop over that
 * process's HostOs). Browser-safe: the host's files, clock and terminal come in as
 * {@link GlassvmIo} (src/node-host.ts makes one from node:fs and process).
 *
 * Seeing inside: `-trace` patterns also subscribe the kernel's tracepoints, `-d path`
 * prints the start-up path, `-d exits` a perf-kvm-stat table, `-d vmcs` each exit's
 * VMCS/VMCB changes, `-trace-file` a Chrome
 * trace; after a failed VM entry the kernel log says which SDM check failed.
 */
import { HostKernel, InstructionClock, kvmModule, Tracepoints } from "@glassvm/kvm-kernel";
import {
  type HostOs,
  interposeHostOs,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_RUN,
  kvmIoctlName,
  strerror,
} from "@glassvm/kvm-kernel/uapi";
import {
  hmpInfoCpus,
  QEMU_CLOCK_REALTIME,
  QEMU_CLOCK_VIRTUAL,
  type QemuEnv,
  QemuExit,
  type QemuMachineInstance,
  qemuCleanup,
  qemuClockSetSource,
  qemuInit,
  qemuMainLoop,
  qemuSystemKilled,
  startupTraceListen,
  type TraceRecord,
  traceAddSink,
  traceEnable,
  traceEventEnabled,
} from "@glassvm/qemu-machine";
import { kvmAmdModule } from "@glassvm/svm";
import { kvmIntelModule } from "@glassvm/vmx";
import {
  GLASSVM_LOG_ITEMS,
  type GlassvmOptions,
  GlassvmUsageError,
  glassvmHelpText,
  glassvmVersionText,
  PROGNAME,
  parseGlassvmArgs,
} from "./args.js";
import { ChromeTrace } from "./chrome-trace.js";
import { glassvmCompareHosts } from "./compare.js";
import { watchControlBlocks } from "./control-blocks.js";
import { KvmStat, kvmStatReport } from "./kvm-stat.js";
import { ProgressLine } from "./progress.js";
import {
  buildStartupTree,
  formatStartupTree,
  KERNEL_PATHS,
  KERNEL_PATHS_AMD,
  type PathEvent,
} from "./startup-path.js";
import { tracepointLine, userspaceReason } from "./tracepoints.js";
import type { VcpuThreadData } from "./vcpu-thread.js";

/** What glassvm needs from the machine it runs on. */
export interface GlassvmIo {
  /** A file's bytes (`-bios`, `-kernel`, loader images), or null when it cannot be read. */
  readFile(path: string): Uint8Array | null;
  /**
   * Write a file (`-trace-file`, QEMU's `-D`): created, or appended to. Throws an Error
   * whose message is the reason when it cannot. Without it those options fail.
   */
  writeFile?(path: string, text: string, append: boolean): void;
  /** The guest's console (`-serial stdio`, `-debugcon stdio`, `-nographic`) and help texts. */
  stdout(text: string): void;
  /** Messages, trace lines, the progress line. */
  stderr(text: string): void;
  /** stderr is a terminal: show progress. */
  readonly isTTY: boolean;
  /** A monotonic clock in milliseconds (performance.now). */
  now(): number;
  /**
   * Standard input without blocking (what `-serial stdio` / `-nographic` consoles read):
   * the bytes available now, null when none. Absent: the consoles are output-only.
   */
  readStdin?(): Uint8Array | null;
  /**
   * stdin is a terminal the host put in raw mode: ^C arrives as a byte, and glassvm treats
   * it as QEMU's terminal treats it (SIGINT: "terminated by signal 2").
   */
  readonly stdinIsTTY?: boolean;
  /**
   * Start a worker running a vCPU thread (vcpu-thread.ts's vcpuThreadMain with `data`;
   * `data.link.mail` is to be transferred). Absent: `thread=multi` falls back to single.
   */
  startThread?(data: VcpuThreadData): { terminate(): void };
}

/** ^C, the terminal's interrupt character. */
const CTRL_C = 0x03;
/** SIGINT. */
const SIGINT = 2;

/** The QEMU process's non-blocking stdin over the host's (see GlassvmIo.readStdin). */
function qemuStdin(io: GlassvmIo): (() => Uint8Array | null) | undefined {
  const read = io.readStdin;
  if (!read) return undefined;
  return () => {
    const b = read.call(io);
    if (!b || !io.stdinIsTTY || !b.includes(CTRL_C)) return b;
    qemuSystemKilled(SIGINT);
    return b.filter((x) => x !== CTRL_C);
  };
}

/** Seams for tests and embedders; none is needed to run. */
export interface GlassvmHooks {
  /** After qemuInit, before the main loop (e.g. to change CPU state as a debugger would). */
  afterInit?(inst: QemuMachineInstance): void;
  /** Main-loop rounds per slice between progress updates. */
  roundsPerSlice?: number;
  /**
   * Interpose on QEMU's system calls (strace's view): gets the process's HostOs, returns
   * the one QEMU uses. Tests record what KVM_RUN hands userspace with it.
   */
  wrapHostOs?(os: HostOs): HostOs;
  /** The host kernel, once its KVM module is loaded (to subscribe to its tracepoints). */
  onHost?(kernel: HostKernel): void;
}

/** A `-trace` glob (`*`, `?`) as a RegExp, as QEMU's trace/control.c matches names. */
function globRegExp(pattern: string): RegExp {
  return new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
  );
}

/** Kernel tracepoint names matching a `-trace` glob. */
function matchTracepoints(pattern: string): string[] {
  const re = globRegExp(pattern);
  return Tracepoints.names.filter((n) => re.test(n));
}

/** The HostOs of the QEMU process, watched: vCPU fds, KVM_RUN, and start-up syscalls. */
interface WatchedOs {
  readonly os: HostOs;
  /** vCPU fd → cpu index (KVM_CREATE_VCPU order, as QEMU creates them). */
  readonly vcpuFds: Map<number, number>;
  /** KVM vcpu id → cpu index. */
  readonly vcpuIds: Map<number, number>;
  /** The vCPU whose KVM_RUN returned last (who QEMU's device work is for). */
  currentVcpu: number;
  /** Where start-up syscalls go while `-d path` records (null: not recording). */
  pathEvents: PathEvent[] | null;
  /** Called at the start of each KVM_RUN on a vCPU fd. */
  onRun: ((vcpu: number) => void) | null;
}

function watchOs(os: HostOs, kernel: HostKernel): WatchedOs {
  let kernelLogSeen = kernel.log.length;
  const w: WatchedOs = {
    os: null as unknown as HostOs,
    vcpuFds: new Map(),
    vcpuIds: new Map(),
    currentVcpu: 0,
    pathEvents: null,
    onRun: null,
  };
  const record = (call: string, result: number, ioctl?: string): void => {
    const ev = w.pathEvents;
    if (!ev) return;
    ev.push(ioctl ? { kind: "syscall", call, ioctl, result } : { kind: "syscall", call, result });
    while (kernelLogSeen < kernel.log.length) {
      ev.push({ kind: "printk", line: kernel.log[kernelLogSeen++]! });
    }
  };
  const watched: HostOs = interposeHostOs(os, {
    open(path, flags) {
      const r = os.open(path, flags);
      record(`open("${path}") = ${r}`, r);
      return r;
    },
    ioctl(fd, request, arg = 0) {
      const vcpu = w.vcpuFds.get(fd);
      if (vcpu !== undefined && request === KVM_RUN) {
        w.onRun?.(vcpu);
        const r = os.ioctl(fd, request, arg);
        w.currentVcpu = vcpu;
        return r;
      }
      const r = os.ioctl(fd, request, arg);
      if (request === KVM_CREATE_VCPU && r >= 0) {
        const index = w.vcpuFds.size;
        w.vcpuFds.set(r, index);
        w.vcpuIds.set(Number(arg), index);
      }
      if (w.pathEvents) {
        const name = kvmIoctlName(request);
        const who = vcpu !== undefined ? ` (vcpu ${vcpu})` : "";
        const made =
          (request === KVM_CREATE_VM || request === KVM_CREATE_VCPU) && r >= 0 ? ` = fd ${r}` : "";
        record(`${name}${who}${made}`, r, name);
      }
      return r;
    },
    mmap(fd, length, offset) {
      const r = os.mmap(fd, length, offset);
      if (w.pathEvents) {
        const vcpu = w.vcpuFds.get(fd);
        const what =
          fd < 0
            ? `mmap(anonymous, 0x${length.toString(16)})`
            : vcpu !== undefined
              ? `mmap(vcpu ${vcpu} fd) → struct kvm_run`
              : `mmap(fd ${fd}, 0x${length.toString(16)})`;
        record(what, r);
      }
      return r;
    },
  });
  (w as { os: HostOs }).os = watched;
  return w;
}

/** `glassvm: OPTION: MESSAGE` (error_report with a command-line location). */
function usageError(io: GlassvmIo, option: string, message: string): number {
  io.stderr(`${PROGNAME}: ${option}: ${message}\n`);
  return 1;
}

/**
 * `glassvm ARGS…`: the exit status qemu-system-x86_64 would have — 0 after a shutdown
 * (or a help text), 1 on errors (and when the VM stops on an internal error),
 * `(v << 1) | 1` when the guest writes v to isa-debug-exit. `argv[0]` is the program.
 */
export function glassvmMain(argv: readonly string[], io: GlassvmIo): number {
  return glassvmRun(argv, io, {});
}

/** {@link glassvmMain} with {@link GlassvmHooks}. */
export function glassvmRun(argv: readonly string[], io: GlassvmIo, hooks: GlassvmHooks): number {
  let opts: GlassvmOptions;
  try {
    opts = parseGlassvmArgs(argv);
  } catch (err) {
    if (err instanceof GlassvmUsageError) return usageError(io, err.option, err.message);
    throw err;
  }
  if (opts.help) {
    io.stdout(glassvmHelpText());
    return 0;
  }
  if (opts.version) {
    io.stdout(glassvmVersionText());
    return 0;
  }
  if (opts.hostCpu === "intel,amd") {
    // Both backends, side by side (compare.ts); the option itself is not QEMU's.
    const rest = argv.filter(
      (a, i) =>
        !(
          a === "-host-cpu" ||
          a === "--host-cpu" ||
          argv[i - 1] === "-host-cpu" ||
          argv[i - 1] === "--host-cpu"
        ),
    );
    return glassvmCompareHosts(rest, io);
  }
  if (opts.hostCpu !== "intel" && opts.hostCpu !== "amd") {
    return usageError(
      io,
      `-host-cpu ${opts.hostCpu}`,
      "unknown host CPU vendor (expected intel, amd, or intel,amd for both side by side)",
    );
  }
  if (opts.traceFile !== null && !io.writeFile) {
    return usageError(io, `-trace-file ${opts.traceFile}`, "cannot write files on this host");
  }

  // The host: a kernel with kvm + kvm_intel or kvm_amd (modprobe kvm_intel / kvm_amd),
  // QEMU's process on it.
  const kernel = new HostKernel();
  // Built like a distribution kernel: KVM with its in-kernel irqchip (CONFIG_KVM_IOAPIC).
  kernel.config.CONFIG_KVM_IOAPIC = true;
  const vendor = opts.hostCpu === "amd" ? kvmAmdModule(kernel) : kvmIntelModule(kernel);
  const loaded = kernel.loadModule(kvmModule(vendor));
  if (loaded < 0) {
    io.stderr(`${PROGNAME}: modprobe ${vendor.name} failed (${loaded})\n`);
    for (const l of kernel.log) io.stderr(`${l}\n`);
    return 1;
  }
  if (opts.hostClock === "instructions") {
    // One thread must run every vCPU for the instruction order, and so the run, to repeat.
    const multi = opts.qemuArgv.some((a) => /(^|,)thread=multi(,|$)/.test(a));
    if (multi) {
      return usageError(
        io,
        "-host-clock instructions",
        "a deterministic clock needs thread=single (one host thread for every vCPU)",
      );
    }
    kernel.clock = new InstructionClock(kernel);
    // QEMU's clocks read the host's monotonic clock (clock_gettime), so they follow it.
    const ns = () => Number(kernel.clock.now());
    qemuClockSetSource(QEMU_CLOCK_VIRTUAL, ns);
    qemuClockSetSource(QEMU_CLOCK_REALTIME, ns);
  }
  hooks.onHost?.(kernel);
  const kernelLogStart = kernel.log.length;
  const qemuOs: HostOs = kernel.spawn(PROGNAME);
  const watched = watchOs(hooks.wrapHostOs ? hooks.wrapHostOs(qemuOs) : qemuOs, kernel);
  const t0 = io.now();
  const progress = new ProgressLine(io.stderr, io.isTTY);
  const toStderr = (t: string): void => {
    progress.clear();
    io.stderr(t);
  };

  /** KVM's vcpu_id → QEMU's cpu index (the N of `CPU N/KVM`). */
  const index = (id: number): number => watched.vcpuIds.get(id) ?? id;

  // -trace: the kernel's tracepoints that match, one line each, with QEMU's lines.
  const offs: (() => void)[] = [];
  const tpNames = new Set(opts.tracePatterns.flatMap(matchTracepoints));
  for (const name of tpNames) {
    offs.push(
      kernel.trace.subscribe(name, (n, ev) => {
        toStderr(`${tracepointLine(n, ev, PROGNAME, index)}\n`);
      }),
    );
  }

  // Progress on a terminal: counted on kvm_exit, so it moves even while one KVM_RUN runs
  // long (the host-timer exits keep coming); the clock is read every 256 exits.
  let exits = 0;
  if (io.isTTY) {
    offs.push(
      kernel.trace.kvm_exit.subscribe(() => {
        if ((++exits & 0xff) === 0) progress.update(io.now(), t0, exits);
      }),
    );
  }

  // -d vmcs: each exit's VMCS/VMCB changes.
  if (opts.showControlBlocks) {
    offs.push(watchControlBlocks(kernel, opts.hostCpu, index, toStderr));
  }

  // -d exits and -trace-file: exit timing from kvm_exit / kvm_entry.
  const stat = opts.exitStats ? new KvmStat() : null;
  const chrome = opts.traceFile !== null ? new ChromeTrace(watched.os.pid, t0, PROGNAME) : null;
  if (stat || chrome) {
    offs.push(
      kernel.trace.kvm_exit.subscribe((e) => {
        const t = io.now();
        stat?.exit(index(e.vcpu_id), e.exit_reason_name, t);
        chrome?.exit(index(e.vcpu_id), e.exit_reason_name, t, e.guest_rip);
      }),
      kernel.trace.kvm_entry.subscribe((e) => {
        const t = io.now();
        stat?.entry(index(e.vcpu_id), t);
        chrome?.entry(index(e.vcpu_id), t, e.rip);
      }),
    );
  }
  // Chrome trace: the userspace exit, QEMU's handling down to the device, the next KVM_RUN.
  // The device events are QEMU's memory_region_ops_* trace events, enabled for this; a line
  // of theirs goes to QEMU's log only when the user's -trace asked for it.
  let hideLine: string | null = null;
  if (chrome) {
    offs.push(
      kernel.trace.kvm_userspace_exit.subscribe((e) => {
        chrome.userspaceExit(index(e.vcpu_id), userspaceReason(e.reason, e.errno), io.now());
      }),
    );
    watched.onRun = (vcpu) => chrome.run(vcpu, io.now());
    const userWants = (name: string): boolean =>
      opts.tracePatterns.some((p) => globRegExp(p).test(name));
    for (const name of ["memory_region_ops_read", "memory_region_ops_write"]) {
      if (!traceEventEnabled(name)) traceEnable(name);
    }
    offs.push(
      traceAddSink((r: TraceRecord) => {
        if (r.name !== "memory_region_ops_read" && r.name !== "memory_region_ops_write") return;
        const a = r.args;
        const dir = r.name.endsWith("read") ? "read" : "write";
        chrome.device(watched.currentVcpu, `${String(a.mr)} ${dir}`, io.now(), {
          addr: `0x${Number(a.addr).toString(16)}`,
          value: `0x${Number(a.value).toString(16)}`,
          size: Number(a.size),
        });
        if (!userWants(r.name)) hideLine = `${r.line}\n`;
      }),
    );
  }
  const hidden = (t: string): boolean => {
    if (hideLine === null) return false;
    const hide = t === hideLine;
    hideLine = null;
    return hide;
  };

  const env: QemuEnv = {
    os: watched.os,
    files: (p) => io.readFile(p),
    stdout: (t) => {
      progress.clear();
      io.stdout(t);
    },
    stderr: (t) => {
      if (!hidden(t)) toStderr(t);
    },
    writeFile: io.writeFile
      ? (path, text, append) => {
          if (!hidden(text)) io.writeFile!(path, text, append);
        }
      : undefined,
    stdin: qemuStdin(io),
    // qemu_thread_create: clone() a thread of the QEMU process and start its worker.
    startThread: io.startThread
      ? (_name, arg) => {
          const link = qemuOs.clone?.();
          if (link === undefined) return "threads are not supported here";
          if (typeof link === "number") return `clone failed: ${strerror(link)}`;
          const w = io.startThread!({
            link,
            arg,
            hostCpu: opts.hostCpu === "amd" ? "amd" : "intel",
            timeOrigin: performance.timeOrigin,
          });
          return { tid: link.tid, link, join: () => w.terminate() };
        }
      : undefined,
  };

  const pathEvents: PathEvent[] = [];
  if (opts.showPath) {
    watched.pathEvents = pathEvents;
    startupTraceListen((s) => pathEvents.push({ kind: "step", fn: s.fn, file: s.file }));
  }

  /** Detach, then the end-of-run outputs (only for a VM that ran). */
  const finish = (status: number, ran: boolean): number => {
    for (const off of offs) off();
    // qemu_cleanup and the process exit: the next run in this realm starts afresh.
    qemuCleanup();
    if (opts.hostClock === "instructions") {
      qemuClockSetSource(QEMU_CLOCK_VIRTUAL, null);
      qemuClockSetSource(QEMU_CLOCK_REALTIME, null);
    }
    progress.clear();
    const end = io.now();
    if (stat && ran) io.stderr(kvmStatReport(stat));
    if (chrome && ran && opts.traceFile !== null) {
      chrome.finish(end);
      try {
        io.writeFile!(opts.traceFile, `${JSON.stringify(chrome.toJSON())}\n`, false);
      } catch (err) {
        io.stderr(
          `${PROGNAME}: -trace-file ${opts.traceFile}: could not write: ${(err as Error).message}\n`,
        );
        return 1;
      }
    }
    return status;
  };

  let inst: QemuMachineInstance;
  try {
    inst = qemuInit(opts.qemuArgv, env);
  } catch (err) {
    if (err instanceof QemuExit) {
      if (opts.traceHelp && err.status === 0) {
        for (const n of Tracepoints.names) io.stdout(`${n}\n`);
      }
      if (opts.logHelp) {
        io.stdout("glassvm items:\n");
        for (const item of GLASSVM_LOG_ITEMS) io.stdout(`${item.name.padEnd(15)} ${item.help}\n`);
      }
      return finish(err.status, false);
    }
    io.stderr(`${PROGNAME}: ${(err as Error).message}\n`);
    return finish(1, false);
  } finally {
    startupTraceListen(null);
    watched.pathEvents = null;
  }
  if (opts.showPath) {
    const paths = opts.hostCpu === "amd" ? KERNEL_PATHS_AMD : KERNEL_PATHS;
    io.stderr(formatStartupTree(buildStartupTree(pathEvents, paths)));
  }
  if (chrome) for (let i = 0; i < inst.vcpuThreads.length; i++) chrome.vcpuThread(i);
  if (opts.showThreads) toStderr(hmpInfoCpus());
  hooks.afterInit?.(inst);

  const rounds = hooks.roundsPerSlice ?? 1000;
  let status: number;
  let failed = false;
  try {
    for (;;) {
      const r = qemuMainLoop(inst, rounds);
      if (r !== null) {
        status = r;
        break;
      }
      if (inst.runstate === "internal-error") {
        // QEMU keeps the stopped VM for its monitor; glassvm has none and exits.
        status = 1;
        failed = true;
        break;
      }
      if (inst.runstate === "prelaunch") {
        toStderr(`${PROGNAME}: the VM is stopped (-S) and there is no monitor to continue it\n`);
        status = 0;
        break;
      }
      if (io.isTTY) progress.update(io.now(), t0, exits);
    }
  } catch (err) {
    if (err instanceof QemuExit) {
      status = err.status;
    } else {
      toStderr(`${PROGNAME}: ${(err as Error).message}\n`);
      status = 1;
      failed = true;
    }
  }
  // What kvm_intel logged (the SDM rule, field and value of a failed VM entry …).
  if (failed) {
    const lines = kernel.log.slice(kernelLogStart);
    if (lines.length > 0) {
      toStderr(`${PROGNAME}: host kernel log (dmesg):\n`);
      for (const l of lines) toStderr(`  ${l}\n`);
    }
  }
  return finish(status, true);
}
