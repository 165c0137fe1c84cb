// A tiny reader over a fuzz input that takes its parameters from the front (so seed files are
// easy to write by hand: parameters, then the payload). Ours, not libFuzzer's
// FuzzedDataProvider, so the targets also build with g++ for the corpus replay tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace ctbfuzz {

class Input {
public:
    Input(const uint8_t* data, size_t size) : p_(data), n_(size) {}
    uint8_t u8() { return n_ ? (--n_, *p_++) : 0; }
    uint64_t uint(int bytes) {  // little-endian; missing bytes read as 0
        uint64_t v = 0;
        for (int i = 0; i < bytes; ++i) v |= uint64_t(u8()) << (8 * i);
        return v;
    }
    // Bytes up to a NUL (consumed, not included), or everything left.
    std::string until_nul() {
        const void* z = n_ ? std::memchr(p_, 0, n_) : nullptr;
        const size_t len = z ? size_t(static_cast<const uint8_t*>(z) - p_) : n_;
        std::string s(reinterpret_cast<const char*>(p_), len);
        p_ += len;
        n_ -= len;
        if (z) u8();
        return s;
    }
    std::string rest() {
        std::string s(reinterpret_cast<const char*>(p_), n_);
        p_ += n_;
        n_ = 0;
        return s;
    }

private:
    const uint8_t* p_;
    size_t n_;
};

}  // namespace ctbfuzz
