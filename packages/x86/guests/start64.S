/*
 * Entry points of the 64-bit CPU benchmark guest (bench.c built with gcc -m64). The image
 * is linked at 1 MiB (link64.ld) and entered like the 32-bit one, in 32-bit protected
 * mode with flat segments, interrupts and paging off; the code here then enters IA-32e
 * mode as a boot loader does (SDM Vol. 3 §9.8.5): GDT with a 64-bit code segment,
 * CR3 = PML4 identity-mapping the first MAP_MIB MiB with 2 MiB pages, CR4.PAE,
 * EFER.LME (WRMSR), CR0.PG, then a far jump into 64-bit code.
 *   image + 0x00  multiboot header with the address fields (flags bit 16): QEMU's
 *                 multiboot loader refuses ELF64 files, so it gets the flat image
 *   image + 0x20  glassvm_entry: the glassvm harness starts here; ends in HLT (64-bit
 *                 mode) with the checksum in EAX and in bench_result
 *   _start        the multiboot entry (entry_addr): prints the checksum on the debug
 *                 console (port 0xE9) and leaves QEMU through isa-debug-exit (port 0xF4)
 */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0x00010000       /* bit 16: load by the address fields below */
        .set MAP_MIB, 8                 /* identity-mapped with 2 MiB pages */
        .set SEL_CODE64, 0x08
        .set SEL_DATA, 0x10
        .set CR0_PG, 1 << 31
        .set CR4_PAE, 1 << 5
        .set MSR_EFER, 0xC0000080
        .set EFER_LME, 1 << 8
        .set PTE_P_RW, 0x03
        .set PDE_PS, 0x80

        .section .multiboot, "a"
        .align 4
mb_header:
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)    /* checksum */
        .long mb_header                 /* header_addr */
        .long mb_header                 /* load_addr: the image starts with the header */
        .long __load_end                /* load_end_addr: end of .data */
        .long __bss_end                 /* bss_end_addr: the loader zeroes up to here */
        .long _start                    /* entry_addr */

        .section .text.entry, "ax"
        .code32
        .globl glassvm_entry
glassvm_entry:
        movl $glassvm_done, %ebx
        jmp enter_long_mode

        .globl _start
_start:
        cli
        movl $qemu_done, %ebx
        /* fall through */

/* 32-bit protected mode, paging off. %ebx: where 64-bit code goes on after bench_main. */
enter_long_mode:
        lgdt gdt_desc
        movl $SEL_DATA, %eax            /* data segments from our GDT, in 32-bit mode */
        movl %eax, %ds
        movl %eax, %es
        movl %eax, %fs
        movl %eax, %gs
        movl %eax, %ss

        /* PML4[0] → PDPT, PDPT[0] → PD, PD[i] → 2 MiB page i (identity). */
        movl $pdpt + PTE_P_RW, pml4
        movl $pd + PTE_P_RW, pdpt
        xorl %ecx, %ecx
1:      movl %ecx, %eax
        shll $21, %eax
        orl $PDE_PS + PTE_P_RW, %eax
        movl %eax, pd(, %ecx, 8)
        incl %ecx
        cmpl $MAP_MIB / 2, %ecx
        jb 1b

        movl $pml4, %eax
        movl %eax, %cr3
        movl %cr4, %eax
        orl $CR4_PAE, %eax
        movl %eax, %cr4
        movl $MSR_EFER, %ecx
        rdmsr
        orl $EFER_LME, %eax
        wrmsr
        movl %cr0, %eax
        orl $CR0_PG, %eax
        movl %eax, %cr0                 /* EFER.LMA = 1: compatibility mode */
        ljmp $SEL_CODE64, $long64

        .code64
long64:
        leaq stack_top(%rip), %rsp
        call bench_main
        movl %eax, bench_result(%rip)
        jmp *%rbx

glassvm_done:
1:      hlt
        jmp 1b

qemu_done:
        movl %eax, %edi
        call report_qemu
2:      hlt
        jmp 2b

        .section .rodata
        .align 8
gdt:
        .quad 0
        .quad 0x00AF9A000000FFFF        /* 0x08: 64-bit code (L=1, D=0), ring 0 */
        .quad 0x00CF92000000FFFF        /* 0x10: flat 4 GiB data, read/write */
gdt_end:
        .align 4
        .word 0                         /* so that the base below is 4-byte aligned */
gdt_desc:
        .word gdt_end - gdt - 1
        .long gdt

        .section .bss
        .align 4096
pml4:   .space 4096
pdpt:   .space 4096
pd:     .space 4096
        .align 16
        .space 65536
stack_top:

        .section .note.GNU-stack, "", @progbits
