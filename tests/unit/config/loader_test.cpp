#include "config/loader.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/config_error.hpp"

namespace mfusim::config {
namespace {

const std::filesystem::path kData = std::filesystem::path(MFUSIM_SOURCE_DIR) / "tests/data/config";

std::string error_of(auto&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Loader, ParsesWithMarks) {
  const Node n = parse_text("a: 1\nb:\n  c: [x, y]\n", "t.yaml");
  ASSERT_TRUE(n.is_mapping());
  const MapEntry* b = n.find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->key_mark.line, 2);
  EXPECT_EQ(b->key_mark.column, 1);
  const MapEntry* c = b->value.find("c");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->value.items()[1].scalar(), "y");
  EXPECT_EQ(c->value.items()[1].mark().to_string(), "t.yaml:3:10");
}

TEST(Loader, MalformedYamlNamesFileLineColumn) {
  EXPECT_EQ(error_of([] { parse_text("a: [1, 2\n", "bad.yaml"); }),
            "bad.yaml:2:1: malformed YAML: end of sequence flow not found");
}

TEST(Loader, DuplicateKeysAreErrors) {
  EXPECT_EQ(error_of([] { parse_text("a: 1\nb: 2\na: 3\n", "dup.yaml"); }),
            "dup.yaml:3:1: a: duplicate key (first given at line 1)");
}

TEST(Loader, BinaryDataIsRejected) {
  EXPECT_NE(error_of([] { parse_text(std::string("a: 1\0\x01", 6), "bin.yaml"); }).find("binary data"),
            std::string::npos);
}

TEST(Loader, IncludeMergesDeeplyRelativeToTheIncludingFile) {
  const Node n = load_file(kData / "derived.yaml");
  ASSERT_NE(n.find("cluster"), nullptr);
  const Node& cluster = n.find("cluster")->value;
  ASSERT_NE(cluster.find("nodes"), nullptr);
  ASSERT_NE(cluster.find("nic"), nullptr);
  ASSERT_NE(cluster.find("fabric"), nullptr);
  EXPECT_EQ(cluster.find("nodes")->value.scalar(), "16") << "the including file overrides the preset";
  EXPECT_EQ(cluster.find("nic")->value.scalar(), "400Gbps") << "keys not overridden come from the preset";
  const Node& fabric = cluster.find("fabric")->value;
  EXPECT_EQ(fabric.find("kind")->value.scalar(), "rail") << "nested mappings merge key by key";
  EXPECT_EQ(fabric.find("oversubscription")->value.scalar(), "2");
  EXPECT_EQ(cluster.find("include"), nullptr) << "the include key itself is consumed";
  EXPECT_NE(cluster.find("nic")->value.mark().source->find("base.yaml"), std::string::npos)
      << "values keep the mark of the file they came from";
}

TEST(Loader, IncludeCycleIsAnError) {
  const std::string e = error_of([] { load_file(kData / "cycle_a.yaml"); });
  EXPECT_NE(e.find("include cycle: cycle_a.yaml -> cycle_b.yaml -> cycle_a.yaml"), std::string::npos) << e;
}

TEST(Loader, EmptyMissingAndOversizedFiles) {
  const auto dir = std::filesystem::temp_directory_path() / "mfusim_loader_test";
  std::filesystem::create_directories(dir);
  { std::ofstream(dir / "empty.yaml") << "# only a comment\n"; }
  EXPECT_NE(error_of([&] { load_file(dir / "empty.yaml"); }).find("file is empty"), std::string::npos);
  EXPECT_NE(error_of([&] { load_file(dir / "nope.yaml"); }).find("file not found"), std::string::npos);
  {
    std::ofstream big(dir / "big.yaml");
    const std::string line(1023, 'x');
    for (int i = 0; i < 17 * 1024; ++i) big << "# " << line << "\n";
  }
  EXPECT_NE(error_of([&] { load_file(dir / "big.yaml"); }).find("limited to 16.0 MiB"), std::string::npos);
  { std::ofstream(dir / "list.yaml") << "- a\n- b\n"; }
  EXPECT_EQ(error_of([&] { load_file(dir / "list.yaml"); }),
            (dir / "list.yaml").string() + ":1:1: the top level must be a mapping of keys, found a list");
  std::filesystem::remove_all(dir);
}

TEST(Loader, EmitsYaml) {
  const Node n = parse_text("a: 1\nb: [x, y]\n", "t.yaml");
  EXPECT_EQ(parse_text(to_yaml(n), "again").find("b")->value.items().size(), 2u);
}

}  // namespace
}  // namespace mfusim::config
