/* emit: one event produced and acknowledged (see emit.h). Moved here from
 * sku.c so that `sku set`, `promotion start` and the dashboard share it. */
#include "emit.h"
#include "evt.h"
#include "kread.h"
#include "stockctl.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int emit_fresh_id(const char *prefix, char *out, size_t outlen, char *err, size_t errlen)
{
    unsigned char b[16];
    char hex[33];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, b, sizeof(b)) : -1;
    if (fd >= 0)
        close(fd);
    if (n != (ssize_t)sizeof(b)) {
        snprintf(err, errlen, "cannot read /dev/urandom for a fresh id");
        return EXIT_FAIL;
    }
    for (size_t i = 0; i < sizeof(b); i++)
        snprintf(hex + 2 * i, 3, "%02x", b[i]);
    snprintf(out, outlen, "%s-%s", prefix, hex);
    return EXIT_OK;
}

int emit_text(yajl_gen g, char *ev, char *err, size_t errlen)
{
    const unsigned char *text;
    size_t len;
    if (yajl_gen_get_buf(g, &text, &len) != yajl_gen_status_ok || len >= EMIT_EVENT_MAX) {
        snprintf(err, errlen, "the event does not fit in %d bytes", EMIT_EVENT_MAX);
        return EXIT_FAIL;
    }
    memcpy(ev, text, len);
    ev[len] = '\0';
    return EXIT_OK;
}

struct delivery {
    int done;
    rd_kafka_resp_err_t err;
    int32_t partition;
    int64_t offset;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct delivery *d = m->_private;
    (void)rk;
    (void)opaque;
    if (d) {
        d->err = m->err;
        d->partition = m->partition;
        d->offset = m->offset;
        d->done = 1;
    }
}

static rd_kafka_t *open_producer(const struct cfg *c, char *err, size_t errlen)
{
    const struct kafka_prop props[] = {{"client.id", "stockctl-emit"},
                                       {"enable.idempotence", "true"},
                                       {"acks", "all"},
                                       {"linger.ms", "0"},
                                       {"message.timeout.ms", "30000"}};
    rd_kafka_conf_t *conf =
        kafka_conf_new_for(RD_KAFKA_PRODUCER, c->kafka_brokers, props,
                           sizeof(props) / sizeof(*props), c->rdkafka, err, errlen);
    if (!conf)
        return NULL;
    kread_quiet(conf);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    char why[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka producer: %s", why);
    }
    return rk;
}

/* The schema the workers apply decides, here too: a bad value is refused
 * before anything is sent. */
static int validate(const char *ev, char *err, size_t errlen)
{
    struct evt_validator *v = NULL;
    struct evt e;
    char why[512];
    if (evt_validator_new(&v, err, errlen))
        return EXIT_FAIL;
    int rc = evt_parse(v, ev, strlen(ev), &e, why, sizeof(why)) ? EXIT_USAGE : EXIT_OK;
    if (rc)
        snprintf(err, errlen, "refused: %s", why);
    evt_release(&e);
    evt_validator_free(v);
    return rc;
}

/* Produces ev and waits for its acknowledgement (message.timeout.ms bounds
 * the wait). */
static int produce(rd_kafka_t *rk, const char *topic, const char *key, const char *ev,
                   struct delivery *d, char *err, size_t errlen)
{
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE((void *)ev, strlen(ev)),
        RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
    if (e) {
        snprintf(err, errlen, "produce to %s: %s", topic, rd_kafka_err2str(e));
        return EXIT_FAIL;
    }
    while (!d->done)
        rd_kafka_poll(rk, 50);
    if (d->err) {
        snprintf(err, errlen, "not acknowledged by %s: %s", topic, rd_kafka_err2str(d->err));
        return EXIT_UNREACHABLE;
    }
    return EXIT_OK;
}

int emit_send(const struct cfg *c, const char *topic, const char *key, const char *ev,
              struct emit_ack *ack, char *err, size_t errlen)
{
    int rc = validate(ev, err, errlen);
    if (rc)
        return rc;
    rd_kafka_t *rk = open_producer(c, err, errlen);
    if (!rk)
        return EXIT_USAGE;
    const struct rd_kafka_metadata *md = NULL;
    rc = kread_metadata(rk, &md, err, errlen);
    if (rc == EXIT_OK && !kread_topic(md, topic)) {
        snprintf(err, errlen, "topic %s not found (stockctl topics apply creates it)", topic);
        rc = EXIT_NOTFOUND;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    struct delivery d = {0};
    if (rc == EXIT_OK)
        rc = produce(rk, topic, key, ev, &d, err, errlen);
    if (rc == EXIT_OK && ack) {
        ack->partition = d.partition;
        ack->offset = d.offset;
    }
    rd_kafka_destroy(rk);
    return rc;
}
