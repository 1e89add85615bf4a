import {
  type InterfaceClass,
  MODULE_INIT_QOM,
  moduleCallInit,
  type ObjectClass,
  objectClassByName,
  objectClassPropertyAdd,
  objectClassPropertyAddBool,
  objectGetObjectsRoot,
  objectGetRoot,
  objectNew,
  objectPropertyAddChild,
  objectPropertyAddNewContainer,
  objectPropertyGet,
  objectPropertySetLink,
  objectUnparent,
  objectUnref,
  PHASE_ACCEL_CREATED,
  PHASE_LATE_BACKENDS_CREATED,
  PHASE_MACHINE_CREATED,
  PHASE_MACHINE_INITIALIZED,
  phaseAdvance,
  phaseGet,
  type QomObject,
  TYPE_CONTAINER,
  TYPE_INTERFACE,
  TYPE_OBJECT,
  TYPE_USER_CREATABLE,
  typeRegisterStatic,
  type UserCreatableClass,
} from "@glassvm/qom";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AccelClass,
  type AccelCPUClass,
  type CPUClassAccelHooks,
  TYPE_ACCEL,
  TYPE_ACCEL_CPU,
} from "../../accel/accel-common.js";
import {
  type AccelOpsClass,
  accelInitMachine,
  cpusGetAccel,
  TYPE_ACCEL_OPS,
} from "../../accel/accel-system.js";
import { memoryRegionInitRam } from "../../system/memory.js";
import { setPcInit1 } from "../i386/pc_piix.js";
import {
  type HostMemoryBackend,
  isCpuTypeSupported,
  type MachineClass,
  type MachineState,
  machineRunBoardInit,
  TYPE_MEMORY_BACKEND,
} from "./machine.js";

const events: string[] = [];
const MiB = 1024 * 1024;

/** Stand-ins for the types other parts of glassvm bring: a backend, an accelerator, CPUs. */
function registerTestTypes(): void {
  typeRegisterStatic<ObjectClass, HostMemoryBackend & { size: number }>({
    name: TYPE_MEMORY_BACKEND,
    parent: TYPE_OBJECT,
    abstract: true,
    instanceSize: 64,
    instanceInit: (b) => {
      b.size = 0;
      b.mr = null;
      b.isMapped = false;
    },
    classInit: (klass) => {
      objectClassPropertyAdd(
        klass,
        "size",
        "size",
        (o) => (o as HostMemoryBackend & { size: number }).size,
        (o, v, name) => {
          (o as HostMemoryBackend & { size: number }).size = Number(v.typeSize(name));
        },
      );
      objectClassPropertyAddBool(
        klass,
        "x-use-canonical-path-for-ramblock-id",
        () => true,
        () => {},
      );
    },
    interfaces: [{ type: TYPE_USER_CREATABLE }],
  });
  typeRegisterStatic<ObjectClass, HostMemoryBackend & { size: number }>({
    name: "memory-backend-ram",
    parent: TYPE_MEMORY_BACKEND,
    classInit: (klass) => {
      const uc = klass.interfaces.find(
        (i: InterfaceClass) => i.interfaceType?.name === TYPE_USER_CREATABLE,
      ) as UserCreatableClass;
      uc.complete = (o) => {
        const b = o as HostMemoryBackend & { size: number };
        events.push(`backend complete ${b.size}`);
        b.mr = memoryRegionInitRam("/objects/pc.ram", "pc.ram", new Uint8Array(b.size));
      };
    },
  });

  typeRegisterStatic<AccelClass, QomObject>({
    name: "test-accel",
    parent: TYPE_ACCEL,
    instanceSize: 64,
    classInit: (klass) => {
      const ac = klass as AccelClass;
      ac.name = "TEST";
      ac.initMachine = () => {
        events.push("init_machine");
        return 0;
      };
    },
  });
  typeRegisterStatic<AccelOpsClass, QomObject>({
    name: "test-accel-ops",
    parent: TYPE_ACCEL_OPS,
    classInit: (klass) => {
      const ops = klass as AccelOpsClass;
      ops.opsInit = () => events.push("ops_init");
      ops.createVcpuThread = () => {};
    },
  });
  typeRegisterStatic<AccelCPUClass, QomObject>({
    name: "test-accel-x86_64-cpu",
    parent: TYPE_ACCEL_CPU,
    classInit: (klass) => {
      (klass as AccelCPUClass).cpuClassInit = (cc) => events.push(`cpu_class_init ${cc.type.name}`);
    },
  });
  typeRegisterStatic({ name: "x86_64-cpu", parent: TYPE_OBJECT, abstract: true, instanceSize: 64 });
  typeRegisterStatic({ name: "qemu64-x86_64-cpu", parent: "x86_64-cpu" });
  typeRegisterStatic({ name: "test-iface", parent: TYPE_INTERFACE });
}

