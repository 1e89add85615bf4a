/**
 * The seed's command line (SandyBridge flags, -smp 2) on an AMD host: `-host-cpu amd`
 * boots hello-long on kvm_amd with two vCPUs, and `-d path` shows kvm_amd's functions
 * where the Intel run shows kvm_intel's.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { seedArgv } from "../examples/seed.js";
import { glassvmMain } from "../src/index.js";
import { testIo, withoutWarnings } from "./firmware.js";

const HELLO_LONG = new URL("../../../guests/bin/hello-long.bin", import.meta.url);

describe("the seed's command line on hello-long, -host-cpu amd", () => {
  const t = testIo({ "hello-long.bin": new Uint8Array(readFileSync(HELLO_LONG)) });
  const status = glassvmMain(seedArgv("hello-long.bin", ["-host-cpu", "amd", "-d", "path"]), t.io);

  it("boots hello-long to isa-debug-exit on kvm_amd", () => {
    expect(status).toBe(1);
    expect(t.out()).toBe("Hello, world!\n");
  });

  it("-d path: KVM_CREATE_VM enables SVM, KVM_CREATE_VCPU creates a VMCB, per vCPU", () => {
    const tree = withoutWarnings(t.err());
    expect(tree).toMatch(
      /└─ svmHardwareEnableAll +svm +src\/main\.ts\n.*└─ svmHardwareEnable +svm +src\/svm\.ts\n/,
    );
    expect(tree.match(/└─ svmVcpuCreate +svm +src\/svm\.ts/g)?.length).toBe(2);
    expect(tree).not.toMatch(/vmx/);
  });
});
