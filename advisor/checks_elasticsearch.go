package advisor

import (
	"fmt"
	"sort"
	"strings"

	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// esNeeds are Elasticsearch queries a check needs.
func esNeeds(names ...string) []Need {
	out := make([]Need, len(names))
	for i, q := range names {
		out[i] = Need{Kind: queries.SourceElasticsearch, Query: q}
	}
	return out
}

// esRun is the run of an Elasticsearch check: per eligible target, findings from its facts,
// given the target's name and cluster.
func esRun(find func(t *facts.Target, th *ESThresholds) []Finding) func(c *Context) []Finding {
	return func(c *Context) []Finding {
		return eachTarget(c.Eligible, func(t *facts.Target) []Finding {
			out := find(t, &c.Config.Thresholds.ES)
			for i := range out {
				out[i].Cluster = t.Cluster
			}
			return out
		})
	}
}

// elasticsearchChecks are the checks of the visibility cluster.
func elasticsearchChecks() []Check {
	return []Check{
		check{"es_ilm_error", "Indices whose ILM step failed (ERROR)", esNeeds("elasticsearch_ilm_index_step"), esRun(esILMErrors)},
		check{"es_ilm_stuck", "Indices stuck in one ILM step", esNeeds("elasticsearch_ilm_index"), esRun(esILMStuck)},
		check{"es_rollover_overdue", "Indices past their rollover conditions that did not roll",
			esNeeds("elasticsearch_ilm_index", "elasticsearch_index_stats", "elasticsearch_index_settings_shards"), esRun(esRolloverOverdue)},
		check{"es_disk_watermark", "Nodes past a disk watermark", esNeeds("elasticsearch_cat_allocation", "elasticsearch_clustersettings"), esRun(esDiskWatermarks)},
		check{"es_read_only", "Indices blocked read-only by the flood-stage watermark", esNeeds("elasticsearch_indices_settings"), esRun(esReadOnly)},
		check{"es_mapping_fields", "Indices nearing their mapped-field limit", esNeeds("elasticsearch_indices_settings", "elasticsearch_indices_mappings_stats"), esRun(esMappingFields)},
		check{"es_unassigned_shards", "Unassigned shards", esNeeds("elasticsearch_unassigned_shards"), esRun(esUnassigned)},
		check{"es_heap", "JVM heap and circuit breakers", esNeeds("elasticsearch_jvm_memory_heap", "elasticsearch_breakers"), esRun(esHeap)},
		check{"es_shards_per_node", "Shards per node against cluster.max_shards_per_node",
			esNeeds("elasticsearch_node_shards", "elasticsearch_clustersettings"), esRun(esShardsPerNode)},
		// the snapshot queries run only for the configured policies and repositories: the
		// check reads what there is
		check{"es_snapshot_age", "Last successful snapshot", esNeeds("elasticsearch_cluster_health"), esRun(esSnapshotAge)},
	}
}

func esILMErrors(t *facts.Target, _ *ESThresholds) []Finding {
	var out []Finding
	for _, e := range t.ILMErrors {
		reason := e.Reason
		if e.Type != "" {
			reason = e.Type + ": " + reason
		}
		out = append(out, Finding{Severity: Warning, Object: e.Index,
			Summary: fmt.Sprintf("ILM step %s of %s/%s failed: %s", orUnknown(e.FailedStep), e.Phase, e.Action, orUnknown(reason)),
			Evidence: []Evidence{{"policy", e.Policy}, {"phase/action", e.Phase + "/" + e.Action}, {"failed step", e.FailedStep},
				{"reason", reason}, {"automatic retries", fmt.Sprintf("%g", e.Retries)}},
			Fix: Fix{Kind: "action", Text: "fix the cause above, then: POST /" + e.Index + "/_ilm/retry",
				Why: "an index in ERROR stays where it is: no rollover, no shrink, no delete, so the cluster grows until a watermark stops it"}})
	}
	return out
}

// waitingSteps are ILM steps that wait by design: for the rollover conditions, for the next
// phase's min_age, or done.
var waitingSteps = map[string]bool{"check-rollover-ready": true, "complete": true, "ERROR": true}

func esILMStuck(t *facts.Target, th *ESThresholds) []Finding {
	var out []Finding
	for _, x := range t.ILMIndices {
		if !x.HasStepAge || waitingSteps[x.Step] || x.Step == "" || x.StepAge < th.ESILMStepStuck.Seconds() {
			continue
		}
		out = append(out, Finding{Severity: Warning, Object: x.Index,
			Summary:  fmt.Sprintf("in ILM step %s/%s/%s for %s", x.Phase, x.Action, x.Step, humanDuration(x.StepAge)),
			Evidence: []Evidence{{"policy", x.Policy}, {"step", x.Phase + "/" + x.Action + "/" + x.Step}, {"in the step for", humanDuration(x.StepAge)}},
			Fix: Fix{Kind: "action", Text: "GET /" + x.Index + "/_ilm/explain?human (step_info says what it waits for: shard allocation, a replica, a shrink node)",
				Why: "ILM moves on its own within minutes; a step that lasts a day waits for something that will not happen by itself"}})
	}
	return out
}

func esRolloverOverdue(t *facts.Target, th *ESThresholds) []Finding {
	sizes := t.PrimaryBytes
	pri := t.PrimaryShards
	var out []Finding
	for _, x := range t.ILMIndices {
		if x.Step != "check-rollover-ready" {
			continue
		}
		shards := max(pri[x.Index], 1)
		shardSize := sizes[x.Index] / shards
		var why []string
		if x.Age > (th.ESRolloverMaxAge + th.ESRolloverGrace).Seconds() {
			why = append(why, fmt.Sprintf("%s old (max_age %s)", humanDuration(x.Age), humanDuration(th.ESRolloverMaxAge.Seconds())))
		}
		if shardSize > 1.2*float64(th.ESRolloverMaxPrimaryShardSize) {
			why = append(why, fmt.Sprintf("%s per primary shard (max_primary_shard_size %s)", humanBytes(shardSize), humanBytes(float64(th.ESRolloverMaxPrimaryShardSize))))
		}
		if len(why) == 0 {
			continue
		}
		out = append(out, Finding{Severity: Warning, Object: x.Index,
			Summary: "past its rollover conditions and still the write index: " + strings.Join(why, ", "),
			Evidence: []Evidence{{"age", humanDuration(x.Age)}, {"primary size", humanBytes(sizes[x.Index])},
				{"primary shards", fmt.Sprintf("%g", shards)}, {"policy", x.Policy}},
			Fix: Fix{Kind: "action", Text: "GET /" + x.Index + "/_ilm/explain; check that index.lifecycle.rollover_alias names an alias whose write index is " + x.Index + ", then POST /<that alias>/_rollover",
				Why: "an index that does not roll grows without bound: slower searches, longer recoveries, and the delete phase never frees its space"}})
	}
	return out
}

// watermarkPassed reports whether a node's disk is past a watermark in either form.
func watermarkPassed(d facts.NodeDisk, w facts.Watermark) bool {
	return w.HasRatio && w.Ratio > 0 && d.Ratio >= w.Ratio || w.HasFreeBytes && w.FreeBytes > 0 && d.Avail <= w.FreeBytes
}

func esDiskWatermarks(t *facts.Target, _ *ESThresholds) []Finding {
	cs, ok := t.ClusterSettings, t.ClusterSettings != nil
	if !ok || !cs.ThresholdEnabled {
		return nil
	}
	var out []Finding
	for _, d := range t.NodeDisks {
		sev, stage, effect := Info, "", ""
		switch {
		case watermarkPassed(d, cs.Flood):
			sev, stage, effect = Critical, "flood-stage", "every index with a shard on it is made read-only (index.blocks.read_only_allow_delete): visibility writes fail"
		case watermarkPassed(d, cs.High):
			sev, stage, effect = Critical, "high", "Elasticsearch moves shards away from it; the flood stage is next"
		case watermarkPassed(d, cs.Low):
			sev, stage, effect = Warning, "low", "no new shard (a rollover's new index included) is allocated to it"
		default:
			continue
		}
		out = append(out, Finding{Severity: sev, Object: "node " + d.Node,
			Summary: fmt.Sprintf("disk %s used (%s free): past the %s watermark", pct(d.Ratio), humanBytes(d.Avail), stage),
			Evidence: []Evidence{{"used", fmt.Sprintf("%s of %s", humanBytes(d.Used), humanBytes(d.Total))}, {"free", humanBytes(d.Avail)},
				{"watermarks", fmt.Sprintf("low %s, high %s, flood stage %s", wmString(cs.Low), wmString(cs.High), wmString(cs.Flood))},
				{"shards", fmt.Sprintf("%g", d.Shards)}},
			Fix: Fix{Kind: "action", Text: "free disk on " + d.Node + ": delete visibility indices past retention (the ILM delete phase), or add a data node or disk",
				Why: effect}})
	}
	return out
}

func wmString(w facts.Watermark) string {
	switch {
	case w.HasRatio && w.Ratio > 0:
		return pct(w.Ratio)
	case w.HasFreeBytes:
		return humanBytes(w.FreeBytes) + " free"
	}
	return "unset"
}

func esReadOnly(t *facts.Target, _ *ESThresholds) []Finding {
	var out []Finding
	for _, s := range t.IndexSettings {
		if !s.ReadOnlyAllowDelete {
			continue
		}
		out = append(out, Finding{Severity: Critical, Object: s.Index,
			Summary:  "blocked read-only (index.blocks.read_only_allow_delete): writes to it fail",
			Evidence: []Evidence{{"index.blocks.read_only_allow_delete", "true"}},
			Fix: Fix{Kind: "action", Text: "free disk below the high watermark first, then: PUT /" + s.Index + `/_settings {"index.blocks.read_only_allow_delete": null}`,
				Why: "the flood-stage watermark set the block; Elasticsearch 7.4+ lifts it by itself once the disk is below the high watermark, older versions never do"}})
	}
	return out
}

func esMappingFields(t *facts.Target, th *ESThresholds) []Finding {
	fields := t.MappingFields
	var out []Finding
	for _, s := range t.IndexSettings {
		n, ok := fields[s.Index]
		if !ok || s.TotalFieldsLimit <= 0 {
			continue
		}
		share := n / s.TotalFieldsLimit
		sev, ok := severityAt(share, th.ESFieldsWarning, th.ESFieldsCritical)
		if !ok {
			continue
		}
		out = append(out, Finding{Severity: sev, Object: s.Index,
			Summary:  fmt.Sprintf("%g mapped fields of its limit of %g (%s)", n, s.TotalFieldsLimit, pct(share)),
			Evidence: []Evidence{{"mapped fields", fmt.Sprintf("%g", n)}, {"index.mapping.total_fields.limit", fmt.Sprintf("%g", s.TotalFieldsLimit)}},
			Fix: Fix{Kind: "setting", Text: `raise index.mapping.total_fields.limit in the visibility index template (PUT /_index_template/...), or remove unused custom search attributes (temporal operator search-attribute remove)`,
				Why: "at the limit, a document that adds a field is rejected: workflows with a new search attribute stop being visible"}})
	}
	return out
}

func esUnassigned(t *facts.Target, _ *ESThresholds) []Finding {
	var out []Finding
	for _, u := range t.UnassignedShards {
		sev, kind, why := Warning, "replica", "the index has fewer copies than configured: one more node loss can lose data"
		if u.Primary {
			sev, kind, why = Critical, "primary", "the index is red: writes to those shards fail and their documents are not searchable"
		}
		out = append(out, Finding{Severity: sev, Object: u.Index,
			Summary:  fmt.Sprintf("%g %s shard(s) unassigned: %s", u.Shards, kind, orUnknown(u.Reason)),
			Evidence: []Evidence{{"shards", fmt.Sprintf("%g", u.Shards)}, {"kind", kind}, {"reason", u.Reason}},
			Fix: Fix{Kind: "action", Text: fmt.Sprintf(`GET /_cluster/allocation/explain {"index": %q, "shard": 0, "primary": %t}`, u.Index, u.Primary),
				Why: why}})
	}
	return out
}

func esHeap(t *facts.Target, th *ESThresholds) []Finding {
	var out []Finding
	for _, h := range t.NodeHeaps {
		if h.Max <= 0 {
			continue
		}
		share := h.Used / h.Max
		sev, ok := severityAt(share, th.ESHeapWarning, th.ESHeapCritical)
		if !ok {
			continue
		}
		out = append(out, Finding{Severity: sev, Object: "node " + h.Node,
			Summary:  fmt.Sprintf("heap %s used (%s of %s)", pct(share), humanBytes(h.Used), humanBytes(h.Max)),
			Evidence: []Evidence{{"heap used", humanBytes(h.Used)}, {"heap max", humanBytes(h.Max)}},
			Fix: Fix{Kind: "setting", Text: "give the node more heap (-Xms/-Xmx, half the RAM, below 31 GB), or cut fielddata and large aggregations",
				Why: "a heap that stays full means long garbage collections and circuit breakers refusing requests"}})
	}
	for _, b := range t.Breakers {
		share := 0.0
		if b.Limit > 0 {
			share = b.Estimated / b.Limit
		}
		if b.Tripped == 0 && share < th.ESBreakerWarning {
			continue
		}
		out = append(out, Finding{Severity: Warning, Object: "node " + b.Node + " breaker " + b.Name,
			Summary:  fmt.Sprintf("%s breaker at %s of its limit, tripped %g times since the node started", b.Name, pct(share), b.Tripped),
			Evidence: []Evidence{{"estimated", humanBytes(b.Estimated)}, {"limit", humanBytes(b.Limit)}, {"tripped", fmt.Sprintf("%g", b.Tripped)}},
			Fix: Fix{Kind: "action", Text: "find the requests that load fielddata or build large aggregations (GET /_nodes/stats/breaker, slow logs); the seed's limits are fielddata 40 %, request 30 % of the heap",
				Why: "a tripped breaker fails the request that tripped it: visibility queries of the Temporal UI fail"}})
	}
	return out
}

func esShardsPerNode(t *facts.Target, th *ESThresholds) []Finding {
	cs, ok := t.ClusterSettings, t.ClusterSettings != nil
	if !ok || cs.MaxShardsPerNode <= 0 {
		return nil
	}
	var out []Finding
	for _, ns := range t.NodeShards {
		node, n := ns.Node, ns.Shards
		if n < th.ESShardsWarning*cs.MaxShardsPerNode {
			continue
		}
		out = append(out, Finding{Severity: Warning, Object: "node " + node,
			Summary:  fmt.Sprintf("%g shards of cluster.max_shards_per_node %g", n, cs.MaxShardsPerNode),
			Evidence: []Evidence{{"shards", fmt.Sprintf("%g", n)}, {"cluster.max_shards_per_node", fmt.Sprintf("%g", cs.MaxShardsPerNode)}},
			Fix: Fix{Kind: "action", Text: "fewer, larger shards: one primary per visibility index in the template, shrink in the warm phase, delete indices past retention",
				Why: "at the limit the cluster refuses to create shards: a rollover fails and the write index keeps growing"}})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Object < out[j].Object })
	return out
}

