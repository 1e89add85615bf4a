/**
 * End to end: QEMU pushes a register state VT-x refuses. With -S the VM waits; TR is
 * then made to hold an available (type 9) instead of a busy TSS — what a bad migration
 * stream or a debugger write can leave in CPUX86State — and the VM is started: QEMU's
 * KVM_SET_SREGS is accepted, but VM entry fails its guest-state check (SDM 27.3.1.2, which
 * kvm_intel names in the kernel log), KVM_RUN returns KVM_EXIT_FAIL_ENTRY with 0x80000021,
 * and QEMU prints kvm_arch_handle_exit's lines, the register dump, and stops the VM.
 */
import { HostKernel, kvmModule } from "@glassvm/kvm-kernel";
import { kvmIntelModule } from "@glassvm/vmx";
import { describe, expect, it } from "vitest";
import { cpuSynchronizeState } from "../src/accel/kvm/kvm-accel-ops.js";
import { resumeAllVcpus } from "../src/system/cpus.js";
import { qemuInit, qemuMainLoop } from "../src/system/vl.js";
import { cpuForeach, DESC_P_MASK, DESC_TYPE_SHIFT, type X86CPU } from "../src/target/i386/cpu.js";
import { romWith } from "./qemu-firmware.js";

describe("KVM_EXIT_FAIL_ENTRY: QEMU's messages and register dump", () => {
  it("prints hardware error 0x80000021, the hint, the dump, and stops", () => {
    const kernel = new HostKernel();
    kernel.loadModule(kvmModule(kvmIntelModule(kernel)));
    const os = kernel.spawn("qemu-system-x86_64");
    const rom = romWith([0xf4]);
    const stderr: string[] = [];
    const inst = qemuInit(["qemu-system-x86_64", "-m", "16", "-bios", "fw.bin", "-S"], {
      os,
      files: (p) => (p === "fw.bin" ? rom : null),
      stdout: () => {},
      stderr: (t) => stderr.push(t),
    });
    expect(inst.runstate).toBe("prelaunch");
    for (const cpu of cpuForeach()) {
      // As a debugger does: cpu_synchronize_state, then change env (pushed at the next run).
      cpuSynchronizeState(cpu);
      (cpu as X86CPU).env.tr.flags = DESC_P_MASK | (9 << DESC_TYPE_SHIFT);
    }
    // `cont`: vm_start.
    resumeAllVcpus();
    inst.runstate = "running";
    expect(qemuMainLoop(inst, 100)).toBeNull();
    expect(inst.runstate).toBe("internal-error");
    expect(kernel.log).toContain(
      "kvm_intel: VM-entry failure: 27.3.1.2 guest-tr-type: GUEST_TR_AR_BYTES = 0x89 has type 9; TR needs a busy TSS (11 or 3)",
    );

    const out = stderr.filter((l) => !l.includes("warning:")).join("");
    expect(out).toMatch(
      /^KVM: entry failed, hardware error 0x80000021\n\nIf you're running a guest on an Intel machine without unrestricted mode\nsupport, .*\nwhich is not supported on less recent Intel processors.\n\nEAX=/s,
    );
    const dump = out.slice(out.indexOf("EAX=")).split("\n");
    // The reset state QEMU pushed (real mode: no DPL/type decode), TR as refused.
    expect(dump.slice(0, 3)).toEqual([
      "EAX=00000000 EBX=00000000 ECX=00000000 EDX=00060fb1",
      "ESI=00000000 EDI=00000000 EBP=00000000 ESP=00000000",
      "EIP=0000fff0 EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0",
    ]);
    expect(dump[4]).toBe("CS =f000 ffff0000 0000ffff 00009b00");
    expect(dump[10]).toBe("TR =0000 00000000 0000ffff 00008900");
    expect(dump.slice(11, 16)).toEqual([
      "GDT=     00000000 0000ffff",
      "IDT=     00000000 0000ffff",
      "CR0=60000010 CR2=00000000 CR3=00000000 CR4=00000000",
      "DR0=0000000000000000 DR1=0000000000000000 DR2=0000000000000000 DR3=0000000000000000 ",
      "DR6=00000000ffff0ff0 DR7=0000000000000400",
    ]);
    // Code=: the ROM's last 16 bytes around the reset vector (jmp near 0xF000), then
    // nothing above 4 GiB.
    expect(dump[17]).toBe(
      `Code=${"f4 ".repeat(20)}<e9> 0d f0${" f4".repeat(13)}${" ??".repeat(14)}`,
    );
  });
});
