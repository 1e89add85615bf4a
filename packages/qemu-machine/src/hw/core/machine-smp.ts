/**
 * hw/core/machine-smp.c — `-smp`: from what the user gave to the machine's CPU topology.
 *
 * Omitted counts are computed from the given ones. Levels the machine does not support
 * (pc: clusters, books, drawers) must be 1 if given and count 1. Since the 6.2 machine
 * types cores are preferred over sockets when both are left out (`-smp 4` is one socket
 * of four cores); older types (`smp_props.prefer_sockets`) prefer sockets. threads is
 * computed last. With neither cpus nor maxcpus, missing counts are 1 and cpus = maxcpus
 * = the product; with one of them the other copies it.
 *
 *   -smp 4              → 1 socket × 4 cores × 1 thread, 4 CPUs
 *   -smp 4,sockets=2    → 2 × 2 × 1
 *   -smp 2,maxcpus=4    → 1 × 4 × 1, 2 present
 *   -smp 4,sockets=3    → Invalid CPU topology: product of the hierarchy must match
 *                         maxcpus: sockets (3) * dies (1) * modules (1) * cores (1) *
 *                         threads (1) != maxcpus (4)
 *
 * Counts are C `unsigned` (32-bit, wrapping), as QEMU stores them.
 */
import { QemuError } from "../../qapi/error.js";
import type { MachineClass, MachineState, SMPConfiguration } from "./machine.js";

/** C's `(unsigned)` of an int64 value. */
function u32(v: number | bigint): number {
  return Number(BigInt.asUintN(32, BigInt(v)));
}

/** `%d` of an unsigned value. */
function asInt(v: number): number {
  return v | 0;
}

/** Unsigned 32-bit product. */
function mul(...factors: number[]): number {
  let p = 1n;
  for (const f of factors) p = BigInt.asUintN(32, p * BigInt(f));
  return Number(p);
}

/**
 * Unsigned 32-bit division. A product that wrapped to 0 would trap in C (SIGFPE); the
 * model gives 0 instead, which then fails the product check.
 */
function div(a: number, b: number): number {
  return b === 0 ? 0 : Math.floor(a / b);
}

/**
 * `cpu_hierarchy_to_string`: the levels the machine supports, largest first, as
 * `sockets (2) * dies (1) * modules (1) * cores (2) * threads (1)`.
 */
export function cpuHierarchyToString(ms: MachineState): string {
  const mc = ms.class as MachineClass;
  const p = mc.smpProps;
  let s = "";
  if (p.drawersSupported) s += `drawers (${ms.smp.drawers}) * `;
  if (p.booksSupported) s += `books (${ms.smp.books}) * `;
  s += `sockets (${ms.smp.sockets})`;
  if (p.diesSupported) s += ` * dies (${ms.smp.dies})`;
  if (p.clustersSupported) s += ` * clusters (${ms.smp.clusters})`;
  if (p.modulesSupported) s += ` * modules (${ms.smp.modules})`;
  s += ` * cores (${ms.smp.cores})`;
  s += ` * threads (${ms.smp.threads})`;
  return s;
}

function smpError(message: string): QemuError {
  return new QemuError("machine", message, { operation: "machine_parse_smp_config" });
}

/**
 * `machine_parse_smp_config(ms, config, errp)`: validate `config` against the machine
 * class, compute the omitted counts and store the topology in `ms.smp`. Throws a
 * QemuError with QEMU's message; the topology is stored before the final checks, as in
 * QEMU.
 */
