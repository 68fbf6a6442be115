/*
 * ibexgen fast ISS engine: RV32IMC + Zicsr + compat (0x47) + xmpq (custom-0).
 *
 * An interpreter over a pre-decoded instruction cache: every halfword of every
 * memory has a slot; an instruction is decoded the first time it executes and
 * its slot is invalidated when a store touches it. Semantics, timing and the
 * counter rules mirror ibexgen/iss/refsim.py (the reference the tests compare
 * against); the timing numbers come from Python (ibexgen/iss/timing.py).
 *
 * Build: compiled on first use into a shared library (see build.py).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(_WIN32)
#define EXPORT __declspec(dllexport)
#else
#define EXPORT __attribute__((visibility("default")))
#endif
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

enum {
    OP_NONE = 0, OP_ILLEGAL, OP_LUI, OP_AUIPC, OP_JAL, OP_JALR,
    OP_BEQ, OP_BNE, OP_BLT, OP_BGE, OP_BLTU, OP_BGEU,
    OP_LB, OP_LH, OP_LW, OP_LBU, OP_LHU, OP_SB, OP_SH, OP_SW,
    OP_ADDI, OP_SLTI, OP_SLTIU, OP_XORI, OP_ORI, OP_ANDI, OP_SLLI, OP_SRLI, OP_SRAI,
    OP_ADD, OP_SUB, OP_SLL, OP_SLT, OP_SLTU, OP_XOR, OP_SRL, OP_SRA, OP_OR, OP_AND,
    OP_MUL, OP_MULH, OP_MULHSU, OP_MULHU, OP_DIV, OP_DIVU, OP_REM, OP_REMU,
    OP_FENCE, OP_FENCEI, OP_ECALL, OP_EBREAK, OP_MRET, OP_WFI,
    OP_CSRRW, OP_CSRRS, OP_CSRRC, OP_CSRRWI, OP_CSRRSI, OP_CSRRCI,
    OP_NEUR_INIT, OP_NN_MAC, OP_NEUR_RES, OP_XM_INIT, OP_XM_MAC, OP_XM_GET, OP_XM_RQ,
    OP_COUNT
};

enum { EXIT_RUNNING = 0, EXIT_HALT = 1, EXIT_FAULT = 2, EXIT_LIMIT = 3, EXIT_TRACE_FULL = 4, EXIT_CONSOLE_FULL = 5 };
enum { FK_NONE = 0, FK_LOAD = 1, FK_STORE = 2, FK_FETCH = 3, FK_ILLEGAL = 4, FK_ECALL = 5, FK_EBREAK = 6, FK_WFI = 7 };
enum { DEV_SIMCTRL = 0, DEV_TIMER = 1 };

typedef struct {
    uint8_t op, rd, rs1, rs2;
    int32_t imm;
    uint8_t size, f7;
    uint16_t pad;
    uint32_t raw;
} dinsn_t;

typedef struct {
    uint32_t base, size;
    uint8_t *mem;
    dinsn_t *dc;
    uint32_t dc_lo, dc_hi; /* offsets range that holds decoded slots */
} region_t;

#define MAX_REGIONS 8
#define UNMAPPED_LOG 16

typedef struct {
    uint32_t x[32];
    uint32_t pc;
    uint32_t mstatus, mie, mtvec, mepc, mcause, mtval, mscratch, mcountinhibit, cpuctrl;
    uint64_t mcycle_saved, minstret_saved, cy_start, ir_start;
    uint64_t cycles, instret;
    uint64_t mtime_off, mtimecmp;
    int32_t cacc[4];
    uint32_t cmode, cit;
    int32_t xacc[4];
    /* configuration */
    uint32_t nregions;
    region_t r[MAX_REGIONS];
    uint32_t dev_base[2], dev_size[2], dev_on[2];
    uint32_t asbuilt, fallback_mask, ext_compat, ext_xmpq;
    uint32_t t_mem, t_mis, t_br, t_jmp, t_div, t_div0, t_cust, t_res, t_rq, t_mul; /* t_mul: 0 single 1 fast 2 slow */
    /* status */
    uint32_t halted, exit_code;
    uint32_t fault_kind, fault_addr, fault_pc, fault_insn;
    uint64_t unmapped_count;
    uint32_t unmapped_n, um_kind[UNMAPPED_LOG], um_addr[UNMAPPED_LOG], um_pc[UNMAPPED_LOG], um_target[UNMAPPED_LOG];
    uint8_t *console;
    uint32_t console_len, console_cap;
    uint32_t trace_n, trace_cap;
    uint32_t *tr_pc, *tr_insn, *tr_cyc;
    uint64_t event_cycle; /* cycles at which an interrupt may become ready */
    uint32_t cur_pc; /* pc of the instruction executing (for fault reports) */
} sim_t;

/* ---- small helpers -------------------------------------------------------- */

static inline int32_t sext(uint32_t v, int bits) {
    uint32_t m = 1u << (bits - 1);
    v &= (bits == 32) ? 0xffffffffu : ((1u << bits) - 1);
    return (int32_t)((v ^ m) - m);
}
static inline uint32_t bf(uint32_t x, int hi, int lo) { return (x >> lo) & ((1u << (hi - lo + 1)) - 1); }

static inline uint64_t mtime_now(const sim_t *s) { return s->cycles + s->mtime_off; }
static inline uint64_t mcycle_now(const sim_t *s) {
    return (s->mcountinhibit & 1) ? s->mcycle_saved : s->mcycle_saved + (s->cycles - s->cy_start);
}
static inline uint64_t minstret_now(const sim_t *s) {
    return (s->mcountinhibit & 4) ? s->minstret_saved : s->minstret_saved + (s->instret - s->ir_start);
}
static inline uint32_t mip_now(const sim_t *s) {
    return (s->dev_on[DEV_TIMER] && mtime_now(s) >= s->mtimecmp) ? (1u << 7) : 0;
}

static void update_event(sim_t *s) {
    s->event_cycle = UINT64_MAX;
    if ((s->mstatus & 8) && (s->mie & (1u << 7)) && s->dev_on[DEV_TIMER]) {
        uint64_t at = s->mtimecmp - s->mtime_off; /* cycles value when mtime reaches mtimecmp */
        if (mtime_now(s) >= s->mtimecmp) at = s->cycles;
        s->event_cycle = at;
    }
}

/* ---- decoder ---------------------------------------------------------------- */

