package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/persistence-exporter/persistence_exporter/internal/share"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// The cache-namespace audit estimates, per key prefix, how many keys there are and how their
// TTLs compare to the namespace's policy, without KEYS and without reading the whole keyspace:
//
//   - DBSIZE gives the number of keys of the database;
//   - SCAN with a COUNT hint walks a part of the hash table. Its cursor visits buckets in
//     reverse-binary order, so the keys of any stretch of calls are spread over the whole
//     table: a fair sample, whatever order the keys were written in. A run resumes where the
//     previous one stopped, so runs take turns over the table;
//   - the share of sampled keys with a prefix, times DBSIZE, estimates the prefix's keys (a
//     run that covers the whole keyspace counts them exactly);
//   - PTTL, pipelined, on up to ttl_sample keys per namespace gives the TTL shares and the
//     histogram.
//
// A run stops at sample_keys keys, at the end of the keyspace, or before its next call would
// take the time it has spent past the budget. The time counted is the round trip of each
// call, which is more than the server spends on it: the budget bounds the server's time.

type auditRun struct {
	dbKeys   int64
	scanned  int
	complete bool // started at cursor 0 and reached the end: the counts are exact
	stopped  string
	spent    time.Duration
	calls    int
	ns       []nsStat
	buckets  []time.Duration
}

type nsStat struct {
	prefix     string
	policy     time.Duration
	matched    int // keys of the sample with the prefix
	ttlQueued  int
	ttlRead    int // keys whose TTL was read
	noTTL      int
	overPolicy int
	le         []int // per bucket: keys whose TTL is at most the bucket
	withTTL    int
}

// auditKey identifies an audit spec: the queries that show one audit (namespaces, TTL
// histogram, run) share its runs.
func auditKey(a *RedisAudit) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d/%d/%d/%s/%v", a.SampleKeys, a.TTLSample, a.ScanCount, a.Budget, a.Buckets)
	for _, n := range a.Namespaces {
		fmt.Fprintf(&b, "\x00%s\x00%s", n.Prefix, n.TTL)
	}
	return b.String()
}

// runAudit serves an audit reply from the run of its spec in this gather, running the audit
// if no query of the gather has yet, or joining the run under way for another gather. The
// run is detached from the asking query's cancellation, bounded by the query's timeout (the
// target's when the query sets none).
func (s *Source) runAudit(ctx context.Context, q *queries.Query, r *Redis) (*queries.Rows, error) {
	timeout := q.Timeout
	if timeout <= 0 {
		timeout = s.opts.Timeout
	}
	key := auditKey(r.Audit)
	run, err := share.InGather(ctx, "\x00audit\x00"+key, timeout, func(ctx context.Context) (*auditRun, error) {
		return s.audits.Do(ctx, key, timeout, func(ctx context.Context) (*auditRun, error) {
			return s.audit(ctx, r.Audit)
		})
	})
	if err != nil {
		return nil, err
	}
	switch r.Reply {
	case ReplyAudit:
		return run.namespaceRows(), nil
	case ReplyAuditTTL:
		return run.ttlRows(), nil
	}
	return run.runRows(), nil
}

// auditWalkHook, when set (by tests), is called with true when a run starts walking the
// keyspace and with false when it is done.
var auditWalkHook func(start bool)

// audit runs the cache-namespace audit once, resuming the SCAN cursor of the previous run of
// the same spec. Runs take turns: one waits for the walk of another to end.
func (s *Source) audit(ctx context.Context, spec *RedisAudit) (*auditRun, error) {
	select {
	case s.walk <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("audit: waiting for the previous run to end: %w", ctx.Err())
	}
	defer func() { <-s.walk }()
	if auditWalkHook != nil {
		auditWalkHook(true)
		defer auditWalkHook(false)
	}
	key := auditKey(spec)
	run := &auditRun{buckets: spec.Buckets}
	for _, n := range spec.Namespaces {
		run.ns = append(run.ns, nsStat{prefix: n.Prefix, policy: n.TTL, le: make([]int, len(spec.Buckets))})
	}
	var maxScan, maxPipe time.Duration
	timed := func(longest *time.Duration, f func() error) error {
		t0 := time.Now()
		err := f()
		d := time.Since(t0)
		run.spent += d
		run.calls++
		*longest = max(*longest, d)
		return err
	}
	var dbsize time.Duration
	if err := timed(&dbsize, func() (err error) {
		run.dbKeys, err = s.client.DBSize(ctx).Result()
		return err
	}); err != nil {
		return nil, fmt.Errorf("audit: DBSIZE: %w", err)
	}
	s.mu.Lock()
	cursor := s.cursors[key]
	s.mu.Unlock()
	start := cursor
	seen := make(map[string]struct{}, min(spec.SampleKeys, 1<<16))
	type pending struct {
		key string
		ns  []int
	}
	for {
		if run.scanned >= spec.SampleKeys {
			run.stopped = "sample_keys"
			break
		}
		if run.spent+maxScan+maxPipe > spec.Budget {
			run.stopped = "budget"
			break
		}
		var keys []string
		next := cursor
		if err := timed(&maxScan, func() (err error) {
			keys, next, err = s.client.Scan(ctx, cursor, "", int64(spec.ScanCount)).Result()
			return err
		}); err != nil {
			return nil, fmt.Errorf("audit: SCAN: %w", err)
		}
		var batch []pending
		for _, k := range keys {
			if _, dup := seen[k]; dup {
				continue // SCAN may return a key twice while the table is resized
			}
			seen[k] = struct{}{}
			run.scanned++
			var in []int
			for i := range run.ns {
				st := &run.ns[i]
				if !strings.HasPrefix(k, st.prefix) {
					continue
				}
				st.matched++
				if st.ttlQueued < spec.TTLSample {
					st.ttlQueued++
					in = append(in, i)
				}
			}
			if len(in) > 0 {
				batch = append(batch, pending{k, in})
			}
		}
		if len(batch) > 0 {
			var cmds []*redis.DurationCmd
			if err := timed(&maxPipe, func() error {
				pipe := s.client.Pipeline()
				cmds = make([]*redis.DurationCmd, len(batch))
				for i, p := range batch {
					cmds[i] = pipe.PTTL(ctx, p.key)
				}
				_, err := pipe.Exec(ctx)
				return err
			}); err != nil && !errors.Is(err, redis.Nil) {
				return nil, fmt.Errorf("audit: PTTL: %w", err)
			}
			for i, p := range batch {
				ttl, err := cmds[i].Result()
				if err != nil || ttl == -2 {
					continue // expired or deleted since SCAN saw it
				}
				for _, n := range p.ns {
					run.ns[n].addTTL(ttl, spec.Buckets)
				}
			}
		}
		cursor = next
		if cursor == 0 {
			run.complete = start == 0
			run.stopped = "end of keyspace"
			break
		}
	}
	s.mu.Lock()
	s.cursors[key] = cursor
	s.mu.Unlock()
	return run, nil
}

