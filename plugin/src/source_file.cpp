// file://PATH: CloudTrail log files ({"Records":[...]}, optionally gzipped), JSON-lines files,
// or a directory of them walked recursively in lexical order. Each record is handed on as its
// original bytes; bad input is logged, counted and skipped, never fatal.
#include <libdeflate.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "json_scan.h"
#include "source.h"

namespace fs = std::filesystem;

namespace ctb {
namespace {

constexpr size_t kMaxFileBytes = size_t(1) << 30;  // decompressed; guards against gzip bombs
constexpr size_t kMaxDeflateRatio = 1032;         // deflate's largest output per input byte
constexpr int kLogPerKind = 10;                     // per file and kind, then one summary line

const char* const kSuffixes[] = {".json", ".json.gz", ".jsonl", ".jsonl.gz"};

bool ends_with(const std::string& s, const char* suffix) {
    size_t n = std::strlen(suffix);
    return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

bool wanted(const std::string& name) {
    for (const char* s : kSuffixes)
        if (ends_with(name, s)) return true;
    return false;
}

bool is_jsonl(const std::string& name) { return ends_with(name, ".jsonl") || ends_with(name, ".jsonl.gz"); }

// ---- eventTime ------------------------------------------------------------------------------

bool digits(const char* p, int n, int& out) {
    out = 0;
    for (int i = 0; i < n; ++i) {
        if (p[i] < '0' || p[i] > '9') return false;
        out = out * 10 + (p[i] - '0');
    }
    return true;
}

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// RFC 3339 ("2024-05-01T12:00:00Z", "...T12:00:00.123456789+02:00") to ns since the epoch.
// Times before 1970 are rejected: a Falco timestamp is unsigned.
bool parse_rfc3339_ns(const char* s, size_t n, uint64_t& out) {
    int y, mo, d, h, mi, se;
    if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') return false;
    if (!digits(s, 4, y) || !digits(s + 5, 2, mo) || !digits(s + 8, 2, d) || !digits(s + 11, 2, h) ||
        !digits(s + 14, 2, mi) || !digits(s + 17, 2, se))
        return false;
    static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59) return false;
    if (d > kDays[mo - 1] + (mo == 2 && leap(y) ? 1 : 0)) return false;
    size_t i = 19;
    uint64_t frac = 0;
    if (i < n && s[i] == '.') {
        size_t start = ++i;
        int kept = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (kept < 9) {
                frac = frac * 10 + static_cast<uint64_t>(s[i] - '0');
                ++kept;
            }
            ++i;
        }
        if (i == start) return false;
        for (; kept < 9; ++kept) frac *= 10;
    }
    int64_t offset_s = 0;
    if (i < n && s[i] == 'Z') {
        ++i;
    } else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh, om;
        if (!digits(s + i + 1, 2, oh) || !digits(s + i + 4, 2, om) || oh > 23 || om > 59) return false;
        offset_s = (oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return false;
    }
    if (i != n) return false;
    int64_t secs = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600 +
                   mi * 60 + se - offset_s;
    if (secs < 0 || secs > int64_t(18446744073)) return false;
    const unsigned __int128 ns = static_cast<unsigned __int128>(secs) * 1000000000u + frac;
    if (ns > UINT64_MAX) return false;
    out = static_cast<uint64_t>(ns);
    return true;
}

// ---- splitting ------------------------------------------------------------------------------

struct Span {
    size_t off;
    size_t len;
    uint64_t ts;
};

// What one record's top-level eventTime / eventType look like (first occurrence wins). The texts
// view the file buffer, or the splitter's store when they had escapes.
struct Keys {
    bool has_time = false, time_is_string = false, has_type = false, type_is_string = false;
    std::string_view time, type;
};

// Tokenizer handler (json_scan.h) that finds the records and their byte spans in one pass.
// Records are the object elements of a top-level "Records" array, the elements of a top-level
// array, or (failing both) the top-level object itself.
class Splitter {
public:
    struct Found {
        size_t off, len;
        Keys keys;
    };
    explicit Splitter(const char* origin) : origin_(origin) {}

