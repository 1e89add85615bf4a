import { ENOENT } from "@glassvm/kvm-kernel/uapi";
import {
  MODULE_INIT_QOM,
  moduleCallInit,
  objectNewWithClass,
  objectPropertyGet,
} from "@glassvm/qom";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type KVMAccelState,
  kvmAllowedReset,
  kvmEnabled,
  setKvmInitMachine,
} from "../accel/kvm/kvm-accel.js";
import type { MachineClass, MachineState } from "../hw/core/machine.js";
import "../hw/i386/pc_piix.js";
import { QemuExit, withErrorFatal } from "../qapi/error.js";
import {
  errorInit,
  errorReport,
  errorReportReset,
  setErrorSink,
  setOutputSink,
} from "../util/error-report.js";
import { keyvalParse, objectSetPropertiesFromKeyval } from "../util/keyval.js";
import { qemuOptGet } from "../util/qemu-option.js";
import {
  configureAccelerators,
  findDefaultMachine,
  findMachine,
  machineListText,
  parseMemoryOptions,
  qemuApplyLegacyMachineOptions,
  qemuApplyMachineOptions,
  qemuParseOptions,
  qemuValidateOptions,
  selectMachine,
  type VlOptions,
  vlOptionsNew,
} from "./vl-options.js";

moduleCallInit(MODULE_INIT_QOM);

let stderr = "";
let stdout = "";
beforeEach(() => {
  stderr = "";
  stdout = "";
  errorReportReset();
  errorInit("/usr/bin/glassvm");
  setErrorSink((t) => {
    stderr += t;
  });
  setOutputSink((t) => {
    stdout += t;
  });
  kvmAllowedReset();
  setKvmInitMachine(() => 0);
});
afterEach(() => {
  setErrorSink(null);
  setOutputSink(null);
  setKvmInitMachine(null);
});

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

interface Run {
  status: number | null;
  vl: VlOptions;
  machine: MachineState | null;
}

/** qemu_init up to the accelerator (steps 4–12 of reference §1.1), as vl.c orders them. */
function run(args: string[], opts: { accel?: boolean } = {}): Run {
  const vl = vlOptionsNew();
  let machine: MachineState | null = null;
  try {
    qemuParseOptions(vl, ["/usr/bin/glassvm", ...args]);
    qemuValidateOptions(vl);
    parseMemoryOptions(vl);
    const mc = withErrorFatal(() => selectMachine(vl.machineOptsDict));
    machine = objectNewWithClass<MachineState>(mc);
    if (mc.defaultMachineOpts) {
      const defaults = keyvalParse(mc.defaultMachineOpts, null).dict;
      qemuApplyLegacyMachineOptions(vl, defaults);
      objectSetPropertiesFromKeyval(machine, defaults);
    }
    qemuApplyLegacyMachineOptions(vl, vl.machineOptsDict);
    qemuApplyMachineOptions(machine, vl.machineOptsDict);
    if (opts.accel) configureAccelerators(vl, machine);
    return { status: null, vl, machine };
  } catch (e) {
    if (e instanceof QemuExit) return { status: e.status, vl, machine };
    throw e;
  }
}

/** The run must end with exit(1) and exactly these stderr lines. */
function expectFailure(args: string[], ...lines: string[]): void {
  const r = run(args, { accel: true });
  expect(stderr).toBe(lines.map((l) => `${l}\n`).join(""));
  expect(r.status).toBe(1);
}

function smpOf(args: string[]) {
  const r = run(args);
  expect(stderr).toBe("");
  const s = r.machine!.smp;
  return {
    cpus: s.cpus,
    sockets: s.sockets,
    dies: s.dies,
    modules: s.modules,
    cores: s.cores,
    threads: s.threads,
    maxcpus: s.maxCpus,
  };
}

