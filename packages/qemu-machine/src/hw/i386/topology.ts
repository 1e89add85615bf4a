/**
 * include/hw/i386/topology.h — APIC IDs from the -smp topology.
 *
 * An x86 APIC ID is a packed record: thread (SMT) id in the low bits, then core, module,
 * die and package (socket) ids, each field as wide as the count at that level needs
 * (rounded up to a power of two). Sockets are the top field and need no width. So
 * `-smp 12,sockets=2,cores=3,threads=2` gives 1 SMT bit and 2 core bits and the ids
 * 0,1,2,3,4,5 then 8,9,10,11,12,13 (the second package starts at 1 << 3).
 *
 * The enumeration follows the Intel SDM "Processor Topology Enumeration" (CPUID leaves 0Bh
 * and 1Fh) and is compatible with AMD's extended method when threads per core is 1.
 */

/** A 32-bit APIC ID; ids above 255 need x2APIC. */
export type ApicId = number;

/** `X86CPUTopoIDs`: one CPU's position in the hierarchy. */
export interface X86CPUTopoIDs {
  pkgId: number;
  dieId: number;
  moduleId: number;
  coreId: number;
  smtId: number;
}

/** `X86CPUTopoInfo`: the counts below a package (the machine's -smp). */
export interface X86CPUTopoInfo {
  diesPerPkg: number;
  modulesPerDie: number;
  coresPerModule: number;
  threadsPerCore: number;
}

/** `CpuTopologyLevel` (qapi/machine-common.json), in QAPI declaration order. */
export const CPU_TOPOLOGY_LEVEL_THREAD = 0;
export const CPU_TOPOLOGY_LEVEL_CORE = 1;
export const CPU_TOPOLOGY_LEVEL_MODULE = 2;
export const CPU_TOPOLOGY_LEVEL_CLUSTER = 3;
export const CPU_TOPOLOGY_LEVEL_DIE = 4;
export const CPU_TOPOLOGY_LEVEL_SOCKET = 5;
export const CPU_TOPOLOGY_LEVEL_BOOK = 6;
export const CPU_TOPOLOGY_LEVEL_DRAWER = 7;
export const CPU_TOPOLOGY_LEVEL_DEFAULT = 8;
/** Not a QAPI value: "no such level" in the CPUID 1Fh encoder. */
export const CPU_TOPOLOGY_LEVEL_INVALID = -1;
export type CpuTopologyLevel =
  | typeof CPU_TOPOLOGY_LEVEL_THREAD
  | typeof CPU_TOPOLOGY_LEVEL_CORE
  | typeof CPU_TOPOLOGY_LEVEL_MODULE
  | typeof CPU_TOPOLOGY_LEVEL_CLUSTER
  | typeof CPU_TOPOLOGY_LEVEL_DIE
  | typeof CPU_TOPOLOGY_LEVEL_SOCKET
  | typeof CPU_TOPOLOGY_LEVEL_BOOK
  | typeof CPU_TOPOLOGY_LEVEL_DRAWER
  | typeof CPU_TOPOLOGY_LEVEL_DEFAULT
  | typeof CPU_TOPOLOGY_LEVEL_INVALID;

/** `apicid_bitwidth_for_count`: bits to hold 0 … count−1 (0 for a single id). */
export function apicidBitwidthForCount(count: number): number {
  if (!Number.isInteger(count) || count < 1) {
    throw new RangeError(`apicid_bitwidth_for_count: count must be >= 1 (is ${count})`);
  }
  const max = (count - 1) >>> 0;
  return max === 0 ? 0 : 32 - Math.clz32(max);
}

/** `apicid_smt_width`. */
export const apicidSmtWidth = (t: X86CPUTopoInfo): number =>
  apicidBitwidthForCount(t.threadsPerCore);
/** `apicid_core_width`. */
export const apicidCoreWidth = (t: X86CPUTopoInfo): number =>
  apicidBitwidthForCount(t.coresPerModule);
/** `apicid_module_width`. */
export const apicidModuleWidth = (t: X86CPUTopoInfo): number =>
  apicidBitwidthForCount(t.modulesPerDie);
/** `apicid_die_width`. */
export const apicidDieWidth = (t: X86CPUTopoInfo): number => apicidBitwidthForCount(t.diesPerPkg);

/** `apicid_core_offset`: the core field sits just above the SMT field. */
export const apicidCoreOffset = (t: X86CPUTopoInfo): number => apicidSmtWidth(t);
/** `apicid_module_offset`. */
export const apicidModuleOffset = (t: X86CPUTopoInfo): number =>
  apicidCoreOffset(t) + apicidCoreWidth(t);
/** `apicid_die_offset`. */
export const apicidDieOffset = (t: X86CPUTopoInfo): number =>
  apicidModuleOffset(t) + apicidModuleWidth(t);
