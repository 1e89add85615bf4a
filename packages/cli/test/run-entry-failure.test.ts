/**
 * A VM entry VT-x refuses: as a debugger could, TR is left holding an available (type 9)
 * TSS before the first KVM_RUN. QEMU prints "KVM: entry failed, hardware error
 * 0x80000021" and the register dump; glassvm then prints what kvm_intel logged — the
 * SDM rule, VMCS field and value — and exits 1.
 */
import { cpuForeach, cpuSynchronizeState, type X86CPU } from "@glassvm/qemu-machine";
import { expect, it } from "vitest";
import { glassvmRun } from "../src/index.js";
import { HELLO_FW, testIo, withoutWarnings } from "./firmware.js";

const DESC_P_MASK = 1 << 15;
const DESC_TYPE_SHIFT = 8;

it("names the failed check after QEMU's messages", () => {
  const t = testIo({ "fw.bin": HELLO_FW });
  const status = glassvmRun(
    ["glassvm", "-m", "16", "-bios", "fw.bin", "-debugcon", "stdio"],
    t.io,
    {
      afterInit: () => {
        for (const cpu of cpuForeach()) {
          // cpu_synchronize_state first, as gdbstub does: env is then what KVM gets.
          cpuSynchronizeState(cpu);
          (cpu as X86CPU).env.tr.flags = DESC_P_MASK | (9 << DESC_TYPE_SHIFT);
        }
      },
    },
  );
  expect(status).toBe(1);
  expect(t.out()).toBe("");
  const err = withoutWarnings(t.err());
  expect(err).toMatch(/^KVM: entry failed, hardware error 0x80000021\n/);
  const qemuEnd = err.indexOf("Code=");
  const dmesg = err.indexOf("glassvm: host kernel log (dmesg):\n");
  expect(qemuEnd).toBeGreaterThan(0);
  expect(dmesg).toBeGreaterThan(qemuEnd);
  expect(err.slice(dmesg)).toContain(
    "  kvm_intel: VM-entry failure: 27.3.1.2 guest-tr-type: GUEST_TR_AR_BYTES = 0x89 has type 9; TR needs a busy TSS (11 or 3)\n",
  );
});
