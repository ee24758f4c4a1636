package redis

import (
	"context"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/internal/share"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// keyspace is a test load: per prefix, how many keys and with which TTLs.
type keyspace []struct {
	prefix string
	n      int
	ttl    func(i int) time.Duration // 0: no TTL
}

// seedKeyspace has the seed's three caches, some keys off policy, and keys of no namespace.
func seedKeyspace(scale int) keyspace {
	return keyspace{
		// 10 % of the sessions without a TTL
		{"session:", 50 * scale, func(i int) time.Duration {
			if i%10 == 0 {
				return 0
			}
			return time.Hour
		}},
		// 20 % of the workflow metadata kept 2 h instead of 10 min
		{"wf_meta:", 30 * scale, func(i int) time.Duration {
			if i%5 == 0 {
				return 2 * time.Hour
			}
			return 10 * time.Minute
		}},
		{"tq_info:", 15 * scale, func(int) time.Duration { return 5 * time.Minute }},
		{"other:", 5 * scale, func(int) time.Duration { return 0 }},
	}
}

// load writes the keyspace with pipelined SETs (DEBUG POPULATE cannot set TTLs or prefixes).
func (ks keyspace) load(ctx context.Context, c *goredis.Client) error {
	const batch = 10000
	pipe := c.Pipeline()
	n := 0
	for _, p := range ks {
		for i := range p.n {
			pipe.Set(ctx, p.prefix+strconv.Itoa(i), "v", p.ttl(i))
			if n++; n%batch == 0 {
				if _, err := pipe.Exec(ctx); err != nil {
					return err
				}
			}
		}
	}
	_, err := pipe.Exec(ctx)
	return err
}

func auditSpec(t testing.TB, budget time.Duration) *RedisAudit {
	t.Helper()
	for _, q := range defaultQueries(t) {
		if redisOf(q.Body) != nil && redisOf(q.Body).Reply == ReplyAudit {
			a := *redisOf(q.Body).Audit
			if budget > 0 {
				a.Budget = budget
			}
			return &a
		}
	}
	t.Fatal("the default pack has no audit")
	return nil
}

// commandCalls returns the calls per command since the last CONFIG RESETSTAT.
func commandCalls(ctx context.Context, c *goredis.Client) (map[string]int64, map[string]int64, error) {
	text, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, nil, err
	}
	calls, usec := map[string]int64{}, map[string]int64{}
	for _, f := range ParseInfo(text) {
		name, ok := strings.CutPrefix(f.Name, "cmdstat_")
		if !ok {
			continue
		}
		for _, kv := range ParseCompound(f.Value) {
			n, _ := strconv.ParseInt(kv.Value, 10, 64)
			switch kv.Key {
			case "calls":
				calls[name] = n
			case "usec":
				usec[name] = n
			}
		}
	}
	return calls, usec, nil
}

