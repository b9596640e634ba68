#include "group.h"

#include "kread.h"
#include "log.h"
#include "out.h"
#include "stockctl.h"

#include <stdio.h>
#include <string.h>

extern char **environ;

#define JOIN_TIMEOUT_NS (60 * 1000000000LL)

rd_kafka_t *group_handle(const struct cfg *c, const char *group, char *err, size_t errlen)
{
    const struct kafka_prop props[] = {{"group.id", group},
                                       {"client.id", "stockctl"},
                                       {"enable.auto.commit", "false"},
                                       {"enable.auto.offset.store", "false"}};
    return kread_client(c, RD_KAFKA_CONSUMER, props, sizeof(props) / sizeof(props[0]), err,
                        errlen);
}

/* Reads one group description into *members and desc. */
static int describe_one(const rd_kafka_ConsumerGroupDescription_t *d, int *members, char *desc,
                        size_t desclen, char *err, size_t errlen)
{
    const rd_kafka_error_t *ge = rd_kafka_ConsumerGroupDescription_error(d);
    rd_kafka_resp_err_t code = ge ? rd_kafka_error_code(ge) : RD_KAFKA_RESP_ERR_NO_ERROR;
    if (code == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE) {
        *members = -1;
        return EXIT_OK;
    }
    if (code == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) {
        *members = 0;
        return EXIT_OK;
    }
    if (code) {
        snprintf(err, errlen, "describe group: %s", rd_kafka_error_string(ge));
        return EXIT_UNREACHABLE;
    }
    rd_kafka_consumer_group_state_t st = rd_kafka_ConsumerGroupDescription_state(d);
    size_t n = rd_kafka_ConsumerGroupDescription_member_count(d), used = 0;
    *members = st == RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY ||
                       st == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD
                   ? 0
                   : (int)n;
    desc[0] = '\0';
    for (size_t i = 0; i < n && i < 4 && used < desclen; i++) {
        const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(d, i);
        used += (size_t)snprintf(desc + used, desclen - used, "%s%s on %s", i ? ", " : "",
                                 rd_kafka_MemberDescription_client_id(m),
                                 rd_kafka_MemberDescription_host(m));
    }
    if (n > 4 && used < desclen)
        snprintf(desc + used, desclen - used, ", and %zu more", n - 4);
    return EXIT_OK;
}

int group_members(const struct cfg *c, const char *group, int *members, char *desc,
                  size_t desclen, char *err, size_t errlen)
{
    /* a producer handle: librdkafka 2.0.2 hangs destroying a consumer that
     * has run DescribeConsumerGroups against the development broker */
    rd_kafka_t *rk = kread_client(c, RD_KAFKA_PRODUCER, NULL, 0, err, errlen);
    if (!rk)
        return EXIT_USAGE;
    char why[256];
    int rc = EXIT_UNREACHABLE;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    rd_kafka_AdminOptions_set_request_timeout(o, 10000, why, sizeof(why));
    const char *groups[1] = {group};
    rd_kafka_DescribeConsumerGroups(rk, groups, 1, o, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
    const rd_kafka_DescribeConsumerGroups_result_t *res =
        ev ? rd_kafka_event_DescribeConsumerGroups_result(ev) : NULL;
    size_t n = 0;
    const rd_kafka_ConsumerGroupDescription_t **d =
        res ? rd_kafka_DescribeConsumerGroups_result_groups(res, &n) : NULL;
    if (!ev)
        snprintf(err, errlen, "describe group %s: no answer within 15 s", group);
    else if (rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE)
        *members = -1, rc = EXIT_OK;
    else if (rd_kafka_event_error(ev))
        snprintf(err, errlen, "describe group %s: %s", group, rd_kafka_event_error_string(ev));
    else if (n != 1)
        snprintf(err, errlen, "describe group %s: no description", group);
    else
        rc = describe_one(d[0], members, desc, desclen, err, errlen);
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

int group_committed(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *l, char *err,
                    size_t errlen)
{
    for (int i = 0; i < l->cnt; i++)
        l->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, l, 10000);
    for (int i = 0; !e && i < l->cnt; i++)
        e = l->elems[i].err;
    if (e) {
        snprintf(err, errlen, "committed offsets: %s", rd_kafka_err2str(e));
        return EXIT_UNREACHABLE;
    }
    return EXIT_OK;
}

/* Commits l and reads it back. *refused: the broker refused an outsider. */
static int commit_and_check(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *l,
                            int *refused, char *err, size_t errlen)
{
    rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_copy(l);
    rd_kafka_resp_err_t e = rd_kafka_commit(rk, c, 0);
    for (int i = 0; !e && i < c->cnt; i++)
        e = c->elems[i].err;
    int rc = EXIT_OK;
    *refused = e == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID ||
               e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
               e == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
    if (e) {
        snprintf(err, errlen, "commit: %s", rd_kafka_err2str(e));
        rc = *refused ? EXIT_FAIL : EXIT_UNREACHABLE;
    } else if ((rc = group_committed(rk, c, err, errlen)) == EXIT_OK) {
        for (int i = 0; i < c->cnt; i++) {
            if (c->elems[i].offset != l->elems[i].offset) {
                snprintf(err, errlen, "commit: %s [%d] reads back %lld, not %lld",
                         c->elems[i].topic, (int)c->elems[i].partition,
                         (long long)c->elems[i].offset, (long long)l->elems[i].offset);
                rc = EXIT_FAIL;
                break;
            }
        }
    }
    rd_kafka_topic_partition_list_destroy(c);
    return rc;
}

struct join_state {
    int assigned; /* the current generation's assignment arrived */
    int count;    /* partitions in it */
};

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct join_state *st = opaque;
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        st->assigned = 1;
        st->count = parts->cnt;
    } else {
        rd_kafka_assign(rk, NULL);
        st->assigned = 0;
    }
}

