/*
 * hello-real — kvm-hello-world's real-mode guest as a 64 KiB -bios image.
 *
 * The reset vector lands at F000:0000, which copies the real-mode payload (the bytes of
 * payload-real.bin) to guest-physical 0 and far-jumps to 0000:0000, the state
 * kvm-hello-world's host gives its guest. The payload then prints "Hello, world!\n" on
 * port 0xE9, stores 42 at 0x400 and exits through isa-debug-exit with 0 (status 1).
 */
	.include "common.inc"
	.code16
	.text
	.globl	_start
_start:
boot:
	cli
	cld
	mov	%cs, %ax
	mov	%ax, %ds		/* source: this ROM, F000:payload */
	xor	%ax, %ax
	mov	%ax, %es		/* destination: 0000:0000 */
	mov	$payload, %si
	xor	%di, %di
	mov	$(payload_end - payload), %cx
	rep movsb
	ljmp	$0, $0

payload:
	.incbin	"payload-real.bin"
payload_end:

	reset_vector
