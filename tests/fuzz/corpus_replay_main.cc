// Replays fuzz corpora through a libFuzzer target with any compiler (ctest), so seeds and
// past crashers stay a regression suite. Usage: TARGET_replay DIR...; every regular file
// of each directory is one input. Fails if a directory holds no input.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  int total = 0;
  for (int i = 1; i < argc; ++i) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(argv[i])) {
      if (e.is_regular_file()) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) {
      std::cerr << "no inputs in " << argv[i] << "\n";
      return 1;
    }
    for (const fs::path& p : files) {
      std::ifstream in(p, std::ios::binary);
      const std::vector<uint8_t> bytes(std::istreambuf_iterator<char>(in), {});
      LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
      ++total;
    }
  }
  std::cout << "replayed " << total << " inputs\n";
  return 0;
}
