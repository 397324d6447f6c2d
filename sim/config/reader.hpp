#pragma once
// Typed, validating access to a mapping of the configuration tree.
//
// A Reader wraps one mapping at a key path ("workload", "workload.tasks[2]"). Each accessor converts a
// value to its C++ type and throws ConfigError with file:line:column, key path, the bad value and what
// would be valid. Every key asked for (present or not) becomes "known"; finish() then rejects any other
// key in the mapping with a did-you-mean suggestion, so a typo can never be silently ignored.
// Quantities (Duration, Bytes, Bandwidth, Flops, FlopRate, Power) must carry units.
//
// Resolved configuration: when given a `resolved` node, the Reader records every value it returns,
// defaults included, in canonical text form, so the fully resolved configuration can be written next
// to results (--dump-config) and replayed.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config_error.hpp"
#include "config/node.hpp"
#include "core/units.hpp"

namespace mfusim::config {

// Conversion of one scalar node to T, and back to canonical text. Specialised in reader.cpp for
// std::string, bool, int, std::int64_t, double and the core quantity types.
template <class T>
struct ValueCodec {
  static T decode(const Node& node, const std::string& path);
  static std::string encode(const T& value);
};

#define MFUSIM_DECLARE_CODEC(T)                                              \
  template <>                                                                \
  T ValueCodec<T>::decode(const Node& node, const std::string& path);        \
  template <>                                                                \
  std::string ValueCodec<T>::encode(const T& value);
MFUSIM_DECLARE_CODEC(std::string)
MFUSIM_DECLARE_CODEC(bool)
MFUSIM_DECLARE_CODEC(int)
MFUSIM_DECLARE_CODEC(std::int64_t)
MFUSIM_DECLARE_CODEC(double)
MFUSIM_DECLARE_CODEC(core::Duration)
MFUSIM_DECLARE_CODEC(core::Bytes)
MFUSIM_DECLARE_CODEC(core::Bandwidth)
MFUSIM_DECLARE_CODEC(core::Flops)
MFUSIM_DECLARE_CODEC(core::FlopRate)
MFUSIM_DECLARE_CODEC(core::Power)
#undef MFUSIM_DECLARE_CODEC

// The values a set of Readers returned, defaults included, in read order. Nodes are heap-allocated so
// that a child Reader's pointer stays valid while its parent keeps adding keys.
class ResolvedConfig {
 public:
  ResolvedConfig* child(std::string_view key);  // mapping entry, created on first use
  ResolvedConfig* append_item();                 // new list item (this node becomes a list)
  void set(std::string_view key, std::string text);
  void set_list(std::string_view key, std::vector<std::string> texts);
  // Records a whole subtree (e.g. a section resolved by another component's own Reader).
  void adopt(std::string_view key, const Node& node);
  Node to_node() const;

 private:
  ResolvedConfig* entry(std::string_view key);
  bool is_list_ = false;
  bool has_scalar_ = false;
  std::string scalar_;
  std::vector<std::string> scalars_;  // for set_list
  bool is_scalar_list_ = false;
  std::vector<std::pair<std::string, std::unique_ptr<ResolvedConfig>>> entries_;
  std::vector<std::unique_ptr<ResolvedConfig>> items_;
};

// One allowed name of an enumerated option.
template <class E>
struct Choice {
  std::string_view name;
  E value;
  std::string_view description;
};

class Reader {
 public:
  // `node` must be a mapping (ConfigError otherwise). `resolved` may be null.
  Reader(const Node& node, std::string path, ResolvedConfig* resolved);

  const std::string& path() const { return path_; }
  const Mark& mark() const { return node_->mark(); }
  const Node& node() const { return *node_; }
  ResolvedConfig* resolved() const { return resolved_; }
  // Marks the key as known and says whether it is present (and not null).
  bool has(std::string_view key);

  template <class T>
  T required(std::string_view key) {
    const Node& v = value_of_required(key);
    T out = ValueCodec<T>::decode(v, child_path(key));
    record(key, ValueCodec<T>::encode(out));
    return out;
  }

  template <class T>
  T optional(std::string_view key, T fallback) {
    if (const Node* v = value_of_optional(key)) fallback = ValueCodec<T>::decode(*v, child_path(key));
    record(key, ValueCodec<T>::encode(fallback));
    return fallback;
  }

  template <class T>
  std::optional<T> maybe(std::string_view key) {
    const Node* v = value_of_optional(key);
    if (v == nullptr) return std::nullopt;
    T out = ValueCodec<T>::decode(*v, child_path(key));
    record(key, ValueCodec<T>::encode(out));
    return out;
  }

  // A list of scalars (an empty list is allowed; a missing key is an error).
  template <class T>
  std::vector<T> list(std::string_view key) {
    const Node& v = value_of_required(key);
    if (!v.is_sequence()) fail_at(v, key, "expected a list, found " + std::string(describe_kind(v.kind())));
    std::vector<T> out;
    std::vector<std::string> texts;
    for (std::size_t i = 0; i < v.items().size(); ++i) {
      out.push_back(ValueCodec<T>::decode(v.items()[i], child_path(key) + "[" + std::to_string(i) + "]"));
      texts.push_back(ValueCodec<T>::encode(out.back()));
    }
    if (resolved_ != nullptr) resolved_->set_list(key, std::move(texts));
    return out;
  }

  // One of a fixed set of names; an unknown name lists the valid ones with their descriptions.
  template <class E>
  E choice(std::string_view key, std::span<const Choice<E>> choices, std::optional<E> fallback = std::nullopt) {
    const Node* v = fallback ? value_of_optional(key) : &value_of_required(key);
    if (v == nullptr) {
      for (const auto& c : choices) {
        if (c.value == *fallback) record(key, std::string(c.name));
      }
      return *fallback;
    }
    const std::string name = ValueCodec<std::string>::decode(*v, child_path(key));
    std::vector<std::string> names;
    for (const auto& c : choices) {
      if (c.name == name) {
        record(key, name);
        return c.value;
      }
      names.emplace_back(c.name);
    }
    fail_choice(*v, key, name, names);
  }

  // A nested mapping (required) or, with maybe_mapping, an optional one.
  Reader mapping(std::string_view key);
  std::optional<Reader> maybe_mapping(std::string_view key);
  // A list of mappings (required).
  std::vector<Reader> mappings(std::string_view key);

  // Errors at a key's value (or at this mapping when the key is absent).
  [[noreturn]] void fail(std::string_view key, const std::string& message) const;
  [[noreturn]] void fail_here(const std::string& message) const;

  // Rejects keys that no accessor asked for.
  void finish() const;

 private:
  const Node& value_of_required(std::string_view key);
  const Node* value_of_optional(std::string_view key);
  std::string child_path(std::string_view key) const;
  void record(std::string_view key, std::string text);
  [[noreturn]] void fail_at(const Node& at, std::string_view key, const std::string& message) const;
  [[noreturn]] void fail_choice(const Node& at, std::string_view key, const std::string& name,
                                const std::vector<std::string>& names) const;

  const Node* node_;
  std::string path_;
  ResolvedConfig* resolved_;
  std::vector<std::string> known_;
};

}  // namespace mfusim::config
