// Differential test: the plugin's own JSON tokenizer (json_scan.h) against rapidjson, which
// the plugin used before. Over a corpus (tests/data/records, bench-generated records, edge cases)
// and thousands of deterministic mutations of it, both must agree:
//  - records (Record::parse, lenient strings) against a copy of the old rapidjson tape builder:
//    accept/reject, the error message, and every node's type, span, links, key and text;
//  - the file source's strict mode against rapidjson's Reader: accept/reject, error kind and
//    offset, and the token sequence.
// One known difference is tolerated and counted: rapidjson's SSE2 string scan misses raw bytes
// 0x1A-0x1F depending on memory alignment, so for inputs holding them the SIMD (in situ) runs are
// compared only on what does not depend on it (a record's accept/reject and tape); the strict
// mode is also compared with rapidjson's byte-by-byte path, exactly, for every input.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <rapidjson/encodedstream.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include "../src/json_scan.h"
#include "../src/record.h"
#include "json_tokens.h"

using ctb::JType;
using ctb::kNone;

static int g_fail = 0;
static long g_checked = 0;

#define CHECK(cond, ...)                                     \
    do {                                                     \
        if (!(cond)) {                                       \
            if (++g_fail <= 20) {                            \
                std::printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
                std::printf(__VA_ARGS__);                    \
                std::printf("\n");                           \
            }                                                \
        }                                                    \
    } while (0)

