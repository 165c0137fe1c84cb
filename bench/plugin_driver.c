/* Native benchmark driver: loads libctbridge.so like Falco does (dlopen + the C ABI), reads
 * file://PATH until EOF and extracts the rule fields of every event with one extract_fields
 * call per event. Then it parses the same records with rapidjson alone (parse_baseline.cpp),
 * and, for gzipped input, times inflate alone (libdeflate, as the plugin) over the same files. Each measurement runs
 * `repeats` times; the median is printed, one line per measurement, with its ratio to the
 * baseline. Rates are per CPU second of this thread (one core), wall rates in brackets.
 *
 *   plugin_driver LIBCTBRIDGE.so PATH [max_batch_events [repeats]]
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <libdeflate.h>

/* Our own declarations of the ABI pieces used here (falco-facts §4.3). */
typedef struct __attribute__((packed)) {
    uint64_t ts, tid;
    uint32_t len;
    uint16_t type;
    uint32_t nparams;
} ev_t;
typedef struct { const ev_t* evt; uint64_t evtnum; const char* evtsrc; } ev_input_t;
typedef struct {
    void* res;
    uint64_t res_len;
    uint32_t field_id;
    const char* field;
    const char* arg_key;
    uint64_t arg_index;
    uint32_t arg_present, ftype, flist;
} xfield_t;
typedef struct {
    void* owner;
    void* get_owner_last_error;
    uint32_t num_fields;
    xfield_t* fields;
    void* table_reader[4];
    void* table_reader_ext;
    void* value_offsets;
} xinput_t;
typedef struct {
    const char* config;
    void* owner;
    void* get_owner_last_error;
    void* tables;
    void* log_fn;
} init_input_t;

typedef void* (*init_fn)(const init_input_t*, int32_t*);
typedef void (*destroy_fn)(void*);
typedef const char* (*errfn)(void*);
typedef void* (*open_fn)(void*, const char*, int32_t*);
typedef void (*close_fn)(void*, void*);
typedef int32_t (*next_fn)(void*, void*, uint32_t*, ev_t***);
typedef int32_t (*extract_fn)(void*, const ev_input_t*, const xinput_t*);
typedef const char* (*fields_fn)(void);

double ctb_parse_baseline(const char* const* recs, const size_t* lens, size_t n, size_t* members);

enum { RC_SUCCESS = 0, RC_FAILURE = 1, RC_TIMEOUT = -1, RC_EOF = 2, FTYPE_UINT64 = 8, FTYPE_STRING = 9 };

/* The fields the bundled rules read, as Falco would request them for one event. CTB_FIELDS
   (comma-separated, `name` or `name[arg]`) replaces them, e.g. with every field a rule set reads;
   CTB_PER_CALL=1 extracts one field per plugin_extract_fields call, as Falco's filter checks do. */
static const char* const DEFAULT_FIELDS[] = {
    "ct.name", "ct.error", "ct.user", "ct.user.arn", "ct.srcip", "ct.region",
    "s3.bucket", "ct.request", "ct.info", "ctb.value[/requestParameters/x-amz-acl]",
};
#define MAX_FIELDS 512
static const char* RULE_FIELDS[MAX_FIELDS];
static const char* FIELD_ARGS[MAX_FIELDS];
static size_t NFIELDS;
static int PER_CALL;

static void load_fields(void) {
    const char* env = getenv("CTB_FIELDS");
    PER_CALL = getenv("CTB_PER_CALL") && atoi(getenv("CTB_PER_CALL")) != 0;
    char* list = NULL;
    if (env && *env) {
        list = strdup(env);
    } else {
        size_t n = sizeof(DEFAULT_FIELDS) / sizeof(DEFAULT_FIELDS[0]), len = 1;
        for (size_t i = 0; i < n; ++i) len += strlen(DEFAULT_FIELDS[i]) + 1;
        list = calloc(1, len);
        for (size_t i = 0; i < n; ++i) {
            if (i) strcat(list, ",");
            strcat(list, DEFAULT_FIELDS[i]);
        }
    }
    for (char* save = NULL, *tok = strtok_r(list, ",", &save); tok && NFIELDS < MAX_FIELDS;
         tok = strtok_r(NULL, ",", &save)) {
        char* br = strchr(tok, '[');
        FIELD_ARGS[NFIELDS] = NULL;
        if (br) {
            *br = 0;
            char* end = strrchr(br + 1, ']');
            if (end) *end = 0;
            FIELD_ARGS[NFIELDS] = br + 1;
        }
        RULE_FIELDS[NFIELDS++] = tok;
    }
}

