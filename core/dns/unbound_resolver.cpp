#include "core/dns/unbound_resolver.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unbound.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

namespace dsm::dns {

struct UnboundResolver::Query {
    UnboundResolver* owner = nullptr;
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    DnsAnswer answer;
};

namespace {

constexpr int class_in = 1;

// RFC 1035 §4.1.1 RCODE values libunbound may hand back without data.
std::string rcode_text(int rcode) {
    switch (rcode) {
        case 1:
            return "FORMERR";
        case 2:
            return "SERVFAIL";
        case 3:
            return "NXDOMAIN";
        case 4:
            return "NOTIMP";
        case 5:
            return "REFUSED";
        default:
            return "RCODE " + std::to_string(rcode);
    }
}

std::string without_trailing_dot(std::string name) {
    if (name.size() > 1 && name.back() == '.') {
        name.pop_back();
    }
    return name;
}

Error ub_error(const std::string& what, int rc) {
    return Error{what + ": " + ub_strerror(rc)};
}

// libunbound only reads the trust anchor file when the context is finalised,
// and an empty or unreadable file would silently turn every answer insecure.
// Check up front that it can be read and holds at least one DS or DNSKEY RR
// (zone-file format: "owner [ttl] [class] type rdata", as written by dig,
// ldns or unbound-anchor; ';' starts a comment).
std::optional<Error> check_trust_anchor_file(const std::string& path) {
    const std::string key = "resolver.trust_anchor_file";
    if (path.empty()) {
        return Error{key + ": empty: a DNSSEC trust anchor is required"};
    }
    std::ifstream in(path);
    if (!in) {
        return Error{key + ": cannot read " + path + ": " + std::strerror(errno)};
    }
    std::string line;
    while (std::getline(in, line)) {
        line = line.substr(0, line.find(';'));
        std::istringstream fields(line);
        std::string field;
        for (int i = 0; i < 4 && fields >> field; ++i) {
            for (char& c : field) {
                c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            }
            if (field == "DS" || field == "DNSKEY") {
                return std::nullopt;
            }
        }
    }
    if (in.bad()) {
        return Error{key + ": cannot read " + path + ": " + std::strerror(errno)};
    }
    return Error{key + ": " + path + " holds no DS or DNSKEY record"};
}

DnsAnswer to_answer(DnsAnswer answer, int err, const ub_result* r) {
    if (err != 0 || r == nullptr) {
        answer.outcome = DnsOutcome::tempfail;
        answer.dnssec = DnssecState::indeterminate;
        answer.error = std::string("libunbound: ") + ub_strerror(err);
        return answer;
    }
    if (r->bogus) {
        // libunbound hands back the data that failed validation (the daemon
        // would answer SERVFAIL). It proves nothing: drop it, so that no
        // caller can use it, and keep only the explanation.
        answer.outcome = DnsOutcome::tempfail;
        answer.dnssec = DnssecState::bogus;
        answer.why_bogus = r->why_bogus != nullptr ? r->why_bogus : "validation failed";
        answer.error = "DNSSEC validation failed";
        return answer;
    }
    if (r->havedata) {
        answer.outcome = DnsOutcome::answer;
    } else if (r->nxdomain) {
        answer.outcome = DnsOutcome::nxdomain;
    } else if (r->rcode == 0) {
        answer.outcome = DnsOutcome::nodata;
    } else {
        answer.outcome = DnsOutcome::tempfail;
        answer.error = rcode_text(r->rcode);
    }

    if (r->secure) {
        answer.dnssec = DnssecState::secure;
    } else if (answer.outcome == DnsOutcome::tempfail) {
        answer.dnssec = DnssecState::indeterminate;
    } else {
        answer.dnssec = DnssecState::insecure;
    }

    answer.ttl = r->ttl > 0 ? static_cast<std::uint32_t>(r->ttl) : 0;
    if (r->canonname != nullptr) {
        answer.canonical_name = without_trailing_dot(r->canonname);
    }
    if (r->havedata && r->data != nullptr && r->len != nullptr) {
        for (std::size_t i = 0; r->data[i] != nullptr; ++i) {
            if (r->len[i] < 0) {
                continue;
            }
            const auto* p = reinterpret_cast<const std::uint8_t*>(r->data[i]);
            answer.records.emplace_back(p, p + r->len[i]);
        }
    }
    return answer;
}

using ContextPtr = std::unique_ptr<ub_ctx, void (*)(ub_ctx*)>;

// One finalised libunbound context with every [resolver] setting; the
// resolver makes N of them alike.
// Step 1: how libunbound runs and how much it may send at once.
std::optional<Error> set_library_options(ub_ctx* ctx, const config::ResolverSettings& settings) {
    // A thread rather than a forked process: answers come back through
    // ub_fd() either way, but a fork would duplicate the milter's state.
    if (int rc = ub_ctx_async(ctx, 1); rc != 0) {
        return ub_error("resolver: ub_ctx_async", rc);
    }
    // libunbound's library defaults allow 16 outgoing UDP sockets and 2 TCP
    // connections at once, shared by every query: a few lookups stuck on an
    // unresponsive server (cancelled by us, still retried by libunbound)
    // would then stall all others. unbound_config may still lower them.
    for (const auto& [option, value] :
         {std::pair{"outgoing-range:", "256"}, std::pair{"outgoing-num-tcp:", "16"}}) {
        if (int rc = ub_ctx_set_option(ctx, option, value); rc != 0) {
            return ub_error(std::string("resolver: ") + option, rc);
        }
    }
    // Forwarders and stub servers are often on loopback (a local unbound, or
    // the test bed); libunbound refuses to query 127.0.0.0/8 by default.
    const bool told_where = !settings.forwarders.empty() || !settings.stub_zones.empty();
    if (told_where) {
        if (int rc = ub_ctx_set_option(ctx, "do-not-query-localhost:", "no"); rc != 0) {
            return ub_error("resolver: do-not-query-localhost", rc);
        }
    }
    if (!settings.unbound_config.empty()) {
        std::ifstream probe(settings.unbound_config);
        if (!probe) {
            return Error{"resolver.unbound_config: cannot read " + settings.unbound_config + ": " +
                         std::strerror(errno)};
        }
        if (int rc = ub_ctx_config(ctx, settings.unbound_config.c_str()); rc != 0) {
            return ub_error("resolver.unbound_config: " + settings.unbound_config, rc);
        }
    }
    return std::nullopt;
}

// Step 2: the trust anchor and where to ask. The stub zones, once each.
Result<std::vector<std::string>> set_upstreams(ub_ctx* ctx,
                                               const config::ResolverSettings& settings) {
    if (int rc = ub_ctx_add_ta_file(ctx, settings.trust_anchor_file.c_str()); rc != 0) {
        return ub_error("resolver.trust_anchor_file: " + settings.trust_anchor_file, rc);
    }
    for (const auto& fwd : settings.forwarders) {
        if (int rc = ub_ctx_set_fwd(ctx, fwd.c_str()); rc != 0) {
            return ub_error("resolver.forwarders: '" + fwd + "'", rc);
        }
    }
    std::vector<std::string> zones;
    for (const auto& stub : settings.stub_zones) {
        if (int rc = ub_ctx_set_stub(ctx, stub.zone.c_str(), stub.address.c_str(), 0); rc != 0) {
            return ub_error("resolver.stub_zones: '" + stub.zone + "=" + stub.address + "'", rc);
        }
        if (std::find(zones.begin(), zones.end(), stub.zone) == zones.end()) {
            zones.push_back(stub.zone);
        }
    }
    return zones;
}

// Step 3. Unbound answers test., local., invalid., onion., home.arpa.,
// private reverse zones... itself (RFC 6761, RFC 6303); a stub zone there
// must reach its server. ub_ctx_zone_add() finalises the context, so it
// comes last. Without stub zones, ub_ctx_zone_remove() of a name no one
// configures finalises it too: a bad trust anchor or unbound.conf is then
// reported here rather than by the first query.
std::optional<Error> finalise(ub_ctx* ctx, const config::ResolverSettings& settings,
                              const std::vector<std::string>& zones) {
    const std::string finalise_error =
        "resolver: cannot initialise libunbound (check resolver.trust_anchor_file " +
        settings.trust_anchor_file +
        (settings.unbound_config.empty()
             ? std::string()
             : " and resolver.unbound_config " + settings.unbound_config) +
        ")";
    for (const auto& zone : zones) {
        if (int rc = ub_ctx_zone_add(ctx, zone.c_str(), "nodefault"); rc != 0) {
            if (rc == UB_SYNTAX) {
                return ub_error("resolver.stub_zones: zone '" + zone + "'", rc);
            }
            return ub_error(finalise_error, rc);
        }
    }
    if (zones.empty()) {
        if (int rc = ub_ctx_zone_remove(ctx, "finalise.dane-sts-milter.invalid."); rc != 0) {
            return ub_error(finalise_error, rc);
        }
    }
    return std::nullopt;
}

Result<ContextPtr> make_context(const config::ResolverSettings& settings) {
    ContextPtr ctx(ub_ctx_create(), &ub_ctx_delete);
    if (!ctx) {
        return Error{"resolver: cannot create a libunbound context"};
    }
    if (auto e = set_library_options(ctx.get(), settings)) {
        return *e;
    }
    auto zones = set_upstreams(ctx.get(), settings);
    if (!zones) {
        return Error{zones.error()};
    }
    if (auto e = finalise(ctx.get(), settings, *zones)) {
        return *e;
    }
    return ctx;
}

}  // namespace

unsigned UnboundResolver::default_contexts() {
    // At least 2, so that one slow validation never holds up every lookup;
    // at most 16: past that the contexts' sockets, caches and threads cost
    // more than validation does at any mail volume we aim for (SPEC §9).
    return std::clamp(std::thread::hardware_concurrency(), 2U, 16U);
}

Result<std::unique_ptr<UnboundResolver>> UnboundResolver::create(
    const config::ResolverSettings& settings, unsigned contexts) {
    if (settings.timeout.count() <= 0) {
        return Error{"resolver.timeout_ms: must be a positive number of milliseconds"};
    }
    if (auto err = check_trust_anchor_file(settings.trust_anchor_file)) {
        return *err;
    }
    if (contexts == 0) {
        contexts = default_contexts();
    }

    std::vector<ContextPtr> made;
    for (unsigned i = 0; i < contexts; ++i) {
        auto ctx = make_context(settings);
        if (!ctx) {
            return Error{ctx.error()};
        }
        made.push_back(std::move(*ctx));
    }

    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        return Error{std::string("resolver: pipe: ") + std::strerror(errno)};
    }
    std::vector<ub_ctx*> ctxs;
    for (auto& ctx : made) {
        ctxs.push_back(ctx.release());
    }
    return std::unique_ptr<UnboundResolver>(
        new UnboundResolver(std::move(ctxs), settings.timeout, fds[0], fds[1]));
}

