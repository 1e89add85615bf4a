import { describe, expect, it } from "vitest";
import { _IOC_DIR, _IOC_NR, _IOC_SIZE, _IOC_TYPE } from "./ioctl.js";
import * as kvm from "./kvm.js";

const exported = kvm as unknown as Record<string, unknown>;

/** shared/reference/kvm-uapi.md §2: every request with its "Request value" column. */
const IOCTL_TABLE: ReadonlyArray<readonly [string, number]> = [
  ["KVM_GET_API_VERSION", 0x0000ae00],
  ["KVM_CREATE_VM", 0x0000ae01],
  ["KVM_GET_MSR_INDEX_LIST", 0xc004ae02],
  ["KVM_CHECK_EXTENSION", 0x0000ae03],
  ["KVM_GET_VCPU_MMAP_SIZE", 0x0000ae04],
  ["KVM_GET_SUPPORTED_CPUID", 0xc008ae05],
  ["KVM_GET_EMULATED_CPUID", 0xc008ae09],
  ["KVM_GET_MSR_FEATURE_INDEX_LIST", 0xc004ae0a],
  ["KVM_CREATE_VCPU", 0x0000ae41],
  ["KVM_GET_DIRTY_LOG", 0x4010ae42],
  ["KVM_SET_USER_MEMORY_REGION", 0x4020ae46],
  ["KVM_SET_TSS_ADDR", 0x0000ae47],
  ["KVM_SET_IDENTITY_MAP_ADDR", 0x4008ae48],
  ["KVM_SET_USER_MEMORY_REGION2", 0x40a0ae49],
  ["KVM_CREATE_IRQCHIP", 0x0000ae60],
  ["KVM_IRQ_LINE", 0x4008ae61],
  ["KVM_GET_IRQCHIP", 0xc208ae62],
  ["KVM_SET_IRQCHIP", 0x8208ae63],
  ["KVM_IRQ_LINE_STATUS", 0xc008ae67],
  ["KVM_REGISTER_COALESCED_MMIO", 0x4010ae67],
  ["KVM_UNREGISTER_COALESCED_MMIO", 0x4010ae68],
  ["KVM_SET_GSI_ROUTING", 0x4008ae6a],
  ["KVM_IRQFD", 0x4020ae76],
  ["KVM_CREATE_PIT2", 0x4040ae77],
  ["KVM_SET_BOOT_CPU_ID", 0x0000ae78],
  ["KVM_IOEVENTFD", 0x4040ae79],
  ["KVM_SET_CLOCK", 0x4030ae7b],
  ["KVM_GET_CLOCK", 0x8030ae7c],
  ["KVM_ENABLE_CAP", 0x4068aea3],
  ["KVM_RUN", 0x0000ae80],
  ["KVM_GET_REGS", 0x8090ae81],
  ["KVM_SET_REGS", 0x4090ae82],
  ["KVM_GET_SREGS", 0x8138ae83],
  ["KVM_SET_SREGS", 0x4138ae84],
  ["KVM_TRANSLATE", 0xc018ae85],
  ["KVM_INTERRUPT", 0x4004ae86],
  ["KVM_GET_MSRS", 0xc008ae88],
  ["KVM_SET_MSRS", 0x4008ae89],
  ["KVM_SET_CPUID", 0x4008ae8a],
  ["KVM_SET_SIGNAL_MASK", 0x4004ae8b],
  ["KVM_GET_FPU", 0x81a0ae8c],
  ["KVM_SET_FPU", 0x41a0ae8d],
  ["KVM_GET_LAPIC", 0x8400ae8e],
  ["KVM_SET_LAPIC", 0x4400ae8f],
  ["KVM_SET_CPUID2", 0x4008ae90],
  ["KVM_GET_CPUID2", 0xc008ae91],
  ["KVM_GET_MP_STATE", 0x8004ae98],
  ["KVM_SET_MP_STATE", 0x4004ae99],
  ["KVM_NMI", 0x0000ae9a],
  ["KVM_SET_GUEST_DEBUG", 0x4048ae9b],
  ["KVM_GET_VCPU_EVENTS", 0x8040ae9f],
  ["KVM_SET_VCPU_EVENTS", 0x4040aea0],
  ["KVM_GET_DEBUGREGS", 0x8080aea1],
  ["KVM_SET_DEBUGREGS", 0x4080aea2],
  ["KVM_SET_TSC_KHZ", 0x0000aea2],
  ["KVM_GET_TSC_KHZ", 0x0000aea3],
  ["KVM_GET_XSAVE", 0x9000aea4],
  ["KVM_SET_XSAVE", 0x5000aea5],
  ["KVM_GET_XCRS", 0x8188aea6],
  ["KVM_SET_XCRS", 0x4188aea7],
  ["KVM_GET_ONE_REG", 0x4010aeab],
  ["KVM_SET_ONE_REG", 0x4010aeac],
  ["KVM_GET_NESTED_STATE", 0xc080aebe],
  ["KVM_SET_NESTED_STATE", 0x4080aebf],
  ["KVM_GET_SREGS2", 0x8140aecc],
  ["KVM_SET_SREGS2", 0x4140aecd],
];

