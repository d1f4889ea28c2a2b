/* The fast path's per-token work in C: a masked text to probabilities, for one text or a batch.

   FastScorer (model/fast.py) strips accents and masks actor names in Python, and analyses each
   chunk not seen before into its ids (its caches). This splits the text into whitespace-
   separated chunks, reads each chunk's id from a ChunkTable (below), a chunk of several ids and
   the words after a negation from FastScorer's analyses, and turns the ids into probabilities
   with the sums its numpy and plain-Python paths make: bigram ids from the PairTable, sublinear
   tf, idf, L2 norm, dot product with the coefficients, softmax. Those paths stay as the
   fallback where no compiler built this module (setup.py makes it optional), and
   tests/model/test_fast.py checks every path against predict_proba.

   The only state is a ChunkTable's, which FastScorer owns and passes in, and a WordTable's
   (below), built once per version and only read; the tables are read through the buffer
   protocol on each call. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The token ids model/fast.py gives (UNSEEN, BOUNDARY, SPECIAL, DROPPED there), the kinds
   of a Chunk's entries (WORD, NEGATION, CLAUSE, BOUND) and PairTable's EMPTY. */
#define UNSEEN (-1)
#define BOUNDARY (-2)
#define SPECIAL (-3)
#define DROPPED (-4)
enum { WORD = 0, NEGATION = 1, CLAUSE = 2, BOUND = 3 };
#define EMPTY (-1)
#define MULTIPLIER 0x9E3779B97F4A7C15ULL
#define MAX_LABELS 64
#define INSERTION_SORT_MAX 64

typedef struct {
    const int64_t *slots; /* PairTable.slots: a key and its value per slot */
    uint64_t mask;
    unsigned shift;
    int64_t pair_base;
    /* Per feature, its idf and its coefficient for each label: one cache line, not four. */
    const double *weights, *intercept;
    int64_t n_features;
    Py_ssize_t n_labels;
} Tables;

/* Ask for the cache line at address before it is read, where the compiler can. */
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(address) __builtin_prefetch(address)
#else
#define PREFETCH(address) ((void)0)
#endif

static uint64_t home_slot(const Tables *t, int64_t key) {
    return ((uint64_t)key * MULTIPLIER) >> t->shift;
}

