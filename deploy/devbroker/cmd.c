/* cmd: parse and run one devbroker control command. See cmd.h. */
#include "cmd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CMD_MAX_WORDS 5
#define PUSH_MAX 10000 /* bound on errors pushed by one command */

/* Kafka protocol ApiKeys (request types), index = key, as in the protocol guide. */
static const char *const apikeys[] = {
    [0] = "Produce",
    [1] = "Fetch",
    [2] = "ListOffsets",
    [3] = "Metadata",
    [4] = "LeaderAndIsr",
    [5] = "StopReplica",
    [6] = "UpdateMetadata",
    [7] = "ControlledShutdown",
    [8] = "OffsetCommit",
    [9] = "OffsetFetch",
    [10] = "FindCoordinator",
    [11] = "JoinGroup",
    [12] = "Heartbeat",
    [13] = "LeaveGroup",
    [14] = "SyncGroup",
    [15] = "DescribeGroups",
    [16] = "ListGroups",
    [17] = "SaslHandshake",
    [18] = "ApiVersions",
    [19] = "CreateTopics",
    [20] = "DeleteTopics",
    [21] = "DeleteRecords",
    [22] = "InitProducerId",
    [23] = "OffsetForLeaderEpoch",
    [24] = "AddPartitionsToTxn",
    [25] = "AddOffsetsToTxn",
    [26] = "EndTxn",
    [27] = "WriteTxnMarkers",
    [28] = "TxnOffsetCommit",
    [29] = "DescribeAcls",
    [30] = "CreateAcls",
    [31] = "DeleteAcls",
    [32] = "DescribeConfigs",
    [33] = "AlterConfigs",
    [34] = "AlterReplicaLogDirs",
    [35] = "DescribeLogDirs",
    [36] = "SaslAuthenticate",
    [37] = "CreatePartitions",
    [38] = "CreateDelegationToken",
    [39] = "RenewDelegationToken",
    [40] = "ExpireDelegationToken",
    [41] = "DescribeDelegationToken",
    [42] = "DeleteGroups",
    [43] = "ElectLeaders",
    [44] = "IncrementalAlterConfigs",
    [45] = "AlterPartitionReassignments",
    [46] = "ListPartitionReassignments",
    [47] = "OffsetDelete",
};
#define APIKEY_CNT ((int)(sizeof(apikeys) / sizeof(apikeys[0])))

