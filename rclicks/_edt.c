/* The click protocol's hot loops in C: exact distances of error regions, flat indices of a
 * mask, and the clicking-group slice of a density. Every function releases the GIL while it
 * computes (scratch memory is per thread), so the trajectories of a click step run on several
 * threads; every result is bit-identical to the NumPy formulation it replaces
 * (tests/test_clicks.py compares them).
 *
 * region(idx, width, out): exact Euclidean distance transform of a region (Meijster, Roerdink
 * & Hesselink, 2000). idx holds the ascending flat indices (int64) of a region's pixels in an
 * image of the given width; out (float32, one per index) receives each pixel's distance to the
 * nearest pixel outside the region, the area beyond the image counting as outside (the
 * protocol's one-pixel zero ring), as (float)sqrt(squared distance). The work is done on the
 * region's bounding box, which gives the same result as the whole padded image: a pixel of the
 * ring just outside the box is at least as close as anything beyond it. Squared distances are
 * integers, so the result is exact and the same on every call.
 *
 * The first pass (vertical distances) scans the whole box; the second pass works run by run:
 * inside a row, the nearest outside pixel of a run's pixel is either a run end (distance
 * along the row) or reached through a column of that run, so each run's lower envelope is
 * built from its own columns only.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

/* pass 1 on the columns [c0, c1): g = vertical distance to the nearest outside pixel (capped
   by the ring) */
static void columns(const uint8_t *m, int h, int w, int32_t *g, int c0, int c1)
{
    for (int x = c0; x < c1; x++)
        g[x] = m[x] != 0;
    for (int y = 1; y < h; y++) {
        const uint8_t *restrict row = m + (int64_t)y * w;
        int32_t *restrict gr = g + (int64_t)y * w;
        const int32_t *restrict gp = gr - w;
        for (int x = c0; x < c1; x++)
            gr[x] = (gp[x] + 1) & -(int32_t)(row[x] != 0);
    }
    {
        int32_t *restrict gl = g + (int64_t)(h - 1) * w;
        for (int x = c0; x < c1; x++)
            gl[x] = gl[x] < 1 ? gl[x] : 1;
    }
    for (int y = h - 2; y >= 0; y--) {
        int32_t *restrict gr = g + (int64_t)y * w;
        const int32_t *restrict gn = gr + w;
        for (int x = c0; x < c1; x++) {
            int32_t d = gn[x] + 1;
            gr[x] = gr[x] < d ? gr[x] : d;
        }
    }
}

/* 1 / d for d = 1 .. n - 1 (entry 0 unused), shared by every thread and only ever grown: a
   larger table replaces the pointer and the older ones stay allocated for any thread still
   reading them (a few, as the table at least doubles). NULL when out of memory. */
static const double *volatile s_recip = NULL;
static int64_t s_recip_size = 0;
static pthread_mutex_t s_recip_lock = PTHREAD_MUTEX_INITIALIZER;

static const double *reciprocals(int64_t n)
{
    pthread_mutex_lock(&s_recip_lock);
    if (n > s_recip_size) {
        int64_t size = n > 2 * s_recip_size ? n : 2 * s_recip_size;
        double *t = malloc((size_t)size * sizeof(double));
        if (t) {
            t[0] = 0.0;
            for (int64_t i = 1; i < size; i++)
                t[i] = 1.0 / (double)i;
            s_recip = t;
            s_recip_size = size;
        }
    }
    const double *out = n <= s_recip_size ? s_recip : NULL;
    pthread_mutex_unlock(&s_recip_lock);
    return out;
}

/* sqrtf of an exact float is the correctly rounded root, the same as rounding the double root
   (53 >= 2 * 24 + 2 bits); whole numbers from 2^24 on go through double */
static float root(int64_t d2)
{
    return d2 < (1 << 24) ? sqrtf((float)d2) : (float)sqrt((double)d2);
}

/* pass 2 on the rows [r0, r1): g becomes the squared distance, or, with out, the distances of
   the rows' region pixels go to out in row-major order (g then holds their squares); v, z:
   scratch of w + 2 and 2 w + 4 entries; rec: reciprocals() of at least 2 w + 4 entries; hist
   (or NULL): counts of the squared distances, each pixel's one incremented (it must hold them
   all), and *top the largest one seen */
static void rows(int w, int32_t *g, int r0, int r1, int32_t *v, int64_t *z, const double *rec,
                 float *out, uint32_t *hist, int64_t *top)
{
    /* per row, per run [a, b] of inside pixels: the lower envelope of the parabolas
       (x - q)^2 + g(q)^2 over the run's columns and the two outside pixels a - 1 and b + 1
       (g = 0) that end it, restricted to the integers of the run (Meijster et al.). Stack
       entry i holds the column v[i], c[i] = g(v[i])^2 + v[i]^2 and the first integer z[i]
       from which it is the lowest. */
    int64_t *c = z + w + 2, largest = 0;
    for (int y = r0; y < r1; y++) {
        int32_t *gr = g + (int64_t)y * w;
        int x = 0;
        while (x < w) {
            if (gr[x] == 0) {
                x++;
                continue;
            }
            int a = x, k = 0;
            v[0] = a - 1;
            c[0] = (int64_t)(a - 1) * (a - 1);
            z[0] = INT64_MIN;
            /* the run's columns, then the outside pixel that ends it (g = 0, or beyond the
               box); b, the run's last pixel, is known once that pixel is reached, and until
               then it is at most the box's last column (so the stack keeps at most one entry
               per column past a - 1, w + 1 in all, and z[k + 1] stays in z) */
            int64_t b = w - 1, q = a;
            for (;; q++) {
                int64_t gq = q < w ? gr[q] : 0;
                if (!gq) b = q - 1;
                int64_t cq = gq * gq + q * q;
                for (;;) {
                    int64_t num = cq - c[k], den = 2 * (q - v[k]);
                    /* s = the first integer where parabola q is at or below the top one,
                       ceil(num / den); the top one goes when s <= z[k], that is when
                       num <= z[k] * den (no division on that test) */
                    if (k > 0 && num <= z[k] * den) {
                        k--;
                        continue;
                    }
                    /* ceil(num / den), exactly, without a division: num times the double
                       reciprocal of den is within far less than 1 / den of num / den (|num| <
                       2^52), so its ceiling is ceil(num / den), or one more when num / den is
                       a whole number that the product overshoots, which the integer test puts
                       right */
                    double qd = (double)num * rec[den];
                    int64_t s = (int64_t)qd;
                    s += (double)s < qd; /* the ceiling of qd */
                    s -= (s - 1) * den >= num;
                    if (s <= b) { /* else q is the lowest at no pixel of the run */
                        k++;
                        v[k] = (int32_t)q;
                        c[k] = cq;
                        z[k] = s;
                    }
                    break;
                }
                if (!gq) break;
            }
            /* read the envelope back, the squares to g: every z[i] (i >= 1) is a pixel of the
               run and they increase, so each pixel moves at most one entry on */
            z[k + 1] = INT64_MAX;
            int64_t j = 0, most = 0;
            for (int64_t xx = a; xx <= b; xx++) {
                j += z[j + 1] <= xx;
                int64_t d2 = c[j] + xx * (xx - 2 * (int64_t)v[j]);
                gr[xx] = (int32_t)d2;
                most = d2 > most ? d2 : most;
            }
            x = (int)b + 2; /* past the outside pixel b + 1 */
            int n = (int)(b + 1 - a);
            if (out) {
                if (most < (1 << 24)) /* exact floats: sqrtf is the correctly rounded root */
                    for (int i = 0; i < n; i++) out[i] = sqrtf((float)gr[a + i]);
                else
                    for (int i = 0; i < n; i++) out[i] = root(gr[a + i]);
                out += n;
            }
            if (hist) {
                for (int i = 0; i < n; i++) hist[gr[a + i]]++;
                largest = most > largest ? most : largest;
            }
        }
    }
    if (top) *top = largest;
}

/* A slot of the table of distinct values (see count_distinct). */
typedef struct Slot {
    uint32_t key, count;
} Slot;

/* Per-thread scratch memory, grown as needed and kept between calls; freed when the thread
   ends. */
typedef struct {
    uint8_t *mask;
    int32_t *g;
    size_t cells;
    int32_t *v;
    int64_t *z;
    size_t width;
    uint32_t *a, *b;
    float *c, *d;
    size_t n;
    struct Slot *table; /* the hash table of distinct values */
    struct Slot *squares; /* the square buckets of distinct values, all empty between calls */
    size_t n_squares;
    uint32_t *hist; /* counts of squared distances (Counted), all zero between calls */
    size_t n_hist;
} Scratch;

static pthread_key_t s_key;

