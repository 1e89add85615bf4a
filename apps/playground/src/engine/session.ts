/**
 * One VM in the page's worker: what packages/cli/src/main.ts composes for `glassvm` — a
 * HostKernel with kvm + kvm_intel (or kvm_amd), the QEMU process spawned on it, qemuInit
 * and qemuMainLoop over that process's HostOs — driven in slices instead of to the end,
 * so the page can run, pause, step one VM exit and step one guest instruction.
 *
 * Stopping a vCPU is done the way QEMU does it on Linux: the vCPU thread blocks SIG_IPI
 * (SIGUSR1) and KVM_SET_SIGNAL_MASK unblocks it inside KVM_RUN (kvm_init_cpu_signals), so
 * a kill(SIGUSR1) from the kvm_exit tracepoint ends KVM_RUN with EINTR right after that
 * exit is handled (vcpu_run's signal_pending check) — exactly one hardware exit for "step
 * exit", a time slice's worth for "run". The pending signal is then eaten with sigtimedwait
 * (kvm_eat_signals). One guest instruction is KVM_SET_GUEST_DEBUG with
 * KVM_GUESTDBG_SINGLESTEP: the #DB comes back as KVM_EXIT_DEBUG.
 *
 * With `-accel kvm,thread=multi` (options.threads "multi") each vCPU is a thread of the
 * QEMU process in a worker of its own, as the CLI runs it: QEMU's qemu_thread_create is
 * clone() of this process plus `startVcpuThread`, which the embedder gives (the page's
 * worker hands the thread to a Web Worker it started beforehand; the tests, to a Node
 * worker). Those threads run KVM_RUN on their own copies of the kernel, so what this
 * realm's kernel sees — tracepoints, the VMCS/VMCB, exits, instructions retired — is the
 * main thread's part only; the ioctl log still has QEMU's main-thread calls (those it
 * forwards to the vCPU threads included) and the console is served here. Pause stops the
 * vCPU threads (pause_all_vcpus), Run resumes them; a session starts with them stopped
 * (`-S`), before their first KVM_RUN. Stepping needs the tracepoints: not with threads.
 *
 * Nothing here touches the DOM: the worker wraps it, and the unit tests run it in Node.
 */
import {
  buildStartupTree,
  ChromeTrace,
  type ChromeTraceJson,
  KERNEL_PATHS,
  KERNEL_PATHS_AMD,
  type PathEvent,
  type PathNode,
  type VcpuThreadData,
} from "@glassvm/cli";
import { HostKernel, type KvmVcpu, kvmGlobal, kvmModule } from "@glassvm/kvm-kernel";
import {
  decodeKvmRegs,
  decodeKvmSregs,
  encodeKvmGuestDebug,
  encodeKvmSignalMask,
  encodeKvmSregs,
  type HostOs,
  type IoctlArg,
  interposeHostOs,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_EXIT_DEBUG,
  KVM_GET_REGS,
  KVM_GET_SREGS,
  KVM_GUESTDBG_ENABLE,
  KVM_GUESTDBG_SINGLESTEP,
  KVM_REGS_SIZE,
  KVM_RUN,
  KVM_RUN_SIZE,
  KVM_SET_GUEST_DEBUG,
  KVM_SET_SIGNAL_MASK,
  KVM_SET_SREGS,
  KVM_SREGS_SIZE,
  type KvmRegs,
  KvmRun,
  type KvmSregs,
  kvmExitReasonName,
  kvmIoctlName,
  SIG_BLOCK,
  SIGUSR1,
} from "@glassvm/kvm-kernel/uapi";
import {
  cpuForeach,
  pauseAllVcpus,
  QemuExit,
  type QemuMachineInstance,
  qemuChrBeQueueInput,
  qemuChrFind,
  qemuCleanup,
  qemuInit,
  qemuMainLoop,
  resumeAllVcpus,
  startupTraceListen,
  type X86CPU,
} from "@glassvm/qemu-machine";
import {
  kvmAmdModule,
  toSvm,
  VMCB_FIELDS,
  VmcbProvenance,
  type VmcbSnapshot,
  vmcbSnapshot,
} from "@glassvm/svm";
import {
  kvmIntelModule,
  toVmx,
  VMCS_FIELDS,
  VmcsProvenance,
  type VmcsSnapshot,
  vmcsSnapshot,
} from "@glassvm/vmx";
import { type KvmRunRow, kvmRunRows } from "../decode/kvm-run.js";
import { describeIoctlArg, resultText, SyscallLog } from "./ioctl-log.js";
import { guestInfo, type PlaygroundOptions, qemuArgs } from "./options.js";

