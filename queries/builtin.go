package queries

// The source kinds this program is built with. Each is one value: its body type, its checks
// and the header rules that differ. cmd lists them in its table of kinds.

// SQL is the body of a postgres or pgbouncer query: one read statement.
type SQL string

// PostgresKind is the kind of PostgreSQL packs: sql bodies, and queries that may run in
// every database of a target.
func PostgresKind() SourceKind { return sqlKind(SourcePostgres, ScopeDatabase) }

// PgbouncerKind is the kind of pgbouncer packs: sql bodies of SHOW commands.
func PgbouncerKind() SourceKind { return sqlKind(SourcePgbouncer) }

func sqlKind(name string, scopes ...string) SourceKind {
	return SourceKind{
		Name: name, BodyKey: "sql", Scopes: scopes,
		NewBody: func() any { return new(string) },
		Compile: func(body any, _ *Query) (Body, []Problem) {
			sql := *body.(*string)
			if msg := checkReadSQL(name, sql); msg != "" {
				return SQL(sql), []Problem{{Msg: msg}}
			}
			return SQL(sql), nil
		},
	}
}

// RedisKind is the kind of Redis packs: redis bodies, and queries that run on data nodes
// unless they name the sentinel role.
func RedisKind() SourceKind {
	return SourceKind{
		Name: SourceRedis, BodyKey: "redis",
		Roles: []Role{RoleSentinel}, DefaultRoles: []Role{RolePrimary, RoleReplica},
		NewBody: func() any { return new(Redis) },
		Compile: func(body any, q *Query) (Body, []Problem) {
			r := body.(*Redis)
			out := problems(nil, r.validate())
			return r, append(out, problems([]any{"timeout"}, r.checkTimeout(q.Timeout))...)
		},
	}
}

// ElasticsearchKind is the kind of Elasticsearch packs: http bodies.
func ElasticsearchKind() SourceKind { return jsonKind[HTTP](SourceElasticsearch, "http") }

// PgbackrestKind is the kind of pgBackRest packs: exec bodies.
func PgbackrestKind() SourceKind { return jsonKind[Exec](SourcePgbackrest, "exec") }

// jsonBody is a body whose answer is a JSON document that its JSON spec turns into rows.
type jsonBody interface {
	validate() []string
	spec() *JSON
}

// jsonKind is the kind of a body B read as a JSON document: its own checks, then its spec's
// against the query's columns.
func jsonKind[B any, P interface {
	*B
	jsonBody
}](name, key string) SourceKind {
	return SourceKind{
		Name: name, BodyKey: key,
		NewBody: func() any { return P(new(B)) },
		Compile: func(body any, q *Query) (Body, []Problem) {
			b := body.(P)
			out := problems(nil, b.validate())
			return b, append(out, problems([]any{key}, b.spec().checkColumns(q, key))...)
		},
	}
}

// BuiltinKinds are the kinds above, in the order cmd lists them.
func BuiltinKinds() SourceKinds {
	return SourceKinds{PostgresKind(), PgbouncerKind(), RedisKind(), ElasticsearchKind(), PgbackrestKind()}
}

func problems(path []any, msgs []string) []Problem {
	out := make([]Problem, len(msgs))
	for i, m := range msgs {
		out[i] = Problem{path, m}
	}
	return out
}