static void scratch_free(void *p)
{
    Scratch *s = p;
    if (!s) return;
    free(s->mask);
    free(s->g);
    free(s->v);
    free(s->z);
    free(s->a);
    free(s->b);
    free(s->c);
    free(s->d);
    free(s->table);
    free(s->squares);
    free(s->hist);
    free(s);
}

static Scratch *scratch(void)
{
    Scratch *s = pthread_getspecific(s_key);
    if (!s) {
        s = calloc(1, sizeof(Scratch));
        if (s && pthread_setspecific(s_key, s)) {
            free(s);
            s = NULL;
        }
    }
    return s;
}

static int reserve_box(Scratch *s, size_t cells, size_t width)
{
    if (cells > s->cells) {
        free(s->mask);
        free(s->g);
        s->mask = malloc(cells);
        s->g = malloc(cells * sizeof(int32_t));
        s->cells = (s->mask && s->g) ? cells : 0;
        if (!s->cells) return -1;
    }
    if (width > s->width) {
        free(s->v);
        free(s->z);
        s->v = malloc((width + 2) * sizeof(int32_t));
        s->z = malloc((2 * width + 4) * sizeof(int64_t));
        s->width = (s->v && s->z) ? width : 0;
        if (!s->width) return -1;
    }
    return 0;
}

static int reserve_values(Scratch *s, size_t n)
{
    if (n > s->n) {
        free(s->a);
        free(s->b);
        free(s->c);
        free(s->d);
        s->a = malloc(n * sizeof(uint32_t));
        s->b = malloc(n * sizeof(uint32_t));
        s->c = malloc(n * sizeof(float));
        s->d = malloc(n * sizeof(float));
        s->n = (s->a && s->b && s->c && s->d) ? n : 0;
        if (!s->n) return -1;
    }
    return 0;
}

/* -- work split over threads ----------------------------------------------------------------
   parallel(fn, ctx, n, threads) runs fn(ctx, from, to, t) on `threads` consecutive parts of
   [0, n), part 0 on the calling thread; a part whose thread cannot start runs there too. */
#define MAX_THREADS 64

typedef void (*part_fn)(void *ctx, int64_t from, int64_t to, int t);

typedef struct {
    part_fn fn;
    void *ctx;
    int64_t from, to;
    int t;
} Job;

static void *job_main(void *arg)
{
    Job *j = arg;
    j->fn(j->ctx, j->from, j->to, j->t);
    return NULL;
}

