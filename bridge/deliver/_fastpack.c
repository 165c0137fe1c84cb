/* bridge.deliver._fastpack: the replay/S3 fast path of bridge/deliver/packed.py in C.
 *
 * Optional: packed.py uses it when it imports (and CTBRIDGE_PURE_PYTHON is not set); the
 * pure-Python functions there are the reference, and every function here gives byte for byte
 * what they give, or False ("not sure: run the Python code"), never a different answer.
 *
 *   gunzip(raw, max_ratio) -> bytes | None | False     packed._gunzip_bounded_py
 *   utf8_ok(data) -> bool                              data.isascii() or data.decode("utf-8")
 *   pack(data, max_record_bytes, parse, in_range)      packed.fast_pack_py, as a tuple
 *       -> (data, ends, keys, max_len, ts_range) | None | False
 *
 * pack calls back parse (normalize.logfile.parse_rfc3339_ns) and in_range once per distinct
 * eventTime text, so time semantics stay Python's. The GIL is released around gunzip, the UTF-8
 * check, the scan and the copy (the daemon reads with several threads).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#ifdef FASTPACK_LIBDEFLATE
#include <libdeflate.h>
#endif

/* ---------------------------------------------------------------- BLAKE2b (RFC 7693), 8 bytes */

static const uint64_t B2_IV[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
    0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};

static const uint8_t B2_SIGMA[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
};

static inline uint64_t rotr64(uint64_t x, unsigned n) { return (x >> n) | (x << (64 - n)); }

