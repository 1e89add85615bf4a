/**
 * What a VM exit costs on the modelled VT-x, measured against the same guest work on the
 * bare x86 core in the same run (these machines are noisy; ratios travel, times do not):
 *  - baseline: the x86 core alone runs `out 0x80, al` in a loop, the port a plain device;
 *  - hardware round trip: the same loop as a VMX guest with unconditional I/O exiting —
 *    every OUT is a VM exit (guest state and exit information stored), the VMM's part
 *    reduced to VMREAD + skip + VMRESUME (guest state loaded, EPT map cached);
 *  - through KVM: a userspace VMM's KVM_RUN for each OUT (ioctl → vcpu_run →
 *    vmx_vcpu_run → vmx_handle_exit → KVM_EXIT_IO → back), with kvm_intel as the vendor.
 *
 * Run: npm run bench -w @glassvm/vmx
 */
import { HostKernel } from "@glassvm/kvm-kernel";
import { KVM_EXIT_HLT, KVM_EXIT_IO, KVM_RUN } from "@glassvm/kvm-kernel/uapi";
import { PhysMemory, state, X86Cpu } from "@glassvm/x86";
import {
  EXIT_REASON_IO_INSTRUCTION,
  GUEST_CS_BASE,
  GUEST_CS_SELECTOR,
  GUEST_RIP,
  VM_EXIT_INSTRUCTION_LEN,
  VM_EXIT_REASON,
  VMX_VMEXIT,
} from "../src/index.js";
import { EptMmu } from "../src/mmu/ept.js";
import { KvmIntel, vmxCreateVcpuVmx, vmxLoadMmuPgd, vmxVcpuReset } from "../src/vmx.js";
import { vmcsRead32, vmcsReadl, vmcsWrite16, vmcsWritel } from "../src/vmx_ops.js";
import { createGuest, le32, realMode } from "../test/guests.js";

const N = 100_000;
/** At 0x1000: mov al,1; l: out 0x80,al; jmp l */
const LOOP = [0xb0, 0x01, 0xe6, 0x80, 0xeb, 0xfc];

function bare(): number {
  const mem = new PhysMemory();
  mem.addRam(0, new Uint8Array(1 << 20));
  mem.load(0x1000, LOOP);
  let outs = 0;
  mem.devices = {
    ioRead: () => 0,
    ioWrite: () => {
      outs++;
    },
    mmioRead: () => 0,
    mmioWrite: () => {},
  };
  const cpu = new X86Cpu(mem);
  // Real mode at 0000:1000.
  cpu.segSel[1] = 0;
  cpu.segBase[1] = 0;
  cpu.st[state.EIP] = 0x1000;
  const t0 = performance.now();
  while (outs < N) cpu.run(N * 2);
  return performance.now() - t0;
}

function hardware(): number {
  const kernel = new HostKernel();
  const kvm = new KvmIntel(kernel);
  kvm.vmxHardwareSetup();
  const cpu = kvm.cpus[0]!;
  kvm.vmxHardwareEnable(cpu);
  const vmx = vmxCreateVcpuVmx(kvm, cpu);
  vmxVcpuReset(vmx);
  const proc = kernel.spawn();
  const ram = proc.view(proc.mmap(-1, 1 << 20), 1 << 20);
  ram.set(LOOP, 0x1000);
  vmxLoadMmuPgd(
    vmx,
    new EptMmu(kernel).build([{ baseGfn: 0, npages: 256, bytes: ram, readonly: false }]),
    0n,
  );
  vmcsWrite16(cpu, GUEST_CS_SELECTOR, 0);
  vmcsWritel(cpu, GUEST_CS_BASE, 0n);
  vmcsWritel(cpu, GUEST_RIP, 0x1000n);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const r = i === 0 ? cpu.vmx.vmlaunch(cpu) : cpu.vmx.vmresume(cpu);
    if (r !== VMX_VMEXIT || vmcsRead32(cpu, VM_EXIT_REASON) !== EXIT_REASON_IO_INSTRUCTION) {
      throw new Error(`unexpected outcome ${r}`);
    }
    const rip = vmcsReadl(cpu, GUEST_RIP);
    vmcsWritel(cpu, GUEST_RIP, rip + BigInt(vmcsRead32(cpu, VM_EXIT_INSTRUCTION_LEN)));
  }
  return performance.now() - t0;
}

/** Through KVM: KVM_RUN until `n` KVM_EXIT_IO exits (or one HLT), from real mode at 0x1000. */
function throughKvm(code: number[], userspaceExits: number): { ms: number; runs: number } {
  const g = createGuest();
  g.ram.set(code, 0x1000);
  realMode(g);
  const run = g.vcpu.kvmRun;
  const t0 = performance.now();
  let runs = 0;
  for (;;) {
    runs++;
    // KVM_RUN itself, as a VMM issues it (no decoding of the exit beyond the reason).
    if (g.os.ioctl(g.vcpu.fd, KVM_RUN, 0) !== 0) throw new Error("KVM_RUN failed");
    if (run.exitReason === KVM_EXIT_HLT) break;
    if (run.exitReason !== KVM_EXIT_IO) throw new Error(`exit ${run.exitReason}`);
    if (runs === userspaceExits) break;
  }
  return { ms: performance.now() - t0, runs };
}

/** mov esi,N; l: <body>; dec esi; jnz l; hlt — 32-bit operands in real mode via 66h. */
const counted = (body: number[]) => [
  0x66,
  0xbe,
  ...le32(N),
  ...body,
  0x66,
  0x4e,
  0x75,
  -(body.length + 4) & 0xff,
  0xf4,
];

for (let round = 0; round < 2; round++) {
  const base = bare();
  const hw = hardware();
  const nop = throughKvm(counted([0x90]), N + 1);
  const cpuid = throughKvm(counted([0x0f, 0xa2]), N + 1);
  const out = throughKvm(LOOP, N);
  const us = (ms: number) => ((ms * 1000) / N).toFixed(2);
  console.log(
    `round ${round}: bare core ${us(base)} µs per OUT; VMX exit + VMRESUME ${us(hw)} µs ` +
      `(${(hw / base).toFixed(1)}× bare); through kvm_intel: in-kernel CPUID exit ` +
      `${us(cpuid.ms - nop.ms)} µs, userspace OUT round trip ${us(out.ms)} µs ` +
      `(${(out.ms / base).toFixed(1)}× bare, ${out.runs} KVM_RUNs)`,
  );
}
