#pragma once
// The configuration tree mfusim reads: a YAML document after include resolution and --set overrides,
// where every node and every mapping key remembers where it came from (file, line, column), so that
// any later validation error can point at the exact spot. yaml-cpp never leaves this layer.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mfusim::config {

// A source position, 1-based. `line == 0` means "not from a file line" (a --set override, a default).
struct Mark {
  std::shared_ptr<const std::string> source;
  int line = 0;
  int column = 0;
  // "file:line:column", or just the source when there is no line.
  std::string to_string() const;
};

struct MapEntry;

class Node {
 public:
  enum class Kind { kNull, kScalar, kSequence, kMapping };

  Node() = default;
  static Node null(Mark mark);
  static Node scalar(std::string value, Mark mark);
  static Node sequence(Mark mark);
  static Node mapping(Mark mark);

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_scalar() const { return kind_ == Kind::kScalar; }
  bool is_sequence() const { return kind_ == Kind::kSequence; }
  bool is_mapping() const { return kind_ == Kind::kMapping; }
  const Mark& mark() const { return mark_; }
  void set_mark(Mark m) { mark_ = std::move(m); }

  const std::string& scalar() const { return scalar_; }
  const std::vector<Node>& items() const { return items_; }
  std::vector<Node>& items() { return items_; }
  const std::vector<MapEntry>& entries() const { return entries_; }
  std::vector<MapEntry>& entries() { return entries_; }

  // Mapping lookup (linear: mappings are small); nullptr when absent.
  const MapEntry* find(std::string_view key) const;
  MapEntry* find(std::string_view key);
  // Adds or replaces `key`; returns the stored value.
  Node& set(std::string key, Node value, Mark key_mark = {});

 private:
  Kind kind_ = Kind::kNull;
  Mark mark_;
  std::string scalar_;
  std::vector<Node> items_;
  std::vector<MapEntry> entries_;
};

struct MapEntry {
  std::string key;
  Mark key_mark;
  Node value;
};

// "kind" of a node for messages: "a mapping", "a list", "a scalar", "nothing (null)".
std::string_view describe_kind(Node::Kind kind);

}  // namespace mfusim::config
