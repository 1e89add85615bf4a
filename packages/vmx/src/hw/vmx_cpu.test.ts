import { HostKernel } from "@glassvm/kvm-kernel";
import { beforeEach, describe, expect, it } from "vitest";
import {
  CPU_BASED_VM_EXEC_CONTROL,
  EPT_POINTER,
  GUEST_CS_SELECTOR,
  GUEST_RFLAGS,
  GUEST_RIP,
  HOST_CR0,
  HOST_CR3,
  HOST_CR4,
  HOST_CS_SELECTOR,
  HOST_IA32_EFER,
  HOST_IA32_PAT,
  HOST_RIP,
  HOST_SS_SELECTOR,
  HOST_TR_SELECTOR,
  IO_BITMAP_A,
  IO_BITMAP_A_HIGH,
  PIN_BASED_VM_EXEC_CONTROL,
  SECONDARY_VM_EXEC_CONTROL,
  VIRTUAL_PROCESSOR_ID,
  VM_ENTRY_CONTROLS,
  VM_EXIT_CONTROLS,
  VM_EXIT_REASON,
  VM_INSTRUCTION_ERROR,
  VMCS_LINK_POINTER,
} from "../asm/vmx.js";
import { setupVmcsConfig } from "../capabilities.js";
import { VMCS_REVISION_ID, vmxControlAllowed } from "./vmx_caps.js";
import {
  VMCS_POINTER_INVALID,
  VMX_FAIL_INVALID,
  VMX_FAULT_GP,
  VMX_FAULT_UD,
  VMX_SUCCEED,
  VMX_VMEXIT,
  VmxCpu,
  type VmxProcessor,
  vmxOutcomeName,
  vmxResultFlags,
} from "./vmx_cpu.js";

/** A ring-0, 64-bit processor with VMX enabled by the BIOS, over a kernel's pages. */
function processor(kernel: HostKernel, patch: Partial<Record<string, number>> = {}): VmxProcessor {
  const st = { cr0: 0x8005_0033, cr4: 0x2020, cpl: 0, fc: 5, modeOk: 1, movss: 0, ...patch };
  return {
    phys: (pa, len) => kernel.physBytes(pa, len),
    cr0: () => st.cr0,
    cr4: () => st.cr4,
    cpl: () => st.cpl,
    featureControl: () => st.fc,
    vmxModeOk: () => st.modeOk === 1,
    movSsBlocking: () => st.movss === 1,
    longMode: () => true,
  };
}

function region(kernel: HostKernel, rev = VMCS_REVISION_ID): number {
  const { pa, bytes } = kernel.allocPage();
  new DataView(bytes.buffer).setUint32(0, rev, true);
  return pa;
}

let kernel: HostKernel;
let p: VmxProcessor;
let cpu: VmxCpu;
let vmxon: number;

beforeEach(() => {
  kernel = new HostKernel();
  p = processor(kernel);
  cpu = new VmxCpu();
  vmxon = region(kernel);
});

/** VMXON, then VMCLEAR + VMPTRLD of a fresh VMCS; returns its address. */
function loaded(): number {
  expect(cpu.vmxon(p, vmxon)).toBe(VMX_SUCCEED);
  const vmcs = region(kernel);
  expect(cpu.vmclear(p, vmcs)).toBe(VMX_SUCCEED);
  expect(cpu.vmptrld(p, vmcs)).toBe(VMX_SUCCEED);
  return vmcs;
}

function lastError(): bigint {
  expect(cpu.vmread(p, VM_INSTRUCTION_ERROR)).toBe(VMX_SUCCEED);
  return cpu.readValue;
}

