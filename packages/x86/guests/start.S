/*
 * Entry points of the CPU benchmark guest (bench.c). The image is linked at 1 MiB and
 * entered in 32-bit protected mode with flat segments and interrupts off:
 *   image + 0x00  multiboot header (QEMU -kernel reads it from the ELF)
 *   image + 0x10  glassvm_entry: the glassvm harness starts here; ends in HLT with the
 *                 checksum in EAX and in bench_result
 *   _start        the multiboot entry (ELF e_entry): prints the checksum on the debug
 *                 console (port 0xE9) and leaves QEMU through isa-debug-exit (port 0xF4)
 */
        .section .multiboot, "a"
        .align 4
        .long 0x1BADB002                /* magic */
        .long 0                         /* flags: load by the ELF headers */
        .long -0x1BADB002               /* checksum */
        .long 0

        .section .text.entry, "ax"
        .globl glassvm_entry
glassvm_entry:
        movl $stack_top, %esp
        call bench_main
        movl %eax, bench_result
1:      hlt
        jmp 1b

        .globl _start
_start:
        cli
        movl $stack_top, %esp
        call bench_main
        movl %eax, bench_result
        pushl %eax
        call report_qemu
2:      hlt
        jmp 2b

        .section .bss
        .align 16
        .space 65536
stack_top:

        .section .note.GNU-stack, "", @progbits
