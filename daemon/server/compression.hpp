#pragma once

// gzip for responses whose client asks for it: Prometheus scrapes with
// `Accept-Encoding: gzip`, and a large exposition shrinks about tenfold.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace vitals {

// Whether an Accept-Encoding header value welcomes gzip: `gzip` or
// `x-gzip`, or `*` when gzip is not named, with a q-value above 0
// (RFC 9110 §12.5.3: `gzip;q=0` refuses it).
bool accepts_gzip(std::string_view accept_encoding);

// One gzip member (RFC 1952) built from pieces, so the uncompressed text
// never has to be held whole.
class gzip_writer {
public:
  // zlib's level: 1 is fastest, which suits text as repetitive as an
  // exposition (it still shrinks it about tenfold). A `small` text (up to
  // tens of kilobytes) is compressed with an 8 KiB window and a smaller
  // hash: 48 KiB of state instead of 256 KiB, for output about 2 % larger.
  explicit gzip_writer(int level = 1, bool small = false);
  ~gzip_writer();
  gzip_writer(const gzip_writer&) = delete;
  gzip_writer& operator=(const gzip_writer&) = delete;

  void write(std::string_view piece);

  // The compressed bytes; the writer is spent afterwards.
  std::string finish();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace vitals
