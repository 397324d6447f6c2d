#include "config/loader.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <utility>
#include <vector>

#include "config/config_error.hpp"

namespace mfusim::config {
namespace fs = std::filesystem;
namespace {

Mark make_mark(const std::shared_ptr<const std::string>& source, const YAML::Mark& m) {
  return Mark{source, m.line + 1, m.column + 1};
}

Node convert(const YAML::Node& y, const std::shared_ptr<const std::string>& source) {
  const Mark mark = make_mark(source, y.Mark());
  switch (y.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return Node::null(mark);
    case YAML::NodeType::Scalar:
      return Node::scalar(y.Scalar(), mark);
    case YAML::NodeType::Sequence: {
      Node n = Node::sequence(mark);
      for (const auto& item : y) n.items().push_back(convert(item, source));
      return n;
    }
    case YAML::NodeType::Map: {
      Node n = Node::mapping(mark);
      for (const auto& kv : y) {
        const Mark key_mark = make_mark(source, kv.first.Mark());
        if (!kv.first.IsScalar()) {
          throw ConfigError(key_mark, "", "mapping keys must be plain names, not lists or mappings");
        }
        const std::string& key = kv.first.Scalar();
        if (const MapEntry* previous = n.find(key)) {
          throw ConfigError(key_mark, key,
                            "duplicate key (first given at line " + std::to_string(previous->key_mark.line) + ")");
        }
        n.entries().push_back(MapEntry{key, key_mark, convert(kv.second, source)});
      }
      return n;
    }
  }
  return Node::null(mark);
}

std::string format_size(std::uintmax_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

// An event handler that only records where the latest document starts (to locate a second document).
class DocumentMarks final : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> starts;
  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// Parses text into a tree; returns a null node for an empty document.
Node parse(std::string_view text, const std::shared_ptr<const std::string>& source) {
  const auto nul = text.find('\0');
  if (nul != std::string_view::npos) {
    throw ConfigError(Mark{source, 0, 0}, "",
                      "binary data (NUL byte at offset " + std::to_string(nul) + "); expected YAML text");
  }
  // Not YAML::LoadAll: on some malformed text (e.g. a line starting with ", key: v}") yaml-cpp 0.7's
  // parser returns an empty document without consuming the offending token, and LoadAll appends empty
  // documents forever until memory runs out (yaml-cpp issue 1040, fixed upstream by pull request 1319;
  // found by tests/fuzz). YAML::Load reads exactly one document; a second one is detected by a parser
  // pass that stops at the second document.
  const std::string str(text);
  YAML::Node doc;
  DocumentMarks marks;
  bool several = false;
  try {
    doc = YAML::Load(str);
    std::istringstream in(str);
    YAML::Parser parser(in);
    several = parser.HandleNextDocument(marks) && parser.HandleNextDocument(marks);
  } catch (const YAML::Exception& e) {
    throw ConfigError(make_mark(source, e.mark), "", "malformed YAML: " + e.msg);
  }
  if (several && marks.starts.size() >= 2 && marks.starts[1].pos <= marks.starts[0].pos) {
    // The parser made no progress: the yaml-cpp 0.7 case above.
    throw ConfigError(make_mark(source, marks.starts[1]), "",
                      "malformed YAML: cannot parse this text as a mapping (a stray ',', '}' or ']'?)");
  }
  if (several) {
    throw ConfigError(make_mark(source, marks.starts.size() >= 2 ? marks.starts[1] : YAML::Mark()), "",
                      "several YAML documents in one file; put one mapping per file");
  }
  if (doc.IsNull() || !doc.IsDefined()) return Node::null(Mark{source, 0, 0});
  return convert(doc, source);
}

void merge_into(Node& base, const Node& overlay) {
  if (base.is_mapping() && overlay.is_mapping()) {
    for (const auto& e : overlay.entries()) {
      if (MapEntry* b = base.find(e.key)) {
        merge_into(b->value, e.value);
        b->key_mark = e.key_mark;
      } else {
        base.entries().push_back(e);
      }
    }
    return;
  }
  base = overlay;
}

class FileLoader {
 public:
  Node load(const fs::path& path, const Mark& included_from) {
    std::error_code ec;
    const fs::path canonical = fs::weakly_canonical(path, ec);
    const fs::path key = ec ? path : canonical;
    auto source = std::make_shared<const std::string>(path.lexically_normal().string());
    if (std::find(stack_.begin(), stack_.end(), key) != stack_.end()) {
      std::string chain;
      for (const auto& p : stack_) chain += p.filename().string() + " -> ";
      throw ConfigError(included_from, "include", "include cycle: " + chain + key.filename().string());
    }
    const Mark file_mark{source, 0, 0};
    if (!fs::exists(path, ec)) {
      if (included_from.source) throw ConfigError(included_from, "include", "file not found: " + path.string());
      throw ConfigError(file_mark, "", "file not found");
    }
    if (fs::is_directory(path, ec)) throw ConfigError(file_mark, "", "is a directory, expected a YAML file");
    const auto size = fs::file_size(path, ec);
    if (ec) throw ConfigError(file_mark, "", "cannot read: " + ec.message());
    if (size > kMaxFileBytes) {
      throw ConfigError(file_mark, "",
                        "file is " + format_size(size) + "; input files are limited to " + format_size(kMaxFileBytes));
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError(file_mark, "", "cannot open for reading");
    std::ostringstream text;
    text << in.rdbuf();

    Node root = parse(text.str(), source);
    if (root.is_null()) throw ConfigError(file_mark, "", "file is empty; expected a mapping of keys");
    if (!root.is_mapping()) {
      throw ConfigError(root.mark(), "",
                        "the top level must be a mapping of keys, found " + std::string(describe_kind(root.kind())));
    }
    stack_.push_back(key);
    resolve_includes(root, path.parent_path());
    stack_.pop_back();
    return root;
  }

 private:
  void resolve_includes(Node& node, const fs::path& dir) {
    if (node.is_sequence()) {
      for (auto& item : node.items()) resolve_includes(item, dir);
      return;
    }
    if (!node.is_mapping()) return;
    for (auto& e : node.entries()) {
      if (e.key != "include") resolve_includes(e.value, dir);
    }
    const MapEntry* inc = node.find("include");
    if (inc == nullptr) return;
    if (!inc->value.is_scalar() || inc->value.scalar().empty()) {
      throw ConfigError(inc->value.mark(), "include", "expected a file path, e.g. include: ../topologies/x.yaml");
    }
    Node merged = load(dir / inc->value.scalar(), inc->value.mark());
    Node overlay = Node::mapping(node.mark());
    for (const auto& e : node.entries()) {
      if (e.key != "include") overlay.entries().push_back(e);
    }
    merge_into(merged, overlay);
    merged.set_mark(node.mark());
    node = std::move(merged);
  }

  std::vector<fs::path> stack_;
};

void emit(YAML::Emitter& out, const Node& node) {
  switch (node.kind()) {
    case Node::Kind::kNull: out << YAML::Null; break;
    case Node::Kind::kScalar: out << node.scalar(); break;
    case Node::Kind::kSequence:
      out << YAML::BeginSeq;
      for (const auto& item : node.items()) emit(out, item);
      out << YAML::EndSeq;
      break;
    case Node::Kind::kMapping:
      out << YAML::BeginMap;
      for (const auto& e : node.entries()) {
        out << YAML::Key << e.key << YAML::Value;
        emit(out, e.value);
      }
      out << YAML::EndMap;
      break;
  }
}

}  // namespace

Node load_file(const fs::path& path) { return FileLoader().load(path, Mark{}); }

Node parse_text(std::string_view text, const std::string& source) {
  return parse(text, std::make_shared<const std::string>(source));
}

std::string to_yaml(const Node& node) {
  YAML::Emitter out;
  emit(out, node);
  return std::string(out.c_str()) + "\n";
}

}  // namespace mfusim::config
