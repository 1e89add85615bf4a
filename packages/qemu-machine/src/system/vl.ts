/**
 * system/vl.c: `qemu_init(argv)` in the order of reference §1.1, and the main loop
 * (`qemu_main_loop`, system/main.c + runstate.c's main_loop_should_exit). The path
 * design.md calls the seed is recorded step by step in `startupTrace`:
 *
 *   qemuInit → qemuParseOptions → … → qemuCreateMachine → configureAccelerators →
 *   accelInitMachine → kvmInit → parseCpuOption → machineRunBoardInit → pcInit1 →
 *   x86CpusInit → x86CpuNew → x86CpuRealizefn → qemuInitVcpu → kvmStartVcpuThread →
 *   kvmVcpuThreadFn → kvmInitVcpu → kvmArchInitVcpu → … → qemuSystemReset → vmStart
 *
 * Errors end the run as QEMU's do: the message on the error sink, then a thrown
 * QemuExit carrying the status ({@link qemuMain} turns it into a return value).
 *
 * The host comes in through {@link QemuEnv}: the HostOs (the kernel's /dev/kvm and
 * anonymous mmap for guest RAM and ROM), a file reader and the stdout/stderr sinks.
 *
 * Chardevs: `-chardev null|ringbuf|memory,id=…`; `-serial`/`-debugcon` take `none`,
 * `null`, `stdio` (env.stdout) or `chardev:<id>`. Without `-serial`, `-nographic` gives
 * a stdio serial port and otherwise there is none (QEMU's `vc` has no display here).
 */
