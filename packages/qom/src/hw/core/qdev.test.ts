import { beforeAll, describe, expect, it } from "vitest";
import {
  type DeviceClass,
  type DeviceRealize,
  type DeviceState,
  definePropBit,
  definePropBool,
  definePropLink,
  definePropOnOffAuto,
  definePropSize,
  definePropString,
  definePropUint32,
  definePropUint64Checkmask,
  deviceClassSetParentRealize,
  deviceClassSetProps,
  fieldPtr,
  type HotplugHandlerClass,
  type MachineHotplugClass,
  MODULE_INIT_QOM,
  moduleCallInit,
  ON_OFF_AUTO_AUTO,
  objectGetCanonicalPath,
  objectGetRoot,
  objectNew,
  objectPropertyAddChild,
  objectPropertyAddNewContainer,
  objectPropertyGet,
  objectPropertyGetBool,
  objectPropertyParse,
  objectPropertySetBool,
  objectPropertySetStr,
  objectPropertySetUint,
  objectRegisterSugarProp,
  objectResolvePath,
  objectSetAcceleratorCompatProps,
  objectSetMachineCompatProps,
  objectUnparent,
  objectUnref,
  PHASE_ACCEL_CREATED,
  PHASE_LATE_BACKENDS_CREATED,
  PHASE_MACHINE_CREATED,
  PHASE_MACHINE_INITIALIZED,
  PHASE_MACHINE_READY,
  phaseAdvance,
  QomError,
  type QomObject,
  qdevNew,
  qdevPropCheckGlobals,
  qdevPropRegisterGlobal,
  qdevRealize,
  qdevRealizeAndUnref,
  qdevUnrealize,
  qomListProperties,
  setWarnReporter,
  TYPE_DEVICE,
  TYPE_HOTPLUG_HANDLER,
  TYPE_MACHINE,
  TYPE_OBJECT,
  typeRegisterStatic,
} from "../../index.js";

const events: string[] = [];
const take = () => events.splice(0);

function qomErrorOf(fn: () => unknown): QomError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(QomError);
    return err as QomError;
  }
  throw new Error("expected a QomError");
}

// The seed's hierarchy: object → device → cpu → x86-cpu (abstract) → a model.
interface CPUState extends DeviceState {
  cpuIndex: number;
}
interface X86CPU extends CPUState {
  apicId: number;
  features: number;
  realizedSeenDuringRealize?: boolean;
}
interface X86CPUClass extends DeviceClass {
  parentRealize: DeviceRealize | undefined;
}

// A machine that is its own hotplug handler, as the PC machine is for CPUs.
interface TestMachineClass extends MachineHotplugClass {}
const plugPolicy = { refusePrePlug: false, failPlug: false };

beforeAll(() => {
  moduleCallInit(MODULE_INIT_QOM);
  typeRegisterStatic<DeviceClass, CPUState>({
    name: "cpu",
    parent: TYPE_DEVICE,
    abstract: true,
    instanceInit: (cpu) => {
      cpu.cpuIndex = -1;
    },
    classInit: (dc) => {
      dc.realize = (dev) => void events.push(`cpu_common_realizefn ${objectGetCanonicalPath(dev)}`);
      dc.unrealize = () => void events.push("cpu_common_unrealizefn");
    },
  });
  typeRegisterStatic<X86CPUClass, X86CPU>({
    name: "x86-cpu",
    parent: "cpu",
    abstract: true,
    instanceInit: (cpu) => {
      // Static property defaults are already written when instance_init runs.
      events.push(`x86_cpu_initfn apic-id=${cpu.apicId.toString(16)}`);
    },
    classInit: (xcc) => {
      deviceClassSetParentRealize(
        xcc,
        (dev) => {
          const cpu = dev as X86CPU;
          cpu.realizedSeenDuringRealize = objectPropertyGetBool(cpu, "realized");
          events.push("x86_cpu_realizefn");
          if (cpu.apicId === 0xdead) throw new QomError("invalid-parameter-value", "bad apic-id");
          xcc.parentRealize!(dev);
        },
        fieldPtr(xcc, "parentRealize"),
      );
      deviceClassSetProps(xcc, [
        definePropUint32("apic-id", "apicId", 0xffff_ffff),
        definePropBit("vmx", "features", 5, false),
        definePropBit("pae", "features", 6, true),
      ]);
    },
  });
  typeRegisterStatic<X86CPUClass, X86CPU>({ name: "qemu64-x86_64-cpu", parent: "x86-cpu" });
  typeRegisterStatic<X86CPUClass, X86CPU>({
    name: "SandyBridge-x86_64-cpu",
    parent: "x86-cpu",
  });

  typeRegisterStatic<TestMachineClass & HotplugHandlerClass, QomObject>({
    name: TYPE_MACHINE,
    parent: TYPE_OBJECT,
    abstract: true,
    interfaces: [{ type: TYPE_HOTPLUG_HANDLER }],
  });
  typeRegisterStatic<TestMachineClass, QomObject>({
    name: "test-machine",
    parent: TYPE_MACHINE,
    classInit: (mc) => {
      mc.getHotplugHandler = (machine) => machine;
      const hc = mc.interfaces.find((i) => i.interfaceType?.name === TYPE_HOTPLUG_HANDLER) as
        | HotplugHandlerClass
        | undefined;
      hc!.prePlug = (_h, dev) => {
        events.push(`pre_plug ${dev.class.type.name}`);
        if (plugPolicy.refusePrePlug) throw new QomError("hotplug", "pre_plug refused");
      };
      hc!.plug = (_h, dev) => {
        events.push(`plug ${objectGetCanonicalPath(dev)}`);
        if (plugPolicy.failPlug) throw new QomError("hotplug", "plug failed");
      };
    },
  });
  // qemu_init creates /machine and its containers before any device is realized.
  phaseAdvance(PHASE_MACHINE_CREATED);
  const machine = objectNew("test-machine");
  objectPropertyAddChild(objectGetRoot(), "machine", machine);
  objectUnref(machine);
  for (const c of ["unattached", "peripheral", "peripheral-anon"]) {
    objectPropertyAddNewContainer(machine, c);
  }
});