static double clock_s(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}
/* CPU time of this thread: on a shared machine it is the fairer "one core" measure. */
static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }
static double cpu_s(void) { return clock_s(CLOCK_THREAD_CPUTIME_ID); }

static void* sym(void* lib, const char* name) {
    void* p = dlsym(lib, name);
    if (!p) {
        fprintf(stderr, "missing symbol %s\n", name);
        exit(2);
    }
    return p;
}

/* Index and type of `name` in the plugin_get_fields JSON (a flat array of objects). */
static int field_index(const char* json, const char* name, uint32_t* ftype) {
    int idx = -1;
    size_t n = strlen(name);
    for (const char* p = json; (p = strstr(p, "\"name\"")) != NULL; p += 6) {
        if (p > json && p[-1] == '\\') continue;
        ++idx;
        const char* q = p + 6;
        while (*q == ' ' || *q == ':') ++q;
        if (*q != '"' || strncmp(q + 1, name, n) != 0 || q[1 + n] != '"') continue;
        /* type: look inside this object only */
        const char* start = p, *end = strchr(p, '}');
        while (start > json && *start != '{') --start;
        const char* t = strstr(start, "\"type\"");
        *ftype = (t && t < end && strstr(t, "uint64") && strstr(t, "uint64") < end) ? FTYPE_UINT64 : FTYPE_STRING;
        return idx;
    }
    return -1;
}

struct plugin {
    void* st;
    open_fn open;
    close_fn close;
    next_fn next;
    extract_fn extract;
    errfn err;
};

/* One full pass over PATH. With `fields`, extracts them per event; with `keep`, copies payloads. */
static size_t run_pass(struct plugin* pl, const char* params, xfield_t* fields, char*** keep, size_t** keep_len,
                       size_t* keep_n, size_t* bytes) {
    int32_t rc;
    void* h = pl->open(pl->st, params, &rc);
    if (rc != RC_SUCCESS) {
        fprintf(stderr, "open failed: %s\n", pl->err(pl->st));
        exit(1);
    }
    size_t events = 0, cap = 0;
    uint64_t evtnum = 0;
    xinput_t in;
    memset(&in, 0, sizeof(in));
    in.num_fields = NFIELDS;
    in.fields = fields;
    for (;;) {
        uint32_t n = 0;
        ev_t** evts = NULL;
        rc = pl->next(pl->st, h, &n, &evts);
        if (rc == RC_FAILURE) {
            fprintf(stderr, "next_batch failed: %s\n", pl->err(pl->st));
            exit(1);
        }
        for (uint32_t i = 0; i < n; ++i) {
            const char* payload = (const char*)evts[i] + 38;
            size_t len = evts[i]->len - 38;
            *bytes += len;
            if (fields) {
                ev_input_t ei = {evts[i], ++evtnum, "aws_cloudtrail"};
                size_t calls = PER_CALL ? NFIELDS : 1;
                in.num_fields = PER_CALL ? 1 : (uint32_t)NFIELDS;
                for (size_t c = 0; c < calls; ++c) {
                    in.fields = fields + c;
                    if (pl->extract(pl->st, &ei, &in) != RC_SUCCESS) {
                        fprintf(stderr, "extract failed on event %llu: %s\n", (unsigned long long)evtnum, pl->err(pl->st));
                        exit(1);
                    }
                }
            }
            if (keep) {
                if (*keep_n == cap) {
                    cap = cap ? cap * 2 : 4096;
                    *keep = realloc(*keep, cap * sizeof(char*));
                    *keep_len = realloc(*keep_len, cap * sizeof(size_t));
                }
                (*keep)[*keep_n] = malloc(len);
                memcpy((*keep)[*keep_n], payload, len);
                (*keep_len)[(*keep_n)++] = len;
            }
        }
        events += n;
        if (rc == RC_EOF) break;
    }
    pl->close(pl->st, h);
    return events;
}

#define MAX_REPEATS 15

struct sample {
    double cpu, wall;
};

static int by_cpu(const void* a, const void* b) {
    double x = ((const struct sample*)a)->cpu, y = ((const struct sample*)b)->cpu;
    return (x > y) - (x < y);
}

/* The run with the median CPU time. */
static struct sample median(struct sample* s, int n) {
    struct sample tmp[MAX_REPEATS];
    memcpy(tmp, s, (size_t)n * sizeof(*s));
    qsort(tmp, (size_t)n, sizeof(*tmp), by_cpu);
    return tmp[n / 2];
}