    std::vector<Found> found;
    size_t non_objects = 0;          // elements of the records array that are not objects
    bool records_not_array = false;  // a "Records" key whose value is not an array

    bool open(bool object, const char* at) {
        if (object) {
            value_at(depth_);
            if (depth_ == 0) {
                root_object_ = true;
                begin_record(at);
            } else if (depth_ == records_depth_) {
                begin_record(at);
            }
        } else {
            if (depth_ == 0) {
                records_depth_ = 1;
            } else if (depth_ == 1 && root_object_ && records_key_pending_) {
                records_depth_ = 2;
                records_key_pending_ = false;
            } else if (depth_ == records_depth_) {
                ++non_objects;
            }
            value_at(depth_);
        }
        ++depth_;
        return true;
    }
    void close(bool object, const char* at) {
        --depth_;
        if (!object || !in_record_ || depth_ != record_depth()) return;
        in_record_ = false;
        if (depth_ == 0 && (records_depth_ >= 0 || records_key_seen_)) return;  // the wrapper
        const size_t end = static_cast<size_t>(at - origin_) + 1;
        found.push_back({start_, end - start_, cur_});
    }
    void key(const char* q0, const char* q1, bool esc) {
        pending_ = Pending::none;
        const std::string_view k = text(q0, q1, esc);
        if (depth_ == 1 && root_object_ && records_depth_ < 0 && k == "Records") {
            records_key_pending_ = records_key_seen_ = true;
            return;
        }
        if (!in_record_ || depth_ != record_depth() + 1) return;
        if (k == "eventTime" && !cur_.has_time) {
            cur_.has_time = true;
            pending_ = Pending::time;
        } else if (k == "eventType" && !cur_.has_type) {
            cur_.has_type = true;
            pending_ = Pending::type;
        }
    }
    void string(const char* q0, const char* q1, bool esc) {
        if (pending_ != Pending::none && in_record_ && depth_ == record_depth() + 1) {
            if (pending_ == Pending::time) {
                cur_.time = text(q0, q1, esc);
                cur_.time_is_string = true;
            } else {
                cur_.type = text(q0, q1, esc);
                cur_.type_is_string = true;
            }
        }
        scalar();
    }
    void number(const char*, const char*) { scalar(); }
    void literal(json::Lit, const char*) { scalar(); }

private:
    enum class Pending { none, time, type };
    int record_depth() const { return records_depth_ >= 0 ? records_depth_ : 0; }
    void begin_record(const char* at) {
        in_record_ = true;
        start_ = static_cast<size_t>(at - origin_);
        cur_ = Keys{};
    }
    void scalar() {
        value_at(depth_);
        if (depth_ == records_depth_ && depth_ > 0) ++non_objects;
    }
    // A value arrived at `depth`: it settles any key waiting for it.
    void value_at(int depth) {
        if (depth == 1 && records_key_pending_) {
            records_key_pending_ = false;
            records_not_array = true;
        }
        pending_ = Pending::none;
    }
    // The decoded text of a string (strict mode: its escapes are all valid).
    std::string_view text(const char* q0, const char* q1, bool esc) {
        const std::string_view raw(q0 + 1, static_cast<size_t>(q1 - q0 - 1));
        if (!esc) return raw;
        decoded_.emplace_back();
        json::unescape_best_effort(raw, decoded_.back());
        return decoded_.back();
    }

    const char* origin_;  // offsets are counted from here
    int depth_ = 0;
    int records_depth_ = -1;  // depth of the values that are records' containers' elements
    bool root_object_ = false;
    bool records_key_pending_ = false;
    bool records_key_seen_ = false;
    bool in_record_ = false;
    size_t start_ = 0;
    Keys cur_;
    Pending pending_ = Pending::none;
    std::deque<std::string> decoded_;  // stable: Keys view these
};

// ---- the source -----------------------------------------------------------------------------

class FileSource : public Source {
public:
    FileSource(std::vector<std::string> files, const Config& cfg, Stats& stats, LogFn log)
        : files_(std::move(files)), cfg_(cfg), stats_(stats), log_(std::move(log)) {}
    ~FileSource() override {
        if (deflate_) libdeflate_free_decompressor(deflate_);
    }
    FileSource(const FileSource&) = delete;
    FileSource& operator=(const FileSource&) = delete;

