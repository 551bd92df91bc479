#include "daemon/notify/delivery_queue.hpp"

#include <algorithm>

namespace vitals {

std::string_view result_label(delivery_result r) {
  switch (r) {
    case delivery_result::ok: return "ok";
    case delivery_result::rejected: return "rejected";
    case delivery_result::retry: return "retry";
    case delivery_result::failed: return "failed";
    case delivery_result::abandoned: return "";
  }
  return "";
}

std::size_t delivery_queue::push(std::string body) {
  batches_.push_back(std::move(body));
  std::size_t dropped = 0;
  while (batches_.size() > max_batches_) {
    // The front is the batch being sent, if one is: its sender still holds
    // a copy, and must not take the next batch off when it finishes.
    if (sending_ && !sending_dropped_) sending_dropped_ = true;
    batches_.pop_front();
    ++dropped;
  }
  return dropped;
}

std::string delivery_queue::start_sending() {
  sending_ = true;
  sending_dropped_ = false;
  attempts_ = 0;
  return batches_.front();
}

delivery_step delivery_queue::answered(unsigned status) {
  delivery_step step;
  if (status >= 200 && status < 300) {
    step.result = delivery_result::ok;
  } else if (status >= 400 && status < 500) {
    step.result = delivery_result::rejected;
  } else if (sending_dropped_) {
    step.result = delivery_result::abandoned;
  } else if (++attempts_ >= max_attempts) {
    step.result = delivery_result::failed;
  } else {
    step.result = delivery_result::retry;
    step.retry_after = std::chrono::seconds(1 << std::min(attempts_ - 1, 5));
    return step;
  }
  settle();
  return step;
}

void delivery_queue::settle() {
  if (!sending_dropped_ && !batches_.empty()) batches_.pop_front();
  sending_ = false;
  sending_dropped_ = false;
  attempts_ = 0;
}

}  // namespace vitals
