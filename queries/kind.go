package queries

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Body is what a query sends to its server, as the query's kind compiled it from the pack
// (an SQL statement, an HTTP GET, a Redis command, a command's arguments). The loader does
// not look into it; the kind's source does.
type Body any

// SourceKind is a source kind: what a pack's source names. It owns the body of the pack's queries
// (the key it is written under, its type, its checks) and the few header rules that differ
// between protocols. A kind is one value; the loader is given the kinds it may meet.
type SourceKind struct {
	// Name is the value of a pack's source key.
	Name string
	// BodyKey is the key a query's body is written under (sql, http, redis, exec).
	BodyKey string
	// NewBody returns a pointer to a new body: the query's BodyKey decodes into it, strictly.
	NewBody func() any
	// Compile checks a decoded body (NewBody's pointer) of q and returns what the source
	// runs. A problem's path is below the query (nil: the query itself); problems of a
	// variant's body are reported at the variant.
	Compile func(body any, q *Query) (Body, []Problem)
	// Roles are the roles a query of the kind may name besides primary and replica (a Redis
	// sentinel); DefaultRoles are the roles a query that names none runs on (nil: any).
	Roles, DefaultRoles []Role
	// Scopes are the scopes a query of the kind may have besides ScopeServer.
	Scopes []string
	// TopPushdown says that the kind's statements can take a top's cap as a parameter
	// (Top.Pushdown).
	TopPushdown bool
}

// Problem is what is wrong at a path below a query.
type Problem struct {
	Path []any
	Msg  string
}

// SourceKinds are the source kinds a loader knows, in the order they are listed to people.
type SourceKinds []SourceKind

func (ks SourceKinds) get(name string) (SourceKind, bool) {
	i := slices.IndexFunc(ks, func(k SourceKind) bool { return k.Name == name })
	if i < 0 {
		return SourceKind{}, false
	}
	return ks[i], true
}

func (ks SourceKinds) names() string {
	names := make([]string, len(ks))
	for i, k := range ks {
		names[i] = k.Name
	}
	return strings.Join(names, ", ")
}

// onlyFor names the kinds that allow what has(k) says, for a message: "redis queries".
func (ks SourceKinds) onlyFor(has func(SourceKind) bool) string {
	var names []string
	for _, k := range ks {
		if has(k) {
			names = append(names, k.Name)
		}
	}
	return strings.Join(names, " and ") + " queries"
}

// Body types for the decoding of one pack: its queries' and variants' mappings inline the
// common header and add the kind's body key, decoded strictly into the kind's body type. The
// body keys of the other kinds are read as nodes, so that a body written for another kind is
// reported as such rather than as an unknown key.
type packTypes struct {
	kind                 SourceKind
	others               []string // body keys of the other kinds
	pack, query, variant reflect.Type
}

func newPackTypes(k SourceKind, kinds SourceKinds) *packTypes {
	t := &packTypes{kind: k}
	for _, o := range kinds {
		if o.BodyKey != k.BodyKey && !slices.Contains(t.others, o.BodyKey) {
			t.others = append(t.others, o.BodyKey)
		}
	}
	bodyFields := func(header reflect.Type) []reflect.StructField {
		fields := []reflect.StructField{
			{Name: "Header", Type: header, Tag: `yaml:",inline"`},
			{Name: "Body", Type: reflect.TypeOf(k.NewBody()), Tag: tag(k.BodyKey)},
		}
		for i, o := range t.others {
			fields = append(fields, reflect.StructField{Name: fmt.Sprintf("Other%d", i), Type: reflect.TypeFor[yaml.Node](), Tag: tag(o)})
		}
		return fields
	}
	t.variant = reflect.StructOf(bodyFields(reflect.TypeFor[Variant]()))
	t.query = reflect.StructOf(append(bodyFields(reflect.TypeFor[Query]()),
		reflect.StructField{Name: "Variants", Type: reflect.SliceOf(t.variant), Tag: `yaml:"variants"`}))
	t.pack = reflect.StructOf([]reflect.StructField{
		{Name: "Source", Type: reflect.TypeFor[string](), Tag: `yaml:"source"`},
		{Name: "Queries", Type: reflect.SliceOf(reflect.PointerTo(t.query)), Tag: `yaml:"queries"`},
	})
	return t
}

func tag(key string) reflect.StructTag { return reflect.StructTag(fmt.Sprintf("yaml:%q", key)) }

// decoded is one query as the pack's types decoded it.
type decoded struct {
	q        *Query
	body     any      // the kind's body pointer, nil when the key is absent
	others   []string // other kinds' body keys that are set
	variants []decodedVariant
}

type decodedVariant struct {
	v      *Variant
	body   any
	others []string
}

// split takes the decoded pack value apart.
func (t *packTypes) split(pack reflect.Value) []decoded {
	qs := pack.Elem().Field(1)
	out := make([]decoded, qs.Len())
	for i := range out {
		qv := qs.Index(i).Elem()
		d := decoded{q: qv.Field(0).Addr().Interface().(*Query)}
		d.body, d.others = t.bodyOf(qv)
		vs := qv.Field(qv.NumField() - 1)
		for j := range vs.Len() {
			vv := vs.Index(j)
			dv := decodedVariant{v: vv.Field(0).Addr().Interface().(*Variant)}
			dv.body, dv.others = t.bodyOf(vv)
			d.variants = append(d.variants, dv)
		}
		out[i] = d
	}
	return out
}

func (t *packTypes) bodyOf(v reflect.Value) (body any, others []string) {
	if b := v.Field(1); !b.IsNil() && !blank(b.Elem()) {
		body = b.Interface()
	}
	for i, key := range t.others {
		if n := v.Field(2 + i).Interface().(yaml.Node); n.Kind != 0 && !(n.Kind == yaml.ScalarNode && (strings.TrimSpace(n.Value) == "" || n.Tag == "!!null")) {
			others = append(others, key)
		}
	}
	return body, others
}

// blank reports whether a decoded body holds nothing: an empty or white statement.
func blank(v reflect.Value) bool {
	return v.Kind() == reflect.String && strings.TrimSpace(v.String()) == ""
}

// Problems are msgs at one path, for a kind's Compile.
func Problems(path []any, msgs []string) []Problem {
	out := make([]Problem, len(msgs))
	for i, m := range msgs {
		out[i] = Problem{path, m}
	}
	return out
}
