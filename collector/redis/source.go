// Package redis is the Redis source: it runs the commands of query packs on a Redis server, a
// sentinel, or the current primary of a sentinel-monitored master, through one small go-redis
// pool per target. It only sends read-only, non-blocking commands (the pack loader refuses
// others); the cache-namespace audit reads the keyspace with SCAN under a time budget.
package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/persistence-exporter/persistence_exporter/internal/share"
	"github.com/persistence-exporter/persistence_exporter/internal/version"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// ClientName is what the exporter's connections show in CLIENT LIST.
const ClientName = "persistence_exporter"

// Options configure a source.
type Options struct {
	// Addr is the server's host:port. With SentinelMaster it is unused: the primary is found
	// through SentinelAddrs.
	Addr     string
	Username string
	Password string
	// DB is the database the audit scans. A sentinel has none: a source given a sentinel's
	// address ignores it there.
	DB int
	// TLS enables TLS (rediss://) with this configuration.
	TLS *tls.Config

	// SentinelMaster is a master name: the source talks to its current primary, found through
	// the sentinels, and follows a failover.
	SentinelMaster   string
	SentinelAddrs    []string
	SentinelUsername string
	SentinelPassword string

	// PoolSize caps the connections to the server (default 2).
	PoolSize int
	// Timeout bounds dialing and each command (default 5s).
	Timeout time.Duration
	// ConfigCheckEvery is how often the probe checks whether CONFIG GET is allowed (default 5m).
	ConfigCheckEvery time.Duration
}

// Defaults.
const (
	DefaultPoolSize = 2
	DefaultTimeout  = 5 * time.Second
)

// FeatureConfig is the probe's feature for "CONFIG GET is allowed": queries that send CONFIG
// require it, so an ACL that forbids CONFIG skips them (the engine logs that once).
const FeatureConfig = "feature:config"

// FeatureCluster is the probe's feature for "the server runs in cluster mode" (INFO's
// cluster_enabled:1): queries that send CLUSTER commands require it, so a standalone server or
// a sentinel is never asked.
const FeatureCluster = "feature:cluster"

// Source runs queries on one Redis target.
type Source struct {
	client *redis.Client
	opts   Options

	// The command replies (INFO sections, SENTINEL MASTERS, CONFIG GET) and the audit runs
	// that several queries read are shared in the gather (share.InGather), not kept here:
	// the probe adds its own INFO reply to its gather. audits are the audit runs under way,
	// by spec alone: a gather that starts while another one's run is under way joins that
	// run rather than walking the keyspace a second time; a finished run is not kept
	// (whether a result is fresh enough is the engine's business, the query's TTL).
	audits share.Flight[*auditRun]
	// walk is held by the run that walks the keyspace: a run started after its gather ended
	// early waits for the previous one instead of walking beside it.
	walk chan struct{}

	mu      sync.Mutex
	config  configState       // is CONFIG allowed
	cursors map[string]uint64 // where the next audit run of a spec resumes its SCAN
}

type configState struct {
	checked time.Time
	allowed bool
}

