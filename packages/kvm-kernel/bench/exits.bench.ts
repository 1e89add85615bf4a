/**
 * What an exit costs in the kernel model, with the scripted toy vendor as the hardware:
 *  - userspace exits: a guest looping on OUT, each one a KVM_RUN round trip
 *    (ioctl → vcpu_run → vendor run → handle_exit → kvm_run → back, and the OUT
 *    completed on the next KVM_RUN);
 *  - in-kernel exits: a guest looping on CPUID, answered inside one KVM_RUN;
 *  - the baseline, measured in the same run: the same guest loop with NOPs, no exits.
 * Numbers are ratios against that baseline; these machines are noisy.
 *
 * Run: npx tsx --conditions=@glassvm/source packages/kvm-kernel/bench/exits.bench.ts
 */
import { KVM_EXIT_HLT, KVM_EXIT_IO, KVM_RUN } from "../src/uapi/index.js";
import { guest, le32 } from "../test/setup.js";

const N = 200_000;

/** mov esi,N; l: <body>; dec esi; jnz l; hlt (ESI: CPUID leaves it alone) */
const loop = (body: number[]) => [
  0xbe,
  ...le32(N),
  ...body,
  0x4e,
  0x75,
  -(body.length + 3) & 0xff,
  0xf4,
];

function time(body: number[]): { ms: number; runs: number } {
  const g = guest(loop(body));
  const t0 = performance.now();
  let runs = 0;
  for (;;) {
    runs++;
    if (g.proc.ioctl(g.vcpu, KVM_RUN, 0) !== 0) throw new Error("KVM_RUN failed");
    if (g.run.exitReason === KVM_EXIT_HLT) break;
    if (g.run.exitReason !== KVM_EXIT_IO) throw new Error(`exit ${g.run.exitReason}`);
  }
  return { ms: performance.now() - t0, runs };
}

for (let round = 0; round < 2; round++) {
  const base = time([0x90]);
  const cpuid = time([0x0f, 0xa2]);
  const out = time([0xe6, 0x80]);
  const perExit = (r: { ms: number }) => ((r.ms - base.ms) * 1000) / N;
  console.log(
    `round ${round}: baseline ${base.ms.toFixed(1)} ms for ${N} iterations; ` +
      `in-kernel CPUID exit ${perExit(cpuid).toFixed(2)} µs (${(cpuid.ms / base.ms).toFixed(1)}× baseline), ` +
      `userspace OUT round trip ${perExit(out).toFixed(2)} µs (${(out.ms / base.ms).toFixed(1)}× baseline, ${out.runs} KVM_RUNs)`,
  );
}
