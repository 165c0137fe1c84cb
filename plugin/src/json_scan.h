// A small validating JSON tokenizer (RFC 8259 grammar), iterative and allocation-free once its
// depth stack has grown. It reports tokens to a handler with their byte positions and accepts
// and rejects exactly what the rapidjson Reader did in this plugin before (iterative, numbers as
// strings, no encoding validation), with the same error kinds and offsets, so records and files
// behave as they did. Strings are scanned 16 bytes at a time (SSE2).
//
// The text must be followed by at least kPadding NUL bytes: a NUL ends the input, like the
// terminator rapidjson stopped at, and the string scan may read up to 15 bytes past it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#if defined(__GNUC__)
#define CTB_JSON_INLINE inline __attribute__((always_inline))
#else
#define CTB_JSON_INLINE inline
#endif

namespace ctb::json {

constexpr size_t kPadding = 16;

enum class Err : uint8_t {
    none,
    document_empty,
    root_not_singular,
    value_invalid,
    object_miss_name,
    object_miss_colon,
    object_miss_comma_or_curly,
    array_miss_comma_or_square,
    string_miss_quote,
    string_escape_invalid,     // also a raw control character
    string_hex_invalid,
    string_surrogate_invalid,
    number_too_big,
    number_miss_fraction,
    number_miss_exponent,
    too_deep,                  // the handler refused to open another level
};

// The reason text of an error (rapidjson's wording, so messages read as before).
const char* err_text(Err e);

struct Result {
    Err err = Err::none;
    size_t offset = 0;
    bool ok() const { return err == Err::none; }
};

// fastjson-style best-effort unescaping of a JSON string's inner text: valid escapes are
// decoded (surrogate pairs to UTF-8), malformed ones are kept as written. Appends to `out`.
void unescape_best_effort(std::string_view in, std::string& out);

enum class Lit : uint8_t { null_, false_, true_ };

// Whether the number text [b, e) (already known to match the grammar) overflows the way
// rapidjson's number parser decides it does. Only called for huge integers or exponents.
bool number_too_big(const char* b, const char* e);

// String rules. strict: every string must be valid JSON (an error otherwise). lenient: raw control
// characters and malformed escapes are accepted (a backslash always covers the next byte), which is
// what the record parser accepted by retrying with them neutralized; the first such spot is
// still remembered, and if the text fails later that spot is the reported error, as before.
enum class Strings : uint8_t { strict, lenient };

namespace detail {

inline bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
CTB_JSON_INLINE const char* skip_ws(const char* p) {
    while (is_ws(*p)) ++p;
    return p;
}
inline bool is_digit(char c) { return static_cast<unsigned char>(c - '0') < 10; }

inline int hex4(const char* p) {
    int v = 0;
    for (int i = 0; i < 4; ++i) {
        const char c = p[i];
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;  // stops at the first bad byte, so never reads past a NUL
        v = v * 16 + d;
    }
    return v;
}

// Length of the valid escape sequence starting at the backslash `p`, or 0 with `why` set.
inline int escape_len(const char* p, Err& why) {
    switch (p[1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't': return 2;
        case 'u': break;
        default: why = Err::string_escape_invalid; return 0;
    }
    const int hi = hex4(p + 2);
    if (hi < 0) { why = Err::string_hex_invalid; return 0; }
    if (hi < 0xD800 || hi > 0xDBFF) return 6;  // a lone low surrogate is accepted
    if (p[6] != '\\' || p[7] != 'u') { why = Err::string_surrogate_invalid; return 0; }
    const int lo = hex4(p + 8);
    if (lo < 0) { why = Err::string_hex_invalid; return 0; }
    if (lo < 0xDC00 || lo > 0xDFFF) { why = Err::string_surrogate_invalid; return 0; }
    return 12;
}

// Offset of the first '"', '\\' or byte < 0x20 in the 16 bytes at p, or 16.
CTB_JSON_INLINE unsigned special16(const char* p) {
#if defined(__SSE2__)
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i ctl = _mm_set1_epi8(0x1F);
    const __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                                  _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                                     _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl));  // v <= 0x1F unsigned
    const unsigned m = static_cast<unsigned>(_mm_movemask_epi8(hit));
    return m ? static_cast<unsigned>(__builtin_ctz(m)) : 16;
#else
    for (unsigned i = 0; i < 16; ++i) {
        const unsigned char c = static_cast<unsigned char>(p[i]);
        if (c == '"' || c == '\\' || c < 0x20) return i;
    }
    return 16;
#endif
}

}  // namespace detail