static void parallel(part_fn fn, void *ctx, int64_t n, int threads)
{
    if (threads > n) threads = (int)n;
    if (threads <= 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    Job jobs[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    int ok[MAX_THREADS] = {0};
    for (int t = 0; t < threads; t++)
        jobs[t] = (Job){fn, ctx, n * t / threads, n * (t + 1) / threads, t};
    for (int t = 1; t < threads; t++)
        ok[t] = !pthread_create(&ids[t], NULL, job_main, &jobs[t]);
    job_main(&jobs[0]);
    for (int t = 1; t < threads; t++) {
        if (ok[t]) pthread_join(ids[t], NULL);
        else job_main(&jobs[t]);
    }
}

/* One region's transform: the parts below walk the ascending indices row by row (no division
   per pixel); a pixel of image row y sits at mask[idx - off(y)] with off(y) = y * width + x0
   - (y - y0) * w. */
typedef struct {
    const int64_t *idx;
    int64_t width, y0, x0, w, h;
    uint8_t *mask;
    int32_t *g, *vs;
    int64_t *zs;
    float *dist;
    const double *rec; /* reciprocals() for the second pass */
    int64_t xmin[MAX_THREADS], xmax[MAX_THREADS];
    int64_t start[MAX_THREADS + 1]; /* box regions: the first output of each part's rows */
    const int64_t *before; /* box regions, or NULL: the region's pixels before each row */
    uint32_t *hist; /* counts of squared distances, hist_size per part, or NULL */
    int64_t hist_size, top[MAX_THREADS];
} Region;

static void part_xrange(void *ctx, int64_t from, int64_t to, int t)
{
    Region *r = ctx;
    const int64_t *idx = r->idx, width = r->width;
    int64_t rs = idx[from] / width * width, lo = width, hi = 0;
    for (int64_t i = from; i < to; i++) {
        while (idx[i] >= rs + width) rs += width;
        int64_t x = idx[i] - rs;
        if (x < lo) lo = x;
        if (x >= hi) hi = x + 1;
    }
    r->xmin[t] = lo;
    r->xmax[t] = hi;
}

static void part_clear(void *ctx, int64_t from, int64_t to, int t)
{
    Region *r = ctx;
    memset(r->mask + from * r->w, 0, (size_t)((to - from) * r->w));
}

static int64_t row_offset(const Region *r, int64_t y)
{
    return y * r->width + r->x0 - (y - r->y0) * r->w;
}

static void part_scatter(void *ctx, int64_t from, int64_t to, int t)
{
    Region *r = ctx;
    const int64_t *idx = r->idx, width = r->width;
    int64_t y = idx[from] / width, rs = y * width, off = row_offset(r, y), step = width - r->w;
    for (int64_t i = from; i < to; i++) {
        while (idx[i] >= rs + width) {
            rs += width;
            off += step;
        }
        r->mask[idx[i] - off] = 1;
    }
}

static void part_columns(void *ctx, int64_t from, int64_t to, int t)
{
    Region *r = ctx;
    columns(r->mask, (int)r->h, (int)r->w, r->g, (int)from, (int)to);
}

static void part_rows(void *ctx, int64_t from, int64_t to, int t)
{
    Region *r = ctx;
    rows((int)r->w, r->g, (int)from, (int)to, r->vs + (size_t)t * (r->w + 2),
         r->zs + (size_t)t * (2 * r->w + 4), r->rec, r->dist + r->start[t],
         r->hist ? r->hist + (size_t)t * r->hist_size : NULL, &r->top[t]);
}

/* A region's box, ready for the second pass: its rows and columns, the mask, the first pass
   done, and one thread's scratch rows. */
static int region_prepare(Region *r, Scratch *s, Py_ssize_t n, int threads, int first_pass)
{
    const int64_t *idx = r->idx, width = r->width;
    r->y0 = idx[0] / width;
    r->h = idx[n - 1] / width + 1 - r->y0;
    int parts = threads < n ? threads : (int)n;
    parallel(part_xrange, r, n, parts);
    int64_t x0 = width, x1 = 0;
    for (int t = 0; t < parts; t++) {
        if (r->xmin[t] < x0) x0 = r->xmin[t];
        if (r->xmax[t] > x1) x1 = r->xmax[t];
    }
    r->x0 = x0;
    r->w = x1 - x0;
    if (r->h > INT32_MAX || r->w > INT32_MAX ||
        reserve_box(s, (size_t)(r->h * r->w), (size_t)r->w) < 0)
        return -1;
    r->mask = s->mask;
    r->g = s->g;
    r->vs = s->v;
    r->zs = s->z;
    r->rec = reciprocals(2 * r->w + 4);
    if (!r->rec) return -1;
    parallel(part_clear, r, r->h, threads);
    parallel(part_scatter, r, n, threads);
    if (first_pass) parallel(part_columns, r, r->w, threads);
    return 0;
}

/* The same for a region given as a mask over an h x w box (any box holding the region: the
   distances do not depend on it), read in place. */
static int region_prepare_box(Region *r, Scratch *s, const uint8_t *mask, int64_t h, int64_t w,
                              int threads, int first_pass)
{
    r->h = h;
    r->w = w;
    if (h > INT32_MAX || w > INT32_MAX || reserve_box(s, (size_t)(h * w), (size_t)w) < 0)
        return -1;
    r->mask = (uint8_t *)mask; /* only read */
    r->g = s->g;
    r->vs = s->v;
    r->zs = s->z;
    r->rec = reciprocals(2 * w + 4);
    if (!r->rec) return -1;
    if (first_pass) parallel(part_columns, r, w, threads);
    return 0;
}

static int64_t count_box(const uint8_t *m, int64_t cells)
{
    int64_t n = 0, i = 0;
    for (; i + 8 <= cells; i += 8) {
        uint64_t word;
        memcpy(&word, m + i, 8);
        if (word) /* the non-zero bytes, whatever their values */
            for (int b = 0; b < 8; b++) n += ((word >> (8 * b)) & 0xff) != 0;
    }
    for (; i < cells; i++) n += m[i] != 0;
    return n;
}

/* before[y] = the non-zero pixels of the h x w box mask m in the rows above row y (h + 1
   entries: the last one is the total). */
static void row_starts(const uint8_t *m, int64_t h, int64_t w, int64_t *before)
{
    before[0] = 0;
    for (int64_t y = 0; y < h; y++) before[y + 1] = before[y] + count_box(m + y * w, w);
}

static void part_count_box(void *ctx, int64_t from, int64_t to, int t)
{
    Region *r = ctx;
    r->start[t + 1] = count_box(r->mask + from * r->w, (to - from) * r->w);
}

/* A region's distinct squared distances and how many of its pixels have each: n pairs
   (d2, count), d2 ascending, in pairs (malloc'ed, the caller frees it). */
typedef struct {
    uint32_t *pairs;
    size_t n;
} Counted;

/* The second pass of a prepared region, each part writing its rows' distances from the
   first output of its rows (the region's pixels in the rows before them), and, with counted,
   counting the squared distances in s's zeroed counts (one array per part; none is above m^2
   for m = (min(h, w) + 1) / 2, the farthest a box pixel can be from the ring around the box);
   0, or -1 when out of memory. */
static int region_finish(Region *r, int threads, Scratch *s, Counted *counted)
{
    if (threads > r->h) threads = (int)r->h;
    if (counted) {
        int64_t m = ((r->h < r->w ? r->h : r->w) + 1) / 2;
        size_t size = (size_t)(m * m + 1), need = size * (size_t)threads;
        if (need > s->n_hist) {
            free(s->hist);
            s->hist = calloc(need, sizeof(uint32_t));
            s->n_hist = s->hist ? need : 0;
            if (!s->hist) return -1;
        }
        r->hist = s->hist;
        r->hist_size = (int64_t)size;
    }
    if (threads > 1) { /* the second pass needs scratch rows per thread */
        r->vs = malloc((size_t)threads * (r->w + 2) * sizeof(int32_t));
        r->zs = malloc((size_t)threads * (2 * (size_t)r->w + 4) * sizeof(int64_t));
        if (!r->vs || !r->zs) {
            free(r->vs);
            free(r->zs);
            return -1;
        }
    }
    if (r->before) /* the parts of parallel() below */
        for (int t = 0; t <= threads; t++) r->start[t] = r->before[r->h * t / threads];
    else {
        parallel(part_count_box, r, r->h, threads);
        r->start[0] = 0;
        for (int t = 1; t <= threads; t++) r->start[t] += r->start[t - 1];
    }
    parallel(part_rows, r, r->h, threads);
    if (threads > 1) {
        free(r->vs);
        free(r->zs);
    }
    if (!counted) return 0;
    /* the parts' counts, added up and cleared */
    int64_t top = 0;
    for (int t = 0; t < threads; t++) top = r->top[t] > top ? r->top[t] : top;
    uint32_t *pairs = malloc((2 * (size_t)(top + 1)) * sizeof(uint32_t));
    if (!pairs) {
        for (int t = 0; t < threads; t++)
            memset(r->hist + t * r->hist_size, 0, (size_t)(top + 1) * sizeof(uint32_t));
        return -1;
    }
    size_t n = 0;
    for (int64_t d2 = 0; d2 <= top; d2++) {
        uint32_t c = 0;
        for (int t = 0; t < threads; t++) {
            uint32_t *h = r->hist + t * r->hist_size + d2;
            c += *h;
            *h = 0;
        }
        if (c) {
            pairs[2 * n] = (uint32_t)d2;
            pairs[2 * n + 1] = c;
            n++;
        }
    }
    counted->pairs = pairs;
    counted->n = n;
    return 0;
}

/* This thread's scratch (NULL when out of memory), with *threads brought into 1 .. MAX_THREADS. */
static Scratch *scratch_for(int *threads)
{
    if (*threads > MAX_THREADS) *threads = MAX_THREADS;
    if (*threads < 1) *threads = 1;
    return scratch();
}

/* The distances of one region on `threads` threads; 0 on success, -1 when out of memory. */
static int region_distances(const int64_t *idx, Py_ssize_t n, int64_t width, float *dist,
                            int threads, Counted *counted)
{
    Scratch *s = scratch_for(&threads);
    if (!s) return -1;
    Region r = {.idx = idx, .width = width, .dist = dist};
    if (region_prepare(&r, s, n, threads, 1) < 0) return -1;
    return region_finish(&r, threads, s, counted);
}

static int box_distances(const uint8_t *mask, int64_t h, int64_t w, const int64_t *before,
                         float *dist, int threads, Counted *counted)
{
    Scratch *s = scratch_for(&threads);
    if (!s) return -1;
    Region r = {.dist = dist, .before = before};
    if (region_prepare_box(&r, s, mask, h, w, threads, 1) < 0) return -1;
    return region_finish(&r, threads, s, counted);
}

typedef struct RowBound {
    double bound; /* no pixel of the row is farther than this from the outside */
    int64_t row;
} RowBound;

/* Upper bounds of the distances, row by row, from a coarse grid: cells of CELL × CELL box
   pixels, a cell "full" when all its pixels are in the region (one 8-byte load per cell row).
   Let c be a pixel's cell and D the distance, in cells, from c to the nearest cell that is not
   full (the exact transform of the small grid, whose ring of cells beyond the box is not full:
   every pixel beyond the box is outside). That cell holds an outside pixel, and a pixel is at
   most (CELL - 1) / sqrt 2 from its cell's centre, so the pixel's distance is at most
   CELL D + sqrt 2 (CELL - 1). 0 on success, -1 when out of memory. */
#define CELL 8

static int coarse_bounds(const Region *r, RowBound *order)
{
    int64_t hc = (r->h + CELL - 1) / CELL, wc = (r->w + CELL - 1) / CELL;
    int64_t H = hc + 2, W = wc + 2;
    uint8_t *full = calloc((size_t)(H * W), 1);
    int32_t *g = malloc((size_t)(H * W) * sizeof(int32_t));
    int32_t *v = malloc((size_t)(W + 2) * sizeof(int32_t));
    int64_t *z = malloc((size_t)(2 * W + 4) * sizeof(int64_t));
    const double *rec = reciprocals(2 * W + 4);
    if (!full || !g || !v || !z || !rec) {
        free(full);
        free(g);
        free(v);
        free(z);
        return -1;
    }
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    int64_t whole = r->w / CELL; /* cells whose pixels all lie inside the box, per cell row */
    for (int64_t cy = 0; cy < hc; cy++) {
        uint8_t *fr = full + (cy + 1) * W + 1;
        if ((cy + 1) * CELL > r->h) continue; /* a partial cell row: not full */
        for (int64_t cx = 0; cx < whole; cx++) fr[cx] = 1;
        for (int64_t y = cy * CELL; y < (cy + 1) * CELL; y++) {
            const uint8_t *row = r->mask + y * r->w;
            for (int64_t cx = 0; cx < whole; cx++) {
                uint64_t word;
                memcpy(&word, row + cx * CELL, 8);
                fr[cx] &= !((word - ones) & ~word & highs); /* no zero byte */
            }
        }
    }
    columns(full, (int)H, (int)W, g, 0, (int)W);
    rows((int)W, g, 0, (int)H, v, z, rec, NULL, NULL, NULL);
    for (int64_t cy = 0; cy < hc; cy++) {
        int32_t m = 0;
        const int32_t *gr = g + (cy + 1) * W + 1;
        for (int64_t cx = 0; cx < wc; cx++) m = gr[cx] > m ? gr[cx] : m;
        /* a hair above the exact bound, so that rounding never cuts it below */
        double bound = CELL * sqrt((double)m) + 1.4142135623730951 * (CELL - 1) + 1e-6;
        for (int64_t y = cy * CELL; y < (cy + 1) * CELL && y < r->h; y++)
            order[y] = (RowBound){bound, y};
    }
    free(full);
    free(g);
    free(v);
    free(z);
    return 0;
}

static int by_bound(const void *a, const void *b)
{
    const RowBound *x = a, *y = b;
    if (x->bound != y->bound) return x->bound < y->bound ? 1 : -1;
    return x->row < y->row ? -1 : x->row > y->row;
}

/* The runs of a box mask's columns: column x's runs, top to bottom, are the rows s[i] ..
   e[i] - 1 for i in first[x] .. first[x + 1] - 1. What the first pass (columns) finds for one
   row is then a look-up per column, so a search that visits a few rows reads the mask in one
   pass instead of writing and reading g for the whole box. */
typedef struct {
    int32_t *first, *s, *e;
} ColumnRuns;

static void column_runs_free(ColumnRuns *c)
{
    free(c->first);
    free(c->s);
    free(c->e);
    c->first = c->s = c->e = NULL;
}

/* Fill c from the h x w mask m (row -1 and row h count as outside) in one look at each row:
   runs start where a pixel is inside and the one above is not, and end where it is outside
   and the one above inside; rows equal to the one above, eight bytes at a time, hold neither.
   The changes are listed row by row (so each column's come top to bottom), then sorted into
   the columns by counting. 0; 1 when there are more than `most` changes (a ragged mask,
   whose rows are better had from the whole first pass); -1 when out of memory. */
static int column_runs(const uint8_t *m, int64_t h, int64_t w, size_t most, ColumnRuns *c)
{
    size_t cap = 4 * (size_t)w + 1024, n = 0;
    uint64_t *events = malloc(cap * sizeof(uint64_t)); /* (y << 32) | (x << 1) | inside */
    uint8_t *empty = calloc((size_t)w, 1);             /* rows -1 and h */
    c->first = calloc((size_t)w + 1, sizeof(int32_t));
    c->s = c->e = NULL;
    int32_t *at = NULL;
    if (!events || !empty || !c->first) goto fail;
    for (int64_t y = 0; y <= h; y++) {
        const uint8_t *cur = y < h ? m + y * w : empty, *prev = y ? m + (y - 1) * w : empty;
        int64_t x = 0;
        for (;;) {
            while (x + 8 <= w) { /* skip what equals the row above */
                uint64_t a, b;
                memcpy(&a, cur + x, 8);
                memcpy(&b, prev + x, 8);
                if (a != b) break;
                x += 8;
            }
            if (x >= w) break;
            if (n > most) {
                free(events);
                free(empty);
                column_runs_free(c);
                return 1;
            }
            if (n + 8 > cap) {
                uint64_t *more = realloc(events, 2 * cap * sizeof(uint64_t));
                if (!more) goto fail;
                events = more;
                cap *= 2;
            }
            int64_t stop = x + 8 < w ? x + 8 : w;
            for (; x < stop; x++) {
                int in = cur[x] != 0;
                if (in != (prev[x] != 0))
                    events[n++] = ((uint64_t)y << 32) | ((uint64_t)x << 1) | (uint64_t)in;
            }
        }
    }
    for (size_t i = 0; i < n; i++) c->first[((events[i] >> 1) & 0x7fffffffu) + 1] += events[i] & 1;
    for (int64_t x = 0; x < w; x++) c->first[x + 1] += c->first[x];
    size_t runs = c->first[w] ? (size_t)c->first[w] : 1;
    c->s = malloc(runs * sizeof(int32_t));
    c->e = malloc(runs * sizeof(int32_t));
    at = malloc(2 * (size_t)w * sizeof(int32_t));
    if (!c->s || !c->e || !at) goto fail;
    int32_t *at_e = at + w;
    for (int64_t x = 0; x < w; x++) at[x] = at_e[x] = c->first[x];
    for (size_t i = 0; i < n; i++) {
        int64_t x = (int64_t)((events[i] >> 1) & 0x7fffffffu);
        int32_t y = (int32_t)(events[i] >> 32);
        if (events[i] & 1) c->s[at[x]++] = y;
        else c->e[at_e[x]++] = y;
    }
    free(at);
    free(events);
    free(empty);
    return 0;
fail:
    free(at);
    free(events);
    free(empty);
    column_runs_free(c);
    return -1;
}

/* Row y of the first pass from the column runs: g[x] = the vertical distance to the nearest
   outside pixel (0 outside). The first run of the column that ends below y: by halving when
   the column has many, else in order. */
static void row_of_runs(const ColumnRuns *c, int64_t w, int64_t y, int32_t *g)
{
    for (int64_t x = 0; x < w; x++) {
        int32_t i = c->first[x], end = c->first[x + 1], d = 0;
        if (end - i > 8) {
            int32_t hi = end;
            while (i < hi) {
                int32_t mid = i + (hi - i) / 2;
                if (c->e[mid] <= y) i = mid + 1; else hi = mid;
            }
        } else
            while (i < end && c->e[i] <= y) i++;
        if (i < end && c->s[i] <= y) {
            int32_t up = (int32_t)y - c->s[i] + 1, down = c->e[i] - (int32_t)y;
            d = up < down ? up : down;
        }
        g[x] = d;
    }
}

/* The largest distance of a prepared region (its first pass not done) outside the excluded
   pixels and the first pixel (row-major) holding it, without the whole map: rows are
   transformed in the order of their bound (coarse_bounds), and no row whose bound is below
   the best distance found so far can hold the maximum or a tie; distances are compared as the
   floats the full map would hold. Each visited row's first pass comes from the column runs,
   or, for a ragged mask (more than a few runs per column), from the whole first pass done on
   `threads` threads. Returns 0, or -1 when out of memory. */
static int max_of_prepared(Region *r, const int64_t *ex, Py_ssize_t n_ex, int threads,
                           float *best, int64_t *where)
{
    int64_t width = r->width;
    RowBound *order = malloc((size_t)r->h * sizeof(RowBound));
    ColumnRuns runs = {NULL, NULL, NULL};
    int ragged = 0;
    if (!order || coarse_bounds(r, order) < 0 ||
        (ragged = column_runs(r->mask, r->h, r->w, 8 * (size_t)r->w + 4096, &runs)) < 0) {
        free(order);
        return -1;
    }
    if (ragged) parallel(part_columns, r, r->w, threads);
    qsort(order, (size_t)r->h, sizeof(RowBound), by_bound);
    *best = 0.0f;
    *where = -1;
    for (int64_t i = 0; i < r->h; i++) {
        if (order[i].bound < *best) break;
        int64_t y = order[i].row;
        int32_t *gr = r->g + (ragged ? y * r->w : 0); /* else the row goes to g's first row */
        if (!ragged) row_of_runs(&runs, r->w, y, gr);
        rows((int)r->w, gr, 0, 1, r->vs, r->zs, r->rec, NULL, NULL, NULL);
        int64_t base = (r->y0 + y) * width + r->x0;
        for (int64_t x = 0; x < r->w; x++) {
            if (!gr[x]) continue;
            float d = root(gr[x]);
            int64_t flat = base + x;
            if (d < *best || (d == *best && flat > *where)) continue;
            /* excluded (already clicked) pixels count as 0 */
            Py_ssize_t lo = 0, hi = n_ex;
            while (lo < hi) {
                Py_ssize_t mid = (lo + hi) / 2;
                if (ex[mid] < flat) lo = mid + 1; else hi = mid;
            }
            if (lo < n_ex && ex[lo] == flat) continue;
            *best = d;
            *where = flat;
        }
    }
    free(order);
    column_runs_free(&runs);
    return 0;
}

static int region_max_of(const int64_t *idx, Py_ssize_t n, int64_t width, const int64_t *ex,
                         Py_ssize_t n_ex, int threads, float *best, int64_t *where)
{
    Scratch *s = scratch_for(&threads);
    if (!s) return -1;
    Region r = {.idx = idx, .width = width};
    if (region_prepare(&r, s, n, threads, 0) < 0) return -1;
    return max_of_prepared(&r, ex, n_ex, threads, best, where);
}

/* The same for a region given as a mask over an h x w box whose top-left pixel is (y0, x0) in
   an image of the given width. */
static int box_max_of(const uint8_t *mask, int64_t h, int64_t w, int64_t y0, int64_t x0,
                      int64_t width, const int64_t *ex, Py_ssize_t n_ex, int threads,
                      float *best, int64_t *where)
{
    Scratch *s = scratch_for(&threads);
    if (!s) return -1;
    Region r = {.width = width, .y0 = y0, .x0 = x0};
    if (region_prepare_box(&r, s, mask, h, w, threads, 0) < 0) return -1;
    return max_of_prepared(&r, ex, n_ex, threads, best, where);
}

/* run_bound(idx, width) -> the largest distance any pixel of the region can have without
   computing one: a pixel's nearest outside pixel along its row is at most (L + 1) / 2 away in a
   run of L pixels, so (longest run + 1) // 2 bounds every distance. */
static PyObject *run_bound(PyObject *self, PyObject *args)
{
    Py_buffer ib;
    Py_ssize_t width;
    if (!PyArg_ParseTuple(args, "y*n", &ib, &width))
        return NULL;
    Py_ssize_t n = ib.len / (Py_ssize_t)sizeof(int64_t);
    const int64_t *idx = ib.buf;
    int64_t longest = 0;
    if (width > 0 && n > 0) {
        Py_BEGIN_ALLOW_THREADS
        int64_t rs = idx[0] / width * width, run = 1;
        for (Py_ssize_t i = 1; i < n; i++) {
            int same_row = idx[i] < rs + width;
            if (!same_row)
                while (idx[i] >= rs + width) rs += width;
            if (same_row && idx[i] == idx[i - 1] + 1) run++;
            else {
                if (run > longest) longest = run;
                run = 1;
            }
        }
        if (run > longest) longest = run;
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&ib);
    return PyLong_FromLongLong((long long)((longest + 1) / 2));
}

/* region_max(idx, width, excluded, threads=1) -> (distance, flat index), (0.0, -1) when no
   pixel outside `excluded` (ascending int64 flat indices) is left. */
static PyObject *region_max(PyObject *self, PyObject *args)
{
    Py_buffer ib, eb;
    Py_ssize_t width;
    int threads = 1;
    if (!PyArg_ParseTuple(args, "y*ny*|i", &ib, &width, &eb, &threads))
        return NULL;
    Py_ssize_t n = ib.len / (Py_ssize_t)sizeof(int64_t);
    float best = 0.0f;
    int64_t where = -1;
    int failed = 0;
    if (width > 0 && n > 0) {
        Py_BEGIN_ALLOW_THREADS
        failed = region_max_of((const int64_t *)ib.buf, n, width, (const int64_t *)eb.buf,
                               eb.len / (Py_ssize_t)sizeof(int64_t), threads, &best, &where);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&ib);
    PyBuffer_Release(&eb);
    if (failed) return PyErr_NoMemory();
    return Py_BuildValue("dL", (double)best, (long long)where);
}

/* What region() and region_box() return: None, or with count the (d2, count) pairs as
   bytes of uint32 (frees them). */
static PyObject *counted_result(int count, Counted *counted)
{
    if (!count) return Py_NewRef(Py_None);
    PyObject *out = PyBytes_FromStringAndSize((const char *)counted->pairs,
                                              (Py_ssize_t)(2 * counted->n * sizeof(uint32_t)));
    free(counted->pairs);
    counted->pairs = NULL;
    return out;
}

/* region(idx, width, out, threads=1, count=False): see the top of the file; threads > 1
   splits the transform of a large box over that many threads. With count, the region's
   squared distances are counted as they are found: the result is then their distinct values
   with how many pixels have each, as bytes of uint32 pairs (d2, count), d2 ascending
   (region_finish); else None. */
static PyObject *region(PyObject *self, PyObject *args)
{
    Py_buffer ib, ob;
    Py_ssize_t width;
    int threads = 1, count = 0;
    if (!PyArg_ParseTuple(args, "y*nw*|ip", &ib, &width, &ob, &threads, &count))
        return NULL;
    Counted counted = {NULL, 0};
    Py_ssize_t n = ib.len / (Py_ssize_t)sizeof(int64_t);
    PyObject *result = NULL;
    if (width <= 0 || ob.len != n * (Py_ssize_t)sizeof(float)) {
        PyErr_SetString(PyExc_ValueError, "region: out must hold one float32 per index");
        goto done;
    }
    int failed = 0;
    if (n > 0) {
        Py_BEGIN_ALLOW_THREADS
        failed = region_distances((const int64_t *)ib.buf, n, width, (float *)ob.buf, threads,
                                  count ? &counted : NULL);
        Py_END_ALLOW_THREADS
    }
    result = failed ? PyErr_NoMemory() : counted_result(count, &counted);
done:
    PyBuffer_Release(&ib);
    PyBuffer_Release(&ob);
    return result;
}

/* The regions below are given as a mask over a box instead of flat indices: a C-contiguous
   uint8/bool array of rows of w pixels, any box that holds the whole region (the distances do
   not depend on it), whose top-left pixel is (y0, x0) in an image of the given width. */
static int box_shape(const Py_buffer *mb, Py_ssize_t w, Py_ssize_t *h, const char *who)
{
    if (w <= 0 || mb->len % w) {
        PyErr_Format(PyExc_ValueError, "%s: the mask must hold whole rows of w pixels", who);
        return -1;
    }
    *h = mb->len / w;
    return 0;
}

/* region_box(mask, w, out, threads=1, count=False, starts=None): region() of a box mask; out
   (float32) receives the distances of its non-zero pixels in row-major order and must hold
   exactly one per pixel; starts (int64, one more than rows), when given, receives how many of
   them precede each row (and the total). */
static PyObject *region_box(PyObject *self, PyObject *args)
{
    Py_buffer mb, ob, sb = {0};
    Py_ssize_t w, h;
    int threads = 1, count = 0;
    PyObject *starts = Py_None;
    if (!PyArg_ParseTuple(args, "y*nw*|ipO", &mb, &w, &ob, &threads, &count, &starts))
        return NULL;
    PyObject *result = NULL;
    Counted counted = {NULL, 0};
    int64_t *before = NULL;
    if (box_shape(&mb, w, &h, "region_box") < 0) goto done;
    if (starts != Py_None) {
        if (PyObject_GetBuffer(starts, &sb, PyBUF_WRITABLE) < 0) goto done;
        if (sb.len != (h + 1) * (Py_ssize_t)sizeof(int64_t)) {
            PyErr_SetString(PyExc_ValueError, "region_box: starts must hold h + 1 int64");
            goto done;
        }
        before = sb.buf;
    } else if (!(before = malloc((size_t)(h + 1) * sizeof(int64_t)))) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    row_starts(mb.buf, h, w, before);
    Py_END_ALLOW_THREADS
    int64_t n = before[h];
    if (ob.len != n * (Py_ssize_t)sizeof(float)) {
        PyErr_SetString(PyExc_ValueError, "region_box: out must hold one float32 per pixel");
        goto done;
    }
    int failed = 0;
    if (n > 0) {
        Py_BEGIN_ALLOW_THREADS
        failed = box_distances(mb.buf, h, w, before, (float *)ob.buf, threads,
                               count ? &counted : NULL);
        Py_END_ALLOW_THREADS
    }
    result = failed ? PyErr_NoMemory() : counted_result(count, &counted);
done:
    if (starts == Py_None) free(before);
    if (sb.obj) PyBuffer_Release(&sb);
    PyBuffer_Release(&mb);
    PyBuffer_Release(&ob);
    return result;
}

/* region_max_box(mask, w, y0, x0, width, excluded, threads=1): region_max() of a box mask. */
static PyObject *region_max_box(PyObject *self, PyObject *args)
{
    Py_buffer mb, eb;
    Py_ssize_t w, h, y0, x0, width;
    int threads = 1;
    if (!PyArg_ParseTuple(args, "y*nnnny*|i", &mb, &w, &y0, &x0, &width, &eb, &threads))
        return NULL;
    PyObject *result = NULL;
    if (box_shape(&mb, w, &h, "region_max_box") < 0) goto done;
    float best = 0.0f;
    int64_t where = -1;
    int failed = 0;
    if (h > 0 && width > 0) {
        Py_BEGIN_ALLOW_THREADS
        failed = box_max_of(mb.buf, h, w, y0, x0, width, (const int64_t *)eb.buf,
                            eb.len / (Py_ssize_t)sizeof(int64_t), threads, &best, &where);
        Py_END_ALLOW_THREADS
    }
    if (failed) PyErr_NoMemory();
    else result = Py_BuildValue("dL", (double)best, (long long)where);
done:
    PyBuffer_Release(&mb);
    PyBuffer_Release(&eb);
    return result;
}

/* row_starts(mask, w, out): out (int64, one more than rows) receives how many non-zero
   pixels of the box mask precede each row, and the total (row_starts above). */
static PyObject *py_row_starts(PyObject *self, PyObject *args)
{
    Py_buffer mb, ob;
    Py_ssize_t w, h;
    if (!PyArg_ParseTuple(args, "y*nw*", &mb, &w, &ob))
        return NULL;
    PyObject *result = NULL;
    if (box_shape(&mb, w, &h, "row_starts") < 0) goto done;
    if (ob.len != (h + 1) * (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "row_starts: out must hold h + 1 int64");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    row_starts(mb.buf, h, w, ob.buf);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&mb);
    PyBuffer_Release(&ob);
    return result;
}

/* split_errors(pred, width, crop, cw, y0, x0, missed) -> (pred_count, inter, fy0, fy1, fx0,
   fx1): a prediction's error regions in one pass. pred: bool H x W (rows of width pixels),
   changed in place into the false positives: the object's pixels are cleared; crop: bool,
   the object's mask over its box, rows of cw pixels, top-left pixel (y0, x0); missed: bool
   like crop, receives the false negatives (the object's pixels pred misses). pred_count and
   inter count pred's pixels and those on the object; the false positives span the rows
   fy0 .. fy1 - 1 and columns fx0 .. fx1 - 1 (fy0 = -1: there are none). Outside the box, eight
   empty pixels are skipped at a time. */
static void fp_span(const uint8_t *row, int64_t a, int64_t b, int64_t *lo, int64_t *hi,
                    int64_t *count)
{
    int64_t x = a, n = 0, first = -1, last = -1;
    while (x < b) {
        if (x + 8 <= b) {
            uint64_t word;
            memcpy(&word, row + x, 8);
            if (!word) {
                x += 8;
                continue;
            }
        }
        int64_t stop = x + 8 < b ? x + 8 : b;
        for (; x < stop; x++)
            if (row[x]) {
                n++;
                if (first < 0) first = x;
                last = x;
            }
    }
    *count += n;
    if (first >= 0) {
        if (first < *lo) *lo = first;
        if (last + 1 > *hi) *hi = last + 1;
    }
}

static PyObject *split_errors(PyObject *self, PyObject *args)
{
    Py_buffer pb, cb, mb;
    Py_ssize_t width, cw, y0, x0;
    if (!PyArg_ParseTuple(args, "w*ny*nnnw*", &pb, &width, &cb, &cw, &y0, &x0, &mb))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t h, ch;
    if (box_shape(&pb, width, &h, "split_errors") < 0 || box_shape(&cb, cw, &ch, "split_errors") < 0)
        goto done;
    if (mb.len != cb.len || y0 < 0 || x0 < 0 || y0 + ch > h || x0 + cw > width) {
        PyErr_SetString(PyExc_ValueError, "split_errors: the box must lie in the image and "
                                          "missed be the size of crop");
        goto done;
    }
    int64_t count = 0, inter = 0, fy0 = -1, fy1 = 0, fx0 = width, fx1 = 0;
    Py_BEGIN_ALLOW_THREADS
    /* copies the stores below cannot touch (the parsed sizes' addresses escaped) */
    const int64_t W = width, H = h, CW = cw, CH = ch, Y0 = y0, X0 = x0;
    uint8_t *p = pb.buf, *missed = mb.buf;
    const uint8_t *crop = cb.buf;
    for (int64_t y = 0; y < H; y++) {
        uint8_t *row = p + y * W;
        int64_t lo = W, hi = 0;
        if (y < Y0 || y >= Y0 + CH) fp_span(row, 0, W, &lo, &hi, &count);
        else {
            fp_span(row, 0, X0, &lo, &hi, &count);
            fp_span(row, X0 + CW, W, &lo, &hi, &count);
            const uint8_t *restrict c = crop + (y - Y0) * CW;
            uint8_t *restrict m = missed + (y - Y0) * CW, *restrict q = row + X0;
            uint32_t on = 0, both = 0; /* a row holds fewer than 2^32 pixels */
            uint8_t fp = 0;
            for (int64_t x = 0; x < CW; x++) { /* bool bytes, 0 or 1 (vectorized) */
                uint8_t a = q[x], o = c[x], f = a & (o ^ 1);
                m[x] = o & (a ^ 1);
                q[x] = f;
                on += a;
                both += a & o;
                fp |= f;
            }
            count += on;
            inter += both;
            if (fp) { /* the false positives inside the box: where they begin and end */
                int64_t b = 0, e = CW;
                while (!q[b]) b++;
                while (!q[e - 1]) e--;
                if (X0 + b < lo) lo = X0 + b;
                if (X0 + e > hi) hi = X0 + e;
            }
        }
        if (hi > lo) { /* a false positive in this row */
            if (fy0 < 0) fy0 = y;
            fy1 = y + 1;
            if (lo < fx0) fx0 = lo;
            if (hi > fx1) fx1 = hi;
        }
    }
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("LLLLLL", (long long)count, (long long)inter, (long long)fy0,
                           (long long)fy1, (long long)fx0, (long long)fx1);
done:
    PyBuffer_Release(&pb);
    PyBuffer_Release(&cb);
    PyBuffer_Release(&mb);
    return result;
}

/* run_bound_box(mask, w): run_bound() of a box mask. */
static PyObject *run_bound_box(PyObject *self, PyObject *args)
{
    Py_buffer mb;
    Py_ssize_t w, h;
    if (!PyArg_ParseTuple(args, "y*n", &mb, &w))
        return NULL;
    if (box_shape(&mb, w, &h, "run_bound_box") < 0) {
        PyBuffer_Release(&mb);
        return NULL;
    }
    const uint8_t *m = mb.buf;
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    int64_t longest = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t y = 0; y < h; y++) {
        const uint8_t *row = m + y * w;
        int64_t run = 0;
        Py_ssize_t x = 0;
        for (; x + 8 <= w; x += 8) { /* eight pixels at a time: all outside, all inside */
            uint64_t word;
            memcpy(&word, row + x, 8);
            if (!word) run = 0;
            else if (!((word - ones) & ~word & highs)) run += 8; /* no zero byte */
            else
                for (int b = 0; b < 8; b++) {
                    run = row[x + b] ? run + 1 : 0;
                    longest = run > longest ? run : longest;
                }
            longest = run > longest ? run : longest;
        }
        for (; x < w; x++) {
            run = row[x] ? run + 1 : 0;
            longest = run > longest ? run : longest;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&mb);
    return PyLong_FromLongLong((long long)((longest + 1) / 2));
}

/* indices(mask, w, y0, x0, width, out): mask = a C-contiguous uint8/bool array of rows of w
   pixels (a box whose top-left pixel is (y0, x0) in an image of the given width); out (int64)
   receives the image's flat indices y * width + x of its non-zero pixels, in row-major order,
   and must hold exactly as many as there are. Returns the number of non-zero pixels. */
static PyObject *indices(PyObject *self, PyObject *args)
{
    Py_buffer mb, ob;
    Py_ssize_t w, y0, x0, width;
    if (!PyArg_ParseTuple(args, "y*nnnnw*", &mb, &w, &y0, &x0, &width, &ob))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t cap = ob.len / (Py_ssize_t)sizeof(int64_t), k = 0;
    if (w <= 0 || mb.len % w) {
        PyErr_SetString(PyExc_ValueError, "indices: the mask must hold whole rows of w pixels");
        goto done;
    }
    Py_ssize_t h = mb.len / w;
    const uint8_t *m = mb.buf;
    int64_t *out = ob.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < h && k <= cap; r++) {
        const uint8_t *row = m + r * w;
        int64_t base = (int64_t)(y0 + r) * width + x0;
        Py_ssize_t x = 0;
        while (x < w) {
            /* skip eight empty pixels at a time */
            if (x + 8 <= w) {
                uint64_t word;
                memcpy(&word, row + x, 8);
                if (!word) {
                    x += 8;
                    continue;
                }
            }
            if (row[x]) {
                if (k < cap) out[k] = base + x;
                k++;
            }
            x++;
        }
    }
    Py_END_ALLOW_THREADS
    if (k != cap) {
        PyErr_SetString(PyExc_ValueError, "indices: out must hold one int64 per non-zero pixel");
        goto done;
    }
    result = PyLong_FromSsize_t(k);
done:
    PyBuffer_Release(&mb);
    PyBuffer_Release(&ob);
    return result;
}

/* -- clicking groups -------------------------------------------------------------------------
   The group slice of CONTRACT §7 as the reference computes it: sort the weights ascending,
   take their float32 cumulative sum (sequential, as NumPy's cumsum), the low threshold is the
   value where it first reaches low x total, the high one where it first exceeds high x total.
   Instead of sorting every value, the distinct values are counted in a hash table and only
   they are sorted (a radix sort of their float32 bit patterns: for non-negative floats their
   order is the order of the values); equal values are interchangeable, so the cumulative sums
   are those of any ascending sort. */

static void radix_sort(uint32_t *a, uint32_t *b, size_t n, uint32_t **sorted)
{
    static const int shifts[3] = {0, 11, 22};
    size_t hist[3][2048];
    memset(hist, 0, sizeof hist);
    for (size_t i = 0; i < n; i++) {
        uint32_t k = a[i];
        hist[0][k & 2047]++;
        hist[1][(k >> 11) & 2047]++;
        hist[2][k >> 22]++;
    }
    uint32_t *src = a, *dst = b;
    for (int p = 0; p < 3; p++) {
        size_t *hp = hist[p];
        int single = 0;
        for (int d = 0; d < 2048; d++)
            if (hp[d] == n) single = 1;
        if (single) continue; /* every key has the same digit: the pass changes nothing */
        size_t sum = 0;
        for (int d = 0; d < 2048; d++) {
            size_t c = hp[d];
            hp[d] = sum;
            sum += c;
        }
        int sh = shifts[p];
        for (size_t i = 0; i < n; i++) {
            uint32_t k = src[i];
            dst[hp[(k >> sh) & 2047]++] = k;
        }
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    *sorted = src;
}

static uint32_t key_of(float v)
{
    uint32_t k;
    if (v == 0.0f) return 0; /* -0.0 sorts with 0.0 */
    memcpy(&k, &v, 4);
    return k;
}

static float value_of(uint32_t k)
{
    float v;
    memcpy(&v, &k, 4);
    return v;
}

/* Distinct values. Densities often hold few (a distance map of a million pixels has some
   thousands: square roots of whole numbers), and equal values are adjacent in the sorted
   order, so the cumulative sum can run over (value, count) pairs: the threshold is the value
   of the pair where the sums first reach the bound, whichever of its copies that is. The
   float32 sums are still taken one copy at a time, as the sorted cumsum takes them. */
#define TABLE_BITS 16
#define TABLE (1u << TABLE_BITS)
#define EMPTY 0xffffffffu /* a NaN pattern, never a key of a finite non-negative value */

static uint32_t slot_of(uint32_t key) { return (key * 2654435761u) >> (32 - TABLE_BITS); }

/* Count the n keys of s->a in the table (key and count side by side: one cache line per
   probe); the number of distinct keys, or 0 when there are more than TABLE / 2
   (then the caller sorts). */
static size_t count_distinct(Scratch *s, size_t n)
{
    if (!s->table) {
        s->table = malloc(TABLE * sizeof(Slot));
        if (!s->table) return 0;
    }
    Slot *table = s->table;
    for (uint32_t j = 0; j < TABLE; j++) table[j] = (Slot){EMPTY, 0};
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t k = s->a[i], j = slot_of(k);
        while (table[j].key != k && table[j].key != EMPTY) j = (j + 1) & (TABLE - 1);
        if (table[j].key == EMPTY) {
            if (++distinct > TABLE / 2) return 0;
            table[j].key = k;
        }
        table[j].count++;
    }
    return distinct;
}

static uint32_t count_of(const Scratch *s, uint32_t k)
{
    uint32_t j = slot_of(k);
    while (s->table[j].key != k) j = (j + 1) & (TABLE - 1);
    return s->table[j].count;
}

/* acc after m float32 additions acc += x, one at a time (round to nearest, ties to even), in
   far fewer steps: inside one binade [2^(e-1), 2^e) of acc, where the grid step u is fixed,
   every addition whose exact sum stays a step below 2^e adds the same multiple of u, the
   nearest to x, or, when x sits exactly half-way (a tie), the one that leaves acc an even
   multiple of u, which it is from the first tie on. Three single additions inside the binade
   show that increment; the whole numbers of steps that stay inside are then taken at once
   (exact: every value is a whole number of u below 2^24 u). acc >= 0 and x > 0 finite. */
static float add_copies(float acc, float x, uint32_t m)
{
    while (m) {
        if (m < 64 || !(acc >= x) || !(acc >= 1e-30f) || !isfinite(acc)) {
            acc += x;
            m--;
            continue;
        }
        int e;
        frexpf(acc, &e); /* acc in [2^(e-1), 2^e) */
        double top = ldexp(1.0, e);
        float b = acc + x, c = b + x, d = c + x;
        m -= 3;
        acc = d;
        if (!((double)d < top)) continue; /* the binade ends here: on one by one */
        double u = ldexp(1.0, e - 24);
        double ad = (double)d / u, step = ((double)d - (double)c) / u; /* whole numbers */
        if (step == 0.0) return acc; /* x is lost against acc: nothing changes any more */
        /* an addition from a (in steps u) stays inside while a + x / u + 1 <= 2^24 */
        double room = ldexp(1.0, 24) - 1.0 - (double)x / u - ad;
        if (room < 0.0) continue;
        double k = floor(room / step);
        while (k > 0.0 && k * step > room) k -= 1.0;
        while ((k + 1.0) * step <= room) k += 1.0;
        k += 1.0; /* the additions from ad, ad + step, ..., ad + (k - 1) step */
        if (k > (double)m) k = (double)m;
        acc = (float)((ad + k * step) * u);
        m -= (uint32_t)k;
    }
    return acc;
}

/* Square buckets, the first way to count: value x goes to bucket round(x^2) (x^2 is exact in
   double), which never decreases as x grows, so the buckets taken in ascending order hold the
   values in ascending order, as long as no bucket receives two different values. Distances,
   the square roots of whole numbers, always have a bucket each (their squared distance); any
   values whose squares lie at least 1 apart do too. The buckets are a per-thread array of up
   to SQUARES slots, empty between calls; the ones in use are listed as they fill and sorted
   (a radix sort of a few thousand indices) instead of scanning them all. */
#define SQUARES (1u << 21)

/* The distinct values of the n values v (the positive ones when positive; all finite and
   non-negative, the largest max) in ascending order, to s->c with their counts in s->b; how
   many, or 0 when two values share a bucket, max is too large or there is no memory (the
   caller then hashes). */
static size_t count_squares(Scratch *s, const float *v, size_t n, int positive, float max)
{
    double top = (double)max * max + 0.5;
    if (!(top < (double)SQUARES)) return 0;
    size_t size = (size_t)top + 1;
    if (size > s->n_squares) {
        free(s->squares);
        s->squares = calloc(size, sizeof(Slot));
        s->n_squares = s->squares ? size : 0;
        if (!s->squares) return 0;
    }
    Slot *sq = s->squares;
    uint32_t *used = s->a;
    size_t distinct = 0, i = 0;
    for (; i < n; i++) {
        float x = v[i];
        if (positive && x == 0.0f) continue;
        uint32_t k = key_of(x), b = (uint32_t)((double)x * x + 0.5);
        if (!sq[b].count) {
            sq[b].key = k;
            used[distinct++] = b;
        } else if (sq[b].key != k)
            break; /* two values in one bucket */
        sq[b].count++;
    }
    int clash = i < n;
    uint32_t *sorted = used;
    if (!clash) radix_sort(used, (uint32_t *)s->d, distinct, &sorted); /* s->d: scratch */
    for (size_t j = 0; j < distinct; j++) {
        Slot *slot = &sq[sorted[j]];
        if (!clash) {
            s->c[j] = value_of(slot->key);
            s->b[j] = slot->count;
        }
        *slot = (Slot){0, 0};
    }
    return clash ? 0 : distinct;
}

/* The second way: the n keys of s->a (destroyed) in the hash table (count_distinct), its
   distinct keys radix-sorted; the same outputs as count_squares. */
static size_t count_hashed(Scratch *s, size_t n)
{
    size_t distinct = count_distinct(s, n);
    if (!distinct) return 0;
    size_t d = 0;
    for (uint32_t j = 0; j < TABLE; j++)
        if (s->table[j].key != EMPTY) s->a[d++] = s->table[j].key;
    uint32_t *sorted;
    radix_sort(s->a, s->b, distinct, &sorted);
    uint32_t *counts = sorted == s->a ? s->b : s->a;
    for (size_t j = 0; j < distinct; j++) {
        s->c[j] = value_of(sorted[j]);
        counts[j] = count_of(s, sorted[j]);
    }
    if (counts != s->b) memcpy(s->b, counts, distinct * sizeof(uint32_t));
    return distinct;
}

/* Thresholds of group (1-based) of n_groups over the distinct ascending values s->c with
   their counts s->b. */
static void thresholds_of(Scratch *s, size_t distinct, long group, long n_groups, float *lo,
                          float *hi)
{
    float *c = s->d, acc = 0.0f; /* c[i]: the sum after the last copy of value i */
    for (size_t i = 0; i < distinct; i++) {
        acc = add_copies(acc, s->c[i], s->b[i]);
        c[i] = acc;
    }
    double total = (double)c[distinct - 1];
    double low = (double)(group - 1) / (double)n_groups * total;
    double high = (double)group / (double)n_groups * total;
    /* the first value whose sums reach low, the first whose sums exceed high; the last value
       when none does */
    size_t ilo = 0, ihi = 0;
    while (ilo < distinct - 1 && (double)c[ilo] < low) ilo++;
    while (ihi < distinct - 1 && (double)c[ihi] <= high) ihi++;
    *lo = s->c[ilo];
    *hi = s->c[ihi];
}

/* add_copies(acc, x, m) -> acc after m float32 additions of x (see add_copies above; for the
   tests, which compare it with NumPy's float32 cumsum). */
static PyObject *py_add_copies(PyObject *self, PyObject *args)
{
    float acc, x;
    unsigned long m;
    if (!PyArg_ParseTuple(args, "ffk", &acc, &x, &m))
        return NULL;
    if (!(acc >= 0.0f) || !(x > 0.0f) || isinf(acc) || isinf(x) || m > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "add_copies: acc >= 0 and x > 0 finite, m < 2^32");
        return NULL;
    }
    return PyFloat_FromDouble((double)add_copies(acc, x, (uint32_t)m));
}

