#pragma once
// A small XML well-formedness check for the SVG tests (no XML library in the build): an optional
// <?xml ...?> prolog, then exactly one root element; every element closed in order or self-closed;
// attributes name="value" (double or single quotes, each name once per element); text and attribute
// values without a raw '<' and with '&' only in the five predefined entities or &#N; / &#xN;; comments
// allowed. Returns "" when well-formed, else what is wrong and at which byte.
#include <cctype>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace mfusim::test {

inline std::string xml_problem(std::string_view s) {
  std::size_t i = 0;
  auto at = [&](const std::string& what) { return what + " at byte " + std::to_string(i); };
  auto name_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' || c == '.';
  };
  auto check_text = [&](std::string_view t) -> std::string {
    for (std::size_t k = 0; k < t.size(); ++k) {
      if (t[k] == '<') return "raw '<' in text";
      if (t[k] != '&') continue;
      const auto semi = t.find(';', k);
      if (semi == std::string_view::npos) return "'&' without ';'";
      const std::string_view ent = t.substr(k + 1, semi - k - 1);
      if (ent != "amp" && ent != "lt" && ent != "gt" && ent != "quot" && ent != "apos" &&
          (ent.empty() || ent[0] != '#')) {
        return "unknown entity &" + std::string(ent) + ";";
      }
    }
    return "";
  };
  if (s.substr(0, 5) == "<?xml") {
    const auto e = s.find("?>");
    if (e == std::string_view::npos) return "unterminated prolog";
    i = e + 2;
  }
  std::vector<std::string> stack;
  bool root_seen = false;
  while (i < s.size()) {
    const auto lt = s.find('<', i);
    const std::string_view text = s.substr(i, (lt == std::string_view::npos ? s.size() : lt) - i);
    if (stack.empty() && text.find_first_not_of(" \t\r\n") != std::string_view::npos)
      return at("text outside the root");
    if (auto p = check_text(text); !p.empty()) return at(p);
    if (lt == std::string_view::npos) break;
    i = lt;
    if (s.substr(i, 4) == "<!--") {
      const auto e = s.find("-->", i);
      if (e == std::string_view::npos) return at("unterminated comment");
      i = e + 3;
      continue;
    }
    const bool closing = i + 1 < s.size() && s[i + 1] == '/';
    i += closing ? 2 : 1;
    const std::size_t n0 = i;
    while (i < s.size() && name_char(s[i])) ++i;
    const std::string name(s.substr(n0, i - n0));
    if (name.empty()) return at("missing element name");
    if (closing) {
      while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
      if (i >= s.size() || s[i] != '>') return at("malformed closing tag </" + name);
      if (stack.empty() || stack.back() != name)
        return at("</" + name + "> does not close <" + (stack.empty() ? "" : stack.back()) + ">");
      stack.pop_back();
      ++i;
      continue;
    }
    if (stack.empty() && root_seen) return at("a second root element <" + name + ">");
    root_seen = true;
    std::set<std::string> attrs;
    for (;;) {
      while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
      if (i >= s.size()) return at("unterminated tag <" + name);
      if (s[i] == '>') {
        stack.push_back(name);
        ++i;
        break;
      }
      if (s.substr(i, 2) == "/>") {
        i += 2;
        break;
      }
      const std::size_t a0 = i;
      while (i < s.size() && name_char(s[i])) ++i;
      const std::string attr(s.substr(a0, i - a0));
      if (attr.empty()) return at("malformed attribute in <" + name);
      if (!attrs.insert(attr).second) return at("attribute " + attr + " twice in <" + name);
      if (i >= s.size() || s[i] != '=') return at("attribute " + attr + " without '='");
      ++i;
      if (i >= s.size() || (s[i] != '"' && s[i] != '\'')) return at("attribute " + attr + " value not quoted");
      const char q = s[i++];
      const auto e = s.find(q, i);
      if (e == std::string_view::npos) return at("unterminated value of " + attr);
      if (auto p = check_text(s.substr(i, e - i)); !p.empty()) return at(p + " in attribute " + attr);
      i = e + 1;
    }
  }
  if (!stack.empty()) return "unclosed <" + stack.back() + ">";
  if (!root_seen) return "no root element";
  return "";
}

}  // namespace mfusim::test
