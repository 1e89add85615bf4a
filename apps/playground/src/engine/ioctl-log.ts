/**
 * The ioctl log (strace's view of the QEMU process): each system call QEMU makes on
 * /dev/kvm, the VM fd and the vCPU fds, with the request's name, the fd's kind, the
 * argument decoded from Linux's struct layout, and the result or errno.
 */
import {
  decodeKvmGuestDebug,
  decodeKvmRegs,
  decodeKvmSregs,
  decodeKvmUserspaceMemoryRegion,
  errnoName,
  type IoctlArg,
  KVM_CAP_NAMES,
  KVM_CHECK_EXTENSION,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_GET_REGS,
  KVM_GET_SREGS,
  KVM_REGS_SIZE,
  KVM_SET_CPUID2,
  KVM_SET_GUEST_DEBUG,
  KVM_SET_MSRS,
  KVM_SET_REGS,
  KVM_SET_SREGS,
  KVM_SET_USER_MEMORY_REGION,
  KVM_SREGS_SIZE,
  kvmCpuid2Nent,
  kvmIoctlName,
  kvmMsrsNmsrs,
} from "@glassvm/kvm-kernel/uapi";
import { hex } from "../decode/bits.js";

export interface SyscallEntry {
  readonly seq: number;
  /** ms since the session started. */
  readonly t: number;
  /** `ioctl`, `open`, `mmap`, `close`. */
  readonly call: string;
  /** The fd's kind: `/dev/kvm`, `vm`, `vcpu 0` … (empty for open). */
  readonly fd: string;
  /** The request name for an ioctl, else the call's target. */
  readonly name: string;
  readonly args: string;
  /** The result (fd, 0, …) or `-1 EINTR`-style. */
  readonly result: string;
  readonly failed: boolean;
}

/** `0`, `fd 5`, or `-1 EINTR (…)`: an ioctl/syscall result as strace prints it. */
export function resultText(r: number, createsFd = false): string {
  if (r < 0) return `-1 ${errnoName(-r)}`;
  return createsFd ? `${r} (fd)` : String(r);
}

const regsSummary = (b: Uint8Array): string => {
  const r = decodeKvmRegs(b);
  return `{rip=${hex(r.rip)}, rsp=${hex(r.rsp)}, rax=${hex(r.rax)}, rflags=${hex(r.rflags)}, …}`;
};

const sregsSummary = (b: Uint8Array): string => {
  const s = decodeKvmSregs(b);
  return `{cs={sel=${hex(s.cs.selector)}, base=${hex(s.cs.base)}}, cr0=${hex(s.cr0)}, cr3=${hex(s.cr3)}, cr4=${hex(s.cr4)}, efer=${hex(s.efer)}, …}`;
};

/**
 * The argument of an ioctl in words. Input structs are decoded before the call; `out` is
 * the buffer after it, for the requests that fill one (KVM_GET_REGS, KVM_GET_SREGS).
 */
export function describeIoctlArg(
  request: number,
  arg: IoctlArg | undefined,
  out?: Uint8Array,
): string {
  if (arg === undefined) return "0";
  if (typeof arg === "number" || typeof arg === "bigint") {
    if (request === KVM_CHECK_EXTENSION) {
      const n = Number(arg);
      return KVM_CAP_NAMES.get(n) ?? String(n);
    }
    if (request === KVM_CREATE_VCPU) return `vcpu_id ${arg}`;
    if (request === KVM_CREATE_VM) return `type ${arg}`;
    return typeof arg === "bigint"
      ? hex(arg)
      : Number.isInteger(arg) && arg > 0xffff
        ? hex(arg)
        : String(arg);
  }
  try {
    switch (request) {
      case KVM_SET_USER_MEMORY_REGION: {
        const m = decodeKvmUserspaceMemoryRegion(arg);
        return `{slot=${m.slot}, flags=${hex(m.flags)}, guest_phys_addr=${hex(m.guestPhysAddr)}, memory_size=${hex(m.memorySize)}, userspace_addr=${hex(m.userspaceAddr)}}`;
      }
      case KVM_SET_REGS:
        return regsSummary(arg);
      case KVM_SET_SREGS:
        return sregsSummary(arg);
      case KVM_GET_REGS:
        return out && out.length >= KVM_REGS_SIZE ? `→ ${regsSummary(out)}` : "{…}";
      case KVM_GET_SREGS:
        return out && out.length >= KVM_SREGS_SIZE ? `→ ${sregsSummary(out)}` : "{…}";
      case KVM_SET_CPUID2:
        return `{nent=${kvmCpuid2Nent(arg)}, entries=[…]}`;
      case KVM_SET_MSRS:
        return `{nmsrs=${kvmMsrsNmsrs(arg)}, entries=[…]}`;
      case KVM_SET_GUEST_DEBUG:
        return `{control=${hex(decodeKvmGuestDebug(arg).control)}}`;
      default:
        return `{${arg.length} bytes}`;
    }
  } catch {
    return `{${arg.length} bytes}`;
  }
}

/** A bounded log of the newest entries, with the count of all. */
export class SyscallLog {
  readonly entries: SyscallEntry[] = [];
  total = 0;
  /** Calls by name (every one, not only those kept). */
  readonly counts = new Map<string, number>();

  constructor(readonly keep = 500) {}

  add(e: Omit<SyscallEntry, "seq">): void {
    this.entries.push({ ...e, seq: this.total++ });
    if (this.entries.length > this.keep) this.entries.splice(0, this.entries.length - this.keep);
    this.counts.set(e.name, (this.counts.get(e.name) ?? 0) + 1);
  }
}

/** The ioctl request's name (kvmIoctlName), e.g. `KVM_RUN`. */
export const ioctlName = (request: number): string => kvmIoctlName(request);