UnboundResolver::UnboundResolver(std::vector<ub_ctx*> ctxs, std::chrono::milliseconds timeout,
                                 int wake_read, int wake_write)
    : ctxs_(std::move(ctxs)), timeout_(timeout), wake_read_(wake_read), wake_write_(wake_write) {
    events_.reserve(ctxs_.size());
    for (ub_ctx* ctx : ctxs_) {
        events_.emplace_back([this, ctx] { event_loop(ctx); });
    }
}

std::size_t UnboundResolver::shutdown() {
    std::vector<std::shared_ptr<Query>> waiting;
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
        for (const auto& [raw, q] : in_flight_) {
            waiting.push_back(q);
        }
    }
    // libunbound goes on with them (a slow server's retries) until the
    // destructor deletes the contexts; their callers need not wait for that.
    std::size_t cut = 0;
    for (const auto& q : waiting) {
        std::lock_guard lock(q->m);
        if (!q->done) {
            q->answer.outcome = DnsOutcome::tempfail;
            q->answer.dnssec = DnssecState::indeterminate;
            q->answer.error = "resolver shut down";
            q->done = true;
            ++cut;
        }
        q->cv.notify_all();
    }
    return cut;
}

UnboundResolver::~UnboundResolver() {
    shutdown();
    {
        // Callers still use their context (ub_cancel) on their way out.
        std::unique_lock lock(mu_);
        idle_.wait(lock, [this] { return callers_ == 0; });
    }

    const char stop = 1;
    while (::write(wake_write_, &stop, 1) < 0 && errno == EINTR) {
    }
    for (auto& t : events_) {
        t.join();
    }
    // Outstanding queries are dropped without their callbacks (unbound.h),
    // so their Query objects are freed with in_flight_ below.
    for (ub_ctx* ctx : ctxs_) {
        ub_ctx_delete(ctx);
    }
    in_flight_.clear();
    ::close(wake_read_);
    ::close(wake_write_);
}

