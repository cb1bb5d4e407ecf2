// Loading the YAML configuration file over Settings, row by row of the
// schema. Every problem becomes a ConfigError with the file, the 1-based
// line and column of the offending node and the dotted key, and loading
// goes on so that one run reports every mistake in the file.
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "adaptor/config/settings.h"

namespace sippeer::adaptor {
namespace {

// "sip", "discovery", ...: every dotted prefix of a schema key.
const std::set<std::string>& sections() {
  static const std::set<std::string> out = [] {
    std::set<std::string> s;
    for (const auto& row : settings_schema()) {
      std::string key = row.key;
      for (auto dot = key.find('.'); dot != std::string::npos; dot = key.find('.', dot + 1))
        s.insert(key.substr(0, dot));
    }
    return s;
  }();
  return out;
}

std::string leaf(const std::string& key) {
  auto dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

// A key in the wrong section ("overlay.port", or "port" at the top) is
// most likely the same leaf elsewhere; otherwise the nearest spelling.
std::string suggest_key(const std::string& key) {
  std::vector<std::string> same_leaf, all;
  for (const auto& row : settings_schema()) {
    all.push_back(row.key);
    if (leaf(row.key) == leaf(key)) same_leaf.push_back(row.key);
  }
  if (!same_leaf.empty()) {
    std::string best = closest_match(key, same_leaf);
    return best.empty() ? same_leaf.front() : best;
  }
  all.insert(all.end(), sections().begin(), sections().end());
  return closest_match(key, all);
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return "'" + n.Scalar() + "'";
    case YAML::NodeType::Sequence: return "a sequence";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Undefined: break;
  }
  return "nothing";
}

// What the row wants, as said in a type error.
std::string expected(const SettingInfo& row) {
  std::string type = row.type;
  if (type == "int") return "expected int in " + std::string(row.range);
  if (type == "bool") return "expected bool (true or false)";
  if (type == "enum") return "expected one of " + std::string(row.range);
  if (type == "list<string>") return "expected a list of strings (e.g. [\"192.0.2.10:5060\"])";
  return "expected string";
}

// YAML documents in `text`: "---" lines start one each, and content
// before the first starts one too. *second_line is the 0-based line of
// the second document's "---", *first_content_line that of the first
// line that is neither blank, a comment nor a marker (-1: none).
int count_documents(const std::string& text, int* second_line, int* first_content_line) {
  *first_content_line = -1;
  int docs = 0, line = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view l(text.data() + pos, end - pos);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    const bool marker = l.substr(0, 3) == "---" && (l.size() == 3 || l[3] == ' ' || l[3] == '\t');
    const std::size_t first = l.find_first_not_of(" \t");
    const bool content = first != std::string_view::npos && l[first] != '#' && l.substr(0, 3) != "...";
    if (marker) {
      if (++docs == 2) *second_line = line;
    } else if (content) {
      if (docs == 0) docs = 1;
      if (*first_content_line < 0) *first_content_line = line;
    }
    pos = end + 1;
    ++line;
  }
  return docs;
}

class Loader {
 public:
  Loader(const std::string& file, Settings& s) : file_(file), s_(s) {}

  std::vector<ConfigError> load(const std::string& text) {
    try {
      // Not YAML::LoadAll: yaml-cpp 0.7 can loop for ever, allocating,
      // on a malformed second document (66 bytes found by
      // tests/fuzz/fuzz_config), and a daemon that hangs at start is worse
      // than one that says why it stops. The first document is parsed;
      // the others are only counted, by their "---" lines.
      int second_line = 0;
      const int docs = count_documents(text, &second_line, &first_content_line_);
      has_content_ = first_content_line_ >= 0;
      if (docs > 1) {
        YAML::Mark at;
        at.line = second_line;
        at.column = 0;
        error(at, "", "expected one YAML document, found " + std::to_string(docs));
      }
      if (docs > 0) {
        const YAML::Node root = YAML::Load(text);
        if (root.IsNull() && has_content_) {
          // yaml-cpp read no first document out of lines that are not
          // comments: it took them for the start of a second one.
          YAML::Mark at;
          at.line = first_content_line_;
          at.column = 0;
          error(at, "", "YAML syntax error: no mapping could be read here (e.g. sip: {port: 5060})");
        } else {
          load_root(root);
        }
      }
    } catch (const YAML::Exception& e) {
      error(e.mark, "", "YAML syntax error: " + e.msg);
    }
    return std::move(errors_);
  }

 private:
  bool has_content_ = false;
  int first_content_line_ = -1;
  void error(const YAML::Mark& mark, const std::string& key, const std::string& message) {
    bool known = !mark.is_null();
    errors_.push_back({file_, known ? mark.line + 1 : 0, known ? mark.column + 1 : 0, key, message});
  }