static int xmpq_f7_ok(int f3, uint32_t f7) {
    if (f3 == 0) return f7 <= 1;
    if (f3 == 2) return f7 <= 3;
    if (f3 == 3) return f7 <= 7;
    {
        uint32_t w = f7 & 3, sel = (f7 >> 3) & 3;
        if (f7 >> 5) return 0;
        if (w == 1) return sel <= 1;
        if (w >= 2) return sel == 0;
        return 1;
    }
}

static void decode32(uint32_t w, dinsn_t *d) {
    uint32_t opc = w & 0x7f, rd = bf(w, 11, 7), f3 = bf(w, 14, 12), rs1 = bf(w, 19, 15), rs2 = bf(w, 24, 20), f7 = w >> 25;
    int32_t immi = (int32_t)w >> 20;
    d->size = 4; d->raw = w; d->rd = rd; d->rs1 = rs1; d->rs2 = rs2; d->f7 = f7; d->imm = 0; d->op = OP_ILLEGAL;
    switch (opc) {
    case 0x37: d->op = OP_LUI; d->imm = (int32_t)(w & 0xfffff000u); break;
    case 0x17: d->op = OP_AUIPC; d->imm = (int32_t)(w & 0xfffff000u); break;
    case 0x6f:
        d->op = OP_JAL;
        d->imm = sext((bf(w, 31, 31) << 20) | (bf(w, 19, 12) << 12) | (bf(w, 20, 20) << 11) | (bf(w, 30, 21) << 1), 21);
        break;
    case 0x67: if (f3 == 0) { d->op = OP_JALR; d->imm = immi; } break;
    case 0x63: {
        static const uint8_t br[8] = {OP_BEQ, OP_BNE, OP_ILLEGAL, OP_ILLEGAL, OP_BLT, OP_BGE, OP_BLTU, OP_BGEU};
        d->op = br[f3];
        d->imm = sext((bf(w, 31, 31) << 12) | (bf(w, 7, 7) << 11) | (bf(w, 30, 25) << 5) | (bf(w, 11, 8) << 1), 13);
        break;
    }
    case 0x03: {
        static const uint8_t ld[8] = {OP_LB, OP_LH, OP_LW, OP_ILLEGAL, OP_LBU, OP_LHU, OP_ILLEGAL, OP_ILLEGAL};
        d->op = ld[f3]; d->imm = immi; break;
    }
    case 0x23: {
        static const uint8_t st[8] = {OP_SB, OP_SH, OP_SW, OP_ILLEGAL, OP_ILLEGAL, OP_ILLEGAL, OP_ILLEGAL, OP_ILLEGAL};
        d->op = st[f3]; d->imm = sext((f7 << 5) | rd, 12); break;
    }
    case 0x13:
        d->imm = immi;
        switch (f3) {
        case 0: d->op = OP_ADDI; break;
        case 2: d->op = OP_SLTI; break;
        case 3: d->op = OP_SLTIU; break;
        case 4: d->op = OP_XORI; break;
        case 6: d->op = OP_ORI; break;
        case 7: d->op = OP_ANDI; break;
        case 1: if (f7 == 0) { d->op = OP_SLLI; d->imm = rs2; } break;
        case 5:
            if (f7 == 0) { d->op = OP_SRLI; d->imm = rs2; }
            else if (f7 == 0x20) { d->op = OP_SRAI; d->imm = rs2; }
            break;
        }
        break;
    case 0x33:
        if (f7 == 0) {
            static const uint8_t o[8] = {OP_ADD, OP_SLL, OP_SLT, OP_SLTU, OP_XOR, OP_SRL, OP_OR, OP_AND};
            d->op = o[f3];
        } else if (f7 == 0x20) {
            if (f3 == 0) d->op = OP_SUB; else if (f3 == 5) d->op = OP_SRA;
        } else if (f7 == 1) {
            static const uint8_t m[8] = {OP_MUL, OP_MULH, OP_MULHSU, OP_MULHU, OP_DIV, OP_DIVU, OP_REM, OP_REMU};
            d->op = m[f3];
        }
        break;
    case 0x0f:
        if (f3 == 0) d->op = OP_FENCE; else if (f3 == 1) d->op = OP_FENCEI;
        break;
    case 0x73:
        if (f3 == 0) {
            if (w == 0x00000073u) d->op = OP_ECALL;
            else if (w == 0x00100073u) d->op = OP_EBREAK;
            else if (w == 0x30200073u) d->op = OP_MRET;
            else if (w == 0x10500073u) d->op = OP_WFI;
        } else if (f3 != 4) {
            static const uint8_t c[8] = {0, OP_CSRRW, OP_CSRRS, OP_CSRRC, 0, OP_CSRRWI, OP_CSRRSI, OP_CSRRCI};
            d->op = c[f3]; d->imm = (int32_t)(w >> 20);
        }
        break;
    case 0x47:
        if (f3 == 1) d->op = OP_NEUR_INIT; else if (f3 == 2) d->op = OP_NN_MAC; else if (f3 == 4) d->op = OP_NEUR_RES;
        break;
    case 0x0b:
        if (f3 <= 3 && xmpq_f7_ok((int)f3, f7)) {
            static const uint8_t x[4] = {OP_XM_INIT, OP_XM_MAC, OP_XM_GET, OP_XM_RQ};
            d->op = x[f3];
        }
        break;
    }
}