import type { HostOs } from "@glassvm/kvm-kernel/uapi";
import {
  MODULE_INIT_QOM,
  moduleCallInit,
  ON_OFF_AUTO_AUTO,
  ON_OFF_AUTO_ON,
  objectClassByName,
  objectClassDynamicCast,
  objectGetRoot,
  objectNewWithClass,
  objectPropertyAddChild,
  objectPropertyAddNewContainer,
  objectPropertyIsChild,
  objectPropertyIter,
  objectPropertyParse,
  objectResolvePathComponent,
  objectUnparent,
  objectUnref,
  PHASE_ACCEL_CREATED,
  PHASE_LATE_BACKENDS_CREATED,
  PHASE_MACHINE_CREATED,
  PHASE_MACHINE_READY,
  phaseAdvance,
  phaseReset,
  QomError,
  type QomObject,
  type QValue,
  qdevNew,
  qdevRealizeAndUnref,
  setWarnReporter,
  TYPE_DEVICE,
} from "@glassvm/qom";
import "../accel/kvm/kvm-accel-ops.js";
import "../hw/char/debugcon.js";
import "../hw/core/generic-loader.js";
import "../hw/misc/debugexit.js";
import { type KVMAccelState, kvmAllowedReset, setKvmInitMachine } from "../accel/kvm/kvm-accel.js";
import {
  kvmAccelOpsReset,
  kvmCpuSynchronizePostReset,
  kvmInternalErrorStop,
  kvmSetInternalErrorHandler,
  kvmSetThreadStarter,
} from "../accel/kvm/kvm-accel-ops.js";
import {
  type KVMState,
  kvmEnableCoalescedIo,
  kvmFlushCoalescedMmioBuffer,
  kvmInit,
  kvmStateClear,
  kvmStateCurrent,
  kvmTracedOs,
} from "../accel/kvm/kvm-all.js";
import {
  type KvmVcpuThreadArg,
  kvmHasRemoteThreads,
  kvmJoinVcpuThreads,
  kvmServeVcpuThreads,
  kvmVmstopRequested,
  type QemuThreadHandle,
} from "../accel/kvm/kvm-vcpu-thread.js";
import { type Chardev, qemuChardevNew, qemuChrBeQueueInput, qemuChrFind } from "../chardev/char.js";
import { isaSerialIndexReset } from "../hw/char/serial.js";
import type { MachineClass, MachineState } from "../hw/core/machine.js";
import { machineRunBoardInit } from "../hw/core/machine.js";
import { e820Reset } from "../hw/i386/e820_memory_layout.js";
import type { PCMachineState } from "../hw/i386/pc.js";
import { setPcMachineReset } from "../hw/i386/pc.js";
import { setPcInit1 } from "../hw/i386/pc_piix.js";
import {
  PC_DEFAULT_BIOS,
  pcBoard,
  pcBoardReset,
  pcInit1,
  pcMachineReset,
} from "../hw/i386/pc-init.js";
import { type ISADevice, isaBusReset, isaRealizeAndUnref } from "../hw/isa/isa-bus.js";
import { errorReportErr, QemuExit, withErrorFatal } from "../qapi/error.js";
import {
  cpuForeach,
  cpuListReset,
  cpuReset,
  isHelpOption,
  parseCpuOption,
  type X86CPU,
  x86CpuList,
  x86CpuParseFeaturestrReset,
  x86CpuSetAccel,
  x86CpuSetRealizeHooks,
} from "../target/i386/cpu.js";
import { x86CpuApicCreate, x86CpuApicRealize } from "../target/i386/cpu-apic.js";
import { kvmX86AccelCpuOps } from "../target/i386/kvm/kvm-cpu.js";
import { traceAddSink, traceEnable, traceReset } from "../trace/control.js";
import {
  errorInit,
  errorReport,
  errorReportReset,
  locSetCmdline,
  locSetNone,
  qemuPrintf,
  setErrorSink,
  setOutputSink,
  warnReport,
} from "../util/error-report.js";
import { keyvalParse } from "../util/keyval.js";
import {
  LOG_TRACE,
  qemuLog,
  qemuLoglevelMask,
  qemuLogReset,
  qemuLogSetHost,
  qemuPrintLogUsage,
  qemuSetLogFilename,
  qemuSetLogFilenameFlags,
  qemuStrToLogMask,
} from "../util/log.js";
import {
  type QemuOpts,
  qemuOptForeach,
  qemuOptGet,
  qemuOptHasHelpOpt,
  qemuOptsForeach,
} from "../util/qemu-option.js";
import {
  QEMU_CLOCK_REALTIME,
  QEMU_CLOCK_VIRTUAL,
  qemuClockDeadlineNsAll,
  qemuClockRunTimers,
} from "../util/qemu-timer.js";
import {
  cpusKickAll,
  cpusReset,
  cpusVcpuThreads,
  pauseAllVcpus,
  qemuInitVcpu,
  resumeAllVcpus,
  type VcpuThread,
} from "./cpus.js";
import { memoryListenerSetCoalescedIo, memoryRegionInitRam } from "./memory.js";
import { addressSpaceIo, addressSpaceMemory, cpuExecInitAll } from "./physmem.js";
import { qdevDeviceHelp } from "./qdev-monitor.js";
import { qemuHostSet, serialHdAdd } from "./qemu-host.js";
import {
  qemuKillReport,
  qemuRegisterReset,
  qemuResetRequested,
  qemuSetMachineReset,
  qemuSetNotifyEvent,
  qemuShutdownExitCode,
  qemuShutdownRequested,
  qemuSystemReset,
  qmpSetAction,
  runstateReset,
  SHUTDOWN_CAUSE_NONE,
  type ShutdownCause,
} from "./runstate.js";
import { type StartupStep, startupStep, startupTraceBegin } from "./startup-trace.js";
import {
  configureAccelerators,
  parseMemoryOptions,
  qemuApplyLegacyMachineOptions,
  qemuApplyMachineOptions,
  qemuParseOptions,
  qemuValidateOptions,
  selectMachine,
  type VlOptions,
  vlOptionsNew,
} from "./vl-options.js";

const FILE = "system/vl.ts";

