// The Falco plugin ABI: identity, init/config, the two sources and extraction, all behind
// the plain C entry points of falco-facts §4.2. No exception ever crosses this boundary.
#include <atomic>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "config.h"
#include "extract.h"
#include "plugin_api.h"
#include "source.h"

#define CTB_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

constexpr uint32_t kPluginId = 1129595441;  // 0x43544231 "CTB1", private range (README)
constexpr const char* kName = "ctbridge";
constexpr const char* kVersion = "0.1.0";
constexpr const char* kRequiredApi = "3.0.0";  // loads on every Falco >= 0.38 (API 3.5)
constexpr const char* kSource = "aws_cloudtrail";
constexpr const char* kDescription =
    "Reads AWS CloudTrail records from files (file://) or from the ctbridge bridge over a unix "
    "socket (unix://) and extracts the same ct.*/s3.*/ec2.*/ecr.*/iam.* fields as the official "
    "cloudtrail plugin, plus ctb.value[/json/pointer].";
constexpr const char* kContact = "https://github.com/falco-cloudtrail-bridge/falco-cloudtrail-bridge";
constexpr const char* kOpenParams =
    R"([{"value":"file:///var/log/cloudtrail","desc":"A CloudTrail log file (.json, .json.gz), a JSON-lines file (.jsonl, .jsonl.gz) or a directory of them, read recursively in sorted order; the source ends after the last record"},)"
    R"({"value":"unix:///run/ctbridge/ingest.sock","desc":"Listen on this unix socket for the ctbridge bridge (docs/ingest-protocol.md); runs until the bridge sends END"}])";

struct MetricName {
    const char* name;
    std::atomic<uint64_t> ctb::Stats::*counter;
};

constexpr MetricName kMetrics[] = {
    {"ctbridge.records", &ctb::Stats::records},
    {"ctbridge.skipped_no_time", &ctb::Stats::skipped_no_time},
    {"ctbridge.skipped_no_type", &ctb::Stats::skipped_no_type},
    {"ctbridge.skipped_insight", &ctb::Stats::skipped_insight},
    {"ctbridge.skipped_too_large", &ctb::Stats::skipped_too_large},
    {"ctbridge.bad_inputs", &ctb::Stats::bad_inputs},
    {"ctbridge.batches_acked", &ctb::Stats::batches_acked},
    {"ctbridge.connections", &ctb::Stats::connections},
};
constexpr size_t kMetricCount = sizeof(kMetrics) / sizeof(kMetrics[0]);

struct PluginState {
    ctb::Config cfg;
    ctb::Stats stats;
    std::string last_error;
    ss_plugin_owner_t* owner = nullptr;
    ss_plugin_log_fn_t log_fn = nullptr;
    std::unique_ptr<ctb::Extractor> extractor;
    ss_plugin_metric metrics[kMetricCount];

    void log(int sev, const std::string& msg) {
        if (log_fn) {
            log_fn(owner, kName, msg.c_str(), static_cast<ss_plugin_log_severity>(sev));
        } else if (sev <= SS_PLUGIN_LOG_SEV_WARNING) {
            // No framework logger (e.g. a test harness): errors must still be seen somewhere.
            std::fprintf(stderr, "[%s] %s\n", kName, msg.c_str());
        }
    }
    ctb::LogFn log_fn_for_source() {
        return [this](int sev, const std::string& msg) { log(sev, msg); };
    }
};

struct Instance {
    std::unique_ptr<ctb::Source> source;
    std::vector<ctb::Record> records;
    std::vector<uint8_t> arena;  // every event of the last batch, back to back
    std::vector<ss_plugin_event*> events;
    std::string progress_text;
    bool ended = false;
};

PluginState* as_state(ss_plugin_t* s) { return static_cast<PluginState*>(s); }

void set_error(PluginState* st, const std::string& msg) {
    if (st) st->last_error = msg;
}

void put_u32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

// Lays out every record as one contiguous Falco plugin event (falco-facts §4.4).
void build_events(Instance& in) {
    size_t total = 0;
    for (const auto& r : in.records) total += (CTB_EVENT_PAYLOAD_OFFSET + r.bytes().size() + 7) & ~size_t(7);
    if (in.arena.size() < total) in.arena.resize(total);
    in.events.clear();
    uint8_t* p = in.arena.data();
    for (const auto& r : in.records) {
        const std::string_view bytes = r.bytes();
        const uint32_t n = static_cast<uint32_t>(bytes.size());
        ss_plugin_event hdr;
        hdr.ts = r.ts_ns;
        hdr.tid = UINT64_MAX;
        hdr.len = CTB_EVENT_PAYLOAD_OFFSET + n;
        hdr.type = CTB_PLUGINEVENT_TYPE;
        hdr.nparams = 2;
        std::memcpy(p, &hdr, sizeof(hdr));
        put_u32(p + 26, 4);
        put_u32(p + 30, n);
        put_u32(p + 34, kPluginId);
        std::memcpy(p + CTB_EVENT_PAYLOAD_OFFSET, bytes.data(), n);
        in.events.push_back(reinterpret_cast<ss_plugin_event*>(p));
        p += (CTB_EVENT_PAYLOAD_OFFSET + n + 7) & ~size_t(7);
    }
}