static void decode16(uint32_t h, dinsn_t *d) {
    uint32_t q = h & 3, f3 = bf(h, 15, 13);
    uint32_t rdp = 8 + bf(h, 4, 2), rs1p = 8 + bf(h, 9, 7), rf = bf(h, 11, 7), rs2f = bf(h, 6, 2);
    int32_t imm6 = sext((bf(h, 12, 12) << 5) | bf(h, 6, 2), 6);
    d->size = 2; d->raw = h; d->op = OP_ILLEGAL; d->rd = d->rs1 = d->rs2 = 0; d->imm = 0; d->f7 = 0;
#define SET(o, a, b, c, i) do { d->op = (o); d->rd = (a); d->rs1 = (b); d->rs2 = (c); d->imm = (i); } while (0)
    if (q == 0) {
        uint32_t off = (bf(h, 12, 10) << 3) | (bf(h, 6, 6) << 2) | (bf(h, 5, 5) << 6);
        if (f3 == 0) {
            uint32_t nz = (bf(h, 12, 11) << 4) | (bf(h, 10, 7) << 6) | (bf(h, 6, 6) << 2) | (bf(h, 5, 5) << 3);
            if (nz) SET(OP_ADDI, rdp, 2, 0, (int32_t)nz);
        } else if (f3 == 2) SET(OP_LW, rdp, rs1p, 0, (int32_t)off);
        else if (f3 == 6) SET(OP_SW, 0, rs1p, rdp, (int32_t)off);
    } else if (q == 1) {
        switch (f3) {
        case 0: SET(OP_ADDI, rf, rf, 0, imm6); break;
        case 1: case 5: {
            uint32_t j = (bf(h, 12, 12) << 11) | (bf(h, 11, 11) << 4) | (bf(h, 10, 9) << 8) | (bf(h, 8, 8) << 10) |
                         (bf(h, 7, 7) << 6) | (bf(h, 6, 6) << 7) | (bf(h, 5, 3) << 1) | (bf(h, 2, 2) << 5);
            SET(OP_JAL, f3 == 1 ? 1 : 0, 0, 0, sext(j, 12));
            break;
        }
        case 2: SET(OP_ADDI, rf, 0, 0, imm6); break;
        case 3:
            if (rf == 2) {
                uint32_t i = (bf(h, 12, 12) << 9) | (bf(h, 6, 6) << 4) | (bf(h, 5, 5) << 6) | (bf(h, 4, 3) << 7) | (bf(h, 2, 2) << 5);
                if (i) SET(OP_ADDI, 2, 2, 0, sext(i, 10));
            } else {
                int32_t i = sext((bf(h, 12, 12) << 17) | (bf(h, 6, 2) << 12), 18);
                if (i) SET(OP_LUI, rf, 0, 0, i);
            }
            break;
        case 4: {
            uint32_t sub = bf(h, 11, 10);
            if (sub <= 1) {
                if (!bf(h, 12, 12)) SET(sub == 0 ? OP_SRLI : OP_SRAI, rs1p, rs1p, 0, (int32_t)bf(h, 6, 2));
            } else if (sub == 2) {
                SET(OP_ANDI, rs1p, rs1p, 0, imm6);
            } else if (!bf(h, 12, 12)) {
                static const uint8_t o[4] = {OP_SUB, OP_XOR, OP_OR, OP_AND};
                SET(o[bf(h, 6, 5)], rs1p, rs1p, rdp, 0);
            }
            break;
        }
        default: { /* 6: c.beqz, 7: c.bnez */
            uint32_t o = (bf(h, 12, 12) << 8) | (bf(h, 11, 10) << 3) | (bf(h, 6, 5) << 6) | (bf(h, 4, 3) << 1) | (bf(h, 2, 2) << 5);
            SET(f3 == 6 ? OP_BEQ : OP_BNE, 0, rs1p, 0, sext(o, 9));
        }
        }
    } else {
        switch (f3) {
        case 0: if (!bf(h, 12, 12)) SET(OP_SLLI, rf, rf, 0, (int32_t)bf(h, 6, 2)); break;
        case 2:
            if (rf) SET(OP_LW, rf, 2, 0, (int32_t)((bf(h, 12, 12) << 5) | (bf(h, 6, 4) << 2) | (bf(h, 3, 2) << 6)));
            break;
        case 4:
            if (!bf(h, 12, 12)) {
                if (rs2f == 0) { if (rf) SET(OP_JALR, 0, rf, 0, 0); }
                else SET(OP_ADD, rf, 0, rs2f, 0);
            } else {
                if (rs2f == 0) {
                    if (rf == 0) SET(OP_EBREAK, 0, 0, 0, 0);
                    else SET(OP_JALR, 1, rf, 0, 0);
                } else SET(OP_ADD, rf, rf, rs2f, 0);
            }
            break;
        case 6: SET(OP_SW, 0, 2, rs2f, (int32_t)((bf(h, 12, 9) << 2) | (bf(h, 8, 7) << 6))); break;
        default: break;
        }
    }
#undef SET
}

static void decode_word(uint32_t w, dinsn_t *d) {
    if ((w & 3) == 3) decode32(w, d); else decode16(w & 0xffff, d);
}

/* ---- memory ------------------------------------------------------------------ */

static inline int region_of(const sim_t *s, uint32_t a) {
    for (uint32_t i = 0; i < s->nregions; i++)
        if (a - s->r[i].base < s->r[i].size) return (int)i;
    return -1;
}
static inline int device_of(const sim_t *s, uint32_t a) {
    int hit = -1;
    for (int k = 0; k < 2; k++)
        if (s->dev_on[k] && a - s->dev_base[k] < s->dev_size[k]) hit = k;
    return hit;
}

static void note_unmapped(sim_t *s, uint32_t kind, uint32_t addr, uint32_t pc) {
    s->unmapped_count++;
    if (s->unmapped_n < UNMAPPED_LOG) {
        uint32_t i = s->unmapped_n++;
        s->um_kind[i] = kind; s->um_addr[i] = addr; s->um_pc[i] = pc; s->um_target[i] = addr & s->fallback_mask;
    }
}

static inline void invalidate(region_t *r, uint32_t off, uint32_t n) {
    if (r->dc && off + n > r->dc_lo && off < r->dc_hi + 4) {
        uint32_t a = off >= 2 ? (off - 2) >> 1 : 0, b = (off + n - 1) >> 1;
        for (uint32_t i = a; i <= b && i < (r->size >> 1); i++) r->dc[i].op = OP_NONE;
    }
}

static void fault(sim_t *s, uint32_t kind, uint32_t addr) {
    s->exit_code = EXIT_FAULT; s->fault_kind = kind; s->fault_addr = addr; s->fault_pc = s->cur_pc;
}

/* Locate every byte first (strict mode faults before any side effect). Returns 0 on fault. */
static int locate_bytes(sim_t *s, uint32_t addr, int size, uint32_t kind, int *ri, uint32_t *off, int *mapped) {
    *mapped = 1;
    for (int b = 0; b < size; b++) {
        uint32_t a = addr + (uint32_t)b;
        int i = region_of(s, a);
        if (i >= 0) { ri[b] = i; off[b] = a - s->r[i].base; continue; }
        *mapped = 0;
        if (!s->asbuilt) { fault(s, kind, a); return 0; }
        ri[b] = 0; off[b] = a & s->fallback_mask;
    }
    return 1;
}

