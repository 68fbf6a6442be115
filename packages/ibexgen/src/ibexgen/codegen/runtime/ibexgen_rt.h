/* ibexgen runtime: simple-system I/O, performance counters, requantization,
 * and the custom instructions as inline .insn (any stock assembler takes them).
 */
#ifndef IBEXGEN_RT_H
#define IBEXGEN_RT_H
#include <stdint.h>

#define SIM_CTRL_BASE 0x20000u

static inline void rt_putc(int c) { *(volatile uint32_t *)SIM_CTRL_BASE = (uint8_t)c; }
void rt_puts(const char *s);
void rt_puthex(uint32_t v, int digits);
void rt_putdec(uint32_t v);
void rt_fill_halo(uint8_t *buf, int ha, int wa, int cp, int hh, int hw, uint8_t value);
void *memset(void *d, int c, unsigned long n);
void *memcpy(void *d, const void *s, unsigned long n);

/* mcountinhibit (CSR 0x320), as the original's pcount_enable */
static inline void pcount_enable(int enable) {
    uint32_t v = enable ? 0u : 0xFFFFFFFFu;
    __asm__ volatile("csrw 0x320, %0" : : "r"(v));
}
static inline void pcount_reset(void) {
    __asm__ volatile("csrw mcycle, x0\n\tcsrw minstret, x0\n\tcsrw mcycleh, x0\n\tcsrw minstreth, x0");
}
static inline uint32_t rt_mcycle(void) { uint32_t v; __asm__ volatile("csrr %0, mcycle" : "=r"(v)); return v; }
static inline uint32_t rt_minstret(void) { uint32_t v; __asm__ volatile("csrr %0, minstret" : "=r"(v)); return v; }

/* qformat requantization: clamp(zp + ((acc * m + 2^(s-1)) >> s)), 64-bit product */
static inline int32_t rt_requant(int32_t acc, int32_t m, int32_t s, int32_t zp, int32_t lo, int32_t hi) {
    int64_t p = (int64_t)acc * m;
    if (s > 0) p = (p + ((int64_t)1 << (s - 1))) >> s;
    p += zp;
    return p < lo ? lo : (p > hi ? hi : (int32_t)p);
}
/* (x + 2^(s-1)) >> s on a 64-bit product (residual add) */
static inline int32_t rt_rshift_round(int64_t p, int32_t s) {
    if (s > 0) p = (p + ((int64_t)1 << (s - 1))) >> s;
    return (int32_t)p;
}
/* floor((2*sum + n) / (2*n)): qformat's average-pooling rounding (half up) */
static inline int32_t rt_div_half_up(int32_t sum, int32_t n) {
    int32_t num = 2 * sum + n, den = 2 * n;
    int32_t q = num / den;
    if ((num % den) != 0 && num < 0) q -= 1;
    return q;
}
static inline int32_t rt_clamp(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* dot products for the plain RV32IMC baseline (unrolled by 4) */
#define RT_DOT(NAME, WT, XT) \
static inline int32_t NAME(const WT *w, const XT *x, int n) { \
    int32_t a = 0; int i = 0; \
    for (; i + 4 <= n; i += 4) a += w[i] * x[i] + w[i + 1] * x[i + 1] + w[i + 2] * x[i + 2] + w[i + 3] * x[i + 3]; \
    for (; i < n; i++) a += w[i] * x[i]; \
    return a; }
RT_DOT(rt_dot_u8, int8_t, uint8_t)
RT_DOT(rt_dot_s8, int8_t, int8_t)
/* strided variant: one channel every `stride` bytes */
#define RT_DOTS(NAME, WT, XT) \
static inline int32_t NAME(const WT *w, const XT *x, int n, int stride) { \
    int32_t a = 0; \
    for (int i = 0; i < n; i++) a += w[i] * x[i * stride]; \
    return a; }
RT_DOTS(rt_dots_u8, int8_t, uint8_t)
RT_DOTS(rt_dots_s8, int8_t, int8_t)

/* ---- compat ISA (major opcode 0x47, the original's encoding) ---- */
#define NEUR_INIT(b, sb) __asm__ volatile(".insn r 0x47, 1, 0, x0, %0, %1" : : "r"(b), "r"(sb))
#define NN_MAC_8B(w, x) __asm__ volatile(".insn r 0x47, 2, 8, x0, %0, %1" : : "r"(w), "r"(x))
#define NN_MAC_4B(w, x) __asm__ volatile(".insn r 0x47, 2, 4, x0, %0, %1" : : "r"(w), "r"(x))
#define NN_MAC_2B(w, x) __asm__ volatile(".insn r 0x47, 2, 2, x0, %0, %1" : : "r"(w), "r"(x))
static inline uint32_t neur_res(uint32_t mv, uint32_t sv) {
    uint32_t r;
    __asm__ volatile(".insn r 0x47, 4, 0, %0, %1, %2" : "=r"(r) : "r"(mv), "r"(sv));
    return r;
}

/* ---- xmpq ISA (custom-0, opcode 0x0b; see the ibexgen README) ---- */
#define XM_INIT(pair, a, b) __asm__ volatile(".insn r 0x0b, 0, %2, x0, %0, %1" : : "r"(a), "r"(b), "i"(pair))
#define XM_MAC(f7, w, x) __asm__ volatile(".insn r 0x0b, 1, %2, x0, %0, %1" : : "r"(w), "r"(x), "i"(f7))
#define XM_RQ(f7, m, p) ({ uint32_t _r; __asm__ volatile(".insn r 0x0b, 3, %3, %0, %1, %2" : "=r"(_r) : "r"(m), "r"(p), "i"(f7)); _r; })
#define XM_GET(lane) ({ uint32_t _r; __asm__ volatile(".insn r 0x0b, 2, %1, %0, x0, x0" : "=r"(_r) : "i"(lane)); _r; })
/* funct7 fields of xm.mac */
#define XM_W8 0
#define XM_W4 1
#define XM_W2 2
#define XM_DW 3
#define XM_SX 4
#define XM_SEL(s) ((s) << 3)

#endif
