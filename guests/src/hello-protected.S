/*
 * hello-protected — kvm-hello-world's protected-mode guest as a 64 KiB -bios image.
 *
 * Reset vector → flat 32-bit protected mode (GDT in ROM) → the payload-protected.bin
 * bytes copied to guest-physical 0 → jump to 0. The payload prints "Hello, world!\n" on
 * port 0xE9, stores 42 at 0x400 and exits through isa-debug-exit with 0 (status 1).
 */
	.include "common.inc"
	.code16
	.text
	.globl	_start
_start:
boot:
	enter_pm32 pm32

	.code32
pm32:
	flat_segments
	mov	$(BIOS_BASE + payload), %esi
	xor	%edi, %edi
	mov	$(payload_end - payload), %ecx
	rep movsb
	xor	%eax, %eax
	jmp	*%eax

payload:
	.incbin	"payload-protected.bin"
payload_end:

	rom_gdt
	reset_vector
