#include "protocol.h"

namespace ctb::proto {
namespace {

// Little-endian by shifts: correct on any host, and compilers fold it to one load/store.
uint64_t get_le(const uint8_t* p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

void put_le(std::string& out, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// A bounds-checked cursor over a frame body.
struct Reader {
    const uint8_t* p;
    size_t left;
    bool take(int bytes, uint64_t& v) {
        if (left < static_cast<size_t>(bytes)) return false;
        v = get_le(p, bytes);
        p += bytes;
        left -= static_cast<size_t>(bytes);
        return true;
    }
};

bool short_body(const char* what, std::string& err) {
    err = std::string(what) + " body too short";
    return false;
}

bool extra_bytes(const char* what, size_t left, std::string& err) {
    err = std::string(what) + " body has " + std::to_string(left) + " bytes left over";
    return false;
}

void begin(std::string& out, Type t, size_t body_len) {
    put_le(out, body_len + 1, 4);
    out.push_back(static_cast<char>(t));
}

}  // namespace

bool known_type(uint8_t t) {
    return (t >= 1 && t <= 6) || t == 15;
}

const char* type_name(uint8_t t) {
    switch (t) {
        case 1: return "HELLO";
        case 2: return "WELCOME";
        case 3: return "BATCH";
        case 4: return "ACK";
        case 5: return "END";
        case 6: return "BYE";
        case 15: return "ERROR";
        default: return "unknown";
    }
}

Peek peek_frame(const uint8_t* buf, size_t n, uint8_t& type, const uint8_t*& body, size_t& body_len,
                size_t& frame_len, std::string& err) {
    if (n < 4) return Peek::need_more;
    uint64_t len = get_le(buf, 4);
    if (len == 0 || len > kMaxFrameLen) {
        err = "frame length " + std::to_string(len) + " outside 1.." + std::to_string(kMaxFrameLen);
        return Peek::malformed;
    }
    if (n < kHeaderLen) return Peek::need_more;
    type = buf[4];
    if (!known_type(type)) {
        err = "unknown frame type " + std::to_string(type);
        return Peek::malformed;
    }
    if (n < 4 + len) return Peek::need_more;
    body = buf + kHeaderLen;
    body_len = static_cast<size_t>(len - 1);
    frame_len = static_cast<size_t>(4 + len);
    return Peek::frame;
}

bool decode_hello(const uint8_t* body, size_t n, Hello& out, std::string& err) {
    Reader r{body, n};
    uint64_t version, name_len;
    if (!r.take(2, version) || !r.take(2, name_len)) return short_body("HELLO", err);
    if (r.left < name_len) return short_body("HELLO", err);
    if (r.left > name_len) return extra_bytes("HELLO", r.left - name_len, err);
    out.version = static_cast<uint16_t>(version);
    out.name.assign(reinterpret_cast<const char*>(r.p), name_len);
    return true;
}

bool decode_welcome(const uint8_t* body, size_t n, Welcome& out, std::string& err) {
    Reader r{body, n};
    uint64_t version, inst, last, max_ev, max_rec;
    if (!r.take(2, version) || !r.take(8, inst) || !r.take(8, last) || !r.take(4, max_ev) || !r.take(4, max_rec))
        return short_body("WELCOME", err);
    if (r.left) return extra_bytes("WELCOME", r.left, err);
    out.version = static_cast<uint16_t>(version);
    out.instance_id = inst;
    out.last_seq = last;
    out.max_batch_events = static_cast<uint32_t>(max_ev);
    out.max_record_bytes = static_cast<uint32_t>(max_rec);
    return true;
}

bool decode_batch(const uint8_t* body, size_t n, Batch& out, std::string& err) {
    Reader r{body, n};
    uint64_t seq, count;
    out.records.clear();
    if (!r.take(8, seq) || !r.take(4, count)) return short_body("BATCH", err);
    // Each record needs at least 12 bytes, so a count the body cannot hold is rejected before reserving.
    if (count > r.left / 12) {
        err = "BATCH says " + std::to_string(count) + " records but has only " + std::to_string(r.left) +
              " bytes";
        return false;
    }
    out.seq = seq;
    out.records.reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
        uint64_t ts, len;
        if (!r.take(8, ts) || !r.take(4, len) || r.left < len) {
            err = "BATCH record " + std::to_string(i) + " of " + std::to_string(count) + " is truncated";
            out.records.clear();
            return false;
        }
        out.records.push_back(RecordRef{ts, r.p, static_cast<uint32_t>(len)});
        r.p += len;
        r.left -= len;
    }
    if (r.left) {
        out.records.clear();
        return extra_bytes("BATCH", r.left, err);
    }
    return true;
}

bool decode_u64(const uint8_t* body, size_t n, uint64_t& out, std::string& err) {
    Reader r{body, n};
    if (!r.take(8, out)) return short_body("ACK/BYE", err);
    if (r.left) return extra_bytes("ACK/BYE", r.left, err);
    return true;
}

bool decode_end(const uint8_t*, size_t n, std::string& err) {
    if (n) return extra_bytes("END", n, err);
    return true;
}

bool decode_error(const uint8_t* body, size_t n, Error& out, std::string& err) {
    Reader r{body, n};
    uint64_t code, msg_len;
    if (!r.take(2, code) || !r.take(2, msg_len)) return short_body("ERROR", err);
    if (r.left < msg_len) return short_body("ERROR", err);
    if (r.left > msg_len) return extra_bytes("ERROR", r.left - msg_len, err);
    out.code = static_cast<uint16_t>(code);
    out.msg.assign(reinterpret_cast<const char*>(r.p), msg_len);
    return true;
}

void encode_hello(std::string& out, uint16_t version, const std::string& name) {
    size_t len = name.size() > 0xffff ? 0xffff : name.size();
    begin(out, Type::hello, 4 + len);
    put_le(out, version, 2);
    put_le(out, len, 2);
    out.append(name, 0, len);
}

void encode_welcome(std::string& out, const Welcome& w) {
    begin(out, Type::welcome, 26);
    put_le(out, w.version, 2);
    put_le(out, w.instance_id, 8);
    put_le(out, w.last_seq, 8);
    put_le(out, w.max_batch_events, 4);
    put_le(out, w.max_record_bytes, 4);
}

void encode_batch(std::string& out, uint64_t seq, const std::vector<std::pair<uint64_t, std::string>>& recs) {
    size_t body = 12;
    for (const auto& r : recs) body += 12 + r.second.size();
    begin(out, Type::batch, body);
    put_le(out, seq, 8);
    put_le(out, recs.size(), 4);
    for (const auto& r : recs) {
        put_le(out, r.first, 8);
        put_le(out, r.second.size(), 4);
        out += r.second;
    }
}

void encode_ack(std::string& out, uint64_t seq) {
    begin(out, Type::ack, 8);
    put_le(out, seq, 8);
}

void encode_end(std::string& out) {
    begin(out, Type::end, 0);
}

void encode_bye(std::string& out, uint64_t last_seq) {
    begin(out, Type::bye, 8);
    put_le(out, last_seq, 8);
}

void encode_error(std::string& out, Err code, const std::string& msg) {
    size_t len = msg.size() > 0xffff ? 0xffff : msg.size();
    begin(out, Type::error, 4 + len);
    put_le(out, static_cast<uint16_t>(code), 2);
    put_le(out, len, 2);
    out.append(msg, 0, len);
}

}  // namespace ctb::proto