// ---------------------------------------------------------------------------------------------
// The record tape as the plugin built it before, with rapidjson (record.cpp before json_scan.h).
// Kept verbatim in behaviour: iterative + in situ + numbers as strings, a retry with malformed
// string content neutralized, spans recovered from the text.
namespace old {

struct Node {
    JType type;
    uint32_t start, end, next, count;
    std::string key, text;
};

constexpr unsigned kFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseInsituFlag | rapidjson::kParseNumbersAsStringsFlag;

bool is_skip(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == ':'; }

int hex4(const char* p) {
    int v = 0;
    for (int i = 0; i < 4; ++i) {
        char c = p[i];
        int d = (c >= '0' && c <= '9') ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

void neutralize_strings(std::string& w) {
    const size_t n = w.size();
    bool in = false;
    for (size_t i = 0; i < n; ++i) {
        const unsigned char c = static_cast<unsigned char>(w[i]);
        if (!in) {
            in = c == '"';
            continue;
        }
        if (c == '"') {
            in = false;
        } else if (c < 0x20) {
            if (c != 0) w[i] = ' ';
        } else if (c == '\\' && i + 1 < n) {
            const char e = w[i + 1];
            if (e && std::strchr("\"\\/bfnrt", e)) {
                ++i;
                continue;
            }
            if (e == 'u' && i + 5 < n) {
                const int hi = hex4(&w[i + 2]);
                if (hi >= 0 && !(hi >= 0xD800 && hi <= 0xDBFF)) {
                    i += 5;
                    continue;
                }
                if (hi >= 0 && i + 11 < n && w[i + 6] == '\\' && w[i + 7] == 'u') {
                    const int lo = hex4(&w[i + 8]);
                    if (lo >= 0xDC00 && lo <= 0xDFFF) {
                        i += 11;
                        continue;
                    }
                }
            }
            if (e == 0) continue;
            w[i + 1] = '\\';
            ++i;
        }
    }
}

struct Tape {
    std::string raw, work;
    std::vector<Node> nodes;
    std::vector<uint32_t> stack, last;
};

struct Builder {
    Tape& t;
    const char* work;
    uint32_t last_end = 0;
    std::string key{};
    bool too_deep = false;

    uint32_t token_start() const {
        uint32_t i = last_end;
        while (i < t.raw.size() && is_skip(t.raw[i])) ++i;
        return i;
    }
    uint32_t string_token(uint32_t start, uint32_t len, std::string& out) {
        const char* p = t.raw.data();
        const uint32_t n = static_cast<uint32_t>(t.raw.size());
        if (start + 1 + len < n && p[start + 1 + len] == '"' && !std::memchr(p + start + 1, '\\', len)) {
            out.assign(p + start + 1, len);
            return start + 2 + len;
        }
        uint32_t i = start + 1;
        while (i < n && p[i] != '"') i += p[i] == '\\' ? 2 : 1;
        out.clear();
        ctb::unescape_best_effort(std::string_view(p + start + 1, i - start - 1), out);
        return i + 1;
    }
    uint32_t add(JType ty, uint32_t start, uint32_t end) {
        const uint32_t idx = static_cast<uint32_t>(t.nodes.size());
        Node nd{ty, start, end, kNone, 0, {}, {}};
        if (!t.stack.empty()) {
            const uint32_t parent = t.stack.back();
            t.nodes[parent].count++;
            if (t.last.back() != kNone) t.nodes[t.last.back()].next = idx;
            t.last.back() = idx;
            if (t.nodes[parent].type == JType::object) nd.key = key;
        }
        t.nodes.push_back(nd);
        last_end = end;
        return idx;
    }
    bool literal(JType ty, uint32_t size) {
        const uint32_t s = token_start();
        add(ty, s, s + size);
        return true;
    }
    bool Null() { return literal(JType::null_, 4); }
    bool Bool(bool b) { return b ? literal(JType::true_, 4) : literal(JType::false_, 5); }
    bool Int(int) { return false; }
    bool Uint(unsigned) { return false; }
    bool Int64(int64_t) { return false; }
    bool Uint64(uint64_t) { return false; }
    bool Double(double) { return false; }
    bool RawNumber(const char* str, rapidjson::SizeType len, bool) {
        const uint32_t s = static_cast<uint32_t>(str - work);
        add(JType::number, s, s + len);
        return true;
    }
    bool String(const char* str, rapidjson::SizeType len, bool) {
        const uint32_t s = static_cast<uint32_t>(str - work) - 1;
        std::string text;
        const uint32_t e = string_token(s, len, text);
        t.nodes[add(JType::string, s, e)].text = text;
        return true;
    }
    bool Key(const char* str, rapidjson::SizeType len, bool) {
        const uint32_t s = static_cast<uint32_t>(str - work) - 1;
        last_end = string_token(s, len, key);
        return true;
    }
    bool open(JType ty) {
        if (t.stack.size() >= ctb::kMaxDepth) {
            too_deep = true;
            return false;
        }
        const uint32_t s = token_start();
        const uint32_t idx = add(ty, s, s + 1);
        t.stack.push_back(idx);
        t.last.push_back(kNone);
        return true;
    }
    bool close() {
        const uint32_t s = token_start();
        const uint32_t idx = t.stack.back();
        t.stack.pop_back();
        t.last.pop_back();
        last_end = s + 1;
        t.nodes[idx].end = last_end;
        return true;
    }
    bool StartObject() { return open(JType::object); }
    bool EndObject(rapidjson::SizeType) { return close(); }
    bool StartArray() { return open(JType::array); }
    bool EndArray(rapidjson::SizeType) { return close(); }
};

bool run_reader(Tape& t, std::string& err, bool& string_error) {
    t.nodes.clear();
    t.stack.clear();
    t.last.clear();
    rapidjson::InsituStringStream is(&t.work[0]);
    Builder b{t, t.work.data()};
    rapidjson::Reader rd;
    rd.Parse<kFlags>(is, b);
    if (!rd.HasParseError()) return true;
    t.nodes.clear();
    const rapidjson::ParseErrorCode code = rd.GetParseErrorCode();
    string_error = code == rapidjson::kParseErrorStringEscapeInvalid ||
                   code == rapidjson::kParseErrorStringUnicodeEscapeInvalidHex ||
                   code == rapidjson::kParseErrorStringUnicodeSurrogateInvalid;
    err = "invalid JSON at offset " + std::to_string(rd.GetErrorOffset()) + ": ";
    err += b.too_deep ? "nesting deeper than " + std::to_string(ctb::kMaxDepth) + " levels"
                      : std::string(rapidjson::GetParseError_En(code));
    return false;
}

bool parse(Tape& t, const std::string& in, std::string& err) {
    t.raw = in;
    t.nodes.clear();
    if (const void* z = std::memchr(in.data(), 0, in.size())) {
        err = "invalid JSON at offset " + std::to_string(static_cast<const char*>(z) - in.data()) + ": NUL byte";
        return false;
    }
    t.work = t.raw;
    bool string_error = false;
    if (run_reader(t, err, string_error)) return true;
    if (!string_error) return false;
    t.work = t.raw;
    neutralize_strings(t.work);
    std::string err2;
    return run_reader(t, err2, string_error);
}

}  // namespace old

// ---------------------------------------------------------------------------------------------
// Token sequences for the strict comparison (the file source's mode).

using ctb_test::RapidTokens;
using ctb_test::ScanTokens;

static bool has_quirk_bytes(const std::string& s) {
    for (unsigned char c : s)
        if (c >= 0x1A && c <= 0x1F) return true;
    return false;
}

static long g_quirk_skipped = 0;

// rapidjson's verdict on the text up to its first NUL: "ok" or "offset: reason", and the tokens.
template <class Stream>
static std::string rapidjson_strict(Stream& is, RapidTokens& rj) {
    rapidjson::Reader rd;
    const rapidjson::ParseResult r = rd.Parse<old::kFlags & ~rapidjson::kParseInsituFlag>(is, rj);
    return r.IsError() ? std::to_string(r.Offset()) + ": " + rapidjson::GetParseError_En(r.Code()) : "ok";
}
template <>
std::string rapidjson_strict(rapidjson::InsituStringStream& is, RapidTokens& rj) {
    rapidjson::Reader rd;
    const rapidjson::ParseResult r = rd.Parse<old::kFlags>(is, rj);
    return r.IsError() ? std::to_string(r.Offset()) + ": " + rapidjson::GetParseError_En(r.Code()) : "ok";
}

static void compare_strict(const std::string& in) {
    std::string padded = in;
    padded.append(ctb::json::kPadding, '\0');
    ScanTokens sc;
    std::vector<uint8_t> stack;
    const ctb::json::Result m = ctb::json::scan<ctb::json::Strings::strict>(padded.data(), sc, stack);
    const std::string got = m.ok() ? "ok" : std::to_string(m.offset) + ": " + ctb::json::err_text(m.err);

    // Byte by byte (no SIMD specialization for this stream type): exact for every input.
    rapidjson::MemoryStream ms(in.data(), in.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> es(ms);
    RapidTokens scalar;
    const std::string want = rapidjson_strict(es, scalar);
    ++g_checked;
    CHECK(want == got, "strict: rapidjson [%s] ours [%s] on %zu bytes: %.120s", want.c_str(), got.c_str(), in.size(), in.c_str());
    if (m.ok() && want == got) CHECK(scalar.out == sc.out, "strict: token sequences differ on: %.200s", in.c_str());

    // In situ with SSE2, as the file source ran it before: the same unless the alignment quirk applies.
    std::string work = in;
    rapidjson::InsituStringStream is(&work[0]);
    RapidTokens insitu;
    const std::string want2 = rapidjson_strict(is, insitu);
    if ((want2 != got || (m.ok() && insitu.out != sc.out)) && has_quirk_bytes(in)) {
        ++g_quirk_skipped;
        return;
    }
    ++g_checked;
    CHECK(want2 == got, "strict in situ: rapidjson [%s] ours [%s] on: %.120s", want2.c_str(), got.c_str(), in.c_str());
    if (m.ok() && want2 == got) CHECK(insitu.out == sc.out, "strict in situ: token sequences differ on: %.200s", in.c_str());
}

static void compare_record(ctb::Record& rec, old::Tape& tape, const std::string& in) {
    std::string err_old, err_new;
    const bool ok_old = old::parse(tape, in, err_old);
    const bool ok_new = rec.parse(in.data(), in.size(), err_new);
    ++g_checked;
    CHECK(ok_old == ok_new, "record: old %s [%s], new %s [%s] on %zu bytes: %.200s", ok_old ? "accepts" : "rejects",
          err_old.c_str(), ok_new ? "accepts" : "rejects", err_new.c_str(), in.size(), in.c_str());
    if (ok_old != ok_new) return;
    if (!ok_old) {
        if (err_old != err_new && has_quirk_bytes(in)) {
            ++g_quirk_skipped;
            return;
        }
        CHECK(err_old == err_new, "record: messages differ: old [%s] new [%s] on: %.200s", err_old.c_str(),
              err_new.c_str(), in.c_str());
        return;
    }
    CHECK(tape.nodes.size() == rec.node_count(), "record: %zu nodes before, %zu now", tape.nodes.size(), rec.node_count());
    if (tape.nodes.size() != rec.node_count()) return;
    for (uint32_t n = 0; n < rec.node_count(); ++n) {
        const old::Node& o = tape.nodes[n];
        const bool same = o.type == rec.type(n) && o.start == rec.start(n) && o.end == rec.end(n) &&
                          o.next == rec.next_sibling(n) && o.count == rec.count(n) && o.key == rec.key(n) &&
                          o.text == rec.text(n);
        CHECK(same, "record: node %u differs (old span %u-%u key [%s] text [%s]; new span %u-%u key [%s] text [%s]) in: %.200s",
              n, o.start, o.end, o.key.c_str(), o.text.c_str(), rec.start(n), rec.end(n), std::string(rec.key(n)).c_str(),
              std::string(rec.text(n)).c_str(), in.c_str());
        if (!same) return;
    }
}

// ---------------------------------------------------------------------------------------------
// Corpus and mutations.

static const char* const kBenchRecords[] = {
    R"rec({"eventVersion":"1.09","userIdentity":{"type":"AWSService","invokedBy":"lambda.amazonaws.com"},"eventTime":"2024-05-01T12:00:00Z","eventSource":"sts.amazonaws.com","eventName":"AssumeRole","awsRegion":"eu-west-1","sourceIPAddress":"lambda.amazonaws.com","userAgent":"lambda.amazonaws.com","requestParameters":{"roleArn":"arn:aws:iam::123456789012:role/service-role/processor-role-7468","roleSessionName":"processor","durationSeconds":43200},"responseElements":{"credentials":{"accessKeyId":"ASIAEXAMPLE","sessionToken":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","expiration":"May 2, 2024, 12:00:00 AM"}},"readOnly":true,"resources":[{"accountId":"123456789012","type":"AWS::IAM::Role","ARN":"arn:aws:iam::123456789012:role/service-role/processor-role"}],"managementEvent":true,"eventCategory":"Management","sharedEventID":"d23f0824-128b-2f33-0c5c-7fd0a6a3a450","requestID":"E8E25D940ED90475","eventID":"1600a35a-0999-50d8-36f6-75cc81e74ef5","eventType":"AwsApiCall","recipientAccountId":"123456789012"})rec",
    R"rec({"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROAZDOCIS2JHTLGMXGED:botocore-session-1715000000","arn":"arn:aws:sts::123456789012:assumed-role/DataPipelineRole/botocore-session-1715000000","accountId":"123456789012","accessKeyId":"ASIAN73U55XTPLPFT7V4","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAZDOCIS2JHTLGMXGED","arn":"arn:aws:iam::123456789012:role/DataPipelineRole","accountId":"123456789012","userName":"DataPipelineRole"},"webIdFederationData":{},"attributes":{"creationDate":"2024-05-01T11:02:13Z","mfaAuthenticated":"false"},"ec2RoleDelivery":"2.0"}},"eventTime":"2024-05-01T12:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"eu-central-1","sourceIPAddress":"203.0.113.95","userAgent":"Boto3/1.34.58 md/Botocore#1.34.58 ua/2.0 os/linux#5.10.210-201.852.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy Botocore/1.34.58","requestParameters":{"bucketName":"acme-data","Host":"acme-data.s3.eu-central-1.amazonaws.com","key":"reports/2019/q4/part-07747.parquet"},"responseElements":null,"additionalEventData":{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":0,"AuthenticationMethod":"AuthHeader","x-amz-id-2":"seh60kvj50ce9+uvw5/3efr4edt+2sywb3wkh5dnsipzz5fk2z9ri19r0wyojfljooa5/lqsaj08","bytesTransferredOut":14981413},"readOnly":true,"resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::acme-data/reports/2019/q4/part-07747.parquet"},{"accountId":"123456789012","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::acme-data"}],"managementEvent":false,"eventCategory":"Data","tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"acme-data.s3.eu-central-1.amazonaws.com"},"requestID":"DBF4A8B2B0C4312D","eventID":"a7abe1c2-9e1a-8ef4-f341-e07a83f73f16","eventType":"AwsApiCall","recipientAccountId":"123456789012"})rec",
    R"rec({"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDA67JCN2IVGXV6NS3V3","arn":"arn:aws:iam::123456789012:user/alice","accountId":"123456789012","accessKeyId":"AKIAQDSSW7ZVRWN7HVMU","userName":"alice","sessionContext":{"attributes":{"creationDate":"2024-05-01T08:00:00Z","mfaAuthenticated":"true"}}},"eventTime":"2024-05-01T12:00:02Z","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.23","userAgent":"[aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.1.0-18-amd64 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#debian.12 md/prompt#off md/command#s3api.get-object]","requestParameters":{"instancesSet":{"items":[{"imageId":"ami-0238530933cd3c9","minCount":1,"maxCount":1}]},"instanceType":"c7g.xlarge","subnetId":"subnet-01d6d8af95f4004","availabilityZone":"us-east-1b","tagSpecificationSet":{"items":[{"resourceType":"instance","tags":[{"key":"Name","value":"web-39"}]}]}},"responseElements":{"reservationId":"r-01651b3c56ef932","instancesSet":{"items":[{"instanceId":"i-017ddf29dcc9ffb","imageId":"ami-0238530933cd3c9","subnetId":"subnet-01d6d8af95f4004"}]}},"readOnly":false,"managementEvent":true,"eventCategory":"Management","tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"ec2.us-east-1.amazonaws.com"},"requestID":"E2B6C50C8DE63750","eventID":"0cb91cbe-92f4-8d21-8b9f-684a67f186a2","eventType":"AwsApiCall","recipientAccountId":"123456789012"})rec",
    R"rec({"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDALCJ6GDYQFODESARIW","arn":"arn:aws:iam::123456789012:user/ops-deployer","accountId":"123456789012","accessKeyId":"AKIAXLIXQXXKHPKSYBOM","userName":"ops-deployer","sessionContext":{"attributes":{"creationDate":"2024-05-01T08:00:00Z","mfaAuthenticated":"true"}}},"eventTime":"2024-05-01T12:00:06Z","eventSource":"iam.amazonaws.com","eventName":"PutRolePolicy","awsRegion":"us-west-2","sourceIPAddress":"203.0.113.219","userAgent":"Boto3/1.34.58 md/Botocore#1.34.58 ua/2.0 os/linux#5.10.210-201.852.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy Botocore/1.34.58","requestParameters":{"userName":"svc-backup","roleName":"DeployRole","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess","policyName":"inline-admin"},"responseElements":null,"readOnly":false,"managementEvent":true,"eventCategory":"Management","tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"iam.amazonaws.com"},"requestID":"78C73D54E4933929","eventID":"0cf22f82-01ee-1932-dea2-0f42434eccd7","eventType":"AwsApiCall","recipientAccountId":"123456789012"})rec",
    R"rec({"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDABJQZAP32OOLH53UQG","arn":"arn:aws:iam::123456789012:user/terraform","accountId":"123456789012","accessKeyId":"AKIA2PZKQ365B2LUAY7G","userName":"terraform","sessionContext":{"attributes":{"creationDate":"2024-05-01T08:00:00Z","mfaAuthenticated":"true"}}},"eventTime":"2024-05-01T12:00:02Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketAcl","awsRegion":"us-west-2","sourceIPAddress":"203.0.113.65","userAgent":"aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/s3#1.51.1","requestParameters":{"bucketName":"public-assets","Host":"public-assets.s3.amazonaws.com","acl":"","x-amz-acl":["public-read"]},"responseElements":null,"additionalEventData":{"SignatureVersion":"SigV4","bytesTransferredIn":0,"bytesTransferredOut":0},"readOnly":false,"resources":[{"accountId":"123456789012","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::public-assets"}],"managementEvent":true,"eventCategory":"Management","tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"public-assets.s3.amazonaws.com"},"requestID":"F38A1E14C823802F","eventID":"59242043-84eb-99bd-3326-d90ff0ca5b41","eventType":"AwsApiCall","recipientAccountId":"123456789012"})rec",
};