/** shared/reference/kvm-uapi.md §8. */
const CAP_TABLE: ReadonlyArray<readonly [number, string]> = [
  [0, "KVM_CAP_IRQCHIP"],
  [1, "KVM_CAP_HLT"],
  [3, "KVM_CAP_USER_MEMORY"],
  [4, "KVM_CAP_SET_TSS_ADDR"],
  [6, "KVM_CAP_VAPIC"],
  [7, "KVM_CAP_EXT_CPUID"],
  [8, "KVM_CAP_CLOCKSOURCE"],
  [9, "KVM_CAP_NR_VCPUS"],
  [10, "KVM_CAP_NR_MEMSLOTS"],
  [11, "KVM_CAP_PIT"],
  [12, "KVM_CAP_NOP_IO_DELAY"],
  [14, "KVM_CAP_MP_STATE"],
  [15, "KVM_CAP_COALESCED_MMIO"],
  [16, "KVM_CAP_SYNC_MMU"],
  [21, "KVM_CAP_DESTROY_MEMORY_REGION_WORKS"],
  [22, "KVM_CAP_USER_NMI"],
  [23, "KVM_CAP_SET_GUEST_DEBUG"],
  [24, "KVM_CAP_REINJECT_CONTROL"],
  [25, "KVM_CAP_IRQ_ROUTING"],
  [26, "KVM_CAP_IRQ_INJECT_STATUS"],
  [30, "KVM_CAP_JOIN_MEMORY_REGIONS_WORKS"],
  [31, "KVM_CAP_MCE"],
  [32, "KVM_CAP_IRQFD"],
  [33, "KVM_CAP_PIT2"],
  [34, "KVM_CAP_SET_BOOT_CPU_ID"],
  [35, "KVM_CAP_PIT_STATE2"],
  [36, "KVM_CAP_IOEVENTFD"],
  [37, "KVM_CAP_SET_IDENTITY_MAP_ADDR"],
  [38, "KVM_CAP_XEN_HVM"],
  [39, "KVM_CAP_ADJUST_CLOCK"],
  [40, "KVM_CAP_INTERNAL_ERROR_DATA"],
  [41, "KVM_CAP_VCPU_EVENTS"],
  [49, "KVM_CAP_INTR_SHADOW"],
  [50, "KVM_CAP_DEBUGREGS"],
  [51, "KVM_CAP_X86_ROBUST_SINGLESTEP"],
  [54, "KVM_CAP_ENABLE_CAP"],
  [55, "KVM_CAP_XSAVE"],
  [56, "KVM_CAP_XCRS"],
  [59, "KVM_CAP_ASYNC_PF"],
  [60, "KVM_CAP_TSC_CONTROL"],
  [61, "KVM_CAP_GET_TSC_KHZ"],
  [66, "KVM_CAP_MAX_VCPUS"],
  [70, "KVM_CAP_ONE_REG"],
  [72, "KVM_CAP_TSC_DEADLINE_TIMER"],
  [74, "KVM_CAP_SYNC_REGS"],
  [76, "KVM_CAP_KVMCLOCK_CTRL"],
  [77, "KVM_CAP_SIGNAL_MSI"],
  [81, "KVM_CAP_READONLY_MEM"],
  [82, "KVM_CAP_IRQFD_RESAMPLE"],
  [89, "KVM_CAP_DEVICE_CTRL"],
  [98, "KVM_CAP_ENABLE_CAP_VM"],
  [105, "KVM_CAP_CHECK_EXTENSION_VM"],
  [116, "KVM_CAP_DISABLE_QUIRKS"],
  [117, "KVM_CAP_X86_SMM"],
  [118, "KVM_CAP_MULTI_ADDRESS_SPACE"],
  [121, "KVM_CAP_SPLIT_IRQCHIP"],
  [122, "KVM_CAP_IOEVENTFD_ANY_LENGTH"],
  [128, "KVM_CAP_MAX_VCPU_ID"],
  [129, "KVM_CAP_X2APIC_API"],
  [136, "KVM_CAP_IMMEDIATE_EXIT"],
  [143, "KVM_CAP_X86_DISABLE_EXITS"],
  [153, "KVM_CAP_GET_MSR_FEATURES"],
  [157, "KVM_CAP_NESTED_STATE"],
  [162, "KVM_CAP_COALESCED_PIO"],
  [164, "KVM_CAP_EXCEPTION_PAYLOAD"],
  [184, "KVM_CAP_LAST_CPU"],
  [188, "KVM_CAP_X86_USER_SPACE_MSR"],
  [189, "KVM_CAP_X86_MSR_FILTER"],
  [192, "KVM_CAP_DIRTY_LOG_RING"],
  [195, "KVM_CAP_SET_GUEST_DEBUG2"],
  [200, "KVM_CAP_SREGS2"],
  [201, "KVM_CAP_EXIT_HYPERCALL"],
  [203, "KVM_CAP_BINARY_STATS_FD"],
  [204, "KVM_CAP_EXIT_ON_EMULATION_FAILURE"],
  [208, "KVM_CAP_XSAVE2"],
  [215, "KVM_CAP_SYSTEM_EVENT_DATA"],
  [218, "KVM_CAP_X86_TRIPLE_FAULT_EVENT"],
  [219, "KVM_CAP_X86_NOTIFY_VMEXIT"],
  [231, "KVM_CAP_USER_MEMORY2"],
  [232, "KVM_CAP_MEMORY_FAULT_INFO"],
  [233, "KVM_CAP_MEMORY_ATTRIBUTES"],
  [234, "KVM_CAP_GUEST_MEMFD"],
  [235, "KVM_CAP_VM_TYPES"],
  [236, "KVM_CAP_PRE_FAULT_MEMORY"],
];

