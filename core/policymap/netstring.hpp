// Netstrings (D. J. Bernstein, cr.yp.to/proto/netstrings.txt): the framing of
// Postfix's socketmap protocol (socketmap_table(5)): `len ":" payload ","`,
// `len` decimal without leading zeros ("0:," is the empty string).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace dsm::policymap {

// The largest request payload accepted (SPEC §7). Postfix sends
// "name key" with `key` a next-hop domain (at most 253 octets, or
// "[host]:port"), so 1024 leaves room and bounds what a peer makes us hold.
inline constexpr std::size_t kMaxRequestPayload = 1024;

enum class NetstringStatus {
    need_more,  // no complete netstring yet: feed more octets
    complete,   // one payload taken out
    oversize,   // the declared length is over the limit
    malformed,  // not a netstring (non-digit length, leading zero, no ':' or ',')
};
std::string_view to_string(NetstringStatus s);

// Incremental reader for a byte stream that carries netstrings back to back.
// Holds at most what was fed and not yet taken; an oversize length is refused
// as soon as its digits exceed the limit, before the payload arrives. After
// `oversize` or `malformed` the stream has lost its framing: the reader keeps
// answering that status and ignores further input (the caller closes the
// connection, SPEC §7). Not thread-safe; one per connection.
class NetstringReader {
  public:
    explicit NetstringReader(std::size_t max_payload = kMaxRequestPayload)
        : max_payload_(max_payload) {}

    // Appends received octets.
    void feed(std::string_view data);

    // Takes the next netstring out of what was fed. On `complete`, `payload`
    // views the payload inside the reader, valid until the next feed().
    NetstringStatus next(std::string_view& payload);

    // Octets fed and not yet taken (a partial netstring).
    [[nodiscard]] std::size_t buffered() const { return buf_.size() - pos_; }

  private:
    std::string buf_;
    std::size_t pos_ = 0;  // start of the first octet not yet taken
    std::size_t max_payload_;
    NetstringStatus failed_ = NetstringStatus::need_more;  // sticky oversize/malformed
};

// Appends `payload` as one netstring to `out`.
void netstring_append(std::string& out, std::string_view payload);
// `payload` as one netstring.
std::string netstring_encode(std::string_view payload);

}  // namespace dsm::policymap
