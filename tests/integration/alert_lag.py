#!/usr/bin/env python3
"""Lag of a consumer group: committed offset against end offset.

Usage: alert_lag.py BROKERS GROUP TOPIC:PARTITIONS [TOPIC:PARTITIONS...]

Prints one line per partition, "topic partition committed end lag", then
"total N". A partition without a committed offset counts from its low
watermark (like stockctl lag). It reads the committed offsets without
joining the group (OffsetFetch), so it can run beside the group's members.
Uses librdkafka through ctypes: nothing beyond python3 and librdkafka1.
"""
import ctypes
import ctypes.util
import sys

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
    lib = ctypes.CDLL(ctypes.util.find_library("rdkafka") or "librdkafka.so.1")
    vp, cp, tpl = ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(TopicPartitionList)
    i64p = ctypes.POINTER(ctypes.c_int64)
    sigs = {
        "rd_kafka_conf_new": (vp, []),
        "rd_kafka_conf_set": (ctypes.c_int, [vp, cp, cp, cp, ctypes.c_size_t]),
        "rd_kafka_new": (vp, [ctypes.c_int, vp, cp, ctypes.c_size_t]),
        "rd_kafka_topic_partition_list_new": (tpl, [ctypes.c_int]),
        "rd_kafka_topic_partition_list_add": (ctypes.POINTER(TopicPartition),
                                              [tpl, cp, ctypes.c_int32]),
        "rd_kafka_topic_partition_list_destroy": (None, [tpl]),
        "rd_kafka_committed": (ctypes.c_int, [vp, tpl, ctypes.c_int]),
        "rd_kafka_query_watermark_offsets": (ctypes.c_int, [vp, cp, ctypes.c_int32, i64p, i64p,
                                                            ctypes.c_int]),
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
    brokers, group, specs = argv[1], argv[2], argv[3:]
    lib = load()
    err = ctypes.create_string_buffer(ERRLEN)
    conf = lib.rd_kafka_conf_new()
    for k, v in (("bootstrap.servers", brokers), ("group.id", group),
                 ("enable.auto.commit", "false")):
        if lib.rd_kafka_conf_set(conf, k.encode(), v.encode(), err, ERRLEN) != 0:
            print(f"alert_lag: {k}: {err.value.decode()}", file=sys.stderr)
            return 1
    rk = lib.rd_kafka_new(1, conf, err, ERRLEN)  # RD_KAFKA_CONSUMER
    if not rk:
        print(f"alert_lag: {err.value.decode()}", file=sys.stderr)
        return 1
    parts = []
    for spec in specs:
        topic, n = spec.rsplit(":", 1)
        parts += [(topic, p) for p in range(int(n))]
    lst = lib.rd_kafka_topic_partition_list_new(len(parts))
    for topic, p in parts:
        lib.rd_kafka_topic_partition_list_add(lst, topic.encode(), p)
    rc = lib.rd_kafka_committed(rk, lst, 10000)
    if rc:
        print(f"alert_lag: committed: {lib.rd_kafka_err2str(rc).decode()}", file=sys.stderr)
        return 1
    total = 0
    for i in range(lst.contents.cnt):
        e = lst.contents.elems[i]
        lo, hi = ctypes.c_int64(), ctypes.c_int64()
        rc = lib.rd_kafka_query_watermark_offsets(rk, e.topic, e.partition, ctypes.byref(lo),
                                                  ctypes.byref(hi), 10000)
        if rc:
            print(f"alert_lag: end offset of {e.topic.decode()}[{e.partition}]: "
                  f"{lib.rd_kafka_err2str(rc).decode()}", file=sys.stderr)
            return 1
        done = e.offset if e.offset >= 0 else lo.value
        lag = max(0, hi.value - done)
        total += lag
        print(f"{e.topic.decode()} {e.partition} {e.offset} {hi.value} {lag}")
    print(f"total {total}")
    lib.rd_kafka_topic_partition_list_destroy(lst)
    lib.rd_kafka_destroy(rk)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