func TestAuditEstimates(t *testing.T) {
	set := testenv.StartRedisT(t, testenv.RedisOptions{NoReplica: true})
	c := set.Primary.Client()
	defer c.Close()
	cx := ctx(t)
	ks := seedKeyspace(2000) // 200,000 keys
	if err := ks.load(cx, c); err != nil {
		t.Fatal(err)
	}
	if err := c.ConfigResetStat(cx).Err(); err != nil {
		t.Fatal(err)
	}
	s := newSource(t, direct(set.Primary))
	// the default spec, with a budget large enough that sample_keys decides the sample size
	spec := auditSpec(t, 10*time.Second)
	run, err := s.audit(cx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if run.complete || run.scanned < spec.SampleKeys || run.scanned > spec.SampleKeys+2*spec.ScanCount || run.stopped != "sample_keys" {
		t.Errorf("scanned %d keys, complete %v, stopped at %s; want about %d, a sample", run.scanned, run.complete, run.stopped, spec.SampleKeys)
	}
	for _, p := range ks[:3] {
		est, ok := estimateOf(run, p.prefix)
		if !ok || math.Abs(est-float64(p.n))/float64(p.n) > 0.10 {
			t.Errorf("%s: estimated %.0f keys, true %d: more than 10 %% off", p.prefix, est, p.n)
		} else {
			t.Logf("%s: estimated %.0f keys, true %d (%.1f %% off)", p.prefix, est, p.n, 100*(est-float64(p.n))/float64(p.n))
		}
	}
	rows := run.namespaceRows()
	get := func(prefix, col string) any {
		for _, r := range rows.Values {
			if r[0] == prefix {
				return r[slices.Index(rows.Columns, col)]
			}
		}
		return nil
	}
	// TTL shares from at most ttl_sample keys per prefix: binomial, 1000 keys → σ ≤ 0.016
	for _, tc := range []struct {
		prefix, col string
		want        float64
	}{
		{"session:", "no_ttl_ratio", 0.10}, {"session:", "over_policy_ratio", 0},
		{"wf_meta:", "no_ttl_ratio", 0}, {"wf_meta:", "over_policy_ratio", 0.20},
		{"tq_info:", "no_ttl_ratio", 0}, {"tq_info:", "over_policy_ratio", 0},
	} {
		got, ok := get(tc.prefix, tc.col).(float64)
		if !ok || math.Abs(got-tc.want) > 0.06 {
			t.Errorf("%s %s = %v, want %.2f ± 0.06", tc.prefix, tc.col, get(tc.prefix, tc.col), tc.want)
		}
	}
	if n := get("session:", "ttl_sampled_keys"); n != int64(spec.TTLSample) {
		t.Errorf("session: read %v TTLs, want %d", n, spec.TTLSample)
	}
	// the histogram: every tq_info key with a TTL is within 300 s; sessions within 3600 s
	hist := run.ttlRows()
	for _, r := range hist.Values {
		prefix, le, n := r[0].(string), r[1].(string), r[3].(int64)
		var withTTL int64
		for _, r2 := range hist.Values {
			if r2[0] == prefix && r2[1] == "+Inf" {
				withTTL = r2[3].(int64)
			}
		}
		if (prefix == "tq_info:" && le == "300") || (prefix == "session:" && le == "3600") {
			if n != withTTL || n == 0 {
				t.Errorf("%s le %s: %d keys, want all %d with a TTL", prefix, le, n, withTTL)
			}
		}
		if prefix == "tq_info:" && le == "60" && n != 0 {
			t.Errorf("tq_info: %d keys with a TTL of at most 60 s", n)
		}
	}

	// only SCAN, PTTL and DBSIZE reached the server: never KEYS, nothing blocking
	calls, _, err := commandCalls(cx, c)
	if err != nil {
		t.Fatal(err)
	}
	for cmd := range calls {
		if !slices.Contains([]string{"scan", "pttl", "dbsize", "hello", "client|setname", "info", "config|resetstat"}, cmd) {
			t.Errorf("the audit sent %s", cmd)
		}
	}
	if calls["scan"] == 0 || calls["pttl"] == 0 || calls["keys"] != 0 {
		t.Errorf("commands %v", calls)
	}

	// the next run resumes where this one stopped: another part of the table
	run2, err := s.audit(cx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if run2.scanned < spec.SampleKeys {
		t.Errorf("second run scanned %d", run2.scanned)
	}
	s.mu.Lock()
	cursor := s.cursors[auditKey(spec)]
	s.mu.Unlock()
	if cursor == 0 {
		t.Error("the cursor went back to 0 after two partial runs")
	}

	// no budget at all: no SCAN, and no estimate rather than a wrong one
	run3, err := s.audit(cx, auditSpec(t, time.Nanosecond))
	if err != nil {
		t.Fatal(err)
	}
	if run3.scanned != 0 || run3.stopped != "budget" {
		t.Errorf("a spent budget: scanned %d, stopped %q", run3.scanned, run3.stopped)
	}
	if _, ok := estimateOf(run3, "session:"); ok {
		t.Error("an estimate without a sample")
	}
}

// BenchmarkAudit1M runs the default audit (50 ms budget) on 1,000,000 keys of the seed's
// namespaces and reports the server's time per run (INFO commandstats), the keys sampled and
// the estimate error.
//
//	go test -run '^$' -bench Audit1M -benchtime 50x ./collector/redis/
func BenchmarkAudit1M(b *testing.B) {
	set := testenv.StartRedisT(b, testenv.RedisOptions{NoReplica: true})
	c := set.Primary.Client()
	defer c.Close()
	cx := ctx(b)
	ks := seedKeyspace(10000) // 1,000,000 keys
	loadStart := time.Now()
	if err := ks.load(cx, c); err != nil {
		b.Fatal(err)
	}
	if n, err := c.DBSize(cx).Result(); err != nil || n != 1_000_000 {
		b.Fatalf("DBSIZE %d %v", n, err)
	}
	b.Logf("loaded 1,000,000 keys in %s", time.Since(loadStart).Round(time.Millisecond))
	s := newSource(b, direct(set.Primary))
	if err := c.Ping(cx).Err(); err != nil {
		b.Fatal(err)
	}
	spec := auditSpec(b, 0)
	if _, err := s.audit(cx, spec); err != nil { // warm the pool
		b.Fatal(err)
	}
	if err := c.ConfigResetStat(cx).Err(); err != nil {
		b.Fatal(err)
	}
	var scanned, budgetStops int
	var spent time.Duration
	var errSum, errMax float64
	b.ResetTimer()
	for range b.N {
		run, err := s.audit(cx, spec)
		if err != nil {
			b.Fatal(err)
		}
		scanned += run.scanned
		spent += run.spent
		if run.stopped == "budget" {
			budgetStops++
		}
		for _, p := range ks[:3] {
			est, _ := estimateOf(run, p.prefix)
			e := math.Abs(est-float64(p.n)) / float64(p.n)
			errSum += e
			errMax = max(errMax, e)
		}
	}
	b.StopTimer()
	_, usec, err := commandCalls(cx, c)
	if err != nil {
		b.Fatal(err)
	}
	server := usec["scan"] + usec["pttl"] + usec["dbsize"]
	n := float64(b.N)
	b.ReportMetric(float64(server)/1000/n, "server-ms/run")
	b.ReportMetric(spent.Seconds()*1000/n, "roundtrip-ms/run")
	b.ReportMetric(float64(scanned)/n, "keys/run")
	b.ReportMetric(100*errSum/(3*n), "mean-err-%")
	b.ReportMetric(100*errMax, "max-err-%")
	b.ReportMetric(float64(budgetStops)/n, "budget-stops/run")
	b.Logf("%d runs: server %.2f ms/run (scan %d µs, pttl %d µs, dbsize %d µs in all)", b.N, float64(server)/1000/n, usec["scan"], usec["pttl"], usec["dbsize"])
}

// estimateOf is the run's estimate of the keys with the prefix.
func estimateOf(run *auditRun, prefix string) (float64, bool) {
	for i := range run.ns {
		if run.ns[i].prefix == prefix {
			return run.estimate(&run.ns[i])
		}
	}
	return 0, false
}

// walkCounter counts the audit runs that walk the keyspace, and how many walk at once.
type walkCounter struct {
	mu              sync.Mutex
	walks, in, most int
	block           map[int]chan struct{} // walk number -> released when closed
	started         chan int
}

func countWalks(t *testing.T, block ...int) *walkCounter {
	w := &walkCounter{block: map[int]chan struct{}{}, started: make(chan int, 16)}
	for _, n := range block {
		w.block[n] = make(chan struct{})
	}
	auditWalkHook = func(start bool) {
		w.mu.Lock()
		if !start {
			w.in--
			w.mu.Unlock()
			return
		}
		w.walks++
		w.in++
		w.most = max(w.most, w.in)
		n, release := w.walks, w.block[w.walks]
		w.mu.Unlock()
		w.started <- n
		if release != nil {
			<-release
		}
	}
	t.Cleanup(func() { auditWalkHook = nil })
	return w
}

func (w *walkCounter) release(n int) { close(w.block[n]) }

func (w *walkCounter) counts() (walks, most int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.walks, w.most
}

// auditQuery is the default pack's query with the given audit reply.
func auditQuery(t testing.TB, reply RedisReply) *queries.Query {
	t.Helper()
	for _, q := range defaultQueries(t) {
		if redisOf(q.Body) != nil && redisOf(q.Body).Reply == reply {
			return q
		}
	}
	t.Fatalf("the default pack has no %s query", reply)
	return nil
}

// The queries of one audit share one run per gather, keyed by the spec alone: a gather that
// starts while another one's run is under way joins it instead of walking the keyspace beside
// it. The source keeps no run past its gather: the engine decides what is fresh.
func TestAuditSharedAcrossGathers(t *testing.T) {
	set := env.Redis(t)
	s := newSource(t, direct(set.Primary))
	nsQ, runQ := auditQuery(t, ReplyAudit), auditQuery(t, ReplyAuditRun)
	w := countWalks(t, 1, 3)
	run := func(q *queries.Query, ctx context.Context) chan error {
		done := make(chan error, 1)
		go func() {
			_, err := s.Run(ctx, q, q.Body)
			done <- err
		}()
		return done
	}
	// gather opens a gather as the engine does, probed
	gather := func(parent context.Context) (context.Context, *share.Gather) {
		g := share.NewGather()
		gctx := share.WithGather(parent, g)
		if _, err := s.Probe(gctx); err != nil {
			t.Fatal(err)
		}
		return gctx, g
	}
	// gather A's run is under way when gather B starts and asks for the same audit
	actx, ga := gather(ctx(t))
	a := run(nsQ, actx)
	if n := <-w.started; n != 1 {
		t.Fatalf("walk %d started, want 1", n)
	}
	joined := make(chan struct{}, 1)
	s.audits.SetOnJoin(func(string) { joined <- struct{}{} })
	bctx, gb := gather(ctx(t))
	b := run(runQ, bctx)
	<-joined // B waits on A's run: release it only then (a loaded machine delayed B past it)
	s.audits.SetOnJoin(nil)
	w.release(1)
	for _, done := range []chan error{a, b} {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if walks, _ := w.counts(); walks != 1 {
		t.Errorf("two overlapping gathers walked the keyspace %d times, want once", walks)
	}
	ga.End()
	gb.End()

	// the next gather runs the audit again, however young the last run is
	cctx, gc := gather(ctx(t))
	if err := <-run(runQ, cctx); err != nil {
		t.Fatal(err)
	}
	if walks, _ := w.counts(); walks != 2 {
		t.Fatalf("after the gather ended: %d walks, want 2", walks)
	}
	<-w.started
	gc.End()

	// a gather ends before its run does (its scrape gave up): the next gather's run of
	// another spec waits for the walk to end instead of walking beside it
	dctx, gd := gather(context.Background())
	c := run(runQ, dctx)
	if n := <-w.started; n != 3 {
		t.Fatalf("walk %d started, want 3", n)
	}
	gd.End()
	other := *runQ
	body, audit := *redisOf(runQ.Body), *redisOf(runQ.Body).Audit
	audit.SampleKeys++
	body.Audit, other.Body = &audit, &body
	ectx, _ := gather(ctx(t))
	short, cancel := context.WithTimeout(ectx, 200*time.Millisecond)
	defer cancel()
	if err := <-run(&other, short); err == nil {
		t.Fatal("the run of the next gather should still be waiting")
	}
	w.release(3)
	if err := <-c; err != nil {
		t.Fatal(err)
	}
	// the waiting run goes on after the walk before it, detached from its query that gave up
	if err := <-run(&other, ectx); err != nil {
		t.Fatal(err)
	}
	if walks, most := w.counts(); walks != 4 || most != 1 {
		t.Errorf("%d walks, at most %d at once; want 4, one at a time", walks, most)
	}
}

// The engine decides whether an audit result is fresh: with --query.ttl-cap=0 every scrape
// runs the audit (result age 0), the source serves no earlier run.
func TestAuditFollowsTTLCap(t *testing.T) {
	set := env.Redis(t)
	w := countWalks(t)
	var qs []*queries.Query
	for _, q := range defaultQueries(t) {
		if redisOf(q.Body) != nil && redisOf(q.Body).Reply.IsAudit() {
			qs = append(qs, q)
		}
	}
	e := collector.NewEngine([]*collector.Target{target(t, "primary", direct(set.Primary), qs)}, slog.New(slog.DiscardHandler))
	zero := time.Duration(0)
	e.TTLCap = &zero
	for i := 1; i <= 2; i++ {
		metrics := scrape(t, e)
		if walks, _ := w.counts(); walks != i {
			t.Errorf("scrape %d: %d audit runs, want %d", i, walks, i)
		}
		if age, ok := sample(metrics, "persistence_exporter_query_result_age_seconds", `query="redis_cache_namespace"`); !ok || age != 0 {
			t.Errorf("scrape %d: result age %v (present %v), want 0", i, age, ok)
		}
	}
}