/** What the QEMU process gets from its host. */
export interface QemuEnv {
  readonly os: HostOs;
  /** A file's bytes (`-bios`, `-device loader,file=`), or null if it cannot be read. */
  readonly files: (path: string) => Uint8Array | null;
  /** Standard output (help texts, `stdio` chardevs) and standard error (messages). */
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /**
   * Write a file (`-D FILE`: created empty, then appended to). Throws an Error whose
   * message is the reason when it cannot. Without it, `-D` fails as an unopenable file.
   */
  readonly writeFile?: (path: string, text: string, append: boolean) => void;
  /**
   * Standard input for `stdio` chardevs, read without blocking: the bytes available now,
   * or null when there are none (yet). Without it, stdio chardevs are output-only.
   */
  readonly stdin?: () => Uint8Array | null;
  /**
   * qemu_thread_create for `-accel kvm,thread=multi`: start a host thread of this QEMU
   * process (a worker: clone() of `os`, then the embedder's vCPU-thread entry running
   * kvmVcpuThreadFnMulti with `arg`). Returns the handle, or an error text. Without it
   * thread=multi falls back to thread=single.
   */
  readonly startThread?: (name: string, arg: KvmVcpuThreadArg) => QemuThreadHandle | string;
}

export type QemuRunState = "prelaunch" | "running" | "internal-error" | "shutdown";

/** The running QEMU after qemu_init. */
export interface QemuMachineInstance {
  readonly machine: PCMachineState;
  readonly kvm: KVMState;
  readonly startupTrace: readonly StartupStep[];
  readonly vcpuThreads: readonly VcpuThread[];
  /** System resets since start-up (the one qemu_machine_creation_done does not counted). */
  resetCount: number;
  runstate: QemuRunState;
  /** The exit status once shut down. */
  exitStatus: number | null;
}

// -------------------------------------------------------------------------------------
// Chardevs (chardev/char.c's qemu_chr_new_from_opts, vl.c's serial_parse)

const CHARDEV_BACKENDS = ["null", "ringbuf", "memory"] as const;

function chardevFromOpts(opts: QemuOpts): number {
  const backend = qemuOptGet(opts, "backend");
  const id = opts.id;
  if (backend === null) {
    errorReport('chardev: "" missing backend');
    throw new QemuExit(1);
  }
  if (!(CHARDEV_BACKENDS as readonly string[]).includes(backend)) {
    errorReport(`'${backend}' is not a valid char driver name`);
    throw new QemuExit(1);
  }
  if (id === null) {
    errorReport("Parameter 'id' is missing");
    throw new QemuExit(1);
  }
  qemuChardevNew(id, { type: backend as (typeof CHARDEV_BACKENDS)[number] });
  return 0;
}

/** `stdio` chardevs whose host has a standard input, polled by the main loop. */
const stdioInputs: { chr: Chardev; read: () => Uint8Array | null }[] = [];

/** The main loop's stdin watch: what the host has typed goes to the stdio chardevs. */
function stdioPoll(): void {
  for (const s of stdioInputs) {
    const bytes = s.read();
    if (bytes && bytes.length > 0) qemuChrBeQueueInput(s.chr, bytes);
  }
}

/** A chardev for `-serial`/`-debugcon` SPEC, labelled `label`; null for `none`. */
function chardevForSpec(spec: string, label: string, env: QemuEnv): Chardev | null {
  if (spec === "none") return null;
  if (spec.startsWith("chardev:")) {
    const chr = qemuChrFind(spec.slice("chardev:".length));
    if (chr) return chr;
  } else if (spec === "null") {
    return qemuChardevNew(label, { type: "null" });
  } else if (spec === "stdio") {
    const dec = new TextDecoder("latin1");
    const chr = qemuChardevNew(label, {
      type: "callback",
      write: (b) => env.stdout(dec.decode(b)),
    });
    // char-stdio's read side: the main loop's fd watch on stdin (stdioPoll).
    if (env.stdin) stdioInputs.push({ chr, read: env.stdin });
    return chr;
  }
  errorReport(`could not connect serial device to character backend '${spec}'`);
  throw new QemuExit(1);
}

