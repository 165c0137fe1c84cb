// Baseline for the plugin benchmark: rapidjson Document::Parse of each record, nothing else.
// Built with the plugin's flags; the driver hands it the very records the plugin produced.
#include <rapidjson/document.h>

#include <chrono>
#include <cstddef>

extern "C" double ctb_parse_baseline(const char* const* recs, const size_t* lens, size_t n, size_t* members) {
    auto t0 = std::chrono::steady_clock::now();
    size_t count = 0;
    // A Document reused across Parse calls never frees its pool; clear it per record instead.
    rapidjson::MemoryPoolAllocator<> pool;
    for (size_t i = 0; i < n; ++i) {
        pool.Clear();
        rapidjson::Document doc(&pool);
        doc.Parse<rapidjson::kParseIterativeFlag>(recs[i], lens[i]);
        if (!doc.HasParseError() && doc.IsObject()) count += doc.MemberCount();  // keeps the parse live
    }
    auto t1 = std::chrono::steady_clock::now();
    *members = count;
    return std::chrono::duration<double>(t1 - t0).count();
}