// New prepares a client; it does not connect (a server that is down at start-up is only
// "down").
func New(opts Options) (*Source, error) {
	if opts.PoolSize <= 0 {
		opts.PoolSize = DefaultPoolSize
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.ConfigCheckEvery <= 0 {
		opts.ConfigCheckEvery = 5 * time.Minute
	}
	// one set of options for both kinds of client; go-redis derives each client's own
	u := &redis.UniversalOptions{
		ClientName:      ClientName,
		Protocol:        2,
		Username:        opts.Username,
		Password:        opts.Password,
		MaxRetries:      1,
		MinRetryBackoff: 10 * time.Millisecond,
		MaxRetryBackoff: 100 * time.Millisecond,
		DialTimeout:     opts.Timeout,
		// go-redis dials 5 times with backoff by default: a dead master or sentinel would eat
		// the probe's budget
		DialerRetries: 1,
		ReadTimeout:   opts.Timeout,
		WriteTimeout:  opts.Timeout,
		// the scrape's deadline, not only the socket timeouts, bounds a command
		ContextTimeoutEnabled: true,
		PoolSize:              opts.PoolSize,
		MaxActiveConns:        opts.PoolSize,
		PipelinePoolSize:      -1,
		PoolTimeout:           opts.Timeout,
		ConnMaxIdleTime:       10 * time.Minute,
		TLSConfig:             opts.TLS,
		DisableIdentity:       true,
	}
	var client *redis.Client
	if opts.SentinelMaster != "" {
		if len(opts.SentinelAddrs) == 0 {
			return nil, errors.New("a sentinel master needs at least one sentinel address")
		}
		u.Addrs, u.MasterName = opts.SentinelAddrs, opts.SentinelMaster
		u.SentinelUsername, u.SentinelPassword = opts.SentinelUsername, opts.SentinelPassword
		u.DB = opts.DB // on the data node; go-redis uses 0 with the sentinels
		client = redis.NewFailoverClient(u.Failover())
	} else {
		if opts.Addr == "" {
			return nil, errors.New("no address")
		}
		u.Addrs = []string{opts.Addr}
		// not DB: go-redis would SELECT on every new connection, which a sentinel refuses,
		// and the target would read as down
		u.OnConnect = selectDB(opts.DB)
		u.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
		client = redis.NewClient(u.Simple())
	}
	return &Source{client: client, opts: opts, walk: make(chan struct{}, 1), cursors: map[string]uint64{}}, nil
}

// selectDB selects db on a new connection (nil for 0, the default), except on a sentinel,
// which has no databases and refuses SELECT: the address of a sentinel may come with a db
// meant for the data nodes, and only the server can tell what it is.
func selectDB(db int) func(ctx context.Context, cn *redis.Conn) error {
	if db == 0 {
		return nil
	}
	return func(ctx context.Context, cn *redis.Conn) error {
		err := cn.Select(ctx, db).Err()
		if err == nil || !isRedisError(err) {
			return err
		}
		if text, ierr := cn.Info(ctx, "server").Result(); ierr == nil {
			if mode, _ := ParseInfo(text).Get("redis_mode"); mode == "sentinel" {
				return nil
			}
		}
		return fmt.Errorf("SELECT %d: %w", db, err)
	}
}

// Close closes the connections.
func (s *Source) Close() { _ = s.client.Close() }

// Probe sends INFO (the default sections): it is the up check, it tells the version (7.0.15
// is 70015) and the role (a sentinel, or the replication role), and its reply serves the
// queries that send plain INFO in this gather, and it tells whether the server runs in cluster
// mode. On a data node it also learns, every few minutes, whether CONFIG GET is allowed.
func (s *Source) Probe(ctx context.Context) (queries.ServerInfo, error) {
	var info queries.ServerInfo
	text, err := s.client.Info(ctx).Result()
	if err != nil {
		return info, fmt.Errorf("probe: INFO: %w", err)
	}
	fields := ParseInfo(text)
	v, _ := fields.Get("redis_version")
	info.Version, _ = version.Number(v) // 0 when INFO tells none
	mode, _ := fields.Get("redis_mode")
	role, _ := fields.Get("role")
	switch {
	case mode == "sentinel":
		info.Role = queries.RoleSentinel
	case role == "master":
		info.Role = queries.RolePrimary
	case role == "slave":
		info.Role = queries.RoleReplica
	default:
		return info, fmt.Errorf("probe: INFO names neither a sentinel nor a replication role (redis_mode %q, role %q)", mode, role)
	}
	share.SetInGather(ctx, commandKey([]string{"INFO"}), any(text))
	s.mu.Lock()
	cfg := s.config
	s.mu.Unlock()

	info.Features = map[string]string{}
	if enabled, _ := fields.Get("cluster_enabled"); enabled == "1" {
		info.Features[FeatureCluster] = ""
	}
	if info.Role != queries.RoleSentinel {
		if time.Since(cfg.checked) >= s.opts.ConfigCheckEvery {
			err := s.client.ConfigGet(ctx, "maxmemory").Err()
			switch {
			case err == nil:
				cfg = configState{checked: time.Now(), allowed: true}
			case isRedisError(err):
				// NOPERM from an ACL, or an unknown command after rename-command
				cfg = configState{checked: time.Now(), allowed: false}
			}
			s.mu.Lock()
			s.config = cfg
			s.mu.Unlock()
		}
		if cfg.allowed {
			info.Features[FeatureConfig] = ""
		}
	}
	return info, nil
}

// commandKey identifies a command for sharing replies: the command name is case-insensitive,
// its arguments (a master name, say) are not.
func commandKey(cmd []string) string {
	if len(cmd) == 0 {
		return ""
	}
	return strings.ToLower(cmd[0]) + "\x00" + strings.Join(cmd[1:], "\x00")
}

// do sends a command, or serves its reply from this gather when another query already sent it
// (INFO sections, SENTINEL MASTERS, CONFIG GET): the server is asked once per gather. The
// command runs detached from the asking query's cancellation, bounded by the target's
// timeout, so that a query that gives up does not fail the others that wait for it.
func (s *Source) do(ctx context.Context, cmd []string) (any, error) {
	return share.InGather(ctx, commandKey(cmd), s.opts.Timeout, func(ctx context.Context) (any, error) {
		args := make([]any, len(cmd))
		for i, a := range cmd {
			args[i] = a
		}
		v, err := s.client.Do(ctx, args...).Result()
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		return v, err
	})
}

// Run sends the body's command and turns the reply into rows as the body says.
func (s *Source) Run(ctx context.Context, q *queries.Query, body queries.Body) (*queries.Rows, error) {
	r, _ := body.(*Redis)
	if r == nil {
		return nil, errors.New("the query has no redis body")
	}
	var (
		rows *queries.Rows
		err  error
	)
	switch {
	case r.Reply.IsAudit():
		rows, err = s.runAudit(ctx, q, r)
	case hasPlaceholder(r.Command):
		rows, err = s.perMaster(ctx, r)
	default:
		rows, err = s.runCommand(ctx, r, r.Command)
	}
	if err != nil {
		return nil, err
	}
	if rows, err = finish(rows, r); err != nil {
		return nil, err
	}
	if len(rows.Values) == 0 {
		// nothing to report (no replica, no error yet): an empty result lacks no column
		for _, c := range q.Columns {
			if !slices.Contains(rows.Columns, c.Name) {
				rows.Columns = append(rows.Columns, c.Name)
			}
		}
	}
	return rows, nil
}

func hasPlaceholder(cmd []string) bool {
	for _, a := range cmd {
		if strings.Contains(a, MasterPlaceholder) {
			return true
		}
	}
	return false
}

func (s *Source) runCommand(ctx context.Context, r *Redis, cmd []string) (*queries.Rows, error) {
	v, err := s.do(ctx, cmd)
	if r.Reply == ReplyStatus {
		if err != nil && !isRedisError(err) {
			return nil, fmt.Errorf("%s: %w", cmdName(cmd), err)
		}
		return statusRows(v, err, r), nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmdName(cmd), err)
	}
	var rows *queries.Rows
	switch r.Reply {
	case ReplyInfo, ReplyInfoKeyed:
		text, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s: want INFO text, got %T", cmdName(cmd), v)
		}
		rows, err = infoReplyRows(text, r)
	case ReplyPairs:
		rows, err = pairsRows(v, r)
	case ReplyMaps:
		var t *table
		t, err = mapsRows(v, r, nil)
		if t != nil {
			rows = t.build()
		}
	case ReplySlowlog:
		rows, err = slowlogRows(v)
	case ReplyLatency:
		rows, err = latencyRows(v)
	case ReplyValue:
		rows, err = valueRows(v, r)
	default:
		err = fmt.Errorf("reply %q is not for a command", r.Reply)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmdName(cmd), err)
	}
	return rows, nil
}

