/*
 * The host CPU as an oracle: runs x86-64 machine-code snippets natively, one per input
 * line, and prints the registers and flags they leave (or the fault they raise).
 *
 *   gcc -O2 -o native native.c
 *   ./native < cases.txt > results.txt
 *   ./native -i          prints "lahf_lm 0|1" (LAHF/SAHF valid in 64-bit mode)
 *
 * Input, one case per line, every number in hex without 0x, fields separated by one space:
 *
 *   <rflags> <r0> <r1> ... <r15> <code>
 *
 * r0..r15 are RAX RCX RDX RBX RSP RBP RSI RDI R8..R15 (the ModRM numbering). The RSP
 * value is ignored: the snippet runs on this process's stack and must not touch RSP.
 * Only the arithmetic flags (CF PF AF ZF SF OF) of <rflags> are loaded; IF is set, the
 * rest clear. <code> is the snippet's bytes, two hex digits each (may be empty). The
 * snippet must fall through its end: no branches, no stack, no memory outside its own
 * registers.
 *
 * Output, one line per case, in input order:
 *
 *   R <rflags> <r0> ... <r15>                         the snippet ran to its end
 *   F <signal> <offset> <rflags> <r0> ... <r15>       it faulted
 *
 * R gives the state after the last instruction; F the signal number (decimal: SIGFPE 8
 * for #DE, SIGILL 4 for #UD, SIGSEGV 11, SIGBUS 7, SIGTRAP 5), the offset of the faulting
 * instruction in <code> (hex), and the state at the fault from the signal frame. r4 is
 * printed as 0 in both. A fault anywhere but in the snippet aborts the program.
 *
 * How a snippet runs: it is copied to the start of an RWX page and followed by a 14-byte
 * absolute jump to case_exit. run_case (below, assembly) saves the callee-saved
 * registers, loads RFLAGS and the fifteen registers from struct state and "returns" into
 * the page; case_exit stores them all back (PUSHFQ first) and returns to C. A fault
 * arrives as a signal: the handler copies the state out of the ucontext and
 * siglongjmp()s back into the loop, which restores the callee-saved registers and the
 * signal mask, and goes on with the next case.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#define NREGS 16
#define MAX_CODE 1024
#define PAGE_BYTES 4096

/* Offsets below are used by the assembly: r[n] at 8n, rflags at 128, entry at 136. */
struct state {
  uint64_t r[NREGS];
  uint64_t rflags;
  uint64_t entry;
};

void run_case(struct state *s);
void case_exit(void);

__asm__(
    ".text\n"
    ".globl run_case\n"
    ".type run_case,@function\n"
    "run_case:\n"
    "  push %rbx\n"
    "  push %rbp\n"
    "  push %r12\n"
    "  push %r13\n"
    "  push %r14\n"
    "  push %r15\n"
    "  push %rdi\n"           /* the state pointer, for case_exit */
    "  pushq 136(%rdi)\n"     /* the snippet's address: the RET below goes there */
    "  pushq 128(%rdi)\n"
    "  popfq\n"               /* flags first: the MOVs below leave them alone */
    "  mov 0(%rdi), %rax\n"
    "  mov 8(%rdi), %rcx\n"
    "  mov 16(%rdi), %rdx\n"
    "  mov 24(%rdi), %rbx\n"
    "  mov 40(%rdi), %rbp\n"
    "  mov 48(%rdi), %rsi\n"
    "  mov 64(%rdi), %r8\n"
    "  mov 72(%rdi), %r9\n"
    "  mov 80(%rdi), %r10\n"
    "  mov 88(%rdi), %r11\n"
    "  mov 96(%rdi), %r12\n"
    "  mov 104(%rdi), %r13\n"
    "  mov 112(%rdi), %r14\n"
    "  mov 120(%rdi), %r15\n"
    "  mov 56(%rdi), %rdi\n"
    "  ret\n"
    ".size run_case, .-run_case\n"
    ".globl case_exit\n"
    ".type case_exit,@function\n"
    "case_exit:\n"
    "  pushfq\n"               /* [rsp] = flags, [rsp+8] = state pointer */
    "  xchg %rax, 8(%rsp)\n"   /* rax = state pointer, [rsp+8] = the snippet's rax */
    "  mov %rcx, 8(%rax)\n"
    "  mov %rdx, 16(%rax)\n"
    "  mov %rbx, 24(%rax)\n"
    "  mov %rbp, 40(%rax)\n"
    "  mov %rsi, 48(%rax)\n"
    "  mov %rdi, 56(%rax)\n"
    "  mov %r8, 64(%rax)\n"
    "  mov %r9, 72(%rax)\n"
    "  mov %r10, 80(%rax)\n"
    "  mov %r11, 88(%rax)\n"
    "  mov %r12, 96(%rax)\n"
    "  mov %r13, 104(%rax)\n"
    "  mov %r14, 112(%rax)\n"
    "  mov %r15, 120(%rax)\n"
    "  pop %rcx\n"
    "  mov %rcx, 128(%rax)\n"
    "  pop %rcx\n"
    "  mov %rcx, 0(%rax)\n"
    "  pop %r15\n"
    "  pop %r14\n"
    "  pop %r13\n"
    "  pop %r12\n"
    "  pop %rbp\n"
    "  pop %rbx\n"
    "  ret\n"
    ".size case_exit, .-case_exit\n");

