/**
 * include/uapi/linux/kvm.h and arch/x86/include/uapi/asm/kvm.h: the numbers of the /dev/kvm
 * ABI on x86-64 — ioctl requests, exit reasons, capabilities and flags — as listed in
 * shared/reference/kvm-uapi.md (section numbers below refer to it).
 */

import { _IO, _IOR, _IOW, _IOWR } from "./ioctl.js";
import {
  KVM_CLOCK_DATA_SIZE,
  KVM_CPUID_HEADER_SIZE,
  KVM_CPUID2_HEADER_SIZE,
  KVM_DEBUGREGS_SIZE,
  KVM_DIRTY_LOG_SIZE,
  KVM_ENABLE_CAP_SIZE,
  KVM_FPU_SIZE,
  KVM_GUEST_DEBUG_SIZE,
  KVM_INTERRUPT_SIZE,
  KVM_IOEVENTFD_SIZE,
  KVM_IRQ_LEVEL_SIZE,
  KVM_IRQ_ROUTING_HEADER_SIZE,
  KVM_IRQCHIP_SIZE,
  KVM_IRQFD_SIZE,
  KVM_LAPIC_STATE_SIZE,
  KVM_MP_STATE_SIZE,
  KVM_MSR_LIST_HEADER_SIZE,
  KVM_MSRS_HEADER_SIZE,
  KVM_NESTED_STATE_HEADER_SIZE,
  KVM_ONE_REG_SIZE,
  KVM_PIT_CONFIG_SIZE,
  KVM_PIT_STATE2_SIZE,
  KVM_REGS_SIZE,
  KVM_SIGNAL_MASK_HEADER_SIZE,
  KVM_SREGS_SIZE,
  KVM_SREGS2_SIZE,
  KVM_TRANSLATION_SIZE,
  KVM_USERSPACE_MEMORY_REGION_SIZE,
  KVM_USERSPACE_MEMORY_REGION2_SIZE,
  KVM_VCPU_EVENTS_SIZE,
  KVM_XCRS_SIZE,
  KVM_XSAVE_SIZE,
} from "./structs.js";

/** ioctl type ("magic") byte of every KVM request. */
export const KVMIO = 0xae;
/** What KVM_GET_API_VERSION returns; userspace refuses any other value. */
export const KVM_API_VERSION = 12;
export const PAGE_SIZE = 4096;

/** sizeof(__u64): KVM_SET_IDENTITY_MAP_ADDR takes a pointer to one. */
const U64_SIZE = 8;

// ---------------------------------------------------------------------------------------
// §2 ioctl requests. Dispatch on the full value: several share an NR.

// System fd (/dev/kvm)
export const KVM_GET_API_VERSION = _IO(KVMIO, 0x00);
export const KVM_CREATE_VM = _IO(KVMIO, 0x01);
export const KVM_GET_MSR_INDEX_LIST = _IOWR(KVMIO, 0x02, KVM_MSR_LIST_HEADER_SIZE);
export const KVM_CHECK_EXTENSION = _IO(KVMIO, 0x03);
export const KVM_GET_VCPU_MMAP_SIZE = _IO(KVMIO, 0x04);
export const KVM_GET_SUPPORTED_CPUID = _IOWR(KVMIO, 0x05, KVM_CPUID2_HEADER_SIZE);
export const KVM_GET_EMULATED_CPUID = _IOWR(KVMIO, 0x09, KVM_CPUID2_HEADER_SIZE);
export const KVM_GET_MSR_FEATURE_INDEX_LIST = _IOWR(KVMIO, 0x0a, KVM_MSR_LIST_HEADER_SIZE);

// VM fd
export const KVM_CREATE_VCPU = _IO(KVMIO, 0x41);
export const KVM_GET_DIRTY_LOG = _IOW(KVMIO, 0x42, KVM_DIRTY_LOG_SIZE);
export const KVM_SET_USER_MEMORY_REGION = _IOW(KVMIO, 0x46, KVM_USERSPACE_MEMORY_REGION_SIZE);
export const KVM_SET_TSS_ADDR = _IO(KVMIO, 0x47);
export const KVM_SET_IDENTITY_MAP_ADDR = _IOW(KVMIO, 0x48, U64_SIZE);
export const KVM_SET_USER_MEMORY_REGION2 = _IOW(KVMIO, 0x49, KVM_USERSPACE_MEMORY_REGION2_SIZE);
export const KVM_CREATE_IRQCHIP = _IO(KVMIO, 0x60);
export const KVM_IRQ_LINE = _IOW(KVMIO, 0x61, KVM_IRQ_LEVEL_SIZE);
export const KVM_GET_IRQCHIP = _IOWR(KVMIO, 0x62, KVM_IRQCHIP_SIZE);
/** Historically declared `_IOR` although data flows user → kernel; the value is the ABI. */
export const KVM_SET_IRQCHIP = _IOR(KVMIO, 0x63, KVM_IRQCHIP_SIZE);
export const KVM_IRQ_LINE_STATUS = _IOWR(KVMIO, 0x67, KVM_IRQ_LEVEL_SIZE);
/** sizeof(struct kvm_coalesced_mmio_zone): addr u64, size u32, pad/pio u32. */
export const KVM_COALESCED_MMIO_ZONE_SIZE = 16;
export const KVM_REGISTER_COALESCED_MMIO = _IOW(KVMIO, 0x67, KVM_COALESCED_MMIO_ZONE_SIZE);
export const KVM_UNREGISTER_COALESCED_MMIO = _IOW(KVMIO, 0x68, KVM_COALESCED_MMIO_ZONE_SIZE);
export const KVM_SET_GSI_ROUTING = _IOW(KVMIO, 0x6a, KVM_IRQ_ROUTING_HEADER_SIZE);
export const KVM_IRQFD = _IOW(KVMIO, 0x76, KVM_IRQFD_SIZE);
export const KVM_CREATE_PIT2 = _IOW(KVMIO, 0x77, KVM_PIT_CONFIG_SIZE);
export const KVM_SET_BOOT_CPU_ID = _IO(KVMIO, 0x78);
export const KVM_IOEVENTFD = _IOW(KVMIO, 0x79, KVM_IOEVENTFD_SIZE);
export const KVM_SET_CLOCK = _IOW(KVMIO, 0x7b, KVM_CLOCK_DATA_SIZE);
export const KVM_GET_CLOCK = _IOR(KVMIO, 0x7c, KVM_CLOCK_DATA_SIZE);
/** Shares NR 0x9f with KVM_GET_VCPU_EVENTS (§1). */
export const KVM_GET_PIT2 = _IOR(KVMIO, 0x9f, KVM_PIT_STATE2_SIZE);
export const KVM_SET_PIT2 = _IOW(KVMIO, 0xa0, KVM_PIT_STATE2_SIZE);
/** VM and vCPU fds. Shares NR 0xa3 with KVM_GET_TSC_KHZ. */
export const KVM_ENABLE_CAP = _IOW(KVMIO, 0xa3, KVM_ENABLE_CAP_SIZE);

