/**
 * `-d vmcs`: after each VM exit, the VMCS (kvm_intel) or VMCB (kvm_amd) fields that changed
 * since the exit before, with their writer — hello-real on both backends.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { glassvmMain } from "../src/index.js";
import { testIo, withoutWarnings } from "./firmware.js";

const HELLO = new Uint8Array(
  readFileSync(new URL("../../../guests/bin/hello-real.bin", import.meta.url)),
);

function run(hostCpu: "intel" | "amd"): { blocks: string[][]; out: string; status: number } {
  const t = testIo({ "hello-real.bin": HELLO });
  const status = glassvmMain(
    [
      "glassvm",
      "-host-cpu",
      hostCpu,
      "-d",
      "vmcs",
      "-bios",
      "hello-real.bin",
      "-debugcon",
      "stdio",
      "-device",
      "isa-debug-exit,iobase=0xf4,iosize=0x04",
    ],
    t.io,
  );
  const blocks: string[][] = [];
  for (const line of withoutWarnings(t.err()).split("\n")) {
    if (line.startsWith("CPU ")) blocks.push([line]);
    else if (line) blocks.at(-1)?.push(line);
  }
  return { blocks, out: t.out(), status };
}

describe("glassvm -d vmcs", () => {
  it("kvm_intel: one block per VM exit; the first shows what the VM exit stored", () => {
    const { blocks, out, status } = run("intel");
    expect(out).toBe("Hello, world!\n");
    expect(status).toBe(1);
    // One OUT per character, then the OUT to isa-debug-exit.
    expect(blocks.length).toBe(15);
    const [head, ...fields] = blocks[0]!;
    expect(head).toMatch(
      /^CPU 0\/KVM: VMCS 0x[0-9a-f]+ after IO_INSTRUCTION \(30\) at rip 0x[0-9a-f]+: \d+ fields changed$/,
    );
    const field = (name: string) => fields.find((l) => l.trimStart().startsWith(`${name} `));
    expect(field("VM_EXIT_REASON")).toMatch(/0x0 → 0x1e +processor \(VM exit\)$/);
    expect(field("EXIT_QUALIFICATION")).toMatch(/→ 0xe90000 +processor \(VM exit\)$/);
    expect(field("GUEST_RIP")).toMatch(/0xfff0 → 0x[0-9a-f]+ +processor \(VM exit\)$/);
    expect(blocks.at(-1)!.join("\n")).toMatch(/EXIT_QUALIFICATION +0xe90000 → 0xf40040/);
  });

  it("kvm_amd: the VMCB's exit code, EXITINFO1/2 and nRIP from #VMEXIT, the ASID from kvm_amd", () => {
    const { blocks, out } = run("amd");
    expect(out).toBe("Hello, world!\n");
    expect(blocks.length).toBe(15);
    const [head, ...fields] = blocks[0]!;
    expect(head).toMatch(/^CPU 0\/KVM: VMCB 0x[0-9a-f]+ after io \(0x07b\) at rip 0x[0-9a-f]+: /);
    const field = (name: string) => fields.find((l) => l.trimStart().startsWith(`${name} `));
    expect(field("exit_code")).toMatch(/0x0 → 0x7b +processor \(#VMEXIT\)$/);
    expect(field("exit_info_1")).toMatch(/→ 0xe90090 +processor \(#VMEXIT\)$/);
    expect(field("next_rip")).toMatch(/processor \(#VMEXIT\)$/);
    expect(field("asid")).toMatch(/0x0 → 0x1 +kvm_amd$/);
    // RAX lives in the VMCB (not in the VMCS): each character's byte shows up there.
    expect(field("rax")).toMatch(/→ 0x48 +processor \(#VMEXIT\)$/);
  });
});
