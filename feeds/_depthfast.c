/* feeds._depthfast: one-pass parser of Binance depthUpdate frames into exact ticks/lots.
 *
 * Why: a BTCUSDT frame holds ~46 levels (~92 decimal strings). orjson alone decodes ~178k
 * frames/s; converting every string exactly in Python (memo lookups, the exact parser on a
 * miss) caps the feed near 40k/s. This scans the frame once and converts each string straight
 * from its bytes to an integer count of the symbol's tick or lot, then builds the record the
 * pure-Python path builds (a core.marketdata.DepthDiff). Its four level fields are int64
 * ``core._l2native.Levels`` arrays (made through that module's ``_C_API`` capsule; lists of
 * ints when it is not built): immutable sequences equal to the lists the pure path makes, which
 * the native L2Book reads in place -- no Python int per level. Everything downstream -- sync
 * checks, buffering, rescale, on_event consumers -- iterates them as it iterated the lists.
 * Values beyond int64 are declined (the pure path takes the frame).
 *
 * It accepts only the canonical compact form Binance sends, and only when the result is
 * certain to equal the pure path's:
 *
 *   [{"stream":"<s>","data":] {"e":"depthUpdate","E":<n>[,"T":<n>],"s":"<SYM>","U":<n>,"u":<n>
 *   [,"pu":<n>],"b":[["<p>","<q>"],...],"a":[...]} [}]
 *
 * with nothing before or after, printable ASCII strings without escapes, integers
 * 0|[1-9][0-9]{0,17} (E < 9e12), decimals [0-9]+(.[0-9]+)? of at most 40 characters that sit
 * exactly on the grid (extra fraction digits must be zeros, the value a multiple of ``mult``,
 * fitting 64 bits), prices > 0, and a symbol present in ``specs``. Anything else -- whitespace,
 * escapes, other keys or order, floats, nulls, an unknown symbol, off-grid, zero price,
 * overflow, garbage -- returns None ("not mine"): the caller's pure path (orjson + exact
 * UnitParser) then handles the frame and raises exactly the errors it always raises.
 *
 * parse_depth(raw: str | bytes, specs: dict, ts_ns: int) -> DepthDiff | None
 *   specs: symbol -> (key, price_places, price_mult, qty_places, qty_mult); the grid's step is
 *   mult * 10**-places (core.l2book.UnitParser's ``places`` and ``mult``).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#ifdef Py_GIL_DISABLED
#error "relies on the GIL (module-level state); free-threaded builds use the pure-Python path"
#endif
#include <stdint.h>
#include <string.h>

#define MAX_TEXT 40          /* core.l2book._MAX_TEXT: longer strings are refused there */
#define MAX_INT_DIGITS 18    /* sequence ids and times: always fits int64 */
#define MAX_E_MS 9000000000000ULL  /* E * 1_000_000 must fit int64 */
#define N_FIELDS 12          /* core.marketdata.DepthDiff */

static PyTypeObject *depth_diff_type;

typedef struct {
    unsigned places_p, places_q;
    uint64_t mult_p, mult_q;
    PyObject *key;  /* borrowed from the cached spec tuple */
} Spec;

/* The last spec tuple converted (a strong reference keeps its identity meaningful). */
static PyObject *cached_spec_obj;
static Spec cached_spec;

/* Level scratch: (tick, lot) pairs, bids then asks; grown as needed, reused across calls
 * (the GIL is held for the whole call and nothing here calls back into Python). */
static uint64_t *scratch;
static Py_ssize_t scratch_cap;

typedef struct {
    const char *p, *end;
} Cur;

static inline int
lit(Cur *c, const char *s, size_t n)
{
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, s, n) == 0) {
        c->p += n;
        return 1;
    }
    return 0;
}
#define LIT(c, s) lit((c), (s), sizeof(s) - 1)

/* A JSON string body up to (and consuming) its closing quote: printable ASCII, no escapes. */
static inline int
plain_string(Cur *c, const char **start, Py_ssize_t *len)
{
    const char *p = c->p;
    *start = p;
    while (p < c->end) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"') {
            *len = p - *start;
            c->p = p + 1;
            return 1;
        }
        if (ch < 0x20 || ch > 0x7e || ch == '\\')
            return 0;
        p++;
    }
    return 0;
}

/* A JSON non-negative integer 0|[1-9][0-9]{0,17}; the caller's next literal rejects a
 * fraction, an exponent or a second leading digit after "0". */