/** shared/reference/kvm-uapi.md §6.1. */
const EXIT_TABLE: ReadonlyArray<readonly [number, string]> = [
  [0, "KVM_EXIT_UNKNOWN"],
  [1, "KVM_EXIT_EXCEPTION"],
  [2, "KVM_EXIT_IO"],
  [3, "KVM_EXIT_HYPERCALL"],
  [4, "KVM_EXIT_DEBUG"],
  [5, "KVM_EXIT_HLT"],
  [6, "KVM_EXIT_MMIO"],
  [7, "KVM_EXIT_IRQ_WINDOW_OPEN"],
  [8, "KVM_EXIT_SHUTDOWN"],
  [9, "KVM_EXIT_FAIL_ENTRY"],
  [10, "KVM_EXIT_INTR"],
  [11, "KVM_EXIT_SET_TPR"],
  [12, "KVM_EXIT_TPR_ACCESS"],
  [13, "KVM_EXIT_S390_SIEIC"],
  [14, "KVM_EXIT_S390_RESET"],
  [15, "KVM_EXIT_DCR"],
  [16, "KVM_EXIT_NMI"],
  [17, "KVM_EXIT_INTERNAL_ERROR"],
  [18, "KVM_EXIT_OSI"],
  [19, "KVM_EXIT_PAPR_HCALL"],
  [20, "KVM_EXIT_S390_UCONTROL"],
  [21, "KVM_EXIT_WATCHDOG"],
  [22, "KVM_EXIT_S390_TSCH"],
  [23, "KVM_EXIT_EPR"],
  [24, "KVM_EXIT_SYSTEM_EVENT"],
  [25, "KVM_EXIT_S390_STSI"],
  [26, "KVM_EXIT_IOAPIC_EOI"],
  [27, "KVM_EXIT_HYPERV"],
  [28, "KVM_EXIT_ARM_NISV"],
  [29, "KVM_EXIT_X86_RDMSR"],
  [30, "KVM_EXIT_X86_WRMSR"],
  [31, "KVM_EXIT_DIRTY_RING_FULL"],
  [32, "KVM_EXIT_AP_RESET_HOLD"],
  [33, "KVM_EXIT_X86_BUS_LOCK"],
  [34, "KVM_EXIT_XEN"],
  [35, "KVM_EXIT_RISCV_SBI"],
  [36, "KVM_EXIT_RISCV_CSR"],
  [37, "KVM_EXIT_NOTIFY"],
  [38, "KVM_EXIT_LOONGARCH_IOCSR"],
  [39, "KVM_EXIT_MEMORY_FAULT"],
  [40, "KVM_EXIT_TDX"],
  [41, "KVM_EXIT_ARM_SEA"],
];

