import { describe, expect, it } from "vitest";
import { REFERENCE as REF } from "../../test/vmcs-reference.js";
import * as vmx from "./vmx.js";

const consts = vmx as unknown as Readonly<Record<string, unknown>>;

const WIDTH_BITS = { 16: 0, 64: 1, 32: 2, natural: 3 } as const;
const TYPE_BITS = { control: 0, "exit-info": 1, guest: 2, host: 3 } as const;
const REFERENCE = REF.map((t) => ({
  ...t,
  widthBits: WIDTH_BITS[t.width],
  typeBits: TYPE_BITS[t.type],
}));

const ALL_ROWS = REFERENCE.flatMap((t) => t.rows.map((r) => ({ table: t, row: r })));

describe("VMCS field encodings", () => {
  it("the reference lists 162 fields", () => {
    expect(ALL_ROWS).toHaveLength(162);
  });

  it.each(ALL_ROWS.map(({ row }) => row))("%s is %s", (enc, name) => {
    expect(consts[name]).toBe(enc);
  });

  it("width, type and index decode as the table each field sits in says", () => {
    for (const { table, row } of ALL_ROWS) {
      const [enc, name, index] = row;
      expect([name, (enc >> 13) & 3], table.title).toEqual([name, table.widthBits]);
      expect([name, (enc >> 10) & 3], table.title).toEqual([name, table.typeBits]);
      expect([name, (enc >> 1) & 0x1ff]).toEqual([name, index]);
      expect([name, enc & 0xffff9001]).toEqual([name, 0]);
    }
  });

  it("every 64-bit field has NAME_HIGH = encoding + 1, and no other field has one", () => {
    for (const { table, row } of ALL_ROWS) {
      const [enc, name] = row;
      if (table.widthBits === 1) expect([name, consts[`${name}_HIGH`]]).toEqual([name, enc + 1]);
      else expect(consts[`${name}_HIGH`], name).toBeUndefined();
    }
  });

  it("no two fields (or high halves) share an encoding", () => {
    const seen = new Map<number, string>();
    for (const { table, row } of ALL_ROWS) {
      const [enc, name] = row;
      const encodings = table.widthBits === 1 ? [enc, enc + 1] : [enc];
      for (const e of encodings) {
        expect(seen.get(e), `${name} 0x${e.toString(16)}`).toBeUndefined();
        seen.set(e, name);
      }
    }
    expect(seen.size).toBe(162 + 42);
  });

  it("spot checks", () => {
    expect(vmx.GUEST_RIP).toBe(0x681e);
    expect(vmx.VM_EXIT_REASON).toBe(0x4402);
    expect(vmx.IO_BITMAP_A).toBe(0x2000);
    expect(vmx.IO_BITMAP_A_HIGH).toBe(0x2001);
    expect(vmx.EPT_POINTER_HIGH).toBe(0x201b);
    expect(vmx.GUEST_PHYSICAL_ADDRESS_HIGH).toBe(0x2401);
    expect(vmx.VMCS_LINK_POINTER_HIGH).toBe(0x2801);
    expect(vmx.HOST_IA32_EFER_HIGH).toBe(0x2c03);
  });
});

describe("numeric constants", () => {
  it("every numeric export is a non-negative 32-bit integer", () => {
    for (const [name, value] of Object.entries(consts)) {
      if (typeof value !== "number") continue;
      expect([name, Number.isInteger(value) && value >= 0 && value <= 0xffffffff]).toEqual([
        name,
        true,
      ]);
    }
  });
});

