#include "adaptor/proxy/fork_table.h"

#include <algorithm>
#include <charconv>

#include "adaptor/proxy/hop_watch.h"

namespace sippeer::adaptor {

namespace {

// A fork's branches are its key, a dot and the branch's index: the
// request's own key tells copies of one request apart, the index the
// phones. A stateless relay's branch is the key alone (no dot after it).
constexpr char kIndexMark = '.';

}  // namespace

ForkTable::ForkTable(std::int64_t branch_timeout_ms, std::int64_t keep_answered_ms, std::size_t capacity)
    : branch_timeout_ms_(branch_timeout_ms), keep_answered_ms_(keep_answered_ms), capacity_(capacity) {}

ForkTable::Fork* ForkTable::start(const std::string& key, std::vector<std::string> targets, std::int64_t now_ms) {
  if (forks_.size() >= capacity_ || targets.empty()) return nullptr;
  auto [it, inserted] = forks_.try_emplace(key);
  if (!inserted) return nullptr;
  Fork& f = it->second;
  f.done.assign(targets.size(), false);
  f.targets = std::move(targets);
  f.deadline = now_ms + branch_timeout_ms_;
  pending_order_.emplace_back(f.deadline, key);
  return &f;
}

ForkTable::Fork* ForkTable::find(const std::string& key) {
  auto it = forks_.find(key);
  return it == forks_.end() ? nullptr : &it->second;
}

const ForkTable::Fork* ForkTable::find(const std::string& key) const {
  auto it = forks_.find(key);
  return it == forks_.end() ? nullptr : &it->second;
}

std::string ForkTable::branch_of(const std::string& key, std::size_t index) {
  return key + kIndexMark + std::to_string(index);
}

bool ForkTable::parse_branch(std::string_view branch, std::string* key, std::size_t* index) {
  const std::size_t dot = branch.rfind(kIndexMark);
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == branch.size()) return false;
  const char* first = branch.data() + dot + 1;
  const char* last = branch.data() + branch.size();
  auto [end, ec] = std::from_chars(first, last, *index);
  if (ec != std::errc() || end != last) return false;
  key->assign(branch.substr(0, dot));
  return true;
}

ForkTable::Verdict ForkTable::answer(std::string_view branch, int status, std::string* key) {
  std::size_t index = 0;
  if (forks_.empty() || !parse_branch(branch, key, &index)) return Verdict::NotOurs;
  Fork* f = find(*key);
  if (!f) return Verdict::NotOurs;
  // An answered fork forgot its phones: late answers are still ours (we
  // sent the request), with nothing left to do.
  if (f->answered) return Verdict::Drop;
  if (index >= f->targets.size()) return Verdict::NotOurs;
  if (status < 200) return status == 100 || f->done[index] ? Verdict::Drop : Verdict::Provisional;
  if (f->done[index]) return Verdict::Drop;  // a retransmitted final answer
  f->done[index] = true;
  if (status < 300) return Verdict::Final;
  if (!f->best.better(status, false)) return Verdict::Worse;
  f->best.take(status, false);
  return Verdict::Better;
}

bool ForkTable::complete(const std::string& key) const {
  const Fork* f = find(key);
  return f && !f->answered && std::all_of(f->done.begin(), f->done.end(), [](bool d) { return d; });
}

void ForkTable::answered(const std::string& key, int status, std::string phrase, std::string to_tag, bool sent,
                         std::int64_t now_ms) {
  Fork* f = find(key);
  if (!f || f->answered) return;
  f->answered = true;
  f->sent = sent;
  f->status = status;
  f->phrase = std::move(phrase);
  f->to_tag = std::move(to_tag);
  std::vector<std::string>().swap(f->targets);
  std::vector<bool>().swap(f->done);
  f->deadline = now_ms + keep_answered_ms_;
  answered_order_.emplace_back(f->deadline, key);
}

void ForkTable::give_up(Fork& f, std::size_t index, int status) {
  f.done[index] = true;
  if (f.best.better(status, true)) f.best.take(status, true);
}

std::vector<std::string> ForkTable::expire(std::int64_t now_ms) {
  std::vector<std::string> completed;
  while (!answered_order_.empty() && answered_order_.front().first <= now_ms) {
    auto it = forks_.find(answered_order_.front().second);
    if (it != forks_.end() && it->second.answered && it->second.deadline <= now_ms) forks_.erase(it);
    answered_order_.pop_front();
  }
  while (!pending_order_.empty() && pending_order_.front().first <= now_ms) {
    const std::string key = std::move(pending_order_.front().second);
    pending_order_.pop_front();
    Fork* f = find(key);
    // Answered meanwhile (then in answered_order_), or forgotten and
    // forked again by a later copy, with a later deadline.
    if (!f || f->answered || f->deadline > now_ms) continue;
    for (std::size_t i = 0; i < f->done.size(); ++i)
      if (!f->done[i]) give_up(*f, i, 408);
    completed.push_back(key);
  }
  return completed;
}

std::vector<std::string> ForkTable::refuse(const std::string& address) {
  std::vector<std::string> completed;
  for (auto& [key, f] : forks_) {
    if (f.answered) continue;
    bool any = false;
    for (std::size_t i = 0; i < f.targets.size(); ++i) {
      if (f.done[i] || !HopWatch::at_address(f.targets[i], address)) continue;
      give_up(f, i, 503);
      any = true;
    }
    if (any && complete(key)) completed.push_back(key);
  }
  return completed;
}

}  // namespace sippeer::adaptor
