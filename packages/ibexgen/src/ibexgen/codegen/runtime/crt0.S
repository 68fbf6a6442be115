/* ibexgen start-up code for the lowRISC Ibex simple system (and compatible maps).
 *
 * The vector table sits at the boot address (ORIGIN of RAM): Ibex jumps to
 * boot_addr + 0x80 out of reset and uses vectored mode, so exceptions land on
 * entry 0 and interrupt i on entry i. Every entry goes to a handler that
 * reports mcause on the console and halts the simulation.
 */
    .section .vectors, "ax"
    .option push
    .option norvc
    .globl _vectors
_vectors:
    .rept 32
    jal x0, ibexgen_trap
    .endr
    /* boot_addr + 0x80: reset */
    .globl _start
_start:
    jal x0, reset_handler
    .option pop

    .section .text.start, "ax"
reset_handler:
    /* registers are not reset by Ibex (RegFileFF resets them, latch/FPGA files do not) */
    li x1, 0
    li x3, 0
    li x4, 0
    li x5, 0
    li x6, 0
    li x7, 0
    li x8, 0
    li x9, 0
    la sp, _stack_top
    /* zero .bss (the simple system loads only the ELF's file contents) */
    la t0, _bss_start
    la t1, _bss_end
1:  bgeu t0, t1, 2f
    sw zero, 0(t0)
    addi t0, t0, 4
    j 1b
2:  call main
    li t0, 0x20008      /* SimCtrl: halt */
    li t1, 1
    sw t1, 0(t0)
3:  j 3b

ibexgen_trap:
    la t0, ibexgen_trap_cause
    csrr t1, mcause
    sw t1, 0(t0)
    li t0, 0x20000
    li t1, 'T'
    sw t1, 0(t0)
    li t1, 'R'
    sw t1, 0(t0)
    li t1, 'A'
    sw t1, 0(t0)
    li t1, 'P'
    sw t1, 0(t0)
    li t1, 10
    sw t1, 0(t0)
    li t0, 0x20008
    li t1, 1
    sw t1, 0(t0)
4:  j 4b

    .section .bss
    .align 2
    .globl ibexgen_trap_cause
ibexgen_trap_cause:
    .word 0
