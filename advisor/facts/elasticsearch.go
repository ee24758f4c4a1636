package facts

// The facts of an Elasticsearch target, from the default pack's queries (queries/packs/
// elasticsearch.yaml). Ratios are 0-1, sizes bytes, ages seconds.

// ILMIndex is an index managed by ILM (elasticsearch_ilm_index).
type ILMIndex struct {
	Index, Policy, Phase, Action, Step string
	// Age is since the index's lifecycle date (its rollover or creation); StepAge since it
	// entered its step (HasStepAge false when ILM does not say).
	Age, StepAge float64
	HasStepAge   bool
}

// ILMIndices returns elasticsearch_ilm_index.
func (t *Target) ILMIndices() []ILMIndex {
	return each(t.Rows("elasticsearch_ilm_index"), func(r *Rows, i int) ILMIndex {
		x := ILMIndex{Index: r.Str(i, "index"), Policy: r.Str(i, "policy"), Phase: r.Str(i, "phase"),
			Action: r.Str(i, "action"), Step: r.Str(i, "step"), Age: r.Float(i, "age_seconds")}
		x.StepAge, x.HasStepAge = r.Num(i, "step_age_seconds")
		return x
	})
}

// ILMError is an index whose ILM step is ERROR (elasticsearch_ilm_index_step).
type ILMError struct {
	Index, Policy, Phase, Action, FailedStep, Type, Reason string
	Retries                                                float64
}

// ILMErrors returns elasticsearch_ilm_index_step.
func (t *Target) ILMErrors() []ILMError {
	return each(t.Rows("elasticsearch_ilm_index_step"), func(r *Rows, i int) ILMError {
		return ILMError{Index: r.Str(i, "index"), Policy: r.Str(i, "policy"), Phase: r.Str(i, "phase"),
			Action: r.Str(i, "action"), FailedStep: r.Str(i, "failed_step"), Type: r.Str(i, "error_type"),
			Reason: r.Str(i, "reason"), Retries: r.Float(i, "retries")}
	})
}

// PrimaryBytes returns each index's primary store size (elasticsearch_index_stats).
func (t *Target) PrimaryBytes() map[string]float64 {
	out := map[string]float64{}
	for _, x := range each(t.Rows("elasticsearch_index_stats"), func(r *Rows, i int) [2]any {
		return [2]any{r.Str(i, "index"), r.Float(i, "primaries.store.size_in_bytes")}
	}) {
		out[x[0].(string)] = x[1].(float64)
	}
	return out
}

// IndexSettings are an index's settings that checks read (elasticsearch_indices_settings).
type IndexSettings struct {
	Index               string
	TotalFieldsLimit    float64
	ReadOnlyAllowDelete bool
}

// IndexSettings returns elasticsearch_indices_settings.
func (t *Target) IndexSettings() []IndexSettings {
	return each(t.Rows("elasticsearch_indices_settings"), func(r *Rows, i int) IndexSettings {
		return IndexSettings{Index: r.Str(i, "index"), TotalFieldsLimit: r.Float(i, "total_fields"),
			ReadOnlyAllowDelete: r.Bool(i, "read_only_allow_delete")}
	})
}

// MappingFields returns the number of mapped fields of each index
// (elasticsearch_indices_mappings_stats).
func (t *Target) MappingFields() map[string]float64 {
	out := map[string]float64{}
	for _, x := range each(t.Rows("elasticsearch_indices_mappings_stats"), func(r *Rows, i int) [2]any {
		return [2]any{r.Str(i, "index"), r.Float(i, "fields")}
	}) {
		out[x[0].(string)] = x[1].(float64)
	}
	return out
}

// NodeDisk is a node's disk as the allocation deciders see it (elasticsearch_cat_allocation).
type NodeDisk struct {
	Node, Host                string
	Shards                    float64
	Used, Avail, Total, Ratio float64
}

// NodeDisks returns elasticsearch_cat_allocation, without the UNASSIGNED row.
func (t *Target) NodeDisks() []NodeDisk {
	var out []NodeDisk
	for _, d := range each(t.Rows("elasticsearch_cat_allocation"), func(r *Rows, i int) NodeDisk {
		return NodeDisk{Node: r.Str(i, "node"), Host: r.Str(i, "host"), Shards: r.Float(i, "shards"),
			Used: r.Float(i, "disk.used"), Avail: r.Float(i, "disk.avail"), Total: r.Float(i, "disk.total"),
			Ratio: r.Float(i, "disk_used_ratio")}
	}) {
		if d.Node != "UNASSIGNED" {
			out = append(out, d)
		}
	}
	return out
}