/* A member of the group: subscribed to l's topics. */
static rd_kafka_t *join_new(const struct cfg *c, const char *group,
                            const rd_kafka_topic_partition_list_t *l, struct join_state *st,
                            char *err, size_t errlen)
{
    const struct kafka_prop props[] = {
        {"group.id", group},
        {"client.id", "stockctl"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"session.timeout.ms", "10000"},
        {"heartbeat.interval.ms", "1000"},
        {"partition.assignment.strategy", "range,roundrobin"}, /* the workers' */
    };
    rd_kafka_conf_t *conf = kafka_conf_new(c->kafka_brokers, props, sizeof(props) / sizeof(*props),
                                           (const char *const *)environ, err, errlen);
    if (!conf)
        return NULL;
    kread_quiet(conf);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_opaque(conf, st);
    char why[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka consumer: %s", why);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(l->cnt);
    for (int i = 0; i < l->cnt; i++)
        if (!rd_kafka_topic_partition_list_find(sub, l->elems[i].topic, RD_KAFKA_PARTITION_UA))
            rd_kafka_topic_partition_list_add(sub, l->elems[i].topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e) {
        snprintf(err, errlen, "subscribe: %s", rd_kafka_err2str(e));
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}

static int join_commit(const struct cfg *c, const char *group,
                       const rd_kafka_topic_partition_list_t *l, char *err, size_t errlen)
{
    struct join_state st = {0};
    rd_kafka_t *rk = join_new(c, group, l, &st, err, errlen);
    if (!rk)
        return EXIT_FAIL;
    int64_t deadline = out_mono_ns() + JOIN_TIMEOUT_NS;
    while (!st.assigned && out_mono_ns() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m)
            rd_kafka_message_destroy(m); /* read while joining: never stored */
    }
    int rc = EXIT_FAIL, refused;
    if (!st.assigned)
        snprintf(err, errlen, "could not join group %s within 60 s", group);
    else if (st.count < l->cnt)
        snprintf(err, errlen,
                 "group %s has live members: joining it gave stockctl %d of %d partitions; "
                 "stop its workers first",
                 group, st.count, l->cnt);
    else
        rc = commit_and_check(rk, l, &refused, err, errlen);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

int group_commit(const struct cfg *c, const char *group, const rd_kafka_topic_partition_list_t *l,
                 char *err, size_t errlen)
{
    rd_kafka_t *rk = group_handle(c, group, err, errlen);
    if (!rk)
        return EXIT_USAGE;
    int refused = 0, rc = commit_and_check(rk, l, &refused, err, errlen);
    rd_kafka_destroy(rk);
    if (rc == EXIT_OK || !refused)
        return rc;
    log_info("group %s refuses a commit from outside (%s); joining it", group, err);
    return join_commit(c, group, l, err, errlen);
}