describe("the argv loop", () => {
  it("collects the seed's command line", () => {
    const cpu =
      "SandyBridge,+erms,+smep,+fsgsbase,+pdpe1gb,+rdrand,+f16c,+osxsave,+dca,+pcid,+pdcm,+xtpr,+tm2," +
      "+est,+smx,+vmx,+ds_cpl,+monitor,+dtes64,+pbe,+tm,+ht,+ss,+acpi,+ds,+vme";
    const vl = vlOptionsNew();
    qemuParseOptions(vl, [
      "glassvm",
      "-machine",
      "pc,accel=kvm",
      "-smp",
      "2",
      "-m",
      "64",
      "-cpu",
      cpu,
    ]);
    expect(JSON.parse(JSON.stringify(vl.machineOptsDict))).toEqual({
      type: "pc",
      accel: "kvm",
      smp: { cpus: "2" },
    });
    expect(vl.cpuOption).toBe(cpu);
    expect(qemuOptGet(vl.lists.memory.head[0]!, "size")).toBe("64");
    parseMemoryOptions(vl);
    expect(JSON.parse(JSON.stringify(vl.machineOptsDict.memory))).toEqual({ size: "64M" });
  });

  it("puts -kernel/-initrd/-append/-bios/-enable-kvm/-nographic into the machine options", () => {
    const vl = vlOptionsNew();
    qemuParseOptions(vl, [
      "glassvm",
      "-kernel",
      "bzImage",
      "-initrd",
      "initrd.img",
      "-append",
      "console=ttyS0",
      "-bios",
      "bios.bin",
      "-enable-kvm",
      "-nographic",
      "-S",
      "-no-reboot",
      "-no-shutdown",
      "-serial",
      "mon:stdio",
      "-debugcon",
      "file:debug.log",
      "-device",
      "isa-debug-exit,iobase=0xf4,iosize=0x04",
      "-device",
      '{"driver":"isa-debugcon","chardev":"c0"}',
      "-chardev",
      "stdio,id=c0",
      "-name",
      "guest1",
      "-trace",
      "kvm_*",
      "-trace",
      "enable=-kvm_run_exit,file=trace.log",
      "-d",
      "guest_errors",
      "-D",
      "qemu.log",
      "disk.img",
    ]);
    expect(JSON.parse(JSON.stringify(vl.machineOptsDict))).toEqual({
      kernel: "bzImage",
      initrd: "initrd.img",
      append: "console=ttyS0",
      firmware: "bios.bin",
      accel: "kvm",
      graphics: "off",
    });
    expect(vl).toMatchObject({
      nographic: true,
      autostart: false,
      noReboot: true,
      noShutdown: true,
      serials: ["mon:stdio"],
      defaultSerial: false,
      defaultMonitor: false,
      debugcons: ["file:debug.log"],
      guestName: "guest1",
      tracePatterns: ["kvm_*", "-kvm_run_exit"],
      traceFile: "trace.log",
      logMask: "guest_errors",
      logFile: "qemu.log",
      drives: ["disk.img"],
    });
    expect(qemuOptGet(vl.lists.device.head[0]!, "driver")).toBe("isa-debug-exit");
    expect(qemuOptGet(vl.lists.device.head[0]!, "iobase")).toBe("0xf4");
    expect(vl.deviceOpts[0]!.opts).toEqual({ driver: "isa-debugcon", chardev: "c0" });
    expect(vl.lists.chardev.head[0]!.id).toBe("c0");
  });

  it("refuses unknown options and missing arguments", () => {
    expectFailure(["-foo"], "glassvm: -foo: invalid option");
    stderr = "";
    expectFailure(["-smp", "2", "-m"], "glassvm: -m: requires an argument");
  });

  it("-display: none (or default) is accepted; other backends are not available", () => {
    expect(run(["-display", "none"]).status).toBeNull();
    expect(stderr).toBe("");
    expectFailure(["-display", "gtk,gl=on"], "glassvm: Display 'gtk' is not available.");
    stderr = "";
    expectFailure(
      ["-display", "vga"],
      "glassvm: -display vga: Parameter 'type' does not accept value 'vga'",
    );
  });

  it("-append and -initrd need -kernel", () => {
    expectFailure(["-append", "quiet"], "glassvm: -append only allowed with -kernel option");
    stderr = "";
    expectFailure(["-initrd", "x"], "glassvm: -initrd only allowed with -kernel option");
  });

  it("-h and -version print and exit 0", () => {
    expect(run(["-version"]).status).toBe(0);
    expect(stdout).toMatch(/^QEMU emulator version 10\.2\.0/);
    stdout = "";
    expect(run(["-h"]).status).toBe(0);
    expect(stdout).toContain("usage: glassvm [options] [disk_image]");
  });

  it("-trace help lists the events", () => {
    expect(run(["-trace", "help"]).status).toBe(0);
    expect(stderr).toBe("");
  });

  it("applies -global", () => {
    const vl = vlOptionsNew();
    qemuParseOptions(vl, ["glassvm", "-global", "isa-debugcon.iobase=0x402"]);
    expect(qemuOptGet(vl.lists.global.head[0]!, "driver")).toBe("isa-debugcon");
    expect(qemuOptGet(vl.lists.global.head[0]!, "value")).toBe("0x402");
    expect(run(["-global", "driver=x"]).status).toBe(1);
    expect(stderr).toBe(
      "glassvm: -global driver=x: options 'driver', 'property', and 'value' are required\n",
    );
  });
});