// -------------------------------------------------------------------------------------
// qemu_create_machine, qdev_device_add, resets

/** `qemu_create_machine` (step 8): select, object_new, /machine, containers, memory, defaults. */
function qemuCreateMachine(vl: VlOptions): PCMachineState {
  startupStep(FILE, "qemuCreateMachine");
  const mc: MachineClass = withErrorFatal(() => selectMachine(vl.machineOptsDict));
  const machine = objectNewWithClass<PCMachineState>(mc);
  objectPropertyAddChild(objectGetRoot(), "machine", machine);
  objectUnref(machine);
  for (const c of ["unattached", "peripheral", "peripheral-anon"]) {
    objectPropertyAddNewContainer(machine, c);
  }
  cpuExecInitAll();
  if (mc.defaultMachineOpts) {
    const { dict } = withErrorFatal(() => keyvalParse(mc.defaultMachineOpts!, null, false));
    // The user's options win (QEMU merges the defaults under them).
    for (const k of Object.keys(dict)) {
      if (k === "firmware" && vl.machineOptsDict.firmware !== undefined) delete dict[k];
    }
    qemuApplyMachineOptions(machine, dict);
  }
  return machine;
}

/** `qdev_device_add` for one `-device` (system/qdev-monitor.c), ISA devices on the ISA bus. */
function qdevDeviceAdd(props: Record<string, QValue>): void {
  const driver = props.driver;
  if (typeof driver !== "string") {
    errorReport("Parameter 'driver' is missing");
    throw new QemuExit(1);
  }
  const oc = objectClassByName(driver);
  if (!oc || !objectClassDynamicCast(oc, TYPE_DEVICE)) {
    errorReport(`'${driver}' is not a valid device model name`);
    throw new QemuExit(1);
  }
  withErrorFatal(() => {
    const dev = qdevNew(driver);
    for (const [k, v] of Object.entries(props)) {
      if (k === "driver" || k === "id") continue;
      objectPropertyParse(dev, k, String(v));
    }
    if ("ioportId" in dev) {
      const bus = pcBoard()?.isaBus;
      if (!bus) throw new QomError("invalid-parameter-value", "No 'ISA' bus found for device", {});
      isaRealizeAndUnref(dev as ISADevice, bus);
    } else {
      qdevRealizeAndUnref(dev);
    }
  });
}

/** `qemu_create_cli_devices`: every `-device`, in order. */
function qemuCreateCliDevices(vl: VlOptions): void {
  startupStep(FILE, "qemuCreateCliDevices");
  qemuOptsForeach(vl.lists.device, (opts) => {
    const props: Record<string, QValue> = {};
    qemuOptForeach(opts, (name, value) => {
      props[name] = value;
      return 0;
    });
    qdevDeviceAdd(props);
    return 0;
  });
  for (const d of vl.deviceOpts) qdevDeviceAdd({ ...d.opts });
}

/** `x86_cpu_machine_reset_cb`: the CPU's part of a system reset. */
function x86CpuMachineResetCb(opaque: unknown): void {
  cpuReset(opaque as X86CPU);
}

/**
 * `qemu_system_reset(reason)`: every reset handler (devices, CPUs), then
 * `cpu_synchronize_all_post_reset` — KVM gets the reset state (kvm_arch_put_registers) before
 * the next KVM_RUN.
 */
export function qemuSystemResetAll(reason: ShutdownCause): void {
  qemuSystemReset(reason);
  for (const cpu of cpuForeach()) kvmCpuSynchronizePostReset(cpu);
}

// -------------------------------------------------------------------------------------
// qemu_cleanup: the end of the QEMU process this realm models

/** A qemuInit has run since the last qemuCleanup. */
let processStarted = false;
/** The log backend's trace sink qemuInit added. */
let removeLogSink: (() => void) | null = null;

