#include "config/node.hpp"

#include <utility>

namespace mfusim::config {

std::string Mark::to_string() const {
  std::string s = source ? *source : std::string("<unknown>");
  if (line > 0) s += ":" + std::to_string(line) + ":" + std::to_string(column);
  return s;
}

Node Node::null(Mark mark) {
  Node n;
  n.mark_ = std::move(mark);
  return n;
}

Node Node::scalar(std::string value, Mark mark) {
  Node n;
  n.kind_ = Kind::kScalar;
  n.scalar_ = std::move(value);
  n.mark_ = std::move(mark);
  return n;
}

Node Node::sequence(Mark mark) {
  Node n;
  n.kind_ = Kind::kSequence;
  n.mark_ = std::move(mark);
  return n;
}

Node Node::mapping(Mark mark) {
  Node n;
  n.kind_ = Kind::kMapping;
  n.mark_ = std::move(mark);
  return n;
}

const MapEntry* Node::find(std::string_view key) const {
  for (const auto& e : entries_) {
    if (e.key == key) return &e;
  }
  return nullptr;
}

MapEntry* Node::find(std::string_view key) {
  for (auto& e : entries_) {
    if (e.key == key) return &e;
  }
  return nullptr;
}

Node& Node::set(std::string key, Node value, Mark key_mark) {
  if (MapEntry* e = find(key)) {
    e->value = std::move(value);
    return e->value;
  }
  entries_.push_back(MapEntry{std::move(key), std::move(key_mark), std::move(value)});
  return entries_.back().value;
}

std::string_view describe_kind(Node::Kind kind) {
  switch (kind) {
    case Node::Kind::kNull: return "nothing (null)";
    case Node::Kind::kScalar: return "a single value";
    case Node::Kind::kSequence: return "a list";
    case Node::Kind::kMapping: return "a mapping of keys";
  }
  return "?";
}

}  // namespace mfusim::config