// Handler:
//   bool open(bool object, const char* at)  at the bracket; false refuses (too deep)
//   void close(bool object, const char* at) at the closing bracket
//   void key(const char* q0, const char* q1, bool esc)     q0/q1: the quotes; esc: has a backslash
//   void string(const char* q0, const char* q1, bool esc)
//   void number(const char* b, const char* e)
//   void literal(Lit l, const char* b)
// `stack` is scratch for the open containers (kept by the caller so it is reused).
template <Strings kMode, class H>
class Scanner {
public:
    Scanner(const char* text, H& h, std::vector<uint8_t>& stack) : base_(text), h_(h), stack_(stack) {}

    Result run() {
        using namespace detail;
        stack_.clear();
        const char* p = skip_ws(base_);
        Err missing = Err::document_empty;  // what a missing value is called where we are
    value:
        switch (*p) {
            case '{':
                if (!h_.open(true, p)) return fail(Err::too_deep, p);
                stack_.push_back(1);
                p = skip_ws(p + 1);
                if (*p == '}') {
                    h_.close(true, p);
                    stack_.pop_back();
                    ++p;
                    goto after_value;
                }
                goto member;
            case '[':
                if (!h_.open(false, p)) return fail(Err::too_deep, p);
                stack_.push_back(0);
                p = skip_ws(p + 1);
                if (*p == ']') {
                    h_.close(false, p);
                    stack_.pop_back();
                    ++p;
                    goto after_value;
                }
                missing = Err::value_invalid;
                goto value;
            case '"': {
                bool esc = false;
                const char* q = scan_string(p + 1, esc);
                if (!q) return fail(err_, err_at_);
                h_.string(p, q, esc);
                p = q + 1;
                goto after_value;
            }
            case 'n':
                if (!word(p, "null", 4)) return fail(Err::value_invalid, p);
                h_.literal(Lit::null_, p);
                p += 4;
                goto after_value;
            case 't':
                if (!word(p, "true", 4)) return fail(Err::value_invalid, p);
                h_.literal(Lit::true_, p);
                p += 4;
                goto after_value;
            case 'f':
                if (!word(p, "false", 5)) return fail(Err::value_invalid, p);
                h_.literal(Lit::false_, p);
                p += 5;
                goto after_value;
            case ']': case '}': case ',': case ':': case '\0':
                return fail(missing, p);
            default: {
                const char* e = number(p);
                if (!e) return fail(err_, err_at_);
                h_.number(p, e);
                p = e;
                goto after_value;
            }
        }
    member:  // p should be at a member name
        if (*p != '"') return fail(Err::object_miss_name, p);
        {
            bool esc = false;
            const char* q = scan_string(p + 1, esc);
            if (!q) return fail(err_, err_at_);
            h_.key(p, q, esc);
            p = skip_ws(q + 1);
        }
        if (*p != ':') return fail(Err::object_miss_colon, p);
        p = skip_ws(p + 1);
        missing = Err::value_invalid;
        goto value;
    after_value:
        p = skip_ws(p);
        if (stack_.empty()) {
            if (*p) return fail(Err::root_not_singular, p);
            return fail(Err::none, p);
        }
        if (stack_.back()) {
            if (*p == ',') {
                p = skip_ws(p + 1);
                goto member;
            }
            if (*p == '}') {
                h_.close(true, p);
                stack_.pop_back();
                ++p;
                goto after_value;
            }
            return fail(Err::object_miss_comma_or_curly, p);
        }
        if (*p == ',') {
            p = skip_ws(p + 1);
            missing = Err::value_invalid;
            goto value;
        }
        if (*p == ']') {
            h_.close(false, p);
            stack_.pop_back();
            ++p;
            goto after_value;
        }
        return fail(Err::array_miss_comma_or_square, p);
    }

private:
    // In lenient mode a failure reports the first string problem seen before it, if any.
    Result fail(Err e, const char* at) {
        if (kMode == Strings::lenient && e != Err::none && first_ != Err::none) return {first_, first_off_};
        return {e, static_cast<size_t>(at - base_)};
    }
    bool string_problem(Err e, const char* at) {
        if (kMode == Strings::strict) {
            err_ = e;
            err_at_ = at;
            return false;
        }
        if (first_ == Err::none) {
            first_ = e;
            first_off_ = static_cast<size_t>(at - base_);
        }
        return true;
    }

