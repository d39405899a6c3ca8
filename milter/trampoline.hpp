// Every libmilter callback goes through one trampoline (STYLE §7): an
// exception escaping into libmilter's C code would abort the daemon, so it is
// caught here, logged, and the transaction is answered TEMPFAIL (the MTA
// retries; nothing is lost).
#pragma once

#include <libmilter/mfapi.h>
#include <spdlog/spdlog.h>

#include <exception>

namespace dsm::milter {

template <auto Fn>
struct Trampoline;

template <typename... Args, sfsistat (*Fn)(SMFICTX*, Args...)>
struct Trampoline<Fn> {
    static sfsistat call(SMFICTX* ctx, Args... args) noexcept {
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