describe("-machine", () => {
  it("lists the machine types for help", () => {
    expect(run(["-machine", "help"]).status).toBe(0);
    expect(stdout).toBe(machineListText());
    const desc = "Standard PC (i440FX + PIIX, 1996)";
    const lines = stdout.split("\n");
    expect(lines[0]).toBe("Supported machines are:");
    // Within a family the type names sort decreasing, byte by byte (as QEMU's strcmp).
    // %-20s, then a space: 13 characters of name, 8 spaces.
    expect(lines.slice(1, 4)).toEqual([
      `pc-i440fx-9.2${" ".repeat(8)}${desc}`,
      `pc-i440fx-9.1${" ".repeat(8)}${desc}`,
      `pc-i440fx-9.0${" ".repeat(8)}${desc}`,
    ]);
    expect(stdout).toContain(`pc                   ${desc} (alias of pc-i440fx-10.2)\n`);
    expect(stdout).toContain(`pc-i440fx-10.2       ${desc} (default)\n`);
    expect(stdout).toContain(`pc-i440fx-6.0        ${desc}\n`);
    expect(run(["-M", "?"]).status).toBe(0);
  });

  it("lists one machine's properties for -machine pc,help", () => {
    expect(run(["-machine", "pc,help"]).status).toBe(0);
    const lines = stdout.split("\n");
    expect(lines[0]).toBe("pc-i440fx-10.2-machine options:");
    // `  name=<type>` padded to 24 columns, then ` - description`.
    expect(lines).toContain(`  kernel=<string>${" ".repeat(7)} - Linux kernel image file`);
    expect(lines).toContain("  smp=<SMPConfiguration> - CPU topology");
    expect(lines).toContain("  memory=<MemorySizeConfiguration> - Memory size configuration");
    expect(lines).toContain(`  pic=<OnOffAuto>${" ".repeat(7)} - Enable i8259 PIC`);
    expect(lines).toContain(
      "  max-ram-below-4g=<size> - Maximum ram below the 4G boundary (32bit boundary)",
    );
    const sorted = lines.slice(1, -1);
    expect(sorted).toEqual([...sorted].sort());
  });

  it("resolves the alias and the default", () => {
    expect(findMachine("pc")?.name).toBe("pc-i440fx-10.2");
    expect(findMachine("pc-i440fx-7.2")?.name).toBe("pc-i440fx-7.2");
    expect(findMachine("q35")).toBeNull();
    expect(findDefaultMachine()?.name).toBe("pc-i440fx-10.2");
    expect(run(["-machine", "pc"]).machine!.class.type.name).toBe("pc-i440fx-10.2-machine");
    expect(run([]).machine!.class.type.name).toBe("pc-i440fx-10.2-machine");
    // The last -machine type wins.
    expect(run(["-M", "pc", "-M", "pc-i440fx-9.2"]).machine!.class.type.name).toBe(
      "pc-i440fx-9.2-machine",
    );
  });

  it("has the pc class values of the reference", () => {
    const mc = findMachine("pc") as MachineClass;
    expect(mc).toMatchObject({
      name: "pc-i440fx-10.2",
      alias: "pc",
      desc: "Standard PC (i440FX + PIIX, 1996)",
      family: "pc_piix",
      maxCpus: 255,
      minCpus: 1,
      defaultCpus: 1,
      defaultCpuType: "qemu64-x86_64-cpu",
      defaultRamSize: 128 * MiB,
      defaultRamId: "pc.ram",
      defaultMachineOpts: "firmware=glassvm-bios.bin",
      defaultBootOrder: "cad",
      defaultDisplay: "std",
      defaultNic: "e1000",
      hasHotpluggableCpus: true,
      defaultKernelIrqchipSplit: false,
      isDefault: true,
    });
    expect(mc.smpProps).toMatchObject({
      diesSupported: true,
      modulesSupported: true,
      clustersSupported: false,
      booksSupported: false,
      drawersSupported: false,
      preferSockets: false,
    });
    expect(findMachine("pc-i440fx-6.1")!.smpProps.preferSockets).toBe(true);
    expect(findMachine("pc-i440fx-6.2")!.smpProps.preferSockets).toBe(false);
    expect(findMachine("pc-i440fx-9.2")).toMatchObject({ alias: undefined, isDefault: false });
  });

  it("refuses an unknown type with the hint", () => {
    expectFailure(
      ["-machine", "foo"],
      'glassvm: unsupported machine type: "foo"',
      "Use -machine help to list supported machines",
    );
  });

  it("applies the machine options as properties", () => {
    const r = run(["-kernel", "bzImage", "-initrd", "rd", "-append", "quiet", "-nographic"]);
    expect(r.machine).toMatchObject({
      kernelFilename: "bzImage",
      initrdFilename: "rd",
      kernelCmdline: "quiet",
      firmware: "glassvm-bios.bin",
      enableGraphics: false,
      ramSize: 128 * MiB,
    });
    expect(run(["-bios", "my.bin"]).machine!.firmware).toBe("my.bin");
    expect(run(["-machine", "pc,pic=off,smm=on"]).machine).toMatchObject({ pic: 2, smm: 1 });
  });

  it("reports an unknown machine property without location", () => {
    expectFailure(
      ["-machine", "pc,foo=bar"],
      "glassvm: Property 'pc-i440fx-10.2-machine.foo' not found",
    );
    stderr = "";
    expectFailure(
      ["-machine", "graphics=maybe"],
      "glassvm: Parameter 'graphics' expects 'on' or 'off'",
    );
    stderr = "";
    expectFailure(
      ["-machine", "smp=4"],
      "glassvm: Invalid parameter type for 'smp', expected: object",
    );
    stderr = "";
    expectFailure(["-machine", "kernel.a=1"], "glassvm: Parameters 'kernel.*' are unexpected");
  });

  it("reports keyval syntax errors with the option", () => {
    expectFailure(["-machine", "pc,,x"], "glassvm: -machine pc,,x: Invalid parameter ''");
    stderr = "";
    expectFailure(
      ["-machine", "pc,accel"],
      "glassvm: -machine pc,accel: Expected '=' after parameter 'accel'",
    );
  });
});