describe("VM-execution, VM-exit and VM-entry controls", () => {
  it("pin-based", () => {
    expect(vmx.PIN_BASED_EXT_INTR_MASK).toBe(1 << 0);
    expect(vmx.PIN_BASED_NMI_EXITING).toBe(1 << 3);
    expect(vmx.PIN_BASED_VIRTUAL_NMIS).toBe(1 << 5);
    expect(vmx.PIN_BASED_VMX_PREEMPTION_TIMER).toBe(1 << 6);
    expect(vmx.PIN_BASED_POSTED_INTR).toBe(1 << 7);
  });

  it("primary processor-based", () => {
    expect(vmx.CPU_BASED_INTR_WINDOW_EXITING).toBe(0x4);
    expect(vmx.CPU_BASED_USE_TSC_OFFSETTING).toBe(0x8);
    expect(vmx.CPU_BASED_HLT_EXITING).toBe(0x80);
    expect(vmx.CPU_BASED_INVLPG_EXITING).toBe(0x200);
    expect(vmx.CPU_BASED_RDTSC_EXITING).toBe(0x1000);
    expect(vmx.CPU_BASED_CR3_LOAD_EXITING).toBe(0x8000);
    expect(vmx.CPU_BASED_CR3_STORE_EXITING).toBe(0x10000);
    expect(vmx.CPU_BASED_ACTIVATE_TERTIARY_CONTROLS).toBe(0x20000);
    expect(vmx.CPU_BASED_CR8_LOAD_EXITING).toBe(0x80000);
    expect(vmx.CPU_BASED_TPR_SHADOW).toBe(0x200000);
    expect(vmx.CPU_BASED_NMI_WINDOW_EXITING).toBe(0x400000);
    expect(vmx.CPU_BASED_MOV_DR_EXITING).toBe(0x800000);
    expect(vmx.CPU_BASED_UNCOND_IO_EXITING).toBe(0x1000000);
    expect(vmx.CPU_BASED_USE_IO_BITMAPS).toBe(0x2000000);
    expect(vmx.CPU_BASED_MONITOR_TRAP_FLAG).toBe(0x8000000);
    expect(vmx.CPU_BASED_USE_MSR_BITMAPS).toBe(0x10000000);
    expect(vmx.CPU_BASED_PAUSE_EXITING).toBe(0x40000000);
    expect(vmx.CPU_BASED_ACTIVATE_SECONDARY_CONTROLS).toBe(2 ** 31);
  });

  it("secondary processor-based", () => {
    expect(vmx.SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES).toBe(0x1);
    expect(vmx.SECONDARY_EXEC_ENABLE_EPT).toBe(0x2);
    expect(vmx.SECONDARY_EXEC_DESC).toBe(0x4);
    expect(vmx.SECONDARY_EXEC_ENABLE_RDTSCP).toBe(0x8);
    expect(vmx.SECONDARY_EXEC_ENABLE_VPID).toBe(0x20);
    expect(vmx.SECONDARY_EXEC_WBINVD_EXITING).toBe(0x40);
    expect(vmx.SECONDARY_EXEC_UNRESTRICTED_GUEST).toBe(0x80);
    expect(vmx.SECONDARY_EXEC_ENABLE_INVPCID).toBe(0x1000);
    expect(vmx.SECONDARY_EXEC_SHADOW_VMCS).toBe(0x4000);
    expect(vmx.SECONDARY_EXEC_ENABLE_PML).toBe(0x20000);
    expect(vmx.SECONDARY_EXEC_ENABLE_XSAVES).toBe(0x100000);
    expect(vmx.SECONDARY_EXEC_MODE_BASED_EPT_EXEC).toBe(0x400000);
    expect(vmx.SECONDARY_EXEC_TSC_SCALING).toBe(0x2000000);
    expect(vmx.SECONDARY_EXEC_BUS_LOCK_DETECTION).toBe(0x40000000);
    expect(vmx.SECONDARY_EXEC_NOTIFY_VM_EXITING).toBe(2 ** 31);
    expect(vmx.TERTIARY_EXEC_IPI_VIRT).toBe(0x10);
  });

  it("VM-exit", () => {
    expect(vmx.VM_EXIT_SAVE_DEBUG_CONTROLS).toBe(0x4);
    expect(vmx.VM_EXIT_HOST_ADDR_SPACE_SIZE).toBe(0x200);
    expect(vmx.VM_EXIT_LOAD_IA32_PERF_GLOBAL_CTRL).toBe(0x1000);
    expect(vmx.VM_EXIT_ACK_INTR_ON_EXIT).toBe(0x8000);
    expect(vmx.VM_EXIT_SAVE_IA32_PAT).toBe(0x40000);
    expect(vmx.VM_EXIT_LOAD_IA32_PAT).toBe(0x80000);
    expect(vmx.VM_EXIT_SAVE_IA32_EFER).toBe(0x100000);
    expect(vmx.VM_EXIT_LOAD_IA32_EFER).toBe(0x200000);
    expect(vmx.VM_EXIT_SAVE_VMX_PREEMPTION_TIMER).toBe(0x400000);
    expect(vmx.VM_EXIT_LOAD_CET_STATE).toBe(0x10000000);
    expect(vmx.VM_EXIT_ACTIVATE_SECONDARY_CONTROLS).toBe(2 ** 31);
  });

  it("VM-entry", () => {
    expect(vmx.VM_ENTRY_LOAD_DEBUG_CONTROLS).toBe(0x4);
    expect(vmx.VM_ENTRY_IA32E_MODE).toBe(0x200);
    expect(vmx.VM_ENTRY_SMM).toBe(0x400);
    expect(vmx.VM_ENTRY_DEACT_DUAL_MONITOR).toBe(0x800);
    expect(vmx.VM_ENTRY_LOAD_IA32_PERF_GLOBAL_CTRL).toBe(0x2000);
    expect(vmx.VM_ENTRY_LOAD_IA32_PAT).toBe(0x4000);
    expect(vmx.VM_ENTRY_LOAD_IA32_EFER).toBe(0x8000);
    expect(vmx.VM_ENTRY_LOAD_BNDCFGS).toBe(0x10000);
    expect(vmx.VM_ENTRY_LOAD_CET_STATE).toBe(0x100000);
    expect(vmx.VM_ENTRY_LOAD_IA32_PKRS).toBe(0x400000);
  });

  it("the reference's default1 masks are made of the named default1 controls", () => {
    // vmx.md §5: pin 0x16, primary 0x0401E172, exit 0x00036DFF, entry 0x000011FF.
    expect(0x16 & (vmx.PIN_BASED_NMI_EXITING | vmx.PIN_BASED_EXT_INTR_MASK)).toBe(0);
    expect(0x0401e172 & vmx.CPU_BASED_CR3_LOAD_EXITING).toBe(vmx.CPU_BASED_CR3_LOAD_EXITING);
    expect(0x0401e172 & vmx.CPU_BASED_CR3_STORE_EXITING).toBe(vmx.CPU_BASED_CR3_STORE_EXITING);
    expect(0x00036dff & vmx.VM_EXIT_SAVE_DEBUG_CONTROLS).toBe(vmx.VM_EXIT_SAVE_DEBUG_CONTROLS);
    expect(0x000011ff & vmx.VM_ENTRY_LOAD_DEBUG_CONTROLS).toBe(vmx.VM_ENTRY_LOAD_DEBUG_CONTROLS);
  });
});