/* PairTable.find for one key: linear probing from its Fibonacci-hashed home slot. */
static int64_t find_pair(const Tables *t, int64_t key) {
    uint64_t slot = home_slot(t, key);
    for (uint64_t probes = 0; probes <= t->mask; probes++) { /* a quarter full: a walk ends */
        int64_t stored = t->slots[2 * slot];
        if (stored == key) return t->slots[2 * slot + 1];
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
        const double *row = t->weights + feature * (1 + labels);
        double value = row[0];
        if (end - start > 1) value *= 1.0 + log((double)(end - start)); /* sublinear tf */
        norm2 += value * value;
        for (Py_ssize_t k = 0; k < labels; k++) sums[k] += value * row[1 + k];
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

/* A batch being scored: the current text's tokens so far, and where its probabilities go. */
typedef struct {
    const Tables *t;
    int64_t *tokens;   /* the text's token ids in order, UNSEEN included: capacity of them */
    int64_t *features; /* room for its features, two per token, after the tokens */
    Py_ssize_t count, capacity;
    Py_ssize_t text, n_texts;
    double *out;
} Scoring;

/* Read one token id: an exact int only, as anything else could run Python code. */
static int read_id(PyObject *item, int64_t *id) {
    if (!PyLong_CheckExact(item)) {
        PyErr_SetString(PyExc_TypeError, "token ids must be ints");
        return -1;
    }
    *id = PyLong_AsLongLong(item);
    return (*id == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* The text read so far to its probabilities: its features are each known token and the
   bigram of each pair of known neighbours. Every table slot and weight row is asked for before
   any is read: their cache misses then overlap rather than come one after another. */
static int end_text(Scoring *s) {
    const Tables *t = s->t;
    const int64_t *tokens = s->tokens;
    int64_t *features = s->features;
    Py_ssize_t n = s->count, found = 0;
    if (s->text == s->n_texts) {
        PyErr_SetString(PyExc_ValueError, "the chunks hold more texts than n_texts");
        return -1;
    }
    for (Py_ssize_t i = 1; i < n; i++)
        if (tokens[i - 1] >= 0 && tokens[i] >= 0)
            PREFETCH(t->slots + 2 * home_slot(t, tokens[i - 1] * t->pair_base + tokens[i]));
    for (Py_ssize_t i = 0; i < n; i++) {
        if (tokens[i] < 0) continue;
        features[found++] = tokens[i];
        if (i == 0 || tokens[i - 1] < 0) continue;
        int64_t pair = find_pair(t, tokens[i - 1] * t->pair_base + tokens[i]);
        if (pair >= t->n_features) {
            PyErr_SetString(PyExc_ValueError, "a bigram id outside idf");
            return -1;
        }
        if (pair >= 0) features[found++] = pair;
    }
    for (Py_ssize_t i = 0; i < found; i++) PREFETCH(t->weights + features[i] * (1 + t->n_labels));
    text_probabilities(t, features, found, s->out + s->text * t->n_labels);
    s->text++, s->count = 0;
    return 0;
}

/* Add one token id to the text being read; BOUNDARY ends it. */
static int add_id(Scoring *s, int64_t id) {
    if (id == DROPPED) return 0; /* no token: its neighbours are next to each other */
    if (id == BOUNDARY) return end_text(s);
    if (id < UNSEEN || id >= s->t->n_features) {
        PyErr_Format(PyExc_ValueError, "token id %lld is not a feature id", (long long)id);
        return -1;
    }
    if (s->count == s->capacity) {
        Py_ssize_t capacity = 2 * s->capacity + 64;
        int64_t *grown = PyMem_Realloc(s->tokens, 3 * sizeof(int64_t) * (size_t)capacity);
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        s->tokens = grown, s->features = grown + capacity, s->capacity = capacity;
    }
    s->tokens[s->count++] = id;
    return 0;
}

/* Read a chunk's entries (FastScorer._chunks[chunk.lower()].entries): each WORD as its plain
   id or, while a negation's scope is open, as its negated form's. */
static int add_entries(Scoring *s, PyObject *chunks, PyObject *chunk, long scope, long *negated) {
    static PyObject *lower = NULL;
    if (lower == NULL && (lower = PyUnicode_InternFromString("lower")) == NULL) return -1;
    PyObject *lowered = PyObject_CallMethodNoArgs(chunk, lower);
    if (lowered == NULL) return -1;
    PyObject *analysed = PyObject_GetItem(chunks, lowered);
    Py_DECREF(lowered);
    if (analysed == NULL) return -1;
    int rc = -1;
    PyObject *entries = PyTuple_Check(analysed) && PyTuple_GET_SIZE(analysed) == 3
                            ? PyTuple_GET_ITEM(analysed, 2)
                            : NULL;
    if (entries == NULL || !PyTuple_Check(entries)) {
        PyErr_SetString(PyExc_TypeError, "chunks must map a chunk to a Chunk");
        goto done;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(entries); i++) {
        PyObject *entry = PyTuple_GET_ITEM(entries, i);
        int64_t plain, negative, kind;
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 3) {
            PyErr_SetString(PyExc_TypeError, "a Chunk's entries must be (id, id, kind)");
            goto done;
        }
        if (read_id(PyTuple_GET_ITEM(entry, 0), &plain) < 0 ||
            read_id(PyTuple_GET_ITEM(entry, 1), &negative) < 0 ||
            read_id(PyTuple_GET_ITEM(entry, 2), &kind) < 0)
            goto done;
        switch (kind) {
        case WORD:
            if (add_id(s, *negated ? negative : plain) < 0) goto done;
            if (*negated) (*negated)--;
            break;
        case NEGATION:
            if (add_id(s, plain) < 0) goto done;
            *negated = scope;
            break;
        case BOUND: /* a text ends: so does the scope */
            if (add_id(s, plain) < 0) goto done;
            *negated = 0;
            break;
        case CLAUSE:
            *negated = 0;
            break;
        default:
            PyErr_Format(PyExc_ValueError, "entry kind %lld is not one of WORD..BOUND", (long long)kind);
            goto done;
        }
    }
    rc = 0;
done:
    Py_DECREF(analysed);
    return rc;
}

/* ChunkTable: each chunk seen (as written, by its code points) to its one id, DROPPED or
   SPECIAL, in C. It stands where a dict of str would: no str is made, hashed or freed for a
   chunk seen before, which was a fifth of a scoring run. Bounded as FastScorer's caches are:
   cleared when it holds `limit` chunks. A probe walks at most MAX_PROBES slots, and the hash is
   seeded per table, so chunks written to collide cost a call of word_id each, not a longer walk. */

#define MAX_PROBES 32
#define FIRST_SLOTS 1024

typedef struct {
    uint64_t hash;
    Py_ssize_t start, length; /* its code points in the pool; length 0: an empty slot */
    int64_t id;
} ChunkSlot;

typedef struct {
    PyObject_HEAD
    Py_ssize_t limit, used;
    uint64_t mask, seed;
    ChunkSlot *slots;
    Py_UCS4 *pool;
    Py_ssize_t pool_used, pool_size;
} ChunkTable;

static void chunk_table_dealloc(ChunkTable *self) {
    PyMem_Free(self->slots);
    PyMem_Free(self->pool);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *chunk_table_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"limit", "seed", NULL};
    Py_ssize_t limit;
    unsigned long long seed;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "nK", names, &limit, &seed)) return NULL;
    if (limit < 1) {
        PyErr_SetString(PyExc_ValueError, "limit: at least one chunk");
        return NULL;
    }
    ChunkTable *self = (ChunkTable *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    self->limit = limit, self->seed = seed;
    return (PyObject *)self;
}

static Py_ssize_t chunk_table_len(ChunkTable *self) { return self->used; }

/* Empty the table, keeping its memory. */
static void chunk_table_clear(ChunkTable *self) {
    if (self->slots != NULL) memset(self->slots, 0, sizeof(ChunkSlot) * (size_t)(self->mask + 1));
    self->used = 0, self->pool_used = 0;
}

static uint64_t chunk_hash(const ChunkTable *table, const Py_UCS4 *chars, Py_ssize_t n) {
    uint64_t hash = table->seed ^ 0xcbf29ce484222325ULL; /* FNV-1a, seeded */
    for (Py_ssize_t i = 0; i < n; i++) hash = (hash ^ chars[i]) * 0x100000001b3ULL;
    return hash ^ (hash >> 29);
}

/* The slot holding chars, or the empty slot where they would go, or NULL past MAX_PROBES. */
static ChunkSlot *chunk_slot(ChunkTable *table, uint64_t hash, const Py_UCS4 *chars,
                             Py_ssize_t n) {
    if (table->slots == NULL) return NULL;
    uint64_t at = hash & table->mask;
    for (int probe = 0; probe < MAX_PROBES; probe++, at = (at + 1) & table->mask) {
        ChunkSlot *slot = &table->slots[at];
        if (slot->length == 0) return slot;
        if (slot->hash == hash && slot->length == n &&
            memcmp(table->pool + slot->start, chars, sizeof(Py_UCS4) * (size_t)n) == 0)
            return slot;
    }
    return NULL;
}

/* Keep chars -> id, making room first: at most half the slots are taken. */
static int chunk_table_add(ChunkTable *table, uint64_t hash, const Py_UCS4 *chars,
                           Py_ssize_t n, int64_t id) {
    if (table->used >= table->limit) chunk_table_clear(table);
    if (table->slots == NULL || 2 * (uint64_t)(table->used + 1) > table->mask + 1) {
        uint64_t size = table->slots == NULL ? FIRST_SLOTS : 2 * (table->mask + 1);
        ChunkSlot *grown = PyMem_Calloc((size_t)size, sizeof(ChunkSlot));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        ChunkSlot *old = table->slots;
        uint64_t old_size = old == NULL ? 0 : table->mask + 1;
        table->slots = grown, table->mask = size - 1;
        for (uint64_t i = 0; i < old_size; i++) { /* every old entry, into the new slots */
            if (old[i].length == 0) continue;
            uint64_t at = old[i].hash & table->mask;
            while (grown[at].length != 0) at = (at + 1) & table->mask;
            grown[at] = old[i];
        }
        PyMem_Free(old);
    }
    ChunkSlot *slot = chunk_slot(table, hash, chars, n);
    if (slot == NULL || slot->length != 0) return 0; /* a long walk, or there already */
    if (table->pool_used + n > table->pool_size) {
        Py_ssize_t size = 2 * (table->pool_size + n) + 4096;
        Py_UCS4 *grown = PyMem_Realloc(table->pool, sizeof(Py_UCS4) * (size_t)size);
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        table->pool = grown, table->pool_size = size;
    }
    memcpy(table->pool + table->pool_used, chars, sizeof(Py_UCS4) * (size_t)n);
    *slot = (ChunkSlot){.hash = hash, .start = table->pool_used, .length = n, .id = id};
    table->pool_used += n, table->used++;
    return 0;
}

static PySequenceMethods chunk_table_sequence = {.sq_length = (lenfunc)chunk_table_len};

static PyTypeObject ChunkTableType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "model._kernel.ChunkTable",
    .tp_doc = PyDoc_STR("ChunkTable(limit, seed): chunks as written to their ids, for probabilities"),
    .tp_basicsize = sizeof(ChunkTable),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = chunk_table_new,
    .tp_dealloc = (destructor)chunk_table_dealloc,
    .tp_as_sequence = &chunk_table_sequence,
};