describe("-smp (machine_parse_smp_config, pc-i440fx-10.2)", () => {
  it("defaults to one CPU", () => {
    expect(smpOf([])).toEqual({
      cpus: 1,
      sockets: 1,
      dies: 1,
      modules: 1,
      cores: 1,
      threads: 1,
      maxcpus: 1,
    });
  });

  it("prefers cores over sockets", () => {
    expect(smpOf(["-smp", "4"])).toMatchObject({
      sockets: 1,
      cores: 4,
      threads: 1,
      cpus: 4,
      maxcpus: 4,
    });
    expect(smpOf(["-smp", "4,sockets=2"])).toMatchObject({ sockets: 2, cores: 2, threads: 1 });
    expect(smpOf(["-smp", "8,sockets=2,threads=2"])).toMatchObject({
      sockets: 2,
      cores: 2,
      threads: 2,
    });
    expect(smpOf(["-smp", "2,maxcpus=4"])).toMatchObject({
      sockets: 1,
      cores: 4,
      threads: 1,
      cpus: 2,
      maxcpus: 4,
    });
    expect(smpOf(["-smp", "8,cores=2"])).toMatchObject({ sockets: 4, cores: 2, threads: 1 });
    expect(smpOf(["-smp", "8,cores=2,sockets=2"])).toMatchObject({
      sockets: 2,
      cores: 2,
      threads: 2,
    });
    expect(smpOf(["-smp", "cpus=6,sockets=2,cores=3"])).toMatchObject({
      sockets: 2,
      cores: 3,
      threads: 1,
    });
    expect(smpOf(["-smp", "4,dies=2"])).toMatchObject({
      sockets: 1,
      dies: 2,
      cores: 2,
      threads: 1,
    });
    expect(smpOf(["-smp", "8,modules=2,dies=2"])).toMatchObject({ dies: 2, modules: 2, cores: 2 });
  });

  it("computes cpus from the topology when both cpus and maxcpus are omitted", () => {
    expect(smpOf(["-smp", "sockets=2,cores=2"])).toMatchObject({ cpus: 4, maxcpus: 4, threads: 1 });
    expect(smpOf(["-smp", "threads=2"])).toMatchObject({ cpus: 2, sockets: 1, cores: 1 });
    expect(smpOf(["-smp", "maxcpus=8,sockets=2"])).toMatchObject({ cpus: 8, cores: 4 });
  });

  it("prefers sockets on 6.1 and older machine types", () => {
    expect(smpOf(["-M", "pc-i440fx-6.1", "-smp", "4"])).toMatchObject({ sockets: 4, cores: 1 });
    expect(smpOf(["-M", "pc-i440fx-6.0", "-smp", "8,cores=2"])).toMatchObject({
      sockets: 4,
      cores: 2,
    });
    expect(smpOf(["-M", "pc-i440fx-6.1", "-smp", "8,sockets=2"])).toMatchObject({
      sockets: 2,
      cores: 4,
    });
    expect(smpOf(["-M", "pc-i440fx-6.2", "-smp", "4"])).toMatchObject({ sockets: 1, cores: 4 });
  });

  it("merges repeated -smp", () => {
    expect(smpOf(["-smp", "4", "-smp", "sockets=2"])).toMatchObject({
      cpus: 4,
      sockets: 2,
      cores: 2,
    });
    expect(smpOf(["-smp", "4", "-machine", "smp.cpus=2"])).toMatchObject({ cpus: 2 });
  });

  it("refuses zero", () => {
    for (const arg of ["0", "4,sockets=0", "4,maxcpus=0", "4,dies=0", "4,threads=0"]) {
      stderr = "";
      expectFailure(
        ["-smp", arg],
        "glassvm: Invalid CPU topology: CPU topology parameters must be greater than zero",
      );
    }
  });

  it("refuses levels pc does not have", () => {
    expectFailure(
      ["-smp", "4,clusters=2"],
      "glassvm: clusters > 1 not supported by this machine's CPU topology",
    );
    stderr = "";
    expectFailure(
      ["-smp", "4,books=2"],
      "glassvm: books > 1 not supported by this machine's CPU topology",
    );
    stderr = "";
    expectFailure(
      ["-smp", "4,drawers=2"],
      "glassvm: drawers > 1 not supported by this machine's CPU topology",
    );
    // Given as 1, they are fine.
    stderr = "";
    expect(smpOf(["-smp", "4,clusters=1,books=1,drawers=1"])).toMatchObject({ cores: 4 });
  });

  it("refuses a topology whose product is not maxcpus", () => {
    expectFailure(
      ["-smp", "4,sockets=3"],
      "glassvm: Invalid CPU topology: product of the hierarchy must match maxcpus: " +
        "sockets (3) * dies (1) * modules (1) * cores (1) * threads (1) != maxcpus (4)",
    );
    stderr = "";
    expectFailure(
      ["-smp", "4,sockets=2,cores=2,threads=2"],
      "glassvm: Invalid CPU topology: product of the hierarchy must match maxcpus: " +
        "sockets (2) * dies (1) * modules (1) * cores (2) * threads (2) != maxcpus (4)",
    );
    stderr = "";
    expectFailure(
      ["-smp", "5,sockets=2"],
      "glassvm: Invalid CPU topology: product of the hierarchy must match maxcpus: " +
        "sockets (2) * dies (1) * modules (1) * cores (2) * threads (1) != maxcpus (5)",
    );
  });

  it("refuses maxcpus below cpus", () => {
    expectFailure(
      ["-smp", "4,maxcpus=2"],
      "glassvm: Invalid CPU topology: maxcpus must be equal to or greater than smp: " +
        "sockets (1) * dies (1) * modules (1) * cores (2) * threads (1) == maxcpus (2) < smp_cpus (4)",
    );
  });

  it("refuses more CPUs than the machine has", () => {
    expectFailure(
      ["-smp", "300"],
      "glassvm: Invalid SMP CPUs 300. The max CPUs supported by machine 'pc-i440fx-10.2' is 255",
    );
    stderr = "";
    expectFailure(
      ["-M", "pc-i440fx-7.2", "-smp", "2,maxcpus=256"],
      "glassvm: Invalid SMP CPUs 256. The max CPUs supported by machine 'pc-i440fx-7.2' is 255",
    );
    stderr = "";
    expect(smpOf(["-smp", "255"])).toMatchObject({ cpus: 255 });
  });

  it("reports values that are not integers", () => {
    expectFailure(["-smp", "foo"], "glassvm: Parameter 'smp.cpus' expects integer");
    stderr = "";
    expectFailure(["-smp", "4,sockets=two"], "glassvm: Parameter 'smp.sockets' expects integer");
    stderr = "";
    expectFailure(["-smp", "4,foo=2"], "glassvm: Parameter 'smp.foo' is unexpected");
    stderr = "";
    expectFailure(["-smp", "4,8"], "glassvm: -smp 4,8: Invalid parameter '8'");
  });

  it("prints the keys for -smp help", () => {
    expect(run(["-smp", "help"]).status).toBe(0);
    expect(stdout).toBe(
      "smp-opts options:\n" +
        [
          "books",
          "clusters",
          "cores",
          "cpus",
          "dies",
          "drawers",
          "maxcpus",
          "modules",
          "sockets",
          "threads",
        ]
          .map((k) => `  ${k}=<num>\n`)
          .join(""),
    );
  });

  it("reads the topology back through the smp property", () => {
    const r = run(["-smp", "4,sockets=2", "-m", "1G,maxmem=2G,slots=1"]);
    expect(objectPropertyGet(r.machine!, "smp")).toEqual({
      cpus: 4,
      drawers: 1,
      books: 1,
      sockets: 2,
      dies: 1,
      clusters: 1,
      modules: 1,
      cores: 2,
      threads: 1,
      maxcpus: 4,
    });
    expect(objectPropertyGet(r.machine!, "memory")).toEqual({
      size: GiB,
      "max-size": 2 * GiB,
      slots: 1,
    });
  });
});