/** `apicid_pkg_offset`: where the socket id starts. */
export const apicidPkgOffset = (t: X86CPUTopoInfo): number =>
  apicidDieOffset(t) + apicidDieWidth(t);

/** `x86_apicid_from_topo_ids`. The caller keeps every id below its level's count. */
export function x86ApicidFromTopoIds(t: X86CPUTopoInfo, ids: X86CPUTopoIDs): ApicId {
  return (
    ((ids.pkgId << apicidPkgOffset(t)) |
      (ids.dieId << apicidDieOffset(t)) |
      (ids.moduleId << apicidModuleOffset(t)) |
      (ids.coreId << apicidCoreOffset(t)) |
      ids.smtId) >>>
    0
  );
}

/** `x86_topo_ids_from_idx`: a contiguous CPU index split into the level ids. */
export function x86TopoIdsFromIdx(t: X86CPUTopoInfo, cpuIndex: number): X86CPUTopoIDs {
  const threads = t.threadsPerCore;
  const cores = t.coresPerModule;
  const modules = t.modulesPerDie;
  const dies = t.diesPerPkg;
  return {
    pkgId: Math.floor(cpuIndex / (dies * modules * cores * threads)),
    dieId: Math.floor(cpuIndex / (modules * cores * threads)) % dies,
    moduleId: Math.floor(cpuIndex / (cores * threads)) % modules,
    coreId: Math.floor(cpuIndex / threads) % cores,
    smtId: cpuIndex % threads,
  };
}

const fieldMask = (width: number): number => (width >= 32 ? 0xffff_ffff : (1 << width) - 1);

/** `x86_topo_ids_from_apicid`: the inverse of {@link x86ApicidFromTopoIds}. */
export function x86TopoIdsFromApicid(apicId: ApicId, t: X86CPUTopoInfo): X86CPUTopoIDs {
  return {
    smtId: apicId & fieldMask(apicidSmtWidth(t)),
    coreId: (apicId >>> apicidCoreOffset(t)) & fieldMask(apicidCoreWidth(t)),
    moduleId: (apicId >>> apicidModuleOffset(t)) & fieldMask(apicidModuleWidth(t)),
    dieId: (apicId >>> apicidDieOffset(t)) & fieldMask(apicidDieWidth(t)),
    pkgId: apicId >>> apicidPkgOffset(t),
  };
}

/** `x86_apicid_from_cpu_idx`: the APIC ID of the CPU at a contiguous index. */
export function x86ApicidFromCpuIdx(t: X86CPUTopoInfo, cpuIndex: number): ApicId {
  return x86ApicidFromTopoIds(t, x86TopoIdsFromIdx(t, cpuIndex));
}

/** `x86_has_extended_topo`: dies or modules in use, so CPUID leaf 1Fh is needed. */
export function x86HasExtendedTopo(availCpuTopo: ReadonlySet<number>): boolean {
  return availCpuTopo.has(CPU_TOPOLOGY_LEVEL_MODULE) || availCpuTopo.has(CPU_TOPOLOGY_LEVEL_DIE);
}

/** `x86_module_per_pkg`. */
export const x86ModulesPerPkg = (t: X86CPUTopoInfo): number => t.modulesPerDie * t.diesPerPkg;
/** `x86_cores_per_pkg`. */
export const x86CoresPerPkg = (t: X86CPUTopoInfo): number => t.coresPerModule * x86ModulesPerPkg(t);
/** `x86_threads_per_module`. */
export const x86ThreadsPerModule = (t: X86CPUTopoInfo): number =>
  t.threadsPerCore * t.coresPerModule;
/** `x86_threads_per_die`. */
export const x86ThreadsPerDie = (t: X86CPUTopoInfo): number =>
  x86ThreadsPerModule(t) * t.modulesPerDie;
/** `x86_threads_per_pkg`. */
export const x86ThreadsPerPkg = (t: X86CPUTopoInfo): number => x86ThreadsPerDie(t) * t.diesPerPkg;

/** The -smp counts this header needs (MachineState.smp, levels pc supports). */
export interface X86SmpTopology {
  readonly dies?: number;
  readonly modules?: number;
  readonly cores?: number;
  readonly threads?: number;
}

/**
 * `init_topo_info` (hw/i386/x86-common.c) as a pure function: the topology info of a
 * machine's -smp (levels left out count 1).
 */
export function x86TopoInfoFromSmp(smp: X86SmpTopology): X86CPUTopoInfo {
  return {
    diesPerPkg: smp.dies ?? 1,
    modulesPerDie: smp.modules ?? 1,
    coresPerModule: smp.cores ?? 1,
    threadsPerCore: smp.threads ?? 1,
  };
}
