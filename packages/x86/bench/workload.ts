/**
 * guests/bench.c in JavaScript, statement for statement: the baseline the benchmark
 * compares the interpreter with, and the oracle for the guest's checksum.
 */
const SIEVE_N = 8192;
const BUF_BYTES = 4096;
const SORT_N = 1024;

const sieveBuf = new Uint8Array(SIEVE_N);
const crcTable = new Uint32Array(256);
const buf = new Uint8Array(BUF_BYTES);
const arr = new Uint32Array(SORT_N);
const seed = new Uint32Array(1);

function xorshift(): number {
  let x = seed[0]!;
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  seed[0] = x;
  return x >>> 0;
}

function sieve(n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) sieveBuf[i] = 1;
  for (let i = 2; i * i < n; i++) {
    if (sieveBuf[i]) for (let j = i * i; j < n; j += i) sieveBuf[j] = 0;
  }
  for (let i = 2; i < n; i++) if (sieveBuf[i]) sum = (sum + i) >>> 0;
  return sum;
}

function crcInit(): void {
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (0xedb8_8320 ^ (c >>> 1)) >>> 0 : c >>> 1;
    crcTable[n] = c;
  }
}

function crc32(len: number, crc: number): number {
  let c = ~crc >>> 0;
  for (let p = 0; p < len; p++) c = (crcTable[(c ^ buf[p]!) & 0xff]! ^ (c >>> 8)) >>> 0;
  return ~c >>> 0;
}

function quicksort(a: Uint32Array, lo: number, hi: number): void {
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (j - lo < hi - i) {
      quicksort(a, lo, j);
      lo = i;
    } else {
      quicksort(a, i, hi);
      hi = j;
    }
  }
}

function fnv1a(len: number): number {
  let h = 2_166_136_261;
  for (let i = 0; i < len; i++) h = Math.imul(h ^ buf[i]!, 16_777_619) >>> 0;
  return h;
}

/** bench_main(): the checksum the guest returns in EAX. */
export function benchMain(rounds: number): number {
  seed[0] = 0x1234_5678;
  let acc = 0;
  crcInit();
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < BUF_BYTES; i++) buf[i] = (xorshift() >>> 11) & 0xff;
    acc = (acc + sieve(SIEVE_N - (round & 255))) >>> 0;
    acc = crc32(BUF_BYTES, acc);
    for (let i = 0; i < SORT_N; i++) arr[i] = xorshift() % 100_000;
    quicksort(arr, 0, SORT_N - 1);
    for (let i = 0; i < SORT_N; i++) acc = (acc + Math.imul(arr[i]!, i + 1)) >>> 0;
    acc = (((acc << 5) | (acc >>> 27)) ^ fnv1a(BUF_BYTES)) >>> 0;
  }
  return acc;
}