/* thresholds(values, group, n_groups, positive) -> (count, lo, hi), or None when the caller
   should sort instead (a negative or non-finite value, or too many distinct ones). values:
   float32; positive: only the positive values take part (count = how many; lo = hi = 0 when
   none). */
static PyObject *thresholds(PyObject *self, PyObject *args)
{
    Py_buffer vb;
    long group, n_groups;
    int positive;
    if (!PyArg_ParseTuple(args, "y*llp", &vb, &group, &n_groups, &positive))
        return NULL;
    size_t n = (size_t)vb.len / sizeof(float), m = 0;
    const float *v = vb.buf;
    int status = 0; /* 0 ok, 1 sort instead, -1 no memory */
    float lo = 0.0f, hi = 0.0f;
    if (group < 1 || group > n_groups) status = 1;
    else {
        Py_BEGIN_ALLOW_THREADS
        Scratch *s = scratch();
        if (!s || reserve_values(s, n ? n : 1) < 0) status = -1;
        else {
            /* one pass on the bit patterns, without branches (vectorized): with the sign
               bit cleared a valid value is below the pattern of +inf (NaN and inf are not)
               and a set sign bit only comes with 0 (-0.0); the largest cleared pattern is
               the largest value's */
            uint32_t bad = n >= UINT32_MAX, zeros = 0, top = 0; /* counts fit */
            for (size_t i = 0; i < n; i++) {
                uint32_t u, a;
                memcpy(&u, v + i, 4);
                a = u & 0x7fffffffu;
                bad |= (a >= 0x7f800000u) | ((u >> 31) & (a != 0));
                zeros += a == 0;
                top = a > top ? a : top;
            }
            float max = value_of(top);
            if (bad) status = 1;
            m = positive ? n - zeros : n;
            /* few values: the caller's sort is as fast */
            if (!status && m && m < 16384) status = 1;
            if (!status && m) {
                size_t distinct = count_squares(s, v, n, positive, max);
                if (!distinct) {
                    size_t j = 0;
                    for (size_t i = 0; i < n; i++)
                        if (v[i] > 0.0f || !positive) s->a[j++] = key_of(v[i]);
                    distinct = count_hashed(s, m);
                }
                if (distinct) thresholds_of(s, distinct, group, n_groups, &lo, &hi);
                else status = 1;
            }
        }
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&vb);
    if (status < 0) return PyErr_NoMemory();
    if (status > 0) Py_RETURN_NONE;
    return Py_BuildValue("ndd", (Py_ssize_t)m, (double)lo, (double)hi);
}

