/* core._l2fast: compiled bodies of core.l2book.L2Book.update / best_bid / best_ask (optional).
 *
 * Why: a depth message carries ~50 levels and the pure-Python loop costs ~300 ns a level
 * (bytecode around two or three dict operations). This is the same loop over the same
 * objects -- one PyDict_SetItem / PyDict_DelItem a level on the book's ``bids``/``asks`` dicts
 * and heapq's push (same sift, same comparisons) on its lazy heaps ``_bh`` (negated bid ticks)
 * / ``_ah`` -- so the book
 * ends in exactly the state the Python method leaves for valid input (ints), and bad input
 * raises the same exception types.
 *
 * ``best_bid``/``best_ask`` read the top of the lazy heap, popping stale tops with heapq's own
 * pop algorithm (so the heaps stay identical to the Python methods'); comparisons of ticks
 * that fit 64 bits are done in C.
 *
 * The functions are exported as instance methods (PyInstanceMethod), so the class body can say
 * ``update = _l2fast.book_update`` and ``book.update(...)`` binds ``self``. Heap compaction
 * (rare) calls back into the Python method ``_compact``.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#ifdef Py_GIL_DISABLED
#error "relies on the GIL (module-level state); free-threaded builds use the pure-Python path"
#endif

static PyObject *heappush_fn;  /* _heapq.heappush */
static PyObject *heapify_fn;   /* _heapq.heapify */
static PyObject *one;
static PyObject *s_bids, *s_asks, *s_bh, *s_ah, *s_version, *s_compact;

/* ``a < b`` -- in C for two ints that fit 64 bits (every tick), else the objects' own order. */
static inline int
less_than(PyObject *a, PyObject *b)
{
#if PY_VERSION_HEX < 0x030C0000
    /* CPython 3.11's int layout (signed digit count in ob_size, 30-bit digits): ints of at
     * most two digits (|x| < 2**60, every realistic tick) are compared without a call. */
    if (PyLong_CheckExact(a) && PyLong_CheckExact(b)) {
        Py_ssize_t sa = Py_SIZE(a), sb = Py_SIZE(b);
        if (sa >= -2 && sa <= 2 && sb >= -2 && sb <= 2) {
            const digit *da = ((PyLongObject *)a)->ob_digit, *db = ((PyLongObject *)b)->ob_digit;
            long long x = sa == 0 ? 0 : (long long)da[0] + (sa == 2 || sa == -2 ? (long long)da[1] << PyLong_SHIFT : 0);
            long long y = sb == 0 ? 0 : (long long)db[0] + (sb == 2 || sb == -2 ? (long long)db[1] << PyLong_SHIFT : 0);
            return (sa < 0 ? -x : x) < (sb < 0 ? -y : y);
        }
    }
#endif
    if (PyLong_CheckExact(a) && PyLong_CheckExact(b)) {
        int oa, ob;
        long long x = PyLong_AsLongLongAndOverflow(a, &oa);
        long long y = PyLong_AsLongLongAndOverflow(b, &ob);
        if (!oa && !ob)
            return x < y;
        PyErr_Clear();
    }
    Py_INCREF(a);
    Py_INCREF(b);
    int lt = PyObject_RichCompareBool(a, b, Py_LT);
    Py_DECREF(a);
    Py_DECREF(b);
    return lt;
}

/* bool(q), inline for an int. */
static inline int
truthy(PyObject *q)
{
    return PyLong_CheckExact(q) ? Py_SIZE(q) != 0 : PyObject_IsTrue(q);
}

/* heapq.heappush(heap, item) for a list heap: the same sift (``item < parent`` comparisons
 * through the objects' own ordering), without the call overhead. */
static int
heap_push(PyObject *heap, PyObject *item)
{
    if (!PyList_CheckExact(heap)) {
        PyObject *args[2] = {heap, item};
        PyObject *r = PyObject_Vectorcall(heappush_fn, args, 2, NULL);
        if (r == NULL)
            return -1;
        Py_DECREF(r);
        return 0;
    }
    if (PyList_Append(heap, item) < 0)
        return -1;
    Py_ssize_t size = PyList_GET_SIZE(heap);
    Py_ssize_t pos = size - 1;
    PyObject **v = ((PyListObject *)heap)->ob_item;
    while (pos > 0) {
        Py_ssize_t parentpos = (pos - 1) >> 1;
        int lt = less_than(item, v[parentpos]);
        if (lt < 0)
            return -1;
        if (PyList_GET_SIZE(heap) != size) {
            PyErr_SetString(PyExc_RuntimeError, "list changed size during iteration");
            return -1;
        }
        v = ((PyListObject *)heap)->ob_item;
        if (!lt)
            break;
        /* swap: the list keeps exactly the references it had */
        PyObject *tmp = v[parentpos];
        v[parentpos] = v[pos];
        v[pos] = tmp;
        pos = parentpos;
    }
    return 0;
}