describe("ioctl requests (§2)", () => {
  it.each(IOCTL_TABLE)("%s = 0x%s", (name, value) => {
    expect(exported[name]).toBe(value);
    expect(kvm.KVM_IOCTL_NAMES.get(value)).toBe(name);
    expect(kvm.kvmIoctlName(value)).toBe(name);
  });

  it("names every request in the table, plus KVM_GET/SET_PIT2, and no value twice", () => {
    const expected = new Map(IOCTL_TABLE.map(([name, value]) => [value, name]));
    expected.set(0x8070ae9f, "KVM_GET_PIT2");
    expected.set(0x4070aea0, "KVM_SET_PIT2");
    expect(new Map(kvm.KVM_IOCTL_NAMES)).toEqual(expected);
  });

  it("every request is KVMIO-typed and its name's constant", () => {
    for (const [value, name] of kvm.KVM_IOCTL_NAMES) {
      expect(_IOC_TYPE(value)).toBe(kvm.KVMIO);
      expect(exported[name]).toBe(value);
    }
  });

  it("keeps the shared NRs apart by the full value", () => {
    expect(_IOC_NR(kvm.KVM_GET_VCPU_EVENTS)).toBe(_IOC_NR(kvm.KVM_GET_PIT2));
    expect(kvm.KVM_GET_VCPU_EVENTS).not.toBe(kvm.KVM_GET_PIT2);
    expect(_IOC_SIZE(kvm.KVM_GET_PIT2)).toBe(112);
    expect(_IOC_NR(kvm.KVM_SET_TSC_KHZ)).toBe(_IOC_NR(kvm.KVM_SET_DEBUGREGS));
    expect(_IOC_NR(kvm.KVM_GET_TSC_KHZ)).toBe(_IOC_NR(kvm.KVM_ENABLE_CAP));
  });

  it("KVM_SET_IRQCHIP keeps its historical _IOR direction", () => {
    expect(_IOC_DIR(kvm.KVM_SET_IRQCHIP)).toBe(2);
    expect(kvm.KVM_SET_IRQCHIP).toBe(0x8208ae63);
  });

  it("kvmIoctlName falls back to hex", () => {
    expect(kvm.kvmIoctlName(0xdeadbeef)).toBe("0xdeadbeef");
    expect(kvm.kvmIoctlName(0x1234)).toBe("0x00001234");
    // a signed 32-bit spelling of a known request still resolves
    expect(kvm.kvmIoctlName(kvm.KVM_GET_REGS | 0)).toBe("KVM_GET_REGS");
  });
});

