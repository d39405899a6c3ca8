/*
 * null_milter: the do-nothing libmilter milter that mta_bench.sh puts behind
 * Postfix and Sendmail as dane-sts-milter's peer (SPEC §9 "behind a real
 * MTA").  It registers every callback, answers each with SMFIS_CONTINUE and
 * negotiates no protocol step away: no SMFIP_NO* (skip) and no SMFIP_NR_*
 * (no-reply) flags, so the MTA sends every step and waits for every reply,
 * and asks for no actions (it modifies nothing).
 *
 * Usage: null_milter SOCKET     (unix:/PATH, inet:PORT@HOST, inet6:PORT@HOST)
 * Runs in the foreground until SIGTERM/SIGINT (libmilter stops smfi_main).
 */
#include <libmilter/mfapi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static sfsistat on_connect(SMFICTX* ctx, char* host, _SOCK_ADDR* addr) {
    (void)ctx;
    (void)host;
    (void)addr;
    return SMFIS_CONTINUE;
}

static sfsistat on_helo(SMFICTX* ctx, char* helo) {
    (void)ctx;
    (void)helo;
    return SMFIS_CONTINUE;
}

static sfsistat on_envfrom(SMFICTX* ctx, char** argv) {
    (void)ctx;
    (void)argv;
    return SMFIS_CONTINUE;
}

static sfsistat on_envrcpt(SMFICTX* ctx, char** argv) {
    (void)ctx;
    (void)argv;
    return SMFIS_CONTINUE;
}

static sfsistat on_data(SMFICTX* ctx) {
    (void)ctx;
    return SMFIS_CONTINUE;
}

static sfsistat on_header(SMFICTX* ctx, char* name, char* value) {
    (void)ctx;
    (void)name;
    (void)value;
    return SMFIS_CONTINUE;
}

static sfsistat on_eoh(SMFICTX* ctx) {
    (void)ctx;
    return SMFIS_CONTINUE;
}

static sfsistat on_body(SMFICTX* ctx, unsigned char* chunk, size_t len) {
    (void)ctx;
    (void)chunk;
    (void)len;
    return SMFIS_CONTINUE;
}

static sfsistat on_eom(SMFICTX* ctx) {
    (void)ctx;
    return SMFIS_CONTINUE;
}

static sfsistat on_abort(SMFICTX* ctx) {
    (void)ctx;
    return SMFIS_CONTINUE;
}

static sfsistat on_close(SMFICTX* ctx) {
    (void)ctx;
    return SMFIS_CONTINUE;
}

static sfsistat on_unknown(SMFICTX* ctx, const char* cmd) {
    (void)ctx;
    (void)cmd;
    return SMFIS_CONTINUE;
}

/*
 * Negotiation: offer nothing back.  Returning SMFIS_CONTINUE with *pf0 = 0
 * means "no protocol flags": every step is sent and every step is answered,
 * whatever the MTA offered (libmilter would otherwise keep the defaults it
 * derives from the callbacks, which are the same here: all registered).
 */
static sfsistat on_negotiate(SMFICTX* ctx, unsigned long f0, unsigned long f1, unsigned long f2,
                             unsigned long f3, unsigned long* pf0, unsigned long* pf1,
                             unsigned long* pf2, unsigned long* pf3) {
    (void)ctx;
    (void)f0;
    (void)f1;
    (void)f2;
    (void)f3;
    *pf0 = 0; /* actions: none */
    *pf1 = 0; /* protocol: no SMFIP_NO*, no SMFIP_NR_* */
    *pf2 = 0;
    *pf3 = 0;
    return SMFIS_CONTINUE;
}

int main(int argc, char** argv) {
    struct smfiDesc desc;

    if (argc != 2 || argv[1][0] == '\0') {
        fprintf(stderr, "usage: %s SOCKET (unix:/PATH | inet:PORT@HOST)\n", argv[0]);
        return 2;
    }

    memset(&desc, 0, sizeof desc);
    desc.xxfi_name = (char*)"null_milter";
    desc.xxfi_version = SMFI_VERSION;
    desc.xxfi_flags = 0;
    desc.xxfi_connect = on_connect;
    desc.xxfi_helo = on_helo;
    desc.xxfi_envfrom = on_envfrom;
    desc.xxfi_envrcpt = on_envrcpt;
    desc.xxfi_header = on_header;
    desc.xxfi_eoh = on_eoh;
    desc.xxfi_body = on_body;
    desc.xxfi_eom = on_eom;
    desc.xxfi_abort = on_abort;
    desc.xxfi_close = on_close;
    desc.xxfi_unknown = on_unknown;
    desc.xxfi_data = on_data;
    desc.xxfi_negotiate = on_negotiate;

    if (strncmp(argv[1], "unix:", 5) == 0 || strncmp(argv[1], "local:", 6) == 0) {
        const char* path = strchr(argv[1], ':') + 1;
        (void)unlink(path); /* a socket left by an earlier run */
    }
    if (smfi_setconn(argv[1]) == MI_FAILURE) {
        fprintf(stderr, "null_milter: smfi_setconn(%s) failed\n", argv[1]);
        return 1;
    }
    /* Backlog: 16 sessions connect at once. */
    if (smfi_setbacklog(64) == MI_FAILURE || smfi_register(desc) == MI_FAILURE) {
        fprintf(stderr, "null_milter: smfi_register failed\n");
        return 1;
    }
    if (smfi_opensocket(1) == MI_FAILURE) {
        fprintf(stderr, "null_milter: cannot open %s\n", argv[1]);
        return 1;
    }
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
