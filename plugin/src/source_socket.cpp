// unix://PATH: the plugin end of the ingest protocol (docs/ingest-protocol.md).
// Single-threaded: every socket operation happens inside next(), which the glue calls from
// plugin_next_batch, so Falco's own threading rules are all we rely on.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <random>

#include "protocol.h"
#include "source.h"

namespace ctb {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kReadChunk = 256 * 1024;
constexpr size_t kMaxOutBuffered = 1 << 20;  // a client that never reads its ACKs is dropped
constexpr int kHelloTimeoutMs = 10000;       // a silent client must not hold the slot forever

uint64_t random_instance_id() {
    std::random_device rd;
    uint64_t v = (uint64_t(rd()) << 32) ^ rd() ^ uint64_t(Clock::now().time_since_epoch().count());
    return v ? v : 1;
}

int ms_until(Clock::time_point deadline) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return ms < 0 ? 0 : static_cast<int>(ms);
}

class SocketSource : public Source {
public:
    SocketSource(std::string path, const Config& cfg, Stats& stats, LogFn log)
        : path_(std::move(path)), cfg_(cfg), stats_(stats), log_(std::move(log)),
          instance_id_(random_instance_id()) {}

    ~SocketSource() override {
        close_conn();
        if (listen_fd_ >= 0) ::close(listen_fd_);
        // Remove the file only if it is still ours (a newer instance may have taken the path).
        struct stat st;
        if (bound_ && ::lstat(path_.c_str(), &st) == 0 && st.st_ino == ino_ && st.st_dev == dev_)
            ::unlink(path_.c_str());
    }

    bool listen_on(std::string& err) {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (path_.empty() || path_.size() >= sizeof(addr.sun_path)) {
            err = "socket path '" + path_ + "' is empty or longer than " +
                  std::to_string(sizeof(addr.sun_path) - 1) + " bytes";
            return false;
        }
        std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
        struct stat st;
        if (::lstat(path_.c_str(), &st) == 0) {
            // Only a stale socket is ours to remove; anything else is someone's file.
            if (!S_ISSOCK(st.st_mode)) {
                err = "'" + path_ + "' exists and is not a socket";
                return false;
            }
            if (::unlink(path_.c_str()) != 0) return sys_fail("remove stale socket", err);
        }
        listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (listen_fd_ < 0) return sys_fail("socket", err);
        if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
            return sys_fail("bind", err);
        bound_ = true;
        if (::lstat(path_.c_str(), &st) == 0) {
            ino_ = st.st_ino;
            dev_ = st.st_dev;
        }
        // chmod before listen: nobody can connect while the mode is still the umask's.
        if (::chmod(path_.c_str(), cfg_.socket_mode) != 0) return sys_fail("chmod", err);
        if (::listen(listen_fd_, 8) != 0) return sys_fail("listen", err);
        log(6, "listening on " + path_ + " (instance " + std::to_string(instance_id_) + ")");
        return true;
    }

    Rc next(std::vector<Record>& out, size_t max, std::string&) override {
        if (done_) return Rc::eof;
        // Everything handed out before this call has been taken by Falco.
        settle_acks();
        if (ended_ && queue_.empty()) return finish();
        pump(queue_.empty() ? static_cast<int>(cfg_.idle_timeout_ms) : 0);
        size_t n = 0;
        while (n < max && !queue_.empty()) {
            out.push_back(std::move(queue_.front()));
            queue_.pop_front();
            ++n;
        }
        delivered_ += n;
        if (n) return Rc::ok;
        if (ended_ && queue_.empty()) return finish();
        return Rc::timeout;
    }

private:
    enum class State { none, await_hello, ready };

    struct PendingBatch {
        uint64_t seq;
        uint64_t end;  // value of enqueued_ after its last record
    };

    void log(int sev, const std::string& msg) {
        if (log_) log_(sev, "unix://" + path_ + ": " + msg);
    }

    bool sys_fail(const char* what, std::string& err) {
        err = std::string(what) + " '" + path_ + "': " + std::strerror(errno);
        return false;
    }

    size_t read_limit() const { return 2 * static_cast<size_t>(cfg_.max_batch_events ? cfg_.max_batch_events : 1); }

