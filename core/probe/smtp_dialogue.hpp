// The plain-text part of a probe (internal to core/probe): banner, EHLO,
// STARTTLS (RFC 5321, RFC 3207), up to the moment the TLS handshake may
// begin. Every outcome says whose fault it is (probe.hpp ProbeOutcome):
// silence, a closed connection or a 4xx before STARTTLS is "not answering"
// (SPEC §5: the MX may be down), no STARTTLS is the server's failure.
#pragma once

#include <string>
#include <string_view>

#include "core/config/config.hpp"
#include "core/probe/probe.hpp"
#include "core/probe/session.hpp"

namespace dsm::probe::detail {

// Sets the outcome; false, for `return fail(...)`.
bool fail(ProbeResult& r, ProbeOutcome o, std::string detail);

class SmtpDialogue {
  public:
    // EHLO names this machine by its host name when that is a fully
    // qualified name, else by the address literal of the local end of the
    // connection (RFC 5321 §4.1.4).
    explicit SmtpDialogue(const config::ProbeSettings& settings);

    // Connects to r.address and speaks SMTP up to the STARTTLS 220; false
    // with r.outcome and r.detail set otherwise.
    bool until_tls(Session& s, ProbeResult& r) const;

  private:
    bool connect(Session& s, ProbeResult& r) const;
    bool read_step(Session& s, Reply& reply, std::string_view what, ProbeResult& r) const;
    static bool command(Session& s, const std::string& line, ProbeResult& r);

    config::ProbeSettings settings_;
    std::string helo_;  // "" : an address literal per connection
};

}  // namespace dsm::probe::detail