    Rc next(std::vector<Record>& out, size_t max, std::string&) override {
        size_t added = 0;
        while (added < max) {
            if (cursor_ >= spans_.size()) {
                // The records handed out are views into buf_: a batch ends with its file.
                if (added > 0 || !load_next_file()) break;
                continue;
            }
            const Span& sp = spans_[cursor_++];
            out.push_back(Record{sp.ts, {}, std::string_view(buf_.data() + sp.off, sp.len)});
            ++added;
        }
        if (added > 0) return Rc::ok;
        return Rc::eof;
    }

    uint32_t progress(std::string& text) override {
        if (files_.empty()) {
            text = "0/0 files";
            return 10000;
        }
        size_t done = file_index_;  // files fully loaded so far
        double within = 0;
        if (done > 0 && cursor_ < spans_.size()) {
            --done;  // the current file is still being delivered
            within = spans_.empty() ? 1.0 : static_cast<double>(cursor_) / static_cast<double>(spans_.size());
        }
        text = std::to_string(done) + "/" + std::to_string(files_.size()) + " files";
        double frac = (static_cast<double>(done) + within) / static_cast<double>(files_.size());
        return static_cast<uint32_t>(frac * 10000.0 + 0.5);
    }

private:
    void log(int sev, const std::string& msg) {
        if (log_) log_(sev, msg);
    }
    void bad_input(const std::string& file, const std::string& problem) {
        stats_.bad_inputs.fetch_add(1, std::memory_order_relaxed);
        log(3, file + ": " + problem);
    }

    // Rate-limited per-record complaints: the first few in full, then a count per file.
    struct Complaints {
        int shown = 0;
        size_t hidden = 0;
    };
    void complain(Complaints& c, int sev, const std::string& msg) {
        if (c.shown < kLogPerKind) {
            ++c.shown;
            log(sev, msg);
        } else {
            ++c.hidden;
        }
    }

    bool read_file(const std::string& path, std::string& problem) {
        buf_.clear();
        if (!slurp(path, raw_, problem)) return false;
        bool gz = raw_.size() >= 2 && static_cast<unsigned char>(raw_[0]) == 0x1f &&
                  static_cast<unsigned char>(raw_[1]) == 0x8b;
        if (!gz) {
            if (ends_with(path, ".gz")) {
                problem = "not gzip data (no gzip header) despite the .gz name";
                return false;
            }
            buf_.swap(raw_);
            return true;
        }
        // libdeflate is about twice as fast as zlib but all-or-nothing; a damaged file goes
        // through zlib's streaming inflate, which keeps the good prefix and names the problem.
        return gunzip_fast() || gunzip_stream(problem);
    }

    static bool slurp(const std::string& path, std::string& out, std::string& problem) {
        out.clear();
        FILE* f = std::fopen(path.c_str(), "rb");
        if (!f) {
            problem = std::string("cannot open: ") + std::strerror(errno);
            return false;
        }
        char chunk[1 << 16];
        size_t got;
        bool ok = true;
        while ((got = std::fread(chunk, 1, sizeof chunk, f)) > 0) {
            if (out.size() + got > kMaxFileBytes) {
                problem = "larger than the 1 GiB limit per file";
                ok = false;
                break;
            }
            out.append(chunk, got);
        }
        if (ok && std::ferror(f)) {
            problem = std::string("read error: ") + std::strerror(errno);
            ok = false;
        }
        std::fclose(f);
        return ok;
    }