/**
 * `qemu_cleanup` and the process exit after it. QEMU's process ends here and the kernel
 * closes its file descriptors; glassvm's QEMU is module state in a JS realm, so this does
 * what the exit would: the vCPU and VM fds and /dev/kvm are closed (the kernel frees the
 * VM with the last one) and the kvm_run mappings unmapped; the objects under /machine,
 * /objects and /chardevs are unparented; the CPU list, ISA bus, vCPU threads, reset
 * handlers and run state, accelerator, trace patterns and log settings, e820 table and
 * machine phase are forgotten. The next qemuInit in this realm starts as a new process
 * (qemuInit calls this itself when the previous process did not).
 */
export function qemuCleanup(): void {
  const s = kvmStateCurrent();
  kvmStateClear();
  // thread=multi: the vCPU threads end with the process.
  kvmJoinVcpuThreads();
  kvmSetThreadStarter(null);
  memoryListenerSetCoalescedIo(null);
  if (s) {
    for (const v of s.vcpus) {
      s.os.munmap(v.mmapAddr, v.mmapSize);
      s.os.close(v.kvmFd);
    }
    if (s.vmfd >= 0) s.os.close(s.vmfd);
    s.os.close(s.fd);
  }
  removeLogSink?.();
  removeLogSink = null;
  const root = objectGetRoot();
  const machine = objectResolvePathComponent(root, "machine");
  if (machine) objectUnparent(machine);
  for (const name of ["objects", "chardevs"]) {
    const container = objectResolvePathComponent(root, name);
    if (!container) continue;
    const children: QomObject[] = [];
    for (const p of objectPropertyIter(container)) {
      if (objectPropertyIsChild(p)) children.push(p.opaque as QomObject);
    }
    for (const child of children) objectUnparent(child);
  }
  cpuListReset();
  isaBusReset();
  isaSerialIndexReset();
  cpusReset();
  runstateReset();
  traceReset();
  qemuLogReset();
  errorReportReset();
  pcBoardReset();
  e820Reset();
  x86CpuParseFeaturestrReset();
  kvmAllowedReset();
  setPcInit1(null);
  setPcMachineReset(null);
  qemuHostSet(null);
  phaseReset();
  processStarted = false;
  stdioInputs.length = 0;
  kvmAccelOpsReset();
}

// -------------------------------------------------------------------------------------
// qemu_init

/**
 * `qemu_init(argc, argv)`: parse, create the machine, start KVM, build the board with
 * its CPUs (each with its vCPU thread and KVM vCPU), reset, and (unless `-S`) start.
 * Throws QemuExit after reporting when QEMU would exit.
 */
export function qemuInit(argv: readonly string[], env: QemuEnv): QemuMachineInstance {
  // A QEMU process before this one in the realm that did not clean up: as if it exited.
  if (processStarted) qemuCleanup();
  processStarted = true;
  const trace: StartupStep[] = [];
  startupTraceBegin(trace);
  try {
    return qemuInitSteps(argv, env, trace);
  } finally {
    startupTraceBegin(null);
  }
}