/* One summary line: rate per CPU second, wall rate, ratio to the baseline's rate. */
static void report(const char* kind, const char* what, const char* unit, double n, struct sample s, double base_rate) {
    double rate = n / s.cpu;
    printf("%-6s %-27s %9.0f %-9s [%9.0f]  ratio to baseline %5.2f\n", kind, what, rate, unit, n / s.wall,
           rate / base_rate);
}

/* The gzip files under PATH, read into memory for the inflate-only measurement. */
struct files {
    unsigned char** data;
    size_t* len;
    size_t n, cap;
};

static void add_gz(const char* path, struct files* f) {
    size_t n = strlen(path);
    if (n < 3 || strcmp(path + n - 3, ".gz") != 0) return;
    FILE* fp = fopen(path, "rb");
    if (!fp) return;
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char* buf = malloc(size > 0 ? (size_t)size : 1);
    size_t got = fread(buf, 1, (size_t)(size > 0 ? size : 0), fp);
    fclose(fp);
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 64;
        f->data = realloc(f->data, f->cap * sizeof(*f->data));
        f->len = realloc(f->len, f->cap * sizeof(*f->len));
    }
    f->data[f->n] = buf;
    f->len[f->n++] = got;
}

static void collect_gz(const char* path, struct files* f) {
    struct stat st;
    if (stat(path, &st) != 0) return;
    if (!S_ISDIR(st.st_mode)) {
        add_gz(path, f);
        return;
    }
    DIR* d = opendir(path);
    if (!d) return;
    struct dirent* e;
    char full[4096];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(full, sizeof(full), "%s/%s", path, e->d_name);
        collect_gz(full, f);
    }
    closedir(d);
}

/* Inflates every file with libdeflate, as the plugin does; returns the decompressed size. */
static size_t inflate_all(const struct files* f, size_t* in_bytes) {
    struct libdeflate_decompressor* d = libdeflate_alloc_decompressor();
    unsigned char* out = NULL;
    size_t cap = 0, total = 0;
    *in_bytes = 0;
    for (size_t i = 0; i < f->n; ++i) {
        size_t isize = 0, got = 0;
        memcpy(&isize, f->data[i] + f->len[i] - 4, 4); /* single-member files: the exact size */
        if (isize > cap) {
            cap = isize;
            out = realloc(out, cap);
            if (!out) exit(1);
        }
        *in_bytes += f->len[i];
        if (libdeflate_gzip_decompress(d, f->data[i], f->len[i], out, cap, &got) != LIBDEFLATE_SUCCESS) exit(1);
        total += got;
    }
    free(out);
    libdeflate_free_decompressor(d);
    return total;
}