describe("-m", () => {
  const ramOf = (args: string[]) => {
    const r = run(args);
    expect(stderr).toBe("");
    return r.machine!;
  };

  it("takes MiB without suffix and the suffixes", () => {
    expect(ramOf([]).ramSize).toBe(128 * MiB);
    expect(ramOf(["-m", "64"]).ramSize).toBe(64 * MiB);
    expect(ramOf(["-m", "512"]).ramSize).toBe(512 * MiB);
    expect(ramOf(["-m", "1G"]).ramSize).toBe(GiB);
    expect(ramOf(["-m", "1g"]).ramSize).toBe(GiB);
    expect(ramOf(["-m", "4G"]).ramSize).toBe(4 * GiB);
    expect(ramOf(["-m", "1.5G"]).ramSize).toBe(1.5 * GiB);
    expect(ramOf(["-m", "2048M"]).ramSize).toBe(2 * GiB);
    expect(ramOf(["-m", "size=256"]).ramSize).toBe(256 * MiB);
    expect(ramOf(["-m", "65536k"]).ramSize).toBe(64 * MiB);
    expect(ramOf(["-m", "1T"]).ramSize).toBe(1024 * GiB);
  });

  it("aligns up to 8 KiB and keeps the default for 0", () => {
    expect(ramOf(["-m", "100k"]).ramSize).toBe(104 * 1024);
    expect(ramOf(["-m", "0"]).ramSize).toBe(128 * MiB);
    expect(ramOf(["-m", "1", "-m", "2"]).ramSize).toBe(2 * MiB);
  });

  it("takes maxmem and slots", () => {
    const m = ramOf(["-m", "1G,slots=2,maxmem=4G"]);
    expect(m).toMatchObject({ ramSize: GiB, maxramSize: 4 * GiB, ramSlots: 2 });
    expect(ramOf(["-m", "1G,maxmem=2G"])).toMatchObject({ maxramSize: 2 * GiB, ramSlots: 0 });
    expect(ramOf(["-m", "1G"]).maxramSize).toBe(GiB);
  });

  it("refuses what is not a size, with the hint lines", () => {
    const hint = [
      "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-",
      "and exabytes, respectively.",
    ];
    expectFailure(
      ["-m", "foo"],
      "glassvm: -m foo: Parameter 'size' expects a non-negative number below 2^64",
      ...hint,
    );
    stderr = "";
    expectFailure(
      ["-m", "1.5"],
      "glassvm: -m 1.5: Parameter 'size' expects a non-negative number below 2^64",
      ...hint,
    );
    stderr = "";
    expectFailure(["-m", "-1"], "glassvm: -m -1: Value '-1' is out of range for parameter 'size'");
    stderr = "";
    expectFailure(
      ["-m", "16E"],
      "glassvm: -m 16E: Value '16E' is out of range for parameter 'size'",
    );
    stderr = "";
    expectFailure(
      ["-m", "1G,slots=x"],
      "glassvm: -m 1G,slots=x: Parameter 'slots' expects a number",
    );
    stderr = "";
    expectFailure(["-m", "1G,foo=1"], "glassvm: -m 1G,foo=1: Invalid parameter 'foo'");
    stderr = "";
    // QEMU exits 1 after printing the keys of -m.
    expect(run(["-m", "1G,help"]).status).toBe(1);
    expect(stderr).toBe("");
    expect(stdout).toBe("memory options:\n  maxmem=<size>\n  size=<size>\n  slots=<num>\n");
  });

  it("refuses a hex size: parse_memory_options appends M and hex takes no suffix (10.2)", () => {
    expectFailure(["-m", "0x100"], "glassvm: Parameter 'memory.size' expects size");
  });

  it("checks maxmem and slots against the size", () => {
    expectFailure(
      ["-m", "1G,maxmem=512M"],
      "glassvm: invalid value of maxmem: maximum memory size (0x20000000) must be at least " +
        "the initial memory size (0x40000000)",
    );
    stderr = "";
    expectFailure(
      ["-m", "1G,maxmem=1G,slots=2"],
      "glassvm: invalid value of maxmem: memory slots were specified but maximum memory size " +
        "(0x40000000) is equal to the initial memory size (0x40000000)",
    );
    stderr = "";
    expectFailure(["-m", "1G,slots=2"], "glassvm: slots specified but no max-size");
  });
});

