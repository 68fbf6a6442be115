/* ibexgen runtime (see ibexgen_rt.h) */
#include "ibexgen_rt.h"

void rt_puts(const char *s) { while (*s) rt_putc(*s++); }

void rt_puthex(uint32_t v, int digits) {
    for (int i = digits - 1; i >= 0; i--) rt_putc("0123456789abcdef"[(v >> (4 * i)) & 15]);
}

void rt_putdec(uint32_t v) {
    char b[12];
    int n = 0;
    do { b[n++] = (char)('0' + v % 10u); v /= 10u; } while (v);
    while (n) rt_putc(b[--n]);
}

void rt_fill_halo(uint8_t *buf, int ha, int wa, int cp, int hh, int hw, uint8_t value) {
    for (int y = 0; y < ha; y++)
        for (int x = 0; x < wa; x++)
            if (y < hh || y >= ha - hh || x < hw || x >= wa - hw)
                for (int c = 0; c < cp; c++) buf[(y * wa + x) * cp + c] = value;
}

void *memset(void *d, int c, unsigned long n) {
    uint8_t *p = (uint8_t *)d;
    while (n--) *p++ = (uint8_t)c;
    return d;
}

void *memcpy(void *d, const void *s, unsigned long n) {
    uint8_t *p = (uint8_t *)d;
    const uint8_t *q = (const uint8_t *)s;
    while (n--) *p++ = *q++;
    return d;
}
