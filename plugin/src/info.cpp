// ct.info (ct-fields.md §3.15) and plugin_event_to_string / evt.plugininfo (§4).
#include <string>

#include "extract_impl.h"

namespace ctb {

void build_info(const Record& r, std::string& out) {
    std::string_view user;
    if (user_of(r, user) != UserKind::value) {
        out += "<invalid cloudtrail event: userIdentity field missing>";
        return;
    }
    const Opt ip = rule_s(r, r.path({"sourceIPAddress"}));
    if (!ip.present) {  // the official text names eventSource, but sourceIPAddress is missing
        out += "<invalid cloudtrail event: eventSource field missing>";
        return;
    }
    const Opt name = rule_s(r, r.path({"eventName"}));
    if (!name.present) {
        out += "<invalid cloudtrail event: eventName field missing>";
        return;
    }
    out += user;
    if (user != ip.v) {
        out += " via ";
        out += ip.v;
    }
    out += ' ';
    if (r.path({"errorCode"}) != kNone) out += '!';
    const uint32_t ro = r.path({"readOnly"});
    out += (ro != kNone && r.type(ro) != JType::true_) ? "\xE2\x86\x92" : "\xE2\x86\x90";  // → : ←
    out += ' ';
    out += name.v;

    if (name.v == "PutBucketPublicAccessBlock") {
        // The official code looks the four flags up at the record's root, so all read false.
        if (r.is(r.path({"requestParameters", "PublicAccessBlockConfiguration"}), JType::object)) {
            out += " BlockPublicAcls=false BlockPublicPolicy=false IgnorePublicAcls=false RestrictPublicBuckets=false ";
        }
        return;
    }
    uint64_t bytes;
    if (s3_bytes_of(r, bytes)) {
        out += " Size=";
        out += std::to_string(bytes);
    }
    const size_t mark = out.size();
    out += " URI=";
    if (s3_uri_of(r, out)) return;
    out.resize(mark);
    const uint32_t req = r.path({"requestParameters"});
    for (auto [member, label] : {std::pair<std::string_view, std::string_view>{"bucketName", " Bucket="},
                                 {"key", " Key="},
                                 {"Host", " Host="}}) {
        const Opt v = rule_s(r, r.member(req, member));
        if (v.present) {
            out += label;
            out += v.v;
            return;
        }
    }
}

const char* Extractor::to_string(const char* payload, size_t len) {
    Impl& x = *impl_;
    std::string& out = x.str_out;
    out.clear();
    // Unlike extraction, NUL bytes are not trimmed here (§4).
    if (!x.str_rec.parse(payload ? payload : "", payload ? len : 0, x.str_err)) {
        out = "<invalid JSON: %!s(MISSING)>";  // the official format-string bug, kept
        out += x.str_err;
        return out.c_str();
    }
    const Record& r = x.str_rec;
    const uint32_t src = r.path({"eventSource"});
    const uint32_t region = r.path({"awsRegion"});
    const uint32_t name = r.path({"eventName"});
    if (!r.is(src, JType::string)) return out.assign("<invalid JSON: event did not contain a source>").c_str();
    if (!r.is(region, JType::string)) return out.assign("<invalid JSON: event did not contain an awsRegion>").c_str();
    if (!r.is(name, JType::string)) return out.assign("<invalid JSON: event did not contain an eventName>").c_str();

    out += r.text(region);
    std::string_view user;
    switch (user_of(r, user)) {
        case UserKind::value:
            if (!user.empty()) {
                out += ' ';
                out += user;
            }
            break;
        case UserKind::no_type: break;
        case UserKind::no_name: out += "<NA>"; break;  // glued to the region, as in the original
        case UserKind::unknown_type: out += "<unknown user type>"; break;
    }
    out += ' ';
    out += shortsrc_of(r).v;
    out += ' ';
    out += r.text(name);
    out += ' ';
    build_info(r, out);
    return out.c_str();
}

}  // namespace ctb
