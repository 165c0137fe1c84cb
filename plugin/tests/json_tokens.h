// Token sequences of one JSON text, for the differential checks of the plugin's tokenizer
// (json_scan.h, strict mode) against rapidjson's Reader: tests/test_json_diff.cpp and
// fuzz/fuzz_json_diff.cpp compare the two strings these handlers build.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <rapidjson/reader.h>

#include "../src/json_scan.h"

namespace ctb_test {

inline void append_utf8(uint32_t cp, std::string& out) {
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    } else {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    }
}

inline uint32_t hex4_at(std::string_view s, size_t i) {
    uint32_t v = 0;
    for (size_t k = i; k < i + 4 && k < s.size(); ++k) {
        const char c = s[k];
        v = v * 16 + uint32_t(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

// The inner text of a string the scanner accepted in strict mode, decoded the way rapidjson
// hands it to its handler (a lone low surrogate becomes its 3-byte form).
inline std::string strict_decode(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\') {
            out += s[i];
            continue;
        }
        const char e = i + 1 < s.size() ? s[++i] : '\0';
        if (e != 'u') {
            const char* from = "\"\\/bfnrt";
            const char* to = "\"\\/\b\f\n\r\t";
            const char* at = e ? std::strchr(from, e) : nullptr;
            out += at ? to[at - from] : '?';  // not valid JSON: the comparison will say so
            continue;
        }
        uint32_t cp = hex4_at(s, i + 1);
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4_at(s, i + 3) - 0xDC00);
            i += 6;
        }
        append_utf8(cp, out);
    }
    return out;
}

// The plugin's tokenizer's events.
struct ScanTokens {
    std::string out;
    bool open(bool object, const char*) { out += object ? '{' : '['; return true; }
    void close(bool object, const char*) { out += object ? '}' : ']'; }
    void key(const char* q0, const char* q1, bool) { out += 'K' + strict_decode({q0 + 1, size_t(q1 - q0 - 1)}) + '\x01'; }
    void string(const char* q0, const char* q1, bool) { out += 'S' + strict_decode({q0 + 1, size_t(q1 - q0 - 1)}) + '\x01'; }
    void number(const char* b, const char* e) { out += 'N' + std::string(b, e) + '\x01'; }
    void literal(ctb::json::Lit l, const char*) {
        out += l == ctb::json::Lit::null_ ? 'n' : l == ctb::json::Lit::true_ ? 't' : 'f';
    }
};

// rapidjson's Reader events (numbers as strings), in the same notation.
struct RapidTokens : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, RapidTokens> {
    std::string out;
    bool StartObject() { out += '{'; return true; }
    bool EndObject(rapidjson::SizeType) { out += '}'; return true; }
    bool StartArray() { out += '['; return true; }
    bool EndArray(rapidjson::SizeType) { out += ']'; return true; }
    bool Key(const char* s, rapidjson::SizeType n, bool) { out += 'K' + std::string(s, n) + '\x01'; return true; }
    bool String(const char* s, rapidjson::SizeType n, bool) { out += 'S' + std::string(s, n) + '\x01'; return true; }
    bool RawNumber(const char* s, rapidjson::SizeType n, bool) { out += 'N' + std::string(s, n) + '\x01'; return true; }
    bool Null() { out += 'n'; return true; }
    bool Bool(bool b) { out += b ? 't' : 'f'; return true; }
};

}  // namespace ctb_test
