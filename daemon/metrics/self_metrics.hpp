#pragma once

#include <prometheus/collectable.h>

namespace vitals {

// The standard process_* metrics of the daemon itself, read from /proc/self
// at scrape time: a handful of small procfs reads, cheap enough for the loop.
class self_metrics final : public prometheus::Collectable {
public:
  self_metrics();
  std::vector<prometheus::MetricFamily> Collect() const override;

private:
  double start_time_seconds_ = 0;  // computed once: it never changes
};

}  // namespace vitals
