// Private to extract.cpp and info.cpp: the Extractor's state and the CloudTrail semantics
// that ct.info and evt.plugininfo reuse (ct-fields.md §3.6, §3.10, §3.11, §3.15, §4).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "extract.h"
#include "record.h"

namespace ctb {

// A field value that may be absent. `v` views the record's text or a literal.
struct Opt {
    bool present = false;
    std::string_view v;
};

// Rule S (§2.2): missing -> absent; a string -> its decoded text; anything else -> "".
inline Opt rule_s(const Record& r, uint32_t n) {
    if (n == kNone) return {};
    return {true, r.type(n) == JType::string ? r.text(n) : std::string_view()};
}

// ct.user (§3.6), keeping why it is absent for evt.plugininfo (§4).
enum class UserKind { value, no_type, no_name, unknown_type };
UserKind user_of(const Record& r, std::string_view& out);

Opt shortsrc_of(const Record& r);                    // ct.shortsrc (§3.5)
bool s3_uri_of(const Record& r, std::string& out);   // appends; false when absent (§3.10)
bool s3_bytes_of(const Record& r, uint64_t& total);  // s3.bytes (§3.11)

// ct.info (§3.15), appended to `out`.
void build_info(const Record& r, std::string& out);

// The Extractor's state (Extractor::Impl is private, so field functions name this base).
struct ExtractState {
    // The record of the last extracted event, keyed by event number and payload.
    Record rec;
    bool cached = false;
    bool cached_ok = false;
    uint64_t evtnum = 0;
    const char* ptr = nullptr;
    size_t len = 0;
    std::string parse_err;

    // Values of the current extract call: they stay valid until the next one.
    std::vector<std::string> slots;
    size_t used = 0;
    std::vector<uint64_t> nums;
    std::vector<const char*> ptrs;
    struct Res {
        uint32_t begin, count;
        bool num;
    };
    std::vector<Res> res;

    // plugin_event_to_string has its own record so it never evicts the extraction cache.
    Record str_rec;
    std::string str_out;
    std::string str_err;

    std::string& slot() {
        if (used == slots.size()) slots.emplace_back();
        std::string& s = slots[used++];
        s.clear();
        return s;
    }
};

struct Extractor::Impl : ExtractState {};

}  // namespace ctb