// Watermark is one disk watermark: a used share (percent form) or free bytes (byte form).
type Watermark struct {
	Ratio, FreeBytes       float64
	HasRatio, HasFreeBytes bool
}

// ClusterSettings are the settings in force that checks compare with
// (elasticsearch_clustersettings).
type ClusterSettings struct {
	Low, High, Flood                           Watermark
	ThresholdEnabled                           bool
	MaxShardsPerNode                           float64
	FielddataBreakerLimit, RequestBreakerLimit float64
}

// ClusterSettings returns elasticsearch_clustersettings; ok is false without a result.
func (t *Target) ClusterSettings() (ClusterSettings, bool) {
	r := t.Rows("elasticsearch_clustersettings")
	if r == nil || r.Len() == 0 {
		return ClusterSettings{}, false
	}
	wm := func(name string) Watermark {
		var w Watermark
		w.Ratio, w.HasRatio = r.Num(0, "watermark_"+name+"_ratio")
		w.FreeBytes, w.HasFreeBytes = r.Num(0, "watermark_"+name+"_bytes")
		return w
	}
	return ClusterSettings{Low: wm("low"), High: wm("high"), Flood: wm("flood_stage"),
		ThresholdEnabled:      !r.Has("threshold_enabled") || r.Bool(0, "threshold_enabled"),
		MaxShardsPerNode:      r.Float(0, "max_shards_per_node"),
		FielddataBreakerLimit: r.Float(0, "breaker_fielddata_limit"), RequestBreakerLimit: r.Float(0, "breaker_request_limit")}, true
}

// Unassigned counts unassigned shards of an index (elasticsearch_unassigned_shards).
type Unassigned struct {
	Index, Reason string
	Primary       bool
	Shards        float64
}

// UnassignedShards returns elasticsearch_unassigned_shards.
func (t *Target) UnassignedShards() []Unassigned {
	return each(t.Rows("elasticsearch_unassigned_shards"), func(r *Rows, i int) Unassigned {
		return Unassigned{Index: r.Str(i, "index"), Reason: r.Str(i, "reason"), Primary: r.Str(i, "prirep") == "p",
			Shards: r.Float(i, "shards")}
	})
}

// NodeHeap is a node's JVM heap (elasticsearch_jvm_memory_heap).
type NodeHeap struct {
	Node      string
	Used, Max float64
}

// NodeHeaps returns elasticsearch_jvm_memory_heap.
func (t *Target) NodeHeaps() []NodeHeap {
	return each(t.Rows("elasticsearch_jvm_memory_heap"), func(r *Rows, i int) NodeHeap {
		return NodeHeap{Node: r.Str(i, "name"), Used: r.Float(i, "jvm.mem.heap_used_in_bytes"), Max: r.Float(i, "jvm.mem.heap_max_in_bytes")}
	})
}

// Breaker is one circuit breaker of a node (elasticsearch_breakers).
type Breaker struct {
	Node, Name                string
	Limit, Estimated, Tripped float64
}

// Breakers returns elasticsearch_breakers.
func (t *Target) Breakers() []Breaker {
	return each(t.Rows("elasticsearch_breakers"), func(r *Rows, i int) Breaker {
		return Breaker{Node: r.Str(i, "name"), Name: r.Str(i, "breaker"), Limit: r.Float(i, "limit_size_in_bytes"),
			Estimated: r.Float(i, "estimated_size_in_bytes"), Tripped: r.Float(i, "tripped")}
	})
}

// SnapshotAge is the age of the last successful snapshot of an SLM policy or a repository.
type SnapshotAge struct {
	Name, Kind string // Kind: "SLM policy" or "repository"
	Age        float64
	Known      bool // false: no successful snapshot at all
}

// SnapshotAges returns elasticsearch_slm_policy and elasticsearch_snapshot_last_success.
func (t *Target) SnapshotAges() []SnapshotAge {
	out := each(t.Rows("elasticsearch_slm_policy"), func(r *Rows, i int) SnapshotAge {
		a := SnapshotAge{Name: r.Str(i, "policy"), Kind: "SLM policy"}
		a.Age, a.Known = r.Num(i, "last_success_age_seconds")
		return a
	})
	return append(out, each(t.Rows("elasticsearch_snapshot_last_success"), func(r *Rows, i int) SnapshotAge {
		a := SnapshotAge{Name: r.Str(i, "repository"), Kind: "repository"}
		a.Age, a.Known = r.Num(i, "age_seconds")
		return a
	})...)
}
