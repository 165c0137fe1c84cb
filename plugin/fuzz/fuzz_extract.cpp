// libFuzzer: every field extractor (fields.def) on one payload, first without arguments, then
// with a key (JSON pointer / enrichment name) and an index taken from the input; and
// evt.plugininfo (Extractor::to_string). Every returned value must be readable.
// Input: u8 flags, u64 index, key, NUL, payload (fuzz_input.h).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "extract.h"
#include "fuzz_input.h"

#define REQUIRE(c) do { if (!(c)) __builtin_trap(); } while (0)

namespace {

void touch(const ss_plugin_extract_field& f, bool num) {
    for (uint64_t i = 0; i < f.res_len; ++i) {
        if (num) {
            volatile uint64_t v = f.res.u64[i];
            (void)v;
        } else {
            REQUIRE(f.res.str[i] != nullptr);
            volatile size_t n = std::strlen(f.res.str[i]);
            (void)n;
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static ctb::Extractor* ex = new ctb::Extractor;
    static uint64_t evtnum = 0;
    static std::vector<bool> numeric;
    const uint32_t nf = ctb::field_count();
    if (numeric.empty()) {
        // The table's types, from plugin_get_fields' JSON: "type":"uint64" per field in order.
        const std::string js = ctb::fields_json();
        size_t at = 0;
        while ((at = js.find("\"type\":\"", at)) != std::string::npos) {
            at += 8;
            numeric.push_back(js.compare(at, 6, "uint64") == 0);
        }
        REQUIRE(numeric.size() == nf);
    }

    // Input: u8 flags (bit 0: an index is present), u64 index, the key up to a NUL, the payload.
    ctbfuzz::Input fin(data, size);
    const bool index_present = fin.u8() & 1;
    const uint64_t index = fin.uint(8);
    const std::string key = fin.until_nul();
    const std::string payload = fin.rest();
    // Falco's event buffer is its own copy; keep it exact so ASan sees any over-read.
    std::vector<char> buf(payload.begin(), payload.end());

    std::vector<ss_plugin_extract_field> fields(nf);
    for (int pass = 0; pass < 2; ++pass) {
        for (uint32_t i = 0; i < nf; ++i) {
            ss_plugin_extract_field& f = fields[i];
            std::memset(&f, 0, sizeof f);
            f.field_id = i;
            f.field = "fuzz";
            f.ftype = numeric[i] ? 8 : 9;  // FTYPE_UINT64 / FTYPE_STRING
            if (pass == 1) {
                f.arg_key = key.c_str();
                f.arg_index = index;
                f.arg_present = index_present;
            }
        }
        ss_plugin_field_extract_input in{};
        in.num_fields = nf;
        in.fields = fields.data();
        std::string err;
        // One field at a time (a failing field, e.g. ctb.value without a key, ends a call) and
        // then all at once on the same event (the cached record).
        const uint64_t ev = ++evtnum;
        for (uint32_t i = 0; i < nf; ++i) {
            in.num_fields = 1;
            in.fields = &fields[i];
            if (ex->extract(buf.data(), buf.size(), ev, &in, err) == SS_PLUGIN_SUCCESS) touch(fields[i], numeric[i]);
        }
        in.num_fields = nf;
        in.fields = fields.data();
        if (ex->extract(buf.data(), buf.size(), ev, &in, err) == SS_PLUGIN_SUCCESS)
            for (uint32_t i = 0; i < nf; ++i) touch(fields[i], numeric[i]);
    }
    const char* s = ex->to_string(buf.data(), buf.size());
    REQUIRE(s != nullptr);
    volatile size_t n = std::strlen(s);
    (void)n;
    return 0;
}