func esSnapshotAge(t *facts.Target, th *ESThresholds) []Finding {
	var out []Finding
	for _, a := range t.SnapshotAges {
		if a.Known && a.Age < th.ESSnapshotMaxAge.Seconds() {
			continue
		}
		summary := fmt.Sprintf("%s %s: no successful snapshot", a.Kind, a.Name)
		age := "never"
		if a.Known {
			age = humanDuration(a.Age)
			summary = fmt.Sprintf("%s %s: last successful snapshot %s ago", a.Kind, a.Name, age)
		}
		fix := "GET /_snapshot/" + a.Name + "/_all?size=5&order=desc (the last failures' reasons), then check the repository: POST /_snapshot/" + a.Name + "/_verify"
		if a.Kind == "SLM policy" {
			fix = "GET /_slm/policy/" + a.Name + " (last_failure), GET /_slm/status (RUNNING?), then POST /_slm/policy/" + a.Name + "/_execute"
		}
		out = append(out, Finding{Severity: Warning, Object: a.Kind + " " + a.Name, Summary: summary,
			Evidence: []Evidence{{"last success", age}, {"allowed", humanDuration(th.ESSnapshotMaxAge.Seconds())}},
			Fix:      Fix{Kind: "action", Text: fix, Why: "visibility can be rebuilt from PostgreSQL only slowly; the snapshot is the quick restore"}})
	}
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
