/* core._l2native: the L2 book stored natively (int64 tick -> int64 lots), and int64 level arrays.
 *
 * Why: with the book made of Python dicts, lists and ints, a depth frame's time went to dict
 * probes over scattered int objects, heap sifts through rich comparisons, and allocating and
 * freeing an int per level (feeds/bench.py has the profile). Here each side is
 *
 *   - an open-addressing hash map int64 -> int64 (linear probing, load <= 1/2, deletion by
 *     backward shift: no tombstones), holding every level (lots > 0), and
 *   - a binary min-heap of int64 keys with lazy deletion (bids store -tick): a price is pushed
 *     when it becomes a level, stale entries are dropped when they reach the top, and the heap
 *     is rebuilt from the map when it holds more than 2 * levels + 256 entries -- the pure
 *     Python L2Book's algorithm, on machine words.
 *
 * ``Levels`` is an immutable sequence of int64 (len, index, iteration, == any sequence of
 * ints, repr like a list). feeds._depthfast builds a frame's four level arrays as Levels
 * through the ``_C_API`` capsule (no Python int per level), and ``Book.update`` reads Levels
 * arrays directly; any other sequence of ints is converted level by level. Everything that
 * reads DepthDiff fields (buffering, rescale, consumers) iterates them like lists.
 *
 * ``Book`` is the base type of core.l2book.L2Book (the Python class adds the derived reads).
 * ``bids``/``asks`` materialise a dict tick -> lots on access, cached until the next change:
 * readers that want one number use best_bid/best_ask/best/depth/top_* (O(1) or O(k log n)).
 * Ticks and lots are limited to 64-bit signed integers (OverflowError beyond).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

#ifdef Py_GIL_DISABLED
#error "relies on the GIL (module-level scratch); free-threaded builds use the pure-Python path"
#endif

/* ------------------------------------------------------------------ Levels */

typedef struct {
    PyObject_VAR_HEAD
    int64_t v[1];
} LevelsObject;

static PyTypeObject Levels_Type;

static PyObject *
levels_new(const int64_t *src, Py_ssize_t n, Py_ssize_t stride)
{
    LevelsObject *o = PyObject_NewVar(LevelsObject, &Levels_Type, n);
    if (o == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++)
        o->v[i] = src[i * stride];
    return (PyObject *)o;
}

static void
levels_dealloc(PyObject *self)
{
    PyObject_Free(self);
}

static Py_ssize_t
levels_len(PyObject *self)
{
    return Py_SIZE(self);
}

static PyObject *
levels_item(PyObject *self, Py_ssize_t i)
{
    if (i < 0 || i >= Py_SIZE(self)) {
        PyErr_SetString(PyExc_IndexError, "Levels index out of range");
        return NULL;
    }
    return PyLong_FromLongLong(((LevelsObject *)self)->v[i]);
}

static PyObject *
levels_as_list(PyObject *self)
{
    Py_ssize_t n = Py_SIZE(self);
    PyObject *list = PyList_New(n);
    if (list == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *x = PyLong_FromLongLong(((LevelsObject *)self)->v[i]);
        if (x == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, x);
    }
    return list;
}

static PyObject *
levels_subscript(PyObject *self, PyObject *key)
{
    if (PyIndex_Check(key)) {
        Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
        if (i == -1 && PyErr_Occurred())
            return NULL;
        if (i < 0)
            i += Py_SIZE(self);
        return levels_item(self, i);
    }
    /* slices and the rest: as the list would answer */
    PyObject *list = levels_as_list(self);
    if (list == NULL)
        return NULL;
    PyObject *r = PyObject_GetItem(list, key);
    Py_DECREF(list);
    return r;
}

static PyObject *
levels_richcompare(PyObject *self, PyObject *other, int op)
{
    if (op != Py_EQ && op != Py_NE)
        Py_RETURN_NOTIMPLEMENTED;
    PyObject *a = levels_as_list(self);
    if (a == NULL)
        return NULL;
    PyObject *b;
    if (PyObject_TypeCheck(other, &Levels_Type))
        b = levels_as_list(other);
    else if (PyList_Check(other))
        b = Py_NewRef(other);
    else if (PyTuple_Check(other))
        b = PySequence_List(other);
    else {
        Py_DECREF(a);
        Py_RETURN_NOTIMPLEMENTED;
    }
    if (b == NULL) {
        Py_DECREF(a);
        return NULL;
    }
    PyObject *r = PyObject_RichCompare(a, b, op);
    Py_DECREF(a);
    Py_DECREF(b);
    return r;
}