describe("VMXON", () => {
  it("is #UD without CR4.VMXE or outside protected mode", () => {
    expect(cpu.vmxon(processor(kernel, { cr4: 0x20 }), vmxon)).toBe(VMX_FAULT_UD);
    expect(cpu.vmxon(processor(kernel, { modeOk: 0 }), vmxon)).toBe(VMX_FAULT_UD);
  });

  it("is #GP(0) at CPL > 0, with CR0/CR4 outside the fixed bits, or FEATURE_CONTROL not enabling it", () => {
    expect(cpu.vmxon(processor(kernel, { cpl: 3 }), vmxon)).toBe(VMX_FAULT_GP);
    // CR0.NE (bit 5) is fixed to 1 in VMX operation.
    expect(cpu.vmxon(processor(kernel, { cr0: 0x8005_0013 }), vmxon)).toBe(VMX_FAULT_GP);
    expect(cpu.vmxon(processor(kernel, { fc: 4 }), vmxon)).toBe(VMX_FAULT_GP);
    expect(cpu.vmxon(processor(kernel, { fc: 1 }), vmxon)).toBe(VMX_FAULT_GP);
  });

  it("is VMfailInvalid for an unaligned, too wide or wrong-revision region", () => {
    expect(cpu.vmxon(p, vmxon + 8)).toBe(VMX_FAIL_INVALID);
    expect(cpu.vmxon(p, 2 ** 40)).toBe(VMX_FAIL_INVALID);
    expect(cpu.vmxon(p, region(kernel, VMCS_REVISION_ID + 1))).toBe(VMX_FAIL_INVALID);
    expect(cpu.inVmxOperation).toBe(false);
  });

  it("enters root operation; a second VMXON is VMfail(15)", () => {
    expect(cpu.vmxon(p, vmxon)).toBe(VMX_SUCCEED);
    expect(cpu.inVmxOperation).toBe(true);
    expect(cpu.vmxon(p, vmxon)).toBe(VMX_FAIL_INVALID);
    const vmcs = region(kernel);
    expect(cpu.vmptrld(p, vmcs)).toBe(VMX_SUCCEED);
    expect(cpu.vmxon(p, vmxon)).toBe(15);
    expect(lastError()).toBe(15n);
  });

  it("VMXOFF leaves VMX operation; VMX instructions are #UD after it", () => {
    loaded();
    expect(cpu.vmxoff(p)).toBe(VMX_SUCCEED);
    expect(cpu.vmread(p, GUEST_RIP)).toBe(VMX_FAULT_UD);
    expect(cpu.vmxoff(p)).toBe(VMX_FAULT_UD);
  });
});

describe("VMCLEAR, VMPTRLD, VMPTRST", () => {
  it("are #UD outside VMX operation and #GP(0) at CPL 3", () => {
    const vmcs = region(kernel);
    expect(cpu.vmclear(p, vmcs)).toBe(VMX_FAULT_UD);
    expect(cpu.vmptrld(p, vmcs)).toBe(VMX_FAULT_UD);
    expect(cpu.vmxon(p, vmxon)).toBe(VMX_SUCCEED);
    const user = processor(kernel, { cpl: 3 });
    expect(cpu.vmclear(user, vmcs)).toBe(VMX_FAULT_GP);
    expect(cpu.vmptrld(user, vmcs)).toBe(VMX_FAULT_GP);
    expect(cpu.vmptrst(user)).toBe(VMX_FAULT_GP);
  });

  it("VMCLEAR: bad address VMfail(2), the VMXON region VMfail(3)", () => {
    loaded();
    expect(cpu.vmclear(p, 0x1234)).toBe(2);
    expect(cpu.vmclear(p, vmxon)).toBe(3);
    expect(lastError()).toBe(3n);
  });

  it("VMPTRLD: bad address VMfail(9), VMXON region VMfail(10), wrong revision VMfail(11)", () => {
    expect(cpu.vmxon(p, vmxon)).toBe(VMX_SUCCEED);
    // Without a current VMCS each of these is VMfailInvalid …
    expect(cpu.vmptrld(p, 0x1001)).toBe(VMX_FAIL_INVALID);
    const vmcs = region(kernel);
    expect(cpu.vmptrld(p, vmcs)).toBe(VMX_SUCCEED);
    // … and with one, VMfailValid with the error number.
    expect(cpu.vmptrld(p, 0x1001)).toBe(9);
    expect(cpu.vmptrld(p, vmxon)).toBe(10);
    expect(cpu.vmptrld(p, region(kernel, 0x7fff_0000))).toBe(11);
    expect(cpu.vmptrld(p, region(kernel, VMCS_REVISION_ID | 0x8000_0000))).toBe(11);
    expect(lastError()).toBe(11n);
  });

  it("VMPTRST stores the current pointer; VMCLEAR of the current VMCS invalidates it", () => {
    const vmcs = loaded();
    expect(cpu.vmptrst(p)).toBe(VMX_SUCCEED);
    expect(cpu.readValue).toBe(BigInt(vmcs));
    expect(cpu.vmclear(p, vmcs)).toBe(VMX_SUCCEED);
    expect(cpu.vmptrst(p)).toBe(VMX_SUCCEED);
    expect(cpu.readValue).toBe(VMCS_POINTER_INVALID);
    expect(cpu.vmread(p, GUEST_RIP)).toBe(VMX_FAIL_INVALID);
  });
});

