// Command-line flags. The option table is derived from the schema's `flag`
// texts plus the command-line-only options, so a flag documented in --help
// is exactly a flag accepted here.
//
// Two passes over argv share one scanner: parse_command_line needs
// --config before the file is loaded, while setting flags must be applied
// after it so that they win over the file whatever their order.
#include <algorithm>
#include <cctype>
#include <optional>

#include "adaptor/config/settings.h"

namespace sippeer::adaptor {
namespace {

const char* const kCommandLine = "command line";

enum class Meta { None, Config, CheckConfig, ConfigReference, Help, Version };

struct Option {
  std::string short_name;        // "-p", or "" when there is none
  std::string long_name;         // "--port"
  std::string metavar;           // "PORT", "[FILE]"; "" when the option takes no value
  bool takes_value = false;      // a metavar follows the names: "--port PORT"
  bool optional_value = false;   // written "[FILE]": the value may be left out
  const SettingInfo* row = nullptr;  // nullptr for command-line-only options
  Meta meta = Meta::None;
};

// Parses flag texts such as "-p, --port PORT" and "--check-config [FILE]".
Option parse_flag(const std::string& flag) {
  Option opt;
  std::size_t pos = 0;
  while (pos < flag.size()) {
    auto end = flag.find_first_of(", ", pos);
    std::string word = flag.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    pos = end == std::string::npos ? flag.size() : flag.find_first_not_of(", ", end);
    if (word.rfind("--", 0) == 0) opt.long_name = word;
    else if (word.size() == 2 && word[0] == '-') opt.short_name = word;
    else if (!word.empty()) {
      opt.metavar = word;
      opt.takes_value = true;
      opt.optional_value = word.front() == '[';
    }
  }
  return opt;
}

Meta meta_of(const std::string& long_name) {
  if (long_name == "--config") return Meta::Config;
  if (long_name == "--check-config") return Meta::CheckConfig;
  if (long_name == "--config-reference") return Meta::ConfigReference;
  if (long_name == "--help") return Meta::Help;
  if (long_name == "--version") return Meta::Version;
  return Meta::None;
}

const std::vector<Option>& options() {
  static const std::vector<Option> out = [] {
    std::vector<Option> v;
    for (const auto& info : command_line_only_options()) {
      Option opt = parse_flag(info.flag);
      opt.meta = meta_of(opt.long_name);
      v.push_back(opt);
    }
    for (const auto& row : settings_schema()) {
      if (!*row.flag) continue;
      Option opt = parse_flag(row.flag);
      opt.row = &row;
      v.push_back(opt);
    }
    return v;
  }();
  return out;
}

const Option* find_option(const std::string& name) {
  for (const auto& opt : options())
    if (name == opt.long_name || name == opt.short_name) return &opt;
  return nullptr;
}

std::string normalized(std::string s) {
  for (char& c : s) c = c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string unknown_option_message(const std::string& name) {
  std::string bare = name.substr(name.find_first_not_of('-'));
  if (name.rfind("--", 0) != 0) {
    // Single letters are too short for edit distance; only the other case helps.
    for (const auto& opt : options())
      if (!opt.short_name.empty() && normalized(opt.short_name) == normalized(name))
        return "unknown option; did you mean '" + opt.short_name + "'?";
    return "unknown option";
  }
  // Settings without a flag: say where they can be set instead.
  for (const auto& row : settings_schema()) {
    std::string key = row.key;
    std::string leaf = key.substr(key.rfind('.') + 1);
    if (!*row.flag && (normalized(bare) == key || normalized(bare) == leaf))
      return "unknown option; " + key + " has no flag: set it in the --config file";
  }
  std::vector<std::string> names;
  for (const auto& opt : options()) names.push_back(opt.long_name.substr(2));
  std::string hint = closest_match(bare, names);
  return hint.empty() ? "unknown option" : "unknown option; did you mean '--" + hint + "'?";
}

struct Use {
  const Option* opt;
  std::string written;               // the name as typed: "-p" or "--port"
  std::optional<std::string> value;
};

struct Scan {
  std::vector<Use> uses;
  std::vector<std::string> rest;
  std::vector<ConfigError> errors;
};

void error(Scan& scan, const std::string& key, const std::string& message) {
  scan.errors.push_back({kCommandLine, 0, 0, key, message});
}

// Splits "--port=5060" and "-p5060" into name and attached value.
std::pair<std::string, std::optional<std::string>> split_arg(const std::string& arg) {
  if (arg.rfind("--", 0) == 0) {
    auto eq = arg.find('=');
    if (eq == std::string::npos) return {arg, std::nullopt};
    return {arg.substr(0, eq), arg.substr(eq + 1)};
  }
  if (arg.size() > 2) return {arg.substr(0, 2), arg.substr(2)};
  return {arg, std::nullopt};
}

// Takes the option's value from the attached text or the next argument.
// A following "--flag" is not taken as a value: the value was forgotten.
std::optional<std::string> take_value(const Option& opt, std::optional<std::string> attached, int argc,
                                      char** argv, int& i) {
  if (attached) return attached;
  if (i + 1 >= argc) return std::nullopt;
  std::string next = argv[i + 1];
  if (next.rfind("--", 0) == 0 || (opt.optional_value && next.rfind('-', 0) == 0)) return std::nullopt;
  ++i;
  return next;
}

void scan_option(Scan& scan, const std::string& arg, int argc, char** argv, int& i) {
  auto [name, attached] = split_arg(arg);
  const Option* opt = find_option(name);
  if (!opt) return error(scan, name, unknown_option_message(name));
  if (!opt->takes_value) {
    if (attached) return error(scan, name, "takes no value, got '" + *attached + "'");
    scan.uses.push_back({opt, name, std::nullopt});
    return;
  }
  auto value = take_value(*opt, attached, argc, argv, i);
  if (!value && !opt->optional_value) return error(scan, name, "missing value (" + opt->metavar + ")");
  scan.uses.push_back({opt, name, value});
}

Scan scan_args(int argc, char** argv) {
  Scan scan;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--" || arg.size() < 2 || arg[0] != '-') {
      // Positional: it and the rest belong to the caller (e.g. "ctl ...").
      for (int j = arg == "--" ? i + 1 : i; j < argc; ++j) scan.rest.push_back(argv[j]);
      break;
    }
    scan_option(scan, arg, argc, argv, i);
  }
  return scan;
}

void set_config_path(CommandLine& cl, const Use& use, std::vector<ConfigError>& errors) {
  if (!cl.config_path.empty() && cl.config_path != *use.value) {
    errors.push_back({kCommandLine, 0, 0, use.written,
                      "two config files given ('" + cl.config_path + "' and '" + *use.value + "')"});
    return;
  }
  cl.config_path = *use.value;
}

std::string apply_use(const Use& use, Settings& s, std::vector<const SettingInfo*>& lists_started) {
  const SettingInfo& row = *use.opt->row;
  if (auto* b = std::get_if<bool Settings::*>(&row.field)) {
    // Bool flags name the non-default: "--no-multicast" turns it off.
    s.**b = use.opt->long_name.rfind("--no-", 0) != 0;
    return "";
  }
  if (auto* list = std::get_if<std::vector<std::string> Settings::*>(&row.field)) {
    // The first use replaces the file's list; later ones add to it.
    if (std::find(lists_started.begin(), lists_started.end(), &row) == lists_started.end()) {
      (s.**list).clear();
      lists_started.push_back(&row);
    }
  }
  return set_setting_text(row, s, *use.value);
}

}  // namespace

std::vector<ConfigError> parse_command_line(int argc, char** argv, CommandLine& cl) {
  Scan scan = scan_args(argc, argv);
  for (const auto& use : scan.uses) {
    switch (use.opt->meta) {
      case Meta::Config: set_config_path(cl, use, scan.errors); break;
      case Meta::CheckConfig:
        cl.check_config = true;
        if (use.value) set_config_path(cl, use, scan.errors);
        break;
      case Meta::ConfigReference: cl.config_reference = true; break;
      case Meta::Help: cl.help = true; break;
      case Meta::Version: cl.version = true; break;
      case Meta::None: break;
    }
  }
  cl.rest = std::move(scan.rest);
  return std::move(scan.errors);
}

std::vector<ConfigError> apply_command_line(int argc, char** argv, Settings& s) {
  // Shape errors were parse_command_line's to report; here only values.
  std::vector<ConfigError> errors;
  std::vector<const SettingInfo*> lists_started;
  for (const auto& use : scan_args(argc, argv).uses) {
    if (!use.opt->row) continue;
    std::string problem = apply_use(use, s, lists_started);
    if (!problem.empty()) errors.push_back({kCommandLine, 0, 0, use.written, problem});
  }
  return errors;
}

}  // namespace sippeer::adaptor