int main(int argc, char** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s LIBCTBRIDGE.so PATH [max_batch_events [repeats]]\n", argv[0]);
        return 2;
    }
    void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    struct plugin pl;
    init_fn init = (init_fn)sym(lib, "plugin_init");
    destroy_fn destroy = (destroy_fn)sym(lib, "plugin_destroy");
    pl.err = (errfn)sym(lib, "plugin_get_last_error");
    pl.open = (open_fn)sym(lib, "plugin_open");
    pl.close = (close_fn)sym(lib, "plugin_close");
    pl.next = (next_fn)sym(lib, "plugin_next_batch");
    pl.extract = (extract_fn)sym(lib, "plugin_extract_fields");
    const char* fields_json = ((fields_fn)sym(lib, "plugin_get_fields"))();

    char config[128];
    snprintf(config, sizeof(config), "{\"maxBatchEvents\": %s}", argc > 3 ? argv[3] : "512");
    init_input_t ii = {config, NULL, NULL, NULL, NULL};
    int32_t rc;
    pl.st = init(&ii, &rc);
    if (rc != RC_SUCCESS) {
        fprintf(stderr, "init failed: %s\n", pl.st ? pl.err(pl.st) : "?");
        return 1;
    }

    load_fields();
    xfield_t fields[MAX_FIELDS];
    memset(fields, 0, sizeof(fields));
    for (size_t i = 0; i < NFIELDS; ++i) {
        uint32_t ftype = FTYPE_STRING;
        int idx = field_index(fields_json, RULE_FIELDS[i], &ftype);
        if (idx < 0) {
            fprintf(stderr, "plugin has no field %s\n", RULE_FIELDS[i]);
            return 1;
        }
        fields[i].field_id = (uint32_t)idx;
        fields[i].field = RULE_FIELDS[i];
        fields[i].ftype = ftype;
        if (FIELD_ARGS[i]) {
            char* endp = NULL;
            unsigned long long index = strtoull(FIELD_ARGS[i], &endp, 10);
            if (*FIELD_ARGS[i] && endp && *endp == 0) {
                fields[i].arg_index = index;
            } else {
                fields[i].arg_key = FIELD_ARGS[i];
            }
            fields[i].arg_present = 1;
        }
    }

    char params[4096];
    snprintf(params, sizeof(params), "file://%s", argv[2]);

    /* Pass 1 (warm-up, untimed): keep the payloads for the baseline. */
    char** recs = NULL;
    size_t* lens = NULL;
    size_t nrecs = 0, bytes = 0;
    run_pass(&pl, params, NULL, &recs, &lens, &nrecs, &bytes);
    if (nrecs == 0) {
        fprintf(stderr, "no records in %s\n", argv[2]);
        return 1;
    }

    int repeats = argc > 4 ? atoi(argv[4]) : 3;
    if (repeats < 1) repeats = 1;
    if (repeats > MAX_REPEATS) repeats = MAX_REPEATS;
    struct sample src[MAX_REPEATS], full[MAX_REPEATS], base[MAX_REPEATS], infl[MAX_REPEATS];
    size_t n_src = 0, n_full = 0, members = 0, gz_bytes = 0, gz_out = 0;
    struct files gz = {0};
    collect_gz(argv[2], &gz);
    for (int r = 0; r < repeats; ++r) {
        /* Source only (gunzip + split + events). */
        bytes = 0;
        double t0 = now_s(), c0 = cpu_s();
        n_src = run_pass(&pl, params, NULL, NULL, NULL, NULL, &bytes);
        src[r] = (struct sample){cpu_s() - c0, now_s() - t0};

        /* What Falco does: source + one extract_fields call per event. */
        bytes = 0;
        t0 = now_s();
        c0 = cpu_s();
        n_full = run_pass(&pl, params, fields, NULL, NULL, NULL, &bytes);
        full[r] = (struct sample){cpu_s() - c0, now_s() - t0};

        c0 = cpu_s();
        double wall = ctb_parse_baseline((const char* const*)recs, lens, nrecs, &members);
        base[r] = (struct sample){cpu_s() - c0, wall};

        if (gz.n) {
            t0 = now_s();
            c0 = cpu_s();
            gz_out = inflate_all(&gz, &gz_bytes);
            infl[r] = (struct sample){cpu_s() - c0, now_s() - t0};
        }
    }
    struct sample m_src = median(src, repeats), m_full = median(full, repeats), m_base = median(base, repeats);
    double r_base = (double)nrecs / m_base.cpu;

    const char* kind = gz.n ? "gzip" : "plain";
    printf("input %s (%s): %zu records, avg %zu bytes; median of %d runs, events per CPU second on one core "
           "[wall]\n", argv[2], kind, n_full, bytes / (n_full ? n_full : 1), repeats);
    report(kind, "plugin source only", "events/s", (double)n_src, m_src, r_base);
    char label[64];
    snprintf(label, sizeof(label), "plugin source + %zu fields%s", NFIELDS, PER_CALL ? " 1/call" : "");
    report(kind, label, "events/s", (double)n_full, m_full, r_base);
    report(kind, "baseline rapidjson Parse", "records/s", (double)nrecs, m_base, r_base);
    if (gz.n) {
        struct sample m_infl = median(infl, repeats);
        /* Records per second inflate alone could feed: the ceiling for .json.gz input on one core. */
        report(kind, "inflate only (libdeflate)", "records/s", (double)nrecs, m_infl, r_base);
        printf("%-6s %-27s %9.0f MB/s decompressed (%zu MB of gzip -> %zu MB)\n", kind, "inflate only (libdeflate)",
               (double)gz_out / m_infl.cpu / 1e6, gz_bytes >> 20, gz_out >> 20);
    }
    double r_full = (double)n_full / m_full.cpu;
    printf("%-6s target >= 300000 events/s (source + fields): %s\n", kind, r_full >= 300000 ? "met" : "NOT met");

    for (size_t i = 0; i < gz.n; ++i) free(gz.data[i]);
    free(gz.data);
    free(gz.len);
    for (size_t i = 0; i < nrecs; ++i) free(recs[i]);
    free(recs);
    free(lens);
    destroy(pl.st);
    dlclose(lib);
    return 0;
}
