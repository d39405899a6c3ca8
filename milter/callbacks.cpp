#include "milter/callbacks.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>

#include "core/address/recipient.hpp"
#include "core/decision/verdict_header.hpp"
#include "core/pipeline/recipient_check.hpp"
#include "core/report/decision_keys.hpp"
#include "milter/envelope_args.hpp"
#include "milter/header_match.hpp"
#include "milter/reply_text.hpp"
#include "milter/session.hpp"
#include "milter/session_gate.hpp"
#include "milter/trampoline.hpp"

namespace dsm::milter {

namespace {

Runtime* g_runtime = nullptr;

Session* session_of(SMFICTX* ctx) {
    auto* s = static_cast<Session*>(smfi_getpriv(ctx));
    if (s == nullptr) {
        s = new Session();
        if (smfi_setpriv(ctx, s) != MI_SUCCESS) {
            delete s;
            throw std::runtime_error("smfi_setpriv failed");
        }
    }
    return s;
}

std::string symbol(SMFICTX* ctx, const char* name) {
    const char* v = smfi_getsymval(ctx, const_cast<char*>(name));
    return v != nullptr ? v : "";
}

// The MTA's queue id ({i}), which starts our log lines as it starts
// Postfix's. Postfix's and Sendmail's are letters and digits; anything else
// is quoted (log_value), so that one decision stays one line.
std::string queue_id_of(SMFICTX* ctx) {
    std::string id = symbol(ctx, "i");
    return id.empty() ? id : decision::log_value(id);
}

sfsistat on_negotiate(SMFICTX* ctx, unsigned long f0, unsigned long f1, unsigned long /*f2*/,
                      unsigned long /*f3*/, unsigned long* pf0, unsigned long* pf1,
                      unsigned long* pf2, unsigned long* pf3) {
    session_of(ctx);  // the session counts from here to xxfi_close
    // We add and delete headers; we need neither the connection, HELO, the
    // body, DATA nor unknown commands, so the MTA need not send them.
    *pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS);
    *pf1 = f1 & (SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOBODY | SMFIP_NOUNKNOWN | SMFIP_NODATA);
    *pf2 = 0;
    *pf3 = 0;
    return SMFIS_CONTINUE;
}

sfsistat on_envfrom(SMFICTX* ctx, char** argv) {
    Session* s = session_of(ctx);
    s->reset_transaction();
    if (session_gate().draining()) {
        // SIGTERM: transactions under way finish, new ones are not begun;
        // the MTA retries the message later.
        smfi_setreply(ctx, const_cast<char*>("451"), const_cast<char*>("4.3.2"),
                      const_cast<char*>("dane-sts-milter is shutting down, try again later"));
        return SMFIS_TEMPFAIL;
    }
    s->begin_transaction();
    s->config = g_runtime->config.load();
    s->sender_domain = sender_domain(envelope_address(argv));
    return SMFIS_CONTINUE;
}

sfsistat on_envrcpt(SMFICTX* ctx, char** argv) {
    Session* s = session_of(ctx);
    if (!s->config) {
        s->config = g_runtime->config.load();
    }
    const std::string rcpt(envelope_address(argv));
    const auto check =
        pipeline::check_recipient(*s->config, *g_runtime->cache, rcpt, s->sender_domain);
    const auto& d = check.decision;
    const std::string queue_id = queue_id_of(ctx);

    if (check.connector == nullptr) {
        g_runtime->metrics->unmatched_recipient(address::to_string(check.recipient.kind));
        if (d.action == decision::Action::accept) {
            spdlog::debug("{}{}rcpt={} local recipient, accepted without a verdict", queue_id,
                          queue_id.empty() ? "" : ": ", decision::log_value(rcpt));
            return SMFIS_CONTINUE;
        }
        spdlog::info("{}{}rcpt={} action=reject reply=\"{} {} {}\"", queue_id,
                     queue_id.empty() ? "" : ": ", decision::log_value(rcpt), d.reply_code,
                     d.enhanced_code, d.reply_text);
        smfi_setreply(ctx, const_cast<char*>(d.reply_code.c_str()),
                      const_cast<char*>(d.enhanced_code.c_str()),
                      const_cast<char*>(reply_safe(d.reply_text).c_str()));
        return SMFIS_REJECT;
    }

    spdlog::info(
        decision::format_decision_log({queue_id, rcpt}, *check.connector, *check.verdict, d));
    if (g_runtime->counter) {
        // SPEC §11: in memory only; the flusher writes to the store.
        const std::string day = report::utc_day(std::chrono::system_clock::now());
        for (auto& key : report::decision_keys(*check.connector, *check.verdict, d, day)) {
            g_runtime->counter->add(std::move(key));
        }
    }
    g_runtime->metrics->decision(decision::to_string(d.action), check.connector->name,
                                 decision::to_string(d.result));
    if (d.action == decision::Action::accept) {
        const auto& domain = check.recipient.domain;
        const bool seen = std::any_of(s->headers.begin(), s->headers.end(),
                                      [&](const VerdictHeader& h) { return h.domain == domain; });
        if (!seen) {
            s->headers.push_back(
                {domain, decision::format_verdict_header(s->config->milter.header, *check.connector,
                                                         *check.verdict, d)});
        }
        return SMFIS_CONTINUE;
    }
    const std::string text = reply_safe(d.reply_text);
    if (smfi_setreply(ctx, const_cast<char*>(d.reply_code.c_str()),
                      const_cast<char*>(d.enhanced_code.c_str()),
                      const_cast<char*>(text.c_str())) != MI_SUCCESS) {
        spdlog::warn("smfi_setreply failed for rcpt={}; the MTA answers with its default text",
                     decision::log_value(rcpt));
    }
    return d.action == decision::Action::defer ? SMFIS_TEMPFAIL : SMFIS_REJECT;
}

sfsistat on_header(SMFICTX* ctx, char* name, char* /*value*/) {
    Session* s = session_of(ctx);
    if (s->config && is_verdict_header(name, s->config->milter.header)) {
        ++s->forged_headers;
    }
    return SMFIS_CONTINUE;
}

sfsistat on_eom(SMFICTX* ctx) {
    Session* s = session_of(ctx);
    if (!s->config) {
        return SMFIS_CONTINUE;
    }
    auto& name = s->config->milter.header;
    // SPEC §8: a sender must not be able to forge a verdict. Delete from the
    // last occurrence down so indexes stay valid whatever the MTA renumbers.
    for (int i = s->forged_headers; i >= 1; --i) {
        if (smfi_chgheader(ctx, const_cast<char*>(name.c_str()), i, nullptr) != MI_SUCCESS) {
            spdlog::warn("{}: could not remove incoming {} header #{}", queue_id_of(ctx), name, i);
        }
    }
    if (s->forged_headers > 0) {
        spdlog::info("{}: removed {} incoming {} header(s)", queue_id_of(ctx), s->forged_headers,
                     name);
    }
    for (const auto& h : s->headers) {
        if (smfi_addheader(ctx, const_cast<char*>(name.c_str()),
                           const_cast<char*>(h.value.c_str())) != MI_SUCCESS) {
            spdlog::warn("{}: could not add {} header for {}", queue_id_of(ctx), name, h.domain);
        }
    }
    s->reset_transaction();
    return SMFIS_CONTINUE;
}

sfsistat on_abort(SMFICTX* ctx) {
    if (auto* s = static_cast<Session*>(smfi_getpriv(ctx))) {
        s->reset_transaction();
    }
    return SMFIS_CONTINUE;
}

sfsistat on_close(SMFICTX* ctx) {
    delete static_cast<Session*>(smfi_getpriv(ctx));
    smfi_setpriv(ctx, nullptr);
    return SMFIS_CONTINUE;
}

}  // namespace

smfiDesc make_filter_description(Runtime& runtime) {
    g_runtime = &runtime;
    smfiDesc d{};
    d.xxfi_name = const_cast<char*>("dane-sts-milter");
    d.xxfi_version = SMFI_VERSION;
    d.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS;
    d.xxfi_envfrom = &Trampoline<&on_envfrom>::call;
    d.xxfi_envrcpt = &Trampoline<&on_envrcpt>::call;
    d.xxfi_header = &Trampoline<&on_header>::call;
    d.xxfi_eom = &Trampoline<&on_eom>::call;
    d.xxfi_abort = &Trampoline<&on_abort>::call;
    d.xxfi_close = &Trampoline<&on_close>::call;
    d.xxfi_negotiate = &Trampoline<&on_negotiate>::call;
    return d;
}

}  // namespace dsm::milter
