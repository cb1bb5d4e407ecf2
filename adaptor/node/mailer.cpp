#include "adaptor/node/mailer.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sippeer::adaptor {

namespace {

class Connection {
 public:
  ~Connection() {
    if (fd_ >= 0) ::close(fd_);
  }
  std::string open(const std::string& host_port, int timeout_ms) {
    const auto colon = host_port.rfind(':');
    if (colon == std::string::npos) return "auth.smtp: no port in " + host_port;
    const std::string host = host_port.substr(0, colon), port = host_port.substr(colon + 1);
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0)
      return "resolve " + host_port + ": " + gai_strerror(rc);
    std::string err;
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
      fd_ = ::socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
      if (fd_ < 0) continue;
      timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      if (::connect(fd_, ai->ai_addr, ai->ai_addrlen) == 0) break;
      err = std::strerror(errno);
      ::close(fd_);
      fd_ = -1;
    }
    ::freeaddrinfo(res);
    return fd_ < 0 ? "connect " + host_port + ": " + (err.empty() ? "no address" : err) : "";
  }
  bool send(const std::string& text) {
    std::size_t off = 0;
    while (off < text.size()) {
      const ssize_t n = ::send(fd_, text.data() + off, text.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
  // One reply (its last line "NNN text"); 0 on a broken connection.
  int reply(std::string* text) {
    for (;;) {
      const auto nl = buf_.find("\r\n");
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 2);
        if (line.size() >= 4 && line[3] == '-') continue;  // a continuation line
        *text = line;
        return line.size() >= 3 ? std::atoi(line.substr(0, 3).c_str()) : 0;
      }
      char chunk[512];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return 0;
      buf_.append(chunk, static_cast<std::size_t>(n));
      if (buf_.size() > 65536) return 0;
    }
  }

 private:
  int fd_ = -1;
  std::string buf_;
};

std::string dot_stuffed(const std::string& body) {
  std::string out;
  std::size_t pos = 0;
  while (pos <= body.size()) {
    std::size_t nl = body.find('\n', pos);
    std::string line = body.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty() && line.front() == '.') line.insert(0, ".");
    out += line + "\r\n";
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return out;
}

}  // namespace

std::string send_mail(const std::string& host_port, const Mail& mail, int timeout_ms) {
  Connection c;
  if (std::string e = c.open(host_port, timeout_ms); !e.empty()) return e;
  std::string text;
  auto step = [&](const std::string& command, int want_class) -> std::string {
    if (!command.empty() && !c.send(command + "\r\n")) return command + ": connection lost";
    const int code = c.reply(&text);
    if (code / 100 != want_class)
      return (command.empty() ? std::string("greeting") : command.substr(0, command.find(':') + 1)) + " " +
             (code ? text : "no answer");
    return "";
  };
  for (const auto& [command, want] : std::initializer_list<std::pair<std::string, int>>{
           {"", 2}, {"HELO sippeer", 2}, {"MAIL FROM:<" + mail.from + ">", 2}, {"RCPT TO:<" + mail.to + ">", 2},
           {"DATA", 3}}) {
    if (std::string e = step(command, want); !e.empty()) return e;
  }
  const std::string message = "From: <" + mail.from + ">\r\nTo: <" + mail.to + ">\r\nSubject: " + mail.subject +
                              "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + dot_stuffed(mail.body) + ".";
  if (std::string e = step(message, 2); !e.empty()) return "DATA: " + e;
  step("QUIT", 2);
  return "";
}

}  // namespace sippeer::adaptor
