// The seam between the ABI glue (plugin.cpp) and field extraction (fields.def, record.*,
// extract.cpp, info.cpp). The glue owns the plugin state and calls into an Extractor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "plugin_api.h"

namespace ctb {

// JSON array for plugin_get_fields, generated from the field table in fields.def.
const char* fields_json();
// Number of fields in the table (73 official ones + ctb.value).
uint32_t field_count();

// One per plugin instance (plugin_init). Not thread-safe; Falco calls a plugin from one thread.
class Extractor {
public:
    Extractor();
    ~Extractor();
    Extractor(const Extractor&) = delete;
    Extractor& operator=(const Extractor&) = delete;

    // Fill in.fields[0..in.num_fields) for one event. `payload` is the event's payload (the
    // bytes after offset 38), `evtnum` its number: the payload is parsed once per evtnum and
    // reused for every field of that event. Values stay valid until the next call.
    // Returns SS_PLUGIN_FAILURE with `err` set when the payload is not valid JSON.
    ss_plugin_rc extract(const char* payload, size_t len, uint64_t evtnum,
                         const ss_plugin_field_extract_input* in, std::string& err);

    // plugin_event_to_string (evt.plugininfo) for one payload. Valid until the next call.
    const char* to_string(const char* payload, size_t len);

private:
    struct Impl;
    Impl* impl_;
};

}  // namespace ctb