// vCPU fd
export const KVM_RUN = _IO(KVMIO, 0x80);
export const KVM_GET_REGS = _IOR(KVMIO, 0x81, KVM_REGS_SIZE);
export const KVM_SET_REGS = _IOW(KVMIO, 0x82, KVM_REGS_SIZE);
export const KVM_GET_SREGS = _IOR(KVMIO, 0x83, KVM_SREGS_SIZE);
export const KVM_SET_SREGS = _IOW(KVMIO, 0x84, KVM_SREGS_SIZE);
export const KVM_TRANSLATE = _IOWR(KVMIO, 0x85, KVM_TRANSLATION_SIZE);
export const KVM_INTERRUPT = _IOW(KVMIO, 0x86, KVM_INTERRUPT_SIZE);
export const KVM_GET_MSRS = _IOWR(KVMIO, 0x88, KVM_MSRS_HEADER_SIZE);
export const KVM_SET_MSRS = _IOW(KVMIO, 0x89, KVM_MSRS_HEADER_SIZE);
export const KVM_SET_CPUID = _IOW(KVMIO, 0x8a, KVM_CPUID_HEADER_SIZE);
export const KVM_SET_SIGNAL_MASK = _IOW(KVMIO, 0x8b, KVM_SIGNAL_MASK_HEADER_SIZE);
export const KVM_GET_FPU = _IOR(KVMIO, 0x8c, KVM_FPU_SIZE);
export const KVM_SET_FPU = _IOW(KVMIO, 0x8d, KVM_FPU_SIZE);
export const KVM_GET_LAPIC = _IOR(KVMIO, 0x8e, KVM_LAPIC_STATE_SIZE);
export const KVM_SET_LAPIC = _IOW(KVMIO, 0x8f, KVM_LAPIC_STATE_SIZE);
export const KVM_SET_CPUID2 = _IOW(KVMIO, 0x90, KVM_CPUID2_HEADER_SIZE);
export const KVM_GET_CPUID2 = _IOWR(KVMIO, 0x91, KVM_CPUID2_HEADER_SIZE);
export const KVM_GET_MP_STATE = _IOR(KVMIO, 0x98, KVM_MP_STATE_SIZE);
export const KVM_SET_MP_STATE = _IOW(KVMIO, 0x99, KVM_MP_STATE_SIZE);
export const KVM_NMI = _IO(KVMIO, 0x9a);
export const KVM_SET_GUEST_DEBUG = _IOW(KVMIO, 0x9b, KVM_GUEST_DEBUG_SIZE);
export const KVM_GET_VCPU_EVENTS = _IOR(KVMIO, 0x9f, KVM_VCPU_EVENTS_SIZE);
export const KVM_SET_VCPU_EVENTS = _IOW(KVMIO, 0xa0, KVM_VCPU_EVENTS_SIZE);
export const KVM_GET_DEBUGREGS = _IOR(KVMIO, 0xa1, KVM_DEBUGREGS_SIZE);
export const KVM_SET_DEBUGREGS = _IOW(KVMIO, 0xa2, KVM_DEBUGREGS_SIZE);
/** Shares NR 0xa2 with KVM_SET_DEBUGREGS; the kHz value is the argument itself. */
export const KVM_SET_TSC_KHZ = _IO(KVMIO, 0xa2);
/** Shares NR 0xa3 with KVM_ENABLE_CAP; returns kHz. */
export const KVM_GET_TSC_KHZ = _IO(KVMIO, 0xa3);
export const KVM_GET_XSAVE = _IOR(KVMIO, 0xa4, KVM_XSAVE_SIZE);
export const KVM_SET_XSAVE = _IOW(KVMIO, 0xa5, KVM_XSAVE_SIZE);
export const KVM_GET_XCRS = _IOR(KVMIO, 0xa6, KVM_XCRS_SIZE);
export const KVM_SET_XCRS = _IOW(KVMIO, 0xa7, KVM_XCRS_SIZE);
/** `_IOW` in both directions: the struct only carries the id and a pointer. */
export const KVM_GET_ONE_REG = _IOW(KVMIO, 0xab, KVM_ONE_REG_SIZE);
export const KVM_SET_ONE_REG = _IOW(KVMIO, 0xac, KVM_ONE_REG_SIZE);
export const KVM_GET_NESTED_STATE = _IOWR(KVMIO, 0xbe, KVM_NESTED_STATE_HEADER_SIZE);
export const KVM_SET_NESTED_STATE = _IOW(KVMIO, 0xbf, KVM_NESTED_STATE_HEADER_SIZE);
export const KVM_GET_SREGS2 = _IOR(KVMIO, 0xcc, KVM_SREGS2_SIZE);
export const KVM_SET_SREGS2 = _IOW(KVMIO, 0xcd, KVM_SREGS2_SIZE);