function qemuInitSteps(
  argv: readonly string[],
  env: QemuEnv,
  trace: StartupStep[],
): QemuMachineInstance {
  startupStep(FILE, "qemuInit");
  setErrorSink(env.stderr);
  setOutputSink(env.stdout);
  setWarnReporter((m) => warnReport(m));
  qemuHostSet({ os: env.os, files: env.files });
  qemuLogReset();
  qemuLogSetHost({ stderr: env.stderr, writeFile: env.writeFile, pid: env.os.pid });
  // 1. Option lists.
  const vl = vlOptionsNew();
  // 2. error_init, QOM types.
  errorInit(argv[0] ?? "qemu-system-x86_64");
  moduleCallInit(MODULE_INIT_QOM);
  // 4. The argv loop.
  startupStep("system/vl-options.ts", "qemuParseOptions");
  qemuParseOptions(vl, argv);
  const userBios = vl.machineOptsDict.firmware !== undefined;
  // 5. Validation, actions.
  locSetNone();
  qemuValidateOptions(vl);
  // Early options: the log file and items (-D, -d). An unknown item prints the list
  // and exits 1 (so does `-d help`: "help" is not an item).
  {
    let mask = 0;
    if (vl.logMask !== null) {
      mask = qemuStrToLogMask(vl.logMask);
      if (!mask) {
        qemuPrintLogUsage(qemuPrintf);
        throw new QemuExit(1);
      }
    }
    withErrorFatal(() => qemuSetLogFilenameFlags(vl.logFile, mask));
  }
  // Help options: `-cpu help` lists the models and exits (list_cpus).
  if (vl.cpuOption !== null && isHelpOption(vl.cpuOption)) {
    qemuPrintf(x86CpuList());
    throw new QemuExit(0);
  }
  // `-device help` lists the device types, `-device TYPE,help` a type's properties
  // (device_help_func for each -device).
  for (const o of vl.lists.device.head) {
    if (qdevDeviceHelp(qemuOptGet(o, "driver"), qemuOptHasHelpOpt(o))) throw new QemuExit(0);
  }
  if (vl.noReboot) qmpSetAction({ reboot: "shutdown" });
  // 6. Trace backends: the "log" backend writes each enabled event with qemu_log (stderr,
  // or the -D file); `-trace file=` names the log file (trace_init_file).
  for (const p of vl.tracePatterns) traceEnable(p);
  removeLogSink = traceAddSink((r) => {
    if (qemuLoglevelMask(LOG_TRACE)) qemuLog(`${r.line}\n`);
  });
  if (vl.traceFile !== null) withErrorFatal(() => qemuSetLogFilename(vl.traceFile));
  // 7. -m.
  parseMemoryOptions(vl);
  // 8. The machine.
  const machine = qemuCreateMachine(vl);
  // 9. Early backends: chardevs.
  qemuOptsForeach(vl.lists.chardev, chardevFromOpts);
  // 10–11. Machine options.
  qemuApplyLegacyMachineOptions(vl, vl.machineOptsDict);
  qemuApplyMachineOptions(machine, vl.machineOptsDict);
  phaseAdvance(PHASE_MACHINE_CREATED);
  // 12. The accelerator: kvm-accel's init_machine is kvm_init over this host.
  let kvm: KVMState | null = null;
  setKvmInitMachine((accel: KVMAccelState, ms: MachineState) => {
    startupStep("accel/accel-system.ts", "accelInitMachine");
    startupStep("accel/kvm/kvm-all.ts", "kvmInit");
    const r = kvmInit(
      env.os,
      {
        smpCpus: ms.smp.cpus,
        maxCpus: ms.smp.maxCpus,
        memory: addressSpaceMemory(),
        io: addressSpaceIo(),
      },
      (kind, text) => (kind === "error" ? errorReport(text) : warnReport(text)),
      accel.device ?? "/dev/kvm",
      {
        allowed: accel.kernelIrqchipAllowed,
        split:
          accel.kernelIrqchipSplit === ON_OFF_AUTO_ON ||
          (accel.kernelIrqchipSplit === ON_OFF_AUTO_AUTO &&
            ((ms.class as MachineClass).defaultKernelIrqchipSplit ?? false)),
      },
    );
    if (typeof r === "number") return r;
    if (accel.thread === "multi") {
      // One host thread per vCPU needs threads (shared memory) and HLT/interrupts in the
      // kernel (the vCPU threads never wait in QEMU).
      if (!env.startThread || typeof SharedArrayBuffer !== "function" || !env.os.clone) {
        warnReport(
          "kvm: thread=multi needs threads with shared memory here; the vCPUs run with thread=single",
        );
      } else if (!r.kernelIrqchip) {
        warnReport("kvm: thread=multi needs kernel-irqchip=on; the vCPUs run with thread=single");
      } else {
        kvmSetThreadStarter(env.startThread);
        kvmEnableCoalescedIo(r);
      }
    }
    accel.state = r;
    accel.fd = r.fd;
    kvm = r;
    x86CpuSetAccel(
      kvmX86AccelCpuOps({
        os: kvmTracedOs(r),
        kvmFd: r.fd,
        irqchipInKernel: r.kernelIrqchip,
        irqchipSplit: r.kernelIrqchipSplit,
        errorReport: (m) => errorReport(m),
      }),
    );
    return 0;
  });
  startupStep("system/vl-options.ts", "configureAccelerators");
  configureAccelerators(vl, machine);
  phaseAdvance(PHASE_ACCEL_CREATED);
  // 14. Late backends: the serial and debugcon chardevs.
  vl.serials.forEach((spec, i) => {
    const chr = chardevForSpec(spec, `serial${i}`, env);
    if (chr) serialHdAdd(chr);
  });
  if (vl.defaultSerial && vl.nographic) {
    const chr = chardevForSpec("stdio", "serial0", env);
    if (chr) serialHdAdd(chr);
  }
  const debugcons = vl.debugcons.map((spec, i) => chardevForSpec(spec, `debugcon${i}`, env));
  phaseAdvance(PHASE_LATE_BACKENDS_CREATED);
  // 15. The CPU type.
  machine.cpuType = (machine.class as MachineClass).defaultCpuType ?? null;
  if (vl.cpuOption !== null) {
    startupStep("target/i386/cpu.ts", "parseCpuOption");
    const r = parseCpuOption(vl.cpuOption);
    if (!r.ok) {
      const idx = argv.findIndex((a) => a === "-cpu" || a === "--cpu");
      if (idx >= 0) locSetCmdline(argv, idx, 2);
      errorReportErr(r.error);
      throw new QemuExit(1);
    }
    machine.cpuType = r.cpuType;
  }
  // No -bios and a -device loader: the loader brings the code (no default firmware).
  const hasLoader =
    vl.lists.device.head.some((o) => qemuOptGet(o, "driver") === "loader") ||
    vl.deviceOpts.some((d) => d.opts.driver === "loader");
  if (!userBios && hasLoader) machine.firmware = null;
  else if (machine.firmware === null) machine.firmware = PC_DEFAULT_BIOS;
  // 17a. The board. CPU realize hooks: reset registration and the vCPU thread.
  x86CpuSetRealizeHooks({
    smpCpus: () => machine.smp.cpus,
    registerReset: (cpu) => qemuRegisterReset(x86CpuMachineResetCb, cpu),
    apicCreate: (cpu) => x86CpuApicCreate(cpu),
    apicRealize: (cpu) => x86CpuApicRealize(cpu),
    initVcpu: (cpu) => {
      startupStep("system/cpus.ts", "qemuInitVcpu");
      qemuInitVcpu(cpu);
    },
  });
  setPcInit1(pcInit1);
  setPcMachineReset(pcMachineReset);
  const mc = machine.class as MachineClass;
  qemuSetMachineReset(mc.reset ? () => mc.reset!(machine, "cold") : null);
  startupStep("hw/core/machine.ts", "machineRunBoardInit");
  withErrorFatal(() =>
    machineRunBoardInit(machine, null, (ms) => {
      // memory-backend-ram: anonymous host memory, so KVM can map it (hostAddr).
      const addr = env.os.mmap(-1, ms.ramSize);
      if (addr < 0) {
        errorReport("cannot set up guest memory 'pc.ram': Cannot allocate memory");
        throw new QemuExit(1);
      }
      ms.ram = memoryRegionInitRam(
        "/objects/pc.ram",
        "pc.ram",
        env.os.view(addr, ms.ramSize),
        addr,
      );
    }),
  );
  // -debugcon devices (QEMU: isa-debugcon with the chardev, created with the board).
  for (const [i, chr] of debugcons.entries()) {
    if (!chr) continue;
    qdevDeviceAdd({ driver: "isa-debugcon", chardev: chr.label ?? `debugcon${i}` });
  }
  // 17b. -device.
  qemuCreateCliDevices(vl);
  // 17c. qemu_machine_creation_done: ready, system reset (state pushed to KVM).
  phaseAdvance(PHASE_MACHINE_READY);
  startupStep(FILE, "qemuSystemReset");
  qemuSystemResetAll(SHUTDOWN_CAUSE_NONE);
  if (!kvm) throw new Error("qemu_init: KVM did not initialize");
  const inst: QemuMachineInstance = {
    machine,
    kvm,
    startupTrace: trace,
    vcpuThreads: cpusVcpuThreads(),
    resetCount: 0,
    runstate: "prelaunch",
    exitStatus: null,
  };
  qemuSetNotifyEvent(cpusKickAll);
  kvmSetInternalErrorHandler(() => {
    pauseAllVcpus();
    inst.runstate = "internal-error";
  });
  // 17d. autostart: vm_start → resume_all_vcpus.
  if (vl.autostart) {
    startupStep(FILE, "vmStart");
    resumeAllVcpus();
    inst.runstate = "running";
  }
  return inst;
}