export function machineParseSmpConfig(ms: MachineState, config: SMPConfiguration): void {
  const mc = ms.class as MachineClass;
  const given = (v: number | bigint | undefined) => v !== undefined;
  const value = (v: number | bigint | undefined) => (v === undefined ? 0 : u32(v));
  let cpus = value(config.cpus);
  let drawers = value(config.drawers);
  let books = value(config.books);
  let sockets = value(config.sockets);
  let dies = value(config.dies);
  let clusters = value(config.clusters);
  let modules = value(config.modules);
  let cores = value(config.cores);
  let threads = value(config.threads);
  let maxcpus = value(config.maxcpus);

  // Given parameters must be greater than zero (the int64 itself, before the cast).
  const levels = [
    config.cpus,
    config.drawers,
    config.books,
    config.sockets,
    config.dies,
    config.clusters,
    config.modules,
    config.cores,
    config.threads,
    config.maxcpus,
  ];
  if (levels.some((v) => given(v) && BigInt(v!) === 0n)) {
    throw smpError("Invalid CPU topology: CPU topology parameters must be greater than zero");
  }

  // A level the machine does not support may only be given as 1.
  const unsupported = (
    name: string,
    supported: boolean,
    v: number | bigint | undefined,
    n: number,
  ): number => {
    if (!supported && given(v) && n > 1) {
      throw smpError(`${name} > 1 not supported by this machine's CPU topology`);
    }
    return n > 0 ? n : 1;
  };
  const p = mc.smpProps;
  modules = unsupported("modules", p.modulesSupported, config.modules, modules);
  clusters = unsupported("clusters", p.clustersSupported, config.clusters, clusters);
  dies = unsupported("dies", p.diesSupported, config.dies, dies);
  books = unsupported("books", p.booksSupported, config.books, books);
  drawers = unsupported("drawers", p.drawersSupported, config.drawers, drawers);

  if (cpus === 0 && maxcpus === 0) {
    sockets = sockets > 0 ? sockets : 1;
    cores = cores > 0 ? cores : 1;
    threads = threads > 0 ? threads : 1;
  } else {
    maxcpus = maxcpus > 0 ? maxcpus : cpus;
    if (p.preferSockets) {
      // Machine types before 6.2: sockets first.
      if (sockets === 0) {
        cores = cores > 0 ? cores : 1;
        threads = threads > 0 ? threads : 1;
        sockets = div(maxcpus, mul(drawers, books, dies, clusters, modules, cores, threads));
      } else if (cores === 0) {
        threads = threads > 0 ? threads : 1;
        cores = div(maxcpus, mul(drawers, books, sockets, dies, clusters, modules, threads));
      }
    } else if (cores === 0) {
      sockets = sockets > 0 ? sockets : 1;
      threads = threads > 0 ? threads : 1;
      cores = div(maxcpus, mul(drawers, books, sockets, dies, clusters, modules, threads));
    } else if (sockets === 0) {
      threads = threads > 0 ? threads : 1;
      sockets = div(maxcpus, mul(drawers, books, dies, clusters, modules, cores, threads));
    }
    if (threads === 0) {
      threads = div(maxcpus, mul(drawers, books, sockets, dies, clusters, modules, cores));
    }
  }

  const totalCpus = mul(drawers, books, sockets, dies, clusters, modules, cores, threads);
  maxcpus = maxcpus > 0 ? maxcpus : totalCpus;
  cpus = cpus > 0 ? cpus : maxcpus;

  ms.smp = {
    cpus,
    drawers,
    books,
    sockets,
    dies,
    clusters,
    modules,
    cores,
    threads,
    maxCpus: maxcpus,
  };
  p.hasClusters = given(config.clusters);

  if (totalCpus !== maxcpus) {
    throw smpError(
      "Invalid CPU topology: product of the hierarchy must match maxcpus: " +
        `${cpuHierarchyToString(ms)} != maxcpus (${maxcpus})`,
    );
  }
  if (maxcpus < cpus) {
    throw smpError(
      "Invalid CPU topology: maxcpus must be equal to or greater than smp: " +
        `${cpuHierarchyToString(ms)} == maxcpus (${maxcpus}) < smp_cpus (${cpus})`,
    );
  }
  if (ms.smp.cpus < mc.minCpus) {
    throw smpError(
      `Invalid SMP CPUs ${asInt(ms.smp.cpus)}. The min CPUs supported by machine ` +
        `'${mc.name}' is ${asInt(mc.minCpus)}`,
    );
  }
  if (ms.smp.maxCpus > mc.maxCpus) {
    throw smpError(
      `Invalid SMP CPUs ${asInt(ms.smp.maxCpus)}. The max CPUs supported by machine ` +
        `'${mc.name}' is ${asInt(mc.maxCpus)}`,
    );
  }
}

/** `machine_topo_get_cores_per_socket`. */
export function machineTopoGetCoresPerSocket(ms: MachineState): number {
  return ms.smp.cores * ms.smp.modules * ms.smp.clusters * ms.smp.dies;
}

/** `machine_topo_get_threads_per_socket`. */
export function machineTopoGetThreadsPerSocket(ms: MachineState): number {
  return ms.smp.threads * machineTopoGetCoresPerSocket(ms);
}