export type SessionStatus = "paused" | "running" | "shutdown" | "error";

/** Per exit reason: perf kvm stat's columns (times in µs, from kvm_exit to the next kvm_entry). */
export interface ExitRow {
  readonly reason: string;
  count: number;
  /** Handled exits (closed by a kvm_entry), over which the times are taken. */
  timed: number;
  totalUs: number;
  minUs: number;
  maxUs: number;
}

/** What the last exit looked like (the kvm_exit tracepoint's fields). */
export interface LastExit {
  readonly vcpu: number;
  readonly reason: string;
  readonly rip: bigint;
  readonly info1: bigint;
  readonly info2: bigint;
}

/** A field written (or changed) by the last step, with who wrote it. */
export interface FieldChange {
  readonly before: bigint;
  readonly after: bigint;
  /** "vmwrite" / "cpu" (VMX), or the VmcbWriter (SVM); "?" when not seen being written. */
  readonly by: string;
}

export interface EntryFailure {
  readonly rule: string;
  /** The SDM section (VT-x); empty for AMD-V. */
  readonly sdm: string;
  readonly field: string;
  readonly value: bigint;
  readonly message: string;
}

export type ControlBlock =
  | { readonly kind: "vmcs"; readonly snapshot: VmcsSnapshot }
  | { readonly kind: "vmcb"; readonly snapshot: VmcbSnapshot };

/** One stretch of a vCPU's time: in the guest, or handling an exit (kernel + QEMU). */
export interface TimelineSegment {
  /** ms since the session started. */
  readonly start: number;
  end: number;
  readonly kind: "guest" | "exit";
  readonly reason?: string;
}

/** What runs a vCPU thread (thread=multi): a worker started with the thread's data. */
export type StartVcpuThread = (data: VcpuThreadData) => { terminate(): void };

/** What the embedder gives a session beyond the options and the image. */
export interface SessionHost {
  /** The clock (ms); performance.now by default. */
  readonly now?: () => number;
  /** thread=multi: start a vCPU thread's worker. Without it QEMU runs thread=single. */
  readonly startVcpuThread?: StartVcpuThread;
}

const MAX_TRACE_EXITS = 100_000;
/** Timeline segments kept per vCPU. */
const TIMELINE_KEEP = 400;

export class Session {
  readonly options: PlaygroundOptions;
  readonly argv: readonly string[];
  readonly kernel: HostKernel;
  readonly log = new SyscallLog();
  readonly exits = new Map<string, ExitRow>();
  exitsTotal = 0;
  lastExit: LastExit | null = null;
  status: SessionStatus = "paused";
  exitStatus: number | null = null;
  message = "";
  startupTree: PathNode[] = [];
  /** Fields the last step wrote (by name). */
  changed = new Map<string, FieldChange>();
  /** Guest ms spent running (run slices and steps), and instructions retired. */
  runMs = 0;
  /** vCPU threads started in workers of their own (thread=multi); 0 with thread=single. */
  vcpuWorkers = 0;
  readonly now: () => number;
  /** thread=multi: the vCPU threads are stopped (pause_all_vcpus, or `-S` at start). */
  private held = false;
  /** thread=multi: the vCPU whose thread is being started (its fd is mmapped meanwhile). */
  private startingCpu: number | null = null;
  /** Output not yet taken by the page. */
  private consoleOut = "";
  private readonly proc: HostOs;
  private readonly os: HostOs;
  private inst: QemuMachineInstance | null = null;
  private readonly vendor: ReturnType<typeof kvmIntelModule> | ReturnType<typeof kvmAmdModule>;
  private readonly vcpuFds = new Map<number, number>();
  private readonly vcpuIds = new Map<number, number>();
  /** vCPU index → the address and length of its kvm_run mapping. */
  private readonly runPages = new Map<number, { addr: number; length: number }>();
  private deadline = Number.POSITIVE_INFINITY;
  private stopOnExit = false;
  private readonly pending = new Map<number, { key: string; t: number }>();
  readonly chrome: ChromeTrace;
  private readonly t0: number;
  private readonly kernelLogStart: number;
  /** Per vCPU index: the newest segments, the last one possibly open (end = NaN). */
  readonly timeline = new Map<number, TimelineSegment[]>();
  /** Who wrote which field of vCPU 0's VMCS/VMCB since its last VM entry (reset at kvm_entry). */
  private exitWatch: { writers(): Map<string, string>; reset(): void; detach(): void } | null =
    null;