describe("event and exit-qualification formats", () => {
  it("interruption information", () => {
    expect(vmx.INTR_INFO_VECTOR_MASK).toBe(0xff);
    expect(vmx.INTR_INFO_INTR_TYPE_MASK).toBe(0x700);
    expect(vmx.INTR_INFO_DELIVER_CODE_MASK).toBe(0x800);
    expect(vmx.INTR_INFO_UNBLOCK_NMI).toBe(0x1000);
    expect(vmx.INTR_INFO_VALID_MASK).toBe(0x80000000);
    expect(vmx.INTR_INFO_RESVD_BITS_MASK).toBe(0x7ffff000);
    expect([
      vmx.INTR_TYPE_EXT_INTR,
      vmx.INTR_TYPE_RESERVED,
      vmx.INTR_TYPE_NMI_INTR,
      vmx.INTR_TYPE_HARD_EXCEPTION,
      vmx.INTR_TYPE_SOFT_INTR,
      vmx.INTR_TYPE_PRIV_SW_EXCEPTION,
      vmx.INTR_TYPE_SOFT_EXCEPTION,
      vmx.INTR_TYPE_OTHER_EVENT,
    ]).toEqual([0, 0x100, 0x200, 0x300, 0x400, 0x500, 0x600, 0x700]);
    // A #GP injection: vector 13, hardware exception, error code, valid.
    const gp =
      (13 |
        vmx.INTR_TYPE_HARD_EXCEPTION |
        vmx.INTR_INFO_DELIVER_CODE_MASK |
        vmx.INTR_INFO_VALID_MASK) >>>
      0;
    expect(gp).toBe(0x80000b0d);
  });

  it("interruptibility and activity state", () => {
    expect([
      vmx.GUEST_INTR_STATE_STI,
      vmx.GUEST_INTR_STATE_MOV_SS,
      vmx.GUEST_INTR_STATE_SMI,
      vmx.GUEST_INTR_STATE_NMI,
      vmx.GUEST_INTR_STATE_ENCLAVE_INTR,
    ]).toEqual([1, 2, 4, 8, 16]);
    expect([
      vmx.GUEST_ACTIVITY_ACTIVE,
      vmx.GUEST_ACTIVITY_HLT,
      vmx.GUEST_ACTIVITY_SHUTDOWN,
      vmx.GUEST_ACTIVITY_WAIT_SIPI,
    ]).toEqual([0, 1, 2, 3]);
  });

  it("I/O qualification: OUT DX, AL to 0x3f8 and REP INSW from port 0x1f0", () => {
    const out = 0x03f8_0000 | vmx.EXIT_QUAL_IO_SIZE_1;
    expect(out & vmx.EXIT_QUAL_IO_IN).toBe(0);
    expect((out & vmx.EXIT_QUAL_IO_PORT_MASK) >>> vmx.EXIT_QUAL_IO_PORT_SHIFT).toBe(0x3f8);
    const ins = 0x01f0_0000 | vmx.EXIT_QUAL_IO_REP | vmx.EXIT_QUAL_IO_STRING | vmx.EXIT_QUAL_IO_IN;
    expect(ins).toBe(0x01f0_0038);
    expect((ins | vmx.EXIT_QUAL_IO_SIZE_2) & vmx.EXIT_QUAL_IO_SIZE_MASK).toBe(1);
    expect(vmx.EXIT_QUAL_IO_SIZE_4).toBe(3);
    expect(vmx.EXIT_QUAL_IO_IMMEDIATE).toBe(0x40);
  });

  it("CR access qualification: MOV CR8, R9 and LMSW", () => {
    const movCr8 = 8 | vmx.CR_ACCESS_TYPE_MOV_TO_CR | (9 << vmx.CONTROL_REG_ACCESS_REG_SHIFT);
    expect(movCr8 & vmx.CONTROL_REG_ACCESS_NUM).toBe(8);
    expect(movCr8 & vmx.CONTROL_REG_ACCESS_TYPE).toBe(vmx.CR_ACCESS_TYPE_MOV_TO_CR);
    expect((movCr8 & vmx.CONTROL_REG_ACCESS_REG) >>> 8).toBe(9);
    expect(vmx.CR_ACCESS_TYPE_MOV_FROM_CR).toBe(0x10);
    expect(vmx.CR_ACCESS_TYPE_CLTS).toBe(0x20);
    const lmsw = (vmx.CR_ACCESS_TYPE_LMSW | (0x0011 << vmx.LMSW_SOURCE_DATA_SHIFT)) >>> 0;
    expect(lmsw & vmx.CONTROL_REG_ACCESS_TYPE).toBe(0x30);
    expect((lmsw & vmx.LMSW_SOURCE_DATA) >>> 16).toBe(0x11);
    expect(vmx.LMSW_OPERAND_TYPE_MEMORY).toBe(0x40);
  });

  it("MOV DR qualification", () => {
    expect(vmx.DEBUG_REG_ACCESS_NUM).toBe(7);
    expect(vmx.DEBUG_REG_ACCESS_TYPE).toBe(0x10);
    expect(vmx.TYPE_MOV_FROM_DR).toBe(0x10);
    expect(vmx.TYPE_MOV_TO_DR).toBe(0);
    expect(vmx.DEBUG_REG_ACCESS_REG).toBe(0xf00);
  });

  it("EPT-violation qualification", () => {
    expect([
      vmx.EPT_VIOLATION_ACC_READ,
      vmx.EPT_VIOLATION_ACC_WRITE,
      vmx.EPT_VIOLATION_ACC_INSTR,
      vmx.EPT_VIOLATION_PROT_READ,
      vmx.EPT_VIOLATION_PROT_WRITE,
      vmx.EPT_VIOLATION_PROT_EXEC,
      vmx.EPT_VIOLATION_PROT_USER_EXEC,
      vmx.EPT_VIOLATION_GVA_IS_VALID,
      vmx.EPT_VIOLATION_GVA_TRANSLATED,
    ]).toEqual([1, 2, 4, 8, 0x10, 0x20, 0x40, 0x80, 0x100]);
    expect(vmx.EPT_VIOLATION_RWX_MASK).toBe(vmx.VMX_EPT_RWX_MASK << vmx.EPT_VIOLATION_RWX_SHIFT);
    expect(1 << vmx.EPT_VIOLATION_GVA_IS_VALID_BIT).toBe(vmx.EPT_VIOLATION_GVA_IS_VALID);
    expect(vmx.EPT_VIOLATION_NMI_UNBLOCKING).toBe(0x1000);
    expect(vmx.EPT_VIOLATION_SHADOW_STACK).toBe(0x2000);
  });

  it("VM-entry failure qualifications", () => {
    expect(vmx.ENTRY_FAIL_DEFAULT).toBe(0);
    expect(vmx.ENTRY_FAIL_PDPTE).toBe(2);
    expect(vmx.ENTRY_FAIL_NMI).toBe(3);
    expect(vmx.ENTRY_FAIL_VMCS_LINK_PTR).toBe(4);
  });
});

