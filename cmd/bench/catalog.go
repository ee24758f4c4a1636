package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// catalog is a database of many small tables, each with a primary key and one more index,
// and a pg_stat_statements filled with distinct statements on them.
type catalog struct {
	db         string
	tables     int
	statements int
}

func (c catalog) describe() string {
	return fmt.Sprintf("%s (%d tables, %d indexes, %d statements)", c.db, c.tables, 2*c.tables, c.statements)
}

// roles are the contestants' roles: each connects as its own, so that pg_stat_statements
// and the connection log tell apart what each costs.
var roles = []string{roleFloor, roleCold, roleWarm, roleAdvise, roleSteady,
	rolePGEDefault, rolePGEComparable, rolePGX}

const (
	roleFloor         = "bench_floor"
	roleCold          = "bench_cold"
	roleWarm          = "bench_warm"
	roleAdvise        = "bench_advise"
	roleSteady        = "bench_steady"
	rolePGEDefault    = "bench_pge_default"
	rolePGEComparable = "bench_pge_comparable"
	rolePGX           = "bench_pg_exporter"
)

func prepareRoles(ctx context.Context, p *testenv.PGServer) error {
	var stmts []string
	for _, r := range roles {
		stmts = append(stmts, "CREATE ROLE "+r+" LOGIN", "GRANT pg_monitor TO "+r)
	}
	return p.Exec(ctx, "postgres", append(stmts, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")...)
}

func (c catalog) build(ctx context.Context, p *testenv.PGServer) error {
	if err := p.Exec(ctx, "postgres", "CREATE DATABASE "+c.db); err != nil {
		return err
	}
	if err := p.Exec(ctx, c.db, "CREATE EXTENSION pg_stat_statements", "CREATE SCHEMA bench"); err != nil {
		return err
	}
	// a few hundred tables per transaction: each holds locks until commit
	const batch = 500
	for lo := 1; lo <= c.tables; lo += batch {
		hi := min(lo+batch-1, c.tables)
		script := fmt.Sprintf(`DO $$ BEGIN
  FOR i IN %d..%d LOOP
    EXECUTE format('CREATE TABLE bench.t%%s (id bigint PRIMARY KEY, v int, note text)', i);
    EXECUTE format('CREATE INDEX ON bench.t%%s (v)', i);
    EXECUTE format('INSERT INTO bench.t%%s SELECT g, mod(g, 7), ''x'' FROM generate_series(1, 3) g', i);
  END LOOP;
END $$`, lo, hi)
		if err := p.ExecScript(ctx, c.db, script); err != nil {
			return err
		}
	}
	// distinct statements (one per table: a relation is part of the query's identity),
	// sent through one connection in a few round trips
	var b strings.Builder
	for i := 1; i <= c.statements; i++ {
		fmt.Fprintf(&b, "SELECT count(*) FROM bench.t%d WHERE v = 3;\n", (i-1)%c.tables+1)
		if i%1000 == 0 || i == c.statements {
			if err := p.ExecScript(ctx, c.db, b.String()); err != nil {
				return err
			}
			b.Reset()
		}
	}
	return p.Exec(ctx, c.db, "ANALYZE", "CHECKPOINT")
}
