/* Native benchmark driver: loads libctbridge.so like Falco does (dlopen + the C ABI), reads
 * file://PATH until EOF and extracts the rule fields of every event with one extract_fields
 * call per event. Then it parses the same records with rapidjson alone (parse_baseline.cpp)
 * and prints both rates and their ratio.
 *
 *   plugin_driver LIBCTBRIDGE.so PATH [max_batch_events]
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* The fields the bundled rules read, as Falco would request them for one event. */
static const char* const RULE_FIELDS[] = {
    "ct.name", "ct.error", "ct.user", "ct.user.arn", "ct.srcip", "ct.region",
    "s3.bucket", "ct.request", "ct.info", "ctb.value",
};
#define NFIELDS (sizeof(RULE_FIELDS) / sizeof(RULE_FIELDS[0]))

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
                if (pl->extract(pl->st, &ei, &in) != RC_SUCCESS) {
                    fprintf(stderr, "extract failed on event %llu: %s\n", (unsigned long long)evtnum, pl->err(pl->st));
                    exit(1);
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

int main(int argc, char** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s LIBCTBRIDGE.so PATH [max_batch_events]\n", argv[0]);
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

    xfield_t fields[NFIELDS];
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
        if (strcmp(RULE_FIELDS[i], "ctb.value") == 0) {
            fields[i].arg_key = "/requestParameters/x-amz-acl";
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

    /* Pass 2: source only (gunzip + split + events). */
    bytes = 0;
    double t0 = now_s(), c0 = cpu_s();
    size_t n_src = run_pass(&pl, params, NULL, NULL, NULL, NULL, &bytes);
    double t_src = now_s() - t0, c_src = cpu_s() - c0;

    /* Pass 3: what Falco does: source + one extract_fields call per event. */
    bytes = 0;
    t0 = now_s();
    c0 = cpu_s();
    size_t n_full = run_pass(&pl, params, fields, NULL, NULL, NULL, &bytes);
    double t_full = now_s() - t0, c_full = cpu_s() - c0;

    size_t members = 0;
    c0 = cpu_s();
    double t_base = ctb_parse_baseline((const char* const*)recs, lens, nrecs, &members);
    double c_base = cpu_s() - c0;

    double r_full = (double)n_full / c_full, r_base = (double)nrecs / c_base;
    printf("records                     %zu (avg %zu bytes), rates per CPU second (wall in brackets)\n", n_full,
           bytes / (n_full ? n_full : 1));
    printf("plugin source only          %9.0f events/s  [%9.0f]\n", n_src / c_src, n_src / t_src);
    printf("plugin source + %zu fields   %9.0f events/s  [%9.0f]\n", NFIELDS, r_full, n_full / t_full);
    printf("baseline rapidjson Parse    %9.0f records/s [%9.0f]\n", r_base, nrecs / t_base);
    printf("ratio plugin/baseline       %9.2f\n", r_full / r_base);
    printf("target >= 300000 events/s:  %s\n", r_full >= 300000 ? "met" : "NOT met");

    for (size_t i = 0; i < nrecs; ++i) free(recs[i]);
    free(recs);
    free(lens);
    destroy(pl.st);
    dlclose(lib);
    return 0;
}
