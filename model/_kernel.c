/* The fast path's arithmetic in C: token ids to probabilities, for one text or a batch.

   FastScorer (model/fast.py) analyses texts into token ids in Python; this turns them into
   probabilities with the sums its numpy and plain-Python paths make: bigram ids from the
   PairTable, sublinear tf, idf, L2 norm, dot product with the coefficients, softmax. Those
   paths stay as the fallback where no compiler built this module (setup.py makes it
   optional), and tests/model/test_fast.py checks every path against predict_proba.

   Nothing here keeps state: each call reads its arrays through the buffer protocol. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* The token ids model/fast.py gives (UNSEEN, BOUNDARY, DROPPED there) and PairTable's. */
#define UNSEEN (-1)
#define BOUNDARY (-2)
#define DROPPED (-4)
#define EMPTY (-1)
#define MULTIPLIER 0x9E3779B97F4A7C15ULL
#define MAX_LABELS 64
#define INSERTION_SORT_MAX 64

typedef struct {
    const int64_t *keys, *values; /* PairTable.keys and .values */
    uint64_t mask;
    unsigned shift;
    int64_t pair_base;
    const double *idf, *coef, *intercept; /* coef is (labels, features), row-major */
    int64_t n_features;
    Py_ssize_t n_labels;
} Tables;

/* PairTable.find for one key: linear probing from its Fibonacci-hashed home slot. */
static int64_t find_pair(const Tables *t, int64_t key) {
    uint64_t slot = ((uint64_t)key * MULTIPLIER) >> t->shift;
    for (uint64_t probes = 0; probes <= t->mask; probes++) { /* a quarter full: a walk ends */
        int64_t stored = t->keys[slot];
        if (stored == key) return t->values[slot];
        if (stored == EMPTY) return UNSEEN;
        slot = (slot + 1) & t->mask;
    }
    return UNSEEN;
}

