#include "probes/net/tls_certificate.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

namespace vitals {
namespace {

using namespace std::chrono_literals;

// 2026-01-01T00:00:00Z
constexpr std::int64_t new_year = 1767225600;
const auto at_new_year = std::chrono::system_clock::time_point(std::chrono::seconds(new_year));

tls_certificate cert(const std::string& cn, const std::string& issuer_cn, std::int64_t not_after) {
  return {"CN=" + cn, "CN=" + issuer_cn, not_after};
}

std::optional<double> sample(const probe_result& r, const std::string& name) {
  for (const auto& s : r.samples)
    if (s.name == name) return s.value;
  return std::nullopt;
}

std::string evidence(const probe_result& r, const std::string& key) {
  for (const auto& [k, v] : r.evidence)
    if (k == key) return v;
  return "<absent>";
}

TEST(tls_chain, the_certificate_that_expires_first_is_the_chains_expiry) {
  const auto chain = summarize_chain({cert("api", "Intermediate", new_year + 90 * 86400),
                                      cert("Intermediate", "Root", new_year + 10 * 86400),
                                      cert("Root", "Root", new_year + 900 * 86400)});
  EXPECT_EQ(chain.leaf.subject, "CN=api");
  EXPECT_EQ(chain.earliest.subject, "CN=Intermediate");
}

TEST(tls_chain, a_leaf_that_expires_first_is_also_the_earliest) {
  const auto chain =
      summarize_chain({cert("api", "CA", new_year + 2 * 86400), cert("CA", "CA", new_year + 365 * 86400)});
  EXPECT_EQ(chain.earliest.subject, "CN=api");
}

TEST(tls_chain, of_two_chains_the_one_that_expires_first_wins) {
  const auto soon = summarize_chain({cert("a", "CA", new_year + 86400)});
  const auto later = summarize_chain({cert("b", "CA", new_year + 2 * 86400)});
  EXPECT_EQ(earlier_chain(soon, later).leaf.subject, "CN=a");
  EXPECT_EQ(earlier_chain(later, soon).leaf.subject, "CN=a");
}

TEST(add_tls_chain, exports_the_expiry_time_and_the_seconds_left_at_the_run) {
  probe_result r;
  add_tls_chain(r, summarize_chain({cert("api", "CA", new_year + 2 * 86400)}), at_new_year + 1s);
  EXPECT_EQ(sample(r, "vitals_tls_cert_expiry_timestamp_seconds"), new_year + 2 * 86400);
  EXPECT_EQ(sample(r, "vitals_tls_cert_expiry_seconds"), 2 * 86400 - 1);
  EXPECT_EQ(evidence(r, "certificate"), "CN=api; issuer CN=CA; not after 2026-01-03T00:00:00Z (in 47h59m)");
  EXPECT_EQ(evidence(r, "expires first"), "<absent>");  // the leaf is the earliest
}

TEST(add_tls_chain, names_an_intermediate_that_expires_before_the_leaf) {
  probe_result r;
  add_tls_chain(r,
                summarize_chain({cert("api", "Intermediate", new_year + 90 * 86400),
                                 cert("Intermediate", "Root", new_year + 10 * 86400)}),
                at_new_year);
  EXPECT_EQ(sample(r, "vitals_tls_cert_expiry_timestamp_seconds"), new_year + 10 * 86400);
  EXPECT_EQ(evidence(r, "certificate"), "CN=api; issuer CN=Intermediate; not after 2026-04-01T00:00:00Z (in 90d0h)");
  EXPECT_EQ(evidence(r, "expires first"), "CN=Intermediate; issuer CN=Root; not after 2026-01-11T00:00:00Z (in 10d0h)");
}

TEST(add_tls_chain, an_expired_certificate_has_negative_seconds_left_and_says_since_when) {
  probe_result r;
  add_tls_chain(r, summarize_chain({cert("old", "CA", new_year - 3 * 3600)}), at_new_year);
  EXPECT_EQ(sample(r, "vitals_tls_cert_expiry_seconds"), -3 * 3600);
  EXPECT_EQ(evidence(r, "certificate"), "CN=old; issuer CN=CA; not after 2025-12-31T21:00:00Z (expired 3h0m ago)");
}

TEST(tls_cert_expiring_soon, compares_the_seconds_left_with_fourteen_days) {
  EXPECT_EQ(std::string(tls_cert_expiring_soon.when), "last_over_time(vitals_tls_cert_expiry_seconds[{hold}]) < {}");
  EXPECT_EQ(tls_cert_expiring_soon.threshold, 14 * 86400);
  EXPECT_EQ(std::string(tls_cert_expiring_soon.severity), "medium");
}

}  // namespace
}  // namespace vitals
