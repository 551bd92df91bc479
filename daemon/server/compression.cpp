#include "daemon/server/compression.hpp"

#include <isa-l/igzip_lib.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>

namespace vitals {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool same_text(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// The q-value of one coding's parameters ("q=0.5"); 1 when there is none,
// 0 when it does not parse (a malformed weight welcomes nothing).
double weight(std::string_view params) {
  while (!params.empty()) {
    const auto semi = params.find(';');
    const auto p = trim(params.substr(0, semi));
    params = semi == std::string_view::npos ? std::string_view{} : params.substr(semi + 1);
    if (p.size() < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=') continue;
    double q = 0;
    const auto v = p.substr(2);
    const auto r = std::from_chars(v.data(), v.data() + v.size(), q);
    return r.ec == std::errc{} && r.ptr == v.data() + v.size() ? q : 0;
  }
  return 1;
}

}  // namespace

bool accepts_gzip(std::string_view accept_encoding) {
  std::optional<double> gzip, any;
  while (!accept_encoding.empty()) {
    const auto comma = accept_encoding.find(',');
    const auto item = accept_encoding.substr(0, comma);
    accept_encoding = comma == std::string_view::npos ? std::string_view{} : accept_encoding.substr(comma + 1);
    const auto semi = item.find(';');
    const auto coding = trim(item.substr(0, semi));
    const double q = semi == std::string_view::npos ? 1 : weight(item.substr(semi + 1));
    if (same_text(coding, "gzip") || same_text(coding, "x-gzip")) gzip = q;
    else if (coding == "*") any = q;
  }
  if (gzip) return *gzip > 0;
  return any && *any > 0;
}

struct gzip_writer::impl {
  isal_zstream z;  // 80 KiB, set up by isal_deflate_init: not zeroed first
  std::unique_ptr<std::uint8_t[]> level_buf;
  std::string out;

  // Runs the compressor over what it was given, collecting its output.
  void deflate_all() {
    std::uint8_t buf[16 * 1024];
    do {
      z.next_out = buf;
      z.avail_out = sizeof buf;
      if (isal_deflate(&z) != COMP_OK) throw std::runtime_error("gzip: deflate failed");
      out.append(reinterpret_cast<const char*>(buf), sizeof buf - z.avail_out);
    } while (z.avail_out == 0 || (z.end_of_stream && z.internal_state.state != ZSTATE_END));
  }
};

gzip_writer::gzip_writer(int level, bool small) : impl_(new impl) {
  if (level < 0 || level > 1) throw std::invalid_argument("gzip: level must be 0 or 1");
  auto& z = impl_->z;
  isal_deflate_init(&z);
  z.level = static_cast<std::uint32_t>(level);
  if (level == 1) {
    // The token buffer sets how much input one deflate block covers.
    const std::uint32_t size = small ? ISAL_DEF_LVL1_MIN : ISAL_DEF_LVL1_DEFAULT;
    impl_->level_buf.reset(new std::uint8_t[size]);  // the compressor sets up what it reads
    z.level_buf = impl_->level_buf.get();
    z.level_buf_size = size;
  }
  z.gzip_flag = IGZIP_GZIP;  // a gzip header and trailer around the deflate stream
  z.flush = NO_FLUSH;
}

gzip_writer::~gzip_writer() = default;

void gzip_writer::write(std::string_view piece) {
  // avail_in is 32 bits: feed very large pieces in parts.
  while (!piece.empty()) {
    const auto n = std::min<std::size_t>(piece.size(), 1u << 30);
    impl_->z.next_in = reinterpret_cast<std::uint8_t*>(const_cast<char*>(piece.data()));
    impl_->z.avail_in = static_cast<std::uint32_t>(n);
    impl_->deflate_all();
    piece.remove_prefix(n);
  }
}

std::string gzip_writer::finish() {
  impl_->z.next_in = nullptr;
  impl_->z.avail_in = 0;
  impl_->z.end_of_stream = 1;
  impl_->deflate_all();
  return std::move(impl_->out);
}

}  // namespace vitals
