// ============================================================================================
// sample.cl — one token per row of logits, as src/sampling.c draws it (sampling.h states
// the rules), in float64: temperature softmax, the top-p nucleus, the Philox exponential
// race (or greedy argmax) and the statistics of the renormalised distribution q
// (confidence q[token], entropy, top-1/top-2 margin). One work-group per request; each
// request brings its own row, temperature, top-p, seed and counter (the rows of a whole
// lockstep batch go in one launch); only (token, confidence, entropy, margin) per
// request leave the device.
//
// Nucleus without a sort. Ranks are (p desc, id asc); rank j is kept iff the running
// sum c_j <= top_p (rank 0 always). The first dropped element b splits the row:
// kept(i) <=> p_i > p_b || (p_i == p_b && i < b). It is found by a 16-way search over
// the bit patterns of p (positive doubles order as their bits): each pass sums p per
// bucket of the current key window and keeps the bucket where the sum of everything at
// or above it first exceeds top_p. Once the window holds at most SAMPLE_CAP elements
// they are ranked by counting in local memory and the running sum is continued through
// them one by one, as the host does; a window of one key (a tie group larger than the
// cap) is left to the host: the row comes back marked and src/devsample.c draws it from
// its logits with the host sampler.
// Pros: O(V) per pass, a handful of passes, no global sort. Cons: needs cl_khr_fp64;
// sums are taken in a fixed order (each item its own elements, then in item order, for a
// fixed work-group size), so they can differ from the host's sequential sums in the last
// bits (a token can differ only when a running sum is within rounding of top_p or
// two race values tie to ~1e-15).
// ============================================================================================

// Without float64 the family builds empty (didcl_ops_prepare builds every family; the
// host never asks such a device for sample_rows).
#if defined(cl_khr_fp64) || defined(__opencl_c_fp64)
#pragma OPENCL EXTENSION cl_khr_fp64 : enable

#ifndef SAMPLE_CAP
#define SAMPLE_CAP 256 // window size ranked in local memory
#endif
#define SAMPLE_WAYS 16  // buckets per search pass

// Philox4x32-10, as src/philox.c.
static uint4 philox4x32_10(uint4 c, uint2 k) {
    for (int round = 0; round < 10; round++) {
        const uint lo0 = 0xD2511F53u * c.s0, hi0 = mul_hi(0xD2511F53u, c.s0);
        const uint lo1 = 0xCD9E8D57u * c.s2, hi1 = mul_hi(0xCD9E8D57u, c.s2);
        c = (uint4)(hi1 ^ c.s1 ^ k.s0, lo1, hi0 ^ c.s3 ^ k.s1, lo0);
        k += (uint2)(0x9E3779B9u, 0xBB67AE85u);
    }
    return c;
}

// didcl_philox_uniform: 53 bits of words 0 and 1, times 2^-53.
static double philox_uniform(const uint4 ctr, const uint2 key) {
    const uint4 r = philox4x32_10(ctr, key);
    const ulong bits = ((ulong)r.s0 << 21) + (ulong)(r.s1 >> 11);
    return (double)bits / 9007199254740992.0;
}

// Rank order of the nucleus: (a, ia) before (b, ib).
static inline int before(double a, int ia, double b, int ib) {
    return a > b || (a == b && ia < ib);
}