  constructor(options: PlaygroundOptions, image: Uint8Array, host: SessionHost = {}) {
    this.now = host.now ?? (() => performance.now());
    this.options = options;
    this.argv = qemuArgs(options);
    const start = options.threads === "multi" ? host.startVcpuThread : undefined;
    this.t0 = this.now();
    const kernel = new HostKernel();
    // The same host kernel the CLI builds: KVM with its in-kernel irqchip.
    kernel.config.CONFIG_KVM_IOAPIC = true;
    this.kernel = kernel;
    this.vendor = options.backend === "svm" ? kvmAmdModule(kernel) : kvmIntelModule(kernel);
    const loaded = kernel.loadModule(kvmModule(this.vendor));
    if (loaded < 0) throw new Error(`modprobe ${this.vendor.name} failed (${loaded})`);
    this.kernelLogStart = kernel.log.length;
    this.proc = kernel.spawn("glassvm");
    this.chrome = new ChromeTrace(this.proc.pid, this.t0, "glassvm");
    const pathEvents: PathEvent[] = [];
    let recording = true;
    let kernelLogSeen = kernel.log.length;
    const path = (call: string, result: number, ioctl?: string): void => {
      if (!recording) return;
      pathEvents.push(
        ioctl ? { kind: "syscall", call, ioctl, result } : { kind: "syscall", call, result },
      );
      while (kernelLogSeen < kernel.log.length) {
        pathEvents.push({ kind: "printk", line: kernel.log[kernelLogSeen++]! });
      }
    };
    this.os = this.interpose(this.proc, path);
    this.subscribe();

    const g = guestInfo(options);
    startupTraceListen((s) => pathEvents.push({ kind: "step", fn: s.fn, file: s.file }));
    try {
      // thread=multi: -S, so that the vCPU threads wait for Run (the page's Reset stops
      // before the first KVM_RUN); with one thread the loop only runs when asked anyway.
      this.inst = qemuInit(start ? [...this.argv, "-S"] : this.argv, {
        os: this.os,
        files: (p) => (p === g.file ? image : null),
        stdout: (t) => {
          this.consoleOut += t;
        },
        stderr: (t) => {
          this.message += t;
        },
        startThread: start
          ? (name, arg) => {
              // qemu_thread_create: clone() a thread of the process, run it in a worker.
              const link = this.proc.clone?.();
              if (link === undefined) return "threads are not supported here";
              const at = this.now() - this.t0;
              if (typeof link === "number") {
                this.logClone(at, name, resultText(link));
                path(`clone() = ${link}`, link);
                return `clone failed: ${resultText(link)}`;
              }
              this.logClone(at, name, `${link.tid} (tid)`);
              path(`clone() = tid ${link.tid}`, link.tid);
              this.startingCpu = arg.cpuIndex;
              const w = start({
                link,
                arg,
                hostCpu: options.backend === "svm" ? "amd" : "intel",
                timeOrigin: performance.timeOrigin,
              });
              this.vcpuWorkers++;
              return { tid: link.tid, link, join: () => w.terminate() };
            }
          : undefined,
      });
    } catch (err) {
      this.status = "error";
      if (!(err instanceof QemuExit)) this.message += `${(err as Error).message}\n`;
      qemuCleanup();
    } finally {
      startupTraceListen(null);
      recording = false;
      this.startingCpu = null;
    }
    this.startupTree = buildStartupTree(
      pathEvents,
      options.backend === "svm" ? KERNEL_PATHS_AMD : KERNEL_PATHS,
    );
    if (!this.inst) return;
    if (this.threaded) {
      // The vCPU threads have their signal masks (and state) of their own; -S left them
      // stopped, waiting for Run.
      this.held = this.inst.runstate !== "running";
      if (options.faultTr) {
        this.message +=
          "inject TR = available TSS: not with thread=multi (the vCPUs' state is already in their threads)\n";
      }
      for (let i = 0; i < this.inst.vcpuThreads.length; i++) this.chrome.vcpuThread(i);
      return;
    }
    if (options.faultTr) {
      // The descriptor flags of an available 32-bit TSS (type 9, present): in QEMU's copy
      // of the state (which it may push before the first KVM_RUN) …
      for (const cpu of cpuForeach()) (cpu as X86CPU).env.tr.flags = (1 << 15) | (9 << 8);
      // … and in KVM's, as a debugger would (QEMU may have pushed its reset state already).
      for (const fd of this.vcpuFds.keys()) {
        const b = new Uint8Array(KVM_SREGS_SIZE);
        if (this.proc.ioctl(fd, KVM_GET_SREGS, b) < 0) continue;
        const sregs = decodeKvmSregs(b);
        sregs.tr = { ...sregs.tr, type: 9, present: 1 };
        this.proc.ioctl(fd, KVM_SET_SREGS, encodeKvmSregs(sregs));
      }
    }
    // kvm_init_cpu_signals: SIG_IPI blocked in the thread, unblocked inside KVM_RUN.
    this.os.sigprocmask(SIG_BLOCK, [SIGUSR1]);
    for (const fd of this.vcpuFds.keys()) {
      this.os.ioctl(fd, KVM_SET_SIGNAL_MASK, encodeKvmSignalMask(new Uint8Array(8)));
    }
    for (let i = 0; i < this.inst.vcpuThreads.length; i++) this.chrome.vcpuThread(i);
    this.exitWatch = this.watchControlBlock();
  }

