#include "config/reader.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "core/error.hpp"
#include "core/strings.hpp"
#include "core/unit_parser.hpp"

namespace mfusim::config {

// ---------------------------------------------------------------------------------------------------
// ResolvedConfig

ResolvedConfig* ResolvedConfig::entry(std::string_view key) {
  for (auto& [k, v] : entries_) {
    if (k == key) return v.get();
  }
  entries_.emplace_back(std::string(key), std::make_unique<ResolvedConfig>());
  return entries_.back().second.get();
}

ResolvedConfig* ResolvedConfig::child(std::string_view key) { return entry(key); }

ResolvedConfig* ResolvedConfig::append_item() {
  is_list_ = true;
  items_.push_back(std::make_unique<ResolvedConfig>());
  return items_.back().get();
}

void ResolvedConfig::set(std::string_view key, std::string text) {
  ResolvedConfig* e = entry(key);
  e->has_scalar_ = true;
  e->scalar_ = std::move(text);
}

void ResolvedConfig::set_list(std::string_view key, std::vector<std::string> texts) {
  ResolvedConfig* e = entry(key);
  e->is_scalar_list_ = true;
  e->scalars_ = std::move(texts);
}

void ResolvedConfig::adopt(std::string_view key, const Node& node) {
  switch (node.kind()) {
    case Node::Kind::kNull: return;
    case Node::Kind::kScalar: set(key, node.scalar()); return;
    case Node::Kind::kSequence: {
      ResolvedConfig* list = child(key);
      for (const auto& item : node.items()) {
        ResolvedConfig* i = list->append_item();
        if (item.is_mapping()) {
          for (const auto& e : item.entries()) i->adopt(e.key, e.value);
        } else {
          i->has_scalar_ = true;
          i->scalar_ = item.scalar();
        }
      }
      return;
    }
    case Node::Kind::kMapping: {
      ResolvedConfig* m = child(key);
      for (const auto& e : node.entries()) m->adopt(e.key, e.value);
      return;
    }
  }
}

Node ResolvedConfig::to_node() const {
  if (has_scalar_) return Node::scalar(scalar_, {});
  if (is_scalar_list_) {
    Node n = Node::sequence({});
    for (const auto& s : scalars_) n.items().push_back(Node::scalar(s, {}));
    return n;
  }
  if (is_list_) {
    Node n = Node::sequence({});
    for (const auto& item : items_) n.items().push_back(item->to_node());
    return n;
  }
  Node n = Node::mapping({});
  for (const auto& [k, v] : entries_) n.entries().push_back(MapEntry{k, {}, v->to_node()});
  return n;
}

// ---------------------------------------------------------------------------------------------------
// Value codecs

namespace {

std::string shown(const Node& node) {
  if (node.is_scalar()) return "'" + node.scalar() + "'";
  return std::string(describe_kind(node.kind()));
}

const std::string& scalar_of(const Node& node, const std::string& path, std::string_view expected) {
  if (!node.is_scalar()) {
    throw ConfigError(node.mark(), path,
                      "expected " + std::string(expected) + ", found " + std::string(describe_kind(node.kind())));
  }
  return node.scalar();
}

std::int64_t decode_integer(const Node& node, const std::string& path) {
  const std::string& s = scalar_of(node, path, "a whole number");
  std::int64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range) throw ConfigError(node.mark(), path, shown(node) + " is out of range");
  if (ec != std::errc() || p != s.data() + s.size()) {
    throw ConfigError(node.mark(), path, shown(node) + " is not a whole number");
  }
  return v;
}

template <class Q, Q (*Parse)(std::string_view)>
Q decode_quantity(const Node& node, const std::string& path, core::Dimension d) {
  const std::string& s = scalar_of(node, path, std::string(core::dimension_noun(d)) + " with a unit");
  try {
    return Parse(s);
  } catch (const core::UnitError& e) {
    throw ConfigError(node.mark(), path, e.what());
  }
}

}  // namespace

template <>
std::string ValueCodec<std::string>::decode(const Node& node, const std::string& path) {
  return scalar_of(node, path, "a text value");
}
template <>
std::string ValueCodec<std::string>::encode(const std::string& value) {
  return value;
}

template <>
bool ValueCodec<bool>::decode(const Node& node, const std::string& path) {
  const std::string& s = scalar_of(node, path, "true or false");
  if (s == "true") return true;
  if (s == "false") return false;
  throw ConfigError(node.mark(), path, shown(node) + " is not a boolean (valid: true, false)");
}
template <>
std::string ValueCodec<bool>::encode(const bool& value) {
  return value ? "true" : "false";
}

template <>
std::int64_t ValueCodec<std::int64_t>::decode(const Node& node, const std::string& path) {
  return decode_integer(node, path);
}
template <>
std::string ValueCodec<std::int64_t>::encode(const std::int64_t& value) {
  return std::to_string(value);
}

template <>
int ValueCodec<int>::decode(const Node& node, const std::string& path) {
  const std::int64_t v = decode_integer(node, path);
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) {
    throw ConfigError(node.mark(), path, shown(node) + " is out of range (at most 2147483647)");
  }
  return static_cast<int>(v);
}
template <>
std::string ValueCodec<int>::encode(const int& value) {
  return std::to_string(value);
}

template <>
double ValueCodec<double>::decode(const Node& node, const std::string& path) {
  const std::string& s = scalar_of(node, path, "a number");
  const bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+';
  });
  char* end = nullptr;
  const double v = plain ? std::strtod(s.c_str(), &end) : 0.0;
  if (!plain || end != s.c_str() + s.size()) throw ConfigError(node.mark(), path, shown(node) + " is not a number");
  if (!std::isfinite(v)) throw ConfigError(node.mark(), path, shown(node) + " is out of range");
  return v;
}
template <>
std::string ValueCodec<double>::encode(const double& value) {
  std::array<char, 64> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  return std::string(buf.data(), end);
}

