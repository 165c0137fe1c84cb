// libFuzzer: the unix:// source (source_socket.cpp) as Falco drives it, fed by a hostile bridge:
// the input's bytes are written to a real connection in chunks while next() is called, then the
// client hangs up. Every record handed out must be within the limits; nothing may crash, hang
// or leak. Input: u8 maxBatchEvents (1 + mod 8), u8 chunk size (1 + value), the stream.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_input.h"
#include "source.h"

#define REQUIRE(c) do { if (!(c)) __builtin_trap(); } while (0)

namespace {

const std::string& sock_path() {
    static const std::string path = [] {
        const char* base = std::getenv("CTB_FUZZ_TMP");
        std::string tmpl = std::string(base ? base : "/tmp") + "/ctbfuzz.XXXXXX";
        REQUIRE(mkdtemp(&tmpl[0]) != nullptr);
        return tmpl + "/s.sock";
    }();
    return path;
}

int connect_client() {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, sock_path().c_str(), sock_path().size() + 1);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    return fd;
}

void drain(int fd) {
    char buf[4096];
    while (::read(fd, buf, sizeof buf) > 0) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    ctbfuzz::Input fin(data, size);
    ctb::Config cfg;
    cfg.max_batch_events = 1 + fin.u8() % 8;
    cfg.max_record_bytes = 1024;
    cfg.idle_timeout_ms = 0;
    const size_t chunk = 1 + fin.u8();
    const std::string stream = fin.rest();

    ctb::Stats stats;
    std::string err;
    auto src = ctb::open_socket_source(sock_path(), cfg, stats, [](int, const std::string&) {}, err);
    REQUIRE(src != nullptr);
    const int fd = connect_client();
    std::vector<ctb::Record> out;
    size_t off = 0;
    int idle = 0;
    bool eof = false;
    for (int guard = 0; guard < 10000 && !eof; ++guard) {
        if (off < stream.size()) {
            const ssize_t w = ::send(fd, stream.data() + off, std::min(chunk, stream.size() - off), MSG_NOSIGNAL);
            if (w > 0) off += static_cast<size_t>(w);
            else if (errno != EAGAIN) off = stream.size();  // the plugin hung up on us
            if (off == stream.size()) ::shutdown(fd, SHUT_WR);
        }
        drain(fd);
        out.clear();
        const ctb::Rc rc = src->next(out, cfg.max_batch_events, err);
        REQUIRE(rc != ctb::Rc::failure);
        REQUIRE(out.size() <= cfg.max_batch_events);
        for (const ctb::Record& r : out) REQUIRE(r.bytes().size() <= cfg.max_record_bytes);
        eof = rc == ctb::Rc::eof;
        idle = out.empty() && off == stream.size() ? idle + 1 : 0;
        if (idle > 4) break;  // each idle next() may wait ~1 ms in poll
    }
    ::close(fd);
    src.reset();
    return 0;
}
