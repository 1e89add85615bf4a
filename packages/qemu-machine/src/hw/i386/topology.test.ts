import { describe, expect, it } from "vitest";
import {
  apicidBitwidthForCount,
  apicidCoreOffset,
  apicidDieOffset,
  apicidModuleOffset,
  apicidPkgOffset,
  CPU_TOPOLOGY_LEVEL_CORE,
  CPU_TOPOLOGY_LEVEL_DIE,
  CPU_TOPOLOGY_LEVEL_MODULE,
  CPU_TOPOLOGY_LEVEL_SOCKET,
  CPU_TOPOLOGY_LEVEL_THREAD,
  type X86SmpTopology,
  x86ApicidFromCpuIdx,
  x86ApicidFromTopoIds,
  x86HasExtendedTopo,
  x86ThreadsPerPkg,
  x86TopoIdsFromApicid,
  x86TopoIdsFromIdx,
  x86TopoInfoFromSmp,
} from "./topology.js";

const ids = (smp: X86SmpTopology & { sockets?: number }, n?: number): number[] => {
  const t = x86TopoInfoFromSmp(smp);
  const count = n ?? (smp.sockets ?? 1) * x86ThreadsPerPkg(t);
  return Array.from({ length: count }, (_, i) => x86ApicidFromCpuIdx(t, i));
};

describe("apicid_bitwidth_for_count", () => {
  it("is the bit length of count−1 (0 for one id)", () => {
    expect([1, 2, 3, 4, 5, 8, 9, 16, 17].map(apicidBitwidthForCount)).toEqual([
      0, 1, 2, 2, 3, 3, 4, 4, 5,
    ]);
  });
  it("rejects 0", () => {
    expect(() => apicidBitwidthForCount(0)).toThrow(RangeError);
  });
});

describe("APIC IDs of -smp topologies (x86_apicid_from_cpu_idx)", () => {
  // Reference §4.1 examples and the example.
  it("-smp 4 → 0,1,2,3", () => {
    expect(ids({ cores: 4 })).toEqual([0, 1, 2, 3]);
  });
  it("-smp 6,sockets=2,cores=3 → core width 2: 0,1,2,4,5,6", () => {
    expect(ids({ sockets: 2, cores: 3 })).toEqual([0, 1, 2, 4, 5, 6]);
  });
  it("-smp 8,sockets=2,cores=2,threads=2 → 0…7", () => {
    expect(ids({ sockets: 2, cores: 2, threads: 2 })).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
  it("-smp 12,sockets=2,cores=3,threads=2 → 0…5, 8…13", () => {
    expect(ids({ sockets: 2, cores: 3, threads: 2 })).toEqual([
      0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13,
    ]);
  });
  it("-smp 4,sockets=2,cores=2: the 4th CPU is socket 1 core 1", () => {
    const t = x86TopoInfoFromSmp({ cores: 2 });
    expect(x86TopoIdsFromIdx(t, 3)).toEqual({
      pkgId: 1,
      dieId: 0,
      moduleId: 0,
      coreId: 1,
      smtId: 0,
    });
  });
  it("dies and modules get their own fields: sockets=2,dies=3,modules=2,cores=3,threads=2", () => {
    const t = x86TopoInfoFromSmp({ dies: 3, modules: 2, cores: 3, threads: 2 });
    expect([
      apicidCoreOffset(t),
      apicidModuleOffset(t),
      apicidDieOffset(t),
      apicidPkgOffset(t),
    ]).toEqual([1, 3, 4, 6]);
    // cpu 13: smt 1, core (13/2)%3 = 0, module (13/6)%2 = 0, die (13/12)%3 = 1, pkg 0.
    expect(x86ApicidFromCpuIdx(t, 13)).toBe((1 << 4) | 1);
    // The last CPU: pkg 1, die 2, module 1, core 2, smt 1.
    expect(x86ApicidFromCpuIdx(t, 71)).toBe((1 << 6) | (2 << 4) | (1 << 3) | (2 << 1) | 1);
  });
  it("round-trips through x86_topo_ids_from_apicid", () => {
    const t = x86TopoInfoFromSmp({ dies: 2, modules: 3, cores: 5, threads: 2 });
    for (let i = 0; i < 2 * 2 * 3 * 5 * 2; i++) {
      const topo = x86TopoIdsFromIdx(t, i);
      const apic = x86ApicidFromTopoIds(t, topo);
      expect(x86TopoIdsFromApicid(apic, t)).toEqual(topo);
    }
  });
});

describe("x86_has_extended_topo", () => {
  it("needs a die or module level", () => {
    const base = [CPU_TOPOLOGY_LEVEL_THREAD, CPU_TOPOLOGY_LEVEL_CORE, CPU_TOPOLOGY_LEVEL_SOCKET];
    expect(x86HasExtendedTopo(new Set(base))).toBe(false);
    expect(x86HasExtendedTopo(new Set([...base, CPU_TOPOLOGY_LEVEL_DIE]))).toBe(true);
    expect(x86HasExtendedTopo(new Set([...base, CPU_TOPOLOGY_LEVEL_MODULE]))).toBe(true);
  });
});
