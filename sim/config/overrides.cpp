#include "config/overrides.hpp"

#include <charconv>
#include <memory>
#include <string>
#include <vector>

#include "config/config_error.hpp"
#include "config/loader.hpp"

namespace mfusim::config {

void apply_override(Node& root, std::string_view assignment, std::string_view flag) {
  auto source = std::make_shared<const std::string>("(" + std::string(flag) + " " + std::string(assignment) + ")");
  const Mark mark{source, 0, 0};
  const auto eq = assignment.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    throw ConfigError(mark, "", "expected key.path=value, e.g. " + std::string(flag) + (flag == "--set" ? " cluster.nodes=4" : " parallel.tp=8"));
  }
  const std::string_view path = assignment.substr(0, eq);
  const std::string_view text = assignment.substr(eq + 1);

  std::vector<std::string> segments;
  for (std::size_t start = 0;;) {
    const auto dot = path.find('.', start);
    segments.emplace_back(path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (segments.back().empty()) throw ConfigError(mark, std::string(path), "empty key in the path");
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }

  Node value = text.empty() ? Node::null(mark) : parse_text(text, *source);
  value.set_mark(mark);

  Node* cur = &root;
  std::string walked;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const std::string& seg = segments[i];
    const bool last = i + 1 == segments.size();
    const std::string here = walked.empty() ? seg : walked + "." + seg;
    if (cur->is_null()) *cur = Node::mapping(mark);
    if (cur->is_sequence()) {
      std::size_t index = 0;
      const auto [p, ec] = std::from_chars(seg.data(), seg.data() + seg.size(), index);
      if (ec != std::errc() || p != seg.data() + seg.size() || index >= cur->items().size()) {
        throw ConfigError(mark, here,
                          "'" + walked + "' is a list of " + std::to_string(cur->items().size()) +
                              " items; '" + seg + "' is not an index into it");
      }
      Node& item = cur->items()[index];
      if (last) item = std::move(value);
      cur = &item;
    } else if (cur->is_mapping()) {
      MapEntry* e = cur->find(seg);
      if (e == nullptr) {
        cur = &cur->set(seg, last ? std::move(value) : Node::mapping(mark), mark);
      } else {
        if (last) e->value = std::move(value);
        cur = &e->value;
      }
    } else {
      throw ConfigError(mark, here, "'" + walked + "' is a single value, so it has no key '" + seg + "'");
    }
    walked = here;
  }
}

}  // namespace mfusim::config
