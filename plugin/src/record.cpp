#include "record.h"

#include <cstring>

#include "json_scan.h"

namespace ctb {

void unescape_best_effort(std::string_view in, std::string& out) { json::unescape_best_effort(in, out); }

// Tokenizer handler that appends nodes to the record's tape.
struct TapeBuilder {
    Record& r;
    const char* base;
    uint32_t key_off = 0, key_len = 0;
    uint8_t key_flags = 0;

    uint32_t pos(const char* p) const { return static_cast<uint32_t>(p - base); }

    // Decoded text of the string between the quotes q0 and q1: the raw bytes unless it has
    // escapes, which are decoded into decoded_ (fastjson-style best effort).
    void text(const char* q0, const char* q1, bool esc, uint32_t& off, uint32_t& len, uint8_t& flags, uint8_t flag) {
        if (!esc) {
            off = pos(q0) + 1;
            len = static_cast<uint32_t>(q1 - q0 - 1);
            return;
        }
        off = static_cast<uint32_t>(r.decoded_.size());
        unescape_best_effort(std::string_view(q0 + 1, static_cast<size_t>(q1 - q0 - 1)), r.decoded_);
        len = static_cast<uint32_t>(r.decoded_.size() - off);
        flags |= flag;
    }

    Record::Node& add(JType t, uint32_t start, uint32_t end) {
        const uint32_t idx = static_cast<uint32_t>(r.nodes_.size());
        Record::Node& nd = r.nodes_.emplace_back();
        nd.start = start;
        nd.end = end;
        nd.next = kNone;
        nd.count = 0;
        nd.str_off = nd.str_len = nd.key_off = nd.key_len = 0;
        nd.type = t;
        nd.flags = 0;
        if (!r.stack_.empty()) {
            const uint32_t parent = r.stack_.back();
            Record::Node& p = r.nodes_[parent];
            p.count++;
            uint32_t& last = r.last_.back();
            if (last != kNone) r.nodes_[last].next = idx;
            last = idx;
            if (p.type == JType::object) {
                nd.key_off = key_off;
                nd.key_len = key_len;
                nd.flags = key_flags;
            }
        }
        return nd;
    }