static inline int
json_uint(Cur *c, uint64_t *out)
{
    const char *p = c->p;
    if (p >= c->end || *p < '0' || *p > '9')
        return 0;
    if (*p == '0') {
        *out = 0;
        c->p = p + 1;
        return 1;
    }
    uint64_t v = 0;
    const char *start = p;
    while (p < c->end && *p >= '0' && *p <= '9') {
        if (p - start >= MAX_INT_DIGITS)
            return 0;
        v = v * 10 + (uint64_t)(*p - '0');
        p++;
    }
    *out = v;
    c->p = p;
    return 1;
}

/* Eight ASCII digits at once (SWAR, little-endian loads; the technique of simdjson and
 * fast_float): the digit loop's multiply chain was the parser's main cost. */
static inline uint64_t
load8(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline int
all_digits8(uint64_t v)
{
    return (((v & 0xF0F0F0F0F0F0F0F0ULL) | (((v + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) >> 4)) ==
            0x3333333333333333ULL);
}

static inline uint64_t
value8(uint64_t v)
{
    const uint64_t mask = 0x000000FF000000FFULL;
    const uint64_t mul1 = 0x000F424000000064ULL;  /* 100 + (1000000 << 32) */
    const uint64_t mul2 = 0x0000271000000001ULL;  /* 1 + (10000 << 32) */
    v -= 0x3030303030303030ULL;
    v = (v * 10) + (v >> 8);
    v = (((v & mask) * mul1) + (((v >> 16) & mask) * mul2)) >> 32;
    return v;
}

static const uint64_t POW10[20] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
    1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
    100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
    1000000000000000000ULL, 10000000000000000000ULL,
};

/* v = v * 10**k + add, refusing overflow. */
static inline int
shift_add(uint64_t *v, unsigned k, uint64_t add)
{
    return !__builtin_mul_overflow(*v, POW10[k], v) && !__builtin_add_overflow(*v, add, v);
}

/* How many of the 8 bytes, from the first, are ASCII digits (0..8). A carry out of a byte
 * >= 0xFA only disturbs the bytes after it, which come after a non-digit anyway. */
static inline unsigned
leading_digits8(uint64_t w)
{
    uint64_t t = (w & 0xF0F0F0F0F0F0F0F0ULL) | (((w + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) >> 4);
    uint64_t x = t ^ 0x3333333333333333ULL;
    return x ? (unsigned)(__builtin_ctzll(x) >> 3) : 8;
}

/* Digits [p, ...) into *v (at most ``limit`` of them), a word of 8 bytes at a time while 8 bytes
 * remain; returns how many were taken (it stops at the first non-digit or at the limit);
 * -1 on overflow. */
static inline Py_ssize_t
take_digits(const char **pp, const char *end, Py_ssize_t limit, uint64_t *v)
{
    const char *p = *pp;
    Py_ssize_t n = 0;
    while (n < limit && end - p >= 8) {
        uint64_t w = load8(p);
        unsigned k = leading_digits8(w);
        if ((Py_ssize_t)k > limit - n)
            k = (unsigned)(limit - n);
        if (k == 8) {
            if (!shift_add(v, 8, value8(w)))
                return -1;
            p += 8;
            n += 8;
            continue;
        }
        if (k) {
            /* the k digits right-aligned behind '0' bytes: value8 reads them as a number */
            uint64_t padded = (w << (8 * (8 - k))) | (0x3030303030303030ULL >> (8 * k));
            if (!shift_add(v, k, value8(padded)))
                return -1;
            p += k;
            n += k;
        }
        *pp = p;
        return n;
    }
    while (n < limit && p < end && *p >= '0' && *p <= '9') {
        if (!shift_add(v, 1, (uint64_t)(*p - '0')))
            return -1;
        p++;
        n++;
    }
    *pp = p;
    return n;
}

/* An exact decimal string body [0-9]+(.[0-9]+)? -> count of (mult * 10**-places). */
static inline int
decimal_units(Cur *c, unsigned places, uint64_t mult, int allow_zero, uint64_t *out)
{
    const char *p = c->p, *end = c->end, *start = c->p;
    uint64_t v = 0;
    Py_ssize_t nwhole = take_digits(&p, end, MAX_TEXT + 1, &v);
    if (nwhole <= 0)
        return 0;
    Py_ssize_t nfrac = 0;
    if (p < end && *p == '.') {
        p++;
        nfrac = take_digits(&p, end, places, &v);
        if (nfrac < 0)
            return 0;
        const char *zs = p;
        if ((unsigned)nfrac == places) {  /* finer digits must all be zeros */
            while (end - p >= 8 && load8(p) == 0x3030303030303030ULL)
                p += 8;
            while (p < end && *p == '0')
                p++;
        }
        if (p < end && *p >= '0' && *p <= '9')
            return 0;  /* finer than the grid */
        if (nfrac == 0 && p == zs)
            return 0;  /* "5." */
    }
    if (p - start > MAX_TEXT)
        return 0;
    if ((unsigned)nfrac < places && !shift_add(&v, places - (unsigned)nfrac, 0))
        return 0;
    if (mult != 1) {
        if (v % mult)
            return 0;
        v /= mult;
    }
    if (!v && !allow_zero)
        return 0;
    *out = v;
    c->p = p;
    return 1;
}

static int
grow_scratch(Py_ssize_t need)
{
    Py_ssize_t cap = scratch_cap ? scratch_cap : 256;
    while (cap < need)
        cap *= 2;
    uint64_t *s = PyMem_Realloc(scratch, (size_t)cap * sizeof(uint64_t));
    if (s == NULL)
        return -1;
    scratch = s;
    scratch_cap = cap;
    return 0;
}

/* ``[["p","q"],...]``: appends pairs at scratch[2*at...]; returns the pair count or -1
 * (not mine) / -2 (memory error). */
static Py_ssize_t
levels(Cur *c, const Spec *sp, Py_ssize_t at)
{
    if (!LIT(c, "["))
        return -1;
    if (LIT(c, "]"))
        return 0;
    Py_ssize_t n = 0;
    for (;;) {
        if (2 * (at + n + 1) > scratch_cap && grow_scratch(2 * (at + n + 1)) < 0)
            return -2;
        uint64_t *slot = scratch + 2 * (at + n);
        if (!LIT(c, "[\"") || !decimal_units(c, sp->places_p, sp->mult_p, 0, &slot[0]) || !LIT(c, "\",\"") ||
            !decimal_units(c, sp->places_q, sp->mult_q, 1, &slot[1]) || !LIT(c, "\"]"))
            return -1;
        if (slot[0] > (uint64_t)INT64_MAX || slot[1] > (uint64_t)INT64_MAX)
            return -1;  /* beyond the native book's 64-bit signed levels: the pure path decides */
        n++;
        if (LIT(c, ","))
            continue;
        if (LIT(c, "]"))
            return n;
        return -1;
    }
}

/* specs[symbol] as a Spec; 0 when absent or unusable (not mine), -1 on error. */
/* The last symbol name made (frames come in runs of one symbol): reused with its cached hash. */
static PyObject *last_name;

static PyObject *
symbol_name(const char *sym, Py_ssize_t len)
{
    if (last_name != NULL && PyUnicode_GET_LENGTH(last_name) == len &&
        memcmp(PyUnicode_DATA(last_name), sym, (size_t)len) == 0)
        return Py_NewRef(last_name);
    PyObject *name = PyUnicode_FromStringAndSize(sym, len);  /* printable ASCII: a compact str */
    if (name != NULL)
        Py_XSETREF(last_name, Py_NewRef(name));
    return name;
}

static int
lookup_spec(PyObject *specs, const char *sym, Py_ssize_t len, Spec *out)
{
    PyObject *name = symbol_name(sym, len);
    if (name == NULL)
        return -1;
    PyObject *t = PyDict_GetItemWithError(specs, name);  /* borrowed */
    Py_DECREF(name);
    if (t == NULL)
        return PyErr_Occurred() ? -1 : 0;
    if (t == cached_spec_obj) {
        *out = cached_spec;
        return 1;
    }
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 5 || !PyUnicode_Check(PyTuple_GET_ITEM(t, 0)))
        return 0;
    unsigned long long v[4];
    for (int i = 0; i < 4; i++) {
        v[i] = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(t, i + 1));
        if (v[i] == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            return 0;
        }
    }
    if (v[0] > 18 || v[2] > 18 || v[1] == 0 || v[3] == 0)
        return 0;
    Spec s = {(unsigned)v[0], (unsigned)v[2], v[1], v[3], PyTuple_GET_ITEM(t, 0)};
    Py_INCREF(t);
    Py_XSETREF(cached_spec_obj, t);
    cached_spec = s;
    *out = s;
    return 1;
}