// The payload of a plugin event, or false for a buffer too short to hold one.
bool payload_of(const ss_plugin_event_input* evt, const char*& data, size_t& len) {
    if (!evt || !evt->evt || evt->evt->len < CTB_EVENT_PAYLOAD_OFFSET) return false;
    data = reinterpret_cast<const char*>(evt->evt) + CTB_EVENT_PAYLOAD_OFFSET;
    len = evt->evt->len - CTB_EVENT_PAYLOAD_OFFSET;
    return true;
}

}  // namespace

CTB_EXPORT const char* plugin_get_required_api_version() { return kRequiredApi; }
CTB_EXPORT const char* plugin_get_version() { return kVersion; }
CTB_EXPORT const char* plugin_get_name() { return kName; }
CTB_EXPORT const char* plugin_get_description() { return kDescription; }
CTB_EXPORT const char* plugin_get_contact() { return kContact; }
CTB_EXPORT uint32_t plugin_get_id() { return kPluginId; }
CTB_EXPORT const char* plugin_get_event_source() { return kSource; }
CTB_EXPORT const char* plugin_get_fields() { return ctb::fields_json(); }

CTB_EXPORT const char* plugin_get_init_schema(ss_plugin_schema_type* schema_type) {
    if (schema_type) *schema_type = SS_PLUGIN_SCHEMA_JSON;
    return ctb::config_schema();
}

CTB_EXPORT ss_plugin_t* plugin_init(const ss_plugin_init_input* input, ss_plugin_rc* rc) {
    // The state is returned even on failure: Falco reads the reason with get_last_error(state).
    PluginState* st = new (std::nothrow) PluginState();
    if (!st) {
        *rc = SS_PLUGIN_FAILURE;
        return nullptr;
    }
    try {
        if (input) {
            st->owner = input->owner;
            st->log_fn = input->log_fn;
        }
        std::string err;
        const char* config = (input && input->config) ? input->config : "";
        if (!ctb::parse_config(config, st->cfg, err)) {
            st->last_error = err;
            *rc = SS_PLUGIN_FAILURE;
            return st;
        }
        st->extractor = std::make_unique<ctb::Extractor>();
        *rc = SS_PLUGIN_SUCCESS;
    } catch (const std::exception& e) {
        st->last_error = std::string("init failed: ") + e.what();
        *rc = SS_PLUGIN_FAILURE;
    } catch (...) {
        st->last_error = "init failed: unknown error";
        *rc = SS_PLUGIN_FAILURE;
    }
    return st;
}

CTB_EXPORT void plugin_destroy(ss_plugin_t* s) { delete as_state(s); }

CTB_EXPORT const char* plugin_get_last_error(ss_plugin_t* s) {
    return s ? as_state(s)->last_error.c_str() : "ctbridge: no plugin state";
}

CTB_EXPORT ss_plugin_rc plugin_set_config(ss_plugin_t* s, const ss_plugin_set_config_input* input) {
    PluginState* st = as_state(s);
    try {
        std::string err;
        ctb::Config cfg = st->cfg;
        if (!ctb::parse_config(input && input->config ? input->config : "", cfg, err)) {
            set_error(st, err);
            return SS_PLUGIN_FAILURE;
        }
        st->cfg = cfg;  // applies to sources opened from now on
        return SS_PLUGIN_SUCCESS;
    } catch (...) {
        set_error(st, "set_config failed: unexpected error");
        return SS_PLUGIN_FAILURE;
    }
}

CTB_EXPORT ss_instance_t* plugin_open(ss_plugin_t* s, const char* params, ss_plugin_rc* rc) {
    PluginState* st = as_state(s);
    *rc = SS_PLUGIN_FAILURE;
    try {
        const std::string p = params ? params : "";
        std::string err;
        auto in = std::make_unique<Instance>();
        if (p.rfind("file://", 0) == 0 && p.size() > 7) {
            in->source = ctb::open_file_source(p.substr(7), st->cfg, st->stats, st->log_fn_for_source(), err);
        } else if (p.rfind("unix://", 0) == 0 && p.size() > 7) {
            in->source = ctb::open_socket_source(p.substr(7), st->cfg, st->stats, st->log_fn_for_source(), err);
        } else {
            set_error(st, "open params '" + p +
                              "' not understood: use file://PATH (a CloudTrail file or directory) or "
                              "unix://PATH (the bridge's ingest socket)");
            return nullptr;
        }
        if (!in->source) {
            set_error(st, err.empty() ? "cannot open '" + p + "'" : err);
            return nullptr;
        }
        in->records.reserve(st->cfg.max_batch_events);
        in->events.reserve(st->cfg.max_batch_events);
        *rc = SS_PLUGIN_SUCCESS;
        return in.release();
    } catch (const std::exception& e) {
        set_error(st, std::string("open failed: ") + e.what());
    } catch (...) {
        set_error(st, "open failed: unknown error");
    }
    return nullptr;
}

