/**
 * A hypervisor written in x86: 32-bit protected-mode code with paging, running on the
 * software CPU in VMX root operation, executes VMXON, VMCLEAR, VMPTRLD, a table of
 * VMWRITEs, VMLAUNCH — the guest (real mode, unrestricted, under an EPT the hypervisor
 * built) runs until its OUT exits — and at HOST_RIP reads the exit reason with VMREAD.
 */
import {
  PhysMemory,
  setRegisters,
  setSystemRegisters,
  state,
  X86Cpu,
  type X86Segment,
} from "@glassvm/x86";
import { describe, expect, it } from "vitest";
import {
  CPU_BASED_ACTIVATE_SECONDARY_CONTROLS,
  CPU_BASED_HLT_EXITING,
  CPU_BASED_UNCOND_IO_EXITING,
  CPU_BASED_VM_EXEC_CONTROL,
  EPT_POINTER,
  EXIT_QUALIFICATION,
  GUEST_ACTIVITY_STATE,
  GUEST_CR0,
  GUEST_CR3,
  GUEST_CR4,
  GUEST_CS_AR_BYTES,
  GUEST_DR7,
  GUEST_ES_AR_BYTES,
  GUEST_ES_LIMIT,
  GUEST_GDTR_LIMIT,
  GUEST_IDTR_LIMIT,
  GUEST_INTERRUPTIBILITY_INFO,
  GUEST_LDTR_AR_BYTES,
  GUEST_RFLAGS,
  GUEST_RIP,
  GUEST_RSP,
  GUEST_TR_AR_BYTES,
  HOST_CR0,
  HOST_CR3,
  HOST_CR4,
  HOST_CS_SELECTOR,
  HOST_DS_SELECTOR,
  HOST_ES_SELECTOR,
  HOST_RIP,
  HOST_RSP,
  HOST_SS_SELECTOR,
  HOST_TR_SELECTOR,
  MSR_IA32_VMX_PROCBASED_CTLS2,
  MSR_IA32_VMX_TRUE_ENTRY_CTLS,
  MSR_IA32_VMX_TRUE_EXIT_CTLS,
  MSR_IA32_VMX_TRUE_PINBASED_CTLS,
  MSR_IA32_VMX_TRUE_PROCBASED_CTLS,
  PIN_BASED_VM_EXEC_CONTROL,
  SECONDARY_EXEC_ENABLE_EPT,
  SECONDARY_EXEC_UNRESTRICTED_GUEST,
  SECONDARY_VM_EXEC_CONTROL,
  VM_ENTRY_CONTROLS,
  VM_EXIT_CONTROLS,
  VM_EXIT_REASON,
  VMCS_LINK_POINTER,
  VMCS_LINK_POINTER_HIGH,
} from "../src/asm/vmx.js";
import { EXIT_REASON_IO_INSTRUCTION } from "../src/asm/vmx-exit-reasons.js";
import { VMCS_REVISION_ID, vmxCapabilities } from "../src/hw/vmx_caps.js";
import { VmxRootCpu } from "../src/hw/vmx_root.js";

const { CR0_PE, CR0_PG, CR0_NE, CR0_ET, CR4_PSE, CR4_VMXE } = {
  CR0_PE: 1,
  CR0_PG: 0x8000_0000,
  CR0_NE: 1 << 5,
  CR0_ET: 1 << 4,
  CR4_PSE: 1 << 4,
  CR4_VMXE: 1 << 13,
};

// Host-physical layout of the L1 machine (4 MiB of RAM, identity-mapped by one 4 MiB page).
const PD = 0x1000;
const VMXON_REGION = 0x2000;
const VMCS = 0x3000;
const POINTERS = 0x4000; // [0] VMXON region pa, [8] VMCS pa
const TABLE = 0x5000; // (encoding, value) pairs, ended by encoding -1
const CODE = 0x8000;
const STACK = 0x9000;
const EPT_PML4 = 0x10000;
const GUEST_RAM = 0x20_0000; // guest-physical 0 … 1 MiB lives here

/** The controls: what the capability MSRs say must be 1, plus what is asked for. */
function controls(msr: number, want: number): number {
  const v = vmxCapabilities().msrs.get(msr)!;
  const must = Number(v & 0xffff_ffffn);
  const may = Number(v >> 32n);
  expect(want & ~may).toBe(0);
  return (must | want) >>> 0;
}

function seg(selector: number, ar: number, limit = 0xffff_ffff): X86Segment {
  return { selector, base: 0, limit, ar };
}

