#include "json_scan.h"

#include <cstring>
#include <string>

#include <rapidjson/error/en.h>

namespace ctb::json {
namespace {

void put_utf8(uint32_t cp, std::string& out) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// Go's string(rune) writes U+FFFD for surrogate halves; a lone one can only reach here as
// part of an invalid pair.
void put_rune(uint32_t cp, std::string& out) {
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
    put_utf8(cp, out);
}

using detail::hex4;

}  // namespace

void unescape_best_effort(std::string_view s, std::string& out) {
    size_t i = 0;
    const size_t n = s.size();
    while (i < n) {
        // Copy the run up to the next backslash in one go.
        const void* bs = std::memchr(s.data() + i, '\\', n - i);
        const size_t j = bs ? static_cast<size_t>(static_cast<const char*>(bs) - s.data()) : n;
        out.append(s.data() + i, j - i);
        i = j;
        if (i >= n) break;
        if (i + 1 >= n) {  // a backslash that ends the text is kept
            out += '\\';
            break;
        }
        const char e = s[i + 1];
        i += 2;
        switch (e) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                const int x = n - i >= 4 ? hex4(s.data() + i) : -1;
                if (x < 0) {  // too short or not hex: keep "\u" and go on after it
                    out += "\\u";
                    break;
                }
                i += 4;
                if (x < 0xD800 || x > 0xDFFF) {
                    put_utf8(static_cast<uint32_t>(x), out);
                    break;
                }
                const int y = (n - i >= 6 && s[i] == '\\' && s[i + 1] == 'u') ? hex4(s.data() + i + 2) : -1;
                if (y < 0) {  // surrogate without a following \uXXXX: kept as written
                    out += "\\u";
                    out.append(s.data() + i - 4, 4);
                    break;
                }
                i += 6;
                if (x <= 0xDBFF && y >= 0xDC00 && y <= 0xDFFF) {
                    put_utf8(0x10000 + ((static_cast<uint32_t>(x) - 0xD800) << 10) + (static_cast<uint32_t>(y) - 0xDC00), out);
                } else {
                    put_rune(0xFFFD, out);  // utf16.DecodeRune of an invalid pair
                }
                break;
            }
            default:  // unknown escape: kept as written
                out += '\\';
                out += e;
        }
    }
}


const char* err_text(Err e) {
    using namespace rapidjson;
    ParseErrorCode c = kParseErrorNone;
    switch (e) {
        case Err::none: c = kParseErrorNone; break;
        case Err::document_empty: c = kParseErrorDocumentEmpty; break;
        case Err::root_not_singular: c = kParseErrorDocumentRootNotSingular; break;
        case Err::value_invalid: c = kParseErrorValueInvalid; break;
        case Err::object_miss_name: c = kParseErrorObjectMissName; break;
        case Err::object_miss_colon: c = kParseErrorObjectMissColon; break;
        case Err::object_miss_comma_or_curly: c = kParseErrorObjectMissCommaOrCurlyBracket; break;
        case Err::array_miss_comma_or_square: c = kParseErrorArrayMissCommaOrSquareBracket; break;
        case Err::string_miss_quote: c = kParseErrorStringMissQuotationMark; break;
        case Err::string_escape_invalid: c = kParseErrorStringEscapeInvalid; break;
        case Err::string_hex_invalid: c = kParseErrorStringUnicodeEscapeInvalidHex; break;
        case Err::string_surrogate_invalid: c = kParseErrorStringUnicodeSurrogateInvalid; break;
        case Err::number_too_big: c = kParseErrorNumberTooBig; break;
        case Err::number_miss_fraction: c = kParseErrorNumberMissFraction; break;
        case Err::number_miss_exponent: c = kParseErrorNumberMissExponent; break;
        case Err::too_deep: c = kParseErrorTermination; break;
    }
    return GetParseError_En(c);
}

// rapidjson (1.1.0, as packaged by Debian) rejects a number when, accumulating it as it goes,
// its integer part passes DBL_MAX / 10 or a positive exponent passes 308 minus the fraction
// digits it counted. Reproduced step by step so the same texts are rejected; the number text
// matches the grammar already.
bool number_too_big(const char* p, const char* e) {
    auto digit = [&]() { return p < e && *p >= '0' && *p <= '9'; };
    const bool minus = *p == '-';
    if (minus) ++p;
    unsigned i = 0;
    uint64_t i64 = 0;
    bool use64 = false;
    int significant = 0;
    if (*p == '0') {
        ++p;
    } else {
        i = static_cast<unsigned>(*p++ - '0');
        const unsigned limit = minus ? 214748364u : 429496729u;  // 2^31 / 10, (2^32 - 1) / 10
        const char last = minus ? '8' : '5';
        while (digit()) {
            if (i >= limit && (i != limit || *p > last)) {
                i64 = i;
                use64 = true;
                break;
            }
            i = i * 10 + static_cast<unsigned>(*p++ - '0');
            ++significant;
        }
    }
    bool use_double = false;
    double d = 0.0;
    if (use64) {
        const uint64_t limit = minus ? 0x0CCCCCCCCCCCCCCCull : 0x1999999999999999ull;  // 2^63 / 10, (2^64 - 1) / 10
        const char last = minus ? '8' : '5';
        while (digit()) {
            if (i64 >= limit && (i64 != limit || *p > last)) {
                d = static_cast<double>(i64);
                use_double = true;
                break;
            }
            i64 = i64 * 10 + static_cast<unsigned>(*p++ - '0');
            ++significant;
        }
    }
    if (use_double) {
        while (digit()) {
            if (d >= 1.7976931348623157e307) return true;
            d = d * 10 + (*p++ - '0');
        }
    }
    int exp_frac = 0;
    if (p < e && *p == '.') {
        ++p;
        if (!use_double) {
            if (!use64) i64 = i;
            while (digit()) {
                if (i64 > 0x1FFFFFFFFFFFFFull) break;  // 2^53 - 1
                i64 = i64 * 10 + static_cast<unsigned>(*p++ - '0');
                --exp_frac;
                if (i64 != 0) ++significant;
            }
            d = static_cast<double>(i64);
            use_double = true;
        }
        while (digit()) {
            if (significant < 17) {
                d = d * 10.0 + (*p++ - '0');
                --exp_frac;
                if (d > 0.0) ++significant;
            } else {
                ++p;
            }
        }
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        ++p;
        if (*p == '-') return false;  // negative exponents never overflow here
        if (*p == '+') ++p;
        int exp = *p++ - '0';
        const int max_exp = 308 - exp_frac;
        while (digit()) {
            exp = exp * 10 + (*p++ - '0');
            if (exp > max_exp) return true;
        }
    }
    return false;
}

}  // namespace ctb::json
