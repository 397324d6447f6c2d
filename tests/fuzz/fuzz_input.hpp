#pragma once
// Shared by the fuzz targets (one per input loader, docs/reliability.md). Each target writes the fuzzer's
// bytes to a file and calls the real loader on it, as `mfusim` would. The file lives in a private
// temporary folder laid out like the repository (topologies/, workloads/, scenarios/ are links to the
// source tree), so a seed's `include: ../topologies/x.yaml` resolves as it does for a shipped file.
//
// Outcomes: core::InputError (bad input, exit code 2 in the CLI) is the expected answer to a bad input.
// Anything else is a finding that libFuzzer reports and saves: a crash, a sanitizer report, an uncaught
// exception (InternalError from a broken invariant, std::bad_alloc, std::out_of_range, ...), or an input
// that runs past -timeout.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace mfusim::fuzz {

inline const std::filesystem::path& input_path() {
  static const std::filesystem::path path = [] {
    namespace fs = std::filesystem;
    std::string templ = (fs::temp_directory_path() / "mfusim-fuzz-XXXXXX").string();
    if (mkdtemp(templ.data()) == nullptr) std::abort();
    const fs::path root(templ);
    const fs::path source(MFUSIM_SOURCE_DIR);
    for (const char* d : {"topologies", "workloads", "scenarios", "tests"}) fs::create_directory_symlink(source / d, root / d);
    fs::create_directory(root / "input");
    return root / "input" / "fuzz.yaml";
  }();
  return path;
}

// Writes the bytes as the input file and returns its path.
inline const std::filesystem::path& write_input(const std::uint8_t* data, std::size_t size) {
  const auto& path = input_path();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  return path;
}

}  // namespace mfusim::fuzz
