// Regression tests for the file source's memory bounds on hostile gzip files (findings of
// fuzz_file_source, docs/reliability.md): a file's own size fields must never decide how much
// the plugin allocates. Memory is measured as the growth of this process's peak RSS.
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "../src/source.h"

static int g_fail = 0;
#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            ++g_fail;                                                      \
            std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);    \
        }                                                                  \
    } while (0)

static long peak_rss_mib() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

static std::string write_tmp(const std::string& name, const std::string& bytes) {
    char dir[] = "/tmp/ctbgz.XXXXXX";
    if (!mkdtemp(dir)) std::abort();
    const std::string path = std::string(dir) + "/" + name;
    FILE* f = std::fopen(path.c_str(), "wb");
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
    return path;
}

static std::string gzip(const std::string& in) {
    z_stream zs{};
    deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    std::string out(deflateBound(&zs, in.size()) + 32, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = reinterpret_cast<Bytef*>(&out[0]);
    zs.avail_out = static_cast<uInt>(out.size());
    deflate(&zs, Z_FINISH);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

// Drains a file:// source; returns the number of records.
static size_t drain(const std::string& path, ctb::Stats& stats) {
    ctb::Config cfg;
    std::string err;
    auto src = ctb::open_file_source(path, cfg, stats, [](int, const std::string&) {}, err);
    if (!src) return 0;
    std::vector<ctb::Record> out;
    size_t n = 0;
    for (;;) {
        out.clear();
        const ctb::Rc rc = src->next(out, 64, err);
        n += out.size();
        if (rc == ctb::Rc::eof || rc == ctb::Rc::failure) break;
    }
    return n;
}

int main() {
    const long before = peak_rss_mib();
    // 20 bytes: an empty deflate block, then a trailer whose ISIZE claims 4 GiB - 1. The plugin
    // used to size its output buffer from ISIZE alone: 1 GiB allocated and zeroed for 20 bytes.
    {
        const std::string bomb("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x03\x00\x00\x00\x00\x00\xff\xff\xff\xff", 20);
        ctb::Stats stats;
        CHECK(drain(write_tmp("claims_4gib.json.gz", bomb), stats) == 0);
        CHECK(stats.bad_inputs == 1);
    }
    // A valid log file whose trailer lies the same way: still rejected (size mismatch), still cheap.
    {
        std::string gz = gzip("{\"Records\":[{\"eventTime\":\"2024-01-01T00:00:00Z\",\"eventType\":\"AwsApiCall\"}]}");
        gz.replace(gz.size() - 4, 4, "\xff\xff\xff\x7f", 4);
        ctb::Stats stats;
        drain(write_tmp("lying_isize.json.gz", gz), stats);
        CHECK(stats.bad_inputs == 1);
    }
    const long grew = peak_rss_mib() - before;
    std::printf("peak RSS grew by %ld MiB\n", grew);
    CHECK(grew < 128);
    std::printf("%s\n", g_fail ? "FAILED" : "ok");
    return g_fail ? 1 : 0;
}