describe("VMREAD and VMWRITE", () => {
  it("are VMfailInvalid with no current VMCS", () => {
    expect(cpu.vmxon(p, vmxon)).toBe(VMX_SUCCEED);
    expect(cpu.vmread(p, GUEST_RIP)).toBe(VMX_FAIL_INVALID);
    expect(cpu.vmwrite(p, GUEST_RIP, 1n)).toBe(VMX_FAIL_INVALID);
  });

  it("unsupported or reserved encodings are VMfail(12)", () => {
    loaded();
    expect(cpu.vmread(p, 0x1000 | GUEST_RIP)).toBe(12);
    expect(cpu.vmread(p, 0x0001_6820)).toBe(12);
    expect(cpu.vmwrite(p, 0x6ffe, 0n)).toBe(12);
    // A HIGH access to a field that is not 64-bit.
    expect(cpu.vmread(p, GUEST_RIP + 1)).toBe(12);
    expect(lastError()).toBe(12n);
  });

  it("read-only exit-information fields refuse VMWRITE: VMfail(13)", () => {
    loaded();
    expect(cpu.vmwrite(p, VM_EXIT_REASON, 12n)).toBe(13);
    expect(lastError()).toBe(13n);
  });

  it("values are truncated to the field's width and zero-extended when read", () => {
    loaded();
    expect(cpu.vmwrite(p, GUEST_CS_SELECTOR, 0x1_2345n)).toBe(VMX_SUCCEED);
    expect(cpu.vmread(p, GUEST_CS_SELECTOR)).toBe(VMX_SUCCEED);
    expect(cpu.readValue).toBe(0x2345n);
    expect(cpu.vmwrite(p, GUEST_RFLAGS, 0xffff_ffff_0000_0202n)).toBe(VMX_SUCCEED);
    expect(cpu.vmread(p, GUEST_RFLAGS)).toBe(VMX_SUCCEED);
    expect(cpu.readValue).toBe(0xffff_ffff_0000_0202n);
  });

  it("a HIGH encoding reads and writes bits 63:32 of a 64-bit field", () => {
    loaded();
    expect(cpu.vmwrite(p, IO_BITMAP_A, 0x1111_2222_3333_4000n)).toBe(VMX_SUCCEED);
    expect(cpu.vmread(p, IO_BITMAP_A_HIGH)).toBe(VMX_SUCCEED);
    expect(cpu.readValue).toBe(0x1111_2222n);
    expect(cpu.vmwrite(p, IO_BITMAP_A_HIGH, 0xaaaa_bbbbn)).toBe(VMX_SUCCEED);
    expect(cpu.vmread(p, IO_BITMAP_A)).toBe(VMX_SUCCEED);
    expect(cpu.readValue).toBe(0xaaaa_bbbb_3333_4000n);
  });

  it("the VMCS lives in its memory region: VMPTRLD of another VMCS and back keeps values", () => {
    const a = loaded();
    expect(cpu.vmwrite(p, VMCS_LINK_POINTER, VMCS_POINTER_INVALID)).toBe(VMX_SUCCEED);
    const b = region(kernel);
    expect(cpu.vmptrld(p, b)).toBe(VMX_SUCCEED);
    expect(cpu.vmread(p, VMCS_LINK_POINTER)).toBe(VMX_SUCCEED);
    expect(cpu.readValue).toBe(0n);
    expect(cpu.vmptrld(p, a)).toBe(VMX_SUCCEED);
    expect(cpu.vmread(p, VMCS_LINK_POINTER)).toBe(VMX_SUCCEED);
    expect(cpu.readValue).toBe(VMCS_POINTER_INVALID);
    // Only the revision identifier is architectural; it is untouched.
    expect(new DataView(kernel.physBytes(a, 4)!.slice().buffer).getUint32(0, true)).toBe(
      VMCS_REVISION_ID,
    );
  });
});