static PyObject *
levels_repr(PyObject *self)
{
    PyObject *list = levels_as_list(self);
    if (list == NULL)
        return NULL;
    PyObject *r = PyObject_Repr(list);
    Py_DECREF(list);
    return r;
}

static PyObject *
levels_reduce(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    /* pickles (and copies) as the plain list it stands for */
    PyObject *list = levels_as_list(self);
    if (list == NULL)
        return NULL;
    return Py_BuildValue("(O(N))", (PyObject *)&PyList_Type, list);
}

static PyMethodDef levels_methods[] = {
    {"__reduce__", levels_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods levels_as_sequence = {
    .sq_length = levels_len,
    .sq_item = levels_item,
};

static PyMappingMethods levels_as_mapping = {
    .mp_length = levels_len,
    .mp_subscript = levels_subscript,
};

static PyTypeObject Levels_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "core._l2native.Levels",
    .tp_basicsize = offsetof(LevelsObject, v),
    .tp_itemsize = sizeof(int64_t),
    .tp_dealloc = levels_dealloc,
    .tp_repr = levels_repr,
    .tp_as_sequence = &levels_as_sequence,
    .tp_as_mapping = &levels_as_mapping,
    .tp_hash = PyObject_HashNotImplemented,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_SEQUENCE,
    .tp_doc = "An immutable sequence of 64-bit ints (a depth frame's ticks or lots); == a list of the same ints.",
    .tp_richcompare = levels_richcompare,
    .tp_methods = levels_methods,
};

/* ------------------------------------------------------------------ one side */

typedef struct {
    int64_t k;  /* tick; 0 = empty slot (ticks are > 0) */
    int64_t v;  /* lots */
} Slot;  /* key and value side by side: one cache line per probe */

typedef struct {
    Slot *slots;
    Py_ssize_t cap;  /* power of two */
    Py_ssize_t count;
    int64_t *heap;   /* min-heap of (negated for bids) ticks; may hold stale/duplicate entries */
    Py_ssize_t hlen, hcap;
    int negate;
} Side;

static inline size_t
slot_of(int64_t k, Py_ssize_t cap)
{
    uint64_t h = (uint64_t)k * 0x9E3779B97F4A7C15ULL;
    h ^= h >> 29;
    return (size_t)h & (size_t)(cap - 1);
}

static int
side_init(Side *s, int negate)
{
    memset(s, 0, sizeof(*s));
    s->negate = negate;
    s->cap = 16;
    s->slots = PyMem_Calloc((size_t)s->cap, sizeof(Slot));
    if (s->slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void
side_free(Side *s)
{
    PyMem_Free(s->slots);
    PyMem_Free(s->heap);
    s->slots = NULL;
    s->heap = NULL;
    s->cap = s->count = s->hlen = s->hcap = 0;
}

/* Index of k, or -1. */
static inline Py_ssize_t
side_find(const Side *s, int64_t k)
{
    size_t mask = (size_t)s->cap - 1, i = slot_of(k, s->cap);
    for (;;) {
        int64_t x = s->slots[i].k;
        if (x == k)
            return (Py_ssize_t)i;
        if (x == 0)
            return -1;
        i = (i + 1) & mask;
    }
}

static int
side_grow(Side *s)
{
    Py_ssize_t ncap = s->cap * 2;
    Slot *ns = PyMem_Calloc((size_t)ncap, sizeof(Slot));
    if (ns == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    size_t mask = (size_t)ncap - 1;
    for (Py_ssize_t j = 0; j < s->cap; j++) {
        int64_t k = s->slots[j].k;
        if (k == 0)
            continue;
        size_t i = slot_of(k, ncap);
        while (ns[i].k != 0)
            i = (i + 1) & mask;
        ns[i] = s->slots[j];
    }
    PyMem_Free(s->slots);
    s->slots = ns;
    s->cap = ncap;
    return 0;
}

static inline void
heap_sift_down(int64_t *h, Py_ssize_t n, Py_ssize_t pos)
{
    int64_t x = h[pos];
    for (;;) {
        Py_ssize_t c = 2 * pos + 1;
        if (c >= n)
            break;
        if (c + 1 < n && h[c + 1] < h[c])
            c++;
        if (h[c] >= x)
            break;
        h[pos] = h[c];
        pos = c;
    }
    h[pos] = x;
}

static int
heap_push(Side *s, int64_t x)
{
    if (s->hlen == s->hcap) {
        Py_ssize_t ncap = s->hcap ? s->hcap * 2 : 64;
        int64_t *nh = PyMem_Realloc(s->heap, (size_t)ncap * sizeof(int64_t));
        if (nh == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        s->heap = nh;
        s->hcap = ncap;
    }
    int64_t *h = s->heap;
    Py_ssize_t pos = s->hlen++;
    while (pos > 0) {
        Py_ssize_t parent = (pos - 1) >> 1;
        if (h[parent] <= x)
            break;
        h[pos] = h[parent];
        pos = parent;
    }
    h[pos] = x;
    return 0;
}

static inline void
heap_pop(Side *s)
{
    if (--s->hlen > 0) {
        s->heap[0] = s->heap[s->hlen];
        heap_sift_down(s->heap, s->hlen, 0);
    }
}

/* Rebuild the heap from the live levels (drops stale and duplicate entries). */
static int
side_compact(Side *s)
{
    Py_ssize_t need = s->count > 64 ? s->count : 64;
    if (need > s->hcap || s->hcap > 4 * need) {
        int64_t *nh = PyMem_Realloc(s->heap, (size_t)need * sizeof(int64_t));
        if (nh == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        s->heap = nh;
        s->hcap = need;
    }
    Py_ssize_t n = 0;
    for (Py_ssize_t j = 0; j < s->cap; j++)
        if (s->slots[j].k)
            s->heap[n++] = s->negate ? -s->slots[j].k : s->slots[j].k;
    s->hlen = n;
    for (Py_ssize_t i = n / 2 - 1; i >= 0; i--)
        heap_sift_down(s->heap, n, i);
    return 0;
}

/* Backward-shift deletion of slot i (linear probing). */
static void
side_erase_at(Side *s, size_t i)
{
    size_t mask = (size_t)s->cap - 1, j = i;
    for (;;) {
        j = (j + 1) & mask;
        int64_t k = s->slots[j].k;
        if (k == 0)
            break;
        size_t home = slot_of(k, s->cap);
        /* k may move to i when its home is not in the cyclic range (i, j] */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            s->slots[i].k = k;
            s->slots[i].v = s->slots[j].v;
            i = j;
        }
    }
    s->slots[i].k = 0;
    s->count--;
}

/* One level: lots 0 removes it. -1 on memory error. */
static inline int
side_set(Side *s, int64_t t, int64_t q)
{
    size_t mask = (size_t)s->cap - 1, i = slot_of(t, s->cap);
    for (;;) {
        int64_t x = s->slots[i].k;
        if (x == t) {
            if (q)
                s->slots[i].v = q;
            else
                side_erase_at(s, i);
            return 0;
        }
        if (x == 0)
            break;
        i = (i + 1) & mask;
    }
    if (!q)
        return 0;
    if (heap_push(s, s->negate ? -t : t) < 0)
        return -1;
    if (2 * (s->count + 1) > s->cap) {
        if (side_grow(s) < 0)
            return -1;
        mask = (size_t)s->cap - 1;
        i = slot_of(t, s->cap);
        while (s->slots[i].k != 0)
            i = (i + 1) & mask;
    }
    s->slots[i].k = t;
    s->slots[i].v = q;
    s->count++;
    return 0;
}

static inline int
side_maybe_compact(Side *s)
{
    return s->hlen > 2 * s->count + 256 ? side_compact(s) : 0;
}

/* Best tick (popping stale tops), or 0 when empty. */
static inline int64_t
side_best(Side *s)
{
    while (s->hlen > 0) {
        int64_t t = s->negate ? -s->heap[0] : s->heap[0];
        if (side_find(s, t) >= 0)
            return t;
        heap_pop(s);
    }
    return 0;
}

/* The live levels copied out (malloc'd; *n set): Python objects are then built from the copy,
 * because allocating them may run the garbage collector, whose finalizers may let another
 * thread change this side (the GIL can switch in Python code). */
static Slot *
side_snapshot(const Side *s, Py_ssize_t *n)
{
    Slot *out = PyMem_Malloc((size_t)(s->count ? s->count : 1) * sizeof(Slot));
    if (out == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    Py_ssize_t m = 0;
    for (Py_ssize_t j = 0; j < s->cap && m < s->count; j++)
        if (s->slots[j].k)
            out[m++] = s->slots[j];
    *n = m;
    return out;
}

static PyObject *
side_dict(const Side *s)
{
    Py_ssize_t n;
    Slot *levels = side_snapshot(s, &n);
    if (levels == NULL)
        return NULL;
    PyObject *d = _PyDict_NewPresized(n);
    for (Py_ssize_t i = 0; d != NULL && i < n; i++) {
        PyObject *k = PyLong_FromLongLong(levels[i].k);
        PyObject *v = k ? PyLong_FromLongLong(levels[i].v) : NULL;
        int rc = v ? PyDict_SetItem(d, k, v) : -1;
        Py_XDECREF(k);
        Py_XDECREF(v);
        if (rc < 0)
            Py_CLEAR(d);
    }
    PyMem_Free(levels);
    return d;
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The best n levels as a list of (tick, lots): bids descending, asks ascending. */
static PyObject *
side_top(const Side *s, Py_ssize_t n)
{
    if (n <= 0 || s->count == 0)
        return PyList_New(0);
    if (n > s->count)
        n = s->count;
    int64_t *keys;
    Py_ssize_t m = 0;
    if (n >= s->count / 4) {  /* sort every live key */
        keys = PyMem_Malloc((size_t)s->count * sizeof(int64_t));
        if (keys == NULL)
            return PyErr_NoMemory();
        for (Py_ssize_t j = 0; j < s->cap; j++)
            if (s->slots[j].k)
                keys[m++] = s->negate ? -s->slots[j].k : s->slots[j].k;
        qsort(keys, (size_t)m, sizeof(int64_t), cmp_i64);
        if (m > n)
            m = n;
    }
    else {  /* pop a copy of the heap: O(n + k log n) */
        int64_t *h = PyMem_Malloc((size_t)(s->hlen + n) * sizeof(int64_t));
        if (h == NULL)
            return PyErr_NoMemory();
        keys = h + s->hlen;
        memcpy(h, s->heap, (size_t)s->hlen * sizeof(int64_t));
        Py_ssize_t hn = s->hlen;
        int have_last = 0;
        int64_t last = 0;
        while (hn > 0 && m < n) {
            int64_t x = h[0];
            if (--hn > 0) {
                h[0] = h[hn];
                heap_sift_down(h, hn, 0);
            }
            if (have_last && x == last)
                continue;
            if (side_find(s, s->negate ? -x : x) >= 0) {
                keys[m++] = x;
                last = x;
                have_last = 1;
            }
        }
        memmove(h, keys, (size_t)m * sizeof(int64_t));
        keys = h;
    }
    /* (tick, lots) read into the buffer's second half before any Python object is made */
    int64_t *lots = PyMem_Realloc(keys, (size_t)(2 * (m ? m : 1)) * sizeof(int64_t));
    if (lots == NULL) {
        PyMem_Free(keys);
        return PyErr_NoMemory();
    }
    keys = lots;
    lots = keys + m;
    for (Py_ssize_t i = 0; i < m; i++) {
        keys[i] = s->negate ? -keys[i] : keys[i];
        lots[i] = s->slots[side_find(s, keys[i])].v;
    }
    PyObject *out = PyList_New(m);
    for (Py_ssize_t i = 0; out != NULL && i < m; i++) {
        PyObject *pair = Py_BuildValue("(LL)", (long long)keys[i], (long long)lots[i]);
        if (pair == NULL)
            Py_CLEAR(out);
        else
            PyList_SET_ITEM(out, i, pair);
    }
    PyMem_Free(keys);
    return out;
}

static int
side_equal(const Side *a, const Side *b)
{
    if (a->count != b->count)
        return 0;
    for (Py_ssize_t j = 0; j < a->cap; j++) {
        if (!a->slots[j].k)
            continue;
        Py_ssize_t i = side_find(b, a->slots[j].k);
        if (i < 0 || b->slots[i].v != a->slots[j].v)
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ Book */

typedef struct {
    PyObject_HEAD
    Side bid, ask;
    long long version;
    PyObject *update_id;
    PyObject *ts_ns;
    uint64_t changes;  /* internal change counter: the dict caches' stamp (version is settable) */
    PyObject *bids_cache, *asks_cache;
    uint64_t bids_stamp, asks_stamp;
} BookObject;

static PyTypeObject Book_Type;

static PyObject *
book_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    BookObject *self = (BookObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    if (side_init(&self->bid, 1) < 0 || side_init(&self->ask, 0) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    self->update_id = Py_NewRef(Py_None);
    self->ts_ns = PyLong_FromLong(0);
    if (self->ts_ns == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->changes = 1;
    return (PyObject *)self;
}

static int
book_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    if (PyTuple_GET_SIZE(args) || (kwds && PyDict_GET_SIZE(kwds))) {
        PyErr_SetString(PyExc_TypeError, "L2Book() takes no arguments");
        return -1;
    }
    return 0;
}

static void
book_dealloc(PyObject *op)
{
    BookObject *self = (BookObject *)op;
    side_free(&self->bid);
    side_free(&self->ask);
    Py_XDECREF(self->update_id);
    Py_XDECREF(self->ts_ns);
    Py_XDECREF(self->bids_cache);
    Py_XDECREF(self->asks_cache);
    /* a Python subclass's subtype_dealloc drops the reference to its (heap) type */
    Py_TYPE(op)->tp_free(op);
}

/* A level's tick or lots as int64; ``what`` names it in errors. Exact ints only. */
static inline int
as_i64(PyObject *x, int64_t *out)
{
    if (!PyLong_CheckExact(x)) {
        PyErr_Format(PyExc_TypeError, "level ticks and lots must be ints, got %.80s", Py_TYPE(x)->tp_name);
        return -1;
    }
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(x, &overflow);
    if (overflow) {
        PyErr_SetString(PyExc_OverflowError, "level tick or lots beyond 64 bits (the native L2Book's limit)");
        return -1;
    }
    if (v == -1 && PyErr_Occurred())
        return -1;
    *out = v;
    return 0;
}

static int
bad_level(PyObject *t, PyObject *q)
{
    PyObject *rt = PyObject_Repr(t), *rq = rt ? PyObject_Repr(q) : NULL;
    if (rq != NULL)
        PyErr_Format(PyExc_ValueError, "level must be (tick > 0, lots >= 0) integers, got (%U, %U)", rt, rq);
    Py_XDECREF(rt);
    Py_XDECREF(rq);
    return -1;
}

/* set_bid/set_ask: validation and message as the pure-Python L2Book. */
static PyObject *
book_set(BookObject *self, PyObject *const *args, Py_ssize_t nargs, Side *s)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "takes (tick, lots)");
        return NULL;
    }
    PyObject *t = args[0], *q = args[1];
    if (!PyLong_CheckExact(t) || !PyLong_CheckExact(q) || Py_SIZE(t) <= 0 || Py_SIZE(q) < 0) {
        bad_level(t, q);
        return NULL;
    }
    int64_t tv, qv;
    if (as_i64(t, &tv) < 0 || as_i64(q, &qv) < 0)
        return NULL;
    if (side_set(s, tv, qv) < 0 || side_maybe_compact(s) < 0)
        return NULL;
    self->version++;
    self->changes++;
    Py_RETURN_NONE;
}

static PyObject *
book_set_bid(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return book_set((BookObject *)self, args, nargs, &((BookObject *)self)->bid);
}

static PyObject *
book_set_ask(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return book_set((BookObject *)self, args, nargs, &((BookObject *)self)->ask);
}

/* Scratch for converting Python sequences, reused across calls (the GIL is held throughout). */
static int64_t *scratch;
static Py_ssize_t scratch_cap;

static int
reserve_scratch(Py_ssize_t need)
{
    if (need <= scratch_cap)
        return 0;
    Py_ssize_t cap = scratch_cap ? scratch_cap : 1024;
    while (cap < need)
        cap *= 2;
    int64_t *ns = PyMem_Realloc(scratch, (size_t)cap * sizeof(int64_t));
    if (ns == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    scratch = ns;
    scratch_cap = cap;
    return 0;
}

static int
apply_arrays(Side *s, const int64_t *t, const int64_t *q, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        if (side_set(s, t[i], q[i]) < 0)
            return -1;
    return side_maybe_compact(s);
}

/* One side's levels to apply: a Levels pair read in place, or sequences converted to int64. */
typedef struct {
    PyObject *ft, *fl;  /* PySequence_Fast of a non-Levels pair, else NULL */
    const int64_t *t, *q;
    Py_ssize_t n;
} SideInput;

static int
side_input_open(SideInput *in, PyObject *ticks, PyObject *lots)
{
    in->ft = in->fl = NULL;
    if (Py_IS_TYPE(ticks, &Levels_Type) && Py_IS_TYPE(lots, &Levels_Type)) {
        in->t = ((LevelsObject *)ticks)->v;
        in->q = ((LevelsObject *)lots)->v;
        in->n = Py_SIZE(ticks) < Py_SIZE(lots) ? Py_SIZE(ticks) : Py_SIZE(lots);
        return 0;
    }
    in->ft = PySequence_Fast(ticks, "ticks must be a sequence");
    if (in->ft == NULL)
        return -1;
    in->fl = PySequence_Fast(lots, "lots must be a sequence");
    if (in->fl == NULL) {
        Py_CLEAR(in->ft);
        return -1;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(in->ft), nl = PySequence_Fast_GET_SIZE(in->fl);
    in->n = nl < n ? nl : n;  /* zip() semantics */
    return 0;
}

/* Convert a sequence pair into dst[0..n) ticks and dst[n..2n) lots, checking every level. */
static int
side_input_convert(SideInput *in, int64_t *dst)
{
    if (in->ft == NULL)
        return 0;
    int64_t *t = dst, *q = dst + in->n;
    PyObject **tv = PySequence_Fast_ITEMS(in->ft), **lv = PySequence_Fast_ITEMS(in->fl);
    for (Py_ssize_t i = 0; i < in->n; i++) {
        if (as_i64(tv[i], &t[i]) < 0 || as_i64(lv[i], &q[i]) < 0)
            return -1;
        if (t[i] <= 0 || q[i] < 0)
            return bad_level(tv[i], lv[i]);
    }
    in->t = t;
    in->q = q;
    return 0;
}

static void
side_input_close(SideInput *in)
{
    Py_CLEAR(in->ft);
    Py_CLEAR(in->fl);
}

PyDoc_STRVAR(book_update_doc,
"update(bid_ticks, bid_lots, ask_ticks, ask_lots)\n--\n\n"
"Apply one message's absolute levels in order (lots 0 removes the level); one version step.\n"
"Levels arrays (the compiled parser's) are read in place; other sequences must hold ints\n"
"(tick > 0, lots >= 0, 64 bits); they are all checked before anything changes.");

static PyObject *
book_update(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    BookObject *self = (BookObject *)op;
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "update() takes 4 arguments (%zd given)", nargs);
        return NULL;
    }
    SideInput b, a;
    if (side_input_open(&b, args[0], args[1]) < 0)
        return NULL;
    if (side_input_open(&a, args[2], args[3]) < 0) {
        side_input_close(&b);
        return NULL;
    }
    PyObject *result = NULL;
    self->changes++;  /* even a failed update may have applied part of it */
    Py_ssize_t nb = b.ft ? 2 * b.n : 0, na = a.ft ? 2 * a.n : 0;
    if (reserve_scratch(nb + na) < 0 || side_input_convert(&b, scratch) < 0 || side_input_convert(&a, scratch + nb) < 0)
        goto done;
    if (apply_arrays(&self->bid, b.t, b.q, b.n) < 0 || apply_arrays(&self->ask, a.t, a.q, a.n) < 0)
        goto done;
    self->version++;
    result = Py_NewRef(Py_None);
done:
    side_input_close(&b);
    side_input_close(&a);
    return result;
}

/* A snapshot side into a fresh Side: (tick, lots) pairs, zero lots skipped. */
static int
load_side(Side *s, PyObject *levels)
{
    PyObject *it = PyObject_GetIter(levels);
    if (it == NULL)
        return -1;
    PyObject *item;
    while ((item = PyIter_Next(it)) != NULL) {
        PyObject *pair = PySequence_Tuple(item);
        Py_DECREF(item);
        if (pair == NULL)
            goto fail;
        if (PyTuple_GET_SIZE(pair) != 2) {
            PyErr_Format(PyExc_ValueError, "a level is a (tick, lots) pair, got %zd values", PyTuple_GET_SIZE(pair));
            Py_DECREF(pair);
            goto fail;
        }
        PyObject *t = PyTuple_GET_ITEM(pair, 0), *q = PyTuple_GET_ITEM(pair, 1);
        int truth = PyObject_IsTrue(q);
        int64_t tv, qv;
        int rc = 0;
        if (truth < 0)
            rc = -1;
        else if (truth) {
            if (!PyLong_CheckExact(t) || !PyLong_CheckExact(q) || Py_SIZE(t) <= 0 || Py_SIZE(q) < 0)
                rc = bad_level(t, q);
            else if (as_i64(t, &tv) < 0 || as_i64(q, &qv) < 0)
                rc = -1;
            else
                rc = side_set(s, tv, qv);
        }
        Py_DECREF(pair);
        if (rc < 0)
            goto fail;
    }
    Py_DECREF(it);
    if (PyErr_Occurred())
        return -1;
    return side_compact(s);
fail:
    Py_DECREF(it);
    return -1;
}

PyDoc_STRVAR(book_replace_doc,
"replace(bids, asks)\n--\n\n"
"Load a snapshot: the book becomes exactly these (tick, lots) levels (zero-quantity ones\n"
"skipped); on a bad level nothing changes.");

static PyObject *
book_replace(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    BookObject *self = (BookObject *)op;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "replace(bids, asks)");
        return NULL;
    }
    Side b, a;
    if (side_init(&b, 1) < 0)
        return NULL;
    if (side_init(&a, 0) < 0) {
        side_free(&b);
        return NULL;
    }
    if (load_side(&b, args[0]) < 0 || load_side(&a, args[1]) < 0) {
        side_free(&b);
        side_free(&a);
        return NULL;
    }
    side_free(&self->bid);
    side_free(&self->ask);
    self->bid = b;
    self->ask = a;
    self->version++;
    self->changes++;
    Py_RETURN_NONE;
}

static PyObject *
tick_or_none(int64_t t)
{
    if (t == 0)
        Py_RETURN_NONE;
    return PyLong_FromLongLong(t);
}

static PyObject *
book_best_bid(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    return tick_or_none(side_best(&((BookObject *)op)->bid));
}

static PyObject *
book_best_ask(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    return tick_or_none(side_best(&((BookObject *)op)->ask));
}

static PyObject *
level_or_none(Side *s)
{
    int64_t t = side_best(s);
    if (t == 0)
        Py_RETURN_NONE;
    return Py_BuildValue("(LL)", (long long)t, (long long)s->slots[side_find(s, t)].v);
}

static PyObject *
book_best(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    BookObject *self = (BookObject *)op;
    PyObject *b = level_or_none(&self->bid);
    if (b == NULL)
        return NULL;
    PyObject *a = level_or_none(&self->ask);
    if (a == NULL) {
        Py_DECREF(b);
        return NULL;
    }
    return Py_BuildValue("(NN)", b, a);
}

static PyObject *
book_is_crossed(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    BookObject *self = (BookObject *)op;
    int64_t b = side_best(&self->bid);
    if (b == 0)
        Py_RETURN_FALSE;
    int64_t a = side_best(&self->ask);
    return PyBool_FromLong(a != 0 && b >= a);
}

static PyObject *
book_depth(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    BookObject *self = (BookObject *)op;
    return Py_BuildValue("(nn)", self->bid.count, self->ask.count);
}

static PyObject *
book_top_side(Side *s, PyObject *arg)
{
    Py_ssize_t n = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    return side_top(s, n);
}

static PyObject *
book_top_bids(PyObject *op, PyObject *arg)
{
    return book_top_side(&((BookObject *)op)->bid, arg);
}

static PyObject *
book_top_asks(PyObject *op, PyObject *arg)
{
    return book_top_side(&((BookObject *)op)->ask, arg);
}

static PyObject *
book_compact(PyObject *op, PyObject *arg)
{
    BookObject *self = (BookObject *)op;
    int is_bid = PyObject_IsTrue(arg);
    if (is_bid < 0 || side_compact(is_bid ? &self->bid : &self->ask) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
book_same_levels(PyObject *op, PyObject *other)
{
    if (!PyObject_TypeCheck(other, &Book_Type)) {
        PyErr_SetString(PyExc_TypeError, "_same_levels needs a native book");
        return NULL;
    }
    BookObject *a = (BookObject *)op, *b = (BookObject *)other;
    return PyBool_FromLong(side_equal(&a->bid, &b->bid) && side_equal(&a->ask, &b->ask));
}

static PyObject *
book_heap_sizes(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    BookObject *self = (BookObject *)op;
    return Py_BuildValue("(nn)", self->bid.hlen, self->ask.hlen);
}

static PyObject *
cached_dict(BookObject *self, Side *s, PyObject **cache, uint64_t *stamp)
{
    if (*cache == NULL || *stamp != self->changes) {
        PyObject *d = side_dict(s);
        if (d == NULL)
            return NULL;
        Py_XSETREF(*cache, d);
        *stamp = self->changes;
    }
    return Py_NewRef(*cache);
}

static PyObject *
book_get_bids(PyObject *op, void *Py_UNUSED(closure))
{
    BookObject *self = (BookObject *)op;
    return cached_dict(self, &self->bid, &self->bids_cache, &self->bids_stamp);
}

static PyObject *
book_get_asks(PyObject *op, void *Py_UNUSED(closure))
{
    BookObject *self = (BookObject *)op;
    return cached_dict(self, &self->ask, &self->asks_cache, &self->asks_stamp);
}

static PyGetSetDef book_getset[] = {
    {"bids", book_get_bids, NULL, "Bid levels as a dict tick -> lots (built on access, cached until the next change; read only).", NULL},
    {"asks", book_get_asks, NULL, "Ask levels as a dict tick -> lots (built on access, cached until the next change; read only).", NULL},
    {NULL},
};

static PyMemberDef book_members[] = {
    {"version", T_LONGLONG, offsetof(BookObject, version), 0, "Applied changes (a UI pulls when it moved)."},
    {"update_id", T_OBJECT, offsetof(BookObject, update_id), 0, "Exchange sequence number of the last applied message."},
    {"ts_ns", T_OBJECT, offsetof(BookObject, ts_ns), 0, "Local receive time of the last applied message."},
    {NULL},
};

static PyMethodDef book_methods[] = {
    {"set_bid", (PyCFunction)(void (*)(void))book_set_bid, METH_FASTCALL, "set_bid(tick, lots)\n--\n\nSet one bid level to an absolute quantity (0 removes it)."},
    {"set_ask", (PyCFunction)(void (*)(void))book_set_ask, METH_FASTCALL, "set_ask(tick, lots)\n--\n\nSet one ask level to an absolute quantity (0 removes it)."},
    {"update", (PyCFunction)(void (*)(void))book_update, METH_FASTCALL, book_update_doc},
    {"replace", (PyCFunction)(void (*)(void))book_replace, METH_FASTCALL, book_replace_doc},
    {"best_bid", book_best_bid, METH_NOARGS, "best_bid()\n--\n\nBest bid tick, or None when the side is empty."},
    {"best_ask", book_best_ask, METH_NOARGS, "best_ask()\n--\n\nBest ask tick, or None when the side is empty."},
    {"best", book_best, METH_NOARGS, "best()\n--\n\n((bid tick, lots) | None, (ask tick, lots) | None)."},
    {"is_crossed", book_is_crossed, METH_NOARGS, "is_crossed()\n--\n\nBest bid >= best ask."},
    {"depth", book_depth, METH_NOARGS, "depth()\n--\n\n(bid levels, ask levels)."},
    {"top_bids", book_top_bids, METH_O, "top_bids(n)\n--\n\nThe best n bids, descending, as (tick, lots)."},
    {"top_asks", book_top_asks, METH_O, "top_asks(n)\n--\n\nThe best n asks, ascending, as (tick, lots)."},
    {"_compact", book_compact, METH_O, "_compact(is_bid)\n--\n\nRebuild a side's heap from its live levels."},
    {"_same_levels", book_same_levels, METH_O, "_same_levels(other)\n--\n\nEqual levels, both sides (two native books)."},
    {"_heap_sizes", book_heap_sizes, METH_NOARGS, "_heap_sizes()\n--\n\n(bid heap entries, ask heap entries), stale ones included."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Book_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "core._l2native.Book",
    .tp_basicsize = sizeof(BookObject),
    .tp_dealloc = book_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Native L2 book storage: int64 tick -> int64 lots per side, lazy int64 heaps for the best price.",
    .tp_methods = book_methods,
    .tp_members = book_members,
    .tp_getset = book_getset,
    .tp_init = book_init,
    .tp_new = book_new,
};

/* ------------------------------------------------------------------ C API for feeds._depthfast */

/* Levels of ``n`` values taken every ``stride`` items from ``src`` (the parser's (tick, lot)
 * pairs: stride 2). The capsule holds a pointer to this struct. */
typedef struct {
    PyObject *(*levels_new)(const int64_t *src, Py_ssize_t n, Py_ssize_t stride);
} L2NativeAPI;

static L2NativeAPI c_api = {levels_new};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "core._l2native",
    "Native L2 book storage and int64 level arrays (optional; core.l2book falls back to pure Python).",
    -1, NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__l2native(void)
{
    if (PyType_Ready(&Levels_Type) < 0 || PyType_Ready(&Book_Type) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (m == NULL)
        return NULL;
    PyObject *capsule = PyCapsule_New(&c_api, "core._l2native._C_API", NULL);
    if (PyModule_AddObjectRef(m, "Levels", (PyObject *)&Levels_Type) < 0 ||
        PyModule_AddObjectRef(m, "Book", (PyObject *)&Book_Type) < 0 || capsule == NULL ||
        PyModule_AddObject(m, "_C_API", capsule) < 0) {
        Py_XDECREF(capsule);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
