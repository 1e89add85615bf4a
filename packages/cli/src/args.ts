/**
 * The glassvm-only part of the command line, taken out before argv reaches qemuInit:
 * `-host-cpu intel|amd`, `-trace-file FILE` and the glassvm items of `-d` (`path`,
 * `exits`); `-help` and `-version` answered here. Everything else is QEMU's and goes on
 * unchanged (the `-trace` patterns are also read here, for the kernel's tracepoints).
 */
import { QEMU_VERSION, qemuOptions } from "@glassvm/qemu-machine";

export const PROGNAME = "glassvm";
/** The version of @glassvm/cli (kept in step with package.json by the release). */
export const GLASSVM_VERSION = "0.0.0";

export type HostCpuVendor = "intel" | "amd";

/** The glassvm items of `-d`. */
export const GLASSVM_LOG_ITEMS = [
  { name: "path", help: "show the start-up path (QEMU → KVM → VT-x) as a tree" },
  { name: "exits", help: "print a perf-kvm-stat summary of the VM exits at the end" },
  {
    name: "vmcs",
    help: "after each VM exit, the VMCS/VMCB fields that changed and who wrote them",
  },
  { name: "threads", help: "print `info cpus` when the VM starts: each vCPU's host thread id" },
] as const;

export interface GlassvmOptions {
  /** What goes to qemuInit (argv[0] = "glassvm"). */
  readonly qemuArgv: string[];
  readonly hostCpu: string;
  /**
   * `-host-clock`: the host's monotonic clock — `real` (performance.now), or
   * `instructions` (guest instructions retired, idle skipped: deterministic runs).
   */
  readonly hostClock: "real" | "instructions";
  readonly traceFile: string | null;
  readonly showPath: boolean;
  readonly exitStats: boolean;
  /** `-d vmcs`: the control-block fields each VM exit changed. */
  readonly showControlBlocks: boolean;
  /** `-d threads`: QEMU's `info cpus` once the VM is set up. */
  readonly showThreads: boolean;
  /** The `-trace` patterns (also applied to the kernel's tracepoints). */
  readonly tracePatterns: string[];
  /** `-trace help` / `-d help` were given: glassvm adds its part after QEMU's list. */
  readonly traceHelp: boolean;
  readonly logHelp: boolean;
  readonly help: boolean;
  readonly version: boolean;
}

/** A glassvm option error: the option (for the location prefix) and the message. */
export class GlassvmUsageError extends Error {
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(message);
    this.name = "GlassvmUsageError";
  }
}

const optName = (a: string): string | null =>
  a.startsWith("--") ? a.slice(2) : a.startsWith("-") ? a.slice(1) : null;

/** QEMU options that take an argument (so their argument is never read as an option). */
const QEMU_HAS_ARG = new Set(qemuOptions.filter((o) => o.hasArg).map((o) => o.name));

/** `-trace [enable=]PATTERN[,events=F][,file=F]` → PATTERN (or null). */
function tracePattern(optarg: string): string | null {
  for (const part of optarg.split(",")) {
    if (!part.includes("=")) return part;
    if (part.startsWith("enable=")) return part.slice("enable=".length);
  }
  return null;
}

