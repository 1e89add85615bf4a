/**
 * AMD-V by hand, the way kvm_amd drives it but without KVM: enable SVM on a host CPU
 * (EFER.SVME, VM_HSAVE_PA), build nested page tables over 64 KiB of guest RAM, fill a
 * VMCB for a real-mode guest that prints through port 0xE9, and VMRUN until it halts.
 *
 *   npx tsx --conditions=@glassvm/source packages/svm/examples/vmrun.ts
 */
import { HostKernel } from "@glassvm/kvm-kernel";
import {
  EFER_SVME,
  HostCpu,
  INTERCEPT_HLT,
  INTERCEPT_IOIO_PROT,
  INTERCEPT_VMRUN,
  MSR_EFER,
  MSR_VM_HSAVE_PA,
  SVM_EXIT_HLT,
  SVM_EXIT_IOIO,
  SVM_NESTED_CTL_NP_ENABLE,
  svmExitName,
  VMCB_ASID,
  VMCB_CR0,
  VMCB_CS,
  VMCB_DS,
  VMCB_EFER,
  VMCB_EXIT_INFO_1,
  VMCB_EXIT_INFO_2,
  VMCB_IOPM_BASE_PA,
  VMCB_MISC_CTL,
  VMCB_MSRPM_BASE_PA,
  VMCB_NESTED_CR3,
  VMCB_RAX,
  VMCB_RFLAGS,
  VMCB_RIP,
  VMCB_SS,
  Vmcb,
} from "@glassvm/svm";

const kernel = new HostKernel();
const cpu = new HostCpu(kernel);
// svm_hardware_enable: EFER.SVME, then the per-CPU host save area.
cpu.wrmsr(MSR_EFER, BigInt(cpu.efer() | EFER_SVME));
cpu.wrmsr(MSR_VM_HSAVE_PA, BigInt(kernel.allocPage().pa));

// Guest RAM from a VMM process, and nested tables mapping it at GPA 0 (P | RW | US).
const proc = kernel.spawn("vmrun-example");
const ram = proc.view(proc.mmap(-1, 0x1_0000), 0x1_0000);
const pfn = kernel.gupPages(ram);
const [pml4, pdpt, pd, pt] = [0, 1, 2, 3].map(() => kernel.allocPage());
const entry = (page: { bytes: Uint8Array }, i: number, pa: number) =>
  new DataView(page.bytes.buffer, page.bytes.byteOffset).setBigUint64(8 * i, BigInt(pa + 7), true);
entry(pml4!, 0, pdpt!.pa);
entry(pdpt!, 0, pd!.pa);
entry(pd!, 0, pt!.pa);
for (let i = 0; i < 16; i++) entry(pt!, i, (pfn + i) * 4096);

// mov si, msg; next: lodsb; test al, al; jz done; out 0xe9, al; jmp next; done: hlt
const msg = "Hello from an SVM guest!\n";
ram.set([0xbe, 0x20, 0x10, 0xac, 0x84, 0xc0, 0x74, 0x04, 0xe6, 0xe9, 0xeb, 0xf7, 0xf4], 0x1000);
ram.set(new TextEncoder().encode(`${msg}\0`), 0x1020);

// The VMCB: intercepts, ASID, permission maps, nested paging, real-mode state at 0:1000.
const page = kernel.allocPage();
const v = new Vmcb(page.pa, page.bytes);
const iopm = kernel.allocPage().pa;
kernel.allocPage();
kernel.allocPage();
kernel.physBytes(iopm + (0xe9 >>> 3), 1)![0] = 1 << (0xe9 & 7);
v.setIntercept(INTERCEPT_VMRUN);
v.setIntercept(INTERCEPT_IOIO_PROT);
v.setIntercept(INTERCEPT_HLT);
v.write32(VMCB_ASID, 1);
v.write64(VMCB_IOPM_BASE_PA, BigInt(iopm));
v.write64(VMCB_MSRPM_BASE_PA, BigInt(kernel.allocPage().pa));
v.write64(VMCB_MISC_CTL, BigInt(SVM_NESTED_CTL_NP_ENABLE));
v.write64(VMCB_NESTED_CR3, BigInt(pml4!.pa));
v.setSegment(VMCB_CS, { selector: 0, attrib: 0x9b, limit: 0xffff, base: 0n });
v.setSegment(VMCB_DS, { selector: 0, attrib: 0x93, limit: 0xffff, base: 0n });
v.setSegment(VMCB_SS, { selector: 0, attrib: 0x93, limit: 0xffff, base: 0n });
v.write64(VMCB_EFER, BigInt(EFER_SVME));
v.write64(VMCB_CR0, 0x10n);
v.write64(VMCB_RFLAGS, 0x2n);
v.write64(VMCB_RIP, 0x1000n);

let out = "";
let exits = 0;
for (;;) {
  cpu.svm.vmrun(cpu, v.pa);
  exits++;
  const code = v.exitCode();
  if (exits <= 2 || code !== SVM_EXIT_IOIO) {
    const info1 = v.read64(VMCB_EXIT_INFO_1).toString(16);
    const info2 = v.read64(VMCB_EXIT_INFO_2).toString(16);
    console.log(
      `#VMEXIT ${svmExitName(code)} rip 0x${v.read64(VMCB_RIP).toString(16)} info1 0x${info1} info2 0x${info2}`,
    );
  }
  if (code === SVM_EXIT_IOIO) {
    out += String.fromCharCode(Number(v.read64(VMCB_RAX) & 0xffn)); // OUT: AL
    v.write64(VMCB_RIP, v.read64(VMCB_EXIT_INFO_2)); // next RIP
    continue;
  }
  if (code === SVM_EXIT_HLT) break;
  throw new Error(`unexpected exit ${svmExitName(code)}`);
}
console.log(`guest wrote: ${JSON.stringify(out)} in ${exits} VMRUNs`);