static uint32_t device_access(sim_t *s, int dev, uint32_t addr, int size, int store, uint32_t value) {
    uint32_t woff = (addr - s->dev_base[dev]) & ~3u, lane = addr & 3;
    uint64_t now = mtime_now(s);
    if (dev == DEV_SIMCTRL) {
        if (store && lane == 0) {
            if (woff == 0) {
                if (s->console_len < s->console_cap) s->console[s->console_len++] = (uint8_t)value;
            } else if (woff == 8 && (value & 1)) {
                s->halted = 1;
            }
        }
        return 0;
    }
    if (store) {
        uint32_t wv = value << (8 * lane);
        uint32_t mask = (uint32_t)((((uint64_t)1 << (8 * size)) - 1) << (8 * lane));
        if (woff == 0) {
            uint64_t nv = (now & ~0xffffffffull) | (((uint32_t)now & ~mask) | wv);
            s->mtime_off = nv - s->cycles;
        } else if (woff == 4) {
            uint64_t hi = (((uint32_t)(now >> 32)) & ~mask) | wv;
            s->mtime_off = ((hi << 32) | (now & 0xffffffffull)) - s->cycles;
        } else if (woff == 8) {
            s->mtimecmp = (s->mtimecmp & ~0xffffffffull) | ((((uint32_t)s->mtimecmp) & ~mask) | wv);
        } else if (woff == 12) {
            uint64_t hi = (((uint32_t)(s->mtimecmp >> 32)) & ~mask) | wv;
            s->mtimecmp = (hi << 32) | (s->mtimecmp & 0xffffffffull);
        }
        update_event(s);
        return 0;
    }
    {
        uint32_t v = 0;
        if (woff == 0) v = (uint32_t)now;
        else if (woff == 4) v = (uint32_t)(now >> 32);
        else if (woff == 8) v = (uint32_t)s->mtimecmp;
        else if (woff == 12) v = (uint32_t)(s->mtimecmp >> 32);
        v >>= 8 * lane;
        return size == 4 ? v : (v & ((1u << (8 * size)) - 1));
    }
}

/* Slow path for any data access. Returns 0 on fault. */
static int access_slow(sim_t *s, uint32_t addr, int size, int store, uint32_t *val) {
    int dev = device_of(s, addr);
    if (dev >= 0) {
        uint32_t v = device_access(s, dev, addr, size, store, store ? *val : 0);
        if (!store) *val = v;
        return 1;
    }
    int ri[4]; uint32_t off[4]; int mapped;
    if (!locate_bytes(s, addr, size, store ? FK_STORE : FK_LOAD, ri, off, &mapped)) return 0;
    uint32_t v = 0;
    for (int b = 0; b < size; b++) {
        region_t *r = &s->r[ri[b]];
        if (off[b] >= r->size) continue;
        if (store) { r->mem[off[b]] = (uint8_t)(*val >> (8 * b)); invalidate(r, off[b], 1); }
        else v |= (uint32_t)r->mem[off[b]] << (8 * b);
    }
    if (!store) *val = v;
    if (!mapped) note_unmapped(s, store ? FK_STORE : FK_LOAD, addr, s->cur_pc);
    return 1;
}

static int fetch16_slow(sim_t *s, uint32_t addr, uint32_t *h) {
    int ri[2]; uint32_t off[2]; int mapped;
    if (!locate_bytes(s, addr, 2, FK_FETCH, ri, off, &mapped)) return 0;
    uint32_t v = 0;
    for (int b = 0; b < 2; b++)
        if (off[b] < s->r[ri[b]].size) v |= (uint32_t)s->r[ri[b]].mem[off[b]] << (8 * b);
    if (!mapped) note_unmapped(s, FK_FETCH, addr, s->cur_pc);
    *h = v;
    return 1;
}

/* ---- CSRs ----------------------------------------------------------------------- */

/* Returns 0 when the CSR does not exist (illegal instruction). */
static int csr_read(sim_t *s, uint32_t n, uint32_t *v) {
    uint64_t mc = mcycle_now(s), mi = minstret_now(s);
    switch (n) {
    case 0x300: *v = s->mstatus; return 1;
    case 0x310: *v = 0; return 1;
    case 0x301: *v = 0x40101104u; return 1;
    case 0x304: *v = s->mie; return 1;
    case 0x305: *v = s->mtvec; return 1;
    case 0x320: *v = s->mcountinhibit; return 1;
    case 0x340: *v = s->mscratch; return 1;
    case 0x341: *v = s->mepc; return 1;
    case 0x342: *v = s->mcause; return 1;
    case 0x343: *v = s->mtval; return 1;
    case 0x344: *v = mip_now(s); return 1;
    case 0xB00: case 0xC00: *v = (uint32_t)mc; return 1;
    case 0xB80: case 0xC80: *v = (uint32_t)(mc >> 32); return 1;
    case 0xB02: case 0xC02: *v = (uint32_t)mi; return 1;
    case 0xB82: case 0xC82: *v = (uint32_t)(mi >> 32); return 1;
    case 0xF11: case 0xF13: case 0xF14: case 0xF15: *v = 0; return 1;
    case 0xF12: *v = 22; return 1;
    case 0x7C0: *v = s->cpuctrl; return 1;
    }
    if ((n >= 0xB03 && n <= 0xB1F) || (n >= 0xB83 && n <= 0xB9F) || (n >= 0x323 && n <= 0x33F) || (n >= 0x7A0 && n <= 0x7A3)) {
        *v = 0; return 1;
    }
    return 0;
}

/* ``after_cy``/``after_ir``: totals once this (1-cycle) CSR instruction completes. */
static int csr_write(sim_t *s, uint32_t n, uint32_t v) {
    uint64_t after_cy = s->cycles + 1, after_ir = s->instret + 1;
    if ((n >> 10) == 3) return 0;
    switch (n) {
    case 0x300: s->mstatus = v & 0x00221888u; update_event(s); return 1;
    case 0x304: s->mie = v & 0x7FFF0888u; update_event(s); return 1;
    case 0x305: s->mtvec = (v & ~0xffu) | 1; return 1;
    case 0x320: {
        uint32_t nv = v & 5, old = s->mcountinhibit;
        if (!(old & 1) && (nv & 1)) s->mcycle_saved += after_cy - s->cy_start;
        if ((old & 1) && !(nv & 1)) s->cy_start = after_cy;
        if (!(old & 4) && (nv & 4)) s->minstret_saved += after_ir - s->ir_start;
        if ((old & 4) && !(nv & 4)) s->ir_start = after_ir;
        s->mcountinhibit = nv;
        return 1;
    }
    case 0x340: s->mscratch = v; return 1;
    case 0x341: s->mepc = v & ~1u; return 1;
    case 0x342: s->mcause = v; return 1;
    case 0x343: s->mtval = v; return 1;
    case 0xB00: case 0xB80: {
        uint64_t cur = mcycle_now(s);
        uint64_t nv = n == 0xB00 ? ((cur & ~0xffffffffull) | v) : (((uint64_t)v << 32) | (cur & 0xffffffffull));
        s->mcycle_saved = nv; s->cy_start = after_cy;
        return 1;
    }
    case 0xB02: case 0xB82: {
        uint64_t cur = minstret_now(s);
        uint64_t nv = n == 0xB02 ? ((cur & ~0xffffffffull) | v) : (((uint64_t)v << 32) | (cur & 0xffffffffull));
        s->minstret_saved = nv; s->ir_start = after_ir;
        return 1;
    }
    case 0x7C0: s->cpuctrl = v & 0xff; return 1;
    case 0x301: case 0x344: case 0x310: return 1;
    }
    if ((n >= 0xB03 && n <= 0xB1F) || (n >= 0xB83 && n <= 0xB9F) || (n >= 0x323 && n <= 0x33F) || (n >= 0x7A0 && n <= 0x7A3))
        return 1;
    return 0;
}