static inline uint64_t load64le(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#define B2_G(a, b, c, d, x, y)          \
    do {                                \
        v[a] = v[a] + v[b] + (x);       \
        v[d] = rotr64(v[d] ^ v[a], 32); \
        v[c] = v[c] + v[d];             \
        v[b] = rotr64(v[b] ^ v[c], 24); \
        v[a] = v[a] + v[b] + (y);       \
        v[d] = rotr64(v[d] ^ v[a], 16); \
        v[c] = v[c] + v[d];             \
        v[b] = rotr64(v[b] ^ v[c], 63); \
    } while (0)

static void b2_compress(uint64_t h[8], const uint8_t block[128], uint64_t count, int last) {
    uint64_t v[16], m[16];
    for (int i = 0; i < 16; i++)
        m[i] = load64le(block + 8 * i);
    for (int i = 0; i < 8; i++) {
        v[i] = h[i];
        v[i + 8] = B2_IV[i];
    }
    v[12] ^= count; /* the high word of the 128-bit counter stays 0: inputs are far below 2^64 */
    if (last)
        v[14] = ~v[14];
    for (int r = 0; r < 12; r++) {
        const uint8_t *s = B2_SIGMA[r];
        B2_G(0, 4, 8, 12, m[s[0]], m[s[1]]);
        B2_G(1, 5, 9, 13, m[s[2]], m[s[3]]);
        B2_G(2, 6, 10, 14, m[s[4]], m[s[5]]);
        B2_G(3, 7, 11, 15, m[s[6]], m[s[7]]);
        B2_G(0, 5, 10, 15, m[s[8]], m[s[9]]);
        B2_G(1, 6, 11, 12, m[s[10]], m[s[11]]);
        B2_G(2, 7, 8, 13, m[s[12]], m[s[13]]);
        B2_G(3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    for (int i = 0; i < 8; i++)
        h[i] ^= v[i] ^ v[i + 8];
}

/* int.from_bytes(blake2b(msg, digest_size=8).digest(), "little") >> 1 */
static uint64_t event_key(const uint8_t *msg, size_t len) {
    uint64_t h[8];
    uint8_t block[128];
    memcpy(h, B2_IV, sizeof h);
    h[0] ^= 0x01010000ULL ^ 8; /* depth 1, fanout 1, no key, 8-byte digest */
    uint64_t count = 0;
    while (len > 128) {
        count += 128;
        b2_compress(h, msg, count, 0);
        msg += 128;
        len -= 128;
    }
    memset(block, 0, sizeof block);
    if (len)
        memcpy(block, msg, len);
    count += len;
    b2_compress(h, block, count, 1);
    return h[0] >> 1; /* the digest's 8 bytes are h[0], little-endian */
}

/* ---------------------------------------------------------------- helpers */

static const char K_FIRST[] = "{\"eventVersion\""; /* normalize.stream._FIRST */
#define L_FIRST 15
static const char K_TIME[] = "\"eventTime\":\"";
#define L_TIME 13
static const char K_ID[] = "\"eventID\":\"";
#define L_ID 11

/* \s of a bytes regex (packed._WS) */
static inline int is_ws6(uint8_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
/* packed._rstrip's set */
static inline int is_ws4(uint8_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* bytes.find(needle, from, to): the first occurrence lying wholly in [from, to), or -1 */
static inline Py_ssize_t find(const uint8_t *d, Py_ssize_t from, Py_ssize_t to, const char *needle, size_t nl) {
    if (from < 0 || to - from < (Py_ssize_t)nl)
        return -1;
    const uint8_t *p = memmem(d + from, (size_t)(to - from), needle, nl);
    return p ? p - d : -1;
}

static inline Py_ssize_t find_byte(const uint8_t *d, Py_ssize_t from, Py_ssize_t to, uint8_t c) {
    if (from >= to)
        return -1;
    const uint8_t *p = memchr(d + from, c, (size_t)(to - from));
    return p ? p - d : -1;
}

/* bytes.rfind(needle, from, to): the last occurrence lying wholly in [from, to), or -1 */
static inline Py_ssize_t rfind(const uint8_t *d, Py_ssize_t from, Py_ssize_t to, const char *needle, size_t nl) {
    Py_ssize_t last = to - (Py_ssize_t)nl; /* the last possible start */
    while (last >= from) {
        const uint8_t *p = memrchr(d + from, (uint8_t)needle[0], (size_t)(last - from + 1));
        if (p == NULL)
            return -1;
        if (memcmp(p, needle, nl) == 0)
            return p - d;
        last = (p - d) - 1;
    }
    return -1;
}

/* bytes.count(needle, from, to): non-overlapping, left to right */
static Py_ssize_t count(const uint8_t *d, Py_ssize_t from, Py_ssize_t to, const char *needle, size_t nl) {
    Py_ssize_t n = 0;
    for (;;) {
        Py_ssize_t p = find(d, from, to, needle, nl);
        if (p < 0)
            return n;
        n++;
        from = p + (Py_ssize_t)nl;
    }
}

/* ---------------------------------------------------------------- the scan (no GIL) */

typedef struct {
    Py_ssize_t a, b;        /* the record: data[a:b] */
    Py_ssize_t id, id_end;  /* its eventID value: data[id:id_end] */
    Py_ssize_t tm, tm_end;  /* its eventTime value */
    Py_ssize_t text;        /* index of the distinct eventTime text */
} rec_t;

typedef struct {
    rec_t *recs;
    Py_ssize_t n, cap;
    Py_ssize_t *texts;  /* record index of each distinct eventTime text (its first record) */
    Py_ssize_t ntexts;
    Py_ssize_t longest;
    Py_ssize_t total;   /* the entries' size */
} scan_t;

enum { S_OK, S_NONE, S_EMPTY, S_NOMEM, S_DEFER };

static int push_rec(scan_t *s, Py_ssize_t a, Py_ssize_t b) {
    if (s->n == s->cap) {
        Py_ssize_t cap = s->cap ? 2 * s->cap : 256;
        if ((size_t)cap > PY_SSIZE_T_MAX / sizeof(rec_t))
            return -1;
        rec_t *r = PyMem_RawRealloc(s->recs, (size_t)cap * sizeof(rec_t));
        if (r == NULL)
            return -1;
        s->recs = r;
        s->cap = cap;
    }
    s->recs[s->n].a = a;
    s->recs[s->n].b = b;
    s->n++;
    return 0;
}

static uint64_t fnv1a(const uint8_t *p, Py_ssize_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (Py_ssize_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

/* packed._records: the records of data[start:end] */
static int split(const uint8_t *d, Py_ssize_t start, Py_ssize_t end, scan_t *s) {
    Py_ssize_t p = find(d, start + 1, end, K_FIRST, L_FIRST);
    while (p >= 0) {
        Py_ssize_t r = p - 1;
        int ok;
        if (r - 1 >= 0 && d[r - 1] == '}' && d[r] == ',') {
            r -= 1;
            ok = r >= start;
        } else {
            while (r > start && is_ws6(d[r]))
                r--;
            ok = d[r] == ',';
            if (ok) {
                r--;
                while (r > start && is_ws6(d[r]))
                    r--;
                ok = r > start && d[r] == '}';
            }
        }
        if (ok) {
            if (push_rec(s, start, r + 1) < 0)
                return S_NOMEM;
            start = p;
        }
        p = find(d, p + 1, end, K_FIRST, L_FIRST);
    }
    if (push_rec(s, start, end) < 0)
        return S_NOMEM;
    return S_OK;
}

/* The record's bytes after its eventID value, up to its closing brace, must close every
 * bracket they open and no more (strings skipped): else the only `"eventID":"` sits in a nested
 * object and is not the record's (packed.py: _closes_level). */
static int closes_level(const uint8_t *d, Py_ssize_t from, Py_ssize_t to) {
    Py_ssize_t depth = 0;
    int in_str = 0;
    for (Py_ssize_t i = from; i < to; i++) {
        uint8_t c = d[i];
        if (in_str) {
            if (c == '\\') {
                if (i + 1 >= to)
                    return 0;
                i++;
            } else if (c == '"') {
                in_str = 0;
            }
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth < 0)
                return 0;
        }
    }
    return !in_str && depth == 0;
}

static int scan(const uint8_t *d, Py_ssize_t n, scan_t *s) {
    /* _HEAD: (?:\xef\xbb\xbf)?\s*\{\s*"Records"\s*:\s*\[\s* */
    Py_ssize_t p = 0;
    if (n >= 3 && d[0] == 0xef && d[1] == 0xbb && d[2] == 0xbf)
        p = 3;
    while (p < n && is_ws6(d[p]))
        p++;
    if (p >= n || d[p] != '{')
        return S_NONE;
    p++;
    while (p < n && is_ws6(d[p]))
        p++;
    if (n - p < 9 || memcmp(d + p, "\"Records\"", 9) != 0)
        return S_NONE;
    p += 9;
    while (p < n && is_ws6(d[p]))
        p++;
    if (p >= n || d[p] != ':')
        return S_NONE;
    p++;
    while (p < n && is_ws6(d[p]))
        p++;
    if (p >= n || d[p] != '[')
        return S_NONE;
    p++;
    while (p < n && is_ws6(d[p]))
        p++;
    Py_ssize_t start = p;

    Py_ssize_t end = n;
    while (end > 0 && is_ws4(d[end - 1]))
        end--;
    if (end < 1 || d[end - 1] != '}')
        return S_NONE;
    end--;
    while (end > 0 && is_ws4(d[end - 1]))
        end--;
    if (end < 1 || d[end - 1] != ']')
        return S_NONE;
    end--;
    while (end > 0 && is_ws4(d[end - 1]))
        end--;
    if (start >= end)
        return S_EMPTY;
    if (n - start < L_FIRST || memcmp(d + start, K_FIRST, L_FIRST) != 0)
        return S_NONE;

    int rc = split(d, start, end, s);
    if (rc != S_OK)
        return rc;
    if (count(d, start, end, K_ID, L_ID) != s->n)
        return S_NONE;

    /* distinct eventTime texts: an open-addressing table of record indexes */
    size_t tsize = 64;
    while (tsize < 2 * (size_t)s->n)
        tsize *= 2;
    Py_ssize_t *table = PyMem_RawMalloc(tsize * sizeof(Py_ssize_t));
    s->texts = PyMem_RawMalloc((size_t)s->n * sizeof(Py_ssize_t));
    if (table == NULL || s->texts == NULL) {
        PyMem_RawFree(table);
        return S_NOMEM;
    }
    memset(table, 0xff, tsize * sizeof(Py_ssize_t)); /* -1: empty */

    rc = S_OK;
    Py_ssize_t longest = 0, total = 0;
    for (Py_ssize_t x = 0; x < s->n; x++) {
        rec_t *r = &s->recs[x];
        Py_ssize_t a = r->a, b = r->b;
        Py_ssize_t i = find(d, a, b, K_TIME, L_TIME);
        Py_ssize_t k = rfind(d, a, b, K_ID, L_ID);
        if (i < 0 || k < a) {
            rc = S_NONE;
            break;
        }
        /* a `"eventID":"` starting 10 bytes before (the key's self-overlap) */
        if (k - (L_ID - 1) >= 0 && memcmp(d + k - (L_ID - 1), K_ID, L_ID) == 0) {
            rc = S_NONE;
            break;
        }
        i += L_TIME;
        k += L_ID;
        Py_ssize_t j = find_byte(d, i, b, '"');
        Py_ssize_t q = find_byte(d, k, b, '"');
        if (j < 0 || q < 0 || find_byte(d, k, q, '\\') >= 0) {
            rc = S_NONE;
            break;
        }
        if (!closes_level(d, q + 1, b - 1)) {
            rc = S_NONE;
            break;
        }
        r->tm = i;
        r->tm_end = j;
        r->id = k;
        r->id_end = q;
        size_t slot = (size_t)fnv1a(d + i, j - i) & (tsize - 1);
        for (;;) {
            Py_ssize_t t = table[slot];
            if (t < 0) {
                table[slot] = s->ntexts;
                s->texts[s->ntexts] = x;
                r->text = s->ntexts++;
                break;
            }
            const rec_t *o = &s->recs[s->texts[t]];
            if (o->tm_end - o->tm == j - i && memcmp(d + o->tm, d + i, (size_t)(j - i)) == 0) {
                r->text = t;
                break;
            }
            slot = (slot + 1) & (tsize - 1);
        }
        Py_ssize_t size = b - a;
        if ((uint64_t)size > UINT32_MAX) { /* struct.pack would raise: Python's business */
            rc = S_DEFER;
            break;
        }
        if (size > longest)
            longest = size;
        total += 12 + size;
    }
    PyMem_RawFree(table);
    s->longest = longest;
    s->total = total;
    return rc;
}

static void fill(const uint8_t *d, const scan_t *s, const uint64_t *ts, uint8_t *out, uint64_t *keys) {
    for (Py_ssize_t x = 0; x < s->n; x++) {
        const rec_t *r = &s->recs[x];
        uint64_t t = ts[r->text];
        uint32_t size = (uint32_t)(r->b - r->a);
        for (int i = 0; i < 8; i++)
            out[i] = (uint8_t)(t >> (8 * i));
        for (int i = 0; i < 4; i++)
            out[8 + i] = (uint8_t)(size >> (8 * i));
        memcpy(out + 12, d + r->a, size);
        out += 12 + (size_t)size;
        keys[x] = r->id_end > r->id ? event_key(d + r->id, (size_t)(r->id_end - r->id)) : 0;
    }
}

/* ---------------------------------------------------------------- pack */

static PyObject *py_pack(PyObject *self, PyObject *args) {
    Py_buffer buf;
    PyObject *limit_obj, *parse, *in_range;
    if (!PyArg_ParseTuple(args, "y*OOO:pack", &buf, &limit_obj, &parse, &in_range))
        return NULL;
    PyObject *result = NULL, *data = NULL, *ends = NULL, *keys_list = NULL, *range = NULL;
    uint64_t *ts = NULL, *keys = NULL;
    scan_t s = {0};
    int overflow = 0;
    long long limit = PyLong_AsLongLongAndOverflow(limit_obj, &overflow);
    if (limit == -1 && !overflow && PyErr_Occurred())
        goto done;
    const uint8_t *d = buf.buf;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = scan(d, buf.len, &s);
    Py_END_ALLOW_THREADS
    if (rc == S_NOMEM) {
        PyErr_NoMemory();
        goto done;
    }
    if (rc == S_DEFER) {
        result = Py_NewRef(Py_False);
        goto done;
    }
    if (rc == S_NONE) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    if (rc == S_EMPTY) {
        result = Py_BuildValue("(y#[][]iO)", "", (Py_ssize_t)0, 0, Py_None);
        goto done;
    }
    /* each distinct eventTime text through Python's parser, as fast_pack does */
    ts = PyMem_Malloc((size_t)s.ntexts * sizeof(uint64_t));
    if (ts == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    uint64_t lo = UINT64_MAX, hi = 0;
    for (Py_ssize_t t = 0; t < s.ntexts; t++) {
        const rec_t *r = &s.recs[s.texts[t]];
        PyObject *text = PyUnicode_DecodeASCII((const char *)d + r->tm, r->tm_end - r->tm, "replace");
        if (text == NULL)
            goto done;
        PyObject *parsed = PyObject_CallOneArg(parse, text);
        Py_DECREF(text);
        if (parsed == NULL)
            goto done;
        if (parsed == Py_None) {
            Py_DECREF(parsed);
            result = Py_NewRef(Py_None);
            goto done;
        }
        PyObject *ok = PyObject_CallOneArg(in_range, parsed);
        if (ok == NULL) {
            Py_DECREF(parsed);
            goto done;
        }
        int good = PyObject_IsTrue(ok);
        Py_DECREF(ok);
        if (good <= 0) {
            Py_DECREF(parsed);
            if (good < 0)
                goto done;
            result = Py_NewRef(Py_None);
            goto done;
        }
        if (!PyLong_Check(parsed)) { /* not what parse_rfc3339_ns returns: let Python say */
            Py_DECREF(parsed);
            result = Py_NewRef(Py_False);
            goto done;
        }
        unsigned long long v = PyLong_AsUnsignedLongLong(parsed);
        Py_DECREF(parsed);
        if (v == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            result = Py_NewRef(Py_False);
            goto done;
        }
        ts[t] = v;
        if (v < lo)
            lo = v;
        if (v > hi)
            hi = v;
    }
    if (overflow < 0 || (overflow == 0 && (long long)s.longest > limit)) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    data = PyBytes_FromStringAndSize(NULL, s.total);
    keys = PyMem_Malloc((size_t)s.n * sizeof(uint64_t));
    if (data == NULL || keys == NULL) {
        if (keys == NULL)
            PyErr_NoMemory();
        goto done;
    }
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(data);
    Py_BEGIN_ALLOW_THREADS
    fill(d, &s, ts, out, keys);
    Py_END_ALLOW_THREADS
    ends = PyList_New(s.n);
    keys_list = PyList_New(s.n);
    if (ends == NULL || keys_list == NULL)
        goto done;
    Py_ssize_t at = 0;
    for (Py_ssize_t x = 0; x < s.n; x++) {
        at += 12 + (s.recs[x].b - s.recs[x].a);
        PyObject *e = PyLong_FromSsize_t(at);
        if (e == NULL)
            goto done;
        PyList_SET_ITEM(ends, x, e);
        PyObject *k = PyLong_FromUnsignedLongLong(keys[x]);
        if (k == NULL)
            goto done;
        PyList_SET_ITEM(keys_list, x, k);
    }
    range = Py_BuildValue("(KK)", (unsigned long long)lo, (unsigned long long)hi);
    if (range == NULL)
        goto done;
    result = Py_BuildValue("(OOOnO)", data, ends, keys_list, s.longest, range);
done:
    Py_XDECREF(data);
    Py_XDECREF(ends);
    Py_XDECREF(keys_list);
    Py_XDECREF(range);
    PyMem_Free(ts);
    PyMem_Free(keys);
    PyMem_RawFree(s.recs);
    PyMem_RawFree(s.texts);
    PyBuffer_Release(&buf);
    return result;
}

/* ---------------------------------------------------------------- UTF-8 */

/* whether d[0:n] is well-formed UTF-8 (Unicode table 3-7: what bytes.decode("utf-8") accepts) */
static int utf8_valid(const uint8_t *d, size_t n) {
    size_t i = 0;
    while (i < n) {
        /* ASCII runs eight bytes at a time */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, d + i, 8);
            if (w & 0x8080808080808080ULL)
                break;
            i += 8;
        }
        if (i >= n)
            break;
        uint8_t c = d[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint8_t lo = 0x80, hi = 0xbf; /* the range of the second byte */
        if (c >= 0xc2 && c <= 0xdf)
            len = 2;
        else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0)
                lo = 0xa0;
            else if (c == 0xed)
                hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0)
                lo = 0x90;
            else if (c == 0xf4)
                hi = 0x8f;
        } else
            return 0;
        if (n - i < len)
            return 0;
        if (d[i + 1] < lo || d[i + 1] > hi)
            return 0;
        for (size_t k = 2; k < len; k++)
            if (d[i + k] < 0x80 || d[i + k] > 0xbf)
                return 0;
        i += len;
    }
    return 1;
}

static PyObject *py_utf8_ok(PyObject *self, PyObject *args) {
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "y*:utf8_ok", &buf))
        return NULL;
    int ok;
    Py_BEGIN_ALLOW_THREADS
    ok = utf8_valid(buf.buf, (size_t)buf.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    return PyBool_FromLong(ok);
}

/* ---------------------------------------------------------------- gunzip */

static PyObject *py_gunzip(PyObject *self, PyObject *args) {
    Py_buffer buf;
    Py_ssize_t ratio;
    if (!PyArg_ParseTuple(args, "y*n:gunzip", &buf, &ratio))
        return NULL;
    PyObject *result = NULL;
#ifdef FASTPACK_LIBDEFLATE
    const uint8_t *in = buf.buf;
    size_t n = (size_t)buf.len;
    /* The output's size is the ISIZE trailer, when the member ends the input. Anything unusual
     * (a header CRC, which zlib checks and libdeflate does not; trailing NULs, which hide the
     * trailer; a size at the ratio cap, where zlib's bounded decompressobj stops short of the
     * end; damage) is left to zlib. */
    if (ratio < 0 || n < 18 || in[0] != 0x1f || in[1] != 0x8b || (in[3] & 0x02)) {
        result = Py_NewRef(Py_False);
        goto done;
    }
    size_t isize = (size_t)in[n - 4] | (size_t)in[n - 3] << 8 | (size_t)in[n - 2] << 16 | (size_t)in[n - 1] << 24;
    if ((size_t)ratio > (SIZE_MAX - (1u << 20)) / n || isize >= (size_t)ratio * n + (1u << 20)) {
        result = Py_NewRef(Py_False);
        goto done;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)isize);
    if (out == NULL)
        goto done;
    struct libdeflate_decompressor *dec = libdeflate_alloc_decompressor();
    if (dec == NULL) {
        Py_DECREF(out);
        PyErr_NoMemory();
        goto done;
    }
    size_t used_in = 0, used_out = 0;
    enum libdeflate_result r;
    Py_BEGIN_ALLOW_THREADS
    r = libdeflate_gzip_decompress_ex(dec, in, n, PyBytes_AS_STRING(out), isize, &used_in, &used_out);
    Py_END_ALLOW_THREADS
    libdeflate_free_decompressor(dec);
    if (r != LIBDEFLATE_SUCCESS || used_out != isize || used_in > n) {
        Py_DECREF(out);
        result = Py_NewRef(Py_False);
        goto done;
    }
    for (size_t i = used_in; i < n; i++) {
        if (in[i] != 0) { /* the member is whole and valid, and more follows that is not NULs */
            Py_DECREF(out);
            result = Py_NewRef(Py_None);
            goto done;
        }
    }
    result = out;
#else
    (void)ratio;
    result = Py_NewRef(Py_False);
    goto done;
#endif
done:
    PyBuffer_Release(&buf);
    return result;
}

/* ---------------------------------------------------------------- module */

static PyMethodDef methods[] = {
    {"pack", py_pack, METH_VARARGS,
     "pack(data, max_record_bytes, parse, in_range) -> (data, ends, keys, max_len, ts_range) | None | False"},
    {"gunzip", py_gunzip, METH_VARARGS, "gunzip(raw, max_ratio) -> bytes | None | False"},
    {"utf8_ok", py_utf8_ok, METH_VARARGS, "utf8_ok(data) -> bool: whether data.decode('utf-8') succeeds"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "bridge.deliver._fastpack",
    "packed.py's gunzip, UTF-8 check and fast split in C (same results, or False: use Python)", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastpack(void) {
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
#ifdef FASTPACK_LIBDEFLATE
    if (PyModule_AddIntConstant(m, "LIBDEFLATE", 1) < 0) {
#else
    if (PyModule_AddIntConstant(m, "LIBDEFLATE", 0) < 0) {
#endif
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