    // The error is at the first byte that does not match (the input ends at a NUL).
    bool word(const char*& p, const char* w, int n) {
        for (int i = 1; i < n; ++i) {
            if (p[i] != w[i]) {
                p += i;
                return false;
            }
        }
        return true;
    }

    // p is just past the opening quote. Returns the closing quote, or nullptr (err_ set).
    CTB_JSON_INLINE const char* scan_string(const char* p, bool& esc) {
        for (;;) {
            const unsigned i = detail::special16(p);
            p += i;
            if (i == 16) continue;
            const char c = *p;
            if (c == '"') return p;
            if (c == '\\') {
                esc = true;
                Err why = Err::none;
                const int n = detail::escape_len(p, why);
                if (n) {
                    p += n;
                    continue;
                }
                if (!string_problem(why, p)) return nullptr;
                if (p[1] == '\0') return missing_quote(p + 1);
                p += 2;
                continue;
            }
            if (c == '\0') return missing_quote(p);
            if (!string_problem(Err::string_escape_invalid, p)) return nullptr;  // raw control character
            ++p;
        }
    }
    const char* missing_quote(const char* at) {
        err_ = Err::string_miss_quote;
        err_at_ = at;
        return nullptr;
    }

    // Returns the end of the number at p, or nullptr (err_ set).
    CTB_JSON_INLINE const char* number(const char* p) {
        using detail::is_digit;
        const char* const start = p;
        if (*p == '-') ++p;
        const char* const int_start = p;
        if (*p == '0') {
            ++p;
        } else if (is_digit(*p)) {
            ++p;
            while (is_digit(*p)) ++p;
        } else {
            return bad_number(Err::value_invalid, p);
        }
        bool check = p - int_start >= 300;  // huge integers may overflow a double
        // rapidjson finds an integer part too big before it looks at a fraction or an exponent, so
        // "<320 digits>E" is "too big", not "missing exponent" (found by fuzz_json_diff).
        if (check && number_too_big(start, p)) return bad_number(Err::number_too_big, start);
        if (*p == '.') {
            ++p;
            if (!is_digit(*p)) return bad_number(Err::number_miss_fraction, p);
            while (is_digit(*p)) ++p;
        }
        if (*p == 'e' || *p == 'E') {
            ++p;
            bool neg = false;
            if (*p == '+') {
                ++p;
            } else if (*p == '-') {
                neg = true;
                ++p;
            }
            if (!is_digit(*p)) return bad_number(Err::number_miss_exponent, p);
            unsigned exp = 0;
            while (is_digit(*p)) {
                if (exp < 100000) exp = exp * 10 + static_cast<unsigned>(*p - '0');
                ++p;
            }
            check = check || (!neg && exp > 308);
        }
        if (check && number_too_big(start, p)) return bad_number(Err::number_too_big, start);
        return p;
    }
    const char* bad_number(Err e, const char* at) {
        err_ = e;
        err_at_ = at;
        return nullptr;
    }

    const char* const base_;
    H& h_;
    std::vector<uint8_t>& stack_;  // 1 = object, 0 = array, per open level
    Err err_ = Err::none;          // from scan_string / number
    const char* err_at_ = nullptr;
    Err first_ = Err::none;  // lenient: first string problem
    size_t first_off_ = 0;
};

template <Strings kMode, class H>
Result scan(const char* text, H& h, std::vector<uint8_t>& stack) {
    return Scanner<kMode, H>(text, h, stack).run();
}

}  // namespace ctb::json
