#!/usr/bin/env python3
"""Reset a consumer group to the earliest offset (offset 0 on every partition).

Usage: kreset.py BROKERS GROUP TOPIC [TOPIC...]

Like `kafka-consumer-groups --reset-offsets --to-earliest`, for a broker that
needs it done by a member: librdkafka's mock cluster refuses an OffsetCommit
from outside the group once the group exists, so this joins the group (the
group must have no other member), waits for the assignment of every
partition, commits offset 0 for each and leaves. It uses librdkafka through
ctypes, so it needs nothing beyond python3 and librdkafka1.
"""
import ctypes
import ctypes.util
import sys
import time

ERRLEN = 512


class TopicPartition(ctypes.Structure):
    _fields_ = [
        ("topic", ctypes.c_char_p),
        ("partition", ctypes.c_int32),
        ("offset", ctypes.c_int64),
        ("metadata", ctypes.c_void_p),
        ("metadata_size", ctypes.c_size_t),
        ("opaque", ctypes.c_void_p),
        ("err", ctypes.c_int),
        ("_private", ctypes.c_void_p),
    ]


class TopicPartitionList(ctypes.Structure):
    _fields_ = [
        ("cnt", ctypes.c_int),
        ("size", ctypes.c_int),
        ("elems", ctypes.POINTER(TopicPartition)),
    ]


def load():
    name = ctypes.util.find_library("rdkafka") or "librdkafka.so.1"
    lib = ctypes.CDLL(name)
    vp, cp, tpl = ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(TopicPartitionList)
    sigs = {
        "rd_kafka_conf_new": (vp, []),
        "rd_kafka_conf_set": (ctypes.c_int, [vp, cp, cp, cp, ctypes.c_size_t]),
        "rd_kafka_new": (vp, [ctypes.c_int, vp, cp, ctypes.c_size_t]),
        "rd_kafka_poll_set_consumer": (ctypes.c_int, [vp]),
        "rd_kafka_topic_partition_list_new": (tpl, [ctypes.c_int]),
        "rd_kafka_topic_partition_list_add": (ctypes.POINTER(TopicPartition), [tpl, cp, ctypes.c_int32]),
        "rd_kafka_topic_partition_list_destroy": (None, [tpl]),
        "rd_kafka_subscribe": (ctypes.c_int, [vp, tpl]),
        "rd_kafka_consumer_poll": (vp, [vp, ctypes.c_int]),
        "rd_kafka_message_destroy": (None, [vp]),
        "rd_kafka_assignment": (ctypes.c_int, [vp, ctypes.POINTER(tpl)]),
        "rd_kafka_commit": (ctypes.c_int, [vp, tpl, ctypes.c_int]),
        "rd_kafka_committed": (ctypes.c_int, [vp, tpl, ctypes.c_int]),
        "rd_kafka_consumer_close": (ctypes.c_int, [vp]),
        "rd_kafka_destroy": (None, [vp]),
        "rd_kafka_err2str": (cp, [ctypes.c_int]),
    }
    for fn, (res, args) in sigs.items():
        f = getattr(lib, fn)
        f.restype, f.argtypes = res, args
    return lib


def main(argv):
    if len(argv) < 4:
        sys.stderr.write(__doc__)
        return 2
    brokers, group, topics = argv[1], argv[2], argv[3:]
    lib = load()
    err = ctypes.create_string_buffer(ERRLEN)
    conf = lib.rd_kafka_conf_new()
    for k, v in (("bootstrap.servers", brokers), ("group.id", group),
                 ("enable.auto.commit", "false"), ("auto.offset.reset", "earliest"),
                 ("session.timeout.ms", "6000"), ("heartbeat.interval.ms", "500")):
        if lib.rd_kafka_conf_set(conf, k.encode(), v.encode(), err, ERRLEN) != 0:
            print(f"kreset: {k}: {err.value.decode()}", file=sys.stderr)
            return 1
    rk = lib.rd_kafka_new(1, conf, err, ERRLEN)  # RD_KAFKA_CONSUMER
    if not rk:
        print(f"kreset: {err.value.decode()}", file=sys.stderr)
        return 1
    lib.rd_kafka_poll_set_consumer(rk)
    sub = lib.rd_kafka_topic_partition_list_new(len(topics))
    for t in topics:
        lib.rd_kafka_topic_partition_list_add(sub, t.encode(), -1)
    rc = lib.rd_kafka_subscribe(rk, sub)
    lib.rd_kafka_topic_partition_list_destroy(sub)
    if rc:
        print(f"kreset: subscribe: {lib.rd_kafka_err2str(rc).decode()}", file=sys.stderr)
        return 1

    # Wait for an assignment; messages fetched meanwhile are discarded and,
    # with auto commit off, never committed.
    deadline = time.monotonic() + 60
    assigned = None
    while time.monotonic() < deadline:
        m = lib.rd_kafka_consumer_poll(rk, 200)
        if m:
            lib.rd_kafka_message_destroy(m)
        a = ctypes.POINTER(TopicPartitionList)()
        if lib.rd_kafka_assignment(rk, ctypes.byref(a)) == 0 and a:
            if a.contents.cnt > 0:
                assigned = a
                break
            lib.rd_kafka_topic_partition_list_destroy(a)
    if assigned is None:
        print("kreset: no partition assigned within 60 s", file=sys.stderr)
        return 1

    lst = assigned.contents
    parts = []
    for i in range(lst.cnt):
        lst.elems[i].offset = 0
        parts.append(f"{lst.elems[i].topic.decode()}[{lst.elems[i].partition}]")
    rc = lib.rd_kafka_commit(rk, assigned, 0)  # synchronous
    if rc:
        print(f"kreset: commit: {lib.rd_kafka_err2str(rc).decode()}", file=sys.stderr)
        return 1
    # Read the offsets back from the coordinator.
    for i in range(lst.cnt):
        lst.elems[i].offset = -1001
    rc = lib.rd_kafka_committed(rk, assigned, 10000)
    bad = [f"{lst.elems[i].topic.decode()}[{lst.elems[i].partition}]={lst.elems[i].offset}"
           for i in range(lst.cnt) if lst.elems[i].offset != 0]
    lib.rd_kafka_topic_partition_list_destroy(assigned)
    lib.rd_kafka_consumer_close(rk)
    lib.rd_kafka_destroy(rk)
    if rc or bad:
        print(f"kreset: committed offsets not 0 after reset: {' '.join(bad)} (rc {rc})",
              file=sys.stderr)
        return 1
    print(f"kreset: group {group} reset to offset 0 on {len(parts)} partitions: {' '.join(parts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
