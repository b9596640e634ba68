/* libFuzzer target: evt_parse (size limit, strict JSON scan, duplicate keys,
 * the schema interpreter over the embedded schemas, field reading) on any
 * bytes. An accepted event must carry an event_id and a type name. */
#include "evt.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct evt_validator *v;
    char err[512];
    struct evt e;
    if (!v && evt_validator_new(&v, err, sizeof(err)))
        abort();
    if (evt_parse(v, data, size, &e, err, sizeof(err)) == 0) {
        if (!e.event_id || !e.type_name)
            abort();
        evt_release(&e);
    }
    return 0;
}