    // Every gzip member of raw_ into buf_ with libdeflate; false (buf_ unspecified) on any problem.
    bool gunzip_fast() {
        if (!deflate_) deflate_ = libdeflate_alloc_decompressor();
        if (!deflate_) return false;
        const char* in = raw_.data();
        size_t left = raw_.size(), produced = 0;
        // The trailer's ISIZE is the last member's size mod 2^32: exact for the usual single member.
        size_t guess = 0;
        if (left >= 4) std::memcpy(&guess, in + left - 4, 4);  // little-endian host (x86_64, arm64)
        // ISIZE is written by whoever made the file: never trust it beyond what deflate can
        // produce (at most 1032 bytes per input byte), or a 20-byte file claiming 4 GiB would make
        // us allocate (and zero) the whole 1 GiB limit up front (found by fuzz_file_source).
        guess = std::min(guess, left * kMaxDeflateRatio);
        buf_.resize(std::min(std::max(guess, left * 4) + 64, kMaxFileBytes));
        while (left > 0) {
            size_t in_used = 0, out_used = 0;
            libdeflate_result r = libdeflate_gzip_decompress_ex(deflate_, in, left, &buf_[produced],
                                                               buf_.size() - produced, &in_used, &out_used);
            if (r == LIBDEFLATE_INSUFFICIENT_SPACE) {
                if (buf_.size() >= kMaxFileBytes) return false;
                buf_.resize(std::min(buf_.size() * 2, kMaxFileBytes));
                continue;
            }
            if (r != LIBDEFLATE_SUCCESS || in_used == 0) return false;
            produced += out_used;
            in += in_used;
            left -= in_used;
        }
        buf_.resize(produced);
        return true;
    }

    // Streams the gzip members of raw_ into buf_. On corrupt data the good prefix stays in buf_.
    bool gunzip_stream(std::string& problem) {
        z_stream zs{};
        if (inflateInit2(&zs, 15 + 16) != Z_OK) {
            problem = "zlib init failed";
            return false;
        }
        buf_.resize(std::min(std::max<size_t>(raw_.size() * 8, 1 << 16), kMaxFileBytes));
        zs.next_in = reinterpret_cast<Bytef*>(raw_.data());
        zs.avail_in = static_cast<uInt>(raw_.size());  // <= 1 GiB, checked by slurp
        size_t produced = 0;
        bool ok = true, member_done = false;
        for (;;) {
            if (member_done) {
                if (zs.avail_in == 0) break;
                inflateReset(&zs);  // another gzip member follows (concatenated .gz)
                member_done = false;
            }
            if (produced == buf_.size()) {
                if (buf_.size() >= kMaxFileBytes) {
                    problem = "decompresses to more than the 1 GiB limit per file";
                    ok = false;
                    break;
                }
                buf_.resize(std::min(buf_.size() * 2, kMaxFileBytes));
            }
            zs.next_out = reinterpret_cast<Bytef*>(&buf_[produced]);
            zs.avail_out = static_cast<uInt>(std::min<size_t>(buf_.size() - produced, UINT32_MAX));
            uInt before = zs.avail_out;
            int rc = inflate(&zs, Z_NO_FLUSH);
            produced += before - zs.avail_out;
            if (rc == Z_STREAM_END) {
                member_done = true;
            } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
                problem = std::string("corrupt gzip data: ") + (zs.msg ? zs.msg : "inflate error " + std::to_string(rc));
                ok = false;
                break;
            } else if (zs.avail_in == 0 && zs.avail_out != 0) {
                break;  // all input used, output not full: the data ends inside a member
            }
        }
        if (ok && !member_done) {
            problem = "truncated gzip data (the stream ends early)";
            ok = false;
        }
        inflateEnd(&zs);
        buf_.resize(produced);
        return ok;
    }

    // Loads and splits the next file that has records; false once every file is done.
    bool load_next_file() {
        while (file_index_ < files_.size()) {
            const std::string& path = files_[file_index_++];
            spans_.clear();
            cursor_ = 0;
            std::string problem;
            bool whole = read_file(path, problem);
            if (!whole) {
                bad_input(path, problem + (buf_.empty() ? "; file skipped" : "; the rest of the file is skipped"));
                trim_partial_tail(path);
            }
            if (is_jsonl(path)) {
                split_lines(path);
            } else {
                split_document(path, whole);
            }
            if (!spans_.empty()) return true;
        }
        std::string().swap(buf_);  // done: give the memory back before close
        std::vector<uint8_t>().swap(kinds_);
        return false;
    }

