/*
 * glassvm-bios — the firmware glassvm's pc machines run when no -bios is given.
 *
 * QEMU runs SeaBIOS (bios-256k.bin) and, for a multiboot -kernel, the option ROM
 * multiboot.bin that SeaBIOS calls. glassvm has neither; this 64 KiB image does the part
 * of both that booting a multiboot kernel needs, with the same contract towards QEMU's
 * side (hw/i386/multiboot.ts puts the kernel image and the multiboot information in
 * fw_cfg, exactly the items QEMU's load_multiboot adds):
 *
 *   1. reset vector F000:FFF0 → real mode, flat segments, a stack below 0x7000;
 *   2. fw_cfg signature "QEMU" and a kernel (FW_CFG_KERNEL_SIZE ≠ 0), else print
 *      "No bootable device." on COM1 and halt;
 *   3. the multiboot information (FW_CFG_INITRD_DATA) to FW_CFG_INITRD_ADDR; mem_lower
 *      639 KiB (an EBDA at 0x9FC00, as SeaBIOS leaves it); the memory map at mmap_addr
 *      built from fw_cfg's "etc/e820" (RAM from 0 split around the legacy hole
 *      0x9FC00–0x100000, this ROM below 4 GiB reserved); mem_upper from the RAM at 1 MiB;
 *   4. protected mode with a flat GDT, the kernel (FW_CFG_KERNEL_DATA) to
 *      FW_CFG_KERNEL_ADDR with REP INSB (one KVM exit per 4 KiB), then the multiboot
 *      hand-over: EAX = 0x2BADB002, EBX = the information structure, jump to
 *      FW_CFG_KERNEL_ENTRY.
 *
 * Not here (SeaBIOS has them): the BIOS interrupt services, PIC/PIT set-up, PCI, ACPI,
 * SMBIOS, option ROMs, disks. Build: node scripts/build-pc-bios.ts (GNU as + ld).
 */
	.equ	FW_CFG_CTL, 0x510
	.equ	FW_CFG_DATA, 0x511
	.equ	FW_CFG_SIGNATURE, 0x00
	.equ	FW_CFG_KERNEL_ADDR, 0x07
	.equ	FW_CFG_KERNEL_SIZE, 0x08
	.equ	FW_CFG_INITRD_ADDR, 0x0a
	.equ	FW_CFG_INITRD_SIZE, 0x0b
	.equ	FW_CFG_KERNEL_ENTRY, 0x10
	.equ	FW_CFG_KERNEL_DATA, 0x11
	.equ	FW_CFG_INITRD_DATA, 0x12
	.equ	FW_CFG_FILE_DIR, 0x19

	.equ	BIOS_BASE, 0xf0000	/* where this image's last 64 KiB appear below 1 MiB */
	.equ	VAR_MBI, 0x7800		/* scratch RAM: the information structure's address */
	.equ	DIRENT, 0x7900		/* one fw_cfg directory entry (64 bytes) */
	.equ	E820BUF, 0x7a00		/* one etc/e820 entry (20 bytes) */
	.equ	COM1, 0x3f8
	.equ	MULTIBOOT_MAGIC, 0x2badb002

/* Select a fw_cfg item: a 16-bit write to the control port. */
	.macro	fw_select key
	mov	$\key, %ax
	mov	$FW_CFG_CTL, %dx
	out	%ax, %dx
	.endm

/* %eax := the next four data bytes of the selected item, little-endian. */
	.macro	fw_read32
	mov	$FW_CFG_DATA, %dx
	.rept	4
	in	%dx, %al
	ror	$8, %eax
	.endr
	.endm

	.code16
	.text
	.globl	_start
_start:
boot:
	cli
	cld
	xor	%ax, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	$0x7000, %sp

	fw_select FW_CFG_SIGNATURE
	fw_read32
	cmp	$0x554d4551, %eax	/* "QEMU" */
	jne	no_boot
	fw_select FW_CFG_KERNEL_SIZE
	fw_read32
	test	%eax, %eax
	jz	no_boot

	/* The multiboot information structure to its address (below 1 MiB, 16-aligned). */
	fw_select FW_CFG_INITRD_ADDR
	fw_read32
	mov	%eax, VAR_MBI
	shr	$4, %eax
	mov	%ax, %fs
	mov	%ax, %es
	xor	%di, %di
	fw_select FW_CFG_INITRD_SIZE
	fw_read32
	mov	%ax, %cx
	fw_select FW_CFG_INITRD_DATA
	mov	$FW_CFG_DATA, %dx
	rep insb

	movl	$639, %fs:4		/* mem_lower (KiB) */
	movl	$0, %fs:8		/* mem_upper, set below from the map */

	/* ES:DI := mmap_addr, where the memory map is written. */
	mov	%fs:48, %eax
	shr	$4, %eax
	mov	%ax, %es
	xor	%di, %di

	/* Look for etc/e820 in the file directory (count and fields big-endian). */
	fw_select FW_CFG_FILE_DIR
	fw_read32
	bswap	%eax
	mov	%eax, %ebp