/** Split argv (argv[0] the program) into glassvm's options and QEMU's argv. */
export function parseGlassvmArgs(argv: readonly string[]): GlassvmOptions {
  const qemuArgv = [PROGNAME];
  let hostCpu = "intel";
  let hostClock = "real";
  let traceFile: string | null = null;
  let showPath = false;
  let exitStats = false;
  let showControlBlocks = false;
  let showThreads = false;
  let traceHelp = false;
  let logHelp = false;
  let help = false;
  let version = false;
  const tracePatterns: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    const name = optName(a);
    const arg = (): string => {
      if (i + 1 >= argv.length) throw new GlassvmUsageError(a, "requires an argument");
      return argv[++i]!;
    };
    switch (name) {
      case "host-cpu":
        hostCpu = arg();
        continue;
      case "host-clock":
        hostClock = arg();
        if (hostClock !== "real" && hostClock !== "instructions") {
          throw new GlassvmUsageError(
            `-host-clock ${hostClock}`,
            "unknown host clock (expected real or instructions)",
          );
        }
        continue;
      case "trace-file":
        traceFile = arg();
        continue;
      case "h":
      case "help":
        help = true;
        continue;
      case "version":
        version = true;
        continue;
      case "d": {
        const items = arg().split(",");
        const rest: string[] = [];
        for (const item of items) {
          if (item === "path") showPath = true;
          else if (item === "exits") exitStats = true;
          else if (item === "vmcs") showControlBlocks = true;
          else if (item === "threads") showThreads = true;
          else {
            if (item === "help") logHelp = true;
            rest.push(item);
          }
        }
        if (rest.length > 0) qemuArgv.push(a, rest.join(","));
        continue;
      }
      case "trace": {
        const optarg = arg();
        const p = tracePattern(optarg);
        if (p === "help" || p === "?") traceHelp = true;
        else if (p !== null) tracePatterns.push(p);
        qemuArgv.push(a, optarg);
        continue;
      }
      default:
        qemuArgv.push(a);
        if (name !== null && QEMU_HAS_ARG.has(name) && i + 1 < argv.length) {
          qemuArgv.push(argv[++i]!);
        }
    }
  }
  return {
    qemuArgv,
    hostCpu,
    hostClock: hostClock as "real" | "instructions",
    traceFile,
    showPath,
    exitStats,
    showControlBlocks,
    showThreads,
    tracePatterns,
    traceHelp,
    logHelp,
    help,
    version,
  };
}

/** `-version`. */
export function glassvmVersionText(): string {
  return (
    `${PROGNAME} version ${GLASSVM_VERSION} (QEMU ${QEMU_VERSION} command line, ` +
    "Linux KVM + Intel VT-x model)\n" +
    "qemu-system-x86_64's options over a TypeScript model of Linux KVM with kvm_intel; " +
    "QEMU and Linux are not part of it.\n"
  );
}

/** `-help`: QEMU's usage for the options glassvm implements, then glassvm's own. */
export function glassvmHelpText(): string {
  const lines = [
    glassvmVersionText().split("\n")[0]!,
    `usage: ${PROGNAME} [options]`,
    "",
    "Standard options (as qemu-system-x86_64):",
  ];
  for (const o of qemuOptions) if (o.help) lines.push(o.help);
  lines.push(
    "",
    "glassvm options:",
    "-host-cpu intel|amd|intel,amd",
    "                the host's virtualization extension: intel loads kvm_intel",
    "                (VT-x, the default), amd loads kvm_amd (AMD-V); intel,amd runs",
    "                both and shows their exit streams side by side",
    "-host-clock real|instructions",
    "                the host's monotonic clock (KVM's timers, the TSC, QEMU's clocks):",
    "                real time (the default), or 1 ns per guest instruction retired with",
    "                idle time skipped — with thread=single a run then repeats exactly",
    "-trace-file file",
    "                write a Chrome trace-event JSON of the run (open it in Perfetto):",
    "                a track per vCPU with guest time, exit handling and device slices",
    "-d path         print the start-up path (qemu_init → kvm_init → KVM_CREATE_VM …",
    "                → KVM_CREATE_VCPU → vmx_vcpu_create) as a tree, with package and file",
    "-d exits        print a perf-kvm-stat summary of the VM exits when the VM ends",
    "-d threads      print `info cpus` (each vCPU and its host thread id) when the VM starts",
    "-trace pattern  also matches the kernel's tracepoints (kvm_entry, kvm_exit, kvm_pio,",
    "                kvm_mmio, kvm_userspace_exit, kvm_cpuid, kvm_msr, kvm_cr, …)",
    "",
    "The exit status is QEMU's: 0 after a shutdown, 1 on errors, (v << 1) | 1 when the",
    "guest writes v to isa-debug-exit.",
  );
  return `${lines.join("\n")}\n`;
}