static const char* const kEdgeCases[] = {
    "", " ", "{}", "[]", "{ }", "[ ]", " {\"a\" : [ 1 , 2 ] } ", "0", "-0", "01", "1.", "-", "1e", "1e+", "1E-",
    ".5", "+1", "1.5e308", "1e308", "1e309", "-1e309", "1.0e309", "0.1e309", "0.000000000000000000001e330",
    "1e-99999999999", "1e00000000000000000000000000000308", "1e00000000000000000000000000000309",
    "123456789012345678901234567890", "-9223372036854775808", "-9223372036854775809", "18446744073709551615",
    "18446744073709551616", "[1,2,]", "{\"a\":1,}", "{\"a\" 1}", "{\"a\":}", "{,}", "[,]", "{\"a\":1 \"b\":2}",
    "[1 2]", "{1:2}", "nul", "nulll", "tru", "truex", "falsy", "[true,false,null]", "\"\\ud800\"",
    "\"\\udc00\"", "\"\\ud800\\udc00\"", "\"\\ud800\\u0041\"", "\"\\ud800\\\"\"", "\"\\u12\"", "\"\\u12G4\"",
    "\"\\q\"", "\"a\\\"", "\"\\", "\"abc", "\"\x01\"", "\"\x1f\"", "\"\x7f\"", "\"\x80\xff\"", "\"\xc3(\"",
    "{\"a\":\"x\\qy\\u12\\ud800z\"}", "{\"k\\u0065y\":\"v\\n\\t\"}", "{\"a\":\"\\ud83d\\ude00\"}",
    "{\"a\":1}{\"b\":2}", "{\"a\":1} x", "]", "}", ",", ":", "x", "-x", "[-]", "[1.e5]", "[1e5.5]", "[0x10]",
    "[Infinity]", "[NaN]", "{\"a\":[1,{\"b\":null}],\"a\":2}", "\t\n\r {\"a\":\"b\"} \t\n\r",
    "{\"a\":\"\\ud800\" x}", "{\"a\":\"\x01\",}", "{\"a\":\"\\q\" \"b\":1}",
};

