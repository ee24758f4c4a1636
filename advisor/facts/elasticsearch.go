package facts

// The facts of an Elasticsearch target, from the default pack's queries (queries/packs/
// elasticsearch.yaml). Ratios are 0-1, sizes bytes, ages seconds.

// ElasticsearchFacts are an Elasticsearch target's facts.
type ElasticsearchFacts struct {
	ILMIndices []ILMIndex // elasticsearch_ilm_index
	ILMErrors  []ILMError // elasticsearch_ilm_index_step
	// PrimaryBytes is each index's primary store size (elasticsearch_index_stats).
	PrimaryBytes map[string]float64
	// PrimaryShards is each configured index's number of primary shards
	// (elasticsearch_index_settings_shards).
	PrimaryShards map[string]float64
	IndexSettings []IndexSettings // elasticsearch_indices_settings
	// MappingFields is the number of mapped fields of each index
	// (elasticsearch_indices_mappings_stats).
	MappingFields map[string]float64
	// NodeDisks are elasticsearch_cat_allocation, without the UNASSIGNED row.
	NodeDisks []NodeDisk
	// NodeShards are the started shards per node (elasticsearch_node_shards).
	NodeShards []NodeShards
	// ClusterSettings are elasticsearch_clustersettings, nil without a result.
	ClusterSettings  *ClusterSettings
	UnassignedShards []Unassigned // elasticsearch_unassigned_shards
	NodeHeaps        []NodeHeap   // elasticsearch_jvm_memory_heap
	Breakers         []Breaker    // elasticsearch_breakers
	// SnapshotAges are elasticsearch_slm_policy and elasticsearch_snapshot_last_success.
	SnapshotAges []SnapshotAge
}

// elasticsearch decodes the Elasticsearch facts.
func (d *decoder) elasticsearch() {
	t := d.t
	t.ILMIndices, t.ILMErrors = d.iLMIndices(), d.iLMErrors()
	t.PrimaryBytes = d.perIndex("elasticsearch_index_stats", "primaries.store.size_in_bytes")
	t.PrimaryShards = d.perIndex("elasticsearch_index_settings_shards", "pri")
	t.MappingFields = d.perIndex("elasticsearch_indices_mappings_stats", "fields")
	t.IndexSettings, t.NodeDisks, t.ClusterSettings = d.indexSettings(), d.nodeDisks(), d.clusterSettings()
	t.NodeShards = each(d.rows("elasticsearch_node_shards"), func(r *Rows, i int) NodeShards {
		return NodeShards{Node: r.Str(i, "node"), Shards: r.Float(i, "shards")}
	})
	t.UnassignedShards, t.NodeHeaps, t.Breakers = d.unassignedShards(), d.nodeHeaps(), d.breakers()
	t.SnapshotAges = d.snapshotAges()
}

// NodeShards is the number of started shards on a node.
type NodeShards struct {
	Node   string
	Shards float64
}

// perIndex reads a number per index from a query with an index column.
func (d *decoder) perIndex(query, col string) map[string]float64 {
	type kv struct {
		index string
		v     float64
	}
	m := byKey(each(d.rows(query), func(r *Rows, i int) kv { return kv{r.Str(i, "index"), r.Float(i, col)} }),
		func(x kv) (string, float64) { return x.index, x.v })
	if m == nil {
		m = map[string]float64{}
	}
	return m
}

// ILMIndex is an index managed by ILM (elasticsearch_ilm_index).
type ILMIndex struct {
	Index, Policy, Phase, Action, Step string
	// Age is since the index's lifecycle date (its rollover or creation); StepAge since it
	// entered its step (HasStepAge false when ILM does not say).
	Age, StepAge float64
	HasStepAge   bool
}

