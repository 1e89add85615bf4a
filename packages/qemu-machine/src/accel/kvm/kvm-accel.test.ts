import {
  MODULE_INIT_QOM,
  moduleCallInit,
  objectNew,
  objectPropertyGet,
  objectPropertyParse,
} from "@glassvm/qom";
import { afterEach, describe, expect, it } from "vitest";
import type { MachineState } from "../../hw/core/machine.js";
import "../../hw/i386/pc_piix.js";
import { accelFind, accelGetClass, currentAccelName } from "../accel-common.js";
import { accelInitMachine } from "../accel-system.js";
import {
  type KVMAccelState,
  kvmAllowedReset,
  kvmEnabled,
  setKvmInitMachine,
  TYPE_KVM_ACCEL,
} from "./kvm-accel.js";

moduleCallInit(MODULE_INIT_QOM);
afterEach(() => {
  setKvmInitMachine(null);
  kvmAllowedReset();
});

describe("kvm-accel", () => {
  it("is the accelerator `kvm`, named KVM", () => {
    const ac = accelFind("kvm");
    expect(ac?.type.name).toBe(TYPE_KVM_ACCEL);
    expect(ac?.name).toBe("KVM");
    expect(accelFind("tcg")).toBeNull();
    expect(accelFind("hvf")).toBeNull();
  });

  it("has KVMState's defaults and properties", () => {
    const s = objectNew<KVMAccelState>(TYPE_KVM_ACCEL);
    expect(s).toMatchObject({
      fd: -1,
      kvmShadowMem: -1n,
      kernelIrqchipAllowed: true,
      kernelIrqchipRequired: false,
      kernelIrqchipSplit: 0,
      device: null,
      thread: "single",
    });
    objectPropertyParse(s, "kernel-irqchip", "off");
    expect(s).toMatchObject({
      kernelIrqchipAllowed: false,
      kernelIrqchipRequired: false,
      kernelIrqchipSplit: 2,
    });
    objectPropertyParse(s, "kernel-irqchip", "on");
    expect(s).toMatchObject({
      kernelIrqchipAllowed: true,
      kernelIrqchipRequired: true,
      kernelIrqchipSplit: 2,
    });
    objectPropertyParse(s, "device", "/dev/kvm2");
    expect(objectPropertyGet(s, "device")).toBe("/dev/kvm2");
    expect(() => objectPropertyGet(s, "kernel-irqchip")).toThrow(
      "Property 'kvm-accel.kernel-irqchip' is not readable",
    );
  });

  it("refuses property changes once initialised", () => {
    const s = objectNew<KVMAccelState>(TYPE_KVM_ACCEL);
    s.fd = 3;
    expect(() => objectPropertyParse(s, "kvm-shadow-mem", "0")).toThrow(
      "Cannot set properties after the accelerator has been initialized",
    );
  });

  it("init_machine runs the installed function and sets kvm_allowed", () => {
    const ms = objectNew<MachineState>("pc-i440fx-10.2-machine");
    const s = objectNew<KVMAccelState>(TYPE_KVM_ACCEL);
    let seen: unknown;
    setKvmInitMachine((accel, machine) => {
      seen = [accel, machine, kvmEnabled()];
      accel.fd = 7;
      return 0;
    });
    expect(accelInitMachine(s, ms)).toBe(0);
    expect(seen).toEqual([s, ms, true]);
    expect(ms.accelerator).toBe(s);
    expect(accelGetClass(s).name).toBe("KVM");
    expect(kvmEnabled()).toBe(true);
  });

  it("a failed init_machine leaves no accelerator", () => {
    const ms = objectNew<MachineState>("pc-i440fx-10.2-machine");
    setKvmInitMachine(() => -2);
    expect(accelInitMachine(objectNew(TYPE_KVM_ACCEL), ms)).toBe(-2);
    expect(ms.accelerator).toBeNull();
    expect(kvmEnabled()).toBe(false);
    expect(() => currentAccelName()).toThrow(); // no /machine in this test
  });
});