/* counted_slice(pairs, group, n_groups) -> (count, lo, hi, kept, total), or None when pairs
   are not valid: thresholds() and slice_total() of weights known only by their counted values,
   the square roots of whole numbers: pairs (uint32) are (d2, m) with d2 >= 1 ascending, m
   weights equal to root(d2) (the float32 distance) each; count = how many weights, lo and hi
   group's thresholds (n_groups 1: 0 and +inf, every weight), kept and total the slice's count
   and float64 sum. Every weight is at least 1, so a multiple of 2^-23: while a sum stays below
   2^30 it is a whole number of 2^-23 below 2^53, exact in double, in any order; total is that
   sum, or -1 when it is not below 2^30 (the caller then adds the weights in order). */
static PyObject *counted_slice(PyObject *self, PyObject *args)
{
    Py_buffer pb;
    long group, n_groups;
    if (!PyArg_ParseTuple(args, "y*ll", &pb, &group, &n_groups))
        return NULL;
    size_t n = (size_t)pb.len / (2 * sizeof(uint32_t)), distinct = 0, count = 0, kept = 0;
    const uint32_t *pairs = pb.buf;
    int status = 0; /* 0 ok, 1 not valid, -1 no memory */
    float lo = 0.0f, hi = INFINITY;
    double total = 0.0;
    if (group < 1 || group > n_groups || pb.len % (2 * sizeof(uint32_t))) status = 1;
    else {
        Py_BEGIN_ALLOW_THREADS
        Scratch *s = scratch();
        if (!s || reserve_values(s, n ? n : 1) < 0) status = -1;
        else {
            /* distinct float32 values (two whole numbers may share a root) and their counts */
            for (size_t i = 0; i < n && !status; i++) {
                uint32_t d2 = pairs[2 * i], m = pairs[2 * i + 1];
                if (!d2 || (i && d2 <= pairs[2 * i - 2]) || m >= (1u << 29)) status = 1;
                else if (m) {
                    float x = root(d2);
                    if (distinct && s->c[distinct - 1] == x) s->b[distinct - 1] += m;
                    else {
                        s->c[distinct] = x;
                        s->b[distinct++] = m;
                    }
                    count += m;
                    if (s->b[distinct - 1] >= (1u << 29)) status = 1;
                }
            }
            if (!status && distinct) {
                if (n_groups > 1) thresholds_of(s, distinct, group, n_groups, &lo, &hi);
                for (size_t i = 0; i < distinct; i++)
                    if (s->c[i] >= lo && s->c[i] <= hi) {
                        kept += s->b[i];
                        total += (double)s->b[i] * (double)s->c[i]; /* exact: < 2^53 */
                    }
                if (!(total < 1073741824.0)) total = -1.0;
            }
            if (!distinct) lo = hi = 0.0f;
        }
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&pb);
    if (status < 0) return PyErr_NoMemory();
    if (status > 0) Py_RETURN_NONE;
    return Py_BuildValue("nddnd", (Py_ssize_t)count, (double)lo, (double)hi, (Py_ssize_t)kept,
                         total);
}

