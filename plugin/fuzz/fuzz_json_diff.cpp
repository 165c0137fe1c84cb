// libFuzzer, differential: the tokenizer's strict mode (the file source's) against rapidjson's
// Reader on its byte-by-byte path (the flags the plugin used before: iterative, numbers as
// strings). Both must give the same verdict ("ok" or "offset: reason") and, when they accept,
// the same token sequence. Any difference traps.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>

#include "json_scan.h"
#include "../tests/json_tokens.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static std::vector<uint8_t> stack;
    const std::string in(reinterpret_cast<const char*>(data), size);
    std::string padded = in;
    padded.append(ctb::json::kPadding, '\0');
    ctb_test::ScanTokens ours;
    const ctb::json::Result m = ctb::json::scan<ctb::json::Strings::strict>(padded.data(), ours, stack);
    const std::string got = m.ok() ? "ok" : std::to_string(m.offset) + ": " + ctb::json::err_text(m.err);

    // A bare MemoryStream: byte by byte (rapidjson's SSE2 paths are only for string streams),
    // and no BOM skipping (EncodedInputStream<UTF8> drops any leading 0xEF, 0xBB, 0xBF byte,
    // which the first run of this target reported as a difference; the plugin skips no BOM).
    rapidjson::MemoryStream ms(in.data(), in.size());
    ctb_test::RapidTokens theirs;
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