/* ---- custom units ------------------------------------------------------------------ */

static inline int32_t xbyte(uint32_t x, int e, int sgn, int msb) {
    uint32_t v = (x >> (msb ? 24 - 8 * e : 8 * e)) & 0xff;
    return sgn ? (int32_t)(int8_t)v : (int32_t)v;
}
static inline int32_t wfield(uint32_t w, int i, int width, int msb) {
    int n = 32 / width;
    int sh = msb ? (n - 1 - i) * width : i * width;
    return sext(w >> sh, width);
}
static void mac_lanes(uint32_t w, uint32_t x, int width, int sel, int sgn, int msb, int dw, int32_t add[4]) {
    int32_t xs[4];
    for (int e = 0; e < 4; e++) xs[e] = xbyte(x, e, sgn, msb);
    for (int k = 0; k < 4; k++) {
        int32_t v;
        if (dw) v = wfield(w, k, 8, msb) * xs[k];
        else if (width == 8) v = wfield(w, k, 8, msb) * xs[sel];
        else if (width == 4) v = wfield(w, k, 4, msb) * xs[2 * sel] + wfield(w, k + 4, 4, msb) * xs[2 * sel + 1];
        else {
            v = 0;
            for (int j = 0; j < 4; j++) v += wfield(w, 4 * j + k, 2, msb) * xs[j];
        }
        add[k] = v;
    }
}

static uint32_t compat_res(const int32_t acc[4], uint32_t mv, uint32_t sv) {
    static const int pos[4] = {27, 20, 13, 6};
    uint32_t out = 0;
    for (int k = 0; k < 4; k++) {
        uint32_t m = (mv >> (24 - 8 * k)) & 0xff, sh = (sv >> pos[k]) & 31;
        int32_t a = acc[k];
        int neg = a < 0;
        uint32_t ua = neg ? (uint32_t)0 - (uint32_t)a : (uint32_t)a;
        uint32_t p = ua * m;
        uint32_t q = neg ? ~p : p;
        uint32_t radd = (neg ? 1u : 0u) | (sh >= 1 ? (1u << (sh - 1)) : 0u);
        int32_t r = (int32_t)(q + radd) >> sh;
        int32_t lo = (sv & 1) ? 0 : -128, hi = (sv & 1) ? 255 : 127;
        if (r < lo) r = lo;
        if (r > hi) r = hi;
        out |= ((uint32_t)r & 0xff) << (24 - 8 * k);
    }
    return out;
}

static uint32_t xm_rq(int32_t acc, uint32_t f7, uint32_t mult, uint32_t params) {
    int lane = f7 & 3, sgn = (f7 >> 2) & 1;
    int s = params & 63;
    int32_t zp = xbyte(params, 1, sgn, 0), lo = xbyte(params, 2, sgn, 0), hi = xbyte(params, 3, sgn, 0);
    __int128 y = (__int128)acc * (int32_t)mult;
    if (s) y = (y + ((__int128)1 << (s - 1))) >> s;
    y += zp;
    if (y < lo) y = lo;
    if (y > hi) y = hi;
    return ((uint32_t)(int32_t)y & 0xff) << (8 * lane);
}

/* ---- traps ------------------------------------------------------------------------- */

static void take_trap(sim_t *s, uint32_t cause, uint32_t epc, uint32_t tval) {
    s->mepc = epc & ~1u; s->mcause = cause; s->mtval = tval;
    uint32_t mie = s->mstatus & 8;
    s->mstatus = (s->mstatus & ~(8u | 0x80u)) | (mie ? 0x80u : 0) | (3u << 11);
    uint32_t base = s->mtvec & ~0xffu;
    s->pc = (cause & 0x80000000u) ? base + 4 * (cause & 0x1f) : base;
    s->cycles += 1 + s->t_jmp;
    update_event(s);
}

/* ---- the interpreter ----------------------------------------------------------------- */

static inline uint32_t mul_cost(const sim_t *s, int high, uint32_t b) {
    if (s->t_mul == 0) return high ? 2 : 1;
    if (s->t_mul == 1) return high ? 4 : 3;
    if (high) return 33;
    return 1 + (b > 1 ? 32 - (uint32_t)__builtin_clz(b - 1) : 0);
}

static dinsn_t *lookup(sim_t *s, uint32_t pc, dinsn_t *tmp) {
    for (uint32_t i = 0; i < s->nregions && !(pc & 1); i++) {
        region_t *r = &s->r[i];
        uint32_t off = pc - r->base;
        if (off < r->size && off + 1 < r->size) {
            if (!r->dc) {
                r->dc = (dinsn_t *)calloc(r->size / 2 + 1, sizeof(dinsn_t));
                if (!r->dc) break;
                r->dc_lo = 0xffffffffu; r->dc_hi = 0;
            }
            dinsn_t *d = &r->dc[off >> 1];
            if (LIKELY(d->op != OP_NONE)) return d;
            uint32_t lo = (uint32_t)r->mem[off] | ((uint32_t)r->mem[off + 1] << 8);
            if ((lo & 3) == 3) {
                if (off + 3 >= r->size) break; /* straddles the end: slow path */
                lo |= ((uint32_t)r->mem[off + 2] << 16) | ((uint32_t)r->mem[off + 3] << 24);
            }
            decode_word(lo, d);
            if (off < r->dc_lo) r->dc_lo = off;
            if (off > r->dc_hi) r->dc_hi = off;
            return d;
        }
    }
    /* slow path: unmapped (as-built wrap) or straddling a boundary; no caching */
    uint32_t lo, hi = 0;
    if (!fetch16_slow(s, pc, &lo)) return NULL;
    if ((lo & 3) == 3) {
        if (!fetch16_slow(s, pc + 2, &hi)) return NULL;
    }
    decode_word(lo | (hi << 16), tmp);
    return tmp;
}