let machine: MachineState;

beforeAll(() => {
  registerTestTypes();
  moduleCallInit(MODULE_INIT_QOM);
  // What qemu_create_machine and configure_accelerators did before board init.
  machine = objectNew<MachineState>("pc-i440fx-10.2-machine");
  objectPropertyAddChild(objectGetRoot(), "machine", machine);
  objectUnref(machine);
  for (const c of ["unattached", "peripheral", "peripheral-anon"]) {
    objectPropertyAddNewContainer(machine, c);
  }
  phaseAdvance(PHASE_MACHINE_CREATED);
  expect(accelInitMachine(objectNew("test-accel"), machine)).toBe(0);
  phaseAdvance(PHASE_ACCEL_CREATED);
  phaseAdvance(PHASE_LATE_BACKENDS_CREATED);
  machine.cpuType = "qemu64-x86_64-cpu";
  setPcInit1((m, pciType) => {
    events.push(`pc_init1 ${pciType} ram=${m.ram?.size} accel-ops=${cpusGetAccel()?.type.name}`);
  });
});
afterAll(() => setPcInit1(null));

describe("machine_run_board_init", () => {
  it("refuses an object that took the default RAM backend's id", () => {
    const squatter = objectNew(TYPE_CONTAINER);
    objectPropertyAddChild(objectGetObjectsRoot(), "pc.ram", squatter);
    objectUnref(squatter);
    let err: { message: string; hint?: string } | undefined;
    try {
      machineRunBoardInit(machine);
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).toBe(
      "object's id 'pc.ram' is reserved for the default RAM backend, it can't be used for any other purposes",
    );
    expect(err?.hint).toBe(
      "Change the object's 'id' to something else or disable automatic creation of the default " +
        "RAM backend by setting 'memory-backend=pc.ram' with '-machine'.\n",
    );
    objectUnparent(squatter);
    expect(events).toEqual(["init_machine"]);
  });

  it("refuses a user backend of another size", () => {
    const backend = objectNew<HostMemoryBackend & { size: number }>("memory-backend-ram");
    backend.size = 64 * MiB;
    objectPropertyAddChild(objectGetObjectsRoot(), "mem0", backend);
    objectUnref(backend);
    objectPropertySetLink(machine, "memory-backend", backend);
    expect(() => machineRunBoardInit(machine)).toThrow(
      "Machine memory size does not match the size of the memory backend",
    );
    objectPropertySetLink(machine, "memory-backend", null);
    objectUnparent(backend);
  });

  it("creates pc.ram, attaches the accelerator's interfaces, then runs the board", () => {
    events.length = 0;
    machineRunBoardInit(machine);
    expect(events).toEqual([
      `backend complete ${128 * MiB}`,
      "ops_init",
      "cpu_class_init qemu64-x86_64-cpu",
      `pc_init1 i440FX ram=${128 * MiB} accel-ops=test-accel-ops`,
    ]);
    expect(objectPropertyGet(machine, "memory-backend")).toBe("/objects/pc.ram");
    expect((machine.memdev as HostMemoryBackend).isMapped).toBe(true);
    expect((objectClassByName("qemu64-x86_64-cpu") as CPUClassAccelHooks).accelCpu?.type.name).toBe(
      "test-accel-x86_64-cpu",
    );
    expect(phaseGet()).toBe(PHASE_MACHINE_INITIALIZED);
  });

  it("checks the CPU type against valid_cpu_types", () => {
    const mc = machine.class as MachineClass;
    mc.validCpuTypes = ["test-iface-x86_64-cpu"];
    let err: { message: string; hint?: string } | undefined;
    try {
      isCpuTypeSupported(machine);
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).toBe("Invalid CPU model: qemu64");
    expect(err?.hint).toBe("The only valid type is: test-iface\n");
    mc.validCpuTypes = ["a-x86_64-cpu", "b-x86_64-cpu"];
    expect(() => isCpuTypeSupported(machine)).toThrow("Invalid CPU model: qemu64");
    mc.validCpuTypes = ["x86_64-cpu"];
    expect(() => isCpuTypeSupported(machine)).not.toThrow();
    mc.validCpuTypes = undefined;
  });
});