describe("INVEPT, INVVPID, VMCALL", () => {
  it("INVEPT supports single-context and all-context; other types are VMfail(28)", () => {
    loaded();
    expect(cpu.invept(p, 1, 0x5000_001en)).toBe(VMX_SUCCEED);
    expect(cpu.invept(p, 2, 0n)).toBe(VMX_SUCCEED);
    expect(cpu.invept(p, 3, 0n)).toBe(28);
    expect(cpu.invept(p, 0, 0n)).toBe(28);
  });

  it("INVVPID refuses VPID 0 and non-canonical addresses: VMfail(28)", () => {
    loaded();
    expect(cpu.invvpid(p, 0, 1, 0x7fff_ffff_f000n)).toBe(VMX_SUCCEED);
    expect(cpu.invvpid(p, 0, 1, 0x8000_0000_0000n)).toBe(28);
    expect(cpu.invvpid(p, 1, 0, 0n)).toBe(28);
    expect(cpu.invvpid(p, 2, 0, 0n)).toBe(VMX_SUCCEED);
    expect(cpu.invvpid(p, 4, 1, 0n)).toBe(28);
  });

  it("VMCALL in root operation is VMfail(1)", () => {
    loaded();
    expect(cpu.vmcall(p)).toBe(1);
    expect(lastError()).toBe(1n);
  });
});

describe("VMLAUNCH and VMRESUME: the instruction's own checks", () => {
  it("#UD outside VMX operation, #GP(0) at CPL 3, VMfailInvalid with no current VMCS", () => {
    expect(cpu.vmlaunch(p)).toBe(VMX_FAULT_UD);
    expect(cpu.vmxon(p, vmxon)).toBe(VMX_SUCCEED);
    expect(cpu.vmlaunch(processor(kernel, { cpl: 3 }))).toBe(VMX_FAULT_GP);
    expect(cpu.vmlaunch(p)).toBe(VMX_FAIL_INVALID);
    expect(cpu.vmresume(p)).toBe(VMX_FAIL_INVALID);
  });

  it("blocking by MOV SS is VMfail(26), before the launch-state errors", () => {
    loaded();
    expect(cpu.vmresume(processor(kernel, { movss: 1 }))).toBe(26);
  });

  it("VMRESUME of a clear VMCS is VMfail(5)", () => {
    loaded();
    expect(cpu.vmresume(p)).toBe(5);
    expect(lastError()).toBe(5n);
  });

  it("VMLAUNCH of a launched VMCS is VMfail(4)", () => {
    const vmcs = loaded();
    kernel.physBytes(vmcs + 8, 1)![0] = 1; // launch state: launched
    expect(cpu.vmlaunch(p)).toBe(4);
  });

  it("an empty VMCS fails the control checks: VMfail(7), explained", () => {
    loaded();
    expect(cpu.vmlaunch(p)).toBe(7);
    expect(lastError()).toBe(7n);
    expect(cpu.lastEntryFailure?.stage).toBe("controls");
    expect(cpu.lastEntryFailure?.message).toMatch(/PIN_BASED_VM_EXEC_CONTROL/);
  });
});