describe("segment access rights", () => {
  it("masks", () => {
    expect(vmx.VMX_AR_TYPE_MASK).toBe(0x0f);
    expect(vmx.VMX_AR_S_MASK).toBe(0x10);
    expect(vmx.VMX_AR_DPL_SHIFT).toBe(5);
    expect(vmx.VMX_AR_P_MASK).toBe(0x80);
    expect(vmx.VMX_AR_L_MASK).toBe(0x2000);
    expect(vmx.VMX_AR_DB_MASK).toBe(0x4000);
    expect(vmx.VMX_AR_G_MASK).toBe(0x8000);
    expect(vmx.VMX_AR_UNUSABLE_MASK).toBe(0x10000);
    expect(vmx.VMX_AR_RESERVD_MASK).toBe(0xfffe0f00);
  });

  it("the reference's common values decompose", () => {
    // 64-bit code 0xA09B: type 0xB, S, DPL 0, P, L, G.
    const code64 =
      0xb | vmx.VMX_AR_S_MASK | vmx.VMX_AR_P_MASK | vmx.VMX_AR_L_MASK | vmx.VMX_AR_G_MASK;
    expect(code64).toBe(0xa09b);
    // v8086 segments 0xF3: type 3, S, DPL 3, P.
    expect(3 | vmx.VMX_AR_S_MASK | (3 << vmx.VMX_AR_DPL_SHIFT) | vmx.VMX_AR_P_MASK).toBe(0xf3);
    for (const ar of [0xa09b, 0xc09b, 0xc093, 0x9b, 0x93, 0x8b, 0x82, 0xf3, 0x10000]) {
      expect((ar & vmx.VMX_AR_RESERVD_MASK) >>> 0).toBe(0);
    }
  });
});

