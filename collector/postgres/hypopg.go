package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/persistence-exporter/persistence_exporter/queries"
)

// Hypothetical tries hypothetical indexes on the sources of targets, by target name (the
// advisor's IndexTester).
type Hypothetical map[string]*Source

// TestIndex runs HypotheticalIndex on target's source.
func (h Hypothetical) TestIndex(ctx context.Context, target, db, createIndex, query string) (before, after float64, err error) {
	s, ok := h[target]
	if !ok {
		return 0, 0, fmt.Errorf("no PostgreSQL target %q", target)
	}
	return s.HypotheticalIndex(ctx, db, createIndex, query)
}

// HypotheticalIndex explains query in database db without and with a hypothetical index
// (hypopg) and returns both plan costs. hypopg keeps the index in this session's memory only
// (it works on a read-only session and on a replica); it is reset before the connection goes
// back to the pool. No real index is ever created.
func (s *Source) HypotheticalIndex(ctx context.Context, db, createIndex, query string) (before, after float64, err error) {
	d, exts, err := s.database(ctx, db)
	if err != nil {
		return 0, 0, err
	}
	if d == nil {
		return 0, 0, fmt.Errorf("the exporter may not connect to database %s", db)
	}
	if _, ok := exts["extension:hypopg"]; !ok {
		return 0, 0, errors.New("hypopg is not installed in database " + db)
	}
	if !strings.HasPrefix(strings.TrimSpace(strings.ToUpper(createIndex)), "CREATE INDEX ") {
		return 0, 0, errors.New("not a CREATE INDEX statement")
	}
	// planning takes locks on the query's tables: the locking lane. The hypothetical index
	// lives in the session's memory, not in the transaction: hypopg_reset() ends it.
	err = s.transaction(ctx, d, "EXPLAIN "+query, "SELECT hypopg_reset()", func(ctx context.Context, c *pgx.Conn) error {
		var err error
		if before, err = planCost(ctx, c, query); err != nil {
			return err
		}
		if _, err := c.Exec(ctx, queries.StatementTag+"hypopg */ SELECT * FROM hypopg_create_index($1)", createIndex); err != nil {
			return fmt.Errorf("hypopg_create_index: %w", err)
		}
		after, err = planCost(ctx, c, query)
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	return before, after, nil
}

func planCost(ctx context.Context, c *pgx.Conn, query string) (float64, error) {
	var out []byte
	if err := c.QueryRow(ctx, queries.StatementTag+"hypopg */ EXPLAIN (FORMAT JSON) "+query).Scan(&out); err != nil {
		return 0, fmt.Errorf("explain: %w", err)
	}
	var plan []struct {
		Plan struct {
			TotalCost float64 `json:"Total Cost"`
		} `json:"Plan"`
	}
	if err := json.Unmarshal(out, &plan); err != nil || len(plan) == 0 {
		return 0, fmt.Errorf("explain: cannot read the plan: %v", err)
	}
	return plan[0].Plan.TotalCost, nil
}