void UnboundResolver::event_loop(ub_ctx* ctx) {
    const int ub = ub_fd(ctx);
    if (ub < 0) {
        spdlog::error("resolver: libunbound has no result descriptor; lookups will time out");
        return;
    }
    pollfd fds[2] = {{ub, POLLIN, 0}, {wake_read_, POLLIN, 0}};
    for (;;) {
        const int n = ::poll(fds, 2, -1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            spdlog::error("resolver: poll: {}; lookups will time out", std::strerror(errno));
            return;
        }
        if (fds[1].revents != 0) {
            return;
        }
        if (fds[0].revents != 0) {
            if (int rc = ub_process(ctx); rc != 0) {
                spdlog::error("resolver: ub_process: {}; lookups will time out", ub_strerror(rc));
                return;
            }
        }
    }
}

ub_ctx* UnboundResolver::context_for_this_thread() const {
    // One number per thread for the life of the process, whatever resolver
    // it calls: threads take consecutive numbers, so N lookup workers spread
    // evenly over the contexts.
    static std::atomic<std::size_t> next_thread{0};
    thread_local const std::size_t thread_number = next_thread.fetch_add(1);
    return ctxs_[thread_number % ctxs_.size()];
}

void UnboundResolver::on_result(void* arg, int err, ub_result* result) {
    auto* raw = static_cast<Query*>(arg);
    std::shared_ptr<Query> q;
    {
        UnboundResolver* self = raw->owner;
        std::lock_guard lock(self->mu_);
        auto it = self->in_flight_.find(raw);
        if (it != self->in_flight_.end()) {
            q = std::move(it->second);
            self->in_flight_.erase(it);
        }
    }
    if (!q) {
        ub_resolve_free(result);
        return;
    }
    std::lock_guard lock(q->m);
    if (!q->done) {
        q->answer = to_answer(std::move(q->answer), err, result);
        q->done = true;
    }
    ub_resolve_free(result);
    q->cv.notify_all();
}

