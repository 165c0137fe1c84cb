// Native tests for the tape (record.cpp) and the extractor (extract.cpp, info.cpp), plus a
// throughput measurement: `test_extract --bench [N]`.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "../src/extract.h"
#include "../src/record.h"

using ctb::JType;
using ctb::kNone;
using ctb::Record;

static int g_fail = 0, g_pass = 0;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (cond) {                                                        \
            ++g_pass;                                                      \
        } else {                                                           \
            ++g_fail;                                                      \
            std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);    \
        }                                                                  \
    } while (0)
#define CHECK_EQ(a, b)                                                                       \
    do {                                                                                     \
        const std::string va_(a), vb_(b);                                                    \
        if (va_ == vb_) {                                                                    \
            ++g_pass;                                                                        \
        } else {                                                                             \
            ++g_fail;                                                                        \
            std::printf("FAIL %s:%d: %s\n  got:  [%s]\n  want: [%s]\n", __FILE__, __LINE__, \
                        #a, va_.c_str(), vb_.c_str());                                       \
        }                                                                                    \
    } while (0)

// Field name -> id, read back from the generated plugin_get_fields JSON.
static std::map<std::string, uint32_t> field_ids() {
    Record r;
    std::string err;
    const char* j = ctb::fields_json();
    std::map<std::string, uint32_t> ids;
    if (!r.parse(j, std::strlen(j), err)) {
        std::printf("FAIL fields_json is not JSON: %s\n", err.c_str());
        ++g_fail;
        return ids;
    }
    uint32_t i = 0;
    for (uint32_t e = r.first_child(r.root()); e != kNone; e = r.next_sibling(e), ++i) {
        ids[std::string(r.text(r.member(e, "name")))] = i;
    }
    return ids;
}

struct Harness {
    ctb::Extractor ex;
    std::map<std::string, uint32_t> ids = field_ids();
    uint64_t evtnum = 0;

    // One field of a fresh event: "<absent>", the string, the number, or "[a|b]" for lists.
    std::string get(const std::string& json, const std::string& field, const char* key = nullptr,
                     int64_t index = -1, std::string* err_out = nullptr) {
        ss_plugin_extract_field f{};
        f.field_id = ids.count(field) ? ids[field] : 9999;
        f.field = field.c_str();
        f.arg_key = key;
        f.arg_present = key != nullptr || index >= 0;
        f.arg_index = index >= 0 ? static_cast<uint64_t>(index) : 0;
        ss_plugin_field_extract_input in{};
        in.num_fields = 1;
        in.fields = &f;
        std::string err;
        if (ex.extract(json.data(), json.size(), ++evtnum, &in, err) != SS_PLUGIN_SUCCESS) {
            if (err_out) *err_out = err;
            return "<error>";
        }
        if (f.res_len == 0) return "<absent>";
        const bool num = field.rfind("s3.bytes", 0) == 0 || field.rfind("s3.cnt", 0) == 0;
        if (num) return std::to_string(f.res.u64[0]);
        if (field == "ec2.imageids" && index < 0) {
            std::string s = "[";
            for (uint64_t k = 0; k < f.res_len; ++k) s += (k ? "|" : "") + std::string(f.res.str[k]);
            return s + "]";
        }
        return f.res.str[0];
    }
};

static void test_tape() {
    Record r;
    std::string err;
    const std::string j = "  {\"a\" : [1, 2.50 ,\"x\\u00e9\"], \"b\":{\"c\":null} ,\"a\":true}\n";
    CHECK(r.parse(j.data(), j.size(), err));
    const uint32_t root = r.root();
    CHECK(r.type(root) == JType::object);
    CHECK_EQ(r.raw(root), "{\"a\" : [1, 2.50 ,\"x\\u00e9\"], \"b\":{\"c\":null} ,\"a\":true}");
    CHECK(r.count(root) == 3);
    const uint32_t a = r.member(root, "a");  // first occurrence wins
    CHECK(r.type(a) == JType::array);
    CHECK_EQ(r.raw(a), "[1, 2.50 ,\"x\\u00e9\"]");
    CHECK_EQ(r.raw(r.element(a, 1)), "2.50");
    CHECK_EQ(r.raw(r.element(a, 2)), "\"x\\u00e9\"");
    CHECK_EQ(r.text(r.element(a, 2)), "x\xC3\xA9");
    CHECK(r.element(a, 3) == kNone);
    CHECK_EQ(r.raw(r.path({"b", "c"})), "null");
    CHECK(r.path({"b", "zz"}) == kNone);
    CHECK(r.path({"a", "x"}) == kNone);  // stepping into an array by name is missing
    std::string out;
    r.compact(root, out);
    CHECK_EQ(out, "{\"a\":[1,2.50,\"x\\u00e9\"],\"b\":{\"c\":null},\"a\":true}");

    // Escaped member names match after decoding; whitespace inside strings is kept by compact.
    const std::string k = "{\"na\\u006de\": \"a b\\\" c\", \"t\": \"\\ud83d\\ude00 \\/\"}";
    CHECK(r.parse(k.data(), k.size(), err));
    CHECK_EQ(r.text(r.member(r.root(), "name")), "a b\" c");
    CHECK_EQ(r.text(r.member(r.root(), "t")), "\xF0\x9F\x98\x80 /");
    out.clear();
    r.compact(r.root(), out);
    CHECK_EQ(out, "{\"na\\u006de\":\"a b\\\" c\",\"t\":\"\\ud83d\\ude00 \\/\"}");

    // Malformed escapes are kept as written (fastjson best effort), not a parse error.
    const std::string m = "{\"a\":\"x\\qy\\u12\\ud800z\"}";
    CHECK(r.parse(m.data(), m.size(), err));
    CHECK_EQ(r.text(r.member(r.root(), "a")), "x\\qy\\u12\\ud800z");

    // JSON pointers.
    const std::string p = "{\"a/b\":{\"m~n\":[10,{\"x\":\"y\"}]},\"\":5}";
    CHECK(r.parse(p.data(), p.size(), err));
    bool bad = false;
    CHECK_EQ(r.raw(r.pointer("/a~1b/m~0n/1/x", bad)), "\"y\"");
    CHECK_EQ(r.raw(r.pointer("/a~1b/m~0n/0", bad)), "10");
    CHECK(r.pointer("/a~1b/m~0n/01", bad) == kNone);
    CHECK(r.pointer("/a~1b/m~0n/-", bad) == kNone);
    CHECK_EQ(r.raw(r.pointer("/", bad)), "5");
    CHECK(r.pointer("", bad) == r.root() && !bad);
    r.pointer("a", bad);
    CHECK(bad);
    r.pointer("/a~2", bad);
    CHECK(bad);

    // Invalid JSON names the problem and the offset.
    const std::string bad1 = "{\"a\":1,}";
    CHECK(!r.parse(bad1.data(), bad1.size(), err));
    CHECK(err.find("offset 7") != std::string::npos);
    const std::string bad2 = "{\"a\":1} x";
    CHECK(!r.parse(bad2.data(), bad2.size(), err));
    CHECK(err.find("invalid JSON at offset 8") == 0);
    const std::string bad3 = std::string("{\"a\":1}\0{}", 10);
    CHECK(!r.parse(bad3.data(), bad3.size(), err));
    CHECK_EQ(err, "invalid JSON at offset 7: NUL byte");
    CHECK(!r.parse("", 0, err));
    CHECK(err.find("offset 0") != std::string::npos);

    // Depth cap: 1024 levels parse, 1025 do not, and a million do not crash.
    std::string deep(1024, '[');
    deep += std::string(1024, ']');
    CHECK(r.parse(deep.data(), deep.size(), err));
    deep = std::string(1025, '[') + std::string(1025, ']');
    CHECK(!r.parse(deep.data(), deep.size(), err));
    CHECK(err.find("nesting deeper than 1024 levels") != std::string::npos);
    deep = std::string(1000000, '[');
    CHECK(!r.parse(deep.data(), deep.size(), err));
}

static const char* kRunInstances = R"({"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::123456789012:user/ops-deployer","accountId":"123456789012","userName":"ops-deployer"},"eventTime":"2024-05-01T10:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","awsRegion":"us-west-2","sourceIPAddress":"192.0.2.55","userAgent":"aws-cli/2.15.0","requestParameters":{"instancesSet":{"items":[{"imageId":"ami-A","minCount":2,"maxCount":2}]},"availabilityZone":"us-west-2b","subnetId":"subnet-S","tagSpecificationSet":{"items":[{"resourceType":"volume","tags":[{"key":"Name","value":"web-root-vol"}]},{"resourceType":"instance","tags":[{"key":"env","value":"prod"},{"key":"Name","value":"web-01"}]}]}},"responseElements":{"reservationId":"r-R","instancesSet":{"items":[{"instanceId":"i-1","imageId":"ami-A","subnetId":"subnet-S"},{"instanceId":"i-2","imageId":"ami-A","subnetId":"subnet-S"}]}},"requestID":"req-1","eventID":"evt-1","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123456789012","eventCategory":"Management"})";

static void test_fields() {
    Harness h;
    CHECK(ctb::field_count() == 78);
    CHECK(h.ids.size() == 78);
    CHECK(h.ids["ct.id"] == 0 && h.ids["iam.policy"] == 72 && h.ids["ctb.value"] == 73);

    const std::string ri = kRunInstances;
    CHECK_EQ(h.get(ri, "ec2.name"), "web-01");
    CHECK_EQ(h.get(ri, "ec2.imageids"), "[ami-A|ami-A]");
    CHECK_EQ(h.get(ri, "ec2.imageids", nullptr, 1), "ami-A");
    CHECK_EQ(h.get(ri, "ec2.imageids", nullptr, 2), "<absent>");
    CHECK_EQ(h.get(ri, "ec2.imageid"), "ami-A");
    CHECK_EQ(h.get(ri, "ct.response.reservationid"), "r-R");
    CHECK_EQ(h.get(ri, "ct.response.subnetid"), "<absent>");
    CHECK_EQ(h.get(ri, "ct.request.subnetid"), "subnet-S");
    CHECK_EQ(h.get(ri, "s3.cnt.other"), "1");
    CHECK_EQ(h.get(ri, "s3.cnt.get"), "<absent>");
    CHECK_EQ(h.get(ri, "ct.info"), "ops-deployer via 192.0.2.55 \xE2\x86\x92 RunInstances");
    CHECK_EQ(h.get(ri, "ct.readonly"), "false");
    CHECK_EQ(h.get(ri, "ctb.value", "/responseElements/instancesSet/items/1/instanceId"), "i-2");
    CHECK_EQ(h.get(ri, "ctb.value", "/requestParameters/instancesSet/items/0/minCount"), "2");
    CHECK_EQ(h.get(ri, "ctb.value", "/nope"), "<absent>");
    std::string err;
    CHECK_EQ(h.get(ri, "ctb.value", "nope", -1, &err), "<error>");
    CHECK(err.find("invalid JSON pointer") != std::string::npos);
    CHECK_EQ(h.get(ri, "ctb.value", nullptr, -1, &err), "<error>");
    CHECK_EQ(h.get(ri, "no.such.field", nullptr, -1, &err), "<error>");
    CHECK(err.find("unknown field id 9999") == 0);

    // Rules S, B, N, J on one small record.
    const std::string j = R"({"eventName":"GetObject","errorCode":null,"readOnly":"true","requestParameters" : { "bucketName" : "b" , "key" : 7 },"additionalEventData":{"bytesTransferredIn":33.0,"bytesTransferredOut":"12"}})";
    CHECK_EQ(h.get(j, "ct.error"), "");
    CHECK_EQ(h.get(j, "ct.readonly"), "false");
    CHECK_EQ(h.get(j, "s3.key"), "");
    CHECK_EQ(h.get(j, "s3.uri"), "<absent>");
    CHECK_EQ(h.get(j, "s3.bytes.in"), "33");
    CHECK_EQ(h.get(j, "s3.bytes.out"), "0");
    CHECK_EQ(h.get(j, "s3.bytes"), "33");
    CHECK_EQ(h.get(j, "s3.cnt.get"), "1");
    CHECK_EQ(h.get(j, "s3.cnt.other"), "<absent>");
    CHECK_EQ(h.get(j, "ct.request"), R"({"bucketName":"b","key":7})");
    CHECK_EQ(h.get(j, "ct.info"), "<invalid cloudtrail event: userIdentity field missing>");

    // NUL bytes around the payload are trimmed for extraction, but not for evt.plugininfo.
    const std::string nul = std::string("\0\0", 2) + j + std::string("\0", 1);
    CHECK_EQ(h.get(nul, "ct.name"), "GetObject");
    CHECK(std::string(h.ex.to_string(nul.data(), nul.size())).rfind("<invalid JSON: %!s(MISSING)>invalid JSON at offset 0", 0) == 0);
    CHECK_EQ(h.get("{\"a\":", "ct.name", nullptr, -1, &err), "<error>");
    CHECK(err.find("invalid JSON at offset 5") == 0);

    CHECK_EQ(h.ex.to_string(ri.data(), ri.size()),
             "us-west-2 ops-deployer ec2 RunInstances ops-deployer via 192.0.2.55 \xE2\x86\x92 RunInstances");

    // Several fields in one call: every value stays valid until the next call.
    std::vector<ss_plugin_extract_field> fs(4);
    const char* names[] = {"ct.user", "ec2.imageids", "s3.cnt.other", "ct.request.availabilityzone"};
    for (int i = 0; i < 4; ++i) fs[i].field_id = h.ids[names[i]];
    ss_plugin_field_extract_input in{};
    in.num_fields = 4;
    in.fields = fs.data();
    CHECK(h.ex.extract(ri.data(), ri.size(), 7, &in, err) == SS_PLUGIN_SUCCESS);
    CHECK_EQ(fs[0].res.str[0], "ops-deployer");
    CHECK(fs[1].res_len == 2);
    CHECK_EQ(fs[1].res.str[1], "ami-A");
    CHECK(fs[2].res.u64[0] == 1);
    CHECK_EQ(fs[3].res.str[0], "us-west-2b");
}

static void bench(int n) {
    std::string rec = kRunInstances;  // ~1.5 KB
    rec.insert(rec.size() - 1, R"(,"tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"ec2.us-west-2.amazonaws.com"})");
    rec.insert(rec.size() - 1, R"(,"resources":[{"accountId":"123456789012","type":"AWS::EC2::Instance","ARN":"arn:aws:ec2:us-west-2:123456789012:instance/i-1"}],"additionalEventData":{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","AuthenticationMethod":"AuthHeader"},"sharedEventID":"0a1b2c3d-5555-4e6f-8a9b-0c1d2e3f0003")");
    Harness h;
    const char* names[] = {"ct.name", "ct.src", "ct.user", "ct.srcip", "ct.error", "ct.region",
                           "ct.readonly", "ec2.imageids", "ct.request.subnetid", "ct.user.arn"};
    std::vector<ss_plugin_extract_field> fs(10);
    for (int i = 0; i < 10; ++i) fs[i].field_id = h.ids[names[i]];
    ss_plugin_field_extract_input in{};
    in.fields = fs.data();
    std::string err;
    for (int pass = 0; pass < 3; ++pass) {
        in.num_fields = pass == 0 ? 0 : (pass == 1 ? 10 : 1);
        const auto t0 = std::chrono::steady_clock::now();
        uint64_t sink = 0;
        for (int i = 0; i < n; ++i) {
            if (pass == 2) {
                // Falco asks one field per call: 10 calls on the same event hit the cache.
                for (int k = 0; k < 10; ++k) {
                    in.fields = &fs[k];
                    h.ex.extract(rec.data(), rec.size(), 1000 + i, &in, err);
                    sink += fs[k].res_len;
                }
            } else {
                h.ex.extract(rec.data(), rec.size(), 1000 + i + pass * n, &in, err);
                sink += in.num_fields ? fs[0].res_len : 0;
            }
        }
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const char* what[] = {"parse only", "parse + 10 fields (one call)", "parse + 10 fields (10 calls)"};
        std::printf("%-30s %zu-byte record: %9.0f events/s (%.2f us/event) [%llu]\n", what[pass], rec.size(),
                    n / s, s * 1e6 / n, static_cast<unsigned long long>(sink));
        in.fields = fs.data();
    }
}

int main(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], "--bench") == 0) {
        bench(argc > 2 ? std::atoi(argv[2]) : 1000000);
        return 0;
    }
    test_tape();
    test_fields();
    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