describe("the seed's CPU: object → device → cpu → x86-cpu → model", () => {
  it("writes static-property defaults before instance_init", () => {
    take();
    const cpu = qdevNew<X86CPU>("SandyBridge-x86_64-cpu");
    expect(take()).toEqual(["x86_cpu_initfn apic-id=ffffffff"]);
    expect(cpu.features).toBe(1 << 6);
    expect(objectPropertyGet(cpu, "pae")).toBe(true);
    expect(objectPropertyGet(cpu, "vmx")).toBe(false);
    objectUnref(cpu);
  });

  it("[qom §11.14] realize runs x86's realize, then the parent's; realized is set last; attached unattached", () => {
    const cpu = qdevNew<X86CPU>("SandyBridge-x86_64-cpu");
    objectPropertySetUint(cpu, "apic-id", 0);
    objectPropertyParse(cpu, "vmx", "on");
    take();
    objectPropertySetBool(cpu, "realized", true);
    expect(take()).toEqual([
      "pre_plug SandyBridge-x86_64-cpu",
      "x86_cpu_realizefn",
      "cpu_common_realizefn /machine/unattached/device[0]",
      "plug /machine/unattached/device[0]",
    ]);
    expect(cpu.realizedSeenDuringRealize).toBe(false);
    expect(cpu.realized).toBe(true);
    expect(cpu.canonicalPath).toBe("/machine/unattached/device[0]");
    expect(objectResolvePath("/machine/unattached/device[0]")).toBe(cpu);
    expect(cpu.features).toBe((1 << 5) | (1 << 6));
    objectUnref(cpu); // the tree keeps it alive
    expect(cpu.ref).toBe(1);
  });

  it("[qom §11.14] refuses static properties after realize, naming the device or calling it anonymous", () => {
    const cpu = objectResolvePath<X86CPU>("/machine/unattached/device[0]")!;
    const e = qomErrorOf(() => objectPropertySetUint(cpu, "apic-id", 3));
    expect(e.message).toBe(
      "Attempt to set property 'apic-id' on anonymous device (type 'SandyBridge-x86_64-cpu') after it was realized",
    );
    cpu.id = "cpu0";
    expect(qomErrorOf(() => objectPropertyParse(cpu, "vmx", "off")).message).toBe(
      "Attempt to set property 'vmx' on device 'cpu0' (type 'SandyBridge-x86_64-cpu') after it was realized",
    );
    expect(cpu.apicId).toBe(0);
    // true→true is a no-op.
    take();
    objectPropertySetBool(cpu, "realized", true);
    expect(take()).toEqual([]);
  });

  it("[qom §11.14] a failing realize leaves realized=false, detaches the device and reuses device[N]", () => {
    const bad = qdevNew<X86CPU>("qemu64-x86_64-cpu");
    objectPropertySetUint(bad, "apic-id", 0xdead);
    take();
    const e = qomErrorOf(() => qdevRealize(bad));
    expect(e.message).toBe("bad apic-id");
    expect(take()).toEqual(["pre_plug qemu64-x86_64-cpu", "x86_cpu_realizefn"]);
    expect(bad.realized).toBe(false);
    expect(bad.parent).toBeNull();
    expect(bad.ref).toBe(1);
    expect(objectResolvePath("/machine/unattached/device[1]")).toBeNull();

    const good = qdevNew<X86CPU>("qemu64-x86_64-cpu");
    objectPropertySetUint(good, "apic-id", 1);
    qdevRealizeAndUnref(good);
    expect(objectGetCanonicalPath(good)).toBe("/machine/unattached/device[1]");
    expect(good.ref).toBe(1);
  });

  it("the hotplug handler can refuse before realize; a failed plug unrealizes", () => {
    const cpu = qdevNew<X86CPU>("qemu64-x86_64-cpu");
    plugPolicy.refusePrePlug = true;
    take();
    expect(qomErrorOf(() => qdevRealize(cpu)).message).toBe("pre_plug refused");
    expect(take()).toEqual(["pre_plug qemu64-x86_64-cpu"]);
    plugPolicy.refusePrePlug = false;
    plugPolicy.failPlug = true;
    expect(qomErrorOf(() => qdevRealize(cpu)).message).toBe("plug failed");
    expect(take()).toEqual([
      "pre_plug qemu64-x86_64-cpu",
      "x86_cpu_realizefn",
      "cpu_common_realizefn /machine/unattached/device[2]",
      "plug /machine/unattached/device[2]",
      "cpu_common_unrealizefn",
    ]);
    plugPolicy.failPlug = false;
    expect(cpu.realized).toBe(false);
    expect(cpu.parent).toBeNull();
    expect(cpu.canonicalPath).toBeNull();
  });

  it("unrealize clears realized first; unparenting a realized device unrealizes it", () => {
    const cpu = objectResolvePath<X86CPU>("/machine/unattached/device[1]")!;
    take();
    qdevUnrealize(cpu);
    expect(take()).toEqual(["cpu_common_unrealizefn"]);
    expect(cpu.realized).toBe(false);
    expect(cpu.pendingDeletedEvent).toBe(true);
    qdevRealize(cpu);
    take();
    objectUnparent(cpu);
    expect(take()).toEqual(["cpu_common_unrealizefn"]);
    expect(cpu.ref).toBe(0);
  });
});