/* One side: returns 0, or -1 with an exception set.
 *
 * Python: ``if q: (if t not in side: heappush(heap, -t or t)); side[t] = q``
 *         ``elif t in side: del side[t]``
 * Here each level is ONE dict operation: the set, telling a new level by the dict's growth
 * (then its tick goes on the heap), or the delete (a missing key's KeyError cleared). The dict
 * and the heap end identical to the Python loop's. */
static int
apply_side(PyObject *side, PyObject *heap, PyObject *ticks, PyObject *lots, int negate)
{
    PyObject *ft = PySequence_Fast(ticks, "ticks must be a sequence");
    if (ft == NULL)
        return -1;
    PyObject *fl = PySequence_Fast(lots, "lots must be a sequence");
    if (fl == NULL) {
        Py_DECREF(ft);
        return -1;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(ft);
    Py_ssize_t nl = PySequence_Fast_GET_SIZE(fl);
    if (nl < n)
        n = nl;  /* zip() semantics */
    PyObject **tv = PySequence_Fast_ITEMS(ft);
    PyObject **lv = PySequence_Fast_ITEMS(fl);
    int rc = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = tv[i], *q = lv[i];
        int nonzero = truthy(q);
        if (nonzero < 0)
            goto fail;
        if (nonzero) {
            Py_ssize_t before = PyDict_GET_SIZE(side);
            if (PyDict_SetItem(side, t, q) < 0)
                goto fail;
            if (PyDict_GET_SIZE(side) == before)
                continue;  /* an existing level: new quantity */
            PyObject *key = t;
            if (negate) {
                key = PyNumber_Negative(t);
                if (key == NULL)
                    goto fail;
            }
            int pushed = heap_push(heap, key);
            if (negate)
                Py_DECREF(key);
            if (pushed < 0)
                goto fail;
        }
        else if (PyDict_DelItem(side, t) < 0) {
            if (!PyErr_ExceptionMatches(PyExc_KeyError))
                goto fail;
            PyErr_Clear();
        }
    }
    goto done;
fail:
    rc = -1;
done:
    Py_DECREF(ft);
    Py_DECREF(fl);
    return rc;
}

