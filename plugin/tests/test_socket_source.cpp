// Native test of the unix:// source: a real listening Source driven from a thread (as Falco's
// plugin_next_batch would), and raw client sockets speaking docs/ingest-protocol.md.
// Links protocol.cpp + source_socket.cpp only.
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../src/protocol.h"
#include "../src/source.h"

using namespace ctb;

static int g_failures = 0;
#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            ++g_failures;                                                             \
        }                                                                             \
    } while (0)

namespace {

std::string g_dir;

Config test_config() {
    Config c;
    c.max_batch_events = 4;
    c.max_record_bytes = 1024;
    c.idle_timeout_ms = 20;
    c.socket_mode = 0660;
    return c;
}

// Runs next() in a loop on its own thread and collects what Falco would have received.
struct Driver {
    std::unique_ptr<Source> src;
    std::thread th;
    std::mutex mu;
    std::condition_variable cv;
    std::vector<Record> got;
    std::vector<std::string> logs;
    std::atomic<bool> stop{false};
    std::atomic<bool> eof{false};
    std::atomic<int> slow_calls{0};
    Stats stats;
    std::string path;

    explicit Driver(const std::string& name, Config cfg = test_config()) {
        path = g_dir + "/" + name;
        std::string err;
        src = open_socket_source(path, cfg, stats, [this](int, const std::string& m) {
            std::lock_guard<std::mutex> g(mu);
            logs.push_back(m);
        }, err);
        if (!src) {
            std::fprintf(stderr, "open_socket_source: %s\n", err.c_str());
            std::exit(2);
        }
        uint32_t idle = cfg.idle_timeout_ms;
        th = std::thread([this, idle] {
            std::vector<Record> out;
            while (!stop) {
                out.clear();
                std::string err;
                auto t0 = std::chrono::steady_clock::now();
                Rc rc = src->next(out, 4, err);
                auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
                if (ms > idle + 200) slow_calls++;
                {
                    std::lock_guard<std::mutex> g(mu);
                    for (auto& r : out) got.push_back(std::move(r));
                }
                cv.notify_all();
                if (rc == Rc::eof) {
                    eof = true;
                    cv.notify_all();
                    return;
                }
                if (rc == Rc::failure) std::fprintf(stderr, "next failed: %s\n", err.c_str());
            }
        });
    }
    ~Driver() { shutdown(); }
    void shutdown() {
        stop = true;
        if (th.joinable()) th.join();
        src.reset();
    }
    bool wait_records(size_t n, int ms = 3000) {
        std::unique_lock<std::mutex> g(mu);
        return cv.wait_for(g, std::chrono::milliseconds(ms), [&] { return got.size() >= n; });
    }
    bool wait_eof(int ms = 3000) {
        std::unique_lock<std::mutex> g(mu);
        return cv.wait_for(g, std::chrono::milliseconds(ms), [&] { return eof.load(); });
    }
    size_t count() {
        std::lock_guard<std::mutex> g(mu);
        return got.size();
    }
};

int connect_to(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

bool send_all(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
        ssize_t w = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
        if (w <= 0) return false;
        off += static_cast<size_t>(w);
    }
    return true;
}

// Reads exactly n bytes, waiting at most ms; false on timeout or EOF.
bool recv_exact(int fd, uint8_t* buf, size_t n, int ms) {
    size_t got = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (got < n) {
        int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        deadline - std::chrono::steady_clock::now()).count());
        pollfd p{fd, POLLIN, 0};
        if (left <= 0 || ::poll(&p, 1, left) <= 0) return false;
        ssize_t r = ::recv(fd, buf + got, n - got, 0);
        if (r <= 0) return false;
        got += static_cast<size_t>(r);
    }
    return true;
}

struct Frame {
    uint8_t type = 0;
    std::vector<uint8_t> body;
};

bool read_frame(int fd, Frame& f, int ms = 3000) {
    uint8_t hdr[5];
    if (!recv_exact(fd, hdr, 5, ms)) return false;
    uint32_t len = hdr[0] | (hdr[1] << 8) | (hdr[2] << 16) | (uint32_t(hdr[3]) << 24);
    f.type = hdr[4];
    f.body.assign(len - 1, 0);
    return len == 1 || recv_exact(fd, f.body.data(), len - 1, ms);
}

bool peer_closed(int fd, int ms = 3000) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, ms) <= 0) return false;
    char c;
    return ::recv(fd, &c, 1, 0) <= 0;
}

std::string hello(uint16_t version = 1) {
    std::string s;
    proto::encode_hello(s, version, "native-test");
    return s;
}