find_e820:
	test	%ebp, %ebp
	jz	mmap_done
	dec	%ebp
	push	%es
	push	%di
	xor	%ax, %ax
	mov	%ax, %es
	mov	$DIRENT, %di
	mov	$64, %cx
	mov	$FW_CFG_DATA, %dx
	rep insb
	push	%ds
	push	%cs
	pop	%ds
	mov	$e820_name, %si
	mov	$DIRENT + 8, %di
	mov	$9, %cx
	repe cmpsb
	pop	%ds
	pop	%di
	pop	%es
	jne	find_e820

	mov	DIRENT + 4, %ax		/* the file's selector */
	xchg	%al, %ah
	mov	$FW_CFG_CTL, %dx
	out	%ax, %dx
	mov	DIRENT, %eax		/* its size */
	bswap	%eax
	xor	%edx, %edx
	mov	$20, %ecx
	div	%ecx
	mov	%eax, %ebp		/* entries */
e820_next:
	test	%ebp, %ebp
	jz	mmap_done
	dec	%ebp
	push	%es
	push	%di
	xor	%ax, %ax
	mov	%ax, %es
	mov	$E820BUF, %di
	mov	$20, %cx
	mov	$FW_CFG_DATA, %dx
	rep insb
	pop	%di
	pop	%es
	/* RAM from address 0: conventional memory, the EBDA and BIOS area, then RAM
	   from 1 MiB. */
	cmpl	$0, E820BUF
	jne	e820_copy
	cmpl	$0, E820BUF + 4
	jne	e820_copy
	cmpl	$1, E820BUF + 16
	jne	e820_copy
	push	%ds
	push	%cs
	pop	%ds
	mov	$low_map, %si
	call	emit
	call	emit
	call	emit
	pop	%ds
	subl	$0x100000, E820BUF + 8
	sbbl	$0, E820BUF + 12
	jb	e820_next		/* less than 1 MiB of RAM: nothing above it */
	movl	$0x100000, E820BUF
	mov	E820BUF + 8, %eax
	shr	$10, %eax
	mov	%eax, %fs:8		/* mem_upper (KiB) */
e820_copy:
	mov	$E820BUF, %si
	call	emit
	jmp	e820_next

mmap_done:
	push	%ds
	push	%cs
	pop	%ds
	mov	$rom_map, %si
	call	emit
	pop	%ds
	movzwl	%di, %eax
	mov	%eax, %fs:44		/* mmap_length */

	/* Protected mode, flat segments. */
	lgdtl	%cs:gdt_desc
	mov	%cr0, %eax
	or	$1, %eax
	mov	%eax, %cr0
	ljmpl	$0x08, $(BIOS_BASE + pm32)

/* One memory-map entry: size 20, then base, length, type copied from DS:SI. */
emit:
	movl	$20, %es:(%di)
	add	$4, %di
	mov	$20, %cx
	rep movsb
	ret

no_boot:
	push	%cs
	pop	%ds
	mov	$no_boot_msg, %si
1:	lodsb
	test	%al, %al
	jz	3f
	mov	%al, %bl
	mov	$COM1 + 5, %dx
2:	in	%dx, %al
	test	$0x20, %al
	jz	2b
	mov	$COM1, %dx
	mov	%bl, %al
	out	%al, %dx
	jmp	1b
3:	cli
4:	hlt
	jmp	4b

	.code32
pm32:
	mov	$0x10, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %fs
	mov	%eax, %gs
	mov	%eax, %ss
	mov	$0x7000, %esp

	fw_select FW_CFG_KERNEL_ADDR
	fw_read32
	mov	%eax, %edi
	fw_select FW_CFG_KERNEL_SIZE
	fw_read32
	mov	%eax, %ecx
	fw_select FW_CFG_KERNEL_DATA
	mov	$FW_CFG_DATA, %dx
	rep insb

	fw_select FW_CFG_KERNEL_ENTRY
	fw_read32
	mov	%eax, %ecx
	mov	VAR_MBI, %ebx
	mov	$MULTIBOOT_MAGIC, %eax
	jmp	*%ecx

e820_name:
	.asciz	"etc/e820"
no_boot_msg:
	.asciz	"No bootable device.\r\n"

	.balign	4
low_map:
	.quad	0x0, 0x9fc00
	.long	1
	.quad	0x9fc00, 0x400
	.long	2
	.quad	0xf0000, 0x10000
	.long	2
rom_map:
	.quad	0xffff0000, 0x10000
	.long	2

	.balign	8
gdt:
	.quad	0
	/* Accessed bits preset: the GDT is in ROM, where the CPU cannot set them. */
	.quad	0x00cf9b000000ffff	/* 0x08: code, base 0, 4 GiB, 32-bit */
	.quad	0x00cf93000000ffff	/* 0x10: data, base 0, 4 GiB */
gdt_desc:
	.word	3 * 8 - 1
	.long	BIOS_BASE + gdt

	.code16
	.org	0xfff0
reset_vector:
	ljmp	$0xf000, $boot
	.org	0x10000
