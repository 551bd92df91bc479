#pragma once

// gzip for responses whose client asks for it: Prometheus scrapes with
// `Accept-Encoding: gzip`, and a large exposition shrinks about tenfold.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace vitals {

// Whether an Accept-Encoding header value welcomes gzip: `gzip` or
// `x-gzip`, or `*` when gzip is not named, with a q-value above 0
// (RFC 9110 §12.5.3: `gzip;q=0` refuses it).
bool accepts_gzip(std::string_view accept_encoding);

// One part of a deflate stream, compressed by whichever thread has it. A
// part that is not the last ends on a byte boundary (a sync flush), so the
// parts of one text, deflated on several threads and laid end to end, are
// one deflate stream; their checksums combine (as pigz does).
struct deflated_part {
  std::string bytes;
  unsigned long crc = 0;     // CRC-32 of the uncompressed part
  std::uint64_t length = 0;  // uncompressed bytes
};

class deflate_writer {
public:
  // zlib's level: 1 is fastest, which suits text as repetitive as an
  // exposition (it still shrinks it about tenfold). A `small` text (up to
  // tens of kilobytes) is compressed with an 8 KiB window and a smaller
  // hash: 48 KiB of state instead of 256 KiB, for output about 2 % larger.
  explicit deflate_writer(int level = 1, bool small = false);
  ~deflate_writer();
  deflate_writer(const deflate_writer&) = delete;
  deflate_writer& operator=(const deflate_writer&) = delete;

  void write(std::string_view piece);

  // The part's bytes; `last` ends the stream, otherwise it ends on a byte
  // boundary for the next part to follow. The writer is spent afterwards.
  deflated_part finish(bool last);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// One gzip member (RFC 1952) around the parts, in order; the last one must
// have been finished as last.
std::string gzip_member(std::span<const deflated_part> parts);

// One gzip member built from pieces, so the uncompressed text never has to
// be held whole.
class gzip_writer {
public:
  explicit gzip_writer(int level = 1, bool small = false) : deflate_(level, small) {}

  void write(std::string_view piece) { deflate_.write(piece); }

  // The compressed bytes; the writer is spent afterwards.
  std::string finish() {
    const deflated_part part = deflate_.finish(true);
    return gzip_member({&part, 1});
  }

private:
  deflate_writer deflate_;
};

}  // namespace vitals
