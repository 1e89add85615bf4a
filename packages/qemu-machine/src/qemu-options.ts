/**
 * qemu-options.hx / qemu-options.def and vl.c's `lookup_opt` — the command-line options
 * glassvm knows, and how one `-option [argument]` is taken off argv.
 *
 * Each row is QEMU's `DEF(name, flags, index, …)`: the option's name without the dash,
 * whether it takes an argument (HAS_ARG), the QEMU_OPTION_* index the argv loop switches
 * on (`-M` and `-machine` are two options with the same handling; `-h` and `-help` share
 * an index), and its synopsis for `-help`. `--opt` is accepted for `-opt`.
 *
 * Errors (reported with the option as location, then exit 1):
 *   glassvm: -foo: invalid option
 *   glassvm: -m: requires an argument
 */
import { QemuExit } from "./qapi/error.js";
import { errorReport, locSetCmdline, qemuPrintf } from "./util/error-report.js";

/** `QEMU_OPTION_*`: what the argv loop does with an option. */
export type QemuOptionIndex =
  | "h"
  | "version"
  | "machine"
  | "M"
  | "accel"
  | "enable_kvm"
  | "cpu"
  | "smp"
  | "m"
  | "kernel"
  | "initrd"
  | "append"
  | "bios"
  | "device"
  | "chardev"
  | "serial"
  | "debugcon"
  | "global"
  | "nographic"
  | "display"
  | "no_reboot"
  | "no_shutdown"
  | "name"
  | "trace"
  | "d"
  | "D"
  | "S";

/** `QEMUOption`. */
export interface QemuOption {
  /** Without the leading dash. */
  readonly name: string;
  /** HAS_ARG: the next argv word is the option's argument. */
  readonly hasArg: boolean;
  readonly index: QemuOptionIndex;
  /** The `-help` line(s), as `-name argument   description`. */
  readonly help: string;
}

/** The option table, in qemu-options.hx order (standard, block, display, kernel, debug). */
export const qemuOptions: readonly QemuOption[] = [
  { name: "h", hasArg: false, index: "h", help: "-h or -help     display this help and exit" },
  { name: "help", hasArg: false, index: "h", help: "" },
  {
    name: "version",
    hasArg: false,
    index: "version",
    help: "-version        display version information and exit",
  },
  {
    name: "machine",
    hasArg: true,
    index: "machine",
    help:
      "-machine [type=]name[,prop[=value][,...]]\n" +
      "                selects emulated machine ('-machine help' for list)\n" +
      "                property accel=accel1[:accel2[:...]] selects accelerator\n" +
      "                supported accelerators are kvm (tcg is not part of glassvm)",
  },
  { name: "M", hasArg: true, index: "M", help: "" },
  {
    name: "cpu",
    hasArg: true,
    index: "cpu",
    help: "-cpu cpu        select CPU ('-cpu help' for list)",
  },
  {
    name: "accel",
    hasArg: true,
    index: "accel",
    help:
      "-accel [accel=]accelerator[,prop[=value][,...]]\n" +
      "                select accelerator (kvm; '-accel help' for list)\n" +
      "                kernel-irqchip=on|off|split controls accelerated irqchip support (default=on)\n" +
      "                kvm-shadow-mem=size of KVM shadow MMU in bytes\n" +
      "                thread=single|multi (glassvm: vCPUs on one thread or one worker each)",
  },
  {
    name: "smp",
    hasArg: true,
    index: "smp",
    help:
      "-smp [[cpus=]n][,maxcpus=maxcpus][,sockets=sockets][,dies=dies][,modules=modules]\n" +
      "               [,cores=cores][,threads=threads]\n" +
      "                set the number of initial CPUs to 'n' [default=1]\n" +
      "                maxcpus= maximum number of total CPUs, including\n" +
      "                offline CPUs for hotplug, etc\n" +
      "                sockets= number of sockets on the machine board\n" +
      "                dies= number of dies in one socket\n" +
      "                modules= number of modules in one die\n" +
      "                cores= number of cores in one module\n" +
      "                threads= number of threads in one core",
  },
  {
    name: "m",
    hasArg: true,
    index: "m",
    help:
      "-m [size=]megs[,slots=n,maxmem=size]\n" +
      "                configure guest RAM\n" +
      "                size: initial amount of guest memory\n" +
      "                slots: number of hotplug slots (default: none)\n" +
      "                maxmem: maximum amount of guest memory (default: none)\n" +
      "                Note: Some architectures might enforce a specific granularity",
  },
  {
    name: "device",
    hasArg: true,
    index: "device",
    help:
      "-device driver[,prop[=value][,...]]\n" +
      "                add device (based on driver)\n" +
      "                prop=value,... sets driver properties\n" +
      "                use '-device help' to print all possible drivers\n" +
      "                use '-device driver,help' to print all possible properties",
  },
  {
    name: "global",
    hasArg: true,
    index: "global",
    help:
      "-global driver.property=value\n" +
      "-global driver=driver,property=property,value=value\n" +
      "                set a global default for a driver property",
  },
  {
    name: "name",
    hasArg: true,
    index: "name",
    help:
      "-name string1[,process=string2][,debug-threads=on|off]\n" +
      "                set the name of the guest\n" +
      "                string1 sets the window title and string2 the process name",
  },
  {
    name: "bios",
    hasArg: true,
    index: "bios",
    help: "-bios file      set the filename for the BIOS",
  },
  {
    name: "display",
    hasArg: true,
    index: "display",
    help: "-display none   select display backend type (glassvm has only 'none')",
  },
  {
    name: "nographic",
    hasArg: false,
    index: "nographic",
    help: "-nographic      disable graphical output and redirect serial I/Os to console",
  },
  {
    name: "kernel",
    hasArg: true,
    index: "kernel",
    help: "-kernel bzImage use 'bzImage' as kernel image",
  },
  {
    name: "append",
    hasArg: true,
    index: "append",
    help: "-append cmdline use 'cmdline' as kernel command line",
  },
  {
    name: "initrd",
    hasArg: true,
    index: "initrd",
    help: "-initrd file    use 'file' as initial ram disk",
  },
  {
    name: "chardev",
    hasArg: true,
    index: "chardev",
    help:
      "-chardev backend,id=id[,mux=on|off][,...]\n" +
      "                create a character device (backends: null, stdio, file, …)",
  },
  {
    name: "serial",
    hasArg: true,
    index: "serial",
    help: "-serial dev     redirect the serial port to char device 'dev'",
  },
  {
    name: "debugcon",
    hasArg: true,
    index: "debugcon",
    help: "-debugcon dev   redirect the debug console to char device 'dev'",
  },
  {
    name: "S",
    hasArg: false,
    index: "S",
    help: "-S              freeze CPU at startup (use 'c' to start execution)",
  },
  {
    name: "d",
    hasArg: true,
    index: "d",
    help: "-d item1,...    enable logging of specified items (use '-d help' for a list of log items)",
  },
  {
    name: "D",
    hasArg: true,
    index: "D",
    help: "-D logfile      output log to logfile (default stderr)",
  },
  {
    name: "enable-kvm",
    hasArg: false,
    index: "enable_kvm",
    help: "-enable-kvm     enable KVM full virtualization support",
  },
  {
    name: "no-reboot",
    hasArg: false,
    index: "no_reboot",
    help: "-no-reboot      exit instead of rebooting",
  },
  {
    name: "no-shutdown",
    hasArg: false,
    index: "no_shutdown",
    help: "-no-shutdown    stop before shutdown",
  },
  {
    name: "trace",
    hasArg: true,
    index: "trace",
    help:
      "-trace [[enable=]<pattern>][,events=<file>][,file=<file>]\n" +
      "                specify tracing options",
  },
];