    // After a read error only complete lines/records of the good prefix are used.
    void trim_partial_tail(const std::string& path) {
        if (is_jsonl(path)) {
            size_t nl = buf_.rfind('\n');
            buf_.resize(nl == std::string::npos ? 0 : nl + 1);
        }
    }

    // Turns one record's keys into a Span, or counts why it is skipped.
    void accept(const std::string& where, size_t off, size_t len, const Keys& k, Complaints& no_time,
                Complaints& no_type, Complaints& too_large) {
        if (len > cfg_.max_record_bytes) {
            stats_.skipped_too_large.fetch_add(1, std::memory_order_relaxed);
            complain(too_large, 4,
                     where + ": skipped, " + std::to_string(len) + " bytes is over maxRecordBytes " +
                         std::to_string(cfg_.max_record_bytes));
            return;
        }
        uint64_t ts = 0;
        if (!k.time_is_string || !parse_rfc3339_ns(k.time.data(), k.time.size(), ts)) {
            stats_.skipped_no_time.fetch_add(1, std::memory_order_relaxed);
            std::string why = !k.has_time ? "no eventTime"
                              : !k.time_is_string ? "eventTime is not a string"
                                                  : "eventTime '" + std::string(k.time.substr(0, 64)) + "' is not RFC 3339";
            complain(no_time, 4, where + ": skipped, " + why);
            return;
        }
        if (!k.type_is_string) {
            stats_.skipped_no_type.fetch_add(1, std::memory_order_relaxed);
            complain(no_type, 4, where + ": skipped, " + (k.has_type ? "eventType is not a string" : "no eventType"));
            return;
        }
        if (cfg_.skip_insights && k.type == "AwsCloudTrailInsight") {
            stats_.skipped_insight.fetch_add(1, std::memory_order_relaxed);  // expected; not logged
            return;
        }
        spans_.push_back(Span{off, len, ts});
    }

    void summarize(const std::string& path, const Complaints& c, const char* what) {
        if (c.hidden > 0)
            log(4, path + ": " + std::to_string(c.hidden) + " more records skipped (" + what + ") not listed");
    }

    void split_document(const std::string& path, bool whole) {
        size_t base = 0;
        if (buf_.size() >= 3 && std::memcmp(buf_.data(), "\xEF\xBB\xBF", 3) == 0) base = 3;  // UTF-8 BOM
        // The tokenizer reads padding past the end; a NUL ends the text there (or earlier).
        const size_t size = buf_.size();
        buf_.append(json::kPadding, '\0');
        Splitter sp(buf_.data());
        const json::Result res = json::scan<json::Strings::strict>(buf_.data() + base, sp, kinds_);
        buf_.resize(size);
        Complaints no_time, no_type, too_large;
        for (size_t i = 0; i < sp.found.size(); ++i) {
            const auto& f = sp.found[i];
            accept(path + " Records[" + std::to_string(i) + "]", f.off, f.len, f.keys, no_time, no_type, too_large);
        }
        summarize(path, no_time, "eventTime");
        summarize(path, no_type, "eventType");
        summarize(path, too_large, "too large");
        if (sp.records_not_array) bad_input(path, "\"Records\" is not an array; no records read");
        if (sp.non_objects > 0)
            bad_input(path, std::to_string(sp.non_objects) + " element(s) of the records array are not objects");
        // After a gzip error the JSON is cut short by design; that was reported already.
        if (!res.ok() && whole) {
            bad_input(path, std::string("invalid JSON at byte ") + std::to_string(res.offset + base) + ": " +
                                json::err_text(res.err) + " (" + std::to_string(sp.found.size()) +
                                " complete records before it were kept)");
        }
    }

