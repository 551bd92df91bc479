#pragma once

// One receiver's notification batches, oldest first, and the rule for what
// follows each attempt to send the oldest: delivered, refused, tried again
// after a backoff, or given up. Sans-I/O: no clock, no socket — the sender
// coroutine in notifier.cpp does the waiting and the POSTs and asks this
// class what to do next. Not thread-safe: the loop thread only.

#include <chrono>
#include <cstddef>
#include <deque>
#include <string>
#include <string_view>

namespace vitals {

// What one attempt at a batch came to.
enum class delivery_result {
  ok,         // a 2xx: delivered
  rejected,   // a 4xx: the receiver refuses it, and sending it whole again cannot help
  retry,      // no answer, or any other status: send it again after `retry_after`
  failed,     // as retry, but the attempts are used up: given up
  abandoned,  // pushed out of a full queue while it was being sent: not sent again
};

// The `result` label of vitals_notifications_total; empty for `abandoned`,
// which was already counted as `dropped`.
std::string_view result_label(delivery_result r);

struct delivery_step {
  delivery_result result = delivery_result::ok;
  std::chrono::seconds retry_after{0};  // retry only
};

class delivery_queue {
public:
  // Attempts per batch: the first and then retries after 1, 2, 4 and 8 s.
  static constexpr int max_attempts = 5;

  explicit delivery_queue(std::size_t max_batches) : max_batches_(max_batches) {}

  // Appends a batch. While more than max_batches wait, the oldest go (the
  // one being sent too); returns how many went.
  std::size_t push(std::string body);

  bool empty() const { return batches_.empty(); }
  // Batches waiting, the one being sent included.
  std::size_t size() const { return batches_.size(); }

  // Starts sending the oldest batch: returns a copy, since a push may drop
  // it from the queue meanwhile. Once per batch, only when !empty(); the
  // sender sends its copy again on every `retry` until answered() settles it.
  std::string start_sending();

  // The answer to one attempt at the batch being sent: its HTTP status, 0
  // when none came (refused, timed out, broken). Every result but `retry`
  // settles the batch and takes it off the queue.
  delivery_step answered(unsigned status);

private:
  void settle();

  std::size_t max_batches_;
  std::deque<std::string> batches_;
  bool sending_ = false;
  bool sending_dropped_ = false;  // the batch being sent is no longer batches_.front()
  int attempts_ = 0;              // of the batch being sent
};

}  // namespace vitals
