// Ingest protocol v1 frames (docs/ingest-protocol.md): pure encode/decode, no I/O.
// Decoders are bounds-checked; a malformed body yields false and an error text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ctb::proto {

constexpr uint16_t kVersion = 1;
constexpr uint32_t kMaxFrameLen = 64u << 20;  // the length field: type + body
constexpr size_t kHeaderLen = 5;              // u32 length + u8 type

enum class Type : uint8_t { hello = 1, welcome = 2, batch = 3, ack = 4, end = 5, bye = 6, error = 15 };

enum class Err : uint16_t { version = 1, malformed = 2, busy = 3, sequence = 4, too_large = 5, internal = 6 };

bool known_type(uint8_t t);
const char* type_name(uint8_t t);

enum class Peek { need_more, frame, malformed };

// Looks at the start of `buf`: a complete frame (type, body, and its total size in `frame_len`),
// need_more, or malformed (bad length or unknown type, detected from the 5 header bytes alone).
Peek peek_frame(const uint8_t* buf, size_t n, uint8_t& type, const uint8_t*& body, size_t& body_len,
                size_t& frame_len, std::string& err);

struct Hello {
    uint16_t version = 0;
    std::string name;
};

struct Welcome {
    uint16_t version = kVersion;
    uint64_t instance_id = 0;
    uint64_t last_seq = 0;
    uint32_t max_batch_events = 0;
    uint32_t max_record_bytes = 0;
};

struct RecordRef {
    uint64_t ts_ns;
    const uint8_t* data;  // points into the frame body
    uint32_t len;
};

// A decoded BATCH; `records` is reused between calls so decoding does not allocate per batch.
struct Batch {
    uint64_t seq = 0;
    std::vector<RecordRef> records;
};

struct Error {
    uint16_t code = 0;
    std::string msg;
};

bool decode_hello(const uint8_t* body, size_t n, Hello& out, std::string& err);
bool decode_welcome(const uint8_t* body, size_t n, Welcome& out, std::string& err);
// Checks the layout only; limits are the caller's business (error 5 is not malformed).
bool decode_batch(const uint8_t* body, size_t n, Batch& out, std::string& err);
bool decode_u64(const uint8_t* body, size_t n, uint64_t& out, std::string& err);  // ACK, BYE
bool decode_end(const uint8_t* body, size_t n, std::string& err);
bool decode_error(const uint8_t* body, size_t n, Error& out, std::string& err);

// Encoders append one whole frame to `out`.
void encode_hello(std::string& out, uint16_t version, const std::string& name);
void encode_welcome(std::string& out, const Welcome& w);
void encode_batch(std::string& out, uint64_t seq, const std::vector<std::pair<uint64_t, std::string>>& recs);
void encode_ack(std::string& out, uint64_t seq);
void encode_end(std::string& out);
void encode_bye(std::string& out, uint64_t last_seq);
void encode_error(std::string& out, Err code, const std::string& msg);  // msg cut to 65535 bytes

}  // namespace ctb::proto