    void split_lines(const std::string& path) {
        Complaints no_time, no_type, too_large, bad;
        size_t line_no = 0, pos = 0;
        // Each line is scanned with a NUL in place of its '\n' (restored after), padding after all.
        const size_t size = buf_.size();
        buf_.append(json::kPadding, '\0');
        while (pos < size) {
            size_t nl = buf_.find('\n', pos);
            size_t end = nl == std::string::npos || nl > size ? size : nl;
            ++line_no;
            size_t a = pos, b = end;
            pos = end + 1;
            while (a < b && std::strchr(" \t\r", buf_[a])) ++a;
            while (b > a && std::strchr(" \t\r", buf_[b - 1])) --b;
            if (a == b) continue;
            const std::string where = path + " line " + std::to_string(line_no);
            if (b - a > cfg_.max_record_bytes) {  // no need to parse what is dropped anyway
                accept(where, a, b - a, Keys{}, no_time, no_type, too_large);
                continue;
            }
            const char saved = buf_[end];
            buf_[end] = '\0';
            Splitter sp(buf_.data());
            const json::Result res = json::scan<json::Strings::strict>(buf_.data() + a, sp, kinds_);
            buf_[end] = saved;
            if (!res.ok()) {
                stats_.bad_inputs.fetch_add(1, std::memory_order_relaxed);
                complain(bad, 3,
                         where + ": invalid JSON at column " + std::to_string(res.offset + 1) + ": " +
                             json::err_text(res.err) + "; line skipped");
                continue;
            }
            if (sp.found.size() != 1 || sp.found[0].off != a || sp.found[0].len != b - a) {
                stats_.bad_inputs.fetch_add(1, std::memory_order_relaxed);
                complain(bad, 3, where + ": not a single JSON object; line skipped");
                continue;
            }
            accept(where, a, b - a, sp.found[0].keys, no_time, no_type, too_large);
        }
        summarize(path, no_time, "eventTime");
        summarize(path, no_type, "eventType");
        summarize(path, too_large, "too large");
        summarize(path, bad, "invalid lines");
        buf_.resize(size);
    }

    std::vector<std::string> files_;
    Config cfg_;
    Stats& stats_;
    LogFn log_;
    size_t file_index_ = 0;  // next file to load
    std::string buf_;        // the current file, decompressed
    std::string raw_;        // the current file as read
    libdeflate_decompressor* deflate_ = nullptr;
    std::vector<uint8_t> kinds_;  // the tokenizer's stack
    std::vector<Span> spans_;
    size_t cursor_ = 0;
};

// Lexical order within each directory, like Go's filepath.Walk (the official plugin).
void walk(const fs::path& dir, std::vector<std::string>& out, const LogFn& log, Stats& stats) {
    std::error_code ec;
    std::vector<fs::directory_entry> entries;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) entries.push_back(*it);
    if (ec) {
        stats.bad_inputs.fetch_add(1, std::memory_order_relaxed);
        if (log) log(3, dir.string() + ": cannot list directory: " + ec.message());
    }
    std::sort(entries.begin(), entries.end(), [](const fs::directory_entry& a, const fs::directory_entry& b) {
        return a.path().filename().string() < b.path().filename().string();
    });
    for (const auto& e : entries) {
        std::error_code ec2;
        if (e.is_directory(ec2) && !e.is_symlink(ec2)) {
            walk(e.path(), out, log, stats);
        } else if (e.is_regular_file(ec2) && wanted(e.path().filename().string())) {
            out.push_back(e.path().string());
        }
    }
}

}  // namespace

std::unique_ptr<Source> open_file_source(const std::string& path, const Config& cfg, Stats& stats, LogFn log,
                                         std::string& err) {
    std::error_code ec;
    fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st)) {
        err = "file://" + path + ": no such file or directory";
        return nullptr;
    }
    std::vector<std::string> files;
    if (fs::is_directory(st)) {
        walk(path, files, log, stats);
        if (files.empty()) {
            err = "file://" + path + ": directory holds no .json, .json.gz, .jsonl or .jsonl.gz files";
            return nullptr;
        }
    } else if (wanted(fs::path(path).filename().string())) {
        files.push_back(path);
    } else {
        err = "file://" + path + ": not a .json, .json.gz, .jsonl or .jsonl.gz file";
        return nullptr;
    }
    if (log) log(6, "file://" + path + ": reading " + std::to_string(files.size()) + " file(s)");
    return std::make_unique<FileSource>(std::move(files), cfg, stats, std::move(log));
}

}  // namespace ctb