  void load_root(const YAML::Node& root) {
    if (root.IsNull()) return;  // empty, or every key commented out
    if (!root.IsMap()) {
      error(root.Mark(), "", "expected a mapping of sections (e.g. sip: {port: 5060}), got " + describe(root));
      return;
    }
    load_map(root, "");
  }

  void load_map(const YAML::Node& map, const std::string& prefix) {
    for (const auto& kv : map) {
      const YAML::Node& k = kv.first;
      if (!k.IsScalar()) {
        error(k.Mark(), prefix, "expected a key name, got " + describe(k));
        continue;
      }
      load_entry(k, kv.second, prefix.empty() ? k.Scalar() : prefix + "." + k.Scalar());
    }
  }

  void load_entry(const YAML::Node& k, const YAML::Node& value, const std::string& key) {
    if (auto [first, fresh] = seen_.emplace(key, k.Mark()); !fresh) {
      error(k.Mark(), key, "duplicate key (first set at line " + std::to_string(first->second.line + 1) + ")");
      return;
    }
    if (const SettingInfo* row = find_setting(key)) return load_value(*row, k, value);
    if (sections().count(key)) return load_section(k, value, key);
    std::string hint = suggest_key(key);
    error(k.Mark(), key, hint.empty() ? "unknown key" : "unknown key; did you mean '" + hint + "'?");
  }

  void load_section(const YAML::Node& k, const YAML::Node& value, const std::string& key) {
    if (value.IsNull()) return;  // a section whose keys are all commented out
    if (!value.IsMap()) {
      error(at(value, k), key, "expected a mapping of the section's keys (e.g. " + example(key) + "), got " +
                                   describe(value));
      return;
    }
    load_map(value, key);
  }

  void load_value(const SettingInfo& row, const YAML::Node& k, const YAML::Node& value) {
    if (auto* list = std::get_if<std::vector<std::string> Settings::*>(&row.field))
      return load_list(row, s_.**list, k, value);
    bool is_string = std::holds_alternative<std::string Settings::*>(row.field);
    if (value.IsNull() && is_string) {
      s_.*std::get<std::string Settings::*>(row.field) = "";  // "listen:" means empty
      return;
    }
    if (!value.IsScalar()) {
      error(at(value, k), row.key, expected(row) + ", got " + describe(value));
      return;
    }
    std::string problem = set_setting_text(row, s_, value.Scalar());
    if (!problem.empty()) error(at(value, k), row.key, problem);
  }

  // Either the whole list is taken or, on any bad element, none of it.
  void load_list(const SettingInfo& row, std::vector<std::string>& field, const YAML::Node& k,
                 const YAML::Node& value) {
    if (value.IsNull()) {
      field.clear();
      return;
    }
    if (!value.IsSequence()) {
      error(at(value, k), row.key, expected(row) + ", got " + describe(value));
      return;
    }
    std::vector<std::string> items;
    bool ok = true;
    for (std::size_t i = 0; i < value.size(); ++i) {
      const YAML::Node item = value[i];
      if (item.IsScalar()) {
        items.push_back(item.Scalar());
        continue;
      }
      error(at(item, k), std::string(row.key) + "[" + std::to_string(i) + "]",
            "expected string, got " + describe(item));
      ok = false;
    }
    if (ok) field = std::move(items);
  }

  // The value's own position, except for an empty value: yaml-cpp marks
  // that at the next token, often on a later line, so point at its key.
  static YAML::Mark at(const YAML::Node& value, const YAML::Node& k) {
    return value.IsNull() || value.Mark().is_null() ? k.Mark() : value.Mark();
  }

  static std::string example(const std::string& section) {
    for (const auto& row : settings_schema()) {
      std::string key = row.key;
      if (key.rfind(section + ".", 0) == 0)
        return section + ": {" + key.substr(section.size() + 1) + ": " + row.default_text + "}";
    }
    return section + ": {...}";
  }

  const std::string& file_;
  Settings& s_;
  std::vector<ConfigError> errors_;
  std::map<std::string, YAML::Mark> seen_;
};

}  // namespace

std::vector<ConfigError> load_config_text(const std::string& text, const std::string& name, Settings& s) {
  return Loader(name, s).load(text);
}

std::vector<ConfigError> load_config_file(const std::string& path, Settings& s) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return {{path, 0, 0, "", "cannot read config file: it is a directory"}};
  std::ifstream in(path, std::ios::binary);
  if (!in) return {{path, 0, 0, "", std::string("cannot read config file: ") + std::strerror(errno)}};
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return {{path, 0, 0, "", std::string("cannot read config file: ") + std::strerror(errno)}};
  return load_config_text(text.str(), path, s);
}

}  // namespace sippeer::adaptor