describe("static properties", () => {
  interface Widget extends DeviceState {
    flag: boolean;
    mode: number;
    mem: bigint;
    mask: bigint;
    name: string | null;
    peer: QomObject | null;
  }
  beforeAll(() => {
    typeRegisterStatic<DeviceClass, Widget>({
      name: "test-widget",
      parent: TYPE_DEVICE,
      instanceInit: (w) => {
        w.peer = null;
        w.name = null;
      },
      classInit: (dc) => {
        deviceClassSetProps(dc, [
          definePropBool("flag", "flag", true),
          definePropOnOffAuto("mode", "mode", ON_OFF_AUTO_AUTO),
          definePropSize("mem", "mem", 128n << 20n),
          definePropUint64Checkmask("mask", "mask", 0n, 0xffn),
          definePropString("name", "name"),
          definePropLink("peer", "peer", TYPE_DEVICE),
        ]);
      },
    });
  });

  it("has QEMU's type strings, defaults and value checks", () => {
    const w = qdevNew<Widget>("test-widget");
    expect(w.flag).toBe(true);
    expect(objectPropertyGet(w, "mode")).toBe("auto");
    expect(objectPropertyGet(w, "name")).toBe("");
    expect(objectPropertyGet(w, "mem")).toBe(128 * 1024 * 1024);
    objectPropertyParse(w, "mem", "2G");
    expect(w.mem).toBe(2n << 30n);
    objectPropertyParse(w, "mem", "1.5k");
    expect(w.mem).toBe(1536n);
    expect(qomErrorOf(() => objectPropertyParse(w, "mem", "lots")).message).toBe(
      "Parameter 'mem' expects a size value",
    );
    expect(qomErrorOf(() => objectPropertyParse(w, "mask", "0x100")).message).toBe(
      "Property value for 'mask' has bits outside mask '0xff'",
    );
    objectPropertyParse(w, "mode", "on");
    expect(w.mode).toBe(1);
    const reply = qomListProperties("test-widget");
    expect("return" in reply).toBe(true);
    const props = "return" in reply ? reply.return : [];
    const byName = Object.fromEntries(props.map((p) => [p.name, p]));
    expect(byName.flag).toEqual({ name: "flag", type: "bool", "default-value": true });
    expect(byName.mode).toEqual({
      name: "mode",
      type: "OnOffAuto",
      description: "on/off/auto",
      "default-value": "auto",
    });
    expect(byName.mem?.type).toBe("size");
    expect(byName.name?.type).toBe("str");
    expect(byName.peer?.type).toBe("link<device>");
    expect(byName.realized?.type).toBe("bool");
  });

  it("a link property holds its target and refuses changes after realize", () => {
    const w = qdevNew<Widget>("test-widget");
    const target = qdevNew<Widget>("test-widget");
    qdevRealize(target);
    const path = objectGetCanonicalPath(target)!;
    objectPropertySetStr(w, "peer", path);
    expect(w.peer).toBe(target);
    expect(target.ref).toBe(3);
    qdevRealize(w);
    w.id = "w0";
    expect(qomErrorOf(() => objectPropertySetStr(w, "peer", "")).message).toBe(
      "Attempt to set link property 'peer' on device 'w0' (type 'test-widget') after it was realized",
    );
  });
});

