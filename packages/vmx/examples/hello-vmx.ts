/**
 * The whole path on the modelled VT-x: a VMM process opens /dev/kvm with kvm_intel loaded,
 * creates a VM and a vCPU (vmx_vcpu_create: VPID, vmcs01, init_vmcs), and runs a real-mode
 * guest that prints "Hello, world!" on port 0xE9 one OUT at a time. Every OUT is a VM exit
 * (vmx_vcpu_run → VMRESUME on the x86 core → exit reason 30 IO_INSTRUCTION →
 * vmx_handle_exit → KVM_EXIT_IO), seen here three ways: the kvm_exit tracepoint, the
 * kvm_run page, and the VMCS fields the exit wrote — each with who wrote it.
 *
 * Run: npx tsx --conditions=@glassvm/source packages/vmx/examples/hello-vmx.ts
 */
import { HostKernel, kvmModule } from "@glassvm/kvm-kernel";
import { emptyKvmRegs, Kvm } from "@glassvm/kvm-kernel/uapi";
import { kvmIntelModule, VmcsProvenance, vmcsDiff, vmcsSnapshot } from "@glassvm/vmx";

const MSG = "Hello, world!\n";
/** At 0x1000: mov si,msg; mov cx,len; mov dx,0xe9; l: lodsb; out dx,al; loop l; hlt */
const GUEST = [
  ...[0xbe, 0x10, 0x10], // mov si, 0x1010
  ...[0xb9, MSG.length, 0x00], // mov cx, len
  ...[0xba, 0xe9, 0x00], // mov dx, 0xe9
  0xac, // lodsb
  0xee, // out dx, al
  ...[0xe2, 0xfc], // loop l
  0xf4, // hlt
  ...[0x90, 0x90], // (pad to 0x1010)
  ...new TextEncoder().encode(MSG),
];

export function main(print: (s: string) => void = console.log): string {
  // modprobe kvm_intel: setup_vmcs_config reads the capability MSRs.
  const kernel = new HostKernel();
  const intel = kvmIntelModule(kernel);
  kernel.loadModule(kvmModule(intel));
  const os = kernel.spawn("hello-vmx");

  // The VMM: /dev/kvm, a VM (VMXON on every CPU), 1 MiB of RAM, one vCPU (vmcs01).
  const kvm = Kvm.open(os);
  const vm = kvm.createVm();
  const ramAddr = os.mmap(-1, 1 << 20);
  os.view(ramAddr, 1 << 20).set(GUEST, 0x1000);
  vm.setUserMemoryRegion({
    slot: 0,
    flags: 0,
    guestPhysAddr: 0n,
    memorySize: 1n << 20n,
    userspaceAddr: BigInt(ramAddr),
  });
  const vcpu = vm.createVcpu(0);
  const sregs = vcpu.getSregs();
  vcpu.setSregs({ ...sregs, cs: { ...sregs.cs, selector: 0, base: 0n } });
  vcpu.setRegs({ ...emptyKvmRegs(), rip: 0x1000n, rsp: 0x8000n, rflags: 2n });

  // Watch: kvm_exit lines (perf trace style) and who writes the VMCS.
  const lines: string[] = [];
  kernel.trace.kvm_exit.subscribe((e) => {
    if (lines.length < 3) {
      lines.push(
        `kvm_exit: vcpu ${e.vcpu_id} reason ${e.exit_reason_name} rip 0x${e.guest_rip.toString(16)} ` +
          `info 0x${e.info1.toString(16)} 0x${e.info2.toString(16)}`,
      );
    }
  });
  const hw = intel.intel.cpus[0]!.vmx;
  const provenance = new VmcsProvenance(hw);

  let out = "";
  let exits = 0;
  for (;;) {
    const before = hw.current ? vmcsSnapshot(hw.current) : null;
    provenance.reset();
    const exit = vcpu.run();
    exits++;
    if (exit.reason === "Hlt") break;
    if (exit.reason !== "IoOut") throw new Error(`unexpected exit ${exit.reason}`);
    out += String.fromCharCode(...exit.data);
    if (exits === 1 && before && hw.current) {
      // The first KVM_RUN: what KVM_SET_REGS/SREGS, kvm_intel's VMWRITEs and the VM exit
      // changed in vmcs01, and who wrote each field last.
      print("VMCS fields changed by the first KVM_RUN (to the first OUT exit):");
      for (const c of vmcsDiff(before, vmcsSnapshot(hw.current), provenance)) {
        print(`  ${c.name.padEnd(24)} 0x${c.after.toString(16).padEnd(10)} (${c.by ?? "?"})`);
      }
    }
  }
  for (const l of lines) print(l);
  print(`guest wrote: ${JSON.stringify(out)} in ${exits} KVM_RUNs`);
  vm.close();
  kvm.close();
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) main();
