#include "dht/config.h"

#include "dht/id.h"

namespace sippeer::dht {

std::string Config::validate() const {
  if (bits < 3 || bits > Id::kMaxBits) return "bits must be between 3 and 160";
  if (successors < 1 || successors > 64) return "successors must be between 1 and 64";
  if (replicas > successors) return "replicas must not exceed successors";
  if (stabilize_interval < Duration{10}) return "stabilize interval must be at least 10 ms";
  if (predecessor_silence < stabilize_interval)
    return "predecessor silence must be at least one stabilize interval";
  if (transfer_batch_window < Duration{0} || transfer_batch_window > Duration{1000})
    return "transfer batch window must be between 0 and 1000 ms";
  if (transfer_batch_bytes < 512 || transfer_batch_bytes > 60000)
    return "transfer batch bytes must be between 512 and 60000";
  if (max_forwards < 1 || max_forwards > 255) return "max_forwards must be between 1 and 255";
  return {};
}

}  // namespace sippeer::dht