/* Tick objects are shared: a direct-mapped cache (bounded: TICK_SLOTS ints at most) hands out
 * the same int object for a price seen recently, so the book's dict lookups of that price hit
 * on identity (no rich comparison) and no new int is allocated. Ints are immutable, so sharing
 * one between symbols or books is harmless. */
#ifndef TICK_BITS
#define TICK_BITS 14
#endif
#define TICK_SLOTS (1 << TICK_BITS)
static struct {
    uint64_t value;
    PyObject *obj;
} tick_cache[TICK_SLOTS];

static PyObject *
tick_object(uint64_t v)
{
    size_t h = (size_t)((v * 0x9E3779B97F4A7C15ULL) >> (64 - TICK_BITS));
    if (tick_cache[h].obj != NULL && tick_cache[h].value == v)
        return Py_NewRef(tick_cache[h].obj);
    PyObject *o = PyLong_FromUnsignedLongLong(v);
    if (o == NULL)
        return NULL;
    Py_XSETREF(tick_cache[h].obj, Py_NewRef(o));
    tick_cache[h].value = v;
    return o;
}

/* core._l2native's C API (a PyCapsule): level arrays as int64 ``Levels`` instead of lists of
 * ints, which the native L2Book reads in place. NULL when that extension is not built: lists. */
