#include "record.h"

#include <cstring>

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

namespace ctb {
namespace {

// Iterative: nesting costs heap, not stack. In situ: no copy of every string into the
// reader's buffer. Numbers as strings: nothing is converted (we only keep spans).
constexpr unsigned kFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseInsituFlag | rapidjson::kParseNumbersAsStringsFlag;

bool is_skip(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == ':'; }

int hex4(const char* p) {
    int v = 0;
    for (int i = 0; i < 4; ++i) {
        char c = p[i];
        int d = (c >= '0' && c <= '9') ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

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

// Makes malformed string content acceptable to rapidjson without moving any byte: the
// official plugin (fastjson) accepts raw control characters and unknown escapes inside
// strings, and we decode strings ourselves from the original text anyway.
void neutralize_strings(std::string& w) {
    const size_t n = w.size();
    bool in = false;
    for (size_t i = 0; i < n; ++i) {
        const unsigned char c = static_cast<unsigned char>(w[i]);
        if (!in) {
            in = c == '"';
            continue;
        }
        if (c == '"') {
            in = false;
        } else if (c < 0x20) {
            if (c != 0) w[i] = ' ';
        } else if (c == '\\' && i + 1 < n) {
            const char e = w[i + 1];
            if (e && std::strchr("\"\\/bfnrt", e)) {
                ++i;
                continue;
            }
            if (e == 'u' && i + 5 < n) {
                const int hi = hex4(&w[i + 2]);
                if (hi >= 0 && !(hi >= 0xD800 && hi <= 0xDBFF)) {
                    i += 5;
                    continue;
                }
                if (hi >= 0 && i + 11 < n && w[i + 6] == '\\' && w[i + 7] == 'u') {
                    const int lo = hex4(&w[i + 8]);
                    if (lo >= 0xDC00 && lo <= 0xDFFF) {
                        i += 11;
                        continue;
                    }
                }
            }
            if (e == 0) continue;  // leave the error for the parser to report
            w[i + 1] = '\\';       // "\X" becomes the valid escape "\\", same length
            ++i;
        }
    }
}

}  // namespace

void unescape_best_effort(std::string_view s, std::string& out) {
    size_t i = 0;
    const size_t n = s.size();
    while (i < n) {
        const char c = s[i];
        if (c != '\\' || i + 1 >= n) {
            out += c;
            ++i;
            continue;
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

struct Record::Parser {
    rapidjson::Reader reader;
};

// SAX handler that appends nodes to the record's tape. Spans come from the text itself:
// rapidjson works on a local copy of the stream inside string/number callbacks, so its
// position cannot be asked there.
struct TapeBuilder {
    Record& r;
    const char* work;       // the in-situ buffer: callback pointers point into it
    uint32_t last_end = 0;  // end of the previous token: the next one starts after ws , :
    uint32_t key_off = 0, key_len = 0;
    uint8_t key_flags = 0;
    bool too_deep = false;

    uint32_t token_start() const {
        const char* p = r.raw_.data();
        uint32_t i = last_end;
        while (i < r.raw_.size() && is_skip(p[i])) ++i;
        return i;
    }
    // Span and decoded text of the string token opening at `start` whose text rapidjson
    // decoded to `len` bytes. Returns the token's end; `esc` tells whether it has escapes.
    uint32_t string_token(uint32_t start, uint32_t len, uint32_t& off, uint32_t& out_len, uint8_t& flags,
                          uint8_t esc_flag) {
        const char* p = r.raw_.data();
        const uint32_t n = static_cast<uint32_t>(r.raw_.size());
        // Without escapes the raw text is the decoded text and the quote follows it.
        if (start + 1 + len < n && p[start + 1 + len] == '"' && !std::memchr(p + start + 1, '\\', len)) {
            off = start + 1;
            out_len = len;
            return start + 2 + len;
        }
        uint32_t i = start + 1;
        while (i < n && p[i] != '"') i += p[i] == '\\' ? 2 : 1;
        off = static_cast<uint32_t>(r.decoded_.size());
        unescape_best_effort(std::string_view(p + start + 1, i - start - 1), r.decoded_);
        out_len = static_cast<uint32_t>(r.decoded_.size() - off);
        flags |= esc_flag;
        return i + 1;
    }

    uint32_t add(JType t, uint32_t start, uint32_t end) {
        const uint32_t idx = static_cast<uint32_t>(r.nodes_.size());
        Record::Node nd{};
        nd.start = start;
        nd.end = end;
        nd.next = kNone;
        nd.type = t;
        if (!r.stack_.empty()) {
            const uint32_t parent = r.stack_.back();
            r.nodes_[parent].count++;
            if (r.last_.back() != kNone) r.nodes_[r.last_.back()].next = idx;
            r.last_.back() = idx;
            if (r.nodes_[parent].type == JType::object) {
                nd.key_off = key_off;
                nd.key_len = key_len;
                nd.flags |= key_flags;
            }
        }
        r.nodes_.push_back(nd);
        last_end = end;
        return idx;
    }
    bool literal(JType t, uint32_t size) {
        const uint32_t s = token_start();
        add(t, s, s + size);
        return true;
    }

    bool Null() { return literal(JType::null_, 4); }
    bool Bool(bool b) { return b ? literal(JType::true_, 4) : literal(JType::false_, 5); }
    // Only RawNumber is called (kParseNumbersAsStringsFlag); the others complete the concept.
    bool Int(int) { return false; }
    bool Uint(unsigned) { return false; }
    bool Int64(int64_t) { return false; }
    bool Uint64(uint64_t) { return false; }
    bool Double(double) { return false; }
    bool RawNumber(const char* str, rapidjson::SizeType len, bool) {
        const uint32_t s = static_cast<uint32_t>(str - work);  // numbers are never rewritten
        add(JType::number, s, s + len);
        return true;
    }
    bool String(const char* str, rapidjson::SizeType len, bool) {
        const uint32_t s = static_cast<uint32_t>(str - work) - 1;
        uint32_t off, dlen;
        uint8_t flags = 0;
        const uint32_t e = string_token(s, len, off, dlen, flags, Record::kStrEsc);
        Record::Node& nd = r.nodes_[add(JType::string, s, e)];
        nd.str_off = off;
        nd.str_len = dlen;
        nd.flags |= flags;
        return true;
    }
    bool Key(const char* str, rapidjson::SizeType len, bool) {
        const uint32_t s = static_cast<uint32_t>(str - work) - 1;
        key_flags = 0;
        last_end = string_token(s, len, key_off, key_len, key_flags, Record::kKeyEsc);
        return true;
    }
    bool open(JType t) {
        if (r.stack_.size() >= kMaxDepth) {
            too_deep = true;
            return false;
        }
        const uint32_t s = token_start();
        const uint32_t idx = add(t, s, s + 1);  // the end is set when it closes
        r.stack_.push_back(idx);
        r.last_.push_back(kNone);
        return true;
    }
    bool close() {
        // The closing bracket is the next token; find it instead of trusting the reader's
        // position, which differs between its recursive and iterative modes.
        const uint32_t s = token_start();
        const uint32_t idx = r.stack_.back();
        r.stack_.pop_back();
        r.last_.pop_back();
        last_end = s + 1;
        r.nodes_[idx].end = last_end;
        return true;
    }
    bool StartObject() { return open(JType::object); }
    bool EndObject(rapidjson::SizeType) { return close(); }
    bool StartArray() { return open(JType::array); }
    bool EndArray(rapidjson::SizeType) { return close(); }
};

Record::Record() : parser_(new Parser) {}
Record::~Record() = default;

bool Record::run_reader(std::string& err, bool& string_error) {
    nodes_.clear();
    stack_.clear();
    last_.clear();
    decoded_.clear();
    rapidjson::InsituStringStream is(&work_[0]);
    TapeBuilder b{*this, work_.data()};
    rapidjson::Reader& rd = parser_->reader;
    rd.Parse<kFlags>(is, b);
    if (!rd.HasParseError()) return true;
    nodes_.clear();
    const rapidjson::ParseErrorCode code = rd.GetParseErrorCode();
    string_error = code == rapidjson::kParseErrorStringEscapeInvalid ||
                   code == rapidjson::kParseErrorStringUnicodeEscapeInvalidHex ||
                   code == rapidjson::kParseErrorStringUnicodeSurrogateInvalid;
    err = "invalid JSON at offset " + std::to_string(rd.GetErrorOffset()) + ": ";
    err += b.too_deep ? "nesting deeper than " + std::to_string(kMaxDepth) + " levels"
                      : std::string(rapidjson::GetParseError_En(code));
    return false;
}

bool Record::parse(const char* data, size_t len, std::string& err) {
    raw_.assign(data, len);
    nodes_.clear();
    if (len >= UINT32_MAX) {
        err = "invalid JSON: record of " + std::to_string(len) + " bytes is too large";
        return false;
    }
    // rapidjson stops at a NUL as if the text ended there, so a NUL would hide what follows.
    if (const void* z = std::memchr(data, 0, len)) {
        err = "invalid JSON at offset " + std::to_string(static_cast<const char*>(z) - data) + ": NUL byte";
        return false;
    }
    work_ = raw_;
    bool string_error = false;
    if (run_reader(err, string_error)) return true;
    if (!string_error) return false;
    // Malformed escapes or raw control characters inside strings: accepted like the official
    // plugin does (values keep them as written); retry once with them neutralized.
    work_ = raw_;
    neutralize_strings(work_);
    std::string err2;
    if (run_reader(err2, string_error)) return true;
    return false;  // keep the first message: it points at the original problem
}

uint32_t Record::member(uint32_t obj, std::string_view name) const {
    if (!is(obj, JType::object)) return kNone;
    for (uint32_t c = first_child(obj); c != kNone; c = nodes_[c].next) {
        if (key(c) == name) return c;
    }
    return kNone;
}

uint32_t Record::element(uint32_t arr, uint64_t index) const {
    if (!is(arr, JType::array) || index >= nodes_[arr].count) return kNone;
    uint32_t c = first_child(arr);
    for (uint64_t i = 0; i < index; ++i) c = nodes_[c].next;
    return c;
}

uint32_t Record::path(std::initializer_list<std::string_view> names) const {
    uint32_t n = root();
    for (std::string_view name : names) {
        n = member(n, name);
        if (n == kNone) break;
    }
    return n;
}

uint32_t Record::pointer(std::string_view ptr, bool& bad) const {
    bad = false;
    uint32_t n = root();
    if (ptr.empty()) return n;
    if (ptr[0] != '/') {
        bad = true;
        return kNone;
    }
    std::string tok;
    size_t i = 1;
    while (true) {
        const size_t slash = ptr.find('/', i);
        const std::string_view part = ptr.substr(i, slash == std::string_view::npos ? std::string_view::npos : slash - i);
        tok.clear();
        for (size_t k = 0; k < part.size(); ++k) {
            if (part[k] != '~') {
                tok += part[k];
            } else if (k + 1 < part.size() && (part[k + 1] == '0' || part[k + 1] == '1')) {
                tok += part[k + 1] == '0' ? '~' : '/';
                ++k;
            } else {
                bad = true;  // '~' must be followed by 0 or 1
                return kNone;
            }
        }
        if (n != kNone) {
            if (is(n, JType::object)) {
                n = member(n, tok);
            } else if (is(n, JType::array)) {
                // RFC 6901 array index: "0" or digits without a leading zero; "-" is past the end.
                bool digits = !tok.empty() && tok.size() <= 19 && (tok.size() == 1 || tok[0] != '0');
                for (char c : tok) digits = digits && c >= '0' && c <= '9';
                n = digits ? element(n, std::stoull(tok)) : kNone;
            } else {
                n = kNone;
            }
        }
        if (slash == std::string_view::npos) break;
        i = slash + 1;
    }
    return n;
}

void Record::compact(uint32_t n, std::string& out) const {
    const std::string_view t = raw(n);
    const char* p = t.data();
    const size_t len = t.size();
    size_t run = 0;  // start of the current run of bytes to copy
    bool in = false;
    for (size_t i = 0; i < len; ++i) {
        const char c = p[i];
        if (in) {
            if (c == '\\') ++i;
            else if (c == '"') in = false;
        } else if (c == '"') {
            in = true;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            out.append(p + run, i - run);
            run = i + 1;
        }
    }
    out.append(p + run, len - run);
}

}  // namespace ctb