  /** The vCPUs run in threads (workers) of their own: thread=multi took effect. */
  get threaded(): boolean {
    return this.vcpuWorkers > 0;
  }

  /** A `clone` line in the ioctl log: QEMU starting a vCPU thread. */
  private logClone(t: number, name: string, result: string): void {
    this.log.add({
      t,
      call: "clone",
      fd: "",
      name: "clone",
      args: `CLONE_VM|CLONE_FILES|CLONE_THREAD… (${name})`,
      result,
      failed: result.startsWith("-"),
    });
  }

  /**
   * A provenance watcher on vCPU 0's control block: which fields were written (and by
   * whom) since it was last reset — the VMCS (VmcsProvenance on the host CPU's VMX unit)
   * or the VMCB (VmcbProvenance).
   */
  private watchControlBlock(): {
    writers(): Map<string, string>;
    reset(): void;
    detach(): void;
  } | null {
    const kv = this.kvmVcpu(0);
    if (!kv) return null;
    if (this.options.backend === "vmx") {
      const prov = new VmcsProvenance(toVmx(kv).cpu.vmx);
      return {
        writers: () => {
          const out = new Map<string, string>();
          const pa = toVmx(kv).vmcs.pa;
          for (const f of VMCS_FIELDS) {
            const by = prov.writer(pa, f.encoding);
            if (by) out.set(f.name, by === "cpu" ? "cpu (VM exit)" : "vmwrite (kvm_intel)");
          }
          return out;
        },
        reset: () => prov.reset(),
        detach: () => prov.detach(),
      };
    }
    const prov = new VmcbProvenance();
    return {
      writers: () => {
        const out = new Map<string, string>();
        const pa = toSvm(kv).vmcb.pa;
        for (const f of VMCB_FIELDS) {
          const by = prov.writer(pa, f);
          if (by) out.set(f.name, String(by));
        }
        return out;
      },
      reset: () => prov.reset(),
      detach: () => prov.detach(),
    };
  }

  /** The fields of vCPU 0 written since its last VM entry: the last exit's, after a run. */
  private lastExitWrites(): void {
    const w = this.exitWatch?.writers();
    if (!w) return;
    const cb = this.controlBlock();
    const values = new Map<string, bigint>(
      (cb?.snapshot.fields ?? []).map((f) => [f.name, f.value]),
    );
    this.changed = new Map();
    for (const [name, by] of w) {
      const v = values.get(name) ?? 0n;
      this.changed.set(name, { before: v, after: v, by });
    }
  }

  /** Start a segment on vCPU `vcpu`'s timeline at `t`, closing the open one. */
  private segment(vcpu: number, t: number, kind: "guest" | "exit" | null, reason?: string): void {
    let segs = this.timeline.get(vcpu);
    if (!segs) {
      segs = [];
      this.timeline.set(vcpu, segs);
    }
    const ms = t - this.t0;
    const open = segs[segs.length - 1];
    if (open && Number.isNaN(open.end)) open.end = ms;
    if (kind === null) return;
    segs.push(
      reason === undefined
        ? { start: ms, end: Number.NaN, kind }
        : { start: ms, end: Number.NaN, kind, reason },
    );
    if (segs.length > TIMELINE_KEEP) segs.splice(0, segs.length - TIMELINE_KEEP);
  }

