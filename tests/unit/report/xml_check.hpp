#pragma once
// A minimal XML well-formedness check for tests (no XML library in the build): one root element,
// properly nested and closed tags, quoted attributes without '<', no stray '<' or '&' in text (only the
// five predefined entities and character references), an optional <?xml ...?> declaration first.
// Returns "" when well-formed, else what is wrong and where.
#include <cctype>
#include <string>
#include <vector>

namespace mfusim::report::test_support {

inline std::string xml_problem(const std::string& s) {
  std::vector<std::string> open;
  std::size_t i = 0;
  int roots = 0;
  const auto at = [&](std::size_t p) { return " at offset " + std::to_string(p); };
  const auto entity_ok = [&](std::size_t p) {
    const auto semi = s.find(';', p);
    if (semi == std::string::npos || semi - p > 8) return false;
    const std::string e = s.substr(p + 1, semi - p - 1);
    if (e == "amp" || e == "lt" || e == "gt" || e == "quot" || e == "apos") return true;
    if (e.size() > 1 && e[0] == '#') {
      for (std::size_t k = 1; k < e.size(); ++k) {
        if (!std::isxdigit(static_cast<unsigned char>(e[k])) && !(k == 1 && e[k] == 'x')) return false;
      }
      return true;
    }
    return false;
  };
  const auto name_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' || c == '.'; };
  if (s.rfind("<?xml", 0) == 0) {
    i = s.find("?>");
    if (i == std::string::npos) return "unterminated XML declaration";
    i += 2;
  }
  while (i < s.size()) {
    if (s[i] == '&') {
      if (!entity_ok(i)) return "bad entity reference" + at(i);
      ++i;
      continue;
    }
    if (s[i] != '<') {
      if (open.empty() && !std::isspace(static_cast<unsigned char>(s[i]))) return "text outside the root element" + at(i);
      ++i;
      continue;
    }
    if (s.compare(i, 4, "<!--") == 0) {
      const auto e = s.find("-->", i);
      if (e == std::string::npos) return "unterminated comment" + at(i);
      i = e + 3;
      continue;
    }
    const bool closing = i + 1 < s.size() && s[i + 1] == '/';
    std::size_t p = i + (closing ? 2 : 1);
    const std::size_t name_start = p;
    while (p < s.size() && name_char(s[p])) ++p;
    const std::string name = s.substr(name_start, p - name_start);
    if (name.empty()) return "tag without a name" + at(i);
    if (closing) {
      while (p < s.size() && std::isspace(static_cast<unsigned char>(s[p]))) ++p;
      if (p >= s.size() || s[p] != '>') return "malformed closing tag </" + name + at(i);
      if (open.empty() || open.back() != name) return "</" + name + "> closes " + (open.empty() ? "nothing" : "<" + open.back() + ">") + at(i);
      open.pop_back();
      i = p + 1;
      continue;
    }
    // Attributes.
    for (;;) {
      while (p < s.size() && std::isspace(static_cast<unsigned char>(s[p]))) ++p;
      if (p >= s.size()) return "unterminated tag <" + name + at(i);
      if (s[p] == '>' || s.compare(p, 2, "/>") == 0) break;
      const std::size_t a = p;
      while (p < s.size() && name_char(s[p])) ++p;
      if (p == a) return "bad attribute in <" + name + at(p);
      if (p >= s.size() || s[p] != '=') return "attribute without '=' in <" + name + at(p);
      ++p;
      if (p >= s.size() || (s[p] != '"' && s[p] != '\'')) return "unquoted attribute in <" + name + at(p);
      const char q = s[p];
      const auto e = s.find(q, p + 1);
      if (e == std::string::npos) return "unterminated attribute in <" + name + at(p);
      for (std::size_t k = p + 1; k < e; ++k) {
        if (s[k] == '<') return "'<' inside an attribute of <" + name + at(k);
        if (s[k] == '&' && !entity_ok(k)) return "bad entity in an attribute of <" + name + at(k);
      }
      p = e + 1;
    }
    const bool empty = s[p] == '/';
    if (open.empty()) {
      if (++roots > 1) return "a second root element <" + name + at(i);
    }
    if (!empty) open.push_back(name);
    i = p + (empty ? 2 : 1);
  }
  if (!open.empty()) return "<" + open.back() + "> is never closed";
  if (roots != 1) return "no root element";
  return "";
}

}  // namespace mfusim::report::test_support