/* After a side: ``if len(heap) > 2 * len(side) + 256: self._compact(is_bid)``. */
static int
maybe_compact(PyObject *self, PyObject *side, PyObject *heap, int is_bid)
{
    Py_ssize_t h = PyList_Check(heap) ? PyList_GET_SIZE(heap) : PyObject_Length(heap);
    Py_ssize_t s = PyDict_Check(side) ? PyDict_GET_SIZE(side) : PyObject_Length(side);
    if (h < 0 || s < 0)
        return -1;
    if (h <= 2 * s + 256)
        return 0;
    PyObject *r = PyObject_CallMethodOneArg(self, s_compact, is_bid ? Py_True : Py_False);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

static int
update_one(PyObject *self, PyObject *side_name, PyObject *heap_name, PyObject *ticks, PyObject *lots, int is_bid)
{
    PyObject *side = PyObject_GetAttr(self, side_name);
    if (side == NULL)
        return -1;
    PyObject *heap = PyObject_GetAttr(self, heap_name);
    if (heap == NULL) {
        Py_DECREF(side);
        return -1;
    }
    int rc = -1;
    if (!PyDict_Check(side)) {
        PyErr_SetString(PyExc_TypeError, "L2Book sides must be dicts");
    }
    else if (apply_side(side, heap, ticks, lots, is_bid) == 0) {
        rc = maybe_compact(self, side, heap, is_bid);
    }
    Py_DECREF(side);
    Py_DECREF(heap);
    return rc;
}

/* heapq.heappop(heap) for a non-empty list heap, result discarded: heapq's algorithm (move the
 * last item to the root, sift it to a leaf by the smaller child, then back up), so the list
 * ends exactly as heapq leaves it. */
static int
heap_pop_discard(PyObject *heap)
{
    Py_ssize_t n = PyList_GET_SIZE(heap) - 1;
    PyObject **v = ((PyListObject *)heap)->ob_item;
    PyObject *last = Py_NewRef(v[n]);  /* moves to the root */
    if (PyList_SetSlice(heap, n, n + 1, NULL) < 0) {
        Py_DECREF(last);
        return -1;
    }
    if (n == 0) {
        Py_DECREF(last);  /* the popped item was the only one */
        return 0;
    }
    v = ((PyListObject *)heap)->ob_item;
    PyObject *root = v[0];
    v[0] = last;
    Py_DECREF(root);
    /* _siftup(heap, 0) */
    Py_ssize_t pos = 0, child = 1;
    while (child < n) {
        Py_ssize_t right = child + 1;
        if (right < n) {
            int lt = less_than(v[child], v[right]);
            if (lt < 0)
                return -1;
            if (PyList_GET_SIZE(heap) != n) {
                PyErr_SetString(PyExc_RuntimeError, "list changed size during iteration");
                return -1;
            }
            v = ((PyListObject *)heap)->ob_item;
            if (!lt)
                child = right;
        }
        PyObject *tmp = v[child];
        v[child] = v[pos];
        v[pos] = tmp;
        pos = child;
        child = 2 * pos + 1;
    }
    /* _siftdown(heap, 0, pos) */
    while (pos > 0) {
        Py_ssize_t parent = (pos - 1) >> 1;
        int lt = less_than(v[pos], v[parent]);
        if (lt < 0)
            return -1;
        if (PyList_GET_SIZE(heap) != n) {
            PyErr_SetString(PyExc_RuntimeError, "list changed size during iteration");
            return -1;
        }
        v = ((PyListObject *)heap)->ob_item;
        if (!lt)
            break;
        PyObject *tmp = v[parent];
        v[parent] = v[pos];
        v[pos] = tmp;
        pos = parent;
    }
    return 0;
}

/* best_bid / best_ask: the top of the lazy heap that is still a level (stale tops popped). */
static PyObject *
best(PyObject *self, PyObject *side_name, PyObject *heap_name, int negate)
{
    PyObject *side = PyObject_GetAttr(self, side_name);
    if (side == NULL)
        return NULL;
    PyObject *heap = PyObject_GetAttr(self, heap_name);
    PyObject *result = NULL;
    if (heap == NULL)
        goto done;
    if (!PyList_CheckExact(heap) || !PyDict_Check(side)) {
        PyErr_SetString(PyExc_TypeError, "L2Book heaps must be lists and sides dicts");
        goto done;
    }
    while (PyList_GET_SIZE(heap) > 0) {
        PyObject *top = PyList_GET_ITEM(heap, 0);
        PyObject *t = negate ? PyNumber_Negative(top) : Py_NewRef(top);
        if (t == NULL)
            goto done;
        int has = PyDict_Contains(side, t);
        if (has != 0) {
            if (has > 0)
                result = t;
            else
                Py_DECREF(t);
            goto done;
        }
        Py_DECREF(t);
        if (heap_pop_discard(heap) < 0)
            goto done;
    }
    result = Py_NewRef(Py_None);
done:
    Py_DECREF(side);
    Py_XDECREF(heap);
    return result;
}

static PyObject *
book_best_bid(PyObject *Py_UNUSED(module), PyObject *self)
{
    return best(self, s_bids, s_bh, 1);
}

static PyObject *
book_best_ask(PyObject *Py_UNUSED(module), PyObject *self)
{
    return best(self, s_asks, s_ah, 0);
}

PyDoc_STRVAR(book_best_bid_doc, "best_bid(self)\n--\n\nBest bid tick, or None when the side is empty.");
PyDoc_STRVAR(book_best_ask_doc, "best_ask(self)\n--\n\nBest ask tick, or None when the side is empty.");

PyDoc_STRVAR(heap_of_doc,
"heap_of(side, negate)\n--\n\n"
"A heap of a side's ticks: ``h = [-t for t in side] if negate else list(side); heapify(h)``.");

static PyObject *
heap_of(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyDict_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "heap_of(side: dict, negate: bool)");
        return NULL;
    }
    PyObject *side = args[0];
    int negate = PyObject_IsTrue(args[1]);
    if (negate < 0)
        return NULL;
    PyObject *list = PyList_New(PyDict_GET_SIZE(side));
    if (list == NULL)
        return NULL;
    Py_ssize_t pos = 0, i = 0;
    PyObject *key, *value;
    while (PyDict_Next(side, &pos, &key, &value)) {
        PyObject *item = negate ? PyNumber_Negative(key) : Py_NewRef(key);
        if (item == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i++, item);
    }
    PyObject *r = PyObject_CallOneArg(heapify_fn, list);
    if (r == NULL) {
        Py_DECREF(list);
        return NULL;
    }
    Py_DECREF(r);
    return list;
}