typedef struct {
    PyObject *(*levels_new)(const int64_t *src, Py_ssize_t n, Py_ssize_t stride);
} L2NativeAPI;
static L2NativeAPI *l2native;

static PyObject *
int_list(const uint64_t *pairs, Py_ssize_t n, int which)
{
    if (l2native != NULL)  /* every value was checked to fit int64 */
        return l2native->levels_new((const int64_t *)pairs + which, n, 2);
    PyObject *list = PyList_New(n);
    if (list == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t x = pairs[2 * i + which];
#ifdef NO_TICK_CACHE
        PyObject *v = PyLong_FromUnsignedLongLong(x);
#else
        PyObject *v = which == 0 ? tick_object(x) : PyLong_FromUnsignedLongLong(x);
#endif
        if (v == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, v);
    }
    return list;
}

PyDoc_STRVAR(parse_depth_doc,
"parse_depth(raw, specs, ts_ns)\n--\n\n"
"One canonical Binance depthUpdate frame -> core.marketdata.DepthDiff, or None when the frame\n"
"is not in the exact form this parser accepts (the caller's pure path handles it then).\n"
"specs: symbol -> (key, price_places, price_mult, qty_places, qty_mult).");

static PyObject *
parse_depth(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "parse_depth(raw, specs, ts_ns) takes 3 arguments");
        return NULL;
    }
    PyObject *raw = args[0], *specs = args[1], *ts_ns = args[2];
    if (!PyDict_Check(specs)) {
        PyErr_SetString(PyExc_TypeError, "specs must be a dict");
        return NULL;
    }
    Cur cur;
    if (PyUnicode_CheckExact(raw)) {
        if (!PyUnicode_IS_COMPACT_ASCII(raw))
            Py_RETURN_NONE;
        cur.p = (const char *)PyUnicode_DATA(raw);
        cur.end = cur.p + PyUnicode_GET_LENGTH(raw);
    }
    else if (PyBytes_CheckExact(raw)) {
        cur.p = PyBytes_AS_STRING(raw);
        cur.end = cur.p + PyBytes_GET_SIZE(raw);
    }
    else {
        Py_RETURN_NONE;
    }
    Cur *c = &cur;
    const char *s;
    Py_ssize_t slen;
    int envelope = 0;
    if (LIT(c, "{\"stream\":\"")) {
        if (!plain_string(c, &s, &slen) || !LIT(c, ",\"data\":{"))
            Py_RETURN_NONE;
        envelope = 1;
    }
    else if (!LIT(c, "{")) {
        Py_RETURN_NONE;
    }
    uint64_t E, T, U, u, pu;
    int has_pu = 0;
    if (!LIT(c, "\"e\":\"depthUpdate\",\"E\":") || !json_uint(c, &E) || !LIT(c, ","))
        Py_RETURN_NONE;
    if (LIT(c, "\"T\":") && (!json_uint(c, &T) || !LIT(c, ",")))
        Py_RETURN_NONE;
    if (!LIT(c, "\"s\":\"") || !plain_string(c, &s, &slen))
        Py_RETURN_NONE;
    if (!LIT(c, ",\"U\":") || !json_uint(c, &U) || !LIT(c, ",\"u\":") || !json_uint(c, &u) || !LIT(c, ","))
        Py_RETURN_NONE;
    if (LIT(c, "\"pu\":")) {
        if (!json_uint(c, &pu) || !LIT(c, ","))
            Py_RETURN_NONE;
        has_pu = 1;
    }
    if (E > MAX_E_MS)
        Py_RETURN_NONE;
    Spec sp;
    int found = lookup_spec(specs, s, slen, &sp);
    if (found < 0)
        return NULL;
    if (!found)
        Py_RETURN_NONE;
    if (!LIT(c, "\"b\":"))
        Py_RETURN_NONE;
    Py_ssize_t nb = levels(c, &sp, 0);
    if (nb == -2)
        return PyErr_NoMemory();
    if (nb < 0 || !LIT(c, ",\"a\":"))
        Py_RETURN_NONE;
    Py_ssize_t na = levels(c, &sp, nb);
    if (na == -2)
        return PyErr_NoMemory();
    if (na < 0 || !LIT(c, "}") || (envelope && !LIT(c, "}")) || c->p != c->end)
        Py_RETURN_NONE;

    /* Accepted: build DepthDiff(key, E*1e6, ts_ns, U, u, pu|None, bt, bl, at, al, None, None). */
    PyObject *items[N_FIELDS] = {NULL};
    PyObject *rec = NULL;
    /* each made only while no error is pending */
    if (!(items[1] = PyLong_FromUnsignedLongLong(E * 1000000ULL)) || !(items[3] = PyLong_FromUnsignedLongLong(U)) ||
        !(items[4] = PyLong_FromUnsignedLongLong(u)) ||
        !(items[5] = has_pu ? PyLong_FromUnsignedLongLong(pu) : Py_NewRef(Py_None)) ||
        !(items[6] = int_list(scratch, nb, 0)) || !(items[7] = int_list(scratch, nb, 1)) ||
        !(items[8] = int_list(scratch + 2 * nb, na, 0)) || !(items[9] = int_list(scratch + 2 * nb, na, 1)))
        goto fail;
    items[0] = Py_NewRef(sp.key);
    items[2] = Py_NewRef(ts_ns);
    items[10] = Py_NewRef(Py_None);
    items[11] = Py_NewRef(Py_None);
    /* What tuple.__new__(DepthDiff, items) does, without the intermediate tuple. */
    rec = depth_diff_type->tp_alloc(depth_diff_type, N_FIELDS);
    if (rec == NULL)
        goto fail;
    for (int i = 0; i < N_FIELDS; i++)
        PyTuple_SET_ITEM(rec, i, items[i]);
    return rec;