    // Batches whose last record was handed out are now taken: ACK the highest (ACKs are cumulative).
    void settle_acks() {
        while (!batches_.empty() && batches_.front().end <= delivered_) {
            taken_seq_ = batches_.front().seq;
            batches_.pop_front();
            stats_.batches_acked++;
        }
        if (state_ == State::ready && taken_seq_ > acked_sent_) {
            proto::encode_ack(out_, taken_seq_);
            acked_sent_ = taken_seq_;
            flush_out();
        }
    }

    // Only called with the queue empty: everything handed out was taken, heartbeats included.
    Rc finish() {
        settle_acks();
        if (state_ == State::ready) {
            proto::encode_bye(out_, taken_seq_);
            auto deadline = Clock::now() + std::chrono::milliseconds(cfg_.idle_timeout_ms);
            while (conn_fd_ >= 0 && out_off_ < out_.size()) {
                pollfd p{conn_fd_, POLLOUT, 0};
                if (::poll(&p, 1, ms_until(deadline)) <= 0) break;
                flush_out();
            }
            log(6, "end of stream after batch " + std::to_string(taken_seq_));
        } else {
            log(6, "end of stream after batch " + std::to_string(taken_seq_) + " (client already gone)");
        }
        close_conn();
        // Late clients are refused at once instead of waiting for a WELCOME that never comes.
        if (listen_fd_ >= 0) {
            ::close(listen_fd_);
            listen_fd_ = -1;
        }
        done_ = true;
        return Rc::eof;
    }

    // Socket I/O for up to timeout_ms; returns early once records are queued or the stream ended.
    void pump(int timeout_ms) {
        auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
        // Frames read earlier but left unparsed (the queue was full) will not wake poll again.
        if (conn_fd_ >= 0 && in_len_ > in_off_) parse_frames();
        if (!queue_.empty() && timeout_ms > 0) return;
        for (;;) {
            bool can_read = conn_fd_ >= 0 && !ended_ && queue_.size() < read_limit();
            bool can_write = conn_fd_ >= 0 && out_off_ < out_.size();
            pollfd fds[2];
            fds[0] = pollfd{listen_fd_, POLLIN, 0};
            // fd -1 is ignored by poll, so POLLHUP cannot wake us while we are not reading.
            short ev = static_cast<short>((can_read ? POLLIN : 0) | (can_write ? POLLOUT : 0));
            fds[1] = pollfd{ev ? conn_fd_ : -1, ev, 0};
            int wait = ms_until(deadline);
            if (state_ == State::await_hello) wait = std::min(wait, ms_until(hello_deadline_));
            int rc = ::poll(fds, 2, wait);
            if (rc < 0 && errno != EINTR) {
                log(3, std::string("poll: ") + std::strerror(errno));
                return;
            }
            if (rc > 0) {
                // The current client first: a bridge that reconnects closes its old connection
                // just before it connects again, and must not be refused as busy for that.
                if (fds[1].fd >= 0 && (fds[1].revents & POLLOUT)) flush_out();
                if (fds[1].fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) read_conn();
                if (fds[0].revents & POLLIN) accept_clients();
            }
            if (state_ == State::await_hello && Clock::now() >= hello_deadline_)
                fail_conn(proto::Err::malformed, "no HELLO within " + std::to_string(kHelloTimeoutMs) + " ms");
            if (!queue_.empty() || ended_ || Clock::now() >= deadline) return;
        }
    }