describe("global properties", () => {
  it("[qom §11.15] apply to the driver and its subclasses, in order, before object_new returns", () => {
    qdevPropRegisterGlobal({ driver: "x86-cpu", property: "apic-id", value: "7" });
    qdevPropRegisterGlobal({ driver: "SandyBridge-x86_64-cpu", property: "apic-id", value: "9" });
    qdevPropRegisterGlobal({ driver: "x86-cpu", property: "vmx", value: "on" });
    const snb = qdevNew<X86CPU>("SandyBridge-x86_64-cpu");
    const q64 = qdevNew<X86CPU>("qemu64-x86_64-cpu");
    expect(snb.apicId).toBe(9);
    expect(q64.apicId).toBe(7);
    expect(objectPropertyGetBool(q64, "vmx")).toBe(true);
  });

  it("compat properties come first: accelerator, machine, then sugar", () => {
    objectSetAcceleratorCompatProps([{ driver: "test-widget", property: "name", value: "accel" }]);
    objectSetMachineCompatProps([{ driver: "test-widget", property: "name", value: "machine" }]);
    const w = qdevNew<DeviceState & { name: string }>("test-widget");
    expect(w.name).toBe("machine");
    objectRegisterSugarProp("test-widget", "name", "sugar");
    expect(qdevNew<DeviceState & { name: string }>("test-widget").name).toBe("sugar");
  });

  it("a bad global is fatal for a cold-plugged device, with QEMU's prefix", () => {
    qdevPropRegisterGlobal({ driver: "test-widget", property: "flag", value: "perhaps" });
    const e = qomErrorOf(() => qdevNew("test-widget"));
    expect(e.message).toBe(
      "can't apply global test-widget.flag=perhaps: Parameter 'flag' expects 'on' or 'off'",
    );
    expect(e.fatal).toBe(true);
  });

  it("warns about globals for unknown classes", () => {
    qdevPropRegisterGlobal({ driver: "no-such-device", property: "x", value: "1" });
    const warnings: string[] = [];
    setWarnReporter((m) => warnings.push(m));
    expect(qdevPropCheckGlobals()).toBe(1);
    expect(warnings).toEqual(["global no-such-device.x has invalid class name"]);
  });
});

describe("hotplug", () => {
  it("a device created once the machine is ready is hotplugged; a non-hotpluggable one refuses", () => {
    typeRegisterStatic<DeviceClass, DeviceState>({
      name: "test-coldplug-only",
      parent: TYPE_DEVICE,
      classInit: (dc) => {
        dc.hotpluggable = false;
      },
    });
    const cold = qdevNew("test-coldplug-only");
    expect(cold.hotplugged).toBe(false);
    for (const p of [
      PHASE_ACCEL_CREATED,
      PHASE_LATE_BACKENDS_CREATED,
      PHASE_MACHINE_INITIALIZED,
      PHASE_MACHINE_READY,
    ] as const) {
      phaseAdvance(p);
    }
    const hot = qdevNew("test-coldplug-only");
    expect(hot.hotplugged).toBe(true);
    expect(objectPropertyGetBool(hot, "hotplugged")).toBe(true);
    expect(objectPropertyGetBool(hot, "hotpluggable")).toBe(false);
    expect(qomErrorOf(() => qdevRealize(hot)).message).toBe(
      "Device 'test-coldplug-only' does not support hotplugging",
    );
    expect(qomErrorOf(() => phaseAdvance(PHASE_MACHINE_READY)).fatal).toBe(true);
  });
});
