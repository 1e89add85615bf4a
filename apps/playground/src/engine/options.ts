/**
 * What the page asks the emulator to run: a guest from the repo's suite (guests/README.md)
 * or a file from disk, the CPU model, -smp, the backend and the vCPU threading (thread=single
 * or thread=multi) — and the `glassvm` command line that runs the same thing in a terminal.
 * The options round-trip through the URL's query.
 */

/** A guest of guests/bin, with the options its README row gives it. */
export interface GuestInfo {
  readonly id: string;
  readonly file: string;
  /** How the image is loaded: firmware (`-bios`) or a multiboot kernel (`-kernel`). */
  readonly load: "bios" | "kernel";
  /** Where it prints: port 0xE9 (`-debugcon stdio`) or COM1 (`-nographic`). */
  readonly console: "debugcon" | "serial";
  /** Extra options (after the image), e.g. `-append`. */
  readonly extra?: readonly string[];
  readonly about: string;
}

export const GUESTS: readonly GuestInfo[] = [
  {
    id: "hello-real",
    file: "hello-real.bin",
    load: "bios",
    console: "debugcon",
    about: "real mode from reset, kvm-hello-world's body",
  },
  {
    id: "hello-protected",
    file: "hello-protected.bin",
    load: "bios",
    console: "debugcon",
    about: "flat 32-bit protected mode",
  },
  {
    id: "hello-paged",
    file: "hello-paged.bin",
    load: "bios",
    console: "debugcon",
    about: "32-bit paging, tables in RAM",
  },
  {
    id: "hello-long",
    file: "hello-long.bin",
    load: "bios",
    console: "debugcon",
    about: "IA-32e mode, 64-bit code segment",
  },
  {
    id: "multiboot-hello",
    file: "multiboot-hello.elf",
    load: "kernel",
    console: "serial",
    extra: ["-append", "console=ttyS0"],
    about: "multiboot v1 hand-over",
  },
  {
    id: "bios-hello",
    file: "bios-hello.bin",
    load: "bios",
    console: "serial",
    about: "reset vector → protected mode → UART",
  },
  {
    id: "cpu-bench",
    file: "cpu-bench.bin",
    load: "bios",
    console: "serial",
    about: "integer throughput (16 000 916 instructions)",
  },
  {
    id: "io-bench",
    file: "io-bench.bin",
    load: "bios",
    console: "serial",
    about: "10 000 port-I/O exits",
  },
  {
    id: "faults",
    file: "faults.bin",
    load: "bios",
    console: "serial",
    about: "faults, unassigned I/O and memory, reset",
  },
  {
    id: "timer",
    file: "timer.bin",
    load: "bios",
    console: "serial",
    about: "PIC + PIT interrupts",
  },
  {
    id: "smp",
    file: "smp.bin",
    load: "bios",
    console: "serial",
    about: "INIT-SIPI-SIPI to every AP, then LOCK XADD/CMPXCHG counters on all CPUs (try -smp 2)",
  },
  {
    id: "smp-bench",
    file: "smp-bench.bin",
    load: "bios",
    console: "serial",
    about: "a fixed amount of integer work split among the CPUs (201.6 M instructions in all)",
  },
  {
    id: "apic-timer",
    file: "apic-timer.bin",
    load: "bios",
    console: "serial",
    about: "the local APIC timer: one-shot, periodic, TSC-deadline",
  },
];

/** The CPU models offered (qemu-machine's BUILTIN_X86_DEFS, by name). */
export const CPU_MODELS = [
  "qemu64",
  "kvm64",
  "Conroe",
  "Penryn",
  "Nehalem",
  "Westmere",
  "SandyBridge",
  "IvyBridge",
  "Haswell",
  "Skylake-Client",
  "EPYC",
] as const;

export type Backend = "vmx" | "svm";

/**
 * How the vCPUs run (`-accel kvm,thread=…`): round-robin in the emulator's one worker
 * (`single`, QEMU's default for KVM here), or each in a Web Worker of its own (`multi`),
 * which needs SharedArrayBuffer — a cross-origin isolated page.
 */
export type Threads = "single" | "multi";

export interface PlaygroundOptions {
  /** A GUESTS id, or "file" for an image loaded from disk. */
  readonly guest: string;
  readonly cpu: string;
  readonly smp: number;
  readonly backend: Backend;
  readonly threads: Threads;
  /** For guest "file": its name, how to load it and where it prints. */
  readonly fileName?: string;
  readonly fileLoad?: "bios" | "kernel";
  readonly fileConsole?: "debugcon" | "serial";
  /**
   * Fault injection, as a debugger could before the first KVM_RUN: TR holds an available
   * (type 9) TSS, which VM entry on VT-x refuses (SDM 27.3.1.2) — and AMD-V's VMRUN does not
   * check. No command-line equivalent.
   */
  readonly faultTr?: boolean;
}