/* WordTable: a stored dictionary's words to their lemmas, read from the two blobs of lines an
   .npz holds (model/fast.py, Tables), without a str or a dict entry made for each of its
   180k words: building that dict was a tenth of a second of every start-up, and a scoring run
   asks it for a few thousand words. A later repeat of a word wins, as in a dict. */

typedef struct {
    Py_ssize_t word, word_length, lemma, lemma_length; /* offsets into the blobs */
} WordEntry;

typedef struct {
    PyObject_HEAD
    PyObject *words, *lemmas; /* the blobs (bytes), kept alive */
    WordEntry *entries;
    int32_t *slots; /* an entry's index, or -1 */
    Py_ssize_t n_entries;
    uint64_t mask;
} WordTable;

static uint64_t word_hash(const char *bytes, Py_ssize_t n) {
    uint64_t hash = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (Py_ssize_t i = 0; i < n; i++) hash = (hash ^ (unsigned char)bytes[i]) * 0x100000001b3ULL;
    return hash;
}

static void word_table_dealloc(WordTable *self) {
    Py_XDECREF(self->words);
    Py_XDECREF(self->lemmas);
    PyMem_Free(self->entries);
    PyMem_Free(self->slots);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The slot of the word bytes[0:n]: where it is, or the empty slot where it would go. */
static uint64_t word_slot(const WordTable *self, const char *bytes, Py_ssize_t n) {
    const char *stored = PyBytes_AS_STRING(self->words);
    uint64_t slot = word_hash(bytes, n) & self->mask;
    for (;;) { /* at most half full: a walk ends */
        int32_t at = self->slots[slot];
        if (at < 0) return slot;
        const WordEntry *e = &self->entries[at];
        if (e->word_length == n && memcmp(stored + e->word, bytes, (size_t)n) == 0) return slot;
        slot = (slot + 1) & self->mask;
    }
}

/* Offsets of the lines of blob, "\n"-separated as as_lines writes them; n_lines of them. */
static Py_ssize_t *line_starts(PyObject *blob, Py_ssize_t *n_lines) {
    const char *data = PyBytes_AS_STRING(blob);
    Py_ssize_t n = PyBytes_GET_SIZE(blob), count = 1;
    for (const char *at = data; (at = memchr(at, '\n', (size_t)(data + n - at))) != NULL; at++)
        count++;
    Py_ssize_t *starts = PyMem_Malloc((size_t)(count + 1) * sizeof(Py_ssize_t));
    if (starts == NULL) return (Py_ssize_t *)PyErr_NoMemory();
    Py_ssize_t line = 0;
    starts[line++] = 0;
    for (const char *at = data; (at = memchr(at, '\n', (size_t)(data + n - at))) != NULL; at++)
        starts[line++] = at + 1 - data;
    starts[line] = n + 1; /* as if a newline followed the last line */
    *n_lines = count;
    return starts;
}

static PyObject *word_table_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"words", "lemmas", NULL};
    PyObject *words, *lemmas;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "SS", names, &words, &lemmas)) return NULL;
    Py_ssize_t n_words, n_lemmas;
    Py_ssize_t *word_starts = line_starts(words, &n_words), *lemma_starts = NULL;
    WordTable *self = NULL;
    if (word_starts == NULL || (lemma_starts = line_starts(lemmas, &n_lemmas)) == NULL) goto failed;
    if (n_words != n_lemmas) {
        PyErr_SetString(PyExc_ValueError, "the words and their lemmas are not as many lines");
        goto failed;
    }
    if (n_words > INT32_MAX / 4) {
        PyErr_SetString(PyExc_ValueError, "too many words");
        goto failed;
    }
    if ((self = (WordTable *)type->tp_alloc(type, 0)) == NULL) goto failed;
    self->words = Py_NewRef(words), self->lemmas = Py_NewRef(lemmas);
    uint64_t size = 16;
    while (size < 2 * (uint64_t)n_words) size *= 2;
    self->mask = size - 1;
    self->entries = PyMem_Malloc((size_t)n_words * sizeof(WordEntry));
    self->slots = PyMem_Malloc((size_t)size * sizeof(int32_t));
    if (self->entries == NULL || self->slots == NULL) {
        PyErr_NoMemory();
        goto failed;
    }
    memset(self->slots, 0xff, (size_t)size * sizeof(int32_t));
    const char *data = PyBytes_AS_STRING(words);
    for (Py_ssize_t i = 0; i < n_words; i++) {
        WordEntry entry = {word_starts[i], word_starts[i + 1] - 1 - word_starts[i],
                           lemma_starts[i], lemma_starts[i + 1] - 1 - lemma_starts[i]};
        uint64_t slot = word_slot(self, data + entry.word, entry.word_length);
        if (self->slots[slot] >= 0) { /* a repeat: the later lemma wins */
            self->entries[self->slots[slot]].lemma = entry.lemma;
            self->entries[self->slots[slot]].lemma_length = entry.lemma_length;
            continue;
        }
        self->entries[self->n_entries] = entry;
        self->slots[slot] = (int32_t)self->n_entries++;
    }
    PyMem_Free(word_starts);
    PyMem_Free(lemma_starts);
    return (PyObject *)self;