    bool open(bool object, const char* at) {
        if (r.stack_.size() >= kMaxDepth) return false;
        const uint32_t idx = static_cast<uint32_t>(r.nodes_.size());
        add(object ? JType::object : JType::array, pos(at), pos(at) + 1);  // the end is set when it closes
        r.stack_.push_back(idx);
        r.last_.push_back(kNone);
        return true;
    }
    void close(bool, const char* at) {
        r.nodes_[r.stack_.back()].end = pos(at) + 1;
        r.stack_.pop_back();
        r.last_.pop_back();
    }
    void key(const char* q0, const char* q1, bool esc) {
        key_flags = 0;
        text(q0, q1, esc, key_off, key_len, key_flags, Record::kKeyEsc);
    }
    void string(const char* q0, const char* q1, bool esc) {
        uint32_t off, len;
        uint8_t flags = 0;
        text(q0, q1, esc, off, len, flags, Record::kStrEsc);
        Record::Node& nd = add(JType::string, pos(q0), pos(q1) + 1);
        nd.str_off = off;
        nd.str_len = len;
        nd.flags |= flags;
    }
    void number(const char* b, const char* e) { add(JType::number, pos(b), pos(e)); }
    void literal(json::Lit l, const char* b) {
        if (l == json::Lit::null_) add(JType::null_, pos(b), pos(b) + 4);
        else if (l == json::Lit::true_) add(JType::true_, pos(b), pos(b) + 4);
        else add(JType::false_, pos(b), pos(b) + 5);
    }
};

Record::Record() {
    stack_.reserve(kMaxDepth);
    last_.reserve(kMaxDepth);
    kinds_.reserve(kMaxDepth);
}
Record::~Record() = default;

bool Record::parse(const char* data, size_t len, std::string& err) {
    root_index_.clear();
    nodes_.clear();
    stack_.clear();
    last_.clear();
    decoded_.clear();
    if (len >= UINT32_MAX) {
        err = "invalid JSON: record of " + std::to_string(len) + " bytes is too large";
        return false;
    }
    // A NUL would end the text early (the tokenizer stops at NUL, as rapidjson did), hiding what follows.
    if (const void* z = std::memchr(data, 0, len)) {
        err = "invalid JSON at offset " + std::to_string(static_cast<const char*>(z) - data) + ": NUL byte";
        return false;
    }
    raw_.resize(len + json::kPadding);
    std::memcpy(&raw_[0], data, len);
    std::memset(&raw_[len], 0, json::kPadding);
    TapeBuilder b{*this, raw_.data()};
    // Lenient strings: raw control characters and malformed escapes are accepted like the
    // official plugin (fastjson) does; values keep them as written.
    const json::Result res = json::scan<json::Strings::lenient>(raw_.data(), b, kinds_);
    if (res.ok()) return true;
    nodes_.clear();
    err = "invalid JSON at offset " + std::to_string(res.offset) + ": ";
    err += res.err == json::Err::too_deep ? "nesting deeper than " + std::to_string(kMaxDepth) + " levels"
                                          : std::string(json::err_text(res.err));
    return false;
}

namespace {
// Cheap and good enough for a record's root keys: length and three characters (probing
// resolves collisions).
inline uint32_t key_hash(std::string_view k) {
    const size_t n = k.size();
    if (n == 0) return 0;
    const uint32_t a = static_cast<unsigned char>(k[0]), b = static_cast<unsigned char>(k[n / 2]),
                   c = static_cast<unsigned char>(k[n - 1]);
    return (static_cast<uint32_t>(n) * 0x9E3779B1u) ^ (a * 0x85EBCA77u) ^ (b * 0xC2B2AE3Du) ^ (c * 0x27D4EB2Fu);
}
}  // namespace

// Rules read a few dozen fields per event, most of them root members (and "ctb", the
// enrichment key, comes last): the root's members are indexed once per record, on the first
// lookup, in an open-addressing table (first occurrence wins, like the linear walk).
void Record::index_root() const {
    const uint32_t n = nodes_[0].count;
    uint32_t size = 16;
    while (size < 2 * n) size *= 2;
    root_index_.assign(size, kNone);
    for (uint32_t c = first_child(0); c != kNone; c = nodes_[c].next) {
        const std::string_view k = key(c);
        for (uint32_t i = key_hash(k) & (size - 1);; i = (i + 1) & (size - 1)) {
            if (root_index_[i] == kNone) {
                root_index_[i] = c;
                break;
            }
            if (key(root_index_[i]) == k) break;  // a repeated key: the first one stays
        }
    }
}

uint32_t Record::member(uint32_t obj, std::string_view name) const {
    if (!is(obj, JType::object)) return kNone;
    if (obj == 0 && nodes_[0].count > 8) {
        if (root_index_.empty()) index_root();
        const uint32_t mask = static_cast<uint32_t>(root_index_.size()) - 1;
        for (uint32_t i = key_hash(name) & mask;; i = (i + 1) & mask) {
            const uint32_t c = root_index_[i];
            if (c == kNone || key(c) == name) return c;
        }
    }
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
        // Most reference tokens hold no '~' and are used as they are, without a copy.
        std::string_view tok_view = part;
        if (part.find('~') != std::string_view::npos) {
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
            tok_view = tok;
        }
        const std::string_view& tk = tok_view;
        if (n != kNone) {
            if (is(n, JType::object)) {
                n = member(n, tk);
            } else if (is(n, JType::array)) {
                // RFC 6901 array index: "0" or digits without a leading zero; "-" is past the end.
                bool digits = !tk.empty() && tk.size() <= 19 && (tk.size() == 1 || tk[0] != '0');
                for (char c : tk) digits = digits && c >= '0' && c <= '9';
                uint64_t index = 0;
                for (char c : tk) index = index * 10 + static_cast<uint64_t>(c - '0');
                n = digits ? element(n, index) : kNone;
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
