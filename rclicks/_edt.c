/* Exact Euclidean distance transform of a region (Meijster, Roerdink & Hesselink, 2000).
 *
 * region(idx, width, out): idx holds the ascending flat indices (int64) of a region's pixels
 * in an image of the given width; out (float32, one per index) receives each pixel's distance
 * to the nearest pixel outside the region, the area beyond the image counting as outside (the
 * protocol's one-pixel zero ring), as (float)sqrt(squared distance). The work is done on the
 * region's bounding box, which gives the same result as the whole padded image: a pixel of the
 * ring just outside the box is at least as close as anything beyond it. Integer arithmetic
 * only, so the result is exact and the same on every call.
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

static void transform(const uint8_t *m, int h, int w, int32_t *g, int32_t *v, int64_t *z)
{
    /* pass 1: g = vertical distance to the nearest outside pixel (capped by the ring) */
    for (int x = 0; x < w; x++)
        g[x] = m[x] != 0;
    for (int y = 1; y < h; y++) {
        const uint8_t *restrict row = m + (int64_t)y * w;
        int32_t *restrict gr = g + (int64_t)y * w;
        const int32_t *restrict gp = gr - w;
        for (int x = 0; x < w; x++)
            gr[x] = (gp[x] + 1) & -(int32_t)(row[x] != 0);
    }
    {
        int32_t *restrict gl = g + (int64_t)(h - 1) * w;
        for (int x = 0; x < w; x++)
            gl[x] = gl[x] < 1 ? gl[x] : 1;
    }
    for (int y = h - 2; y >= 0; y--) {
        int32_t *restrict gr = g + (int64_t)y * w;
        const int32_t *restrict gn = gr + w;
        for (int x = 0; x < w; x++) {
            int32_t d = gn[x] + 1;
            gr[x] = gr[x] < d ? gr[x] : d;
        }
    }
    /* pass 2: per row, per run of inside pixels, lower envelope of (x - q)^2 + g(q)^2 over the
       run's columns plus the two outside pixels that end it (g = 0) */
    for (int y = 0; y < h; y++) {
        int32_t *gr = g + (int64_t)y * w;
        int x = 0;
        while (x < w) {
            if (gr[x] == 0) {
                x++;
                continue;
            }
            int a = x;
            while (x < w && gr[x] != 0) x++;
            int b = x - 1; /* run [a, b]; columns a-1 and b+1 are outside (g = 0) */
            /* envelope over q in [a-1, b+1]; f(q) = g(q)^2, with f(a-1) = f(b+1) = 0 */
            int k = 0;
            v[0] = a - 1;
            z[0] = INT64_MIN;
            for (int q = a; q <= b + 1; q++) {
                int64_t fq = (q <= b) ? (int64_t)gr[q] * gr[q] : 0;
                for (;;) {
                    int64_t p = v[k];
                    int64_t fp = (p >= a && p <= b) ? (int64_t)gr[p] * gr[p] : 0;
                    /* first integer x where parabola q is at or below parabola p */
                    int64_t num = (fq + (int64_t)q * q) - (fp + p * p);
                    int64_t den = 2 * ((int64_t)q - p);
                    int64_t s = num >= 0 ? (num + den - 1) / den : -((-num) / den);
                    if (s <= z[k]) {
                        if (k == 0) { v[0] = q; z[0] = INT64_MIN; break; }
                        k--;
                        continue;
                    }
                    k++;
                    v[k] = q;
                    z[k] = s;
                    break;
                }
            }
            /* read the envelope back for the run's pixels; results go to the row in place
               after all of the row's g values of this run were used */
            int j = 0;
            for (int xx = a; xx <= b; xx++) {
                while (j < k && z[j + 1] <= xx) j++;
                int64_t p = v[j];
                int64_t fp = (p >= a && p <= b) ? (int64_t)gr[p] * gr[p] : 0;
                int64_t d = (xx - p) * (xx - p) + fp;
                /* store in the spare buffer first: gr[p] is still needed for later pixels */
                z[w + 2 + (xx - a)] = d;
            }
            for (int xx = a; xx <= b; xx++)
                gr[xx] = (int32_t)z[w + 2 + (xx - a)];
        }
    }
}

/* Scratch buffers, grown as needed and kept between calls (the GIL is held throughout). */
static uint8_t *s_mask;
static int32_t *s_g, *s_v;
static int64_t *s_z;
static size_t s_cells, s_width;

static int reserve(size_t cells, size_t width)
{
    if (cells > s_cells) {
        free(s_mask);
        free(s_g);
        s_mask = malloc(cells);
        s_g = malloc(cells * sizeof(int32_t));
        s_cells = (s_mask && s_g) ? cells : 0;
        if (!s_cells) return -1;
    }
    if (width > s_width) {
        free(s_v);
        free(s_z);
        s_v = malloc((width + 2) * sizeof(int32_t));
        s_z = malloc((2 * width + 4) * sizeof(int64_t));
        s_width = (s_v && s_z) ? width : 0;
        if (!s_width) return -1;
    }
    return 0;
}

/* region(idx, width, out): idx = ascending flat indices (int64) of a region in an image of the
   given width; out (float32, one per index) receives each pixel's distance to the nearest
   pixel outside the region, the image border counting as outside, as (float)sqrt(d2). */
static PyObject *region(PyObject *self, PyObject *args)
{
    Py_buffer ib, ob;
    Py_ssize_t width;
    if (!PyArg_ParseTuple(args, "y*nw*", &ib, &width, &ob))
        return NULL;
    Py_ssize_t n = ib.len / (Py_ssize_t)sizeof(int64_t);
    PyObject *result = NULL;
    if (width <= 0 || ob.len != n * (Py_ssize_t)sizeof(float)) {
        PyErr_SetString(PyExc_ValueError, "region: out must hold one float32 per index");
        goto done;
    }
    if (n == 0) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    const int64_t *idx = (const int64_t *)ib.buf;
    float *dist = (float *)ob.buf;
    int64_t y0 = idx[0] / width, y1 = idx[n - 1] / width + 1;
    int64_t x0 = width, x1 = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t x = idx[i] % width;
        if (x < x0) x0 = x;
        if (x >= x1) x1 = x + 1;
    }
    int64_t h = y1 - y0, w = x1 - x0;
    if (h > INT32_MAX || w > INT32_MAX || reserve((size_t)(h * w), (size_t)w) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    memset(s_mask, 0, (size_t)(h * w));
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t y = idx[i] / width, x = idx[i] % width;
        s_mask[(y - y0) * w + (x - x0)] = 1;
    }
    transform(s_mask, (int)h, (int)w, s_g, s_v, s_z);
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t y = idx[i] / width, x = idx[i] % width;
        dist[i] = (float)sqrt((double)s_g[(y - y0) * w + (x - x0)]);
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&ib);
    PyBuffer_Release(&ob);
    return result;
}

static PyMethodDef methods[] = {
    {"region", region, METH_VARARGS, "Exact distances of a region's pixels (flat indices)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_edt", NULL, -1, methods};

PyMODINIT_FUNC PyInit__edt(void) { return PyModule_Create(&module); }