func (d *decoder) iLMIndices() []ILMIndex {
	return each(d.rows("elasticsearch_ilm_index"), func(r *Rows, i int) ILMIndex {
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

func (d *decoder) iLMErrors() []ILMError {
	return each(d.rows("elasticsearch_ilm_index_step"), func(r *Rows, i int) ILMError {
		return ILMError{Index: r.Str(i, "index"), Policy: r.Str(i, "policy"), Phase: r.Str(i, "phase"),
			Action: r.Str(i, "action"), FailedStep: r.Str(i, "failed_step"), Type: r.Str(i, "error_type"),
			Reason: r.Str(i, "reason"), Retries: r.Float(i, "retries")}
	})
}

// IndexSettings are an index's settings that checks read (elasticsearch_indices_settings).
type IndexSettings struct {
	Index               string
	TotalFieldsLimit    float64
	ReadOnlyAllowDelete bool
}

func (d *decoder) indexSettings() []IndexSettings {
	return each(d.rows("elasticsearch_indices_settings"), func(r *Rows, i int) IndexSettings {
		return IndexSettings{Index: r.Str(i, "index"), TotalFieldsLimit: r.Float(i, "total_fields"),
			ReadOnlyAllowDelete: r.Bool(i, "read_only_allow_delete")}
	})
}

// NodeDisk is a node's disk as the allocation deciders see it (elasticsearch_cat_allocation).
type NodeDisk struct {
	Node, Host                string
	Shards                    float64
	Used, Avail, Total, Ratio float64
}

func (d *decoder) nodeDisks() []NodeDisk {
	var out []NodeDisk
	for _, d := range each(d.rows("elasticsearch_cat_allocation"), func(r *Rows, i int) NodeDisk {
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

func (d *decoder) clusterSettings() *ClusterSettings {
	return first(d.rows("elasticsearch_clustersettings"), func(r *Rows) ClusterSettings {
		wm := func(name string) Watermark {
			var w Watermark
			w.Ratio, w.HasRatio = r.Num(0, "watermark_"+name+"_ratio")
			w.FreeBytes, w.HasFreeBytes = r.Num(0, "watermark_"+name+"_bytes")
			return w
		}
		return ClusterSettings{Low: wm("low"), High: wm("high"), Flood: wm("flood_stage"),
			ThresholdEnabled:      r.Bool(0, "threshold_enabled"),
			MaxShardsPerNode:      r.Float(0, "max_shards_per_node"),
			FielddataBreakerLimit: r.Float(0, "breaker_fielddata_limit"), RequestBreakerLimit: r.Float(0, "breaker_request_limit")}
	})
}

// Unassigned counts unassigned shards of an index (elasticsearch_unassigned_shards).
type Unassigned struct {
	Index, Reason string
	Primary       bool
	Shards        float64
}

func (d *decoder) unassignedShards() []Unassigned {
	return each(d.rows("elasticsearch_unassigned_shards"), func(r *Rows, i int) Unassigned {
		return Unassigned{Index: r.Str(i, "index"), Reason: r.Str(i, "reason"), Primary: r.Str(i, "prirep") == "p",
			Shards: r.Float(i, "shards")}
	})
}

// NodeHeap is a node's JVM heap (elasticsearch_jvm_memory_heap).
type NodeHeap struct {
	Node      string
	Used, Max float64
}

func (d *decoder) nodeHeaps() []NodeHeap {
	return each(d.rows("elasticsearch_jvm_memory_heap"), func(r *Rows, i int) NodeHeap {
		return NodeHeap{Node: r.Str(i, "name"), Used: r.Float(i, "jvm.mem.heap_used_in_bytes"), Max: r.Float(i, "jvm.mem.heap_max_in_bytes")}
	})
}

// Breaker is one circuit breaker of a node (elasticsearch_breakers).
type Breaker struct {
	Node, Name                string
	Limit, Estimated, Tripped float64
}

func (d *decoder) breakers() []Breaker {
	return each(d.rows("elasticsearch_breakers"), func(r *Rows, i int) Breaker {
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

func (d *decoder) snapshotAges() []SnapshotAge {
	out := each(d.rows("elasticsearch_slm_policy"), func(r *Rows, i int) SnapshotAge {
		a := SnapshotAge{Name: r.Str(i, "policy"), Kind: "SLM policy"}
		a.Age, a.Known = r.Num(i, "last_success_age_seconds")
		return a
	})
	return append(out, each(d.rows("elasticsearch_snapshot_last_success"), func(r *Rows, i int) SnapshotAge {
		a := SnapshotAge{Name: r.Str(i, "repository"), Kind: "repository"}
		a.Age, a.Known = r.Num(i, "age_seconds")
		return a
	})...)
}