static int reply_err(char *reply, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes "error: <fmt...>" into 'reply'; always returns -1. */
static int reply_err(char *reply, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(reply, len, "error: ");

    if (n < 0 || (size_t)n >= len)
        return -1;
    va_start(ap, fmt);
    vsnprintf(reply + n, len - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static int reply_ok(char *reply, size_t len)
{
    snprintf(reply, len, "ok");
    return 0;
}

/* Parses a whole decimal integer in [min, max]; returns 0 or -1. */
static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int cmd_apikey_parse(const char *s)
{
    size_t n = strlen(s);
    long v;

    if (parse_long(s, 0, APIKEY_CNT - 1, &v) == 0)
        return (int)v;
    if (n > 7 && strcasecmp(s + n - 7, "Request") == 0)
        n -= 7;
    for (int i = 0; i < APIKEY_CNT; i++) {
        if (strlen(apikeys[i]) == n && strncasecmp(s, apikeys[i], n) == 0)
            return i;
    }
    return -1;
}

/* Looks 'name' up among librdkafka's named error codes; 0 or -1. */
static int error_lookup(const char *name, long code, rd_kafka_resp_err_t *out)
{
    const struct rd_kafka_err_desc *descs;
    size_t cnt;

    rd_kafka_get_err_descs(&descs, &cnt);
    for (size_t i = 0; i < cnt; i++) {
        if (!descs[i].name)
            continue;
        if (name ? strcasecmp(descs[i].name, name) == 0 : descs[i].code == code) {
            *out = descs[i].code;
            return 0;
        }
    }
    return -1;
}

int cmd_error_parse(const char *s, rd_kafka_resp_err_t *out)
{
    static const char prefix[] = "RD_KAFKA_RESP_ERR_";
    char local[64];
    long v;

    if (parse_long(s, -1000, 1000, &v) == 0)
        return error_lookup(NULL, v, out);
    if (strncasecmp(s, prefix, sizeof(prefix) - 1) == 0)
        s += sizeof(prefix) - 1;
    if (error_lookup(s, 0, out) == 0)
        return 0;
    /* "transport" for "_TRANSPORT": local errors carry a leading '_'. */
    if ((size_t)snprintf(local, sizeof(local), "_%s", s) >= sizeof(local))
        return -1;
    return error_lookup(local, 0, out);
}

/* Every handler gets exactly the argument count its table row declares. */
typedef int (*cmd_fn)(rd_kafka_mock_cluster_t *mc, char **argv, char *reply, size_t len);

static int reply_rdk(rd_kafka_resp_err_t err, char *reply, size_t len)
{
    if (err)
        return reply_err(reply, len, "%s (%s)", rd_kafka_err2name(err), rd_kafka_err2str(err));
    return reply_ok(reply, len);
}

static int parse_broker(const char *s, int32_t *out, char *reply, size_t len)
{
    long v;

    if (parse_long(s, -1, INT32_MAX, &v) < 0 || v == 0)
        return reply_err(reply, len, "bad broker id '%s' (1.. or -1 for all)", s);
    *out = (int32_t)v;
    return 0;
}

static int do_ping(rd_kafka_mock_cluster_t *mc, char **argv, char *reply, size_t len)
{
    return reply_ok(reply, len);
}

static int do_bootstrap(rd_kafka_mock_cluster_t *mc, char **argv, char *reply, size_t len)
{
    snprintf(reply, len, "ok %s", rd_kafka_mock_cluster_bootstraps(mc));
    return 0;
}

static int do_down(rd_kafka_mock_cluster_t *mc, char **argv, char *reply, size_t len)
{
    int32_t id = -1;

    if (parse_broker(argv[0], &id, reply, len) < 0)
        return -1;
    return reply_rdk(rd_kafka_mock_broker_set_down(mc, id), reply, len);
}

static int do_up(rd_kafka_mock_cluster_t *mc, char **argv, char *reply, size_t len)
{
    int32_t id = -1;

    if (parse_broker(argv[0], &id, reply, len) < 0)
        return -1;
    return reply_rdk(rd_kafka_mock_broker_set_up(mc, id), reply, len);
}

static int do_rtt(rd_kafka_mock_cluster_t *mc, char **argv, char *reply, size_t len)
{
    int32_t id = -1;
    long ms;

    if (parse_broker(argv[0], &id, reply, len) < 0)
        return -1;
    if (parse_long(argv[1], 0, 600000, &ms) < 0)
        return reply_err(reply, len, "bad rtt '%s' (0..600000 ms)", argv[1]);
    return reply_rdk(rd_kafka_mock_broker_set_rtt(mc, id, (int)ms), reply, len);
}

static int do_push_errors(rd_kafka_mock_cluster_t *mc, char **argv, char *reply, size_t len)
{
    int key = cmd_apikey_parse(argv[0]);
    rd_kafka_resp_err_t err, *errs;
    long cnt;

    if (key < 0)
        return reply_err(reply, len, "unknown ApiKey '%s'", argv[0]);
    if (parse_long(argv[1], 1, PUSH_MAX, &cnt) < 0)
        return reply_err(reply, len, "bad count '%s' (1..%d)", argv[1], PUSH_MAX);
    if (cmd_error_parse(argv[2], &err) < 0)
        return reply_err(reply, len, "unknown error '%s'", argv[2]);
    errs = calloc((size_t)cnt, sizeof(*errs));
    if (!errs)
        return reply_err(reply, len, "out of memory");
    for (long i = 0; i < cnt; i++)
        errs[i] = err;
    rd_kafka_mock_push_request_errors_array(mc, (int16_t)key, (size_t)cnt, errs);
    free(errs);
    return reply_ok(reply, len);
}

static int do_topic_error(rd_kafka_mock_cluster_t *mc, char **argv, char *reply, size_t len)
{
    rd_kafka_resp_err_t err;

    if (cmd_error_parse(argv[1], &err) < 0)
        return reply_err(reply, len, "unknown error '%s'", argv[1]);
    rd_kafka_mock_topic_set_error(mc, argv[0], err);
    return reply_ok(reply, len);
}

static int do_clear(rd_kafka_mock_cluster_t *mc, char **argv, char *reply, size_t len)
{
    int key = cmd_apikey_parse(argv[0]);

    if (strcasecmp(argv[0], "all") == 0) {
        for (int i = 0; i < APIKEY_CNT; i++)
            rd_kafka_mock_clear_request_errors(mc, (int16_t)i);
        return reply_ok(reply, len);
    }
    if (key < 0)
        return reply_err(reply, len, "unknown ApiKey '%s'", argv[0]);
    rd_kafka_mock_clear_request_errors(mc, (int16_t)key);
    return reply_ok(reply, len);
}

static int do_help(rd_kafka_mock_cluster_t *mc, char **argv, char *reply, size_t len);

static const struct cmd_def {
    const char *name;
    int argc;
    const char *usage;
    cmd_fn fn;
} cmds[] = {
    {"ping", 0, "ping", do_ping},
    {"help", 0, "help", do_help},
    {"bootstrap", 0, "bootstrap", do_bootstrap},
    {"down", 1, "down <broker_id|-1>", do_down},
    {"up", 1, "up <broker_id|-1>", do_up},
    {"rtt", 2, "rtt <broker_id|-1> <ms>", do_rtt},
    {"push-errors", 3, "push-errors <ApiKey> <count> <error>", do_push_errors},
    {"topic-error", 2, "topic-error <topic> <error>", do_topic_error},
    {"clear", 1, "clear <ApiKey|all>", do_clear},
};
#define CMD_CNT (sizeof(cmds) / sizeof(cmds[0]))

static int do_help(rd_kafka_mock_cluster_t *mc, char **argv, char *reply, size_t len)
{
    size_t off = (size_t)snprintf(reply, len, "ok");

    for (size_t i = 0; i < CMD_CNT && off < len; i++)
        off += (size_t)snprintf(reply + off, len - off, "%s%s", i ? "; " : " ", cmds[i].usage);
    return 0;
}

int cmd_exec(rd_kafka_mock_cluster_t *mc, const char *line, char *reply, size_t replylen)
{
    char buf[CMD_LINE_MAX + 1], *argv[CMD_MAX_WORDS + 1], *save = NULL;
    int argc = 0;

    if (strlen(line) > CMD_LINE_MAX)
        return reply_err(reply, replylen, "line too long (max %d bytes)", CMD_LINE_MAX);
    strcpy(buf, line);
    for (char *w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        if (argc == CMD_MAX_WORDS)
            return reply_err(reply, replylen, "too many words");
        argv[argc++] = w;
    }
    if (argc == 0)
        return reply_err(reply, replylen, "empty command (try 'help')");
    for (size_t i = 0; i < CMD_CNT; i++) {
        if (strcmp(argv[0], cmds[i].name) != 0)
            continue;
        if (argc - 1 != cmds[i].argc)
            return reply_err(reply, replylen, "usage: %s", cmds[i].usage);
        return cmds[i].fn(mc, argv + 1, reply, replylen);
    }
    return reply_err(reply, replylen, "unknown command '%s' (try 'help')", argv[0]);
}
