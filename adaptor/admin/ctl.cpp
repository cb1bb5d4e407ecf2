#include "adaptor/admin/ctl.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <termios.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "adaptor/admin/json.h"

namespace sippeer::adaptor {

namespace {

constexpr int kExitUsage = 64;        // EX_USAGE
constexpr int kExitUnavailable = 69;  // EX_UNAVAILABLE: the admin API is not there

const char* kUsage =
    "usage: sippeer ctl [--admin ADDR:PORT] [--token TOKEN] [--json] COMMAND [ARG]\n"
    "commands:\n"
    "  status          this node: id, state, neighbours, records\n"
    "  ring            every node in ring order, walked by successor lookups\n"
    "  fingers         the finger table (equal neighbours merged)\n"
    "  successors      the successor list\n"
    "  regs [AOR]      records stored here (primary or replica) with their bindings\n"
    "  regs --ring     every registration in the ring, asked of each node in turn\n"
    "  lookup AOR      the node responsible for AOR, the hop count and the bindings\n"
    "  leave           leave the ring gracefully (the daemon then exits)\n"
    "  user add AOR [PASSWORD]     provision a user (digest credential stored in the ring);\n"
    "                              without PASSWORD it is read from standard input\n"
    "  user passwd AOR [PASSWORD]  change a user's password\n"
    "  user del AOR                remove a user\n"
    "  user list                   users whose credentials this node stores\n"
    "  user import FILE            one 'AOR PASSWORD' per line (# comments); '-' reads stdin\n";

struct HttpResult {
  int status = 0;
  std::string body;
  std::string error;  // set when the admin API could not be reached
};

HttpResult http(const std::string& admin, const std::string& method, const std::string& target,
                const std::string& token, const std::string& form = {}) {
  HttpResult r;
  const auto colon = admin.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  if (colon == std::string::npos || inet_pton(AF_INET, admin.substr(0, colon).c_str(), &sa.sin_addr) != 1) {
    r.error = "bad admin address '" + admin + "' (want IPv4:PORT)";
    return r;
  }
  sa.sin_port = htons(static_cast<uint16_t>(std::atoi(admin.c_str() + colon + 1)));
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{35, 0};  // a ring walk may take a while
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    r.error = "cannot reach the admin API at " + admin + ": " + std::strerror(errno) +
              " (is sippeer running, with --admin " + admin + "?)";
    if (fd >= 0) ::close(fd);
    return r;
  }
  const std::string auth = method == "POST" && !token.empty() ? "Authorization: Bearer " + token + "\r\n" : "";
  const std::string type = form.empty() ? "" : "Content-Type: application/x-www-form-urlencoded\r\n";
  const std::string req = method + " " + target + " HTTP/1.0\r\nHost: " + admin + "\r\n" + auth + type +
                          "Content-Length: " + std::to_string(form.size()) + "\r\n\r\n" + form;
  (void)!::write(fd, req.data(), req.size());
  std::string resp;
  char buf[8192];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) resp.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  const auto sp = resp.find(' ');
  const auto body = resp.find("\r\n\r\n");
  if (sp == std::string::npos || body == std::string::npos) {
    r.error = "no HTTP answer from " + admin;
    return r;
  }
  r.status = std::atoi(resp.c_str() + sp + 1);
  r.body = resp.substr(body + 4);
  return r;
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else out += std::string("%") + hex[c >> 4] + hex[c & 15];
  }
  return out;
}

