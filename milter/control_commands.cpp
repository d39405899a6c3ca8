#include "milter/control_commands.hpp"

#include <fmt/format.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "core/address/recipient.hpp"

namespace dsm::milter {

namespace {

using Reply = control::ControlServer::Reply;

std::string verdict_fields(const verdict::DomainVerdict& v) {
    return fmt::format("dnssec={} dane={} sts={}", verdict::to_string(v.dnssec),
                       verdict::to_string(v.dane), verdict::to_string(v.sts));
}

// The normalised domains of words[1..], or the first bad one.
Result<std::vector<std::string>> domains_of(const std::vector<std::string>& words) {
    if (words.size() < 2) {
        return Error{words.front() + " needs at least one domain"};
    }
    if (words.size() - 1 > kMaxControlDomains) {
        return Error{fmt::format("at most {} domains per command", kMaxControlDomains)};
    }
    std::vector<std::string> out;
    for (std::size_t i = 1; i < words.size(); ++i) {
        auto d = address::normalize_domain(words[i]);
        if (!d) {
            return Error{"\"" + words[i] + "\": " + d.error()};
        }
        out.push_back(std::move(*d));
    }
    return out;
}

std::string policy_line(Runtime& rt, const std::string& domain) {
    const auto now = rt.clock->now();
    const auto p = rt.policies->get(domain, now);
    if (!p) {
        return "policy=none";
    }
    return fmt::format(
        "policy_id={} policy_mode={} policy_expires_in={}s", p->id, sts::to_string(p->policy.mode),
        std::chrono::duration_cast<std::chrono::seconds>(p->expires() - now).count());
}

Reply flush(Runtime& rt, const std::vector<std::string>& domains) {
    // Verdicts still queued for the store must not land after the delete.
    if (rt.writer) {
        rt.writer->flush();
    }
    const auto timeout = rt.config.load()->rcpt.lookup_timeout;
    std::string out;
    for (const auto& d : domains) {
        bool store_ok = true;
        if (rt.store) {
            store_ok = rt.store->erase(d);
        }
        const bool had_policy = rt.policies->forget(d);
        const bool had_verdict = rt.cache->forget(d, true);
        const auto v = rt.cache->get(d, timeout);
        out += fmt::format("{} flushed verdict={} policy={} store={}; now {}\n", d,
                           had_verdict ? "yes" : "no", had_policy ? "yes" : "no",
                           !rt.store  ? "none"
                           : store_ok ? "yes"
                                      : "failed",
                           verdict_fields(*v));
        spdlog::info("control=flush domain={} verdict={} policy={} store={} {}", d,
                     had_verdict ? "yes" : "no", had_policy ? "yes" : "no",
                     !rt.store  ? "none"
                     : store_ok ? "yes"
                                : "failed",
                     verdict_fields(*v));
    }
    return {true, out};
}

Reply show(Runtime& rt, const std::vector<std::string>& domains) {
    std::string out;
    for (const auto& d : domains) {
        const auto e = rt.cache->inspect(d);
        if (!e || (!e->verdict && !e->lookup_running)) {
            out += d + " not cached; " + policy_line(rt, d) + "\n";
            continue;
        }
        if (!e->verdict) {
            out += d + " lookup running; " + policy_line(rt, d) + "\n";
            continue;
        }
        out += fmt::format("{} {} age={}s left={}s stale={} lookup={}; {}\n", d,
                           verdict_fields(*e->verdict), e->age.count(), e->left.count(),
                           e->stale ? "yes" : "no", e->lookup_running ? "running" : "idle",
                           policy_line(rt, d));
    }
    return {true, out};
}

Reply stats(Runtime& rt) {
    const auto s = rt.cache->stats();
    std::string out = fmt::format(
        "cache_entries={}\ncache_hits={}\ncache_misses={}\ncache_joined={}\ncache_timeouts={}\n"
        "cache_stale={}\ncache_evictions={}\nprefetches={}\nstore_hits={}\nqueued_lookups={}\n"
        "sts_policies={}\n",
        rt.cache->size(), s.hits, s.misses, s.joined, s.timeouts, s.stale, s.evictions,
        s.prefetches, s.store_hits, rt.cache->queued_lookups(), rt.policies->size());
    if (rt.store) {
        out += fmt::format("store={}\nstore_healthy={}\nstore_errors={}\n", rt.store->name(),
                           rt.store->healthy() ? "yes" : "no", rt.store->errors());
    } else {
        out += "store=memory\n";
    }
    return {true, out};
}

}  // namespace

control::ControlServer::Handler make_control_handler(Runtime& runtime) {
    Runtime* rt = &runtime;
    return [rt](const std::vector<std::string>& words) -> Reply {
        const std::string& cmd = words.front();
        if (cmd == "stats") {
            if (words.size() != 1) {
                return {false, "stats takes no arguments"};
            }
            return stats(*rt);
        }
        if (cmd == "flush" || cmd == "show") {
            auto domains = domains_of(words);
            if (!domains) {
                return {false, domains.error()};
            }
            return cmd == "flush" ? flush(*rt, *domains) : show(*rt, *domains);
        }
        return {false, "unknown command \"" + cmd + "\"; expected flush, show or stats"};
    };
}

Result<bool> bind_control(Runtime& runtime, const std::string& user) {
    const auto cfg = runtime.config.load();
    if (!cfg->control) {
        return false;
    }
    auto server =
        control::ControlServer::create(cfg->control->socket, make_control_handler(runtime));
    if (!server) {
        return Error{cfg->path + ": " + server.error()};
    }
    if (!user.empty() && ::geteuid() == 0) {
        const passwd* pw = ::getpwnam(user.c_str());
        if (pw == nullptr) {
            return Error{cfg->path + ": [milter] user: no user \"" + user + "\""};
        }
        if (auto owned = server.value()->set_owner(pw->pw_uid, pw->pw_gid); !owned) {
            return Error{cfg->path + ": " + owned.error()};
        }
    }
    runtime.control = std::move(server.value());
    return true;
}

}  // namespace dsm::milter
