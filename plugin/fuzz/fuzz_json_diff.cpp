// libFuzzer, differential: the tokenizer's strict mode (the file source's) against rapidjson's
// Reader on its byte-by-byte path (the flags the plugin used before: iterative, numbers as
// strings). Both must give the same verdict ("ok" or "offset: reason") and, when they accept,
// the same token sequence. Any difference traps.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include "json_scan.h"

namespace {

// Decodes the inner text of a string the scanner accepted in strict mode, the way rapidjson
// hands it to its handler (a lone low surrogate becomes its 3-byte form).
void append_cp(uint32_t cp, std::string& out) {
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

uint32_t hex_at(std::string_view s, size_t i) {
    uint32_t v = 0;
    for (size_t k = i; k < i + 4 && k < s.size(); ++k) {
        const char c = s[k];
        v = v * 16 + uint32_t(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

std::string decode_strict(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\') {
            out += s[i];
            continue;
        }
        const char e = s[++i];
        switch (e) {
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                uint32_t cp = hex_at(s, i + 1);
                i += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (hex_at(s, i + 3) - 0xDC00);
                    i += 6;
                }
                append_cp(cp, out);
                break;
            }
            default: out += e;  // '"', '\\', '/'
        }
    }
    return out;
}

struct Ours {
    std::string out;
    bool open(bool object, const char*) { out += object ? '{' : '['; return true; }
    void close(bool object, const char*) { out += object ? '}' : ']'; }
    void key(const char* q0, const char* q1, bool) { out += 'K' + decode_strict({q0 + 1, size_t(q1 - q0 - 1)}) + '\x01'; }
    void string(const char* q0, const char* q1, bool) { out += 'S' + decode_strict({q0 + 1, size_t(q1 - q0 - 1)}) + '\x01'; }
    void number(const char* b, const char* e) { out += 'N' + std::string(b, e) + '\x01'; }
    void literal(ctb::json::Lit l, const char*) {
        out += l == ctb::json::Lit::null_ ? 'n' : l == ctb::json::Lit::true_ ? 't' : 'f';
    }
};

struct Theirs : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, Theirs> {
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static std::vector<uint8_t> stack;
    const std::string in(reinterpret_cast<const char*>(data), size);
    std::string padded = in;
    padded.append(ctb::json::kPadding, '\0');
    Ours ours;
    const ctb::json::Result m = ctb::json::scan<ctb::json::Strings::strict>(padded.data(), ours, stack);
    const std::string got = m.ok() ? "ok" : std::to_string(m.offset) + ": " + ctb::json::err_text(m.err);

    // A bare MemoryStream: byte by byte (rapidjson's SSE2 paths are only for string streams),
    // and no BOM skipping (EncodedInputStream<UTF8> drops any leading 0xEF, 0xBB, 0xBF byte,
    // which the first run of this target reported as a difference; the plugin skips no BOM).
    rapidjson::MemoryStream ms(in.data(), in.size());
    Theirs theirs;
    rapidjson::Reader rd;
    constexpr unsigned kFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseNumbersAsStringsFlag;
    const rapidjson::ParseResult r = rd.Parse<kFlags>(ms, theirs);
    const std::string want = r.IsError() ? std::to_string(r.Offset()) + ": " + rapidjson::GetParseError_En(r.Code()) : "ok";
    if (want != got) {
        std::fprintf(stderr, "verdicts differ: rapidjson [%s], ours [%s]\n", want.c_str(), got.c_str());
        __builtin_trap();
    }
    if (m.ok() && ours.out != theirs.out) {
        std::fprintf(stderr, "token sequences differ\n");
        __builtin_trap();
    }
    return 0;
}