/** Request value → name, for every request above. */
export const KVM_IOCTL_NAMES: ReadonlyMap<number, string> = new Map([
  [KVM_GET_API_VERSION, "KVM_GET_API_VERSION"],
  [KVM_CREATE_VM, "KVM_CREATE_VM"],
  [KVM_GET_MSR_INDEX_LIST, "KVM_GET_MSR_INDEX_LIST"],
  [KVM_CHECK_EXTENSION, "KVM_CHECK_EXTENSION"],
  [KVM_GET_VCPU_MMAP_SIZE, "KVM_GET_VCPU_MMAP_SIZE"],
  [KVM_GET_SUPPORTED_CPUID, "KVM_GET_SUPPORTED_CPUID"],
  [KVM_GET_EMULATED_CPUID, "KVM_GET_EMULATED_CPUID"],
  [KVM_GET_MSR_FEATURE_INDEX_LIST, "KVM_GET_MSR_FEATURE_INDEX_LIST"],
  [KVM_CREATE_VCPU, "KVM_CREATE_VCPU"],
  [KVM_GET_DIRTY_LOG, "KVM_GET_DIRTY_LOG"],
  [KVM_SET_USER_MEMORY_REGION, "KVM_SET_USER_MEMORY_REGION"],
  [KVM_SET_TSS_ADDR, "KVM_SET_TSS_ADDR"],
  [KVM_SET_IDENTITY_MAP_ADDR, "KVM_SET_IDENTITY_MAP_ADDR"],
  [KVM_SET_USER_MEMORY_REGION2, "KVM_SET_USER_MEMORY_REGION2"],
  [KVM_CREATE_IRQCHIP, "KVM_CREATE_IRQCHIP"],
  [KVM_IRQ_LINE, "KVM_IRQ_LINE"],
  [KVM_GET_IRQCHIP, "KVM_GET_IRQCHIP"],
  [KVM_SET_IRQCHIP, "KVM_SET_IRQCHIP"],
  [KVM_IRQ_LINE_STATUS, "KVM_IRQ_LINE_STATUS"],
  [KVM_REGISTER_COALESCED_MMIO, "KVM_REGISTER_COALESCED_MMIO"],
  [KVM_UNREGISTER_COALESCED_MMIO, "KVM_UNREGISTER_COALESCED_MMIO"],
  [KVM_SET_GSI_ROUTING, "KVM_SET_GSI_ROUTING"],
  [KVM_IRQFD, "KVM_IRQFD"],
  [KVM_CREATE_PIT2, "KVM_CREATE_PIT2"],
  [KVM_SET_BOOT_CPU_ID, "KVM_SET_BOOT_CPU_ID"],
  [KVM_IOEVENTFD, "KVM_IOEVENTFD"],
  [KVM_SET_CLOCK, "KVM_SET_CLOCK"],
  [KVM_GET_CLOCK, "KVM_GET_CLOCK"],
  [KVM_GET_PIT2, "KVM_GET_PIT2"],
  [KVM_SET_PIT2, "KVM_SET_PIT2"],
  [KVM_ENABLE_CAP, "KVM_ENABLE_CAP"],
  [KVM_RUN, "KVM_RUN"],
  [KVM_GET_REGS, "KVM_GET_REGS"],
  [KVM_SET_REGS, "KVM_SET_REGS"],
  [KVM_GET_SREGS, "KVM_GET_SREGS"],
  [KVM_SET_SREGS, "KVM_SET_SREGS"],
  [KVM_TRANSLATE, "KVM_TRANSLATE"],
  [KVM_INTERRUPT, "KVM_INTERRUPT"],
  [KVM_GET_MSRS, "KVM_GET_MSRS"],
  [KVM_SET_MSRS, "KVM_SET_MSRS"],
  [KVM_SET_CPUID, "KVM_SET_CPUID"],
  [KVM_SET_SIGNAL_MASK, "KVM_SET_SIGNAL_MASK"],
  [KVM_GET_FPU, "KVM_GET_FPU"],
  [KVM_SET_FPU, "KVM_SET_FPU"],
  [KVM_GET_LAPIC, "KVM_GET_LAPIC"],
  [KVM_SET_LAPIC, "KVM_SET_LAPIC"],
  [KVM_SET_CPUID2, "KVM_SET_CPUID2"],
  [KVM_GET_CPUID2, "KVM_GET_CPUID2"],
  [KVM_GET_MP_STATE, "KVM_GET_MP_STATE"],
  [KVM_SET_MP_STATE, "KVM_SET_MP_STATE"],
  [KVM_NMI, "KVM_NMI"],
  [KVM_SET_GUEST_DEBUG, "KVM_SET_GUEST_DEBUG"],
  [KVM_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS"],
  [KVM_SET_VCPU_EVENTS, "KVM_SET_VCPU_EVENTS"],
  [KVM_GET_DEBUGREGS, "KVM_GET_DEBUGREGS"],
  [KVM_SET_DEBUGREGS, "KVM_SET_DEBUGREGS"],
  [KVM_SET_TSC_KHZ, "KVM_SET_TSC_KHZ"],
  [KVM_GET_TSC_KHZ, "KVM_GET_TSC_KHZ"],
  [KVM_GET_XSAVE, "KVM_GET_XSAVE"],
  [KVM_SET_XSAVE, "KVM_SET_XSAVE"],
  [KVM_GET_XCRS, "KVM_GET_XCRS"],
  [KVM_SET_XCRS, "KVM_SET_XCRS"],
  [KVM_GET_ONE_REG, "KVM_GET_ONE_REG"],
  [KVM_SET_ONE_REG, "KVM_SET_ONE_REG"],
  [KVM_GET_NESTED_STATE, "KVM_GET_NESTED_STATE"],
  [KVM_SET_NESTED_STATE, "KVM_SET_NESTED_STATE"],
  [KVM_GET_SREGS2, "KVM_GET_SREGS2"],
  [KVM_SET_SREGS2, "KVM_SET_SREGS2"],
]);

function hex32(value: number): string {
  return `0x${(value >>> 0).toString(16).padStart(8, "0")}`;
}

/** "KVM_RUN" for a known request, else the value as "0x" + 8 lower-case hex digits. */
export function kvmIoctlName(req: number): string {
  return KVM_IOCTL_NAMES.get(req >>> 0) ?? hex32(req);
}

// ---------------------------------------------------------------------------------------
// §2 KVM_CREATE_VM machine types (x86)

export const KVM_X86_DEFAULT_VM = 0;
export const KVM_X86_SW_PROTECTED_VM = 1;
export const KVM_X86_SEV_VM = 2;
export const KVM_X86_SEV_ES_VM = 3;
export const KVM_X86_SNP_VM = 4;

// ---------------------------------------------------------------------------------------
// §3 vCPU mmap area, in pages from the start of the mapping

export const KVM_PIO_PAGE_OFFSET = 1;
export const KVM_COALESCED_MMIO_PAGE_OFFSET = 2;
/**
 * The coalesced MMIO/PIO ring in that page: struct kvm_coalesced_mmio_ring { u32 first,
 * last; struct kvm_coalesced_mmio entries[] } with 24-byte entries { u64 phys_addr; u32
 * len; u32 pio; u8 data[8] } — KVM_COALESCED_MMIO_MAX of them.
 */
export const KVM_COALESCED_MMIO_ENTRY_SIZE = 24;
export const KVM_COALESCED_MMIO_MAX = Math.floor((4096 - 8) / KVM_COALESCED_MMIO_ENTRY_SIZE);
export const KVM_DIRTY_LOG_PAGE_OFFSET = 64;

// ---------------------------------------------------------------------------------------
// §4 kvm_run.flags, sync regs

export const KVM_RUN_X86_SMM = 0x1;
export const KVM_RUN_X86_BUS_LOCK = 0x2;

export const KVM_SYNC_X86_REGS = 1 << 0;
export const KVM_SYNC_X86_SREGS = 1 << 1;
export const KVM_SYNC_X86_EVENTS = 1 << 2;
export const KVM_SYNC_X86_VALID_FIELDS =
  KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS;

// ---------------------------------------------------------------------------------------
// §6.1 exit reasons (kvm_run.exit_reason)

export const KVM_EXIT_UNKNOWN = 0;
export const KVM_EXIT_EXCEPTION = 1;
export const KVM_EXIT_IO = 2;
export const KVM_EXIT_HYPERCALL = 3;
export const KVM_EXIT_DEBUG = 4;
export const KVM_EXIT_HLT = 5;
export const KVM_EXIT_MMIO = 6;
export const KVM_EXIT_IRQ_WINDOW_OPEN = 7;
export const KVM_EXIT_SHUTDOWN = 8;
export const KVM_EXIT_FAIL_ENTRY = 9;
export const KVM_EXIT_INTR = 10;
export const KVM_EXIT_SET_TPR = 11;
export const KVM_EXIT_TPR_ACCESS = 12;
export const KVM_EXIT_S390_SIEIC = 13;
export const KVM_EXIT_S390_RESET = 14;
export const KVM_EXIT_DCR = 15;
export const KVM_EXIT_NMI = 16;
export const KVM_EXIT_INTERNAL_ERROR = 17;
export const KVM_EXIT_OSI = 18;
export const KVM_EXIT_PAPR_HCALL = 19;
export const KVM_EXIT_S390_UCONTROL = 20;
export const KVM_EXIT_WATCHDOG = 21;
export const KVM_EXIT_S390_TSCH = 22;
export const KVM_EXIT_EPR = 23;
export const KVM_EXIT_SYSTEM_EVENT = 24;
export const KVM_EXIT_S390_STSI = 25;
export const KVM_EXIT_IOAPIC_EOI = 26;
export const KVM_EXIT_HYPERV = 27;
export const KVM_EXIT_ARM_NISV = 28;
export const KVM_EXIT_X86_RDMSR = 29;
export const KVM_EXIT_X86_WRMSR = 30;
export const KVM_EXIT_DIRTY_RING_FULL = 31;
export const KVM_EXIT_AP_RESET_HOLD = 32;
export const KVM_EXIT_X86_BUS_LOCK = 33;
export const KVM_EXIT_XEN = 34;
export const KVM_EXIT_RISCV_SBI = 35;
export const KVM_EXIT_RISCV_CSR = 36;
export const KVM_EXIT_NOTIFY = 37;
export const KVM_EXIT_LOONGARCH_IOCSR = 38;
export const KVM_EXIT_MEMORY_FAULT = 39;
/** 6.16+ headers; not verified against a release header. */
export const KVM_EXIT_TDX = 40;
/** Very recent; from patch text only. */
export const KVM_EXIT_ARM_SEA = 41;

/** Every KVM_EXIT_* value, as a literal union. */
export type KvmExitReason =
  | typeof KVM_EXIT_UNKNOWN
  | typeof KVM_EXIT_EXCEPTION
  | typeof KVM_EXIT_IO
  | typeof KVM_EXIT_HYPERCALL
  | typeof KVM_EXIT_DEBUG
  | typeof KVM_EXIT_HLT
  | typeof KVM_EXIT_MMIO
  | typeof KVM_EXIT_IRQ_WINDOW_OPEN
  | typeof KVM_EXIT_SHUTDOWN
  | typeof KVM_EXIT_FAIL_ENTRY
  | typeof KVM_EXIT_INTR
  | typeof KVM_EXIT_SET_TPR
  | typeof KVM_EXIT_TPR_ACCESS
  | typeof KVM_EXIT_S390_SIEIC
  | typeof KVM_EXIT_S390_RESET
  | typeof KVM_EXIT_DCR
  | typeof KVM_EXIT_NMI
  | typeof KVM_EXIT_INTERNAL_ERROR
  | typeof KVM_EXIT_OSI
  | typeof KVM_EXIT_PAPR_HCALL
  | typeof KVM_EXIT_S390_UCONTROL
  | typeof KVM_EXIT_WATCHDOG
  | typeof KVM_EXIT_S390_TSCH
  | typeof KVM_EXIT_EPR
  | typeof KVM_EXIT_SYSTEM_EVENT
  | typeof KVM_EXIT_S390_STSI
  | typeof KVM_EXIT_IOAPIC_EOI
  | typeof KVM_EXIT_HYPERV
  | typeof KVM_EXIT_ARM_NISV
  | typeof KVM_EXIT_X86_RDMSR
  | typeof KVM_EXIT_X86_WRMSR
  | typeof KVM_EXIT_DIRTY_RING_FULL
  | typeof KVM_EXIT_AP_RESET_HOLD
  | typeof KVM_EXIT_X86_BUS_LOCK
  | typeof KVM_EXIT_XEN
  | typeof KVM_EXIT_RISCV_SBI
  | typeof KVM_EXIT_RISCV_CSR
  | typeof KVM_EXIT_NOTIFY
  | typeof KVM_EXIT_LOONGARCH_IOCSR
  | typeof KVM_EXIT_MEMORY_FAULT
  | typeof KVM_EXIT_TDX
  | typeof KVM_EXIT_ARM_SEA;

/** Exit reason name indexed by value: `KVM_EXIT_REASON_NAMES[2]` is "KVM_EXIT_IO". */
export const KVM_EXIT_REASON_NAMES: readonly string[] = Object.freeze([
  "KVM_EXIT_UNKNOWN",
  "KVM_EXIT_EXCEPTION",
  "KVM_EXIT_IO",
  "KVM_EXIT_HYPERCALL",
  "KVM_EXIT_DEBUG",
  "KVM_EXIT_HLT",
  "KVM_EXIT_MMIO",
  "KVM_EXIT_IRQ_WINDOW_OPEN",
  "KVM_EXIT_SHUTDOWN",
  "KVM_EXIT_FAIL_ENTRY",
  "KVM_EXIT_INTR",
  "KVM_EXIT_SET_TPR",
  "KVM_EXIT_TPR_ACCESS",
  "KVM_EXIT_S390_SIEIC",
  "KVM_EXIT_S390_RESET",
  "KVM_EXIT_DCR",
  "KVM_EXIT_NMI",
  "KVM_EXIT_INTERNAL_ERROR",
  "KVM_EXIT_OSI",
  "KVM_EXIT_PAPR_HCALL",
  "KVM_EXIT_S390_UCONTROL",
  "KVM_EXIT_WATCHDOG",
  "KVM_EXIT_S390_TSCH",
  "KVM_EXIT_EPR",
  "KVM_EXIT_SYSTEM_EVENT",
  "KVM_EXIT_S390_STSI",
  "KVM_EXIT_IOAPIC_EOI",
  "KVM_EXIT_HYPERV",
  "KVM_EXIT_ARM_NISV",
  "KVM_EXIT_X86_RDMSR",
  "KVM_EXIT_X86_WRMSR",
  "KVM_EXIT_DIRTY_RING_FULL",
  "KVM_EXIT_AP_RESET_HOLD",
  "KVM_EXIT_X86_BUS_LOCK",
  "KVM_EXIT_XEN",
  "KVM_EXIT_RISCV_SBI",
  "KVM_EXIT_RISCV_CSR",
  "KVM_EXIT_NOTIFY",
  "KVM_EXIT_LOONGARCH_IOCSR",
  "KVM_EXIT_MEMORY_FAULT",
  "KVM_EXIT_TDX",
  "KVM_EXIT_ARM_SEA",
]);

/** "KVM_EXIT_IO" for a known exit reason, else "KVM_EXIT_<n>?" (e.g. "KVM_EXIT_99?"). */
export function kvmExitReasonName(reason: number): string {
  return KVM_EXIT_REASON_NAMES[reason] ?? `KVM_EXIT_${reason}?`;
}

/** kvm_run.io.direction */
export const KVM_EXIT_IO_IN = 0;
export const KVM_EXIT_IO_OUT = 1;

// §6.2 kvm_run.system_event.type
export const KVM_SYSTEM_EVENT_SHUTDOWN = 1;
export const KVM_SYSTEM_EVENT_RESET = 2;
export const KVM_SYSTEM_EVENT_CRASH = 3;
export const KVM_SYSTEM_EVENT_WAKEUP = 4;
export const KVM_SYSTEM_EVENT_SUSPEND = 5;
export const KVM_SYSTEM_EVENT_SEV_TERM = 6;

export const KVM_SYSTEM_EVENT_NAMES: ReadonlyMap<number, string> = new Map([
  [KVM_SYSTEM_EVENT_SHUTDOWN, "KVM_SYSTEM_EVENT_SHUTDOWN"],
  [KVM_SYSTEM_EVENT_RESET, "KVM_SYSTEM_EVENT_RESET"],
  [KVM_SYSTEM_EVENT_CRASH, "KVM_SYSTEM_EVENT_CRASH"],
  [KVM_SYSTEM_EVENT_WAKEUP, "KVM_SYSTEM_EVENT_WAKEUP"],
  [KVM_SYSTEM_EVENT_SUSPEND, "KVM_SYSTEM_EVENT_SUSPEND"],
  [KVM_SYSTEM_EVENT_SEV_TERM, "KVM_SYSTEM_EVENT_SEV_TERM"],
]);

// §6.3 kvm_run.internal.suberror
export const KVM_INTERNAL_ERROR_EMULATION = 1;
export const KVM_INTERNAL_ERROR_SIMUL_EX = 2;
export const KVM_INTERNAL_ERROR_DELIVERY_EV = 3;
export const KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON = 4;
/** emulation_failure.flags bit 0: insn_size / insn_bytes are valid. */
export const KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES = 1;

export const KVM_INTERNAL_ERROR_NAMES: ReadonlyMap<number, string> = new Map([
  [KVM_INTERNAL_ERROR_EMULATION, "KVM_INTERNAL_ERROR_EMULATION"],
  [KVM_INTERNAL_ERROR_SIMUL_EX, "KVM_INTERNAL_ERROR_SIMUL_EX"],
  [KVM_INTERNAL_ERROR_DELIVERY_EV, "KVM_INTERNAL_ERROR_DELIVERY_EV"],
  [KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON, "KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON"],
]);

// §6.4 kvm_run.msr.reason
export const KVM_MSR_EXIT_REASON_INVAL = 1 << 0;
export const KVM_MSR_EXIT_REASON_UNKNOWN = 1 << 1;
export const KVM_MSR_EXIT_REASON_FILTER = 1 << 2;

// ---------------------------------------------------------------------------------------
// §7 flags

// kvm_guest_debug.control
export const KVM_GUESTDBG_ENABLE = 0x00000001;
export const KVM_GUESTDBG_SINGLESTEP = 0x00000002;
export const KVM_GUESTDBG_USE_SW_BP = 0x00010000;
export const KVM_GUESTDBG_USE_HW_BP = 0x00020000;
export const KVM_GUESTDBG_INJECT_DB = 0x00040000;
export const KVM_GUESTDBG_INJECT_BP = 0x00080000;
export const KVM_GUESTDBG_BLOCKIRQ = 0x00100000;
/** Every control bit x86 accepts. */
export const KVM_GUESTDBG_VALID_MASK =
  KVM_GUESTDBG_ENABLE |
  KVM_GUESTDBG_SINGLESTEP |
  KVM_GUESTDBG_USE_SW_BP |
  KVM_GUESTDBG_USE_HW_BP |
  KVM_GUESTDBG_INJECT_DB |
  KVM_GUESTDBG_INJECT_BP |
  KVM_GUESTDBG_BLOCKIRQ;

// kvm_vcpu_events.flags
export const KVM_VCPUEVENT_VALID_NMI_PENDING = 0x01;
export const KVM_VCPUEVENT_VALID_SIPI_VECTOR = 0x02;
export const KVM_VCPUEVENT_VALID_SHADOW = 0x04;
export const KVM_VCPUEVENT_VALID_SMM = 0x08;
export const KVM_VCPUEVENT_VALID_PAYLOAD = 0x10;
export const KVM_VCPUEVENT_VALID_TRIPLE_FAULT = 0x20;

// kvm_vcpu_events.interrupt.shadow
export const KVM_X86_SHADOW_INT_MOV_SS = 0x01;
export const KVM_X86_SHADOW_INT_STI = 0x02;

// kvm_mp_state.mp_state
export const KVM_MP_STATE_RUNNABLE = 0;
export const KVM_MP_STATE_UNINITIALIZED = 1;
export const KVM_MP_STATE_INIT_RECEIVED = 2;
export const KVM_MP_STATE_HALTED = 3;
export const KVM_MP_STATE_SIPI_RECEIVED = 4;
/** 5..8 are not used on x86. */
export const KVM_MP_STATE_STOPPED = 5;
export const KVM_MP_STATE_CHECK_STOP = 6;
export const KVM_MP_STATE_OPERATING = 7;
export const KVM_MP_STATE_LOAD = 8;
export const KVM_MP_STATE_AP_RESET_HOLD = 9;
export const KVM_MP_STATE_SUSPENDED = 10;

// kvm_irqchip.chip_id
export const KVM_IRQCHIP_PIC_MASTER = 0;
export const KVM_IRQCHIP_PIC_SLAVE = 1;
export const KVM_IRQCHIP_IOAPIC = 2;

export const KVM_NR_INTERRUPTS = 256;
/** Bytes of kvm_lapic_state.regs: the first 1 KiB of the xAPIC register page. */
export const KVM_APIC_REG_SIZE = 0x400;
export const KVM_MAX_XCRS = 16;
/** KVM_SET_CPUID2 fails with E2BIG above this many entries. */
export const KVM_MAX_CPUID_ENTRIES = 256;
/** KVM_GET_MSRS / KVM_SET_MSRS need nmsrs < MAX_IO_MSRS (else E2BIG). */
export const MAX_IO_MSRS = 256;

// kvm_cpuid_entry2.flags
/** The subleaf (index) matters for this leaf. Misspelt in the uapi header; kept as is. */
export const KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1 << 0;
/** Deprecated. */
export const KVM_CPUID_FLAG_STATEFUL_FUNC = 1 << 1;
/** Deprecated. */
export const KVM_CPUID_FLAG_STATE_READ_NEXT = 1 << 2;

// kvm_userspace_memory_region.flags (user-visible bits 15:0)
export const KVM_MEM_LOG_DIRTY_PAGES = 1 << 0;
export const KVM_MEM_READONLY = 1 << 1;
/** kvm_userspace_memory_region2 only. */
export const KVM_MEM_GUEST_MEMFD = 1 << 2;

// kvm_pit_config.flags
export const KVM_PIT_SPEAKER_DUMMY = 1;
// kvm_pit_state2.flags
export const KVM_PIT_FLAGS_HPET_LEGACY = 0x0000_0001;
export const KVM_PIT_FLAGS_SPEAKER_DATA_ON = 0x0000_0002;

// kvm_clock_data.flags
export const KVM_CLOCK_TSC_STABLE = 1 << 1;
export const KVM_CLOCK_REALTIME = 1 << 2;
export const KVM_CLOCK_HOST_TSC = 1 << 3;

// kvm_ioeventfd.flags
export const KVM_IOEVENTFD_FLAG_DATAMATCH = 1 << 0;
export const KVM_IOEVENTFD_FLAG_PIO = 1 << 1;
export const KVM_IOEVENTFD_FLAG_DEASSIGN = 1 << 2;
export const KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY = 1 << 3;

// kvm_irqfd.flags
export const KVM_IRQFD_FLAG_DEASSIGN = 1 << 0;
export const KVM_IRQFD_FLAG_RESAMPLE = 1 << 1;

// ---------------------------------------------------------------------------------------
// §8 capabilities (KVM_CHECK_EXTENSION / KVM_ENABLE_CAP argument)

export const KVM_CAP_IRQCHIP = 0;
export const KVM_CAP_HLT = 1;
export const KVM_CAP_USER_MEMORY = 3;
export const KVM_CAP_SET_TSS_ADDR = 4;
export const KVM_CAP_VAPIC = 6;
export const KVM_CAP_EXT_CPUID = 7;
export const KVM_CAP_CLOCKSOURCE = 8;
/** Recommended maximum number of vCPUs. */
export const KVM_CAP_NR_VCPUS = 9;
/** Maximum number of user memory slots. */
export const KVM_CAP_NR_MEMSLOTS = 10;
export const KVM_CAP_PIT = 11;
export const KVM_CAP_NOP_IO_DELAY = 12;
export const KVM_CAP_MP_STATE = 14;
/** Returns the page offset of the coalesced MMIO ring (2). */
export const KVM_CAP_COALESCED_MMIO = 15;
export const KVM_CAP_SYNC_MMU = 16;
export const KVM_CAP_DESTROY_MEMORY_REGION_WORKS = 21;
export const KVM_CAP_USER_NMI = 22;
export const KVM_CAP_SET_GUEST_DEBUG = 23;
export const KVM_CAP_REINJECT_CONTROL = 24;
export const KVM_CAP_IRQ_ROUTING = 25;
export const KVM_CAP_IRQ_INJECT_STATUS = 26;
export const KVM_CAP_JOIN_MEMORY_REGIONS_WORKS = 30;
export const KVM_CAP_MCE = 31;
export const KVM_CAP_IRQFD = 32;
export const KVM_CAP_PIT2 = 33;
export const KVM_CAP_SET_BOOT_CPU_ID = 34;
export const KVM_CAP_PIT_STATE2 = 35;
export const KVM_CAP_IOEVENTFD = 36;
export const KVM_CAP_SET_IDENTITY_MAP_ADDR = 37;
export const KVM_CAP_XEN_HVM = 38;
export const KVM_CAP_ADJUST_CLOCK = 39;
export const KVM_CAP_INTERNAL_ERROR_DATA = 40;
export const KVM_CAP_VCPU_EVENTS = 41;
export const KVM_CAP_INTR_SHADOW = 49;
export const KVM_CAP_DEBUGREGS = 50;
export const KVM_CAP_X86_ROBUST_SINGLESTEP = 51;
export const KVM_CAP_ENABLE_CAP = 54;
export const KVM_CAP_XSAVE = 55;
export const KVM_CAP_XCRS = 56;
export const KVM_CAP_ASYNC_PF = 59;
export const KVM_CAP_TSC_CONTROL = 60;
export const KVM_CAP_GET_TSC_KHZ = 61;
export const KVM_CAP_MAX_VCPUS = 66;
export const KVM_CAP_ONE_REG = 70;
export const KVM_CAP_TSC_DEADLINE_TIMER = 72;
export const KVM_CAP_SYNC_REGS = 74;
export const KVM_CAP_KVMCLOCK_CTRL = 76;
export const KVM_CAP_SIGNAL_MSI = 77;
export const KVM_CAP_READONLY_MEM = 81;
export const KVM_CAP_IRQFD_RESAMPLE = 82;
export const KVM_CAP_DEVICE_CTRL = 89;
export const KVM_CAP_ENABLE_CAP_VM = 98;
export const KVM_CAP_CHECK_EXTENSION_VM = 105;
export const KVM_CAP_DISABLE_QUIRKS = 116;
export const KVM_CAP_X86_SMM = 117;
export const KVM_CAP_MULTI_ADDRESS_SPACE = 118;
export const KVM_CAP_SPLIT_IRQCHIP = 121;
export const KVM_CAP_IOEVENTFD_ANY_LENGTH = 122;
export const KVM_CAP_MAX_VCPU_ID = 128;
export const KVM_CAP_X2APIC_API = 129;
export const KVM_CAP_IMMEDIATE_EXIT = 136;
export const KVM_CAP_X86_DISABLE_EXITS = 143;
export const KVM_CAP_GET_MSR_FEATURES = 153;
export const KVM_CAP_NESTED_STATE = 157;
export const KVM_CAP_COALESCED_PIO = 162;
export const KVM_CAP_EXCEPTION_PAYLOAD = 164;
export const KVM_CAP_LAST_CPU = 184;
export const KVM_CAP_X86_USER_SPACE_MSR = 188;
export const KVM_CAP_X86_MSR_FILTER = 189;
export const KVM_CAP_DIRTY_LOG_RING = 192;
export const KVM_CAP_SET_GUEST_DEBUG2 = 195;
export const KVM_CAP_SREGS2 = 200;
export const KVM_CAP_EXIT_HYPERCALL = 201;
export const KVM_CAP_BINARY_STATS_FD = 203;
export const KVM_CAP_EXIT_ON_EMULATION_FAILURE = 204;
export const KVM_CAP_XSAVE2 = 208;
export const KVM_CAP_SYSTEM_EVENT_DATA = 215;
export const KVM_CAP_X86_TRIPLE_FAULT_EVENT = 218;
export const KVM_CAP_X86_NOTIFY_VMEXIT = 219;
/** 6.8+ headers. */
export const KVM_CAP_USER_MEMORY2 = 231;
/** 6.8+ headers. */
export const KVM_CAP_MEMORY_FAULT_INFO = 232;
/** 6.8+ headers. */
export const KVM_CAP_MEMORY_ATTRIBUTES = 233;
/** 6.8+ headers. */
export const KVM_CAP_GUEST_MEMFD = 234;
/** 6.8+ headers. */
export const KVM_CAP_VM_TYPES = 235;
/** Newer headers. */
export const KVM_CAP_PRE_FAULT_MEMORY = 236;

/** Capability number → name, for every KVM_CAP_* above. */
export const KVM_CAP_NAMES: ReadonlyMap<number, string> = new Map([
  [KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"],
  [KVM_CAP_HLT, "KVM_CAP_HLT"],
  [KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"],
  [KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"],
  [KVM_CAP_VAPIC, "KVM_CAP_VAPIC"],
  [KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"],
  [KVM_CAP_CLOCKSOURCE, "KVM_CAP_CLOCKSOURCE"],
  [KVM_CAP_NR_VCPUS, "KVM_CAP_NR_VCPUS"],
  [KVM_CAP_NR_MEMSLOTS, "KVM_CAP_NR_MEMSLOTS"],
  [KVM_CAP_PIT, "KVM_CAP_PIT"],
  [KVM_CAP_NOP_IO_DELAY, "KVM_CAP_NOP_IO_DELAY"],
  [KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"],
  [KVM_CAP_COALESCED_MMIO, "KVM_CAP_COALESCED_MMIO"],
  [KVM_CAP_COALESCED_PIO, "KVM_CAP_COALESCED_PIO"],
  [KVM_CAP_SYNC_MMU, "KVM_CAP_SYNC_MMU"],
  [KVM_CAP_DESTROY_MEMORY_REGION_WORKS, "KVM_CAP_DESTROY_MEMORY_REGION_WORKS"],
  [KVM_CAP_USER_NMI, "KVM_CAP_USER_NMI"],
  [KVM_CAP_SET_GUEST_DEBUG, "KVM_CAP_SET_GUEST_DEBUG"],
  [KVM_CAP_REINJECT_CONTROL, "KVM_CAP_REINJECT_CONTROL"],
  [KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING"],
  [KVM_CAP_IRQ_INJECT_STATUS, "KVM_CAP_IRQ_INJECT_STATUS"],
  [KVM_CAP_JOIN_MEMORY_REGIONS_WORKS, "KVM_CAP_JOIN_MEMORY_REGIONS_WORKS"],
  [KVM_CAP_MCE, "KVM_CAP_MCE"],
  [KVM_CAP_IRQFD, "KVM_CAP_IRQFD"],
  [KVM_CAP_PIT2, "KVM_CAP_PIT2"],
  [KVM_CAP_SET_BOOT_CPU_ID, "KVM_CAP_SET_BOOT_CPU_ID"],
  [KVM_CAP_PIT_STATE2, "KVM_CAP_PIT_STATE2"],
  [KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"],
  [KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR"],
  [KVM_CAP_XEN_HVM, "KVM_CAP_XEN_HVM"],
  [KVM_CAP_ADJUST_CLOCK, "KVM_CAP_ADJUST_CLOCK"],
  [KVM_CAP_INTERNAL_ERROR_DATA, "KVM_CAP_INTERNAL_ERROR_DATA"],
  [KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS"],
  [KVM_CAP_INTR_SHADOW, "KVM_CAP_INTR_SHADOW"],
  [KVM_CAP_DEBUGREGS, "KVM_CAP_DEBUGREGS"],
  [KVM_CAP_X86_ROBUST_SINGLESTEP, "KVM_CAP_X86_ROBUST_SINGLESTEP"],
  [KVM_CAP_ENABLE_CAP, "KVM_CAP_ENABLE_CAP"],
  [KVM_CAP_XSAVE, "KVM_CAP_XSAVE"],
  [KVM_CAP_XCRS, "KVM_CAP_XCRS"],
  [KVM_CAP_ASYNC_PF, "KVM_CAP_ASYNC_PF"],
  [KVM_CAP_TSC_CONTROL, "KVM_CAP_TSC_CONTROL"],
  [KVM_CAP_GET_TSC_KHZ, "KVM_CAP_GET_TSC_KHZ"],
  [KVM_CAP_MAX_VCPUS, "KVM_CAP_MAX_VCPUS"],
  [KVM_CAP_ONE_REG, "KVM_CAP_ONE_REG"],
  [KVM_CAP_TSC_DEADLINE_TIMER, "KVM_CAP_TSC_DEADLINE_TIMER"],
  [KVM_CAP_SYNC_REGS, "KVM_CAP_SYNC_REGS"],
  [KVM_CAP_KVMCLOCK_CTRL, "KVM_CAP_KVMCLOCK_CTRL"],
  [KVM_CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI"],
  [KVM_CAP_READONLY_MEM, "KVM_CAP_READONLY_MEM"],
  [KVM_CAP_IRQFD_RESAMPLE, "KVM_CAP_IRQFD_RESAMPLE"],
  [KVM_CAP_DEVICE_CTRL, "KVM_CAP_DEVICE_CTRL"],
  [KVM_CAP_ENABLE_CAP_VM, "KVM_CAP_ENABLE_CAP_VM"],
  [KVM_CAP_CHECK_EXTENSION_VM, "KVM_CAP_CHECK_EXTENSION_VM"],
  [KVM_CAP_DISABLE_QUIRKS, "KVM_CAP_DISABLE_QUIRKS"],
  [KVM_CAP_X86_SMM, "KVM_CAP_X86_SMM"],
  [KVM_CAP_MULTI_ADDRESS_SPACE, "KVM_CAP_MULTI_ADDRESS_SPACE"],
  [KVM_CAP_SPLIT_IRQCHIP, "KVM_CAP_SPLIT_IRQCHIP"],
  [KVM_CAP_IOEVENTFD_ANY_LENGTH, "KVM_CAP_IOEVENTFD_ANY_LENGTH"],
  [KVM_CAP_MAX_VCPU_ID, "KVM_CAP_MAX_VCPU_ID"],
  [KVM_CAP_X2APIC_API, "KVM_CAP_X2APIC_API"],
  [KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"],
  [KVM_CAP_X86_DISABLE_EXITS, "KVM_CAP_X86_DISABLE_EXITS"],
  [KVM_CAP_GET_MSR_FEATURES, "KVM_CAP_GET_MSR_FEATURES"],
  [KVM_CAP_NESTED_STATE, "KVM_CAP_NESTED_STATE"],
  [KVM_CAP_EXCEPTION_PAYLOAD, "KVM_CAP_EXCEPTION_PAYLOAD"],
  [KVM_CAP_LAST_CPU, "KVM_CAP_LAST_CPU"],
  [KVM_CAP_X86_USER_SPACE_MSR, "KVM_CAP_X86_USER_SPACE_MSR"],
  [KVM_CAP_X86_MSR_FILTER, "KVM_CAP_X86_MSR_FILTER"],
  [KVM_CAP_DIRTY_LOG_RING, "KVM_CAP_DIRTY_LOG_RING"],
  [KVM_CAP_SET_GUEST_DEBUG2, "KVM_CAP_SET_GUEST_DEBUG2"],
  [KVM_CAP_SREGS2, "KVM_CAP_SREGS2"],
  [KVM_CAP_EXIT_HYPERCALL, "KVM_CAP_EXIT_HYPERCALL"],
  [KVM_CAP_BINARY_STATS_FD, "KVM_CAP_BINARY_STATS_FD"],
  [KVM_CAP_EXIT_ON_EMULATION_FAILURE, "KVM_CAP_EXIT_ON_EMULATION_FAILURE"],
  [KVM_CAP_XSAVE2, "KVM_CAP_XSAVE2"],
  [KVM_CAP_SYSTEM_EVENT_DATA, "KVM_CAP_SYSTEM_EVENT_DATA"],
  [KVM_CAP_X86_TRIPLE_FAULT_EVENT, "KVM_CAP_X86_TRIPLE_FAULT_EVENT"],
  [KVM_CAP_X86_NOTIFY_VMEXIT, "KVM_CAP_X86_NOTIFY_VMEXIT"],
  [KVM_CAP_USER_MEMORY2, "KVM_CAP_USER_MEMORY2"],
  [KVM_CAP_MEMORY_FAULT_INFO, "KVM_CAP_MEMORY_FAULT_INFO"],
  [KVM_CAP_MEMORY_ATTRIBUTES, "KVM_CAP_MEMORY_ATTRIBUTES"],
  [KVM_CAP_GUEST_MEMFD, "KVM_CAP_GUEST_MEMFD"],
  [KVM_CAP_VM_TYPES, "KVM_CAP_VM_TYPES"],
  [KVM_CAP_PRE_FAULT_MEMORY, "KVM_CAP_PRE_FAULT_MEMORY"],
]);
