/* libFuzzer target: the JSON Schema interpreter (jschema) on a schema and
 * an instance both taken from the input, split at the first NUL byte (no
 * NUL: the input is the instance, checked against order.created's schema).
 * Compiling must refuse what it cannot interpret, with a reason; validating
 * must terminate with a yes or a no and a reason. */
#include "jschema.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A copy of data[0..len) with a terminating NUL (yajl_tree_parse wants one). */
static char *dup_text(const uint8_t *data, size_t len)
{
    char *s = malloc(len + 1);
    if (!s)
        abort();
    memcpy(s, data, len);
    s[len] = '\0';
    return s;
}

static const char fallback_schema[] =
    "{\"type\":\"object\",\"required\":[\"event_id\",\"lines\"],\"properties\":{"
    "\"event_id\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":128},"
    "\"occurred_at\":{\"type\":\"string\",\"format\":\"date-time\"},"
    "\"lines\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":100,\"items\":{"
    "\"type\":\"object\",\"required\":[\"sku\",\"qty\"],\"properties\":{"
    "\"sku\":{\"type\":\"string\",\"pattern\":\"^[A-Za-z0-9._-]+$\"},"
    "\"qty\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000000}}}}}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    char *schema_text = nul ? dup_text(data, (size_t)(nul - data)) : dup_text((const uint8_t *)fallback_schema, strlen(fallback_schema));
    char *inst_text = nul ? dup_text(nul + 1, size - (size_t)(nul - data) - 1) : dup_text(data, size);
    char err[512];
    yajl_val sdoc = yajl_tree_parse(schema_text, NULL, 0);
    yajl_val idoc = yajl_tree_parse(inst_text, NULL, 0);
    if (sdoc && idoc) {
        struct jschema_schema *s = NULL;
        err[0] = '\0';
        if (jschema_compile(&s, sdoc, err, sizeof(err)) == 0) {
            int r = jschema_validate(s, idoc, err, sizeof(err));
            if (r != 0 && !err[0])
                abort(); /* an invalid instance must come with a reason */
            jschema_free(s);
        } else if (!err[0]) {
            abort(); /* a refused schema must come with a reason */
        }
    }
    yajl_tree_free(sdoc);
    yajl_tree_free(idoc);
    free(schema_text);
    free(inst_text);
    return 0;
}
