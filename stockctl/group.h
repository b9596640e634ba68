/* group: a consumer group seen from outside: its live members, its
 * committed offsets, and setting those offsets (replay).
 *
 * Functions return a stockctl exit code (EXIT_OK, EXIT_FAIL,
 * EXIT_UNREACHABLE) with one line in err. */
#ifndef STOCKFLOW_GROUP_H
#define STOCKFLOW_GROUP_H

#include "cfg.h"
#include "kafka.h"

#include <stddef.h>

/* A consumer handle in `group` that never joins it: for committed offsets.
 * NULL with err on a configuration error. */
rd_kafka_t *group_handle(const struct cfg *c, const char *group, char *err, size_t errlen);

/* Live members of the group as the broker describes them (ListGroups and
 * DescribeGroups): *members gets the count, or -1 when the broker cannot
 * tell (the development broker has neither request); desc gets a few of
 * them ("order-worker@host:123 on /127.0.0.1, ..."). */
int group_members(const struct cfg *c, const char *group, int *members, char *desc, size_t desclen,
                  char *err, size_t errlen);

/* Which member each partition is assigned to, from the members'
 * assignments in DescribeGroups (the consumer protocol's
 * ConsumerProtocolAssignment). Empty when the broker cannot describe groups
 * (the development broker) or the group has no members. */
struct group_owners {
    struct group_owner {
        char topic[256];
        int32_t partition;
        char member[160]; /* client.id@host */
    } *v;
    int n;
};

/* Best effort: fills o (release it with group_owners_release). */
void group_owners(const struct cfg *c, const char *group, struct group_owners *o);
/* The owner of topic[partition], or NULL when not known. */
const char *group_owner(const struct group_owners *o, const char *topic, int32_t partition);
void group_owners_release(struct group_owners *o);

/* Committed offsets of the group for the partitions of l, into
 * l->elems[i].offset (RD_KAFKA_OFFSET_INVALID, -1001, when none). rk: from
 * group_handle. */
int group_committed(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *l, char *err, size_t errlen);

/* Commits the offsets of l (absolute, one per partition) for the group.
 * First as an outsider, which Kafka accepts for a group without members;
 * when the broker refuses that (the development broker refuses every
 * outsider once the group exists), joins the group and commits as a
 * member, refusing with EXIT_FAIL when it is not given every partition of
 * l's topics: then another member is live. Reads the offsets back. */
int group_commit(const struct cfg *c, const char *group, const rd_kafka_topic_partition_list_t *l,
                 char *err, size_t errlen);

#endif