// A password typed at a terminal is not echoed; piped in, it is one line.
std::string read_password(const std::string& aor) {
  const bool tty = ::isatty(STDIN_FILENO);
  termios old{};
  if (tty) {
    std::cerr << "password for " << aor << ": " << std::flush;
    tcgetattr(STDIN_FILENO, &old);
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::cerr << "\n";
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

std::string user_form(const std::string& op, const std::string& aor, const std::string& password) {
  return "op=" + op + "&aor=" + url_encode(aor) + (password.empty() ? "" : "&password=" + url_encode(password));
}

void print_error_body(const std::string& body) {
  const Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  std::cerr << "sippeer ctl: " << (j.is_object() && j.contains("error") ? j.value("error", body) : body) << "\n";
}

// `user import FILE`: every line through POST /users, op set (added or
// changed). Returns the exit status: 0 when every line succeeded.
int import_users(const std::string& admin, const std::string& token, const std::string& file) {
  std::ifstream f;
  if (file != "-") {
    f.open(file);
    if (!f) return std::cerr << "sippeer ctl: cannot read " << file << ": " << std::strerror(errno) << "\n", 1;
  }
  std::istream& in = file == "-" ? std::cin : f;
  int lineno = 0, ok = 0, failed = 0;
  for (std::string line; std::getline(in, line);) {
    ++lineno;
    std::istringstream words(line);
    std::string aor, password;
    if (!(words >> aor) || aor[0] == '#') continue;
    if (!(words >> password)) {
      std::cerr << file << ":" << lineno << ": no password after " << aor << "\n";
      ++failed;
      continue;
    }
    const HttpResult r = http(admin, "POST", "/users", token, user_form("set", aor, password));
    if (!r.error.empty()) return std::cerr << "sippeer ctl: " << r.error << "\n", kExitUnavailable;
    if (r.status == 200) {
      ++ok;
    } else {
      std::cerr << file << ":" << lineno << ": " << aor << ": ";
      print_error_body(r.body);
      ++failed;
    }
  }
  std::cout << ok << " users imported" << (failed ? ", " + std::to_string(failed) + " failed" : "") << "\n";
  return failed ? 1 : 0;
}

}  // namespace

std::string lookup_text(const std::string& json_body) {
  const Json j = Json::parse(json_body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return json_body;  // not ours to reformat: show it as it came
  if (j.contains("error")) return "error     " + j.value("error", std::string()) + "\n";
  std::string t = "aor       " + j.value("aor", std::string()) + "\n";
  t += "key       " + j.value("key", std::string()) + "\n";
  const Json& node = j.contains("node") ? j["node"] : Json();
  const int hops = j.value("hops", 0);
  t += "owner     " + (node.is_object() ? node.value("uri", std::string("?")) : std::string("-")) + "  (" +
       std::to_string(hops) + (hops == 1 ? " hop" : " hops") + ")\n";
  const Json& bindings = j.contains("bindings") ? j["bindings"] : Json::array();
  if (bindings.empty()) return t + "bindings  none\n";
  bool first = true;
  for (const auto& b : bindings) {
    t += (first ? "bindings  " : "          ") + (b.is_string() ? b.get<std::string>() : b.dump()) + "\n";
    first = false;
  }
  return t;
}

int run_ctl(const std::vector<std::string>& args, const std::string& default_admin, const std::string& default_token) {
  std::string admin = default_admin;
  std::string token = default_token;
  bool json = false, ring = false;
  std::vector<std::string> words;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--admin" && i + 1 < args.size()) admin = args[++i];
    else if (args[i].rfind("--admin=", 0) == 0) admin = args[i].substr(8);
    else if (args[i] == "--token" && i + 1 < args.size()) token = args[++i];
    else if (args[i] == "--json") json = true;
    else if (args[i] == "--ring") ring = true;
    else if (args[i] == "-h" || args[i] == "--help") return std::cout << kUsage, 0;
    else words.push_back(args[i]);
  }
  if (words.empty()) return std::cerr << kUsage, kExitUsage;
  const std::string cmd = words[0];
  const std::string arg = words.size() > 1 ? words[1] : "";
  const std::string fmt = json ? "" : "format=text";
  std::string method = "GET", target;
  if (cmd == "status" || cmd == "successors" || cmd == "fingers") {
    target = json ? "/status" : "/" + cmd + "?" + fmt;
  } else if (cmd == "ring") {
    target = "/ring" + std::string(json ? "" : "?format=text");
  } else if (cmd == "regs" && ring) {
    if (!arg.empty()) return std::cerr << "sippeer ctl regs --ring lists everyone; for one AOR use: sippeer ctl lookup AOR\n", kExitUsage;
    target = "/registrations?scope=ring" + std::string(json ? "" : "&format=text");
  } else if (cmd == "regs") {
    const std::string aor = arg.empty() ? "" : "aor=" + url_encode(arg);
    target = "/registrations" + (json ? (aor.empty() ? "" : "?" + aor) : "?format=text" + (aor.empty() ? "" : "&" + aor));
  } else if (cmd == "lookup") {
    if (arg.empty()) return std::cerr << "sippeer ctl lookup: which AOR? e.g. sip:bob@example.com\n", kExitUsage;
    target = "/lookup?aor=" + url_encode(arg);
  } else if (cmd == "user") {
    const std::string sub = arg;
    const std::string who = words.size() > 2 ? words[2] : "";
    if (sub == "list") {
      target = json ? "/users" : "/users?format=text";
    } else if (sub == "import") {
      if (who.empty()) return std::cerr << "sippeer ctl user import: which file?\n", kExitUsage;
      return import_users(admin, token, who);
    } else if (sub == "add" || sub == "passwd" || sub == "del") {
      if (who.empty()) return std::cerr << "sippeer ctl user " << sub << ": which AOR? e.g. sip:alice@example.com\n", kExitUsage;
      std::string password = words.size() > 3 ? words[3] : "";
      if (sub != "del" && password.empty()) password = read_password(who);
      if (sub != "del" && password.empty()) return std::cerr << "sippeer ctl: empty password\n", kExitUsage;
      const HttpResult r = http(admin, "POST", "/users", token, user_form(sub, who, password));
      if (!r.error.empty()) return std::cerr << "sippeer ctl: " << r.error << "\n", kExitUnavailable;
      if (r.status != 200) {
        print_error_body(r.body);
        if (r.status == 401 || r.status == 403)
          std::cerr << "sippeer ctl: run it as the daemon's user (it reads state_dir/admin.token), or pass --token\n";
        return 1;
      }
      if (json) std::cout << r.body;
      else std::cout << who << (sub == "add" ? ": added\n" : sub == "del" ? ": deleted\n" : ": password changed\n");
      return 0;
    } else {
      std::cerr << "sippeer ctl user: add, passwd, del, list or import\n" << kUsage;
      return kExitUsage;
    }
  } else if (cmd == "leave") {
    method = "POST";
    target = json ? "/leave" : "/leave?format=text";
  } else {
    std::cerr << "sippeer ctl: unknown command '" << cmd << "'\n" << kUsage;
    return kExitUsage;
  }
  const HttpResult r = http(admin, method, target, token);
  if (!r.error.empty()) {
    std::cerr << "sippeer ctl: " << r.error << "\n";
    return kExitUnavailable;
  }
  // The API answers a lookup in JSON only; everything else comes as text
  // already when asked with format=text.
  const std::string out = cmd == "lookup" && !json ? lookup_text(r.body) : r.body;
  std::cout << out;
  if (!out.empty() && out.back() != '\n') std::cout << "\n";
  if (r.status == 404 && (cmd == "lookup" || cmd == "regs"))
    std::cerr << "sippeer ctl: " << (arg.empty() ? std::string("nothing found") : "no registration for " + arg) << "\n";
  if (r.status == 401 || r.status == 403)
    std::cerr << "sippeer ctl: refused: run it as the daemon's user (it reads state_dir/admin.token), or pass "
                 "--token TOKEN (admin.token)\n";
  return r.status == 200 ? 0 : 1;
}

}  // namespace sippeer::adaptor
