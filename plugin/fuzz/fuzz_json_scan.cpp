// libFuzzer: the JSON tokenizer (json_scan.h) in both string modes. Besides ASan/UBSan, checks
// the handler contract: every position lies inside the text, brackets balance, keys only
// inside objects, and an accepted text is a whole document.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "json_scan.h"

namespace {

#define REQUIRE(c) do { if (!(c)) { __builtin_trap(); } } while (0)

struct Checker {
    const char* b;
    const char* e;  // end of the text (the first padding byte)
    std::vector<bool> open_;  // true = object
    size_t tokens = 0;
    void at(const char* p) const { REQUIRE(p >= b && p < e); }
    bool open(bool object, const char* p) {
        at(p);
        REQUIRE(*p == (object ? '{' : '['));
        if (open_.size() >= 512) return false;  // exercise the refusal path too
        open_.push_back(object);
        ++tokens;
        return true;
    }
    void close(bool object, const char* p) {
        at(p);
        REQUIRE(!open_.empty() && open_.back() == object);
        REQUIRE(*p == (object ? '}' : ']'));
        open_.pop_back();
    }
    void key(const char* q0, const char* q1, bool) {
        at(q0);
        at(q1);
        REQUIRE(q0 < q1 && *q0 == '"' && *q1 == '"');
        REQUIRE(!open_.empty() && open_.back());
    }
    void string(const char* q0, const char* q1, bool) {
        at(q0);
        at(q1);
        REQUIRE(q0 < q1 && *q0 == '"' && *q1 == '"');
        ++tokens;
    }
    void number(const char* nb, const char* ne) {
        at(nb);
        REQUIRE(ne > nb && ne <= e);
        ++tokens;
    }
    void literal(ctb::json::Lit, const char* p) {
        at(p);
        ++tokens;
    }
};

template <ctb::json::Strings M>
void run(const std::string& padded, size_t n, std::vector<uint8_t>& stack) {
    Checker c{padded.data(), padded.data() + n, {}, 0};
    const ctb::json::Result r = ctb::json::scan<M>(padded.data(), c, stack);
    REQUIRE(r.offset <= n);
    if (r.ok()) {
        REQUIRE(c.open_.empty());
        REQUIRE(c.tokens > 0);
    }
    REQUIRE(ctb::json::err_text(r.err) != nullptr);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static std::vector<uint8_t> stack;
    // The tokenizer stops at the first NUL, like its contract says; positions are checked
    // against that end.
    std::string padded(reinterpret_cast<const char*>(data), size);
    const size_t n = padded.find('\0') == std::string::npos ? size : padded.find('\0');
    padded.append(ctb::json::kPadding, '\0');
    run<ctb::json::Strings::strict>(padded, n, stack);
    run<ctb::json::Strings::lenient>(padded, n, stack);
    std::string out;
    ctb::json::unescape_best_effort(std::string_view(reinterpret_cast<const char*>(data), size), out);
    return 0;
}