describe("VM-instruction errors", () => {
  const ERRORS: ReadonlyArray<readonly [number, string | undefined]> = [
    [1, "VMXERR_VMCALL_IN_VMX_ROOT_OPERATION"],
    [2, "VMXERR_VMCLEAR_INVALID_ADDRESS"],
    [3, "VMXERR_VMCLEAR_VMXON_POINTER"],
    [4, "VMXERR_VMLAUNCH_NONCLEAR_VMCS"],
    [5, "VMXERR_VMRESUME_NONLAUNCHED_VMCS"],
    [6, "VMXERR_VMRESUME_AFTER_VMXOFF"],
    [7, "VMXERR_ENTRY_INVALID_CONTROL_FIELD"],
    [8, "VMXERR_ENTRY_INVALID_HOST_STATE_FIELD"],
    [9, "VMXERR_VMPTRLD_INVALID_ADDRESS"],
    [10, "VMXERR_VMPTRLD_VMXON_POINTER"],
    [11, "VMXERR_VMPTRLD_INCORRECT_VMCS_REVISION_ID"],
    [12, "VMXERR_UNSUPPORTED_VMCS_COMPONENT"],
    [13, "VMXERR_VMWRITE_READ_ONLY_VMCS_COMPONENT"],
    [14, undefined],
    [15, "VMXERR_VMXON_IN_VMX_ROOT_OPERATION"],
    [16, "VMXERR_ENTRY_INVALID_EXECUTIVE_VMCS_POINTER"],
    [17, "VMXERR_ENTRY_NONLAUNCHED_EXECUTIVE_VMCS"],
    [18, "VMXERR_ENTRY_EXECUTIVE_VMCS_POINTER_NOT_VMXON_POINTER"],
    [19, "VMXERR_VMCALL_NONCLEAR_VMCS"],
    [20, "VMXERR_VMCALL_INVALID_VM_EXIT_CONTROL_FIELDS"],
    [21, undefined],
    [22, "VMXERR_VMCALL_INCORRECT_MSEG_REVISION_ID"],
    [23, "VMXERR_VMXOFF_UNDER_DUAL_MONITOR_TREATMENT_OF_SMIS_AND_SMM"],
    [24, "VMXERR_VMCALL_INVALID_SMM_MONITOR_FEATURES"],
    [25, "VMXERR_ENTRY_INVALID_VM_EXECUTION_CONTROL_FIELDS_IN_EXECUTIVE_VMCS"],
    [26, "VMXERR_ENTRY_EVENTS_BLOCKED_BY_MOV_SS"],
    [27, undefined],
    [28, "VMXERR_INVALID_OPERAND_TO_INVEPT_INVVPID"],
  ];

  it.each(ERRORS)("error %i is %s", (n, name) => {
    expect(vmx.VMX_INSTRUCTION_ERROR_NAMES[n]).toBe(name);
    if (name === undefined) {
      expect(vmx.vmxInstructionErrorMessage(n)).toBe(`Reserved VM-instruction error ${n}`);
    } else {
      expect(consts[name]).toBe(n);
      expect(vmx.vmxInstructionErrorMessage(n)).not.toMatch(/^(Reserved|Unknown)/);
    }
  });

  it("the name table spans 0..28 with nothing at 0", () => {
    expect(vmx.VMX_INSTRUCTION_ERROR_NAMES).toHaveLength(29);
    expect(vmx.VMX_INSTRUCTION_ERROR_NAMES[0]).toBeUndefined();
    expect(vmx.VMXERR_MAX).toBe(28);
  });

  it("messages", () => {
    expect(vmx.vmxInstructionErrorMessage(7)).toBe("VM entry with invalid control field(s)");
    expect(vmx.vmxInstructionErrorMessage(8)).toBe("VM entry with invalid host-state field(s)");
    expect(vmx.vmxInstructionErrorMessage(12)).toBe(
      "VMREAD/VMWRITE from/to unsupported VMCS component",
    );
    expect(vmx.vmxInstructionErrorMessage(26)).toBe("VM entry with events blocked by MOV SS");
    expect(vmx.vmxInstructionErrorMessage(0)).toBe("Unknown VM-instruction error 0");
    expect(vmx.vmxInstructionErrorMessage(29)).toBe("Unknown VM-instruction error 29");
  });
});