describe("exit reasons (§6.1)", () => {
  it.each(EXIT_TABLE)("%i is %s", (value, name) => {
    expect(exported[name]).toBe(value);
    expect(kvm.KVM_EXIT_REASON_NAMES[value]).toBe(name);
    expect(kvm.kvmExitReasonName(value)).toBe(name);
  });

  it("the name list is dense 0..41", () => {
    expect(kvm.KVM_EXIT_REASON_NAMES).toHaveLength(42);
    expect(kvm.KVM_EXIT_REASON_NAMES).toEqual(EXIT_TABLE.map(([, name]) => name));
    expect(Object.isFrozen(kvm.KVM_EXIT_REASON_NAMES)).toBe(true);
    expect(kvm.kvmExitReasonName(99)).toBe("KVM_EXIT_99?");
  });

  it("sub-codes (§6.2–6.4)", () => {
    expect([kvm.KVM_EXIT_IO_IN, kvm.KVM_EXIT_IO_OUT]).toEqual([0, 1]);
    expect([
      kvm.KVM_SYSTEM_EVENT_SHUTDOWN,
      kvm.KVM_SYSTEM_EVENT_RESET,
      kvm.KVM_SYSTEM_EVENT_CRASH,
      kvm.KVM_SYSTEM_EVENT_WAKEUP,
      kvm.KVM_SYSTEM_EVENT_SUSPEND,
      kvm.KVM_SYSTEM_EVENT_SEV_TERM,
    ]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(kvm.KVM_SYSTEM_EVENT_NAMES.get(2)).toBe("KVM_SYSTEM_EVENT_RESET");
    expect([
      kvm.KVM_INTERNAL_ERROR_EMULATION,
      kvm.KVM_INTERNAL_ERROR_SIMUL_EX,
      kvm.KVM_INTERNAL_ERROR_DELIVERY_EV,
      kvm.KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON,
    ]).toEqual([1, 2, 3, 4]);
    expect(kvm.KVM_INTERNAL_ERROR_NAMES.get(4)).toBe("KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON");
    expect(kvm.KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES).toBe(1);
    expect([
      kvm.KVM_MSR_EXIT_REASON_INVAL,
      kvm.KVM_MSR_EXIT_REASON_UNKNOWN,
      kvm.KVM_MSR_EXIT_REASON_FILTER,
    ]).toEqual([1, 2, 4]);
  });
});

describe("capabilities (§8)", () => {
  it.each(CAP_TABLE)("%i is %s", (value, name) => {
    expect(exported[name]).toBe(value);
    expect(kvm.KVM_CAP_NAMES.get(value)).toBe(name);
  });

  it("KVM_CAP_NAMES has exactly the table and every KVM_CAP_* export", () => {
    expect(new Map(kvm.KVM_CAP_NAMES)).toEqual(
      new Map(CAP_TABLE.map(([value, name]) => [value, name])),
    );
    const capExports = Object.keys(kvm).filter(
      (k) => k.startsWith("KVM_CAP_") && k !== "KVM_CAP_NAMES",
    );
    expect(capExports.sort()).toEqual(CAP_TABLE.map(([, name]) => name).sort());
  });
});

describe("constants", () => {
  it("basics", () => {
    expect(kvm.KVMIO).toBe(0xae);
    expect(kvm.KVM_API_VERSION).toBe(12);
    expect(kvm.PAGE_SIZE).toBe(4096);
  });

  it("machine types, mmap pages, sync regs (§2–§4)", () => {
    expect([
      kvm.KVM_X86_DEFAULT_VM,
      kvm.KVM_X86_SW_PROTECTED_VM,
      kvm.KVM_X86_SEV_VM,
      kvm.KVM_X86_SEV_ES_VM,
      kvm.KVM_X86_SNP_VM,
    ]).toEqual([0, 1, 2, 3, 4]);
    expect(kvm.KVM_PIO_PAGE_OFFSET).toBe(1);
    expect(kvm.KVM_COALESCED_MMIO_PAGE_OFFSET).toBe(2);
    expect(kvm.KVM_DIRTY_LOG_PAGE_OFFSET).toBe(64);
    expect([kvm.KVM_RUN_X86_SMM, kvm.KVM_RUN_X86_BUS_LOCK]).toEqual([1, 2]);
    expect([kvm.KVM_SYNC_X86_REGS, kvm.KVM_SYNC_X86_SREGS, kvm.KVM_SYNC_X86_EVENTS]).toEqual([
      1, 2, 4,
    ]);
    expect(kvm.KVM_SYNC_X86_VALID_FIELDS).toBe(7);
  });

  it("guest debug control (§7)", () => {
    expect(kvm.KVM_GUESTDBG_ENABLE).toBe(0x1);
    expect(kvm.KVM_GUESTDBG_SINGLESTEP).toBe(0x2);
    expect(kvm.KVM_GUESTDBG_USE_SW_BP).toBe(0x10000);
    expect(kvm.KVM_GUESTDBG_USE_HW_BP).toBe(0x20000);
    expect(kvm.KVM_GUESTDBG_INJECT_DB).toBe(0x40000);
    expect(kvm.KVM_GUESTDBG_INJECT_BP).toBe(0x80000);
    expect(kvm.KVM_GUESTDBG_BLOCKIRQ).toBe(0x100000);
    expect(kvm.KVM_GUESTDBG_VALID_MASK).toBe(0x1f0003);
  });

  it("vcpu events, mp_state, irqchip, limits (§5, §7)", () => {
    expect([
      kvm.KVM_VCPUEVENT_VALID_NMI_PENDING,
      kvm.KVM_VCPUEVENT_VALID_SIPI_VECTOR,
      kvm.KVM_VCPUEVENT_VALID_SHADOW,
      kvm.KVM_VCPUEVENT_VALID_SMM,
      kvm.KVM_VCPUEVENT_VALID_PAYLOAD,
      kvm.KVM_VCPUEVENT_VALID_TRIPLE_FAULT,
    ]).toEqual([0x01, 0x02, 0x04, 0x08, 0x10, 0x20]);
    expect([kvm.KVM_X86_SHADOW_INT_MOV_SS, kvm.KVM_X86_SHADOW_INT_STI]).toEqual([1, 2]);
    expect([
      kvm.KVM_MP_STATE_RUNNABLE,
      kvm.KVM_MP_STATE_UNINITIALIZED,
      kvm.KVM_MP_STATE_INIT_RECEIVED,
      kvm.KVM_MP_STATE_HALTED,
      kvm.KVM_MP_STATE_SIPI_RECEIVED,
      kvm.KVM_MP_STATE_STOPPED,
      kvm.KVM_MP_STATE_CHECK_STOP,
      kvm.KVM_MP_STATE_OPERATING,
      kvm.KVM_MP_STATE_LOAD,
      kvm.KVM_MP_STATE_AP_RESET_HOLD,
      kvm.KVM_MP_STATE_SUSPENDED,
    ]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect([kvm.KVM_IRQCHIP_PIC_MASTER, kvm.KVM_IRQCHIP_PIC_SLAVE, kvm.KVM_IRQCHIP_IOAPIC]).toEqual(
      [0, 1, 2],
    );
    expect(kvm.KVM_NR_INTERRUPTS).toBe(256);
    expect(kvm.KVM_APIC_REG_SIZE).toBe(0x400);
    expect(kvm.KVM_MAX_XCRS).toBe(16);
    expect(kvm.KVM_MAX_CPUID_ENTRIES).toBe(256);
    expect(kvm.MAX_IO_MSRS).toBe(256);
  });

  it("struct flag fields (§5)", () => {
    expect([
      kvm.KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
      kvm.KVM_CPUID_FLAG_STATEFUL_FUNC,
      kvm.KVM_CPUID_FLAG_STATE_READ_NEXT,
    ]).toEqual([1, 2, 4]);
    expect([kvm.KVM_MEM_LOG_DIRTY_PAGES, kvm.KVM_MEM_READONLY, kvm.KVM_MEM_GUEST_MEMFD]).toEqual([
      1, 2, 4,
    ]);
    expect(kvm.KVM_PIT_SPEAKER_DUMMY).toBe(1);
    expect([kvm.KVM_CLOCK_TSC_STABLE, kvm.KVM_CLOCK_REALTIME, kvm.KVM_CLOCK_HOST_TSC]).toEqual([
      2, 4, 8,
    ]);
    expect([
      kvm.KVM_IOEVENTFD_FLAG_DATAMATCH,
      kvm.KVM_IOEVENTFD_FLAG_PIO,
      kvm.KVM_IOEVENTFD_FLAG_DEASSIGN,
      kvm.KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY,
    ]).toEqual([1, 2, 4, 8]);
    expect([kvm.KVM_IRQFD_FLAG_DEASSIGN, kvm.KVM_IRQFD_FLAG_RESAMPLE]).toEqual([1, 2]);
  });
});