const byName: ReadonlyMap<string, QemuOption> = new Map(qemuOptions.map((o) => [o.name, o]));

/** The option named `name` (no dash), or undefined. */
export function qemuOptionFind(name: string): QemuOption | undefined {
  return byName.get(name);
}

/** One option taken off argv by {@link lookupOpt}. */
export interface LookedUpOption {
  readonly option: QemuOption;
  /** The argument (HAS_ARG options), else null. */
  readonly optarg: string | null;
  /** Index of the next argv word to look at. */
  readonly optind: number;
}

/**
 * `lookup_opt(argc, argv, &optarg, &optind)`: the option at argv[optind] (which starts
 * with `-`). Sets the report location to the option (and its argument, once read); an
 * unknown option or a missing argument is reported and ends the process (QemuExit 1).
 */
export function lookupOpt(argv: readonly string[], optind: number): LookedUpOption {
  const r = argv[optind]!;
  locSetCmdline(argv, optind, 1);
  optind++;
  const name = r.startsWith("--") ? r.slice(2) : r.slice(1);
  const option = byName.get(name);
  if (!option) {
    errorReport("invalid option");
    throw new QemuExit(1);
  }
  let optarg: string | null = null;
  if (option.hasArg) {
    if (optind >= argv.length) {
      errorReport("requires an argument");
      throw new QemuExit(1);
    }
    optarg = argv[optind++]!;
    locSetCmdline(argv, optind - 2, 2);
  }
  return { option, optarg, optind };
}

/** The QEMU release glassvm models (its option grammar, messages and machine types). */
export const QEMU_VERSION = "10.2.0";

/** `version()` (`-version`): QEMU's version line with glassvm as the package version. */
export function qemuVersionText(): string {
  return (
    `QEMU emulator version ${QEMU_VERSION} (glassvm)\n` +
    "glassvm models QEMU; QEMU is Copyright (c) 2003-2025 Fabrice Bellard and the QEMU Project developers\n"
  );
}

/** `help()` (`-h`, `-help`): usage line and the synopsis of every option. */
export function qemuHelpText(progname: string): string {
  const lines = [
    `QEMU emulator version ${QEMU_VERSION} (glassvm)`,
    `usage: ${progname} [options] [disk_image]`,
    "",
    "'disk_image' is a raw hard disk image for IDE hard disk 0",
    "",
  ];
  for (const o of qemuOptions) if (o.help) lines.push(o.help);
  return `${lines.join("\n")}\n`;
}

/** Print help and exit 0, as `-h` does. */
export function qemuHelp(progname: string): never {
  qemuPrintf(qemuHelpText(progname));
  throw new QemuExit(0);
}