std::string batch(uint64_t seq, int n, int first_ts, const std::string& tag) {
    std::vector<std::pair<uint64_t, std::string>> recs;
    for (int i = 0; i < n; ++i)
        recs.emplace_back(uint64_t(first_ts + i), "{\"eventID\":\"" + tag + std::to_string(first_ts + i) + "\"}");
    std::string s;
    proto::encode_batch(s, seq, recs);
    return s;
}

// HELLO -> WELCOME; returns the socket, fills w.
int handshake(const std::string& path, proto::Welcome& w) {
    int fd = connect_to(path);
    CHECK(fd >= 0);
    CHECK(send_all(fd, hello()));
    Frame f;
    CHECK(read_frame(fd, f));
    CHECK(f.type == uint8_t(proto::Type::welcome));
    std::string err;
    CHECK(proto::decode_welcome(f.body.data(), f.body.size(), w, err));
    return fd;
}

// Reads frames until an ACK >= seq arrives (ACKs are cumulative).
bool wait_ack(int fd, uint64_t seq) {
    Frame f;
    while (read_frame(fd, f)) {
        uint64_t v = 0;
        std::string err;
        if (f.type != uint8_t(proto::Type::ack) || !proto::decode_u64(f.body.data(), f.body.size(), v, err)) return false;
        if (v >= seq) return true;
    }
    return false;
}

proto::Error read_error(int fd) {
    Frame f;
    proto::Error e;
    std::string err;
    // ACKs for batches taken before the error may come first.
    while (read_frame(fd, f) && f.type == uint8_t(proto::Type::ack)) {
    }
    if (f.type == uint8_t(proto::Type::error)) proto::decode_error(f.body.data(), f.body.size(), e, err);
    return e;
}

void test_frames_roundtrip() {
    std::string s;
    proto::encode_welcome(s, proto::Welcome{1, 42, 7, 512, 4096});
    uint8_t type;
    const uint8_t* body;
    size_t blen, flen;
    std::string err;
    CHECK(proto::peek_frame(reinterpret_cast<const uint8_t*>(s.data()), s.size(), type, body, blen, flen, err) ==
          proto::Peek::frame);
    CHECK(flen == s.size() && type == 2);
    proto::Welcome w;
    CHECK(proto::decode_welcome(body, blen, w, err) && w.instance_id == 42 && w.last_seq == 7 &&
          w.max_record_bytes == 4096);
    // Every truncation of a valid BATCH body is rejected, never read past.
    std::string b = batch(9, 3, 100, "x");
    proto::Batch out;
    for (size_t cut = 0; cut + 5 < b.size(); ++cut)
        CHECK(!proto::decode_batch(reinterpret_cast<const uint8_t*>(b.data()) + 5, cut, out, err));
    CHECK(proto::decode_batch(reinterpret_cast<const uint8_t*>(b.data()) + 5, b.size() - 5, out, err));
    CHECK(out.seq == 9 && out.records.size() == 3 && out.records[2].ts_ns == 102);
    // Trailing bytes are malformed too.
    std::string longer = b.substr(5) + "z";
    CHECK(!proto::decode_batch(reinterpret_cast<const uint8_t*>(longer.data()), longer.size(), out, err));
    CHECK(err.find("left over") != std::string::npos);
    // Length 0, > 64 MiB and unknown types are rejected from the header alone.
    const uint8_t zero[5] = {0, 0, 0, 0, 1};
    CHECK(proto::peek_frame(zero, 5, type, body, blen, flen, err) == proto::Peek::malformed);
    const uint8_t huge[5] = {1, 0, 0, 4, 3};
    CHECK(proto::peek_frame(huge, 5, type, body, blen, flen, err) == proto::Peek::malformed);
    const uint8_t unknown[5] = {1, 0, 0, 0, 9};
    CHECK(proto::peek_frame(unknown, 5, type, body, blen, flen, err) == proto::Peek::malformed);
    // A huge count with a tiny body does not reserve memory for it.
    std::string lie;
    lie.append("\x01\0\0\0\0\0\0\0", 8);
    lie.append("\xff\xff\xff\xff", 4);
    CHECK(!proto::decode_batch(reinterpret_cast<const uint8_t*>(lie.data()), lie.size(), out, err));
}

