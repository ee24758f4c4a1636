package main

import (
	"fmt"

	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/collector/redis"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

func buildRedis(w *wiring) error {
	if len(w.cfg.Targets.Redis) > 0 {
		// go-redis' own messages (sentinel discovery, a switch of master) into our log
		redis.SetLogger(w.log)
	}
	for _, r := range w.cfg.Targets.Redis {
		src, err := redis.New(redis.Options{
			Addr:             r.HostPort,
			Username:         r.Username,
			Password:         r.Password,
			DB:               r.DB,
			TLS:              r.TLSConfig,
			SentinelMaster:   r.SentinelMaster,
			SentinelAddrs:    r.Sentinels,
			SentinelUsername: r.SentinelUsername,
			SentinelPassword: r.SentinelPassword,
			PoolSize:         r.PoolSize,
			Timeout:          r.Timeout,
		})
		if err != nil {
			return fmt.Errorf("redis target %q: %w", r.Name, err)
		}
		w.add(&collector.Target{
			Name: r.Name, Kind: queries.SourceRedis, UpMetric: "redis_up", Source: src,
			Queries: w.set.For(queries.SourceRedis), Timeout: r.Timeout, Parallel: r.PoolSize,
		}, r.Address())
		w.clusters[r.Name] = r.Cluster
	}
	return nil
}