// addTTL counts one key's TTL; go-redis gives PTTL's -1 (no TTL) as -1 ns.
func (st *nsStat) addTTL(ttl time.Duration, buckets []time.Duration) {
	st.ttlRead++
	if ttl < 0 {
		st.noTTL++
		return
	}
	st.withTTL++
	if st.policy > 0 && ttl > st.policy {
		st.overPolicy++
	}
	for i, b := range buckets {
		if ttl <= b {
			st.le[i]++
		}
	}
}

// estimate is the estimated number of keys of a namespace, or nil without a sample.
func (r *auditRun) estimate(st *nsStat) (float64, bool) {
	switch {
	case r.complete:
		return float64(st.matched), true
	case r.scanned == 0:
		return 0, false
	}
	return float64(st.matched) / float64(r.scanned) * float64(r.dbKeys), true
}

func ratio(n, of int) any {
	if of == 0 {
		return nil
	}
	return float64(n) / float64(of)
}

func (r *auditRun) namespaceRows() *queries.Rows {
	order := []string{"prefix", "ttl_policy_seconds", "keys", "sampled_keys", "ttl_sampled_keys", "no_ttl_ratio", "over_policy_ratio"}
	t := newTable(order...)
	for i := range r.ns {
		st := &r.ns[i]
		row := map[string]any{
			"prefix": st.prefix, "sampled_keys": int64(st.matched), "ttl_sampled_keys": int64(st.ttlRead),
			"no_ttl_ratio": ratio(st.noTTL, st.ttlRead), "ttl_policy_seconds": nil, "over_policy_ratio": nil, "keys": nil,
		}
		if st.policy > 0 {
			row["ttl_policy_seconds"] = st.policy.Seconds()
			row["over_policy_ratio"] = ratio(st.overPolicy, st.ttlRead)
		}
		if est, ok := r.estimate(st); ok {
			row["keys"] = est
		}
		t.add(row, order...)
	}
	return t.build()
}

func (r *auditRun) ttlRows() *queries.Rows {
	order := []string{"prefix", "ttl_le", "keys", "sampled_keys"}
	t := newTable(order...)
	for i := range r.ns {
		st := &r.ns[i]
		est, ok := r.estimate(st)
		for b := 0; b <= len(r.buckets); b++ {
			le, n := "+Inf", st.withTTL
			if b < len(r.buckets) {
				le, n = strconv.FormatFloat(r.buckets[b].Seconds(), 'g', -1, 64), st.le[b]
			}
			row := map[string]any{"prefix": st.prefix, "ttl_le": le, "sampled_keys": int64(n), "keys": nil}
			if ok && st.ttlRead > 0 {
				row["keys"] = float64(n) / float64(st.ttlRead) * est
			}
			t.add(row, order...)
		}
	}
	return t.build()
}

func (r *auditRun) runRows() *queries.Rows {
	coverage := any(nil)
	if r.complete {
		coverage = 1.0
	} else if r.dbKeys > 0 {
		coverage = min(float64(r.scanned)/float64(r.dbKeys), 1)
	}
	return &queries.Rows{
		Columns: []string{"db_keys", "scanned_keys", "coverage_ratio", "complete", "budget_exhausted", "spent_seconds", "calls"},
		Values: [][]any{{r.dbKeys, int64(r.scanned), coverage, b2i(r.complete), b2i(r.stopped == "budget"),
			r.spent.Seconds(), int64(r.calls)}},
	}
}