  /** Close the exits still being handled (a stopped vCPU) at `t`: perf's time ends there. */
  private closePending(t: number): void {
    for (const vcpu of this.timeline.keys()) this.segment(vcpu, t, null);
    // The trace too: a stopped vCPU has no open slice (the next kvm_entry opens one).
    this.chrome.finish(t);
    for (const [vcpu, p] of this.pending) {
      this.pending.delete(vcpu);
      const row = this.exits.get(p.key)!;
      const us = (t - p.t) * 1000;
      row.timed++;
      row.totalUs += us;
      if (us < row.minUs) row.minUs = us;
      if (us > row.maxUs) row.maxUs = us;
    }
  }

  /** strace's view: every call into the kernel, logged; start-up calls also feed the path. */
  private interpose(proc: HostOs, path: (call: string, r: number, ioctl?: string) => void): HostOs {
    const t = (): number => this.now() - this.t0;
    const fdKind = (fd: number): string => {
      const v = this.vcpuFds.get(fd);
      if (v !== undefined) return `vcpu ${v}`;
      if (fd === this.vmFd) return "vm";
      if (fd === this.kvmFd) return "/dev/kvm";
      return `fd ${fd}`;
    };
    return interposeHostOs(proc, {
      open: (p, flags) => {
        const r = proc.open(p, flags);
        if (p === "/dev/kvm" && r >= 0) this.kvmFd = r;
        this.log.add({
          t: t(),
          call: "open",
          fd: "",
          name: "open",
          args: `"${p}"`,
          result: resultText(r, true),
          failed: r < 0,
        });
        path(`open("${p}") = ${r}`, r);
        return r;
      },
      ioctl: (fd, request, arg?: IoctlArg) => {
        const vcpu = this.vcpuFds.get(fd);
        if (vcpu !== undefined && request === KVM_RUN) {
          const start = this.now();
          this.chrome.run(vcpu, start);
          const r = proc.ioctl(fd, request, arg);
          const page = this.runPage(vcpu);
          const reason = page ? kvmExitReasonName(page.exitReason) : "";
          this.log.add({
            t: start - this.t0,
            call: "ioctl",
            fd: `vcpu ${vcpu}`,
            name: "KVM_RUN",
            args: "0",
            result: r < 0 ? resultText(r) : `0 → ${reason}`,
            failed: r < 0,
          });
          return r;
        }
        const before = describeIoctlArg(request, arg);
        const r = proc.ioctl(fd, request, arg);
        const name = kvmIoctlName(request);
        const creates = (request === KVM_CREATE_VM || request === KVM_CREATE_VCPU) && r >= 0;
        if (request === KVM_CREATE_VM && r >= 0) this.vmFd = r;
        if (request === KVM_CREATE_VCPU && r >= 0) {
          const index = this.vcpuFds.size;
          this.vcpuFds.set(r, index);
          this.vcpuIds.set(Number(arg), index);
        }
        const args =
          arg instanceof Uint8Array && r >= 0 ? describeIoctlArg(request, arg, arg) : before;
        this.log.add({
          t: t(),
          call: "ioctl",
          fd: fdKind(fd),
          name,
          args,
          result: resultText(r, creates),
          failed: r < 0,
        });
        const who = vcpu !== undefined ? ` (vcpu ${vcpu})` : "";
        path(`${name}${who}${creates ? ` = fd ${r}` : ""}`, r, name);
        return r;
      },
      mmap: (fd, length, offset) => {
        const r = proc.mmap(fd, length, offset);
        // thread=multi: the vCPU's thread created it; the main thread maps its kvm_run
        // from the fd it was given (kvm_init_vcpu on the thread, the BQL call here).
        if (
          this.startingCpu !== null &&
          r >= 0 &&
          fd >= 0 &&
          fd !== this.kvmFd &&
          fd !== this.vmFd &&
          !this.vcpuFds.has(fd)
        ) {
          this.vcpuFds.set(fd, this.startingCpu);
        }
        const vcpu = this.vcpuFds.get(fd);
        if (vcpu !== undefined && r >= 0) this.runPages.set(vcpu, { addr: r, length });
        const what =
          fd < 0
            ? `anonymous, ${length.toString(16)}`
            : vcpu !== undefined
              ? `vcpu ${vcpu} fd → struct kvm_run`
              : `fd ${fd}, 0x${length.toString(16)}`;
        this.log.add({
          t: t(),
          call: "mmap",
          fd: fd < 0 ? "" : fdKind(fd),
          name: "mmap",
          args: what,
          result: r < 0 ? resultText(r) : `0x${r.toString(16)}`,
          failed: r < 0,
        });
        path(`mmap(${what})`, r);
        return r;
      },
      close: (fd) => {
        const r = proc.close(fd);
        this.log.add({
          t: t(),
          call: "close",
          fd: fdKind(fd),
          name: "close",
          args: String(fd),
          result: resultText(r),
          failed: r < 0,
        });
        return r;
      },
    });
  }