fail:
    for (int i = 0; i < N_FIELDS; i++)
        Py_XDECREF(items[i]);
    return NULL;
}

static PyMethodDef methods[] = {
    {"parse_depth", (PyCFunction)(void (*)(void))parse_depth, METH_FASTCALL, parse_depth_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "feeds._depthfast",
    "Compiled parser of canonical Binance depthUpdate frames (optional; feeds.binance falls back "
    "to orjson + core.l2book.UnitParser).", -1, methods, NULL, NULL, NULL, NULL,
};

/* Refuse to load unless DepthDiff is the 12-field tuple this module builds. */
static int
check_record_type(PyObject *cls)
{
    static const char *names[N_FIELDS] = {"key", "ts_ex_ns", "ts_ns", "first_id", "last_id", "prev_id",
                                          "bid_ticks", "bid_lots", "ask_ticks", "ask_lots", "checksum", "raw"};
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &PyTuple_Type)) {
        PyErr_SetString(PyExc_ImportError, "core.marketdata.DepthDiff is not a tuple type");
        return -1;
    }
    PyObject *fields = PyObject_GetAttrString(cls, "_fields");
    if (fields == NULL)
        return -1;
    int ok = PyTuple_Check(fields) && PyTuple_GET_SIZE(fields) == N_FIELDS;
    for (int i = 0; ok && i < N_FIELDS; i++) {
        PyObject *f = PyTuple_GET_ITEM(fields, i);
        ok = PyUnicode_Check(f) && PyUnicode_CompareWithASCIIString(f, names[i]) == 0;
    }
    Py_DECREF(fields);
    if (!ok) {
        PyErr_SetString(PyExc_ImportError, "core.marketdata.DepthDiff changed its fields; rebuild feeds._depthfast");
        return -1;
    }
    return 0;
}

PyMODINIT_FUNC
PyInit__depthfast(void)
{
    PyObject *md = PyImport_ImportModule("core.marketdata");
    if (md == NULL)
        return NULL;
    PyObject *cls = PyObject_GetAttrString(md, "DepthDiff");
    Py_DECREF(md);
    if (cls == NULL)
        return NULL;
    if (check_record_type(cls) < 0) {
        Py_DECREF(cls);
        return NULL;
    }
    depth_diff_type = (PyTypeObject *)cls;  /* kept for the life of the process */
    l2native = (L2NativeAPI *)PyCapsule_Import("core._l2native._C_API", 0);
    if (l2native == NULL)
        PyErr_Clear();  /* not built: the record holds lists of ints */
    return PyModule_Create(&moduledef);
}
