// Our own declarations of the Falco plugin ABI (libs plugin API 3.x), written from the
// documented layouts. Only what ctbridge uses is declared. Offsets are checked by
// static_asserts below and by tests/plugin (ctypes) against the documented values.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {

typedef enum ss_plugin_rc {
    SS_PLUGIN_SUCCESS = 0,
    SS_PLUGIN_FAILURE = 1,
    SS_PLUGIN_TIMEOUT = -1,
    SS_PLUGIN_EOF = 2,
    SS_PLUGIN_NOT_SUPPORTED = 3,
} ss_plugin_rc;

typedef enum ss_plugin_field_type {
    FTYPE_UINT64 = 8,
    FTYPE_STRING = 9,
    FTYPE_RELTIME = 20,
    FTYPE_ABSTIME = 21,
    FTYPE_BOOL = 25,
    FTYPE_IPADDR = 40,
    FTYPE_IPNET = 41,
} ss_plugin_field_type;

typedef enum ss_plugin_schema_type {
    SS_PLUGIN_SCHEMA_NONE = 0,
    SS_PLUGIN_SCHEMA_JSON = 1,
} ss_plugin_schema_type;

typedef enum ss_plugin_log_severity {
    SS_PLUGIN_LOG_SEV_FATAL = 1,
    SS_PLUGIN_LOG_SEV_CRITICAL = 2,
    SS_PLUGIN_LOG_SEV_ERROR = 3,
    SS_PLUGIN_LOG_SEV_WARNING = 4,
    SS_PLUGIN_LOG_SEV_NOTICE = 5,
    SS_PLUGIN_LOG_SEV_INFO = 6,
    SS_PLUGIN_LOG_SEV_DEBUG = 7,
    SS_PLUGIN_LOG_SEV_TRACE = 8,
} ss_plugin_log_severity;

typedef uint32_t ss_plugin_bool;
typedef void ss_plugin_t;
typedef void ss_instance_t;
typedef void ss_plugin_owner_t;
typedef void ss_plugin_table_t;

#define CTB_PLUGINEVENT_TYPE 322          // PPME_PLUGINEVENT_E
#define CTB_EVENT_HEADER_LEN 26           // packed ss_plugin_event
#define CTB_EVENT_PAYLOAD_OFFSET 38       // header + 2 x u32 param len + u32 plugin id

#pragma pack(push, 1)
typedef struct ss_plugin_event {
    uint64_t ts;       // ns since epoch; UINT64_MAX lets the framework stamp "now"
    uint64_t tid;      // the framework overwrites it for plugin events
    uint32_t len;      // whole event, header included
    uint16_t type;     // 322
    uint32_t nparams;  // 2
} ss_plugin_event;
#pragma pack(pop)

typedef struct ss_plugin_event_input {
    const ss_plugin_event* evt;
    uint64_t evtnum;
    const char* evtsrc;
} ss_plugin_event_input;

typedef struct ss_plugin_byte_buffer {
    uint32_t len;
    const void* ptr;
} ss_plugin_byte_buffer;

typedef struct ss_plugin_extract_field {
    union {
        const char** str;
        uint64_t* u64;
        uint32_t* u32;
        ss_plugin_bool* boolean;
        ss_plugin_byte_buffer* buf;
    } res;
    uint64_t res_len;
    uint32_t field_id;
    const char* field;
    const char* arg_key;
    uint64_t arg_index;
    ss_plugin_bool arg_present;
    uint32_t ftype;
    ss_plugin_bool flist;
} ss_plugin_extract_field;

// Deprecated table reader embedded in the extract input; we never call it, only keep the size.
typedef struct ss_plugin_table_reader_vtable {
    void* fns[4];
} ss_plugin_table_reader_vtable;

typedef struct ss_plugin_field_extract_input {
    ss_plugin_owner_t* owner;
    const char* (*get_owner_last_error)(ss_plugin_owner_t* o);
    uint32_t num_fields;
    ss_plugin_extract_field* fields;
    ss_plugin_table_reader_vtable table_reader;
    void* table_reader_ext;
    void* value_offsets;  // API 3.11+ only: ctbridge declares 3.0.0 and never reads it
} ss_plugin_field_extract_input;

typedef void (*ss_plugin_log_fn_t)(ss_plugin_owner_t* o, const char* component, const char* msg,
                                   ss_plugin_log_severity sev);

typedef struct ss_plugin_init_input {
    const char* config;
    ss_plugin_owner_t* owner;
    const char* (*get_owner_last_error)(ss_plugin_owner_t* o);
    const void* tables;
    ss_plugin_log_fn_t log_fn;  // API 3.4+; every Falco >= 0.38 (API 3.5) provides it
} ss_plugin_init_input;

typedef struct ss_plugin_set_config_input {
    const char* config;
} ss_plugin_set_config_input;

typedef enum ss_plugin_metric_type {
    SS_PLUGIN_METRIC_TYPE_MONOTONIC = 0,
    SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC = 1,
} ss_plugin_metric_type;

typedef enum ss_plugin_metric_value_type {
    SS_PLUGIN_METRIC_VALUE_TYPE_U32 = 0,
    SS_PLUGIN_METRIC_VALUE_TYPE_S32 = 1,
    SS_PLUGIN_METRIC_VALUE_TYPE_U64 = 2,
    SS_PLUGIN_METRIC_VALUE_TYPE_S64 = 3,
    SS_PLUGIN_METRIC_VALUE_TYPE_D = 4,
    SS_PLUGIN_METRIC_VALUE_TYPE_F = 5,
    SS_PLUGIN_METRIC_VALUE_TYPE_I = 6,
} ss_plugin_metric_value_type;

typedef union ss_plugin_metric_value {
    uint32_t u32;
    int32_t s32;
    uint64_t u64;
    int64_t s64;
    double d;
    float f;
    int i;
} ss_plugin_metric_value;

typedef struct ss_plugin_metric {
    const char* name;
    ss_plugin_metric_type type;
    ss_plugin_metric_value value;
    ss_plugin_metric_value_type value_type;
} ss_plugin_metric;

}  // extern "C"

static_assert(sizeof(ss_plugin_event) == 26, "packed plugin event header");
static_assert(offsetof(ss_plugin_event, type) == 20, "event type offset");
static_assert(offsetof(ss_plugin_event, nparams) == 22, "event nparams offset");
static_assert(sizeof(ss_plugin_event_input) == 24, "event input size");
static_assert(sizeof(ss_plugin_extract_field) == 64, "extract field size");
static_assert(offsetof(ss_plugin_extract_field, res_len) == 8, "res_len offset");
static_assert(offsetof(ss_plugin_extract_field, field_id) == 16, "field_id offset");
static_assert(offsetof(ss_plugin_extract_field, arg_key) == 32, "arg_key offset");
static_assert(offsetof(ss_plugin_extract_field, arg_index) == 40, "arg_index offset");
static_assert(offsetof(ss_plugin_extract_field, arg_present) == 48, "arg_present offset");
static_assert(offsetof(ss_plugin_extract_field, ftype) == 52, "ftype offset");
static_assert(offsetof(ss_plugin_extract_field, flist) == 56, "flist offset");
static_assert(offsetof(ss_plugin_field_extract_input, num_fields) == 16, "num_fields offset");
static_assert(offsetof(ss_plugin_field_extract_input, fields) == 24, "fields offset");
static_assert(offsetof(ss_plugin_field_extract_input, table_reader_ext) == 64, "ext offset");
static_assert(sizeof(ss_plugin_init_input) == 40, "init input size");
static_assert(offsetof(ss_plugin_init_input, log_fn) == 32, "log_fn offset");