// Deterministic xorshift.
struct Rng {
    uint64_t s;
    uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
    size_t below(size_t n) { return n ? static_cast<size_t>(next() % n) : 0; }
};

static const char kBytes[] = {'"', '\\', '{', '}', '[', ']', ',', ':', ' ', '\n', '0', '1', '9', '-', '+', '.', 'e',
                              'E', 'u', 'n', 't', 'f', 'a', 'x', 'D', '\x01', '\x08', '\x1a', '\x1f', '\x7f',
                              '\x80', '\xc3', '\xff', '\0'};
static const char* const kSnippets[] = {"\\ud800", "\\udc00", "\\ud800\\udc00", "\\ud800\\u0041", "\\u12", "\\uZZZZ",
                                        "\\q", "\\x41", "\\U0041", "\\", "\"", "01", "1.", "-", "1e", "1e999", "1.5e308", "-0.0e-5",
                                        "[[[[", "]]", "{}", "[]", "null", "tru", "\xc3\xa9", "\xed\xa0\x80", "\x01",
                                        "\\\"", "\\/", ",", ":", "\t", "123456789012345678901234567890"};

static std::string mutate(const std::string& base, Rng& rng) {
    std::string s = base;
    const int steps = 1 + static_cast<int>(rng.below(3));
    for (int k = 0; k < steps; ++k) {
        const size_t pos = rng.below(s.size() + 1);
        switch (rng.below(7)) {
            case 0:  // flip a byte
                if (!s.empty()) s[rng.below(s.size())] = kBytes[rng.below(sizeof(kBytes))];
                break;
            case 1:  // insert a byte
                s.insert(pos, 1, kBytes[rng.below(sizeof(kBytes))]);
                break;
            case 2:  // delete a run
                if (!s.empty()) s.erase(rng.below(s.size()), 1 + rng.below(3));
                break;
            case 3:  // truncate
                s.resize(rng.below(s.size() + 1));
                break;
            case 4:  // insert a snippet
                s.insert(pos, kSnippets[rng.below(sizeof(kSnippets) / sizeof(kSnippets[0]))]);
                break;
            case 5:  // replace a character of a kind near pos with a snippet
            {
                const size_t q = s.find_first_of("\"0123456789:,[{", pos);
                if (q != std::string::npos) s.replace(q, 1, kSnippets[rng.below(sizeof(kSnippets) / sizeof(kSnippets[0]))]);
                break;
            }
            default:  // flip a bit
                if (!s.empty()) s[rng.below(s.size())] ^= static_cast<char>(1u << rng.below(8));
        }
    }
    return s;
}

