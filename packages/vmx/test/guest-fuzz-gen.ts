/**
 * The random-guest soak for kvm_intel, shared by test/guest-fuzz.test.ts (one fixed seed in
 * the default suite) and scripts/guest-fuzz.ts (the long soak). The standard it holds the
 * model to: a bad guest gets the exit real hardware gives it (#UD, a triple fault →
 * KVM_EXIT_SHUTDOWN, invalid guest state → KVM_EXIT_FAIL_ENTRY), never a thrown host
 * exception.
 *
 * One host kernel with kvm_intel loaded and one VMM process serve every guest (rebooted only
 * after an exception escaped a system call). Each iteration is a fresh VM with one vCPU:
 *  - memory: 1 MiB of RAM at gpa 0, sometimes split around a hole or with a read-only first
 *    64 KiB, sometimes a second 64 KiB slot (after the RAM, above 4 GiB, or read-only or
 *    writable just below 4 GiB where the reset vector is), sometimes dirty-logged;
 *  - a starting mode: the vCPU's reset state, real mode, flat 32-bit protected mode with or
 *    without paging, or 64-bit long mode (guests.ts sets them up), with or without a valid
 *    IDT/IVT, an extended GDT (ring-3, TSS, LDT, call-gate, 16-bit and not-present
 *    descriptors), KVM_SET_CPUID2 and a few MSRs;
 *  - code at the entry point: random bytes, or random bytes mixed with snippets that make
 *    exits and faults (port and string I/O, CPUID, RDMSR/WRMSR, control registers,
 *    LGDT/LIDT/LTR/LLDT, INT n, far jumps and IRET to random selectors, MOV SS shadows,
 *    MMIO and out-of-RAM accesses, VMCALL, the VMX instructions, SYSCALL/SYSENTER, …);
 *  - sometimes register state Linux lets userspace set but VM entry refuses (reserved
 *    RFLAGS bits, bad segment types, CR0.PG without PE, EFER.LMA mismatches, a pending
 *    event), KVM_INTERRUPT or KVM_NMI when the vCPU can take one, single-stepping or
 *    breakpoints with KVM_SET_GUEST_DEBUG.
 * Then up to `runsPerGuest` KVM_RUNs, answering port and MMIO reads with random bytes, until
 * KVM_EXIT_HLT, _SHUTDOWN, _FAIL_ENTRY or _INTERNAL_ERROR. A guest that keeps KVM busy is
 * kicked as QEMU kicks a vCPU thread: SIGUSR1, blocked in the process and unblocked by the
 * vCPU's KVM_SET_SIGNAL_MASK, sent from a kvm_entry probe after a few entries.
 *
 * The invariants, checked after every step (each violation names the seed and iteration;
 * `--first <iteration> --iterations 1` replays that guest alone):
 *  - no exception escapes a system call; a failure is an errno Linux returns for that ioctl;
 *  - KVM_RUN returns 0 with an exit a VM without extra capabilities can see, or -EINTR with
 *    KVM_EXIT_INTR; a KVM_RUN returns within 2 s of wall time;
 *  - KVM_EXIT_FAIL_ENTRY carries a basic exit reason 33/34/41 with bit 31 set, or a
 *    VM-instruction error 1..28; and it never happens to a guest whose registers userspace
 *    left valid (a guest cannot make its own state unenterable);
 *  - KVM_EXIT_INTERNAL_ERROR is never KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON (an exit
 *    kvm_intel has no handler for);
 *  - KVM_EXIT_IO data lies in the PIO page; KVM_EXIT_MMIO is for an address no writable
 *    slot backs (no slot at all, for a read);
 *  - KVM_GET_REGS, KVM_GET_SREGS and KVM_GET_VCPU_EVENTS succeed after every exit, and RIP
 *    is canonical;
 *  - printk gains no line with BUG, WARNING or "unexpected";
 *  - closing the VM frees it: no VM left, no fd or mapping left, no kernel page leaked.
 * A violation of a finding already reported and out of this package's reach (KNOWN_ISSUES)
 * is counted apart, in `known`.
 */
import { HostKernel, type HostProcess, kvmGlobal, kvmModule } from "@glassvm/kvm-kernel";
import {
  decodeKvmRegs,
  decodeKvmSregs,
  decodeKvmVcpuEvents,
  EAGAIN,
  EBUSY,
  EEXIST,
  EINTR,
  EINVAL,
  ENXIO,
  encodeKvmCpuid2,
  encodeKvmGuestDebug,
  encodeKvmInterrupt,
  encodeKvmMpState,
  encodeKvmMsrs,
  encodeKvmRegs,
  encodeKvmSregs,
  encodeKvmUserspaceMemoryRegion,
  encodeKvmVcpuEvents,
  errnoName,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_EXIT_DEBUG,
  KVM_EXIT_FAIL_ENTRY,
  KVM_EXIT_HLT,
  KVM_EXIT_INTERNAL_ERROR,
  KVM_EXIT_INTR,
  KVM_EXIT_IO,
  KVM_EXIT_IRQ_WINDOW_OPEN,
  KVM_EXIT_MMIO,
  KVM_EXIT_REASON_NAMES,
  KVM_EXIT_SET_TPR,
  KVM_EXIT_SHUTDOWN,
  KVM_GET_REGS,
  KVM_GET_SREGS,
  KVM_GET_VCPU_EVENTS,
  KVM_GET_VCPU_MMAP_SIZE,
  KVM_GUESTDBG_ENABLE,
  KVM_GUESTDBG_SINGLESTEP,
  KVM_GUESTDBG_USE_HW_BP,
  KVM_GUESTDBG_USE_SW_BP,
  KVM_INTERNAL_ERROR_NAMES,
  KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON,
  KVM_INTERRUPT,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY,
  KVM_MP_STATE_HALTED,
  KVM_MP_STATE_INIT_RECEIVED,
  KVM_MP_STATE_RUNNABLE,
  KVM_MP_STATE_SIPI_RECEIVED,
  KVM_MP_STATE_UNINITIALIZED,
  KVM_NMI,
  KVM_PIO_PAGE_OFFSET,
  KVM_REGS_SIZE,
  KVM_RUN,
  KVM_SET_CPUID2,
  KVM_SET_GUEST_DEBUG,
  KVM_SET_MP_STATE,
  KVM_SET_MSRS,
  KVM_SET_REGS,
  KVM_SET_SIGNAL_MASK,
  KVM_SET_SREGS,
  KVM_SET_TSS_ADDR,
  KVM_SET_USER_MEMORY_REGION,
  KVM_SET_VCPU_EVENTS,
  KVM_SREGS_SIZE,
  KVM_VCPU_EVENTS_SIZE,
  Kvm,
  KvmError,
  type KvmMsrEntry,
  type KvmSegment,
  type KvmSregs,
  type KvmVcpuEvents,
  kvmIoctlName,
  PAGE_SIZE,
  SIG_BLOCK,
  SIGUSR1,
  VcpuFd,
  VmFd,
} from "@glassvm/kvm-kernel/uapi";
import { type KvmIntelModule, kvmIntelModule, VMX_SUPPORTED_CPUID } from "../src/index.js";
import {
  GDT_BASE,
  type Guest,
  le16,
  le32,
  le64,
  longMode,
  protectedMode,
  realMode,
} from "./guests.js";

// ─────────────────────────────── the PRNG ───────────────────────────────

