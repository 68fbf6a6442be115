/* A hand-written simple-system program (not generated): prints, counts, and
 * stores through a pointer outside the 1 MiB RAM like the original's stack. */
#include <stdint.h>
#define PUTC(c) (*(volatile uint32_t *)0x20000 = (uint8_t)(c))
volatile uint32_t *const wild = (volatile uint32_t *)0x00850000u;
uint32_t image[16];
int main(void) {
    const char *s = "hello\n";
    while (*s) PUTC(*s++);
    __asm__ volatile("csrw 0x320, %0" : : "r"(0));
    for (int i = 0; i < 16; i++) image[i] = 3u * (uint32_t)i;
    *wild = 0xdeadbeefu;           /* as built: lands on RAM offset 0x50000 */
    uint32_t back = *(volatile uint32_t *)0x00150000u;
    __asm__ volatile("csrw 0x320, %0" : : "r"(-1));
    PUTC(back == 0xdeadbeefu ? 'Y' : 'N');
    PUTC('\n');
    return 0;
}
