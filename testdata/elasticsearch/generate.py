#!/usr/bin/env python3
"""Writes the Elasticsearch answers that the tests replay (python3 generate.py, from here).

Two clusters shaped like the seed deployment (cluster temporal-es-cluster: 3 master, 3 data,
2 coordinating-only "client" nodes; temporal_visibility_v1_* indices under the
temporal_visibility_policy ILM policy; watermarks 85/90/95 %; fielddata breaker 40 %,
request breaker 30 %; index.mapping.total_fields.limit 2000):

  7.17/  healthy: green, every shard assigned, ILM running clean, watermarks set as byte
         sizes (and one transient override), data nodes with the plain data role.
  8.13/  an incident: es-data-3 left, so the cluster is red with unassigned shards (a
         primary among them); es-data-2 is past the high watermark (90.4 % used, which
         cat's whole disk.percent shows as 90, not past 90); ILM's shrink of -000009 is in
         ERROR; the write index -000010 maps 1,950 of its 2,000 fields; /_health_report
         says so too.

The shapes follow the Elasticsearch REST API reference and the typed API of
go-elasticsearch (typedapi/types); the values are made up. Only the fields the exporter reads,
plus enough neighbours to look like the real thing, are written.
"""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
CLUSTER = "temporal-es-cluster"
GB = 1 << 30
T0 = 1735689600000  # 2025-01-01T00:00:00Z in ms: "now" of the recorded cluster
DAY = 86400000


def write(version, name, doc, indent=1):
    d = os.path.join(HERE, version)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "w") as f:
        json.dump(doc, f, indent=indent, separators=None if indent else (",", ":"))
        f.write("\n")


def root(version, lucene, uuid, build_hash):
    return {
        "name": "es-client-1",
        "cluster_name": CLUSTER,
        "cluster_uuid": uuid,
        "version": {
            "number": version,
            "build_flavor": "default",
            "build_type": "docker",
            "build_hash": build_hash,
            "build_date": "2024-04-29T11:57:42.081Z",
            "build_snapshot": False,
            "lucene_version": lucene,
            "minimum_wire_compatibility_version": "7.17.0" if version.startswith("8") else "6.8.0",
            "minimum_index_compatibility_version": "7.0.0" if version.startswith("8") else "6.0.0-beta1",
        },
        "tagline": "You Know, for Search",
    }


# ------------------------------------------------------------------------------ nodes
def pool(threads, queue=0, active=0, rejected=0, completed=0):
    return {"threads": threads, "queue": queue, "active": active, "rejected": rejected,
            "largest": threads, "completed": completed}


