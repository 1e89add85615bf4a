/*
 * multiboot-hello — a multiboot (version 1) kernel: an ELF32 linked at 1 MiB by
 * multiboot-hello.ld, for -kernel. The boot loader enters _start in flat 32-bit protected
 * mode with EAX = 0x2BADB002 and EBX = the multiboot information structure; the kernel
 * prints on COM1
 *
 *   Hello from multiboot!
 *   cmdline: <the command line at the structure's cmdline field>
 *   mem_upper: <the structure's mem_upper, decimal KiB>
 *
 * and exits through isa-debug-exit with 0 (status 1). A wrong magic number prints
 * "multiboot: bad magic <8 hex digits>" and exits with 1 (status 3); a field the flags
 * mark absent prints as "(none)".
 */
	.include "common.inc"
	.equ	IMAGE_BASE, 0		/* linked at its run address */
	.equ	MB_HEADER_MAGIC, 0x1badb002
	.equ	MB_HEADER_FLAGS, 0x00000003	/* modules page-aligned, memory information */
	.equ	MB_BOOT_MAGIC, 0x2badb002
	.equ	MBI_FLAGS, 0
	.equ	MBI_MEM_UPPER, 8
	.equ	MBI_CMDLINE, 16
	.equ	MBI_HAS_MEM, 1 << 0
	.equ	MBI_HAS_CMDLINE, 1 << 2

	.section .multiboot, "a"
	.balign	4
	.long	MB_HEADER_MAGIC
	.long	MB_HEADER_FLAGS
	.long	-(MB_HEADER_MAGIC + MB_HEADER_FLAGS)

	.code32
	.text
	.globl	_start
_start:
	cli
	cld
	mov	$stack_top, %esp
	cmp	$MB_BOOT_MAGIC, %eax
	je	1f
	com1_print msg_bad_magic
	mov	$8, %ecx
	call	com1_puthex
	call	newline
	debug_exit 1

1:	mov	%ebx, %edi		/* the information structure */
	com1_print msg_hello

	com1_print msg_cmdline
	testl	$MBI_HAS_CMDLINE, MBI_FLAGS(%edi)
	jz	2f
	mov	MBI_CMDLINE(%edi), %esi
	call	com1_puts
	jmp	3f
2:	com1_print msg_none
3:	call	newline

	com1_print msg_mem_upper
	testl	$MBI_HAS_MEM, MBI_FLAGS(%edi)
	jz	4f
	mov	MBI_MEM_UPPER(%edi), %eax
	call	com1_putdec
	jmp	5f
4:	com1_print msg_none
5:	call	newline
	debug_exit 0

newline:
	push	%eax
	mov	$0x0a, %al
	call	com1_putc
	pop	%eax
	ret

	.include "com1.inc"

	.section .rodata
msg_hello:
	.asciz	"Hello from multiboot!\n"
msg_cmdline:
	.asciz	"cmdline: "
msg_mem_upper:
	.asciz	"mem_upper: "
msg_none:
	.asciz	"(none)"
msg_bad_magic:
	.asciz	"multiboot: bad magic "

	.bss
	.balign	16
	.skip	4096
stack_top:
