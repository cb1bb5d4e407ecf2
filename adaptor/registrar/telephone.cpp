#include "adaptor/registrar/telephone.h"

#include <cctype>
#include <cstdlib>

namespace sippeer::adaptor {

namespace {

bool is_visual_separator(char c) { return c == '-' || c == '.' || c == '(' || c == ')'; }

// "+" and digits from a global number with visual separators, or "".
std::string digits_of(std::string_view s, bool need_plus) {
  std::string out;
  std::size_t i = 0;
  if (need_plus) {
    if (s.empty() || s[0] != '+') return {};
    out += '+';
    i = 1;
  }
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (std::isdigit(static_cast<unsigned char>(c))) out += c;
    else if (!is_visual_separator(c)) return {};
  }
  return out.size() > (need_plus ? 1u : 0u) ? out : std::string();
}

// The value of ;name= among URI parameters ("" when absent).
std::string param(std::string_view params, std::string_view name) {
  std::size_t pos = 0;
  while (pos < params.size()) {
    std::size_t end = params.find(';', pos);
    if (end == std::string_view::npos) end = params.size();
    std::string_view p = params.substr(pos, end - pos);
    if (p.size() > name.size() && p[name.size()] == '=') {
      bool same = true;
      for (std::size_t k = 0; k < name.size(); ++k)
        if (std::tolower(static_cast<unsigned char>(p[k])) != name[k]) same = false;
      if (same) return std::string(p.substr(name.size() + 1));
    }
    pos = end + 1;
  }
  return {};
}

}  // namespace

std::optional<std::string> global_number(std::string_view uri) {
  const std::size_t colon = uri.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string scheme(uri.substr(0, colon));
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view rest = uri.substr(colon + 1);
  if (scheme == "tel") {
    const std::size_t semi = std::min(rest.find(';'), rest.size());
    const std::string_view number = rest.substr(0, semi), params = rest.substr(semi);
    if (!number.empty() && number[0] == '+') {
      std::string n = digits_of(number, true);
      return n.empty() ? std::nullopt : std::optional<std::string>(n);
    }
    // A local number: global only with a global-number phone-context.
    const std::string context = param(params, "phone-context");
    const std::string prefix = digits_of(context, true), local = digits_of(number, false);
    if (prefix.empty() || local.empty()) return std::nullopt;
    return prefix + local.substr(0);
  }
  if (scheme != "sip" && scheme != "sips") return std::nullopt;
  const std::size_t at = rest.find('@');
  if (at == std::string_view::npos) return std::nullopt;
  const std::string_view user = rest.substr(0, at);
  const std::string_view after = rest.substr(at + 1);
  const std::size_t semi = after.find(';');
  if (semi == std::string_view::npos || param(after.substr(semi), "user") != "phone") return std::nullopt;
  // The user part is a telephone-subscriber: the number, then its own
  // parameters (";phone-context=...").
  const std::size_t usemi = std::min(user.find(';'), user.size());
  const std::string_view number = user.substr(0, usemi);
  if (!number.empty() && number[0] == '+') {
    std::string n = digits_of(number, true);
    return n.empty() ? std::nullopt : std::optional<std::string>(n);
  }
  const std::string prefix = digits_of(param(user.substr(usemi), "phone-context"), true),
                    local = digits_of(number, false);
  if (prefix.empty() || local.empty()) return std::nullopt;
  return prefix + local;
}

std::vector<std::string> prefix_aors(const std::string& number) {
  std::vector<std::string> out;
  for (std::size_t n = number.size(); n >= 2; --n) out.push_back(telephone_aor(number.substr(0, n)));
  return out;
}

std::optional<double> cost_per_minute(std::string_view contact_params) {
  std::string v = param(contact_params, "cost");
  if (v.empty()) return std::nullopt;
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  // An optional currency (letters), an amount, an optional /<seconds>s.
  std::size_t i = 0;
  while (i < v.size() && std::isalpha(static_cast<unsigned char>(v[i]))) ++i;
  const std::string rest = v.substr(i);
  char* end = nullptr;
  const double amount = std::strtod(rest.c_str(), &end);
  if (end == rest.c_str() || amount < 0) return std::nullopt;
  std::string_view per(end);
  if (per.empty()) return amount;
  if (per[0] != '/') return std::nullopt;
  per.remove_prefix(1);
  if (!per.empty() && (per.back() == 's' || per.back() == 'S')) per.remove_suffix(1);
  const std::string secs(per);
  char* send = nullptr;
  const double seconds = std::strtod(secs.c_str(), &send);
  if (send == secs.c_str() || *send != '\0' || seconds <= 0) return std::nullopt;
  return amount * 60.0 / seconds;
}

}  // namespace sippeer::adaptor