failed:
    PyMem_Free(word_starts);
    PyMem_Free(lemma_starts);
    Py_XDECREF(self);
    return NULL;
}

static PyObject *word_table_get(WordTable *self, PyObject *const *args, Py_ssize_t n_args) {
    if (n_args < 1 || n_args > 2) {
        PyErr_SetString(PyExc_TypeError, "get(word, default=None)");
        return NULL;
    }
    PyObject *fallback = n_args == 2 ? args[1] : Py_None;
    if (!PyUnicode_Check(args[0])) return Py_NewRef(fallback);
    Py_ssize_t n;
    const char *bytes = PyUnicode_AsUTF8AndSize(args[0], &n);
    if (bytes == NULL) { /* a lone surrogate: no stored word, which is UTF-8, is it */
        PyErr_Clear();
        return Py_NewRef(fallback);
    }
    int32_t at = self->slots[word_slot(self, bytes, n)];
    if (at < 0) return Py_NewRef(fallback);
    const WordEntry *e = &self->entries[at];
    return PyUnicode_DecodeUTF8(PyBytes_AS_STRING(self->lemmas) + e->lemma, e->lemma_length, NULL);
}

static Py_ssize_t word_table_len(WordTable *self) { return self->n_entries; }

static PyMethodDef word_table_methods[] = {
    {"get", (PyCFunction)(void (*)(void))word_table_get, METH_FASTCALL,
     "get(word, default=None): word's lemma, else default"},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods word_table_sequence = {.sq_length = (lenfunc)word_table_len};

static PyTypeObject WordTableType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "model._kernel.WordTable",
    .tp_doc = PyDoc_STR("WordTable(words, lemmas): a stored dictionary's lemmas, by word"),
    .tp_basicsize = sizeof(WordTable),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = word_table_new,
    .tp_dealloc = (destructor)word_table_dealloc,
    .tp_methods = word_table_methods,
    .tp_as_sequence = &word_table_sequence,
};

