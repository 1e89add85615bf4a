/**
 * Reader for the MOO test-vector format (SingleStepTests; format notes in
 * shared/conformance/80286/README.md): gzip, then chunks `tag[4] len[u32] payload`.
 */
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";

/** REGS bit order of the 286 set. */
export const MOO_REGS = [
  "ax",
  "bx",
  "cx",
  "dx",
  "cs",
  "ss",
  "ds",
  "es",
  "sp",
  "bp",
  "si",
  "di",
  "ip",
  "flags",
] as const;
export type MooReg = (typeof MOO_REGS)[number];

export interface MooState {
  readonly regs: Partial<Record<MooReg, number>>;
  /** [physical address, byte] pairs. */
  readonly ram: readonly (readonly [number, number])[];
}

export interface MooTest {
  readonly idx: number;
  readonly name: string;
  /** Instruction bytes, including the trailing HLT. */
  readonly bytes: readonly number[];
  readonly initial: MooState;
  readonly final: MooState;
  readonly exception: { readonly vector: number; readonly flagAddress: number } | null;
  readonly hash: string;
}

function* chunks(b: Buffer, start: number, end: number): Generator<[string, number, number]> {
  let off = start;
  while (off + 8 <= end) {
    const tag = b.toString("latin1", off, off + 4);
    const len = b.readUInt32LE(off + 4);
    yield [tag, off + 8, len];
    off += 8 + len;
  }
}

function readState(b: Buffer, start: number, len: number): MooState {
  const regs: Partial<Record<MooReg, number>> = {};
  const ram: [number, number][] = [];
  for (const [tag, o] of chunks(b, start, start + len)) {
    if (tag === "REGS") {
      const mask = b.readUInt16LE(o);
      let p = o + 2;
      for (let k = 0; k < MOO_REGS.length; k++) {
        if (mask & (1 << k)) {
          regs[MOO_REGS[k]!] = b.readUInt16LE(p);
          p += 2;
        }
      }
    } else if (tag === "RAM ") {
      const n = b.readUInt32LE(o);
      for (let k = 0; k < n; k++) ram.push([b.readUInt32LE(o + 4 + 5 * k), b[o + 8 + 5 * k]!]);
    }
  }
  return { regs, ram };
}

/** All tests of one `.MOO.gz` file, in file order. */
export function readMoo(path: string): MooTest[] {
  const b = gunzipSync(readFileSync(path));
  if (b.toString("latin1", 0, 4) !== "MOO ") throw new Error(`${path}: not a MOO file`);
  const tests: MooTest[] = [];
  for (const [tag, o, len] of chunks(b, 8 + b.readUInt32LE(4), b.length)) {
    if (tag !== "TEST") continue;
    let name = "";
    let bytes: number[] = [];
    let initial: MooState = { regs: {}, ram: [] };
    let final: MooState = { regs: {}, ram: [] };
    let exception: MooTest["exception"] = null;
    let hash = "";
    for (const [t, so, sl] of chunks(b, o + 4, o + len)) {
      if (t === "NAME") name = b.toString("latin1", so + 4, so + 4 + b.readUInt32LE(so));
      else if (t === "BYTS") bytes = [...b.subarray(so + 4, so + 4 + b.readUInt32LE(so))];
      else if (t === "INIT") initial = readState(b, so, sl);
      else if (t === "FINA") final = readState(b, so, sl);
      else if (t === "EXCP") exception = { vector: b[so]!, flagAddress: b.readUInt32LE(so + 1) };
      else if (t === "HASH") hash = b.toString("hex", so, so + sl);
    }
    tests.push({ idx: b.readUInt32LE(o), name, bytes, initial, final, exception, hash });
  }
  return tests;
}