static std::vector<std::string> load_records() {
    std::vector<std::string> out;
    // Next to this source file, wherever the test runs from.
    std::string dir = __FILE__;
    dir = dir.substr(0, dir.rfind('/') + 1) + "../../tests/data/records";
    if (DIR* d = opendir(dir.c_str())) {
        std::vector<std::string> names;
        while (dirent* e = readdir(d)) {
            const std::string n = e->d_name;
            if (n.size() > 5 && n.compare(n.size() - 5, 5, ".json") == 0) names.push_back(n);
        }
        closedir(d);
        std::sort(names.begin(), names.end());
        for (const std::string& n : names) {
            std::ifstream f(dir + "/" + n, std::ios::binary);
            std::stringstream ss;
            ss << f.rdbuf();
            out.push_back(ss.str());
        }
    }
    return out;
}

int main() {
    std::vector<std::string> bases = load_records();
    const size_t from_files = bases.size();
    CHECK(from_files >= 10, "expected the records of tests/data/records, found %zu", from_files);
    for (const char* r : kBenchRecords) bases.push_back(r);
    // A pretty-printed record: whitespace between every token.
    {
        std::string pretty;
        for (char c : std::string(kBenchRecords[0])) {
            pretty += c;
            if (c == ',' || c == '{' || c == '[' || c == ':') pretty += "\n  ";
        }
        bases.push_back(pretty);
    }

    std::vector<std::string> corpus(bases);
    for (const char* e : kEdgeCases) corpus.push_back(e);
    corpus.push_back(std::string("{\"a\":\"x\0y\"}", 11));
    // Nesting: at the cap, over it, 10,000 deep (closed, unterminated), inside a record.
    for (size_t depth : {1023, 1024, 1025, 10000}) {
        corpus.push_back(std::string(depth, '[') + std::string(depth, ']'));
        corpus.push_back(std::string(depth, '['));
        std::string objs;
        for (size_t i = 0; i < depth; ++i) objs += "{\"a\":";
        corpus.push_back(objs + "1" + std::string(depth, '}'));
        corpus.push_back(std::string(kBenchRecords[1]).substr(0, 50) + "\"deep\":" + std::string(depth, '[') +
                         std::string(depth, ']') + "," + std::string(kBenchRecords[1]).substr(50));
    }
    // Long strings around the 16-byte scan blocks, with a special byte at every position.
    for (size_t len = 0; len < 40; ++len) {
        for (const char* special : {"\\n", "\\u00e9", "\x01", "\\q", "\\ud800"}) {
            std::string body(len, 'a');
            corpus.push_back("{\"k\":\"" + body + special + body + "\"}");
        }
    }

    Rng rng{0x9E3779B97F4A7C15ull};
    const int kPerBase = 600;
    for (const std::string& b : bases)
        for (int i = 0; i < kPerBase; ++i) corpus.push_back(mutate(b, rng));
    for (const char* e : kEdgeCases)
        for (int i = 0; i < 20; ++i) corpus.push_back(mutate(e, rng));

    ctb::Record rec;
    old::Tape tape;
    size_t accepted = 0;
    for (const std::string& in : corpus) {
        compare_record(rec, tape, in);
        accepted += rec.ok();
        compare_strict(in);
    }
    std::printf("json diff: %zu inputs (%zu records from files, %zu bases), %zu accepted as records, %ld comparisons, "
                "%ld tolerated (0x1A-0x1F alignment quirk), %d failures\n",
                corpus.size(), from_files, bases.size(), accepted, g_checked, g_quirk_skipped, g_fail);
    CHECK(accepted > bases.size(), "mutations should leave some records valid");
    CHECK(accepted < corpus.size() / 2, "most mutations should break the JSON");
    return g_fail ? 1 : 0;
}