  private kvmFd = -1;
  private vmFd = -1;

  private runPage(vcpu: number): KvmRun | null {
    const m = this.runPages.get(vcpu);
    if (m === undefined) return null;
    return new KvmRun(this.proc.view(m.addr, Math.max(m.length, KVM_RUN_SIZE)));
  }

  private subscribe(): void {
    const tr = this.kernel.trace;
    const index = (id: number): number => this.vcpuIds.get(id) ?? id;
    tr.kvm_exit.subscribe((e) => {
      const t = this.now();
      const vcpu = index(e.vcpu_id);
      this.exitsTotal++;
      const key = e.exit_reason_name;
      let row = this.exits.get(key);
      if (!row) {
        row = {
          reason: key,
          count: 0,
          timed: 0,
          totalUs: 0,
          minUs: Number.POSITIVE_INFINITY,
          maxUs: 0,
        };
        this.exits.set(key, row);
      }
      row.count++;
      this.pending.set(vcpu, { key, t });
      this.segment(vcpu, t, "exit", key);
      this.lastExit = { vcpu, reason: key, rip: e.guest_rip, info1: e.info1, info2: e.info2 };
      if (this.exitsTotal < MAX_TRACE_EXITS) this.chrome.exit(vcpu, key, t, e.guest_rip);
      // SIG_IPI: end this KVM_RUN once the exit is handled (a step, or the slice is over).
      if (this.stopOnExit || t >= this.deadline) this.proc.kill(SIGUSR1);
    });
    tr.kvm_entry.subscribe((e) => {
      const t = this.now();
      const vcpu = index(e.vcpu_id);
      if (vcpu === 0) this.exitWatch?.reset();
      this.segment(vcpu, t, "guest");
      const p = this.pending.get(vcpu);
      if (p) {
        this.pending.delete(vcpu);
        const row = this.exits.get(p.key)!;
        const us = (t - p.t) * 1000;
        row.timed++;
        row.totalUs += us;
        if (us < row.minUs) row.minUs = us;
        if (us > row.maxUs) row.maxUs = us;
      }
      if (this.exitsTotal < MAX_TRACE_EXITS) this.chrome.entry(vcpu, t, e.rip);
    });
    tr.kvm_userspace_exit.subscribe((e) => {
      if (this.exitsTotal < MAX_TRACE_EXITS) {
        this.chrome.userspaceExit(index(e.vcpu_id), kvmExitReasonName(e.reason), this.now());
      }
    });
  }

  /** One main-loop round (every vCPU thread once, then timers), the pending SIG_IPI eaten. */
  private round(): boolean {
    const inst = this.inst;
    if (!inst || this.status === "shutdown" || this.status === "error") return false;
    try {
      const r = qemuMainLoop(inst, 1);
      this.proc.sigtimedwait(SIGUSR1);
      if (r !== null) {
        this.status = "shutdown";
        this.exitStatus = r;
        return false;
      }
      if (inst.runstate === "internal-error") {
        this.status = "error";
        this.message += "the VM stopped on an internal error\n";
        return false;
      }
    } catch (err) {
      this.proc.sigtimedwait(SIGUSR1);
      if (err instanceof QemuExit) {
        this.status = "shutdown";
        this.exitStatus = err.status;
      } else {
        this.status = "error";
        this.message += `${(err as Error).message}\n`;
      }
      return false;
    }
    return true;
  }