/* slice_total(weights, lo, hi) -> (count, total): the kept weights are the positive ones
   with lo <= w <= hi; count = how many, total = their float64 sum in order, accumulated one by
   one (NumPy's cumsum). */
static PyObject *slice_total(PyObject *self, PyObject *args)
{
    Py_buffer wb;
    float lo, hi;
    if (!PyArg_ParseTuple(args, "y*ff", &wb, &lo, &hi))
        return NULL;
    size_t n = (size_t)wb.len / sizeof(float), count = 0;
    const float *w = wb.buf;
    double total = 0.0;
    Py_BEGIN_ALLOW_THREADS
    for (size_t i = 0; i < n; i++) {
        float x = w[i];
        if (x > 0.0f && x >= lo && x <= hi) {
            total += (double)x;
            count++;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&wb);
    return Py_BuildValue("nd", (Py_ssize_t)count, total);
}

/* group_draw(weights, lo, hi, u) -> index into weights: the first kept weight (as in
   slice_total) where their float64 running sum exceeds u, else the last kept one; -1 when none
   is kept. */
static PyObject *group_draw(PyObject *self, PyObject *args)
{
    Py_buffer wb;
    float lo, hi;
    double u;
    if (!PyArg_ParseTuple(args, "y*ffd", &wb, &lo, &hi, &u))
        return NULL;
    size_t n = (size_t)wb.len / sizeof(float);
    const float *w = wb.buf;
    Py_ssize_t found = -1, last = -1;
    Py_BEGIN_ALLOW_THREADS
    double acc = 0.0;
    for (size_t i = 0; i < n; i++) {
        float x = w[i];
        if (x > 0.0f && x >= lo && x <= hi) {
            acc += (double)x;
            last = (Py_ssize_t)i;
            if (acc > u) {
                found = last;
                break;
            }
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&wb);
    return PyLong_FromSsize_t(found >= 0 ? found : last);
}

static PyMethodDef methods[] = {
    {"counted_slice", counted_slice, METH_VARARGS, "thresholds() and slice_total() from counts."},
    {"region", region, METH_VARARGS, "Exact distances of a region's pixels (flat indices)."},
    {"region_max", region_max, METH_VARARGS, "A region's largest distance and where it is."},
    {"run_bound", run_bound, METH_VARARGS, "An upper bound of a region's distances."},
    {"region_box", region_box, METH_VARARGS, "region() of a region given as a box mask."},
    {"region_max_box", region_max_box, METH_VARARGS, "region_max() of a box mask."},
    {"run_bound_box", run_bound_box, METH_VARARGS, "run_bound() of a box mask."},
    {"split_errors", split_errors, METH_VARARGS, "IoU counts and error regions of a mask."},
    {"row_starts", py_row_starts, METH_VARARGS, "Non-zero pixels before each row of a box mask."},
    {"indices", indices, METH_VARARGS, "Flat image indices of a box mask's non-zero pixels."},
    {"thresholds", thresholds, METH_VARARGS, "Clicking-group thresholds of float32 values."},
    {"slice_total", slice_total, METH_VARARGS, "Count and sum of a clicking group's slice."},
    {"add_copies", py_add_copies, METH_VARARGS, "float32 acc after m additions of x."},
    {"group_draw", group_draw, METH_VARARGS, "The weight where the slice's running sum passes u."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_edt", NULL, -1, methods};

PyMODINIT_FUNC PyInit__edt(void)
{
    if (pthread_key_create(&s_key, scratch_free)) return PyErr_NoMemory();
    return PyModule_Create(&module);
}
