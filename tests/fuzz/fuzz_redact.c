/* libFuzzer target: cfg_redact_pg and cfg_redact_http on any string, into
 * buffers of every size up to the input's: the output always ends within
 * the buffer. When libpq parses the string and it names a password of 4
 * or more letters and digits (one at least a digit or capital, so that no
 * keyword can hold it) that no other option contains, the output never
 * shows it. */
#include "cfg.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int distinctive(const char *v)
{
    int marked = 0;
    if (strlen(v) < 4)
        return 0;
    for (; *v; v++) {
        if (!isalnum((unsigned char)*v))
            return 0;
        marked |= isdigit((unsigned char)*v) || isupper((unsigned char)*v);
    }
    return marked;
}

static char *password_of(const char *s)
{
    char *msg = NULL, *pw = NULL;
    PQconninfoOption *opts = PQconninfoParse(s, &msg);
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (o->dispchar[0] == '*' && o->val && distinctive(o->val) && !pw)
            pw = strdup(o->val);
    for (PQconninfoOption *o = opts; pw && o && o->keyword; o++)
        if (o->dispchar[0] != '*' && o->val && strstr(o->val, pw)) {
            free(pw); /* shown as part of another option: not a leak */
            pw = NULL;
        }
    PQconninfoFree(opts);
    PQfreemem(msg);
    return pw;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1500)
        return 0;
    char *in = malloc(size + 1), *out = malloc(size + 64);
    if (!in || !out)
        abort();
    memcpy(in, data, size);
    in[size] = '\0';
    for (size_t len = 1; len < size + 64; len += 1 + len / 4) {
        memset(out, 'G', size + 64);
        cfg_redact_pg(in, out, len);
        if (!memchr(out, '\0', len))
            abort();
        cfg_redact_http(in, out, len);
        if (!memchr(out, '\0', len))
            abort();
    }
    char *pw = password_of(in), full[4096];
    if (pw) {
        cfg_redact_pg(in, full, sizeof(full));
        if (strstr(full, pw))
            abort();
        free(pw);
    }
    free(in);
    free(out);
    return 0;
}
