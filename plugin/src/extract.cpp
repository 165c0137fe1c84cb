// Field extraction: one small function per row of fields.def, dispatched by field id.
// Semantics follow ct-fields.md (the official cloudtrail plugin v0.17.1), quirks included.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "extract_impl.h"

namespace ctb {
namespace {

enum Props { P_NONE = 0, P_HIDDEN = 1, P_CONV = 2, P_INFO = 4 };
enum Flags { F_NONE = 0, F_INDEX = 1, F_KEY = 2 };

struct FieldDef {
    const char* name;
    const char* type;
    const char* display;
    const char* desc;
    int props;
    int flags;
};

const FieldDef kDefs[] = {
#define CTB_FIELD(id, name, type, display, desc, props, flags) {name, #type, display, desc, props, flags},
#include "fields.def"
#undef CTB_FIELD
};
constexpr uint32_t kCount = sizeof(kDefs) / sizeof(kDefs[0]);
static_assert(kCount == 78, "73 official fields + ctb.value + 4 enrichment fields");

// What a field function sees: the parsed record, the request, and where values go.
struct Ctx {
    const Record& r;
    const ss_plugin_extract_field& f;
    ExtractState& x;
    std::string err;

    void str(std::string_view v) { x.slot().assign(v.data(), v.size()); }
    void str(const Opt& o) {
        if (o.present) str(o.v);
    }
    std::string& build() { return x.slot(); }  // a new string value to fill in
    void num(uint64_t v) { x.nums.push_back(v); }
    uint32_t at(std::initializer_list<std::string_view> p) const { return r.path(p); }
    Opt s(std::initializer_list<std::string_view> p) const { return rule_s(r, r.path(p)); }
};

// Rule B (§2.2): only the JSON literal true is "true"; anything else present is "false".
void rule_b(Ctx& c, uint32_t n) {
    if (n != kNone) c.str(c.r.type(n) == JType::true_ ? "true" : "false");
}

// Rule J (§2.2): the value's original text without insignificant whitespace.
void rule_j(Ctx& c, uint32_t n) {
    if (n != kNone) c.r.compact(n, c.build());
}

// Go's float64 -> uint64 conversion on amd64 (the values the spec says not to rely on).
uint64_t float_to_u64(double d) {
    if (std::isnan(d) || d >= 18446744073709551616.0 || d <= -9223372036854775808.0) return 1ULL << 63;
    if (d >= 0) return static_cast<uint64_t>(d);
    return static_cast<uint64_t>(static_cast<int64_t>(d));
}

// Rule N (§2.2): exact for plain digits that fit, else float64 truncated; non-numbers are 0.
uint64_t rule_n(const Record& r, uint32_t n) {
    if (r.type(n) != JType::number) return 0;
    const std::string_view t = r.raw(n);
    uint64_t v = 0;
    bool plain = true;
    for (char ch : t) {
        const unsigned d = static_cast<unsigned>(ch - '0');
        if (d > 9 || v > (UINT64_MAX - d) / 10) {
            plain = false;
            break;
        }
        v = v * 10 + d;
    }
    if (plain) return v;
    char buf[64];
    if (t.size() < sizeof(buf)) {
        std::memcpy(buf, t.data(), t.size());
        buf[t.size()] = 0;
        return float_to_u64(std::strtod(buf, nullptr));
    }
    return float_to_u64(std::strtod(std::string(t).c_str(), nullptr));
}

// ---- §3.1 plain rule-S fields ----
#define S_FIELD(id, ...) \
    void f_##id(Ctx& c) { c.str(c.s({__VA_ARGS__})); }
S_FIELD(ct_id, "eventID")
S_FIELD(ct_error, "errorCode")
S_FIELD(ct_errormessage, "errorMessage")
S_FIELD(ct_time, "eventTime")
S_FIELD(ct_src, "eventSource")
S_FIELD(ct_name, "eventName")
S_FIELD(ct_user_identitytype, "userIdentity", "type")
S_FIELD(ct_user_principalid, "userIdentity", "principalId")
S_FIELD(ct_user_arn, "userIdentity", "arn")
S_FIELD(ct_region, "awsRegion")
S_FIELD(ct_response_subnetid, "responseElements", "subnetId")
S_FIELD(ct_response_reservationid, "responseElements", "reservationId")
S_FIELD(ct_request_availabilityzone, "requestParameters", "availabilityZone")
S_FIELD(ct_request_cluster, "requestParameters", "cluster")
S_FIELD(ct_request_functionname, "requestParameters", "functionName")
S_FIELD(ct_request_groupname, "requestParameters", "groupName")
S_FIELD(ct_request_host, "requestParameters", "Host")
S_FIELD(ct_request_name, "requestParameters", "name")
S_FIELD(ct_request_policy, "requestParameters", "policy")
S_FIELD(ct_request_reason, "requestParameters", "reason")
S_FIELD(ct_request_target, "requestParameters", "target")
S_FIELD(ct_request_serialnumber, "requestParameters", "serialNumber")
S_FIELD(ct_request_servicename, "requestParameters", "serviceName")
S_FIELD(ct_request_subnetid, "requestParameters", "subnetId")
S_FIELD(ct_request_taskdefinition, "requestParameters", "taskDefinition")
S_FIELD(ct_request_username, "requestParameters", "userName")
S_FIELD(ct_srcip, "sourceIPAddress")
S_FIELD(ct_useragent, "userAgent")
S_FIELD(ct_requestid, "requestID")
S_FIELD(ct_eventtype, "eventType")
S_FIELD(ct_apiversion, "apiVersion")
S_FIELD(ct_recipientaccountid, "recipientAccountId")
S_FIELD(ct_serviceeventdetails, "serviceEventDetails")
S_FIELD(ct_sharedeventid, "sharedEventID")
S_FIELD(ct_vpcendpointid, "vpcEndpointId")
S_FIELD(ct_eventcategory, "eventCategory")
S_FIELD(ct_addendum_reason, "addendum", "reason")
S_FIELD(ct_addendum_updatedfields, "addendum", "updatedFields")
S_FIELD(ct_addendum_originalrequestid, "addendum", "originalRequestID")
S_FIELD(ct_addendum_originaleventid, "addendum", "originalEventID")
S_FIELD(ct_edgedevicedetails, "edgeDeviceDetails")
S_FIELD(ct_tlsdetails_tlsversion, "tlsDetails", "tlsVersion")
S_FIELD(ct_tlsdetails_ciphersuite, "tlsDetails", "cipherSuite")
S_FIELD(ct_tlsdetails_clientprovidedhostheader, "tlsDetails", "clientProvidedHostHeader")
S_FIELD(s3_bucket, "requestParameters", "bucketName")
S_FIELD(s3_key, "requestParameters", "key")
S_FIELD(ecr_repository, "requestParameters", "repositoryName")
S_FIELD(ecr_imagetag, "requestParameters", "imageTag")
S_FIELD(iam_role, "requestParameters", "roleName")
S_FIELD(iam_policy, "requestParameters", "policyName")
#undef S_FIELD

// §3.2: the official extractor looks for a differently-cased name, so it never matches.
void f_ct_request_documentname(Ctx&) {}

// §3.3
void f_ct_request(Ctx& c) { rule_j(c, c.at({"requestParameters"})); }
void f_ct_response(Ctx& c) { rule_j(c, c.at({"responseElements"})); }
void f_ct_additionaleventdata(Ctx& c) { rule_j(c, c.at({"additionalEventData"})); }

// §3.4 (no guessing from eventName for readOnly)
void f_ct_readonly(Ctx& c) { rule_b(c, c.at({"readOnly"})); }
void f_ct_managementevent(Ctx& c) { rule_b(c, c.at({"managementEvent"})); }
void f_ct_sessioncredentialfromconsole(Ctx& c) { rule_b(c, c.at({"sessionCredentialFromConsole"})); }

void f_ct_shortsrc(Ctx& c) { c.str(shortsrc_of(c.r)); }

void f_ct_user(Ctx& c) {
    std::string_view u;
    if (user_of(c.r, u) == UserKind::value) c.str(u);
}

// §3.7
void f_ct_originaluser(Ctx& c) {
    const Record& r = c.r;
    const uint32_t t = c.at({"userIdentity", "type"});
    if (!(r.is(t, JType::string) && r.text(t) == "AssumedRole")) {
        c.str(c.s({"userIdentity", "userName"}));
        return;
    }
    const Opt arn = c.s({"userIdentity", "arn"});
    if (arn.present && std::count(arn.v.begin(), arn.v.end(), '/') == 2) {
        c.str(arn.v.substr(arn.v.rfind('/') + 1));
        return;
    }
    const Opt pid = c.s({"userIdentity", "principalId"});
    if (pid.present && std::count(pid.v.begin(), pid.v.end(), ':') == 1) {
        c.str(pid.v.substr(pid.v.find(':') + 1));
    }
}

// §3.8: the fallback applies only when accountId is missing, not when it is null.
void f_ct_user_accountid(Ctx& c) {
    const uint32_t n = c.at({"userIdentity", "accountId"});
    c.str(n != kNone ? rule_s(c.r, n) : c.s({"recipientAccountId"}));
}

// §3.9
void f_ct_resources(Ctx& c) {
    const uint32_t arr = c.at({"resources"});
    if (!c.r.is(arr, JType::array) || c.r.count(arr) == 0) return;
    std::string& out = c.build();
    for (uint32_t e = c.r.first_child(arr); e != kNone; e = c.r.next_sibling(e)) {
        if (e != c.r.first_child(arr)) out += ',';
        c.r.compact(e, out);
    }
}

void f_ct_info(Ctx& c) { build_info(c.r, c.build()); }

// §3.10
void f_s3_uri(Ctx& c) {
    if (!s3_uri_of(c.r, c.build())) c.x.used--;  // absent: give the slot back
}

// §3.11
void f_s3_bytes(Ctx& c) {
    uint64_t total;
    if (s3_bytes_of(c.r, total)) c.num(total);
}
void f_s3_bytes_in(Ctx& c) {
    const uint32_t n = c.at({"additionalEventData", "bytesTransferredIn"});
    if (n != kNone) c.num(rule_n(c.r, n));
}
void f_s3_bytes_out(Ctx& c) {
    const uint32_t n = c.at({"additionalEventData", "bytesTransferredOut"});
    if (n != kNone) c.num(rule_n(c.r, n));
}

// §3.12: absent (not 0) when they do not apply; the event source is never checked.
bool event_name_is(const Record& r, std::string_view name) {
    const uint32_t n = r.path({"eventName"});
    return r.is(n, JType::string) && r.text(n) == name;
}
void f_s3_cnt_get(Ctx& c) {
    if (event_name_is(c.r, "GetObject")) c.num(1);
}
void f_s3_cnt_put(Ctx& c) {
    if (event_name_is(c.r, "PutObject")) c.num(1);
}
void f_s3_cnt_other(Ctx& c) {
    if (!event_name_is(c.r, "GetObject") && !event_name_is(c.r, "PutObject")) c.num(1);
}

// §3.13: from the request's tag specifications; the last instance item with a Name tag wins.
void f_ec2_name(Ctx& c) {
    const Record& r = c.r;
    const uint32_t items = c.at({"requestParameters", "tagSpecificationSet", "items"});
    if (!r.is(items, JType::array)) return;
    std::string_view name;
    for (uint32_t it = r.first_child(items); it != kNone; it = r.next_sibling(it)) {
        const uint32_t rt = r.member(it, "resourceType");
        if (!(r.is(rt, JType::string) && r.text(rt) == "instance")) continue;
        const uint32_t tags = r.member(it, "tags");
        if (!r.is(tags, JType::array)) continue;
        for (uint32_t tag = r.first_child(tags); tag != kNone; tag = r.next_sibling(tag)) {
            const uint32_t k = r.member(tag, "key");
            if (r.is(k, JType::string) && r.text(k) == "Name") {
                name = rule_s(r, r.member(tag, "value")).v;
                break;
            }
        }
    }
    if (!name.empty()) c.str(name);
}

// §3.14. `index` < 0 means the unindexed list form.
void image_ids(Ctx& c, int64_t index) {
    const Record& r = c.r;
    const uint32_t items = c.at({"responseElements", "instancesSet", "items"});
    if (items != kNone) {  // no fallback to the request once the response has items
        if (index < 0) {
            if (!r.is(items, JType::array)) return;
            for (uint32_t it = r.first_child(items); it != kNone; it = r.next_sibling(it)) {
                const uint32_t id = r.member(it, "imageId");
                if (r.is(id, JType::string) && !r.text(id).empty()) c.str(r.text(id));
            }
            return;
        }
        c.str(rule_s(r, r.member(r.element(items, static_cast<uint64_t>(index)), "imageId")));
        return;
    }
    if (index > 0) return;
    for (uint32_t n : {c.at({"requestParameters", "imageId"}),
                       c.at({"requestParameters", "DescribeFastLaunchImagesRequest", "ImageId", "content"}),
                       c.at({"requestParameters", "launchSpecification", "imageId"})}) {
        if (n != kNone) {
            c.str(rule_s(r, n));
            return;
        }
    }
}
void f_ec2_imageids(Ctx& c) {
    // Indexes past INT64_MAX cannot exist in a record; clamp them to a sure miss.
    const int64_t idx = !c.f.arg_present ? -1
                      : c.f.arg_index > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX
                                                                         : static_cast<int64_t>(c.f.arg_index);
    image_ids(c, idx);
}
void f_ec2_imageid(Ctx& c) { image_ids(c, 0); }

// ctb.value[<JSON pointer>]: strings unquoted, anything else as rule-J text.
void f_ctb_value(Ctx& c) {
    if (!c.f.arg_key) {
        c.err = "ctb.value needs a JSON pointer argument, e.g. ctb.value[/eventName]";
        return;
    }
    bool bad = false;
    const uint32_t n = c.r.pointer(c.f.arg_key, bad);
    if (bad) {
        c.err = std::string("ctb.value: invalid JSON pointer '") + c.f.arg_key +
                "' (it must be empty or start with '/', and '~' must be followed by 0 or 1)";
        return;
    }
    if (n == kNone) return;
    if (c.r.type(n) == JType::string) {
        c.str(c.r.text(n));
    } else {
        c.r.compact(n, c.build());
    }
}

// Enrichment fields: values under the reserved top-level "ctb" key (docs/enrichment.md).
void f_ctb_principal(Ctx& c) { c.str(c.s({"ctb", "principal"})); }

bool enrich_key(Ctx& c, const char* field) {
    if (c.f.arg_key && *c.f.arg_key) return true;
    c.err = std::string(field) + " needs a name argument, e.g. " + field + "[name]";
    return false;
}
void f_ctb_count(Ctx& c) {
    if (!enrich_key(c, "ctb.count")) return;
    const uint32_t n = c.at({"ctb", "count", c.f.arg_key});
    if (c.r.is(n, JType::number)) c.num(rule_n(c.r, n));
}
void f_ctb_first(Ctx& c) {
    if (!enrich_key(c, "ctb.first")) return;
    rule_b(c, c.at({"ctb", "first", c.f.arg_key}));
}
void f_ctb_seq(Ctx& c) {
    if (!enrich_key(c, "ctb.seq")) return;
    const uint32_t n = c.at({"ctb", "seq", c.f.arg_key});
    if (c.r.is(n, JType::number)) c.num(rule_n(c.r, n));
}

using FieldFn = void (*)(Ctx&);
const FieldFn kFns[] = {
#define CTB_FIELD(id, ...) &f_##id,
#include "fields.def"
#undef CTB_FIELD
};
static_assert(sizeof(kFns) / sizeof(kFns[0]) == kCount, "one function per field");

void json_escaped(const char* s, std::string& out) {
    out += '"';
    for (; *s; ++s) {
        if (*s == '"' || *s == '\\') out += '\\';
        out += *s;
    }
    out += '"';
}

std::string make_fields_json() {
    std::string j = "[";
    for (uint32_t i = 0; i < kCount; ++i) {
        const FieldDef& d = kDefs[i];
        if (i) j += ',';
        j += "{\"name\":";
        json_escaped(d.name, j);
        j += ",\"type\":";
        json_escaped(d.type, j);
        j += ",\"display\":";
        json_escaped(d.display, j);
        j += ",\"desc\":";
        json_escaped(d.desc, j);
        if (d.props) {
            j += ",\"properties\":[";
            const char* sep = "";
            for (auto [bit, word] : {std::pair{P_HIDDEN, "hidden"}, {P_CONV, "conversation"}, {P_INFO, "info"}}) {
                if (d.props & bit) {
                    j += sep;
                    json_escaped(word, j);
                    sep = ",";
                }
            }
            j += ']';
        }
        if (d.flags & F_INDEX) j += ",\"isList\":true,\"arg\":{\"isRequired\":false,\"isIndex\":true,\"isKey\":false}";
        if (d.flags & F_KEY) j += ",\"isList\":false,\"arg\":{\"isRequired\":true,\"isIndex\":false,\"isKey\":true}";
        j += '}';
    }
    j += ']';
    return j;
}

}  // namespace

// ---- semantics shared with info.cpp ----

UserKind user_of(const Record& r, std::string_view& out) {
    const uint32_t t = r.path({"userIdentity", "type"});
    if (!r.is(t, JType::string)) return UserKind::no_type;
    const std::string_view type = r.text(t);
    auto leaf = [&](std::string_view name) {
        const uint32_t n = r.path({"userIdentity", name});
        if (n == kNone) return UserKind::no_name;
        out = rule_s(r, n).v;
        return UserKind::value;
    };
    if (type == "Root" || type == "IAMUser") return leaf("userName");
    if (type == "AWSService") return leaf("invokedBy");
    if (type == "AssumedRole") {
        const uint32_t n = r.path({"userIdentity", "sessionContext", "sessionIssuer", "userName"});
        out = n != kNone ? rule_s(r, n).v : std::string_view("AssumedRole");
        return UserKind::value;
    }
    if (type == "AWSAccount" || type == "FederatedUser") {
        out = type;
        return UserKind::value;
    }
    return UserKind::unknown_type;
}

Opt shortsrc_of(const Record& r) {
    Opt o = rule_s(r, r.path({"eventSource"}));
    constexpr std::string_view kSuffix = ".amazonaws.com";
    if (o.v.size() > kSuffix.size() && o.v.substr(o.v.size() - kSuffix.size()) == kSuffix) {
        o.v.remove_suffix(kSuffix.size());
    }
    return o;
}

bool s3_uri_of(const Record& r, std::string& out) {
    const uint32_t req = r.path({"requestParameters"});
    const uint32_t b = r.member(req, "bucketName");
    const uint32_t k = r.member(req, "key");
    if (!r.is(b, JType::string) || !r.is(k, JType::string)) return false;
    out += "s3://";
    out += r.text(b);
    out += '/';
    out += r.text(k);
    return true;
}

bool s3_bytes_of(const Record& r, uint64_t& total) {
    const uint32_t data = r.path({"additionalEventData"});
    const uint32_t in = r.member(data, "bytesTransferredIn");
    const uint32_t out = r.member(data, "bytesTransferredOut");
    if (in == kNone && out == kNone) return false;
    total = (in != kNone ? rule_n(r, in) : 0) + (out != kNone ? rule_n(r, out) : 0);  // wraps like Go
    return true;
}

const char* fields_json() {
    static const std::string json = make_fields_json();
    return json.c_str();
}

uint32_t field_count() { return kCount; }

Extractor::Extractor() : impl_(new Impl) {}
Extractor::~Extractor() { delete impl_; }

ss_plugin_rc Extractor::extract(const char* payload, size_t len, uint64_t evtnum,
                                const ss_plugin_field_extract_input* in, std::string& err) {
    Impl& x = *impl_;
    if (!x.cached || x.evtnum != evtnum || x.ptr != payload || x.len != len) {
        // NUL bytes at both ends are not part of the record (§1).
        const char* p = payload ? payload : "";
        size_t n = payload ? len : 0;
        while (n && p[0] == '\0') ++p, --n;
        while (n && p[n - 1] == '\0') --n;
        x.cached = true;
        x.evtnum = evtnum;
        x.ptr = payload;
        x.len = len;
        x.cached_ok = x.rec.parse(p, n, x.parse_err);
    }
    if (!x.cached_ok) {
        err = x.parse_err;
        return SS_PLUGIN_FAILURE;
    }
    x.used = 0;
    x.nums.clear();
    x.res.clear();
    for (uint32_t i = 0; i < in->num_fields; ++i) {
        const ss_plugin_extract_field& f = in->fields[i];
        if (f.field_id >= kCount) {
            err = "unknown field id " + std::to_string(f.field_id) + " (" + (f.field ? f.field : "?") +
                  "): ctbridge declares " + std::to_string(kCount) + " fields";
            return SS_PLUGIN_FAILURE;
        }
        const bool num = kDefs[f.field_id].type[0] == 'u';
        const size_t begin = num ? x.nums.size() : x.used;
        Ctx c{x.rec, f, x, {}};
        kFns[f.field_id](c);
        if (!c.err.empty()) {
            err = c.err;
            return SS_PLUGIN_FAILURE;
        }
        const size_t end = num ? x.nums.size() : x.used;
        x.res.push_back({static_cast<uint32_t>(begin), static_cast<uint32_t>(end - begin), num});
    }
    // Pointers are taken only now: adding slots above may have moved the strings.
    x.ptrs.resize(x.used);
    for (size_t k = 0; k < x.used; ++k) x.ptrs[k] = x.slots[k].c_str();
    for (uint32_t i = 0; i < in->num_fields; ++i) {
        ss_plugin_extract_field& f = in->fields[i];
        const ExtractState::Res& r = x.res[i];
        f.res_len = r.count;
        if (!r.count) continue;
        if (r.num) {
            f.res.u64 = &x.nums[r.begin];
        } else {
            f.res.str = &x.ptrs[r.begin];
        }
    }
    return SS_PLUGIN_SUCCESS;
}

}  // namespace ctb
