#include "group.h"

#include "kread.h"
#include "log.h"
#include "out.h"
#include "stockctl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JOIN_TIMEOUT_NS (60 * 1000000000LL)

rd_kafka_t *group_handle(const struct cfg *c, const char *group, char *err, size_t errlen)
{
    const struct kafka_prop props[] = {{"group.id", group},
                                       {"client.id", "stockctl"},
                                       {"enable.auto.commit", "false"},
                                       {"enable.auto.offset.store", "false"}};
    return kread_client(c, RD_KAFKA_CONSUMER, props, sizeof(props) / sizeof(props[0]), err, errlen);
}

/* Counts the live members of one listed group into *members and desc. */
static void describe_one(const struct rd_kafka_group_info *g, int *members, char *desc,
                         size_t desclen)
{
    size_t used = 0;
    int empty = !strcmp(g->state, "Empty") || !strcmp(g->state, "Dead") || !g->state[0];
    *members = empty ? 0 : g->member_cnt;
    desc[0] = '\0';
    for (int i = 0; i < g->member_cnt && i < 4 && used < desclen; i++)
        used += (size_t)snprintf(desc + used, desclen - used, "%s%s on %s", i ? ", " : "",
                                 g->members[i].client_id, g->members[i].client_host);
    if (g->member_cnt > 4 && used < desclen)
        snprintf(desc + used, desclen - used, ", and %d more", g->member_cnt - 4);
}

int group_members(const struct cfg *c, const char *group, int *members, char *desc, size_t desclen,
                  char *err, size_t errlen)
{
    /* rd_kafka_list_groups (ListGroups + DescribeGroups), not the Admin API's
     * DescribeConsumerGroups: against the development broker, which has
     * neither request, librdkafka 2.0.2 then hangs in rd_kafka_destroy. */
    rd_kafka_t *rk = kread_client(c, RD_KAFKA_PRODUCER, NULL, 0, err, errlen);
    if (!rk)
        return EXIT_USAGE;
    const struct rd_kafka_group_list *gl = NULL;
    rd_kafka_resp_err_t e = rd_kafka_list_groups(rk, group, &gl, 15000);
    int rc = EXIT_OK;
    *members = 0;
    desc[0] = '\0';
    if (e == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE) {
        *members = -1;
    } else if (e) {
        snprintf(err, errlen, "describe group %s: %s", group, rd_kafka_err2str(e));
        rc = EXIT_UNREACHABLE;
    } else {
        for (int i = 0; i < gl->group_cnt; i++)
            if (strcmp(gl->groups[i].group, group) == 0 && !gl->groups[i].err)
                describe_one(&gl->groups[i], members, desc, desclen);
    }
    if (gl)
        rd_kafka_group_list_destroy(gl);
    rd_kafka_destroy(rk);
    return rc;
}

/* The group coordinator is moving or still loading __consumer_offsets:
 * Kafka answers so for a few seconds after a group's first use on a new
 * cluster (the development broker never does); worth asking again. */
static int coordinator_busy(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR_NOT_COORDINATOR ||
           e == RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS ||
           e == RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE;
}

int group_committed(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *l, char *err, size_t errlen)
{
    rd_kafka_resp_err_t e;
    /* 10 s in all: 40 tries 250 ms apart while the coordinator is busy */
    for (int attempt = 0;; attempt++) {
        for (int i = 0; i < l->cnt; i++)
            l->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
        e = rd_kafka_committed(rk, l, 10000);
        for (int i = 0; !e && i < l->cnt; i++)
            e = l->elems[i].err;
        if (!coordinator_busy(e) || attempt == 40)
            break;
        nanosleep(&(struct timespec){.tv_nsec = 250 * 1000 * 1000}, NULL);
    }
    if (e) {
        snprintf(err, errlen, "committed offsets: %s", rd_kafka_err2str(e));
        return EXIT_UNREACHABLE;
    }
    return EXIT_OK;
}