/** Mulberry32: one 32-bit word of state, a good spread, reproducible from one seed. */
export class Mulberry32 {
  private s: number;

  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  /** A uniformly distributed u32. */
  next(): number {
    this.s = (this.s + 0x6d2b_79f5) | 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : Math.floor((this.next() / 2 ** 32) * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() / 2 ** 32 < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("pick from an empty list");
    return items[this.int(items.length)]!;
  }

  u64(): bigint {
    return (BigInt(this.next()) << 32n) | BigInt(this.next());
  }

  bytes(n: number): number[] {
    return Array.from({ length: n }, () => this.next() & 0xff);
  }

  /** Random bytes over all of `buf`. */
  fill(buf: Uint8Array): void {
    let i = 0;
    for (; i + 4 <= buf.length; i += 4) {
      const w = this.next();
      buf[i] = w;
      buf[i + 1] = w >>> 8;
      buf[i + 2] = w >>> 16;
      buf[i + 3] = w >>> 24;
    }
    for (; i < buf.length; i++) buf[i] = this.next();
  }
}

/** Iteration `i`'s own seed: each guest depends only on (seed, i), so it replays alone. */
export function guestSeed(seed: number, i: number): number {
  let h = (seed ^ Math.imul(i + 1, 0x9e37_79b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85eb_ca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2_ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

// ─────────────────────────────── the guest's memory ───────────────────────────────

/*
 * Guest-physical layout (guests.ts fixes the GDT at 0x500 and the page tables at
 * 0x2000–0x4fff; the rest is this file's):
 *   0x0_0000  IVT (real mode)
 *   0x0_0500  GDT: guests.ts's four descriptors, then GDT_EXTRA
 *   0x0_1000  CODE: the default entry point
 *   0x0_2000  page tables (32-bit PD; or PML4, PDPT, PD for 0–1 GiB)
 *   0x0_5000  long mode: the PD for 3–4 GiB (LAPIC, IOAPIC, the reset vector)
 *   0x0_6000  IDT (256 gates)
 *   0x0_8000  HANDLER, every valid gate's target; the stack grows down from here
 *   0x0_8800  TSS
 *   0x0_9000  SCRATCH: far pointers, descriptor-table images, VMX regions (to 0x9fff)
 */
const CODE = 0x1000;
const PD_HIGH = 0x5000;
const IDT = 0x6000;
const HANDLER = 0x8000;
const STACK_TOP = 0x8000;
const TSS = 0x8800;
const LDT = 0x9800;
const SCRATCH = 0x9000;
const SCRATCH_END = LDT;
const RAM_SIZE = 0x10_0000;
const EXTRA_SIZE = 0x1_0000;
/** Top of the 32-bit space: where the reset vector's ROM goes. */
const ROM_BASE = 0xffff_0000;
/** A hole in "hole" layouts (the legacy VGA window's place). */
const HOLE_START = 0x8_0000;
const HOLE_END = 0xa_0000;
/** The read-only first part of "ro-low" layouts. */
const RO_LOW_SIZE = 0x1_0000;

/** Descriptors after guests.ts's null, code32 (0x08), data32 (0x10) and code64 (0x18). */
const GDT_EXTRA: readonly bigint[] = [
  0x00cf_fb00_0000_ffffn, // 0x20 code32, DPL 3
  0x00cf_f300_0000_ffffn, // 0x28 data32, DPL 3
  0x00af_fb00_0000_ffffn, // 0x30 code64, DPL 3
  BigInt(0x0000_8900_0000_0067 + TSS * 0x1_0000), // 0x38 32-bit TSS (available) at TSS
  BigInt(0x0000_8200_0000_00ff + LDT * 0x1_0000), // 0x40 LDT at LDT
  BigInt(0x0000_ec00_0008_0000 + HANDLER), // 0x48 32-bit call gate to 0x08:HANDLER, DPL 3
  0x0000_9b00_0000_ffffn, // 0x50 code16
  0x0000_9300_0000_ffffn, // 0x58 data16
  0x00cf_9f00_0000_ffffn, // 0x60 code32, conforming
  0x00cf_9700_0000_ffffn, // 0x68 data32, expand-down
  0x00cf_1b00_0000_ffffn, // 0x70 code32, not present
];
/** GDTR.limit covering the extended GDT: 16 descriptors. */
const GDT_EXT_LIMIT = 0x7f;

/** A present DPL-0 interrupt gate to `cs`:HANDLER (the first 8 bytes of a 64-bit one). */
const gate = (cs: number): number[] => [...le16(HANDLER), ...le16(cs), 0, 0x8e, ...le16(0)];

/** Selectors worth loading: every descriptor above, with RPLs, the LDT bit, and beyond. */
const SELECTORS: readonly number[] = [
  0x00, 0x03, 0x08, 0x0b, 0x10, 0x13, 0x18, 0x23, 0x2b, 0x33, 0x38, 0x40, 0x48, 0x4b, 0x50, 0x58,
  0x60, 0x68, 0x70, 0x78, 0x04, 0x0c, 0x80, 0xfff8, 0xffff,
];

/** Ports: debug, POST, the 8042, CMOS, COM1, PCI config, fw_cfg, A20, and the last. */
const PORTS: readonly number[] = [
  0xe9, 0x80, 0x60, 0x64, 0x70, 0x71, 0x3f8, 0x3fd, 0xcf8, 0xcfc, 0x510, 0x511, 0x92, 0x402, 0xffff,
];

/** MSRs: KVM's, the VMX capability ones, x2APIC, kvmclock, Hyper-V, and unknown ones. */
const MSRS: readonly number[] = [
  0x10, 0x1b, 0x3a, 0x48, 0x8b, 0xfe, 0x174, 0x175, 0x176, 0x179, 0x17a, 0x1a0, 0x1d9, 0x200, 0x20f,
  0x250, 0x277, 0x2ff, 0x480, 0x481, 0x485, 0x48b, 0x491, 0x6e0, 0x802, 0x808, 0x830, 0x83f,
  0xc000_0080, 0xc000_0081, 0xc000_0082, 0xc000_0083, 0xc000_0084, 0xc000_0100, 0xc000_0101,
  0xc000_0102, 0xc000_0103, 0x4b56_4d00, 0x4b56_4d01, 0x4b56_4d02, 0x11, 0x12, 0x4000_0000,
  0x4000_0001, 0xdead, 0xffff_ffff,
];

/** Data addresses worth touching: structures, slot edges, the hole, MMIO, ROM, nothing. */
const HOT_ADDRESSES: readonly number[] = [
  0x0,
  0x500,
  0x2000,
  0x4000,
  IDT,
  0x7ff0,
  SCRATCH,
  HOLE_START,
  HOLE_END - 4,
  0xf_fffc,
  RAM_SIZE,
  0x10_0ffc,
  0xfec0_0000,
  0xfee0_0000,
  0xfee0_0030,
  0xfee0_0300,
  ROM_BASE,
  0xffff_fff0,
  0xdead_b000,
  0x4000_0000,
  0x7fff_fffc,
];

interface SlotPlan {
  readonly slot: number;
  readonly gpa: number;
  readonly size: number;
  /** The VMM mapping behind it and the offset in it. */
  readonly map: "ram" | "extra";
  readonly offset: number;
  readonly flags: number;
}

// ─────────────────────────────── the snippet assembler ───────────────────────────────

type Bits = 16 | 32 | 64;

/** What a snippet is assembled for, and the memory it may prepare. */
class Asm {
  /** Bytes to place in guest memory before the first run: [gpa, bytes]. */
  readonly pokes: [number, number[]][] = [];
  private scratchNext = SCRATCH;

  constructor(
    readonly rng: Mulberry32,
    readonly bits: Bits,
  ) {}

  /** mov r32, imm32 (with an operand-size prefix in 16-bit code). reg: EAX=0 … EDI=7. */
  mov(reg: number, value: number): number[] {
    return [...this.o32(), 0xb8 | reg, ...le32(value >>> 0)];
  }

  /** 0x66 in 16-bit code: what makes the next instruction use 32-bit operands. */
  o32(): number[] {
    return this.bits === 16 ? [0x66] : [];
  }

  /**
   * ModRM (+SIB) and displacement for an absolute memory operand with `reg` in ModRM.reg:
   * [disp16] in 16-bit code, [disp32] in 32-bit code, [disp32] through a SIB with no base
   * in 64-bit code (ModRM.rm = 101 alone would be RIP-relative there).
   */
  mem(reg: number, addr: number): number[] {
    if (this.bits === 16) return [(reg << 3) | 6, ...le16(addr & 0xffff)];
    if (this.bits === 32) return [(reg << 3) | 5, ...le32(addr >>> 0)];
    return [(reg << 3) | 4, 0x25, ...le32(addr & 0x7fff_ffff)];
  }

  /** push imm in the current operand size (sign-extended to 64 bits in 64-bit code). */
  push(value: number): number[] {
    return this.bits === 16 ? [0x68, ...le16(value & 0xffff)] : [0x68, ...le32(value >>> 0)];
  }

  /** Room in SCRATCH holding `bytes`: its address (SCRATCH again once it is full). */
  scratch(bytes: number[]): number {
    if (this.scratchNext + bytes.length > SCRATCH_END) this.scratchNext = SCRATCH;
    const at = this.scratchNext;
    this.scratchNext += (bytes.length + 15) & ~15;
    this.pokes.push([at, bytes]);
    return at;
  }

  port(): number {
    return this.rng.chance(0.8) ? this.rng.pick(PORTS) : this.rng.int(0x1_0000);
  }

  selector(): number {
    return this.rng.chance(0.85) ? this.rng.pick(SELECTORS) : this.rng.int(0x1_0000);
  }

  /** A data address: a hot one, somewhere in RAM, or anything in 4 GiB. */
  address(): number {
    const rng = this.rng;
    const roll = rng.int(10);
    if (roll < 5) return rng.pick(HOT_ADDRESSES);
    if (roll < 8) return rng.int(RAM_SIZE);
    return rng.next();
  }

  /** A value with a few interesting shapes. */
  value(): number {
    const rng = this.rng;
    return rng.chance(0.5) ? rng.pick([0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff]) : rng.next();
  }
}

interface Snippet {
  readonly name: string;
  readonly emit: (a: Asm) => number[];
}

const CR0_BITS = [
  1, 2, 4, 8, 0x10, 0x20, 0x1_0000, 0x4_0000, 0x2000_0000, 0x4000_0000, 0x8000_0000,
] as const;
const CR4_BITS = [
  1, 2, 4, 8, 0x10, 0x20, 0x40, 0x80, 0x100, 0x200, 0x400, 0x800, 0x1000, 0x2000, 0x4000, 0x1_0000,
  0x2_0000, 0x4_0000, 0x10_0000, 0x20_0000, 0x40_0000, 0x80_0000,
] as const;
/** The instruction that may sit in a MOV-SS or STI shadow. */
const SHADOWED: readonly (readonly number[])[] = [
  [0xf4], // hlt
  [0xcc], // int3
  [0x0f, 0x0b], // ud2
  [0x0f, 0xa2], // cpuid
  [0xe6, 0x80], // out 0x80, al
  [0x90], // nop
  [0xcd, 0x21], // int 0x21
  [0x8e, 0xd0], // mov ss, ax
  [0xfb], // sti
  [0x0f, 0x01, 0xc1], // vmcall
  [0xf1], // int1
];

const SNIPPETS: readonly Snippet[] = [
  {
    name: "out-imm",
    emit: (a) => [
      ...a.mov(0, a.value()),
      ...a.rng.pick([[0xe6], [0xe7], [0x66, 0xe7]]),
      a.port() & 0xff,
    ],
  },
  { name: "in-imm", emit: (a) => [...a.rng.pick([[0xe4], [0xe5], [0x66, 0xe5]]), a.port() & 0xff] },
  {
    name: "out-dx",
    emit: (a) => [
      ...a.mov(2, a.port()),
      ...a.mov(0, a.value()),
      ...a.rng.pick([[0xee], [0xef], [0x66, 0xef]]),
    ],
  },
  { name: "in-dx", emit: (a) => [...a.mov(2, a.port()), ...a.rng.pick([[0xec], [0xed]])] },
  {
    name: "rep-outs",
    emit: (a) => [
      ...a.mov(6, a.rng.chance(0.7) ? a.rng.int(RAM_SIZE) : a.address()), // esi
      ...a.mov(1, a.rng.pick([0, 1, 2, 5, 0x400, 0x1001, a.rng.int(0x3000)])), // ecx
      ...a.mov(2, a.port()),
      ...(a.rng.chance(0.2) ? [0xfd] : []), // std
      0xf3,
      ...a.rng.pick([[0x6e], [0x6f], [0x66, 0x6f]]),
      0xfc, // cld
    ],
  },
  {
    name: "rep-ins",
    emit: (a) => [
      ...a.mov(7, a.rng.chance(0.6) ? a.rng.int(RAM_SIZE) : a.address()), // edi
      ...a.mov(1, a.rng.pick([0, 1, 3, 0x80, 0x1001, a.rng.int(0x3000)])),
      ...a.mov(2, a.port()),
      ...(a.rng.chance(0.2) ? [0xfd] : []),
      0xf3,
      ...a.rng.pick([[0x6c], [0x6d], [0x66, 0x6d]]),
      0xfc,
    ],
  },
  {
    name: "cpuid",
    emit: (a) => [
      ...a.mov(
        0,
        a.rng.pick([0, 1, 2, 4, 6, 7, 0xb, 0xd, 0x4000_0000, 0x8000_0000, 0x8000_0008, a.value()]),
      ),
      ...a.mov(1, a.rng.int(3)),
      0x0f,
      0xa2,
    ],
  },
  { name: "rdmsr", emit: (a) => [...a.mov(1, a.rng.pick(MSRS)), 0x0f, 0x32] },
  {
    name: "wrmsr",
    emit: (a) => [
      ...a.mov(1, a.rng.pick(MSRS)),
      ...a.mov(0, a.value()),
      ...a.mov(2, a.rng.chance(0.6) ? 0 : a.value()),
      0x0f,
      0x30,
    ],
  },
  {
    name: "mov-cr-imm",
    // mov eax, v; mov crN, eax (CR1, CR5–CR7 are #UD).
    emit: (a) => [...a.mov(0, a.value()), 0x0f, 0x22, 0xc0 | (a.rng.int(8) << 3)],
  },
  {
    name: "mov-cr-toggle",
    // mov eax, crN; xor eax, bit; mov crN, eax.
    emit: (a) => {
      const cr = a.rng.pick([0, 0, 3, 4, 4]);
      const bit =
        cr === 0 ? a.rng.pick(CR0_BITS) : cr === 4 ? a.rng.pick(CR4_BITS) : a.rng.next() & ~0xfff;
      return [
        ...[0x0f, 0x20, 0xc0 | (cr << 3)],
        ...a.o32(),
        0x35,
        ...le32(bit >>> 0),
        ...[0x0f, 0x22, 0xc0 | (cr << 3)],
      ];
    },
  },
  {
    name: "mov-from-cr",
    emit: (a) => [0x0f, 0x20, 0xc0 | (a.rng.int(8) << 3) | a.rng.int(8)],
  },
  {
    name: "cr8",
    // REX.R reaches CR8 in 64-bit mode (elsewhere 0x44 is INC ESP).
    emit: (a) => [...a.mov(0, a.rng.int(20)), 0x44, 0x0f, a.rng.pick([0x20, 0x22]), 0xc0],
  },
  {
    name: "clts-lmsw-smsw",
    emit: (a) =>
      a.rng.pick([
        [0x0f, 0x06], // clts
        [...a.mov(0, a.value()), 0x0f, 0x01, 0xf0], // lmsw ax
        [0x0f, 0x01, 0xe0], // smsw eax
      ]),
  },
  {
    name: "lgdt-lidt",
    emit: (a) => {
      const rng = a.rng;
      const limit = rng.pick([0, 0x1f, GDT_EXT_LIMIT, 0xfff, 0xffff, rng.int(0x1_0000)]);
      const base = rng.pick([GDT_BASE, IDT, 0, RAM_SIZE, 0xfee0_0000, rng.next()]);
      const image = [...le16(limit), ...le32(base), ...le32(rng.chance(0.8) ? 0 : rng.next())];
      const at = a.scratch(image);
      return [...a.o32(), 0x0f, 0x01, ...a.mem(rng.pick([2, 3]), at)];
    },
  },
  {
    name: "sgdt-sidt-str-sldt",
    emit: (a) =>
      a.rng.pick([
        [0x0f, 0x01, ...a.mem(0, a.address())], // sgdt
        [0x0f, 0x01, ...a.mem(1, a.address())], // sidt
        [0x0f, 0x00, 0xc8], // str eax
        [0x0f, 0x00, 0xc0], // sldt eax
      ]),
  },
  {
    name: "lldt-ltr",
    emit: (a) => [...a.mov(0, a.selector()), 0x0f, 0x00, a.rng.pick([0xd0, 0xd8])],
  },
  { name: "int-n", emit: (a) => [0xcd, a.rng.chance(0.5) ? a.rng.int(32) : a.rng.int(256)] },
  { name: "int3-into-int1", emit: (a) => a.rng.pick([[0xcc], [0xce], [0xf1]]) },
  { name: "ud2", emit: () => [0x0f, 0x0b] },
  { name: "hlt", emit: () => [0xf4] },
  { name: "sti-hlt", emit: (a) => a.rng.pick([[0xfb, 0xf4], [0xfb], [0xfa], [0xfa, 0xf4]]) },
  {
    name: "far-jmp",
    emit: (a) => {
      const sel = a.selector();
      const off = a.rng.pick([HANDLER, CODE, 0, a.rng.int(RAM_SIZE)]);
      if (a.bits === 16)
        return a.rng.chance(0.5)
          ? [0xea, ...le16(off), ...le16(sel)]
          : [0x66, 0xea, ...le32(off), ...le16(sel)];
      if (a.bits === 32 && a.rng.chance(0.5))
        return [a.rng.pick([0xea, 0x9a]), ...le32(off), ...le16(sel)];
      // jmp/call far [m16:32] (REX.W: m16:64).
      const at = a.scratch([...le32(off), ...le16(sel), 0, 0, 0, 0]);
      const rexw = a.bits === 64 && a.rng.chance(0.3) ? [0x48] : [];
      return [...rexw, 0xff, ...a.mem(a.rng.pick([3, 5]), at)];
    },
  },
  {
    name: "iret",
    emit: (a) => {
      const rng = a.rng;
      const flags = rng.pick([0x2, 0x202, 0x2_0202, 0x4202, 0x3202, 0x302, 0x4_0202, rng.next()]);
      const ip = rng.pick([HANDLER, CODE, rng.int(RAM_SIZE)]);
      const frame =
        a.bits === 64
          ? [
              ...a.push(a.selector()),
              ...a.push(0x7000),
              ...a.push(flags),
              ...a.push(a.selector()),
              ...a.push(ip),
            ]
          : [...a.push(flags), ...a.push(a.selector()), ...a.push(ip)];
      return [...frame, ...(a.bits === 64 ? [0x48] : []), rng.pick([0xcf, 0xcf, 0xcb])];
    },
  },
  {
    name: "mov-sreg",
    emit: (a) => {
      const sreg = a.rng.pick([0, 2, 2, 3, 4, 5]); // ES SS SS DS FS GS
      const then = sreg === 2 && a.rng.chance(0.7) ? a.rng.pick(SHADOWED) : [];
      return [...a.mov(0, a.selector()), 0x8e, 0xc0 | (sreg << 3), ...then];
    },
  },
  {
    name: "pop-ss-lss",
    emit: (a) =>
      a.rng.chance(0.5)
        ? [...a.push(a.selector()), 0x17, ...a.rng.pick(SHADOWED)] // push; pop ss
        : [0x0f, 0xb2, ...a.mem(4, a.scratch([...le32(0x7000), ...le16(a.selector())]))],
  },
  {
    name: "mem-write",
    emit: (a) => {
      const addr = a.address();
      const width = a.rng.pick([[0xa2], [0xa3], [0x66, 0xa3]]); // mov moffs, al/eax/ax
      if (a.bits === 16) {
        // es = addr >> 4; mov es:[addr & 15], al/eax/ax: any of the first 1 MiB + 64 KiB.
        const seg = (Math.floor(addr / 16) & 0xffff) >>> 0;
        return [0xb8, ...le16(seg), 0x8e, 0xc0, 0x26, ...width, ...le16(addr & 0xf)];
      }
      if (a.bits === 32) return [...a.mov(0, a.value()), ...width, ...le32(addr)];
      // movabs [imm64], eax: the whole 64-bit space, non-canonical addresses included.
      const hi = a.rng.pick([0, 0, 0, 1, 0x7fff, 0x8000, 0xffff_ffff]);
      return [...a.mov(0, a.value()), ...width, ...le32(addr), ...le32(hi)];
    },
  },
  {
    name: "mem-read",
    emit: (a) => {
      const addr = a.address();
      const width = a.rng.pick([[0xa0], [0xa1], [0x66, 0xa1]]);
      if (a.bits === 16) {
        const seg = Math.floor(addr / 16) & 0xffff;
        return [0xb8, ...le16(seg), 0x8e, 0xd8, ...width, ...le16(addr & 0xf)];
      }
      if (a.bits === 32) return [...width, ...le32(addr)];
      return [...width, ...le32(addr), ...le32(a.rng.pick([0, 0, 1, 0xffff_ffff]))];
    },
  },
  {
    name: "mem-rmw",
    // xchg / add / lock inc / cmpxchg / movs on an interesting address: the emulator's part.
    emit: (a) => {
      const addr = a.address();
      // [si] in 16-bit code, [esi] / [rsi] (ESI zero-extended) elsewhere.
      const m = (reg: number) => [(reg << 3) | (a.bits === 16 ? 4 : 6)];
      return [
        ...a.mov(0, a.value()),
        ...a.mov(6, addr), // esi
        ...a.mov(7, a.address()), // edi
        ...a.rng.pick([
          [0x87, ...m(0)], // xchg [m], eax
          [0x01, ...m(0)], // add [m], eax
          [0xf0, 0xff, ...m(0)], // lock inc [m]
          [0x0f, 0xb1, ...m(1)], // cmpxchg [m], ecx
          [0xa5], // movsd
          [0xf3, 0xa4], // rep movsb (ecx as it is)
          [0xab], // stosd
          [0x8f, ...m(0)], // pop [m]
          [0xff, ...m(6)], // push [m]
          [0x66, 0x0f, 0x7e, ...m(0)], // movd [m], xmm0
          [0x0f, 0xae, ...m(0)], // fxsave [m]
          [0x0f, 0xae, ...m(1)], // fxrstor [m]
        ]),
      ];
    },
  },
  {
    name: "vmcall",
    emit: (a) => [
      ...a.mov(0, a.rng.chance(0.7) ? a.rng.int(14) : a.value()),
      ...a.mov(3, a.value()),
      0x0f,
      0x01,
      a.rng.pick([0xc1, 0xc1, 0xd9]), // vmcall, vmmcall
    ],
  },
  {
    name: "vmx",
    emit: (a) => {
      const region = () => a.mem(6, a.scratch(a.rng.bytes(8)));
      return a.rng.pick([
        [0xf3, 0x0f, 0xc7, ...region()], // vmxon
        [0x66, 0x0f, 0xc7, ...region()], // vmclear
        [0x0f, 0xc7, ...region()], // vmptrld
        [0x0f, 0xc7, ...a.mem(7, SCRATCH)], // vmptrst
        [0x0f, 0x78, 0xc1], // vmread ecx, eax
        [0x0f, 0x79, 0xc8], // vmwrite ecx, eax
        [0x0f, 0x01, 0xc2], // vmlaunch
        [0x0f, 0x01, 0xc3], // vmresume
        [0x0f, 0x01, 0xc4], // vmxoff
        [0x66, 0x0f, 0x38, 0x80, ...a.mem(0, SCRATCH)], // invept
        [0x66, 0x0f, 0x38, 0x81, ...a.mem(0, SCRATCH)], // invvpid
        [0x0f, 0x01, 0xd4], // vmfunc
        [0x0f, 0x37], // getsec
      ]);
    },
  },
  {
    name: "syscall-sysenter",
    emit: (a) =>
      a.rng.pick([
        [0x0f, 0x05], // syscall
        [0x0f, 0x07], // sysret
        [0x48, 0x0f, 0x07], // sysretq
        [0x0f, 0x34], // sysenter
        [0x0f, 0x35], // sysexit
        [0x48, 0x0f, 0x35], // sysexitq
      ]),
  },
  {
    name: "misc-exiting",
    emit: (a) =>
      a.rng.pick([
        [0x0f, 0x31], // rdtsc
        [0x0f, 0x01, 0xf9], // rdtscp
        [...a.mov(1, a.rng.pick([0, 1, 0x4000_0000, a.value()])), 0x0f, 0x33], // rdpmc
        [0x0f, 0x08], // invd
        [0x0f, 0x09], // wbinvd
        [0x0f, 0x01, ...a.mem(7, a.address())], // invlpg
        [0x0f, 0x01, 0xc8], // monitor
        [0x0f, 0x01, 0xc9], // mwait
        [0xf3, 0x90], // pause
        [...a.mov(1, a.rng.int(2)), ...a.mov(0, a.value()), 0x0f, 0x01, 0xd1], // xsetbv
        [0x0f, 0x01, 0xd0], // xgetbv
        [0x0f, 0xaa], // rsm
        [0x0f, 0xc7, 0xf0], // rdrand eax
        [0xf3, 0x0f, 0xae, 0xd0], // wrfsbase eax
        [0x0f, 0x01, 0xca], // clac
        [0x0f, 0x0d, 0x00], // prefetch
      ]),
  },
  {
    name: "mov-dr",
    emit: (a) => [
      ...a.mov(0, a.value()),
      0x0f,
      a.rng.pick([0x21, 0x23]),
      0xc0 | (a.rng.int(8) << 3),
    ],
  },
  {
    name: "popf",
    emit: (a) => [
      ...a.push(a.rng.pick([0x2, 0x102, 0x202, 0x4_0002, 0x4002, 0x3002, 0x2_0002, a.rng.next()])),
      ...a.o32(),
      0x9d,
    ],
  },
  { name: "jmp-self", emit: () => [0xeb, 0xfe] },
  {
    name: "out-loop",
    // mov ecx, n; l: out 0x80, al; loop l
    emit: (a) => [...a.mov(1, a.rng.range(2, 40)), 0xe6, 0x80, 0xe2, 0xfc],
  },
  { name: "div0", emit: (a) => [...a.mov(1, 0), 0xf7, 0xf1] },
  {
    name: "rep-stos",
    emit: (a) => [
      ...a.mov(7, a.address()),
      ...a.mov(1, a.rng.pick([1, 16, 0x1000, 0x2_0000])),
      ...a.mov(0, a.value()),
      0xf3,
      a.rng.pick([0xaa, 0xab]),
    ],
  },
  {
    name: "prefix-junk",
    emit: (a) =>
      a.rng.pick([
        [0xf0, 0x90], // lock nop: #UD
        [...Array<number>(15).fill(0x66), 0x90], // 16 bytes: #GP
        [0x0f, 0xff], // ud0
        [0xc4, 0xe2, 0x79, 0x18, 0x00], // VEX (no AVX): #UD
        [0x62, 0x00], // BOUND / EVEX
        [0xd6], // salc
        [0x0f, 0x1f, 0x00], // nop [eax]
      ]),
  },
  {
    name: "enter-leave",
    emit: (a) => [0xc8, ...le16(a.rng.int(0x1_0000)), a.rng.int(32), 0xc9],
  },
];

// ─────────────────────────────── the report ───────────────────────────────

export interface GuestFuzzOptions {
  seed: number;
  /** Guests to run. */
  iterations: number;
  /** Stop recording violations after this many (default 20; all are still counted). */
  maxViolations?: number;
  /** The first iteration's number (default 0): `first: i, iterations: 1` replays guest i. */
  first?: number;
  /** KVM_RUN calls per guest at most (default 20). */
  runsPerGuest?: number;
  /** A line per guest: what it was and what happened (the CLI's --verbose). */
  log?: (line: string) => void;
  /** Called with each freshly booted host kernel (tests hook tracepoints here). */
  setup?: (kernel: HostKernel) => void;
}

export interface GuestFuzzReport {
  seed: number;
  iterations: number;
  /** Guests by starting mode. */
  modes: Record<string, number>;
  /** KVM_RUN calls. */
  runs: number;
  /** How each KVM_RUN ended: KVM_EXIT_* name, or the errno name. */
  exits: Record<string, number>;
  /** KVM_EXIT_FAIL_ENTRY by hardware_entry_failure_reason (hex). */
  failEntry: Record<string, number>;
  /** KVM_EXIT_INTERNAL_ERROR by suberror name. */
  internalErrors: Record<string, number>;
  /** "<ioctl> <errno>" → count, for every failed system call. */
  errnos: Record<string, number>;
  /** printk lines, digits folded, → count. */
  printk: Record<string, number>;
  /** Host reboots after an exception escaped a system call. */
  restarts: number;
  /** Violations by kind → count (every one, recorded or not). */
  violationCounts: Record<string, number>;
  /** Violations of a known, reported finding (KNOWN_ISSUES) → count: not in the above. */
  known: Record<string, number>;
  /** The first few violations of each kind, in full. */
  violations: string[];
}

/**
 * Violations with a finding on file that cannot be fixed in this package: counted in
 * `report.known` instead, so the suite stays green while the finding is open and every
 * other violation still fails it. `match` is tried on "<kind>\n<detail>".
 */
const KNOWN_ISSUES: readonly { readonly match: RegExp; readonly finding: string }[] = [
  {
    // JMP/CALL to a TSS or task gate, a task gate in the IDT, IRET with NT: exit 9.
    match: /exit reason 0x9\b/,
    finding:
      "task switch: kvm_intel has no handle_task_switch (EXIT_REASON_TASK_SWITCH needs " +
      "kvm_task_switch in kvm-kernel)",
  },
];

/** A KVM_RUN slower than this is a hang. */
const SLOW_RUN_MS = 2000;
/** Guest entries in one KVM_RUN after which the watchdog sends SIGUSR1. */
const KICK_AFTER_ENTRIES = 4;
/**
 * Instructions between host timer ticks, drawn per guest (the hardware's default is 10⁶):
 * small slices put external-interrupt exits between any two instructions and keep a guest
 * that never exits cheap.
 */
const TIMESLICES: readonly number[] = [1, 50, 1_000, 10_000, 10_000, 30_000];
/** How many violations of one kind are recorded in full. */
const SAMPLES_PER_KIND = 3;

/** Exits a VM with no capabilities enabled and no in-kernel irqchip can see (x86.c, vmx.c). */
const POSSIBLE_EXITS: ReadonlySet<number> = new Set([
  KVM_EXIT_IO,
  KVM_EXIT_DEBUG,
  KVM_EXIT_HLT,
  KVM_EXIT_MMIO,
  KVM_EXIT_IRQ_WINDOW_OPEN,
  KVM_EXIT_SHUTDOWN,
  KVM_EXIT_FAIL_ENTRY,
  KVM_EXIT_SET_TPR,
  KVM_EXIT_INTERNAL_ERROR,
]);

/** Errnos Linux returns for each ioctl the soak makes (a guest cannot cause the others). */
const ALLOWED_ERRNOS: ReadonlyMap<number, ReadonlySet<number>> = new Map([
  [KVM_RUN, new Set([EINTR])],
  [KVM_SET_SREGS, new Set([EINVAL])],
  [KVM_SET_REGS, new Set<number>()],
  [KVM_SET_VCPU_EVENTS, new Set([EINVAL])],
  [KVM_SET_MP_STATE, new Set([EINVAL])],
  [KVM_INTERRUPT, new Set([EINVAL, EEXIST, ENXIO])],
  [KVM_NMI, new Set<number>()],
  [KVM_SET_GUEST_DEBUG, new Set([EINVAL, EBUSY])],
  [KVM_SET_MSRS, new Set<number>()],
  [KVM_SET_TSS_ADDR, new Set([EINVAL])],
]);

const SIGSET_EMPTY = (() => {
  const b = new Uint8Array(12);
  new DataView(b.buffer).setUint32(0, 8, true);
  return b;
})();

const hex = (v: number | bigint): string => `0x${v.toString(16)}`;
const isCanonical = (v: bigint): boolean => {
  const top = v >> 47n;
  return top === 0n || top === 0x1_ffffn;
};
/** A printk line with its numbers folded, so that one message is one key. */
const printkKey = (line: string): string =>
  line
    .replace(/0x[0-9a-f]+/gi, "#")
    .replace(/\d+/g, "#")
    .slice(0, 120);

/** A system call that threw: what the host looked like is no longer trustworthy. */
class HostBroken extends Error {}

interface Host {
  kernel: HostKernel;
  mod: KvmIntelModule;
  os: HostProcess;
  kvm: Kvm;
  mmapSize: number;
  ramAddr: number;
  ram: Uint8Array;
  extraAddr: number;
  extra: Uint8Array;
  /** Kernel pages allocated (not pinned user pages) with no VM alive: set after a guest. */
  baselinePages: number;
}

/** Pages from alloc_page (VMCSs, EPT tables, bitmaps), not pinned VMM memory. */
function kernelPages(kernel: HostKernel): number {
  let n = 0;
  for (const bytes of kernel.physPages.values()) {
    if (bytes.byteOffset === 0 && bytes.buffer.byteLength === PAGE_SIZE) n++;
  }
  return n;
}

// ─────────────────────────────── the soak ───────────────────────────────

type Mode = "reset" | "real" | "prot32" | "prot32-paging" | "long64";

class GuestFuzzer {
  readonly report: GuestFuzzReport;
  private readonly maxViolations: number;
  private readonly runsPerGuest: number;
  private readonly log: ((line: string) => void) | undefined;
  private readonly setup: ((kernel: HostKernel) => void) | undefined;
  private host!: Host;
  private tsc = 0n;
  /** Entries in the current KVM_RUN (the watchdog's count), -1 outside KVM_RUN. */
  private entries = -1;

  // The current guest.
  private rng = new Mulberry32(0);
  private iteration = 0;
  private desc: string[] = [];
  private trail: string[] = [];
  private slots: SlotPlan[] = [];
  /** Userspace set registers VM entry may refuse (FAIL_ENTRY is then not the guest's doing). */
  private tainted = false;
  /** An exception escaped a system call: the host is rebooted after this guest. */
  private broken = false;

  constructor(opts: GuestFuzzOptions) {
    this.maxViolations = opts.maxViolations ?? 20;
    this.runsPerGuest = opts.runsPerGuest ?? 20;
    this.log = opts.log;
    this.setup = opts.setup;
    this.report = {
      seed: opts.seed >>> 0,
      iterations: opts.iterations,
      modes: {},
      runs: 0,
      exits: {},
      failEntry: {},
      internalErrors: {},
      errnos: {},
      printk: {},
      restarts: 0,
      violationCounts: {},
      known: {},
      violations: [],
    };
    this.boot();
  }

  // ── the host ──

  private boot(): void {
    const kernel = new HostKernel();
    // Deterministic time: RDTSC must not make a guest depend on the wall clock.
    kernel.rdtsc = () => (this.tsc += 1000n);
    const mod = kvmIntelModule(kernel);
    const r = kernel.loadModule(kvmModule(mod));
    if (r !== 0) throw new Error(`modprobe kvm_intel: ${r}`);
    kernel.trace.kvm_entry.subscribe(() => this.onEntry());
    const os = kernel.spawn("guest-fuzz");
    const kvm = Kvm.open(os);
    os.sigprocmask(SIG_BLOCK, [SIGUSR1]);
    const mmapSize = os.ioctl(kvm.fd, KVM_GET_VCPU_MMAP_SIZE);
    const ramAddr = os.mmap(-1, RAM_SIZE);
    const extraAddr = os.mmap(-1, EXTRA_SIZE);
    this.host = {
      kernel,
      mod,
      os,
      kvm,
      mmapSize,
      ramAddr,
      ram: os.view(ramAddr, RAM_SIZE),
      extraAddr,
      extra: os.view(extraAddr, EXTRA_SIZE),
      baselinePages: -1,
    };
    this.setup?.(kernel);
  }

  /** The watchdog: a kvm_entry probe that kicks a vCPU which keeps re-entering the guest. */
  private onEntry(): void {
    if (this.entries < 0) return;
    this.entries++;
    if (this.entries === KICK_AFTER_ENTRIES) this.host.os.kill(SIGUSR1);
    if (this.entries > KICK_AFTER_ENTRIES + 2) {
      throw new Error(
        `KVM_RUN entered the guest ${this.entries} times with SIGUSR1 pending and unmasked`,
      );
    }
  }

  // ── checking ──

  private violation(kind: string, detail: string): void {
    const known = KNOWN_ISSUES.find((k) => k.match.test(`${kind}\n${detail}`));
    if (known) {
      this.count(this.report.known, known.finding);
      return;
    }
    const counts = this.report.violationCounts;
    counts[kind] = (counts[kind] ?? 0) + 1;
    if (counts[kind]! > SAMPLES_PER_KIND) return;
    if (this.report.violations.length >= this.maxViolations) return;
    this.report.violations.push(
      `seed ${this.report.seed} iteration ${this.iteration}: ${detail}\n` +
        `  guest: ${this.desc.join(" ")}\n` +
        `  trail: ${this.trail.join(" | ")}`,
    );
  }

  private count(map: Record<string, number>, key: string): void {
    map[key] = (map[key] ?? 0) + 1;
  }

  private note(what: string): void {
    this.trail.push(what);
    if (this.trail.length > 24) this.trail.splice(1, 1);
  }

  /**
   * One ioctl through HostOs: nothing may escape it, and a failure must be an errno Linux
   * returns for that request (or any failure at all, when `mustSucceed`). An exception
   * breaks the host: the guest stops and the host is rebooted.
   */
  private ioctl(fd: number, request: number, arg: number | Uint8Array = 0, mustSucceed = false) {
    const name = kvmIoctlName(request);
    let r: number;
    try {
      r = this.host.os.ioctl(fd, request, arg);
    } catch (e) {
      this.threw(name, e);
      this.broken = true;
      throw new HostBroken(name);
    }
    if (r < 0) {
      this.count(this.report.errnos, `${name} ${errnoName(r)}`);
      const allowed = ALLOWED_ERRNOS.get(request);
      if (mustSucceed || (allowed && !allowed.has(-r))) {
        this.violation(`${name} ${errnoName(r)}`, `${name} failed with ${errnoName(r)}`);
      }
    }
    return r;
  }

  private threw(what: string, e: unknown): void {
    const text = e instanceof Error ? (e.stack ?? e.message) : String(e);
    const first = text.split("\n")[0] ?? "";
    this.violation(
      `${what} threw: ${printkKey(first)}`,
      `${what} threw ${text.split("\n").slice(0, 10).join("\n    ")}`,
    );
  }

  /** A uapi wrapper call (guests.ts's set-ups): a KvmError is an errno, anything else a throw. */
  private wrapped(what: string, call: () => void): boolean {
    try {
      call();
      return true;
    } catch (e) {
      if (e instanceof KvmError) {
        this.count(this.report.errnos, `${e.ioctl} ${e.code}`);
        this.violation(`${e.ioctl} ${e.code}`, `${what}: ${e.message}`);
        return false;
      }
      this.threw(what, e);
      this.broken = true;
      throw new HostBroken(what);
    }
  }

  // ── one guest ──

  run(first: number, iterations: number): void {
    for (let i = first; i < first + iterations; i++) {
      this.iteration = i;
      this.rng = new Mulberry32(guestSeed(this.report.seed, i));
      // The host TSC restarts too, so that a guest reading it replays alone.
      this.tsc = 0n;
      this.desc = [];
      this.trail = [];
      this.tainted = false;
      this.broken = false;
      try {
        this.guest();
      } catch (e) {
        if (!(e instanceof HostBroken)) throw e;
      } finally {
        this.entries = -1;
      }
      this.log?.(`#${i} ${this.desc.join(" ")}\n    ${this.trail.join(" | ")}`);
      this.scanPrintk();
      if (this.broken) {
        this.report.restarts++;
        this.boot();
      }
    }
  }

  private guest(): void {
    const { os, kvm } = this.host;
    const rng = this.rng;
    const mode = rng.pick<Mode>([
      "reset",
      "real",
      "real",
      "prot32",
      "prot32-paging",
      "long64",
      "long64",
    ]);
    this.count(this.report.modes, mode);
    const timeslice = rng.pick(TIMESLICES);
    for (const cpu of this.host.mod.intel.cpus) cpu.nonRoot.timeslice = timeslice;
    this.desc.push(mode, `timeslice=${timeslice}`);
    const vmFd = this.ioctl(kvm.fd, KVM_CREATE_VM, 0, true);
    if (vmFd < 0) return;
    const vm = new VmFd(os, vmFd, kvm);
    let vcpuFd = -1;
    let runAddr = -1;
    try {
      this.layout(vmFd, mode);
      if (rng.chance(0.2)) this.ioctl(vmFd, KVM_SET_TSS_ADDR, 0xfffb_d000);
      vcpuFd = this.ioctl(vmFd, KVM_CREATE_VCPU, 0, true);
      if (vcpuFd < 0) return;
      runAddr = os.mmap(vcpuFd, this.host.mmapSize, 0);
      if (runAddr < 0) {
        this.violation("mmap vcpu", `mmap of the vCPU fd failed: ${errnoName(runAddr)}`);
        return;
      }
      const vcpu = new VcpuFd(os, vcpuFd, 0, os.view(runAddr, this.host.mmapSize));
      this.ioctl(vcpuFd, KVM_SET_SIGNAL_MASK, SIGSET_EMPTY, true);
      if (!this.setUp(mode, vm, vcpu)) return;
      this.runGuest(vcpu);
    } finally {
      // vm.close() and the vCPU's munmap + close: the last reference frees the VM.
      try {
        if (runAddr >= 0) os.munmap(runAddr, this.host.mmapSize);
        if (vcpuFd >= 0) os.close(vcpuFd);
        vm.close();
      } catch (e) {
        this.threw("close", e);
        this.broken = true;
      }
      if (!this.broken) this.checkTeardown();
    }
  }

  /** Memory slots for this guest, and the VMM's memory cleared and seeded. */
  private layout(vmFd: number, mode: Mode): void {
    const rng = this.rng;
    const { ram, extra } = this.host;
    ram.fill(0);
    extra.fill(0);
    const base = rng.pick(["flat", "flat", "flat", "dirty", "hole", "ro-low"]);
    const slots: SlotPlan[] = [];
    const ramSlot = (slot: number, gpa: number, size: number, flags = 0): SlotPlan => ({
      slot,
      gpa,
      size,
      map: "ram",
      offset: gpa,
      flags,
    });
    if (base === "flat" || base === "dirty") {
      slots.push(ramSlot(0, 0, RAM_SIZE, base === "dirty" ? KVM_MEM_LOG_DIRTY_PAGES : 0));
    } else if (base === "hole") {
      slots.push(ramSlot(0, 0, HOLE_START), ramSlot(1, HOLE_END, RAM_SIZE - HOLE_END));
    } else {
      slots.push(ramSlot(0, 0, RO_LOW_SIZE, KVM_MEM_READONLY));
      slots.push(ramSlot(1, RO_LOW_SIZE, RAM_SIZE - RO_LOW_SIZE));
    }
    // The reset vector needs memory at the top of 4 GiB; other guests sometimes get a slot.
    const place =
      mode === "reset"
        ? rng.pick(["rom", "rom", "rom-rw"])
        : rng.pick(["none", "none", "none", "after", "4g", "rom", "rom-rw"]);
    if (place !== "none") {
      const gpa = place === "after" ? RAM_SIZE : place === "4g" ? 2 ** 32 : ROM_BASE;
      const flags = place === "rom" ? KVM_MEM_READONLY : 0;
      slots.push({ slot: 2, gpa, size: EXTRA_SIZE, map: "extra", offset: 0, flags });
    }
    this.desc.push(`${base}${place === "none" ? "" : `+${place}`}`);
    this.slots = slots;
    for (const s of slots) {
      const addr = (s.map === "ram" ? this.host.ramAddr : this.host.extraAddr) + s.offset;
      const region = encodeKvmUserspaceMemoryRegion({
        slot: s.slot,
        flags: s.flags,
        guestPhysAddr: BigInt(s.gpa),
        memorySize: BigInt(s.size),
        userspaceAddr: BigInt(addr),
      });
      this.ioctl(vmFd, KVM_SET_USER_MEMORY_REGION, region, true);
    }
    // Garbage here and there, as memory a guest did not set up holds.
    for (let n = rng.int(6); n > 0; n--) {
      const len = rng.range(16, 512);
      const at = rng.int(RAM_SIZE - len);
      rng.fill(ram.subarray(at, at + len));
    }
    if (rng.chance(0.5)) rng.fill(extra);
  }

  /** Write `bytes` at guest-physical `gpa` through the VMM's mappings (read-only slots too). */
  private poke(gpa: number, bytes: readonly number[]): void {
    for (let i = 0; i < bytes.length; i++) {
      const a = gpa + i;
      if (a < RAM_SIZE) {
        this.host.ram[a] = bytes[i]!;
        continue;
      }
      const s = this.slots.find((x) => x.map === "extra" && a >= x.gpa && a < x.gpa + x.size);
      if (s) this.host.extra[a - s.gpa] = bytes[i]!;
    }
  }

  /** The mode, descriptor tables, code and state; false when a must-succeed step failed. */
  private setUp(mode: Mode, vm: VmFd, vcpu: VcpuFd): boolean {
    const rng = this.rng;
    const h = this.host;
    const g: Guest = { ...h, vm, vcpu, ram: h.ram, ramAddr: h.ramAddr };
    const bits: Bits = mode === "long64" ? 64 : mode === "real" || mode === "reset" ? 16 : 32;
    const setup: string[] = [];

    if (rng.chance(0.85)) {
      this.ioctl(vcpu.fd, KVM_SET_CPUID2, encodeKvmCpuid2(VMX_SUPPORTED_CPUID), true);
      setup.push("cpuid");
    }

    // The entry point.
    let entry = CODE;
    if (rng.chance(0.3)) {
      entry =
        bits === 16
          ? rng.pick([0x7c00, 0xfff0, 0xa000, rng.range(0x600, 0xff00)])
          : rng.pick([0x1_0000, HOLE_START - 8, 0xf_fff8, rng.range(0x1_0000, 0xf_ff00)]);
    }

    // Mode set-up (guests.ts), the long-mode map widened to 0–1 GiB and 3–4 GiB.
    let ok = true;
    if (mode === "real") ok = this.wrapped("realMode", () => realMode(g, entry));
    else if (mode === "prot32" || mode === "prot32-paging") {
      const paging = mode === "prot32-paging";
      ok = this.wrapped("protectedMode", () => protectedMode(g, { entry, paging }));
      if (paging && rng.chance(0.5)) {
        // PDEs for 0xfec00000 and 0xffc00000: the APICs and the ROM, 4 MiB pages.
        this.poke(0x2000 + 4 * 0x3fb, le32(0xfec0_0083));
        this.poke(0x2000 + 4 * 0x3ff, le32(0xffc0_0083));
        setup.push("pde-high");
      }
    } else if (mode === "long64") {
      const efer = rng.pick([0n, 1n, 0x800n, 0x801n]); // SCE, NXE
      ok = this.wrapped("longMode", () => longMode(g, { entry, efer }));
      if (rng.chance(0.7)) {
        for (let i = 1; i < 512; i++) this.poke(0x4000 + 8 * i, le64(BigInt(i * 0x20_0000 + 0x83)));
        this.poke(0x3000 + 8 * 3, le64(BigInt(PD_HIGH + 3)));
        for (let i = 0; i < 512; i++) {
          this.poke(PD_HIGH + 8 * i, le64(BigInt(0xc000_0000 + i * 0x20_0000 + 0x83)));
        }
        setup.push("map-4g");
      }
    }
    if (!ok) return false;
    this.desc.push(`entry=${hex(mode === "reset" ? 0xffff_fff0 : entry)}`);

    // The extended GDT, the TSS, the LDT.
    for (let i = 0; i < GDT_EXTRA.length; i++)
      this.poke(GDT_BASE + 0x20 + 8 * i, le64(GDT_EXTRA[i]!));
    this.poke(GDT_BASE + 0x20 + 8 * GDT_EXTRA.length, le64(rng.u64()));
    if (rng.chance(0.5)) this.poke(TSS, rng.bytes(0x68));
    if (rng.chance(0.5)) this.poke(LDT, rng.bytes(0x100));

    // The handler every valid gate points at.
    const handler = rng.pick<number[]>([
      [0xf4],
      [0xe6, 0xe9, 0xf4],
      bits === 64 ? [0x48, 0xcf] : [0xcf],
      [0x0f, 0x0b],
      rng.bytes(16),
    ]);
    this.poke(HANDLER, handler);

    // The IDT (or IVT): valid gates to HANDLER, random bytes, or what memory holds.
    const idt = rng.pick(["valid", "valid", "random", "none"]);
    if (idt === "valid") {
      for (let v = 0; v < 256; v++) {
        if (bits === 16) this.poke(4 * v, [...le16(HANDLER), 0, 0]);
        else if (bits === 32) this.poke(IDT + 8 * v, gate(0x08));
        else this.poke(IDT + 16 * v, [...gate(0x18), ...le64(0n)]);
      }
    } else if (idt === "random") {
      this.poke(bits === 16 ? 0 : IDT, rng.bytes(bits === 16 ? 0x400 : 0x1000));
    }
    setup.push(`idt-${idt}`);
    const gdtExt = bits !== 16 && rng.chance(0.5);
    if (gdtExt) setup.push("gdt-ext");

    // The code.
    const asm = new Asm(rng, bits);
    const code: number[] = [];
    const pieces: string[] = [];
    if (rng.chance(0.15)) {
      code.push(...rng.bytes(rng.range(16, 256)));
      pieces.push("random");
    } else {
      for (let n = rng.range(1, 8); n > 0; n--) {
        if (rng.chance(0.25)) {
          const k = rng.range(1, 12);
          code.push(...rng.bytes(k));
          pieces.push(`rand${k}`);
        } else {
          const s = rng.pick(SNIPPETS);
          code.push(...s.emit(asm));
          pieces.push(s.name);
        }
      }
      code.push(...(rng.chance(0.6) ? [0xf4] : rng.bytes(8)));
    }
    for (const [at, bytes] of asm.pokes) this.poke(at, bytes);
    if (mode === "reset") {
      // At 0xfffffff0: usually jmp 0000:CODE (with the code there), else the code itself,
      // which wraps at the 64 KiB segment end to the start of the ROM.
      if (rng.chance(0.7)) {
        this.poke(0xffff_fff0, [0xea, ...le16(CODE), 0, 0]);
        this.poke(CODE, code);
      } else this.poke(0xffff_fff0, code);
    } else this.poke(entry, code);
    this.desc.push(`code=[${pieces.join(",")}]`, `setup=[${setup.join(",")}]`);
    this.desc.push(
      `bytes=${code
        .slice(0, 48)
        .map((b) => b.toString(16).padStart(2, "0"))
        .join("")}`,
    );

    // The register state beyond guests.ts's: the extended GDT, the IDT.
    if (bits !== 16 && (gdtExt || idt !== "none")) {
      if (
        !this.wrapped("KVM_GET_SREGS/KVM_SET_SREGS", () => {
          const s = vcpu.getSregs();
          if (gdtExt) s.gdt = { base: BigInt(GDT_BASE), limit: GDT_EXT_LIMIT };
          if (idt !== "none") s.idt = { base: BigInt(IDT), limit: bits === 64 ? 0xfff : 0x7ff };
          vcpu.setSregs(s);
        })
      ) {
        return false;
      }
    }
    if (rng.chance(0.3)) this.setMsrs(vcpu);
    if (rng.chance(0.25)) this.perturb(vcpu, bits);
    if (rng.chance(0.12)) this.guestDebug(vcpu, entry);
    return true;
  }

  /** KVM_SET_MSRS for SYSCALL/SYSENTER targets and a few others (KVM refuses bad values). */
  private setMsrs(vcpu: VcpuFd): void {
    const rng = this.rng;
    const target = () => BigInt(rng.pick([HANDLER, CODE, rng.next()]));
    const pool: KvmMsrEntry[] = [
      {
        index: 0xc000_0081,
        data: (BigInt(rng.pick(SELECTORS)) << 48n) | (BigInt(rng.pick(SELECTORS)) << 32n),
      },
      { index: 0xc000_0082, data: rng.chance(0.8) ? target() : rng.u64() },
      { index: 0xc000_0083, data: target() },
      { index: 0xc000_0084, data: BigInt(rng.pick([0x200, 0x4_0700, rng.next()])) },
      { index: 0x174, data: BigInt(rng.pick([0x08, 0x18, 0, rng.int(0x1_0000)])) },
      { index: 0x175, data: BigInt(STACK_TOP) },
      { index: 0x176, data: rng.chance(0.8) ? target() : rng.u64() },
      { index: 0x277, data: rng.chance(0.5) ? 0x0007_0406_0007_0406n : rng.u64() },
      { index: 0x10, data: rng.u64() },
      { index: 0xc000_0100, data: rng.u64() },
      { index: 0x1d9, data: BigInt(rng.int(4)) },
      { index: 0x1a0, data: BigInt(rng.next()) },
    ];
    const entries = pool.filter(() => rng.chance(0.4));
    this.desc.push(`msrs=[${entries.map((e) => hex(e.index)).join(",")}]`);
    const r = this.ioctl(vcpu.fd, KVM_SET_MSRS, encodeKvmMsrs(entries));
    if (r > entries.length)
      this.violation("KVM_SET_MSRS count", `KVM_SET_MSRS returned ${r} for ${entries.length} MSRs`);
  }

  /** Register state userspace may set but VM entry may refuse: the guest is tainted. */
  private perturb(vcpu: VcpuFd, bits: Bits): void {
    const rng = this.rng;
    const what: string[] = [];
    const sb = new Uint8Array(KVM_SREGS_SIZE);
    const rb = new Uint8Array(KVM_REGS_SIZE);
    if (this.ioctl(vcpu.fd, KVM_GET_SREGS, sb, true) < 0) return;
    if (this.ioctl(vcpu.fd, KVM_GET_REGS, rb, true) < 0) return;
    const s = decodeKvmSregs(sb);
    const regs = decodeKvmRegs(rb);
    let sregsDirty = false;
    let regsDirty = false;
    for (let n = rng.range(1, 3); n > 0; n--) {
      const kind = rng.pick([
        "rflags",
        "seg",
        "seg",
        "cr0",
        "cr4",
        "efer",
        "cr3",
        "dtable",
        "apic",
        "cr8",
        "irq-bitmap",
        "events",
        "mp-state",
        "rip-high",
      ]);
      what.push(kind);
      switch (kind) {
        case "rflags": {
          const bit = rng.pick([1, 3, 5, 8, 9, 14, 15, 16, 17, 18, 21, 22, 31, 32, 63]);
          regs.rflags ^= 1n << BigInt(bit);
          if (rng.chance(0.3)) regs.rflags |= 0x3000n; // IOPL 3
          regsDirty = true;
          break;
        }
        case "rip-high":
          if (bits !== 64) regs.rip |= 1n << 32n;
          else regs.rip = rng.pick([0x7fff_ffff_f000n, 0xffff_8000_0000_0000n]);
          regsDirty = true;
          break;
        case "seg":
          this.perturbSegment(s, what);
          sregsDirty = true;
          break;
        case "cr0":
          s.cr0 = rng.pick([
            0x8000_0011n,
            s.cr0 ^ BigInt(rng.pick(CR0_BITS)),
            s.cr0 & ~0x20n,
            0x2000_0031n,
            rng.u64() & 0xffff_ffffn,
          ]);
          sregsDirty = true;
          break;
        case "cr4":
          s.cr4 ^= BigInt(rng.pick(CR4_BITS));
          sregsDirty = true;
          break;
        case "efer":
          s.efer ^= rng.pick([0x400n, 0x100n, 0x500n, 0x1n, 0x800n, 0x2000n, 0x1_0000n]);
          sregsDirty = true;
          break;
        case "cr3":
          s.cr3 = rng.chance(0.5) ? s.cr3 | (1n << BigInt(rng.range(36, 63))) : s.cr3 | 0xfffn;
          sregsDirty = true;
          break;
        case "dtable": {
          const t = rng.chance(0.5) ? s.gdt : s.idt;
          if (rng.chance(0.5)) t.limit = rng.int(0x1_0000);
          else t.base = rng.pick([0xffff_8000_0000_0000n, 0x8000_0000_0000n, rng.u64()]);
          sregsDirty = true;
          break;
        }
        case "apic":
          s.apicBase = rng.pick([0n, 0xfee0_0d00n, 0xfee0_0500n, rng.u64()]);
          sregsDirty = true;
          break;
        case "cr8":
          s.cr8 = BigInt(rng.int(32));
          sregsDirty = true;
          break;
        case "irq-bitmap": {
          const v = rng.int(256);
          s.interruptBitmap[v >> 6] = 1n << BigInt(v & 63);
          sregsDirty = true;
          break;
        }
        case "events":
          this.perturbEvents(vcpu, what);
          break;
        case "mp-state":
          this.ioctl(
            vcpu.fd,
            KVM_SET_MP_STATE,
            encodeKvmMpState(
              rng.pick([
                KVM_MP_STATE_RUNNABLE,
                KVM_MP_STATE_UNINITIALIZED,
                KVM_MP_STATE_INIT_RECEIVED,
                KVM_MP_STATE_HALTED,
                KVM_MP_STATE_SIPI_RECEIVED,
                rng.int(12),
              ]),
            ),
          );
          break;
      }
    }
    if (sregsDirty) this.ioctl(vcpu.fd, KVM_SET_SREGS, encodeKvmSregs(s));
    if (regsDirty) this.ioctl(vcpu.fd, KVM_SET_REGS, encodeKvmRegs(regs));
    this.tainted = true;
    this.desc.push(`perturb=[${what.join(",")}]`);
  }

  private perturbSegment(s: KvmSregs, what: string[]): void {
    const rng = this.rng;
    const name = rng.pick(["cs", "cs", "ss", "ss", "ds", "es", "fs", "gs", "tr", "ldt"] as const);
    const seg: KvmSegment = s[name];
    const field = rng.pick([
      "type",
      "s",
      "present",
      "dpl",
      "db",
      "l",
      "g",
      "unusable",
      "limit",
      "base",
      "selector",
    ] as const);
    switch (field) {
      case "type":
        seg.type = rng.int(16);
        break;
      case "limit":
        seg.limit = rng.pick([0, 0xfff, 0xf_ffff, 0xffff_f000, rng.next()]);
        break;
      case "base":
        seg.base = rng.pick([
          0x1_0000_0000n,
          0xffff_8000_0000_0000n,
          0x8000_0000_0000n,
          BigInt(rng.next()),
        ]);
        break;
      case "selector":
        seg.selector = rng.int(0x1_0000);
        break;
      case "dpl":
        seg.dpl = rng.int(4);
        break;
      default:
        seg[field] ^= 1;
    }
    what.push(`${name}.${field}`);
  }

  private perturbEvents(vcpu: VcpuFd, what: string[]): void {
    const rng = this.rng;
    const b = new Uint8Array(KVM_VCPU_EVENTS_SIZE);
    if (this.ioctl(vcpu.fd, KVM_GET_VCPU_EVENTS, b, true) < 0) return;
    const ev: KvmVcpuEvents = decodeKvmVcpuEvents(b);
    const kind = rng.pick(["exception", "interrupt", "nmi", "shadow"]);
    if (kind === "exception") {
      ev.exception = {
        injected: 1,
        nr: rng.int(32),
        hasErrorCode: rng.int(2),
        pending: 0,
        errorCode: rng.chance(0.7) ? 0 : rng.next(),
      };
    } else if (kind === "interrupt") {
      ev.interrupt = { injected: 1, nr: rng.int(256), soft: rng.int(2), shadow: 0 };
    } else if (kind === "nmi") {
      ev.nmi = { injected: rng.int(2), pending: rng.int(2), masked: rng.int(2) };
      ev.flags |= 1; // KVM_VCPUEVENT_VALID_NMI_PENDING
    } else {
      ev.interrupt.shadow = rng.range(1, 3);
      ev.flags |= 4; // KVM_VCPUEVENT_VALID_SHADOW
    }
    what.push(`events.${kind}`);
    this.ioctl(vcpu.fd, KVM_SET_VCPU_EVENTS, encodeKvmVcpuEvents(ev));
  }

  /** KVM_SET_GUEST_DEBUG: single-step, software breakpoints, a hardware breakpoint. */
  private guestDebug(vcpu: VcpuFd, entry: number): void {
    const rng = this.rng;
    let control = KVM_GUESTDBG_ENABLE;
    if (rng.chance(0.7)) control |= KVM_GUESTDBG_SINGLESTEP;
    if (rng.chance(0.5)) control |= KVM_GUESTDBG_USE_SW_BP;
    const debugreg = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];
    if (rng.chance(0.3)) {
      control |= KVM_GUESTDBG_USE_HW_BP;
      debugreg[0] = BigInt(entry + rng.int(16));
      debugreg[1] = BigInt(rng.pick([SCRATCH, STACK_TOP - 4, 0x9_0000]));
      // DR7: L0 (execute), L1 with R/W1 = write or read/write, 4 bytes.
      debugreg[7] = 0x1n | 0x4n | (BigInt(rng.pick([1, 3])) << 20n) | (3n << 22n);
    }
    this.desc.push(`debug=${hex(control)}`);
    this.ioctl(vcpu.fd, KVM_SET_GUEST_DEBUG, encodeKvmGuestDebug({ control, debugreg }));
  }

  // ── running ──

  private runGuest(vcpu: VcpuFd): void {
    const rng = this.rng;
    const run = vcpu.kvmRun;
    const inject = rng.chance(0.35);
    if (inject) this.desc.push("inject");
    for (let n = 0; n < this.runsPerGuest; n++) {
      if (inject) this.injectSome(vcpu);
      const r = this.kvmRun(vcpu);
      if (r === -EINTR) {
        this.count(this.report.exits, "EINTR");
        this.note("EINTR");
        if (run.exitReason !== KVM_EXIT_INTR) {
          this.violation(
            "EINTR exit_reason",
            `KVM_RUN returned EINTR with exit_reason ${run.exitReason}`,
          );
        }
        this.checkState(vcpu);
        continue;
      }
      if (r !== 0) {
        if (r > 0) this.violation("KVM_RUN > 0", `KVM_RUN returned ${r}`);
        return;
      }
      const reason = run.exitReason;
      const name = KVM_EXIT_REASON_NAMES[reason] ?? `KVM_EXIT_${reason}?`;
      this.count(this.report.exits, name);
      if (!POSSIBLE_EXITS.has(reason)) {
        this.note(name);
        this.violation(`exit ${name}`, `KVM_RUN returned 0 with exit_reason ${reason} (${name})`);
        this.checkState(vcpu);
        return;
      }
      const stop = this.onExit(vcpu, reason);
      this.checkState(vcpu);
      if (stop) return;
    }
  }

  /** KVM_INTERRUPT when kvm_run says the vCPU can take one, KVM_NMI now and then. */
  private injectSome(vcpu: VcpuFd): void {
    const rng = this.rng;
    const run = vcpu.kvmRun;
    if (run.readyForInterruptInjection && rng.chance(0.35)) {
      const v = rng.chance(0.85) ? rng.range(0x20, 0xff) : rng.int(0x20);
      this.note(`KVM_INTERRUPT ${hex(v)}`);
      this.ioctl(vcpu.fd, KVM_INTERRUPT, encodeKvmInterrupt(v));
    } else if (!run.readyForInterruptInjection && rng.chance(0.15)) {
      run.requestInterruptWindow = 1;
      this.note("request_interrupt_window");
    }
    if (rng.chance(0.08)) {
      this.note("KVM_NMI");
      this.ioctl(vcpu.fd, KVM_NMI);
    }
  }

  /** One KVM_RUN under the watchdog and the wall clock. */
  private kvmRun(vcpu: VcpuFd): number {
    this.report.runs++;
    this.entries = 0;
    const t0 = performance.now();
    let r: number;
    try {
      r = this.ioctl(vcpu.fd, KVM_RUN);
    } finally {
      this.entries = -1;
    }
    const ms = performance.now() - t0;
    if (ms > SLOW_RUN_MS) {
      this.violation("slow KVM_RUN", `KVM_RUN took ${ms.toFixed(0)} ms`);
    }
    // Consume the kick, if one was sent (EAGAIN otherwise).
    const s = this.host.os.sigtimedwait(SIGUSR1);
    if (s !== SIGUSR1 && s !== -EAGAIN)
      this.violation("sigtimedwait", `sigtimedwait returned ${s}`);
    return r;
  }

  /** Check and answer one exit; true when the guest is done. */
  private onExit(vcpu: VcpuFd, reason: number): boolean {
    const rng = this.rng;
    const run = vcpu.kvmRun;
    switch (reason) {
      case KVM_EXIT_IO: {
        const { ioSize, ioCount, ioDataOffset, ioPort, ioDirection } = run;
        const start = Number(ioDataOffset);
        const end = start + ioSize * ioCount;
        this.note(`IO ${ioDirection ? "out" : "in"} ${hex(ioPort)} ${ioSize}x${ioCount}`);
        if (
          ![1, 2, 4].includes(ioSize) ||
          ioCount < 1 ||
          start !== KVM_PIO_PAGE_OFFSET * PAGE_SIZE ||
          end > start + PAGE_SIZE
        ) {
          this.violation(
            "IO data",
            `KVM_EXIT_IO size ${ioSize} count ${ioCount} at ${start} overruns the PIO page`,
          );
          return true;
        }
        if (ioDirection === 0) rng.fill(run.bytes.subarray(start, end));
        return false;
      }
      case KVM_EXIT_MMIO: {
        const addr = run.mmioPhysAddr;
        const len = run.mmioLen;
        const write = run.mmioIsWrite !== 0;
        this.note(`MMIO ${write ? "w" : "r"} ${hex(addr)}/${len}`);
        if (len < 1 || len > 8) this.violation("MMIO len", `KVM_EXIT_MMIO with len ${len}`);
        for (const a of [addr, addr + BigInt(Math.max(len, 1) - 1)]) {
          const s = this.slots.find((x) => a >= BigInt(x.gpa) && a < BigInt(x.gpa + x.size));
          if (s && (!write || (s.flags & KVM_MEM_READONLY) === 0)) {
            this.violation(
              "MMIO in a slot",
              `KVM_EXIT_MMIO ${write ? "write" : "read"} of ${hex(addr)}/${len}, which slot ${s.slot} (flags ${s.flags}) backs`,
            );
            break;
          }
        }
        if (!write) rng.fill(run.mmioData.subarray(0, Math.min(Math.max(len, 0), 8)));
        return false;
      }
      case KVM_EXIT_DEBUG:
        this.note(`DEBUG ${run.debugException}@${hex(run.debugPc)}`);
        if (run.debugException !== 1 && run.debugException !== 3) {
          this.violation("DEBUG vector", `KVM_EXIT_DEBUG with exception ${run.debugException}`);
        }
        return false;
      case KVM_EXIT_IRQ_WINDOW_OPEN:
        this.note("IRQ_WINDOW_OPEN");
        run.requestInterruptWindow = 0;
        if (!run.readyForInterruptInjection) {
          this.violation(
            "IRQ window not ready",
            "KVM_EXIT_IRQ_WINDOW_OPEN with ready_for_interrupt_injection 0",
          );
          return true;
        }
        this.ioctl(vcpu.fd, KVM_INTERRUPT, encodeKvmInterrupt(rng.range(0x20, 0xff)));
        return false;
      case KVM_EXIT_SET_TPR:
        this.note(`SET_TPR cr8=${run.cr8}`);
        return false;
      case KVM_EXIT_HLT:
        this.note("HLT");
        // Now and then, wake it the way a VMM without an in-kernel irqchip does.
        if (run.readyForInterruptInjection && rng.chance(0.2)) {
          this.ioctl(vcpu.fd, KVM_INTERRUPT, encodeKvmInterrupt(rng.range(0x20, 0xff)));
          this.note("wake");
          return false;
        }
        return true;
      case KVM_EXIT_SHUTDOWN:
        this.note("SHUTDOWN");
        return true;
      case KVM_EXIT_FAIL_ENTRY: {
        const why = run.failEntryHardwareEntryFailureReason;
        this.note(`FAIL_ENTRY ${hex(why)}`);
        this.count(this.report.failEntry, hex(why));
        const basic = Number(why & 0xffffn);
        const entryFailure = (why & 0x8000_0000n) !== 0n && [33, 34, 41].includes(basic);
        const vmfail = why >= 1n && why <= 28n;
        if (!entryFailure && !vmfail) {
          this.violation(
            "FAIL_ENTRY reason",
            `KVM_EXIT_FAIL_ENTRY with hardware_entry_failure_reason ${hex(why)}`,
          );
        } else if (!this.tainted) {
          // The entry check that failed, as kvm_intel's printk names it.
          const rule = this.host.kernel.log
            .map((l) => /VM-entry failure: [\d.]+ ([\w-]+):|VMfailValid: [\d.]+ ([\w-]+):/.exec(l))
            .filter((m) => m !== null)
            .map((m) => m[1] ?? m[2])
            .pop();
          this.violation(
            `guest-caused FAIL_ENTRY ${hex(why)} (${rule ?? "?"})`,
            `KVM_EXIT_FAIL_ENTRY ${hex(why)} (${rule ?? "?"}) for a guest whose state userspace left valid`,
          );
        }
        return true;
      }
      case KVM_EXIT_INTERNAL_ERROR: {
        const sub = run.internalSuberror;
        const name = KVM_INTERNAL_ERROR_NAMES.get(sub) ?? `suberror ${sub}`;
        const data: string[] = [];
        for (let i = 0; i < Math.min(run.internalNdata, 4); i++)
          data.push(hex(run.internalData(i)));
        this.note(`INTERNAL_ERROR ${name} [${data.join(",")}]`);
        this.count(this.report.internalErrors, name);
        if (sub === KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON) {
          this.violation(
            `UNEXPECTED_EXIT_REASON ${data[0] ?? "?"}`,
            `KVM_EXIT_INTERNAL_ERROR: kvm_intel has no handler for exit reason ${data[0] ?? "?"}`,
          );
        }
        return true;
      }
      default:
        return true;
    }
  }

  /** KVM_GET_REGS, KVM_GET_SREGS and KVM_GET_VCPU_EVENTS work, and RIP is canonical. */
  private checkState(vcpu: VcpuFd): void {
    const rb = new Uint8Array(KVM_REGS_SIZE);
    const sb = new Uint8Array(KVM_SREGS_SIZE);
    if (this.ioctl(vcpu.fd, KVM_GET_REGS, rb, true) === 0) {
      const rip = decodeKvmRegs(rb).rip;
      if (!isCanonical(rip)) this.violation("non-canonical RIP", `RIP ${hex(rip)} after the exit`);
    }
    this.ioctl(vcpu.fd, KVM_GET_SREGS, sb, true);
    this.ioctl(vcpu.fd, KVM_GET_VCPU_EVENTS, new Uint8Array(KVM_VCPU_EVENTS_SIZE), true);
  }

  /** The VM is gone, and took its fds, mappings and kernel pages with it. */
  private checkTeardown(): void {
    const h = this.host;
    const vms = kvmGlobal(h.kernel)?.vms.size ?? 0;
    if (vms !== 0) this.violation("VM leak", `${vms} VM(s) alive after every fd was closed`);
    if (h.os.fds.size !== 1)
      this.violation("fd leak", `${h.os.fds.size} fds open, expected /dev/kvm alone`);
    if (h.os.mappings.length !== 2) {
      this.violation("mapping leak", `${h.os.mappings.length} mappings, expected guest RAM's two`);
    }
    const pages = kernelPages(h.kernel);
    if (h.baselinePages < 0) h.baselinePages = pages;
    else if (pages > h.baselinePages) {
      this.violation(
        "page leak",
        `${pages - h.baselinePages} kernel page(s) not freed with the VM`,
      );
      h.baselinePages = pages;
    }
  }

  /** dmesg -c: count every line; BUG, WARNING or "unexpected" is a violation. */
  private scanPrintk(): void {
    const log = this.host.kernel.log;
    for (const line of log.splice(0)) {
      const key = printkKey(line);
      this.count(this.report.printk, key);
      if (/\bBUG\b|WARNING|unexpected/i.test(line))
        this.violation(`printk: ${key}`, `printk: ${line}`);
    }
  }
}

/** Run `iterations` random guests from `seed`; the report says what happened. */
export function runGuestFuzz(opts: GuestFuzzOptions): GuestFuzzReport {
  const f = new GuestFuzzer(opts);
  f.run(opts.first ?? 0, opts.iterations);
  return f.report;
}
