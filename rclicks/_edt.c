/* Exact squared Euclidean distance transform (Meijster, Roerdink & Hesselink, 2000).
 *
 * sqdist(mask, out, h, w): mask is an h*w uint8 buffer (non-zero = inside the region), out an
 * h*w int32 buffer. Every inside pixel gets the squared distance to the nearest outside pixel,
 * the area beyond the image counting as outside (a one-pixel zero ring); outside pixels get 0.
 * Integer arithmetic only, so the result is exact and the same on every call.
 *
 * The first pass (vertical distances) scans the whole box; the second pass works run by run:
 * inside a row, the nearest outside pixel of a run's pixel is either a run end (distance
 * along the row) or reached through a column of that run, so each run's lower envelope is
 * built from its own columns only.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>

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

static PyObject *sqdist(PyObject *self, PyObject *args)
{
    Py_buffer in, out;
    int h, w;
    if (!PyArg_ParseTuple(args, "y*w*ii", &in, &out, &h, &w))
        return NULL;
    if (h <= 0 || w <= 0 || in.len != (Py_ssize_t)h * w || out.len != (Py_ssize_t)h * w * 4) {
        PyBuffer_Release(&in);
        PyBuffer_Release(&out);
        PyErr_SetString(PyExc_ValueError, "sqdist: buffer sizes do not match h*w");
        return NULL;
    }
    int32_t *v = malloc(sizeof(int32_t) * (size_t)(w + 2));
    int64_t *z = malloc(sizeof(int64_t) * (size_t)(2 * w + 4));
    if (!v || !z) {
        free(v);
        free(z);
        PyBuffer_Release(&in);
        PyBuffer_Release(&out);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    transform((const uint8_t *)in.buf, h, w, (int32_t *)out.buf, v, z);
    Py_END_ALLOW_THREADS
    free(v);
    free(z);
    PyBuffer_Release(&in);
    PyBuffer_Release(&out);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"sqdist", sqdist, METH_VARARGS, "Exact squared distance transform of a zero-ringed mask."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_edt", NULL, -1, methods};

PyMODINIT_FUNC PyInit__edt(void) { return PyModule_Create(&module); }