def node(i, name, roles, heap, disk_total, disk_avail, v8, busy=False):
    fielddata = int(heap * 0.40)
    request = int(heap * 0.30)
    breakers = {
        "request": {"limit_size_in_bytes": request, "limit_size": "%dmb" % (request >> 20),
                    "estimated_size_in_bytes": 0, "estimated_size": "0b", "overhead": 1.0,
                    "tripped": 0},
        "fielddata": {"limit_size_in_bytes": fielddata, "limit_size": "%dmb" % (fielddata >> 20),
                      "estimated_size_in_bytes": 104857600 if busy else 0,
                      "estimated_size": "100mb" if busy else "0b", "overhead": 1.03,
                      "tripped": 12 if busy else 0},
        "in_flight_requests": {"limit_size_in_bytes": heap, "limit_size": "%dmb" % (heap >> 20),
                               "estimated_size_in_bytes": 0, "estimated_size": "0b",
                               "overhead": 2.0, "tripped": 0},
        "parent": {"limit_size_in_bytes": int(heap * 0.95),
                   "limit_size": "%dmb" % (int(heap * 0.95) >> 20),
                   "estimated_size_in_bytes": int(heap * 0.6),
                   "estimated_size": "%dmb" % (int(heap * 0.6) >> 20), "overhead": 1.0,
                   "tripped": 0},
    }
    if v8:
        breakers["model_inference"] = {"limit_size_in_bytes": heap // 2,
                                       "limit_size": "%dmb" % (heap >> 21),
                                       "estimated_size_in_bytes": 0, "estimated_size": "0b",
                                       "overhead": 1.0, "tripped": 0}
        breakers["eql_sequence"] = {"limit_size_in_bytes": heap // 2,
                                    "limit_size": "%dmb" % (heap >> 21),
                                    "estimated_size_in_bytes": 0, "estimated_size": "0b",
                                    "overhead": 1.0, "tripped": 0}
    else:
        breakers["accounting"] = {"limit_size_in_bytes": heap, "limit_size": "%dmb" % (heap >> 20),
                                  "estimated_size_in_bytes": 8192, "estimated_size": "8kb",
                                  "overhead": 1.0, "tripped": 0}
    data = any(r.startswith("data") for r in roles)
    docs = 41_000_000 + i * 1_000_000 if data else 0
    return {
        "timestamp": T0,
        "name": name,
        "transport_address": "10.1.0.%d:9300" % (10 + i),
        "host": "10.1.0.%d" % (10 + i),
        "ip": "10.1.0.%d" % (10 + i),
        "roles": roles,
        "attributes": {"xpack.installed": "true", "k8s_node_name": "pool-%d" % i},
        "indices": {
            "docs": {"count": docs, "deleted": docs // 50},
            "store": {"size_in_bytes": 61 * GB + i * GB if data else 0, "reserved_in_bytes": 0},
            "indexing": {"index_total": 912_345_678 + i if data else 0,
                         "index_time_in_millis": 51_234_567 if data else 0,
                         "index_current": 3 if data else 0, "index_failed": 0,
                         "delete_total": 0, "delete_time_in_millis": 0, "delete_current": 0,
                         "noop_update_total": 0, "is_throttled": False,
                         "throttle_time_in_millis": 0},
            "search": {"open_contexts": 0, "query_total": 5_432_100 if data else 0,
                       "query_time_in_millis": 2_345_678 if data else 0, "query_current": 1 if data else 0,
                       "fetch_total": 4_321_000 if data else 0, "fetch_time_in_millis": 345_678 if data else 0,
                       "fetch_current": 0, "scroll_total": 0, "scroll_time_in_millis": 0,
                       "scroll_current": 0, "suggest_total": 0, "suggest_time_in_millis": 0,
                       "suggest_current": 0},
            "merges": {"current": 1 if data else 0, "current_docs": 0, "current_size_in_bytes": 0,
                       "total": 123_456 if data else 0, "total_time_in_millis": 9_876_543 if data else 0,
                       "total_docs": 0, "total_size_in_bytes": 0},
            "refresh": {"total": 3_456_789 if data else 0, "total_time_in_millis": 1_234_567 if data else 0,
                        "external_total": 3_400_000 if data else 0,
                        "external_total_time_in_millis": 1_200_000 if data else 0, "listeners": 0},
            "flush": {"total": 4567 if data else 0, "periodic": 4000 if data else 0,
                      "total_time_in_millis": 456_789 if data else 0},
            "segments": {"count": 412 if data else 0,
                         "memory_in_bytes": 0 if v8 else (23_456_789 if data else 0),
                         "terms_memory_in_bytes": 0, "stored_fields_memory_in_bytes": 0,
                         "index_writer_memory_in_bytes": 0, "version_map_memory_in_bytes": 0,
                         "fixed_bit_set_memory_in_bytes": 0},
            "fielddata": {"memory_size_in_bytes": 104857600 if busy else 0, "evictions": 3 if busy else 0},
            "query_cache": {"memory_size_in_bytes": 52_428_800 if data else 0, "total_count": 0,
                            "hit_count": 0, "miss_count": 0, "cache_size": 0, "cache_count": 0,
                            "evictions": 0},
            "request_cache": {"memory_size_in_bytes": 1_048_576 if data else 0, "evictions": 0,
                              "hit_count": 0, "miss_count": 0},
        },
        "os": {"timestamp": T0, "cpu": {"percent": 71 if busy else 12,
                                         "load_average": {"1m": 3.1 if busy else 0.4,
                                                          "5m": 2.8 if busy else 0.5,
                                                          "15m": 2.2 if busy else 0.6}},
               "mem": {"total_in_bytes": 8 * GB if data else 2 * GB,
                       "free_in_bytes": GB // 2, "used_in_bytes": (8 * GB if data else 2 * GB) - GB // 2,
                       "free_percent": 6 if data else 25, "used_percent": 94 if data else 75}},
        "process": {"timestamp": T0, "open_file_descriptors": 1843 if data else 412,
                    "max_file_descriptors": 1048576,
                    "cpu": {"percent": 65 if busy else 8, "total_in_millis": 987_654_321 if data else 12_345_678},
                    "mem": {"total_virtual_in_bytes": 12 * GB if data else 4 * GB}},
        "jvm": {
            "timestamp": T0,
            "uptime_in_millis": 14 * DAY + i * 1000,
            "mem": {"heap_used_in_bytes": int(heap * (0.78 if busy else 0.45)),
                    "heap_used_percent": 78 if busy else 45,
                    "heap_committed_in_bytes": heap, "heap_max_in_bytes": heap,
                    "non_heap_used_in_bytes": 201_326_592, "non_heap_committed_in_bytes": 213_909_504,
                    "pools": {"young": {"used_in_bytes": heap // 8, "max_in_bytes": 0,
                                        "peak_used_in_bytes": heap // 4, "peak_max_in_bytes": 0},
                              "old": {"used_in_bytes": heap // 4, "max_in_bytes": heap,
                                      "peak_used_in_bytes": heap // 2, "peak_max_in_bytes": heap},
                              "survivor": {"used_in_bytes": 8 << 20, "max_in_bytes": 0,
                                           "peak_used_in_bytes": 16 << 20, "peak_max_in_bytes": 0}}},
            "threads": {"count": 120, "peak_count": 131},
            "gc": {"collectors": {"young": {"collection_count": 23_456 + i,
                                            "collection_time_in_millis": 345_678},
                                  "old": {"collection_count": 2 if not busy else 17,
                                          "collection_time_in_millis": 1_234 if not busy else 23_456}}},
            "buffer_pools": {"mapped": {"count": 1200, "used_in_bytes": 10 * GB,
                                        "total_capacity_in_bytes": 10 * GB},
                             "direct": {"count": 90, "used_in_bytes": 33_554_432,
                                        "total_capacity_in_bytes": 33_554_432}},
        },
        "thread_pool": {
            "analyze": pool(1),
            "fetch_shard_started": pool(0),
            "flush": pool(2, completed=4567),
            "force_merge": pool(1, queue=2 if busy else 0, active=1 if busy else 0, completed=88),
            "generic": pool(9, completed=2_345_678),
            "get": pool(2, completed=1_234),
            "management": pool(5, active=1, completed=3_456_789),
            "refresh": pool(1, completed=3_456_789),
            "search": pool(7 if data else 0, queue=412 if busy else 0, active=7 if busy else 0,
                           rejected=1_234 if busy else 0, completed=5_432_100 if data else 0),
            "snapshot": pool(1, completed=120),
            "warmer": pool(1, completed=345),
            "write": pool(2 if data else 0, queue=150 if busy else 0, active=2 if busy else 0,
                          rejected=56 if busy else 0, completed=912_345 if data else 0),
        },
        "fs": {
            "timestamp": T0,
            "total": {"total_in_bytes": disk_total, "free_in_bytes": disk_avail + GB,
                      "available_in_bytes": disk_avail},
            "data": [{"path": "/usr/share/elasticsearch/data", "mount": "/usr/share/elasticsearch/data (/dev/nvme1n1)",
                      "type": "ext4", "total_in_bytes": disk_total, "free_in_bytes": disk_avail + GB,
                      "available_in_bytes": disk_avail}],
        },
        "transport": {"server_open": 48, "total_outbound_connections": 7, "rx_count": 9_876_543,
                      "rx_size_in_bytes": 123_456_789_012, "tx_count": 9_876_000,
                      "tx_size_in_bytes": 98_765_432_109},
        "breakers": breakers,
    }


def nodes_stats(v8, incident):
    data_roles = ["data_cold", "data_content", "data_hot", "data_warm", "ingest"] if v8 else ["data", "ingest"]
    ns = {}
    idx = 0
    spec = [("es-master-%d" % n, ["master"], GB, 50 * GB, 45 * GB) for n in (1, 2, 3)]
    for n in (1, 2, 3):
        total = 500 * GB
        avail = 220 * GB
        if incident and n == 2:
            avail = 48 * GB  # 90.4 % used: past the 90 % high watermark, by less than 1 %
        if incident and n == 3:
            continue  # es-data-3 left the cluster
        spec.append(("es-data-%d" % n, data_roles, 4 * GB, total, avail))
    spec += [("es-client-%d" % n, [], GB, 20 * GB, 18 * GB) for n in (1, 2)]
    for name, roles, heap, total, avail in spec:
        idx += 1
        node_id = "%s-%02dQk9xZ" % (name.replace("-", "")[:8], idx)
        busy = incident and name == "es-data-2"
        ns[node_id] = node(idx, name, roles, heap, total, avail, v8, busy=busy)
    return {"_nodes": {"total": len(ns), "successful": len(ns), "failed": 0},
            "cluster_name": CLUSTER, "nodes": ns}


# ------------------------------------------------------------------------------ indices
PREFIX = "temporal_visibility_v1_prod-"


def mapping(extra_fields):
    """The seed's visibility mapping plus `extra_fields` custom keyword search attributes."""
    date = {"type": "date", "format": "strict_date_optional_time_nanos"}
    sa = {
        "CustomKeywordField": {"type": "keyword"},
        "CustomIntField": {"type": "integer"},
        "CustomDoubleField": {"type": "double"},
        "CustomBoolField": {"type": "boolean"},
        "CustomDatetimeField": dict(date),
        "CustomStringField": {"type": "text", "analyzer": "standard"},
    }
    for n in range(extra_fields):
        sa["TenantAttr%04d" % n] = {"type": "keyword"}
    return {"mappings": {"dynamic": "strict", "properties": {
        "NamespaceId": {"type": "keyword"},
        "WorkflowId": {"type": "keyword"},
        "RunId": {"type": "keyword"},
        "WorkflowType": {"type": "keyword"},
        "StartTime": dict(date),
        "ExecutionTime": dict(date),
        "CloseTime": dict(date),
        "ExecutionStatus": {"type": "integer"},
        "ExecutionDuration": {"type": "long"},
        "HistoryLength": {"type": "long"},
        "TaskQueue": {"type": "keyword"},
        "Memo": {"type": "object", "enabled": False},
        "SearchAttributes": {"type": "object", "properties": sa},
    }}}


# fields the seed mapping has before extra attributes: 11 fields, Memo, SearchAttributes, 6 custom
SEED_FIELDS = 19


def index_stats(names, shards):
    out = {}
    for i, n in enumerate(names):
        pri, rep = shards[n]
        docs = 9_000_000 + i * 500_000
        size = (4 + i) * GB
        def part(copies):
            return {
                "docs": {"count": docs * copies, "deleted": docs * copies // 40},
                "shard_stats": {"total_count": pri * copies},
                "store": {"size_in_bytes": size * copies, "total_data_set_size_in_bytes": size * copies,
                          "reserved_in_bytes": 0},
                "indexing": {"index_total": docs * copies, "index_time_in_millis": 4_000_000 * copies,
                             "index_current": 0, "index_failed": 0, "delete_total": 0,
                             "delete_time_in_millis": 0, "delete_current": 0, "noop_update_total": 0,
                             "is_throttled": False, "throttle_time_in_millis": 0},
                "search": {"open_contexts": 0, "query_total": 700_000 + i, "query_time_in_millis": 350_000,
                           "query_current": 0, "fetch_total": 650_000, "fetch_time_in_millis": 45_000,
                           "fetch_current": 0, "scroll_total": 0, "scroll_time_in_millis": 0,
                           "scroll_current": 0, "suggest_total": 0, "suggest_time_in_millis": 0,
                           "suggest_current": 0},
                "merges": {"current": 0, "current_docs": 0, "current_size_in_bytes": 0,
                           "total": 2_000 * copies, "total_time_in_millis": 600_000 * copies,
                           "total_docs": 0, "total_size_in_bytes": 0},
                "refresh": {"total": 50_000 * copies, "total_time_in_millis": 90_000 * copies,
                            "external_total": 48_000, "external_total_time_in_millis": 85_000,
                            "listeners": 0},
                "flush": {"total": 80 * copies, "periodic": 70, "total_time_in_millis": 12_000 * copies},
                "segments": {"count": 30 * pri * copies, "memory_in_bytes": 0},
            }
        out[n] = {"uuid": "uuid-%s" % n[-6:], "primaries": part(1), "total": part(1 + rep)}
    return {"_shards": {"total": 12, "successful": 12, "failed": 0},
            "_all": {}, "indices": out}


def managed(name, phase, action, step, lifecycle_ms, phase_ms, step_ms, **extra):
    e = {"index": name, "managed": True, "policy": "temporal_visibility_policy",
         "index_creation_date_millis": lifecycle_ms - DAY, "time_since_index_creation": "0d",
         "lifecycle_date_millis": lifecycle_ms, "age": "0d",
         "phase": phase, "phase_time_millis": phase_ms, "action": action,
         "action_time_millis": step_ms, "step": step, "step_time_millis": step_ms,
         "phase_execution": {"policy": "temporal_visibility_policy", "version": 3,
                             "modified_date_in_millis": T0 - 60 * DAY}}
    e.update(extra)
    return e


def ilm_explain(names, ninth):
    """ILM's explain of the four indices, the same in both clusters but for -000009's (ninth)."""
    return {"indices": {
        names[0]: managed(names[0], "cold", "complete", "complete", T0 - 35 * DAY, T0 - 5 * DAY, T0 - 5 * DAY),
        names[1]: managed(names[1], "warm", "complete", "complete", T0 - 21 * DAY, T0 - 14 * DAY, T0 - 13 * DAY),
        names[2]: ninth,
        names[3]: managed(names[3], "hot", "rollover", "check-rollover-ready", T0 - 3 * DAY, T0 - 3 * DAY, T0 - 3 * DAY),
    }}


def settings_of(names, limits, replicas):
    out = {}
    for i, n in enumerate(names):
        s = {"index": {"number_of_replicas": str(replicas[n]),
                       "creation_date": str(T0 - (len(names) - i) * 7 * DAY)}}
        d = {"index": {"mapping": {"total_fields": {}}}}
        if limits[n] is not None:
            s["index"]["mapping"] = {"total_fields": {"limit": str(limits[n])}}
            d = {"index": {}}
        else:
            d["index"]["mapping"]["total_fields"]["limit"] = "1000"
        out[n] = {"settings": s, "defaults": d}
    return out


def cat_shards(rows, with_reason):
    out = []
    for index, shard, prirep, state, node, reason in rows:
        r = {"index": index, "shard": str(shard), "prirep": prirep, "state": state, "node": node}
        if with_reason:
            r["unassigned.reason"] = reason
        out.append(r)
    return out


# ------------------------------------------------------------------------------ cluster
def cluster_health(status, nodes, data_nodes, primaries, shards, unassigned=0, pending=0, max_wait_ms=0,
                   percent=100.0):
    return {
        "cluster_name": CLUSTER, "status": status, "timed_out": False,
        "number_of_nodes": nodes, "number_of_data_nodes": data_nodes, "active_primary_shards": primaries,
        "active_shards": shards, "relocating_shards": 0, "initializing_shards": 0,
        "unassigned_shards": unassigned, "delayed_unassigned_shards": 0, "number_of_pending_tasks": pending,
        "number_of_in_flight_fetch": 0, "task_max_waiting_in_queue_millis": max_wait_ms,
        "active_shards_percent_as_number": percent}


def cluster_settings(watermark, disk_defaults, transient=None):
    """The seed's breakers and allocation settings: watermark is the persistent one, disk_defaults
    what the version's disk defaults hold besides the threshold and reroute interval, transient an
    override (or none)."""
    s = {"persistent": {"cluster": {"routing": {"allocation": {"disk": {"watermark": watermark}}}},
                        "indices": {"breaker": {"fielddata": {"limit": "40%"}, "request": {"limit": "30%"}}}}}
    if transient is not None:
        s["transient"] = transient
    disk = {"threshold_enabled": "true", "reroute_interval": "60s"}
    disk.update(disk_defaults)
    s["defaults"] = {"cluster": {"max_shards_per_node": "1000",
                                 "routing": {"allocation": {"enable": "all", "disk": disk}}},
                     "indices": {"breaker": {"total": {"limit": "95%", "use_real_memory": "true"},
                                             "fielddata": {"overhead": "1.03"}, "request": {"overhead": "1"}}}}
    return s


def visibility_indices():
    """The four visibility indices of both clusters, oldest first, and their (primaries, replicas)."""
    names = [PREFIX + "%06d" % n for n in (7, 8, 9, 10)]
    return names, {names[0]: (1, 0), names[1]: (1, 0), names[2]: (3, 1), names[3]: (3, 1)}


def cat_indices(names, shards, health):
    return [{"index": n, "health": health[n], "status": "open",
             "pri": str(shards[n][0]), "rep": str(shards[n][1])} for n in names]


def slm_policy(last, taken, failed, deleted):
    """The seed's nightly snapshot policy; last holds its last_success (and last_failure)."""
    p = {"version": 2, "modified_date_millis": T0 - 90 * DAY,
         "policy": {"name": "<nightly-{now/d}>", "schedule": "0 30 1 * * ?", "repository": "temporal-backups",
                    "config": {"indices": ["temporal_visibility_v1_*"]},
                    "retention": {"expire_after": "30d", "min_count": 5, "max_count": 50}}}
    p.update(last)
    p["next_execution_millis"] = T0 + 5400000
    p["stats"] = {"policy": "nightly-snapshots", "snapshots_taken": taken, "snapshots_failed": failed,
                  "snapshots_deleted": deleted, "snapshot_deletion_failures": 0}
    return {"nightly-snapshots": p}


def cat_snapshots(status):
    """The nightly snapshots of December 25 to 31; status(day) is each one's."""
    return [{"id": "nightly-2024.12.%02d-abc" % d, "repository": "temporal-backups", "status": status(d),
             "start_epoch": str((T0 - (32 - d) * DAY) // 1000),
             "end_epoch": str((T0 - (32 - d) * DAY + 600000) // 1000)} for d in range(25, 32)]


# ------------------------------------------------------------------------------ 7.17
def v717():
    v = "7.17"
    write(v, "root.json", root("7.17.18", "8.11.1", "Zq3cJ4mXTQmM1bqVn0d4Xw",
                               "8682172c2130b9a411b1bd5ff37c9792367de6b0"))
    write(v, "cluster_health.json", cluster_health("green", 8, 3, 9, 16))
    write(v, "nodes_stats.json", nodes_stats(False, False))
    write(v, "cluster_settings.json", cluster_settings(
        {"low": "100gb", "high": "50gb", "flood_stage": "20gb"}, {"include_relocations": "true"},
        transient={"cluster": {"routing": {"allocation": {"disk": {"watermark": {"high": "40gb"}}}}}}))
    names, shards = visibility_indices()
    write(v, "indices_stats.json", index_stats(names, shards))
    write(v, "ilm_status.json", {"operation_mode": "RUNNING"})
    write(v, "ilm_explain.json", ilm_explain(
        names, managed(names[2], "warm", "complete", "complete", T0 - 14 * DAY, T0 - 7 * DAY, T0 - 6 * DAY)))
    write(v, "mappings.json", {n: mapping(400 + 100 * i) for i, n in enumerate(names)}, indent=None)
    write(v, "index_settings.json", settings_of(
        names, {names[0]: 2000, names[1]: 2000, names[2]: 2000, names[3]: None},
        {n: shards[n][1] for n in names}))
    rows = []
    data_nodes = ["es-data-1", "es-data-2", "es-data-3"]
    k = 0
    for n in names:
        pri, rep = shards[n]
        for s in range(pri):
            for copy in range(1 + rep):
                rows.append((n, s, "p" if copy == 0 else "r", "STARTED", data_nodes[k % 3], None))
                k += 1
    system = [(".security-7", 0, "p", "STARTED", "es-data-1", None),
              (".security-7", 0, "r", "STARTED", "es-data-2", None)]
    write(v, "cat_shards.json", cat_shards(rows + system, True))
    write(v, "cat_shards_indices.json", cat_shards(rows, False))
    write(v, "cat_indices.json", cat_indices(names, shards, {n: "green" for n in names}))
    write(v, "cat_allocation.json", [
        {"node": d, "host": "10.1.0.%d" % (14 + i), "shards": str(5 + (i == 0)), "disk.indices": str(60 * GB),
         "disk.used": str(280 * GB), "disk.avail": str(220 * GB), "disk.total": str(500 * GB),
         "disk.percent": "56"} for i, d in enumerate(data_nodes)])
    write(v, "slm_policy.json", slm_policy(
        {"last_success": {"snapshot_name": "nightly-2024.12.31-abc", "time": T0 - DAY + 3600000}}, 88, 0, 58))
    write(v, "slm_status.json", {"operation_mode": "RUNNING"})
    write(v, "cat_snapshots.json", cat_snapshots(lambda d: "SUCCESS"))


# ------------------------------------------------------------------------------ 8.13
def v813():
    v = "8.13"
    write(v, "root.json", root("8.13.4", "9.10.0", "Zq3cJ4mXTQmM1bqVn0d4Xw",
                               "da95df118650b55a500dcc181889ac35c6d8da7c"))
    write(v, "cluster_health.json", cluster_health("red", 7, 2, 8, 11, unassigned=4, pending=2, max_wait_ms=1532,
                                                   percent=73.33333333333333))
    write(v, "nodes_stats.json", nodes_stats(True, True))
    write(v, "cluster_settings.json", cluster_settings(
        {"low": "85%", "high": "90%", "flood_stage": "95%"},
        {"watermark": {"low": {"max_headroom": "200GB"},
                       "high": {"max_headroom": "150GB"},
                       "flood_stage": {"max_headroom": "100GB", "frozen": "95%", "frozen.max_headroom": "20GB"},
                       "enable_for_single_data_node": "true"}}))
    write(v, "health_report.json", {
        "status": "red", "cluster_name": CLUSTER,
        "indicators": {
            "master_is_stable": {"status": "green", "symptom": "The cluster has a stable master node"},
            "repository_integrity": {"status": "green", "symptom": "All repositories are healthy."},
            "shards_capacity": {"status": "green", "symptom": "The cluster has enough room to add new shards."},
            "shards_availability": {"status": "red", "symptom": "This cluster has 1 unavailable primary shard, 3 unavailable replica shards."},
            "disk": {"status": "yellow", "symptom": "1 node with roles: [data_cold, data_content, data_hot, data_warm, ingest] is out of disk or running low on disk space."},
            "data_stream_lifecycle": {"status": "green", "symptom": "Data streams are executing their lifecycles without issues"},
            "ilm": {"status": "yellow", "symptom": "An index has stayed on the same action longer than expected."},
            "slm": {"status": "green", "symptom": "Snapshot Lifecycle Management is running"},
        }})
    names, shards = visibility_indices()
    write(v, "indices_stats.json", index_stats(names, shards))
    write(v, "ilm_status.json", {"operation_mode": "RUNNING"})
    write(v, "ilm_explain.json", ilm_explain(
        names, managed(names[2], "warm", "shrink", "ERROR", T0 - 14 * DAY, T0 - 7 * DAY, T0 - 2 * DAY,
                       failed_step="shrink", is_auto_retryable_error=True, failed_step_retry_count=47,
                       step_info={"type": "illegal_state_exception",
                                  "reason": "index [%s] cannot be shrunk: shard [1] has no started copy on node [es-data-2]" % names[2]})))
    # -000010 maps 1,950 fields (the seed's 19 + 1,931 tenant attributes) of its 2,000
    write(v, "mappings.json", {
        names[0]: mapping(400), names[1]: mapping(600), names[2]: mapping(1500),
        names[3]: mapping(1950 - SEED_FIELDS)}, indent=None)
    write(v, "index_settings.json", settings_of(
        names, {n: 2000 for n in names}, {n: shards[n][1] for n in names}))
    rows = [
        (names[0], 0, "p", "STARTED", "es-data-1", None),
        (names[1], 0, "p", "STARTED", "es-data-2", None),
        (names[2], 0, "p", "STARTED", "es-data-1", None),
        (names[2], 0, "r", "STARTED", "es-data-2", None),
        (names[2], 1, "p", "STARTED", "es-data-1", None),
        (names[2], 1, "r", "UNASSIGNED", None, "NODE_LEFT"),
        (names[2], 2, "p", "STARTED", "es-data-2", None),
        (names[2], 2, "r", "STARTED", "es-data-1", None),
        (names[3], 0, "p", "STARTED", "es-data-1", None),
        (names[3], 0, "r", "UNASSIGNED", None, "ALLOCATION_FAILED"),
        (names[3], 1, "p", "STARTED", "es-data-2", None),
        (names[3], 1, "r", "STARTED", "es-data-1", None),
        (names[3], 2, "p", "UNASSIGNED", None, "NODE_LEFT"),
        (names[3], 2, "r", "UNASSIGNED", None, "NODE_LEFT"),
    ]
    system = [(".security-7", 0, "p", "STARTED", "es-data-1", None)]
    write(v, "cat_shards.json", cat_shards(rows + system, True))
    write(v, "cat_shards_indices.json", cat_shards(rows, False))
    health = {names[0]: "green", names[1]: "green", names[2]: "yellow", names[3]: "red"}
    write(v, "cat_indices.json", cat_indices(names, shards, health))
    write(v, "cat_allocation.json", [
        {"node": "es-data-1", "host": "10.1.0.14", "shards": "7", "disk.indices": str(190 * GB),
         "disk.used": str(280 * GB), "disk.avail": str(220 * GB), "disk.total": str(500 * GB),
         "disk.percent": "56"},
        {"node": "es-data-2", "host": "10.1.0.15", "shards": "4", "disk.indices": str(410 * GB),
         "disk.used": str(452 * GB), "disk.avail": str(48 * GB), "disk.total": str(500 * GB),
         "disk.percent": "90"},
        {"node": "UNASSIGNED", "host": None, "shards": "4", "disk.indices": None, "disk.used": None,
         "disk.avail": None, "disk.total": None, "disk.percent": None},
    ])
    write(v, "slm_policy.json", slm_policy({
        "last_success": {"snapshot_name": "nightly-2024.12.29-abc", "start_time": T0 - 3 * DAY + 3500000,
                         "time": T0 - 3 * DAY + 3600000},
        "last_failure": {"snapshot_name": "nightly-2024.12.31-abc", "time": T0 - DAY + 3600000,
                         "details": "{\"type\":\"snapshot_exception\",\"reason\":\"[temporal-backups:nightly-2024.12.31-abc] failed: shard [2] of index [%s] is unassigned\"}" % names[3]},
    }, 90, 2, 60))
    write(v, "slm_status.json", {"operation_mode": "RUNNING"})
    write(v, "cat_snapshots.json", cat_snapshots(lambda d: "SUCCESS" if d < 30 else ("PARTIAL" if d == 30 else "FAILED")))


if __name__ == "__main__":
    v717()
    v813()