  /** Run for about `ms` of wall time (a slice), then stop every vCPU at its next exit. */
  runFor(ms: number): void {
    if (!this.inst || this.status === "shutdown" || this.status === "error") return;
    const t0 = this.now();
    this.deadline = t0 + ms;
    this.status = "running";
    if (this.held) {
      // vm_start: the vCPU threads go on (with thread=multi they run between slices too).
      this.held = false;
      this.inst.runstate = "running";
      resumeAllVcpus();
    }
    while (this.now() < this.deadline && this.round()) {
      /* rounds until the slice is over */
    }
    this.deadline = Number.POSITIVE_INFINITY;
    const t = this.now();
    this.runMs += t - t0;
    this.closePending(t);
    this.lastExitWrites();
  }

  /**
   * Mark the session paused (between slices). With thread=multi the vCPU threads would go
   * on without the main loop: pause_all_vcpus stops them (each at its next exit or kick).
   */
  pause(): void {
    if (this.status === "running") this.status = "paused";
    if (this.threaded && this.inst && !this.held && this.status === "paused") {
      pauseAllVcpus();
      this.held = true;
    }
  }

  /** Watch the control block across a step: what it wrote, and who. */
  private watchStep(step: () => void): void {
    const before = this.controlBlock();
    const watch = this.watchControlBlock();
    const finish = (): Map<string, string> => {
      const w = watch?.writers() ?? new Map<string, string>();
      watch?.detach();
      return w;
    };
    const t0 = this.now();
    try {
      step();
    } finally {
      const t = this.now();
      this.runMs += t - t0;
      this.closePending(t);
      const writers = finish();
      const after = this.controlBlock();
      this.changed = new Map();
      if (before && after) {
        const old = new Map<string, bigint>(before.snapshot.fields.map((f) => [f.name, f.value]));
        for (const f of after.snapshot.fields) {
          const b = old.get(f.name) ?? 0n;
          const by = writers.get(f.name);
          if (by || b !== f.value)
            this.changed.set(f.name, { before: b, after: f.value, by: by ?? "?" });
        }
      }
    }
  }

  /** Run until exactly one more VM exit has happened (and been handled), then stop. */
  stepExit(): void {
    if (!this.inst || this.status === "shutdown" || this.status === "error") return;
    if (this.threaded) return;
    this.status = "paused";
    this.watchStep(() => {
      const start = this.exitsTotal;
      const limit = this.now() + 2000;
      this.stopOnExit = true;
      try {
        while (this.exitsTotal === start && this.now() < limit && this.round()) {
          /* an idle vCPU (halted) waits for a timer round */
        }
      } finally {
        this.stopOnExit = false;
      }
      if (this.status === "running") this.status = "paused";
    });
  }

  /** One guest instruction on vCPU 0 (KVM_GUESTDBG_SINGLESTEP → KVM_EXIT_DEBUG). */
  stepInstruction(): void {
    if (!this.inst || this.status === "shutdown" || this.status === "error") return;
    if (this.threaded) return;
    const fd = [...this.vcpuFds].find(([, i]) => i === 0)?.[0];
    if (fd === undefined) return;
    this.status = "paused";
    this.watchStep(() => {
      const dbg = (control: number): number =>
        this.os.ioctl(fd, KVM_SET_GUEST_DEBUG, encodeKvmGuestDebug({ control, debugreg: [] }));
      const r = dbg(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP);
      if (r < 0) {
        this.message += `KVM_SET_GUEST_DEBUG failed (${r})\n`;
        return;
      }
      const page = this.runPage(0);
      const limit = this.now() + 2000;
      this.deadline = limit;
      try {
        let more = true;
        while (more && this.now() < limit) {
          more = this.round();
          if (page?.exitReason === KVM_EXIT_DEBUG) break;
        }
      } finally {
        this.deadline = Number.POSITIVE_INFINITY;
        dbg(0);
      }
      if (this.status === "running") this.status = "paused";
    });
  }

  /** Keyboard input for COM1 (the UART's receive FIFO); false when there is no serial port. */
  sendInput(text: string): boolean {
    const chr = qemuChrFind("serial0");
    if (!chr) return false;
    qemuChrBeQueueInput(
      chr,
      Array.from(text, (c) => c.charCodeAt(0) & 0xff),
    );
    return true;
  }

  /**
   * The host kernel's log since kvm_intel/kvm_amd loaded (dmesg): where a failed VM entry
   * names the SDM check that failed, the field and its value.
   */
  dmesg(): string[] {
    return this.kernel.log.slice(this.kernelLogStart);
  }

