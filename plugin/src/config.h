// init_config parsing (see config_schema.json for the keys and their limits).
#pragma once

#include <string>

#include "source.h"

namespace ctb {

// Parses an init_config JSON object into `out`. "" and "{}" give the defaults.
// On a bad config returns false and sets `err` to a message naming the key and the problem;
// `out` is then left unchanged.
bool parse_config(const std::string& text, Config& out, std::string& err);

// The JSON Schema of init_config (config_schema.json, embedded at build time).
const char* config_schema();

}  // namespace ctb
