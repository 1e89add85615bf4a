import { expect, it } from "vitest";
import { runExample } from "./x86-cpu.js";

it("the README example realizes a SandyBridge CPU at /machine/unattached/device[0]", () => {
  const lines: string[] = [];
  runExample((line) => lines.push(line));
  expect(lines.slice(0, 4)).toEqual([
    "x86_cpu_realizefn: model SandyBridge, apic-id 0",
    "cpu_common_realizefn: 0",
    'qom-get /machine/unattached/device[0] type → {"return":"SandyBridge-x86_64-cpu"}',
    'qom-get /machine/unattached/device[0] realized → {"return":true}',
  ]);
  expect(lines[4]).toContain('{"name":"apic-id","type":"uint32"}');
});
