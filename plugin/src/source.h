// The seam between the ABI glue (plugin.cpp) and the event sources
// (source_file.cpp for file://, source_socket.cpp for unix://).
// A source only produces records; the glue turns them into Falco's binary events.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ctb {

// Parsed init_config (see config_schema.json). Defaults are the documented ones.
struct Config {
    uint32_t max_batch_events = 512;       // events per plugin_next_batch
    uint32_t idle_timeout_ms = 50;         // unix://: wait this long for data before SS_PLUGIN_TIMEOUT
    uint32_t max_record_bytes = 4u << 20;  // larger records are skipped and counted
    uint32_t socket_mode = 0600;           // unix://: permissions of the socket file
    bool skip_insights = true;             // drop eventType == AwsCloudTrailInsight, like the official plugin
};

// Counters exported through plugin_get_metrics. Sources only increment.
struct Stats {
    std::atomic<uint64_t> records{0};          // records handed to Falco
    std::atomic<uint64_t> skipped_no_time{0};  // no parseable eventTime
    std::atomic<uint64_t> skipped_no_type{0};  // no eventType
    std::atomic<uint64_t> skipped_insight{0};  // AwsCloudTrailInsight
    std::atomic<uint64_t> skipped_too_large{0};
    std::atomic<uint64_t> bad_inputs{0};       // files or frames that could not be read
    std::atomic<uint64_t> batches_acked{0};    // unix://
    std::atomic<uint64_t> connections{0};      // unix://
};

// One record ready for Falco: exactly one CloudTrail record JSON object, either owned (payload)
// or, to save a copy, a view into the source's own buffer (view), valid until the source's next
// call of next(). The glue copies bytes() into Falco's event buffer.
struct Record {
    uint64_t ts_ns = 0;
    std::string payload;
    std::string_view view;
    std::string_view bytes() const { return view.data() ? view : std::string_view(payload); }
};

enum class Rc { ok, timeout, eof, failure };

// Log sink: severity uses the plugin API values (3 = error, 4 = warning, 6 = info, 7 = debug).
using LogFn = std::function<void(int severity, const std::string& msg)>;

class Source {
public:
    virtual ~Source() = default;
    // Append at most `max` records to `out` (the caller clears it).
    // ok: at least one record appended. timeout: nothing now, call again (records may be appended).
    // eof: the stream ended (records may be appended). failure: `err` says why.
    virtual Rc next(std::vector<Record>& out, size_t max, std::string& err) = 0;
    // Progress through a bounded input, 0..10000, and a short text (e.g. "3/10 files").
    virtual uint32_t progress(std::string& text) { text.clear(); return 0; }
};

// file://PATH: a CloudTrail log file (.json/.json.gz with {"Records":[...]}), a JSON-lines file
// (.jsonl/.jsonl.gz), or a directory walked recursively in sorted order.
std::unique_ptr<Source> open_file_source(const std::string& path, const Config& cfg, Stats& stats,
                                         LogFn log, std::string& err);

// unix://PATH: listen for the bridge (docs/ingest-protocol.md).
std::unique_ptr<Source> open_socket_source(const std::string& path, const Config& cfg, Stats& stats,
                                           LogFn log, std::string& err);

}  // namespace ctb