#define RD(v) do { x[d->rd] = (v); } while (0)

static int run_impl(sim_t *s, uint64_t limit, const int tracing) {
    uint32_t *x = s->x;
    dinsn_t tmp;
    region_t *r0 = &s->r[0];
    s->exit_code = EXIT_RUNNING;
    for (;;) {
        if (UNLIKELY(s->instret >= limit)) { s->exit_code = EXIT_LIMIT; break; }
        if (UNLIKELY(s->cycles >= s->event_cycle)) {
            if ((s->mstatus & 8) && (s->mie & mip_now(s))) take_trap(s, 0x80000007u, s->pc, 0);
            else update_event(s);
        }
        uint32_t pc = s->pc;
        s->cur_pc = pc;
        dinsn_t *d;
        uint32_t off0 = pc - r0->base;
        if (LIKELY(r0->dc && off0 + 3 < r0->size && !(pc & 1) && r0->dc[off0 >> 1].op != OP_NONE)) d = &r0->dc[off0 >> 1];
        else {
            d = lookup(s, pc, &tmp);
            if (!d) break; /* fetch fault */
        }
        uint32_t a = x[d->rs1], b = x[d->rs2];
        uint32_t next = pc + d->size;
        uint32_t cost = 1;
        switch (d->op) {
        case OP_LUI: RD((uint32_t)d->imm); break;
        case OP_AUIPC: RD(pc + (uint32_t)d->imm); break;
        case OP_JAL: RD(next); next = pc + (uint32_t)d->imm; cost += s->t_jmp; break;
        case OP_JALR: { uint32_t t = (a + (uint32_t)d->imm) & ~1u; RD(next); next = t; cost += s->t_jmp; break; }
        case OP_BEQ: if (a == b) { next = pc + (uint32_t)d->imm; cost += s->t_br; } break;
        case OP_BNE: if (a != b) { next = pc + (uint32_t)d->imm; cost += s->t_br; } break;
        case OP_BLT: if ((int32_t)a < (int32_t)b) { next = pc + (uint32_t)d->imm; cost += s->t_br; } break;
        case OP_BGE: if ((int32_t)a >= (int32_t)b) { next = pc + (uint32_t)d->imm; cost += s->t_br; } break;
        case OP_BLTU: if (a < b) { next = pc + (uint32_t)d->imm; cost += s->t_br; } break;
        case OP_BGEU: if (a >= b) { next = pc + (uint32_t)d->imm; cost += s->t_br; } break;
        case OP_LB: case OP_LH: case OP_LW: case OP_LBU: case OP_LHU: {
            uint32_t addr = a + (uint32_t)d->imm;
            int size = (d->op == OP_LW) ? 4 : (d->op == OP_LH || d->op == OP_LHU) ? 2 : 1;
            uint32_t v, off = addr - r0->base;
            if (LIKELY(off < r0->size && off + (uint32_t)size <= r0->size)) {
                if (size == 4) { memcpy(&v, r0->mem + off, 4); }
                else if (size == 2) { uint16_t h; memcpy(&h, r0->mem + off, 2); v = h; }
                else v = r0->mem[off];
            } else if (!access_slow(s, addr, size, 0, &v)) goto stop;
            if (d->op == OP_LB) v = (uint32_t)(int32_t)(int8_t)v;
            else if (d->op == OP_LH) v = (uint32_t)(int32_t)(int16_t)v;
            RD(v);
            cost += s->t_mem + (((addr & 3) + (uint32_t)size > 4) ? s->t_mis : 0);
            break;
        }
        case OP_SB: case OP_SH: case OP_SW: {
            uint32_t addr = a + (uint32_t)d->imm;
            int size = d->op == OP_SW ? 4 : d->op == OP_SH ? 2 : 1;
            uint32_t off = addr - r0->base;
            if (LIKELY(off < r0->size && off + (uint32_t)size <= r0->size)) {
                if (size == 4) memcpy(r0->mem + off, &b, 4);
                else if (size == 2) { uint16_t h = (uint16_t)b; memcpy(r0->mem + off, &h, 2); }
                else r0->mem[off] = (uint8_t)b;
                invalidate(r0, off, (uint32_t)size);
            } else {
                uint32_t v = size == 4 ? b : (b & ((1u << (8 * size)) - 1));
                if (!access_slow(s, addr, size, 1, &v)) goto stop;
            }
            cost += s->t_mem + (((addr & 3) + (uint32_t)size > 4) ? s->t_mis : 0);
            break;
        }
        case OP_ADDI: RD(a + (uint32_t)d->imm); break;
        case OP_SLTI: RD((int32_t)a < d->imm); break;
        case OP_SLTIU: RD(a < (uint32_t)d->imm); break;
        case OP_XORI: RD(a ^ (uint32_t)d->imm); break;
        case OP_ORI: RD(a | (uint32_t)d->imm); break;
        case OP_ANDI: RD(a & (uint32_t)d->imm); break;
        case OP_SLLI: RD(a << d->imm); break;
        case OP_SRLI: RD(a >> d->imm); break;
        case OP_SRAI: RD((uint32_t)((int32_t)a >> d->imm)); break;
        case OP_ADD: RD(a + b); break;
        case OP_SUB: RD(a - b); break;
        case OP_SLL: RD(a << (b & 31)); break;
        case OP_SLT: RD((int32_t)a < (int32_t)b); break;
        case OP_SLTU: RD(a < b); break;
        case OP_XOR: RD(a ^ b); break;
        case OP_SRL: RD(a >> (b & 31)); break;
        case OP_SRA: RD((uint32_t)((int32_t)a >> (b & 31))); break;
        case OP_OR: RD(a | b); break;
        case OP_AND: RD(a & b); break;
        case OP_MUL: RD(a * b); cost = mul_cost(s, 0, b); break;
        case OP_MULH: RD((uint32_t)(((int64_t)(int32_t)a * (int64_t)(int32_t)b) >> 32)); cost = mul_cost(s, 1, b); break;
        case OP_MULHSU: RD((uint32_t)(((int64_t)(int32_t)a * (int64_t)(uint64_t)b) >> 32)); cost = mul_cost(s, 1, b); break;
        case OP_MULHU: RD((uint32_t)(((uint64_t)a * (uint64_t)b) >> 32)); cost = mul_cost(s, 1, b); break;
        case OP_DIV:
            if (b == 0) RD(0xffffffffu);
            else if (a == 0x80000000u && b == 0xffffffffu) RD(a);
            else RD((uint32_t)((int32_t)a / (int32_t)b));
            cost = b ? s->t_div : s->t_div0; break;
        case OP_DIVU: RD(b ? a / b : 0xffffffffu); cost = b ? s->t_div : s->t_div0; break;
        case OP_REM:
            if (b == 0) RD(a);
            else if (a == 0x80000000u && b == 0xffffffffu) RD(0);
            else RD((uint32_t)((int32_t)a % (int32_t)b));
            cost = b ? s->t_div : s->t_div0; break;
        case OP_REMU: RD(b ? a % b : a); cost = b ? s->t_div : s->t_div0; break;
        case OP_FENCE: break;
        case OP_FENCEI: cost += s->t_jmp; break;
        case OP_CSRRW: case OP_CSRRS: case OP_CSRRC: case OP_CSRRWI: case OP_CSRRSI: case OP_CSRRCI: {
            uint32_t n = (uint32_t)d->imm & 0xfff, old, nv;
            int imm = d->op >= OP_CSRRWI;
            uint32_t src = imm ? d->rs1 : a;
            int kind = imm ? d->op - OP_CSRRWI : d->op - OP_CSRRW; /* 0 w, 1 s, 2 c */
            if (!csr_read(s, n, &old)) goto illegal;
            nv = kind == 0 ? src : kind == 1 ? (old | src) : (old & ~src);
            if ((kind == 0 || d->rs1 != 0) && !csr_write(s, n, nv)) goto illegal;
            RD(old);
            break;
        }
        case OP_ECALL:
            if (!s->asbuilt) { fault(s, FK_ECALL, pc); goto stop; }
            take_trap(s, 11, pc, 0); x[0] = 0; continue;
        case OP_EBREAK:
            if (!s->asbuilt) { fault(s, FK_EBREAK, pc); goto stop; }
            take_trap(s, 3, pc, pc); x[0] = 0; continue;
        case OP_MRET: {
            uint32_t mpie = s->mstatus & 0x80;
            s->mstatus = (s->mstatus & ~8u) | (mpie ? 8u : 0) | 0x80u;
            next = s->mepc; cost += s->t_jmp;
            update_event(s);
            break;
        }
        case OP_WFI:
            if (!(s->mie & mip_now(s))) {
                if (s->dev_on[DEV_TIMER] && (s->mie & (1u << 7))) {
                    uint64_t now = mtime_now(s);
                    if (s->mtimecmp > now + 1) cost += (uint32_t)(s->mtimecmp - now - 1);
                } else { fault(s, FK_WFI, pc); goto stop; }
            }
            break;
        case OP_NEUR_INIT: {
            static const int pos[4] = {27, 20, 13, 6};
            if (!s->ext_compat) goto illegal;
            uint32_t old = (uint32_t)s->cacc[0];
            for (int k = 0; k < 4; k++)
                s->cacc[k] = (int32_t)((uint32_t)sext(a >> (24 - 8 * k), 8) << ((b >> pos[k]) & 31));
            s->cmode = b & 7; s->cit = 3;
            RD(old); cost = s->t_cust; break;
        }
        case OP_NN_MAC: {
            int32_t add[4];
            if (!s->ext_compat) goto illegal;
            uint32_t old = (uint32_t)s->cacc[0];
            s->cit = (s->cit + 1) & 3;
            uint32_t m = s->cmode & 3; int sg = (s->cmode >> 2) & 1;
            if (m == 0) mac_lanes(a, b, 8, (int)s->cit, sg, 1, 0, add);
            else if (m == 1) mac_lanes(a, b, 8, 0, sg, 1, 1, add);
            else if (m == 2) mac_lanes(a, b, 4, (int)(s->cit & 1), sg, 1, 0, add);
            else mac_lanes(a, b, 2, 0, sg, 1, 0, add);
            for (int k = 0; k < 4; k++) s->cacc[k] = (int32_t)((uint32_t)s->cacc[k] + (uint32_t)add[k]);
            RD(old); cost = s->t_cust; break;
        }
        case OP_NEUR_RES:
            if (!s->ext_compat) goto illegal;
            RD(compat_res(s->cacc, a, b)); cost = s->t_res; break;
        case OP_XM_INIT: {
            if (!s->ext_xmpq) goto illegal;
            int p = d->f7 & 1;
            s->xacc[2 * p] = (int32_t)a; s->xacc[2 * p + 1] = (int32_t)b;
            cost = s->t_cust; break;
        }
        case OP_XM_MAC: {
            int32_t add[4];
            if (!s->ext_xmpq) goto illegal;
            uint32_t f7 = d->f7, wc = f7 & 3;
            if (wc == 3) mac_lanes(a, b, 8, 0, (f7 >> 2) & 1, 0, 1, add);
            else mac_lanes(a, b, wc == 0 ? 8 : wc == 1 ? 4 : 2, (int)((f7 >> 3) & 3), (f7 >> 2) & 1, 0, 0, add);
            for (int k = 0; k < 4; k++) s->xacc[k] = (int32_t)((uint32_t)s->xacc[k] + (uint32_t)add[k]);
            cost = s->t_cust; break;
        }
        case OP_XM_GET:
            if (!s->ext_xmpq) goto illegal;
            RD((uint32_t)s->xacc[d->f7 & 3]); cost = s->t_cust; break;
        case OP_XM_RQ:
            if (!s->ext_xmpq) goto illegal;
            RD(xm_rq(s->xacc[d->f7 & 3], d->f7, a, b)); cost = s->t_rq; break;
        default:
        illegal:
            if (!s->asbuilt) { fault(s, FK_ILLEGAL, pc); s->fault_insn = d->raw; goto stop; }
            take_trap(s, 2, pc, d->raw); x[0] = 0; continue;
        }
        x[0] = 0;
        if (tracing) {
            uint32_t i = s->trace_n++;
            s->tr_pc[i] = pc; s->tr_insn[i] = d->raw; s->tr_cyc[i] = cost;
        }
        s->pc = next;
        s->cycles += cost;
        s->instret++;
        if (UNLIKELY(s->halted)) { s->exit_code = EXIT_HALT; break; }
        if (tracing && s->trace_n >= s->trace_cap) { s->exit_code = EXIT_TRACE_FULL; break; }
        if (UNLIKELY(s->console_len >= s->console_cap)) { s->exit_code = EXIT_CONSOLE_FULL; break; }
    }
    return (int)s->exit_code;
stop:
    x[0] = 0;
    return (int)s->exit_code;
}

