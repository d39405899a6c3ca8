/* Linked into every program of a DSM_TSAN build (CMakeLists.txt). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <time.h>

/* The ThreadSanitizer runtime asks for its default options before main, so
 * the suppressions (tests/tsan.supp, only races inside uninstrumented
 * libraries) and halt_on_error apply to every process the suite starts, the
 * milters of the shell tests and e2e tests included, whether or not
 * TSAN_OPTIONS reaches them. TSAN_OPTIONS from the environment is read after
 * these and wins. */
const char* __tsan_default_options(void);

__attribute__((visibility("default"), used)) const char* __tsan_default_options(void) {
    return "suppressions=" DSM_TSAN_SUPPRESSIONS " halt_on_error=1 second_deadlock_stack=1";
}

/* GCC 12's TSan runtime has no interceptor for pthread_mutex_clocklock(),
 * which libstdc++'s std::timed_mutex::try_lock_until() calls for a
 * steady_clock deadline (core/cache/redis_store.cpp): TSan then never sees
 * the lock taken, reports "unlock of an unlocked mutex", and every access
 * the mutex guards as a race. This definition interposes glibc's for the
 * TSan build only and takes the lock through pthread_mutex_timedlock(),
 * which TSan intercepts, with the deadline moved to CLOCK_REALTIME (only a
 * jump of the wall clock during the wait could make it differ). */
int pthread_mutex_clocklock(pthread_mutex_t* mutex, clockid_t clockid,
                            const struct timespec* abstime) {
    if (clockid == CLOCK_REALTIME) {
        return pthread_mutex_timedlock(mutex, abstime);
    }
    struct timespec on_clock;
    struct timespec real;
    if (clock_gettime(clockid, &on_clock) != 0 || clock_gettime(CLOCK_REALTIME, &real) != 0) {
        return EINVAL;
    }
    long long left = (long long)(abstime->tv_sec - on_clock.tv_sec) * 1000000000LL +
                     (abstime->tv_nsec - on_clock.tv_nsec);
    if (left < 0) {
        left = 0; /* still locks a free mutex (POSIX) */
    }
    real.tv_sec += (time_t)(left / 1000000000LL);
    real.tv_nsec += (long)(left % 1000000000LL);
    if (real.tv_nsec >= 1000000000L) {
        real.tv_sec += 1;
        real.tv_nsec -= 1000000000L;
    }
    return pthread_mutex_timedlock(mutex, &real);
}