/* A text's chunks, read one at a time: each as code points, in a buffer of this call's. */
typedef struct {
    Py_UCS4 *chars;
    Py_ssize_t length, size;
} ChunkChars;

/* Read one chunk: most are one plain id, straight from the table; the others, and every chunk
   while a negation's scope is open, are read from their entries. word_id makes a new chunk's. */
static int read_chunk(Scoring *s, ChunkTable *table, PyObject *word_id, PyObject *chunks,
                      const ChunkChars *chunk, long scope, long *negated) {
    uint64_t hash = 0;
    if (*negated == 0) {
        hash = chunk_hash(table, chunk->chars, chunk->length);
        ChunkSlot *slot = chunk_slot(table, hash, chunk->chars, chunk->length);
        if (slot != NULL && slot->length != 0) {
            if (slot->id != SPECIAL) return add_id(s, slot->id);
        } else { /* not seen, or past a long walk */
            PyObject *word = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, chunk->chars,
                                                       chunk->length);
            if (word == NULL) return -1;
            PyObject *value = PyObject_CallOneArg(word_id, word); /* runs Python code */
            Py_DECREF(word);
            if (value == NULL) return -1;
            int64_t id;
            int rc = read_id(value, &id);
            Py_DECREF(value);
            if (rc < 0 || chunk_table_add(table, hash, chunk->chars, chunk->length, id) < 0)
                return -1;
            if (id != SPECIAL) return add_id(s, id);
        }
    }
    PyObject *word = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, chunk->chars, chunk->length);
    if (word == NULL) return -1;
    int rc = add_entries(s, chunks, word, scope, negated);
    Py_DECREF(word);
    return rc;
}