// Work-group reductions: every item stores its value, item 0 combines them in item
// order (a fixed order on every device, and few barriers for CPU compilers to split at),
// every item gets the result.
static double wg_sum_d(double v, __local double *red) {
    const int lid = get_local_id(0), n = get_local_size(0);
    red[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid == 0) {
        double s = red[0];
        for (int i = 1; i < n; i++)
            s += red[i];
        red[n] = s;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    const double r = red[n];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

static int wg_sum_i(int v, __local int *red) {
    const int lid = get_local_id(0), n = get_local_size(0);
    red[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid == 0) {
        int s = 0;
        for (int i = 0; i < n; i++)
            s += red[i];
        red[n] = s;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    const int r = red[n];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

// Best (v, id) by `before`; an item with nothing passes (-1, INT_MAX).
static void wg_best(double *v, int *id, __local double *rv, __local int *ri) {
    const int lid = get_local_id(0), n = get_local_size(0);
    rv[lid] = *v;
    ri[lid] = *id;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid == 0) {
        for (int i = 1; i < n; i++)
            if (before(rv[i], ri[i], rv[0], ri[0])) {
                rv[0] = rv[i];
                ri[0] = ri[i];
            }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    *v = rv[0];
    *id = ri[0];
    barrier(CLK_LOCAL_MEM_FENCE);
}

// Exclusive prefix sum of one int per item, in item order; returns the total.
static int wg_scan_i(int v, int *excl, __local int *red) {
    const int lid = get_local_id(0), n = get_local_size(0);
    red[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid == 0) {
        int s = 0;
        for (int i = 0; i < n; i++) {
            const int c = red[i];
            red[i] = s;
            s += c;
        }
        red[n] = s;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    *excl = red[lid];
    const int total = red[n];
    barrier(CLK_LOCAL_MEM_FENCE);
    return total;
}

// Bucket edge j of the key window [lo, lo + w), w = q * SAMPLE_WAYS + rm:
// e_j = lo + floor(w * j / SAMPLE_WAYS), without overflow.
static inline ulong edge(const ulong lo, const ulong q, const ulong rm, const int j) {
    return lo + q * (ulong)j + rm * (ulong)j / SAMPLE_WAYS;
}

// The key window of the search, shared by the work-group: item 0 writes it between
// barriers, every item reads it, so each item holds only scalars copied from it. A
// __local argument, not a kernel-scope __local variable: PoCL 3.1 gave such a struct
// one copy per work-item (item 0's writes unseen by the others).
struct window {
    ulong lo, hi;  // keys [lo, hi) hold the first dropped element
    double base;   // G(hi): the mass of every element with key >= hi
    int count;     // elements with key in [lo, hi)
    int bnd_i;     // result: the first dropped element's id (INT_MAX: none; -3 host)
    double bnd_p;  // result: its p
};

// The first dropped element (pb, *ib) of the nucleus of p (V,) under top_p < 1, given
// the top element (p1, i1) with p1 <= top_p. *ib = INT_MAX when nothing is dropped,
// -3 when a tie group larger than SAMPLE_CAP straddles top_p (the host draws the row),
// -4 when the window outgrows the local arrays (an invariant broken: a kernel bug).
static double nucleus_boundary(__global const double *p, const int V, const double top_p,
                               const double p1, const int i1, int *ib, __local int *ri,
                               __local double *bs, __local int *bc, __local double *cp,
                               __local int *cid, __local double *sp, __local int *sid,
                               __local struct window *w) {
    const int lid = get_local_id(0), n = get_local_size(0);
    // invariant: G(lo) > top_p >= G(hi) = base, G(K) = sum of p with key >= K
    if (lid == 0) {
        w->lo = 1;
        w->hi = as_ulong(p1) + 1;
        w->base = 0.0;
        w->count = V;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    ulong lo = w->lo, hi = w->hi;
    int count = w->count;
    while (hi - lo > 1 && count > SAMPLE_CAP) { // uniform: every item read the same window
        const ulong q = (hi - lo) / SAMPLE_WAYS, rm = (hi - lo) % SAMPLE_WAYS;
        // each item sums its elements per bucket into its own column of bs/bc
        for (int j = 0; j < SAMPLE_WAYS; j++) {
            bs[j * n + lid] = 0.0;
            bc[j * n + lid] = 0;
        }
        for (int i = lid; i < V; i += n) {
            const ulong k = as_ulong(p[i]);
            if (k < lo || k >= hi)
                continue;
            int j = SAMPLE_WAYS - 1;
            while (edge(lo, q, rm, j) > k)
                j--;
            bs[j * n + lid] += p[i];
            bc[j * n + lid]++;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        // bucket sums in item order: item j adds up bucket j (and j + n, ... when the
        // work-group is smaller than SAMPLE_WAYS)
        for (int j = lid; j < SAMPLE_WAYS; j += n) {
            double t = 0.0;
            int c = 0;
            for (int i = 0; i < n; i++) {
                t += bs[j * n + i];
                c += bc[j * n + i];
            }
            bs[j * n] = t;
            bc[j * n] = c;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        // from the top: keep the highest bucket whose G exceeds top_p (rounding may leave
        // none: then the lowest, as the invariant says)
        if (lid == 0) {
            double g = w->base;
            for (int j = SAMPLE_WAYS - 1; j >= 0; j--) {
                const double sj = bs[j * n];
                if (g + sj > top_p || j == 0) {
                    w->lo = edge(lo, q, rm, j);
                    w->hi = j + 1 < SAMPLE_WAYS ? edge(lo, q, rm, j + 1) : hi;
                    w->base = g;
                    w->count = bc[j * n];
                    break;
                }
                g += sj;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        lo = w->lo;
        hi = w->hi;
        count = w->count;
    }
    if (count <= SAMPLE_CAP) {
        // gather the window (each item's members after those of lower items)
        int mine = 0, off;
        for (int i = lid; i < V; i += n) {
            const ulong k = as_ulong(p[i]);
            mine += k >= lo && k < hi;
        }
        const int total = wg_scan_i(mine, &off, ri);
        if (total > SAMPLE_CAP) { // cannot happen: total == count
            if (lid == 0) {
                w->bnd_p = 0.0;
                w->bnd_i = -4;
            }
        } else {
            for (int i = lid; i < V; i += n) {
                const ulong k = as_ulong(p[i]);
                if (k >= lo && k < hi) {
                    cp[off] = p[i];
                    cid[off++] = i;
                }
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            // rank by counting, then place in rank order
            for (int a = lid; a < total; a += n) {
                int rank = 0;
                for (int b = 0; b < total; b++)
                    rank += before(cp[b], cid[b], cp[a], cid[a]);
                sp[rank] = cp[a];
                sid[rank] = cid[a];
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            if (lid == 0) {
                double cum = w->base;
                w->bnd_p = 0.0;
                w->bnd_i = INT_MAX; // nothing crossed (rounding): the whole window stays
                for (int j = 0; j < total; j++) {
                    cum += sp[j];
                    if (cum > top_p) {
                        w->bnd_p = sp[j];
                        w->bnd_i = sid[j];
                        break;
                    }
                }
                if (w->bnd_i == INT_MAX && total > 0) { // keep down to the window's last
                    w->bnd_p = sp[total - 1];
                    w->bnd_i = sid[total - 1] + 1;
                }
            }
        }
    } else if (lid == 0) {
        // one key, more than SAMPLE_CAP members (a tie group across top_p): left to the
        // host, which draws such a row from its logits
        w->bnd_p = 0.0;
        w->bnd_i = -3;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    const double pb = w->bnd_p;
    *ib = w->bnd_i;
    if (pb == p1 && *ib == i1) // rank 0 always stays
        *ib = i1 + 1;
    barrier(CLK_LOCAL_MEM_FENCE); // w is written again by the next request's search
    return pb;
}

// One draw request, as struct didcl_devsample_req in src/devsample.c (48 bytes).
typedef struct {
    double inv_t;     // 1 / temperature (1 when greedy)
    double top_p;     // (0, 1]
    int row;          // row of logits
    uint ctr[3];      // Philox counter words 0, 1, 2 (word 3 is the token id)
    uint seed[2];     // Philox key: the seed, low word first
    int greedy;       // temperature 0: argmax, no race
    int pad;
} sample_req;

// One draw per request, one work-group each. out[r] = (token, confidence, entropy,
// margin); token -1: a NaN logit, -2: no finite logit outside excl, -3: a tie group of
// more than SAMPLE_CAP members straddles top_p (the host draws the row), -4: an internal
// invariant failed (a kernel bug, reported as such).
__kernel void sample_rows(const int R,                   // requests
                          const int V,                   // vocabulary
                          const int excl,                // excluded id (the mask), or -1
                          __global const float *logits,  // (rows, V)
                          __global const sample_req *req, // (R,)
                          __global double *prob,         // (R, V) scratch
                          __global double *out,          // (R, 4)
                          __local double *rd,            // (local size + 1,)
                          __local int *ri,               // (local size + 1,)
                          __local double *bs,            // (SAMPLE_WAYS * local size,)
                          __local int *bc,               // (SAMPLE_WAYS * local size,)
                          __local double *cp,            // (SAMPLE_CAP,) window values
                          __local int *cid,              // (SAMPLE_CAP,) window ids
                          __local double *sp,            // (SAMPLE_CAP,) ranked values
                          __local int *sid,              // (SAMPLE_CAP,) ranked ids
                          __local struct window *win) {  // (1,) the search's state
    const int r = get_group_id(0);
    if (r >= R)
        return;
    const int lid = get_local_id(0), n = get_local_size(0);
    const sample_req rq = req[r];
    __global const float *x = logits + (size_t)rq.row * V;
    __global double *p = prob + (size_t)r * V;
    __global double *o = out + 4 * r;

    // max outside excl; any NaN fails the row (as the host does)
    double m = -INFINITY;
    int nan = 0;
    for (int i = lid; i < V; i += n) {
        const float xi = x[i];
        nan |= isnan(xi);
        if (i != excl && xi > m)
            m = xi;
    }
    int dummy = INT_MAX;
    wg_best(&m, &dummy, rd, ri); // the max (ids all equal)
    nan = wg_sum_i(nan, ri);
    if (nan || isinf(m)) {
        if (lid == 0) {
            o[0] = nan ? -1.0 : -2.0;
            o[1] = o[2] = o[3] = 0.0;
        }
        return;
    }
    // softmax in float64
    double z = 0.0;
    for (int i = lid; i < V; i += n) {
        const double e = i == excl ? 0.0 : exp(((double)x[i] - m) * rq.inv_t);
        p[i] = e;
        z += e;
    }
    z = wg_sum_d(z, rd);
    double p1 = -1.0;
    int i1 = INT_MAX;
    for (int i = lid; i < V; i += n) {
        const double q = p[i] / z;
        p[i] = q;
        if (before(q, i, p1, i1)) {
            p1 = q;
            i1 = i;
        }
    }
    wg_best(&p1, &i1, rd, ri);
    barrier(CLK_GLOBAL_MEM_FENCE); // p is read across items below
    // nucleus: kept(i) <=> p_i > pb || (p_i == pb && i < ib)
    double pb = 0.0;
    int ib = 0; // top_p >= 1: every p > 0
    if (rq.top_p < 1.0) {
        if (p1 > rq.top_p) {
            pb = p1;
            ib = i1 + 1;
        } else {
            pb = nucleus_boundary(p, V, rq.top_p, p1, i1, &ib, ri, bs, bc, cp, cid, sp, sid,
                                  win);
            if (ib < 0) { // -3: the host draws this row; -4: reported
                if (lid == 0)
                    o[0] = (double)ib;
                return;
            }
        }
    }
    // kept mass and the second rank
    double mass = 0.0, p2 = -1.0;
    int i2 = INT_MAX;
    for (int i = lid; i < V; i += n) {
        const double q = p[i];
        if (q > 0.0 && before(q, i, pb, ib)) {
            mass += q;
            if (i != i1 && before(q, i, p2, i2)) {
                p2 = q;
                i2 = i;
            }
        }
    }
    mass = wg_sum_d(mass, rd);
    wg_best(&p2, &i2, rd, ri);
    // entropy of q = p / mass, and the race over the kept ids (greedy: rank 0, no race)
    const uint4 ctr = (uint4)(rq.ctr[0], rq.ctr[1], rq.ctr[2], 0u);
    const uint2 key = (uint2)(rq.seed[0], rq.seed[1]);
    double ent = 0.0, best = -1.0;
    int bi = INT_MAX;
    for (int i = lid; i < V; i += n) {
        const double pi = p[i];
        if (!(pi > 0.0 && before(pi, i, pb, ib)))
            continue;
        const double q = pi / mass;
        if (q > 0.0)
            ent -= q * log(q);
        if (!rq.greedy) {
            uint4 c = ctr;
            c.s3 = (uint)i;
            const double u = philox_uniform(c, key);
            const double rr = q / (-log(u + 1e-10) + 1e-10);
            if (before(rr, i, best, bi)) {
                best = rr;
                bi = i;
            }
        }
    }
    ent = wg_sum_d(ent, rd);
    if (!rq.greedy)
        wg_best(&best, &bi, rd, ri);
    if (lid == 0) {
        const int tok = rq.greedy ? i1 : bi;
        if (tok < 0 || tok >= V) { // an empty nucleus: cannot happen (rank 0 stays)
            o[0] = -4.0;
        } else {
            o[0] = (double)tok;
            o[1] = p[tok] / mass;
            o[2] = ent;
            o[3] = p1 / mass - (i2 != INT_MAX ? p2 / mass : 0.0);
        }
    }
}

#endif // cl_khr_fp64