describe("nested: x86 code in VMX root operation runs a guest", () => {
  it("VMXON … VMLAUNCH enters the guest, and the VM exit comes back to HOST_RIP", () => {
    const mem = new PhysMemory();
    const ram = new Uint8Array(4 << 20);
    mem.addRam(0, ram);
    const dv = new DataView(ram.buffer);
    const cpu = new X86Cpu(mem);
    const vt = new VmxRootCpu(cpu);

    // Paging: one 4 MiB page (PS) identity-maps the L1 machine.
    dv.setUint32(PD, 0x83, true);
    // The VMXON region and the VMCS carry the revision identifier.
    dv.setUint32(VMXON_REGION, VMCS_REVISION_ID, true);
    dv.setUint32(VMCS, VMCS_REVISION_ID, true);
    dv.setUint32(POINTERS, VMXON_REGION, true);
    dv.setUint32(POINTERS + 8, VMCS, true);

    // EPT: guest-physical 0–1 MiB → host GUEST_RAM, read/write/execute, write-back.
    const pdpt = EPT_PML4 + 0x1000;
    const pd = EPT_PML4 + 0x2000;
    const pt = EPT_PML4 + 0x3000;
    dv.setUint32(EPT_PML4, pdpt | 7, true);
    dv.setUint32(pdpt, pd | 7, true);
    dv.setUint32(pd, pt | 7, true);
    for (let i = 0; i < 256; i++)
      dv.setUint32(pt + 8 * i, (GUEST_RAM + i * 4096) | 7 | (6 << 3), true);

    // The guest, at guest-physical 0x1000: mov al,0x2a; out 0x42,al; hlt
    ram.set([0xb0, 0x2a, 0xe6, 0x42, 0xf4], GUEST_RAM + 0x1000);

    // The VMCS contents, as (encoding, value) pairs the L1 code VMWRITEs.
    const proc = controls(
      MSR_IA32_VMX_TRUE_PROCBASED_CTLS,
      CPU_BASED_HLT_EXITING | CPU_BASED_UNCOND_IO_EXITING | CPU_BASED_ACTIVATE_SECONDARY_CONTROLS,
    );
    const fields: [number, number][] = [
      [PIN_BASED_VM_EXEC_CONTROL, controls(MSR_IA32_VMX_TRUE_PINBASED_CTLS, 0)],
      [CPU_BASED_VM_EXEC_CONTROL, proc],
      [
        SECONDARY_VM_EXEC_CONTROL,
        controls(
          MSR_IA32_VMX_PROCBASED_CTLS2,
          SECONDARY_EXEC_ENABLE_EPT | SECONDARY_EXEC_UNRESTRICTED_GUEST,
        ),
      ],
      [VM_EXIT_CONTROLS, controls(MSR_IA32_VMX_TRUE_EXIT_CTLS, 0)],
      [VM_ENTRY_CONTROLS, controls(MSR_IA32_VMX_TRUE_ENTRY_CTLS, 0)],
      [EPT_POINTER, EPT_PML4 | 0x1e],
      [VMCS_LINK_POINTER, -1],
      [VMCS_LINK_POINTER_HIGH, -1],
      // Host: this CPU as it is now, coming back at host_rip.
      [HOST_CR0, CR0_PE | CR0_PG | CR0_NE | CR0_ET],
      [HOST_CR3, PD],
      [HOST_CR4, CR4_PSE | CR4_VMXE],
      [HOST_CS_SELECTOR, 0x08],
      [HOST_SS_SELECTOR, 0x10],
      [HOST_DS_SELECTOR, 0x10],
      [HOST_ES_SELECTOR, 0x10],
      [HOST_TR_SELECTOR, 0x18],
      [HOST_RSP, STACK],
      [HOST_RIP, 0], // patched below with host_rip
      // Guest: real mode (unrestricted guest), at 0000:1000.
      [GUEST_CR0, CR0_NE | CR0_ET],
      [GUEST_CR3, 0],
      [GUEST_CR4, CR4_VMXE],
      [GUEST_DR7, 0x400],
      [GUEST_RSP, 0x8000],
      [GUEST_RIP, 0x1000],
      [GUEST_RFLAGS, 0x2],
      [GUEST_GDTR_LIMIT, 0xffff],
      [GUEST_IDTR_LIMIT, 0xffff],
      [GUEST_ACTIVITY_STATE, 0],
      [GUEST_INTERRUPTIBILITY_INFO, 0],
    ];
    for (let n = 0; n < 8; n++) {
      // ES…GS: 16-bit data (CS: code), limit 64 KiB; LDTR unusable; TR a busy TSS.
      const ar = n === 1 ? 0x9b : n === 6 ? 0x1_0000 : n === 7 ? 0x8b : 0x93;
      fields.push([GUEST_ES_LIMIT + 2 * n, 0xffff], [GUEST_ES_AR_BYTES + 2 * n, ar]);
    }
    expect(GUEST_CS_AR_BYTES).toBe(GUEST_ES_AR_BYTES + 2);
    expect(GUEST_LDTR_AR_BYTES).toBe(GUEST_ES_AR_BYTES + 12);
    expect(GUEST_TR_AR_BYTES).toBe(GUEST_ES_AR_BYTES + 14);

    // The hypervisor.
    const setup = [
      ...[0xf3, 0x0f, 0xc7, 0x35],
      ...u32(POINTERS), //     vmxon [POINTERS]
      ...[0x66, 0x0f, 0xc7, 0x35],
      ...u32(POINTERS + 8), // vmclear [POINTERS+8]
      ...[0x0f, 0xc7, 0x35],
      ...u32(POINTERS + 8), //       vmptrld [POINTERS+8]
      0xbe,
      ...u32(TABLE), //                               mov esi, TABLE
      // loop:
      0x8b,
      0x06, //                                        mov eax, [esi]
      0x83,
      0xf8,
      0xff, //                                  cmp eax, -1
      0x74,
      0x0b, //                                        je done
      0x8b,
      0x5e,
      0x04, //                                  mov ebx, [esi+4]
      0x0f,
      0x79,
      0xc3, //                                  vmwrite eax, ebx
      0x83,
      0xc6,
      0x08, //                                  add esi, 8
      0xeb,
      0xee, //                                        jmp loop
      // done:
      0x0f,
      0x01,
      0xc2, //                                  vmlaunch
      0xf4, //                                              hlt (reached only after VMfail)
    ];
    const atHostRip = [
      0xb8,
      ...u32(VM_EXIT_REASON), //                      mov eax, VM_EXIT_REASON
      0x0f,
      0x78,
      0xc3, //                                  vmread ebx, eax
      0xb8,
      ...u32(EXIT_QUALIFICATION), //                  mov eax, EXIT_QUALIFICATION
      0x0f,
      0x78,
      0xc1, //                                  vmread ecx, eax
      0xf4, //                                              hlt
    ];
    const code = [...setup, ...atHostRip];
    fields.find(([e]) => e === HOST_RIP)![1] = CODE + setup.length;
    fields.forEach(([e, v], i) => {
      dv.setUint32(TABLE + 8 * i, e, true);
      dv.setUint32(TABLE + 8 * i + 4, v >>> 0, true);
    });
    dv.setInt32(TABLE + 8 * fields.length, -1, true);
    ram.set(code, CODE);

    // L1 state: 32-bit protected mode, flat segments, paging on, CR4.VMXE.
    const flatCode = seg(0x08, 0xc09b);
    const flatData = seg(0x10, 0xc093);
    setSystemRegisters(cpu, {
      es: flatData,
      cs: flatCode,
      ss: flatData,
      ds: flatData,
      fs: flatData,
      gs: flatData,
      ldtr: seg(0, 0x1_0000, 0),
      tr: seg(0x18, 0x8b, 0x67),
      gdt: { base: 0, limit: 0xffff },
      idt: { base: 0, limit: 0xffff },
      cr0: CR0_PE | CR0_PG | CR0_NE | CR0_ET,
      cr2: 0,
      cr3: PD,
      cr4: CR4_PSE | CR4_VMXE,
      cr8: 0,
      efer: 0,
      dr: [0, 0, 0, 0, 0xffff0ff0, 0x400],
    });
    setRegisters(cpu, {
      eax: 0,
      ecx: 0,
      edx: 0,
      ebx: 0,
      esp: STACK,
      ebp: 0,
      esi: 0,
      edi: 0,
      eip: CODE,
      eflags: 0x2,
    });

    const why = cpu.run(10_000);
    expect(vt.vmx.lastEntryFailure?.message).toBeUndefined();
    expect(why).toBe(1); // EXIT_HLT: the hypervisor's HLT after host_rip
    // EBX = the exit reason VMREAD returned; ECX = the qualification (OUT imm8 to 0x42).
    expect(cpu.regs[3]).toBe(EXIT_REASON_IO_INSTRUCTION);
    expect(cpu.regs[1]! >>> 0).toBe((0x42 << 16) | 0x40);
    // Back in 32-bit protected mode at the host's CS, RFLAGS as VM exit leaves it.
    expect(cpu.segSel[1]).toBe(0x08);
    expect(cpu.st[state.EIP]).toBe(CODE + code.length);
    // The guest ran on the second core: MOV AL retired there before the OUT exited.
    expect(vt.nonRoot.instructions).toBe(1);
    expect(vt.nonRoot.cpu.regs[0]! & 0xff).toBe(0x2a);
  });
});

function u32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}
