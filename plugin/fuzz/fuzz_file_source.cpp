// libFuzzer: the file:// source (source_file.cpp) end to end: the input becomes a file (plain
// JSON, JSON lines, gzip of either, a damaged gzip, or raw bytes named .gz) that is opened and
// drained. Every record handed out must be one JSON object within maxRecordBytes.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>
#include <vector>

#include "fuzz_input.h"
#include "source.h"

#define REQUIRE(c) do { if (!(c)) __builtin_trap(); } while (0)

namespace {

std::string gzip(const std::string& in) {
    z_stream zs{};
    REQUIRE(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    std::string out(deflateBound(&zs, in.size()) + 32, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = reinterpret_cast<Bytef*>(&out[0]);
    zs.avail_out = static_cast<uInt>(out.size());
    REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

const std::string& workdir() {
    static const std::string dir = [] {
        const char* base = std::getenv("CTB_FUZZ_TMP");
        std::string tmpl = std::string(base ? base : "/tmp") + "/ctbfuzz.XXXXXX";
        REQUIRE(mkdtemp(&tmpl[0]) != nullptr);
        return tmpl;
    }();
    return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // Input: u8 kind (mod 6), u8 flags (bit 0: maxRecordBytes 1024, bit 1: keep insights),
    // u8 batch size (1 + mod 8), u16 cut, then the file's bytes.
    ctbfuzz::Input fin(data, size);
    const int kind = fin.u8() % 6;
    const uint8_t flags = fin.u8();
    ctb::Config cfg;
    cfg.max_record_bytes = (flags & 1) ? 1024 : (4u << 20);
    cfg.skip_insights = !(flags & 2);
    const size_t batch = 1 + fin.u8() % 8;
    const size_t cut = static_cast<size_t>(fin.uint(2));
    std::string body = fin.rest();

    static const char* const kNames[] = {"f.json", "f.jsonl", "f.json.gz", "f.jsonl.gz", "f.json.gz", "f.json.gz"};
    if (kind == 2 || kind == 3) body = gzip(body);
    if (kind == 4) {  // a damaged gzip: cut, and one byte flipped
        body = gzip(body);
        if (body.size() > 20) {
            body[10 + cut % (body.size() - 10)] ^= 0x5A;
            body.resize(body.size() - cut % 8);
        }
    }
    const std::string path = workdir() + "/" + kNames[kind];
    FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f);
    REQUIRE(std::fwrite(body.data(), 1, body.size(), f) == body.size());
    std::fclose(f);

    ctb::Stats stats;
    std::string err;
    auto src = ctb::open_file_source(path, cfg, stats, [](int, const std::string&) {}, err);
    if (src) {
        std::vector<ctb::Record> out;
        for (int guard = 0; guard < 100000; ++guard) {
            out.clear();
            const ctb::Rc rc = src->next(out, batch, err);
            REQUIRE(out.size() <= batch);
            for (const ctb::Record& r : out) {
                const std::string_view b = r.bytes();
                REQUIRE(!b.empty() && b.size() <= cfg.max_record_bytes);
                REQUIRE(b.front() == '{' && b.back() == '}');
            }
            std::string text;
            REQUIRE(src->progress(text) <= 10000);
            if (rc == ctb::Rc::eof || rc == ctb::Rc::failure) break;
        }
    }
    std::remove(path.c_str());
    return 0;
}
