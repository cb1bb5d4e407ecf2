// Our own socket on the SIP multicast group 224.0.1.75:5060 (report 3.3.1).
// tport cannot bind non-exclusively, and several nodes must share the
// group on one host (tests, a node beside a softphone), so we own it:
// SO_REUSEADDR, bound to the group address, joined on one interface.
#pragma once

#include <functional>
#include <string>

#include "adaptor/sip/sofia.h"

namespace sippeer::adaptor {

class MulticastListener {
 public:
  // Called with each SIP request that arrives on the group; takes the msg.
  using Handler = std::function<void(msg_t* msg, sip_t* sip)>;

  MulticastListener(su_root_t* root, Handler handler);
  ~MulticastListener();
  // Empty string on success, else why not.
  std::string open(const std::string& group, int port, const std::string& interface_ip);

 private:
  static int on_readable(su_root_magic_t*, su_wait_t* w, void* arg);
  su_root_t* root_;
  Handler handler_;
  int fd_ = -1;
  int index_ = -1;
  su_wait_t wait_[1] = {};
};

}  // namespace sippeer::adaptor