/* RFLAGS bits a case may set: CF PF AF ZF SF OF. IF (0x200) and bit 1 are always set. */
#define ARITH_FLAGS 0x8d5ull
#define BASE_FLAGS 0x202ull

static uint8_t *page;
static sigjmp_buf fault_jmp;
static volatile sig_atomic_t in_case;
static struct state fault_state;
static int fault_signal;
static uint64_t fault_rip;

/* ucontext general registers in ModRM order (REG_RSP is not reported). */
static const int GREG_OF[NREGS] = {
    REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
    REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15,
};

static void on_fault(int sig, siginfo_t *info, void *ctx) {
  (void)info;
  ucontext_t *uc = ctx;
  greg_t *g = uc->uc_mcontext.gregs;
  uint64_t rip = (uint64_t)g[REG_RIP];
  if (!in_case || rip < (uint64_t)page || rip >= (uint64_t)page + PAGE_BYTES) {
    static const char msg[] = "native: fault outside the snippet\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(3);
  }
  for (int n = 0; n < NREGS; n++) fault_state.r[n] = (uint64_t)g[GREG_OF[n]];
  fault_state.r[4] = 0;
  fault_state.rflags = (uint64_t)g[REG_EFL];
  fault_signal = sig;
  fault_rip = rip;
  siglongjmp(fault_jmp, 1);
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Parse one hex number at *p (stops at a space or the end); advance past one space. */
static int parse_u64(char **p, uint64_t *out) {
  uint64_t v = 0;
  int digits = 0;
  char *s = *p;
  for (int d; (d = hexval(*s)) >= 0; s++, digits++) v = (v << 4) | (uint64_t)d;
  if (digits == 0 || digits > 16) return -1;
  if (*s == ' ') s++;
  *p = s;
  *out = v;
  return 0;
}

static void print_state(const struct state *s) {
  printf("%llx", (unsigned long long)s->rflags);
  for (int n = 0; n < NREGS; n++) printf(" %llx", (unsigned long long)(n == 4 ? 0 : s->r[n]));
  putchar('\n');
}

static int lahf_lm(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(0x80000001u, &a, &b, &c, &d)) return 0;
  return c & 1;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "-i") == 0) {
    printf("lahf_lm %d\n", lahf_lm());
    return 0;
  }
  page = mmap(NULL, PAGE_BYTES, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
              -1, 0);
  if (page == MAP_FAILED) {
    perror("native: mmap RWX");
    return 2;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  const int sigs[] = {SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGTRAP};
  for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++) sigaction(sigs[k], &sa, NULL);

  static char outbuf[1 << 20];
  setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);

  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  unsigned long lineno = 0;
  while ((len = getline(&line, &cap, stdin)) > 0) {
    lineno++;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
    if (len == 0) continue;
    static struct state s;
    char *p = line;
    int bad = parse_u64(&p, &s.rflags);
    for (int n = 0; n < NREGS && !bad; n++) bad = parse_u64(&p, &s.r[n]);
    size_t ncode = 0;
    static uint8_t code[MAX_CODE];
    while (!bad && *p) {
      int hi = hexval(p[0]);
      int lo = hi < 0 ? -1 : hexval(p[1]);
      if (lo < 0 || ncode == MAX_CODE) bad = 1;
      else code[ncode++] = (uint8_t)(hi << 4 | lo);
      p += 2;
    }
    if (bad) {
      fprintf(stderr, "native: bad input on line %lu\n", lineno);
      return 2;
    }
    s.rflags = (s.rflags & ARITH_FLAGS) | BASE_FLAGS;
    memcpy(page, code, ncode);
    /* jmp *0(%rip); .quad case_exit */
    static const uint8_t jmp_abs[6] = {0xff, 0x25, 0, 0, 0, 0};
    uint64_t target = (uint64_t)&case_exit;
    memcpy(page + ncode, jmp_abs, sizeof jmp_abs);
    memcpy(page + ncode + sizeof jmp_abs, &target, sizeof target);
    s.entry = (uint64_t)page;
    if (sigsetjmp(fault_jmp, 1) == 0) {
      in_case = 1;
      run_case(&s);
      in_case = 0;
      putchar('R');
      putchar(' ');
      print_state(&s);
    } else {
      in_case = 0;
      printf("F %d %llx ", fault_signal, (unsigned long long)(fault_rip - (uint64_t)page));
      print_state(&fault_state);
    }
  }
  free(line);
  fflush(stdout);
  return ferror(stdout) ? 1 : 0;
}
