import {
  MODULE_INIT_QOM,
  moduleCallInit,
  objectNew,
  objectPropertyGet,
  objectPropertyParse,
} from "@glassvm/qom";
import { describe, expect, it } from "vitest";
import type { MachineState } from "../core/machine.js";
import { machineParseSmpConfig } from "../core/machine-smp.js";
import "./pc_piix.js";
import type { PCMachineState } from "./pc.js";
import {
  x86CpuApicIdFromIndex,
  x86CpuIndexToProps,
  x86FindCpuSlot,
  x86GetDefaultCpuNodeId,
  x86PossibleCpuArchIds,
} from "./x86.js";

moduleCallInit(MODULE_INIT_QOM);

function pcWithSmp(smp: Parameters<typeof machineParseSmpConfig>[1]): PCMachineState {
  const ms = objectNew<PCMachineState>("pc-i440fx-10.2-machine");
  ms.cpuType = "qemu64-x86_64-cpu";
  machineParseSmpConfig(ms, smp);
  return ms;
}

const apicIds = (ms: MachineState) => x86PossibleCpuArchIds(ms).cpus.map((c) => c.archId);

describe("possible_cpus (x86_possible_cpu_arch_ids)", () => {
  it("-smp 4: APIC IDs 0..3, one socket", () => {
    const ms = pcWithSmp({ cpus: 4 });
    expect(apicIds(ms)).toEqual([0, 1, 2, 3]);
    expect(x86PossibleCpuArchIds(ms).cpus.map((c) => c.props.coreId)).toEqual([0, 1, 2, 3]);
  });

  it("-smp 4,sockets=2: two sockets of two cores", () => {
    const ms = pcWithSmp({ cpus: 4, sockets: 2 });
    const list = x86PossibleCpuArchIds(ms);
    expect(list.len).toBe(4);
    expect(list.cpus).toEqual([
      {
        archId: 0,
        vcpusCount: 1,
        props: { socketId: 0, coreId: 0, threadId: 0 },
        cpu: null,
        type: "qemu64-x86_64-cpu",
      },
      {
        archId: 1,
        vcpusCount: 1,
        props: { socketId: 0, coreId: 1, threadId: 0 },
        cpu: null,
        type: "qemu64-x86_64-cpu",
      },
      {
        archId: 2,
        vcpusCount: 1,
        props: { socketId: 1, coreId: 0, threadId: 0 },
        cpu: null,
        type: "qemu64-x86_64-cpu",
      },
      {
        archId: 3,
        vcpusCount: 1,
        props: { socketId: 1, coreId: 1, threadId: 0 },
        cpu: null,
        type: "qemu64-x86_64-cpu",
      },
    ]);
    // Built once: the same table afterwards.
    expect(x86PossibleCpuArchIds(ms)).toBe(list);
    expect(x86CpuIndexToProps(ms, 3)).toEqual({ socketId: 1, coreId: 1, threadId: 0 });
  });

  it("-smp 6,sockets=2,cores=3: the core field is two bits wide", () => {
    expect(apicIds(pcWithSmp({ cpus: 6, sockets: 2, cores: 3 }))).toEqual([0, 1, 2, 4, 5, 6]);
  });

  it("-smp 8,sockets=2,cores=2,threads=2: 0..7", () => {
    const ms = pcWithSmp({ cpus: 8, sockets: 2, cores: 2, threads: 2 });
    expect(apicIds(ms)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(x86PossibleCpuArchIds(ms).cpus[5]!.props).toEqual({
      socketId: 1,
      coreId: 0,
      threadId: 1,
    });
  });

  it("covers maxcpus, not just the present CPUs", () => {
    const ms = pcWithSmp({ cpus: 2, maxcpus: 4 });
    expect(apicIds(ms)).toEqual([0, 1, 2, 3]);
  });

  it("names dies and modules only when there are several", () => {
    const ms = pcWithSmp({ cpus: 8, dies: 2, modules: 2 });
    expect(ms.smp).toMatchObject({ sockets: 1, dies: 2, modules: 2, cores: 2, threads: 1 });
    const slots = x86PossibleCpuArchIds(ms).cpus;
    expect(slots.map((c) => c.archId)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(slots[6]!.props).toEqual({ socketId: 0, dieId: 1, moduleId: 1, coreId: 0, threadId: 0 });
    const three = pcWithSmp({ cpus: 12, sockets: 2, dies: 3, cores: 2 });
    expect(apicIds(three)).toEqual([0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13]);
  });

  it("finds slots by APIC ID", () => {
    const ms = pcWithSmp({ cpus: 6, sockets: 2, cores: 3 });
    x86PossibleCpuArchIds(ms);
    expect(x86FindCpuSlot(ms, 4)?.index).toBe(3);
    expect(x86FindCpuSlot(ms, 3)).toBeNull();
    expect(x86CpuApicIdFromIndex(ms, 5)).toBe(6);
    expect(x86GetDefaultCpuNodeId(ms, 5, 2)).toBe(1);
  });
});

describe("the x86 and PC machine state", () => {
  it("has QEMU's defaults", () => {
    const ms = objectNew<PCMachineState>("pc-i440fx-10.2-machine");
    expect(ms).toMatchObject({
      above4gMemStart: 4 * 1024 * 1024 * 1024,
      smm: 0,
      acpi: 0,
      pit: 0,
      pic: 0,
      oemId: "BOCHS ",
      oemTableId: "BXPC    ",
      maxRamBelow4g: 0,
      southBridge: "PIIX3",
      smbusEnabled: true,
      sataEnabled: true,
      hpetEnabled: true,
      i8042Enabled: true,
      maxFwSize: 8 * 1024 * 1024,
      kernelCmdline: "",
      bootConfig: { order: "cad" },
    });
    expect(objectPropertyGet(ms, "smm")).toBe("auto");
  });

  it("checks the PC properties", () => {
    const ms = objectNew<PCMachineState>("pc-i440fx-10.2-machine");
    objectPropertyParse(ms, "max-ram-below-4g", "2G");
    expect(ms.maxRamBelow4g).toBe(2 * 1024 * 1024 * 1024);
    expect(() => objectPropertyParse(ms, "max-ram-below-4g", "5G")).toThrow(
      "Machine option 'max-ram-below-4g=5368709120' expects size less than or equal to 4G",
    );
    expect(() => objectPropertyParse(ms, "max-fw-size", "32M")).toThrow(
      /^User specified max allowed firmware size 33554432 is greater than 16MiB/,
    );
    expect(() => objectPropertyParse(ms, "x-oem-id", "TOOLONG")).toThrow(
      "User specified x-oem-id value is bigger than 6 bytes in size",
    );
    objectPropertyParse(ms, "pit", "off");
    expect(ms.pit).toBe(2);
  });
});