// infoReplyRows turns INFO text into rows as an info or info_keyed body says.
func infoReplyRows(text string, r *Redis) (*queries.Rows, error) {
	switch r.Reply {
	case ReplyInfo:
		return infoRows(ParseInfo(text), r), nil
	case ReplyInfoKeyed:
		return infoKeyedRows(ParseInfo(text), r), nil
	}
	return nil, fmt.Errorf("reply %q is not for INFO", r.Reply)
}

func cmdName(cmd []string) string {
	if len(cmd) > 1 && strings.EqualFold(cmd[0], "info") {
		return strings.ToUpper(strings.Join(cmd, " "))
	}
	if len(cmd) > 1 {
		return strings.ToUpper(cmd[0] + " " + cmd[1])
	}
	return strings.ToUpper(strings.Join(cmd, " "))
}

// perMaster runs a SENTINEL command once per master the sentinel monitors, with {master}
// replaced by its name; every row gets the column master_name.
func (s *Source) perMaster(ctx context.Context, r *Redis) (*queries.Rows, error) {
	v, err := s.do(ctx, []string{"SENTINEL", "MASTERS"})
	if err != nil {
		return nil, fmt.Errorf("SENTINEL MASTERS: %w", err)
	}
	masters, err := mapsRows(v, &Redis{}, nil)
	if err != nil {
		return nil, fmt.Errorf("SENTINEL MASTERS: %w", err)
	}
	var names []string
	if i, ok := masters.idx["name"]; ok {
		for _, row := range masters.build().Values {
			if n, ok := row[i].(string); ok {
				names = append(names, n)
			}
		}
	}
	all := newTable()
	for _, name := range names {
		cmd := make([]string, len(r.Command))
		for i, a := range r.Command {
			cmd[i] = strings.ReplaceAll(a, MasterPlaceholder, name)
		}
		extra := map[string]any{"master_name": name}
		switch r.Reply {
		case ReplyMaps:
			v, err := s.do(ctx, cmd)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", cmdName(cmd), name, err)
			}
			t, err := mapsRows(v, r, extra)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", cmdName(cmd), name, err)
			}
			for _, c := range t.cols {
				all.col(c)
			}
			all.rows = append(all.rows, t.rows...)
		default:
			rows, err := s.runCommand(ctx, r, cmd)
			if err != nil {
				return nil, err
			}
			for _, vals := range rows.Values {
				row := map[string]any{"master_name": name}
				for i, c := range rows.Columns {
					row[c] = vals[i]
				}
				all.add(row, append([]string{"master_name"}, rows.Columns...)...)
			}
		}
	}
	all.col("master_name")
	return all.build(), nil
}