    void accept_clients() {
        for (;;) {
            int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                    log(4, std::string("accept: ") + std::strerror(errno));
                return;
            }
            if (conn_fd_ >= 0 && peer_gone()) read_conn();  // drains what it sent, then drops it
            if (conn_fd_ >= 0) {
                std::string frame;
                proto::encode_error(frame, proto::Err::busy, "busy: another client is connected");
                (void)::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
                ::close(fd);
                log(4, "refused a second client: busy");
                continue;
            }
            conn_fd_ = fd;
            state_ = State::await_hello;
            hello_deadline_ = Clock::now() + std::chrono::milliseconds(kHelloTimeoutMs);
            acked_sent_ = 0;
            log(7, "client connected, waiting for HELLO");
        }
    }

    // The client hung up (it may still have unread frames in the socket buffer).
    bool peer_gone() const {
        pollfd p{conn_fd_, POLLRDHUP, 0};
        return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
    }

    void flush_out() {
        while (conn_fd_ >= 0 && out_off_ < out_.size()) {
            ssize_t w = ::send(conn_fd_, out_.data() + out_off_, out_.size() - out_off_, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                drop_conn(4, std::string("send failed: ") + std::strerror(errno));
                return;
            }
            out_off_ += static_cast<size_t>(w);
        }
        if (out_off_ == out_.size()) {
            out_.clear();
            out_off_ = 0;
        } else if (out_.size() - out_off_ > kMaxOutBuffered) {
            drop_conn(4, "client does not read its ACKs; dropped");
        }
    }

    void read_conn() {
        while (conn_fd_ >= 0 && !ended_ && queue_.size() < read_limit()) {
            if (in_.size() - in_len_ < kReadChunk) in_.resize(in_len_ + kReadChunk);
            ssize_t r = ::recv(conn_fd_, in_.data() + in_len_, in_.size() - in_len_, 0);
            if (r < 0) {
                if (errno == EINTR) continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK)
                    drop_conn(4, std::string("recv failed: ") + std::strerror(errno));
                return;
            }
            if (r == 0) {
                if (in_len_ > in_off_)
                    log(4, "client closed mid-frame; " + std::to_string(in_len_ - in_off_) + " bytes discarded");
                drop_conn(6, "client disconnected");
                return;
            }
            in_len_ += static_cast<size_t>(r);
            parse_frames();
            if (static_cast<size_t>(r) < kReadChunk / 2) return;  // likely drained; poll again
        }
    }

    void parse_frames() {
        while (conn_fd_ >= 0 && !ended_ && queue_.size() < read_limit()) {
            uint8_t type = 0;
            const uint8_t* body = nullptr;
            size_t body_len = 0, frame_len = 0;
            std::string err;
            auto p = proto::peek_frame(in_.data() + in_off_, in_len_ - in_off_, type, body, body_len, frame_len, err);
            if (p == proto::Peek::malformed) {
                fail_conn(proto::Err::malformed, "malformed frame: " + err);
                return;
            }
            if (p == proto::Peek::need_more) {
                // Make room for the whole frame so the next recv can complete it.
                size_t have = in_len_ - in_off_;
                if (in_off_ && have) std::memmove(in_.data(), in_.data() + in_off_, have);
                in_len_ = have;
                in_off_ = 0;
                if (have >= 4) {
                    size_t need = 4 + size_t(in_[0]) + (size_t(in_[1]) << 8) + (size_t(in_[2]) << 16) +
                                  (size_t(in_[3]) << 24);
                    if (in_.size() < need) in_.resize(need);
                }
                return;
            }
            in_off_ += frame_len;
            handle_frame(type, body, body_len);
            if (in_off_ == in_len_) in_off_ = in_len_ = 0;
        }
    }

    void handle_frame(uint8_t type, const uint8_t* body, size_t n) {
        std::string err;
        auto t = static_cast<proto::Type>(type);
        if (state_ == State::await_hello) {
            if (t != proto::Type::hello) {
                fail_conn(proto::Err::malformed, std::string("expected HELLO first, got ") + proto::type_name(type));
                return;
            }
            proto::Hello h;
            if (!proto::decode_hello(body, n, h, err)) {
                fail_conn(proto::Err::malformed, "malformed frame: " + err);
                return;
            }
            if (h.version != proto::kVersion) {
                fail_conn(proto::Err::version, "unsupported protocol version " + std::to_string(h.version) +
                                                   ", plugin speaks " + std::to_string(proto::kVersion));
                return;
            }
            proto::Welcome w;
            w.instance_id = instance_id_;
            w.last_seq = last_seq_;
            w.max_batch_events = cfg_.max_batch_events;
            w.max_record_bytes = cfg_.max_record_bytes;
            proto::encode_welcome(out_, w);
            // A reconnecting bridge may have missed ACKs for batches Falco took meanwhile.
            if (taken_seq_) {
                proto::encode_ack(out_, taken_seq_);
                acked_sent_ = taken_seq_;
            }
            state_ = State::ready;
            stats_.connections++;
            log(6, "client '" + h.name + "' connected (last_seq " + std::to_string(last_seq_) + ")");
            flush_out();
            return;
        }
        switch (t) {
            case proto::Type::batch: return handle_batch(body, n);
            case proto::Type::end:
                if (!proto::decode_end(body, n, err)) return fail_conn(proto::Err::malformed, "malformed frame: " + err);
                ended_ = true;
                log(6, "END received after batch " + std::to_string(last_seq_));
                return;
            case proto::Type::error: {
                proto::Error e;
                if (proto::decode_error(body, n, e, err))
                    drop_conn(4, "client sent ERROR " + std::to_string(e.code) + ": " + e.msg);
                else
                    fail_conn(proto::Err::malformed, "malformed frame: " + err);
                return;
            }
            default:
                fail_conn(proto::Err::malformed,
                          std::string("unexpected ") + proto::type_name(type) + " frame from the bridge");
        }
    }

    void handle_batch(const uint8_t* body, size_t n) {
        std::string err;
        if (!proto::decode_batch(body, n, batch_, err)) return fail_conn(proto::Err::malformed, "malformed frame: " + err);
        uint64_t seq = batch_.seq;
        if (seq == 0) return fail_conn(proto::Err::sequence, "batch seq 0; seq starts at 1");
        if (seq <= last_seq_) {
            // A resend after reconnect: we hold it already. Re-ACK if Falco took it.
            log(7, "duplicate batch " + std::to_string(seq) + " dropped");
            if (seq <= taken_seq_) {
                proto::encode_ack(out_, taken_seq_);
                acked_sent_ = taken_seq_;
                flush_out();
            }
            return;
        }
        if (batch_.records.size() > cfg_.max_batch_events)
            return fail_conn(proto::Err::too_large, "batch " + std::to_string(seq) + " has " +
                                                        std::to_string(batch_.records.size()) + " records, limit " +
                                                        std::to_string(cfg_.max_batch_events));
        for (size_t i = 0; i < batch_.records.size(); ++i) {
            if (batch_.records[i].len > cfg_.max_record_bytes)
                return fail_conn(proto::Err::too_large, "batch " + std::to_string(seq) + " record " +
                                                            std::to_string(i) + " is " +
                                                            std::to_string(batch_.records[i].len) +
                                                            " bytes, limit " + std::to_string(cfg_.max_record_bytes));
        }
        for (const auto& r : batch_.records) {
            queue_.emplace_back();
            queue_.back().ts_ns = r.ts_ns;
            queue_.back().payload.assign(reinterpret_cast<const char*>(r.data), r.len);
        }
        enqueued_ += batch_.records.size();
        batches_.push_back(PendingBatch{seq, enqueued_});
        last_seq_ = seq;
    }

    // Protocol violation: tell the client why, close, and keep listening.
    void fail_conn(proto::Err code, const std::string& msg) {
        stats_.bad_inputs++;
        proto::encode_error(out_, code, msg);
        flush_out();
        drop_conn(4, "client error " + std::to_string(static_cast<int>(code)) + ": " + msg);
    }

    void drop_conn(int sev, const std::string& why) {
        if (conn_fd_ < 0) return;
        log(sev, why);
        close_conn();
    }

    void close_conn() {
        if (conn_fd_ >= 0) ::close(conn_fd_);
        conn_fd_ = -1;
        state_ = State::none;
        in_off_ = in_len_ = 0;
        if (in_.size() > 4 * kReadChunk) {
            in_.clear();
            in_.shrink_to_fit();  // do not keep a 64 MiB buffer for one big frame
        }
        out_.clear();
        out_off_ = 0;
    }

    std::string path_;
    Config cfg_;
    Stats& stats_;
    LogFn log_;
    uint64_t instance_id_;

    int listen_fd_ = -1;
    bool bound_ = false;
    ino_t ino_ = 0;
    dev_t dev_ = 0;

    int conn_fd_ = -1;
    State state_ = State::none;
    Clock::time_point hello_deadline_{};
    std::vector<uint8_t> in_;
    size_t in_off_ = 0, in_len_ = 0;
    std::string out_;
    size_t out_off_ = 0;

    proto::Batch batch_;
    std::deque<Record> queue_;
    std::deque<PendingBatch> batches_;  // received, not yet fully taken
    uint64_t enqueued_ = 0, delivered_ = 0;
    uint64_t last_seq_ = 0;    // highest seq received in full
    uint64_t taken_seq_ = 0;   // highest seq whose records Falco has all taken
    uint64_t acked_sent_ = 0;  // highest ACK sent on this connection
    bool ended_ = false, done_ = false;
};

}  // namespace

std::unique_ptr<Source> open_socket_source(const std::string& path, const Config& cfg, Stats& stats, LogFn log,
                                           std::string& err) {
    auto src = std::make_unique<SocketSource>(path, cfg, stats, std::move(log));
    if (!src->listen_on(err)) return nullptr;
    return src;
}

}  // namespace ctb