export const DEFAULT_OPTIONS: PlaygroundOptions = {
  guest: "hello-real",
  cpu: "qemu64",
  smp: 1,
  backend: "vmx",
  threads: "single",
};

export const EXIT_DEVICE = ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"] as const;

export function guestInfo(o: PlaygroundOptions): GuestInfo {
  if (o.guest === "file") {
    const load = o.fileLoad ?? "bios";
    return {
      id: "file",
      file: o.fileName ?? "guest.bin",
      load,
      console: o.fileConsole ?? (load === "kernel" ? "serial" : "debugcon"),
      about: "loaded from disk",
    };
  }
  return GUESTS.find((g) => g.id === o.guest) ?? GUESTS[0]!;
}

/**
 * qemu-system-x86_64's arguments (argv[0] excluded) for the options: the README's common
 * prefix, the guest's own options, and both consoles' stdio where the guest prints. With
 * thread=multi the accelerator is an `-accel` of its own (QEMU refuses `-accel` beside
 * `-machine accel=`).
 */
export function qemuArgs(o: PlaygroundOptions): string[] {
  const g = guestInfo(o);
  const args =
    o.threads === "multi"
      ? ["-machine", "pc", "-accel", "kvm,thread=multi"]
      : ["-machine", "pc,accel=kvm"];
  args.push("-m", "64", "-cpu", o.cpu);
  if (o.smp !== 1) args.push("-smp", String(o.smp));
  args.push(...EXIT_DEVICE);
  if (g.load === "kernel") args.push("-kernel", g.file);
  else args.push("-bios", g.file);
  if (g.extra) args.push(...g.extra);
  if (g.console === "debugcon") args.push("-debugcon", "stdio");
  else args.push("-nographic");
  return args;
}

/** Quote an argument for a POSIX shell when it needs it. */
function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`;
}

/** The terminal command that runs the same VM: `npm run glassvm -- …` from the repo root. */
export function commandLine(o: PlaygroundOptions): string {
  const args = ["-host-cpu", o.backend === "svm" ? "amd" : "intel", ...qemuArgs(o)];
  const g = guestInfo(o);
  const withPath = args.map((a) => (a === g.file && o.guest !== "file" ? `guests/bin/${a}` : a));
  return `npm run glassvm -- ${withPath.map(shellQuote).join(" ")}`;
}

/**
 * The options this page can run: thread=multi needs SharedArrayBuffer (a cross-origin
 * isolated page); elsewhere the vCPUs run with thread=single.
 */
export function supportedOptions(o: PlaygroundOptions, isolated: boolean): PlaygroundOptions {
  return o.threads === "multi" && !isolated ? { ...o, threads: "single" } : o;
}

/**
 * Options from a URL query (`?guest=hello-long&backend=svm&cpu=Haswell&smp=2&threads=multi`).
 */
export function optionsFromQuery(search: string): PlaygroundOptions {
  const q = new URLSearchParams(search);
  const guest = q.get("guest");
  const cpu = q.get("cpu");
  const smp = Number(q.get("smp"));
  const backend = q.get("backend");
  const threads = q.get("threads");
  return {
    guest: guest && GUESTS.some((g) => g.id === guest) ? guest : DEFAULT_OPTIONS.guest,
    cpu: cpu && (CPU_MODELS as readonly string[]).includes(cpu) ? cpu : DEFAULT_OPTIONS.cpu,
    smp: Number.isInteger(smp) && smp >= 1 && smp <= 4 ? smp : DEFAULT_OPTIONS.smp,
    backend: backend === "svm" ? "svm" : "vmx",
    threads: threads === "multi" ? "multi" : "single",
  };
}

/** The query for options (a file from disk is not shareable: the guest falls back). */
export function optionsToQuery(o: PlaygroundOptions): string {
  const q = new URLSearchParams();
  q.set("guest", o.guest === "file" ? DEFAULT_OPTIONS.guest : o.guest);
  q.set("backend", o.backend);
  q.set("cpu", o.cpu);
  if (o.smp !== 1) q.set("smp", String(o.smp));
  if (o.threads === "multi") q.set("threads", "multi");
  return `?${q.toString()}`;
}
