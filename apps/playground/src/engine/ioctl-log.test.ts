import {
  EBADF,
  emptyKvmRegs,
  encodeKvmRegs,
  encodeKvmUserspaceMemoryRegion,
  KVM_CAP_USER_MEMORY,
  KVM_CHECK_EXTENSION,
  KVM_CREATE_VCPU,
  KVM_GET_REGS,
  KVM_SET_USER_MEMORY_REGION,
} from "@glassvm/kvm-kernel/uapi";
import { describe, expect, it } from "vitest";
import { describeIoctlArg, resultText, SyscallLog } from "./ioctl-log.js";

describe("ioctl log", () => {
  it("decodes arguments from Linux's structs", () => {
    const region = encodeKvmUserspaceMemoryRegion({
      slot: 0,
      flags: 0,
      guestPhysAddr: 0n,
      memorySize: 0x400_0000n,
      userspaceAddr: 0x7f00_0000_0000n,
    });
    expect(describeIoctlArg(KVM_SET_USER_MEMORY_REGION, region)).toBe(
      "{slot=0, flags=0x0, guest_phys_addr=0x0, memory_size=0x4000000, userspace_addr=0x7f0000000000}",
    );
    expect(describeIoctlArg(KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY)).toBe("KVM_CAP_USER_MEMORY");
    expect(describeIoctlArg(KVM_CREATE_VCPU, 0)).toBe("vcpu_id 0");
    const regs = encodeKvmRegs({ ...emptyKvmRegs(), rip: 0xfff0n, rflags: 2n });
    expect(describeIoctlArg(KVM_GET_REGS, regs, regs)).toBe(
      "→ {rip=0xfff0, rsp=0x0, rax=0x0, rflags=0x2, …}",
    );
  });

  it("prints results as strace does", () => {
    expect(resultText(0)).toBe("0");
    expect(resultText(5, true)).toBe("5 (fd)");
    expect(resultText(-EBADF)).toBe("-1 EBADF");
  });

  it("keeps the newest entries and counts all", () => {
    const log = new SyscallLog(2);
    for (let i = 0; i < 5; i++) {
      log.add({
        t: i,
        call: "ioctl",
        fd: "vcpu 0",
        name: "KVM_RUN",
        args: "0",
        result: "0",
        failed: false,
      });
    }
    expect(log.total).toBe(5);
    expect(log.entries.map((e) => e.seq)).toEqual([3, 4]);
    expect(log.counts.get("KVM_RUN")).toBe(5);
  });
});
