#include "daemon/server/compression.hpp"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <charconv>
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
  z_stream z{};
  std::string out;
  bool open = false;

  void deflate_all(int flush) {
    char buf[16 * 1024];
    do {
      z.next_out = reinterpret_cast<Bytef*>(buf);
      z.avail_out = sizeof buf;
      const int rc = deflate(&z, flush);
      if (rc == Z_STREAM_ERROR) throw std::runtime_error("gzip: deflate failed");
      out.append(buf, sizeof buf - z.avail_out);
    } while (z.avail_out == 0);
  }
};

gzip_writer::gzip_writer(int level, bool small) : impl_(std::make_unique<impl>()) {
  const int window_bits = small ? 13 : 15;
  const int mem_level = small ? 5 : 8;
  // windowBits + 16: a gzip header and trailer around the deflate stream.
  if (deflateInit2(&impl_->z, level, Z_DEFLATED, window_bits + 16, mem_level, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("gzip: cannot start a stream");
  impl_->open = true;
}

gzip_writer::~gzip_writer() {
  if (impl_->open) deflateEnd(&impl_->z);
}

void gzip_writer::write(std::string_view piece) {
  // zlib's avail_in is 32 bits: feed very large pieces in parts.
  while (!piece.empty()) {
    const auto n = std::min<std::size_t>(piece.size(), 1u << 30);
    impl_->z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(piece.data()));
    impl_->z.avail_in = static_cast<uInt>(n);
    impl_->deflate_all(Z_NO_FLUSH);
    piece.remove_prefix(n);
  }
}

std::string gzip_writer::finish() {
  impl_->z.next_in = nullptr;
  impl_->z.avail_in = 0;
  impl_->deflate_all(Z_FINISH);
  deflateEnd(&impl_->z);
  impl_->open = false;
  return std::move(impl_->out);
}

}  // namespace vitals