// -------------------------------------------------------------------------------------
// The main loop

/** How long the thread=multi main loop sleeps at most (then stdin and timers are looked at). */
const MAIN_LOOP_WAIT_NS = 10_000_000;

/**
 * `qemu_main_loop` with `thread=single`: each round steps every vCPU thread once (its
 * kvm_cpu_exec runs until an exit that needs the loop), runs due timers, then
 * main_loop_should_exit: a shutdown request ends the loop with the exit status
 * (isa-debug-exit's code, else 0); a reset request resets the machine (devices, CPUs,
 * KVM register state) and goes on. Returns null when `budget` rounds passed without a
 * shutdown, or the VM stopped on an internal error (runstate says which).
 */
export function qemuMainLoop(inst: QemuMachineInstance, budget = 100_000): number | null {
  const multi = kvmHasRemoteThreads();
  for (let round = 0; round < budget; round++) {
    if (stdioInputs.length > 0) stdioPoll();
    if (multi) {
      // thread=multi: the vCPUs run on their own threads; the main loop sleeps in ppoll
      // until one of them wants the BQL (or a timer is due), then serves it.
      const due = qemuClockDeadlineNsAll(QEMU_CLOCK_VIRTUAL);
      const timeout = due >= 0 && due < MAIN_LOOP_WAIT_NS ? due : MAIN_LOOP_WAIT_NS;
      inst.kvm.os.ppoll?.(timeout);
      kvmServeVcpuThreads();
      if (kvmVmstopRequested()) kvmInternalErrorStop();
    } else {
      for (const t of inst.vcpuThreads) t.step();
    }
    // The main loop flushes the coalesced ring too, for vCPUs that rarely exit.
    kvmFlushCoalescedMmioBuffer(inst.kvm);
    qemuClockRunTimers(QEMU_CLOCK_VIRTUAL);
    qemuClockRunTimers(QEMU_CLOCK_REALTIME);
    if (qemuShutdownRequested() !== SHUTDOWN_CAUSE_NONE) {
      const killed = qemuKillReport();
      if (killed) errorReport(killed);
      pauseAllVcpus();
      inst.runstate = "shutdown";
      inst.exitStatus = qemuShutdownExitCode();
      return inst.exitStatus;
    }
    const reset = qemuResetRequested();
    if (reset !== SHUTDOWN_CAUSE_NONE) {
      pauseAllVcpus();
      qemuSystemResetAll(reset);
      inst.resetCount++;
      resumeAllVcpus();
    }
    if (inst.runstate === "internal-error") return null;
  }
  return null;
}

/**
 * `main()`: qemu_init, the main loop, qemu_cleanup, the exit status. A QemuExit (an
 * option error, a help text) becomes its status; a loop that ran out of budget gives null.
 */
export function qemuMain(argv: readonly string[], env: QemuEnv, budget?: number): number | null {
  try {
    return qemuMainLoop(qemuInit(argv, env), budget);
  } catch (err) {
    if (err instanceof QemuExit) return err.status;
    throw err;
  } finally {
    qemuCleanup();
  }
}
