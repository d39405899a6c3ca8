// See smtp_dialogue.hpp.
#include "core/probe/smtp_dialogue.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

#include "core/probe/names.hpp"
#include "core/probe/source_address.hpp"

namespace dsm::probe::detail {

namespace {

// A fully qualified host name of this machine, or "" (then an address
// literal is sent, RFC 5321 §4.1.4).
std::string local_fqdn() {
    std::array<char, 256> buf{};
    if (::gethostname(buf.data(), buf.size() - 1) != 0) {
        return {};
    }
    std::string name = strip_dot(buf.data());
    const bool ldh = !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return std::isalnum(c) != 0 || c == '-' || c == '.';
    });
    if (!ldh || name.find('.') == std::string::npos || name.front() == '.' ||
        name.find("..") != std::string::npos || name.size() > 253) {
        return {};
    }
    return name;
}

}  // namespace

SmtpDialogue::SmtpDialogue(const config::ProbeSettings& settings)
    : settings_(settings), helo_(local_fqdn()) {}

bool fail(ProbeResult& r, ProbeOutcome o, std::string detail) {
    r.outcome = o;
    r.detail = std::move(detail);
    return false;
}

bool SmtpDialogue::connect(Session& s, ProbeResult& r) const {
    const std::string where = r.address + " port " + std::to_string(settings_.port);
    switch (s.connect(r.address, settings_.port, source_address_for(settings_, r.address))) {
        case Io::ok:
            return true;
        case Io::timeout:
            return fail(r, ProbeOutcome::not_answering,
                        "no connection to " + where + " within the probe timeout");
        case Io::closed:
        case Io::error:
            break;
    }
    return fail(r, ProbeOutcome::not_answering, "connect to " + where + ": " + s.error());
}

// One step of the dialogue: a reply, or the outcome when none came.
// Silence, a closed connection or (except to STARTTLS) a 4xx is "not
// answering" (the server may be down or busy, SPEC §5); garbage is a
// protocol error.
bool SmtpDialogue::read_step(Session& s, Reply& reply, std::string_view what,
                             ProbeResult& r) const {
    const std::string step(what);
    switch (s.read_reply(reply)) {
        case ReplyStatus::ok:
            if (reply.code >= 400 && reply.code < 500 && what != "STARTTLS") {
                return fail(r, ProbeOutcome::not_answering,
                            step + ": temporary failure " + reply.quoted_first());
            }
            return true;
        case ReplyStatus::timeout:
            return fail(r, ProbeOutcome::not_answering,
                        step + ": timed out (probe timeout " +
                            std::to_string(settings_.timeout.count()) + " ms)");
        case ReplyStatus::closed:
        case ReplyStatus::error:
            return fail(r, ProbeOutcome::not_answering, step + ": " + s.error());
        case ReplyStatus::malformed:
            break;
    }
    return fail(r, ProbeOutcome::protocol_error, step + ": " + s.error());
}

bool SmtpDialogue::command(Session& s, const std::string& line, ProbeResult& r) {
    if (s.send(line + "\r\n") == Io::ok) {
        return true;
    }
    return fail(r, ProbeOutcome::not_answering, "sending " + line + ": " + s.error());
}

bool SmtpDialogue::until_tls(Session& s, ProbeResult& r) const {
    Reply reply;
    if (!connect(s, r) || !read_step(s, reply, "banner", r)) {
        return false;
    }
    if (reply.code != 220) {
        // RFC 5321 §3.1: 554 instead of 220 means "no SMTP service here".
        return fail(r, ProbeOutcome::not_answering,
                    "banner refuses service: " + reply.quoted_first());
    }
    if (!command(s, "EHLO " + (helo_.empty() ? s.local_literal() : helo_), r) ||
        !read_step(s, reply, "EHLO", r)) {
        return false;
    }
    if (reply.code != 250) {
        return fail(r, ProbeOutcome::starttls_not_supported,
                    "EHLO refused: " + reply.quoted_first());
    }
    if (!offers_starttls(reply)) {
        return fail(r, ProbeOutcome::starttls_not_supported,
                    "the EHLO reply does not offer STARTTLS (RFC 3207 §4)");
    }
    if (!command(s, "STARTTLS", r) || !read_step(s, reply, "STARTTLS", r)) {
        return false;
    }
    if (reply.code != 220) {
        // RFC 3207 §4 makes 454 temporary, but it is what a server with a
        // broken certificate or key says every time (Postfix: "TLS not
        // available due to local problem"): the MX answered without TLS.
        return fail(r, ProbeOutcome::starttls_not_supported,
                    "STARTTLS refused: " + reply.quoted_first());
    }
    if (s.buffered()) {
        // RFC 3207 §5 / CVE-2011-0411: anything sent before the handshake
        // would be taken for part of the TLS session.
        return fail(r, ProbeOutcome::protocol_error,
                    "the server sent data after its STARTTLS reply, before the TLS handshake");
    }
    return true;
}

}  // namespace dsm::probe::detail
