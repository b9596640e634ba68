/* libFuzzer target: alert_parse (the check of an inventory.alerts record)
 * on any bytes, and alert_dead_letter_json with the bytes as payload and
 * key: the alert must always be one JSON object alert_parse accepts. */
#include "alert.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char id[ALERT_ID_MAX + 1], summary[512], err[512], *json = NULL;
    size_t n;
    if (alert_parse(data, size, id, summary, sizeof(summary), err, sizeof(err)) == 0 &&
        (id[0] == '\0' || strlen(id) > ALERT_ID_MAX))
        abort();
    struct alert_header h[] = {{"x-error", data, size < 300 ? size : 300},
                               {"x-original-topic", data, size < 40 ? size : 40}};
    struct alert_dead_letter d = {.topic = "inventory.orders.dlq", .partition = 1, .offset = 2,
                                  .key = data, .key_len = size < 64 ? size : 64,
                                  .payload = data, .len = size, .headers = h, .nheaders = 2,
                                  .now_ms = 1700000000000, .omit_payload = size & 1};
    if (alert_dead_letter_json(&d, &json, &n, id, summary, sizeof(summary), err, sizeof(err)))
        abort();
    if (alert_parse(json, n, id, summary, sizeof(summary), err, sizeof(err)))
        abort(); /* every alert the worker builds must pass its own check */
    free(json);
    return 0;
}
