// Every libmilter callback goes through one trampoline (STYLE §7): an
// exception escaping into libmilter's C code would abort the daemon, so it is
// caught here, logged, and the transaction is answered TEMPFAIL (the MTA
// retries; nothing is lost). It also passes the shutdown gate
// (milter/session_gate.hpp): once main() has closed it, a late callback
// answers TEMPFAIL without touching the Runtime being torn down.
#pragma once

#include <libmilter/mfapi.h>
#include <spdlog/spdlog.h>

#include <exception>

#include "milter/session_gate.hpp"

namespace dsm::milter {

template <auto Fn>
struct Trampoline;

template <typename... Args, sfsistat (*Fn)(SMFICTX*, Args...)>
struct Trampoline<Fn> {
    static sfsistat call(SMFICTX* ctx, Args... args) noexcept {
        SessionGate& gate = session_gate();
        if (!gate.enter()) {
            return SMFIS_TEMPFAIL;
        }
        struct Leave {
            SessionGate& gate;
            ~Leave() { gate.leave(); }
        } leave{gate};
        try {
            return Fn(ctx, args...);
        } catch (const std::exception& ex) {
            spdlog::error("internal error in milter callback: {}; answering tempfail", ex.what());
        } catch (...) {
            spdlog::error("internal error in milter callback; answering tempfail");
        }
        return SMFIS_TEMPFAIL;
    }
};

}  // namespace dsm::milter
