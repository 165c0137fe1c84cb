// One CloudTrail record parsed once into a flat, read-only tape of nodes.
// Every node keeps the byte span of its JSON text, so rule-J values are rebuilt from the
// original text, and strings/keys keep their decoded text (fastjson-style best-effort
// unescaping, which is what the official plugin's field values show).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace ctb {

enum class JType : uint8_t { null_, false_, true_, number, string, array, object };

constexpr uint32_t kNone = UINT32_MAX;  // "no such node"
constexpr uint32_t kMaxDepth = 1024;    // deeper records are rejected, never recursed into

class Record {
public:
    Record();
    ~Record();
    Record(const Record&) = delete;
    Record& operator=(const Record&) = delete;

    // Parse `len` bytes. Returns false and sets `err` ("invalid JSON at offset N: why") when the
    // text is not one valid JSON value. Buffers are reused across calls.
    bool parse(const char* data, size_t len, std::string& err);

    bool ok() const { return !nodes_.empty(); }
    uint32_t root() const { return nodes_.empty() ? kNone : 0; }
    size_t node_count() const { return nodes_.size(); }

    JType type(uint32_t n) const { return nodes_[n].type; }
    bool is(uint32_t n, JType t) const { return n != kNone && nodes_[n].type == t; }
    // Byte span [start, end) of the node's JSON text in the parsed input.
    uint32_t start(uint32_t n) const { return nodes_[n].start; }
    uint32_t end(uint32_t n) const { return nodes_[n].end; }
    std::string_view raw(uint32_t n) const {
        return std::string_view(raw_.data() + nodes_[n].start, nodes_[n].end - nodes_[n].start);
    }
    // Decoded text of a string node ("" for other types).
    std::string_view text(uint32_t n) const { return view(nodes_[n].str_off, nodes_[n].str_len, nodes_[n].flags & kStrEsc); }
    // Decoded member name of a node whose parent is an object.
    std::string_view key(uint32_t n) const { return view(nodes_[n].key_off, nodes_[n].key_len, nodes_[n].flags & kKeyEsc); }
    // Children of arrays/objects, in document order.
    uint32_t count(uint32_t n) const { return nodes_[n].count; }
    uint32_t first_child(uint32_t n) const { return nodes_[n].count ? n + 1 : kNone; }
    uint32_t next_sibling(uint32_t n) const { return nodes_[n].next; }

    // Member of an object by decoded name; the first occurrence wins. kNone when `obj` is not
    // an object (or kNone) or has no such member.
    uint32_t member(uint32_t obj, std::string_view name) const;
    // Array element by position; kNone when not an array or out of range.
    uint32_t element(uint32_t arr, uint64_t index) const;
    // Member path from the root, e.g. {"userIdentity", "type"}.
    uint32_t path(std::initializer_list<std::string_view> names) const;
    // RFC 6901 JSON pointer ("" = root, "/a/0/b", ~0 = '~', ~1 = '/'). Returns kNone when the
    // value is missing; sets `bad` when the pointer itself is malformed.
    uint32_t pointer(std::string_view ptr, bool& bad) const;

    // Rule J: the node's text with insignificant whitespace removed; strings and numbers stay
    // exactly as written. Appends to `out`.
    void compact(uint32_t n, std::string& out) const;

private:
    friend struct TapeBuilder;
    static constexpr uint8_t kStrEsc = 1;  // str_off points into decoded_, not raw_
    static constexpr uint8_t kKeyEsc = 2;

    struct Node {
        uint32_t start, end;       // raw span
        uint32_t next;             // next sibling, kNone if last
        uint32_t count;            // children (arrays/objects)
        uint32_t str_off, str_len; // decoded string text
        uint32_t key_off, key_len; // decoded member name
        JType type;
        uint8_t flags;
    };

    std::string_view view(uint32_t off, uint32_t len, bool esc) const {
        return std::string_view((esc ? decoded_.data() : raw_.data()) + off, len);
    }

    std::string raw_;      // the input as given, then NUL padding for the tokenizer (json_scan.h)
    std::string decoded_;  // decoded text of strings/keys that contain escapes
    std::vector<Node> nodes_;
    std::vector<uint32_t> stack_;  // open containers while parsing
    std::vector<uint32_t> last_;   // last child of each open container
    std::vector<uint8_t> kinds_;   // the tokenizer's own stack
    mutable std::vector<uint32_t> root_index_;  // root members by name hash; empty until first used
    void index_root() const;
};

// fastjson-style best-effort unescaping of a JSON string's inner text: valid escapes are
// decoded (surrogate pairs to UTF-8), malformed ones are kept as written. Appends to `out`.
void unescape_best_effort(std::string_view in, std::string& out);

}  // namespace ctb