void UnboundResolver::end_call() {
    std::lock_guard lock(mu_);
    if (--callers_ == 0 && stopping_) {
        idle_.notify_all();
    }
}

DnsAnswer UnboundResolver::query(const std::string& name, RrType type) {
    DnsAnswer answer;
    answer.qname = without_trailing_dot(name);
    answer.qtype = type;
    answer.canonical_name = answer.qname;

    if (name.empty() || name.find('\0') != std::string::npos) {
        answer.error = "invalid query name";
        return answer;
    }

    auto q = std::make_shared<Query>();
    q->owner = this;
    q->answer = answer;
    {
        std::lock_guard lock(mu_);
        if (stopping_) {
            answer.error = "resolver shut down";
            return answer;
        }
        ++callers_;
        in_flight_.emplace(q.get(), q);
    }
    struct CallGuard {
        UnboundResolver* self;
        ~CallGuard() { self->end_call(); }
    } guard{this};

    ub_ctx* const ctx = context_for_this_thread();
    int id = 0;
    const int rc = ub_resolve_async(ctx, name.c_str(), static_cast<int>(type), class_in, q.get(),
                                    &UnboundResolver::on_result, &id);
    if (rc != 0) {
        std::lock_guard lock(mu_);
        in_flight_.erase(q.get());
        answer.error = std::string("libunbound: ") + ub_strerror(rc);
        return answer;
    }

    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    {
        std::unique_lock lock(q->m);
        if (q->cv.wait_until(lock, deadline, [&] { return q->done; })) {
            return std::move(q->answer);
        }
    }

    // In threaded mode ub_cancel() succeeds only while the callback has not
    // been picked up; then it will never run and the Query is ours to drop.
    // If it fails, the callback ran or is about to, and drops it itself.
    if (ub_cancel(ctx, id) == 0) {
        std::lock_guard lock(mu_);
        in_flight_.erase(q.get());
    }
    std::lock_guard lock(q->m);
    if (q->done) {
        return q->answer;
    }
    answer.error = "timeout after " + std::to_string(timeout_.count()) + " ms";
    return answer;
}

}  // namespace dsm::dns