/* ---- exported API -------------------------------------------------------------------- */

EXPORT void *iss_new(void) { return calloc(1, sizeof(sim_t)); }

EXPORT void iss_free(void *p) {
    sim_t *s = (sim_t *)p;
    if (!s) return;
    for (uint32_t i = 0; i < s->nregions; i++) free(s->r[i].dc);
    free(s);
}

EXPORT int iss_add_region(void *p, uint32_t base, uint32_t size, uint8_t *mem) {
    sim_t *s = (sim_t *)p;
    if (s->nregions >= MAX_REGIONS) return -1;
    region_t *r = &s->r[s->nregions++];
    r->base = base; r->size = size; r->mem = mem; r->dc = NULL;
    return 0;
}

EXPORT void iss_set_device(void *p, int kind, uint32_t base, uint32_t size) {
    sim_t *s = (sim_t *)p;
    s->dev_on[kind] = 1; s->dev_base[kind] = base; s->dev_size[kind] = size;
}

/* cfg: asbuilt, fallback_mask, compat, xmpq, t_mem, t_mis, t_br, t_jmp, t_div, t_div0, t_cust, t_res, t_rq, t_mul */
EXPORT void iss_configure(void *p, const uint32_t *c) {
    sim_t *s = (sim_t *)p;
    s->asbuilt = c[0]; s->fallback_mask = c[1]; s->ext_compat = c[2]; s->ext_xmpq = c[3];
    s->t_mem = c[4]; s->t_mis = c[5]; s->t_br = c[6]; s->t_jmp = c[7]; s->t_div = c[8]; s->t_div0 = c[9];
    s->t_cust = c[10]; s->t_res = c[11]; s->t_rq = c[12]; s->t_mul = c[13];
    update_event(s);
}

