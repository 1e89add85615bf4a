/**
 * Prints the SingleStepTests 80286 pass count per opcode file:
 *   npm run conformance -w @glassvm/x86
 */
import { loadContext, newBench, runVectorFile, vectorFiles } from "./conformance-80286.js";

const ctx = loadContext();
const bench = newBench();
const rows: string[] = [];
let pass = 0;
let fail = 0;
let skip = 0;
for (const file of vectorFiles()) {
  const r = runVectorFile(file, ctx.revoked, ctx.meta, bench);
  pass += r.pass;
  fail += r.fail;
  skip += r.skip;
  rows.push(
    `${file.replace(".MOO.gz", "").padEnd(6)} ${r.mnemonic.padEnd(8)} ${String(r.pass).padStart(4)} pass ${String(r.fail).padStart(4)} fail ${String(r.skip).padStart(4)} skipped`,
  );
  for (const f of r.failures) rows.push(`         ${f}`);
}
console.log(rows.join("\n"));
console.log(
  `total: ${pass} pass, ${fail} fail, ${skip} skipped (286-only behaviour) in ${vectorFiles().length} files`,
);
process.exitCode = fail === 0 ? 0 : 1;
