/* produce-at: writes one record with a timestamp of the caller's choosing
 * (kcat has no way to set one), for tests of what workers make of record
 * timestamps.
 *
 *   produce-at BROKERS TOPIC PARTITION TIMESTAMP_MS KEY VALUE
 *
 * Exit status 0 once the broker acknowledged the record, 1 otherwise. */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int delivered = -1;

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    delivered = m->err ? 0 : 1;
    if (m->err)
        fprintf(stderr, "produce-at: not delivered: %s\n", rd_kafka_err2str(m->err));
}

int main(int argc, char **argv)
{
    char err[512];
    if (argc != 7) {
        fprintf(stderr, "usage: produce-at BROKERS TOPIC PARTITION TIMESTAMP_MS KEY VALUE\n");
        return 2;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof(err))) {
        fprintf(stderr, "produce-at: %s\n", err);
        return 2;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_dr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "produce-at: %s\n", err);
        return 1;
    }
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(argv[2]), RD_KAFKA_V_PARTITION((int32_t)atoi(argv[3])),
        RD_KAFKA_V_TIMESTAMP(strtoll(argv[4], NULL, 10)), RD_KAFKA_V_KEY(argv[5], strlen(argv[5])),
        RD_KAFKA_V_VALUE(argv[6], strlen(argv[6])), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_END);
    if (e)
        fprintf(stderr, "produce-at: %s\n", rd_kafka_err2str(e));
    else
        rd_kafka_flush(rk, 10000);
    rd_kafka_destroy(rk);
    return delivered == 1 ? 0 : 1;
}