#define MFUSIM_QUANTITY_CODEC(Type, parse, format, dimension)                                   \
  template <>                                                                                    \
  core::Type ValueCodec<core::Type>::decode(const Node& node, const std::string& path) {        \
    return decode_quantity<core::Type, &core::parse>(node, path, core::Dimension::dimension);   \
  }                                                                                              \
  template <>                                                                                    \
  std::string ValueCodec<core::Type>::encode(const core::Type& value) {                          \
    return core::format(value);                                                                  \
  }

MFUSIM_QUANTITY_CODEC(Duration, parse_duration, format_duration, kTime)
MFUSIM_QUANTITY_CODEC(Bytes, parse_bytes, format_bytes, kBytes)
MFUSIM_QUANTITY_CODEC(Bandwidth, parse_bandwidth, format_bandwidth, kBandwidth)
MFUSIM_QUANTITY_CODEC(Flops, parse_flops, format_flops, kFlops)
MFUSIM_QUANTITY_CODEC(FlopRate, parse_flop_rate, format_flop_rate, kFlopRate)
MFUSIM_QUANTITY_CODEC(Power, parse_power, format_power, kPower)
#undef MFUSIM_QUANTITY_CODEC

// ---------------------------------------------------------------------------------------------------
// Reader

Reader::Reader(const Node& node, std::string path, ResolvedConfig* resolved)
    : node_(&node), path_(std::move(path)), resolved_(resolved) {
  if (!node.is_mapping()) {
    throw ConfigError(node.mark(), path_,
                      "expected a mapping of keys, found " + std::string(describe_kind(node.kind())) +
                          (node.is_scalar() ? " " + shown(node) : std::string()));
  }
}

std::string Reader::child_path(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

bool Reader::has(std::string_view key) { return value_of_optional(key) != nullptr; }

const Node* Reader::value_of_optional(std::string_view key) {
  if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.emplace_back(key);
  const MapEntry* e = node_->find(key);
  if (e == nullptr || e->value.is_null()) return nullptr;
  return &e->value;
}

const Node& Reader::value_of_required(std::string_view key) {
  const Node* v = value_of_optional(key);
  if (v == nullptr) {
    const MapEntry* e = node_->find(key);
    if (e != nullptr) throw ConfigError(e->value.mark(), child_path(key), "a value is required here");
    std::string message = "missing required key '" + std::string(key) + "'";
    // A present key that is unknown and close to the missing one is almost certainly a typo of it.
    std::vector<std::string> others;
    for (const auto& entry : node_->entries()) others.push_back(entry.key);
    if (auto m = core::closest_match(key, others)) {
      message += " (is '" + *m + "' at line " + std::to_string(node_->find(*m)->key_mark.line) + " a typo of it?)";
    }
    throw ConfigError(node_->mark(), path_, message);
  }
  return *v;
}

void Reader::record(std::string_view key, std::string text) {
  if (resolved_ != nullptr) resolved_->set(key, std::move(text));
}

Reader Reader::mapping(std::string_view key) {
  const Node& v = value_of_required(key);
  return Reader(v, child_path(key), resolved_ != nullptr ? resolved_->child(key) : nullptr);
}

std::optional<Reader> Reader::maybe_mapping(std::string_view key) {
  const Node* v = value_of_optional(key);
  if (v == nullptr) return std::nullopt;
  return Reader(*v, child_path(key), resolved_ != nullptr ? resolved_->child(key) : nullptr);
}

std::vector<Reader> Reader::mappings(std::string_view key) {
  const Node& v = value_of_required(key);
  if (!v.is_sequence()) fail_at(v, key, "expected a list, found " + std::string(describe_kind(v.kind())));
  ResolvedConfig* list = resolved_ != nullptr ? resolved_->child(key) : nullptr;
  std::vector<Reader> out;
  out.reserve(v.items().size());
  for (std::size_t i = 0; i < v.items().size(); ++i) {
    out.emplace_back(v.items()[i], child_path(key) + "[" + std::to_string(i) + "]",
                     list != nullptr ? list->append_item() : nullptr);
  }
  return out;
}

void Reader::fail(std::string_view key, const std::string& message) const {
  const MapEntry* e = node_->find(key);
  throw ConfigError(e != nullptr ? e->value.mark() : node_->mark(), child_path(key), message);
}

void Reader::fail_here(const std::string& message) const { throw ConfigError(node_->mark(), path_, message); }

void Reader::fail_at(const Node& at, std::string_view key, const std::string& message) const {
  throw ConfigError(at.mark(), child_path(key), message);
}

void Reader::fail_choice(const Node& at, std::string_view key, const std::string& name,
                         const std::vector<std::string>& names) const {
  std::string message = "unknown value '" + name + "'";
  if (auto m = core::closest_match(name, names)) message += " (did you mean '" + *m + "'?)";
  fail_at(at, key, message + "; valid: " + core::join(names));
}

void Reader::finish() const {
  for (const auto& e : node_->entries()) {
    if (std::find(known_.begin(), known_.end(), e.key) != known_.end()) continue;
    std::string message = "unknown key '" + e.key + "'";
    if (auto m = core::closest_match(e.key, known_)) message += " (did you mean '" + *m + "'?)";
    std::vector<std::string> sorted = known_;
    std::sort(sorted.begin(), sorted.end());
    message += "; valid keys here: " + core::join(sorted);
    throw ConfigError(e.key_mark, child_path(e.key), message);
  }
}

}  // namespace mfusim::config