CTB_EXPORT void plugin_close(ss_plugin_t*, ss_instance_t* h) {
    try {
        delete static_cast<Instance*>(h);
    } catch (...) {
    }
}

CTB_EXPORT ss_plugin_rc plugin_next_batch(ss_plugin_t* s, ss_instance_t* h, uint32_t* nevts,
                                          ss_plugin_event*** evts) {
    PluginState* st = as_state(s);
    auto* in = static_cast<Instance*>(h);
    *nevts = 0;
    *evts = nullptr;
    try {
        if (in->ended) return SS_PLUGIN_EOF;
        in->records.clear();
        std::string err;
        ctb::Rc rc = in->source->next(in->records, st->cfg.max_batch_events, err);
        if (rc == ctb::Rc::failure) {
            set_error(st, err.empty() ? "source failed" : err);
            return SS_PLUGIN_FAILURE;
        }
        build_events(*in);
        st->stats.records.fetch_add(in->records.size(), std::memory_order_relaxed);
        *nevts = static_cast<uint32_t>(in->events.size());
        *evts = in->events.data();
        if (rc == ctb::Rc::eof) {
            in->ended = true;
            return SS_PLUGIN_EOF;
        }
        // SUCCESS with 0 events is an error for Falco; "nothing now" is a timeout.
        if (rc == ctb::Rc::timeout || in->events.empty()) return SS_PLUGIN_TIMEOUT;
        return SS_PLUGIN_SUCCESS;
    } catch (const std::exception& e) {
        set_error(st, std::string("next_batch failed: ") + e.what());
    } catch (...) {
        set_error(st, "next_batch failed: unknown error");
    }
    *nevts = 0;
    *evts = nullptr;
    return SS_PLUGIN_FAILURE;
}

CTB_EXPORT const char* plugin_get_progress(ss_plugin_t*, ss_instance_t* h, uint32_t* progress_pct) {
    auto* in = static_cast<Instance*>(h);
    try {
        uint32_t pct = in->source->progress(in->progress_text);
        *progress_pct = pct > 10000 ? 10000 : pct;
    } catch (...) {
        *progress_pct = 0;
        in->progress_text.clear();
    }
    return in->progress_text.c_str();
}

CTB_EXPORT const char* plugin_event_to_string(ss_plugin_t* s, const ss_plugin_event_input* evt) {
    PluginState* st = as_state(s);
    try {
        const char* data;
        size_t len;
        if (!payload_of(evt, data, len)) return "<invalid event: shorter than the plugin event header>";
        const char* text = st->extractor ? st->extractor->to_string(data, len) : nullptr;
        return text ? text : "";
    } catch (...) {
        return "<invalid event: cannot render>";
    }
}

CTB_EXPORT ss_plugin_rc plugin_extract_fields(ss_plugin_t* s, const ss_plugin_event_input* evt,
                                              const ss_plugin_field_extract_input* in) {
    PluginState* st = as_state(s);
    try {
        const char* data;
        size_t len;
        if (!payload_of(evt, data, len)) {
            set_error(st, "extract: event shorter than the plugin event header");
            return SS_PLUGIN_FAILURE;
        }
        if (!st->extractor) {
            set_error(st, "extract: plugin not initialized");
            return SS_PLUGIN_FAILURE;
        }
        std::string err;
        ss_plugin_rc rc = st->extractor->extract(data, len, evt->evtnum, in, err);
        if (rc != SS_PLUGIN_SUCCESS) set_error(st, err.empty() ? "extract failed" : err);
        return rc;
    } catch (const std::exception& e) {
        set_error(st, std::string("extract failed: ") + e.what());
    } catch (...) {
        set_error(st, "extract failed: unknown error");
    }
    return SS_PLUGIN_FAILURE;
}

CTB_EXPORT const char* plugin_list_open_params(ss_plugin_t*, ss_plugin_rc* rc) {
    *rc = SS_PLUGIN_SUCCESS;
    return kOpenParams;
}

CTB_EXPORT ss_plugin_metric* plugin_get_metrics(ss_plugin_t* s, uint32_t* num_metrics) {
    PluginState* st = as_state(s);
    for (size_t i = 0; i < kMetricCount; ++i) {
        ss_plugin_metric& m = st->metrics[i];
        m.name = kMetrics[i].name;
        m.type = SS_PLUGIN_METRIC_TYPE_MONOTONIC;
        m.value_type = SS_PLUGIN_METRIC_VALUE_TYPE_U64;
        m.value.u64 = (st->stats.*kMetrics[i].counter).load(std::memory_order_relaxed);
    }
    *num_metrics = static_cast<uint32_t>(kMetricCount);
    return st->metrics;
}