static int compare_ids(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sort a text's feature ids; most texts have a few dozen, where insertion sort is quickest. */
static void sort_ids(int64_t *ids, Py_ssize_t n) {
    if (n > INSERTION_SORT_MAX) {
        qsort(ids, (size_t)n, sizeof(int64_t), compare_ids);
        return;
    }
    for (Py_ssize_t i = 1; i < n; i++) {
        int64_t value = ids[i];
        Py_ssize_t j = i;
        for (; j > 0 && ids[j - 1] > value; j--) ids[j] = ids[j - 1];
        ids[j] = value;
    }
}

/* One text's probabilities from its feature ids (unigrams and bigrams, any order). */
static void text_probabilities(const Tables *t, int64_t *features, Py_ssize_t n, double *out) {
    double sums[MAX_LABELS] = {0.0};
    double norm2 = 0.0;
    Py_ssize_t labels = t->n_labels;
    sort_ids(features, n);
    for (Py_ssize_t start = 0; start < n;) {
        int64_t feature = features[start];
        Py_ssize_t end = start + 1;
        while (end < n && features[end] == feature) end++;
        double value = t->idf[feature];
        if (end - start > 1) value *= 1.0 + log((double)(end - start)); /* sublinear tf */
        norm2 += value * value;
        for (Py_ssize_t k = 0; k < labels; k++)
            sums[k] += value * t->coef[k * t->n_features + feature];
        start = end;
    }
    /* No feature the model knows: the intercepts decide, as they do for scikit-learn. */
    double norm = norm2 > 0.0 ? sqrt(norm2) : 0.0;
    double top = -INFINITY, total = 0.0;
    for (Py_ssize_t k = 0; k < labels; k++) {
        out[k] = t->intercept[k] + (norm > 0.0 ? sums[k] / norm : 0.0);
        if (out[k] > top) top = out[k];
    }
    for (Py_ssize_t k = 0; k < labels; k++) {
        out[k] = exp(out[k] - top);
        total += out[k];
    }
    for (Py_ssize_t k = 0; k < labels; k++) out[k] /= total;
}

static int read_doubles(Py_buffer *view, Py_ssize_t count, const char *name) {
    if (view->len != count * (Py_ssize_t)sizeof(double)) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd float64 values", name, count);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(probabilities_doc,
"probabilities(ids, n_texts, keys, values, shift, pair_base, idf, coef, intercept, out)\n\n"
"Write the probabilities of n_texts texts into out (float64, n_texts x labels).\n\n"
"ids is a list of token ids, BOUNDARY between two texts and DROPPED where a chunk has no\n"
"token; keys and values are a PairTable's arrays (int64) and shift its shift; idf, coef and\n"
"intercept are float64 and C-contiguous.");

static PyObject *probabilities(PyObject *module, PyObject *args) {
    PyObject *ids;
    Py_ssize_t n_texts;
    unsigned shift;
    long long pair_base;
    Py_buffer keys, values, idf, coef, intercept, out;
    if (!PyArg_ParseTuple(args, "O!ny*y*ILy*y*y*w*", &PyList_Type, &ids, &n_texts, &keys,
                          &values, &shift, &pair_base, &idf, &coef, &intercept, &out))
        return NULL;
    PyObject *result = NULL;
    int64_t *features = NULL;
    Tables t = {
        .keys = keys.buf, .values = values.buf, .mask = (uint64_t)(keys.len / 8) - 1,
        .shift = shift, .pair_base = pair_base, .idf = idf.buf, .coef = coef.buf,
        .intercept = intercept.buf, .n_features = idf.len / 8, .n_labels = intercept.len / 8,
    };
    Py_ssize_t n_slots = keys.len / 8;
    /* A home slot is the top 64 - shift bits of a product: the table must have 2**(64 - shift)
       slots, or a slot would be read past its end. */
    if (shift < 1 || shift > 63 || (uint64_t)n_slots != (uint64_t)1 << (64 - shift) ||
        values.len != keys.len) {
        PyErr_SetString(PyExc_ValueError, "keys and values are not a PairTable's arrays");
        goto done;
    }
    if (t.n_labels < 1 || t.n_labels > MAX_LABELS) {
        PyErr_Format(PyExc_ValueError, "intercept: between 1 and %d labels expected", MAX_LABELS);
        goto done;
    }
    if (pair_base != t.n_features + 1) {
        PyErr_SetString(PyExc_ValueError, "pair_base is not one past the last feature id");
        goto done;
    }
    if (read_doubles(&coef, t.n_labels * t.n_features, "coef") < 0 ||
        read_doubles(&out, n_texts * t.n_labels, "out") < 0)
        goto done;
    Py_ssize_t n_ids = PyList_GET_SIZE(ids);
    /* A text's features: each token, and the bigram after it: at most two per id. */
    features = PyMem_Malloc(sizeof(int64_t) * (2 * (size_t)n_ids + 1));
    if (features == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t text = 0, count = 0;
    int64_t previous = BOUNDARY;
    for (Py_ssize_t i = 0; i <= n_ids; i++) {
        int64_t id = BOUNDARY; /* past the last id: the last text ends */
        if (i < n_ids) {
            /* An exact int only: converting anything else could run Python code that changes
               the list under this loop. */
            PyObject *item = PyList_GET_ITEM(ids, i);
            if (!PyLong_CheckExact(item)) {
                PyErr_SetString(PyExc_TypeError, "token ids must be ints");
                goto done;
            }
            id = PyLong_AsLongLong(item);
            if (id == -1 && PyErr_Occurred()) goto done;
        }
        if (id == DROPPED) continue; /* no token: its neighbours are next to each other */
        if (id == BOUNDARY) {
            if (text == n_texts) {
                PyErr_SetString(PyExc_ValueError, "ids hold more texts than n_texts");
                goto done;
            }
            text_probabilities(&t, features, count, (double *)out.buf + text * t.n_labels);
            text++, count = 0;
        } else if (id >= 0 && id < t.n_features) {
            features[count++] = id;
            if (previous >= 0) {
                int64_t pair = find_pair(&t, previous * t.pair_base + id);
                if (pair >= t.n_features) {
                    PyErr_SetString(PyExc_ValueError, "a bigram id outside idf");
                    goto done;
                }
                if (pair >= 0) features[count++] = pair;
            }
        } else if (id != UNSEEN) {
            PyErr_Format(PyExc_ValueError, "token id %lld is not a feature id", (long long)id);
            goto done;
        }
        previous = id;
    }
    if (text != n_texts) {
        PyErr_SetString(PyExc_ValueError, "ids hold fewer texts than n_texts");
        goto done;
    }
    result = Py_NewRef(Py_None);
done:
    PyMem_Free(features);
    PyBuffer_Release(&keys);
    PyBuffer_Release(&values);
    PyBuffer_Release(&idf);
    PyBuffer_Release(&coef);
    PyBuffer_Release(&intercept);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"probabilities", probabilities, METH_VARARGS, probabilities_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "model._kernel", "The fast path's arithmetic in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__kernel(void) { return PyModule_Create(&module); }
