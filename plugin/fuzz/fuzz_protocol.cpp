// libFuzzer: the ingest-protocol frame decoder (protocol.h) as the socket source drives it:
// peek a frame from a byte stream, decode its body by type, move on. Every decoded frame must
// re-encode to exactly the bytes it came from.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "protocol.h"

#define REQUIRE(c) do { if (!(c)) __builtin_trap(); } while (0)

using namespace ctb::proto;

namespace {

void same(const std::string& enc, const uint8_t* frame, size_t len) {
    REQUIRE(enc.size() == len && std::memcmp(enc.data(), frame, len) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Batch batch;
    size_t off = 0;
    while (off < size) {
        uint8_t type = 0;
        const uint8_t* body = nullptr;
        size_t body_len = 0, frame_len = 0;
        std::string err;
        // Fed in two steps, like reads that split a frame: a prefix must never be a frame.
        const size_t left = size - off;
        const Peek early = peek_frame(data + off, left / 2, type, body, body_len, frame_len, err);
        const Peek pk = peek_frame(data + off, left, type, body, body_len, frame_len, err);
        if (early == Peek::frame) REQUIRE(pk == Peek::frame && frame_len <= left / 2);
        if (early == Peek::malformed) REQUIRE(pk == Peek::malformed);
        if (pk != Peek::frame) break;
        REQUIRE(frame_len == kHeaderLen + body_len && frame_len <= left);
        REQUIRE(body == data + off + kHeaderLen);
        const uint8_t* frame = data + off;
        std::string enc;
        switch (static_cast<Type>(type)) {
            case Type::hello: {
                Hello h;
                if (decode_hello(body, body_len, h, err)) {
                    encode_hello(enc, h.version, h.name);
                    same(enc, frame, frame_len);
                }
                break;
            }
            case Type::welcome: {
                Welcome w;
                if (decode_welcome(body, body_len, w, err)) {
                    encode_welcome(enc, w);
                    same(enc, frame, frame_len);
                }
                break;
            }
            case Type::batch:
                if (decode_batch(body, body_len, batch, err)) {
                    std::vector<std::pair<uint64_t, std::string>> recs;
                    for (const RecordRef& r : batch.records) {
                        REQUIRE(r.data >= body && r.data + r.len <= body + body_len);
                        recs.emplace_back(r.ts_ns, std::string(reinterpret_cast<const char*>(r.data), r.len));
                    }
                    encode_batch(enc, batch.seq, recs);
                    same(enc, frame, frame_len);
                } else {
                    REQUIRE(batch.records.empty() && !err.empty());
                }
                break;
            case Type::ack:
            case Type::bye: {
                uint64_t v = 0;
                if (decode_u64(body, body_len, v, err)) {
                    if (type == uint8_t(Type::ack)) encode_ack(enc, v); else encode_bye(enc, v);
                    same(enc, frame, frame_len);
                }
                break;
            }
            case Type::end:
                if (decode_end(body, body_len, err)) {
                    encode_end(enc);
                    same(enc, frame, frame_len);
                }
                break;
            case Type::error: {
                Error e;
                if (decode_error(body, body_len, e, err)) {
                    encode_error(enc, static_cast<Err>(e.code), e.msg);
                    same(enc, frame, frame_len);
                }
                break;
            }
            default:
                __builtin_trap();  // peek_frame let an unknown type through
        }
        off += frame_len;
    }
    return 0;
}