describe("accelerators (configure_accelerators)", () => {
  const kvmFails = () =>
    setKvmInitMachine(() => {
      errorReport("Could not access KVM kernel module: No such file or directory");
      return -ENOENT;
    });

  it("selects KVM by default, and for -machine accel=kvm, -accel kvm, -enable-kvm", () => {
    for (const args of [[], ["-machine", "pc,accel=kvm"], ["-accel", "kvm"], ["-enable-kvm"]]) {
      kvmAllowedReset();
      const r = run(args, { accel: true });
      expect(stderr).toBe("");
      expect(r.status).toBeNull();
      expect(r.machine!.accelerator!.class.type.name).toBe("kvm-accel");
      expect(kvmEnabled()).toBe(true);
    }
  });

  it("sets the accelerator's properties from -accel", () => {
    const r = run(["-accel", "kvm,kernel-irqchip=split,kvm-shadow-mem=1048576,thread=multi"], {
      accel: true,
    });
    expect(stderr).toBe("");
    expect(r.machine!.accelerator).toMatchObject({
      kernelIrqchipAllowed: true,
      kernelIrqchipRequired: true,
      kernelIrqchipSplit: 1,
      kvmShadowMem: 1048576n,
      thread: "multi",
    } satisfies Partial<KVMAccelState>);
  });

  it("reports bad accelerator properties with the -accel location", () => {
    expectFailure(
      ["-accel", "kvm,kernel-irqchip=foo"],
      "glassvm: -accel kvm,kernel-irqchip=foo: Parameter 'kernel-irqchip' does not accept value 'foo'",
    );
    stderr = "";
    expectFailure(
      ["-accel", "kvm,foo=1"],
      "glassvm: -accel kvm,foo=1: Property 'kvm-accel.foo' not found",
    );
    stderr = "";
    expectFailure(
      ["-accel", "kvm,thread=many"],
      "glassvm: -accel kvm,thread=many: Invalid 'thread' setting many",
    );
  });

  it("lists the accelerators for -accel help", () => {
    expect(run(["-accel", "help"]).status).toBe(0);
    expect(stdout).toBe("Accelerators supported in QEMU binary:\nkvm\n");
  });

  it("refuses unknown accelerators", () => {
    expectFailure(["-accel", "foo"], "glassvm: -accel foo: invalid accelerator foo");
    stderr = "";
    expectFailure(["-machine", "pc,accel=foo"], "glassvm: invalid accelerator foo");
  });

  it("explains that TCG is not part of glassvm", () => {
    expectFailure(
      ["-accel", "tcg"],
      "glassvm: -accel tcg: tcg accelerator is not implemented in glassvm",
    );
    stderr = "";
    expectFailure(
      ["-machine", "accel=tcg"],
      "glassvm: tcg accelerator is not implemented in glassvm",
    );
  });

  it("falls back along the -machine accel= list", () => {
    const r = run(["-machine", "pc,accel=tcg:kvm"], { accel: true });
    expect(stderr).toBe(
      "glassvm: tcg accelerator is not implemented in glassvm\nglassvm: falling back to KVM\n",
    );
    expect(r.status).toBeNull();
  });

  it("reports a KVM that cannot start (reference §2, run 7.2 / 10.2 form)", () => {
    kvmFails();
    expectFailure(
      ["-accel", "kvm"],
      "glassvm: -accel kvm: Could not access KVM kernel module: No such file or directory",
      "glassvm: -accel kvm: failed to initialize kvm: No such file or directory",
    );
    expect(kvmEnabled()).toBe(false);
    stderr = "";
    expectFailure(
      ["-machine", "pc,accel=kvm"],
      "glassvm: Could not access KVM kernel module: No such file or directory",
      "glassvm: failed to initialize kvm: No such file or directory",
    );
    stderr = "";
    expectFailure(
      ["-machine", "pc,accel=kvm:tcg"],
      "glassvm: tcg accelerator is not implemented in glassvm",
      "glassvm: Could not access KVM kernel module: No such file or directory",
      "glassvm: failed to initialize kvm: No such file or directory",
    );
  });

  it("tries each -accel in order until one starts", () => {
    let calls = 0;
    setKvmInitMachine(() => (calls++ === 0 ? -ENOENT : 0));
    const r = run(["-accel", "kvm", "-accel", "kvm,thread=multi"], { accel: true });
    expect(stderr).toBe(
      "glassvm: -accel kvm: failed to initialize kvm: No such file or directory\n" +
        "glassvm: falling back to KVM\n",
    );
    expect((r.machine!.accelerator as KVMAccelState).thread).toBe("multi");
  });

  it("refuses -accel together with -machine accel=", () => {
    expectFailure(
      ["-accel", "kvm", "-machine", "accel=kvm"],
      'glassvm: The -accel and "-machine accel=" options are incompatible',
    );
  });

  it("says when init_machine is not wired", () => {
    setKvmInitMachine(null);
    expectFailure(
      ["-accel", "kvm"],
      "glassvm: -accel kvm: kvm: init_machine is not wired (qemu_init calls setKvmInitMachine first)",
      "glassvm: -accel kvm: failed to initialize kvm: Function not implemented",
    );
  });

  it("turns -machine kernel-irqchip= into a kvm-accel global (run last: it stays registered)", () => {
    const r = run(["-machine", "pc,kernel_irqchip=off"], { accel: true });
    expect(stderr).toBe("");
    expect(r.machine!.accelerator).toMatchObject({ kernelIrqchipAllowed: false });
    const mc = findMachine("pc")!;
    expect(objectNewWithClass<MachineState>(mc).accelerator).toBeNull();
  });
});