  /** Console output since the last call. */
  takeConsole(): string {
    const out = this.consoleOut;
    this.consoleOut = "";
    return out;
  }

  /** Guest instructions retired in VMX non-root / SVM guest mode, over every host CPU. */
  instructions(): number {
    const cpus = "intel" in this.vendor ? this.vendor.intel.cpus : this.vendor.amd.cpus;
    let n = 0;
    for (const c of cpus) n += c.nonRoot.instructions;
    return n;
  }

  get vcpuCount(): number {
    return this.vcpuFds.size;
  }

  private kvmVcpu(index: number): KvmVcpu | null {
    // thread=multi: this kernel has stubs of the vCPUs; they run in the threads' kernels.
    if (this.threaded) return null;
    const vms = kvmGlobal(this.kernel)?.vms;
    const vm = vms ? [...vms].find((k) => k.mm.pid === this.proc.pid) : undefined;
    if (!vm) return null;
    for (const [id, i] of this.vcpuIds)
      if (i === index) return vm.vcpus.find((v) => v.vcpuId === id) ?? null;
    return null;
  }

  /**
   * Why the last VM entry (VMLAUNCH/VMRESUME) or VMRUN of vCPU `index` failed, as the
   * hardware model's checks name it: the rule, its SDM section (VT-x), the field and value.
   */
  entryFailure(index = 0): EntryFailure | null {
    const kv = this.kvmVcpu(index);
    if (!kv) return null;
    if (this.options.backend === "svm") {
      const f = toSvm(kv).cpu.svm.lastVmrunFailure;
      return f
        ? { rule: f.rule, sdm: "", field: f.field, value: f.value, message: f.message }
        : null;
    }
    const f = toVmx(kv).cpu.vmx.lastEntryFailure;
    return f
      ? { rule: f.rule, sdm: f.sdm, field: f.field, value: f.value, message: f.message }
      : null;
  }

  /** The VMCS (VMX: when current on its CPU) or VMCB of vCPU `index`. */
  controlBlock(index = 0): ControlBlock | null {
    const kv = this.kvmVcpu(index);
    if (!kv) return null;
    if (this.options.backend === "svm")
      return { kind: "vmcb", snapshot: vmcbSnapshot(toSvm(kv).vmcb) };
    const vmx = toVmx(kv);
    const cur = vmx.cpu.vmx.current;
    if (!cur || cur.pa !== vmx.vmcs.pa) return null;
    return { kind: "vmcs", snapshot: vmcsSnapshot(cur) };
  }

  /** KVM_GET_REGS / KVM_GET_SREGS of vCPU `index` (the page's own calls: not logged). */
  registers(index = 0): { regs: KvmRegs; sregs: KvmSregs } | null {
    const fd = [...this.vcpuFds].find(([, i]) => i === index)?.[0];
    if (fd === undefined || this.status === "error") return null;
    // thread=multi: the ioctls are forwarded to the vCPU's thread, which serves them
    // between KVM_RUNs — only asked while the threads stand stopped.
    if (this.threaded && !this.held && this.status !== "shutdown") return null;
    const rb = new Uint8Array(KVM_REGS_SIZE);
    const sb = new Uint8Array(KVM_SREGS_SIZE);
    if (this.proc.ioctl(fd, KVM_GET_REGS, rb) < 0) return null;
    if (this.proc.ioctl(fd, KVM_GET_SREGS, sb) < 0) return null;
    return { regs: decodeKvmRegs(rb), sregs: decodeKvmSregs(sb) };
  }

  /** The kvm_run page of vCPU `index`, decoded. */
  kvmRun(index = 0): KvmRunRow[] | null {
    const m = this.runPages.get(index);
    if (m === undefined) return null;
    return kvmRunRows(this.proc.view(m.addr, Math.max(m.length, KVM_RUN_SIZE)));
  }

  /** The Perfetto (Chrome trace-event) JSON so far. */
  traceJson(): ChromeTraceJson {
    const json = this.chrome.toJSON();
    return { ...json, traceEvents: [...json.traceEvents] };
  }

  /** qemu_cleanup: the process exits; another session can start in this realm. */
  dispose(): void {
    this.exitWatch?.detach();
    this.exitWatch = null;
    if (this.inst) qemuCleanup();
    this.inst = null;
  }
}