PyDoc_STRVAR(book_update_doc,
"update(self, bid_ticks, bid_lots, ask_ticks, ask_lots)\n--\n\n"
"Apply one message's absolute levels in order (lots 0 removes the level); one version step.\n"
"Compiled twin of the pure-Python L2Book.update loop (same dict/heap operations).");

static PyObject *
book_update(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_Format(PyExc_TypeError, "update() takes 4 arguments after self (%zd given)", nargs - 1);
        return NULL;
    }
    PyObject *self = args[0];
    if (update_one(self, s_bids, s_bh, args[1], args[2], 1) < 0)
        return NULL;
    if (update_one(self, s_asks, s_ah, args[3], args[4], 0) < 0)
        return NULL;
    PyObject *v = PyObject_GetAttr(self, s_version);
    if (v == NULL)
        return NULL;
    PyObject *v1 = PyNumber_Add(v, one);
    Py_DECREF(v);
    if (v1 == NULL)
        return NULL;
    int rc = PyObject_SetAttr(self, s_version, v1);
    Py_DECREF(v1);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef method_defs[] = {
    {"book_update", (PyCFunction)(void (*)(void))book_update, METH_FASTCALL, book_update_doc},
    {"book_best_bid", (PyCFunction)book_best_bid, METH_O, book_best_bid_doc},
    {"book_best_ask", (PyCFunction)book_best_ask, METH_O, book_best_ask_doc},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "core._l2fast",
    "Compiled L2Book.update (optional; core.l2book falls back to its pure-Python loop).", -1, NULL,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__l2fast(void)
{
    PyObject *m = PyModule_Create(&moduledef);
    if (m == NULL)
        return NULL;
    PyObject *heapq = PyImport_ImportModule("_heapq");
    if (heapq == NULL)
        goto error;
    heappush_fn = PyObject_GetAttrString(heapq, "heappush");
    heapify_fn = PyObject_GetAttrString(heapq, "heapify");
    Py_DECREF(heapq);
    if (heappush_fn == NULL || heapify_fn == NULL)
        goto error;
    static PyMethodDef heap_of_def = {"heap_of", (PyCFunction)(void (*)(void))heap_of, METH_FASTCALL, heap_of_doc};
    PyObject *heap_of_fn = PyCFunction_NewEx(&heap_of_def, NULL, NULL);
    if (heap_of_fn == NULL || PyModule_AddObject(m, "heap_of", heap_of_fn) < 0) {
        Py_XDECREF(heap_of_fn);
        goto error;
    }
    if (!(s_bids = PyUnicode_InternFromString("bids")) || !(s_asks = PyUnicode_InternFromString("asks")) ||
        !(s_bh = PyUnicode_InternFromString("_bh")) || !(s_ah = PyUnicode_InternFromString("_ah")) ||
        !(s_version = PyUnicode_InternFromString("version")) || !(one = PyLong_FromLong(1)) ||
        !(s_compact = PyUnicode_InternFromString("_compact")))
        goto error;
    /* Each exported as an instance method, so a class body can bind it as a method. */
    for (size_t i = 0; i < sizeof(method_defs) / sizeof(method_defs[0]); i++) {
        PyObject *fn = PyCFunction_NewEx(&method_defs[i], NULL, NULL);
        if (fn == NULL)
            goto error;
        PyObject *meth = PyInstanceMethod_New(fn);
        Py_DECREF(fn);
        if (meth == NULL || PyModule_AddObject(m, method_defs[i].ml_name, meth) < 0) {
            Py_XDECREF(meth);
            goto error;
        }
    }
    return m;
error:
    Py_DECREF(m);
    return NULL;
}
