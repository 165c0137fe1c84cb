// A main() for the fuzz targets without libFuzzer: runs every file given (or every file in a
// directory given) through LLVMFuzzerTestOneInput once. Built by default as the ctest tests
// fuzz_replay_<target> over tests/data/fuzz/<target>/ (the seeds and every input that once
// crashed), so a fixed finding stays fixed in any build, sanitized or not.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    std::vector<fs::path> files;
    for (int i = 1; i < argc; ++i) {
        const fs::path p(argv[i]);
        if (fs::is_directory(p)) {
            for (const auto& e : fs::directory_iterator(p))
                if (e.is_regular_file()) files.push_back(e.path());
        } else {
            files.push_back(p);
        }
    }
    if (files.empty()) {
        std::fprintf(stderr, "no inputs\n");
        return 2;
    }
    for (const fs::path& f : files) {
        std::ifstream in(f, std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        // A copy of exactly the input's size, so a sanitizer sees any over-read.
        std::vector<uint8_t> buf(bytes.begin(), bytes.end());
        LLVMFuzzerTestOneInput(buf.empty() ? nullptr : buf.data(), buf.size());
    }
    std::printf("%s: %zu inputs, no crash\n", argv[0], files.size());
    return 0;
}