EXPORT void iss_set_console(void *p, uint8_t *buf, uint32_t cap) {
    sim_t *s = (sim_t *)p;
    s->console = buf; s->console_cap = cap; s->console_len = 0;
}

EXPORT void iss_set_trace(void *p, uint32_t *pc, uint32_t *insn, uint32_t *cyc, uint32_t cap) {
    sim_t *s = (sim_t *)p;
    s->tr_pc = pc; s->tr_insn = insn; s->tr_cyc = cyc; s->trace_cap = cap; s->trace_n = 0;
}

/* State indices shared with fastsim.py. */
enum {
    S_X = 0, S_PC = 32, S_MSTATUS, S_MIE, S_MTVEC, S_MEPC, S_MCAUSE, S_MTVAL, S_MSCRATCH, S_MCOUNTINHIBIT, S_CPUCTRL,
    S_MCYCLE, S_MINSTRET, S_CYCLES, S_INSTRET, S_MTIME, S_MTIMECMP, S_CACC, S_CMODE = S_CACC + 4, S_CIT,
    S_XACC, S_HALTED = S_XACC + 4, S_EXIT, S_FKIND, S_FADDR, S_FPC, S_FINSN, S_UMCOUNT, S_UMN,
    S_UMLOG, S_CONSOLE_LEN = S_UMLOG + 4 * UNMAPPED_LOG, S_TRACE_N, S_COUNT
};

EXPORT uint64_t iss_get(void *p, int i) {
    sim_t *s = (sim_t *)p;
    if (i >= S_X && i < S_X + 32) return s->x[i];
    if (i >= S_CACC && i < S_CACC + 4) return (uint32_t)s->cacc[i - S_CACC];
    if (i >= S_XACC && i < S_XACC + 4) return (uint32_t)s->xacc[i - S_XACC];
    if (i >= S_UMLOG && i < S_UMLOG + 4 * UNMAPPED_LOG) {
        int j = (i - S_UMLOG) / 4, f = (i - S_UMLOG) % 4;
        return f == 0 ? s->um_kind[j] : f == 1 ? s->um_addr[j] : f == 2 ? s->um_pc[j] : s->um_target[j];
    }
    switch (i) {
    case S_PC: return s->pc;
    case S_MSTATUS: return s->mstatus;
    case S_MIE: return s->mie;
    case S_MTVEC: return s->mtvec;
    case S_MEPC: return s->mepc;
    case S_MCAUSE: return s->mcause;
    case S_MTVAL: return s->mtval;
    case S_MSCRATCH: return s->mscratch;
    case S_MCOUNTINHIBIT: return s->mcountinhibit;
    case S_CPUCTRL: return s->cpuctrl;
    case S_MCYCLE: return mcycle_now(s);
    case S_MINSTRET: return minstret_now(s);
    case S_CYCLES: return s->cycles;
    case S_INSTRET: return s->instret;
    case S_MTIME: return mtime_now(s);
    case S_MTIMECMP: return s->mtimecmp;
    case S_CMODE: return s->cmode;
    case S_CIT: return s->cit;
    case S_HALTED: return s->halted;
    case S_EXIT: return s->exit_code;
    case S_FKIND: return s->fault_kind;
    case S_FADDR: return s->fault_addr;
    case S_FPC: return s->fault_pc;
    case S_FINSN: return s->fault_insn;
    case S_UMCOUNT: return s->unmapped_count;
    case S_UMN: return s->unmapped_n;
    case S_CONSOLE_LEN: return s->console_len;
    case S_TRACE_N: return s->trace_n;
    }
    return 0;
}

EXPORT void iss_set(void *p, int i, uint64_t v) {
    sim_t *s = (sim_t *)p;
    if (i >= S_X && i < S_X + 32) { if (i) s->x[i] = (uint32_t)v; return; }
    switch (i) {
    case S_PC: s->pc = (uint32_t)v; break;
    case S_MTVEC: s->mtvec = (uint32_t)v; break;
    case S_CONSOLE_LEN: s->console_len = (uint32_t)v; break;
    case S_TRACE_N: s->trace_n = (uint32_t)v; break;
    }
}

EXPORT int iss_state_count(void) { return S_COUNT; }
EXPORT int iss_abi_version(void) { return 3; }

/* Run until halt, fault, ``max_instret`` retired instructions, or a full trace/console buffer. */
EXPORT int iss_run(void *p, uint64_t max_instret, int tracing) {
    sim_t *s = (sim_t *)p;
    if (s->halted) return EXIT_HALT;
    return tracing ? run_impl(s, max_instret, 1) : run_impl(s, max_instret, 0);
}
