#include "config.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <cstring>

namespace ctb {
namespace {

const char kSchema[] =
#include "config_schema.inc"
    ;

const char* type_name(const rapidjson::Value& v) {
    if (v.IsNull()) return "null";
    if (v.IsBool()) return "a boolean";
    if (v.IsString()) return "a string";
    if (v.IsArray()) return "an array";
    if (v.IsObject()) return "an object";
    if (v.IsNumber()) return v.IsInt64() || v.IsUint64() ? "an integer" : "a number";
    return "unknown";
}

bool read_uint(const rapidjson::Value& v, const char* key, uint64_t lo, uint64_t hi, uint32_t& out,
               std::string& err) {
    if (!v.IsUint64() && !v.IsInt64()) {
        err = std::string("init_config: '") + key + "' must be an integer, got " + type_name(v);
        return false;
    }
    if (v.IsInt64() && v.GetInt64() < 0) {
        err = std::string("init_config: '") + key + "' must be between " + std::to_string(lo) + " and " +
              std::to_string(hi) + ", got " + std::to_string(v.GetInt64());
        return false;
    }
    uint64_t n = v.GetUint64();
    if (n < lo || n > hi) {
        err = std::string("init_config: '") + key + "' must be between " + std::to_string(lo) + " and " +
              std::to_string(hi) + ", got " + std::to_string(n);
        return false;
    }
    out = static_cast<uint32_t>(n);
    return true;
}

// Falco turns a YAML init_config map into JSON with yaml-cpp, which reads every scalar that looks
// like a number as one, with C++ base detection: `socketMode: "0660"`, '0660' and 0660 all arrive
// as the integer 432 (0o660), and `660` as the integer 660. Only a JSON-string init_config keeps
// the string. So the mode is accepted as:
//   - a string of octal digits, "0660" or "660";
//   - an integer up to 0777, the permission bits themselves (what Falco makes of "0660");
//   - an integer 512..777 whose decimal digits are all octal ("660" written without the zero).
//     Every mode a socket can use (owner needs write to connect) spells above 511 that way.
bool read_mode(const rapidjson::Value& v, uint32_t& out, std::string& err) {
    const char* key = "socketMode";
    if (v.IsInt64() || v.IsUint64()) {
        int64_t n = v.IsInt64() ? v.GetInt64() : -1;
        if (n >= 0 && n <= 0777) {
            out = static_cast<uint32_t>(n);
            return true;
        }
        if (n > 0777 && n <= 777) {
            uint32_t mode = 0;
            bool octal_digits = true;
            for (int64_t scale = 100; scale > 0; scale /= 10) {
                int64_t d = (n / scale) % 10;
                if (d > 7) octal_digits = false;
                mode = mode * 8 + static_cast<uint32_t>(d);
            }
            if (octal_digits) {
                out = mode;
                return true;
            }
        }
        err = std::string("init_config: '") + key + "' must be a permission mode like 0660 (octal), got " +
              (v.IsInt64() ? std::to_string(v.GetInt64()) : std::to_string(v.GetUint64()));
        return false;
    }
    if (!v.IsString()) {
        err = std::string("init_config: '") + key + "' must be octal digits like 0660 or \"0660\", got " +
              type_name(v);
        return false;
    }
    std::string s(v.GetString(), v.GetStringLength());
    std::string digits = (s.size() == 4 && s[0] == '0') ? s.substr(1) : s;
    bool ok = digits.size() == 3;
    uint32_t mode = 0;
    for (char c : digits) {
        if (c < '0' || c > '7') ok = false;
        mode = mode * 8 + static_cast<uint32_t>(c - '0');
    }
    if (!ok) {
        err = std::string("init_config: '") + key + "' must be octal digits like \"0600\" or \"0660\", got \"" +
              s + "\"";
        return false;
    }
    out = mode;
    return true;
}

}  // namespace

const char* config_schema() { return kSchema; }

bool parse_config(const std::string& text, Config& out, std::string& err) {
    size_t first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) {
        out = Config{};
        return true;
    }
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseIterativeFlag>(text.c_str(), text.size());
    if (doc.HasParseError()) {
        err = std::string("init_config: not valid JSON at offset ") + std::to_string(doc.GetErrorOffset()) + ": " +
              rapidjson::GetParseError_En(doc.GetParseError());
        return false;
    }
    // Falco turns `init_config: {}` (an empty YAML map) into JSON null.
    if (doc.IsNull()) {
        out = Config{};
        return true;
    }
    if (!doc.IsObject()) {
        err = std::string("init_config: must be a JSON object, got ") + type_name(doc);
        return false;
    }
    Config cfg;
    for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
        std::string key(it->name.GetString(), it->name.GetStringLength());
        const rapidjson::Value& v = it->value;
        bool ok = true;
        if (key == "maxBatchEvents") {
            ok = read_uint(v, "maxBatchEvents", 1, 65536, cfg.max_batch_events, err);
        } else if (key == "idleTimeoutMs") {
            ok = read_uint(v, "idleTimeoutMs", 0, 10000, cfg.idle_timeout_ms, err);
        } else if (key == "maxRecordBytes") {
            ok = read_uint(v, "maxRecordBytes", 1024, 67108864, cfg.max_record_bytes, err);
        } else if (key == "socketMode") {
            ok = read_mode(v, cfg.socket_mode, err);
        } else if (key == "skipInsights") {
            if (!v.IsBool()) {
                err = std::string("init_config: 'skipInsights' must be a boolean, got ") + type_name(v);
                ok = false;
            } else {
                cfg.skip_insights = v.GetBool();
            }
        } else {
            err = "init_config: unknown key '" + key +
                  "' (valid keys: maxBatchEvents, idleTimeoutMs, maxRecordBytes, socketMode, skipInsights)";
            ok = false;
        }
        if (!ok) return false;
    }
    out = cfg;
    return true;
}

}  // namespace ctb