describe("VM entry through the checks", () => {
  it("host state is checked (VMfail(8)); then an empty guest fails with VM exit 0x80000021", () => {
    loaded();
    const cfg = setupVmcsConfig((i) => cpu.capabilityMsr(i));
    if (typeof cfg === "number") throw new Error("setup_vmcs_config");
    const w = (enc: number, v: number | bigint) =>
      expect(cpu.vmwrite(p, enc, BigInt(v))).toBe(VMX_SUCCEED);
    w(PIN_BASED_VM_EXEC_CONTROL, cfg.pinBasedExecCtrl);
    w(CPU_BASED_VM_EXEC_CONTROL, cfg.cpuBasedExecCtrl);
    w(SECONDARY_VM_EXEC_CONTROL, cfg.cpuBasedExec2Ctrl);
    w(VM_EXIT_CONTROLS, cfg.vmexitCtrl);
    w(VM_ENTRY_CONTROLS, cfg.vmentryCtrl);
    w(VIRTUAL_PROCESSOR_ID, 1);
    w(EPT_POINTER, 0x5000n | 0x18n | 6n);
    w(HOST_CR0, 0x8005_0033);
    w(HOST_CR4, 0x2020);
    w(HOST_CR3, 0x1000);
    w(HOST_CS_SELECTOR, 0x10);
    w(HOST_SS_SELECTOR, 0x18);
    w(HOST_TR_SELECTOR, 0x40);
    w(HOST_RIP, 0xffff_ffff_8100_0000n);
    // kvm_intel loads the host's EFER on exit: it must say long mode (VMfailValid(8)).
    expect(cpu.vmlaunch(p)).toBe(8);
    expect(cpu.lastEntryFailure?.rule).toBe("host-efer-lma-lme");
    w(HOST_IA32_EFER, 0xd01);
    w(HOST_IA32_PAT, 0x0007_0406_0007_0406n);
    let hostRip = 0n;
    const withHost: VmxProcessor = { ...p, loadHostState: (read) => (hostRip = read(HOST_RIP)) };
    expect(cpu.vmlaunch(withHost)).toBe(VMX_VMEXIT);
    expect(cpu.lastEntryFailure?.stage).toBe("guest-state");
    expect(cpu.lastEntryFailure?.message).toMatch(/GUEST_/);
    expect(cpu.vmread(p, VM_EXIT_REASON)).toBe(VMX_SUCCEED);
    expect(cpu.readValue).toBe(0x8000_0021n);
    // The failed entry loaded host state, and the VMCS is still clear (VMLAUNCH again).
    expect(hostRip).toBe(0xffff_ffff_8100_0000n);
    expect(cpu.vmresume(p)).toBe(5);
  });
});

describe("flags and names", () => {
  it("VMsucceed clears CF..OF; VMfailInvalid sets CF; VMfailValid sets ZF", () => {
    const all = 0x8d5 | 0x202;
    expect(vmxResultFlags(all, VMX_SUCCEED)).toBe(0x202);
    expect(vmxResultFlags(all, VMX_FAIL_INVALID)).toBe(0x203);
    expect(vmxResultFlags(all, 7)).toBe(0x242);
    expect(vmxResultFlags(all, VMX_FAULT_GP)).toBe(all);
    expect([VMX_SUCCEED, VMX_FAIL_INVALID, 7, VMX_FAULT_UD].map(vmxOutcomeName)).toEqual([
      "VMsucceed",
      "VMfailInvalid",
      "VMfailValid(7)",
      "#UD",
    ]);
  });
});

describe("capability MSRs", () => {
  it("IA32_VMX_BASIC: revision, 4 KiB regions, write-back, TRUE controls", () => {
    const basic = cpu.capabilityMsr(0x480)!;
    expect(Number(basic & 0x7fff_ffffn)).toBe(VMCS_REVISION_ID);
    expect((basic >> 32n) & 0x1fffn).toBe(4096n);
    expect((basic >> 50n) & 0xfn).toBe(6n);
    expect((basic >> 55n) & 1n).toBe(1n);
  });

  it("every control MSR's must-be-1 bits are allowed to be 1", () => {
    for (const msr of [0x481, 0x482, 0x483, 0x484, 0x48b, 0x48d, 0x48e, 0x48f, 0x490]) {
      const v = cpu.capabilityMsr(msr)!;
      expect(vmxControlAllowed(v, Number(v & 0xffff_ffffn)), `MSR 0x${msr.toString(16)}`).toBe(
        true,
      );
    }
  });

  it("the TRUE primary controls let CR3-load/store exiting be cleared (EPT guests)", () => {
    const plain = cpu.capabilityMsr(0x482)!;
    const tru = cpu.capabilityMsr(0x48e)!;
    expect(vmxControlAllowed(plain, 0x0401_e172 & ~0x18000)).toBe(false);
    expect(vmxControlAllowed(tru, 0x0401_e172 & ~0x18000)).toBe(true);
  });

  it("EPT, VPID and unrestricted guest may be enabled; VMFUNC is absent (#GP)", () => {
    const sec = Number(cpu.capabilityMsr(0x48b)! >> 32n);
    expect(sec & 0x2).toBe(0x2);
    expect(sec & 0x20).toBe(0x20);
    expect(sec & 0x80).toBe(0x80);
    expect(cpu.capabilityMsr(0x491)).toBeUndefined();
  });
});