describe("enabling VMX and the capability MSRs", () => {
  it("CR4.VMXE and IA32_FEATURE_CONTROL", () => {
    expect(vmx.X86_CR4_VMXE).toBe(0x2000);
    expect(1 << vmx.X86_CR4_VMXE_BIT).toBe(vmx.X86_CR4_VMXE);
    expect(vmx.MSR_IA32_FEAT_CTL).toBe(0x3a);
    expect([
      vmx.FEAT_CTL_LOCKED,
      vmx.FEAT_CTL_VMX_ENABLED_INSIDE_SMX,
      vmx.FEAT_CTL_VMX_ENABLED_OUTSIDE_SMX,
    ]).toEqual([1, 2, 4]);
  });

  it("MSR numbers 0x480..0x493", () => {
    expect([
      vmx.MSR_IA32_VMX_BASIC,
      vmx.MSR_IA32_VMX_PINBASED_CTLS,
      vmx.MSR_IA32_VMX_PROCBASED_CTLS,
      vmx.MSR_IA32_VMX_EXIT_CTLS,
      vmx.MSR_IA32_VMX_ENTRY_CTLS,
      vmx.MSR_IA32_VMX_MISC,
      vmx.MSR_IA32_VMX_CR0_FIXED0,
      vmx.MSR_IA32_VMX_CR0_FIXED1,
      vmx.MSR_IA32_VMX_CR4_FIXED0,
      vmx.MSR_IA32_VMX_CR4_FIXED1,
      vmx.MSR_IA32_VMX_VMCS_ENUM,
      vmx.MSR_IA32_VMX_PROCBASED_CTLS2,
      vmx.MSR_IA32_VMX_EPT_VPID_CAP,
      vmx.MSR_IA32_VMX_TRUE_PINBASED_CTLS,
      vmx.MSR_IA32_VMX_TRUE_PROCBASED_CTLS,
      vmx.MSR_IA32_VMX_TRUE_EXIT_CTLS,
      vmx.MSR_IA32_VMX_TRUE_ENTRY_CTLS,
      vmx.MSR_IA32_VMX_VMFUNC,
      vmx.MSR_IA32_VMX_PROCBASED_CTLS3,
      vmx.MSR_IA32_VMX_EXIT_CTLS2,
    ]).toEqual(Array.from({ length: 20 }, (_, i) => 0x480 + i));
  });

  it("IA32_VMX_BASIC layout decodes a Bochs-like value", () => {
    // revision 0x2b, 4 KiB, WB, INS/OUTS info, TRUE controls.
    const basic = (1n << 55n) | (1n << 54n) | (6n << 50n) | (0x1000n << 32n) | 0x2bn;
    expect(Number(basic & BigInt(vmx.VMX_BASIC_REVISION_ID_MASK))).toBe(0x2b);
    const field = (shift: number, mask: number) => Number((basic >> BigInt(shift)) & BigInt(mask));
    expect(field(vmx.VMX_BASIC_VMCS_SIZE_SHIFT, vmx.VMX_BASIC_VMCS_SIZE_MASK)).toBe(0x1000);
    expect(field(vmx.VMX_BASIC_MEM_TYPE_SHIFT, vmx.VMX_BASIC_MEM_TYPE_MASK)).toBe(
      vmx.VMX_BASIC_MEM_TYPE_WB,
    );
    expect(field(vmx.VMX_BASIC_INOUT_BIT, 1)).toBe(1);
    expect(field(vmx.VMX_BASIC_TRUE_CTLS_BIT, 1)).toBe(1);
    expect(field(vmx.VMX_BASIC_32BIT_PHYS_ADDR_ONLY_BIT, 1)).toBe(0);
    expect(basic & vmx.VMX_BASIC_TRUE_CTLS).toBe(vmx.VMX_BASIC_TRUE_CTLS);
    expect(basic & vmx.VMX_BASIC_INOUT).toBe(1n << 54n);
    expect(basic & vmx.VMX_BASIC_DUAL_MONITOR_TREATMENT).toBe(0n);
    expect(vmx.VMX_BASIC_32BIT_PHYS_ADDR_ONLY).toBe(1n << 48n);
    expect(vmx.VMX_BASIC_DUAL_MONITOR_TREATMENT_BIT).toBe(49);
    expect(vmx.VMX_BASIC_NO_HW_ERROR_CODE_CC).toBe(1n << 56n);
    expect(vmx.VMX_BASIC_NO_HW_ERROR_CODE_CC_BIT).toBe(56);
  });

  it("IA32_VMX_MISC fields", () => {
    expect(vmx.VMX_MISC_PREEMPTION_TIMER_RATE_MASK).toBe(0x1f);
    expect(vmx.VMX_MISC_SAVE_EFER_LMA).toBe(1 << 5);
    expect([
      vmx.VMX_MISC_ACTIVITY_HLT,
      vmx.VMX_MISC_ACTIVITY_SHUTDOWN,
      vmx.VMX_MISC_ACTIVITY_WAIT_SIPI,
    ]).toEqual([1 << 6, 1 << 7, 1 << 8]);
    expect(vmx.VMX_MISC_INTEL_PT).toBe(1 << 14);
    expect(vmx.VMX_MISC_RDMSR_IN_SMM).toBe(1 << 15);
    const misc =
      5 | (4 << vmx.VMX_MISC_CR3_TARGET_COUNT_SHIFT) | (1 << vmx.VMX_MISC_MAX_MSR_LIST_SHIFT);
    expect(
      (misc >>> vmx.VMX_MISC_CR3_TARGET_COUNT_SHIFT) & vmx.VMX_MISC_CR3_TARGET_COUNT_MASK,
    ).toBe(4);
    const n = (misc >>> vmx.VMX_MISC_MAX_MSR_LIST_SHIFT) & vmx.VMX_MISC_MAX_MSR_LIST_MASK;
    expect(vmx.VMX_MISC_MSR_LIST_MULTIPLIER * (n + 1)).toBe(1024);
    expect(vmx.VMX_MISC_VMXOFF_BLOCK_SMI).toBe(1 << 28);
    expect(vmx.VMX_MISC_VMWRITE_SHADOW_RO_FIELDS).toBe(1 << 29);
    expect(vmx.VMX_MISC_ZERO_LEN_INS).toBe(1 << 30);
    expect(vmx.VMX_MISC_MSEG_ID_SHIFT).toBe(32);
  });

  it("EPT/VPID capability bits (EPT: MSR bits 31:0, VPID: MSR bits 63:32)", () => {
    const ept = [
      [vmx.VMX_EPT_EXECUTE_ONLY_BIT, 0],
      [vmx.VMX_EPT_PAGE_WALK_4_BIT, 6],
      [vmx.VMX_EPT_PAGE_WALK_5_BIT, 7],
      [vmx.VMX_EPTP_UC_BIT, 8],
      [vmx.VMX_EPTP_WB_BIT, 14],
      [vmx.VMX_EPT_2MB_PAGE_BIT, 16],
      [vmx.VMX_EPT_1GB_PAGE_BIT, 17],
      [vmx.VMX_EPT_INVEPT_BIT, 20],
      [vmx.VMX_EPT_AD_BIT, 21],
      [vmx.VMX_EPT_EXTENT_CONTEXT_BIT, 25],
      [vmx.VMX_EPT_EXTENT_GLOBAL_BIT, 26],
    ] as const;
    for (const [mask, bit] of ept) expect(mask).toBe(2 ** bit);
    expect(1 << (vmx.VMX_EPT_EXTENT_SHIFT + vmx.VMX_EPT_EXTENT_CONTEXT)).toBe(
      vmx.VMX_EPT_EXTENT_CONTEXT_BIT,
    );
    expect(1 << (vmx.VMX_EPT_EXTENT_SHIFT + vmx.VMX_EPT_EXTENT_GLOBAL)).toBe(
      vmx.VMX_EPT_EXTENT_GLOBAL_BIT,
    );
    const vpid = [
      [vmx.VMX_VPID_INVVPID_BIT, 32],
      [vmx.VMX_VPID_EXTENT_INDIVIDUAL_ADDR_BIT, 40],
      [vmx.VMX_VPID_EXTENT_SINGLE_CONTEXT_BIT, 41],
      [vmx.VMX_VPID_EXTENT_GLOBAL_CONTEXT_BIT, 42],
      [vmx.VMX_VPID_EXTENT_SINGLE_NON_GLOBAL_BIT, 43],
    ] as const;
    for (const [mask, bit] of vpid) expect(mask).toBe(2 ** (bit - 32));
    expect(vmx.VMX_VPID_EXTENT_SUPPORTED_MASK).toBe(0xf00);
  });

  it("EPTP, EPT entries, INVEPT and INVVPID types", () => {
    expect(vmx.VMX_EPTP_MT_WB).toBe(6);
    expect(vmx.VMX_EPTP_MT_UC).toBe(0);
    expect(vmx.VMX_EPTP_PWL_4).toBe(0x18);
    expect(vmx.VMX_EPTP_PWL_5).toBe(0x20);
    expect(vmx.VMX_EPTP_AD_ENABLE_BIT).toBe(0x40);
    expect((vmx.VMX_EPT_DEFAULT_GAW << vmx.VMX_EPT_GAW_EPTP_SHIFT) & vmx.VMX_EPTP_PWL_MASK).toBe(
      vmx.VMX_EPTP_PWL_4,
    );
    expect([
      vmx.VMX_EPT_READABLE_MASK,
      vmx.VMX_EPT_WRITABLE_MASK,
      vmx.VMX_EPT_EXECUTABLE_MASK,
      vmx.VMX_EPT_IPAT_BIT,
      vmx.VMX_EPT_LARGE_PAGE_MASK,
      vmx.VMX_EPT_ACCESS_BIT,
      vmx.VMX_EPT_DIRTY_BIT,
      vmx.VMX_EPT_USER_EXECUTABLE_MASK,
    ]).toEqual([1, 2, 4, 0x40, 0x80, 0x100, 0x200, 0x400]);
    expect(vmx.VMX_EPT_MT_EPTE_SHIFT).toBe(3);
    expect(vmx.VMX_EPT_MT_MASK).toBe(7 << 3);
    expect(vmx.VMX_EPT_SUPPRESS_VE_BIT).toBe(0x8000_0000_0000_0000n);
    expect([vmx.VMX_EPT_EXTENT_CONTEXT, vmx.VMX_EPT_EXTENT_GLOBAL]).toEqual([1, 2]);
    expect([
      vmx.VMX_VPID_EXTENT_INDIVIDUAL_ADDR,
      vmx.VMX_VPID_EXTENT_SINGLE_CONTEXT,
      vmx.VMX_VPID_EXTENT_ALL_CONTEXT,
      vmx.VMX_VPID_EXTENT_SINGLE_NON_GLOBAL,
    ]).toEqual([0, 1, 2, 3]);
  });
});