/* Commits l and reads it back. *refused: the broker refused an outsider. */
static int commit_and_check(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *l, int *refused,
                            char *err, size_t errlen)
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
        /* the shortest brokers allow: librdkafka's mock cluster waits the
         * last joiner's session timeout less 1 s after a member leaves, and
         * evicts a member whose own session times out while it waits */
        {"session.timeout.ms", "6000"},
        {"heartbeat.interval.ms", "500"},
        {"partition.assignment.strategy", "range,roundrobin"}, /* the workers' */
    };
    rd_kafka_conf_t *conf = kafka_conf_new(c->kafka_brokers, props, sizeof(props) / sizeof(*props),
                                           c->rdkafka, err, errlen);
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

/* ---- owners of partitions ------------------------------------------------- */

/* Big-endian readers over [*p, end): -1 when the bytes run out. */
static int rd16(const unsigned char **p, const unsigned char *end, int *v)
{
    if (end - *p < 2)
        return -1;
    *v = (int16_t)((*p)[0] << 8 | (*p)[1]);
    *p += 2;
    return 0;
}

static int rd32(const unsigned char **p, const unsigned char *end, int32_t *v)
{
    if (end - *p < 4)
        return -1;
    *v = (int32_t)((uint32_t)(*p)[0] << 24 | (uint32_t)(*p)[1] << 16 | (uint32_t)(*p)[2] << 8 |
                   (*p)[3]);
    *p += 4;
    return 0;
}

/* ConsumerProtocolAssignment: int16 version, [string topic, [int32
 * partition]], bytes user_data (ignored). Adds each partition to o. */
static void parse_assignment(const struct rd_kafka_group_member_info *m, struct group_owners *o)
{
    const unsigned char *p = m->member_assignment, *end = p + m->member_assignment_size;
    int ver, tlen;
    int32_t nt, np, part;
    if (!p || rd16(&p, end, &ver) || rd32(&p, end, &nt))
        return;
    for (int32_t t = 0; t < nt; t++) {
        char topic[256];
        if (rd16(&p, end, &tlen) || tlen < 0 || end - p < tlen || (size_t)tlen >= sizeof(topic))
            return;
        memcpy(topic, p, (size_t)tlen);
        topic[tlen] = '\0';
        p += tlen;
        if (rd32(&p, end, &np))
            return;
        for (int32_t k = 0; k < np; k++) {
            if (rd32(&p, end, &part))
                return;
            struct group_owner *v = realloc(o->v, sizeof(*v) * (size_t)(o->n + 1));
            if (!v)
                return;
            o->v = v;
            snprintf(v[o->n].topic, sizeof(v[o->n].topic), "%s", topic);
            v[o->n].partition = part;
            snprintf(v[o->n].member, sizeof(v[o->n].member), "%s@%s", m->client_id,
                     m->client_host);
            o->n++;
        }
    }
}

void group_owners(const struct cfg *c, const char *group, struct group_owners *o)
{
    char err[256];
    memset(o, 0, sizeof(*o));
    rd_kafka_t *rk = kread_client(c, RD_KAFKA_PRODUCER, NULL, 0, err, sizeof(err));
    if (!rk)
        return;
    const struct rd_kafka_group_list *gl = NULL;
    if (rd_kafka_list_groups(rk, group, &gl, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        for (int i = 0; i < gl->group_cnt; i++)
            if (!strcmp(gl->groups[i].group, group) && !gl->groups[i].err &&
                !strcmp(gl->groups[i].protocol_type, "consumer"))
                for (int k = 0; k < gl->groups[i].member_cnt; k++)
                    parse_assignment(&gl->groups[i].members[k], o);
    if (gl)
        rd_kafka_group_list_destroy(gl);
    rd_kafka_destroy(rk);
}

const char *group_owner(const struct group_owners *o, const char *topic, int32_t partition)
{
    for (int i = 0; i < o->n; i++)
        if (o->v[i].partition == partition && !strcmp(o->v[i].topic, topic))
            return o->v[i].member;
    return NULL;
}

void group_owners_release(struct group_owners *o)
{
    free(o->v);
    memset(o, 0, sizeof(*o));
}
