// libFuzzer: the init_config parser (config.cpp). A config it accepts must be within the
// documented ranges; a rejected one leaves the defaults untouched and says why.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config.h"

#define REQUIRE(c) do { if (!(c)) __builtin_trap(); } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    ctb::Config cfg;
    std::string err;
    if (ctb::parse_config(text, cfg, err)) {
        REQUIRE(cfg.max_batch_events >= 1 && cfg.max_batch_events <= 65536);
        REQUIRE(cfg.idle_timeout_ms <= 10000);
        REQUIRE(cfg.max_record_bytes >= 1024 && cfg.max_record_bytes <= 67108864);
        REQUIRE(cfg.socket_mode <= 0777);
    } else {
        const ctb::Config def;
        REQUIRE(!err.empty());
        REQUIRE(cfg.max_batch_events == def.max_batch_events && cfg.max_record_bytes == def.max_record_bytes &&
                cfg.socket_mode == def.socket_mode && cfg.idle_timeout_ms == def.idle_timeout_ms &&
                cfg.skip_insights == def.skip_insights);
    }
    return 0;
}
