/*
 * A CPU-bound integer guest for the glassvm x86 interpreter benchmark: a prime sieve,
 * table-driven CRC-32, a recursive quicksort and an FNV-1a hash, ROUNDS times over data
 * from an xorshift generator. bench/cpu.bench.ts runs the same work in JavaScript and
 * checks that both produce the same checksum.
 *
 * Freestanding: no headers, no libgcc, no FPU/SSE (gcc -m32 -ffreestanding -nostdlib).
 */
typedef unsigned int u32;
typedef unsigned char u8;

#ifndef ROUNDS
#define ROUNDS 250
#endif
#define SIEVE_N 8192
#define BUF_BYTES 4096
#define SORT_N 1024

u32 bench_result;

static u8 sieve_buf[SIEVE_N];
static u32 crc_table[256];
static u8 buf[BUF_BYTES];
static u32 arr[SORT_N];

/* gcc may turn loops into calls to these. */
void *memset(void *d, int c, unsigned n) {
  u8 *p = d;
  while (n--) *p++ = (u8)c;
  return d;
}
void *memcpy(void *d, const void *s, unsigned n) {
  u8 *p = d;
  const u8 *q = s;
  while (n--) *p++ = *q++;
  return d;
}

static u32 xorshift(u32 *s) {
  u32 x = *s;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  *s = x;
  return x;
}

/* Sum of the primes below n. */
static u32 sieve(u32 n) {
  u32 sum = 0;
  for (u32 i = 0; i < n; i++) sieve_buf[i] = 1;
  for (u32 i = 2; i * i < n; i++)
    if (sieve_buf[i])
      for (u32 j = i * i; j < n; j += i) sieve_buf[j] = 0;
  for (u32 i = 2; i < n; i++)
    if (sieve_buf[i]) sum += i;
  return sum;
}

static void crc_init(void) {
  for (u32 n = 0; n < 256; n++) {
    u32 c = n;
    for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    crc_table[n] = c;
  }
}

static u32 crc32(const u8 *p, u32 len, u32 crc) {
  crc = ~crc;
  while (len--) crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

static void quicksort(u32 *a, int lo, int hi) {
  while (lo < hi) {
    u32 pivot = a[(lo + hi) >> 1];
    int i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        u32 t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    /* Recurse into the smaller side, loop on the larger. */
    if (j - lo < hi - i) {
      quicksort(a, lo, j);
      lo = i;
    } else {
      quicksort(a, i, hi);
      hi = j;
    }
  }
}

static u32 fnv1a(const u8 *p, u32 len) {
  u32 h = 2166136261u;
  for (u32 i = 0; i < len; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

u32 bench_main(void) {
  u32 seed = 0x12345678u;
  u32 acc = 0;
  crc_init();
  for (u32 round = 0; round < ROUNDS; round++) {
    for (u32 i = 0; i < BUF_BYTES; i++) buf[i] = (u8)(xorshift(&seed) >> 11);
    acc += sieve(SIEVE_N - (round & 255));
    acc = crc32(buf, BUF_BYTES, acc);
    for (u32 i = 0; i < SORT_N; i++) arr[i] = xorshift(&seed) % 100000u;
    quicksort(arr, 0, SORT_N - 1);
    for (u32 i = 0; i < SORT_N; i++) acc += arr[i] * (i + 1);
    acc = ((acc << 5) | (acc >> 27)) ^ fnv1a(buf, BUF_BYTES);
  }
  return acc;
}

static inline void outb(unsigned short port, u8 v) {
  __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

/* QEMU only: "checksum XXXXXXXX" on the debug console, then isa-debug-exit (status 1). */
void report_qemu(u32 v) {
  const char *s = "checksum ";
  while (*s) outb(0xe9, (u8)*s++);
  for (int k = 28; k >= 0; k -= 4) outb(0xe9, (u8)"0123456789abcdef"[(v >> k) & 15]);
  outb(0xe9, '\n');
  __asm__ volatile("outl %0, %1" : : "a"(0u), "Nd"((unsigned short)0xf4));
}
