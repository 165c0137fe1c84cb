// libFuzzer: Record::parse (lenient strings, the tape), every accessor over every node, and
// RFC 6901 pointer lookup. Input: a pointer, a NUL, then the record (no NUL: a whole record).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "record.h"

#define REQUIRE(c) do { if (!(c)) __builtin_trap(); } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static ctb::Record rec;
    const char* p = reinterpret_cast<const char*>(data);
    std::string_view ptr, text(p, size);
    if (const void* z = std::memchr(p, 0, size)) {
        const size_t at = size_t(static_cast<const char*>(z) - p);
        ptr = std::string_view(p, at);
        text = std::string_view(p + at + 1, size - at - 1);
    }
    std::string err;
    const bool ok = rec.parse(text.data(), text.size(), err);
    REQUIRE(ok == rec.ok());
    if (!ok) {
        REQUIRE(!err.empty());
        return 0;
    }
    std::string out;
    for (uint32_t n = 0; n < rec.node_count(); ++n) {
        REQUIRE(rec.start(n) <= rec.end(n) && rec.end(n) <= text.size());
        (void)rec.raw(n);
        (void)rec.text(n);
        if (n) (void)rec.key(n);
        uint32_t seen = 0;
        for (uint32_t c = rec.first_child(n); c != ctb::kNone; c = rec.next_sibling(c)) {
            REQUIRE(c > n && c < rec.node_count());
            ++seen;
        }
        REQUIRE(seen == rec.count(n));
        if (rec.type(n) == ctb::JType::object && rec.count(n)) {
            const uint32_t first = rec.first_child(n);
            const uint32_t m = rec.member(n, rec.key(first));
            REQUIRE(m == first);  // the first occurrence wins
        }
        if (rec.type(n) == ctb::JType::array && rec.count(n)) {
            REQUIRE(rec.element(n, rec.count(n) - 1) != ctb::kNone);
            REQUIRE(rec.element(n, rec.count(n)) == ctb::kNone);
        }
        out.clear();
        rec.compact(n, out);
        REQUIRE(out.size() <= rec.raw(n).size());
    }
    bool bad = false;
    const uint32_t hit = rec.pointer(ptr, bad);
    REQUIRE(hit == ctb::kNone || hit < rec.node_count());
    if (ptr.empty()) REQUIRE(hit == rec.root() && !bad);
    // And pointers built from the record's own keys resolve to their node.
    for (uint32_t c = rec.first_child(rec.root()); c != ctb::kNone && rec.type(0) == ctb::JType::object;
         c = rec.next_sibling(c)) {
        std::string key(rec.key(c)), esc = "/";
        for (char ch : key) esc += ch == '~' ? std::string("~0") : ch == '/' ? std::string("~1") : std::string(1, ch);
        const uint32_t got = rec.pointer(esc, bad);
        REQUIRE(!bad && got != ctb::kNone && rec.key(got) == rec.key(c));
    }
    return 0;
}
