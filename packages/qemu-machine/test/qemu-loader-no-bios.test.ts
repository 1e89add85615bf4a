/**
 * `-device loader` without `-bios`: no default firmware is needed (or mapped); the image
 * is in RAM. With cpu-num, EIP = addr but CS base stays 0xFFFF0000 (x86_cpu_set_pc), so
 * the CPU fetches from unbacked memory above 4 GiB − 64 KiB: the VM stops.
 */
import { describe, expect, it } from "vitest";
import { addressSpaceMemory } from "../src/system/physmem.js";
import { qemuInit, qemuMainLoop } from "../src/system/vl.js";
import { qemuTestEnv } from "./qemu-firmware.js";

describe("-device loader without -bios", () => {
  it("loads into RAM and maps no firmware", () => {
    const code = new Uint8Array([0xf4, 0xeb, 0xfd]);
    const { env, stderr } = qemuTestEnv({ "code.bin": code });
    const argv = [
      "qemu-system-x86_64",
      "-m",
      "8",
      "-device",
      "loader,file=code.bin,addr=0x1000,cpu-num=0",
    ];
    const inst = qemuInit(argv, env);
    expect(inst.machine.firmware).toBeNull();
    expect(inst.kvm.slots.map((s) => s.gpa)).toEqual([0]);
    expect(addressSpaceMemory().read(0x1000, 1)).toBe(0xf4);
    // Instruction fetch at 0xFFFF1000 hits no memory: KVM reports an emulation failure
    // and QEMU stops the VM (runstate internal-error).
    expect(qemuMainLoop(inst, 100)).toBeNull();
    expect(inst.runstate).toBe("internal-error");
    const errors = stderr.filter((l) => !l.includes("warning:"));
    // kvm_handle_internal_error writes with fprintf(stderr): no program prefix.
    expect(errors[0]).toBe("KVM internal error. Suberror: 1\n");
    expect(errors.at(-2)).toBe("emulation failure\n");
    // Then cpu_dump_state(CPU_DUMP_CODE): nothing is mapped around CS:EIP.
    expect(errors.at(-1)).toMatch(/^EAX=00000000 .*\nEIP=00001000 /s);
    expect(errors.at(-1)).toMatch(/\nCode=(\?\? ){20}<\?\?> (\?\? ){28}\?\?\n$/);
  });
});
