#include "adaptor/sip/fast_reply.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>
#include <random>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/sip_util.h>

#include "adaptor/sip/networks.h"

namespace sippeer::adaptor {

namespace {

constexpr std::size_t kMaxDatagram = 1300;  // nta's own UDP limit (the MTU rule of RFC 3261 18.1.1)
constexpr isize_t kMaxParts = 64;           // msg_iovec's pieces of a prepared message

// A header line as received, else encoded anew. False when it cannot be.
bool append_line(std::string& out, const msg_header_t* h) {
  if (h->sh_data && h->sh_len) {
    out.append(static_cast<const char*>(h->sh_data), h->sh_len);
    return true;
  }
  char tmp[kMaxDatagram];
  const issize_t n = msg_header_e(tmp, sizeof tmp, h, 0);
  if (n <= 0 || static_cast<std::size_t>(n) >= sizeof tmp) return false;
  out.append(tmp, static_cast<std::size_t>(n));
  return true;
}

bool append_vias(std::string& out, const sip_via_t* top) {
  // nta added received/rport to the top Via, so its text is gone; a Via
  // that shared its line ("Via: a, b") lost its text with it. Then every
  // Via is encoded on its own line; otherwise all go as received.
  const bool raw = top->v_common->h_data && top->v_common->h_len;
  for (const sip_via_t* v = top; v; v = v->v_next) {
    const auto* h = reinterpret_cast<const msg_header_t*>(v);
    if (raw) {
      if (v->v_common->h_len == 0) continue;  // part of the line before it
      if (!v->v_common->h_data) return false;
      out.append(static_cast<const char*>(v->v_common->h_data), v->v_common->h_len);
    } else {
      char tmp[kMaxDatagram];
      const issize_t n = msg_header_e(tmp, sizeof tmp, h, 0);
      if (n <= 0 || static_cast<std::size_t>(n) >= sizeof tmp) return false;
      out.append(tmp, static_cast<std::size_t>(n));
    }
  }
  return true;
}

}  // namespace

const std::string& FastReply::date_line() {
  const std::time_t now = std::time(nullptr);
  if (now != date_second_) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    char b[64];
    std::strftime(b, sizeof b, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    date_ = b;
    date_second_ = now;
  }
  return date_;
}

bool FastReply::reply(msg_t* msg, const sip_t* sip, int status, const char* phrase, std::string_view extra) {
  if (fd_ < 0 || !sip || !sip->sip_request || !sip->sip_via || !sip->sip_from || !sip->sip_to ||
      !sip->sip_call_id || !sip->sip_cseq)
    return false;
  const su_addrinfo_t* ai = msg_addrinfo(msg);
  if (!ai || !ai->ai_addr || ai->ai_protocol != IPPROTO_UDP) return false;
  if (tag_.empty()) {
    std::random_device rd;
    char b[32];
    std::snprintf(b, sizeof b, ";tag=sp%08x", rd());
    tag_ = b;
  }
  buf_.clear();
  char status_line[96];
  std::snprintf(status_line, sizeof status_line, "SIP/2.0 %03d %s\r\n", status, phrase);
  buf_ += status_line;
  if (!append_vias(buf_, sip->sip_via) || !append_line(buf_, reinterpret_cast<const msg_header_t*>(sip->sip_from)))
    return false;
  const std::size_t to_start = buf_.size();
  if (!append_line(buf_, reinterpret_cast<const msg_header_t*>(sip->sip_to))) return false;
  if (!sip->sip_to->a_tag) {
    // RFC 3261 8.2.6.2: a final answer carries a To tag.
    if (buf_.size() < to_start + 2 || buf_.compare(buf_.size() - 2, 2, "\r\n") != 0) return false;
    buf_.insert(buf_.size() - 2, tag_);
  }
  if (!append_line(buf_, reinterpret_cast<const msg_header_t*>(sip->sip_call_id)) ||
      !append_line(buf_, reinterpret_cast<const msg_header_t*>(sip->sip_cseq)))
    return false;
  buf_ += extra;
  buf_ += "Content-Length: 0\r\n\r\n";
  if (buf_.size() > kMaxDatagram) return false;
  if (!send_or_hold(ai->ai_addr, static_cast<socklen_t>(ai->ai_addrlen))) return false;  // nta tries again
  msg_destroy(msg);
  return true;
}

bool FastReply::send_or_hold(const sockaddr* to, socklen_t to_len) {
  if (holding_ && to_len <= sizeof(sockaddr_storage)) {
    Held& h = held_replies_[held_++];
    h.bytes.assign(buf_);
    std::memcpy(&h.to, to, to_len);
    h.to_len = to_len;
    ++batched_;
    if (held_ == kHeld) {
      flush();
      holding_ = true;  // the batch goes on
    }
    return true;
  }
  // A second try, as in flush(): an ICMP error from another address,
  // queued on the socket, fails whichever send comes next.
  for (int attempt = 0; attempt < 2; ++attempt)
    if (::sendto(fd_, buf_.data(), buf_.size(), MSG_DONTWAIT, to, to_len) == static_cast<ssize_t>(buf_.size()))
      return true;
  return false;
}

bool FastReply::forward_answer(msg_t* msg, sip_t* sip) {
  if (fd_ < 0 || !sip || !sip->sip_status || !sip->sip_via || !sip->sip_via->v_next) return false;
  const sip_via_t* next = sip->sip_via->v_next;
  if (!via_over_udp(next) || next->v_maddr || next->v_comp) return false;
  // nta_tpn_by_via and sip_via_port for UDP: received, else the host;
  // rport when it has a value, else the port, else 5060.
  const char* host = next->v_received ? next->v_received : next->v_host;
  const char* port = next->v_rport && next->v_rport[0] ? next->v_rport : next->v_port ? next->v_port : "";
  if (!host) return false;
  const std::optional<sockaddr_in> to = ipv4_endpoint(host, port);
  if (!to) return false;
  // As nta_msg_tsend: the headers in order, then our Via out. Headers
  // nobody touched keep their received text, so this encodes little.
  auto* pub = reinterpret_cast<msg_pub_t*>(sip);
  if (!sip->sip_separator && !(sip->sip_separator = sip_separator_create(msg_home(msg)))) return false;
  if (msg_serialize(msg, pub) != 0 || !sip_via_remove(msg, sip)) return false;
  // Our Via is gone: from here the answer is ours to send or lose (nta
  // would remove the next Via too). A loss is a lost datagram: the
  // registrar answers the phone's retransmission again. No size limit:
  // nta sends a relayed answer over UDP whatever its size
  // (TPTAG_MTU(INT_MAX)), as it came.
  if (send_message(msg, *to)) ++forwarded_;
  else ++send_failures_;
  return true;
}

bool FastReply::relay_request(msg_t* msg, sip_t* sip, const sockaddr_in& to, std::string_view sent_by,
                              std::string_view branch) {
  if (fd_ < 0 || !sip || !sip->sip_request || sent_by.empty() || branch.empty()) return false;
  auto* pub = reinterpret_cast<msg_pub_t*>(sip);
  // nta's outgoing_create completes the message first (Content-Length,
  // separator); its size decides before our Via goes in, so that a
  // message we leave to nta gets nta's Via alone.
  std::string via = "SIP/2.0/UDP ";
  via.append(sent_by).append(";rport;branch=").append(branch);
  if (sip_complete_message(msg) < 0 || msg_serialize(msg, pub) != 0) return false;
  const issize_t size = msg_prepare(msg);
  if (size <= 0 || static_cast<std::size_t>(size) + via.size() + 7 > kMaxDatagram) return false;
  sip_via_t* ours = sip_via_make(msg_home(msg), via.c_str());
  if (!ours || msg_header_insert(msg, pub, reinterpret_cast<msg_header_t*>(ours)) < 0) return false;
  // From here the request is ours to send or lose: a loss is a lost
  // datagram, and the phone's retransmission is relayed again.
  if (send_message(msg, to)) ++relayed_;
  else ++send_failures_;
  return true;
}

bool FastReply::send_message(msg_t* msg, const sockaddr_in& to) {
  bool sent = false;
  msg_iovec_t iov[kMaxParts];
  if (msg_prepare(msg) > 0) {
    const isize_t parts = msg_iovec(msg, iov, kMaxParts);
    if (parts > 0 && parts <= kMaxParts) {
      buf_.clear();
      for (isize_t i = 0; i < parts; ++i) buf_.append(static_cast<const char*>(iov[i].mv_base), iov[i].mv_len);
      sent = send_or_hold(reinterpret_cast<const sockaddr*>(&to), sizeof to);
    }
  }
  msg_destroy(msg);
  return sent;
}

void FastReply::flush() {
  holding_ = false;
  std::array<mmsghdr, kHeld> hdr{};
  std::array<iovec, kHeld> iov{};
  for (int i = 0; i < held_; ++i) {
    iov[i] = {held_replies_[i].bytes.data(), held_replies_[i].bytes.size()};
    hdr[i].msg_hdr.msg_iov = &iov[i];
    hdr[i].msg_hdr.msg_iovlen = 1;
    hdr[i].msg_hdr.msg_name = &held_replies_[i].to;
    hdr[i].msg_hdr.msg_namelen = held_replies_[i].to_len;
  }
  int next = 0;
  bool retried = false;
  while (next < held_) {
    const int sent = sendmmsg(fd_, hdr.data() + next, static_cast<unsigned>(held_ - next), MSG_DONTWAIT);
    if (sent > 0) {
      next += sent;
      retried = false;
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    // An error left on the socket by an ICMP message from some other
    // address (IP_RECVERR, which tport sets) is reported by the next send,
    // whoever it is for, and cleared by it: that datagram gets a second
    // try. A second failure (a full send buffer) loses it.
    if (!retried) {
      retried = true;
      continue;
    }
    ++send_failures_;
    ++next;
    retried = false;
  }
  held_ = 0;
}

}  // namespace sippeer::adaptor