PyDoc_STRVAR(probabilities_doc,
"probabilities(text, n_texts, table, word_id, chunks, scope, slots, shift, pair_base,\n"
"              weights, intercept, out)\n\n"
"Write the probabilities of n_texts texts into out (float64, n_texts x labels).\n\n"
"text holds the texts, a NUL chunk between two; it is split on whitespace as str.split()\n"
"splits it. table is a ChunkTable of the chunks seen before, word_id(chunk) gives a new\n"
"chunk's one id, DROPPED or SPECIAL, chunks maps a lower-cased chunk to its Chunk, and scope is\n"
"how many words a negation reaches. slots is a PairTable's (int64, slots x 2) and shift its\n"
"shift; weights (features x 1 + labels: idf, then the coefficients) and intercept are float64\n"
"and C-contiguous.");

static PyObject *probabilities(PyObject *module, PyObject *args) {
    PyObject *text, *word_id, *chunks;
    ChunkTable *table;
    Py_ssize_t n_texts;
    long scope;
    unsigned shift;
    long long pair_base;
    long negated = 0; /* how many words the open negation still reaches */
    Py_buffer slots, weights, intercept, out;
    if (!PyArg_ParseTuple(args, "UnO!OOly*ILy*y*w*", &text, &n_texts, &ChunkTableType, &table,
                          &word_id, &chunks, &scope, &slots, &shift, &pair_base, &weights,
                          &intercept, &out))
        return NULL;
    ChunkChars chunk = {0};
    PyObject *result = NULL;
    Py_ssize_t n_slots = slots.len / 16, n_labels = intercept.len / 8;
    Tables t = {
        .slots = slots.buf, .mask = (uint64_t)n_slots - 1, .shift = shift,
        .pair_base = pair_base, .weights = weights.buf, .intercept = intercept.buf,
        .n_features = n_labels > 0 ? weights.len / 8 / (1 + n_labels) : 0, .n_labels = n_labels,
    };
    Scoring s = {.t = &t, .n_texts = n_texts, .out = out.buf};
    /* A home slot is the top 64 - shift bits of a product: the table must have 2**(64 - shift)
       slots, or a slot would be read past its end. */
    if (shift < 1 || shift > 63 || (uint64_t)n_slots != (uint64_t)1 << (64 - shift) ||
        slots.len != n_slots * 16) {
        PyErr_SetString(PyExc_ValueError, "slots is not a PairTable's array");
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
    if (read_doubles(&weights, (1 + t.n_labels) * t.n_features, "weights") < 0 ||
        read_doubles(&out, n_texts * t.n_labels, "out") < 0)
        goto done;
    /* text is a str: nothing the callbacks do can change it. */
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    /* Each chunk's code points into chunk.chars; the kind is fixed for the whole text, so the
       loop is written once per kind (CHUNKS), without a switch on it per character. */
#define CHUNKS(CHAR)                                                                            \
    for (Py_ssize_t i = 0; i < length;) {                                                      \
        const CHAR *chars = data;                                                               \
        if (Py_UNICODE_ISSPACE(chars[i])) {                                                     \
            i++;                                                                                \
            continue;                                                                           \
        }                                                                                       \
        Py_ssize_t end = i;                                                                     \
        while (end < length && !Py_UNICODE_ISSPACE(chars[end])) end++;                          \
        if (end - i > chunk.size) {                                                             \
            Py_ssize_t size = 2 * (end - i) + 64;                                               \
            Py_UCS4 *grown = PyMem_Realloc(chunk.chars, sizeof(Py_UCS4) * (size_t)size);       \
            if (grown == NULL) {                                                                \
                PyErr_NoMemory();                                                               \
                goto done;                                                                      \
            }                                                                                   \
            chunk.chars = grown, chunk.size = size;                                             \
        }                                                                                       \
        for (chunk.length = 0; i < end; i++) chunk.chars[chunk.length++] = chars[i];           \
        if (read_chunk(&s, table, word_id, chunks, &chunk, scope, &negated) < 0) goto done;  \
    }
    if (kind == PyUnicode_1BYTE_KIND) {
        CHUNKS(Py_UCS1)
    } else if (kind == PyUnicode_2BYTE_KIND) {
        CHUNKS(Py_UCS2)
    } else {
        CHUNKS(Py_UCS4)
    }
#undef CHUNKS
    if (add_id(&s, BOUNDARY) < 0) goto done; /* past the last chunk: the last text ends */
    if (s.text != n_texts) {
        PyErr_SetString(PyExc_ValueError, "the chunks hold fewer texts than n_texts");
        goto done;
    }
    result = Py_NewRef(Py_None);
done:
    PyMem_Free(s.tokens);
    PyMem_Free(chunk.chars);
    PyBuffer_Release(&slots);
    PyBuffer_Release(&weights);
    PyBuffer_Release(&intercept);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"probabilities", probabilities, METH_VARARGS, probabilities_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "model._kernel", "The fast path's per-token work in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__kernel(void) {
    if (PyType_Ready(&ChunkTableType) < 0 || PyType_Ready(&WordTableType) < 0) return NULL;
    PyObject *created = PyModule_Create(&module);
    if (created == NULL) return NULL;
    if (PyModule_AddObjectRef(created, "ChunkTable", (PyObject *)&ChunkTableType) < 0 ||
        PyModule_AddObjectRef(created, "WordTable", (PyObject *)&WordTableType) < 0) {
        Py_DECREF(created);
        return NULL;
    }
    return created;
}
