/**
 * The seed's CPU hierarchy on QOM: object → device → cpu → x86-cpu (abstract) →
 * SandyBridge-x86_64-cpu, created and realized the way pc_new_cpu does it.
 *
 *   npx tsx --conditions=@glassvm/source packages/qom/examples/x86-cpu.ts
 */
import {
  type DeviceClass,
  type DeviceRealize,
  type DeviceState,
  definePropUint32,
  deviceClassSetParentRealize,
  deviceClassSetProps,
  fieldPtr,
  MODULE_INIT_QOM,
  moduleCallInit,
  objectGetRoot,
  objectNew,
  objectPropertyAddChild,
  objectPropertyAddNewContainer,
  objectPropertySetBool,
  objectPropertySetUint,
  objectUnref,
  qomGet,
  qomList,
  TYPE_CONTAINER,
  TYPE_DEVICE,
  typeInit,
  typeRegisterStatic,
} from "@glassvm/qom";

interface CPUState extends DeviceState {
  cpuIndex: number;
}
interface CPUClass extends DeviceClass {}
interface X86CPU extends CPUState {
  apicId: number;
}
interface X86CPUClass extends CPUClass {
  model: string | undefined;
  parentRealize: DeviceRealize | undefined;
}

export function runExample(log: (line: string) => void): void {
  // hw/core/cpu-common.c: the generic CPU realize.
  function cpuCommonRealizefn(dev: DeviceState): void {
    log(`cpu_common_realizefn: ${(dev as CPUState).cpuIndex}`);
  }
  // target/i386/cpu.c: x86's realize runs first, then chains to its parent's.
  function x86CpuRealizefn(dev: DeviceState): void {
    const xcc = dev.class as X86CPUClass;
    log(`x86_cpu_realizefn: model ${xcc.model}, apic-id ${(dev as X86CPU).apicId}`);
    xcc.parentRealize?.(dev);
  }

  typeInit(() => {
    typeRegisterStatic<CPUClass, CPUState>({
      name: "cpu",
      parent: TYPE_DEVICE,
      abstract: true,
      instanceInit: (cpu) => {
        cpu.cpuIndex = 0;
      },
      classInit: (cc) => {
        cc.realize = cpuCommonRealizefn;
      },
    });
    typeRegisterStatic<X86CPUClass, X86CPU>({
      name: "x86-cpu",
      parent: "cpu",
      abstract: true,
      classInit: (xcc) => {
        deviceClassSetParentRealize(xcc, x86CpuRealizefn, fieldPtr(xcc, "parentRealize"));
        deviceClassSetProps(xcc, [definePropUint32("apic-id", "apicId", 0xffff_ffff)]);
      },
    });
    typeRegisterStatic<X86CPUClass, X86CPU>({
      name: "SandyBridge-x86_64-cpu",
      parent: "x86-cpu",
      classInit: (xcc) => {
        xcc.model = "SandyBridge";
      },
    });
  });

  // qemu_init: register every type, then build /machine with its containers.
  moduleCallInit(MODULE_INIT_QOM);
  const machine = objectNew(TYPE_CONTAINER);
  objectPropertyAddChild(objectGetRoot(), "machine", machine);
  objectUnref(machine);
  objectPropertyAddNewContainer(machine, "unattached");

  // pc_new_cpu: object_new, set apic-id, realized = true, drop the creation reference.
  const cpu = objectNew<X86CPU>("SandyBridge-x86_64-cpu");
  objectPropertySetUint(cpu, "apic-id", 0);
  objectPropertySetBool(cpu, "realized", true);
  objectUnref(cpu);

  const path = "/machine/unattached/device[0]";
  log(`qom-get ${path} type → ${JSON.stringify(qomGet(path, "type"))}`);
  log(`qom-get ${path} realized → ${JSON.stringify(qomGet(path, "realized"))}`);
  log(`qom-list ${path} → ${JSON.stringify(qomList(path))}`);
}

if (process.argv[1]?.endsWith("x86-cpu.ts")) runExample(console.log);