void test_session() {
    Driver d("session.sock");
    struct stat st;
    CHECK(::stat(d.path.c_str(), &st) == 0 && (st.st_mode & 0777) == 0660);
    proto::Welcome w;
    int fd = handshake(d.path, w);
    CHECK(w.version == 1 && w.last_seq == 0 && w.max_batch_events == 4 && w.max_record_bytes == 1024);
    CHECK(w.instance_id != 0);
    CHECK(send_all(fd, batch(1, 3, 100, "a") + batch(2, 4, 200, "b") + batch(3, 0, 0, "")));
    CHECK(d.wait_records(7));
    CHECK(wait_ack(fd, 3));
    {
        std::lock_guard<std::mutex> g(d.mu);
        CHECK(d.got.size() == 7);
        CHECK(d.got[0].ts_ns == 100 && d.got[0].payload == "{\"eventID\":\"a100\"}");
        CHECK(d.got[6].ts_ns == 203 && d.got[6].payload == "{\"eventID\":\"b203\"}");
    }
    std::string end;
    proto::encode_end(end);
    CHECK(send_all(fd, batch(4, 2, 300, "c")));
    CHECK(d.wait_records(9));
    CHECK(wait_ack(fd, 4));
    CHECK(send_all(fd, batch(5, 0, 0, "") + end));  // a trailing heartbeat is covered by BYE
    Frame f;
    uint64_t bye = 0;
    std::string err;
    while (read_frame(fd, f) && f.type == uint8_t(proto::Type::ack)) {
    }
    CHECK(f.type == uint8_t(proto::Type::bye) && proto::decode_u64(f.body.data(), f.body.size(), bye, err) && bye == 5);
    CHECK(peer_closed(fd));
    CHECK(d.wait_eof());
    CHECK(d.count() == 9);
    CHECK(d.stats.connections == 1 && d.stats.batches_acked == 5);
    CHECK(d.slow_calls == 0);
    ::close(fd);
    std::string path = d.path;
    d.shutdown();
    CHECK(::stat(path.c_str(), &st) != 0);  // removed on destroy
}

void test_bad_clients_keep_listening() {
    Driver d("bad.sock");
    // Garbage instead of a frame.
    int fd = connect_to(d.path);
    CHECK(send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    CHECK(read_error(fd).code == 2);
    CHECK(peer_closed(fd));
    ::close(fd);
    // A BATCH before HELLO.
    fd = connect_to(d.path);
    CHECK(send_all(fd, batch(1, 1, 1, "x")));
    proto::Error e = read_error(fd);
    CHECK(e.code == 2 && e.msg.find("HELLO") != std::string::npos);
    ::close(fd);
    // Wrong version.
    fd = connect_to(d.path);
    CHECK(send_all(fd, hello(2)));
    e = read_error(fd);
    CHECK(e.code == 1 && e.msg == "unsupported protocol version 2, plugin speaks 1");
    ::close(fd);
    // A BATCH whose count lies, after a good batch.
    proto::Welcome w;
    fd = handshake(d.path, w);
    std::string bad = batch(2, 2, 10, "y");
    bad[5 + 8] = 3;  // count 3, body holds 2
    CHECK(send_all(fd, batch(1, 1, 1, "x") + bad));
    e = read_error(fd);
    CHECK(e.code == 2 && e.msg.find("BATCH") != std::string::npos);
    ::close(fd);
    // Too many records, too large a record.
    fd = handshake(d.path, w);
    CHECK(send_all(fd, batch(5, 5, 1, "x")));
    CHECK(read_error(fd).code == 5);
    ::close(fd);
    fd = handshake(d.path, w);
    std::vector<std::pair<uint64_t, std::string>> big{{1, std::string(1025, 'x')}};
    std::string s;
    proto::encode_batch(s, 6, big);
    CHECK(send_all(fd, s));
    CHECK(read_error(fd).code == 5);
    ::close(fd);
    // Sequence 0.
    fd = handshake(d.path, w);
    CHECK(send_all(fd, batch(0, 1, 1, "x")));
    CHECK(read_error(fd).code == 4);
    ::close(fd);
    // Still serving: a good client gets its records, and only batch 1 of all the above counts.
    fd = handshake(d.path, w);
    CHECK(w.last_seq == 1);
    CHECK(send_all(fd, batch(7, 2, 70, "ok")));
    CHECK(d.wait_records(3));
    CHECK(wait_ack(fd, 7));
    CHECK(d.count() == 3);
    CHECK(d.stats.bad_inputs == 7);
    CHECK(d.slow_calls == 0);
    ::close(fd);
}

void test_backlog_beyond_the_queue_limit() {
    // One write holds far more than 2 x max_batch_events records: the frames left in the
    // plugin's read buffer must still be delivered once Falco drains the queue.
    Driver d("backlog.sock");
    proto::Welcome w;
    int fd = handshake(d.path, w);
    std::string all;
    for (int b = 1; b <= 25; ++b) all += batch(uint64_t(b), 4, b * 10, "q");
    CHECK(send_all(fd, all));
    CHECK(d.wait_records(100));
    CHECK(wait_ack(fd, 25));
    {
        std::lock_guard<std::mutex> g(d.mu);
        CHECK(d.got.size() == 100 && d.got[99].ts_ns == 253);
    }
    ::close(fd);
}

void test_busy() {
    Driver d("busy.sock");
    proto::Welcome w;
    int a = handshake(d.path, w);
    int b = connect_to(d.path);
    CHECK(b >= 0);
    // The plugin answers BUSY as soon as it accepts and closes: HELLO may meet a closed socket
    // (EPIPE/ECONNRESET, seen once under ASan), and the ERROR frame is still there to read.
    (void)send_all(b, hello());
    proto::Error e = read_error(b);
    CHECK(e.code == 3);
    ::close(b);
    // The first client is unaffected.
    CHECK(send_all(a, batch(1, 1, 5, "a")));
    CHECK(wait_ack(a, 1));
    ::close(a);
}

void test_reconnect_dedup() {
    Driver d("reconnect.sock");
    proto::Welcome w1, w2;
    int a = handshake(d.path, w1);
    std::string b3 = batch(3, 4, 30, "c");
    CHECK(send_all(a, batch(1, 3, 10, "a") + batch(2, 2, 20, "b") + b3.substr(0, b3.size() / 2)));
    CHECK(d.wait_records(5));
    ::close(a);  // dropped mid-frame: batch 3 is lost on the plugin side
    int b = handshake(d.path, w2);
    CHECK(w2.instance_id == w1.instance_id);
    CHECK(w2.last_seq == 2);
    // A bridge that resends everything: 1 and 2 are duplicates and must be dropped.
    CHECK(send_all(b, batch(1, 3, 10, "a") + batch(2, 2, 20, "b") + b3 + batch(4, 1, 40, "d")));
    CHECK(wait_ack(b, 4));
    CHECK(d.count() == 10);
    {
        std::lock_guard<std::mutex> g(d.mu);
        std::vector<uint64_t> ts;
        for (auto& r : d.got) ts.push_back(r.ts_ns);
        std::vector<uint64_t> want{10, 11, 12, 20, 21, 30, 31, 32, 33, 40};
        CHECK(ts == want);
    }
    ::close(b);
    // A new Source (Falco restart) gets a new instance_id and remembers nothing.
    std::string path = d.path;
    d.shutdown();
    Driver d2("reconnect.sock");
    proto::Welcome w3;
    int c = handshake(d2.path, w3);
    CHECK(w3.instance_id != w1.instance_id && w3.last_seq == 0);
    ::close(c);
}

void test_idle_and_files() {
    // No client: next() returns timeout within about idle_timeout_ms.
    Stats stats;
    std::string err;
    Config cfg = test_config();
    std::string path = g_dir + "/idle.sock";
    // A stale socket file is replaced.
    int stale = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    CHECK(::bind(stale, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    ::close(stale);
    auto src = open_socket_source(path, cfg, stats, nullptr, err);
    CHECK(src != nullptr);
    if (src) {
        std::vector<Record> out;
        auto t0 = std::chrono::steady_clock::now();
        Rc rc = src->next(out, 4, err);
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
        CHECK(rc == Rc::timeout && out.empty());
        CHECK(ms >= 15 && ms < 500);
    }
    src.reset();
    // A regular file at the path is not ours to delete.
    std::string file = g_dir + "/plain";
    FILE* fp = std::fopen(file.c_str(), "w");
    std::fclose(fp);
    CHECK(open_socket_source(file, cfg, stats, nullptr, err) == nullptr);
    CHECK(err.find("not a socket") != std::string::npos);
    struct stat st;
    CHECK(::stat(file.c_str(), &st) == 0);
    CHECK(open_socket_source(g_dir + "/no/such/dir/s.sock", cfg, stats, nullptr, err) == nullptr);
    CHECK(err.find("bind") != std::string::npos);
}

}  // namespace

int main() {
    char tmpl[] = "/tmp/ctb-socket-test-XXXXXX";
    if (!::mkdtemp(tmpl)) return 2;
    g_dir = tmpl;
    test_frames_roundtrip();
    test_session();
    test_bad_clients_keep_listening();
    test_backlog_beyond_the_queue_limit();
    test_busy();
    test_reconnect_dedup();
    test_idle_and_files();
    std::string cleanup = "rm -rf '" + g_dir + "'";
    if (std::system(cleanup.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", g_dir.c_str());
    if (g_failures) {
        std::fprintf(stderr, "%d check(s) failed\n", g_failures);
        return 1;
    }
    std::printf("test_socket_source: all checks passed\n");
    return 0;
}
